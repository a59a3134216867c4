package psp

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/money"
)

// SignatureHeader is the HTTP header carrying a webhook's signature.
//
// Webhooks, Stripe-style. A provider POSTs one event per request, the JSON
// of EncodeEvent, with the header
//
//	Okpay-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>
//
// During a secret rotation the header may carry several v1 values (one per
// secret); it is authentic when any of them matches any secret the consumer
// holds. Verify checks the signature with a constant-time compare and then
// that t lies within the tolerance (5 minutes by default) of the consumer's
// clock; a provider signs every delivery attempt afresh, so a retried event
// carries a current timestamp.
//
// What Verify cannot do is the consumer's job (the wallet's webhook
// endpoint, CRD-09, TXN-06):
//
//   - Replays inside the tolerance: store every applied Event.ID and ignore
//     an event whose id is already stored (answer 2xx, so the provider stops
//     retrying). Delivery is at least once: the same event may come twice.
//   - Out-of-order delivery: events of one object can arrive in any order.
//     Apply an event only when it moves the object's state forward (a final
//     status is never changed by a later pending one), using Event.Created
//     to order events of the same object.
//   - Amounts: Event.Amount is informative; re-read the amount from your
//     own record of Event.Reference.
//   - Unknown event types: answer 2xx and ignore them.
const SignatureHeader = "Okpay-Signature"

// DefaultTolerance is how far a webhook's timestamp may be from the
// consumer's clock when Verify is given no tolerance.
const DefaultTolerance = 5 * time.Minute

// Bounds of webhook input.
const (
	// MaxEventSize bounds an event body; a consumer reads at most this
	// many bytes (and one more, to notice a longer body).
	MaxEventSize = 16 << 10
	// maxHeaderLen bounds the signature header.
	maxHeaderLen = 2048
	// maxSignatures bounds the v1 values of one header.
	maxSignatures = 8
	// maxJSONDepth bounds the nesting of an event body.
	maxJSONDepth = 4
)

// Event types sent by providers. Consumers ignore types they do not know.
const (
	EventChargeSucceeded     = "charge.succeeded"
	EventChargeFailed        = "charge.failed"
	EventPayoutSucceeded     = "payout.succeeded"
	EventPayoutFailed        = "payout.failed"
	EventMicroDepositsSent   = "micro_deposits.sent"
	EventMicroDepositsFailed = "micro_deposits.failed"
)

// Sign returns the signature header value for body, signed with secret at
// time t (whole seconds).
func Sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Verify checks that header (the value of SignatureHeader) signs body with
// one of secrets, and that its timestamp is within tolerance of now (a
// tolerance of zero or less means DefaultTolerance). It returns an
// *okpay.Error with code EBadSignature for a missing, malformed or wrong
// signature (or no secret to check it with), and EStale for an authentic
// signature whose timestamp is too old or too far in the future.
//
// Verify does not detect replays within the tolerance; see SignatureHeader
// for what the consumer must do.
func Verify(header string, body []byte, secrets [][]byte, now time.Time, tolerance time.Duration) error {
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	ts, sigs, err := parseSignatureHeader(header)
	if err != nil {
		return err
	}
	ok := false
	for _, secret := range secrets {
		if len(secret) == 0 {
			continue
		}
		want := mac(secret, ts, body)
		for _, sig := range sigs {
			// Every comparison runs, so the time taken does not tell which
			// secret or signature matched.
			if hmac.Equal(want, sig) {
				ok = true
			}
		}
	}
	if !ok {
		return okpay.Errorf(EBadSignature, "The webhook signature does not match.")
	}
	sec, _ := strconv.ParseInt(ts, 10, 64) // checked by parseSignatureHeader
	d := now.Sub(time.Unix(sec, 0))
	if d > tolerance || d < -tolerance {
		return okpay.Errorf(EStale, "The webhook timestamp is outside the allowed %s.", tolerance)
	}
	return nil
}

