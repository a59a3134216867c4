package psp_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/psp"
)

var (
	t0      = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	secretA = []byte("whsec_test_secret_A_0123456789abcdef")
	secretB = []byte("whsec_test_secret_B_0123456789abcdef")
)

const sampleBody = `{"id":"evt_1","type":"charge.succeeded","created":"2026-03-01T12:00:00.000001Z","reference":"dep_1","object_id":"ch_1","status":"succeeded","amount":{"amount":"12.30","currency":"USD"}}`

func code(err error) string { return okpay.ErrorCode(err) }

func TestSignMatchesTheDocumentedScheme(t *testing.T) {
	body := []byte(sampleBody)
	h := psp.Sign(secretA, t0, body)
	m := hmac.New(sha256.New, secretA)
	m.Write([]byte(strconv.FormatInt(t0.Unix(), 10) + "." + sampleBody))
	want := "t=" + strconv.FormatInt(t0.Unix(), 10) + ",v1=" + hex.EncodeToString(m.Sum(nil))
	if h != want {
		t.Fatalf("Sign = %q, want %q", h, want)
	}
}

func TestCRD09_VerifyAcceptsAuthenticAndRejectsTampering(t *testing.T) {
	body := []byte(sampleBody)
	h := psp.Sign(secretA, t0, body)
	if err := psp.Verify(h, body, [][]byte{secretA}, t0, 0); err != nil {
		t.Fatalf("authentic webhook rejected: %v", err)
	}
	cases := map[string]struct {
		header string
		body   []byte
		keys   [][]byte
	}{
		"other secret":     {h, body, [][]byte{secretB}},
		"no secret":        {h, body, nil},
		"empty secret":     {h, body, [][]byte{{}}},
		"body changed":     {h, bytes.Replace(body, []byte("12.30"), []byte("99.30"), 1), [][]byte{secretA}},
		"body extended":    {h, append(append([]byte{}, body...), ' '), [][]byte{secretA}},
		"timestamp moved":  {strings.Replace(h, strconv.FormatInt(t0.Unix(), 10), strconv.FormatInt(t0.Unix()+1, 10), 1), body, [][]byte{secretA}},
		"no header":        {"", body, [][]byte{secretA}},
		"no v1":            {"t=" + strconv.FormatInt(t0.Unix(), 10), body, [][]byte{secretA}},
		"no t":             {h[strings.Index(h, "v1="):], body, [][]byte{secretA}},
		"two t":            {"t=1," + h, body, [][]byte{secretA}},
		"short sig":        {h[:len(h)-2], body, [][]byte{secretA}},
		"non-hex sig":      {h[:len(h)-1] + "g", body, [][]byte{secretA}},
		"v0 only":          {strings.Replace(h, "v1=", "v0=", 1), body, [][]byte{secretA}},
		"garbage":          {"hello", body, [][]byte{secretA}},
		"signed timestamp": {"t=+" + h[2:], body, [][]byte{secretA}},
		"huge header":      {h + strings.Repeat(",x=y", 1000), body, [][]byte{secretA}},
	}
	for name, c := range cases {
		err := psp.Verify(c.header, c.body, c.keys, t0, 0)
		if code(err) != psp.EBadSignature {
			t.Errorf("%s: Verify = %v, want %s", name, err, psp.EBadSignature)
		}
	}
}

