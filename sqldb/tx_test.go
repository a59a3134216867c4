package sqldb_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
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

func TestInTxCommitThen(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		if _, err := db.Write.ExecContext(ctx, `CREATE TABLE tx_attempts (n INTEGER NOT NULL)`); err != nil {
			t.Fatal(err)
		}
		refused := errors.New("wrong code")
		for range 2 {
			err := db.InTx(ctx, func(tx *sql.Tx) error {
				if _, err := tx.ExecContext(ctx, `INSERT INTO tx_attempts (n) VALUES (1)`); err != nil {
					return err
				}
				return fmt.Errorf("checking: %w", sqldb.CommitThen(refused))
			})
			if !errors.Is(err, refused) || err.Error() != "wrong code" {
				t.Fatalf("InTx = %v, want the wrapped error itself", err)
			}
		}
		var n int
		if err := db.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM tx_attempts`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 2 {
			t.Fatalf("%d attempts kept, want 2 (CommitThen commits)", n)
		}
		// ForUpdate locks on PostgreSQL and is empty on SQLite, and the
		// statement it ends runs on both.
		want := map[sqldb.Dialect]string{sqldb.Postgres: " FOR UPDATE", sqldb.SQLite: ""}[db.Dialect]
		if got := db.ForUpdate(); got != want {
			t.Fatalf("ForUpdate = %q, want %q", got, want)
		}
		if err := db.InTx(ctx, func(tx *sql.Tx) error {
			return tx.QueryRowContext(ctx, `SELECT n FROM tx_attempts LIMIT 1`+db.ForUpdate()).Scan(&n)
		}); err != nil {
			t.Fatal(err)
		}
	})
}
