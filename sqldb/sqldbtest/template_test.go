package sqldbtest

import (
	"context"
	"database/sql"
	"os"
	"testing"
	"time"

	"github.com/okpay/okpay/sqldb"
)

// TestDropStaleTemplates: a template of other migrations built more than a
// day ago, or undated, is dropped; a recent one (another checkout may be
// testing with it) and the current one are kept.
func TestDropStaleTemplates(t *testing.T) {
	base := os.Getenv(EnvPostgres)
	if base == "" {
		t.Skip(EnvPostgres + " not set: set it to a PostgreSQL server to run this test")
	}
	ctx := context.Background()
	admin, err := sqldb.Open(ctx, base, sqldb.Options{MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	conn, err := admin.Write.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	// Other test processes build templates (and drop stale ones) under
	// this lock: hold it, or they could drop these while we look.
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", int64(templateLock)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.ExecContext(context.Background(), "SELECT pg_advisory_unlock($1)", int64(templateLock)) })
	mk := func(name, comment string) {
		t.Helper()
		conn.ExecContext(ctx, "ALTER DATABASE "+name+" WITH IS_TEMPLATE false")
		conn.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		for _, q := range []string{"CREATE DATABASE " + name, "ALTER DATABASE " + name + " WITH IS_TEMPLATE true ALLOW_CONNECTIONS false"} {
			if _, err := conn.ExecContext(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		if comment != "" {
			if _, err := conn.ExecContext(ctx, "COMMENT ON DATABASE "+name+" IS '"+comment+"'"); err != nil {
				t.Fatal(err)
			}
		}
		t.Cleanup(func() {
			conn.ExecContext(context.Background(), "ALTER DATABASE "+name+" WITH IS_TEMPLATE false")
			conn.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		})
	}
	const old, undated, recent, current = "okpay_tpl_00000000000000a1", "okpay_tpl_00000000000000a2", "okpay_tpl_00000000000000a3", "okpay_tpl_00000000000000a4"
	mk(old, templateComment+time.Now().Add(-25*time.Hour).UTC().Format(time.RFC3339))
	mk(undated, "")
	mk(recent, templateComment+time.Now().Add(-time.Hour).UTC().Format(time.RFC3339))
	mk(current, templateComment+time.Now().Add(-48*time.Hour).UTC().Format(time.RFC3339))
	dropStaleTemplates(ctx, conn, current)
	for name, want := range map[string]bool{old: false, undated: false, recent: true, current: true} {
		var n int
		if err := conn.QueryRowContext(ctx, "SELECT COUNT(*) FROM pg_database WHERE datname = $1", name).Scan(&n); err != nil && err != sql.ErrNoRows {
			t.Fatal(err)
		}
		if (n == 1) != want {
			t.Errorf("%s: exists %v, want %v", name, n == 1, want)
		}
	}
	for name, want := range map[string]bool{"okpay_tpl_0123abcd": true, "okpay_tpl_": false, "okpay_tpl_x; DROP": false, "other_tpl_00": false} {
		if validTemplateName(name) != want {
			t.Errorf("validTemplateName(%q) = %v", name, !want)
		}
	}
}
