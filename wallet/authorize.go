package wallet

import (
	"context"
	"database/sql"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/identity"
)

// authNoun names a kind of transaction waiting for its code: user in the
// customer's messages ("payment"), op in the internal ones ("transfer").
type authNoun struct {
	user, op string
}

var (
	nounPayment    = authNoun{user: "payment", op: "transfer"}
	nounWithdrawal = authNoun{user: "withdrawal", op: "withdrawal"}
)

// authorizeTxn checks the code of t (awaiting_auth), bound to a, and marks
// it authorized, committing a wrong attempt too: too many fail t.
func (s *Service) authorizeTxn(ctx context.Context, t *Txn, a identity.TxnAuth, code string, noun authNoun) error {
	now := s.now()
	if !now.Before(t.ExpiresAt) {
		s.expire(ctx, t.ID, now)
		return okpay.Errorf(EAuthExpired, "This %s was not confirmed in time. Start it again.", noun.user)
	}
	var codeErr error
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		codeErr = nil
		cerr := s.id.CheckTxnCode(ctx, tx, t.UserID, a, t.AuthMethod, code)
		if cerr == nil {
			n, err := affected(tx.ExecContext(ctx, `UPDATE wallet_txns SET status = 'authorized', updated_at = $1 WHERE id = $2 AND status = 'awaiting_auth'`, micros(now), t.ID))
			if err != nil {
				return okpay.Internal(err, "authorize "+noun.op)
			}
			if n != 1 {
				return okpay.Errorf(okpay.EConflict, "This %s changed meanwhile; look at it again.", noun.user)
			}
			return nil
		}
		if okpay.ErrorCode(cerr) != identity.EInvalidCode {
			return cerr
		}
		codeErr = cerr
		var attempts int
		if err := tx.QueryRowContext(ctx, `UPDATE wallet_txns SET auth_attempts = auth_attempts + 1, updated_at = $1 WHERE id = $2 RETURNING auth_attempts`,
			micros(now), t.ID).Scan(&attempts); err != nil {
			return okpay.Internal(err, "count attempt")
		}
		limit := maxTOTPAttempts
		if t.AuthMethod == identity.MethodSMS {
			limit = 5 * identity.TxnCodesPerTxn
		}
		if attempts >= limit {
			codeErr = okpay.Errorf(ETooManyAttempts, "Too many wrong codes: this %s was cancelled. Start it again.", noun.user)
			if _, err := tx.ExecContext(ctx, `UPDATE wallet_txns SET status = 'failed', failure_code = $1, failure_reason = $2, updated_at = $3 WHERE id = $4 AND status = 'awaiting_auth'`,
				ETooManyAttempts, okpay.ErrorMessage(codeErr), micros(now), t.ID); err != nil {
				return okpay.Internal(err, "cancel "+noun.op)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return codeErr
}

// resendTxnCode sends userID a new SMS code, bound to a, for t (awaiting
// one; the earlier code dies) and returns the masked number; one whose
// window passed is failed instead.
func (s *Service) resendTxnCode(ctx context.Context, userID int64, t *Txn, a identity.TxnAuth, m identity.Meta, noun authNoun) (string, error) {
	now := s.now()
	if !now.Before(t.ExpiresAt) {
		s.expire(ctx, t.ID, now)
		return "", okpay.Errorf(EAuthExpired, "This %s was not confirmed in time. Start it again.", noun.user)
	}
	var dest string
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		var err error
		if dest, err = s.id.SendTxnCode(ctx, tx, userID, a, m); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE wallet_txns SET codes_sent = codes_sent + 1, updated_at = $1 WHERE id = $2`, micros(now), t.ID)
		return err
	})
	if err != nil {
		return "", err
	}
	s.id.WakeNotices()
	return dest, nil
}
