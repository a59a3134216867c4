package httpapi

import (
	"errors"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/identity/passkey"
	"github.com/okpay/okpay/identity/password"
	"github.com/okpay/okpay/ledger"
	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/wallet"
)

// API error codes that only the HTTP layer produces.
const (
	EInvalidRequest         = "invalid_request"
	EIdempotencyKeyRequired = "idempotency_key_required"
	ERequestTooLarge        = "request_too_large"
	EUnsupportedMediaType   = "unsupported_media_type"
	EMethodNotAllowed       = "method_not_allowed"
	ERateLimited            = "rate_limited"
)

// statusOf maps every error code to its HTTP status: the one place where
// domain errors meet HTTP.
var statusOf = map[string]int{
	EInvalidRequest:                http.StatusBadRequest,
	EIdempotencyKeyRequired:        http.StatusBadRequest,
	ERequestTooLarge:               http.StatusRequestEntityTooLarge,
	EUnsupportedMediaType:          http.StatusUnsupportedMediaType,
	EMethodNotAllowed:              http.StatusMethodNotAllowed,
	ERateLimited:                   http.StatusTooManyRequests,
	okpay.EInvalid:                 http.StatusUnprocessableEntity,
	okpay.ENotFound:                http.StatusNotFound,
	okpay.EConflict:                http.StatusConflict,
	okpay.EUnauthorized:            http.StatusUnauthorized,
	okpay.EForbidden:               http.StatusForbidden,
	okpay.EUnavailable:             http.StatusServiceUnavailable,
	okpay.EInternal:                http.StatusInternalServerError,
	ledger.EInsufficientFunds:      http.StatusUnprocessableEntity,
	ledger.EAccountNotFound:        http.StatusNotFound,
	ledger.ECurrencyMismatch:       http.StatusUnprocessableEntity,
	ledger.EReferenceConflict:      http.StatusConflict,
	ledger.EPendingNotFound:        http.StatusNotFound,
	ledger.EPendingAlreadyResolved: http.StatusConflict,
	ledger.EPendingExpired:         http.StatusConflict,
	ledger.EExceedsPendingAmount:   http.StatusUnprocessableEntity,
	ledger.EExceedsReversible:      http.StatusUnprocessableEntity,
	ledger.ENotReversible:          http.StatusConflict,
	ledger.EIdempotencyKeyReused:   http.StatusUnprocessableEntity,
	ledger.EIdempotencyInFlight:    http.StatusConflict,
	EIdempotencyReplayWithheld:     http.StatusConflict,
	ledger.EOverflow:               http.StatusUnprocessableEntity,
	ledger.EEntryNotFound:          http.StatusNotFound,
	money.CodeInvalidAmount:        http.StatusUnprocessableEntity,
	money.CodeTooManyDecimals:      http.StatusUnprocessableEntity,
	money.CodeUnknownCurrency:      http.StatusUnprocessableEntity,
	money.CodeNegativeAmount:       http.StatusUnprocessableEntity,

	// Identity. Every failed login is one 401 (LOG-01); a session waiting
	// for its second factor is 401 mfa_required (MFA-01). identity's
	// rate_limited is ERateLimited above (429 with Retry-After).
	identity.EInvalidCredentials: http.StatusUnauthorized,
	identity.EMFARequired:        http.StatusUnauthorized,
	identity.ESessionExpired:     http.StatusUnauthorized,
	identity.EInvalidCode:        http.StatusUnprocessableEntity,
	identity.EFlowInvalid:        http.StatusUnprocessableEntity,
	identity.EFactorUnavailable:  http.StatusUnprocessableEntity,
	identity.EStepUpRequired:     http.StatusForbidden,
	identity.EAccountFrozen:      http.StatusForbidden,
	identity.EHoldActive:         http.StatusForbidden,
	identity.EContactUnverified:  http.StatusForbidden,
	// Passkeys: a ceremony to start again, a response that did not
	// verify, a probably cloned authenticator, a credential registered
	// already.
	passkey.EFlowInvalid: http.StatusUnprocessableEntity,
	passkey.EInvalid:     http.StatusUnprocessableEntity,
	passkey.ECloned:      http.StatusForbidden,
	passkey.EExists:      http.StatusConflict,
	// Password policy (PWD-02: too long is 400, before any hashing;
	// PWD-05: every rejection has its reason code).
	password.CodeTooLong:    http.StatusBadRequest,
	password.CodeTooShort:   http.StatusUnprocessableEntity,
	password.CodeCommon:     http.StatusUnprocessableEntity,
	password.CodeContextual: http.StatusUnprocessableEntity,
}

