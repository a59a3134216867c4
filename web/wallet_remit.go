package web

import (
	"errors"
	"net/http"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/fx"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/wallet"
)

// Cross-border remittance: form → confirmation (every fee, the rate and
// the market rate, the spread, what the recipient gets, the recipient's
// masked name, whether a code follows) → the code page when the
// remittance needs one (TXN-01: a new payee, or from the step-up
// threshold) → the result. See wallet_exchange.go for the routes.

type remitFormData struct {
	exchangeFormData
	MaxNote int
}

// remitInput is what the remittance form carries.
type remitInput struct {
	exchangeInput
	payee, note string
}

func (in remitInput) values() map[string]string {
	v := in.exchangeInput.values()
	v["payee"], v["note"] = in.payee, in.note
	return v
}

func (s *Server) remitFormPage(r *http.Request, a *signedIn, f *form) (*page, error) {
	p, err := s.exchangeFormPage(r, a, f)
	if err != nil {
		return nil, err
	}
	p.Title = p.T("exchangeui.remit.page_title") + accountTitleSuffix + p.T("app.name")
	d := remitFormData{exchangeFormData: p.Data.(exchangeFormData), MaxNote: s.wallet.svc.Config().MaxNoteRunes}
	d.Remit = true
	p.Data = d
	return p, nil
}

func (s *Server) renderRemitForm(w http.ResponseWriter, r *http.Request, a *signedIn, f *form, status int) {
	p, err := s.remitFormPage(r, a, f)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	p.Status = status
	s.render(w, r, pageRemit, p)
}

func (s *Server) handleRemitPage(w http.ResponseWriter, r *http.Request) {
	a, ok := s.requireSignIn(w, r)
	if !ok {
		return
	}
	s.renderRemitForm(w, r, a, nil, http.StatusOK)
}

// readRemit reads and checks the remittance form.
func (s *Server) readRemit(p *page, f *form, r *http.Request) (remitInput, bool) {
	f.keep(r, "payee", "from", "to", "amount", "side", "note")
	in := remitInput{payee: r.PostForm.Get("payee"), note: r.PostForm.Get("note")}
	in.exchangeInput, _ = s.readPricing(p, f, r)
	if len(in.payee) > wallet.MaxPayeeLen {
		f.set("payee", p.T("walletui.error.payee"))
	}
	if len(in.note) > 4*s.wallet.svc.Config().MaxNoteRunes {
		f.set("note", p.T("walletui.error.note"))
	}
	return in, !f.Any()
}

// ---- The confirmation ----

type remitConfirmData struct {
	Q         quoteView
	Payee     string // masked
	Note      string
	NewPayee  bool
	NeedsAuth bool
	AuthLabel string
	// HoldMinutes is how long the rate is held while the customer
	// types the code.
	HoldMinutes int
	Submit      string
	Values      map[string]string
	Key         string
}

// quoteRemit prices in and renders the confirmation page; errors go back
// to the form.
func (s *Server) quoteRemit(w http.ResponseWriter, r *http.Request, a *signedIn, in remitInput, f *form, status int, notice string) {
	q, err := s.exchange.QuoteRemittance(r.Context(), wallet.RemittanceQuoteInput{UserID: a.user.ID, From: in.from, To: in.to, Amount: in.amount,
		Side: in.side, Payee: in.payee})
	if err != nil {
		p, perr := s.remitFormPage(r, a, f)
		if perr != nil {
			s.internalError(w, r, perr)
			return
		}
		if !s.quoteFailed(w, r, p, f, err) {
			s.render(w, r, pageRemit, p)
		}
		return
	}
	p := s.walletPage(r, "exchangeui.remit.confirm.page_title")
	p.Status, p.Notice = status, notice
	d := remitConfirmData{
		Q: s.quoteView(p, q.Quote, q.Fee, q.Total), Payee: q.Payee, Note: in.note, NewPayee: q.NewPayee, NeedsAuth: q.NeedsAuth,
		HoldMinutes: int(s.wallet.svc.Config().AuthWindow / time.Minute),
		Submit:      p.T("exchangeui.remit.submit", "Amount", p.Money(q.Total)),
		Values:      in.values(), Key: newWalletKey(),
	}
	if q.NeedsAuth {
		d.AuthLabel = p.T("exchangeui.remit.code_"+authMethodKey(q.AuthMethod), "Minutes", d.HoldMinutes)
	}
	p.Data = d
	s.render(w, r, pageRemitConfirm, p)
}

