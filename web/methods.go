package web

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/audit"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/paymethod"
	"github.com/okpay/okpay/psp"
)

// The payment-method pages: the description's "change bank card" FAQ
// (add a new card, verify it, delete the old one), and bank accounts and
// external e-wallets for payouts (package paymethod).
//
//	GET  /account/methods                     the list: brand •••• last4, status, payout hold, default
//	GET  /account/methods/cards/new           the card form
//	POST /account/methods/cards               add a card from the provider's token
//	GET  /account/methods/banks/new           the bank account form
//	POST /account/methods/banks               add a bank account (micro-deposits follow)
//	GET  /account/methods/ewallets/new        the e-wallet form
//	POST /account/methods/ewallets            add an e-wallet account (a code follows)
//	GET  /account/methods/{id}                one method: its verification step, default, delete
//	POST /account/methods/{id}/statement-code the 4 digits from the card statement (CRD-05)
//	POST /account/methods/{id}/micro-deposits the two small amounts (CRD-10)
//	POST /account/methods/{id}/ewallet-code   the e-wallet's code
//	POST /account/methods/{id}/default        make it the default
//	POST /account/methods/{id}/delete         delete it (sudo, CRD-08)
//	POST /account/methods/step-up[/sms|/passkey|/passkey/finish]?next=…
//
// The card number never reaches these handlers (CRD-01). The card form
// posts to the provider's token endpoint (Config.CardTokenURL, the
// built-in sandbox's by default): with JavaScript, static/card.js sends
// the number, expiry and security code there as JSON and submits only the
// token it gets back to POST /account/methods/cards; without JavaScript the
// form itself goes to the provider, which sends the browser back to the
// card page with ?card_token=… (or ?card_error=…), where one more click
// adds the card. A form value holding a card number is refused anyway,
// and recorded as a security event.
//
// Adding and deleting a method need a second factor within the sudo window
// (SES-08). The pages carry the same step-up forms as the security page,
// posting to /account/methods/step-up with the page to come back to in
// ?next= (a path under /account/methods only), so the customer confirms
// and lands where they were. A card whose issuer asks for 3-D Secure sends
// the browser to the provider's challenge page, which brings it back to
// the list (?verifying=1); the webhook then marks the card verified.

// Page templates of the payment methods.
const (
	pageMethods      = "methods.html"
	pageMethodAdd    = "methods_add.html"
	pageMethodDetail = "methods_method.html"
)

var methodPages = []string{pageMethods, pageMethodAdd, pageMethodDetail}

// DefaultCardTokenURL is the built-in sandbox's hosted token endpoint.
const DefaultCardTokenURL = "/sandbox/v1/tokens"

// The add forms, by {kind} in their paths.
const (
	addCard    = "card"
	addBank    = "bank_account"
	addEWallet = "ewallet"
)

// methodMessageIDs are the ids the method pages use from Go code; New
// checks that they exist.
var methodMessageIDs = func() []string {
	out := []string{
		"methods.page_title", "methods.detail.page_title", "methods.add.card.page_title", "methods.add.bank_account.page_title",
		"methods.add.ewallet.page_title", "methods.notice.added", "methods.notice.deleted", "methods.notice.default",
		"methods.notice.verifying", "methods.notice.confirmed", "methods.notice.verified", "methods.notice.sms_sent",
		"methods.notice.code_sent", "methods.notice.deposits_sent",
		"methods.step_up.required", "methods.error.token", "methods.error.unavailable", "methods.error.provider",
		"methods.error.currency", "methods.error.code", "methods.error.statement_code", "methods.error.amounts",
		"methods.error.not_found", "methods.error.card_data.title", "methods.error.payout_eligible",
		"methods.card.error.invalid_number", "methods.card.error.invalid_expiry", "methods.card.error.expired_card",
		"methods.card.error.invalid_cvc", "methods.card.error.failed", "methods.card.error.token_required",
		"paymethod.error.iban", "paymethod.error.holder", "paymethod.error.account", "paymethod.error.pan",
		"paymethod.hold_until", "paymethod.attempts_left", "paymethod.expires_at", "paymethod.default",
		"account.error.frozen_read_only",
	}
	for _, k := range []paymethod.Kind{paymethod.KindCard, paymethod.KindBankAccount, paymethod.KindEWallet} {
		out = append(out, "paymethod.kind."+string(k), "methods.add."+string(k)+".title", "methods.add."+string(k)+".lead")
	}
	for _, st := range []paymethod.Status{paymethod.StatusPending, paymethod.StatusRequiresAction, paymethod.StatusAwaitingCode,
		paymethod.StatusVerified, paymethod.StatusFailed, paymethod.StatusDisabled} {
		out = append(out, "paymethod.status."+string(st))
	}
	for _, c := range []string{paymethod.EDuplicateMethod, paymethod.ECardExpired, paymethod.ETooManyMethods, paymethod.ERateLimited,
		paymethod.EMethodInUse, paymethod.EMethodDeleted, paymethod.ENotVerified, paymethod.EInvalidCode, paymethod.ETooManyAttempts,
		paymethod.EVerificationExpired, paymethod.ENoCodeExpected} {
		out = append(out, "paymethod.error."+c)
	}
	for _, f := range []string{paymethod.FailDeclined, paymethod.FailExpired, paymethod.FailTooManyAttempts, paymethod.FailProviderUnavailable} {
		out = append(out, "paymethod.failure."+f)
	}
	return out
}()

// methodsState is the payment-method pages' part of the Server (nil
// without Config.Methods).
type methodsState struct {
	svc      *paymethod.Service
	tokenURL string
}

