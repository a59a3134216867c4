package web_test

import (
	"encoding/base32"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/identity/otp"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/maildesk"
	"github.com/okpay/okpay/web"
)

// find returns the first submatch of re in body, or fails.
func find(t testing.TB, body string, re *regexp.Regexp) string {
	t.Helper()
	m := re.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no match for %s in\n%s", re, excerpt(body))
	}
	return m[1]
}

func wantContains(t testing.TB, body string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(body, s) {
			t.Errorf("page lacks %q\n%s", s, excerpt(body))
		}
	}
}

// text is a catalog message as it appears in HTML.
func (e *accountEnv) text(l i18n.Lang, id string, kv ...any) string {
	var data map[string]any
	if len(kv) > 0 {
		data = map[string]any{}
		for i := 0; i+1 < len(kv); i += 2 {
			data[kv[i].(string)] = kv[i+1]
		}
	}
	return esc(e.cat.T(l, id, data))
}

// esc escapes s as html/template does in text and attributes.
func esc(s string) string { return strings.ReplaceAll(html.EscapeString(s), "+", "&#43;") }

// ---- Every page, both languages ----

var (
	accountIDLike  = regexp.MustCompile(`\b(?:account|signup|login|dashboard|security|reset|freeze|mailbox|form|contact_change|notifications)\.[a-z][a-z0-9_]*(?:\.[a-z0-9_]+)*\b`)
	inputTag       = regexp.MustCompile(`<input [^>]*>`)
	attrID         = regexp.MustCompile(`\sid="([^"]+)"`)
	scriptTag      = regexp.MustCompile(`(?i)<script[^>]*>`)
	appScript      = regexp.MustCompile(`^<script src="/static/(?:app|zone)\.js\?v=[0-9a-f]+" defer>$`)
	inlineBadBits  = regexp.MustCompile(`(?i)<style|\sstyle=|\son[a-z]+=|javascript:|(?:src|href|action)="(?:https?:)?//`)
	titleTag       = regexp.MustCompile(`<title>([^<]*)</title>`)
	freezePathRE   = regexp.MustCompile(`/freeze/([A-Za-z0-9_-]+)`)
	totpSecretRE   = regexp.MustCompile(`data-testid="totp-secret" data-secret="([A-Z2-7]+)"`)
	recoveryCodeRE = regexp.MustCompile(`data-testid="recovery-code">([^<]+)<`)
)

// checkAccountPage checks what every account page must have.
func checkAccountPage(t *testing.T, e *accountEnv, name string, l i18n.Lang, res *response) {
	t.Helper()
	body := res.body
	if res.StatusCode != http.StatusOK {
		t.Errorf("%s: status %d\n%s", name, res.StatusCode, excerpt(body))
		return
	}
	if cc := res.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("%s: Cache-Control %q, want no-store", name, cc)
	}
	if !strings.Contains(body, `<html lang="`+string(l)+`">`) {
		t.Errorf("%s: not in %s", name, l)
	}
	if m := titleTag.FindStringSubmatch(body); m == nil || m[1] == "" {
		t.Errorf("%s: no title", name)
	}
	if n := strings.Count(body, "<h1"); n != 1 {
		t.Errorf("%s: %d <h1>", name, n)
	}
	for _, m := range accountIDLike.FindAllString(body, -1) {
		t.Errorf("%s: %q looks like an untranslated message id", name, m)
	}
	for _, id := range e.cat.IDs(l) {
		if strings.Count(id, ".") >= 2 && strings.Contains(body, id) {
			t.Errorf("%s: raw message id %q", name, id)
		}
	}
	if l == i18n.ZhCN {
		h1 := body[strings.Index(body, "<h1"):]
		h1 = h1[:strings.Index(h1, "</h1>")]
		if !regexp.MustCompile(`\p{Han}`).MatchString(h1) {
			t.Errorf("%s: the zh-CN heading has no Chinese: %s", name, h1)
		}
	}
	for _, s := range scriptTag.FindAllString(body, -1) {
		if !appScript.MatchString(s) {
			t.Errorf("%s: script other than app.js and zone.js: %s", name, s)
		}
	}
	if m := inlineBadBits.FindString(body); m != "" {
		t.Errorf("%s: inline code or a foreign host: %q", name, m)
	}
	// Every visible input has a label.
	for _, in := range inputTag.FindAllString(body, -1) {
		if strings.Contains(in, `type="hidden"`) {
			continue
		}
		m := attrID.FindStringSubmatch(in)
		if m == nil {
			t.Errorf("%s: input without id: %s", name, in)
			continue
		}
		if !strings.Contains(body, `<label for="`+m[1]+`">`) {
			t.Errorf("%s: input %q has no label", name, m[1])
		}
	}
	// No token, code or secret in any URL (SES-10).
	for _, m := range regexp.MustCompile(`(?:href|action)="([^"]*)"`).FindAllStringSubmatch(body, -1) {
		if regexp.MustCompile(`[?&](?:token|code|secret|otp|password|flow)=`).MatchString(m[1]) {
			t.Errorf("%s: a secret in a URL: %s", name, m[1])
		}
	}
}

