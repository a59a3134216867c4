package web_test

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/okpay/okpay/agent"
	"github.com/okpay/okpay/fx"
	"github.com/okpay/okpay/httpapi"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/wallet"
	"github.com/okpay/okpay/web"
)

// This file adds the withdrawals to an accountEnv, wired as serve wires
// them: the ledger, the built-in sandbox provider at /sandbox/, the
// payment methods, the wallet, the withdrawals (the payment methods' payout
// check, the freeze hook, the provider's payout events, the job runner),
// the staff console with the reviewers' pages, the customers' withdrawal
// pages, and the API's webhook endpoint, over a real HTTP server. The
// browser test of the FAQ (faq_browser_test.go) runs on it too.

var withdrawWebhookSecret = []byte("whsec_web_withdraw_test_0123456789")

// Fees of the withdrawal tests: 1% on transfers and withdrawals, 2% on
// deposits.
var withdrawFees = walletTestFees{wallet.OpTransfer: 100, wallet.OpDeposit: 200, wallet.OpWithdrawal: 100}

// withdrawEnv is a walletEnv with the withdrawals and the staff console.
type withdrawEnv struct {
	*walletEnv
	wd    *wallet.Withdrawals
	staff *agent.Service
}

// withdrawEnvOptions tune the environment.
type withdrawEnvOptions struct {
	// listener serves the site (a browser's localhost address); nil: a
	// fresh one on 127.0.0.1.
	listener net.Listener
	// origin is the passkey origin (the site's address for a browser;
	// testPasskeyOrigin otherwise).
	origin string
	// statementCode: cards also need the code on their statement
	// (CRD-05).
	statementCode bool
	// exchange adds currency exchange and remittance, with reference
	// rates set (EUR = 8 CNY = 1.25 USD).
	exchange bool
}

func newWithdrawEnv(t testing.TB, o withdrawEnvOptions) *withdrawEnv {
	t.Helper()
	if o.origin == "" {
		o.origin = testPasskeyOrigin
	}
	wde := &withdrawEnv{}
	extra := []func(*walletEnv, *web.Config) error{func(we *walletEnv, c *web.Config) error {
		d := c.Identity.Deps
		var err error
		wde.staff, err = agent.New(agent.Deps{DB: d.DB, Clock: d.Clock, IDs: d.IDs, Keys: d.Keys, Hasher: d.Hasher,
			CheckPassword: d.CheckPassword, Passkeys: d.Passkeys}, agent.Config{BaseURL: o.origin})
		c.Agents = wde.staff
		return err
	}}
	if o.exchange {
		extra = append(extra, func(we *walletEnv, c *web.Config) error {
			ctx := context.Background()
			id := c.Identity
			rates, err := fx.New(id.DB, id.Clock, id.IDs, fx.Config{})
			if err != nil {
				return err
			}
			for q, v := range map[money.Currency]string{"USD": "1.25", "CNY": "8"} {
				if _, err := rates.SetRate(ctx, fx.SetRateInput{Base: "EUR", Quote: q, Rate: v, By: "admin:test"}); err != nil {
					return err
				}
			}
			c.Exchange, err = wallet.NewExchanger(ctx, we.w, rates)
			return err
		})
	}
	// The withdrawals, as serve builds them (cmd/okpay/wallet.go).
	withdrawals := func(we *walletEnv, cfg *httpapi.Config) error {
		wd, err := wallet.NewWithdrawals(we.w, wallet.WithdrawalDeps{Methods: we.pm, Customers: we.id}, wallet.WithdrawalConfig{})
		if err != nil {
			return err
		}
		wde.wd = wd
		we.pm.SetInUse(wd)
		we.id.OnFreeze(wd.FreezeHook)
		if err := we.server.EnableWithdrawals(wd); err != nil {
			return err
		}
		if err := we.server.EnableWithdrawalReview(wd); err != nil {
			return err
		}
		cfg.Withdrawals = wd
		cfg.PSPWebhook.OwnTx = append(cfg.PSPWebhook.OwnTx, wd.ApplyProviderEvent)
		return nil
	}
	wde.walletEnv = newWalletEnvWith(t, walletEnvOptions{listener: o.listener, origin: o.origin, secret: withdrawWebhookSecret,
		fees: withdrawFees, statementCode: o.statementCode, extra: extra, api: withdrawals,
		start: func(ctx context.Context) func() {
			wde.wd.Start(ctx)
			return wde.wd.Close
		}})
	return wde
}

