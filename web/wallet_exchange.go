package web

import (
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/fx"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/wallet"
)

// Currency exchange between the customer's own wallets, and (wallet_remit.go)
// cross-border remittance to another customer, over wallet.Exchanger.
//
//	GET  /wallet/exchange               the form: from, to, amount, and which amount is fixed (sell or buy)
//	POST /wallet/exchange               → the quote: rate, market rate, spread, fee, what you pay and get, and how long it is valid
//	POST /wallet/exchange/confirm       executes the quote (or goes back to the form, or asks for a new quote)
//	GET  /wallet/exchange/{id}          the result, with both balances
//	GET  /wallet/remit                  the form: payee, the currency sent and the one received, amount, side, note
//	POST /wallet/remit                  → the confirmation: every fee, the rate, what the recipient gets, whether a code follows
//	POST /wallet/remit/confirm          sends; a code may be needed
//	GET  /wallet/remit/{id}             the result
//	GET  /wallet/remit/{id}/code        the code page (SMS or authenticator)
//	POST /wallet/remit/{id}/code|resend confirm with the code; send a new SMS code
//
// A quote is valid for a short time (fx's QuoteTTL, a minute by default):
// the page counts it down (exchange.js; without JavaScript it states the
// time), and a quote confirmed too late is not an error page: nothing
// moved, so the page says so and shows a new quote at the current rate to
// confirm again. A remittance that waits for its code holds its quote
// for its own window (wallet.Config.AuthWindow), so typing the code never
// races the quote's minute.

// Page templates of exchange and remittance.
const (
	pageExchange        = "wallet_exchange.html"
	pageExchangeQuote   = "wallet_exchange_quote.html"
	pageExchangeResult  = "wallet_exchange_result.html"
	pageRemit           = "wallet_remit.html"
	pageRemitConfirm    = "wallet_remit_confirm.html"
	pageRemitCode       = "wallet_remit_code.html"
	pageRemitResult     = "wallet_remit_result.html"
	exchangePartialsTpl = "wallet_exchange_partials.html"
)

var exchangePages = []string{pageExchange, pageExchangeQuote, pageExchangeResult, pageRemit, pageRemitConfirm, pageRemitCode, pageRemitResult}

// walletRemitRoute is the remittance form's route; the wallet home page
// links to it.
const walletRemitRoute = "GET /wallet/remit"

// exchangeErrorCodes are the codes these pages translate themselves
// ("exchangeui.error.<code>"); the others go through errorText.
var exchangeErrorCodes = []string{fx.EQuoteUsed, fx.ERateStale, fx.ERateUnavailable, fx.EAmountTooSmall}

// exchangeMessageIDs are the ids these pages use from Go code.
var exchangeMessageIDs = func() []string {
	out := []string{
		"exchangeui.exchange.page_title", "exchangeui.quote.page_title", "exchangeui.exchange.result.page_title",
		"exchangeui.remit.page_title", "exchangeui.remit.confirm.page_title", "exchangeui.remit.code.page_title", "exchangeui.remit.result.page_title",
		"exchangeui.exchange.submit", "exchangeui.remit.submit", "exchangeui.remit.confirm_code", "exchangeui.notice.requoted",
		"exchangeui.error.same_currency", "exchangeui.error.side", "exchangeui.remit.code_sms", "exchangeui.remit.code_totp",
		"exchangeui.action.remit", "exchange.quote.spread", "exchange.quote.total", "exchange.quote.expires",
	}
	for _, c := range exchangeErrorCodes {
		out = append(out, "exchangeui.error."+c)
	}
	return out
}()

// exchangeFields maps the service's field names to the form's inputs.
var exchangeFields = map[string]string{"amount": "amount", "side": "side-sell", "base": "from", "quote": "to",
	"payee": "payee", "payee_kind": "payee", "note": "note"}

