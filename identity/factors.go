package identity

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/audit"
	"github.com/okpay/okpay/identity/otp"
	"github.com/okpay/okpay/identity/password"
	"github.com/okpay/okpay/identity/risk"
	"github.com/okpay/okpay/sqldb"
)

// TOTPSetup is what an authenticator app needs to be enrolled.
type TOTPSetup struct {
	Secret string // base32, to type in by hand
	URI    string // otpauth://, for a QR code
}

// requireSettings is requireSudo for a change of security settings: a
// frozen account is read-only (RSK-05), so it changes none of them; its
// owner recovers through the support desk.
func (s *Service) requireSettings(ctx context.Context, ss *Session) error {
	if err := s.requireSudo(ss); err != nil {
		return err
	}
	var status string
	if err := s.DB.Read.QueryRowContext(ctx, `SELECT status FROM users WHERE id = $1`, ss.UserID).Scan(&status); err != nil {
		return okpay.Internal(err, "load user")
	}
	if status == "frozen" {
		return okpay.Errorf(EAccountFrozen, "This account is frozen and read-only: its settings cannot change. Contact support.")
	}
	return nil
}

// requireSudo checks a full session inside the sudo window (SES-08).
func (s *Service) requireSudo(ss *Session) error {
	if err := RequireAAL2(ss); err != nil {
		return err
	}
	if !s.Sudo(ss) {
		return errSudo()
	}
	return nil
}

// BeginTOTP draws a new authenticator secret and keeps it, sealed, until
// ConfirmTOTP proves the app has it (MFA-05: enrolment needs a valid code).
func (s *Service) BeginTOTP(ctx context.Context, ss *Session) (*TOTPSetup, error) {
	if err := s.requireSettings(ctx, ss); err != nil {
		return nil, err
	}
	var enabled int64
	if err := s.DB.Read.QueryRowContext(ctx, `SELECT totp_enabled_at FROM users WHERE id = $1`, ss.UserID).Scan(&enabled); err != nil {
		return nil, okpay.Internal(err, "load user")
	}
	if enabled != 0 {
		// Replacing the app is removing one (MFA-09).
		if err := requireStrength(ss, MethodTOTP); err != nil {
			return nil, err
		}
	}
	key, err := otp.GenerateTOTPSecret()
	if err != nil {
		return nil, okpay.Internal(err, "totp secret")
	}
	sealed, err := s.totpSeal.Seal(key, totpAAD(ss.UserID))
	if err != nil {
		return nil, okpay.Internal(err, "seal totp secret")
	}
	var email string
	if err := s.DB.Read.QueryRowContext(ctx, `SELECT email FROM users WHERE id = $1`, ss.UserID).Scan(&email); err != nil {
		return nil, okpay.Internal(err, "load user")
	}
	if _, err := s.DB.Write.ExecContext(ctx, `UPDATE users SET totp_pending = $1 WHERE id = $2`, sealed, ss.UserID); err != nil {
		return nil, okpay.Internal(err, "store totp secret")
	}
	return &TOTPSetup{Secret: otp.EncodeSecret(key), URI: otp.ProvisioningURI("OKPay", email, key)}, nil
}

// ConfirmTOTP enrols the pending authenticator secret when code is valid.
// The step of that code counts as used, so the set-up code cannot be
// replayed as a login code. Other sessions end (SES-06) and every channel
// hears of it (NOT-01).
func (s *Service) ConfirmTOTP(ctx context.Context, ss *Session, code string, m Meta) error {
	if err := s.requireSettings(ctx, ss); err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		u, err := s.loadUser(ctx, tx, ss.UserID, true)
		if err != nil {
			return err
		}
		if len(u.totpPending) == 0 {
			return okpay.Errorf(EFlowInvalid, "Start setting up the authenticator app again.")
		}
		replacing := u.TOTPEnabled
		if replacing {
			if err := requireStrength(ss, MethodTOTP); err != nil {
				return err
			}
		}
		key, err := s.totpSeal.Open(u.totpPending, totpAAD(u.ID))
		if err != nil {
			return okpay.Internal(err, "open totp secret")
		}
		step, ok := otp.CheckTOTP(key, code, s.now(), 0)
		if !ok {
			return errBadCode()
		}
		if _, err := tx.ExecContext(ctx, `UPDATE users SET totp_secret = totp_pending, totp_pending = NULL, totp_last_step = $1, totp_enabled_at = $2, updated_at = $2 WHERE id = $3`,
			step, micros(s.now()), u.ID); err != nil {
			return okpay.Internal(err, "enable totp")
		}
		if replacing {
			// The old app no longer works: a factor removed (RSK-02).
			if err := s.startHold(ctx, tx, u, risk.FactorRemoved, "factor_replaced", m); err != nil {
				return err
			}
		}
		if _, err := s.revokeSessions(ctx, tx, u.ID, ss.ID, "factor added", m); err != nil {
			return err
		}
		if err := s.audit(ctx, tx, audit.Event{Name: audit.AuthnMFAEnabled, Actor: userRef(u.ID), Subject: userRef(u.ID), Outcome: "success", Details: map[string]string{"method": MethodTOTP}}, m); err != nil {
			return err
		}
		return s.notifySecurity(ctx, tx, u, NoteFactorAdded, m, map[string]any{"Method": s.Catalog.T(u.Lang, "factor.totp", nil)})
	})
}

