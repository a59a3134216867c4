package wallet_test

import (
	"testing"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/paymethod"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
	"github.com/okpay/okpay/wallet"
	"pgregory.net/rapid"
)

// TestConservationWithdrawals runs random withdrawal histories — new
// withdrawals to a card that pays and to one whose payouts fail, reviews
// (approve, reject), cancellations, freezes and unfreezes, webhooks that
// arrive or not, jobs that run late, time that passes — and checks after
// every step (REL-01, LEDGER.md invariants):
//   - per currency the balances of all accounts sum to zero, and the
//     ledger's own invariants hold;
//   - the wallet's posted balance is what was funded less the totals of
//     the completed withdrawals, and what it holds pending is the totals
//     of the withdrawals still on their way;
//   - the provider holds at most one payout per withdrawal, and none for
//     a withdrawal that never passed the final gate;
//   - no withdrawal completes without its payout.
func TestConservationWithdrawals(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		big := wallet.DefaultLevels()
		for i := range big {
			for c := range big[i].Daily {
				big[i].Daily[c], big[i].Monthly[c] = 1<<50, 1<<51
			}
		}
		// Only the amount and velocity rules send to review here, so the
		// histories mix automatic approvals with reviews.
		h := newWDHarness(t, db, wdOpts{walletCfg: wallet.Config{Levels: big}, cfg: wallet.WithdrawalConfig{Review: wallet.ReviewPolicy{
			Skip: map[string]bool{wallet.RuleFirstWithdrawal: true, wallet.RuleNewMethod: true}}}})
		rapid.Check(t, func(rt *rapid.T) {
			u := h.signUp()
			const funded = 2000_00
			h.fund(u, usd(funded))
			good := h.payoutCard(u, "4242424242424242")
			bad := h.payoutCard(u, "4000000000000077")
			h.clock.Advance(25 * time.Hour)
			risk := reviewer(40, "r40@okpay.test")
			var mine []int64
			frozen := false

			// stages sums the withdrawals by where they are; the second
			// result tells the snapshot apart from a later one.
			stages := func() (completed, onTheWay int64, snap string) {
				rows, err := db.Read.Query(`SELECT w.stage, w.amount + w.fee, w.submitted_at, t.status
					FROM withdrawals w JOIN wallet_txns t ON t.id = w.txn_id WHERE w.user_id = $1 ORDER BY w.txn_id`, u.id)
				if err != nil {
					rt.Fatal(err)
				}
				defer rows.Close()
				for rows.Next() {
					var stage, status string
					var total, submitted int64
					if err := rows.Scan(&stage, &total, &submitted, &status); err != nil {
						rt.Fatal(err)
					}
					snap += stage + "/" + status + ";"
					switch stage {
					case wallet.StageCompleted:
						completed += total
						if status != string(wallet.StatusCompleted) || submitted == 0 {
							rt.Fatalf("completed withdrawal: status %s, submitted %d", status, submitted)
						}
					case wallet.StageVoided:
						if status != string(wallet.StatusFailed) && status != string(wallet.StatusRejected) {
							rt.Fatalf("voided withdrawal is %s", status)
						}
					default:
						onTheWay += total
					}
				}
				return completed, onTheWay, snap
			}
			check := func(final bool) {
				// The provider's webhooks land while the test reads: the
				// withdrawals and the balance are compared only when no
				// withdrawal moved between two reads around the balance.
				var completed, onTheWay int64
				var b *wallet.Wallet
				for try := 0; ; try++ {
					var before, after string
					completed, onTheWay, before = stages()
					b = h.balance(u, "USD")
					if _, _, after = stages(); before == after || try == 50 {
						break
					}
				}
				if b.Posted.Minor != funded-completed || b.PendingOut.Minor != onTheWay || b.Available.Minor < 0 || final && onTheWay != 0 {
					rt.Fatalf("wallet %+v; funded %d, completed %d, on the way %d", b, funded, completed, onTheWay)
				}
				for _, id := range mine {
					wd := h.get(u, id)
					// A voided withdrawal may have a payout the provider
					// failed (a declined card), never one it paid or may
					// still pay.
					n := h.payouts(wd.Ref())
					if n > 1 || (n == 1 && wd.Stage != "" && wd.Stage != wallet.StageSubmitting && wd.Stage != wallet.StageSent &&
						wd.Stage != wallet.StageCompleted && !(wd.Stage == wallet.StageVoided && h.paidOut(wd.Ref()) == 0)) {
						rt.Fatalf("%s (%s, %s): %d payouts, %d not failed", wd.Ref(), wd.Stage, wd.Txn.FailureCode, n, h.paidOut(wd.Ref()))
					}
					if wd.Stage == wallet.StageCompleted && n != 1 {
						rt.Fatalf("%s completed with %d payouts", wd.Ref(), n)
					}
				}
				h.conserved()
			}

			pick := func(rt *rapid.T, stage string) *wallet.Withdrawal {
				var ids []int64
				for _, id := range mine {
					if h.get(u, id).Stage == stage {
						ids = append(ids, id)
					}
				}
				if len(ids) == 0 {
					return nil
				}
				return h.get(u, rapid.SampledFrom(ids).Draw(rt, "withdrawal"))
			}

			steps := rapid.IntRange(5, 15).Draw(rt, "steps")
			for i := 0; i < steps; i++ {
				switch rapid.IntRange(0, 7).Draw(rt, "op") {
				case 0, 1: // a new withdrawal
					m := good
					if rapid.Bool().Draw(rt, "to the failing card") {
						m = bad
					}
					a := usd(rapid.Int64Range(1, 900_00).Draw(rt, "amount"))
					res, err := h.start(u, m.ID, a)
					switch code := okpay.ErrorCode(err); {
					case err == nil:
					case code == wallet.EInsufficientFunds || code == identity.EAccountFrozen || code == identity.EHoldActive ||
						code == paymethod.EMethodHold:
						continue
					default:
						rt.Fatalf("create: %v", err)
					}
					wd, err := h.wd.Confirm(h.ctx, wallet.ConfirmInput{UserID: u.id, TxnID: res.Withdrawal.Txn.ID, Code: h.lastCode(u.phone, "code_txn")})
					switch code := okpay.ErrorCode(err); {
					case err == nil:
						mine = append(mine, wd.Txn.ID)
					case code == wallet.EInsufficientFunds || code == identity.EAccountFrozen || code == wallet.ELimitExceeded:
					default:
						rt.Fatalf("confirm: %v", err)
					}
				case 2: // a review
					if wd := pick(rt, wallet.StageReview); wd != nil {
						var err error
						if rapid.Bool().Draw(rt, "approve") {
							err = h.wd.Approve(h.ctx, risk, wd.Txn.ID, "", riskMeta)
						} else {
							err = h.wd.Reject(h.ctx, risk, wd.Txn.ID, "policy", "", riskMeta)
						}
						if err != nil {
							rt.Fatalf("review: %v", err)
						}
					}
				case 3: // a cancellation
					if wd := pick(rt, rapid.SampledFrom([]string{wallet.StageReview, wallet.StageApproved, wallet.StageSent}).Draw(rt, "stage")); wd != nil {
						_, err := h.wd.Cancel(h.ctx, u.id, wd.Txn.ID)
						if err != nil && okpay.ErrorCode(err) != okpay.EConflict {
							rt.Fatalf("cancel: %v", err)
						}
					}
				case 4: // the jobs run
					h.runJobs()
				case 5: // time passes
					h.clock.Advance(time.Duration(rapid.Int64Range(1, 12*60).Draw(rt, "minutes")) * time.Minute)
				case 6: // a freeze, or its end
					if frozen {
						if err := h.id.Unfreeze(h.ctx, u.id, "agt_1", "case", "ok", h.meta); err != nil {
							rt.Fatal(err)
						}
					} else if err := h.id.Freeze(h.ctx, u.id, "test", "system", h.meta); err != nil {
						rt.Fatal(err)
					}
					frozen = !frozen
				case 7: // webhooks have a moment to arrive
					time.Sleep(20 * time.Millisecond)
				}
				check(false)
			}
			// In the end everything settles: days pass and the jobs run
			// until no withdrawal is on the way (under -race a webhook may
			// take a while) or, at most, 10 s.
			for i := 0; i < 500; i++ {
				h.clock.Advance(24 * time.Hour)
				h.runJobs()
				time.Sleep(5 * time.Millisecond)
				if _, onTheWay, _ := stages(); i >= 12 && onTheWay == 0 {
					break
				}
			}
			check(true)
			if testing.Verbose() {
				seen := map[string]int{}
				for _, id := range mine {
					wd := h.get(u, id)
					seen[string(wd.Txn.Status)+"/"+wd.Txn.FailureCode]++
				}
				t.Logf("withdrawals: %v", seen)
			}
		})
	})
}
