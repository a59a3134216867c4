package identity

// Refresh tokens for mobile clients (SECURITY.md SES-03).
//
// A session dies after 15 idle minutes; a phone app that is opened a few
// times a day would make its owner pass the second factor every time. So a
// client that asks for it at login (Meta.RefreshToken: a second-factor step
// that completes a login, a passwordless sign-in, a completed sign-up) or
// right after it (IssueRefreshToken, inside the sudo window) also gets a
// refresh token: 32 random bytes, stored as their SHA-256, bound to the
// session and to the device the session began on, and expiring with the
// session's absolute timeout (12 hours after the login, whatever happens).
//
// Refresh spends one: the token is marked used, the session it was bound to
// ends, and a new session starts with a fresh idle timer but the same
// absolute expiry, level and second-factor time (a refresh never reopens
// the sudo window), together with a new refresh token of the same family.
// A family is the chain of tokens of one login on one device.
//
// A used token presented again means two parties hold the chain: the
// client and someone who copied a token. Which one is the thief cannot be
// told, so every session and token of the family is revoked, the audit log
// records authn_token_reuse and the owner is alerted on every channel (the
// alert once per family: replaying the stolen token again only adds audit
// records).
//
// A client may lose the answer to a refresh (the network drops it) and
// present the same token again. Within RefreshGrace (30 s by default) of
// the rotation, from the same device, while the token issued in its place
// is still unused, that is no theft: the answer is the same new pair
// again (kept sealed with AES-GCM in the spent row, never in clear, and
// forgotten once the new token is used, after the grace by the sweep, or
// when the family is revoked). After the grace, from another device, or
// once the new token was used, reuse detection applies as above.
//
// Every path that ends sessions ends their refresh tokens too: logout and
// the revocation of one session (this session's), and revokeSessions
// (everything but the current session: password change and reset, factor
// and contact changes, freeze, revoke-others, an agent's termination). The
// idle timeout alone does not: outliving it is what a refresh token is for.

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/audit"
	"github.com/okpay/okpay/sqldb"
)

// NoteTokenReuse is the security notification sent when a used refresh
// token is presented again (SES-03: the device's sessions were revoked).
const NoteTokenReuse = "token_reuse"

// DefaultRefreshGrace is the default Config.RefreshGrace.
const DefaultRefreshGrace = 30 * time.Second

// auditRefreshResent is the audit event of a refresh answered again within
// the grace period.
const auditRefreshResent = "authn_token_resent"

// refreshRow is a row of refresh_tokens.
type refreshRow struct {
	id, family, userID, sessionID int64
	deviceID                      string
	expires, used, revoked        int64
	nextID                        int64
	nextSealed                    []byte
}

// issueRefreshToken stores a new refresh token bound to session ss in
// family (0 starts a new family) and returns it. It expires with the
// session's absolute timeout.
func (s *Service) issueRefreshToken(ctx context.Context, tx *sql.Tx, ss *Session, family int64, m Meta) (string, error) {
	token, _, err := s.issueRefresh(ctx, tx, ss, family, m)
	return token, err
}

