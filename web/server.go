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
	"sync"
	"time"

	"github.com/okpay/okpay/agent"
	"github.com/okpay/okpay/clientip"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/notify"
	"github.com/okpay/okpay/paymethod"
	"github.com/okpay/okpay/wallet"
)

//go:embed templates/*.html
var templateFS embed.FS

// Config holds the Server's dependencies.
type Config struct {
	Catalog *i18n.Catalog // required
	Logger  *slog.Logger  // nil discards logs
	Version string        // shown in the footer when not empty
	// Identity enables the customer account pages (sign-up, sign-in,
	// account, security settings, password reset, freeze links); nil
	// leaves them out.
	Identity *identity.Service
	// Outbox lists the in-app notifications on the account page
	// (optional).
	Outbox *notify.Outbox
	// Mailbox is the development mailbox shown at /dev/mailbox. It shows
	// one-time codes: set it only in development mode (nil: the page
	// answers 404).
	Mailbox *notify.DevMailbox
	// ClientIP finds the client's address behind trusted proxies (nil:
	// the socket's address).
	ClientIP *clientip.Resolver
	// Agents enables the staff console at /staff/ (staff.go); nil leaves
	// it out.
	Agents *agent.Service
	// Methods enables the payment-method pages at /account/methods
	// (methods.go); it needs Identity. Nil leaves them out.
	Methods *paymethod.Service
	// CardTokenURL is where the card form sends the card details: the
	// provider's hosted token endpoint (default DefaultCardTokenURL, the
	// built-in sandbox's). OKPay's own handlers never see them.
	CardTokenURL string
	// Wallet enables the wallet pages at /wallet (wallet*.go): balances,
	// history, sending money and card deposits (these from the cards of
	// Methods); it needs Identity. Nil leaves them out.
	Wallet *wallet.Service
	// Exchange enables the currency exchange and remittance pages at
	// /wallet/exchange and /wallet/remit (wallet_exchange.go,
	// wallet_remit.go); it needs Wallet. Nil leaves them out.
	Exchange *wallet.Exchanger
	// ConsolePing is how often the console's WebSockets ping, and check
	// that the agent's session still works (0: chat's default, 25 s).
	ConsolePing time.Duration
}

