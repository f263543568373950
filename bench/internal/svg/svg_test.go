package svg

import (
	"bytes"
	"encoding/xml"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// wellFormed checks the document and returns the number of elements by name.
func wellFormed(t *testing.T, doc []byte) map[string]int {
	t.Helper()
	if err := WellFormed(bytes.NewReader(doc)); err != nil {
		t.Fatalf("not well-formed: %v\n%s", err, doc)
	}
	d := xml.NewDecoder(bytes.NewReader(doc))
	counts := map[string]int{}
	for {
		tok, err := d.Token()
		if err != nil {
			break
		}
		if el, ok := tok.(xml.StartElement); ok {
			counts[el.Name.Local]++
		}
	}
	return counts
}

func TestWellFormedRejects(t *testing.T) {
	for _, doc := range []string{
		"",
		"<svg xmlns=\"http://www.w3.org/2000/svg\"><g></svg>",
		"<html/>",
		"<svg/>",
		"<svg xmlns=\"http://www.w3.org/2000/svg\"/><svg xmlns=\"http://www.w3.org/2000/svg\"/>",
		"<svg xmlns=\"http://www.w3.org/2000/svg\">a & b</svg>",
	} {
		if err := WellFormed(strings.NewReader(doc)); err == nil {
			t.Errorf("WellFormed(%q) = nil", doc)
		}
	}
}

func TestLinesWellFormed(t *testing.T) {
	panels := []Panel{
		{Title: `Allow/parallel <&"'>`, Series: []Series{
			{Name: "sluice-tokenbucket", Bold: true, Points: []Point{{1, 50, 45, 55}, {2, 90, 80, 95}, {4, 88, 70, 99}}},
			{Name: "xtimerate", Points: []Point{{2, 40, 39, 41}, {1, 30, 29, 31}}},
		}},
		{Title: "Allow/serial", Series: []Series{{Name: "xtimerate", Points: []Point{{1, 0.5, 0.4, 0.6}}}}},
		{Title: "empty"},
		{Title: "fourth wraps to a second row"},
	}
	var buf bytes.Buffer
	if err := Lines(&buf, "Rate limiters: throughput", "Mops/s", []string{"sluice-tokenbucket", "xtimerate"}, 2, panels); err != nil {
		t.Fatal(err)
	}
	counts := wellFormed(t, buf.Bytes())
	// One polyline per series with two or more points, one circle per point.
	if counts["polyline"] != 2 || counts["circle"] != 6 {
		t.Errorf("polylines %d, circles %d; want 2 and 6", counts["polyline"], counts["circle"])
	}
	if !strings.Contains(buf.String(), "&gt; cores") {
		t.Errorf("GOMAXPROCS 4 above 2 cores is not shaded")
	}
	if !strings.Contains(buf.String(), "&lt;&amp;") {
		t.Errorf("title not escaped")
	}
}

func TestRatiosWellFormed(t *testing.T) {
	bars := []Bar{
		{Label: "Allow/serial · P1 · sluice-tokenbucket", Value: 0.55, Lo: 0.45, Hi: 0.65, Verdict: Better},
		{Label: "Allow/parallel · P2 · sluice-tokenbucket", Value: 0.97, Lo: 0.82, Hi: 1.15, Verdict: Same, Note: "n<5"},
		{Label: strings.Repeat("very long label ", 40), Value: 12, Lo: 9, Hi: 20, Verdict: Worse},
	}
	var buf bytes.Buffer
	if err := Ratios(&buf, "Rate limiters: time vs xtimerate", "lower is faster", bars); err != nil {
		t.Fatal(err)
	}
	counts := wellFormed(t, buf.Bytes())
	if counts["rect"] != 1+len(bars) || counts["path"] != len(bars) {
		t.Errorf("rects %d, paths %d; want %d and %d", counts["rect"], counts["path"], 1+len(bars), len(bars))
	}
	for _, want := range []string{"0.55× [0.45, 0.65]", "0.97× [0.82, 1.15] ~ n&lt;5", "12.00× [9.00, 20.00]"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("missing %q", want)
		}
	}
	buf.Reset()
	if err := Ratios(&buf, "none", "", nil); err != nil {
		t.Fatal(err)
	}
	wellFormed(t, buf.Bytes())
}

func TestNiceScale(t *testing.T) {
	tests := []struct{ vmax, step, top float64 }{
		{0, 1, 1}, {9, 5, 10}, {100, 50, 100}, {0.37, 0.1, 0.4}, {73, 20, 80},
	}
	for _, tt := range tests {
		if step, top := niceScale(tt.vmax); step != tt.step || top != tt.top {
			t.Errorf("niceScale(%v) = %v, %v; want %v, %v", tt.vmax, step, top, tt.step, tt.top)
		}
	}
}
