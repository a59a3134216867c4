package web_test

import (
	"context"
	"encoding/base32"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/identity/otp"
)

// forcedAllowedRoutes are the account routes a session that must change
// its password may still use (PWD-08).
var forcedAllowedRoutes = map[string]bool{
	"GET /account/password":                         true,
	"POST /account/password":                        true,
	"POST /account/security/step-up":                true,
	"POST /account/security/step-up/sms":            true,
	"POST /account/security/step-up/passkey":        true,
	"POST /account/security/step-up/passkey/finish": true,
	"GET /account/freeze":                           true,
	"POST /account/freeze":                          true,
}

// PWD-08: after a password is marked compromised, the sign-in still needs
// the password and the second factor, and then the session is sent to the
// change-password page from every other page; only the step-up, the
// change, sign-out and freeze work. A change frees it.
func TestPWD08_CompromisedSessionMustChangeThePassword(t *testing.T) {
	t.Parallel()
	e := newAccountEnv(t)
	c := e.client()
	a := e.signUp(c)
	u := e.user(a)
	if err := e.id.MarkCompromised(context.Background(), u.ID, "agent:test", "case_1", "found in a breach corpus", identity.Meta{}); err != nil {
		t.Fatal(err)
	}
	// Every session ended with the mark.
	wantRedirect(t, c.get("/account"), "/login")
	e.logIn(c, a) // password and SMS code, as always

	// Every account page but the allowed ones leads to the change.
	for _, rt := range e.server.Routes() {
		key := rt.Method + " " + rt.Pattern
		if !strings.HasPrefix(rt.Pattern, "/account") || forcedAllowedRoutes[key] {
			continue
		}
		target := strings.NewReplacer("{kind}", "email", "{id}", "ses_0000000000001").Replace(rt.Pattern)
		res := c.do(rt.Method, target, url.Values{})
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/account/password" {
			t.Errorf("%s: status %d to %q, want 303 to /account/password", key, res.StatusCode, res.Header.Get("Location"))
		}
	}
	if _, ok := forcedAllowedRoutes["GET /account/password"]; !ok {
		t.Fatal("the test lost its list")
	}

	// The change-password page, in both languages.
	for _, l := range i18n.Langs() {
		c.lang = string(l)
		res := c.get("/account/password")
		checkAccountPage(t, e, string(l)+" forced change", l, res)
		wantContains(t, res.body, `data-testid="password-forced"`, e.text(l, "security.forced.explain"), `action="/account/password"`,
			`autocomplete="current-password"`, `autocomplete="new-password"`, `action="/logout"`, `href="/account/freeze"`)
		if strings.Contains(res.body, `data-testid="totp-section"`) || strings.Contains(res.body, `data-testid="sessions"`) {
			t.Errorf("%s: the forced page shows other settings", l)
		}
	}
	c.lang = "en"
	wantStatus(t, c.get("/account/freeze"), http.StatusOK)

	// With the sudo window closed the change needs a step-up, offered on
	// the same page, which comes back to it.
	e.clock.Advance(11 * time.Minute)
	res := c.post("/account/password", url.Values{"current_password": {a.password}, "new_password": {"a fresh long passphrase"}})
	wantStatus(t, res, http.StatusForbidden)
	wantContains(t, res.body, `data-testid="password-forced"`, e.text(i18n.En, "security.step_up.required"), `data-testid="method-sms"`)
	after := e.lastMailID()
	wantRedirect(t, c.post("/account/security/step-up/sms", nil), "/account/password?sms=sent")
	code := e.waitCode(a.phone, "code_step_up", after)
	wantRedirect(t, c.post("/account/security/step-up", url.Values{"method": {"sms"}, "code": {code}}), "/account/password?confirmed=1")
	wantContains(t, c.get("/account/password?confirmed=1").body, e.text(i18n.En, "security.notice.confirmed"), `data-sudo="on"`)

	// A wrong current password stays on the forced page.
	res = c.post("/account/password", url.Values{"current_password": {"not my password"}, "new_password": {"a fresh long passphrase"}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantContains(t, res.body, `data-testid="password-forced"`, `id="current_password-error"`)

	// The change frees the session.
	wantRedirect(t, c.post("/account/password", url.Values{"current_password": {a.password}, "new_password": {"a fresh long passphrase"}}), "/account/security?password=changed")
	wantStatus(t, c.get("/account"), http.StatusOK)
	wantRedirect(t, c.get("/account/password"), "/account/security#password")
	if e.user(a).Compromised {
		t.Fatal("the flag survived the change")
	}

	// Signing out works while forced, too.
	if err := e.id.MarkCompromised(context.Background(), u.ID, "agent:test", "", "again", identity.Meta{}); err != nil {
		t.Fatal(err)
	}
	a.password = "a fresh long passphrase"
	e.logIn(c, a)
	wantRedirect(t, c.get("/account"), "/account/password")
	wantRedirect(t, c.post("/logout", nil), "/login?out=1")
}

// SES-05: the sessions list shows each session's approximate location;
// without a GeoIP database it says "unknown", in the page's language.
func TestSES05_SessionsListShowsTheApproximateLocation(t *testing.T) {
	t.Parallel()
	e := newGeoAccountEnv(t)
	c := e.client() // 198.51.100.7: London
	a := e.signUp(c)
	res := c.get("/account/security")
	wantContains(t, res.body, e.text(i18n.En, "security.sessions.location"), `data-testid="session-location">London, GB<`)
	c.lang = "zh-CN"
	wantContains(t, c.get("/account/security").body, e.text(i18n.ZhCN, "security.sessions.location"), `data-testid="session-location">London, GB<`)
	// A new-device sign-in notice names the place (NOT-04).
	d := e.client()
	d.ip = "192.0.2.7" // Tokyo
	e.clock.Advance(3 * time.Hour)
	e.logIn(d, a)
	m := e.waitMail(a.email, identity.NoteNewDevice, "")
	if !strings.Contains(m.Body, "Approximate location: Tokyo, JP") {
		t.Fatalf("new-device notice: %q", m.Body)
	}
	wantContains(t, d.get("/account/security").body, `data-testid="session-location">Tokyo, JP<`)

	plain := newAccountEnv(t)
	p := plain.client()
	plain.signUp(p)
	wantContains(t, p.get("/account/security").body, `data-testid="session-location">unknown<`)
	p.lang = "zh-CN"
	wantContains(t, p.get("/account/security").body, `data-testid="session-location">未知<`)
}

// MFA-09 on the pages, in Chinese: removing the authenticator app after an
// SMS step-up says which confirmation it needs.
func TestMFA09_StrongerStepUpMessageInChinese(t *testing.T) {
	t.Parallel()
	e := newAccountEnv(t)
	c := e.client()
	e.signUp(c) // the sign-up's SMS code opened the sudo window
	res := c.post("/account/totp/begin", nil)
	wantStatus(t, res, http.StatusOK)
	secret := find(t, res.body, totpSecretRE)
	key := decodeTOTP(t, secret)
	wantRedirect(t, c.post("/account/totp/confirm", url.Values{"code": {totpNow(key, e.clock.Now())}, "secret": {secret}}), "/account/security?totp=on")
	c.lang = "zh-CN"
	res = c.post("/account/totp/disable", nil)
	wantStatus(t, res, http.StatusForbidden)
	wantContains(t, res.body, e.text(i18n.ZhCN, "security.step_up.stronger.totp"), `data-testid="method-totp"`)
	if strings.Contains(res.body, `data-testid="method-sms"`) {
		t.Error("SMS is offered for removing the app")
	}
}

func decodeTOTP(t *testing.T, secret string) []byte {
	t.Helper()
	key, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func totpNow(key []byte, now time.Time) string { return otp.TOTPCode(key, now) }
