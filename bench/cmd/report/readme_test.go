package main

import (
	"bytes"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/readme.golden.md from the current output")

func TestSpliceBlocks(t *testing.T) {
	blocks := map[string]string{"a": "new A\n", "b": "new B\nsecond line\n"}
	tests := []struct {
		name             string
		in, want         string
		missing, unknown []string
	}{
		{
			name: "replaces only between the markers",
			in: "# Title\n\ntext before\n<!-- report:a -->\nold A\n\nold A again\n<!-- /report:a -->\ntext between\n" +
				"<!-- report:b -->\n<!-- /report:b -->\nno newline at the end",
			want: "# Title\n\ntext before\n<!-- report:a -->\n\nnew A\n\n<!-- /report:a -->\ntext between\n" +
				"<!-- report:b -->\n\nnew B\nsecond line\n\n<!-- /report:b -->\nno newline at the end",
		},
		{
			name:    "a block without markers is skipped",
			in:      "x\n<!-- report:b -->\n<!-- /report:b -->\n",
			want:    "x\n<!-- report:b -->\n\nnew B\nsecond line\n\n<!-- /report:b -->\n",
			missing: []string{"a"},
		},
		{
			name:    "markers without a block are left alone",
			in:      "<!-- report:c -->\nkept\n<!-- /report:c -->\n",
			want:    "<!-- report:c -->\nkept\n<!-- /report:c -->\n",
			missing: []string{"a", "b"},
			unknown: []string{"c"},
		},
		{
			name: "CRLF line ends are kept",
			in:   "x\r\n<!-- report:a -->\r\n<!-- /report:a -->\r\n<!-- report:b -->\r\n<!-- /report:b -->\r\n",
			want: "x\r\n<!-- report:a -->\r\n\r\nnew A\r\n\r\n<!-- /report:a -->\r\n" +
				"<!-- report:b -->\r\n\r\nnew B\r\nsecond line\r\n\r\n<!-- /report:b -->\r\n",
		},
		{
			name: "a marker quoted inside a line is text",
			in:   "see `<!-- report:a -->` here\n<!-- report:a -->\n<!-- /report:a -->\n<!-- report:b -->\n<!-- /report:b -->\n",
			want: "see `<!-- report:a -->` here\n<!-- report:a -->\n\nnew A\n\n<!-- /report:a -->\n" +
				"<!-- report:b -->\n\nnew B\nsecond line\n\n<!-- /report:b -->\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, missing, unknown, err := spliceBlocks([]byte(tt.in), blocks)
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != tt.want {
				t.Errorf("got\n%q\nwant\n%q", out, tt.want)
			}
			if strings.Join(missing, ",") != strings.Join(tt.missing, ",") || strings.Join(unknown, ",") != strings.Join(tt.unknown, ",") {
				t.Errorf("missing %q, unknown %q; want %q, %q", missing, unknown, tt.missing, tt.unknown)
			}
			again, _, _, err := spliceBlocks(out, blocks)
			if err != nil || !bytes.Equal(again, out) {
				t.Errorf("not idempotent: %v\n%q", err, again)
			}
		})
	}
}

func TestSpliceBlocksBroken(t *testing.T) {
	for name, in := range map[string]string{
		"start without end":       "x\n<!-- report:a -->\nold\n",
		"end without start":       "x\n<!-- /report:a -->\n",
		"another start inside":    "<!-- report:a -->\n<!-- report:b -->\n<!-- /report:b -->\n<!-- /report:a -->\n",
		"end of another block":    "<!-- report:a -->\n<!-- /report:b -->\n",
		"the same block twice":    "<!-- report:a -->\n<!-- /report:a -->\n<!-- report:a -->\n<!-- /report:a -->\n",
		"a later pair is broken":  "<!-- report:a -->\n<!-- /report:a -->\n<!-- report:b -->\n",
		"unknown block, no close": "<!-- report:zzz -->\n",
	} {
		t.Run(name, func(t *testing.T) {
			if _, _, _, err := spliceBlocks([]byte(in), map[string]string{"a": "A\n", "b": "B\n"}); err == nil {
				t.Errorf("no error for %q", in)
			}
		})
	}
}

