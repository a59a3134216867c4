package openapitest_test

// The exchange, remittance and public rate routes against the document:
// the exchanger over the harness's wallet, with the rate service holding
// operator rates (EUR→USD 1.25, EUR→CNY 8, EUR→JPY 160).

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/okpay/okpay/clock"
	"github.com/okpay/okpay/fx"
	"github.com/okpay/okpay/httpapi"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/ledger"
	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/wallet"
)

func init() {
	idPrefixes["/api/v1/remittances/"] = "txn_"
}

// exchangeDeps are the rate service and the exchanger of the harness.
type exchangeDeps struct {
	rates *fx.Service
	x     *wallet.Exchanger
}

// newExchange builds the rate service, with its rates, and the exchanger
// over the harness's wallet.
func newExchange(t *testing.T, db *sqldb.DB, clk *clock.Manual, gen ids.Generator, w *wallet.Service) *exchangeDeps {
	t.Helper()
	ctx := context.Background()
	rates, err := fx.New(db, clk, gen, fx.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for q, v := range map[money.Currency]string{"USD": "1.25", "CNY": "8", "JPY": "160"} {
		if _, err := rates.SetRate(ctx, fx.SetRateInput{Base: "EUR", Quote: q, Rate: v, By: "admin:openapi"}); err != nil {
			t.Fatal(err)
		}
	}
	x, err := wallet.NewExchanger(ctx, w, rates)
	if err != nil {
		t.Fatal(err)
	}
	return &exchangeDeps{rates: rates, x: x}
}

func (h *harness) exchangeScenario(t *testing.T) {
	ctx := context.Background()
	big := strings.Repeat(" ", httpapi.MaxBody)
	usd := func(a string) map[string]any { return map[string]any{"amount": a, "currency": "USD"} }
	const aliceE164 = "+8613800138721"
	alice, aliceID := h.walletSignUp(t, "fx.alice@example.com", "+86 138 0013 8721", "127.0.0.101")
	bob, _ := h.walletSignUp(t, "fx.bob@example.com", "+86 138 0013 8722", "127.0.0.102")

	transport := func(path, auth string, idem bool, valid string) {
		t.Helper()
		key := func() string {
			if idem {
				return newKey()
			}
			return ""
		}
		h.do(t, req{method: "POST", path: path, auth: auth, idem: key(), body: `{"colour": "red"}`, invalid: true, want: 400, code: "invalid_request"})
		h.do(t, req{method: "POST", path: path, auth: auth, idem: key(), body: valid[:len(valid)-1] + big + "}", want: 413, code: "request_too_large"})
		h.do(t, req{method: "POST", path: path, auth: auth, idem: key(), body: "x", ctype: "text/plain", invalid: true, want: 415, code: "unsupported_media_type"})
		h.do(t, req{method: "POST", path: path, noAuth: true, idem: key(), body: valid, invalid: true, want: 401, code: "unauthorized"})
		if idem {
			h.do(t, req{method: "POST", path: path, auth: auth, body: valid, invalid: true, want: 400, code: "idempotency_key_required"})
		}
	}

	// Money for alice, through the ledger.
	w, err := h.wal.OpenWallet(ctx, aliceID, "USD")
	if err != nil {
		t.Fatal(err)
	}
	ext, err := h.wal.SystemAccount(ctx, wallet.SysExternal+":test", "USD")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.led.Post(ctx, ledger.EntryInput{Reference: "fx-openapi-funding", Type: "test_funding",
		Postings: []ledger.Posting{{Debit: ext, Credit: w.ID, Amount: 1_000_00, Currency: "USD"}}}); err != nil {
		t.Fatal(err)
	}

	// The public rates.
	r := h.do(t, req{method: "GET", path: "/api/v1/fx/rates", noAuth: true, want: 200})
	if r.str("base") != "EUR" || !strings.Contains(string(r.raw), `"quote":"USD","rate":"1.25"`) {
		t.Errorf("rates: %s", r.raw)
	}
	h.do(t, req{method: "GET", path: "/api/v1/fx/rates?base=USD", noAuth: true, want: 200})
	h.do(t, req{method: "GET", path: "/api/v1/fx/rates?base=CHF", noAuth: true, want: 422, code: wallet.ECurrencyNotSupported})
	h.do(t, req{method: "GET", path: "/api/v1/fx/rates?base=usd", noAuth: true, invalid: true, want: 422, code: "validation_failed"})

	// Exchange quotes.
	sell := map[string]any{"from": "USD", "to": "EUR", "amount": usd("100.00")}
	q := h.do(t, req{method: "POST", path: "/api/v1/exchange_quotes", auth: alice, body: sell, want: 200})
	if q.str("buy", "amount") != "79.60" || q.str("rate") != "0.796" {
		t.Errorf("quote: %s", q.raw)
	}
	h.do(t, req{method: "POST", path: "/api/v1/exchange_quotes", auth: alice, body: map[string]any{"from": "EUR", "to": "CNY", "amount": map[string]any{"amount": "500.00", "currency": "CNY"}, "side": "buy"}, want: 200})
	h.do(t, req{method: "POST", path: "/api/v1/exchange_quotes", auth: alice, body: map[string]any{"from": "USD", "to": "EUR", "amount": usd("1"), "side": "keep"}, invalid: true, want: 422, code: "validation_failed"})
	h.do(t, req{method: "POST", path: "/api/v1/exchange_quotes", auth: alice, body: map[string]any{"from": "USD", "to": "CHF", "amount": usd("1")}, want: 422, code: wallet.ECurrencyNotSupported})
	h.do(t, req{method: "POST", path: "/api/v1/exchange_quotes", auth: alice, body: map[string]any{"from": "JPY", "to": "USD", "amount": map[string]any{"amount": "1", "currency": "JPY"}}, want: 422, code: fx.EAmountTooSmall})
	h.do(t, req{method: "POST", path: "/api/v1/exchange_quotes", auth: alice, body: map[string]any{"from": "USD", "to": "GBP", "amount": usd("1")}, want: 503, code: fx.ERateUnavailable})
	transport("/api/v1/exchange_quotes", alice, false, `{"from": "USD", "to": "EUR", "amount": {"amount": "1", "currency": "USD"}}`)

	// Exchanges.
	exec := map[string]any{"quote": q.str("id")}
	key := newKey()
	done := h.do(t, req{method: "POST", path: "/api/v1/exchanges", auth: alice, idem: key, body: exec, want: 201})
	if done.str("type") != "exchange" || done.str("status") != "completed" || done.str("other_amount", "amount") != "79.60" {
		t.Errorf("exchange: %s", done.raw)
	}
	if again := h.do(t, req{method: "POST", path: "/api/v1/exchanges", auth: alice, idem: key, body: exec, want: 201}); !again.replayed {
		t.Error("the exchange was not replayed")
	}
	h.do(t, req{method: "POST", path: "/api/v1/exchanges", auth: alice, idem: newKey(), body: exec, want: 409, code: fx.EQuoteUsed})
	h.do(t, req{method: "POST", path: "/api/v1/exchanges", auth: bob, idem: newKey(), body: exec, want: 422, code: "validation_failed"})
	h.do(t, req{method: "POST", path: "/api/v1/exchanges", auth: alice, idem: newKey(), body: map[string]any{"quote": "txn_0000000000001"}, invalid: true, want: 422, code: "validation_failed"})
	tooMuch := h.do(t, req{method: "POST", path: "/api/v1/exchange_quotes", auth: alice, body: map[string]any{"from": "USD", "to": "EUR", "amount": usd("5000")}, want: 200})
	h.do(t, req{method: "POST", path: "/api/v1/exchanges", auth: alice, idem: newKey(), body: map[string]any{"quote": tooMuch.str("id")}, want: 422, code: "insufficient_funds"})
	transport("/api/v1/exchanges", alice, true, `{"quote": "fxq_0000000000001"}`)

	// Remittance quotes.
	rq := map[string]any{"from": "USD", "to": "CNY", "amount": usd("100.00"), "payee": "fx.bob@example.com"}
	q = h.do(t, req{method: "POST", path: "/api/v1/remittance_quotes", auth: alice, body: rq, want: 200})
	if q.obj["needs_code"] != true || q.str("buy", "amount") != "636.80" {
		t.Errorf("remittance quote: %s", q.raw)
	}
	h.do(t, req{method: "POST", path: "/api/v1/remittance_quotes", auth: alice, body: map[string]any{"from": "USD", "to": "CNY", "amount": usd("1"), "payee": "nobody@example.com"}, want: 422, code: identity.EPayeeNotFound})
	h.do(t, req{method: "POST", path: "/api/v1/remittance_quotes", auth: alice, body: map[string]any{"from": "USD", "to": "GBP", "amount": usd("1"), "payee": "fx.bob@example.com"}, want: 503, code: fx.ERateUnavailable})
	transport("/api/v1/remittance_quotes", alice, false, `{"from": "USD", "to": "CNY", "amount": {"amount": "1", "currency": "USD"}, "payee": "x@example.com"}`)

	// Remittances: with a code, confirmed after the quote's own minute.
	send := map[string]any{"quote": q.str("id"), "payee": "fx.bob@example.com", "note": "Tuition"}
	key = newKey()
	sent := h.do(t, req{method: "POST", path: "/api/v1/remittances", auth: alice, idem: key, body: send, want: 201})
	id := sent.str("id")
	if sent.str("status") != "awaiting_auth" || sent.str("auth_method") != "sms" {
		t.Errorf("remittance: %s", sent.raw)
	}
	if again := h.do(t, req{method: "POST", path: "/api/v1/remittances", auth: alice, idem: key, body: send, want: 201}); !again.replayed {
		t.Error("the remittance was not replayed")
	}
	h.do(t, req{method: "POST", path: "/api/v1/remittances", auth: alice, idem: newKey(), body: map[string]any{"quote": q.str("id"), "payee": "fx.alice@example.com"}, want: 422, code: wallet.ESelfTransfer})
	transport("/api/v1/remittances", alice, true, `{"quote": "fxq_0000000000001", "payee": "x@example.com"}`)

	code := "/api/v1/remittances/" + id + "/code"
	h.do(t, req{method: "POST", path: code, auth: alice, want: 429, code: "rate_limited"})
	h.clock.Advance(61 * time.Second)
	h.do(t, req{method: "POST", path: code, auth: alice, want: 202})
	h.do(t, req{method: "POST", path: "/api/v1/remittances/txn_0000000000001/code", auth: alice, want: 404, code: "not_found"})
	h.do(t, req{method: "POST", path: code, auth: alice, body: `{"colour": "red"}`, invalid: true, want: 400, code: "invalid_request"})
	h.do(t, req{method: "POST", path: code, auth: alice, body: "{}" + big, want: 413, code: "request_too_large"})
	h.do(t, req{method: "POST", path: code, auth: alice, body: "x", ctype: "text/plain", invalid: true, want: 415, code: "unsupported_media_type"})
	h.do(t, req{method: "POST", path: code, noAuth: true, invalid: true, want: 401, code: "unauthorized"})

	confirm := "/api/v1/remittances/" + id + "/confirm"
	h.do(t, req{method: "POST", path: confirm, auth: alice, idem: newKey(), body: map[string]any{"code": "0000000"}, want: 422, code: identity.EInvalidCode})
	h.do(t, req{method: "POST", path: confirm, auth: bob, idem: newKey(), body: map[string]any{"code": "123456"}, want: 404, code: "not_found"})
	h.do(t, req{method: "POST", path: "/api/v1/remittances/txn_x/confirm", auth: alice, idem: newKey(), body: map[string]any{"code": "123456"}, invalid: true, want: 404, code: "not_found"})
	transport(confirm, alice, true, `{"code": "123456"}`)
	ckey := newKey()
	ok := h.do(t, req{method: "POST", path: confirm, auth: alice, idem: ckey, body: map[string]any{"code": h.code(t, aliceE164, "code_txn")}, want: 200})
	if ok.str("status") != "completed" || ok.str("other_amount", "amount") != "636.80" {
		t.Errorf("confirmed: %s", ok.raw)
	}
	h.do(t, req{method: "POST", path: code, auth: alice, want: 409, code: "conflict"})

	// A remittance whose quote expired before it was sent.
	q = h.do(t, req{method: "POST", path: "/api/v1/remittance_quotes", auth: alice, body: rq, want: 200})
	h.clock.Advance(fx.DefaultQuoteTTL)
	h.do(t, req{method: "POST", path: "/api/v1/remittances", auth: alice, idem: newKey(), body: map[string]any{"quote": q.str("id"), "payee": "fx.bob@example.com"}, want: 409, code: fx.EQuoteExpired})
	// One left waiting past its window fails.
	q = h.do(t, req{method: "POST", path: "/api/v1/remittance_quotes", auth: alice, body: map[string]any{"from": "USD", "to": "CNY", "amount": usd("300.00"), "payee": "fx.bob@example.com"}, want: 200})
	late := h.do(t, req{method: "POST", path: "/api/v1/remittances", auth: alice, idem: newKey(), body: map[string]any{"quote": q.str("id"), "payee": "fx.bob@example.com"}, want: 201}).str("id")
	// (A request halfway keeps the session from idling out.)
	h.clock.Advance(h.wal.Config().AuthWindow / 2)
	h.do(t, req{method: "GET", path: "/api/v1/wallets", auth: alice, want: 200})
	h.clock.Advance(h.wal.Config().AuthWindow - h.wal.Config().AuthWindow/2)
	h.do(t, req{method: "POST", path: "/api/v1/remittances/" + late + "/confirm", auth: alice, idem: newKey(), body: map[string]any{"code": "123456"}, want: 409, code: wallet.EAuthExpired})
}
