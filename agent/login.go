package agent

import (
	"context"
	"database/sql"
	"encoding/base64"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/audit"
	"github.com/okpay/okpay/identity/otp"
	"github.com/okpay/okpay/identity/passkey"
	"github.com/okpay/okpay/identity/password"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/sqldb"
)

// LoginResult is the outcome of a sign-in step.
type LoginResult struct {
	// Token is the session's cookie value; it changes at every step
	// (SES-02).
	Token   string
	Session *Session
	Agent   *Agent
	// Methods lists the second factors the agent can use now: passkey,
	// and totp on an AllowTOTP server for an agent who enrolled one.
	// Empty once the session is full — or when the agent has no usable
	// factor and needs a new enrolment link.
	Methods []string
}

// RateLimitError is returned when too many sign-in attempts came from one
// address; RetryAfter says when to come back.
type RateLimitError struct{ RetryAfter time.Duration }

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("too many sign-in attempts: retry after %s", e.RetryAfter.Round(time.Second))
}

// Code implements okpay.ErrorCode's coded-error convention.
func (e *RateLimitError) Code() string { return ERateLimited }

// errCredentials is the single answer to every failed password step.
func errCredentials() error {
	return okpay.Errorf(EInvalidCredentials, "The email address or the password is not right, or this account cannot sign in now.")
}

func errPasskey() error {
	return okpay.Errorf(passkey.EInvalid, "The passkey could not be verified. Try again.")
}

func errPasskeyFlow() error {
	return okpay.Errorf(passkey.EFlowInvalid, "This passkey request has expired or was already used. Start again.")
}

func errBadCode() error { return okpay.Errorf(EInvalidCode, "That code is not valid.") }

func errTOTPOff() error {
	return okpay.Errorf(EFactorUnavailable, "Authenticator-app codes are not accepted for staff on this server. Use your passkey.")
}

// hit counts one event against key in a fixed window and fails with a
// RateLimitError past limit (counters in the database: they hold across
// restarts and nodes).
func (s *Service) hit(ctx context.Context, key string, window time.Duration, limit int) error {
	now := s.now()
	start := now.Truncate(window)
	var n int
	if err := s.d.DB.Write.QueryRowContext(ctx, `INSERT INTO agent_rate_counters (key, window_start, count) VALUES ($1, $2, 1)
		ON CONFLICT (key, window_start) DO UPDATE SET count = agent_rate_counters.count + 1 RETURNING count`,
		key, micros(start)).Scan(&n); err != nil {
		return okpay.Internal(err, "rate counter")
	}
	if n > limit {
		return &RateLimitError{RetryAfter: start.Add(window).Sub(now)}
	}
	return nil
}

// ipKey is the rate-limit key of an address: itself for IPv4, its /64
// for IPv6.
func ipKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return clip(ip, 64)
	}
	if a = a.Unmap(); a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// Sweep deletes old throttling counters; serve runs it now and then.
func (s *Service) Sweep(ctx context.Context) error {
	if _, err := s.d.DB.Write.ExecContext(ctx, `DELETE FROM agent_rate_counters WHERE window_start < $1`, micros(s.now().Add(-48*time.Hour))); err != nil {
		return okpay.Internal(err, "sweep")
	}
	return nil
}

// Methods lists the second factors agent a can use on this server: a
// passkey when one is registered, TOTP only on an AllowTOTP server. None
// means the agent needs a new enrolment link.
func (s *Service) Methods(a *Agent) []string {
	var out []string
	if s.d.Passkeys != nil && a.Passkeys > 0 {
		out = append(out, MethodPasskey)
	}
	if s.cfg.AllowTOTP && a.TOTPEnabled {
		out = append(out, MethodTOTP)
	}
	return out
}

