package identity

// The strength of second factors (SECURITY.md MFA-09).
//
// Removing or replacing a second factor needs a fresh re-authentication
// (the sudo window, SES-08) made with a factor of equal or higher strength
// than the one removed, and must leave at least one second factor. The
// order, weakest first:
//
//  1. recovery code, SMS code (and an email code): a code that can be read
//     off a lost sheet, or sent to a SIM an attacker swapped;
//  2. authenticator app (TOTP): a secret bound to a device the user holds;
//  3. passkey (WebAuthn): phishing-resistant, bound to the site.
//
// So an authenticator app is removed or replaced only after a step-up with
// the app itself or a passkey, and a passkey only after a step-up with a
// passkey; recovery codes are renewed, and the phone number changed, after
// any second factor. The session remembers which factor made its last
// step-up (the login's second factor counts as one; a refresh keeps it).
// A step-up too weak is EStrongerFactorRequired, as a *StrongerFactorError
// that names the methods that would do.

import (
	"github.com/okpay/okpay"
)

// Strength levels of FactorStrength.
const (
	StrengthNone = 0
	StrengthCode = 1 // SMS, email, recovery code
	StrengthTOTP = 2
	StrengthKey  = 3 // passkey
)

// FactorStrength ranks a second-factor method (MFA-09); an unknown or
// empty method is StrengthNone.
func FactorStrength(method string) int {
	switch method {
	case MethodPasskey:
		return StrengthKey
	case MethodTOTP:
		return StrengthTOTP
	case MethodSMS, MethodEmail, MethodRecovery:
		return StrengthCode
	}
	return StrengthNone
}

// StrongerFactorError is EStrongerFactorRequired: the session's last
// step-up (Used) is weaker than the factor being removed or replaced
// (Factor).
type StrongerFactorError struct {
	Factor string
	Used   string
}

func (e *StrongerFactorError) Error() string {
	switch FactorStrength(e.Factor) {
	case StrengthKey:
		return "Removing a passkey needs a fresh confirmation with a passkey first."
	case StrengthTOTP:
		return "Removing or replacing your authenticator app needs a fresh confirmation with your authenticator app or a passkey first."
	}
	return "Confirm it is you with your second factor first."
}

// Code implements the coded-error convention of okpay.ErrorCode.
func (e *StrongerFactorError) Code() string { return EStrongerFactorRequired }

// Accepted lists the methods whose step-up would do, strongest first.
func (e *StrongerFactorError) Accepted() []string {
	var out []string
	for _, m := range []string{MethodPasskey, MethodTOTP, MethodSMS, MethodRecovery} {
		if FactorStrength(m) >= FactorStrength(e.Factor) {
			out = append(out, m)
		}
	}
	return out
}

// requireStrength checks, after requireSettings, that the session's last
// step-up was at least as strong as factor, which is about to be removed
// or replaced (MFA-09).
func requireStrength(ss *Session, factor string) error {
	if FactorStrength(ss.MFAMethod) < FactorStrength(factor) {
		return &StrongerFactorError{Factor: factor, Used: ss.MFAMethod}
	}
	return nil
}

// requireFactorLeft refuses a removal that would leave u without a second
// factor to sign in with (MFA-09). SMS to the verified phone counts: the
// phone number can be changed but never removed, so in practice one
// always remains; the check keeps that true if it ever changes.
func requireFactorLeft(u *userRow, removing string) error {
	n := 0
	if !u.PhoneVerifiedAt.IsZero() {
		n++
	}
	if u.TOTPEnabled && removing != MethodTOTP {
		n++
	}
	if removing == MethodPasskey {
		n += max(u.Passkeys-1, 0)
	} else {
		n += u.Passkeys
	}
	if n == 0 {
		return okpay.Errorf(okpay.EConflict, "This is your last second factor: add another one before you remove it.")
	}
	return nil
}
