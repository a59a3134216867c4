package web

import (
	"context"
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
	st := quoteStep{what: "remittance", page: pageRemit,
		form:     func(w http.ResponseWriter, status int) { s.renderRemitForm(w, r, a, f, status) },
		requote:  func(w http.ResponseWriter, status int, notice string) { s.quoteRemit(w, r, a, in, f, status, notice) },
		formPage: func() (*page, error) { return s.remitFormPage(r, a, f) }}
	key, quoteID, ok := st.confirmedQuote(w, r, p, f, ok)
	if !ok {
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
	s.quoteExecFailed(w, r, st, p, f, err)
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
	d := remitTxnData{T: s.txnView(p, t), Rate: txnRate(t),
		Submit: p.T("exchangeui.remit.confirm_code", "Amount", p.Money(t.Total()))}
	d.Method, d.Hint, d.CanResend = codeMethod(p, a, t.AuthMethod, "walletui.code.totp_hint", "walletui.code.sms_hint")
	p.Data = d
	return p
}

// remitCodeStep is the code step of a remittance.
func (s *Server) remitCodeStep() codeStep {
	return codeStep{path: "/wallet/remit/", field: "remit-code", page: pageRemitCode, notice: "walletui.notice.code_sent",
		gone:    []string{wallet.EAuthExpired, wallet.ETooManyAttempts, okpay.EConflict, fx.EQuoteUsed, fx.EQuoteExpired},
		errText: s.fxErrorText,
		load: func(w http.ResponseWriter, r *http.Request, a *signedIn) (codeTarget, bool) {
			t, ok := s.remitTxn(w, r, a)
			if !ok {
				return codeTarget{}, false
			}
			return codeTarget{id: t.ID, ref: t.Ref(), awaiting: t.Status == wallet.StatusAwaitingAuth,
				page: func(f *form) *page { return s.remitCodePage(r, a, t, f) }}, true
		},
		confirm: func(ctx context.Context, in wallet.ConfirmInput) (string, error) {
			res, err := s.exchange.ConfirmRemittance(ctx, in)
			return txnRef(res), err
		},
		resend: func(ctx context.Context, userID, txnID int64, m identity.Meta) error {
			_, err := s.exchange.ResendRemittanceCode(ctx, userID, txnID, m)
			return err
		},
	}
}

func (s *Server) handleRemitCodePage(w http.ResponseWriter, r *http.Request) {
	s.showCodeStep(w, r, s.remitCodeStep())
}

func (s *Server) handleRemitCode(w http.ResponseWriter, r *http.Request) {
	s.confirmCodeStep(w, r, s.remitCodeStep())
}

func (s *Server) handleRemitResend(w http.ResponseWriter, r *http.Request) {
	s.resendCodeStep(w, r, s.remitCodeStep())
}
