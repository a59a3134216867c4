package openapitest_test

// A visitor's email for the chat's replies against the document: a
// visitor leaves an address on their conversation (a confirmation mail),
// a double click mails nothing, a confirmed address is
// shown; customers, strangers and bad addresses are refused, and a
// fourth confirmation mail in a day is 429.

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/httpapi"
)

func (h *harness) deskContactScenario(t *testing.T) {
	ctx := context.Background()
	erin, _ := h.walletSignUp(t, "contact.erin@example.com", "+86 138 0013 8799", "127.0.0.191")

	r := h.do(t, req{method: "POST", path: "/api/v1/conversations", noAuth: true, from: "127.0.0.192", idem: newKey(), body: map[string]any{"category": "account", "body": "Where is my money?"}, want: 201})
	conv := r.str("id")
	var tok string
	for _, ck := range (&http.Response{Header: r.header}).Cookies() {
		if ck.Name == httpapi.VisitorCookie {
			tok = ck.Value
		}
	}
	if tok == "" {
		t.Fatalf("no visitor cookie: %v", r.header)
	}
	vis := visitorCookie(tok)
	path := "/api/v1/conversations/" + conv + "/contact"

	// None yet.
	if r := h.do(t, req{method: "GET", path: path, noAuth: true, header: vis, want: 200}); r.obj["email"] != nil || r.obj["confirmed"] != false {
		t.Errorf("no address yet: %s", r.raw)
	}
	// Bad input changes nothing.
	h.do(t, req{method: "PUT", path: path, noAuth: true, header: vis, body: map[string]any{"email": "li.wei at example.cn"}, want: 422, code: "validation_failed"})
	h.do(t, req{method: "PUT", path: path, noAuth: true, header: vis, body: `{"email": "a@example.cn", "phone": "1"}`, invalid: true, want: 400, code: "invalid_request"})
	// Left: a confirmation mail; the same address again mails nothing.
	r = h.do(t, req{method: "PUT", path: path, noAuth: true, header: vis, body: map[string]any{"email": " Li.Wei@Example.CN "}, want: 200})
	if r.obj["email"] != "li.wei@example.cn" || r.obj["confirmed"] != false || r.obj["confirmed_at"] != nil {
		t.Errorf("address left: %s", r.raw)
	}
	requested, err := time.Parse(time.RFC3339Nano, r.str("requested_at"))
	if err != nil {
		t.Fatal(err)
	}
	h.do(t, req{method: "PUT", path: path, noAuth: true, header: vis, body: map[string]any{"email": "li.wei@example.cn"}, want: 200})
	// Nobody else sees or sets it; a customer has their account's address.
	h.do(t, req{method: "GET", path: path, noAuth: true, want: 404, code: "not_found"})
	h.do(t, req{method: "GET", path: path, auth: erin, want: 404, code: "not_found"})
	h.do(t, req{method: "PUT", path: path, auth: erin, body: map[string]any{"email": "x@example.cn"}, want: 404, code: "not_found"})
	own := h.do(t, req{method: "POST", path: "/api/v1/conversations", auth: erin, idem: newKey(), body: map[string]any{"category": "account", "body": "hi"}, want: 201}).str("id")
	h.do(t, req{method: "PUT", path: "/api/v1/conversations/" + own + "/contact", auth: erin, body: map[string]any{"email": "x@example.cn"}, want: 409, code: desk.EContactNotVisitor})

	// Confirmed through its link: shown as such, and asking again mails
	// nothing.
	if _, err := h.emails.Confirm(ctx, h.emails.Token(mustConv(t, conv), requested, "li.wei@example.cn")); err != nil {
		t.Fatal(err)
	}
	if r := h.do(t, req{method: "GET", path: path, noAuth: true, header: vis, want: 200}); r.obj["confirmed"] != true || r.obj["confirmed_at"] == nil {
		t.Errorf("confirmed: %s", r.raw)
	}
	h.do(t, req{method: "PUT", path: path, noAuth: true, header: vis, body: map[string]any{"email": "li.wei@example.cn"}, want: 200})
	// Two more addresses, then the day's mails are used up.
	for _, e := range []string{"b@example.cn", "c@example.cn"} {
		h.do(t, req{method: "PUT", path: path, noAuth: true, header: vis, body: map[string]any{"email": e}, want: 200})
	}
	r = h.do(t, req{method: "PUT", path: path, noAuth: true, header: vis, body: map[string]any{"email": "d@example.cn"}, want: 429, code: desk.ERateLimited})
	if r.header.Get("Retry-After") == "" {
		t.Errorf("429 without Retry-After: %v", r.header)
	}
	if r := h.do(t, req{method: "GET", path: path, noAuth: true, header: vis, want: 200}); r.obj["email"] != "c@example.cn" || r.obj["confirmed"] != false {
		t.Errorf("after the refusal: %s", r.raw)
	}
}
