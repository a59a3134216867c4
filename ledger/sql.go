package ledger

import (
	"context"
	"database/sql"
	"encoding/json"
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
	d        *dialectSQL
	entries  map[int]string
	postings map[int]string
	balances map[int]string
	idem     map[int]string
	in       map[string]string
}

func newStmtCache(d *dialectSQL) *stmtCache {
	return &stmtCache{d: d, entries: map[int]string{}, postings: map[int]string{}, balances: map[int]string{}, idem: map[int]string{}, in: map[string]string{}}
}

func values(prefix string, rows, cols int, pgCasts []string, suffix string) string {
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
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			if r == 0 && pgCasts != nil {
				b.WriteString("::")
				b.WriteString(pgCasts[c])
			}
			n++
		}
		b.WriteByte(')')
	}
	b.WriteString(suffix)
	return b.String()
}

func (c *stmtCache) insertEntries(n int) string {
	if s, ok := c.entries[n]; ok {
		return s
	}
	s := values(`INSERT INTO journal_entries(id, reference, type, phase, pending_id, reverses_id, expires_at, content_hash, metadata, effective_at, created_at) VALUES `, n, entryCols, nil, "")
	c.entries[n] = s
	return s
}

func (c *stmtCache) insertPostings(n int) string {
	if s, ok := c.postings[n]; ok {
		return s
	}
	s := values(`INSERT INTO postings(entry_id, seq, debit_account, credit_account, amount, currency) VALUES `, n, postingCols, nil, "")
	c.postings[n] = s
	return s
}

func (c *stmtCache) updateBalances(n int) string {
	if s, ok := c.balances[n]; ok {
		return s
	}
	var s string
	if c.d.dialect == sqldb.Postgres {
		s = values(`UPDATE balances AS b SET posted_debits = v.pd, posted_credits = v.pc, pending_debits = v.pnd, pending_credits = v.pnc, version = v.ver FROM (VALUES `, n, balanceCols,
			[]string{"bigint", "bigint", "bigint", "bigint", "bigint", "bigint"}, `) AS v(id, pd, pc, pnd, pnc, ver) WHERE b.account_id = v.id`)
	} else {
		s = values(`UPDATE balances SET posted_debits = v.column2, posted_credits = v.column3, pending_debits = v.column4, pending_credits = v.column5, version = v.column6 FROM (VALUES `, n, balanceCols,
			nil, `) AS v WHERE balances.account_id = v.column1`)
	}
	c.balances[n] = s
	return s
}

func (c *stmtCache) insertIdem(n int) string {
	if s, ok := c.idem[n]; ok {
		return s
	}
	s := values(`INSERT INTO idempotency_keys(principal, key, request_hash, status, response, created_at) VALUES `, n, idemCols, nil, "")
	c.idem[n] = s
	return s
}

// inList returns query with "(?)" replaced by "($1,...,$n)" (cached).
func (c *stmtCache) inList(query string, n int) string {
	key := query + "\x00" + strconv.Itoa(n)
	if s, ok := c.in[key]; ok {
		return s
	}
	ph := string(sqldb.Placeholders(nil, 1, n))
	s := strings.Replace(query, "(?)", "("+ph+")", 1)
	if len(c.in) > 4096 {
		clear(c.in)
	}
	c.in[key] = s
	return s
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
