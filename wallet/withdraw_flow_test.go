package wallet_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/paymethod"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
	"github.com/okpay/okpay/wallet"
)

// TestTXN01_WithdrawalCodeBinding: every withdrawal needs a second
// factor bound to the withdrawal, its amount, currency and method: the
// code of one withdrawal never confirms another (one minor unit more, or
// another method); a wrong code counts an attempt; the code expires with
// the authorization window.
func TestTXN01_WithdrawalCodeBinding(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newWDHarness(t, db, wdOpts{})
		u := h.signUp()
		card := h.ready(u, usd(500_00), "4242424242424242")
		ew := h.payoutEWallet(u, "me@example.com")
		h.clock.Advance(25 * time.Hour)
		a, err := h.start(u, card.ID, usd(100_00))
		if err != nil {
			t.Fatal(err)
		}
		if a.Destination == "" || a.Withdrawal.Txn.AuthMethod != identity.MethodSMS || a.Withdrawal.Txn.Counterparty != "visa •••• 4242" {
			t.Fatalf("created %+v", a)
		}
		sms := h.messages(u.phone, "code_txn")
		if len(sms) == 0 || !strings.Contains(sms[0].Body, "$100.00") || !strings.Contains(sms[0].Body, "Visa •••• 4242") {
			t.Fatalf("the SMS must state amount and method: %+v", sms)
		}
		codeA := h.lastCode(u.phone, "code_txn")
		h.clock.Advance(time.Minute)
		b, err := h.start(u, card.ID, usd(100_01)) // one minor unit more
		if err != nil {
			t.Fatal(err)
		}
		c, err := h.start(u, ew.ID, usd(100_00)) // another method
		if err != nil {
			t.Fatal(err)
		}
		for _, other := range []*wallet.WithdrawalResult{b, c} {
			_, err := h.wd.Confirm(h.ctx, wallet.ConfirmInput{UserID: u.id, TxnID: other.Withdrawal.Txn.ID, Code: codeA, Meta: h.meta})
			wantCode(t, err, identity.EInvalidCode)
		}
		// Another customer cannot confirm (or see) it.
		v := h.signUp()
		_, err = h.wd.Confirm(h.ctx, wallet.ConfirmInput{UserID: v.id, TxnID: a.Withdrawal.Txn.ID, Code: codeA})
		wantCode(t, err, okpay.ENotFound)
		wd, err := h.wd.Confirm(h.ctx, wallet.ConfirmInput{UserID: u.id, TxnID: a.Withdrawal.Txn.ID, Code: codeA, Meta: h.meta})
		if err != nil {
			t.Fatal(err)
		}
		if wd.Txn.Status != wallet.StatusPendingReview {
			t.Fatalf("status %s", wd.Txn.Status)
		}
		// Confirming again changes nothing; the code is spent.
		again, err := h.wd.Confirm(h.ctx, wallet.ConfirmInput{UserID: u.id, TxnID: a.Withdrawal.Txn.ID, Code: codeA, Meta: h.meta})
		if err != nil || again.Txn.EntryID != wd.Txn.EntryID {
			t.Fatalf("again: %v", err)
		}
		// The same key again returns the same withdrawal; with another
		// amount it is refused.
		key := h.key()
		first, err := h.wd.Create(h.ctx, wallet.WithdrawalInput{UserID: u.id, MethodID: card.ID, Amount: usd(5_00), Key: key})
		if err != nil {
			t.Fatal(err)
		}
		same, err := h.wd.Create(h.ctx, wallet.WithdrawalInput{UserID: u.id, MethodID: card.ID, Amount: usd(5_00), Key: key})
		if err != nil || same.Withdrawal.Txn.ID != first.Withdrawal.Txn.ID {
			t.Fatalf("retry: %v", err)
		}
		_, err = h.wd.Create(h.ctx, wallet.WithdrawalInput{UserID: u.id, MethodID: card.ID, Amount: usd(6_00), Key: key})
		wantCode(t, err, wallet.EIdempotencyKeyReused)
		// Past the window the code no longer works.
		h.clock.Advance(16 * time.Minute)
		_, err = h.wd.Confirm(h.ctx, wallet.ConfirmInput{UserID: u.id, TxnID: first.Withdrawal.Txn.ID, Code: "000000"})
		wantCode(t, err, wallet.EAuthExpired)
		if got := h.get(u, first.Withdrawal.Txn.ID); got.Txn.Status != wallet.StatusFailed {
			t.Fatalf("expired withdrawal is %s", got.Txn.Status)
		}
		if bal := h.balance(u, "USD"); bal.PendingOut != usd(101_50) {
			t.Fatalf("held %v", bal.PendingOut)
		}
		h.conserved()
	})
}

