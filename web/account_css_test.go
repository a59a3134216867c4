package web

import (
	"regexp"
	"testing"
)

// TestAccountColourContrast checks the colour pairs the account pages add
// (errors, warnings, success notes) against WCAG AA, like
// TestColourContrast does for the shell.
func TestAccountColourContrast(t *testing.T) {
	css, err := staticEmbed.ReadFile("static/app.css")
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{}
	for _, m := range regexp.MustCompile(`--([a-z-]+):\s*(#[0-9a-fA-F]{6})\b`).FindAllSubmatch(css, -1) {
		vars[string(m[1])] = string(m[2])
	}
	for _, p := range [][2]string{ // text, background
		{"danger", "bg"}, {"danger", "bg-alt"}, {"danger", "danger-soft"},
		{"text", "danger-soft"}, {"on-primary", "danger"}, {"on-primary", "danger-dark"},
		{"warning-text", "warning-soft"}, {"warning-text", "bg"},
		{"success", "bg"}, {"success", "success-soft"}, {"text", "success-soft"},
		{"muted", "bg-alt"}, {"primary", "bg-alt"},
	} {
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
