package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/sluice-go/sluice/breaker"
	"github.com/sluice-go/sluice/cache"
	"github.com/sluice-go/sluice/ctxutil"
	"github.com/sluice-go/sluice/outbox"
)

const maxQuantity = 100

type createOrderRequest struct {
	UserID   int64  `json:"user_id"`
	SKU      string `json:"sku"`
	Quantity int    `json:"quantity"`
}

// orderEvent is the payload of an order.created event.
type orderEvent struct {
	Type  string `json:"type"`
	Order order  `json:"order"`
}

// handleCreateOrder takes an order: reserve stock, charge, then write the order and its event in one
// transaction. A step that fails undoes the steps before it.
func (a *app) handleCreateOrder(w http.ResponseWriter, r *http.Request) {
	var req createOrderRequest
	if err := decodeJSON(w, r, &req); err != nil {
		writeProblem(w, r, http.StatusBadRequest, err.Error())
		return
	}
	price, known := catalog[req.SKU]
	switch {
	case req.UserID <= 0:
		writeProblem(w, r, http.StatusUnprocessableEntity, "user_id must be a positive integer")
		return
	case !known:
		writeProblem(w, r, http.StatusUnprocessableEntity, fmt.Sprintf("unknown sku %q", req.SKU))
		return
	case req.Quantity < 1 || req.Quantity > maxQuantity:
		writeProblem(w, r, http.StatusUnprocessableEntity, fmt.Sprintf("quantity must be between 1 and %d", maxQuantity))
		return
	}
	ctx := r.Context()
	if _, err := a.users.Get(ctx, req.UserID); err != nil {
		if errors.Is(err, cache.ErrNotFound) {
			writeProblem(w, r, http.StatusUnprocessableEntity, fmt.Sprintf("user %d does not exist", req.UserID))
			return
		}
		a.fail(w, r, "reading user", err)
		return
	}

	o := order{ID: outbox.NewID(), UserID: req.UserID, SKU: req.SKU, Quantity: req.Quantity,
		AmountCents: price * int64(req.Quantity), Status: "confirmed", CreatedAt: time.Now().UTC()}
	if err := a.inventory.Reserve(ctx, o.SKU, o.Quantity, o.ID); err != nil {
		a.fail(w, r, "reserving stock", err)
		return
	}
	chargeID, err := a.payment.Charge(ctx, o.ID, o.AmountCents)
	if err != nil {
		a.releaseStock(ctx, o)
		a.fail(w, r, "charging", err)
		return
	}
	o.ChargeID = chargeID

	payload, err := json.Marshal(orderEvent{Type: "order.created", Order: o})
	if err != nil {
		a.fail(w, r, "encoding event", err)
		return
	}
	msg := outbox.Message{ID: o.ID, Topic: a.cfg.Topic + ".created", Key: strconv.FormatInt(o.UserID, 10),
		Payload: payload, Headers: map[string]string{"Event-Type": "order.created"}}
	outbox.CaptureHeaders(ctx, &msg) // the request ID and traceparent travel with the event

	// The card is charged: the order must be written even if the client gave up meanwhile, so the write runs
	// on a context that keeps the request's values but not its cancellation, with a bound of its own.
	wctx, cancel := ctxutil.Detach(ctx, 5*time.Second)
	defer cancel()
	if err := a.store.createOrder(wctx, o, msg); err != nil {
		// A real service would void the charge here (or let a reconciliation job find it).
		a.fail(w, r, "writing order", err)
		return
	}
	w.Header().Set("Location", "/orders/"+o.ID)
	writeJSON(w, http.StatusCreated, o)
}

// releaseStock gives back the stock of an order that could not be completed, even when the request's own
// context has ended.
func (a *app) releaseStock(ctx context.Context, o order) {
	rctx, cancel := ctxutil.Detach(ctx, time.Second)
	defer cancel()
	if err := a.inventory.Release(rctx, o.SKU, o.Quantity, o.ID); err != nil {
		logError(ctx, "releasing stock", err)
	}
}

func (a *app) handleGetOrder(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, err := uuid.Parse(id); err != nil || len(id) != 36 {
		writeProblem(w, r, http.StatusBadRequest, "order id must be a UUID")
		return
	}
	o, err := a.store.getOrder(r.Context(), id)
	if errors.Is(err, errNotFound) {
		writeProblem(w, r, http.StatusNotFound, "no such order")
		return
	}
	if err != nil {
		a.fail(w, r, "reading order", err)
		return
	}
	writeJSON(w, http.StatusOK, o)
}

func (a *app) handleGetUser(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		writeProblem(w, r, http.StatusBadRequest, "user id must be a positive integer")
		return
	}
	u, err := a.users.Get(r.Context(), id) // local LRU, then Redis, then the users table
	if errors.Is(err, cache.ErrNotFound) {
		writeProblem(w, r, http.StatusNotFound, "no such user")
		return
	}
	if err != nil {
		a.fail(w, r, "reading user", err)
		return
	}
	writeJSON(w, http.StatusOK, u)
}

// fail answers a request whose work failed: the status says what the client can do about it, the detail
// never carries the internal error, and the log line carries it with its type.
func (a *app) fail(w http.ResponseWriter, r *http.Request, op string, err error) {
	status, detail := classify(err)
	if oe := (*breaker.OpenError)(nil); errors.As(err, &oe) {
		secs := math.Ceil(oe.RetryAfter(time.Now()).Seconds())
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int(secs))))
	}
	logError(r.Context(), op, err, zap.Int("status", status))
	writeProblem(w, r, status, detail)
}

// classify maps an error to a status and a message that is safe to show.
func classify(err error) (int, string) {
	switch {
	case errors.Is(err, breaker.ErrOpen):
		return http.StatusServiceUnavailable, "the payment service is unavailable; retry later"
	case errors.Is(err, errOutOfStock):
		return http.StatusConflict, "not enough stock"
	case errors.Is(err, errPaymentDeclined):
		return http.StatusPaymentRequired, "payment declined"
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout, "the request ran out of time"
	case errors.Is(err, context.Canceled):
		return http.StatusServiceUnavailable, "the request was canceled"
	case errors.Is(err, errPaymentUnavailable):
		return http.StatusBadGateway, "the payment gateway failed"
	case errors.Is(err, errInventoryUnavailable):
		return http.StatusBadGateway, "the inventory service failed"
	default:
		return http.StatusInternalServerError, "internal error"
	}
}

// logError logs err with the request's logger (request_id, trace_id, route) and the error's type.
func logError(ctx context.Context, op string, err error, fields ...zap.Field) {
	fields = append(fields, zap.String("op", op), zap.Error(err), zap.String("error_type", fmt.Sprintf("%T", err)))
	ctxutil.Logger(ctx).Warn("request failed", fields...)
}
