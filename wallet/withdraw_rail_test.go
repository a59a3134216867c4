package wallet_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/paymethod"
	"github.com/okpay/okpay/psp"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
	"github.com/okpay/okpay/wallet"
)

// TestWithdrawalsUnavailableWhileRailDown: while the provider reports the
// payout rail of the method's kind and currency down, quotes and new
// withdrawals are refused with withdrawals_unavailable and the provider's
// retry hint, before anything is held; a withdrawal authorized before
// the rail went down is held only once it is back.
func TestWithdrawalsUnavailableWhileRailDown(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newWDHarness(t, db, wdOpts{})
		u := h.signUp()
		m := h.ready(u, usd(500_00), "4242424242424242")
		available := func() int64 {
			t.Helper()
			w, err := h.w.FindWallet(h.ctx, u.id, "USD")
			if err != nil {
				t.Fatal(err)
			}
			return w.Available.Minor
		}
		wantUnavailable := func(err error) {
			t.Helper()
			wantCode(t, err, wallet.EWithdrawalsUnavailable)
			var ue *wallet.UnavailableError
			if !errors.As(err, &ue) || ue.RetryAfter != 5*time.Minute || ue.Kind != psp.DestCard || ue.Currency != "USD" {
				t.Fatalf("error %#v", err)
			}
		}
		if err := h.sandbox.SetRailDown(h.ctx, psp.DestCard, "USD", true); err != nil {
			t.Fatal(err)
		}
		_, err := h.wd.Quote(h.ctx, u.id, m.ID, usd(100_00))
		wantUnavailable(err)
		_, err = h.start(u, m.ID, usd(100_00))
		wantUnavailable(err)
		var n int
		if err := db.Read.QueryRowContext(h.ctx, `SELECT COUNT(*) FROM wallet_txns WHERE user_id = $1 AND type = 'withdrawal'`, u.id).Scan(&n); err != nil || n != 0 {
			t.Fatalf("%d withdrawals recorded (%v)", n, err)
		}

		// Another rail down changes nothing for this one.
		h.sandbox.SetRailDown(h.ctx, psp.DestCard, "USD", false)
		h.sandbox.SetRailDown(h.ctx, psp.DestBankAccount, "", true)
		if _, err := h.wd.Quote(h.ctx, u.id, m.ID, usd(100_00)); err != nil {
			t.Fatalf("quote with the card rail up: %v", err)
		}

		// Authorized, then the rail goes down: confirming holds nothing.
		res, err := h.start(u, m.ID, usd(100_00))
		if err != nil {
			t.Fatal(err)
		}
		code := h.lastCode(u.phone, "code_txn")
		h.sandbox.SetRailDown(h.ctx, psp.DestCard, "", true)
		_, err = h.wd.Confirm(h.ctx, wallet.ConfirmInput{UserID: u.id, TxnID: res.Withdrawal.Txn.ID, Code: code, Meta: h.meta})
		wantUnavailable(err)
		if got := available(); got != 500_00 {
			t.Fatalf("available %d after a refused hold", got)
		}
		if wd := h.get(u, res.Withdrawal.Txn.ID); wd.Txn.Status != wallet.StatusAuthorized {
			t.Fatalf("withdrawal is %s", wd.Txn.Status)
		}
		// Back up: confirming again holds it (the code was used already).
		h.sandbox.SetRailDown(h.ctx, psp.DestCard, "", false)
		wd, err := h.wd.Confirm(h.ctx, wallet.ConfirmInput{UserID: u.id, TxnID: res.Withdrawal.Txn.ID, Meta: h.meta})
		if err != nil {
			t.Fatal(err)
		}
		if wd.Txn.Status != wallet.StatusPendingReview && wd.Txn.Status != wallet.StatusApproved {
			t.Fatalf("withdrawal is %s", wd.Txn.Status)
		}
		if got := available(); got != 500_00-101_50 {
			t.Fatalf("available %d after the hold", got)
		}
		h.conserved()
	})
}

// TestWithdrawalPayeeNameRule: a withdrawal to a bank account whose
// payee-name check was a close match goes to a reviewer, and the decision
// record names the rule with the name the bank holds (CRD-10).
func TestWithdrawalPayeeNameRule(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newWDHarness(t, db, wdOpts{})
		u := h.signUp()
		h.fund(u, money.New(500_00, "EUR"))
		m, err := h.pm.AddBankAccount(h.ctx, paymethod.NewBankAccount{UserID: u.id, IBAN: "DE89 3704 0044 0532 0130 00", Holder: "Jon Smith",
			StepUp: h.clock.Now(), ConfirmNameCheck: paymethod.NameCloseMatch})
		if err != nil {
			t.Fatal(err)
		}
		var a, b int64
		if err := db.Read.QueryRowContext(h.ctx, `SELECT amount_a, amount_b FROM psp_sandbox_micro_deposits ORDER BY id DESC LIMIT 1`).Scan(&a, &b); err != nil {
			t.Fatal(err)
		}
		if _, err := h.pm.ConfirmMicroDeposits(h.ctx, u.id, m.ID, a, b); err != nil {
			t.Fatal(err)
		}
		h.clock.Advance(8 * 24 * time.Hour)
		wd := h.withdraw(u, m.ID, money.New(10_00, "EUR"))
		if wd.Decision != wallet.DecisionReview {
			t.Fatalf("decision %s", wd.Decision)
		}
		var rules string
		if err := db.Read.QueryRowContext(h.ctx, `SELECT rules FROM withdrawal_decisions WHERE txn_id = $1 ORDER BY id LIMIT 1`, wd.Txn.ID).Scan(&rules); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(rules, `"payee_name"`) || !strings.Contains(rules, `John Smith`) {
			t.Fatalf("rules %s", rules)
		}
	})
}
