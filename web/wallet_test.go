package web_test

import (
	"encoding/csv"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/wallet"
)

// The wallet pages over real parts (SQLite, the ledger, the identity
// service, the sandbox provider with its signed webhooks over HTTP), as a
// browser without JavaScript uses them.

func cny(minor int64) money.Amount    { return money.New(minor, "CNY") }
func usdAmt(minor int64) money.Amount { return money.New(minor, "USD") }

func wantIn(t testing.TB, res *response, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(res.body, p) {
			t.Fatalf("the page lacks %q\n%s", p, excerpt(res.body))
		}
	}
}

func wantNotIn(t testing.TB, res *response, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if strings.Contains(res.body, p) {
			t.Fatalf("the page has %q\n%s", p, excerpt(res.body))
		}
	}
}

// TestWalletHome: balances with the language's formatting, opening a
// wallet, hiding an empty one (not a funded one), showing it again, and
// the placeholders of the pages other parts add.
func TestWalletHome(t *testing.T) {
	e := newWalletEnv(t)
	c := e.client()
	a := e.signUp(c)

	res := c.get("/wallet")
	wantStatus(t, res, http.StatusOK)
	wantIn(t, res, `data-testid="no-wallets"`, `data-testid="nav-wallet"`, `data-testid="wallet-exchange" data-placeholder="true"`,
		`data-testid="wallet-withdraw" data-placeholder="true"`, `href="/wallet/deposit"`, `data-testid="no-activity"`)
	if res.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q", res.Header.Get("Cache-Control"))
	}

	wantRedirect(t, c.post("/wallet/open", url.Values{"currency": {"USD"}}), "/wallet?opened=USD")
	res = c.get("/wallet?opened=USD")
	wantIn(t, res, `data-testid="notice"`, `data-currency="USD"`, "$0.00", `data-testid="hide-USD"`)
	res = c.post("/wallet/open", url.Values{"currency": {"XTS"}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantIn(t, res, `data-testid="error-summary"`, "Choose one of the currencies offered.")

	// Hide the empty wallet; show it again.
	wantRedirect(t, c.post("/wallet/hide", url.Values{"currency": {"USD"}}), "/wallet?hidden=USD")
	res = c.get("/wallet")
	wantIn(t, res, `data-testid="hidden-wallet" data-currency="USD"`, `data-testid="show-USD"`)
	wantNotIn(t, res, `data-testid="balance" data-currency="USD"`)
	wantRedirect(t, c.post("/wallet/show", url.Values{"currency": {"USD"}}), "/wallet?shown=USD")

	// A funded wallet cannot be hidden; amounts in the page's language.
	e.fund(a, cny(1_234_50))
	res = c.post("/wallet/hide", url.Values{"currency": {"CNY"}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantIn(t, res, "Only an empty wallet can be hidden.", "CN¥1,234.50")
	c.lang = "zh-CN"
	res = c.get("/wallet")
	wantIn(t, res, "¥1,234.50", "我的钱包", "即将推出", "认证等级（未认证）")
	wantNotIn(t, res, "CN¥", "unverified")
}

// TestTXN01_SendMoneyWithACode walks the send flow to a new payee: form,
// confirmation repeating amount, fee and the payee's masked name, a
// button that says what it does, the SMS code bound to the payment (a
// wrong one refused), the result; and a second payment to the same payee
// below the step-up threshold, which needs no code. Submitting the
// confirmation twice sends the money once.
func TestTXN01_SendMoneyWithACode(t *testing.T) {
	e := newWalletEnv(t)
	ca, cb := e.client(), e.client()
	alice := e.signUp(ca)
	bob := e.signUp(cb)
	e.fund(alice, cny(1_000_00))

	res := ca.get("/wallet/send?currency=CNY")
	wantStatus(t, res, http.StatusOK)
	wantIn(t, res, `data-testid="send-form"`, `<option value="CNY" selected>`, `autocomplete="off"`, `inputmode="decimal"`)

	form := url.Values{"payee": {bob.email}, "amount": {"500"}, "currency": {"CNY"}, "note": {"Dinner 🍜"}}
	res = ca.post("/wallet/send", form)
	wantStatus(t, res, http.StatusOK)
	wantIn(t, res, `data-testid="send-review"`, "CN¥500.00", "CN¥5.00", "CN¥505.00", `data-testid="review-new-payee"`,
		`data-testid="review-needs-code"`, ">Send CN¥500.00<", "Dinner 🍜")
	if !strings.Contains(res.body, `data-testid="review-payee">`) || strings.Contains(res.body, `data-testid="review-payee">`+bob.email) {
		t.Fatalf("the payee is not shown masked:\n%s", excerpt(res.body))
	}
	confirm := hiddenForm(res.body)
	if confirm.Get("key") == "" || confirm.Get("amount") != "500.00" || confirm.Get("payee") != bob.email {
		t.Fatalf("confirmation form: %v", confirm)
	}
	confirm.Set("action", "send")
	after := e.lastMailID()
	res = ca.post("/wallet/send/confirm", confirm)
	wantRedirect(t, res, "/wallet/send/txn_")
	codePage := res.Header.Get("Location")
	if !strings.HasSuffix(codePage, "/code") {
		t.Fatalf("a new payee needs a code; went to %q", codePage)
	}
	ref := txnRef(t, codePage)
	// The same confirmation again (a double click): the same payment.
	wantRedirect(t, ca.post("/wallet/send/confirm", confirm), codePage)

	res = ca.get(codePage)
	wantStatus(t, res, http.StatusOK)
	wantIn(t, res, `data-method="sms"`, "Confirm and send CN¥500.00", `autocomplete="one-time-code"`, `data-testid="send-code-resend"`)
	sms := e.waitMail(alice.phone, "code_txn", after)
	if !strings.Contains(sms.Body, "500.00") {
		t.Fatalf("the SMS does not state the amount: %q", sms.Body)
	}
	code := codeRE.FindStringSubmatch(sms.Body)[1]
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	res = ca.post(codePage, url.Values{"code": {wrong}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantIn(t, res, "That code is not right.", `aria-invalid="true"`)
	// Another customer cannot see or confirm the payment (BOLA).
	wantStatus(t, cb.get(codePage), http.StatusNotFound)
	wantStatus(t, cb.post(codePage, url.Values{"code": {code}}), http.StatusNotFound)

	wantRedirect(t, ca.post(codePage, url.Values{"code": {code}}), "/wallet/send/"+ref)
	res = ca.get("/wallet/send/" + ref)
	wantStatus(t, res, http.StatusOK)
	wantIn(t, res, `data-status="completed"`, "CN¥500.00 sent", `data-testid="result-payee"`)
	if got := e.available(alice, "CNY"); got != cny(495_00) {
		t.Fatalf("alice has %v, want 495.00 (500 + 5 fee taken)", got)
	}
	if got := e.available(bob, "CNY"); got != cny(500_00) {
		t.Fatalf("bob has %v", got)
	}
	// The code page of a finished payment goes to its result.
	wantRedirect(t, ca.get(codePage), "/wallet/send/"+ref)

	// To a known payee below the threshold: no code.
	res = ca.post("/wallet/send", url.Values{"payee": {bob.email}, "amount": {"10.5"}, "currency": {"CNY"}})
	wantStatus(t, res, http.StatusOK)
	wantNotIn(t, res, `data-testid="review-needs-code"`, `data-testid="review-new-payee"`)
	confirm = hiddenForm(res.body)
	confirm.Set("action", "send")
	res = ca.post("/wallet/send/confirm", confirm)
	wantRedirect(t, res, "/wallet/send/txn_")
	if strings.HasSuffix(res.Header.Get("Location"), "/code") {
		t.Fatal("a known payee below the step-up threshold asked for a code")
	}
	res = ca.get(res.Header.Get("Location"))
	wantIn(t, res, `data-status="completed"`, "CN¥10.50 sent")
	if got := e.available(bob, "CNY"); got != cny(510_50) {
		t.Fatalf("bob has %v", got)
	}

	// Bob sees what he received, in Chinese.
	cb.lang = "zh-CN"
	res = cb.get("/wallet")
	wantIn(t, res, "¥510.50", "转入", `data-type="transfer_in"`, "&#43;¥500.00")
}

// TestSendFormErrors: errors next to their fields with the values kept;
// a refusal at execution is a failed payment with its reason.
func TestSendFormErrors(t *testing.T) {
	e := newWalletEnv(t)
	ca, cb := e.client(), e.client()
	alice := e.signUp(ca)
	bob := e.signUp(cb)
	e.fund(alice, cny(100_00))

	res := ca.post("/wallet/send", url.Values{"payee": {"nobody@example.com"}, "amount": {"12.50"}, "currency": {"CNY"}, "note": {"rent"}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantIn(t, res, `id="payee-error"`, "No OKPay account matches that payee.", `value="nobody@example.com"`, `value="12.50"`, `value="rent"`)

	res = ca.post("/wallet/send", url.Values{"payee": {bob.email}, "amount": {"1,000"}, "currency": {"CNY"}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantIn(t, res, `id="amount-error"`, "without thousands separators", `value="1,000"`)
	res = ca.post("/wallet/send", url.Values{"payee": {bob.email}, "amount": {"1.234"}, "currency": {"CNY"}})
	wantIn(t, res, "CNY amounts have at most 2 decimal places.")
	res = ca.post("/wallet/send", url.Values{"payee": {bob.email}, "amount": {"0"}, "currency": {"CNY"}})
	wantIn(t, res, "Enter an amount greater than zero.")
	res = ca.post("/wallet/send", url.Values{"payee": {alice.email}, "amount": {"1"}, "currency": {"CNY"}})
	wantIn(t, res, `id="payee-error"`, "You cannot send money to yourself.")
	res = ca.post("/wallet/send", url.Values{"payee": {"bob"}, "amount": {"1"}, "currency": {"CNY"}})
	wantIn(t, res, `id="payee-error"`)
	res = ca.post("/wallet/send", url.Values{"payee": {bob.email}, "amount": {"1"}, "currency": {"CNY"}, "note": {"line\nbreak"}})
	wantIn(t, res, `id="note-error"`)

	// Chinese errors.
	ca.lang = "zh-CN"
	res = ca.post("/wallet/send", url.Values{"payee": {"nobody@example.com"}, "amount": {"1"}, "currency": {"CNY"}})
	wantIn(t, res, "没有与该收款人匹配的 OKPay 账户")
	ca.lang = "en"

	// Editing from the confirmation page keeps the values.
	res = ca.post("/wallet/send", url.Values{"payee": {bob.email}, "amount": {"50"}, "currency": {"CNY"}})
	confirm := hiddenForm(res.body)
	confirm.Set("action", "edit")
	res = ca.post("/wallet/send/confirm", confirm)
	wantStatus(t, res, http.StatusOK)
	wantIn(t, res, `data-testid="send-form"`, `value="50.00"`)

	// More than the balance: refused on the form with the reason, before
	// a confirmation page (so before any code); nothing moved.
	res = ca.post("/wallet/send", url.Values{"payee": {bob.email}, "amount": {"200"}, "currency": {"CNY"}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantIn(t, res, `data-testid="send-form"`, `value="200"`, "There is not enough money in your wallet.")
	if got := e.available(alice, "CNY"); got != cny(100_00) {
		t.Fatalf("alice has %v", got)
	}
	// A forged or stale confirmation key is refused, nothing sent.
	confirm.Set("action", "send")
	confirm.Set("key", "not-a-key")
	wantStatus(t, ca.post("/wallet/send/confirm", confirm), http.StatusBadRequest)
}

// TestWalletHistoryFilters: the history's filters (type, status,
// currency, dates), its pages, a transaction's page with its timeline and
// failure reason, and no access to another customer's transaction.
func TestWalletHistoryFilters(t *testing.T) {
	e := newWalletEnv(t)
	ca, cb := e.client(), e.client()
	alice := e.signUp(ca)
	bob := e.signUp(cb)
	e.fund(alice, cny(1_000_00))
	e.fund(alice, usdAmt(50_00))
	aliceID := e.walletUser(alice)

	key := 0
	send := func(a money.Amount, note string) *wallet.Txn {
		t.Helper()
		key++
		res, err := e.w.Transfer(e.ctx, wallet.TransferInput{UserID: aliceID, Amount: a, Payee: bob.email, Note: note, Key: "k" + itoa(key)})
		if res == nil || res.Txn == nil {
			t.Fatalf("transfer: %v", err)
		}
		if res.Txn.Status == wallet.StatusAwaitingAuth {
			sms := e.waitMail(alice.phone, "code_txn", "")
			res, err = e.w.ConfirmTransfer(e.ctx, wallet.ConfirmInput{UserID: aliceID, TxnID: res.Txn.ID, Code: codeRE.FindStringSubmatch(sms.Body)[1]})
			if err != nil {
				t.Fatal(err)
			}
		}
		return res.Txn
	}
	first := send(cny(1_00), "first")
	e.clock.Advance(48 * time.Hour)
	for i := 0; i < 22; i++ {
		send(cny(int64(i+1)*10), "n"+itoa(i))
	}
	dollars := send(usdAmt(5_00), "=HYPERLINK(\"http://evil.test\")")
	failed, err := e.w.Transfer(e.ctx, wallet.TransferInput{UserID: aliceID, Amount: usdAmt(200_00), Payee: bob.email, Key: "too-much"})
	if err == nil || failed.Txn.Status != wallet.StatusFailed {
		t.Fatalf("an overdraft: %+v %v", failed, err)
	}
	// Two days on, the sessions have ended: sign in again.
	e.logIn(ca, alice)
	e.logIn(cb, bob)

	res := ca.get("/wallet/transactions")
	wantStatus(t, res, http.StatusOK)
	if n := strings.Count(res.body, `data-testid="txn"`); n != 20 {
		t.Fatalf("the first page lists %d transactions, want 20", n)
	}
	wantIn(t, res, `data-testid="page-next"`, `data-testid="csv-link"`)
	next := formValueHref(t, res.body, "page-next")
	res = ca.get(next)
	if n := strings.Count(res.body, `data-testid="txn"`); n != 5 {
		t.Fatalf("the second page lists %d transactions, want 5", n)
	}
	wantIn(t, res, `data-testid="page-first"`, first.Ref())
	wantNotIn(t, res, `data-testid="page-next"`)

	count := func(q string) int {
		t.Helper()
		res := ca.get("/wallet/transactions?" + q)
		wantStatus(t, res, http.StatusOK)
		return strings.Count(res.body, `data-testid="txn"`)
	}
	if n := count("currency=USD"); n != 2 {
		t.Errorf("USD: %d", n)
	}
	if n := count("currency=USD&status=failed"); n != 1 {
		t.Errorf("USD failed: %d", n)
	}
	if n := count("type=transfer_in"); n != 0 {
		t.Errorf("alice's transfers in: %d", n)
	}
	day := first.CreatedAt.UTC().Format("2006-01-02")
	if n := count("from=" + day + "&to=" + day); n != 1 {
		t.Errorf("the first day: %d", n)
	}
	// The days are the reader's (their browser's time zone, the tz
	// cookie): in Honolulu (UTC-10) the first transfer was made the day
	// before, and nothing on the UTC day.
	hnl, err := time.LoadLocation("Pacific/Honolulu")
	if err != nil {
		t.Fatal(err)
	}
	local := first.CreatedAt.In(hnl).Format("2006-01-02")
	if local == day {
		t.Fatalf("the first transfer (%s) is on the same day in Honolulu", first.CreatedAt)
	}
	ca.cookies["tz"] = &http.Cookie{Name: "tz", Value: "Pacific/Honolulu"}
	if n := count("from=" + local + "&to=" + local); n != 1 {
		t.Errorf("the first day in Honolulu (%s): %d, want 1", local, n)
	}
	if n := count("from=" + day + "&to=" + day); n != 0 {
		t.Errorf("the UTC day %s in Honolulu: %d, want 0", day, n)
	}
	delete(ca.cookies, "tz")
	if n := count("from=" + first.CreatedAt.Add(24*time.Hour).UTC().Format("2006-01-02") + "&status=completed"); n != 20 {
		t.Errorf("from the day after: %d on the first page", n)
	}
	if n := count("from=" + first.CreatedAt.Add(24*time.Hour).UTC().Format("2006-01-02") + "&currency=CNY"); n != 20 {
		t.Errorf("from the day after in CNY: %d on the first page", n)
	}
	res = ca.get("/wallet/transactions?currency=CNY&from=" + first.CreatedAt.Add(24*time.Hour).UTC().Format("2006-01-02"))
	res = ca.get(formValueHref(t, res.body, "page-next"))
	if n := strings.Count(res.body, `data-testid="txn"`); n != 2 || !strings.Contains(res.body, "n1<") {
		t.Errorf("the second page of the filtered list: %d\n%s", n, excerpt(res.body))
	}
	res = ca.get("/wallet/transactions?status=lost&from=yesterday")
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantIn(t, res, `id="f-status-error"`, `id="f-from-error"`)
	res = ca.get("/wallet/transactions?from=2026-12-01&to=2026-11-01")
	wantIn(t, res, "The end date must not be before the start date.")
	// The filter form keeps the choice, unfolded; without a filter it is
	// folded away (it filled a phone's first screen), the CSV link
	// outside it.
	res = ca.get("/wallet/transactions?type=transfer_out&currency=USD")
	wantIn(t, res, `<option value="transfer_out" selected>`, `<option value="USD" selected>`, `data-testid="filter-clear"`, `data-testid="filter-box" open>`)
	res = ca.get("/wallet/transactions")
	wantIn(t, res, `data-testid="filter-box">`, `data-testid="filter-toggle"`)
	if i, j := strings.Index(res.body, `data-testid="csv-link"`), strings.Index(res.body, `</details>`); i < 0 || j < 0 || i < j {
		t.Errorf("the CSV link is inside the folded filter (link at %d, fold ends at %d)", i, j)
	}

	// Bob's view: transfers in.
	if n := strings.Count(cb.get("/wallet/transactions?type=transfer_in&currency=USD").body, `data-testid="txn"`); n != 1 {
		t.Errorf("bob's transfers in: %d", n)
	}

	// One transaction: the timeline of a coded payment, and of a failed one.
	res = ca.get("/wallet/transactions/" + first.Ref())
	wantStatus(t, res, http.StatusOK)
	wantIn(t, res, `data-testid="timeline"`, `data-status="awaiting_auth" data-state="done"`, `data-status="completed" data-state="done"`, "first")
	res = ca.get("/wallet/transactions/" + failed.Txn.Ref())
	wantIn(t, res, `data-testid="txn-failure"`, "There was not enough money in your wallet.", `data-state="failed"`)
	ca.lang = "zh-CN"
	res = ca.get("/wallet/transactions/" + failed.Txn.Ref())
	wantIn(t, res, "失败", "年")
	wantNotIn(t, res, "There was not enough money")
	ca.lang = "en"
	// Bob cannot open alice's transactions; unknown ids are 404 too.
	wantStatus(t, cb.get("/wallet/transactions/"+dollars.Ref()), http.StatusNotFound)
	wantStatus(t, ca.get("/wallet/transactions/txn_nope"), http.StatusNotFound)
}

// formValueHref returns the href of the element with data-testid id.
func formValueHref(t testing.TB, body, id string) string {
	t.Helper()
	i := strings.Index(body, `data-testid="`+id+`"`)
	if i < 0 {
		t.Fatalf("no %s in the page", id)
	}
	j := strings.LastIndex(body[:i], `href="`)
	if j < 0 {
		t.Fatalf("no href for %s", id)
	}
	rest := body[j+len(`href="`):]
	return htmlUnescape(rest[:strings.IndexByte(rest, '"')])
}

// TestWalletCSVExport: the history as a CSV download, filtered, with
// formula cells neutralised.
func TestWalletCSVExport(t *testing.T) {
	e := newWalletEnv(t)
	ca, cb := e.client(), e.client()
	alice := e.signUp(ca)
	bob := e.signUp(cb)
	e.fund(alice, usdAmt(100_00))
	res, err := e.w.Transfer(e.ctx, wallet.TransferInput{UserID: e.walletUser(alice), Amount: usdAmt(3_00), Payee: bob.email,
		Note: "=1+2", Key: "csv-1"})
	if err != nil {
		t.Fatal(err)
	}
	sms := e.waitMail(alice.phone, "code_txn", "")
	if _, err := e.w.ConfirmTransfer(e.ctx, wallet.ConfirmInput{UserID: e.walletUser(alice), TxnID: res.Txn.ID, Code: codeRE.FindStringSubmatch(sms.Body)[1]}); err != nil {
		t.Fatal(err)
	}

	r := ca.get("/wallet/transactions.csv?currency=USD")
	wantStatus(t, r, http.StatusOK)
	if ct := r.Header.Get("Content-Type"); ct != "text/csv; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if cd := r.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment; filename=") {
		t.Errorf("Content-Disposition %q", cd)
	}
	recs, err := csv.NewReader(strings.NewReader(r.body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[0][0] != "id" || recs[1][0] != res.Txn.Ref() || recs[1][11] != "'=1+2" || recs[1][5] != "3.00" {
		t.Fatalf("CSV: %q", recs)
	}
	// Bob's export has his side only; a bad filter is refused.
	r = cb.get("/wallet/transactions.csv")
	if strings.Contains(r.body, res.Txn.Ref()) || !strings.Contains(r.body, "transfer_in") {
		t.Fatalf("bob's CSV: %s", r.body)
	}
	wantStatus(t, ca.get("/wallet/transactions.csv?type=bogus"), http.StatusUnprocessableEntity)
	// Signed out: to the login page.
	wantRedirect(t, e.client().get("/wallet/transactions.csv"), "/login")
}

// TestDepositThroughTheSandbox: a card deposit through the pages and the
// built-in provider: choose a verified card and an amount, see the fee,
// confirm; the page waits (refreshing itself) until the provider's
// signed webhook credits the wallet. Then a 3-D Secure card, whose bank
// page brings the browser back; and a card whose charge is declined.
func TestDepositThroughTheSandbox(t *testing.T) {
	e := newWalletEnv(t)
	c := e.client()
	a := e.signUp(c)

	res := c.get("/wallet/deposit")
	wantStatus(t, res, http.StatusOK)
	wantIn(t, res, `data-testid="deposit-no-cards"`)

	card := e.addCard(a, "4242424242424242")
	res = c.get("/wallet/deposit?currency=USD")
	wantIn(t, res, `data-testid="deposit-card"`, card.PublicID(), "Visa •••• 4242", `<option value="USD" selected>`)

	res = c.post("/wallet/deposit", url.Values{"card": {card.PublicID()}, "amount": {"100"}, "currency": {"USD"}})
	wantStatus(t, res, http.StatusOK)
	wantIn(t, res, `data-testid="deposit-review"`, "$100.00", "$2.00", "$98.00", ">Add $100.00<")
	confirm := hiddenForm(res.body)
	confirm.Set("action", "deposit")
	res = c.post("/wallet/deposit/confirm", confirm)
	wantRedirect(t, res, "/wallet/deposits/txn_")
	status := res.Header.Get("Location")
	// Twice: the same deposit, one charge.
	wantRedirect(t, c.post("/wallet/deposit/confirm", confirm), status)

	waitDeposit := func(path, want string) *response {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			res := c.get(path)
			wantStatus(t, res, http.StatusOK)
			if strings.Contains(res.body, `data-testid="deposit-status" data-status="`+want+`"`) {
				return res
			}
			if want != "executing" && strings.Contains(res.body, `data-status="executing"`) && res.Header.Get("Refresh") == "" {
				t.Fatal("a pending deposit's page does not refresh itself")
			}
			if time.Now().After(deadline) {
				t.Fatalf("the deposit did not become %s:\n%s", want, excerpt(res.body))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	res = waitDeposit(status, "completed")
	wantIn(t, res, "$98.00 added", "Visa •••• 4242")
	if res.Header.Get("Refresh") != "" {
		t.Error("a credited deposit's page still refreshes")
	}
	if got := e.available(a, "USD"); got != usdAmt(98_00) {
		t.Fatalf("balance %v", got)
	}

	// 3-D Secure: to the bank's page, back to the deposit.
	challenge := e.addCard(a, "4000000000003220")
	res = c.post("/wallet/deposit", url.Values{"card": {challenge.PublicID()}, "amount": {"10"}, "currency": {"USD"}})
	confirm = hiddenForm(res.body)
	confirm.Set("action", "deposit")
	res = c.post("/wallet/deposit/confirm", confirm)
	wantRedirect(t, res, "/sandbox/3ds/")
	threeDS := res.Header.Get("Location")
	res = c.post(threeDS, url.Values{"outcome": {"complete"}})
	wantRedirect(t, res, "/wallet/deposits/return?key=")
	res = c.get(res.Header.Get("Location"))
	wantRedirect(t, res, "/wallet/deposits/txn_")
	waitDeposit(res.Header.Get("Location"), "completed")
	if got := e.available(a, "USD"); got != usdAmt(98_00+9_80) {
		t.Fatalf("balance %v", got)
	}

	// A card with no funds: the deposit fails with the provider's reason.
	poor := e.addCard(a, "4000000000009995")
	res = c.post("/wallet/deposit", url.Values{"card": {poor.PublicID()}, "amount": {"5"}, "currency": {"USD"}})
	confirm = hiddenForm(res.body)
	confirm.Set("action", "deposit")
	res = c.post("/wallet/deposit/confirm", confirm)
	wantRedirect(t, res, "/wallet/deposits/txn_")
	res = waitDeposit(res.Header.Get("Location"), "failed")
	wantIn(t, res, `data-testid="txn-failure"`, "The card has not enough funds.")

	// Form errors keep the values; someone else's card is not offered.
	res = c.post("/wallet/deposit", url.Values{"card": {"pm_nope"}, "amount": {"ten"}, "currency": {"USD"}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantIn(t, res, `id="card-error"`, `id="amount-error"`, `value="ten"`)
	other := e.client()
	e.signUp(other)
	res = other.post("/wallet/deposit", url.Values{"card": {card.PublicID()}, "amount": {"1"}, "currency": {"USD"}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantIn(t, res, "Choose one of your verified cards.")
	wantStatus(t, other.get(status), http.StatusNotFound)
}

// TestWalletPagesNeedASession: every wallet page sends a visitor without
// a session to the login page, and changes only on POST.
func TestWalletPagesNeedASession(t *testing.T) {
	e := newWalletEnv(t)
	c := e.client()
	for _, p := range []string{"/wallet", "/wallet/transactions", "/wallet/send", "/wallet/deposit", "/wallet/transactions/txn_0d4m8y2k3q1ag"} {
		wantRedirect(t, c.get(p), "/login")
	}
	for _, p := range []string{"/wallet/open", "/wallet/send", "/wallet/send/confirm", "/wallet/deposit/confirm"} {
		wantRedirect(t, c.post(p, url.Values{"currency": {"USD"}}), "/login")
	}
	for _, p := range []string{"/wallet/open", "/wallet/hide"} {
		if res := c.get(p); res.StatusCode != http.StatusMethodNotAllowed && res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d", p, res.StatusCode)
		}
	}
}

// TestSendFormDefaults: the send form starts on the first wallet with money
// in it (not the first configured currency) and shows the balances it can
// spend; a currency in the link or the submitted form still wins.
func TestSendFormDefaults(t *testing.T) {
	e := newWalletEnv(t)
	ca := e.client()
	alice := e.signUp(ca)

	// Nothing yet: the first configured currency, no balances panel.
	res := ca.get("/wallet/send")
	wantStatus(t, res, http.StatusOK)
	wantIn(t, res, `<option value="CNY" selected>`)
	wantNotIn(t, res, `data-testid="form-balances"`)

	e.fund(alice, usdAmt(250_00))
	res = ca.get("/wallet/send")
	wantIn(t, res, `<option value="USD" selected>`, `data-testid="form-balance" data-currency="USD"`, "$250.00")
	wantNotIn(t, res, `<option value="CNY" selected>`)

	res = ca.get("/wallet/send?currency=EUR")
	wantIn(t, res, `<option value="EUR" selected>`)
	res = ca.post("/wallet/send", url.Values{"payee": {"nobody@example.com"}, "amount": {"1"}, "currency": {"GBP"}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantIn(t, res, `<option value="GBP" selected>`, `data-testid="form-balance" data-currency="USD"`)
}