// TestWithdrawalGate: a frozen account and an account in a cooling-off
// hold (RSK-02) cannot start a withdrawal; the hold's end is given.
func TestWithdrawalGate(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newWDHarness(t, db, wdOpts{})
		u := h.signUp()
		card := h.ready(u, usd(500_00), "4242424242424242")
		if err := h.id.Freeze(h.ctx, u.id, "test", "system", h.meta); err != nil {
			t.Fatal(err)
		}
		_, err := h.start(u, card.ID, usd(10_00))
		wantCode(t, err, identity.EAccountFrozen)
		if err := h.id.Unfreeze(h.ctx, u.id, "agt_1", "case-1", "verified", h.meta); err != nil {
			t.Fatal(err)
		}
		_, err = h.start(u, card.ID, usd(10_00))
		var hold *identity.HoldError
		if !asHold(err, &hold) || !hold.Until.After(h.clock.Now()) {
			t.Fatalf("during the hold: %v", err)
		}
		h.clock.Advance(24*time.Hour + time.Second)
		if _, err := h.start(u, card.ID, usd(10_00)); err != nil {
			t.Fatalf("after the hold: %v", err)
		}
		page, err := h.w.FindTransactions(h.ctx, u.id, wallet.Filter{Type: wallet.TypeWithdrawal})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Txns) != 1 {
			t.Fatalf("%d withdrawals recorded; refused ones are not", len(page.Txns))
		}
	})
}

// TestWithdrawalHoldRefusedAtConfirm: when the gate closes between the
// code and the hold (a freeze, a hold), the withdrawal fails with the
// reason and nothing is held.
func TestWithdrawalHoldRefusedAtConfirm(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newWDHarness(t, db, wdOpts{})
		u := h.signUp()
		card := h.ready(u, usd(500_00), "4242424242424242")
		res, err := h.start(u, card.ID, usd(10_00))
		if err != nil {
			t.Fatal(err)
		}
		code := h.lastCode(u.phone, "code_txn")
		if err := h.id.Freeze(h.ctx, u.id, "test", "system", h.meta); err != nil {
			t.Fatal(err)
		}
		wd, err := h.wd.Confirm(h.ctx, wallet.ConfirmInput{UserID: u.id, TxnID: res.Withdrawal.Txn.ID, Code: code})
		wantCode(t, err, identity.EAccountFrozen)
		if wd == nil || wd.Txn.Status != wallet.StatusFailed || wd.Txn.FailureCode != identity.EAccountFrozen {
			t.Fatalf("withdrawal %+v", wd)
		}
		if b := h.balance(u, "USD"); b.PendingOut != usd(0) {
			t.Fatal("money held for a refused withdrawal")
		}
		h.conserved()
	})
}

