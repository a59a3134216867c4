package httpapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/okpay/okpay/fx"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
	"github.com/okpay/okpay/wallet"
)

// exchangeFixture is the wallet fixture with the rate service (operator
// rates EUR→USD 1.25, EUR→JPY 160, EUR→CNY 8; none for the other wallet
// currencies) and the exchanger, served by a server of its own.
type exchangeFixture struct {
	*walletFixture
	rates *fx.Service
	x     *wallet.Exchanger
}

func newExchangeFixture(t *testing.T, db *sqldb.DB) *exchangeFixture {
	t.Helper()
	ctx := context.Background()
	f := &exchangeFixture{walletFixture: newWalletFixture(t, db)}
	var err error
	if f.rates, err = fx.New(db, f.clock, f.svc.IDs, fx.Config{}); err != nil {
		t.Fatal(err)
	}
	for q, v := range map[money.Currency]string{"USD": "1.25", "JPY": "160", "CNY": "8"} {
		if _, err := f.rates.SetRate(ctx, fx.SetRateInput{Base: "EUR", Quote: q, Rate: v, By: "admin:test"}); err != nil {
			t.Fatal(err)
		}
	}
	if f.x, err = wallet.NewExchanger(ctx, f.w, f.rates); err != nil {
		t.Fatal(err)
	}
	api := New(Config{Ledger: f.led, Catalog: f.svc.Catalog, Identity: f.svc, Wallet: f.w, Exchange: f.x, FXRates: f.rates})
	mux := http.NewServeMux()
	api.Register(mux)
	srv := httptest.NewServer(api.Observe(mux))
	t.Cleanup(srv.Close)
	f.api, f.mux, f.srv = api, mux, srv
	return f
}

func (f *exchangeFixture) available(c *customer, cur money.Currency) string {
	f.t.Helper()
	w, err := f.w.FindWallet(context.Background(), f.uid(c), cur)
	if err != nil {
		f.t.Fatal(err)
	}
	return w.Available.String()
}

