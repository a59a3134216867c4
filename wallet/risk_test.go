package wallet_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/audit"
	"github.com/okpay/okpay/fx"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/identity/risk"
	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/notify"
	"github.com/okpay/okpay/paymethod"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
	"github.com/okpay/okpay/wallet"
)

// The wallet's risk controls (risk.go): the new-device cap (RSK-01) on
// transfers, remittances and withdrawals, and the auto-freeze rules of
// RSK-04 where the wallet's events happen, with their decision records
// replayed (RSK-07). Every clock is the manual one, set to the exact
// boundaries.

// capConfig: level 0 may send $50 a day (smallLevels), so a new device
// $10 (the default cap, 20%).
func capConfig() wallet.Config {
	return wallet.Config{Levels: smallLevels(), NewDeviceCap: risk.DefaultDeviceCap()}
}

// on returns the harness's request details from another device.
func (h *harness) on(device string) identity.Meta {
	m := h.meta
	m.DeviceID = device
	return m
}

// signInOn signs u in on device (password, then the SMS code) a minute
// from now (SMS codes to one account go out at least 60 s apart, MFA-03)
// and returns that device's request details: a new-device sign-in records
// the device (its first-seen time) and says so in the sign-in's audit
// record.
func (h *harness) signInOn(u *user, device string) identity.Meta {
	h.t.Helper()
	h.clock.Advance(time.Minute)
	m := h.on(device)
	res, err := h.id.Login(h.ctx, u.email, "correct horse battery staple", m)
	if err != nil {
		h.t.Fatalf("login: %v", err)
	}
	if _, err := h.id.VerifyFactor(h.ctx, res.Token, identity.MethodSMS, h.lastCode(u.phone, "code_login"), m); err != nil {
		h.t.Fatalf("second factor: %v", err)
	}
	return m
}

// sendFrom is send from the device of m.
func (h *harness) sendFrom(u, v *user, a money.Amount, m identity.Meta) (*wallet.TransferResult, error) {
	return h.w.Transfer(h.ctx, wallet.TransferInput{UserID: u.id, Amount: a, Payee: v.email, Key: h.key(), Meta: m})
}

// wantNewDeviceLimit checks that err is the new-device cap's refusal.
func wantNewDeviceLimit(t testing.TB, err error, max, used int64, until, resets time.Time) *wallet.LimitError {
	t.Helper()
	var le *wallet.LimitError
	if !errors.As(err, &le) || le.Limit != wallet.LimitNewDeviceAmount {
		t.Fatalf("error = %v, want the new-device limit", err)
	}
	if okpay.ErrorCode(err) != wallet.ELimitExceeded || le.Max != max || le.Used != used || !le.Until.Equal(until) || !le.ResetsAt.Equal(resets) {
		t.Fatalf("limit error %+v (code %s), want max %d, used %d, until %v, resets %v", le, okpay.ErrorCode(err), max, used, until, resets)
	}
	return le
}

// userState reads whether u is frozen, and why.
func (h *harness) userState(u *user) (bool, string) {
	h.t.Helper()
	iu, err := h.id.FindUser(h.ctx, u.id)
	if err != nil {
		h.t.Fatal(err)
	}
	return iu.Frozen, iu.FrozenReason
}

// riskRecords returns the details of u's risk decision records (audit
// account_frozen by "risk"), oldest first.
func (h *harness) riskRecords(u *user) []map[string]string {
	h.t.Helper()
	entries, err := audit.New(h.db).List(h.ctx, u.ref(), 200, 0)
	if err != nil {
		h.t.Fatal(err)
	}
	var out []map[string]string
	for i := len(entries) - 1; i >= 0; i-- {
		if e := entries[i]; e.Name == audit.AccountFrozen && e.Actor == "risk" {
			out = append(out, e.Details)
		}
	}
	return out
}

