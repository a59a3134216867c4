package identity

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/audit"
	"github.com/okpay/okpay/identity/risk"
)

// Freeze freezes an account: every session ends at once, money can no
// longer leave it (inbound credits still arrive), the freeze hooks run
// (the wallet voids withdrawals not yet sent), and every channel hears of
// it (RSK-04, SES-07). Freezing a frozen account changes nothing. actor is
// the user's own reference for a self-freeze, "system" for a rule, or an
// agent.
func (s *Service) Freeze(ctx context.Context, userID int64, reason, actor string, m Meta) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		u, err := s.loadUser(ctx, tx, userID, true)
		if err != nil {
			return err
		}
		return s.freeze(ctx, tx, u, reason, actor, m)
	})
}

// FreezeTx is Freeze inside the caller's transaction tx, so that the
// caller's own record of the action (the support desk's audit row) commits
// or rolls back with the freeze; the caller wakes the outbox after the
// commit. It reports whether it froze the account (false: frozen already,
// nothing changed).
func (s *Service) FreezeTx(ctx context.Context, tx *sql.Tx, userID int64, reason, actor string, m Meta) (bool, error) {
	u, err := s.loadUser(ctx, tx, userID, true)
	if err != nil {
		return false, err
	}
	if u.Frozen {
		return false, nil
	}
	return true, s.freeze(ctx, tx, u, reason, actor, m)
}

func (s *Service) freeze(ctx context.Context, tx *sql.Tx, u *userRow, reason, actor string, m Meta) error {
	return s.freezeKeeping(ctx, tx, u, reason, actor, 0, m)
}

// freezeKeeping is freeze that leaves session keep alive (0: none): the
// sign-in a risk rule froze the account at completes into a read-only
// session (RSK-05), all others end.
func (s *Service) freezeKeeping(ctx context.Context, tx *sql.Tx, u *userRow, reason, actor string, keep int64, m Meta) error {
	if u.Frozen {
		return nil
	}
	now := s.now()
	if _, err := tx.ExecContext(ctx, `UPDATE users SET status = 'frozen', frozen_at = $1, frozen_reason = $2, updated_at = $1 WHERE id = $3`,
		micros(now), clip(reason, 200), u.ID); err != nil {
		return okpay.Internal(err, "freeze")
	}
	u.Frozen, u.FrozenAt, u.FrozenReason = true, now, reason
	if _, err := s.revokeSessions(ctx, tx, u.ID, keep, "account frozen", m); err != nil {
		return err
	}
	for _, h := range s.hooks {
		if err := h(ctx, tx, u.ID); err != nil {
			return err
		}
	}
	caseRef := ""
	if s.caseHook != nil {
		ref, err := s.caseHook(ctx, tx, u.ID)
		if err != nil {
			return err
		}
		caseRef = ref
	}
	if err := s.audit(ctx, tx, audit.Event{Name: audit.AccountFrozen, Actor: actor, Subject: userRef(u.ID), Outcome: "success", Reason: reason, CaseID: caseRef}, m); err != nil {
		return err
	}
	return s.notifySecurity(ctx, tx, u, NoteFrozen, m, nil)
}

