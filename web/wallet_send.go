package web

import (
	"context"
	"errors"
	"net/http"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/wallet"
)

// Sending money to another customer: form → confirmation (amount, fee,
// total, the payee's masked name, whether a code will be asked for) →
// the code page when the transfer needs one (TXN-01: above the step-up
// threshold or to a new payee; SMS or the authenticator app, as the
// account's policy says) → the result.

// sendFields maps the wallet's field names to the form's inputs.
var sendFields = map[string]string{"payee": "payee", "payee_kind": "payee", "amount": "amount", "note": "note"}

type sendFormData struct {
	Currencies []walletOption
	Currency   string
	Balances   []walletView // the wallets shown, available amounts
	Frozen     bool
	MaxNote    int
}

type sendConfirmData struct {
	Payee     string // masked
	Amount    string
	Fee       string
	HasFee    bool
	Total     string
	Note      string
	NewPayee  bool
	NeedsAuth bool
	AuthLabel string // how the code will be asked for
	Submit    string // "Send ¥500.00"
	// What the form sends again, as typed (amount as its canonical
	// decimal), with the key that makes a second submission harmless.
	Values map[string]string
	Key    string
}

type sendCodeData struct {
	T         txnView
	Method    string // identity.MethodSMS or MethodTOTP
	Hint      string
	Submit    string
	CanResend bool
}

type sendResultData struct {
	T txnView
}

// sendInput is what the send form carries.
type sendInput struct {
	payee, note, amountText string
	currency                money.Currency
	amount                  money.Amount
}

func (s *Server) sendFormPage(r *http.Request, a *signedIn, f *form) *page {
	p := s.walletPage(r, "walletui.send.page_title")
	p.Form = f
	d := sendFormData{Currencies: s.currencyOptions(), Frozen: a.user.Frozen, MaxNote: s.wallet.svc.Config().MaxNoteRunes}
	// The balances beside the form; without them (a failed read, logged)
	// the form still works.
	ws, err := s.wallet.svc.Wallets(r.Context(), a.user.ID)
	if err != nil {
		s.log.ErrorContext(r.Context(), "web: the send form's balances", "err", err)
	}
	for _, w := range ws {
		if w.Shown() {
			d.Balances = append(d.Balances, p.walletView(w))
		}
	}
	d.Currency = f.Value("currency")
	if d.Currency == "" {
		d.Currency = r.URL.Query().Get("currency")
	}
	// By default the first wallet with money in it, as the exchange form.
	if c, err := money.ParseCurrency(d.Currency); err != nil || !s.walletCurrency(c) {
		d.Currency = string(s.wallet.svc.Config().Currencies[0])
		for _, w := range ws {
			if w.Available.Minor > 0 {
				d.Currency = string(w.Currency)
				break
			}
		}
	}
	p.Data = d
	return p
}

func (s *Server) handleSendPage(w http.ResponseWriter, r *http.Request) {
	a, ok := s.requireSignIn(w, r)
	if !ok {
		return
	}
	p := s.sendFormPage(r, a, newForm())
	p.Form = nil
	s.render(w, r, pageWalletSend, p)
}

// readSend reads and checks the send form's fields, putting what is wrong
// on f.
func (s *Server) readSend(p *page, f *form, r *http.Request) (sendInput, bool) {
	f.keep(r, "payee", "amount", "currency", "note")
	in := sendInput{payee: r.PostForm.Get("payee"), note: r.PostForm.Get("note"), amountText: r.PostForm.Get("amount")}
	in.currency = s.parseCurrency(p, f, "currency", r.PostForm.Get("currency"))
	if in.currency != "" {
		in.amount, _ = p.parseAmount(f, "amount", in.amountText, in.currency)
	}
	if len(in.payee) > wallet.MaxPayeeLen {
		f.set("payee", p.T("walletui.error.payee"))
	}
	if len(in.note) > 4*s.wallet.svc.Config().MaxNoteRunes {
		f.set("note", p.T("walletui.error.note"))
	}
	return in, !f.Any()
}

