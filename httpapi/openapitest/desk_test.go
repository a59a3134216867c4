package openapitest_test

// The support chat's routes against the document: customers (Bearer
// token or session cookie) and visitors (the __Host-visitor cookie),
// conversations, messages with their Idempotency-Key, attachments, read
// receipts; an agent's side through the desk service itself.

import (
	"bytes"
	"context"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/okpay/okpay/clock"
	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/desk/realtime"
	"github.com/okpay/okpay/httpapi"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/sqldb"
)

func init() {
	idPrefixes["/api/v1/conversations/"] = "cnv_"
	idPrefixes["/api/v1/attachments/"] = "att_"
	lists["GET /api/v1/conversations"] = true
	lists["GET /api/v1/conversations/{id}/messages"] = true
}

// newDesk builds the support desk over the harness's database.
func newDesk(t *testing.T, db *sqldb.DB, clk *clock.Manual, gen ids.Generator) *desk.Service {
	t.Helper()
	svc, err := desk.New(desk.Deps{DB: db, Clock: clk, IDs: gen, Bus: realtime.NewMemory(0)}, desk.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// onePixelPNG is a valid 1×1 PNG.
var onePixelPNG, _ = base64.StdEncoding.DecodeString("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==")

func visitorCookie(tok string) http.Header {
	return http.Header{"Cookie": {httpapi.VisitorCookie + "=" + tok}}
}

func (h *harness) deskScenario(t *testing.T) {
	ctx := context.Background()
	agent := desk.Agent(424242)
	alice, _ := h.walletSignUp(t, "desk.alice@example.com", "+86 138 0013 8741", "127.0.0.121")
	bob, _ := h.walletSignUp(t, "desk.bob@example.com", "+86 138 0013 8742", "127.0.0.122")
	big := strings.Repeat(" ", httpapi.MaxBody)

	// Nobody yet: no conversations; a bad token is 401.
	r := h.do(t, req{method: "GET", path: "/api/v1/conversations", noAuth: true, want: 200})
	if len(r.list()) != 0 || r.obj["has_more"] != false {
		t.Errorf("an anonymous caller's conversations: %s", r.raw)
	}
	h.do(t, req{method: "GET", path: "/api/v1/conversations", auth: "Bearer not-a-session", want: 401, code: "unauthorized"})
	h.do(t, req{method: "GET", path: "/api/v1/conversations", auth: bearer(h.key), want: 401, code: "unauthorized"}) // an API key is no customer

	// Start: the category chosen before the chat, a first message.
	start := map[string]any{"category": "transaction", "body": "我的转账还没有到账。", "lang": "zh-CN"}
	key := newKey()
	r = h.do(t, req{method: "POST", path: "/api/v1/conversations", auth: alice, idem: key, body: start, want: 201})
	conv := r.str("id")
	if r.str("status") != "open" || r.str("category") != "transaction" || r.obj["last_seq"] != float64(1) || r.str("queue", "text") == "" || r.str("lang") != "zh-CN" {
		t.Errorf("started: %s", r.raw)
	}
	if again := h.do(t, req{method: "POST", path: "/api/v1/conversations", auth: alice, idem: key, body: start, want: 201}); !again.replayed || !bytes.Equal(again.raw, r.raw) {
		t.Errorf("replayed start: %v %s", again.replayed, again.raw)
	}
	h.do(t, req{method: "POST", path: "/api/v1/conversations", auth: alice, idem: key, body: map[string]any{"category": "account"}, want: 422, code: "idempotency_key_reused"})
	h.do(t, req{method: "POST", path: "/api/v1/conversations", auth: alice, body: start, invalid: true, want: 400, code: "idempotency_key_required"})
	h.do(t, req{method: "POST", path: "/api/v1/conversations", auth: alice, idem: strings.Repeat("k", 101), body: start, invalid: true, want: 400, code: "invalid_request"})
	h.do(t, req{method: "POST", path: "/api/v1/conversations", auth: alice, idem: newKey(), body: map[string]any{"category": "fun"}, invalid: true, want: 422, code: "validation_failed"})
	h.do(t, req{method: "POST", path: "/api/v1/conversations", auth: alice, idem: newKey(), body: map[string]any{"body": "no category"}, invalid: true, want: 422, code: "validation_failed"})
	h.do(t, req{method: "POST", path: "/api/v1/conversations", auth: alice, idem: newKey(), body: `{"category": "account", "colour": "red"}`, invalid: true, want: 400, code: "invalid_request"})
	h.do(t, req{method: "POST", path: "/api/v1/conversations", auth: alice, idem: newKey(), body: `{"category": "account"}` + big, want: 413, code: "request_too_large"})
	h.do(t, req{method: "POST", path: "/api/v1/conversations", auth: alice, idem: newKey(), body: "x", ctype: "text/plain", invalid: true, want: 415, code: "unsupported_media_type"})
	h.do(t, req{method: "POST", path: "/api/v1/conversations", auth: "Bearer not-a-session", idem: newKey(), body: start, want: 401, code: "unauthorized"})

	// One conversation: its owner only (API-02).
	r = h.do(t, req{method: "GET", path: "/api/v1/conversations/" + conv, auth: alice, want: 200})
	if r.obj["queue"] == nil || r.obj["assigned"] != false {
		t.Errorf("waiting conversation: %s", r.raw)
	}
	h.do(t, req{method: "GET", path: "/api/v1/conversations/" + conv, auth: bob, want: 404, code: "not_found"})
	h.do(t, req{method: "GET", path: "/api/v1/conversations/" + conv, noAuth: true, want: 404, code: "not_found"})
	h.do(t, req{method: "GET", path: "/api/v1/conversations/cnv_x", auth: alice, invalid: true, want: 404, code: "not_found"})
	h.do(t, req{method: "GET", path: "/api/v1/conversations/" + conv, auth: "Bearer not-a-session", want: 401, code: "unauthorized"})
	r = h.do(t, req{method: "GET", path: "/api/v1/conversations", cookie: strings.TrimPrefix(alice, "Bearer "), noAuth: true, want: 200}) // the web app's cookie
	if l := r.list(); len(l) != 1 || l[0]["id"] != conv {
		t.Errorf("alice's conversations: %s", r.raw)
	}
	if r = h.do(t, req{method: "GET", path: "/api/v1/conversations", auth: bob, want: 200}); len(r.list()) != 0 {
		t.Errorf("bob sees conversations: %s", r.raw)
	}
	h.do(t, req{method: "GET", path: "/api/v1/conversations?limit=0", auth: alice, invalid: true, want: 422, code: "validation_failed"})
	h.do(t, req{method: "GET", path: "/api/v1/conversations?cursor=wal_0d4m8y2k3q1ag", auth: alice, invalid: true, want: 422, code: "validation_failed"})

	// Messages, with their keys.
	msgKey := newKey()
	say := map[string]any{"body": "The transfer was to zhang.san@example.com, yesterday evening."}
	m := h.do(t, req{method: "POST", path: "/api/v1/conversations/" + conv + "/messages", auth: alice, idem: msgKey, body: say, want: 201})
	if m.obj["seq"] != float64(2) || m.str("author") != "customer" {
		t.Errorf("sent: %s", m.raw)
	}
	if again := h.do(t, req{method: "POST", path: "/api/v1/conversations/" + conv + "/messages", auth: alice, idem: msgKey, body: say, want: 201}); !again.replayed || again.str("id") != m.str("id") {
		t.Errorf("a retried message: %v %s", again.replayed, again.raw)
	}
	h.do(t, req{method: "POST", path: "/api/v1/conversations/" + conv + "/messages", auth: alice, idem: msgKey, body: map[string]any{"body": "something else"}, want: 422, code: "idempotency_key_reused"})
	h.do(t, req{method: "POST", path: "/api/v1/conversations/" + conv + "/messages", auth: alice, idem: newKey(), body: map[string]any{"body": ""}, invalid: true, want: 422, code: "validation_failed"})
	h.do(t, req{method: "POST", path: "/api/v1/conversations/" + conv + "/messages", auth: bob, idem: newKey(), body: say, want: 404, code: "not_found"})
	h.do(t, req{method: "POST", path: "/api/v1/conversations/" + conv + "/messages", auth: alice, body: say, invalid: true, want: 400, code: "idempotency_key_required"})
	h.do(t, req{method: "POST", path: "/api/v1/conversations/" + conv + "/messages", auth: alice, idem: newKey(), body: `{"body": "x"}` + big, want: 413, code: "request_too_large"})
	h.do(t, req{method: "POST", path: "/api/v1/conversations/" + conv + "/messages", auth: alice, idem: newKey(), body: "x", ctype: "text/plain", invalid: true, want: 415, code: "unsupported_media_type"})
	h.do(t, req{method: "POST", path: "/api/v1/conversations/" + conv + "/messages", auth: "Bearer not-a-session", idem: newKey(), body: say, want: 401, code: "unauthorized"})

	// The agent answers and writes a note: the customer sees the answer,
	// never the note, and the numbering has no gap.
	if _, err := h.desk.SendMessage(ctx, agent, mustConv(t, conv), desk.MessageInput{Body: "Internal: check the payee's KYC", Internal: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.desk.SendMessage(ctx, agent, mustConv(t, conv), desk.MessageInput{Body: "Thank you, I am looking at it now."}); err != nil {
		t.Fatal(err)
	}
	r = h.do(t, req{method: "GET", path: "/api/v1/conversations/" + conv + "/messages", auth: alice, want: 200})
	if l := r.list(); len(l) != 3 || l[2]["seq"] != float64(3) || l[2]["author"] != "agent" || strings.Contains(string(r.raw), "KYC") {
		t.Errorf("messages: %s", r.raw)
	}
	r = h.do(t, req{method: "GET", path: "/api/v1/conversations/" + conv + "/messages?after_seq=1&limit=1", auth: alice, want: 200})
	if l := r.list(); len(l) != 1 || l[0]["seq"] != float64(2) || r.obj["has_more"] != true || r.str("next_cursor") != "2" {
		t.Errorf("a page after 1: %s", r.raw)
	}
	r = h.do(t, req{method: "GET", path: "/api/v1/conversations/" + conv + "/messages?cursor=" + r.str("next_cursor"), auth: alice, want: 200})
	if l := r.list(); len(l) != 1 || l[0]["seq"] != float64(3) || r.obj["has_more"] != false {
		t.Errorf("the next page: %s", r.raw)
	}
	h.do(t, req{method: "GET", path: "/api/v1/conversations/" + conv + "/messages?after_seq=-1", auth: alice, invalid: true, want: 422, code: "validation_failed"})
	h.do(t, req{method: "GET", path: "/api/v1/conversations/" + conv + "/messages?limit=101", auth: alice, invalid: true, want: 422, code: "validation_failed"})
	h.do(t, req{method: "GET", path: "/api/v1/conversations/" + conv + "/messages", auth: bob, want: 404, code: "not_found"})
	h.do(t, req{method: "GET", path: "/api/v1/conversations/" + conv + "/messages", auth: "Bearer not-a-session", want: 401, code: "unauthorized"})

	// Read receipts.
	r = h.do(t, req{method: "POST", path: "/api/v1/conversations/" + conv + "/read", auth: alice, body: map[string]any{"seq": 99}, want: 200})
	if r.obj["seq"] != float64(3) {
		t.Errorf("read beyond the last message: %s", r.raw)
	}
	if r = h.do(t, req{method: "GET", path: "/api/v1/conversations/" + conv, auth: alice, want: 200}); r.obj["read_seq"] != float64(3) {
		t.Errorf("read_seq: %s", r.raw)
	}
	h.do(t, req{method: "POST", path: "/api/v1/conversations/" + conv + "/read", auth: alice, body: map[string]any{"seq": -1}, invalid: true, want: 422, code: "validation_failed"})
	h.do(t, req{method: "POST", path: "/api/v1/conversations/" + conv + "/read", auth: alice, body: map[string]any{}, invalid: true, want: 422, code: "validation_failed"})
	h.do(t, req{method: "POST", path: "/api/v1/conversations/" + conv + "/read", auth: alice, body: `{"seq": 1, "x": 1}`, invalid: true, want: 400, code: "invalid_request"})
	h.do(t, req{method: "POST", path: "/api/v1/conversations/" + conv + "/read", auth: alice, body: `{"seq": 1}` + big, want: 413, code: "request_too_large"})
	h.do(t, req{method: "POST", path: "/api/v1/conversations/" + conv + "/read", auth: alice, body: "x", ctype: "text/plain", invalid: true, want: 415, code: "unsupported_media_type"})
	h.do(t, req{method: "POST", path: "/api/v1/conversations/" + conv + "/read", auth: bob, body: map[string]any{"seq": 1}, want: 404, code: "not_found"})
	h.do(t, req{method: "POST", path: "/api/v1/conversations/" + conv + "/read", auth: "Bearer not-a-session", body: map[string]any{"seq": 1}, want: 401, code: "unauthorized"})

	// A file: checked, stored, downloaded only by its owner.
	upKey := newKey()
	file := map[string]any{"name": "receipt.png", "content_type": "image/png", "data": base64.StdEncoding.EncodeToString(onePixelPNG), "body": "The error I see"}
	r = h.do(t, req{method: "POST", path: "/api/v1/conversations/" + conv + "/attachments", auth: alice, idem: upKey, body: file, want: 201})
	atts, _ := r.obj["attachments"].([]any)
	if len(atts) != 1 {
		t.Fatalf("upload: %s", r.raw)
	}
	att := atts[0].(map[string]any)["id"].(string)
	if again := h.do(t, req{method: "POST", path: "/api/v1/conversations/" + conv + "/attachments", auth: alice, idem: upKey, body: file, want: 201}); !again.replayed {
		t.Errorf("a retried upload was not replayed: %s", again.raw)
	}
	dl := h.do(t, req{method: "GET", path: "/api/v1/attachments/" + att, auth: alice, want: 200})
	if !bytes.Equal(dl.raw, onePixelPNG) || !strings.HasPrefix(dl.header.Get("Content-Disposition"), "attachment;") || dl.header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("download: %v %q", dl.header, dl.raw)
	}
	h.do(t, req{method: "GET", path: "/api/v1/attachments/" + att, auth: bob, want: 404, code: "not_found"})
	h.do(t, req{method: "GET", path: "/api/v1/attachments/" + att, noAuth: true, want: 404, code: "not_found"})
	h.do(t, req{method: "GET", path: "/api/v1/attachments/att_x", auth: alice, invalid: true, want: 404, code: "not_found"})
	h.do(t, req{method: "GET", path: "/api/v1/attachments/" + att, auth: "Bearer not-a-session", want: 401, code: "unauthorized"})
	html := base64.StdEncoding.EncodeToString([]byte("<html><script>alert(1)</script></html>"))
	h.do(t, req{method: "POST", path: "/api/v1/conversations/" + conv + "/attachments", auth: alice, idem: newKey(), body: map[string]any{"name": "x.png", "data": html}, want: 422, code: desk.EAttachmentRefused})
	h.do(t, req{method: "POST", path: "/api/v1/conversations/" + conv + "/attachments", auth: alice, idem: newKey(), body: map[string]any{"name": "x.svg", "data": html}, want: 422, code: desk.EAttachmentRefused})
	h.do(t, req{method: "POST", path: "/api/v1/conversations/" + conv + "/attachments", auth: alice, idem: newKey(), body: map[string]any{"name": "x.png", "data": "%%% not base64"}, want: 422, code: "validation_failed"})
	h.do(t, req{method: "POST", path: "/api/v1/conversations/" + conv + "/attachments", auth: alice, idem: newKey(), body: map[string]any{"name": "x.png"}, invalid: true, want: 422, code: "validation_failed"})
	h.do(t, req{method: "POST", path: "/api/v1/conversations/" + conv + "/attachments", auth: bob, idem: newKey(), body: file, want: 404, code: "not_found"})
	h.do(t, req{method: "POST", path: "/api/v1/conversations/" + conv + "/attachments", auth: alice, body: file, invalid: true, want: 400, code: "idempotency_key_required"})
	h.do(t, req{method: "POST", path: "/api/v1/conversations/" + conv + "/attachments", auth: alice, idem: newKey(), body: "x", ctype: "text/plain", invalid: true, want: 415, code: "unsupported_media_type"})
	h.do(t, req{method: "POST", path: "/api/v1/conversations/" + conv + "/attachments", auth: "Bearer not-a-session", idem: newKey(), body: file, want: 401, code: "unauthorized"})

	// Closed: nothing more is written to it.
	if _, err := h.desk.SetStatus(ctx, agent, mustConv(t, conv), desk.StatusClosed, time.Time{}); err != nil {
		t.Fatal(err)
	}
	h.do(t, req{method: "POST", path: "/api/v1/conversations/" + conv + "/messages", auth: alice, idem: newKey(), body: say, want: 409, code: desk.EConversationClosed})
	h.do(t, req{method: "POST", path: "/api/v1/conversations/" + conv + "/attachments", auth: alice, idem: newKey(), body: file, want: 409, code: desk.EConversationClosed})

	// At most five open at once.
	for i := 0; i < 5; i++ {
		h.do(t, req{method: "POST", path: "/api/v1/conversations", auth: bob, idem: newKey(), body: map[string]any{"category": "technical"}, want: 201})
	}
	h.do(t, req{method: "POST", path: "/api/v1/conversations", auth: bob, idem: newKey(), body: map[string]any{"category": "technical"}, want: 409, code: desk.ETooManyOpen})
	r = h.do(t, req{method: "GET", path: "/api/v1/conversations?limit=2", auth: bob, want: 200})
	if len(r.list()) != 2 || r.obj["has_more"] != true {
		t.Errorf("bob's first page: %s", r.raw)
	}
	if r = h.do(t, req{method: "GET", path: "/api/v1/conversations?limit=100&cursor=" + r.str("next_cursor"), auth: bob, want: 200}); len(r.list()) != 3 {
		t.Errorf("bob's second page: %s", r.raw)
	}

	// A visitor: the start sets the cookie; the cookie opens only its
	// conversations; signing in claims them and clears it.
	r = h.do(t, req{method: "POST", path: "/api/v1/conversations", noAuth: true, idem: newKey(), body: map[string]any{"category": "account", "body": "I cannot sign in"}, want: 201})
	vconv := r.str("id")
	var vtok string
	for _, ck := range (&http.Response{Header: r.header}).Cookies() {
		if ck.Name == httpapi.VisitorCookie {
			vtok = ck.Value
			if !ck.Secure || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" {
				t.Errorf("visitor cookie %+v", ck)
			}
		}
	}
	if vtok == "" {
		t.Fatalf("no visitor cookie: %v", r.header)
	}
	vis := visitorCookie(vtok)
	h.do(t, req{method: "GET", path: "/api/v1/conversations/" + vconv, noAuth: true, header: vis, want: 200})
	h.do(t, req{method: "GET", path: "/api/v1/conversations/" + conv, noAuth: true, header: vis, want: 404, code: "not_found"})
	h.do(t, req{method: "GET", path: "/api/v1/conversations/" + vconv, auth: bob, want: 404, code: "not_found"})
	h.do(t, req{method: "POST", path: "/api/v1/conversations/" + vconv + "/messages", noAuth: true, header: vis, idem: newKey(), body: map[string]any{"body": "Still here"}, want: 201})
	h.do(t, req{method: "POST", path: "/api/v1/conversations/" + vconv + "/messages", noAuth: true, idem: newKey(), body: map[string]any{"body": "No cookie"}, want: 404, code: "not_found"})
	r = h.do(t, req{method: "GET", path: "/api/v1/conversations", auth: alice, header: vis, want: 200})
	found, cleared := false, false
	for _, c := range r.list() {
		found = found || c["id"] == vconv
	}
	for _, ck := range (&http.Response{Header: r.header}).Cookies() {
		cleared = cleared || ck.Name == httpapi.VisitorCookie && ck.MaxAge < 0
	}
	if !found || !cleared {
		t.Errorf("after sign-in the visitor's conversation is alice's (%v) and the cookie cleared (%v): %s %v", found, cleared, r.raw, r.header)
	}
	h.do(t, req{method: "GET", path: "/api/v1/conversations/" + vconv, noAuth: true, header: vis, want: 404, code: "not_found"})
}

func mustConv(t *testing.T, ref string) int64 {
	t.Helper()
	id, ok := desk.ParseConversationRef(ref)
	if !ok {
		t.Fatalf("not a conversation id: %q", ref)
	}
	return id
}
