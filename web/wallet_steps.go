package web

import (
	"context"
	"errors"
	"net/http"
	"slices"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/fx"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/paymethod"
	"github.com/okpay/okpay/wallet"
)

// Steps shared by the wallet's flows: the code page of a payment awaiting
// its code (send, remit, withdraw), the choice of a payment method with
// an amount (deposit, withdraw), and the execution of a confirmed quote
// (exchange, remit).

// ---- The code step ----

// codeStep is the code page of one kind of transaction: showing it,
// confirming the transaction with the code typed in, sending a new code.
type codeStep struct {
	path   string // the transaction's page is path + its ref; its code page path + ref + "/code"
	field  string // the code field's id
	page   string // the code page's template
	notice string // the notice of a code sent
	// gone are the refusals of a confirmation after which the
	// transaction has failed (or moved on): its page says why.
	gone    []string
	errText func(*page, error) string
	load    func(http.ResponseWriter, *http.Request, *signedIn) (codeTarget, bool)
	// confirm confirms the transaction and returns the ref of its
	// outcome ("" for none).
	confirm func(context.Context, wallet.ConfirmInput) (string, error)
	resend  func(ctx context.Context, userID, txnID int64, m identity.Meta) error
}

// codeTarget is the transaction of a code step's request.
type codeTarget struct {
	id       int64
	ref      string
	awaiting bool                // its status is awaiting_auth
	page     func(f *form) *page // its code page, with f
}

// codeMethod says how a code of method comes: the method shown, its hint
// (totpHint or smsHint, the catalog's ids) and whether a new one can be
// sent.
func codeMethod(p *page, a *signedIn, method, totpHint, smsHint string) (string, string, bool) {
	if method == identity.MethodTOTP {
		return method, p.T(totpHint), false
	}
	return identity.MethodSMS, p.T(smsHint, "Destination", maskPhone(a.user.Phone)), true
}

// showCodeStep serves the code page of a transaction awaiting its code;
// any other goes to its own page.
func (s *Server) showCodeStep(w http.ResponseWriter, r *http.Request, st codeStep) {
	a, ok := s.requireSignIn(w, r)
	if !ok {
		return
	}
	t, ok := st.load(w, r, a)
	if !ok {
		return
	}
	if !t.awaiting {
		redirect(w, r, st.path+t.ref)
		return
	}
	p := t.page(nil)
	if r.URL.Query().Get("sent") == "1" {
		p.Notice = p.T(st.notice, "Destination", maskPhone(a.user.Phone))
	}
	s.render(w, r, st.page, p)
}

// confirmCodeStep confirms a transaction with the code posted: its
// outcome's page follows, or the code page again with why.
func (s *Server) confirmCodeStep(w http.ResponseWriter, r *http.Request, st codeStep) {
	a, ok := s.requireSignIn(w, r)
	if !ok {
		return
	}
	t, ok := st.load(w, r, a)
	if !ok {
		return
	}
	c := r.PostForm.Get("code")
	if (c == "" || len(c) > 20) && t.awaiting {
		f := newForm()
		p := t.page(f)
		f.set(st.field, p.T("walletui.error.code_required"))
		p.Status = http.StatusUnprocessableEntity
		s.render(w, r, st.page, p)
		return
	}
	done, err := st.confirm(r.Context(), wallet.ConfirmInput{UserID: a.user.ID, TxnID: t.id, Code: c, Meta: s.meta(w, r)})
	if done != "" {
		redirect(w, r, st.path+done)
		return
	}
	if slices.Contains(st.gone, code(err)) {
		redirect(w, r, st.path+t.ref)
		return
	}
	if s.unexpected(w, r, err) {
		return
	}
	f := newForm()
	p := t.page(f)
	p.Status = http.StatusUnprocessableEntity
	switch {
	case code(err) == identity.EInvalidCode:
		f.set(st.field, p.T("walletui.error.invalid_code"))
	case p.rateLimited(err):
	default:
		f.fail(st.errText(p, err))
	}
	s.render(w, r, st.page, p)
}

