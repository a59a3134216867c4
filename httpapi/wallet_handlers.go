package httpapi

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/ledger"
	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/paymethod"
	"github.com/okpay/okpay/wallet"
)

// The customer's wallet (package wallet): wallets in several currencies
// ("wal_…"), the history of transactions ("txn_…") with filters, cursor
// pages and a CSV export, payments to other customers (P2P transfers:
// quote, send, confirm with a code, resend the code), card deposits and
// the limits.
//
// The customers' transfers live under /api/v1/p2p_transfers: the ledger's
// own account-to-account POST /api/v1/transfers (API keys) came first and
// keeps its path; a route serves one kind of caller.
//
// Money moves on three routes, each with a required Idempotency-Key
// scoped to the customer (TXN-04, REL-02): POST /api/v1/p2p_transfers,
// POST /api/v1/p2p_transfers/{id}/confirm and POST /api/v1/deposits. The
// key is also the wallet's own key of the operation (a key names one
// transaction of one customer for good). The same key with the same body
// replays the stored answer (Idempotent-Replayed: true); with another
// body, 422 idempotency_key_reused; while the first is in flight, 409.
// When the money moves in a ledger entry (a transfer that executes), the
// answer is stored in the ledger's own transaction (wallet.Idem), the
// refusals of its final gate (insufficient_funds, limit_exceeded,
// account_frozen...) included. Other successes (a transfer waiting for
// its code, a deposit started) are stored right after; if that record is
// lost, a retry with the same key finds the wallet's transaction under
// the key and answers with it again, so nothing happens twice.

// The HTTP statuses of the wallet's codes and of the exchange and fee
// codes it passes on, joined to statusOf (problem.go) when the package
// loads. too_many_attempts is the payment methods' already (422).
func init() {
	for code, status := range map[string]int{
		identity.EPayeeNotFound:      http.StatusUnprocessableEntity,
		wallet.ESelfTransfer:         http.StatusUnprocessableEntity,
		wallet.ECurrencyNotSupported: http.StatusUnprocessableEntity,
		wallet.ELimitExceeded:        http.StatusUnprocessableEntity,
		wallet.EAuthExpired:          http.StatusConflict,
		wallet.ETooManyAttempts:      http.StatusUnprocessableEntity,
		wallet.EIllegalTransition:    http.StatusConflict,
		wallet.EWalletNotEmpty:       http.StatusConflict,
		wallet.EDepositsUnavailable:  http.StatusServiceUnavailable,
		wallet.EAmountBelowFee:       http.StatusUnprocessableEntity,
		"fee_not_configured":         http.StatusUnprocessableEntity,
		"fx_amount_too_small":        http.StatusUnprocessableEntity,
		"fx_quote_used":              http.StatusConflict,
		"fx_quote_expired":           http.StatusConflict,
		"fx_rate_stale":              http.StatusServiceUnavailable,
		"fx_rate_unavailable":        http.StatusServiceUnavailable,
	} {
		statusOf[code] = status
	}
}

// walletRoutes are the wallet's routes, served when the server has the
// identity and wallet services.
var walletRoutes = []Route{
	{"GET", "/api/v1/wallets", AuthSession, IdemNone},
	{"POST", "/api/v1/wallets", AuthSession, IdemNone},
	{"POST", "/api/v1/wallets/{id}/hide", AuthSession, IdemNone},
	{"POST", "/api/v1/wallets/{id}/show", AuthSession, IdemNone},
	{"GET", "/api/v1/transactions", AuthSession, IdemNone},
	{"GET", "/api/v1/transactions.csv", AuthSession, IdemNone},
	{"GET", "/api/v1/transactions/{id}", AuthSession, IdemNone},
	{"POST", "/api/v1/p2p_transfers/quote", AuthSession, IdemNone},
	{"POST", "/api/v1/p2p_transfers", AuthSession, IdemRequired},
	{"POST", "/api/v1/p2p_transfers/{id}/confirm", AuthSession, IdemRequired},
	{"POST", "/api/v1/p2p_transfers/{id}/resend_code", AuthSession, IdemNone},
	{"POST", "/api/v1/deposits/quote", AuthSession, IdemNone},
	{"POST", "/api/v1/deposits", AuthSession, IdemRequired},
	{"GET", "/api/v1/limits", AuthSession, IdemNone},
}

