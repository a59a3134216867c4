package wallet_test

import (
	"strings"
	"testing"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/agent"
	"github.com/okpay/okpay/audit"
	"github.com/okpay/okpay/bizday"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/paymethod"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
	"github.com/okpay/okpay/wallet"
)

// TestWithdrawalQuote: the fee comes from the schedule by the method's
// kind, the total is amount plus fee, and the expected completion counts
// business days of the configured calendar (a holiday moves it).
func TestWithdrawalQuote(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		// t0 is Wednesday 25 November 2026, 08:00 UTC; Thursday 26 is a
		// holiday here.
		cal, err := bizday.Parse(strings.NewReader("holiday 2026-11-26 Thanksgiving\n"))
		if err != nil {
			t.Fatal(err)
		}
		h := newWDHarness(t, db, wdOpts{cal: cal})
		u := h.signUp()
		h.fund(u, usd(500_00))
		m := h.payoutCard(u, "4242424242424242")
		_, err = h.wd.Quote(h.ctx, u.id, m.ID, usd(100_00))
		wantCode(t, err, paymethod.EMethodHold) // RSK-02: a new method waits 24 h
		h.clock.Advance(25 * time.Hour)         // Thursday 26, 09:00
		q, err := h.wd.Quote(h.ctx, u.id, m.ID, usd(100_00))
		if err != nil {
			t.Fatal(err)
		}
		if q.Fee != usd(1_50) || q.Total != usd(101_50) || q.Available != usd(500_00) || q.MethodKind != "card" || q.AuthMethod != identity.MethodSMS {
			t.Errorf("quote %+v", q)
		}
		// Made on a holiday: 1 business day is Monday 30 (Friday 27 is
		// day 0), 3 are Wednesday 2 December.
		if got := q.EarliestAt.Format(time.DateOnly); got != "2026-11-30" {
			t.Errorf("earliest %s", got)
		}
		if got := q.LatestAt.Format(time.DateOnly); got != "2026-12-02" {
			t.Errorf("latest %s", got)
		}
		_, err = h.wd.Quote(h.ctx, u.id, m.ID, usd(499_00))
		wantCode(t, err, wallet.EInsufficientFunds) // 499 + 5.49 > 500
		_, err = h.wd.Quote(h.ctx, u.id, m.ID, usd(0))
		wantCode(t, err, okpay.EInvalid)
		other := h.signUp()
		_, err = h.wd.Quote(h.ctx, other.id, m.ID, usd(1_00))
		wantCode(t, err, okpay.ENotFound) // another customer's method
	})
}

