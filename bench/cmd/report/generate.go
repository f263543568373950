package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/sluice-go/sluice/bench/internal/analysis"
	"github.com/sluice-go/sluice/bench/internal/benchparse"
)

// Machine is what the report says about where and how the benchmarks ran, read back from the configuration
// lines of the recorded output.
type Machine struct {
	CPU        string `json:"cpu"`
	Cores      int    `json:"cores,omitempty"`
	GOOS       string `json:"goos"`
	GOARCH     string `json:"goarch"`
	Go         string `json:"go"`
	OS         string `json:"os"`
	Date       string `json:"date"`
	Mode       string `json:"mode"`
	Command    string `json:"command"`
	Commit     string `json:"commit"`
	Benchtime  string `json:"benchtime"`
	Count      string `json:"count"`
	GOMAXPROCS []int  `json:"gomaxprocs"`
	Load       string `json:"load"`
	LoadAfter  string `json:"loadAfter"`
	Elapsed    string `json:"elapsed"`
	// Source is the recorded output the report was made from, as a path from the module root when it is
	// inside the module.
	Source string `json:"source"`
}

// Report is everything results.json holds.
type Report struct {
	Machine     Machine                 `json:"machine"`
	Families    []analysis.FamilyResult `json:"families"`
	ParseErrors []string                `json:"parseErrors,omitempty"`
}

// generate reads recorded benchmark output and writes RESULTS.md, HEADLINES.md, results.json and the charts
// into outDir, and rewrites the report's blocks in the README at readme unless it is empty.
func generate(in, outDir, readme string, log io.Writer) error {
	f, err := os.Open(in)
	if err != nil {
		return err
	}
	defer f.Close()
	file, err := benchparse.Parse(f)
	if err != nil {
		return fmt.Errorf("reading %s: %w", in, err)
	}
	rep := buildReport(file, sourceName(in))
	for _, e := range rep.ParseErrors {
		fmt.Fprintf(log, "%s: %s\n", in, e)
	}
	if len(file.Results) == 0 {
		fmt.Fprintf(log, "%s holds no benchmark results\n", in)
	}
	if err := os.MkdirAll(filepath.Join(outDir, "charts"), 0o755); err != nil {
		return err
	}
	charts, err := writeCharts(rep, filepath.Join(outDir, "charts"))
	if err != nil {
		return err
	}
	js, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	files := map[string][]byte{
		"RESULTS.md":   []byte(resultsMarkdown(rep, charts)),
		"HEADLINES.md": []byte(headlinesMarkdown(rep)),
		"results.json": append(js, '\n'),
	}
	for _, name := range []string{"RESULTS.md", "HEADLINES.md", "results.json"} {
		if err := os.WriteFile(filepath.Join(outDir, name), files[name], 0o644); err != nil {
			return err
		}
	}
	fmt.Fprintf(log, "wrote %s, HEADLINES.md, results.json and %d charts\n", filepath.Join(outDir, "RESULTS.md"), len(charts))
	if readme == "" {
		return nil
	}
	return updateReadme(readme, rep, log)
}

func buildReport(file *benchparse.File, source string) Report {
	m := Machine{
		CPU: file.Lookup("cpu"), GOOS: file.Lookup("goos"), GOARCH: file.Lookup("goarch"), Go: file.Lookup("go"),
		OS: file.Lookup("os"), Date: file.Lookup("date"), Mode: file.Lookup("mode"), Command: file.Lookup("command"),
		Commit: file.Lookup("commit"), Benchtime: file.Lookup("benchtime"), Count: file.Lookup("count"),
		Load: file.Lookup("load"), LoadAfter: file.Lookup("load-after"), Elapsed: file.Lookup("elapsed"),
		Source: source,
	}
	m.Cores, _ = strconv.Atoi(file.Lookup("cores"))
	for _, r := range file.Results {
		if !slices.Contains(m.GOMAXPROCS, r.Procs) {
			m.GOMAXPROCS = append(m.GOMAXPROCS, r.Procs)
		}
	}
	slices.Sort(m.GOMAXPROCS)
	rep := Report{Machine: m, Families: analysis.Analyze(file.Results, m.Cores)}
	for _, e := range file.Errors {
		rep.ParseErrors = append(rep.ParseErrors, e.Error())
	}
	return rep
}

// sourceName is the input's path from the module root when it lies inside the module.
func sourceName(in string) string {
	abs, err := filepath.Abs(in)
	if err != nil {
		return in
	}
	if root, err := moduleRoot(); err == nil {
		if rel, err := filepath.Rel(root, abs); err == nil && !strings.HasPrefix(rel, "..") {
			return filepath.ToSlash(rel)
		}
	}
	return in
}

// slug names a family's chart files.
func slug(fr analysis.FamilyResult) string {
	if fr.Name == "" {
		return "other"
	}
	return strings.ToLower(fr.Name)
}
