package main

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/sluice-go/sluice/bench/internal/analysis"
	"github.com/sluice-go/sluice/bench/internal/benchparse"
)

// The README holds generated blocks between a line <!-- report:NAME --> and a line <!-- /report:NAME -->;
// the report rewrites what lies between them and nothing else.
var markerLine = regexp.MustCompile(`^<!-- (/?)report:([A-Za-z0-9_-]+) -->$`)

// readmeImpls are the implementations each family's README table shows, in column order: Sluice's main
// implementations, the reference peer, the best-known other peer and the floors. The full set is in RESULTS.md.
var readmeImpls = map[string][]string{
	"RateLimit": {"sluice-tokenbucket", "sluice-keyed", "xtimerate", "uber", "floor-cas", "floor-mutex-map"},
	"Breaker":   {"sluice-countwindow", "sluice-consecutive", "sluice-timewindow", "sluice-permit", "gobreaker", "failsafe", "floor-atomic-add"},
	"Pool":      {"sluice", "sluice-coarseclock", "puddle", "floor-chan", "floor-mutex"},
	"Cache":     {"sluice-cache", "sluice-lru", "golang-lru", "otter", "floor-mutex-map"},
}

// maxReadmeImpls bounds the columns of a family whose implementations are not listed in readmeImpls.
const maxReadmeImpls = 6

// blockName is the README block of a family: its name in lower case (ratelimit, breaker, pool, cache).
func blockName(fr analysis.FamilyResult) string { return strings.ToLower(fr.Name) }

// readmeBlocks returns the README blocks of the report by name: "headlines" and one per family.
func readmeBlocks(rep Report) map[string]string {
	blocks := map[string]string{"headlines": headlinesBody(rep)}
	for _, fr := range rep.Families {
		if fr.Name == "" {
			continue
		}
		blocks[blockName(fr)] = familyBlock(rep.Machine, fr)
	}
	return blocks
}

// withinCores are the groups whose GOMAXPROCS the machine had the cores for.
func withinCores(fr analysis.FamilyResult) []analysis.Group {
	var gs []analysis.Group
	for _, g := range fr.Groups {
		if !g.Oversubscribed {
			gs = append(gs, g)
		}
	}
	return gs
}

// readmeColumns picks the implementations a family's README table shows among those measured in groups.
func readmeColumns(fr analysis.FamilyResult, groups []analysis.Group, unit string) []string {
	present := map[string]bool{}
	for _, g := range groups {
		for _, c := range g.Cells {
			if _, ok := c.Metric(unit); ok {
				present[c.Impl] = true
			}
		}
	}
	var cols []string
	for _, impl := range readmeImpls[fr.Name] {
		if present[impl] {
			cols = append(cols, impl)
		}
	}
	if len(cols) == 0 {
		for _, impl := range fr.Impls {
			if present[impl] && len(cols) < maxReadmeImpls {
				cols = append(cols, impl)
			}
		}
	}
	return cols
}

func cellOf(g analysis.Group, impl string) (analysis.Cell, bool) {
	for _, c := range g.Cells {
		if c.Impl == impl {
			return c, true
		}
	}
	return analysis.Cell{}, false
}

// familyBlock is a family's README block: a compact table of ns/op with the ratio to the reference, a
// quality table where the family has one, and a line saying where and how it was measured.
func familyBlock(m Machine, fr analysis.FamilyResult) string {
	var b strings.Builder
	groups := withinCores(fr)
	var timed, quality []analysis.Group
	for _, g := range groups {
		if g.Quality {
			quality = append(quality, g)
		} else {
			timed = append(timed, g)
		}
	}
	cols := readmeColumns(fr, timed, analysis.UnitTime)
	if len(cols) > 0 {
		b.WriteString("| case | GOMAXPROCS |")
		for _, impl := range cols {
			fmt.Fprintf(&b, " %s |", readmeImplLabel(fr, impl))
		}
		b.WriteString("\n|---|---:|" + strings.Repeat("---:|", len(cols)) + "\n")
		oursAlloc := false
		for _, g := range timed {
			row, any := "", false
			for _, impl := range cols {
				c, ok := cellOf(g, impl)
				text := timeCell(c)
				if !ok || text == "" {
					text = "–"
				} else {
					any = true
					if a, ok := c.Metric(analysis.UnitAllocs); ok && c.Ours && a.Median != 0 {
						oursAlloc = true
					}
				}
				row += " " + text + " |"
			}
			if any {
				fmt.Fprintf(&b, "| %s | %d |%s\n", cellEscape(g.Label), g.Procs, row)
			}
		}
		b.WriteString("\n")
		if !oursAlloc {
			b.WriteString("Sluice's implementations above: 0 allocs/op in every case.\n\n")
		}
	}
	if len(quality) > 0 && len(fr.QualityUnits) > 0 {
		qualityBlock(&b, fr, quality)
	}
	fmt.Fprintf(&b, "%s. Full table with every implementation, intervals and B/op: [bench/RESULTS.md](bench/RESULTS.md#%s).\n",
		measuredLine(m, fr, len(cols) > 0), anchor(fr.Title))
	return b.String()
}