// wantFrozenBy checks that u was frozen by rule, once, with the standard
// freeze: its sessions revoked, the freeze notice queued, and one decision
// record (RSK-07) whose details it returns.
func (h *harness) wantFrozenBy(u *user, rule string) map[string]string {
	h.t.Helper()
	frozen, reason := h.userState(u)
	if !frozen || reason != "auto:"+rule {
		h.t.Fatalf("user frozen=%v reason=%q, want frozen by %s", frozen, reason, rule)
	}
	if _, _, err := h.id.Authenticate(h.ctx, u.token); err == nil {
		h.t.Fatal("a session survived the freeze")
	}
	if n := h.outboxKinds(u.id)[identity.NoteFrozen+"/"+notify.ChannelInApp]; n == 0 {
		h.t.Fatal("no freeze notice queued")
	}
	recs := h.riskRecords(u)
	if len(recs) != 1 {
		h.t.Fatalf("%d risk decision records, want 1: %v", len(recs), recs)
	}
	d := recs[0]
	if d["rule"] != rule || d["version"] != "1" || d["outcome"] != "freeze" || d["support_case"] != identity.SupportCaseNote {
		h.t.Fatalf("decision record %v", d)
	}
	return d
}

// wantNotFrozen checks that u is not frozen and no rule decided anything.
func (h *harness) wantNotFrozen(u *user) {
	h.t.Helper()
	if frozen, reason := h.userState(u); frozen {
		h.t.Fatalf("user frozen (%s)", reason)
	}
	if recs := h.riskRecords(u); len(recs) != 0 {
		h.t.Fatalf("risk decisions %v", recs)
	}
}

// wantReplayed checks that replaying events through the default rules
// gives exactly one decision, whose record is rec (RSK-07).
func wantReplayed(t testing.TB, rc risk.Context, events []risk.Event, rec map[string]string) {
	t.Helper()
	ds := risk.Replay(rc, events)
	if len(ds) != 1 {
		t.Fatalf("replay gave %d decisions, want 1: %+v", len(ds), ds)
	}
	if got := identity.DecisionDetails(ds[0]); !maps.Equal(got, rec) {
		t.Fatalf("replayed record %v\nrecorded %v", got, rec)
	}
}

// TestRSK01_NewDeviceCapBoundaries: for 72 h after an account first used
// a device, a day's money-out from it is capped at 20% of the daily limit
// ($10 of $50): refused one cent past it with its own limit and texts,
// at 72 h − 1 s still capped, at 72 h the full limit; a device the account
// never signed in on, or no device at all, stays capped; an old device is
// not.
func TestRSK01_NewDeviceCapBoundaries(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db, harnessOpts{cfg: capConfig()})
		alice, bob := h.signUp(), h.signUp()
		seen := h.clock.Now() // alice's sign-up recorded dev-1
		end := seen.Add(72 * time.Hour)
		h.fund(alice, usd(1000_00))
		h.pay(alice, bob, usd(1_00)) // bob is now a known payee: no codes below $300
		h.pay(alice, bob, usd(9_00))
		day1End := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
		res, err := h.send(alice, bob, usd(1), h.key())
		le := wantNewDeviceLimit(t, err, 10_00, 10_00, end, day1End)
		if res == nil || res.Txn.Status != wallet.StatusFailed || res.Txn.FailureCode != wallet.ELimitExceeded {
			t.Fatalf("refused transfer recorded as %+v", res)
		}
		en, zh := le.Text(h.w, i18n.En), le.Text(h.w, i18n.ZhCN)
		if !containsAll(en, "new on your account", "2026-11-28 08:00 UTC", "$10.00") || !containsAll(zh, "新设备", "2026-11-28 08:00 UTC") {
			t.Fatalf("texts:\n%s\n%s", en, zh)
		}

		// 72 h − 1 s: a new day, still a new device; the limit starts
		// again when the device stops being new (before the day ends).
		h.clock.Set(end.Add(-time.Second))
		_, err = h.send(alice, bob, usd(10_01), h.key())
		wantNewDeviceLimit(t, err, 10_00, 0, end, end)
		h.pay(alice, bob, usd(10_00))
		// 72 h: the full $50 ($10 used).
		h.clock.Set(end)
		h.pay(alice, bob, usd(10_01))
		h.clock.Set(end.Add(time.Second))
		h.pay(alice, bob, usd(29_99))
		_, err = h.send(alice, bob, usd(1), h.key())
		var le2 *wallet.LimitError
		if !errors.As(err, &le2) || le2.Limit != wallet.LimitDailyAmount || le2.Used != 50_00 {
			t.Fatalf("past the daily limit: %v", err)
		}

		// The next day: no device, or one never signed in on, is capped
		// without an end; a device signed in on now is new until 72 h on.
		next := time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)
		h.clock.Set(next)
		dayEnd := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
		for _, dev := range []string{"", "never-signed-in"} {
			_, err := h.sendFrom(alice, bob, usd(10_01), h.on(dev))
			le := wantNewDeviceLimit(t, err, 10_00, 0, time.Time{}, dayEnd)
			if !strings.Contains(le.Text(h.w, i18n.En), "not yet known") || !strings.Contains(le.Text(h.w, i18n.ZhCN), "尚未识别") {
				t.Fatalf("unknown device texts: %s / %s", le.Text(h.w, i18n.En), le.Text(h.w, i18n.ZhCN))
			}
		}
		phone := h.signInOn(alice, "dev-phone")
		_, err = h.sendFrom(alice, bob, usd(10_01), phone)
		wantNewDeviceLimit(t, err, 10_00, 0, h.clock.Now().Add(72*time.Hour), dayEnd)
		if res, err := h.sendFrom(alice, bob, usd(10_00), phone); err != nil || res.Txn.Status != wallet.StatusCompleted {
			t.Fatalf("within the cap from the new device: %+v %v", res, err)
		}
		// The old device may still send up to the daily limit ($10 used).
		h.pay(alice, bob, usd(40_00))
		h.verify()
	})
}

