package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sluice-go/sluice/bench/internal/benchparse"
)

// runBenchmarks builds the test binary of o.pkgDir once and runs the suites in rounds, writing their output,
// headed by the machine's description, to o.raw. recorded reports whether o.raw was written, even if the run
// then failed.
func runBenchmarks(o options, log io.Writer) (recorded bool, err error) {
	began := time.Now() // the budget counts the build and the listing run too
	tmp, err := os.MkdirTemp("", "sluice-bench-")
	if err != nil {
		return false, err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "bench.test")
	if err := buildTestBinary(o.pkgDir, bin, log); err != nil {
		return false, err
	}
	var n int
	var listing time.Duration
	if o.benchtime == "" {
		if n, listing, err = listBenchmarks(o, bin, log); err != nil {
			return false, err
		}
	}

	mode := "full"
	if o.quick {
		mode = "quick"
	}
	cpus := make([]string, len(o.cpus))
	for i, c := range o.cpus {
		cpus[i] = strconv.Itoa(c)
	}
	header := machineConfig(o.pkgDir)
	header = append(header,
		benchparse.Config{Key: "mode", Value: mode},
		benchparse.Config{Key: "command", Value: o.command},
		benchparse.Config{Key: "count", Value: strconv.Itoa(o.count)},
		benchparse.Config{Key: "gomaxprocs", Value: strings.Join(cpus, ",")},
		benchparse.Config{Key: "load", Value: loadAverage()},
	)
	// Created only now, so that the commit was read before the output file changed the work tree.
	if err := os.MkdirAll(filepath.Dir(o.raw), 0o755); err != nil {
		return false, err
	}
	raw, err := os.Create(o.raw)
	if err != nil {
		return false, err
	}
	defer raw.Close()
	for _, c := range header {
		fmt.Fprintf(raw, "%s: %s\n", c.Key, c.Value)
	}

	// One round per count, each running every benchmark once at every GOMAXPROCS: interleaved rounds spread
	// a slow spell of a shared machine over all implementations, and in quick mode each round's benchtime is
	// refitted to the budget left, from how long the rounds before it took.
	start := time.Now()
	fit := fitter{budget: o.budget, n: n, cpus: len(o.cpus), rounds: o.count, listing: listing}
	if o.quick {
		// The quality benchmarks (accuracy, hit ratios) take a fixed time per round whatever the benchtime, so
		// the quick budget is met by shorter runs of the fast ones.
		fit.floor = 2 * time.Millisecond
	}
	var used []string
	var runErr error // the first round's failure; the rounds go on, so the other benchmarks are still measured
	for round := range o.count {
		benchtime := o.benchtime
		if benchtime == "" {
			benchtime = strconv.FormatInt(fit.next(round, time.Since(began)).Milliseconds(), 10) + "ms"
		}
		if !slices.Contains(used, benchtime) {
			used = append(used, benchtime)
		}
		fmt.Fprintf(log, "round %d of %d: -bench=%s -benchtime=%s -cpu=%s\n", round+1, o.count, o.bench, benchtime, strings.Join(cpus, ","))
		roundStart := time.Now()
		if err := runBinary(bin, o.pkgDir, o.bench, benchtime, o.cpus, o.quick, raw, log); err != nil && runErr == nil {
			runErr = fmt.Errorf("round %d: %w", round+1, err)
		}
		fit.took(time.Since(roundStart))
	}
	fmt.Fprintf(raw, "benchtime: %s\nload-after: %s\nelapsed: %s\n", strings.Join(used, ","), loadAverage(), time.Since(start).Round(time.Second))
	fmt.Fprintf(log, "benchmarks took %v; output in %s\n", time.Since(start).Round(time.Second), o.raw)
	if runErr != nil {
		return true, fmt.Errorf("benchmark run: %w", runErr)
	}
	return true, raw.Close()
}

func buildTestBinary(dir, bin string, log io.Writer) error {
	fmt.Fprintf(log, "building the test binary of %s\n", dir)
	build := exec.Command("go", "test", "-c", "-o", bin, ".")
	build.Dir = dir
	build.Stdout, build.Stderr = log, log
	if err := build.Run(); err != nil {
		return fmt.Errorf("go test -c in %s: %w", dir, err)
	}
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("go test -c in %s wrote no binary (a package without tests?): %w", dir, err)
	}
	return nil
}

// listBenchmarks runs each benchmark once at GOMAXPROCS 1 and returns how many there are and how long that
// took, the set-up cost the fitter starts from.
func listBenchmarks(o options, bin string, log io.Writer) (int, time.Duration, error) {
	fmt.Fprintf(log, "listing the benchmarks matching %s\n", o.bench)
	start := time.Now()
	var out bytes.Buffer
	listErr := runBinary(bin, o.pkgDir, o.bench, "1x", []int{1}, o.quick, &out, io.Discard)
	listing := time.Since(start)
	f, err := benchparse.Parse(bytes.NewReader(out.Bytes()))
	if err != nil {
		return 0, 0, err
	}
	n := len(f.Results)
	if n == 0 {
		if listErr != nil {
			return 0, 0, fmt.Errorf("listing run: %w\n%s", listErr, out.String())
		}
		return 0, 0, fmt.Errorf("no benchmark in %s matches %s", o.pkgDir, o.bench)
	}
	if listErr != nil {
		// A failing benchmark should not stop the others from being measured; the rounds report it.
		fmt.Fprintf(log, "listing run: %v; measuring the benchmarks that ran\n", listErr)
	}
	fmt.Fprintf(log, "%d benchmarks x %d GOMAXPROCS x %d runs to fit in %v\n", n, len(o.cpus), o.count, o.budget)
	return n, listing, nil
}

