package help

import (
	"bytes"
	"html/template"
	"strings"

	"github.com/microcosm-cc/bluemonday"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/text"
)

// Articles are Markdown. Rendering is goldmark (CommonMark plus tables
// and strikethrough; raw HTML in the source is dropped) and then
// bluemonday's policy for user content, so even a staff member's
// article cannot put a script, a style or an event handler on a public
// page: links get rel="nofollow noopener" and only http, https and
// mailto URLs survive.

// Renderer turns article Markdown into safe HTML and plain text.
type Renderer struct {
	md     goldmark.Markdown
	policy *bluemonday.Policy
	// vars replaces placeholders such as {support_email} before rendering.
	vars *strings.Replacer
}

// Contacts are the support desk's contact details that articles name
// through placeholders: {support_email}, {support_phone}.
type Contacts struct {
	Email string
	Phone string
}

// Placeholders articles may use.
const (
	PlaceholderEmail = "{support_email}"
	PlaceholderPhone = "{support_phone}"
)

// NewRenderer returns a Renderer that fills the placeholders from c.
func NewRenderer(c Contacts) *Renderer {
	p := bluemonday.UGCPolicy()
	p.AllowURLSchemes("http", "https", "mailto", "tel")
	p.RequireNoFollowOnLinks(true)
	p.AddTargetBlankToFullyQualifiedLinks(false)
	return &Renderer{
		md:     goldmark.New(goldmark.WithExtensions(extension.Table, extension.Strikethrough)),
		policy: p,
		vars:   strings.NewReplacer(PlaceholderEmail, c.Email, PlaceholderPhone, c.Phone),
	}
}

// HTML renders src to sanitized HTML.
func (r *Renderer) HTML(src string) template.HTML {
	var buf bytes.Buffer
	if err := r.md.Convert([]byte(r.vars.Replace(src)), &buf); err != nil {
		return template.HTML(template.HTMLEscapeString(src))
	}
	// The policy's output is safe HTML by construction.
	return template.HTML(r.policy.SanitizeBytes(buf.Bytes())) //nolint:gosec
}

// Text returns the readable text of src: the words of every block, one
// block per line, without Markdown syntax (for the index and snippets).
func (r *Renderer) Text(src string) string {
	b := []byte(r.vars.Replace(src))
	doc := r.md.Parser().Parse(text.NewReader(b))
	var out strings.Builder
	_ = ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		switch n := n.(type) {
		case *ast.Text:
			if entering {
				out.Write(n.Segment.Value(b))
				if n.SoftLineBreak() || n.HardLineBreak() {
					out.WriteByte(' ')
				}
			}
		case *ast.String:
			if entering {
				out.Write(n.Value)
			}
		case *ast.AutoLink:
			if entering {
				out.Write(n.Label(b))
			}
		default:
			if !entering && n.Type() == ast.TypeBlock && out.Len() > 0 && !strings.HasSuffix(out.String(), "\n") {
				out.WriteByte('\n')
			}
		}
		return ast.WalkContinue, nil
	})
	return strings.TrimSpace(out.String())
}
