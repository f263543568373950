// Package analysis turns parsed benchmark results into the report's model: per family, per case and
// GOMAXPROCS, each implementation's medians with intervals, its time ratio to the family's reference peer, its
// quality figures, and the headline ratios of Sluice's implementations.
package analysis

import (
	"cmp"
	"slices"

	"github.com/sluice-go/sluice/bench/internal/benchparse"
	"github.com/sluice-go/sluice/bench/internal/stats"
)

// Units the report treats as cost; every other unit is a quality figure.
const (
	UnitTime   = "ns/op"
	UnitBytes  = "B/op"
	UnitAllocs = "allocs/op"
	UnitSpeed  = "MB/s"
)

// MinSamples is the sample count below which the report flags a figure as resting on too few runs.
const MinSamples = 5

// qualityOrder lists the quality units of the naming contract first, in this order.
var qualityOrder = []string{"admitted/ideal", "calls-to-open", "hit%", "p99wait/meanwait"}

// Metric is one unit's samples for one implementation, with their median and its interval.
type Metric struct {
	Unit string `json:"unit"`
	stats.Summary
	Samples []float64 `json:"samples"`
}

// LowN reports whether there were too few samples to trust.
func (m Metric) LowN() bool { return m.N < MinSamples }

// Cell is one implementation in one case at one GOMAXPROCS.
type Cell struct {
	Impl      string   `json:"impl"`
	Ours      bool     `json:"ours,omitempty"`
	Floor     bool     `json:"floor,omitempty"`
	Reference bool     `json:"reference,omitempty"`
	Metrics   []Metric `json:"metrics"`
	// Ratio is this implementation's ns/op over the reference's; nil when the case has no reference or it is
	// the reference.
	Ratio *RatioResult `json:"ratio,omitempty"`
}

// RatioResult is a [stats.Ratio] with its verdict spelled out.
type RatioResult struct {
	stats.Ratio
	Significant bool `json:"significant"`
	// LowN is set when either side has fewer than MinSamples samples.
	LowN bool `json:"lowN,omitempty"`
}

// Metric returns the cell's metric for unit.
func (c Cell) Metric(unit string) (Metric, bool) {
	for _, m := range c.Metrics {
		if m.Unit == unit {
			return m, true
		}
	}
	return Metric{}, false
}

// Group is one case at one GOMAXPROCS: the implementations measured side by side.
type Group struct {
	Label string `json:"label"`
	Top   string `json:"top"`
	Case  string `json:"case,omitempty"`
	Procs int    `json:"gomaxprocs"`
	// Oversubscribed marks a GOMAXPROCS above the machine's cores: goroutines time-share the cores, so the
	// figures say nothing about scaling.
	Oversubscribed bool `json:"oversubscribed,omitempty"`
	// Quality marks a case that reports a quality figure.
	Quality bool   `json:"quality,omitempty"`
	Cells   []Cell `json:"cells"`
}

// Headline sums up one of Sluice's implementations against the family's reference over every cell where both
// ran within the machine's cores. Cases that measure quality count too: their ratio is still the time each
// implementation took for the same work.
type Headline struct {
	Impl string `json:"impl"`
	// Geomean is the geometric mean of the ns/op ratios; Min and Max their range.
	Geomean float64 `json:"geomean"`
	Min     float64 `json:"min"`
	Max     float64 `json:"max"`
	Cells   int     `json:"cells"`
	Faster  int     `json:"faster"`
	Slower  int     `json:"slower"`
	Same    int     `json:"notSignificant"`
	Procs   []int   `json:"gomaxprocs"`
}

// QualityHeadline sums up one quality figure of one of Sluice's implementations against the reference, over
// the cases (and GOMAXPROCS values) where both reported it: the differences of the medians, ours minus the
// reference's, and the range of ours.
type QualityHeadline struct {
	Impl     string  `json:"impl"`
	Unit     string  `json:"unit"`
	Cases    int     `json:"cases"`
	MeanDiff float64 `json:"meanDiff"`
	MinDiff  float64 `json:"minDiff"`
	MaxDiff  float64 `json:"maxDiff"`
	Min      float64 `json:"min"`
	Max      float64 `json:"max"`
}