// TestRSK01_ConcurrentMoneyOutCannotPassNewDeviceCap: payments at once
// from a new device whose sum passes the cap: exactly as many go through
// as the cap allows, transfers and a withdrawal alike (RSK-03's
// conditional upsert carries the cap).
func TestRSK01_ConcurrentMoneyOutCannotPassNewDeviceCap(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db, harnessOpts{cfg: capConfig()})
		alice, bob := h.signUp(), h.signUp()
		h.fund(alice, usd(1000_00))
		h.pay(alice, bob, usd(1)) // $0.01 of the $10
		run := func(n int, a money.Amount) (ok, limited int) {
			var wg sync.WaitGroup
			var mu sync.Mutex
			for range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := h.send(alice, bob, a, h.key())
					mu.Lock()
					defer mu.Unlock()
					var le *wallet.LimitError
					switch {
					case err == nil:
						ok++
					case errors.As(err, &le) && le.Limit == wallet.LimitNewDeviceAmount:
						limited++
					default:
						t.Errorf("unexpected: %v", err)
					}
				}()
			}
			wg.Wait()
			return ok, limited
		}
		// Two of $6: only one fits in the $9.99 left.
		if ok, limited := run(2, usd(6_00)); ok != 1 || limited != 1 {
			t.Fatalf("two at once: %d ok, %d limited", ok, limited)
		}
		// Ten of $1: three fit in the $3.99 left.
		if ok, limited := run(10, usd(1_00)); ok != 3 || limited != 7 {
			t.Fatalf("ten at once: %d ok, %d limited", ok, limited)
		}
		if got := h.balance(alice, "USD"); got.Available != usd(1000_00-1-6_00-3_00) {
			t.Fatalf("alice: %+v", got)
		}
		h.verify()
	})
}

