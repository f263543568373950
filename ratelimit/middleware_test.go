package ratelimit

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// counterLimiter is a deterministic KeyLimiter: limit events per key, never refilled. Each admitted event adds a
// second to ResetAfter; a denial retries after 1.5 s.
type counterLimiter struct {
	mu    sync.Mutex
	limit int
	used  map[string]int
	keys  []string // keys seen, in order
	err   error
}

func newCounter(limit int) *counterLimiter {
	return &counterLimiter{limit: limit, used: make(map[string]int)}
}

func (c *counterLimiter) Limit(_ context.Context, key string, n int) (Decision, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.keys = append(c.keys, key)
	if c.err != nil {
		return Decision{}, c.err
	}
	used := c.used[key]
	d := Decision{Limit: c.limit}
	if used+n > c.limit {
		d.Remaining = c.limit - used
		d.RetryAfter = 1500 * time.Millisecond
		d.ResetAfter = time.Duration(used) * time.Second
		return d, nil
	}
	used += n
	c.used[key] = used
	d.Allowed, d.Remaining, d.ResetAfter = true, c.limit-used, time.Duration(used)*time.Second
	return d, nil
}

func (c *counterLimiter) lastKey() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.keys) == 0 {
		return ""
	}
	return c.keys[len(c.keys)-1]
}

// reasonLimiter returns a fixed decision and error, like a limiter denying with a reason.
type reasonLimiter struct {
	d   Decision
	err error
}

func (l reasonLimiter) Limit(context.Context, string, int) (Decision, error) { return l.d, l.err }

var okHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })

