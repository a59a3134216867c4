package httpapi

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzTransferDecoder: any body either fails with a coded error or yields
// a transfer of a positive amount in a known currency between two parsed
// accounts (REL-08: JSON request decoders).
func FuzzTransferDecoder(f *testing.F) {
	f.Add(`{"from":"acc_06zacq1e00000","to":"acc_06zacq1g00000","amount":{"amount":"12.30","currency":"USD"}}`)
	f.Add(`{"from":"acc_06zacq1e00000","to":"acc_06zacq1g00000","amount":{"amount":12.3,"currency":"USD"}}`)
	f.Add(`{"from":"acc_06zacq1e00000","to":"acc_06zacq1g00000","amount":{"amount":"-1","currency":"JPY"},"metadata":{"a":"b"}}`)
	f.Add(`[[[[[[[[[[[]]]]]]]]]]]`)
	f.Add(`{"amount":{"amount":"1e9","currency":"KWD"}}`)
	s := &Server{}
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest("POST", "/api/v1/transfers", nil)
		op, err := s.buildTransfer(r, []byte(body), "ref")
		if err != nil {
			return
		}
		in := op.Entry
		if in == nil || len(in.Postings) != 1 {
			t.Fatalf("accepted %q without one posting", body)
		}
		p := in.Postings[0]
		if p.Amount <= 0 || !p.Currency.Valid() || p.Debit == 0 || p.Credit == 0 {
			t.Fatalf("accepted %q as %+v", body, p)
		}
	})
}

// FuzzEntryDecoder covers the entries/holds decoder the same way.
func FuzzEntryDecoder(f *testing.F) {
	f.Add(`{"type":"withdrawal","timeout_seconds":60,"postings":[{"debit":"acc_06zacq1e00000","credit":"acc_06zacq1g00000","amount":{"amount":"1.00","currency":"EUR"}}]}`)
	f.Add(`{"type":"x","effective_at":"2026-01-01T00:00:00Z","postings":[]}`)
	s := &Server{}
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest("POST", "/api/v1/holds", nil)
		op, err := s.buildEntry(true)(r, []byte(body), "ref")
		if err != nil {
			return
		}
		for _, p := range op.Entry.Postings {
			if p.Amount < 0 {
				t.Fatalf("accepted a negative amount from %q", body)
			}
		}
		if op.Entry.Timeout < 0 {
			t.Fatalf("negative timeout from %q", body)
		}
	})
}

// FuzzIdempotencyKeyHeader: an accepted key is 1-255 printable ASCII.
func FuzzIdempotencyKeyHeader(f *testing.F) {
	for _, s := range []string{"k1", "", " ", "a b", strings.Repeat("x", 256), "ключ", "k\r\nX: y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, k string) {
		r := httptest.NewRequest("POST", "/", nil)
		r.Header["Idempotency-Key"] = []string{k}
		got, err := idempotencyKey(r)
		if err != nil {
			return
		}
		if got != k || len(k) == 0 || len(k) > MaxIdempotencyKey {
			t.Fatalf("accepted %q", k)
		}
		for i := 0; i < len(k); i++ {
			if k[i] <= ' ' || k[i] > '~' {
				t.Fatalf("accepted %q", k)
			}
		}
	})
}

// FuzzAppendString: the hand-written encoder always yields a JSON string
// that decodes back to the input (invalid UTF-8 replaced).
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", `quote " and \ back`, "<script>&", "\x00\x1f\u2028\u2029", "中文", "\xff\xfe"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := appendString(nil, s)
		var back string
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("%q encodes to invalid JSON %s: %v", s, b, err)
		}
		want := string([]rune(s)) // each invalid byte becomes U+FFFD
		if utf8.ValidString(s) && back != s || !utf8.ValidString(s) && back != want {
			t.Fatalf("%q round-trips to %q", s, back)
		}
		if strings.ContainsAny(string(b), "<>&\n\r") {
			t.Fatalf("unescaped character in %s", b)
		}
	})
}

// FuzzDepth: depth never panics and agrees with a full decode on nesting.
func FuzzDepth(f *testing.F) {
	f.Add(`{"a":[{"b":"]]]"}]}`)
	f.Add(`"\\\"{"`)
	f.Fuzz(func(t *testing.T, s string) {
		d := depth([]byte(s))
		if d < 0 {
			t.Fatalf("negative depth %d", d)
		}
		var v any
		if json.Unmarshal([]byte(s), &v) == nil && d != nesting(v) {
			t.Fatalf("depth(%q) = %d, decoded nesting %d", s, d, nesting(v))
		}
	})
}

func nesting(v any) int {
	m := 0
	switch x := v.(type) {
	case map[string]any:
		for _, e := range x {
			m = max(m, nesting(e))
		}
		return m + 1
	case []any:
		for _, e := range x {
			m = max(m, nesting(e))
		}
		return m + 1
	}
	return 0
}
