package sqldb_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

func TestMigrateTwiceChangesNothing(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		n, err := db.Migrate(ctx) // sqldbtest.Open already migrated once
		if err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Fatalf("second migrate applied %d migrations", n)
		}
		cur, latest, err := db.MigrationVersion(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if cur != latest || cur < 1 {
			t.Fatalf("version %d, latest %d", cur, latest)
		}
	})
}

func TestSQLitePragmas(t *testing.T) {
	db := sqldbtest.Open(t, sqldb.SQLite)
	ctx := context.Background()
	// mmap_size 0 on every connection: see sqliteDSN.
	// The writer's cache is smaller than the readers': see sqliteDSN.
	for pool, q := range map[string]*sql.DB{"writer": db.Write, "readers": db.Read} {
		cache := map[string]string{"writer": "-32768", "readers": "-131072"}[pool]
		for pragma, want := range map[string]string{"journal_mode": "wal", "synchronous": "2", "foreign_keys": "1", "busy_timeout": "10000", "mmap_size": "0", "cache_size": cache} {
			var got string
			if err := q.QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if strings.ToLower(got) != want {
				t.Errorf("%s: PRAGMA %s = %s, want %s", pool, pragma, got, want)
			}
		}
	}
	if _, err := db.Read.ExecContext(ctx, "CREATE TABLE x(a)"); err == nil {
		t.Error("the read pool accepted a write")
	}
}

// The SQLite reader pool defaults to GOMAXPROCS+1 connections (see
// openSQLitePools: every reader reads its pages again after each commit),
// and MaxConns sets it.
func TestSQLiteReaderPool(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct{ opt, want int }{{0, runtime.GOMAXPROCS(0) + 1}, {7, 7}} {
		db, err := sqldb.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "pool.db"), sqldb.Options{MaxConns: c.opt})
		if err != nil {
			t.Fatal(err)
		}
		if got := db.Read.Stats().MaxOpenConnections; got != c.want {
			t.Errorf("MaxConns %d: %d readers, want %d", c.opt, got, c.want)
		}
		if got := db.Write.Stats().MaxOpenConnections; got != 1 {
			t.Errorf("MaxConns %d: %d writers, want 1", c.opt, got)
		}
		db.Close()
	}
}

// A side file (OpenSQLiteSide: derived data such as the ledger's history
// index) is created with the page size asked, commits without fsync
// (synchronous NORMAL in WAL mode), never checkpoints by itself (its
// owner does, CheckpointSide), and its readers cannot write.
func TestSQLiteSidePragmas(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "side.db")
	w, r, err := sqldb.OpenSQLiteSide(ctx, path, 2048, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	defer r.Close()
	for pool, q := range map[string]*sql.DB{"writer": w, "readers": r} {
		want := map[string]string{"journal_mode": "wal", "synchronous": "1", "page_size": "2048", "busy_timeout": "10000"}
		if pool == "writer" {
			want["wal_autocheckpoint"] = "0"
		}
		for pragma, want := range want {
			var got string
			if err := q.QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if strings.ToLower(got) != want {
				t.Errorf("%s: PRAGMA %s = %s, want %s", pool, pragma, got, want)
			}
		}
	}
	if _, err := w.ExecContext(ctx, "CREATE TABLE x(a); INSERT INTO x VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ExecContext(ctx, "INSERT INTO x VALUES (2)"); err == nil {
		t.Error("the read pool accepted a write")
	}
	if err := sqldb.CheckpointSide(ctx, w); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := r.QueryRowContext(ctx, "SELECT count(*) FROM x").Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d rows, %v", n, err)
	}
}

func TestJournalIsAppendOnly(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		mustExec := func(q string) {
			t.Helper()
			if _, err := db.Write.ExecContext(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		mustExec(`INSERT INTO currencies(code, exponent) VALUES ('USD', 2)`)
		mustExec(`INSERT INTO accounts(id, currency, kind, created_at) VALUES (1, 'USD', 'user_wallet', 0), (2, 'USD', 'user_wallet', 0)`)
		mustExec(`INSERT INTO journal_entries(id, reference, type, phase, content_hash, effective_at, created_at) VALUES (10, 'r1', 'transfer', 'posted', 'x', 0, 0)`)
		mustExec(`INSERT INTO postings(entry_id, seq, debit_account, credit_account, amount, currency) VALUES (10, 0, 1, 2, 5, 'USD')`)
		for _, q := range []string{
			`UPDATE journal_entries SET type = 'x'`,
			`DELETE FROM journal_entries`,
			`UPDATE postings SET amount = 6`,
			`DELETE FROM postings`,
		} {
			if _, err := db.Write.ExecContext(ctx, q); err == nil || !strings.Contains(err.Error(), "append-only") {
				t.Errorf("%s: err = %v, want append-only refusal", q, err)
			}
		}
		if db.Dialect == sqldb.Postgres {
			if _, err := db.Write.ExecContext(ctx, `TRUNCATE postings`); err == nil {
				t.Error("TRUNCATE postings succeeded")
			}
		}
	})
}

