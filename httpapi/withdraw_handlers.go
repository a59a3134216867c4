package httpapi

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/paymethod"
	"github.com/okpay/okpay/wallet"
)

// The customer's withdrawals (wallet.Withdrawals): money out of a wallet
// to one of the customer's payout methods (a verified bank card, bank
// account or e-wallet, past its 24 h hold).
//
//	POST /api/v1/withdrawals/quote         the fee, the total held and the expected completion (business days)
//	POST /api/v1/withdrawals               starts one: awaiting_auth, a code bound to it sent by SMS (or the authenticator app's asked for)
//	POST /api/v1/withdrawals/{id}/confirm  the code: the funds (amount and fee) are held; pending_review or approved
//	POST /api/v1/withdrawals/{id}/code     a new SMS code
//	POST /api/v1/withdrawals/{id}/cancel   while not yet sent to the provider: the money comes back at once
//	GET  /api/v1/withdrawals/{id}          where it is; why it failed or was rejected
//
// A withdrawal's id is its wallet transaction's (txn_…), so it is in the
// history too (GET /api/v1/transactions/{id}).
//
// The three POSTs that move money (start, confirm, cancel) require an
// Idempotency-Key scoped to the customer, with the wallet routes'
// semantics (walletKey): the same key and body replay the stored answer,
// another body is 422 idempotency_key_reused, a request in flight 409.
// Successes are stored right after their effect. Each of the three is
// also safe to repeat by itself, so a lost record changes nothing: the
// start's key is the wallet's own key of the withdrawal (a retry finds
// it), the hold's ledger reference is the withdrawal's (confirming again
// answers the withdrawal as it is), and cancelling a cancelled
// withdrawal is refused. Refusals are not stored: a withdrawal refused at
// its final gate is recorded failed, and a retry gets the same refusal
// from it.

// withdrawalRoutes are the withdrawals' routes, served when the server
// has the identity, wallet and withdrawal services.
var withdrawalRoutes = []Route{
	{"POST", "/api/v1/withdrawals/quote", AuthSession, IdemNone},
	{"POST", "/api/v1/withdrawals", AuthSession, IdemRequired},
	{"GET", "/api/v1/withdrawals/{id}", AuthSession, IdemNone},
	{"POST", "/api/v1/withdrawals/{id}/confirm", AuthSession, IdemRequired},
	{"POST", "/api/v1/withdrawals/{id}/code", AuthSession, IdemNone},
	{"POST", "/api/v1/withdrawals/{id}/cancel", AuthSession, IdemRequired},
}

// registerWithdrawals adds the withdrawals' routes to mux, each wrapped
// as withdrawalRoutes says.
func (s *Server) registerWithdrawals(mux *http.ServeMux) {
	plain := map[string]sessionHandler{
		"POST /api/v1/withdrawals/quote":     s.handleQuoteWithdrawal,
		"GET /api/v1/withdrawals/{id}":       s.handleGetWithdrawal,
		"POST /api/v1/withdrawals/{id}/code": s.handleResendWithdrawalCode,
	}
	moneyRoutes := map[string]moneyRouteHandler{
		"POST /api/v1/withdrawals":              s.handleCreateWithdrawal,
		"POST /api/v1/withdrawals/{id}/confirm": s.handleConfirmWithdrawal,
		"POST /api/v1/withdrawals/{id}/cancel":  s.handleCancelWithdrawal,
	}
	s.registerCustomerRoutes(mux, "withdrawal", withdrawalRoutes, plain, moneyRoutes)
}

// withdrawalRequest is the body of a quote and of a withdrawal.
type withdrawalRequest struct {
	PaymentMethod string        `json:"payment_method"`
	Amount        *money.Amount `json:"amount"`
}

// input checks the body before the withdrawals see it.
func (req *withdrawalRequest) input() (int64, money.Amount, error) {
	fields := map[string]string{}
	method, ok := paymethod.ParseID(req.PaymentMethod)
	if !ok {
		fields["payment_method"] = "the id of a verified payout method (pm_…)"
	}
	if req.Amount == nil {
		fields["amount"] = "required"
	}
	if len(fields) > 0 {
		return 0, money.Amount{}, okpay.Invalid(fields)
	}
	return method, *req.Amount, nil
}

// withdrawalIDFromPath reads the {id} of a withdrawal route.
func withdrawalIDFromPath(r *http.Request) (int64, error) {
	id, ok := wallet.ParseWithdrawalRef(r.PathValue("id"))
	if !ok {
		return 0, okpay.Errorf(okpay.ENotFound, "There is no such withdrawal.")
	}
	return id, nil
}

