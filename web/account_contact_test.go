package web_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/web"
)

var noteRefRE = regexp.MustCompile(`data-note="(ntf_[0-9a-z]+)"`)

// wrongCode returns code with its first digit changed.
func wrongCode(code string) string { return string(rune('0'+(code[0]-'0'+1)%10)) + code[1:] }

// ---- Both languages ----

func TestContactAndNotificationPagesRender(t *testing.T) {
	t.Parallel()
	e := newAccountEnv(t)
	c := e.client()
	a := e.signUp(c)
	wantStatus(t, c.post("/account/recovery-codes", nil), http.StatusOK) // a factor_added notification
	e.settle()

	pages := []struct {
		name, target string
		wants        []string
	}{
		{"account", "/account", []string{`href="/account/contact/email"`, `href="/account/contact/phone"`, `href="/account/notifications"`}},
		{"change email", "/account/contact/email", []string{`data-sudo="on"`, `action="/account/contact/email"`, `<label for="email">`,
			`type="email"`, `autocomplete="email"`, `inputmode="email"`, `data-testid="contact-current">` + a.email}},
		{"change phone", "/account/contact/phone", []string{`data-sudo="on"`, `action="/account/contact/phone"`, `<label for="phone">`,
			`type="tel"`, `autocomplete="tel"`, `inputmode="tel"`, `data-testid="contact-current">` + esc(a.phone)}},
		{"notifications", "/account/notifications", []string{`data-kind="factor_added"`, `data-unread="true"`,
			`action="/account/notifications/ntf_`, `data-testid="mark-all-read"`,
			// The notice's freeze address is a link (after "：" in Chinese).
			`<a href="/account/freeze" data-testid="note-link">https://okpay.test/account/freeze</a>`}},
	}
	for _, l := range i18n.Langs() {
		c.lang = string(l)
		for _, pg := range pages {
			res := c.get(pg.target)
			checkAccountPage(t, e, string(l)+" "+pg.name, l, res)
			wantContains(t, res.body, pg.wants...)
		}
		// The code step, shown after a POST (codes by email are spaced a
		// minute apart, like SMS).
		e.clock.Advance(61 * time.Second)
		res := c.post("/account/contact/email", url.Values{"email": {"new-" + string(l) + "@example.net"}})
		checkAccountPage(t, e, string(l)+" email code step", l, res)
		wantContains(t, res.body, `data-testid="contact-code-step"`, `action="/account/contact/email/confirm"`,
			`autocomplete="one-time-code"`, `inputmode="numeric"`, "n•••@example.net", `name="resend" value="1"`,
			e.text(l, "contact_change.email.confirm"))
	}
	// Ten minutes on, the sudo window is closed: the page offers the
	// second factors, coming back here.
	e.clock.Advance(11 * time.Minute)
	for _, l := range i18n.Langs() {
		c.lang = string(l)
		res := c.get("/account/contact/phone")
		checkAccountPage(t, e, string(l)+" change phone without sudo", l, res)
		wantContains(t, res.body, `data-sudo="off"`, `action="/account/contact/phone/step-up"`, `action="/account/contact/phone/step-up/sms"`,
			`data-testid="method-sms"`, `data-testid="method-recovery_code"`, `data-testid="contact-form"`)
	}
	c.lang = "en"
	wantStatus(t, c.get("/account/contact/fax"), http.StatusNotFound)
	wantStatus(t, c.post("/account/contact/fax", url.Values{"fax": {"1"}}), http.StatusNotFound)
}

// ---- Change the mobile number ----

