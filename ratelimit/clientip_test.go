package ratelimit

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"
)

func TestClientKey(t *testing.T) {
	proxies := []MiddlewareOption{WithTrustedProxies("10.0.0.0/8", "2001:db8:ffff::/48", "127.0.0.1")}
	fwd := append([]MiddlewareOption{WithProxyHeader("forwarded")}, proxies...)
	for _, c := range []struct {
		name   string
		opts   []MiddlewareOption
		remote string
		hdr    []string
		want   string
	}{
		{"peer v4", nil, "192.0.2.1:443", nil, "192.0.2.1"},
		{"peer v6", nil, "[2001:db8::1]:443", nil, "2001:db8::1"},
		{"peer v6 non-canonical", nil, "[2001:DB8:0::1]:443", nil, "2001:db8::1"},
		{"peer v4-mapped", nil, "[::ffff:192.0.2.1]:80", nil, "192.0.2.1"},
		{"peer zone", nil, "[fe80::1%eth0]:80", nil, "fe80::1"},
		{"peer without port", nil, "192.0.2.1", nil, "192.0.2.1"},
		{"peer v6 /64", []MiddlewareOption{WithIPv6Prefix(64)}, "[2001:db8:1:2:3:4:5:6]:1", nil, "2001:db8:1:2::"},
		{"peer v4 /24", []MiddlewareOption{WithIPv4Prefix(24)}, "192.0.2.77:1", nil, "192.0.2.0"},
		{"spoofed XFF, no trusted proxies", nil, "192.0.2.1:1", []string{"X-Forwarded-For", "6.6.6.6"}, "192.0.2.1"},
		{"spoofed XFF from untrusted peer", proxies, "192.0.2.1:1", []string{"X-Forwarded-For", "6.6.6.6"}, "192.0.2.1"},
		{"XFF from trusted peer", proxies, "10.0.0.1:1", []string{"X-Forwarded-For", "198.51.100.7"}, "198.51.100.7"},
		{"XFF client prefix ignored", proxies, "10.0.0.1:1",
			[]string{"X-Forwarded-For", "6.6.6.6, 198.51.100.7"}, "198.51.100.7"},
		{"XFF chain of trusted hops", proxies, "10.0.0.1:1",
			[]string{"X-Forwarded-For", "6.6.6.6, 198.51.100.7, 10.1.1.1, 127.0.0.1"}, "198.51.100.7"},
		{"XFF multiple lines", proxies, "10.0.0.1:1",
			[]string{"X-Forwarded-For", "6.6.6.6", "X-Forwarded-For", "198.51.100.7, 10.2.2.2"}, "198.51.100.7"},
		{"XFF all trusted", proxies, "10.0.0.1:1", []string{"X-Forwarded-For", "10.9.9.9, 10.8.8.8"}, "10.9.9.9"},
		{"XFF with ports", proxies, "10.0.0.1:1",
			[]string{"X-Forwarded-For", "198.51.100.7:5555, [2001:db8:ffff::2]:80"}, "198.51.100.7"},
		{"XFF v6", proxies, "[2001:db8:ffff::1]:1", []string{"X-Forwarded-For", "2001:db8:1::7"}, "2001:db8:1::7"},
		{"XFF empty elements", proxies, "10.0.0.1:1", []string{"X-Forwarded-For", " , 198.51.100.7 ,, "}, "198.51.100.7"},
		{"XFF garbage from trusted hop", proxies, "10.0.0.1:1", []string{"X-Forwarded-For", "6.6.6.6, unknown"}, "10.0.0.1"},
		{"XFF garbage left of client", proxies, "10.0.0.1:1",
			[]string{"X-Forwarded-For", "not-an-ip, 198.51.100.7"}, "198.51.100.7"},
		{"XFF absent", proxies, "10.0.0.1:1", nil, "10.0.0.1"},
		{"XFF ignored when Forwarded configured", fwd, "10.0.0.1:1",
			[]string{"X-Forwarded-For", "6.6.6.6"}, "10.0.0.1"},
		{"Forwarded ignored when XFF configured", proxies, "10.0.0.1:1",
			[]string{"Forwarded", "for=6.6.6.6"}, "10.0.0.1"},
		{"Forwarded v4", fwd, "10.0.0.1:1", []string{"Forwarded", "for=198.51.100.7;proto=https"}, "198.51.100.7"},
		{"Forwarded quoted v6 with port", fwd, "10.0.0.1:1",
			[]string{"Forwarded", `for="[2001:db8:cafe::17]:4711"`}, "2001:db8:cafe::17"},
		{"Forwarded case and spaces", fwd, "10.0.0.1:1",
			[]string{"Forwarded", `For="198.51.100.7:80" ; Proto=http , for=10.3.3.3`}, "198.51.100.7"},
		{"Forwarded spoofed prefix", fwd, "10.0.0.1:1",
			[]string{"Forwarded", "for=6.6.6.6, for=198.51.100.7;by=10.0.0.1"}, "198.51.100.7"},
		{"Forwarded quoted comma in other param", fwd, "10.0.0.1:1",
			[]string{"Forwarded", `for=6.6.6.6;ext="a, for=1.1.1.1", for=198.51.100.7`}, "198.51.100.7"},
		{"Forwarded unterminated quote from client", fwd, "10.0.0.1:1",
			[]string{"Forwarded", `for="6.6.6.6, for=198.51.100.7`}, "198.51.100.7"},
		{"Forwarded unknown", fwd, "10.0.0.1:1", []string{"Forwarded", "for=unknown"}, "10.0.0.1"},
		{"Forwarded obfuscated", fwd, "10.0.0.1:1", []string{"Forwarded", "for=_hidden, for=10.4.4.4"}, "10.4.4.4"},
		{"Forwarded without for", fwd, "10.0.0.1:1", []string{"Forwarded", "proto=https"}, "10.0.0.1"},
		{"Forwarded from untrusted peer", fwd, "192.0.2.1:1", []string{"Forwarded", "for=6.6.6.6"}, "192.0.2.1"},
		{"Forwarded escaped quoted", fwd, "10.0.0.1:1", []string{"Forwarded", `for="198.51.100.\7"`}, "198.51.100.7"},
		{"custom header", append([]MiddlewareOption{WithProxyHeader("CF-Connecting-IP")}, proxies...), "10.0.0.1:1",
			[]string{"Cf-Connecting-Ip", "198.51.100.7"}, "198.51.100.7"},
		{"trusted v4-mapped CIDR", []MiddlewareOption{WithTrustedProxies("::ffff:10.0.0.0/104")}, "10.0.0.1:1",
			[]string{"X-Forwarded-For", "198.51.100.7"}, "198.51.100.7"},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := newCounter(100)
			rec := do(mustMiddleware(t, l, c.opts...), c.remote, c.hdr...)
			if rec.Code != 200 {
				t.Fatalf("status %d", rec.Code)
			}
			if got := l.lastKey(); got != c.want {
				t.Errorf("key %q, want %q", got, c.want)
			}
		})
	}
}

