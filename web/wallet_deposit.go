package web

import (
	"net/http"
	"net/url"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/paymethod"
	"github.com/okpay/okpay/psp"
	"github.com/okpay/okpay/wallet"
)

// Adding money from a card: choose one of the account's verified cards
// and an amount → the confirmation page with the fee and what reaches
// the wallet → the provider charges the card (its 3-D Secure page first
// when the issuer asks for one, which brings the browser back to
// /wallet/deposits/return) → the deposit's page, which refreshes itself
// while the provider works (a Refresh header: no JavaScript needed) and
// shows the money credited once the provider's webhook confirms it.

// depositRefresh is how often a pending deposit's page reloads, in
// seconds.
const depositRefresh = "3"

// cardOption is a card to deposit from.
type cardOption struct {
	ID    string // pm_…
	Label string // brand •••• last4 (CRD-03)
}

type depositFormData struct {
	Cards      []cardOption
	Card       string // the one chosen
	Currencies []walletOption
	Currency   string
}

type depositConfirmData struct {
	Card    string
	Amount  string
	Fee     string
	HasFee  bool
	Net     string
	Submit  string
	Values  map[string]string
	Key     string
	Account string // the wallet credited
}

type depositStatusData struct {
	T       txnView
	Card    string
	Pending bool
	Action  string // the 3-D Secure page while it waits for the customer
	Balance string // the wallet's available balance once credited
}

// depositFields maps the wallet's field names to the form's inputs.
var depositFields = map[string]string{"amount": "amount", "idempotency_key": "amount"}

// walletBrands are how card brands are written on the wallet pages.
var walletBrands = map[string]string{
	"visa": "Visa", "mastercard": "Mastercard", "amex": "American Express", "unionpay": "UnionPay",
	"jcb": "JCB", "discover": "Discover", "diners": "Diners Club", "maestro": "Maestro",
}

// methodLabel shows a card as brand •••• last4, and any other method by
// its masked label (CRD-03).
func methodLabel(m *paymethod.Method) string {
	if m.Card != nil {
		b := walletBrands[m.Card.Brand]
		if b == "" {
			b = m.Card.Brand
		}
		return b + " •••• " + m.Card.Last4
	}
	return m.Label
}

// depositCards lists a's verified cards.
func (s *Server) depositCards(r *http.Request, a *signedIn) ([]*paymethod.Method, error) {
	if s.wallet.methods == nil {
		return nil, nil
	}
	all, err := s.wallet.methods.List(r.Context(), a.user.ID)
	if err != nil {
		return nil, err
	}
	var out []*paymethod.Method
	for _, m := range all {
		if m.Kind == paymethod.KindCard && m.Status == paymethod.StatusVerified && !m.Deleted() {
			out = append(out, m)
		}
	}
	return out, nil
}

// cardLabel names the card of a deposit ("" when it cannot be read).
func (s *Server) cardLabel(r *http.Request, a *signedIn, methodID int64) string {
	if s.wallet.methods == nil || methodID == 0 {
		return ""
	}
	m, err := s.wallet.methods.Get(r.Context(), a.user.ID, methodID)
	if err != nil {
		return ""
	}
	return methodLabel(m)
}

func (s *Server) depositFormPage(w http.ResponseWriter, r *http.Request, a *signedIn, f *form) (*page, bool) {
	p := s.walletPage(r, "walletui.deposit.page_title")
	p.Form = f
	cards, err := s.depositCards(r, a)
	if err != nil {
		s.internalError(w, r, err)
		return nil, false
	}
	d := depositFormData{Currencies: s.currencyOptions(), Currency: f.Value("currency"), Card: f.Value("card")}
	if d.Currency == "" {
		d.Currency = r.URL.Query().Get("currency")
	}
	if c, err := money.ParseCurrency(d.Currency); err != nil || !s.walletCurrency(c) {
		d.Currency = string(s.wallet.svc.Config().Currencies[0])
	}
	for _, m := range cards {
		d.Cards = append(d.Cards, cardOption{ID: m.PublicID(), Label: methodLabel(m)})
	}
	if d.Card == "" && len(d.Cards) > 0 {
		d.Card = d.Cards[0].ID
		for _, m := range cards {
			if m.Default {
				d.Card = m.PublicID()
			}
		}
	}
	p.Data = d
	return p, true
}

func (s *Server) handleDepositPage(w http.ResponseWriter, r *http.Request) {
	a, ok := s.requireSignIn(w, r)
	if !ok {
		return
	}
	p, ok := s.depositFormPage(w, r, a, nil)
	if !ok {
		return
	}
	s.render(w, r, pageWalletDeposit, p)
}

// readDeposit reads the deposit form: a verified card of a's, an amount.
func (s *Server) readDeposit(w http.ResponseWriter, r *http.Request, p *page, f *form, a *signedIn) (*paymethod.Method, money.Amount, bool) {
	return s.readMethodAmount(w, r, p, f, "card", "walletui.error.card", func() ([]*paymethod.Method, error) { return s.depositCards(r, a) })
}

// depositFailed shows the deposit form again with err.
func (s *Server) depositFailed(w http.ResponseWriter, r *http.Request, a *signedIn, f *form, err error) {
	if err != nil && s.unexpected(w, r, err) {
		return
	}
	p, ok := s.depositFormPage(w, r, a, f)
	if !ok {
		return
	}
	p.Status = http.StatusUnprocessableEntity
	switch c := code(err); c {
	case "":
	case okpay.EInvalid:
		s.walletFieldErrors(p, f, err, depositFields)
	case wallet.EAmountBelowFee, money.CodeAmountOverflow:
		f.set("amount", s.errorText(p, err))
	case wallet.ECurrencyNotSupported:
		f.set("currency", p.T("walletui.error.currency"))
	case okpay.ENotFound, paymethod.ENotVerified, paymethod.ECardExpired, paymethod.EMethodDeleted, psp.ETokenNotFound:
		f.set("card", s.errorText(p, err))
	default:
		if c == wallet.EDepositsUnavailable || c == psp.EUnavailable {
			p.Status = http.StatusServiceUnavailable
		}
		f.fail(s.errorText(p, err))
	}
	s.render(w, r, pageWalletDeposit, p)
}