// idemCall is the Idempotency-Key of a money-moving request and the hash
// of the request it came with.
type idemCall struct {
	key  string
	hash []byte
	// stored is set by a handler whose answer was stored with its ledger
	// entry (wallet.TransferResult.Stored): walletKey stores nothing then.
	stored *bool
}

// storedWith notes that res's answer was stored with its ledger entry.
func (k idemCall) storedWith(res *wallet.TransferResult) {
	if res != nil && res.Stored && k.stored != nil {
		*k.stored = true
	}
}

// moneyRouteHandler serves a money-moving customer route.
type moneyRouteHandler func(w http.ResponseWriter, r *http.Request, c *caller, k idemCall)

// registerWallet adds the wallet's routes to mux, each wrapped as
// walletRoutes says.
func (s *Server) registerWallet(mux *http.ServeMux) {
	plain := map[string]sessionHandler{
		"GET /api/v1/wallets":                         s.handleListWallets,
		"POST /api/v1/wallets":                        s.handleOpenWallet,
		"POST /api/v1/wallets/{id}/hide":              s.handleHideWallet(true),
		"POST /api/v1/wallets/{id}/show":              s.handleHideWallet(false),
		"GET /api/v1/transactions":                    s.handleListTransactions,
		"GET /api/v1/transactions.csv":                s.handleTransactionsCSV,
		"GET /api/v1/transactions/{id}":               s.handleGetTransaction,
		"POST /api/v1/p2p_transfers/quote":            s.handleQuoteTransfer,
		"POST /api/v1/p2p_transfers/{id}/resend_code": s.handleResendTransferCode,
		"POST /api/v1/deposits/quote":                 s.handleQuoteDeposit,
		"GET /api/v1/limits":                          s.handleLimits,
	}
	moneyRoutes := map[string]moneyRouteHandler{
		"POST /api/v1/p2p_transfers":              s.handleCreateTransfer,
		"POST /api/v1/p2p_transfers/{id}/confirm": s.handleConfirmTransfer,
		"POST /api/v1/deposits":                   s.handleCreateDeposit,
	}
	s.registerCustomerRoutes(mux, "wallet", walletRoutes, plain, moneyRoutes)
}

