package fee_test

import (
	"math"
	"math/big"
	"strings"
	"testing"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/fee"
	"github.com/okpay/okpay/money"
)

func amt(t *testing.T, s string, c money.Currency) money.Amount {
	t.Helper()
	a, err := money.Parse(s, c)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestDefaultSchedule(t *testing.T) {
	s := fee.Default()
	cases := []struct {
		op, method string
		amount     string
		ccy        money.Currency
		fee, rule  string
	}{
		// Free operations.
		{fee.Transfer, "", "1000.00", "CNY", "0.00", "transfer/*/any"},
		{fee.Deposit, fee.Card, "500.00", "USD", "0.00", "deposit/*/any"},
		{fee.Exchange, "", "100000", "JPY", "0", "exchange/*/any"},
		// Withdrawal to a card: 1%, min 2.00, max 50.00 CNY.
		{fee.Withdrawal, fee.Card, "1000.00", "CNY", "10.00", "withdrawal/CNY/card"},
		{fee.Withdrawal, fee.Card, "100.00", "CNY", "2.00", "withdrawal/CNY/card"},   // 1.00 → min
		{fee.Withdrawal, fee.Card, "9000.00", "CNY", "50.00", "withdrawal/CNY/card"}, // 90.00 → max
		{fee.Withdrawal, fee.Card, "250.01", "CNY", "2.51", "withdrawal/CNY/card"},   // 2.5001 → up
		{fee.Withdrawal, fee.Card, "1.00", "CNY", "2.00", "withdrawal/CNY/card"},     // more than the amount
		// To a bank account: CNY 0.1% min 1.00; USD a fixed 1.00.
		{fee.Withdrawal, fee.BankAccount, "5000.00", "CNY", "5.00", "withdrawal/CNY/bank_account"},
		{fee.Withdrawal, fee.BankAccount, "300.00", "CNY", "1.00", "withdrawal/CNY/bank_account"},
		{fee.Withdrawal, fee.BankAccount, "12345.67", "USD", "1.00", "withdrawal/USD/bank_account"},
		// JPY has no decimals: 1% of 12,345 yen is 123.45 → 124.
		{fee.Withdrawal, fee.Card, "12345", "JPY", "124", "withdrawal/JPY/card"},
		{fee.Withdrawal, fee.Card, "1000", "JPY", "50", "withdrawal/JPY/card"},
		{fee.Withdrawal, fee.EWallet, "1001", "JPY", "30", "withdrawal/JPY/ewallet"},
		// A currency without rules of its own: the percentage only.
		{fee.Withdrawal, fee.Card, "10.000", "KWD", "0.100", "withdrawal/*/card"},
		{fee.Withdrawal, fee.EWallet, "0.001", "KWD", "0.001", "withdrawal/*/ewallet"}, // 0.000005 → up
		{fee.Remittance, "", "200.00", "CHF", "1.00", "remittance/*/any"},
		// Remittance 0.5% with per-currency min and max.
		{fee.Remittance, fee.BankAccount, "100.00", "USD", "1.00", "remittance/USD/any"},
		{fee.Remittance, "", "3000.00", "EUR", "15.00", "remittance/EUR/any"},
		{fee.Remittance, "", "100000.00", "GBP", "25.00", "remittance/GBP/any"},
		{fee.Remittance, "", "0.00", "CNY", "5.00", "remittance/CNY/any"},
	}
	for _, c := range cases {
		f, rule, err := s.Quote(c.op, c.method, amt(t, c.amount, c.ccy))
		if err != nil {
			t.Errorf("%s %s %s %s: %v", c.op, c.method, c.amount, c.ccy, err)
			continue
		}
		if f.String() != c.fee || f.Currency != c.ccy || rule != c.rule {
			t.Errorf("%s %s %s %s: fee %s %s by %s, want %s by %s", c.op, c.method, c.amount, c.ccy, f, f.Currency, rule, c.fee, c.rule)
		}
	}
	// A withdrawal always names its method: there is no "any" rule.
	_, _, err := s.Quote(fee.Withdrawal, "", amt(t, "10.00", "CNY"))
	if okpay.ErrorCode(err) != fee.ENotConfigured {
		t.Errorf("withdrawal without a method: %v", err)
	}
	for _, c := range []struct {
		op, method string
		a          money.Amount
	}{
		{"refund", "", money.New(100, "CNY")},
		{fee.Withdrawal, "cash", money.New(100, "CNY")},
		{fee.Withdrawal, fee.AnyMethod, money.New(100, "CNY")},
		{fee.Withdrawal, fee.Card, money.New(-1, "CNY")},
		{fee.Withdrawal, fee.Card, money.New(100, "XXX")},
	} {
		if _, _, err := s.Quote(c.op, c.method, c.a); okpay.ErrorCode(err) != okpay.EInvalid {
			t.Errorf("Quote(%q, %q, %v %s) = %v, want a validation error", c.op, c.method, c.a, c.a.Currency, err)
		}
	}
	// Every rule of the default respects its currency's exponent and the
	// default prices every operation in the wallet's currencies.
	for _, c := range []money.Currency{"CNY", "USD", "EUR", "GBP", "JPY", "HKD", "RUB"} {
		for _, op := range fee.Operations() {
			methods := []string{""}
			if op == fee.Withdrawal {
				methods = fee.Methods()
			}
			for _, m := range methods {
				if _, rule, err := s.Quote(op, m, money.New(123456, c)); err != nil {
					t.Errorf("default: %s %s %s: %v", op, m, c, err)
				} else if (op == fee.Withdrawal || op == fee.Remittance) && !strings.Contains(rule, string(c)) {
					t.Errorf("default: %s %s %s priced by the generic rule %s", op, m, c, rule)
				}
			}
		}
	}
	if !strings.Contains(string(fee.DefaultTOML()), "P2P") {
		t.Error("the default schedule is not documented")
	}
}

func TestMostSpecificRuleWins(t *testing.T) {
	s, err := fee.Load([]byte(`
[[rule]]
operation = "withdrawal"
currency = "*"
method = "any"
percent_bp = 1

[[rule]]
operation = "withdrawal"
currency = "*"
method = "card"
percent_bp = 2

[[rule]]
operation = "withdrawal"
currency = "USD"
percent_bp = 3

[[rule]]
operation = "withdrawal"
currency = "USD"
method = "card"
percent_bp = 4
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		method string
		ccy    money.Currency
		rule   string
	}{
		{fee.Card, "USD", "withdrawal/USD/card"},
		{fee.EWallet, "USD", "withdrawal/USD/any"},
		{"", "USD", "withdrawal/USD/any"},
		{fee.Card, "EUR", "withdrawal/*/card"},
		{fee.BankAccount, "EUR", "withdrawal/*/any"},
		{"", "EUR", "withdrawal/*/any"},
	} {
		_, rule, err := s.Quote(fee.Withdrawal, c.method, money.New(10000, c.ccy))
		if err != nil || rule != c.rule {
			t.Errorf("%s %s: %s, %v; want %s", c.method, c.ccy, rule, err, c.rule)
		}
	}
	if _, _, err := s.Quote(fee.Deposit, "", money.New(1, "USD")); okpay.ErrorCode(err) != fee.ENotConfigured {
		t.Errorf("an operation without rules: %v", err)
	}
	if n := len(s.Rules()); n != 4 {
		t.Errorf("%d rules", n)
	}
}

func TestClampsAndRounding(t *testing.T) {
	s, err := fee.Load([]byte(`
[[rule]]
operation = "withdrawal"
currency = "USD"
method = "card"
percent_bp = 250
fixed = "0.30"
min = "1.00"
max = "20.00"

[[rule]]
operation = "withdrawal"
currency = "KWD"
method = "card"
percent_bp = 3
fixed = "0.001"

[[rule]]
operation = "transfer"
currency = "JPY"
min = "5"
max = "5"
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		ccy          money.Currency
		op           string
		amount, want int64
	}{
		{"USD", fee.Withdrawal, 0, 100},        // fixed 0.30 → min 1.00
		{"USD", fee.Withdrawal, 2800, 100},     // 0.70 + 0.30 = 1.00 exactly
		{"USD", fee.Withdrawal, 2801, 101},     // 0.70025 → 0.71 + 0.30
		{"USD", fee.Withdrawal, 10000, 280},    // 2.50 + 0.30
		{"USD", fee.Withdrawal, 787999, 2000},  // 19.70 + 0.30 = 20.00
		{"USD", fee.Withdrawal, 788000, 2000},  // capped
		{"USD", fee.Withdrawal, 1 << 40, 2000}, // capped
		{"KWD", fee.Withdrawal, 1, 2},          // 0.0000003 → 0.001, + 0.001
		{"KWD", fee.Withdrawal, 33333, 11},     // 9.9999 fils → 10, + 1
		{"KWD", fee.Withdrawal, 33334, 12},     // 10.0002 → 11, + 1
		{"JPY", fee.Transfer, 1, 5},
		{"JPY", fee.Transfer, 1e12, 5},
	} {
		f, _, err := s.Quote(c.op, fee.Card, money.New(c.amount, c.ccy))
		if c.op == fee.Transfer {
			f, _, err = s.Quote(c.op, "", money.New(c.amount, c.ccy))
		}
		if err != nil || f.Minor != c.want {
			t.Errorf("%s %d %s: %d, %v; want %d", c.op, c.amount, c.ccy, f.Minor, err, c.want)
		}
	}
}

// TestOverflowSafety: the largest amounts and percentages never wrap
// around; the result matches exact big-integer arithmetic.
func TestOverflowSafety(t *testing.T) {
	s, err := fee.Load([]byte(`
[[rule]]
operation = "withdrawal"
currency = "USD"
method = "card"
percent_bp = 10000

[[rule]]
operation = "withdrawal"
currency = "USD"
method = "ewallet"
percent_bp = 9999

[[rule]]
operation = "withdrawal"
currency = "USD"
method = "bank_account"
percent_bp = 10000
fixed = "0.01"

[[rule]]
operation = "withdrawal"
currency = "JPY"
method = "card"
percent_bp = 1
fixed = "9223372036854775807"
`))
	if err != nil {
		t.Fatal(err)
	}
	oracle := func(amount, bp, fixed int64) *big.Int {
		v := new(big.Int).Mul(big.NewInt(amount), big.NewInt(bp))
		v.Add(v, big.NewInt(9999))
		v.Quo(v, big.NewInt(10000))
		return v.Add(v, big.NewInt(fixed))
	}
	for _, a := range []int64{math.MaxInt64, math.MaxInt64 - 1, 1 << 62, 999999999999999999, 1} {
		f, _, err := s.Quote(fee.Withdrawal, fee.Card, money.New(a, "USD"))
		if err != nil || f.Minor != a {
			t.Errorf("100%% of %d: %d, %v", a, f.Minor, err)
		}
		f, _, err = s.Quote(fee.Withdrawal, fee.EWallet, money.New(a, "USD"))
		if want := oracle(a, 9999, 0); err != nil || want.Cmp(big.NewInt(f.Minor)) != 0 {
			t.Errorf("99.99%% of %d: %d, %v; want %s", a, f.Minor, err, want)
		}
	}
	_, _, err = s.Quote(fee.Withdrawal, fee.BankAccount, money.New(math.MaxInt64, "USD"))
	if okpay.ErrorCode(err) != fee.EOverflow {
		t.Errorf("100%% + 0.01 of the largest amount: %v", err)
	}
	if f, _, err := s.Quote(fee.Withdrawal, fee.Card, money.New(0, "JPY")); err != nil || f.Minor != math.MaxInt64 {
		t.Errorf("the largest fixed fee: %d, %v", f.Minor, err)
	}
	_, _, err = s.Quote(fee.Withdrawal, fee.Card, money.New(1, "JPY"))
	if okpay.ErrorCode(err) != fee.EOverflow {
		t.Errorf("the largest fixed fee plus one: %v", err)
	}
}

func TestLoadErrorsNameRuleAndLine(t *testing.T) {
	src := `# a schedule with mistakes
[[rule]]
operation = "withdrawal"
currency = "CNY"
method = "card"
percent_bp = 100
min = "5.00"
max = "2.00"

[[rule]] # comment
operation = "withdraw"
currency = "CNY"

[[rule]]
operation = "transfer"
currency = "JPY"
min = "2.5"

[[rule]]
operation = "transfer"
currency = "*"
fixed = "1"

[[rule]]
operation = "deposit"
currency = "USD"
percent_bp = 1.5
colour = "red"

[[rule]]
operation = "exchange"
currency = "usd"
method = "cash"
percent_bp = 10001

[[rule]]
operation = "withdrawal"
currency = "CNY"
method = "card"

[[rule]]
currency = "CNY"
fixed = 2

[[rule]]
operation = "deposit"
currency = "EUR"
max = "0"
`
	_, err := fee.Load([]byte(src))
	le, ok := err.(*fee.LoadError)
	if !ok {
		t.Fatalf("Load: %v (%T), want *LoadError", err, err)
	}
	want := []string{
		"rule 1 (line 2, withdrawal/CNY/card): max 2.00 is below min 5.00",
		`rule 2 (line 10): operation "withdraw" is not one of deposit, transfer, exchange, remittance, withdrawal`,
		`rule 3 (line 14, transfer/JPY/any): min "2.5": JPY does not allow decimal places`,
		`rule 4 (line 19, transfer/*/any): fixed needs a currency: a "*" rule holds only percent_bp`,
		`rule 5 (line 24, deposit/USD/any): unknown key "colour"`,
		`rule 5 (line 24, deposit/USD/any): percent_bp must be a whole number of basis points (100 = 1%)`,
		`rule 6 (line 30): currency "usd" is not a supported ISO 4217 code or "*"`,
		`rule 6 (line 30): method "cash" is not one of card, bank_account, ewallet, any`,
		`rule 6 (line 30): percent_bp 10001 is outside 0..10000`,
		`rule 8 (line 41): operation is missing`,
		`rule 8 (line 41): fixed must be a string`,
		`rule 9 (line 45, deposit/EUR/any): max must be positive (leave it out for no maximum)`,
	}
	got := strings.Join(le.Problems, "\n")
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("missing problem %q", w)
		}
	}
	// Rule 7 repeats rule 1's key, but rule 1 was itself invalid: it is
	// not reported as a repeat. A repeat of a valid rule is.
	_, err = fee.Load([]byte("[[rule]]\noperation = \"deposit\"\ncurrency = \"*\"\n\n[[rule]]\noperation = \"deposit\"\ncurrency = \"*\"\nmethod = \"any\"\n"))
	if err == nil || !strings.Contains(err.Error(), "rule 2 (line 5, deposit/*/any): repeats rule 1 (deposit/*/any)") {
		t.Errorf("duplicate: %v", err)
	}
	for name, c := range map[string]struct{ src, msg string }{
		"syntax":       {"[[rule]]\noperation = \"deposit\n", "fee schedule: line 2"},
		"empty":        {"# nothing\n", "no [[rule]] tables"},
		"top-level":    {"version = 2\n[[rule]]\noperation = \"deposit\"\ncurrency = \"*\"\n", `unknown key "version"`},
		"huge integer": {"[[rule]]\noperation = \"deposit\"\ncurrency = \"*\"\npercent_bp = 99999999999999999999\n", "fee schedule: line 4"},
		"inline rules": {"rule = [{operation = \"deposit\", currency = \"*\", percent_bp = -1}]\n", "rule 1 (deposit/*/any): percent_bp -1 is outside 0..10000"},
		"too big":      {strings.Repeat("#", fee.MaxBytes+1), "larger than"},
	} {
		_, err := fee.Load([]byte(c.src))
		if err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: %v, want %q", name, err, c.msg)
		}
	}
}

