package web

import (
	"encoding/xml"
	"strings"
	"testing"
)

// TestBarChart: the chart is well-formed SVG with its title and
// description linked, one bar per value with its value as text, the
// tallest bar full height, and labels escaped.
func TestBarChart(t *testing.T) {
	svg := string(barChart("vol", "Volume <per day>", "Conversations & more", []chartBar{{"03-10", 2}, {"03-11", 4}, {"<x>", 0}}))
	if err := xml.Unmarshal([]byte(svg), new(struct{})); err != nil {
		t.Fatalf("not well-formed: %v\n%s", err, svg)
	}
	for _, want := range []string{
		`role="img"`, `aria-labelledby="vol-title vol-desc"`, `<title id="vol-title">Volume &lt;per day&gt;</title>`,
		`<desc id="vol-desc">Conversations &amp; more</desc>`,
		`data-label="03-11" data-value="4"`, `height="160"`, // the tallest bar
		`height="80"`, // half of it
		`<title>03-10: 2</title>`, `data-label="&lt;x&gt;" data-value="0"`,
	} {
		if !strings.Contains(svg, want) {
			t.Errorf("missing %q in\n%s", want, svg)
		}
	}
	if strings.Contains(svg, "<x>") || strings.Contains(svg, "<script") {
		t.Errorf("unescaped text:\n%s", svg)
	}
	if n := strings.Count(svg, `class="chart-bar"`); n != 3 {
		t.Errorf("%d bars", n)
	}
	// No bars, or all zero: no division by zero, no bar drawn.
	if svg := string(barChart("e", "t", "d", []chartBar{{"a", 0}})); !strings.Contains(svg, `height="0"`) {
		t.Errorf("zero bar:\n%s", svg)
	}
	barChart("n", "t", "d", nil)
}
