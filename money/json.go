package money

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
)

// MarshalJSON encodes a as {"amount":"12.30","currency":"USD"}: the amount is
// a string with exactly the currency's decimals (see String). Negative
// amounts are encoded with a '-' (a balance may be negative), although
// UnmarshalJSON accepts only non-negative ones. An unknown currency is an
// unknown_currency error.
func (a Amount) MarshalJSON() ([]byte, error) {
	if !a.Currency.Valid() {
		return nil, unknownCurrency(a.Currency)
	}
	s := a.String()
	b := make([]byte, 0, len(`{"amount":"","currency":"XXX"}`)+len(s))
	b = append(b, `{"amount":"`...)
	b = append(b, s...)
	b = append(b, `","currency":"`...)
	b = append(b, a.Currency...)
	b = append(b, `"}`...)
	return b, nil
}

// UnmarshalJSON decodes exactly the object {"amount": "12.30", "currency":
// "USD"}: both fields required, no other field, no field twice, field names
// matched exactly (case-sensitively). The currency must be a known code
// (ParseCurrency) and the amount a JSON string accepted by Parse, so signs,
// exponents and extra decimals are rejected, of at most 18 digits
// (MaxJSONMinor); a JSON number is rejected with "amount must be a string".
//
// JSON null is an error too. For an optional amount use a *Amount field,
// which encoding/json sets to nil for null without calling this method.
//
// On error *a is left unchanged.
func (a *Amount) UnmarshalJSON(data []byte) error {
	amount, currency, ok := scanPlain(data)
	if !ok {
		var err error
		if amount, currency, err = scanTokens(data); err != nil {
			return err
		}
	}
	c, err := ParseCurrency(currency)
	if err != nil {
		return err
	}
	v, err := Parse(amount, c)
	if err != nil {
		return err
	}
	if v.Minor > MaxJSONMinor {
		return newError(CodeAmountOverflow,
			"amount has more than 18 digits; the largest is "+New(MaxJSONMinor, c).String()+" "+string(c)).withCurrency(c)
	}
	*a = v
	return nil
}

// MaxJSONMinor is the largest amount JSON input may carry, in minor units:
// 18 digits (TXN-05), short of int64's 19, so that no sum of a few
// amounts a request names can overflow before a limit refuses it.
const MaxJSONMinor = 999_999_999_999_999_999

// scanPlain reads the common shape of a money object without a JSON
// decoder: exactly the two fields "amount" and "currency", in either
// order, with string values free of escapes and control characters, and
// JSON whitespace between tokens. Anything else (an error, or an escape
// that needs decoding) is left to scanTokens, and both read the same
// inputs the same way (FuzzScanPlain compares them). A transfer request
// decodes one or two amounts, and the token decoder (32 allocations, ~2 µs
// an amount; this path: 2 and ~0.2 µs, BenchmarkUnmarshalJSON) was half of
// the ledger API's request decoding.
func scanPlain(b []byte) (amount, currency string, ok bool) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return "", "", false
	}
	i++
	var haveAmount, haveCurrency bool
	for n := 0; n < 2; n++ {
		if n == 1 {
			if i = skipSpace(b, i); i >= len(b) || b[i] != ',' {
				return "", "", false
			}
			i++
		}
		key, j, ok := plainString(b, skipSpace(b, i))
		if !ok {
			return "", "", false
		}
		if i = skipSpace(b, j); i >= len(b) || b[i] != ':' {
			return "", "", false
		}
		val, j, ok := plainString(b, skipSpace(b, i+1))
		if !ok {
			return "", "", false
		}
		i = j
		switch {
		case string(key) == "amount" && !haveAmount:
			amount, haveAmount = string(val), true
		case string(key) == "currency" && !haveCurrency:
			currency, haveCurrency = string(val), true
		default:
			return "", "", false
		}
	}
	if i = skipSpace(b, i); i >= len(b) || b[i] != '}' {
		return "", "", false
	}
	if skipSpace(b, i+1) != len(b) {
		return "", "", false
	}
	return amount, currency, true
}

// skipSpace returns the index of the first byte at or after i that is
// not JSON whitespace.
func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// plainString reads the JSON string at b[i:] when it has no escape, no
// control character and no byte outside ASCII (what encoding/json might
// change or reject), returning its content and the index after it.
func plainString(b []byte, i int) ([]byte, int, bool) {
	if i >= len(b) || b[i] != '"' {
		return nil, 0, false
	}
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return b[i+1 : j], j + 1, true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return nil, 0, false
		}
	}
	return nil, 0, false
}

// scanTokens reads any money object with a token decoder, returning its
// amount and currency strings, or the error UnmarshalJSON reports.
func scanTokens(data []byte) (amount, currency string, err error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber() // never decode a number as float64
	notObject := func() error {
		return newError(CodeInvalidAmount, `money must be a JSON object {"amount": "...", "currency": "..."}`)
	}
	tok, err := dec.Token()
	if err != nil {
		return "", "", newError(CodeInvalidAmount, "money is not valid JSON")
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return "", "", notObject()
	}
	var haveAmount, haveCurrency bool
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return "", "", newError(CodeInvalidAmount, "money is not valid JSON")
		}
		key, ok := tok.(string)
		if !ok {
			return "", "", newError(CodeInvalidAmount, "money is not valid JSON")
		}
		if key != "amount" && key != "currency" {
			return "", "", newError(CodeInvalidAmount, "unknown field "+quote(key)+` in money; only "amount" and "currency" are allowed`)
		}
		if (key == "amount" && haveAmount) || (key == "currency" && haveCurrency) {
			return "", "", newError(CodeInvalidAmount, "duplicate field "+quote(key)+" in money")
		}
		tok, err = dec.Token()
		if err != nil {
			return "", "", newError(CodeInvalidAmount, "money is not valid JSON")
		}
		s, isString := tok.(string)
		if key == "amount" {
			if !isString {
				return "", "", newError(CodeInvalidAmount, "amount must be a string")
			}
			amount, haveAmount = s, true
		} else {
			if !isString {
				return "", "", newError(CodeUnknownCurrency, "currency must be a string")
			}
			currency, haveCurrency = s, true
		}
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return "", "", newError(CodeInvalidAmount, "money is not valid JSON")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return "", "", newError(CodeInvalidAmount, "money is not valid JSON")
	}
	if !haveCurrency {
		return "", "", newError(CodeUnknownCurrency, "currency is required")
	}
	if !haveAmount {
		return "", "", newError(CodeInvalidAmount, "amount is required")
	}
	return amount, currency, nil
}
