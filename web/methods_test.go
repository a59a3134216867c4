package web_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/audit"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/paymethod"
	"github.com/okpay/okpay/psp"
)

var (
	methodPathRE = regexp.MustCompile(`/account/methods/(pm_[0-9a-z]+)`)
	cardTokenRE  = regexp.MustCompile(`card_token=(tok_[a-z2-7]+)`)
	chargeRE     = regexp.MustCompile(`/sandbox/3ds/(ch_[0-9a-z]+)`)
)

// tokenizeNoJS sends a card to the sandbox's token endpoint as the card
// form does without JavaScript, and returns the token it sends the
// browser back with.
func tokenizeNoJS(t *testing.T, c *client, number string) string {
	t.Helper()
	res := c.post("/sandbox/v1/tokens", url.Values{"number": {number}, "exp": {"12/30"}, "cvc": {"123"},
		"return_to": {"/account/methods/cards/new"}, "lang": {"en"}})
	wantRedirect(t, res, "/account/methods/cards/new?")
	return find(t, res.Header.Get("Location"), cardTokenRE)
}

// addCard adds a card through the pages and returns the redirect.
func addCard(t *testing.T, c *client, number string) *response {
	t.Helper()
	return c.post("/account/methods/cards", url.Values{"token": {tokenizeNoJS(t, c, number)}})
}

// CRD-01..04, the description's "change bank card" FAQ without a browser:
// the card form goes to the provider, the page gets only the token, the
// webhook verifies the card, the list shows brand •••• last4, the new
// method's payout hold and a notice was sent.
func TestMethodsAddCardVerifiedByWebhook(t *testing.T) {
	t.Parallel()
	e := newMethodsEnv(t, testPasskeyOrigin)
	c := e.client()
	a := e.signUp(c)

	res := c.get("/account/methods")
	wantStatus(t, res, http.StatusOK)
	wantContains(t, res.body, `data-testid="no-methods"`, `href="/account/methods/cards/new"`)
	if res.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q (SES-10)", res.Header.Get("Cache-Control"))
	}

	// The card form posts to the provider, never to OKPay; OKPay's own
	// form carries only the token.
	res = c.get("/account/methods/cards/new")
	wantStatus(t, res, http.StatusOK)
	wantContains(t, res.body, `data-sudo="on"`, `action="/sandbox/v1/tokens"`, `data-token-url="/sandbox/v1/tokens"`,
		`name="return_to" value="/account/methods/cards/new"`, `autocomplete="cc-number"`, `autocomplete="cc-exp"`, `autocomplete="cc-csc"`,
		`<form id="card-add-form" class="hidden-form" method="post" action="/account/methods/cards"`, `src="/static/card.js?v=`)
	addForm := res.body[strings.Index(res.body, `id="card-add-form"`):]
	addForm = addForm[:strings.Index(addForm, "</form>")]
	if strings.Contains(addForm, `name="number"`) || strings.Contains(addForm, `name="cvc"`) {
		t.Fatalf("OKPay's form has card inputs: %s", addForm)
	}

	// Without JavaScript: the provider sends the browser back with the
	// token; the page asks to confirm, and sends no Referer.
	tok := tokenizeNoJS(t, c, "4242 4242 4242 4242")
	res = c.get("/account/methods/cards/new?card_token=" + tok)
	wantStatus(t, res, http.StatusOK)
	wantContains(t, res.body, `data-testid="card-ready"`, `name="token" value="`+tok+`"`)
	if res.Header.Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("the page with a token in its URL sends Referrer-Policy %q", res.Header.Get("Referrer-Policy"))
	}
	// A refused card comes back as an error next to its field.
	res = c.post("/sandbox/v1/tokens", url.Values{"number": {"4242 4242 4242 4241"}, "exp": {"12/30"}, "cvc": {"123"}, "return_to": {"/account/methods/cards/new"}})
	res = c.get(res.Header.Get("Location"))
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantContains(t, res.body, `id="card-number-error" data-card-error="number" data-testid="card-number-error">`+e.text(i18n.En, "methods.card.error.invalid_number"))

	after := e.lastMailID()
	res = c.post("/account/methods/cards", url.Values{"token": {tok}})
	wantRedirect(t, res, "/account/methods/pm_")
	pmID := find(t, res.Header.Get("Location"), methodPathRE)
	m := e.waitStatus(a, pmID, paymethod.StatusVerified)
	if m.Card.Brand != "visa" || m.Card.Last4 != "4242" || m.Card.Funding != "debit" || m.Card.IssuerCountry != "US" {
		t.Errorf("card %+v", m.Card)
	}

	res = c.get("/account/methods")
	wantContains(t, res.body, `data-id="`+pmID+`" data-kind="card" data-status="verified"`, "Visa •••• 4242",
		`data-testid="method-hold"`, e.text(i18n.En, "paymethod.status.verified"))
	res = c.get("/account/methods/" + pmID)
	wantContains(t, res.body, `data-testid="method-make-default"`, `data-testid="method-delete"`)
	wantRedirect(t, c.post("/account/methods/"+pmID+"/default", nil), "/account/methods/"+pmID+"?default=1")
	wantContains(t, c.get("/account/methods").body, `data-default="true"`, `data-testid="method-default"`)

	// NOT-01: the addition was notified, with a freeze link (NOT-05).
	mail := e.waitMail(a.email, paymethod.NoteAdded, after)
	if !strings.Contains(mail.Body, "Visa •••• 4242") || !freezeLinkRE.MatchString(mail.Body) {
		t.Errorf("notice: %q", mail.Body)
	}
	e.waitMail(a.email, paymethod.NoteVerified, after)

	// The same card again is a duplicate, shown on the form.
	res = addCard(t, c, "4242424242424242")
	wantStatus(t, res, http.StatusConflict)
	wantContains(t, res.body, e.text(i18n.En, "paymethod.error.duplicate_method"))

	// Chinese pages.
	zh := e.client()
	zh.cookies = c.cookies
	zh.lang = "zh-CN"
	wantContains(t, zh.get("/account/methods").body, e.text(i18n.ZhCN, "methods.title"), e.text(i18n.ZhCN, "paymethod.status.verified"))
	wantContains(t, zh.get("/account/methods/cards/new").body, e.text(i18n.ZhCN, "methods.card.number"))
}

