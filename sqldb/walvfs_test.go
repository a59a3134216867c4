package sqldb_test

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
	_ "modernc.org/sqlite"
)

// writeCalls reads how many write system calls this process has made
// (/proc/self/io, syscw).
func writeCalls(t *testing.T) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/io")
	if err != nil {
		t.Skipf("no /proc/self/io to count write calls: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "syscw: "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Skip("no syscw in /proc/self/io")
	return 0
}

// A writer connection writes a commit's WAL frames with one call (walvfs.go)
// where SQLite alone makes two a page; the rows are all there and the file
// is sound.
func TestWALFramesOneWriteACommit(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "side.db")
	w, r, err := sqldb.OpenSQLiteSide(ctx, path, 4096, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := w.Exec(`CREATE TABLE t (id INTEGER PRIMARY KEY, b BLOB NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	commit := func(db *sql.DB, from int) int64 {
		t.Helper()
		before := writeCalls(t)
		err := func() error {
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			defer tx.Rollback()
			for i := range 60 { // 60 rows of 1 KiB: ~16 pages and their index
				if _, err := tx.Exec(`INSERT INTO t (id, b) VALUES ($1, randomblob(1000))`, from+i); err != nil {
					return err
				}
			}
			return tx.Commit()
		}()
		if err != nil {
			t.Fatal(err)
		}
		return writeCalls(t) - before
	}
	commit(w, 0) // the log's header
	var ours []int64
	for i := 1; i <= 3; i++ {
		ours = append(ours, commit(w, i*100))
	}
	w.Close()

	// The same commits through SQLite's own VFS.
	plain, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	plain.SetMaxOpenConns(1)
	commit(plain, 10000)
	var theirs []int64
	for i := 1; i <= 3; i++ {
		theirs = append(theirs, commit(plain, 10000+i*100))
	}
	t.Logf("write calls a commit: %v with walVFS, %v without", ours, theirs)
	for i := range ours {
		if ours[i] > 3 || theirs[i] < 16 {
			t.Fatalf("write calls a commit: %v with walVFS, %v without; want ≤ 3 and ≥ 16", ours, theirs)
		}
	}
	var n int
	var ok string
	if err := plain.QueryRow(`SELECT COUNT(*) FROM t`).Scan(&n); err != nil || n != 8*60 {
		t.Fatalf("%d rows (%v), want %d", n, err, 8*60)
	}
	if err := plain.QueryRow(`PRAGMA integrity_check`).Scan(&ok); err != nil || ok != "ok" {
		t.Fatalf("integrity_check: %q %v", ok, err)
	}
}

// Under commits of every size — one row, and several megabytes that spill
// out of a small page cache mid-transaction (frames rewritten in place) —
// and checkpoints that start the log over, readers on other connections
// only ever see whole commits, and the file is sound after.
func TestWALVFSWholeCommits(t *testing.T) {
	db := sqldbtest.Open(t, sqldb.SQLite)
	ctx := context.Background()
	if _, err := db.Write.Exec(`CREATE TABLE wv (id INTEGER PRIMARY KEY, k INTEGER NOT NULL, b BLOB NOT NULL);
		CREATE INDEX wv_k ON wv(k);
		CREATE TABLE wv_total (id INTEGER PRIMARY KEY, rows INTEGER NOT NULL, bytes INTEGER NOT NULL);
		INSERT INTO wv_total VALUES (1, 0, 0);
		PRAGMA cache_size = 64;
		PRAGMA synchronous = NORMAL -- as the ledger's commits: no fsync in them (SyncWAL after)`); err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	var gate sync.RWMutex // held by the log's restarts, which wait for readers
	errs := make(chan error, 8)
	for range 3 { // readers: a snapshot's rows always match its total
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				var rows, bytes, wantRows, wantBytes int64
				gate.RLock()
				err := db.Read.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM wv), (SELECT COALESCE(SUM(length(b)), 0) FROM wv),
					rows, bytes FROM wv_total`).Scan(&rows, &bytes, &wantRows, &wantBytes)
				gate.RUnlock()
				if err == nil && (rows != wantRows || bytes != wantBytes) {
					err = fmt.Errorf("a reader saw %d rows of %d bytes, the total says %d and %d", rows, bytes, wantRows, wantBytes)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	cp, err := sql.Open("sqlite", "file:"+db.Path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Close()
	restarts := 0
	rng := rand.New(rand.NewPCG(1, 2))
	id := 0
	for i := range 60 {
		n, size := 1, 100
		switch i % 6 {
		case 2:
			n, size = 200, 1000
		case 5:
			n, size = 1500, 2000 // ~3 MB: spills, and passes the megabyte
		}
		err := db.InTx(ctx, func(tx *sql.Tx) error {
			var bytes int64
			for range n {
				id++
				if _, err := tx.Exec(`INSERT INTO wv (id, k, b) VALUES ($1, $2, randomblob($3))`, id, rng.Int64(), size); err != nil {
					return err
				}
				bytes += int64(size)
			}
			if i%6 == 5 { // rewrite pages written earlier in the transaction
				if _, err := tx.Exec(`UPDATE wv SET k = k + 1 WHERE id > $1`, id-n); err != nil {
					return err
				}
			}
			_, err := tx.Exec(`UPDATE wv_total SET rows = rows + $1, bytes = bytes + $2`, n, bytes)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.SyncWAL(); err != nil {
			t.Fatal(err)
		}
		if i%10 == 9 { // the log starts over
			gate.Lock()
			var busy, logged, done int
			if err := cp.QueryRowContext(ctx, `PRAGMA wal_checkpoint(RESTART)`).Scan(&busy, &logged, &done); err == nil && busy == 0 {
				restarts++
			}
			gate.Unlock()
		}
	}
	stop.Store(true)
	wg.Wait()
	if restarts == 0 {
		t.Error("the log never started over")
	}
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	path := db.Path
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	plain, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	var ok string
	var rows, total int
	if err := plain.QueryRow(`PRAGMA integrity_check`).Scan(&ok); err != nil || ok != "ok" {
		t.Fatalf("integrity_check: %q %v", ok, err)
	}
	if err := plain.QueryRow(`SELECT (SELECT COUNT(*) FROM wv), rows FROM wv_total`).Scan(&rows, &total); err != nil || rows != id || total != id {
		t.Fatalf("after reopening: %d rows, total %d (%v), want %d", rows, total, err, id)
	}
}
