package httpapi

import (
	"net/http"
	"strconv"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/fx"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/wallet"
)

// Currency exchange and cross-border remittance (wallet.Exchanger over
// package fx), and the public reference rates.
//
// Both start with a quote ("fxq_…") that prices the operation exactly as
// it will be booked: amounts sold and bought (rounded in the house's
// favour), the customer's rate, the market (mid) rate, the spread, the fee
// and the total, and when the quote expires (a minute by default). The
// client shows it and then executes it by its id, once, before it
// expires; an expired quote answers 409 fx_quote_expired (ask for a new
// one), a used one 409 fx_quote_used.
//
// Money moves on three routes, with the wallet's Idempotency-Key
// semantics (wallet_handlers.go): POST /api/v1/exchanges, POST
// /api/v1/remittances and POST /api/v1/remittances/{id}/confirm. A
// remittance to a new payee, or from the step-up threshold, answers
// awaiting_auth: a code was sent by SMS (or the authenticator app's is
// asked for) and the remittance must be confirmed within its expires_at
// (15 minutes by default), at the quoted rate even after the quote's own
// minute is over: the remittance holds its quote (wallet/remit.go).
//
// GET /api/v1/fx/rates is public: the latest mid (market) rates from one
// wallet currency to the others, indicative only (a quote is what counts).

// exchangeRoutes are the customer's exchange and remittance routes,
// served when the server has the identity, wallet and exchange services.
var exchangeRoutes = []Route{
	{"POST", "/api/v1/exchange_quotes", AuthSession, IdemNone},
	{"POST", "/api/v1/exchanges", AuthSession, IdemRequired},
	{"POST", "/api/v1/remittance_quotes", AuthSession, IdemNone},
	{"POST", "/api/v1/remittances", AuthSession, IdemRequired},
	{"POST", "/api/v1/remittances/{id}/confirm", AuthSession, IdemRequired},
	{"POST", "/api/v1/remittances/{id}/code", AuthSession, IdemNone},
}

// fxRateRoutes are the public rate routes, served when the server has the
// rate service and the wallet (whose currencies it lists).
var fxRateRoutes = []Route{
	{"GET", "/api/v1/fx/rates", AuthPublic, IdemNone},
}

// registerExchange adds the exchange and remittance routes to mux, each
// wrapped as exchangeRoutes says.
func (s *Server) registerExchange(mux *http.ServeMux) {
	plain := map[string]sessionHandler{
		"POST /api/v1/exchange_quotes":       s.handleQuoteExchange,
		"POST /api/v1/remittance_quotes":     s.handleQuoteRemittance,
		"POST /api/v1/remittances/{id}/code": s.handleResendRemittanceCode,
	}
	moneyRoutes := map[string]moneyRouteHandler{
		"POST /api/v1/exchanges":                s.handleCreateExchange,
		"POST /api/v1/remittances":              s.handleCreateRemittance,
		"POST /api/v1/remittances/{id}/confirm": s.handleConfirmRemittance,
	}
	s.registerCustomerRoutes(mux, "exchange", exchangeRoutes, plain, moneyRoutes)
}

// registerFXRates adds the public rate routes to mux.
func (s *Server) registerFXRates(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/fx/rates", s.handleFXRates)
}

// ---------------------------------------------------------------------------
// Requests.

type exchangeQuoteRequest struct {
	From   string        `json:"from"`
	To     string        `json:"to"`
	Amount *money.Amount `json:"amount"`
	Side   string        `json:"side"`
}

type remittanceQuoteRequest struct {
	From      string        `json:"from"`
	To        string        `json:"to"`
	Amount    *money.Amount `json:"amount"`
	Side      string        `json:"side"`
	Payee     string        `json:"payee"`
	PayeeKind string        `json:"payee_kind"`
}

type exchangeRequest struct {
	Quote string `json:"quote"`
}

type remittanceRequest struct {
	Quote     string `json:"quote"`
	Payee     string `json:"payee"`
	PayeeKind string `json:"payee_kind"`
	Note      string `json:"note"`
}

