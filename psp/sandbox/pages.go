package sandbox

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/psp"
)

//go:embed templates/*.html static/sandbox.css
var assets embed.FS

// listLimit is how many rows of each kind the sandbox page shows.
const listLimit = 25

// pages serves the sandbox's HTTP routes.
type pages struct {
	s    *Sandbox
	mux  *http.ServeMux
	tmpl *template.Template
	css  []byte
}

func newPages(s *Sandbox) (*pages, error) {
	t, err := template.New("sandbox").Funcs(template.FuncMap{"brand": psp.BrandName}).ParseFS(assets, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("sandbox: parse templates: %w", err)
	}
	css, err := assets.ReadFile("static/sandbox.css")
	if err != nil {
		return nil, err
	}
	p := &pages{s: s, mux: http.NewServeMux(), tmpl: t, css: css}
	p.mux.HandleFunc("GET /sandbox/{$}", p.handleIndex)
	p.mux.HandleFunc("GET /sandbox/sandbox.css", p.handleCSS)
	p.mux.HandleFunc("POST /sandbox/v1/tokens", p.handleTokens)
	p.mux.HandleFunc("GET /sandbox/3ds/{id}", p.handle3DS)
	p.mux.HandleFunc("POST /sandbox/3ds/{id}", p.handle3DSPost)
	p.mux.HandleFunc("POST /sandbox/events/{id}/redeliver", p.handleRedeliver)
	p.mux.HandleFunc("POST /sandbox/rails", p.handleRails)
	p.mux.HandleFunc("GET /sandbox/oauth/{provider}/authorize", p.handleOAuth)
	p.mux.HandleFunc("POST /sandbox/oauth/{provider}/authorize", p.handleOAuthPost)
	return p, nil
}

// Handler serves the sandbox's pages and hosted card field under
// /sandbox/. Mount it at "/sandbox/" without stripping the prefix:
//
//	GET  /sandbox/                        the sandbox page (?lang=en|zh-CN)
//	POST /sandbox/v1/tokens               tokenize a card (JSON or form)
//	GET  /sandbox/3ds/{charge}            a 3-D Secure challenge
//	POST /sandbox/3ds/{charge}            complete (outcome=complete) or fail it
//	POST /sandbox/events/{event}/redeliver  send a webhook again
//	POST /sandbox/rails                   switch a payout rail down or up (kind, currency, state=down|up)
//	GET  /sandbox/oauth/{provider}/authorize  an e-wallet's OAuth sign-in page (POST: allow or deny)
func (s *Sandbox) Handler() http.Handler { return s.pages.mux }

// view is what every page template gets.
type view struct {
	Lang    i18n.Lang
	catalog *i18n.Catalog
	Path    string // the page's path, for the language links
	Data    any
}

// T translates id; args are key, value pairs for the placeholders.
func (v view) T(id string, args ...any) string {
	var data map[string]any
	if len(args) > 0 {
		data = map[string]any{}
		for i := 0; i+1 < len(args); i += 2 {
			k, _ := args[i].(string)
			data[k] = args[i+1]
		}
	}
	return v.catalog.T(v.Lang, id, data)
}

// Time formats a time for the page (UTC).
func (v view) Time(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05") + " UTC"
}

// Money formats an amount in the page's language.
func (v view) Money(a money.Amount) string { return a.Format(string(v.Lang)) }

// Other returns the language the switch offers.
func (v view) Other() i18n.Lang {
	if v.Lang == i18n.ZhCN {
		return i18n.En
	}
	return i18n.ZhCN
}

// lang picks the page language: ?lang=, then the lang form field, then
// the cookie and Accept-Language.
func lang(r *http.Request) i18n.Lang {
	if l, ok := i18n.ParseLang(r.URL.Query().Get("lang")); ok {
		return l
	}
	if r.Method == http.MethodPost {
		if l, ok := i18n.ParseLang(r.PostFormValue("lang")); ok {
			return l
		}
	}
	return i18n.Negotiate(r)
}

