package agent

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/audit"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/sqldb"
)

// Assurance levels of a staff session.
const (
	// AAL1: the password (or an enrolment link) was checked; the second
	// factor is pending. Only the factor step, enrolment and logout
	// accept it.
	AAL1 = 1
	// AAL2: the passkey (or, with AllowTOTP, a TOTP code) was passed.
	AAL2 = 2
)

// Session purposes.
const (
	PurposeLogin  = "login"
	PurposeEnroll = "enroll" // opened by an enrolment link: may only enrol the first factor
)

// SessionPrefix is the id prefix of staff sessions.
const SessionPrefix = "ases"

// Session is a server-side staff session. The client holds its token;
// the table holds the token's SHA-256.
type Session struct {
	ID           int64
	AgentID      int64
	Purpose      string
	EnrollmentID int64
	AAL          int
	IP           string
	UserAgent    string
	CreatedAt    time.Time
	LastSeenAt   time.Time
	ExpiresAt    time.Time
	MFAAt        time.Time
	MFAMethod    string
}

// Full reports whether the session is a complete sign-in: the second
// factor passed, not an enrolment session.
func (ss *Session) Full() bool { return ss != nil && ss.AAL >= AAL2 && ss.Purpose == PurposeLogin }

// RequireFull returns EMFARequired unless ss is a complete sign-in.
func RequireFull(ss *Session) error {
	if !ss.Full() {
		return okpay.Errorf(EMFARequired, "Finish signing in with your passkey first.")
	}
	return nil
}

// Sudo reports whether ss passed its second factor within the sudo window
// (SES-08: administrative changes need it).
func (s *Service) Sudo(ss *Session) bool {
	return ss.Full() && !ss.MFAAt.IsZero() && s.now().Before(ss.MFAAt.Add(s.cfg.SudoWindow))
}

// SudoUntil is when the sudo window of ss closes (zero if closed).
func (s *Service) SudoUntil(ss *Session) time.Time {
	if !s.Sudo(ss) {
		return time.Time{}
	}
	return ss.MFAAt.Add(s.cfg.SudoWindow)
}

const sessionCols = `id, agent_id, purpose, enrollment_id, aal, ip, user_agent, created_at, last_seen_at, expires_at, mfa_at, mfa_method, revoked_at`

func scanSession(sc interface{ Scan(...any) error }) (*Session, int64, error) {
	var ss Session
	var created, seen, expires, mfa, revoked int64
	if err := sc.Scan(&ss.ID, &ss.AgentID, &ss.Purpose, &ss.EnrollmentID, &ss.AAL, &ss.IP, &ss.UserAgent,
		&created, &seen, &expires, &mfa, &ss.MFAMethod, &revoked); err != nil {
		return nil, 0, err
	}
	ss.CreatedAt, ss.LastSeenAt, ss.ExpiresAt, ss.MFAAt = fromMicros(created), fromMicros(seen), fromMicros(expires), fromMicros(mfa)
	return &ss, revoked, nil
}

