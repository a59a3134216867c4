package web_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/okpay/okpay/agent"
	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/i18n"
)

// This file tests the support desk on the pages over the staff
// environment (staff_test.go), whose server has the desk enabled: the
// agent console at /staff/desk and the chat widget on customer pages.

var (
	deskKeyRE      = regexp.MustCompile(`name="key" value="([^"]+)"`)
	deskScriptTag  = regexp.MustCompile(`<script src="/static/(?:app|chat|console|zone)\.js\?v=[0-9a-f]+" defer>`)
	deskScriptTags = regexp.MustCompile(`(?i)<script[^>]*>`)
)

// customerConversation starts a conversation of a (made-up) customer id
// through the desk, with a first message and a file.
func (e *staffEnv) customerConversation(t *testing.T, userID int64, body string) *desk.Conversation {
	t.Helper()
	c, err := e.desk.StartConversation(e.ctx, desk.Customer(userID), desk.StartInput{Category: desk.CategoryTransaction, Body: body,
		Attachments: []desk.AttachmentInput{{Name: "receipt.txt", Data: []byte("Order A-1001, paid 2026-11-24")}}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestDeskConsole walks the console over HTTP without JavaScript: the
// inbox views, a conversation with its messages, a reply and an internal
// note (sent once whatever the retries), assign to me, status changes,
// read receipts, the attachment download, and the answers console.js
// gets as JSON.
func TestDeskConsole(t *testing.T) {
	t.Parallel()
	e := newStaffEnv(t, agent.Config{})
	sup := e.newMember(t, agent.RoleSupervisor)
	other := e.newMember(t, agent.RoleSupervisor)
	worker := e.newMember(t, agent.RoleAgent)
	conv := e.customerConversation(t, 424242, "我的转账还没有到账")
	ref := desk.ConversationRef(conv.ID)

	// The nav links the console for those who may read conversations.
	wantContains(t, sup.c.get("/staff/").body, `data-testid="nav-staff-desk"`)
	// The inbox: unassigned lists it, mine does not (yet).
	res := sup.c.get("/staff/desk?view=unassigned")
	wantStatus(t, res, http.StatusOK)
	wantContains(t, res.body, `data-conversation="`+ref+`"`, e.text(i18n.En, "desk.category.transaction"), e.text(i18n.En, "console.unassigned"))
	if strings.Contains(sup.c.get("/staff/desk").body, ref) {
		t.Error("an unassigned conversation is in the agent's own view")
	}
	if strings.Contains(sup.c.get("/staff/desk?view=all&category=account").body, ref) {
		t.Error("the category filter lets a transaction conversation through")
	}
	wantContains(t, sup.c.get("/staff/desk?view=all&status=open").body, ref)

	// The conversation.
	res = sup.c.get("/staff/desk/conversation?id=" + ref)
	wantStatus(t, res, http.StatusOK)
	wantContains(t, res.body, "我的转账还没有到账", "receipt.txt", `data-testid="desk-assign"`, `data-last-seq="1"`)
	wantStatus(t, sup.c.get("/staff/desk/conversation?id=cnv_0000000000001"), http.StatusNotFound)
	wantStatus(t, sup.c.get("/staff/desk/conversation?id=nonsense"), http.StatusNotFound)

	// A reply, posted twice with the page's key: sent once.
	key := deskKeyRE.FindStringSubmatch(res.body)[1]
	form := url.Values{"id": {ref}, "key": {key}, "body": {"您好，我们正在查询。"}}
	wantRedirect(t, sup.c.post("/staff/desk/reply", form), "/staff/desk/conversation?id="+ref+"&done=sent")
	wantRedirect(t, sup.c.post("/staff/desk/reply", form), "/staff/desk/conversation?id="+ref+"&done=sent")
	// An internal note: staff only.
	wantRedirect(t, sup.c.post("/staff/desk/note", url.Values{"id": {ref}, "key": {"note-key-1"}, "note": {"Bank says next business day"}}), "/staff/desk/conversation?id="+ref)
	seen, err := e.desk.Messages(e.ctx, desk.Customer(424242), conv.ID, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != 2 || seen[1].Body != "您好，我们正在查询。" || seen[1].Author != desk.KindAgent {
		t.Fatalf("the customer's messages: %+v", seen)
	}
	page := sup.c.get("/staff/desk/conversation?id=" + ref)
	wantContains(t, page.body, "Bank says next business day", e.text(i18n.En, "console.note_badge"))
	// A long Chinese reply fits the form (5,000 characters).
	long := strings.Repeat("款", 5000)
	wantRedirect(t, sup.c.post("/staff/desk/reply", url.Values{"id": {ref}, "key": {"long-1"}, "body": {long}}), "/staff/desk/conversation?id="+ref)
	res = sup.c.post("/staff/desk/reply", url.Values{"id": {ref}, "key": {"long-2"}, "body": {long + "款"}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantContains(t, res.body, e.text(i18n.En, "console.error.body"))
	// An empty reply is refused with the reason, on the page.
	res = sup.c.post("/staff/desk/reply", url.Values{"id": {ref}, "key": {"empty-1"}, "body": {"  "}})
	wantStatus(t, res, http.StatusUnprocessableEntity)

	// console.js: JSON answers, the message frame.
	res = sup.c.doHeaders(http.MethodPost, "/staff/desk/reply", url.Values{"id": {ref}, "key": {"js-1"}, "body": {"from the script"}},
		map[string]string{"Accept": "application/json"})
	wantStatus(t, res, http.StatusOK)
	var frame struct {
		Type    string `json:"type"`
		Message struct {
			Seq      int64  `json:"seq"`
			Body     string `json:"body"`
			AuthorID string `json:"author_id"`
		} `json:"message"`
	}
	if err := json.Unmarshal([]byte(res.body), &frame); err != nil || frame.Type != "message" || frame.Message.Body != "from the script" || frame.Message.AuthorID != sup.agent.Ref() {
		t.Fatalf("JSON reply: %s %v", res.body, err)
	}
	res = sup.c.doHeaders(http.MethodPost, "/staff/desk/reply", url.Values{"id": {ref}, "key": {"js-1"}, "body": {"another text, same key"}},
		map[string]string{"Accept": "application/json"})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantContains(t, res.body, `"error"`)

	// Read receipts (the customer sees "Seen").
	res = sup.c.doHeaders(http.MethodPost, "/staff/desk/read", url.Values{"id": {ref}, "seq": {"99"}}, map[string]string{"Accept": "application/json"})
	wantStatus(t, res, http.StatusOK)
	reads, err := e.desk.Reads(e.ctx, desk.Customer(424242), conv.ID)
	if err != nil || len(reads) != 1 || reads[0].Reader != desk.KindAgent {
		t.Fatalf("reads: %+v %v", reads, err)
	}

	// Assign to me; another supervisor then finds it taken; an agent
	// without conversation:assign gets 403.
	wantRedirect(t, sup.c.post("/staff/desk/assign", url.Values{"id": {ref}}), "/staff/desk/conversation?id="+ref+"&done=assigned")
	wantContains(t, sup.c.get("/staff/desk").body, ref)
	res = other.c.post("/staff/desk/assign", url.Values{"id": {ref}})
	wantStatus(t, res, http.StatusConflict)
	wantContains(t, res.body, e.text(i18n.En, "console.error.taken"))
	wantStatus(t, worker.c.post("/staff/desk/assign", url.Values{"id": {ref}}), http.StatusForbidden)
	wantStatus(t, worker.c.get("/staff/desk/conversation?id="+ref), http.StatusOK) // reading is allowed

	// Routing: the other supervisor hands it to the worker, in the payments
	// team, urgent, about a transaction; each change is in the history.
	// "Assign to me" shows only on an unassigned conversation.
	convPage := other.c.get("/staff/desk/conversation?id=" + ref)
	// The channel and language are named, not coded ("chat · en").
	wantContains(t, convPage.body, `data-testid="desk-channel">`+e.text(i18n.En, "desk.channel.chat")+` · English</dd>`)
	wantContains(t, convPage.body, `data-testid="desk-route"`, `value="`+worker.agent.Ref()+`"`)
	if strings.Contains(convPage.body, `data-testid="desk-assign"`) {
		t.Error("Assign to me shows on a conversation someone has")
	}
	if strings.Contains(worker.c.get("/staff/desk/conversation?id="+ref).body, `data-testid="desk-route"`) {
		t.Error("an agent without conversation:assign sees the routing form")
	}
	route := url.Values{"id": {ref}, "agent": {worker.agent.Ref()}, "team": {"payments"}, "priority": {"urgent"}, "category": {"transaction"}}
	wantStatus(t, worker.c.post("/staff/desk/route", route), http.StatusForbidden)
	bad := url.Values{"id": {ref}, "agent": {"agt_notanagent"}, "team": {"general"}}
	wantStatus(t, other.c.post("/staff/desk/route", bad), http.StatusUnprocessableEntity)
	wantRedirect(t, other.c.post("/staff/desk/route", route), "/staff/desk/conversation?id="+ref+"&done=routed")
	got, err := e.desk.Conversation(e.ctx, desk.System, conv.ID)
	if err != nil || got.AssigneeID != worker.agent.ID || got.Team != "payments" || got.Priority != desk.PriorityUrgent || got.Category != desk.CategoryTransaction {
		t.Fatalf("routed: %+v %v", got, err)
	}
	wantContains(t, other.c.get("/staff/desk/conversation?id="+ref+"&done=routed").body, e.text(i18n.En, "console.notice.routed"))
	// And back to the queue, then to the supervisor again (Assign to me).
	wantRedirect(t, other.c.post("/staff/desk/route", url.Values{"id": {ref}, "agent": {""}}), "/staff/desk/conversation?id="+ref+"&done=routed")
	if got, _ := e.desk.Conversation(e.ctx, desk.System, conv.ID); got.AssigneeID != 0 || got.Team != "payments" {
		t.Fatalf("back to the queue: %+v", got)
	}
	wantContains(t, sup.c.get("/staff/desk/conversation?id="+ref).body, `data-testid="desk-assign"`)
	wantRedirect(t, sup.c.post("/staff/desk/assign", url.Values{"id": {ref}}), "/staff/desk/conversation?id="+ref+"&done=assigned")

	// Status: pending, snoozed, resolved, closed; then nothing more.
	wantRedirect(t, sup.c.post("/staff/desk/status", url.Values{"id": {ref}, "status": {"pending"}}), "/staff/desk/conversation?id="+ref)
	wantRedirect(t, sup.c.post("/staff/desk/status", url.Values{"id": {ref}, "status": {"snoozed"}, "snooze_hours": {"4"}}), "/staff/desk/conversation?id="+ref)
	c, _ := e.desk.Conversation(e.ctx, desk.Agent(sup.agent.ID), conv.ID)
	if c.Status != desk.StatusSnoozed || !c.SnoozedUntil.Equal(e.clock.Now().Add(4*time.Hour)) {
		t.Fatalf("snoozed: %+v", c)
	}
	wantRedirect(t, sup.c.post("/staff/desk/status", url.Values{"id": {ref}, "status": {"closed"}}), "/staff/desk/conversation?id="+ref)
	res = sup.c.post("/staff/desk/status", url.Values{"id": {ref}, "status": {"open"}})
	wantStatus(t, res, http.StatusConflict)
	wantContains(t, res.body, e.text(i18n.En, "console.error.transition"))
	res = sup.c.post("/staff/desk/reply", url.Values{"id": {ref}, "key": {"after-close"}, "body": {"hello?"}})
	wantStatus(t, res, http.StatusConflict)
	wantContains(t, res.body, e.text(i18n.En, "console.error.closed"))
	if strings.Contains(sup.c.get("/staff/desk").body, ref) {
		t.Error("a closed conversation is in the active view")
	}
	wantContains(t, sup.c.get("/staff/desk?view=all&status=closed").body, ref)

	// The customer's file, as a download.
	msgs, _ := e.desk.Messages(e.ctx, desk.Agent(sup.agent.ID), conv.ID, 0, 1)
	att := desk.AttachmentRef(msgs[0].Attachments[0].ID)
	res = sup.c.get("/staff/desk/attachment?id=" + att)
	wantStatus(t, res, http.StatusOK)
	if res.body != "Order A-1001, paid 2026-11-24" || res.Header.Get("Content-Type") != "application/octet-stream" ||
		!strings.HasPrefix(res.Header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("download: %v %q", res.Header, res.body)
	}
	wantStatus(t, sup.c.get("/staff/desk/attachment?id=att_0000000000001"), http.StatusNotFound)
}

// TestDeskPagesRenderInBothLanguages: the console's pages and the chat
// widget in both languages: translated, labelled, no inline code, only
// the site's own scripts; the widget shows on customer and public pages
// and never on staff pages.
func TestDeskPagesRenderInBothLanguages(t *testing.T) {
	t.Parallel()
	e := newStaffEnv(t, agent.Config{})
	sup := e.newMember(t, agent.RoleSupervisor)
	conv := e.customerConversation(t, 515151, "hello")
	if _, err := e.desk.SendMessage(e.ctx, desk.Agent(sup.agent.ID), conv.ID, desk.MessageInput{Body: "note", Internal: true}); err != nil {
		t.Fatal(err)
	}
	cust := e.client()
	e.signUp(cust)
	anon := e.client()
	for _, l := range []i18n.Lang{i18n.En, i18n.ZhCN} {
		for _, p := range []struct {
			name string
			c    *client
			path string
		}{
			{"inbox", sup.c, "/staff/desk?view=all"},
			{"conversation", sup.c, "/staff/desk/conversation?id=" + desk.ConversationRef(conv.ID)},
			{"home (public)", anon, "/"},
			{"account (customer)", cust, "/account"},
		} {
			p.c.lang = string(l)
			res := p.c.get(p.path)
			wantStatus(t, res, http.StatusOK)
			body := res.body
			if !strings.Contains(body, `<html lang="`+string(l)+`">`) {
				t.Errorf("%s (%s): not in %s", p.name, l, l)
			}
			for _, m := range regexp.MustCompile(`\b(?:console|chat|desk)\.[a-z_]+\.[a-z_.]+\b`).FindAllString(body, -1) {
				t.Errorf("%s (%s): untranslated id %q", p.name, l, m)
			}
			for _, s := range deskScriptTags.FindAllString(body, -1) {
				if !deskScriptTag.MatchString(s) {
					t.Errorf("%s (%s): script %s", p.name, l, s)
				}
			}
			if m := inlineBadBits.FindString(body); m != "" {
				t.Errorf("%s (%s): inline code or a foreign host: %q", p.name, l, m)
			}
			for _, in := range inputTag.FindAllString(body, -1) {
				if strings.Contains(in, `type="hidden"`) {
					continue
				}
				if m := attrID.FindStringSubmatch(in); m == nil || !strings.Contains(body, `<label for="`+m[1]+`"`) {
					t.Errorf("%s (%s): input without a label: %s", p.name, l, in)
				}
			}
			widget := strings.Contains(body, `data-testid="chat"`)
			if staff := strings.HasPrefix(p.path, "/staff/"); widget == staff {
				t.Errorf("%s (%s): chat widget shown %v", p.name, l, widget)
			}
			if widget {
				wantContains(t, body, e.text(l, "chat.open"), e.text(l, "desk.category.security_privacy"), `data-api="/api/v1"`)
			}
		}
	}
}

// TestDeskConsoleViewsCannedMentions: the inbox views (my teams,
// mentions with their badge, SLA), canned responses (the management page
// needs canned:manage; the composer offers them in the conversation's
// language, also without JavaScript), @mentions in notes and the
// collision notice's endpoint.
func TestDeskConsoleViewsCannedMentions(t *testing.T) {
	t.Parallel()
	e := newStaffEnv(t, agent.Config{})
	sup := e.newMember(t, agent.RoleSupervisor)
	other := e.newMember(t, agent.RoleSupervisor)
	worker := e.newMember(t, agent.RoleAgent)
	conv := e.customerConversation(t, 636363, "I was charged twice")
	ref := desk.ConversationRef(conv.ID)
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := e.desk.DB.Write.ExecContext(e.ctx, q, args...); err != nil {
			t.Fatal(err)
		}
	}

	// The canned responses' page: canned:manage only.
	wantStatus(t, worker.c.get("/staff/canned"), http.StatusForbidden)
	wantStatus(t, worker.c.post("/staff/canned", url.Values{"shortcut": {"x"}, "title": {"x"}, "body_en": {"x"}}), http.StatusForbidden)
	wantStatus(t, worker.c.post("/staff/canned/delete", url.Values{"id": {"cnd_0000000000001"}}), http.StatusForbidden)
	res := sup.c.get("/staff/canned")
	wantStatus(t, res, http.StatusOK)
	wantContains(t, res.body, `data-shortcut="refund-time"`, "退款")
	wantContains(t, sup.c.get("/staff/desk").body, `data-testid="desk-canned-link"`)
	if strings.Contains(worker.c.get("/staff/desk").body, `data-testid="desk-canned-link"`) {
		t.Error("the canned link shows without canned:manage")
	}
	wantRedirect(t, sup.c.post("/staff/canned", url.Values{"shortcut": {"double-charge"}, "title": {"Double charge"},
		"body_en": {"We are refunding the second charge."}, "body_zh": {"我们正在退还重复扣款。"}, "team": {"general"}}), "/staff/canned?done=saved")
	res = sup.c.post("/staff/canned", url.Values{"shortcut": {"double-charge"}, "title": {"Again"}, "body_en": {"x"}, "team": {"general"}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantContains(t, res.body, e.text(i18n.En, "console.canned.error.taken"))
	res = sup.c.post("/staff/canned", url.Values{"shortcut": {"Bad Shortcut"}, "title": {""}, "body_en": {""}, "team": {"no-such-team"}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantContains(t, res.body, e.text(i18n.En, "console.canned.error.team"))
	res = sup.c.post("/staff/canned", url.Values{"shortcut": {"Bad Shortcut"}, "title": {""}, "body_en": {""}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantContains(t, res.body, e.text(i18n.En, "console.canned.error.shortcut"), e.text(i18n.En, "console.canned.error.title"))
	all, err := e.desk.AllCanned(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	var mine *desk.Canned
	for _, c := range all {
		if c.Shortcut == "double-charge" {
			mine = c
		}
	}
	if mine == nil || mine.Team != "general" || mine.CreatedBy != sup.agent.ID {
		t.Fatalf("created: %+v", mine)
	}
	wantContains(t, sup.c.get("/staff/canned?edit="+mine.Ref()).body, `value="double-charge"`, `name="id" value="`+mine.Ref()+`"`)
	wantStatus(t, sup.c.get("/staff/canned?edit=cnd_0000000000001"), http.StatusNotFound)

	// The composer offers them in the conversation's language; without
	// JavaScript the select comes back with the reply written.
	page := sup.c.get("/staff/desk/conversation?id=" + ref)
	wantContains(t, page.body, `data-testid="desk-canned-select"`, `data-shortcut="double-charge"`, `data-shortcut="refund-time"`)
	body := mine.Body(conv.Lang)
	res = sup.c.get("/staff/desk/conversation?id=" + ref + "&canned=" + mine.Ref())
	wantStatus(t, res, http.StatusOK)
	if !strings.Contains(res.body, `aria-describedby="reply-hint">`+body+`</textarea>`) {
		t.Fatalf("the reply does not start with %q", body)
	}
	wantRedirect(t, sup.c.post("/staff/canned/delete", url.Values{"id": {mine.Ref()}}), "/staff/canned?done=deleted")
	wantStatus(t, sup.c.post("/staff/canned/delete", url.Values{"id": {mine.Ref()}}), http.StatusNotFound)

	// @mentions: by display name and by email local part; unknown names
	// stay text. The mentioned agent gets the badge and the view until
	// they open the conversation.
	if strings.Contains(other.c.get("/staff/desk").body, `data-testid="desk-mentions-badge"`) {
		t.Fatal("a badge before any mention")
	}
	local := strings.Split(other.agent.Email, "@")[0]
	wantRedirect(t, sup.c.post("/staff/desk/note", url.Values{"id": {ref}, "key": {"m-1"},
		"note": {"@" + other.agent.DisplayName + " and @nobody-here, see this"}}), "/staff/desk/conversation?id="+ref)
	res = other.c.get("/staff/desk")
	wantContains(t, res.body, `data-testid="desk-mentions-badge">1<`)
	wantContains(t, other.c.get("/staff/desk?view=mentions").body, `data-conversation="`+ref+`"`)
	if strings.Contains(worker.c.get("/staff/desk?view=mentions").body, ref) {
		t.Error("an agent nobody mentioned sees the conversation in mentions")
	}
	wantStatus(t, other.c.get("/staff/desk/conversation?id="+ref), http.StatusOK)
	if strings.Contains(other.c.get("/staff/desk").body, `data-testid="desk-mentions-badge"`) {
		t.Error("the badge stays after opening the conversation")
	}
	wantContains(t, other.c.get("/staff/desk?view=mentions").body, `data-conversation="`+ref+`"`) // still listed, seen
	wantRedirect(t, sup.c.post("/staff/desk/note", url.Values{"id": {ref}, "key": {"m-2"}, "note": {"cc @" + local + "."}}), "/staff/desk/conversation?id="+ref)
	wantContains(t, other.c.get("/staff/desk").body, `data-testid="desk-mentions-badge">1<`)
	if n, _ := e.desk.UnseenMentions(e.ctx, worker.agent.ID); n != 0 {
		t.Fatalf("worker has %d mentions", n)
	}

	// My teams: the conversations of the agent's teams (general).
	exec(`UPDATE desk_conversations SET team = 'security' WHERE id = $1`, conv.ID)
	if strings.Contains(worker.c.get("/staff/desk?view=teams&status=any").body, ref) {
		t.Error("another team's conversation in my teams")
	}
	exec(`UPDATE desk_conversations SET team = 'general' WHERE id = $1`, conv.ID)
	wantContains(t, worker.c.get("/staff/desk?view=teams&status=any").body, `data-conversation="`+ref+`"`, `data-testid="desk-view-teams" aria-current="page"`)

	// SLA: breached and due soon.
	exec(`DELETE FROM desk_sla_timers WHERE conversation_id = $1`, conv.ID)
	now := e.clock.Now().UnixMicro()
	exec(`INSERT INTO desk_sla_timers (conversation_id, metric, policy, started_at, due_at, breached_at) VALUES ($1, 'first_response', 'normal', $2, $3, $3)`,
		conv.ID, now-int64(time.Hour/time.Microsecond), now-1)
	res = worker.c.get("/staff/desk?view=sla")
	wantContains(t, res.body, `data-conversation="`+ref+`"`, `data-testid="desk-sla-badge" data-metric="first_response"`, e.text(i18n.En, "console.sla.metric.first_response"))
	if strings.Contains(worker.c.get("/staff/desk?view=sla&sla=soon").body, `data-conversation="`+ref+`"`) {
		t.Error("a breached conversation is due soon")
	}

	// The collision notice's beat: any reader; the conversation must exist.
	res = worker.c.doHeaders(http.MethodPost, "/staff/desk/viewing", url.Values{"id": {ref}, "state": {"replying"}}, map[string]string{"Accept": "application/json"})
	wantStatus(t, res, http.StatusOK)
	wantStatus(t, worker.c.post("/staff/desk/viewing", url.Values{"id": {"cnv_0000000000001"}}), http.StatusNotFound)
}

// TestDeskConsoleEmailFromStranger: a conversation started by mail from
// someone who is not a customer shows who wrote (the address) and its
// subject; it said "Visitor (not signed in)" and showed no subject.
func TestDeskConsoleEmailFromStranger(t *testing.T) {
	t.Parallel()
	e := newStaffEnv(t, agent.Config{})
	sup := e.newMember(t, agent.RoleSupervisor)
	c, err := e.desk.StartConversation(e.ctx, desk.Visitor("mail-visitor-0000000000001"), desk.StartInput{Channel: desk.ChannelEmail,
		Category: desk.CategoryAccount, Subject: "Card declined at the shop", Body: "Why was my card declined?"})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.desk.SetChannelMeta(e.ctx, desk.System, c.ID, map[string]string{"email": "someone@example.com"}); err != nil {
		t.Fatal(err)
	}
	for _, l := range []i18n.Lang{i18n.En, i18n.ZhCN} {
		sup.c.lang = string(l)
		res := sup.c.get("/staff/desk/conversation?id=" + desk.ConversationRef(c.ID))
		wantStatus(t, res, http.StatusOK)
		wantContains(t, res.body, `data-testid="desk-subject">Card declined at the shop</p>`,
			`data-testid="desk-customer">`+e.text(l, "console.email_sender", "Address", "someone@example.com")+`</dd>`)
	}
}
