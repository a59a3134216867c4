package identity

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/audit"
	"github.com/okpay/okpay/identity/risk"
)

// The support desk's entry points into identity (package support): the
// approved actions of maker-checker requests run inside the request's own
// transaction (tx), so the decision and the change commit or roll back
// together. Each is audited here with the acting agent, the case and the
// reason; support audits the decision itself.

// UnfreezeTx is Unfreeze inside the caller's transaction: the account
// goes back to active, a 24 h money-out hold starts (risk.Unfreeze) and
// the customer hears of it.
func (s *Service) UnfreezeTx(ctx context.Context, tx *sql.Tx, userID int64, actor, caseID, reason string, m Meta) error {
	if actor == "" || caseID == "" || reason == "" {
		return okpay.Invalid(map[string]string{"reason": "An unfreeze needs the acting agent, a case and a reason."})
	}
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
}

// LiftHoldTx ends the account's money-out hold now (SUP-02: an approved
// request). An account without a running hold is EConflict.
func (s *Service) LiftHoldTx(ctx context.Context, tx *sql.Tx, userID int64, actor, caseID, reason string, m Meta) error {
	u, err := s.loadUser(ctx, tx, userID, true)
	if err != nil {
		return err
	}
	if !s.now().Before(u.HoldUntil) {
		return okpay.Errorf(okpay.EConflict, "The account has no hold to lift.")
	}
	if _, err := tx.ExecContext(ctx, `UPDATE users SET hold_until = 0, hold_reason = '', updated_at = $1 WHERE id = $2`, micros(s.now()), u.ID); err != nil {
		return okpay.Internal(err, "lift hold")
	}
	return s.audit(ctx, tx, audit.Event{Name: "hold_lifted", Actor: actor, Subject: userRef(u.ID), Outcome: "success", CaseID: caseID, Reason: reason,
		Details: map[string]string{"hold_until": u.HoldUntil.Format(time.RFC3339), "hold_reason": u.HoldReason}}, m)
}

// ResetFactorsTx removes every second factor of the account after an
// assisted recovery was approved (REC-08): the TOTP secret, the passkeys
// and the recovery codes go, every session ends, a money-out hold starts
// (risk.AssistedRecovery) and the customer hears of it on every channel.
// The customer enrols fresh factors at the next sign-in.
func (s *Service) ResetFactorsTx(ctx context.Context, tx *sql.Tx, userID int64, actor, caseID, reason string, m Meta) error {
	u, err := s.loadUser(ctx, tx, userID, true)
	if err != nil {
		return err
	}
	now := micros(s.now())
	if _, err := tx.ExecContext(ctx, `UPDATE users SET totp_secret = NULL, totp_pending = NULL, totp_enabled_at = 0, updated_at = $1 WHERE id = $2`, now, u.ID); err != nil {
		return okpay.Internal(err, "reset totp")
	}
	res, err := tx.ExecContext(ctx, `UPDATE passkeys SET deleted_at = $1 WHERE user_id = $2 AND deleted_at IS NULL`, now, u.ID)
	if err != nil {
		return okpay.Internal(err, "reset passkeys")
	}
	passkeys, _ := res.RowsAffected()
	if _, err := tx.ExecContext(ctx, `DELETE FROM recovery_codes WHERE user_id = $1`, u.ID); err != nil {
		return okpay.Internal(err, "reset recovery codes")
	}
	if _, err := s.revokeSessions(ctx, tx, u.ID, 0, "factors reset by support", m); err != nil {
		return err
	}
	if err := s.startHold(ctx, tx, u, risk.AssistedRecovery, "assisted_recovery", m); err != nil {
		return err
	}
	if err := s.audit(ctx, tx, audit.Event{Name: audit.AuthnMFADisabled, Actor: actor, Subject: userRef(u.ID), Outcome: "success", CaseID: caseID, Reason: reason,
		Details: map[string]string{"method": "all", "totp": boolText(u.TOTPEnabled), "passkeys": itoa(passkeys)}}, m); err != nil {
		return err
	}
	return s.notifySecurity(ctx, tx, u, NoteFactorRemoved, m, map[string]any{"Method": s.Catalog.T(u.Lang, "factor.totp", nil)})
}

// SendResetLink asks the customer, on a support agent's order, to reset
// their password (REC-07): every channel gets a link to the public
// "forgot password" page, where the customer starts the usual reset flow
// themselves (a code to their own contact). Nothing of the account
// changes; no password is ever set or shown to the agent. It is audited
// with the agent, the case and the reason.
func (s *Service) SendResetLink(ctx context.Context, userID int64, actor, caseID, reason string, m Meta) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		return s.SendResetLinkTx(ctx, tx, userID, actor, caseID, reason, m)
	})
}

// SendResetLinkTx is SendResetLink inside the caller's transaction tx
// (the support desk writes its audit row in the same one); the caller
// wakes the outbox after the commit.
func (s *Service) SendResetLinkTx(ctx context.Context, tx *sql.Tx, userID int64, actor, caseID, reason string, m Meta) error {
	u, err := s.loadUser(ctx, tx, userID, true)
	if err != nil {
		return err
	}
	if err := s.audit(ctx, tx, audit.Event{Name: "authn_password_reset_requested", Actor: actor, Subject: userRef(u.ID), Outcome: "success",
		CaseID: caseID, Reason: reason}, m); err != nil {
		return err
	}
	return s.notifySecurity(ctx, tx, u, NoteSupportReset, m, map[string]any{"ResetLink": s.cfg.BaseURL + "/password/forgot"})
}

// NoteSupportReset is the notification of SendResetLink.
const NoteSupportReset = "support_reset"

func boolText(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// Notifications of REC-08's assisted recovery.
const (
	// NoteRecoveryRequested: support started an assisted recovery; it
	// waits out its delay and the message carries the one-click cancel
	// link ({{.CancelLink}}) and the earliest approval ({{.Until}}).
	NoteRecoveryRequested = "recovery_requested"
	// NoteRecoveryCancelled: the owner cancelled it with the link.
	NoteRecoveryCancelled = "recovery_cancelled"
)

// RecoveryCancelPath is the path of an assisted recovery's cancel link;
// the token follows it.
const RecoveryCancelPath = "/recovery/cancel/"

// NotifyRecoveryRequestedTx tells the owner of userID, in tx, on every
// channel the account has (the verified email address, the phone by SMS
// and the app; REC-08: "every known channel is notified"), that support
// started an assisted recovery that may be approved at until at the
// earliest, with the link that cancels it in one click (the token is the
// caller's, stored hashed by the caller). The caller wakes the outbox.
func (s *Service) NotifyRecoveryRequestedTx(ctx context.Context, tx *sql.Tx, userID int64, cancelToken string, until time.Time, m Meta) error {
	u, err := s.loadUser(ctx, tx, userID, true)
	if err != nil {
		return err
	}
	return s.notifySecurity(ctx, tx, u, NoteRecoveryRequested, m, map[string]any{
		"CancelLink": strings.TrimRight(s.cfg.BaseURL, "/") + RecoveryCancelPath + cancelToken,
		"Until":      until.UTC().Format("2006-01-02 15:04 UTC"),
	})
}

// NotifyRecoveryCancelledTx tells the owner of userID on every channel
// that the assisted recovery was cancelled.
func (s *Service) NotifyRecoveryCancelledTx(ctx context.Context, tx *sql.Tx, userID int64, m Meta) error {
	u, err := s.loadUser(ctx, tx, userID, true)
	if err != nil {
		return err
	}
	return s.notifySecurity(ctx, tx, u, NoteRecoveryCancelled, m, nil)
}