// initMethods parses the method pages when the Server has the service.
func (s *Server) initMethods(svc *paymethod.Service, tokenURL string) error {
	if svc == nil {
		return nil
	}
	if s.id == nil {
		return errors.New("web: Config.Methods needs Config.Identity")
	}
	if tokenURL == "" {
		tokenURL = DefaultCardTokenURL
	}
	for _, name := range methodPages {
		t, err := template.New(name).Option("missingkey=error").
			ParseFS(templateFS, "templates/layout.html", "templates/partials.html", "templates/methods_partials.html", "templates/"+name)
		if err != nil {
			return fmt.Errorf("web: parse %s: %w", name, err)
		}
		s.pages[name] = t
	}
	var missing []string
	for _, id := range methodMessageIDs {
		if !s.cat.Has(id) {
			missing = append(missing, id)
		}
	}
	for _, p := range svc.EWalletProviders() {
		if id := "paymethod.provider." + p; !s.cat.Has(id) {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("web: message ids missing from the catalog: %v", missing)
	}
	s.methods = &methodsState{svc: svc, tokenURL: tokenURL}
	return nil
}

// methodRoutes lists the payment-method pages (none without the service).
// Every GET only reads; every change is a POST, which CrossOrigin
// protects (SES-09).
func (s *Server) methodRoutes() []Route {
	if s.methods == nil {
		return nil
	}
	get := func(pattern string, h func(http.ResponseWriter, *http.Request)) Route {
		return Route{http.MethodGet, pattern, s.account(h)}
	}
	post := func(pattern string, h func(http.ResponseWriter, *http.Request)) Route {
		return Route{http.MethodPost, pattern, s.account(h)}
	}
	rs := []Route{
		get("/account/methods", s.handleMethods),
		get("/account/methods/cards/new", s.addPage(addCard)),
		post("/account/methods/cards", s.handleAddCard),
		get("/account/methods/banks/new", s.addPage(addBank)),
		post("/account/methods/banks", s.handleAddBank),
		get("/account/methods/ewallets/new", s.addPage(addEWallet)),
		post("/account/methods/ewallets", s.handleAddEWallet),
		get(ewalletCallback, s.handleEWalletCallback),
		get("/account/methods/{id}", s.handleMethod),
		post("/account/methods/{id}/statement-code", s.handleMethodCode(paymethod.VerifyAuthorization)),
		post("/account/methods/{id}/micro-deposits", s.handleMicroDeposits),
		post("/account/methods/{id}/ewallet-code", s.handleMethodCode(paymethod.VerifyEWalletCode)),
		post("/account/methods/{id}/default", s.handleMethodDefault),
		post("/account/methods/{id}/delete", s.handleMethodDelete),
		post("/account/methods/step-up", s.handleMethodStepUp),
		post("/account/methods/step-up/sms", s.handleMethodStepUpSMS),
	}
	if s.id.PasskeysEnabled() {
		rs = append(rs,
			post("/account/methods/step-up/passkey", s.handleMethodStepUpPasskeyBegin),
			post("/account/methods/step-up/passkey/finish", s.handleMethodStepUpPasskeyFinish),
		)
	}
	return rs
}

// ---- Views ----

// pmView is a payment method as the pages show it: never more than the
// brand and last4 of a card, a masked account otherwise (CRD-03).
type pmView struct {
	ID          string // pm_…
	Kind        string
	KindLabel   string
	Label       string
	Status      string
	StatusLabel string
	Verified    bool
	Default     bool
	Failure     string // why it failed, translated
	HoldUntil   time.Time
	HoldActive  bool
	Expiry      string // a card's MM/YYYY
	Holder      string // a bank account's
	Currency    string // a bank account's
	// NameCheck is a bank account's payee-name check, translated ("" when
	// none was made); NameHeld the name the bank holds (close match).
	NameCheck     string
	NameCheckCode string
	NameHeld      string
	// Fallback: a card verified by a 1-unit authorisation, voided.
	Fallback bool
	// OAuth: an e-wallet linked on its provider's authorisation page.
	OAuth   bool
	Deleted bool

	VerifyKind   string
	ActionURL    string // 3-D Secure: where the bank's page is
	AttemptsLeft int
	ExpiresAt    time.Time
}

// NeedsCode reports whether the method waits for the customer's code.
func (v pmView) NeedsCode() bool { return v.Status == string(paymethod.StatusAwaitingCode) }

// Pending reports whether the provider is still verifying.
func (v pmView) Pending() bool {
	return v.Status == string(paymethod.StatusPending)
}

func (s *Server) pmView(p *page, m *paymethod.Method) pmView {
	v := pmView{
		ID: m.PublicID(), Kind: string(m.Kind), KindLabel: p.T("paymethod.kind." + string(m.Kind)), Label: m.Label,
		Status: string(m.Status), StatusLabel: p.T("paymethod.status." + string(m.Status)), Verified: m.Status == paymethod.StatusVerified,
		Default: m.Default, HoldUntil: m.HoldUntil, HoldActive: s.id.Clock.Now().Before(m.HoldUntil), Deleted: m.Deleted(),
		VerifyKind: m.VerifyKind, ActionURL: m.ActionURL, AttemptsLeft: m.AttemptsLeft, ExpiresAt: m.VerifyExpiresAt,
	}
	if m.Card != nil {
		v.Label = psp.BrandName(m.Card.Brand) + " •••• " + m.Card.Last4
		v.Expiry = fmt.Sprintf("%02d/%d", m.Card.ExpMonth, m.Card.ExpYear)
	}
	if m.Bank != nil {
		v.Holder, v.Currency = m.Bank.Holder, string(m.Bank.Currency)
		if m.Bank.NameCheck != "" {
			v.NameCheckCode, v.NameHeld = string(m.Bank.NameCheck), m.Bank.NameHeld
			v.NameCheck = p.T("methods.name_check." + string(m.Bank.NameCheck))
			if m.Bank.NameConfirmed {
				v.NameCheck += " " + p.T("methods.name_check.confirmed")
			}
		}
	}
	v.Fallback = m.AuthFallback
	if m.EWallet != nil {
		v.Label = p.T("paymethod.provider."+m.EWallet.Provider) + " " + m.EWallet.Masked
		v.OAuth = m.EWallet.LinkedBy == paymethod.LinkedByOAuth
	}
	if m.FailureCode != "" {
		id := "paymethod.failure." + m.FailureCode
		if !p.s.cat.Has(id) {
			id = "paymethod.failure." + paymethod.FailDeclined
		}
		v.Failure = p.T(id)
	}
	return v
}

// methodsData is the content of methods.html.
type methodsData struct {
	Methods []pmView
	Frozen  bool
}

// stepUpData is the step-up panel of the method pages.
type stepUpData struct {
	Sudo      bool
	SudoUntil time.Time
	// Required: the action asked for was refused for want of a fresh
	// second factor.
	Required bool
	Forms    factorForms
}

// methodAddData is the content of methods_add.html.
type methodAddData struct {
	Kind   string // addCard, addBank or addEWallet
	Frozen bool
	StepUp stepUpData
	// The card form: where it posts, and where the provider sends a
	// browser without JavaScript back to; Token is the token it brought.
	TokenURL string
	ReturnTo string
	Token    string
	// The bank account form.
	Currencies []string
	// NameCheck is the payee-name check answer to confirm (CRD-10):
	// close_match, no_match or unavailable; NameHeld the bank's name.
	NameCheck string
	NameHeld  string
	// The e-wallet form.
	Providers []option
}

// option is a choice of a select.
type option struct{ Value, Label string }

// IsCard, IsBank and IsEWallet pick the form.
func (d methodAddData) IsCard() bool    { return d.Kind == addCard }
func (d methodAddData) IsBank() bool    { return d.Kind == addBank }
func (d methodAddData) IsEWallet() bool { return d.Kind == addEWallet }

// methodDetailData is the content of methods_method.html.
type methodDetailData struct {
	M      pmView
	Frozen bool
	StepUp stepUpData
}

// ---- Helpers ----

// methodsPage starts a page of the method area.
func (s *Server) methodsPage(r *http.Request, titleID string) *page {
	p := s.settingsPage(r, titleID)
	p.Script = true // the passkey step-up and the password toggles
	return p
}

// methodNext returns the page a step-up comes back to: ?next= when it is
// a path under /account/methods, else the list.
func methodNext(r *http.Request) string {
	next := safeNext(r.URL.Query().Get("next"))
	if next != "/account/methods" && !strings.HasPrefix(next, "/account/methods/") && !strings.HasPrefix(next, "/account/methods?") {
		return "/account/methods"
	}
	return next
}

// withQuery adds k=v to a local path.
func withQuery(path, k, v string) string {
	frag := ""
	if i := strings.IndexByte(path, '#'); i >= 0 {
		path, frag = path[:i], path[i:]
	}
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	return path + sep + url.QueryEscape(k) + "=" + url.QueryEscape(v) + frag
}

// stepUp builds the step-up panel that comes back to next.
func (s *Server) stepUp(p *page, a *signedIn, next string) stepUpData {
	q := "?next=" + url.QueryEscape(next)
	dest := maskPhone(a.user.Phone)
	return stepUpData{
		Sudo: s.id.Sudo(a.sess), SudoUntil: s.id.SudoUntil(a.sess),
		Forms: factorForms{
			P: p, Action: "/account/methods/step-up" + q, SendAction: "/account/methods/step-up/sms" + q,
			Submit: p.T("security.step_up.submit"), PasskeyAction: s.passkeyAction(a.user, "/account/methods/step-up/passkey"+q),
			Methods: p.factorMethods(accountMethods(a.user), "stepup", func(m string) string {
				if m == identity.MethodSMS {
					return p.T("account.method.sms.hint_send", "Destination", dest)
				}
				return p.T("account.method." + m + ".hint")
			}, func(m string) bool { return m == identity.MethodSMS }),
		},
	}
}

// methodCtx is the request's context carrying the device and address the
// notices of the change name (NOT-04).
func (s *Server) methodCtx(r *http.Request) context.Context {
	ip := s.clientIP.IP(r)
	return paymethod.WithRequest(r.Context(), paymethod.Request{IP: ip, UserAgent: r.UserAgent()})
}

// methodFromPath reads the {id} of the request: one of a's methods, or
// answers 404.
func (s *Server) methodFromPath(w http.ResponseWriter, r *http.Request, a *signedIn) (*paymethod.Method, bool) {
	id, ok := paymethod.ParseID(r.PathValue("id"))
	if ok {
		m, err := s.methods.svc.Get(r.Context(), a.user.ID, id)
		if err == nil {
			return m, true
		}
		if code(err) != okpay.ENotFound {
			s.internalError(w, r, err)
			return nil, false
		}
	}
	s.renderAccountError(w, r, http.StatusNotFound, "notfound.title", "methods.error.not_found")
	return nil, false
}

// refuseCardData answers a form that carries a card number where none
// belongs with 400, and records it as a security event (CRD-01). Nothing
// of the value is kept. It reports whether it answered.
func (s *Server) refuseCardData(w http.ResponseWriter, r *http.Request, a *signedIn) bool {
	field := ""
	for k, vs := range r.PostForm {
		for _, v := range vs {
			if !paymethod.ContainsPAN(v) {
				continue
			}
			if _, err := paymethod.ParseIBAN(v); err == nil && k == "iban" {
				continue // an IBAN's digits are no card's
			}
			field = k
		}
	}
	if field == "" {
		return false
	}
	m := s.meta(w, r)
	if len(field) > 64 || paymethod.ContainsPAN(field) {
		field = "form"
	}
	ref := ids.Format(identity.UserPrefix, a.user.ID)
	ev := audit.Event{
		Name: audit.MaliciousInput, Actor: ref, Subject: ref, IP: m.IP, DeviceID: m.DeviceID, RequestID: m.RequestID,
		Outcome: audit.Failure, Reason: "a card number was sent to OKPay instead of the payment provider (CRD-01)",
		Details: map[string]string{"page": r.Pattern, "field": field},
	}
	if err := audit.New(s.id.DB).Record(context.WithoutCancel(r.Context()), ev); err != nil {
		s.log.ErrorContext(r.Context(), "web: security event not recorded", "err", err)
	}
	s.log.WarnContext(r.Context(), audit.MaliciousInput, "request_id", m.RequestID, "page", r.Pattern, "field", field)
	s.renderAccountError(w, r, http.StatusBadRequest, "methods.error.card_data.title", "paymethod.error.pan")
	return true
}

// frozenRefused answers a change asked of a frozen (read-only) account.
func (s *Server) frozenRefused(w http.ResponseWriter, r *http.Request, a *signedIn) bool {
	if !a.user.Frozen {
		return false
	}
	p := s.methodsPage(r, "methods.page_title")
	list, err := s.methods.svc.List(r.Context(), a.user.ID)
	if err != nil {
		s.internalError(w, r, err)
		return true
	}
	d := methodsData{Frozen: true}
	for _, m := range list {
		d.Methods = append(d.Methods, s.pmView(p, m))
	}
	p.Data = d
	p.Form = newForm()
	p.Form.fail(p.T("account.error.frozen_read_only"))
	p.Status = http.StatusForbidden
	s.render(w, r, pageMethods, p)
	return true
}

// methodErrorID returns the message and status of a payment-method error
// the pages explain; ok is false for the others.
func methodErrorID(err error) (id string, status int, ok bool) {
	switch c := code(err); c {
	case paymethod.EDuplicateMethod, paymethod.ETooManyMethods, paymethod.EMethodInUse, paymethod.EMethodDeleted,
		paymethod.ENotVerified, paymethod.EVerificationExpired, paymethod.ENoCodeExpected:
		return "paymethod.error." + c, http.StatusConflict, true
	case paymethod.ECardExpired, paymethod.ETooManyAttempts:
		return "paymethod.error." + c, http.StatusUnprocessableEntity, true
	case paymethod.ERateLimited:
		return "paymethod.error." + c, http.StatusTooManyRequests, true
	case paymethod.ENotPayoutEligible:
		return "methods.error.payout_eligible", http.StatusUnprocessableEntity, true
	case psp.ETokenNotFound:
		return "methods.error.token", http.StatusUnprocessableEntity, true
	case okpay.EUnavailable:
		return "methods.error.unavailable", http.StatusServiceUnavailable, true
	case identity.EAccountFrozen:
		return "account.error.frozen_read_only", http.StatusForbidden, true
	}
	return "", 0, false
}

// fieldMessages are the pages' messages for the fields of validation
// errors, by the service's field name, and the input they belong to.
var fieldMessages = map[string]struct{ input, id string }{
	"token":    {"card-number", "methods.card.error.token_required"},
	"iban":     {"iban", "paymethod.error.iban"},
	"holder":   {"holder", "paymethod.error.holder"},
	"currency": {"currency", "methods.error.currency"},
	"provider": {"provider", "methods.error.provider"},
	"account":  {"account", "paymethod.error.account"},
	"amounts":  {"amount-1", "methods.error.amounts"},
}

// failForm puts err on the page's form: a validation error next to its
// fields, a known payment-method error in the summary. It returns the
// status to answer with, and false for errors it does not explain.
func (p *page) failForm(err error, codeInput, codeID string) (int, bool) {
	if p.Form == nil {
		p.Form = newForm()
	}
	if code(err) == okpay.EInvalid {
		fields := fieldErrors(err)
		for f := range fields {
			if f == "code" {
				p.Form.set(codeInput, p.T(codeID))
				continue
			}
			if m, ok := fieldMessages[f]; ok {
				p.Form.set(m.input, p.T(m.id))
			}
		}
		if !p.Form.Any() {
			p.Form.fail(p.T("account.error.invalid"))
		}
		return http.StatusUnprocessableEntity, true
	}
	if code(err) == paymethod.EInvalidCode {
		left, _ := strconv.Atoi(fieldErrors(err)["attempts_left"])
		p.Form.set(codeInput, p.T("paymethod.error.invalid_code", "Count", left))
		return http.StatusUnprocessableEntity, true
	}
	if id, status, ok := methodErrorID(err); ok {
		p.Form.fail(p.T(id))
		return status, true
	}
	return 0, false
}

// ---- The list ----

func (s *Server) handleMethods(w http.ResponseWriter, r *http.Request) {
	a, ok := s.requireSignIn(w, r)
	if !ok {
		return
	}
	p := s.methodsPage(r, "methods.page_title")
	list, err := s.methods.svc.List(r.Context(), a.user.ID)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	d := methodsData{Frozen: a.user.Frozen}
	for _, m := range list {
		d.Methods = append(d.Methods, s.pmView(p, m))
	}
	q := r.URL.Query()
	for _, n := range []string{"added", "deleted", "default", "verifying", "confirmed", "verified"} {
		if q.Get(n) == "1" {
			p.Notice = p.T("methods.notice." + n)
		}
	}
	p.Data = d
	s.render(w, r, pageMethods, p)
}

// ---- Adding ----

// addPath is the form page of an add kind.
func addPath(kind string) string {
	switch kind {
	case addBank:
		return "/account/methods/banks/new"
	case addEWallet:
		return "/account/methods/ewallets/new"
	}
	return "/account/methods/cards/new"
}

// addFormPage builds an add form page.
func (s *Server) addFormPage(r *http.Request, a *signedIn, kind string, f *form) *page {
	p := s.methodsPage(r, "methods.add."+kind+".page_title")
	p.Form = f
	d := methodAddData{Kind: kind, Frozen: a.user.Frozen, StepUp: s.stepUp(p, a, addPath(kind)),
		TokenURL: s.methods.tokenURL, ReturnTo: addPath(addCard)}
	switch kind {
	case addBank:
		for _, c := range money.Currencies() {
			d.Currencies = append(d.Currencies, string(c))
		}
	case addEWallet:
		for _, pr := range s.methods.svc.EWalletProviders() {
			d.Providers = append(d.Providers, option{Value: pr, Label: p.T("paymethod.provider." + pr)})
		}
	}
	p.Data = d
	return p
}

// addPage serves the GET of an add form.
func (s *Server) addPage(kind string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		a, ok := s.requireSignIn(w, r)
		if !ok {
			return
		}
		f := newForm()
		if kind == addBank {
			f.values["currency"] = string(s.methods.svc.Config().BankCurrency)
		}
		p := s.addFormPage(r, a, kind, f)
		q := r.URL.Query()
		switch {
		case q.Get("confirmed") == "1":
			p.Notice = p.T("methods.notice.confirmed")
		case q.Get("sms") == "sent":
			p.Notice = p.T("methods.notice.sms_sent", "Destination", maskPhone(a.user.Phone))
		}
		if kind == addCard {
			// Back from the provider's token endpoint without JavaScript:
			// a token to add, or why the card was refused. The token is in
			// this page's URL, so the page sends no Referer.
			d := p.Data.(methodAddData)
			if tok := q.Get("card_token"); tok != "" && validCardToken(tok) {
				d.Token = tok
				p.NoReferrer = true
			}
			if c := q.Get("card_error"); c != "" {
				input := map[string]string{"number": "card-number", "expiry": "card-exp", "cvc": "card-cvc"}[q.Get("card_error_field")]
				msg := "methods.card.error.failed"
				switch c {
				case "invalid_number", "invalid_expiry", "expired_card", "invalid_cvc":
					msg = "methods.card.error." + c
				}
				if input == "" {
					p.Form.fail(p.T(msg))
				} else {
					p.Form.set(input, p.T(msg))
				}
				p.Status = http.StatusUnprocessableEntity
			}
			p.Data = d
		}
		s.render(w, r, pageMethodAdd, p)
	}
}

