package httpapi

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/clock"
	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/phone"
)

// The phone channel's API (package phone):
//
//   - a signed-in customer's callback requests: POST /api/v1/callbacks
//     (Idempotency-Key required: a retry returns the first request), GET
//     /api/v1/callbacks and /api/v1/callbacks/{id}, POST
//     /api/v1/callbacks/{id}/cancel. The number called is always the
//     account's verified phone: the request has no number field (and a
//     strict decoder refuses one).
//   - caller verification (SUP-05), the app's side: GET
//     /api/v1/phone_verifications lists the signed-in customer's codes
//     waiting to be read back to an agent, GET
//     /api/v1/phone_verifications/{id} shows one (its code only while it
//     waits; a refused one without it), POST
//     /api/v1/phone_verifications/{id}/refuse is "I am not on a call with
//     OKPay" (Idempotency-Key required). Another customer's is 404, as is
//     one sent by SMS (its code is in the SMS only).
//   - the telephony webhook: POST /api/v1/telephony/events, public, its
//     body signed with the configured secret (Okpay-Signature: t=…,v1=…,
//     HMAC-SHA256 over "<t>.<body>", 5 minutes' tolerance: 400
//     webhook_bad_signature or webhook_stale before the body is parsed).
//     A signed body that is no valid event is 422 validation_failed.
//     A valid event answers 200 {"applied": true}; a replay 200
//     {"applied": false} and changes nothing.

func init() {
	for code, status := range map[string]int{
		phone.ENoVerifiedPhone:   http.StatusConflict,
		phone.ETooManyCallbacks:  http.StatusConflict,
		phone.ECallbackClosed:    http.StatusConflict,
		phone.EAlreadyClaimed:    http.StatusConflict,
		phone.ENotClaimed:        http.StatusConflict,
		phone.ENotPhone:          http.StatusConflict,
		phone.ENoCustomer:        http.StatusConflict,
		phone.ENoAppSession:      http.StatusConflict,
		phone.ETooManyChallenges: http.StatusTooManyRequests,
		phone.ENoChallenge:       http.StatusConflict,
		phone.ERefused:           http.StatusConflict,
		phone.EWrongCode:         http.StatusUnprocessableEntity,
		phone.EUnverifiedCaller:  http.StatusForbidden,
	} {
		statusOf[code] = status
	}
}

// PhoneAPI configures the phone channel's routes.
type PhoneAPI struct {
	Service *phone.Service
	// Secrets verify the telephony webhook's signatures (the current one
	// first, the previous one during a rotation); without any the
	// webhook route is left out.
	Secrets [][]byte
	// Tolerance bounds a signature's age (5 minutes when zero).
	Tolerance time.Duration
	Clock     clock.Clock
}

// callbackRoutes are the customer's callback routes (identity and phone
// services needed).
var callbackRoutes = []Route{
	{"GET", "/api/v1/callbacks", AuthSession, IdemNone},
	{"POST", "/api/v1/callbacks", AuthSession, IdemRequired},
	{"GET", "/api/v1/callbacks/{id}", AuthSession, IdemNone},
	{"POST", "/api/v1/callbacks/{id}/cancel", AuthSession, IdemRequired},
	{"GET", "/api/v1/phone_verifications", AuthSession, IdemNone},
	{"GET", "/api/v1/phone_verifications/{id}", AuthSession, IdemNone},
	{"POST", "/api/v1/phone_verifications/{id}/refuse", AuthSession, IdemRequired},
}

// telephonyRoutes is the PBX's webhook: public (the signature
// authenticates it), no Idempotency-Key (the event id is the key).
var telephonyRoutes = []Route{
	{"POST", "/api/v1/telephony/events", AuthPublic, IdemNone},
}

func (s *Server) phoneRoutes() []Route {
	if s.phone == nil {
		return nil
	}
	var rs []Route
	if s.identity != nil {
		rs = append(rs, callbackRoutes...)
	}
	if len(s.phone.Secrets) > 0 {
		rs = append(rs, telephonyRoutes...)
	}
	return rs
}