// An exchange over the API: the quote shows every figure, rounded in the
// house's favour; executing it needs the Idempotency-Key, replays, and
// moves both balances; a quote works once, for its owner, before it
// expires; the problems name the quote field or the fx code.
func TestExchangeAPI(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		f := newExchangeFixture(t, db)
		alice, bob := f.signUp("127.0.0.1"), f.signUp("127.0.0.2")
		f.fund(alice, money.New(1_000_00, "USD"))

		// USD→EUR at mid 0.8 less 0.5%: 0.796; $100.00 buys €79.60.
		body := map[string]any{"from": "USD", "to": "EUR", "amount": m("100.00", "USD")}
		q := f.want(f.do(call{method: "POST", path: "/api/v1/exchange_quotes", token: alice.token, body: body}), 200, "")
		if q.str("object") != "exchange_quote" || !strings.HasPrefix(q.str("id"), "fxq_") || q.str("side") != "sell" ||
			q.str("sell", "amount") != "100.00" || q.str("buy", "amount") != "79.60" || q.str("buy", "currency") != "EUR" ||
			q.str("rate") != "0.796" || q.str("mid_rate") != "0.8" || q.obj["spread_bp"] != float64(50) || q.str("spread", "amount") != "0.50" ||
			q.str("fee", "amount") != "0.00" || q.str("total", "amount") != "100.00" || q.str("rate_source") != "admin EUR/USD" ||
			q.str("expires_at") != f.clock.Now().Add(fx.DefaultQuoteTTL).UTC().Format(time.RFC3339) {
			t.Fatalf("quote: %s", q.raw)
		}
		// Buying a fixed amount: €50.00 costs $62.82 (62.8140…, rounded up).
		b := f.want(f.do(call{method: "POST", path: "/api/v1/exchange_quotes", token: alice.token,
			body: map[string]any{"from": "USD", "to": "EUR", "amount": m("50.00", "EUR"), "side": "buy"}}), 200, "")
		if b.str("sell", "amount") != "62.82" || b.str("buy", "amount") != "50.00" {
			t.Fatalf("buy quote: %s", b.raw)
		}
		for _, bad := range []map[string]any{
			{"from": "USD", "to": "EUR"},
			{"from": "usd", "to": "EUR", "amount": m("1", "USD")},
			{"from": "USD", "to": "EUR", "amount": m("1", "USD"), "side": "hold"},
			{"from": "USD", "to": "EUR", "amount": m("1", "EUR")},
			{"from": "USD", "to": "USD", "amount": m("1", "USD")},
		} {
			f.want(f.do(call{method: "POST", path: "/api/v1/exchange_quotes", token: alice.token, body: bad}), 422, "validation_failed")
		}
		f.want(f.do(call{method: "POST", path: "/api/v1/exchange_quotes", token: alice.token, body: map[string]any{"from": "USD", "to": "CHF", "amount": m("1", "USD")}}), 422, wallet.ECurrencyNotSupported)
		f.want(f.do(call{method: "POST", path: "/api/v1/exchange_quotes", token: alice.token, body: map[string]any{"from": "USD", "to": "GBP", "amount": m("1", "USD")}}), 503, fx.ERateUnavailable)
		f.want(f.do(call{method: "POST", path: "/api/v1/exchange_quotes", token: alice.token, body: map[string]any{"from": "JPY", "to": "USD", "amount": m("1", "JPY")}}), 422, fx.EAmountTooSmall)
		f.want(f.do(call{method: "POST", path: "/api/v1/exchange_quotes", body: body}), 401, "unauthorized")

		// Execute.
		exec := map[string]any{"quote": q.str("id")}
		f.want(f.do(call{method: "POST", path: "/api/v1/exchanges", token: alice.token, body: exec}), 400, EIdempotencyKeyRequired)
		f.want(f.do(call{method: "POST", path: "/api/v1/exchanges", token: bob.token, key: walletKey(), body: exec}), 422, "validation_failed")
		key := walletKey()
		r := f.want(f.do(call{method: "POST", path: "/api/v1/exchanges", token: alice.token, key: key, body: exec}), 201, "")
		if r.str("type") != "exchange" || r.str("status") != "completed" || r.str("amount", "amount") != "100.00" ||
			r.str("other_amount", "amount") != "79.60" || r.str("other_amount", "currency") != "EUR" || r.str("rate") != "0.796" {
			t.Fatalf("exchange: %s", r.raw)
		}
		again := f.want(f.do(call{method: "POST", path: "/api/v1/exchanges", token: alice.token, key: key, body: exec}), 201, "")
		if again.header.Get("Idempotent-Replayed") != "true" || string(again.raw) != string(r.raw) {
			t.Fatalf("replay: %s", again.raw)
		}
		f.want(f.do(call{method: "POST", path: "/api/v1/exchanges", token: alice.token, key: key, body: map[string]any{"quote": b.str("id")}}), 422, "idempotency_key_reused")
		f.want(f.do(call{method: "POST", path: "/api/v1/exchanges", token: alice.token, key: walletKey(), body: exec}), 409, fx.EQuoteUsed)
		if got := f.available(alice, "USD"); got != "900.00" {
			t.Fatalf("alice USD %s", got)
		}
		if got := f.available(alice, "EUR"); got != "79.60" {
			t.Fatalf("alice EUR %s", got)
		}
		// Expired; insufficient funds (recorded as a failed exchange);
		// bad ids.
		f.clock.Advance(fx.DefaultQuoteTTL)
		f.want(f.do(call{method: "POST", path: "/api/v1/exchanges", token: alice.token, key: walletKey(), body: map[string]any{"quote": b.str("id")}}), 409, fx.EQuoteExpired)
		big := f.want(f.do(call{method: "POST", path: "/api/v1/exchange_quotes", token: alice.token,
			body: map[string]any{"from": "USD", "to": "EUR", "amount": m("5000", "USD")}}), 200, "")
		f.want(f.do(call{method: "POST", path: "/api/v1/exchanges", token: alice.token, key: walletKey(), body: map[string]any{"quote": big.str("id")}}), 422, "insufficient_funds")
		l := f.want(f.do(call{method: "GET", path: "/api/v1/transactions?type=exchange&status=failed", token: alice.token}), 200, "")
		if !strings.Contains(string(l.raw), `"failure":{"code":"insufficient_funds"`) {
			t.Fatalf("failed exchange: %s", l.raw)
		}
		f.want(f.do(call{method: "POST", path: "/api/v1/exchanges", token: alice.token, key: walletKey(), body: map[string]any{"quote": "txn_1"}}), 422, "validation_failed")
		f.want(f.do(call{method: "POST", path: "/api/v1/exchanges", token: alice.token, key: walletKey(), body: map[string]any{}}), 422, "validation_failed")
	})
}

