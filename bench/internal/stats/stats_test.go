package stats

import (
	"math"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

func TestSummarize(t *testing.T) {
	tests := []struct {
		name           string
		xs             []float64
		median, lo, hi float64
		conf           float64
	}{
		{"empty", nil, 0, 0, 0, 0},
		{"one value has no interval", []float64{7}, 7, 7, 7, 0},
		// n=5: P(B<=0) = 1/32 > 0.025, so the widest interval with confidence 1 - 2/32.
		{"five values fall short of 95%", []float64{5, 1, 4, 2, 3}, 3, 1, 5, 1 - 2.0/32},
		// n=6: P(B<=0) = 1/64 <= 0.025 < P(B<=1) = 7/64, so k=1, confidence 1 - 2/64.
		{"six values", []float64{10, 12, 11, 13, 15, 14}, 12.5, 10, 15, 1 - 2.0/64},
		// n=10: P(B<=1) = 11/1024 <= 0.025 < P(B<=2) = 56/1024, so k=2: [x(2), x(9)].
		{"ten values", []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 100}, 5.5, 2, 9, 1 - 22.0/1024},
		// n=20: P(B<=5) = 21700/2^20 = 0.0207 <= 0.025 < P(B<=6) = 0.0577, so k=6: [x(6), x(15)].
		{"twenty values", seq(20), 10.5, 6, 15, 1 - 2*21700.0/(1<<20)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Summarize(tt.xs)
			if s.N != len(tt.xs) || !near(s.Median, tt.median) || !near(s.Lo, tt.lo) || !near(s.Hi, tt.hi) ||
				!near(s.Conf, tt.conf) {
				t.Fatalf("Summarize(%v) = %+v, want median %v [%v, %v] conf %v", tt.xs, s, tt.median, tt.lo, tt.hi, tt.conf)
			}
		})
	}
}

func seq(n int) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = float64(i + 1)
	}
	return s
}

func TestSummarizeKeepsInput(t *testing.T) {
	xs := []float64{3, 1, 2}
	Summarize(xs)
	if xs[0] != 3 || xs[1] != 1 || xs[2] != 2 {
		t.Fatalf("Summarize reordered its input: %v", xs)
	}
}

// The number of orderings of n x's and m y's with U = u, counted by brute force over all subsets.
func bruteMannWhitney(n, m int) []float64 {
	counts := make([]float64, n*m+1)
	total := 0.0
	for mask := 0; mask < 1<<(n+m); mask++ {
		if popcount(mask) != n {
			continue
		}
		// Bit i set: position i (in increasing order) holds an x. U counts pairs x before y.
		u, xsSeen := 0, 0
		for i := range n + m {
			if mask&(1<<i) != 0 {
				xsSeen++
			} else {
				u += xsSeen
			}
		}
		counts[u]++
		total++
	}
	cdf := make([]float64, (n*m+1)/2)
	acc := 0.0
	for u := range cdf {
		acc += counts[u]
		cdf[u] = acc / total
	}
	return cdf
}

func popcount(x int) int {
	c := 0
	for ; x != 0; x &= x - 1 {
		c++
	}
	return c
}

func TestMannWhitneyCDFMatchesBruteForce(t *testing.T) {
	for n := 1; n <= 7; n++ {
		for m := 1; m <= 7; m++ {
			got, want := mannWhitneyCDF(n, m), bruteMannWhitney(n, m)
			if len(got) != len(want) {
				t.Fatalf("n=%d m=%d: %d values, want %d", n, m, len(got), len(want))
			}
			for u := range got {
				if !near(got[u], want[u]) {
					t.Fatalf("n=%d m=%d: P(U<=%d) = %v, want %v", n, m, u, got[u], want[u])
				}
			}
		}
	}
}

func TestMannWhitneyNormalApproximation(t *testing.T) {
	// Above exactPairs pairs the tail is the normal one; it must still be a rising CDF below one half, and
	// close to the exact one just below the threshold.
	exact, approx := mannWhitneyCDF(100, 100), mannWhitneyCDF(101, 100)
	if e, a := exact[len(exact)/2], approx[len(exact)/2]; math.Abs(e-a) > 0.02 {
		t.Errorf("P(U <= %d): exact %v (100x100), normal %v (101x100)", len(exact)/2, e, a)
	}
	cdf := mannWhitneyCDF(1001, 1001)
	for u := 1; u < len(cdf); u++ {
		if cdf[u] < cdf[u-1] {
			t.Fatalf("CDF falls at %d", u)
		}
	}
	if last := cdf[len(cdf)-1]; last > 0.5 || last < 0.49 {
		t.Fatalf("P(U <= mean) = %v, want just under 0.5", last)
	}
}

