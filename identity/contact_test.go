package identity_test

import (
	"testing"
	"time"

	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

func TestMFA04_ChangePhone(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		a := h.signUp()
		other := h.login(a)
		h.clock.Advance(11 * time.Minute)
		cur, _, _ := h.svc.Authenticate(h.ctx, a.token)
		// Without a fresh second factor: refused.
		_, err := h.svc.BeginContactChange(h.ctx, cur, identity.ContactPhone, "+8613911112222", h.meta)
		wantCode(t, err, identity.EStepUpRequired)
		if _, err := h.svc.SendLoginCode(h.ctx, a.token, h.meta); err != nil {
			t.Fatal(err)
		}
		res, err := h.svc.VerifyFactor(h.ctx, a.token, identity.MethodSMS, h.lastCode(a.phone, "code_step_up"), h.meta)
		if err != nil {
			t.Fatal(err)
		}
		h.clock.Advance(61 * time.Second) // one SMS a minute per account (MFA-03)
		cur, _, _ = h.svc.Authenticate(h.ctx, res.Token)
		if _, err := h.svc.BeginContactChange(h.ctx, cur, identity.ContactPhone, "+86 139 1111 2222", h.meta); err != nil {
			t.Fatal(err)
		}
		code := h.lastCode("+8613911112222", "code_change_phone")
		wantCode(t, h.svc.ConfirmContactChange(h.ctx, cur, identity.ContactPhone, "000000", h.meta), identity.EInvalidCode)
		if err := h.svc.ConfirmContactChange(h.ctx, cur, identity.ContactPhone, code, h.meta); err != nil {
			t.Fatal(err)
		}
		u, _ := h.svc.FindUser(h.ctx, a.id)
		if u.Phone != "+8613911112222" || u.PhoneVerifiedAt.IsZero() {
			t.Fatalf("phone %q verified %v", u.Phone, u.PhoneVerifiedAt)
		}
		// The old number, the email and the new number are told.
		for _, to := range []string{a.phone, a.email, "+8613911112222"} {
			if len(h.messages(to, identity.NoteContactChanged)) != 1 {
				t.Errorf("%s not told of the change: %v", to, kinds(h.mailbox.List()))
			}
		}
		if _, _, err := h.svc.Authenticate(h.ctx, other); err == nil {
			t.Fatal("other session survived the change (SES-06)")
		}
		wantCode(t, h.svc.CanMoveMoneyOut(h.ctx, nil, a.id), identity.EHoldActive)
		// Login codes now go to the new number.
		a.phone = "+8613911112222"
		h.login(a)
		h.verifyAudit()
	})
}

func TestChangeEmailToATakenAddressSendsNoCode(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		a := h.signUp()
		b := h.signUp()
		// A step-up opens the sudo window (the clock is not turned back:
		// the send limits, which a taken address meets like a free one,
		// would see codes from the future).
		h.clock.Advance(61 * time.Second)
		if _, err := h.svc.SendLoginCode(h.ctx, a.token, h.meta); err != nil {
			t.Fatal(err)
		}
		res, err := h.svc.VerifyFactor(h.ctx, a.token, identity.MethodSMS, h.lastCode(a.phone, "code_step_up"), h.meta)
		if err != nil {
			t.Fatal(err)
		}
		cur := h.session(res.Token)
		if _, err := h.svc.BeginContactChange(h.ctx, cur, identity.ContactEmail, b.email, h.meta); err != nil {
			t.Fatalf("taken address: %v (must look like any other)", err)
		}
		if len(h.messages(b.email, "code_change_email")) != 0 {
			t.Fatal("a code went to another account's address")
		}
		if len(h.messages(b.email, identity.NoteRegisterAttempt)) != 1 {
			t.Fatal("the owner of the address was not told")
		}
	})
}

// LOG-10 for a contact change: a number that belongs to another account
// answers like a free one, down to the send limits and the death of the
// code sent before (a decoy code takes the real one's place).
func TestChangePhoneToATakenNumberLooksLikeAFreeOne(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		a := h.signUp()
		b := h.signUp()
		h.clock.Advance(61 * time.Second)
		if _, err := h.svc.SendLoginCode(h.ctx, a.token, h.meta); err != nil {
			t.Fatal(err)
		}
		res, err := h.svc.VerifyFactor(h.ctx, a.token, identity.MethodSMS, h.lastCode(a.phone, "code_step_up"), h.meta)
		if err != nil {
			t.Fatal(err)
		}
		cur := h.session(res.Token)
		const free = "+8613911113333"
		h.clock.Advance(61 * time.Second)
		if _, err := h.svc.BeginContactChange(h.ctx, cur, identity.ContactPhone, free, h.meta); err != nil {
			t.Fatal(err)
		}
		code := h.lastCode(free, "code_change_phone")
		// Within the minute: refused alike for a taken and a free number.
		_, err = h.svc.BeginContactChange(h.ctx, cur, identity.ContactPhone, b.phone, h.meta)
		wantCode(t, err, identity.ERateLimited)
		_, err = h.svc.BeginContactChange(h.ctx, cur, identity.ContactPhone, "+8613911114444", h.meta)
		wantCode(t, err, identity.ERateLimited)
		h.clock.Advance(61 * time.Second)
		if _, err := h.svc.BeginContactChange(h.ctx, cur, identity.ContactPhone, b.phone, h.meta); err != nil {
			t.Fatalf("taken number: %v (must look like a free one)", err)
		}
		if len(h.messages(b.phone, "code_change_phone")) != 0 {
			t.Fatal("a code went to another account's number")
		}
		if len(h.messages(b.phone, identity.NoteRegisterAttempt)) != 1 {
			t.Fatal("the owner of the number was not told")
		}
		// The earlier code died, as a new code to a free number kills it.
		wantCode(t, h.svc.ConfirmContactChange(h.ctx, cur, identity.ContactPhone, code, h.meta), identity.EInvalidCode)
		_, err = h.svc.BeginContactChange(h.ctx, cur, identity.ContactPhone, free, h.meta)
		wantCode(t, err, identity.ERateLimited)
		if u, _ := h.svc.FindUser(h.ctx, a.id); u.Phone != a.phone {
			t.Fatalf("phone changed to %s", u.Phone)
		}
	})
}
