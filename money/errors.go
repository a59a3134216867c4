package money

import (
	"strconv"
	"unicode/utf8"
)

// Error codes. They are stable, snake_case and meant for machines: the HTTP
// layer maps each to an RFC 9457 problem (all of them are client errors,
// 422 in the JSON API) and the i18n catalogs translate them.
const (
	// CodeInvalidAmount: the amount is not a plain decimal string (empty,
	// a '+' sign, spaces, exponent or hexadecimal notation, a misplaced or
	// repeated decimal point, leading zeros, non-ASCII digits, any other
	// character), or money JSON is not {"amount": "...", "currency": "..."}.
	CodeInvalidAmount = "invalid_amount"
	// CodeTooManyDecimals: more digits after the point than the currency's
	// exponent allows ("1.234" USD, "1.5" JPY).
	CodeTooManyDecimals = "too_many_decimals"
	// CodeAmountOverflow: the amount, or the result of arithmetic, does not
	// fit in an int64 number of minor units.
	CodeAmountOverflow = "amount_overflow"
	// CodeUnknownCurrency: the currency is missing, malformed or not in the
	// table.
	CodeUnknownCurrency = "unknown_currency"
	// CodeNegativeAmount: a '-' sign where only non-negative amounts are
	// accepted (Parse and JSON input).
	CodeNegativeAmount = "negative_amount"
	// CodeCurrencyMismatch: arithmetic on amounts of different currencies.
	CodeCurrencyMismatch = "currency_mismatch"
)

// Sentinel errors, one per code, for errors.Is. Every error this package
// returns is an *Error that matches the sentinel of its code, e.g.
//
//	errors.Is(err, money.ErrTooManyDecimals)
var (
	ErrInvalidAmount    = &Error{code: CodeInvalidAmount, msg: "invalid amount"}
	ErrTooManyDecimals  = &Error{code: CodeTooManyDecimals, msg: "too many decimal places"}
	ErrAmountOverflow   = &Error{code: CodeAmountOverflow, msg: "amount is out of range"}
	ErrUnknownCurrency  = &Error{code: CodeUnknownCurrency, msg: "unknown currency"}
	ErrNegativeAmount   = &Error{code: CodeNegativeAmount, msg: "amount must not be negative"}
	ErrCurrencyMismatch = &Error{code: CodeCurrencyMismatch, msg: "currencies do not match"}
)

// Error is the error type of this package. Error() is a short English
// sentence that is safe to show to the user ("USD allows at most 2 decimal
// places"); Code() is one of the Code constants. It satisfies the
// interface{ Code() string } that OKPay's error helpers look for.
type Error struct {
	code     string
	msg      string
	currency Currency
	decimals int // the currency's exponent, for too_many_decimals
}

func newError(code, msg string) *Error { return &Error{code: code, msg: msg} }

func (e *Error) withCurrency(c Currency) *Error {
	e.currency = c
	return e
}

// Error returns the English message.
func (e *Error) Error() string { return e.msg }

// Code returns the stable error code, e.g. "too_many_decimals".
func (e *Error) Code() string { return e.code }

// Is reports whether target is an *Error with the same code, so that every
// error matches the sentinel of its code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.code == e.code
}

// Data returns values that a translated message may use as template data:
// "Currency" (the code, when the error concerns one currency) and, for
// too_many_decimals, "Decimals" (the number of decimals allowed). The
// caller owns the map.
func (e *Error) Data() map[string]any {
	d := map[string]any{}
	if e.currency != "" {
		d["Currency"] = string(e.currency)
	}
	if e.code == CodeTooManyDecimals {
		d["Decimals"] = e.decimals
	}
	return d
}

// maxQuoted bounds the bytes of user input echoed in a message, counted
// after quoting (an escaped byte such as \x7f takes four).
const maxQuoted = 24

// quote returns s as a Go-quoted string for a message, cut (on a rune
// boundary) so the quoted text holds at most maxQuoted bytes of escaped
// input, with "..." appended when it was cut.
func quote(s string) string {
	out := make([]byte, 0, maxQuoted+5)
	out = append(out, '"')
	for i := 0; i < len(s); {
		_, size := utf8.DecodeRuneInString(s[i:])
		piece := strconv.Quote(s[i : i+size])
		piece = piece[1 : len(piece)-1] // one rune, escaped as Quote would
		if len(out)-1+len(piece) > maxQuoted {
			return string(append(out, '"')) + "..."
		}
		out = append(out, piece...)
		i += size
	}
	return string(append(out, '"'))
}