// A remittance over the API: the quote names the masked payee and the
// code to come; the remittance waits for the code, and the code confirms
// it at the quoted rate even after the quote's own minute (the
// remittance holds its quote); the recipient is credited in the other
// currency.
func TestRemittanceAPI(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		f := newExchangeFixture(t, db)
		alice, bob := f.signUp("127.0.0.1"), f.signUp("127.0.0.2")
		f.fund(alice, money.New(1_000_00, "USD"))

		body := map[string]any{"from": "USD", "to": "CNY", "amount": m("100.00", "USD"), "payee": bob.email}
		q := f.want(f.do(call{method: "POST", path: "/api/v1/remittance_quotes", token: alice.token, body: body}), 200, "")
		// USD→CNY mid 6.4, less 0.5%: 6.368; $100.00 → ¥636.80.
		if q.str("object") != "remittance_quote" || q.str("buy", "amount") != "636.80" || q.str("rate") != "6.368" ||
			q.obj["needs_code"] != true || q.obj["new_payee"] != true || q.str("auth_method") != "sms" || strings.Contains(q.str("payee"), bob.email) {
			t.Fatalf("quote: %s", q.raw)
		}
		f.want(f.do(call{method: "POST", path: "/api/v1/remittance_quotes", token: alice.token, body: map[string]any{"from": "USD", "to": "CNY", "amount": m("1", "USD")}}), 422, "validation_failed")
		f.want(f.do(call{method: "POST", path: "/api/v1/remittance_quotes", token: alice.token,
			body: map[string]any{"from": "USD", "to": "CNY", "amount": m("1", "USD"), "payee": "nobody@example.com"}}), 422, identity.EPayeeNotFound)
		f.want(f.do(call{method: "POST", path: "/api/v1/remittance_quotes", token: alice.token,
			body: map[string]any{"from": "USD", "to": "CNY", "amount": m("1", "USD"), "payee": alice.email}}), 422, wallet.ESelfTransfer)

		send := map[string]any{"quote": q.str("id"), "payee": bob.email, "note": "tuition"}
		key := walletKey()
		r := f.want(f.do(call{method: "POST", path: "/api/v1/remittances", token: alice.token, key: key, body: send}), 201, "")
		id := r.str("id")
		if r.str("type") != "remittance" || r.str("status") != "awaiting_auth" || r.str("auth_method") != "sms" ||
			r.str("expires_at") != f.clock.Now().Add(f.w.Config().AuthWindow).UTC().Format(time.RFC3339) {
			t.Fatalf("remittance: %s", r.raw)
		}
		if again := f.want(f.do(call{method: "POST", path: "/api/v1/remittances", token: alice.token, key: key, body: send}), 201, ""); again.header.Get("Idempotent-Replayed") != "true" {
			t.Fatal("not replayed")
		}
		f.want(f.do(call{method: "POST", path: "/api/v1/remittances", token: alice.token, key: walletKey(), body: map[string]any{"quote": q.str("id")}}), 422, "validation_failed")
		f.want(f.do(call{method: "POST", path: "/api/v1/remittances", token: bob.token, key: walletKey(), body: map[string]any{"quote": q.str("id"), "payee": alice.email}}), 422, "validation_failed")

		// The code, after the quote's own minute: still the quoted rate.
		f.clock.Advance(2 * time.Minute)
		f.want(f.do(call{method: "POST", path: "/api/v1/remittances/" + id + "/code", token: alice.token}), 202, "")
		code := f.code(alice.phone, "code_txn")
		f.want(f.do(call{method: "POST", path: "/api/v1/remittances/" + id + "/confirm", token: alice.token, key: walletKey(), body: map[string]any{"code": "999999x"}}), 422, identity.EInvalidCode)
		f.want(f.do(call{method: "POST", path: "/api/v1/remittances/" + id + "/confirm", token: bob.token, key: walletKey(), body: map[string]any{"code": code}}), 404, "not_found")
		f.want(f.do(call{method: "POST", path: "/api/v1/remittances/" + id + "/confirm", token: alice.token, key: walletKey(), body: map[string]any{}}), 422, "validation_failed")
		done := f.want(f.do(call{method: "POST", path: "/api/v1/remittances/" + id + "/confirm", token: alice.token, key: walletKey(), body: map[string]any{"code": code}}), 200, "")
		if done.str("status") != "completed" || done.str("other_amount", "amount") != "636.80" || done.str("fee", "amount") != "0.00" {
			t.Fatalf("confirmed: %s", done.raw)
		}
		f.want(f.do(call{method: "POST", path: "/api/v1/remittances/" + id + "/code", token: alice.token}), 409, "conflict")
		f.want(f.do(call{method: "POST", path: "/api/v1/remittances/txn_x/code", token: alice.token}), 404, "not_found")
		if got := f.available(bob, "CNY"); got != "636.80" {
			t.Fatalf("bob CNY %s", got)
		}
		if got := f.available(alice, "USD"); got != "900.00" {
			t.Fatalf("alice USD %s", got)
		}
		// A known payee below the threshold: at once.
		q = f.want(f.do(call{method: "POST", path: "/api/v1/remittance_quotes", token: alice.token,
			body: map[string]any{"from": "USD", "to": "JPY", "amount": m("1000", "JPY"), "side": "buy", "payee": bob.phone}}), 200, "")
		if q.obj["needs_code"] != false || q.str("auth_method") != "" || q.str("buy", "amount") != "1000" {
			t.Fatalf("second quote: %s", q.raw)
		}
		r = f.want(f.do(call{method: "POST", path: "/api/v1/remittances", token: alice.token, key: walletKey(),
			body: map[string]any{"quote": q.str("id"), "payee": bob.phone}}), 201, "")
		if r.str("status") != "completed" {
			t.Fatalf("second remittance: %s", r.raw)
		}
		// Bob's side reads as received.
		l := f.want(f.do(call{method: "GET", path: "/api/v1/transactions?type=remittance", token: bob.token}), 200, "")
		if data, _ := l.obj["data"].([]any); len(data) != 2 {
			t.Fatalf("bob's remittances: %s", l.raw)
		}
	})
}

