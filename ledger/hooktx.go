package ledger

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/okpay/okpay/sqldb"
)

// TxHook is a Hook that may defer its inserts to the end of the batch
// (Tx.Insert). It runs where a Hook runs, with the same contract: inside
// the commit queue's transaction, in a savepoint, just before the ledger
// decides the request, not for replays, possibly more than once per
// request (a retried batch); a coded error refuses the request alone, an
// uncoded one fails the batch's transaction. When the request fails —
// refused by the hook or by the ledger — its writes through Tx.SQL are
// rolled back and its deferred rows are dropped.
//
// Deferred rows are what makes a TxHook cheap: rather than one INSERT per
// row and request (each run in the request's savepoint, where SQLite
// copies every page it touches to a sub-journal), the rows of all the
// batch's requests go out with one multi-row statement per table, after
// the ledger's own rows, just before the commit.
type TxHook func(ctx context.Context, tx *Tx, entryID int64) error

// Tx is what a TxHook works with: the batch's SQL transaction and the
// batch's deferred inserts. It is valid only during the hook's call.
type Tx struct {
	b *batch
}

// SQL returns the batch's transaction, for reads and for the writes that
// cannot wait: those whose outcome decides the request (a conditional
// update of a counter). They run in the request's savepoint, opened by
// the first call (a hook that only defers rows pays for none). Rows
// deferred with Insert are not in the database yet: reads do not see them.
func (t *Tx) SQL() *sql.Tx {
	b := t.b
	if !b.savepoint && b.stageErr == nil {
		if err := b.openSavepoint(); err != nil {
			b.stageErr = err // the transaction is unusable: fail the batch
		}
	}
	return b.tx
}

// Read returns the batch's transaction for reads only: unlike SQL it
// opens no savepoint, which a hook that writes nothing through the
// transaction need not pay for (on SQLite a savepoint is two statements,
// and every page written in it is first copied to a sub-journal). A hook
// must not write through it: a write would stay even if its request
// fails.
func (t *Tx) Read() *sql.Tx { return t.b.tx }

// Value returns what an earlier request of the batch stored under key
// (SetValue), if that request did not fail. Keys are compared as map keys;
// use a type of your own package to keep them apart from other hooks'.
func (t *Tx) Value(key any) (any, bool) {
	v, ok := t.b.vals[key]
	return v, ok
}

// SetValue stores v under key for the requests of the batch that follow.
// If this request fails (its hook refuses it, or the ledger does), the
// value it replaced is back. With deferred rows this lets a hook keep
// state across the batch without writing it at once: counters whose
// increments go out with the batch's inserts, say, while each request is
// checked against the stored count plus the batch's earlier increments.
// A batch run again (see Insert) starts without values.
func (t *Tx) SetValue(key, v any) {
	b := t.b
	old, had := b.vals[key]
	b.valUndo = append(b.valUndo, valUndo{key: key, old: old, had: had})
	if b.vals == nil {
		b.vals = map[any]any{}
	}
	b.vals[key] = v
}

// valUndo is a batch value as it was before the running hook set it.
type valUndo struct {
	key, old any
	had      bool
}

// Dialect is the database engine.
func (t *Tx) Dialect() sqldb.Dialect { return t.b.l.db.Dialect }

// Careful reports whether the batch runs in careful mode: after a batch
// broke a unique index (see Insert), the batches that follow, the failed
// one's rerun first, look up what they could collide with before
// writing. A hook whose deferred rows could collide with stored ones
// should then look them up and refuse the request rather than break the
// index again.
func (t *Tx) Careful() bool { return t.b.careful }

// Insert defers rows of "INSERT INTO <into> VALUES (…), (…) <suffix>":
// into names the table and its columns, e.g. "t (a, b, c)"; suffix is ""
// or a conflict clause such as "ON CONFLICT (a) DO NOTHING"; args holds
// one value per column for each row (several rows may be given at once).
// The rows of one into and suffix from every request of the batch are
// written together when the batch is written, in the order they were
// deferred. Without a conflict clause, a row that breaks a unique index
// fails the whole batch, which the ledger then runs again with Careful
// true (and, if it fails again, request by request): a hook that may
// insert an existing key either says ON CONFLICT or looks the key up when
// Careful.
//
// A wrong number of values fails the batch (the hook's request then
// fails alone, with an internal error).
func (t *Tx) Insert(into, suffix string, args ...any) {
	b := t.b
	if b.stageErr != nil {
		return
	}
	st := b.stagedTable(into, suffix)
	if st.cols == 0 {
		b.stageErr = fmt.Errorf("ledger: insert into %q: name the columns, as in \"t (a, b)\"", into)
		return
	}
	if len(args) == 0 || len(args)%st.cols != 0 {
		b.stageErr = fmt.Errorf("ledger: insert into %q: %d values for %d columns", into, len(args), st.cols)
		return
	}
	st.args = append(st.args, args...)
}