// TestRSK01_NewDeviceCapOnRemittances: a remittance from a new device is
// capped like a transfer.
func TestRSK01_NewDeviceCapOnRemittances(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		cfg := fxConfig()
		cfg.Levels[0].Daily["USD"] = 100_00 // the cap: $20
		cfg.NewDeviceCap = risk.DefaultDeviceCap()
		h := newFXHarness(t, db, cfg, fx.Config{})
		alice, bob := h.signUp(), h.signUp()
		seen := h.clock.Now()
		h.fund(alice, usd(1000_00))
		q := h.quoteRemit(alice, bob, "USD", "GBP", usd(25_00), fx.SideSell)
		r, err := h.remit(alice, bob, q.ID, h.key())
		if err != nil {
			t.Fatal(err)
		}
		res, err := h.confirmRemit(alice, r.Txn.ID, h.lastCode(alice.phone, "code_txn"))
		wantNewDeviceLimit(t, err, 20_00, 0, seen.Add(72*time.Hour), time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC))
		if res == nil || res.Txn.Status != wallet.StatusFailed {
			t.Fatalf("refused remittance: %+v", res)
		}
		q = h.quoteRemit(alice, bob, "USD", "GBP", usd(10_00), fx.SideSell)
		r, err = h.remit(alice, bob, q.ID, h.key())
		if err != nil {
			t.Fatal(err)
		}
		if res, err := h.confirmRemit(alice, r.Txn.ID, h.lastCode(alice.phone, "code_txn")); err != nil || res.Txn.Status != wallet.StatusCompleted {
			t.Fatalf("within the cap: %+v %v", res, err)
		}
		h.verify()
	})
}

// confirmFrom creates a withdrawal and confirms it from the device of m.
func (h *wdHarness) confirmFrom(u *user, methodID int64, a money.Amount, m identity.Meta) (*wallet.Withdrawal, error) {
	h.t.Helper()
	res, err := h.wd.Create(h.ctx, wallet.WithdrawalInput{UserID: u.id, MethodID: methodID, Amount: a, Key: h.key(), Meta: m})
	if err != nil {
		h.t.Fatalf("create withdrawal: %v", err)
	}
	return h.wd.Confirm(h.ctx, wallet.ConfirmInput{UserID: u.id, TxnID: res.Withdrawal.Txn.ID, Code: h.lastCode(u.phone, "code_txn"), Meta: m})
}

// TestRSK01_NewDeviceCapOnWithdrawals: a withdrawal confirmed from a new
// device is capped, and shares the day's cap with transfers made at the
// same moment from that device.
func TestRSK01_NewDeviceCapOnWithdrawals(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newWDHarness(t, db, wdOpts{walletCfg: capConfig()})
		u, v := h.signUp(), h.signUp()
		card := h.ready(u, usd(1000_00), "4242424242424242") // 8 days on: dev-1 is old
		h.pay(u, v, usd(1))                                  // v is a known payee
		tablet := h.signInOn(u, "dev-tablet")
		// $10 cap: the withdrawal takes $9.00 + $0.59 fee.
		_, err := h.confirmFrom(u, card.ID, usd(10_00), tablet)
		var le *wallet.LimitError
		if !errors.As(err, &le) || le.Limit != wallet.LimitNewDeviceAmount {
			t.Fatalf("withdrawal past the cap: %v", err)
		}
		// At once from the tablet: a $9.00 withdrawal ($9.59) and a $5.00
		// transfer; together they pass the $10 cap ($0.01 used): one wins.
		res, err := h.wd.Create(h.ctx, wallet.WithdrawalInput{UserID: u.id, MethodID: card.ID, Amount: usd(9_00), Key: h.key(), Meta: tablet})
		if err != nil {
			t.Fatal(err)
		}
		code := h.lastCode(u.phone, "code_txn")
		var wg sync.WaitGroup
		var werr, terr error
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, werr = h.wd.Confirm(h.ctx, wallet.ConfirmInput{UserID: u.id, TxnID: res.Withdrawal.Txn.ID, Code: code, Meta: tablet})
		}()
		go func() {
			defer wg.Done()
			_, terr = h.sendFrom(u, v, usd(5_00), tablet)
		}()
		wg.Wait()
		if (werr == nil) == (terr == nil) {
			t.Fatalf("withdrawal: %v; transfer: %v; want exactly one refused", werr, terr)
		}
		for _, err := range []error{werr, terr} {
			if err != nil && !errors.As(err, &le) {
				t.Fatalf("refusal: %v", err)
			}
		}
		// The old device still has the rest of the $50 day.
		if wd, err := h.confirmFrom(u, card.ID, usd(20_00), h.meta); err != nil || wd.Txn.Status == wallet.StatusFailed {
			t.Fatalf("withdrawal from the old device: %+v %v", wd, err)
		}
		h.conserved()
	})
}