func mustMiddleware(t testing.TB, l KeyLimiter, opts ...MiddlewareOption) http.Handler {
	t.Helper()
	mw, err := Middleware(l, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return mw(okHandler)
}

func do(h http.Handler, remote string, hdr ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = remote
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Add(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestMiddlewareHeaders(t *testing.T) {
	l := newCounter(2)
	h := mustMiddleware(t, l, WithPolicyWindow(time.Minute))
	want := []struct {
		code             int
		rateLimit, retry string
	}{
		{200, `"default";r=1;t=1`, ""},
		{200, `"default";r=0;t=2`, ""},
		{429, `"default";r=0;t=2`, "2"},
	}
	for i, w := range want {
		rec := do(h, "192.0.2.1:1234")
		if rec.Code != w.code {
			t.Fatalf("request %d: status %d, want %d", i, rec.Code, w.code)
		}
		if got := rec.Header().Get("RateLimit-Policy"); got != `"default";q=2;w=60` {
			t.Errorf("request %d: RateLimit-Policy %q", i, got)
		}
		if got := rec.Header().Get("RateLimit"); got != w.rateLimit {
			t.Errorf("request %d: RateLimit %q, want %q", i, got, w.rateLimit)
		}
		if got := rec.Header().Get("Retry-After"); got != w.retry {
			t.Errorf("request %d: Retry-After %q, want %q", i, got, w.retry)
		}
		if rec.Header().Get("X-RateLimit-Limit") != "" {
			t.Errorf("request %d: legacy fields sent without WithLegacyHeaders", i)
		}
	}
	rec := do(h, "192.0.2.1:1234")
	if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("denied Content-Type %q", ct)
	}
	if body := rec.Body.String(); !strings.Contains(body, `"status":429`) ||
		!strings.Contains(body, problemTypeQuota) {
		t.Errorf("denied body %q", body)
	}
}

func TestMiddlewareStructuredFields(t *testing.T) {
	h := mustMiddleware(t, newCounter(100), WithPolicyName(`api "v2" \ burst`), WithPolicyWindow(90*time.Second+1))
	rec := do(h, "192.0.2.1:1")
	for _, f := range []struct {
		field  string
		params map[string]int64
	}{
		{"RateLimit-Policy", map[string]int64{"q": 100, "w": 91}},
		{"RateLimit", map[string]int64{"r": 99, "t": 1}},
	} {
		items, err := parseSFList(rec.Header().Get(f.field))
		if err != nil {
			t.Fatalf("%s %q: %v", f.field, rec.Header().Get(f.field), err)
		}
		if len(items) != 1 || items[0].value != `api "v2" \ burst` {
			t.Fatalf("%s: items %+v", f.field, items)
		}
		for k, v := range f.params {
			if items[0].params[k] != v {
				t.Errorf("%s: %s=%d, want %d", f.field, k, items[0].params[k], v)
			}
		}
		if len(items[0].params) != len(f.params) {
			t.Errorf("%s: params %v", f.field, items[0].params)
		}
	}
}

// sfItem is an RFC 9651 list member whose bare item is a string and whose parameters are integers, the shape
// of the RateLimit fields.
type sfItem struct {
	value  string
	params map[string]int64
	binary map[string][]byte // byte-sequence parameters
}

// parseSFList is a strict parser for that shape, written from RFC 9651 section 4.2, independent of the encoder.
func parseSFList(s string) ([]sfItem, error) {
	var out []sfItem
	i := 0
	for {
		if i >= len(s) || s[i] != '"' {
			return nil, errors.New("want sf-string")
		}
		i++
		var b strings.Builder
		for {
			if i >= len(s) {
				return nil, errors.New("unterminated string")
			}
			c := s[i]
			i++
			if c == '\\' {
				if i >= len(s) || (s[i] != '"' && s[i] != '\\') {
					return nil, errors.New("bad escape")
				}
				b.WriteByte(s[i])
				i++
				continue
			}
			if c == '"' {
				break
			}
			if c < 0x20 || c > 0x7e {
				return nil, errors.New("bad char")
			}
			b.WriteByte(c)
		}
		it := sfItem{value: b.String(), params: map[string]int64{}, binary: map[string][]byte{}}
		for i < len(s) && s[i] == ';' {
			i++
			start := i
			for i < len(s) && (s[i] >= 'a' && s[i] <= 'z' || s[i] >= '0' && s[i] <= '9' || s[i] == '_' ||
				s[i] == '-' || s[i] == '.' || s[i] == '*') {
				i++
			}
			if start == i || s[start] < 'a' || s[start] > 'z' {
				return nil, errors.New("bad key")
			}
			key := s[start:i]
			if i >= len(s) || s[i] != '=' {
				return nil, errors.New("want integer parameter")
			}
			i++
			if i < len(s) && s[i] == ':' {
				end := strings.IndexByte(s[i+1:], ':')
				if end < 0 {
					return nil, errors.New("unterminated byte sequence")
				}
				v, err := base64.StdEncoding.Strict().DecodeString(s[i+1 : i+1+end])
				if err != nil {
					return nil, err
				}
				it.binary[key] = v
				i += end + 2
				continue
			}
			start = i
			if i < len(s) && s[i] == '-' {
				i++
			}
			for i < len(s) && s[i] >= '0' && s[i] <= '9' {
				i++
			}
			if i-start > 15 || i == start {
				return nil, errors.New("bad integer")
			}
			v, err := strconv.ParseInt(s[start:i], 10, 64)
			if err != nil {
				return nil, err
			}
			it.params[key] = v
		}
		out = append(out, it)
		for i < len(s) && s[i] == ' ' {
			i++
		}
		if i >= len(s) {
			return out, nil
		}
		if s[i] != ',' {
			return nil, errors.New("want ,")
		}
		i++
		for i < len(s) && s[i] == ' ' {
			i++
		}
	}
}

func TestMiddlewarePartitionKey(t *testing.T) {
	h := mustMiddleware(t, newCounter(100), WithPartitionKey(func(key string) []byte {
		return append([]byte{0xff, 0x00}, key...)
	}))
	rec := do(h, "192.0.2.1:1")
	if got, want := rec.Header().Get("RateLimit"), `"default";r=99;t=1;pk=:/wAxOTIuMC4yLjE=:`; got != want {
		t.Errorf("RateLimit %q, want %q", got, want)
	}
	for _, f := range []string{"RateLimit", "RateLimit-Policy"} {
		items, err := parseSFList(rec.Header().Get(f))
		if err != nil || len(items) != 1 || !bytes.Equal(items[0].binary["pk"], []byte("\xff\x00192.0.2.1")) {
			t.Errorf("%s %q: %+v %v", f, rec.Header().Get(f), items, err)
		}
	}
}

func TestMiddlewareLegacyHeaders(t *testing.T) {
	h := mustMiddleware(t, newCounter(5), WithLegacyHeaders(LegacyResetSeconds), WithIETFHeaders(false))
	rec := do(h, "192.0.2.1:1")
	for k, v := range map[string]string{"X-RateLimit-Limit": "5", "X-RateLimit-Remaining": "4",
		"X-RateLimit-Reset": "1", "RateLimit": "", "RateLimit-Policy": ""} {
		if got := rec.Header().Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	h = mustMiddleware(t, newCounter(5), WithLegacyHeaders(LegacyResetUnix))
	before := time.Now().Unix()
	rec = do(h, "192.0.2.1:1")
	after := time.Now().Unix()
	reset, err := strconv.ParseInt(rec.Header().Get("X-RateLimit-Reset"), 10, 64)
	if err != nil || reset < before+1 || reset > after+1 {
		t.Errorf("X-RateLimit-Reset %q, want Unix time in [%d, %d]", rec.Header().Get("X-RateLimit-Reset"),
			before+1, after+1)
	}
	if rec.Header().Get("RateLimit") == "" {
		t.Error("IETF fields missing beside legacy ones")
	}
}

func TestRetryAfterSeconds(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want int64
	}{
		{0, 1}, {-time.Second, 1}, {time.Nanosecond, 1}, {time.Second, 1}, {time.Second + 1, 2},
		{90 * time.Second, 90}, {time.Duration(1<<63 - 1), maxRetryAfter},
	} {
		if got := retryAfterSeconds(c.d); got != c.want {
			t.Errorf("retryAfterSeconds(%v) = %d, want %d", c.d, got, c.want)
		}
	}
}

func TestMiddlewareFailure(t *testing.T) {
	boom := errors.New("store down")
	for _, c := range []struct {
		name     string
		open     bool
		wantCode int
	}{
		{"open", true, 200},
		{"closed", false, 503},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := newCounter(1)
			l.err = boom
			var hooked error
			h := mustMiddleware(t, l, WithFailOpen(c.open), WithErrorHook(func(_ *http.Request, err error) {
				hooked = err
			}))
			rec := do(h, "192.0.2.1:1")
			if rec.Code != c.wantCode {
				t.Fatalf("status %d, want %d", rec.Code, c.wantCode)
			}
			if !errors.Is(hooked, boom) {
				t.Errorf("hook got %v", hooked)
			}
			if rec.Header().Get("RateLimit") != "" {
				t.Error("rate-limit fields sent without a decision")
			}
		})
	}
	t.Run("custom error handler", func(t *testing.T) {
		l := newCounter(1)
		l.err = boom
		h := mustMiddleware(t, l, WithFailOpen(false), WithErrorHandler(func(w http.ResponseWriter, _ *http.Request, err error) {
			http.Error(w, err.Error(), http.StatusBadGateway)
		}))
		if rec := do(h, "192.0.2.1:1"); rec.Code != http.StatusBadGateway || !strings.Contains(rec.Body.String(), "store down") {
			t.Fatalf("got %d %q", rec.Code, rec.Body.String())
		}
	})
	t.Run("denial with a reason", func(t *testing.T) {
		reason := errors.New("too many keys")
		var hooked error
		l := reasonLimiter{d: Decision{Limit: 5, RetryAfter: 3 * time.Second}, err: reason}
		h := mustMiddleware(t, l, WithFailOpen(true), WithErrorHook(func(_ *http.Request, err error) { hooked = err }))
		rec := do(h, "192.0.2.1:1")
		if rec.Code != 429 || rec.Header().Get("Retry-After") != "3" || hooked != reason {
			t.Fatalf("got %d %v, hook %v; want a 429 despite fail-open", rec.Code, rec.Header(), hooked)
		}
	})
	t.Run("client gone", func(t *testing.T) {
		l := newCounter(1)
		l.err = context.Canceled
		hooked := false
		h := mustMiddleware(t, l, WithFailOpen(true), WithErrorHook(func(*http.Request, error) { hooked = true }))
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		r := httptest.NewRequest(http.MethodGet, "/", nil).WithContext(ctx)
		rec := httptest.NewRecorder()
		called := false
		mw, _ := Middleware(l)
		mw(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called = true })).ServeHTTP(rec, r)
		h.ServeHTTP(rec, r)
		if called || hooked {
			t.Errorf("cancelled request: handler called %v, hook called %v", called, hooked)
		}
	})
	t.Run("unix socket peer", func(t *testing.T) {
		var hooked error
		h := mustMiddleware(t, newCounter(1), WithFailOpen(false),
			WithErrorHook(func(_ *http.Request, err error) { hooked = err }))
		if rec := do(h, "@"); rec.Code != 503 || !errors.Is(hooked, errNoClientIP) {
			t.Fatalf("got %d, hook %v", rec.Code, hooked)
		}
	})
}

