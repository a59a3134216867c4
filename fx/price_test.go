package fx_test

import (
	"math"
	"math/big"
	"strings"
	"testing"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/fx"
	"github.com/okpay/okpay/money"
	"pgregory.net/rapid"
)

func mustRate(t testing.TB, base, quote money.Currency, s string) fx.Rate {
	t.Helper()
	r, err := fx.ParseRate(base, quote, s)
	if err != nil {
		t.Fatalf("ParseRate(%s, %s, %q): %v", base, quote, s, err)
	}
	return r
}

func TestParseRate(t *testing.T) {
	good := map[string]string{
		"7.6543":            "7.6543",
		"162":               "162",
		"0.0064":            "0.0064",
		"0.5":               "0.5",
		"385.40":            "385.4",
		"1.000000000000001": "1.000000000000001",
	}
	for in, exact := range good {
		r, err := fx.ParseRate("EUR", "CNY", in)
		if err != nil {
			t.Errorf("ParseRate(%q): %v", in, err)
			continue
		}
		if r.Exact() != exact {
			t.Errorf("ParseRate(%q).Exact() = %q, want %q", in, r.Exact(), exact)
		}
	}
	for _, in := range []string{"", "0", "0.000", "-1", "+1", "1e3", "1E3", "0x10", " 1", "1 ", "1,5", "1.2.3", ".5", "5.",
		"007", "01.5", "1/3", "Inf", "NaN", "１", "1234567890123456", "1.1234567890123456", "1_000"} {
		if _, err := fx.ParseRate("EUR", "CNY", in); okpay.ErrorCode(err) != okpay.EInvalid {
			t.Errorf("ParseRate(%q) = %v, want a validation error", in, err)
		}
	}
	for _, p := range [][2]money.Currency{{"EUR", "EUR"}, {"EUR", "XXX"}, {"eur", "CNY"}, {"", "CNY"}} {
		if _, err := fx.ParseRate(p[0], p[1], "1.5"); okpay.ErrorCode(err) != okpay.EInvalid {
			t.Errorf("ParseRate(%s, %s) = %v, want a validation error", p[0], p[1], err)
		}
	}
}

func TestRateExactAndDisplay(t *testing.T) {
	eurJPY := mustRate(t, "EUR", "JPY", "182.47")
	eurCNY := mustRate(t, "EUR", "CNY", "8.2012")
	cross, err := fx.NewRate("CNY", "JPY", new(big.Rat).Quo(eurJPY.Rat(), eurCNY.Rat()))
	if err != nil {
		t.Fatal(err)
	}
	// 182.47 / 8.2012 = 1824700/82012 = 456175/20503, which has no finite
	// decimal form: it is kept as a fraction, exactly.
	if got := cross.Exact(); got != "456175/20503" {
		t.Errorf("cross Exact = %q", got)
	}
	back, err := fx.ParseExact("CNY", "JPY", cross.Exact())
	if err != nil || back.Cmp(cross) != 0 {
		t.Errorf("ParseExact(%q) = %v, %v", cross.Exact(), back.Exact(), err)
	}
	for _, c := range []struct {
		r    fx.Rate
		want string
	}{
		{eurCNY, "8.2012"},
		{cross, "22.249183"},
		{cross.Inverse(), "0.0449455"},
		{mustRate(t, "JPY", "KWD", "0.00201234567"), "0.00201235"},
		{mustRate(t, "EUR", "IDR", "19456.78"), "19456.78"},
		{mustRate(t, "EUR", "USD", "2"), "2"},
	} {
		if got := c.r.String(); got != c.want {
			t.Errorf("String(%s) = %q, want %q", c.r.Exact(), got, c.want)
		}
	}
	if got := eurCNY.Describe(); got != "1 EUR = 8.2012 CNY" {
		t.Errorf("Describe = %q", got)
	}
	if inv := eurCNY.Inverse(); inv.Base != "CNY" || inv.Quote != "EUR" || inv.Exact() != "2500/20503" {
		t.Errorf("Inverse = %s→%s %s", inv.Base, inv.Quote, inv.Exact())
	}
	for _, bad := range []string{"", "0", "1/0", "0/5", "-1/2", "1/-2", "01/2", "1/02", "1.5/2", "1/2/3", "a/b", "1e3"} {
		if _, err := fx.ParseExact("EUR", "USD", bad); err == nil {
			t.Errorf("ParseExact(%q) accepted", bad)
		}
	}
}

