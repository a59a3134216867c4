package ledger_test

import (
	"bytes"
	"context"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/okpay/okpay/ledger"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

// BenchmarkTransfersIdem is BenchmarkTransfers with what the HTTP API adds:
// a random reference derived from an Idempotency-Key and a stored response
// per transfer (SQLite).
func BenchmarkTransfersIdem(b *testing.B) {
	db := sqldbtest.Open(b, sqldb.SQLite)
	ctx := context.Background()
	l, _ := ledger.New(ctx, db, ledger.Options{})
	defer l.Close()
	world, _ := l.CreateAccount(ctx, ledger.AccountInput{Currency: "USD", Kind: ledger.KindExternal})
	const n = 1000
	wallets := make([]int64, n)
	for i := range wallets {
		a, _ := l.CreateAccount(ctx, ledger.AccountInput{Currency: "USD", Kind: ledger.KindUserWallet, Flags: ledger.FlagNoOverdraft})
		wallets[i] = a.ID
		l.Post(ctx, ledger.EntryInput{Reference: "f" + strconv.Itoa(i), Type: "deposit", Postings: []ledger.Posting{{Debit: world.ID, Credit: a.ID, Amount: 1 << 40, Currency: "USD"}}})
	}
	body := bytes.Repeat([]byte("x"), 550) // about the size of a stored transfer response
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
			ref := "idem:" + strconv.FormatInt(i*2654435761%1000000007, 16) + "-" + strconv.FormatInt(i, 10)
			idem := &ledger.Idem{Principal: "key_x", Key: ref, RequestHash: body[:32], Render: func(e *ledger.Entry, err error) (int, []byte, bool) { return 201, body, true }}
			if _, err := l.Submit(ctx, ledger.Op{Entry: &ledger.EntryInput{Reference: ref, Type: "transfer",
				Postings: []ledger.Posting{{Debit: wallets[a], Credit: wallets[c], Amount: 1, Currency: "USD"}}}}, idem); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "transfers/s")
}
