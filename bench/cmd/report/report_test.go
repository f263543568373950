package main

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sluice-go/sluice/bench/internal/analysis"
	"github.com/sluice-go/sluice/bench/internal/benchparse"
	"github.com/sluice-go/sluice/bench/internal/svg"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// generateSample writes the report of testdata/sample.txt into a temporary directory.
func generateSample(t *testing.T) string {
	t.Helper()
	out := t.TempDir()
	var log bytes.Buffer
	if err := run([]string{"-in", "testdata/sample.txt", "-out", out}, &log); err != nil {
		t.Fatalf("run: %v\n%s", err, log.String())
	}
	return out
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestResultsMarkdown(t *testing.T) {
	md := read(t, filepath.Join(generateSample(t), "RESULTS.md"))
	// Rows checked against hand-computed figures: medians of 10..14 and 20..24 with [min, max] intervals,
	// ratio 12/22 = 0.55 in [10/22, 13/20]; the overlapping parallel case at GOMAXPROCS 2, 34/35 in
	// [32/39, 38/33], is not significant; GOMAXPROCS 4 exceeds the sample machine's 2 cores; the cache case
	// has only 3 runs.
	for _, want := range []string{
		"| CPU | Sample CPU @ 2.00GHz |",
		"| cores | 2 |",
		"| GOMAXPROCS | 1, 2, 4 (4 above the 2 cores: marked ‡, too few cores to say how cost scales there) |",
		"| Go | go1.26.8 linux/amd64 |",
		"| commit | 0123456789ab |",
		"Produced by `go run ./bench/cmd/report -quick`",
		"| load average (1, 5, 15 min) before / after | 1.50 1.20 0.90 / 1.70 1.30 0.95 |",
		"| benchmark time | 12s |",
		"| mode | quick: -count=5 -benchtime=100ms |",
		"`go run ./bench/cmd/report -in bench/cmd/report/testdata/sample.txt`",
		"| Allow/serial | 1 | **`sluice-tokenbucket`** | 12 ±17% | 0 | 0 | **0.55×** [0.45, 0.65] | 5 |",
		"|  |  | `xtimerate` | 22 ±9.1% | 0 | 0 | reference | 5 |",
		"|  |  | `floor-atomic-add` | 2 ±0% | 0 | 0 | **0.09×** [0.08, 0.10] | 5 |",
		"| Allow/parallel | 2 | **`sluice-tokenbucket`** | 34 ±12% | 0 | 0 | ~ 0.97× [0.82, 1.15] | 5 |",
		"| Allow/parallel | 4 ‡ | **`sluice-tokenbucket`** | 64 ±6.2% | 0 | 0 | **0.86×** [0.79, 0.94] | 5 |",
		"| Get/zipf | 2 | **`sluice-lru`** | 41 ±2.4% | 16 | 1 | ~ 0.50× [0.48, 0.53] † | 3 † |",
		"| Accuracy/rate=100 | 1 | **`sluice-tokenbucket`** | 1 ±0.1% | 5 |",
		"|  |  | `xtimerate` | 1.002 ±0.1% | 5 |",
		"| Get/zipf | 2 | **`sluice-lru`** | 80.6 ±0.1% | 3 |",
		"![Rate limiters: throughput against GOMAXPROCS](charts/ratelimit-scaling.svg)",
		"![Rate limiters: time relative to xtimerate](charts/ratelimit-ratio.svg)",
		"![Caches: time relative to golang-lru](charts/cache-ratio.svg)",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("RESULTS.md lacks %q", want)
		}
	}
	// The cache case ran at one GOMAXPROCS only: no scaling chart to link.
	if strings.Contains(md, "cache-scaling.svg") {
		t.Errorf("RESULTS.md links a cache scaling chart that has one point per line")
	}
}

