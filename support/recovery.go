package support

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/agent"
	"github.com/okpay/okpay/audit"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/ids"
)

// REC-08's delay, seen from the account's owner. When an agent requests
// an assisted recovery (KindResetFactors), the same transaction stores the
// hash of a fresh random cancel token on the request and queues a notice
// to every channel of the account (identity.NotifyRecoveryRequestedTx:
// the verified email address, SMS to the phone, in-app) carrying the link
// RecoveryCancelPath+token. During the delay the owner cancels with one
// click on the link's page (CancelRecovery, no sign-in: the owner may
// have lost every factor, and the token is proof of reading one of the
// account's channels). Cancelling rejects the request with the owner as
// the checker, is audited (EventRequestCancelled) and tells every channel.

// EventRequestCancelled is the audit event of an owner's cancel.
const EventRequestCancelled = "support_request_cancelled"

// ECancelLinkInvalid: the cancel link is unknown, malformed, or its
// request was decided or expired. HTTP 400.
const ECancelLinkInvalid = "support_cancel_link_invalid"

// cancelTokenLen is the length of a cancel token (32 random bytes,
// base64url).
const cancelTokenLen = 43

func newCancelToken() string {
	var b [32]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func hashCancelToken(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// ValidCancelToken reports whether token looks like a cancel token (the
// web layer refuses others before any lookup).
func ValidCancelToken(token string) bool {
	if len(token) != cancelTokenLen {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(token)
	return err == nil
}

// noticeRecovery stores the cancel token's hash on request r and queues
// the owner's notices, in tx.
func (s *Service) noticeRecovery(ctx context.Context, tx *sql.Tx, r *Request, m identity.Meta) error {
	token := newCancelToken()
	if _, err := tx.ExecContext(ctx, `UPDATE support_requests SET cancel_hash = $1 WHERE id = $2`, hashCancelToken(token), r.ID); err != nil {
		return okpay.Internal(err, "store recovery cancel link")
	}
	return s.Identity.NotifyRecoveryRequestedTx(ctx, tx, r.CustomerID, token, r.CreatedAt.Add(s.cfg.RecoveryDelay), m)
}

// CancelRecovery cancels the pending assisted recovery whose cancel link
// carries token: the request is rejected with the account's owner as the
// checker, audited and announced on every channel. An unknown token, or
// a request already decided or expired, is ECancelLinkInvalid.
func (s *Service) CancelRecovery(ctx context.Context, token string, m identity.Meta) (*Request, error) {
	if !ValidCancelToken(token) {
		return nil, okpay.Errorf(ECancelLinkInvalid, "This cancel link is not valid.")
	}
	now := s.now()
	var r *Request
	err := s.DB.InTx(ctx, func(tx *sql.Tx) error {
		var err error
		r, err = scanRequest(tx.QueryRowContext(ctx, `SELECT `+requestCols+` FROM support_requests WHERE cancel_hash = $1 AND kind = $2`,
			hashCancelToken(token), string(KindResetFactors)))
		if errors.Is(err, sql.ErrNoRows) {
			return okpay.Errorf(ECancelLinkInvalid, "This cancel link is not valid.")
		}
		if err != nil {
			return okpay.Internal(err, "find recovery request")
		}
		owner := ids.Format(identity.UserPrefix, r.CustomerID)
		res, err := tx.ExecContext(ctx, `UPDATE support_requests SET status = 'rejected', checker_role = 'customer', checker_reason = $1, decided_at = $2
			WHERE id = $3 AND status = 'pending' AND expires_at > $2`, "cancelled by the account owner", micros(now), r.ID)
		if err != nil {
			return okpay.Internal(err, "cancel recovery request")
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return okpay.Errorf(ECancelLinkInvalid, "This recovery was decided already.")
		}
		ev := audit.Event{At: now, Name: EventRequestCancelled, Actor: owner, Subject: owner, IP: m.IP, RequestID: m.RequestID,
			Outcome: audit.Success, CaseID: r.CaseID, Reason: "cancelled by the account owner",
			Details: map[string]string{"request": r.Ref(), "kind": string(r.Kind), "maker": agent.Ref(r.MakerID), "before": "request=pending", "after": "request=rejected"}}
		if _, err := audit.Append(ctx, tx, s.DB.Dialect, ev); err != nil {
			return okpay.Internal(err, "audit recovery cancel")
		}
		return s.Identity.NotifyRecoveryCancelledTx(ctx, tx, r.CustomerID, m)
	})
	if err != nil {
		var e *okpay.Error
		if errors.As(err, &e) {
			return nil, e
		}
		return nil, okpay.Internal(err, "cancel recovery")
	}
	s.Identity.Outbox.Wake()
	r.Status, r.CheckerRole, r.CheckerReason, r.DecidedAt = StatusRejected, "customer", "cancelled by the account owner", now
	return r, nil
}
