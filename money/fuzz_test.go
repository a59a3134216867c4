package money_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"math/big"
	"slices"
	"strings"
	"testing"

	"github.com/okpay/okpay/money"
)

var allCodes = []string{
	money.CodeInvalidAmount, money.CodeTooManyDecimals, money.CodeAmountOverflow,
	money.CodeUnknownCurrency, money.CodeNegativeAmount, money.CodeCurrencyMismatch,
}

// checkError fails t unless err is a well-formed *money.Error: a known code
// and a short, non-empty message.
func checkError(t *testing.T, what string, err error) {
	t.Helper()
	var e *money.Error
	if !errors.As(err, &e) {
		t.Fatalf("%s: error %v (%T) is not a *money.Error", what, err, err)
	}
	if !slices.Contains(allCodes, e.Code()) {
		t.Fatalf("%s: unknown code %q", what, e.Code())
	}
	if msg := err.Error(); msg == "" || len(msg) > 160 {
		t.Fatalf("%s: message %q is empty or too long", what, msg)
	}
}

// oracle computes the minor units of the plain decimal s (digits with at
// most one '.', optionally one leading '-') with math/big, scaled to exp
// decimals. ok is false when s is not of that form or has too many decimals.
func oracle(s string, exp int) (v *big.Int, ok bool) {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	intPart, frac, _ := strings.Cut(s, ".")
	if intPart == "" || len(frac) > exp || strings.Trim(intPart+frac, "0123456789") != "" {
		return nil, false
	}
	v, ok = new(big.Int).SetString(intPart+frac+strings.Repeat("0", exp-len(frac)), 10)
	if ok && neg {
		v.Neg(v)
	}
	return v, ok
}

func FuzzParseFormatRoundTrip(f *testing.F) {
	cs := money.Currencies()
	idx := func(c money.Currency) uint16 { return uint16(slices.Index(cs, c)) }
	for _, seed := range []struct {
		s string
		c money.Currency
		n int64
	}{
		{"12.34", "USD", 1234},
		{"12.3", "USD", -1},
		{"0", "JPY", 0},
		{"5", "JPY", math.MaxInt64},
		{"0.005", "KWD", -5},
		{"0.0001", "CLF", math.MinInt64},
		{"92233720368547758.07", "USD", math.MaxInt64},
		{"92233720368547758.08", "USD", math.MinInt64},
		{"-1.00", "USD", -100},
		{"1e3", "USD", 1000},
		{"007", "EUR", 7},
		{".5", "USD", 50},
		{"5.", "USD", 500},
		{"1.5", "JPY", 15},
		{"１２", "CNY", 12},
		{"0x10", "USD", 16},
	} {
		f.Add(seed.s, idx(seed.c), seed.n)
	}
	f.Fuzz(func(t *testing.T, s string, i uint16, n int64) {
		c := cs[int(i)%len(cs)]
		exp := c.Exponent()

		a, err := money.Parse(s, c)
		signed, serr := money.ParseSigned(s, c)
		want, wantOK := oracle(s, exp)
		if err != nil {
			checkError(t, "Parse", err)
			if a != (money.Amount{}) {
				t.Fatalf("Parse(%q, %s) returned %+v with error %v", s, c, a, err)
			}
			if wantOK && !strings.HasPrefix(s, "-") && !errors.Is(err, money.ErrInvalidAmount) &&
				(want.IsInt64() || !errors.Is(err, money.ErrAmountOverflow)) {
				t.Fatalf("Parse(%q, %s) = %v, oracle %v", s, c, err, want)
			}
		} else {
			if a.Currency != c || a.IsNegative() {
				t.Fatalf("Parse(%q, %s) = %+v", s, c, a)
			}
			if !wantOK || !want.IsInt64() || want.Int64() != a.Minor {
				t.Fatalf("Parse(%q, %s) = %d, oracle %v (%v)", s, c, a.Minor, want, wantOK)
			}
			str := a.String()
			back, err := money.Parse(str, c)
			if err != nil || back != a {
				t.Fatalf("Parse(%q) = %+v; String() = %q; Parse(String()) = %+v, %v", s, a, str, back, err)
			}
			if serr != nil || signed != a {
				t.Fatalf("Parse(%q) = %+v but ParseSigned = %+v, %v", s, a, signed, serr)
			}
		}
		if serr != nil {
			checkError(t, "ParseSigned", serr)
		} else {
			if !wantOK || !want.IsInt64() || want.Int64() != signed.Minor || signed.Currency != c {
				t.Fatalf("ParseSigned(%q, %s) = %+v, oracle %v (%v)", s, c, signed, want, wantOK)
			}
			if back, err := money.ParseSigned(signed.String(), c); err != nil || back != signed {
				t.Fatalf("ParseSigned(%q) = %+v; ParseSigned(String()) = %+v, %v", s, signed, back, err)
			}
			if signed.Minor < 0 && err == nil {
				t.Fatalf("Parse(%q) accepted a negative amount", s)
			}
		}

		// Every int64 formats and parses back.
		x := money.New(n, c)
		str := x.String()
		back, err := money.ParseSigned(str, c)
		if err != nil || back != x {
			t.Fatalf("New(%d, %s).String() = %q; ParseSigned = %+v, %v", n, c, str, back, err)
		}
		if v, ok := oracle(str, exp); !ok || !v.IsInt64() || v.Int64() != n {
			t.Fatalf("New(%d, %s).String() = %q, oracle reads %v", n, c, str, v)
		}
		if n >= 0 {
			if back, err := money.Parse(str, c); err != nil || back != x {
				t.Fatalf("Parse(%q, %s) = %+v, %v", str, c, back, err)
			}
		} else if _, err := money.Parse(str, c); !errors.Is(err, money.ErrNegativeAmount) {
			t.Fatalf("Parse(%q, %s) error = %v, want negative_amount", str, c, err)
		}
		for _, lang := range []string{"en", "zh-CN"} {
			got := x.Format(lang)
			if strings.HasPrefix(got, "-") != (n < 0) || !strings.HasSuffix(strings.ReplaceAll(got, ",", ""), strings.TrimPrefix(str, "-")) {
				t.Fatalf("New(%d, %s).Format(%s) = %q, String() = %q", n, c, lang, got, str)
			}
		}
		// Arithmetic either succeeds exactly or reports overflow.
		sum, err := x.Add(x)
		exact := new(big.Int).Add(big.NewInt(n), big.NewInt(n))
		if err != nil {
			if !errors.Is(err, money.ErrAmountOverflow) || exact.IsInt64() {
				t.Fatalf("%d+%d: %v", n, n, err)
			}
		} else if sum.Minor != exact.Int64() {
			t.Fatalf("%d+%d = %d", n, n, sum.Minor)
		}
		if err == nil && a.Currency == c {
			diff, err := sum.Sub(a)
			exact := new(big.Int).Sub(big.NewInt(sum.Minor), big.NewInt(a.Minor))
			if err != nil {
				if !errors.Is(err, money.ErrAmountOverflow) || exact.IsInt64() {
					t.Fatalf("%d-%d: %v", sum.Minor, a.Minor, err)
				}
			} else if diff.Minor != exact.Int64() {
				t.Fatalf("%d-%d = %d", sum.Minor, a.Minor, diff.Minor)
			}
		}
	})
}

