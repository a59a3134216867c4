package identity

import (
	"context"
	"database/sql"
	"errors"
	"math"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/audit"
	"github.com/okpay/okpay/identity/geoip"
)

// Assurance levels of a session.
const (
	// AAL1 is "password checked, second factor pending" (MFA-01): only
	// the second-factor step, logout and freeze accept it.
	AAL1 = 1
	// AAL2 is a full login.
	AAL2 = 2
)

// Session is a server-side login session. Its token is known only to the
// client; the table holds the token's SHA-256 (SES-01).
type Session struct {
	ID         int64
	UserID     int64
	AAL        int
	DeviceID   string
	IP         string
	UserAgent  string
	Device     string // a short label made from the User-Agent
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time
	MFAAt      time.Time
	// MFAMethod is the second factor of the last step-up (the login's
	// own counts): what MFA-09 weighs before a factor is removed.
	MFAMethod string
	// Location is where the sign-in came from, approximately (SES-05);
	// unknown without a GeoIP database.
	Location geoip.Location
	Current  bool
}

// SessionPrefix is the id prefix of sessions in the API.
const SessionPrefix = "ses"

// Sudo reports whether a second factor was passed within the sudo window
// (SES-08).
func (s *Service) Sudo(sess *Session) bool {
	return !sess.MFAAt.IsZero() && s.now().Before(sess.MFAAt.Add(s.cfg.SudoWindow))
}

// SudoUntil is when the session's sudo window closes (zero if closed).
func (s *Service) SudoUntil(sess *Session) time.Time {
	if !s.Sudo(sess) {
		return time.Time{}
	}
	return sess.MFAAt.Add(s.cfg.SudoWindow)
}

const sessionCols = `id, user_id, aal, device_id, ip, user_agent, created_at, last_seen_at, expires_at, mfa_at, revoked_at,
	mfa_method, geo_city, geo_country, geo_lat_e6, geo_lon_e6, geo_known`

func scanSession(row interface{ Scan(...any) error }) (*Session, int64, error) {
	var x sessionScan
	if err := row.Scan(x.dest()...); err != nil {
		return nil, 0, err
	}
	ss, revoked := x.finish()
	return ss, revoked, nil
}

// sessionScan holds a sessions row (sessionCols) being scanned, so that
// it can be scanned with other columns in one row (sessionAndUser).
type sessionScan struct {
	ss                                                    Session
	created, seen, expires, mfa, revoked, lat, lon, known int64
}

func (x *sessionScan) dest() []any {
	return []any{&x.ss.ID, &x.ss.UserID, &x.ss.AAL, &x.ss.DeviceID, &x.ss.IP, &x.ss.UserAgent, &x.created, &x.seen, &x.expires, &x.mfa, &x.revoked,
		&x.ss.MFAMethod, &x.ss.Location.City, &x.ss.Location.Country, &x.lat, &x.lon, &x.known}
}

// finish returns the session and its revoked_at.
func (x *sessionScan) finish() (*Session, int64) {
	ss := x.ss
	ss.CreatedAt, ss.LastSeenAt, ss.ExpiresAt, ss.MFAAt = fromMicros(x.created), fromMicros(x.seen), fromMicros(x.expires), fromMicros(x.mfa)
	ss.Device = deviceLabel(ss.UserAgent)
	if x.known != 0 {
		ss.Location.Lat, ss.Location.Lon, ss.Location.HasCoords = float64(x.lat)/1e6, float64(x.lon)/1e6, true
	}
	return &ss, x.revoked
}