// validCardToken accepts what looks like a provider token: 1 to 200
// ASCII letters, digits, "_" and "-" (no card number, CRD-01).
func validCardToken(t string) bool {
	if t == "" || len(t) > 200 || paymethod.ContainsPAN(t) {
		return false
	}
	return !strings.ContainsFunc(t, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-')
	})
}

// addFailed shows the add form again after err, the values typed kept
// (never a card detail: those went to the provider). It reports false for
// errors it does not handle.
func (s *Server) addFailed(w http.ResponseWriter, r *http.Request, a *signedIn, kind string, f *form, err error) bool {
	switch code(err) {
	case okpay.EUnauthorized, identity.ESessionExpired:
		s.sessionFailed(w, r, err)
		return true
	case paymethod.EStepUpRequired:
		p := s.addFormPage(r, a, kind, f)
		d := p.Data.(methodAddData)
		d.StepUp.Required = true
		p.Data = d
		p.Form.fail(p.T("methods.step_up.required"))
		p.Status = http.StatusForbidden
		s.render(w, r, pageMethodAdd, p)
		return true
	}
	p := s.addFormPage(r, a, kind, f)
	status, ok := p.failForm(err, "", "")
	if !ok {
		return false
	}
	p.Status = status
	s.render(w, r, pageMethodAdd, p)
	return true
}

