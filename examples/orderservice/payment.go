package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/sluice-go/sluice/breaker"
	"github.com/sluice-go/sluice/ctxutil"
)

var (
	errPaymentUnavailable = errors.New("payment gateway unavailable")
	errPaymentDeclined    = errors.New("payment declined")
)

// paymentClient charges orders at the payment gateway through a circuit breaker: when the gateway keeps
// failing, calls fail fast with breaker.ErrOpen instead of tying up a request for the whole timeout, and the
// gateway gets room to recover.
type paymentClient struct {
	baseURL string
	http    *http.Client
	breaker *breaker.Breaker
}

func newPaymentClient(baseURL string, openTimeout time.Duration, onChange func(breaker.Transition)) (*paymentClient, error) {
	b, err := breaker.New(
		breaker.WithCountWindow(20),                         // judge the last 20 calls
		breaker.WithMinimumCalls(10),                        // but not before 10 were seen
		breaker.WithFailureRate(0.5),                        // open when half of them failed
		breaker.WithSlowCallRate(0.8, 800*time.Millisecond), // or when most were very slow
		breaker.WithOpenTimeout(openTimeout),                // then refuse for a while (-breaker-open-timeout)
		breaker.WithOpenBackoff(2, 30*time.Second),          // longer after each trip in a row
		breaker.WithHalfOpenCalls(2),                        // and let 2 probes test the water
		breaker.WithClassifier(classifyPayment),             // a declined card is not the gateway failing
		breaker.WithOnStateChange(onChange),
	)
	if err != nil {
		return nil, err
	}
	return &paymentClient{
		baseURL: baseURL,
		http:    &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: time.Minute}},
		breaker: b,
	}, nil
}

func classifyPayment(err error) breaker.Outcome {
	if errors.Is(err, errPaymentDeclined) {
		return breaker.Success
	}
	return breaker.DefaultClassifier(err)
}

// Charge charges amountCents for orderID and returns the charge ID.
func (p *paymentClient) Charge(ctx context.Context, orderID string, amountCents int64) (string, error) {
	return breaker.Call(ctx, p.breaker, func(ctx context.Context) (string, error) {
		body, _ := json.Marshal(chargeRequest{OrderID: orderID, AmountCents: amountCents})
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.baseURL+"/charges", bytes.NewReader(body))
		if err != nil {
			return "", err
		}
		req.Header.Set("Content-Type", "application/json")
		ctxutil.Inject(ctx, req.Header) // request ID, trace context, and what is left of our deadline
		resp, err := p.http.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return "", context.Cause(ctx)
			}
			return "", fmt.Errorf("%w: %v", errPaymentUnavailable, err)
		}
		defer resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusCreated:
			var cr chargeResponse
			if err := json.NewDecoder(io.LimitReader(resp.Body, 4096)).Decode(&cr); err != nil {
				return "", fmt.Errorf("%w: bad response: %v", errPaymentUnavailable, err)
			}
			return cr.ChargeID, nil
		case resp.StatusCode == http.StatusPaymentRequired:
			return "", errPaymentDeclined
		case resp.StatusCode == http.StatusGatewayTimeout || ctx.Err() != nil:
			// The gateway ran out of the time Inject gave it, which is ours: that is our deadline passing, and
			// its answer races our own timer.
			if ctx.Err() != nil {
				return "", context.Cause(ctx)
			}
			return "", fmt.Errorf("payment gateway: out of time: %w", context.DeadlineExceeded)
		default:
			return "", fmt.Errorf("%w: status %d", errPaymentUnavailable, resp.StatusCode)
		}
	})
}
