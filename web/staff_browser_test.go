package web_test

import (
	"net"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/okpay/okpay/agent"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/internal/browsertest"
)

// TestBrowserStaffPasskeyJourney drives headless Chromium with a CDP
// virtual authenticator through the staff console (SUP-01, MFA-08): the
// first admin follows the enrolment link from the command line, sets a
// password and registers a passkey, lands on the staff home; signs out;
// signs in with the password and the passkey; and opens the agents page.
// The site is served on http://localhost:PORT (RP ID "localhost").
func TestBrowserStaffPasskeyJourney(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	base := "http://localhost:" + port
	e := newStaffEnvAt(t, base, agent.Config{})
	ts := httptest.NewUnstartedServer(e.handler)
	ts.Listener.Close()
	ts.Listener = ln
	ts.Start()
	t.Cleanup(ts.Close)

	ctx := browsertest.New(t)
	problems := &pageProblems{expected: map[string]bool{}}
	if err := problems.listen(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument,
		page.AddScriptToEvaluateOnNewDocumentParams{Source: cspProbe}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
		Headers: network.Headers{"Accept-Language": "zh-CN,zh;q=0.9"},
	}); err != nil {
		t.Fatal(err)
	}
	noUI := false
	if _, err := chromedp.Call(ctx, webauthn.Enable, webauthn.EnableParams{EnableUI: &noUI}); err != nil {
		t.Fatalf("WebAuthn.enable: %v", err)
	}
	va, err := chromedp.Call(ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
		Options: &webauthn.VirtualAuthenticatorOptions{
			Protocol:                    webauthn.AuthenticatorProtocolCtap2,
			Ctap2version:                webauthn.Ctap2versionCtap21,
			Transport:                   webauthn.AuthenticatorTransportInternal,
			HasResidentKey:              true,
			HasUserVerification:         true,
			IsUserVerified:              true,
			AutomaticPresenceSimulation: true,
		},
	})
	if err != nil {
		t.Fatalf("WebAuthn.addVirtualAuthenticator: %v", err)
	}
	b := &accountBrowser{t: t, ctx: ctx, base: base, e: e.accountEnv, problems: problems}

	// 1. The first admin, from the command line's service.
	a, enr, err := e.staff.Create(e.ctx, e.cli, agent.NewAgent{Email: "first.admin@okpay.test", DisplayName: "首位管理员",
		Roles: []agent.Role{agent.RoleAdmin, agent.RoleSupervisor}, Languages: []i18n.Lang{i18n.ZhCN, i18n.En}}, agent.Meta{IP: "cli"})
	if err != nil {
		t.Fatal(err)
	}
	const pw = "orchard lantern copper sky"

	// 2. Enrolment: a password, then a passkey.
	b.open("/staff/enroll/" + enr.Token)
	b.fill("staff-new-password", pw)
	b.fill("staff-new-password-again", pw)
	b.checkPasswordInput("password", "new-password")
	b.click("staff-enroll-submit")
	b.at("/staff/enroll/factor")
	b.run("passkey button shown", chromedp.WaitVisible(sel("enroll-passkey-start")))
	b.click("enroll-passkey-start")
	b.at("/staff/enroll/passkey")
	b.run("create button shown", chromedp.WaitVisible(sel("passkey-submit")))
	b.fill("passkey-label", "工作电脑")
	b.click("passkey-submit") // navigator.credentials.create, then the form posts
	b.at("/staff/")
	b.check("after enrolment")
	if got := b.text("staff-me-email"); got != a.Email {
		t.Errorf("home shows %q", got)
	}
	creds, err := chromedp.Call(ctx, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: va.AuthenticatorID})
	if err != nil {
		t.Fatal(err)
	}
	if len(creds.Credentials) != 1 || !creds.Credentials[0].IsResidentCredential || creds.Credentials[0].RpID != "localhost" {
		t.Fatalf("virtual authenticator credentials: %+v", creds.Credentials)
	}

	// 3. Sign out; sign in with the password and the passkey.
	b.click("nav-staff-signout")
	b.at("/staff/login")
	b.fill("staff-email", a.Email)
	b.fill("staff-password", pw)
	b.checkPasswordInput("password", "current-password")
	b.click("staff-login-submit")
	b.at("/staff/login/verify")
	b.run("passkey method shown", chromedp.WaitVisible(sel("use-passkey")))
	b.click("use-passkey")
	b.at("/staff/login/passkey")
	b.run("use button shown", chromedp.WaitVisible(sel("passkey-submit")))
	b.click("passkey-submit") // navigator.credentials.get with allowCredentials
	b.at("/staff/")
	if v := b.eval(`document.querySelector('[data-testid="staff-sudo"]').dataset.sudo`); v != "on" {
		t.Errorf("sudo after sign-in: %q", v)
	}
	if h1 := b.eval(`document.querySelector('h1').innerText`); !strings.Contains(h1, "首位管理员") {
		t.Errorf("heading %q", h1)
	}

	// 4. The admin's pages.
	b.run("open Manage", chromedp.Click(sel("nav-staff-manage"), chromedp.NodeVisible))
	b.click("nav-staff-agents")
	b.at("/staff/agents")
	b.check("agents page")
	b.run("open Manage", chromedp.Click(sel("nav-staff-manage"), chromedp.NodeVisible))
	b.click("nav-staff-teams")
	b.at("/staff/teams")
	b.check("teams page")
}
