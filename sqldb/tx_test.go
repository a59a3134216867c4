package sqldb_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"

	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

func TestInTxCommitsAndRollsBack(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		if _, err := db.Write.ExecContext(ctx, `CREATE TABLE tx_probe (n INTEGER NOT NULL)`); err != nil {
			t.Fatal(err)
		}
		if err := db.InTx(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO tx_probe (n) VALUES (1)`)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		boom := errors.New("boom")
		if err := db.InTx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, `INSERT INTO tx_probe (n) VALUES (2)`); err != nil {
				return err
			}
			return boom
		}); !errors.Is(err, boom) {
			t.Fatalf("InTx = %v, want boom", err)
		}
		var sum int
		if err := db.Read.QueryRowContext(ctx, `SELECT COALESCE(SUM(n), 0) FROM tx_probe`).Scan(&sum); err != nil {
			t.Fatal(err)
		}
		if sum != 1 {
			t.Fatalf("sum = %d, want 1 (the failed transaction must leave nothing)", sum)
		}
	})
}
