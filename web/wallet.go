package web

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/paymethod"
	"github.com/okpay/okpay/wallet"
)

// The wallet pages: balances and recent activity, the history with its
// filters and CSV export, a transaction's details, sending money to
// another customer, and adding money from a card (package wallet).
//
//	GET  /wallet                        balances (available and pending), open or hide a wallet, recent activity
//	POST /wallet/open|hide|show         open a wallet in a currency; hide an empty one; show a hidden one
//	GET  /wallet/transactions           the history: filters (type, status, currency, dates), a page at a time
//	GET  /wallet/transactions.csv       the same list as CSV (wallet.ExportCSV: formula-safe)
//	GET  /wallet/transactions/{id}      one transaction: its status timeline, the reason it failed
//	GET  /wallet/send                   the send form (payee, amount, currency, note)
//	POST /wallet/send                   → the confirmation page: amount, fee, total, the payee's masked name
//	POST /wallet/send/confirm           sends (or goes back to the form); a code may be needed
//	GET  /wallet/send/{id}              the result
//	GET  /wallet/send/{id}/code         the code page (SMS or authenticator, as the account's policy says)
//	POST /wallet/send/{id}/code|resend  confirm with the code; send a new SMS code
//	GET  /wallet/deposit                the deposit form (a verified card, an amount)
//	POST /wallet/deposit                → the confirmation page with the fee
//	POST /wallet/deposit/confirm        charges the card; 3-D Secure sends the browser to the bank's page
//	GET  /wallet/deposits/return        where 3-D Secure comes back to
//	GET  /wallet/deposits/{id}          the deposit's state: pending (the page refreshes itself), credited, failed
//
// Every GET only reads; every change is a POST, which CrossOrigin
// protects (SES-09). Money moves only from a confirmation page that
// repeats the amount, the fee and the payee, under an idempotency key the
// page carries: submitting it twice sends the money once.

// Page templates of the wallet.
const (
	pageWalletHome           = "wallet_home.html"
	pageWalletHistory        = "wallet_history.html"
	pageWalletTxn            = "wallet_txn.html"
	pageWalletSend           = "wallet_send.html"
	pageWalletSendConfirm    = "wallet_send_confirm.html"
	pageWalletSendCode       = "wallet_send_code.html"
	pageWalletSendResult     = "wallet_send_result.html"
	pageWalletDeposit        = "wallet_deposit.html"
	pageWalletDepositConfirm = "wallet_deposit_confirm.html"
	pageWalletDepositStatus  = "wallet_deposit_status.html"
)

var walletPages = []string{pageWalletHome, pageWalletHistory, pageWalletTxn, pageWalletSend, pageWalletSendConfirm,
	pageWalletSendCode, pageWalletSendResult, pageWalletDeposit, pageWalletDepositConfirm, pageWalletDepositStatus}

// Routes of the other wallet operations, whose pages other parts add: the
// home page links to them once they are registered, and shows a
// placeholder until then.
const (
	walletExchangeRoute = "GET /wallet/exchange"
	walletWithdrawRoute = "GET /wallet/withdraw"
)

// walletErrorCodes are the error codes the wallet pages translate
// ("walletui.error.<code>").
var walletErrorCodes = []string{
	identity.EPayeeNotFound, wallet.ESelfTransfer, wallet.ECurrencyNotSupported, wallet.EWalletNotEmpty,
	wallet.EAmountBelowFee, wallet.EDepositsUnavailable, wallet.EAuthExpired, wallet.ETooManyAttempts,
	wallet.EInsufficientFunds, wallet.EIdempotencyKeyReused, identity.EAccountFrozen, identity.EHoldActive,
	identity.EContactUnverified, identity.EInvalidCode, paymethod.ENotVerified, paymethod.ECardExpired,
	paymethod.EMethodDeleted, "fee_not_configured", "amount_overflow", "too_many_decimals", "negative_amount", "invalid_amount",
}