// insertSession stores ss under token.
func (s *Service) insertSession(ctx context.Context, tx *sql.Tx, ss *Session, token string) error {
	mfa := int64(0)
	if !ss.MFAAt.IsZero() {
		mfa = micros(ss.MFAAt)
	}
	loc := ss.Location
	lat, lon, known := int64(0), int64(0), 0
	if loc.HasCoords {
		lat, lon, known = int64(math.Round(loc.Lat*1e6)), int64(math.Round(loc.Lon*1e6)), 1
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO sessions (id, token_hash, user_id, aal, device_id, ip, user_agent, created_at, last_seen_at, expires_at, mfa_at,
		mfa_method, geo_city, geo_country, geo_lat_e6, geo_lon_e6, geo_known)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)`,
		ss.ID, hashToken(token), ss.UserID, ss.AAL, ss.DeviceID, ss.IP, ss.UserAgent, micros(ss.CreatedAt), micros(ss.LastSeenAt), micros(ss.ExpiresAt), mfa,
		ss.MFAMethod, clip(loc.City, 64), loc.Country, lat, lon, known); err != nil {
		return okpay.Internal(err, "create session")
	}
	return nil
}

// createSession starts a session and returns its token. mfaMethod is the
// second factor already passed (a completed sign-up's SMS code), "" when
// none yet.
func (s *Service) createSession(ctx context.Context, tx *sql.Tx, userID int64, aal int, mfaAt time.Time, mfaMethod string, m Meta) (string, *Session, error) {
	now := s.now()
	token := randomToken()
	ss := &Session{ID: s.IDs.Next(), UserID: userID, AAL: aal, DeviceID: m.DeviceID, IP: m.IP, UserAgent: clip(m.UserAgent, 512),
		CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(s.cfg.AbsoluteTimeout), MFAAt: mfaAt, MFAMethod: mfaMethod}
	ss.Device = deviceLabel(ss.UserAgent)
	ss.Location, _ = s.locate(m.IP)
	if err := s.insertSession(ctx, tx, ss, token); err != nil {
		return "", nil, err
	}
	return token, ss, nil
}

// rotate gives the session a new token (and level), so the token the
// client held before is dead (SES-02: fixation), and records the factor
// that was just passed.
func (s *Service) rotate(ctx context.Context, tx *sql.Tx, ss *Session, aal int, mfaAt time.Time, mfaMethod string) (string, error) {
	token := randomToken()
	if _, err := tx.ExecContext(ctx, `UPDATE sessions SET token_hash = $1, aal = $2, mfa_at = $3, mfa_method = $4, last_seen_at = $5 WHERE id = $6`,
		hashToken(token), aal, micros(mfaAt), mfaMethod, micros(s.now()), ss.ID); err != nil {
		return "", okpay.Internal(err, "rotate session")
	}
	ss.AAL, ss.MFAAt, ss.MFAMethod = aal, mfaAt, mfaMethod
	return token, nil
}

func errNoSession() error {
	return okpay.Errorf(okpay.EUnauthorized, "Sign in to continue.")
}

// lookupSession finds the live session of token without touching it.
func (s *Service) lookupSession(ctx context.Context, q querier, token string) (*Session, error) {
	if !plausibleToken(token) {
		return nil, errNoSession()
	}
	ss, revoked, err := scanSession(s.readRow(ctx, q, s.reads().session, qSessionByHash, hashToken(token)))
	return s.liveSession(ss, revoked, err)
}

// plausibleToken reports whether token could be one this service issued
// (session, refresh, sign-in flow or freeze-link token): an empty one, or
// one longer than any of them, is refused before it is hashed or read.
func plausibleToken(token string) bool { return token != "" && len(token) <= 128 }

// liveSession checks a session row just read (err from its Scan): a
// missing or revoked one is EUnauthorized, a timed-out one
// ESessionExpired.
func (s *Service) liveSession(ss *Session, revoked int64, err error) (*Session, error) {
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

// sessionAndUser reads the session of token and its user in one query
// (Authenticate's: one read per request instead of two).
func (s *Service) sessionAndUser(ctx context.Context, token string) (*Session, *userRow, error) {
	if !plausibleToken(token) {
		return nil, nil, errNoSession()
	}
	var sx sessionScan
	var ux userScan
	err := s.readRow(ctx, s.DB.Read, s.reads().sessionUser, qSessionUserByHash, hashToken(token)).Scan(append(sx.dest(), ux.dest()...)...)
	var ss *Session
	var revoked int64
	if err == nil {
		ss, revoked = sx.finish()
	}
	if ss, err = s.liveSession(ss, revoked, err); err != nil {
		return nil, nil, err
	}
	return ss, ux.finish(), nil
}

// touchInterval is how stale a session's last_seen_at may be before a
// request writes it again: a thirtieth of the idle timeout (30 s of the
// default 15 min), at least a second. Writing it on every request made
// every authenticated request a write on SQLite's single writer. The
// idle timeout is measured from the last write, so it ends a session at
// most this much early, never late; the session list's "last seen" is as
// precise.
func (s *Service) touchInterval() time.Duration {
	return max(s.cfg.IdleTimeout/30, time.Second)
}

// Authenticate resolves a session token to its session and user, enforcing
// the idle and absolute timeouts server-side (SES-03), and records the
// activity (at most every touchInterval). A revoked session fails at once:
// the session is read on every request (SES-05: no caching delay). A
// session waiting for its second factor is returned with AAL1: callers
// that need a full login use RequireAAL2.
func (s *Service) Authenticate(ctx context.Context, token string) (*Session, *User, error) {
	ss, u, err := s.sessionAndUser(ctx, token)
	if err != nil {
		if okpay.ErrorCode(err) == ESessionExpired {
			s.expire(ctx, token)
		}
		return nil, nil, err
	}
	now := s.now()
	if now.Sub(ss.LastSeenAt) >= s.touchInterval() {
		res, err := s.DB.Write.ExecContext(ctx, `UPDATE sessions SET last_seen_at = $1 WHERE id = $2 AND revoked_at = 0`, micros(now), ss.ID)
		if err != nil {
			return nil, nil, okpay.Internal(err, "touch session")
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return nil, nil, errNoSession() // revoked in the meantime (SES-05: no caching delay)
		}
		ss.LastSeenAt = now
	}
	ss.Current = true
	return ss, &u.User, nil
}

// Peek returns the live session of token, as Authenticate does, without
// recording activity: for checks the customer did not make (an open chat
// socket's ping), which must not keep an idle session alive (SES-03) nor
// write anything. A timed-out session is marked ended, as Authenticate
// marks it.
func (s *Service) Peek(ctx context.Context, token string) (*Session, error) {
	ss, err := s.lookupSession(ctx, s.DB.Read, token)
	if err != nil {
		if okpay.ErrorCode(err) == ESessionExpired {
			s.expire(ctx, token)
		}
		return nil, err
	}
	return ss, nil
}

// RequireAAL2 returns EMFARequired for a session still waiting for its
// second factor (MFA-01).
func RequireAAL2(ss *Session) error {
	if ss.AAL < AAL2 {
		return okpay.Errorf(EMFARequired, "Finish signing in with your second factor first.")
	}
	return nil
}

// expire marks a timed-out session revoked, so it shows as ended.
func (s *Service) expire(ctx context.Context, token string) {
	s.DB.Write.ExecContext(ctx, `UPDATE sessions SET revoked_at = $1, revoke_reason = 'expired' WHERE token_hash = $2 AND revoked_at = 0`,
		micros(s.now()), hashToken(token))
}

// Logout ends the session of token (SES-04). Ending an unknown or ended
// session is not an error.
func (s *Service) Logout(ctx context.Context, token string, m Meta) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		ss, revoked, err := scanSession(tx.QueryRowContext(ctx, `SELECT `+sessionCols+` FROM sessions WHERE token_hash = $1`, hashToken(token)))
		if errors.Is(err, sql.ErrNoRows) || (err == nil && revoked != 0) {
			return nil
		}
		if err != nil {
			return okpay.Internal(err, "load session")
		}
		if _, err := tx.ExecContext(ctx, `UPDATE sessions SET revoked_at = $1, revoke_reason = 'logout' WHERE id = $2`, micros(s.now()), ss.ID); err != nil {
			return okpay.Internal(err, "end session")
		}
		if err := s.revokeRefreshTokens(ctx, tx, `session_id = $3`, ss.ID, "logout"); err != nil {
			return err
		}
		return s.audit(ctx, tx, audit.Event{Name: audit.AuthnTokenRevoked, Actor: userRef(ss.UserID), Subject: userRef(ss.UserID), Outcome: "success", Reason: "logout"}, m)
	})
}

// Sessions lists the user's live sessions, newest first (SES-05).
func (s *Service) Sessions(ctx context.Context, userID, currentID int64) ([]*Session, error) {
	now := s.now()
	rows, err := s.DB.Read.QueryContext(ctx, `SELECT `+sessionCols+` FROM sessions
		WHERE user_id = $1 AND revoked_at = 0 AND expires_at > $2 AND last_seen_at > $3 ORDER BY id DESC LIMIT 100`,
		userID, micros(now), micros(now.Add(-s.cfg.IdleTimeout)))
	if err != nil {
		return nil, okpay.Internal(err, "list sessions")
	}
	defer rows.Close()
	var out []*Session
	for rows.Next() {
		ss, _, err := scanSession(rows)
		if err != nil {
			return nil, okpay.Internal(err, "list sessions")
		}
		ss.Current = ss.ID == currentID
		out = append(out, ss)
	}
	return out, rows.Err()
}

func errSudo() error {
	return okpay.Errorf(EStepUpRequired, "Confirm it is you with your second factor first.")
}

// RevokeSession ends one of the user's sessions; it needs the sudo window
// (SES-05). Another user's session is "not found" (API-02).
func (s *Service) RevokeSession(ctx context.Context, cur *Session, id int64, m Meta) error {
	if err := RequireAAL2(cur); err != nil {
		return err
	}
	if !s.Sudo(cur) {
		return errSudo()
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE sessions SET revoked_at = $1, revoke_reason = 'revoked' WHERE id = $2 AND user_id = $3 AND revoked_at = 0`,
			micros(s.now()), id, cur.UserID)
		if err != nil {
			return okpay.Internal(err, "revoke session")
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return okpay.Errorf(okpay.ENotFound, "No such session.")
		}
		if err := s.revokeRefreshTokens(ctx, tx, `session_id = $3`, id, "revoked"); err != nil {
			return err
		}
		return s.audit(ctx, tx, audit.Event{Name: audit.AuthnTokenRevoked, Actor: userRef(cur.UserID), Subject: userRef(cur.UserID), Outcome: "success",
			Reason: "revoked by user", Details: map[string]string{"session": sessionRef(id)}}, m)
	})
}

