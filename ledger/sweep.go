package ledger

import (
	"context"
	"database/sql"
	"strconv"
	"time"
)

func (l *Ledger) sweeper(ctx context.Context, every time.Duration) {
	defer l.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	lastPrune := time.Time{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := l.SweepExpired(ctx); err != nil && ctx.Err() == nil {
				l.log.Warn("ledger: sweeping expired holds failed", "err", err)
			}
			if now := l.clock.Now(); now.Sub(lastPrune) >= time.Hour || now.Before(lastPrune) {
				lastPrune = now
				if _, err := l.PruneIdempotency(ctx, l.retention); err != nil && ctx.Err() == nil {
					l.log.Warn("ledger: pruning idempotency keys failed", "err", err)
				}
			}
		}
	}
}

// SweepExpired voids pending entries whose timeout has passed, oldest
// first, and returns how many it voided. Each void has the reference
// "expire:<pending id>", so sweepers on several nodes never void twice.
func (l *Ledger) SweepExpired(ctx context.Context) (int, error) {
	n := 0
	for {
		now := l.clock.Now().UnixMicro()
		rows, err := l.db.Read.QueryContext(ctx, `
			SELECT e.id FROM journal_entries e
			WHERE e.phase = 'pending' AND e.expires_at IS NOT NULL AND e.expires_at <= $1
			  AND NOT EXISTS (SELECT 1 FROM journal_entries r WHERE r.pending_id = e.id)
			ORDER BY e.expires_at, e.id LIMIT 256`, now)
		if err != nil {
			return n, err
		}
		var due []int64
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return n, err
			}
			due = append(due, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return n, err
		}
		if len(due) == 0 {
			return n, nil
		}
		// Submit every void at once so they share commits, then collect.
		errs := make(chan error, len(due))
		for _, id := range due {
			r := &request{expireID: id, expireRef: "expire:" + strconv.FormatInt(id, 10), done: make(chan struct{})}
			// The content hash of a sweep is the pending id: a second
			// sweeper's request is a retry, not a conflict.
			copy(r.hash[:], r.expireRef)
			go func() {
				_, err := l.submitRequest(ctx, r)
				errs <- err
			}()
		}
		var firstErr error
		for range due {
			err := <-errs
			switch {
			case err == nil:
				n++
				l.metrics.expired.Inc()
			case isCode(err, EPendingAlreadyResolved):
				// posted or voided just before the sweep
			case firstErr == nil:
				firstErr = err
			}
		}
		if firstErr != nil {
			return n, firstErr
		}
		if len(due) < 256 {
			return n, nil
		}
	}
}

// PruneIdempotency deletes stored idempotency responses older than the
// retention period (at least 24 hours) and returns how many it deleted.
func (l *Ledger) PruneIdempotency(ctx context.Context, retention time.Duration) (int64, error) {
	if retention < 24*time.Hour {
		retention = 24 * time.Hour
	}
	cutoff := l.clock.Now().Add(-retention).UnixMicro()
	var n int64
	err := l.withWriteTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE created_at < $1`, cutoff)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}
