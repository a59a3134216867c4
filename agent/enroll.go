package agent

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/audit"
	"github.com/okpay/okpay/identity/otp"
	"github.com/okpay/okpay/identity/passkey"
)

// Enrolment. An administrator's Create or ResetSignIn gives the agent a
// link with a 256-bit token (stored as its SHA-256, valid 24 h). Following
// it, the agent sets a password (StartEnrollment), which opens an
// enrolment session: an AAL1 session that can do one thing, register the
// first factor — a passkey, or a TOTP authenticator on an AllowTOTP
// server. Registering it uses the link up and turns the session into a
// full sign-in. Until then the link still works (the agent may set the
// password again), and a password sign-in of an agent without a factor
// gets nowhere: a factor is never enrolled on the strength of a password
// alone.

func errEnrollment() error {
	return okpay.Errorf(EEnrollmentInvalid, "This enrolment link has expired or was already used. Ask an administrator for a new one.")
}

type enrollmentRow struct {
	id, agentID int64
	expiresAt   time.Time
}

// openEnrollment finds the unused, unrevoked, unexpired link of tok.
func (s *Service) openEnrollment(ctx context.Context, q querier, tok string) (*enrollmentRow, error) {
	if tok == "" || len(tok) > maxTokenLen {
		return nil, errEnrollment()
	}
	var e enrollmentRow
	var exp int64
	err := q.QueryRowContext(ctx, `SELECT id, agent_id, expires_at FROM agent_enrollments
		WHERE token_hash = $1 AND used_at = 0 AND revoked_at = 0`, hashToken(tok)).Scan(&e.id, &e.agentID, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errEnrollment()
	}
	if err != nil {
		return nil, okpay.Internal(err, "load enrolment link")
	}
	if e.expiresAt = fromMicros(exp); !s.now().Before(e.expiresAt) {
		return nil, errEnrollment()
	}
	return &e, nil
}

// enrollmentByID checks that enrolment id is still open.
func (s *Service) enrollmentByID(ctx context.Context, q querier, id int64) (*enrollmentRow, error) {
	var e enrollmentRow
	var exp int64
	err := q.QueryRowContext(ctx, `SELECT id, agent_id, expires_at FROM agent_enrollments WHERE id = $1 AND used_at = 0 AND revoked_at = 0`, id).
		Scan(&e.id, &e.agentID, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errEnrollment()
	}
	if err != nil {
		return nil, okpay.Internal(err, "load enrolment link")
	}
	if e.expiresAt = fromMicros(exp); !s.now().Before(e.expiresAt) {
		return nil, errEnrollment()
	}
	return &e, nil
}

// EnrollmentAgent returns the agent an open enrolment link is for (to
// greet them on the page). It changes nothing. Errors:
// EEnrollmentInvalid.
func (s *Service) EnrollmentAgent(ctx context.Context, tok string) (*Agent, error) {
	e, err := s.openEnrollment(ctx, s.d.DB.Read, tok)
	if err != nil {
		return nil, err
	}
	r, err := s.loadAgent(ctx, s.d.DB.Read, e.agentID, false)
	if err != nil {
		return nil, err
	}
	if !r.Active() {
		return nil, errEnrollment()
	}
	return &r.Agent, nil
}

// EnrollmentMethods lists the factors an agent can enrol here.
func (s *Service) EnrollmentMethods() []string {
	var out []string
	if s.d.Passkeys != nil {
		out = append(out, MethodPasskey)
	}
	if s.cfg.AllowTOTP {
		out = append(out, MethodTOTP)
	}
	return out
}

// StartEnrollment sets the agent's password from an enrolment link and
// returns an enrolment session (AAL1) whose only use is registering the
// first factor. The password policy applies, with the agent's email and
// name as context words. Attempts count toward the per-address limit.
// Errors: EEnrollmentInvalid, the password policy's codes
// (password_too_short...), RateLimitError.
func (s *Service) StartEnrollment(ctx context.Context, tok, pw string, m Meta) (*LoginResult, error) {
	if err := s.hit(ctx, "login:"+ipKey(m.IP), time.Minute, s.cfg.LoginPerIPPerMinute); err != nil {
		return nil, err
	}
	a, err := s.EnrollmentAgent(ctx, tok)
	if err != nil {
		return nil, err
	}
	if err := s.d.CheckPassword(pw, a.Email, a.DisplayName, "staff"); err != nil {
		return nil, err
	}
	hash, err := s.d.Hasher.Hash(ctx, pw)
	if err != nil {
		return nil, okpay.Internal(err, "hash password")
	}
	var res *LoginResult
	err = s.d.DB.InTx(ctx, func(tx *sql.Tx) error {
		e, err := s.openEnrollment(ctx, tx, tok)
		if err != nil {
			return err
		}
		r, err := s.loadAgent(ctx, tx, e.agentID, true)
		if err != nil {
			return err
		}
		if !r.Active() {
			return errEnrollment()
		}
		if _, err := tx.ExecContext(ctx, `UPDATE agents SET password_hash = $1, failed_count = 0, failed_since = 0, locked_until = 0, updated_at = $2 WHERE id = $3`,
			hash, micros(s.now()), r.ID); err != nil {
			return okpay.Internal(err, "set password")
		}
		// One enrolment session at a time: following the link again ends
		// the previous one.
		if _, err := tx.ExecContext(ctx, `UPDATE agent_sessions SET revoked_at = $1, revoke_reason = 'enrolment restarted'
			WHERE agent_id = $2 AND purpose = $3 AND revoked_at = 0`, micros(s.now()), r.ID, PurposeEnroll); err != nil {
			return okpay.Internal(err, "end enrolment sessions")
		}
		tok, ss, err := s.createSession(ctx, tx, r.ID, PurposeEnroll, e.id, e.expiresAt, m)
		if err != nil {
			return err
		}
		if err := s.audit(ctx, tx, audit.Event{Name: audit.AuthnPasswordChange, Actor: r.Ref(), Subject: r.Ref(), Outcome: audit.Success,
			Reason: "enrolment", Details: map[string]string{"area": "staff"}}, m); err != nil {
			return err
		}
		res = &LoginResult{Token: tok, Session: ss, Agent: &r.Agent, Methods: s.EnrollmentMethods()}
		return nil
	})
	return res, err
}