// TestRSK04_NewPayeeBurst: the 10th payment to a new payee within an hour
// (both ends included) completes and freezes the account in the same
// transaction; the 11th payment is refused. Ten spread over 1 h + 1 s do
// not trip it, the 11th then does (the window slides). The decision
// records replay from the payees the wallet stored (RSK-07).
func TestRSK04_NewPayeeBurst(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db, harnessOpts{})
		carol, dave := h.signUp(), h.signUp()
		var payees []*user
		for range 11 {
			payees = append(payees, h.signUp())
		}
		h.fund(carol, usd(1000_00))
		h.fund(dave, usd(1000_00))

		// carol: 10 payments from T to T+1h exactly (6 min 40 s apart).
		start := h.clock.Now()
		for i := range 9 {
			h.clock.Set(start.Add(time.Duration(i) * 400 * time.Second))
			h.pay(carol, payees[i], usd(1_00))
		}
		h.wantNotFrozen(carol)
		h.clock.Set(start.Add(time.Hour))
		if tx := h.pay(carol, payees[9], usd(1_00)); tx.Status != wallet.StatusCompleted {
			t.Fatalf("10th payment: %s", tx.Status)
		}
		rec := h.wantFrozenBy(carol, risk.RuleNewPayeeBurst)
		if rec["input.new_payee_transfers"] != "10" || rec["input.distinct_payees"] != "10" || rec["input.window"] != "1h0m0s" ||
			rec["input.first_transfer_at"] != start.Format(time.RFC3339Nano) {
			t.Fatalf("decision inputs %v", rec)
		}
		// The 11th, even to a payee paid before, is refused.
		h.clock.Advance(time.Second)
		_, err := h.send(carol, payees[0], usd(1_00), h.key())
		wantCode(t, err, identity.EAccountFrozen)
		if got := h.balance(carol, "USD"); got.Available != usd(1000_00-10_00) {
			t.Fatalf("carol: %+v", got)
		}
		events, err := h.w.NewPayeeEvents(h.ctx, carol.id, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		wantReplayed(t, risk.Context{}, events, rec)

		// dave: the first at S, nine more from S+1s+400s to S+1h+1s.
		s := h.clock.Now().Add(time.Hour)
		h.clock.Set(s)
		h.pay(dave, payees[0], usd(1_00))
		for i := 1; i <= 9; i++ {
			h.clock.Set(s.Add(time.Second + time.Duration(i)*400*time.Second))
			h.pay(dave, payees[i], usd(1_00))
		}
		h.wantNotFrozen(dave)
		// The 11th, 1 s later: the last ten are within the hour.
		h.clock.Advance(time.Second)
		h.pay(dave, payees[10], usd(1_00))
		rec = h.wantFrozenBy(dave, risk.RuleNewPayeeBurst)
		if rec["input.new_payee_transfers"] != "10" {
			t.Fatalf("decision inputs %v", rec)
		}
		events, err = h.w.NewPayeeEvents(h.ctx, dave.id, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		wantReplayed(t, risk.Context{}, events, rec)
		h.verify()
	})
}

// pans returns distinct test card numbers (Luhn-valid; the sandbox
// verifies any such card), so that no two accounts share an instrument by
// accident.
func pans(n int, seed int) []string {
	var out []string
	for i := range n {
		body := fmt.Sprintf("411111%09d", seed*1000+i)
		sum := 0
		for j := len(body) - 1; j >= 0; j-- {
			d := int(body[j] - '0')
			if (len(body)-j)%2 == 1 {
				d *= 2
				if d > 9 {
					d -= 9
				}
			}
			sum += d
		}
		out = append(out, body+fmt.Sprint((10-sum%10)%10))
	}
	return out
}

