// Package sqldbtest opens migrated, throw-away databases for tests: a
// SQLite file in a temporary folder, and a PostgreSQL schema of its own on
// the server named by OKPAY_TEST_POSTGRES_URL (so PostgreSQL tests can run
// in parallel). Without that variable, PostgreSQL tests skip and say why.
package sqldbtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/okpay/okpay/sqldb"
)

// EnvPostgres names the environment variable holding the test server URL.
const EnvPostgres = "OKPAY_TEST_POSTGRES_URL"

// Dialects lists the engines every storage test runs on.
var Dialects = []sqldb.Dialect{sqldb.SQLite, sqldb.Postgres}

// Each runs fn as a subtest once per engine, each with a fresh database.
func Each(t *testing.T, fn func(t *testing.T, db *sqldb.DB)) {
	t.Helper()
	for _, d := range Dialects {
		t.Run(string(d), func(t *testing.T) {
			fn(t, Open(t, d))
		})
	}
}

// URL returns a database URL for a fresh, empty database of dialect d,
// dropped when the test ends. It skips the test when PostgreSQL is asked
// for and not configured.
func URL(t testing.TB, d sqldb.Dialect) string {
	t.Helper()
	switch d {
	case sqldb.SQLite:
		return "sqlite:" + filepath.Join(t.TempDir(), "okpay.db")
	case sqldb.Postgres:
		base := os.Getenv(EnvPostgres)
		if base == "" {
			t.Skipf("%s not set: set it (e.g. postgres://postgres@127.0.0.1:5432/okpay_test?sslmode=disable) to run PostgreSQL tests", EnvPostgres)
		}
		var b [6]byte
		rand.Read(b[:])
		schema := "t_" + hex.EncodeToString(b[:])
		ctx := context.Background()
		admin, err := sqldb.Open(ctx, base, sqldb.Options{MaxConns: 2})
		if err != nil {
			t.Fatalf("connect to %s: %v", EnvPostgres, err)
		}
		if _, err := admin.Write.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
			t.Fatalf("create schema: %v", err)
		}
		t.Cleanup(func() {
			admin.Write.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
			admin.Close()
		})
		u, err := url.Parse(base)
		if err != nil {
			t.Fatalf("%s: %v", EnvPostgres, err)
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String()
	}
	t.Fatalf("unknown dialect %q", d)
	return ""
}

// Open returns a migrated database of dialect d, closed when the test ends.
func Open(t testing.TB, d sqldb.Dialect) *sqldb.DB {
	t.Helper()
	db, err := sqldb.Open(context.Background(), URL(t, d), sqldb.Options{})
	if err != nil {
		t.Fatalf("open %s: %v", d, err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(context.Background()); err != nil {
		t.Fatalf("migrate %s: %v", d, err)
	}
	return db
}
