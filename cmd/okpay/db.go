package main

import (
	"context"

	"github.com/okpay/okpay/sqldb"
)

func openRaw(ctx context.Context, d dbFlags) (*sqldb.DB, error) {
	return sqldb.Open(ctx, d.url, sqldb.Options{MaxConns: d.maxConns})
}
