package openapitest_test

// The withdrawal routes against the document: the withdrawals over the
// harness's wallet, payment methods and sandbox, wired as serve wires
// them (the payout check of the methods, the freeze hook, the provider's
// payout events, the job runner).

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/okpay/okpay/httpapi"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/ledger"
	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/paymethod"
	"github.com/okpay/okpay/wallet"
)

func init() {
	idPrefixes["/api/v1/withdrawals/"] = "txn_"
}

// newWithdrawals builds the withdrawals over the harness's wallet and
// starts their job runner.
func newWithdrawals(t *testing.T, w *wallet.Service, id *identityDeps, pay *paymentDeps) *wallet.Withdrawals {
	t.Helper()
	wd, err := wallet.NewWithdrawals(w, wallet.WithdrawalDeps{Methods: pay.pm, Customers: id.svc}, wallet.WithdrawalConfig{})
	if err != nil {
		t.Fatal(err)
	}
	pay.pm.SetInUse(wd)
	id.svc.OnFreeze(wd.FreezeHook)
	pay.hook.OwnTx = append(pay.hook.OwnTx, wd.ApplyProviderEvent)
	wd.Start(context.Background())
	t.Cleanup(wd.Close)
	return wd
}

// signIn signs a customer in again (password, then the SMS code) from
// address from, and returns the session's Authorization.
func (h *harness) signIn(t *testing.T, email, e164, from string) string {
	t.Helper()
	aal1 := h.do(t, req{method: "POST", path: "/api/v1/sessions", noAuth: true, from: from, want: 201,
		body: map[string]any{"identifier": email, "password": "maple lantern river 1987"}}).str("token")
	return bearer(h.do(t, req{method: "POST", path: "/api/v1/mfa/verify", auth: bearer(aal1), from: from, want: 200,
		body: map[string]any{"method": "sms", "code": h.code(t, e164, "code_login")}}).str("token"))
}

