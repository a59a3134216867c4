package main

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// serve wires the withdrawals: the API's routes, the customers' pages and
// the reviewers' pages exist, and the withdrawals consult the payment
// methods (a card verified a moment ago may not receive money for 24
// hours). The whole flow, review and payout included, is walked by
// web/faq_browser_test.go and the API's conformance test over the same
// wiring (buildWithdrawals).
func TestServeWithdrawals(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := startInProc(t, noEnv, "--addr", "127.0.0.1:0", "--database", "sqlite:"+filepath.Join(dir, "okpay.db"), "--log-level", "warn")
	c := &scanClient{t: t, base: s.url}
	email, phone := "withdraw@example.com", "+8613800138667"
	flow := c.call("POST", "/api/v1/signup", map[string]any{"email": email, "phone": phone, "password": "amber quiet lighthouse stairs"}, 202)["flow_token"].(string)
	done := c.call("POST", "/api/v1/signup/verify", map[string]any{"flow_token": flow,
		"email_code": mailCode(t, s.url, email, "code_verify_email"), "phone_code": mailCode(t, s.url, phone, "code_verify_phone")}, 200)
	c.token = done["session"].(map[string]any)["token"].(string)

	tok := c.call("POST", "/sandbox/v1/tokens", map[string]any{"number": "4242 4242 4242 4242", "exp": "12/30", "cvc": "123"}, 201)["token"].(string)
	id := c.call("POST", "/api/v1/payment_methods/cards", map[string]any{"token": tok}, 201)["id"].(string)
	deadline := time.Now().Add(60 * time.Second)
	for {
		m := c.call("GET", "/api/v1/payment_methods/"+id, nil, 200)
		if m["status"] == "verified" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the card was not verified: %v\nstderr:\n%s", m, s.stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	body := map[string]any{"payment_method": id, "amount": map[string]any{"amount": "10.00", "currency": "CNY"}}
	p := c.call("POST", "/api/v1/withdrawals/quote", body, 403)
	if p["code"] != "method_hold" || p["hold_until"] == nil {
		t.Errorf("a withdrawal to a card verified a moment ago: %v", p)
	}
	c.call("POST", "/api/v1/withdrawals", body, 403)
	c.call("GET", "/api/v1/withdrawals/txn_0000000000001", nil, 404)

	// The pages: the customers' need a session, the reviewers' a staff
	// session.
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for path, want := range map[string]string{"/wallet/withdraw": "/login", "/staff/withdrawals": "/staff/login"} {
		res, err := noRedirect.Get(s.url + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), want) {
			t.Errorf("%s without a session: %d %s", path, res.StatusCode, res.Header.Get("Location"))
		}
	}
	s.stop(t)
}