// ErrorCodes lists every code the API can answer with, sorted.
func ErrorCodes() []string {
	out := make([]string, 0, len(statusOf))
	for c := range statusOf {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

// retryable reports whether a failure may pass on retry, in which case its
// response is not stored under the idempotency key.
func retryable(code string) bool {
	return code == okpay.EUnavailable || code == okpay.EInternal || code == ERateLimited || code == wallet.EWithdrawalsUnavailable
}

// problem renders err as an RFC 9457 problem document in lang.
func (s *Server) problem(err error, lang i18n.Lang, requestID string) (int, []byte) {
	code := okpay.ErrorCode(err)
	status, ok := statusOf[code]
	if !ok {
		status, code = http.StatusInternalServerError, okpay.EInternal
	}
	title := http.StatusText(status)
	if s.catalog.Has("problem." + code + ".title") {
		title = s.catalog.T(lang, "problem."+code+".title", nil)
	}
	detail := okpay.ErrorMessage(err)
	if (lang != i18n.En || code == okpay.EInternal) && s.catalog.Has("problem."+code+".detail") {
		detail = s.catalog.T(lang, "problem."+code+".detail", nil)
	}
	var fields map[string]string
	var e *okpay.Error
	if errors.As(err, &e) {
		fields = e.Fields
	}
	if code == okpay.EInternal {
		fields = nil
	}
	b := make([]byte, 0, 256)
	b = append(b, `{"type":"urn:okpay:problem:`...)
	b = append(b, code...)
	b = append(b, `","title":`...)
	b = appendString(b, title)
	b = append(b, `,"status":`...)
	b = appendInt(b, int64(status))
	b = append(b, `,"detail":`...)
	b = appendString(b, detail)
	b = append(b, `,"code":"`...)
	b = append(b, code...)
	b = append(b, `","request_id":`...)
	b = appendString(b, requestID)
	if len(fields) > 0 {
		b = append(b, `,"errors":`...)
		b = appendMeta(b, fields)
	}
	// RFC 9457 extension members.
	var hold *identity.HoldError
	if errors.As(err, &hold) && code == identity.EHoldActive {
		b = append(b, `,"hold_until":`...)
		b = appendTime(b, hold.Until)
	}
	var ext *extendedError
	if errors.As(err, &ext) && code != okpay.EInternal {
		b = append(b, ext.members...)
	}
	b = append(b, '}')
	return status, b
}

// extendedError carries extension members for the problem document of its
// error: members is a run of `,"name":value` pairs.
type extendedError struct {
	error
	members []byte
}

func (e *extendedError) Unwrap() error { return e.error }

// writeError answers a request with a problem document and logs internal
// failures (only those: the rest are the client's).
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	rid := requestID(r.Context())
	code := okpay.ErrorCode(err)
	if _, known := statusOf[code]; !known || code == okpay.EInternal || code == okpay.EUnavailable {
		s.log.LogAttrs(r.Context(), slog.LevelError, "request failed", slog.String("request_id", rid), slog.String("path", r.URL.Path), slog.Any("err", err))
	}
	status, body := s.problem(err, i18n.Negotiate(r), rid)
	h := w.Header()
	if status == http.StatusUnauthorized && h.Get("WWW-Authenticate") == "" {
		h.Set("WWW-Authenticate", `Bearer realm="okpay"`)
	}
	var rl *identity.RateLimitError
	if status == http.StatusTooManyRequests && errors.As(err, &rl) {
		h.Set("Retry-After", strconv.FormatInt(retryAfterSeconds(rl.RetryAfter), 10))
	}
	writeRaw(w, status, "application/problem+json", body)
}

// retryAfterSeconds rounds a wait up to whole seconds, at least 1.
func retryAfterSeconds(d time.Duration) int64 {
	n := int64((d + time.Second - 1) / time.Second)
	return max(n, 1)
}

func writeRaw(w http.ResponseWriter, status int, contentType string, body []byte) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(body)
}