// resendCodeStep sends a new code (SMS) for a transaction awaiting one.
func (s *Server) resendCodeStep(w http.ResponseWriter, r *http.Request, st codeStep) {
	a, ok := s.requireSignIn(w, r)
	if !ok {
		return
	}
	t, ok := st.load(w, r, a)
	if !ok {
		return
	}
	err := st.resend(r.Context(), a.user.ID, t.id, s.meta(w, r))
	if err == nil {
		redirect(w, r, st.path+t.ref+"/code?sent=1")
		return
	}
	switch code(err) {
	case wallet.EAuthExpired, okpay.EConflict:
		redirect(w, r, st.path+t.ref)
		return
	}
	if s.unexpected(w, r, err) {
		return
	}
	f := newForm()
	p := t.page(f)
	p.Status = http.StatusUnprocessableEntity
	if !p.rateLimited(err) {
		f.fail(st.errText(p, err))
	}
	s.render(w, r, st.page, p)
}

// ---- A payment method with an amount ----

// readMethodAmount reads a form choosing one of methods (the field
// field; missing is the catalog's id of the error when none is chosen)
// and an amount ("amount") in a currency ("currency").
func (s *Server) readMethodAmount(w http.ResponseWriter, r *http.Request, p *page, f *form, field, missing string,
	methods func() ([]*paymethod.Method, error)) (*paymethod.Method, money.Amount, bool) {
	f.keep(r, field, "amount", "currency")
	list, err := methods()
	if err != nil {
		s.internalError(w, r, err)
		return nil, money.Amount{}, false
	}
	var method *paymethod.Method
	if id, ok := paymethod.ParseID(r.PostForm.Get(field)); ok {
		for _, m := range list {
			if m.ID == id {
				method = m
			}
		}
	}
	if method == nil {
		f.set(field, p.T(missing))
	}
	var amount money.Amount
	if c := s.parseCurrency(p, f, "currency", r.PostForm.Get("currency")); c != "" {
		amount, _ = p.parseAmount(f, "amount", r.PostForm.Get("amount"), c)
	}
	return method, amount, true
}

// ---- A confirmed quote ----

// quoteStep is the confirmation of a quote (exchange, remittance): its
// form, its quote page, what executes it.
type quoteStep struct {
	what     string // "exchange", "remittance": in the error of an execution that returned nothing
	page     string // the form's template
	form     func(w http.ResponseWriter, status int)
	requote  func(w http.ResponseWriter, status int, notice string)
	formPage func() (*page, error)
}

// confirmedQuote reads the key and quote of a confirmation whose form
// read ok, or answers the request itself: back to the form (edit, or a
// form that did not read), a new quote (requote), or a stale form.
func (st quoteStep) confirmedQuote(w http.ResponseWriter, r *http.Request, p *page, f *form, ok bool) (string, int64, bool) {
	action := r.PostForm.Get("action")
	if action == "edit" || !ok {
		status := http.StatusOK
		if !ok {
			status = http.StatusUnprocessableEntity
		}
		st.form(w, status)
		return "", 0, false
	}
	if action == "requote" {
		st.requote(w, http.StatusOK, "")
		return "", 0, false
	}
	key := r.PostForm.Get("key")
	quoteID, qok := fx.ParseQuoteRef(r.PostForm.Get("quote"))
	if !validWalletKey(key) || !qok {
		f.fail(p.T("walletui.error.stale_form"))
		st.form(w, http.StatusBadRequest)
		return "", 0, false
	}
	return key, quoteID, true
}

// quoteExecFailed answers the execution of a quote that returned no
// transaction, with err: a new quote for an expired one, the form again
// for a stale one or with why.
func (s *Server) quoteExecFailed(w http.ResponseWriter, r *http.Request, st quoteStep, p *page, f *form, err error) {
	if err == nil {
		err = errors.New("web: the " + st.what + " returned no transaction")
	}
	switch code(err) {
	case fx.EQuoteExpired:
		// Nothing moved: say so, and show a new quote to confirm.
		st.requote(w, http.StatusConflict, p.T("exchangeui.notice.requoted"))
		return
	case okpay.ENotFound:
		f.fail(p.T("walletui.error.stale_form"))
		st.form(w, http.StatusBadRequest)
		return
	}
	fp, perr := st.formPage()
	if perr != nil {
		s.internalError(w, r, perr)
		return
	}
	if !s.quoteFailed(w, r, fp, f, err) {
		if code(err) == fx.EQuoteUsed {
			fp.Status = http.StatusConflict
		}
		s.render(w, r, st.page, fp)
	}
}
