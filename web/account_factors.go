package web

import (
	"slices"

	"github.com/okpay/okpay/identity"
)

// methodView is one second-factor method offered on a page: a code form,
// and for SMS or email a button that sends the code.
type methodView struct {
	Method    string // identity.MethodSMS, MethodEmail, MethodTOTP, MethodRecovery
	Label     string
	Hint      string
	Field     string // the code input's id
	Numeric   bool   // a numeric code (not a recovery code)
	CanSend   bool
	SendLabel string
}

// factorForms is the data of the "factors" template: one form per method.
type factorForms struct {
	P          *page
	Action     string // where the code forms post
	SendAction string // where the "send a code" buttons post
	Submit     string // the code forms' button
	Methods    []methodView
	// PasskeyAction, when set, is where the "use a passkey" button posts
	// (the user has a passkey; the ceremony has its own page).
	PasskeyAction string
}

// knownMethods are the methods the pages can take a code for (passkeys
// have their own ceremony).
var knownMethods = []string{identity.MethodTOTP, identity.MethodSMS, identity.MethodEmail, identity.MethodRecovery}

// factorMethods builds the method list in the given order, skipping
// methods the pages cannot offer. prefix makes the input ids unique on
// the page; hint picks each method's explanation.
func (p *page) factorMethods(methods []string, prefix string, hint func(m string) string, canSend func(m string) bool) []methodView {
	var out []methodView
	for _, m := range methods {
		if !slices.Contains(knownMethods, m) {
			continue
		}
		v := methodView{
			Method:  m,
			Label:   p.T("account.method." + m),
			Hint:    hint(m),
			Field:   prefix + "-" + m,
			Numeric: m != identity.MethodRecovery,
		}
		if canSend != nil && canSend(m) {
			v.CanSend = true
			v.SendLabel = p.T("account.send_code." + m)
		}
		out = append(out, v)
	}
	return out
}

// accountMethods lists the second factors of a signed-in user, the default
// first, as the identity service orders them: the authenticator app when
// enrolled, SMS, and recovery codes when some are left.
func accountMethods(u *identity.User) []string {
	var out []string
	if u.TOTPEnabled {
		out = append(out, identity.MethodTOTP)
	}
	out = append(out, identity.MethodSMS)
	if u.RecoveryCodes > 0 {
		out = append(out, identity.MethodRecovery)
	}
	return out
}

// offered reports whether method is in methods.
func offered(methods []string, method string) bool { return slices.Contains(methods, method) }

// maskPhone shows only the last four digits of a phone number.
func maskPhone(p string) string {
	if len(p) <= 4 {
		return "••••"
	}
	return "•••• " + p[len(p)-4:]
}
