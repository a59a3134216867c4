package notify

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/sqldb"
)

// InApp is a notification shown to the logged-in user. It never holds a
// one-time code.
type InApp struct {
	ID        int64
	Kind      string
	Title     string
	Body      string
	CreatedAt time.Time
	// ReadAt is when the user marked it read (zero: unread).
	ReadAt time.Time
}

// Unread reports whether the user has not read n yet.
func (n InApp) Unread() bool { return n.ReadAt.IsZero() }

// InAppSender delivers the "inapp" channel: it stores the message in
// inapp_notifications (title = Subject, body = Body). A redelivery of the
// same dedupe key adds no second row.
type InAppSender struct{ o *Outbox }

// InAppSender returns the sender of the "inapp" channel, writing to the
// outbox's database.
func (o *Outbox) InAppSender() *InAppSender { return &InAppSender{o: o} }

// Send stores m for its user.
func (s *InAppSender) Send(ctx context.Context, m Message) error {
	if m.UserID == 0 {
		return errNoUser
	}
	return s.o.db.InTx(ctx, func(tx *sql.Tx) error { return s.SendTx(ctx, tx, m) })
}

var errNoUser = Permanent(fmt.Errorf("notify: in-app message without a user"))

// SendTx stores m for its user inside tx: the dispatcher runs it in the
// transaction that marks the message sent (TxSender), so the
// notification and its outcome commit together. A message without a user
// fails before touching tx.
func (s *InAppSender) SendTx(ctx context.Context, tx *sql.Tx, m Message) error {
	if m.UserID == 0 {
		return errNoUser
	}
	o := s.o
	_, err := tx.ExecContext(ctx, qInsertInApp, o.ids.Next(), m.DedupeKey, m.UserID, m.Kind, m.Subject, m.Body, o.clock.Now().UnixMicro())
	return err
}

// inappInto names the columns of an in-app row; a known dedupe key is
// skipped (inappConflict).
const (
	inappInto     = `inapp_notifications (id, dedupe_key, user_id, kind, title, body, created_at)`
	inappConflict = `ON CONFLICT (dedupe_key) DO NOTHING`
	qInsertInApp  = `INSERT INTO ` + inappInto + ` VALUES ($1, $2, $3, $4, $5, $6, $7) ` + inappConflict
)

// Direct is an in-app message ready to be written in the transaction of
// its event. Nothing needs sending for the in-app channel, so an event's
// own in-app notices skip the outbox: they show from the commit on, not
// after the dispatcher's turn, and cost one row instead of an outbox row,
// its update when sent and then the same row.
type Direct struct {
	id        int64
	dedupeKey string
	userID    int64
	kind      string
	title     string
	body      string
	at        int64 // unix µs
}

// PrepareInApp checks in-app messages and gives each its id and time,
// without touching the database (the work before the event's
// transaction, as Seal is for the outbox).
func (o *Outbox) PrepareInApp(msgs ...Message) ([]Direct, error) {
	now := o.clock.Now().UnixMicro()
	out := make([]Direct, len(msgs))
	for i := range msgs {
		m := &msgs[i]
		if m.Channel != ChannelInApp {
			return nil, okpay.Errorf(okpay.EInvalid, "notify: message %q: PrepareInApp takes in-app messages only, not %q", m.DedupeKey, m.Channel)
		}
		if err := validate(m); err != nil {
			return nil, err
		}
		out[i] = Direct{id: o.ids.Next(), dedupeKey: m.DedupeKey, userID: m.UserID, kind: m.Kind, title: m.Subject, body: m.Body, at: now}
	}
	return out, nil
}

// args are the values of d's row, in inappInto's order.
func (d *Direct) args() []any {
	return []any{d.id, d.dedupeKey, d.userID, d.kind, d.title, d.body, d.at}
}

// WriteInApp inserts prepared in-app messages inside tx, the event's
// transaction (a known dedupe key is skipped).
func (o *Outbox) WriteInApp(ctx context.Context, tx *sql.Tx, ds ...Direct) error {
	for i := range ds {
		if _, err := tx.ExecContext(ctx, qInsertInApp, ds[i].args()...); err != nil {
			return fmt.Errorf("notify: in-app: %w", err)
		}
	}
	return nil
}

// StageInApp hands prepared in-app messages to ins, to be inserted in the
// event's transaction with the rest of its rows (a ledger hook's deferred
// inserts): the same rows as WriteInApp's.
func (o *Outbox) StageInApp(ins Inserter, ds ...Direct) {
	for i := range ds {
		ins.Insert(inappInto, inappConflict, ds[i].args()...)
	}
}

