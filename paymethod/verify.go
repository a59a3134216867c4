package paymethod

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/psp"
	"github.com/okpay/okpay/sqldb"
)

// newMethod is what create inserts.
type newMethod struct {
	userID      int64
	kind        Kind
	fingerprint string
	label       string
	verifyKind  string
	codeMAC     func(id int64) []byte // the statement code's tag, if any
	expiresAt   time.Time
	// detail inserts the kind's own row.
	detail func(ctx context.Context, tx *sql.Tx, id int64) error
}

// create checks the account's limits and duplicates, then inserts a
// pending method with its verification reference and notifies the owner,
// all in one transaction. The provider is called after the commit, so a
// webhook always finds the method.
func (s *Service) create(ctx context.Context, n newMethod) (*row, error) {
	var id int64
	err := s.d.DB.InTx(ctx, func(tx *sql.Tx) error {
		now := s.now()
		// One add at a time per account: the limits below are counted
		// under this lock on PostgreSQL.
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM users WHERE id = $1`+s.d.DB.ForUpdate(), n.userID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return okpay.Errorf(okpay.ENotFound, "There is no such account.")
		}
		if err != nil {
			return okpay.Internal(err, "lock account")
		}
		if err := s.checkLimits(ctx, tx, n, now); err != nil {
			return err
		}
		var others int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(DISTINCT user_id) FROM payment_methods WHERE fingerprint = $1 AND user_id <> $2`,
			n.fingerprint, n.userID).Scan(&others); err != nil {
			return okpay.Internal(err, "count accounts for fingerprint")
		}
		shared := 0
		if others > 0 {
			shared = 1
			if _, err := tx.ExecContext(ctx, `UPDATE payment_methods SET shared = 1 WHERE fingerprint = $1 AND shared = 0`, n.fingerprint); err != nil {
				return okpay.Internal(err, "flag shared fingerprint")
			}
		}
		id = s.d.IDs.Next()
		var mac []byte
		keyID := ""
		if n.codeMAC != nil {
			mac, keyID = n.codeMAC(id), s.d.MAC.KeyID()
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO payment_methods
			(id, user_id, kind, status, fingerprint, shared, label, psp, verify_kind, reference, code_mac, code_key_id,
			 verify_expires_at, created_at, updated_at, hold_until)
			VALUES ($1, $2, $3, 'pending', $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13, $14)`,
			id, n.userID, string(n.kind), n.fingerprint, shared, n.label, s.d.Provider.Name(), n.verifyKind, reference(id), mac, keyID,
			micros(n.expiresAt), micros(now), micros(now.Add(s.cfg.PayoutHold)))
		if sqldb.IsUniqueViolation(err) {
			return errDuplicate(n.kind)
		}
		if err != nil {
			return okpay.Internal(err, "insert payment method")
		}
		if err := n.detail(ctx, tx, id); err != nil {
			return err
		}
		r, err := s.load(ctx, tx, n.userID, id, false)
		if err != nil {
			return err
		}
		if err := s.notify(ctx, tx, r, NoteAdded, map[string]any{"HoldUntil": r.HoldUntil.Format("2006-01-02 15:04 UTC")}); err != nil {
			return err
		}
		return s.checkMuleRule(ctx, tx, n.userID, n.fingerprint, now) // RSK-04 (risk.go)
	})
	if err != nil {
		return nil, err
	}
	return s.load(ctx, s.d.DB.Write, n.userID, id, false)
}

func errDuplicate(k Kind) error {
	what := map[Kind]string{KindCard: "card", KindBankAccount: "bank account", KindEWallet: "e-wallet account"}[k]
	return okpay.Errorf(EDuplicateMethod, "This %s is already on your account.", what)
}

// checkLimits applies CRD-04's limits and CRD-07's duplicate rule.
func (s *Service) checkLimits(ctx context.Context, tx *sql.Tx, n newMethod, now time.Time) error {
	var dup int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM payment_methods WHERE user_id = $1 AND fingerprint = $2 AND deleted_at = 0 AND status <> 'failed'`,
		n.userID, n.fingerprint).Scan(&dup); err != nil {
		return okpay.Internal(err, "check duplicate")
	}
	if dup > 0 {
		return errDuplicate(n.kind)
	}
	var active, added int
	if err := tx.QueryRowContext(ctx, `SELECT
			COALESCE(SUM(CASE WHEN deleted_at = 0 AND status NOT IN ('failed','disabled') THEN 1 ELSE 0 END), 0),
			COALESCE(SUM(CASE WHEN created_at > $3 AND failure_code <> $4 THEN 1 ELSE 0 END), 0)
		FROM payment_methods WHERE user_id = $1 AND kind = $2`,
		n.userID, string(n.kind), micros(now.Add(-24*time.Hour)), FailProviderUnavailable).Scan(&active, &added); err != nil {
		return okpay.Internal(err, "count payment methods")
	}
	if active >= s.cfg.MaxActive {
		return okpay.Errorf(ETooManyMethods, "You can keep at most %d payment methods of this kind: delete one before adding another.", s.cfg.MaxActive)
	}
	if added >= s.cfg.MaxAddsPerDay {
		return okpay.Errorf(ERateLimited, "You have added %d payment methods of this kind in the last 24 hours: please try again later.", added)
	}
	var failed int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM payment_methods WHERE fingerprint = $1 AND failed_at > $2 AND failure_code <> $3`,
		n.fingerprint, micros(now.Add(-24*time.Hour)), FailProviderUnavailable).Scan(&failed); err != nil {
		return okpay.Internal(err, "count failed verifications")
	}
	if failed >= s.cfg.MaxFailuresPerDay {
		return okpay.Errorf(ERateLimited, "This payment method failed verification too often in the last 24 hours: please try again tomorrow.")
	}
	return nil
}

func reference(id int64) string { return ids.Format("pmv", id) }

// transition moves r to status to if that is forward, records why, and
// notifies the owner of a final outcome. It reports whether anything
// changed. A deleted method keeps its status.
func (s *Service) transition(ctx context.Context, tx *sql.Tx, r *row, to Status, failure, actionURL string) (bool, error) {
	if r.Status.Final() || to.rank() <= r.Status.rank() || r.Deleted() {
		return false, nil
	}
	now := s.now()
	verified, failed := micros(r.VerifiedAt), int64(0)
	switch to {
	case StatusVerified:
		verified = micros(now)
		failure = ""
	case StatusFailed, StatusDisabled:
		failed = micros(now)
	default:
		failure = ""
	}
	if to != StatusRequiresAction {
		actionURL = ""
	}
	q := `UPDATE payment_methods SET status = $1, failure_code = $2, action_url = $3, verified_at = $4, updated_at = $5 WHERE id = $6`
	args := []any{string(to), clip(failure, 64), clip(actionURL, 2000), verified, micros(now), r.ID}
	if failed != 0 {
		q = `UPDATE payment_methods SET status = $1, failure_code = $2, action_url = $3, verified_at = $4, updated_at = $5, failed_at = $5 WHERE id = $6`
	}
	if _, err := tx.ExecContext(ctx, q, args...); err != nil {
		return false, okpay.Internal(err, "update payment method status")
	}
	r.Status, r.FailureCode, r.ActionURL, r.VerifiedAt = to, failure, actionURL, fromMicros(verified)
	switch to {
	case StatusVerified:
		return true, s.notify(ctx, tx, r, NoteVerified, map[string]any{"HoldUntil": r.HoldUntil.Format("2006-01-02 15:04 UTC")})
	case StatusFailed, StatusDisabled:
		return true, s.notify(ctx, tx, r, NoteFailed, map[string]any{"Reason": failure})
	}
	return true, nil
}

// chargeStatus maps the provider's view of a card verification onto the
// method: a success waits for the statement code when one was asked for.
func chargeStatus(r *row, st psp.Status) Status {
	switch st {
	case psp.StatusRequiresAction:
		return StatusRequiresAction
	case psp.StatusSucceeded:
		if r.codeMAC != nil {
			return StatusAwaitingCode
		}
		return StatusVerified
	case psp.StatusFailed:
		return StatusFailed
	}
	return StatusPending
}

// applyCharge records the provider's answer to a card verification.
func (s *Service) applyCharge(ctx context.Context, r *row, c psp.Charge) error {
	return s.d.DB.InTx(ctx, func(tx *sql.Tx) error {
		cur, err := s.load(ctx, tx, r.UserID, r.ID, true)
		if err != nil {
			return err
		}
		if c.ID != "" {
			if _, err := tx.ExecContext(ctx, `UPDATE payment_methods SET psp_object_id = $1 WHERE id = $2 AND psp_object_id = ''`, clip(c.ID, 200), r.ID); err != nil {
				return okpay.Internal(err, "record provider id")
			}
		}
		_, err = s.transition(ctx, tx, cur, chargeStatus(cur, c.Status), declineCode(c.FailureCode), c.ActionURL)
		return err
	})
}

func declineCode(code string) string {
	if code == "" {
		return FailDeclined
	}
	return code
}

// failNow records a verification that could not start (the provider
// refused it or could not be reached).
func (s *Service) failNow(ctx context.Context, r *row, failure string) error {
	return s.d.DB.InTx(ctx, func(tx *sql.Tx) error {
		cur, err := s.load(ctx, tx, r.UserID, r.ID, true)
		if err != nil {
			return err
		}
		_, err = s.transition(ctx, tx, cur, StatusFailed, failure, "")
		return err
	})
}

// awaitCode moves a method to StatusAwaitingCode once the provider has
// sent the micro-deposits or the e-wallet code.
func (s *Service) awaitCode(ctx context.Context, r *row) error {
	return s.d.DB.InTx(ctx, func(tx *sql.Tx) error {
		cur, err := s.load(ctx, tx, r.UserID, r.ID, true)
		if err != nil {
			return err
		}
		_, err = s.transition(ctx, tx, cur, StatusAwaitingCode, "", "")
		return err
	})
}

// ApplyEvent applies a provider webhook event about a verification inside
// the caller's transaction (the webhook handler has checked its signature).
// It reports whether the event was this package's: false means the
// reference is not a verification of a payment method and the router
// should offer it elsewhere. An event applied before (same ID) or older
// than the last one applied to the method changes nothing, and a status
// only moves forward (CRD-09).
func (s *Service) ApplyEvent(ctx context.Context, tx *sql.Tx, ev psp.Event) (bool, error) {
	if !OwnsReference(ev.Reference) {
		return false, nil
	}
	if ev.ID == "" || len(ev.ID) > 200 {
		return true, okpay.Errorf(okpay.EInvalid, "The event has no valid id.")
	}
	r, err := s.loadByReference(ctx, tx, ev.Reference)
	if err != nil {
		return true, err
	}
	if r == nil {
		return false, nil
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO payment_method_events (event_id, reference, received_at) VALUES ($1, $2, $3) ON CONFLICT (event_id) DO NOTHING`,
		ev.ID, ev.Reference, micros(s.now()))
	if err != nil {
		return true, okpay.Internal(err, "record event")
	}
	if n, err := res.RowsAffected(); err != nil {
		return true, okpay.Internal(err, "record event")
	} else if n == 0 {
		return true, nil // a replay
	}
	at := micros(ev.Created)
	if at < r.eventAt {
		return true, nil // older than what was applied already
	}
	if _, err := tx.ExecContext(ctx, `UPDATE payment_methods SET event_at = $1, psp_object_id = CASE WHEN psp_object_id = '' THEN $2 ELSE psp_object_id END WHERE id = $3`,
		at, clip(ev.ObjectID, 200), r.ID); err != nil {
		return true, okpay.Internal(err, "record event time")
	}
	st := ev.Status
	switch ev.Type {
	case psp.EventChargeSucceeded:
		st = psp.StatusSucceeded
	case psp.EventChargeFailed, psp.EventMicroDepositsFailed:
		st = psp.StatusFailed
	case psp.EventMicroDepositsSent:
		st = psp.StatusSucceeded
	}
	var to Status
	switch r.VerifyKind {
	case VerifyAuthorization:
		to = chargeStatus(r, st)
	default:
		// The micro-deposits were sent (or the code shown): the customer
		// can confirm now.
		switch st {
		case psp.StatusFailed:
			to = StatusFailed
		case psp.StatusSucceeded:
			to = StatusAwaitingCode
		default:
			to = StatusPending
		}
	}
	_, err = s.transition(ctx, tx, r, to, declineCode(ev.FailureCode), "")
	return true, err
}