// added sends the browser on after a method was added: to the bank's
// 3-D Secure page when the card needs it, else to the method's page.
func added(w http.ResponseWriter, r *http.Request, m *paymethod.Method) {
	if m.Status == paymethod.StatusRequiresAction && m.ActionURL != "" {
		http.Redirect(w, r, m.ActionURL, http.StatusSeeOther)
		return
	}
	redirect(w, r, "/account/methods/"+m.PublicID()+"?added=1")
}

// handleAddCard adds a card from the token the provider gave the browser.
func (s *Server) handleAddCard(w http.ResponseWriter, r *http.Request) {
	a, ok := s.requireSignIn(w, r)
	if !ok || s.refuseCardData(w, r, a) || s.frozenRefused(w, r, a) {
		return
	}
	tok := strings.TrimSpace(r.PostForm.Get("token"))
	if !validCardToken(tok) {
		p := s.addFormPage(r, a, addCard, newForm())
		p.Form.set("card-number", p.T("methods.card.error.token_required"))
		p.Status = http.StatusUnprocessableEntity
		s.render(w, r, pageMethodAdd, p)
		return
	}
	m, err := s.methods.svc.AddCard(s.methodCtx(r), paymethod.NewCard{
		UserID: a.user.ID, Token: tok, StepUp: a.sess.MFAAt, ReturnURL: "/account/methods?verifying=1",
	})
	if err != nil {
		if !s.addFailed(w, r, a, addCard, newForm(), err) {
			s.internalError(w, r, err)
		}
		return
	}
	added(w, r, m)
}

