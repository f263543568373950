// Command report runs Sluice's peer benchmarks and publishes what they found: bench/RESULTS.md (machine, per
// family tables of ns/op, B/op and allocs/op with the ratio to the family's reference peer and its confidence
// interval, quality figures, headline ratios), SVG charts under bench/charts/, bench/results.json for
// machines, and bench/HEADLINES.md, the headline lines. It also rewrites the generated blocks of the top-level
// README.md, between the lines <!-- report:NAME --> and <!-- /report:NAME --> (headlines, and per family
// ratelimit, breaker, pool and cache), so that no figure there is typed by hand; -readme "" leaves it alone.
//
// Usage, from the module root:
//
//	go run ./bench/cmd/report -quick            # under two minutes on a 2-core machine
//	go run ./bench/cmd/report                   # the full run, -count=10 at GOMAXPROCS 1, 2, 4, 8, about 20 minutes
//	go run ./bench/cmd/report -in bench/results.txt   # only re-read recorded output
//
// Each -count is one round that runs every benchmark once at every GOMAXPROCS, so that a slow spell of a
// shared machine falls on all implementations alike. Unless -benchtime is given, each round's benchtime is
// fitted to what is left of -budget (which counts the build too), from how long the rounds before it took.
//
// The raw `go test -bench` output of a run is kept in bench/results.txt, headed by configuration lines that
// record the machine and the run, so that -in regenerates the same report without running anything.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-go/sluice/bench/internal/benchparse"
)

// options are the command's flags after defaults for the mode are filled in.
type options struct {
	quick     bool
	families  []string // family names as in benchparse.Families
	bench     string   // the -test.bench regexp
	count     int
	benchtime string // "" picks one to fit the budget
	cpus      []int
	budget    time.Duration
	in        string
	out       string // directory of RESULTS.md
	raw       string
	readme    string // the README whose report blocks to rewrite; "" for none
	root      string // the module root
	pkgDir    string // the package whose benchmarks a run builds and runs: the module's bench/
	command   string // how the run was asked for, recorded in the output
}

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
}

func run(args []string, log io.Writer) error {
	opts, err := parseFlags(args, log)
	if err != nil {
		return err
	}
	if opts.in != "" {
		return generate(opts.in, opts.out, opts.readme, log)
	}
	recorded, err := runBenchmarks(opts, log)
	if recorded {
		// Write what the run produced even when it failed: a failed benchmark should not hide the others.
		err = errors.Join(err, generate(opts.raw, opts.out, opts.readme, log))
	}
	return err
}

