package analysis

import (
	"math"
	"os"
	"reflect"
	"testing"

	"go.uber.org/goleak"

	"github.com/sluice-go/sluice/bench/internal/benchparse"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

func load(t *testing.T) []FamilyResult {
	t.Helper()
	in, err := os.Open("../../cmd/report/testdata/sample.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	f, err := benchparse.Parse(in)
	if err != nil || len(f.Errors) > 0 {
		t.Fatalf("Parse: %v %v", err, f.Errors)
	}
	return Analyze(f.Results, 2)
}

func findCell(t *testing.T, fr FamilyResult, label string, procs int, impl string) (Group, Cell) {
	t.Helper()
	for _, g := range fr.Groups {
		if g.Label != label || g.Procs != procs {
			continue
		}
		for _, c := range g.Cells {
			if c.Impl == impl {
				return g, c
			}
		}
	}
	t.Fatalf("no cell %s P%d %s", label, procs, impl)
	return Group{}, Cell{}
}

func TestAnalyzeLayout(t *testing.T) {
	fams := load(t)
	if len(fams) != 2 || fams[0].Name != "RateLimit" || fams[1].Name != "Cache" {
		t.Fatalf("families = %v, want RateLimit then Cache", fams)
	}
	rl := fams[0]
	if want := []string{"sluice-tokenbucket", "xtimerate", "floor-atomic-add"}; !reflect.DeepEqual(rl.Impls, want) {
		t.Errorf("Impls = %v, want %v", rl.Impls, want)
	}
	type gk struct {
		label string
		procs int
		over  bool
	}
	var got []gk
	for _, g := range rl.Groups {
		got = append(got, gk{g.Label, g.Procs, g.Oversubscribed})
	}
	want := []gk{
		{"Allow/serial", 1, false}, {"Allow/serial", 2, false},
		{"Allow/parallel", 1, false}, {"Allow/parallel", 2, false}, {"Allow/parallel", 4, true},
		{"Accuracy/rate=100", 1, false},
	}
	for _, g := range rl.Groups {
		if g.Quality != (g.Label == "Accuracy/rate=100") {
			t.Errorf("group %s: Quality = %v", g.Label, g.Quality)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("groups = %v, want %v", got, want)
	}
	if !reflect.DeepEqual(rl.QualityUnits, []string{"admitted/ideal"}) ||
		!reflect.DeepEqual(fams[1].QualityUnits, []string{"hit%"}) {
		t.Errorf("quality units %v / %v", rl.QualityUnits, fams[1].QualityUnits)
	}
	_, c := findCell(t, rl, "Allow/serial", 1, "xtimerate")
	if !c.Reference || c.Ours || c.Ratio != nil {
		t.Errorf("reference cell = %+v", c)
	}
	_, c = findCell(t, rl, "Allow/serial", 1, "floor-atomic-add")
	if !c.Floor || c.Ours {
		t.Errorf("floor cell = %+v", c)
	}
	var units []string
	for _, m := range c.Metrics {
		units = append(units, m.Unit)
	}
	if !reflect.DeepEqual(units, []string{"ns/op", "B/op", "allocs/op"}) {
		t.Errorf("units = %v", units)
	}
}

func TestAnalyzeFigures(t *testing.T) {
	fams := load(t)
	rl, cache := fams[0], fams[1]
	tests := []struct {
		fam                    FamilyResult
		label                  string
		procs                  int
		impl                   string
		median, mlo, mhi       float64
		ratio, rlo, rhi        float64
		significant, ratioLowN bool
	}{
		// Samples 10..14 against 20..24: median 12 in [10, 14] (n=5 gives [min, max]); ratio 12/22 with the
		// 3rd smallest and 3rd largest of the 25 pairwise ratios, 10/22 and 13/20.
		{rl, "Allow/serial", 1, "sluice-tokenbucket", 12, 10, 14, 12.0 / 22, 10.0 / 22, 13.0 / 20, true, false},
		// 15..19 against 25..29: pairwise 15/29, 15/28, 16/29 lowest; 19/25, 19/26, 18/25 highest.
		{rl, "Allow/parallel", 1, "sluice-tokenbucket", 17, 15, 19, 17.0 / 27, 16.0 / 29, 18.0 / 25, true, false},
		// 30..38 step 2 against 31..39 step 2 overlap: 34/35 in [32/39, 38/33] spans 1.
		{rl, "Allow/parallel", 2, "sluice-tokenbucket", 34, 30, 38, 34.0 / 35, 32.0 / 39, 38.0 / 33, false, false},
		// A constant floor: every pairwise ratio is 2/y, five of each y.
		{rl, "Allow/serial", 1, "floor-atomic-add", 2, 2, 2, 2.0 / 22, 2.0 / 24, 2.0 / 20, true, false},
		// Equal times: ratio exactly 1, not significant.
		{rl, "Accuracy/rate=100", 1, "sluice-tokenbucket", 1000, 1000, 1000, 1, 1, 1, false, false},
		// Three samples each: the widest interval reaches only 90%, so not significant and flagged.
		{cache, "Get/zipf", 2, "sluice-lru", 41, 40, 42, 41.0 / 82, 40.0 / 84, 42.0 / 80, false, true},
	}
	for _, tt := range tests {
		_, c := findCell(t, tt.fam, tt.label, tt.procs, tt.impl)
		m, ok := c.Metric(UnitTime)
		if !ok || !near(m.Median, tt.median) || !near(m.Lo, tt.mlo) || !near(m.Hi, tt.mhi) {
			t.Errorf("%s P%d %s: ns/op %+v, want %v [%v, %v]", tt.label, tt.procs, tt.impl, m.Summary, tt.median, tt.mlo, tt.mhi)
		}
		r := c.Ratio
		if r == nil || !near(r.Point, tt.ratio) || !near(r.Lo, tt.rlo) || !near(r.Hi, tt.rhi) ||
			r.Significant != tt.significant || r.LowN != tt.ratioLowN {
			t.Errorf("%s P%d %s: ratio %+v, want %v [%v, %v] significant %v lowN %v",
				tt.label, tt.procs, tt.impl, r, tt.ratio, tt.rlo, tt.rhi, tt.significant, tt.ratioLowN)
		}
	}
	_, c := findCell(t, rl, "Accuracy/rate=100", 1, "xtimerate")
	if m, ok := c.Metric("admitted/ideal"); !ok || !near(m.Median, 1.002) || m.N != 5 {
		t.Errorf("admitted/ideal = %+v", m)
	}
	_, c = findCell(t, cache, "Get/zipf", 2, "golang-lru")
	if m, ok := c.Metric("hit%"); !ok || !near(m.Median, 78.1) || !m.LowN() {
		t.Errorf("hit%% = %+v, want median 78.1 flagged low n", m)
	}
}

func TestHeadlines(t *testing.T) {
	fams := load(t)
	// P4 is above the 2 cores and left out: serial P1, P2 (12/22 each), parallel P1 (17/27) and P2 (34/35),
	// accuracy (1). Three significant speed-ups, two not significant.
	want := Headline{
		Impl:    "sluice-tokenbucket",
		Geomean: math.Pow(12.0/22*12.0/22*17.0/27*34.0/35*1, 1.0/5),
		Min:     12.0 / 22, Max: 1, Cells: 5, Faster: 3, Slower: 0, Same: 2, Procs: []int{1, 2},
	}
	hs := fams[0].Headlines
	if len(hs) != 1 {
		t.Fatalf("headlines = %+v, want one", hs)
	}
	got := hs[0]
	if !near(got.Geomean, want.Geomean) || !near(got.Min, want.Min) || !near(got.Max, want.Max) {
		t.Errorf("headline %+v, want %+v", got, want)
	}
	got.Geomean, got.Min, got.Max = want.Geomean, want.Min, want.Max
	if !reflect.DeepEqual(got, want) {
		t.Errorf("headline %+v, want %+v", got, want)
	}
	if hs := fams[1].Headlines; len(hs) != 1 || hs[0].Impl != "sluice-lru" || hs[0].Same != 1 || hs[0].Cells != 1 {
		t.Errorf("cache headlines = %+v", hs)
	}
}

func TestAnalyzeUnknownCores(t *testing.T) {
	res := []benchparse.Result{
		{Name: benchparse.SplitName("BenchmarkPoolX/c/puddle"), Procs: 64, Values: []benchparse.Value{{Value: 1, Unit: "ns/op"}}},
		{Name: benchparse.SplitName("BenchmarkMisc/impl"), Procs: 1, Values: []benchparse.Value{{Value: 1, Unit: "ns/op"}}},
	}
	fams := Analyze(res, 0)
	if len(fams) != 2 || fams[0].Name != "Pool" || fams[1].Name != "" || fams[0].Groups[0].Oversubscribed {
		t.Fatalf("Analyze = %+v", fams)
	}
	if fams[0].HasReference() != true || fams[1].HasReference() {
		t.Errorf("HasReference: pool %v, other %v", fams[0].HasReference(), fams[1].HasReference())
	}
}

func TestQualityHeadlines(t *testing.T) {
	fams := load(t)
	// admitted/ideal: ours 1.000 against xtimerate's 1.002 in the one accuracy case.
	rl := fams[0].QualityHeadlines
	if len(rl) != 1 || rl[0].Impl != "sluice-tokenbucket" || rl[0].Unit != "admitted/ideal" || rl[0].Cases != 1 ||
		!near(rl[0].MeanDiff, -0.002) || !near(rl[0].MinDiff, -0.002) || !near(rl[0].MaxDiff, -0.002) ||
		rl[0].Min != 1 || rl[0].Max != 1 {
		t.Errorf("rate limiter quality headlines %+v", rl)
	}
	// hit%: medians 80.6 and 78.1.
	c := fams[1].QualityHeadlines
	if len(c) != 1 || c[0].Unit != "hit%" || !near(c[0].MeanDiff, 2.5) || !near(c[0].Min, 80.6) {
		t.Errorf("cache quality headlines %+v", c)
	}
}
