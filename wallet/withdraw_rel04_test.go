package wallet_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
	"github.com/okpay/okpay/wallet"
)

// TestREL04_WithdrawFailpoints stops a withdrawal dead at each of its
// failpoints — after the hold, after the final gate, between "payout
// requested" and "recorded", between the provider's result and the post,
// before the settlement — then starts the service again on the same
// database (the dead one's job leases expire) and lets the client retry:
// every time the withdrawal completes exactly once, the provider holds
// one payout for it, and no money is lost or made.
func TestREL04_WithdrawFailpoints(t *testing.T) {
	points := []string{wallet.FailpointAfterReserve, wallet.FailpointAfterGate, wallet.FailpointAfterSubmit,
		wallet.FailpointAfterResult, wallet.FailpointBeforeSettlement}
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		// No payout webhooks: the outcome is found by the jobs alone, so
		// nothing but the restart can finish the work.
		h := newWDHarness(t, db, wdOpts{dropPayoutEvents: true, cfg: wallet.WithdrawalConfig{Review: wallet.ReviewPolicy{Skip: map[string]bool{
			wallet.RuleFirstWithdrawal: true, wallet.RuleNewMethod: true, wallet.RuleVelocity: true}}}})
		u := h.signUp()
		card := h.ready(u, usd(1000_00), "4242424242424242")
		want := usd(1000_00)
		for _, point := range points {
			t.Run(point, func(t *testing.T) {
				h.t = t
				h.fp.arm(point)
				res, err := h.start(u, card.ID, usd(10_00))
				if err != nil {
					t.Fatal(err)
				}
				in := wallet.ConfirmInput{UserID: u.id, TxnID: res.Withdrawal.Txn.ID, Code: h.lastCode(u.phone, "code_txn"), Meta: h.meta}
				wd, err := h.wd.Confirm(h.ctx, in)
				if point == wallet.FailpointAfterReserve {
					if !wallet.IsCrash(err) {
						t.Fatalf("confirm: %v", err)
					}
					// The client retries after the restart.
					h.restart()
					if wd, err = h.wd.Confirm(h.ctx, in); err != nil {
						t.Fatal(err)
					}
				} else if err != nil {
					t.Fatal(err)
				}
				if wd.Txn.Status != wallet.StatusApproved {
					t.Fatalf("held withdrawal is %s", wd.Txn.Status)
				}
				if point != wallet.FailpointAfterReserve {
					// Run the jobs (polls come due) until the failpoint
					// kills the process, then start it again.
					for i := 0; ; i++ {
						_, err = h.wd.RunJobs(h.ctx)
						if wallet.IsCrash(err) {
							break
						}
						if err != nil || i == 5 {
							t.Fatalf("jobs: %v (failpoint not reached)", err)
						}
						h.clock.Advance(11 * time.Minute)
					}
					h.restart()
				}
				// Leases run out, polls come due; the new process works.
				for i := 0; i < 4; i++ {
					h.clock.Advance(11 * time.Minute)
					h.runJobs()
				}
				got := h.get(u, wd.Txn.ID)
				wantStatus(t, got, wallet.StatusCompleted, wallet.StageCompleted)
				if n := h.payouts(got.Ref()); n != 1 {
					t.Fatalf("%d payouts", n)
				}
				if left := h.jobsLeft(wd.Txn.ID); len(left) != 0 {
					t.Fatalf("jobs left %v", left)
				}
				want = money.New(want.Minor-10_00-60, "USD")
				if b := h.balance(u, "USD"); b.Posted != want || b.Available != want {
					t.Fatalf("balance %+v, want %v", b, want)
				}
				if h.system(wallet.SysWithdrawals, "USD") != 0 || h.system(wallet.SysFeePending, "USD") != 0 {
					t.Fatal("clearing not settled")
				}
				if n := len(h.messages(u.email, wallet.NoticeWithdrawalCompleted)); n == 0 {
					t.Fatal("no confirmation")
				}
				h.conserved()
			})
		}
		if len(h.fp.hits) != len(points) {
			t.Fatalf("failpoints hit: %v", h.fp.hits)
		}
	})
}

