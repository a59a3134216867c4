package web_test

import (
	"context"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/internal/browsertest"
	"github.com/okpay/okpay/paymethod"
	"github.com/okpay/okpay/wallet"
)

// The description's FAQ, end to end in a real browser, as a customer and
// a reviewer would walk it (issue 4, "Tests and speed"): open an account;
// add a card and verify it with the code on its statement (the sandbox
// provider's page plays the bank statement); deposit from it; send money
// to another customer; the next day (a new card waits 24 hours before it
// receives money), withdraw to the card — the fee and the expected
// completion date shown, confirmed with the SMS code; a staff reviewer of
// the risk role, created as `okpay agent create` creates one, enrols with
// a passkey and approves it; the customer sees the payout completed and
// reads the confirmation email in the development mailbox. Then "change
// the bank card": add a new card, verify it, delete the old one after a
// second-factor step-up.
//
// Every wait is on a condition (a page's DOM, the mailbox, a method's
// status) with a 60 s deadline: the machine running it may be loaded.

// faqWait bounds every wait of the journey.
const faqWait = 60 * time.Second

// faqBrowserTimeout bounds the whole journey's use of the browser
// (browsertest.New allows one minute: too little for this walk on a
// loaded machine).
const faqBrowserTimeout = 5 * time.Minute

// newFAQBrowser starts a headless Chromium as browsertest.New does, with
// the journey's longer budget.
func newFAQBrowser(t *testing.T) context.Context {
	t.Helper()
	execPath := os.Getenv(browsertest.EnvChromium)
	if execPath == "" {
		t.Skip("OKPAY_TEST_CHROMIUM not set: set it to the chromium binary (e.g. /usr/bin/chromium) to run browser tests")
	}
	profile := t.TempDir()
	timeout := faqBrowserTimeout
	if d, ok := t.Deadline(); ok {
		if left := time.Until(d) - 5*time.Second; left < timeout {
			timeout = max(left, time.Second)
		}
	}
	ctx, cancelTimeout := context.WithTimeout(context.Background(), timeout)
	opts := append(chromedp.DefaultExecAllocatorOptions[:0:0],
		chromedp.ExecPath(execPath),
		chromedp.UserDataDir(profile),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.WindowSize(1280, 800),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-features", "Translate,OptimizationHints,MediaRouter,DialMediaRouteProvider"),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.Flag("no-pings", true),
		chromedp.Flag("password-store", "basic"),
		chromedp.Flag("use-mock-keychain", true),
		chromedp.Flag("mute-audio", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("lang", "en-US"),
	)
	var mu sync.Mutex
	finished := false
	logf := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		if !finished {
			t.Logf("chromium: "+format, args...)
		}
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx, chromedp.WithErrorf(logf))
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
		cancelTimeout()
		mu.Lock()
		finished = true
		mu.Unlock()
	})
	if err := chromedp.Do(browserCtx); err != nil {
		t.Fatalf("start %s: %v", execPath, err)
	}
	return browserCtx
}

// faqBrowser is an accountBrowser whose every wait has faqWait.
type faqBrowser struct {
	*accountBrowser
	e *withdrawEnv
}

// within runs a browser action bounded by faqWait.
func (b *faqBrowser) within(what string, a chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, faqWait)
	defer cancel()
	if err := chromedp.Do(ctx, a); err != nil {
		b.t.Fatalf("%s: %v; at %s", what, err, b.eval(`location.href`))
	}
}

// follow clicks an element that loads a new page and waits for the page.
func (b *faqBrowser) follow(testid string) {
	b.t.Helper()
	b.within("click "+testid, chromedp.WaitVisible(sel(testid)))
	ctx, cancel := context.WithTimeout(b.ctx, faqWait)
	_, err := chromedp.Run(ctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(sel(testid), chromedp.NodeVisible)))
	cancel()
	if err != nil {
		b.t.Fatalf("click %s: %v; at %s", testid, err, b.eval(`location.href`))
	}
	b.check("after " + testid)
}

// fill types v into an input as a user would (see browsertest.Fill).
func (b *faqBrowser) fill(testid string, v string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, faqWait)
	defer cancel()
	if err := browsertest.Fill(ctx, string(sel(testid)), v); err != nil {
		b.t.Fatalf("fill %s: %v", testid, err)
	}
}

// open loads a page of the site, bounded by faqWait.
func (b *faqBrowser) open(path string) {
	b.t.Helper()
	b.within("open "+path, chromedp.Navigate(b.base+path))
	b.check("open " + path)
}

