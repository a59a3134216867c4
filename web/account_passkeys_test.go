package web_test

import (
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/identity/passkey/passkeytest"
)

var (
	passkeyOptionsRE = regexp.MustCompile(`data-passkey-options="([^"]*)"`)
	passkeyFlowRE    = regexp.MustCompile(`name="flow" value="([^"]*)"`)
	passkeyModeRE    = regexp.MustCompile(`data-passkey="(create|get)"`)
	passkeyRefRE     = regexp.MustCompile(`data-passkey-id="(pkey_[0-9a-z]+)"`)
)

// ceremony is what a passkey page gives the browser.
type ceremony struct {
	mode, flow string
	options    []byte
}

// readCeremony checks a passkey page and returns its ceremony.
func readCeremony(t *testing.T, res *response, action string) ceremony {
	t.Helper()
	wantStatus(t, res, http.StatusOK)
	wantContains(t, res.body, `action="`+action+`"`, `data-testid="passkey-submit"`)
	if rp := res.Header.Get("Referrer-Policy"); rp != "no-referrer" {
		t.Errorf("passkey page Referrer-Policy %q", rp)
	}
	return ceremony{
		mode:    find(t, res.body, passkeyModeRE),
		flow:    html.UnescapeString(find(t, res.body, passkeyFlowRE)),
		options: []byte(html.UnescapeString(find(t, res.body, passkeyOptionsRE))),
	}
}

// create plays the browser's navigator.credentials.create.
func (cer ceremony) create(t *testing.T, auth *passkeytest.Authenticator) string {
	t.Helper()
	if cer.mode != "create" {
		t.Fatalf("ceremony mode %q, want create", cer.mode)
	}
	resp, err := auth.Create(cer.options)
	if err != nil {
		t.Fatalf("create: %v\noptions: %s", err, cer.options)
	}
	return string(resp)
}

// get plays the browser's navigator.credentials.get.
func (cer ceremony) get(t *testing.T, auth *passkeytest.Authenticator) string {
	t.Helper()
	if cer.mode != "get" {
		t.Fatalf("ceremony mode %q, want get", cer.mode)
	}
	resp, err := auth.Get(cer.options)
	if err != nil {
		t.Fatalf("get: %v\noptions: %s", err, cer.options)
	}
	return string(resp)
}

// addPasskey enrols a passkey through the security page (the client is
// signed in, within the sudo window) and returns its authenticator.
func (e *accountEnv) addPasskey(t *testing.T, c *client, label string) *passkeytest.Authenticator {
	t.Helper()
	auth := passkeytest.New(testPasskeyOrigin, "okpay.test")
	cer := readCeremony(t, c.post("/account/passkeys/begin", nil), "/account/passkeys/finish")
	res := c.post("/account/passkeys/finish", url.Values{"flow": {cer.flow}, "response": {cer.create(t, auth)}, "label": {label}})
	wantRedirect(t, res, "/account/security?passkey=added")
	return auth
}

// passwordStep signs c in with the password only.
func (e *accountEnv) passwordStep(t *testing.T, c *client, a testAccount) {
	t.Helper()
	e.clock.Advance(61 * time.Second)
	wantRedirect(t, c.post("/login", url.Values{"identifier": {a.email}, "password": {a.password}}), "/login/verify")
}