func TestCompareRatio(t *testing.T) {
	tests := []struct {
		name          string
		xs, ys        []float64
		point, lo, hi float64
		conf          float64
		significant   bool
	}{
		{
			// n=m=5: P(U<=2) = 4/252 <= 0.025 < P(U<=3) = 7/252, so k=3 of the 25 sorted pairwise ratios.
			// x/y for x in 1..5, y = 10: 0.1..0.5, five each, so D(3) = 0.1 and D(23) = 0.5.
			name: "clearly faster", xs: []float64{1, 2, 3, 4, 5}, ys: []float64{10, 10, 10, 10, 10},
			point: 0.3, lo: 0.1, hi: 0.5, conf: 1 - 8.0/252, significant: true,
		},
		{
			// Pairwise ratios of {9,10,11} over {10}: 0.9, 1.0, 1.1 each five times; D(3) = 0.9, D(23) = 1.1.
			name: "overlaps one", xs: []float64{9, 10, 11, 10, 10}, ys: []float64{10, 10, 10, 10, 10},
			point: 1, lo: 0.9, hi: 1.1, conf: 1 - 8.0/252, significant: false,
		},
		{
			// n=m=3: P(U<=0) = 1/20 > 0.025, so the widest interval at 90%: not significant though separated.
			name: "too few to say", xs: []float64{1, 1, 1}, ys: []float64{2, 2, 2},
			point: 0.5, lo: 0.5, hi: 0.5, conf: 0.9, significant: false,
		},
		{
			// n=m=4: P(U<=0) = 1/70 <= 0.025 < P(U<=1) = 2/70; k=1, [D(1), D(16)].
			name: "four each, slower", xs: []float64{30, 40, 20, 25}, ys: []float64{10, 8, 5, 9},
			point: 27.5 / 8.5, lo: 20.0 / 10, hi: 40.0 / 5, conf: 1 - 2.0/70, significant: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := CompareRatio(tt.xs, tt.ys)
			if !r.Valid || !near(r.Point, tt.point) || !near(r.Lo, tt.lo) || !near(r.Hi, tt.hi) ||
				!near(r.Conf, tt.conf) || r.Significant() != tt.significant {
				t.Fatalf("CompareRatio = %+v (significant %v), want %v [%v, %v] conf %v significant %v",
					r, r.Significant(), tt.point, tt.lo, tt.hi, tt.conf, tt.significant)
			}
			if want := map[bool]string{true: "", false: "~"}[tt.significant]; r.Mark() != want {
				t.Fatalf("Mark() = %q, want %q", r.Mark(), want)
			}
		})
	}
}

func TestCompareRatioInvalid(t *testing.T) {
	for _, c := range [][2][]float64{
		{nil, {1}},
		{{1}, nil},
		{{0, 1}, {1, 1}},
		{{1, 1}, {0, 0}},
		{{math.NaN()}, {1}},
		{{math.Inf(1)}, {1}},
	} {
		if r := CompareRatio(c[0], c[1]); r.Valid || r.Significant() {
			t.Errorf("CompareRatio(%v, %v) = %+v, want invalid", c[0], c[1], r)
		}
	}
}

// The interval excludes 1 exactly when the two samples are separated enough for the U test: a property check
// against the brute-force U statistic for all small rank patterns.
func TestRatioIntervalIsDualOfUTest(t *testing.T) {
	n, m := 5, 5
	cdf := bruteMannWhitney(n, m)
	for mask := 0; mask < 1<<(n+m); mask++ {
		if popcount(mask) != n {
			continue
		}
		var xs, ys []float64
		u := 0
		for i := range n + m {
			v := float64(i + 1)
			if mask&(1<<i) != 0 {
				xs = append(xs, v)
				u += m - len(ys) // ys still to come are larger than this x.
			} else {
				ys = append(ys, v)
			}
		}
		// Two-sided exact p-value of U = number of (x, y) pairs with x < y.
		lower := min(u, n*m-u)
		p := 1.0
		if lower < len(cdf) {
			p = min(1, 2*cdf[lower])
		}
		r := CompareRatio(xs, ys)
		if got, want := r.Hi < 1 || r.Lo > 1, p <= 1-Confidence; got != want {
			t.Fatalf("xs=%v ys=%v: interval [%v, %v] excludes 1 = %v, U=%d p=%v", xs, ys, r.Lo, r.Hi, got, u, p)
		}
	}
}

func TestGeomean(t *testing.T) {
	if g := Geomean([]float64{0.5, 2, 4}); !near(g, math.Cbrt(4)) {
		t.Fatalf("Geomean = %v, want %v", g, math.Cbrt(4))
	}
	if g := Geomean(nil); g != 0 {
		t.Fatalf("Geomean(nil) = %v, want 0", g)
	}
}

func TestCompareRatioLargeSamples(t *testing.T) {
	// 600 x 600 pairs exceed maxPairs: the interval is bounded by the medians' intervals.
	xs, ys := make([]float64, 600), make([]float64, 600)
	for i := range xs {
		xs[i], ys[i] = float64(100+i%10), float64(200+i%10)
	}
	r := CompareRatio(xs, ys)
	a, b := summarize(xs, math.Sqrt(Confidence)), summarize(ys, math.Sqrt(Confidence))
	if !r.Valid || !near(r.Lo, a.Lo/b.Hi) || !near(r.Hi, a.Hi/b.Lo) || !near(r.Conf, a.Conf*b.Conf) || !r.Significant() {
		t.Fatalf("CompareRatio of large samples = %+v", r)
	}
}