// DisableTOTP removes the authenticator app. It needs the sudo window
// opened with the app itself or a passkey (MFA-09: a factor at least as
// strong, else a *StrongerFactorError); SMS stays as the second factor (at
// least one remains). Other sessions end, every channel hears of it, and
// money-out waits 24 h.
func (s *Service) DisableTOTP(ctx context.Context, ss *Session, m Meta) error {
	if err := s.requireSettings(ctx, ss); err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		u, err := s.loadUser(ctx, tx, ss.UserID, true)
		if err != nil {
			return err
		}
		if !u.TOTPEnabled {
			return nil
		}
		if err := requireStrength(ss, MethodTOTP); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM passkeys WHERE user_id = $1 AND deleted_at IS NULL`, u.ID).Scan(&u.Passkeys); err != nil {
			return okpay.Internal(err, "count passkeys")
		}
		if err := requireFactorLeft(u, MethodTOTP); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE users SET totp_secret = NULL, totp_enabled_at = 0, updated_at = $1 WHERE id = $2`, micros(s.now()), u.ID); err != nil {
			return okpay.Internal(err, "disable totp")
		}
		if err := s.startHold(ctx, tx, u, risk.FactorRemoved, "factor_removed", m); err != nil {
			return err
		}
		if _, err := s.revokeSessions(ctx, tx, u.ID, ss.ID, "factor removed", m); err != nil {
			return err
		}
		if err := s.audit(ctx, tx, audit.Event{Name: audit.AuthnMFADisabled, Actor: userRef(u.ID), Subject: userRef(u.ID), Outcome: "success", Details: map[string]string{"method": MethodTOTP}}, m); err != nil {
			return err
		}
		return s.notifySecurity(ctx, tx, u, NoteFactorRemoved, m, map[string]any{"Method": s.Catalog.T(u.Lang, "factor.totp", nil)})
	})
}