func TestAccountPagesRenderInBothLanguages(t *testing.T) {
	t.Parallel()
	e := newAccountEnv(t)
	// States: a signed-in account with a freeze link to use, a sign-up in
	// progress, a sign-in waiting for its second factor, a reset.
	full := e.client()
	a := e.signUp(full)
	res := full.post("/account/recovery-codes", nil)
	wantStatus(t, res, http.StatusOK)
	recoveryPage := res.body
	freezeTok := find(t, e.waitMail(a.email, identity.NoteFactorAdded, "").Body, freezePathRE)
	res = full.post("/account/totp/begin", nil)
	wantStatus(t, res, http.StatusOK)
	totpPage := res.body

	flow := e.client()
	wantRedirect(t, flow.post("/signup", url.Values{"email": {"new@example.com"}, "phone": {"+8613900000001"}, "password": {"a long enough passphrase"}}), "/signup/verify")

	pending := e.client()
	e.clock.Advance(61 * time.Second)
	wantRedirect(t, pending.post("/login", url.Values{"identifier": {a.email}, "password": {a.password}}), "/login/verify")

	reset := e.client()
	wantRedirect(t, reset.post("/password/forgot", url.Values{"identifier": {a.phone}, "channel": {"sms"}}), "/password/reset")

	anon := e.client()
	pages := []struct {
		name   string
		c      *client
		target string
		wants  []string
	}{
		{"home", anon, "/", []string{`data-testid="nav-signin"`, `data-testid="nav-signup"`}},
		{"signup", anon, "/signup", []string{`autocomplete="new-password"`, `type="password"`, `data-testid="pw-toggle-password"`, `autocomplete="email"`, `type="tel"`}},
		{"login", anon, "/login", []string{`autocomplete="current-password"`, `autocomplete="username"`, `href="/password/forgot"`}},
		{"forgot", anon, "/password/forgot", []string{`name="channel" type="radio" value="sms" checked`}},
		{"freeze link", anon, "/freeze/" + freezeTok, []string{`name="token" value="` + freezeTok + `"`, `action="/freeze"`}},
		{"mailbox", anon, "/dev/mailbox", []string{`data-testid="dev-banner"`, `data-testid="mail"`}},
		{"signup verify", flow, "/signup/verify", []string{`autocomplete="one-time-code"`, `inputmode="numeric"`, `data-testid="resend-sms"`}},
		{"login verify", pending, "/login/verify", []string{`data-testid="method-sms"`, `data-testid="send-sms"`, "•••• " + a.phone[len(a.phone)-4:]}},
		{"reset", reset, "/password/reset", []string{`data-step="1"`, `action="/password/reset/code"`}},
		{"account", full, "/account", []string{`data-testid="account-email">` + a.email, `data-testid="nav-signout"`}},
		{"security", full, "/account/security", []string{`data-testid="sessions"`, `data-testid="this-device"`, `data-sudo="on"`}},
		{"freeze confirm", full, "/account/freeze", []string{`action="/account/freeze"`}},
	}
	for _, l := range i18n.Langs() {
		for _, c := range []*client{anon, flow, pending, reset, full} {
			c.lang = string(l)
		}
		for _, pg := range pages {
			res := pg.c.get(pg.target)
			name := string(l) + " " + pg.name
			if pg.name == "home" {
				if res.StatusCode != http.StatusOK {
					t.Errorf("%s: status %d", name, res.StatusCode)
				}
				wantContains(t, res.body, pg.wants...)
				continue
			}
			checkAccountPage(t, e, name, l, res)
			wantContains(t, res.body, pg.wants...)
		}
	}
	// The pages shown once, after a POST.
	for name, body := range map[string]string{"recovery codes": recoveryPage, "totp setup": totpPage} {
		checkAccountPage(t, e, "en "+name, i18n.En, &response{Response: &http.Response{StatusCode: 200, Header: http.Header{"Cache-Control": {"no-store"}}}, body: body})
	}
	if n := len(recoveryCodeRE.FindAllString(recoveryPage, -1)); n != 10 {
		t.Errorf("%d recovery codes shown, want 10", n)
	}
	wantContains(t, totpPage, `data-testid="totp-secret"`, `otpauth://totp/`)
}

// ---- Sign-up ----

func TestSignupFormShowsErrorsNextToFields(t *testing.T) {
	t.Parallel()
	e := newAccountEnv(t)
	c := e.client()
	for _, l := range i18n.Langs() {
		c.lang = string(l)
		res := c.post("/signup", url.Values{"email": {"not-an-email"}, "phone": {"12345"}, "password": {"Zq9!"}})
		wantStatus(t, res, http.StatusUnprocessableEntity)
		body := res.body
		wantContains(t, body,
			`id="email-error"`, `id="phone-error"`, `id="password-error"`,
			`href="#email"`, `href="#phone"`, `href="#password"`, `data-testid="error-summary"`,
			`value="not-an-email"`, `value="12345"`, `aria-invalid="true"`,
			e.text(l, "account.error.email"), e.text(l, "account.error.phone"), e.text(l, "account.password.too_short"))
		if strings.Contains(body, "Zq9!") {
			t.Errorf("%s: the password is echoed", l)
		}
		// Each message is both next to its field and in the summary.
		if n := strings.Count(body, e.text(l, "account.error.email")); n != 2 {
			t.Errorf("%s: the email message appears %d times, want 2", l, n)
		}
	}
	c.lang = "en"
	for pw, id := range map[string]string{
		"password123":             "account.password.common",
		"my okpay wallet key":     "account.password.contextual",
		strings.Repeat("x", 1100): "account.password.too_long",
	} {
		res := c.post("/signup", url.Values{"email": {"fine@example.com"}, "phone": {"+8613900000009"}, "password": {pw}})
		wantStatus(t, res, http.StatusUnprocessableEntity)
		wantContains(t, res.body, `id="password-error"`, e.text(i18n.En, id), `value="fine@example.com"`)
		if strings.Contains(res.body, "digit") || strings.Contains(res.body, "uppercase") || strings.Contains(res.body, "symbol") {
			t.Errorf("%s: a composition rule is mentioned (PWD-03)", id)
		}
	}
	if got := e.mailbox.List(); len(got) != 0 {
		t.Errorf("failed sign-ups sent %d messages", len(got))
	}
}

// checkCookie checks the attributes of a Set-Cookie (SES-01).
func checkCookie(t *testing.T, res *response, name string, sameSite http.SameSite, maxAge int) *http.Cookie {
	t.Helper()
	for _, ck := range res.Cookies() {
		if ck.Name != name {
			continue
		}
		raw := ""
		for _, h := range res.Header.Values("Set-Cookie") {
			if strings.HasPrefix(h, name+"=") {
				raw = h
			}
		}
		if !ck.Secure || !ck.HttpOnly || ck.Path != "/" || ck.Domain != "" || ck.SameSite != sameSite || ck.MaxAge != maxAge || !ck.Expires.IsZero() {
			t.Errorf("cookie %s: %s", name, raw)
		}
		if strings.Contains(strings.ToLower(raw), "domain=") {
			t.Errorf("cookie %s has a Domain: %s", name, raw)
		}
		return ck
	}
	t.Fatalf("no %s cookie set; Set-Cookie: %v", name, res.Header.Values("Set-Cookie"))
	return nil
}

