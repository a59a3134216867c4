package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/okpay/okpay/agent"
	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/desk/visitorcookie"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/internal/tokentest"
)

// TestContactLinkPage: a visitor's email confirmation link shows the
// conversation and the address (both languages) and opening it confirms
// nothing; its button confirms, once; a forged link is 400, and without
// the visitor emails the page is 404. The console shows the address
// beside the visitor's conversation, and whether it was confirmed; the
// chat widget offers the email form to visitors only.
func TestContactLinkPage(t *testing.T) {
	t.Parallel()
	e := newStaffEnv(t, agent.Config{})
	c := e.client()
	wantStatus(t, c.get(desk.ContactPath+"0000000000001.aaaaaaaaaaaaa.aaaaaaaaaaaaaaaa"), http.StatusNotFound)
	if strings.Contains(c.get("/").body, `data-testid="chat-contact"`) {
		t.Fatal("the widget offers the email form without the visitor emails")
	}

	d := e.id.Deps
	ve, err := desk.NewVisitorEmails(e.desk, desk.VisitorEmailDeps{Outbox: e.outbox, Catalog: e.cat, Links: d.Keys.MAC("desk.visitor-email-link"), BaseURL: "http://okpay.test"})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.server.EnableVisitorEmails(ve); err != nil {
		t.Fatal(err)
	}
	wantContains(t, c.get("/").body, `data-testid="chat-contact"`, `data-contact="true"`)

	sup := e.newMember(t, agent.RoleSupervisor)
	vis := desk.Visitor("vis_contactlinkpage01234567")
	conv, err := e.desk.StartConversation(e.ctx, vis, desk.StartInput{Category: desk.CategoryAccount, Body: "Is my card <blocked>?"})
	if err != nil {
		t.Fatal(err)
	}
	ref := desk.ConversationRef(conv.ID)
	console := func() string {
		t.Helper()
		res := sup.c.get("/staff/desk/conversation?id=" + ref)
		wantStatus(t, res, http.StatusOK)
		return res.body
	}
	if strings.Contains(console(), `data-testid="desk-visitor-email"`) {
		t.Fatal("a visitor email before any was left")
	}
	left, _, err := ve.Request(e.ctx, vis, conv.ID, "li.wei@example.cn", i18n.ZhCN)
	if err != nil {
		t.Fatal(err)
	}
	wantContains(t, console(), `data-testid="desk-visitor-email" data-confirmed="false">li.wei@example.cn`, e.text(i18n.En, "deskcontact.console.pending"))
	token := ve.Token(conv.ID, left.RequestedAt, left.Email)
	// The mail carries that link.
	if m := e.waitMail("li.wei@example.cn", desk.NoteContactConfirm, ""); !strings.Contains(m.Body, "http://okpay.test"+desk.ContactPath+token) {
		t.Fatal("the confirmation mail has no link")
	}

	for _, l := range []i18n.Lang{i18n.En, i18n.ZhCN} {
		c.lang = string(l)
		page := c.get(desk.ContactPath + token)
		wantStatus(t, page, http.StatusOK)
		wantContains(t, page.body, `data-testid="contact-link-form"`, `value="`+token+`"`,
			e.text(l, "deskcontact.page.lead", "Ref", ref, "Email", "li.wei@example.cn"), e.text(l, "deskcontact.page.confirm"))
	}
	if got, _ := ve.Of(e.ctx, vis, conv.ID); got.Confirmed() {
		t.Fatal("opening the link confirmed")
	}
	c.lang = "en"
	for range 2 { // confirming again answers the same
		page := c.post(desk.ContactPath, url.Values{"token": {token}})
		wantStatus(t, page, http.StatusOK)
		wantContains(t, page.body, `data-testid="contact-link-done"`, e.text(i18n.En, "deskcontact.page.done.body", "Ref", ref, "Email", "li.wei@example.cn"))
	}
	if got, _ := ve.Of(e.ctx, vis, conv.ID); !got.Confirmed() {
		t.Fatal("not confirmed")
	}
	wantContains(t, c.get(desk.ContactPath+token).body, `data-testid="contact-link-done"`)
	wantContains(t, console(), `data-testid="desk-visitor-email" data-confirmed="true">li.wei@example.cn`, e.text(i18n.En, "deskcontact.console.confirmed"))

	// Forged, or replaced by a later request.
	e.clock.Advance(2 * time.Minute)
	if _, _, err := ve.Request(e.ctx, vis, conv.ID, "other@example.cn", i18n.En); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{token, tokentest.Forged(token, -1), "nope"} {
		page := c.get(desk.ContactPath + bad)
		wantStatus(t, page, http.StatusBadRequest)
		wantContains(t, page.body, `data-testid="contact-link-invalid"`, e.text(i18n.En, "deskcontact.page.invalid.body"))
	}
	wantStatus(t, c.post(desk.ContactPath, url.Values{"token": {token}}), http.StatusBadRequest)
	wantContains(t, console(), `data-confirmed="false">other@example.cn`)
}

