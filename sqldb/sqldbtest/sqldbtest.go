// Package sqldbtest opens migrated, throw-away databases for tests: a
// SQLite file in a temporary folder, and a PostgreSQL schema of its own on
// the server named by OKPAY_TEST_POSTGRES_URL (so PostgreSQL tests can run
// in parallel). Without that variable, PostgreSQL tests skip and say why.
package sqldbtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

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

// Open returns a migrated database of dialect d, closed (and on
// PostgreSQL dropped) when the test ends. Migrating costs one to several
// seconds per database under -race, and hundreds of tests open one; so
// each engine is migrated once into a template, keyed by
// sqldb.MigrationsDigest and shared by every test process of the machine,
// and each test gets a copy of it: a file copy on SQLite, CREATE DATABASE
// ... TEMPLATE on PostgreSQL. Migrate then runs on the copy as it would on
// a node's database (it finds nothing to do), which also proves the copy is
// current.
func Open(t testing.TB, d sqldb.Dialect) *sqldb.DB {
	t.Helper()
	var u string
	switch d {
	case sqldb.SQLite:
		u = sqliteCopy(t)
	case sqldb.Postgres:
		u = postgresCopy(t)
	default:
		t.Fatalf("unknown dialect %q", d)
	}
	db, err := sqldb.Open(context.Background(), u, sqldb.Options{})
	if err != nil {
		t.Fatalf("open %s: %v", d, err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(context.Background()); err != nil {
		t.Fatalf("migrate %s: %v", d, err)
	}
	return db
}

// templates holds the per-process state of the migrated templates.
var templates struct {
	sqliteOnce sync.Once
	sqlitePath string
	sqliteErr  error

	pgOnce  sync.Once
	pgAdmin *sql.DB
	pgName  string
	pgErr   error
}

// sqliteCopy copies the migrated SQLite template into the test's
// temporary folder and returns its URL.
func sqliteCopy(t testing.TB) string {
	t.Helper()
	templates.sqliteOnce.Do(func() { templates.sqlitePath, templates.sqliteErr = sqliteTemplate() })
	if templates.sqliteErr != nil {
		t.Fatalf("SQLite template: %v", templates.sqliteErr)
	}
	path := filepath.Join(t.TempDir(), "okpay.db")
	if err := copyFile(templates.sqlitePath, path); err != nil {
		t.Fatalf("copy the SQLite template: %v", err)
	}
	return "sqlite:" + path
}

// sqliteTemplate returns the path of the migrated SQLite template, making
// it when this machine has none for the current migrations. It is built
// in a folder of its own and renamed into place, so processes racing to
// build it each leave a whole file.
func sqliteTemplate() (string, error) {
	digest, err := sqldb.MigrationsDigest(sqldb.SQLite)
	if err != nil {
		return "", err
	}
	dir := filepath.Join(os.TempDir(), "okpay-sqldbtest")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	path := filepath.Join(dir, "sqlite-"+digest+".db")
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	tmp, err := os.MkdirTemp(dir, "build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	built := filepath.Join(tmp, "okpay.db")
	ctx := context.Background()
	db, err := sqldb.Open(ctx, "sqlite:"+built, sqldb.Options{MaxConns: 1})
	if err != nil {
		return "", err
	}
	if _, err := db.Migrate(ctx); err != nil {
		db.Close()
		return "", err
	}
	// Everything into the main file: the copies take that file alone.
	if _, err := db.Write.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		db.Close()
		return "", err
	}
	if err := db.Close(); err != nil {
		return "", err
	}
	return path, os.Rename(built, path)
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// postgresCopy creates a database of its own for the test from the
// migrated PostgreSQL template, dropped when the test ends, and returns
// its URL. It skips the test when PostgreSQL is not configured.
func postgresCopy(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvPostgres)
	if base == "" {
		t.Skipf("%s not set: set it (e.g. postgres://postgres@127.0.0.1:5432/okpay_test?sslmode=disable) to run PostgreSQL tests", EnvPostgres)
	}
	templates.pgOnce.Do(func() { templates.pgAdmin, templates.pgName, templates.pgErr = postgresTemplate(base) })
	if templates.pgErr != nil {
		t.Fatalf("PostgreSQL template: %v", templates.pgErr)
	}
	var b [6]byte
	rand.Read(b[:])
	name := "okpay_t_" + hex.EncodeToString(b[:])
	ctx := context.Background()
	if _, err := templates.pgAdmin.ExecContext(ctx, "CREATE DATABASE "+name+" TEMPLATE "+templates.pgName); err != nil {
		t.Fatalf("create a database from the template: %v", err)
	}
	t.Cleanup(func() {
		templates.pgAdmin.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	return databaseURL(t, base, name)
}

func databaseURL(t testing.TB, base, name string) string {
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s: %v", EnvPostgres, err)
	}
	u.Path = "/" + name
	q := u.Query()
	q.Del("search_path")
	u.RawQuery = q.Encode()
	return u.String()
}

// postgresTemplate opens the process's administrative pool on the test
// server and makes sure the template database of the current migrations
// exists, building it under an advisory lock when it does not (or when an
// earlier build died half-way: a finished template is marked IS_TEMPLATE
// and takes no connections, so nothing changes it afterwards).
func postgresTemplate(base string) (*sql.DB, string, error) {
	digest, err := sqldb.MigrationsDigest(sqldb.Postgres)
	if err != nil {
		return nil, "", err
	}
	name := "okpay_tpl_" + digest
	ctx := context.Background()
	admin, err := sqldb.Open(ctx, base, sqldb.Options{MaxConns: 4})
	if err != nil {
		return nil, "", fmt.Errorf("connect to %s: %w", EnvPostgres, err)
	}
	pool := admin.Write
	conn, err := pool.Conn(ctx)
	if err != nil {
		return nil, "", err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", int64(templateLock)); err != nil {
		return nil, "", err
	}
	defer conn.ExecContext(context.Background(), "SELECT pg_advisory_unlock($1)", int64(templateLock))
	var ready bool
	err = conn.QueryRowContext(ctx, "SELECT datistemplate FROM pg_database WHERE datname = $1", name).Scan(&ready)
	if err == nil && ready {
		return pool, name, nil
	}
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, "", err
	}
	if _, err := conn.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
		return nil, "", err
	}
	if _, err := conn.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		return nil, "", err
	}
	u, err := url.Parse(base)
	if err != nil {
		return nil, "", err
	}
	u.Path = "/" + name
	q := u.Query()
	q.Del("search_path")
	u.RawQuery = q.Encode()
	tpl, err := sqldb.Open(ctx, u.String(), sqldb.Options{MaxConns: 2})
	if err != nil {
		return nil, "", err
	}
	if _, err := tpl.Migrate(ctx); err != nil {
		tpl.Close()
		return nil, "", err
	}
	tpl.Close()
	if _, err := conn.ExecContext(ctx, "ALTER DATABASE "+name+" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false"); err != nil {
		return nil, "", err
	}
	if _, err := conn.ExecContext(ctx, "COMMENT ON DATABASE "+name+" IS '"+templateComment+time.Now().UTC().Format(time.RFC3339)+"'"); err != nil {
		return nil, "", err
	}
	dropStaleTemplates(ctx, conn, name)
	return pool, name, nil
}

