package identity_test

import (
	"strings"
	"testing"

	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

// TestFindByVerifiedEmail: an account is found by its email (any case)
// only once the address is verified.
func TestFindByVerifiedEmail(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		a := h.signUp()
		id, lang, ok, err := h.svc.FindByVerifiedEmail(h.ctx, " "+strings.ToUpper(a.email)+" ")
		if err != nil || !ok || id != a.id || lang != i18n.En {
			t.Fatalf("verified: %d %q %v %v", id, lang, ok, err)
		}
		// Registered, address not proved yet: not found.
		if _, err := h.svc.Register(h.ctx, identity.RegisterInput{Email: "pending@example.com", Phone: "+8613900139000",
			Password: "lantern orbit cobalt meadow 77", Lang: i18n.ZhCN}, h.meta); err != nil {
			t.Fatal(err)
		}
		for _, addr := range []string{"pending@example.com", "nobody@example.com", "not an address"} {
			if _, _, ok, err := h.svc.FindByVerifiedEmail(h.ctx, addr); ok || err != nil {
				t.Fatalf("%q: ok %v err %v", addr, ok, err)
			}
		}
	})
}
