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

	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/internal/browsertest"
)

// TestBrowserPasskeyJourney drives headless Chromium with a CDP virtual
// authenticator (a CTAP2 platform authenticator with resident keys and
// user verification) through the passkey pages (MFA-08): enrol a passkey
// from the security page, sign in with the password and the passkey, then
// without a password. The site is served on http://localhost:PORT, so
// the WebAuthn RP ID is "localhost" (an IP address cannot be one).
func TestBrowserPasskeyJourney(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	base := "http://localhost:" + port
	e := newAccountEnvAt(t, base)
	ts := httptest.NewUnstartedServer(e.handler)
	ts.Listener.Close()
	ts.Listener = ln
	ts.Start()
	t.Cleanup(ts.Close) // after the browser (cleanups run in reverse)

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
		Headers: network.Headers{"Accept-Language": "en-US,en;q=0.9"},
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
	b := &accountBrowser{t: t, ctx: ctx, base: base, e: e, problems: problems}
	a := nextAccount()

	// 1. Open an account through the pages.
	b.open("/signup")
	b.fill("email", a.email)
	b.fill("phone", a.phone)
	b.fill("password", a.password)
	mark := b.mark()
	b.click("signup-submit")
	b.at("/signup/verify")
	emailCode := b.code("code_verify_email", a.email, mark)
	smsCode := b.code("code_verify_phone", a.phone, mark)
	b.open("/signup/verify")
	b.fill("email-code", emailCode)
	b.fill("sms-code", smsCode)
	b.click("signup-verify-submit")
	b.at("/account")

	// 2. Add a passkey from the security page (the sign-up opened the
	// sudo window). app.js shows the button only where passkeys work.
	b.click("nav-security")
	b.at("/account/security")
	b.run("add button shown", chromedp.WaitVisible(sel("passkey-add")))
	b.click("passkey-add")
	b.at("/account/passkeys/begin")
	b.run("create button shown", chromedp.WaitVisible(sel("passkey-submit")))
	b.fill("passkey-label", "Test laptop")
	b.click("passkey-submit") // navigator.credentials.create, then the form posts
	b.at("/account/security")
	if got, want := b.text("notice"), e.cat.T(i18n.En, "passkey.notice.added", nil); got != want {
		t.Errorf("notice %q, want %q", got, want)
	}
	if got := b.text("passkey-name"); got != "Test laptop" {
		t.Errorf("passkey listed as %q", got)
	}
	creds, err := chromedp.Call(ctx, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: va.AuthenticatorID})
	if err != nil {
		t.Fatal(err)
	}
	if len(creds.Credentials) != 1 || !creds.Credentials[0].IsResidentCredential || creds.Credentials[0].RpID != "localhost" {
		t.Fatalf("virtual authenticator credentials: %+v", creds.Credentials)
	}
	u := e.user(a)
	if u.Passkeys != 1 {
		t.Fatalf("the account has %d passkeys", u.Passkeys)
	}
	e.waitMail(a.email, identity.NoteFactorAdded, "")

	// 3. Sign out; sign in with the password and the passkey.
	b.signOut()
	b.fill("identifier", a.email)
	b.fill("password", a.password)
	b.click("login-submit")
	b.at("/login/verify")
	b.run("passkey method shown", chromedp.WaitVisible(sel("use-passkey")))
	b.click("use-passkey")
	b.at("/login/verify/passkey")
	b.run("use button shown", chromedp.WaitVisible(sel("passkey-submit")))
	b.click("passkey-submit") // navigator.credentials.get with allowCredentials
	b.at("/account")
	if got := b.text("account-email"); got != a.email {
		t.Errorf("account email %q", got)
	}

	// 4. Sign out; sign in with the passkey alone.
	b.signOut()
	b.run("passwordless shown", chromedp.WaitVisible(sel("passkey-signin")))
	b.click("passkey-signin")
	b.at("/login/passkey")
	b.run("sign-in button shown", chromedp.WaitVisible(sel("passkey-submit")))
	b.click("passkey-submit") // discoverable navigator.credentials.get
	b.at("/account")
	if got := b.text("account-email"); got != a.email {
		t.Errorf("account email %q after the passwordless sign-in", got)
	}
	b.open("/account/security")
	if v := b.eval(`document.querySelector('[data-testid="sudo-state"]').dataset.sudo`); v != "on" {
		t.Errorf("sudo after a passwordless sign-in: %q", v)
	}
	if v := b.text("passkey-last-used"); strings.Contains(v, e.cat.T(i18n.En, "passkey.never_used", nil)) {
		t.Errorf("last use not shown: %q", v)
	}

	// 5. A cancelled ceremony shows a readable error and stays on the page.
	noUV := false
	if _, err := chromedp.Call(ctx, webauthn.SetUserVerified, webauthn.SetUserVerifiedParams{AuthenticatorID: va.AuthenticatorID, IsUserVerified: noUV}); err != nil {
		t.Fatal(err)
	}
	b.signOut()
	b.click("passkey-signin")
	b.at("/login/passkey")
	b.run("sign-in button shown", chromedp.WaitVisible(sel("passkey-submit")))
	b.run("try without user verification", chromedp.Click(sel("passkey-submit")))
	b.run("error shown", chromedp.WaitVisible(sel("passkey-status")))
	if got, want := b.text("passkey-status"), e.cat.T(i18n.En, "passkey.cancelled", nil); got != want {
		t.Errorf("status %q, want %q", got, want)
	}
	b.at("/login/passkey")
	b.check("after a refused ceremony")
}
