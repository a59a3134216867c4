package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/audit"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/paymethod"
	"github.com/okpay/okpay/psp"
)

// The customer's payment methods (the description's "change bank card":
// add a new one, verify it, delete the old): bank cards given as the
// provider's tokens, bank accounts verified by micro-deposits, external
// e-wallets verified by a code, over package paymethod. Ids are "pm_…".
//
// Card numbers never reach these routes: the client sends the card to the
// provider's token endpoint and OKPay only the token (CRD-01). A request
// with a Luhn-valid run of 13 to 19 digits in any field is refused with
// 400 card_data_refused, before anything else looks at it, and recorded
// as a security event (malicious_input); the number is neither stored,
// logged nor echoed.
//
// Every POST needs an Idempotency-Key, with the security settings'
// semantics (idempotency.go): the answer to a success is stored and
// replayed. Running one again after its record was lost is harmless:
// adding the same card, bank account or e-wallet again is 409
// duplicate_method; a code or micro-deposits confirmed are 409
// no_code_expected the second time; deleting a deleted method and making
// the default method the default change nothing.

// ECardDataRefused answers a request that carries a card number (CRD-01).
const ECardDataRefused = "card_data_refused"

// The HTTP statuses of the payment-method and provider codes, joined to
// statusOf (problem.go) when the package loads. paymethod's
// step_up_required, rate_limited and invalid_code are identity's and the
// API's own codes, already there.
func init() {
	for code, status := range map[string]int{
		ECardDataRefused:               http.StatusBadRequest,
		paymethod.EDuplicateMethod:     http.StatusConflict,
		paymethod.ECardExpired:         http.StatusUnprocessableEntity,
		paymethod.ETooManyMethods:      http.StatusConflict,
		paymethod.EMethodInUse:         http.StatusConflict,
		paymethod.EMethodDeleted:       http.StatusConflict,
		paymethod.ENotVerified:         http.StatusConflict,
		paymethod.EMethodHold:          http.StatusForbidden,
		paymethod.ETooManyAttempts:     http.StatusUnprocessableEntity,
		paymethod.EVerificationExpired: http.StatusConflict,
		paymethod.ENoCodeExpected:      http.StatusConflict,
		paymethod.ENotPayoutEligible:   http.StatusUnprocessableEntity,
		paymethod.ENameCheck:           http.StatusConflict,
		paymethod.ELinkInvalid:         http.StatusBadRequest,
		paymethod.ELinkExpired:         http.StatusUnprocessableEntity,
		paymethod.ELinkDenied:          http.StatusUnprocessableEntity,
		paymethod.EOAuthRequired:       http.StatusConflict,
		paymethod.ENoOAuth:             http.StatusConflict,
		psp.ETokenNotFound:             http.StatusUnprocessableEntity,
		psp.EDeclined:                  http.StatusUnprocessableEntity,
		psp.EUnavailable:               http.StatusServiceUnavailable,
		psp.EBadSignature:              http.StatusBadRequest,
		psp.EStale:                     http.StatusBadRequest,
	} {
		statusOf[code] = status
	}
}

// methodRoutes are the payment-method routes, served when the server has
// the identity and payment-method services.
var methodRoutes = []Route{
	{"GET", "/api/v1/payment_methods", AuthSession, IdemNone},
	{"GET", "/api/v1/payment_methods/{id}", AuthSession, IdemNone},
	{"POST", "/api/v1/payment_methods/cards", AuthSession, IdemRequired},
	{"POST", "/api/v1/payment_methods/bank_accounts", AuthSession, IdemRequired},
	{"POST", "/api/v1/payment_methods/ewallets", AuthSession, IdemRequired},
	{"POST", "/api/v1/payment_methods/ewallets/links", AuthSession, IdemRequired},
	{"GET", EWalletCallbackPath, AuthSession, IdemNone},
	{"POST", "/api/v1/payment_methods/{id}/statement_code", AuthSession, IdemRequired},
	{"POST", "/api/v1/payment_methods/{id}/micro_deposits", AuthSession, IdemRequired},
	{"POST", "/api/v1/payment_methods/{id}/ewallet_code", AuthSession, IdemRequired},
	{"POST", "/api/v1/payment_methods/{id}/default", AuthSession, IdemRequired},
	{"POST", "/api/v1/payment_methods/{id}/delete", AuthSession, IdemRequired},
}