// enrollSession returns the enrolment session of tok, its open link and
// its agent.
func (s *Service) enrollSession(ctx context.Context, q querier, tok string) (*Session, *row, error) {
	ss, err := s.lookupSession(ctx, q, tok)
	if err != nil {
		return nil, nil, err
	}
	if ss.Purpose != PurposeEnroll {
		return nil, nil, errNoSession()
	}
	if _, err := s.enrollmentByID(ctx, q, ss.EnrollmentID); err != nil {
		return nil, nil, err
	}
	r, err := s.loadAgent(ctx, q, ss.AgentID, false)
	if err != nil {
		return nil, nil, err
	}
	if !r.Active() {
		return nil, nil, errEnrollment()
	}
	return ss, r, nil
}

// EnrollmentSession returns the enrolment session of tok and its agent,
// for the pages. Errors: okpay.EUnauthorized, ESessionExpired,
// EEnrollmentInvalid.
func (s *Service) EnrollmentSession(ctx context.Context, tok string) (*Session, *Agent, error) {
	ss, r, err := s.enrollSession(ctx, s.d.DB.Read, tok)
	if err != nil {
		return nil, nil, err
	}
	return ss, &r.Agent, nil
}

func passkeyUser(a *Agent) passkey.User {
	return passkey.User{ID: a.ID, Name: a.Email, DisplayName: a.DisplayName}
}

// BeginPasskeyEnrollment starts registering the agent's passkey from the
// enrolment session of tok. It returns the options for
// navigator.credentials.create and a flow token bound to the session.
func (s *Service) BeginPasskeyEnrollment(ctx context.Context, tok string) (options []byte, flow string, err error) {
	pk, err := s.passkeys()
	if err != nil {
		return nil, "", err
	}
	ss, r, err := s.enrollSession(ctx, s.d.DB.Read, tok)
	if err != nil {
		return nil, "", err
	}
	opts, id, err := pk.BeginRegistration(ctx, passkeyUser(&r.Agent))
	if err != nil {
		return nil, "", err
	}
	return opts, s.bindFlow(flowRegister, ss.ID, id), nil
}

// FinishPasskeyEnrollment stores the passkey from the authenticator's
// response, uses the enrolment link up and makes the session a full
// sign-in (new token). Errors: okpay.EUnauthorized, ESessionExpired,
// EEnrollmentInvalid, passkey.EFlowInvalid, passkey.EInvalid,
// passkey.EExists, okpay.EInvalid (label).
func (s *Service) FinishPasskeyEnrollment(ctx context.Context, tok, flow string, response []byte, label string, m Meta) (*LoginResult, error) {
	pk, err := s.passkeys()
	if err != nil {
		return nil, err
	}
	ss, r, err := s.enrollSession(ctx, s.d.DB.Read, tok)
	if err != nil {
		return nil, err
	}
	id, err := s.unbindFlow(flowRegister, ss.ID, flow)
	if err != nil {
		return nil, err
	}
	if label = strings.TrimSpace(label); label == "" {
		label = "Staff passkey"
	}
	cred, err := pk.FinishRegistration(ctx, passkeyUser(&r.Agent), id, response, label)
	if err != nil {
		return nil, err
	}
	var res *LoginResult
	err = s.d.DB.InTx(ctx, func(tx *sql.Tx) error {
		var err error
		res, err = s.completeEnrollment(ctx, tx, tok, MethodPasskey, nil, m)
		return err
	})
	if err != nil {
		// Nothing is enrolled unannounced: take the passkey back.
		if derr := pk.Delete(context.WithoutCancel(ctx), r.ID, cred.ID); derr != nil {
			return nil, okpay.Internal(derr, "withdraw passkey after a failed enrolment")
		}
		return nil, err
	}
	return res, nil
}