// user's id.
func (e *withdrawEnv) uid(a testAccount) int64 { return e.user(a).ID }

// wallet returns a's wallet in c.
func (e *withdrawEnv) wallet(a testAccount, c money.Currency) *wallet.Wallet {
	e.t.Helper()
	w, err := e.w.FindWallet(e.ctx, e.uid(a), c)
	if err != nil {
		e.t.Fatal(err)
	}
	return w
}

// reviewer creates a staff account with the risk role, as `okpay agent
// create` does.
func (e *withdrawEnv) reviewer(email string) (*agent.Agent, *agent.Enrollment) {
	e.t.Helper()
	a, enr, err := e.staff.Create(e.ctx, agent.Actor{System: "cli:test"}, agent.NewAgent{Email: email, DisplayName: "Risk Reviewer",
		Roles: []agent.Role{agent.RoleRisk}, Languages: []i18n.Lang{i18n.ZhCN, i18n.En}}, agent.Meta{IP: "cli"})
	if err != nil {
		e.t.Fatal(err)
	}
	return a, enr
}

// waitStatus waits until a's withdrawal ref has status want.
func (e *withdrawEnv) waitStatus(a testAccount, ref string, want wallet.Status) *wallet.Withdrawal {
	e.t.Helper()
	id, ok := wallet.ParseWithdrawalRef(ref)
	if !ok {
		e.t.Fatalf("not a withdrawal id: %q", ref)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		wd, err := e.wd.Find(e.ctx, e.uid(a), id)
		if err != nil {
			e.t.Fatal(err)
		}
		if wd.Txn.Status == want {
			return wd
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("withdrawal %s is %s (%s), want %s", ref, wd.Txn.Status, wd.Txn.FailureCode, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// withdrawVia goes through the form and the quote page and starts a
// withdrawal; it returns the code page's address.
func withdrawVia(t *testing.T, c *client, method, amount, currency string) string {
	t.Helper()
	res := c.post("/wallet/withdraw", url.Values{"method": {method}, "amount": {amount}, "currency": {currency}})
	wantStatus(t, res, http.StatusOK)
	confirm := hiddenForm(res.body)
	confirm.Set("action", "withdraw")
	res = c.post("/wallet/withdraw/confirm", confirm)
	wantRedirect(t, res, "/wallet/withdrawals/txn_")
	return res.Header.Get("Location")
}

var statusPath = regexp.MustCompile(`^/wallet/withdrawals/txn_[0-9a-z]+$`)

// TestWithdrawFundsFAQ walks the description's "withdraw funds" FAQ
// through the pages: the withdraw action on the wallet's home page; the
// form with the verified card (on hold the first day); the quote with the
// fee, the total held and the expected completion in business days; the
// code bound to the withdrawal (a wrong one refused, another customer
// refused); the status page while it waits for review (the money held,
// the page refreshing itself, a link from the transaction's page); a
// reviewer's approval; the payout; the confirmation email.
func TestWithdrawFundsFAQ(t *testing.T) {
	t.Parallel()
	e := newWithdrawEnv(t, withdrawEnvOptions{})
	ca, cb := e.client(), e.client()
	alice := e.signUp(ca)
	bob := e.signUp(cb)
	e.fund(alice, cny(1_000_00))
	card := e.addCard(alice, "4242424242424242")

	res := ca.get("/wallet")
	wantIn(t, res, `href="/wallet/withdraw" data-testid="wallet-withdraw"`)
	wantNotIn(t, res, `data-testid="wallet-withdraw" data-placeholder="true"`)
	wantIn(t, ca.get("/account"), `href="/account/methods" data-testid="methods-link"`)

	// The first day the new card cannot receive money (RSK-02).
	res = ca.get("/wallet/withdraw")
	wantStatus(t, res, http.StatusOK)
	wantIn(t, res, `data-testid="withdraw-form"`, `data-id="`+card.PublicID()+`"`, `data-testid="withdraw-method-hold"`, `<option value="CNY" selected>`,
		`data-testid="withdraw-balance" data-currency="CNY">CN¥1,000.00`)
	res = ca.post("/wallet/withdraw", url.Values{"method": {card.PublicID()}, "amount": {"500"}, "currency": {"CNY"}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantIn(t, res, `id="method-error"`, "can receive money from", `value="500"`)

	// The next day.
	e.clock.Advance(25 * time.Hour)
	e.logIn(ca, alice)
	e.logIn(cb, bob)
	res = ca.post("/wallet/withdraw", url.Values{"method": {card.PublicID()}, "amount": {"500"}, "currency": {"CNY"}})
	wantStatus(t, res, http.StatusOK)
	q, err := e.wd.Quote(e.ctx, e.uid(alice), card.ID, cny(500_00))
	if err != nil {
		t.Fatal(err)
	}
	// 26 Nov 2026 is a Thursday: one business day is Friday, three reach
	// over the weekend to Tuesday.
	if q.EarliestAt.Weekday() != time.Friday || q.LatestAt.Weekday() != time.Tuesday {
		t.Fatalf("expected completion %v – %v", q.EarliestAt, q.LatestAt)
	}
	wantIn(t, res, `data-testid="withdraw-review"`, "Visa •••• 4242", "CN¥500.00", "CN¥5.00", "CN¥505.00",
		"between 27 Nov 2026 and 1 Dec 2026", ">Withdraw CN¥500.00<", e.text(i18n.En, "withdrawui.confirm.code_sms"))
	confirm := hiddenForm(res.body)
	if confirm.Get("key") == "" || confirm.Get("amount") != "500.00" || confirm.Get("method") != card.PublicID() {
		t.Fatalf("confirmation form: %v", confirm)
	}
	confirm.Set("action", "withdraw")
	after := e.lastMailID()
	res = ca.post("/wallet/withdraw/confirm", confirm)
	wantRedirect(t, res, "/wallet/withdrawals/txn_")
	codePage := res.Header.Get("Location")
	if !strings.HasSuffix(codePage, "/code") {
		t.Fatalf("went to %q, want the code page", codePage)
	}
	ref := txnRef(t, codePage)
	status := "/wallet/withdrawals/" + ref
	// A double click: the same withdrawal.
	wantRedirect(t, ca.post("/wallet/withdraw/confirm", confirm), codePage)

	res = ca.get(codePage)
	wantStatus(t, res, http.StatusOK)
	wantIn(t, res, `data-method="sms"`, "Confirm and withdraw CN¥500.00", `autocomplete="one-time-code"`, `data-testid="withdraw-code-resend"`,
		"CN¥505.00", "between 27 Nov 2026 and 1 Dec 2026")
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
	res = ca.post(codePage, url.Values{"code": {""}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	// Another customer can neither see it nor confirm it (BOLA).
	wantStatus(t, cb.get(codePage), http.StatusNotFound)
	wantStatus(t, cb.post(codePage, url.Values{"code": {code}}), http.StatusNotFound)
	wantStatus(t, cb.get(status), http.StatusNotFound)
	wantStatus(t, cb.post(status+"/cancel", url.Values{}), http.StatusNotFound)
	wantStatus(t, ca.get("/wallet/withdrawals/txn_nothing"), http.StatusNotFound)

	res = ca.post(codePage, url.Values{"code": {code}})
	wantRedirect(t, res, status)
	if !statusPath.MatchString(res.Header.Get("Location")) {
		t.Fatalf("after the code: %q", res.Header.Get("Location"))
	}
	res = ca.get(status)
	wantStatus(t, res, http.StatusOK)
	wantIn(t, res, `data-status="pending_review"`, e.text(i18n.En, "withdrawui.status.pending_review"), `data-testid="withdraw-cancel"`,
		"between 27 Nov 2026 and 1 Dec 2026", `data-testid="timeline"`)
	if res.Header.Get("Refresh") == "" {
		t.Error("the status page of a withdrawal under way does not refresh itself")
	}
	if w := e.wallet(alice, "CNY"); w.Available != cny(495_00) || w.PendingOut != cny(505_00) {
		t.Fatalf("held: available %v, pending out %v", w.Available, w.PendingOut)
	}
	// The code page of a confirmed withdrawal goes to its status.
	wantRedirect(t, ca.get(codePage), status)
	// The transaction's page links to the withdrawal's.
	res = ca.get("/wallet/transactions/" + ref)
	wantIn(t, res, `href="`+status+`" data-testid="txn-withdrawal"`)
	e.waitMail(alice.email, wallet.NoticeWithdrawalRequested, after)

	// A reviewer approves it; the provider pays it.
	risk, _ := e.reviewer("risk.faq@okpay.test")
	id, _ := wallet.ParseWithdrawalRef(ref)
	if err := e.wd.Approve(e.ctx, risk, id, "checked", agent.Meta{IP: "192.0.2.1"}); err != nil {
		t.Fatal(err)
	}
	e.waitStatus(alice, ref, wallet.StatusCompleted)
	res = ca.get(status)
	wantIn(t, res, `data-status="completed"`, "CN¥500.00 paid out", "Visa •••• 4242", `data-testid="withdraw-again"`)
	wantNotIn(t, res, `data-testid="withdraw-cancel"`)
	if res.Header.Get("Refresh") != "" {
		t.Error("a finished withdrawal's page still refreshes itself")
	}
	if w := e.wallet(alice, "CNY"); w.Available != cny(495_00) || w.Posted != cny(495_00) {
		t.Fatalf("paid: available %v, posted %v", w.Available, w.Posted)
	}
	mail := e.waitMail(alice.email, wallet.NoticeWithdrawalCompleted, after)
	if !strings.Contains(mail.Body, "500.00") {
		t.Errorf("the confirmation email: %q", mail.Body)
	}

	// In Chinese.
	ca.lang = "zh-CN"
	res = ca.get(status)
	wantIn(t, res, "已付出 ¥500.00")
	res = ca.get("/wallet/withdraw")
	wantIn(t, res, "提现金额", "银行卡")
}

// TestWithdrawCancelRejectAndErrors: errors next to their fields with
// the values kept; a withdrawal cancelled while it waits for review gives
// the money back; a reviewer's rejection shows its reason; a frozen
// account cannot withdraw.
func TestWithdrawCancelRejectAndErrors(t *testing.T) {
	t.Parallel()
	e := newWithdrawEnv(t, withdrawEnvOptions{})
	c := e.client()
	alice := e.signUp(c)
	c2 := e.client()
	noMethods := e.signUp(c2)
	e.fund(alice, cny(1_000_00))
	card := e.addCard(alice, "5555555555554444")
	e.clock.Advance(25 * time.Hour)
	e.logIn(c, alice)
	e.logIn(c2, noMethods)

	// Without a payout method: how to add one.
	res := c2.get("/wallet/withdraw")
	wantIn(t, res, `data-testid="withdraw-no-methods"`, `href="/account/methods"`)

	// Field errors.
	res = c.post("/wallet/withdraw", url.Values{"method": {"pm_nothing"}, "amount": {"1,000"}, "currency": {"CNY"}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantIn(t, res, `id="method-error"`, e.text(i18n.En, "withdrawui.error.method"), `id="amount-error"`, `value="1,000"`)
	res = c.post("/wallet/withdraw", url.Values{"method": {card.PublicID()}, "amount": {"995"}, "currency": {"CNY"}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantIn(t, res, `id="amount-error"`, e.text(i18n.En, "withdrawui.error.insufficient_funds"))
	res = c.post("/wallet/withdraw", url.Values{"method": {card.PublicID()}, "amount": {"5"}, "currency": {"USD"}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantIn(t, res, `id="currency-error"`, "You have no USD wallet")
	res = c.post("/wallet/withdraw/confirm", url.Values{"method": {card.PublicID()}, "amount": {"5"}, "currency": {"CNY"}, "key": {"forged"}, "action": {"withdraw"}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantIn(t, res, e.text(i18n.En, "walletui.error.stale_form"))
	// "Change" on the quote page goes back to the form with the values.
	res = c.post("/wallet/withdraw/confirm", url.Values{"method": {card.PublicID()}, "amount": {"12.50"}, "currency": {"CNY"}, "action": {"edit"}})
	wantStatus(t, res, http.StatusOK)
	wantIn(t, res, `data-testid="withdraw-form"`, `value="12.50"`)

	// Cancel while it waits for review: the money comes back.
	after := e.lastMailID()
	codePage := withdrawVia(t, c, card.PublicID(), "100", "CNY")
	ref := txnRef(t, codePage)
	status := "/wallet/withdrawals/" + ref
	wantRedirect(t, c.post(codePage, url.Values{"code": {e.waitCode(alice.phone, "code_txn", after)}}), status)
	if w := e.wallet(alice, "CNY"); w.Available != cny(899_00) {
		t.Fatalf("held: %v", w.Available)
	}
	wantRedirect(t, c.post(status+"/cancel", url.Values{}), status+"?cancelled=1")
	res = c.get(status + "?cancelled=1")
	wantIn(t, res, `data-status="failed"`, e.text(i18n.En, "withdrawui.notice.cancelled"), e.text(i18n.En, "wallet.failure.withdrawal_cancelled"),
		"CN¥101.00 held for it is back in your wallet")
	if w := e.wallet(alice, "CNY"); w.Available != cny(1_000_00) {
		t.Fatalf("after the cancel: %v", w.Available)
	}
	// Too late to cancel again.
	res = c.post(status+"/cancel", url.Values{})
	wantStatus(t, res, http.StatusConflict)
	wantIn(t, res, e.text(i18n.En, "withdrawui.error.conflict"))

	// Cancelled before its code: nothing was taken.
	after = e.lastMailID()
	codePage = withdrawVia(t, c, card.PublicID(), "20", "CNY")
	e.waitCode(alice.phone, "code_txn", after)
	res = c.get(codePage)
	wantIn(t, res, `data-testid="withdraw-cancel"`)
	wantRedirect(t, c.post(strings.TrimSuffix(codePage, "/code")+"/cancel", url.Values{}), "/wallet/withdrawals/txn_")
	res = c.get(strings.TrimSuffix(codePage, "/code"))
	wantIn(t, res, `data-status="failed"`, e.text(i18n.En, "withdrawui.status.nothing_taken"))

	// A reviewer's rejection: the reason, the money back.
	e.clock.Advance(61 * time.Second)
	after = e.lastMailID()
	codePage = withdrawVia(t, c, card.PublicID(), "200", "CNY")
	ref = txnRef(t, codePage)
	wantRedirect(t, c.post(codePage, url.Values{"code": {e.waitCode(alice.phone, "code_txn", after)}}), "/wallet/withdrawals/"+ref)
	risk, _ := e.reviewer("risk.reject@okpay.test")
	id, _ := wallet.ParseWithdrawalRef(ref)
	if err := e.wd.Reject(e.ctx, risk, id, "identity_check", "", agent.Meta{IP: "192.0.2.1"}); err != nil {
		t.Fatal(err)
	}
	res = c.get("/wallet/withdrawals/" + ref)
	wantIn(t, res, `data-status="rejected"`, e.text(i18n.En, "withdrawui.status.rejected"), e.text(i18n.En, "wallet.failure.rejected_identity_check"),
		"CN¥202.00 held for it is back in your wallet")
	wantNotIn(t, res, `data-testid="withdraw-cancel"`)
	c.lang = "zh-CN"
	res = c.get("/wallet/withdrawals/" + ref)
	wantIn(t, res, e.text(i18n.ZhCN, "withdrawui.status.rejected"), e.text(i18n.ZhCN, "wallet.failure.rejected_identity_check"))
	c.lang = "en"

	// A frozen account: the banner, and nothing leaves it.
	if err := e.id.Freeze(e.ctx, e.uid(alice), "test", "test", identity.Meta{}); err != nil {
		t.Fatal(err)
	}
	e.logIn(c, alice) // a freeze ends every session; the account signs in read-only
	res = c.get("/wallet/withdraw")
	wantIn(t, res, `data-testid="frozen-banner"`)
	// The quote reads no gate; starting the withdrawal does.
	res = c.post("/wallet/withdraw", url.Values{"method": {card.PublicID()}, "amount": {"10"}, "currency": {"CNY"}})
	wantStatus(t, res, http.StatusOK)
	confirm := hiddenForm(res.body)
	confirm.Set("action", "withdraw")
	res = c.post("/wallet/withdraw/confirm", confirm)
	wantStatus(t, res, http.StatusForbidden)
	wantIn(t, res, `data-testid="error-summary"`)
}