// walletKey wraps a money-moving route with the Idempotency-Key semantics
// above.
func (s *Server) walletKey(next moneyRouteHandler) sessionHandler {
	return func(w http.ResponseWriter, r *http.Request, c *caller) {
		key, err := idempotencyKey(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		body, err := readBody(w, r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		flightKey := c.id + "\x00" + key
		if !s.flight.acquire(flightKey) {
			s.writeError(w, r, okpay.Errorf(ledger.EIdempotencyInFlight, "a request with this Idempotency-Key is still in progress; retry later"))
			return
		}
		defer s.flight.release(flightKey)
		hash := requestHash(r, body)
		stored, found, err := s.identity.FindStoredResponse(r.Context(), c.id, key)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if found {
			if !bytes.Equal(stored.RequestHash, hash) {
				s.writeError(w, r, okpay.Errorf(ledger.EIdempotencyKeyReused, "this idempotency key was used with a different request"))
				return
			}
			w.Header().Set("Idempotent-Replayed", "true")
			writeStored(w, stored.Status, stored.Body)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		rec := &recorder{header: http.Header{}}
		var inLedger bool
		next(rec, r, c, idemCall{key: key, hash: hash, stored: &inLedger})
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		if !inLedger && rec.status >= 200 && rec.status < 300 && rec.header.Get("Idempotent-Replayed") == "" {
			// A record the ledger stored with the movement stays (the
			// first record of a key is kept).
			keep := identity.StoredResponse{RequestHash: hash, Status: rec.status, Body: rec.body.Bytes()}
			if err := s.identity.StoreResponse(context.WithoutCancel(r.Context()), c.id, key, keep); err != nil {
				s.log.LogAttrs(r.Context(), slog.LevelError, "idempotency record not stored", slog.String("request_id", requestID(r.Context())),
					slog.String("route", r.Pattern), slog.Any("err", err))
			}
		}
		h := w.Header()
		for k, v := range rec.header {
			h[k] = v
		}
		w.WriteHeader(rec.status)
		w.Write(rec.body.Bytes())
	}
}

// ledgerRender renders, in the ledger's commit, the answer stored with a
// transfer's entry: the transaction (status) or the refusal; nothing for
// a request that turned out to repeat an earlier one.
func (s *Server) ledgerRender(status int, lang i18n.Lang, rid string) func(t *wallet.Txn, err error) (int, []byte, bool) {
	return func(t *wallet.Txn, err error) (int, []byte, bool) {
		if err != nil {
			st, body := s.problem(s.walletError(err), lang, rid)
			return st, body, !retryable(okpay.ErrorCode(err))
		}
		if t == nil {
			return 0, nil, false
		}
		return status, s.appendTxn(make([]byte, 0, 768), t, lang), true
	}
}

// writeTransferResult answers a transfer or its confirmation.
func (s *Server) writeTransferResult(w http.ResponseWriter, r *http.Request, status int, res *wallet.TransferResult, err error) {
	if res != nil && res.Response != nil && res.Response.Status != 0 {
		if res.Response.Replayed {
			w.Header().Set("Idempotent-Replayed", "true")
		}
		writeStored(w, res.Response.Status, res.Response.Body)
		return
	}
	if err != nil {
		s.writeError(w, r, s.walletError(err))
		return
	}
	if res == nil || res.Txn == nil {
		s.writeError(w, r, okpay.Errorf(okpay.EUnavailable, "The payment could not be completed; retry it with the same Idempotency-Key."))
		return
	}
	writeJSON(w, status, s.appendTxn(make([]byte, 0, 768), res.Txn, langOf(r)))
}

// walletError says a refusal as the customer sees it: the ledger's own
// messages name its internal accounts, so their English detail is the
// catalog's; a limit's problem says which limit and when it starts again
// ("limit", "resets_at").
func (s *Server) walletError(err error) error {
	switch code := okpay.ErrorCode(err); code {
	case ledger.EInsufficientFunds, ledger.EOverflow:
		if id := "problem." + code + ".detail"; s.catalog != nil && s.catalog.Has(id) {
			return okpay.Errorf(code, "%s", s.catalog.T(i18n.En, id, nil))
		}
	}
	var le *wallet.LimitError
	if !errors.As(err, &le) {
		return err
	}
	m := append(make([]byte, 0, 96), `,"limit":`...)
	m = appendString(m, le.Limit)
	m = append(m, `,"resets_at":`...)
	m = appendTime(m, le.ResetsAt)
	return &extendedError{error: err, members: m}
}

// ---------------------------------------------------------------------------
// Requests.

type openWalletRequest struct {
	Currency string `json:"currency"`
}

type p2pRequest struct {
	Payee     string        `json:"payee"`
	PayeeKind string        `json:"payee_kind"`
	Amount    *money.Amount `json:"amount"`
	Note      string        `json:"note"`
}

type p2pConfirmRequest struct {
	Code string `json:"code"`
}

type depositRequest struct {
	PaymentMethod string        `json:"payment_method"`
	Amount        *money.Amount `json:"amount"`
	ReturnURL     string        `json:"return_url"`
}

type depositQuoteRequest struct {
	Amount *money.Amount `json:"amount"`
}

// transferInput checks a transfer's body before the wallet sees it.
func (req *p2pRequest) input(c *caller) (wallet.TransferInput, error) {
	fields := map[string]string{}
	if req.Amount == nil {
		fields["amount"] = "required"
	}
	if req.Payee == "" {
		fields["payee"] = "required"
	}
	switch req.PayeeKind {
	case "", wallet.PayeeEmail, wallet.PayeePhone, wallet.PayeeUserID, wallet.PayeeWalletID:
	default:
		fields["payee_kind"] = "one of email, phone, user_id, wallet_id"
	}
	if len(fields) > 0 {
		return wallet.TransferInput{}, okpay.Invalid(fields)
	}
	return wallet.TransferInput{UserID: c.user.ID, Payer: c.user, Amount: *req.Amount, PayeeKind: req.PayeeKind, Payee: req.Payee, Note: req.Note}, nil
}

// walletFromPath reads the {id} of a wallet route: one of c's wallets.
func (s *Server) walletFromPath(r *http.Request, c *caller) (money.Currency, error) {
	notFound := okpay.Errorf(okpay.ENotFound, "There is no such wallet.")
	ref := r.PathValue("id")
	if _, ok := ids.Parse(wallet.WalletPrefix, ref); !ok {
		return "", notFound
	}
	owner, cur, err := s.wallet.ResolveWallet(r.Context(), ref)
	if okpay.ErrorCode(err) == okpay.ENotFound || (err == nil && owner != c.user.ID) {
		return "", notFound // another customer's wallet is not found either
	}
	return cur, err
}

// txnIDFromPath reads the {id} of a transaction route.
func (s *Server) txnIDFromPath(r *http.Request) (int64, error) {
	id, ok := wallet.ParseTxnRef(r.PathValue("id"))
	if !ok {
		return 0, okpay.Errorf(okpay.ENotFound, "There is no such transaction.")
	}
	return id, nil
}

// ---------------------------------------------------------------------------
// Wallets.

func (s *Server) handleListWallets(w http.ResponseWriter, r *http.Request, c *caller) {
	ws, err := s.wallet.Wallets(r.Context(), c.user.ID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, appendList(make([]byte, 0, 384*len(ws)+64), ws, false, "", appendWallet))
}

func (s *Server) handleOpenWallet(w http.ResponseWriter, r *http.Request, c *caller) {
	var req openWalletRequest
	if !s.readJSON(w, r, &req) {
		return
	}
	cur, err := money.ParseCurrency(req.Currency)
	if err != nil {
		s.writeError(w, r, okpay.Invalid(map[string]string{"currency": "a currency code such as CNY or USD"}))
		return
	}
	wl, err := s.wallet.OpenWallet(r.Context(), c.user.ID, cur)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, appendWallet(make([]byte, 0, 384), wl))
}

// handleHideWallet hides an empty wallet (hide) or shows a hidden one.
func (s *Server) handleHideWallet(hide bool) sessionHandler {
	return func(w http.ResponseWriter, r *http.Request, c *caller) {
		if !s.readEmpty(w, r) {
			return
		}
		cur, err := s.walletFromPath(r, c)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if hide {
			err = s.wallet.HideWallet(r.Context(), c.user.ID, cur)
		} else {
			err = s.wallet.ShowWallet(r.Context(), c.user.ID, cur)
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		wl, err := s.wallet.FindWallet(r.Context(), c.user.ID, cur)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, appendWallet(make([]byte, 0, 384), wl))
	}
}

// ---------------------------------------------------------------------------
// Transactions.

// txnFilter reads the filters of the transaction routes: type, status,
// currency, from and to (RFC 3339 times or dates, UTC; to is exclusive
// for a time and includes the whole day for a date).
func txnFilter(q url.Values) (wallet.Filter, error) {
	var f wallet.Filter
	fields := map[string]string{}
	if v := q.Get("type"); v != "" {
		if t := wallet.Type(v); t.Valid() {
			f.Type = t
		} else {
			fields["type"] = "unknown transaction type"
		}
	}
	if v := q.Get("status"); v != "" {
		if st := wallet.Status(v); st.Valid() {
			f.Status = st
		} else {
			fields["status"] = "unknown status"
		}
	}
	if v := q.Get("currency"); v != "" {
		if cur, err := money.ParseCurrency(v); err == nil {
			f.Currency = cur
		} else {
			fields["currency"] = "a currency code such as CNY or USD"
		}
	}
	when := func(name string, end bool) time.Time {
		v := q.Get(name)
		if v == "" {
			return time.Time{}
		}
		if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
			return t.UTC()
		}
		if t, err := time.Parse("2006-01-02", v); err == nil {
			if end {
				t = t.AddDate(0, 0, 1)
			}
			return t
		}
		fields[name] = "an RFC 3339 time or a date (2026-11-25)"
		return time.Time{}
	}
	f.From, f.To = when("from", false), when("to", true)
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > wallet.MaxPage {
			fields["limit"] = "a number from 1 to 100"
		}
		f.Limit = n
	}
	if v := q.Get("cursor"); v != "" {
		if _, ok := wallet.ParseTxnRef(v); !ok {
			fields["cursor"] = "not a cursor from this list"
		}
		f.Cursor = v
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		fields["to"] = "must come after from"
	}
	if len(fields) > 0 {
		return f, okpay.Invalid(fields)
	}
	return f, nil
}

