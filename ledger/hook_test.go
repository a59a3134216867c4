package ledger_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/ledger"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

// hookRows is a caller's table written by hooks in the ledger's
// transaction.
func hookRows(t *testing.T, db *sqldb.DB) {
	t.Helper()
	if _, err := db.Write.Exec(`CREATE TABLE hook_rows (ref TEXT PRIMARY KEY, entry_id BIGINT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
}

func hookRowCount(t *testing.T, db *sqldb.DB, ref string) (n int, entryID int64) {
	t.Helper()
	if err := db.Read.QueryRow(`SELECT COUNT(*), COALESCE(MAX(entry_id), 0) FROM hook_rows WHERE ref = $1`, ref).Scan(&n, &entryID); err != nil {
		t.Fatal(err)
	}
	return n, entryID
}

func insertHook(ref string, calls *int, mu *sync.Mutex) ledger.Hook {
	return func(ctx context.Context, tx *sql.Tx, entryID int64) error {
		mu.Lock()
		*calls++
		mu.Unlock()
		_, err := tx.ExecContext(ctx, `INSERT INTO hook_rows (ref, entry_id) VALUES ($1, $2)`, ref, entryID)
		return err
	}
}

func TestHook(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		f := newFixture(t, db)
		hookRows(t, db)
		ctx := context.Background()
		a, b := f.wallet(t, 1000), f.wallet(t, 0)
		var mu sync.Mutex
		submit := func(ref string, amount int64, hook ledger.Hook) (ledger.Outcome, error) {
			return f.l.Submit(ctx, ledger.Op{Entry: &ledger.EntryInput{Reference: ref, Type: "transfer",
				Postings: []ledger.Posting{{Debit: a, Credit: b, Amount: amount, Currency: "USD"}}}, Hook: hook}, nil)
		}

		t.Run("writes commit with the entry and see its id", func(t *testing.T) {
			calls := 0
			out, err := submit("h-ok", 100, insertHook("h-ok", &calls, &mu))
			if err != nil {
				t.Fatal(err)
			}
			n, id := hookRowCount(t, db, "h-ok")
			if n != 1 || id != out.Entry.ID {
				t.Fatalf("hook row: n=%d entry %d, want 1 row for entry %d", n, id, out.Entry.ID)
			}
			// A retry of the reference is answered from the journal: the
			// hook does not run again (were it run, its insert would collide).
			calls = 0
			again, err := submit("h-ok", 100, insertHook("h-ok", &calls, &mu))
			if err != nil || !again.Existing || again.Entry.ID != out.Entry.ID {
				t.Fatalf("retry: %+v %v", again, err)
			}
			if n, _ := hookRowCount(t, db, "h-ok"); n != 1 {
				t.Fatalf("retry wrote %d hook rows", n)
			}
		})

		t.Run("a coded error refuses the request alone and keeps nothing", func(t *testing.T) {
			before := f.balance(t, a)
			refuse := func(ctx context.Context, tx *sql.Tx, entryID int64) error {
				if _, err := tx.ExecContext(ctx, `INSERT INTO hook_rows (ref, entry_id) VALUES ('h-refused', $1)`, entryID); err != nil {
					return err
				}
				return okpay.Errorf("limit_exceeded", "over the daily limit")
			}
			_, err := submit("h-refused", 100, refuse)
			if okpay.ErrorCode(err) != "limit_exceeded" {
				t.Fatalf("err = %v, want limit_exceeded", err)
			}
			if n, _ := hookRowCount(t, db, "h-refused"); n != 0 {
				t.Fatal("the refused hook's write was kept")
			}
			if got := f.balance(t, a); got != before {
				t.Fatalf("balance moved: %+v → %+v", before, got)
			}
		})

		t.Run("a refused entry rolls the hook's writes back", func(t *testing.T) {
			calls := 0
			_, err := submit("h-broke", 1_000_000, insertHook("h-broke", &calls, &mu))
			if okpay.ErrorCode(err) != ledger.EInsufficientFunds {
				t.Fatalf("err = %v, want insufficient funds", err)
			}
			if calls != 1 {
				t.Fatalf("hook ran %d times", calls)
			}
			if n, _ := hookRowCount(t, db, "h-broke"); n != 0 {
				t.Fatal("the hook's write survived a refused entry")
			}
		})

		t.Run("an uncoded error fails only its own request", func(t *testing.T) {
			boom := func(ctx context.Context, tx *sql.Tx, entryID int64) error { return errors.New("disk on fire") }
			// Many concurrent requests, one of them broken: the others commit.
			var wg sync.WaitGroup
			errs := make([]error, 20)
			for i := range errs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					ref := fmt.Sprintf("h-batch-%d", i)
					calls := 0
					h := insertHook(ref, &calls, &mu)
					if i == 7 {
						h = boom
					}
					_, errs[i] = submit(ref, 1, h)
				}()
			}
			wg.Wait()
			for i, err := range errs {
				n, _ := hookRowCount(t, db, fmt.Sprintf("h-batch-%d", i))
				if i == 7 {
					if okpay.ErrorCode(err) != okpay.EInternal {
						t.Fatalf("broken hook: err = %v, want internal", err)
					}
					continue
				}
				if err != nil || n != 1 {
					t.Fatalf("request %d: err %v, %d hook rows", i, err, n)
				}
			}
		})
		f.verify(t)
	})
}

// txInsertHook defers one hook_rows row.
func txInsertHook(ref string) ledger.TxHook {
	return func(ctx context.Context, tx *ledger.Tx, entryID int64) error {
		tx.Insert("hook_rows (ref, entry_id)", "", ref, entryID)
		return nil
	}
}

func TestTxHook(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		f := newFixture(t, db)
		hookRows(t, db)
		if _, err := db.Write.Exec(`CREATE TABLE hook_marks (ref TEXT PRIMARY KEY, n BIGINT NOT NULL)`); err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		a, b := f.wallet(t, 1_000_000), f.wallet(t, 0)
		submit := func(ref string, amount int64, hook ledger.TxHook) (ledger.Outcome, error) {
			return f.l.Submit(ctx, ledger.Op{Entry: &ledger.EntryInput{Reference: ref, Type: "transfer",
				Postings: []ledger.Posting{{Debit: a, Credit: b, Amount: amount, Currency: "USD"}}}, TxHook: hook}, nil)
		}
		// concurrently submits n requests (most land in shared batches).
		concurrently := func(n int, fn func(i int) error) []error {
			var wg sync.WaitGroup
			errs := make([]error, n)
			for i := range errs {
				wg.Add(1)
				go func() { defer wg.Done(); errs[i] = fn(i) }()
			}
			wg.Wait()
			return errs
		}

		t.Run("deferred rows commit with the entry and see its id", func(t *testing.T) {
			out, err := submit("tx-ok", 100, txInsertHook("tx-ok"))
			if err != nil {
				t.Fatal(err)
			}
			if n, id := hookRowCount(t, db, "tx-ok"); n != 1 || id != out.Entry.ID {
				t.Fatalf("hook row: n=%d entry %d, want 1 row for entry %d", n, id, out.Entry.ID)
			}
			// A retry is answered from the journal; whatever its hook
			// deferred (in a batch that ran before the reference was
			// found taken) is not kept.
			again, err := submit("tx-ok", 100, txInsertHook("tx-ok-retry"))
			if err != nil || !again.Existing || again.Entry.ID != out.Entry.ID {
				t.Fatalf("retry: %+v %v", again, err)
			}
			if n, _ := hookRowCount(t, db, "tx-ok-retry"); n != 0 {
				t.Fatalf("the retry's hook wrote %d rows", n)
			}
		})

		t.Run("many requests' rows, several per request and over a statement's size", func(t *testing.T) {
			errs := concurrently(40, func(i int) error {
				ref := fmt.Sprintf("tx-many-%d", i)
				_, err := submit(ref, 1, func(ctx context.Context, tx *ledger.Tx, id int64) error {
					// 10 rows in one call, then one by one.
					var args []any
					for j := 0; j < 10; j++ {
						args = append(args, fmt.Sprintf("%s-%d", ref, j), id)
					}
					tx.Insert("hook_rows (ref, entry_id)", "", args...)
					for j := 10; j < 20; j++ {
						tx.Insert("hook_rows (ref, entry_id)", "", fmt.Sprintf("%s-%d", ref, j), id)
					}
					return nil
				})
				return err
			})
			for i, err := range errs {
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
			}
			// One request alone with more rows than one statement holds.
			if _, err := submit("tx-many-big", 1, func(ctx context.Context, tx *ledger.Tx, id int64) error {
				for j := 0; j < 300; j++ {
					tx.Insert("hook_rows (ref, entry_id)", "", fmt.Sprintf("tx-many-big-%d", j), id)
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			var n int
			if err := db.Read.QueryRow(`SELECT COUNT(*) FROM hook_rows WHERE ref LIKE 'tx-many-%'`).Scan(&n); err != nil || n != 1100 {
				t.Fatalf("%d rows (%v), want 1100", n, err)
			}
		})

		t.Run("a refusal drops the request's rows and writes, and keeps its neighbours'", func(t *testing.T) {
			before := f.balance(t, a)
			errs := concurrently(30, func(i int) error {
				ref := fmt.Sprintf("tx-mixed-%d", i)
				amount := int64(1)
				if i%3 == 2 {
					amount = 1 << 40 // the ledger refuses it
				}
				_, err := submit(ref, amount, func(ctx context.Context, tx *ledger.Tx, id int64) error {
					tx.Insert("hook_rows (ref, entry_id)", "", ref, id)
					// Half the hooks write through the transaction too
					// (and so open a savepoint); the others only defer.
					if i%6 < 3 {
						if _, err := tx.SQL().ExecContext(ctx, `INSERT INTO hook_marks (ref, n) VALUES ($1, 1)`, ref); err != nil {
							return err
						}
					}
					if i%3 == 1 {
						return okpay.Errorf("limit_exceeded", "over the limit")
					}
					return nil
				})
				return err
			})
			kept := 0
			for i, err := range errs {
				ref := fmt.Sprintf("tx-mixed-%d", i)
				n, _ := hookRowCount(t, db, ref)
				var marks int
				if err := db.Read.QueryRow(`SELECT COUNT(*) FROM hook_marks WHERE ref = $1`, ref).Scan(&marks); err != nil {
					t.Fatal(err)
				}
				want := map[int]string{0: "", 1: "limit_exceeded", 2: ledger.EInsufficientFunds}[i%3]
				if okpay.ErrorCode(err) != want && !(want == "" && err == nil) {
					t.Fatalf("request %d: err %v, want %q", i, err, want)
				}
				if ok := err == nil; (n == 1) != ok || (marks == 1) != (ok && i%6 < 3) {
					t.Fatalf("request %d (err %v): %d deferred rows, %d direct rows", i, err, n, marks)
				}
				if err == nil {
					kept++
				}
			}
			if got := f.balance(t, a); got.PostedDebits-before.PostedDebits != int64(kept) {
				t.Fatalf("debited %d, want %d", got.PostedDebits-before.PostedDebits, kept)
			}
		})

		t.Run("batch values count across the batch and a failed request's value is dropped", func(t *testing.T) {
			// A limit of 25 accepted requests, counted as the rows written
			// before the batch (read without a savepoint) plus the batch's
			// own (a batch value): the rows are deferred, so a read does
			// not see them. Every fourth request is refused by the ledger
			// after its hook counted it, and every seventh by its own hook
			// after counting: neither may use up the limit.
			type counterKey struct{}
			const limit = 25
			var hookErrs sync.Map
			errs := concurrently(60, func(i int) error {
				ref := fmt.Sprintf("tx-val-%d", i)
				amount := int64(1)
				if i%4 == 3 {
					amount = 1 << 40
				}
				_, err := submit(ref, amount, func(ctx context.Context, tx *ledger.Tx, id int64) error {
					n, ok := tx.Value(counterKey{})
					if !ok {
						var stored int
						if err := tx.Read().QueryRowContext(ctx, `SELECT COUNT(*) FROM hook_rows WHERE ref LIKE 'tx-val-%'`).Scan(&stored); err != nil {
							hookErrs.Store(i, err)
							return err
						}
						n = stored
					}
					if n.(int) >= limit {
						return okpay.Errorf("limit_exceeded", "over the limit")
					}
					tx.SetValue(counterKey{}, n.(int)+1)
					tx.Insert("hook_rows (ref, entry_id)", "", ref, id)
					if i%7 == 6 {
						return okpay.Errorf("refused_after_counting", "refused")
					}
					return nil
				})
				return err
			})
			hookErrs.Range(func(k, v any) bool { t.Fatalf("request %v: read: %v", k, v); return false })
			accepted, refused := 0, 0
			for i, err := range errs {
				switch code := okpay.ErrorCode(err); {
				case err == nil:
					accepted++
				case code == "limit_exceeded",
					code == ledger.EInsufficientFunds && i%4 == 3, code == "refused_after_counting" && i%7 == 6:
					refused++
				default:
					t.Fatalf("request %d: %v", i, err)
				}
			}
			var rows int
			if err := db.Read.QueryRow(`SELECT COUNT(*) FROM hook_rows WHERE ref LIKE 'tx-val-%'`).Scan(&rows); err != nil {
				t.Fatal(err)
			}
			// 39 of the 60 requests are refused by neither the ledger nor
			// their hook, more than the limit: exactly the limit passes.
			if accepted != limit || rows != limit {
				t.Fatalf("accepted %d, %d rows, %d refused; want %d accepted and rows", accepted, rows, refused, limit)
			}
		})

		t.Run("a conflict clause skips existing rows", func(t *testing.T) {
			errs := concurrently(10, func(i int) error {
				_, err := submit(fmt.Sprintf("tx-dup-%d", i), 1, func(ctx context.Context, tx *ledger.Tx, id int64) error {
					tx.Insert("hook_rows (ref, entry_id)", "ON CONFLICT (ref) DO NOTHING", "tx-dup", id)
					return nil
				})
				return err
			})
			for i, err := range errs {
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
			}
			if n, _ := hookRowCount(t, db, "tx-dup"); n != 1 {
				t.Fatalf("%d rows, want 1", n)
			}
		})

		t.Run("a broken unique index runs the batch again, carefully", func(t *testing.T) {
			if _, err := db.Write.Exec(`INSERT INTO hook_rows (ref, entry_id) VALUES ('tx-taken', 1)`); err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			careful := 0
			errs := concurrently(20, func(i int) error {
				ref := fmt.Sprintf("tx-uniq-%d", i)
				if i == 5 {
					ref = "tx-taken"
				}
				_, err := submit(fmt.Sprintf("tx-uniq-entry-%d", i), 1, func(ctx context.Context, tx *ledger.Tx, id int64) error {
					if tx.Careful() {
						mu.Lock()
						careful++
						mu.Unlock()
						var n int
						if err := tx.SQL().QueryRowContext(ctx, `SELECT COUNT(*) FROM hook_rows WHERE ref = $1`, ref).Scan(&n); err != nil {
							return err
						}
						if n > 0 {
							return okpay.Errorf(okpay.EConflict, "taken")
						}
					}
					tx.Insert("hook_rows (ref, entry_id)", "", ref, id)
					return nil
				})
				return err
			})
			for i, err := range errs {
				if i == 5 {
					if okpay.ErrorCode(err) != okpay.EConflict {
						t.Fatalf("the colliding request: err = %v, want conflict", err)
					}
					continue
				}
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				if n, _ := hookRowCount(t, db, fmt.Sprintf("tx-uniq-%d", i)); n != 1 {
					t.Fatalf("request %d: %d rows", i, n)
				}
			}
			if careful == 0 {
				t.Fatal("no hook ran carefully")
			}
		})

		t.Run("a wrong number of values fails that request alone", func(t *testing.T) {
			errs := concurrently(10, func(i int) error {
				ref := fmt.Sprintf("tx-bad-%d", i)
				_, err := submit(ref, 1, func(ctx context.Context, tx *ledger.Tx, id int64) error {
					if i == 3 {
						tx.Insert("hook_rows (ref, entry_id)", "", ref)
					} else {
						tx.Insert("hook_rows (ref, entry_id)", "", ref, id)
					}
					return nil
				})
				return err
			})
			for i, err := range errs {
				n, _ := hookRowCount(t, db, fmt.Sprintf("tx-bad-%d", i))
				if i == 3 {
					if okpay.ErrorCode(err) != okpay.EInternal || n != 0 {
						t.Fatalf("the bad request: err = %v, %d rows", err, n)
					}
					continue
				}
				if err != nil || n != 1 {
					t.Fatalf("request %d: err %v, %d rows", i, err, n)
				}
			}
		})

		t.Run("Hook and TxHook together are refused", func(t *testing.T) {
			_, err := f.l.Submit(ctx, ledger.Op{Entry: &ledger.EntryInput{Reference: "tx-both", Type: "transfer",
				Postings: []ledger.Posting{{Debit: a, Credit: b, Amount: 1, Currency: "USD"}}},
				Hook:   func(context.Context, *sql.Tx, int64) error { return nil },
				TxHook: func(context.Context, *ledger.Tx, int64) error { return nil }}, nil)
			if okpay.ErrorCode(err) != okpay.EInvalid {
				t.Fatalf("err = %v, want invalid", err)
			}
		})
		f.verify(t)
	})
}

// On PostgreSQL a batch of several requests commits without waiting for
// the log's flush (SET LOCAL synchronous_commit = off) and is answered only
// after the syncer flushed the log past it; a lone request commits durably.
func TestPostgresAnswersBatchesAfterTheFlush(t *testing.T) {
	db := sqldbtest.Open(t, sqldb.Postgres)
	f := newFixture(t, db)
	ctx := context.Background()
	a, b := f.wallet(t, 100000), f.wallet(t, 0)
	type seen struct{ setting, lsn string }
	submit := func(ref string) (seen, error) {
		var s seen
		hook := func(ctx context.Context, tx *sql.Tx, entryID int64) error {
			return tx.QueryRowContext(ctx, `SELECT current_setting('synchronous_commit'), pg_current_wal_insert_lsn()::text`).Scan(&s.setting, &s.lsn)
		}
		_, err := f.l.Submit(ctx, ledger.Op{Entry: &ledger.EntryInput{Reference: ref, Type: "transfer",
			Postings: []ledger.Posting{{Debit: a, Credit: b, Amount: 1, Currency: "USD"}}}, Hook: hook}, nil)
		return s, err
	}
	flushedPast := func(lsn string) bool {
		var ok bool
		if err := db.Read.QueryRowContext(ctx, `SELECT pg_current_wal_flush_lsn() >= $1::pg_lsn`, lsn).Scan(&ok); err != nil {
			t.Fatal(err)
		}
		return ok
	}
	// Alone: the server's setting (on, here).
	s, err := submit("alone")
	if err != nil {
		t.Fatal(err)
	}
	if s.setting != "on" || !flushedPast(s.lsn) {
		t.Fatalf("a lone request: synchronous_commit %q, flushed past its hook: %v", s.setting, flushedPast(s.lsn))
	}
	// Together: until some batch held several requests.
	async := 0
	for round := 0; round < 20 && async == 0; round++ {
		var wg sync.WaitGroup
		var mu sync.Mutex
		for i := 0; i < 32; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s, err := submit(fmt.Sprintf("together-%d-%d", round, i))
				if err != nil {
					t.Error(err)
					return
				}
				// Answered: the log must be flushed past what its hook saw.
				if !flushedPast(s.lsn) {
					t.Errorf("answered before the log was flushed past %s (synchronous_commit %s)", s.lsn, s.setting)
				}
				mu.Lock()
				if s.setting == "off" {
					async++
				}
				mu.Unlock()
			}()
		}
		wg.Wait()
	}
	if async == 0 {
		t.Fatal("no batch of several requests committed asynchronously")
	}
	// The setting was the transaction's only: the pool keeps the server's.
	for i := 0; i < 8; i++ {
		var setting string
		if err := db.Write.QueryRowContext(ctx, `SHOW synchronous_commit`).Scan(&setting); err != nil {
			t.Fatal(err)
		}
		if setting != "on" {
			t.Fatalf("a pool connection has synchronous_commit %q", setting)
		}
	}
}
