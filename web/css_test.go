package web

import (
	"math"
	"regexp"
	"strconv"
	"testing"
)

// TestColourContrast checks the colour pairs app.css uses for text against
// WCAG AA (4.5:1 for normal text).
func TestColourContrast(t *testing.T) {
	css, err := staticEmbed.ReadFile("static/app.css")
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{}
	for _, m := range regexp.MustCompile(`--([a-z-]+):\s*(#[0-9a-fA-F]{6})\b`).FindAllSubmatch(css, -1) {
		vars[string(m[1])] = string(m[2])
	}
	pairs := [][2]string{ // text, background
		{"text", "bg"}, {"text", "bg-alt"},
		{"muted", "bg"}, {"muted", "bg-alt"},
		{"primary", "bg"}, {"primary", "bg-alt"}, {"primary", "primary-soft"},
		{"primary-dark", "bg"}, {"primary-dark", "primary-soft"},
		{"on-primary", "primary"}, {"on-primary", "primary-dark"},
	}
	for _, p := range pairs {
		fg, ok1 := vars[p[0]]
		bg, ok2 := vars[p[1]]
		if !ok1 || !ok2 {
			t.Errorf("app.css lacks --%s or --%s", p[0], p[1])
			continue
		}
		if r := contrast(fg, bg); r < 4.5 {
			t.Errorf("--%s %s on --%s %s: contrast %.2f:1, want at least 4.5:1", p[0], fg, p[1], bg, r)
		}
	}
}

func contrast(a, b string) float64 {
	la, lb := luminance(a), luminance(b)
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}

func luminance(hex string) float64 {
	ch := func(i int) float64 {
		v, _ := strconv.ParseUint(hex[i:i+2], 16, 8)
		c := float64(v) / 255
		if c <= 0.04045 {
			return c / 12.92
		}
		return math.Pow((c+0.055)/1.055, 2.4)
	}
	return 0.2126*ch(1) + 0.7152*ch(3) + 0.0722*ch(5)
}