// initExchange parses the exchange and remittance pages when the Server
// has the exchanger (it needs the wallet pages).
func (s *Server) initExchange(x *wallet.Exchanger) error {
	if x == nil {
		return nil
	}
	if s.wallet == nil {
		return errors.New("web: Config.Exchange needs Config.Wallet")
	}
	for _, name := range exchangePages {
		t, err := template.New(name).Option("missingkey=error").
			ParseFS(templateFS, "templates/layout.html", "templates/partials.html", "templates/wallet_partials.html",
				"templates/"+exchangePartialsTpl, "templates/"+name)
		if err != nil {
			return fmt.Errorf("web: parse %s: %w", name, err)
		}
		s.pages[name] = t
	}
	var missing []string
	for _, id := range exchangeMessageIDs {
		if !s.cat.Has(id) {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("web: message ids missing from the catalog: %v", missing)
	}
	s.exchange = x
	return nil
}

// exchangeRoutes lists the exchange and remittance pages (none without
// the exchanger).
func (s *Server) exchangeRoutes() []Route {
	if s.exchange == nil {
		return nil
	}
	get := func(pattern string, h func(http.ResponseWriter, *http.Request)) Route {
		return Route{http.MethodGet, pattern, s.account(h)}
	}
	post := func(pattern string, h func(http.ResponseWriter, *http.Request)) Route {
		return Route{http.MethodPost, pattern, s.account(h)}
	}
	return []Route{
		get("/wallet/exchange", s.handleExchangePage),
		post("/wallet/exchange", s.handleExchangeQuote),
		post("/wallet/exchange/confirm", s.handleExchangeConfirm),
		get("/wallet/exchange/{id}", s.handleExchangeResult),
		get("/wallet/remit", s.handleRemitPage),
		post("/wallet/remit", s.handleRemitReview),
		post("/wallet/remit/confirm", s.handleRemitConfirm),
		get("/wallet/remit/{id}", s.handleRemitResult),
		get("/wallet/remit/{id}/code", s.handleRemitCodePage),
		post("/wallet/remit/{id}/code", s.handleRemitCode),
		post("/wallet/remit/{id}/resend", s.handleRemitResend),
	}
}

// ---- Views ----

// quoteView is a quote as the confirmation pages show it.
type quoteView struct {
	ID            string // fxq_…
	From, To      string
	Sell, Buy     string
	Fee           string
	HasFee        bool
	Total         string
	Rate          string // 1 USD = 0.796 EUR
	MidRate       string
	Spread        string
	SpreadPercent string // 0.5
	RateAsOf      time.Time
	Expires       time.Time
	// ExpiresText is the expiry to the second, in the page's language.
	ExpiresText string
	// Seconds is how long the quote is still valid, from the server's
	// clock (the page counts down from it, so a wrong clock in the
	// browser does not matter).
	Seconds int
}

func (s *Server) quoteView(p *page, q *fx.Quote, fee, total money.Amount) quoteView {
	left := int(q.ExpiresAt.Sub(s.id.Clock.Now()) / time.Second)
	return quoteView{
		ID: q.Ref(), From: string(q.From), To: string(q.To), Sell: p.Money(q.Sell), Buy: p.Money(q.Buy),
		Fee: p.Money(fee), HasFee: fee.Minor != 0, Total: p.Money(total),
		Rate: q.Rate.Describe(), MidRate: q.MidRate.Describe(), Spread: p.Money(q.Spread), SpreadPercent: bpPercent(q.SpreadBP),
		RateAsOf: q.RateAsOf, Expires: q.ExpiresAt, ExpiresText: p.clockTime(q.ExpiresAt), Seconds: max(left, 0),
	}
}

// Countdown pairs a quote with its page, for the "fx_countdown" template.
func (p *page) Countdown(q quoteView) struct {
	P *page
	Q quoteView
} {
	return struct {
		P *page
		Q quoteView
	}{p, q}
}

// clockTime formats t to the second in the reader's time zone:
// "03:45:11 UTC+8".
func (p *page) clockTime(t time.Time) string {
	t = t.In(p.zone())
	return t.Format("15:04:05") + " " + utcOffset(t)
}

// bpPercent writes basis points as a percentage: 50 → "0.5", 125 → "1.25".
func bpPercent(bp int) string {
	s := strconv.Itoa(bp/100) + "." + fmt.Sprintf("%02d", bp%100)
	return strings.TrimSuffix(strings.TrimRight(s, "0"), ".")
}

// txnRate is the rate of an exchange or remittance for people.
func txnRate(t *wallet.Txn) string {
	if r, ok := t.FXRate(); ok {
		return r.Describe()
	}
	return ""
}

// ---- The exchange form ----

type exchangeFormData struct {
	Currencies []walletOption
	From, To   string
	Side       string
	Balances   []walletView
	Frozen     bool
	// Remit picks the remittance form's labels (wallet_remit.go).
	Remit bool
}

// exchangeInput is what the exchange form carries.
type exchangeInput struct {
	from, to money.Currency
	side     fx.Side
	amount   money.Amount
}

// values are the form's fields as the quote page sends them again.
func (in exchangeInput) values() map[string]string {
	return map[string]string{"from": string(in.from), "to": string(in.to), "side": string(in.side), "amount": in.amount.String()}
}

func (s *Server) exchangeFormPage(r *http.Request, a *signedIn, f *form) (*page, error) {
	p := s.walletPage(r, "exchangeui.exchange.page_title")
	p.Form = f
	cs := s.wallet.svc.Config().Currencies
	d := exchangeFormData{Currencies: s.currencyOptions(), From: f.Value("from"), To: f.Value("to"), Side: f.Value("side"), Frozen: a.user.Frozen}
	q := r.URL.Query()
	if d.From == "" {
		d.From = q.Get("from")
	}
	if d.To == "" {
		d.To = q.Get("to")
	}
	ws, err := s.wallet.svc.Wallets(r.Context(), a.user.ID)
	if err != nil {
		return nil, err
	}
	for _, w := range ws {
		if w.Shown() {
			d.Balances = append(d.Balances, p.walletView(w))
		}
	}
	// Defaults: sell from the first wallet with money, into another
	// currency.
	if c, err := money.ParseCurrency(d.From); err != nil || !s.walletCurrency(c) {
		d.From = string(cs[0])
		for _, w := range ws {
			if w.Available.Minor > 0 {
				d.From = string(w.Currency)
				break
			}
		}
	}
	if c, err := money.ParseCurrency(d.To); err != nil || !s.walletCurrency(c) || d.To == d.From {
		for _, c := range cs {
			if string(c) != d.From {
				d.To = string(c)
				break
			}
		}
	}
	if d.Side != string(fx.SideBuy) {
		d.Side = string(fx.SideSell)
	}
	p.Data = d
	return p, nil
}

func (s *Server) renderExchangeForm(w http.ResponseWriter, r *http.Request, a *signedIn, f *form, status int) {
	p, err := s.exchangeFormPage(r, a, f)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	p.Status = status
	s.render(w, r, pageExchange, p)
}

func (s *Server) handleExchangePage(w http.ResponseWriter, r *http.Request) {
	a, ok := s.requireSignIn(w, r)
	if !ok {
		return
	}
	s.renderExchangeForm(w, r, a, nil, http.StatusOK)
}

// readPricing reads from, to, side and amount of the exchange and
// remittance forms, putting what is wrong on f.
func (s *Server) readPricing(p *page, f *form, r *http.Request) (exchangeInput, bool) {
	var in exchangeInput
	in.from = s.parseCurrency(p, f, "from", r.PostForm.Get("from"))
	in.to = s.parseCurrency(p, f, "to", r.PostForm.Get("to"))
	if in.from != "" && in.from == in.to {
		f.set("to", p.T("exchangeui.error.same_currency"))
	}
	switch r.PostForm.Get("side") {
	case "", string(fx.SideSell):
		in.side = fx.SideSell
	case string(fx.SideBuy):
		in.side = fx.SideBuy
	default:
		f.set("side-sell", p.T("exchangeui.error.side"))
	}
	fixed := in.from
	if in.side == fx.SideBuy {
		fixed = in.to
	}
	if fixed != "" && in.side != "" {
		in.amount, _ = p.parseAmount(f, "amount", r.PostForm.Get("amount"), fixed)
	} else if strings.TrimSpace(r.PostForm.Get("amount")) == "" {
		f.set("amount", p.T("walletui.error.amount_required"))
	}
	return in, !f.Any()
}

// quoteFailed shows err on the form f belongs to (exchange or remittance),
// or answers an unexpected error itself. It reports whether it answered.
func (s *Server) quoteFailed(w http.ResponseWriter, r *http.Request, p *page, f *form, err error) bool {
	if s.unexpected(w, r, err) {
		return true
	}
	p.Status = http.StatusUnprocessableEntity
	switch c := code(err); c {
	case okpay.EInvalid:
		s.walletFieldErrors(p, f, err, exchangeFields)
	case identity.EPayeeNotFound, wallet.ESelfTransfer:
		f.set("payee", s.errorText(p, err))
	case wallet.ECurrencyNotSupported:
		f.set("to", p.T("walletui.error.currency"))
	case fx.EAmountTooSmall, money.CodeTooManyDecimals, money.CodeInvalidAmount, money.CodeNegativeAmount, money.CodeAmountOverflow:
		f.set("amount", s.fxErrorText(p, err))
	case fx.ERateStale, fx.ERateUnavailable:
		p.Status = http.StatusServiceUnavailable
		f.fail(s.fxErrorText(p, err))
	default:
		if p.rateLimited(err) {
			break
		}
		if c == identity.EAccountFrozen || c == identity.EHoldActive || c == identity.EContactUnverified {
			p.Status = http.StatusForbidden
		}
		f.fail(s.fxErrorText(p, err))
	}
	return false
}

// fxErrorText translates an error of an exchange or remittance.
func (s *Server) fxErrorText(p *page, err error) string {
	if id := "exchangeui.error." + code(err); code(err) != "" && s.cat.Has(id) {
		return p.T(id)
	}
	return s.errorText(p, err)
}

// ---- The quote ----

type exchangeQuoteData struct {
	Q      quoteView
	Values map[string]string
	Key    string
	Submit string
}

// quoteExchange prices in and renders the quote page with status and
// notice; errors go back to the form.
func (s *Server) quoteExchange(w http.ResponseWriter, r *http.Request, a *signedIn, in exchangeInput, f *form, status int, notice string) {
	q, err := s.exchange.QuoteExchange(r.Context(), a.user.ID, in.from, in.to, in.amount, in.side)
	if err != nil {
		p, perr := s.exchangeFormPage(r, a, f)
		if perr != nil {
			s.internalError(w, r, perr)
			return
		}
		if !s.quoteFailed(w, r, p, f, err) {
			s.render(w, r, pageExchange, p)
		}
		return
	}
	p := s.walletPage(r, "exchangeui.quote.page_title")
	p.Status, p.Notice = status, notice
	p.Data = exchangeQuoteData{
		Q: s.quoteView(p, q.Quote, q.Fee, q.Total), Values: in.values(), Key: newWalletKey(),
		Submit: p.T("exchangeui.exchange.submit", "Sell", p.Money(q.Total), "Buy", p.Money(q.Buy)),
	}
	s.render(w, r, pageExchangeQuote, p)
}

// handleExchangeQuote checks the form and shows the quote.
func (s *Server) handleExchangeQuote(w http.ResponseWriter, r *http.Request) {
	a, ok := s.requireSignIn(w, r)
	if !ok {
		return
	}
	p := s.walletPage(r, "exchangeui.quote.page_title")
	f := newForm().keep(r, "from", "to", "amount", "side")
	in, ok := s.readPricing(p, f, r)
	if !ok {
		s.renderExchangeForm(w, r, a, f, http.StatusUnprocessableEntity)
		return
	}
	s.quoteExchange(w, r, a, in, f, http.StatusOK, "")
}

// handleExchangeConfirm executes the quote confirmed on the quote page;
// or goes back to the form (edit), or asks for a new quote (requote: the
// page's countdown offers it when the quote ran out).
func (s *Server) handleExchangeConfirm(w http.ResponseWriter, r *http.Request) {
	a, ok := s.requireSignIn(w, r)
	if !ok {
		return
	}
	p := s.walletPage(r, "exchangeui.exchange.page_title")
	f := newForm().keep(r, "from", "to", "amount", "side")
	in, ok := s.readPricing(p, f, r)
	st := quoteStep{what: "exchange", page: pageExchange,
		form: func(w http.ResponseWriter, status int) { s.renderExchangeForm(w, r, a, f, status) },
		requote: func(w http.ResponseWriter, status int, notice string) {
			s.quoteExchange(w, r, a, in, f, status, notice)
		},
		formPage: func() (*page, error) { return s.exchangeFormPage(r, a, f) }}
	key, quoteID, ok := st.confirmedQuote(w, r, p, f, ok)
	if !ok {
		return
	}
	res, err := s.exchange.Exchange(r.Context(), wallet.ExchangeInput{UserID: a.user.ID, QuoteID: quoteID, Key: key, Meta: s.meta(w, r)})
	if res != nil && res.Txn != nil {
		// Completed, or refused at execution (recorded as failed, with
		// the reason on the result page).
		redirect(w, r, "/wallet/exchange/"+res.Txn.Ref())
		return
	}
	s.quoteExecFailed(w, r, st, p, f, err)
}

// ---- The result ----

type exchangeResultData struct {
	T        txnView
	Rate     string
	Balances []walletView // the two wallets, now
}

func (s *Server) handleExchangeResult(w http.ResponseWriter, r *http.Request) {
	a, ok := s.requireSignIn(w, r)
	if !ok {
		return
	}
	t, ok := s.txnFromPath(w, r, a)
	if !ok {
		return
	}
	if t.Type != wallet.TypeExchange {
		s.renderAccountError(w, r, http.StatusNotFound, "notfound.title", "walletui.error.txn_not_found")
		return
	}
	p := s.walletPage(r, "exchangeui.exchange.result.page_title")
	d := exchangeResultData{T: s.txnView(p, t), Rate: txnRate(t)}
	for _, c := range []money.Currency{t.Amount.Currency, t.Other.Currency} {
		wl, err := s.wallet.svc.FindWallet(r.Context(), a.user.ID, c)
		if err == nil {
			d.Balances = append(d.Balances, p.walletView(wl))
		} else if code(err) != okpay.ENotFound {
			s.internalError(w, r, err)
			return
		}
	}
	p.Data = d
	s.render(w, r, pageExchangeResult, p)
}