func (s *Server) methodHandlers() map[string]sessionHandler {
	return map[string]sessionHandler{
		"GET /api/v1/payment_methods":                      s.handleListMethods,
		"GET /api/v1/payment_methods/{id}":                 s.handleGetMethod,
		"POST /api/v1/payment_methods/cards":               s.handleAddCard,
		"POST /api/v1/payment_methods/bank_accounts":       s.handleAddBankAccount,
		"POST /api/v1/payment_methods/ewallets":            s.handleAddEWallet,
		"POST /api/v1/payment_methods/ewallets/links":      s.handleStartEWalletLink,
		"GET " + EWalletCallbackPath:                       s.handleEWalletCallback,
		"POST /api/v1/payment_methods/{id}/statement_code": s.handleStatementCode,
		"POST /api/v1/payment_methods/{id}/micro_deposits": s.handleMicroDeposits,
		"POST /api/v1/payment_methods/{id}/ewallet_code":   s.handleEWalletCode,
		"POST /api/v1/payment_methods/{id}/default":        s.handleSetDefaultMethod,
		"POST /api/v1/payment_methods/{id}/delete":         s.handleDeleteMethod,
	}
}

// registerMethods adds the payment-method routes to mux, each wrapped as
// methodRoutes says.
func (s *Server) registerMethods(mux *http.ServeMux) {
	handlers := s.methodHandlers()
	for _, rt := range methodRoutes {
		key := rt.Method + " " + rt.Pattern
		h := handlers[key]
		if h == nil || rt.Auth != AuthSession {
			panic("httpapi: bad payment-method route " + key)
		}
		if rt.Idempotency == IdemRequired {
			h = s.securityKey(key, h)
		}
		mux.HandleFunc(key, s.customer(false, s.passwordGate(key, h)))
	}
}

// ---------------------------------------------------------------------------
// Requests.

// methodBody reads a payment-method request's body: card numbers are
// refused in any field (CRD-01), then the JSON is decoded strictly into v.
// A nil v accepts no body or an empty object. It answers the request
// itself and returns false when the body is not acceptable.
func (s *Server) methodBody(w http.ResponseWriter, r *http.Request, c *caller, v any) bool {
	body, err := readBody(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return false
	}
	if field, found := panField(body); found {
		s.refuseCardData(w, r, c, field)
		return false
	}
	if v == nil {
		if t := bytes.TrimSpace(body); len(t) > 0 {
			if t[0] != '{' {
				err = okpay.Errorf(EInvalidRequest, "send no body or an empty JSON object")
			} else {
				err = decode(body, &struct{}{})
			}
		}
	} else {
		err = decode(body, v)
	}
	if err != nil {
		s.writeError(w, r, err)
		return false
	}
	return true
}

// panField finds a value in a JSON body that holds a card number: a string
// or number with a Luhn-valid run of 13 to 19 digits (paymethod.ContainsPAN),
// except a valid IBAN, whose digits are no card's. It returns the field's
// name ("" for a value outside any object). A body that is not one JSON
// value is scanned as text.
func panField(body []byte) (string, bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var stack []panFrame
	values := 0 // top-level values
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) && len(stack) == 0 {
			return "", false
		}
		if err == nil && len(stack) == 0 {
			values++
		}
		if err != nil || values > 1 {
			// Not one JSON value (the decoder splits "00" into two).
			return "", paymethod.ContainsPAN(string(body))
		}
		var top *panFrame
		if len(stack) > 0 {
			top = &stack[len(stack)-1]
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{', '[':
				f := panFrame{object: t == '{', keyNow: t == '{'}
				if top != nil {
					f.key = top.key // an array's values are its field's
					if top.object {
						top.keyNow = true
					}
				}
				stack = append(stack, f)
			default:
				stack = stack[:len(stack)-1]
			}
			continue
		case string:
			if top != nil && top.object && top.keyNow {
				top.key, top.keyNow = t, false
				if paymethod.ContainsPAN(t) {
					return t, true
				}
				continue
			}
			if paymethod.ContainsPAN(t) {
				if _, err := paymethod.ParseIBAN(t); err != nil {
					return top.name(), true
				}
			}
		case json.Number:
			if paymethod.ContainsPAN(t.String()) {
				return top.name(), true
			}
		}
		if top != nil && top.object {
			top.keyNow = true
		}
	}
}