func parseFlags(args []string, log io.Writer) (options, error) {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	fs.SetOutput(log)
	var (
		o        options
		families = fs.String("families", "", "comma-separated families to run (RateLimit,Breaker,Pool,Cache; any case); all when empty")
		bench    = fs.String("bench", "", "the -bench regexp, overriding -families")
		cpu      = fs.String("cpu", "", "comma-separated GOMAXPROCS values (default 1,2 with -quick, else 1,2,4,8 and the machine's cores)")
	)
	fs.BoolVar(&o.quick, "quick", false, "a quick run: -count=5, GOMAXPROCS 1 and 2, -short, a budget of 100s")
	fs.IntVar(&o.count, "count", 0, "runs of each benchmark (default 5 with -quick, else 10)")
	fs.StringVar(&o.benchtime, "benchtime", "", "time or iterations per run, as go test takes it (default fitted to -budget)")
	fs.DurationVar(&o.budget, "budget", 0, "the time the run should take in all, build included (default 100s with -quick, else 20m)")
	fs.StringVar(&o.in, "in", "", "only read this recorded benchmark output; run nothing")
	fs.StringVar(&o.out, "out", "", "directory for RESULTS.md, HEADLINES.md, results.json and charts/ (default the module's bench/)")
	fs.StringVar(&o.pkgDir, "pkg", "", "directory of the package whose benchmarks to run (default the module's bench/)")
	fs.StringVar(&o.readme, "readme", "", "the README whose <!-- report:NAME --> blocks to rewrite; '' for none (default the module's README.md, unless -out is given)")
	fs.StringVar(&o.raw, "raw", "", "where a run keeps its raw output (default results.txt in the -out directory)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: go run ./bench/cmd/report [-quick] [flags]\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var err error
	if o.families, err = parseFamilies(*families); err != nil {
		return o, err
	}
	o.bench = *bench
	if o.bench == "" {
		o.bench = familyRegexp(o.families)
	} else if _, err := regexp.Compile(o.bench); err != nil {
		return o, fmt.Errorf("-bench: %w", err)
	}
	if o.count == 0 {
		o.count = map[bool]int{true: 5, false: 10}[o.quick]
	}
	if o.count < 1 {
		return o, fmt.Errorf("-count: must be >= 1, got %d", o.count)
	}
	if o.budget == 0 {
		o.budget = map[bool]time.Duration{true: 100 * time.Second, false: 20 * time.Minute}[o.quick]
	}
	if o.budget < 0 {
		return o, fmt.Errorf("-budget: must be > 0, got %v", o.budget)
	}
	if o.benchtime != "" && !validBenchtime(o.benchtime) {
		return o, fmt.Errorf("-benchtime: want a duration like 100ms or an iteration count like 1000x, got %q", o.benchtime)
	}
	if o.cpus, err = parseCPUs(*cpu, o.quick, runtime.NumCPU()); err != nil {
		return o, err
	}
	readmeSet := false
	fs.Visit(func(f *flag.Flag) { readmeSet = readmeSet || f.Name == "readme" })
	// The README's blocks link the module's bench/RESULTS.md: by default they follow only a report written there.
	defaultReadme := !readmeSet && o.out == ""
	if o.out == "" || o.in == "" {
		if o.root, err = moduleRoot(); err != nil {
			return o, err
		}
		if o.out == "" {
			o.out = filepath.Join(o.root, "bench")
		}
		if o.pkgDir == "" {
			o.pkgDir = filepath.Join(o.root, "bench")
		}
	}
	if defaultReadme {
		o.readme = filepath.Join(o.root, "README.md")
	}
	o.command = strings.Join(append([]string{"go run ./bench/cmd/report"}, args...), " ")
	if o.raw == "" {
		o.raw = filepath.Join(o.out, "results.txt")
	}
	return o, nil
}

func parseFamilies(s string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		var all []string
		for _, f := range benchparse.Families {
			all = append(all, f.Name)
		}
		return all, nil
	}
	var out []string
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		found := false
		for _, f := range benchparse.Families {
			if strings.EqualFold(part, f.Name) {
				out = append(out, f.Name)
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("-families: unknown family %q (want RateLimit, Breaker, Pool or Cache)", part)
		}
	}
	return out, nil
}

// familyRegexp matches the top-level benchmarks of the families.
func familyRegexp(families []string) string {
	return "^Benchmark(" + strings.Join(families, "|") + ")"
}

func validBenchtime(s string) bool {
	if n, ok := strings.CutSuffix(s, "x"); ok {
		v, err := strconv.Atoi(n)
		return err == nil && v > 0
	}
	d, err := time.ParseDuration(s)
	return err == nil && d > 0
}

func parseCPUs(s string, quick bool, cores int) ([]int, error) {
	if s == "" {
		if quick {
			return []int{1, 2}, nil
		}
		cpus := []int{1, 2, 4, 8}
		if cores > 8 {
			cpus = append(cpus, cores)
		}
		return cpus, nil
	}
	var cpus []int
	for part := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(part))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("-cpu: want positive integers, got %q", part)
		}
		cpus = append(cpus, n)
	}
	return cpus, nil
}

// moduleRoot finds the directory of the go.mod above the working directory.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory: run from inside the module, or pass -out")
		}
		dir = parent
	}
}
