package notify

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/okpay/okpay/sqldb"
)

// Bundles. A P2P transfer notifies by email and SMS to the payer and by
// email to the payee: three outbox rows, each with four index entries
// (its dedupe key, the claim scan, the per-user order, the primary key),
// written by the ledger's single SQLite writer inside the transfer's
// commit, then updated twice by the dispatcher (claimed, sent), moving in
// two of those indexes each time. StageBundle stages an event's messages
// as one row of notification_bundles instead, appended in id order (one
// index). A dispatcher leases bundles beside its claim of outbox rows,
// sends their messages with the claimed ones, and in the same transaction
// that records the round writes each message to the outbox once, in its
// final state (sent; waiting for a retry; failed), and deletes the bundle:
// a sent message costs one insert that never enters the per-user index.
// A message that must wait (behind an older unsent message of its user and
// channel, or for a sender this dispatcher lacks) is written as sealed,
// and claimed in its turn; one whose dedupe key the outbox already holds
// is dropped, as Write skips it. Bundled messages are pending from their
// commit and counted by Stats and Pending; delivery is at least once, as
// for outbox rows. A user's order holds among bundled messages and
// outbox rows both ways: one dispatcher at a time leases bundles (the
// notification_bundle_lease row, released when its round is recorded), a
// bundled message waits behind an older unsent outbox message of its
// lane, and an outbox message waits while a bundle older than it is
// unsent (the claim cannot look into bundles, so it holds back every
// user's ordered messages newer than the oldest bundle: they leave as fast
// as the bundles before them). Measured in README, "P2P transfers through
// the wallet".

// bundleInto names the columns of a bundle row.
const bundleInto = `notification_bundles (id, messages, data, created_at)`

// bundleVersion starts an encoded bundle.
const bundleVersion = 1

// StageBundle hands sealed messages to ins as one bundle row, to be
// inserted in the event's transaction with the rest of its rows (a ledger
// hook's deferred inserts). A dispatcher sends them and writes them to the
// outbox as it does (see above); call Wake after the commit.
func (o *Outbox) StageBundle(ins Inserter, ms ...Sealed) {
	if len(ms) == 0 {
		return
	}
	ins.Insert(bundleInto, "", ms[0].id, len(ms), encodeBundle(ms), ms[0].at)
}

// encodeBundle writes ms as a version byte then, per message, its fields:
// integers as varints, strings and the sealed content length-prefixed.
func encodeBundle(ms []Sealed) []byte {
	n := 1
	for i := range ms {
		m := &ms[i]
		n += 3*binary.MaxVarintLen64 + 5*binary.MaxVarintLen32 + len(m.dedupeKey) + len(m.channel) + len(m.kind) + len(m.sealed) + len(m.status) + len(m.lastErr)
	}
	b := make([]byte, 0, n)
	b = append(b, bundleVersion)
	for i := range ms {
		m := &ms[i]
		b = binary.AppendVarint(b, m.id)
		b = binary.AppendVarint(b, m.userID)
		b = binary.AppendVarint(b, m.at)
		for _, s := range []string{m.dedupeKey, m.channel, m.kind, m.status, m.lastErr} {
			b = binary.AppendUvarint(b, uint64(len(s)))
			b = append(b, s...)
		}
		b = binary.AppendUvarint(b, uint64(len(m.sealed)))
		b = append(b, m.sealed...)
	}
	return b
}

var errBadBundle = errors.New("notify: malformed bundle")

