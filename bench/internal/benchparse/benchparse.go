// Package benchparse reads the text that `go test -bench` prints: the format golang.org/x/perf/benchfmt reads
// (configuration lines such as "goos: linux" and "cpu: ...", benchmark result lines with any number of
// value-unit pairs, everything else ignored), and splits benchmark names by the naming contract of package
// bench.
package benchparse

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Value is one measurement of a result line: 123.4 ns/op.
type Value struct {
	Value float64
	Unit  string
}

// Result is one benchmark result line.
type Result struct {
	// Raw is the name as printed, with the -N GOMAXPROCS suffix.
	Raw  string
	Name Name
	// Procs is the GOMAXPROCS the benchmark ran with: the -N suffix, 1 when there is none.
	Procs  int
	Iters  int64
	Values []Value
	// Pkg is the "pkg:" configuration in force on the line.
	Pkg  string
	Line int
}

// Get returns the value for unit and whether the line has one.
func (r Result) Get(unit string) (float64, bool) {
	for _, v := range r.Values {
		if v.Unit == unit {
			return v.Value, true
		}
	}
	return 0, false
}

// Config is one configuration line, "key: value".
type Config struct {
	Key, Value string
}

// File is everything read from one benchmark output.
type File struct {
	// Config holds each configuration key once, in first-seen order, with the last value it was given.
	Config  []Config
	Results []Result
	// Errors lists the lines that looked like results but did not parse.
	Errors []error
}

// Lookup returns the last value configured for key, or "".
func (f *File) Lookup(key string) string {
	for _, c := range f.Config {
		if c.Key == key {
			return c.Value
		}
	}
	return ""
}

func (f *File) setConfig(key, value string) {
	for i := range f.Config {
		if f.Config[i].Key == key {
			f.Config[i].Value = value
			return
		}
	}
	f.Config = append(f.Config, Config{key, value})
}

// Parse reads benchmark output from r. Malformed result lines are recorded in File.Errors and skipped; the
// error returned is the reader's only.
func Parse(r io.Reader) (*File, error) {
	f := &File{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	pkg := ""
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		if key, value, ok := parseConfig(text); ok {
			f.setConfig(key, value)
			if key == "pkg" {
				pkg = value
			}
			continue
		}
		if !isResultLine(text) {
			continue
		}
		res, err := parseResult(text)
		if err != nil {
			f.Errors = append(f.Errors, fmt.Errorf("line %d: %w", line, err))
			continue
		}
		res.Pkg, res.Line = pkg, line
		f.Results = append(f.Results, res)
	}
	return f, sc.Err()
}

// parseConfig recognises "key: value": the key starts with a lower-case letter and holds neither spaces nor
// upper-case letters (the benchfmt rule).
func parseConfig(line string) (key, value string, ok bool) {
	key, value, found := strings.Cut(line, ":")
	if !found || key == "" {
		return "", "", false
	}
	first, _ := utf8.DecodeRuneInString(key)
	if !unicode.IsLower(first) {
		return "", "", false
	}
	for _, c := range key {
		if unicode.IsSpace(c) || unicode.IsUpper(c) {
			return "", "", false
		}
	}
	if value != "" && value[0] != ' ' && value[0] != '\t' {
		return "", "", false // "http://x" is not a configuration line.
	}
	return key, strings.TrimSpace(value), true
}

// isResultLine: "Benchmark" followed by a name that does not continue the word in lower case.
func isResultLine(line string) bool {
	rest, ok := strings.CutPrefix(line, "Benchmark")
	if !ok {
		return false
	}
	c, _ := utf8.DecodeRuneInString(rest)
	return rest != "" && !unicode.IsLower(c) && !unicode.IsSpace(c)
}

func parseResult(line string) (Result, error) {
	fields := strings.Fields(line)
	if len(fields) < 4 || len(fields)%2 != 0 {
		return Result{}, fmt.Errorf("want name, iterations and value-unit pairs, got %d fields", len(fields))
	}
	iters, err := strconv.ParseInt(fields[1], 10, 64)
	if err != nil || iters <= 0 {
		return Result{}, fmt.Errorf("iterations %q: want a positive integer", fields[1])
	}
	res := Result{Raw: fields[0], Iters: iters}
	for i := 2; i < len(fields); i += 2 {
		v, err := strconv.ParseFloat(fields[i], 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return Result{}, fmt.Errorf("value %q for %s: want a finite number", fields[i], fields[i+1])
		}
		res.Values = append(res.Values, Value{v, fields[i+1]})
	}
	base, procs := splitProcs(res.Raw)
	res.Name, res.Procs = SplitName(base), procs
	return res, nil
}

// splitProcs strips the "-N" that the testing package appends when GOMAXPROCS is not 1.
func splitProcs(name string) (string, int) {
	i := strings.LastIndexByte(name, '-')
	if i < 0 || i == len(name)-1 || strings.IndexByte(name[i:], '/') >= 0 {
		return name, 1
	}
	n, err := strconv.Atoi(name[i+1:])
	if err != nil || n <= 0 || name[i+1] == '+' {
		return name, 1
	}
	return name[:i], n
}