// Login checks an agent's email and password. On success the result
// holds an AAL1 session that only the second-factor step accepts. Every
// failure — unknown email, wrong password, a disabled, locked or not yet
// enrolled account — gives the same error after the same work (a dummy
// hash for unknown emails), counts toward the account's lockout when the
// account exists, and toward the per-address limit (RateLimitError).
func (s *Service) Login(ctx context.Context, email, pw string, m Meta) (*LoginResult, error) {
	if err := s.hit(ctx, "login:"+ipKey(m.IP), time.Minute, s.cfg.LoginPerIPPerMinute); err != nil {
		return nil, err
	}
	if len(pw) > password.MaxBytes {
		return nil, errCredentials()
	}
	r, err := s.findByEmail(ctx, s.d.DB.Read, email)
	if err != nil {
		return nil, err
	}
	if r == nil || r.passwordHash == "" {
		s.d.Hasher.DummyVerify(ctx, pw)
		ev := audit.Event{At: s.now(), Name: audit.AuthnLoginFail, Outcome: audit.Failure, Reason: "unknown email", IP: m.IP, RequestID: m.RequestID,
			Details: map[string]string{"area": "staff"}}
		if r != nil {
			ev.Actor, ev.Subject, ev.Reason = r.Ref(), r.Ref(), "not enrolled"
		}
		if err := audit.New(s.d.DB).Record(ctx, ev); err != nil {
			return nil, okpay.Internal(err, "audit")
		}
		return nil, errCredentials()
	}
	ok, rehash, err := s.d.Hasher.Verify(ctx, pw, r.passwordHash)
	if err != nil {
		if okpay.ErrorCode(err) == okpay.EUnavailable {
			return nil, err
		}
		return nil, okpay.Internal(err, "verify password")
	}
	newHash := ""
	if ok && rehash {
		if newHash, err = s.d.Hasher.Hash(ctx, pw); err != nil {
			return nil, okpay.Internal(err, "rehash password")
		}
	}
	var res *LoginResult
	id := r.ID
	err = s.d.DB.InTx(ctx, func(tx *sql.Tx) error {
		r, err := s.loadAgent(ctx, tx, id, true)
		if err != nil {
			return err
		}
		now := s.now()
		switch {
		case !r.Active():
			return sqldb.CommitThen(s.loginFailed(ctx, tx, r, "disabled", m))
		case now.Before(r.LockedUntil):
			// During a lock even the right password fails, alike.
			return sqldb.CommitThen(s.loginFailed(ctx, tx, r, "locked", m))
		case !ok:
			if err := s.countFailure(ctx, tx, r, m); err != nil {
				return err
			}
			return sqldb.CommitThen(s.loginFailed(ctx, tx, r, "password", m))
		}
		if newHash != "" {
			if _, err := tx.ExecContext(ctx, `UPDATE agents SET password_hash = $1 WHERE id = $2 AND password_hash = $3`, newHash, r.ID, r.passwordHash); err != nil {
				return okpay.Internal(err, "rehash password")
			}
		}
		tok, ss, err := s.createSession(ctx, tx, r.ID, PurposeLogin, 0, time.Time{}, m)
		if err != nil {
			return err
		}
		res = &LoginResult{Token: tok, Session: ss, Agent: &r.Agent, Methods: s.Methods(&r.Agent)}
		return nil
	})
	return res, err
}

func (s *Service) loginFailed(ctx context.Context, tx *sql.Tx, r *row, why string, m Meta) error {
	if err := s.audit(ctx, tx, audit.Event{Name: audit.AuthnLoginFail, Actor: r.Ref(), Subject: r.Ref(), Outcome: audit.Failure, Reason: why,
		Details: map[string]string{"area": "staff"}}, m); err != nil {
		return err
	}
	return errCredentials()
}