// panFrame is an object or array panField is inside.
type panFrame struct {
	object bool
	key    string // the field being read (an array: its field's name)
	keyNow bool   // the next token of an object is a key
}

func (f *panFrame) name() string {
	if f == nil {
		return ""
	}
	return f.key
}

// refuseCardData answers 400 card_data_refused and records the attempt as
// a security event (CRD-01). Neither the value nor any part of it is kept.
func (s *Server) refuseCardData(w http.ResponseWriter, r *http.Request, c *caller, field string) {
	m := s.meta(r)
	if field == "" || len(field) > 64 || paymethod.ContainsPAN(field) {
		field = "body"
	}
	ev := audit.Event{
		Name: audit.MaliciousInput, Actor: c.id, Subject: c.id, IP: m.IP, DeviceID: m.DeviceID, RequestID: m.RequestID,
		Outcome: audit.Failure, Reason: "a card number was sent to OKPay instead of the payment provider (CRD-01)",
		Details: map[string]string{"route": r.Pattern, "field": field},
	}
	if err := audit.New(s.identity.DB).Record(context.WithoutCancel(r.Context()), ev); err != nil {
		s.log.LogAttrs(r.Context(), slog.LevelError, "security event not recorded", slog.String("request_id", m.RequestID), slog.Any("err", err))
	}
	s.log.LogAttrs(r.Context(), slog.LevelWarn, audit.MaliciousInput, slog.String("request_id", m.RequestID),
		slog.String("principal", c.id), slog.String("route", r.Pattern), slog.String("field", field))
	s.writeError(w, r, &okpay.Error{Code: ECardDataRefused,
		Message: "Card numbers are not accepted here: send the card to the payment provider's token endpoint and OKPay only the token.",
		Fields:  map[string]string{field: "holds a card number"}})
}

// methodID reads the {id} of a route: a method id of the caller, or 404.
func methodID(r *http.Request) (int64, error) {
	id, ok := paymethod.ParseID(r.PathValue("id"))
	if !ok {
		return 0, okpay.Errorf(okpay.ENotFound, "There is no such payment method.")
	}
	return id, nil
}

// notFrozen refuses changes to a frozen account's methods (RSK-05: it is
// read-only).
func notFrozen(c *caller) error {
	if c.user.Frozen {
		return okpay.Errorf(identity.EAccountFrozen, "This account is frozen and read-only: its payment methods cannot change. Contact support.")
	}
	return nil
}

// methodCtx is the request's context carrying what the notices of the
// change name: the device and address (NOT-04).
func (s *Server) methodCtx(r *http.Request) context.Context {
	m := s.meta(r)
	return paymethod.WithRequest(r.Context(), paymethod.Request{IP: m.IP, UserAgent: m.UserAgent})
}

// maxReturnURL bounds a 3-D Secure return address.
const maxReturnURL = 2048

// validReturnURL accepts "", a path on this site and an absolute http(s)
// URL.
func validReturnURL(u string) bool {
	if u == "" {
		return true
	}
	if len(u) > maxReturnURL || strings.ContainsAny(u, "\\\r\n\t ") {
		return false
	}
	p, err := url.Parse(u)
	if err != nil || p.User != nil || p.Opaque != "" {
		return false
	}
	if p.Scheme == "" {
		return p.Host == "" && strings.HasPrefix(u, "/") && !strings.HasPrefix(u, "//")
	}
	return (p.Scheme == "http" || p.Scheme == "https") && p.Host != ""
}

// ---------------------------------------------------------------------------
// Handlers.

