package web_test

import (
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/okpay/okpay/agent"
	"github.com/okpay/okpay/audit"
	"github.com/okpay/okpay/httpapi"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/identity/passkey/passkeytest"
	"github.com/okpay/okpay/internal/browsertest"
	"github.com/okpay/okpay/phone"
	"github.com/okpay/okpay/web"
)

// TestBrowserPhoneCallerVerification drives a customer and an agent in
// real Chromium: the customer asks for a callback; the agent claims it,
// logs the call and, on the desk page of the phone conversation, sends the
// in-app verification; the customer's notification holds no code but
// links to the page that shows it; the agent types the code the customer
// reads and the conversation shows the caller verified. Every wait is on
// the page's state, with a 60 s deadline.
func TestBrowserPhoneCallerVerification(t *testing.T) {
	root := browsertest.NewWithTimeout(t, 5*time.Minute)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	base := "http://localhost:" + port
	e := newStaffEnvAt(t, base, agent.Config{})
	d := e.id.Deps
	ph, err := phone.New(phone.Deps{DB: d.DB, Clock: d.Clock, IDs: d.IDs, Desk: e.desk, Identity: e.id, Audit: audit.New(d.DB), Outbox: e.outbox,
		Catalog: e.cat}, phone.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.server.EnablePhone(ph); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	e.mux = mux
	e.server.Register(mux)
	// The chat widget's API, as in okpay serve (the widget on the
	// customer's pages asks it for replies waiting).
	api := httpapi.New(httpapi.Config{Catalog: e.cat, Identity: e.id, Desk: e.desk})
	api.Register(mux)
	e.handler = web.SecurityHeaders(web.CrossOrigin(mux))
	ts := httptest.NewUnstartedServer(e.handler)
	ts.Listener.Close()
	ts.Listener = ln
	ts.Start()
	t.Cleanup(ts.Close)
	t.Cleanup(api.Close) // before the server closes: its sockets end first

	cust := e.client()
	e.signUp(cust)
	a, enr, err := e.staff.Create(e.ctx, e.cli, agent.NewAgent{Email: "phone.agent@okpay.test", DisplayName: "Phone Agent", Roles: []agent.Role{agent.RoleAgent},
		Teams: []string{"general"}, Languages: []i18n.Lang{i18n.ZhCN, i18n.En}}, agent.Meta{IP: "cli"})
	if err != nil {
		t.Fatal(err)
	}
	ag := &staffMember{agent: a, password: "granite meadow quiet lantern", auth: passkeytest.New(base, "localhost"), c: e.client()}
	e.enrolThroughPages(t, ag, enr)
	yes := true
	agentTab := newDeskTab(t, root, "agent", base, network.SetCookieParams{Name: "__Host-agent", Value: ag.c.cookie("__Host-agent"), Path: "/", Secure: &yes,
		HTTPOnly: &yes, SameSite: network.CookieSameSiteStrict})
	custTab := newDeskTab(t, root, "customer", base,
		network.SetCookieParams{Name: "__Host-session", Value: cust.cookie("__Host-session"), Path: "/", Secure: &yes, HTTPOnly: &yes, SameSite: network.CookieSameSiteLax},
		network.SetCookieParams{Name: "__Host-did", Value: cust.cookie("__Host-did"), Path: "/", Secure: &yes, HTTPOnly: &yes, SameSite: network.CookieSameSiteLax})

	// 1. The customer asks for a callback (the form comes filled with the
	// next hour).
	custTab.open("/account/callbacks")
	custTab.clickLoad("request a call", sel("callback-submit"))
	custTab.until("the request is listed", `!!document.querySelector('[data-testid="callback"][data-state="queued"]')`)
	cb := custTab.eval(`document.querySelector('[data-testid="callback"]').dataset.callback`)
	custTab.check("callback requested")

	// 2. The agent claims it and logs the call: the phone conversation.
	agentTab.open("/staff/phone")
	// The page is styled: its queue table (.table, once only in the help
	// center's stylesheet) and the verification form's input.
	if got := agentTab.eval(`(() => {
		const th = document.querySelector('[data-testid="phone-queue"] th'), in_ = document.querySelector('[data-testid="phone-conversation"]');
		return getComputedStyle(th).paddingLeft + ' ' + (in_.offsetHeight >= 40);
	})()`); got != "12px true" {
		t.Fatalf("the phone page is not styled: table cell padding and input height %q, want \"12px true\"", got)
	}
	row := `[data-testid="phone-callback"][data-callback="` + cb + `"]`
	agentTab.clickLoad("claim", chromedp.CSS(row+` [data-testid="phone-claim"]`))
	agentTab.do("pick reached", chromedp.SetValue(chromedp.CSS(row+` [data-testid="phone-outcome"]`), phone.OutcomeReached))
	agentTab.clickLoad("log the call", chromedp.CSS(row+` [data-testid="phone-log"]`))
	conv := agentTab.eval(`new URLSearchParams(location.search).get('conversation') || ''`)
	if !strings.HasPrefix(conv, "cnv_") {
		t.Fatalf("conversation %q", conv)
	}

	// 3. On the conversation page: not verified; the agent sends the code.
	agentTab.open("/staff/desk/conversation?id=" + conv)
	agentTab.until("the caller is not verified", `document.querySelector('[data-testid="desk-phone-level"]').dataset.verified === 'false'`)
	agentTab.clickLoad("send the in-app code", sel("desk-phone-send-submit"))
	agentTab.until("a code is waiting", `document.querySelector('[data-testid="desk-phone-level"]').dataset.pending === 'true'`)
	agentTab.check("code sent")

	// 4. The customer's notification links to the code; it holds none.
	var link string
	deadline := time.Now().Add(deskWait)
	for link == "" && time.Now().Before(deadline) {
		custTab.open("/account/notifications")
		link = custTab.eval(`(document.body.innerHTML.match(/\/account\/phone-verify\/pvc_[0-9a-z]+/) || [''])[0]`)
		if link == "" {
			time.Sleep(100 * time.Millisecond)
		}
	}
	if link == "" {
		t.Fatal("no verification link in the customer's notifications")
	}
	if text := custTab.eval(`document.body.innerText`); regexp.MustCompile(`\b\d{6}\b`).MatchString(text) {
		t.Fatalf("a code on the notifications page: %s", text)
	}
	custTab.open(link)
	code := custTab.eval(`document.querySelector('[data-testid="phone-verify-code"] strong').textContent.trim()`)
	if len(code) != 6 {
		t.Fatalf("code %q", code)
	}
	custTab.check("code shown")

	// 5. The agent types it: the conversation shows the caller verified.
	agentTab.do("type the code", chromedp.SendKeys(sel("desk-phone-code"), code, chromedp.NodeVisible))
	agentTab.clickLoad("check the code", sel("desk-phone-confirm-submit"))
	agentTab.until("the caller is verified", `document.querySelector('[data-testid="desk-phone-level"]').dataset.verified === 'true'`)
	agentTab.check("caller verified")
	// The code page is gone.
	custTab.open(link)
	if n := custTab.eval(`String(document.querySelectorAll('[data-testid="phone-verify-code"]').length)`); n != "0" {
		t.Fatalf("the code page still shows a code")
	}
}
