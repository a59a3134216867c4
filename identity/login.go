package identity

import (
	"context"
	"database/sql"
	"strconv"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/audit"
	"github.com/okpay/okpay/identity/otp"
	"github.com/okpay/okpay/identity/password"
	"github.com/okpay/okpay/identity/risk"
	"github.com/okpay/okpay/sqldb"
)

// LoginResult is the outcome of a password check or of a second-factor
// step.
type LoginResult struct {
	// Token is the session's new cookie value (it changes at every step,
	// SES-02).
	Token   string
	Session *Session
	// Methods lists the second factors this account can use, the default
	// first; empty once the session is AAL2.
	Methods []string
	// SMSSent tells whether an SMS code went out; SMSError says why not
	// (a send limit), and the other methods stay available (REL-16).
	SMSSent  bool
	SMSError error
	// Destination is where the SMS went, masked.
	Destination string
	// RefreshToken is the refresh token issued with a completed login
	// when the client asked for one (Meta.RefreshToken); see refresh.go.
	RefreshToken string
}

const loginDigits = 6

// errCredentials is the single answer to every failed login (LOG-01).
func errCredentials() error {
	return okpay.Errorf(EInvalidCredentials, "The email or phone number, or the password, is not right. Check them and try again.")
}

// Login checks an identifier (email or phone) and password. On success the
// result holds an AAL1 session that only the second-factor step accepts
// (MFA-01); an SMS code is sent unless the account uses an authenticator
// app. Every failure gives the same error, in about the same time (a
// dummy hash runs for unknown users, LOG-02), and counts toward the
// account's lockout (LOG-03/04) and the client's per-IP limit (LOG-06).
func (s *Service) Login(ctx context.Context, identifier, pw string, m Meta) (*LoginResult, error) {
	if err := s.hit(ctx, s.DB.Write, "login:"+ipKey(m.IP), time.Minute, s.cfg.LoginPerIPPerMinute); err != nil {
		return nil, err
	}
	if len(pw) > password.MaxBytes {
		return nil, errCredentials()
	}
	u, err := s.findByIdentifier(ctx, s.DB.Read, identifier, false)
	if err != nil {
		return nil, err
	}
	if u == nil {
		// The same work as a wrong password: one hash, one audited write
		// (LOG-02: the timing tells nothing).
		s.Hasher.DummyVerify(ctx, pw)
		if err := s.inTx(ctx, func(tx *sql.Tx) error {
			return s.audit(ctx, tx, audit.Event{Name: audit.AuthnLoginFail, Outcome: "failure", Reason: "unknown identifier"}, m)
		}); err != nil {
			return nil, err
		}
		return nil, errCredentials()
	}
	ok, rehash, err := s.Hasher.Verify(ctx, pw, u.passwordHash)
	if err != nil {
		if okpay.ErrorCode(err) == okpay.EUnavailable {
			return nil, err // cancelled while waiting for a hashing slot
		}
		return nil, okpay.Internal(err, "verify password")
	}
	newHash := ""
	if ok && rehash {
		if newHash, err = s.Hasher.Hash(ctx, pw); err != nil {
			return nil, okpay.Internal(err, "rehash password")
		}
	}
	var res *LoginResult
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		u, err := s.loadUser(ctx, tx, u.ID, true)
		if err != nil {
			return err
		}
		now := s.now()
		if now.Before(fromMicros(u.lockedUntil)) {
			// During a block even the right password fails, alike (LOG-04).
			return sqldb.CommitThen(s.auditFail(ctx, tx, u, "blocked", m))
		}
		if !ok {
			if err := s.countFailure(ctx, tx, u, m); err != nil {
				return err
			}
			return sqldb.CommitThen(s.auditFail(ctx, tx, u, "password", m))
		}
		if newHash != "" {
			// Stronger parameters since this hash was made (PWD-10).
			if _, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3 AND password_hash = $4`,
				newHash, micros(now), u.ID, u.passwordHash); err != nil {
				return okpay.Internal(err, "rehash password")
			}
		}
		token, ss, err := s.createSession(ctx, tx, u.ID, AAL1, time.Time{}, "", m)
		if err != nil {
			return err
		}
		if u.Passkeys, err = s.passkeyCount(ctx, u.ID); err != nil {
			return err
		}
		res = &LoginResult{Token: token, Session: ss, Methods: s.methods(u, false)}
		if res.Methods[0] == MethodSMS {
			res.SMSError = s.sendLoginSMS(ctx, tx, u, ss, purposeLogin, m)
			res.SMSSent = res.SMSError == nil
			res.Destination = maskPhone(u.Phone)
		}
		return nil
	})
	if res != nil && res.SMSError != nil && okpay.ErrorCode(res.SMSError) == okpay.EInternal {
		return nil, res.SMSError
	}
	return res, err
}

// methods lists the second factors of u, the default first.
func (s *Service) methods(u *userRow, forReset bool) []string {
	var out []string
	if u.TOTPEnabled {
		out = append(out, MethodTOTP)
	}
	out = append(out, MethodSMS)
	if s.Deps.Passkeys != nil && u.Passkeys > 0 {
		out = append(out, MethodPasskey)
	}
	out = append(out, MethodRecovery)
	return out
}

// sendLoginSMS sends an SMS code bound to the session. Its error is a
// RateLimitError or internal.
func (s *Service) sendLoginSMS(ctx context.Context, tx *sql.Tx, u *userRow, ss *Session, purpose string, m Meta) error {
	return s.sendCode(ctx, tx, codeRequest{owner: "sess:" + strconv.FormatInt(ss.ID, 10), user: u, purpose: purpose,
		channel: MethodSMS, digits: loginDigits, ttl: s.cfg.OTPTTL}, m)
}

// SendLoginCode (re)sends the SMS code of a session waiting for its second
// factor; the previous code dies (MFA-02). Send limits apply (MFA-03).
func (s *Service) SendLoginCode(ctx context.Context, token string, m Meta) (string, error) {
	var dest string
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		ss, err := s.lookupSession(ctx, tx, token)
		if err != nil {
			return err
		}
		purpose := purposeLogin
		if ss.AAL >= AAL2 {
			purpose = purposeStepUp
		}
		u, err := s.loadUser(ctx, tx, ss.UserID, true)
		if err != nil {
			return err
		}
		dest = maskPhone(u.Phone)
		return s.sendLoginSMS(ctx, tx, u, ss, purpose, m)
	})
	return dest, err
}

// VerifyFactor finishes a login (AAL1 session) or refreshes the sudo
// window (AAL2 session, step-up) with a second factor: an SMS code, a TOTP
// code or a recovery code. Passkeys go through FinishPasskeyLogin. On success
// the session gets a new token. A wrong factor counts toward the lockout
// (MFA-06) and, at login, tells the owner that someone knows the password
// (LOG-08).
func (s *Service) VerifyFactor(ctx context.Context, token, method, code string, m Meta) (*LoginResult, error) {
	var res *LoginResult
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		ss, err := s.lookupSession(ctx, tx, token)
		if err != nil {
			return err
		}
		u, err := s.loadUser(ctx, tx, ss.UserID, true)
		if err != nil {
			return err
		}
		if s.now().Before(fromMicros(u.lockedUntil)) {
			return sqldb.CommitThen(errBadCode())
		}
		owner := "sess:" + strconv.FormatInt(ss.ID, 10)
		purpose := purposeLogin
		if ss.AAL >= AAL2 {
			purpose = purposeStepUp
		}
		var ferr error
		switch method {
		case MethodSMS:
			_, ferr = s.checkCode(ctx, tx, owner, purpose, code, loginDigits)
		case MethodTOTP:
			ferr = s.checkTOTP(ctx, tx, u, code)
		case MethodRecovery:
			ferr = s.useRecoveryCode(ctx, tx, u, code, m)
		default:
			return okpay.Invalid(map[string]string{"method": "Choose sms, totp or recovery_code."})
		}
		if ferr != nil {
			if okpay.ErrorCode(ferr) == okpay.EInternal {
				return ferr
			}
			if err := s.factorFailed(ctx, tx, u, ss, method, m); err != nil {
				return err
			}
			return sqldb.CommitThen(ferr)
		}
		res, err = s.factorPassed(ctx, tx, u, ss, method, m)
		return err
	})
	return res, err
}

// factorPassed completes a second-factor step: the session becomes (or
// stays) AAL2 with a fresh sudo window and a new token.
func (s *Service) factorPassed(ctx context.Context, tx *sql.Tx, u *userRow, ss *Session, method string, m Meta) (*LoginResult, error) {
	now := s.now()
	login := ss.AAL < AAL2
	token, err := s.rotate(ctx, tx, ss, AAL2, now, method)
	if err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE users SET failed_count = 0, failed_since = 0 WHERE id = $1`, u.ID); err != nil {
		return nil, okpay.Internal(err, "reset failures")
	}
	if method == MethodSMS && u.PhoneVerifiedAt.IsZero() {
		if _, err := tx.ExecContext(ctx, `UPDATE users SET phone_verified_at = $1 WHERE id = $2`, micros(now), u.ID); err != nil {
			return nil, okpay.Internal(err, "verify phone")
		}
	}
	name, reason := audit.AuthnTokenCreated, "step-up"
	details := map[string]string{"method": method}
	if login {
		reason = "login"
		name = audit.AuthnLoginSuccess
		if u.failedCount > 0 {
			name = audit.AuthnLoginSuccessAfterFail
		}
		isNew, err := s.touchDevice(ctx, tx, u.ID, m)
		if err != nil {
			return nil, err
		}
		if isNew {
			details[detailNewDevice] = "true" // the wallet's risk rules read it back (risk_money.go)
			if err := s.notifySecurity(ctx, tx, u, NoteNewDevice, m, nil); err != nil {
				return nil, err
			}
		}
		// Impossible travel (RSK-04), before this sign-in joins the
		// history it is weighed against.
		if _, err := s.checkLoginRisk(ctx, tx, u, ss, isNew, m); err != nil {
			return nil, err
		}
	}
	if err := s.audit(ctx, tx, audit.Event{Name: name, Actor: userRef(u.ID), Subject: userRef(u.ID), Outcome: "success", Reason: reason,
		Details: details}, m); err != nil {
		return nil, err
	}
	res := &LoginResult{Token: token, Session: ss}
	if login && m.RefreshToken {
		// Only a login starts a refresh-token family; a step-up keeps
		// the session's (POST /sessions/refresh-token issues one later).
		if res.RefreshToken, err = s.issueRefreshToken(ctx, tx, ss, 0, m); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// factorFailed counts a failed second factor against the account and, the
// first time in a login, warns the owner (LOG-08).
func (s *Service) factorFailed(ctx context.Context, tx *sql.Tx, u *userRow, ss *Session, method string, m Meta) error {
	if err := s.countFailure(ctx, tx, u, m); err != nil {
		return err
	}
	if ss.AAL < AAL2 {
		res, err := tx.ExecContext(ctx, `UPDATE sessions SET mfa_failed = 1 WHERE id = $1 AND mfa_failed = 0`, ss.ID)
		if err != nil {
			return okpay.Internal(err, "mark session")
		}
		if n, _ := res.RowsAffected(); n == 1 {
			if err := s.notifySecurity(ctx, tx, u, NotePasswordNoMFA, m, nil); err != nil {
				return err
			}
		}
	}
	return s.audit(ctx, tx, audit.Event{Name: audit.AuthnMFAFail, Actor: userRef(u.ID), Subject: userRef(u.ID), Outcome: "failure",
		Details: map[string]string{"method": method}}, m)
}

// countFailure adds a failure to the account's consecutive-failure
// counter; the fifth within the window blocks the account for a time that
// doubles with each block of the last 24 h (LOG-04), and notifies.
func (s *Service) countFailure(ctx context.Context, tx *sql.Tx, u *userRow, m Meta) error {
	now := s.now()
	count, since := u.failedCount+1, u.failedSince
	if since == 0 || now.Sub(fromMicros(since)) > risk.FailureWindow {
		count, since = 1, micros(now)
	}
	if count < risk.MaxConsecutiveFailures {
		_, err := tx.ExecContext(ctx, `UPDATE users SET failed_count = $1, failed_since = $2 WHERE id = $3`, count, since, u.ID)
		if err != nil {
			return okpay.Internal(err, "count failure")
		}
		u.failedCount, u.failedSince = count, since
		return nil
	}
	previous := u.lockCount
	if u.lastLockedAt == 0 || now.Sub(fromMicros(u.lastLockedAt)) > 24*time.Hour {
		previous = 0
	}
	until := now.Add(risk.LockoutDuration(previous))
	if _, err := tx.ExecContext(ctx, `UPDATE users SET failed_count = 0, failed_since = 0, locked_until = $1, lock_count = $2, last_locked_at = $3 WHERE id = $4`,
		micros(until), previous+1, micros(now), u.ID); err != nil {
		return okpay.Internal(err, "lock account")
	}
	u.failedCount, u.failedSince, u.lockedUntil, u.lockCount, u.lastLockedAt = 0, 0, micros(until), previous+1, micros(now)
	// The lockouts of the last 24 h, from the audit log, are the history
	// the risk rules decide on (RSK-04, RSK-07).
	history, err := s.recentLockouts(ctx, tx, u.ID, now)
	if err != nil {
		return err
	}
	if err := s.audit(ctx, tx, audit.Event{Name: audit.AuthnLoginLock, Actor: userRef(u.ID), Subject: userRef(u.ID), Outcome: "success",
		Details: map[string]string{"until": until.Format(time.RFC3339), "block": itoa(previous + 1)}}, m); err != nil {
		return err
	}
	if err := s.notifySecurity(ctx, tx, u, NoteLockout, m, map[string]any{"Until": until.Format("2006-01-02 15:04 UTC")}); err != nil {
		return err
	}
	ev := risk.Event{At: now, Kind: risk.Lockout, UserID: u.ID, DeviceID: m.DeviceID}
	for _, d := range risk.Evaluate(risk.Context{}, history, ev) {
		if d.Outcome != risk.Freeze {
			continue
		}
		// The decision record: rule, version, inputs, outcome (RSK-07).
		details := map[string]string{"rule": d.RuleID, "version": itoa(d.Version), "outcome": string(d.Outcome)}
		for k, v := range d.Inputs {
			details["input."+k] = v
		}
		if err := s.audit(ctx, tx, audit.Event{Name: audit.AccountFrozen, Actor: "risk", Subject: userRef(u.ID), Outcome: "success",
			Reason: "risk decision " + d.RuleID, Details: details}, m); err != nil {
			return err
		}
		return s.freeze(ctx, tx, u, "auto:"+d.RuleID, "system", m)
	}
	// One more block would freeze the account, which only support can
	// lift: the owner is warned now (LOG-04).
	if len(history)+2 >= risk.LockoutRuleCount {
		return s.notifySecurity(ctx, tx, u, NoteFreezeWarning, m, nil)
	}
	return nil
}

// recentLockouts returns the user's lockouts of the 24 h before now as
// risk events, from the audit log (inside tx: it sees this transaction's
// own writes).
func (s *Service) recentLockouts(ctx context.Context, tx *sql.Tx, userID int64, now time.Time) ([]risk.Event, error) {
	rows, err := tx.QueryContext(ctx, `SELECT at FROM audit_log WHERE subject = $1 AND event = $2 AND at >= $3 ORDER BY seq`,
		userRef(userID), audit.AuthnLoginLock, micros(now.Add(-risk.LockoutRuleWindow)))
	if err != nil {
		return nil, okpay.Internal(err, "read lockouts")
	}
	defer rows.Close()
	var out []risk.Event
	for rows.Next() {
		var at int64
		if err := rows.Scan(&at); err != nil {
			return nil, okpay.Internal(err, "read lockouts")
		}
		out = append(out, risk.Event{At: fromMicros(at), Kind: risk.Lockout, UserID: userID})
	}
	return out, rows.Err()
}

func (s *Service) auditFail(ctx context.Context, tx *sql.Tx, u *userRow, why string, m Meta) error {
	if err := s.audit(ctx, tx, audit.Event{Name: audit.AuthnLoginFail, Actor: userRef(u.ID), Subject: userRef(u.ID), Outcome: "failure", Reason: why}, m); err != nil {
		return err
	}
	return errCredentials()
}

// checkTOTP accepts a code of the current or previous 30-second step that
// is newer than the last accepted step, and stores that step with a
// compare-and-set, so a code works once (MFA-05).
func (s *Service) checkTOTP(ctx context.Context, tx *sql.Tx, u *userRow, code string) error {
	if !u.TOTPEnabled {
		return okpay.Errorf(EFactorUnavailable, "No authenticator app is set up for this account.")
	}
	key, err := s.totpSeal.Open(u.totpSecret, totpAAD(u.ID))
	if err != nil {
		return okpay.Internal(err, "open totp secret")
	}
	step, ok := otp.CheckTOTP(key, code, s.now(), u.totpLastStep)
	if !ok {
		return errBadCode()
	}
	res, err := tx.ExecContext(ctx, `UPDATE users SET totp_last_step = $1 WHERE id = $2 AND totp_last_step < $1`, step, u.ID)
	if err != nil {
		return okpay.Internal(err, "store totp step")
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return errBadCode()
	}
	u.totpLastStep = step
	return nil
}

func totpAAD(userID int64) []byte { return []byte("totp:" + strconv.FormatInt(userID, 10)) }