// sendFailed shows the send form again with err next to its field, or
// answers an unexpected error itself.
func (s *Server) sendFailed(w http.ResponseWriter, r *http.Request, a *signedIn, f *form, err error) {
	if s.unexpected(w, r, err) {
		return
	}
	p := s.sendFormPage(r, a, f)
	p.Status = http.StatusUnprocessableEntity
	switch c := code(err); c {
	case okpay.EInvalid:
		s.walletFieldErrors(p, f, err, sendFields)
	case identity.EPayeeNotFound, wallet.ESelfTransfer:
		f.set("payee", s.errorText(p, err))
	case wallet.ECurrencyNotSupported:
		f.set("currency", p.T("walletui.error.currency"))
	case money.CodeTooManyDecimals, money.CodeInvalidAmount, money.CodeNegativeAmount, money.CodeAmountOverflow:
		f.set("amount", s.errorText(p, err))
	default:
		if p.rateLimited(err) {
			break
		}
		if c == identity.EAccountFrozen || c == identity.EHoldActive || c == identity.EContactUnverified {
			p.Status = http.StatusForbidden
		}
		f.fail(s.errorText(p, err))
	}
	s.render(w, r, pageWalletSend, p)
}

// handleSendReview checks the form and shows the confirmation page.
func (s *Server) handleSendReview(w http.ResponseWriter, r *http.Request) {
	a, ok := s.requireSignIn(w, r)
	if !ok {
		return
	}
	p := s.walletPage(r, "walletui.send.confirm.page_title")
	f := newForm()
	in, ok := s.readSend(p, f, r)
	if !ok {
		p := s.sendFormPage(r, a, f)
		p.Status = http.StatusUnprocessableEntity
		s.render(w, r, pageWalletSend, p)
		return
	}
	q, err := s.wallet.svc.QuoteTransfer(r.Context(), wallet.TransferInput{UserID: a.user.ID, Payer: a.user, Amount: in.amount, Payee: in.payee, Note: in.note})
	if err != nil {
		s.sendFailed(w, r, a, f, err)
		return
	}
	d := sendConfirmData{
		Payee: q.Payee, Amount: p.Money(q.Amount), Fee: p.Money(q.Fee), HasFee: q.Fee.Minor != 0, Total: p.Money(q.Total),
		Note: in.note, NewPayee: q.NewPayee, NeedsAuth: q.NeedsAuth,
		Submit: p.T("walletui.send.submit", "Amount", p.Money(q.Amount)),
		Values: map[string]string{"payee": in.payee, "amount": in.amount.String(), "currency": string(in.currency), "note": in.note},
		Key:    newWalletKey(),
	}
	if q.NeedsAuth {
		d.AuthLabel = p.T("walletui.send.confirm.code_" + authMethodKey(q.AuthMethod))
	}
	p.Data = d
	s.render(w, r, pageWalletSendConfirm, p)
}

// authMethodKey names the second factor of a payment in message ids.
func authMethodKey(m string) string {
	if m == identity.MethodTOTP {
		return "totp"
	}
	return "sms"
}

// handleSendConfirm sends the money confirmed on the confirmation page,
// or goes back to the form to change it.
func (s *Server) handleSendConfirm(w http.ResponseWriter, r *http.Request) {
	a, ok := s.requireSignIn(w, r)
	if !ok {
		return
	}
	p := s.walletPage(r, "walletui.send.page_title")
	f := newForm()
	in, ok := s.readSend(p, f, r)
	if r.PostForm.Get("action") == "edit" || !ok {
		p := s.sendFormPage(r, a, f)
		if !ok {
			p.Status = http.StatusUnprocessableEntity
		}
		s.render(w, r, pageWalletSend, p)
		return
	}
	key := r.PostForm.Get("key")
	if !validWalletKey(key) {
		f.fail(p.T("walletui.error.stale_form"))
		p := s.sendFormPage(r, a, f)
		p.Status = http.StatusBadRequest
		s.render(w, r, pageWalletSend, p)
		return
	}
	res, err := s.wallet.svc.Transfer(r.Context(), wallet.TransferInput{UserID: a.user.ID, Payer: a.user, Amount: in.amount, Payee: in.payee, Note: in.note,
		Key: key, Meta: s.meta(w, r)})
	if res != nil && res.Txn != nil {
		// Completed, waiting for its code, or refused at execution (then
		// recorded as failed, with the reason on the result page).
		if res.Txn.Status == wallet.StatusAwaitingAuth {
			redirect(w, r, "/wallet/send/"+res.Txn.Ref()+"/code")
			return
		}
		redirect(w, r, "/wallet/send/"+res.Txn.Ref())
		return
	}
	if err == nil {
		err = errors.New("web: the transfer returned no transaction")
	}
	s.sendFailed(w, r, a, f, err)
}

