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
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sluice-go/sluice/bench/internal/benchparse"
)

// runBenchmarks builds the test binary of o.pkgDir once, fits the benchtime to the budget in quick mode,
// and runs the suites, writing their output, headed by the machine's description, to o.raw.
func runBenchmarks(o options, log io.Writer) error {
	tmp, err := os.MkdirTemp("", "sluice-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "bench.test")
	fmt.Fprintf(log, "building the bench test binary\n")
	build := exec.Command("go", "test", "-c", "-o", bin, ".")
	build.Dir = o.pkgDir
	build.Stdout, build.Stderr = log, log
	if err := build.Run(); err != nil {
		return fmt.Errorf("go test -c in %s: %w", o.pkgDir, err)
	}
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("go test -c in %s wrote no binary (a package without tests?): %w", o.pkgDir, err)
	}

	benchtime := o.benchtime
	if benchtime == "" {
		fmt.Fprintf(log, "listing the benchmarks matching %s\n", o.bench)
		start := time.Now()
		var out bytes.Buffer
		if err := runBinary(bin, build.Dir, o.bench, "1x", 1, []int{1}, true, &out, io.Discard); err != nil {
			return fmt.Errorf("listing run: %w\n%s", err, out.String())
		}
		f, err := benchparse.Parse(&out)
		if err != nil {
			return err
		}
		if len(f.Results) == 0 {
			return fmt.Errorf("no benchmark matches %s", o.bench)
		}
		d := fitBenchtime(o.budget, len(f.Results), len(o.cpus), o.count, time.Since(start))
		benchtime = strconv.FormatInt(d.Milliseconds(), 10) + "ms"
		fmt.Fprintf(log, "%d benchmarks x %d GOMAXPROCS x %d runs: -benchtime=%s to fit %v\n",
			len(f.Results), len(o.cpus), o.count, benchtime, o.budget)
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
		benchparse.Config{Key: "benchtime", Value: benchtime},
		benchparse.Config{Key: "count", Value: strconv.Itoa(o.count)},
		benchparse.Config{Key: "gomaxprocs", Value: strings.Join(cpus, ",")},
		benchparse.Config{Key: "load", Value: loadAverage()},
	)
	// Created only now, so that the commit was read before the output file changed the work tree.
	if err := os.MkdirAll(filepath.Dir(o.raw), 0o755); err != nil {
		return err
	}
	raw, err := os.Create(o.raw)
	if err != nil {
		return err
	}
	defer raw.Close()
	for _, c := range header {
		fmt.Fprintf(raw, "%s: %s\n", c.Key, c.Value)
	}
	fmt.Fprintf(log, "running -bench=%s -count=%d -benchtime=%s -cpu=%s\n", o.bench, o.count, benchtime, strings.Join(cpus, ","))
	start := time.Now()
	runErr := runBinary(bin, build.Dir, o.bench, benchtime, o.count, o.cpus, o.quick, raw, log)
	fmt.Fprintf(raw, "load-after: %s\nelapsed: %s\n", loadAverage(), time.Since(start).Round(time.Second))
	fmt.Fprintf(log, "benchmarks took %v; output in %s\n", time.Since(start).Round(time.Second), o.raw)
	if runErr != nil {
		return fmt.Errorf("benchmark run: %w", runErr)
	}
	return raw.Close()
}

// runBinary runs the test binary's benchmarks in dir, copying its output to out and its result lines to log.
func runBinary(bin, dir, bench, benchtime string, count int, cpus []int, short bool, out, log io.Writer) error {
	cpu := make([]string, len(cpus))
	for i, c := range cpus {
		cpu[i] = strconv.Itoa(c)
	}
	args := []string{
		"-test.run=^$", "-test.bench=" + bench, "-test.benchmem", "-test.benchtime=" + benchtime,
		"-test.count=" + strconv.Itoa(count), "-test.cpu=" + strings.Join(cpu, ","), "-test.timeout=0",
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

// fitBenchtime picks the time per run so that benchmarks runs of each of n benchmarks at each GOMAXPROCS take
// about budget in all. listing is how long one iteration of each took, set-up included; a run repeats the
// set-up about three times while the testing package sizes b.N, and spends about 1.5 times the benchtime.
// The result stays within [10ms, 1s].
func fitBenchtime(budget time.Duration, n, cpus, count int, listing time.Duration) time.Duration {
	runs := time.Duration(n * cpus * count)
	perRun := budget/runs - 3*listing/time.Duration(n)
	d := perRun * 2 / 3
	return min(max(d, 10*time.Millisecond), time.Second).Truncate(time.Millisecond)
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
