package web

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/paymethod"
	"github.com/okpay/okpay/wallet"
)

// Withdrawing money to one of the customer's payout methods (the
// description's "withdraw funds" FAQ; wallet.Withdrawals):
//
//	GET  /wallet/withdraw                   the form: a payout method (a verified bank card, bank account or e-wallet), an amount, a currency
//	POST /wallet/withdraw                   → the quote: amount, fee, total held, the payout method, the expected completion (business days)
//	POST /wallet/withdraw/confirm           starts it (or goes back to the form): a code bound to it goes out
//	GET  /wallet/withdrawals/{id}/code      the code page (SMS or the authenticator app, as the account's policy says)
//	POST /wallet/withdrawals/{id}/code      confirm with the code: the funds are held, the withdrawal waits for review or is approved
//	POST /wallet/withdrawals/{id}/resend    a new SMS code
//	GET  /wallet/withdrawals/{id}           its status: the timeline, the expected completion, why it failed or was rejected
//	POST /wallet/withdrawals/{id}/cancel    cancel it while it is not yet on its way to the provider
//
// The status page reloads itself (a Refresh header, no JavaScript) while
// the withdrawal is on its way, so the customer sees it paid. The pages
// exist once the program calls EnableWithdrawals; until then the wallet's
// home page shows the withdraw action as a placeholder.

// Page templates of the withdrawals.
const (
	pageWithdraw        = "wallet_withdraw.html"
	pageWithdrawConfirm = "wallet_withdraw_confirm.html"
	pageWithdrawCode    = "wallet_withdraw_code.html"
	pageWithdrawStatus  = "wallet_withdraw_status.html"
)

var withdrawPages = []string{pageWithdraw, pageWithdrawConfirm, pageWithdrawCode, pageWithdrawStatus}

// withdrawRefresh is how often the status page of a withdrawal on its way
// to the provider reloads, in seconds; withdrawRefreshReview while it
// waits for a reviewer (which may take days).
const (
	withdrawRefresh       = "5"
	withdrawRefreshReview = "30"
)

// withdrawErrorCodes are the error codes the withdrawal pages say in
// their own words ("withdrawui.error.<code>"); the others are the wallet
// pages' (errorText).
var withdrawErrorCodes = []string{
	paymethod.EMethodHold, paymethod.ENotVerified, paymethod.EMethodDeleted, paymethod.ECardExpired, paymethod.ENotPayoutEligible,
	wallet.EMethodCurrency, wallet.EWithdrawalsUnavailable, wallet.EInsufficientFunds, okpay.EConflict,
}

// withdrawMessageIDs are the ids the withdrawal pages use from Go code.
var withdrawMessageIDs = func() []string {
	out := []string{
		"withdrawui.page_title", "withdrawui.confirm.page_title", "withdrawui.code.page_title", "withdrawui.status.page_title",
		"withdrawui.confirm.submit", "withdrawui.confirm.code_sms", "withdrawui.confirm.code_totp", "withdrawui.code.submit",
		"withdrawui.code.sms_hint", "withdrawui.code.totp_hint", "withdrawui.notice.code_sent", "withdrawui.notice.cancelled",
		"withdrawui.error.method", "withdrawui.error.not_withdrawal", "withdrawui.kind.card", "withdrawui.kind.bank_account",
		"withdrawui.kind.ewallet", "withdrawui.eta", "withdrawui.error.no_wallet",
	}
	for _, c := range withdrawErrorCodes {
		out = append(out, "withdrawui.error."+c)
	}
	return out
}()

// withdrawState is the withdrawal pages' part of the Server.
type withdrawState struct {
	wd *wallet.Withdrawals
}

