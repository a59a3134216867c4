package openapitest_test

// The chat's self-service routes against the document: help suggestions
// and "This solved it" (public), the assistant and its handover (the
// chat's callers: customers and visitors).

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/okpay/okpay/assistant"
	"github.com/okpay/okpay/clock"
	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/help"
	"github.com/okpay/okpay/httpapi"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/wallet"
)

func init() {
	idPrefixes["/api/v1/help/articles/"] = "art_"
}

// newAssistant builds the help center (its shipped articles loaded) and
// the assistant over the harness's services.
func newAssistant(t *testing.T, db *sqldb.DB, clk *clock.Manual, gen ids.Generator, cat *i18n.Catalog, id *identityDeps, wal *wallet.Service,
	wd *wallet.Withdrawals, dsk *desk.Service) *assistant.Service {
	t.Helper()
	hs, err := help.New(help.Config{DB: db, Clock: clk, IDs: gen, Contacts: help.Contacts{Email: "care@example.com", Phone: "+86 400 000 0000"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hs.LoadShipped(context.Background()); err != nil {
		t.Fatal(err)
	}
	a, err := assistant.New(assistant.Config{DB: db, Clock: clk, IDs: gen, Catalog: cat, Help: hs, Desk: dsk,
		Facts: &assistant.WalletFacts{Wallet: wal, Withdrawals: wd, Identity: id.svc}})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func (h *harness) assistantScenario(t *testing.T) {
	ctx := context.Background()
	carol, carolID := h.walletSignUp(t, "assist.carol@example.com", "+86 138 0013 8791", "127.0.0.151")
	big := strings.Repeat(" ", httpapi.MaxBody)

	// Suggestions while typing: public, in the asked language.
	r := h.do(t, req{method: "GET", path: "/api/v1/help/suggestions?q=" + "%E6%88%91%E7%9A%84%E6%8F%90%E7%8E%B0%E5%88%B0%E5%93%AA%E4%BA%86&lang=zh-CN", noAuth: true, want: 200})
	list := r.list()
	if len(list) == 0 || r.str("locale") != "zh-CN" || r.str("query") != "我的提现到哪了" {
		t.Fatalf("suggestions: %s", r.raw)
	}
	var article string
	for _, a := range list {
		if a["slug"] == "withdrawal-review" {
			article = a["id"].(string)
		}
	}
	if article == "" {
		t.Fatalf("the withdrawal article is not suggested: %s", r.raw)
	}
	if r := h.do(t, req{method: "GET", path: "/api/v1/help/suggestions?q=", noAuth: true, want: 200}); len(r.list()) != 0 {
		t.Errorf("an empty question: %s", r.raw)
	}
	h.do(t, req{method: "GET", path: "/api/v1/help/suggestions?q=change+bank+card", noAuth: true, header: http.Header{"Accept-Language": {"en"}}, want: 200})
	h.do(t, req{method: "GET", path: "/api/v1/help/suggestions?q=card&lang=fr", noAuth: true, invalid: true, want: 422, code: "validation_failed"})
	h.do(t, req{method: "GET", path: "/api/v1/help/suggestions?q=" + strings.Repeat("a", 801), noAuth: true, invalid: true, want: 422, code: "validation_failed"})

	// "This solved it": once per visitor, article and day.
	path := "/api/v1/help/articles/" + article + "/deflections"
	if r := h.do(t, req{method: "POST", path: path, noAuth: true, body: map[string]any{}, from: "127.0.0.152", want: 200}); r.obj["counted"] != true || r.str("article") != article {
		t.Errorf("deflection: %s", r.raw)
	}
	if r := h.do(t, req{method: "POST", path: path, noAuth: true, from: "127.0.0.152", want: 200}); r.obj["counted"] != false {
		t.Errorf("a repeated deflection counted: %s", r.raw)
	}
	// Who said so is kept as a keyed HMAC, not a hash anyone can reverse
	// by hashing every address.
	var who string
	if err := h.db.Read.QueryRow(`SELECT visitor FROM help_deflections ORDER BY created_at DESC LIMIT 1`).Scan(&who); err != nil || !strings.HasPrefix(who, "h1.") || strings.Contains(who, "127.0.0.152") {
		t.Errorf("stored deflection visitor %q, %v", who, err)
	}
	h.do(t, req{method: "POST", path: "/api/v1/help/articles/art_0d4m8y2k3q1ag/deflections", noAuth: true, want: 404, code: "not_found"})
	h.do(t, req{method: "POST", path: "/api/v1/help/articles/nope/deflections", noAuth: true, invalid: true, want: 404, code: "not_found"})
	h.do(t, req{method: "POST", path: path, noAuth: true, body: `{"helpful": true}`, invalid: true, want: 400, code: "invalid_request"})
	h.do(t, req{method: "POST", path: path, noAuth: true, body: "x", ctype: "text/plain", invalid: true, want: 415, code: "unsupported_media_type"})
	h.do(t, req{method: "POST", path: path, noAuth: true, body: `{}` + big, want: 413, code: "request_too_large"})

	// The assistant: a visitor is asked to sign in and becomes a visitor.
	ask := map[string]any{"text": "我的提现到哪了", "lang": "zh-CN"}
	r = h.do(t, req{method: "POST", path: "/api/v1/assistant/messages", noAuth: true, body: ask, want: 200})
	if r.str("intent") != "withdrawal_status" || r.obj["sign_in"] != true || r.obj["conversation"] != nil {
		t.Errorf("a visitor's answer: %s", r.raw)
	}
	if !strings.Contains(strings.Join(r.header.Values("Set-Cookie"), "\n"), httpapi.VisitorCookie+"=") {
		t.Errorf("no visitor cookie: %v", r.header.Values("Set-Cookie"))
	}
	// A greeting is answered with what the assistant can do; something
	// it does not understand gets the offer of a person, not a handover.
	r = h.do(t, req{method: "POST", path: "/api/v1/assistant/messages", auth: carol, body: map[string]any{"text": "hello", "lang": "en"}, want: 200})
	if r.str("intent") != "greeting" || r.obj["offer_handover"] != false || r.obj["conversation"] != nil {
		t.Errorf("a greeting: %s", r.raw)
	}
	r = h.do(t, req{method: "POST", path: "/api/v1/assistant/messages", auth: carol, body: map[string]any{"text": "recommend a restaurant nearby", "lang": "en"}, want: 200})
	if r.str("intent") != "unknown" || r.obj["offer_handover"] != true || r.obj["conversation"] != nil || !strings.Contains(string(r.raw), `"kind":"handover"`) {
		t.Errorf("an unsure answer: %s", r.raw)
	}
	// A customer without withdrawals is told so, with the article.
	r = h.do(t, req{method: "POST", path: "/api/v1/assistant/messages", auth: carol, body: ask, want: 200})
	if r.obj["sign_in"] != false || !strings.Contains(r.str("text"), "您还没有提现记录") {
		t.Errorf("carol's answer: %s", r.raw)
	}
	h.do(t, req{method: "POST", path: "/api/v1/assistant/messages", auth: carol, body: map[string]any{"text": ""}, invalid: true, want: 422, code: "validation_failed"})
	h.do(t, req{method: "POST", path: "/api/v1/assistant/messages", auth: carol, body: map[string]any{"text": strings.Repeat("提", 501)}, invalid: true, want: 422, code: "validation_failed"})
	h.do(t, req{method: "POST", path: "/api/v1/assistant/messages", auth: carol, body: map[string]any{"text": "hi", "category": "fun"}, invalid: true, want: 422, code: "validation_failed"})
	h.do(t, req{method: "POST", path: "/api/v1/assistant/messages", auth: carol, body: `{"text": "hi", "colour": "red"}`, invalid: true, want: 400, code: "invalid_request"})
	h.do(t, req{method: "POST", path: "/api/v1/assistant/messages", auth: carol, body: `{"text": "hi"}` + big, want: 413, code: "request_too_large"})
	h.do(t, req{method: "POST", path: "/api/v1/assistant/messages", auth: carol, body: "x", ctype: "text/plain", invalid: true, want: 415, code: "unsupported_media_type"})
	h.do(t, req{method: "POST", path: "/api/v1/assistant/messages", auth: "Bearer not-a-session", body: ask, want: 401, code: "unauthorized"})

	// Asking for a person hands the exchange over: the agent reads it.
	r = h.do(t, req{method: "POST", path: "/api/v1/assistant/messages", auth: carol, body: map[string]any{"text": "转人工", "lang": "zh-CN"}, want: 200})
	if r.str("intent") != "talk_to_human" || r.str("conversation", "id") == "" {
		t.Fatalf("handover: %s", r.raw)
	}
	conv := mustConv(t, r.str("conversation", "id"))
	msgs, err := h.desk.Messages(ctx, desk.Agent(424242), conv, 0, 10)
	if err != nil || len(msgs) != 2 || !strings.HasSuffix(msgs[0].Body, "\n我的提现到哪了\n转人工") || strings.Contains(msgs[0].Body, "助手") || !msgs[1].Internal {
		t.Fatalf("the agent's view (the customer's questions, the exchange as a note): %v %v", msgs, err)
	}
	for _, want := range []string{"客户：我的提现到哪了", "客户：转人工", "助手："} {
		if !strings.Contains(msgs[1].Body, want) {
			t.Errorf("the transcript lacks %q: %s", want, msgs[1].Body)
		}
	}
	if cv, err := h.desk.Conversation(ctx, desk.Customer(carolID), conv); err != nil || cv.Category != desk.CategoryTransaction {
		t.Errorf("carol's conversation: %+v %v", cv, err)
	}
	// The handover route: the next questions go to the same open
	// conversation.
	h.do(t, req{method: "POST", path: "/api/v1/assistant/messages", auth: carol, body: map[string]any{"text": "how do I change my bank card", "lang": "en"}, want: 200})
	r = h.do(t, req{method: "POST", path: "/api/v1/assistant/handover", auth: carol, body: map[string]any{"lang": "en"}, want: 201})
	if mustConv(t, r.str("id")) != conv {
		t.Errorf("handover went to another conversation: %s", r.raw)
	}
	msgs, _ = h.desk.Messages(ctx, desk.Agent(424242), conv, 0, 10)
	if len(msgs) != 4 || msgs[2].Body != "how do I change my bank card" || !strings.Contains(msgs[3].Body, "how do I change my bank card") || !msgs[3].Internal {
		t.Errorf("the second handover: %d messages", len(msgs))
	}
	r = h.do(t, req{method: "POST", path: "/api/v1/assistant/handover", noAuth: true, body: map[string]any{"category": "technical"}, want: 201})
	if r.str("category") != "technical" {
		t.Errorf("a new visitor's handover: %s", r.raw)
	}
	h.do(t, req{method: "POST", path: "/api/v1/assistant/handover", auth: carol, body: map[string]any{"category": "fun"}, invalid: true, want: 422, code: "validation_failed"})
	h.do(t, req{method: "POST", path: "/api/v1/assistant/handover", auth: carol, body: `{"colour": "red"}`, invalid: true, want: 400, code: "invalid_request"})
	h.do(t, req{method: "POST", path: "/api/v1/assistant/handover", auth: carol, body: `{}` + big, want: 413, code: "request_too_large"})
	h.do(t, req{method: "POST", path: "/api/v1/assistant/handover", auth: carol, body: "x", ctype: "text/plain", invalid: true, want: 415, code: "unsupported_media_type"})
	h.do(t, req{method: "POST", path: "/api/v1/assistant/handover", auth: "Bearer not-a-session", body: map[string]any{}, want: 401, code: "unauthorized"})
}