// registerPhone adds the phone channel's routes to mux.
func (s *Server) registerPhone(mux *http.ServeMux) {
	if s.phone == nil {
		return
	}
	if s.identity != nil {
		handlers := map[string]sessionHandler{
			"GET /api/v1/callbacks":                        s.handleListCallbacks,
			"POST /api/v1/callbacks":                       s.handleRequestCallback,
			"GET /api/v1/callbacks/{id}":                   s.handleGetCallback,
			"POST /api/v1/callbacks/{id}/cancel":           s.handleCancelCallback,
			"GET /api/v1/phone_verifications":              s.handleListPhoneVerifications,
			"GET /api/v1/phone_verifications/{id}":         s.handleGetPhoneVerification,
			"POST /api/v1/phone_verifications/{id}/refuse": s.handleRefusePhoneVerification,
		}
		for _, rt := range callbackRoutes {
			key := rt.Method + " " + rt.Pattern
			h := handlers[key]
			if h == nil || rt.Auth != AuthSession {
				panic("httpapi: bad callback route " + key)
			}
			if rt.Idempotency == IdemRequired {
				h = s.securityKey(key, h)
			}
			mux.HandleFunc(key, s.customer(false, s.passwordGate(key, h)))
		}
	}
	if len(s.phone.Secrets) > 0 {
		mux.HandleFunc("POST /api/v1/telephony/events", s.handleTelephonyEvent)
	}
}

// callbackJSON is a callback as the customer reads it.
type callbackJSON struct {
	ID          string `json:"id"`
	Topic       string `json:"topic"`
	Note        string `json:"note"`
	Phone       string `json:"phone"`
	Lang        string `json:"lang"`
	TimeZone    string `json:"time_zone"`
	WindowStart string `json:"window_start"`
	WindowEnd   string `json:"window_end"`
	State       string `json:"state"`
	Outcome     string `json:"outcome,omitempty"`
	Attempts    int    `json:"attempts"`
	CreatedAt   string `json:"created_at"`
	UpdatedAt   string `json:"updated_at"`
}

func toCallbackJSON(c *phone.Callback) callbackJSON {
	ws, we := c.Local()
	return callbackJSON{ID: c.Ref(), Topic: string(c.Topic), Note: c.Note, Phone: maskNumber(c.Phone), Lang: string(c.Lang), TimeZone: c.TimeZone,
		WindowStart: ws.Format(time.RFC3339), WindowEnd: we.Format(time.RFC3339), State: c.State, Outcome: c.Outcome, Attempts: c.Attempts,
		CreatedAt: c.CreatedAt.Format(time.RFC3339Nano), UpdatedAt: c.UpdatedAt.Format(time.RFC3339Nano)}
}

// maskNumber shows the last 4 digits of a number.
func maskNumber(p string) string {
	if len(p) <= 4 {
		return "••••"
	}
	return "•••• " + p[len(p)-4:]
}

func writeValue(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encoding failed", http.StatusInternalServerError)
		return
	}
	writeJSON(w, status, b)
}

type callbackRequest struct {
	Topic       string `json:"topic"`
	Note        string `json:"note"`
	WindowStart string `json:"window_start"`
	WindowEnd   string `json:"window_end"`
	TimeZone    string `json:"time_zone"`
	Lang        string `json:"lang"`
}

