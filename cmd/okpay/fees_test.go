package main

import (
	"path/filepath"
	"testing"
	"time"
)

// depositFees charges 2.5% + CN¥1.00 on CNY card deposits; transfers pay
// 1% (everything else is free).
const depositFees = `[[rule]]
operation = "deposit"
currency = "*"

[[rule]]
operation = "deposit"
currency = "CNY"
method = "card"
percent_bp = 250
fixed = "1.00"

[[rule]]
operation = "transfer"
currency = "*"
percent_bp = 100
`

// TestServeFeesFileChangesTheFeeCharged: serve --fees FILE prices
// operations by the file, not by the built-in schedule (where deposits
// are free): the deposit quote says 2.5% + 1.00, and a real card deposit
// through the sandbox credits the wallet with the amount less that fee.
func TestServeFeesFileChangesTheFeeCharged(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := startInProc(t, noEnv, "--addr", "127.0.0.1:0", "--database", "sqlite:"+filepath.Join(dir, "okpay.db"), "--log-level", "warn",
		"--fees", writeFile(t, "fees.toml", depositFees))
	c := &scanClient{t: t, base: s.url}
	email, phone := "fees@example.com", "+8613800138668"
	flow := c.call("POST", "/api/v1/signup", map[string]any{"email": email, "phone": phone, "password": "amber quiet lighthouse stairs"}, 202)["flow_token"].(string)
	done := c.call("POST", "/api/v1/signup/verify", map[string]any{"flow_token": flow,
		"email_code": mailCode(t, s.url, email, "code_verify_email"), "phone_code": mailCode(t, s.url, phone, "code_verify_phone")}, 200)
	c.token = done["session"].(map[string]any)["token"].(string)

	amount := map[string]any{"amount": "100.00", "currency": "CNY"}
	q := c.call("POST", "/api/v1/deposits/quote", map[string]any{"amount": amount}, 200)
	if fee := q["fee"].(map[string]any)["amount"]; fee != "3.50" || q["net"].(map[string]any)["amount"] != "96.50" {
		t.Fatalf("deposit quote with the file's rule: %v", q)
	}
	usd := c.call("POST", "/api/v1/deposits/quote", map[string]any{"amount": map[string]any{"amount": "100.00", "currency": "USD"}}, 200)
	if usd["fee"].(map[string]any)["amount"] != "0.00" {
		t.Fatalf("USD deposits are free in the file: %v", usd)
	}

	tok := c.call("POST", "/sandbox/v1/tokens", map[string]any{"number": "4242 4242 4242 4242", "exp": "12/30", "cvc": "123"}, 201)["token"].(string)
	id := c.call("POST", "/api/v1/payment_methods/cards", map[string]any{"token": tok}, 201)["id"].(string)
	deadline := time.Now().Add(60 * time.Second)
	for c.call("GET", "/api/v1/payment_methods/"+id, nil, 200)["status"] != "verified" {
		if time.Now().After(deadline) {
			t.Fatalf("the card was not verified\nstderr:\n%s", s.stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	dep := c.call("POST", "/api/v1/deposits", map[string]any{"payment_method": id, "amount": amount}, 201)
	if fee, _ := dep["fee"].(map[string]any); fee["amount"] != "3.50" {
		t.Fatalf("deposit: %v", dep)
	}
	for {
		var cny map[string]any
		for _, w := range c.call("GET", "/api/v1/wallets", nil, 200)["data"].([]any) {
			if w := w.(map[string]any); w["currency"] == "CNY" {
				cny = w
			}
		}
		if bal, _ := cny["balance"].(map[string]any); bal != nil && bal["available"].(map[string]any)["amount"] == "96.50" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the wallet after the deposit: %v\nstderr:\n%s", cny, s.stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.stop(t)
}
