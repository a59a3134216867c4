package openapitest_test

// The wallet's routes against the document: the wallet over the
// harness's ledger, identity service, sandbox provider and payment
// methods; its deposits confirmed by the sandbox's webhooks arriving at
// the harness's server.

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/okpay/okpay/clock"
	"github.com/okpay/okpay/httpapi"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/ledger"
	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/paymethod"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/wallet"
)

func init() {
	idPrefixes["/api/v1/wallets/"] = "wal_"
	idPrefixes["/api/v1/transactions/"] = "txn_"
	idPrefixes["/api/v1/p2p_transfers/"] = "txn_"
	lists["GET /api/v1/transactions"] = true
}

// successMedia is the media type of a route's success in the document,
// and successContentType its Content-Type: JSON, except the CSV export.
func successMedia(route string) string {
	if route == "GET /api/v1/transactions.csv" {
		return "text/csv"
	}
	if route == "GET /api/v1/attachments/{id}" { // a chat file (desk_test.go)
		return "application/octet-stream"
	}
	return "application/json"
}

func successContentType(route string) string {
	if route == "GET /api/v1/transactions.csv" {
		return "text/csv; charset=utf-8"
	}
	if route == "GET /api/v1/attachments/{id}" {
		return "application/octet-stream"
	}
	return "application/json"
}

// walletFees: 1% on transfers, 2% on deposits.
type walletFees struct{}

func (walletFees) Quote(op, method string, a money.Amount) (money.Amount, string, error) {
	bp := map[string]int64{wallet.OpTransfer: 100, wallet.OpDeposit: 200}[op]
	return money.New(a.Minor*bp/10000, a.Currency), "test:" + op, nil
}