// withdrawalError says a refusal of the withdrawals as the customer sees
// it: the wallet's refusals as walletError does; a method too new to
// receive money says until when ("hold_until"); and a withdrawal that has
// already ended (cancelled, expired, rejected by a reviewer, failed at
// the provider: codes of its own, see GET) is a conflict.
func (s *Server) withdrawalError(err error) error {
	code := okpay.ErrorCode(err)
	var hold *paymethod.HoldError
	if errors.As(err, &hold) {
		m := append(make([]byte, 0, 48), `,"hold_until":`...)
		m = appendTime(m, hold.Until)
		return &extendedError{error: okpay.Errorf(paymethod.EMethodHold, "%s", hold.Error()), members: m}
	}
	if _, known := statusOf[code]; !known && code != "" {
		return okpay.Errorf(okpay.EConflict, "This withdrawal has ended: %s", okpay.ErrorMessage(err))
	}
	return s.walletError(err)
}

// setRetryAfter answers a withdrawal refused while the provider's payout
// rail is down (wallet.UnavailableError, 503) with its Retry-After.
func setRetryAfter(w http.ResponseWriter, err error) {
	var ue *wallet.UnavailableError
	if errors.As(err, &ue) {
		w.Header().Set("Retry-After", strconv.FormatInt(retryAfterSeconds(ue.RetryAfter), 10))
	}
}

// bodyNotFound says what a quote's or a withdrawal's not_found is about:
// the customer has no wallet in the amount's currency, or the payout
// method is not one of theirs. Both are wrong fields of the body
// (not_found would name the route's object).
func (s *Server) bodyNotFound(r *http.Request, c *caller, amount money.Amount, err error) error {
	if okpay.ErrorCode(err) != okpay.ENotFound {
		return err
	}
	if _, werr := s.wallet.FindWallet(r.Context(), c.user.ID, amount.Currency); okpay.ErrorCode(werr) == okpay.ENotFound {
		return okpay.Invalid(map[string]string{"amount": "you have no wallet in this currency"})
	}
	return okpay.Invalid(map[string]string{"payment_method": "not a payout method of this account"})
}

// ---------------------------------------------------------------------------
// Handlers.

func (s *Server) handleQuoteWithdrawal(w http.ResponseWriter, r *http.Request, c *caller) {
	var req withdrawalRequest
	if !s.readJSON(w, r, &req) {
		return
	}
	method, amount, err := req.input()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	q, err := s.withdrawals.Quote(r.Context(), c.user.ID, method, amount)
	if err != nil {
		setRetryAfter(w, err)
		s.writeError(w, r, s.withdrawalError(s.bodyNotFound(r, c, amount, err)))
		return
	}
	b := append(make([]byte, 0, 512), `{"object":"withdrawal_quote","payment_method":"`...)
	b = ids.Append(b, paymethod.IDPrefix, q.MethodID)
	b = append(b, `","method_kind":`...)
	b = appendString(b, q.MethodKind)
	b = append(b, `,"method_label":`...)
	b = appendString(b, q.MethodLabel)
	b = append(b, `,"amount":`...)
	b = appendMoney(b, q.Amount.Minor, q.Amount.Currency)
	b = append(b, `,"fee":`...)
	b = appendMoney(b, q.Fee.Minor, q.Fee.Currency)
	b = append(b, `,"total":`...)
	b = appendMoney(b, q.Total.Minor, q.Total.Currency)
	b = append(b, `,"available":`...)
	b = appendMoney(b, q.Available.Minor, q.Available.Currency)
	b = append(b, `,"expected_earliest":`...)
	b = appendTime(b, q.EarliestAt)
	b = append(b, `,"expected_latest":`...)
	b = appendTime(b, q.LatestAt)
	b = append(b, `,"auth_method":`...)
	b = appendString(b, q.AuthMethod)
	writeJSON(w, http.StatusOK, append(b, '}'))
}

// handleCreateWithdrawal starts a withdrawal: checked as the quote is,
// passed through the money-out gate, recorded awaiting_auth with a code
// bound to it (SMS, or the authenticator app's).
func (s *Server) handleCreateWithdrawal(w http.ResponseWriter, r *http.Request, c *caller, k idemCall) {
	var req withdrawalRequest
	if !s.readJSON(w, r, &req) {
		return
	}
	method, amount, err := req.input()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	res, err := s.withdrawals.Create(r.Context(), wallet.WithdrawalInput{UserID: c.user.ID, MethodID: method, Amount: amount, Key: k.key, Meta: s.meta(r)})
	if err != nil {
		setRetryAfter(w, err)
		s.writeError(w, r, s.withdrawalError(s.bodyNotFound(r, c, amount, err)))
		return
	}
	writeJSON(w, http.StatusCreated, s.appendWithdrawal(make([]byte, 0, 768), res.Withdrawal, langOf(r)))
}

