package outbox

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"
)

// leaseMarginDiv sets the safety margin of a batch's publish deadline: publishing stops leaseTTL/leaseMarginDiv
// before the leases the batch was claimed under expire. The margin absorbs clock skew between relays, the
// time a publisher takes to give up once its context ends, and the broker's latency for a message already on
// the wire; past the expiry another relay may own the partition and publish the same keys.
const leaseMarginDiv = 5

// chargeBudget is how long a message must have been in flight when its batch's publish deadline cut it to be
// charged a failed attempt: half the publish budget of a batch that starts as its leases are renewed, 2/5 of
// the TTL. A message that never gets an acknowledgement within that is taken to be the broker's (or its own)
// problem, not a batch that ran short of time, and goes through retries, backoff and dead-lettering like any
// failed message; without this it would be cut in every batch and block its key forever.
func (r *Relay) chargeBudget() time.Duration {
	return (r.cfg.leaseTTL - r.cfg.leaseTTL/leaseMarginDiv) / 2
}

// batch publishes one batch, returning how many messages it claimed. When the batch is full (a backlog), the
// next one is claimed while this one is published; it is used only if this one was published in full, since
// a failure here may block keys whose later messages the next batch holds.
//
// Publishing runs on a context whose deadline is the batch's publish deadline: the expiry of the leases it was
// claimed under (the last successful Lease plus the TTL, on the relay's clock) minus the safety margin. No
// wave starts after it; the records not acknowledged by then stay pending for whoever owns their partition
// next, so a slow broker cannot make this relay publish a key after another relay took it over. They are not
// charged an attempt, except those the deadline cut after a fair chance (see publish): the rest merely ran
// out of time.
func (r *Relay) batch(ctx context.Context, s *runState) (int, error) {
	start := r.clk.Now()
	now := r.clk.At(start)
	deadline := s.leaseEnd.Add(-r.cfg.leaseTTL / leaseMarginDiv)
	if !now.Before(deadline) {
		// Only when the round's other store calls took most of the TTL: renew first.
		s.renewAt = time.Time{}
		return 0, nil
	}
	pctx, cancel := context.WithTimeout(ctx, deadline.Sub(now))
	defer cancel()
	recs, held := s.next, s.nextHeld
	s.next = nil
	if recs == nil {
		var err error
		if recs, held, err = r.store.Claim(ctx, s.leases, now, nil, r.cfg.batchSize); err != nil || len(recs) == 0 {
			return 0, err
		}
	}
	var next []Record
	var nextHeld bool
	var nextErr error
	var prefetch sync.WaitGroup
	if len(recs) >= r.cfg.batchSize && !held {
		last := recs[len(recs)-1]
		prefetch.Go(func() { next, nextHeld, nextErr = r.store.Claim(ctx, s.leases, now, &last, r.cfg.batchSize) })
	}
	done, cut, err := r.publish(ctx, pctx, deadline, s, recs)
	if len(done) > 0 {
		end := r.clk.Time()
		if cerr := r.store.Complete(ctx, s.owner, s.leases, done, end, r.cfg.retention > 0); cerr != nil {
			err = errors.Join(err, fmt.Errorf("completing %d messages: %w", len(done), cerr))
		} else {
			r.emit(Event{Kind: EventPublished, Count: len(done)})
		}
	}
	prefetch.Wait()
	if err == nil && nextErr == nil && len(done) == len(recs) && len(next) > 0 {
		s.next, s.nextHeld = next, nextHeld
	}
	if cut > 0 {
		s.log.Warn("outbox: batch cut short at its lease deadline; the rest stays pending",
			zap.Int("unpublished", cut), zap.Int("batch", len(recs)), zap.Time("deadline", deadline))
		r.emit(Event{Kind: EventBatchCut, Count: cut})
	}
	r.emit(Event{Kind: EventBatch, Count: len(recs), Latency: time.Duration(r.clk.Now() - start)})
	return len(recs), err
}

