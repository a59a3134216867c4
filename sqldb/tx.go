package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"math/rand/v2"
	"time"
)

// MaxTxAttempts bounds how often InTx runs a transaction that keeps
// failing with a retryable conflict.
const MaxTxAttempts = 5

// InTx runs fn in a write transaction and commits it. A retryable conflict
// (see IsRetryable) rolls back and runs fn again, up to MaxTxAttempts times
// with a short jittered pause, so fn must not have effects outside tx. Any
// other error from fn, or a panic, rolls back and is returned as is, except
// an error made by CommitThen: the transaction commits, then InTx returns
// the error it wraps.
func (db *DB) InTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	var after error
	run := func(tx *sql.Tx) error {
		after = nil
		err := fn(tx)
		var ce *committedErr
		if errors.As(err, &ce) {
			after = ce.err
			return nil
		}
		return err
	}
	var err error
	for attempt := 1; ; attempt++ {
		err = db.tryTx(ctx, run)
		if err == nil {
			return after
		}
		if !IsRetryable(err) || attempt == MaxTxAttempts {
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

// CommitThen makes InTx commit what fn did and then return err: a refusal
// that must leave a trace (a wrong code still uses its attempt, a failed
// login still counts toward the lock-out, a refusal is audited).
func CommitThen(err error) error { return &committedErr{err: err} }

type committedErr struct{ err error }

func (e *committedErr) Error() string { return e.err.Error() }

func (e *committedErr) Unwrap() error { return e.err }

// ForUpdate is the row-lock suffix of a SELECT inside a write transaction:
// " FOR UPDATE" on PostgreSQL; nothing on SQLite, whose write transactions
// are exclusive already (BEGIN IMMEDIATE).
func (db *DB) ForUpdate() string {
	if db.Dialect == Postgres {
		return " FOR UPDATE"
	}
	return ""
}