// TestPriceRounding checks the rounding direction, in the house's favour,
// at the currencies' ISO exponents: the customer receives the floor and
// pays the ceiling; the liquidity side takes the ceiling of the mid value
// and the rest is spread revenue. Expected values computed by hand with
// exact fractions.
func TestPriceRounding(t *testing.T) {
	cases := []struct {
		from, to  money.Currency
		rate      string
		bp        int
		side      fx.Side
		amount    int64
		sell, buy int64
		atMid     int64
	}{
		// Exactness: 1.00 EUR × 1.15 is 1.15 USD; float64 gives 114.999… cents.
		{"EUR", "USD", "1.15", 0, fx.SideSell, 100, 100, 115, 100},
		{"EUR", "USD", "1.15", 0, fx.SideBuy, 1, 1, 1, 1},
		{"EUR", "USD", "1.15", 50, fx.SideSell, 100, 100, 114, 100},
		{"EUR", "USD", "1.15", 50, fx.SideBuy, 115, 101, 115, 100},
		// To JPY (exponent 0).
		{"USD", "JPY", "156.789", 50, fx.SideSell, 100, 100, 156, 100},
		{"USD", "JPY", "156.789", 50, fx.SideBuy, 1, 1, 1, 1},
		{"USD", "JPY", "156.789", 50, fx.SideBuy, 10000, 6411, 10000, 6378},
		// From JPY.
		{"JPY", "USD", "0.0063779", 50, fx.SideSell, 157, 157, 99, 156},
		{"JPY", "USD", "0.0063779", 50, fx.SideBuy, 100, 158, 100, 157},
		// To KWD (exponent 3).
		{"USD", "KWD", "0.3071", 50, fx.SideSell, 10000, 10000, 30556, 9950},
		{"USD", "KWD", "0.3071", 50, fx.SideBuy, 1000, 328, 1000, 326},
		// From KWD, to JPY and USD.
		{"KWD", "JPY", "510.25", 0, fx.SideSell, 2, 2, 1, 2},
		{"KWD", "JPY", "510.25", 0, fx.SideBuy, 1, 2, 1, 2},
		{"KWD", "JPY", "510.25", 100, fx.SideBuy, 1000000, 1979620, 1000000, 1959824},
		{"KWD", "USD", "3.2561", 25, fx.SideSell, 1000, 1000, 324, 996},
		{"KWD", "USD", "3.2561", 25, fx.SideBuy, 1, 4, 1, 4},
	}
	for _, c := range cases {
		fixed := c.from
		if c.side == fx.SideBuy {
			fixed = c.to
		}
		p, err := fx.Price(mustRate(t, c.from, c.to, c.rate), c.bp, c.side, money.New(c.amount, fixed))
		if err != nil {
			t.Errorf("%s→%s %s %s %d: %v", c.from, c.to, c.rate, c.side, c.amount, err)
			continue
		}
		want := fx.Priced{Sell: money.New(c.sell, c.from), Buy: money.New(c.buy, c.to),
			SellAtMid: money.New(c.atMid, c.from), Spread: money.New(c.sell-c.atMid, c.from)}
		if p.Sell != want.Sell || p.Buy != want.Buy || p.SellAtMid != want.SellAtMid || p.Spread != want.Spread {
			t.Errorf("%s→%s %s %dbp %s %d: sell %v buy %v atMid %v spread %v; want %v %v %v %v", c.from, c.to, c.rate, c.bp, c.side, c.amount,
				p.Sell, p.Buy, p.SellAtMid, p.Spread, want.Sell, want.Buy, want.SellAtMid, want.Spread)
		}
	}
}

func TestPriceRejects(t *testing.T) {
	jpyUSD := mustRate(t, "JPY", "USD", "0.0063779")
	kwdJPY := mustRate(t, "KWD", "JPY", "510.25")
	for _, c := range []struct {
		name   string
		rate   fx.Rate
		bp     int
		side   fx.Side
		amount money.Amount
		code   string
	}{
		{"1 JPY buys under a cent", jpyUSD, 50, fx.SideSell, money.New(1, "JPY"), fx.EAmountTooSmall},
		{"1 fils buys under a yen", kwdJPY, 0, fx.SideSell, money.New(1, "KWD"), fx.EAmountTooSmall},
		{"zero", jpyUSD, 50, fx.SideSell, money.New(0, "JPY"), okpay.EInvalid},
		{"negative", jpyUSD, 50, fx.SideBuy, money.New(-5, "USD"), okpay.EInvalid},
		{"wrong currency for sell", jpyUSD, 50, fx.SideSell, money.New(5, "USD"), okpay.EInvalid},
		{"wrong currency for buy", jpyUSD, 50, fx.SideBuy, money.New(5, "JPY"), okpay.EInvalid},
		{"bad side", jpyUSD, 50, "both", money.New(5, "JPY"), okpay.EInvalid},
		{"negative spread", jpyUSD, -1, fx.SideSell, money.New(500, "JPY"), okpay.EInvalid},
		{"huge spread", jpyUSD, fx.MaxSpreadBP + 1, fx.SideSell, money.New(500, "JPY"), okpay.EInvalid},
		{"zero rate", fx.Rate{}, 0, fx.SideSell, money.New(500, "JPY"), okpay.EInvalid},
		{"overflow", mustRate(t, "JPY", "KWD", "2"), 0, fx.SideSell, money.New(math.MaxInt64, "JPY"), fx.EAmountOverflow},
		{"overflow buying", jpyUSD, 0, fx.SideBuy, money.New(math.MaxInt64, "USD"), fx.EAmountOverflow},
	} {
		_, err := fx.Price(c.rate, c.bp, c.side, c.amount)
		if got := okpay.ErrorCode(err); got != c.code {
			t.Errorf("%s: code %q (%v), want %q", c.name, got, err, c.code)
		}
	}
}