// countFailure adds a failure (password or second factor) to the agent's
// consecutive-failure counter; MaxFailures within FailureWindow lock the
// account for LockDuration, doubled for each lock of the last 24 h up to
// MaxLockDuration. The counter lives in the database (it survives a
// restart).
func (s *Service) countFailure(ctx context.Context, tx *sql.Tx, r *row, m Meta) error {
	now := s.now()
	count, since := r.failedCount+1, r.failedSince
	if since == 0 || now.Sub(fromMicros(since)) > s.cfg.FailureWindow {
		count, since = 1, micros(now)
	}
	if count < s.cfg.MaxFailures {
		if _, err := tx.ExecContext(ctx, `UPDATE agents SET failed_count = $1, failed_since = $2 WHERE id = $3`, count, since, r.ID); err != nil {
			return okpay.Internal(err, "count failure")
		}
		r.failedCount, r.failedSince = count, since
		return nil
	}
	previous := r.lockCount
	if r.lastLockedAt == 0 || now.Sub(fromMicros(r.lastLockedAt)) > 24*time.Hour {
		previous = 0
	}
	d := s.cfg.LockDuration
	for i := 0; i < previous && d < s.cfg.MaxLockDuration; i++ {
		d *= 2
	}
	d = min(d, s.cfg.MaxLockDuration)
	until := now.Add(d)
	if _, err := tx.ExecContext(ctx, `UPDATE agents SET failed_count = 0, failed_since = 0, locked_until = $1, lock_count = $2, last_locked_at = $3 WHERE id = $4`,
		micros(until), previous+1, micros(now), r.ID); err != nil {
		return okpay.Internal(err, "lock account")
	}
	r.failedCount, r.failedSince, r.LockedUntil, r.lockCount, r.lastLockedAt = 0, 0, until, previous+1, micros(now)
	return s.audit(ctx, tx, audit.Event{Name: audit.AuthnLoginLock, Actor: r.Ref(), Subject: r.Ref(), Outcome: audit.Success,
		Details: map[string]string{"area": "staff", "until": until.Format(time.RFC3339), "lock": itoa(previous + 1)}}, m)
}