func (s *Server) handleListTransactions(w http.ResponseWriter, r *http.Request, c *caller) {
	f, err := txnFilter(r.URL.Query())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	p, err := s.wallet.FindTransactions(r.Context(), c.user.ID, f)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	lang := langOf(r)
	writeJSON(w, http.StatusOK, appendList(make([]byte, 0, 768*len(p.Txns)+64), p.Txns, p.HasMore, p.NextCursor, func(b []byte, t *wallet.Txn) []byte {
		return s.appendTxn(b, t, lang)
	}))
}

// handleTransactionsCSV answers the filtered history as CSV
// (wallet.ExportCSV: at most 10,000 lines, cells that a spreadsheet would
// read as a formula neutralised). limit and cursor do not apply.
func (s *Server) handleTransactionsCSV(w http.ResponseWriter, r *http.Request, c *caller) {
	q := r.URL.Query()
	q.Del("limit")
	q.Del("cursor")
	f, err := txnFilter(q)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var buf bytes.Buffer
	if err := s.wallet.ExportCSV(r.Context(), &buf, c.user.ID, f, langOf(r)); err != nil {
		s.writeError(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Disposition", `attachment; filename="okpay-transactions.csv"`)
	writeRaw(w, http.StatusOK, "text/csv; charset=utf-8", buf.Bytes())
}

func (s *Server) handleGetTransaction(w http.ResponseWriter, r *http.Request, c *caller) {
	id, err := s.txnIDFromPath(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	t, err := s.wallet.FindTransaction(r.Context(), c.user.ID, id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.appendTxn(make([]byte, 0, 768), t, langOf(r)))
}

// ---------------------------------------------------------------------------
// Transfers.

func (s *Server) handleQuoteTransfer(w http.ResponseWriter, r *http.Request, c *caller) {
	var req p2pRequest
	if !s.readJSON(w, r, &req) {
		return
	}
	in, err := req.input(c)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	q, err := s.wallet.QuoteTransfer(r.Context(), in)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	b := append(make([]byte, 0, 384), `{"object":"p2p_transfer_quote","payee":`...)
	b = appendString(b, q.Payee)
	b = append(b, `,"amount":`...)
	b = appendMoney(b, q.Amount.Minor, q.Amount.Currency)
	b = append(b, `,"fee":`...)
	b = appendMoney(b, q.Fee.Minor, q.Fee.Currency)
	b = append(b, `,"total":`...)
	b = appendMoney(b, q.Total.Minor, q.Total.Currency)
	b = append(b, `,"new_payee":`...)
	b = strconv.AppendBool(b, q.NewPayee)
	b = append(b, `,"needs_code":`...)
	b = strconv.AppendBool(b, q.NeedsAuth)
	b = append(b, `,"auth_method":`...)
	b = appendNullString(b, q.AuthMethod)
	writeJSON(w, http.StatusOK, append(b, '}'))
}

// handleCreateTransfer sends money to another customer: completed at
// once, or awaiting_auth (a code was sent, or the authenticator app's is
// asked for: POST …/{id}/confirm). A refusal at execution (balance,
// limits, freeze, security hold) is a problem, and the transaction is
// recorded as failed in the history.
func (s *Server) handleCreateTransfer(w http.ResponseWriter, r *http.Request, c *caller, k idemCall) {
	var req p2pRequest
	if !s.readJSON(w, r, &req) {
		return
	}
	in, err := req.input(c)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	in.Key, in.Meta = k.key, s.meta(r)
	in.Idem = &wallet.Idem{Principal: c.id, Key: k.key, RequestHash: k.hash, Render: s.ledgerRender(http.StatusCreated, langOf(r), requestID(r.Context()))}
	res, err := s.wallet.Transfer(r.Context(), in)
	k.storedWith(res)
	s.writeTransferResult(w, r, http.StatusCreated, res, err)
}

func (s *Server) handleConfirmTransfer(w http.ResponseWriter, r *http.Request, c *caller, k idemCall) {
	var req p2pConfirmRequest
	if !s.readJSON(w, r, &req) {
		return
	}
	id, err := s.txnIDFromPath(r)
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
	res, err := s.wallet.ConfirmTransfer(r.Context(), wallet.ConfirmInput{UserID: c.user.ID, TxnID: id, Code: req.Code, Meta: s.meta(r),
		Idem: &wallet.Idem{Principal: c.id, Key: k.key, RequestHash: k.hash, Render: s.ledgerRender(http.StatusOK, langOf(r), requestID(r.Context()))}})
	k.storedWith(res)
	s.writeTransferResult(w, r, http.StatusOK, res, err)
}

func (s *Server) handleResendTransferCode(w http.ResponseWriter, r *http.Request, c *caller) {
	if !s.readEmpty(w, r) {
		return
	}
	id, err := s.txnIDFromPath(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	dest, err := s.wallet.ResendTransferCode(r.Context(), c.user.ID, id, s.meta(r))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	b := append(make([]byte, 0, 64), `{"destination":`...)
	b = appendString(b, dest)
	writeJSON(w, http.StatusAccepted, append(b, '}'))
}

// ---------------------------------------------------------------------------
// Deposits.

func (s *Server) handleQuoteDeposit(w http.ResponseWriter, r *http.Request, c *caller) {
	var req depositQuoteRequest
	if !s.readJSON(w, r, &req) {
		return
	}
	if req.Amount == nil {
		s.writeError(w, r, okpay.Invalid(map[string]string{"amount": "required"}))
		return
	}
	q, err := s.wallet.QuoteDeposit(*req.Amount)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	b := append(make([]byte, 0, 256), `{"object":"deposit_quote","amount":`...)
	b = appendMoney(b, q.Amount.Minor, q.Amount.Currency)
	b = append(b, `,"fee":`...)
	b = appendMoney(b, q.Fee.Minor, q.Fee.Currency)
	b = append(b, `,"net":`...)
	b = appendMoney(b, q.Net.Minor, q.Net.Currency)
	writeJSON(w, http.StatusOK, append(b, '}'))
}

// handleCreateDeposit charges one of the customer's verified cards. The
// deposit is answered whatever its status: executing (the provider will
// confirm), awaiting_auth (send the customer to action_url for 3-D
// Secure), completed, or failed with the provider's reason (a decline is
// a deposit that failed, not a failed request).
func (s *Server) handleCreateDeposit(w http.ResponseWriter, r *http.Request, c *caller, k idemCall) {
	var req depositRequest
	if !s.readJSON(w, r, &req) {
		return
	}
	fields := map[string]string{}
	method, ok := paymethod.ParseID(req.PaymentMethod)
	if !ok {
		fields["payment_method"] = "the id of a verified card (pm_…)"
	}
	if req.Amount == nil {
		fields["amount"] = "required"
	}
	if len(req.ReturnURL) > 2048 {
		fields["return_url"] = "at most 2048 characters"
	}
	if len(fields) > 0 {
		s.writeError(w, r, okpay.Invalid(fields))
		return
	}
	t, err := s.wallet.StartDeposit(r.Context(), wallet.DepositInput{UserID: c.user.ID, MethodID: method, Amount: *req.Amount, Key: k.key,
		ReturnURL: req.ReturnURL, Meta: s.meta(r)})
	if t == nil {
		if okpay.ErrorCode(err) == okpay.ENotFound {
			err = okpay.Invalid(map[string]string{"payment_method": "not a card of this account"})
		}
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, s.appendTxn(make([]byte, 0, 768), t, langOf(r)))
}

// ---------------------------------------------------------------------------
// Limits.

func (s *Server) handleLimits(w http.ResponseWriter, r *http.Request, c *caller) {
	l, err := s.wallet.Limits(r.Context(), c.user.ID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	b := append(make([]byte, 0, 1024), `{"object":"limits","level":`...)
	b = appendInt(b, int64(l.Level))
	b = append(b, `,"level_name":`...)
	b = appendString(b, l.LevelName)
	b = append(b, `,"velocity":{"transfers_per_hour":{"limit":`...)
	b = appendInt(b, int64(l.Velocity.TransfersPerHour))
	b = append(b, `,"used":`...)
	b = appendInt(b, int64(l.TransfersThisHour))
	b = append(b, `},"transfers_per_day":{"limit":`...)
	b = appendInt(b, int64(l.Velocity.TransfersPerDay))
	b = append(b, `,"used":`...)
	b = appendInt(b, int64(l.TransfersToday))
	b = append(b, `},"new_payees_per_day":{"limit":`...)
	b = appendInt(b, int64(l.Velocity.NewPayeesPerDay))
	b = append(b, `,"used":`...)
	b = appendInt(b, int64(l.NewPayeesToday))
	b = append(b, `},"withdrawals_per_day":{"limit":`...)
	b = appendInt(b, int64(l.Velocity.WithdrawalsPerDay))
	b = append(b, `,"used":`...)
	b = appendInt(b, int64(l.WithdrawalsToday))
	b = append(b, `}},"amounts":[`...)
	for i, a := range l.Amounts {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"currency":"`...)
		b = append(b, a.Currency...)
		b = append(b, `","daily":`...)
		b = appendMoney(b, a.Daily.Minor, a.Currency)
		b = append(b, `,"monthly":`...)
		b = appendMoney(b, a.Monthly.Minor, a.Currency)
		b = append(b, `,"used_today":`...)
		b = appendMoney(b, a.UsedToday.Minor, a.Currency)
		b = append(b, `,"used_this_month":`...)
		b = appendMoney(b, a.UsedThisMonth.Minor, a.Currency)
		b = append(b, `,"day_resets_at":`...)
		b = appendTime(b, a.DayResets)
		b = append(b, `,"month_resets_at":`...)
		b = appendTime(b, a.MonthResets)
		b = append(b, '}')
	}
	writeJSON(w, http.StatusOK, append(b, "]}"...))
}

// ---------------------------------------------------------------------------
// Rendering.

func appendNullString(b []byte, s string) []byte {
	if s == "" {
		return append(b, "null"...)
	}
	return appendString(b, s)
}

func appendNullTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, "null"...)
	}
	return appendTime(b, t)
}

func appendWallet(b []byte, wl *wallet.Wallet) []byte {
	c := wl.Currency
	b = append(b, `{"id":"`...)
	b = ids.Append(b, wallet.WalletPrefix, wl.ID)
	b = append(b, `","object":"wallet","currency":"`...)
	b = append(b, c...)
	b = append(b, `","hidden":`...)
	b = strconv.AppendBool(b, wl.Hidden)
	b = append(b, `,"shown":`...)
	b = strconv.AppendBool(b, wl.Shown())
	b = append(b, `,"balance":{"posted":`...)
	b = appendMoney(b, wl.Posted.Minor, c)
	b = append(b, `,"available":`...)
	b = appendMoney(b, wl.Available.Minor, c)
	b = append(b, `,"pending_in":`...)
	b = appendMoney(b, wl.PendingIn.Minor, c)
	b = append(b, `,"pending_out":`...)
	b = appendMoney(b, wl.PendingOut.Minor, c)
	b = append(b, `},"created_at":`...)
	b = appendTime(b, wl.CreatedAt)
	return append(b, '}')
}

// appendTxn renders a transaction as its owner may see it: the
// counterparty masked, the card by its pm_ id, the failure's stable code
// and its reason in lang.
func (s *Server) appendTxn(b []byte, t *wallet.Txn, lang i18n.Lang) []byte {
	b = append(b, `{"id":"`...)
	b = ids.Append(b, wallet.TxnPrefix, t.ID)
	b = append(b, `","object":"transaction","type":"`...)
	b = append(b, t.Type...)
	b = append(b, `","status":"`...)
	b = append(b, t.Status...)
	b = append(b, `","amount":`...)
	b = appendMoney(b, t.Amount.Minor, t.Amount.Currency)
	b = append(b, `,"fee":`...)
	b = appendMoney(b, t.Fee.Minor, t.Amount.Currency)
	tot := t.Total()
	b = append(b, `,"total":`...)
	b = appendMoney(b, tot.Minor, tot.Currency)
	b = append(b, `,"other_amount":`...)
	if t.Other.Currency != "" {
		b = appendMoney(b, t.Other.Minor, t.Other.Currency)
	} else {
		b = append(b, "null"...)
	}
	// rate is for people, as a quote's (a decimal); rate_exact the
	// fraction the amounts were computed with.
	b = append(b, `,"rate":`...)
	if r, ok := t.FXRate(); ok {
		b = appendString(b, r.String())
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"rate_exact":`...)
	b = appendNullString(b, t.Rate)
	b = append(b, `,"counterparty":`...)
	b = appendNullString(b, t.Counterparty)
	b = append(b, `,"related_id":`...)
	if t.RelatedID != 0 && (t.Type == wallet.TypeTransferOut || t.Type == wallet.TypeTransferIn) {
		// The other side of a transfer is the other customer's: only its
		// id is shown (reading it is refused like any other's).
		b = append(b, '"')
		b = ids.Append(b, wallet.TxnPrefix, t.RelatedID)
		b = append(b, '"')
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"payment_method":`...)
	if t.MethodID != 0 {
		b = append(b, '"')
		b = ids.Append(b, paymethod.IDPrefix, t.MethodID)
		b = append(b, '"')
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"note":`...)
	b = appendString(b, t.Note)
	b = append(b, `,"auth_method":`...)
	if t.Status == wallet.StatusAwaitingAuth {
		b = appendNullString(b, t.AuthMethod)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"action_url":`...)
	b = appendNullString(b, t.ActionURL)
	b = append(b, `,"failure":`...)
	if t.FailureCode != "" {
		b = append(b, `{"code":`...)
		b = appendString(b, t.FailureCode)
		b = append(b, `,"message":`...)
		b = appendString(b, s.wallet.FailureText(t, lang))
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
