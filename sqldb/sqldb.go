// Package sqldb opens OKPay's database — an embedded SQLite file or a
// PostgreSQL server — applies the embedded migrations of its dialect, and
// hides the few places where the two engines differ.
//
// A DB has two pools. On SQLite, Write holds one connection (SQLite has one
// writer; transactions start with BEGIN IMMEDIATE) and Read holds several
// read-only connections that WAL lets run beside the writer. On PostgreSQL
// both are the same pool.
package sqldb

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Dialect names a database engine.
type Dialect string

// The supported engines.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// DefaultURL is where OKPay keeps its data when nothing is configured.
const DefaultURL = "sqlite:okpay-data/okpay.db"

//go:embed migrations
var migrations embed.FS

// DB is an open database.
type DB struct {
	Dialect Dialect
	Write   *sql.DB
	Read    *sql.DB
	// Path is the SQLite file (empty on PostgreSQL).
	Path string

	stop, stopped chan struct{} // the SQLite checkpointer
	closeOnce     sync.Once

	walMu  sync.Mutex
	wal    *os.File  // the SQLite WAL, for SyncWAL
	pgSync *sql.Conn // PostgreSQL: SyncWAL's connection
}

// Options tune Open.
type Options struct {
	// MaxConns caps the PostgreSQL pool (default 32) and the SQLite reader
	// pool (default GOMAXPROCS+1, see openSQLitePools).
	MaxConns int
}

// Open opens the database named by rawURL: "postgres://..." or
// "postgresql://..." for PostgreSQL; "sqlite:PATH", "file:PATH" or a plain
// path for SQLite ("" means DefaultURL). The SQLite file's folder is created
// when missing.
func Open(ctx context.Context, rawURL string, opts Options) (*DB, error) {
	if rawURL == "" {
		rawURL = DefaultURL
	}
	switch {
	case strings.HasPrefix(rawURL, "postgres://"), strings.HasPrefix(rawURL, "postgresql://"):
		return openPostgres(ctx, rawURL, opts)
	default:
		path := strings.TrimPrefix(strings.TrimPrefix(rawURL, "sqlite:"), "file:")
		if i := strings.IndexByte(path, '?'); i >= 0 {
			path = path[:i]
		}
		if path == "" {
			return nil, errors.New("sqldb: empty SQLite path")
		}
		return openSQLite(ctx, path, opts)
	}
}

func sqliteDSN(path string, readOnly bool) string {
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "synchronous(FULL)", "foreign_keys(1)", "busy_timeout(10000)"} {
		q.Add("_pragma", p)
	}
	// A large page cache keeps the hot b-tree pages of a growing journal in
	// memory (the default 2 MB thrashes within minutes of load). No memory
	// mapping (mmap_size stays 0): a connection that begins a read after
	// another connection's commit drops its page cache and, when mapped,
	// unmaps the whole file, so under a stream of commits every read
	// faulted its pages back in one by one. In okpay bench p2p, where each
	// request reads through the pool between the writer's commits, the
	// faults and the munmap calls were 16% of the process's CPU; without
	// the mapping a transfer cost 22% less CPU and throughput rose 24%.
	q.Add("_pragma", "temp_store(MEMORY)")
	if readOnly {
		q.Add("_pragma", "cache_size(-131072)")
		q.Add("_pragma", "query_only(1)")
	} else {
		// The writer's cache is smaller: when a page split reorders the new
		// pages (balance_nonroot), SQLite renumbers one through the lock
		// page (1 GiB in), and the commit that follows then walks its whole
		// page-cache hash table to drop pages past the end of the file,
		// holding the page cache's mutex, which this SQLite build shares
		// between all connections (the readers wait). With 128 MiB cached
		// the walk was 7% of the writer's CPU in okpay bench p2p (~1.4 ms a
		// commit); at 32 MiB it is a quarter of that, and transfers/s rose
		// 9% (bench-results/wallet.md, sitting 23).
		q.Add("_pragma", "cache_size(-32768)")
		q.Set("_txlock", "immediate")
		// Its WAL frames reach the file in one write call per commit
		// (walvfs.go).
		q.Set("vfs", walVFSName)
		// The writer never checkpoints: a background connection does
		// (see checkpointer), so commits do not wait for the copy back
		// into the database file and its fsync.
		q.Add("_pragma", "wal_autocheckpoint(0)")
	}
	return "file:" + uriPath.Replace(path) + "?" + q.Encode()
}

// uriPath escapes what would end or alter the path part of an SQLite URI
// filename: a '#' would start a fragment and a '?' the parameters, both
// silently truncating the path (a file elsewhere would be opened), and
// SQLite decodes %HH sequences.
var uriPath = strings.NewReplacer("%", "%25", "?", "%3F", "#", "%23")