// drainScenario: u has $100 and an old payout card; at L it signs in on a
// new device, at L+10 min it adds a second card, and at L+at it confirms,
// from the new device, a withdrawal to the old card whose total (fee
// included) is at least half the balance (drain) or one cent below the
// smallest such total. It returns u, the withdrawal's error and the
// new device's sign-in time.
func (h *wdHarness) drainScenario(seed int, at time.Duration, drain bool, before func(u *user, card *paymethod.Method)) (*user, *wallet.Withdrawal, error, time.Time) {
	h.t.Helper()
	cards := pans(2, seed)
	u := h.signUp()
	card := h.ready(u, usd(100_00), cards[0])
	if before != nil {
		before(u, card)
	}
	phone := h.signInOn(u, fmt.Sprintf("dev-new-%d", seed))
	login := h.clock.Now()
	h.clock.Set(login.Add(10 * time.Minute))
	h.payoutCard(u, cards[1])
	h.clock.Set(login.Add(at))
	// The smallest amount whose total is half the available balance.
	half := func(a int64) bool {
		q, err := h.wd.Quote(h.ctx, u.id, card.ID, usd(a))
		if err != nil {
			h.t.Fatal(err)
		}
		return 2*q.Total.Minor >= q.Available.Minor
	}
	lo, hi := int64(1), int64(100_00)
	for lo < hi {
		mid := (lo + hi) / 2
		if half(mid) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	amount := lo
	if !drain {
		amount = lo - 1
	}
	wd, err := h.confirmFrom(u, card.ID, usd(amount), phone)
	return u, wd, err, login
}

// TestRSK04_NewDevicePayoutDrain: a new-device sign-in, a payout method
// added and a withdrawal of at least 50% of the balance within an hour
// freeze the account before anything is held: the withdrawal fails, the
// account's withdrawals not yet sent are voided, and the decision replays
// from the stored events. 50% − 1 cent, or the withdrawal 1 h + 1 s after
// the sign-in, trip nothing.
func TestRSK04_NewDevicePayoutDrain(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newWDHarness(t, db, wdOpts{})

		// 30 min after the sign-in, exactly half, with a withdrawal
		// waiting from before.
		var pending *wallet.Withdrawal
		u, wd, err, login := h.drainScenario(1, 30*time.Minute, true, func(u *user, card *paymethod.Method) {
			pending = h.withdraw(u, card.ID, usd(5_00))
		})
		wantCode(t, err, identity.EAccountFrozen)
		if wd == nil || wd.Txn.Status != wallet.StatusFailed || wd.Txn.FailureCode != identity.EAccountFrozen || wd.Stage != "" {
			t.Fatalf("drain withdrawal: %+v", wd)
		}
		rec := h.wantFrozenBy(u, risk.RuleNewDevicePayoutDrain)
		if rec["input.login_at"] != login.Format(time.RFC3339Nano) || rec["input.window"] != "1h0m0s" || rec["input.currency"] != "USD" {
			t.Fatalf("decision inputs %v", rec)
		}
		if got := h.get(u, pending.Txn.ID); got.Stage != wallet.StageVoiding {
			t.Fatalf("pending withdrawal: %s", got.Stage)
		}
		h.runJobs()
		if got := h.get(u, pending.Txn.ID); got.Stage != wallet.StageVoided {
			t.Fatalf("pending withdrawal after the jobs: %s", got.Stage)
		}
		if bal := h.balance(u, "USD"); bal.Available != usd(100_00) {
			t.Fatalf("balance after the freeze: %+v", bal)
		}
		// RSK-07: the sign-ins, the methods and the refused withdrawal
		// (the balance it saw: $100 less the waiting withdrawal's hold,
		// voided since).
		logins, err := h.id.NewDeviceLogins(h.ctx, u.id, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		added, err := h.pm.AddedSince(h.ctx, nil, u.id, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		card, err := h.pm.Get(h.ctx, u.id, wd.Txn.MethodID)
		if err != nil {
			t.Fatal(err)
		}
		events := append(append(logins, added...), wallet.WithdrawalEvent(wd.Txn, card.Fingerprint, usd(100_00-pending.Txn.Total().Minor), wd.Txn.UpdatedAt))
		rc, err := h.pm.RiskContext(h.ctx, nil, card.Fingerprint)
		if err != nil {
			t.Fatal(err)
		}
		wantReplayed(t, rc, events, rec)

		// One cent below half: nothing.
		u, wd, err, _ = h.drainScenario(2, 30*time.Minute, false, nil)
		if err != nil || wd.Txn.Status == wallet.StatusFailed {
			t.Fatalf("49.99%%: %+v %v", wd, err)
		}
		h.wantNotFrozen(u)

		// Exactly 1 h after the sign-in: frozen; 1 h + 1 s: nothing.
		u, _, err, _ = h.drainScenario(3, time.Hour, true, nil)
		wantCode(t, err, identity.EAccountFrozen)
		h.wantFrozenBy(u, risk.RuleNewDevicePayoutDrain)
		u, wd, err, _ = h.drainScenario(4, time.Hour+time.Second, true, nil)
		if err != nil || wd.Txn.Status == wallet.StatusFailed {
			t.Fatalf("1 h + 1 s: %+v %v", wd, err)
		}
		h.wantNotFrozen(u)
		h.conserved()
	})
}

// freezer is the payment methods' Freezer as the program has it:
// identity's risk freeze in the addition's transaction.
type freezer struct{ id *identity.Service }

func (f freezer) RiskFreeze(ctx context.Context, tx *sql.Tx, userID int64, d risk.Decision) (bool, error) {
	return f.id.RiskFreeze(ctx, tx, userID, d, identity.Meta{IP: "203.0.113.7"})
}

// TestRSK04_SharedPayoutFingerprint: one instrument on two accounts is
// allowed (and flagged, CRD-07); the third account adding it is frozen in
// the addition's transaction, and a withdrawal to it from an earlier
// account freezes that one too. The decisions replay from the methods
// stored (RSK-07).
func TestRSK04_SharedPayoutFingerprint(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newWDHarness(t, db, wdOpts{})
		pm, err := paymethod.New(paymethod.Deps{DB: db, Clock: h.clock, IDs: h.gen, Provider: h.sandbox, Notifier: &methodNotes{outbox: h.outbox, ids: h.gen},
			Sealer: h.keys.Sealer("paymethod/account"), MAC: h.keys.MAC("paymethod"), Freezer: freezer{h.id}})
		if err != nil {
			t.Fatal(err)
		}
		pan := pans(1, 9)[0]
		add := func(u *user) (*paymethod.Method, error) {
			c, err := h.sandbox.Tokenize(h.ctx, pan, 12, 2030, "123")
			if err != nil {
				t.Fatal(err)
			}
			return pm.AddCard(h.ctx, paymethod.NewCard{UserID: u.id, Token: c.Token, StepUp: h.clock.Now(), ReturnURL: "/account/methods"})
		}
		u1, u2, u3 := h.signUp(), h.signUp(), h.signUp()
		h.fund(u1, usd(100_00))
		m1, err := add(u1)
		if err != nil {
			t.Fatal(err)
		}
		h.waitMethod(u1, m1.ID, paymethod.StatusVerified)
		m2, err := add(u2)
		if err != nil || !m2.Shared {
			t.Fatalf("second account: %+v %v", m2, err)
		}
		h.wantNotFrozen(u2)
		_, err = add(u3)
		wantCode(t, err, identity.EAccountFrozen)
		rec := h.wantFrozenBy(u3, risk.RuleSharedPayoutFingerprint)
		if rec["input.linked_accounts"] != "3" || rec["input.linked_user_ids"] != u1.ref()+","+u2.ref()+","+u3.ref() || rec["input.event"] != "payout_method_added" {
			t.Fatalf("decision inputs %v", rec)
		}
		var n int
		if err := db.Read.QueryRowContext(h.ctx, `SELECT COUNT(*) FROM payment_methods WHERE user_id = $1`, u3.id).Scan(&n); err != nil || n != 1 {
			t.Fatalf("u3's method kept as evidence: %d %v", n, err)
		}
		rc, err := pm.RiskContext(h.ctx, nil, m1.Fingerprint)
		if err != nil {
			t.Fatal(err)
		}
		added, err := pm.AddedSince(h.ctx, nil, u3.id, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		wantReplayed(t, rc, added, rec)

		// u1 withdraws to the instrument, past its hold: frozen too.
		h.clock.Advance(8 * 24 * time.Hour)
		wd, err := h.confirmFrom(u1, m1.ID, usd(1_00), h.meta)
		wantCode(t, err, identity.EAccountFrozen)
		if wd.Txn.Status != wallet.StatusFailed {
			t.Fatalf("withdrawal: %+v", wd.Txn)
		}
		rec = h.wantFrozenBy(u1, risk.RuleSharedPayoutFingerprint)
		if rec["input.event"] != "withdrawal" || rec["input.linked_accounts"] != "3" {
			t.Fatalf("decision inputs %v", rec)
		}
		h.wantNotFrozen(u2)
		if got := h.balance(u1, "USD"); got.Available != usd(100_00) {
			t.Fatalf("u1: %+v", got)
		}
		h.conserved()
	})
}