// completeEnrollment uses the session's link up (compare-and-set), marks
// the agent enrolled, stores a TOTP secret when given and promotes the
// session.
func (s *Service) completeEnrollment(ctx context.Context, tx *sql.Tx, tok, method string, totpSealed []byte, m Meta) (*LoginResult, error) {
	ss, err := s.lookupSession(ctx, tx, tok)
	if err != nil {
		return nil, err
	}
	if ss.Purpose != PurposeEnroll {
		return nil, errNoSession()
	}
	now := micros(s.now())
	res, err := tx.ExecContext(ctx, `UPDATE agent_enrollments SET used_at = $1 WHERE id = $2 AND used_at = 0 AND revoked_at = 0 AND expires_at > $1`, now, ss.EnrollmentID)
	if err != nil {
		return nil, okpay.Internal(err, "use enrolment link")
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return nil, errEnrollment()
	}
	r, err := s.loadAgent(ctx, tx, ss.AgentID, true)
	if err != nil {
		return nil, err
	}
	if !r.Active() {
		return nil, errEnrollment()
	}
	first := r.EnrolledAt.IsZero()
	if first {
		if _, err := tx.ExecContext(ctx, `UPDATE agents SET enrolled_at = $1 WHERE id = $2`, now, r.ID); err != nil {
			return nil, okpay.Internal(err, "mark enrolled")
		}
		r.EnrolledAt = fromMicros(now)
	}
	if totpSealed != nil {
		if _, err := tx.ExecContext(ctx, `UPDATE agents SET totp_secret = $1, totp_pending = NULL WHERE id = $2`, totpSealed, r.ID); err != nil {
			return nil, okpay.Internal(err, "store totp secret")
		}
		r.TOTPEnabled = true
	}
	if err := s.audit(ctx, tx, audit.Event{Name: audit.AuthnMFAEnabled, Actor: r.Ref(), Subject: r.Ref(), Outcome: audit.Success, Reason: "enrolment",
		Details: map[string]string{"area": "staff", "method": method, "first_enrolment": boolText(first)}}, m); err != nil {
		return nil, err
	}
	return s.factorPassed(ctx, tx, r, ss, method, m)
}

// TOTPSetup is an authenticator-app secret to show once.
type TOTPSetup struct {
	Secret string // base32, for manual entry
	URI    string // otpauth:// URI for a QR code
}

// BeginTOTPEnrollment makes a TOTP secret for the enrolment session of
// tok (AllowTOTP servers only) and keeps it, sealed, until
// ConfirmTOTPEnrollment proves the app has it.
func (s *Service) BeginTOTPEnrollment(ctx context.Context, tok string) (*TOTPSetup, error) {
	if !s.cfg.AllowTOTP {
		return nil, errTOTPOff()
	}
	_, r, err := s.enrollSession(ctx, s.d.DB.Read, tok)
	if err != nil {
		return nil, err
	}
	key, err := otp.GenerateTOTPSecret()
	if err != nil {
		return nil, err
	}
	sealed, err := s.totpSeal.Seal(key, totpAAD(r.ID))
	if err != nil {
		return nil, okpay.Internal(err, "seal totp secret")
	}
	if _, err := s.d.DB.Write.ExecContext(ctx, `UPDATE agents SET totp_pending = $1 WHERE id = $2`, sealed, r.ID); err != nil {
		return nil, okpay.Internal(err, "store totp secret")
	}
	return &TOTPSetup{Secret: otp.EncodeSecret(key), URI: otp.ProvisioningURI("OKPay staff", r.Email, key)}, nil
}

// ConfirmTOTPEnrollment checks a code from the app set up with
// BeginTOTPEnrollment; it completes the enrolment like a passkey would.
// The setup code cannot be used again to sign in (its step is stored).
// Errors: EFactorUnavailable (not AllowTOTP, or no setup), EInvalidCode,
// the session and link errors.
func (s *Service) ConfirmTOTPEnrollment(ctx context.Context, tok, code string, m Meta) (*LoginResult, error) {
	if !s.cfg.AllowTOTP {
		return nil, errTOTPOff()
	}
	var res *LoginResult
	err := s.d.DB.InTx(ctx, func(tx *sql.Tx) error {
		_, r, err := s.enrollSession(ctx, tx, tok)
		if err != nil {
			return err
		}
		if len(r.totpPending) == 0 {
			return okpay.Errorf(EFactorUnavailable, "Start setting up the authenticator app again.")
		}
		key, err := s.totpSeal.Open(r.totpPending, totpAAD(r.ID))
		if err != nil {
			return okpay.Internal(err, "open totp secret")
		}
		step, ok := otp.CheckTOTP(key, code, s.now(), 0)
		if !ok {
			return errBadCode()
		}
		if _, err := tx.ExecContext(ctx, `UPDATE agents SET totp_last_step = $1 WHERE id = $2`, step, r.ID); err != nil {
			return okpay.Internal(err, "store totp step")
		}
		res, err = s.completeEnrollment(ctx, tx, tok, MethodTOTP, r.totpPending, m)
		return err
	})
	return res, err
}