// RegenerateRecoveryCodes replaces the user's recovery codes with ten new
// ones, returned once for the user to keep; the old ones die (MFA-07).
func (s *Service) RegenerateRecoveryCodes(ctx context.Context, ss *Session, m Meta) ([]string, error) {
	if err := s.requireSettings(ctx, ss); err != nil {
		return nil, err
	}
	// Replacing the codes needs a step-up at least as strong as a code:
	// any second factor (MFA-09).
	if err := requireStrength(ss, MethodRecovery); err != nil {
		return nil, err
	}
	codes, err := otp.NewRecoveryCodes(10)
	if err != nil {
		return nil, okpay.Internal(err, "recovery codes")
	}
	hashes := make([]string, len(codes))
	out := make([]string, len(codes))
	for i, c := range codes {
		if hashes[i], err = s.Hasher.Hash(ctx, c.Secret); err != nil {
			return nil, okpay.Internal(err, "hash recovery code")
		}
		out[i] = c.String()
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		u, err := s.loadUser(ctx, tx, ss.UserID, true)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM recovery_codes WHERE user_id = $1`, u.ID); err != nil {
			return okpay.Internal(err, "drop recovery codes")
		}
		now := micros(s.now())
		for i, c := range codes {
			if _, err := tx.ExecContext(ctx, `INSERT INTO recovery_codes (user_id, idx, hash, created_at) VALUES ($1, $2, $3, $4)`, u.ID, c.Index, hashes[i], now); err != nil {
				return okpay.Internal(err, "store recovery code")
			}
		}
		if err := s.audit(ctx, tx, audit.Event{Name: audit.AuthnMFAEnabled, Actor: userRef(u.ID), Subject: userRef(u.ID), Outcome: "success", Details: map[string]string{"method": MethodRecovery}}, m); err != nil {
			return err
		}
		return s.notifySecurity(ctx, tx, u, NoteFactorAdded, m, map[string]any{"Method": s.Catalog.T(u.Lang, "factor.recovery_code", nil)})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// useRecoveryCode checks a recovery code with exactly one hash computation
// (its index finds the row) and consumes it with a compare-and-set. Using
// one notifies and starts a cooling-off hold (MFA-07).
func (s *Service) useRecoveryCode(ctx context.Context, tx *sql.Tx, u *userRow, input string, m Meta) error {
	idx, sec, ok := otp.ParseRecoveryCode(input)
	if !ok {
		return errBadCode()
	}
	var hash string
	err := tx.QueryRowContext(ctx, `SELECT hash FROM recovery_codes WHERE user_id = $1 AND idx = $2 AND used_at = 0`, u.ID, idx).Scan(&hash)
	if errors.Is(err, sql.ErrNoRows) {
		s.Hasher.DummyVerify(ctx, sec)
		return errBadCode()
	}
	if err != nil {
		return okpay.Internal(err, "load recovery code")
	}
	match, _, err := s.Hasher.Verify(ctx, sec, hash)
	if err != nil {
		return okpay.Internal(err, "verify recovery code")
	}
	if !match {
		return errBadCode()
	}
	res, err := tx.ExecContext(ctx, `UPDATE recovery_codes SET used_at = $1 WHERE user_id = $2 AND idx = $3 AND used_at = 0`, micros(s.now()), u.ID, idx)
	if err != nil {
		return okpay.Internal(err, "use recovery code")
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return errBadCode()
	}
	if err := s.startHold(ctx, tx, u, risk.RecoveryCodeUsed, "recovery_code_used", m); err != nil {
		return err
	}
	if err := s.audit(ctx, tx, audit.Event{Name: audit.AuthnRecoveryCodeUsed, Actor: userRef(u.ID), Subject: userRef(u.ID), Outcome: "success"}, m); err != nil {
		return err
	}
	return s.notifySecurity(ctx, tx, u, NoteRecoveryCodeUsed, m, nil)
}

// startHold extends the user's cooling-off hold for kind (RSK-02); holds
// stack to the latest end and never shorten.
func (s *Service) startHold(ctx context.Context, tx *sql.Tx, u *userRow, kind risk.Kind, reason string, m Meta) error {
	d := risk.HoldFor(kind)
	if d <= 0 {
		return nil
	}
	now := s.now()
	until := risk.ExtendHold(u.HoldUntil, now, d)
	if !until.After(u.HoldUntil) {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `UPDATE users SET hold_until = $1, hold_reason = $2 WHERE id = $3`, micros(until), reason, u.ID); err != nil {
		return okpay.Internal(err, "start hold")
	}
	u.HoldUntil, u.HoldReason = until, reason
	return s.audit(ctx, tx, audit.Event{Name: audit.HoldStarted, Actor: userRef(u.ID), Subject: userRef(u.ID), Outcome: "success", Reason: reason,
		Details: map[string]string{"hold_until": until.Format(time.RFC3339)}}, m)
}

// ChangePassword sets a new password. It needs the current password (a
// wrong one counts toward the lockout) and the sudo window (PWD-06); other
// sessions end (SES-06).
func (s *Service) ChangePassword(ctx context.Context, ss *Session, current, next string, m Meta) error {
	if err := s.requireSettings(ctx, ss); err != nil {
		return err
	}
	u, err := s.loadUser(ctx, s.DB.Read, ss.UserID, false)
	if err != nil {
		return err
	}
	if err := s.checkNewPassword(u, next); err != nil {
		return err
	}
	if len(current) > password.MaxBytes {
		return okpay.Invalid(map[string]string{"current_password": "That is not your current password."})
	}
	ok, _, err := s.Hasher.Verify(ctx, current, u.passwordHash)
	if err != nil {
		return okpay.Internal(err, "verify password")
	}
	var hash string
	if ok {
		if hash, err = s.Hasher.Hash(ctx, next); err != nil {
			return okpay.Internal(err, "hash password")
		}
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		u, err := s.loadUser(ctx, tx, ss.UserID, true)
		if err != nil {
			return err
		}
		if !ok {
			if err := s.countFailure(ctx, tx, u, m); err != nil {
				return err
			}
			return sqldb.CommitThen(okpay.Invalid(map[string]string{"current_password": "That is not your current password."}))
		}
		if _, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = $1, compromised = 0, updated_at = $2 WHERE id = $3`, hash, micros(s.now()), u.ID); err != nil {
			return okpay.Internal(err, "set password")
		}
		if _, err := s.revokeSessions(ctx, tx, u.ID, ss.ID, "password changed", m); err != nil {
			return err
		}
		if err := s.audit(ctx, tx, audit.Event{Name: audit.AuthnPasswordChange, Actor: userRef(u.ID), Subject: userRef(u.ID), Outcome: "success"}, m); err != nil {
			return err
		}
		return s.notifySecurity(ctx, tx, u, NotePasswordChanged, m, nil)
	})
}

// checkNewPassword applies the policy with the user's context words.
func (s *Service) checkNewPassword(u *userRow, pw string) error {
	local := u.Email
	if at := indexByte(local, '@'); at > 0 {
		local = local[:at]
	}
	if len(u.Phone) > 1 {
		return s.CheckPassword(pw, s.cfg.ProductName, local, u.Phone[1:])
	}
	return s.CheckPassword(pw, s.cfg.ProductName, local)
}

func indexByte(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}
