package web

import (
	"html/template"
	"strconv"
	"strings"
)

// Charts drawn on the server as inline SVG (the reports page): no script,
// no external file. Each chart is an image with a title and a
// description (role="img", aria-labelledby) and every bar carries its
// value as text and as a <title> tooltip, so the numbers are readable
// without the picture; the page shows them in a table as well.

// chartBar is one bar: its label under the axis and its value.
type chartBar struct {
	Label string
	Value int
}

// chartSize is a chart's drawing box.
const (
	chartHeight   = 160 // the bars' area
	chartLabelPad = 34  // room under the bars for the labels
	chartTopPad   = 18  // room above the tallest bar for its value
)

// barChart renders bars as an SVG bar chart with an accessible title and
// description; id makes the title's and description's ids unique in the
// page. The width follows the number of bars.
func barChart(id, title, desc string, bars []chartBar) template.HTML {
	barW, gap := 28, 10
	if len(bars) > 14 {
		barW, gap = 16, 6
	}
	width := max(len(bars)*(barW+gap)+gap, 120)
	height := chartTopPad + chartHeight + chartLabelPad
	top := 0
	for _, b := range bars {
		top = max(top, b.Value)
	}
	var sb strings.Builder
	esc := template.HTMLEscapeString
	w := strconv.Itoa
	sb.WriteString(`<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" width="` + w(width) + `" height="` + w(height) +
		`" viewBox="0 0 ` + w(width) + ` ` + w(height) + `" aria-labelledby="` + esc(id) + `-title ` + esc(id) + `-desc" data-testid="` + esc(id) + `">`)
	sb.WriteString(`<title id="` + esc(id) + `-title">` + esc(title) + `</title>`)
	sb.WriteString(`<desc id="` + esc(id) + `-desc">` + esc(desc) + `</desc>`)
	base := chartTopPad + chartHeight
	sb.WriteString(`<line x1="0" y1="` + w(base) + `" x2="` + w(width) + `" y2="` + w(base) + `" stroke="currentColor" stroke-opacity="0.4"/>`)
	for i, b := range bars {
		h := 0
		if top > 0 {
			h = b.Value * chartHeight / top
		}
		if b.Value > 0 {
			h = max(h, 2)
		}
		x := gap + i*(barW+gap)
		cx := x + barW/2
		sb.WriteString(`<g class="chart-bar" data-label="` + esc(b.Label) + `" data-value="` + w(b.Value) + `">`)
		sb.WriteString(`<title>` + esc(b.Label) + `: ` + w(b.Value) + `</title>`)
		sb.WriteString(`<rect x="` + w(x) + `" y="` + w(base-h) + `" width="` + w(barW) + `" height="` + w(h) + `" fill="currentColor" fill-opacity="0.75"/>`)
		sb.WriteString(`<text x="` + w(cx) + `" y="` + w(base-h-4) + `" text-anchor="middle" font-size="11" fill="currentColor">` + w(b.Value) + `</text>`)
		sb.WriteString(`<text x="` + w(cx) + `" y="` + w(base+14) + `" text-anchor="middle" font-size="10" fill="currentColor">` + esc(b.Label) + `</text>`)
		sb.WriteString(`</g>`)
	}
	sb.WriteString(`</svg>`)
	return template.HTML(sb.String()) // every text above is escaped
}
