package web_test

import (
	"context"
	"regexp"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/okpay/okpay/agent"
	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/identity/passkey/passkeytest"
	"github.com/okpay/okpay/internal/browsertest"
)

// TestBrowserConsole drives the agent console in two browser contexts
// (two supervisors): the inbox's keyboard (j/k, Enter, ?), its live update
// when a customer writes (the row moves up, marked unread, no reload),
// the collision notice on both sides (viewing, then replying) and a
// canned response inserted by typing "/" and its shortcut; then one agent
// is disabled and her open console reloads into the sign-in page.
func TestBrowserConsole(t *testing.T) {
	e, _, base := newDeskBrowserEnv(t)
	yes := true
	member := func(email, name, password string) *staffMember {
		a, enr, err := e.staff.Create(e.ctx, e.cli, agent.NewAgent{Email: email, DisplayName: name,
			Roles: []agent.Role{agent.RoleSupervisor}, Teams: []string{"general"}, Languages: []i18n.Lang{i18n.ZhCN, i18n.En}}, agent.Meta{IP: "cli"})
		if err != nil {
			t.Fatal(err)
		}
		m := &staffMember{agent: a, password: password, auth: passkeytest.New(base, "localhost"), c: e.client()}
		e.enrolThroughPages(t, m, enr)
		return m
	}
	ann := member("ann.console@okpay.test", "Ann Console", "lantern harbour quiet evening")
	bo := member("bo.console@okpay.test", "Bo Console", "copper meadow distant thunder")
	const customer = int64(777001)
	older, err := e.desk.StartConversation(e.ctx, desk.Customer(customer), desk.StartInput{Category: desk.CategoryAccount, Body: "first question"})
	if err != nil {
		t.Fatal(err)
	}
	newer, err := e.desk.StartConversation(e.ctx, desk.Customer(customer+1), desk.StartInput{Category: desk.CategoryAccount, Body: "second question"})
	if err != nil {
		t.Fatal(err)
	}
	olderRef, newerRef := desk.ConversationRef(older.ID), desk.ConversationRef(newer.ID)

	root := browsertest.NewWithTimeout(t, 5*time.Minute)
	cookie := func(m *staffMember) network.SetCookieParams {
		return network.SetCookieParams{Name: "__Host-agent", Value: m.c.cookie("__Host-agent"), Path: "/", Secure: &yes, HTTPOnly: &yes, SameSite: network.CookieSameSiteStrict}
	}
	annTab := newDeskTab(t, root, "ann", base, cookie(ann))
	boTab := newDeskTab(t, root, "bo", base, cookie(bo))

	// 1. The inbox: j/k move the selection; ? shows the help.
	annTab.open("/staff/desk?view=all")
	annTab.until("the inbox is live", `document.querySelector('[data-testid="desk-live"]').dataset.state === 'live'`)
	rowsJS := `[...document.querySelectorAll('[data-testid="desk-inbox-row"]')].map(r => r.dataset.conversation)`
	selectedJS := `(((document.querySelector('tr[data-selected="true"]') || {}).dataset || {}).conversation || '')`
	annTab.until("both rows, newest first", `JSON.stringify(`+rowsJS+`.filter(r => r === '`+olderRef+`' || r === '`+newerRef+`')) === '["`+newerRef+`","`+olderRef+`"]'`)
	annTab.eval(`window.__stillHere = 'yes'`)
	annTab.do("j", chromedp.KeyEvent("j"))
	first := annTab.eval(rowsJS + `[0]`)
	annTab.until("j selects the first row", selectedJS+` === '`+first+`'`)
	annTab.do("j", chromedp.KeyEvent("j"))
	second := annTab.eval(rowsJS + `[1]`)
	annTab.until("j selects the second row", selectedJS+` === '`+second+`'`)
	annTab.do("k", chromedp.KeyEvent("k"))
	annTab.until("k goes back", selectedJS+` === '`+first+`'`)
	annTab.do("?", chromedp.KeyEvent("?"))
	annTab.until("? shows the help", `!document.querySelector('[data-testid="desk-help"]').hidden`)
	annTab.do("escape", chromedp.KeyEvent(kb.Escape))
	annTab.until("Esc hides it", `document.querySelector('[data-testid="desk-help"]').hidden`)

	// 2. The customer of the older conversation writes: its row moves to
	// the top, marked unread, without a reload.
	if _, err := e.desk.SendMessage(e.ctx, desk.Customer(customer), older.ID, desk.MessageInput{Body: "any news?"}); err != nil {
		t.Fatal(err)
	}
	annTab.until("the row moves up, unread", `(r => r.dataset.conversation === '`+olderRef+`' && r.dataset.unread === 'true' && !!r.querySelector('[data-testid="desk-unread"]'))(document.querySelector('[data-testid="desk-inbox-row"]'))`)
	if annTab.eval(`window.__stillHere`) != "yes" {
		t.Fatal("the inbox reloaded")
	}
	if res := ann.c.get("/staff/desk/conversation?id=" + olderRef); res.StatusCode != 200 {
		t.Fatalf("conversation page: %d %s", res.StatusCode, res.body)
	}
	// Enter opens the selected row: select the top one (the older
	// conversation now), then Enter.
	for range 3 {
		annTab.do("k", chromedp.KeyEvent("k"))
	}
	annTab.until("the top row is selected", selectedJS+` === '`+olderRef+`'`)
	func() {
		ctx, cancel := context.WithTimeout(annTab.ctx, deskWait)
		defer cancel()
		if _, err := chromedp.Run(ctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.KeyEvent(kb.Enter))); err != nil {
			t.Fatalf("Enter opens the conversation: %v", err)
		}
	}()
	annTab.until("the conversation opened", `location.pathname === '/staff/desk/conversation' && !!document.querySelector('[data-testid="desk-conversation"][data-conversation="`+olderRef+`"]')`)
	annTab.until("the conversation is live", `document.querySelector('[data-testid="desk-live"]').dataset.state === 'live'`)

	// 3. Bo opens the same conversation: each sees the other.
	boTab.open("/staff/desk/conversation?id=" + olderRef)
	boTab.until("live", `document.querySelector('[data-testid="desk-live"]').dataset.state === 'live'`)
	collision := `((c => !c.hidden && c.textContent)(document.querySelector('[data-testid="desk-collision"]')) || '')`
	boTab.until("Bo sees Ann viewing", collision+` === 'Ann Console is also viewing this conversation.'`)
	annTab.until("Ann sees Bo viewing", collision+` === 'Bo Console is also viewing this conversation.'`)
	// Bo types a reply: Ann sees him replying.
	boTab.do("type", chromedp.SendKeys(sel("desk-reply-body"), "Checking", chromedp.NodeVisible))
	annTab.until("Ann sees Bo replying", collision+` === 'Bo Console is also replying.'`)

	// Ann takes the conversation and sets it pending elsewhere: Bo's open
	// page shows the new assignee and status, and no "Assign to me",
	// without a reload (his reply stays).
	boTab.eval(`window.__stillHere = 'yes'`)
	if _, err := e.desk.Claim(e.ctx, ann.agent.ID, older.ID); err != nil {
		t.Fatal(err)
	}
	boTab.until("Bo sees Ann assigned", `document.querySelector('[data-testid="desk-assignee"]').textContent === 'Ann Console' && !document.querySelector('[data-testid="desk-assign"]')`)
	if _, err := e.desk.SetStatus(e.ctx, desk.Agent(ann.agent.ID), older.ID, desk.StatusPending, time.Time{}); err != nil {
		t.Fatal(err)
	}
	pending := regexp.MustCompile(`data-testid="desk-status" data-status="pending">([^<]+)<`).FindStringSubmatch(bo.c.get("/staff/desk/conversation?id=" + olderRef).body)
	if pending == nil {
		t.Fatal("the conversation page shows no pending status")
	}
	boTab.until("Bo sees it pending", `(s => s.dataset.status === 'pending' && s.textContent === `+jsString(pending[1])+`)(document.querySelector('[data-testid="desk-status"]'))`)
	if boTab.eval(`window.__stillHere + ' ' + document.querySelector('[data-testid="desk-reply-body"]').value`) != "yes Checking" {
		t.Fatal("Bo's page reloaded or lost his reply")
	}

	// 4. "/" and a shortcut in Ann's reply inserts the canned response
	// in the conversation's language.
	annTab.do("type /refund", chromedp.SendKeys(sel("desk-reply-body"), "/refund", chromedp.NodeVisible))
	annTab.until("the suggestion shows", `(s => !s.hidden && !!s.querySelector('[data-testid="desk-canned-option"][data-shortcut="refund-time"]'))(document.querySelector('[data-testid="desk-canned-suggest"]'))`)
	// A key press as a browser makes it: the page's handler cancels it
	// on keydown, so no text follows (chromedp's KeyEvent would type
	// the newline in a separate event whatever the page does).
	func() {
		ctx, cancel := context.WithTimeout(annTab.ctx, deskWait)
		defer cancel()
		for _, typ := range []input.DispatchKeyEventType{input.DispatchKeyEventTypeRawKeyDown, input.DispatchKeyEventTypeKeyUp} {
			if _, err := chromedp.Call(ctx, input.DispatchKeyEvent, input.DispatchKeyEventParams{Type: typ, Key: "Enter", Code: "Enter", WindowsVirtualKeyCode: 13}); err != nil {
				t.Fatalf("Enter in the reply: %v", err)
			}
		}
	}()
	want := "Refunds reach your OKPay balance within 1 to 3 business days after the merchant confirms them."
	annTab.until("the body is inserted", `document.querySelector('[data-testid="desk-reply-body"]').value === `+jsString(want))
	annTab.until("the suggestion closes", `document.querySelector('[data-testid="desk-canned-suggest"]').hidden`)
	// Shortcuts are off while typing: "r" in the box is text.
	annTab.do("type r", chromedp.SendKeys(sel("desk-reply-body"), " r", chromedp.NodeVisible))
	annTab.until("r typed as text", `document.querySelector('[data-testid="desk-reply-body"]').value === `+jsString(want+" r"))

	// 5. Ann's agent is disabled: at its next ping her console's socket
	// closes with 4002 (chat.CloseSessionEnded) and the page reloads
	// into the sign-in page; Bo's console stays live.
	if err := e.staff.Disable(e.ctx, e.cli, ann.agent.ID, "left the team", agent.Meta{IP: "cli"}); err != nil {
		t.Fatal(err)
	}
	annTab.untilNavigated("Ann's console reloads into the sign-in page", `location.pathname === '/staff/login'`)
	boTab.until("Bo's console is still live", `document.querySelector('[data-testid="desk-live"]').dataset.state === 'live'`)

	// 6. A supervisor's navigation fits one line at 1280 px (the set-up
	// pages are under "Manage"); the menu opens by its summary and closes
	// on a click elsewhere and on Escape.
	boTab.do("desktop viewport", chromedp.EmulateViewport(1280, 800))
	boTab.open("/staff/")
	boTab.until("the navigation is one line", `(ls => ls.length > 5 && ls.every(l => Math.round(l.getBoundingClientRect().top) === Math.round(ls[0].getBoundingClientRect().top)))([...document.querySelectorAll('.site-nav > ul > li')])`)
	boTab.do("open Manage", chromedp.Click(sel("nav-staff-manage"), chromedp.NodeVisible))
	boTab.until("Manage shows the set-up pages", `document.querySelector('[data-testid="nav-staff-canned"]').getBoundingClientRect().height > 0 && document.querySelector('[data-testid="nav-staff-teams"]').getBoundingClientRect().height > 0`)
	boTab.do("click elsewhere", chromedp.Click(chromedp.CSS("main h1"), chromedp.NodeVisible))
	boTab.until("Manage closes", `!document.querySelector('.nav-more details').open`)
	boTab.do("open Manage again", chromedp.Click(sel("nav-staff-manage"), chromedp.NodeVisible))
	boTab.until("Manage is open", `document.querySelector('.nav-more details').open`)
	boTab.do("Escape", chromedp.KeyEvent(kb.Escape))
	boTab.until("Escape closes it", `!document.querySelector('.nav-more details').open`)

	annTab.check("end")
	boTab.check("end")
}
