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
// exponents and extra decimals are rejected; a JSON number is rejected with
// "amount must be a string".
//
// JSON null is an error too. For an optional amount use a *Amount field,
// which encoding/json sets to nil for null without calling this method.
//
// On error *a is left unchanged.
func (a *Amount) UnmarshalJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber() // never decode a number as float64
	notObject := func() error {
		return newError(CodeInvalidAmount, `money must be a JSON object {"amount": "...", "currency": "..."}`)
	}
	tok, err := dec.Token()
	if err != nil {
		return newError(CodeInvalidAmount, "money is not valid JSON")
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return notObject()
	}
	var amount, currency string
	var haveAmount, haveCurrency bool
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return newError(CodeInvalidAmount, "money is not valid JSON")
		}
		key, ok := tok.(string)
		if !ok {
			return newError(CodeInvalidAmount, "money is not valid JSON")
		}
		if key != "amount" && key != "currency" {
			return newError(CodeInvalidAmount, "unknown field "+quote(key)+` in money; only "amount" and "currency" are allowed`)
		}
		if (key == "amount" && haveAmount) || (key == "currency" && haveCurrency) {
			return newError(CodeInvalidAmount, "duplicate field "+quote(key)+" in money")
		}
		tok, err = dec.Token()
		if err != nil {
			return newError(CodeInvalidAmount, "money is not valid JSON")
		}
		s, isString := tok.(string)
		if key == "amount" {
			if !isString {
				return newError(CodeInvalidAmount, "amount must be a string")
			}
			amount, haveAmount = s, true
		} else {
			if !isString {
				return newError(CodeUnknownCurrency, "currency must be a string")
			}
			currency, haveCurrency = s, true
		}
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return newError(CodeInvalidAmount, "money is not valid JSON")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return newError(CodeInvalidAmount, "money is not valid JSON")
	}
	if !haveCurrency {
		return newError(CodeUnknownCurrency, "currency is required")
	}
	if !haveAmount {
		return newError(CodeInvalidAmount, "amount is required")
	}
	c, err := ParseCurrency(currency)
	if err != nil {
		return err
	}
	v, err := Parse(amount, c)
	if err != nil {
		return err
	}
	*a = v
	return nil
}