// handleAddBank adds a bank account; micro-deposits follow.
func (s *Server) handleAddBank(w http.ResponseWriter, r *http.Request) {
	a, ok := s.requireSignIn(w, r)
	if !ok || s.refuseCardData(w, r, a) || s.frozenRefused(w, r, a) {
		return
	}
	f := newForm().keep(r, "iban", "holder", "currency")
	// CRD-10: the payee-name answer shown and confirmed; a mismatch needs
	// the box ticked as well.
	confirm := paymethod.NameResult(r.PostForm.Get("confirm_name_check"))
	ackMissing := confirm == paymethod.NameNoMatch && r.PostForm.Get("name_ack") != "1"
	if ackMissing {
		confirm = ""
	}
	m, err := s.methods.svc.AddBankAccount(s.methodCtx(r), paymethod.NewBankAccount{
		UserID: a.user.ID, IBAN: r.PostForm.Get("iban"), Holder: r.PostForm.Get("holder"),
		Currency: money.Currency(r.PostForm.Get("currency")), StepUp: a.sess.MFAAt, ConfirmNameCheck: confirm,
	})
	var nce *paymethod.NameCheckError
	if errors.As(err, &nce) {
		p := s.addFormPage(r, a, addBank, f)
		d := p.Data.(methodAddData)
		d.NameCheck, d.NameHeld = string(nce.Result), nce.Held
		p.Data = d
		if ackMissing {
			p.Form.set("name_ack", p.T("methods.name_check.ack_required"))
		}
		p.Status = http.StatusConflict
		s.render(w, r, pageMethodAdd, p)
		return
	}
	if err != nil {
		if !s.addFailed(w, r, a, addBank, f, err) {
			s.internalError(w, r, err)
		}
		return
	}
	added(w, r, m)
}