// CRD-04: a card whose issuer asks for 3-D Secure goes to the bank's
// page, comes back to the list, and is verified by the webhook; a failed
// challenge fails the card, with the reason shown.
func TestMethodsThreeDSecure(t *testing.T) {
	t.Parallel()
	e := newMethodsEnv(t, testPasskeyOrigin)
	c := e.client()
	a := e.signUp(c)

	res := addCard(t, c, "4000 0000 0000 3220")
	wantRedirect(t, res, "/sandbox/3ds/ch_")
	ch := find(t, res.Header.Get("Location"), chargeRE)
	res = c.get("/account/methods")
	m := find(t, res.body, methodPathRE)
	wantContains(t, res.body, `data-status="requires_action"`, `data-testid="method-continue"`)
	wantContains(t, c.get("/account/methods/"+m).body, `href="/sandbox/3ds/`+ch+`"`, `data-testid="method-3ds"`)
	wantStatus(t, c.get("/sandbox/3ds/"+ch), http.StatusOK)
	res = c.post("/sandbox/3ds/"+ch, url.Values{"outcome": {"complete"}})
	wantRedirect(t, res, "/account/methods?verifying=1")
	wantContains(t, c.get(res.Header.Get("Location")).body, e.text(i18n.En, "methods.notice.verifying"))
	e.waitStatus(a, m, paymethod.StatusVerified)

	// A failed challenge.
	res = addCard(t, c, "4000000000003220")
	wantStatus(t, res, http.StatusConflict) // the same card is already verified here
	b := e.client()
	e.clock.Advance(61 * time.Second)
	e.signUp(b)
	res = addCard(t, b, "4000000000003220")
	ch = find(t, res.Header.Get("Location"), chargeRE)
	wantRedirect(t, b.post("/sandbox/3ds/"+ch, url.Values{"outcome": {"fail"}}), "/account/methods?verifying=1")
	m2 := find(t, b.get("/account/methods").body, methodPathRE)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(b.get("/account/methods/"+m2).body, `data-status="failed"`) {
		if time.Now().After(deadline) {
			t.Fatal("the failed challenge did not fail the card")
		}
		time.Sleep(20 * time.Millisecond)
	}
	wantContains(t, b.get("/account/methods/"+m2).body, `data-testid="method-failure"`)
}