// qualityBlock tabulates the quality figures: one row per case, unit and GOMAXPROCS, rows identical at every
// GOMAXPROCS folded into one.
func qualityBlock(b *strings.Builder, fr analysis.FamilyResult, groups []analysis.Group) {
	var cols []string
	for _, impl := range fr.Impls {
		for _, g := range groups {
			if c, ok := cellOf(g, impl); ok && len(qualityOf(c, fr.QualityUnits)) > 0 && !slices.Contains(cols, impl) {
				cols = append(cols, impl)
			}
		}
	}
	if len(cols) == 0 {
		return
	}
	b.WriteString("| case | figure | GOMAXPROCS |")
	for _, impl := range cols {
		fmt.Fprintf(b, " %s |", readmeImplLabel(fr, impl))
	}
	b.WriteString("\n|---|---|---:|" + strings.Repeat("---:|", len(cols)) + "\n")
	type row struct {
		label, unit string
		procs       []string
		cells       string
	}
	var rows []row
	for _, g := range groups {
		for _, u := range fr.QualityUnits {
			cells, any := "", false
			for _, impl := range cols {
				text := "–"
				if c, ok := cellOf(g, impl); ok {
					if m, ok := c.Metric(u); ok {
						text, any = formatValue(m.Median), true
					}
				}
				cells += " " + text + " |"
			}
			if !any {
				continue
			}
			if n := len(rows); n > 0 && rows[n-1].label == g.Label && rows[n-1].unit == u && rows[n-1].cells == cells {
				rows[n-1].procs = append(rows[n-1].procs, strconv.Itoa(g.Procs))
				continue
			}
			rows = append(rows, row{g.Label, u, []string{strconv.Itoa(g.Procs)}, cells})
		}
	}
	for _, r := range rows {
		fmt.Fprintf(b, "| %s | %s | %s |%s\n", cellEscape(r.label), cellEscape(r.unit), strings.Join(r.procs, ", "), r.cells)
	}
	b.WriteString("\n")
	var notes []string
	for _, u := range fr.QualityUnits {
		if note, ok := qualityNotes[u]; ok {
			notes = append(notes, fmt.Sprintf("`%s`: %s (median of the runs).", u, note))
		}
	}
	if len(notes) > 0 {
		b.WriteString(strings.Join(notes, " ") + "\n\n")
	}
}

func qualityOf(c analysis.Cell, units []string) []string {
	var have []string
	for _, u := range units {
		if _, ok := c.Metric(u); ok {
			have = append(have, u)
		}
	}
	return have
}

func readmeImplLabel(fr analysis.FamilyResult, impl string) string {
	name := "`" + impl + "`"
	if (benchparse.Name{Impl: impl}).IsOurs() {
		return "**" + name + "**"
	}
	if impl == fr.Reference {
		return name + " (reference)"
	}
	return name
}

// timeCell is the median ns/op with the ratio to the reference, "~" when the difference is not significant,
// and the allocations when there are any: "26.4 (0.37×)", "31.2 (~)", "318 (2.95×), 1 alloc".
func timeCell(c analysis.Cell) string {
	t, ok := c.Metric(analysis.UnitTime)
	if !ok {
		return ""
	}
	s := shortValue(t.Median)
	if r := c.Ratio; r != nil {
		if r.Significant {
			s += " (" + formatRatio(r.Point) + "×)"
		} else {
			s += " (~)"
		}
	}
	if t.LowN() {
		s += " †"
	}
	if a, ok := c.Metric(analysis.UnitAllocs); ok && a.Median != 0 {
		s += ", " + formatValue(a.Median) + " alloc"
		if a.Median != 1 {
			s += "s"
		}
	}
	return s
}

