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