// CRD-08, SES-08: deleting a card needs a fresh second factor. Without one
// the page says so and shows the step-up forms, which come back to the
// method; with one the card is deleted, detached at the provider, gone
// from the list, and the owner is told.
func TestMethodsDeleteNeedsStepUp(t *testing.T) {
	t.Parallel()
	e := newMethodsEnv(t, testPasskeyOrigin)
	c := e.client()
	a := e.signUp(c)
	res := addCard(t, c, "5555555555554444")
	pmID := find(t, res.Header.Get("Location"), methodPathRE)
	e.waitStatus(a, pmID, paymethod.StatusVerified)
	var token string
	id, _ := paymethod.ParseID(pmID)
	if err := e.db.Read.QueryRowContext(e.ctx, `SELECT psp_token FROM payment_cards WHERE method_id = $1`, id).Scan(&token); err != nil {
		t.Fatal(err)
	}

	// The sudo window closes after 10 minutes.
	e.clock.Advance(11 * time.Minute)
	page := "/account/methods/" + pmID
	res = c.get(page)
	wantContains(t, res.body, `data-testid="delete-needs-step-up"`, `data-sudo="off"`,
		`action="/account/methods/step-up?next=`+url.QueryEscape(page+"#delete")+`"`)
	if strings.Contains(res.body, `data-testid="method-delete"`) {
		t.Error("the delete button is offered without a fresh second factor")
	}
	res = c.post(page+"/delete", nil)
	wantStatus(t, res, http.StatusForbidden)
	wantContains(t, res.body, e.text(i18n.En, "methods.step_up.required"), `data-testid="method-sms"`)
	if _, err := e.pm.Get(e.ctx, e.userID(a), id); err != nil {
		t.Fatal(err)
	}
	if m, _ := e.pm.Get(e.ctx, e.userID(a), id); m.Deleted() {
		t.Fatal("deleted without a step-up")
	}

	// Step up by SMS, back to the method.
	after := e.lastMailID()
	next := url.QueryEscape(page + "#delete")
	wantRedirect(t, c.post("/account/methods/step-up/sms?next="+next, nil), page+"?sms=sent#step-up")
	code := e.waitCode(a.phone, "code_step_up", after)
	res = c.post("/account/methods/step-up?next="+next, url.Values{"method": {"sms"}, "code": {"000000"}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantContains(t, res.body, `id="stepup-sms-error"`)
	res = c.post("/account/methods/step-up?next="+next, url.Values{"method": {"sms"}, "code": {code}})
	wantRedirect(t, res, page+"?confirmed=1#delete")
	res = c.get(page + "?confirmed=1")
	wantContains(t, res.body, `data-testid="method-delete"`, e.text(i18n.En, "methods.notice.confirmed"))
	// A step-up never comes back outside the method pages.
	res = c.post("/account/methods/step-up/sms?next="+url.QueryEscape("https://evil.test/"), nil)
	if loc := res.Header.Get("Location"); res.StatusCode == http.StatusSeeOther && !strings.HasPrefix(loc, "/account/methods") {
		t.Errorf("step-up redirected to %q", loc)
	}

	after = e.lastMailID()
	wantRedirect(t, c.post(page+"/delete", nil), "/account/methods?deleted=1")
	res = c.get("/account/methods?deleted=1")
	wantContains(t, res.body, e.text(i18n.En, "methods.notice.deleted"), `data-testid="no-methods"`)
	_, err := e.sb.Card(e.ctx, token)
	if code := okpay.ErrorCode(err); code != psp.ETokenNotFound {
		t.Errorf("the card was not detached at the provider: %v", err)
	}
	m := e.waitMail(a.email, paymethod.NoteRemoved, after)
	if !strings.Contains(m.Body, "Mastercard •••• 4444") || !strings.Contains(m.Body, "198.51.100.7") {
		t.Errorf("removal notice: %q", m.Body)
	}
	e.waitMail(a.phone, paymethod.NoteRemoved, after)
	// The deleted card's page says so, with no action left.
	res = c.get(page)
	wantContains(t, res.body, e.text(i18n.En, "methods.deleted"))
	if strings.Contains(res.body, `data-testid="method-delete"`) {
		t.Error("a deleted card can be deleted again")
	}
}

// CRD-10: a bank account verified with its two micro-deposits; an
// e-wallet verified with its code.
func TestMethodsBankAccountAndEWallet(t *testing.T) {
	t.Parallel()
	e := newMethodsEnv(t, testPasskeyOrigin)
	c := e.client()
	a := e.signUp(c)

	res := c.get("/account/methods/banks/new")
	wantContains(t, res.body, `action="/account/methods/banks"`, `id="currency-EUR"`, `value="EUR" checked`)
	res = c.post("/account/methods/banks", url.Values{"iban": {"DE89 3704 0044 0532 0130 01"}, "holder": {"Li Wei"}, "currency": {"EUR"}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantContains(t, res.body, `id="iban-error"`, `value="Li Wei"`, `value="DE89 3704 0044 0532 0130 01"`)
	res = c.post("/account/methods/banks", url.Values{"iban": {"DE89 3704 0044 0532 0130 00"}, "holder": {"Li Wei"}, "currency": {"EUR"}})
	wantRedirect(t, res, "/account/methods/pm_")
	bank := find(t, res.Header.Get("Location"), methodPathRE)
	res = c.get(res.Header.Get("Location"))
	wantContains(t, res.body, `data-testid="micro-deposits-form"`, "DE89 •••• 3000", e.text(i18n.En, "methods.notice.deposits_sent"))
	if strings.Contains(res.body, "370400440532013000") {
		t.Error("the page shows the full IBAN")
	}
	var x, y int64
	if err := e.db.Read.QueryRowContext(e.ctx, `SELECT amount_a, amount_b FROM psp_sandbox_micro_deposits ORDER BY id DESC LIMIT 1`).Scan(&x, &y); err != nil {
		t.Fatal(err)
	}
	res = c.post("/account/methods/"+bank+"/micro-deposits", url.Values{"amount_1": {"1000"}, "amount_2": {"0.00"}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wrong := x + 1
	if wrong > 99 {
		wrong = x - 1
	}
	cents := func(n int64) string { return "0." + string([]byte{byte('0' + n/10), byte('0' + n%10)}) }
	res = c.post("/account/methods/"+bank+"/micro-deposits", url.Values{"amount_1": {cents(wrong)}, "amount_2": {cents(y)}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantContains(t, res.body, `id="amount-1-error"`, e.text(i18n.En, "paymethod.error.invalid_code", "Count", 2))
	// In either order, as decimals or in cents.
	res = c.post("/account/methods/"+bank+"/micro-deposits", url.Values{"amount_1": {cents(y)}, "amount_2": {strconv.FormatInt(x, 10)}})
	wantRedirect(t, res, "/account/methods/"+bank+"?verified=1")
	e.waitStatus(a, bank, paymethod.StatusVerified)

	res = c.get("/account/methods/ewallets/new")
	wantContains(t, res.body, `id="provider-alipay"`, e.text(i18n.En, "paymethod.provider.alipay"))
	// CRD-10: the e-wallet's own authorisation page (the sandbox's), and
	// back to the callback, which verifies the account the provider names.
	res = c.post("/account/methods/ewallets", url.Values{"provider": {"alipay"}})
	wantRedirect(t, res, "/sandbox/oauth/alipay/authorize?")
	auth, _ := url.Parse(res.Header.Get("Location"))
	res = c.get(auth.String())
	wantContains(t, res.body, `data-testid="oauth-form"`)
	allow := auth.Query()
	allow.Set("account", "li.wei@example.com")
	allow.Set("action", "allow")
	res = c.post(auth.Path, allow)
	wantRedirect(t, res, "/account/methods/ewallets/callback?")
	callback := res.Header.Get("Location")
	// Another session cannot use it.
	wantStatus(t, e.client().get(callback), http.StatusSeeOther) // not signed in: to /login
	res = c.get(callback)
	wantRedirect(t, res, "/account/methods/pm_")
	ew := find(t, res.Header.Get("Location"), methodPathRE)
	res = c.get(res.Header.Get("Location"))
	wantContains(t, res.body, `data-testid="method-oauth"`)
	res = c.get("/account/methods")
	wantContains(t, res.body, `data-id="`+ew+`" data-kind="ewallet" data-status="verified"`, "Alipay l•••@example.com")
	// The callback works once.
	res = c.get(callback)
	wantStatus(t, res, http.StatusBadRequest)
	wantContains(t, res.body, e.text(i18n.En, "methods.ewallet.link.ewallet_link_invalid"))
	// Denied at the e-wallet: nothing added.
	res = c.post("/account/methods/ewallets", url.Values{"provider": {"paypal"}})
	auth, _ = url.Parse(res.Header.Get("Location"))
	deny := auth.Query()
	deny.Set("action", "deny")
	res = c.get(c.post(auth.Path, deny).Header.Get("Location"))
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantContains(t, res.body, e.text(i18n.En, "methods.ewallet.link.ewallet_link_denied"))
}

// CRD-01: a card number in any form field is refused with 400 and a
// security event, and appears nowhere; SES-09: a cross-site POST is 403.
func TestMethodsRefuseCardNumbersAndCrossSite(t *testing.T) {
	t.Parallel()
	e := newMethodsEnv(t, testPasskeyOrigin)
	c := e.client()
	a := e.signUp(c)
	const pan = "4242 4242 4242 4242"
	for _, q := range []struct {
		path string
		form url.Values
	}{
		{"/account/methods/cards", url.Values{"token": {pan}}},
		{"/account/methods/cards", url.Values{"token": {"tok_x"}, "note": {"4242424242424242"}}},
		{"/account/methods/banks", url.Values{"iban": {"DE89370400440532013000"}, "holder": {"Li " + pan}}},
		{"/account/methods/ewallets", url.Values{"provider": {"alipay"}, "account": {"4242-4242-4242-4242"}}},
	} {
		res := c.post(q.path, q.form)
		wantStatus(t, res, http.StatusBadRequest)
		if strings.Contains(res.body, "4242 4242") || strings.Contains(res.body, "42424242") || strings.Contains(res.body, "4242-4242") {
			t.Errorf("%s echoes the card number", q.path)
		}
	}
	entries, err := audit.New(e.db).List(e.ctx, ids.Format(identity.UserPrefix, e.userID(a)), 100, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, en := range entries {
		if en.Name == audit.MaliciousInput {
			n++
		}
	}
	if n != 4 {
		t.Errorf("%d malicious_input events, want 4", n)
	}
	if list, _ := e.pm.List(e.ctx, e.userID(a)); len(list) != 0 {
		t.Errorf("methods were added: %v", list)
	}
	// A valid IBAN's digits are no card number.
	wantRedirect(t, c.post("/account/methods/banks", url.Values{"iban": {"GB82 WEST 1234 5698 7654 32"}, "holder": {"Li Wei"}, "currency": {"GBP"}}), "/account/methods/pm_")

	r, err := http.NewRequest(http.MethodPost, e.srv.URL+"/account/methods/cards", strings.NewReader("token=tok_abc"))
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Sec-Fetch-Site", "cross-site")
	r.AddCookie(&http.Cookie{Name: "__Host-session", Value: c.cookie("__Host-session")})
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site POST: %d, want 403", resp.StatusCode)
	}
}

// SES-09: the method pages' GETs change nothing; a frozen account is
// read-only; another customer's method is not found (API-02).
func TestMethodsGetsChangeNothingAndObjectChecks(t *testing.T) {
	t.Parallel()
	e := newMethodsEnv(t, testPasskeyOrigin)
	c := e.client()
	a := e.signUp(c)
	res := addCard(t, c, "6200 0000 0000 0005")
	pmID := find(t, res.Header.Get("Location"), methodPathRE)
	e.waitStatus(a, pmID, paymethod.StatusVerified)

	other := e.client()
	e.clock.Advance(61 * time.Second)
	e.signUp(other)
	for _, target := range []string{"/account/methods/" + pmID} {
		wantStatus(t, other.get(target), http.StatusNotFound)
	}
	for _, target := range []string{"/delete", "/default", "/statement-code", "/micro-deposits", "/ewallet-code"} {
		wantStatus(t, other.post("/account/methods/"+pmID+target, url.Values{"code": {"1234"}}), http.StatusNotFound)
	}
	wantStatus(t, other.get("/account/methods/pm_zzzz"), http.StatusNotFound)

	before := e.dbState()
	for _, rt := range e.server.Routes() {
		if rt.Method != http.MethodGet || !strings.HasPrefix(rt.Pattern, "/account/methods") {
			continue
		}
		target := strings.ReplaceAll(rt.Pattern, "{id}", pmID)
		for _, cl := range []*client{c, other, e.client()} {
			if res := cl.get(target); res.StatusCode >= 500 {
				t.Errorf("GET %s: %d", target, res.StatusCode)
			}
		}
	}
	if after := e.dbState(); after != before {
		t.Errorf("GET requests changed the database:\nbefore:\n%s\nafter:\n%s", before, after)
	}

	// Frozen: read-only.
	if err := e.id.Freeze(e.ctx, e.userID(a), "self:test", "test", identity.Meta{}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(61 * time.Second)
	e.logIn(c, a)
	res = c.get("/account/methods")
	wantContains(t, res.body, `data-testid="frozen-banner"`)
	if strings.Contains(res.body, `data-testid="add-card"`) {
		t.Error("a frozen account is offered to add a card")
	}
	wantStatus(t, c.post("/account/methods/"+pmID+"/delete", nil), http.StatusForbidden)
	wantStatus(t, addCard(t, c, "4242424242424242"), http.StatusForbidden)
}
