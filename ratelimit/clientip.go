package ratelimit

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// errNoClientIP is returned by the default key function when the request's peer address is not an IP address
// (for example a Unix socket); the middleware then applies its failure policy.
var errNoClientIP = errors.New("ratelimit: Middleware: peer address is not an IP address")

// ipResolver finds the client address of a request. Forwarding headers are read only when the direct peer is a
// trusted proxy, and only as far as the chain stays trusted, so a client can never choose its own key.
type ipResolver struct {
	trusted   []netip.Prefix // proxies whose forwarding headers are believed; Unmapped, masked
	header    string         // canonical name of the forwarding header
	forwarded bool           // header is RFC 7239 Forwarded
	v4Bits    int            // IPv4 clients are grouped by this prefix length
	v6Bits    int            // IPv6 clients are grouped by this prefix length
}

func (p *ipResolver) isTrusted(a netip.Addr) bool {
	for _, pr := range p.trusted {
		if pr.Contains(a) {
			return true
		}
	}
	return false
}

// clientIP returns the client address of r, or ok=false when the peer address is not an IP address.
func (p *ipResolver) clientIP(r *http.Request) (netip.Addr, bool) {
	cur, ok := parseNode(r.RemoteAddr)
	if !ok {
		return netip.Addr{}, false
	}
	if len(p.trusted) == 0 || !p.isTrusted(cur) {
		return cur, true
	}
	// Walk the hops from the right: each was written by the trusted hop after it. Stop at the first hop that is
	// not trusted (that is the client) or that a trusted proxy could not name (then the proxy is the client).
	lines := r.Header[p.header]
	for i := len(lines) - 1; i >= 0; i-- {
		var next netip.Addr
		var stop bool
		if p.forwarded {
			next, stop = p.walkForwarded(lines[i], cur)
		} else {
			next, stop = p.walkList(lines[i], cur)
		}
		cur = next
		if stop {
			return cur, true
		}
	}
	return cur, true
}

// walkList walks one line of a comma-separated address list (X-Forwarded-For syntax) from the right, starting at
// the trusted address cur. It returns the address reached and whether the walk is over.
func (p *ipResolver) walkList(line string, cur netip.Addr) (netip.Addr, bool) {
	for line != "" {
		var hop string
		if i := strings.LastIndexByte(line, ','); i >= 0 {
			hop, line = line[i+1:], line[:i]
		} else {
			hop, line = line, ""
		}
		hop = trimOWS(hop)
		if hop == "" {
			continue // empty list elements are allowed (RFC 9110 section 5.6.1)
		}
		var stop bool
		if cur, stop = p.advance(cur, hop); stop {
			return cur, true
		}
	}
	return cur, false
}

// walkForwarded walks one line of an RFC 7239 Forwarded field from the right, like walkList.
func (p *ipResolver) walkForwarded(line string, cur netip.Addr) (netip.Addr, bool) {
	var buf [16]string
	fors, ok := forwardedFors(line, buf[:0])
	if !ok {
		// A malformed line (an unterminated quote sent by the client swallows what proxies appended) is split on
		// commas instead: node values never contain commas, so the elements proxies appended stay whole.
		fors = fors[:0]
		for elem := range strings.SplitSeq(line, ",") {
			fors = append(fors, forParam(elem))
		}
	}
	for i := len(fors) - 1; i >= 0; i-- {
		var stop bool
		if cur, stop = p.advance(cur, fors[i]); stop {
			return cur, true
		}
	}
	return cur, false
}

// advance moves the walk from the trusted address cur to the hop on its left. It stops at a hop that is not
// trusted (the client) or not an address (a trusted proxy could not name its peer, so cur is the client).
func (p *ipResolver) advance(cur netip.Addr, hop string) (netip.Addr, bool) {
	a, ok := parseNode(hop)
	if !ok {
		return cur, true
	}
	return a, !p.isTrusted(a)
}

// forParam returns the raw value of the for parameter of one Forwarded element, quotes removed, or "".
func forParam(elem string) string {
	for pair := range strings.SplitSeq(elem, ";") {
		name, val, ok := strings.Cut(trimOWS(pair), "=")
		if ok && strings.EqualFold(name, "for") {
			return strings.Trim(val, `"`)
		}
	}
	return ""
}

// forwardedFors parses an RFC 7239 Forwarded line strictly and appends, for each element, the value of its for
// parameter ("" when absent) to dst. ok is false when the line does not follow the grammar.
func forwardedFors(s string, dst []string) (_ []string, ok bool) {
	i := 0
	for {
		// One forwarded-element: pairs separated by ';'.
		forVal, seen := "", false
		for {
			i = skipOWS(s, i)
			start := i
			for i < len(s) && isTchar(s[i]) {
				i++
			}
			if i == start || i >= len(s) || s[i] != '=' {
				if i == start && !seen && (i >= len(s) || s[i] == ',') {
					break // empty element, allowed in a list
				}
				return dst, false
			}
			name := s[start:i]
			i++
			var val string
			if i < len(s) && s[i] == '"' {
				var good bool
				val, i, good = quotedString(s, i)
				if !good {
					return dst, false
				}
			} else {
				vs := i
				for i < len(s) && isTchar(s[i]) {
					i++
				}
				if i == vs {
					return dst, false
				}
				val = s[vs:i]
			}
			if strings.EqualFold(name, "for") {
				forVal = val
			}
			seen = true
			i = skipOWS(s, i)
			if i < len(s) && s[i] == ';' {
				i++
				continue
			}
			break
		}
		if seen {
			dst = append(dst, forVal)
		}
		if i >= len(s) {
			return dst, true
		}
		if s[i] != ',' {
			return dst, false
		}
		i++
	}
}

