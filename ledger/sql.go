package ledger

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/okpay/okpay/sqldb"
)

// querier is what both *sql.DB and *sql.Tx offer.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// dialectSQL holds the statements that differ between the engines.
type dialectSQL struct {
	dialect sqldb.Dialect
	// lockSuffix ends the balance read in a batch.
	lockSuffix string
}

func sqlFor(d sqldb.Dialect) *dialectSQL {
	s := &dialectSQL{dialect: d}
	if d == sqldb.Postgres {
		s.lockSuffix = " ORDER BY a.id FOR UPDATE OF b"
	}
	return s
}

// Column lists of the multi-row statements.
const (
	entryCols   = 11
	postingCols = 6
	balanceCols = 6
	idemCols    = 6
)

// stmtCache builds multi-row statement texts once per row count. Each
// writer has its own.
type stmtCache struct {
	d *dialectSQL
	// prepared holds, on SQLite, statements prepared once on the single
	// writer connection and reused by every transaction.
	prepared map[string]*sql.Stmt
	// pin is the writer's own connection on PostgreSQL.
	pin *sql.Conn
	// careful counts the batches that still look up references and keys
	// before writing (see tryBatch).
	careful  int
	entries  map[int]string
	postings map[int]string
	balances map[int]string
	idem     map[int]string
	in       map[string]string
	anyText  map[string]string // PostgreSQL: IN-list query → its "= ANY($1)" form
	// cols, staged and late serve hooks' deferred inserts (hooktx.go):
	// column counts, statement texts, and texts to prepare after the
	// batch that first used them.
	cols   map[string]int
	staged map[stagedText]string
	late   []string
}

func newStmtCache(d *dialectSQL) *stmtCache {
	return &stmtCache{d: d, prepared: map[string]*sql.Stmt{}, entries: map[int]string{}, postings: map[int]string{}, balances: map[int]string{}, idem: map[int]string{}, in: map[string]string{}, anyText: map[string]string{},
		cols: map[string]int{}, staged: map[stagedText]string{}}
}

// batchInsert begins the batch's multi-row inserts ("INSERT INTO t(…)
// VALUES (…), (…)"). On SQLite it is INSERT OR FAIL: under the default
// conflict resolution (ABORT) a statement that may fail after changing
// rows must be undone alone, so SQLite first copies every page it
// changes into a statement journal (8% of the writer's time in the
// wallet's transfers, okpay bench p2p). A failed statement of a batch
// fails the batch, whose whole transaction is rolled back (commit), so
// nothing a FAIL leaves behind is ever committed. Upsert clauses (ON
// CONFLICT … DO …) still decide their own conflicts. It does not spare
// the journal everywhere: a multi-row insert that gives the INTEGER
// PRIMARY KEY itself is still journalled, whatever its conflict clause
// (measured 2026-11-27, bench-results/wallet.md; the cause, read in
// SQLite's insert code on 2026-11-29, is the check that the given key is
// an integer, which may abort the statement), and the journal entries
// and every table a wallet transfer stages are written with their ids.
func batchInsert(d sqldb.Dialect) string {
	if d == sqldb.SQLite {
		return "INSERT OR FAIL INTO "
	}
	return "INSERT INTO "
}

// values builds "prefix (..),(..) suffix". SQLite gets anonymous "?"
// placeholders: with thousands of "$N" its parser spends quadratic time
// mapping names to numbers.
func values(d sqldb.Dialect, prefix string, rows, cols int, suffix string) string {
	var b strings.Builder
	b.Grow(len(prefix) + rows*cols*6 + len(suffix))
	b.WriteString(prefix)
	n := 1
	for r := 0; r < rows; r++ {
		if r > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('(')
		for c := 0; c < cols; c++ {
			if c > 0 {
				b.WriteByte(',')
			}
			if d == sqldb.SQLite {
				b.WriteByte('?')
			} else {
				b.WriteByte('$')
				b.WriteString(strconv.Itoa(n))
			}
			n++
		}
		b.WriteByte(')')
	}
	b.WriteString(suffix)
	return b.String()
}

