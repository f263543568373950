// Package stats holds the distribution-free statistics of the benchmark report: the median of a sample with a
// confidence interval from order statistics, and the ratio of two samples' medians with an interval from the
// Mann-Whitney (Hodges-Lehmann) construction. Both are exact for small samples, need no random numbers, and so
// give the same answer on every run.
package stats

import (
	"math"
	"slices"
)

// Confidence is the level every interval in the report aims for.
const Confidence = 0.95

// Summary is the median of a sample and a confidence interval for it.
type Summary struct {
	N      int     `json:"n"`
	Median float64 `json:"median"`
	// Lo and Hi bound the population median with confidence Conf. With fewer than six values even the widest
	// interval, [min, max], falls short of 95%: then Lo and Hi are the sample's extremes and Conf says how short.
	Lo   float64 `json:"lo"`
	Hi   float64 `json:"hi"`
	Conf float64 `json:"confidence"`
}

// Sufficient reports whether the interval reaches the confidence it aims for.
func (s Summary) Sufficient() bool { return s.Conf >= Confidence }

// Summarize returns the median of xs and its interval by the order-statistics (binomial) method that benchstat
// uses: sorted x(1) <= ... <= x(n), the interval is [x(k), x(n+1-k)] for the largest k with
// P(Binomial(n, 1/2) <= k-1) <= (1-Confidence)/2, and its confidence is 1 - 2*P(Binomial(n, 1/2) <= k-1).
// xs is not modified. Summarize of an empty sample is the zero Summary.
func Summarize(xs []float64) Summary { return summarize(xs, Confidence) }