// TestWithdrawalFullPath walks the FAQ's withdrawal twice with the real
// sandbox and its webhooks: the first goes to a reviewer (first
// withdrawal), who approves it; the second is approved by the rules. Each
// holds amount + fee, is paid by the provider, posted, settled to the
// provider's account and fee revenue, and confirmed by email.
func TestWithdrawalFullPath(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newWDHarness(t, db, wdOpts{})
		u := h.signUp()
		m := h.ready(u, usd(1000_00), "4242424242424242")

		wd := h.withdraw(u, m.ID, usd(200_00))
		wantStatus(t, wd, wallet.StatusPendingReview, wallet.StageReview)
		if wd.Decision != wallet.DecisionReview || wd.Txn.Fee != usd(2_50) {
			t.Fatalf("decision %s fee %v", wd.Decision, wd.Txn.Fee)
		}
		b := h.balance(u, "USD")
		if b.Available != usd(797_50) || b.PendingOut != usd(202_50) || b.Posted != usd(1000_00) {
			t.Fatalf("held: available %v pending %v posted %v", b.Available, b.PendingOut, b.Posted)
		}
		if h.runJobs() != 0 {
			t.Fatal("a job ran for a withdrawal waiting for review")
		}
		if n := h.payouts(wd.Ref()); n != 0 {
			t.Fatalf("%d payouts before the review", n)
		}
		// The queue shows it with the rules that sent it there.
		q, err := h.wd.ReviewQueue(h.ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(q) != 1 || q[0].Withdrawal.Ref() != wd.Ref() || len(q[0].Rules) != 1 || q[0].Rules[0].ID != wallet.RuleFirstWithdrawal {
			t.Fatalf("queue %+v", q)
		}
		risk := reviewer(7, "risk@okpay.test")
		if err := h.wd.Approve(h.ctx, risk, wd.Txn.ID, "customer known, amount usual", riskMeta); err != nil {
			t.Fatal(err)
		}
		wantCode(t, h.wd.Approve(h.ctx, risk, wd.Txn.ID, "", riskMeta), wallet.EAlreadyDecided)
		wantStatus(t, h.get(u, wd.Txn.ID), wallet.StatusApproved, wallet.StageApproved)
		h.runJobs() // the payout job sends it
		if n := h.payouts(wd.Ref()); n != 1 {
			t.Fatalf("%d payouts", n)
		}
		done := h.waitStatus(u, wd.Txn.ID, wallet.StatusCompleted) // payout.succeeded by webhook
		if done.Stage != wallet.StageCompleted || done.PayoutID == "" || done.Txn.SettleEntryID == 0 || done.ReviewedBy != risk.Ref() {
			t.Fatalf("completed %+v", done)
		}
		h.runJobs() // settlement
		b = h.balance(u, "USD")
		if b.Posted != usd(797_50) || b.Available != usd(797_50) || b.PendingOut != usd(0) {
			t.Fatalf("after payout: %+v", b)
		}
		if got := h.system(wallet.SysExternal+":sandbox", "USD"); got != 200_00 {
			t.Errorf("provider account %d", got)
		}
		if got := h.system(wallet.SysFeeRevenue, "USD"); got != 2_50 {
			t.Errorf("fee revenue %d", got)
		}
		if h.system(wallet.SysWithdrawals, "USD") != 0 || h.system(wallet.SysFeePending, "USD") != 0 {
			t.Error("clearing or pending fees not empty after settlement")
		}
		// The confirmation email, and the request's notice on every channel.
		mails := h.messages(u.email, wallet.NoticeWithdrawalCompleted)
		if len(mails) != 1 || !strings.Contains(mails[0].Body, "$200.00") || !strings.Contains(mails[0].Body, "Visa •••• 4242") {
			t.Fatalf("confirmation mails %+v", mails)
		}
		kinds := h.outboxKinds(u.id)
		for _, k := range []string{"withdrawal_requested/email", "withdrawal_requested/sms", "withdrawal_requested/inapp", "withdrawal_completed/email"} {
			if kinds[k] != 1 {
				t.Errorf("%s: %d notices (%v)", k, kinds[k], kinds)
			}
		}
		// The reviewer's decision is audited.
		entries, err := audit.New(db).List(h.ctx, u.ref(), 50, 0)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, e := range entries {
			if e.Name == wallet.AuditWithdrawalApproved && e.Actor == risk.Ref() && e.Details["withdrawal"] == wd.Ref() && e.Reason == "customer known, amount usual" {
				found = true
			}
		}
		if !found {
			t.Error("no audit record of the approval")
		}

		// The second withdrawal: no rule matches, the rules approve it.
		wd2 := h.withdraw(u, m.ID, usd(100_00))
		wantStatus(t, wd2, wallet.StatusApproved, wallet.StageApproved)
		if wd2.Decision != wallet.DecisionAutoApprove {
			t.Fatalf("decision %s", wd2.Decision)
		}
		h.runJobs()
		h.waitStatus(u, wd2.Txn.ID, wallet.StatusCompleted)
		h.runJobs()
		if b := h.balance(u, "USD"); b.Posted != usd(696_00) || b.Available != usd(696_00) {
			t.Fatalf("after the second: %+v", b)
		}
		if n := h.payouts(wd2.Ref()); n != 1 {
			t.Fatalf("%d payouts", n)
		}
		// The history lists both as withdrawals to the card.
		page, err := h.w.FindTransactions(h.ctx, u.id, wallet.Filter{Type: wallet.TypeWithdrawal})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Txns) != 2 || page.Txns[0].Counterparty != "visa •••• 4242" || page.Txns[0].Status != wallet.StatusCompleted {
			t.Fatalf("history %+v", page.Txns)
		}
		for _, j := range []int64{wd.Txn.ID, wd2.Txn.ID} {
			if left := h.jobsLeft(j); len(left) != 0 {
				t.Errorf("jobs left %v", left)
			}
		}
		h.conserved()
	})
}

