package ratelimit

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// Canonical header names, written into the header map directly so that no canonicalization runs per request.
const (
	hdrPolicy     = "Ratelimit-Policy" // draft-ietf-httpapi-ratelimit-headers
	hdrRateLimit  = "Ratelimit"
	hdrRetryAfter = "Retry-After"
	hdrXLimit     = "X-Ratelimit-Limit"
	hdrXRemaining = "X-Ratelimit-Remaining"
	hdrXReset     = "X-Ratelimit-Reset"
)

// maxSFInteger is the largest RFC 9651 sf-integer.
const maxSFInteger = 999_999_999_999_999

// maxRetryAfter caps Retry-After at what 32-bit parsers accept; a request that can never succeed (RetryAfter
// [Forever]-like) gets this.
const maxRetryAfter = 1<<31 - 1

// LegacyReset selects what X-RateLimit-Reset carries when [WithLegacyHeaders] is on.
type LegacyReset int

const (
	// LegacyResetSeconds sends the seconds until the quota is full again, like the RateLimit t parameter
	// (and the RateLimit-Reset of early drafts). It does not depend on the client's clock.
	LegacyResetSeconds LegacyReset = iota + 1
	// LegacyResetUnix sends the Unix time, in seconds, at which the quota is full again (GitHub's convention).
	LegacyResetUnix
)

// headerWriter formats the rate-limit response fields of one middleware. It is safe for concurrent use.
type headerWriter struct {
	name   string // policy name, already serialized as an sf-string with its quotes
	window int64  // policy window in whole seconds; 0 omits w
	ietf   bool
	legacy LegacyReset
	policy atomic.Pointer[policyValue] // RateLimit-Policy value for the last quota seen
	pk     func(key string) []byte     // partition key of a limiter key; nil sends no pk
}

type policyValue struct {
	q int
	v string
}

// ceilSeconds rounds d up to whole seconds, clamped to [0, maxSF].
func ceilSeconds(d time.Duration, maxSF int64) int64 {
	if d <= 0 {
		return 0
	}
	s := int64(d / time.Second)
	if d%time.Second != 0 {
		s++
	}
	return min(s, maxSF)
}

func clampSF(v int) int64 { return min(max(int64(v), 0), maxSFInteger) }

// sfString serializes s as an RFC 9651 sf-string. s must be printable ASCII (checked at construction).
func sfString(s string) string { return strconv.Quote(s) } // for printable ASCII, Quote escapes exactly " and \

func validSFString(s string) error {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return fmt.Errorf("ratelimit: WithPolicyName: name must be printable ASCII, got %q", s)
		}
	}
	return nil
}

// policyString returns the RateLimit-Policy value for quota q, cached while q stays the same.
func (hw *headerWriter) policyString(q int) string {
	if p := hw.policy.Load(); p != nil && p.q == q {
		return p.v
	}
	p := &policyValue{q: q, v: string(hw.appendPolicy(make([]byte, 0, 64), q))}
	hw.policy.Store(p)
	return p.v
}

func (hw *headerWriter) appendPolicy(b []byte, q int) []byte {
	b = append(b, hw.name...)
	b = append(b, ";q="...)
	b = strconv.AppendInt(b, clampSF(q), 10)
	if hw.window > 0 {
		b = append(b, ";w="...)
		b = strconv.AppendInt(b, hw.window, 10)
	}
	return b
}

// appendPK appends the pk parameter, an RFC 9651 sf-binary (base64 between colons).
func appendPK(b, pk []byte) []byte {
	b = append(b, ";pk=:"...)
	b = base64.StdEncoding.AppendEncode(b, pk)
	return append(b, ':')
}

// write sets the rate-limit fields of d for key on h, and Retry-After when d is a denial.
func (hw *headerWriter) write(h http.Header, key string, d Decision) {
	reset := ceilSeconds(d.ResetAfter, maxSFInteger)
	n := 0
	if hw.ietf {
		n += 2
	}
	if hw.legacy != 0 {
		n += 3
	}
	if !d.Allowed {
		n++
	}
	vals := make([]string, n) // one backing array for every field's value slice
	set := func(name, v string) {
		vals[0] = v
		h[name] = vals[:1:1]
		vals = vals[1:]
	}
	if hw.ietf {
		var pk []byte
		if hw.pk != nil {
			pk = hw.pk(key)
			set(hdrPolicy, string(appendPK(hw.appendPolicy(nil, d.Limit), pk)))
		} else {
			set(hdrPolicy, hw.policyString(d.Limit))
		}
		var buf [96]byte
		b := append(buf[:0], hw.name...)
		b = append(b, ";r="...)
		b = strconv.AppendInt(b, clampSF(d.Remaining), 10)
		b = append(b, ";t="...)
		b = strconv.AppendInt(b, reset, 10)
		if hw.pk != nil {
			b = appendPK(b, pk)
		}
		set(hdrRateLimit, string(b))
	}
	if hw.legacy != 0 {
		set(hdrXLimit, strconv.FormatInt(clampSF(d.Limit), 10))
		set(hdrXRemaining, strconv.FormatInt(clampSF(d.Remaining), 10))
		if hw.legacy == LegacyResetUnix {
			set(hdrXReset, strconv.FormatInt(time.Now().Add(time.Duration(reset)*time.Second).Unix(), 10))
		} else {
			set(hdrXReset, strconv.FormatInt(reset, 10))
		}
	}
	if !d.Allowed {
		set(hdrRetryAfter, strconv.FormatInt(retryAfterSeconds(d.RetryAfter), 10))
	}
}

// retryAfterSeconds is RetryAfter rounded up to whole seconds, at least 1 so that a client never retries in a
// tight loop.
func retryAfterSeconds(d time.Duration) int64 { return max(ceilSeconds(d, maxRetryAfter), 1) }