// factorPassed completes a second-factor step on ss: a full session with
// a new token and a fresh sudo window, the failure counter reset, audited.
func (s *Service) factorPassed(ctx context.Context, tx *sql.Tx, r *row, ss *Session, method string, m Meta) (*LoginResult, error) {
	login := ss.AAL < AAL2
	tok, err := s.promote(ctx, tx, ss, method)
	if err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE agents SET failed_count = 0, failed_since = 0 WHERE id = $1`, r.ID); err != nil {
		return nil, okpay.Internal(err, "reset failures")
	}
	name, reason := audit.AuthnTokenCreated, "step-up"
	if login {
		name, reason = audit.AuthnLoginSuccess, "login"
		if r.failedCount > 0 {
			name = audit.AuthnLoginSuccessAfterFail
		}
	}
	if err := s.audit(ctx, tx, audit.Event{Name: name, Actor: r.Ref(), Subject: r.Ref(), Outcome: audit.Success, Reason: reason,
		Details: map[string]string{"area": "staff", "method": method, "session": ids.Format(SessionPrefix, ss.ID), "roles": joinRoles(r.Roles)}}, m); err != nil {
		return nil, err
	}
	return &LoginResult{Token: tok, Session: ss, Agent: &r.Agent}, nil
}

// factorFailed counts a failed second factor against the account.
func (s *Service) factorFailed(ctx context.Context, tx *sql.Tx, r *row, method string, m Meta) error {
	if err := s.countFailure(ctx, tx, r, m); err != nil {
		return err
	}
	return s.audit(ctx, tx, audit.Event{Name: audit.AuthnMFAFail, Actor: r.Ref(), Subject: r.Ref(), Outcome: audit.Failure,
		Details: map[string]string{"area": "staff", "method": method}}, m)
}

// ---- passkey flows bound to a session ----

// Kinds of ceremony a flow token is bound to.
const (
	flowLogin    = "login"
	flowRegister = "register"
)

const flowTagLen = 16

// bindFlow returns the token the client holds for passkey flow flowID of
// kind, begun by session sessionID: "<flow id>.<MAC tag>", so a flow
// begun by one session is refused to any other.
func (s *Service) bindFlow(kind string, sessionID int64, flowID string) string {
	return flowID + "." + base64.RawURLEncoding.EncodeToString(s.flowTag(kind, sessionID, flowID))
}

func (s *Service) flowTag(kind string, sessionID int64, flowID string) []byte {
	return s.flowMAC.Sum([]byte(kind), []byte(strconv.FormatInt(sessionID, 10)), []byte(flowID))[:flowTagLen]
}

// unbindFlow checks a flow token against its kind and session and returns
// the flow id (passkey.EFlowInvalid on any mismatch).
func (s *Service) unbindFlow(kind string, sessionID int64, tok string) (string, error) {
	if tok == "" || len(tok) > maxTokenLen {
		return "", errPasskeyFlow()
	}
	i := strings.LastIndexByte(tok, '.')
	if i <= 0 {
		return "", errPasskeyFlow()
	}
	flowID := tok[:i]
	tag, err := base64.RawURLEncoding.DecodeString(tok[i+1:])
	if err != nil || !s.flowMAC.Equal(tag, s.flowTag(kind, sessionID, flowID)) {
		return "", errPasskeyFlow()
	}
	return flowID, nil
}

func (s *Service) passkeys() (*passkey.Service, error) {
	if s.d.Passkeys == nil {
		return nil, okpay.Errorf(EFactorUnavailable, "Passkeys are not available on this server.")
	}
	return s.d.Passkeys, nil
}

// loginSession returns the sign-in session of tok (waiting for its factor,
// or full for a step-up) and its active, unlocked agent.
func (s *Service) loginSession(ctx context.Context, q querier, tok string) (*Session, *row, error) {
	ss, err := s.lookupSession(ctx, q, tok)
	if err != nil {
		return nil, nil, err
	}
	if ss.Purpose != PurposeLogin {
		return nil, nil, errNoSession()
	}
	r, err := s.loadAgent(ctx, q, ss.AgentID, false)
	if err != nil {
		return nil, nil, err
	}
	if !r.Active() {
		return nil, nil, errNoSession()
	}
	return ss, r, nil
}

// BeginPasskeyLogin starts the passkey step of the session of tok: the
// second factor of a session waiting for it, or a step-up that reopens
// the sudo window of a full one. User verification is required. It
// returns the options for navigator.credentials.get and a flow token that
// works only with this session. Errors: okpay.EUnauthorized,
// ESessionExpired, EFactorUnavailable (no passkey).
func (s *Service) BeginPasskeyLogin(ctx context.Context, tok string) (options []byte, flow string, err error) {
	pk, err := s.passkeys()
	if err != nil {
		return nil, "", err
	}
	ss, r, err := s.loginSession(ctx, s.d.DB.Read, tok)
	if err != nil {
		return nil, "", err
	}
	if r.Passkeys == 0 {
		return nil, "", okpay.Errorf(EFactorUnavailable, "No passkey is registered for this account. Ask an administrator for a new enrolment link.")
	}
	opts, id, err := pk.BeginLogin(ctx, r.ID, true)
	if err != nil {
		return nil, "", err
	}
	return opts, s.bindFlow(flowLogin, ss.ID, id), nil
}

// FinishPasskeyLogin verifies the assertion for a flow the same session
// began and makes the session full (new token, sudo window open). A
// passkey that does not verify counts toward the lockout. Errors:
// okpay.EUnauthorized, ESessionExpired, passkey.EFlowInvalid,
// passkey.EInvalid (also while locked), passkey.ECloned.
func (s *Service) FinishPasskeyLogin(ctx context.Context, tok, flow string, response []byte, m Meta) (*LoginResult, error) {
	pk, err := s.passkeys()
	if err != nil {
		return nil, err
	}
	ss, r, err := s.loginSession(ctx, s.d.DB.Read, tok)
	if err != nil {
		return nil, err
	}
	id, err := s.unbindFlow(flowLogin, ss.ID, flow)
	if err != nil {
		return nil, err
	}
	if s.now().Before(r.LockedUntil) {
		return nil, errPasskey()
	}
	owner, _, perr := pk.FinishLogin(ctx, id, response)
	switch code := okpay.ErrorCode(perr); {
	case code == "" && owner != r.ID:
		perr = errPasskey() // cannot happen: the flow names the agent
	case code == "", code == passkey.EInvalid, code == passkey.ECloned:
	case code == passkey.EFlowInvalid:
		return nil, errPasskeyFlow()
	default:
		return nil, perr
	}
	var res *LoginResult
	err = s.d.DB.InTx(ctx, func(tx *sql.Tx) error {
		ss, err := s.lookupSession(ctx, tx, tok)
		if err != nil {
			return err
		}
		r, err := s.loadAgent(ctx, tx, ss.AgentID, true)
		if err != nil {
			return err
		}
		if !r.Active() {
			return errNoSession()
		}
		if s.now().Before(r.LockedUntil) {
			return errPasskey()
		}
		if perr != nil {
			if err := s.factorFailed(ctx, tx, r, MethodPasskey, m); err != nil {
				return err
			}
			if okpay.ErrorCode(perr) == passkey.ECloned {
				return sqldb.CommitThen(okpay.Errorf(passkey.ECloned, "This passkey was refused: it may have been copied. Ask an administrator for a new enrolment link."))
			}
			return sqldb.CommitThen(errPasskey())
		}
		res, err = s.factorPassed(ctx, tx, r, ss, MethodPasskey, m)
		return err
	})
	return res, err
}

// VerifyTOTP completes the second factor (or a step-up) with an
// authenticator-app code. Only an AllowTOTP server accepts it; elsewhere
// it is EFactorUnavailable, whatever the agent enrolled. A code works
// once; a wrong one counts toward the lockout. Errors: as
// FinishPasskeyLogin, EInvalidCode, EFactorUnavailable.
func (s *Service) VerifyTOTP(ctx context.Context, tok, code string, m Meta) (*LoginResult, error) {
	if !s.cfg.AllowTOTP {
		return nil, errTOTPOff()
	}
	var res *LoginResult
	err := s.d.DB.InTx(ctx, func(tx *sql.Tx) error {
		ss, err := s.lookupSession(ctx, tx, tok)
		if err != nil {
			return err
		}
		if ss.Purpose != PurposeLogin {
			return errNoSession()
		}
		r, err := s.loadAgent(ctx, tx, ss.AgentID, true)
		if err != nil {
			return err
		}
		if !r.Active() {
			return errNoSession()
		}
		if !r.TOTPEnabled {
			return okpay.Errorf(EFactorUnavailable, "No authenticator app is set up for this account.")
		}
		if s.now().Before(r.LockedUntil) {
			return errBadCode()
		}
		if ferr := s.checkTOTP(ctx, tx, r, code); ferr != nil {
			if okpay.ErrorCode(ferr) == okpay.EInternal {
				return ferr
			}
			if err := s.factorFailed(ctx, tx, r, MethodTOTP, m); err != nil {
				return err
			}
			return sqldb.CommitThen(ferr)
		}
		res, err = s.factorPassed(ctx, tx, r, ss, MethodTOTP, m)
		return err
	})
	return res, err
}

// checkTOTP accepts a code of the current or previous step newer than
// the last accepted one, with a compare-and-set so it works once.
func (s *Service) checkTOTP(ctx context.Context, tx *sql.Tx, r *row, code string) error {
	key, err := s.totpSeal.Open(r.totpSecret, totpAAD(r.ID))
	if err != nil {
		return okpay.Internal(err, "open totp secret")
	}
	step, ok := otp.CheckTOTP(key, code, s.now(), r.totpLastStep)
	if !ok {
		return errBadCode()
	}
	res, err := tx.ExecContext(ctx, `UPDATE agents SET totp_last_step = $1 WHERE id = $2 AND totp_last_step < $1`, step, r.ID)
	if err != nil {
		return okpay.Internal(err, "store totp step")
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return errBadCode()
	}
	r.totpLastStep = step
	return nil
}

func totpAAD(id int64) []byte { return []byte("agent-totp:" + strconv.FormatInt(id, 10)) }