// TestRSK04_FreezeVoidsPendingWithdrawals: a freeze voids the
// withdrawals not yet sent to the provider (in review, approved) — the
// hook only marks them inside the freeze, the jobs void them after — and
// leaves the one already at the provider to finish.
func TestRSK04_FreezeVoidsPendingWithdrawals(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newWDHarness(t, db, wdOpts{dropPayoutEvents: true})
		u := h.signUp()
		card := h.ready(u, usd(1000_00), "4242424242424242")
		risk := reviewer(11, "risk11@okpay.test")
		sent := h.withdraw(u, card.ID, usd(100_00))
		if err := h.wd.Approve(h.ctx, risk, sent.Txn.ID, "", riskMeta); err != nil {
			t.Fatal(err)
		}
		h.runJobs()
		if got := h.get(u, sent.Txn.ID); got.Stage != wallet.StageSent {
			t.Fatalf("sent is %s", got.Stage)
		}
		review := h.withdraw(u, card.ID, usd(50_00))
		approved := h.withdraw(u, card.ID, usd(20_00))
		if err := h.wd.Approve(h.ctx, risk, approved.Txn.ID, "", riskMeta); err != nil {
			t.Fatal(err)
		}
		// The freeze: no ledger write inside it, only the marks.
		if err := h.id.Freeze(h.ctx, u.id, "lost phone", "self", h.meta); err != nil {
			t.Fatal(err)
		}
		for _, id := range []int64{review.Txn.ID, approved.Txn.ID} {
			if got := h.get(u, id); got.Stage != wallet.StageVoiding {
				t.Fatalf("after the freeze %s", got.Stage)
			}
		}
		wantCode(t, h.wd.Approve(h.ctx, risk, review.Txn.ID, "", riskMeta), wallet.EAlreadyDecided)
		h.runJobs()
		for _, id := range []int64{review.Txn.ID, approved.Txn.ID} {
			got := h.get(u, id)
			wantStatus(t, got, wallet.StatusFailed, wallet.StageVoided)
			if got.Txn.FailureCode != identity.EAccountFrozen {
				t.Fatalf("failure %s", got.Txn.FailureCode)
			}
			if h.payouts(got.Ref()) != 0 {
				t.Fatal("a frozen account's withdrawal was paid")
			}
		}
		// The one at the provider completes (the poll finds it paid).
		h.clock.Advance(11 * time.Minute)
		h.runJobs()
		wantStatus(t, h.get(u, sent.Txn.ID), wallet.StatusCompleted, wallet.StageCompleted)
		h.runJobs()
		if b := h.balance(u, "USD"); b.Posted != usd(898_50) || b.Available != usd(898_50) {
			t.Fatalf("balance %+v", b)
		}
		h.conserved()
	})
}

// TestREL07_WithdrawalHoldTimeout: a hold nobody decided is voided
// exactly when its business days run out — not a microsecond before.
func TestREL07_WithdrawalHoldTimeout(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newWDHarness(t, db, wdOpts{})
		u := h.signUp()
		card := h.ready(u, usd(500_00), "4242424242424242")
		wd := h.withdraw(u, card.ID, usd(100_00))
		// Made on a Thursday (t0 + 8 days + a little): 5 business days
		// later is the next Thursday, same time.
		if wd.HoldExpiresAt.Sub(wd.Txn.CreatedAt) < 7*24*time.Hour {
			t.Fatalf("hold expires %s, made %s", wd.HoldExpiresAt, wd.Txn.CreatedAt)
		}
		if wd.HoldExpiresAt.Weekday() != h.clock.Now().Weekday() {
			t.Fatalf("expiry on %s", wd.HoldExpiresAt.Weekday())
		}
		h.clock.Set(wd.HoldExpiresAt.Add(-time.Microsecond))
		h.runJobs()
		wantStatus(t, h.get(u, wd.Txn.ID), wallet.StatusPendingReview, wallet.StageReview)
		h.clock.Set(wd.HoldExpiresAt)
		h.runJobs()
		got := h.get(u, wd.Txn.ID)
		wantStatus(t, got, wallet.StatusFailed, wallet.StageVoided)
		if got.Txn.FailureCode != wallet.FailExpired {
			t.Fatalf("failure %s", got.Txn.FailureCode)
		}
		wantCode(t, h.wd.Approve(h.ctx, reviewer(12, "r12@okpay.test"), wd.Txn.ID, "", riskMeta), wallet.EAlreadyDecided)
		if b := h.balance(u, "USD"); b.Available != usd(500_00) {
			t.Fatalf("balance %+v", b)
		}
		h.conserved()
	})
}

