package web_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/okpay/okpay/fx"
	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/wallet"
	"github.com/okpay/okpay/web"
)

// The exchange and remittance pages over real parts, as a browser
// without JavaScript uses them (the browser test runs the countdown).

// exchangeEnv is the wallet environment with the rate service (operator
// rates EUR→USD 1.25, EUR→CNY 8, EUR→JPY 160; none for GBP) and the
// exchanger on the pages.
type exchangeEnv struct {
	*walletEnv
	rates *fx.Service
	x     *wallet.Exchanger
}

func newExchangeEnv(t testing.TB) *exchangeEnv {
	t.Helper()
	xe := &exchangeEnv{}
	xe.walletEnv = newWalletEnv(t, func(we *walletEnv, c *web.Config) error {
		ctx := context.Background()
		id := c.Identity
		rates, err := fx.New(id.DB, id.Clock, id.IDs, fx.Config{})
		if err != nil {
			return err
		}
		for q, v := range map[money.Currency]string{"USD": "1.25", "CNY": "8", "JPY": "160"} {
			if _, err := rates.SetRate(ctx, fx.SetRateInput{Base: "EUR", Quote: q, Rate: v, By: "admin:test"}); err != nil {
				return err
			}
		}
		x, err := wallet.NewExchanger(ctx, we.w, rates)
		if err != nil {
			return err
		}
		xe.rates, xe.x, c.Exchange = rates, x, x
		return nil
	})
	return xe
}

var quoteIDRE = regexp.MustCompile(`data-quote="(fxq_[0-9a-z]+)"`)

func quoteID(t testing.TB, body string) string {
	t.Helper()
	m := quoteIDRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no quote in the page:\n%s", excerpt(body))
	}
	return m[1]
}