// insertEntries and insertPostings write a batch's rows on SQLite
// (PostgreSQL writes them in qWritePostgres).
func (c *stmtCache) insertEntries(n int) string {
	if s, ok := c.entries[n]; ok {
		return s
	}
	s := values(c.d.dialect, batchInsert(c.d.dialect)+`journal_entries(id, reference, type, phase, pending_id, reverses_id, expires_at, content_hash, metadata, effective_at, created_at) VALUES `, n, entryCols, "")
	c.entries[n] = s
	return s
}

func (c *stmtCache) insertPostings(n int) string {
	if s, ok := c.postings[n]; ok {
		return s
	}
	s := values(c.d.dialect, batchInsert(c.d.dialect)+`postings(entry_id, seq, debit_account, credit_account, amount, currency) VALUES `, n, postingCols, "")
	c.postings[n] = s
	return s
}

// updateBalances writes balances on SQLite (PostgreSQL writes them in
// qWritePostgres). Every account has its balances row, so this upsert
// only ever updates; SQLite runs it row by row, where UPDATE ... FROM
// (VALUES ...) first materialises and sorts the values (3.2 µs a row
// against 5.8 µs, measured on 256-row batches).
func (c *stmtCache) updateBalances(n int) string {
	if s, ok := c.balances[n]; ok {
		return s
	}
	s := values(c.d.dialect, batchInsert(c.d.dialect)+`balances(account_id, posted_debits, posted_credits, pending_debits, pending_credits, version) VALUES `, n, balanceCols,
		` ON CONFLICT(account_id) DO UPDATE SET posted_debits = excluded.posted_debits, posted_credits = excluded.posted_credits, pending_debits = excluded.pending_debits, pending_credits = excluded.pending_credits, version = excluded.version`)
	c.balances[n] = s
	return s
}

func (c *stmtCache) insertIdem(n int) string {
	if s, ok := c.idem[n]; ok {
		return s
	}
	s := values(c.d.dialect, batchInsert(c.d.dialect)+`idempotency_keys(principal, key, request_hash, status, response, created_at) VALUES `, n, idemCols, "")
	c.idem[n] = s
	return s
}

// inList returns query with "(?)" replaced by "($1,...,$n)" (cached).
func (c *stmtCache) inList(query string, n int) string {
	key := query + "\x00" + strconv.Itoa(n)
	if s, ok := c.in[key]; ok {
		return s
	}
	s := expandIn(query, n, c.d.dialect == sqldb.SQLite)
	if len(c.in) > 4096 {
		clear(c.in)
	}
	c.in[key] = s
	return s
}

// expandIn replaces "(?)" in query by n placeholders: anonymous "?" for
// SQLite's writer statements (sqldb.ListPlaceholders), "$1".."$n"
// otherwise.
func expandIn(query string, n int, anonymous bool) string {
	d := sqldb.Postgres // numbered: readers' statements on either engine
	if anonymous {
		d = sqldb.SQLite
	}
	return strings.Replace(query, "(?)", "("+string(sqldb.ListPlaceholders(d, nil, 1, n))+")", 1)
}

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

func nullMicros(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

func encodeMeta(m map[string]string) string {
	if len(m) == 0 {
		return "{}"
	}
	b, _ := json.Marshal(m) // a map of strings always encodes
	return string(b)
}

func decodeMeta(s string) map[string]string {
	if s == "" || s == "{}" {
		return nil
	}
	var m map[string]string
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return map[string]string{"_undecodable": s}
	}
	return m
}

// Queries run by every batch with an IN list of varying length. On SQLite
// the list is padded to a power of two so a few prepared statements serve
// all sizes; PostgreSQL takes it as one array (queryAny).
const (
	qIdemKeys   = `SELECT principal, key, request_hash, status, response FROM idempotency_keys WHERE key IN (?)`
	qReferences = `SELECT id, reference, content_hash FROM journal_entries WHERE reference IN (?)`
	qAccounts   = `SELECT a.id, a.currency, a.kind, a.flags, b.posted_debits, b.posted_credits, b.pending_debits, b.pending_credits, b.version FROM accounts a JOIN balances b ON b.account_id = a.id WHERE a.id IN (?)`
)

// The savepoint of a hook (writer.go).
const (
	qSavepoint  = "SAVEPOINT ledger_hook"
	qRollbackTo = "ROLLBACK TO SAVEPOINT ledger_hook"
	qRelease    = "RELEASE SAVEPOINT ledger_hook"
)

