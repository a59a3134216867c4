package identity

import (
	"context"
	"database/sql"
)

// inTx runs fn in a write transaction (retried on transient conflicts;
// an error made by sqldb.CommitThen is returned after the commit) and
// wakes the notification dispatcher: a wasted look when nothing was
// committed, none missed when something was.
func (s *Service) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	err := s.DB.InTx(ctx, fn)
	s.Outbox.Wake()
	return err
}
