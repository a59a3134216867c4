package httpapi

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
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

	"github.com/okpay/okpay/audit"
	"github.com/okpay/okpay/clock"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/notify"
	"github.com/okpay/okpay/paymethod"
	"github.com/okpay/okpay/psp"
	"github.com/okpay/okpay/psp/sandbox"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

// pmSecret signs the sandbox's webhooks in these tests.
var pmSecret = []byte("whsec_httpapi_methods_0123456789abcdef")

// providerClock is the sandbox's clock: the fixture's manual clock plus
// the real time elapsed, so its settlements and retries come due while a
// test waits.
type providerClock struct {
	m     *clock.Manual
	start time.Time
}

func (c providerClock) Now() time.Time { return c.m.Now().Add(time.Since(c.start)) }

// pmNotifier is the payment methods' Notifier as serve builds it: notices
// rendered by the identity service, queued in the caller's transaction.
type pmNotifier struct{ id *identity.Service }

func (n pmNotifier) Notify(ctx context.Context, tx *sql.Tx, userID int64, kind string, data map[string]any) error {
	party, err := n.id.LoadParty(ctx, userID)
	if err != nil {
		return err
	}
	meta := &identity.Meta{}
	if r, ok := paymethod.RequestFrom(ctx); ok {
		meta.IP, meta.UserAgent = r.IP, r.UserAgent
	}
	event, _ := data["MethodID"].(string)
	nt, err := n.id.PrepareNotice(party, identity.MoneyNotice{Kind: kind, Event: event, Data: data,
		Channels: []string{notify.ChannelEmail, notify.ChannelInApp}, FreezeLink: true, Meta: meta})
	if err != nil {
		return err
	}
	return n.id.WriteNotices(ctx, tx, nt)
}

// pmFixture is the identity fixture with the payment methods over the
// built-in sandbox, whose webhooks reach the API's endpoint over HTTP.
type pmFixture struct {
	*idFixture
	sb   *sandbox.Sandbox
	pm   *paymethod.Service
	pclk providerClock
	// extra handlers of the webhook, set before the first event.
	hook *PSPWebhook
}

func newPMFixture(t *testing.T, db *sqldb.DB, mod func(*PSPWebhook)) *pmFixture {
	t.Helper()
	f := &pmFixture{idFixture: newIDFixture(t, db)}
	srv := httptest.NewUnstartedServer(nil)
	f.pclk = providerClock{m: f.clock, start: time.Now()}
	var err error
	f.sb, err = sandbox.New(sandbox.Options{
		DB: db, Clock: f.pclk, IDs: f.svc.IDs, Secret: pmSecret, WebhookURL: "http://" + srv.Listener.Addr().String() + "/api/v1/webhooks/psp/sandbox",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Catalog: f.svc.Catalog,
		Delay: -1, Poll: 10 * time.Millisecond, Lease: 2 * time.Second,
		Backoff: func(int) time.Duration { return 10 * time.Millisecond },
	})
	if err != nil {
		t.Fatal(err)
	}
	f.pm, err = paymethod.New(paymethod.Deps{DB: db, Clock: f.clock, IDs: f.svc.IDs, Provider: f.sb, Notifier: pmNotifier{id: f.svc},
		Sealer: f.svc.Keys.Sealer("paymethod/account"), MAC: f.svc.Keys.MAC("paymethod")})
	if err != nil {
		t.Fatal(err)
	}
	f.hook = &PSPWebhook{Secrets: [][]byte{pmSecret}, DB: db, Clock: f.pclk, InTx: []PSPEventHandler{f.pm.ApplyEvent}}
	if mod != nil {
		mod(f.hook)
	}
	api := New(Config{Catalog: f.svc.Catalog, Identity: f.svc, Methods: f.pm, PSPWebhook: f.hook})
	mux := http.NewServeMux()
	api.Register(mux)
	mux.Handle("/sandbox/", f.sb.Handler())
	srv.Config.Handler = api.Observe(mux)
	srv.Start()
	t.Cleanup(srv.Close)
	f.srv = srv
	f.sb.Start(context.Background())
	t.Cleanup(f.sb.Close)
	return f
}

