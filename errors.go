// Package okpay holds what every part of OKPay shares: the error type with
// stable codes, and small interfaces for time and identifiers so they can be
// injected in tests. Domain packages (ledger, identity, wallet, desk...) live
// in subpackages; HTTP and HTML are thin layers on top of them.
package okpay

import (
	"errors"
	"fmt"
)

// Error codes shared across domains. Domain packages add their own specific
// codes (e.g. "insufficient_funds"); the HTTP layer maps every code to a
// status in one table.
const (
	EInvalid      = "validation_failed"
	ENotFound     = "not_found"
	EConflict     = "conflict"
	EUnauthorized = "unauthorized"
	EForbidden    = "forbidden"
	EUnavailable  = "unavailable"
	EInternal     = "internal_error"
)

// Error is a domain error with a stable, snake_case code and a message that
// is safe to show to the caller. Internal failures are wrapped as EInternal
// with their cause kept for logs only.
type Error struct {
	Code    string
	Message string
	// Fields maps input field names to what is wrong with them.
	Fields map[string]string
	cause  error
}

func (e *Error) Error() string {
	if e.cause != nil {
		return e.Code + ": " + e.Message + ": " + e.cause.Error()
	}
	return e.Code + ": " + e.Message
}

// Unwrap returns the internal cause, if any.
func (e *Error) Unwrap() error { return e.cause }

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Internal wraps an unexpected error; its text never reaches users.
func Internal(cause error, what string) *Error {
	return &Error{Code: EInternal, Message: what, cause: cause}
}

// InternalUnlessCoded returns err as it is when it is (or wraps) an *Error,
// and otherwise wraps it as Internal(err, what); nil stays nil.
func InternalUnlessCoded(err error, what string) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return Internal(err, what)
}

// Invalid returns a validation error with per-field messages.
func Invalid(fields map[string]string) *Error {
	return &Error{Code: EInvalid, Message: "the request has invalid fields", Fields: fields}
}

// ErrorCode returns the code of err: its own when it is (or wraps) an
// *Error, a coded error of another package, EInternal otherwise, and "" for
// nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	var c interface{ Code() string }
	if errors.As(err, &c) {
		return c.Code()
	}
	return EInternal
}

// ErrorMessage returns the user-safe message of err.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		if e.Code == EInternal {
			return "internal error"
		}
		return e.Message
	}
	var c interface{ Code() string }
	if errors.As(err, &c) {
		return err.Error()
	}
	return "internal error"
}
