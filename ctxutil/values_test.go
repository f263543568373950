package ctxutil

import (
	"context"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func TestKey(t *testing.T) {
	ctx := context.Background()
	tenant := NewKey[string]("tenant")
	other := NewKey[string]("tenant") // same name and type, still a different key
	ctx = tenant.WithValue(ctx, "acme")

	if v, ok := tenant.Value(ctx); !ok || v != "acme" {
		t.Fatalf("tenant.Value = %q, %v; want acme, true", v, ok)
	}
	if v, ok := other.Value(ctx); ok {
		t.Fatalf("a key with the same name must not see the value, got %q", v)
	}
	if got := other.ValueOr(ctx, "none"); got != "none" {
		t.Fatalf("ValueOr = %q, want the default", got)
	}
	if tenant == other {
		t.Fatal("keys made by separate NewKey calls must differ")
	}
	if s := tenant.String(); s != "tenant (string)" {
		t.Fatalf("String() = %q", s)
	}
	type point struct{ X, Y int }
	pk := NewKey[*point]("origin")
	if s := pk.String(); s != "origin (*ctxutil.point)" {
		t.Fatalf("String() = %q", s)
	}
	if !strings.Contains(ctx.(interface{ String() string }).String(), "ctxutil.Key(tenant)") {
		t.Fatalf("a context's String must print the key's name: %v", ctx)
	}

	var zero Key[int]
	if _, ok := zero.Value(ctx); ok {
		t.Fatal("the zero key holds nothing")
	}
	defer func() {
		if recover() == nil {
			t.Fatal("WithValue on the zero key must panic")
		}
	}()
	zero.WithValue(ctx, 1)
}

func TestRequestValuesShareOneEntry(t *testing.T) {
	ctx := context.Background()
	if RequestID(ctx) != "" || TraceParent(ctx) != "" || TraceID(ctx) != "" {
		t.Fatal("an empty context carries nothing")
	}
	ctx = WithRequestID(ctx, "req-1")
	parent := ctx
	ctx = WithTraceContext(ctx, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "congo=t61rcWkgMzE")
	ctx = WithRequestID(ctx, "req-2")

	if got := RequestID(parent); got != "req-1" {
		t.Fatalf("setting a value on a child changed the parent: %q", got)
	}
	if got := RequestID(ctx); got != "req-2" {
		t.Fatalf("RequestID = %q", got)
	}
	if got := TraceID(ctx); got != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Fatalf("TraceID = %q", got)
	}
	if got := TraceState(ctx); got != "congo=t61rcWkgMzE" {
		t.Fatalf("TraceState = %q", got)
	}
}

func TestWithTraceContextDropsInvalid(t *testing.T) {
	tests := []struct{ tp, ts, wantTP, wantTS string }{
		{"garbage", "a=b", "", ""},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", strings.Repeat("x", 513), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", ""},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "a=b\nInjected: yes", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", ""},
	}
	for _, tt := range tests {
		ctx := WithTraceContext(context.Background(), tt.tp, tt.ts)
		if TraceParent(ctx) != tt.wantTP || TraceState(ctx) != tt.wantTS {
			t.Errorf("WithTraceContext(%.20q, %.20q) kept %q, %q", tt.tp, tt.ts, TraceParent(ctx), TraceState(ctx))
		}
	}
}

func TestValidRequestID(t *testing.T) {
	tests := []struct {
		id   string
		want bool
	}{
		{"abc-123_x.Y", true},
		{strings.Repeat("a", 128), true},
		{strings.Repeat("a", 129), false},
		{"", false},
		{"has space", false},
		{"line\nbreak", false},
		{"<script>", false},
		{"ünï", false},
	}
	for _, tt := range tests {
		if got := ValidRequestID(tt.id); got != tt.want {
			t.Errorf("ValidRequestID(%.30q) = %v, want %v", tt.id, got, tt.want)
		}
	}
}

func TestNewRequestID(t *testing.T) {
	seen := make(map[string]bool)
	for range 1000 {
		id := NewRequestID()
		if len(id) != 26 || !ValidRequestID(id) {
			t.Fatalf("NewRequestID() = %q: want 26 valid characters", id)
		}
		if seen[id] {
			t.Fatalf("NewRequestID repeated %q", id)
		}
		seen[id] = true
	}
}

func TestLogger(t *testing.T) {
	ctx := context.Background()
	if Logger(ctx) != zap.L() {
		t.Fatal("without a logger, Logger must return the global logger")
	}
	core, logs := observer.New(zap.InfoLevel)
	base := zap.New(core)
	ctx = WithLogger(ctx, base)
	a := WithLogFields(ctx, zap.String("branch", "a"))
	b := WithLogFields(ctx, zap.String("branch", "b"))

	Logger(a).Info("one")
	Logger(b).Info("two")
	Logger(ctx).Info("three")

	entries := logs.AllUntimed()
	if len(entries) != 3 {
		t.Fatalf("got %d entries", len(entries))
	}
	if f := entries[0].ContextMap(); f["branch"] != "a" {
		t.Errorf("first entry fields %v", f)
	}
	if f := entries[1].ContextMap(); f["branch"] != "b" {
		t.Errorf("second entry fields %v", f)
	}
	if f := entries[2].ContextMap(); len(f) != 0 {
		t.Errorf("WithLogFields must not change the shared logger; got fields %v", f)
	}
	if WithLogFields(ctx) != ctx {
		t.Error("WithLogFields without fields should return ctx itself")
	}
	if Logger(WithLogger(ctx, nil)) != zap.L() {
		t.Error("WithLogger(nil) must fall back to the global logger")
	}
}
