package main

import (
	"bytes"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// mailBody returns the body of the newest message of kind to "to" in the
// dev mailbox page.
func mailBody(t *testing.T, base, to, kind string) string {
	t.Helper()
	for i := 0; i < 200; i++ {
		res, err := http.Get(base + "/dev/mailbox")
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(res.Body)
		res.Body.Close()
		for _, m := range mailRE.FindAllStringSubmatch(string(page), -1) {
			if html.UnescapeString(m[1]) == to && m[2] == kind {
				return html.UnescapeString(m[3])
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no %s for %s in the dev mailbox", kind, to)
	return ""
}

// serve wires the payment side: the sandbox at /sandbox/, its webhooks
// (signed with a secret derived from the master key) delivered to the
// listener's own address, the payment methods' API and pages, and their
// notices through the identity service (a freeze link in each).
func TestServePaymentMethods(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := startInProc(t, noEnv, "--addr", "127.0.0.1:0", "--database", "sqlite:"+filepath.Join(dir, "okpay.db"), "--log-level", "warn")
	c := &scanClient{t: t, base: s.url}
	email, phone := "cards@example.com", "+8613800138666"
	flow := c.call("POST", "/api/v1/signup", map[string]any{"email": email, "phone": phone, "password": "a card holder's passphrase"}, 202)["flow_token"].(string)
	done := c.call("POST", "/api/v1/signup/verify", map[string]any{"flow_token": flow,
		"email_code": mailCode(t, s.url, email, "code_verify_email"), "phone_code": mailCode(t, s.url, phone, "code_verify_phone")}, 200)
	c.token = done["session"].(map[string]any)["token"].(string)

	// The sandbox's hosted token endpoint and page.
	tok := c.call("POST", "/sandbox/v1/tokens", map[string]any{"number": "4242 4242 4242 4242", "exp": "12/30", "cvc": "123"}, 201)["token"].(string)
	if st, _, body := httpGet(t, s.url+"/sandbox/"); st != http.StatusOK || !bytes.Contains(body, []byte("4242 4242 4242 4242")) {
		t.Errorf("/sandbox/: %d", st)
	}

	card := c.call("POST", "/api/v1/payment_methods/cards", map[string]any{"token": tok}, 201)
	id := card["id"].(string)
	deadline := time.Now().Add(15 * time.Second)
	for {
		m := c.call("GET", "/api/v1/payment_methods/"+id, nil, 200)
		if m["status"] == "verified" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the card was not verified by the sandbox's webhook: %v\nstderr:\n%s", m, s.stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, kind := range []string{"payout_method_added", "payout_method_verified"} {
		body := mailBody(t, s.url, email, kind)
		if !strings.Contains(body, "Visa •••• 4242") || !strings.Contains(body, "/freeze/") {
			t.Errorf("%s notice: %q", kind, body)
		}
	}
	if body := mailBody(t, s.url, phone, "payout_method_added"); !strings.Contains(body, "Visa •••• 4242") {
		t.Errorf("SMS notice: %q", body)
	}

	// Deleting it (the sign-up's second factor is fresh) detaches it at
	// the sandbox.
	c.call("POST", "/api/v1/payment_methods/"+id+"/delete", nil, 200)
	if _, _, body := httpGet(t, s.url+"/sandbox/"); !bytes.Contains(body, []byte(`data-testid="token-detached"`)) {
		t.Error("the deleted card's token is not detached at the sandbox")
	}

	// A forged webhook is refused; the pages need a session.
	req, _ := http.NewRequest("POST", s.url+"/api/v1/webhooks/psp/sandbox", strings.NewReader(`{"id":"evt_1"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Okpay-Signature", "t=1,v1=00")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var problem map[string]any
	json.NewDecoder(res.Body).Decode(&problem)
	res.Body.Close()
	if res.StatusCode != http.StatusBadRequest || problem["code"] != "webhook_bad_signature" {
		t.Errorf("forged webhook: %d %v", res.StatusCode, problem)
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err = noRedirect.Get(s.url + "/account/methods")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/login" {
		t.Errorf("/account/methods without a session: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	s.stop(t)
}

func TestServeUnknownPSP(t *testing.T) {
	t.Parallel()
	_, _, err := runIn(t, noEnv, "serve", "--addr", "127.0.0.1:0", "--database", "sqlite:"+filepath.Join(t.TempDir(), "x.db"), "--psp", "stripe")
	if err == nil || !strings.Contains(err.Error(), "sandbox") {
		t.Fatalf("serve --psp stripe: %v", err)
	}
}