func summarize(xs []float64, conf float64) Summary {
	n := len(xs)
	if n == 0 {
		return Summary{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	sum := Summary{N: n, Median: median(s)}
	k, tail := largestK(binomialCDF(n), (1-conf)/2)
	sum.Lo, sum.Hi = s[k-1], s[n-k]
	sum.Conf = 1 - 2*tail
	if n == 1 {
		sum.Conf = 0
	}
	return sum
}

// median of sorted s.
func median(s []float64) float64 {
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// largestK returns the largest k >= 1 with cdf[k-1] <= alpha (cdf[j] = P(X <= j)), and cdf[k-1]. When even
// cdf[0] exceeds alpha it returns k = 1, the widest interval, with its tail cdf[0].
func largestK(cdf []float64, alpha float64) (int, float64) {
	k := 1
	for k < len(cdf) && cdf[k] <= alpha {
		k++
	}
	return k, cdf[k-1]
}

// binomialCDF returns P(Binomial(n, 1/2) <= j) for j = 0 .. (n-1)/2, the lower half the intervals draw from.
func binomialCDF(n int) []float64 {
	half := (n + 1) / 2
	cdf := make([]float64, half)
	// log C(n, j) accumulated to stay finite for large n.
	logC, acc := 0.0, 0.0
	for j := range half {
		if j > 0 {
			logC += math.Log(float64(n-j+1)) - math.Log(float64(j))
		}
		acc += math.Exp(logC - float64(n)*math.Ln2)
		cdf[j] = acc
	}
	return cdf
}

// Ratio compares sample X with a reference sample Y.
type Ratio struct {
	// Point is median(X) / median(Y), the figure benchstat prints as the change.
	Point float64 `json:"ratio"`
	// Lo and Hi bound the ratio of the two distributions' locations with confidence Conf: the Hodges-Lehmann
	// interval, the k-th smallest and k-th largest of all n*m pairwise ratios x/y, with k from the exact null
	// distribution of the Mann-Whitney U statistic. It excludes 1 exactly when benchstat's U test would call
	// the difference significant at the same level.
	Lo   float64 `json:"lo"`
	Hi   float64 `json:"hi"`
	Conf float64 `json:"confidence"`
	// Valid is false when a ratio cannot be formed: an empty sample, or a value <= 0 (0 allocs/op, say).
	Valid bool `json:"valid"`
}

// Significant reports whether the interval reaches the confidence it aims for and excludes 1.
func (r Ratio) Significant() bool {
	return r.Valid && r.Conf >= Confidence && (r.Hi < 1 || r.Lo > 1)
}

// Mark is "~" for a ratio that is not significant, "" otherwise, as benchstat prints it.
func (r Ratio) Mark() string {
	if r.Significant() {
		return ""
	}
	return "~"
}

// maxPairs caps the pairwise ratios CompareRatio lists; benchmark samples have tens of values, not hundreds.
const maxPairs = 250_000

// exactPairs is the largest n*m for which the Mann-Whitney distribution is computed exactly.
const exactPairs = 10_000

// CompareRatio returns the ratio of xs to the reference ys with its interval. Neither slice is modified.
// Beyond maxPairs pairs the interval is the conservative one bounded by the two medians' intervals, each at
// confidence sqrt(Confidence), with the product of their confidences.
func CompareRatio(xs, ys []float64) Ratio {
	n, m := len(xs), len(ys)
	if n == 0 || m == 0 {
		return Ratio{}
	}
	for _, v := range slices.Concat(xs, ys) {
		if !(v > 0) || math.IsInf(v, 0) {
			return Ratio{}
		}
	}
	sx, sy := slices.Clone(xs), slices.Clone(ys)
	slices.Sort(sx)
	slices.Sort(sy)
	r := Ratio{Point: median(sx) / median(sy), Valid: true}
	if n*m > maxPairs {
		// Too many pairs to list: bound the ratio by the two medians' intervals instead, which is wider. Each
		// at sqrt(Confidence), so that both hold together with Confidence.
		a, b := summarize(sx, math.Sqrt(Confidence)), summarize(sy, math.Sqrt(Confidence))
		r.Lo, r.Hi = a.Lo/b.Hi, a.Hi/b.Lo
		r.Conf = a.Conf * b.Conf
		return r
	}
	d := make([]float64, 0, n*m)
	for _, x := range sx {
		for _, y := range sy {
			d = append(d, x/y)
		}
	}
	slices.Sort(d)
	k, tail := largestK(mannWhitneyCDF(n, m), (1-Confidence)/2)
	r.Lo, r.Hi = d[k-1], d[len(d)-k]
	r.Conf = 1 - 2*tail
	if n*m == 1 {
		r.Conf = 0
	}
	return r
}

// mannWhitneyCDF returns P(U <= u) for u = 0 .. (n*m-1)/2 under the null hypothesis, U being the number of
// pairs (x, y) with x < y among n x's and m y's. Exact for samples of benchmark size, from the Gaussian binomial
// coefficient [n+m choose n]_q, whose coefficient of q^u counts the orderings with U = u; a normal
// approximation above exactPairs pairs.
func mannWhitneyCDF(n, m int) []float64 {
	half := (n*m + 1) / 2
	cdf := make([]float64, half)
	if n*m > exactPairs {
		mean := float64(n*m) / 2
		sd := math.Sqrt(float64(n*m) * float64(n+m+1) / 12)
		for u := range half {
			cdf[u] = 0.5 * math.Erfc(-(float64(u)+0.5-mean)/(sd*math.Sqrt2))
		}
		return cdf
	}
	if n > m {
		n, m = m, n
	}
	// p holds the polynomial's coefficients; the product of (1-q^(m+i))/(1-q^i) for i = 1..n.
	p := make([]float64, n*m+1)
	p[0] = 1
	for i := 1; i <= n; i++ {
		for j := len(p) - 1; j >= m+i; j-- {
			p[j] -= p[j-m-i]
		}
		for j := i; j < len(p); j++ {
			p[j] += p[j-i]
		}
	}
	total := 0.0
	for _, c := range p {
		total += c
	}
	acc := 0.0
	for u := range half {
		acc += p[u]
		cdf[u] = acc / total
	}
	return cdf
}

// Geomean returns the geometric mean of positive xs, or 0 for none.
func Geomean(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := 0.0
	for _, x := range xs {
		s += math.Log(x)
	}
	return math.Exp(s / float64(len(xs)))
}