// pricing is what both quote requests share: from, to, amount and side
// (sell by default: the amount is what the customer sells).
type pricing struct {
	from, to money.Currency
	amount   money.Amount
	side     fx.Side
}

// readPricing checks the shared fields of a quote request, adding what is
// wrong to fields.
func readPricing(fields map[string]string, from, to string, amount *money.Amount, side string) pricing {
	var p pricing
	var err error
	if p.from, err = money.ParseCurrency(from); err != nil {
		fields["from"] = "a currency code such as USD or CNY"
	}
	if p.to, err = money.ParseCurrency(to); err != nil {
		fields["to"] = "a currency code such as USD or CNY"
	}
	if amount == nil {
		fields["amount"] = "required"
	} else {
		p.amount = *amount
	}
	switch side {
	case "", string(fx.SideSell):
		p.side = fx.SideSell
	case string(fx.SideBuy):
		p.side = fx.SideBuy
	default:
		fields["side"] = "one of sell, buy"
	}
	return p
}

func checkPayeeKind(fields map[string]string, kind string) {
	switch kind {
	case "", wallet.PayeeEmail, wallet.PayeePhone, wallet.PayeeUserID, wallet.PayeeWalletID:
	default:
		fields["payee_kind"] = "one of email, phone, user_id, wallet_id"
	}
}

// quoteFromBody reads the quote id of an execution request, adding what
// is wrong to fields.
func quoteFromBody(fields map[string]string, ref string) int64 {
	id, ok := fx.ParseQuoteRef(ref)
	switch {
	case ref == "":
		fields["quote"] = "required"
	case !ok:
		fields["quote"] = "the id of a quote (fxq_…)"
	}
	return id
}

// quoteNotFound says a quote id that names none of the caller's quotes,
// as a field of the request (the route names no quote).
func quoteNotFound(err error) error {
	if okpay.ErrorCode(err) == okpay.ENotFound {
		return okpay.Invalid(map[string]string{"quote": "not a quote of this account"})
	}
	return err
}

// ---------------------------------------------------------------------------
// Exchanges.

func (s *Server) handleQuoteExchange(w http.ResponseWriter, r *http.Request, c *caller) {
	var req exchangeQuoteRequest
	if !s.readJSON(w, r, &req) {
		return
	}
	fields := map[string]string{}
	p := readPricing(fields, req.From, req.To, req.Amount, req.Side)
	if len(fields) > 0 {
		s.writeError(w, r, okpay.Invalid(fields))
		return
	}
	q, err := s.exchange.QuoteExchange(r.Context(), c.user.ID, p.from, p.to, p.amount, p.side)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	b := appendQuote(make([]byte, 0, 768), "exchange_quote", q.Quote, q.Fee, q.Total)
	writeJSON(w, http.StatusOK, append(b, '}'))
}

// handleCreateExchange executes a quote: completed at once; a refusal at
// execution (balance, freeze) is a problem, and the exchange is recorded
// as failed in the history.
func (s *Server) handleCreateExchange(w http.ResponseWriter, r *http.Request, c *caller, k idemCall) {
	var req exchangeRequest
	if !s.readJSON(w, r, &req) {
		return
	}
	fields := map[string]string{}
	id := quoteFromBody(fields, req.Quote)
	if len(fields) > 0 {
		s.writeError(w, r, okpay.Invalid(fields))
		return
	}
	res, err := s.exchange.Exchange(r.Context(), wallet.ExchangeInput{UserID: c.user.ID, QuoteID: id, Key: k.key, Meta: s.meta(r),
		Idem: &wallet.Idem{Principal: c.id, Key: k.key, RequestHash: k.hash, Render: s.ledgerRender(http.StatusCreated, langOf(r), requestID(r.Context()))}})
	var tr *wallet.TransferResult
	if res != nil {
		tr = &wallet.TransferResult{Txn: res.Txn, Response: res.Response, Stored: res.Stored}
	}
	k.storedWith(tr)
	s.writeTransferResult(w, r, http.StatusCreated, tr, quoteNotFound(err))
}

// ---------------------------------------------------------------------------
// Remittances.