// RevokeOtherSessions ends every session of the user but cur (sudo).
func (s *Service) RevokeOtherSessions(ctx context.Context, cur *Session, m Meta) (int, error) {
	if err := RequireAAL2(cur); err != nil {
		return 0, err
	}
	if !s.Sudo(cur) {
		return 0, errSudo()
	}
	var n int
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		n, err = s.revokeSessions(ctx, tx, cur.UserID, cur.ID, "revoked by user", m)
		return err
	})
	return n, err
}

// revokeSessions ends every live session of userID except keep (0: all),
// and the refresh tokens of every session but keep, so no mobile client
// can come back with one (SES-03), and audits it (SES-06:
// authn_token_revoked). Every path that signs a user out in bulk goes
// through it: password change and reset, factor and contact changes,
// freeze, revoke-others and an agent's termination.
func (s *Service) revokeSessions(ctx context.Context, tx *sql.Tx, userID, keep int64, reason string, m Meta) (int, error) {
	res, err := tx.ExecContext(ctx, `UPDATE sessions SET revoked_at = $1, revoke_reason = $2 WHERE user_id = $3 AND id <> $4 AND revoked_at = 0`,
		micros(s.now()), clip(reason, 64), userID, keep)
	if err != nil {
		return 0, okpay.Internal(err, "revoke sessions")
	}
	n, _ := res.RowsAffected()
	// Used tokens are marked too: one presented again after this is still
	// reuse (refresh.go), but a revoked unused one is simply dead.
	res, err = tx.ExecContext(ctx, `UPDATE refresh_tokens SET revoked_at = $1, revoke_reason = $2 WHERE user_id = $3 AND session_id <> $4 AND revoked_at = 0`,
		micros(s.now()), clip(reason, 64), userID, keep)
	if err != nil {
		return 0, okpay.Internal(err, "revoke refresh tokens")
	}
	rt, _ := res.RowsAffected()
	if n > 0 || rt > 0 {
		details := map[string]string{"sessions": itoa(n)}
		if rt > 0 {
			details["refresh_revoked"] = itoa(rt)
		}
		if err := s.audit(ctx, tx, audit.Event{Name: audit.AuthnTokenRevoked, Actor: userRef(userID), Subject: userRef(userID), Outcome: "success",
			Reason: reason, Details: details}, m); err != nil {
			return 0, err
		}
	}
	return int(n), nil
}

// TerminateAllSessions ends every session of a user on an administrator's
// or agent's order (SES-11), audited with the actor and reason.
func (s *Service) TerminateAllSessions(ctx context.Context, userID int64, actor, caseID, reason string, m Meta) (int, error) {
	var n int
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		n, err = s.TerminateAllSessionsTx(ctx, tx, userID, actor, caseID, reason, m)
		return err
	})
	return n, err
}

// TerminateAllSessionsTx is TerminateAllSessions inside the caller's
// transaction tx (the support desk writes its audit row in the same one).
func (s *Service) TerminateAllSessionsTx(ctx context.Context, tx *sql.Tx, userID int64, actor, caseID, reason string, m Meta) (int, error) {
	if _, err := s.loadUser(ctx, tx, userID, true); err != nil {
		return 0, err
	}
	n, err := s.revokeSessions(ctx, tx, userID, 0, "terminated by "+actor, m)
	if err != nil {
		return 0, err
	}
	return n, s.audit(ctx, tx, audit.Event{Name: audit.AuthnTokenRevoked, Actor: actor, Subject: userRef(userID), Outcome: "success", CaseID: caseID, Reason: reason}, m)
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
