package email

import (
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// HTMLToText turns an HTML mail body into plain text for reading and
// quoting: script, style, head and other non-content elements are dropped,
// links become "text (url)" (or just the url when the text is the url),
// images their alt text, block elements and <br> line breaks, list items
// "- " lines, and blockquotes "> " lines. It never fails: broken markup is
// read the way a browser would.
func HTMLToText(s string) string {
	doc, err := html.Parse(strings.NewReader(s))
	if err != nil {
		return ""
	}
	w := &textWriter{}
	w.node(doc)
	return w.result()
}

type textWriter struct {
	lines   []string // finished lines
	cur     strings.Builder
	quote   int
	pre     int
	pending int // line breaks asked for before the next text
	// wantSpace: a space separates the next text from the current line
	wantSpace bool
}

func (w *textWriter) text(s string) {
	if s == "" {
		return
	}
	if w.pre > 0 {
		w.flushPending()
		for i, p := range strings.Split(s, "\n") {
			if i > 0 {
				w.endLine()
			}
			w.cur.WriteString(p)
		}
		return
	}
	lead, trail := isSpace(s[0]), isSpace(s[len(s)-1])
	f := strings.Join(strings.Fields(s), " ")
	if f == "" {
		w.wantSpace = true
		return
	}
	if lead {
		w.wantSpace = true
	}
	w.flushPending()
	if w.cur.Len() > 0 && w.wantSpace {
		w.cur.WriteByte(' ')
	}
	w.cur.WriteString(f)
	w.wantSpace = trail
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' }

func (w *textWriter) space() { w.wantSpace = true }

func (w *textWriter) flushPending() {
	for ; w.pending > 0; w.pending-- {
		if len(w.lines) > 0 {
			w.endLine()
		}
	}
}

func (w *textWriter) endLine() {
	line := strings.TrimRight(w.cur.String(), " ")
	if w.quote > 0 {
		line = strings.TrimRight(strings.Repeat("> ", w.quote)+line, " ")
	}
	w.lines = append(w.lines, line)
	w.cur.Reset()
	w.wantSpace = false
}

// br ends the current line and asks for n-1 blank lines before the next
// text.
func (w *textWriter) br(n int) {
	if w.cur.Len() > 0 {
		w.endLine()
	}
	if n-1 > w.pending {
		w.pending = n - 1
	}
}

func (w *textWriter) result() string {
	if w.cur.Len() > 0 {
		w.endLine()
	}
	// collapse runs of blank lines
	var out []string
	blank := 0
	for _, l := range w.lines {
		if strings.TrimSpace(strings.Trim(l, ">")) == "" && strings.TrimSpace(l) == "" {
			blank++
			if blank > 1 {
				continue
			}
		} else {
			blank = 0
		}
		out = append(out, l)
	}
	return strings.Trim(strings.Join(out, "\n"), "\n ")
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func (w *textWriter) children(n *html.Node) {
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		w.node(c)
	}
}

func (w *textWriter) node(n *html.Node) {
	switch n.Type {
	case html.TextNode:
		w.text(n.Data)
		return
	case html.DocumentNode:
		w.children(n)
		return
	case html.ElementNode:
	default:
		return
	}
	if strings.Contains(strings.ReplaceAll(strings.ToLower(attr(n, "style")), " ", ""), "display:none") {
		return
	}
	switch n.DataAtom {
	case atom.Script, atom.Style, atom.Head, atom.Title, atom.Noscript, atom.Template,
		atom.Iframe, atom.Object, atom.Embed, atom.Svg, atom.Math, atom.Select, atom.Button:
		return
	case atom.Br:
		w.pending = 0
		w.endLine()
		return
	case atom.Hr:
		w.br(1)
		w.flushPending()
		w.cur.WriteString("----")
		w.br(1)
		return
	case atom.Img:
		if alt := strings.TrimSpace(attr(n, "alt")); alt != "" {
			w.text(" [" + alt + "] ")
		}
		return
	case atom.A:
		w.link(n)
		return
	case atom.Pre:
		w.br(1)
		w.pre++
		w.children(n)
		w.pre--
		w.br(1)
		return
	case atom.Blockquote:
		w.br(1)
		if w.cur.Len() > 0 {
			w.endLine()
		}
		w.flushPending()
		w.quote++
		w.children(n)
		if w.cur.Len() > 0 {
			w.endLine()
		}
		w.quote--
		w.pending = 0
		w.br(1)
		return
	case atom.Li:
		w.br(1)
		w.flushPending()
		w.cur.WriteString("- ")
		w.children(n)
		w.br(1)
		return
	case atom.Td, atom.Th:
		w.space()
		w.children(n)
		w.space()
		return
	case atom.P, atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6, atom.Table, atom.Ul, atom.Ol, atom.Dl:
		w.br(2)
		w.children(n)
		w.br(2)
		return
	case atom.Div, atom.Tr, atom.Section, atom.Article, atom.Header, atom.Footer, atom.Main,
		atom.Nav, atom.Aside, atom.Address, atom.Dt, atom.Dd, atom.Figure, atom.Figcaption,
		atom.Form, atom.Fieldset, atom.Center, atom.Caption, atom.Tbody, atom.Thead, atom.Tfoot:
		w.br(1)
		w.children(n)
		w.br(1)
		return
	}
	w.children(n)
}

func (w *textWriter) link(n *html.Node) {
	href := strings.TrimSpace(attr(n, "href"))
	sub := &textWriter{}
	sub.children(n)
	label := strings.Join(strings.Fields(sub.result()), " ")
	lower := strings.ToLower(href)
	switch {
	case href == "" || strings.HasPrefix(lower, "#") || strings.HasPrefix(lower, "javascript:") ||
		strings.HasPrefix(lower, "data:") || strings.HasPrefix(lower, "cid:"):
		w.text(label)
	case label == "":
		w.text(href)
	case strings.HasPrefix(lower, "mailto:") && strings.EqualFold(strings.TrimPrefix(href[len("mailto:"):], ""), label):
		w.text(label)
	case label == href || strings.TrimSuffix(label, "/") == strings.TrimSuffix(href, "/") ||
		strings.TrimPrefix(strings.TrimPrefix(href, "https://"), "http://") == label:
		w.text(href)
	default:
		w.text(label + " (" + href + ")")
	}
}