func (s *Server) handleQuoteRemittance(w http.ResponseWriter, r *http.Request, c *caller) {
	var req remittanceQuoteRequest
	if !s.readJSON(w, r, &req) {
		return
	}
	fields := map[string]string{}
	p := readPricing(fields, req.From, req.To, req.Amount, req.Side)
	if req.Payee == "" {
		fields["payee"] = "required"
	}
	checkPayeeKind(fields, req.PayeeKind)
	if len(fields) > 0 {
		s.writeError(w, r, okpay.Invalid(fields))
		return
	}
	q, err := s.exchange.QuoteRemittance(r.Context(), wallet.RemittanceQuoteInput{UserID: c.user.ID, From: p.from, To: p.to, Amount: p.amount,
		Side: p.side, PayeeKind: req.PayeeKind, Payee: req.Payee})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	b := appendQuote(make([]byte, 0, 896), "remittance_quote", q.Quote, q.Fee, q.Total)
	b = append(b, `,"payee":`...)
	b = appendString(b, q.Payee)
	b = append(b, `,"new_payee":`...)
	b = strconv.AppendBool(b, q.NewPayee)
	b = append(b, `,"needs_code":`...)
	b = strconv.AppendBool(b, q.NeedsAuth)
	b = append(b, `,"auth_method":`...)
	b = appendNullString(b, q.AuthMethod)
	writeJSON(w, http.StatusOK, append(b, '}'))
}

// handleCreateRemittance executes a remittance quote: completed at once,
// or awaiting_auth (POST …/{id}/confirm with the code), or a problem when
// refused at execution (recorded as failed in the history).
func (s *Server) handleCreateRemittance(w http.ResponseWriter, r *http.Request, c *caller, k idemCall) {
	var req remittanceRequest
	if !s.readJSON(w, r, &req) {
		return
	}
	fields := map[string]string{}
	id := quoteFromBody(fields, req.Quote)
	if req.Payee == "" {
		fields["payee"] = "required"
	}
	checkPayeeKind(fields, req.PayeeKind)
	if len(fields) > 0 {
		s.writeError(w, r, okpay.Invalid(fields))
		return
	}
	res, err := s.exchange.Remit(r.Context(), wallet.RemitInput{UserID: c.user.ID, QuoteID: id, PayeeKind: req.PayeeKind, Payee: req.Payee,
		Note: req.Note, Key: k.key, Meta: s.meta(r),
		Idem: &wallet.Idem{Principal: c.id, Key: k.key, RequestHash: k.hash, Render: s.ledgerRender(http.StatusCreated, langOf(r), requestID(r.Context()))}})
	k.storedWith(res)
	s.writeTransferResult(w, r, http.StatusCreated, res, quoteNotFound(err))
}

func (s *Server) handleConfirmRemittance(w http.ResponseWriter, r *http.Request, c *caller, k idemCall) {
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
	res, err := s.exchange.ConfirmRemittance(r.Context(), wallet.ConfirmInput{UserID: c.user.ID, TxnID: id, Code: req.Code, Meta: s.meta(r),
		Idem: &wallet.Idem{Principal: c.id, Key: k.key, RequestHash: k.hash, Render: s.ledgerRender(http.StatusOK, langOf(r), requestID(r.Context()))}})
	k.storedWith(res)
	s.writeTransferResult(w, r, http.StatusOK, res, err)
}