// runBinary runs the test binary's benchmarks in dir, copying its output to out and its result lines to log.
func runBinary(bin, dir, bench, benchtime string, cpus []int, short bool, out, log io.Writer) error {
	cpu := make([]string, len(cpus))
	for i, c := range cpus {
		cpu[i] = strconv.Itoa(c)
	}
	args := []string{
		"-test.run=^$", "-test.bench=" + bench, "-test.benchmem", "-test.benchtime=" + benchtime,
		"-test.count=1", "-test.cpu=" + strings.Join(cpu, ","), "-test.timeout=0",
	}
	if short {
		args = append(args, "-test.short")
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	// The binary's stderr is copied to log on a goroutine of exec's while this one writes result lines to it.
	log = &lockedWriter{w: log}
	cmd.Stderr = log
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	sc := bufio.NewScanner(pipe)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	var writeErr error
	for sc.Scan() {
		line := sc.Text()
		if _, err := fmt.Fprintln(out, line); err != nil && writeErr == nil {
			writeErr = err
		}
		if strings.HasPrefix(line, "Benchmark") || strings.HasPrefix(line, "--- FAIL") || strings.HasPrefix(line, "FAIL") {
			fmt.Fprintln(log, line)
		}
	}
	scanErr := sc.Err()
	if scanErr != nil {
		_, _ = io.Copy(io.Discard, pipe) // let the binary finish writing
	}
	if err := cmd.Wait(); err != nil {
		return err
	}
	if scanErr != nil {
		return scanErr
	}
	return writeErr
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer // guarded by mu
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// fitter picks each round's benchtime so that the rounds fit the budget. A round of n benchmarks at each of
// cpus GOMAXPROCS values is modelled as setup + slope*benchtime: setup is three times the listing run (set-up
// repeats while the testing package sizes b.N), and slope starts at 2 per benchmark run (the sizing runs
// before the timed one) and is then measured from the rounds done. No round goes below floor (10ms when zero).
type fitter struct {
	budget, listing time.Duration
	floor           time.Duration
	n, cpus, rounds int
	last            time.Duration // benchtime of the round being timed
	slope           float64       // round time per unit of benchtime, measured; 0 before the first round
}

func (f *fitter) setup() time.Duration { return 3 * f.listing * time.Duration(f.cpus) }

func (f *fitter) next(round int, elapsed time.Duration) time.Duration {
	slope := f.slope
	if slope == 0 {
		slope = float64(2 * f.n * f.cpus)
	}
	perRound := (f.budget - elapsed) / time.Duration(f.rounds-round)
	d := time.Duration(float64(perRound-f.setup()) / slope)
	floor := f.floor
	if floor == 0 {
		floor = 10 * time.Millisecond
	}
	f.last = min(max(d, floor), time.Second).Truncate(time.Millisecond)
	return f.last
}

func (f *fitter) took(d time.Duration) {
	if f.last > 0 {
		f.slope = max(float64(d-f.setup())/float64(f.last), float64(f.n*f.cpus))
	}
}

// machineConfig describes the machine as configuration lines for the raw output.
func machineConfig(dir string) []benchparse.Config {
	return []benchparse.Config{
		{Key: "cpu", Value: cpuModel()},
		{Key: "cores", Value: strconv.Itoa(runtime.NumCPU())},
		{Key: "go", Value: runtime.Version()},
		{Key: "os", Value: osName()},
		{Key: "date", Value: time.Now().UTC().Format(time.RFC3339)},
		{Key: "commit", Value: gitCommit(dir)},
	}
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				return strings.TrimSpace(v)
			}
		}
	}
	return "unknown (" + runtime.GOARCH + ")"
}

func osName() string {
	name := runtime.GOOS
	if b, err := os.ReadFile("/etc/os-release"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
				name = strings.Trim(v, `"`)
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		name += ", kernel " + strings.TrimSpace(string(b))
	}
	return name
}

func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// gitCommit is the commit checked out in dir, marked "-dirty" when the work tree has changes.
func gitCommit(dir string) string {
	cmd := exec.Command("git", "rev-parse", "--short=12", "HEAD")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return "unknown"
	}
	commit := strings.TrimSpace(string(out))
	status := exec.Command("git", "status", "--porcelain", "--untracked-files=no")
	status.Dir = dir
	if st, err := status.Output(); err == nil && len(bytes.TrimSpace(st)) > 0 {
		commit += "-dirty"
	}
	return commit
}
