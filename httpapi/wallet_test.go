package httpapi

import (
	"context"
	"database/sql"
	"encoding/csv"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/clock"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/ledger"
	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/notify"
	"github.com/okpay/okpay/paymethod"
	"github.com/okpay/okpay/psp"
	"github.com/okpay/okpay/psp/sandbox"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
	"github.com/okpay/okpay/wallet"
)

// walletSecret signs the sandbox's webhooks in these tests.
var walletSecret = []byte("whsec_httpapi_wallet_0123456789abcdef")

// walletClock is the sandbox's clock: the fixture's manual clock plus the
// real time elapsed, so its settlements come due while a test waits.
type walletClock struct {
	m     *clock.Manual
	start time.Time
}

func (c walletClock) Now() time.Time { return c.m.Now().Add(time.Since(c.start)) }

// walletNotices renders the payment methods' notices through the
// identity service, as serve does.
type walletNotices struct{ id *identity.Service }

func (n walletNotices) Notify(ctx context.Context, tx *sql.Tx, userID int64, kind string, data map[string]any) error {
	party, err := n.id.LoadParty(ctx, userID)
	if err != nil {
		return err
	}
	event, _ := data["MethodID"].(string)
	nt, err := n.id.PrepareNotice(party, identity.MoneyNotice{Kind: kind, Event: event, Data: data,
		Channels: []string{notify.ChannelEmail, notify.ChannelInApp}, FreezeLink: true, Meta: &identity.Meta{}})
	if err != nil {
		return err
	}
	return n.id.WriteNotices(ctx, tx, nt)
}

// walletTestFees: 1% on transfers, 2% on deposits.
type walletTestFees struct{}

func (walletTestFees) Quote(op, method string, a money.Amount) (money.Amount, string, error) {
	bp := map[string]int64{wallet.OpTransfer: 100, wallet.OpDeposit: 200}[op]
	return money.New(a.Minor*bp/10000, a.Currency), "test:" + op, nil
}

// walletFixture is the identity fixture with the ledger, the payment
// methods over the built-in sandbox and the wallet over them, served as
// serve serves them; the sandbox's webhooks reach the API over HTTP.
type walletFixture struct {
	*idFixture
	led *ledger.Ledger
	sb  *sandbox.Sandbox
	pm  *paymethod.Service
	w   *wallet.Service
}