// handleRequestCallback is POST /api/v1/callbacks.
func (s *Server) handleRequestCallback(w http.ResponseWriter, r *http.Request, c *caller) {
	body, err := readBody(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var req callbackRequest
	if err := decode(body, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	bad := map[string]string{}
	parse := func(field, v string) time.Time {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			bad[field] = "Use RFC 3339 with the offset of your time zone, like 2026-03-02T14:00:00+08:00."
		}
		return t
	}
	ws, we := parse("window_start", req.WindowStart), parse("window_end", req.WindowEnd)
	if len(bad) > 0 {
		s.writeError(w, r, okpay.Invalid(bad))
		return
	}
	key, _ := idempotencyKey(r)
	cb, err := s.phone.Service.RequestCallback(r.Context(), c.user.ID, phone.CallbackInput{Topic: desk.Category(req.Topic), Note: req.Note,
		WindowStart: ws, WindowEnd: we, TimeZone: req.TimeZone, Lang: i18n.Lang(req.Lang), IdempotencyKey: key})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeValue(w, http.StatusCreated, toCallbackJSON(cb))
}

// handleListCallbacks is GET /api/v1/callbacks: the customer's, newest
// first.
func (s *Server) handleListCallbacks(w http.ResponseWriter, r *http.Request, c *caller) {
	limit, before, ok := s.pageQuery(w, r, 20, 100, phone.ParseCallbackRef)
	if !ok {
		return
	}
	cbs, err := s.phone.Service.Callbacks(r.Context(), c.user.ID, before, limit+1)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	cbs, more, cursor := chatPage(cbs, limit, func(cb *phone.Callback) string { return cb.Ref() })
	writeJSON(w, http.StatusOK, appendList(make([]byte, 0, 512*len(cbs)+64), cbs, more, cursor, func(b []byte, cb *phone.Callback) []byte {
		return appendValue(b, toCallbackJSON(cb))
	}))
}

// appendValue appends v's JSON (a type encoding/json renders; it cannot
// fail for those).
func appendValue[T any](b []byte, v T) []byte {
	j, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return append(b, j...)
}

func callbackID(r *http.Request) (int64, error) {
	id, ok := phone.ParseCallbackRef(r.PathValue("id"))
	if !ok {
		return 0, okpay.Errorf(okpay.ENotFound, "callback not found")
	}
	return id, nil
}

// handleGetCallback is GET /api/v1/callbacks/{id}; another customer's is
// 404.
func (s *Server) handleGetCallback(w http.ResponseWriter, r *http.Request, c *caller) {
	id, err := callbackID(r)
	if err == nil {
		var cb *phone.Callback
		if cb, err = s.phone.Service.Callback(r.Context(), c.user.ID, id); err == nil {
			writeValue(w, http.StatusOK, toCallbackJSON(cb))
			return
		}
	}
	s.writeError(w, r, err)
}

// handleCancelCallback is POST /api/v1/callbacks/{id}/cancel: only while
// no agent is calling (409 phone_callback_closed after).
func (s *Server) handleCancelCallback(w http.ResponseWriter, r *http.Request, c *caller) {
	id, err := callbackID(r)
	if err == nil {
		var cb *phone.Callback
		if cb, err = s.phone.Service.CancelCallback(r.Context(), c.user.ID, id); err == nil {
			writeValue(w, http.StatusOK, toCallbackJSON(cb))
			return
		}
	}
	s.writeError(w, r, err)
}

// handleTelephonyEvent is POST /api/v1/telephony/events.
func (s *Server) handleTelephonyEvent(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, phone.MaxEventSize))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.writeError(w, r, okpay.Errorf(ERequestTooLarge, "a telephony event must be at most %d bytes", phone.MaxEventSize))
			return
		}
		s.writeError(w, r, okpay.Errorf(EInvalidRequest, "the body could not be read"))
		return
	}
	if ct := r.Header.Get("Content-Type"); !isJSON(ct) {
		s.writeError(w, r, okpay.Errorf(EUnsupportedMediaType, "send the event as application/json"))
		return
	}
	header := r.Header.Get(phone.SignatureHeader)
	now := s.phone.Clock.Now()
	if err := phone.VerifySignature(header, body, s.phone.Secrets, now, s.phone.Tolerance); err != nil {
		s.writeError(w, r, err)
		return
	}
	ev, err := phone.DecodeEvent(body)
	if err != nil {
		s.writeError(w, r, okpay.Invalid(map[string]string{"event": strings.TrimPrefix(err.Error(), phone.ErrBadEvent.Error()+"\n")}))
		return
	}
	applied, err := s.phone.Service.ApplyEvent(r.Context(), ev, signatureTime(header))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if !applied {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	writeValue(w, http.StatusOK, struct {
		Applied bool `json:"applied"`
	}{applied})
}