// TestExchangePages walks an exchange: the home page links to it; the
// form; the quote with the rate, the market rate, the spread, the fee and
// the validity; a confirmation that moves both balances once, however
// often it is submitted; a quote confirmed too late, which moves nothing
// and brings a new quote; the buttons to change the form or ask for a new
// quote; a refusal shown on the result; another customer's result not
// found.
func TestExchangePages(t *testing.T) {
	e := newExchangeEnv(t)
	ca, cb := e.client(), e.client()
	alice := e.signUp(ca)
	e.signUp(cb)
	e.fund(alice, usdAmt(1_000_00))

	res := ca.get("/wallet")
	wantIn(t, res, `href="/wallet/exchange" data-testid="wallet-exchange"`, `href="/wallet/remit" data-testid="wallet-remit"`)
	res = ca.get("/wallet/exchange")
	wantStatus(t, res, http.StatusOK)
	wantIn(t, res, `data-testid="exchange-form"`, `<option value="USD" selected>`, `data-testid="form-balance" data-currency="USD"`, "$1,000.00",
		`id="side-sell" name="side" value="sell" checked`)

	form := url.Values{"from": {"USD"}, "to": {"EUR"}, "amount": {"100"}, "side": {"sell"}}
	res = ca.post("/wallet/exchange", form)
	wantStatus(t, res, http.StatusOK)
	// Mid USD→EUR 0.8, less 0.5%: 0.796; $100.00 buys €79.60; the
	// margin is $0.50.
	wantIn(t, res, `data-testid="exchange-quote"`, `data-testid="quote-sell">$100.00`, `data-testid="quote-buy"><strong>€79.60`,
		"1 USD = 0.796 EUR", "1 USD = 0.8 EUR", "Exchange margin (0.5% of the market rate)", `data-testid="quote-spread">$0.50`,
		`data-testid="quote-fee">No fee`, `data-seconds="60"`, "This quote is valid until "+e.clock.Now().Add(fx.DefaultQuoteTTL).UTC().Format("15:04:05")+" UTC", "/static/exchange.js",
		">Exchange $100.00 for €79.60<", `data-testid="quote-requote" hidden`)
	first := quoteID(t, res.body)
	confirm := hiddenForm(res.body)
	if confirm.Get("quote") != first || confirm.Get("key") == "" || confirm.Get("amount") != "100.00" {
		t.Fatalf("confirmation form: %v", confirm)
	}
	confirm.Set("action", "confirm")
	res = ca.post("/wallet/exchange/confirm", confirm)
	wantRedirect(t, res, "/wallet/exchange/txn_")
	result := res.Header.Get("Location")
	wantRedirect(t, ca.post("/wallet/exchange/confirm", confirm), result) // a double click: one exchange
	res = ca.get(result)
	wantStatus(t, res, http.StatusOK)
	wantIn(t, res, `data-status="completed"`, "You exchanged $100.00 for €79.60", `data-testid="result-rate">1 USD = 0.796 EUR`,
		`data-currency="USD"><dt>USD</dt><dd data-testid="result-balance-available">$900.00`,
		`data-currency="EUR"><dt>EUR</dt><dd data-testid="result-balance-available">€79.60`)
	if got := e.available(alice, "EUR"); got != money.New(79_60, "EUR") {
		t.Fatalf("alice EUR %v", got)
	}
	wantStatus(t, cb.get(result), http.StatusNotFound)
	// The history names both sides.
	wantIn(t, ca.get("/wallet/transactions"), `data-testid="txn-amount">$100.00 → €79.60<`)
	wantIn(t, ca.get(strings.Replace(result, "/wallet/exchange/", "/wallet/transactions/", 1)), `data-testid="txn-amount">$100.00 → €79.60<`)

	// Buying a fixed amount: €50.00 costs $62.82 (rounded up).
	res = ca.post("/wallet/exchange", url.Values{"from": {"USD"}, "to": {"EUR"}, "amount": {"50"}, "side": {"buy"}})
	wantIn(t, res, `data-testid="quote-sell">$62.82`, `data-testid="quote-buy"><strong>€50.00`)

	// Too late: nothing moves; a new quote at the current rate.
	res = ca.post("/wallet/exchange", form)
	late := hiddenForm(res.body)
	late.Set("action", "confirm")
	e.clock.Advance(fx.DefaultQuoteTTL + time.Second)
	res = ca.post("/wallet/exchange/confirm", late)
	wantStatus(t, res, http.StatusConflict)
	wantIn(t, res, `data-testid="notice"`, "Your quote expired before you confirmed it, so nothing was exchanged", `data-testid="exchange-quote"`)
	if again := quoteID(t, res.body); again == late.Get("quote") {
		t.Fatal("the expired quote was shown again")
	}
	if got := e.available(alice, "USD"); got != usdAmt(900_00) {
		t.Fatalf("alice USD %v after a late confirmation", got)
	}
	// The new-quote and change buttons.
	late.Set("action", "requote")
	res = ca.post("/wallet/exchange/confirm", late)
	wantStatus(t, res, http.StatusOK)
	wantIn(t, res, `data-testid="exchange-quote"`)
	late.Set("action", "edit")
	res = ca.post("/wallet/exchange/confirm", late)
	wantStatus(t, res, http.StatusOK)
	wantIn(t, res, `data-testid="exchange-form"`, `value="100.00"`, `<option value="EUR" selected>`)

	// Refused at execution: a failed exchange with its reason.
	res = ca.post("/wallet/exchange", url.Values{"from": {"USD"}, "to": {"EUR"}, "amount": {"5000"}})
	big := hiddenForm(res.body)
	big.Set("action", "confirm")
	res = ca.post("/wallet/exchange/confirm", big)
	wantRedirect(t, res, "/wallet/exchange/txn_")
	res = ca.get(res.Header.Get("Location"))
	wantIn(t, res, `data-status="failed"`, `data-testid="txn-failure"`, "No money left your wallet.")

	// In Chinese.
	ca.lang = "zh-CN"
	res = ca.post("/wallet/exchange", form)
	wantIn(t, res, "核对兑换", "汇率", "市场汇率", "兑换差价（市场汇率的 0.5%）")
}