// parseSignatureHeader splits "t=123,v1=ab..,v1=cd.." into the timestamp
// (a string of digits, as signed) and the decoded v1 signatures. Other
// schemes (v0, ...) are ignored; t must appear exactly once.
func parseSignatureHeader(h string) (ts string, sigs [][]byte, err error) {
	bad := func(msg string) error { return okpay.Errorf(EBadSignature, "%s", msg) }
	if h == "" {
		return "", nil, bad("The webhook has no signature.")
	}
	if len(h) > maxHeaderLen {
		return "", nil, bad("The webhook signature header is too long.")
	}
	for part := range strings.SplitSeq(h, ",") {
		k, v, found := strings.Cut(strings.TrimSpace(part), "=")
		if !found {
			return "", nil, bad("The webhook signature header is malformed.")
		}
		switch k {
		case "t":
			if ts != "" {
				return "", nil, bad("The webhook signature header has two timestamps.")
			}
			if v == "" || len(v) > 12 || strings.Trim(v, "0123456789") != "" || (len(v) > 1 && v[0] == '0') {
				return "", nil, bad("The webhook signature timestamp is malformed.")
			}
			ts = v
		case "v1":
			if len(sigs) == maxSignatures {
				return "", nil, bad("The webhook signature header has too many signatures.")
			}
			if len(v) != 2*sha256.Size {
				return "", nil, bad("A webhook signature is malformed.")
			}
			b, err := hex.DecodeString(v)
			if err != nil {
				return "", nil, bad("A webhook signature is malformed.")
			}
			sigs = append(sigs, b)
		}
	}
	if ts == "" {
		return "", nil, bad("The webhook signature header has no timestamp.")
	}
	if len(sigs) == 0 {
		return "", nil, bad("The webhook signature header has no v1 signature.")
	}
	return ts, sigs, nil
}

// wireEvent is the JSON form of an Event.
type wireEvent struct {
	ID             string        `json:"id"`
	Type           string        `json:"type"`
	Created        time.Time     `json:"created"`
	Reference      string        `json:"reference"`
	ObjectID       string        `json:"object_id"`
	Status         Status        `json:"status"`
	Amount         *money.Amount `json:"amount,omitempty"`
	FailureCode    string        `json:"failure_code,omitempty"`
	FailureMessage string        `json:"failure_message,omitempty"`
}

// EncodeEvent returns the JSON body of e, as ParseEvent reads it:
//
//	{"id":"evt_...","type":"charge.succeeded","created":"2026-01-02T03:04:05.123456Z",
//	 "reference":"dep_...","object_id":"ch_...","status":"succeeded",
//	 "amount":{"amount":"12.30","currency":"USD"},
//	 "failure_code":"card_declined","failure_message":"The card was declined."}
//
// created is RFC 3339 in UTC with microseconds; amount is omitted when e
// has none (no currency); the failure fields are omitted when empty. It
// fails when e would not pass ParseEvent.
func EncodeEvent(e Event) ([]byte, error) {
	w := wireEvent{
		ID: e.ID, Type: e.Type, Created: e.Created.UTC().Truncate(time.Microsecond),
		Reference: e.Reference, ObjectID: e.ObjectID, Status: e.Status,
		FailureCode: e.FailureCode, FailureMessage: e.FailureMessage,
	}
	if e.Amount.Currency != "" {
		a := e.Amount
		w.Amount = &a
	}
	if err := w.check(); err != nil {
		return nil, err
	}
	return json.Marshal(w)
}

