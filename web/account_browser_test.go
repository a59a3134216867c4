package web_test

import (
	"context"
	"encoding/base32"
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/identity/otp"
	"github.com/okpay/okpay/internal/browsertest"
)

// accountBrowser drives one headless Chromium tab through the account
// pages of an accountEnv served over HTTP.
type accountBrowser struct {
	t        *testing.T
	ctx      context.Context
	base     string
	e        *accountEnv
	problems *pageProblems
}

// sel is a data-testid selector.
func sel(testid string) chromedp.CSS { return chromedp.CSS(`[data-testid="` + testid + `"]`) }

func (b *accountBrowser) run(what string, a chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, a); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

func (b *accountBrowser) eval(js string) string {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](js))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

func (b *accountBrowser) text(testid string) string {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Text(sel(testid)))
	if err != nil {
		b.t.Fatalf("read %s: %v", testid, err)
	}
	return strings.TrimSpace(v)
}

// open loads a page of the site and checks it.
func (b *accountBrowser) open(path string) {
	b.t.Helper()
	b.run("open "+path, chromedp.Navigate(b.base+path))
	b.check("open " + path)
}

// click clicks an element that loads a new page, and waits for it.
func (b *accountBrowser) click(testid string) {
	b.t.Helper()
	if _, err := chromedp.Run(b.ctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(sel(testid)))); err != nil {
		b.t.Fatalf("click %s: %v", testid, err)
	}
	b.check("after " + testid)
}

// fill types v into an input, as a user would (see browsertest.Fill).
func (b *accountBrowser) fill(testid, v string) {
	b.t.Helper()
	if err := browsertest.Fill(b.ctx, string(sel(testid)), v); err != nil {
		b.t.Fatalf("fill %s: %v", testid, err)
	}
}

// at checks the path of the current page and its heading.
func (b *accountBrowser) at(path string) {
	b.t.Helper()
	loc, err := chromedp.Run(b.ctx, chromedp.Location())
	if err != nil {
		b.t.Fatal(err)
	}
	u, err := url.Parse(loc)
	if err != nil {
		b.t.Fatal(err)
	}
	if u.Path != path {
		b.t.Fatalf("at %s, want %s; page: %s", u.Path, path, b.eval(`document.querySelector('main').innerText`))
	}
}

// check asserts the page broke no rule: no CSP violation, no console
// error, no failed load.
func (b *accountBrowser) check(step string) {
	b.t.Helper()
	if v := b.eval(`JSON.stringify(window.__cspViolations || ['probe missing'])`); v != "[]" {
		b.t.Errorf("%s: CSP violations: %s", step, v)
	}
	for _, p := range b.problems.take() {
		b.t.Errorf("%s: %s", step, p)
	}
}

// mail is a message as the development mailbox page shows it.
type mail struct {
	ID      string `json:"id"`
	Channel string `json:"channel"`
	To      string `json:"to"`
	Kind    string `json:"kind"`
	Body    string `json:"body"`
}

