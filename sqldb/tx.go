package sqldb

import (
	"context"
	"database/sql"
	"math/rand/v2"
	"time"
)

// MaxTxAttempts bounds how often InTx runs a transaction that keeps
// failing with a retryable conflict.
const MaxTxAttempts = 5

// InTx runs fn in a write transaction and commits it. A retryable conflict
// (see IsRetryable) rolls back and runs fn again, up to MaxTxAttempts times
// with a short jittered pause, so fn must not have effects outside tx. Any
// other error from fn, or a panic, rolls back and is returned as is.
func (db *DB) InTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	var err error
	for attempt := 1; ; attempt++ {
		err = db.tryTx(ctx, fn)
		if err == nil || !IsRetryable(err) || attempt == MaxTxAttempts {
			return err
		}
		pause := time.Duration(attempt) * time.Duration(1+rand.IntN(5)) * time.Millisecond
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pause):
		}
	}
}

func (db *DB) tryTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := db.Write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	committed := false
	defer func() {
		if !committed {
			tx.Rollback()
		}
	}()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	committed = true
	return nil
}