func newWalletFixture(t *testing.T, db *sqldb.DB) *walletFixture {
	t.Helper()
	ctx := context.Background()
	f := &walletFixture{idFixture: newIDFixture(t, db)}
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
	f.w, err = wallet.New(ctx, wallet.Deps{DB: db, Ledger: f.led, Identity: f.svc, Fees: walletTestFees{}, Provider: f.sb, Cards: f.pm,
		Catalog: cat, Clock: f.clock, IDs: gen}, wallet.Config{NewDeviceCap: wallet.DeviceCapOff()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.w.Close)
	api := New(Config{Ledger: f.led, Catalog: cat, Identity: f.svc, Methods: f.pm, Wallet: f.w, PSPWebhook: &PSPWebhook{
		Secrets: [][]byte{walletSecret}, DB: db, Clock: pclk, InTx: []PSPEventHandler{f.pm.ApplyEvent},
		OwnTx: []func(context.Context, psp.Event) error{f.w.ApplyProviderEvent}}})
	mux := http.NewServeMux()
	api.Register(mux)
	srv.Config.Handler = api.Observe(mux)
	srv.Start()
	t.Cleanup(srv.Close)
	f.api, f.mux, f.srv = api, mux, srv
	f.sb.Start(ctx)
	t.Cleanup(f.sb.Close)
	return f
}

var walletFundSeq atomic.Int64

// fund puts money in c's wallet through the ledger, from a test
// settlement account.
func (f *walletFixture) fund(c *customer, a money.Amount) {
	f.t.Helper()
	uid := f.uid(c)
	w, err := f.w.OpenWallet(context.Background(), uid, a.Currency)
	if err != nil {
		f.t.Fatal(err)
	}
	ext, err := f.w.SystemAccount(context.Background(), wallet.SysExternal+":test", a.Currency)
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.led.Post(context.Background(), ledger.EntryInput{Reference: fmt.Sprintf("fund-%d", walletFundSeq.Add(1)), Type: "test_funding",
		Postings: []ledger.Posting{{Debit: ext, Credit: w.ID, Amount: a.Minor, Currency: a.Currency}}}); err != nil {
		f.t.Fatal(err)
	}
}

func (f *walletFixture) uid(c *customer) int64 {
	id, ok := ids.Parse(identity.UserPrefix, c.id)
	if !ok {
		f.t.Fatalf("not a user id: %q", c.id)
	}
	return id
}

var walletKeys atomic.Int64

func walletKey() string { return fmt.Sprintf("wallet-key-%04d", walletKeys.Add(1)) }

func m(amount, currency string) map[string]any {
	return map[string]any{"amount": amount, "currency": currency}
}

// pay sends amount to the payee over the API and confirms it with the SMS
// code when one is asked for; it returns the completed transaction.
func (f *walletFixture) pay(c *customer, payee string, amount map[string]any) *reply {
	f.t.Helper()
	r := f.do(call{method: "POST", path: "/api/v1/p2p_transfers", token: c.token, key: walletKey(), body: map[string]any{"payee": payee, "amount": amount}})
	if r.status == 201 && r.str("status") == "awaiting_auth" {
		r = f.want(f.do(call{method: "POST", path: "/api/v1/p2p_transfers/" + r.str("id") + "/confirm", token: c.token, key: walletKey(),
			body: map[string]any{"code": f.code(c.phone, "code_txn")}}), 200, "")
	}
	f.want(r, r.status, "")
	if r.str("status") != "completed" {
		f.t.Fatalf("payment: %d %s", r.status, r.raw)
	}
	return r
}

// The wallets: list, open, hide and show; only the owner's.
func TestWalletAPIWallets(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		f := newWalletFixture(t, db)
		alice, bob := f.signUp("127.0.0.1"), f.signUp("127.0.0.2")
		r := f.want(f.do(call{method: "GET", path: "/api/v1/wallets", token: alice.token}), 200, "")
		if string(r.raw) != `{"object":"list","data":[],"has_more":false,"next_cursor":null}` {
			t.Fatalf("no wallets: %s", r.raw)
		}
		r = f.want(f.do(call{method: "POST", path: "/api/v1/wallets", token: alice.token, body: map[string]any{"currency": "USD"}}), 200, "")
		usd := r.str("id")
		if !strings.HasPrefix(usd, "wal_") || r.str("balance", "available", "amount") != "0.00" || r.obj["hidden"] != false {
			t.Fatalf("opened: %s", r.raw)
		}
		f.want(f.do(call{method: "POST", path: "/api/v1/wallets", token: alice.token, body: map[string]any{"currency": "XTS"}}), 422, "validation_failed")
		f.want(f.do(call{method: "POST", path: "/api/v1/wallets", token: alice.token, body: map[string]any{"currency": "CHF"}}), 422, wallet.ECurrencyNotSupported)
		r = f.want(f.do(call{method: "POST", path: "/api/v1/wallets/" + usd + "/hide", token: alice.token}), 200, "")
		if r.obj["hidden"] != true || r.obj["shown"] != false {
			t.Fatalf("hidden: %s", r.raw)
		}
		f.want(f.do(call{method: "POST", path: "/api/v1/wallets/" + usd + "/show", token: alice.token, body: "{}"}), 200, "")
		// Another customer's wallet is not found (BOLA); nor is junk.
		f.want(f.do(call{method: "POST", path: "/api/v1/wallets/" + usd + "/hide", token: bob.token}), 404, "not_found")
		f.want(f.do(call{method: "POST", path: "/api/v1/wallets/acc_1/hide", token: alice.token}), 404, "not_found")
		// A funded wallet cannot be hidden.
		f.fund(alice, money.New(10_00, "USD"))
		f.want(f.do(call{method: "POST", path: "/api/v1/wallets/" + usd + "/hide", token: alice.token}), 409, wallet.EWalletNotEmpty)
		r = f.want(f.do(call{method: "GET", path: "/api/v1/wallets", token: alice.token}), 200, "")
		if !strings.Contains(string(r.raw), `"available":{"amount":"10.00","currency":"USD"}`) {
			t.Fatalf("wallets: %s", r.raw)
		}
		// Without a session: 401.
		f.want(f.do(call{method: "GET", path: "/api/v1/wallets"}), 401, "unauthorized")
	})
}