// TestWithdrawalRejected: a reviewer rejects with a reason; the hold is
// voided, the money is back, the customer sees the reason in their
// language and is notified; the decision is audited and final.
func TestWithdrawalRejected(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newWDHarness(t, db, wdOpts{})
		u := h.signUp()
		m := h.ready(u, usd(300_00), "4242424242424242")
		wd := h.withdraw(u, m.ID, usd(100_00))
		wantStatus(t, wd, wallet.StatusPendingReview, wallet.StageReview)
		risk := reviewer(8, "risk8@okpay.test")
		wantCode(t, h.wd.Reject(h.ctx, risk, wd.Txn.ID, "because", "", riskMeta), okpay.EInvalid)
		agentOnly := reviewer(9, "agent9@okpay.test")
		agentOnly.Roles = []agent.Role{agent.RoleAgent}
		wantCode(t, h.wd.Reject(h.ctx, agentOnly, wd.Txn.ID, "policy", "", riskMeta), okpay.EForbidden)
		if err := h.wd.Reject(h.ctx, risk, wd.Txn.ID, "suspicious_activity", "pattern of mule accounts", riskMeta); err != nil {
			t.Fatal(err)
		}
		got := h.get(u, wd.Txn.ID)
		wantStatus(t, got, wallet.StatusRejected, wallet.StageVoided)
		if got.Txn.FailureCode != "rejected_suspicious_activity" || got.Txn.SettleEntryID == 0 {
			t.Fatalf("rejected %+v", got.Txn)
		}
		if zh := h.wd.FailureText(got, i18n.ZhCN); !strings.Contains(zh, "异常") {
			t.Errorf("zh reason %q", zh)
		}
		if en := h.wd.FailureText(got, i18n.En); !strings.Contains(en, "unusual activity") {
			t.Errorf("en reason %q", en)
		}
		if b := h.balance(u, "USD"); b.Posted != usd(300_00) || b.Available != usd(300_00) || b.PendingOut != usd(0) {
			t.Fatalf("balance %+v", b)
		}
		mails := h.messages(u.email, wallet.NoticeWithdrawalFailed)
		if len(mails) != 1 || !strings.Contains(mails[0].Body, "unusual activity") || strings.Contains(mails[0].Body, "mule") {
			t.Fatalf("mails %+v", mails) // the reason, never the internal note
		}
		wantCode(t, h.wd.Approve(h.ctx, risk, wd.Txn.ID, "", riskMeta), wallet.EAlreadyDecided)
		wantCode(t, h.wd.Reject(h.ctx, risk, wd.Txn.ID, "policy", "", riskMeta), wallet.EAlreadyDecided)
		c, err := h.wd.ReviewCase(h.ctx, wd.Txn.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !c.Decided || len(c.Decisions) != 2 || c.Decisions[1].Actor != risk.Ref() || c.Decisions[1].Outcome != "reject" || c.Decisions[1].Note != "pattern of mule accounts" {
			t.Fatalf("decisions %+v", c.Decisions)
		}
		entries, err := audit.New(db).List(h.ctx, u.ref(), 50, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) == 0 || entries[0].Name != wallet.AuditWithdrawalRejected || entries[0].Details["reject_reason"] != "suspicious_activity" {
			t.Fatalf("audit %+v", entries[:1])
		}
		if h.payouts(wd.Ref()) != 0 {
			t.Fatal("a rejected withdrawal was paid")
		}
		h.runJobs()
		h.conserved()
	})
}

// TestWithdrawalPayoutFailure: the provider fails the payout (the test
// card 4000 0000 0000 0077; an e-wallet account with FAIL): the hold is
// voided, the money back, the reason shown and notified.
func TestWithdrawalPayoutFailure(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newWDHarness(t, db, wdOpts{})
		u := h.signUp()
		card := h.ready(u, usd(500_00), "4000000000000077")
		ew := h.payoutEWallet(u, "FAIL-owner@example.com")
		h.clock.Advance(25 * time.Hour)
		risk := reviewer(10, "risk10@okpay.test")
		for _, tc := range []struct {
			method int64
			code   string
		}{{card.ID, "provider_payout_declined"}, {ew.ID, "provider_account_not_found"}} {
			wd := h.withdraw(u, tc.method, usd(100_00))
			if wd.Stage == wallet.StageReview {
				if err := h.wd.Approve(h.ctx, risk, wd.Txn.ID, "", riskMeta); err != nil {
					t.Fatal(err)
				}
			}
			h.runJobs()
			got := h.waitStatus(u, wd.Txn.ID, wallet.StatusFailed)
			if got.Stage != wallet.StageVoided || got.Txn.FailureCode != tc.code {
				t.Fatalf("failed %s/%s", got.Stage, got.Txn.FailureCode)
			}
			if txt := h.wd.FailureText(got, i18n.ZhCN); txt == "" || txt == got.Txn.FailureReason {
				t.Errorf("%s: no Chinese reason (%q)", tc.code, txt)
			}
			if h.payouts(wd.Ref()) != 1 {
				t.Fatal("payouts")
			}
		}
		if b := h.balance(u, "USD"); b.Posted != usd(500_00) || b.Available != usd(500_00) {
			t.Fatalf("balance %+v", b)
		}
		if n := len(h.messages(u.email, wallet.NoticeWithdrawalFailed)); n != 2 {
			t.Fatalf("%d failure notices", n)
		}
		h.runJobs()
		h.conserved()
	})
}
