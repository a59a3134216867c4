package identity_test

import (
	"testing"
	"time"

	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

// Nobody can turn OKPay into a mail or SMS bomb: "someone tried to use
// your details" notices are capped per owner, and codes by email are
// limited like codes by SMS.
func TestNoticeAndEmailCodeFloodsAreCapped(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		victim := h.signUp()
		for i := 0; i < 4; i++ {
			h.clock.Advance(61 * time.Second) // one code a minute per destination
			m := h.meta
			m.IP = "192.0.2." + itoa(i+1)
			if _, err := h.svc.Register(h.ctx, identity.RegisterInput{Email: victim.email, Phone: "+861390013900" + itoa(i), Password: "an attacker's passphrase"}, m); err != nil {
				t.Fatal(err)
			}
		}
		if n := len(h.messages(victim.phone, identity.NoteRegisterAttempt)); n != 3 {
			t.Fatalf("the owner got %d SMS notices in an hour, want 3", n)
		}
		h.clock.Advance(time.Hour)
		m := h.meta
		m.IP = "192.0.2.99"
		h.svc.Register(h.ctx, identity.RegisterInput{Email: victim.email, Phone: "+8613900139999", Password: "an attacker's passphrase"}, m)
		if n := len(h.messages(victim.phone, identity.NoteRegisterAttempt)); n != 4 {
			t.Fatalf("after an hour: %d notices, want 4", n)
		}

		// Email codes to a new address: one a minute, like SMS.
		a := h.signUp()
		cur, _, _ := h.svc.Authenticate(h.ctx, a.token)
		if _, err := h.svc.BeginContactChange(h.ctx, cur, identity.ContactEmail, "target@example.com", h.meta); err != nil {
			t.Fatal(err)
		}
		_, err := h.svc.BeginContactChange(h.ctx, cur, identity.ContactEmail, "target@example.com", h.meta)
		wantCode(t, err, identity.ERateLimited)
		if n := len(h.messages("target@example.com", "code_change_email")); n != 1 {
			t.Fatalf("%d codes mailed, want 1", n)
		}
	})
}