// Server renders the HTML pages. Create it with New; it is safe for
// concurrent use.
type Server struct {
	cat     *i18n.Catalog
	log     *slog.Logger
	version string
	pages   map[string]*template.Template // by page template file name
	static  *staticFiles
	// zones caches the time zones readers' cookies name (zoneOf).
	zones   sync.Map
	id      *identity.Service
	outbox  *notify.Outbox
	mailbox *notify.DevMailbox
	// clientIP resolves client addresses (nil: the socket's).
	clientIP *clientip.Resolver
	staff    *staffState   // nil without Config.Agents
	methods  *methodsState // nil without Config.Methods
	wallet   *walletState  // nil without Config.Wallet
	// withdraw is nil until EnableWithdrawals (wallet_withdraw.go).
	withdraw *withdrawState
	// exchange is nil without Config.Exchange (wallet_exchange.go).
	exchange *wallet.Exchanger
	// desk is nil until EnableDesk (desk_widget.go, staff_desk.go).
	desk *deskState
	// help is nil until EnableHelp (help.go, help_editor.go).
	help *helpState
	// phone is nil until EnablePhone (account_callback.go, staff_phone.go).
	phone *phoneState
	// consolePing is Config.ConsolePing.
	consolePing time.Duration
	// noteLinks finds the links to the account's pages in in-app
	// notifications (account_notifications.go).
	noteLinks *regexp.Regexp
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
		cat:      cfg.Catalog,
		log:      log,
		version:  cfg.Version,
		pages:    make(map[string]*template.Template),
		id:       cfg.Identity,
		outbox:   cfg.Outbox,
		mailbox:  cfg.Mailbox,
		clientIP: cfg.ClientIP,

		consolePing: cfg.ConsolePing,
	}
	base := ""
	if s.id != nil {
		base = s.id.Config().BaseURL
	}
	s.noteLinks = noteLinkRE(base)
	for _, name := range append([]string{pageHome, pageError}, accountPages...) {
		t, err := template.New(name).Option("missingkey=error").
			ParseFS(templateFS, "templates/layout.html", "templates/partials.html", "templates/"+name)
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
	for _, id := range slices.Concat(ids, codeMessageIDs, accountMessageIDs, passkeyMessageIDs, contactMessageIDs, notificationMessageIDs) {
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
	if err := s.initStaff(cfg.Agents); err != nil {
		return nil, err
	}
	if err := s.initMethods(cfg.Methods, cfg.CardTokenURL); err != nil {
		return nil, err
	}
	if err := s.initWallet(cfg.Wallet, cfg.Methods); err != nil {
		return nil, err
	}
	if err := s.initExchange(cfg.Exchange); err != nil {
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
	for _, rt := range s.Routes() {
		mux.Handle(rt.Method+" "+rt.Pattern, rt.Handler)
	}
	mux.HandleFunc("/", s.NotFound)
	if s.staff != nil {
		// Unknown staff paths answer 404 on the staff layout (with the
		// agent's navigation when signed in), not the customer site's.
		mux.HandleFunc("/staff/", s.staffNotFound)
	}
}

// Route is one page route: its method (GET or POST), ServeMux pattern and
// handler.
type Route struct {
	Method  string
	Pattern string
	Handler http.Handler
}

// Routes lists the routes Register adds, except the catch-all: the home
// page, the language switch, the static files and, when configured, the
// account pages and the development mailbox. Every state change is a
// POST; no GET handler changes state (SES-09).
func (s *Server) Routes() []Route {
	rs := []Route{
		{http.MethodGet, "/{$}", http.HandlerFunc(s.handleHome)},
		{http.MethodPost, "/lang", http.HandlerFunc(s.handleLang)},
		{http.MethodGet, "/static/", s.static.handler(s)},
	}
	if s.id != nil {
		rs = append(rs, s.accountRoutes()...)
		rs = append(rs, s.recoveryCancelRoutes()...) // REC-08 (recovery_cancel.go)
		rs = append(rs, s.csatLinkRoutes()...)       // rating requests by email (csat_link.go)
		rs = append(rs, s.contactLinkRoutes()...)    // visitors' email confirmations (contact_link.go)
	}
	if s.mailbox != nil {
		rs = append(rs, Route{http.MethodGet, "/dev/mailbox", http.HandlerFunc(s.handleMailbox)})
	}
	rs = append(rs, s.staffRoutes()...)
	rs = append(rs, s.methodRoutes()...)
	rs = append(rs, s.walletRoutes()...)
	rs = append(rs, s.withdrawRoutes()...)
	rs = append(rs, s.exchangeRoutes()...)
	rs = append(rs, s.helpRoutes()...)
	rs = append(rs, s.phoneAccountRoutes()...) // callback requests (account_callback.go)
	return rs
}

// page is the data every template receives.
type page struct {
	s       *Server
	Lang    i18n.Lang
	Zone    *time.Location // the reader's time zone (zoneOf)
	Title   string         // the whole <title>
	Next    string         // where the language switch returns to
	Version string
	Status  int
	Heading string // error pages
	Detail  string // error pages

	// Accounts tells whether the account pages exist (the nav links to
	// them); SignedIn picks the signed-in links.
	Accounts bool
	SignedIn bool
	// Wallet tells whether the wallet pages exist (the nav links to them).
	Wallet bool
	// Help tells whether the help center exists (the nav links to it).
	Help bool
	// Script loads app.js (the password show/hide toggle).
	Script bool
	// NoStore sends Cache-Control: no-store (authenticated pages and
	// auth forms, SES-10); NoReferrer sends Referrer-Policy: no-referrer
	// (reset and freeze pages, REC-06).
	NoStore    bool
	NoReferrer bool
	// Form holds the submitted values and the errors of a form page.
	Form *form
	// Notice is a status message shown above the page's content.
	Notice string
	// Data is the page's own content.
	Data any
	// RetryAfter, when positive, is sent as the Retry-After header.
	RetryAfter time.Duration
}

// newPage starts the data of a page for r. The language switch returns to the
// page itself, except after a POST (which it must not repeat).
func (s *Server) newPage(r *http.Request) *page {
	p := &page{s: s, Lang: i18n.Negotiate(r), Zone: s.zoneOf(r), Version: s.version, Status: http.StatusOK, Next: "/"}
	p.Help = s.help != nil
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		p.Next = safeNext(r.URL.RequestURI())
	}
	if s.id != nil {
		p.Accounts = true
		// A cheap guess for pages that do not check the session: a
		// session cookie is present. Account pages set it exactly.
		p.SignedIn = cookieValue(r, sessionCookie) != ""
		p.Wallet = s.wallet != nil
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
	if p.NoStore {
		h.Set("Cache-Control", "no-store")
	} else {
		h.Set("Cache-Control", "private, no-cache")
	}
	if p.NoReferrer {
		h.Set("Referrer-Policy", "no-referrer")
	}
	if p.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(int((p.RetryAfter+time.Second-1)/time.Second)))
	}
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
