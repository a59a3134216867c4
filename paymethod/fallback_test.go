package paymethod_test

import (
	"slices"
	"testing"

	"github.com/okpay/okpay/paymethod"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

// CRD-04 fallback: the sandbox card 4000 0025 0000 0003 (issued in FR,
// billed in EUR) takes no zero-amount authorisation. The card is verified
// by a 1 EUR authorisation that is voided at once: the method records the
// fallback and the void, the provider holds one voided authorisation-only
// charge and no capture, and the owner is told once.
func TestCRD04_ZeroAuthUnsupportedFallsBackToAuthAndVoid(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db, paymethod.Config{})
		u := e.user()
		m := e.addCard(u, "4000 0025 0000 0003")
		if m.Status != paymethod.StatusVerified || !m.AuthFallback || m.AuthVoidedAt.IsZero() || m.Card.IssuerCountry != "FR" {
			t.Fatalf("after AddCard: %s fallback %v voided %v card %+v", m.Status, m.AuthFallback, m.AuthVoidedAt, m.Card)
		}
		ref := e.reference(m.ID)
		type charge struct {
			ref, status, failure, cur string
			minor, authOnly, voided   int64
		}
		rows, err := db.Read.QueryContext(e.ctx, `SELECT reference, status, failure_code, currency, amount_minor, auth_only, voided_at
			FROM psp_sandbox_charges ORDER BY id`)
		if err != nil {
			t.Fatal(err)
		}
		var got []charge
		for rows.Next() {
			var c charge
			if err := rows.Scan(&c.ref, &c.status, &c.failure, &c.cur, &c.minor, &c.authOnly, &c.voided); err != nil {
				t.Fatal(err)
			}
			got = append(got, c)
		}
		rows.Close()
		if len(got) != 2 ||
			got[0] != (charge{ref, "failed", "zero_auth_unsupported", "USD", 0, 0, 0}) ||
			got[1].ref != ref+".a1" || got[1].status != "succeeded" || got[1].cur != "EUR" || got[1].minor != 100 || got[1].authOnly != 1 || got[1].voided == 0 {
			t.Fatalf("provider charges %+v", got)
		}
		if n, err := e.svc.VoidFallbacks(e.ctx); err != nil || n != 0 {
			t.Fatalf("VoidFallbacks: %d, %v", n, err)
		}
		if k := e.kinds(u); !slices.Equal(k, []string{paymethod.NoteAdded, paymethod.NoteVerified}) {
			t.Fatalf("notifications %v", k)
		}
		// No money moved: nothing in the ledger.
		var entries int
		if err := db.Read.QueryRowContext(e.ctx, `SELECT COUNT(*) FROM journal_entries`).Scan(&entries); err != nil || entries != 0 {
			t.Fatalf("ledger entries %d, %v", entries, err)
		}

		// With a statement code (CRD-05) the authorisation carries it, and
		// the card waits for the code after the void.
		e2 := e.newService(paymethod.Config{StatementCode: true})
		u2 := e.user()
		m2, err := e2.AddCard(e.ctx, paymethod.NewCard{UserID: u2, Token: e.token("4000002500000003"), StepUp: e.stepUp()})
		if err != nil || m2.Status != paymethod.StatusAwaitingCode || !m2.AuthFallback || m2.AuthVoidedAt.IsZero() {
			t.Fatalf("with a statement code: %+v, %v", m2, err)
		}
		var code string
		db.Read.QueryRowContext(e.ctx, `SELECT statement_code FROM psp_sandbox_charges WHERE reference = $1`, e.reference(m2.ID)+".a1").Scan(&code)
		if len(code) != 4 {
			t.Fatalf("the authorisation has no statement code: %q", code)
		}
		if v, err := e2.ConfirmStatementCode(e.ctx, u2, m2.ID, code); err != nil || v.Status != paymethod.StatusVerified {
			t.Fatalf("confirm: %+v, %v", v, err)
		}
	})
}

// A card with a zero-amount authorisation is not marked as a fallback.
func TestCRD04_NoFallbackForOrdinaryCards(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sqldbtest.Open(t, sqldb.SQLite), paymethod.Config{})
	u := e.user()
	m := e.addVerifiedCard(u, "4242424242424242")
	if m.AuthFallback || !m.AuthVoidedAt.IsZero() {
		t.Fatalf("%+v", m)
	}
}