// TestTXN04_TransfersOverTheAPI: a payment to a new payee waits for its
// code (TXN-01); the Idempotency-Key is required, its replays answer the
// stored response with Idempotent-Replayed, another body under the same
// key is 422; a payment that executes at once stores its answer with the
// ledger entry, refusals included; another customer's transaction is not
// found.
func TestTXN04_TransfersOverTheAPI(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		f := newWalletFixture(t, db)
		alice, bob := f.signUp("127.0.0.1"), f.signUp("127.0.0.2")
		f.fund(alice, money.New(1_000_00, "CNY"))
		body := map[string]any{"payee": bob.email, "amount": m("500.00", "CNY"), "note": "rent"}

		q := f.want(f.do(call{method: "POST", path: "/api/v1/p2p_transfers/quote", token: alice.token, body: body}), 200, "")
		if q.str("fee", "amount") != "5.00" || q.str("total", "amount") != "505.00" || q.obj["needs_code"] != true || q.str("auth_method") != "sms" ||
			q.obj["new_payee"] != true || strings.Contains(q.str("payee"), bob.email) {
			t.Fatalf("quote: %s", q.raw)
		}
		f.want(f.do(call{method: "POST", path: "/api/v1/p2p_transfers", token: alice.token, body: body}), 400, EIdempotencyKeyRequired)

		key := walletKey()
		r := f.want(f.do(call{method: "POST", path: "/api/v1/p2p_transfers", token: alice.token, key: key, body: body}), 201, "")
		id := r.str("id")
		if r.str("status") != "awaiting_auth" || r.str("auth_method") != "sms" || r.str("expires_at") == "" || r.str("counterparty") == bob.email {
			t.Fatalf("transfer: %s", r.raw)
		}
		again := f.want(f.do(call{method: "POST", path: "/api/v1/p2p_transfers", token: alice.token, key: key, body: body}), 201, "")
		if again.header.Get("Idempotent-Replayed") != "true" || string(again.raw) != string(r.raw) {
			t.Fatalf("replay: %v %s", again.header, again.raw)
		}
		other := map[string]any{"payee": bob.email, "amount": m("500.01", "CNY"), "note": "rent"}
		f.want(f.do(call{method: "POST", path: "/api/v1/p2p_transfers", token: alice.token, key: key, body: other}), 422, "idempotency_key_reused")

		// The code: wrong, then right; another customer cannot confirm it.
		f.want(f.do(call{method: "POST", path: "/api/v1/p2p_transfers/" + id + "/confirm", token: alice.token, key: walletKey(), body: map[string]any{"code": "000000x"}}), 422, identity.EInvalidCode)
		code := f.code(alice.phone, "code_txn")
		f.want(f.do(call{method: "POST", path: "/api/v1/p2p_transfers/" + id + "/confirm", token: bob.token, key: walletKey(), body: map[string]any{"code": code}}), 404, "not_found")
		ckey := walletKey()
		r = f.want(f.do(call{method: "POST", path: "/api/v1/p2p_transfers/" + id + "/confirm", token: alice.token, key: ckey, body: map[string]any{"code": code}}), 200, "")
		if r.str("status") != "completed" || r.str("related_id") == "" {
			t.Fatalf("confirmed: %s", r.raw)
		}
		if again := f.want(f.do(call{method: "POST", path: "/api/v1/p2p_transfers/" + id + "/confirm", token: alice.token, key: ckey, body: map[string]any{"code": code}}), 200, ""); again.header.Get("Idempotent-Replayed") != "true" {
			t.Fatal("the confirmation was not replayed")
		}
		f.want(f.do(call{method: "POST", path: "/api/v1/p2p_transfers/" + id + "/resend_code", token: alice.token}), 409, "conflict")

		// Bob's side and the BOLA check.
		f.want(f.do(call{method: "GET", path: "/api/v1/transactions/" + r.str("related_id"), token: bob.token}), 200, "")
		f.want(f.do(call{method: "GET", path: "/api/v1/transactions/" + r.str("related_id"), token: alice.token}), 404, "not_found")
		f.want(f.do(call{method: "GET", path: "/api/v1/transactions/" + id, token: bob.token}), 404, "not_found")
		f.want(f.do(call{method: "GET", path: "/api/v1/transactions/wal_1", token: alice.token}), 404, "not_found")

		// A known payee below the threshold: at once, the answer stored in
		// the ledger's transaction and replayed.
		key = walletKey()
		small := map[string]any{"payee": bob.phone, "amount": m("10", "CNY")}
		r = f.want(f.do(call{method: "POST", path: "/api/v1/p2p_transfers", token: alice.token, key: key, body: small}), 201, "")
		if r.str("status") != "completed" || r.str("fee", "amount") != "0.10" {
			t.Fatalf("small: %s", r.raw)
		}
		if again := f.want(f.do(call{method: "POST", path: "/api/v1/p2p_transfers", token: alice.token, key: key, body: small}), 201, ""); again.header.Get("Idempotent-Replayed") != "true" || string(again.raw) != string(r.raw) {
			t.Fatalf("replay: %s", again.raw)
		}
		// A refusal at execution, stored and replayed.
		key = walletKey()
		big := map[string]any{"payee": bob.email, "amount": m("1000", "CNY")}
		first := f.want(f.do(call{method: "POST", path: "/api/v1/p2p_transfers", token: alice.token, key: key, body: big}), 422, "insufficient_funds")
		if strings.Contains(first.str("detail"), "acc_") {
			t.Errorf("the problem names a ledger account: %s", first.raw)
		}
		// (The replay keeps the first request's id: ask with it, so the
		// fixture's request-id check holds.)
		again = f.want(f.do(call{method: "POST", path: "/api/v1/p2p_transfers", token: alice.token, key: key, body: big,
			header: map[string]string{"X-Request-Id": first.str("request_id")}}), 422, "insufficient_funds")
		if again.header.Get("Idempotent-Replayed") != "true" || string(again.raw) != string(first.raw) {
			t.Fatalf("the refusal was not replayed: %s", again.raw)
		}
		// Payee problems.
		f.want(f.do(call{method: "POST", path: "/api/v1/p2p_transfers", token: alice.token, key: walletKey(), body: map[string]any{"payee": "nobody@example.com", "amount": m("1", "CNY")}}), 422, identity.EPayeeNotFound)
		f.want(f.do(call{method: "POST", path: "/api/v1/p2p_transfers", token: alice.token, key: walletKey(), body: map[string]any{"payee": alice.email, "amount": m("1", "CNY")}}), 422, wallet.ESelfTransfer)
		f.want(f.do(call{method: "POST", path: "/api/v1/p2p_transfers", token: alice.token, key: walletKey(), body: map[string]any{"payee": bob.email, "payee_kind": "iban", "amount": m("1", "CNY")}}), 422, "validation_failed")

		// Balances: alice 1000 − 505 − 10.10, bob 510.
		if w, _ := f.w.FindWallet(context.Background(), f.uid(alice), "CNY"); w.Available != money.New(484_90, "CNY") {
			t.Fatalf("alice: %+v", w)
		}
		if w, _ := f.w.FindWallet(context.Background(), f.uid(bob), "CNY"); w.Available != money.New(510_00, "CNY") {
			t.Fatalf("bob: %+v", w)
		}

		// The history, filtered, a page at a time; the CSV.
		l := f.want(f.do(call{method: "GET", path: "/api/v1/transactions?limit=2", token: alice.token}), 200, "")
		data, _ := l.obj["data"].([]any)
		if len(data) != 2 || l.obj["has_more"] != true || l.str("next_cursor") == "" {
			t.Fatalf("page 1: %s", l.raw)
		}
		l = f.want(f.do(call{method: "GET", path: "/api/v1/transactions?limit=2&cursor=" + l.str("next_cursor"), token: alice.token}), 200, "")
		if data, _ := l.obj["data"].([]any); len(data) != 1 || l.obj["has_more"] != false {
			t.Fatalf("page 2: %s", l.raw)
		}
		l = f.want(f.do(call{method: "GET", path: "/api/v1/transactions?status=failed&type=transfer_out&currency=CNY", token: alice.token}), 200, "")
		if data, _ := l.obj["data"].([]any); len(data) != 1 || !strings.Contains(string(l.raw), `"failure":{"code":"insufficient_funds"`) {
			t.Fatalf("failed ones: %s", l.raw)
		}
		day := f.clock.Now().UTC().Format("2006-01-02")
		l = f.want(f.do(call{method: "GET", path: "/api/v1/transactions?from=" + day + "&to=" + day, token: alice.token}), 200, "")
		if data, _ := l.obj["data"].([]any); len(data) != 3 {
			t.Fatalf("today: %s", l.raw)
		}
		for _, q := range []string{"type=loan", "status=lost", "currency=usd", "from=yesterday", "limit=0", "limit=101", "cursor=wal_1", "from=2026-12-02&to=2026-12-01"} {
			f.want(f.do(call{method: "GET", path: "/api/v1/transactions?" + q, token: alice.token}), 422, "validation_failed")
		}
		resp, err := f.client("127.0.0.1").Do(authed(f.srv.URL+"/api/v1/transactions.csv?currency=CNY", alice.token))
		if err != nil {
			t.Fatal(err)
		}
		recs, err := csv.NewReader(resp.Body).ReadAll()
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/csv; charset=utf-8" || len(recs) != 4 || recs[0][0] != "id" {
			t.Fatalf("CSV: %d %v %q", resp.StatusCode, err, recs)
		}
		l = f.want(f.do(call{method: "GET", path: "/api/v1/limits", token: alice.token}), 200, "")
		if l.str("level_name") != "unverified" || !strings.Contains(string(l.raw), `"used_today":{"amount":"515.10","currency":"CNY"}`) {
			t.Fatalf("limits: %s", l.raw)
		}
	})
}