// EnableWithdrawals adds the customers' withdrawal pages to the wallet
// pages (which must be configured: Config.Wallet, with Config.Methods for
// the payout methods). Call it once, after New and before Register.
func (s *Server) EnableWithdrawals(wd *wallet.Withdrawals) error {
	if s.wallet == nil || s.wallet.methods == nil {
		return errors.New("web: the withdrawal pages need the wallet pages and the payment methods (Config.Wallet, Config.Methods)")
	}
	if wd == nil {
		return errors.New("web: EnableWithdrawals needs the withdrawals")
	}
	for _, name := range withdrawPages {
		t, err := template.New(name).Option("missingkey=error").
			ParseFS(templateFS, "templates/layout.html", "templates/partials.html", "templates/wallet_partials.html", "templates/"+name)
		if err != nil {
			return fmt.Errorf("web: parse %s: %w", name, err)
		}
		s.pages[name] = t
	}
	var missing []string
	for _, id := range withdrawMessageIDs {
		if !s.cat.Has(id) {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("web: withdrawal message ids missing from the catalog: %v", missing)
	}
	s.withdraw = &withdrawState{wd: wd}
	return nil
}

// withdrawRoutes lists the withdrawal pages (none until EnableWithdrawals).
func (s *Server) withdrawRoutes() []Route {
	if s.wallet == nil || s.withdraw == nil {
		return nil
	}
	get := func(pattern string, h func(http.ResponseWriter, *http.Request)) Route {
		return Route{http.MethodGet, pattern, s.account(h)}
	}
	post := func(pattern string, h func(http.ResponseWriter, *http.Request)) Route {
		return Route{http.MethodPost, pattern, s.account(h)}
	}
	return []Route{
		get("/wallet/withdraw", s.handleWithdrawPage),
		post("/wallet/withdraw", s.handleWithdrawReview),
		post("/wallet/withdraw/confirm", s.handleWithdrawConfirm),
		get("/wallet/withdrawals/{id}", s.handleWithdrawStatus),
		get("/wallet/withdrawals/{id}/code", s.handleWithdrawCodePage),
		post("/wallet/withdrawals/{id}/code", s.handleWithdrawCode),
		post("/wallet/withdrawals/{id}/resend", s.handleWithdrawResend),
		post("/wallet/withdrawals/{id}/cancel", s.handleWithdrawCancel),
	}
}

// withdrawalPath is the status page of withdrawal t ("" for another
// type, or when the pages are off): the wallet's transaction page links
// to it.
func (s *Server) withdrawalPath(t *wallet.Txn) string {
	if s.withdraw == nil || t.Type != wallet.TypeWithdrawal {
		return ""
	}
	return "/wallet/withdrawals/" + t.Ref()
}

// ---- Views ----

// payoutOption is a payout method of the form.
type payoutOption struct {
	ID        string // pm_…
	Label     string
	Kind      string
	KindLabel string
	// HoldUntil is when a method added recently can first receive money
	// (zero when it can now, RSK-02).
	HoldUntil time.Time
}

type withdrawFormData struct {
	Methods    []payoutOption
	Method     string // the one chosen
	Currencies []walletOption
	Currency   string
	Frozen     bool
	Balances   []walletView // what each shown wallet holds now
}

type withdrawConfirmData struct {
	Method    string
	Kind      string
	Amount    string
	Fee       string
	HasFee    bool
	Total     string
	Available string
	ETA       string
	AuthLabel string
	Submit    string
	Values    map[string]string
	Key       string
}

// withdrawView is a withdrawal as its pages show it.
type withdrawView struct {
	T txnView
	// Method is the payout method, masked.
	Method string
	// ETA says between which days it should arrive.
	ETA string
	// Returned: the money held for it went back to the wallet.
	Returned bool
	// CanCancel: it is not yet on its way to the provider.
	CanCancel bool
}

type withdrawCodeData struct {
	W         withdrawView
	Method    string // identity.MethodSMS or MethodTOTP
	Hint      string
	Submit    string
	CanResend bool
}

type withdrawStatusData struct {
	W        withdrawView
	Timeline []timelineStep
	// Refreshing: the page reloads itself while the withdrawal is on its
	// way.
	Refreshing bool
}

// withdrawFields maps the withdrawals' field names to the form's inputs.
var withdrawFields = map[string]string{"amount": "amount", "idempotency_key": "amount"}

// eta says "between <day> and <day>" in the page's language.
func (p *page) eta(earliest, latest time.Time) string {
	if earliest.IsZero() || latest.IsZero() {
		return ""
	}
	return p.T("withdrawui.eta", "Earliest", p.Date(earliest), "Latest", p.Date(latest))
}

// withdrawCancelable reports whether the customer may still cancel wd.
func withdrawCancelable(wd *wallet.Withdrawal) bool {
	switch wd.Txn.Status {
	case wallet.StatusAwaitingAuth, wallet.StatusAuthorized, wallet.StatusPendingReview, wallet.StatusApproved:
		return wd.Stage == "" || wd.Stage == wallet.StageReview || wd.Stage == wallet.StageApproved
	}
	return false
}

func (s *Server) withdrawView(r *http.Request, a *signedIn, p *page, wd *wallet.Withdrawal) withdrawView {
	v := withdrawView{T: s.txnView(p, wd.Txn), Method: s.cardLabel(r, a, wd.Txn.MethodID), ETA: p.eta(wd.EarliestAt, wd.LatestAt), CanCancel: withdrawCancelable(wd)}
	if v.Method == "" {
		v.Method = p.MethodLabel(wd.MethodLabel) // as it was when the withdrawal started
	}
	v.T.Failure = s.withdraw.wd.FailureText(wd, p.Lang)
	v.Returned = (wd.Txn.Status == wallet.StatusFailed || wd.Txn.Status == wallet.StatusRejected) && wd.Txn.EntryID != 0
	return v
}

// ---- Helpers ----

// payoutMethods lists a's payout methods: verified and not deleted.
func (s *Server) payoutMethods(r *http.Request, a *signedIn) ([]*paymethod.Method, error) {
	all, err := s.wallet.methods.List(r.Context(), a.user.ID)
	if err != nil {
		return nil, err
	}
	var out []*paymethod.Method
	for _, m := range all {
		if m.Status == paymethod.StatusVerified && !m.Deleted() {
			out = append(out, m)
		}
	}
	return out, nil
}

// withdrawalFromPath reads the {id} of the request: one of a's
// withdrawals, or answers 404.
func (s *Server) withdrawalFromPath(w http.ResponseWriter, r *http.Request, a *signedIn) (*wallet.Withdrawal, bool) {
	if id, ok := wallet.ParseWithdrawalRef(r.PathValue("id")); ok {
		wd, err := s.withdraw.wd.Find(r.Context(), a.user.ID, id)
		if err == nil {
			return wd, true
		}
		if code(err) != okpay.ENotFound {
			s.internalError(w, r, err)
			return nil, false
		}
	}
	s.renderAccountError(w, r, http.StatusNotFound, "notfound.title", "withdrawui.error.not_withdrawal")
	return nil, false
}

// withdrawErrorText says err in the page's language: the withdrawal
// pages' own text for its code (with the date a new method can first
// receive money), else the wallet pages'.
func (s *Server) withdrawErrorText(p *page, err error) string {
	var hold *paymethod.HoldError
	if errors.As(err, &hold) {
		return p.T("withdrawui.error."+paymethod.EMethodHold, "Time", p.Time(hold.Until))
	}
	var ue *wallet.UnavailableError
	if errors.As(err, &ue) {
		return p.T("withdrawui.error.rail_down", "Kind", p.T("withdrawui.rail."+string(ue.Kind)), "Currency", string(ue.Currency),
			"Minutes", max(1, int((ue.RetryAfter+time.Minute-1)/time.Minute)))
	}
	if c := code(err); c != "" && s.cat.Has("withdrawui.error."+c) {
		return p.T("withdrawui.error." + c)
	}
	return s.errorText(p, err)
}

// ---- The form ----

func (s *Server) withdrawFormPage(w http.ResponseWriter, r *http.Request, a *signedIn, f *form) (*page, bool) {
	p := s.walletPage(r, "withdrawui.page_title")
	p.Form = f
	methods, err := s.payoutMethods(r, a)
	if err != nil {
		s.internalError(w, r, err)
		return nil, false
	}
	ws, err := s.wallet.svc.Wallets(r.Context(), a.user.ID)
	if err != nil {
		s.internalError(w, r, err)
		return nil, false
	}
	d := withdrawFormData{Currencies: s.currencyOptions(), Currency: f.Value("currency"), Method: f.Value("method"), Frozen: a.user.Frozen}
	for _, x := range ws {
		if x.Shown() {
			d.Balances = append(d.Balances, p.walletView(x))
		}
	}
	if d.Currency == "" {
		d.Currency = r.URL.Query().Get("currency")
	}
	if c, err := money.ParseCurrency(d.Currency); err != nil || !s.walletCurrency(c) {
		// The first wallet with money in it, else the first currency.
		d.Currency = string(s.wallet.svc.Config().Currencies[0])
		for _, x := range ws {
			if x.Shown() && x.Available.Minor > 0 {
				d.Currency = string(x.Currency)
				break
			}
		}
	}
	now := s.id.Clock.Now()
	for _, m := range methods {
		o := payoutOption{ID: m.PublicID(), Label: methodLabel(m), Kind: string(m.Kind), KindLabel: p.T("withdrawui.kind." + string(m.Kind))}
		if now.Before(m.HoldUntil) {
			o.HoldUntil = m.HoldUntil
		}
		d.Methods = append(d.Methods, o)
	}
	if d.Method == "" {
		d.Method = r.URL.Query().Get("method")
	}
	if d.Method == "" {
		for _, m := range methods {
			if d.Method == "" || m.Default {
				d.Method = m.PublicID()
			}
		}
	}
	p.Data = d
	return p, true
}

func (s *Server) handleWithdrawPage(w http.ResponseWriter, r *http.Request) {
	a, ok := s.requireSignIn(w, r)
	if !ok {
		return
	}
	p, ok := s.withdrawFormPage(w, r, a, nil)
	if !ok {
		return
	}
	s.render(w, r, pageWithdraw, p)
}

// readWithdraw reads the withdrawal form: one of a's payout methods, an
// amount in a currency.
func (s *Server) readWithdraw(w http.ResponseWriter, r *http.Request, p *page, f *form, a *signedIn) (*paymethod.Method, money.Amount, bool) {
	return s.readMethodAmount(w, r, p, f, "method", "withdrawui.error.method", func() ([]*paymethod.Method, error) { return s.payoutMethods(r, a) })
}

// withdrawFailed shows the form again with err next to its field, or
// answers an unexpected error itself.
func (s *Server) withdrawFailed(w http.ResponseWriter, r *http.Request, a *signedIn, f *form, err error) {
	if err != nil && s.unexpected(w, r, err) {
		return
	}
	p, ok := s.withdrawFormPage(w, r, a, f)
	if !ok {
		return
	}
	p.Status = http.StatusUnprocessableEntity
	switch c := code(err); c {
	case "":
	case okpay.EInvalid:
		s.walletFieldErrors(p, f, err, withdrawFields)
	case money.CodeTooManyDecimals, money.CodeInvalidAmount, money.CodeNegativeAmount, money.CodeAmountOverflow, wallet.EInsufficientFunds:
		f.set("amount", s.withdrawErrorText(p, err))
	case wallet.ECurrencyNotSupported:
		f.set("currency", p.T("walletui.error.currency"))
	case okpay.ENotFound:
		// The wallet of the currency (the method was checked above).
		f.set("currency", p.T("withdrawui.error.no_wallet", "Currency", f.Value("currency")))
	case paymethod.EMethodHold, paymethod.ENotVerified, paymethod.EMethodDeleted, paymethod.ECardExpired, paymethod.ENotPayoutEligible,
		wallet.EMethodCurrency:
		f.set("method", s.withdrawErrorText(p, err))
	default:
		if p.rateLimited(err) {
			break
		}
		switch c {
		case identity.EAccountFrozen, identity.EHoldActive, identity.EContactUnverified:
			p.Status = http.StatusForbidden
		case wallet.EWithdrawalsUnavailable, okpay.EUnavailable:
			p.Status = http.StatusServiceUnavailable
			var ue *wallet.UnavailableError
			if errors.As(err, &ue) {
				w.Header().Set("Retry-After", strconv.Itoa(max(1, int(ue.RetryAfter/time.Second))))
			}
		}
		f.fail(s.withdrawErrorText(p, err))
	}
	s.render(w, r, pageWithdraw, p)
}

// handleWithdrawReview checks the form and shows the quote: what it costs,
// what is held, when it should arrive, how it is confirmed.
func (s *Server) handleWithdrawReview(w http.ResponseWriter, r *http.Request) {
	a, ok := s.requireSignIn(w, r)
	if !ok {
		return
	}
	p := s.walletPage(r, "withdrawui.confirm.page_title")
	f := newForm()
	method, amount, ok := s.readWithdraw(w, r, p, f, a)
	if !ok {
		return
	}
	if f.Any() {
		s.withdrawFailed(w, r, a, f, nil)
		return
	}
	q, err := s.withdraw.wd.Quote(r.Context(), a.user.ID, method.ID, amount)
	if err != nil {
		s.withdrawFailed(w, r, a, f, err)
		return
	}
	p.Data = withdrawConfirmData{
		Method: methodLabel(method), Kind: p.T("withdrawui.kind." + q.MethodKind),
		Amount: p.Money(q.Amount), Fee: p.Money(q.Fee), HasFee: q.Fee.Minor != 0, Total: p.Money(q.Total), Available: p.Money(q.Available),
		ETA:       p.eta(q.EarliestAt, q.LatestAt),
		AuthLabel: p.T("withdrawui.confirm.code_" + authMethodKey(q.AuthMethod)),
		Submit:    p.T("withdrawui.confirm.submit", "Amount", p.Money(q.Amount)),
		Values:    map[string]string{"method": method.PublicID(), "amount": amount.String(), "currency": string(amount.Currency)},
		Key:       newWalletKey(),
	}
	s.render(w, r, pageWithdrawConfirm, p)
}

// handleWithdrawConfirm starts the withdrawal confirmed on the quote page
// (or goes back to the form to change it): its code goes out, and the
// code page asks for it.
func (s *Server) handleWithdrawConfirm(w http.ResponseWriter, r *http.Request) {
	a, ok := s.requireSignIn(w, r)
	if !ok {
		return
	}
	p := s.walletPage(r, "withdrawui.page_title")
	f := newForm()
	method, amount, ok := s.readWithdraw(w, r, p, f, a)
	if !ok {
		return
	}
	if r.PostForm.Get("action") == "edit" || f.Any() {
		pf, ok := s.withdrawFormPage(w, r, a, f)
		if !ok {
			return
		}
		if f.Any() {
			pf.Status = http.StatusUnprocessableEntity
		}
		s.render(w, r, pageWithdraw, pf)
		return
	}
	key := r.PostForm.Get("key")
	if !validWalletKey(key) {
		f.fail(p.T("walletui.error.stale_form"))
		s.withdrawFailed(w, r, a, f, nil)
		return
	}
	res, err := s.withdraw.wd.Create(r.Context(), wallet.WithdrawalInput{UserID: a.user.ID, MethodID: method.ID, Amount: amount, Key: key, Meta: s.meta(w, r)})
	if res != nil && res.Withdrawal != nil {
		// Waiting for its code; or, for a second submission of the same
		// page, wherever the first one got to.
		if res.Withdrawal.Txn.Status == wallet.StatusAwaitingAuth {
			redirect(w, r, "/wallet/withdrawals/"+res.Withdrawal.Ref()+"/code")
			return
		}
		redirect(w, r, "/wallet/withdrawals/"+res.Withdrawal.Ref())
		return
	}
	if err == nil {
		err = errors.New("web: the withdrawal returned nothing")
	}
	s.withdrawFailed(w, r, a, f, err)
}

// ---- The code ----

func (s *Server) withdrawCodePage(r *http.Request, a *signedIn, wd *wallet.Withdrawal, f *form) *page {
	p := s.walletPage(r, "withdrawui.code.page_title")
	p.Form = f
	v := s.withdrawView(r, a, p, wd)
	d := withdrawCodeData{W: v, Submit: p.T("withdrawui.code.submit", "Amount", v.T.Amount)}
	d.Method, d.Hint, d.CanResend = codeMethod(p, a, wd.Txn.AuthMethod, "withdrawui.code.totp_hint", "withdrawui.code.sms_hint")
	p.Data = d
	return p
}

// withdrawCodeStep is the code step of a withdrawal. Confirmed, its funds
// are held: whatever happens to it then (held, refused at the final gate,
// failed after too many wrong codes) its status page says.
func (s *Server) withdrawCodeStep() codeStep {
	return codeStep{path: "/wallet/withdrawals/", field: "withdraw-code", page: pageWithdrawCode, notice: "withdrawui.notice.code_sent",
		gone: []string{wallet.EAuthExpired, wallet.ETooManyAttempts, okpay.EConflict}, errText: s.withdrawErrorText,
		load: func(w http.ResponseWriter, r *http.Request, a *signedIn) (codeTarget, bool) {
			wd, ok := s.withdrawalFromPath(w, r, a)
			if !ok {
				return codeTarget{}, false
			}
			return codeTarget{id: wd.Txn.ID, ref: wd.Ref(), awaiting: wd.Txn.Status == wallet.StatusAwaitingAuth,
				page: func(f *form) *page { return s.withdrawCodePage(r, a, wd, f) }}, true
		},
		confirm: func(ctx context.Context, in wallet.ConfirmInput) (string, error) {
			done, err := s.withdraw.wd.Confirm(ctx, in)
			if done == nil {
				return "", err
			}
			// Held (waiting for review or approved), or refused at the
			// final gate (failed, with the reason on its page).
			return done.Ref(), err
		},
		resend: func(ctx context.Context, userID, txnID int64, m identity.Meta) error {
			_, err := s.withdraw.wd.ResendCode(ctx, userID, txnID, m)
			return err
		},
	}
}

func (s *Server) handleWithdrawCodePage(w http.ResponseWriter, r *http.Request) {
	s.showCodeStep(w, r, s.withdrawCodeStep())
}

func (s *Server) handleWithdrawCode(w http.ResponseWriter, r *http.Request) {
	s.confirmCodeStep(w, r, s.withdrawCodeStep())
}

func (s *Server) handleWithdrawResend(w http.ResponseWriter, r *http.Request) {
	s.resendCodeStep(w, r, s.withdrawCodeStep())
}

// ---- The status ----

func (s *Server) handleWithdrawStatus(w http.ResponseWriter, r *http.Request) {
	a, ok := s.requireSignIn(w, r)
	if !ok {
		return
	}
	wd, ok := s.withdrawalFromPath(w, r, a)
	if !ok {
		return
	}
	p := s.walletPage(r, "withdrawui.status.page_title")
	if r.URL.Query().Get("cancelled") == "1" && wd.Txn.Status == wallet.StatusFailed {
		p.Notice = p.T("withdrawui.notice.cancelled")
	}
	s.renderWithdrawStatus(w, r, a, p, wd)
}

func (s *Server) renderWithdrawStatus(w http.ResponseWriter, r *http.Request, a *signedIn, p *page, wd *wallet.Withdrawal) {
	d := withdrawStatusData{W: s.withdrawView(r, a, p, wd), Timeline: timeline(p, wd.Txn)}
	switch wd.Txn.Status {
	case wallet.StatusPendingReview:
		d.Refreshing = true
		w.Header().Set("Refresh", withdrawRefreshReview)
	case wallet.StatusAuthorized, wallet.StatusApproved, wallet.StatusExecuting:
		// On its way: the page follows it.
		d.Refreshing = true
		w.Header().Set("Refresh", withdrawRefresh)
	}
	p.Data = d
	s.render(w, r, pageWithdrawStatus, p)
}

// handleWithdrawCancel cancels a withdrawal not yet sent to the provider:
// the money held for it is back in the wallet at once.
func (s *Server) handleWithdrawCancel(w http.ResponseWriter, r *http.Request) {
	a, ok := s.requireSignIn(w, r)
	if !ok {
		return
	}
	wd, ok := s.withdrawalFromPath(w, r, a)
	if !ok {
		return
	}
	done, err := s.withdraw.wd.Cancel(r.Context(), a.user.ID, wd.Txn.ID)
	if err == nil {
		redirect(w, r, "/wallet/withdrawals/"+done.Ref()+"?cancelled=1")
		return
	}
	if s.unexpected(w, r, err) {
		return
	}
	// Too late (on its way to the provider, or ended meanwhile): the
	// page as it is now, with why.
	cur, ok := s.withdrawalFromPath(w, r, a)
	if !ok {
		return
	}
	p := s.walletPage(r, "withdrawui.status.page_title")
	p.Form = newForm()
	p.Form.fail(s.withdrawErrorText(p, err))
	p.Status = http.StatusConflict
	s.renderWithdrawStatus(w, r, a, p, cur)
}