// The public rates: no credentials; from EUR by default or from any
// wallet currency; currencies without a rate listed apart.
func TestFXRatesAPI(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		f := newExchangeFixture(t, db)
		r := f.want(f.do(call{method: "GET", path: "/api/v1/fx/rates"}), 200, "")
		if r.str("base") != "EUR" || !strings.Contains(string(r.raw), `{"quote":"USD","rate":"1.25","inverse":"0.8",`) ||
			!strings.Contains(string(r.raw), `"unavailable":["GBP","HKD","RUB"]`) {
			t.Fatalf("rates: %s", r.raw)
		}
		r = f.want(f.do(call{method: "GET", path: "/api/v1/fx/rates?base=USD"}), 200, "")
		if !strings.Contains(string(r.raw), `{"quote":"CNY","rate":"6.4","inverse":"0.15625",`) ||
			!strings.Contains(string(r.raw), `"source":"admin EUR/USD × admin EUR/CNY"`) && !strings.Contains(string(r.raw), `"source":"admin EUR/CNY × admin EUR/USD"`) {
			t.Fatalf("rates from USD: %s", r.raw)
		}
		f.want(f.do(call{method: "GET", path: "/api/v1/fx/rates?base=usd"}), 422, "validation_failed")
		f.want(f.do(call{method: "GET", path: "/api/v1/fx/rates?base=CHF"}), 422, wallet.ECurrencyNotSupported)
		f.want(f.do(call{method: "GET", path: "/api/v1/fx/rates?quote=USD"}), 422, "validation_failed")
		// Stale rates are not shown.
		f.clock.Advance(fx.DefaultMaxAge + time.Second)
		r = f.want(f.do(call{method: "GET", path: "/api/v1/fx/rates"}), 200, "")
		if !strings.Contains(string(r.raw), `"rates":[],"unavailable":["CNY","USD","GBP","JPY","HKD","RUB"]`) {
			t.Fatalf("stale rates: %s", r.raw)
		}
	})
}