func TestPasskeyPagesEnrolSignInAndRemove(t *testing.T) {
	t.Parallel()
	e := newAccountEnv(t)
	c := e.client()
	a := e.signUp(c)

	res := c.get("/account/security")
	wantStatus(t, res, http.StatusOK)
	wantContains(t, res.body, `data-testid="passkeys-section"`, `data-testid="passkeys-none"`, `action="/account/passkeys/begin"`, `data-passkey-entry hidden`)
	if strings.Contains(res.body, `data-testid="use-passkey"`) {
		t.Error("a passkey step-up is offered to an account without passkeys")
	}

	// Enrol: the options page, then the authenticator's response.
	res = c.post("/account/passkeys/begin", nil)
	checkAccountPage(t, e, "passkey add", i18n.En, res)
	cer := readCeremony(t, res, "/account/passkeys/finish")
	wantContains(t, res.body, `id="passkey-label"`, `<label for="passkey-label">`)
	if !strings.Contains(string(cer.options), `"rp":{"name":"OKPay","id":"okpay.test"}`) || !strings.Contains(string(cer.options), `"residentKey":"required"`) {
		t.Errorf("registration options: %s", cer.options)
	}
	auth := passkeytest.New(testPasskeyOrigin, "okpay.test")
	other := e.client()
	e.logIn(other, a)
	res = c.post("/account/passkeys/finish", url.Values{"flow": {cer.flow}, "response": {cer.create(t, auth)}, "label": {"Work laptop"}})
	wantRedirect(t, res, "/account/security?passkey=added#passkeys")
	res = c.get("/account/security?passkey=added")
	wantContains(t, res.body, e.text(i18n.En, "passkey.notice.added"), `data-testid="passkey-name">Work laptop<`,
		e.text(i18n.En, "passkey.never_used"))
	wantRedirect(t, other.get("/account"), "/login") // SES-06
	e.waitMail(a.email, identity.NoteFactorAdded, "")

	// Sign in with the password and the passkey.
	wantRedirect(t, c.post("/logout", nil), "/login?out=1")
	e.passwordStep(t, c, a)
	res = c.get("/login/verify")
	checkAccountPage(t, e, "login verify with a passkey", i18n.En, res)
	wantContains(t, res.body, `data-testid="method-passkey"`, `action="/login/verify/passkey"`, `data-testid="method-sms"`)
	if !strings.Contains(res.body, `src="/static/app.js`) {
		t.Error("the second-factor page does not load app.js")
	}
	pre := c.cookie("__Host-session")
	res = c.post("/login/verify/passkey", nil)
	checkAccountPage(t, e, "passkey second factor", i18n.En, res)
	cer = readCeremony(t, res, "/login/verify/passkey/finish")
	if !strings.Contains(string(cer.options), `"allowCredentials":[{`) {
		t.Errorf("second-factor options without allowCredentials: %s", cer.options)
	}
	res = c.post("/login/verify/passkey/finish", url.Values{"flow": {cer.flow}, "response": {cer.get(t, auth)}})
	wantRedirect(t, res, "/account")
	if c.cookie("__Host-session") == pre {
		t.Error("the session token did not change at the passkey step (SES-02)")
	}
	wantStatus(t, c.get("/account"), http.StatusOK)
	res = c.get("/account/security")
	if strings.Contains(res.body, e.text(i18n.En, "passkey.never_used")) {
		t.Error("the passkey's use is not shown")
	}

	// Sign in without a password.
	wantRedirect(t, c.post("/logout", nil), "/login?out=1")
	res = c.get("/login")
	wantContains(t, res.body, `action="/login/passkey"`, `data-testid="passkey-signin"`)
	res = c.post("/login/passkey", nil)
	checkAccountPage(t, e, "passwordless", i18n.En, res)
	cer = readCeremony(t, res, "/login/passkey/finish")
	if strings.Contains(string(cer.options), `allowCredentials`) || !strings.Contains(string(cer.options), `"userVerification":"required"`) {
		t.Errorf("passwordless options: %s", cer.options)
	}
	res = c.post("/login/passkey/finish", url.Values{"flow": {cer.flow}, "response": {cer.get(t, auth)}})
	wantRedirect(t, res, "/account")
	wantStatus(t, c.get("/account"), http.StatusOK)

	// Remove it (the passwordless sign-in opened the sudo window).
	ref := find(t, c.get("/account/security").body, passkeyRefRE)
	wantRedirect(t, c.post("/account/passkeys/"+ref+"/remove", nil), "/account/security?passkey=removed#passkeys")
	res = c.get("/account/security?passkey=removed")
	wantContains(t, res.body, e.text(i18n.En, "passkey.notice.removed"), `data-testid="passkeys-none"`)
	e.waitMail(a.email, identity.NoteFactorRemoved, "")
	if !e.user(a).HoldUntil.After(e.clock.Now()) {
		t.Error("no cooling-off hold after removing a factor")
	}
	wantStatus(t, c.post("/account/passkeys/"+ref+"/remove", nil), http.StatusNotFound)
}

func TestPasskeyPagesInChinese(t *testing.T) {
	t.Parallel()
	e := newAccountEnv(t)
	c := e.client()
	c.lang = "zh-CN"
	a := e.signUp(c)
	res := c.get("/account/security")
	wantContains(t, res.body, e.text(i18n.ZhCN, "passkey.heading"))
	checkAccountPage(t, e, "passkey add zh", i18n.ZhCN, c.post("/account/passkeys/begin", nil))
	e.addPasskey(t, c, "")
	wantContains(t, c.get("/account/security").body, `data-testid="passkey-name">Chrome / Linux<`)
	wantRedirect(t, c.post("/logout", nil), "/login")
	checkAccountPage(t, e, "login zh", i18n.ZhCN, c.get("/login"))
	checkAccountPage(t, e, "passwordless zh", i18n.ZhCN, c.post("/login/passkey", nil))
	e.passwordStep(t, c, a)
	checkAccountPage(t, e, "login verify zh", i18n.ZhCN, c.get("/login/verify"))
	checkAccountPage(t, e, "passkey factor zh", i18n.ZhCN, c.post("/login/verify/passkey", nil))
}