// newWallet builds the wallet over the harness's parts and has the
// provider's webhook hand it the deposits' events.
func newWallet(t *testing.T, db *sqldb.DB, clk *clock.Manual, gen ids.Generator, led *ledger.Ledger, id *identityDeps, pay *paymentDeps, cat *i18n.Catalog) *wallet.Service {
	t.Helper()
	w, err := wallet.New(context.Background(), wallet.Deps{DB: db, Ledger: led, Identity: id.svc, Fees: walletFees{}, Provider: pay.sb, Cards: pay.pm,
		Catalog: cat, Clock: clk, IDs: gen}, wallet.Config{NewDeviceCap: wallet.DeviceCapOff()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	pay.hook.OwnTx = append(pay.hook.OwnTx, w.ApplyProviderEvent)
	return w
}

// walletSignUp opens a customer of the wallet scenario from its own
// address (the sign-up limits per address are the other scenarios').
func (h *harness) walletSignUp(t *testing.T, email, phone, from string) (string, int64) {
	t.Helper()
	e164 := strings.ReplaceAll(phone, " ", "")
	flow := h.do(t, req{method: "POST", path: "/api/v1/signup", noAuth: true, from: from, want: 202,
		body: map[string]any{"email": email, "phone": phone, "password": "maple lantern river 1987"}}).str("flow_token")
	tok := bearer(h.do(t, req{method: "POST", path: "/api/v1/signup/verify", noAuth: true, from: from, want: 200, body: map[string]any{"flow_token": flow,
		"email_code": h.code(t, email, "code_verify_email"), "phone_code": h.code(t, e164, "code_verify_phone")}}).str("session", "token"))
	me := h.do(t, req{method: "GET", path: "/api/v1/me", auth: tok, want: 200})
	uid, ok := ids.Parse(identity.UserPrefix, me.str("id"))
	if !ok {
		t.Fatalf("me: %s", me.raw)
	}
	return tok, uid
}

// verifiedCard adds a sandbox test card for a customer and verifies it.
func (h *harness) verifiedCard(t *testing.T, userID int64, pan string) string {
	t.Helper()
	ctx := context.Background()
	c, err := h.pay.sb.Tokenize(ctx, pan, 12, 2030, "123")
	if err != nil {
		t.Fatal(err)
	}
	m, err := h.pay.pm.AddCard(ctx, paymethod.NewCard{UserID: userID, Token: c.Token, StepUp: h.clock.Now()})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for m.Status != paymethod.StatusVerified {
		if m.Status == paymethod.StatusAwaitingCode {
			var code string
			if err := h.db.Read.QueryRow(`SELECT statement_code FROM psp_sandbox_charges ORDER BY id DESC LIMIT 1`).Scan(&code); err != nil {
				t.Fatal(err)
			}
			if m, err = h.pay.pm.ConfirmStatementCode(ctx, userID, m.ID, code); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if time.Now().After(deadline) {
			t.Fatalf("card %s is %s", pan, m.Status)
		}
		time.Sleep(10 * time.Millisecond)
		if m, err = h.pay.pm.Get(ctx, userID, m.ID); err != nil {
			t.Fatal(err)
		}
	}
	return m.PublicID()
}

func (h *harness) walletScenario(t *testing.T) {
	ctx := context.Background()
	big := strings.Repeat(" ", httpapi.MaxBody)
	cny := func(a string) map[string]any { return map[string]any{"amount": a, "currency": "CNY"} }
	alice, aliceID := h.walletSignUp(t, "wallet.alice@example.com", "+86 138 0013 8701", "127.0.0.81")
	bob, _ := h.walletSignUp(t, "wallet.bob@example.com", "+86 138 0013 8702", "127.0.0.82")

	// transport checks what a body-taking route answers for bodies it
	// cannot read.
	transport := func(path, auth string, idem bool, valid string) {
		t.Helper()
		key := func() string {
			if idem {
				return newKey()
			}
			return ""
		}
		h.do(t, req{method: "POST", path: path, auth: auth, idem: key(), body: `{"colour": "red"}`, invalid: true, want: 400, code: "invalid_request"})
		h.do(t, req{method: "POST", path: path, auth: auth, idem: key(), body: `{`, invalid: true, want: 400, code: "invalid_request"})
		h.do(t, req{method: "POST", path: path, auth: auth, idem: key(), body: valid[:len(valid)-1] + big + "}", want: 413, code: "request_too_large"})
		h.do(t, req{method: "POST", path: path, auth: auth, idem: key(), body: "x", ctype: "text/plain", invalid: true, want: 415, code: "unsupported_media_type"})
		h.do(t, req{method: "POST", path: path, noAuth: true, idem: key(), body: valid, invalid: true, want: 401, code: "unauthorized"})
		if idem {
			h.do(t, req{method: "POST", path: path, auth: auth, body: valid, invalid: true, want: 400, code: "idempotency_key_required"})
		}
	}

	// Wallets.
	r := h.do(t, req{method: "GET", path: "/api/v1/wallets", auth: alice, want: 200})
	if r.str("object") != "list" || len(r.list()) != 0 {
		t.Errorf("no wallets: %s", r.raw)
	}
	h.do(t, req{method: "GET", path: "/api/v1/wallets", noAuth: true, invalid: true, want: 401, code: "unauthorized"})
	usd := h.do(t, req{method: "POST", path: "/api/v1/wallets", auth: alice, body: map[string]any{"currency": "USD"}, want: 200}).str("id")
	h.do(t, req{method: "POST", path: "/api/v1/wallets", auth: alice, body: map[string]any{"currency": "CHF"}, want: 422, code: wallet.ECurrencyNotSupported})
	h.do(t, req{method: "POST", path: "/api/v1/wallets", auth: alice, body: map[string]any{"currency": "usd"}, invalid: true, want: 422, code: "validation_failed"})
	transport("/api/v1/wallets", alice, false, `{"currency": "USD"}`)
	h.do(t, req{method: "POST", path: "/api/v1/wallets/" + usd + "/hide", auth: alice, want: 200})
	h.do(t, req{method: "POST", path: "/api/v1/wallets/" + usd + "/show", auth: alice, body: map[string]any{}, want: 200})
	h.do(t, req{method: "POST", path: "/api/v1/wallets/" + usd + "/hide", auth: bob, want: 404, code: "not_found"})
	h.do(t, req{method: "POST", path: "/api/v1/wallets/" + usd + "/show", auth: bob, want: 404, code: "not_found"})
	h.do(t, req{method: "POST", path: "/api/v1/wallets/wal_x/hide", auth: alice, invalid: true, want: 404, code: "not_found"})
	for _, p := range []string{"/api/v1/wallets/" + usd + "/hide", "/api/v1/wallets/" + usd + "/show"} {
		h.do(t, req{method: "POST", path: p, auth: alice, body: `{"colour": "red"}`, invalid: true, want: 400, code: "invalid_request"})
		h.do(t, req{method: "POST", path: p, auth: alice, body: "{}" + big, want: 413, code: "request_too_large"})
		h.do(t, req{method: "POST", path: p, auth: alice, body: "x", ctype: "text/plain", invalid: true, want: 415, code: "unsupported_media_type"})
		h.do(t, req{method: "POST", path: p, noAuth: true, invalid: true, want: 401, code: "unauthorized"})
	}
	// Money for alice, through the ledger.
	w, err := h.wal.OpenWallet(ctx, aliceID, "CNY")
	if err != nil {
		t.Fatal(err)
	}
	ext, err := h.wal.SystemAccount(ctx, wallet.SysExternal+":test", "CNY")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.led.Post(ctx, ledger.EntryInput{Reference: "wallet-openapi-funding", Type: "test_funding",
		Postings: []ledger.Posting{{Debit: ext, Credit: w.ID, Amount: 1_000_00, Currency: "CNY"}}}); err != nil {
		t.Fatal(err)
	}
	h.do(t, req{method: "POST", path: "/api/v1/wallets/" + w.Ref() + "/hide", auth: alice, want: 409, code: wallet.EWalletNotEmpty})

	// Quote, send with a code, confirm.
	pay := map[string]any{"payee": "wallet.bob@example.com", "amount": cny("500.00"), "note": "Dinner"}
	h.do(t, req{method: "POST", path: "/api/v1/p2p_transfers/quote", auth: alice, body: pay, want: 200})
	h.do(t, req{method: "POST", path: "/api/v1/p2p_transfers/quote", auth: alice, body: map[string]any{"payee": "nobody@example.com", "amount": cny("1")}, want: 422, code: identity.EPayeeNotFound})
	h.do(t, req{method: "POST", path: "/api/v1/p2p_transfers/quote", auth: alice, body: map[string]any{"payee": "x@example.com", "amount": map[string]any{"amount": 1, "currency": "CNY"}}, invalid: true, want: 422, code: money.CodeInvalidAmount})
	transport("/api/v1/p2p_transfers/quote", alice, false, `{"payee": "x@example.com", "amount": {"amount": "1", "currency": "CNY"}}`)

	key := newKey()
	sent := h.do(t, req{method: "POST", path: "/api/v1/p2p_transfers", auth: alice, idem: key, body: pay, want: 201})
	id := sent.str("id")
	if sent.str("status") != "awaiting_auth" || sent.str("auth_method") != "sms" {
		t.Errorf("a new payee: %s", sent.raw)
	}
	if again := h.do(t, req{method: "POST", path: "/api/v1/p2p_transfers", auth: alice, idem: key, body: pay, want: 201}); !again.replayed {
		t.Error("the payment's answer was not replayed")
	}
	h.do(t, req{method: "POST", path: "/api/v1/p2p_transfers", auth: alice, idem: key, body: map[string]any{"payee": "wallet.bob@example.com", "amount": cny("501.00")}, want: 422, code: "idempotency_key_reused"})
	h.do(t, req{method: "POST", path: "/api/v1/p2p_transfers", auth: alice, idem: newKey(), body: map[string]any{"payee": "wallet.alice@example.com", "amount": cny("1")}, want: 422, code: wallet.ESelfTransfer})
	h.do(t, req{method: "POST", path: "/api/v1/p2p_transfers", auth: alice, idem: newKey(), body: map[string]any{"payee": "x@example.com", "amount": map[string]any{"amount": "1e3", "currency": "CNY"}}, invalid: true, want: 422, code: money.CodeInvalidAmount})
	h.do(t, req{method: "POST", path: "/api/v1/p2p_transfers", auth: alice, idem: newKey(), body: map[string]any{"payee": "x@example.com", "amount": cny("1.001")}, want: 422, code: money.CodeTooManyDecimals})
	transport("/api/v1/p2p_transfers", alice, true, `{"payee": "x@example.com", "amount": {"amount": "1", "currency": "CNY"}}`)

	confirm := "/api/v1/p2p_transfers/" + id + "/confirm"
	h.do(t, req{method: "POST", path: confirm, auth: alice, idem: newKey(), body: map[string]any{"code": "0000000"}, want: 422, code: identity.EInvalidCode})
	h.do(t, req{method: "POST", path: confirm, auth: bob, idem: newKey(), body: map[string]any{"code": "123456"}, want: 404, code: "not_found"})
	h.do(t, req{method: "POST", path: "/api/v1/p2p_transfers/txn_x/confirm", auth: alice, idem: newKey(), body: map[string]any{"code": "123456"}, invalid: true, want: 404, code: "not_found"})
	transport(confirm, alice, true, `{"code": "123456"}`)
	resend := "/api/v1/p2p_transfers/" + id + "/resend_code"
	h.do(t, req{method: "POST", path: resend, auth: alice, want: 429, code: "rate_limited"})
	h.clock.Advance(61 * time.Second)
	h.do(t, req{method: "POST", path: resend, auth: alice, want: 202})
	h.do(t, req{method: "POST", path: "/api/v1/p2p_transfers/txn_0000000000001/resend_code", auth: alice, want: 404, code: "not_found"})
	h.do(t, req{method: "POST", path: resend, auth: alice, body: `{"colour": "red"}`, invalid: true, want: 400, code: "invalid_request"})
	h.do(t, req{method: "POST", path: resend, auth: alice, body: "{}" + big, want: 413, code: "request_too_large"})
	h.do(t, req{method: "POST", path: resend, auth: alice, body: "x", ctype: "text/plain", invalid: true, want: 415, code: "unsupported_media_type"})
	h.do(t, req{method: "POST", path: resend, noAuth: true, invalid: true, want: 401, code: "unauthorized"})
	ckey := newKey()
	done := h.do(t, req{method: "POST", path: confirm, auth: alice, idem: ckey, body: map[string]any{"code": h.code(t, "+8613800138701", "code_txn")}, want: 200})
	if done.str("status") != "completed" {
		t.Errorf("confirmed: %s", done.raw)
	}
	h.do(t, req{method: "POST", path: resend, auth: alice, want: 409, code: "conflict"})

	// To a payee paid before, at once; a refusal at execution.
	h.do(t, req{method: "POST", path: "/api/v1/p2p_transfers", auth: alice, idem: newKey(), body: map[string]any{"payee": "+86 138 0013 8702", "amount": cny("10"), "note": "=1+2"}, want: 201})
	h.do(t, req{method: "POST", path: "/api/v1/p2p_transfers", auth: alice, idem: newKey(), body: map[string]any{"payee": "wallet.bob@example.com", "amount": cny("1000")}, want: 422, code: "insufficient_funds"})

	// The history.
	l := h.do(t, req{method: "GET", path: "/api/v1/transactions?limit=1", auth: alice, want: 200})
	if len(l.list()) != 1 || l.obj["has_more"] != true {
		t.Errorf("page: %s", l.raw)
	}
	h.do(t, req{method: "GET", path: "/api/v1/transactions?limit=1&cursor=" + l.str("next_cursor"), auth: alice, want: 200})
	h.do(t, req{method: "GET", path: "/api/v1/transactions?type=transfer_out&status=completed&currency=CNY&from=2026-11-01&to=2027-01-01T00:00:00Z", auth: alice, want: 200})
	h.do(t, req{method: "GET", path: "/api/v1/transactions?type=loan", auth: alice, invalid: true, want: 422, code: "validation_failed"})
	h.do(t, req{method: "GET", path: "/api/v1/transactions?limit=0", auth: alice, invalid: true, want: 422, code: "validation_failed"})
	h.do(t, req{method: "GET", path: "/api/v1/transactions?from=2026-12-02&to=2026-12-01", auth: alice, want: 422, code: "validation_failed"})
	h.do(t, req{method: "GET", path: "/api/v1/transactions", noAuth: true, invalid: true, want: 401, code: "unauthorized"})
	csv := h.do(t, req{method: "GET", path: "/api/v1/transactions.csv?currency=CNY", auth: alice, want: 200})
	if !strings.HasPrefix(string(csv.raw), "id,created_at,type") || !strings.Contains(string(csv.raw), ",'=1+2,") {
		t.Errorf("CSV: %s", csv.raw)
	}
	h.do(t, req{method: "GET", path: "/api/v1/transactions.csv?status=lost", auth: alice, invalid: true, want: 422, code: "validation_failed"})
	h.do(t, req{method: "GET", path: "/api/v1/transactions/" + id, auth: alice, want: 200})
	h.do(t, req{method: "GET", path: "/api/v1/transactions/" + id, auth: bob, want: 404, code: "not_found"})
	h.do(t, req{method: "GET", path: "/api/v1/transactions/" + done.str("related_id"), auth: bob, want: 200})
	h.do(t, req{method: "GET", path: "/api/v1/limits", auth: alice, want: 200})
	h.do(t, req{method: "GET", path: "/api/v1/limits", noAuth: true, invalid: true, want: 401, code: "unauthorized"})

	// Card deposits.
	card := h.verifiedCard(t, aliceID, "4242424242424242")
	h.do(t, req{method: "POST", path: "/api/v1/deposits/quote", auth: alice, body: map[string]any{"amount": map[string]any{"amount": "100.00", "currency": "USD"}}, want: 200})
	h.do(t, req{method: "POST", path: "/api/v1/deposits/quote", auth: alice, body: map[string]any{"amount": map[string]any{"amount": "0.01", "currency": "CHF"}}, want: 422, code: wallet.ECurrencyNotSupported})
	transport("/api/v1/deposits/quote", alice, false, `{"amount": {"amount": "1", "currency": "USD"}}`)
	dep := map[string]any{"payment_method": card, "amount": map[string]any{"amount": "100.00", "currency": "USD"}, "return_url": "https://app.example/deposits"}
	dkey := newKey()
	d := h.do(t, req{method: "POST", path: "/api/v1/deposits", auth: alice, idem: dkey, body: dep, want: 201})
	if again := h.do(t, req{method: "POST", path: "/api/v1/deposits", auth: alice, idem: dkey, body: dep, want: 201}); !again.replayed || again.str("id") != d.str("id") {
		t.Errorf("deposit replay: %s", again.raw)
	}
	h.do(t, req{method: "POST", path: "/api/v1/deposits", auth: bob, idem: newKey(), body: dep, want: 422, code: "validation_failed"})
	transport("/api/v1/deposits", alice, true, `{"payment_method": "pm_0000000000001", "amount": {"amount": "1", "currency": "USD"}}`)
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := h.do(t, req{method: "GET", path: "/api/v1/transactions/" + d.str("id"), auth: alice, want: 200})
		if r.str("status") == "completed" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the deposit is %s", r.str("status"))
		}
		time.Sleep(10 * time.Millisecond)
	}
}