// walletMessageIDs are the ids the wallet pages use from Go code; New
// checks that they exist.
var walletMessageIDs = func() []string {
	out := []string{
		"walletui.home.page_title", "walletui.history.page_title", "walletui.txn.page_title", "walletui.send.page_title",
		"walletui.send.confirm.page_title", "walletui.send.code.page_title", "walletui.send.result.page_title",
		"walletui.deposit.page_title", "walletui.deposit.confirm.page_title", "walletui.deposit.status.page_title",
		"walletui.notice.opened", "walletui.notice.hidden", "walletui.notice.shown", "walletui.notice.code_sent",
		"walletui.send.submit", "walletui.send.confirm_code", "walletui.deposit.submit",
		"walletui.error.amount", "walletui.error.amount_required", "walletui.error.amount_positive",
		"walletui.error.amount_decimals", "walletui.error.currency", "walletui.error.payee", "walletui.error.note",
		"walletui.error.card", "walletui.error.code_required", "walletui.error.date", "walletui.error.date_order",
		"walletui.error.filter", "walletui.error.generic", "walletui.error.stale_form",
		"walletui.code.sms_hint", "walletui.code.totp_hint", "walletui.error.txn_not_found", "walletui.send.confirm.code_sms",
		"walletui.send.confirm.code_totp", "walletui.filter.any_type", "walletui.filter.any_status", "walletui.filter.any_currency",
		"walletui.action.send", "walletui.action.deposit", "walletui.action.exchange", "walletui.action.withdraw", "walletui.action.history",
		"walletui.timeline.created",
	}
	for _, t := range wallet.Types {
		out = append(out, "walletui.type."+string(t))
	}
	for _, st := range wallet.Statuses {
		out = append(out, "walletui.status."+string(st), "walletui.timeline."+string(st))
	}
	for _, c := range walletErrorCodes {
		out = append(out, "walletui.error."+c)
	}
	return out
}()

// walletState is the wallet pages' part of the Server (nil without
// Config.Wallet).
type walletState struct {
	svc *wallet.Service
	// methods lists the cards to deposit from (nil: no deposits).
	methods *paymethod.Service

	routesOnce sync.Once
	routes     map[string]bool // "METHOD pattern" of every page route
}