func (p *pages) render(w http.ResponseWriter, r *http.Request, status int, name string, l i18n.Lang, data any) {
	var buf bytes.Buffer
	v := view{Lang: l, catalog: p.s.catalog, Path: r.URL.Path, Data: data}
	if err := p.tmpl.ExecuteTemplate(&buf, name, v); err != nil {
		p.s.log.Error("sandbox: render page", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Language", string(l))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

func (p *pages) handleCSS(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Write(p.css)
}

// Rows of the sandbox page.
type (
	cardItem struct {
		Number, Brand, Behaviour string
	}
	tokenItem struct {
		Token, Brand, Last4 string
		ExpMonth, ExpYear   int
		Created             time.Time
		Detached            bool
	}
	chargeItem struct {
		ID, Reference, Status, FailureCode, Descriptor, ActionPath string
		Amount                                                     money.Amount
		Verification                                               bool
		AuthOnly                                                   bool
		Voided                                                     time.Time
		Created                                                    time.Time
	}
	payoutItem struct {
		ID, Reference, Kind, Destination, Status, FailureCode string
		Amount                                                money.Amount
		Created                                               time.Time
	}
	microItem struct {
		Reference, IBAN, Holder string
		A, B                    money.Amount
		Failed                  bool
		Created                 time.Time
	}
	codeItem struct {
		Reference, Provider, Account, Code string
		Created                            time.Time
	}
	indexData struct {
		Cards         []cardItem
		TestIBANs     []string
		Tokens        []tokenItem
		Charges       []chargeItem
		Payouts       []payoutItem
		MicroDeposits []microItem
		Codes         []codeItem
		Payees        []TestPayee
		Rails         []railDown
		Currencies    []money.Currency
		Deliveries    []Delivery
		WebhookURL    string
		NewToken      string // the token just made with the page's form
		CardError     string // its problem, translated
		Notice        string
	}
)

func (p *pages) handleIndex(w http.ResponseWriter, r *http.Request) {
	l := lang(r)
	d, err := p.indexData(r.Context())
	if err != nil {
		p.s.log.Error("sandbox: page", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	q := r.URL.Query()
	if tok := q.Get("card_token"); validToken(tok) {
		d.NewToken = tok
	}
	if code := q.Get("card_error"); problemMessages[code] != "" {
		d.CardError = p.s.catalog.T(l, "sandbox.card_problem."+code, nil)
	}
	if q.Get("redelivered") != "" {
		d.Notice = p.s.catalog.T(l, "sandbox.deliveries.redelivered", nil)
	}
	p.render(w, r, http.StatusOK, "index", l, d)
}

func (p *pages) indexData(ctx context.Context) (indexData, error) {
	var d indexData
	d.WebhookURL = p.s.hook
	for _, c := range TestCards() {
		d.Cards = append(d.Cards, cardItem{Number: c.Number, Brand: c.Brand, Behaviour: c.Behaviour})
	}
	d.TestIBANs = []string{"GB82WEST12345698765432", "DE89370400440532013000", "GB94FAIL12345698765432"}
	db := p.s.db.Read
	rows, err := db.QueryContext(ctx, `SELECT token, brand, last4, exp_month, exp_year, created_at, behaviour
		FROM psp_sandbox_tokens ORDER BY id DESC LIMIT $1`, listLimit)
	if err != nil {
		return d, err
	}
	for rows.Next() {
		var t tokenItem
		var at int64
		var behaviour string
		if err := rows.Scan(&t.Token, &t.Brand, &t.Last4, &t.ExpMonth, &t.ExpYear, &at, &behaviour); err != nil {
			rows.Close()
			return d, err
		}
		t.Detached = strings.HasPrefix(behaviour, detachedPrefix)
		t.Created = time.UnixMicro(at)
		d.Tokens = append(d.Tokens, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return d, err
	}

	rows, err = db.QueryContext(ctx, `SELECT `+chargeColumns+` FROM psp_sandbox_charges ORDER BY id DESC LIMIT $1`, listLimit)
	if err != nil {
		return d, err
	}
	for rows.Next() {
		c, err := scanCharge(rows)
		if err != nil {
			rows.Close()
			return d, err
		}
		it := chargeItem{ID: chargeID(c.id), Reference: c.reference, Status: string(c.status), Amount: c.amount,
			Verification: c.amount.Minor == 0, Descriptor: statementDescriptor(c.statementCode),
			Created: time.UnixMicro(c.createdAt), AuthOnly: c.authOnly}
		if c.voidedAt != 0 {
			it.Voided = time.UnixMicro(c.voidedAt)
		}
		if c.status == psp.StatusFailed {
			it.FailureCode = c.failureCode
		}
		if c.status == psp.StatusRequiresAction {
			it.ActionPath = "/sandbox/3ds/" + it.ID
		}
		d.Charges = append(d.Charges, it)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return d, err
	}

	rows, err = db.QueryContext(ctx, `SELECT `+payoutColumns+` FROM psp_sandbox_payouts ORDER BY id DESC LIMIT $1`, listLimit)
	if err != nil {
		return d, err
	}
	for rows.Next() {
		po, err := scanPayout(rows)
		if err != nil {
			rows.Close()
			return d, err
		}
		it := payoutItem{ID: payoutID(po.id), Reference: po.reference, Kind: string(po.dest.Kind), Status: string(po.status),
			Amount: po.amount, Created: time.UnixMicro(po.createdAt)}
		switch po.dest.Kind {
		case psp.DestCard:
			if tr, err := p.s.token(ctx, db, po.dest.Token); err == nil {
				it.Destination = tr.card.Brand + " •••• " + tr.card.Last4
			}
		case psp.DestBankAccount:
			it.Destination = strings.TrimSpace(po.dest.IBAN + " " + po.dest.Holder)
		case psp.DestEWallet:
			it.Destination = po.dest.Provider + ": " + po.dest.Account
		}
		if po.status == psp.StatusFailed {
			it.FailureCode = po.failureCode
		}
		d.Payouts = append(d.Payouts, it)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return d, err
	}

	rows, err = db.QueryContext(ctx, `SELECT reference, iban, holder, currency, amount_a, amount_b, failed, created_at
		FROM psp_sandbox_micro_deposits ORDER BY id DESC LIMIT $1`, listLimit)
	if err != nil {
		return d, err
	}
	for rows.Next() {
		var m microItem
		var cur string
		var a, b, at int64
		var failed int
		if err := rows.Scan(&m.Reference, &m.IBAN, &m.Holder, &cur, &a, &b, &failed, &at); err != nil {
			rows.Close()
			return d, err
		}
		m.A, m.B = amountOf(a, cur), amountOf(b, cur)
		m.Failed, m.Created = failed != 0, time.UnixMicro(at)
		d.MicroDeposits = append(d.MicroDeposits, m)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return d, err
	}

	rows, err = db.QueryContext(ctx, `SELECT reference, provider, account, code, created_at
		FROM psp_sandbox_ewallet_codes ORDER BY id DESC LIMIT $1`, listLimit)
	if err != nil {
		return d, err
	}
	for rows.Next() {
		var c codeItem
		var at int64
		if err := rows.Scan(&c.Reference, &c.Provider, &c.Account, &c.Code, &at); err != nil {
			rows.Close()
			return d, err
		}
		c.Created = time.UnixMicro(at)
		d.Codes = append(d.Codes, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return d, err
	}

	d.Payees = TestPayees()
	d.Currencies = money.Currencies()
	if d.Rails, err = p.s.railsDown(ctx); err != nil {
		return d, err
	}
	d.Deliveries, err = p.s.Deliveries(ctx, listLimit*2)
	return d, err
}

// handleRails switches a payout rail down or up (the page's form).
func (p *pages) handleRails(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	l := lang(r)
	state := r.PostForm.Get("state")
	if state != "down" && state != "up" {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	cur := r.PostForm.Get("currency")
	if cur == allCurrencies {
		cur = ""
	}
	err := p.s.SetRailDown(r.Context(), psp.DestinationKind(r.PostForm.Get("kind")), money.Currency(cur), state == "down")
	if okpay.ErrorCode(err) == okpay.EInvalid {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	if err != nil {
		p.notFoundOr500(w, r, l, err)
		return
	}
	http.Redirect(w, r, "/sandbox/?lang="+url.QueryEscape(string(l))+"#rails", http.StatusSeeOther)
}

// threeDSData is the 3-D Secure page.
type threeDSData struct {
	ID           string
	Status       string
	Amount       money.Amount
	Verification bool
	Brand, Last4 string
	Descriptor   string
	FailureCode  string
}

func (p *pages) handle3DS(w http.ResponseWriter, r *http.Request) {
	l := lang(r)
	c, err := p.s.findCharge(r.Context(), r.PathValue("id"))
	if err != nil {
		p.notFoundOr500(w, r, l, err)
		return
	}
	d := threeDSData{ID: chargeID(c.id), Status: string(c.status), Amount: c.amount, Verification: c.amount.Minor == 0,
		Descriptor: statementDescriptor(c.statementCode)}
	if c.status == psp.StatusFailed {
		d.FailureCode = c.failureCode
	}
	if t, err := p.s.token(r.Context(), p.s.db.Read, c.token); err == nil {
		d.Brand, d.Last4 = t.card.Brand, t.card.Last4
	}
	p.render(w, r, http.StatusOK, "threeds", l, d)
}

func (p *pages) handle3DSPost(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	l := lang(r)
	outcome := r.PostForm.Get("outcome")
	if outcome != "complete" && outcome != "fail" {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	id := r.PathValue("id")
	if _, err := p.s.CompleteChallenge(r.Context(), id, outcome == "complete"); err != nil {
		p.notFoundOr500(w, r, l, err)
		return
	}
	c, err := p.s.findCharge(r.Context(), id)
	if err != nil {
		p.notFoundOr500(w, r, l, err)
		return
	}
	if c.returnURL != "" {
		http.Redirect(w, r, c.returnURL, http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/sandbox/3ds/"+url.PathEscape(id)+"?lang="+url.QueryEscape(string(l)), http.StatusSeeOther)
}

func (p *pages) handleRedeliver(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	l := lang(r)
	if err := p.s.Redeliver(r.Context(), r.PathValue("id")); err != nil {
		p.notFoundOr500(w, r, l, err)
		return
	}
	http.Redirect(w, r, "/sandbox/?redelivered=1&lang="+url.QueryEscape(string(l))+"#deliveries", http.StatusSeeOther)
}

func (p *pages) notFoundOr500(w http.ResponseWriter, r *http.Request, l i18n.Lang, err error) {
	if okpay.ErrorCode(err) == okpay.ENotFound {
		p.render(w, r, http.StatusNotFound, "notfound", l, nil)
		return
	}
	p.s.log.Error("sandbox: page", "path", r.URL.Path, "err", err)
	http.Error(w, "internal error", http.StatusInternalServerError)
}