func TestCRD09_VerifyAcceptsAnyRotatedSecret(t *testing.T) {
	body := []byte(sampleBody)
	ha := psp.Sign(secretA, t0, body)
	hb := psp.Sign(secretB, t0, body)
	both := ha + "," + hb[strings.Index(hb, "v1="):]
	for name, c := range map[string]struct {
		header string
		keys   [][]byte
	}{
		"old header, both secrets":  {ha, [][]byte{secretB, secretA}},
		"new header, both secrets":  {hb, [][]byte{secretA, secretB}},
		"two sigs, old secret only": {both, [][]byte{secretA}},
		"two sigs, new secret only": {both, [][]byte{secretB}},
		"spaces and unknown scheme": {strings.ReplaceAll(both, ",", " , ") + ",v0=abc", [][]byte{secretB}},
	} {
		if err := psp.Verify(c.header, body, c.keys, t0, 0); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestTXN06_VerifyTimestampToleranceIsFiveMinutes(t *testing.T) {
	body := []byte(sampleBody)
	h := psp.Sign(secretA, t0, body)
	for _, c := range []struct {
		now  time.Time
		tol  time.Duration
		want string
	}{
		{t0.Add(5 * time.Minute), 0, ""},
		{t0.Add(5*time.Minute + time.Second), 0, psp.EStale},
		{t0.Add(-5 * time.Minute), 0, ""},
		{t0.Add(-5*time.Minute - time.Second), 0, psp.EStale},
		{t0.Add(time.Hour), 0, psp.EStale},
		{t0.Add(61 * time.Second), time.Minute, psp.EStale},
		{t0.Add(59 * time.Second), time.Minute, ""},
	} {
		if got := code(psp.Verify(h, body, [][]byte{secretA}, c.now, c.tol)); got != c.want {
			t.Errorf("now t0%+v tolerance %v: code %q, want %q", c.now.Sub(t0), c.tol, got, c.want)
		}
	}
	// A stale forgery is a bad signature, not a stale one: staleness is
	// only reported for authentic webhooks.
	if got := code(psp.Verify(h, body, [][]byte{secretB}, t0.Add(time.Hour), 0)); got != psp.EBadSignature {
		t.Errorf("stale forgery: %q", got)
	}
}

func TestEncodeParseEventRoundTrip(t *testing.T) {
	events := []psp.Event{
		{ID: "evt_1", Type: psp.EventChargeSucceeded, Created: t0.Add(1234 * time.Microsecond), Reference: "dep_1",
			ObjectID: "ch_1", Status: psp.StatusSucceeded, Amount: money.New(1230, "USD")},
		{ID: "evt_2", Type: psp.EventPayoutFailed, Created: t0, Reference: "wd 2 / 说明", ObjectID: "po_2",
			Status: psp.StatusFailed, Amount: money.New(5, "JPY"), FailureCode: "account_closed", FailureMessage: "The account is closed."},
		{ID: "evt_3", Type: psp.EventMicroDepositsSent, Created: t0, Reference: "md_1", ObjectID: "md_1", Status: psp.StatusSucceeded},
		{ID: "evt_4", Type: psp.EventChargeSucceeded, Created: t0, Reference: "ver_1", ObjectID: "ch_4", Status: psp.StatusSucceeded, Amount: money.New(0, "EUR")},
	}
	for _, e := range events {
		b, err := psp.EncodeEvent(e)
		if err != nil {
			t.Fatalf("EncodeEvent(%+v): %v", e, err)
		}
		got, err := psp.ParseEvent(b)
		if err != nil {
			t.Fatalf("ParseEvent(%s): %v", b, err)
		}
		if !got.Created.Equal(e.Created) || got.Created.Location() != time.UTC {
			t.Errorf("created %v, want %v", got.Created, e.Created)
		}
		got.Created = e.Created
		if got != e {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, e)
		}
	}
	if _, err := psp.EncodeEvent(psp.Event{ID: "evt_x", Type: "charge", Created: t0, Reference: "r", ObjectID: "o", Status: psp.StatusPending}); err == nil {
		t.Error("EncodeEvent accepted a malformed type")
	}
}

func TestParseEventIsStrict(t *testing.T) {
	if _, err := psp.ParseEvent([]byte(sampleBody)); err != nil {
		t.Fatalf("sample rejected: %v", err)
	}
	repl := func(old, new string) string { return strings.Replace(sampleBody, old, new, 1) }
	bad := map[string]string{
		"unknown field":       repl(`"id":"evt_1"`, `"id":"evt_1","extra":1`),
		"duplicate field":     repl(`"id":"evt_1"`, `"id":"evt_1","id":"evt_2"`),
		"duplicate in amount": repl(`"currency":"USD"`, `"currency":"USD","currency":"EUR"`),
		"float amount":        repl(`"12.30"`, `12.30`),
		"negative amount":     repl(`"12.30"`, `"-12.30"`),
		"too many decimals":   repl(`"12.30"`, `"12.301"`),
		"unknown currency":    repl(`"USD"`, `"XXY"`),
		"missing id":          repl(`"id":"evt_1",`, ``),
		"missing created":     repl(`"created":"2026-03-01T12:00:00.000001Z",`, ``),
		"bad created":         repl(`2026-03-01T12:00:00.000001Z`, `yesterday`),
		"unknown status":      repl(`"status":"succeeded"`, `"status":"done"`),
		"bad type":            repl(`charge.succeeded`, `Charge Succeeded`),
		"control char":        repl(`"reference":"dep_1"`, `"reference":"dep\u0000_1"`),
		"newline":             repl(`"reference":"dep_1"`, `"reference":"dep\n1"`),
		"trailing data":       sampleBody + ` {}`,
		"array":               `[` + sampleBody + `]`,
		"null":                `null`,
		"empty":               ``,
		"not utf8":            repl(`dep_1`, "dep_\xff"),
		"deep":                repl(`"id":"evt_1"`, `"id":"evt_1","x":[[[[[[1]]]]]]`),
		"too large":           repl(`"reference":"dep_1"`, `"reference":"`+strings.Repeat("a", psp.MaxEventSize)+`"`),
		"long reference":      repl(`"reference":"dep_1"`, `"reference":"`+strings.Repeat("a", 256)+`"`),
		"bad failure code":    repl(`"status":"succeeded"`, `"status":"failed","failure_code":"Bad Code"`),
		"case-folded key":     repl(`"object_id"`, `"Object_ID"`),
	}
	for name, body := range bad {
		if _, err := psp.ParseEvent([]byte(body)); code(err) != okpay.EInvalid {
			t.Errorf("%s: ParseEvent = %v, want %s", name, err, okpay.EInvalid)
		}
	}
}

// FuzzVerify (REL-08): the verifier never panics and never accepts a
// header or body that differs from what was signed.
func FuzzVerify(f *testing.F) {
	body := []byte(sampleBody)
	good := psp.Sign(secretA, t0, body)
	f.Add(good, body)
	f.Add(good+","+psp.Sign(secretB, t0, body)[strings.Index(good, "v1="):], body)
	f.Add("t=1,v1=00", []byte("{}"))
	f.Add("t=,v1=", []byte{})
	f.Add(strings.Repeat("v1="+strings.Repeat("a", 64)+",", 10)+"t=1", body)
	f.Add(good, append(append([]byte{}, body...), 0))
	f.Fuzz(func(t *testing.T, header string, b []byte) {
		err := psp.Verify(header, b, [][]byte{secretA}, t0, 0)
		if err == nil {
			// Accepted: it must be authentic, i.e. the body is the signed
			// one or the header really signs it with secretA.
			if !bytes.Equal(b, body) && !signedBy(header, b, secretA) {
				t.Fatalf("accepted a forgery: header %q body %q", header, b)
			}
			return
		}
		if c := code(err); c != psp.EBadSignature && c != psp.EStale {
			t.Fatalf("unexpected error code %q: %v", c, err)
		}
	})
}

// signedBy reports whether one v1 of header is the HMAC of its t and b.
func signedBy(header string, b, secret []byte) bool {
	var ts string
	for part := range strings.SplitSeq(header, ",") {
		if k, v, _ := strings.Cut(strings.TrimSpace(part), "="); k == "t" {
			ts = v
		}
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts + "."))
	m.Write(b)
	want := hex.EncodeToString(m.Sum(nil))
	for part := range strings.SplitSeq(header, ",") {
		if k, v, _ := strings.Cut(strings.TrimSpace(part), "="); k == "v1" && v == want {
			return true
		}
	}
	return false
}