// cardToken tokenizes a card at the sandbox, as a client app does.
func (f *pmFixture) cardToken(number string) string {
	f.t.Helper()
	r := f.want(f.do(call{method: "POST", path: "/sandbox/v1/tokens", body: map[string]any{"number": number, "exp": "12/30", "cvc": "123"}}), 201, "")
	return r.str("token")
}

// waitStatus polls the API until the method has status want.
func (f *pmFixture) waitStatus(c *customer, id, want string) *reply {
	f.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := f.want(f.do(call{method: "GET", path: "/api/v1/payment_methods/" + id, token: c.token}), 200, "")
		if r.str("status") == want {
			return r
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("%s is %s, want %s: %s", id, r.str("status"), want, r.raw)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var keySeq atomic.Int64

func nextKey() string { return fmt.Sprintf("pm-key-%d", keySeq.Add(1)) }

// The description's "change bank card" over the API: add a card from a
// token (CRD-04), the webhook verifies it, make it the default, add
// another, delete the old one with a fresh second factor (CRD-08).
func TestPaymentMethodsAPI(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		f := newPMFixture(t, db, nil)
		c := f.signUp("")
		tok := f.cardToken("4242 4242 4242 4242")

		f.want(f.do(call{method: "POST", path: "/api/v1/payment_methods/cards", token: c.token, body: map[string]any{"token": tok}}), 400, EIdempotencyKeyRequired)
		body := map[string]any{"token": tok, "return_url": "https://app.okpay.test/methods"}
		first := f.want(f.do(call{method: "POST", path: "/api/v1/payment_methods/cards", token: c.token, key: "card-1", body: body}), 201, "")
		old := first.str("id")
		if !strings.HasPrefix(old, "pm_") || first.str("kind") != "card" || first.str("label") != "visa •••• 4242" || first.str("object") != "payment_method" {
			t.Fatalf("card: %s", first.raw)
		}
		// CRD-03: brand, last4 and expiry only; no token, fingerprint,
		// funding or issuer.
		card, _ := first.obj["card"].(map[string]any)
		if len(card) != 4 || card["brand"] != "visa" || card["last4"] != "4242" || card["exp_month"] != 12.0 || card["exp_year"] != 2030.0 {
			t.Errorf("card object %v", card)
		}
		for _, leak := range []string{tok, "fingerprint", "funding", "issuer", "psp_token", "424242424242"} {
			if bytes.Contains(first.raw, []byte(leak)) {
				t.Errorf("the answer shows %q: %s", leak, first.raw)
			}
		}
		if first.str("hold_until") == "" {
			t.Errorf("no hold_until: %s", first.raw)
		}
		again := f.do(call{method: "POST", path: "/api/v1/payment_methods/cards", token: c.token, key: "card-1", body: body})
		if again.status != 201 || again.header.Get("Idempotent-Replayed") != "true" || !bytes.Equal(again.raw, first.raw) {
			t.Fatalf("replay: %d %s", again.status, again.raw)
		}
		f.want(f.do(call{method: "POST", path: "/api/v1/payment_methods/cards", token: c.token, key: "card-1", body: map[string]any{"token": tok}}), 422, "idempotency_key_reused")
		// The same card again under another key: a duplicate.
		f.want(f.do(call{method: "POST", path: "/api/v1/payment_methods/cards", token: c.token, key: nextKey(), body: map[string]any{"token": f.cardToken("4242424242424242")}}), 409, paymethod.EDuplicateMethod)
		f.want(f.do(call{method: "POST", path: "/api/v1/payment_methods/cards", token: c.token, key: nextKey(), body: map[string]any{"token": "tok_unknown"}}), 422, psp.ETokenNotFound)
		f.want(f.do(call{method: "POST", path: "/api/v1/payment_methods/cards", token: c.token, key: nextKey(), body: map[string]any{"token": tok, "return_url": "javascript:alert(1)"}}), 422, "validation_failed")

		v := f.waitStatus(c, old, "verified")
		if v.str("verified_at") == "" {
			t.Errorf("verified without verified_at: %s", v.raw)
		}
		d := f.want(f.do(call{method: "POST", path: "/api/v1/payment_methods/" + old + "/default", token: c.token, key: nextKey()}), 200, "")
		if d.obj["default"] != true {
			t.Errorf("default: %s", d.raw)
		}

		// A new card with 3-D Secure: the client opens action_url; the
		// webhook verifies the card after the challenge.
		nw := f.want(f.do(call{method: "POST", path: "/api/v1/payment_methods/cards", token: c.token, key: nextKey(),
			body: map[string]any{"token": f.cardToken("4000 0000 0000 3220"), "return_url": "/account/methods"}}), 201, "")
		ver, _ := nw.obj["verification"].(map[string]any)
		action, _ := ver["action_url"].(string)
		if nw.str("status") != "requires_action" || !strings.HasPrefix(action, "/sandbox/3ds/ch_") {
			t.Fatalf("3-D Secure: %s", nw.raw)
		}
		req, _ := http.NewRequest("POST", f.srv.URL+action, strings.NewReader("outcome=complete"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		f.waitStatus(c, nw.str("id"), "verified")

		// The list, newest first, a page at a time.
		l := f.want(f.do(call{method: "GET", path: "/api/v1/payment_methods?limit=1", token: c.token}), 200, "")
		data, _ := l.obj["data"].([]any)
		if len(data) != 1 || data[0].(map[string]any)["id"] != nw.str("id") || l.obj["has_more"] != true || l.str("next_cursor") != nw.str("id") {
			t.Fatalf("page 1: %s", l.raw)
		}
		l = f.want(f.do(call{method: "GET", path: "/api/v1/payment_methods?limit=1&cursor=" + l.str("next_cursor"), token: c.token}), 200, "")
		data, _ = l.obj["data"].([]any)
		if len(data) != 1 || data[0].(map[string]any)["id"] != old || l.obj["has_more"] != false || l.obj["next_cursor"] != nil {
			t.Fatalf("page 2: %s", l.raw)
		}
		f.want(f.do(call{method: "GET", path: "/api/v1/payment_methods?limit=0", token: c.token}), 422, "validation_failed")
		f.want(f.do(call{method: "GET", path: "/api/v1/payment_methods?cursor=x", token: c.token}), 422, "validation_failed")

		// Delete the old card: the sudo window has closed.
		f.clock.Advance(11 * time.Minute)
		f.want(f.do(call{method: "POST", path: "/api/v1/payment_methods/" + old + "/delete", token: c.token, key: "del-1"}), 403, "step_up_required")
		c.token = f.stepUp(c, c.token)
		del := f.want(f.do(call{method: "POST", path: "/api/v1/payment_methods/" + old + "/delete", token: c.token, key: "del-1"}), 200, "")
		if del.str("deleted_at") == "" || del.obj["default"] != false {
			t.Fatalf("deleted: %s", del.raw)
		}
		l = f.want(f.do(call{method: "GET", path: "/api/v1/payment_methods", token: c.token}), 200, "")
		if data, _ := l.obj["data"].([]any); len(data) != 1 {
			t.Fatalf("after the delete: %s", l.raw)
		}
		_, err = f.sb.Card(context.Background(), tok)
		if err == nil {
			t.Error("the deleted card's token still works at the provider (CRD-08)")
		}
		if len(f.messages(c.email, paymethod.NoteRemoved)) != 1 || len(f.messages(c.email, paymethod.NoteAdded)) != 2 {
			t.Error("the changes were not notified (NOT-01)")
		}

		// API-02: another customer finds nothing.
		o := f.signUp("")
		for _, q := range []call{
			{method: "GET", path: "/api/v1/payment_methods/" + nw.str("id")},
			{method: "POST", path: "/api/v1/payment_methods/" + nw.str("id") + "/delete", key: nextKey()},
			{method: "POST", path: "/api/v1/payment_methods/" + nw.str("id") + "/default", key: nextKey()},
			{method: "POST", path: "/api/v1/payment_methods/" + nw.str("id") + "/statement_code", key: nextKey(), body: map[string]any{"code": "1234"}},
			{method: "GET", path: "/api/v1/payment_methods/pm_zzz"},
		} {
			q.token = o.token
			f.want(f.do(q), 404, "not_found")
		}
		f.want(f.do(call{method: "GET", path: "/api/v1/payment_methods"}), 401, "unauthorized")
	})
}

// CRD-10: bank accounts with micro-deposits (money objects in the
// account's currency) and e-wallets with a code, over the API.
func TestPaymentMethodsAPIBankAccountAndEWallet(t *testing.T) {
	t.Parallel()
	f := newPMFixture(t, sqldbtest.Open(t, sqldb.SQLite), nil)
	c := f.signUp("")
	f.want(f.do(call{method: "POST", path: "/api/v1/payment_methods/bank_accounts", token: c.token, key: nextKey(),
		body: map[string]any{"iban": "DE89 3704 0044 0532 0130 01", "holder": "Li Wei"}}), 422, "validation_failed")
	f.want(f.do(call{method: "POST", path: "/api/v1/payment_methods/bank_accounts", token: c.token, key: nextKey(),
		body: map[string]any{"iban": "DE89370400440532013000", "holder": "Li Wei", "currency": "XYZ"}}), 422, "validation_failed")
	b := f.want(f.do(call{method: "POST", path: "/api/v1/payment_methods/bank_accounts", token: c.token, key: nextKey(),
		body: map[string]any{"iban": "DE89370400440532013000", "holder": "Li Wei"}}), 201, "")
	if b.str("status") != "awaiting_code" || b.str("label") != "DE89 •••• 3000" || bytes.Contains(b.raw, []byte("370400440532013000")) {
		t.Fatalf("bank account: %s", b.raw)
	}
	acct, _ := b.obj["bank_account"].(map[string]any)
	if acct["currency"] != "EUR" || acct["last4"] != "3000" || acct["holder"] != "Li Wei" {
		t.Errorf("bank account object %v", acct)
	}
	var x, y int64
	if err := f.db.Read.QueryRow(`SELECT amount_a, amount_b FROM psp_sandbox_micro_deposits ORDER BY id DESC LIMIT 1`).Scan(&x, &y); err != nil {
		t.Fatal(err)
	}
	amt := func(n int64, cur string) map[string]any {
		return map[string]any{"amount": fmt.Sprintf("0.%02d", n), "currency": cur}
	}
	path := "/api/v1/payment_methods/" + b.str("id") + "/micro_deposits"
	f.want(f.do(call{method: "POST", path: path, token: c.token, key: nextKey(), body: map[string]any{"amounts": []any{amt(x, "USD"), amt(y, "USD")}}}), 422, "validation_failed")
	f.want(f.do(call{method: "POST", path: path, token: c.token, key: nextKey(), body: map[string]any{"amounts": []any{amt(x, "EUR")}}}), 422, "validation_failed")
	f.want(f.do(call{method: "POST", path: path, token: c.token, key: nextKey(), body: map[string]any{"amounts": []any{map[string]any{"amount": 0.12, "currency": "EUR"}, amt(y, "EUR")}}}), 422, "")
	wrong := x%99 + 1
	r := f.want(f.do(call{method: "POST", path: path, token: c.token, key: nextKey(), body: map[string]any{"amounts": []any{amt(wrong, "EUR"), amt(y, "EUR")}}}), 422, paymethod.EInvalidCode)
	if r.str("errors", "attempts_left") != "2" {
		t.Errorf("wrong amounts: %s", r.raw)
	}
	v := f.want(f.do(call{method: "POST", path: path, token: c.token, key: nextKey(), body: map[string]any{"amounts": []any{amt(y, "EUR"), amt(x, "EUR")}}}), 200, "")
	if v.str("status") != "verified" {
		t.Fatalf("after the amounts: %s", v.raw)
	}
	f.want(f.do(call{method: "POST", path: path, token: c.token, key: nextKey(), body: map[string]any{"amounts": []any{amt(y, "EUR"), amt(x, "EUR")}}}), 409, paymethod.ENoCodeExpected)

	f.want(f.do(call{method: "POST", path: "/api/v1/payment_methods/ewallets", token: c.token, key: nextKey(),
		body: map[string]any{"provider": "bitcoin", "account": "li.wei@example.com"}}), 422, "validation_failed")
	// CRD-10: the sandbox links every e-wallet by OAuth, so the code path
	// is closed and the link is the way (TestEWalletOAuthLinkAPI).
	f.want(f.do(call{method: "POST", path: "/api/v1/payment_methods/ewallets", token: c.token, key: nextKey(),
		body: map[string]any{"provider": "alipay", "account": "Li.Wei@example.com"}}), 409, paymethod.EOAuthRequired)
	ew := f.linkEWallet(c.token, "alipay", "Li.Wei@example.com")
	wallet, _ := ew.obj["ewallet"].(map[string]any)
	if ew.str("status") != "verified" || wallet["provider"] != "alipay" || wallet["account"] != "l•••@example.com" || wallet["linked_by"] != "oauth" {
		t.Errorf("e-wallet %s", ew.raw)
	}
	// Frozen accounts are read-only (RSK-05).
	uid := f.user(c)
	if err := f.svc.Freeze(context.Background(), uid, "self:test", c.id, identity.Meta{}); err != nil {
		t.Fatal(err)
	}
	tok := f.login(c, "")
	f.want(f.do(call{method: "POST", path: "/api/v1/payment_methods/" + ew.str("id") + "/delete", token: tok, key: nextKey()}), 403, identity.EAccountFrozen)
	f.want(f.do(call{method: "GET", path: "/api/v1/payment_methods", token: tok}), 200, "")
}

// user returns a customer's user id.
func (f *pmFixture) user(c *customer) int64 {
	f.t.Helper()
	var id int64
	if err := f.db.Read.QueryRow(`SELECT id FROM users WHERE email = $1`, c.email).Scan(&id); err != nil {
		f.t.Fatal(err)
	}
	return id
}

// CRD-01: a Luhn-valid 13–19 digit run in any field of a request is 400
// card_data_refused and a malicious_input security event; the number is
// neither stored nor echoed nor logged. A valid IBAN's digits are not a
// card number.
func TestCRD01_CardNumbersAreRefused(t *testing.T) {
	t.Parallel()
	f := newPMFixture(t, sqldbtest.Open(t, sqldb.SQLite), nil)
	c := f.signUp("")
	for _, q := range []struct{ path, body string }{
		{"/api/v1/payment_methods/cards", `{"token":"4242424242424242"}`},
		{"/api/v1/payment_methods/cards", `{"token":"4242 4242 4242 4242"}`},
		{"/api/v1/payment_methods/cards", `{"token":4242424242424242}`},
		{"/api/v1/payment_methods/cards", `{"token":"tok_abc","return_url":"/x?n=5555-5555-5555-4444"}`},
		{"/api/v1/payment_methods/cards", `{"token":"tok_abc","extra":["a",{"deep":"378282246310005"}]}`},
		{"/api/v1/payment_methods/cards", `{"4242424242424242":"tok_abc"}`},
		{"/api/v1/payment_methods/bank_accounts", `{"iban":"DE89370400440532013000","holder":"Li 6200000000000005"}`},
		{"/api/v1/payment_methods/ewallets", `{"provider":"alipay","account":"4000000000000077"}`},
		{"/api/v1/payment_methods/cards", `not json 4242424242424242`},
	} {
		r := f.do(call{method: "POST", path: q.path, token: c.token, key: nextKey(), body: q.body})
		f.want(r, 400, ECardDataRefused)
		for _, pan := range []string{"4242424242424242", "4242 4242", "5555-5555", "378282246310005", "6200000000000005", "4000000000000077"} {
			if bytes.Contains(r.raw, []byte(pan)) {
				t.Errorf("%s %s: the answer echoes the number: %s", q.path, q.body, r.raw)
			}
		}
	}
	entries, err := audit.New(f.db).List(context.Background(), c.id, 100, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if e.Name == audit.MaliciousInput && e.Outcome == audit.Failure {
			n++
			for _, v := range e.Details {
				if strings.Contains(v, "4242424242") {
					t.Errorf("the event keeps the number: %v", e.Details)
				}
			}
		}
	}
	if n != 9 {
		t.Errorf("%d malicious_input events, want 9", n)
	}
	var methods int
	if err := f.db.Read.QueryRow(`SELECT COUNT(*) FROM payment_methods`).Scan(&methods); err != nil || methods != 0 {
		t.Fatalf("%d methods (%v)", methods, err)
	}
	// A valid IBAN (GB82 WEST 1234 5698 7654 32 has a 14-digit run) passes.
	f.want(f.do(call{method: "POST", path: "/api/v1/payment_methods/bank_accounts", token: c.token, key: nextKey(),
		body: map[string]any{"iban": "GB82 WEST 1234 5698 7654 32", "holder": "Li Wei", "currency": "GBP"}}), 201, "")
}

// panField finds card numbers wherever they are in a JSON body, and only
// there.
func TestPanField(t *testing.T) {
	for body, want := range map[string]string{
		`{"a":"4242424242424242"}`:                         "a",
		`{"a":{"b":[1,"x 4242-4242-4242-4242"]}}`:          "b",
		`[4242424242424242]`:                               "",
		`{"iban":"DE89370400440532013000"}`:                "-",
		`{"a":"+8613812345678"}`:                           "-",
		`{"a":"tok_abc","b":12,"c":true,"d":null}`:         "-",
		`{"amounts":[{"amount":"0.12","currency":"EUR"}]}`: "-",
	} {
		got, found := panField([]byte(body))
		switch {
		case want == "-" && found:
			t.Errorf("%s: found in %q", body, got)
		case want != "-" && (!found || got != want):
			t.Errorf("%s: got %q %v, want %q", body, got, found, want)
		}
	}
}

// holdsPAN reports whether a decoded JSON value has a key or value with a
// card number, not counting valid IBANs.
func holdsPAN(v any) bool {
	switch x := v.(type) {
	case string:
		if paymethod.ContainsPAN(x) {
			_, err := paymethod.ParseIBAN(x)
			return err != nil
		}
	case json.Number:
		return paymethod.ContainsPAN(x.String())
	case []any:
		for _, e := range x {
			if holdsPAN(e) {
				return true
			}
		}
	case map[string]any:
		for k, e := range x {
			if holdsPAN(k) || holdsPAN(e) {
				return true
			}
		}
	}
	return false
}

func FuzzPanField(f *testing.F) {
	for _, s := range []string{`{"token":"tok_abc"}`, `{"a":"4242424242424242"}`, `[{"x":[1,2,{"y":"5555 5555 5555 4444"}]}]`,
		`{"iban":"GB82WEST12345698765432"}`, `{"a":`, `"4242424242424242"`, ``, `{"a":"\u0034242424242424242"}`,
		`0000000000000`, `{"\u0000000000000"`} { // the last two: found by the fuzzer
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		_, found := panField([]byte(body))
		dec := json.NewDecoder(strings.NewReader(body))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil || dec.More() {
			// Not one JSON value: scanned as text.
			if !found && paymethod.ContainsPAN(body) {
				t.Fatalf("a body that is not JSON passed with a card number: %q", body)
			}
			return
		}
		if holdsPAN(v) && !found {
			t.Fatalf("a card number passed: %q", body)
		}
	})
}

// authorize plays the e-wallet's owner on the sandbox's authorisation
// page: it allows (or denies) the link and returns the query the browser
// is sent back to the API's callback with.
func (f *pmFixture) authorize(auth, account string, allow bool) url.Values {
	f.t.Helper()
	u, err := url.Parse(auth)
	if err != nil {
		f.t.Fatal(err)
	}
	form := u.Query()
	form.Set("account", account)
	form.Set("action", map[bool]string{true: "allow", false: "deny"}[allow])
	req := httptest.NewRequest("POST", u.Path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	f.sb.Handler().ServeHTTP(w, req)
	if w.Code != http.StatusSeeOther {
		f.t.Fatalf("authorise: %d %s", w.Code, w.Body)
	}
	back, err := url.Parse(w.Header().Get("Location"))
	if err != nil || back.Path != EWalletCallbackPath {
		f.t.Fatalf("sent back to %q", w.Header().Get("Location"))
	}
	return back.Query()
}

// startLink starts an e-wallet link with the API.
func (f *pmFixture) startLink(token, provider string) *reply {
	f.t.Helper()
	return f.want(f.do(call{method: "POST", path: "/api/v1/payment_methods/ewallets/links", token: token, key: nextKey(),
		body: map[string]any{"provider": provider}}), 201, "")
}

// linkEWallet links account at provider through the API, as an app does.
func (f *pmFixture) linkEWallet(token, provider, account string) *reply {
	f.t.Helper()
	q := f.authorize(f.startLink(token, provider).str("authorization_url"), account, true)
	return f.want(f.do(call{method: "GET", path: EWalletCallbackPath + "?" + q.Encode(), token: token}), 201, "")
}

// CRD-10 in the JSON API: an e-wallet is linked on its provider's
// authorisation page, the API returning the page and finishing on the
// callback; the link is bound to the session that started it, used once
// and expires, with PKCE between OKPay and the provider.
func TestEWalletOAuthLinkAPI(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		f := newPMFixture(t, db, nil)
		c := f.signUp("")
		callback := func(token string, q url.Values) *reply {
			return f.do(call{method: "GET", path: EWalletCallbackPath + "?" + q.Encode(), token: token})
		}

		l := f.startLink(c.token, " Alipay ")
		auth, err := url.Parse(l.str("authorization_url"))
		if err != nil {
			t.Fatal(err)
		}
		aq := auth.Query()
		if l.str("object") != "ewallet_link" || l.str("provider") != "alipay" || l.str("redirect_uri") != EWalletCallbackPath ||
			auth.Path != "/sandbox/oauth/alipay/authorize" || aq.Get("redirect_uri") != EWalletCallbackPath ||
			aq.Get("code_challenge_method") != "S256" || len(aq.Get("code_challenge")) != 43 || len(aq.Get("state")) < 32 {
			t.Fatalf("link: %s", l.raw)
		}
		exp, err := time.Parse(time.RFC3339Nano, l.str("expires_at"))
		if err != nil || !exp.Equal(f.clock.Now().Add(10*time.Minute)) {
			t.Fatalf("expires_at %q (now %v)", l.str("expires_at"), f.clock.Now())
		}
		if strings.Contains(string(l.raw), "verifier") {
			t.Fatalf("the answer names the PKCE verifier: %s", l.raw)
		}
		q := f.authorize(l.str("authorization_url"), "Li.Wei@Example.com", true)

		// Another session of the same customer cannot finish it, and
		// trying does not use it up.
		other := f.login(c, "")
		f.want(callback(other, q), 400, paymethod.ELinkInvalid)
		f.want(f.do(call{method: "GET", path: EWalletCallbackPath + "?" + q.Encode()}), 401, "unauthorized")
		// Malformed callbacks are refused before the link is looked at.
		f.want(callback(c.token, url.Values{"code": {q.Get("code")}}), 422, "validation_failed")
		f.want(callback(c.token, url.Values{"state": {q.Get("state")}}), 422, "validation_failed")
		f.want(callback(c.token, url.Values{"state": {q.Get("state")}, "code": {q.Get("code")}, "account": {"mallory@example.com"}}), 422, "validation_failed")
		f.want(callback(c.token, url.Values{"state": {q.Get("state"), "x"}, "code": {q.Get("code")}}), 422, "validation_failed")

		m := f.want(callback(c.token, q), 201, "")
		wallet, _ := m.obj["ewallet"].(map[string]any)
		if m.str("status") != "verified" || m.str("kind") != "ewallet" || wallet["account"] != "l•••@example.com" || wallet["linked_by"] != "oauth" || m.str("hold_until") == "" {
			t.Fatalf("linked: %s", m.raw)
		}
		// Single use.
		f.want(callback(c.token, q), 400, paymethod.ELinkInvalid)
		// The same account again is a duplicate.
		q = f.authorize(f.startLink(c.token, "alipay").str("authorization_url"), "li.wei@example.com", true)
		f.want(callback(c.token, q), 409, paymethod.EDuplicateMethod)
		// Denied at the provider.
		q = f.authorize(f.startLink(c.token, "wechat").str("authorization_url"), "", false)
		if q.Get("error") != "access_denied" {
			t.Fatalf("denied: %v", q)
		}
		f.want(callback(c.token, q), 422, paymethod.ELinkDenied)
		// A forged code, then an unknown state.
		q = f.authorize(f.startLink(c.token, "wechat").str("authorization_url"), "wxid_li_wei", true)
		q.Set("code", "forged-code")
		f.want(callback(c.token, q), 400, paymethod.ELinkInvalid)
		q.Set("state", "unknown-state-0123456789")
		f.want(callback(c.token, q), 400, paymethod.ELinkInvalid)

		// Starting needs a provider offered and a recent second factor.
		f.want(f.do(call{method: "POST", path: "/api/v1/payment_methods/ewallets/links", token: c.token, key: nextKey(), body: map[string]any{"provider": "bitcoin"}}), 422, "validation_failed")
		f.want(f.do(call{method: "POST", path: "/api/v1/payment_methods/ewallets/links", token: c.token, key: nextKey(), body: map[string]any{}}), 422, "validation_failed")
		f.want(f.do(call{method: "POST", path: "/api/v1/payment_methods/ewallets/links", token: c.token, body: map[string]any{"provider": "paypal"}}), 400, "idempotency_key_required")
		q = f.authorize(f.startLink(c.token, "paypal").str("authorization_url"), "li.wei@example.com", true)
		f.clock.Advance(10*time.Minute + time.Second)
		f.want(f.do(call{method: "POST", path: "/api/v1/payment_methods/ewallets/links", token: c.token, key: nextKey(), body: map[string]any{"provider": "paypal"}}), 403, "step_up_required")
		// Too late: expired, and used up by the attempt.
		f.want(callback(c.token, q), 422, paymethod.ELinkExpired)
		f.want(callback(c.token, q), 400, paymethod.ELinkInvalid)

		list := f.want(f.do(call{method: "GET", path: "/api/v1/payment_methods", token: c.token}), 200, "")
		if data, _ := list.obj["data"].([]any); len(data) != 1 {
			t.Fatalf("methods: %s", list.raw)
		}
	})
}