// TestUpdateReadmeBrokenUntouched checks that a broken marker pair fails the run and leaves the file as it was.
func TestUpdateReadmeBrokenUntouched(t *testing.T) {
	readme := filepath.Join(t.TempDir(), "README.md")
	orig := "# x\n<!-- report:headlines -->\nold\n<!-- report:ratelimit -->\n<!-- /report:ratelimit -->\n"
	if err := os.WriteFile(readme, []byte(orig), 0o644); err != nil {
		t.Fatal(err)
	}
	err := run([]string{"-in", "testdata/sample.txt", "-out", t.TempDir(), "-readme", readme}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "report:headlines") {
		t.Errorf("got %v, want an error naming the headlines block", err)
	}
	if got := read(t, readme); got != orig {
		t.Errorf("README changed:\n%s", got)
	}
}

// TestReadmeBlocksGolden fills every block from testdata/sample.txt and compares with testdata/readme.golden.md,
// checked by hand: 12/22 and 17/27 are the Allow medians' ratios, the GOMAXPROCS 4 rows are left out on 2 cores,
// the allocation-free note holds, and the quality rows are the sample's medians.
func TestReadmeBlocksGolden(t *testing.T) {
	dir := t.TempDir()
	readme := filepath.Join(dir, "README.md")
	var in strings.Builder
	in.WriteString("# Sample\n\nProse stays.\n\n")
	for _, name := range []string{"headlines", "ratelimit", "breaker", "pool", "cache"} {
		in.WriteString("## " + name + "\n\n<!-- report:" + name + " -->\n<!-- /report:" + name + " -->\n\nMore prose.\n\n")
	}
	if err := os.WriteFile(readme, []byte(in.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	args := []string{"-in", "testdata/sample.txt", "-out", dir, "-readme", readme}
	if err := run(args, &log); err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	for _, want := range []string{"this report has no figures for the block \"breaker\"", "rewrote the report blocks"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, log.String())
		}
	}
	got := read(t, readme)
	if *update {
		if err := os.WriteFile("testdata/readme.golden.md", []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if want := read(t, "testdata/readme.golden.md"); got != want {
		t.Errorf("README blocks differ from testdata/readme.golden.md (go test -run Golden -update rewrites it):\n%s", got)
	}
	if headlines := read(t, filepath.Join(dir, "HEADLINES.md")); !strings.Contains(got, strings.TrimPrefix(headlines, generatedNote+"\n\n")) {
		t.Error("the headlines block is not HEADLINES.md without its note")
	}
	log.Reset()
	if err := run(args, &log); err != nil {
		t.Fatal(err)
	}
	if again := read(t, readme); again != got || !strings.Contains(log.String(), "already up to date") {
		t.Errorf("second run changed the README or did not say so:\n%s", log.String())
	}
}

func TestReadmeMissingMarkersSkipped(t *testing.T) {
	readme := filepath.Join(t.TempDir(), "README.md")
	if err := os.WriteFile(readme, []byte("no markers\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	if err := run([]string{"-in", "testdata/sample.txt", "-out", t.TempDir(), "-readme", readme}, &log); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "has no <!-- report:ratelimit --> block: skipped") {
		t.Errorf("log:\n%s", log.String())
	}
	if got := read(t, readme); got != "no markers\n" {
		t.Errorf("README changed: %q", got)
	}
}

func TestReadmeFlagDefault(t *testing.T) {
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"-in", "x"}, filepath.Join(root, "README.md")},
		{[]string{"-quick"}, filepath.Join(root, "README.md")},
		{[]string{"-in", "x", "-readme", ""}, ""},
		{[]string{"-in", "x", "-out", "elsewhere"}, ""},
		{[]string{"-in", "x", "-out", "elsewhere", "-readme", "R.md"}, "R.md"},
	} {
		o, err := parseFlags(tt.args, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if o.readme != tt.want {
			t.Errorf("%q: readme %q, want %q", tt.args, o.readme, tt.want)
		}
	}
}

func TestAnchor(t *testing.T) {
	for in, want := range map[string]string{"Rate limiters": "rate-limiters", "Circuit breakers": "circuit-breakers",
		"cache: two-level cache (local → Redis → source)": "cache-two-level-cache-local--redis--source"} {
		if got := anchor(in); got != want {
			t.Errorf("anchor(%q) = %q, want %q", in, got, want)
		}
	}
}
