package ledger_test

import (
	"context"
	"os"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/okpay/okpay/ledger"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

// BenchmarkTransfers measures P2P transfers through the commit queue with
// 256 concurrent callers (go test -bench Transfers ./ledger/).
func BenchmarkTransfers(b *testing.B) {
	for _, d := range sqldbtest.Dialects {
		b.Run(string(d), func(b *testing.B) {
			db := sqldbtest.Open(b, d)
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
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := seq.Add(1)
					a, c := int(i*7919%n), int(i*104729%n)
					if a == c {
						c = (c + 1) % n
					}
					if _, err := l.Post(ctx, ledger.EntryInput{Reference: "t" + strconv.FormatInt(i, 10), Type: "transfer",
						Postings: []ledger.Posting{{Debit: wallets[a], Credit: wallets[c], Amount: 1, Currency: "USD"}}}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "transfers/s")
		})
	}
}

var _ = sqldb.SQLite
