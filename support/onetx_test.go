package support_test

import (
	"testing"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/audit"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
	"github.com/okpay/okpay/support"
)

// failSupportAudit makes every insert of a support_action audit row fail
// (a trigger), as a full disk or a lost connection would at that point.
func failSupportAudit(t *testing.T, db *sqldb.DB, on bool) {
	t.Helper()
	var stmts []string
	switch {
	case db.Dialect == sqldb.Postgres && on:
		stmts = []string{
			`CREATE OR REPLACE FUNCTION okpay_test_fail_audit() RETURNS trigger LANGUAGE plpgsql AS $f$ BEGIN RAISE EXCEPTION 'audit down'; END $f$`,
			`CREATE TRIGGER okpay_test_fail_audit BEFORE INSERT ON audit_log FOR EACH ROW WHEN (NEW.event = 'support_action') EXECUTE FUNCTION okpay_test_fail_audit()`,
		}
	case db.Dialect == sqldb.Postgres:
		stmts = []string{`DROP TRIGGER okpay_test_fail_audit ON audit_log`}
	case on:
		stmts = []string{`CREATE TRIGGER okpay_test_fail_audit BEFORE INSERT ON audit_log WHEN NEW.event = 'support_action'
			BEGIN SELECT RAISE(ABORT, 'audit down'); END`}
	default:
		stmts = []string{`DROP TRIGGER okpay_test_fail_audit`}
	}
	for _, q := range stmts {
		if _, err := db.Write.ExecContext(t.Context(), q); err != nil {
			t.Fatal(err)
		}
	}
}

// TestAccountActionsAuditedInOneTransaction: freeze, revoke sessions and
// send reset write the action and the desk's audit row in one transaction
// (SUP-06): when the audit row cannot be written, the account is not
// frozen, identity's own record of the action is not kept and no
// notification is queued; once the log works again, the same actions go
// through with exactly one record each.
func TestAccountActionsAuditedInOneTransaction(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		outbox := func() int {
			var n int
			if err := db.Read.QueryRowContext(h.ctx, `SELECT COUNT(*) FROM notification_outbox WHERE user_id = $1`, h.user).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		queued := outbox()
		failSupportAudit(t, db, true)
		wantCode(t, h.svc.Freeze(h.ctx, h.agent, h.conv, "account takeover reported", h.meta), okpay.EInternal)
		if _, err := h.svc.RevokeSessions(h.ctx, h.agent, h.conv, "lost phone", h.meta); okpay.ErrorCode(err) != okpay.EInternal {
			t.Fatalf("revoke with the audit log down: %v", err)
		}
		wantCode(t, h.svc.SendReset(h.ctx, h.agent, h.conv, "RSK-06 reset", h.meta), okpay.EInternal)
		if h.userRow().Frozen {
			t.Fatal("frozen without its audit row")
		}
		for _, ev := range []string{audit.AccountFrozen, audit.AuthnTokenRevoked, "authn_password_reset_requested", support.EventAction} {
			if n := len(h.events(ev)); n != 0 {
				t.Fatalf("%d %s events kept from rolled-back actions", n, ev)
			}
		}
		if n := outbox(); n != queued {
			t.Fatalf("%d notifications queued by rolled-back actions", n-queued)
		}

		failSupportAudit(t, db, false)
		if _, err := h.svc.RevokeSessions(h.ctx, h.agent, h.conv, "lost phone", h.meta); err != nil {
			t.Fatal(err)
		}
		if err := h.svc.SendReset(h.ctx, h.agent, h.conv, "RSK-06 reset", h.meta); err != nil {
			t.Fatal(err)
		}
		if err := h.svc.Freeze(h.ctx, h.agent, h.conv, "account takeover reported", h.meta); err != nil {
			t.Fatal(err)
		}
		if !h.userRow().Frozen {
			t.Fatal("not frozen")
		}
		for _, ev := range []string{audit.AccountFrozen, audit.AuthnTokenRevoked, "authn_password_reset_requested"} {
			if n := len(h.events(ev)); n != 1 {
				t.Fatalf("%d %s events", n, ev)
			}
		}
		if n := len(h.events(support.EventAction)); n != 3 {
			t.Fatalf("%d support actions audited", n)
		}
		if outbox() <= queued {
			t.Fatal("no notification queued")
		}
		if r, err := h.log.Verify(h.ctx); err != nil || !r.OK {
			t.Fatalf("audit chain %+v %v", r, err)
		}
	})
}
