package web_test

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/okpay/okpay/internal/browsertest"
	"github.com/okpay/okpay/money"
)

// domWait bounds each wait for the browser in this file: a loaded 2-core
// machine can take seconds for a page; nothing here sleeps a fixed time.
const domWait = 60 * time.Second

// navigate clicks an element that loads a new page and waits, at most
// domWait, until the page has loaded and shows the element want.
func (b *accountBrowser) navigate(testid, want string) {
	b.t.Helper()
	cctx, cancel := context.WithTimeout(b.ctx, domWait)
	defer cancel()
	if _, err := chromedp.Run(cctx, chromedp.WaitEvent(page.LoadEventFired, nil,
		chromedp.Click(sel(testid), chromedp.NodeVisible))); err != nil {
		b.t.Fatalf("click %s: %v; at %s", testid, err, b.eval(`location.href`))
	}
	b.waitVisible(want)
	b.check("after " + testid)
}

// waitVisible waits, at most domWait, until the element is visible.
func (b *accountBrowser) waitVisible(testid string) {
	b.t.Helper()
	cctx, cancel := context.WithTimeout(b.ctx, domWait)
	defer cancel()
	if _, err := chromedp.Run(cctx, chromedp.WaitVisible(sel(testid))); err != nil {
		b.t.Fatalf("wait for %s: %v; at %s: %s", testid, err, b.eval(`location.href`), b.eval(`document.querySelector('main').innerText`))
	}
}

