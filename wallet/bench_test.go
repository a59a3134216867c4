package wallet_test

import (
	"sync/atomic"
	"testing"

	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
	"github.com/okpay/okpay/wallet"
)

// BenchmarkTransfer measures P2P transfers through the wallet service on
// SQLite with 256 concurrent callers: payee lookup, fee, final gate,
// limits and velocity counters, both rows and both customers' notices,
// each transfer acknowledged after its durable commit (go test -bench
// Transfer -run ^$ ./wallet/). Payees are known and amounts below the
// step-up threshold, as in the HTTP benchmark of the issue.
func BenchmarkTransfer(b *testing.B) {
	db := sqldbtest.Open(b, sqldb.SQLite)
	big := wallet.DefaultLevels()
	for i := range big {
		for c := range big[i].Daily {
			big[i].Daily[c], big[i].Monthly[c] = 1<<50, 1<<51
		}
	}
	h := newHarness(b, db, harnessOpts{cfg: wallet.Config{Levels: big, Velocity: wallet.Velocity{TransfersPerHour: 1 << 30, TransfersPerDay: 1 << 30,
		NewPayeesPerDay: 1 << 30, WithdrawalsPerDay: 1 << 30}}})
	const n = 64
	users := make([]*user, n)
	for i := range users {
		users[i] = h.signUp()
		h.fund(users[i], usd(1<<40))
	}
	for i := range users { // a ring of known payees
		h.pay(users[i], users[(i+1)%n], usd(1))
	}
	h.deliver()
	var seq atomic.Int64
	b.SetParallelism(128)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := int(seq.Add(1) % n)
			res, err := h.w.Transfer(h.ctx, wallet.TransferInput{UserID: users[i].id, Amount: usd(1), Payee: users[(i+1)%n].ref(), Key: h.key(), Meta: h.meta})
			if err != nil || res.Txn.Status != wallet.StatusCompleted {
				b.Errorf("transfer: %+v %v", res, err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "transfers/s")
}
