package identity_test

import (
	"testing"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

// PWD-08: no expiry, but a password marked compromised must be changed at
// the next sign-in. Marking it is audited, ends every session and tells
// the owner on every channel; the sign-in still takes the password and the
// second factor; a change clears the flag.
func TestPWD08_CompromisedPasswordForcesAChange(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		a := h.signUp()
		if u, _ := h.svc.FindUser(h.ctx, a.id); u.Compromised || u.MustChangePassword() {
			t.Fatalf("a new account is compromised: %+v", u)
		}
		wantCode(t, h.svc.MarkCompromised(h.ctx, a.id, "", "", "breach", h.meta), okpay.EInvalid)
		wantCode(t, h.svc.MarkCompromised(h.ctx, a.id, "agent:li.wei", "", "", h.meta), okpay.EInvalid)
		if err := h.svc.MarkCompromised(h.ctx, a.id, "agent:li.wei", "case_9", "password found in a breach corpus", h.meta); err != nil {
			t.Fatal(err)
		}
		if h.alive(a.token) {
			t.Fatal("a session survived the mark")
		}
		if n := h.audited(a.id, "authn_password_compromised", ""); n != 1 {
			t.Fatalf("%d audit events", n)
		}
		var actor, caseID string
		db.Read.QueryRowContext(h.ctx, `SELECT actor, case_id FROM audit_log WHERE event = 'authn_password_compromised'`).Scan(&actor, &caseID)
		if actor != "agent:li.wei" || caseID != "case_9" {
			t.Fatalf("audited actor %q case %q", actor, caseID)
		}
		if len(h.messages(a.email, identity.NotePasswordCompromised)) != 1 || len(h.messages(a.phone, identity.NotePasswordCompromised)) != 1 ||
			h.inApp(a.id, identity.NotePasswordCompromised) != 1 {
			t.Fatalf("notices: %v", kinds(h.mailbox.List()))
		}
		// Marking it again changes nothing and tells no one again.
		if err := h.svc.MarkCompromised(h.ctx, a.id, "system", "", "again", h.meta); err != nil {
			t.Fatal(err)
		}
		if n := len(h.messages(a.email, identity.NotePasswordCompromised)); n != 1 {
			t.Fatalf("%d notices after a second mark", n)
		}

		// The sign-in works as always (password and second factor) ...
		token := h.login(a)
		_, u, err := h.svc.Authenticate(h.ctx, token)
		if err != nil {
			t.Fatal(err)
		}
		// ... and the session must change the password before anything.
		if !u.Compromised || !u.MustChangePassword() {
			t.Fatalf("after sign-in: %+v", u)
		}
		wantCode(t, identity.RequirePasswordCurrent(u), identity.EPasswordChangeRequired)
		if err := h.svc.ChangePassword(h.ctx, h.session(token), a.password, "a brand new long passphrase", h.meta); err != nil {
			t.Fatal(err)
		}
		_, u, _ = h.svc.Authenticate(h.ctx, token)
		if u.Compromised || identity.RequirePasswordCurrent(u) != nil {
			t.Fatalf("after the change: %+v", u)
		}

		// A frozen account is read-only: not forced (support recovers it).
		if err := h.svc.MarkCompromised(h.ctx, a.id, "system", "", "breach", h.meta); err != nil {
			t.Fatal(err)
		}
		if err := h.svc.Freeze(h.ctx, a.id, "self", "usr", h.meta); err != nil {
			t.Fatal(err)
		}
		if u, _ := h.svc.FindUser(h.ctx, a.id); !u.Compromised || u.MustChangePassword() {
			t.Fatalf("frozen and compromised: %+v", u)
		}
		wantCode(t, h.svc.MarkCompromised(h.ctx, 424242, "system", "", "r", h.meta), okpay.ENotFound)
		h.verifyAudit()
	})
}