// shortValue prints three significant digits, and whole numbers from 100 up: 9.87, 26.4, 318, 4668.
func shortValue(v float64) string {
	switch a := math.Abs(v); {
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

// measuredLine says where, when and how a family's figures were measured, and how to read the cells.
func measuredLine(m Machine, fr analysis.FamilyResult, timed bool) string {
	var procs []string
	for _, p := range m.GOMAXPROCS {
		if m.Cores == 0 || p <= m.Cores {
			procs = append(procs, strconv.Itoa(p))
		}
	}
	day, _, _ := strings.Cut(m.Date, "T")
	s := fmt.Sprintf("Medians of -count=%s runs at GOMAXPROCS %s (%s mode) on %s (%s cores, %s), %s, commit %s",
		orUnknown(m.Count), orUnknown(strings.Join(procs, ", ")), orUnknown(m.Mode), orUnknown(m.CPU),
		orUnknown(strconv.Itoa(m.Cores)), orUnknown(m.Go), orUnknown(day), orUnknown(m.Commit))
	if timed && fr.HasReference() {
		s += fmt.Sprintf("; ns/op, and in parentheses the time relative to `%s` (below 1 is faster), ~ where the difference is "+
			"not significant at 95%%", fr.Reference)
	}
	return s
}

// anchor is the GitHub anchor of a Markdown heading.
func anchor(title string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(title) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
		}
	}
	return b.String()
}

// spliceBlocks replaces the content between each pair of marker lines whose name has a block, leaving every
// other byte as it was. It returns the names of blocks with no markers in content and of marker pairs with
// no block. A start marker without its end marker, or markers out of order, is an error.
func spliceBlocks(content []byte, blocks map[string]string) (out []byte, missing, unknown []string, err error) {
	lines := bytes.SplitAfter(content, []byte("\n"))
	seen := map[string]bool{}
	var buf bytes.Buffer
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		buf.Write(line)
		mm := markerLine.FindSubmatch(bytes.TrimRight(line, " \t\r\n"))
		if mm == nil {
			continue
		}
		name := string(mm[2])
		if len(mm[1]) > 0 {
			return nil, nil, nil, fmt.Errorf("line %d: end marker <!-- /report:%s --> without its start marker", i+1, name)
		}
		if seen[name] {
			return nil, nil, nil, fmt.Errorf("line %d: a second <!-- report:%s --> block", i+1, name)
		}
		seen[name] = true
		end := -1
		for j := i + 1; j < len(lines) && end < 0; j++ {
			if em := markerLine.FindSubmatch(bytes.TrimRight(lines[j], " \t\r\n")); em != nil {
				if len(em[1]) == 0 || string(em[2]) != name {
					return nil, nil, nil, fmt.Errorf("line %d: <!-- report:%s --> is not closed before line %d", i+1, name, j+1)
				}
				end = j
			}
		}
		if end < 0 {
			return nil, nil, nil, fmt.Errorf("line %d: <!-- report:%s --> has no end marker <!-- /report:%s -->", i+1, name, name)
		}
		block, ok := blocks[name]
		if !ok {
			unknown = append(unknown, name)
			for _, l := range lines[i+1 : end] {
				buf.Write(l)
			}
		} else {
			nl := "\n"
			if bytes.HasSuffix(line, []byte("\r\n")) {
				nl = "\r\n"
			}
			buf.WriteString(nl + strings.ReplaceAll(strings.TrimRight(block, "\n"), "\n", nl) + nl + nl)
		}
		buf.Write(lines[end])
		i = end
	}
	for name := range blocks {
		if !seen[name] {
			missing = append(missing, name)
		}
	}
	slices.Sort(missing)
	return buf.Bytes(), missing, unknown, nil
}

// updateReadme rewrites the report's blocks in the README at path, writing the file only when it changes.
func updateReadme(path string, rep Report, log io.Writer) error {
	content, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	out, missing, unknown, err := spliceBlocks(content, readmeBlocks(rep))
	if err != nil {
		return fmt.Errorf("%s (left unchanged): %w", path, err)
	}
	for _, name := range missing {
		fmt.Fprintf(log, "%s has no <!-- report:%s --> block: skipped\n", path, name)
	}
	for _, name := range unknown {
		fmt.Fprintf(log, "%s: this report has no figures for the block %q: left as it was\n", path, name)
	}
	if bytes.Equal(out, content) {
		fmt.Fprintf(log, "%s: report blocks already up to date\n", path)
		return nil
	}
	if err := os.WriteFile(path, out, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(log, "rewrote the report blocks of %s\n", path)
	return nil
}