// TestPriceProperties checks, for random rates, spreads, exponents and
// amounts, against exact rational arithmetic done independently here:
//   - sell side: buy = ⌊sell·R⌋ (buy ≤ sell·R < buy+1 in minor units);
//   - buy side: sell = ⌈buy/R⌉;
//   - SellAtMid = ⌈buy/mid⌉ ≤ Sell and Spread = Sell − SellAtMid ≥ 0;
//   - the customer's effective rate never beats R.
func TestPriceProperties(t *testing.T) {
	currencies := []money.Currency{"JPY", "USD", "KWD", "CLF", "CNY", "KRW"}
	rapid.Check(t, func(t *rapid.T) {
		from := rapid.SampledFrom(currencies).Draw(t, "from")
		to := rapid.SampledFrom(currencies).Filter(func(c money.Currency) bool { return c != from }).Draw(t, "to")
		intDigits := rapid.StringMatching(`(0|[1-9][0-9]{0,5})`).Draw(t, "int")
		frac := rapid.StringMatching(`[0-9]{0,8}`).Draw(t, "frac")
		s := intDigits
		if frac != "" {
			s += "." + frac
		}
		mid, err := fx.ParseRate(from, to, s)
		if err != nil {
			t.Skip("zero rate")
		}
		bp := rapid.IntRange(0, fx.MaxSpreadBP).Draw(t, "bp")
		side := rapid.SampledFrom([]fx.Side{fx.SideSell, fx.SideBuy}).Draw(t, "side")
		fixed := from
		if side == fx.SideBuy {
			fixed = to
		}
		amount := money.New(rapid.Int64Range(1, 1e12).Draw(t, "amount"), fixed)
		p, err := fx.Price(mid, bp, side, amount)
		if c := okpay.ErrorCode(err); c == fx.EAmountTooSmall || c == fx.EAmountOverflow {
			return
		} else if err != nil {
			t.Fatalf("Price: %v", err)
		}
		if p.Sell.Minor <= 0 || p.Buy.Minor <= 0 {
			t.Fatalf("non-positive result %v %v", p.Sell, p.Buy)
		}
		// Work in major units with exact rationals.
		major := func(a money.Amount) *big.Rat {
			return new(big.Rat).SetFrac(big.NewInt(a.Minor), new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(a.Currency.Exponent())), nil))
		}
		unit := func(c money.Currency) *big.Rat { return major(money.New(1, c)) }
		r := new(big.Rat).Mul(mid.Rat(), big.NewRat(int64(10000-bp), 10000))
		if p.Rate.IsZero() || p.Rate.Rat().Cmp(r) != 0 {
			t.Fatalf("rate %s, want %s", p.Rate.Exact(), r.RatString())
		}
		worth := new(big.Rat).Mul(major(p.Sell), r) // what sell buys at R, in To
		if side == fx.SideSell {
			if p.Sell != amount {
				t.Fatalf("sell %v, want %v", p.Sell, amount)
			}
			upper := new(big.Rat).Add(major(p.Buy), unit(to))
			if major(p.Buy).Cmp(worth) > 0 || worth.Cmp(upper) >= 0 {
				t.Fatalf("buy %v is not the floor of %s", p.Buy, worth.FloatString(8))
			}
		} else {
			if p.Buy != amount {
				t.Fatalf("buy %v, want %v", p.Buy, amount)
			}
			cost := new(big.Rat).Quo(major(p.Buy), r) // what buy costs at R, in From
			lower := new(big.Rat).Sub(major(p.Sell), unit(from))
			if major(p.Sell).Cmp(cost) < 0 || lower.Cmp(cost) >= 0 {
				t.Fatalf("sell %v is not the ceiling of %s", p.Sell, cost.FloatString(8))
			}
		}
		atMidCost := new(big.Rat).Quo(major(p.Buy), mid.Rat())
		if major(p.SellAtMid).Cmp(atMidCost) < 0 || new(big.Rat).Sub(major(p.SellAtMid), unit(from)).Cmp(atMidCost) >= 0 {
			t.Fatalf("sell at mid %v is not the ceiling of %s", p.SellAtMid, atMidCost.FloatString(8))
		}
		if p.Spread.Minor < 0 || p.SellAtMid.Minor+p.Spread.Minor != p.Sell.Minor {
			t.Fatalf("split %v + %v != %v", p.SellAtMid, p.Spread, p.Sell)
		}
		if major(p.Buy).Cmp(worth) > 0 {
			t.Fatalf("the customer gets more than the rate gives")
		}
	})
}

func TestNoFloatInPackage(t *testing.T) {
	// A guard against regressions: the package's sources never mention
	// float types or strconv's float parsers.
	for _, name := range []string{"rate.go", "quote.go", "fx.go", "ecb.go", "ratesfile.go"} {
		data := readFile(t, name)
		for _, bad := range []string{"float32", "float64", "ParseFloat", "big.Float", "SetFloat64", "Float64()"} {
			if strings.Contains(data, bad) {
				t.Errorf("%s mentions %s", name, bad)
			}
		}
	}
}
