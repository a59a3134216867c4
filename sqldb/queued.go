package sqldb

import (
	"context"
	"database/sql"
	"fmt"
)

// Per-user lists without a b-tree insert at a random place per row (SQLite).
//
// An index on (user_id, id) puts each new row on its user's leaf: rows
// written together for many users (a ledger batch of transfers) dirty a
// leaf each, and every dirtied page is a page in the WAL for the one
// writer, then one for the checkpointer. Instead a trigger appends each new
// row's (id, user_id) to a queue table, and MoveQueued moves the queue into
// a WITHOUT ROWID table keyed (user_id, id), sorted, in one transaction
// now and then: a user's leaf is written once per move, not once per
// batch. A user's rows are then the table's and the queue's ids, which a
// reader reads in one statement (one snapshot): a row moved meanwhile is
// in exactly one of them. The queue has no index by user and is scanned;
// it holds what arrived since the last move. (Migrations 39 and 40 on
// SQLite; PostgreSQL keeps plain indexes.)

// MoveQueued moves the rows of queue (columns id, user_id) into table
// (columns user_id, id), sorted by user, and empties queue, in one
// transaction; it returns how many it moved (0 on PostgreSQL, which has
// no queues). It writes nothing when the queue is empty.
func (db *DB) MoveQueued(ctx context.Context, queue, table string) (int64, error) {
	if db.Dialect != SQLite {
		return 0, nil
	}
	var queued bool
	if err := db.Read.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM `+queue+`)`).Scan(&queued); err != nil {
		return 0, fmt.Errorf("sqldb: move %s: %w", queue, err)
	}
	if !queued {
		return 0, nil
	}
	var n int64
	err := db.InTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO `+table+` (user_id, id) SELECT user_id, id FROM `+queue+` ORDER BY user_id, id`)
		if err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil {
			return err
		}
		// The whole queue: the transaction holds SQLite's write lock, so
		// nothing was queued since the copy.
		_, err = tx.ExecContext(ctx, `DELETE FROM `+queue)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("sqldb: move %s: %w", queue, err)
	}
	return n, nil
}