func openSQLite(ctx context.Context, path string, opts Options) (*DB, error) {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("sqldb: create data folder: %w", err)
		}
	}
	if err := createSQLite(ctx, path, sqlitePageSize); err != nil {
		return nil, err
	}
	w, r, err := openSQLitePools(ctx, path, sqliteDSN(path, false), sqliteDSN(path, true), opts.MaxConns)
	if err != nil {
		return nil, err
	}
	db := &DB{Dialect: SQLite, Write: w, Read: r, Path: path, stop: make(chan struct{}), stopped: make(chan struct{})}
	cp, err := sql.Open("sqlite", sqliteDSN(path, false))
	if err != nil {
		db.Close()
		return nil, err
	}
	cp.SetMaxOpenConns(1)
	go db.checkpointer(cp)
	return db, nil
}

// OpenSQLiteSide opens (creating it when missing) a second SQLite file for
// data derived from the main database, which the code that owns it can
// rebuild when the file is lost, with pages of pageSize bytes (when it
// creates the file): WAL with synchronous NORMAL (a crash may
// lose its last commits, never corrupt it), so its commits need no fsync;
// one writing connection (BEGIN IMMEDIATE) that never checkpoints by
// itself (see CheckpointSide), and a pool of readers. A file
// of its own has its own write lock: what writes it runs beside the main
// file's writer, on another core, and its commits do not invalidate the
// main file's readers' page caches (nor the main file's commits its).
func OpenSQLiteSide(ctx context.Context, path string, pageSize, readers int) (w, r *sql.DB, err error) {
	if err := createSQLite(ctx, path, pageSize); err != nil {
		return nil, nil, err
	}
	dsn := func(readOnly bool) string {
		q := url.Values{}
		for _, p := range []string{"journal_mode(WAL)", "synchronous(NORMAL)", "busy_timeout(10000)", "temp_store(MEMORY)", "cache_size(-16384)"} {
			q.Add("_pragma", p)
		}
		if readOnly {
			q.Add("_pragma", "query_only(1)")
		} else {
			q.Set("_txlock", "immediate")
			q.Set("vfs", walVFSName)
			// The owner checkpoints when it sees fit (CheckpointSide): a
			// page rewritten by many commits is then copied back once.
			q.Add("_pragma", "wal_autocheckpoint(0)")
		}
		return "file:" + uriPath.Replace(path) + "?" + q.Encode()
	}
	return openSQLitePools(ctx, path, dsn(false), dsn(true), readers)
}

// openSQLitePools opens an SQLite file's one writing connection (checked)
// and its pool of readers (default GOMAXPROCS+1).
//
// The readers are few because each one reads its pages again after every
// commit: a connection that begins a read after another connection has
// committed drops its whole page cache. More readers than goroutines can
// run at once only spread the queries over more cold caches (one spare
// covers a reader whose goroutine is descheduled mid-query). In okpay
// bench p2p, where every request reads through the pool between the
// ledger's commits, 4 readers instead of 8 on two CPUs (GOMAXPROCS 3) gave
// +10% transfers/s, the median of five alternating pairs
// (bench-results/wallet.md, sitting 34).
func openSQLitePools(ctx context.Context, path, writeDSN, readDSN string, readers int) (w, r *sql.DB, err error) {
	if w, err = openSQLiteDB(writeDSN); err != nil {
		return nil, nil, fmt.Errorf("sqldb: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, nil, fmt.Errorf("sqldb: open %s: %w", path, err)
	}
	if r, err = openSQLiteDB(readDSN); err != nil {
		w.Close()
		return nil, nil, fmt.Errorf("sqldb: open %s: %w", path, err)
	}
	if readers <= 0 {
		readers = runtime.GOMAXPROCS(0) + 1
	}
	r.SetMaxOpenConns(readers)
	r.SetMaxIdleConns(readers)
	r.SetConnMaxIdleTime(0)
	return w, r, nil
}

// CheckpointSide copies what w, a side file's writer (OpenSQLiteSide), has
// committed back into the file, as far as readers allow, so that its log
// can start over.
func CheckpointSide(ctx context.Context, w *sql.DB) error {
	_, err := w.ExecContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)")
	return err
}

// sqlitePageSize is the page size of new SQLite files. Every commit
// writes each page it dirtied to the WAL and fsyncs it, and a ledger
// commit dirties index pages all over the file, so smaller pages mean
// fewer bytes per commit.
var sqlitePageSize = 4096

// createSQLite makes a new database file with the chosen page size (which
// must be set before the file is switched to WAL mode).
func createSQLite(ctx context.Context, path string, pageSize int) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	db, err := sql.Open("sqlite", "file:"+uriPath.Replace(path))
	if err != nil {
		return err
	}
	defer db.Close()
	for _, q := range []string{fmt.Sprintf("PRAGMA page_size = %d", pageSize), "PRAGMA journal_mode = WAL", "VACUUM"} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("sqldb: create %s: %w", path, err)
		}
	}
	return nil
}