// quotedString parses the quoted-string starting at s[i] == '"', returning its value and the index after it.
func quotedString(s string, i int) (string, int, bool) {
	i++
	start, escaped := i, false
	for i < len(s) {
		switch c := s[i]; {
		case c == '\\':
			if i+1 >= len(s) {
				return "", i, false
			}
			escaped = true
			i += 2
			continue
		case c == '"':
			v := s[start:i]
			if escaped {
				v = unescape(v)
			}
			return v, i + 1, true
		case c < 0x20 && c != '\t' || c == 0x7f:
			return "", i, false
		}
		i++
	}
	return "", i, false
}

func unescape(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' && i+1 < len(v) {
			i++
		}
		b.WriteByte(v[i])
	}
	return b.String()
}

// parseNode parses an address as it appears in RemoteAddr, X-Forwarded-For or a Forwarded node: "1.2.3.4",
// "1.2.3.4:80", "2001:db8::1", "[2001:db8::1]" or "[2001:db8::1]:80". Zones are dropped and IPv4-mapped IPv6
// addresses become IPv4, so that one client has one spelling.
func parseNode(s string) (netip.Addr, bool) {
	if s == "" {
		return netip.Addr{}, false
	}
	if s[0] == '[' {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return netip.Addr{}, false
		}
		if rest := s[end+1:]; rest != "" && (rest[0] != ':' || !isPort(rest[1:])) {
			return netip.Addr{}, false
		}
		s = s[1:end]
	} else if i := strings.LastIndexByte(s, ':'); i >= 0 && strings.IndexByte(s, ':') == i {
		if !isPort(s[i+1:]) {
			return netip.Addr{}, false
		}
		s = s[:i] // IPv4 with a port: one colon only
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.WithZone("").Unmap(), true
}

// isPort accepts RFC 7239 node-port: a decimal port or an obfuscated port.
func isPort(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	if s[0] == '_' {
		for i := 1; i < len(s); i++ {
			if c := s[i]; !(isAlnum(c) || c == '.' || c == '_' || c == '-') {
				return false
			}
		}
		return len(s) > 1
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return len(s) <= 5
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// isTchar reports whether c is an RFC 9110 token character.
func isTchar(c byte) bool { return tchar[c] }

var tchar = func() (t [256]bool) {
	for c := range 256 {
		t[c] = isAlnum(byte(c)) || strings.IndexByte("!#$%&'*+-.^_`|~", byte(c)) >= 0
	}
	return t
}()

func skipOWS(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	return i
}

func trimOWS(s string) string { return strings.Trim(s, " \t") }

// parseTrusted turns WithTrustedProxies arguments into prefixes: CIDRs or single addresses.
func parseTrusted(specs []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(specs))
	for _, s := range specs {
		var pr netip.Prefix
		if strings.Contains(s, "/") {
			var err error
			if pr, err = netip.ParsePrefix(s); err != nil {
				return nil, fmt.Errorf("ratelimit: WithTrustedProxies: invalid CIDR, got %q", s)
			}
		} else {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return nil, fmt.Errorf("ratelimit: WithTrustedProxies: invalid address, got %q", s)
			}
			pr = netip.PrefixFrom(a, a.BitLen())
		}
		if a := pr.Addr(); a.Is4In6() && pr.Bits() >= 96 {
			pr = netip.PrefixFrom(a.Unmap(), pr.Bits()-96)
		}
		out = append(out, netip.PrefixFrom(pr.Addr().WithZone(""), pr.Bits()).Masked())
	}
	return out, nil
}

// group masks a client address to the configured prefix length of its family.
func (p *ipResolver) group(a netip.Addr) netip.Addr {
	bits := p.v6Bits
	if a.Is4() {
		bits = p.v4Bits
	}
	if bits >= a.BitLen() {
		return a
	}
	pr, _ := a.Prefix(bits) // bits is validated at construction
	return pr.Addr()
}

// key returns the rate-limit key of r: its client address, grouped, in canonical text. When the canonical text is
// already a substring of RemoteAddr (the common case without proxies) it is reused, so no string is allocated.
func (p *ipResolver) key(r *http.Request) (string, error) {
	a, ok := p.clientIP(r)
	if !ok {
		return "", fmt.Errorf("%w, got %q", errNoClientIP, r.RemoteAddr)
	}
	a = p.group(a)
	var buf [64]byte
	text := a.AppendTo(buf[:0])
	ra := r.RemoteAddr
	if len(ra) > 0 && ra[0] == '[' {
		ra = ra[1:]
	}
	// The conversions below do not escape, so they do not allocate.
	if strings.HasPrefix(ra, string(text)) && (len(ra) == len(text) || ra[len(text)] == ':' || ra[len(text)] == ']') {
		return ra[:len(text)], nil
	}
	return string(text), nil
}
