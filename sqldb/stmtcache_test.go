package sqldb

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// openCached opens one cached SQLite connection (a pool of one) on a
// fresh file, with the cache bounded at max statements.
func openCached(t *testing.T, max int) (*sql.DB, *sql.Conn) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "c.db")
	if err := createSQLite(context.Background(), path, sqlitePageSize); err != nil {
		t.Fatal(err)
	}
	db, err := openSQLiteDB(sqliteDSN(path, false))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	db.SetMaxOpenConns(1)
	cn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cn.Close() })
	cn.Raw(func(dc any) error { dc.(*cachingConn).max = max; return nil })
	return db, cn
}

func compiled(t *testing.T, cn *sql.Conn) (n, kept int) {
	t.Helper()
	err := cn.Raw(func(dc any) error {
		c := dc.(*cachingConn)
		n, kept = c.compiled, len(c.stmts)
		if c.lru.Len() != kept {
			return fmt.Errorf("lru holds %d, map %d", c.lru.Len(), kept)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n, kept
}

func TestStmtCacheCompilesOnce(t *testing.T) {
	ctx := context.Background()
	_, cn := openCached(t, 8)
	if _, err := cn.ExecContext(ctx, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL UNIQUE)"); err != nil {
		t.Fatal(err)
	}
	n0, _ := compiled(t, cn)
	for i := range 50 {
		if _, err := cn.ExecContext(ctx, "INSERT INTO t (v) VALUES ($1)", fmt.Sprint("v", i)); err != nil {
			t.Fatal(err)
		}
		var got string
		if err := cn.QueryRowContext(ctx, "SELECT v FROM t WHERE id = $1", i+1).Scan(&got); err != nil || got != fmt.Sprint("v", i) {
			t.Fatalf("row %d: %q, %v", i+1, got, err)
		}
	}
	if n, _ := compiled(t, cn); n-n0 != 2 {
		t.Fatalf("100 runs of 2 statements compiled %d statements, want 2", n-n0)
	}
	// An error leaves the cached statement usable: a unique violation,
	// then the same statement succeeds with other arguments.
	if _, err := cn.ExecContext(ctx, "INSERT INTO t (v) VALUES ($1)", "v0"); err == nil || !IsUniqueViolation(err) {
		t.Fatalf("duplicate insert: %v", err)
	}
	if _, err := cn.ExecContext(ctx, "INSERT INTO t (v) VALUES ($1)", "fresh"); err != nil {
		t.Fatal(err)
	}
	// A schema change after caching: SQLite recompiles the statement.
	if _, err := cn.ExecContext(ctx, "ALTER TABLE t ADD COLUMN w INTEGER NOT NULL DEFAULT 7"); err != nil {
		t.Fatal(err)
	}
	rows, err := cn.QueryContext(ctx, "SELECT * FROM t WHERE id = $1", 1)
	if err != nil {
		t.Fatal(err)
	}
	cols, _ := rows.Columns()
	rows.Close()
	if strings.Join(cols, ",") != "id,v,w" {
		t.Fatalf("columns after ALTER: %v", cols)
	}
}

func TestStmtCacheNestedSameQuery(t *testing.T) {
	ctx := context.Background()
	_, cn := openCached(t, 8)
	if _, err := cn.ExecContext(ctx, "CREATE TABLE t (id INTEGER PRIMARY KEY); INSERT INTO t VALUES (1), (2), (3)"); err != nil {
		t.Fatal(err)
	}
	const q = "SELECT id FROM t WHERE id >= $1 ORDER BY id"
	outer, err := cn.QueryContext(ctx, q, 1)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for outer.Next() {
		var id int
		if err := outer.Scan(&id); err != nil {
			t.Fatal(err)
		}
		// The same text while the outer rows are open: it must not reset
		// the outer statement.
		var n int
		if err := cn.QueryRowContext(ctx, q, id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprint(id, ":", n))
	}
	if err := outer.Err(); err != nil {
		t.Fatal(err)
	}
	outer.Close()
	if strings.Join(got, " ") != "1:1 2:2 3:3" {
		t.Fatalf("nested iteration: %v", got)
	}
	// Once closed, the cached statement serves again without compiling.
	n0, _ := compiled(t, cn)
	var n int
	if err := cn.QueryRowContext(ctx, q, 2).Scan(&n); err != nil || n != 2 {
		t.Fatalf("after close: %d, %v", n, err)
	}
	if n1, _ := compiled(t, cn); n1 != n0 {
		t.Fatalf("compiled %d more", n1-n0)
	}
}

func TestStmtCacheEvictsLeastRecent(t *testing.T) {
	ctx := context.Background()
	_, cn := openCached(t, 4)
	for i := range 10 {
		var n int
		if err := cn.QueryRowContext(ctx, fmt.Sprintf("SELECT %d", i)).Scan(&n); err != nil || n != i {
			t.Fatalf("SELECT %d: %d, %v", i, n, err)
		}
	}
	n, kept := compiled(t, cn)
	if n != 10 || kept != 4 {
		t.Fatalf("compiled %d, kept %d; want 10 and 4", n, kept)
	}
	// The four most recent are kept: running one again compiles nothing;
	// an older one is compiled again.
	var v int
	cn.QueryRowContext(ctx, "SELECT 9").Scan(&v)
	if n2, _ := compiled(t, cn); n2 != n {
		t.Fatalf("SELECT 9 was evicted")
	}
	cn.QueryRowContext(ctx, "SELECT 0").Scan(&v)
	if n3, kept3 := compiled(t, cn); n3 != n+1 || kept3 != 4 {
		t.Fatalf("SELECT 0: compiled %d (want %d), kept %d", n3, n+1, kept3)
	}
}

func TestStmtCacheScriptsAreNotCached(t *testing.T) {
	ctx := context.Background()
	_, cn := openCached(t, 8)
	for range 3 {
		if _, err := cn.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS s (x); INSERT INTO s VALUES (1)"); err != nil {
			t.Fatal(err)
		}
	}
	var n int
	if err := cn.QueryRowContext(ctx, "SELECT count(*) FROM s").Scan(&n); err != nil || n != 3 {
		t.Fatalf("script ran %d times, %v", n, err)
	}
	if c, kept := compiled(t, cn); c != 1 || kept != 1 {
		t.Fatalf("compiled %d, kept %d; want only the SELECT", c, kept)
	}
}

// BenchmarkPointQuery compares a point query on a cached connection with
// the driver's own path (compile, run, finalize).
func BenchmarkPointQuery(b *testing.B) {
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "b.db")
	if err := createSQLite(ctx, path, sqlitePageSize); err != nil {
		b.Fatal(err)
	}
	plain, err := sql.Open("sqlite", sqliteDSN(path, false))
	if err != nil {
		b.Fatal(err)
	}
	defer plain.Close()
	if _, err := plain.ExecContext(ctx, "CREATE TABLE t (id INTEGER PRIMARY KEY, a INTEGER, b TEXT, c INTEGER); INSERT INTO t VALUES (1, 2, 'x', 3)"); err != nil {
		b.Fatal(err)
	}
	cached, err := openSQLiteDB(sqliteDSN(path, false))
	if err != nil {
		b.Fatal(err)
	}
	defer cached.Close()
	const q = "SELECT a, b, c FROM t WHERE id = $1 AND a IS NOT NULL AND c > 0"
	for _, db := range []struct {
		name string
		db   *sql.DB
	}{{"driver", plain}, {"cached", cached}} {
		b.Run(db.name, func(b *testing.B) {
			var a, c int
			var s string
			for b.Loop() {
				if err := db.db.QueryRowContext(ctx, q, 1).Scan(&a, &s, &c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
