package main

import (
	"context"
	"encoding/hex"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/okpay/okpay/audit"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/identity/geoip/geoiptest"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/sqldb"
)

func TestKeygenPrintsA32ByteKey(t *testing.T) {
	t.Parallel()
	out, _, err := runIn(t, noEnv, "keygen")
	if err != nil {
		t.Fatal(err)
	}
	b, err := hex.DecodeString(strings.TrimSpace(out))
	if err != nil || len(b) != 32 {
		t.Fatalf("keygen printed %q", out)
	}
	out2, _, _ := runIn(t, noEnv, "keygen")
	if out2 == out {
		t.Fatal("two keys are equal")
	}
}

// TestREL13_AuditVerifyDetectsAnEditedRow: the command passes on a sound
// chain and names the first broken row after an edit made behind the
// application's back.
func TestREL13_AuditVerifyDetectsAnEditedRow(t *testing.T) {
	t.Parallel()
	dbURL := "sqlite:" + filepath.Join(t.TempDir(), "okpay.db")
	if _, _, err := runIn(t, noEnv, "audit", "verify", "--database", dbURL); err == nil {
		t.Fatal("verify of a missing database succeeded")
	}
	if _, _, err := runIn(t, noEnv, "migrate", "--database", dbURL); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	db, err := sqldb.Open(ctx, dbURL, sqldb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	log := audit.New(db)
	for _, r := range []string{"one", "two", "three"} {
		if err := log.Record(ctx, audit.Event{Name: audit.AuthnLoginFail, Subject: "usr_x", Outcome: audit.Failure, Reason: r}); err != nil {
			t.Fatal(err)
		}
	}
	out, _, err := runIn(t, noEnv, "audit", "verify", "--database", dbURL)
	if err != nil || !strings.Contains(out, "audit log OK: 3 rows") {
		t.Fatalf("sound chain: %v %q", err, out)
	}
	for _, q := range []string{
		`DROP TRIGGER audit_log_no_update`,
		`UPDATE audit_log SET reason = 'forged' WHERE seq = 2`,
	} {
		if _, err := db.Write.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	out, _, err = runIn(t, noEnv, "audit", "verify", "--database", dbURL)
	if exitCode(err) != 1 || !strings.Contains(out, "BROKEN at seq 2") {
		t.Fatalf("edited chain: exit %d, %q", exitCode(err), out)
	}
}

func TestUserUnfreezeIsAuditedAndHolds(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	dbURL := "sqlite:" + filepath.Join(dir, "okpay.db")
	if _, _, err := runIn(t, noEnv, "migrate", "--database", dbURL); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	db, err := sqldb.Open(ctx, dbURL, sqldb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Now().UnixMicro()
	if _, err := db.Write.ExecContext(ctx, `INSERT INTO users (id, email, phone, password_hash, status, frozen_at, frozen_reason, created_at, updated_at)
		VALUES (42, 'a@example.com', '+8613800138000', 'x', 'frozen', $1, 'self', $1, $1)`, now); err != nil {
		t.Fatal(err)
	}
	user := ids.Format(identity.UserPrefix, 42)
	_, _, err = runIn(t, noEnv, "user", "unfreeze", "--database", dbURL, "--user", user)
	if exitCode(err) != 2 {
		t.Fatalf("without actor, case and reason: %v", err)
	}
	out, _, err := runIn(t, noEnv, "user", "unfreeze", "--database", dbURL, "--user", user, "--actor", "li.wei", "--case", "case_7", "--reason", "owner verified by video call")
	if err != nil || !strings.Contains(out, "unfroze "+user) {
		t.Fatalf("unfreeze: %v %q", err, out)
	}
	var status string
	var hold int64
	db.Read.QueryRowContext(ctx, `SELECT status, hold_until FROM users WHERE id = 42`).Scan(&status, &hold)
	if status != "active" || time.UnixMicro(hold).Before(time.Now().Add(23*time.Hour)) {
		t.Fatalf("status %s, hold until %v", status, time.UnixMicro(hold))
	}
	entries, err := audit.New(db).List(ctx, user, 10, 0)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range entries {
		if e.Name == audit.AccountUnfrozen && e.Actor == "cli:li.wei" && e.CaseID == "case_7" {
			found = true
		}
	}
	if !found {
		t.Fatalf("no audited unfreeze in %+v", entries)
	}
	// Unfreezing an account that is not frozen is a conflict.
	if _, _, err := runIn(t, noEnv, "user", "unfreeze", "--database", dbURL, "--user", user, "--actor", "a", "--case", "c", "--reason", "r"); err == nil {
		t.Fatal("second unfreeze succeeded")
	}
}

// PWD-08 and SES-05 through the program: the GeoIP database comes from
// OKPAY_GEOIP_DB (the sessions list shows where each session is), and
// `okpay user mark-compromised` signs the user out everywhere, audited;
// the next sign-in may do nothing but change the password.
func TestPWD08_UserMarkCompromisedCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	dbURL := "sqlite:" + filepath.Join(dir, "okpay.db")
	geo := geoiptest.Write(t) // 127.0.0.1 is in Shanghai
	if _, _, err := runIn(t, noEnv, "serve", "--database", dbURL, "--addr", "127.0.0.1:0", "--geoip-db", filepath.Join(dir, "missing.mmdb")); err == nil ||
		!strings.Contains(err.Error(), "--geoip-db") {
		t.Fatalf("a missing GeoIP database: %v", err)
	}
	s := startInProc(t, envOf(map[string]string{"OKPAY_GEOIP_DB": geo}), "--addr", "127.0.0.1:0", "--database", dbURL)
	c := &scanClient{t: t, base: s.url}
	email, phone, pw := "marked@example.com", "+8613800138556", "a passphrase found in a breach"
	flow := c.call("POST", "/api/v1/signup", map[string]any{"email": email, "phone": phone, "password": pw}, 202)["flow_token"].(string)
	done := c.call("POST", "/api/v1/signup/verify", map[string]any{"flow_token": flow,
		"email_code": mailCode(t, s.url, email, "code_verify_email"), "phone_code": mailCode(t, s.url, phone, "code_verify_phone")}, 200)
	c.token = done["session"].(map[string]any)["token"].(string)
	list := c.call("GET", "/api/v1/sessions", nil, 200)["data"].([]any)
	loc, _ := list[0].(map[string]any)["location"].(map[string]any)
	if loc["city"] != "Shanghai" || loc["country"] != "CN" || loc["label"] != "Shanghai, CN" {
		t.Fatalf("session location %v", list[0])
	}
	codes := c.call("POST", "/api/v1/me/recovery-codes", nil, 201)["codes"].([]any)
	user := c.call("GET", "/api/v1/me", nil, 200)["id"].(string)

	_, _, err := runIn(t, noEnv, "user", "mark-compromised", "--database", dbURL, "--user", user, "--actor", "li.wei")
	if exitCode(err) != 2 {
		t.Fatalf("without a reason: %v", err)
	}
	out, _, err := runIn(t, noEnv, "user", "mark-compromised", "--database", dbURL, "--user", user, "--actor", "li.wei", "--reason", "found in a breach corpus")
	if err != nil || !strings.Contains(out, "marked the password of "+user) {
		t.Fatalf("mark-compromised: %v %q", err, out)
	}
	c.call("GET", "/api/v1/me", nil, 401) // signed out everywhere

	// The sign-in (password and a recovery code: the SMS limit allows one
	// code a minute) opens a session that must change the password.
	c.token = ""
	c.token = c.call("POST", "/api/v1/sessions", map[string]any{"identifier": email, "password": pw}, 201)["token"].(string)
	c.token = c.call("POST", "/api/v1/mfa/verify", map[string]any{"method": "recovery_code", "code": codes[0]}, 200)["token"].(string)
	if me := c.call("GET", "/api/v1/me", nil, 200); me["password_change_required"] != true {
		t.Fatalf("me: %v", me)
	}
	if p := c.call("GET", "/api/v1/sessions", nil, 403); p["code"] != "password_change_required" {
		t.Fatalf("sessions while forced: %v", p)
	}
	c.call("POST", "/api/v1/me/password", map[string]any{"current_password": pw, "new_password": "a new passphrase nobody knows"}, 204)
	c.call("GET", "/api/v1/sessions", nil, 200)
	s.stop(t)

	db, err := sqldb.Open(context.Background(), dbURL, sqldb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	entries, err := audit.New(db).List(context.Background(), user, 50, 0)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range entries {
		if e.Name == "authn_password_compromised" && e.Actor == "cli:li.wei" && e.Reason == "found in a breach corpus" {
			found = true
		}
	}
	if !found {
		t.Fatal("the mark is not in the audit log")
	}
}
