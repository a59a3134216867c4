package wallet_test

import (
	"fmt"
	"testing"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/psp"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
	"github.com/okpay/okpay/wallet"
	"pgregory.net/rapid"
)

// TestConservation runs random transfers (new and known payees, retries
// with the same key, amounts beyond the balance), card deposits and their
// provider events (successes, failures, replays, events out of order)
// through the wallet service, and checks after every step against a
// model: each wallet holds what the model says and never less than zero,
// fee revenue holds the fees, and per currency the balances of all
// accounts sum to zero (REL-01, LEDGER.md invariants).
func TestConservation(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		big := wallet.DefaultLevels()
		for i := range big {
			for c := range big[i].Daily {
				big[i].Daily[c], big[i].Monthly[c] = 1<<50, 1<<51
			}
		}
		fees := &testFees{bp: map[string]int64{wallet.OpTransfer: 100, wallet.OpDeposit: 200}, fixed: map[string]int64{wallet.OpTransfer: 1}}
		h := newHarness(t, db, harnessOpts{cfg: wallet.Config{Levels: big}, fees: fees})
		users := []*user{h.signUp(), h.signUp(), h.signUp(), h.signUp()}
		cards := make([]int64, len(users))
		for i, u := range users {
			cards[i] = h.addCard(u, cardOK)
		}
		currencies := []money.Currency{"USD", "JPY"}
		bal := map[int64]map[money.Currency]int64{}
		for _, u := range users {
			bal[u.id] = map[money.Currency]int64{}
		}
		feeRev := map[money.Currency]int64{}
		type sent struct {
			from, to *user
			amount   money.Amount
			key      string
			ok       bool
			code     string
		}
		var transfers []sent
		type dep struct {
			txn    *wallet.Txn
			status wallet.Status
		}
		var deposits []*dep
		evn := 0

		check := func(rt *rapid.T) {
			for _, u := range users {
				for _, c := range currencies {
					got := h.balance(u, c)
					if got.Available.Minor != bal[u.id][c] || got.Available.Minor < 0 || got.Posted != got.Available {
						rt.Fatalf("%s %s: %+v, model %d", u.ref(), c, got, bal[u.id][c])
					}
				}
			}
			rows, err := db.Read.Query(`SELECT a.currency, SUM(b.posted_credits - b.posted_debits), SUM(b.pending_credits - b.pending_debits)
				FROM accounts a JOIN balances b ON b.account_id = a.id GROUP BY a.currency`)
			if err != nil {
				rt.Fatal(err)
			}
			defer rows.Close()
			for rows.Next() {
				var c string
				var posted, pending int64
				if err := rows.Scan(&c, &posted, &pending); err != nil {
					rt.Fatal(err)
				}
				if posted != 0 || pending != 0 {
					rt.Fatalf("%s: balances sum to %d posted, %d pending", c, posted, pending)
				}
			}
			for _, c := range currencies {
				id, err := h.w.SystemAccount(h.ctx, wallet.SysFeeRevenue, c)
				if err != nil {
					rt.Fatal(err)
				}
				a, err := h.ledger.FindAccountByID(h.ctx, id)
				if err != nil || a.Balance.Posted() != feeRev[c] {
					rt.Fatalf("fee revenue %s: %+v, model %d (%v)", c, a, feeRev[c], err)
				}
			}
		}

		rapid.Check(t, func(rt *rapid.T) {
			rt.Repeat(map[string]func(*rapid.T){
				"transfer": func(rt *rapid.T) {
					from := rapid.SampledFrom(users).Draw(rt, "from")
					to := rapid.SampledFrom(users).Draw(rt, "to")
					c := rapid.SampledFrom(currencies).Draw(rt, "currency")
					amount := money.New(rapid.Int64Range(1, 50_00).Draw(rt, "amount"), c)
					key := h.key()
					res, err := h.send(from, to, amount, key)
					if from == to {
						if okpay.ErrorCode(err) != wallet.ESelfTransfer {
							rt.Fatalf("self transfer: %v", err)
						}
						return
					}
					if err == nil && res.Txn.Status == wallet.StatusAwaitingAuth {
						res, err = h.w.ConfirmTransfer(h.ctx, wallet.ConfirmInput{UserID: from.id, TxnID: res.Txn.ID, Code: h.lastCode(from.phone, "code_txn"), Meta: h.meta})
					}
					fee, _, _ := fees.Quote(wallet.OpTransfer, wallet.MethodWallet, amount)
					want := bal[from.id][c] >= amount.Minor+fee.Minor
					if want != (err == nil) {
						rt.Fatalf("transfer %s of %s (balance %d): %v", key, amount, bal[from.id][c], err)
					}
					if err != nil && okpay.ErrorCode(err) != wallet.EInsufficientFunds {
						rt.Fatalf("transfer: %v", err)
					}
					if err == nil {
						if res.Txn.Status != wallet.StatusCompleted {
							rt.Fatalf("transfer ended %s", res.Txn.Status)
						}
						bal[from.id][c] -= amount.Minor + fee.Minor
						bal[to.id][c] += amount.Minor
						feeRev[c] += fee.Minor
					}
					transfers = append(transfers, sent{from, to, amount, key, err == nil, okpay.ErrorCode(err)})
				},
				"retry transfer": func(rt *rapid.T) {
					if len(transfers) == 0 {
						rt.Skip("nothing to retry")
					}
					s := rapid.SampledFrom(transfers).Draw(rt, "transfer")
					res, err := h.send(s.from, s.to, s.amount, s.key)
					if s.ok != (err == nil) || okpay.ErrorCode(err) != s.code {
						rt.Fatalf("retry of %s: %v (first: ok %v %s)", s.key, err, s.ok, s.code)
					}
					if err == nil && res.Txn.Status != wallet.StatusCompleted {
						rt.Fatalf("retry: %s", res.Txn.Status)
					}
				},
				"deposit": func(rt *rapid.T) {
					i := rapid.IntRange(0, len(users)-1).Draw(rt, "user")
					c := rapid.SampledFrom(currencies).Draw(rt, "currency")
					d, err := h.w.StartDeposit(h.ctx, wallet.DepositInput{UserID: users[i].id, MethodID: cards[i],
						Amount: money.New(rapid.Int64Range(100, 200_00).Draw(rt, "amount"), c), Key: h.key(), Meta: h.meta})
					if err != nil || d.Status != wallet.StatusExecuting {
						rt.Fatalf("deposit: %+v %v", d, err)
					}
					deposits = append(deposits, &dep{txn: d, status: wallet.StatusExecuting})
				},
				"provider event": func(rt *rapid.T) {
					if len(deposits) == 0 {
						rt.Skip("no deposit")
					}
					d := rapid.SampledFrom(deposits).Draw(rt, "deposit")
					typ := rapid.SampledFrom([]string{psp.EventChargeSucceeded, psp.EventChargeFailed, "charge.pending"}).Draw(rt, "type")
					status := map[string]psp.Status{psp.EventChargeSucceeded: psp.StatusSucceeded, psp.EventChargeFailed: psp.StatusFailed, "charge.pending": psp.StatusPending}[typ]
					evn++
					ev := psp.Event{ID: fmt.Sprintf("evt_prop_%d", evn), Type: typ, Reference: d.txn.Ref(), ObjectID: d.txn.ProviderRef, Status: status,
						Amount: money.New(rapid.Int64Range(1, 1<<40).Draw(rt, "claimed"), d.txn.Amount.Currency)}
					times := rapid.IntRange(1, 3).Draw(rt, "deliveries")
					for k := 0; k < times; k++ {
						if err := h.w.ApplyProviderEvent(h.ctx, ev); err != nil {
							rt.Fatalf("event: %v", err)
						}
					}
					if d.status == wallet.StatusExecuting {
						switch typ {
						case psp.EventChargeSucceeded:
							d.status = wallet.StatusCompleted
							t := d.txn
							bal[t.UserID][t.Amount.Currency] += t.Amount.Minor - t.Fee.Minor
							feeRev[t.Amount.Currency] += t.Fee.Minor
						case psp.EventChargeFailed:
							d.status = wallet.StatusFailed
						}
					}
					got, err := h.w.FindTransaction(h.ctx, d.txn.UserID, d.txn.ID)
					if err != nil || got.Status != d.status {
						rt.Fatalf("deposit %s: %+v, model %s (%v)", d.txn.Ref(), got, d.status, err)
					}
				},
				"": check,
			})
		})
		h.verify()
	})
}
