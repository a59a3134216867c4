package identity_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/identity/otp"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

// MFA-09: the order of second factors, weakest first.
func TestMFA09_FactorStrengthOrder(t *testing.T) {
	order := []string{"", identity.MethodRecovery, identity.MethodTOTP, identity.MethodPasskey}
	for i := 1; i < len(order); i++ {
		if identity.FactorStrength(order[i-1]) >= identity.FactorStrength(order[i]) {
			t.Errorf("%q is not weaker than %q", order[i-1], order[i])
		}
	}
	if identity.FactorStrength(identity.MethodSMS) != identity.FactorStrength(identity.MethodRecovery) ||
		identity.FactorStrength(identity.MethodEmail) != identity.FactorStrength(identity.MethodSMS) {
		t.Error("SMS, email and recovery codes are not equal")
	}
	if identity.FactorStrength("bogus") != identity.StrengthNone {
		t.Error("an unknown method has a strength")
	}
}

// strongerError returns err as a *StrongerFactorError, or fails.
func strongerError(t *testing.T, err error) *identity.StrongerFactorError {
	t.Helper()
	var se *identity.StrongerFactorError
	if !errors.As(err, &se) || okpay.ErrorCode(err) != identity.EStrongerFactorRequired {
		t.Fatalf("error %v, want stronger_factor_required", err)
	}
	return se
}

// MFA-09: removing or replacing a factor needs a step-up with one at
// least as strong (recovery code, SMS < authenticator app < passkey), and
// the session remembers which factor made its step-up.
func TestMFA09_RemovalNeedsAStepUpAtLeastAsStrong(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		a := h.signUp()
		ss := h.session(a.token)
		if ss.MFAMethod != identity.MethodSMS {
			t.Fatalf("sign-up session step-up %q, want sms", ss.MFAMethod)
		}
		// Adding the app needs only the sudo window.
		_, key := h.enrolTOTP(ss)
		// Renewing recovery codes after an SMS step-up is fine.
		if _, err := h.svc.RegenerateRecoveryCodes(h.ctx, ss, h.meta); err != nil {
			t.Fatal(err)
		}
		// Removing or replacing the app after an SMS step-up is not.
		se := strongerError(t, h.svc.DisableTOTP(h.ctx, ss, h.meta))
		if se.Factor != identity.MethodTOTP || se.Used != identity.MethodSMS || !slices.Equal(se.Accepted(), []string{identity.MethodPasskey, identity.MethodTOTP}) {
			t.Fatalf("error %+v accepts %v", se, se.Accepted())
		}
		_, err := h.svc.BeginTOTP(h.ctx, ss)
		strongerError(t, err)

		// A recovery code is no stronger.
		codes, err := h.svc.RegenerateRecoveryCodes(h.ctx, ss, h.meta)
		if err != nil {
			t.Fatal(err)
		}
		res, err := h.svc.VerifyFactor(h.ctx, a.token, identity.MethodRecovery, codes[0], h.meta)
		if err != nil {
			t.Fatal(err)
		}
		ss = h.session(res.Token)
		if ss.MFAMethod != identity.MethodRecovery {
			t.Fatalf("step-up method %q", ss.MFAMethod)
		}
		strongerError(t, h.svc.DisableTOTP(h.ctx, ss, h.meta))

		// The app itself is as strong: replace it, then remove it.
		h.clock.Advance(30 * time.Second)
		res, err = h.svc.VerifyFactor(h.ctx, res.Token, identity.MethodTOTP, otp.TOTPCode(key, h.clock.Now()), h.meta)
		if err != nil {
			t.Fatal(err)
		}
		ss = h.session(res.Token)
		setup, err := h.svc.BeginTOTP(h.ctx, ss)
		if err != nil {
			t.Fatalf("replace the app: %v", err)
		}
		key = decodeSecret(t, setup.Secret)
		h.clock.Advance(30 * time.Second)
		if err := h.svc.ConfirmTOTP(h.ctx, ss, otp.TOTPCode(key, h.clock.Now()), h.meta); err != nil {
			t.Fatal(err)
		}
		if u, _ := h.svc.FindUser(h.ctx, a.id); u.HoldReason != "factor_replaced" {
			t.Fatalf("replacing the app started no hold: %+v", u)
		}
		// A passkey, added after the app's step-up, is stronger than it:
		// removing it needs a passkey.
		auth := h.enrol(res.Token, "key")
		pk, _ := h.svc.Passkeys(h.ctx, a.id)
		se = strongerError(t, h.svc.RemovePasskey(h.ctx, ss, pk[0].ID, h.meta))
		if !slices.Equal(se.Accepted(), []string{identity.MethodPasskey}) {
			t.Fatalf("accepted %v", se.Accepted())
		}
		if err := h.svc.DisableTOTP(h.ctx, ss, h.meta); err != nil {
			t.Fatalf("remove the app after its own step-up: %v", err)
		}
		up, err := h.passkeyFactor(res.Token, auth)
		if err != nil {
			t.Fatal(err)
		}
		ss = h.session(up.Token)
		if ss.MFAMethod != identity.MethodPasskey {
			t.Fatalf("step-up method %q", ss.MFAMethod)
		}
		if err := h.svc.RemovePasskey(h.ctx, ss, pk[0].ID, h.meta); err != nil {
			t.Fatal(err)
		}
		// SMS remains: at least one second factor (MFA-09).
		u, _ := h.svc.FindUser(h.ctx, a.id)
		if u.TOTPEnabled || u.Passkeys != 0 || u.PhoneVerifiedAt.IsZero() {
			t.Fatalf("after the removals: %+v", u)
		}
		if res := h.passwordStep(a); !slices.Contains(res.Methods, identity.MethodSMS) {
			t.Fatalf("methods left: %v", res.Methods)
		}
		// A session that never recorded its step-up (made before the
		// method was kept) must step up again.
		db.Write.ExecContext(h.ctx, `UPDATE sessions SET mfa_method = '' WHERE id = $1`, ss.ID)
		_, err = h.svc.RegenerateRecoveryCodes(h.ctx, h.session(up.Token), h.meta)
		strongerError(t, err)
		h.verifyAudit()
	})
}