// issueRefresh is issueRefreshToken that also returns the new row's id.
func (s *Service) issueRefresh(ctx context.Context, tx *sql.Tx, ss *Session, family int64, m Meta) (string, int64, error) {
	if ss.AAL < AAL2 {
		return "", 0, okpay.Internal(errors.New("refresh token for a level-1 session"), "issue refresh token")
	}
	reason := "refresh token rotated"
	if family == 0 {
		family, reason = s.IDs.Next(), "refresh token issued"
	}
	token := randomToken()
	id := s.IDs.Next()
	if _, err := tx.ExecContext(ctx, `INSERT INTO refresh_tokens (id, token_hash, family_id, user_id, session_id, device_id, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		id, hashToken(token), family, ss.UserID, ss.ID, ss.DeviceID, micros(s.now()), micros(ss.ExpiresAt)); err != nil {
		return "", 0, okpay.Internal(err, "store refresh token")
	}
	if err := s.audit(ctx, tx, audit.Event{Name: audit.AuthnTokenCreated, Actor: userRef(ss.UserID), Subject: userRef(ss.UserID), Outcome: "success",
		Reason: reason, Details: map[string]string{"session": sessionRef(ss.ID), "family": itoa(family)}}, m); err != nil {
		return "", 0, err
	}
	return token, id, nil
}

// revokeRefreshTokens revokes the live refresh tokens that match where, a
// condition on $3 (= arg); $1 is the time and $2 the reason.
func (s *Service) revokeRefreshTokens(ctx context.Context, tx *sql.Tx, where string, arg any, reason string) error {
	if _, err := tx.ExecContext(ctx, `UPDATE refresh_tokens SET revoked_at = $1, revoke_reason = $2 WHERE `+where+` AND revoked_at = 0`,
		micros(s.now()), clip(reason, 64), arg); err != nil {
		return okpay.Internal(err, "revoke refresh tokens")
	}
	return nil
}

// IssueRefreshToken gives the session ss a refresh token, for a mobile
// client that signed in without asking for one. Because the token
// outlives the idle timeout, it is handed out only right after a second
// factor: the session must be full and inside the sudo window (else
// EMFARequired or EStepUpRequired). A session has one family at a time: a
// token it had before is revoked. It returns the token and when it expires
// (with the session).
func (s *Service) IssueRefreshToken(ctx context.Context, ss *Session, m Meta) (string, time.Time, error) {
	if err := s.requireSudo(ss); err != nil {
		return "", time.Time{}, err
	}
	var token string
	var expires time.Time
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		cur, revoked, err := scanSession(tx.QueryRowContext(ctx, `SELECT `+sessionCols+` FROM sessions WHERE id = $1`, ss.ID))
		if errors.Is(err, sql.ErrNoRows) || (err == nil && revoked != 0) {
			return errNoSession()
		}
		if err != nil {
			return okpay.Internal(err, "load session")
		}
		if err := s.revokeRefreshTokens(ctx, tx, `session_id = $3`, cur.ID, "replaced"); err != nil {
			return err
		}
		token, err = s.issueRefreshToken(ctx, tx, cur, 0, m)
		expires = cur.ExpiresAt
		return err
	})
	if err != nil {
		return "", time.Time{}, err
	}
	return token, expires, nil
}

// Refresh trades a refresh token for a new session and a new refresh
// token of the same family (SES-03); the token given is spent. The new
// session has a fresh idle timer but the old one's absolute expiry, level
// and second factor (time and method); the old session ends. A token must
// come from the device it was issued to (m.DeviceID) when it was issued to
// one.
//
// The token just spent, presented again from its device within
// Config.RefreshGrace while the new refresh token is unused, gets the same
// new pair again (the client lost the answer).
//
// Errors, all 401 to a client: okpay.EUnauthorized for an unknown, revoked
// or spent token or another device, ESessionExpired once the session's
// absolute timeout has passed. A spent token presented again outside the
// grace is reuse: every session and refresh token of its family is
// revoked, the event is audited (authn_token_reuse) and the owner alerted,
// and the answer is the same EUnauthorized.
func (s *Service) Refresh(ctx context.Context, token string, m Meta) (*LoginResult, error) {
	if !plausibleToken(token) {
		return nil, errNoSession()
	}
	var res *LoginResult
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res = nil
		q := `SELECT id, family_id, user_id, session_id, device_id, expires_at, used_at, revoked_at, next_id, next_sealed FROM refresh_tokens WHERE token_hash = $1`
		if s.DB.Dialect == sqldb.Postgres {
			q += ` FOR UPDATE`
		}
		var r refreshRow
		err := tx.QueryRowContext(ctx, q, hashToken(token)).Scan(&r.id, &r.family, &r.userID, &r.sessionID, &r.deviceID, &r.expires, &r.used, &r.revoked,
			&r.nextID, &r.nextSealed)
		if errors.Is(err, sql.ErrNoRows) {
			return errNoSession()
		}
		if err != nil {
			return okpay.Internal(err, "load refresh token")
		}
		now := s.now()
		switch {
		case !now.Before(fromMicros(r.expires)):
			// The family is over with its session: nothing to protect.
			return okpay.Errorf(ESessionExpired, "Your session has expired. Sign in again.")
		case r.used != 0:
			if res, err = s.refreshResend(ctx, tx, &r, m); err != nil || res != nil {
				return err
			}
			if err := s.refreshReused(ctx, tx, &r, m); err != nil {
				return err
			}
			return sqldb.CommitThen(errNoSession())
		case r.revoked != 0:
			return errNoSession()
		case r.deviceID != "" && m.DeviceID != r.deviceID:
			// Bound to its device: refused here, still good there.
			return errNoSession()
		}
		old, _, err := scanSession(tx.QueryRowContext(ctx, `SELECT `+sessionCols+` FROM sessions WHERE id = $1`, r.sessionID))
		if err != nil {
			return okpay.Internal(err, "load session")
		}
		// Spend the token; a concurrent spender already holds the row (a
		// row lock on PostgreSQL, the single writer on SQLite), so this
		// only guards the invariant.
		up, err := tx.ExecContext(ctx, `UPDATE refresh_tokens SET used_at = $1 WHERE id = $2 AND used_at = 0 AND revoked_at = 0`, micros(now), r.id)
		if err != nil {
			return okpay.Internal(err, "spend refresh token")
		}
		if n, _ := up.RowsAffected(); n != 1 {
			return errNoSession()
		}
		// This token was its parent's answer: the parent can no longer
		// resend it.
		if _, err := tx.ExecContext(ctx, `UPDATE refresh_tokens SET next_sealed = NULL WHERE next_id = $1`, r.id); err != nil {
			return okpay.Internal(err, "forget refresh answer")
		}
		if _, err := tx.ExecContext(ctx, `UPDATE sessions SET revoked_at = $1, revoke_reason = 'refreshed' WHERE id = $2 AND revoked_at = 0`, micros(now), old.ID); err != nil {
			return okpay.Internal(err, "end refreshed session")
		}
		newToken, ss, err := s.continueSession(ctx, tx, old, r.deviceID, m)
		if err != nil {
			return err
		}
		rt, rtID, err := s.issueRefresh(ctx, tx, ss, r.family, m)
		if err != nil {
			return err
		}
		// Keep the answer, sealed, for a resend within the grace.
		sealed, err := s.replySeal.Seal([]byte(newToken+" "+rt), replyAAD(r.id))
		if err != nil {
			return okpay.Internal(err, "seal refresh answer")
		}
		if _, err := tx.ExecContext(ctx, `UPDATE refresh_tokens SET next_id = $1, next_sealed = $2 WHERE id = $3`, rtID, sealed, r.id); err != nil {
			return okpay.Internal(err, "keep refresh answer")
		}
		res = &LoginResult{Token: newToken, Session: ss, RefreshToken: rt}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

func replyAAD(id int64) []byte { return []byte("refresh-reply:" + itoa(id)) }

// refreshResend answers a spent token presented again with the pair it was
// exchanged for, when that is no reuse: within the grace period of the
// exchange, from the token's device, the new refresh token unused and its
// session alive. It returns nil (and no error) otherwise.
func (s *Service) refreshResend(ctx context.Context, tx *sql.Tx, r *refreshRow, m Meta) (*LoginResult, error) {
	now := s.now()
	if r.nextID == 0 || len(r.nextSealed) == 0 || now.After(fromMicros(r.used).Add(s.cfg.RefreshGrace)) ||
		(r.deviceID != "" && m.DeviceID != r.deviceID) {
		return nil, nil
	}
	var sessionID, used, revoked int64
	err := tx.QueryRowContext(ctx, `SELECT session_id, used_at, revoked_at FROM refresh_tokens WHERE id = $1`, r.nextID).Scan(&sessionID, &used, &revoked)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, okpay.Internal(err, "load refresh token")
	}
	if used != 0 || revoked != 0 {
		return nil, nil
	}
	ss, sessRevoked, err := scanSession(tx.QueryRowContext(ctx, `SELECT `+sessionCols+` FROM sessions WHERE id = $1`, sessionID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, okpay.Internal(err, "load session")
	}
	if sessRevoked != 0 || !now.Before(ss.ExpiresAt) {
		return nil, nil
	}
	plain, err := s.replySeal.Open(r.nextSealed, replyAAD(r.id))
	if err != nil {
		return nil, okpay.Internal(err, "open refresh answer")
	}
	tok, rt, ok := strings.Cut(string(plain), " ")
	if !ok {
		return nil, okpay.Internal(errors.New("malformed refresh answer"), "open refresh answer")
	}
	if err := s.audit(ctx, tx, audit.Event{Name: auditRefreshResent, Actor: userRef(r.userID), Subject: userRef(r.userID), Outcome: "success",
		Reason:  "a refresh token presented again within the grace period got the same answer",
		Details: map[string]string{"family": itoa(r.family), "session": sessionRef(ss.ID)}}, m); err != nil {
		return nil, err
	}
	return &LoginResult{Token: tok, Session: ss, RefreshToken: rt}, nil
}

// continueSession starts the session that follows old after a refresh:
// a new token and idle timer, old's user, level, second factor (time and
// method) and absolute expiry, on the refresh token's device, located at
// the client's address now.
func (s *Service) continueSession(ctx context.Context, tx *sql.Tx, old *Session, deviceID string, m Meta) (string, *Session, error) {
	now := s.now()
	token := randomToken()
	ss := &Session{ID: s.IDs.Next(), UserID: old.UserID, AAL: old.AAL, DeviceID: deviceID, IP: m.IP, UserAgent: clip(m.UserAgent, 512),
		CreatedAt: now, LastSeenAt: now, ExpiresAt: old.ExpiresAt, MFAAt: old.MFAAt, MFAMethod: old.MFAMethod}
	ss.Device = deviceLabel(ss.UserAgent)
	ss.Location, _ = s.locate(m.IP)
	if err := s.insertSession(ctx, tx, ss, token); err != nil {
		return "", nil, err
	}
	return token, ss, nil
}

// refreshReused handles a spent refresh token presented again: the whole
// family — its tokens and the sessions they were bound to — is revoked,
// the reuse is audited, and the owner alerted the first time for this
// family.
func (s *Service) refreshReused(ctx context.Context, tx *sql.Tx, r *refreshRow, m Meta) error {
	now := micros(s.now())
	res, err := tx.ExecContext(ctx, `UPDATE refresh_tokens SET revoke_reason = 'reuse', revoked_at = CASE WHEN revoked_at = 0 THEN $1 ELSE revoked_at END
		WHERE family_id = $2 AND revoke_reason <> 'reuse'`, now, r.family)
	if err != nil {
		return okpay.Internal(err, "revoke refresh family")
	}
	first, _ := res.RowsAffected()
	if _, err := tx.ExecContext(ctx, `UPDATE refresh_tokens SET next_sealed = NULL WHERE family_id = $1 AND next_sealed IS NOT NULL`, r.family); err != nil {
		return okpay.Internal(err, "forget refresh answers")
	}
	res, err = tx.ExecContext(ctx, `UPDATE sessions SET revoked_at = $1, revoke_reason = 'refresh token reuse'
		WHERE revoked_at = 0 AND id IN (SELECT session_id FROM refresh_tokens WHERE family_id = $2)`, now, r.family)
	if err != nil {
		return okpay.Internal(err, "revoke refresh family sessions")
	}
	n, _ := res.RowsAffected()
	if err := s.audit(ctx, tx, audit.Event{Name: audit.AuthnTokenReuse, Subject: userRef(r.userID), Outcome: "failure",
		Reason: "a spent refresh token was presented again", Details: map[string]string{"family": itoa(r.family), "sessions_revoked": itoa(n)}}, m); err != nil {
		return err
	}
	if first == 0 {
		return nil // already revoked and announced
	}
	u, err := s.loadUser(ctx, tx, r.userID, true)
	if err != nil {
		return err
	}
	return s.notifySecurity(ctx, tx, u, NoteTokenReuse, m, nil)
}