func TestHeadlinesMarkdown(t *testing.T) {
	got := read(t, filepath.Join(generateSample(t), "HEADLINES.md"))
	// Geomean of 12/22, 12/22, 17/27, 34/35 and 1 (GOMAXPROCS 4 is above the cores) = 0.7084.
	want := generatedNote + "\n\n" +
		"- **Rate limiters**: `sluice-tokenbucket` takes **0.71×** the time per operation of `xtimerate` (1.41× faster; " +
		"geometric mean of 5 cases at GOMAXPROCS 1, 2, from 0.55× to 1.00×; significantly faster in 3, slower in 0, " +
		"no significant difference in 2).\n" +
		"- **Rate limiters**, `admitted/ideal` (1 is exact): `sluice-tokenbucket` 1; difference to `xtimerate` -0.002 in 1 case.\n" +
		"- **Caches**: `sluice-lru` takes **0.50×** the time per operation of `golang-lru` (2.00× faster; geometric mean " +
		"of 1 case at GOMAXPROCS 2, from 0.50× to 0.50×; significantly faster in 0, slower in 0, no significant " +
		"difference in 1).\n" +
		"- **Caches**, `hit%` (higher is better): `sluice-lru` 80.6; difference to `golang-lru` +2.5 in 1 case.\n" +
		"\nMeasured in quick mode on Sample CPU @ 2.00GHz (2 cores, go1.26.8), 2026-11-23, commit 0123456789ab. " +
		"Tables, confidence intervals and charts: [bench/RESULTS.md](bench/RESULTS.md).\n"
	if got != want {
		t.Errorf("HEADLINES.md:\n%s\nwant:\n%s", got, want)
	}
}

func TestHeadlinesWithoutOurs(t *testing.T) {
	rep := Report{Machine: Machine{Mode: "full"}}
	if got := headlinesMarkdown(rep); !strings.Contains(got, "No implementation of Sluice has been measured") ||
		!strings.Contains(got, "full mode on unknown (unknown cores, unknown), unknown, commit unknown") {
		t.Errorf("HEADLINES.md without results:\n%s", got)
	}
}

