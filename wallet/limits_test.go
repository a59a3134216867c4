package wallet_test

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/okpay/okpay/audit"
	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
	"github.com/okpay/okpay/wallet"
)

// smallLevels: level 0 may send $50 a day and $120 a month, level 1 ten
// times that (other currencies keep the defaults).
func smallLevels() []wallet.LevelLimits {
	ls := wallet.DefaultLevels()
	ls[0].Daily["USD"], ls[0].Monthly["USD"] = 50_00, 120_00
	ls[1].Daily["USD"], ls[1].Monthly["USD"] = 500_00, 1200_00
	return ls
}

// TestRSK03_VelocityPerHourResets: the hourly count refuses the next
// payment with the limit and its reset time, and starts again in the next
// hour.
func TestRSK03_VelocityPerHourResets(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db, harnessOpts{cfg: wallet.Config{Velocity: wallet.Velocity{TransfersPerHour: 3, TransfersPerDay: 5, NewPayeesPerDay: 2, WithdrawalsPerDay: 1}}})
		alice, bob, carol, dave := h.signUp(), h.signUp(), h.signUp(), h.signUp()
		h.fund(alice, usd(100_00))
		h.clock.Set(time.Date(2026, 11, 25, 9, 10, 0, 0, time.UTC))
		h.pay(alice, bob, usd(1_00))
		h.pay(alice, bob, usd(1_00))
		h.pay(alice, carol, usd(1_00))
		_, err := h.send(alice, bob, usd(1_00), h.key())
		wantCode(t, err, wallet.ELimitExceeded)
		var le *wallet.LimitError
		if !errors.As(err, &le) || le.Limit != wallet.LimitTransfersPerHour || le.Max != 3 || le.Used != 3 ||
			!le.ResetsAt.Equal(time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)) {
			t.Fatalf("limit error: %+v", le)
		}
		if txt := le.Text(h.w, "zh-CN"); txt == le.Error() || txt == "" {
			t.Fatalf("untranslated: %q", txt)
		}
		h.clock.Set(time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC))
		h.pay(alice, bob, usd(1_00))
		// The third new payee of the day is refused (new payees: 2), before
		// a code is sent for it: recorded failed.
		codes := len(h.messages(alice.phone, "code_txn"))
		res, err := h.send(alice, dave, usd(1_00), h.key())
		if !errors.As(err, &le) || le.Limit != wallet.LimitNewPayeesPerDay || res == nil || res.Txn.Status != wallet.StatusFailed {
			t.Fatalf("new payees: %+v %v", res, err)
		}
		if len(h.messages(alice.phone, "code_txn")) != codes {
			t.Fatal("a code was sent for a transfer over a limit")
		}
		h.pay(alice, bob, usd(1_00))
		_, err = h.send(alice, bob, usd(1_00), h.key())
		if !errors.As(err, &le) || le.Limit != wallet.LimitTransfersPerDay || !le.ResetsAt.Equal(time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)) {
			t.Fatalf("per day: %v", err)
		}
		st, err := h.w.Limits(h.ctx, alice.id)
		if err != nil || st.TransfersToday != 5 || st.NewPayeesToday != 2 || st.TransfersThisHour != 2 {
			t.Fatalf("limit status: %+v %v", st, err)
		}
		h.clock.Set(time.Date(2026, 11, 26, 0, 0, 1, 0, time.UTC))
		h.pay(alice, bob, usd(1_00))
	})
}