// TestWithdrawalConcurrentDecisions: two reviewers approve the same
// withdrawal at once, or one approves while another rejects: exactly one
// decision wins, and the payout happens at most once.
func TestWithdrawalConcurrentDecisions(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		// Every withdrawal goes to review.
		h := newWDHarness(t, db, wdOpts{cfg: wallet.WithdrawalConfig{Review: wallet.ReviewPolicy{AutoApproveMax: map[money.Currency]int64{"USD": 1}}}})
		u := h.signUp()
		card := h.ready(u, usd(5000_00), "4242424242424242")
		a, b := reviewer(13, "r13@okpay.test"), reviewer(14, "r14@okpay.test")
		for round := 0; round < 6; round++ {
			wd := h.withdraw(u, card.ID, usd(10_00))
			var wg sync.WaitGroup
			errs := make([]error, 2)
			for i, r := range []func() error{
				func() error { return h.wd.Approve(h.ctx, a, wd.Txn.ID, "", riskMeta) },
				func() error {
					if round%2 == 0 {
						return h.wd.Approve(h.ctx, b, wd.Txn.ID, "", riskMeta)
					}
					return h.wd.Reject(h.ctx, b, wd.Txn.ID, "policy", "", riskMeta)
				},
			} {
				wg.Add(1)
				go func() { defer wg.Done(); errs[i] = r() }()
			}
			wg.Wait()
			wins := 0
			for _, err := range errs {
				switch okpay.ErrorCode(err) {
				case "":
					wins++
				case wallet.EAlreadyDecided:
				default:
					t.Fatalf("round %d: %v", round, err)
				}
			}
			if wins != 1 {
				t.Fatalf("round %d: %d decisions won (%v)", round, wins, errs)
			}
			h.runJobs()
			if n := h.payouts(wd.Ref()); n > 1 {
				t.Fatalf("%d payouts", n)
			}
			var decisions int
			db.Read.QueryRow(`SELECT COUNT(*) FROM withdrawal_decisions WHERE txn_id = $1 AND actor <> 'rules'`, wd.Txn.ID).Scan(&decisions)
			if decisions != 1 {
				t.Fatalf("round %d: %d reviewer decisions stored", round, decisions)
			}
		}
		h.runJobs()
		h.conserved()
	})
}

// TestWithdrawalOwnAccount (SUP-04): a reviewer whose staff email is the
// customer's cannot decide the customer's withdrawal.
func TestWithdrawalOwnAccount(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newWDHarness(t, db, wdOpts{})
		u := h.signUp()
		card := h.ready(u, usd(500_00), "4242424242424242")
		wd := h.withdraw(u, card.ID, usd(10_00))
		self := reviewer(15, strings.ToUpper(u.email))
		wantCode(t, h.wd.Approve(h.ctx, self, wd.Txn.ID, "", riskMeta), wallet.EOwnAccount)
		wantCode(t, h.wd.Reject(h.ctx, self, wd.Txn.ID, "policy", "", riskMeta), wallet.EOwnAccount)
		wantStatus(t, h.get(u, wd.Txn.ID), wallet.StatusPendingReview, wallet.StageReview)
	})
}

// TestWithdrawalCancelAndMethodInUse: a payout method with a withdrawal
// on its way cannot be deleted (CRD-08); the customer may cancel a
// withdrawal not yet sent (the money is back at once), and then delete.
func TestWithdrawalCancelAndMethodInUse(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newWDHarness(t, db, wdOpts{})
		u := h.signUp()
		card := h.ready(u, usd(500_00), "4242424242424242")
		wd := h.withdraw(u, card.ID, usd(100_00))
		wantCode(t, h.pm.Delete(h.ctx, u.id, card.ID, h.clock.Now()), paymethod.EMethodInUse)
		got, err := h.wd.Cancel(h.ctx, u.id, wd.Txn.ID)
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, got, wallet.StatusFailed, wallet.StageVoided)
		if got.Txn.FailureCode != wallet.FailCancelled {
			t.Fatal(got.Txn.FailureCode)
		}
		_, err = h.wd.Cancel(h.ctx, u.id, wd.Txn.ID)
		wantCode(t, err, okpay.EConflict)
		if b := h.balance(u, "USD"); b.Available != usd(500_00) {
			t.Fatalf("balance %+v", b)
		}
		if err := h.pm.Delete(h.ctx, u.id, card.ID, h.clock.Now()); err != nil {
			t.Fatal(err)
		}
		h.conserved()
	})
}