// TestExchangeFormErrors: errors next to their fields, values kept.
func TestExchangeFormErrors(t *testing.T) {
	e := newExchangeEnv(t)
	c := e.client()
	a := e.signUp(c)
	e.fund(a, usdAmt(10_00))
	for _, tc := range []struct {
		form   url.Values
		status int
		want   []string
	}{
		{url.Values{"from": {"USD"}, "to": {"USD"}, "amount": {"1"}}, 422, []string{"Choose two different currencies.", `href="#to"`}},
		{url.Values{"from": {"USD"}, "to": {"EUR"}, "amount": {""}}, 422, []string{`href="#amount"`}},
		{url.Values{"from": {"USD"}, "to": {"EUR"}, "amount": {"1.001"}}, 422, []string{`href="#amount"`, `value="1.001"`}},
		{url.Values{"from": {"USD"}, "to": {"EUR"}, "amount": {"1"}, "side": {"hold"}}, 422, []string{"Choose whether the amount is what you sell or what you get."}},
		{url.Values{"from": {"XTS"}, "to": {"EUR"}, "amount": {"1"}}, 422, []string{`href="#from"`}},
		{url.Values{"from": {"USD"}, "to": {"GBP"}, "amount": {"1"}}, 503, []string{"there is no rate between them"}},
		{url.Values{"from": {"JPY"}, "to": {"USD"}, "amount": {"1"}}, 422, []string{"This amount is too small"}},
	} {
		res := c.post("/wallet/exchange", tc.form)
		wantStatus(t, res, tc.status)
		wantIn(t, res, append([]string{`data-testid="error-summary"`, `data-testid="exchange-form"`}, tc.want...)...)
	}
	// A form without its key or quote: the form again, nothing moved.
	res := c.post("/wallet/exchange/confirm", url.Values{"from": {"USD"}, "to": {"EUR"}, "amount": {"1"}, "action": {"confirm"}})
	wantStatus(t, res, http.StatusBadRequest)
	// Without a session: to the sign-in.
	wantRedirect(t, e.client().get("/wallet/exchange"), "/login")
	wantRedirect(t, e.client().post("/wallet/remit/confirm", nil), "/login")
}

