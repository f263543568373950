package ctxutil_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/sluice-go/sluice/ctxutil"
)

func ExampleNewKey() {
	tenant := ctxutil.NewKey[string]("tenant")
	ctx := tenant.WithValue(context.Background(), "acme")

	name, ok := tenant.Value(ctx) // a string, no type assertion
	fmt.Println(name, ok)
	fmt.Println(tenant)
	// Output:
	// acme true
	// tenant (string)
}

func ExampleMiddleware() {
	// A logger writing JSON without timestamps, so the output is stable.
	enc := zap.NewProductionEncoderConfig()
	enc.TimeKey = ""
	logger := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(enc), zapcore.AddSync(os.Stdout), zap.InfoLevel))

	mux := http.NewServeMux()
	mux.HandleFunc("GET /orders/{id}", func(w http.ResponseWriter, r *http.Request) {
		left, _ := ctxutil.Remaining(r.Context())
		ctxutil.Logger(r.Context()).Info("loading order", zap.Bool("deadline_at_most_2s", left <= 2*time.Second))
	})
	mw, err := ctxutil.Middleware(ctxutil.WithBaseLogger(logger), ctxutil.WithMux(mux), ctxutil.WithMaxTimeout(2*time.Second))
	if err != nil {
		panic(err)
	}

	req := httptest.NewRequest("GET", "/orders/42", nil)
	req.Header.Set("X-Request-Id", "req-42")
	req.Header.Set("Traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	req.Header.Set("Grpc-Timeout", "1H") // the client asks for an hour; the server caps it at 2s
	rec := httptest.NewRecorder()
	mw(mux).ServeHTTP(rec, req)
	fmt.Println("echoed:", rec.Header().Get("X-Request-Id"))
	// Output:
	// {"level":"info","msg":"loading order","request_id":"req-42","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","route":"GET /orders/{id}","deadline_at_most_2s":true}
	// echoed: req-42
}

func ExampleInject() {
	ctx := ctxutil.WithRequestID(context.Background(), "req-7")
	ctx, cancel := context.WithDeadline(ctx, time.Now().Add(time.Hour))
	defer cancel()

	req, _ := http.NewRequestWithContext(ctx, "GET", "http://inventory.internal/stock/7", nil)
	ctxutil.Inject(ctx, req.Header)
	fmt.Println(req.Header.Get("X-Request-Id"))
	d, _ := ctxutil.ParseTimeout(req.Header.Get("Grpc-Timeout"))
	fmt.Println(d <= time.Hour && d > 59*time.Minute)
	// Output:
	// req-7
	// true
}

func ExampleWithBudget() {
	parent, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()

	// Two lookups in parallel may each use at most half of the time left.
	branch, cancelBranch := ctxutil.WithBudget(parent, 0.5)
	defer cancelBranch()
	left, _ := ctxutil.Remaining(branch)
	fmt.Println(left <= 30*time.Minute)
	// Output: true
}

func ExampleWithReserve() {
	parent, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()

	// Asking to keep more time than is left gives a work context that is already done.
	work, cancelWork := ctxutil.WithReserve(parent, 2*time.Hour)
	defer cancelWork()
	<-work.Done()
	fmt.Println(errors.Is(context.Cause(work), ctxutil.ErrBudgetExhausted))
	fmt.Println(parent.Err()) // the parent still has its time to answer
	// Output:
	// true
	// <nil>
}

func ExampleRequire() {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()

	// A report takes at least a second: do not start it.
	err := ctxutil.Require(ctx, time.Second)
	fmt.Println(errors.Is(err, ctxutil.ErrInsufficientBudget))
	// Output: true
}

func ExampleDetach() {
	request, cancelRequest := context.WithCancel(ctxutil.WithRequestID(context.Background(), "req-9"))
	refresh, cancel := ctxutil.Detach(request, time.Minute)
	defer cancel()

	cancelRequest() // the client went away
	fmt.Println(refresh.Err(), ctxutil.RequestID(refresh))
	// Output: <nil> req-9
}

func ExampleMerge() {
	server, shutdown := context.WithCancelCause(context.Background())
	request := ctxutil.WithRequestID(context.Background(), "req-3")

	ctx, cancel := ctxutil.Merge(request, server)
	defer cancel()
	shutdown(errors.New("server shutting down"))
	<-ctx.Done()
	fmt.Println(ctxutil.RequestID(ctx), "-", context.Cause(ctx))
	// Output: req-3 - server shutting down
}

func ExampleFormatTimeout() {
	fmt.Println(ctxutil.FormatTimeout(1500 * time.Millisecond))
	fmt.Println(ctxutil.FormatTimeout(3 * time.Hour))
	d, err := ctxutil.ParseTimeout("250m")
	fmt.Println(d, err)
	// Output:
	// 1500000u
	// 10800000m
	// 250ms <nil>
}
