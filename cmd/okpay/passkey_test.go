package main

import (
	"slices"
	"testing"
	"time"

	"github.com/okpay/okpay/clock"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

func TestPasskeyConfigFromBaseURL(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ base, rpID, origin string }{
		{"https://okpay.example", "okpay.example", "https://okpay.example"},
		{"https://OKPay.Example:443/", "okpay.example", "https://okpay.example"},
		{"https://pay.okpay.example:8443", "pay.okpay.example", "https://pay.okpay.example:8443"},
		{"http://localhost:8080", "localhost", "http://localhost:8080"},
		{"http://localhost:80", "localhost", "http://localhost"},
	} {
		cfg, err := passkeyConfig(c.base)
		if err != nil || cfg.RPID != c.rpID || !slices.Equal(cfg.Origins, []string{c.origin}) {
			t.Errorf("passkeyConfig(%q) = %+v, %v; want RP ID %q, origin %q", c.base, cfg, err, c.rpID, c.origin)
		}
	}
	db := sqldbtest.Open(t, sqldb.SQLite)
	clk := clock.NewManual(time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC))
	if pk, err := newPasskeys(db, clk, "http://localhost:8080"); err != nil || pk == nil {
		t.Fatalf("passkeys for localhost: %v", err)
	}
	// Browsers refuse WebAuthn there: the service runs without passkeys.
	for _, base := range []string{"http://127.0.0.1:8080", "http://[::1]:8080", "http://:8080", "http://okpay.example"} {
		if _, err := newPasskeys(db, clk, base); err == nil {
			t.Errorf("passkeys for %q", base)
		}
	}
}

// TestDefaultBaseURLIsLocalhost: with no --base-url, a loopback or
// wildcard listen address gives http://localhost:PORT, so the zero-config
// server offers passkeys (an IP address would turn them off).
func TestDefaultBaseURLIsLocalhost(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]string{
		"127.0.0.1:8080":   "localhost:8080",
		"[::1]:8080":       "localhost:8080",
		"0.0.0.0:9000":     "localhost:9000",
		":8080":            "localhost:8080",
		"[::]:8080":        "localhost:8080",
		"10.0.0.5:8080":    "10.0.0.5:8080",
		"pay.example:8443": "pay.example:8443",
	} {
		if got := displayHostPort(addr); got != want {
			t.Errorf("displayHostPort(%q) = %q, want %q", addr, got, want)
		}
	}
	db := sqldbtest.Open(t, sqldb.SQLite)
	clk := clock.NewManual(time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC))
	catalog, err := i18n.New()
	if err != nil {
		t.Fatal(err)
	}
	svc, _, _, err := newIdentityService(db, clk, &ids.Sequence{}, catalog, &identityFlags{secretKey: testSecretKey, dev: "on"}, "127.0.0.1:8080")
	if err != nil {
		t.Fatal(err)
	}
	if got := svc.Config().BaseURL; got != "http://localhost:8080" || !svc.PasskeysEnabled() {
		t.Fatalf("zero-config base URL %q, passkeys %v; want http://localhost:8080 with passkeys", got, svc.PasskeysEnabled())
	}
}