// TestRemitPages walks a remittance to a new payee: the confirmation
// shows every fee, the rate, what the recipient gets and that a code
// follows with the rate held meanwhile; the code, typed after the quote's
// own minute, sends it at the quoted rate; the recipient is credited in
// the other currency. A second one to the known payee needs no code; one
// confirmed after its quote expired brings a new quote.
func TestRemitPages(t *testing.T) {
	e := newExchangeEnv(t)
	ca, cb := e.client(), e.client()
	alice := e.signUp(ca)
	bob := e.signUp(cb)
	e.fund(alice, usdAmt(1_000_00))

	res := ca.get("/wallet/remit")
	wantStatus(t, res, http.StatusOK)
	wantIn(t, res, `data-testid="remit-form"`, "They receive in", `data-testid="remit-payee"`)

	form := url.Values{"payee": {bob.email}, "from": {"USD"}, "to": {"CNY"}, "amount": {"100"}, "side": {"sell"}, "note": {"Tuition"}}
	res = ca.post("/wallet/remit", form)
	wantStatus(t, res, http.StatusOK)
	// USD→CNY mid 6.4, less 0.5%: 6.368; ¥636.80 for $100.00; the fee
	// 0.5% = $0.50.
	wantIn(t, res, `data-testid="remit-review"`, `data-testid="quote-sell">$100.00`, `data-testid="quote-fee">$0.50`,
		`data-testid="quote-total"><strong>$100.50`, "1 USD = 6.368 CNY", "1 USD = 6.4 CNY", `data-testid="quote-buy"><strong>CN¥636.80`,
		`data-testid="review-new-payee"`, "The rate stays as shown for 15 minutes while you enter it.", ">Send $100.50<", "Tuition")
	if strings.Contains(res.body, `data-testid="review-payee">`+bob.email) {
		t.Fatal("the payee is not masked")
	}
	confirm := hiddenForm(res.body)
	confirm.Set("action", "confirm")
	after := e.lastMailID()
	res = ca.post("/wallet/remit/confirm", confirm)
	wantRedirect(t, res, "/wallet/remit/txn_")
	codePage := res.Header.Get("Location")
	if !strings.HasSuffix(codePage, "/code") {
		t.Fatalf("a new payee needs a code; went to %q", codePage)
	}
	ref := txnRef(t, codePage)
	wantRedirect(t, ca.post("/wallet/remit/confirm", confirm), codePage)
	res = ca.get(codePage)
	wantIn(t, res, `data-method="sms"`, `data-testid="code-delivered">CN¥636.80`, "Confirm and send $100.50", `data-testid="remit-code-resend"`)
	wantStatus(t, cb.get(codePage), http.StatusNotFound)
	code := codeRE.FindStringSubmatch(e.waitMail(alice.phone, "code_txn", after).Body)[1]
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	res = ca.post(codePage, url.Values{"code": {wrong}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantIn(t, res, "That code is not right.")
	res = ca.post(codePage, url.Values{"code": {""}})
	wantStatus(t, res, http.StatusUnprocessableEntity)

	// After the quote's own minute, within the remittance's window.
	e.clock.Advance(2 * time.Minute)
	wantRedirect(t, ca.post(codePage, url.Values{"code": {code}}), "/wallet/remit/"+ref)
	res = ca.get("/wallet/remit/" + ref)
	wantIn(t, res, `data-status="completed"`, "$100.00 sent", "received CN¥636.80", `data-testid="result-rate">1 USD = 6.368 CNY`)
	if got := e.available(bob, "CNY"); got != cny(636_80) {
		t.Fatalf("bob CNY %v", got)
	}
	if got := e.available(alice, "USD"); got != usdAmt(899_50) {
		t.Fatalf("alice USD %v", got)
	}
	wantRedirect(t, ca.get(codePage), "/wallet/remit/"+ref)
	// Bob's history says he received it.
	res = cb.get("/wallet")
	wantIn(t, res, `class="txn txn-in" data-testid="txn"`, `data-type="remittance"`, "&#43;CN¥636.80")

	// To the known payee below the threshold: at once.
	res = ca.post("/wallet/remit", url.Values{"payee": {bob.phone}, "from": {"USD"}, "to": {"JPY"}, "amount": {"1000"}, "side": {"buy"}})
	wantNotIn(t, res, `data-testid="review-needs-code"`, `data-testid="review-new-payee"`)
	again := hiddenForm(res.body)
	again.Set("action", "confirm")
	res = ca.post("/wallet/remit/confirm", again)
	wantRedirect(t, res, "/wallet/remit/txn_")
	if strings.HasSuffix(res.Header.Get("Location"), "/code") {
		t.Fatal("a known payee below the threshold asked for a code")
	}
	if got := e.available(bob, "JPY"); got != money.New(1000, "JPY") {
		t.Fatalf("bob JPY %v", got)
	}

	// Confirmed after the quote expired: a new quote, nothing sent.
	res = ca.post("/wallet/remit", url.Values{"payee": {bob.email}, "from": {"USD"}, "to": {"CNY"}, "amount": {"10"}})
	late := hiddenForm(res.body)
	late.Set("action", "confirm")
	e.clock.Advance(fx.DefaultQuoteTTL)
	res = ca.post("/wallet/remit/confirm", late)
	wantStatus(t, res, http.StatusConflict)
	wantIn(t, res, "Your quote expired before you confirmed it", `data-testid="remit-review"`)

	// Errors: self, unknown payee.
	res = ca.post("/wallet/remit", url.Values{"payee": {alice.email}, "from": {"USD"}, "to": {"CNY"}, "amount": {"1"}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantIn(t, res, `href="#payee"`, `data-testid="remit-form"`)
	res = ca.post("/wallet/remit", url.Values{"payee": {"nobody@example.com"}, "from": {"USD"}, "to": {"CNY"}, "amount": {"1"}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantIn(t, res, `href="#payee"`, `value="nobody@example.com"`)
	// Bob's side is not a page of Alice's remittances, nor of his.
	wantStatus(t, cb.get("/wallet/remit/"+ref), http.StatusNotFound)
}
