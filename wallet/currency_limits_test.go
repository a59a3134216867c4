package wallet_test

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
	"github.com/okpay/okpay/wallet"
)

var levelNames = []string{"unverified", "verified"}

func sampleLimits(t testing.TB) []wallet.CurrencyLimits {
	t.Helper()
	src, err := os.ReadFile("testdata/limits.toml")
	if err != nil {
		t.Fatal(err)
	}
	ls, err := wallet.LoadLimits(src, levelNames)
	if err != nil {
		t.Fatal(err)
	}
	return ls
}

// TestLoadLimits: a limits file gives each currency its limits in its own
// minor units (none for KRW, three for KWD); anything missing, extra or
// not an amount of the currency is an error naming the currency and key.
func TestLoadLimits(t *testing.T) {
	ls := sampleLimits(t)
	var got []string
	for _, l := range ls {
		got = append(got, string(l.Currency))
	}
	if !slices.Equal(got, []string{"BHD", "KRW", "KWD", "SGD"}) {
		t.Fatalf("currencies %v", got)
	}
	kwd, krw := ls[2], ls[1]
	if kwd.StepUp != 80_000 || kwd.Daily["unverified"] != 200_000 || kwd.Monthly["verified"] != 8_000_000 {
		t.Errorf("KWD (3 decimals): %+v", kwd)
	}
	if krw.StepUp != 400_000 || krw.Daily["unverified"] != 1_000_000 || krw.Monthly["verified"] != 40_000_000 {
		t.Errorf("KRW (no decimals): %+v", krw)
	}

	level := func(cur, daily, monthly string) string {
		return "[" + cur + ".unverified]\ndaily = \"" + daily + "\"\nmonthly = \"" + monthly + "\"\n"
	}
	good := func(cur, stepUp, daily, monthly string) string {
		return "[" + cur + "]\nstep_up = \"" + stepUp + "\"\n" + level(cur, daily, monthly) +
			strings.ReplaceAll(level(cur, daily, monthly), "unverified", "verified")
	}
	if _, err := wallet.LoadLimits([]byte(good("JPY", "40000", "100000", "400000")+good("BHD", "0.5", "1.25", "5.125")), levelNames); err != nil {
		t.Fatalf("good file: %v", err)
	}
	for _, c := range []struct{ src, want string }{
		{good("KRW", "400000.5", "1000000", "4000000"), `[KRW] step_up = "400000.5"`},
		{good("KWD", "80.0001", "200", "800"), `[KWD] step_up = "80.0001"`},
		{good("KWD", "80", "200", "800.0009"), "unverified.monthly"},
		{"[KWD]\nstep_up = 80\n", "give the amount as a string, such as \"12345.000\""},
		{good("KWD", "80", "200", "800") + "[KWD.gold]\ndaily = \"1\"\n", "[KWD] gold: unknown key"},
		{good("KWD", "80", "200", "800") + "[KWD.verified]\n", "line"},
		{strings.Replace(good("KWD", "80", "200", "800"), "monthly", "weekly", 1), "unverified.weekly: unknown key"},
		{"[KWD]\nstep_up = \"80\"\n" + level("KWD", "200", "800"), "[KWD] lacks verified.daily, verified.monthly"},
		{good("KWD", "80", "900", "800"), "unverified: the daily limit is more than the monthly one"},
		{good("KWD", "80", "200", "800") + "[SGD]\nstep_up = \"0\"\n", "[SGD] step_up: must be more than zero"},
		{good("kwd", "80", "200", "800"), "[kwd]: not an ISO 4217 currency code"},
		{good("XYZ", "80", "200", "800"), "[XYZ]: not an ISO 4217 currency code"},
		{good("KWD", "80", "200", "800") + "[KWD]\nreview_from = \"-1\"\n", "line"},
		{strings.Replace(good("KWD", "80", "200", "800"), "step_up", "review_from = \"0.0001\"\nstep_up", 1), `review_from = "0.0001"`},
		{strings.Replace(good("KWD", "80", "200", "800"), "step_up", "review_from = \"0\"\nstep_up", 1), "review_from: must be more than zero"},
		{"[KWD\n", "limits file: line"},
		{strings.Repeat(" ", wallet.MaxLimitsBytes+1), "larger than"},
	} {
		_, err := wallet.LoadLimits([]byte(c.src), levelNames)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want an error naming %q", c.src, err, c.want)
		}
	}
	// A verified level below the unverified one.
	src := "[KWD]\nstep_up = \"80\"\n" + level("KWD", "200", "800") + strings.ReplaceAll(level("KWD", "100", "800"), "unverified", "verified")
	if _, err := wallet.LoadLimits([]byte(src), levelNames); err == nil || !strings.Contains(err.Error(), "verified: its limits are lower than those of unverified") {
		t.Errorf("lower level: %v", err)
	}
}