// TestRSK04_NewPayeeBurstConcurrent: the 9th, 10th and 11th payments to
// new payees confirmed at once: new_payee_burst counts inside the
// ledger's transaction, so exactly two complete (the 10th freezing the
// account with it) and the last is refused — never three through, never
// a missed freeze. The freeze, made inside the ledger's writer, runs the
// withdrawals' freeze hook there too: a withdrawal waiting is voided.
func TestRSK04_NewPayeeBurstConcurrent(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newWDHarness(t, db, wdOpts{})
		carol := h.signUp()
		var payees []*user
		for range 11 {
			payees = append(payees, h.signUp())
		}
		card := h.ready(carol, usd(1000_00), pans(1, 7)[0])
		pending := h.withdraw(carol, card.ID, usd(5_00))
		for i := range 8 {
			h.pay(carol, payees[i], usd(1_00))
		}
		var waiting []*wallet.Txn
		var codes []string
		for _, p := range payees[8:] {
			res, err := h.send(carol, p, usd(1_00), h.key())
			if err != nil || res.Txn.Status != wallet.StatusAwaitingAuth {
				t.Fatalf("new payee: %+v %v", res, err)
			}
			waiting = append(waiting, res.Txn)
			codes = append(codes, h.lastCode(carol.phone, "code_txn"))
		}
		errs := make([]error, len(waiting))
		var wg sync.WaitGroup
		for i, tx := range waiting {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = h.w.ConfirmTransfer(h.ctx, wallet.ConfirmInput{UserID: carol.id, TxnID: tx.ID, Code: codes[i], Meta: h.meta})
			}()
		}
		wg.Wait()
		ok, frozen := 0, 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case okpay.ErrorCode(err) == identity.EAccountFrozen:
				frozen++
			default:
				t.Fatalf("unexpected: %v", err)
			}
		}
		if ok != 2 || frozen != 1 {
			t.Fatalf("%d completed, %d refused; want 2 and 1", ok, frozen)
		}
		rec := h.wantFrozenBy(carol, risk.RuleNewPayeeBurst)
		if rec["input.new_payee_transfers"] != "10" {
			t.Fatalf("decision inputs %v", rec)
		}
		events, err := h.w.NewPayeeEvents(h.ctx, carol.id, time.Time{})
		if err != nil || len(events) != 10 {
			t.Fatalf("%d payee events, %v", len(events), err)
		}
		wantReplayed(t, risk.Context{}, events, rec)
		if got := h.get(carol, pending.Txn.ID); got.Stage != wallet.StageVoiding {
			t.Fatalf("waiting withdrawal: %s", got.Stage)
		}
		h.runJobs()
		if got := h.get(carol, pending.Txn.ID); got.Stage != wallet.StageVoided {
			t.Fatalf("waiting withdrawal after the jobs: %s", got.Stage)
		}
		h.conserved()
	})
}