func FuzzAmountJSON(f *testing.F) {
	for _, seed := range []string{
		`{"amount":"12.30","currency":"USD"}`,
		`{"currency":"JPY","amount":"5"}`,
		`{"amount":"0.005","currency":"KWD"}`,
		`{"amount":"0.0001","currency":"CLF"}`,
		`{"amount":"92233720368547758.07","currency":"USD"}`,
		`{"amount":12.30,"currency":"USD"}`,
		`{"amount":"-1","currency":"USD"}`,
		`{"amount":"1","currency":"USD","x":1}`,
		`{"amount":"1","amount":"2","currency":"USD"}`,
		`{"amount":"\u0031","currency":"USD"}`,
		`null`,
		`[]`,
		`{`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var direct money.Amount
		derr := direct.UnmarshalJSON(data)
		var a money.Amount
		err := json.Unmarshal(data, &a)
		if err == nil {
			// encoding/json checked the syntax and passed the value on.
			if derr != nil || direct != a {
				t.Fatalf("json.Unmarshal(%q) = %+v but UnmarshalJSON = %+v, %v", data, a, direct, derr)
			}
		}
		if derr != nil {
			checkError(t, "UnmarshalJSON", derr)
			if direct != (money.Amount{}) {
				t.Fatalf("UnmarshalJSON(%q) changed the amount to %+v on error %v", data, direct, derr)
			}
			return
		}
		if !direct.Currency.Valid() || direct.IsNegative() || direct.Minor > money.MaxJSONMinor {
			t.Fatalf("UnmarshalJSON(%q) = %+v", data, direct)
		}
		b, err := json.Marshal(direct)
		if err != nil {
			t.Fatalf("json.Marshal(%+v): %v", direct, err)
		}
		want := `{"amount":"` + direct.String() + `","currency":"` + string(direct.Currency) + `"}`
		if string(b) != want {
			t.Fatalf("json.Marshal(%+v) = %s, want %s", direct, b, want)
		}
		var back money.Amount
		if err := json.Unmarshal(b, &back); err != nil || back != direct {
			t.Fatalf("unmarshal %q -> %+v -> marshal %s -> unmarshal %+v, %v", data, direct, b, back, err)
		}
		b2, err := json.Marshal(back)
		if err != nil || !bytes.Equal(b, b2) {
			t.Fatalf("marshal is not stable: %s then %s (%v)", b, b2, err)
		}
	})
}
