package paymethod_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/paymethod"
	"github.com/okpay/okpay/psp"
	"github.com/okpay/okpay/psp/sandbox"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

// flakyDetach is the real sandbox whose Detach fails while down is set
// (the provider unreachable), to show the detach is retried.
type flakyDetach struct {
	*sandbox.Sandbox
	down  atomic.Bool
	calls atomic.Int64
}

func (f *flakyDetach) Detach(ctx context.Context, token string) error {
	f.calls.Add(1)
	if f.down.Load() {
		return errors.New("connection refused")
	}
	return f.Sandbox.Detach(ctx, token)
}

// storedToken returns the card's provider token as stored ("" once
// detached).
func (e *env) storedToken(id int64) string {
	e.t.Helper()
	var tok string
	if err := e.db.Read.QueryRowContext(e.ctx, `SELECT psp_token FROM payment_cards WHERE method_id = $1`, id).Scan(&tok); err != nil {
		e.t.Fatal(err)
	}
	return tok
}

// CRD-08: deleting a card detaches it at the provider; when the provider
// cannot be reached the deletion stands and DetachDeleted retries until
// it succeeds, once per card. last4 and the fingerprint stay.
func TestCRD08_DeleteDetachesAtTheProvider(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db, paymethod.Config{})
		prov := &flakyDetach{Sandbox: e.sb}
		svc, err := paymethod.New(paymethod.Deps{
			DB: e.db, Clock: e.clock, IDs: e.ids, Provider: prov, Notifier: e.notes,
			Sealer: e.keys.Sealer("paymethod/account"), MAC: e.keys.MAC("paymethod"),
		})
		if err != nil {
			t.Fatal(err)
		}
		e.svc = svc
		u := e.user()
		a := e.addVerifiedCard(u, "4242 4242 4242 4242")
		b := e.addVerifiedCard(u, "5555 5555 5555 4444")
		tokA, tokB := e.storedToken(a.ID), e.storedToken(b.ID)

		// The provider answers: detached at once, the token cleared.
		if err := svc.Delete(e.ctx, u, a.ID, e.stepUp()); err != nil {
			t.Fatal(err)
		}
		if got := e.storedToken(a.ID); got != "" {
			t.Fatalf("token still stored after the detach: %q", got)
		}
		_, err = e.sb.Card(e.ctx, tokA)
		wantCode(t, err, psp.ETokenNotFound)
		_, err = e.sb.Charge(e.ctx, psp.ChargeRequest{Reference: "dep_after_delete", Token: tokA, Amount: money.New(100, "USD")})
		wantCode(t, err, psp.ETokenNotFound)
		got, err := svc.Get(e.ctx, u, a.ID)
		if err != nil || !got.Deleted() || got.Card.Last4 != "4242" || got.Fingerprint == "" {
			t.Fatalf("deleted card: %+v %v", got, err)
		}

		// The provider is down: the deletion stands, the token waits.
		prov.down.Store(true)
		if err := svc.Delete(e.ctx, u, b.ID, e.stepUp()); err != nil {
			t.Fatalf("Delete while the provider is down: %v", err)
		}
		if got := e.storedToken(b.ID); got != tokB {
			t.Fatalf("token %q, want it kept until detached", got)
		}
		if m, _ := svc.Get(e.ctx, u, b.ID); !m.Deleted() {
			t.Fatal("not deleted")
		}
		n, err := svc.DetachDeleted(e.ctx, 0)
		if n != 0 || okpay.ErrorCode(err) != okpay.EUnavailable {
			t.Fatalf("DetachDeleted while down: %d, %v", n, err)
		}
		if _, err := e.sb.Card(e.ctx, tokB); err != nil {
			t.Fatalf("the provider detached while down: %v", err)
		}
		prov.down.Store(false)
		n, err = svc.DetachDeleted(e.ctx, 0)
		if n != 1 || err != nil {
			t.Fatalf("DetachDeleted: %d, %v", n, err)
		}
		_, err = e.sb.Card(e.ctx, tokB)
		wantCode(t, err, psp.ETokenNotFound)
		calls := prov.calls.Load()
		if n, err := svc.DetachDeleted(e.ctx, 0); n != 0 || err != nil {
			t.Fatalf("DetachDeleted again: %d, %v", n, err)
		}
		// Deleting again changes nothing and calls nobody.
		if err := svc.Delete(e.ctx, u, b.ID, e.stepUp()); err != nil {
			t.Fatal(err)
		}
		if prov.calls.Load() != calls {
			t.Fatalf("the provider was called again for detached cards")
		}
		if c := e.count(u, paymethod.NoteRemoved); c != 2 {
			t.Fatalf("%d removal notices, want 2", c)
		}
	})
}

// CRD-06: a card is a payout destination only when the provider says it
// can receive payouts; the card's funding type and issuer country are
// kept.
func TestCRD06_PayoutEligibility(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db, paymethod.Config{})
		u := e.user()
		prepaid := e.addVerifiedCard(u, "5105 1051 0510 5100")
		debit := e.addVerifiedCard(u, "6200 0000 0000 0005")
		if c := prepaid.Card; c.Funding != "prepaid" || c.IssuerCountry != "US" {
			t.Errorf("prepaid card facts %+v", c)
		}
		if c := debit.Card; c.Funding != "debit" || c.IssuerCountry != "CN" {
			t.Errorf("debit card facts %+v", c)
		}
		e.clock.Advance(24*time.Hour + time.Second) // past the new-method hold
		_, _, err := e.svc.ForPayout(e.ctx, nil, u, prepaid.ID)
		wantCode(t, err, paymethod.ENotPayoutEligible)
		if d, _, err := e.svc.ForPayout(e.ctx, nil, u, debit.ID); err != nil || d.Kind != psp.DestCard {
			t.Fatalf("ForPayout(debit) = %+v, %v", d, err)
		}
		// Deposits from the prepaid card are fine.
		if _, err := e.svc.DepositToken(e.ctx, u, prepaid.ID); err != nil {
			t.Fatalf("DepositToken(prepaid): %v", err)
		}
	})
}
