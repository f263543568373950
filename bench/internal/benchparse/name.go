package benchparse

import "strings"

// Family is one group of comparisons in bench/, with the peer every implementation is measured against.
type Family struct {
	// Name is the word after "Benchmark" that starts the family's benchmarks: BenchmarkRateLimitAllow.
	Name string `json:"name"`
	// Title is how the report heads the family.
	Title string `json:"title"`
	// Reference is the implementation name of the peer that ratios are taken to.
	Reference string `json:"reference"`
}

// Families are the families of the naming contract, in report order.
var Families = []Family{
	{Name: "RateLimit", Title: "Rate limiters", Reference: "xtimerate"},
	{Name: "Breaker", Title: "Circuit breakers", Reference: "gobreaker"},
	{Name: "Pool", Title: "Pools", Reference: "puddle"},
	{Name: "Cache", Title: "Caches", Reference: "golang-lru"},
}

// Name is a benchmark name split by the contract
// Benchmark<Family><Something>/<case...>/<impl>: BenchmarkPoolAcquireRelease/size=4/clients=32/puddle has
// Family "Pool", Top "BenchmarkPoolAcquireRelease", Case "size=4/clients=32" and Impl "puddle".
type Name struct {
	// Base is the whole name without the GOMAXPROCS suffix.
	Base string
	// Family is "" when the name starts no known family.
	Family string
	Top    string
	Case   string
	// Impl is the last element, "" for a name without sub-benchmarks.
	Impl string
}

// SplitName splits a name without its -N suffix.
func SplitName(base string) Name {
	n := Name{Base: base}
	elems := strings.Split(base, "/")
	n.Top = elems[0]
	if len(elems) > 1 {
		n.Impl = elems[len(elems)-1]
		n.Case = strings.Join(elems[1:len(elems)-1], "/")
	}
	rest := strings.TrimPrefix(n.Top, "Benchmark")
	for _, f := range Families {
		if strings.HasPrefix(rest, f.Name) {
			n.Family = f.Name
			break
		}
	}
	return n
}

// Label is the name as the report's tables show it: the benchmark after its family word, then the case,
// without the implementation. BenchmarkRateLimitAllow/parallel/xtimerate is labelled "Allow/parallel".
func (n Name) Label() string {
	l := strings.TrimPrefix(strings.TrimPrefix(n.Top, "Benchmark"), n.Family)
	if l == "" {
		l = n.Top
	}
	if n.Case != "" {
		l += "/" + n.Case
	}
	return l
}

// IsOurs reports whether the implementation is one of Sluice's: its name starts with "sluice".
func (n Name) IsOurs() bool { return strings.HasPrefix(n.Impl, "sluice") }

// IsFloor reports whether the implementation is a floor, the cost of the bare mechanism: "floor-cas".
func (n Name) IsFloor() bool { return strings.HasPrefix(n.Impl, "floor-") }