// Default and largest page of ListInApp.
const (
	DefaultInAppLimit = 50
	MaxInAppLimit     = 200
)

// ListInApp returns userID's in-app notifications, newest first; limit
// defaults to DefaultInAppLimit and is capped at MaxInAppLimit.
func (o *Outbox) ListInApp(ctx context.Context, userID int64, limit int) ([]InApp, error) {
	if limit <= 0 {
		limit = DefaultInAppLimit
	}
	limit = min(limit, MaxInAppLimit)
	q := qListInApp
	if o.db.Dialect == sqldb.SQLite {
		q = qListInAppSQLite
	}
	rows, err := o.db.Read.QueryContext(ctx, q, userID, limit)
	if err != nil {
		return nil, fmt.Errorf("notify: list in-app: %w", err)
	}
	defer rows.Close()
	var out []InApp
	for rows.Next() {
		var n InApp
		var created int64
		var read sql.NullInt64
		if err := rows.Scan(&n.ID, &n.Kind, &n.Title, &n.Body, &created, &read); err != nil {
			return nil, fmt.Errorf("notify: list in-app: %w", err)
		}
		n.CreatedAt = time.UnixMicro(created).UTC()
		if read.Valid {
			n.ReadAt = time.UnixMicro(read.Int64).UTC()
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("notify: list in-app: %w", err)
	}
	return out, nil
}

// UnreadCount returns how many of userID's in-app notifications are unread.
func (o *Outbox) UnreadCount(ctx context.Context, userID int64) (int64, error) {
	q := qUnreadInApp
	if o.db.Dialect == sqldb.SQLite {
		q = qUnreadInAppSQLite
	}
	var n int64
	if err := o.db.Read.QueryRowContext(ctx, q, userID).Scan(&n); err != nil {
		return 0, fmt.Errorf("notify: count unread: %w", err)
	}
	return n, nil
}

// A customer's notices. PostgreSQL finds them by its index on (user_id,
// id); SQLite by inapp_by_user and the queue of notices not yet moved
// there (sqldb.MoveQueued, migration 39), read in one statement.
const (
	inappCols  = `id, kind, title, body, created_at, read_at`
	qListInApp = `SELECT ` + inappCols + ` FROM inapp_notifications WHERE user_id = $1 ORDER BY id DESC LIMIT $2`
	// The newest limit indexed ids, the queued ones, then those rows.
	qListInAppSQLite = `SELECT ` + inappCols + ` FROM inapp_notifications WHERE id IN (
		SELECT id FROM (SELECT id FROM inapp_by_user WHERE user_id = $1 ORDER BY id DESC LIMIT $2)
		UNION ALL SELECT id FROM inapp_unindexed WHERE user_id = $1)
		ORDER BY id DESC LIMIT $2`
	qUnreadInApp       = `SELECT COUNT(*) FROM inapp_notifications WHERE user_id = $1 AND read_at IS NULL`
	qUnreadInAppSQLite = `SELECT COUNT(*) FROM inapp_notifications WHERE read_at IS NULL AND id IN (
		SELECT id FROM inapp_by_user WHERE user_id = $1
		UNION ALL SELECT id FROM inapp_unindexed WHERE user_id = $1)`
)

// IndexInApp moves the notices queued since the last run into the
// per-user table, sorted (SQLite; a no-op on PostgreSQL), and returns how
// many it moved. okpay serve runs it every second; until it runs, the
// queue answers for them.
func (o *Outbox) IndexInApp(ctx context.Context) (int64, error) {
	n, err := o.db.MoveQueued(ctx, "inapp_unindexed", "inapp_by_user")
	if err != nil {
		return 0, fmt.Errorf("notify: index in-app notices: %w", err)
	}
	return n, nil
}

// MarkRead marks userID's notification id read. Marking it again keeps the
// first time. A notification of another user is reported as not found,
// exactly like one that does not exist.
func (o *Outbox) MarkRead(ctx context.Context, userID, id int64) error {
	now := o.clock.Now().UnixMicro()
	var n int64
	err := o.db.InTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE inapp_notifications SET read_at = COALESCE(read_at, $3) WHERE id = $1 AND user_id = $2`, id, userID, now)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return fmt.Errorf("notify: mark read: %w", err)
	}
	if n == 0 {
		return okpay.Errorf(okpay.ENotFound, "notification not found")
	}
	return nil
}
