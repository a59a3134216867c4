package fx

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/okpay/okpay"
)

// MaxHold bounds TakeHeld: a quote older than this cannot be taken however
// long its holder's window.
const MaxHold = time.Hour

// TakeHeld takes the user's quote like Take, for an operation that held
// the quote while it was still valid and now runs within a window of its
// own that ends at until: a remittance that waited for its confirmation
// code, whose rate was promised when the customer confirmed it. Until
// then (and for at most MaxHold after the quote was made) the quote can
// be taken past its ExpiresAt; after until this is exactly Take. The
// caller vouches that the quote was valid when the hold began (package
// wallet checks it when the remittance is recorded), and that only the
// holding operation uses TakeHeld: anything else taking the quote uses
// Take and is refused once it expired.
//
// Errors: as Take (EQuoteExpired once the hold is over too).
func (s *Service) TakeHeld(ctx context.Context, tx *sql.Tx, quoteID, userID int64, until time.Time) (*Quote, error) {
	now := s.now()
	if !until.After(now) {
		return s.Take(ctx, tx, quoteID, userID)
	}
	q, err := scanQuote(tx.QueryRowContext(ctx, `UPDATE fx_quotes SET taken_at = $1
		WHERE id = $2 AND user_id = $3 AND taken_at = 0 AND (expires_at > $1 OR created_at > $4) RETURNING `+quoteColumns,
		now.UnixMicro(), quoteID, userID, now.Add(-MaxHold).UnixMicro()))
	if err == nil {
		return q, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, okpay.Internal(err, "take the quote")
	}
	var owner, taken int64
	err = tx.QueryRowContext(ctx, `SELECT user_id, taken_at FROM fx_quotes WHERE id = $1`, quoteID).Scan(&owner, &taken)
	switch {
	case errors.Is(err, sql.ErrNoRows) || err == nil && owner != userID:
		return nil, quoteNotFound()
	case err != nil:
		return nil, okpay.Internal(err, "take the quote")
	case taken != 0:
		return nil, okpay.Errorf(EQuoteUsed, "This quote was used already. Ask for a new one.")
	}
	return nil, okpay.Errorf(EQuoteExpired, "This quote has expired. Ask for a new one to see the current rate.")
}