// TestWithdrawalReviewFromLimits: a limits file may give a currency its
// withdrawal review threshold (review_from); below it a settled
// customer's withdrawal is approved by the rules alone, from it, or in a
// currency without one, a reviewer decides. The defaults are untouched.
func TestWithdrawalReviewFromLimits(t *testing.T) {
	p := wallet.WithdrawalConfig{}.WithLimits(sampleLimits(t)).Review
	if p.AutoApproveMax["KWD"] != 200_000 || p.AutoApproveMax["USD"] != 700_00 {
		t.Fatalf("thresholds %v", p.AutoApproveMax)
	}
	if _, ok := p.AutoApproveMax["KRW"]; ok {
		t.Fatal("KRW has no review_from in the file, yet a threshold")
	}
	if _, ok := wallet.DefaultReviewPolicy().AutoApproveMax["KWD"]; ok {
		t.Fatal("the defaults changed")
	}
	for _, c := range []struct {
		amount money.Amount
		want   string
	}{
		{money.New(199_999, "KWD"), wallet.DecisionAutoApprove},
		{money.New(200_000, "KWD"), wallet.DecisionReview},
		{money.New(1_000, "KRW"), wallet.DecisionReview},
		{usd(100_00), wallet.DecisionAutoApprove},
	} {
		in := settled()
		cur := c.amount.Currency
		in.Amount, in.Fee, in.Available = c.amount, money.New(0, cur), money.New(1<<40, cur)
		for i := range in.Previous {
			in.Previous[i].Amount = money.New(1, cur)
		}
		if d := wallet.Decide(p, in); d.Outcome != c.want {
			t.Errorf("%s: %s (%v), want %s", c.amount.Format("en"), d.Outcome, d.RuleIDs(), c.want)
		}
	}
}

// TestMissingLimits: a currency beyond the built-in seven has no limits
// until they are configured; WithLimits adds them without touching the
// defaults' maps.
func TestMissingLimits(t *testing.T) {
	if m := wallet.MissingLimits(wallet.Config{}); len(m) != 0 {
		t.Fatalf("the defaults lack %v", m)
	}
	cfg := wallet.Config{Currencies: []money.Currency{"CNY", "KWD", "KRW"}}
	m := wallet.MissingLimits(cfg)
	if len(m) != 2 || m[0].String() != "KWD (step_up, unverified.daily, unverified.monthly, verified.daily, verified.monthly)" || m[1].Currency != "KRW" {
		t.Fatalf("missing %v", m)
	}
	with := cfg.WithLimits(sampleLimits(t))
	if m := wallet.MissingLimits(with); len(m) != 0 {
		t.Fatalf("with the file: missing %v", m)
	}
	if with.StepUp["KWD"] != 80_000 || with.StepUp["CNY"] != 2_000_00 || with.Levels[1].Daily["KRW"] != 10_000_000 || with.Levels[0].Daily["CNY"] != 5_000_00 {
		t.Fatalf("merged: %v %+v", with.StepUp, with.Levels)
	}
	if _, ok := wallet.DefaultLevels()[0].Daily["KWD"]; ok {
		t.Fatal("the defaults changed")
	}
	if m := wallet.MissingLimits(wallet.Config{Currencies: []money.Currency{"CNY", "KWD"}}); len(m) != 1 {
		t.Fatalf("the defaults took the file's limits: %v", m)
	}
}