func authed(u, token string) *http.Request {
	r, _ := http.NewRequest("GET", u, nil)
	r.Header.Set("Authorization", "Bearer "+token)
	return r
}

// TXN-05 over HTTP: money is a decimal string with the currency's digits
// at most; numbers, exponents, signs and extra digits are 422.
func TestTXN05_MoneyInputsAreDecimalStrings(t *testing.T) {
	t.Parallel()
	f := newWalletFixture(t, sqldbtest.Open(t, sqldb.SQLite))
	alice, bob := f.signUp("127.0.0.1"), f.signUp("127.0.0.2")
	for _, tc := range []struct {
		amount any
		code   string
	}{
		{map[string]any{"amount": 12.5, "currency": "CNY"}, money.CodeInvalidAmount},
		{map[string]any{"amount": "1e3", "currency": "CNY"}, money.CodeInvalidAmount},
		{map[string]any{"amount": "12.345", "currency": "CNY"}, money.CodeTooManyDecimals},
		{map[string]any{"amount": "1.5", "currency": "JPY"}, money.CodeTooManyDecimals},
		{map[string]any{"amount": "-1.00", "currency": "CNY"}, money.CodeNegativeAmount},
		{map[string]any{"amount": "+1.00", "currency": "CNY"}, money.CodeInvalidAmount},
		{map[string]any{"amount": "1,000", "currency": "CNY"}, money.CodeInvalidAmount},
		{map[string]any{"amount": "99999999999999999999", "currency": "CNY"}, money.CodeAmountOverflow},
		{map[string]any{"amount": "1.00", "currency": "cny"}, money.CodeUnknownCurrency},
		{map[string]any{"amount": "1.00", "currency": "CNY", "fx": true}, money.CodeInvalidAmount},
		{"12.00", money.CodeInvalidAmount},
		{map[string]any{"amount": "0", "currency": "CNY"}, "validation_failed"},
	} {
		for _, path := range []string{"/api/v1/p2p_transfers", "/api/v1/p2p_transfers/quote", "/api/v1/deposits", "/api/v1/deposits/quote"} {
			body := map[string]any{"payee": bob.email, "amount": tc.amount}
			if strings.HasPrefix(path, "/api/v1/deposits") {
				body = map[string]any{"payment_method": "pm_0d4m8y2k3q1ag", "amount": tc.amount}
				if path == "/api/v1/deposits/quote" {
					body = map[string]any{"amount": tc.amount}
				}
			}
			r := f.do(call{method: "POST", path: path, token: alice.token, key: walletKey(), body: body})
			want := tc.code
			if want == "validation_failed" && path == "/api/v1/deposits" {
				want = "" // the card is checked too
			}
			if r.status != 422 || want != "" && r.str("code") != want {
				t.Errorf("%s %v: %d %s, want 422 %s", path, tc.amount, r.status, r.raw, want)
			}
		}
	}
}