func TestSignupCookiesAndVerification(t *testing.T) {
	t.Parallel()
	e := newAccountEnv(t)
	c := e.client()
	res := c.get("/signup")
	did := checkCookie(t, res, "__Host-did", http.SameSiteLaxMode, 365*24*3600)
	if len(did.Value) != 22 {
		t.Errorf("device id %q is not 16 bytes of base64url", did.Value)
	}
	if res := c.get("/login"); len(res.Cookies()) != 0 {
		t.Errorf("the device id is set again: %v", res.Header.Values("Set-Cookie"))
	}

	a := nextAccount()
	res = c.post("/signup", url.Values{"email": {a.email}, "phone": {a.phone}, "password": {a.password}})
	wantRedirect(t, res, "/signup/verify")
	if cc := res.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("redirect Cache-Control %q", cc)
	}
	flow := checkCookie(t, res, "__Host-flow", http.SameSiteStrictMode, 1800)
	if len(flow.Value) < 43 {
		t.Errorf("flow token %q is short", flow.Value)
	}
	ec := e.waitCode(a.email, "code_verify_email", "")
	sc := e.waitCode(a.phone, "code_verify_phone", "")
	wrong := func(code string) string { return string(rune('0'+(code[0]-'0'+1)%10)) + code[1:] }

	res = c.get("/signup/verify")
	wantStatus(t, res, http.StatusOK)
	wantContains(t, res.body, "u•••@example.com", "•••• "+a.phone[len(a.phone)-4:])

	res = c.post("/signup/verify", url.Values{"email_code": {wrong(ec)}, "sms_code": {wrong(sc)}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantContains(t, res.body, `id="email_code-error"`, `id="sms_code-error"`, e.text(i18n.En, "account.error.code"))

	res = c.post("/signup/verify", url.Values{"email_code": {ec}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantContains(t, res.body, `data-testid="email-verified"`, `id="sms_code-error"`, e.text(i18n.En, "account.error.code_required"))
	if strings.Contains(res.body, `id="email_code"`) {
		t.Error("the verified email still asks for its code")
	}

	// A new SMS code within 60 s of the first is refused with a readable
	// wait and Retry-After (MFA-03); a new email code is fine.
	res = c.post("/signup/resend", url.Values{"channel": {"sms"}})
	wantStatus(t, res, http.StatusTooManyRequests)
	if ra := res.Header.Get("Retry-After"); ra != "60" {
		t.Errorf("Retry-After %q, want 60", ra)
	}
	wantContains(t, res.body, e.text(i18n.En, "account.rate_limited", "Retry", e.cat.T(i18n.En, "account.retry.one_minute", nil)))
	e.clock.Advance(61 * time.Second)
	after := e.lastMailID()
	wantRedirect(t, c.post("/signup/resend", url.Values{"channel": {"sms"}}), "/signup/verify?sent=sms")
	sc2 := e.waitCode(a.phone, "code_verify_phone", after)
	res = c.get("/signup/verify?sent=sms")
	wantContains(t, res.body, `data-testid="notice"`, e.text(i18n.En, "signup.verify.sent.sms"))

	res = c.post("/signup/verify", url.Values{"sms_code": {sc}}) // superseded
	wantStatus(t, res, http.StatusUnprocessableEntity)
	res = c.post("/signup/verify", url.Values{"sms_code": {sc2}})
	wantRedirect(t, res, "/account")
	checkCookie(t, res, "__Host-session", http.SameSiteLaxMode, 0)
	cleared := false
	for _, ck := range res.Cookies() {
		if ck.Name == "__Host-flow" && ck.MaxAge < 0 {
			cleared = true
		}
	}
	if !cleared {
		t.Errorf("the flow cookie is not cleared: %v", res.Header.Values("Set-Cookie"))
	}
	res = c.get("/account")
	wantStatus(t, res, http.StatusOK)
	wantContains(t, res.body, `data-testid="email-status">`+e.text(i18n.En, "dashboard.verified"), `data-testid="phone-status">`+e.text(i18n.En, "dashboard.verified"), esc(a.phone))

	// The finished flow is gone.
	c.cookies["__Host-flow"] = &http.Cookie{Name: "__Host-flow", Value: flow.Value}
	res = c.get("/signup/verify")
	wantStatus(t, res, http.StatusBadRequest)
	wantContains(t, res.body, `data-testid="flow-expired"`, `href="/signup"`)
}

// ---- Sign-in ----

func TestLoginFailuresAreGeneric(t *testing.T) {
	t.Parallel()
	e := newAccountEnv(t)
	c := e.client()
	a := e.signUp(c)
	wantRedirect(t, c.post("/logout", nil), "/login")

	res := c.post("/login", url.Values{"identifier": {"", ""}, "password": {""}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantContains(t, res.body, `id="identifier-error"`, `id="password-error"`)

	wrong := c.post("/login", url.Values{"identifier": {a.email}, "password": {a.password + "x"}})
	unknown := c.post("/login", url.Values{"identifier": {"nobody@example.com"}, "password": {a.password}})
	for _, res := range []*response{wrong, unknown} {
		wantStatus(t, res, http.StatusUnauthorized)
		wantContains(t, res.body, e.text(i18n.En, "account.error.credentials"), `data-testid="error-general"`)
		if strings.Contains(res.body, a.password) {
			t.Error("the password is echoed")
		}
		if c.cookie("__Host-session") != "" {
			t.Error("a failed login set a session")
		}
	}
	// LOG-01: apart from the identifier typed, the answers are identical.
	b1 := strings.ReplaceAll(wrong.body, a.email, "ID")
	b2 := strings.ReplaceAll(unknown.body, "nobody@example.com", "ID")
	if b1 != b2 {
		t.Error("a wrong password and an unknown user get different pages")
	}
}

func TestLoginSecondFactorRotatesTheSession(t *testing.T) {
	t.Parallel()
	e := newAccountEnv(t)
	c := e.client()
	a := e.signUp(c)
	signupToken := c.cookie("__Host-session")
	res := c.post("/logout", nil)
	wantRedirect(t, res, "/login?out=1")
	if c.cookie("__Host-session") != "" {
		t.Fatal("logout kept the cookie")
	}
	old := e.client()
	old.cookies["__Host-session"] = &http.Cookie{Name: "__Host-session", Value: signupToken}
	wantRedirect(t, old.get("/account"), "/login") // SES-04

	e.clock.Advance(61 * time.Second)
	after := e.lastMailID()
	res = c.post("/login", url.Values{"identifier": {a.phone}, "password": {a.password}})
	wantRedirect(t, res, "/login/verify")
	pre := checkCookie(t, res, "__Host-session", http.SameSiteLaxMode, 0).Value

	// The AAL1 session opens nothing but the second-factor page (MFA-01).
	wantRedirect(t, c.get("/account"), "/login/verify")
	wantRedirect(t, c.get("/account/security"), "/login/verify")
	wantRedirect(t, c.post("/account/totp/begin", nil), "/login/verify")
	res = c.get("/login/verify")
	wantStatus(t, res, http.StatusOK)
	if strings.Contains(res.body, `data-testid="method-totp"`) || strings.Contains(res.body, `data-testid="method-recovery_code"`) {
		t.Error("methods the account does not have are offered")
	}
	code := e.waitCode(a.phone, "code_login", after)
	res = c.post("/login/verify", url.Values{"method": {"sms"}, "code": {""}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantContains(t, res.body, `id="login-sms-error"`, e.text(i18n.En, "account.error.code_required"))
	res = c.post("/login/verify", url.Values{"method": {"sms"}, "code": {"12345"}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantContains(t, res.body, `id="login-sms-error"`, `href="#login-sms"`, e.text(i18n.En, "account.error.code"))
	res = c.post("/login/verify", url.Values{"method": {"totp"}, "code": {"123456"}})
	wantStatus(t, res, http.StatusBadRequest)

	res = c.post("/login/verify", url.Values{"method": {"sms"}, "code": {code}})
	wantRedirect(t, res, "/account")
	post := checkCookie(t, res, "__Host-session", http.SameSiteLaxMode, 0).Value
	if post == pre {
		t.Fatal("the session token did not change at the second factor (SES-02)")
	}
	wantStatus(t, c.get("/account"), http.StatusOK)
	wantRedirect(t, c.get("/login"), "/account")
	wantRedirect(t, c.get("/login/verify"), "/account")

	// The pre-login token is dead everywhere.
	fix := e.client()
	fix.cookies["__Host-session"] = &http.Cookie{Name: "__Host-session", Value: pre}
	for _, target := range []string{"/account", "/account/security", "/login/verify"} {
		wantRedirect(t, fix.get(target), "/login")
	}
	wantRedirect(t, fix.post("/login/verify", url.Values{"method": {"sms"}, "code": {code}}), "/login")
	if fix.cookie("__Host-session") != "" {
		t.Error("the dead cookie is not cleared")
	}

	// A new SMS code within a minute is refused readably.
	c2 := e.client()
	e.clock.Advance(61 * time.Second)
	wantRedirect(t, c2.post("/login", url.Values{"identifier": {a.email}, "password": {a.password}}), "/login/verify")
	res = c2.post("/login/verify/sms", nil)
	wantStatus(t, res, http.StatusTooManyRequests)
	if res.Header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
	e.clock.Advance(61 * time.Second)
	wantRedirect(t, c2.post("/login/verify/sms", nil), "/login/verify?sms=sent")
	wantContains(t, c2.get("/login/verify?sms=sent").body, `data-testid="notice"`)
	// Cancelling signs out.
	wantRedirect(t, c2.post("/logout", nil), "/login")
}

func TestLoginPerIPLimit(t *testing.T) {
	t.Parallel()
	e := newAccountEnv(t)
	c := e.client()
	var res *response
	for i := range 21 {
		res = c.post("/login", url.Values{"identifier": {fmt.Sprintf("ghost%d@example.com", i)}, "password": {"whatever it is"}})
		if i < 20 {
			wantStatus(t, res, http.StatusUnauthorized)
		}
	}
	wantStatus(t, res, http.StatusTooManyRequests)
	if ra := res.Header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Errorf("Retry-After %q", ra)
	}
	wantContains(t, res.body, "Too many attempts. Try again in")
	c.lang = "zh-CN"
	res = c.post("/login", url.Values{"identifier": {"ghost@example.com"}, "password": {"whatever it is"}})
	wantStatus(t, res, http.StatusTooManyRequests)
	wantContains(t, res.body, "尝试次数过多")
}

// ---- Route table: GET never changes state, POST needs a session ----

// dbState dumps what a request could change, leaving out only "last
// seen" times (reading a page with a session records activity, SES-03).
func (e *accountEnv) dbState() string {
	e.t.Helper()
	e.settle()
	var b strings.Builder
	for _, q := range []string{
		`SELECT * FROM users ORDER BY id`,
		`SELECT id, token_hash, user_id, aal, device_id, ip, user_agent, created_at, expires_at, mfa_at, mfa_failed, revoked_at, revoke_reason FROM sessions ORDER BY id`,
		`SELECT * FROM auth_flows ORDER BY id`,
		`SELECT * FROM otp_codes ORDER BY id`,
		`SELECT * FROM recovery_codes ORDER BY user_id, idx`,
		`SELECT user_id, device_id, first_seen_at, user_agent, reverify FROM devices ORDER BY user_id, device_id`,
		`SELECT * FROM rate_counters ORDER BY key, window_start`,
		`SELECT * FROM freeze_links ORDER BY token_hash`,
		`SELECT COUNT(*) FROM audit_log`,
		`SELECT COUNT(*) FROM notification_outbox`,
		`SELECT id, read_at FROM inapp_notifications ORDER BY id`,
	} {
		rows, err := e.db.Read.QueryContext(e.ctx, q)
		if err != nil {
			e.t.Fatalf("%s: %v", q, err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				e.t.Fatal(err)
			}
			fmt.Fprintf(&b, "%s: %v\n", q[:20], vals)
		}
		rows.Close()
	}
	return b.String()
}

func TestAccountRouteTable(t *testing.T) {
	t.Parallel()
	e := newAccountEnv(t)
	full := e.client()
	a := e.signUp(full)
	wantStatus(t, full.post("/account/recovery-codes", nil), http.StatusOK) // a freeze link
	freezeTok := find(t, e.waitMail(a.email, identity.NoteFactorAdded, "").Body, freezePathRE)
	pending := e.client()
	e.clock.Advance(61 * time.Second)
	wantRedirect(t, pending.post("/login", url.Values{"identifier": {a.email}, "password": {a.password}}), "/login/verify")
	flow := e.client()
	wantRedirect(t, flow.post("/signup", url.Values{"email": {"other@example.com"}, "phone": {"+8613900000002"}, "password": {"a long enough passphrase"}}), "/signup/verify")
	reset := e.client()
	wantRedirect(t, reset.post("/password/forgot", url.Values{"identifier": {a.email}, "channel": {"email"}}), "/password/reset")
	anon := e.client()
	anon.get("/login") // has a device id

	routes := e.server.Routes()
	var gets, posts []web.Route
	for _, rt := range routes {
		switch rt.Method {
		case http.MethodGet:
			gets = append(gets, rt)
		case http.MethodPost:
			posts = append(posts, rt)
		default:
			t.Errorf("%s %s: only GET and POST are used", rt.Method, rt.Pattern)
		}
		// SES-10: no token or code in a route, but the freeze link's own.
		switch p := strings.TrimSuffix(rt.Pattern, "{$}"); {
		case !strings.Contains(p, "{"):
		case p == "/freeze/{token}", p == "/account/sessions/{id}/revoke", p == "/account/passkeys/{id}/remove":
		case p == "/recovery/cancel/{token}": // REC-08's one-click cancel link, like the freeze link
		case p == maildesk.SurveyPath+"{token}": // a rating request's link, like the freeze link
		case p == desk.ContactPath+"{token}", p == desk.ContinuePath+"{token}": // a visitor's email links, likewise
		case p == "/account/notifications/{id}/read":
		case strings.HasPrefix(p, "/account/contact/{kind}"): // email or phone, never the value
		default:
			t.Errorf("%s %s: unexpected path parameter", rt.Method, rt.Pattern)
		}
	}
	if len(gets) < 10 || len(posts) < 20 {
		t.Fatalf("%d GET and %d POST routes: the account routes are missing", len(gets), len(posts))
	}

	before := e.dbState()
	for _, rt := range gets {
		target := strings.NewReplacer("{$}", "", "{token}", freezeTok, "{kind}", "phone").Replace(rt.Pattern)
		if strings.HasSuffix(target, "/static/") {
			target += "app.css"
		}
		for name, c := range map[string]*client{"full": full, "pending": pending, "flow": flow, "reset": reset, "anon": anon} {
			for _, method := range []string{http.MethodGet, http.MethodHead} {
				res := c.do(method, target, nil)
				if res.StatusCode >= 500 {
					t.Errorf("%s %s as %s: status %d", method, target, name, res.StatusCode)
				}
				for _, ck := range res.Cookies() {
					// The device id, and the page to come back to after
					// signing in, are the only cookies a GET sets.
					if ck.MaxAge >= 0 && ck.Name != "__Host-did" && ck.Name != "__Host-return" {
						t.Errorf("%s %s as %s set cookie %s", method, target, name, ck.Name)
					}
				}
			}
		}
	}
	if after := e.dbState(); after != before {
		t.Errorf("GET requests changed the database:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if e.user(a).Frozen {
		t.Fatal("GET /freeze/{token} froze the account")
	}

	// Every POST of the signed-in area answers a request without a
	// session with a redirect to the sign-in page, and changes nothing.
	nobody := e.client()
	for _, rt := range posts {
		target := strings.NewReplacer("{id}", ids.Format(identity.SessionPrefix, 12345), "{kind}", "phone").Replace(rt.Pattern)
		res := nobody.post(target, url.Values{"method": {"sms"}, "code": {"123456"}, "channel": {"sms"}, "token": {"x"}})
		switch {
		case strings.HasPrefix(target, "/account/"), strings.HasPrefix(target, "/login/verify"), target == "/logout":
			wantRedirect(t, res, "/login")
		case strings.HasPrefix(target, "/signup/"), strings.HasPrefix(target, "/password/reset"):
			// Flow steps without a flow: the "start again" page.
			wantStatus(t, res, http.StatusBadRequest)
			wantContains(t, res.body, `data-testid="flow-expired"`)
		}
		if cc := res.Header.Get("Cache-Control"); cc != "no-store" && target != "/lang" {
			t.Errorf("POST %s: Cache-Control %q", target, cc)
		}
	}
	var n int
	if err := e.db.Read.QueryRowContext(e.ctx, `SELECT COUNT(*) FROM sessions WHERE revoked_at = 0`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("%d live sessions, want 2 (signed-in and pending)", n)
	}
}

// ---- Security settings ----

func TestStepUpTOTPAndRecoveryCodes(t *testing.T) {
	t.Parallel()
	e := newAccountEnv(t)
	c := e.client()
	a := e.signUp(c)
	res := c.get("/account/security")
	wantContains(t, res.body, `data-sudo="on"`, `data-totp="off"`)

	// Ten minutes later the sudo window is closed: the action shows the
	// step-up form with a clear message, not an error page (SES-08).
	e.clock.Advance(11 * time.Minute)
	res = c.post("/account/totp/begin", nil)
	wantStatus(t, res, http.StatusForbidden)
	wantContains(t, res.body, `data-sudo="off"`, e.text(i18n.En, "security.step_up.required"), `action="/account/security/step-up"`, `data-testid="method-sms"`)
	for _, target := range []string{"/account/recovery-codes", "/account/totp/disable", "/account/sessions/revoke-others"} {
		wantStatus(t, c.post(target, nil), http.StatusForbidden)
	}
	res = c.post("/account/password", url.Values{"current_password": {a.password}, "new_password": {"another long passphrase"}})
	wantStatus(t, res, http.StatusForbidden)

	after := e.lastMailID()
	wantRedirect(t, c.post("/account/security/step-up/sms", nil), "/account/security?sms=sent")
	code := e.waitCode(a.phone, "code_step_up", after)
	res = c.post("/account/security/step-up", url.Values{"method": {"sms"}, "code": {"000000"}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantContains(t, res.body, `id="stepup-sms-error"`)
	before := c.cookie("__Host-session")
	res = c.post("/account/security/step-up", url.Values{"method": {"sms"}, "code": {code}})
	wantRedirect(t, res, "/account/security?confirmed=1")
	if c.cookie("__Host-session") == before {
		t.Error("step-up kept the session token (SES-02: a new token on re-auth)")
	}
	wantContains(t, c.get("/account/security?confirmed=1").body, `data-sudo="on"`, e.text(i18n.En, "security.notice.confirmed"))

	// Authenticator app.
	res = c.post("/account/totp/begin", nil)
	wantStatus(t, res, http.StatusOK)
	secret := find(t, res.body, totpSecretRE)
	key, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
	if err != nil {
		t.Fatal(err)
	}
	// The app scans the set-up address: this account's, with the key
	// the page shows.
	uri := otp.ProvisioningURI("OKPay", a.email, key)
	if got, label := scanQR(t, res.body); got != uri || label != e.text(i18n.En, "security.totp.qr_label") {
		t.Errorf("the QR code reads %q (label %q), want %q", got, label, uri)
	}
	res = c.post("/account/totp/confirm", url.Values{"code": {"000000"}, "secret": {secret}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	if got, _ := scanQR(t, res.body); got != uri {
		t.Errorf("after a wrong code the QR code reads %q, want the same %q", got, uri)
	}
	// The same secret again, in groups of four for the eye (not a link:
	// no secret in any URL, SES-10); the wrong code said as an app's
	// (there is nothing to ask for anew).
	wantContains(t, res.body, `id="totp-code-error"`, `data-secret="`+secret+`">`+secret[:4]+` `+secret[4:8]+` `, e.text(i18n.En, "account.error.totp_code"))
	wantRedirect(t, c.post("/account/totp/confirm", url.Values{"code": {otp.TOTPCode(key, e.clock.Now())}, "secret": {secret}}), "/account/security?totp=on")
	res = c.get("/account/security")
	wantContains(t, res.body, `data-totp="on"`)
	// With no recovery codes yet, the notice asks for them.
	wantContains(t, c.get("/account/security?totp=on").body, e.text(i18n.En, "security.notice.totp_on_recovery"))

	// Recovery codes: shown once, ten of them, counted on the page; the
	// first ones replace nothing, so nothing is said to have stopped
	// working (later ones do).
	res = c.post("/account/recovery-codes", nil)
	wantStatus(t, res, http.StatusOK)
	codes := recoveryCodeRE.FindAllStringSubmatch(res.body, -1)
	if len(codes) != 10 {
		t.Fatalf("%d recovery codes", len(codes))
	}
	wantContains(t, res.body, `data-testid="recovery-warning"`)
	if strings.Contains(res.body, `data-testid="recovery-replaced"`) {
		t.Error("the first recovery codes say the old ones stopped working")
	}
	if strings.Contains(c.get("/account/security?totp=on").body, e.text(i18n.En, "security.notice.totp_on_recovery")) {
		t.Error("the notice asks for recovery codes the account has")
	}
	res = c.post("/account/recovery-codes", nil)
	wantContains(t, res.body, `data-testid="recovery-replaced"`, e.text(i18n.En, "security.recovery.after"))
	codes = recoveryCodeRE.FindAllStringSubmatch(res.body, -1)
	wantContains(t, c.get("/account/security").body, e.text(i18n.En, "security.recovery.count", "Count", 10))

	// Sign in again: the app is the default method, then SMS, then a
	// recovery code.
	wantRedirect(t, c.post("/logout", nil), "/login")
	e.clock.Advance(30 * time.Second) // the set-up code's step is spent
	wantRedirect(t, c.post("/login", url.Values{"identifier": {a.email}, "password": {a.password}}), "/login/verify")
	res = c.get("/login/verify")
	body := res.body
	ti, si, ri := strings.Index(body, `data-testid="method-totp"`), strings.Index(body, `data-testid="method-sms"`), strings.Index(body, `data-testid="method-recovery_code"`)
	if ti < 0 || si < 0 || ri < 0 || !(ti < si && si < ri) {
		t.Errorf("methods out of order: totp %d, sms %d, recovery %d", ti, si, ri)
	}
	// A wrong app code is said as an app's (nothing to ask for anew).
	res = c.post("/login/verify", url.Values{"method": {"totp"}, "code": {"000000"}})
	if otp.TOTPCode(key, e.clock.Now()) != "000000" {
		wantStatus(t, res, http.StatusUnprocessableEntity)
		wantContains(t, res.body, e.text(i18n.En, "account.error.totp_code"))
	}
	res = c.post("/login/verify", url.Values{"method": {"recovery_code"}, "code": {codes[0][1]}})
	wantRedirect(t, res, "/account")
	e.settle()
	// A used recovery code starts a hold, shown on the account page.
	res = c.get("/account")
	wantContains(t, res.body, `data-testid="hold-banner"`, `data-testid="notification"`)

	// Removing the app needs sudo, which the login just gave, but made
	// with a factor at least as strong (MFA-09): the recovery code is
	// not; the page says so and offers only the app.
	res = c.post("/account/totp/disable", nil)
	wantStatus(t, res, http.StatusForbidden)
	wantContains(t, res.body, e.text(i18n.En, "security.step_up.stronger.totp"), `data-testid="method-totp"`, `data-totp="on"`)
	if strings.Contains(res.body, `data-testid="method-sms"`) || strings.Contains(res.body, `data-testid="method-recovery_code"`) {
		t.Error("a weaker step-up is offered for removing the app")
	}
	e.clock.Advance(30 * time.Second)
	wantRedirect(t, c.post("/account/security/step-up", url.Values{"method": {"totp"}, "code": {otp.TOTPCode(key, e.clock.Now())}}), "/account/security?confirmed=1")
	wantRedirect(t, c.post("/account/totp/disable", nil), "/account/security?totp=off")
	wantContains(t, c.get("/account/security").body, `data-totp="off"`)
}

func TestChangePassword(t *testing.T) {
	t.Parallel()
	e := newAccountEnv(t)
	c := e.client()
	a := e.signUp(c)
	res := c.post("/account/password", url.Values{"current_password": {"not it at all"}, "new_password": {"a brand new passphrase"}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantContains(t, res.body, `id="current_password-error"`, e.text(i18n.En, "account.error.current_password"))
	res = c.post("/account/password", url.Values{"current_password": {a.password}, "new_password": {"short"}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantContains(t, res.body, `id="new_password-error"`, e.text(i18n.En, "account.password.too_short"))
	if strings.Contains(res.body, a.password) {
		t.Error("a password is echoed")
	}
	wantRedirect(t, c.post("/account/password", url.Values{"current_password": {a.password}, "new_password": {"a brand new passphrase"}}), "/account/security?password=changed")
	wantRedirect(t, c.post("/logout", nil), "/login")
	a.password = "a brand new passphrase"
	e.logIn(c, a)
}

func TestSessionsRevokeAndSelfFreeze(t *testing.T) {
	t.Parallel()
	e := newAccountEnv(t)
	c1 := e.client()
	a := e.signUp(c1)
	c2 := e.client()
	c2.ua = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Safari/604.1"
	e.logIn(c2, a)
	e.logIn(c1, a) // fresh sudo for c1

	res := c1.get("/account/security")
	if n := strings.Count(res.body, `data-testid="session"`); n != 2 {
		t.Fatalf("%d sessions listed, want 2", n)
	}
	wantContains(t, res.body, `data-current="true"`, "Safari / iOS", "Chrome / Linux", "198.51.100.7")
	other := find(t, res.body, regexp.MustCompile(`data-session="(ses_[0-9a-z]+)">`))
	wantStatus(t, c1.post("/account/sessions/ses_nope/revoke", nil), http.StatusNotFound)
	wantStatus(t, c1.post("/account/sessions/"+ids.Format(identity.SessionPrefix, 42)+"/revoke", nil), http.StatusNotFound)
	wantRedirect(t, c1.post("/account/sessions/"+other+"/revoke", nil), "/account/security?revoked=1")
	wantRedirect(t, c2.get("/account"), "/login")

	e.logIn(c2, a)
	wantRedirect(t, c1.post("/account/sessions/revoke-others", nil), "/account/security?revoked_others=1")
	wantContains(t, c1.get("/account/security?revoked_others=1").body, e.text(i18n.En, "security.notice.revoked_others", "Count", 1))
	wantRedirect(t, c2.get("/account"), "/login")

	// Self-freeze, after a confirmation page.
	res = c1.get("/account/freeze")
	wantStatus(t, res, http.StatusOK)
	if e.user(a).Frozen {
		t.Fatal("the confirmation page froze the account")
	}
	res = c1.post("/account/freeze", nil)
	wantStatus(t, res, http.StatusOK)
	wantContains(t, res.body, `data-testid="frozen-done"`)
	if !e.user(a).Frozen {
		t.Fatal("not frozen")
	}
	if c1.cookie("__Host-session") != "" {
		t.Error("the session cookie is kept after freezing")
	}
	// A frozen account signs in to a read-only view (RSK-05).
	e.logIn(c1, a)
	res = c1.get("/account")
	wantStatus(t, res, http.StatusOK)
	wantContains(t, res.body, `data-testid="frozen-banner"`, e.text(i18n.En, "dashboard.frozen.body"))
	// Read-only: settings do not change, with a readable reason.
	res = c1.post("/account/recovery-codes", nil)
	wantStatus(t, res, http.StatusForbidden)
	wantContains(t, res.body, e.text(i18n.En, "account.error.frozen_read_only"))
	res = c1.post("/account/contact/email", url.Values{"email": {"elsewhere@example.com"}})
	wantStatus(t, res, http.StatusForbidden)
	wantContains(t, res.body, e.text(i18n.En, "account.error.frozen_read_only"))
}

// ---- Password reset ----

func TestPasswordReset(t *testing.T) {
	t.Parallel()
	e := newAccountEnv(t)
	owner := e.client()
	a := e.signUp(owner)
	r := e.client()

	res := r.get("/password/forgot")
	wantStatus(t, res, http.StatusOK)
	if rp := res.Header.Get("Referrer-Policy"); rp != "no-referrer" {
		t.Errorf("Referrer-Policy %q (REC-06)", rp)
	}
	res = r.post("/password/forgot", url.Values{"identifier": {"not an address"}, "channel": {"email"}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantContains(t, res.body, `id="identifier-error"`, `value="not an address"`, `value="email" checked`)

	// Unknown and known identifiers get the same answer (REC-01).
	ghost := e.client()
	res = ghost.post("/password/forgot", url.Values{"identifier": {"ghost@example.com"}, "channel": {"email"}})
	wantRedirect(t, res, "/password/reset")
	wantContains(t, ghost.get("/password/reset").body, `data-step="1"`)
	wantStatus(t, ghost.post("/password/reset/code", url.Values{"code": {"12345678"}}), http.StatusUnprocessableEntity)

	after := e.lastMailID()
	res = r.post("/password/forgot", url.Values{"identifier": {a.email}, "channel": {"email"}})
	wantRedirect(t, res, "/password/reset")
	checkCookie(t, res, "__Host-flow", http.SameSiteStrictMode, 1800)
	res = r.get("/password/reset")
	wantStatus(t, res, http.StatusOK)
	if rp := res.Header.Get("Referrer-Policy"); rp != "no-referrer" {
		t.Errorf("Referrer-Policy %q (REC-06)", rp)
	}
	wantContains(t, res.body, `data-step="1"`, e.text(i18n.En, "reset.code.hint.email"))
	code := e.waitCode(a.email, "code_reset", after)
	res = r.post("/password/reset/code", url.Values{"code": {"00000000"}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantContains(t, res.body, `id="reset-code-error"`)
	wantRedirect(t, r.post("/password/reset/code", url.Values{"code": {code}}), "/password/reset")

	// Step 2 never offers the channel of the reset code (MFA-10).
	res = r.get("/password/reset")
	wantContains(t, res.body, `data-step="2"`, `data-testid="method-sms"`, `data-testid="send-sms"`)
	if strings.Contains(res.body, `data-testid="method-email"`) {
		t.Error("the email channel is offered again")
	}
	wantStatus(t, r.post("/password/reset/factor", url.Values{"method": {"email"}, "code": {"123456"}}), http.StatusBadRequest)
	after = e.lastMailID()
	wantRedirect(t, r.post("/password/reset/factor/send", nil), "/password/reset?sent=1")
	factor := e.waitCode(a.phone, "code_reset_factor", after)
	res = r.post("/password/reset/factor", url.Values{"method": {"sms"}, "code": {"000000"}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantContains(t, res.body, `id="reset-sms-error"`)
	wantRedirect(t, r.post("/password/reset/factor", url.Values{"method": {"sms"}, "code": {factor}}), "/password/reset")

	res = r.get("/password/reset")
	wantContains(t, res.body, `data-step="3"`, `autocomplete="new-password"`)
	res = r.post("/password/reset/new", url.Values{"new_password": {"okpay " + a.email}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantContains(t, res.body, e.text(i18n.En, "account.password.contextual"))
	res = r.post("/password/reset/new", url.Values{"new_password": {"quiet harbour lantern"}})
	wantStatus(t, res, http.StatusOK)
	wantContains(t, res.body, `data-testid="reset-done"`, e.text(i18n.En, "reset.done.body"), `href="/login"`)
	if rp := res.Header.Get("Referrer-Policy"); rp != "no-referrer" {
		t.Errorf("done page Referrer-Policy %q", rp)
	}
	if r.cookie("__Host-flow") != "" || r.cookie("__Host-session") != "" {
		t.Error("the reset signed in or kept its flow (REC-05: no auto-login)")
	}
	// Every session ended; the old password is dead; the new one works.
	wantRedirect(t, owner.get("/account"), "/login")
	wantStatus(t, r.post("/login", url.Values{"identifier": {a.email}, "password": {a.password}}), http.StatusUnauthorized)
	a.password = "quiet harbour lantern"
	e.logIn(r, a)
	res = r.get("/account")
	wantContains(t, res.body, `data-testid="hold-banner"`)
	// The finished flow cannot be used again.
	wantStatus(t, r.get("/password/reset"), http.StatusBadRequest)
}

// ---- Freeze links ----

func TestFreezeLink(t *testing.T) {
	t.Parallel()
	e := newAccountEnv(t)
	c := e.client()
	a := e.signUp(c)
	wantStatus(t, c.post("/account/recovery-codes", nil), http.StatusOK)
	link := find(t, e.waitMail(a.email, identity.NoteFactorAdded, "").Body, regexp.MustCompile(`(https://okpay\.test/freeze/[A-Za-z0-9_-]+)`))
	path := strings.TrimPrefix(link, "https://okpay.test")

	stranger := e.client() // the link works without signing in
	res := stranger.get(path)
	wantStatus(t, res, http.StatusOK)
	if rp := res.Header.Get("Referrer-Policy"); rp != "no-referrer" {
		t.Errorf("Referrer-Policy %q", rp)
	}
	if e.user(a).Frozen {
		t.Fatal("opening the link froze the account")
	}
	tok := strings.TrimPrefix(path, "/freeze/")
	res = stranger.post("/freeze", url.Values{"token": {tok}})
	wantStatus(t, res, http.StatusOK)
	wantContains(t, res.body, `data-testid="freeze-done"`)
	if !e.user(a).Frozen {
		t.Fatal("not frozen")
	}
	wantRedirect(t, c.get("/account"), "/login") // SES-07
	// Twice is harmless.
	res = stranger.post("/freeze", url.Values{"token": {tok}})
	wantStatus(t, res, http.StatusOK)
	wantContains(t, res.body, `data-testid="freeze-done"`)
	for _, bad := range []string{"", "nope", strings.Repeat("a", 200), "a b"} {
		res = stranger.post("/freeze", url.Values{"token": {bad}})
		wantStatus(t, res, http.StatusBadRequest)
		wantContains(t, res.body, `data-testid="freeze-invalid"`)
	}
	res = stranger.get("/freeze/" + url.PathEscape("bad token!"))
	wantStatus(t, res, http.StatusBadRequest)
	// An expired link is refused readably.
	e2 := newAccountEnv(t)
	c2 := e2.client()
	a2 := e2.signUp(c2)
	wantStatus(t, c2.post("/account/recovery-codes", nil), http.StatusOK)
	tok2 := find(t, e2.waitMail(a2.email, identity.NoteFactorAdded, "").Body, freezePathRE)
	e2.clock.Advance(8 * 24 * time.Hour)
	res = e2.client().post("/freeze", url.Values{"token": {tok2}})
	wantStatus(t, res, http.StatusBadRequest)
	wantContains(t, res.body, e2.text(i18n.En, "freeze.invalid.body"))
}

// ---- Development mailbox ----

func TestDevMailbox(t *testing.T) {
	t.Parallel()
	e := newAccountEnv(t)
	c := e.client()
	a := e.signUp(c)
	res := e.client().get("/dev/mailbox")
	wantStatus(t, res, http.StatusOK)
	if cc := res.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q", cc)
	}
	wantContains(t, res.body, `data-testid="dev-banner"`,
		`data-channel="email" data-to="`+a.email+`" data-kind="code_verify_email"`,
		`data-channel="sms" data-to="`+esc(a.phone)+`" data-kind="code_verify_phone"`)
	var got []int
	for _, m := range regexp.MustCompile(`data-testid="mail" data-id="(\d+)"`).FindAllStringSubmatch(res.body, -1) {
		n, _ := strconv.Atoi(m[1])
		got = append(got, n)
	}
	if len(got) < 2 || !slices.IsSortedFunc(got, func(x, y int) int { return y - x }) {
		t.Errorf("messages not newest first: %v", got)
	}
	body := res.body[strings.Index(res.body, `data-testid="mails"`):]
	body = body[:strings.Index(body, "</ol>")]
	if strings.Contains(body, "<a ") {
		t.Error("a link in a message body is clickable")
	}

	prod := newAccountEnv(t, withoutMailbox)
	res = prod.client().get("/dev/mailbox")
	wantStatus(t, res, http.StatusNotFound)
}

// ---- Account overview ----

func TestAccountPageShowsNotifications(t *testing.T) {
	t.Parallel()
	e := newAccountEnv(t)
	c := e.client()
	a := e.signUp(c)
	res := c.get("/account")
	wantContains(t, res.body, `data-testid="no-notifications"`, e.text(i18n.En, "dashboard.unread", "Count", 0))
	// A sign-in from another device brings a "new device" notification.
	other := e.client()
	e.logIn(other, a)
	deadline := time.Now().Add(5 * time.Second)
	for {
		res = c.get("/account")
		if strings.Contains(res.body, `data-kind="new_device"`) || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	wantContains(t, res.body, `data-testid="notification" data-kind="new_device"`, e.text(i18n.En, "dashboard.unread", "Count", 1))
}

// TestSignInReturnsToTheAskedPage: a page opened signed out (an email's
// link, say) sends the browser to sign in and, after the second factor,
// back to that page (it landed on /account); a browser whose session was
// ended elsewhere is told so on the sign-in page; only this site's paths
// come back.
func TestSignInReturnsToTheAskedPage(t *testing.T) {
	t.Parallel()
	e := newAccountEnv(t)
	c := e.client()
	a := e.signUp(c)
	other := e.client()
	e.logIn(other, a)
	wantRedirect(t, c.post("/logout", nil), "/login?out=1")

	// Signed out, a deep link: sign in, then there.
	wantRedirect(t, c.get("/account/security?from=mail"), "/login")
	e.clock.Advance(61 * time.Second)
	after := e.lastMailID()
	wantRedirect(t, c.post("/login", url.Values{"identifier": {a.email}, "password": {a.password}}), "/login/verify")
	res := c.post("/login/verify", url.Values{"method": {"sms"}, "code": {e.waitCode(a.phone, "code_login", after)}})
	wantRedirect(t, res, "/account/security?from=mail")
	if c.cookie("__Host-return") != "" {
		t.Error("the page to return to is kept after use")
	}
	// The next sign-in goes to the account again.
	wantRedirect(t, c.post("/logout", nil), "/login?out=1")
	e.logIn(c, a)

	// The other browser's session is ended from this one: that browser
	// is told why it must sign in again.
	wantRedirect(t, c.post("/account/sessions/revoke-others", nil), "/account/security")
	res = other.get("/account/security")
	wantRedirect(t, res, "/login?ended=1")
	wantContains(t, other.get("/login?ended=1").body, e.text(i18n.En, "login.notice.ended"))
}
