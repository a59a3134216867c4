package openapitest_test

// The payment-method routes and the provider's webhook against the
// document: the payment methods over the built-in sandbox on the
// harness's database, the sandbox's webhooks arriving at the harness's
// server.

import (
	"context"
	"database/sql"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/clock"
	"github.com/okpay/okpay/httpapi"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/notify"
	"github.com/okpay/okpay/paymethod"
	"github.com/okpay/okpay/psp"
	"github.com/okpay/okpay/psp/sandbox"
	"github.com/okpay/okpay/sqldb"
)

var pspSecret = []byte("whsec_openapi_test_0123456789abcdef")

// sandboxClock is the provider's clock: the harness's manual clock plus
// the real time elapsed, so its settlements come due while a test waits.
type sandboxClock struct {
	m     *clock.Manual
	start time.Time
}

func (c sandboxClock) Now() time.Time { return c.m.Now().Add(time.Since(c.start)) }

// paymentDeps are the harness's payment side.
type paymentDeps struct {
	sb   *sandbox.Sandbox
	pm   *paymethod.Service
	hook *httpapi.PSPWebhook
	clk  sandboxClock
}

// notices renders the payment methods' notices through the identity
// service, as serve does.
type notices struct{ id *identity.Service }

func (n notices) Notify(ctx context.Context, tx *sql.Tx, userID int64, kind string, data map[string]any) error {
	p, err := n.id.LoadParty(ctx, userID)
	if err != nil {
		return err
	}
	event, _ := data["MethodID"].(string)
	nt, err := n.id.PrepareNotice(p, identity.MoneyNotice{Kind: kind, Event: event, Data: data,
		Channels: []string{notify.ChannelEmail, notify.ChannelInApp}, FreezeLink: true, Meta: &identity.Meta{}})
	if err != nil {
		return err
	}
	return n.id.WriteNotices(ctx, tx, nt)
}

func newPayments(t *testing.T, db *sqldb.DB, clk *clock.Manual, gen ids.Generator, id *identityDeps, cat *i18n.Catalog) *paymentDeps {
	t.Helper()
	p := &paymentDeps{clk: sandboxClock{m: clk, start: time.Now()}}
	var err error
	p.sb, err = sandbox.New(sandbox.Options{DB: db, Clock: p.clk, IDs: gen, Secret: pspSecret, Catalog: cat,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Delay: -1, Poll: 10 * time.Millisecond,
		Backoff: func(int) time.Duration { return 10 * time.Millisecond }})
	if err != nil {
		t.Fatal(err)
	}
	// Cards also need the code of the statement (CRD-05), so that every
	// route has a success.
	// PayPal plays an e-wallet without an OAuth page, so that both ways of
	// adding an e-wallet are exercised.
	p.pm, err = paymethod.New(paymethod.Deps{DB: db, Clock: clk, IDs: gen, Provider: codeOnly{Sandbox: p.sb, provider: "paypal"}, Notifier: notices{id: id.svc},
		Sealer: id.svc.Keys.Sealer("paymethod/account"), MAC: id.svc.Keys.MAC("paymethod"), Config: paymethod.Config{StatementCode: true}})
	if err != nil {
		t.Fatal(err)
	}
	p.hook = &httpapi.PSPWebhook{Secrets: [][]byte{pspSecret}, DB: db, Clock: p.clk, InTx: []httpapi.PSPEventHandler{p.pm.ApplyEvent}}
	return p
}

// codeOnly is the sandbox with one e-wallet that has no OAuth
// authorisation page, as a real e-wallet without one answers: that
// e-wallet is linked by a code instead.
type codeOnly struct {
	*sandbox.Sandbox
	provider string
}

func (p codeOnly) EWalletAuthURL(provider, state, challenge, redirectURI string) (string, error) {
	if provider == p.provider {
		return "", okpay.Errorf(psp.ENoOAuth, "%s has no OAuth authorisation page", provider)
	}
	return p.Sandbox.EWalletAuthURL(provider, state, challenge, redirectURI)
}