// Card deposits over the API through the real sandbox: a verified card,
// the deposit executing, the provider's signed webhook crediting it; its
// replay; a declined charge recorded as a failed deposit; someone else's
// card refused.
func TestWalletAPIDeposits(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		f := newWalletFixture(t, db)
		alice, bob := f.signUp("127.0.0.1"), f.signUp("127.0.0.2")
		ctx := context.Background()
		addCard := func(c *customer, pan string) string {
			t.Helper()
			card, err := f.sb.Tokenize(ctx, pan, 12, 2030, "123")
			if err != nil {
				t.Fatal(err)
			}
			pm, err := f.pm.AddCard(ctx, paymethod.NewCard{UserID: f.uid(c), Token: card.Token, StepUp: f.clock.Now()})
			if err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(10 * time.Second)
			for pm.Status != paymethod.StatusVerified {
				if time.Now().After(deadline) {
					t.Fatalf("card %s: %s", pan, pm.Status)
				}
				time.Sleep(10 * time.Millisecond)
				pm, _ = f.pm.Get(ctx, f.uid(c), pm.ID)
			}
			return pm.PublicID()
		}
		wait := func(c *customer, id, want string) *reply {
			t.Helper()
			deadline := time.Now().Add(10 * time.Second)
			for {
				r := f.want(f.do(call{method: "GET", path: "/api/v1/transactions/" + id, token: c.token}), 200, "")
				if r.str("status") == want {
					return r
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s is %s, want %s", id, r.str("status"), want)
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
		card := addCard(alice, "4242424242424242")
		q := f.want(f.do(call{method: "POST", path: "/api/v1/deposits/quote", token: alice.token, body: map[string]any{"amount": m("100.00", "USD")}}), 200, "")
		if q.str("fee", "amount") != "2.00" || q.str("net", "amount") != "98.00" {
			t.Fatalf("quote: %s", q.raw)
		}
		body := map[string]any{"payment_method": card, "amount": m("100.00", "USD"), "return_url": "https://app.example/deposits"}
		f.want(f.do(call{method: "POST", path: "/api/v1/deposits", token: alice.token, body: body}), 400, EIdempotencyKeyRequired)
		key := walletKey()
		r := f.want(f.do(call{method: "POST", path: "/api/v1/deposits", token: alice.token, key: key, body: body}), 201, "")
		id := r.str("id")
		if r.str("type") != "deposit" || r.str("payment_method") != card || r.str("total", "amount") != "98.00" {
			t.Fatalf("deposit: %s", r.raw)
		}
		if again := f.want(f.do(call{method: "POST", path: "/api/v1/deposits", token: alice.token, key: key, body: body}), 201, ""); again.header.Get("Idempotent-Replayed") != "true" || again.str("id") != id {
			t.Fatalf("replay: %s", again.raw)
		}
		wait(alice, id, "completed")
		if w, _ := f.w.FindWallet(ctx, f.uid(alice), "USD"); w.Available != money.New(98_00, "USD") {
			t.Fatalf("balance: %+v", w)
		}
		// Bob cannot charge alice's card, nor read her deposit.
		f.want(f.do(call{method: "POST", path: "/api/v1/deposits", token: bob.token, key: walletKey(), body: body}), 422, "validation_failed")
		f.want(f.do(call{method: "GET", path: "/api/v1/transactions/" + id, token: bob.token}), 404, "not_found")
		// A declined charge: the deposit fails with the provider's reason.
		poor := addCard(alice, "4000000000009995")
		r = f.want(f.do(call{method: "POST", path: "/api/v1/deposits", token: alice.token, key: walletKey(), body: map[string]any{"payment_method": poor, "amount": m("5", "USD")}}), 201, "")
		r = wait(alice, r.str("id"), "failed")
		if r.str("failure", "code") != "provider_insufficient_funds" {
			t.Fatalf("declined: %s", r.raw)
		}
		// 3-D Secure: awaiting_auth with the bank's page.
		challenge := addCardWithChallenge(t, f, alice, "4000000000003220")
		r = f.want(f.do(call{method: "POST", path: "/api/v1/deposits", token: alice.token, key: walletKey(), body: map[string]any{"payment_method": challenge, "amount": m("10", "USD")}}), 201, "")
		if r.str("status") != "awaiting_auth" || !strings.Contains(r.str("action_url"), "/sandbox/3ds/") {
			t.Fatalf("3-D Secure: %s", r.raw)
		}
		u, _ := url.Parse(r.str("action_url"))
		if _, err := f.sb.CompleteChallenge(ctx, strings.TrimPrefix(u.Path, "/sandbox/3ds/"), true); err != nil {
			t.Fatal(err)
		}
		wait(alice, r.str("id"), "completed")
	})
}

// addCardWithChallenge adds a card whose verification needs 3-D Secure,
// passing the challenge as the customer would.
func addCardWithChallenge(t *testing.T, f *walletFixture, c *customer, pan string) string {
	t.Helper()
	ctx := context.Background()
	card, err := f.sb.Tokenize(ctx, pan, 12, 2030, "123")
	if err != nil {
		t.Fatal(err)
	}
	pm, err := f.pm.AddCard(ctx, paymethod.NewCard{UserID: f.uid(c), Token: card.Token, StepUp: f.clock.Now()})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for pm.Status != paymethod.StatusVerified {
		if pm.Status == paymethod.StatusRequiresAction {
			u, _ := url.Parse(pm.ActionURL)
			if _, err := f.sb.CompleteChallenge(ctx, strings.TrimPrefix(u.Path, "/sandbox/3ds/"), true); err != nil {
				t.Fatal(err)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("card %s: %s", pan, pm.Status)
		}
		time.Sleep(10 * time.Millisecond)
		pm, _ = f.pm.Get(ctx, f.uid(c), pm.ID)
	}
	return pm.PublicID()
}

// FuzzWalletRequests: the transfer and deposit bodies either fail with a
// coded client error (4xx) or yield a known currency and an amount of at
// least zero that prints back to what was sent (TXN-05, REL-08).
func FuzzWalletRequests(f *testing.F) {
	for _, s := range []string{
		`{"payee":"bob@example.com","amount":{"amount":"12.30","currency":"CNY"},"note":"rent"}`,
		`{"payee":"+8613800138000","payee_kind":"phone","amount":{"amount":"1500","currency":"JPY"}}`,
		`{"payee":"wal_0d4m8y2k3q1ag","amount":{"amount":12.3,"currency":"USD"}}`,
		`{"payee":"x","amount":{"amount":"1e3","currency":"USD"}}`,
		`{"payee":"x","amount":{"amount":"-0.01","currency":"USD"}}`,
		`{"payee":"x","amount":{"currency":"USD","amount":"0.001"}}`,
		`{"payee":"x","amount":{"amount":"1","currency":"USD","extra":1}}`,
		`{"payee":"x","amount":null}`,
		`{"payment_method":"pm_0d4m8y2k3q1ag","amount":{"amount":"100.00","currency":"EUR"},"return_url":"/x"}`,
		`[[[[[[[[[[]]]]]]]]]]`,
		`{"amount":{"amount":"99999999999999999.99","currency":"USD"}}`,
	} {
		f.Add(s)
	}
	c := &caller{user: &identity.User{ID: 1}}
	f.Fuzz(func(t *testing.T, body string) {
		check := func(err error) {
			if st, ok := statusOf[okpay.ErrorCode(err)]; !ok || st < 400 || st >= 500 {
				t.Fatalf("%q: error %v has no 4xx status", body, err)
			}
		}
		checkAmount := func(a *money.Amount, raw string) {
			if a.Minor < 0 || !a.Currency.Valid() {
				t.Fatalf("%q: accepted %+v", body, a)
			}
			back, err := money.Parse(a.String(), a.Currency)
			if err != nil || back != *a {
				t.Fatalf("%q: %+v does not print back", body, a)
			}
		}
		var tr p2pRequest
		if err := decode([]byte(body), &tr); err != nil {
			check(err)
		} else if in, err := tr.input(c); err != nil {
			check(err)
		} else {
			checkAmount(&in.Amount, body)
		}
		var dr depositRequest
		if err := decode([]byte(body), &dr); err != nil {
			check(err)
		} else if dr.Amount != nil {
			checkAmount(dr.Amount, body)
		}
	})
}

// FuzzTransactionFilter: any query either fails with a validation error
// or yields a filter the wallet accepts as valid.
func FuzzTransactionFilter(f *testing.F) {
	for _, s := range []string{"type=deposit&status=completed&currency=USD&from=2026-11-01&to=2026-11-30&limit=5&cursor=txn_0d4m8y2k3q1ag",
		"from=2026-11-25T19:44:11Z&to=2026-11-25T19:44:11Z", "limit=-1", "cursor=txn_", "type=%00", "from=9999-99-99"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		flt, err := txnFilter(q)
		if err != nil {
			if okpay.ErrorCode(err) != "validation_failed" {
				t.Fatalf("%q: %v", raw, err)
			}
			return
		}
		if flt.Type != "" && !flt.Type.Valid() || flt.Status != "" && !flt.Status.Valid() || flt.Currency != "" && !flt.Currency.Valid() ||
			flt.Limit < 0 || flt.Limit > wallet.MaxPage || (!flt.From.IsZero() && !flt.To.IsZero() && !flt.From.Before(flt.To)) {
			t.Fatalf("%q: accepted %+v", raw, flt)
		}
	})
}