func TestResultsJSON(t *testing.T) {
	var rep Report
	if err := json.Unmarshal([]byte(read(t, filepath.Join(generateSample(t), "results.json"))), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Machine.Cores != 2 || !reflect.DeepEqual(rep.Machine.GOMAXPROCS, []int{1, 2, 4}) || len(rep.Families) != 2 {
		t.Fatalf("results.json: machine %+v, %d families", rep.Machine, len(rep.Families))
	}
	g := rep.Families[0].Groups[0]
	c := g.Cells[0]
	if g.Label != "Allow/serial" || g.Procs != 1 || c.Impl != "sluice-tokenbucket" || c.Ratio == nil ||
		!c.Ratio.Significant || c.Ratio.Lo != 10.0/22 || c.Ratio.Hi != 13.0/20 {
		t.Fatalf("first cell %+v in %s P%d, ratio %+v", c, g.Label, g.Procs, c.Ratio)
	}
	if m := c.Metrics[0]; m.Unit != "ns/op" || m.Median != 12 || !reflect.DeepEqual(m.Samples, []float64{10, 11, 12, 13, 14}) {
		t.Fatalf("ns/op metric %+v", m)
	}
}

func TestChartsWellFormed(t *testing.T) {
	out := generateSample(t)
	charts, err := filepath.Glob(filepath.Join(out, "charts", "*.svg"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range charts {
		names = append(names, filepath.Base(c))
		if err := svg.WellFormed(strings.NewReader(read(t, c))); err != nil {
			t.Errorf("%s: %v", c, err)
		}
	}
	if want := []string{"cache-ratio.svg", "ratelimit-ratio.svg", "ratelimit-scaling.svg"}; !reflect.DeepEqual(names, want) {
		t.Errorf("charts %v, want %v", names, want)
	}
	// A second run replaces the charts instead of leaving stale ones beside them.
	if err := os.WriteFile(filepath.Join(out, "charts", "stale.svg"), []byte("<svg/>"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run([]string{"-in", "testdata/sample.txt", "-out", out}, io.Discard); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(out, "charts", "stale.svg")); !os.IsNotExist(err) {
		t.Errorf("stale chart survived: %v", err)
	}
}

func TestParseFlags(t *testing.T) {
	quick, err := parseFlags([]string{"-quick", "-out", "x"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if quick.count != 5 || quick.benchtime != "" || quick.budget != 100*time.Second || !reflect.DeepEqual(quick.cpus, []int{1, 2}) ||
		quick.bench != "^Benchmark(RateLimit|Breaker|Pool|Cache)" || quick.raw != filepath.Join("x", "results.txt") {
		t.Errorf("quick defaults %+v", quick)
	}
	full, err := parseFlags([]string{"-families", "cache, ratelimit", "-cpu", "1,3", "-count", "7"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if full.count != 7 || full.benchtime != "" || full.budget != 20*time.Minute || !reflect.DeepEqual(full.cpus, []int{1, 3}) ||
		full.bench != "^Benchmark(Cache|RateLimit)" || filepath.Base(full.out) != "bench" || full.pkgDir != full.out {
		t.Errorf("full options %+v", full)
	}
	for _, args := range [][]string{
		{"-families", "queue"},
		{"-count", "-1"},
		{"-benchtime", "fast"},
		{"-benchtime", "0x"},
		{"-budget", "-1s"},
		{"-cpu", "1,zero"},
		{"-bench", "("},
		{"stray"},
	} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("parseFlags(%q) accepted", args)
		}
	}
}

func TestParseCPUsDefault(t *testing.T) {
	if got, _ := parseCPUs("", false, 2); !reflect.DeepEqual(got, []int{1, 2, 4, 8}) {
		t.Errorf("full on 2 cores: %v", got)
	}
	if got, _ := parseCPUs("", false, 16); !reflect.DeepEqual(got, []int{1, 2, 4, 8, 16}) {
		t.Errorf("full on 16 cores: %v", got)
	}
}

func TestFitter(t *testing.T) {
	// 50 benchmarks at 2 GOMAXPROCS in 5 rounds share 100s: 20s a round, less 3 x 50ms x 2 of set-up, over
	// 2 x 50 x 2 benchmark runs: 98.5ms.
	f := fitter{budget: 100 * time.Second, n: 50, cpus: 2, rounds: 5, listing: 50 * time.Millisecond}
	if got := f.next(0, 0); got != 98*time.Millisecond {
		t.Errorf("first round: %v, want 98ms", got)
	}
	// The round took 30s instead of 20s: slope (30s - 0.3s) / 98ms = 303; the 70s left over 4 rounds give
	// (17.5s - 0.3s) / 303 = 56.7ms.
	f.took(30 * time.Second)
	if got := f.next(1, 30*time.Second); got != 56*time.Millisecond {
		t.Errorf("second round: %v, want 56ms", got)
	}
	// Over budget: the floor.
	f.took(time.Minute)
	if got := f.next(2, 99*time.Second); got != 10*time.Millisecond {
		t.Errorf("over budget: %v, want 10ms", got)
	}
	// Quick mode's lower floor.
	quick := fitter{budget: time.Second, n: 50, cpus: 2, rounds: 5, floor: 2 * time.Millisecond}
	if got := quick.next(0, 0); got != 2*time.Millisecond {
		t.Errorf("quick floor: %v, want 2ms", got)
	}
	// A lot of budget for one benchmark: the ceiling.
	big := fitter{budget: time.Hour, n: 1, cpus: 1, rounds: 1}
	if got := big.next(0, 0); got != time.Second {
		t.Errorf("big budget: %v, want 1s", got)
	}
}

func TestFormatValue(t *testing.T) {
	tests := map[float64]string{
		0: "0", 12: "12", 12.5: "12.5", 1.002: "1.002", 0.03125: "0.03125", 123456.7: "123457", 80.6: "80.6",
		1e-7: "1e-07", 2.5e13: "2.5e+13", -3.25: "-3.25",
	}
	for v, want := range tests {
		if got := formatValue(v); got != want {
			t.Errorf("formatValue(%v) = %q, want %q", v, got, want)
		}
	}
}

// TestRunEndToEnd builds and runs the small suite in testdata/smoke through the same path as a real run.
func TestRunEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a benchmark binary")
	}
	out := t.TempDir()
	o, err := parseFlags([]string{"-quick", "-budget", "1s", "-count", "2", "-out", out, "-pkg", "testdata/smoke"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	if recorded, err := runBenchmarks(o, &log); err != nil || !recorded {
		t.Fatalf("runBenchmarks: recorded %v, %v\n%s", recorded, err, log.String())
	}
	if err := generate(o.raw, out, "", &log); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(o.raw)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	file, err := benchparse.Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	// (2 cases x 2 implementations + 1) x 2 GOMAXPROCS x 2 runs.
	if len(file.Results) != 20 {
		t.Fatalf("%d results, want 20\n%s", len(file.Results), log.String())
	}
	for _, key := range []string{"cpu", "cores", "go", "os", "date", "commit", "mode", "benchtime", "count", "gomaxprocs", "load", "load-after", "elapsed"} {
		if file.Lookup(key) == "" {
			t.Errorf("recorded output lacks %q", key)
		}
	}
	if file.Lookup("mode") != "quick" || file.Lookup("count") != "2" || file.Lookup("gomaxprocs") != "1,2" {
		t.Errorf("recorded mode %q count %q gomaxprocs %q", file.Lookup("mode"), file.Lookup("count"), file.Lookup("gomaxprocs"))
	}
	md := read(t, filepath.Join(out, "RESULTS.md"))
	for _, want := range []string{"## Rate limiters", "**`sluice-atomic`**", "| Smoke/parallel | 2 |", "admitted/ideal"} {
		if !strings.Contains(md, want) {
			t.Errorf("RESULTS.md lacks %q", want)
		}
	}
}

func TestQualityHeadlineOverCases(t *testing.T) {
	rep := Report{Families: []analysis.FamilyResult{{
		Family: benchparse.Family{Name: "Breaker", Title: "Circuit breakers", Reference: "gobreaker"},
		QualityHeadlines: []analysis.QualityHeadline{
			{Impl: "sluice-window", Unit: "calls-to-open", Cases: 3, MeanDiff: -4, MinDiff: -9, MaxDiff: 0, Min: 5, Max: 20},
		},
	}}}
	want := "- **Circuit breakers**, `calls-to-open` (fewer is sooner): `sluice-window` 5 to 20; difference to `gobreaker` " +
		"-4 on average over 3 cases, from -9 to 0."
	if got := headlineLines(rep); len(got) != 1 || got[0] != want {
		t.Errorf("headlineLines = %q, want %q", got, want)
	}
}

// A failing benchmark fails the run, but the report of what did run is still written.
func TestRunFailingBenchmark(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a benchmark binary")
	}
	t.Setenv("SMOKE_FAIL", "1")
	out := t.TempDir()
	err := run([]string{"-quick", "-budget", "1s", "-count", "2", "-out", out, "-pkg", "testdata/smoke"}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "round 1") {
		t.Fatalf("run = %v, want the failure of round 1", err)
	}
	md := read(t, filepath.Join(out, "RESULTS.md"))
	// Both rounds ran the benchmarks that pass.
	if !strings.Contains(md, "| Smoke/serial | 2 | **`sluice-atomic`** |") || !strings.Contains(md, "| 2 † |") {
		t.Errorf("RESULTS.md lacks the benchmarks that ran:\n%s", md)
	}
}

// FuzzReport feeds arbitrary benchmark output through the whole report: it must not panic, and its charts
// must stay well-formed SVG whatever the names and values.
func FuzzReport(f *testing.F) {
	sample, err := os.ReadFile("testdata/sample.txt")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(sample))
	f.Add("cores: 1\nBenchmarkCacheX/a<b>&/sluice-x-2 1 0 ns/op 1 hit%\nBenchmarkCacheX/a<b>&/golang-lru-2 1 -5 ns/op\n")
	f.Add("BenchmarkPoolP/c/puddle 1 1e-300 ns/op\nBenchmarkPoolP/c/sluice 1 1e300 ns/op\nBenchmarkPoolP/c/sluice-4 1 3 ns/op\n")
	f.Fuzz(func(t *testing.T, in string) {
		file, err := benchparse.Parse(strings.NewReader(in))
		if err != nil {
			return
		}
		rep := buildReport(file, "fuzz.txt")
		dir := t.TempDir()
		charts, err := writeCharts(rep, dir)
		if err != nil {
			t.Fatal(err)
		}
		_ = resultsMarkdown(rep, charts)
		_ = headlinesMarkdown(rep)
		paths, _ := filepath.Glob(filepath.Join(dir, "*.svg"))
		for _, p := range paths {
			if err := svg.WellFormed(strings.NewReader(read(t, p))); err != nil {
				t.Fatalf("%s: %v", filepath.Base(p), err)
			}
		}
	})
}
