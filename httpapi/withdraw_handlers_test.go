package httpapi

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/okpay/okpay/agent"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/ledger"
	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/paymethod"
	"github.com/okpay/okpay/psp"
	"github.com/okpay/okpay/psp/sandbox"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
	"github.com/okpay/okpay/wallet"
)

// withdrawTestFees: 1% on withdrawals (and the wallet fixture's fees).
type withdrawTestFees struct{}

func (withdrawTestFees) Quote(op, method string, a money.Amount) (money.Amount, string, error) {
	bp := map[string]int64{wallet.OpTransfer: 100, wallet.OpDeposit: 200, wallet.OpWithdrawal: 100}[op]
	return money.New(a.Minor*bp/10000, a.Currency), "test:" + op, nil
}

// withdrawFixture is the wallet fixture with the withdrawals, wired and
// served as serve does (the payment methods' payout check, the freeze
// hook, the provider's payout events, the job runner).
type withdrawFixture struct {
	*walletFixture
	wd *wallet.Withdrawals
}

func newWithdrawFixture(t *testing.T, db *sqldb.DB) *withdrawFixture {
	t.Helper()
	ctx := context.Background()
	f := &withdrawFixture{walletFixture: &walletFixture{idFixture: newIDFixture(t, db)}}
	srv := httptest.NewUnstartedServer(nil)
	pclk := walletClock{m: f.clock, start: time.Now()}
	gen, cat := f.svc.IDs, f.svc.Catalog
	var err error
	if f.led, err = ledger.New(ctx, db, ledger.Options{Clock: f.clock, IDs: gen, SweepInterval: -1}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.led.Close)
	f.sb, err = sandbox.New(sandbox.Options{
		DB: db, Clock: pclk, IDs: gen, Secret: walletSecret, WebhookURL: "http://" + srv.Listener.Addr().String() + "/api/v1/webhooks/psp/sandbox",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Catalog: cat,
		Delay: -1, Poll: 10 * time.Millisecond, Lease: 2 * time.Second,
		Backoff: func(int) time.Duration { return 10 * time.Millisecond },
	})
	if err != nil {
		t.Fatal(err)
	}
	f.pm, err = paymethod.New(paymethod.Deps{DB: db, Clock: f.clock, IDs: gen, Provider: f.sb, Notifier: walletNotices{id: f.svc},
		Sealer: f.svc.Keys.Sealer("paymethod/account"), MAC: f.svc.Keys.MAC("paymethod")})
	if err != nil {
		t.Fatal(err)
	}
	f.w, err = wallet.New(ctx, wallet.Deps{DB: db, Ledger: f.led, Identity: f.svc, Fees: withdrawTestFees{}, Provider: f.sb, Cards: f.pm,
		Catalog: cat, Clock: f.clock, IDs: gen}, wallet.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.w.Close)
	f.wd, err = wallet.NewWithdrawals(f.w, wallet.WithdrawalDeps{Methods: f.pm, Customers: f.svc}, wallet.WithdrawalConfig{})
	if err != nil {
		t.Fatal(err)
	}
	f.pm.SetInUse(f.wd)
	f.svc.OnFreeze(f.wd.FreezeHook)
	api := New(Config{Ledger: f.led, Catalog: cat, Identity: f.svc, Methods: f.pm, Wallet: f.w, Withdrawals: f.wd, PSPWebhook: &PSPWebhook{
		Secrets: [][]byte{walletSecret}, DB: db, Clock: pclk, InTx: []PSPEventHandler{f.pm.ApplyEvent},
		OwnTx: []func(context.Context, psp.Event) error{f.w.ApplyProviderEvent, f.wd.ApplyProviderEvent}}})
	mux := http.NewServeMux()
	api.Register(mux)
	srv.Config.Handler = api.Observe(mux)
	srv.Start()
	t.Cleanup(srv.Close)
	f.api, f.mux, f.srv = api, mux, srv
	runCtx, stop := context.WithCancel(ctx)
	f.sb.Start(runCtx)
	f.wd.Start(runCtx)
	t.Cleanup(func() { stop(); f.wd.Close(); f.sb.Close() })
	return f
}