// checkpointInterval is how often the background checkpointer copies the
// WAL back into the database file.
const checkpointInterval = 250 * time.Millisecond

// checkpointer runs PASSIVE checkpoints on its own connection: they never
// block the writer or readers, and run on another core than the commits.
// When the WAL has grown large (readers kept old snapshots), it asks for
// a RESTART checkpoint so the log starts over.
func (db *DB) checkpointer(cp *sql.DB) {
	defer close(db.stopped)
	defer func() {
		cp.ExecContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)")
		cp.Close()
	}()
	t := time.NewTicker(checkpointInterval)
	defer t.Stop()
	for {
		select {
		case <-db.stop:
			return
		case <-t.C:
		}
		var busy, logFrames, done int
		if err := cp.QueryRow("PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &logFrames, &done); err != nil {
			continue
		}
		if logFrames > 100000 && done == logFrames {
			cp.Exec("PRAGMA wal_checkpoint(RESTART)")
		}
	}
}

func openPostgres(ctx context.Context, rawURL string, opts Options) (*DB, error) {
	db, err := sql.Open("pgx", rawURL)
	if err != nil {
		return nil, fmt.Errorf("sqldb: open postgres: %w", err)
	}
	n := opts.MaxConns
	if n <= 0 {
		n = 32
	}
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n) // a cold pool costs several times the throughput
	db.SetConnMaxIdleTime(0)
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqldb: connect to postgres: %w", err)
	}
	return &DB{Dialect: Postgres, Write: db, Read: db}, nil
}

// SyncWAL makes every transaction committed so far durable. The ledger
// commits its larger batches without waiting for the log's flush and calls
// SyncWAL before it acknowledges them, so the flush of one batch overlaps
// the work of the next; a crash can only lose a suffix of unacknowledged
// commits (both engines recover a prefix of their log).
//
// On SQLite the ledger commits with synchronous=NORMAL (no fsync inside
// COMMIT) and SyncWAL fsyncs the write-ahead log. On PostgreSQL the ledger
// commits with synchronous_commit off (SET LOCAL) and SyncWAL commits a
// transaction that writes one WAL record (a transactional logical message:
// no table, any wal_level) with synchronous_commit on, so PostgreSQL
// flushes its log up to that commit, which lies after every commit that
// returned before SyncWAL was called.
func (db *DB) SyncWAL() error {
	db.walMu.Lock()
	defer db.walMu.Unlock()
	if db.Dialect == Postgres {
		return db.syncPostgres()
	}
	name := db.Path + "-wal"
	if db.wal != nil {
		// Reopen if the log was replaced (same path, another file).
		a, errA := db.wal.Stat()
		b, errB := os.Stat(name)
		if errA != nil || errB != nil || !os.SameFile(a, b) {
			db.wal.Close()
			db.wal = nil
		}
	}
	if db.wal == nil {
		f, err := os.OpenFile(name, os.O_RDWR, 0)
		if err != nil {
			return fmt.Errorf("sqldb: open the WAL to sync it: %w", err)
		}
		db.wal = f
	}
	if err := db.wal.Sync(); err != nil {
		return fmt.Errorf("sqldb: fsync the WAL: %w", err)
	}
	return nil
}

// pgSyncTimeout bounds one PostgreSQL log flush.
const pgSyncTimeout = 30 * time.Second

// syncPostgres flushes PostgreSQL's log (see SyncWAL) through a connection
// of its own, so a pool busy with reads never delays an acknowledgement.
// Called with walMu held.
func (db *DB) syncPostgres() error {
	ctx, cancel := context.WithTimeout(context.Background(), pgSyncTimeout)
	defer cancel()
	if db.pgSync == nil {
		c, err := db.Write.Conn(ctx)
		if err != nil {
			return fmt.Errorf("sqldb: connect to flush the log: %w", err)
		}
		// Stated once for the connection, not assumed: the server's or
		// the role's default could be off.
		if _, err := c.ExecContext(ctx, `SET synchronous_commit = on`); err != nil {
			c.Close()
			return fmt.Errorf("sqldb: connect to flush the log: %w", err)
		}
		db.pgSync = c
	}
	if _, err := db.pgSync.ExecContext(ctx, `SELECT pg_logical_emit_message(true, 'okpay', '')`); err != nil {
		db.pgSync.Close()
		db.pgSync = nil
		return fmt.Errorf("sqldb: flush the log: %w", err)
	}
	return nil
}