// FreezeByLink freezes the account of a "Not you? Freeze my account" link
// without a login (NOT-05). The link works once: its first use records its
// hash in freeze_links; using it again, or on a frozen account, is
// harmless and reports success. A forged, altered, unknown or expired link
// is EFlowInvalid.
func (s *Service) FreezeByLink(ctx context.Context, token string, m Meta) error {
	c, ok := parseFreezeToken(s.freezeMAC, token)
	if !ok {
		return errFlow()
	}
	if c.legacy {
		return s.freezeByStoredLink(ctx, token, m)
	}
	now := s.now()
	if !now.Before(c.expires) {
		return errFlow()
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		u, err := s.loadUser(ctx, tx, c.userID, true)
		if okpay.ErrorCode(err) == okpay.ENotFound {
			return errFlow()
		}
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO freeze_links (token_hash, user_id, created_at, expires_at, used_at) VALUES ($1, $2, $3, $4, $3) ON CONFLICT (token_hash) DO NOTHING`,
			hashToken(token), u.ID, micros(now), micros(c.expires))
		if err != nil {
			return okpay.Internal(err, "use freeze link")
		}
		if n, err := res.RowsAffected(); err != nil {
			return okpay.Internal(err, "use freeze link")
		} else if n == 0 {
			return nil // used before
		}
		return s.freeze(ctx, tx, u, "self:notification_link", userRef(u.ID), m)
	})
}

// freezeByStoredLink is FreezeByLink for a legacy token, sent when every
// link was stored (hashed) in freeze_links with its account and expiry.
func (s *Service) freezeByStoredLink(ctx context.Context, token string, m Meta) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		var userID, expires, used int64
		err := tx.QueryRowContext(ctx, `SELECT user_id, expires_at, used_at FROM freeze_links WHERE token_hash = $1`, hashToken(token)).Scan(&userID, &expires, &used)
		if errors.Is(err, sql.ErrNoRows) {
			return errFlow()
		}
		if err != nil {
			return okpay.Internal(err, "load freeze link")
		}
		if used != 0 {
			return nil
		}
		if !s.now().Before(fromMicros(expires)) {
			return errFlow()
		}
		if _, err := tx.ExecContext(ctx, `UPDATE freeze_links SET used_at = $1 WHERE token_hash = $2 AND used_at = 0`, micros(s.now()), hashToken(token)); err != nil {
			return okpay.Internal(err, "use freeze link")
		}
		u, err := s.loadUser(ctx, tx, userID, true)
		if err != nil {
			return err
		}
		return s.freeze(ctx, tx, u, "self:notification_link", userRef(userID), m)
	})
}

// Unfreeze lifts a freeze. Customers cannot call it: it is the support
// desk's (with the checks of RSK-06 around it); actor and caseID are
// audited, and a 24 h money-out hold follows.
func (s *Service) Unfreeze(ctx context.Context, userID int64, actor, caseID, reason string, m Meta) error {
	if actor == "" || caseID == "" || reason == "" {
		return okpay.Invalid(map[string]string{"reason": "An unfreeze needs the acting agent, a case and a reason."})
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		u, err := s.loadUser(ctx, tx, userID, true)
		if err != nil {
			return err
		}
		if !u.Frozen {
			return okpay.Errorf(okpay.EConflict, "The account is not frozen.")
		}
		if _, err := tx.ExecContext(ctx, `UPDATE users SET status = 'active', frozen_at = 0, frozen_reason = '', updated_at = $1 WHERE id = $2`, micros(s.now()), u.ID); err != nil {
			return okpay.Internal(err, "unfreeze")
		}
		u.Frozen = false
		if err := s.startHold(ctx, tx, u, risk.Unfreeze, "unfrozen", m); err != nil {
			return err
		}
		if err := s.audit(ctx, tx, audit.Event{Name: audit.AccountUnfrozen, Actor: actor, Subject: userRef(u.ID), Outcome: "success", CaseID: caseID, Reason: reason}, m); err != nil {
			return err
		}
		return s.notifySecurity(ctx, tx, u, NoteUnfrozen, m, nil)
	})
}

// CanMoveMoneyOut tells whether money may leave the account now: it fails
// with EAccountFrozen, EContactUnverified or EHoldActive (whose message
// carries the hold's end). The wallet calls it in the same transaction as
// the movement (TXN-03's final gate), with tx.
func (s *Service) CanMoveMoneyOut(ctx context.Context, tx *sql.Tx, userID int64) error {
	var q querier = s.DB.Read
	if tx != nil {
		q = tx
	}
	u, err := s.loadUser(ctx, q, userID, tx != nil)
	if err != nil {
		return err
	}
	switch {
	case u.Frozen:
		return okpay.Errorf(EAccountFrozen, "This account is frozen: money cannot leave it. Contact support to unfreeze it.")
	case !u.Verified():
		return okpay.Errorf(EContactUnverified, "Verify your email address and phone number before moving money.")
	case s.now().Before(u.HoldUntil):
		return &HoldError{Until: u.HoldUntil, Reason: u.HoldReason}
	}
	return nil
}

// HoldError reports a cooling-off hold (RSK-02).
type HoldError struct {
	Until  time.Time
	Reason string
}

func (e *HoldError) Error() string {
	return "Money cannot leave this account until " + e.Until.Format("2006-01-02 15:04 UTC") + " (a security hold after a sensitive change)."
}

// Code implements the coded-error convention of okpay.ErrorCode.
func (e *HoldError) Code() string { return EHoldActive }