// FuzzLoad: the loader never panics; a schedule it accepts writes back to
// TOML that loads to the same rules, and its fees respect the rules'
// bounds.
func FuzzLoad(f *testing.F) {
	f.Add(string(fee.DefaultTOML()), int64(12345))
	f.Add("[[rule]]\noperation = \"withdrawal\"\ncurrency = \"KWD\"\nmethod = \"card\"\npercent_bp = 3\nfixed = \"0.001\"\nmin = \"0.005\"\nmax = \"1.000\"\n", int64(1))
	f.Add("rule = [{operation = \"deposit\", currency = \"*\"}]\n", int64(0))
	f.Add("[[rule]]\noperation = \"transfer\"\ncurrency = \"JPY\"\nfixed = \"9223372036854775807\"\n", int64(math.MaxInt64))
	f.Add("[[rule]]\n[[rule]]\n", int64(5))
	f.Fuzz(func(t *testing.T, src string, amount int64) {
		s, err := fee.Load([]byte(src))
		if err != nil {
			if s != nil {
				t.Fatal("a schedule and an error")
			}
			return
		}
		again, err := fee.Load(s.TOML())
		if err != nil {
			t.Fatalf("re-load: %v\n%s", err, s.TOML())
		}
		a, b := s.Rules(), again.Rules()
		if len(a) != len(b) {
			t.Fatalf("%d rules, then %d", len(a), len(b))
		}
		for i := range a {
			a[i].Line, b[i].Line = 0, 0
			if a[i] != b[i] {
				t.Fatalf("rule %d: %+v, then %+v", i+1, a[i], b[i])
			}
		}
		if amount < 0 {
			amount = -(amount + 1)
		}
		for _, r := range a {
			c := money.Currency(r.Currency)
			if r.Currency == fee.AnyCurrency {
				c = "KWD"
			}
			m := r.Method
			if m == fee.AnyMethod {
				m = ""
			}
			got, key, err := s.Quote(r.Operation, m, money.New(amount, c))
			if okpay.ErrorCode(err) == fee.EOverflow {
				continue
			}
			if err != nil {
				t.Fatalf("Quote for %s: %v", r.Key(), err)
			}
			if key == r.Key() && (got.Minor < r.Min || r.Max > 0 && got.Minor > r.Max || got.Minor < 0) {
				t.Fatalf("%s: fee %d outside [%d, %d]", key, got.Minor, r.Min, r.Max)
			}
		}
	})
}
