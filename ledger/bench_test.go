package ledger_test

import (
	"bytes"
	"context"
	"database/sql"
	"os"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/okpay/okpay/ledger"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

// BenchmarkTransfers measures P2P transfers through the commit queue with
// 256 concurrent callers (go test -bench Transfers ./ledger/).
func BenchmarkTransfers(b *testing.B) {
	for _, d := range sqldbtest.Dialects {
		b.Run(string(d), func(b *testing.B) {
			benchTransfers(b, d, func(i int64) (string, *ledger.Idem) { return "t" + strconv.FormatInt(i, 10), nil })
		})
	}
}

// BenchmarkTransfersIdem is BenchmarkTransfers with what the HTTP API adds:
// a random reference derived from an Idempotency-Key and a stored response
// per transfer (SQLite).
func BenchmarkTransfersIdem(b *testing.B) {
	body := bytes.Repeat([]byte("x"), 550) // about the size of a stored transfer response
	benchTransfers(b, sqldb.SQLite, func(i int64) (string, *ledger.Idem) {
		ref := randomRef(i)
		return ref, &ledger.Idem{Principal: "key_x", Key: ref, RequestHash: body[:32],
			Render: func(e *ledger.Entry, err error) (int, []byte, bool) { return 201, body, true }}
	})
}

// BenchmarkTransfersIdemFromEntry is BenchmarkTransfersIdem as the HTTP
// API runs it since the entry is the record of a success (Idem.FromEntry):
// no stored response (SQLite).
func BenchmarkTransfersIdemFromEntry(b *testing.B) {
	body := bytes.Repeat([]byte("x"), 550)
	benchTransfers(b, sqldb.SQLite, func(i int64) (string, *ledger.Idem) {
		ref := randomRef(i)
		return ref, &ledger.Idem{Principal: "key_x", Key: ref, RequestHash: body[:32], FromEntry: true,
			Render: func(e *ledger.Entry, err error) (int, []byte, bool) { return 201, body, true }}
	})
}

// BenchmarkTransfersRandomRef is BenchmarkTransfers with the random
// references of BenchmarkTransfersIdem but no stored response: what the
// reference index alone costs when its keys are random (SQLite).
func BenchmarkTransfersRandomRef(b *testing.B) {
	benchTransfers(b, sqldb.SQLite, func(i int64) (string, *ledger.Idem) {
		return randomRef(i), nil
	})
}

// randomRef is the i-th of the references an HTTP API derives from
// Idempotency-Keys: unique, in no order.
func randomRef(i int64) string {
	return "idem:" + strconv.FormatInt(i*2654435761%1000000007, 16) + "-" + strconv.FormatInt(i, 10)
}

// BenchmarkTransfersHook is BenchmarkTransfers with a hook per transfer
// writing one row of the caller's own in its savepoint (SQLite).
func BenchmarkTransfersHook(b *testing.B) {
	benchTransfersOpt(b, sqldb.SQLite, func(i int64) (string, *ledger.Idem) { return "t" + strconv.FormatInt(i, 10), nil }, hookPlain)
}

// BenchmarkTransfersTxHook is BenchmarkTransfersHook with the row deferred
// to the batch's multi-row insert (ledger.TxHook), as the wallet's
// transfers do (SQLite).
func BenchmarkTransfersTxHook(b *testing.B) {
	benchTransfersOpt(b, sqldb.SQLite, func(i int64) (string, *ledger.Idem) { return "t" + strconv.FormatInt(i, 10), nil }, hookDeferred)
}

// The hook of a benchmark's transfers.
const (
	hookNone = iota
	hookPlain
	hookDeferred
)

// benchTransfers moves 1 minor unit between pseudo-random pairs of 1,000
// funded wallets; next gives the i-th transfer's reference and optional
// idempotency record.
func benchTransfers(b *testing.B, d sqldb.Dialect, next func(i int64) (string, *ledger.Idem)) {
	benchTransfersOpt(b, d, next, hookNone)
}

func benchTransfersOpt(b *testing.B, d sqldb.Dialect, next func(i int64) (string, *ledger.Idem), hooked int) {
	db := sqldbtest.Open(b, d)
	var hook ledger.Hook
	var txHook ledger.TxHook
	if hooked != hookNone {
		if _, err := db.Write.Exec(`CREATE TABLE bench_rows (id BIGINT PRIMARY KEY, ref TEXT NOT NULL)`); err != nil {
			b.Fatal(err)
		}
	}
	switch hooked {
	case hookPlain:
		hook = func(ctx context.Context, tx *sql.Tx, entryID int64) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO bench_rows (id, ref) VALUES ($1, 'x')`, entryID)
			return err
		}
	case hookDeferred:
		txHook = func(ctx context.Context, tx *ledger.Tx, entryID int64) error {
			tx.Insert("bench_rows (id, ref)", "", entryID, "x")
			return nil
		}
	}
	ctx := context.Background()
	w, _ := strconv.Atoi(os.Getenv("OKPAY_BENCH_WRITERS"))
	l, err := ledger.New(ctx, db, ledger.Options{Writers: w})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	world, _ := l.CreateAccount(ctx, ledger.AccountInput{Currency: "USD", Kind: ledger.KindExternal})
	const n = 1000
	wallets := make([]int64, n)
	for i := range wallets {
		a, err := l.CreateAccount(ctx, ledger.AccountInput{Currency: "USD", Kind: ledger.KindUserWallet, Flags: ledger.FlagNoOverdraft})
		if err != nil {
			b.Fatal(err)
		}
		wallets[i] = a.ID
		l.Post(ctx, ledger.EntryInput{Reference: "f" + strconv.Itoa(i), Type: "deposit", Postings: []ledger.Posting{{Debit: world.ID, Credit: a.ID, Amount: 1 << 40, Currency: "USD"}}})
	}
	var seq atomic.Int64
	b.SetParallelism(128)
	cpu0 := cpuTime()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := seq.Add(1)
			a, c := int(i*7919%n), int(i*104729%n)
			if a == c {
				c = (c + 1) % n
			}
			ref, idem := next(i)
			if _, err := l.Submit(ctx, ledger.Op{Entry: &ledger.EntryInput{Reference: ref, Type: "transfer",
				Postings: []ledger.Posting{{Debit: wallets[a], Credit: wallets[c], Amount: 1, Currency: "USD"}}}, Hook: hook, TxHook: txHook}, idem); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "transfers/s")
	// CPU time (user + system, the whole process) per transfer: steadier
	// than the rate on a shared machine.
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/transfer")
}

// cpuTime is the process's user + system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