// FamilyResult is one family's part of the report.
type FamilyResult struct {
	benchparse.Family
	Groups []Group `json:"groups"`
	// Impls lists the implementations in the order the report shows them.
	Impls []string `json:"impls"`
	// QualityUnits lists the quality figures the family reports.
	QualityUnits []string   `json:"qualityUnits,omitempty"`
	Headlines    []Headline `json:"headlines,omitempty"`
	// QualityHeadlines compare the quality figures of Sluice's implementations with the reference's.
	QualityHeadlines []QualityHeadline `json:"qualityHeadlines,omitempty"`
}

// HasReference reports whether any group measured the reference peer.
func (f FamilyResult) HasReference() bool {
	return f.Reference != "" && slices.Contains(f.Impls, f.Reference)
}

// Analyze groups results into families. cores is the machine's core count, 0 when unknown; GOMAXPROCS values
// above it are marked oversubscribed and left out of the headlines. Results outside the four families are
// returned as a family with an empty Name.
func Analyze(results []benchparse.Result, cores int) []FamilyResult {
	type groupKey struct {
		base  string // top and case
		procs int
	}
	type cellKey struct {
		group groupKey
		impl  string
	}
	samples := map[cellKey]map[string][]float64{}
	units := map[cellKey][]string{}
	groupOrder := map[string][]groupKey{} // by family
	implOrder := map[string][]string{}
	groupImpls := map[groupKey][]string{}
	names := map[groupKey]benchparse.Name{}
	for _, r := range results {
		n := r.Name
		gk := groupKey{n.Top + "/" + n.Case, r.Procs}
		ck := cellKey{gk, n.Impl}
		if _, ok := names[gk]; !ok {
			names[gk] = n
			groupOrder[n.Family] = append(groupOrder[n.Family], gk)
		}
		if !slices.Contains(groupImpls[gk], n.Impl) {
			groupImpls[gk] = append(groupImpls[gk], n.Impl)
		}
		if !slices.Contains(implOrder[n.Family], n.Impl) {
			implOrder[n.Family] = append(implOrder[n.Family], n.Impl)
		}
		if samples[ck] == nil {
			samples[ck] = map[string][]float64{}
		}
		for _, v := range r.Values {
			if _, ok := samples[ck][v.Unit]; !ok {
				units[ck] = append(units[ck], v.Unit)
			}
			samples[ck][v.Unit] = append(samples[ck][v.Unit], v.Value)
		}
	}

	families := slices.Clone(benchparse.Families)
	families = append(families, benchparse.Family{Title: "Other benchmarks"})
	var out []FamilyResult
	for _, fam := range families {
		keys := groupOrder[fam.Name]
		if len(keys) == 0 {
			continue
		}
		fr := FamilyResult{Family: fam, Impls: orderImpls(implOrder[fam.Name], fam.Reference)}
		// Groups in first-seen order of their case, then by GOMAXPROCS.
		firstSeen := map[string]int{}
		for i, k := range keys {
			if _, ok := firstSeen[k.base]; !ok {
				firstSeen[k.base] = i
			}
		}
		slices.SortStableFunc(keys, func(a, b groupKey) int {
			return cmp.Or(cmp.Compare(firstSeen[a.base], firstSeen[b.base]), cmp.Compare(a.procs, b.procs))
		})
		quality := map[string]bool{}
		for _, gk := range keys {
			n := names[gk]
			g := Group{Label: n.Label(), Top: n.Top, Case: n.Case, Procs: gk.procs,
				Oversubscribed: cores > 0 && gk.procs > cores}
			var ref []float64
			if fam.Reference != "" {
				ref = samples[cellKey{gk, fam.Reference}][UnitTime]
			}
			for _, impl := range fr.Impls {
				if !slices.Contains(groupImpls[gk], impl) {
					continue
				}
				ck := cellKey{gk, impl}
				in := benchparse.Name{Impl: impl}
				c := Cell{Impl: impl, Ours: in.IsOurs(), Floor: in.IsFloor(), Reference: impl == fam.Reference && impl != ""}
				for _, u := range orderUnits(units[ck]) {
					xs := samples[ck][u]
					c.Metrics = append(c.Metrics, Metric{Unit: u, Summary: stats.Summarize(xs), Samples: xs})
					if !isCost(u) {
						quality[u] = true
						g.Quality = true
					}
				}
				if xs := samples[ck][UnitTime]; len(ref) > 0 && len(xs) > 0 && !c.Reference {
					r := stats.CompareRatio(xs, ref)
					if r.Valid {
						c.Ratio = &RatioResult{Ratio: r, Significant: r.Significant(),
							LowN: len(xs) < MinSamples || len(ref) < MinSamples}
					}
				}
				g.Cells = append(g.Cells, c)
			}
			fr.Groups = append(fr.Groups, g)
		}
		for u := range quality {
			fr.QualityUnits = append(fr.QualityUnits, u)
		}
		fr.QualityUnits = orderUnits(fr.QualityUnits)
		fr.Headlines = headlines(fr)
		fr.QualityHeadlines = qualityHeadlines(fr)
		out = append(out, fr)
	}
	return out
}