func (s *Server) handleRemitReview(w http.ResponseWriter, r *http.Request) {
	a, ok := s.requireSignIn(w, r)
	if !ok {
		return
	}
	p := s.walletPage(r, "exchangeui.remit.confirm.page_title")
	f := newForm()
	in, ok := s.readRemit(p, f, r)
	if !ok {
		s.renderRemitForm(w, r, a, f, http.StatusUnprocessableEntity)
		return
	}
	s.quoteRemit(w, r, a, in, f, http.StatusOK, "")
}

// handleRemitConfirm sends the remittance confirmed on the confirmation
// page, or goes back to the form, or asks for a new quote.
func (s *Server) handleRemitConfirm(w http.ResponseWriter, r *http.Request) {
	a, ok := s.requireSignIn(w, r)
	if !ok {
		return
	}
	p := s.walletPage(r, "exchangeui.remit.page_title")
	f := newForm()
	in, ok := s.readRemit(p, f, r)
	action := r.PostForm.Get("action")
	if action == "edit" || !ok {
		status := http.StatusOK
		if !ok {
			status = http.StatusUnprocessableEntity
		}
		s.renderRemitForm(w, r, a, f, status)
		return
	}
	if action == "requote" {
		s.quoteRemit(w, r, a, in, f, http.StatusOK, "")
		return
	}
	key := r.PostForm.Get("key")
	quoteID, qok := fx.ParseQuoteRef(r.PostForm.Get("quote"))
	if !validWalletKey(key) || !qok {
		f.fail(p.T("walletui.error.stale_form"))
		s.renderRemitForm(w, r, a, f, http.StatusBadRequest)
		return
	}
	res, err := s.exchange.Remit(r.Context(), wallet.RemitInput{UserID: a.user.ID, QuoteID: quoteID, Payee: in.payee, Note: in.note,
		Key: key, Meta: s.meta(w, r)})
	if res != nil && res.Txn != nil {
		if res.Txn.Status == wallet.StatusAwaitingAuth {
			redirect(w, r, "/wallet/remit/"+res.Txn.Ref()+"/code")
			return
		}
		redirect(w, r, "/wallet/remit/"+res.Txn.Ref())
		return
	}
	if err == nil {
		err = errors.New("web: the remittance returned no transaction")
	}
	switch code(err) {
	case fx.EQuoteExpired:
		s.quoteRemit(w, r, a, in, f, http.StatusConflict, p.T("exchangeui.notice.requoted"))
		return
	case okpay.ENotFound:
		f.fail(p.T("walletui.error.stale_form"))
		s.renderRemitForm(w, r, a, f, http.StatusBadRequest)
		return
	}
	fp, perr := s.remitFormPage(r, a, f)
	if perr != nil {
		s.internalError(w, r, perr)
		return
	}
	if !s.quoteFailed(w, r, fp, f, err) {
		if code(err) == fx.EQuoteUsed {
			fp.Status = http.StatusConflict
		}
		s.render(w, r, pageRemit, fp)
	}
}

// ---- The remittance: code and result ----

// remitTxn reads the {id} of the request: a's remittance (the sender's
// side), or answers 404.
func (s *Server) remitTxn(w http.ResponseWriter, r *http.Request, a *signedIn) (*wallet.Txn, bool) {
	t, ok := s.txnFromPath(w, r, a)
	if !ok {
		return nil, false
	}
	if t.Type != wallet.TypeRemittance || t.RemittanceIn() {
		s.renderAccountError(w, r, http.StatusNotFound, "notfound.title", "walletui.error.txn_not_found")
		return nil, false
	}
	return t, true
}

type remitTxnData struct {
	T         txnView
	Rate      string
	Method    string // the code page: identity.MethodSMS or MethodTOTP
	Hint      string
	Submit    string
	CanResend bool
}

func (s *Server) handleRemitResult(w http.ResponseWriter, r *http.Request) {
	a, ok := s.requireSignIn(w, r)
	if !ok {
		return
	}
	t, ok := s.remitTxn(w, r, a)
	if !ok {
		return
	}
	if t.Status == wallet.StatusAwaitingAuth {
		redirect(w, r, "/wallet/remit/"+t.Ref()+"/code")
		return
	}
	p := s.walletPage(r, "exchangeui.remit.result.page_title")
	p.Data = remitTxnData{T: s.txnView(p, t), Rate: txnRate(t)}
	s.render(w, r, pageRemitResult, p)
}

