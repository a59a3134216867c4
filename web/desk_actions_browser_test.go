package web_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/okpay/okpay/agent"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/identity/passkey/passkeytest"
	"github.com/okpay/okpay/internal/browsertest"
)

// TestBrowserDeskAccountActions drives three browser contexts: a
// customer, an agent and a supervisor. The customer opens the chat and
// writes; the agent sees it arrive, answers, and the customer sees the
// answer. The agent opens the customer panel beside the conversation and
// freezes the account: the customer's session ends and, signed in again,
// the account page says frozen. The agent sends the RSK-06 password reset
// link and asks for an unfreeze with the re-verification evidence; the
// supervisor, a second agent, approves it on the approvals page; the
// customer's page says active again. Every wait is on the page's state,
// with a 60 s deadline.
func TestBrowserDeskAccountActions(t *testing.T) {
	e, _, base := newDeskBrowserEnv(t)

	cust := e.client()
	acct := e.signUp(cust)
	member := func(email, name, password string, role agent.Role) *staffMember {
		a, enr, err := e.staff.Create(e.ctx, e.cli, agent.NewAgent{Email: email, DisplayName: name, Roles: []agent.Role{role}, Teams: []string{"general"},
			Languages: []i18n.Lang{i18n.ZhCN, i18n.En}}, agent.Meta{IP: "cli"})
		if err != nil {
			t.Fatal(err)
		}
		m := &staffMember{agent: a, password: password, auth: passkeytest.New(base, "localhost"), c: e.client()}
		e.enrolThroughPages(t, m, enr) // leaves m.c signed in (password and passkey)
		return m
	}
	ag := member("actions.agent@okpay.test", "Desk Helper", "copper kettle misty morning", agent.RoleAgent)
	sup := member("actions.supervisor@okpay.test", "Shift Lead", "willow orchard silent river", agent.RoleSupervisor)
	yes := true
	staffCookie := func(m *staffMember) network.SetCookieParams {
		return network.SetCookieParams{Name: "__Host-agent", Value: m.c.cookie("__Host-agent"), Path: "/", Secure: &yes, HTTPOnly: &yes, SameSite: network.CookieSameSiteStrict}
	}
	custCookies := func() []network.SetCookieParams {
		return []network.SetCookieParams{
			{Name: "__Host-session", Value: cust.cookie("__Host-session"), Path: "/", Secure: &yes, HTTPOnly: &yes, SameSite: network.CookieSameSiteLax},
			{Name: "__Host-did", Value: cust.cookie("__Host-did"), Path: "/", Secure: &yes, HTTPOnly: &yes, SameSite: network.CookieSameSiteLax},
		}
	}

	root := browsertest.NewWithTimeout(t, 5*time.Minute)
	agentTab := newDeskTab(t, root, "agent", base, staffCookie(ag))
	supTab := newDeskTab(t, root, "supervisor", base, staffCookie(sup))
	custTab := newDeskTab(t, root, "customer", base, custCookies()...)

	// 1. The customer opens the chat; the agent sees it arrive.
	agentTab.open("/staff/desk?view=unassigned")
	agentTab.until("the inbox is live", `document.querySelector('[data-testid="desk-live"]').dataset.state === 'live'`)
	custTab.open("/account")
	custTab.until("the account is active", `document.querySelector('[data-testid="account-status"]').textContent.trim() === `+jsString(e.text(i18n.En, "dashboard.status.active")))
	custTab.do("open the chat", chromedp.Click(sel("chat-open"), chromedp.NodeVisible))
	custTab.do("pick a category", chromedp.WaitVisible(sel("chat-prechat")), chromedp.Click(sel("chat-category-security_privacy"), chromedp.NodeVisible))
	const first = "Someone signed in to my account from another country."
	custTab.do("write", chromedp.SendKeys(sel("chat-first"), first, chromedp.NodeVisible), chromedp.Click(sel("chat-start"), chromedp.NodeVisible))
	custTab.until("the socket is live", `document.querySelector('[data-testid="chat-conn"]').dataset.state === 'live'`)
	conv := custTab.eval(`document.getElementById('okpay-chat').dataset.conversation`)
	if !strings.HasPrefix(conv, "cnv_") {
		t.Fatalf("conversation id %q", conv)
	}
	row := `[data-testid="desk-inbox-row"][data-conversation="` + conv + `"]`
	agentTab.until("the conversation arrives", `!!document.querySelector('`+row+`')`)
	agentTab.clickLoad("open the conversation", chromedp.CSS(row+` [data-testid="desk-open"]`))
	agentTab.until("the conversation is live", `document.querySelector('[data-testid="desk-live"]').dataset.state === 'live'`)

	// 2. The agent answers; the customer sees it.
	const answer = "We are freezing your account to protect it; we will help you get it back."
	agentTab.do("answer", chromedp.SendKeys(sel("desk-reply-body"), answer, chromedp.NodeVisible), chromedp.Click(sel("desk-reply-submit"), chromedp.NodeVisible))
	custTab.until("the customer sees the answer", `[...document.querySelectorAll('[data-testid="chat-message"] .chat-body')].some(b => b.textContent === `+jsString(answer)+`)`)

	// 3. The agent opens the customer panel and freezes the account.
	agentTab.clickLoad("open the customer panel", sel("desk-customer-context"))
	agentTab.until("the panel shows an active account", `document.querySelector('[data-testid="support-profile"]').dataset.frozen === 'false'`)
	if body := agentTab.eval(`document.body.innerText`); strings.Contains(body, acct.email) {
		t.Fatal("the panel shows the customer's email unmasked")
	}
	agentTab.fill("support-freeze-reason", "account takeover reported in chat")
	custTab.check("before the freeze")
	agentTab.clickLoad("freeze", sel("support-freeze-submit"))
	agentTab.until("the panel shows the account frozen", `document.querySelector('[data-testid="support-profile"]').dataset.frozen === 'true'`)
	if !e.frozen(t, e.user(acct).ID) {
		t.Fatal("the account is not frozen")
	}

	// The customer, still on the page, writes in the open chat: the
	// widget says the session ended and stops (no reconnecting).
	custTab.fill("chat-input", "Are you there?")
	custTab.do("send after the freeze", chromedp.Click(sel("chat-send"), chromedp.NodeVisible))
	custTab.until("the widget says the session ended", `document.querySelector('[data-testid="chat-conn"]').dataset.state === 'ended' &&
		document.querySelector('[data-testid="chat-conn"]').textContent === `+jsString(e.text(i18n.En, "chat.conn.ended")))

	// 4. The customer's session ended; signed in again, the account page
	// says frozen.
	custTab.open("/account")
	custTab.until("the customer is sent to sign in", `location.pathname === '/login'`)
	e.logIn(cust, acct)
	for _, c := range custCookies() {
		c.URL = base + "/"
		if _, err := chromedp.Call(custTab.ctx, network.SetCookie, c); err != nil {
			t.Fatalf("set cookie %s: %v", c.Name, err)
		}
	}
	// The freeze ended the customer's session while the chat was open:
	// the widget's calls for the conversation made in between (a read
	// receipt) were refused, as they must be. Anything else is a fault.
	custTab.open("/account")
	for _, p := range custTab.problems.take() {
		if !strings.Contains(p, "/api/v1/conversations/"+conv) {
			t.Errorf("customer: while signed out: %s", p)
		}
	}
	custTab.until("the customer sees the account frozen", `!!document.querySelector('[data-testid="frozen-banner"]') &&
		document.querySelector('[data-testid="account-status"]').textContent.trim() === `+jsString(e.text(i18n.En, "dashboard.status.frozen")))

	// 5. The agent sends the reset link (RSK-06) and asks for an unfreeze.
	agentTab.fill("support-reset-reason", "RSK-06 password reset before unfreezing")
	agentTab.clickLoad("send the reset link", sel("support-reset-submit"))
	agentTab.until("the reset notice", `!!document.querySelector('[data-testid="notice"]')`)
	agentTab.fill("support-unfreeze-evidence", "passport ending 12 and live selfie matched")
	agentTab.do("tick the unfreeze checks",
		chromedp.Click(sel("support-unfreeze-devices"), chromedp.NodeVisible),
		chromedp.Click(sel("support-unfreeze-methods"), chromedp.NodeVisible))
	agentTab.fill("support-unfreeze-reason", "customer verified again on video")
	agentTab.clickLoad("ask for the unfreeze", sel("support-unfreeze-submit"))
	agentTab.until("the request waits", `!!document.querySelector('[data-testid="support-requests"] [data-kind="unfreeze"][data-status="pending"]')`)

	// 6. The supervisor approves it.
	supTab.open("/staff/approvals")
	item := `[data-testid="approval-row"][data-kind="unfreeze"]`
	supTab.until("the request is listed", `!!document.querySelector('`+item+`[data-mine="false"]')`)
	supTab.fill("approval-reason-input", "evidence checked")
	supTab.clickLoad("approve", sel("approval-approve"))
	supTab.until("approved", `!!document.querySelector('[data-testid="approvals-empty"]') && !!document.querySelector('[data-testid="approvals-recent"] [data-status="approved"]')`)

	// 7. The customer sees the account active again.
	custTab.open("/account")
	custTab.until("the customer sees the account active", `!document.querySelector('[data-testid="frozen-banner"]') &&
		document.querySelector('[data-testid="account-status"]').textContent.trim() === `+jsString(e.text(i18n.En, "dashboard.status.active")))

	custTab.check("end")
	agentTab.check("end")
	supTab.check("end")
}