// stagedKey names one deferred insert.
type stagedKey struct{ into, suffix string }

// staged holds a batch's deferred rows of one insert.
type staged struct {
	key  stagedKey
	cols int
	args []any
}

// stagedTable returns the batch's rows of into and suffix, adding them.
func (b *batch) stagedTable(into, suffix string) *staged {
	k := stagedKey{into, suffix}
	if st, ok := b.staged[k]; ok {
		return st
	}
	if b.staged == nil {
		b.staged = map[stagedKey]*staged{}
	}
	st := &staged{key: k, cols: b.sc.columns(into)}
	b.staged[k] = st
	b.stagedList = append(b.stagedList, st)
	return st
}

// markStaged remembers how many deferred values exist, so a failing
// request's rows can be dropped, and starts its record of the batch
// values it replaces.
func (b *batch) markStaged() {
	clear(b.valUndo)
	b.valUndo = b.valUndo[:0]
	b.stageMark = b.stageMark[:0]
	for _, st := range b.stagedList {
		b.stageMark = append(b.stageMark, len(st.args))
	}
}

// dropStaged drops the rows deferred since markStaged, and restores the
// batch values set since.
func (b *batch) dropStaged() {
	for i := len(b.valUndo) - 1; i >= 0; i-- {
		u := b.valUndo[i]
		if u.had {
			b.vals[u.key] = u.old
		} else {
			delete(b.vals, u.key)
		}
	}
	clear(b.valUndo)
	b.valUndo = b.valUndo[:0]
	for i, st := range b.stagedList {
		n := 0
		if i < len(b.stageMark) {
			n = b.stageMark[i]
		}
		clear(st.args[n:])
		st.args = st.args[:n]
	}
}

// writeStaged writes the batch's deferred rows.
func (b *batch) writeStaged() error {
	for _, st := range b.stagedList {
		args := st.args
		for len(args) > 0 {
			n := chunkSize(len(args) / st.cols)
			for n > 1 && n*st.cols > maxParams {
				n >>= 1
			}
			if err := b.sc.exec(b.ctx, b.tx, b.sc.insertStaged(st.key, st.cols, n), args[:n*st.cols]); err != nil {
				return fmt.Errorf("insert into %s: %w", st.key.into, err)
			}
			args = args[n*st.cols:]
		}
	}
	return nil
}

// maxParams bounds the parameters of one statement (SQLite's default
// limit; PostgreSQL's is higher).
const maxParams = 32766

// columns counts the columns named in into ("t (a, b, c)" has 3), or
// returns 0 when it names none.
func (c *stmtCache) columns(into string) int {
	if n, ok := c.cols[into]; ok {
		return n
	}
	c.cols[into] = countColumns(into)
	return c.cols[into]
}

func countColumns(into string) int {
	open := strings.IndexByte(into, '(')
	if open < 0 {
		return 0
	}
	depth, names := 0, 1
	for i := open; i < len(into); i++ {
		switch into[i] {
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				if strings.TrimSpace(into[open+1:i]) == "" || strings.TrimSpace(into[i+1:]) != "" {
					return 0
				}
				return names
			}
		case ',':
			if depth == 1 {
				names++
			}
		}
	}
	return 0
}

type stagedText struct {
	key stagedKey
	n   int
}

// insertStaged returns the statement that writes n rows of a deferred
// insert, and has it prepared after the batch (SQLite).
func (c *stmtCache) insertStaged(k stagedKey, cols, n int) string {
	tk := stagedText{k, n}
	if s, ok := c.staged[tk]; ok {
		return s
	}
	suffix := ""
	if k.suffix != "" {
		suffix = " " + k.suffix
	}
	s := values(c.d.dialect, batchInsert(c.d.dialect)+k.into+" VALUES ", n, cols, suffix)
	c.staged[tk] = s
	if c.d.dialect == sqldb.SQLite {
		c.late = append(c.late, s)
	}
	return s
}

// prepareLate prepares, on SQLite, the statements first used by the last
// batch. It runs between batches, when the writer connection is free.
func (c *stmtCache) prepareLate(ctx context.Context, db *sql.DB) {
	for _, q := range c.late {
		if _, ok := c.prepared[q]; ok {
			continue
		}
		st, err := db.PrepareContext(ctx, q)
		if err != nil {
			continue // it runs unprepared (and fails the same way)
		}
		c.prepared[q] = st
	}
	clear(c.late)
	c.late = c.late[:0]
}
