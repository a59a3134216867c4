package identity

// Compromised passwords (SECURITY.md PWD-08).
//
// Passwords never expire. A change is forced only when the password is
// known to be compromised: found in a breach corpus, seen in a phishing
// kit, or reported by the owner to support. MarkCompromised sets the flag
// (users.compromised), ends every session and refresh token, audits it and
// tells the owner on every channel. From then on a sign-in still needs the
// password and the second factor, but the session it opens can do nothing
// but change the password (and sign out, freeze, or pass a second factor
// to open the sudo window the change needs): the web pages send it to the
// change-password page, and the API answers every other route with 403
// password_change_required (RequirePasswordCurrent). A password change or
// a reset clears the flag. A frozen account is read-only and is not forced:
// its recovery goes through support (RSK-06 includes a password reset).

import (
	"context"
	"database/sql"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/audit"
)

// auditPasswordCompromised is the audit event of MarkCompromised.
const auditPasswordCompromised = "authn_password_compromised"

// RequirePasswordCurrent returns EPasswordChangeRequired when u must change
// the password before anything else (PWD-08).
func RequirePasswordCurrent(u *User) error {
	if u.MustChangePassword() {
		return okpay.Errorf(EPasswordChangeRequired, "Your password must be changed before you continue: it may be known to someone else. Change it now.")
	}
	return nil
}

// MarkCompromised marks the user's password compromised on the order of
// actor (an agent, an administrator, or "system" for a breach check), with
// an optional support case and a reason, all audited: every session and
// refresh token ends, the owner is told on every channel, and the next
// sign-in must change the password (PWD-08). Marking an account already
// marked changes nothing. The support desk and `okpay user
// mark-compromised` call it.
func (s *Service) MarkCompromised(ctx context.Context, userID int64, actor, caseID, reason string, m Meta) error {
	if actor == "" || reason == "" {
		return okpay.Invalid(map[string]string{"reason": "Marking a password compromised needs the acting person and a reason."})
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		u, err := s.loadUser(ctx, tx, userID, true)
		if err != nil {
			return err
		}
		if u.Compromised {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `UPDATE users SET compromised = 1, updated_at = $1 WHERE id = $2`, micros(s.now()), u.ID); err != nil {
			return okpay.Internal(err, "mark compromised")
		}
		u.Compromised = true
		if _, err := s.revokeSessions(ctx, tx, u.ID, 0, "password compromised", m); err != nil {
			return err
		}
		if err := s.audit(ctx, tx, audit.Event{Name: auditPasswordCompromised, Actor: actor, Subject: userRef(u.ID), Outcome: "success",
			CaseID: caseID, Reason: reason}, m); err != nil {
			return err
		}
		return s.notifySecurity(ctx, tx, u, NotePasswordCompromised, m, nil)
	})
}