func (h *harness) withdrawalScenario(t *testing.T) {
	ctx := context.Background()
	big := strings.Repeat(" ", httpapi.MaxBody)
	cny := func(a string) map[string]any { return map[string]any{"amount": a, "currency": "CNY"} }
	const aliceEmail, aliceE164, from = "withdraw.alice@example.com", "+8613800138711", "127.0.0.91"
	alice, aliceID := h.walletSignUp(t, aliceEmail, "+86 138 0013 8711", from)
	bob, _ := h.walletSignUp(t, "withdraw.bob@example.com", "+86 138 0013 8712", "127.0.0.92")

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
		h.do(t, req{method: "POST", path: path, auth: auth, idem: key(), body: valid[:len(valid)-1] + big + "}", want: 413, code: "request_too_large"})
		h.do(t, req{method: "POST", path: path, auth: auth, idem: key(), body: "x", ctype: "text/plain", invalid: true, want: 415, code: "unsupported_media_type"})
		h.do(t, req{method: "POST", path: path, noAuth: true, idem: key(), body: valid, invalid: true, want: 401, code: "unauthorized"})
		if idem {
			h.do(t, req{method: "POST", path: path, auth: auth, body: valid, invalid: true, want: 400, code: "idempotency_key_required"})
		}
	}

	// Money for alice, through the ledger, and a verified card.
	w, err := h.wal.OpenWallet(ctx, aliceID, "CNY")
	if err != nil {
		t.Fatal(err)
	}
	ext, err := h.wal.SystemAccount(ctx, wallet.SysExternal+":test", "CNY")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.led.Post(ctx, ledger.EntryInput{Reference: "withdraw-openapi-funding", Type: "test_funding",
		Postings: []ledger.Posting{{Debit: ext, Credit: w.ID, Amount: 1_000_00, Currency: "CNY"}}}); err != nil {
		t.Fatal(err)
	}
	card := h.verifiedCard(t, aliceID, "5555555555554444")
	body := map[string]any{"payment_method": card, "amount": cny("100.00")}

	// A card verified a moment ago cannot receive money for 24 hours.
	r := h.do(t, req{method: "POST", path: "/api/v1/withdrawals/quote", auth: alice, body: body, want: 403, code: paymethod.EMethodHold})
	if r.str("hold_until") == "" {
		t.Errorf("method_hold without hold_until: %s", r.raw)
	}
	h.do(t, req{method: "POST", path: "/api/v1/withdrawals", auth: alice, idem: newKey(), body: body, want: 403, code: paymethod.EMethodHold})

	// The next day: signed in again.
	h.clock.Advance(25 * time.Hour)
	alice = h.signIn(t, aliceEmail, aliceE164, from)
	bob = h.signIn(t, "withdraw.bob@example.com", "+8613800138712", "127.0.0.92")

	// Quote.
	q := h.do(t, req{method: "POST", path: "/api/v1/withdrawals/quote", auth: alice, body: body, want: 200})
	if q.str("total", "amount") != "100.00" || q.str("auth_method") != "sms" || q.str("method_kind") != "card" || q.str("expected_earliest") == "" {
		t.Errorf("quote: %s", q.raw)
	}
	h.do(t, req{method: "POST", path: "/api/v1/withdrawals/quote", auth: alice, body: map[string]any{"payment_method": card, "amount": cny("5000.00")}, want: 422, code: "insufficient_funds"})
	h.do(t, req{method: "POST", path: "/api/v1/withdrawals/quote", auth: bob, body: body, want: 422, code: "validation_failed"})
	h.do(t, req{method: "POST", path: "/api/v1/withdrawals/quote", auth: alice, body: map[string]any{"payment_method": card, "amount": map[string]any{"amount": "10.00", "currency": "USD"}}, want: 422, code: "validation_failed"})
	h.do(t, req{method: "POST", path: "/api/v1/withdrawals/quote", auth: alice, body: map[string]any{"payment_method": "card", "amount": cny("1")}, invalid: true, want: 422, code: "validation_failed"})
	h.do(t, req{method: "POST", path: "/api/v1/withdrawals/quote", auth: alice, body: map[string]any{"payment_method": card, "amount": cny("1.001")}, want: 422, code: money.CodeTooManyDecimals})
	transport("/api/v1/withdrawals/quote", alice, false, `{"payment_method": "pm_0000000000001", "amount": {"amount": "1", "currency": "CNY"}}`)

	// Start: the code goes out by SMS.
	key := newKey()
	started := h.do(t, req{method: "POST", path: "/api/v1/withdrawals", auth: alice, idem: key, body: body, want: 201})
	id := started.str("id")
	if started.str("status") != "awaiting_auth" || started.str("auth_method") != "sms" || started.obj["cancelable"] != true || started.str("expires_at") == "" {
		t.Errorf("started: %s", started.raw)
	}
	if again := h.do(t, req{method: "POST", path: "/api/v1/withdrawals", auth: alice, idem: key, body: body, want: 201}); !again.replayed || again.str("id") != id {
		t.Errorf("replay: %s", again.raw)
	}
	h.do(t, req{method: "POST", path: "/api/v1/withdrawals", auth: alice, idem: key, body: map[string]any{"payment_method": card, "amount": cny("101.00")}, want: 422, code: "idempotency_key_reused"})
	h.do(t, req{method: "POST", path: "/api/v1/withdrawals", auth: bob, idem: newKey(), body: body, want: 422, code: "validation_failed"})
	transport("/api/v1/withdrawals", alice, true, `{"payment_method": "pm_0000000000001", "amount": {"amount": "1", "currency": "CNY"}}`)

	// Reading it.
	h.do(t, req{method: "GET", path: "/api/v1/withdrawals/" + id, auth: alice, want: 200})
	h.do(t, req{method: "GET", path: "/api/v1/withdrawals/" + id, auth: bob, want: 404, code: "not_found"})
	h.do(t, req{method: "GET", path: "/api/v1/withdrawals/txn_x", auth: alice, invalid: true, want: 404, code: "not_found"})
	h.do(t, req{method: "GET", path: "/api/v1/withdrawals/" + id, noAuth: true, invalid: true, want: 401, code: "unauthorized"})

	// A new code: not within a minute of the first.
	code := "/api/v1/withdrawals/" + id + "/code"
	h.do(t, req{method: "POST", path: code, auth: alice, want: 429, code: "rate_limited"})
	h.clock.Advance(61 * time.Second)
	h.do(t, req{method: "POST", path: code, auth: alice, body: map[string]any{}, want: 202})
	h.do(t, req{method: "POST", path: code, auth: bob, want: 404, code: "not_found"})
	h.do(t, req{method: "POST", path: code, auth: alice, body: `{"colour": "red"}`, invalid: true, want: 400, code: "invalid_request"})
	h.do(t, req{method: "POST", path: code, auth: alice, body: "{}" + big, want: 413, code: "request_too_large"})
	h.do(t, req{method: "POST", path: code, auth: alice, body: "x", ctype: "text/plain", invalid: true, want: 415, code: "unsupported_media_type"})
	h.do(t, req{method: "POST", path: code, noAuth: true, invalid: true, want: 401, code: "unauthorized"})

	// Confirm: a wrong code, another customer, then the code.
	confirm := "/api/v1/withdrawals/" + id + "/confirm"
	h.do(t, req{method: "POST", path: confirm, auth: alice, idem: newKey(), body: map[string]any{"code": "0000000"}, want: 422, code: identity.EInvalidCode})
	h.do(t, req{method: "POST", path: confirm, auth: bob, idem: newKey(), body: map[string]any{"code": "123456"}, want: 404, code: "not_found"})
	h.do(t, req{method: "POST", path: confirm, auth: alice, idem: newKey(), body: map[string]any{}, invalid: true, want: 422, code: "validation_failed"})
	transport(confirm, alice, true, `{"code": "123456"}`)
	ckey := newKey()
	held := h.do(t, req{method: "POST", path: confirm, auth: alice, idem: ckey, body: map[string]any{"code": h.code(t, aliceE164, "code_txn")}, want: 200})
	if held.str("status") != string(wallet.StatusPendingReview) || held.obj["cancelable"] != true {
		t.Errorf("confirmed (a first withdrawal to a new card waits for review): %s", held.raw)
	}
	if again := h.do(t, req{method: "POST", path: confirm, auth: alice, idem: ckey, body: map[string]any{"code": h.code(t, aliceE164, "code_txn")}, want: 200}); !again.replayed {
		t.Errorf("confirm replay: %s", again.raw)
	}
	h.do(t, req{method: "POST", path: code, auth: alice, want: 409, code: "conflict"})
	if wl, err := h.wal.FindWallet(ctx, aliceID, "CNY"); err != nil || wl.Available.Minor != 900_00 {
		t.Errorf("held: %+v %v", wl, err)
	}

	// Cancel while it waits for review: the money comes back.
	cancel := "/api/v1/withdrawals/" + id + "/cancel"
	h.do(t, req{method: "POST", path: cancel, auth: bob, idem: newKey(), want: 404, code: "not_found"})
	h.do(t, req{method: "POST", path: cancel, auth: alice, idem: newKey(), body: `{"colour": "red"}`, invalid: true, want: 400, code: "invalid_request"})
	h.do(t, req{method: "POST", path: cancel, auth: alice, idem: newKey(), body: "{}" + big, want: 413, code: "request_too_large"})
	h.do(t, req{method: "POST", path: cancel, auth: alice, idem: newKey(), body: "x", ctype: "text/plain", invalid: true, want: 415, code: "unsupported_media_type"})
	h.do(t, req{method: "POST", path: cancel, noAuth: true, idem: newKey(), invalid: true, want: 401, code: "unauthorized"})
	h.do(t, req{method: "POST", path: cancel, auth: alice, invalid: true, want: 400, code: "idempotency_key_required"})
	xkey := newKey()
	done := h.do(t, req{method: "POST", path: cancel, auth: alice, idem: xkey, want: 200})
	if done.str("status") != "failed" || done.str("failure", "code") != wallet.FailCancelled || done.obj["cancelable"] != false {
		t.Errorf("cancelled: %s", done.raw)
	}
	if again := h.do(t, req{method: "POST", path: cancel, auth: alice, idem: xkey, want: 200}); !again.replayed {
		t.Errorf("cancel replay: %s", again.raw)
	}
	h.do(t, req{method: "POST", path: "/api/v1/withdrawals/" + started.str("id") + "/confirm", auth: alice, idem: xkey, body: map[string]any{"code": "123456"}, want: 422, code: "idempotency_key_reused"})
	h.do(t, req{method: "POST", path: cancel, auth: alice, idem: newKey(), body: map[string]any{}, want: 409, code: "conflict"})
	h.do(t, req{method: "POST", path: confirm, auth: alice, idem: newKey(), body: map[string]any{"code": "123456"}, want: 409, code: "conflict"})
	if wl, err := h.wal.FindWallet(ctx, aliceID, "CNY"); err != nil || wl.Available.Minor != 1_000_00 {
		t.Errorf("after the cancel: %+v %v", wl, err)
	}
	// The confirmation's key on another route.
	h.do(t, req{method: "POST", path: cancel, auth: alice, idem: ckey, want: 422, code: "idempotency_key_reused"})

	// Every withdrawal route has had a success and an error (the
	// coverage subtest checks it for every route; this says it here).
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, rt := range httpapi.Routes {
		if !strings.HasPrefix(rt.Pattern, "/api/v1/withdrawals") {
			continue
		}
		key := rt.Method + " " + rt.Pattern
		ok2, ok4 := false, false
		for st := range h.seen[key] {
			ok2 = ok2 || st < 300
			ok4 = ok4 || st >= 400
		}
		if !ok2 || !ok4 {
			t.Errorf("%s: success exercised %v, error exercised %v", key, ok2, ok4)
		}
	}
}