func (s *Server) handleListMethods(w http.ResponseWriter, r *http.Request, c *caller) {
	q := r.URL.Query()
	limit := 20
	fields := map[string]string{}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			fields["limit"] = "must be 1 to 100"
		}
		limit = n
	}
	var after int64
	if v := q.Get("cursor"); v != "" {
		id, ok := paymethod.ParseID(v)
		if !ok {
			fields["cursor"] = "not a cursor from this list"
		}
		after = id
	}
	if len(fields) > 0 {
		s.writeError(w, r, okpay.Invalid(fields))
		return
	}
	list, err := s.methods.List(r.Context(), c.user.ID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	// Newest first; the cursor is the last id of the previous page.
	slices.Reverse(list)
	if after != 0 {
		list = slices.DeleteFunc(list, func(m *paymethod.Method) bool { return m.ID >= after })
	}
	more := len(list) > limit
	if more {
		list = list[:limit]
	}
	cursor := ""
	if more {
		cursor = list[len(list)-1].PublicID()
	}
	writeJSON(w, http.StatusOK, appendList(make([]byte, 0, 1024), list, more, cursor, appendMethod))
}

func (s *Server) handleGetMethod(w http.ResponseWriter, r *http.Request, c *caller) {
	id, err := methodID(r)
	if err == nil {
		var m *paymethod.Method
		if m, err = s.methods.Get(r.Context(), c.user.ID, id); err == nil {
			writeJSON(w, http.StatusOK, appendMethod(nil, m))
			return
		}
	}
	s.writeError(w, r, err)
}

type addCardRequest struct {
	Token     string `json:"token"`
	ReturnURL string `json:"return_url"`
}

