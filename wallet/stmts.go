package wallet

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/okpay/okpay/sqldb"
)

// stmts runs the statements of the ledger hooks. On SQLite they are
// prepared once on the single writer connection, which every write
// transaction (the ledger's included) uses, so a hook parses nothing, and
// their "$N" parameters become anonymous "?" ones (the driver looks every
// named parameter up by name at each call); PostgreSQL's driver caches
// prepared statements per connection by itself.
//
// Statements must be prepared before any transaction runs: inside a hook
// the writer connection is busy, and preparing on the pool would wait for
// it forever.
type stmts struct {
	prepared map[string]*prepared // read-only after prepareStmts
}

type prepared struct {
	st *sql.Stmt
	// order lists, for each "?" in turn, the index of its argument.
	order []int
}

// hookStatements are the statements run inside ledger hooks.
var hookStatements = []string{qInsertTxn, qInsertTxnPair, qCompleteOut, qVelocity, qSpend, qReadCounters, qInsertPayee, qInsertEvent, qCompleteDeposit, qKeyTaken}

func prepareStmts(ctx context.Context, db *sqldb.DB) (*stmts, error) {
	s := &stmts{prepared: map[string]*prepared{}}
	if db.Dialect != sqldb.SQLite {
		return s, nil
	}
	for _, q := range hookStatements {
		text, order := anonymous(q)
		st, err := db.Write.PrepareContext(ctx, text)
		if err != nil {
			s.close()
			return nil, fmt.Errorf("wallet: prepare %.50s...: %w", q, err)
		}
		s.prepared[q] = &prepared{st: st, order: order}
	}
	return s, nil
}

// anonymous rewrites "$N" parameters as "?" and says which argument each
// one takes (a "$N" used twice takes its argument twice). It does not
// look inside string literals: the statements have none with a '$'.
func anonymous(q string) (string, []int) {
	var b strings.Builder
	var order []int
	for i := 0; i < len(q); i++ {
		if q[i] == '$' && i+1 < len(q) && q[i+1] >= '0' && q[i+1] <= '9' {
			n := 0
			for i+1 < len(q) && q[i+1] >= '0' && q[i+1] <= '9' {
				i++
				n = n*10 + int(q[i]-'0')
			}
			order = append(order, n-1)
			b.WriteByte('?')
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String(), order
}

func (s *stmts) close() {
	for _, p := range s.prepared {
		p.st.Close()
	}
}

func (p *prepared) args(args []any) []any {
	out := make([]any, len(p.order))
	for i, j := range p.order {
		out[i] = args[j]
	}
	return out
}

func (s *stmts) exec(ctx context.Context, tx *sql.Tx, q string, args ...any) (sql.Result, error) {
	if p, ok := s.prepared[q]; ok {
		return tx.StmtContext(ctx, p.st).ExecContext(ctx, p.args(args)...)
	}
	return tx.ExecContext(ctx, q, args...)
}

func (s *stmts) queryRow(ctx context.Context, tx *sql.Tx, q string, args ...any) *sql.Row {
	if p, ok := s.prepared[q]; ok {
		return tx.StmtContext(ctx, p.st).QueryRowContext(ctx, p.args(args)...)
	}
	return tx.QueryRowContext(ctx, q, args...)
}

// affected returns the rows a statement changed.
func affected(res sql.Result, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
