package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// run starts the service and serves until ctx ends, then shuts down gracefully. It is main without the process:
// tests call it with their own arguments, environment and outputs. ready, when not nil, is called with the
// running app once the API listens (tests learn the address and reach the simulated dependencies through it).
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, ready func(*app)) error {
	cfg, err := parseConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	logger, flush, err := newLogger(stdout, cfg.LogLevel)
	if err != nil {
		return err
	}
	defer flush()

	a, err := newApp(ctx, cfg, logger)
	if err != nil {
		logger.Error("start-up failed", zap.Error(err))
		return err
	}
	handler, err := a.routes()
	if err != nil {
		return errors.Join(err, a.close(context.WithoutCancel(ctx)))
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return errors.Join(err, a.close(context.WithoutCancel(ctx)))
	}
	a.addr = ln.Addr().String()
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      cfg.RequestTimeout + 5*time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          zap.NewStdLog(logger.Named("http")),
	}

	// The relay runs until shutdown tells it to stop, not until ctx ends: in-flight requests still commit
	// events while the server drains, and the relay should publish them.
	relayCtx, stopRelay := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRelay()
	relayDone := make(chan error, 1)
	go func() { relayDone <- a.relay.Run(relayCtx) }()

	serveDone := make(chan error, 1)
	go func() { serveDone <- srv.Serve(ln) }()
	logger.Info("listening", zap.String("addr", a.addr), zap.String("database", dbKind(cfg)),
		zap.String("broker", a.brokerDesc()))
	if ready != nil {
		ready(a)
	}

	var serveErr error
	select {
	case <-ctx.Done():
		logger.Info("shutting down", zap.NamedError("cause", context.Cause(ctx)))
	case serveErr = <-serveDone:
		logger.Error("server stopped", zap.Error(serveErr))
	}

	// Graceful shutdown: fail readiness, stop accepting and let in-flight requests finish within the deadline,
	// then let the relay publish what it claimed, then close the dependencies. Between failing readiness and
	// closing the listener, -drain-delay gives load balancers time to see the 503 and stop sending; without it
	// they learn of the shutdown from refused connections.
	a.draining.Store(true)
	if cfg.DrainDelay > 0 && serveErr == nil {
		logger.Info("failing readiness before draining", zap.Duration("drain_delay", cfg.DrainDelay))
		t := time.NewTimer(cfg.DrainDelay)
		select {
		case <-t.C:
		case serveErr = <-serveDone:
			t.Stop()
			logger.Error("server stopped", zap.Error(serveErr))
		}
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer cancel()
	var errs []error
	if err := srv.Shutdown(sctx); err != nil {
		errs = append(errs, fmt.Errorf("draining requests: %w", err))
		_ = srv.Close()
	}
	stopRelay()
	select {
	case err := <-relayDone:
		errs = append(errs, err)
	case <-sctx.Done():
		errs = append(errs, errors.New("outbox relay did not stop within the shutdown timeout"))
	}
	errs = append(errs, a.close(sctx))
	if err := errors.Join(errs...); err != nil {
		logger.Error("shutdown", zap.Error(err))
		return err
	}
	logger.Info("stopped")
	if errors.Is(serveErr, http.ErrServerClosed) {
		serveErr = nil
	}
	return serveErr
}

// newLogger builds the JSON logger: one line per entry with timestamp, level, service and message. Writes are
// buffered (the access log writes a line per request); flush writes out what is left and stops the buffer.
func newLogger(w io.Writer, level string) (*zap.Logger, func(), error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, nil, fmt.Errorf("-log-level: %w", err)
	}
	enc := zap.NewProductionEncoderConfig()
	enc.TimeKey = "timestamp"
	enc.EncodeTime = zapcore.RFC3339NanoTimeEncoder
	ws := &zapcore.BufferedWriteSyncer{WS: zapcore.AddSync(w), FlushInterval: time.Second}
	logger := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(enc), ws, lvl), zap.ErrorOutput(ws)).
		With(zap.String("service", "orderservice"))
	flush := func() {
		_ = logger.Sync()
		_ = ws.Stop()
	}
	return logger, flush, nil
}

func dbKind(cfg config) string {
	if cfg.DB != "" {
		return "postgres"
	}
	return "sqlite (embedded)"
}

func (a *app) brokerDesc() string {
	switch {
	case a.cfg.Kafka != "":
		return "kafka " + a.cfg.Kafka
	case a.cfg.NATS == "":
		return "nats (embedded) " + a.natsURL
	}
	return "nats " + a.natsURL
}
