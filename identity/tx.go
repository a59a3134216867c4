package identity

import (
	"context"
	"database/sql"
	"errors"
)

// committedErr marks an error that must be returned only after the
// transaction commits: a wrong code still counts its attempt, a failed
// login still counts toward the lockout.
type committedErr struct{ err error }

func (e *committedErr) Error() string { return e.err.Error() }

// commitThen makes inTx commit the work done so far and then return err.
func commitThen(err error) error { return &committedErr{err: err} }

// inTx runs fn in a write transaction (retried on transient conflicts) and
// wakes the notification dispatcher after a commit.
func (s *Service) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	var after error
	err := s.DB.InTx(ctx, func(tx *sql.Tx) error {
		after = nil
		err := fn(tx)
		var ce *committedErr
		if errors.As(err, &ce) {
			after = ce.err
			return nil
		}
		return err
	})
	if err != nil {
		return err
	}
	s.Outbox.Wake()
	return after
}