func (s *Server) handleResendRemittanceCode(w http.ResponseWriter, r *http.Request, c *caller) {
	if !s.readEmpty(w, r) {
		return
	}
	id, err := s.txnIDFromPath(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	dest, err := s.exchange.ResendRemittanceCode(r.Context(), c.user.ID, id, s.meta(r))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	b := append(make([]byte, 0, 64), `{"destination":`...)
	b = appendString(b, dest)
	writeJSON(w, http.StatusAccepted, append(b, '}'))
}

// ---------------------------------------------------------------------------
// Public rates.

// handleFXRates answers the latest mid rates from base (default EUR, the
// ECB's base) to every other wallet currency with a fresh rate; the
// currencies without one are listed apart.
func (s *Server) handleFXRates(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	for k := range q {
		if k != "base" {
			s.writeError(w, r, okpay.Invalid(map[string]string{k: "unknown parameter"}))
			return
		}
	}
	currencies := s.wallet.Config().Currencies
	base := money.Currency("EUR")
	if v := q.Get("base"); v != "" {
		c, err := money.ParseCurrency(v)
		if err != nil {
			s.writeError(w, r, okpay.Invalid(map[string]string{"base": "a currency code such as USD or CNY"}))
			return
		}
		base = c
	}
	held := false
	for _, c := range currencies {
		held = held || c == base
	}
	if !held {
		s.writeError(w, r, okpay.Errorf(wallet.ECurrencyNotSupported, "OKPay wallets do not hold %s.", string(base)))
		return
	}
	b := append(make([]byte, 0, 160*len(currencies)+64), `{"object":"fx_rates","base":"`...)
	b = append(b, base...)
	b = append(b, `","rates":[`...)
	var missing []string
	n := 0
	for _, c := range currencies {
		if c == base {
			continue
		}
		d, err := s.fxRates.MidRate(r.Context(), base, c)
		switch okpay.ErrorCode(err) {
		case "":
		case fx.ERateStale, fx.ERateUnavailable:
			missing = append(missing, string(c))
			continue
		default:
			s.writeError(w, r, err)
			return
		}
		if n > 0 {
			b = append(b, ',')
		}
		n++
		b = append(b, `{"quote":"`...)
		b = append(b, c...)
		b = append(b, `","rate":`...)
		b = appendString(b, d.Rate.String())
		b = append(b, `,"inverse":`...)
		b = appendString(b, d.Rate.Inverse().String())
		b = append(b, `,"as_of":`...)
		b = appendTime(b, d.AsOf)
		b = append(b, `,"source":`...)
		b = appendString(b, d.Source)
		b = append(b, '}')
	}
	b = append(b, `],"unavailable":`...)
	b = appendStrings(b, missing)
	writeJSON(w, http.StatusOK, append(b, '}'))
}

// ---------------------------------------------------------------------------
// Rendering.

// appendQuote renders the fields of a quote shared by both kinds, without
// the closing brace.
func appendQuote(b []byte, object string, q *fx.Quote, fee, total money.Amount) []byte {
	b = append(b, `{"id":"`...)
	b = ids.Append(b, fx.QuotePrefix, q.ID)
	b = append(b, `","object":"`...)
	b = append(b, object...)
	b = append(b, `","from":"`...)
	b = append(b, q.From...)
	b = append(b, `","to":"`...)
	b = append(b, q.To...)
	b = append(b, `","side":"`...)
	b = append(b, q.Side...)
	b = append(b, `","sell":`...)
	b = appendMoney(b, q.Sell.Minor, q.Sell.Currency)
	b = append(b, `,"buy":`...)
	b = appendMoney(b, q.Buy.Minor, q.Buy.Currency)
	b = append(b, `,"rate":`...)
	b = appendString(b, q.Rate.String())
	b = append(b, `,"rate_exact":`...)
	b = appendString(b, q.Rate.Exact())
	b = append(b, `,"mid_rate":`...)
	b = appendString(b, q.MidRate.String())
	b = append(b, `,"spread_bp":`...)
	b = appendInt(b, int64(q.SpreadBP))
	b = append(b, `,"spread":`...)
	b = appendMoney(b, q.Spread.Minor, q.Spread.Currency)
	b = append(b, `,"fee":`...)
	b = appendMoney(b, fee.Minor, fee.Currency)
	b = append(b, `,"total":`...)
	b = appendMoney(b, total.Minor, total.Currency)
	b = append(b, `,"rate_source":`...)
	b = appendString(b, q.RateSource)
	b = append(b, `,"rate_as_of":`...)
	b = appendTime(b, q.RateAsOf)
	b = append(b, `,"created_at":`...)
	b = appendTime(b, q.CreatedAt)
	b = append(b, `,"expires_at":`...)
	return appendTime(b, q.ExpiresAt)
}
