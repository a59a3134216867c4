package wallet

import (
	"database/sql"
	"strings"
	"testing"

	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

// TestShortTxnInsertLeavesOnlyDefaults: a transfer's row staged with
// txnShortCols (stageTxn) relies on every other column of wallet_txns
// having, as its default, the value stageTxn requires before it leaves the
// column out: the empty string for text, 0 for numbers, NULL for idem_key. A column
// added to wallet_txns and txnCols without a default, or with another one,
// fails here.
func TestShortTxnInsertLeavesOnlyDefaults(t *testing.T) {
	if len(txnShort)+len(txnRest) != txnColCount {
		t.Fatalf("short %d + rest %d columns, want %d", len(txnShort), len(txnRest), txnColCount)
	}
	seen := map[int]bool{}
	for _, i := range append(append([]int{}, txnShort...), txnRest...) {
		if seen[i] || i < 0 || i >= txnColCount {
			t.Fatalf("column place %d listed twice or out of range", i)
		}
		seen[i] = true
	}
	cols := columnNames(txnCols)
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		q := `SELECT name, "notnull" <> 0, dflt_value FROM pragma_table_info('wallet_txns')`
		if db.Dialect == sqldb.Postgres {
			q = `SELECT column_name, is_nullable = 'NO', column_default FROM information_schema.columns WHERE table_name = 'wallet_txns'`
		}
		rows, err := db.Read.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		type col struct {
			notNull bool
			dflt    sql.NullString
		}
		schema := map[string]col{}
		for rows.Next() {
			var name string
			var c col
			if err := rows.Scan(&name, &c.notNull, &c.dflt); err != nil {
				t.Fatal(err)
			}
			schema[name] = c
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		for _, i := range txnRest {
			name := cols[i]
			c, ok := schema[name]
			switch {
			case !ok:
				t.Errorf("%s: not a column of wallet_txns", name)
			case !c.dflt.Valid:
				if c.notNull {
					t.Errorf("%s: NOT NULL without a default, but left out of a transfer's insert", name)
				}
			default:
				d := strings.TrimSuffix(c.dflt.String, "::text") // PostgreSQL's ''::text
				if d != "''" && d != "0" {
					t.Errorf("%s: default %s, but stageTxn leaves it out only when empty or zero", name, c.dflt.String)
				}
			}
		}
	})
}
