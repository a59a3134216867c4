package openapitest_test

// The phone channel's routes against the document: a customer's callback
// requests (Idempotency-Key, the verified number only, cancel) and the
// PBX's signed telephony webhook (signature, staleness, replays, bad
// events); an agent's claim through the phone service itself.

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/okpay/okpay/audit"
	"github.com/okpay/okpay/clock"
	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/httpapi"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/phone"
	"github.com/okpay/okpay/sqldb"
)

func init() {
	idPrefixes["/api/v1/callbacks/"] = "cbk_"
	idPrefixes["/api/v1/phone_verifications/"] = "pvc_"
}

var telephonySecret = []byte("whsec_telephony_0123456789abcdef")

// newPhone builds the phone channel over the harness's services.
func newPhone(t *testing.T, db *sqldb.DB, clk *clock.Manual, gen ids.Generator, cat *i18n.Catalog, id *identityDeps, dsk *desk.Service) *httpapi.PhoneAPI {
	t.Helper()
	svc, err := phone.New(phone.Deps{DB: db, Clock: clk, IDs: gen, Desk: dsk, Identity: id.svc, Audit: audit.New(db), Outbox: id.outbox, Catalog: cat}, phone.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return &httpapi.PhoneAPI{Service: svc, Secrets: [][]byte{telephonySecret}, Clock: clk}
}

func (h *harness) phoneScenario(t *testing.T) {
	ctx := context.Background()
	alice, aliceID := h.walletSignUp(t, "phone.alice@example.com", "+86 138 0013 8761", "127.0.0.161")
	bob, bobID := h.walletSignUp(t, "phone.bob@example.com", "+86 138 0013 8762", "127.0.0.162")
	now := h.clock.Now()
	cst := time.FixedZone("CST", 8*3600)
	window := func(from time.Duration) map[string]any {
		return map[string]any{"topic": "transaction", "note": "我的转账还没有到账。", "time_zone": "Asia/Shanghai", "lang": "zh-CN",
			"window_start": now.Add(from).In(cst).Format(time.RFC3339), "window_end": now.Add(from + time.Hour).In(cst).Format(time.RFC3339)}
	}
	h.do(t, req{method: "GET", path: "/api/v1/callbacks", noAuth: true, invalid: true, want: 401, code: "unauthorized"})

	// A request: the verified number, masked; a retry replays it.
	key := newKey()
	r := h.do(t, req{method: "POST", path: "/api/v1/callbacks", auth: alice, idem: key, body: window(time.Hour), want: 201})
	cb := r.str("id")
	if r.str("state") != "queued" || r.str("phone") != "•••• 8761" || !strings.HasSuffix(r.str("window_start"), "+08:00") {
		t.Errorf("requested: %s", r.raw)
	}
	if again := h.do(t, req{method: "POST", path: "/api/v1/callbacks", auth: alice, idem: key, body: window(time.Hour), want: 201}); !again.replayed || again.str("id") != cb {
		t.Errorf("replay: %v %s", again.replayed, again.raw)
	}
	h.do(t, req{method: "POST", path: "/api/v1/callbacks", auth: alice, idem: key, body: window(2 * time.Hour), want: 422, code: "idempotency_key_reused"})
	h.do(t, req{method: "POST", path: "/api/v1/callbacks", auth: alice, body: window(time.Hour), invalid: true, want: 400, code: "idempotency_key_required"})
	// A number in the request is refused: there is no such field.
	withNumber := window(time.Hour)
	withNumber["phone"] = "+8613900000000"
	h.do(t, req{method: "POST", path: "/api/v1/callbacks", auth: alice, idem: newKey(), body: withNumber, invalid: true, want: 400, code: "invalid_request"})
	h.do(t, req{method: "POST", path: "/api/v1/callbacks", auth: alice, idem: newKey(), body: window(-3 * time.Hour), want: 422, code: "validation_failed"})
	h.do(t, req{method: "POST", path: "/api/v1/callbacks", auth: alice, idem: newKey(), body: map[string]any{"topic": "account", "window_start": "tomorrow", "window_end": "later"}, want: 422, code: "validation_failed"})

	// Lists and reads; another customer's is 404.
	if l := h.do(t, req{method: "GET", path: "/api/v1/callbacks", auth: alice, want: 200}).list(); len(l) != 1 || l[0]["id"] != cb {
		t.Errorf("list %v", l)
	}
	h.do(t, req{method: "GET", path: "/api/v1/callbacks/" + cb, auth: alice, want: 200})
	h.do(t, req{method: "GET", path: "/api/v1/callbacks/" + cb, auth: bob, want: 404, code: "not_found"})
	h.do(t, req{method: "GET", path: "/api/v1/callbacks/cbk_nope", auth: alice, invalid: true, want: 404, code: "not_found"})
	h.do(t, req{method: "POST", path: "/api/v1/callbacks/" + cb + "/cancel", auth: bob, idem: newKey(), want: 404, code: "not_found"})

	// Once an agent claims it, it can no longer be cancelled.
	other := h.do(t, req{method: "POST", path: "/api/v1/callbacks", auth: alice, idem: newKey(), body: window(2 * time.Hour), want: 201}).str("id")
	oid, _ := phone.ParseCallbackRef(other)
	// Pages (API.md): newest first, next_cursor leads to older ones.
	first := h.do(t, req{method: "GET", path: "/api/v1/callbacks?limit=1", auth: alice, want: 200})
	if l := first.list(); len(l) != 1 || l[0]["id"] != other || first.obj["has_more"] != true || first.obj["next_cursor"] != other || first.obj["object"] != "list" {
		t.Errorf("first page: %s", first.raw)
	}
	second := h.do(t, req{method: "GET", path: "/api/v1/callbacks?limit=1&cursor=" + other, auth: alice, want: 200})
	if l := second.list(); len(l) != 1 || l[0]["id"] != cb || second.obj["has_more"] != false || second.obj["next_cursor"] != nil {
		t.Errorf("second page: %s", second.raw)
	}
	h.do(t, req{method: "GET", path: "/api/v1/callbacks?limit=0", auth: alice, invalid: true, want: 422, code: "validation_failed"})
	h.do(t, req{method: "GET", path: "/api/v1/callbacks?cursor=cnv_0d4m8y2k3q1ag", auth: alice, invalid: true, want: 422, code: "validation_failed"})
	if _, err := h.phone.Service.Claim(ctx, 4242, oid); err != nil {
		t.Fatal(err)
	}
	h.do(t, req{method: "POST", path: "/api/v1/callbacks/" + other + "/cancel", auth: alice, idem: newKey(), want: 409, code: phone.ECallbackClosed})
	if c := h.do(t, req{method: "POST", path: "/api/v1/callbacks/" + cb + "/cancel", auth: alice, idem: newKey(), want: 200}); c.str("state") != "cancelled" {
		t.Errorf("cancelled: %s", c.raw)
	}
	// Bob's number is no longer verified: no callback.
	if _, err := h.db.Write.ExecContext(ctx, `UPDATE users SET phone_verified_at = 0 WHERE id = $1`, bobID); err != nil {
		t.Fatal(err)
	}
	h.do(t, req{method: "POST", path: "/api/v1/callbacks", auth: bob, idem: newKey(), body: window(time.Hour), want: 409, code: phone.ENoVerifiedPhone})

	// Caller verification, the app's side (SUP-05): an agent on a phone
	// call sends a code to Alice's app; she reads it, or refuses it.
	conv, err := h.desk.StartConversation(ctx, desk.System, desk.StartInput{Channel: desk.ChannelPhone, Category: desk.CategoryAccount, CustomerID: aliceID})
	if err != nil {
		t.Fatal(err)
	}
	ch, err := h.phone.Service.SendChallenge(ctx, phone.Actor{AgentID: 4242, AgentRef: "agt_4242", Roles: "agent"}, conv.ID, phone.MethodApp)
	if err != nil {
		t.Fatal(err)
	}
	pvc := phone.ChallengeRef(ch.ID)
	h.do(t, req{method: "GET", path: "/api/v1/phone_verifications", noAuth: true, invalid: true, want: 401, code: "unauthorized"})
	l := h.do(t, req{method: "GET", path: "/api/v1/phone_verifications", auth: alice, want: 200}).list()
	if len(l) != 1 || l[0]["id"] != pvc || len(fmt.Sprint(l[0]["code"])) != 6 || l[0]["state"] != "pending" || l[0]["conversation"] != desk.ConversationRef(conv.ID) {
		t.Errorf("waiting codes: %v", l)
	}
	if l := h.do(t, req{method: "GET", path: "/api/v1/phone_verifications", auth: bob, want: 200}).list(); len(l) != 0 {
		t.Errorf("Bob sees %v", l)
	}
	if one := h.do(t, req{method: "GET", path: "/api/v1/phone_verifications/" + pvc, auth: alice, want: 200}); one.str("code") != l[0]["code"] {
		t.Errorf("one: %s", one.raw)
	}
	h.do(t, req{method: "GET", path: "/api/v1/phone_verifications/" + pvc, auth: bob, want: 404, code: "not_found"})
	h.do(t, req{method: "GET", path: "/api/v1/phone_verifications/pvc_nope", auth: alice, invalid: true, want: 404, code: "not_found"})
	h.do(t, req{method: "POST", path: "/api/v1/phone_verifications/" + pvc + "/refuse", auth: bob, idem: newKey(), want: 404, code: "not_found"})
	h.do(t, req{method: "POST", path: "/api/v1/phone_verifications/" + pvc + "/refuse", auth: alice, invalid: true, want: 400, code: "idempotency_key_required"})
	key = newKey()
	refused := h.do(t, req{method: "POST", path: "/api/v1/phone_verifications/" + pvc + "/refuse", auth: alice, idem: key, want: 200})
	if refused.str("state") != phone.StateRefused || refused.obj["code"] != nil {
		t.Errorf("refused: %s", refused.raw)
	}
	if again := h.do(t, req{method: "POST", path: "/api/v1/phone_verifications/" + pvc + "/refuse", auth: alice, idem: key, want: 200}); !again.replayed {
		t.Errorf("replay: %s", again.raw)
	}
	if again := h.do(t, req{method: "POST", path: "/api/v1/phone_verifications/" + pvc + "/refuse", auth: alice, idem: newKey(), want: 200}); again.str("state") != phone.StateRefused {
		t.Errorf("refusing again: %s", again.raw)
	}
	if got := h.do(t, req{method: "GET", path: "/api/v1/phone_verifications/" + pvc, auth: alice, want: 200}); got.str("state") != phone.StateRefused || got.obj["code"] != nil {
		t.Errorf("after the refusal: %s", got.raw)
	}
	if l := h.do(t, req{method: "GET", path: "/api/v1/phone_verifications", auth: alice, want: 200}).list(); len(l) != 0 {
		t.Errorf("still waiting: %v", l)
	}
	if lv, err := h.phone.Service.Level(ctx, conv.ID); err != nil || !lv.Refused || lv.Verified() {
		t.Errorf("the agent's view: %+v %v", lv, err)
	}

	// The telephony webhook.
	sign := func(at time.Time, body string) http.Header {
		return http.Header{phone.SignatureHeader: {phone.Sign(telephonySecret, at, []byte(body))}}
	}
	post := func(body string, hd http.Header, want int, code string) *resp {
		return h.do(t, req{method: "POST", path: "/api/v1/telephony/events", noAuth: true, body: body, header: hd, want: want, code: code})
	}
	newCall := `{"id":"evt-1","event":"newCall","callId":"c-9","from":"+86 138 0013 8761","to":"4008001234","direction":"in","queue":"support"}`
	if r := post(newCall, sign(now, newCall), 200, ""); r.obj["applied"] != true {
		t.Errorf("applied: %s", r.raw)
	}
	if r := post(newCall, sign(now, newCall), 200, ""); r.obj["applied"] != false || !r.replayed {
		t.Errorf("replay: %s", r.raw)
	}
	hang := `{"id":"evt-2","event":"hangup","callId":"c-9","cause":"cancel"}`
	post(hang, sign(now.Add(time.Second), hang), 200, "")
	c, err := h.phone.Service.FindCall(ctx, "c-9")
	if err != nil || c.State != phone.CallMissed || c.CallbackID == 0 || c.Number != "+8613800138761" {
		t.Errorf("call %+v %v", c, err)
	}
	post(hang, http.Header{phone.SignatureHeader: {phone.Sign([]byte("whsec_wrong_0123456789abcdef"), now, []byte(hang))}}, 400, "webhook_bad_signature")
	post(hang, sign(now.Add(-time.Hour), hang), 400, "webhook_stale")
	h.do(t, req{method: "POST", path: "/api/v1/telephony/events", noAuth: true, body: hang, invalid: true, want: 400, code: "webhook_bad_signature"})
	bad := `{"event":"ring","callId":"c-9"}`
	h.do(t, req{method: "POST", path: "/api/v1/telephony/events", noAuth: true, body: bad, header: sign(now, bad), invalid: true, want: 422, code: "validation_failed"})
	h.do(t, req{method: "POST", path: "/api/v1/telephony/events", noAuth: true, body: newCall, ctype: "text/plain", header: sign(now, newCall), invalid: true, want: 415, code: "unsupported_media_type"})
	big := `{"event":"newCall","callId":"` + strings.Repeat("x", phone.MaxEventSize) + `"}`
	h.do(t, req{method: "POST", path: "/api/v1/telephony/events", noAuth: true, body: big, header: sign(now, big), invalid: true, want: 413, code: "request_too_large"})
}
