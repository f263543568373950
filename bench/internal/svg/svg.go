// Package svg draws the report's two charts as small hand-written SVG documents: throughput against
// GOMAXPROCS as lines per implementation, one panel per case, and ratio bars with their confidence whiskers on a
// logarithmic axis. No dependency, no script, nothing fetched: the files open in any browser.
package svg

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Palette colours implementations by their index in the legend; it repeats past its end.
var Palette = []string{
	"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f",
}

const font = `font-family="ui-monospace,Menlo,Consolas,monospace"`

// charWidth is the advance of one 11px monospace character, to size label columns without measuring text.
const charWidth = 6.7

func esc(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s)) // writing to a bytes.Buffer cannot fail
	return b.String()
}

// num prints a coordinate compactly.
func num(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// WellFormed reports the first XML syntax error of an SVG document, or an error if its root is not an svg
// element in the SVG namespace.
func WellFormed(doc io.Reader) error {
	d := xml.NewDecoder(doc)
	d.Strict = true
	depth, roots := 0, 0
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		switch el := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				roots++
				if el.Name.Local != "svg" || el.Name.Space != "http://www.w3.org/2000/svg" {
					return fmt.Errorf("svg: root element %v, want svg in the SVG namespace", el.Name)
				}
			}
			depth++
		case xml.EndElement:
			depth--
		}
	}
	if roots != 1 {
		return fmt.Errorf("svg: %d root elements, want 1", roots)
	}
	return nil
}

// Point is one measurement: X the GOMAXPROCS, Y the value with its interval [Lo, Hi].
type Point struct {
	X         int
	Y, Lo, Hi float64
}

// Series is one implementation's line in a panel.
type Series struct {
	Name   string
	Bold   bool // Sluice's own, drawn thicker
	Points []Point
}

// Panel is one case.
type Panel struct {
	Title  string
	Series []Series
}

