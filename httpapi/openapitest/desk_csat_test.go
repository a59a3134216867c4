package openapitest_test

// The chat's satisfaction survey and rate limits against the document:
// a customer rates their own resolved conversation once (BOLA: never
// another's), and visitors past their limits get 429 with Retry-After.

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/httpapi"
)

func (h *harness) deskCSATScenario(t *testing.T) {
	ctx := context.Background()
	agent := desk.Agent(424243)
	carol, _ := h.walletSignUp(t, "csat.carol@example.com", "+86 138 0013 8751", "127.0.0.131")
	dave, _ := h.walletSignUp(t, "csat.dave@example.com", "+86 138 0013 8752", "127.0.0.132")
	big := strings.Repeat(" ", httpapi.MaxBody)

	conv := h.do(t, req{method: "POST", path: "/api/v1/conversations", auth: carol, idem: newKey(), body: map[string]any{"category": "account", "body": "help"}, want: 201}).str("id")
	path := "/api/v1/conversations/" + conv + "/rating"
	// Not resolved: nothing due, nothing to rate.
	if r := h.do(t, req{method: "GET", path: path, auth: carol, want: 200}); r.obj["due"] != false || r.obj["rating"] != nil {
		t.Errorf("survey of an open conversation: %s", r.raw)
	}
	h.do(t, req{method: "POST", path: path, auth: carol, body: map[string]any{"rating": 5}, want: 409, code: desk.ECSATNotDue})

	if _, err := h.desk.SetStatus(ctx, agent, mustConv(t, conv), desk.StatusResolved, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if r := h.do(t, req{method: "GET", path: path, auth: carol, want: 200}); r.obj["due"] != true || r.str("object") != "csat_survey" {
		t.Errorf("survey of a resolved conversation: %s", r.raw)
	}
	// BOLA: another customer, a visitor, nobody.
	h.do(t, req{method: "GET", path: path, auth: dave, want: 404, code: "not_found"})
	h.do(t, req{method: "GET", path: path, noAuth: true, want: 404, code: "not_found"})
	h.do(t, req{method: "GET", path: path, auth: "Bearer not-a-session", want: 401, code: "unauthorized"})
	h.do(t, req{method: "POST", path: path, auth: dave, body: map[string]any{"rating": 1}, want: 404, code: "not_found"})
	h.do(t, req{method: "POST", path: path, noAuth: true, body: map[string]any{"rating": 1}, want: 404, code: "not_found"})
	h.do(t, req{method: "GET", path: "/api/v1/conversations/cnv_x/rating", auth: carol, invalid: true, want: 404, code: "not_found"})
	// Bad requests.
	h.do(t, req{method: "POST", path: path, auth: carol, body: map[string]any{"rating": 6}, want: 422, code: "validation_failed"})
	h.do(t, req{method: "POST", path: path, auth: carol, body: map[string]any{"comment": "no score"}, invalid: true, want: 422, code: "validation_failed"})
	h.do(t, req{method: "POST", path: path, auth: carol, body: map[string]any{"rating": 3, "comment": strings.Repeat("x", 1001)}, want: 422, code: "validation_failed"})
	h.do(t, req{method: "POST", path: path, auth: carol, body: `{"rating": 3, "stars": 3}`, invalid: true, want: 400, code: "invalid_request"})
	h.do(t, req{method: "POST", path: path, auth: carol, body: `{"rating": 3}` + big, want: 413, code: "request_too_large"})
	h.do(t, req{method: "POST", path: path, auth: carol, body: "x", ctype: "text/plain", invalid: true, want: 415, code: "unsupported_media_type"})
	// Rated once; a retry replays; another rating is refused.
	rate := map[string]any{"rating": 4, "comment": "Quick and clear."}
	r := h.do(t, req{method: "POST", path: path, auth: carol, body: rate, want: 201})
	if r.obj["due"] != false || r.str("rating", "comment") != "Quick and clear." {
		t.Errorf("rated: %s", r.raw)
	}
	if again := h.do(t, req{method: "POST", path: path, auth: carol, body: rate, want: 201}); again.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("a retried rating: %v %s", again.header, again.raw)
	}
	h.do(t, req{method: "POST", path: path, auth: carol, body: map[string]any{"rating": 1}, want: 409, code: desk.ECSATAlreadyRated})
	if r := h.do(t, req{method: "GET", path: path, auth: carol, want: 200}); r.obj["due"] != false || r.str("rating", "comment") != "Quick and clear." {
		t.Errorf("survey after rating: %s", r.raw)
	}

	// A visitor past 30 messages a minute: 429 with Retry-After.
	r = h.do(t, req{method: "POST", path: "/api/v1/conversations", noAuth: true, from: "127.0.0.141", idem: newKey(), body: map[string]any{"category": "technical", "body": "hi"}, want: 201})
	vconv := r.str("id")
	var vtok string
	for _, ck := range (&http.Response{Header: r.header}).Cookies() {
		if ck.Name == httpapi.VisitorCookie {
			vtok = ck.Value
		}
	}
	vis := visitorCookie(vtok)
	for i := 0; i < 30; i++ {
		h.do(t, req{method: "POST", path: "/api/v1/conversations/" + vconv + "/messages", noAuth: true, from: "127.0.0.141", header: vis, idem: newKey(), body: map[string]any{"body": "message " + strconv.Itoa(i)}, want: 201})
	}
	r = h.do(t, req{method: "POST", path: "/api/v1/conversations/" + vconv + "/messages", noAuth: true, from: "127.0.0.141", header: vis, idem: newKey(), body: map[string]any{"body": "one too many"}, want: 429, code: "rate_limited"})
	if ra, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || ra < 1 || ra > 60 {
		t.Errorf("Retry-After %q", r.header.Get("Retry-After"))
	}
	h.do(t, req{method: "POST", path: "/api/v1/conversations/" + vconv + "/attachments", noAuth: true, from: "127.0.0.141", header: vis, idem: newKey(),
		body: map[string]any{"name": "a.txt", "data": "aGk="}, want: 429, code: "rate_limited"})
	// A signed-in customer's limit is looser: carol goes on.
	h.do(t, req{method: "POST", path: "/api/v1/conversations/" + conv + "/messages", auth: carol, from: "127.0.0.141", idem: newKey(), body: map[string]any{"body": "thanks"}, want: 201})
	// New visitors from one address: 20 conversations an hour.
	for i := 0; i < 20; i++ {
		h.do(t, req{method: "POST", path: "/api/v1/conversations", noAuth: true, from: "127.0.0.142", idem: newKey(), body: map[string]any{"category": "technical"}, want: 201})
	}
	r = h.do(t, req{method: "POST", path: "/api/v1/conversations", noAuth: true, from: "127.0.0.142", idem: newKey(), body: map[string]any{"category": "technical"}, want: 429, code: "rate_limited"})
	if r.header.Get("Retry-After") == "" {
		t.Errorf("no Retry-After: %v", r.header)
	}
}
