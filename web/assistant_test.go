package web_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/okpay/okpay/agent"
	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/httpapi"
	"github.com/okpay/okpay/i18n"
)

// TestChatSelfServiceWidget: the widget has its self-service part (the
// suggestions, "This solved it", the assistant) only once
// EnableChatSelfService was called, which needs the desk and the help
// center.
func TestChatSelfServiceWidget(t *testing.T) {
	t.Parallel()
	e, _ := newHelpEnv(t)
	res := e.client().get("/help")
	wantStatus(t, res, http.StatusOK)
	wantContains(t, res.body, `data-self-service="false"`)
	if strings.Contains(res.body, `data-testid="chat-self"`) {
		t.Fatal("self-service shown before it was enabled")
	}
	if err := e.server.EnableChatSelfService(); err != nil {
		t.Fatal(err)
	}
	for _, l := range i18n.Langs() {
		c := e.client()
		c.lang = string(l)
		res = c.get("/help")
		wantStatus(t, res, http.StatusOK)
		wantContains(t, res.body, `data-self-service="true"`, `data-testid="chat-self"`, `data-testid="chat-ask"`, `data-testid="chat-human"`,
			`data-testid="chat-solved"`, e.text(l, "assistant.widget.solved"), e.text(l, "assistant.widget.ask"))
	}
	// Without the help center it cannot be enabled.
	other := newStaffEnv(t, agent.Config{})
	if err := other.server.EnableChatSelfService(); err == nil {
		t.Error("self-service enabled without the help center")
	}
}

// TestHelpDeflectionsReport: the help reports page (the searches that
// found nothing, report:read) lists the chat attempts a suggested article
// ended, per article and day.
func TestHelpDeflectionsReport(t *testing.T) {
	t.Parallel()
	e, svc := newHelpEnv(t)
	c := e.newMember(t, agent.RoleSupervisor).c
	res := c.get("/staff/help/misses")
	wantStatus(t, res, http.StatusOK)
	wantContains(t, res.body, `data-testid="helped-deflections-empty"`, e.text(i18n.En, "helped.deflections.title"))
	a, err := svc.Published(e.ctx, "withdrawal-review", i18n.ZhCN)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"v1", "v2", "v1"} {
		if _, err := svc.Deflect(e.ctx, a.ID, v); err != nil {
			t.Fatal(err)
		}
	}
	day := e.clock.Now().UTC().Format("2006-01-02")
	res = c.get("/staff/help/misses")
	wantStatus(t, res, http.StatusOK)
	wantContains(t, res.body, `data-testid="helped-deflection" data-day="`+day+`" data-slug="withdrawal-review" data-locale="zh-CN" data-count="2"`)
	if strings.Contains(res.body, `data-testid="helped-deflections-empty"`) {
		t.Error("the report still says none")
	}
}

// apiJSON sends a JSON request to the API on c's handler with c's cookies,
// as the chat widget's fetch does, and keeps the cookies it sets.
func apiJSON(c *client, method, path, body string) *response {
	c.t.Helper()
	saved := c.h
	c.h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = io.NopCloser(strings.NewReader(body))
		r.ContentLength = int64(len(body))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Accept", "application/json")
		saved.ServeHTTP(w, r)
	})
	defer func() { c.h = saved }()
	return c.do(method, path, nil)
}

