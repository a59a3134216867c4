package identity_test

import (
	"testing"

	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

// PartyOf, given the user a session check read, is the party LoadParty
// reads for the same account: before and after the account enrols an
// authenticator app (which changes how it confirms payments).
func TestPartyOfMatchesLoadParty(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		a := h.signUp()
		check := func(wantMethod string) {
			t.Helper()
			_, u, err := h.svc.Authenticate(h.ctx, a.token)
			if err != nil {
				t.Fatal(err)
			}
			loaded, err := h.svc.LoadParty(h.ctx, a.id)
			if err != nil {
				t.Fatal(err)
			}
			got := identity.PartyOf(u)
			if got != loaded {
				t.Fatalf("PartyOf = %+v, LoadParty = %+v", got, loaded)
			}
			if got.UserID != a.id || got.MaskedName == "" || got.TxnAuthMethod() != wantMethod {
				t.Fatalf("party %+v: want user %d, a masked name, payments confirmed by %s", got, a.id, wantMethod)
			}
		}
		check(identity.MethodSMS)
		ss, _, err := h.svc.Authenticate(h.ctx, a.token)
		if err != nil {
			t.Fatal(err)
		}
		h.enrolTOTP(ss)
		check(identity.MethodTOTP)
	})
}