func TestPasskeyPagesNeedAFullSessionAndSudo(t *testing.T) {
	t.Parallel()
	e := newAccountEnv(t)
	c := e.client()
	a := e.signUp(c)
	auth := e.addPasskey(t, c, "key")
	ref := find(t, c.get("/account/security").body, passkeyRefRE)

	// No session: every passkey POST of the signed-in area goes to sign-in.
	nobody := e.client()
	for _, target := range []string{"/account/passkeys/begin", "/account/passkeys/finish", "/account/passkeys/" + ref + "/remove",
		"/account/security/step-up/passkey", "/account/security/step-up/passkey/finish", "/login/verify/passkey", "/login/verify/passkey/finish"} {
		wantRedirect(t, nobody.post(target, url.Values{"flow": {"x.y"}, "response": {"{}"}}), "/login")
	}
	// A session waiting for its second factor (MFA-01) cannot add or
	// remove a passkey.
	pending := e.client()
	e.passwordStep(t, pending, a)
	for _, target := range []string{"/account/passkeys/begin", "/account/passkeys/finish", "/account/passkeys/" + ref + "/remove", "/account/security/step-up/passkey"} {
		wantRedirect(t, pending.post(target, nil), "/login/verify")
	}

	// SES-08: outside the sudo window, adding and removing show the
	// step-up form, which offers the passkey.
	e.clock.Advance(11 * time.Minute)
	for _, target := range []string{"/account/passkeys/begin", "/account/passkeys/" + ref + "/remove"} {
		res := c.post(target, nil)
		wantStatus(t, res, http.StatusForbidden)
		wantContains(t, res.body, e.text(i18n.En, "security.step_up.required"), `data-testid="use-passkey"`, `action="/account/security/step-up/passkey"`)
	}
	res := c.post("/account/passkeys/finish", url.Values{"flow": {"x.y"}, "response": {"{}"}})
	wantStatus(t, res, http.StatusForbidden)

	// Step up with the passkey: a new token, the sudo window open.
	before := c.cookie("__Host-session")
	cer := readCeremony(t, c.post("/account/security/step-up/passkey", nil), "/account/security/step-up/passkey/finish")
	// A wrong origin fails readably and counts toward the lockout.
	auth.SetOrigin("https://evil.example")
	res = c.post("/account/security/step-up/passkey/finish", url.Values{"flow": {cer.flow}, "response": {cer.get(t, auth)}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantContains(t, res.body, e.text(i18n.En, "passkey.error.invalid"), `data-sudo="off"`)
	var failed int
	e.db.Read.QueryRowContext(e.ctx, `SELECT failed_count FROM users WHERE email = $1`, a.email).Scan(&failed)
	if failed != 1 {
		t.Errorf("failed_count = %d after a wrong origin, want 1", failed)
	}
	auth.SetOrigin(testPasskeyOrigin)
	// The flow was spent by the failure.
	res = c.post("/account/security/step-up/passkey/finish", url.Values{"flow": {cer.flow}, "response": {cer.get(t, auth)}})
	wantStatus(t, res, http.StatusConflict)
	wantContains(t, res.body, e.text(i18n.En, "passkey.error.flow"))
	cer = readCeremony(t, c.post("/account/security/step-up/passkey", nil), "/account/security/step-up/passkey/finish")
	wantRedirect(t, c.post("/account/security/step-up/passkey/finish", url.Values{"flow": {cer.flow}, "response": {cer.get(t, auth)}}), "/account/security?confirmed=1")
	if c.cookie("__Host-session") == before {
		t.Error("the passkey step-up kept the session token (SES-02)")
	}
	wantContains(t, c.get("/account/security").body, `data-sudo="on"`)

	// Another user's passkey is "not found" (API-02) and stays.
	bob := e.client()
	e.signUp(bob)
	e.addPasskey(t, bob, "bob's key")
	bobRef := find(t, bob.get("/account/security").body, passkeyRefRE)
	wantStatus(t, c.post("/account/passkeys/"+bobRef+"/remove", nil), http.StatusNotFound)
	wantContains(t, bob.get("/account/security").body, `data-passkey-id="`+bobRef+`"`)
	wantStatus(t, c.post("/account/passkeys/not-an-id/remove", nil), http.StatusNotFound)
	// Now with sudo, removing works.
	wantRedirect(t, c.post("/account/passkeys/"+ref+"/remove", nil), "/account/security?passkey=removed")
}

func TestPasskeyFlowsStayWithTheirBrowser(t *testing.T) {
	t.Parallel()
	e := newAccountEnv(t)
	c := e.client()
	a := e.signUp(c)
	auth := e.addPasskey(t, c, "key")
	wantRedirect(t, c.post("/logout", nil), "/login")

	// A passwordless page opened in one browser cannot be finished in
	// another (the flow is bound to the device id).
	cer := readCeremony(t, c.post("/login/passkey", nil), "/login/passkey/finish")
	thief := e.client()
	res := thief.post("/login/passkey/finish", url.Values{"flow": {cer.flow}, "response": {cer.get(t, auth)}})
	wantStatus(t, res, http.StatusConflict)
	wantContains(t, res.body, e.text(i18n.En, "passkey.error.flow"))
	if thief.cookie("__Host-session") != "" {
		t.Fatal("the other browser got a session")
	}
	// Junk is refused as a bad flow, not an error page.
	res = c.post("/login/passkey/finish", url.Values{"flow": {"<script>"}, "response": {"{}"}})
	wantStatus(t, res, http.StatusConflict)
	// The owner's browser still finishes it.
	wantRedirect(t, c.post("/login/passkey/finish", url.Values{"flow": {cer.flow}, "response": {cer.get(t, auth)}}), "/account")

	// A second-factor page of one session cannot finish another's.
	wantRedirect(t, c.post("/logout", nil), "/login")
	e.passwordStep(t, c, a)
	cer = readCeremony(t, c.post("/login/verify/passkey", nil), "/login/verify/passkey/finish")
	second := e.client()
	e.passwordStep(t, second, a)
	res = second.post("/login/verify/passkey/finish", url.Values{"flow": {cer.flow}, "response": {cer.get(t, auth)}})
	wantStatus(t, res, http.StatusConflict)
	wantRedirect(t, second.get("/account"), "/login/verify")
	// A passkey that fails is refused readably on the second-factor page.
	auth.UV = false
	auth.SetOrigin("https://elsewhere.example")
	res = c.post("/login/verify/passkey/finish", url.Values{"flow": {cer.flow}, "response": {cer.get(t, auth)}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantContains(t, res.body, e.text(i18n.En, "passkey.error.invalid"), `data-testid="method-passkey"`)
	e.waitMail(a.email, identity.NotePasswordNoMFA, "")
}

func TestPasskeyPostsRefuseOtherSites(t *testing.T) {
	t.Parallel()
	e := newAccountEnv(t)
	c := e.client()
	e.signUp(c)
	for _, target := range []string{"/login/passkey", "/login/passkey/finish", "/login/verify/passkey", "/account/passkeys/begin",
		"/account/passkeys/finish", "/account/security/step-up/passkey"} {
		r := httptest.NewRequest(http.MethodPost, target, strings.NewReader("flow=x.y&response=%7B%7D"))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Sec-Fetch-Site", "cross-site")
		r.AddCookie(&http.Cookie{Name: "__Host-session", Value: c.cookie("__Host-session")})
		w := httptest.NewRecorder()
		e.handler.ServeHTTP(w, r)
		if w.Code != http.StatusForbidden {
			t.Errorf("cross-site POST %s: status %d, want 403 (SES-09)", target, w.Code)
		}
	}
	var n int
	if err := e.db.Read.QueryRowContext(e.ctx, `SELECT COUNT(*) FROM webauthn_flows`).Scan(&n); err != nil || n != 0 {
		t.Errorf("cross-site POSTs stored %d passkey flows (%v)", n, err)
	}
}

func TestPasswordlessPerIPLimit(t *testing.T) {
	t.Parallel()
	e := newAccountEnv(t)
	c := e.client()
	for i := 0; i < 20; i++ {
		wantStatus(t, c.post("/login/passkey/finish", url.Values{"flow": {"x.y"}, "response": {"{}"}}), http.StatusConflict)
	}
	res := c.post("/login/passkey/finish", url.Values{"flow": {"x.y"}, "response": {"{}"}})
	wantStatus(t, res, http.StatusTooManyRequests)
	if res.Header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
}
