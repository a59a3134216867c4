package main

import (
	"bytes"
	"encoding/base32"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/okpay/okpay/identity/otp"
)

// scanClient calls the JSON API of a running server.
type scanClient struct {
	t     *testing.T
	base  string
	token string
	n     int
}

func (c *scanClient) call(method, path string, body any, want int) map[string]any {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.base+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	c.n++
	req.Header.Set("Idempotency-Key", fmt.Sprintf("scan-%d-%d", time.Now().UnixNano(), c.n))
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		c.t.Fatalf("%s %s: %d %s, want %d", method, path, res.StatusCode, raw, want)
	}
	out := map[string]any{}
	json.Unmarshal(raw, &out)
	return out
}

var mailRE = regexp.MustCompile(`(?s)<li class="mail"[^>]*data-to="([^"]*)" data-kind="([^"]*)">.*?data-testid="mail-body">(.*?)</div>`)

// mailCode reads the newest code of kind to "to" from the dev mailbox page.
func mailCode(t *testing.T, base, to, kind string) string {
	t.Helper()
	for i := 0; i < 100; i++ {
		res, err := http.Get(base + "/dev/mailbox")
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(res.Body)
		res.Body.Close()
		for _, m := range mailRE.FindAllStringSubmatch(string(page), -1) {
			if html.UnescapeString(m[1]) == to && m[2] == kind {
				if c := regexp.MustCompile(`\b\d{6,8}\b`).FindString(m[3]); c != "" {
					return c
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no %s for %s in the dev mailbox", kind, to)
	return ""
}

// TestPWD12_NoSecretInLogsOrDatabase runs the program with debug logging,
// walks an account's life through the JSON API (sign-up, login with an SMS
// code, authenticator app, password reset) and then looks for every
// password, code, token and the TOTP secret in what the program logged and
// in the bytes of its database files.
func TestPWD12_NoSecretInLogsOrDatabase(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := startInProc(t, noEnv, "--addr", "127.0.0.1:0", "--database", "sqlite:"+filepath.Join(dir, "okpay.db"), "--log-level", "debug")
	c := &scanClient{t: t, base: s.url}
	email, phone := "walker@example.com", "+8613800138555"
	pw1, pw2 := "scan passphrase number one", "scan passphrase number two"
	secrets := []string{pw1, pw2}

	flow := c.call("POST", "/api/v1/signup", map[string]any{"email": email, "phone": phone, "password": pw1}, 202)["flow_token"].(string)
	ec, pc := mailCode(t, s.url, email, "code_verify_email"), mailCode(t, s.url, phone, "code_verify_phone")
	secrets = append(secrets, flow, ec, pc)
	done := c.call("POST", "/api/v1/signup/verify", map[string]any{"flow_token": flow, "email_code": ec, "phone_code": pc}, 200)
	c.token = done["session"].(map[string]any)["token"].(string)
	secrets = append(secrets, c.token)
	setup := c.call("POST", "/api/v1/me/totp", nil, 201)
	secret := setup["secret"].(string)
	key, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, secret)
	c.call("POST", "/api/v1/me/totp/confirm", map[string]any{"code": otp.TOTPCode(key, time.Now())}, 204)
	codes := c.call("POST", "/api/v1/me/recovery-codes", nil, 201)["codes"].([]any)
	for _, x := range codes {
		secrets = append(secrets, x.(string))
	}
	c.call("DELETE", "/api/v1/sessions/current", nil, 204)

	// Sign in with the password and a recovery code (an SMS code would
	// meet the one-a-minute limit right after the sign-up's).
	c.token = ""
	login := c.call("POST", "/api/v1/sessions", map[string]any{"identifier": email, "password": pw1}, 201)
	c.token = login["token"].(string)
	secrets = append(secrets, c.token)
	full := c.call("POST", "/api/v1/mfa/verify", map[string]any{"method": "recovery_code", "code": codes[0]}, 200)
	c.token = full["token"].(string)
	secrets = append(secrets, c.token)

	// Reset the password: a code by email, then another recovery code.
	c.token = ""
	rf := c.call("POST", "/api/v1/password/forgot", map[string]any{"identifier": email, "channel": "email"}, 202)["flow_token"].(string)
	rc := mailCode(t, s.url, email, "code_reset")
	secrets = append(secrets, rf, rc)
	c.call("POST", "/api/v1/password/reset/code", map[string]any{"flow_token": rf, "code": rc}, 200)
	c.call("POST", "/api/v1/password/reset/factor", map[string]any{"flow_token": rf, "method": "recovery_code", "code": codes[1]}, 200)
	c.call("POST", "/api/v1/password/reset", map[string]any{"flow_token": rf, "new_password": pw2}, 204)
	s.stop(t)

	logs := s.stderr.String()
	if !strings.Contains(logs, `"level":"INFO"`) {
		t.Fatalf("the program logged nothing at info: the scan would prove little\n%s", logs)
	}
	var files []byte
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(filepath.Join(dir, "okpay.db") + suffix)
		if err == nil {
			files = append(files, b...)
		}
	}
	if len(files) == 0 {
		t.Fatal("no database files")
	}
	for _, sec := range secrets {
		if len(sec) < 6 {
			t.Fatalf("secret %q is too short to scan for", sec)
		}
		if strings.Contains(logs, sec) {
			t.Errorf("a secret (%d characters, %q…) is in the log", len(sec), sec[:3])
		}
		if bytes.Contains(files, []byte(sec)) {
			t.Errorf("a secret (%d characters, %q…) is in the database files", len(sec), sec[:3])
		}
	}
	t.Logf("scanned %d bytes of log and %d bytes of database for %d secrets", len(logs), len(files), len(secrets))
}