// ParseEvent decodes a webhook body strictly: at most MaxEventSize bytes,
// one JSON object with no unknown, duplicate or missing fields, no
// trailing data, every text valid UTF-8 without control characters and
// within its length bound, a well-formed type, a known status, and an
// amount (when present) that package money accepts. Errors are
// *okpay.Error with code EInvalid.
//
// Call it only on a body whose signature Verify has accepted.
func ParseEvent(body []byte) (Event, error) {
	invalid := func(msg string) (Event, error) { return Event{}, okpay.Errorf(okpay.EInvalid, "%s", msg) }
	if len(body) > MaxEventSize {
		return invalid("The webhook event is too large.")
	}
	if err := checkJSONShape(body); err != nil {
		return Event{}, err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	var w wireEvent
	if err := dec.Decode(&w); err != nil {
		var me interface{ Code() string }
		if errors.As(err, &me) {
			return invalid("The webhook event's amount is invalid: " + err.Error())
		}
		return invalid("The webhook event is not a valid event object.")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return invalid("The webhook event has data after its object.")
	}
	if err := w.check(); err != nil {
		return Event{}, err
	}
	e := Event{
		ID: w.ID, Type: w.Type, Created: w.Created.UTC(), Reference: w.Reference, ObjectID: w.ObjectID,
		Status: w.Status, FailureCode: w.FailureCode, FailureMessage: w.FailureMessage,
	}
	if w.Amount != nil {
		e.Amount = *w.Amount
	}
	return e, nil
}

// check validates the fields of w.
func (w *wireEvent) check() error {
	invalid := func(msg string) error { return okpay.Errorf(okpay.EInvalid, "%s", msg) }
	if !isIdent(w.ID, 255) {
		return invalid("The webhook event's id is missing or malformed.")
	}
	if !isEventType(w.Type) {
		return invalid("The webhook event's type is missing or malformed.")
	}
	if w.Created.IsZero() || w.Created.Year() < 2000 || w.Created.Year() > 9999 {
		return invalid("The webhook event's creation time is missing or out of range.")
	}
	if w.Reference == "" || !isText(w.Reference, 255) {
		return invalid("The webhook event's reference is missing or malformed.")
	}
	if !isIdent(w.ObjectID, 255) {
		return invalid("The webhook event's object id is missing or malformed.")
	}
	switch w.Status {
	case StatusPending, StatusRequiresAction, StatusSucceeded, StatusFailed:
	default:
		return invalid("The webhook event's status is missing or unknown.")
	}
	if w.Amount != nil && (!w.Amount.Currency.Valid() || w.Amount.Minor < 0) {
		return invalid("The webhook event's amount is invalid.")
	}
	if w.FailureCode != "" && !isCode(w.FailureCode, 64) {
		return invalid("The webhook event's failure code is malformed.")
	}
	if !isText(w.FailureMessage, 1000) {
		return invalid("The webhook event's failure message is malformed.")
	}
	return nil
}

// isIdent: 1..max characters of [A-Za-z0-9_-].
func isIdent(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// isCode: 1..max characters of [a-z0-9_].
func isCode(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// isEventType: dot-separated codes, at least two ("charge.succeeded").
func isEventType(s string) bool {
	if len(s) > 64 {
		return false
	}
	parts := strings.Split(s, ".")
	if len(parts) < 2 {
		return false
	}
	for _, p := range parts {
		if !isCode(p, 64) {
			return false
		}
	}
	return true
}

// isText: at most max bytes of valid UTF-8 without control characters.
func isText(s string, max int) bool {
	if len(s) > max || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0x2028 || r == 0x2029 {
			return false
		}
	}
	return true
}

// eventFields are the exact field names of wireEvent.
var eventFields = map[string]bool{
	"id": true, "type": true, "created": true, "reference": true, "object_id": true,
	"status": true, "amount": true, "failure_code": true, "failure_message": true,
}

// checkJSONShape walks body's tokens and rejects what encoding/json would
// silently accept: a duplicate key in an object (the last one would win),
// a field name of the event that differs only in case, nesting deeper than
// maxJSONDepth, and invalid UTF-8 (which encoding/json replaces with
// U+FFFD).
func checkJSONShape(body []byte) error {
	invalid := func(msg string) error { return okpay.Errorf(okpay.EInvalid, "%s", msg) }
	if !utf8.Valid(body) {
		return invalid("The webhook event is not valid UTF-8.")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	type frame struct {
		object  bool
		keyNext bool
		keys    map[string]struct{}
	}
	var stack []frame
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return invalid("The webhook event is not valid JSON.")
		}
		if len(stack) > 0 {
			top := &stack[len(stack)-1]
			if top.object && top.keyNext {
				if d, ok := tok.(json.Delim); ok && d == '}' {
					stack = stack[:len(stack)-1]
					continue
				}
				k, _ := tok.(string)
				if _, dup := top.keys[k]; dup {
					return invalid("The webhook event has the field " + strconv.Quote(k) + " twice.")
				}
				if len(stack) == 1 && !eventFields[k] {
					// encoding/json matches names case-insensitively.
					return invalid("The webhook event has an unknown field " + strconv.Quote(k) + ".")
				}
				top.keys[k] = struct{}{}
				top.keyNext = false
				continue
			}
			if top.object {
				top.keyNext = true // this token is the value
			}
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			if len(stack) == maxJSONDepth {
				return invalid("The webhook event is nested too deeply.")
			}
			obj := tok == json.Delim('{')
			f := frame{object: obj, keyNext: obj}
			if obj {
				f.keys = map[string]struct{}{}
			}
			stack = append(stack, f)
		case json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
	}
}