// The child process of TestREL04_WithdrawKilled: it opens the parent's
// database, runs the withdrawal jobs, and dies with exit status 137 at
// the failpoint, as a SIGKILL would leave it.
const (
	envChildURL   = "OKPAY_WD_CHILD_URL"
	envChildPoint = "OKPAY_WD_CHILD_POINT"
	envChildTime  = "OKPAY_WD_CHILD_TIME"
)

func TestREL04_WithdrawKilledChild(t *testing.T) {
	url := os.Getenv(envChildURL)
	if url == "" {
		t.Skip("run by TestREL04_WithdrawKilled")
	}
	db, err := sqldb.Open(context.Background(), url, sqldb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	point := os.Getenv(envChildPoint)
	us, _ := strconv.ParseInt(os.Getenv(envChildTime), 10, 64)
	h := newWDHarness(t, db, wdOpts{dropPayoutEvents: true})
	h.clock.Set(time.UnixMicro(us).UTC())
	h.fp.arm(point)
	h.wd = h.newWithdrawals()
	_, err = h.wd.RunJobs(context.Background())
	if wallet.IsCrash(err) {
		os.Exit(137)
	}
	t.Fatalf("the failpoint %s was not reached: %v", point, err)
}

// TestREL04_WithdrawKilled kills a real process between "payout
// requested" and "recorded" (and after the final gate): the test binary
// runs itself as the child above, which exits 137 at the failpoint; then
// the parent, a new process on the same database, finishes the work.
// The provider holds exactly one payout, the withdrawal completes once,
// and the money adds up.
func TestREL04_WithdrawKilled(t *testing.T) {
	if os.Getenv(envChildURL) != "" {
		t.Skip("child")
	}
	for _, d := range sqldbtest.Dialects {
		for _, point := range []string{wallet.FailpointAfterSubmit, wallet.FailpointAfterGate} {
			t.Run(string(d)+"/"+point, func(t *testing.T) {
				url := sqldbtest.URL(t, d)
				db, err := sqldb.Open(context.Background(), url, sqldb.Options{})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { db.Close() })
				if _, err := db.Migrate(context.Background()); err != nil {
					t.Fatal(err)
				}
				h := newWDHarness(t, db, wdOpts{dropPayoutEvents: true})
				u := h.signUp()
				card := h.ready(u, usd(500_00), "4242424242424242")
				wd := h.withdraw(u, card.ID, usd(100_00))
				if err := h.wd.Approve(h.ctx, reviewer(20, "r20@okpay.test"), wd.Txn.ID, "", riskMeta); err != nil {
					t.Fatal(err)
				}
				cmd := exec.Command(os.Args[0], "-test.run=^TestREL04_WithdrawKilledChild$", "-test.count=1")
				cmd.Env = append(os.Environ(), envChildURL+"="+url, envChildPoint+"="+point,
					envChildTime+"="+fmt.Sprint(h.clock.Now().UnixMicro()))
				out, err := cmd.CombinedOutput()
				if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 137 {
					t.Fatalf("child: %v\n%s", err, out)
				}
				mid := h.get(u, wd.Txn.ID)
				if mid.Stage != wallet.StageSubmitting {
					t.Fatalf("after the kill the withdrawal is %s", mid.Stage)
				}
				wantPaid := 0
				if point == wallet.FailpointAfterSubmit {
					wantPaid = 1 // requested, not recorded
				}
				if n := h.payouts(wd.Ref()); n != wantPaid {
					t.Fatalf("%d payouts after the kill", n)
				}
				for i := 0; i < 3; i++ {
					h.clock.Advance(11 * time.Minute)
					h.runJobs()
				}
				got := h.get(u, wd.Txn.ID)
				wantStatus(t, got, wallet.StatusCompleted, wallet.StageCompleted)
				if n := h.payouts(wd.Ref()); n != 1 {
					t.Fatalf("%d payouts", n)
				}
				if b := h.balance(u, "USD"); b.Posted != usd(398_50) || b.Available != usd(398_50) {
					t.Fatalf("balance %+v", b)
				}
				h.conserved()
			})
		}
	}
}
