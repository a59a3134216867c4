package assistant

import (
	"context"
	"database/sql"
	"log/slog"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/ids"
)

// Purge deletes the turns older than TurnRetention, a batch at a time,
// and returns how many it deleted. Those handed over live on in their
// desk conversation.
func (s *Service) Purge(ctx context.Context) (int64, error) {
	before := s.clock.Now().Add(-TurnRetention).UTC().UnixMicro()
	var total int64
	for {
		res, err := s.db.Write.ExecContext(ctx, `DELETE FROM assistant_turns WHERE id IN
			(SELECT id FROM assistant_turns WHERE created_at < $1 ORDER BY created_at LIMIT $2)`, before, purgeBatch)
		if err != nil {
			return total, okpay.Internal(err, "purge assistant turns")
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, okpay.Internal(err, "purge assistant turns")
		}
		total += n
		if n < purgeBatch {
			return total, nil
		}
		if err := ctx.Err(); err != nil {
			return total, err
		}
	}
}

// PurgeInterval is how often RunPurge purges.
const PurgeInterval = time.Hour

// RunPurge purges at once and then every PurgeInterval until ctx ends,
// logging failures and what it deleted.
func (s *Service) RunPurge(ctx context.Context, log *slog.Logger) {
	t := time.NewTicker(PurgeInterval)
	defer t.Stop()
	for {
		if n, err := s.Purge(ctx); err != nil && ctx.Err() == nil {
			log.Warn("assistant: purge turns", "err", err)
		} else if n > 0 {
			log.Info("assistant: purged turns past their retention", "deleted", n, "retention", TurnRetention.String())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// VisitorOwner is the owner key of the turns of visitor visitorID (the
// desk's visitor id, as the chat routes name the caller).
func VisitorOwner(visitorID string) string { return "vis_" + visitorID }

// CustomerOwner is the owner key of customer userID's turns.
func CustomerOwner(userID int64) string { return ids.Format(identity.UserPrefix, userID) }

// ClaimVisitor carries the turns of visitor visitorID over to customer
// userID, who just signed in in the same browser (like
// desk.ClaimVisitorConversations): the exchange goes on, and a later
// handover copies it whole. The turns keep the answers they had: what was
// said to the visitor never held the customer's data, and nothing is
// answered again. They are marked as asked before signing in, and the
// visitor key no longer reads them. It returns how many turns moved;
// running it again moves nothing.
func (s *Service) ClaimVisitor(ctx context.Context, visitorID string, userID int64) (int64, error) {
	if visitorID == "" || len(visitorID) > 120 {
		return 0, okpay.Invalid(map[string]string{"visitor_id": "The visitor id is not valid."})
	}
	if userID <= 0 {
		return 0, okpay.Invalid(map[string]string{"user_id": "Say which customer signed in."})
	}
	var n int64
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE assistant_turns SET owner = $1, from_visitor = 1 WHERE owner = $2`,
			CustomerOwner(userID), VisitorOwner(visitorID))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, okpay.Internal(err, "claim visitor turns")
	}
	return n, nil
}