// handleAddEWallet adds an external e-wallet account; its code follows.
func (s *Server) handleAddEWallet(w http.ResponseWriter, r *http.Request) {
	a, ok := s.requireSignIn(w, r)
	if !ok || s.refuseCardData(w, r, a) || s.frozenRefused(w, r, a) {
		return
	}
	f := newForm().keep(r, "provider", "account")
	// CRD-10: the e-wallet's own authorisation page shows the ownership;
	// a provider without one shows a code instead.
	auth, err := s.methods.svc.StartEWalletLink(s.methodCtx(r), paymethod.NewEWalletLink{UserID: a.user.ID, Provider: r.PostForm.Get("provider"),
		Binding: strconv.FormatInt(a.sess.ID, 10), StepUp: a.sess.MFAAt, RedirectURI: ewalletCallback})
	if err == nil {
		http.Redirect(w, r, auth, http.StatusSeeOther)
		return
	}
	if code(err) != paymethod.ENoOAuth {
		if !s.addFailed(w, r, a, addEWallet, f, err) {
			s.internalError(w, r, err)
		}
		return
	}
	m, err := s.methods.svc.AddEWallet(s.methodCtx(r), paymethod.NewEWallet{
		UserID: a.user.ID, Provider: r.PostForm.Get("provider"), Account: r.PostForm.Get("account"), StepUp: a.sess.MFAAt,
	})
	if err != nil {
		if !s.addFailed(w, r, a, addEWallet, f, err) {
			s.internalError(w, r, err)
		}
		return
	}
	added(w, r, m)
}

// ewalletCallback is where an e-wallet's authorisation page sends the
// customer back.
const ewalletCallback = "/account/methods/ewallets/callback"

