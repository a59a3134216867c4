package httpapi

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strconv"

	"github.com/okpay/okpay/money"
)

// Where a refused amount is. A money amount decodes itself
// (money.Amount.UnmarshalJSON), and encoding/json returns its error as it
// is: the problem said what is wrong (too_many_decimals, …) but not which
// member, and a request may hold several amounts (a ledger entry's
// postings). When decoding fails on an amount, amountPath finds the first
// amount in the body that money refuses, and the problem names it in
// "errors" ("amount", "postings[1].amount"), as a validation error does.

var amountType = reflect.TypeFor[money.Amount]()

// amountPath returns the path of the first amount in body, decoded as v,
// that money refuses ("" when none is found).
func amountPath(body []byte, v any) string {
	dec := json.NewDecoder(bytes.NewReader(body))
	path, _ := walkAmounts(dec, reflect.TypeOf(v), "")
	return path
}

// walkAmounts reads one value of type t (nil: any) at path from dec and
// returns the path of the first refused amount in it; ok is false on a
// syntax error.
func walkAmounts(dec *json.Decoder, t reflect.Type, path string) (found string, ok bool) {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == amountType {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return "", false
		}
		var a money.Amount
		if string(raw) != "null" && a.UnmarshalJSON(raw) != nil {
			return path, true
		}
		return "", true
	}
	if t != nil && (reflect.PointerTo(t).Implements(unmarshalerType) || reflect.PointerTo(t).Implements(textUnmarshalerType)) {
		t = nil
	}
	tok, err := dec.Token()
	if err != nil {
		return "", false
	}
	d, isDelim := tok.(json.Delim)
	if !isDelim {
		return "", true
	}
	switch d {
	case '{':
		var fields map[string]reflect.Type
		if t != nil && t.Kind() == reflect.Struct {
			fields, _ = structNames(t)
		}
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return "", false
			}
			key, _ := k.(string)
			sub := key
			if path != "" {
				sub = path + "." + key
			}
			if found, ok := walkAmounts(dec, fields[key], sub); found != "" || !ok {
				return found, ok
			}
		}
	case '[':
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		for i := 0; dec.More(); i++ {
			if found, ok := walkAmounts(dec, elem, path+"["+strconv.Itoa(i)+"]"); found != "" || !ok {
				return found, ok
			}
		}
	}
	if _, err := dec.Token(); err != nil {
		return "", false
	}
	return "", true
}