// Close closes both pools.
func (db *DB) Close() error {
	if db.stop != nil {
		db.closeOnce.Do(func() {
			close(db.stop)
			<-db.stopped
			db.walMu.Lock()
			if db.wal != nil {
				db.wal.Close()
				db.wal = nil
			}
			db.walMu.Unlock()
		})
	}
	db.walMu.Lock()
	if db.pgSync != nil {
		db.pgSync.Close()
		db.pgSync = nil
	}
	db.walMu.Unlock()
	err := db.Write.Close()
	if db.Read != db.Write {
		err = errors.Join(err, db.Read.Close())
	}
	return err
}

// Migrate applies every pending migration of the database's dialect and
// returns how many it applied. Running it again applies none. On
// PostgreSQL a session lock keeps concurrent nodes from migrating twice.
func (db *DB) Migrate(ctx context.Context) (int, error) {
	p, err := db.provider()
	if err != nil {
		return 0, err
	}
	res, err := p.Up(ctx)
	if err != nil {
		return len(res), fmt.Errorf("sqldb: migrate: %w", err)
	}
	return len(res), nil
}

// MigrationVersion reports the applied schema version and the newest one
// known to this binary.
func (db *DB) MigrationVersion(ctx context.Context) (current, latest int64, err error) {
	p, err := db.provider()
	if err != nil {
		return 0, 0, err
	}
	current, err = p.GetDBVersion(ctx)
	if err != nil {
		return 0, 0, err
	}
	srcs := p.ListSources()
	if len(srcs) > 0 {
		latest = srcs[len(srcs)-1].Version
	}
	return current, latest, nil
}

// MigrationsDigest returns a digest of the embedded migrations of dialect
// d: two binaries with the same digest build the same schema (tests key
// their migrated template databases by it).
func MigrationsDigest(d Dialect) (string, error) {
	h := sha256.New()
	err := fs.WalkDir(migrations, "migrations/"+string(d), func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := migrations.ReadFile(path)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s %d\n", path, len(b))
		h.Write(b)
		return nil
	})
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)[:8]), nil
}

func (db *DB) provider() (*goose.Provider, error) {
	sub, err := fs.Sub(migrations, "migrations/"+string(db.Dialect))
	if err != nil {
		return nil, err
	}
	var opts []goose.ProviderOption
	dialect := goose.DialectSQLite3
	if db.Dialect == Postgres {
		dialect = goose.DialectPostgres
		// The lock is per database and schema: nodes migrating the same
		// schema wait for each other, while separate schemas on one
		// server (tests run hundreds in parallel) do not.
		var where string
		if err := db.Write.QueryRow(`SELECT current_database() || '.' || COALESCE(current_schema(), '')`).Scan(&where); err != nil {
			return nil, fmt.Errorf("sqldb: find the schema to lock: %w", err)
		}
		h := fnv.New64a()
		h.Write([]byte(where))
		locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(int64(h.Sum64() &^ (1 << 63))))
		if err != nil {
			return nil, err
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	return goose.NewProvider(dialect, db.Write, sub, opts...)
}

// IsRetryable reports whether err is a transient conflict that a retry of
// the whole transaction can cure: SQLITE_BUSY/LOCKED, PostgreSQL
// serialization failures (40001) and deadlocks (40P01).
func IsRetryable(err error) bool {
	if err == nil {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "40001" || pgErr.Code == "40P01"
	}
	var sqErr *sqlite.Error
	if errors.As(err, &sqErr) {
		switch sqErr.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return true
		}
	}
	return false
}

// IsUniqueViolation reports whether err is a unique-constraint violation.
func IsUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "23505"
	}
	var sqErr *sqlite.Error
	if errors.As(err, &sqErr) {
		return sqErr.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || sqErr.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

// Placeholders appends n placeholders "$k" starting at k=start, joined by
// commas, to b. Both engines accept $N. For long lists on SQLite see
// ListPlaceholders.
func Placeholders(b []byte, start, n int) []byte {
	for i := 0; i < n; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '$')
		b = appendInt(b, start+i)
	}
	return b
}

// ListPlaceholders appends the n placeholders of a statement's trailing
// list of values (a multi-row VALUES or an IN list), numbered from start,
// to b: "$start,...". On SQLite they are anonymous ("?,?,..."). SQLite
// keeps a statement's numbered parameters in a list that binding walks
// from the start for every parameter, so a statement with thousands of
// them cost time quadratic in their number (a dispatcher round's outbox
// insert of 400 rows × 13 values spent 40% of its time there). An
// anonymous "?" takes the number after the largest before it, so on SQLite
// every other parameter of the statement must come before the list in
// the text, numbered 1 to start-1 in order, and none after it.
func ListPlaceholders(d Dialect, b []byte, start, n int) []byte {
	if d != SQLite {
		return Placeholders(b, start, n)
	}
	for i := 0; i < n; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '?')
	}
	return b
}

func appendInt(b []byte, n int) []byte {
	if n >= 10 {
		b = appendInt(b, n/10)
	}
	return append(b, byte('0'+n%10))
}