func TestParseNode(t *testing.T) {
	for _, c := range []struct {
		in   string
		want string
	}{
		{"1.2.3.4", "1.2.3.4"}, {"1.2.3.4:80", "1.2.3.4"}, {"[::1]", "::1"}, {"[::1]:80", "::1"}, {"::1", "::1"},
		{"[::1]:_abc", "::1"}, {"1.2.3.4:_x", "1.2.3.4"},
		{"", ""}, {"1.2.3.4:", ""}, {"1.2.3.4:x", ""}, {"[::1", ""}, {"[::1]x", ""}, {"[::1]:", ""},
		{"1.2.3.4:123456", ""}, {"unknown", ""}, {"_obf", ""}, {"[1.2.3.4]:80", "1.2.3.4"}, {"1.2.3", ""},
		{"[::1]:_", ""},
	} {
		a, ok := parseNode(c.in)
		got := ""
		if ok {
			got = a.String()
		}
		if got != c.want {
			t.Errorf("parseNode(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// trustedHop is the proxy appending to the forwarding header in the fuzz tests.
var trustedHop = netip.MustParseAddr("10.0.0.1")

// FuzzClientIPSpoof checks the property that matters: whatever a client puts in the forwarding header, the key is
// the address the trusted proxy appended after it, in either header syntax, on the same line or a new one.
func FuzzClientIPSpoof(f *testing.F) {
	for _, s := range []string{"", "6.6.6.6", `for="`, `for=6.6.6.6;a="`, `,,;"\`, "for=[::1]", `for="[::1]:80"`,
		"1.2.3.4, 10.0.0.2", "\"\\\"", "for=10.0.0.5"} {
		f.Add(s, "198.51.100.7", false, false)
		f.Add(s, "[2001:db8::9]:443", true, true)
	}
	f.Fuzz(func(t *testing.T, spoof, client string, forwarded, newLine bool) {
		want, ok := parseNode(client)
		if !ok || want.IsUnspecified() || strings.ContainsAny(client, ",;\" ") ||
			netip.MustParsePrefix("10.0.0.0/8").Contains(want) {
			t.Skip()
		}
		if strings.ContainsAny(spoof, "\r\n\x00") {
			t.Skip()
		}
		p := ipResolver{trusted: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, header: "X-Forwarded-For",
			v4Bits: 32, v6Bits: 128}
		elem := client
		if forwarded {
			p.header, p.forwarded = "Forwarded", true
			elem = `for="` + client + `";proto=https`
		}
		r := &http.Request{RemoteAddr: trustedHop.String() + ":1234", Header: http.Header{}}
		if newLine {
			r.Header[p.header] = []string{spoof, elem}
		} else {
			r.Header[p.header] = []string{spoof + ", " + elem}
		}
		got, ok := p.clientIP(r)
		if !ok || got != want {
			t.Fatalf("header %q: client %v, want %v", r.Header[p.header], got, want)
		}
	})
}

// FuzzForwarded checks that the Forwarded parser never panics and agrees with itself on what it accepts.
func FuzzForwarded(f *testing.F) {
	for _, s := range []string{`for=1.2.3.4`, `for="[::1]:80";by=x, for=_a`, `for="a\"b"`, `for=`, `,`, `=`, `"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fors, ok := forwardedFors(s, nil)
		if !ok {
			return
		}
		if n := strings.Count(s, ",") + 1; len(fors) > n {
			t.Fatalf("%q: %d elements from %d commas", s, len(fors), n-1)
		}
		for _, v := range fors {
			if a, ok := parseNode(v); ok && !a.IsValid() {
				t.Fatalf("%q: invalid address accepted", v)
			}
		}
	})
}