// Lines draws panels of series against X in a grid. legend fixes the colour of each series name. X values
// above shadeAbove (when it is > 0) are shaded as beyond the machine's cores.
func Lines(w io.Writer, title, yLabel string, legend []string, shadeAbove int, panels []Panel) error {
	const (
		cols              = 3
		pw, ph            = 300.0, 200.0
		left, right       = 48.0, 12.0
		top, bottom       = 40.0, 34.0
		legendRow, header = 18.0, 30.0
	)
	var xs []int
	for _, p := range panels {
		for _, s := range p.Series {
			for _, pt := range s.Points {
				if !slices.Contains(xs, pt.X) {
					xs = append(xs, pt.X)
				}
			}
		}
	}
	slices.Sort(xs)
	ncols := min(cols, max(1, len(panels)))
	rows := (len(panels) + ncols - 1) / ncols
	legendRows := legendLayout(legend, float64(ncols)*pw)
	width := float64(ncols) * pw
	legendH := float64(len(legendRows)) * legendRow
	height := header + legendH + float64(rows)*ph + 8

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%s" height="%s" viewBox="0 0 %s %s" %s font-size="11">`+"\n",
		num(width), num(height), num(width), num(height), font)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="8" y="18" font-size="14" font-weight="bold">%s</text>`+"\n", esc(title))
	for r, row := range legendRows {
		y := header + float64(r)*legendRow + 8
		for _, it := range row {
			c := Palette[it.index%len(Palette)]
			fmt.Fprintf(&b, `<rect x="%s" y="%s" width="12" height="4" fill="%s"/><text x="%s" y="%s">%s</text>`+"\n",
				num(it.x), num(y-4), c, num(it.x+16), num(y), esc(legend[it.index]))
		}
	}
	xpos := func(i int, x0, plotW float64) float64 {
		if len(xs) == 1 {
			return x0 + plotW/2
		}
		return x0 + float64(i)*plotW/float64(len(xs)-1)
	}
	for pi, p := range panels {
		ox := float64(pi%ncols) * pw
		oy := header + legendH + float64(pi/ncols)*ph
		x0, y0 := ox+left, oy+top
		plotW, plotH := pw-left-right, ph-top-bottom
		ymax := 0.0
		for _, s := range p.Series {
			for _, pt := range s.Points {
				ymax = max(ymax, pt.Y, pt.Hi)
			}
		}
		step, ytop := niceScale(ymax)
		ypos := func(v float64) float64 { return y0 + plotH - v/ytop*plotH }
		fmt.Fprintf(&b, `<g><text x="%s" y="%s" font-weight="bold">%s</text>`+"\n", num(ox+8), num(oy+14), esc(p.Title))
		if shadeAbove > 0 {
			if i := slices.IndexFunc(xs, func(x int) bool { return x > shadeAbove }); i >= 0 {
				sx := xpos(i, x0, plotW) - 8
				if i > 0 {
					sx = (xpos(i-1, x0, plotW) + xpos(i, x0, plotW)) / 2
				}
				fmt.Fprintf(&b, `<rect x="%s" y="%s" width="%s" height="%s" fill="#eee"/><text x="%s" y="%s" fill="#888">&gt; cores</text>`+"\n",
					num(sx), num(y0), num(x0+plotW-sx+6), num(plotH), num(sx+3), num(y0+11))
			}
		}
		for v := 0.0; v <= ytop*1.0001; v += step {
			y := ypos(v)
			fmt.Fprintf(&b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#ddd"/><text x="%s" y="%s" text-anchor="end">%s</text>`+"\n",
				num(x0), num(y), num(x0+plotW), num(y), num(x0-4), num(y+4), esc(formatTick(v)))
		}
		for i, x := range xs {
			fmt.Fprintf(&b, `<text x="%s" y="%s" text-anchor="middle">%d</text>`+"\n", num(xpos(i, x0, plotW)), num(y0+plotH+14), x)
		}
		fmt.Fprintf(&b, `<text x="%s" y="%s" text-anchor="middle" fill="#555">GOMAXPROCS</text>`+"\n", num(x0+plotW/2), num(y0+plotH+27))
		fmt.Fprintf(&b, `<text x="%s" y="%s" fill="#555">%s</text>`+"\n", num(x0-40), num(y0-8), esc(yLabel))
		for _, s := range p.Series {
			c := Palette[max(0, slices.Index(legend, s.Name))%len(Palette)]
			sw := "1.5"
			if s.Bold {
				sw = "2.5"
			}
			pts := slices.Clone(s.Points)
			slices.SortFunc(pts, func(a, b Point) int { return a.X - b.X })
			var path []string
			for _, pt := range pts {
				x := xpos(slices.Index(xs, pt.X), x0, plotW)
				path = append(path, num(x)+","+num(ypos(pt.Y)))
				fmt.Fprintf(&b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s"/><circle cx="%s" cy="%s" r="2.5" fill="%s"><title>%s</title></circle>`+"\n",
					num(x), num(ypos(pt.Lo)), num(x), num(ypos(pt.Hi)), c, num(x), num(ypos(pt.Y)), c,
					esc(fmt.Sprintf("%s GOMAXPROCS=%d: %s [%s, %s]", s.Name, pt.X, formatTick(pt.Y), formatTick(pt.Lo), formatTick(pt.Hi))))
			}
			if len(path) > 1 {
				fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="%s"/>`+"\n", strings.Join(path, " "), c, sw)
			}
		}
		b.WriteString("</g>\n")
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

type legendItem struct {
	index int
	x     float64
}

func legendLayout(names []string, width float64) [][]legendItem {
	var rows [][]legendItem
	var row []legendItem
	x := 8.0
	for i, n := range names {
		w := 16 + float64(len(n))*charWidth + 14
		if len(row) > 0 && x+w > width {
			rows = append(rows, row)
			row, x = nil, 8
		}
		row = append(row, legendItem{i, x})
		x += w
	}
	if len(row) > 0 {
		rows = append(rows, row)
	}
	return rows
}

// niceScale returns a tick step of 1, 2 or 5 times a power of ten and the axis top, a multiple of it.
func niceScale(vmax float64) (step, top float64) {
	if !(vmax > 0) || math.IsInf(vmax, 0) {
		return 1, 1
	}
	raw := vmax / 4
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step = mag * 10
	for _, f := range []float64{1, 2, 5} {
		if f*mag >= raw {
			step = f * mag
			break
		}
	}
	return step, math.Ceil(vmax/step) * step
}

func formatTick(v float64) string { return strconv.FormatFloat(v, 'g', 4, 64) }

// Verdict says how a ratio's interval relates to 1.
type Verdict int

// Verdicts colour the bars.
const (
	Same   Verdict = iota // the interval spans 1
	Better                // the interval is below 1: less time than the reference
	Worse
)

// Bar is one ratio with its interval.
type Bar struct {
	Label         string
	Value, Lo, Hi float64
	Verdict       Verdict
	// Note is printed after the figure, "n<5" say.
	Note string
}

// Ratios draws horizontal bars from 1 to each value on a log2 axis, with whiskers from Lo to Hi.
func Ratios(w io.Writer, title, axis string, bars []Bar) error {
	const (
		rowH, header, footer = 18.0, 40.0, 30.0
		plotW, valueW        = 420.0, 190.0
	)
	labelW := 60.0
	lo, hi := 1.0, 1.0
	for _, bar := range bars {
		labelW = max(labelW, float64(len(bar.Label))*charWidth+12)
		for _, v := range []float64{bar.Value, bar.Lo, bar.Hi} {
			if v > 0 && !math.IsInf(v, 0) {
				lo, hi = min(lo, v), max(hi, v)
			}
		}
	}
	labelW = min(labelW, 460)
	lo2 := math.Floor(math.Log2(lo) - 0.25)
	hi2 := math.Ceil(math.Log2(hi) + 0.25)
	xpos := func(v float64) float64 {
		v = min(max(v, math.Exp2(lo2)), math.Exp2(hi2))
		return labelW + (math.Log2(v)-lo2)/(hi2-lo2)*plotW
	}
	width := labelW + plotW + valueW
	height := header + float64(len(bars))*rowH + footer
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%s" height="%s" viewBox="0 0 %s %s" %s font-size="11">`+"\n",
		num(width), num(height), num(width), num(height), font)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="8" y="18" font-size="14" font-weight="bold">%s</text>`+"\n", esc(title))
	fmt.Fprintf(&b, `<text x="8" y="33" fill="#555">%s</text>`+"\n", esc(axis))
	bottom := header + float64(len(bars))*rowH
	for e := lo2; e <= hi2; e++ {
		x := xpos(math.Exp2(e))
		fmt.Fprintf(&b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#ddd"/><text x="%s" y="%s" text-anchor="middle">%s×</text>`+"\n",
			num(x), num(header-4), num(x), num(bottom), num(x), num(bottom+14), esc(formatTick(math.Exp2(e))))
	}
	colours := map[Verdict]string{Same: "#999", Better: "#2ca02c", Worse: "#d62728"}
	for i, bar := range bars {
		y := header + float64(i)*rowH
		label := bar.Label
		if r, limit := []rune(label), int((labelW-12)/charWidth); len(r) > limit {
			label = "…" + string(r[len(r)-limit+1:])
		}
		fmt.Fprintf(&b, `<text x="%s" y="%s" text-anchor="end">%s</text>`+"\n", num(labelW-6), num(y+12), esc(label))
		x1, x2 := xpos(1), xpos(bar.Value)
		fmt.Fprintf(&b, `<rect x="%s" y="%s" width="%s" height="10" fill="%s" fill-opacity="0.6"><title>%s</title></rect>`+"\n",
			num(min(x1, x2)), num(y+3), num(math.Max(math.Abs(x2-x1), 1)), colours[bar.Verdict],
			esc(fmt.Sprintf("%s: %s× [%s, %s]", bar.Label, formatTick(bar.Value), formatTick(bar.Lo), formatTick(bar.Hi))))
		wl, wh := xpos(bar.Lo), xpos(bar.Hi)
		fmt.Fprintf(&b, `<path d="M%s %sv6M%s %sH%sM%s %sv6" stroke="black" fill="none"/>`+"\n",
			num(wl), num(y+5), num(wl), num(y+8), num(wh), num(wh), num(y+5))
		text := fmt.Sprintf("%s× [%s, %s]", strconv.FormatFloat(bar.Value, 'f', 2, 64),
			strconv.FormatFloat(bar.Lo, 'f', 2, 64), strconv.FormatFloat(bar.Hi, 'f', 2, 64))
		if bar.Verdict == Same {
			text += " ~"
		}
		if bar.Note != "" {
			text += " " + bar.Note
		}
		fmt.Fprintf(&b, `<text x="%s" y="%s">%s</text>`+"\n", num(labelW+plotW+8), num(y+12), esc(text))
	}
	x := xpos(1)
	fmt.Fprintf(&b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="black"/>`+"\n", num(x), num(header-4), num(x), num(bottom))
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}