// handleEWalletCallback finishes an e-wallet's OAuth link: the state must
// be this session's, unused and recent.
func (s *Server) handleEWalletCallback(w http.ResponseWriter, r *http.Request) {
	a, ok := s.requireSignIn(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	m, err := s.methods.svc.FinishEWalletLink(s.methodCtx(r), a.user.ID, strconv.FormatInt(a.sess.ID, 10), q.Get("state"), q.Get("code"), q.Get("error"))
	if err == nil {
		redirect(w, r, "/account/methods/"+m.PublicID()+"?verified=1")
		return
	}
	switch c := code(err); c {
	case paymethod.ELinkInvalid, paymethod.ELinkExpired, paymethod.ELinkDenied:
		p := s.addFormPage(r, a, addEWallet, newForm())
		p.Form.fail(p.T("methods.ewallet.link." + c))
		p.Status = http.StatusUnprocessableEntity
		if c == paymethod.ELinkInvalid {
			p.Status = http.StatusBadRequest
		}
		s.render(w, r, pageMethodAdd, p)
	default:
		if !s.addFailed(w, r, a, addEWallet, newForm(), err) {
			s.internalError(w, r, err)
		}
	}
}

// ---- One method ----

// detailPage builds the page of m.
func (s *Server) detailPage(r *http.Request, a *signedIn, m *paymethod.Method, f *form) *page {
	p := s.methodsPage(r, "methods.detail.page_title")
	p.Form = f
	path := "/account/methods/" + m.PublicID()
	p.Next = path
	p.Data = methodDetailData{M: s.pmView(p, m), Frozen: a.user.Frozen, StepUp: s.stepUp(p, a, path+"#delete")}
	return p
}

func (s *Server) handleMethod(w http.ResponseWriter, r *http.Request) {
	a, ok := s.requireSignIn(w, r)
	if !ok {
		return
	}
	m, ok := s.methodFromPath(w, r, a)
	if !ok {
		return
	}
	p := s.detailPage(r, a, m, newForm())
	q := r.URL.Query()
	switch {
	case q.Get("added") == "1" && m.Status == paymethod.StatusAwaitingCode && m.VerifyKind == paymethod.VerifyMicroDeposits:
		p.Notice = p.T("methods.notice.deposits_sent")
	case q.Get("added") == "1" && m.Status == paymethod.StatusAwaitingCode && m.VerifyKind == paymethod.VerifyEWalletCode:
		p.Notice = p.T("methods.notice.code_sent")
	case q.Get("added") == "1":
		p.Notice = p.T("methods.notice.added")
	case q.Get("verified") == "1":
		p.Notice = p.T("methods.notice.verified")
	case q.Get("default") == "1":
		p.Notice = p.T("methods.notice.default")
	case q.Get("confirmed") == "1":
		p.Notice = p.T("methods.notice.confirmed")
	case q.Get("sms") == "sent":
		p.Notice = p.T("methods.notice.sms_sent", "Destination", maskPhone(a.user.Phone))
	}
	s.render(w, r, pageMethodDetail, p)
}

// detailFailed shows the method's page after err; input is the field the
// error of a code belongs to. It reports false for errors it does not
// handle.
func (s *Server) detailFailed(w http.ResponseWriter, r *http.Request, a *signedIn, m *paymethod.Method, err error, input, codeID string) bool {
	switch code(err) {
	case okpay.EUnauthorized, identity.ESessionExpired:
		s.sessionFailed(w, r, err)
		return true
	case okpay.ENotFound:
		s.renderAccountError(w, r, http.StatusNotFound, "notfound.title", "methods.error.not_found")
		return true
	}
	// The method as it is now (an attempt may have disabled it).
	if cur, gerr := s.methods.svc.Get(r.Context(), a.user.ID, m.ID); gerr == nil {
		m = cur
	}
	p := s.detailPage(r, a, m, newForm())
	if code(err) == paymethod.EStepUpRequired {
		d := p.Data.(methodDetailData)
		d.StepUp.Required = true
		p.Data = d
		p.Form.fail(p.T("methods.step_up.required"))
		p.Status = http.StatusForbidden
		s.render(w, r, pageMethodDetail, p)
		return true
	}
	status, ok := p.failForm(err, input, codeID)
	if !ok {
		return false
	}
	p.Status = status
	s.render(w, r, pageMethodDetail, p)
	return true
}

// methodAction starts a POST about one method: the session, the card-data
// guard, the read-only guard and the method.
func (s *Server) methodAction(w http.ResponseWriter, r *http.Request) (*signedIn, *paymethod.Method, bool) {
	a, ok := s.requireSignIn(w, r)
	if !ok || s.refuseCardData(w, r, a) || s.frozenRefused(w, r, a) {
		return nil, nil, false
	}
	m, ok := s.methodFromPath(w, r, a)
	if !ok {
		return nil, nil, false
	}
	return a, m, true
}

// handleMethodCode checks a statement code or an e-wallet code.
func (s *Server) handleMethodCode(vkind string) func(http.ResponseWriter, *http.Request) {
	input, codeID := "statement-code", "methods.error.statement_code"
	confirm := func(s *Server) func(context.Context, int64, int64, string) (*paymethod.Method, error) {
		return s.methods.svc.ConfirmStatementCode
	}
	if vkind == paymethod.VerifyEWalletCode {
		input, codeID = "ewallet-code", "methods.error.code"
		confirm = func(s *Server) func(context.Context, int64, int64, string) (*paymethod.Method, error) {
			return s.methods.svc.ConfirmEWalletCode
		}
	}
	return func(w http.ResponseWriter, r *http.Request) {
		a, m, ok := s.methodAction(w, r)
		if !ok {
			return
		}
		c := strings.TrimSpace(r.PostForm.Get("code"))
		var err error
		if c == "" {
			err = okpay.Invalid(map[string]string{"code": "required"})
		} else {
			_, err = confirm(s)(s.methodCtx(r), a.user.ID, m.ID, c)
		}
		if err != nil {
			if !s.detailFailed(w, r, a, m, err, input, codeID) {
				s.internalError(w, r, err)
			}
			return
		}
		redirect(w, r, "/account/methods/"+m.PublicID()+"?verified=1")
	}
}

// microAmount reads an amount typed for a micro-deposit: minor units
// ("12") or a decimal in the account's currency ("0.12").
func microAmount(s string, cur money.Currency) (int64, bool) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 12 {
		return 0, false
	}
	if strings.ContainsAny(s, ".,") {
		a, err := money.Parse(strings.ReplaceAll(s, ",", "."), cur)
		if err != nil {
			return 0, false
		}
		return a.Minor, true
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil && n >= 0
}

// handleMicroDeposits checks the two amounts that arrived on the bank
// account.
func (s *Server) handleMicroDeposits(w http.ResponseWriter, r *http.Request) {
	a, m, ok := s.methodAction(w, r)
	if !ok {
		return
	}
	cur := money.Currency("EUR")
	if m.Bank != nil {
		cur = m.Bank.Currency
	}
	x, ok1 := microAmount(r.PostForm.Get("amount_1"), cur)
	y, ok2 := microAmount(r.PostForm.Get("amount_2"), cur)
	var err error
	if !ok1 || !ok2 {
		err = okpay.Invalid(map[string]string{"amounts": "required"})
	} else {
		_, err = s.methods.svc.ConfirmMicroDeposits(s.methodCtx(r), a.user.ID, m.ID, x, y)
	}
	if err != nil {
		if !s.detailFailed(w, r, a, m, err, "amount-1", "methods.error.amounts") {
			s.internalError(w, r, err)
		}
		return
	}
	redirect(w, r, "/account/methods/"+m.PublicID()+"?verified=1")
}

// handleMethodDefault makes a verified method the default.
func (s *Server) handleMethodDefault(w http.ResponseWriter, r *http.Request) {
	a, m, ok := s.methodAction(w, r)
	if !ok {
		return
	}
	if err := s.methods.svc.SetDefault(s.methodCtx(r), a.user.ID, m.ID); err != nil {
		if !s.detailFailed(w, r, a, m, err, "", "") {
			s.internalError(w, r, err)
		}
		return
	}
	redirect(w, r, "/account/methods/"+m.PublicID()+"?default=1")
}

// handleMethodDelete deletes a method (CRD-08): without a fresh second
// factor the page shows the step-up forms, which come back here.
func (s *Server) handleMethodDelete(w http.ResponseWriter, r *http.Request) {
	a, m, ok := s.methodAction(w, r)
	if !ok {
		return
	}
	if err := s.methods.svc.Delete(s.methodCtx(r), a.user.ID, m.ID, a.sess.MFAAt); err != nil {
		if !s.detailFailed(w, r, a, m, err, "", "") {
			s.internalError(w, r, err)
		}
		return
	}
	redirect(w, r, "/account/methods?deleted=1")
}

// ---- Step-up from the method pages ----
//
// The security page's second factors; each comes back to ?next=.

// stepUpPage shows the page next names after a failed step-up: the add
// form or the method's page, with the step-up panel and f's errors.
func (s *Server) stepUpPage(w http.ResponseWriter, r *http.Request, a *signedIn, next string, f *form, status int) {
	path := strings.SplitN(strings.SplitN(next, "#", 2)[0], "?", 2)[0]
	for _, kind := range []string{addCard, addBank, addEWallet} {
		if path == addPath(kind) {
			p := s.addFormPage(r, a, kind, f)
			d := p.Data.(methodAddData)
			d.StepUp.Required = true
			p.Data = d
			p.Status = status
			s.render(w, r, pageMethodAdd, p)
			return
		}
	}
	if id, ok := paymethod.ParseID(strings.TrimPrefix(path, "/account/methods/")); ok {
		if m, err := s.methods.svc.Get(r.Context(), a.user.ID, id); err == nil {
			p := s.detailPage(r, a, m, f)
			d := p.Data.(methodDetailData)
			d.StepUp.Required = true
			p.Data = d
			p.Status = status
			s.render(w, r, pageMethodDetail, p)
			return
		}
	}
	// The list has no step-up panel: the add card form does.
	s.stepUpPage(w, r, a, addPath(addCard), f, status)
}

// handleMethodStepUp opens the sudo window with a code; the session gets
// a new token (SES-02: re-auth).
func (s *Server) handleMethodStepUp(w http.ResponseWriter, r *http.Request) {
	a, ok := s.requireSignIn(w, r)
	if !ok {
		return
	}
	next := methodNext(r)
	method, c := r.PostForm.Get("method"), r.PostForm.Get("code")
	if !offered(accountMethods(a.user), method) {
		s.renderAccountError(w, r, http.StatusBadRequest, "problem.invalid_request.title", "problem.invalid_request.detail")
		return
	}
	msg := "account.error.code_required"
	if strings.TrimSpace(c) != "" {
		res, err := s.id.VerifyFactor(r.Context(), a.token, method, c, s.meta(w, r))
		if err == nil {
			setSession(w, res.Token)
			redirect(w, r, withQuery(next, "confirmed", "1"))
			return
		}
		switch code(err) {
		case identity.EInvalidCode:
			msg = "account.error.code"
		case identity.EFactorUnavailable:
			msg = "account.error.factor_unavailable"
		case okpay.EUnauthorized, identity.ESessionExpired:
			s.sessionFailed(w, r, err)
			return
		default:
			f := newForm()
			s.stepUpPageRateLimited(w, r, a, next, f, err)
			return
		}
	}
	f := newForm()
	f.set("stepup-"+method, s.cat.T(i18n.Negotiate(r), msg, nil))
	s.stepUpPage(w, r, a, next, f, http.StatusUnprocessableEntity)
}

// stepUpPageRateLimited shows a rate limit on the step-up, or an internal
// error.
func (s *Server) stepUpPageRateLimited(w http.ResponseWriter, r *http.Request, a *signedIn, next string, f *form, err error) {
	d, ok := retryAfter(err)
	if !ok {
		s.internalError(w, r, err)
		return
	}
	p := s.newPage(r)
	f.fail(s.cat.T(p.Lang, "account.rate_limited", map[string]any{"Retry": p.retryText(d)}))
	w.Header().Set("Retry-After", strconv.Itoa(int((max(d, time.Second)+time.Second-1)/time.Second)))
	s.stepUpPage(w, r, a, next, f, http.StatusTooManyRequests)
}

// handleMethodStepUpSMS sends a step-up code to the account's number.
func (s *Server) handleMethodStepUpSMS(w http.ResponseWriter, r *http.Request) {
	a, ok := s.requireSignIn(w, r)
	if !ok {
		return
	}
	next := methodNext(r)
	if _, err := s.id.SendLoginCode(r.Context(), a.token, s.meta(w, r)); err != nil {
		switch code(err) {
		case okpay.EUnauthorized, identity.ESessionExpired:
			s.sessionFailed(w, r, err)
		default:
			s.stepUpPageRateLimited(w, r, a, next, newForm(), err)
		}
		return
	}
	redirect(w, r, withQuery(strings.SplitN(next, "#", 2)[0], "sms", "sent")+"#step-up")
}

// handleMethodStepUpPasskeyBegin starts a passkey step-up that comes back
// to ?next=.
func (s *Server) handleMethodStepUpPasskeyBegin(w http.ResponseWriter, r *http.Request) {
	a, ok := s.requireSignIn(w, r)
	if !ok {
		return
	}
	next := methodNext(r)
	opts, flow, err := s.id.BeginPasskeyLogin(r.Context(), a.token)
	if err != nil {
		s.methodPasskeyFailed(w, r, a, next, err)
		return
	}
	p := s.settingsPage(r, "passkey.login.page_title")
	p.Next = next
	s.renderCeremony(w, r, p, passkeyCeremony{
		Mode: "get", Heading: p.T("passkey.login.title"), Lead: p.T("passkey.login.lead"), Submit: p.T("passkey.login.submit"),
		Action: "/account/methods/step-up/passkey/finish?next=" + url.QueryEscape(next), Flow: flow, Options: string(opts),
		Cancel: next,
	})
}

// handleMethodStepUpPasskeyFinish opens the sudo window with the passkey;
// the session gets a new token (SES-02).
func (s *Server) handleMethodStepUpPasskeyFinish(w http.ResponseWriter, r *http.Request) {
	a, ok := s.requireSignIn(w, r)
	if !ok {
		return
	}
	next := methodNext(r)
	flow, response := ceremonyForm(r)
	res, err := s.id.FinishPasskeyLogin(r.Context(), a.token, flow, response, s.meta(w, r))
	if err != nil {
		s.methodPasskeyFailed(w, r, a, next, err)
		return
	}
	setSession(w, res.Token)
	redirect(w, r, withQuery(next, "confirmed", "1"))
}

func (s *Server) methodPasskeyFailed(w http.ResponseWriter, r *http.Request, a *signedIn, next string, err error) {
	switch code(err) {
	case okpay.EUnauthorized, identity.ESessionExpired:
		s.sessionFailed(w, r, err)
		return
	}
	f := newForm()
	if id, status, ok := passkeyError(err); ok {
		f.fail(s.cat.T(i18n.Negotiate(r), id, nil))
		s.stepUpPage(w, r, a, next, f, status)
		return
	}
	s.stepUpPageRateLimited(w, r, a, next, f, err)
}

// NeedsStepUp tells a template whether the panel must ask for a second
// factor.
func (d stepUpData) NeedsStepUp() bool { return !d.Sudo || d.Required }
