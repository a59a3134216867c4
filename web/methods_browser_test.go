package web_test

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/internal/browsertest"
	"github.com/okpay/okpay/paymethod"
)

// clickWait clicks an element that loads a new page and waits for the
// page, at most 20 s; on a timeout it says where the browser is.
func (b *accountBrowser) clickWait(testid string) {
	b.t.Helper()
	cctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	_, err := chromedp.Run(cctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(sel(testid))))
	cancel()
	if err != nil {
		b.t.Fatalf("click %s: %v; at %s", testid, err, b.eval(`location.href`))
	}
	b.check("after " + testid)
}

// methodStatusOnPage reloads the method's page until its status is want,
// as a customer waiting for the bank would.
func (b *accountBrowser) methodStatusOnPage(path, want string) {
	b.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b.open(path)
		got := b.eval(`document.querySelector('[data-testid="method-facts"]').dataset.status`)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("%s: status %q, want %q", path, got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// addCardInBrowser types a card into the card form, which card.js sends to
// the sandbox's token endpoint; OKPay gets only the token.
func (b *accountBrowser) addCardInBrowser(number string) {
	b.t.Helper()
	b.open("/account/methods")
	b.clickWait("add-card")
	b.at("/account/methods/cards/new")
	if v := b.eval(`(el => [el.autocomplete, el.inputMode].join(' '))(document.getElementById('card-number'))`); v != "cc-number numeric" {
		b.t.Errorf("card number input: %s", v)
	}
	b.fill("card-number", number)
	b.fill("card-exp", "12/30")
	b.fill("card-cvc", "123")
	b.clickWait("card-submit")
}

// The description's "change bank card" FAQ in a real browser: add a new
// card (its issuer asks for 3-D Secure), see it verified, delete the old
// one after confirming with a second factor, and read the notices in the
// development mailbox. No card number reaches OKPay: not its logs, not its
// database.
func TestBrowserChangeBankCard(t *testing.T) {
	e := newMethodsEnv(t, testPasskeyOrigin)
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
	// The stylesheet scrolls smoothly unless the user prefers less
	// motion: a click on a button below the fold would land while the
	// page still moves.
	if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-reduced-motion", Value: "reduce"}},
	}); err != nil {
		t.Fatal(err)
	}
	b := &accountBrowser{t: t, ctx: ctx, base: e.srv.URL, e: e.accountEnv, problems: problems}
	// The provider's 3-D Secure page links no icon: the browser asks for
	// /favicon.ico, which is not found.
	problems.expect(e.srv.URL + "/favicon.ico")
	a := nextAccount()

	// Open an account.
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

	// The old card, added and verified.
	b.addCardInBrowser("5555 5555 5555 4444")
	loc := b.eval(`location.pathname`)
	if !strings.HasPrefix(loc, "/account/methods/pm_") {
		t.Fatalf("after adding the card: at %s; page: %s", loc, b.eval(`document.querySelector('main').innerText`))
	}
	oldPath := loc
	b.methodStatusOnPage(oldPath, string(paymethod.StatusVerified))

	// A mistyped number is refused next to its field, by the provider,
	// before anything reaches OKPay (the provider's 422 is expected).
	problems.expect(e.srv.URL + "/sandbox/v1/tokens")
	b.open("/account/methods/cards/new")
	b.fill("card-number", "4242 4242 4242 4241")
	b.fill("card-exp", "12/30")
	b.fill("card-cvc", "123")
	b.run("submit a wrong number", chromedp.Click(sel("card-submit")))
	b.run("field error", chromedp.WaitVisible(sel("card-number-error")))
	if v := b.eval(`document.getElementById('card-number').getAttribute('aria-invalid')`); v != "true" {
		t.Errorf("the card number is not marked invalid: %q", v)
	}
	b.at("/account/methods/cards/new")

	// "Change bank card": the new card; its bank asks for 3-D Secure.
	mark = b.mark()
	b.addCardInBrowser("4000 0000 0000 3220")
	if loc := b.eval(`location.pathname`); !strings.HasPrefix(loc, "/sandbox/3ds/ch_") {
		t.Fatalf("the 3-D Secure card went to %s", loc)
	}
	b.clickWait("complete")
	b.at("/account/methods")
	if got, want := b.text("notice"), e.cat.T(i18n.En, "methods.notice.verifying", nil); got != want {
		t.Errorf("back from the bank: notice %q, want %q", got, want)
	}
	newPath := "/account/methods/" + b.eval(`[...document.querySelectorAll('[data-testid="method"]')].map(m => m.dataset.id).filter(id => '/account/methods/' + id !== '`+oldPath+`')[0]`)
	b.methodStatusOnPage(newPath, string(paymethod.StatusVerified))
	if got := b.text("page-title"); got != "Visa •••• 3220" {
		t.Errorf("new card title %q", got)
	}
	b.readMail(paymethod.NoteVerified, a.email, mark)

	// Delete the old card. Ten minutes later the sudo window has closed:
	// the page asks for the second factor first, and comes back.
	e.clock.Advance(11 * time.Minute)
	b.open(oldPath)
	b.run("step-up panel", chromedp.WaitVisible(sel("delete-needs-step-up")))
	if n := b.eval(`String(document.querySelectorAll('[data-testid="method-delete"]').length)`); n != "0" {
		t.Fatal("the delete button is offered without a fresh second factor")
	}
	mark = b.mark()
	b.clickWait("send-sms")
	b.at(oldPath)
	code := b.code("code_step_up", a.phone, mark)
	b.open(oldPath)
	b.fill("code-sms", code)
	b.clickWait("submit-sms")
	b.at(oldPath)
	if got, want := b.text("notice"), e.cat.T(i18n.En, "methods.notice.confirmed", nil); got != want {
		t.Errorf("after the step-up: notice %q, want %q", got, want)
	}
	mark = b.mark()
	b.clickWait("method-delete")
	b.at("/account/methods")
	if got, want := b.text("notice"), e.cat.T(i18n.En, "methods.notice.deleted", nil); got != want {
		t.Errorf("after the delete: notice %q, want %q", got, want)
	}
	ids := b.eval(`[...document.querySelectorAll('[data-testid="method"]')].map(m => m.dataset.id + ':' + m.dataset.status).join(',')`)
	if ids != strings.TrimPrefix(newPath, "/account/methods/")+":verified" {
		t.Errorf("the list after the change: %s", ids)
	}
	removed := b.readMail(paymethod.NoteRemoved, a.email, mark)
	if !strings.Contains(removed.Body, "Mastercard •••• 4444") {
		t.Errorf("removal notice: %q", removed.Body)
	}

	// The pages fit a 360 px phone screen.
	b.run("phone viewport", chromedp.EmulateViewport(360, 740, chromedp.EmulateMobile))
	for _, p := range []string{"/account/methods", "/account/methods/cards/new", newPath} {
		b.open(p)
		if v := b.eval(`String(document.documentElement.scrollWidth)`); v != "360" {
			t.Errorf("%s at 360 px is %s px wide", p, v)
		}
	}

	// CRD-01: no card number anywhere on OKPay's side.
	e.settle()
	var files []byte
	for _, suffix := range []string{"", "-wal"} {
		bs, err := os.ReadFile(e.db.Path + suffix)
		if err == nil {
			files = append(files, bs...)
		}
	}
	logs := e.logs.String()
	for _, pan := range []string{"5555555555554444", "4000000000003220", "4242424242424241", "5555 5555 5555 4444", "4000 0000 0000 3220"} {
		if strings.Contains(logs, pan) || bytes.Contains(files, []byte(pan)) {
			t.Errorf("the card number %s… is in OKPay's logs or database", pan[:4])
		}
	}
}
