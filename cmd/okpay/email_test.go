package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net/smtp"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/okpay/okpay/maildesk"
)

var emailListenRE = regexp.MustCompile(`email listener started","addr":"([^"]+)"`)

// TestServeEmailChannel: serve's SMTP listener files a mail into the desk
// and the acknowledgement reaches the dev mailbox (no relay configured).
func TestServeEmailChannel(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := startInProc(t, noEnv, "--addr", "127.0.0.1:0", "--database", "sqlite:"+filepath.Join(dir, "okpay.db"),
		"--email-addr", "127.0.0.1:0", "--email-addresses", "support@okpay.test")
	var addr string
	for i := 0; i < 200 && addr == ""; i++ {
		if m := emailListenRE.FindStringSubmatch(s.stderr.String()); m != nil {
			addr = m[1]
		}
		time.Sleep(25 * time.Millisecond)
	}
	if addr == "" {
		t.Fatalf("no email listener in the log:\n%s", s.stderr)
	}
	raw := "From: Li Lei <lilei@example.cn>\r\nTo: support@okpay.test\r\nSubject: Transfer pending\r\nMessage-ID: <serve-1@example.cn>\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n\r\nMy transfer is still pending.\r\n"
	if err := smtp.SendMail(addr, nil, "lilei@example.cn", []string{"support@okpay.test"}, []byte(raw)); err != nil {
		t.Fatal(err)
	}
	if err := smtp.SendMail(addr, nil, "lilei@example.cn", []string{"sales@okpay.test"}, []byte(raw)); err == nil || !strings.Contains(err.Error(), "550") {
		t.Fatalf("unknown recipient: %v", err)
	}
	body := mailBody(t, s.url, "lilei@example.cn", "desk_email")
	if !strings.Contains(body, "cnv_") || !strings.Contains(body, "2 hours") {
		t.Fatalf("acknowledgement %q", body)
	}
	s.stop(t)
}

func TestParseIMAPURL(t *testing.T) {
	t.Parallel()
	cfg, err := parseIMAPURL("imaps://desk%40example.com:s3cret@imap.example.com/Support")
	if err != nil || cfg.Addr != "imap.example.com:993" || cfg.TLS != "tls" || cfg.Username != "desk@example.com" || cfg.Password != "s3cret" || cfg.Mailbox != "Support" {
		t.Fatalf("%+v %v", cfg, err)
	}
	cfg, err = parseIMAPURL("imap://u:p@127.0.0.1:1143?tls=none")
	if err != nil || cfg.Addr != "127.0.0.1:1143" || cfg.TLS != "none" {
		t.Fatalf("%+v %v", cfg, err)
	}
	for _, bad := range []string{"http://x", "imaps://", "imap://h:port/"} {
		if _, err := parseIMAPURL(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestReadDKIMKey(t *testing.T) {
	t.Parallel()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "dkim.pem")
	os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
	k, err := readDKIMKey(path)
	if err != nil || !priv.Public().(ed25519.PublicKey).Equal(k.Public()) {
		t.Fatalf("%v %v", k, err)
	}
	os.WriteFile(path, []byte("not a key"), 0o600)
	if _, err := readDKIMKey(path); err == nil {
		t.Fatal("garbage accepted")
	}
}

// TestEmailAuthFlags: sender authentication is off by default (the
// zero-config setup and swaks send unsigned mail) and set by flag or
// environment.
func TestEmailAuthFlags(t *testing.T) {
	t.Parallel()
	addrs, _ := maildesk.ParseAddresses("support@okpay.test")
	parse := func(envs map[string]string, args ...string) maildesk.Config {
		t.Helper()
		var f emailFlags
		fs := newFlagSet("serve", "test", &env{getenv: func(k string) string { return envs[k] }, stderr: io.Discard, stdout: io.Discard})
		f.register(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		return f.config(addrs, "http://127.0.0.1:8080")
	}
	if c := parse(nil); c.RequireAuth || c.Auth.TrustedAuthServID != "" || c.MaxBytes != 10<<20 || c.SurveyDelay != 15*time.Minute || c.BaseURL != "http://127.0.0.1:8080" {
		t.Fatalf("defaults: %+v", c)
	}
	if c := parse(nil, "--email-require-auth", "--email-trusted-authserv", "mx.okpay.test", "--email-survey-delay", "-1s"); !c.RequireAuth || c.Auth.TrustedAuthServID != "mx.okpay.test" || c.SurveyDelay != -time.Second {
		t.Fatalf("flags: %+v", c)
	}
	if c := parse(map[string]string{"OKPAY_EMAIL_REQUIRE_AUTH": "true", "OKPAY_EMAIL_TRUSTED_AUTHSERV": "mx.example.com", "OKPAY_EMAIL_SURVEY_DELAY": "0s"}); !c.RequireAuth || c.Auth.TrustedAuthServID != "mx.example.com" || c.SurveyDelay != time.Nanosecond {
		t.Fatalf("environment: %+v", c)
	}
}
