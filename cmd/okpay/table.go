package main

import (
	"io"
	"strings"

	"golang.org/x/text/width"
)

// textTable prints rows in columns two spaces apart, as text/tabwriter
// does, but measures each cell by the columns it takes on a terminal: an
// East Asian wide or fullwidth character (李伟, 陈静) takes two, which
// tabwriter counted as one, shifting every column after a Chinese name.
type textTable struct {
	rows [][]string
}

// row adds a row of cells.
func (t *textTable) row(cells ...string) { t.rows = append(t.rows, cells) }

// write prints the rows; the last cell of a row is not padded.
func (t *textTable) write(w io.Writer) error {
	var widths []int
	for _, r := range t.rows {
		for i, c := range r {
			if i == len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], displayWidth(c))
		}
	}
	var b strings.Builder
	for _, r := range t.rows {
		for i, c := range r {
			b.WriteString(c)
			if i < len(r)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-displayWidth(c)+2))
			}
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// displayWidth is the number of terminal columns s takes.
func displayWidth(s string) int {
	n := 0
	for _, r := range s {
		switch width.LookupRune(r).Kind() {
		case width.EastAsianWide, width.EastAsianFullwidth:
			n += 2
		default:
			n++
		}
	}
	return n
}