// publish sends recs in waves holding at most one message per key, so a failure never lets a later message
// of its key through. The publisher gets pctx, which ends at deadline; store calls use ctx. It returns the
// records acknowledged, in claim order, and how many records were left unpublished, uncharged, because pctx
// ended: those never sent, and those whose publish failed with pctx's end without a fair chance.
//
// A message had a fair chance when it was in the first wave, which alone is in flight from the batch's
// start, and was in flight for at least chargeBudget: its wave began that long before the deadline, and so
// did its own send where the publisher reports one (PublisherFunc sends a call's messages one at a time).
// It is then charged a failed attempt like any failure, and its key blocked. A message of a later wave is
// not: its wave's time went partly to earlier waves, and in the next batch it is its key's oldest, so in the
// first wave. So a message the broker never acknowledges is charged nearly every time it is sent (the batch
// after a cut starts as the leases are renewed, with the full budget), and one that merely got a sliver of
// the budget never is.
func (r *Relay) publish(ctx, pctx context.Context, deadline time.Time, s *runState, recs []Record) ([]Record, int, error) {
	done := make([]Record, 0, len(recs))
	blocked := map[string]bool{}
	inWave := map[string]bool{}
	// recs is never written to: the next batch's claim reads it concurrently.
	pending := recs
	var wave, rest, spare []Record
	var msgs []Message
	var firstErr error
	cut := 0
	for first := true; len(pending) > 0; first = false {
		now := r.clk.Time()
		// The clock too, for a relay clock that runs apart from the timers.
		if pctx.Err() != nil || !now.Before(deadline) {
			for _, rec := range pending {
				if rec.Key == "" || !blocked[rec.Key] {
					cut++
				}
			}
			break
		}
		wave, rest, msgs = wave[:0], rest[:0], msgs[:0]
		clear(inWave)
		for _, rec := range pending {
			switch {
			case rec.Key != "" && blocked[rec.Key]:
				// Stays pending: its key waits behind a failed message.
			case rec.Key != "" && inWave[rec.Key]:
				rest = append(rest, rec)
			default:
				if rec.Key != "" {
					inWave[rec.Key] = true
				}
				wave = append(wave, rec)
				msgs = append(msgs, rec.Message)
			}
		}
		errs := r.pub.Publish(pctx, msgs)
		if errs != nil && len(errs) != len(msgs) {
			err := fmt.Errorf("outbox: publisher returned %d results for %d messages", len(errs), len(msgs))
			errs = make([]error, len(msgs))
			for i := range errs {
				errs[i] = err
			}
		}
		ended := pctx.Err() != nil
		// How long the first wave's messages were in flight when the deadline ended pctx; 0 for later waves,
		// and when pctx ended otherwise (Run's shutdown grace ran out).
		var inFlight time.Duration
		if first && ended && ctx.Err() == nil && errors.Is(pctx.Err(), context.DeadlineExceeded) {
			inFlight = deadline.Sub(now)
		}
		for i, rec := range wave {
			if errs == nil || errs[i] == nil {
				done = append(done, rec)
				continue
			}
			perr := errs[i]
			if ended && isContextErr(perr) {
				if perr = r.outlasted(perr, inFlight); perr == nil {
					// Cut at the deadline, not refused by the broker: released for the partition's next owner.
					// No wave follows, so its key's later messages stay pending too.
					cut++
					continue
				}
			}
			cont, err := r.fail(ctx, s, rec, perr)
			if err != nil && firstErr == nil {
				firstErr = err
			}
			if !cont && rec.Key != "" {
				blocked[rec.Key] = true
			}
		}
		pending, rest, spare = rest, spare[:0], pending
		if len(spare) > 0 && &spare[0] == &recs[0] {
			spare = nil
		}
	}
	return done, cut, firstErr
}

func isContextErr(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

// outlasted returns the error to charge a message with when the deadline cut it after a fair chance (see
// publish), or nil when it is left uncharged. inFlight is how long before the deadline its wave began, or 0
// when its wave does not count; perr, its publish error, may report a later start of its own send.
func (r *Relay) outlasted(perr error, inFlight time.Duration) error {
	var c *cutSend
	if errors.As(perr, &c) {
		inFlight = min(inFlight, c.left)
	}
	if inFlight < r.chargeBudget() {
		return nil
	}
	return fmt.Errorf("outbox: publish outlasted the lease deadline (in flight %s): %w",
		inFlight.Round(time.Millisecond), context.DeadlineExceeded)
}

// fail handles a failed attempt of rec: retry later or dead-letter. It reports whether the key's later
// messages may still go out in this batch.
func (r *Relay) fail(ctx context.Context, s *runState, rec Record, perr error) (bool, error) {
	m := rec.Message
	r.emit(Event{Kind: EventFailed, Message: &m, Err: perr})
	attempts := rec.Attempts + 1
	now := r.clk.Time()
	if attempts >= r.cfg.maxAttempts {
		park := r.cfg.policy == ParkKey
		if err := r.store.DeadLetter(ctx, s.owner, s.leases, rec, perr.Error(), now, park); err != nil {
			return false, fmt.Errorf("dead-lettering %s: %w", rec.ID, err)
		}
		s.log.Warn("outbox: dead-lettered", zap.String("id", rec.ID), zap.String("topic", rec.Topic),
			zap.String("key", rec.Key), zap.Int("attempts", attempts), zap.Error(perr))
		r.emit(Event{Kind: EventDeadLettered, Message: &m, Err: perr})
		return !park, nil
	}
	d := r.backoff(attempts)
	if err := r.store.Retry(ctx, s.owner, s.leases, rec, perr.Error(), now.Add(d)); err != nil {
		return false, fmt.Errorf("scheduling retry of %s: %w", rec.ID, err)
	}
	s.log.Debug("outbox: publish failed, will retry", zap.String("id", rec.ID), zap.Int("attempt", attempts),
		zap.Duration("delay", d), zap.Error(perr))
	r.emit(Event{Kind: EventRetried, Message: &m, Err: perr, Delay: d})
	return false, nil
}
