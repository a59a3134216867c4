package audit

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/okpay/okpay/sqldb"
)

// Log reads and writes the audit log of one database.
type Log struct {
	db *sqldb.DB
	// batch is how many rows Verify reads per query.
	batch int
}

// New returns the audit log stored in db.
func New(db *sqldb.DB) *Log { return &Log{db: db, batch: 1000} }

// Record appends ev in a transaction of its own, for events that go with
// no business change (a failed login, a rate limit hit...). Use Append to
// record an event together with the change it describes.
func (l *Log) Record(ctx context.Context, ev Event) error {
	return l.db.InTx(ctx, func(tx *sql.Tx) error {
		_, err := Append(ctx, tx, l.db.Dialect, ev)
		return err
	})
}

// List limits.
const (
	DefaultListLimit = 50
	MaxListLimit     = 500
)

// List returns the events about subject, newest first: at most limit
// (DefaultListLimit when limit <= 0, never more than MaxListLimit), with
// seq below beforeSeq (no bound when beforeSeq <= 0). To page, pass the
// Seq of the last entry returned.
func (l *Log) List(ctx context.Context, subject string, limit int, beforeSeq int64) ([]Entry, error) {
	if limit <= 0 {
		limit = DefaultListLimit
	}
	if limit > MaxListLimit {
		limit = MaxListLimit
	}
	if beforeSeq <= 0 {
		beforeSeq = math.MaxInt64
	}
	// Subjects are stored escaped; look them up the same way.
	rows, err := l.db.Read.QueryContext(ctx, `SELECT `+columns+` FROM audit_log
		WHERE subject = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3`, clip(escape(subject), maxField), beforeSeq, limit)
	if err != nil {
		return nil, fmt.Errorf("audit: list: %w", err)
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		var r row
		var details string
		if err := scanRow(rows, &r, &details); err != nil {
			return nil, fmt.Errorf("audit: list: %w", err)
		}
		if err := json.Unmarshal([]byte(details), &r.details); err != nil {
			return nil, fmt.Errorf("audit: list: row %d: details: %w", r.seq, err)
		}
		out = append(out, r.entry())
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("audit: list: %w", err)
	}
	return out, nil
}

func scanRow(rows *sql.Rows, r *row, details *string) error {
	return rows.Scan(&r.seq, &r.at, &r.name, &r.actor, &r.subject, &r.ip, &r.deviceID, &r.requestID,
		&r.outcome, &r.caseID, &r.reason, details, &r.prevHash, &r.hash)
}

func (r *row) entry() Entry {
	return Entry{Seq: r.seq, Event: Event{
		At:        time.UnixMicro(r.at).UTC(),
		Name:      r.name,
		Actor:     r.actor,
		Subject:   r.subject,
		IP:        r.ip,
		DeviceID:  r.deviceID,
		RequestID: r.requestID,
		Outcome:   r.outcome,
		CaseID:    r.caseID,
		Reason:    r.reason,
		Details:   r.details,
	}}
}

// Report is the outcome of Verify.
type Report struct {
	// Rows is how many rows were checked and found sound (up to the first
	// broken link).
	Rows int64
	// OK is true when the whole chain holds.
	OK bool
	// BrokenAt is the seq of the first broken link: the first row that
	// fails a check or, when rows are missing, the first missing seq.
	BrokenAt int64
	// Problem says what is wrong at BrokenAt.
	Problem string
	// LastSeq and Head are the seq and hash of the last sound row (0 and
	// the genesis hash for an empty log). Keeping Head somewhere else
	// (a ticket, a signed message) lets a later Verify show that no row
	// was cut off the end or the chain rewritten from there.
	LastSeq int64
	Head    []byte
}

func (r *Report) String() string {
	if r.OK {
		return fmt.Sprintf("audit log OK: %d rows, head %d %s", r.Rows, r.LastSeq, hex.EncodeToString(r.Head))
	}
	return fmt.Sprintf("audit log BROKEN at seq %d: %s (%d sound rows before it)", r.BrokenAt, r.Problem, r.Rows)
}

// Verify walks the audit log in seq order, in batches on the read pool
// (memory does not grow with the log), and checks every link: seqs run
// 1, 2, 3... without a gap, each prev_hash equals the hash of the row
// before (the genesis hash for seq 1), and each hash matches its row's
// content. It stops at the first broken link. An error means the log could
// not be read, not that it is broken.
func (l *Log) Verify(ctx context.Context) (Report, error) {
	rep := Report{Head: Genesis()}
	prev := Genesis()
	next := int64(1)
	after := int64(math.MinInt64) // so that a row with seq <= 0 is seen too
	batch := l.batch
	if batch <= 0 {
		batch = 1000
	}
	for {
		rows, err := l.db.Read.QueryContext(ctx, `SELECT `+columns+` FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2`, after, batch)
		if err != nil {
			return rep, fmt.Errorf("audit: verify: %w", err)
		}
		n := 0
		var r row
		var details string
		for rows.Next() {
			if err := scanRow(rows, &r, &details); err != nil {
				rows.Close()
				return rep, fmt.Errorf("audit: verify: %w", err)
			}
			n++
			after = r.seq
			if at, problem := checkRow(&r, details, next, prev); problem != "" {
				rows.Close()
				rep.BrokenAt, rep.Problem = at, problem
				rep.LastSeq, rep.Head = next-1, prev
				return rep, nil
			}
			rep.Rows++
			prev = append(prev[:0], r.hash...)
			next = r.seq + 1
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return rep, fmt.Errorf("audit: verify: %w", err)
		}
		if n < batch {
			break
		}
	}
	rep.OK = true
	rep.LastSeq = next - 1
	rep.Head = prev
	return rep, nil
}

// checkRow checks row r, expected at seq next after a row whose hash is
// prev. It returns the seq of the broken link and what is wrong, or "".
func checkRow(r *row, details string, next int64, prev []byte) (int64, string) {
	switch {
	case r.seq > next && r.seq == next+1:
		return next, fmt.Sprintf("row %d is missing (the next row is %d)", next, r.seq)
	case r.seq > next:
		return next, fmt.Sprintf("rows %d to %d are missing (the next row is %d)", next, r.seq-1, r.seq)
	case r.seq < next:
		return r.seq, fmt.Sprintf("unexpected row %d where row %d was expected", r.seq, next)
	}
	if len(r.hash) != HashSize || len(r.prevHash) != HashSize {
		return r.seq, fmt.Sprintf("hash or prev_hash is not %d bytes", HashSize)
	}
	r.details = nil
	if err := json.Unmarshal([]byte(details), &r.details); err != nil {
		return r.seq, "details are not a JSON object of strings (edited)"
	}
	if !bytes.Equal(r.computeHash(), r.hash) {
		return r.seq, "the row does not match its hash (edited, moved or forged)"
	}
	if !bytes.Equal(r.prevHash, prev) {
		if r.seq == 1 {
			return r.seq, "prev_hash of the first row is not the genesis hash"
		}
		return r.seq, fmt.Sprintf("prev_hash does not match the hash of row %d (a row before it was replaced, or this one was forged)", r.seq-1)
	}
	return 0, ""
}