func TestOpenDefaultsToSQLite(t *testing.T) {
	dir := t.TempDir()
	db, err := sqldb.Open(context.Background(), dir+"/sub/okpay.db", sqldb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if db.Dialect != sqldb.SQLite || db.Path != dir+"/sub/okpay.db" {
		t.Fatalf("dialect %s path %s", db.Dialect, db.Path)
	}
}

func TestSyncWAL(t *testing.T) {
	db := sqldbtest.Open(t, sqldb.SQLite)
	for i := 0; i < 3; i++ {
		if _, err := db.Write.Exec(`INSERT INTO currencies(code, exponent) VALUES ($1, 2)`, fmt.Sprintf("Q%02d", i)); err != nil {
			t.Fatal(err)
		}
		if err := db.SyncWAL(); err != nil {
			t.Fatalf("SyncWAL: %v", err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

// On PostgreSQL SyncWAL flushes the log past every commit made before it,
// however the server's synchronous_commit is set, and recovers from the
// loss of its connection.
func TestSyncWALPostgres(t *testing.T) {
	db := sqldbtest.Open(t, sqldb.Postgres)
	ctx := context.Background()
	conn, err := db.Write.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Commits that do not wait for the flush, then where the log ends.
	// (The WAL writer flushes on its own only every wal_writer_delay, 200
	// ms by default.)
	for round := 0; round < 3; round++ {
		if _, err := conn.ExecContext(ctx, `SET synchronous_commit = off`); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.ExecContext(ctx, `INSERT INTO currencies(code, exponent) VALUES ($1, 2)`, fmt.Sprintf("QA%d", round)); err != nil {
			t.Fatal(err)
		}
		var end string
		if err := conn.QueryRowContext(ctx, `SELECT pg_current_wal_insert_lsn()::text`).Scan(&end); err != nil {
			t.Fatal(err)
		}
		if round == 2 {
			// Lose SyncWAL's connection (this test's database only: other
			// tests run beside it; waiting until it is gone): the next call
			// fails on it, the one after makes another.
			if _, err := db.Write.ExecContext(ctx, `SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE '%pg_logical_emit_message%' AND pid <> pg_backend_pid()`); err != nil {
				t.Fatal(err)
			}
			if err := db.SyncWAL(); err == nil {
				t.Log("SyncWAL on a killed connection succeeded (it was replaced before use)")
			}
		}
		if err := db.SyncWAL(); err != nil {
			t.Fatalf("round %d: SyncWAL: %v", round, err)
		}
		var flushed bool
		if err := conn.QueryRowContext(ctx, `SELECT pg_current_wal_flush_lsn() >= $1::pg_lsn`, end).Scan(&flushed); err != nil {
			t.Fatal(err)
		}
		if !flushed {
			t.Fatalf("round %d: the log is not flushed past %s after SyncWAL", round, end)
		}
	}
}

// A path holding '#' or '%' (a subtest named "sqlite#01" gets such a
// temporary folder) opens that very file, not a truncated path elsewhere.
func TestSQLitePathWithURICharacters(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a#01 b%20c")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "okpay.db")
	db, err := sqldb.Open(context.Background(), "sqlite:"+path, sqldb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Write.Exec(`CREATE TABLE probe (x INTEGER)`); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the database is not where it was asked to be: %v", err)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(dir), "a")); err == nil {
		t.Fatal("a truncated path was opened instead")
	}
}

// TestMigrationScrubsInAppFreezeTokens: migration 30 removes the plain
// freeze tokens that in-app notices used to carry, keeping the rest of
// their text, and leaves other notices alone.
func TestMigrationScrubsInAppFreezeTokens(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		if err := sqldb.DownTo(ctx, db, 29); err != nil {
			t.Fatal(err)
		}
		tok1 := "AbC-_0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMN" // a token as issued
		tok2 := "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"             // a shorter one
		rows := map[int]string{
			1: "Sent 12.00 USD. Not you? Freeze your account: https://pay.example/freeze/" + tok1 + "\nThanks.",
			2: "New sign-in. https://pay.example/freeze/" + tok2 + " or https://pay.example/freeze/" + tok1 + ".",
			3: "Your withdrawal is on its way. See https://pay.example/account/freeze for help.",
			4: "你的账户已登录。不是你？https://pay.example/freeze/" + tok1,
		}
		for id, body := range rows {
			if _, err := db.Write.ExecContext(ctx, `INSERT INTO inapp_notifications (id, dedupe_key, user_id, kind, title, body, created_at) VALUES ($1, $2, 1, 'k', 't', $3, 0)`,
				id, fmt.Sprint("d", id), body); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		want := map[int]string{
			1: "Sent 12.00 USD. Not you? Freeze your account: https://pay.example/account/freeze\nThanks.",
			2: "New sign-in. https://pay.example/account/freeze or https://pay.example/account/freeze.",
			3: rows[3],
			4: "你的账户已登录。不是你？https://pay.example/account/freeze",
		}
		for id, w := range want {
			var got string
			if err := db.Read.QueryRowContext(ctx, `SELECT body FROM inapp_notifications WHERE id = $1`, id).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != w {
				t.Errorf("row %d: %q, want %q", id, got, w)
			}
			if strings.Contains(got, tok1) || strings.Contains(got, tok2) {
				t.Errorf("row %d still holds a token: %q", id, got)
			}
		}
	})
}

// TestMigrationsListByUser: on SQLite, migrations 39 (in-app notices) and
// 40 (wallet transactions) move the rows already written into the
// per-user table and queue new ones (trigger); rolled back, the index by
// user is back and nothing queues; migrated again, nothing is lost. On
// PostgreSQL they change nothing: the indexes by user stay.
func TestMigrationsListByUser(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		if db.Dialect != sqldb.SQLite {
			// PostgreSQL keeps its indexes by user and has no queues.
			var idx, queues int
			if err := db.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM pg_indexes WHERE schemaname = current_schema()
				AND indexname IN ('inapp_notifications_user', 'wallet_txns_user')`).Scan(&idx); err != nil || idx != 2 {
				t.Fatalf("PostgreSQL's indexes by user: %d of 2 (%v)", idx, err)
			}
			if err := db.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema()
				AND table_name IN ('inapp_unindexed', 'wallet_txns_unindexed', 'inapp_by_user', 'wallet_txns_by_user')`).Scan(&queues); err != nil || queues != 0 {
				t.Fatalf("PostgreSQL has %d of SQLite's queue tables (%v)", queues, err)
			}
			return
		}
		for _, c := range []struct {
			version            int64
			table, queue, list string
			index, insert      string
		}{
			{39, "inapp_notifications", "inapp_unindexed", "inapp_by_user", "inapp_notifications_user",
				`INSERT INTO inapp_notifications (id, dedupe_key, user_id, kind, title, body, created_at) VALUES ($1, 'd' || $1, $2, 'k', 't', 'b', 0)`},
			{40, "wallet_txns", "wallet_txns_unindexed", "wallet_txns_by_user", "wallet_txns_user",
				`INSERT INTO wallet_txns (id, user_id, type, status, currency, amount, created_at, updated_at) VALUES ($1, $2, 'deposit', 'completed', 'USD', 1, 0, 0)`},
		} {
			insert := func(id, user int64) {
				t.Helper()
				if _, err := db.Write.ExecContext(ctx, c.insert, id, user); err != nil {
					t.Fatal(err)
				}
			}
			rows := func(table string) string {
				t.Helper()
				r, err := db.Read.QueryContext(ctx, `SELECT user_id, id FROM `+table+` ORDER BY user_id, id`)
				if err != nil {
					t.Fatal(err)
				}
				defer r.Close()
				var out []string
				for r.Next() {
					var a, b int64
					if err := r.Scan(&a, &b); err != nil {
						t.Fatal(err)
					}
					out = append(out, fmt.Sprint(a, ":", b))
				}
				return strings.Join(out, " ")
			}
			if err := sqldb.DownTo(ctx, db, c.version-1); err != nil {
				t.Fatal(err)
			}
			insert(3, 7)
			insert(1, 7)
			insert(2, 8)
			if _, err := db.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			if got := rows(c.list); got != "7:1 7:3 8:2" {
				t.Fatalf("%s after migration %d: %q", c.list, c.version, got)
			}
			insert(4, 8)
			if got := rows(c.queue); got != "8:4" {
				t.Fatalf("%s: %q, want the new row", c.queue, got)
			}
			if err := sqldb.DownTo(ctx, db, c.version-1); err != nil {
				t.Fatal(err)
			}
			insert(5, 7)
			var idx int
			if err := db.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = $1`, c.index).Scan(&idx); err != nil || idx != 1 {
				t.Fatalf("%s after rolling back: %d (%v)", c.index, idx, err)
			}
			if _, err := db.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			if got := rows(c.list); got != "7:1 7:3 7:5 8:2 8:4" {
				t.Fatalf("%s after migrating again: %q", c.list, got)
			}
			if got := rows(c.queue); got != "" {
				t.Fatalf("%s after migrating again: %q", c.queue, got)
			}
		}
	})
}