// signatureTime reads the t= of a verified signature header.
func signatureTime(h string) time.Time {
	for part := range strings.SplitSeq(h, ",") {
		if k, v, ok := strings.Cut(strings.TrimSpace(part), "="); ok && k == "t" {
			if sec, err := strconv.ParseInt(v, 10, 64); err == nil {
				return time.Unix(sec, 0).UTC()
			}
		}
	}
	return time.Time{}
}

// phoneVerificationJSON is a caller-verification code as its customer
// reads it.
type phoneVerificationJSON struct {
	ID           string `json:"id"`
	Conversation string `json:"conversation"`
	State        string `json:"state"`
	Code         string `json:"code,omitempty"`
	ExpiresAt    string `json:"expires_at"`
}

func toPhoneVerificationJSON(c *phone.CustomerChallenge) phoneVerificationJSON {
	return phoneVerificationJSON{ID: phone.ChallengeRef(c.ID), Conversation: desk.ConversationRef(c.ConversationID), State: c.State,
		Code: c.Code, ExpiresAt: c.ExpiresAt.Format(time.RFC3339Nano)}
}

// handleListPhoneVerifications is GET /api/v1/phone_verifications: the
// codes waiting to be read back, newest first. They live minutes and at
// most five are listed (phone.WaitingChallenges): one page, has_more
// always false.
func (s *Server) handleListPhoneVerifications(w http.ResponseWriter, r *http.Request, c *caller) {
	chs, err := s.phone.Service.WaitingChallenges(r.Context(), c.user.ID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, appendList(make([]byte, 0, 256*len(chs)+64), chs, false, "", func(b []byte, ch *phone.CustomerChallenge) []byte {
		return appendValue(b, toPhoneVerificationJSON(ch))
	}))
}

func phoneVerificationID(r *http.Request) (int64, error) {
	id, ok := phone.ParseChallengeRef(r.PathValue("id"))
	if !ok {
		return 0, okpay.Errorf(okpay.ENotFound, "No such verification.")
	}
	return id, nil
}

// handleGetPhoneVerification is GET /api/v1/phone_verifications/{id}.
func (s *Server) handleGetPhoneVerification(w http.ResponseWriter, r *http.Request, c *caller) {
	id, err := phoneVerificationID(r)
	if err == nil {
		var ch *phone.CustomerChallenge
		if ch, err = s.phone.Service.CustomerChallenge(r.Context(), c.user.ID, id); err == nil {
			writeValue(w, http.StatusOK, toPhoneVerificationJSON(ch))
			return
		}
	}
	s.writeError(w, r, err)
}

// handleRefusePhoneVerification is POST
// /api/v1/phone_verifications/{id}/refuse: the waiting code is cancelled,
// the refusal audited and noted for the agent; the answer is the refused
// verification (without its code). Refusing a refused one answers the
// same; one that is no longer waiting otherwise is 404.
func (s *Server) handleRefusePhoneVerification(w http.ResponseWriter, r *http.Request, c *caller) {
	id, err := phoneVerificationID(r)
	if err == nil {
		m := s.meta(r)
		refuseErr := s.phone.Service.RefuseChallenge(r.Context(), c.user.ID, id, phone.Requester{IP: m.IP, DeviceID: m.DeviceID, RequestID: m.RequestID})
		err = refuseErr
		if refuseErr == nil || okpay.ErrorCode(refuseErr) == okpay.ENotFound {
			// Refusing a refused one changes nothing and answers it again.
			var ch *phone.CustomerChallenge
			if ch, err = s.phone.Service.CustomerChallenge(r.Context(), c.user.ID, id); err == nil && (refuseErr == nil || ch.State == phone.StateRefused) {
				writeValue(w, http.StatusOK, toPhoneVerificationJSON(ch))
				return
			}
			if err == nil {
				err = refuseErr
			}
		}
	}
	s.writeError(w, r, err)
}