// createSession starts a session of agentID and returns its token.
func (s *Service) createSession(ctx context.Context, tx *sql.Tx, agentID int64, purpose string, enrollmentID int64, expires time.Time, m Meta) (string, *Session, error) {
	now := s.now()
	if abs := now.Add(s.cfg.AbsoluteTimeout); expires.IsZero() || expires.After(abs) {
		expires = abs
	}
	tok := token()
	ss := &Session{ID: s.d.IDs.Next(), AgentID: agentID, Purpose: purpose, EnrollmentID: enrollmentID, AAL: AAL1,
		IP: m.IP, UserAgent: clip(m.UserAgent, 512), CreatedAt: now, LastSeenAt: now, ExpiresAt: expires}
	if _, err := tx.ExecContext(ctx, `INSERT INTO agent_sessions (id, token_hash, agent_id, purpose, enrollment_id, aal, ip, user_agent,
		created_at, last_seen_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		ss.ID, hashToken(tok), agentID, purpose, enrollmentID, AAL1, ss.IP, ss.UserAgent, micros(now), micros(now), micros(expires)); err != nil {
		return "", nil, okpay.Internal(err, "create session")
	}
	return tok, ss, nil
}

// promote gives the session a new token (the old one dies: SES-02), makes
// it a full sign-in and records the factor just passed.
func (s *Service) promote(ctx context.Context, tx *sql.Tx, ss *Session, method string) (string, error) {
	tok := token()
	now := s.now()
	if _, err := tx.ExecContext(ctx, `UPDATE agent_sessions SET token_hash = $1, aal = $2, purpose = $3, mfa_at = $4, mfa_method = $5, last_seen_at = $4
		WHERE id = $6`, hashToken(tok), AAL2, PurposeLogin, micros(now), method, ss.ID); err != nil {
		return "", okpay.Internal(err, "promote session")
	}
	ss.AAL, ss.Purpose, ss.MFAAt, ss.MFAMethod, ss.LastSeenAt = AAL2, PurposeLogin, now, method, now
	return tok, nil
}

func errNoSession() error { return okpay.Errorf(okpay.EUnauthorized, "Sign in to continue.") }

// lookupSession finds the live session of tok without touching it.
func (s *Service) lookupSession(ctx context.Context, q querier, tok string) (*Session, error) {
	if tok == "" || len(tok) > maxTokenLen {
		return nil, errNoSession()
	}
	ss, revoked, err := scanSession(q.QueryRowContext(ctx, `SELECT `+sessionCols+` FROM agent_sessions WHERE token_hash = $1`, hashToken(tok)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNoSession()
	}
	if err != nil {
		return nil, okpay.Internal(err, "load session")
	}
	if revoked != 0 {
		return nil, errNoSession()
	}
	now := s.now()
	if !now.Before(ss.ExpiresAt) || !now.Before(ss.LastSeenAt.Add(s.cfg.IdleTimeout)) {
		return nil, okpay.Errorf(ESessionExpired, "Your session has expired. Sign in again.")
	}
	return ss, nil
}

// Authenticate resolves a session token to its session and agent,
// enforcing the idle (30 min) and absolute (12 h) timeouts server-side,
// and records the activity. A session waiting for its second factor, or
// opened by an enrolment link, is returned as it is: pages that need a
// full sign-in check Session.Full (RequireFull). A disabled agent has no
// session. Errors: okpay.EUnauthorized, ESessionExpired.
func (s *Service) Authenticate(ctx context.Context, tok string) (*Session, *Agent, error) {
	ss, err := s.lookupSession(ctx, s.d.DB.Read, tok)
	if err != nil {
		if okpay.ErrorCode(err) == ESessionExpired {
			s.d.DB.Write.ExecContext(ctx, `UPDATE agent_sessions SET revoked_at = $1, revoke_reason = 'expired' WHERE token_hash = $2 AND revoked_at = 0`,
				micros(s.now()), hashToken(tok))
		}
		return nil, nil, err
	}
	now := s.now()
	res, err := s.d.DB.Write.ExecContext(ctx, `UPDATE agent_sessions SET last_seen_at = $1 WHERE id = $2 AND revoked_at = 0`, micros(now), ss.ID)
	if err != nil {
		return nil, nil, okpay.Internal(err, "touch session")
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return nil, nil, errNoSession() // revoked meanwhile
	}
	ss.LastSeenAt = now
	r, err := s.loadAgent(ctx, s.d.DB.Read, ss.AgentID, false)
	if err != nil {
		return nil, nil, err
	}
	if !r.Active() {
		return nil, nil, errNoSession()
	}
	return ss, &r.Agent, nil
}

// Peek is Authenticate without recording activity: for checks the agent
// did not make (the console socket's ping), which must not keep an idle
// session alive nor write anything.
func (s *Service) Peek(ctx context.Context, tok string) (*Session, *Agent, error) {
	ss, err := s.lookupSession(ctx, s.d.DB.Read, tok)
	if err != nil {
		return nil, nil, err
	}
	r, err := s.loadAgent(ctx, s.d.DB.Read, ss.AgentID, false)
	if err != nil {
		return nil, nil, err
	}
	if !r.Active() {
		return nil, nil, errNoSession()
	}
	return ss, &r.Agent, nil
}

// Logout ends the session of tok. Ending an unknown or ended session is
// not an error.
func (s *Service) Logout(ctx context.Context, tok string, m Meta) error {
	if tok == "" || len(tok) > maxTokenLen {
		return nil
	}
	return s.d.DB.InTx(ctx, func(tx *sql.Tx) error {
		ss, revoked, err := scanSession(tx.QueryRowContext(ctx, `SELECT `+sessionCols+` FROM agent_sessions WHERE token_hash = $1`, hashToken(tok)))
		if errors.Is(err, sql.ErrNoRows) || (err == nil && revoked != 0) {
			return nil
		}
		if err != nil {
			return okpay.Internal(err, "load session")
		}
		if _, err := tx.ExecContext(ctx, `UPDATE agent_sessions SET revoked_at = $1, revoke_reason = 'logout' WHERE id = $2`, micros(s.now()), ss.ID); err != nil {
			return okpay.Internal(err, "end session")
		}
		return s.audit(ctx, tx, audit.Event{Name: audit.AuthnTokenRevoked, Actor: Ref(ss.AgentID), Subject: Ref(ss.AgentID), Outcome: audit.Success,
			Reason: "logout", Details: map[string]string{"session": ids.Format(SessionPrefix, ss.ID)}}, m)
	})
}

// revokeSessions ends every live session of agentID (but keep).
func (s *Service) revokeSessions(ctx context.Context, tx *sql.Tx, agentID, keep int64, reason string) (int64, error) {
	res, err := tx.ExecContext(ctx, `UPDATE agent_sessions SET revoked_at = $1, revoke_reason = $2 WHERE agent_id = $3 AND id <> $4 AND revoked_at = 0`,
		micros(s.now()), clip(reason, 64), agentID, keep)
	if err != nil {
		return 0, okpay.Internal(err, "revoke sessions")
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// authorize checks, inside tx, that by may act with permission p and
// returns the actor as stored now. A signed-in agent must be active, hold
// p through a role, and have a full session of their own that is still
// live and within the sudo window (EStepUpRequired otherwise). The
// command line (by.System) may do everything. A refusal for lack of the
// permission is audited (authz_fail) and committed.
func (s *Service) authorize(ctx context.Context, tx *sql.Tx, by Actor, p Permission, m Meta) (*row, error) {
	if by.Agent == nil {
		if by.System == "" {
			return nil, okpay.Errorf(okpay.EForbidden, "Who is acting must be known.")
		}
		return nil, nil
	}
	if by.Session == nil || by.Session.AgentID != by.Agent.ID {
		return nil, errNoSession()
	}
	ss, revoked, err := scanSession(tx.QueryRowContext(ctx, `SELECT `+sessionCols+` FROM agent_sessions WHERE id = $1`, by.Session.ID))
	if errors.Is(err, sql.ErrNoRows) || (err == nil && revoked != 0) {
		return nil, errNoSession()
	}
	if err != nil {
		return nil, okpay.Internal(err, "load session")
	}
	if ss.AgentID != by.Agent.ID {
		return nil, errNoSession()
	}
	if err := RequireFull(ss); err != nil {
		return nil, err
	}
	actor, err := s.loadAgent(ctx, tx, by.Agent.ID, false)
	if err != nil {
		return nil, err
	}
	if !Can(&actor.Agent, p) {
		if err := s.audit(ctx, tx, audit.Event{Name: audit.AuthzFail, Actor: actor.Ref(), Subject: actor.Ref(), Outcome: audit.Failure,
			Reason: "missing permission", Details: map[string]string{"permission": string(p), "actor_roles": joinRoles(actor.Roles)}}, m); err != nil {
			return nil, err
		}
		return nil, sqldb.CommitThen(errForbidden(p))
	}
	if !s.Sudo(ss) {
		return nil, okpay.Errorf(EStepUpRequired, "Confirm it is you with your passkey first.")
	}
	return actor, nil
}

func errForbidden(p Permission) error {
	return okpay.Errorf(okpay.EForbidden, "You do not have the %s permission.", p)
}

// Denied records that agent a was refused permission p on target (a
// route or an object), for the HTTP layers (AUD-01 authz_fail).
func (s *Service) Denied(ctx context.Context, a *Agent, p Permission, target string, m Meta) error {
	ev := audit.Event{At: s.now(), Name: audit.AuthzFail, Actor: a.Ref(), Subject: a.Ref(), Outcome: audit.Failure, Reason: "missing permission",
		IP: m.IP, RequestID: m.RequestID, Details: map[string]string{"permission": string(p), "target": clip(target, 256), "actor_roles": joinRoles(a.Roles)}}
	return audit.New(s.d.DB).Record(ctx, ev)
}
