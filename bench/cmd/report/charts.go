package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/sluice-go/sluice/bench/internal/analysis"
	"github.com/sluice-go/sluice/bench/internal/svg"
)

// familyCharts names the charts drawn for one family, as paths relative to the charts directory.
type familyCharts struct {
	Scaling, Ratio string
}

// writeCharts draws each family's charts into dir, first removing the SVG files an earlier run left there.
func writeCharts(rep Report, dir string) (map[string]familyCharts, error) {
	old, _ := filepath.Glob(filepath.Join(dir, "*.svg"))
	for _, f := range old {
		if err := os.Remove(f); err != nil {
			return nil, err
		}
	}
	out := map[string]familyCharts{}
	for _, fr := range rep.Families {
		var fc familyCharts
		if panels := scalingPanels(fr); len(panels) > 0 {
			var b bytes.Buffer
			title := fr.Title + ": throughput against GOMAXPROCS (median, 95% interval)"
			if err := svg.Lines(&b, title, "Mops/s", fr.Impls, rep.Machine.Cores, panels); err != nil {
				return nil, err
			}
			fc.Scaling = slug(fr) + "-scaling.svg"
			if err := os.WriteFile(filepath.Join(dir, fc.Scaling), b.Bytes(), 0o644); err != nil {
				return nil, err
			}
		}
		if bars := ratioBars(fr); len(bars) > 0 {
			var b bytes.Buffer
			title := fmt.Sprintf("%s: time per operation relative to %s", fr.Title, fr.Reference)
			axis := "ratio of medians with 95% interval, log scale; below 1 is faster; ~ not significant"
			if err := svg.Ratios(&b, title, axis, bars); err != nil {
				return nil, err
			}
			fc.Ratio = slug(fr) + "-ratio.svg"
			if err := os.WriteFile(filepath.Join(dir, fc.Ratio), b.Bytes(), 0o644); err != nil {
				return nil, err
			}
		}
		if fc != (familyCharts{}) {
			out[fr.Name] = fc
		}
	}
	return out, nil
}

// scalingPanels makes one panel per case that ran at two or more GOMAXPROCS values, throughput in millions of
// operations per second (1000 / ns/op) per implementation.
func scalingPanels(fr analysis.FamilyResult) []svg.Panel {
	var panels []svg.Panel
	index := map[string]int{}
	for _, g := range fr.Groups {
		key := g.Top + "/" + g.Case
		i, ok := index[key]
		if !ok {
			i = len(panels)
			index[key] = i
			panels = append(panels, svg.Panel{Title: g.Label})
		}
		for _, c := range g.Cells {
			m, ok := c.Metric(analysis.UnitTime)
			if !ok || !(m.Lo > 0) {
				continue
			}
			pt := svg.Point{X: g.Procs, Y: 1e3 / m.Median, Lo: 1e3 / m.Hi, Hi: 1e3 / m.Lo}
			p := &panels[i]
			s := slices.IndexFunc(p.Series, func(s svg.Series) bool { return s.Name == c.Impl })
			if s < 0 {
				s = len(p.Series)
				p.Series = append(p.Series, svg.Series{Name: c.Impl, Bold: c.Ours})
			}
			p.Series[s].Points = append(p.Series[s].Points, pt)
		}
	}
	return slices.DeleteFunc(panels, func(p svg.Panel) bool {
		var xs []int
		for _, s := range p.Series {
			for _, pt := range s.Points {
				if !slices.Contains(xs, pt.X) {
					xs = append(xs, pt.X)
				}
			}
		}
		return len(xs) < 2
	})
}

// ratioBars makes one bar per implementation, case and GOMAXPROCS that has a ratio to the reference.
func ratioBars(fr analysis.FamilyResult) []svg.Bar {
	var bars []svg.Bar
	for _, g := range fr.Groups {
		for _, c := range g.Cells {
			r := c.Ratio
			if r == nil {
				continue
			}
			bar := svg.Bar{
				Label: fmt.Sprintf("%s · P%d · %s", g.Label, g.Procs, c.Impl),
				Value: r.Point, Lo: r.Lo, Hi: r.Hi, Verdict: verdict(r),
			}
			if r.LowN {
				bar.Note = "n<5"
			}
			if g.Oversubscribed {
				bar.Note += " >cores"
			}
			bars = append(bars, bar)
		}
	}
	return bars
}

func verdict(r *analysis.RatioResult) svg.Verdict {
	switch {
	case !r.Significant:
		return svg.Same
	case r.Hi < 1:
		return svg.Better
	}
	return svg.Worse
}