// confirm checks a code for the user's method whose verification is of
// kind vkind. check runs between two transactions (it may call the
// provider): the first uses up an attempt under the row lock, so
// concurrent tries never exceed the limit; the second records the result.
func (s *Service) confirm(ctx context.Context, userID, methodID int64, vkind string, check func(r *row) (bool, error)) (*Method, error) {
	var r *row
	err := s.d.DB.InTx(ctx, func(tx *sql.Tx) error {
		var err error
		r, err = s.load(ctx, tx, userID, methodID, true)
		if err != nil {
			return err
		}
		switch {
		case r.Deleted():
			return okpay.Errorf(EMethodDeleted, "This payment method was deleted.")
		case r.VerifyKind != vkind:
			return okpay.Errorf(ENoCodeExpected, "This payment method is not verified that way.")
		case r.Status == StatusVerified:
			return okpay.Errorf(ENoCodeExpected, "This payment method is already verified.")
		case r.Status == StatusDisabled:
			return okpay.Errorf(ETooManyAttempts, "Too many wrong attempts: this payment method is disabled. Delete it and add it again.")
		case r.Status == StatusFailed && r.FailureCode == FailExpired:
			return okpay.Errorf(EVerificationExpired, "The verification of this payment method expired. Delete it and add it again.")
		case r.Status != StatusAwaitingCode:
			return okpay.Errorf(ENoCodeExpected, "This payment method is not waiting for a code.")
		}
		if !r.VerifyExpiresAt.IsZero() && !s.now().Before(r.VerifyExpiresAt) {
			if _, err := s.transition(ctx, tx, r, StatusFailed, FailExpired, ""); err != nil {
				return err
			}
			return sqldb.CommitThen(okpay.Errorf(EVerificationExpired, "The verification of this payment method expired. Delete it and add it again."))
		}
		if r.attempts >= s.maxAttempts(r) {
			// The last attempts are being checked right now.
			return okpay.Errorf(ETooManyAttempts, "Too many wrong attempts: this payment method is disabled. Delete it and add it again.")
		}
		r.attempts++
		_, err = tx.ExecContext(ctx, `UPDATE payment_methods SET code_attempts = code_attempts + 1, updated_at = $1 WHERE id = $2`, micros(s.now()), r.ID)
		if err != nil {
			return okpay.Internal(err, "count attempt")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	ok, err := check(r)
	if err != nil {
		// The check did not happen (the provider was unreachable): the
		// attempt is given back.
		if rerr := s.d.DB.InTx(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `UPDATE payment_methods SET code_attempts = code_attempts - 1 WHERE id = $1 AND code_attempts > 0`, r.ID)
			return err
		}); rerr != nil {
			return nil, okpay.Internal(rerr, "give back an attempt")
		}
		return nil, err
	}
	left := s.maxAttempts(r) - r.attempts
	var out *Method
	err = s.d.DB.InTx(ctx, func(tx *sql.Tx) error {
		cur, err := s.load(ctx, tx, userID, methodID, true)
		if err != nil {
			return err
		}
		switch {
		case ok:
			if _, err := s.transition(ctx, tx, cur, StatusVerified, "", ""); err != nil {
				return err
			}
		case left <= 0:
			if _, err := s.transition(ctx, tx, cur, StatusDisabled, FailTooManyAttempts, ""); err != nil {
				return err
			}
		}
		out = s.public(cur)
		return nil
	})
	switch {
	case err != nil:
		return nil, err
	case ok:
		return out, nil
	case left <= 0:
		return nil, okpay.Errorf(ETooManyAttempts, "That was not right, and it was the last attempt: this payment method is disabled. Delete it and add it again.")
	}
	return nil, &okpay.Error{Code: EInvalidCode, Message: fmt.Sprintf("That is not right. Attempts left: %d.", left),
		Fields: map[string]string{"attempts_left": strconv.Itoa(left)}}
}

// ExpireStale fails the verifications that were not completed in time
// (micro-deposits after 10 days, statement codes after 75 days, e-wallet
// codes after 15 minutes, card authorisations left unfinished after a
// day), notifying each owner. It handles up to limit methods (1000 when
// limit <= 0) and returns how many; run it from a periodic job.
func (s *Service) ExpireStale(ctx context.Context, limit int) (int, error) {
	if limit <= 0 {
		limit = 1000
	}
	rows, err := s.d.DB.Read.QueryContext(ctx, `SELECT id, user_id FROM payment_methods
		WHERE status IN ('pending','requires_action','awaiting_code') AND verify_expires_at > 0 AND verify_expires_at <= $1
		ORDER BY verify_expires_at LIMIT $2`, micros(s.now()), limit)
	if err != nil {
		return 0, okpay.Internal(err, "find stale verifications")
	}
	type key struct{ id, user int64 }
	var due []key
	for rows.Next() {
		var k key
		if err := rows.Scan(&k.id, &k.user); err != nil {
			rows.Close()
			return 0, okpay.Internal(err, "find stale verifications")
		}
		due = append(due, k)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, okpay.Internal(err, "find stale verifications")
	}
	n := 0
	for _, k := range due {
		changed := false
		err := s.d.DB.InTx(ctx, func(tx *sql.Tx) error {
			r, err := s.load(ctx, tx, k.user, k.id, true)
			if err != nil {
				return err
			}
			if r.VerifyExpiresAt.IsZero() || s.now().Before(r.VerifyExpiresAt) {
				return nil
			}
			changed, err = s.transition(ctx, tx, r, StatusFailed, FailExpired, "")
			return err
		})
		if err != nil {
			return n, err
		}
		if changed {
			n++
		}
	}
	return n, nil
}

// randomDigits returns n random decimal digits.
func randomDigits(n int) string {
	b := make([]byte, n)
	for i := range b {
		v, err := rand.Int(rand.Reader, big.NewInt(10))
		if err != nil {
			panic("paymethod: crypto/rand: " + err.Error())
		}
		b[i] = byte('0' + v.Int64())
	}
	return string(b)
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