// templateLock is the advisory lock under which templates are built and
// dropped.
const templateLock = 0x6f6b7061795f7470 // "okpay_tp"

// templateComment starts the comment of a finished template database; the
// time it was built follows.
const templateComment = "okpay test template built "

// staleTemplate is the age past which a template of other migrations is
// dropped: a checkout of another branch may still be testing with it.
const staleTemplate = 24 * time.Hour

// dropStaleTemplates drops the template databases of other migrations
// built more than staleTemplate ago (or before templates were dated), so
// a developer's server does not collect one per schema change. Run under
// the advisory lock, after a new template was built. Failures only leave
// a template behind.
func dropStaleTemplates(ctx context.Context, conn *sql.Conn, current string) {
	rows, err := conn.QueryContext(ctx, `SELECT d.datname, COALESCE(shobj_description(d.oid, 'pg_database'), '')
		FROM pg_database d WHERE d.datname LIKE 'okpay\_tpl\_%' AND d.datname <> $1`, current)
	if err != nil {
		return
	}
	var stale []string
	for rows.Next() {
		var name, comment string
		if rows.Scan(&name, &comment) != nil {
			continue
		}
		built, err := time.Parse(time.RFC3339, strings.TrimPrefix(comment, templateComment))
		if !strings.HasPrefix(comment, templateComment) || err != nil || time.Since(built) > staleTemplate {
			stale = append(stale, name)
		}
	}
	rows.Close()
	for _, name := range stale {
		if !validTemplateName(name) {
			continue
		}
		conn.ExecContext(ctx, "ALTER DATABASE "+name+" WITH IS_TEMPLATE false")
		conn.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	}
}

// validTemplateName reports whether name is okpay_tpl_ and hex digits (it
// is put into statements unquoted).
func validTemplateName(name string) bool {
	digits, ok := strings.CutPrefix(name, "okpay_tpl_")
	if !ok || digits == "" {
		return false
	}
	for _, c := range digits {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