// authorize plays the e-wallet's owner on the sandbox's authorisation
// page: it allows (or denies) the link and returns the query the browser
// is sent back with.
func (p *paymentDeps) authorize(t *testing.T, auth, account string, allow bool) url.Values {
	t.Helper()
	u, err := url.Parse(auth)
	if err != nil {
		t.Fatal(err)
	}
	form := u.Query()
	form.Set("account", account)
	form.Set("action", map[bool]string{true: "allow", false: "deny"}[allow])
	r := httptest.NewRequest("POST", u.Path, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	p.sb.Handler().ServeHTTP(w, r)
	back, err := url.Parse(w.Header().Get("Location"))
	if w.Code != http.StatusSeeOther || err != nil || back.Path != httpapi.EWalletCallbackPath {
		t.Fatalf("authorise: %d, sent back to %q", w.Code, w.Header().Get("Location"))
	}
	return back.Query()
}

// start sends the sandbox's webhooks to the harness's server and starts
// its worker.
func (p *paymentDeps) start(t *testing.T, base string) {
	p.sb.SetWebhookURL(base + "/api/v1/webhooks/psp/sandbox")
	p.sb.Start(context.Background())
	t.Cleanup(p.sb.Close)
}

// methodStatus polls a method until it has status want.
func (h *harness) methodStatus(t *testing.T, auth, id, want string) *resp {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := h.do(t, req{method: "GET", path: "/api/v1/payment_methods/" + id, auth: auth, want: 200})
		if r.str("status") == want {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is %s, want %s", id, r.str("status"), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (h *harness) paymentMethodsScenario(t *testing.T) {
	ctx := context.Background()
	// A customer of its own, signed up from another address (the sign-up
	// limits per address are the identity scenario's).
	const from = "127.0.0.77"
	flow := h.do(t, req{method: "POST", path: "/api/v1/signup", noAuth: true, from: from, want: 202,
		body: map[string]any{"email": "zhao.min.methods@example.com", "phone": "+86 138 0013 8777", "password": "maple lantern river 1987"}}).str("flow_token")
	tok := bearer(h.do(t, req{method: "POST", path: "/api/v1/signup/verify", noAuth: true, from: from, want: 200, body: map[string]any{"flow_token": flow,
		"email_code": h.code(t, "zhao.min.methods@example.com", "code_verify_email"), "phone_code": h.code(t, "+8613800138777", "code_verify_phone")}}).str("session", "token"))
	card := func(number string) string {
		c, err := h.pay.sb.Tokenize(ctx, number, 12, 2030, "123")
		if err != nil {
			t.Fatal(err)
		}
		return c.Token
	}
	big := strings.Repeat(" ", httpapi.MaxBody)

	// Add a card; the webhook verifies it.
	add := h.do(t, req{method: "POST", path: "/api/v1/payment_methods/cards", auth: tok, idem: newKey(), body: map[string]any{"token": card("4242424242424242")}, want: 201})
	id := add.str("id")
	h.methodStatus(t, tok, id, "awaiting_code")
	var stmt string
	if err := h.db.Read.QueryRow(`SELECT statement_code FROM psp_sandbox_charges ORDER BY id DESC LIMIT 1`).Scan(&stmt); err != nil {
		t.Fatal(err)
	}
	wrongCode := "0000"
	if stmt == wrongCode {
		wrongCode = "1111"
	}
	h.do(t, req{method: "POST", path: "/api/v1/payment_methods/" + id + "/statement_code", auth: tok, idem: newKey(), body: map[string]any{"code": wrongCode}, want: 422, code: paymethod.EInvalidCode})
	h.do(t, req{method: "POST", path: "/api/v1/payment_methods/" + id + "/statement_code", auth: tok, idem: newKey(), body: map[string]any{"code": stmt}, want: 200})
	h.do(t, req{method: "POST", path: "/api/v1/payment_methods/cards", auth: tok, idem: newKey(), body: map[string]any{"token": card("4242424242424242")}, want: 409, code: paymethod.EDuplicateMethod})
	// CRD-04: no zero-amount authorisation at the issuer: 1 EUR, voided.
	fb := h.do(t, req{method: "POST", path: "/api/v1/payment_methods/cards", auth: tok, idem: newKey(), body: map[string]any{"token": card("4000002500000003")}, want: 201})
	if fb.str("verification", "fallback") != "auth_and_void" || fb.str("verification", "voided_at") == "" || (fb.str("status") != "verified" && fb.str("status") != "awaiting_code") {
		t.Fatalf("fallback card: %s %s %s", fb.str("status"), fb.str("verification", "fallback"), fb.str("verification", "voided_at"))
	}
	h.do(t, req{method: "POST", path: "/api/v1/payment_methods/cards", auth: tok, idem: newKey(), body: map[string]any{"token": "4242 4242 4242 4242"}, want: 400, code: httpapi.ECardDataRefused})
	h.do(t, req{method: "POST", path: "/api/v1/payment_methods/cards", auth: tok, idem: newKey(), body: map[string]any{"token": "tok_unknown"}, want: 422, code: psp.ETokenNotFound})
	h.do(t, req{method: "POST", path: "/api/v1/payment_methods/cards", auth: tok, body: map[string]any{"token": "tok_x"}, invalid: true, want: 400, code: "idempotency_key_required"})
	h.do(t, req{method: "POST", path: "/api/v1/payment_methods/cards", auth: tok, idem: newKey(), body: map[string]any{"token": "tok_x", "colour": "red"}, invalid: true, want: 400, code: "invalid_request"})
	h.do(t, req{method: "POST", path: "/api/v1/payment_methods/cards", auth: tok, idem: newKey(), body: "token=tok_x", ctype: "application/x-www-form-urlencoded", invalid: true, want: 415, code: "unsupported_media_type"})
	h.do(t, req{method: "POST", path: "/api/v1/payment_methods/cards", auth: tok, idem: newKey(), body: `{"token":"tok_x"` + big + `}`, want: 413, code: "request_too_large"})
	h.do(t, req{method: "POST", path: "/api/v1/payment_methods/cards", noAuth: true, idem: newKey(), body: map[string]any{"token": "tok_x"}, invalid: true, want: 401, code: "unauthorized"})

	// Read.
	h.do(t, req{method: "GET", path: "/api/v1/payment_methods", auth: tok, want: 200})
	h.do(t, req{method: "GET", path: "/api/v1/payment_methods?limit=500", auth: tok, invalid: true, want: 422, code: "validation_failed"})
	h.do(t, req{method: "GET", path: "/api/v1/payment_methods/pm_0000000000001", auth: tok, want: 404, code: "not_found"})

	// A bank account and its micro-deposits.
	bank := h.do(t, req{method: "POST", path: "/api/v1/payment_methods/bank_accounts", auth: tok, idem: newKey(),
		body: map[string]any{"iban": "GB82 WEST 1234 5698 7654 32", "holder": "Zhao Min", "currency": "GBP"}, want: 201})
	h.do(t, req{method: "POST", path: "/api/v1/payment_methods/bank_accounts", auth: tok, idem: newKey(),
		body: map[string]any{"iban": "GB82 WEST 1234 5698 7654 33", "holder": "Zhao Min"}, want: 422, code: "validation_failed"})
	var x, y int64
	if err := h.db.Read.QueryRow(`SELECT amount_a, amount_b FROM psp_sandbox_micro_deposits ORDER BY id DESC LIMIT 1`).Scan(&x, &y); err != nil {
		t.Fatal(err)
	}
	gbp := func(n int64) map[string]any {
		return map[string]any{"amount": "0." + string([]byte{byte('0' + n/10), byte('0' + n%10)}), "currency": "GBP"}
	}
	deposits := "/api/v1/payment_methods/" + bank.str("id") + "/micro_deposits"
	h.do(t, req{method: "POST", path: deposits, auth: tok, idem: newKey(), body: map[string]any{"amounts": []any{gbp(x%99 + 1), gbp(y)}}, want: 422, code: paymethod.EInvalidCode})
	h.do(t, req{method: "POST", path: deposits, auth: tok, idem: newKey(), body: map[string]any{"amounts": []any{gbp(x), gbp(y)}}, want: 200})
	// CRD-10: a close match is shown with the bank's name, then confirmed.
	nc := h.do(t, req{method: "POST", path: "/api/v1/payment_methods/bank_accounts", auth: tok, idem: newKey(),
		body: map[string]any{"iban": "DE89 3704 0044 0532 0130 00", "holder": "Jon Smith"}, want: 409, code: paymethod.ENameCheck})
	if nc.str("name_check", "result") != "close_match" || nc.str("name_check", "held_name") != "John Smith" {
		t.Fatalf("name check problem: %s %s", nc.str("name_check", "result"), nc.str("name_check", "held_name"))
	}
	h.do(t, req{method: "POST", path: "/api/v1/payment_methods/bank_accounts", auth: tok, idem: newKey(),
		body: map[string]any{"iban": "DE89 3704 0044 0532 0130 00", "holder": "Jon Smith", "confirm_name_check": "maybe"}, invalid: true, want: 422, code: "validation_failed"})
	cm := h.do(t, req{method: "POST", path: "/api/v1/payment_methods/bank_accounts", auth: tok, idem: newKey(),
		body: map[string]any{"iban": "DE89 3704 0044 0532 0130 00", "holder": "Jon Smith", "confirm_name_check": "close_match"}, want: 201})
	if cm.str("bank_account", "name_check", "result") != "close_match" || cm.str("bank_account", "name_check", "held_name") != "John Smith" {
		t.Fatalf("stored name check: %s", cm.str("bank_account", "name_check", "result"))
	}

	// E-wallets (CRD-10): one with an OAuth page is linked there, the API
	// giving the page and finishing on the callback.
	links := "/api/v1/payment_methods/ewallets/links"
	h.do(t, req{method: "POST", path: links, auth: tok, idem: newKey(), body: map[string]any{"provider": "bitcoin"}, want: 422, code: "validation_failed"})
	h.do(t, req{method: "POST", path: links, auth: tok, idem: newKey(), body: map[string]any{"provider": "paypal"}, want: 409, code: paymethod.ENoOAuth})
	h.do(t, req{method: "POST", path: links, auth: tok, body: map[string]any{"provider": "alipay"}, invalid: true, want: 400, code: "idempotency_key_required"})
	h.do(t, req{method: "POST", path: links, auth: tok, idem: newKey(), body: map[string]any{"provider": "alipay", "account": "x@example.com"}, invalid: true, want: 400, code: "invalid_request"})
	link := h.do(t, req{method: "POST", path: links, auth: tok, idem: newKey(), body: map[string]any{"provider": "alipay"}, want: 201})
	q := h.pay.authorize(t, link.str("authorization_url"), "Zhao.Min@example.com", true)
	linked := h.do(t, req{method: "GET", path: httpapi.EWalletCallbackPath + "?" + q.Encode(), auth: tok, want: 201})
	if linked.str("status") != "verified" || linked.str("ewallet", "linked_by") != "oauth" {
		t.Fatalf("linked: %s", linked.raw)
	}
	h.do(t, req{method: "GET", path: httpapi.EWalletCallbackPath + "?" + q.Encode(), auth: tok, want: 400, code: paymethod.ELinkInvalid})
	h.do(t, req{method: "GET", path: httpapi.EWalletCallbackPath + "?" + q.Encode(), noAuth: true, invalid: true, want: 401, code: "unauthorized"})
	h.do(t, req{method: "GET", path: httpapi.EWalletCallbackPath + "?code=abc", auth: tok, want: 422, code: "validation_failed"})
	q = h.pay.authorize(t, h.do(t, req{method: "POST", path: links, auth: tok, idem: newKey(), body: map[string]any{"provider": "alipay"}, want: 201}).str("authorization_url"), "zhao.min@example.com", true)
	h.do(t, req{method: "GET", path: httpapi.EWalletCallbackPath + "?" + q.Encode(), auth: tok, want: 409, code: paymethod.EDuplicateMethod})
	q = h.pay.authorize(t, h.do(t, req{method: "POST", path: links, auth: tok, idem: newKey(), body: map[string]any{"provider": "wechat"}, want: 201}).str("authorization_url"), "", false)
	h.do(t, req{method: "GET", path: httpapi.EWalletCallbackPath + "?" + q.Encode(), auth: tok, want: 422, code: paymethod.ELinkDenied})
	// The account id and code are only for an e-wallet without an OAuth
	// page.
	h.do(t, req{method: "POST", path: "/api/v1/payment_methods/ewallets", auth: tok, idem: newKey(), body: map[string]any{"provider": "bitcoin", "account": "zhao.min@example.com"}, want: 422, code: "validation_failed"})
	h.do(t, req{method: "POST", path: "/api/v1/payment_methods/ewallets", auth: tok, idem: newKey(), body: map[string]any{"provider": "alipay", "account": "zhao.min.methods@example.com"}, want: 409, code: paymethod.EOAuthRequired})
	ew := h.do(t, req{method: "POST", path: "/api/v1/payment_methods/ewallets", auth: tok, idem: newKey(), body: map[string]any{"provider": "paypal", "account": "zhao.min.methods@example.com"}, want: 201})
	var code string
	if err := h.db.Read.QueryRow(`SELECT code FROM psp_sandbox_ewallet_codes ORDER BY id DESC LIMIT 1`).Scan(&code); err != nil {
		t.Fatal(err)
	}
	h.do(t, req{method: "POST", path: "/api/v1/payment_methods/" + ew.str("id") + "/ewallet_code", auth: tok, idem: newKey(), body: map[string]any{"code": code}, want: 200})
	h.do(t, req{method: "POST", path: "/api/v1/payment_methods/" + ew.str("id") + "/ewallet_code", auth: tok, idem: newKey(), body: map[string]any{"code": code}, want: 409, code: paymethod.ENoCodeExpected})
	h.do(t, req{method: "POST", path: "/api/v1/payment_methods/pm_0000000000001/statement_code", auth: tok, idem: newKey(), body: map[string]any{"code": "1234"}, want: 404, code: "not_found"})
	h.do(t, req{method: "POST", path: "/api/v1/payment_methods/" + id + "/statement_code", auth: tok, idem: newKey(), body: map[string]any{"code": "1234"}, want: 409, code: paymethod.ENoCodeExpected})
	h.do(t, req{method: "POST", path: "/api/v1/payment_methods/" + id + "/statement_code", auth: tok, idem: newKey(), body: map[string]any{"code": "12"}, want: 422, code: "validation_failed"})

	// Default, then delete (the sign-up's second factor is fresh).
	h.do(t, req{method: "POST", path: "/api/v1/payment_methods/" + id + "/default", auth: tok, idem: newKey(), want: 200})
	h.do(t, req{method: "POST", path: "/api/v1/payment_methods/" + bank.str("id") + "/default", auth: tok, idem: newKey(), body: map[string]any{"x": 1}, invalid: true, want: 400, code: "invalid_request"})
	h.do(t, req{method: "POST", path: "/api/v1/payment_methods/" + id + "/delete", auth: tok, idem: newKey(), want: 200})
	h.do(t, req{method: "POST", path: "/api/v1/payment_methods/" + id + "/default", auth: tok, idem: newKey(), want: 409, code: paymethod.EMethodDeleted})
	h.do(t, req{method: "POST", path: "/api/v1/payment_methods/pm_0000000000001/delete", auth: tok, idem: newKey(), want: 404, code: "not_found"})
	h.clock.Advance(11 * time.Minute)
	h.do(t, req{method: "POST", path: "/api/v1/payment_methods/" + bank.str("id") + "/delete", auth: tok, idem: newKey(), want: 403, code: "step_up_required"})

	// The provider's webhook.
	now := h.pay.clk.Now()
	body, err := psp.EncodeEvent(psp.Event{ID: "evt_openapi_1", Type: "refund.created", Created: now, Reference: "ref_1", ObjectID: "re_1", Status: psp.StatusSucceeded})
	if err != nil {
		t.Fatal(err)
	}
	hook := func(sig string) http.Header { return http.Header{psp.SignatureHeader: {sig}} }
	h.do(t, req{method: "POST", path: "/api/v1/webhooks/psp/sandbox", noAuth: true, body: body, header: hook(psp.Sign(pspSecret, now, body)), want: 204})
	h.do(t, req{method: "POST", path: "/api/v1/webhooks/psp/sandbox", noAuth: true, body: body, header: hook(psp.Sign([]byte("whsec_other_0123456789abcdef"), now, body)), want: 400, code: psp.EBadSignature})
	h.do(t, req{method: "POST", path: "/api/v1/webhooks/psp/sandbox", noAuth: true, body: body, header: hook(psp.Sign(pspSecret, now.Add(-time.Hour), body)), want: 400, code: psp.EStale})
	bad := []byte(`{"id":"evt_x"}`)
	h.do(t, req{method: "POST", path: "/api/v1/webhooks/psp/sandbox", noAuth: true, body: bad, header: hook(psp.Sign(pspSecret, now, bad)), invalid: true, want: 422, code: "validation_failed"})
}
