package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/okpay/okpay/agent"
	"github.com/okpay/okpay/audit"
	"github.com/okpay/okpay/clock"
	"github.com/okpay/okpay/identity/passkey"
	"github.com/okpay/okpay/identity/passkey/passkeytest"
	"github.com/okpay/okpay/sqldb"
)

// TestAgentCommands: the first admin is created on the command line and
// gets an enrolment link that enrols them; list shows them; disable and
// reset need a reason; every change is audited with the operator.
func TestAgentCommands(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	dbURL := "sqlite:" + filepath.Join(dir, "okpay.db")
	env := envOf(map[string]string{"USER": "ops.wang"})

	_, _, err := runIn(t, env, "agent")
	if exitCode(err) != 2 {
		t.Fatalf("no subcommand: %v", err)
	}
	_, _, err = runIn(t, env, "agent", "create", "--database", dbURL, "--email", "admin@okpay.test")
	if exitCode(err) != 2 {
		t.Fatalf("without name and role: %v", err)
	}
	_, _, err = runIn(t, env, "agent", "create", "--database", dbURL, "--email", "admin@okpay.test", "--name", "Admin", "--role", "root")
	if exitCode(err) != 2 {
		t.Fatalf("unknown role: %v", err)
	}
	out, errOut, err := runIn(t, env, "agent", "create", "--database", dbURL, "--base-url", "https://okpay.test",
		"--email", "admin@okpay.test", "--name", "王管理", "--role", "admin,agent", "--team", "general,security")
	if err != nil {
		t.Fatalf("create: %v\n%s", err, errOut)
	}
	link := strings.TrimSpace(out)
	if !strings.HasPrefix(link, "https://okpay.test/staff/enroll/") || strings.Contains(link, "\n") {
		t.Fatalf("create printed %q", out)
	}
	if !strings.Contains(errOut, "admin@okpay.test") || !strings.Contains(errOut, "agent,admin") {
		t.Errorf("stderr %q", errOut)
	}
	_, _, err = runIn(t, env, "agent", "create", "--database", dbURL, "--email", "admin@okpay.test", "--name", "Again", "--role", "agent")
	if err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("a second agent with the email: %v", err)
	}

	// The link enrols the admin, with the server's key (okpay.key beside
	// the database) and passkeys at https://okpay.test.
	ctx := context.Background()
	db, err := sqldb.Open(ctx, dbURL, sqldb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	f := identityFlags{baseURL: "https://okpay.test"}
	svc, err := cliAgentService(db, &f)
	if err != nil {
		t.Fatal(err)
	}
	tok := link[strings.LastIndexByte(link, '/')+1:]
	a, err := svc.EnrollmentAgent(ctx, tok)
	if err != nil || a.DisplayName != "王管理" || !a.Has(agent.RoleAdmin) || strings.Join(a.Teams, ",") != "general,security" {
		t.Fatalf("enrolment agent %+v %v", a, err)
	}
	res, err := svc.StartEnrollment(ctx, tok, "a long quiet passphrase", agent.Meta{IP: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	pk, err := passkey.New(db, clock.System{}, passkey.Config{RPID: "okpay.test", RPDisplayName: "OKPay", Origins: []string{"https://okpay.test"}})
	if err != nil {
		t.Fatal(err)
	}
	withPK, err := agentServiceWith(db, &f, pk)
	if err != nil {
		t.Fatal(err)
	}
	opts, flow, err := withPK.BeginPasskeyEnrollment(ctx, res.Token)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := passkeytest.New("https://okpay.test", "okpay.test").Create(opts)
	if err != nil {
		t.Fatal(err)
	}
	full, err := withPK.FinishPasskeyEnrollment(ctx, res.Token, flow, resp, "", agent.Meta{})
	if err != nil || !full.Session.Full() {
		t.Fatalf("enrol: %v", err)
	}

	// A second agent, then the list.
	if _, _, err := runIn(t, env, "agent", "create", "--database", dbURL, "--email", "li@okpay.test", "--name", "Li", "--role", "senior"); err != nil {
		t.Fatal(err)
	}
	out, _, err = runIn(t, env, "agent", "list", "--database", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.Contains(lines[1], "admin@okpay.test") || !strings.Contains(lines[1], "agent,admin") ||
		!strings.Contains(lines[2], "li@okpay.test") || !strings.Contains(lines[2], "supervisor") || !strings.HasSuffix(strings.TrimSpace(lines[2]), "no") {
		t.Fatalf("list:\n%s", out)
	}

	// Disable and reset need a reason; the last admin cannot be disabled.
	if _, _, err := runIn(t, env, "agent", "disable", "--database", dbURL, "--agent", "li@okpay.test"); exitCode(err) != 2 {
		t.Fatalf("disable without a reason: %v", err)
	}
	if _, _, err := runIn(t, env, "agent", "disable", "--database", dbURL, "--agent", a.Ref(), "--reason", "test"); err == nil || !strings.Contains(err.Error(), "last active administrator") {
		t.Fatalf("disable the last admin: %v", err)
	}
	out, _, err = runIn(t, env, "agent", "disable", "--database", dbURL, "--agent", "li@okpay.test", "--reason", "left the company")
	if err != nil || !strings.Contains(out, "disabled agt_") {
		t.Fatalf("disable: %v %q", err, out)
	}
	li, err := svc.FindByEmail(ctx, "li@okpay.test")
	if err != nil || li.Active() {
		t.Fatalf("%+v %v", li, err)
	}
	out, _, err = runIn(t, env, "agent", "reset", "--database", dbURL, "--base-url", "https://okpay.test", "--agent", a.Ref(), "--reason", "lost laptop", "--actor", "root.zhang")
	if err != nil || !strings.HasPrefix(out, "https://okpay.test/staff/enroll/") || strings.TrimSpace(out) == link {
		t.Fatalf("reset: %v %q", err, out)
	}
	if _, _, err := svc.Authenticate(ctx, full.Token); err == nil {
		t.Fatal("the admin's session outlived the reset")
	}

	entries, err := audit.New(db).List(ctx, li.Ref(), 10, 0)
	if err != nil {
		t.Fatal(err)
	}
	var created, disabled bool
	for _, en := range entries {
		created = created || en.Name == agent.EventAgentCreated && en.Actor == "cli:ops.wang" && en.Details["actor_roles"] == "system"
		disabled = disabled || en.Name == agent.EventAgentDisabled && en.Actor == "cli:ops.wang" && en.Reason == "left the company"
	}
	if !created || !disabled {
		t.Fatalf("audit %+v", entries)
	}
	entries, _ = audit.New(db).List(ctx, a.Ref(), 10, 0)
	if len(entries) == 0 || entries[0].Name != agent.EventEnrollmentIssue || entries[0].Actor != "cli:root.zhang" {
		t.Fatalf("reset audit %+v", entries)
	}
	if _, _, err := runIn(t, env, "audit", "verify", "--database", dbURL); err != nil {
		t.Fatal(err)
	}
}