// sizes are the row counts of the multi-row statements: powers of two up
// to chunk.
func sizes() []int {
	var out []int
	for n := 1; n <= chunk; n <<= 1 {
		out = append(out, n)
	}
	return out
}

// prepare readies, on SQLite, every statement a batch uses. It must run
// while the writer connection is free (before a transaction starts).
func (c *stmtCache) prepare(ctx context.Context, db *sql.DB, lockSuffix string) error {
	if c.d.dialect != sqldb.SQLite {
		return nil
	}
	for _, q := range []string{qSavepoint, qRollbackTo, qRelease} {
		st, err := db.PrepareContext(ctx, q)
		if err != nil {
			return fmt.Errorf("prepare %s: %w", q, err)
		}
		c.prepared[q] = st
	}
	for _, n := range sizes() {
		for _, q := range []string{
			c.insertEntries(n), c.insertPostings(n), c.updateBalances(n), c.insertIdem(n),
			c.inList(qIdemKeys, n), c.inList(qReferences, n), c.inList(qAccounts+lockSuffix, n),
		} {
			if _, ok := c.prepared[q]; ok {
				continue
			}
			st, err := db.PrepareContext(ctx, q)
			if err != nil {
				return fmt.Errorf("prepare %.60s...: %w", q, err)
			}
			c.prepared[q] = st
		}
	}
	return nil
}

func (c *stmtCache) unpin() {
	if c.pin != nil {
		c.pin.Close()
		c.pin = nil
	}
}

func (c *stmtCache) close() {
	for _, st := range c.prepared {
		st.Close()
	}
}

// chunkSize returns the largest statement size not above rows.
func chunkSize(rows int) int {
	n := chunk
	for n > rows {
		n >>= 1
	}
	return n
}

// exec runs q in tx, through its prepared statement when there is one.
func (c *stmtCache) exec(ctx context.Context, tx *sql.Tx, q string, args []any) error {
	if st, ok := c.prepared[q]; ok {
		_, err := tx.StmtContext(ctx, st).ExecContext(ctx, args...)
		return err
	}
	_, err := tx.ExecContext(ctx, q, args...)
	return err
}

// query runs an IN-list query (see qIdemKeys) with vals: padded on
// SQLite, as one array on PostgreSQL.
func (c *stmtCache) query(ctx context.Context, tx *sql.Tx, q string, vals []any) (*sql.Rows, error) {
	if c.d.dialect == sqldb.Postgres {
		return c.queryAny(ctx, tx, q, vals)
	}
	n := 1
	for n < len(vals) {
		n <<= 1
	}
	if n > chunk {
		n = len(vals)
	}
	for len(vals) < n {
		vals = append(vals, vals[len(vals)-1])
	}
	text := c.inList(q, n)
	if st, ok := c.prepared[text]; ok {
		return tx.StmtContext(ctx, st).QueryContext(ctx, vals...)
	}
	return tx.QueryContext(ctx, text, vals...)
}

// queryAny runs an IN-list query on PostgreSQL with the list as one array
// parameter ("= ANY($1)"): one statement text, prepared once per
// connection, for every length (padded lists needed one per length).
func (c *stmtCache) queryAny(ctx context.Context, tx *sql.Tx, q string, vals []any) (*sql.Rows, error) {
	if len(vals) == 0 {
		return nil, fmt.Errorf("ledger: an empty list for %.40s", q)
	}
	text, ok := c.anyText[q]
	if !ok {
		text = strings.Replace(q, " IN (?)", " = ANY($1)", 1)
		c.anyText[q] = text
	}
	var arg any
	switch vals[0].(type) {
	case int64:
		arg = typedArray[int64](vals)
	case string:
		arg = typedArray[string](vals)
	default:
		return nil, fmt.Errorf("ledger: no array for a list of %T", vals[0])
	}
	return tx.QueryContext(ctx, text, arg)
}

// typedArray copies vals, all of type T, into a []T (which the
// PostgreSQL driver sends as an array).
func typedArray[T any](vals []any) []T {
	a := make([]T, len(vals))
	for i, v := range vals {
		a[i] = v.(T)
	}
	return a
}
