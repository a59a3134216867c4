package web

import (
	"regexp"
	"strings"
	"testing"
)

// helpTemplates are the help center's templates: the public pages
// (help_partials.html holds their shared pieces) and the staff editor.
var helpTemplates = []string{"help_partials.html", "help_index.html", "help_category.html", "help_article.html", "help_search.html",
	"help_editor.html", "help_editor_list.html", "help_misses.html"}

// helpSheets are the stylesheets the help pages load.
func helpSheets(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	for _, name := range []string{"static/app.css", "static/help.css"} {
		css, err := staticEmbed.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(css)
		b.WriteByte('\n')
	}
	return b.String()
}

// TestHelpPagesStyled: every class the help templates use has a rule in
// the stylesheets the pages load, every help template loads help.css, and
// the elements that would otherwise show in the browser's default style
// have rules: the form controls the pages use, the search's <mark>, the
// editor's tables, and everything an article's Markdown can produce
// inside .help-body.
func TestHelpPagesStyled(t *testing.T) {
	css := helpSheets(t)
	// Rules only: comments out.
	css = regexp.MustCompile(`(?s)/\*.*?\*/`).ReplaceAllString(css, "")
	classAttr := regexp.MustCompile(`class="([^"]*)"`)
	action := regexp.MustCompile(`\{\{.*?\}\}`)
	for _, name := range helpTemplates {
		b, err := templateFS.ReadFile("templates/" + name)
		if err != nil {
			t.Fatal(err)
		}
		src := string(b)
		if name != "help_partials.html" && !strings.Contains(src, `{{template "help_css" .}}`) && !strings.Contains(src, `{{.Asset "help.css"}}`) {
			t.Errorf("%s does not load help.css", name)
		}
		// Template actions out first: they hold quotes ({{if $.Form.Has
		// "title"}}); the classes they add stay.
		for _, m := range classAttr.FindAllStringSubmatch(action.ReplaceAllString(src, " "), -1) {
			for _, c := range strings.Fields(m[1]) {
				if !regexp.MustCompile(`\.` + regexp.QuoteMeta(c) + `([^a-zA-Z0-9_-]|$)`).MatchString(css) {
					t.Errorf("%s: class %q has no rule", name, c)
				}
			}
		}
	}
	for _, sel := range []string{
		`input[type="search"]`, `input[type="text"]`, "select", "textarea", ".table th", ".table td", ".help-snippet mark",
		".breadcrumbs ol", ".breadcrumbs li + li::before", ".form-inline",
		".help-body h2", ".help-body h3", ".help-body ul", ".help-body ol", ".help-body li", ".help-body blockquote",
		".help-body code", ".help-body pre", ".help-body table", ".help-body th", ".help-body td", ".help-body hr",
		".help-body img", ".help-body a", ".help-body del",
	} {
		if !strings.Contains(css, sel) {
			t.Errorf("no rule for %s", sel)
		}
	}
}

// TestHelpColourContrast checks the colour pairs help.css adds against
// WCAG AA, like TestColourContrast does for the shell.
func TestHelpColourContrast(t *testing.T) {
	css := helpSheets(t)
	vars := map[string]string{}
	for _, m := range regexp.MustCompile(`--([a-z-]+):\s*(#[0-9a-fA-F]{6})\b`).FindAllStringSubmatch(css, -1) {
		vars[m[1]] = m[2]
	}
	for _, p := range [][2]string{ // text, background
		{"text", "warning-soft"},         // a search hit's <mark>
		{"muted", "bg-alt"},              // hints on the sections and the feedback panel
		{"text", "primary-soft"},         // an article's blockquote
		{"primary", "bg-alt"},            // links on the sections
		{"primary-dark", "primary-soft"}, // a hovered article link
		{"success", "bg-alt"},            // "Thank you" for a vote
		{"text", "bg-alt"},               // code, table heads
	} {
		fg, ok1 := vars[p[0]]
		bg, ok2 := vars[p[1]]
		if !ok1 || !ok2 {
			t.Errorf("no --%s or --%s", p[0], p[1])
			continue
		}
		if r := contrast(fg, bg); r < 4.5 {
			t.Errorf("--%s %s on --%s %s: contrast %.2f:1, want at least 4.5:1", p[0], fg, p[1], bg, r)
		}
	}
}