func (s *Server) remitCodePage(r *http.Request, a *signedIn, t *wallet.Txn, f *form) *page {
	p := s.walletPage(r, "exchangeui.remit.code.page_title")
	p.Form = f
	d := remitTxnData{T: s.txnView(p, t), Rate: txnRate(t), Method: t.AuthMethod,
		Submit: p.T("exchangeui.remit.confirm_code", "Amount", p.Money(t.Total()))}
	if t.AuthMethod == identity.MethodTOTP {
		d.Hint = p.T("walletui.code.totp_hint")
	} else {
		d.Method = identity.MethodSMS
		d.Hint = p.T("walletui.code.sms_hint", "Destination", maskPhone(a.user.Phone))
		d.CanResend = true
	}
	p.Data = d
	return p
}

func (s *Server) handleRemitCodePage(w http.ResponseWriter, r *http.Request) {
	a, ok := s.requireSignIn(w, r)
	if !ok {
		return
	}
	t, ok := s.remitTxn(w, r, a)
	if !ok {
		return
	}
	if t.Status != wallet.StatusAwaitingAuth {
		redirect(w, r, "/wallet/remit/"+t.Ref())
		return
	}
	p := s.remitCodePage(r, a, t, nil)
	if r.URL.Query().Get("sent") == "1" {
		p.Notice = p.T("walletui.notice.code_sent", "Destination", maskPhone(a.user.Phone))
	}
	s.render(w, r, pageRemitCode, p)
}

func (s *Server) handleRemitCode(w http.ResponseWriter, r *http.Request) {
	a, ok := s.requireSignIn(w, r)
	if !ok {
		return
	}
	t, ok := s.remitTxn(w, r, a)
	if !ok {
		return
	}
	c := r.PostForm.Get("code")
	if (c == "" || len(c) > 20) && t.Status == wallet.StatusAwaitingAuth {
		f := newForm()
		p := s.remitCodePage(r, a, t, f)
		f.set("remit-code", p.T("walletui.error.code_required"))
		p.Status = http.StatusUnprocessableEntity
		s.render(w, r, pageRemitCode, p)
		return
	}
	res, err := s.exchange.ConfirmRemittance(r.Context(), wallet.ConfirmInput{UserID: a.user.ID, TxnID: t.ID, Code: c, Meta: s.meta(w, r)})
	if res != nil && res.Txn != nil {
		redirect(w, r, "/wallet/remit/"+res.Txn.Ref())
		return
	}
	switch code(err) {
	case wallet.EAuthExpired, wallet.ETooManyAttempts, okpay.EConflict, fx.EQuoteUsed, fx.EQuoteExpired:
		// The remittance has failed (or moved on): its result says why.
		redirect(w, r, "/wallet/remit/"+t.Ref())
		return
	}
	if s.unexpected(w, r, err) {
		return
	}
	f := newForm()
	p := s.remitCodePage(r, a, t, f)
	p.Status = http.StatusUnprocessableEntity
	switch {
	case code(err) == identity.EInvalidCode:
		f.set("remit-code", p.T("walletui.error.invalid_code"))
	case p.rateLimited(err):
	default:
		f.fail(s.fxErrorText(p, err))
	}
	s.render(w, r, pageRemitCode, p)
}

func (s *Server) handleRemitResend(w http.ResponseWriter, r *http.Request) {
	a, ok := s.requireSignIn(w, r)
	if !ok {
		return
	}
	t, ok := s.remitTxn(w, r, a)
	if !ok {
		return
	}
	_, err := s.exchange.ResendRemittanceCode(r.Context(), a.user.ID, t.ID, s.meta(w, r))
	if err == nil {
		redirect(w, r, "/wallet/remit/"+t.Ref()+"/code?sent=1")
		return
	}
	switch code(err) {
	case wallet.EAuthExpired, okpay.EConflict:
		redirect(w, r, "/wallet/remit/"+t.Ref())
		return
	}
	if s.unexpected(w, r, err) {
		return
	}
	f := newForm()
	p := s.remitCodePage(r, a, t, f)
	p.Status = http.StatusUnprocessableEntity
	if !p.rateLimited(err) {
		f.fail(s.fxErrorText(p, err))
	}
	s.render(w, r, pageRemitCode, p)
}