func isCost(unit string) bool {
	return unit == UnitTime || unit == UnitBytes || unit == UnitAllocs || unit == UnitSpeed
}

// orderUnits puts cost units first, then the contract's quality units, then the rest alphabetically.
func orderUnits(units []string) []string {
	rank := func(u string) int {
		switch u {
		case UnitTime:
			return 0
		case UnitBytes:
			return 1
		case UnitAllocs:
			return 2
		case UnitSpeed:
			return 3
		}
		if i := slices.Index(qualityOrder, u); i >= 0 {
			return 4 + i
		}
		return 4 + len(qualityOrder)
	}
	out := slices.Clone(units)
	slices.SortStableFunc(out, func(a, b string) int { return cmp.Or(cmp.Compare(rank(a), rank(b)), cmp.Compare(a, b)) })
	return out
}

// orderImpls shows Sluice's implementations first, then the reference, other peers, and the floors, each in
// the order the benchmarks ran them.
func orderImpls(impls []string, reference string) []string {
	rank := func(impl string) int {
		n := benchparse.Name{Impl: impl}
		switch {
		case n.IsOurs():
			return 0
		case impl == reference:
			return 1
		case n.IsFloor():
			return 3
		}
		return 2
	}
	out := slices.Clone(impls)
	slices.SortStableFunc(out, func(a, b string) int { return cmp.Compare(rank(a), rank(b)) })
	return out
}

func headlines(fr FamilyResult) []Headline {
	var hs []Headline
	for _, impl := range fr.Impls {
		if !(benchparse.Name{Impl: impl}).IsOurs() {
			continue
		}
		h := Headline{Impl: impl}
		var ratios []float64
		for _, g := range fr.Groups {
			if g.Oversubscribed {
				continue
			}
			for _, c := range g.Cells {
				if c.Impl != impl || c.Ratio == nil {
					continue
				}
				ratios = append(ratios, c.Ratio.Point)
				switch {
				case !c.Ratio.Significant:
					h.Same++
				case c.Ratio.Hi < 1:
					h.Faster++
				default:
					h.Slower++
				}
				if !slices.Contains(h.Procs, g.Procs) {
					h.Procs = append(h.Procs, g.Procs)
				}
			}
		}
		if len(ratios) == 0 {
			continue
		}
		slices.Sort(h.Procs)
		h.Cells = len(ratios)
		h.Geomean = stats.Geomean(ratios)
		h.Min, h.Max = slices.Min(ratios), slices.Max(ratios)
		hs = append(hs, h)
	}
	return hs
}

func qualityHeadlines(fr FamilyResult) []QualityHeadline {
	var hs []QualityHeadline
	for _, impl := range fr.Impls {
		if !(benchparse.Name{Impl: impl}).IsOurs() {
			continue
		}
		for _, unit := range fr.QualityUnits {
			h := QualityHeadline{Impl: impl, Unit: unit}
			var diffs, values []float64
			for _, g := range fr.Groups {
				var ours, ref Metric
				var haveOurs, haveRef bool
				for _, c := range g.Cells {
					switch c.Impl {
					case impl:
						ours, haveOurs = c.Metric(unit)
					case fr.Reference:
						ref, haveRef = c.Metric(unit)
					}
				}
				if haveOurs && haveRef {
					diffs = append(diffs, ours.Median-ref.Median)
					values = append(values, ours.Median)
				}
			}
			if len(diffs) == 0 {
				continue
			}
			h.Cases = len(diffs)
			for _, d := range diffs {
				h.MeanDiff += d / float64(len(diffs))
			}
			h.MinDiff, h.MaxDiff = slices.Min(diffs), slices.Max(diffs)
			h.Min, h.Max = slices.Min(values), slices.Max(values)
			hs = append(hs, h)
		}
	}
	return hs
}