// sendTxn reads the {id} of the request: a's transfer, or answers 404.
func (s *Server) sendTxn(w http.ResponseWriter, r *http.Request, a *signedIn) (*wallet.Txn, bool) {
	t, ok := s.txnFromPath(w, r, a)
	if !ok {
		return nil, false
	}
	if t.Type != wallet.TypeTransferOut {
		s.renderAccountError(w, r, http.StatusNotFound, "notfound.title", "walletui.error.txn_not_found")
		return nil, false
	}
	return t, true
}

func (s *Server) handleSendResult(w http.ResponseWriter, r *http.Request) {
	a, ok := s.requireSignIn(w, r)
	if !ok {
		return
	}
	t, ok := s.sendTxn(w, r, a)
	if !ok {
		return
	}
	if t.Status == wallet.StatusAwaitingAuth {
		redirect(w, r, "/wallet/send/"+t.Ref()+"/code")
		return
	}
	p := s.walletPage(r, "walletui.send.result.page_title")
	p.Data = sendResultData{T: s.txnView(p, t)}
	s.render(w, r, pageWalletSendResult, p)
}

// sendCodePage builds the code page of t.
func (s *Server) sendCodePage(r *http.Request, a *signedIn, t *wallet.Txn, f *form) *page {
	p := s.walletPage(r, "walletui.send.code.page_title")
	p.Form = f
	d := sendCodeData{T: s.txnView(p, t), Submit: p.T("walletui.send.confirm_code", "Amount", p.Money(t.Amount))}
	d.Method, d.Hint, d.CanResend = codeMethod(p, a, t.AuthMethod, "walletui.code.totp_hint", "walletui.code.sms_hint")
	p.Data = d
	return p
}

// sendCodeStep is the code step of a transfer.
func (s *Server) sendCodeStep() codeStep {
	return codeStep{path: "/wallet/send/", field: "send-code", page: pageWalletSendCode, notice: "walletui.notice.code_sent",
		gone: []string{wallet.EAuthExpired, wallet.ETooManyAttempts, okpay.EConflict}, errText: s.errorText,
		load: func(w http.ResponseWriter, r *http.Request, a *signedIn) (codeTarget, bool) {
			t, ok := s.sendTxn(w, r, a)
			if !ok {
				return codeTarget{}, false
			}
			return codeTarget{id: t.ID, ref: t.Ref(), awaiting: t.Status == wallet.StatusAwaitingAuth,
				page: func(f *form) *page { return s.sendCodePage(r, a, t, f) }}, true
		},
		confirm: func(ctx context.Context, in wallet.ConfirmInput) (string, error) {
			res, err := s.wallet.svc.ConfirmTransfer(ctx, in)
			return txnRef(res), err
		},
		resend: func(ctx context.Context, userID, txnID int64, m identity.Meta) error {
			_, err := s.wallet.svc.ResendTransferCode(ctx, userID, txnID, m)
			return err
		},
	}
}

// txnRef is the ref of res's transaction, "" for none.
func txnRef(res *wallet.TransferResult) string {
	if res == nil || res.Txn == nil {
		return ""
	}
	return res.Txn.Ref()
}

func (s *Server) handleSendCodePage(w http.ResponseWriter, r *http.Request) {
	s.showCodeStep(w, r, s.sendCodeStep())
}

func (s *Server) handleSendCode(w http.ResponseWriter, r *http.Request) {
	s.confirmCodeStep(w, r, s.sendCodeStep())
}

func (s *Server) handleSendResend(w http.ResponseWriter, r *http.Request) {
	s.resendCodeStep(w, r, s.sendCodeStep())
}
