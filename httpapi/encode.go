package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"sort"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/ledger"
	"github.com/okpay/okpay/money"
)

// MaxBody caps a request body (API-01).
const MaxBody = 64 << 10

// maxDepth caps the nesting of a JSON request (API-01).
const maxDepth = 8

// readBody reads a JSON request body, enforcing the size cap and the
// content type.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" && !isJSON(ct) {
		return nil, okpay.Errorf(EUnsupportedMediaType, "send the body as application/json")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, okpay.Errorf(ERequestTooLarge, "the request body must be at most %d bytes", MaxBody)
		}
		return nil, okpay.Errorf(EInvalidRequest, "the request body could not be read")
	}
	return body, nil
}

func isJSON(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == "application/json"
}

// decode parses body into v: strict (unknown fields rejected, member
// names matched with their case and given once: names.go), one value
// only, nesting limited.
func decode(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return okpay.Errorf(EInvalidRequest, "a JSON body is required")
	}
	if depth(body) > maxDepth {
		return okpay.Errorf(EInvalidRequest, "the JSON body is nested too deeply")
	}
	if msg := misnamed(body, v); msg != "" {
		return okpay.Errorf(EInvalidRequest, "the body is not valid JSON for this request: %s", msg)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var ce interface{ Code() string }
		if errors.As(err, &ce) {
			// A money error: keep its code, and name the amount
			// (amounts.go).
			if p := amountPath(body, v); p != "" {
				msg := ce.(error).Error()
				e := okpay.Errorf(ce.Code(), "%s", msg)
				e.Fields = map[string]string{p: msg}
				return e
			}
			return err
		}
		var pe *time.ParseError
		if errors.As(err, &pe) {
			return okpay.Invalid(map[string]string{"effective_at": "must be an RFC 3339 time, e.g. 2026-11-25T19:44:11Z"})
		}
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) && ute.Field != "" {
			return okpay.Invalid(map[string]string{ute.Field: "has the wrong type"})
		}
		return okpay.Errorf(EInvalidRequest, "the body is not valid JSON for this request: %s", jsonMessage(err))
	}
	// Only JSON whitespace may follow (dec.More misses a stray '}' or ']').
	if len(bytes.Trim(body[dec.InputOffset():], " \t\r\n")) != 0 {
		return okpay.Errorf(EInvalidRequest, "the body must hold one JSON object")
	}
	return nil
}

func jsonMessage(err error) string {
	s := err.Error()
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

// depth returns the deepest nesting of objects and arrays in a JSON text.
func depth(b []byte) int {
	d, max := 0, 0
	in := false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if in {
			if c == '\\' {
				i++
			} else if c == '"' {
				in = false
			}
			continue
		}
		switch c {
		case '"':
			in = true
		case '{', '[':
			d++
			if d > max {
				max = d
			}
		case '}', ']':
			d--
		}
	}
	return max
}

// writeJSON answers with a JSON body.
func writeJSON(w http.ResponseWriter, status int, body []byte) {
	writeRaw(w, status, "application/json", body)
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string, escaping what JSON requires
// plus <, > and & (so a response is safe even if sniffed as HTML), and
// replacing invalid UTF-8.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

func appendInt(b []byte, v int64) []byte { return strconv.AppendInt(b, v, 10) }

func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

func appendMoney(b []byte, minor int64, c money.Currency) []byte {
	b = append(b, `{"amount":"`...)
	b = append(b, money.New(minor, c).String()...)
	b = append(b, `","currency":"`...)
	b = append(b, c...)
	return append(b, `"}`...)
}

func appendMeta(b []byte, m map[string]string) []byte {
	if len(m) == 0 {
		return append(b, "{}"...)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, ':')
		b = appendString(b, m[k])
	}
	return append(b, '}')
}

// Id prefixes.
const (
	prefixAccount = ledger.AccountPrefix
	prefixEntry   = ledger.EntryPrefix
)