// card adds a verified sandbox test card for c and returns its pm_ id.
func (f *withdrawFixture) card(c *customer, pan string) string {
	f.t.Helper()
	ctx := context.Background()
	tok, err := f.sb.Tokenize(ctx, pan, 12, 2030, "123")
	if err != nil {
		f.t.Fatal(err)
	}
	m, err := f.pm.AddCard(ctx, paymethod.NewCard{UserID: f.uid(c), Token: tok.Token, StepUp: f.clock.Now()})
	if err != nil {
		f.t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for m.Status != paymethod.StatusVerified {
		if m.Status.Final() || time.Now().After(deadline) {
			f.t.Fatalf("card %s is %s", pan, m.Status)
		}
		time.Sleep(10 * time.Millisecond)
		if m, err = f.pm.Get(ctx, f.uid(c), m.ID); err != nil {
			f.t.Fatal(err)
		}
	}
	return m.PublicID()
}

// withdraw starts a withdrawal of amount to method and confirms it with
// its SMS code; it returns the confirmed withdrawal.
func (f *withdrawFixture) withdraw(c *customer, method string, amount map[string]any) *reply {
	f.t.Helper()
	r := f.want(f.do(call{method: "POST", path: "/api/v1/withdrawals", token: c.token, key: walletKey(),
		body: map[string]any{"payment_method": method, "amount": amount}}), 201, "")
	return f.want(f.do(call{method: "POST", path: "/api/v1/withdrawals/" + r.str("id") + "/confirm", token: c.token, key: walletKey(),
		body: map[string]any{"code": f.code(c.phone, "code_txn")}}), 200, "")
}

// waitWithdrawal polls the withdrawal until its status is want.
func (f *withdrawFixture) waitWithdrawal(c *customer, id, want string) *reply {
	f.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		r := f.want(f.do(call{method: "GET", path: "/api/v1/withdrawals/" + id, token: c.token}), 200, "")
		if r.str("status") == want {
			return r
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("withdrawal %s: %s, want %s", id, r.raw, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestWithdrawalsOverTheAPI walks the "withdraw funds" FAQ over the API:
// a card on its 24 h hold refused with hold_until; the next day the
// quote (fee, total, expected completion), the start under an
// Idempotency-Key (replayed; another body refused), the code (a wrong one
// refused), the funds held while a reviewer looks; approved, paid by the
// provider, completed with the confirmation email. A rejected one shows
// the reviewer's reason in the customer's language and can neither be
// confirmed nor cancelled; one cancelled before its code gives nothing
// back because nothing was held; another customer sees none of them.
func TestWithdrawalsOverTheAPI(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		f := newWithdrawFixture(t, db)
		alice, bob := f.signUp("127.0.0.1"), f.signUp("127.0.0.2")
		f.fund(alice, money.New(900_00, "CNY"))
		card := f.card(alice, "4242424242424242")
		body := map[string]any{"payment_method": card, "amount": m("300.00", "CNY")}

		r := f.want(f.do(call{method: "POST", path: "/api/v1/withdrawals/quote", token: alice.token, body: body}), 403, paymethod.EMethodHold)
		if r.str("hold_until") == "" {
			t.Fatalf("method_hold without hold_until: %s", r.raw)
		}

		// The next day.
		f.clock.Advance(25 * time.Hour)
		alice.token, bob.token = f.login(alice, "127.0.0.1"), f.login(bob, "127.0.0.2")
		q := f.want(f.do(call{method: "POST", path: "/api/v1/withdrawals/quote", token: alice.token, body: body}), 200, "")
		if q.str("fee", "amount") != "3.00" || q.str("total", "amount") != "303.00" || q.str("available", "amount") != "900.00" ||
			q.str("method_label") != "visa •••• 4242" || q.str("auth_method") != "sms" || q.str("expected_earliest") >= q.str("expected_latest") {
			t.Fatalf("quote: %s", q.raw)
		}
		f.want(f.do(call{method: "POST", path: "/api/v1/withdrawals/quote", token: bob.token, body: body}), 422, "validation_failed")
		r = f.want(f.do(call{method: "POST", path: "/api/v1/withdrawals/quote", token: alice.token,
			body: map[string]any{"payment_method": card, "amount": m("5.00", "USD")}}), 422, "validation_failed")
		if r.str("errors", "amount") == "" {
			t.Fatalf("no USD wallet: %s", r.raw)
		}
		f.want(f.do(call{method: "POST", path: "/api/v1/withdrawals/quote", token: alice.token,
			body: map[string]any{"payment_method": card, "amount": m("899.00", "CNY")}}), 422, "insufficient_funds")
		f.want(f.do(call{method: "POST", path: "/api/v1/withdrawals", token: alice.token, body: body}), 400, EIdempotencyKeyRequired)

		key := walletKey()
		r = f.want(f.do(call{method: "POST", path: "/api/v1/withdrawals", token: alice.token, key: key, body: body}), 201, "")
		id := r.str("id")
		if r.str("status") != "awaiting_auth" || r.str("auth_method") != "sms" || r.obj["cancelable"] != true || r.str("expires_at") == "" {
			t.Fatalf("started: %s", r.raw)
		}
		again := f.want(f.do(call{method: "POST", path: "/api/v1/withdrawals", token: alice.token, key: key, body: body}), 201, "")
		if again.header.Get("Idempotent-Replayed") != "true" || string(again.raw) != string(r.raw) {
			t.Fatalf("replay: %s", again.raw)
		}
		f.want(f.do(call{method: "POST", path: "/api/v1/withdrawals", token: alice.token, key: key,
			body: map[string]any{"payment_method": card, "amount": m("300.01", "CNY")}}), 422, "idempotency_key_reused")
		if w, _ := f.w.FindWallet(context.Background(), f.uid(alice), "CNY"); w.Available != money.New(900_00, "CNY") {
			t.Fatalf("held before the code: %v", w.Available)
		}

		// The code.
		f.want(f.do(call{method: "POST", path: "/api/v1/withdrawals/" + id + "/confirm", token: alice.token, key: walletKey(), body: map[string]any{"code": "000000x"}}), 422, identity.EInvalidCode)
		code := f.code(alice.phone, "code_txn")
		f.want(f.do(call{method: "POST", path: "/api/v1/withdrawals/" + id + "/confirm", token: bob.token, key: walletKey(), body: map[string]any{"code": code}}), 404, "not_found")
		ckey := walletKey()
		r = f.want(f.do(call{method: "POST", path: "/api/v1/withdrawals/" + id + "/confirm", token: alice.token, key: ckey, body: map[string]any{"code": code}}), 200, "")
		if r.str("status") != "pending_review" || r.obj["auth_method"] != nil || r.obj["cancelable"] != true {
			t.Fatalf("confirmed: %s", r.raw)
		}
		if again := f.want(f.do(call{method: "POST", path: "/api/v1/withdrawals/" + id + "/confirm", token: alice.token, key: ckey, body: map[string]any{"code": code}}), 200, ""); again.header.Get("Idempotent-Replayed") != "true" {
			t.Fatal("the confirmation was not replayed")
		}
		if w, _ := f.w.FindWallet(context.Background(), f.uid(alice), "CNY"); w.Available != money.New(597_00, "CNY") || w.PendingOut != money.New(303_00, "CNY") {
			t.Fatalf("held: available %v, pending out %v", w.Available, w.PendingOut)
		}
		f.want(f.do(call{method: "GET", path: "/api/v1/withdrawals/" + id, token: bob.token}), 404, "not_found")
		f.want(f.do(call{method: "GET", path: "/api/v1/withdrawals/txn_x", token: alice.token}), 404, "not_found")
		f.want(f.do(call{method: "POST", path: "/api/v1/withdrawals/" + id + "/code", token: alice.token}), 409, "conflict")

		// A reviewer approves it; the provider pays it.
		risk := &agent.Agent{ID: 7, Email: "risk@okpay.test", Roles: []agent.Role{agent.RoleRisk}, Status: agent.StatusActive}
		txnID, _ := wallet.ParseWithdrawalRef(id)
		if err := f.wd.Approve(context.Background(), risk, txnID, "", agent.Meta{IP: "192.0.2.1"}); err != nil {
			t.Fatal(err)
		}
		r = f.waitWithdrawal(alice, id, "completed")
		if r.obj["cancelable"] != false || r.obj["failure"] != nil {
			t.Fatalf("paid: %s", r.raw)
		}
		f.want(f.do(call{method: "POST", path: "/api/v1/withdrawals/" + id + "/cancel", token: alice.token, key: walletKey()}), 409, "conflict")
		if w, _ := f.w.FindWallet(context.Background(), f.uid(alice), "CNY"); w.Available != money.New(597_00, "CNY") || w.Posted != money.New(597_00, "CNY") {
			t.Fatalf("paid: available %v, posted %v", w.Available, w.Posted)
		}
		deadline := time.Now().Add(60 * time.Second)
		for f.deliver(t); len(f.messages(alice.email, wallet.NoticeWithdrawalCompleted)) == 0; f.deliver(t) {
			if time.Now().After(deadline) {
				t.Fatal("no confirmation email")
			}
			time.Sleep(10 * time.Millisecond)
		}

		// Rejected: the reason in the customer's language; it is over.
		r = f.withdraw(alice, card, m("100.00", "CNY"))
		rejected := r.str("id")
		txnID, _ = wallet.ParseWithdrawalRef(rejected)
		if err := f.wd.Reject(context.Background(), risk, txnID, "policy", "", agent.Meta{IP: "192.0.2.1"}); err != nil {
			t.Fatal(err)
		}
		r = f.want(f.do(call{method: "GET", path: "/api/v1/withdrawals/" + rejected, token: alice.token, header: map[string]string{"Accept-Language": "zh-CN"}}), 200, "")
		if r.str("status") != "rejected" || r.str("failure", "code") != "rejected_policy" || r.str("failure", "message") != f.svc.Catalog.T("zh-CN", "wallet.failure.rejected_policy", nil) {
			t.Fatalf("rejected: %s", r.raw)
		}
		f.want(f.do(call{method: "POST", path: "/api/v1/withdrawals/" + rejected + "/confirm", token: alice.token, key: walletKey(), body: map[string]any{"code": "123456"}}), 409, "conflict")
		f.want(f.do(call{method: "POST", path: "/api/v1/withdrawals/" + rejected + "/cancel", token: alice.token, key: walletKey()}), 409, "conflict")

		// Cancelled before its code.
		r = f.want(f.do(call{method: "POST", path: "/api/v1/withdrawals", token: alice.token, key: walletKey(), body: map[string]any{"payment_method": card, "amount": m("10.00", "CNY")}}), 201, "")
		xkey := walletKey()
		x := f.want(f.do(call{method: "POST", path: "/api/v1/withdrawals/" + r.str("id") + "/cancel", token: alice.token, key: xkey, body: "{}"}), 200, "")
		if x.str("status") != "failed" || x.str("failure", "code") != wallet.FailCancelled {
			t.Fatalf("cancelled: %s", x.raw)
		}
		if again := f.want(f.do(call{method: "POST", path: "/api/v1/withdrawals/" + r.str("id") + "/cancel", token: alice.token, key: xkey, body: "{}"}), 200, ""); string(again.raw) != string(x.raw) {
			t.Fatalf("cancel replay: %s", again.raw)
		}
		f.want(f.do(call{method: "POST", path: "/api/v1/withdrawals/" + r.str("id") + "/cancel", token: bob.token, key: walletKey()}), 404, "not_found")
		if w, _ := f.w.FindWallet(context.Background(), f.uid(alice), "CNY"); w.Available != money.New(597_00, "CNY") {
			t.Fatalf("after the rejection and the cancellation: %v", w.Available)
		}
	})
}

// TestWithdrawalsUnavailableOverTheAPI: while the provider reports the
// card payout rail down, the quote, the start and the confirmation are
// 503 withdrawals_unavailable with Retry-After and nothing is held; the
// refusal is not stored under the Idempotency-Key, so the same key works
// once the rail is back.
func TestWithdrawalsUnavailableOverTheAPI(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		f := newWithdrawFixture(t, db)
		ctx := context.Background()
		alice := f.signUp("127.0.0.1")
		f.fund(alice, money.New(900_00, "CNY"))
		card := f.card(alice, "4242424242424242")
		f.clock.Advance(25 * time.Hour)
		alice.token = f.login(alice, "127.0.0.1")
		body := map[string]any{"payment_method": card, "amount": m("300.00", "CNY")}
		down := func(on bool) {
			t.Helper()
			if err := f.sb.SetRailDown(ctx, psp.DestCard, "CNY", on); err != nil {
				t.Fatal(err)
			}
		}
		want503 := func(r *reply) {
			t.Helper()
			if r.header.Get("Retry-After") != "300" || !strings.Contains(r.str("detail"), "paused payouts to cards in CNY") {
				t.Fatalf("503 without Retry-After or reason: %v %s", r.header, r.raw)
			}
		}
		down(true)
		want503(f.want(f.do(call{method: "POST", path: "/api/v1/withdrawals/quote", token: alice.token, body: body}), 503, wallet.EWithdrawalsUnavailable))
		key := walletKey()
		want503(f.want(f.do(call{method: "POST", path: "/api/v1/withdrawals", token: alice.token, key: key, body: body}), 503, wallet.EWithdrawalsUnavailable))
		down(false)
		r := f.want(f.do(call{method: "POST", path: "/api/v1/withdrawals", token: alice.token, key: key, body: body}), 201, "")
		if r.header.Get("Idempotent-Replayed") == "true" {
			t.Fatal("the 503 was stored under the key")
		}
		down(true)
		code := f.code(alice.phone, "code_txn")
		want503(f.want(f.do(call{method: "POST", path: "/api/v1/withdrawals/" + r.str("id") + "/confirm", token: alice.token, key: walletKey(),
			body: map[string]any{"code": code}}), 503, wallet.EWithdrawalsUnavailable))
		if w, _ := f.w.FindWallet(ctx, f.uid(alice), "CNY"); w.Available != money.New(900_00, "CNY") {
			t.Fatalf("held while the rail is down: %v", w.Available)
		}
		down(false)
		r = f.want(f.do(call{method: "POST", path: "/api/v1/withdrawals/" + r.str("id") + "/confirm", token: alice.token, key: walletKey(),
			body: map[string]any{"code": code}}), 200, "")
		if r.str("status") != "pending_review" {
			t.Fatalf("confirmed: %s", r.raw)
		}
	})
}