// waitFor waits until css matches a visible element (pages that reload
// themselves get there on their own).
func (b *faqBrowser) waitFor(what, css string) {
	b.t.Helper()
	b.within(what, chromedp.WaitVisible(chromedp.CSS(css)))
}

// code waits for the message of kind to "to" newer than after in the
// mailbox, then reads its code on the development mailbox page.
func (b *faqBrowser) code(kind, to string, after int) string {
	b.t.Helper()
	b.waitMail(kind, to, after)
	m := b.readMail(kind, to, after)
	c := codeRE.FindStringSubmatch(m.Body)
	if c == nil {
		b.t.Fatalf("no code in %q", m.Body)
	}
	return c[1]
}

// waitMail waits (faqWait) until the dispatcher has delivered a message
// of kind to "to" newer than after.
func (b *faqBrowser) waitMail(kind, to string, after int) {
	b.t.Helper()
	deadline := time.Now().Add(faqWait)
	for {
		for _, m := range b.e.mailbox.List() {
			if n := atoiSafe(m.ID); n > after && m.Kind == kind && m.To == to {
				return
			}
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("no %s message to %s arrived", kind, to)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func atoiSafe(s string) int {
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// methodStatus waits (faqWait) until the method has status want at the
// provider's pace, and returns it.
func (b *faqBrowser) methodStatus(a testAccount, pmID string, want paymethod.Status) *paymethod.Method {
	b.t.Helper()
	id, ok := paymethod.ParseID(pmID)
	if !ok {
		b.t.Fatalf("not a method id: %q", pmID)
	}
	deadline := time.Now().Add(faqWait)
	for {
		m, err := b.e.pm.Get(b.e.ctx, b.e.uid(a), id)
		if err != nil {
			b.t.Fatal(err)
		}
		if m.Status == want {
			return m
		}
		if m.Status.Final() || time.Now().After(deadline) {
			b.t.Fatalf("%s is %s (%s), want %s", m.Label, m.Status, m.FailureCode, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// addVerifiedCard adds a card through the card form (its number goes to
// the provider's token endpoint, never to OKPay), reads the code of the
// verification charge on the "statement" (the sandbox's page) and types
// it in. It returns the method's page.
func (b *faqBrowser) addVerifiedCard(a testAccount, number string) string {
	b.t.Helper()
	b.open("/account/methods")
	b.follow("add-card")
	b.at("/account/methods/cards/new")
	b.fill("card-number", number)
	b.fill("card-exp", "12/30")
	b.fill("card-cvc", "123")
	b.follow("card-submit")
	path := b.eval(`location.pathname`)
	if !strings.HasPrefix(path, "/account/methods/pm_") {
		b.t.Fatalf("after adding the card: at %s; page: %s", path, b.eval(`document.querySelector('main').innerText`))
	}
	pm := strings.TrimPrefix(path, "/account/methods/")
	b.methodStatus(a, pm, paymethod.StatusAwaitingCode)
	// The statement: the provider's page lists the verification charge
	// with its descriptor "OKPAY* 1234".
	b.open("/sandbox/")
	desc := b.eval(`(() => {
		const row = [...document.querySelectorAll('[data-testid="charges"] tbody tr')].find(tr => tr.children[1].innerText.trim().startsWith('pmv_'));
		return row ? row.querySelector('[data-testid="descriptor"]').innerText.trim() : '';
	})()`)
	code, ok := strings.CutPrefix(desc, "OKPAY* ")
	if !ok || len(code) != 4 {
		b.t.Fatalf("statement descriptor %q", desc)
	}
	b.open(path)
	b.waitFor("statement code form", `[data-testid="statement-code"]`)
	b.fill("statement-code", code)
	b.follow("statement-code-submit")
	b.methodStatus(a, pm, paymethod.StatusVerified)
	b.open(path)
	if got := b.eval(`document.querySelector('[data-testid="method-status"]').innerText.trim()`); got != b.e.cat.T(i18n.En, "paymethod.status.verified", nil) {
		b.t.Errorf("%s after its statement code: %q", path, got)
	}
	return path
}

func TestBrowserFAQJourney(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	base := "http://localhost:" + port // the passkeys' RP ID is localhost
	e := newWithdrawEnv(t, withdrawEnvOptions{listener: ln, origin: base, statementCode: true, exchange: true})
	ctx := newFAQBrowser(t)
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
	if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-reduced-motion", Value: "reduce"}},
	}); err != nil {
		t.Fatal(err)
	}
	// The provider's pages link no icon: the browser asks for one.
	problems.expect(base + "/favicon.ico")
	b := &faqBrowser{accountBrowser: &accountBrowser{t: t, ctx: ctx, base: base, e: e.accountEnv, problems: problems}, e: e}
	bob := e.signUp(e.client()) // the other customer, who receives the money sent
	alice := nextAccount()

	// 1. Open an account (codes from the development mailbox).
	b.open("/signup")
	b.fill("email", alice.email)
	b.fill("phone", alice.phone)
	b.fill("password", alice.password)
	mark := b.mark()
	b.follow("signup-submit")
	b.at("/signup/verify")
	emailCode := b.code("code_verify_email", alice.email, mark)
	smsCode := b.code("code_verify_phone", alice.phone, mark)
	b.open("/signup/verify")
	b.fill("email-code", emailCode)
	b.fill("sms-code", smsCode)
	b.follow("signup-verify-submit")
	b.at("/account")

	// 2. Add a card and verify it with the code on its statement.
	b.follow("methods-link")
	b.at("/account/methods")
	oldCard := b.addVerifiedCard(alice, "4242 4242 4242 4242")

	// 3. Deposit CN¥2,000 from it; the provider confirms (the page
	// follows it by itself).
	b.open("/wallet")
	b.follow("wallet-deposit")
	b.at("/wallet/deposit")
	b.fill("deposit-amount", "2000")
	b.within("choose CNY", chromedp.SetValue(sel("deposit-currency"), "CNY"))
	b.follow("deposit-continue")
	if got := b.text("review-fee"); got != "CN¥40.00" {
		t.Errorf("deposit fee %q, want CN¥40.00 (2%%)", got)
	}
	b.follow("deposit-submit")
	b.waitFor("deposit credited", `[data-testid="deposit-status"][data-status="completed"]`)
	if got := b.text("status-net"); got != "CN¥1,960.00" {
		t.Errorf("credited %q", got)
	}

	// 3b. Exchange CN¥80 for euros: the quote shows the spread before
	// anything moves, and both balances change.
	b.open("/wallet")
	b.follow("wallet-exchange")
	b.at("/wallet/exchange")
	b.within("from CNY", chromedp.SetValue(sel("fx-from"), "CNY"))
	b.within("to EUR", chromedp.SetValue(sel("fx-to"), "EUR"))
	b.fill("fx-amount", "80")
	b.within("sell side", chromedp.Click(sel("fx-side-sell"), chromedp.NodeVisible))
	b.follow("exchange-continue")
	b.waitFor("the quote", `[data-testid="exchange-quote"]`)
	if got := b.text("quote-sell"); got != "CN¥80.00" {
		t.Errorf("exchange sells %q, want CN¥80.00", got)
	}
	if got := b.text("quote-spread"); got == "" || got == "CN¥0.00" {
		t.Errorf("the quote shows no spread: %q", got)
	}
	total := b.text("quote-total")
	b.follow("quote-confirm")
	b.waitFor("exchanged", `[data-testid="exchange-result"][data-status="completed"]`)
	b.open("/wallet")
	b.waitFor("a euro wallet", `[data-testid="balance"][data-currency="EUR"]`)
	if total != "CN¥80.00" {
		t.Errorf("exchange total %q, want CN¥80.00 (no exchange fee in this schedule)", total)
	}
	if got := b.balance("CNY"); got != "CN¥1,880.00" {
		t.Errorf("CNY after the exchange %q, want CN¥1,880.00", got)
	}
	if got := b.balance("EUR"); got == "" || got == "€0.00" {
		t.Errorf("EUR after the exchange %q", got)
	}

	// 4. Send CN¥100 to another customer: a new payee, so a code.
	b.open("/wallet")
	b.follow("wallet-send")
	b.at("/wallet/send")
	b.fill("send-payee", bob.email)
	b.fill("send-amount", "100")
	b.within("choose CNY", chromedp.SetValue(sel("send-currency"), "CNY"))
	b.follow("send-continue")
	mark = b.mark()
	b.follow("send-submit")
	codePage := b.eval(`location.pathname`)
	if !strings.HasSuffix(codePage, "/code") {
		t.Fatalf("a new payee needs a code; at %s", codePage)
	}
	c := b.code("code_txn", alice.phone, mark)
	b.open(codePage)
	b.fill("send-code-input", c)
	b.follow("send-code-submit")
	b.waitFor("sent", `[data-testid="send-result"][data-status="completed"]`)

	// 5. The next day the card may receive money: sign in again and
	// withdraw CN¥500 to it.
	e.clock.Advance(25 * time.Hour)
	mark = b.mark()
	b.open("/login")
	b.fill("identifier", alice.email)
	b.fill("password", alice.password)
	b.follow("login-submit")
	b.at("/login/verify")
	c = b.code("code_login", alice.phone, mark)
	b.open("/login/verify")
	b.fill("code-sms", c)
	b.follow("submit-sms")
	b.at("/account")
	b.open("/wallet")
	// A transaction row opens it wherever it is tapped, its amount too
	// (the type word alone was the link).
	if v := b.eval(`(() => {
		const el = document.querySelector('[data-testid="txn"] [data-testid="txn-amount"]');
		el.scrollIntoView({block: 'center'});
		const amt = el.getBoundingClientRect();
		const hit = document.elementFromPoint(amt.left + amt.width / 2, amt.top + amt.height / 2);
		return hit && hit.closest('a') ? hit.closest('a').dataset.testid : String(hit && hit.className);
	})()`); v != "txn-link" {
		t.Errorf("a tap on a transaction's amount lands on %q, not its link", v)
	}
	b.follow("wallet-withdraw")
	b.at("/wallet/withdraw")
	oldID := strings.TrimPrefix(oldCard, "/account/methods/")
	if v := b.eval(`document.querySelector('[data-testid="withdraw-method"][data-id="` + oldID + `"]').checked ? 'yes' : 'no'`); v != "yes" {
		t.Errorf("the only payout method is not chosen: %s", v)
	}
	b.fill("withdraw-amount", "500")
	b.within("choose CNY", chromedp.SetValue(sel("withdraw-currency"), "CNY"))
	b.follow("withdraw-continue")
	// The quote: the fee (1%), the total held, the expected completion.
	if got := b.text("review-fee"); got != "CN¥5.00" {
		t.Errorf("withdrawal fee %q, want CN¥5.00", got)
	}
	if got := b.text("review-total"); got != "CN¥505.00" {
		t.Errorf("withdrawal total %q", got)
	}
	q, err := e.wd.Quote(e.ctx, e.uid(alice), mustMethodID(t, oldID), cny(500_00))
	if err != nil {
		t.Fatal(err)
	}
	wantETA := "between " + q.EarliestAt.UTC().Format("2 Jan 2006") + " and " + q.LatestAt.UTC().Format("2 Jan 2006")
	if got := b.text("review-eta"); got != wantETA {
		t.Errorf("expected completion %q, want %q", got, wantETA)
	}
	mark = b.mark()
	b.follow("withdraw-submit")
	codePage = b.eval(`location.pathname`)
	if !strings.HasPrefix(codePage, "/wallet/withdrawals/txn_") || !strings.HasSuffix(codePage, "/code") {
		t.Fatalf("after confirming the quote: at %s", codePage)
	}
	status := strings.TrimSuffix(codePage, "/code")
	ref := strings.TrimPrefix(status, "/wallet/withdrawals/")
	c = b.code("code_txn", alice.phone, mark)
	b.open(codePage)
	b.fill("withdraw-code-input", c)
	b.follow("withdraw-code-submit")
	b.at(status)
	b.waitFor("waiting for review", `[data-testid="withdraw-status"][data-status="pending_review"]`)

	// 6. A reviewer of the risk role, created as `okpay agent create`
	// does, enrols (password and passkey) and approves the withdrawal.
	noUI := false
	if _, err := chromedp.Call(ctx, webauthn.Enable, webauthn.EnableParams{EnableUI: &noUI}); err != nil {
		t.Fatalf("WebAuthn.enable: %v", err)
	}
	if _, err := chromedp.Call(ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
		Options: &webauthn.VirtualAuthenticatorOptions{
			Protocol: webauthn.AuthenticatorProtocolCtap2, Ctap2version: webauthn.Ctap2versionCtap21,
			Transport: webauthn.AuthenticatorTransportInternal, HasResidentKey: true, HasUserVerification: true,
			IsUserVerified: true, AutomaticPresenceSimulation: true,
		},
	}); err != nil {
		t.Fatalf("WebAuthn.addVirtualAuthenticator: %v", err)
	}
	_, enr := e.reviewer("risk.reviewer@okpay.test")
	u, err := url.Parse(enr.URL)
	if err != nil {
		t.Fatal(err)
	}
	const pw = "orchard lantern copper sky"
	b.open(u.Path)
	b.fill("staff-new-password", pw)
	b.fill("staff-new-password-again", pw)
	b.follow("staff-enroll-submit")
	b.at("/staff/enroll/factor")
	b.follow("enroll-passkey-start")
	b.at("/staff/enroll/passkey")
	b.waitFor("passkey form", `[data-testid="passkey-submit"]`)
	b.fill("passkey-label", "review laptop")
	b.follow("passkey-submit") // navigator.credentials.create, then the form posts
	b.at("/staff/")
	b.follow("nav-staff-withdrawals")
	b.at("/staff/withdrawals")
	item := `[data-testid="review-item"][data-id="` + ref + `"]`
	b.waitFor("the withdrawal in the queue", item)
	if rules := b.eval(`document.querySelector('` + item + ` [data-testid="review-rules"]').innerText`); !strings.Contains(rules, e.cat.T(i18n.En, "withdraw.rule.new_method", nil)) {
		t.Errorf("why it is in the queue: %q", rules)
	}
	octx, cancel := context.WithTimeout(ctx, faqWait)
	_, err = chromedp.Run(octx, chromedp.WaitEvent(page.LoadEventFired, nil,
		chromedp.Click(chromedp.CSS(item+` [data-testid="review-open"]`), chromedp.NodeVisible)))
	cancel()
	if err != nil {
		t.Fatalf("open the case: %v", err)
	}
	b.check("case page")
	b.at("/staff/withdrawals/case")
	b.fill("approve-note", "card verified, customer known")
	b.follow("approve-submit")
	b.at("/staff/withdrawals")
	if got, want := b.text("notice"), e.cat.T(i18n.En, "staff.review.notice.approved", nil); got != want {
		t.Errorf("after approving: notice %q, want %q", got, want)
	}

	// 7. The customer's page follows the payout to its end; the
	// confirmation email is in the mailbox.
	b.open(status)
	b.waitFor("paid", `[data-testid="withdraw-status"][data-status="completed"]`)
	if got := b.text("page-title"); got != "CN¥500.00 paid out" {
		t.Errorf("paid: %q", got)
	}
	mail := b.readMailWithin(wallet.NoticeWithdrawalCompleted, alice.email, mark)
	if !strings.Contains(mail.Body, "500.00") || !strings.Contains(mail.Body, "4242") {
		t.Errorf("confirmation email: %q", mail.Body)
	}
	if w := e.wallet(alice, "CNY"); w.Available != cny(1_274_00) || w.PendingOut.Minor != 0 {
		t.Errorf("after the payout: available %v (1,960 − 80 − 101 − 505), pending out %v", w.Available, w.PendingOut)
	}

	// 8. Change the bank card: a new card, verified; the old one deleted
	// after a second factor (the sudo window has closed).
	newCard := b.addVerifiedCard(alice, "5555 5555 5555 4444")
	e.clock.Advance(11 * time.Minute)
	b.open(oldCard)
	b.waitFor("step-up panel", `[data-testid="delete-needs-step-up"]`)
	mark = b.mark()
	b.follow("send-sms")
	b.at(oldCard)
	c = b.code("code_step_up", alice.phone, mark)
	b.open(oldCard)
	b.fill("code-sms", c)
	b.follow("submit-sms")
	b.at(oldCard)
	mark = b.mark()
	b.follow("method-delete")
	b.at("/account/methods")
	if got, want := b.text("notice"), e.cat.T(i18n.En, "methods.notice.deleted", nil); got != want {
		t.Errorf("after the delete: notice %q, want %q", got, want)
	}
	ids := b.eval(`[...document.querySelectorAll('[data-testid="method"]')].map(m => m.dataset.id + ':' + m.dataset.status).join(',')`)
	if ids != strings.TrimPrefix(newCard, "/account/methods/")+":verified" {
		t.Errorf("the methods after the change: %s", ids)
	}
	removed := b.readMailWithin(paymethod.NoteRemoved, alice.email, mark)
	if !strings.Contains(removed.Body, "4242") {
		t.Errorf("removal notice: %q", removed.Body)
	}
}

// readMailWithin waits for the message server-side (faqWait), then reads
// it on the development mailbox page.
func (b *faqBrowser) readMailWithin(kind, to string, after int) mail {
	b.t.Helper()
	b.waitMail(kind, to, after)
	return b.readMail(kind, to, after)
}

func mustMethodID(t *testing.T, pm string) int64 {
	t.Helper()
	id, ok := paymethod.ParseID(pm)
	if !ok {
		t.Fatalf("not a method id: %q", pm)
	}
	return id
}