// TestRSK03_AmountLimitsByLevel: the daily and monthly money-out limits of
// the level, fee included, with their reset; a desk agent raises the level
// (audited, notified) and the higher limits apply at once.
func TestRSK03_AmountLimitsByLevel(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db, harnessOpts{cfg: wallet.Config{Levels: smallLevels()},
			fees: &testFees{bp: map[string]int64{}, fixed: map[string]int64{wallet.OpTransfer: 1_00}}})
		alice, bob := h.signUp(), h.signUp()
		h.fund(alice, usd(1000_00))
		h.clock.Set(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
		h.pay(alice, bob, usd(30_00)) // 31 with the fee
		_, err := h.send(alice, bob, usd(19_00), h.key())
		var le *wallet.LimitError
		if !errors.As(err, &le) || le.Limit != wallet.LimitDailyAmount || le.Max != 50_00 || le.Used != 31_00 || le.Currency != "USD" ||
			!le.ResetsAt.Equal(time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)) {
			t.Fatalf("daily: %v", err)
		}
		h.pay(alice, bob, usd(18_00)) // exactly 50
		h.clock.Set(time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC))
		h.pay(alice, bob, usd(40_00)) // month: 91
		h.clock.Set(time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC))
		h.pay(alice, bob, usd(28_00)) // month: 120
		h.clock.Set(time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC))
		_, err = h.send(alice, bob, usd(1_00), h.key())
		if !errors.As(err, &le) || le.Limit != wallet.LimitMonthlyAmount || le.Used != 120_00 || !le.ResetsAt.Equal(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)) {
			t.Fatalf("monthly: %v", err)
		}
		// Other currencies have their own limits.
		h.fund(alice, money.New(100_00, "EUR"))
		h.pay(alice, bob, money.New(10_00, "EUR"))

		// The desk raises the level: audited, notified, effective at once.
		if err := h.w.SetVerificationLevel(h.ctx, alice.id, 2, "agent-7", "typo", h.meta); err == nil {
			t.Fatal("level 2 does not exist")
		}
		if err := h.w.SetVerificationLevel(h.ctx, alice.id, 1, "", "", h.meta); err == nil {
			t.Fatal("a level change without actor and reason")
		}
		if err := h.w.SetVerificationLevel(h.ctx, alice.id, 1, "agent-7", "identity document reviewed", h.meta); err != nil {
			t.Fatal(err)
		}
		entries, err := audit.New(db).List(h.ctx, alice.ref(), 100, 0)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, e := range entries {
			if e.Name == wallet.AuditLevelChanged && e.Actor == "agent-7" && e.Details["from"] == "0" && e.Details["to"] == "1" && e.Reason == "identity document reviewed" {
				found = true
			}
		}
		if !found {
			t.Fatalf("no audit record of the level change: %+v", entries)
		}
		if k := h.outboxKinds(alice.id); k["limits_changed/sms"] != 1 || k["limits_changed/email"] != 1 {
			t.Fatalf("notices: %v", k)
		}
		if sms := h.messages(alice.phone, wallet.NoticeLimitsChanged); len(sms) != 1 || !containsAll(sms[0].Body, "verified", "/freeze/") {
			t.Fatalf("notice: %+v", sms)
		}
		// Setting the same level again changes nothing and notifies nobody.
		if err := h.w.SetVerificationLevel(h.ctx, alice.id, 1, "agent-7", "again", h.meta); err != nil {
			t.Fatal(err)
		}
		if k := h.outboxKinds(alice.id); k["limits_changed/sms"] != 1 {
			t.Fatalf("a no-op change notified: %v", k)
		}
		h.pay(alice, bob, usd(100_00))
		st, err := h.w.Limits(h.ctx, alice.id)
		if err != nil || st.Level != 1 || st.LevelName != "verified" {
			t.Fatalf("status: %+v %v", st, err)
		}
		for _, a := range st.Amounts {
			if a.Currency == "USD" && (a.UsedThisMonth != usd(221_00) || a.UsedToday != usd(101_00) || a.Daily != usd(500_00)) {
				t.Fatalf("USD: %+v", a)
			}
		}
	})
}

// TestRSK03_ConcurrentPaymentsCannotPassALimitTogether: many payments at
// once whose sum passes the daily limit (or whose count passes the hourly
// one): exactly as many go through as the limit allows.
func TestRSK03_ConcurrentPaymentsCannotPassALimitTogether(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db, harnessOpts{cfg: wallet.Config{Levels: smallLevels(),
			Velocity: wallet.Velocity{TransfersPerHour: 8, TransfersPerDay: 100, NewPayeesPerDay: 100, WithdrawalsPerDay: 5}}})
		alice, bob := h.signUp(), h.signUp()
		h.fund(alice, usd(1000_00))
		h.pay(alice, bob, usd(1)) // $0.01 of the $50
		run := func(n int, a money.Amount) (ok, limited int) {
			var wg sync.WaitGroup
			var mu sync.Mutex
			for i := 0; i < n; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := h.send(alice, bob, a, h.key())
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err == nil:
						ok++
					case errors.As(err, new(*wallet.LimitError)):
						limited++
					default:
						t.Errorf("unexpected: %v", err)
					}
				}()
			}
			wg.Wait()
			return ok, limited
		}
		// $10 each: 4 fit in the $49.99 left.
		if ok, limited := run(10, usd(10_00)); ok != 4 || limited != 6 {
			t.Fatalf("amount: %d ok, %d limited", ok, limited)
		}
		// Count: 8 an hour, 5 used (1 + 4): 3 more.
		if ok, limited := run(8, usd(1)); ok != 3 || limited != 5 {
			t.Fatalf("count: %d ok, %d limited", ok, limited)
		}
		if got := h.balance(alice, "USD"); got.Available != usd(1000_00-1-40_00-3) {
			t.Fatalf("alice: %+v", got)
		}
		h.verify()
	})
}

func containsAll(s string, subs ...string) bool {
	for _, x := range subs {
		if !strings.Contains(s, x) {
			return false
		}
	}
	return true
}