// FuzzParseEvent (REL-08): the parser never panics; what it accepts is
// valid and survives a round trip through EncodeEvent.
func FuzzParseEvent(f *testing.F) {
	f.Add([]byte(sampleBody))
	f.Add([]byte(`{"id":"evt_1","type":"payout.failed","created":"2026-03-01T12:00:00Z","reference":"r","object_id":"po_1","status":"failed","failure_code":"x","failure_message":"m"}`))
	f.Add([]byte(`{"id":"evt_1","id":"evt_1"}`))
	f.Add([]byte(`{"amount":{"amount":1e3,"currency":"USD"}}`))
	f.Add([]byte(`[[[[[[[[]]]]]]]]`))
	f.Add([]byte("\xff"))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := psp.ParseEvent(b)
		if err != nil {
			if code(err) != okpay.EInvalid {
				t.Fatalf("unexpected code %q: %v", code(err), err)
			}
			return
		}
		if e.ID == "" || e.Type == "" || e.Reference == "" || e.ObjectID == "" || e.Created.IsZero() {
			t.Fatalf("accepted an incomplete event %+v", e)
		}
		if e.Amount.Minor < 0 {
			t.Fatalf("accepted a negative amount %+v", e)
		}
		again, err := psp.EncodeEvent(e)
		if err != nil {
			t.Fatalf("EncodeEvent of an accepted event: %v", err)
		}
		e2, err := psp.ParseEvent(again)
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if !e2.Created.Equal(e.Created) {
			t.Fatalf("created changed: %v -> %v", e.Created, e2.Created)
		}
		e2.Created = e.Created
		if e2 != e {
			t.Fatalf("round trip changed the event: %+v -> %+v", e, e2)
		}
	})
}