// handleAddCard adds a card from the provider's token and starts its
// verification (CRD-04).
func (s *Server) handleAddCard(w http.ResponseWriter, r *http.Request, c *caller) {
	var req addCardRequest
	if !s.methodBody(w, r, c, &req) {
		return
	}
	err := notFrozen(c)
	if err == nil {
		err = required("token", req.Token)
	}
	if err == nil && !validReturnURL(req.ReturnURL) {
		err = okpay.Invalid(map[string]string{"return_url": "must be a path on this site or an http(s) URL"})
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	m, err := s.methods.AddCard(s.methodCtx(r), paymethod.NewCard{UserID: c.user.ID, Token: req.Token, StepUp: c.session.MFAAt, ReturnURL: req.ReturnURL})
	s.answerMethod(w, r, http.StatusCreated, m, err)
}

type addBankAccountRequest struct {
	IBAN     string `json:"iban"`
	Holder   string `json:"holder"`
	Currency string `json:"currency"`
	// ConfirmNameCheck repeats the payee-name check answer of a 409
	// payee_name_unconfirmed the customer was shown and accepted (CRD-10).
	ConfirmNameCheck string `json:"confirm_name_check"`
}

func (s *Server) handleAddBankAccount(w http.ResponseWriter, r *http.Request, c *caller) {
	var req addBankAccountRequest
	if !s.methodBody(w, r, c, &req) {
		return
	}
	err := notFrozen(c)
	if err == nil {
		err = required("iban", req.IBAN, "holder", req.Holder)
	}
	cur := money.Currency(req.Currency)
	if err == nil && req.Currency != "" && !cur.Valid() {
		err = okpay.Invalid(map[string]string{"currency": "not a currency OKPay knows"})
	}
	switch paymethod.NameResult(req.ConfirmNameCheck) {
	case "", paymethod.NameCloseMatch, paymethod.NameNoMatch, paymethod.NameUnavailable:
	default:
		if err == nil {
			err = okpay.Invalid(map[string]string{"confirm_name_check": "close_match, no_match or unavailable"})
		}
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	m, err := s.methods.AddBankAccount(s.methodCtx(r), paymethod.NewBankAccount{UserID: c.user.ID, IBAN: req.IBAN, Holder: req.Holder,
		Currency: cur, StepUp: c.session.MFAAt, ConfirmNameCheck: paymethod.NameResult(req.ConfirmNameCheck)})
	var nce *paymethod.NameCheckError
	if errors.As(err, &nce) {
		// The answer to confirm, as an extension member of the problem.
		b := append([]byte(nil), `,"name_check":{"result":`...)
		b = appendString(b, string(nce.Result))
		if nce.Held != "" {
			b = append(b, `,"held_name":`...)
			b = appendString(b, nce.Held)
		}
		err = &extendedError{error: err, members: append(b, '}')}
	}
	s.answerMethod(w, r, http.StatusCreated, m, err)
}

type addEWalletRequest struct {
	Provider string `json:"provider"`
	Account  string `json:"account"`
}

// handleAddEWallet adds an e-wallet by the account id the customer types,
// checked by a code the provider shows its owner. CRD-10 wants an
// e-wallet's ownership shown by its provider's OAuth link, so, as on the
// web, this is only for an e-wallet without one: the others are 409
// ewallet_oauth_required (POST /api/v1/payment_methods/ewallets/links).
func (s *Server) handleAddEWallet(w http.ResponseWriter, r *http.Request, c *caller) {
	var req addEWalletRequest
	if !s.methodBody(w, r, c, &req) {
		return
	}
	err := notFrozen(c)
	if err == nil {
		err = required("provider", req.Provider, "account", req.Account)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	m, err := s.methods.AddEWalletWithoutOAuth(s.methodCtx(r), paymethod.NewEWallet{UserID: c.user.ID, Provider: req.Provider, Account: req.Account,
		StepUp: c.session.MFAAt}, EWalletCallbackPath)
	s.answerMethod(w, r, http.StatusCreated, m, err)
}

// EWalletCallbackPath is where an e-wallet's authorisation page sends the
// customer back after an OAuth link started by the API (the link's
// redirect_uri). An app opens the authorisation page in a browser and
// catches this address (a universal or app link), then calls it with its
// own session; a browser signed in with the session cookie simply lands
// on it.
const EWalletCallbackPath = "/api/v1/payment_methods/ewallets/callback"

type ewalletLinkRequest struct {
	Provider string `json:"provider"`
}

// handleStartEWalletLink starts an OAuth link of an e-wallet (CRD-10): the
// state is bound to this session, single use and short-lived, and the PKCE
// verifier stays with OKPay (paymethod.BeginEWalletLink). It needs a
// second factor within the sudo window, as adding any method does.
func (s *Server) handleStartEWalletLink(w http.ResponseWriter, r *http.Request, c *caller) {
	var req ewalletLinkRequest
	if !s.methodBody(w, r, c, &req) {
		return
	}
	err := notFrozen(c)
	if err == nil {
		err = required("provider", req.Provider)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	l, err := s.methods.BeginEWalletLink(s.methodCtx(r), paymethod.NewEWalletLink{UserID: c.user.ID, Provider: req.Provider,
		Binding: strconv.FormatInt(c.session.ID, 10), StepUp: c.session.MFAAt, RedirectURI: EWalletCallbackPath})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	b := append(make([]byte, 0, 512), `{"object":"ewallet_link","provider":`...)
	b = appendString(b, l.Provider)
	b = append(b, `,"authorization_url":`...)
	b = appendString(b, l.AuthURL)
	b = append(b, `,"redirect_uri":`...)
	b = appendString(b, EWalletCallbackPath)
	b = append(b, `,"expires_at":`...)
	b = appendTime(b, l.ExpiresAt)
	writeJSON(w, http.StatusCreated, append(b, '}'))
}

// maxCallbackParam bounds a callback parameter.
const maxCallbackParam = 512

// handleEWalletCallback finishes an OAuth link with what the provider
// sent back: state and code, or error. Only the session that started the
// link can finish it, once, before it expires; the e-wallet is added
// verified with the account id the provider names. A second call with the
// same state is 400 ewallet_link_invalid (the method added by the first
// is in the list).
func (s *Server) handleEWalletCallback(w http.ResponseWriter, r *http.Request, c *caller) {
	q := r.URL.Query()
	fields := map[string]string{}
	for name, vs := range q {
		switch name {
		case "state", "code", "error", "error_description", "error_uri", "iss":
			if len(vs) != 1 || len(vs[0]) > maxCallbackParam {
				fields[name] = "give it once, at most 512 characters"
			}
		default:
			fields[name] = "not a parameter of this callback"
		}
	}
	err := notFrozen(c)
	if err == nil && len(fields) > 0 {
		err = okpay.Invalid(fields)
	}
	if err == nil && q.Get("state") == "" {
		err = okpay.Invalid(map[string]string{"state": "required: the state the e-wallet sent back"})
	}
	if err == nil && q.Get("code") == "" && q.Get("error") == "" {
		err = okpay.Invalid(map[string]string{"code": "required (or error): what the e-wallet sent back"})
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	m, err := s.methods.FinishEWalletLink(s.methodCtx(r), c.user.ID, strconv.FormatInt(c.session.ID, 10), q.Get("state"), q.Get("code"), q.Get("error"))
	s.answerMethod(w, r, http.StatusCreated, m, err)
}

type methodCodeRequest struct {
	Code string `json:"code"`
}

// confirmCode serves the routes that confirm a method with a code.
func (s *Server) confirmCode(w http.ResponseWriter, r *http.Request, c *caller,
	confirm func(ctx context.Context, userID, methodID int64, code string) (*paymethod.Method, error)) {
	var req methodCodeRequest
	if !s.methodBody(w, r, c, &req) {
		return
	}
	id, err := methodID(r)
	if err == nil {
		err = notFrozen(c)
	}
	if err == nil {
		err = required("code", req.Code)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	m, err := confirm(s.methodCtx(r), c.user.ID, id, req.Code)
	s.answerMethod(w, r, http.StatusOK, m, err)
}

func (s *Server) handleStatementCode(w http.ResponseWriter, r *http.Request, c *caller) {
	s.confirmCode(w, r, c, s.methods.ConfirmStatementCode)
}

func (s *Server) handleEWalletCode(w http.ResponseWriter, r *http.Request, c *caller) {
	s.confirmCode(w, r, c, s.methods.ConfirmEWalletCode)
}

type microDepositsRequest struct {
	Amounts []money.Amount `json:"amounts"`
}

// handleMicroDeposits confirms a bank account with the two small amounts
// that arrived on it, as money objects in the account's currency.
func (s *Server) handleMicroDeposits(w http.ResponseWriter, r *http.Request, c *caller) {
	var req microDepositsRequest
	if !s.methodBody(w, r, c, &req) {
		return
	}
	id, err := methodID(r)
	if err == nil {
		err = notFrozen(c)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if len(req.Amounts) != 2 {
		s.writeError(w, r, okpay.Invalid(map[string]string{"amounts": "give exactly the two amounts that arrived"}))
		return
	}
	m, err := s.methods.Get(r.Context(), c.user.ID, id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if m.Bank != nil {
		for i, a := range req.Amounts {
			if a.Currency != m.Bank.Currency {
				s.writeError(w, r, okpay.Invalid(map[string]string{"amounts[" + strconv.Itoa(i) + "].currency": "must be the account's currency, " + string(m.Bank.Currency)}))
				return
			}
		}
	}
	m, err = s.methods.ConfirmMicroDeposits(s.methodCtx(r), c.user.ID, id, req.Amounts[0].Minor, req.Amounts[1].Minor)
	s.answerMethod(w, r, http.StatusOK, m, err)
}

func (s *Server) handleSetDefaultMethod(w http.ResponseWriter, r *http.Request, c *caller) {
	if !s.methodBody(w, r, c, nil) {
		return
	}
	id, err := methodID(r)
	if err == nil {
		err = notFrozen(c)
	}
	if err == nil {
		err = s.methods.SetDefault(s.methodCtx(r), c.user.ID, id)
	}
	var m *paymethod.Method
	if err == nil {
		m, err = s.methods.Get(r.Context(), c.user.ID, id)
	}
	s.answerMethod(w, r, http.StatusOK, m, err)
}

// handleDeleteMethod deletes a method (CRD-08): it needs a second factor
// within the sudo window (403 step_up_required otherwise).
func (s *Server) handleDeleteMethod(w http.ResponseWriter, r *http.Request, c *caller) {
	if !s.methodBody(w, r, c, nil) {
		return
	}
	id, err := methodID(r)
	if err == nil {
		err = notFrozen(c)
	}
	if err == nil {
		err = s.methods.Delete(s.methodCtx(r), c.user.ID, id, c.session.MFAAt)
	}
	var m *paymethod.Method
	if err == nil {
		m, err = s.methods.Get(r.Context(), c.user.ID, id)
	}
	s.answerMethod(w, r, http.StatusOK, m, err)
}

// answerMethod answers with the method, or the error.
func (s *Server) answerMethod(w http.ResponseWriter, r *http.Request, status int, m *paymethod.Method, err error) {
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, status, appendMethod(make([]byte, 0, 512), m))
}

// ---------------------------------------------------------------------------
// Responses.

// appendMethod renders a method as its owner may see it (CRD-03: a card
// is its brand and last4, a bank account and an e-wallet are masked).
func appendMethod(b []byte, m *paymethod.Method) []byte {
	b = append(b, `{"id":"`...)
	b = ids.Append(b, paymethod.IDPrefix, m.ID)
	b = append(b, `","object":"payment_method","kind":`...)
	b = appendString(b, string(m.Kind))
	b = append(b, `,"status":`...)
	b = appendString(b, string(m.Status))
	b = append(b, `,"label":`...)
	b = appendString(b, m.Label)
	b = append(b, `,"default":`...)
	b = strconv.AppendBool(b, m.Default)
	if m.FailureCode != "" {
		b = append(b, `,"failure_code":`...)
		b = appendString(b, m.FailureCode)
	}
	b = append(b, `,"verification":{"kind":`...)
	b = appendString(b, m.VerifyKind)
	if m.ActionURL != "" {
		b = append(b, `,"action_url":`...)
		b = appendString(b, m.ActionURL)
	}
	if m.Status == paymethod.StatusAwaitingCode {
		b = append(b, `,"attempts_left":`...)
		b = appendInt(b, int64(m.AttemptsLeft))
	}
	if !m.VerifyExpiresAt.IsZero() {
		b = append(b, `,"expires_at":`...)
		b = appendTime(b, m.VerifyExpiresAt)
	}
	if m.AuthFallback {
		// CRD-04: verified by a 1-unit authorisation, voided at once.
		b = append(b, `,"fallback":"auth_and_void"`...)
		if !m.AuthVoidedAt.IsZero() {
			b = append(b, `,"voided_at":`...)
			b = appendTime(b, m.AuthVoidedAt)
		}
	}
	b = append(b, '}')
	switch {
	case m.Card != nil:
		b = append(b, `,"card":{"brand":`...)
		b = appendString(b, m.Card.Brand)
		b = append(b, `,"last4":`...)
		b = appendString(b, m.Card.Last4)
		b = append(b, `,"exp_month":`...)
		b = appendInt(b, int64(m.Card.ExpMonth))
		b = append(b, `,"exp_year":`...)
		b = appendInt(b, int64(m.Card.ExpYear))
		b = append(b, '}')
	case m.Bank != nil:
		b = append(b, `,"bank_account":{"country":`...)
		b = appendString(b, m.Bank.Country)
		b = append(b, `,"last4":`...)
		b = appendString(b, m.Bank.Last4)
		b = append(b, `,"holder":`...)
		b = appendString(b, m.Bank.Holder)
		b = append(b, `,"currency":`...)
		b = appendString(b, string(m.Bank.Currency))
		if m.Bank.NameCheck != "" {
			b = append(b, `,"name_check":{"result":`...)
			b = appendString(b, string(m.Bank.NameCheck))
			if m.Bank.NameHeld != "" {
				b = append(b, `,"held_name":`...)
				b = appendString(b, m.Bank.NameHeld)
			}
			b = append(b, `,"confirmed":`...)
			b = strconv.AppendBool(b, m.Bank.NameConfirmed)
			b = append(b, '}')
		}
		b = append(b, '}')
	case m.EWallet != nil:
		b = append(b, `,"ewallet":{"provider":`...)
		b = appendString(b, m.EWallet.Provider)
		b = append(b, `,"account":`...)
		b = appendString(b, m.EWallet.Masked)
		if m.EWallet.LinkedBy != "" {
			b = append(b, `,"linked_by":`...)
			b = appendString(b, m.EWallet.LinkedBy)
		}
		b = append(b, '}')
	}
	b = append(b, `,"created_at":`...)
	b = appendTime(b, m.CreatedAt)
	if !m.VerifiedAt.IsZero() {
		b = append(b, `,"verified_at":`...)
		b = appendTime(b, m.VerifiedAt)
	}
	b = append(b, `,"hold_until":`...)
	b = appendTime(b, m.HoldUntil)
	if m.Deleted() {
		b = append(b, `,"deleted_at":`...)
		b = appendTime(b, m.DeletedAt)
	}
	return append(b, '}')
}