// readMail opens /dev/mailbox and waits for the newest message of kind to
// "to" newer than the message after (a mailbox ID), as a developer
// would: reading the page, reloading until it is there.
func (b *accountBrowser) readMail(kind, to string, after int) mail {
	b.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		b.open("/dev/mailbox")
		raw := b.eval(`JSON.stringify([...document.querySelectorAll('[data-testid="mail"]')].map(m => ({
			id: m.dataset.id, channel: m.dataset.channel, to: m.dataset.to, kind: m.dataset.kind,
			body: m.querySelector('[data-testid="mail-body"]').innerText})))`)
		var list []mail
		if err := json.Unmarshal([]byte(raw), &list); err != nil {
			b.t.Fatal(err)
		}
		for _, m := range list { // newest first
			id, _ := strconv.Atoi(m.ID)
			if id > after && m.Kind == kind && (to == "" || m.To == to) {
				return m
			}
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("no %s message to %s in the mailbox page: %s", kind, to, raw)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// mark returns the newest mailbox ID, to read only later messages.
func (b *accountBrowser) mark() int {
	n, _ := strconv.Atoi(b.e.lastMailID())
	return n
}

func (b *accountBrowser) code(kind, to string, after int) string {
	b.t.Helper()
	m := b.readMail(kind, to, after)
	c := codeRE.FindStringSubmatch(m.Body)
	if c == nil {
		b.t.Fatalf("no code in %q", m.Body)
	}
	return c[1]
}

// signIn signs in with the password and a second factor from factor().
func (b *accountBrowser) signIn(a testAccount, method string, factor func() string) {
	b.t.Helper()
	b.open("/login")
	b.fill("identifier", a.email)
	b.fill("password", a.password)
	b.click("login-submit")
	b.at("/login/verify")
	c := factor()
	if method == "sms" {
		b.open("/login/verify") // back from the mailbox
	}
	b.fill("code-"+method, c)
	b.click("submit-" + method)
	b.at("/account")
}

func (b *accountBrowser) signOut() {
	b.t.Helper()
	b.click("nav-signout")
	b.at("/login")
	if got, want := b.text("notice"), b.e.cat.T(i18n.En, "login.notice.signed_out", nil); got != want {
		b.t.Errorf("after signing out: notice %q, want %q", got, want)
	}
}

// checkPasswordInput checks PWD-07 on one password input: the autocomplete
// value, type=password, a show/hide toggle that switches the type and
// back, and nothing that blocks pasting.
func (b *accountBrowser) checkPasswordInput(id, autocomplete string) {
	b.t.Helper()
	q := `document.getElementById('` + id + `')`
	if v := b.eval(q + `.getAttribute('autocomplete')`); v != autocomplete {
		b.t.Errorf("#%s autocomplete %q, want %q", id, v, autocomplete)
	}
	if v := b.eval(q + `.type`); v != "password" {
		b.t.Errorf("#%s type %q", id, v)
	}
	toggle := "pw-toggle-" + id
	b.run("toggle visible", chromedp.WaitVisible(sel(toggle)))
	b.run("show the password", chromedp.Click(sel(toggle)))
	if v := b.eval(q + `.type`); v != "text" {
		b.t.Errorf("#%s after the toggle: type %q, want text", id, v)
	}
	if v := b.eval(`document.querySelector('[data-testid="` + toggle + `"]').getAttribute('aria-pressed')`); v != "true" {
		b.t.Errorf("toggle aria-pressed %q", v)
	}
	b.run("hide the password", chromedp.Click(sel(toggle)))
	if v := b.eval(q + `.type`); v != "password" {
		b.t.Errorf("#%s after the second toggle: type %q, want password", id, v)
	}
	// Pasting is not blocked: no handler attribute, no property, and a
	// paste event is not cancelled by the page.
	if v := b.eval(`String([...document.querySelectorAll('input, form, body')].some(el =>
			el.hasAttribute('onpaste') || el.onpaste !== null || el.hasAttribute('oncopy') || el.hasAttribute('ondrop')))`); v != "false" {
		b.t.Errorf("a paste handler is set on the page")
	}
	if v := b.eval(`(() => { const ev = new ClipboardEvent('paste', {bubbles: true, cancelable: true, clipboardData: new DataTransfer()});
			` + q + `.dispatchEvent(ev); return String(ev.defaultPrevented); })()`); v != "false" {
		b.t.Errorf("#%s: a paste event is cancelled", id)
	}
}

func TestBrowserAccountJourney(t *testing.T) {
	e := newAccountEnv(t)
	ts := httptest.NewServer(e.handler) // closed after the browser (cleanups run in reverse)
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
	// The browser is in Shanghai (zone.js tells the server, below).
	if _, err := chromedp.Call(ctx, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "Asia/Shanghai"}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
		Headers: network.Headers{"Accept-Language": "en-US,en;q=0.9"},
	}); err != nil {
		t.Fatal(err)
	}
	b := &accountBrowser{t: t, ctx: ctx, base: ts.URL, e: e, problems: problems}
	a := nextAccount()
	secrets := []string{a.password}

	// 1. Open an account. The password field follows PWD-07, and a value
	// typed (or pasted) into it is taken as is.
	b.open("/")
	b.click("nav-signup")
	b.at("/signup")
	b.checkPasswordInput("password", "new-password")
	b.fill("email", a.email)
	b.fill("phone", a.phone)
	b.fill("password", a.password)
	if v := b.eval(`document.getElementById('password').value`); v != a.password {
		t.Fatalf("the password input holds %q", v)
	}
	mark := b.mark()
	b.click("signup-submit")
	b.at("/signup/verify")
	if v := b.eval(`document.getElementById('sms_code').getAttribute('autocomplete') + ' ' + document.getElementById('sms_code').inputMode`); v != "one-time-code numeric" {
		t.Errorf("code input: %s", v)
	}
	emailCode := b.code("code_verify_email", a.email, mark)
	smsCode := b.code("code_verify_phone", a.phone, mark)
	b.open("/signup/verify")
	b.fill("email-code", emailCode)
	b.fill("sms-code", smsCode)
	b.click("signup-verify-submit")
	b.at("/account")
	if got := b.text("account-email"); got != a.email {
		t.Errorf("account email %q", got)
	}
	cookies, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{ts.URL}})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, c := range cookies.Cookies {
		seen[c.Name] = true
		if c.Name == "__Host-session" && (!c.Secure || !c.HTTPOnly || c.SameSite != network.CookieSameSiteLax || !c.Session || c.Path != "/") {
			t.Errorf("session cookie %+v", c)
		}
		// zone.js told the server the browser's time zone (web/zone.go).
		if c.Name == "tz" && (c.Value != "Asia/Shanghai" || c.Path != "/" || c.SameSite != network.CookieSameSiteLax || c.Session) {
			t.Errorf("tz cookie %+v, want Asia/Shanghai for the site, lax, lasting", c)
		}
	}
	if !seen["tz"] {
		t.Error("no tz cookie: zone.js did not run")
	}
	// The security page's times (the session's start) are Shanghai's.
	b.open("/account/security")
	if v := b.eval(`[...document.querySelectorAll('time')].map(t => t.textContent).join('|')`); !strings.Contains(v, "UTC+8") || strings.Contains(v, " UTC|") {
		t.Errorf("times on the security page: %q, want them in UTC+8", v)
	}
	if !seen["__Host-session"] || !seen["__Host-did"] || seen["__Host-flow"] {
		t.Errorf("cookies after sign-up: %v", seen)
	}
	// No cookie is readable from scripts but the time zone zone.js
	// itself wrote (what the browser already knows; web/zone.go).
	if v := b.eval(`document.cookie`); !regexp.MustCompile(`^(?:tz=[A-Za-z0-9_+\-/]+)?$`).MatchString(v) {
		t.Errorf("cookies readable from scripts: %q", v)
	}

	// 2. Sign out, sign in with the password and an SMS code.
	b.signOut()
	e.clock.Advance(61 * time.Second) // SMS codes are at least 60 s apart
	b.open("/login")
	b.checkPasswordInput("password", "current-password")
	mark = b.mark()
	b.signIn(a, "sms", func() string { return b.code("code_login", a.phone, mark) })

	// 3. Turn on an authenticator app (the sign-in opened the sudo window).
	b.click("nav-security")
	b.at("/account/security")
	b.click("totp-begin")
	secret := b.eval(`document.querySelector('[data-testid="totp-secret"]').dataset.secret`)
	secrets = append(secrets, secret)
	key, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
	if err != nil {
		t.Fatalf("secret %q: %v", secret, err)
	}
	b.fill("totp-code", otp.TOTPCode(key, e.clock.Now()))
	b.click("totp-confirm")
	b.at("/account/security")
	if v := b.eval(`document.querySelector('[data-testid="totp-state"]').dataset.totp`); v != "on" {
		t.Fatalf("authenticator app state %q", v)
	}
	totp := func() string {
		e.clock.Advance(30 * time.Second) // each 30-second step works once
		return otp.TOTPCode(key, e.clock.Now())
	}

	// 4. Sign in with the password and the app.
	b.signOut()
	b.signIn(a, "totp", totp)

	// 5. Forgotten password: a reset code by SMS, the app as the second
	// factor (never SMS again), a new password, no automatic sign-in.
	b.signOut()
	b.click("forgot-link")
	b.at("/password/forgot")
	// The back link under the form is finger-sized.
	if h, _ := strconv.Atoi(b.eval(`String(Math.round(document.querySelector('.form-aside a').getBoundingClientRect().height))`)); h < 44 {
		t.Errorf("the back link under the form is %d px high, want at least 44", h)
	}
	b.fill("identifier", a.phone)
	if v := b.eval(`String(document.getElementById('channel-sms').checked)`); v != "true" {
		t.Errorf("SMS is not the default channel")
	}
	mark = b.mark()
	b.click("forgot-submit")
	b.at("/password/reset")
	resetCode := b.code("code_reset", a.phone, mark)
	b.open("/password/reset")
	b.fill("reset-code", resetCode)
	b.click("reset-code-submit")
	if v := b.eval(`document.querySelector('[data-testid="reset-step"]').dataset.step`); v != "2" {
		t.Fatalf("reset step %q after the code", v)
	}
	if n := b.eval(`String(document.querySelectorAll('[data-testid="method-sms"]').length)`); n != "0" {
		t.Error("the reset code's channel is offered as the second factor (MFA-10)")
	}
	b.fill("code-totp", totp())
	b.click("submit-totp")
	b.checkPasswordInput("new_password", "new-password")
	a.password = "new quiet harbour lantern"
	b.fill("new-password", a.password)
	b.click("reset-new-submit")
	b.run("reset done", chromedp.WaitVisible(sel("reset-done")))
	if got := b.text("page-title"); got != e.cat.T(i18n.En, "reset.done.title", nil) {
		t.Errorf("reset done title %q", got)
	}
	b.open("/account")
	b.at("/login") // no auto-login (REC-05)

	// 6. Sign in with the new password.
	b.signIn(a, "totp", totp)

	// 6b. Change the mobile number (the sign-in opened the sudo window):
	// a code to the new number, back to the account page with the notice
	// and the hold; then the notifications page, all marked read.
	b.click("change-phone")
	b.at("/account/contact/phone")
	if v := b.eval(`(el => [el.type, el.autocomplete, el.inputMode].join(' '))(document.getElementById('phone'))`); v != "tel tel tel" {
		t.Errorf("new number input: %s", v)
	}
	const newPhone = "+8613911112222"
	e.clock.Advance(61 * time.Second) // SMS codes are at least 60 s apart
	after := e.lastMailID()
	b.fill("contact-value", "+86 139 1111 2222")
	b.click("contact-submit")
	if v := b.eval(`(el => el.autocomplete + ' ' + el.inputMode)(document.getElementById('contact-code'))`); v != "one-time-code numeric" {
		t.Errorf("code input: %s", v)
	}
	b.fill("contact-code", e.waitCode(newPhone, "code_change_phone", after))
	b.click("contact-confirm")
	b.at("/account")
	b.run("hold banner", chromedp.WaitVisible(sel("hold-banner")))
	if got := b.text("account-phone"); got != newPhone {
		t.Errorf("account phone %q after the change", got)
	}
	if got, want := b.text("notice"), e.cat.T(i18n.En, "contact_change.phone.changed", nil); got != want {
		t.Errorf("notice %q, want %q", got, want)
	}
	a.phone = newPhone
	e.settle()
	b.open("/account")
	b.click("unread-count")
	b.at("/account/notifications")
	b.click("mark-all-read")
	b.at("/account/notifications")
	if n := b.eval(`String(document.querySelectorAll('[data-unread="true"]').length)`); n != "0" {
		t.Errorf("%s notifications unread after marking all", n)
	}

	// 7. "Not you? Freeze my account" from a security email, without
	// signing in; then the account is read-only.
	link := b.readMail("new_device", a.email, 0)
	path := regexp.MustCompile(`/freeze/[A-Za-z0-9_-]+`).FindString(link.Body)
	if path == "" {
		t.Fatalf("no freeze link in %q", link.Body)
	}
	b.open(path)
	b.click("freeze-link-confirm")
	b.run("frozen", chromedp.WaitVisible(sel("freeze-done")))
	if !e.user(a).Frozen {
		t.Fatal("the account is not frozen")
	}
	b.open("/account")
	b.at("/login") // every session ended (SES-07)
	b.signIn(a, "totp", totp)
	b.run("frozen banner", chromedp.WaitVisible(sel("frozen-banner")))
	if got, want := b.text("account-status"), e.cat.T(i18n.En, "dashboard.status.frozen", nil); got != want {
		t.Errorf("status %q, want %q", got, want)
	}

	// 8. Nothing secret was logged or stored in clear (PWD-12): both
	// passwords, every one-time code, the TOTP secret and the session
	// cookies are absent from the log and from the database files
	// (tables, outbox, audit log, WAL).
	secrets = append(secrets, a.password)
	for _, m := range e.mailbox.List() {
		if strings.HasPrefix(m.Kind, "code_") {
			if c := codeRE.FindStringSubmatch(m.Body); c != nil {
				secrets = append(secrets, c[1])
			}
		}
	}
	jar, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{ts.URL}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range jar.Cookies {
		if c.Name == "__Host-session" || c.Name == "__Host-flow" {
			secrets = append(secrets, c.Value)
		}
	}
	e.assertNoSecrets(secrets)

	// 9. The account pages fit a 360 px phone screen.
	b.run("phone viewport", chromedp.EmulateViewport(360, 740, chromedp.EmulateMobile))
	for _, p := range []string{"/account", "/account/security", "/account/contact/phone", "/account/notifications", "/dev/mailbox"} {
		b.open(p)
		if v := b.eval(`String(document.documentElement.scrollWidth)`); v != "360" {
			t.Errorf("%s at 360 px is %s px wide", p, v)
		}
	}
	b.signOut()
	for _, p := range []string{"/signup", "/login", "/password/forgot"} {
		b.open(p)
		if v := b.eval(`String(document.documentElement.scrollWidth)`); v != "360" {
			t.Errorf("%s at 360 px is %s px wide", p, v)
		}
	}
}
