package main

import (
	"context"
	"fmt"
	"os"

	"github.com/okpay/okpay/sqldb"
)

func openRaw(ctx context.Context, d dbFlags) (*sqldb.DB, error) {
	return sqldb.Open(ctx, d.url, sqldb.Options{MaxConns: d.maxConns})
}

// openExisting opens a database that must already exist at this binary's
// schema version, for the commands that only inspect one (ledger verify,
// audit verify): a mistyped path must fail, not pass as an empty database.
func openExisting(ctx context.Context, d dbFlags) (*sqldb.DB, error) {
	if p := sqlitePath(d.url); p != "" {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("no database at %s: %w", p, err)
		}
	}
	db, err := openRaw(ctx, d)
	if err != nil {
		return nil, err
	}
	cur, latest, err := db.MigrationVersion(ctx)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("%s is not an OKPay database: %w", d.url, err)
	}
	if cur != latest {
		db.Close()
		return nil, fmt.Errorf("the database is at schema version %d, this binary at %d: run okpay migrate first", cur, latest)
	}
	return db, nil
}