func (s *Server) handleGetWithdrawal(w http.ResponseWriter, r *http.Request, c *caller) {
	id, err := withdrawalIDFromPath(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	wd, err := s.withdrawals.Find(r.Context(), c.user.ID, id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.appendWithdrawal(make([]byte, 0, 768), wd, langOf(r)))
}

// handleConfirmWithdrawal checks the code and holds the funds: the
// withdrawal waits for review or is approved for payout. A refusal of
// the final gate (balance, limits, freeze, security hold, the payout
// method) fails the withdrawal and is answered as a problem.
func (s *Server) handleConfirmWithdrawal(w http.ResponseWriter, r *http.Request, c *caller, k idemCall) {
	var req p2pConfirmRequest
	if !s.readJSON(w, r, &req) {
		return
	}
	id, err := withdrawalIDFromPath(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := required("code", req.Code); err != nil {
		s.writeError(w, r, err)
		return
	}
	if len(req.Code) > 20 {
		s.writeError(w, r, okpay.Invalid(map[string]string{"code": "at most 20 characters"}))
		return
	}
	wd, err := s.withdrawals.Confirm(r.Context(), wallet.ConfirmInput{UserID: c.user.ID, TxnID: id, Code: req.Code, Meta: s.meta(r)})
	if err != nil {
		setRetryAfter(w, err)
		s.writeError(w, r, s.withdrawalError(err))
		return
	}
	writeJSON(w, http.StatusOK, s.appendWithdrawal(make([]byte, 0, 768), wd, langOf(r)))
}

func (s *Server) handleResendWithdrawalCode(w http.ResponseWriter, r *http.Request, c *caller) {
	if !s.readEmpty(w, r) {
		return
	}
	id, err := withdrawalIDFromPath(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	dest, err := s.withdrawals.ResendCode(r.Context(), c.user.ID, id, s.meta(r))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	b := append(make([]byte, 0, 64), `{"destination":`...)
	b = appendString(b, dest)
	writeJSON(w, http.StatusAccepted, append(b, '}'))
}

// handleCancelWithdrawal cancels a withdrawal not yet sent to the
// provider; the money held for it is back in the wallet at once.
func (s *Server) handleCancelWithdrawal(w http.ResponseWriter, r *http.Request, c *caller, k idemCall) {
	if !s.readEmpty(w, r) {
		return
	}
	id, err := withdrawalIDFromPath(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	wd, err := s.withdrawals.Cancel(r.Context(), c.user.ID, id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.appendWithdrawal(make([]byte, 0, 768), wd, langOf(r)))
}

// ---------------------------------------------------------------------------
// Rendering.

// withdrawalCancelable reports whether the customer may still cancel wd:
// it is not yet on its way to the provider, nor being stopped.
func withdrawalCancelable(wd *wallet.Withdrawal) bool {
	switch wd.Txn.Status {
	case wallet.StatusAwaitingAuth, wallet.StatusAuthorized, wallet.StatusPendingReview, wallet.StatusApproved:
		return wd.Stage == "" || wd.Stage == wallet.StageReview || wd.Stage == wallet.StageApproved
	}
	return false
}

// appendWithdrawal renders a withdrawal as its owner may see it: the
// payout method by its pm_ id and masked label, the expected completion,
// and when it failed or was rejected the stable code and the reason in
// lang.
func (s *Server) appendWithdrawal(b []byte, wd *wallet.Withdrawal, lang i18n.Lang) []byte {
	t := wd.Txn
	b = append(b, `{"id":"`...)
	b = ids.Append(b, wallet.TxnPrefix, t.ID)
	b = append(b, `","object":"withdrawal","status":"`...)
	b = append(b, t.Status...)
	b = append(b, `","amount":`...)
	b = appendMoney(b, t.Amount.Minor, t.Amount.Currency)
	b = append(b, `,"fee":`...)
	b = appendMoney(b, t.Fee.Minor, t.Amount.Currency)
	tot := t.Total()
	b = append(b, `,"total":`...)
	b = appendMoney(b, tot.Minor, tot.Currency)
	b = append(b, `,"payment_method":"`...)
	b = ids.Append(b, paymethod.IDPrefix, t.MethodID)
	b = append(b, `","method_label":`...)
	b = appendString(b, wd.MethodLabel)
	b = append(b, `,"expected_earliest":`...)
	b = appendNullTime(b, wd.EarliestAt)
	b = append(b, `,"expected_latest":`...)
	b = appendNullTime(b, wd.LatestAt)
	b = append(b, `,"cancelable":`...)
	b = strconv.AppendBool(b, withdrawalCancelable(wd))
	b = append(b, `,"auth_method":`...)
	if t.Status == wallet.StatusAwaitingAuth {
		b = appendNullString(b, t.AuthMethod)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"failure":`...)
	if t.FailureCode != "" {
		b = append(b, `{"code":`...)
		b = appendString(b, t.FailureCode)
		b = append(b, `,"message":`...)
		b = appendString(b, s.withdrawals.FailureText(wd, lang))
		b = append(b, '}')
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"created_at":`...)
	b = appendTime(b, t.CreatedAt)
	b = append(b, `,"updated_at":`...)
	b = appendTime(b, t.UpdatedAt)
	b = append(b, `,"expires_at":`...)
	if t.Status == wallet.StatusAwaitingAuth {
		b = appendNullTime(b, t.ExpiresAt)
	} else {
		b = append(b, "null"...)
	}
	return append(b, '}')
}