// decodeBundle reads what encodeBundle wrote.
func decodeBundle(b []byte) ([]Sealed, error) {
	if len(b) == 0 || b[0] != bundleVersion {
		return nil, errBadBundle
	}
	b = b[1:]
	varint := func() (int64, bool) {
		v, n := binary.Varint(b)
		if n <= 0 {
			return 0, false
		}
		b = b[n:]
		return v, true
	}
	bytes := func() ([]byte, bool) {
		l, n := binary.Uvarint(b)
		if n <= 0 || l > uint64(len(b)-n) {
			return nil, false
		}
		v := b[n : n+int(l) : n+int(l)]
		b = b[n+int(l):]
		return v, true
	}
	var out []Sealed
	for len(b) > 0 {
		var m Sealed
		var ok1, ok2, ok3 bool
		m.id, ok1 = varint()
		m.userID, ok2 = varint()
		m.at, ok3 = varint()
		if !ok1 || !ok2 || !ok3 {
			return nil, errBadBundle
		}
		for _, s := range []*string{&m.dedupeKey, &m.channel, &m.kind, &m.status, &m.lastErr} {
			v, ok := bytes()
			if !ok {
				return nil, errBadBundle
			}
			*s = string(v)
		}
		v, ok := bytes()
		if !ok {
			return nil, errBadBundle
		}
		m.sealed = append([]byte(nil), v...)
		out = append(out, m)
	}
	if len(out) == 0 {
		return nil, errBadBundle
	}
	return out, nil
}

// bundle is a leased bundle: its id, the lease, and its messages.
type bundle struct {
	id    int64
	until int64
	msgs  []Sealed
}

