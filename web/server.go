// Package web serves OKPay's server-rendered HTML pages: one layout, one
// stylesheet, the zh-CN and en catalogs, and no inline scripts or styles
// (SecurityHeaders sends a CSP that forbids them).
//
// Server owns the page routes; the program's wiring mounts them on its mux
// next to the JSON API and wraps the whole mux in SecurityHeaders and
// CrossOrigin.
package web

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strconv"

	"github.com/okpay/okpay/i18n"
)

//go:embed templates/*.html
var templateFS embed.FS

// Config holds the Server's dependencies.
type Config struct {
	Catalog *i18n.Catalog // required
	Logger  *slog.Logger  // nil discards logs
	Version string        // shown in the footer when not empty
}

// Server renders the HTML pages. Create it with New; it is safe for
// concurrent use.
type Server struct {
	cat     *i18n.Catalog
	log     *slog.Logger
	version string
	pages   map[string]*template.Template // by page template file name
	static  *staticFiles
}

// Page templates; each is parsed together with layout.html.
const (
	pageHome  = "home.html"
	pageError = "error.html"
)

// Message ids used from Go code rather than from templates.
var codeMessageIDs = []string{
	"home.page_title", "notfound.title", "notfound.body", "lang.invalid",
	"problem.invalid_request.title", "problem.invalid_request.detail",
	"problem.internal_error.title",
}

// New parses the embedded templates and checks that every message id they
// use exists in every language.
func New(cfg Config) (*Server, error) {
	if cfg.Catalog == nil {
		return nil, errors.New("web: Config.Catalog is required")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		cat:     cfg.Catalog,
		log:     log,
		version: cfg.Version,
		pages:   make(map[string]*template.Template),
	}
	for _, name := range []string{pageHome, pageError} {
		t, err := template.New(name).Option("missingkey=error").
			ParseFS(templateFS, "templates/layout.html", "templates/"+name)
		if err != nil {
			return nil, fmt.Errorf("web: parse %s: %w", name, err)
		}
		s.pages[name] = t
	}
	ids, err := templateMessageIDs()
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, id := range append(ids, codeMessageIDs...) {
		if !s.cat.Has(id) {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("web: message ids missing from the catalog: %v", missing)
	}
	if s.static, err = newStaticFiles(); err != nil {
		return nil, err
	}
	return s, nil
}

// Register adds the page routes to mux: the home page, the language switch,
// the static files and a catch-all "/" that answers 404 with the layout.
//
// The catch-all has no method on purpose: "GET /" would conflict (and make
// ServeMux panic) with method-less patterns such as "/api/" registered by
// others, whereas "/" is less specific than every other pattern.
func (s *Server) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", s.handleHome)
	mux.HandleFunc("POST /lang", s.handleLang)
	mux.Handle("GET /static/", s.static.handler(s))
	mux.HandleFunc("/", s.NotFound)
}

// page is the data every template receives.
type page struct {
	s       *Server
	Lang    i18n.Lang
	Title   string // the whole <title>
	Next    string // where the language switch returns to
	Version string
	Status  int
	Heading string // error pages
	Detail  string // error pages
}

// newPage starts the data of a page for r. The language switch returns to the
// page itself, except after a POST (which it must not repeat).
func (s *Server) newPage(r *http.Request) *page {
	p := &page{s: s, Lang: i18n.Negotiate(r), Version: s.version, Status: http.StatusOK, Next: "/"}
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		p.Next = safeNext(r.URL.RequestURI())
	}
	return p
}

// T translates id into the page's language. Extra arguments are key/value
// pairs for the message's placeholders: {{.T "footer.version" "Version" .Version}}.
func (p *page) T(id string, kv ...any) string {
	var data map[string]any
	if len(kv) > 0 {
		data = make(map[string]any, len(kv)/2)
		for i := 0; i+1 < len(kv); i += 2 {
			k, _ := kv[i].(string)
			data[k] = kv[i+1]
		}
	}
	return p.s.cat.T(p.Lang, id, data)
}

// IsLang reports whether the page is in language l ("zh-CN" or "en").
func (p *page) IsLang(l string) bool { return string(p.Lang) == l }

// Asset returns the cache-busting URL of a static file.
func (p *page) Asset(name string) (string, error) { return p.s.static.url(name) }

// render writes page template name with status. The page is rendered into a
// buffer first so that a template error never sends half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, name string, p *page) {
	var buf bytes.Buffer
	t := s.pages[name]
	if t == nil {
		s.log.ErrorContext(r.Context(), "web: unknown page template", "template", name)
		s.renderPlainError(w, p.Lang)
		return
	}
	if err := t.ExecuteTemplate(&buf, "layout", p); err != nil {
		s.log.ErrorContext(r.Context(), "web: render page", "template", name, "err", err)
		s.renderPlainError(w, p.Lang)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Language", string(p.Lang))
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	// The language comes from a cookie or Accept-Language, so shared caches
	// must not mix the versions.
	h.Set("Cache-Control", "private, no-cache")
	h.Add("Vary", "Cookie, Accept-Language")
	w.WriteHeader(p.Status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(buf.Bytes())
	}
}

func (s *Server) renderPlainError(w http.ResponseWriter, lang i18n.Lang) {
	http.Error(w, s.cat.T(lang, "problem.internal_error.title", nil), http.StatusInternalServerError)
}

func (s *Server) handleHome(w http.ResponseWriter, r *http.Request) {
	p := s.newPage(r)
	p.Title = s.cat.T(p.Lang, "home.page_title", nil)
	s.render(w, r, pageHome, p)
}

// NotFound answers 404 with the layout, in the request's language. Other
// HTML handlers can use it for objects that do not exist.
func (s *Server) NotFound(w http.ResponseWriter, r *http.Request) {
	s.renderError(w, r, http.StatusNotFound, "notfound.title", "notfound.body")
}

func (s *Server) renderError(w http.ResponseWriter, r *http.Request, status int, titleID, detailID string) {
	p := s.newPage(r)
	p.Status = status
	p.Heading = s.cat.T(p.Lang, titleID, nil)
	p.Detail = s.cat.T(p.Lang, detailID, nil)
	p.Title = p.Heading + " · " + s.cat.T(p.Lang, "app.name", nil)
	s.render(w, r, pageError, p)
}

// messageCall finds {{.T "id"}} and {{$.T "id" ...}} in templates.
var messageCall = regexp.MustCompile(`\.T\s+"([^"]+)"`)

// templateMessageIDs returns every message id the templates use, sorted.
func templateMessageIDs() ([]string, error) {
	files, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, f := range files {
		b, err := templateFS.ReadFile(f)
		if err != nil {
			return nil, err
		}
		for _, m := range messageCall.FindAllSubmatch(b, -1) {
			ids = append(ids, string(m[1]))
		}
	}
	slices.Sort(ids)
	return slices.Compact(ids), nil
}