func TestMiddlewareKeyFuncAndCost(t *testing.T) {
	l := newCounter(10)
	h := mustMiddleware(t, l, WithKeyFunc(func(r *http.Request) (string, error) {
		if r.Header.Get("X-Health") != "" {
			return "", nil
		}
		k := r.Header.Get("X-API-Key")
		if k == "" {
			return "", errors.New("no API key")
		}
		return "key:" + k, nil
	}), WithCost(4), WithFailOpen(false))
	codes := []int{}
	for range 3 {
		codes = append(codes, do(h, "192.0.2.1:1", "X-API-Key", "abc").Code)
	}
	if codes[0] != 200 || codes[1] != 200 || codes[2] != 429 {
		t.Fatalf("codes %v, want 200 200 429 (cost 4 of 10)", codes)
	}
	if k := l.lastKey(); k != "key:abc" {
		t.Errorf("key %q", k)
	}
	if rec := do(h, "192.0.2.1:1"); rec.Code != 503 {
		t.Errorf("missing key: %d, want 503 (fail closed)", rec.Code)
	}
	rec := do(h, "192.0.2.1:1", "X-Health", "1")
	if rec.Code != 200 || rec.Header().Get("RateLimit") != "" {
		t.Errorf("empty key: %d %v, want unlimited 200 without fields", rec.Code, rec.Header())
	}

	l = newCounter(10)
	h = mustMiddleware(t, l, WithCostFunc(func(r *http.Request) int {
		n, _ := strconv.Atoi(r.Header.Get("X-Cost"))
		return n
	}))
	if rec := do(h, "192.0.2.1:1", "X-Cost", "7"); rec.Header().Get("RateLimit") != `"default";r=3;t=7` {
		t.Errorf("cost 7: %q", rec.Header().Get("RateLimit"))
	}
	if rec := do(h, "192.0.2.1:1", "X-Cost", "0"); rec.Code != 200 || rec.Header().Get("RateLimit") != "" {
		t.Errorf("cost 0 must pass unlimited, got %d %q", rec.Code, rec.Header().Get("RateLimit"))
	}
}