// TestAssistantVisitorTurnsCarriedOver: a visitor greets the assistant
// (a greeting, no handover), asks about a deposit (a sign-in link, no
// data) and something unclear (the offer of a person, no handover), then
// signs up in the same browser. Their next question claims
// the exchange: asking for a person hands over one transcript holding
// the visitor's questions, marked as asked before signing in and still
// without the customer's data, and the customer's own answer with it.
// Whoever uses the visitor cookie afterwards reads nothing.
func TestAssistantVisitorTurnsCarriedOver(t *testing.T) {
	e := newAssistantEnv(t)
	c := e.client()
	c.lang = "zh-CN"
	res := apiJSON(c, http.MethodPost, "/api/v1/assistant/messages", `{"text": "你好", "lang": "zh-CN"}`)
	wantStatus(t, res, http.StatusOK)
	wantContains(t, res.body, `"intent":"greeting"`, `"conversation":null`, `"offer_handover":false`)
	vt := c.cookie(httpapi.VisitorCookie)
	if vt == "" {
		t.Fatal("no visitor cookie")
	}
	res = apiJSON(c, http.MethodPost, "/api/v1/assistant/messages", `{"text": "我的充值到账了吗", "lang": "zh-CN"}`)
	wantStatus(t, res, http.StatusOK)
	wantContains(t, res.body, `"intent":"deposit_status"`, `"sign_in":true`)
	// An unclear question: the offer, no conversation.
	res = apiJSON(c, http.MethodPost, "/api/v1/assistant/messages", `{"text": "推荐一家附近的餐厅", "lang": "zh-CN"}`)
	wantStatus(t, res, http.StatusOK)
	wantContains(t, res.body, `"intent":"unknown"`, `"offer_handover":true`, `"kind":"handover"`, `"conversation":null`)

	alice := e.signUp(c)
	uid := e.walletUser(alice)
	if c.cookie(httpapi.VisitorCookie) != vt {
		t.Fatal("signing up dropped the visitor cookie")
	}
	res = apiJSON(c, http.MethodPost, "/api/v1/assistant/messages", `{"text": "我的充值到账了吗", "lang": "zh-CN"}`)
	wantStatus(t, res, http.StatusOK)
	none := e.text(i18n.ZhCN, "assistant.none.deposit") // the customer's own records
	wantContains(t, res.body, `"sign_in":false`, none)
	if c.cookie(httpapi.VisitorCookie) != "" {
		t.Error("the visitor cookie survived the claim")
	}
	res = apiJSON(c, http.MethodPost, "/api/v1/assistant/messages", `{"text": "转人工", "lang": "zh-CN"}`)
	wantStatus(t, res, http.StatusOK)
	wantContains(t, res.body, `"intent":"talk_to_human"`)
	list, err := e.desk.Conversations(e.ctx, desk.Customer(uid), desk.ConversationFilter{Limit: 5})
	if err != nil || len(list) != 1 {
		t.Fatalf("the customer's conversations: %d %v", len(list), err)
	}
	msgs, err := e.desk.Messages(e.ctx, desk.Agent(1), list[0].ID, 0, 10)
	if err != nil || len(msgs) != 2 {
		t.Fatalf("messages %v %v", msgs, err)
	}
	// The customer's message is their questions; the exchange is the
	// agents' note.
	if msgs[0].Body != "你好\n我的充值到账了吗\n推荐一家附近的餐厅\n我的充值到账了吗\n转人工" || msgs[0].Internal || !msgs[1].Internal {
		t.Errorf("the handover's messages: %q (internal %v), then internal %v", msgs[0].Body, msgs[0].Internal, msgs[1].Internal)
	}
	body := msgs[1].Body
	mark := e.text(i18n.ZhCN, "assistant.transcript.visitor")
	for _, want := range []string{"客户：你好 ", "客户：我的充值到账了吗 ", "客户：推荐一家附近的餐厅", e.text(i18n.ZhCN, "assistant.sign_in"), none, "客户：转人工", mark} {
		if !strings.Contains(body, want) {
			t.Errorf("the transcript lacks %q:\n%s", want, body)
		}
	}
	// The visitor's part (up to the first question without the mark)
	// holds no data of the account.
	lines := strings.Split(body, "\n")
	k := 0
	for k < len(lines) && (!strings.HasPrefix(lines[k], "客户：") || strings.Contains(lines[k], mark)) {
		k++
	}
	if part := strings.Join(lines[:k], "\n"); strings.Count(body, mark) != 3 || strings.Count(part, "客户：") != 3 || strings.Contains(part, none) {
		t.Errorf("the visitor's part:\n%s", body)
	}
	// The old visitor cookie reads nothing and hands nothing over.
	other := e.client()
	other.cookies[httpapi.VisitorCookie] = &http.Cookie{Name: httpapi.VisitorCookie, Value: vt}
	res = apiJSON(other, http.MethodPost, "/api/v1/assistant/handover", `{"lang": "en"}`)
	wantStatus(t, res, http.StatusCreated)
	if strings.Contains(res.body, none) || strings.Contains(res.body, "充值") {
		t.Errorf("the old visitor got %s", res.body)
	}
}