// TestWithdrawalMethodDeletedBeforePayout: a method deleted between the
// approval and the payout (it can only be deleted while nothing is on
// its way; here the deletion raced the hold) voids the withdrawal at the
// payout job instead of paying a deleted method.
func TestWithdrawalMethodGoneAtPayout(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newWDHarness(t, db, wdOpts{})
		u := h.signUp()
		card := h.ready(u, usd(500_00), "4242424242424242")
		wd := h.withdraw(u, card.ID, usd(100_00))
		if err := h.wd.Approve(h.ctx, reviewer(16, "r16@okpay.test"), wd.Txn.ID, "", riskMeta); err != nil {
			t.Fatal(err)
		}
		// The deletion that raced the hold, as the database would see it.
		if _, err := db.Write.ExecContext(context.Background(), `UPDATE payment_methods SET deleted_at = $1 WHERE id = $2`, h.clock.Now().UnixMicro(), card.ID); err != nil {
			t.Fatal(err)
		}
		h.runJobs()
		got := h.get(u, wd.Txn.ID)
		wantStatus(t, got, wallet.StatusFailed, wallet.StageVoided)
		if got.Txn.FailureCode != paymethod.EMethodDeleted || h.payouts(wd.Ref()) != 0 {
			t.Fatalf("failure %s", got.Txn.FailureCode)
		}
		h.conserved()
	})
}

func asHold(err error, target **identity.HoldError) bool {
	h, ok := err.(*identity.HoldError)
	if ok {
		*target = h
	}
	return ok
}

// TestWithdrawalSweep: a withdrawal whose code never came fails when its
// window closes; one whose code was checked but whose hold was never made
// (the process died in between, the customer left) is held by the jobs.
func TestWithdrawalSweep(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newWDHarness(t, db, wdOpts{})
		u := h.signUp()
		card := h.ready(u, usd(500_00), "4242424242424242")
		left, err := h.start(u, card.ID, usd(10_00))
		if err != nil {
			t.Fatal(err)
		}
		h.clock.Advance(time.Minute)
		authorized, err := h.start(u, card.ID, usd(20_00))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Write.ExecContext(h.ctx, `UPDATE wallet_txns SET status = 'authorized' WHERE id = $1`, authorized.Withdrawal.Txn.ID); err != nil {
			t.Fatal(err)
		}
		h.runJobs()
		if got := h.get(u, authorized.Withdrawal.Txn.ID); got.Txn.Status != wallet.StatusAuthorized {
			t.Fatalf("held before a minute passed: %s", got.Txn.Status)
		}
		h.clock.Advance(15 * time.Minute)
		h.runJobs()
		if got := h.get(u, left.Withdrawal.Txn.ID); got.Txn.Status != wallet.StatusFailed || got.Txn.FailureCode != wallet.EAuthExpired {
			t.Fatalf("unconfirmed: %s %s", got.Txn.Status, got.Txn.FailureCode)
		}
		got := h.get(u, authorized.Withdrawal.Txn.ID)
		wantStatus(t, got, wallet.StatusPendingReview, wallet.StageReview)
		if b := h.balance(u, "USD"); b.PendingOut != usd(20_70) {
			t.Fatalf("held %v", b.PendingOut)
		}
		h.runJobs()
		if b := h.balance(u, "USD"); b.PendingOut != usd(20_70) {
			t.Fatalf("held twice: %v", b.PendingOut)
		}
		h.conserved()
	})
}