// bundlesWaiting says whether a bundle waits that no dispatcher holds: a
// read, so a claim opens no write for bundles when there are none.
func (d *Dispatcher) bundlesWaiting(ctx context.Context, now int64) (bool, error) {
	var found int
	err := d.outbox.db.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM notification_bundles WHERE locked_until <= $1 LIMIT 1) b`, now).Scan(&found)
	return found > 0, err
}

// leaseBundles leases, inside tx (the claim's transaction), up to limit
// bundles, oldest first, until until, when no other dispatcher holds the
// bundle lease (then none: on PostgreSQL the lease row's lock makes a
// concurrent claim wait for this one and then see the lease held). A
// bundle that cannot be read is leased too, marked unreadable (so it is not
// read again before its lease ends), and returned in bad, to be reported;
// it stays in place.
func (d *Dispatcher) leaseBundles(ctx context.Context, tx *sql.Tx, now, until int64, limit int) (out []bundle, bad []error, err error) {
	// One dispatcher at a time: two sending bundles at once could send a
	// user's messages out of order. The row is released when the round is
	// recorded (recordBundles), or when its lease ends.
	res, err := tx.ExecContext(ctx, `UPDATE notification_bundle_lease SET locked_until = $1, locked_by = $2 WHERE id = 1 AND locked_until <= $3`, until, d.lockedBy, now)
	if err != nil {
		return nil, nil, err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return nil, nil, err // another dispatcher sends bundles
	}
	q := fmt.Sprintf(`SELECT id, data FROM notification_bundles WHERE locked_until <= $1 ORDER BY id LIMIT %d`, limit)
	if d.outbox.db.Dialect == sqldb.Postgres {
		q += ` FOR UPDATE SKIP LOCKED`
	}
	rows, err := tx.QueryContext(ctx, q, now)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	var ids, badIDs []any
	for rows.Next() {
		var id int64
		var data []byte
		if err := rows.Scan(&id, &data); err != nil {
			return nil, nil, err
		}
		ms, err := decodeBundle(data)
		if err != nil {
			bad = append(bad, fmt.Errorf("bundle %d: %w", id, err))
			badIDs = append(badIDs, id)
			continue
		}
		ids = append(ids, id)
		out = append(out, bundle{id: id, until: until, msgs: ms})
	}
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	rows.Close()
	for _, l := range []struct {
		by  string
		ids []any
	}{{d.lockedBy, ids}, {unreadable, badIDs}} {
		if len(l.ids) == 0 {
			continue
		}
		upd := []byte(`UPDATE notification_bundles SET locked_until = $1, locked_by = $2 WHERE id IN (`)
		upd = sqldb.ListPlaceholders(d.outbox.db.Dialect, upd, 3, len(l.ids))
		upd = append(upd, ')')
		if _, err := tx.ExecContext(ctx, string(upd), append([]any{until, l.by}, l.ids...)...); err != nil {
			return nil, nil, err
		}
	}
	if len(ids) == 0 {
		// Nothing to send: the next claim may take bundles at once.
		if _, err := tx.ExecContext(ctx, qReleaseBundles, d.lockedBy, until); err != nil {
			return nil, nil, err
		}
	}
	return out, bad, nil
}

// unreadable marks the lease of a bundle this build cannot decode (one
// written by a newer version, say): another node may read it when the
// lease ends, and meanwhile it holds back no outbox message (firstBundle).
const unreadable = "(unreadable)"

// qReleaseBundles gives up the notification_bundle_lease row this
// dispatcher took for the round ($1, $2: its name and lease end).
const qReleaseBundles = `UPDATE notification_bundle_lease SET locked_until = 0 WHERE id = 1 AND locked_by = $1 AND locked_until = $2`

// firstBundle returns, inside tx (the claim's), the id of the oldest
// bundle that may still be sent, or the largest id when there is none: an
// ordered outbox message newer than it waits (claimSQL).
func firstBundle(ctx context.Context, tx *sql.Tx) (int64, error) {
	var id int64
	err := tx.QueryRowContext(ctx, `SELECT id FROM notification_bundles WHERE locked_by <> $1 ORDER BY id LIMIT 1`, unreadable).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return math.MaxInt64, nil
	}
	return id, err
}

// bundleOutcomes turns leased bundles into outcomes for the round: each
// message is sent now unless it must wait — failed when sealed (no
// destination), of a channel this dispatcher has no sender for or whose
// sender writes in the transaction (TxSender), or behind an older unsent
// message of its user and channel (in the outbox, or earlier in this
// round): those are written to the outbox as they were sealed, to be
// claimed in their turn.
func (d *Dispatcher) bundleOutcomes(ctx context.Context, bs []bundle) ([]outcome, error) {
	type lane struct {
		user    int64
		channel string
	}
	var users []any
	seenUser := map[int64]bool{}
	for _, b := range bs {
		for _, m := range b.msgs {
			if m.userID != 0 && !seenUser[m.userID] {
				seenUser[m.userID] = true
				users = append(users, m.userID)
			}
		}
	}
	// A dedupe key already in the outbox was sent (or is queued) already:
	// its message is dropped, as Write skips it.
	var keys []any
	for _, b := range bs {
		for _, m := range b.msgs {
			keys = append(keys, m.dedupeKey)
		}
	}
	known := map[string]bool{}
	err := scanIn(ctx, d.outbox.db, `SELECT dedupe_key FROM notification_outbox WHERE dedupe_key IN (`, ")", keys, func(rows *sql.Rows) error {
		var k string
		err := rows.Scan(&k)
		known[k] = true
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("notify: look up known messages: %w", err)
	}
	// The oldest unsent message of each lane in the outbox: a bundled
	// message newer than it waits for it.
	oldest := map[lane]int64{}
	err = scanIn(ctx, d.outbox.db, `SELECT user_id, channel, MIN(id) FROM notification_outbox WHERE status = 'pending' AND substr(kind, 1, 5) <> 'code_' AND user_id IN (`, ") GROUP BY user_id, channel", users, func(rows *sql.Rows) error {
		var l lane
		var id int64
		err := rows.Scan(&l.user, &l.channel, &id)
		oldest[l] = id
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("notify: look up unsent messages: %w", err)
	}
	taken := map[lane]bool{} // lanes with a message sent this round
	var outs []outcome
	for bi := range bs {
		b := &bs[bi]
		for _, m := range b.msgs {
			if known[m.dedupeKey] {
				continue
			}
			known[m.dedupeKey] = true
			o := outcome{c: claimed{id: m.id, dedupeKey: m.dedupeKey, userID: m.userID, channel: m.channel, kind: m.kind, sealed: m.sealed, until: b.until},
				bundle: b, staged: m}
			s, ok := d.senders[m.channel]
			_, inTx := s.(TxSender)
			ordered := m.userID != 0 && !strings.HasPrefix(m.kind, UrgentKindPrefix)
			l := lane{m.userID, m.channel}
			first, behind := oldest[l]
			switch {
			case m.status != StatusPending || !ok || inTx || (ordered && (taken[l] || behind && first < m.id)):
				o.wait = true
			default:
				if ordered {
					taken[l] = true // the lane's next message waits for this one
				}
			}
			outs = append(outs, o)
		}
	}
	return outs, nil
}

// outboxFinal names the columns of an outbox row written with its first
// outcome (a bundled message).
const outboxFinal = `INSERT INTO notification_outbox (id, dedupe_key, user_id, channel, kind, sealed, status, attempts, next_attempt_at, locked_by, last_error, created_at, sent_at) VALUES `

// recordBundles writes, inside the round's transaction, the outbox rows of
// the bundled outcomes — sent, waiting for a retry or failed, or as sealed
// when they were not sent — and deletes their bundles while this
// dispatcher's lease holds. A bundle with a message whose outcome is
// unknown (shutting down) is left alone: its lease runs out and it is sent
// again (at least once, as outbox messages are), and so is the bundle lease
// (notification_bundle_lease), given up when every bundle is done. It
// returns how many were sent.
func (d *Dispatcher) recordBundles(ctx context.Context, tx *sql.Tx, outs []outcome, bundles []bundle, now time.Time) (int, error) {
	skip := map[*bundle]bool{}
	for i := range outs {
		if outs[i].bundle != nil && outs[i].keep {
			skip[outs[i].bundle] = true
		}
	}
	var done []any
	for i := range bundles {
		if !skip[&bundles[i]] {
			done = append(done, bundles[i].id)
		}
	}
	var q []byte
	var args []any
	sent := 0
	for i := range outs {
		out := &outs[i]
		b := out.bundle
		if b == nil || skip[b] {
			continue
		}
		m := &out.staged
		status, attempts, next, lastErr, sentAt := m.status, 0, m.at, m.lastErr, any(nil)
		switch {
		case out.wait:
		case out.err == nil:
			status, attempts, sentAt = StatusSent, 1, now.UnixMicro()
			sent++
		default:
			status, next, lastErr = d.failed(out.c, out.m, out.err, now)
			attempts = 1
		}
		if len(args) > 0 {
			q = append(q, ", "...)
		}
		q = append(q, '(')
		q = sqldb.ListPlaceholders(d.outbox.db.Dialect, q, len(args)+1, 13)
		q = append(q, ')')
		args = append(args, m.id, m.dedupeKey, m.userID, m.channel, m.kind, m.sealed, status, attempts, next, "", lastErr, m.at, sentAt)
		if len(args) >= 13*400 {
			if _, err := tx.ExecContext(ctx, outboxFinal+string(q)+" "+outboxConflict, args...); err != nil {
				return 0, err
			}
			q, args = q[:0], args[:0]
		}
	}
	if len(args) > 0 {
		if _, err := tx.ExecContext(ctx, outboxFinal+string(q)+" "+outboxConflict, args...); err != nil {
			return 0, err
		}
	}
	if len(done) > 0 {
		del := []byte(`DELETE FROM notification_bundles WHERE locked_by = $1 AND id IN (`)
		del = sqldb.ListPlaceholders(d.outbox.db.Dialect, del, 2, len(done))
		del = append(del, ')')
		if _, err := tx.ExecContext(ctx, string(del), append([]any{d.lockedBy}, done...)...); err != nil {
			return 0, err
		}
	}
	if len(bundles) > 0 && len(skip) == 0 {
		// Every bundle of the round is done: the next claim, this
		// dispatcher's or another's, may take the next ones at once.
		if _, err := tx.ExecContext(ctx, qReleaseBundles, d.lockedBy, bundles[0].until); err != nil {
			return 0, err
		}
	}
	return sent, nil
}

// scanIn runs prefix, a query ending in "IN (", with args as the list,
// 500 at a time, then suffix (")" and what follows the list), and calls
// each for every row.
func scanIn(ctx context.Context, db *sqldb.DB, prefix, suffix string, args []any, each func(*sql.Rows) error) error {
	for chunk := range slices.Chunk(args, 500) {
		q := sqldb.ListPlaceholders(db.Dialect, []byte(prefix), 1, len(chunk))
		rows, err := db.Read.QueryContext(ctx, string(append(q, suffix...)), chunk...)
		if err != nil {
			return err
		}
		for rows.Next() {
			if err := each(rows); err != nil {
				rows.Close()
				return err
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	return nil
}