// appendEntry renders an entry. status, when non-empty, is the entry's
// derived status (for pending entries: pending, posted, voided, expired).
func appendEntry(b []byte, e *ledger.Entry, st *ledger.EntryStatus) []byte {
	b = append(b, `{"id":"`...)
	b = ids.Append(b, prefixEntry, e.ID)
	b = append(b, `","object":"entry","reference":`...)
	b = appendString(b, e.Reference)
	b = append(b, `,"type":`...)
	b = appendString(b, e.Type)
	b = append(b, `,"phase":"`...)
	b = append(b, e.Phase...)
	b = append(b, `","status":"`...)
	b = append(b, entryStatus(e, st)...)
	b = append(b, '"')
	if e.PendingID != 0 {
		b = append(b, `,"pending_id":"`...)
		b = ids.Append(b, prefixEntry, e.PendingID)
		b = append(b, '"')
	}
	if e.ReversesID != 0 {
		b = append(b, `,"reverses_id":"`...)
		b = ids.Append(b, prefixEntry, e.ReversesID)
		b = append(b, '"')
	}
	if !e.ExpiresAt.IsZero() {
		b = append(b, `,"expires_at":`...)
		b = appendTime(b, e.ExpiresAt)
	}
	b = append(b, `,"postings":[`...)
	for i, p := range e.Postings {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"seq":`...)
		b = appendInt(b, int64(p.Seq))
		b = append(b, `,"debit":"`...)
		b = ids.Append(b, prefixAccount, p.Debit)
		b = append(b, `","credit":"`...)
		b = ids.Append(b, prefixAccount, p.Credit)
		b = append(b, `","amount":`...)
		b = appendMoney(b, p.Amount, p.Currency)
		b = append(b, '}')
	}
	b = append(b, `],"metadata":`...)
	b = appendMeta(b, e.Metadata)
	b = append(b, `,"effective_at":`...)
	b = appendTime(b, e.EffectiveAt)
	b = append(b, `,"created_at":`...)
	b = appendTime(b, e.CreatedAt)
	if st != nil {
		if st.Resolution != nil && st.Resolution.ID != 0 {
			b = append(b, `,"resolved_by":"`...)
			b = ids.Append(b, prefixEntry, st.Resolution.ID)
			b = append(b, '"')
		}
		if len(st.Reversals) > 0 {
			b = append(b, `,"reversed_by":[`...)
			for i, r := range st.Reversals {
				if i > 0 {
					b = append(b, ',')
				}
				b = append(b, '"')
				b = ids.Append(b, prefixEntry, r.ID)
				b = append(b, '"')
			}
			b = append(b, ']')
		}
	}
	return append(b, '}')
}

// entryStatus is what a customer would call the entry's state.
func entryStatus(e *ledger.Entry, st *ledger.EntryStatus) string {
	switch e.Phase {
	case ledger.PhasePending:
		if st != nil && st.Resolution != nil {
			switch st.Resolution.Phase {
			case ledger.PhasePost:
				return "posted"
			case ledger.PhaseVoid:
				return "voided"
			case ledger.PhaseExpire:
				return "expired"
			}
		}
		return "pending"
	case ledger.PhaseVoid:
		return "voided"
	case ledger.PhaseExpire:
		return "expired"
	}
	return "posted"
}

func flagNames(f ledger.Flags) []string {
	var out []string
	if f&ledger.FlagNoOverdraft != 0 {
		out = append(out, "no_overdraft")
	}
	return out
}

func appendAccount(b []byte, a *ledger.Account) []byte {
	b = append(b, `{"id":"`...)
	b = ids.Append(b, prefixAccount, a.ID)
	b = append(b, `","object":"account"`...)
	if a.Code != "" {
		b = append(b, `,"code":`...)
		b = appendString(b, a.Code)
	}
	b = append(b, `,"owner":`...)
	b = appendString(b, a.Owner)
	b = append(b, `,"currency":"`...)
	b = append(b, a.Currency...)
	b = append(b, `","kind":"`...)
	b = append(b, a.Kind...)
	b = append(b, `","flags":[`...)
	for i, f := range flagNames(a.Flags) {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, f)
	}
	bal := a.Balance
	b = append(b, `],"balance":{"posted":`...)
	b = appendMoney(b, bal.Posted(), a.Currency)
	b = append(b, `,"available":`...)
	b = appendMoney(b, bal.Available(), a.Currency)
	b = append(b, `,"pending_debits":`...)
	b = appendMoney(b, bal.PendingDebits, a.Currency)
	b = append(b, `,"pending_credits":`...)
	b = appendMoney(b, bal.PendingCredits, a.Currency)
	b = append(b, `,"posted_debits":`...)
	b = appendMoney(b, bal.PostedDebits, a.Currency)
	b = append(b, `,"posted_credits":`...)
	b = appendMoney(b, bal.PostedCredits, a.Currency)
	b = append(b, `},"metadata":`...)
	b = appendMeta(b, a.Metadata)
	b = append(b, `,"created_at":`...)
	b = appendTime(b, a.CreatedAt)
	return append(b, '}')
}

// appendList renders {"data":[...],"has_more":..,"next_cursor":..}.
func appendList[T any](b []byte, items []T, more bool, cursor string, item func([]byte, T) []byte) []byte {
	b = append(b, `{"object":"list","data":[`...)
	for i, it := range items {
		if i > 0 {
			b = append(b, ',')
		}
		b = item(b, it)
	}
	b = append(b, `],"has_more":`...)
	b = strconv.AppendBool(b, more)
	b = append(b, `,"next_cursor":`...)
	if more {
		b = appendString(b, cursor)
	} else {
		b = append(b, "null"...)
	}
	return append(b, '}')
}