// waitTrue polls a JavaScript condition, at most domWait.
func (b *accountBrowser) waitTrue(what, cond string) {
	b.t.Helper()
	cctx, cancel := context.WithTimeout(b.ctx, domWait)
	defer cancel()
	if _, err := chromedp.Run(cctx, chromedp.Poll[bool](cond, chromedp.WithPollingTimeout(domWait), chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		b.t.Fatalf("%s: %v; at %s: %s", what, err, b.eval(`location.href`), b.eval(`document.querySelector('main').innerText`))
	}
}

// choose selects an option of a select.
func (b *accountBrowser) choose(testid, value string) {
	b.t.Helper()
	b.run("choose "+value+" in "+testid, chromedp.SetValue(sel(testid), value))
}

// balance reads the available balance of a currency on the wallet page.
func (b *accountBrowser) balance(c money.Currency) string {
	return b.eval(`(el => el ? el.textContent.trim() : '')(document.querySelector('[data-testid="balance"][data-currency="` + string(c) +
		`"] [data-testid="balance-available"]'))`)
}

var countdownText = regexp.MustCompile(`^Time left: [01]:[0-5][0-9]$`)

// clockSkew lets a test move the page's clock forward (window.__skew, in
// milliseconds) to see what exchange.js does when a quote runs out,
// without waiting for it.
const clockSkew = `window.__skew = 0;
(function () { var now = Date.now; Date.now = function () { return now() + window.__skew; }; })();`

// TestBrowserExchangeAndRemit: a funded customer exchanges US dollars for
// euros in a real browser, sees the quote with the rate, the market rate
// and the margin counted down while it is valid, confirms, and sees both
// balances change; then sends dollars to another customer who receives
// yuan, with every fee shown first and the SMS code from the mailbox.
func TestBrowserExchangeAndRemit(t *testing.T) {
	e := newExchangeEnv(t)
	ctx := browsertest.New(t)
	problems := &pageProblems{expected: map[string]bool{}}
	if err := problems.listen(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument,
		page.AddScriptToEvaluateOnNewDocumentParams{Source: cspProbe}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument,
		page.AddScriptToEvaluateOnNewDocumentParams{Source: clockSkew}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
		Headers: network.Headers{"Accept-Language": "en-US,en;q=0.9"},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-reduced-motion", Value: "reduce"}},
	}); err != nil {
		t.Fatal(err)
	}
	b := &accountBrowser{t: t, ctx: ctx, base: e.srv.URL, e: e.accountEnv, problems: problems}

	// Bob, the recipient, signs up without a browser; Alice in it.
	bob := e.signUp(e.client())
	alice := nextAccount()
	b.open("/signup")
	b.fill("email", alice.email)
	b.fill("phone", alice.phone)
	b.fill("password", alice.password)
	mark := e.lastMailID()
	b.navigate("signup-submit", "signup-verify-submit")
	b.fill("email-code", e.waitCode(alice.email, "code_verify_email", mark))
	b.fill("sms-code", e.waitCode(alice.phone, "code_verify_phone", mark))
	b.navigate("signup-verify-submit", "nav-wallet")
	b.at("/account")
	e.fund(alice, usdAmt(1_000_00))

	// Exchange $100.00 for euros.
	b.open("/wallet")
	b.waitVisible("wallet-exchange")
	if got := b.balance("USD"); got != "$1,000.00" {
		t.Fatalf("USD before: %q", got)
	}
	b.navigate("wallet-exchange", "exchange-form")
	b.at("/wallet/exchange")
	b.choose("fx-from", "USD")
	b.choose("fx-to", "EUR")
	b.fill("fx-amount", "100")
	// The side's choices are finger-sized: each label (the tap target)
	// at least 44 px high and wider than its words.
	if got := b.eval(`[...document.querySelectorAll('label[for="side-sell"], label[for="side-buy"]')].map(l => { const r = l.getBoundingClientRect(); return r.height >= 44 && r.width > 150; }).join(' ')`); got != "true true" {
		t.Errorf("the exchange side's labels are small tap targets: %s", got)
	}
	b.run("sell side", chromedp.Click(sel("fx-side-sell"), chromedp.NodeVisible))
	b.navigate("exchange-continue", "exchange-quote")
	for testid, want := range map[string]string{
		"quote-sell": "$100.00", "quote-buy": "€79.60", "quote-rate": "1 USD = 0.796 EUR", "quote-mid-rate": "1 USD = 0.8 EUR",
		"quote-spread": "$0.50", "quote-total": "$100.00",
	} {
		if got := b.text(testid); got != want {
			t.Errorf("%s: %q, want %q", testid, got, want)
		}
	}
	if got := b.eval(`[...document.querySelectorAll('.facts dt')].map(d => d.textContent).join('|')`); !strings.Contains(got, "Exchange margin (0.5% of the market rate)") {
		t.Errorf("the margin's label: %s", got)
	}
	// The countdown runs (exchange.js) while the quote is valid.
	b.waitTrue("countdown", `document.body.dataset.fxState === 'live' && /^Time left: /.test(document.querySelector('[data-testid="quote-countdown"]').textContent)`)
	if got := b.text("quote-countdown"); !countdownText.MatchString(got) {
		t.Errorf("countdown %q", got)
	}
	if b.eval(`String(document.querySelector('[data-testid="quote-requote"]').hidden)`) != "true" {
		t.Error("the new-quote button shows while the quote is valid")
	}
	// When the quote runs out the page says so and offers a new one
	// instead of the confirm button.
	first := b.eval(`document.querySelector('[data-testid="exchange-quote"]').dataset.quote`)
	b.eval(`String(window.__skew = 61000)`)
	b.waitTrue("expired", `document.body.dataset.fxState === 'expired'`)
	b.waitVisible("quote-expired")
	if b.eval(`String(document.querySelector('[data-testid="quote-confirm"]').hidden)`) != "true" {
		t.Error("the confirm button shows after the quote expired")
	}
	b.navigate("quote-requote", "exchange-quote")
	if again := b.eval(`document.querySelector('[data-testid="exchange-quote"]').dataset.quote`); again == first || again == "" {
		t.Fatalf("no new quote: %q after %q", again, first)
	}
	b.waitTrue("live again", `document.body.dataset.fxState === 'live'`)
	b.navigate("quote-confirm", "exchange-result")
	if !strings.HasPrefix(b.eval(`location.pathname`), "/wallet/exchange/txn_") {
		t.Fatalf("after confirming: %s", b.eval(`location.href`))
	}
	b.waitTrue("completed", `document.querySelector('[data-testid="exchange-result"]').dataset.status === 'completed'`)
	if got := b.text("result-buy"); got != "€79.60" {
		t.Errorf("bought %q", got)
	}
	b.open("/wallet")
	b.waitVisible("balances")
	if usd, eur := b.balance("USD"), b.balance("EUR"); usd != "$900.00" || eur != "€79.60" {
		t.Fatalf("balances after the exchange: USD %q, EUR %q", usd, eur)
	}

	// Send $100.00 to Bob, who gets yuan; a new payee needs a code.
	b.navigate("wallet-remit", "remit-form")
	b.at("/wallet/remit")
	b.fill("remit-payee", bob.email)
	b.choose("fx-from", "USD")
	b.choose("fx-to", "CNY")
	b.fill("fx-amount", "100")
	b.fill("remit-note", "Tuition")
	b.navigate("remit-continue", "remit-review")
	for testid, want := range map[string]string{
		"quote-sell": "$100.00", "quote-fee": "$0.50", "quote-total": "$100.50", "quote-rate": "1 USD = 6.368 CNY",
		"quote-buy": "CN¥636.80", "review-note": "Tuition",
	} {
		if got := b.text(testid); got != want {
			t.Errorf("%s: %q, want %q", testid, got, want)
		}
	}
	b.waitVisible("review-needs-code")
	// Confirmed after the quote's minute (the server's clock): nothing is
	// sent; the page says why and shows a new quote to confirm.
	// (The page comes with 409 Conflict.)
	problems.expect(e.srv.URL + "/wallet/remit/confirm")
	e.clock.Advance(61 * time.Second)
	b.navigate("quote-confirm", "remit-review")
	if got := b.text("notice"); !strings.Contains(got, "Your quote expired before you confirmed it") {
		t.Errorf("late confirmation: notice %q", got)
	}
	mark = e.lastMailID()
	b.navigate("quote-confirm", "remit-code-input")
	if p := b.eval(`location.pathname`); !strings.HasPrefix(p, "/wallet/remit/txn_") || !strings.HasSuffix(p, "/code") {
		t.Fatalf("after sending: %s", p)
	}
	b.fill("remit-code-input", e.waitCode(alice.phone, "code_txn", mark))
	b.navigate("remit-code-submit", "remit-result")
	b.waitTrue("sent", `document.querySelector('[data-testid="remit-result"]').dataset.status === 'completed'`)
	if got := b.text("result-delivered"); got != "CN¥636.80" {
		t.Errorf("delivered %q", got)
	}
	if got := e.available(bob, "CNY"); got != cny(636_80) {
		t.Errorf("bob has %v", got)
	}
	b.open("/wallet")
	b.waitVisible("balances")
	if usd := b.balance("USD"); usd != "$799.50" {
		t.Errorf("USD after the remittance: %q", usd)
	}
}
