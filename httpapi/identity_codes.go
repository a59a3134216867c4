package httpapi

import (
	"errors"
	"net/http"

	"github.com/okpay/okpay/identity"
)

// The HTTP statuses of the identity codes added for PWD-08 and MFA-09,
// joined to statusOf (problem.go, the one table where domain errors meet
// HTTP) when the package loads.
func init() {
	statusOf[identity.EPasswordChangeRequired] = http.StatusForbidden
	statusOf[identity.EStrongerFactorRequired] = http.StatusForbidden
}

// passwordChangeAllowed are the session routes a customer whose password
// is marked compromised may still call (PWD-08): their account, the
// password change, logout, freeze and the second-factor steps (which open
// the sudo window the change needs). Every other session route answers
// 403 password_change_required.
var passwordChangeAllowed = map[string]bool{
	"GET /api/v1/me":                  true,
	"POST /api/v1/me/password":        true,
	"DELETE /api/v1/sessions/current": true,
	"POST /api/v1/me/freeze":          true,
	"POST /api/v1/mfa/sms":            true,
	"POST /api/v1/mfa/verify":         true,
	"POST /api/v1/mfa/passkey":        true,
	"POST /api/v1/mfa/passkey/finish": true,
}

// passwordGate wraps the handler of session route key: unless the route
// is one of passwordChangeAllowed, a customer who must change the password
// gets 403 password_change_required (PWD-08).
func (s *Server) passwordGate(key string, next sessionHandler) sessionHandler {
	if passwordChangeAllowed[key] {
		return next
	}
	return func(w http.ResponseWriter, r *http.Request, c *caller) {
		if err := identity.RequirePasswordCurrent(c.user); err != nil {
			s.writeError(w, r, err)
			return
		}
		next(w, r, c)
	}
}

// withAcceptedMethods adds to a stronger_factor_required problem the
// methods whose step-up would do ("accepted_methods", strongest first),
// so a client can offer just those (MFA-09).
func withAcceptedMethods(err error) error {
	var se *identity.StrongerFactorError
	if !errors.As(err, &se) {
		return err
	}
	m := append(make([]byte, 0, 64), `,"accepted_methods":`...)
	m = appendStrings(m, se.Accepted())
	return &extendedError{error: err, members: m}
}