func TestChangePhone(t *testing.T) {
	t.Parallel()
	e := newAccountEnv(t)
	c := e.client()
	a := e.signUp(c)
	other := e.client()
	e.logIn(other, a)
	wantStatus(t, c.get("/account"), http.StatusOK) // c stays active
	e.clock.Advance(11 * time.Minute)               // the sudo window is closed

	res := c.get("/account")
	wantContains(t, res.body, `data-testid="change-phone"`, `href="/account/contact/phone"`)
	res = c.get("/account/contact/phone")
	wantStatus(t, res, http.StatusOK)
	wantContains(t, res.body, `data-sudo="off"`)

	// Without a fresh second factor the change is refused, on this page,
	// with the step-up forms, a clear message and the value kept (SES-08).
	const typed, newPhone = "+86 139 1111 2222", "+8613911112222"
	res = c.post("/account/contact/phone", url.Values{"phone": {typed}})
	wantStatus(t, res, http.StatusForbidden)
	wantContains(t, res.body, e.text(i18n.En, "contact_change.step_up.required"), `data-testid="error-general"`, `panel-attention`,
		`action="/account/contact/phone/step-up"`, `value="`+esc(typed)+`"`)
	wantStatus(t, c.post("/account/contact/phone/confirm", url.Values{"phone": {typed}, "code": {"123456"}}), http.StatusForbidden)
	for _, m := range e.mailbox.List() {
		if m.To == newPhone || m.Kind == "code_change_phone" {
			t.Fatalf("a refused change sent a %s message to %s", m.Kind, m.To)
		}
	}

	// Step up with an SMS code to the current number; back to this page.
	after := e.lastMailID()
	wantRedirect(t, c.post("/account/contact/phone/step-up/sms", nil), "/account/contact/phone?sms=sent")
	stepUp := e.waitCode(a.phone, "code_step_up", after)
	wantContains(t, c.get("/account/contact/phone?sms=sent").body, `data-testid="notice"`, "•••• "+a.phone[len(a.phone)-4:])
	res = c.post("/account/contact/phone/step-up", url.Values{"method": {"sms"}, "code": {wrongCode(stepUp)}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantContains(t, res.body, `id="stepup-sms-error"`, `href="#stepup-sms"`, `data-testid="contact-form"`)
	wantStatus(t, c.post("/account/contact/phone/step-up", url.Values{"method": {"totp"}, "code": {"123456"}}), http.StatusBadRequest)
	before := c.cookie("__Host-session")
	wantRedirect(t, c.post("/account/contact/phone/step-up", url.Values{"method": {"sms"}, "code": {stepUp}}), "/account/contact/phone?confirmed=1")
	if c.cookie("__Host-session") == before {
		t.Error("the step-up kept the session token (SES-02)")
	}
	wantContains(t, c.get("/account/contact/phone?confirmed=1").body, `data-sudo="on"`, e.text(i18n.En, "contact_change.notice.confirmed"))

	// Errors next to the field and in the summary, the value kept.
	res = c.post("/account/contact/phone", url.Values{"phone": {""}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantContains(t, res.body, `id="phone-error"`, `href="#phone"`, `aria-invalid="true"`)
	if n := strings.Count(res.body, e.text(i18n.En, "contact_change.phone.required")); n != 2 {
		t.Errorf("the message appears %d times, want 2 (field and summary)", n)
	}
	res = c.post("/account/contact/phone", url.Values{"phone": {"12345"}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantContains(t, res.body, e.text(i18n.En, "account.error.phone"), `value="12345"`)
	res = c.post("/account/contact/phone", url.Values{"phone": {a.phone}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantContains(t, res.body, e.text(i18n.En, "contact_change.phone.same"))

	// The code goes to the new number.
	e.clock.Advance(61 * time.Second) // SMS at least 60 s apart (MFA-03)
	after = e.lastMailID()
	res = c.post("/account/contact/phone", url.Values{"phone": {typed}})
	wantStatus(t, res, http.StatusOK)
	wantContains(t, res.body, `data-testid="contact-code-step"`, "•••• 2222", `name="phone" value="`+esc(typed)+`"`)
	code := e.waitCode(newPhone, "code_change_phone", after)

	// "Send a new code" at once: too soon, said on the code step.
	res = c.post("/account/contact/phone", url.Values{"phone": {typed}, "resend": {"1"}})
	wantStatus(t, res, http.StatusTooManyRequests)
	if res.Header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
	wantContains(t, res.body, `data-testid="contact-code-step"`, "•••• 2222", "Too many attempts")

	res = c.post("/account/contact/phone/confirm", url.Values{"phone": {typed}, "code": {""}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantContains(t, res.body, `id="contact-code-error"`, e.text(i18n.En, "account.error.code_required"))
	res = c.post("/account/contact/phone/confirm", url.Values{"phone": {typed}, "code": {wrongCode(code)}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantContains(t, res.body, `id="contact-code-error"`, `href="#contact-code"`, e.text(i18n.En, "account.error.code"), "•••• 2222")
	if e.user(a).Phone != a.phone {
		t.Fatal("the number changed before the right code")
	}

	wantStatus(t, other.get("/account"), http.StatusOK) // still signed in
	after = e.lastMailID()
	wantRedirect(t, c.post("/account/contact/phone/confirm", url.Values{"phone": {typed}, "code": {code}}), "/account?changed=phone")
	res = c.get("/account?changed=phone")
	wantStatus(t, res, http.StatusOK)
	wantContains(t, res.body, e.text(i18n.En, "contact_change.phone.changed"), `data-testid="hold-banner"`,
		`data-testid="account-phone">`+esc(newPhone))
	u := e.user(a)
	if u.Phone != newPhone || u.PhoneVerifiedAt.IsZero() || !u.HoldUntil.After(e.clock.Now().Add(23*time.Hour)) {
		t.Errorf("after the change: phone %q verified %v hold until %v", u.Phone, u.PhoneVerifiedAt, u.HoldUntil)
	}
	// The old number, the email and the new number are told (NOT-01).
	for _, to := range []string{a.phone, a.email, newPhone} {
		e.waitMail(to, identity.NoteContactChanged, after)
	}
	// Every other session ended (SES-06); this one goes on.
	wantRedirect(t, other.get("/account"), "/login")
	wantStatus(t, c.get("/account"), http.StatusOK)
	e.settle()
	wantContains(t, c.get("/account/notifications").body, `data-kind="contact_changed"`)
	// The code is spent.
	wantStatus(t, c.post("/account/contact/phone/confirm", url.Values{"phone": {typed}, "code": {code}}), http.StatusUnprocessableEntity)
}

// ---- Change the email address ----

func TestChangeEmail(t *testing.T) {
	t.Parallel()
	e := newAccountEnv(t)
	taken := e.signUp(e.client())
	c := e.client()
	a := e.signUp(c)

	// Another account's address gets the same page as a free one, but no
	// code: its owner is told instead (LOG-10).
	after := e.lastMailID()
	e.clock.Advance(61 * time.Second) // one code a minute, by email too
	res := c.post("/account/contact/email", url.Values{"email": {taken.email}})
	wantStatus(t, res, http.StatusOK)
	takenPage := strings.NewReplacer(esc(taken.email), "V", taken.email[:1]+"•••@", "M@").Replace(res.body)
	e.waitMail(taken.email, identity.NoteRegisterAttempt, after)

	const fresh = "fresh.address@example.com"
	after = e.lastMailID()
	e.clock.Advance(61 * time.Second)
	res = c.post("/account/contact/email", url.Values{"email": {"  Fresh.Address@Example.com "}})
	wantStatus(t, res, http.StatusOK)
	freshPage := strings.NewReplacer(esc("Fresh.Address@Example.com"), "V", "f•••@", "M@").Replace(res.body)
	if takenPage != freshPage {
		t.Error("a taken address and a free one get different pages")
	}
	code := e.waitCode(fresh, "code_change_email", after)
	for _, m := range e.mailbox.List() {
		if m.Kind == "code_change_email" && m.To != fresh {
			t.Errorf("a code went to %s", m.To)
		}
	}

	// "Send a new code": within the minute it is refused (by email as by
	// SMS); a minute later it goes and the first code dies.
	wantStatus(t, c.post("/account/contact/email", url.Values{"email": {fresh}, "resend": {"1"}}), http.StatusTooManyRequests)
	e.clock.Advance(61 * time.Second)
	after = e.lastMailID()
	res = c.post("/account/contact/email", url.Values{"email": {fresh}, "resend": {"1"}})
	wantStatus(t, res, http.StatusOK)
	wantContains(t, res.body, e.text(i18n.En, "contact_change.notice.resent", "Destination", "f•••@example.com"))
	code2 := e.waitCode(fresh, "code_change_email", after)
	if code2 != code {
		wantStatus(t, c.post("/account/contact/email/confirm", url.Values{"email": {fresh}, "code": {code}}), http.StatusUnprocessableEntity)
	}
	after = e.lastMailID()
	wantRedirect(t, c.post("/account/contact/email/confirm", url.Values{"email": {fresh}, "code": {code2}}), "/account?changed=email")
	res = c.get("/account?changed=email")
	wantContains(t, res.body, e.text(i18n.En, "contact_change.email.changed"), `data-testid="account-email">`+fresh,
		`data-testid="email-status">`+e.text(i18n.En, "dashboard.verified"), `data-testid="hold-banner"`)
	for _, to := range []string{a.email, a.phone, fresh} {
		e.waitMail(to, identity.NoteContactChanged, after)
	}
}

// ---- Step-up with a passkey from the contact page ----

func TestContactStepUpWithPasskey(t *testing.T) {
	t.Parallel()
	e := newAccountEnv(t)
	c := e.client()
	e.signUp(c)
	auth := e.addPasskey(t, c, "Laptop")
	e.clock.Advance(11 * time.Minute)
	res := c.get("/account/contact/email")
	wantContains(t, res.body, `data-sudo="off"`, `action="/account/contact/email/step-up/passkey"`)
	res = c.post("/account/contact/email/step-up/passkey", nil)
	checkAccountPage(t, e, "contact passkey step-up", i18n.En, res)
	cer := readCeremony(t, res, "/account/contact/email/step-up/passkey/finish")
	wantContains(t, res.body, `href="/account/contact/email#step-up"`)
	res = c.post("/account/contact/email/step-up/passkey/finish", url.Values{"flow": {cer.flow}, "response": {"{}"}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantContains(t, res.body, `data-testid="contact-form"`, `data-sudo="off"`)
	cer = readCeremony(t, c.post("/account/contact/email/step-up/passkey", nil), "/account/contact/email/step-up/passkey/finish")
	wantRedirect(t, c.post("/account/contact/email/step-up/passkey/finish", url.Values{"flow": {cer.flow}, "response": {cer.get(t, auth)}}),
		"/account/contact/email?confirmed=1")
	wantContains(t, c.get("/account/contact/email").body, `data-sudo="on"`)
}

// ---- In-app notifications ----

func TestNotificationsPage(t *testing.T) {
	t.Parallel()
	e := newAccountEnv(t)
	c := e.client()
	a := e.signUp(c)
	wantStatus(t, c.post("/account/recovery-codes", nil), http.StatusOK) // factor_added
	e.logIn(e.client(), a)                                               // new_device
	e.settle()
	u := e.user(a)

	res := c.get("/account")
	wantContains(t, res.body, `href="/account/notifications" data-testid="unread-count"`, `data-testid="notifications-link"`)
	res = c.get("/account/notifications")
	wantStatus(t, res, http.StatusOK)
	var refs []string
	var last int64
	for i, m := range noteRefRE.FindAllStringSubmatch(res.body, -1) {
		id, ok := ids.Parse(web.NotificationPrefix, m[1])
		if !ok {
			t.Fatalf("bad reference %q", m[1])
		}
		if i > 0 && id >= last {
			t.Errorf("notifications not newest first: %v", refs)
		}
		last = id
		refs = append(refs, m[1])
	}
	if len(refs) < 2 {
		t.Fatalf("%d notifications listed, want at least 2", len(refs))
	}
	if n := strings.Count(res.body, `data-unread="true"`); n != len(refs) {
		t.Errorf("%d of %d marked unread", n, len(refs))
	}
	wantContains(t, res.body, `data-kind="new_device"`, `data-kind="factor_added"`, `data-testid="unread-badge"`,
		e.text(i18n.En, "dashboard.unread", "Count", len(refs)))
	unread := func() int64 {
		t.Helper()
		n, err := e.outbox.UnreadCount(e.ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := unread(); n != int64(len(refs)) {
		t.Fatalf("reading the list changed the unread count to %d", n)
	}

	// Another user's notification is "not found", like one that does not
	// exist, and stays unread.
	stranger := e.client()
	e.signUp(stranger)
	for _, ref := range []string{refs[0], "ntf_nope", ids.Format(web.NotificationPrefix, 42), ids.Format(identity.SessionPrefix, 1)} {
		res = stranger.post("/account/notifications/"+ref+"/read", nil)
		wantStatus(t, res, http.StatusNotFound)
		wantContains(t, res.body, e.text(i18n.En, "notifications.error.not_found"))
	}
	if n := unread(); n != int64(len(refs)) {
		t.Fatalf("another user's POST marked a notification read (%d unread)", n)
	}

	// Mark one read, twice (harmless), then all.
	wantRedirect(t, c.post("/account/notifications/"+refs[0]+"/read", nil), "/account/notifications#"+refs[0])
	wantRedirect(t, c.post("/account/notifications/"+refs[0]+"/read", nil), "/account/notifications#"+refs[0])
	res = c.get("/account/notifications")
	wantContains(t, res.body, `data-note="`+refs[0]+`" data-kind="`, e.text(i18n.En, "dashboard.unread", "Count", len(refs)-1))
	if !regexp.MustCompile(`data-note="` + refs[0] + `" data-kind="[a-z_]+" data-unread="false"`).MatchString(res.body) {
		t.Error("the notification marked read is still shown unread")
	}
	if n := unread(); n != int64(len(refs)-1) {
		t.Errorf("%d unread after marking one", n)
	}
	wantRedirect(t, c.post("/account/notifications/read-all", nil), "/account/notifications?read=all")
	res = c.get("/account/notifications?read=all")
	wantContains(t, res.body, e.text(i18n.En, "notifications.notice.all_read"), e.text(i18n.En, "dashboard.unread", "Count", 0))
	if strings.Contains(res.body, `data-unread="true"`) || strings.Contains(res.body, `data-testid="mark-all-read"`) {
		t.Error("notifications still shown unread after marking all")
	}
	if n := unread(); n != 0 {
		t.Errorf("%d unread after marking all", n)
	}
	wantContains(t, c.get("/account").body, e.text(i18n.En, "dashboard.unread", "Count", 0))
}