// initWallet parses the wallet pages when the Server has the service.
func (s *Server) initWallet(svc *wallet.Service, methods *paymethod.Service) error {
	if svc == nil {
		return nil
	}
	if s.id == nil {
		return errors.New("web: Config.Wallet needs Config.Identity")
	}
	for _, name := range walletPages {
		t, err := template.New(name).Option("missingkey=error").
			ParseFS(templateFS, "templates/layout.html", "templates/partials.html", "templates/wallet_partials.html", "templates/"+name)
		if err != nil {
			return fmt.Errorf("web: parse %s: %w", name, err)
		}
		s.pages[name] = t
	}
	var missing []string
	for _, id := range walletMessageIDs {
		if !s.cat.Has(id) {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("web: message ids missing from the catalog: %v", missing)
	}
	s.wallet = &walletState{svc: svc, methods: methods}
	return nil
}

// walletRoutes lists the wallet pages (none without the service).
func (s *Server) walletRoutes() []Route {
	if s.wallet == nil {
		return nil
	}
	get := func(pattern string, h func(http.ResponseWriter, *http.Request)) Route {
		return Route{http.MethodGet, pattern, s.account(h)}
	}
	post := func(pattern string, h func(http.ResponseWriter, *http.Request)) Route {
		return Route{http.MethodPost, pattern, s.account(h)}
	}
	return []Route{
		get("/wallet", s.handleWalletHome),
		post("/wallet/open", s.handleWalletOpen),
		post("/wallet/hide", s.handleWalletHide(true)),
		post("/wallet/show", s.handleWalletHide(false)),
		get("/wallet/transactions", s.handleWalletHistory),
		get("/wallet/transactions.csv", s.handleWalletCSV),
		get("/wallet/transactions/{id}", s.handleWalletTxn),
		get("/wallet/send", s.handleSendPage),
		post("/wallet/send", s.handleSendReview),
		post("/wallet/send/confirm", s.handleSendConfirm),
		get("/wallet/send/{id}", s.handleSendResult),
		get("/wallet/send/{id}/code", s.handleSendCodePage),
		post("/wallet/send/{id}/code", s.handleSendCode),
		post("/wallet/send/{id}/resend", s.handleSendResend),
		get("/wallet/deposit", s.handleDepositPage),
		post("/wallet/deposit", s.handleDepositReview),
		post("/wallet/deposit/confirm", s.handleDepositConfirm),
		get("/wallet/deposits/return", s.handleDepositReturn),
		get("/wallet/deposits/{id}", s.handleDepositStatus),
	}
}

// hasRoute reports whether the Server has a page route ("GET /wallet/exchange").
func (s *Server) hasRoute(key string) bool {
	w := s.wallet
	w.routesOnce.Do(func() {
		w.routes = map[string]bool{}
		for _, rt := range s.Routes() {
			w.routes[rt.Method+" "+rt.Pattern] = true
		}
	})
	return w.routes[key]
}

// ---- Views ----

// Money formats an amount for the page's language: ¥1,234.50, US$1,234.50.
func (p *page) Money(a money.Amount) string {
	if a.Currency == "" {
		return ""
	}
	return a.Format(string(p.Lang))
}

// Date formats a day for the page's language: 25 Nov 2026 or 2026年11月25日.
// LevelName is a verification level's name in the page's language: the
// catalog's name for the built-in levels ("walletui.level.<name>"), else
// the name the level is configured with.
func (p *page) LevelName(name string) string {
	if id := "walletui.level." + name; p.s.cat.Has(id) {
		return p.T(id)
	}
	return name
}

func (p *page) Date(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	t = t.UTC()
	if p.Lang == i18n.ZhCN {
		return t.Format("2006年1月2日")
	}
	return t.Format("2 Jan 2006")
}

// walletView is one wallet on the home page.
type walletView struct {
	Currency   string
	Ref        string // wal_…
	Available  string
	Posted     string
	PendingIn  string
	PendingOut string
	HasIn      bool
	HasOut     bool
	Empty      bool
}

func (p *page) walletView(w *wallet.Wallet) walletView {
	return walletView{
		Currency: string(w.Currency), Ref: w.Ref(), Available: p.Money(w.Available), Posted: p.Money(w.Posted),
		PendingIn: p.Money(w.PendingIn), PendingOut: p.Money(w.PendingOut), HasIn: w.PendingIn.Minor != 0, HasOut: w.PendingOut.Minor != 0,
		Empty: w.Empty(),
	}
}

// txnView is a transaction as the pages show it.
type txnView struct {
	ID          string // txn_…
	Type        string
	TypeLabel   string
	Status      string
	StatusLabel string
	StatusClass string // the badge's class: the same colour for a status everywhere
	Direction   string // in, out, exchange
	// Signed is what the wallet gained or lost, with its sign (+¥98.00,
	// −¥500.00); Amount, Fee and Total are unsigned.
	Signed       string
	Amount       string
	Fee          string
	HasFee       bool
	Total        string
	Other        string // the other side of an exchange or remittance
	Rate         string
	Counterparty string
	Note         string
	Method       string // the card of a deposit
	Failure      string // why it failed, translated
	AuthMethod   string
	ActionURL    string
	Created      time.Time
	Updated      time.Time
	Expires      time.Time
	Final        bool
}

// Href is the transaction's page.
func (v txnView) Href() string { return "/wallet/transactions/" + v.ID }

// statusClass gives each status its badge (UI: the same colours everywhere).
func statusClass(st wallet.Status) string {
	switch st {
	case wallet.StatusCompleted:
		return "badge badge-ok"
	case wallet.StatusFailed, wallet.StatusRejected, wallet.StatusReversed:
		return "badge badge-danger"
	}
	return "badge badge-warn"
}

// MethodLabel names a payment method's stored label in the page's
// language ("alipay j•••@example.com" → "支付宝 j•••@example.com").
func (p *page) MethodLabel(label string) string {
	return paymethod.DisplayLabel(p.s.cat, p.Lang, label)
}

func (s *Server) txnView(p *page, t *wallet.Txn) txnView {
	v := txnView{
		ID: t.Ref(), Type: string(t.Type), TypeLabel: p.T("walletui.type." + string(t.Type)),
		Status: string(t.Status), StatusLabel: p.T("walletui.status." + string(t.Status)), StatusClass: statusClass(t.Status),
		Direction: t.Direction(), Amount: p.Money(t.Amount), Fee: p.Money(t.Fee), HasFee: t.Fee.Minor != 0,
		Total: p.Money(t.Total()), Rate: t.Rate, Counterparty: t.Counterparty, Note: t.Note, AuthMethod: t.AuthMethod,
		ActionURL: t.ActionURL, Created: t.CreatedAt, Updated: t.UpdatedAt, Expires: t.ExpiresAt, Final: t.Status.Final(),
	}
	if t.Type == wallet.TypeDeposit || t.Type == wallet.TypeWithdrawal {
		// The card or account money came from or went to, named.
		v.Counterparty = p.MethodLabel(t.Counterparty)
	}
	if t.Other.Currency != "" {
		v.Other = p.Money(t.Other)
	}
	switch v.Direction {
	case "in":
		v.Signed = "+" + v.Total
	case "out":
		v.Signed = "−" + v.Total
	default:
		v.Signed = v.Amount
		if v.Other != "" { // an exchange: what was sold, and what it bought
			v.Signed += " → " + v.Other
		}
	}
	v.Failure = s.wallet.svc.FailureText(t, p.Lang)
	return v
}

// ---- Helpers ----

// walletPage starts a page of the wallet area.
func (s *Server) walletPage(r *http.Request, titleID string) *page {
	return s.settingsPage(r, titleID)
}

// newWalletKey returns a fresh idempotency key for a confirmation form.
func newWalletKey() string {
	var b [18]byte
	rand.Read(b[:])
	return "web_" + base64.RawURLEncoding.EncodeToString(b[:])
}

// validWalletKey accepts the keys newWalletKey makes (a form value is
// input like any other).
func validWalletKey(k string) bool {
	rest, ok := strings.CutPrefix(k, "web_")
	return ok && len(rest) == 24 && validToken(rest)
}

// parseAmount reads an amount typed in a form: digits with an optional
// point and at most the currency's decimals ("500", "500.5", "500.50").
// Spaces around it are ignored; anything else (thousands separators, a
// sign, an exponent) is refused rather than guessed at.
func (p *page) parseAmount(f *form, field, value string, c money.Currency) (money.Amount, bool) {
	value = strings.TrimSpace(value)
	if value == "" {
		f.set(field, p.T("walletui.error.amount_required"))
		return money.Amount{}, false
	}
	if !c.Valid() {
		return money.Amount{}, false // the currency's own error says it
	}
	a, err := money.Parse(value, c)
	switch code(err) {
	case "":
		if a.Minor <= 0 {
			f.set(field, p.T("walletui.error.amount_positive"))
			return money.Amount{}, false
		}
		return a, true
	case money.CodeTooManyDecimals:
		f.set(field, p.T("walletui.error.amount_decimals", "Currency", string(c), "Digits", c.Exponent()))
	case money.CodeNegativeAmount:
		f.set(field, p.T("walletui.error.amount_positive"))
	default:
		f.set(field, p.T("walletui.error.amount"))
	}
	return money.Amount{}, false
}

// parseCurrency reads a currency chosen in a form: one the wallet holds.
func (s *Server) parseCurrency(p *page, f *form, field, value string) money.Currency {
	c, err := money.ParseCurrency(value)
	if err == nil && s.walletCurrency(c) {
		return c
	}
	f.set(field, p.T("walletui.error.currency"))
	return ""
}

// walletCurrency reports whether customers can hold c.
func (s *Server) walletCurrency(c money.Currency) bool {
	for _, x := range s.wallet.svc.Config().Currencies {
		if x == c {
			return true
		}
	}
	return false
}

// currencyOptions lists the configured currencies for a select.
func (s *Server) currencyOptions() []walletOption {
	var out []walletOption
	for _, c := range s.wallet.svc.Config().Currencies {
		out = append(out, walletOption{Value: string(c), Label: string(c)})
	}
	return out
}

// errorText translates an error of the wallet, identity or payment
// methods for a page: the wallet pages' own text for its code, the
// limit's text for a limit, else the problem's detail, else a generic
// sentence (never the internal message of an unexpected error).
func (s *Server) errorText(p *page, err error) string {
	var le *wallet.LimitError
	if errors.As(err, &le) {
		return le.Text(s.wallet.svc, p.Lang)
	}
	c := code(err)
	for _, id := range []string{"walletui.error." + c, "problem." + c + ".detail"} {
		if c != "" && s.cat.Has(id) {
			return p.T(id)
		}
	}
	return p.T("walletui.error.generic")
}

// walletFieldErrors puts the fields of a validation error on the form,
// each translated by its field (the service's messages are English).
func (s *Server) walletFieldErrors(p *page, f *form, err error, fields map[string]string) {
	for k := range fieldErrors(err) {
		input, ok := fields[k]
		if !ok {
			f.fail(p.T("walletui.error.generic"))
			continue
		}
		id := "walletui.error." + k
		if !s.cat.Has(id) {
			id = "walletui.error.generic"
		}
		f.set(input, p.T(id))
	}
}

// unexpected answers an unexpected error (500, logged) and reports
// whether err was one: codes the pages know are the caller's to show.
func (s *Server) unexpected(w http.ResponseWriter, r *http.Request, err error) bool {
	switch code(err) {
	case okpay.EInternal, "":
		s.internalError(w, r, err)
		return true
	}
	return false
}

// txnFromPath reads the {id} of the request: one of a's transactions, or
// answers 404 (another customer's transaction is not found either).
func (s *Server) txnFromPath(w http.ResponseWriter, r *http.Request, a *signedIn) (*wallet.Txn, bool) {
	id, ok := wallet.ParseTxnRef(r.PathValue("id"))
	if ok {
		t, err := s.wallet.svc.FindTransaction(r.Context(), a.user.ID, id)
		if err == nil {
			return t, true
		}
		if code(err) != okpay.ENotFound {
			s.internalError(w, r, err)
			return nil, false
		}
	}
	s.renderAccountError(w, r, http.StatusNotFound, "notfound.title", "walletui.error.txn_not_found")
	return nil, false
}

// ---- Home ----

// walletLink is an action of the home page; an empty Href is a
// placeholder for a page that does not exist yet.
type walletLink struct {
	ID    string
	Href  string
	Label string
}

type walletHomeData struct {
	Wallets  []walletView
	Hidden   []walletView
	Openable []walletOption
	Recent   []txnView
	Frozen   bool
	Actions  []walletLink
	Limits   []limitView
	Level    string
}

// limitView is the money-out limit of one currency.
type limitView struct {
	Currency       string
	Daily, Monthly string
	UsedToday      string
	UsedMonth      string
}

func (s *Server) handleWalletHome(w http.ResponseWriter, r *http.Request) {
	a, ok := s.requireSignIn(w, r)
	if !ok {
		return
	}
	p := s.walletPage(r, "walletui.home.page_title")
	q := r.URL.Query()
	if c, err := money.ParseCurrency(q.Get("opened")); err == nil {
		p.Notice = p.T("walletui.notice.opened", "Currency", string(c))
	} else if c, err := money.ParseCurrency(q.Get("hidden")); err == nil {
		p.Notice = p.T("walletui.notice.hidden", "Currency", string(c))
	} else if c, err := money.ParseCurrency(q.Get("shown")); err == nil {
		p.Notice = p.T("walletui.notice.shown", "Currency", string(c))
	}
	s.renderWalletHome(w, r, a, p)
}

func (s *Server) renderWalletHome(w http.ResponseWriter, r *http.Request, a *signedIn, p *page) {
	ctx := r.Context()
	svc := s.wallet.svc
	ws, err := svc.Wallets(ctx, a.user.ID)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	d := walletHomeData{Frozen: a.user.Frozen}
	have := map[money.Currency]bool{}
	for _, x := range ws {
		have[x.Currency] = true
		if x.Shown() {
			d.Wallets = append(d.Wallets, p.walletView(x))
		} else {
			d.Hidden = append(d.Hidden, p.walletView(x))
		}
	}
	for _, c := range svc.Config().Currencies {
		if !have[c] {
			d.Openable = append(d.Openable, walletOption{Value: string(c), Label: string(c)})
		}
	}
	page, err := svc.FindTransactions(ctx, a.user.ID, wallet.Filter{Limit: 10})
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	for _, t := range page.Txns {
		d.Recent = append(d.Recent, s.txnView(p, t))
	}
	lim, err := svc.Limits(ctx, a.user.ID)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	d.Level = p.LevelName(lim.LevelName)
	for _, l := range lim.Amounts {
		if have[l.Currency] {
			d.Limits = append(d.Limits, limitView{Currency: string(l.Currency), Daily: p.Money(l.Daily), Monthly: p.Money(l.Monthly),
				UsedToday: p.Money(l.UsedToday), UsedMonth: p.Money(l.UsedThisMonth)})
		}
	}
	d.Actions = []walletLink{
		{ID: "send", Href: "/wallet/send", Label: p.T("walletui.action.send")},
		{ID: "deposit", Label: p.T("walletui.action.deposit")},
		{ID: "exchange", Label: p.T("walletui.action.exchange")},
		{ID: "withdraw", Label: p.T("walletui.action.withdraw")},
		{ID: "history", Href: "/wallet/transactions", Label: p.T("walletui.action.history")},
	}
	if s.wallet.methods != nil {
		d.Actions[1].Href = "/wallet/deposit"
	}
	if s.hasRoute(walletExchangeRoute) {
		d.Actions[2].Href = "/wallet/exchange"
	}
	if s.hasRoute(walletWithdrawRoute) {
		d.Actions[3].Href = "/wallet/withdraw"
	}
	if s.hasRoute(walletRemitRoute) { // wallet_remit.go
		d.Actions = append(d.Actions[:3:3], append([]walletLink{{ID: "remit", Href: "/wallet/remit", Label: p.T("exchangeui.action.remit")}}, d.Actions[3:]...)...)
	}
	p.Data = d
	s.render(w, r, pageWalletHome, p)
}

func (s *Server) handleWalletOpen(w http.ResponseWriter, r *http.Request) {
	a, ok := s.requireSignIn(w, r)
	if !ok {
		return
	}
	p := s.walletPage(r, "walletui.home.page_title")
	f := newForm()
	c := s.parseCurrency(p, f, "open-currency", r.PostForm.Get("currency"))
	if c != "" {
		_, err := s.wallet.svc.OpenWallet(r.Context(), a.user.ID, c)
		if err == nil {
			redirect(w, r, "/wallet?opened="+string(c))
			return
		}
		if s.unexpected(w, r, err) {
			return
		}
		f.fail(s.errorText(p, err))
	}
	p.Form, p.Status = f, http.StatusUnprocessableEntity
	s.renderWalletHome(w, r, a, p)
}

// handleWalletHide hides an empty wallet (hide) or shows a hidden one.
func (s *Server) handleWalletHide(hide bool) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		a, ok := s.requireSignIn(w, r)
		if !ok {
			return
		}
		p := s.walletPage(r, "walletui.home.page_title")
		f := newForm()
		c := s.parseCurrency(p, f, "open-currency", r.PostForm.Get("currency"))
		if c != "" {
			var err error
			if hide {
				err = s.wallet.svc.HideWallet(r.Context(), a.user.ID, c)
			} else {
				err = s.wallet.svc.ShowWallet(r.Context(), a.user.ID, c)
			}
			if err == nil {
				if hide {
					redirect(w, r, "/wallet?hidden="+string(c))
				} else {
					redirect(w, r, "/wallet?shown="+string(c))
				}
				return
			}
			if s.unexpected(w, r, err) {
				return
			}
			if code(err) == okpay.ENotFound {
				f.fail(p.T("walletui.error.currency"))
			} else {
				f.fail(s.errorText(p, err))
			}
		}
		p.Form, p.Status = f, http.StatusUnprocessableEntity
		s.renderWalletHome(w, r, a, p)
	}
}

// txnList is the data of the "wallet_txns" template.
type txnList struct {
	P    *page
	Txns []txnView
}

// TxnList pairs a list of transactions with the page, for "wallet_txns".
func (p *page) TxnList(ts []txnView) txnList { return txnList{P: p, Txns: ts} }

// walletOption is a choice of a select on the wallet pages.
type walletOption struct{ Value, Label string }