// handleDepositReview checks the form and shows the confirmation page.
func (s *Server) handleDepositReview(w http.ResponseWriter, r *http.Request) {
	a, ok := s.requireSignIn(w, r)
	if !ok {
		return
	}
	p := s.walletPage(r, "walletui.deposit.confirm.page_title")
	f := newForm()
	card, amount, ok := s.readDeposit(w, r, p, f, a)
	if !ok {
		return
	}
	if f.Any() {
		s.depositFailed(w, r, a, f, nil)
		return
	}
	q, err := s.wallet.svc.QuoteDeposit(amount)
	if err != nil {
		s.depositFailed(w, r, a, f, err)
		return
	}
	p.Data = depositConfirmData{
		Card: methodLabel(card), Amount: p.Money(q.Amount), Fee: p.Money(q.Fee), HasFee: q.Fee.Minor != 0, Net: p.Money(q.Net),
		Submit:  p.T("walletui.deposit.submit", "Amount", p.Money(q.Amount)),
		Values:  map[string]string{"card": card.PublicID(), "amount": amount.String(), "currency": string(amount.Currency)},
		Key:     newWalletKey(),
		Account: string(amount.Currency),
	}
	s.render(w, r, pageWalletDepositConfirm, p)
}

// handleDepositConfirm charges the card confirmed on the confirmation
// page (or goes back to the form to change it).
func (s *Server) handleDepositConfirm(w http.ResponseWriter, r *http.Request) {
	a, ok := s.requireSignIn(w, r)
	if !ok {
		return
	}
	p := s.walletPage(r, "walletui.deposit.page_title")
	f := newForm()
	card, amount, ok := s.readDeposit(w, r, p, f, a)
	if !ok {
		return
	}
	if r.PostForm.Get("action") == "edit" || f.Any() {
		pf, ok := s.depositFormPage(w, r, a, f)
		if !ok {
			return
		}
		if f.Any() {
			pf.Status = http.StatusUnprocessableEntity
		}
		s.render(w, r, pageWalletDeposit, pf)
		return
	}
	key := r.PostForm.Get("key")
	if !validWalletKey(key) {
		f.fail(p.T("walletui.error.stale_form"))
		s.depositFailed(w, r, a, f, nil)
		return
	}
	t, err := s.wallet.svc.StartDeposit(r.Context(), wallet.DepositInput{UserID: a.user.ID, MethodID: card.ID, Amount: amount, Key: key,
		ReturnURL: "/wallet/deposits/return?key=" + url.QueryEscape(key), Meta: s.meta(w, r)})
	if t != nil {
		// Started, credited, declined (recorded as failed, with the
		// reason), or waiting for 3-D Secure at the provider's page.
		if t.Status == wallet.StatusAwaitingAuth && t.ActionURL != "" {
			redirect(w, r, t.ActionURL)
			return
		}
		redirect(w, r, "/wallet/deposits/"+t.Ref())
		return
	}
	s.depositFailed(w, r, a, f, err)
}

// handleDepositReturn is where the provider's 3-D Secure page sends the
// browser back: on to the deposit made with the form's key.
func (s *Server) handleDepositReturn(w http.ResponseWriter, r *http.Request) {
	a, ok := s.requireSignIn(w, r)
	if !ok {
		return
	}
	key := r.URL.Query().Get("key")
	if validWalletKey(key) {
		pg, err := s.wallet.svc.FindTransactions(r.Context(), a.user.ID, wallet.Filter{Type: wallet.TypeDeposit, Limit: wallet.MaxPage})
		if err != nil {
			s.internalError(w, r, err)
			return
		}
		for _, t := range pg.Txns {
			if t.Key == key {
				redirect(w, r, "/wallet/deposits/"+t.Ref())
				return
			}
		}
	}
	redirect(w, r, "/wallet/transactions?type=deposit")
}

func (s *Server) handleDepositStatus(w http.ResponseWriter, r *http.Request) {
	a, ok := s.requireSignIn(w, r)
	if !ok {
		return
	}
	t, ok := s.txnFromPath(w, r, a)
	if !ok {
		return
	}
	if t.Type != wallet.TypeDeposit {
		s.renderAccountError(w, r, http.StatusNotFound, "notfound.title", "walletui.error.txn_not_found")
		return
	}
	p := s.walletPage(r, "walletui.deposit.status.page_title")
	d := depositStatusData{T: s.txnView(p, t), Card: s.cardLabel(r, a, t.MethodID)}
	switch t.Status {
	case wallet.StatusAwaitingAuth:
		d.Action = t.ActionURL
	case wallet.StatusCompleted:
		if wl, err := s.wallet.svc.FindWallet(r.Context(), a.user.ID, t.Amount.Currency); err == nil {
			d.Balance = p.Money(wl.Available)
		}
	}
	if !t.Status.Final() && d.Action == "" {
		d.Pending = true
		// The page reloads itself until the provider has answered.
		w.Header().Set("Refresh", depositRefresh)
	}
	p.Data = d
	s.render(w, r, pageWalletDepositStatus, p)
}