func TestMiddlewareDeniedHandler(t *testing.T) {
	var got Decision
	h := mustMiddleware(t, newCounter(0), WithDeniedHandler(func(w http.ResponseWriter, _ *http.Request, d Decision) {
		got = d
		if w.Header().Get("Retry-After") != "2" {
			t.Errorf("Retry-After not set before the denied handler: %v", w.Header())
		}
		w.WriteHeader(http.StatusTeapot)
	}))
	if rec := do(h, "192.0.2.1:1"); rec.Code != http.StatusTeapot || got.Allowed || got.RetryAfter != 1500*time.Millisecond {
		t.Fatalf("status %d, decision %+v", rec.Code, got)
	}
}

func TestMiddlewareOptionErrors(t *testing.T) {
	for _, c := range []struct {
		opt  MiddlewareOption
		want string
	}{
		{WithTrustedProxies("10.0.0.0/33"), `ratelimit: WithTrustedProxies: invalid CIDR, got "10.0.0.0/33"`},
		{WithTrustedProxies("proxy.local"), `ratelimit: WithTrustedProxies: invalid address, got "proxy.local"`},
		{WithProxyHeader("X Forwarded"), `ratelimit: WithProxyHeader: invalid header name, got "X Forwarded"`},
		{WithProxyHeader(""), `ratelimit: WithProxyHeader: invalid header name, got ""`},
		{WithIPv6Prefix(0), `ratelimit: WithIPv6Prefix: bits must be in [1, 128], got 0`},
		{WithIPv4Prefix(33), `ratelimit: WithIPv4Prefix: bits must be in [1, 32], got 33`},
		{WithKeyFunc(nil), `ratelimit: WithKeyFunc: key function must not be nil, got nil`},
		{WithCost(0), `ratelimit: WithCost: cost must be >= 1, got 0`},
		{WithCostFunc(nil), `ratelimit: WithCostFunc: cost function must not be nil, got nil`},
		{WithPolicyName("é"), `ratelimit: WithPolicyName: name must be printable ASCII, got "é"`},
		{WithPolicyWindow(0), `ratelimit: WithPolicyWindow: window must be > 0, got 0s`},
		{WithLegacyHeaders(0), `ratelimit: WithLegacyHeaders: unknown reset format, got 0`},
		{WithDeniedHandler(nil), `ratelimit: WithDeniedHandler: handler must not be nil, got nil`},
		{WithErrorHandler(nil), `ratelimit: WithErrorHandler: handler must not be nil, got nil`},
		{WithPartitionKey(nil), `ratelimit: WithPartitionKey: function must not be nil, got nil`},
	} {
		_, err := Middleware(newCounter(1), c.opt)
		if err == nil || err.Error() != c.want {
			t.Errorf("got %v, want %s", err, c.want)
		}
	}
	if _, err := Middleware(nil); err == nil {
		t.Error("nil limiter accepted")
	}
}