// A 3-decimal (KWD) and a 0-decimal (KRW) currency held with configured
// limits: the step-up threshold, the daily limit and the limit status in
// their own minor units; without limits the wallet refuses to start.
func TestCurrencyLimitsKWDAndKRW(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		cfg := wallet.Config{Currencies: []money.Currency{"USD", "KWD", "KRW"}, Velocity: roomy}.WithLimits(sampleLimits(t))
		h := newHarness(t, db, harnessOpts{cfg: cfg})
		alice, bob := h.signUp(), h.signUp()
		h.clock.Set(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
		kwd := func(n int64) money.Amount { return money.New(n, "KWD") }
		krw := func(n int64) money.Amount { return money.New(n, "KRW") }
		h.fund(alice, kwd(1_000_000))
		h.fund(alice, krw(10_000_000))
		h.pay(alice, bob, kwd(10_000)) // a new payee: a code
		res, err := h.send(alice, bob, kwd(79_999), h.key())
		if err != nil || res.Txn.Status == wallet.StatusAwaitingAuth {
			t.Fatalf("below the KWD 80.000 step-up: %+v %v", res, err)
		}
		res, err = h.send(alice, bob, kwd(80_000), h.key())
		if err != nil || res.Txn.Status != wallet.StatusAwaitingAuth {
			t.Fatalf("at the KWD 80.000 step-up: %+v %v", res, err)
		}
		// Below the step-up, a transfer is counted when sent.
		send := func(a money.Amount) error {
			res, err := h.send(alice, bob, a, h.key())
			if err == nil && res.Txn.Status != wallet.StatusCompleted {
				t.Fatalf("%v: %s", a, res.Txn.Status)
			}
			return err
		}
		if err := send(kwd(79_999)); err != nil { // 169.998 today
			t.Fatal(err)
		}
		err = send(kwd(30_003))
		var le *wallet.LimitError
		if !errors.As(err, &le) || le.Limit != wallet.LimitDailyAmount || le.Max != 200_000 || le.Used != 169_998 || le.Currency != "KWD" {
			t.Fatalf("KWD daily: %v", err)
		}
		if !strings.Contains(le.Error(), "200.000") {
			t.Errorf("KWD limit shown as %q", le.Error())
		}
		if err := send(kwd(30_002)); err != nil { // exactly 200.000
			t.Fatal(err)
		}

		for _, n := range []int64{399_999, 399_999, 200_001} { // 999,999
			if err := send(krw(n)); err != nil {
				t.Fatal(err)
			}
		}
		err = send(krw(2))
		if !errors.As(err, &le) || le.Limit != wallet.LimitDailyAmount || le.Max != 1_000_000 || le.Used != 999_999 || le.Currency != "KRW" {
			t.Fatalf("KRW daily: %v", err)
		}
		if err := send(krw(1)); err != nil {
			t.Fatal(err)
		}

		st, err := h.w.Limits(h.ctx, alice.id)
		if err != nil {
			t.Fatal(err)
		}
		want := map[money.Currency][3]money.Amount{
			"KWD": {kwd(200_000), kwd(800_000), kwd(200_000)},
			"KRW": {krw(1_000_000), krw(4_000_000), krw(1_000_000)},
		}
		for _, a := range st.Amounts {
			if w, ok := want[a.Currency]; ok && (a.Daily != w[0] || a.Monthly != w[1] || a.UsedToday != w[2]) {
				t.Errorf("%s: %+v", a.Currency, a)
			}
		}
		if len(st.Amounts) != 3 {
			t.Errorf("limit status of %d currencies", len(st.Amounts))
		}
	})
}
