package httpapi

import (
	"errors"
	"log/slog"
	"net/http"
	"sort"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/ledger"
	"github.com/okpay/okpay/money"
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
	ledger.EOverflow:               http.StatusUnprocessableEntity,
	ledger.EEntryNotFound:          http.StatusNotFound,
	money.CodeInvalidAmount:        http.StatusUnprocessableEntity,
	money.CodeTooManyDecimals:      http.StatusUnprocessableEntity,
	money.CodeUnknownCurrency:      http.StatusUnprocessableEntity,
	money.CodeNegativeAmount:       http.StatusUnprocessableEntity,
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
	return code == okpay.EUnavailable || code == okpay.EInternal || code == ERateLimited
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
	b = append(b, '}')
	return status, b
}

// writeError answers a request with a problem document and logs internal
// failures (only those: the rest are the client's).
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	rid := requestID(r.Context())
	if code := okpay.ErrorCode(err); code == okpay.EInternal || code == okpay.EUnavailable {
		s.log.LogAttrs(r.Context(), slog.LevelError, "request failed", slog.String("request_id", rid), slog.String("path", r.URL.Path), slog.Any("err", err))
	}
	status, body := s.problem(err, i18n.Negotiate(r), rid)
	writeRaw(w, status, "application/problem+json", body)
}

func writeRaw(w http.ResponseWriter, status int, contentType string, body []byte) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(body)
}
