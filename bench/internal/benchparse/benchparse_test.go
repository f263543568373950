package benchparse

import (
	"math"
	"reflect"
	"strings"
	"testing"
	"unicode"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const sample = `goos: linux
goarch: amd64
pkg: github.com/sluice-go/sluice/bench
cpu: AMD EPYC 7B13
BenchmarkRateLimitAllow/serial/sluice-tokenbucket         	 5000000	        21.50 ns/op	       0 B/op	       0 allocs/op
BenchmarkRateLimitAllow/serial/xtimerate-2                	 3000000	        45.0 ns/op	       8 B/op	       1 allocs/op
BenchmarkRateLimitAccuracy/rate=100/burst=10/sluice-gcra-2 	       1	      1234 ns/op	         0.9980 admitted/ideal
--- BENCH: BenchmarkSomething
    bench_test.go:12: a log line
Benchmarkfoo 10 1 ns/op
BenchmarkBroken 10 x ns/op
BenchmarkBroken2 0 1 ns/op
BenchmarkOdd 10 1
PASS
ok  	github.com/sluice-go/sluice/bench	3.201s
see: http://example.com
url:http://x is not config
Key: not config
pkg: other/pkg
BenchmarkPoolAcquireRelease/size=4/clients=32/puddle-16 100 2e3 ns/op
`

func TestParse(t *testing.T) {
	f, err := Parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	wantConfig := []Config{
		{"goos", "linux"}, {"goarch", "amd64"}, {"pkg", "other/pkg"}, {"cpu", "AMD EPYC 7B13"},
		{"see", "http://example.com"},
	}
	if !reflect.DeepEqual(f.Config, wantConfig) {
		t.Errorf("Config = %q, want %q", f.Config, wantConfig)
	}
	if f.Lookup("cpu") != "AMD EPYC 7B13" || f.Lookup("nope") != "" {
		t.Errorf("Lookup: cpu %q, nope %q", f.Lookup("cpu"), f.Lookup("nope"))
	}
	want := []Result{
		{
			Raw: "BenchmarkRateLimitAllow/serial/sluice-tokenbucket", Procs: 1, Iters: 5000000,
			Name: Name{Base: "BenchmarkRateLimitAllow/serial/sluice-tokenbucket", Family: "RateLimit",
				Top: "BenchmarkRateLimitAllow", Case: "serial", Impl: "sluice-tokenbucket"},
			Values: []Value{{21.5, "ns/op"}, {0, "B/op"}, {0, "allocs/op"}},
			Pkg:    "github.com/sluice-go/sluice/bench", Line: 5,
		},
		{
			Raw: "BenchmarkRateLimitAllow/serial/xtimerate-2", Procs: 2, Iters: 3000000,
			Name: Name{Base: "BenchmarkRateLimitAllow/serial/xtimerate", Family: "RateLimit",
				Top: "BenchmarkRateLimitAllow", Case: "serial", Impl: "xtimerate"},
			Values: []Value{{45, "ns/op"}, {8, "B/op"}, {1, "allocs/op"}},
			Pkg:    "github.com/sluice-go/sluice/bench", Line: 6,
		},
		{
			Raw: "BenchmarkRateLimitAccuracy/rate=100/burst=10/sluice-gcra-2", Procs: 2, Iters: 1,
			Name: Name{Base: "BenchmarkRateLimitAccuracy/rate=100/burst=10/sluice-gcra", Family: "RateLimit",
				Top: "BenchmarkRateLimitAccuracy", Case: "rate=100/burst=10", Impl: "sluice-gcra"},
			Values: []Value{{1234, "ns/op"}, {0.998, "admitted/ideal"}},
			Pkg:    "github.com/sluice-go/sluice/bench", Line: 7,
		},
		{
			Raw: "BenchmarkPoolAcquireRelease/size=4/clients=32/puddle-16", Procs: 16, Iters: 100,
			Name: Name{Base: "BenchmarkPoolAcquireRelease/size=4/clients=32/puddle", Family: "Pool",
				Top: "BenchmarkPoolAcquireRelease", Case: "size=4/clients=32", Impl: "puddle"},
			Values: []Value{{2000, "ns/op"}},
			Pkg:    "other/pkg", Line: 20,
		},
	}
	if !reflect.DeepEqual(f.Results, want) {
		t.Errorf("Results:\n got %+v\nwant %+v", f.Results, want)
	}
	// BenchmarkBroken, BenchmarkBroken2 and BenchmarkOdd are malformed; Benchmarkfoo is not a result line.
	if len(f.Errors) != 3 {
		t.Errorf("Errors = %v, want 3", f.Errors)
	}
	if v, ok := f.Results[2].Get("admitted/ideal"); !ok || v != 0.998 {
		t.Errorf("Get(admitted/ideal) = %v, %v", v, ok)
	}
	if _, ok := f.Results[2].Get("hit%"); ok {
		t.Errorf("Get(hit%%) found a unit the line does not have")
	}
}

func TestSplitProcs(t *testing.T) {
	tests := []struct {
		in    string
		base  string
		procs int
	}{
		{"BenchmarkX/floor-chan", "BenchmarkX/floor-chan", 1},
		{"BenchmarkX/floor-chan-8", "BenchmarkX/floor-chan", 8},
		{"BenchmarkX/size-4/impl", "BenchmarkX/size-4/impl", 1},
		{"BenchmarkX-", "BenchmarkX-", 1},
		{"BenchmarkX-+2", "BenchmarkX-+2", 1},
		{"BenchmarkX-0", "BenchmarkX-0", 1},
		{"BenchmarkX-2", "BenchmarkX", 2},
	}
	for _, tt := range tests {
		if base, procs := splitProcs(tt.in); base != tt.base || procs != tt.procs {
			t.Errorf("splitProcs(%q) = %q, %d; want %q, %d", tt.in, base, procs, tt.base, tt.procs)
		}
	}
}

func TestNameLabel(t *testing.T) {
	tests := []struct {
		in, label    string
		ours, floor  bool
		family, impl string
	}{
		{"BenchmarkRateLimitAllow/parallel/sluice-tokenbucket", "Allow/parallel", true, false, "RateLimit", "sluice-tokenbucket"},
		{"BenchmarkCacheGet/hit/floor-mutex-map", "Get/hit", false, true, "Cache", "floor-mutex-map"},
		{"BenchmarkBreaker/gobreaker", "BenchmarkBreaker", false, false, "Breaker", "gobreaker"},
		{"BenchmarkOther", "Other", false, false, "", ""},
	}
	for _, tt := range tests {
		n := SplitName(tt.in)
		if n.Label() != tt.label || n.IsOurs() != tt.ours || n.IsFloor() != tt.floor || n.Family != tt.family ||
			n.Impl != tt.impl {
			t.Errorf("SplitName(%q) = %+v label %q ours %v floor %v", tt.in, n, n.Label(), n.IsOurs(), n.IsFloor())
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(sample)
	f.Add("BenchmarkA-2 1 1 ns/op\n")
	f.Add("BenchmarkA/b/c 10 NaN ns/op 1e309 B/op\n")
	f.Add("k: v\nBenchmarkX/-3 5 1.5 hit%\n")
	f.Fuzz(func(t *testing.T, in string) {
		file, err := Parse(strings.NewReader(in))
		if err != nil {
			return // a line over the scanner's limit
		}
		for _, r := range file.Results {
			if !strings.HasPrefix(r.Raw, "Benchmark") || r.Iters <= 0 || r.Procs <= 0 {
				t.Fatalf("bad result %+v", r)
			}
			if !strings.HasPrefix(r.Raw, r.Name.Base) || !strings.HasPrefix(r.Name.Base, r.Name.Top) {
				t.Fatalf("name %q split into %+v", r.Raw, r.Name)
			}
			if len(r.Values) == 0 {
				t.Fatalf("result %q without values", r.Raw)
			}
			for _, v := range r.Values {
				if math.IsNaN(v.Value) || math.IsInf(v.Value, 0) || v.Unit == "" ||
					strings.IndexFunc(v.Unit, unicode.IsSpace) >= 0 {
					t.Fatalf("bad value %+v in %q", v, r.Raw)
				}
			}
		}
		for _, c := range file.Config {
			if c.Key == "" || strings.IndexFunc(c.Key, unicode.IsSpace) >= 0 {
				t.Fatalf("bad config key %q", c.Key)
			}
		}
	})
}