// TestContinueLinkPage: a reply mail's continuation link shows the
// conversation (both languages) and opening it moves nothing; its button
// makes this browser the conversation's visitor — a new visitor cookie
// when it has none, its own when it has one — and goes to the chat with
// the conversation open; a forged link is 400.
func TestContinueLinkPage(t *testing.T) {
	t.Parallel()
	e := newStaffEnv(t, agent.Config{})
	ve, err := desk.NewVisitorEmails(e.desk, desk.VisitorEmailDeps{Outbox: e.outbox, Catalog: e.cat, Links: e.id.Deps.Keys.MAC("desk.visitor-email-link"), BaseURL: "http://okpay.test"})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.server.EnableVisitorEmails(ve); err != nil {
		t.Fatal(err)
	}
	first := desk.Visitor("vis_continuelinkpage0123456")
	conv, err := e.desk.StartConversation(e.ctx, first, desk.StartInput{Category: desk.CategoryAccount, Body: "hello"})
	if err != nil {
		t.Fatal(err)
	}
	left, _, err := ve.Request(e.ctx, first, conv.ID, "li@example.cn", i18n.En)
	if err != nil {
		t.Fatal(err)
	}
	conf, err := ve.Confirm(e.ctx, ve.Token(conv.ID, left.RequestedAt, left.Email))
	if err != nil {
		t.Fatal(err)
	}
	token := ve.ContinueToken(conv.ID, e.clock.Now(), conf.Email, conf.ConfirmedAt)
	ref := desk.ConversationRef(conv.ID)
	owner := func() string {
		t.Helper()
		c, err := e.desk.Conversation(e.ctx, desk.System, conv.ID)
		if err != nil {
			t.Fatal(err)
		}
		return c.VisitorID
	}

	phone := e.client()
	for _, l := range []i18n.Lang{i18n.En, i18n.ZhCN} {
		phone.lang = string(l)
		page := phone.get(desk.ContinuePath + token)
		wantStatus(t, page, http.StatusOK)
		wantContains(t, page.body, `data-testid="continue-link-form"`, `value="`+token+`"`, e.text(l, "deskcontact.continue.lead", "Ref", ref))
	}
	if owner() != first.VisitorID || phone.cookie(visitorcookie.Name) != "" {
		t.Fatal("opening the link moved the conversation or gave a cookie")
	}
	// A browser without a visitor cookie gets one, and the conversation.
	res := phone.post(desk.ContinuePath, url.Values{"token": {token}})
	wantRedirect(t, res, "/?chat="+ref)
	tok := phone.cookie(visitorcookie.Name)
	if tok == "" || phone.cookie(visitorcookie.MarkerName) != "1" || owner() != visitorcookie.ID(tok) {
		t.Fatalf("after following: cookie %q, owner %q", tok, owner())
	}
	// A browser with its own visitor cookie keeps it.
	laptop := e.client()
	mine := visitorcookie.New()
	laptop.cookies[visitorcookie.Name] = &http.Cookie{Name: visitorcookie.Name, Value: mine}
	wantRedirect(t, laptop.post(desk.ContinuePath, url.Values{"token": {token}}), "/?chat="+ref)
	if laptop.cookie(visitorcookie.Name) != mine || owner() != visitorcookie.ID(mine) {
		t.Fatalf("the laptop: cookie %q, owner %q", laptop.cookie(visitorcookie.Name), owner())
	}
	// Forged.
	for _, bad := range []string{tokentest.Forged(token, -1), "nope"} {
		page := phone.get(desk.ContinuePath + bad)
		wantStatus(t, page, http.StatusBadRequest)
		wantContains(t, page.body, `data-testid="continue-link-invalid"`)
	}
	wantStatus(t, phone.post(desk.ContinuePath, url.Values{"token": {"nope"}}), http.StatusBadRequest)
	if owner() != visitorcookie.ID(mine) {
		t.Fatal("a forged link moved the conversation")
	}
}
