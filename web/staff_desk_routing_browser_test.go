package web_test

import (
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"

	"github.com/okpay/okpay/agent"
	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/identity/passkey/passkeytest"
	"github.com/okpay/okpay/internal/browsertest"
)

// TestBrowserDeskPresence: the availability switch of the staff
// navigation in a real browser. presence.js marks the current status from
// its first heartbeat, posts the agent's choice in the background (no page
// load), and routing then gives a new conversation to the agent.
func TestBrowserDeskPresence(t *testing.T) {
	e, _, base := newDeskBrowserEnv(t)
	a, enr, err := e.staff.Create(e.ctx, e.cli, agent.NewAgent{Email: "desk.presence@okpay.test", DisplayName: "Desk Presence",
		Roles: []agent.Role{agent.RoleAgent}, Teams: []string{"general"}, Languages: []i18n.Lang{i18n.En}}, agent.Meta{IP: "cli"})
	if err != nil {
		t.Fatal(err)
	}
	m := &staffMember{agent: a, password: "lantern harbour quiet evening", auth: passkeytest.New(base, "localhost"), c: e.client()}
	e.enrolThroughPages(t, m, enr)
	yes := true
	root := browsertest.NewWithTimeout(t, 3*time.Minute)
	tab := newDeskTab(t, root, "agent", base,
		network.SetCookieParams{Name: "__Host-agent", Value: m.c.cookie("__Host-agent"), Path: "/", Secure: &yes, HTTPOnly: &yes, SameSite: network.CookieSameSiteStrict})

	tab.open("/staff/desk")
	const form = `document.querySelector('[data-testid="nav-presence"]')`
	tab.until("the switch shows offline", form+`.dataset.status === 'offline'`)
	tab.clickLoad("go online", sel("nav-presence-online"))
	tab.until("online is marked", form+`.dataset.status === 'online' && document.querySelector('[data-testid="nav-presence-online"]').getAttribute('aria-pressed') === 'true'`)
	// The current status stands out (app.css): raised, its dot coloured.
	tab.until("online looks pressed", `(() => {
		const on = getComputedStyle(document.querySelector('[data-testid="nav-presence-online"]'));
		const off = getComputedStyle(document.querySelector('[data-testid="nav-presence-offline"]'));
		const dot = getComputedStyle(document.querySelector('[data-testid="nav-presence-online"]'), '::before');
		return on.backgroundColor !== off.backgroundColor && on.fontWeight === '600' && dot.borderRadius === '50%' && dot.backgroundColor !== off.backgroundColor;
	})()`)
	if v := tab.eval(`location.pathname`); v != "/staff/desk" {
		t.Fatalf("the switch went to %s", v)
	}
	tab.until("the inbox is live", `document.querySelector('[data-testid="desk-live"]').dataset.state === 'live'`)
	p, err := e.desk.AgentPresence(e.ctx, a.ID)
	if err != nil || p.Effective != desk.PresenceOnline {
		t.Fatalf("presence %+v, %v", p, err)
	}
	// The live console keeps the agent seen: a console opened later (the
	// test's clock moved on) moves last-seen past the switch's own write.
	seen := p.LastSeenAt
	e.clock.Advance(desk.HeartbeatInterval)
	tab.open("/staff/desk")
	tab.until("the inbox is live again", `document.querySelector('[data-testid="desk-live"]').dataset.state === 'live'`)
	deadline := time.Now().Add(deskWait)
	for {
		p, err = e.desk.AgentPresence(e.ctx, a.ID)
		if err == nil && p.LastSeenAt.After(seen) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the live console never refreshed last-seen (%v, %v)", p, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Routing gives a new conversation to the online agent.
	c, err := e.desk.StartConversation(e.ctx, desk.Customer(737373), desk.StartInput{Category: desk.CategoryAccount, Lang: i18n.En, Body: "hello"})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := e.desk.Conversation(e.ctx, desk.System, c.ID); got.AssigneeID != a.ID {
		t.Fatalf("conversation assigned to %d, want the online agent %d", got.AssigneeID, a.ID)
	}
	tab.clickLoad("go away", sel("nav-presence-away"))
	tab.until("away is marked", form+`.dataset.status === 'away' && document.querySelector('[data-testid="nav-presence-online"]').getAttribute('aria-pressed') === 'false'`)
	tab.check("presence")
}
