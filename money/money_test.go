package money_test

import (
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/okpay/okpay/money"
)

// coded is what OKPay's error helpers look for.
var _ interface{ Code() string } = (*money.Error)(nil)

func TestCurrencyTable(t *testing.T) {
	want := map[money.Currency]int{
		"JPY": 0, "KRW": 0, "CLP": 0, "ISK": 0, "VND": 0, "UGX": 0, "XOF": 0, "XAF": 0, "XPF": 0, "PYG": 0, "UYI": 0,
		"USD": 2, "CNY": 2, "EUR": 2, "GBP": 2, "HKD": 2, "RUB": 2, "CHF": 2, "HUF": 2, "IDR": 2, "XCG": 2, "ZWG": 2, "VES": 2, "VED": 2, "SLE": 2,
		"KWD": 3, "BHD": 3, "JOD": 3, "OMR": 3, "TND": 3, "LYD": 3, "IQD": 3,
		"CLF": 4, "UYW": 4,
	}
	for c, exp := range want {
		if got := c.Exponent(); got != exp {
			t.Errorf("%s.Exponent() = %d, want %d", c, got, exp)
		}
		if !c.Valid() {
			t.Errorf("%s.Valid() = false", c)
		}
	}
	// Codes without a minor unit, and withdrawn codes, are not currencies here.
	for _, c := range []money.Currency{"XAU", "XAG", "XPT", "XPD", "XDR", "XXX", "XTS", "XBA", "XBB", "XBC", "XBD", "XSU", "XUA",
		"HRK", "ZWL", "ANG", "BGN", "DEM", "", "usd", "US", "USDX"} {
		if c.Valid() || c.Exponent() != -1 {
			t.Errorf("%q: Valid() = %v, Exponent() = %d; want false, -1", c, c.Valid(), c.Exponent())
		}
	}

	cs := money.Currencies()
	if len(cs) < 150 || len(cs) > 200 {
		t.Fatalf("len(Currencies()) = %d, want about 160", len(cs))
	}
	if !slices.IsSorted(cs) {
		t.Error("Currencies() is not sorted")
	}
	if len(slices.Compact(slices.Clone(cs))) != len(cs) {
		t.Error("Currencies() has duplicates")
	}
	for _, c := range cs {
		if e := c.Exponent(); e != 0 && e != 2 && e != 3 && e != 4 {
			t.Errorf("%s.Exponent() = %d", c, e)
		}
		if got, err := money.ParseCurrency(string(c)); err != nil || got != c {
			t.Errorf("ParseCurrency(%q) = %q, %v", c, got, err)
		}
	}
	cs[0] = "ZZZ"
	if money.Currencies()[0] == "ZZZ" {
		t.Error("Currencies() returns a shared slice")
	}
}

func TestParseCurrency(t *testing.T) {
	for _, s := range []string{"", "usd", "Usd", "US", "USDD", " USD", "USD ", "U$D", "ＵＳＤ", "XAU", "XXX", "ABC", "\x00\x00\x00"} {
		c, err := money.ParseCurrency(s)
		if err == nil {
			t.Errorf("ParseCurrency(%q) = %q, want error", s, c)
			continue
		}
		if !errors.Is(err, money.ErrUnknownCurrency) || codeOf(err) != money.CodeUnknownCurrency {
			t.Errorf("ParseCurrency(%q) error %v (code %q), want unknown_currency", s, err, codeOf(err))
		}
		if c != "" {
			t.Errorf("ParseCurrency(%q) returned %q with the error", s, c)
		}
	}
	if _, err := money.ParseCurrency("ABC"); err == nil || err.Error() != `unknown currency "ABC"` {
		t.Errorf("ParseCurrency(ABC) error = %v", err)
	}
	if _, err := money.ParseCurrency("usd"); err == nil || !strings.Contains(err.Error(), "three uppercase letters") {
		t.Errorf("ParseCurrency(usd) error = %v", err)
	}
}

func codeOf(err error) string {
	var e *money.Error
	if errors.As(err, &e) {
		return e.Code()
	}
	return ""
}

func TestParse(t *testing.T) {
	tests := []struct {
		s     string
		c     money.Currency
		minor int64
	}{
		// exponent 2
		{"12.34", "USD", 1234},
		{"12.3", "USD", 1230},
		{"0.5", "USD", 50},
		{"0.05", "USD", 5},
		{"100", "USD", 10000},
		{"0", "USD", 0},
		{"0.0", "USD", 0},
		{"0.00", "USD", 0},
		{"1234.50", "CNY", 123450},
		{"92233720368547758.07", "USD", math.MaxInt64},
		{"92233720368547758", "USD", 9223372036854775800},
		// exponent 0
		{"5", "JPY", 5},
		{"1000000", "KRW", 1000000},
		{"9223372036854775807", "JPY", math.MaxInt64},
		// exponent 3
		{"0.005", "KWD", 5},
		{"1.5", "KWD", 1500},
		{"12.345", "BHD", 12345},
		{"9223372036854775.807", "KWD", math.MaxInt64},
		// exponent 4
		{"0.0001", "CLF", 1},
		{"1.23", "CLF", 12300},
		{"922337203685477.5807", "UYW", math.MaxInt64},
	}
	for _, tt := range tests {
		got, err := money.Parse(tt.s, tt.c)
		want := money.New(tt.minor, tt.c)
		if err != nil || got != want {
			t.Errorf("Parse(%q, %s) = %+v, %v; want %+v", tt.s, tt.c, got, err, want)
		}
		// ParseSigned accepts everything Parse does.
		if got, err := money.ParseSigned(tt.s, tt.c); err != nil || got != want {
			t.Errorf("ParseSigned(%q, %s) = %+v, %v; want %+v", tt.s, tt.c, got, err, want)
		}
	}
}

func TestParseRejects(t *testing.T) {
	tests := []struct {
		name string
		s    string
		c    money.Currency
		code string
		msg  string // the whole message
	}{
		{"empty", "", "USD", money.CodeInvalidAmount, "amount is empty"},
		{"plus", "+1", "USD", money.CodeInvalidAmount, "amount must not have a '+' sign"},
		{"minus", "-1", "USD", money.CodeNegativeAmount, "amount must not be negative"},
		{"minus zero", "-0", "USD", money.CodeNegativeAmount, "amount must not be negative"},
		{"minus only", "-", "USD", money.CodeNegativeAmount, "amount must not be negative"},
		{"exponent", "1e3", "USD", money.CodeInvalidAmount, "amount must not use exponent notation"},
		{"exponent upper", "1E3", "USD", money.CodeInvalidAmount, "amount must not use exponent notation"},
		{"exponent after decimals", "1.5e-2", "USD", money.CodeInvalidAmount, "amount must not use exponent notation"},
		{"hex", "0x10", "USD", money.CodeInvalidAmount, "amount must be decimal, not hexadecimal"},
		{"hex upper", "0X1F", "JPY", money.CodeInvalidAmount, "amount must be decimal, not hexadecimal"},
		{"hex float", "0x1p-2", "USD", money.CodeInvalidAmount, "amount must be decimal, not hexadecimal"},
		{"leading space", " 1", "USD", money.CodeInvalidAmount, "amount must not contain spaces"},
		{"trailing space", "1 ", "USD", money.CodeInvalidAmount, "amount must not contain spaces"},
		{"inner space", "1 000", "USD", money.CodeInvalidAmount, "amount must not contain spaces"},
		{"tab", "1\t", "USD", money.CodeInvalidAmount, "amount must not contain spaces"},
		{"newline", "1\n", "USD", money.CodeInvalidAmount, "amount must not contain spaces"},
		{"no-break space", "1\u00a0000", "USD", money.CodeInvalidAmount, "amount must not contain spaces"},
		{"leading dot", ".5", "USD", money.CodeInvalidAmount, "amount must have a digit before the decimal point"},
		{"trailing dot", "5.", "USD", money.CodeInvalidAmount, "amount must have a digit after the decimal point"},
		{"trailing dot JPY", "5.", "JPY", money.CodeInvalidAmount, "amount must have a digit after the decimal point"},
		{"dot only", ".", "USD", money.CodeInvalidAmount, "amount must have a digit before the decimal point"},
		{"two dots", "1.2.3", "USD", money.CodeInvalidAmount, "amount must have at most one decimal point"},
		{"two dots adjacent", "1..2", "USD", money.CodeInvalidAmount, "amount must have at most one decimal point"},
		{"leading zeros", "007", "USD", money.CodeInvalidAmount, "amount must not have leading zeros"},
		{"leading zero before dot", "00.5", "USD", money.CodeInvalidAmount, "amount must not have leading zeros"},
		{"leading zero integer", "01", "JPY", money.CodeInvalidAmount, "amount must not have leading zeros"},
		{"too many decimals USD", "1.234", "USD", money.CodeTooManyDecimals, "USD allows at most 2 decimal places"},
		{"trailing zero beyond exponent", "1.230", "USD", money.CodeTooManyDecimals, "USD allows at most 2 decimal places"},
		{"decimals JPY", "1.5", "JPY", money.CodeTooManyDecimals, "JPY does not allow decimal places"},
		{"zero decimals JPY", "1.0", "JPY", money.CodeTooManyDecimals, "JPY does not allow decimal places"},
		{"too many decimals KWD", "0.0005", "KWD", money.CodeTooManyDecimals, "KWD allows at most 3 decimal places"},
		{"too many decimals CLF", "0.00001", "CLF", money.CodeTooManyDecimals, "CLF allows at most 4 decimal places"},
		{"overflow USD", "92233720368547758.08", "USD", money.CodeAmountOverflow, "amount is too large; the largest is 92233720368547758.07 USD"},
		{"overflow USD integer", "92233720368547759", "USD", money.CodeAmountOverflow, "amount is too large; the largest is 92233720368547758.07 USD"},
		{"overflow JPY", "9223372036854775808", "JPY", money.CodeAmountOverflow, "amount is too large; the largest is 9223372036854775807 JPY"},
		{"overflow KWD", "9223372036854775.808", "KWD", money.CodeAmountOverflow, "amount is too large; the largest is 9223372036854775.807 KWD"},
		{"overflow CLF", "922337203685477.5808", "CLF", money.CodeAmountOverflow, "amount is too large; the largest is 922337203685477.5807 CLF"},
		{"overflow huge", strings.Repeat("9", 400), "USD", money.CodeAmountOverflow, "amount is too large; the largest is 92233720368547758.07 USD"},
		{"overflow uint64", "18446744073709551616", "JPY", money.CodeAmountOverflow, "amount is too large; the largest is 9223372036854775807 JPY"},
		{"unknown currency", "1", "ABC", money.CodeUnknownCurrency, `unknown currency "ABC"`},
		{"lowercase currency", "1", "usd", money.CodeUnknownCurrency, `unknown currency "usd"`},
		{"metal", "1", "XAU", money.CodeUnknownCurrency, `unknown currency "XAU"`},
		{"no currency", "1", "", money.CodeUnknownCurrency, "currency is required"},
		{"fullwidth digits", "１２", "USD", money.CodeInvalidAmount, "amount must use only the ASCII digits 0-9, got '１'"},
		{"arabic-indic digits", "١٢", "USD", money.CodeInvalidAmount, "amount must use only the ASCII digits 0-9, got '١'"},
		{"devanagari digit", "1०", "USD", money.CodeInvalidAmount, "amount must use only the ASCII digits 0-9, got '०'"},
		{"thousands separator", "1,234.50", "USD", money.CodeInvalidAmount, "amount must not contain commas; use a '.' for decimals and no thousands separators"},
		{"decimal comma", "1,5", "EUR", money.CodeInvalidAmount, "amount must not contain commas; use a '.' for decimals and no thousands separators"},
		{"underscore", "1_000", "USD", money.CodeInvalidAmount, "amount contains an invalid character '_'"},
		{"letters", "abc", "USD", money.CodeInvalidAmount, "amount contains an invalid character 'a'"},
		{"leading e", "e5", "USD", money.CodeInvalidAmount, "amount contains an invalid character 'e'"},
		{"infinity", "Inf", "USD", money.CodeInvalidAmount, "amount contains an invalid character 'I'"},
		{"nan", "NaN", "USD", money.CodeInvalidAmount, "amount contains an invalid character 'N'"},
		{"currency sign", "$5", "USD", money.CodeInvalidAmount, "amount contains an invalid character '$'"},
		{"currency suffix", "5USD", "USD", money.CodeInvalidAmount, "amount contains an invalid character 'U'"},
		{"inner minus", "1-2", "USD", money.CodeInvalidAmount, "amount contains an invalid character '-'"},
		{"binary", "0b101", "USD", money.CodeInvalidAmount, "amount contains an invalid character 'b'"},
		{"NUL", "1\x00", "USD", money.CodeInvalidAmount, `amount contains an invalid character '\x00'`},
		{"invalid UTF-8", "1\xff", "USD", money.CodeInvalidAmount, "amount is not valid UTF-8 text"},
		{"fullwidth dot", "1．5", "USD", money.CodeInvalidAmount, "amount contains an invalid character '．'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := money.Parse(tt.s, tt.c)
			if err == nil {
				t.Fatalf("Parse(%q, %q) = %+v, want error", tt.s, tt.c, got)
			}
			if got != (money.Amount{}) {
				t.Errorf("Parse(%q, %q) returned %+v with the error", tt.s, tt.c, got)
			}
			if code := codeOf(err); code != tt.code {
				t.Errorf("Parse(%q, %q) code = %q, want %q (%v)", tt.s, tt.c, code, tt.code, err)
			}
			if err.Error() != tt.msg {
				t.Errorf("Parse(%q, %q) message = %q, want %q", tt.s, tt.c, err.Error(), tt.msg)
			}
		})
	}
}

func TestParseSigned(t *testing.T) {
	ok := []struct {
		s     string
		c     money.Currency
		minor int64
	}{
		{"-12.30", "USD", -1230},
		{"-12.3", "USD", -1230},
		{"-0.005", "KWD", -5},
		{"-5", "JPY", -5},
		{"-0", "USD", 0},
		{"-0.00", "USD", 0},
		{"-0.0001", "CLF", -1},
		{"-92233720368547758.08", "USD", math.MinInt64},
		{"-9223372036854775808", "JPY", math.MinInt64},
		{"-9223372036854775.808", "KWD", math.MinInt64},
		{"-922337203685477.5808", "CLF", math.MinInt64},
		{"-92233720368547758.07", "USD", -math.MaxInt64},
	}
	for _, tt := range ok {
		got, err := money.ParseSigned(tt.s, tt.c)
		if want := money.New(tt.minor, tt.c); err != nil || got != want {
			t.Errorf("ParseSigned(%q, %s) = %+v, %v; want %+v", tt.s, tt.c, got, err, want)
		}
	}

	bad := []struct {
		s    string
		c    money.Currency
		code string
		msg  string
	}{
		{"", "USD", money.CodeInvalidAmount, "amount is empty"},
		{"-", "USD", money.CodeInvalidAmount, "amount has no digits"},
		{"+5", "USD", money.CodeInvalidAmount, "amount must not have a '+' sign"},
		{"--5", "USD", money.CodeInvalidAmount, "amount must have at most one sign"},
		{"-+5", "USD", money.CodeInvalidAmount, "amount must have at most one sign"},
		{"- 5", "USD", money.CodeInvalidAmount, "amount must not contain spaces"},
		{"-.5", "USD", money.CodeInvalidAmount, "amount must have a digit before the decimal point"},
		{"-5.", "USD", money.CodeInvalidAmount, "amount must have a digit after the decimal point"},
		{"-007", "USD", money.CodeInvalidAmount, "amount must not have leading zeros"},
		{"-1e3", "USD", money.CodeInvalidAmount, "amount must not use exponent notation"},
		{"-0x10", "USD", money.CodeInvalidAmount, "amount must be decimal, not hexadecimal"},
		{"-1.234", "USD", money.CodeTooManyDecimals, "USD allows at most 2 decimal places"},
		{"-1.5", "JPY", money.CodeTooManyDecimals, "JPY does not allow decimal places"},
		{"-92233720368547758.09", "USD", money.CodeAmountOverflow, "amount is too small; the smallest is -92233720368547758.08 USD"},
		{"-9223372036854775809", "JPY", money.CodeAmountOverflow, "amount is too small; the smallest is -9223372036854775808 JPY"},
		{"5-", "USD", money.CodeInvalidAmount, "amount contains an invalid character '-'"},
		{"-1", "XXX", money.CodeUnknownCurrency, `unknown currency "XXX"`},
	}
	for _, tt := range bad {
		got, err := money.ParseSigned(tt.s, tt.c)
		if err == nil {
			t.Errorf("ParseSigned(%q, %s) = %+v, want error", tt.s, tt.c, got)
			continue
		}
		if codeOf(err) != tt.code || err.Error() != tt.msg {
			t.Errorf("ParseSigned(%q, %s) error = %s: %q; want %s: %q", tt.s, tt.c, codeOf(err), err, tt.code, tt.msg)
		}
	}
}

func TestString(t *testing.T) {
	tests := []struct {
		minor int64
		c     money.Currency
		want  string
	}{
		{1230, "USD", "12.30"},
		{5, "USD", "0.05"},
		{0, "USD", "0.00"},
		{-1, "USD", "-0.01"},
		{-1230, "USD", "-12.30"},
		{123456789, "USD", "1234567.89"},
		{math.MaxInt64, "USD", "92233720368547758.07"},
		{math.MinInt64, "USD", "-92233720368547758.08"},
		{5, "JPY", "5"},
		{0, "JPY", "0"},
		{-5, "JPY", "-5"},
		{math.MaxInt64, "JPY", "9223372036854775807"},
		{math.MinInt64, "JPY", "-9223372036854775808"},
		{-5, "KWD", "-0.005"},
		{1500, "KWD", "1.500"},
		{math.MinInt64, "KWD", "-9223372036854775.808"},
		{1, "CLF", "0.0001"},
		{12300, "CLF", "1.2300"},
		{math.MaxInt64, "UYW", "922337203685477.5807"},
		{math.MinInt64, "UYW", "-922337203685477.5808"},
		// Unknown currency: the integer minor units.
		{1230, "ABC", "1230"},
		{0, "", "0"},
	}
	for _, tt := range tests {
		a := money.New(tt.minor, tt.c)
		if got := a.String(); got != tt.want {
			t.Errorf("New(%d, %q).String() = %q, want %q", tt.minor, tt.c, got, tt.want)
		}
		if !tt.c.Valid() {
			continue
		}
		if back, err := money.ParseSigned(a.String(), tt.c); err != nil || back != a {
			t.Errorf("ParseSigned(%q, %s) = %+v, %v; want %+v", a.String(), tt.c, back, err, a)
		}
	}
}

func TestPredicates(t *testing.T) {
	if !money.New(0, "USD").IsZero() || money.New(1, "USD").IsZero() || money.New(-1, "USD").IsZero() {
		t.Error("IsZero is wrong")
	}
	if money.New(0, "USD").IsNegative() || money.New(1, "USD").IsNegative() || !money.New(-1, "USD").IsNegative() ||
		!money.New(math.MinInt64, "USD").IsNegative() {
		t.Error("IsNegative is wrong")
	}
}

func TestAddSub(t *testing.T) {
	usd := func(m int64) money.Amount { return money.New(m, "USD") }
	type op func(a, b money.Amount) (money.Amount, error)
	add := func(a, b money.Amount) (money.Amount, error) { return a.Add(b) }
	sub := func(a, b money.Amount) (money.Amount, error) { return a.Sub(b) }
	tests := []struct {
		name string
		op   op
		a, b money.Amount
		want money.Amount
		code string
		msg  string
	}{
		{name: "add", op: add, a: usd(150), b: usd(250), want: usd(400)},
		{name: "add negative", op: add, a: usd(150), b: usd(-250), want: usd(-100)},
		{name: "add to max", op: add, a: usd(math.MaxInt64 - 1), b: usd(1), want: usd(math.MaxInt64)},
		{name: "add to min", op: add, a: usd(math.MinInt64 + 1), b: usd(-1), want: usd(math.MinInt64)},
		{name: "add max and min", op: add, a: usd(math.MaxInt64), b: usd(math.MinInt64), want: usd(-1)},
		{name: "add overflow", op: add, a: usd(math.MaxInt64), b: usd(1),
			code: money.CodeAmountOverflow, msg: "amount is too large; the largest is 92233720368547758.07 USD"},
		{name: "add overflow max+max", op: add, a: usd(math.MaxInt64), b: usd(math.MaxInt64), code: money.CodeAmountOverflow},
		{name: "add underflow", op: add, a: usd(math.MinInt64), b: usd(-1),
			code: money.CodeAmountOverflow, msg: "amount is too small; the smallest is -92233720368547758.08 USD"},
		{name: "add underflow min+min", op: add, a: usd(math.MinInt64), b: usd(math.MinInt64), code: money.CodeAmountOverflow},
		{name: "add mismatch", op: add, a: usd(1), b: money.New(1, "EUR"),
			code: money.CodeCurrencyMismatch, msg: "currency mismatch: USD and EUR"},
		{name: "add unknown", op: add, a: money.New(1, "ABC"), b: money.New(1, "ABC"),
			code: money.CodeUnknownCurrency, msg: `unknown currency "ABC"`},
		{name: "add zero values", op: add, a: money.Amount{}, b: money.Amount{},
			code: money.CodeUnknownCurrency, msg: "currency is required"},
		{name: "sub", op: sub, a: usd(400), b: usd(150), want: usd(250)},
		{name: "sub below zero", op: sub, a: usd(150), b: usd(400), want: usd(-250)},
		{name: "sub to min", op: sub, a: usd(-1), b: usd(math.MaxInt64), want: usd(math.MinInt64)},
		{name: "sub min from -1", op: sub, a: usd(-1), b: usd(math.MinInt64), want: usd(math.MaxInt64)},
		{name: "sub min from min", op: sub, a: usd(math.MinInt64), b: usd(math.MinInt64), want: usd(0)},
		{name: "sub min from 0", op: sub, a: usd(0), b: usd(math.MinInt64), code: money.CodeAmountOverflow,
			msg: "amount is too large; the largest is 92233720368547758.07 USD"},
		{name: "sub underflow", op: sub, a: usd(math.MinInt64), b: usd(1), code: money.CodeAmountOverflow,
			msg: "amount is too small; the smallest is -92233720368547758.08 USD"},
		{name: "sub overflow", op: sub, a: usd(math.MaxInt64), b: usd(-1), code: money.CodeAmountOverflow},
		{name: "sub mismatch", op: sub, a: money.New(1, "JPY"), b: usd(1),
			code: money.CodeCurrencyMismatch, msg: "currency mismatch: JPY and USD"},
		{name: "sub mismatch odd codes", op: sub, a: money.New(1, "x y"), b: usd(1),
			code: money.CodeCurrencyMismatch, msg: `currency mismatch: "x y" and "USD"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.op(tt.a, tt.b)
			if tt.code == "" {
				if err != nil || got != tt.want {
					t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("got %+v, want %s error", got, tt.code)
			}
			if codeOf(err) != tt.code || (tt.msg != "" && err.Error() != tt.msg) {
				t.Errorf("error = %s: %q; want %s: %q", codeOf(err), err, tt.code, tt.msg)
			}
			if got != (money.Amount{}) {
				t.Errorf("returned %+v with the error", got)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	sentinels := map[string]error{
		money.CodeInvalidAmount:    money.ErrInvalidAmount,
		money.CodeTooManyDecimals:  money.ErrTooManyDecimals,
		money.CodeAmountOverflow:   money.ErrAmountOverflow,
		money.CodeUnknownCurrency:  money.ErrUnknownCurrency,
		money.CodeNegativeAmount:   money.ErrNegativeAmount,
		money.CodeCurrencyMismatch: money.ErrCurrencyMismatch,
	}
	for code, want := range map[string]string{
		money.CodeInvalidAmount:    "invalid_amount",
		money.CodeTooManyDecimals:  "too_many_decimals",
		money.CodeAmountOverflow:   "amount_overflow",
		money.CodeUnknownCurrency:  "unknown_currency",
		money.CodeNegativeAmount:   "negative_amount",
		money.CodeCurrencyMismatch: "currency_mismatch",
	} {
		if code != want {
			t.Errorf("code constant %q, want %q", code, want)
		}
		if codeOf(sentinels[code]) != code {
			t.Errorf("sentinel for %q has code %q", code, codeOf(sentinels[code]))
		}
	}

	_, err := money.Parse("1.234", "USD")
	for code, s := range sentinels {
		if got, want := errors.Is(err, s), code == money.CodeTooManyDecimals; got != want {
			t.Errorf("errors.Is(too_many_decimals error, %s) = %v", code, got)
		}
	}
	var e *money.Error
	if !errors.As(err, &e) {
		t.Fatal("not an *Error")
	}
	if d := e.Data(); d["Currency"] != "USD" || d["Decimals"] != 2 || len(d) != 2 {
		t.Errorf("Data() = %v", d)
	}
	_, err = money.Parse("1.5", "JPY")
	if errors.As(err, &e); e.Data()["Decimals"] != 0 {
		t.Errorf("JPY Data() = %v", e.Data())
	}
	_, err = money.Parse("1", "ABC")
	if errors.As(err, &e); e.Data()["Currency"] != "ABC" {
		t.Errorf("unknown currency Data() = %v", e.Data())
	}
	// Odd input is not echoed as template data, and is cut short in messages.
	long := money.Currency(strings.Repeat("<b>", 50))
	_, err = money.Parse("1", long)
	if errors.As(err, &e); len(e.Data()) != 0 || len(err.Error()) > 60 {
		t.Errorf("long currency: Data() = %v, message %q", e.Data(), err)
	}
	_, err = money.Parse("-1", "USD")
	if errors.As(err, &e); len(e.Data()) != 0 {
		t.Errorf("negative_amount Data() = %v", e.Data())
	}
	// Errors wrapped by encoding/json keep their code.
	_, err = json.Marshal(money.New(1, "ABC"))
	if codeOf(err) != money.CodeUnknownCurrency || !errors.Is(err, money.ErrUnknownCurrency) {
		t.Errorf("json.Marshal error %v has code %q", err, codeOf(err))
	}
}

func TestMarshalJSON(t *testing.T) {
	tests := []struct {
		a    money.Amount
		want string
	}{
		{money.New(1230, "USD"), `{"amount":"12.30","currency":"USD"}`},
		{money.New(123450, "CNY"), `{"amount":"1234.50","currency":"CNY"}`},
		{money.New(5, "JPY"), `{"amount":"5","currency":"JPY"}`},
		{money.New(5, "KWD"), `{"amount":"0.005","currency":"KWD"}`},
		{money.New(1, "CLF"), `{"amount":"0.0001","currency":"CLF"}`},
		{money.New(0, "USD"), `{"amount":"0.00","currency":"USD"}`},
		{money.New(-500, "USD"), `{"amount":"-5.00","currency":"USD"}`},
		{money.New(math.MinInt64, "USD"), `{"amount":"-92233720368547758.08","currency":"USD"}`},
	}
	for _, tt := range tests {
		b, err := json.Marshal(tt.a)
		if err != nil || string(b) != tt.want {
			t.Errorf("json.Marshal(%+v) = %s, %v; want %s", tt.a, b, err, tt.want)
		}
		b, err = json.Marshal(&tt.a)
		if err != nil || string(b) != tt.want {
			t.Errorf("json.Marshal(&%+v) = %s, %v; want %s", tt.a, b, err, tt.want)
		}
	}
	for _, a := range []money.Amount{{}, money.New(1, "XAU"), money.New(1, "usd")} {
		if b, err := json.Marshal(a); err == nil {
			t.Errorf("json.Marshal(%+v) = %s, want error", a, b)
		}
	}
	// Inside a struct, as the API uses it.
	type transfer struct {
		Amount money.Amount  `json:"amount"`
		Fee    *money.Amount `json:"fee,omitempty"`
	}
	b, err := json.Marshal(transfer{Amount: money.New(50000, "CNY")})
	if want := `{"amount":{"amount":"500.00","currency":"CNY"}}`; err != nil || string(b) != want {
		t.Errorf("json.Marshal(transfer) = %s, %v; want %s", b, err, want)
	}
}

func TestUnmarshalJSON(t *testing.T) {
	ok := []struct {
		in   string
		want money.Amount
	}{
		{`{"amount":"12.30","currency":"USD"}`, money.New(1230, "USD")},
		{`{"currency":"USD","amount":"12.3"}`, money.New(1230, "USD")},
		{` { "amount" : "1234.50" , "currency" : "CNY" } `, money.New(123450, "CNY")},
		{`{"amount":"5","currency":"JPY"}`, money.New(5, "JPY")},
		{`{"amount":"0.005","currency":"KWD"}`, money.New(5, "KWD")},
		{`{"amount":"0.0001","currency":"CLF"}`, money.New(1, "CLF")},
		{`{"amount":"0","currency":"USD"}`, money.New(0, "USD")},
		{`{"amount":"9999999999999999.99","currency":"USD"}`, money.New(money.MaxJSONMinor, "USD")},
		{`{"amount":"999999999999999999","currency":"JPY"}`, money.New(money.MaxJSONMinor, "JPY")},
		{`{"amount":"\u0031\u0032","currency":"\u0055SD"}`, money.New(1200, "USD")},
	}
	for _, tt := range ok {
		var a money.Amount
		if err := json.Unmarshal([]byte(tt.in), &a); err != nil || a != tt.want {
			t.Errorf("json.Unmarshal(%s) = %+v, %v; want %+v", tt.in, a, err, tt.want)
		}
		var direct money.Amount
		if err := direct.UnmarshalJSON([]byte(tt.in)); err != nil || direct != tt.want {
			t.Errorf("UnmarshalJSON(%s) = %+v, %v; want %+v", tt.in, direct, err, tt.want)
		}
		// Round trip.
		b, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		var back money.Amount
		if err := json.Unmarshal(b, &back); err != nil || back != a {
			t.Errorf("round trip of %s via %s = %+v, %v", tt.in, b, back, err)
		}
	}

	bad := []struct {
		name, in, code, msg string
	}{
		{"number", `{"amount":12.30,"currency":"USD"}`, money.CodeInvalidAmount, "amount must be a string"},
		{"integer", `{"amount":1230,"currency":"USD"}`, money.CodeInvalidAmount, "amount must be a string"},
		{"huge number", `{"amount":1e400,"currency":"USD"}`, money.CodeInvalidAmount, "amount must be a string"},
		{"bool amount", `{"amount":true,"currency":"USD"}`, money.CodeInvalidAmount, "amount must be a string"},
		{"null amount", `{"amount":null,"currency":"USD"}`, money.CodeInvalidAmount, "amount must be a string"},
		{"object amount", `{"amount":{"v":"1"},"currency":"USD"}`, money.CodeInvalidAmount, "amount must be a string"},
		{"array amount", `{"amount":["1"],"currency":"USD"}`, money.CodeInvalidAmount, "amount must be a string"},
		{"number currency", `{"amount":"1","currency":840}`, money.CodeUnknownCurrency, "currency must be a string"},
		{"null currency", `{"amount":"1","currency":null}`, money.CodeUnknownCurrency, "currency must be a string"},
		{"negative", `{"amount":"-1.00","currency":"USD"}`, money.CodeNegativeAmount, "amount must not be negative"},
		{"plus", `{"amount":"+1.00","currency":"USD"}`, money.CodeInvalidAmount, "amount must not have a '+' sign"},
		{"exponent", `{"amount":"1e3","currency":"USD"}`, money.CodeInvalidAmount, "amount must not use exponent notation"},
		{"too many decimals", `{"amount":"1.234","currency":"USD"}`, money.CodeTooManyDecimals, "USD allows at most 2 decimal places"},
		{"JPY decimals", `{"amount":"1.5","currency":"JPY"}`, money.CodeTooManyDecimals, "JPY does not allow decimal places"},
		{"overflow", `{"amount":"92233720368547758.08","currency":"USD"}`, money.CodeAmountOverflow, "amount is too large; the largest is 92233720368547758.07 USD"},
		// TXN-05: at most 18 digits, though int64 holds 19.
		{"19 digits", `{"amount":"10000000000000000.00","currency":"USD"}`, money.CodeAmountOverflow, "amount has more than 18 digits; the largest is 9999999999999999.99 USD"},
		{"int64's largest", `{"amount":"92233720368547758.07","currency":"USD"}`, money.CodeAmountOverflow, "amount has more than 18 digits; the largest is 9999999999999999.99 USD"},
		{"19 digits JPY", `{"amount":"1000000000000000000","currency":"JPY"}`, money.CodeAmountOverflow, "amount has more than 18 digits; the largest is 999999999999999999 JPY"},
		{"empty amount", `{"amount":"","currency":"USD"}`, money.CodeInvalidAmount, "amount is empty"},
		{"spaces", `{"amount":" 1","currency":"USD"}`, money.CodeInvalidAmount, "amount must not contain spaces"},
		{"unknown currency", `{"amount":"1","currency":"ABC"}`, money.CodeUnknownCurrency, `unknown currency "ABC"`},
		{"lowercase currency", `{"amount":"1","currency":"usd"}`, money.CodeUnknownCurrency, `currency must be an ISO 4217 code of three uppercase letters, got "usd"`},
		{"metal", `{"amount":"1","currency":"XAU"}`, money.CodeUnknownCurrency, `unknown currency "XAU"`},
		{"missing currency", `{"amount":"1"}`, money.CodeUnknownCurrency, "currency is required"},
		{"missing amount", `{"currency":"USD"}`, money.CodeInvalidAmount, "amount is required"},
		{"empty object", `{}`, money.CodeUnknownCurrency, "currency is required"},
		{"unknown field", `{"amount":"1","currency":"USD","memo":"x"}`, money.CodeInvalidAmount, `unknown field "memo" in money; only "amount" and "currency" are allowed`},
		{"minor field", `{"minor":100,"currency":"USD"}`, money.CodeInvalidAmount, `unknown field "minor" in money; only "amount" and "currency" are allowed`},
		{"case-folded field", `{"Amount":"1","currency":"USD"}`, money.CodeInvalidAmount, `unknown field "Amount" in money; only "amount" and "currency" are allowed`},
		{"duplicate amount", `{"amount":"1","amount":"2","currency":"USD"}`, money.CodeInvalidAmount, `duplicate field "amount" in money`},
		{"duplicate currency", `{"amount":"1","currency":"USD","currency":"EUR"}`, money.CodeInvalidAmount, `duplicate field "currency" in money`},
		{"null", `null`, money.CodeInvalidAmount, `money must be a JSON object {"amount": "...", "currency": "..."}`},
		{"string", `"12.30"`, money.CodeInvalidAmount, `money must be a JSON object {"amount": "...", "currency": "..."}`},
		{"bare number", `12.30`, money.CodeInvalidAmount, `money must be a JSON object {"amount": "...", "currency": "..."}`},
		{"array", `["12.30","USD"]`, money.CodeInvalidAmount, `money must be a JSON object {"amount": "...", "currency": "..."}`},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			a := money.New(7, "EUR")
			err := json.Unmarshal([]byte(tt.in), &a)
			if err == nil {
				t.Fatalf("json.Unmarshal(%s) = %+v, want error", tt.in, a)
			}
			if codeOf(err) != tt.code || err.Error() != tt.msg {
				t.Errorf("json.Unmarshal(%s) error = %s: %q; want %s: %q", tt.in, codeOf(err), err, tt.code, tt.msg)
			}
			if a != money.New(7, "EUR") {
				t.Errorf("json.Unmarshal(%s) changed the amount to %+v", tt.in, a)
			}
		})
	}

	// Malformed JSON given straight to UnmarshalJSON (encoding/json checks
	// syntax before calling it).
	for _, in := range []string{``, `{`, `{"amount"`, `{"amount":"1"`, `{"amount":"1","currency":"USD"`,
		`{"amount":"1","currency":"USD"}}`, `{"amount":"1","currency":"USD"} x`, `{"amount":"1","currency":"USD"}{}`,
		`{"amount" "1"}`, `{"amount":"1",}`, `{,}`, `{1:"1"}`, `{"amount":"1" "currency":"USD"}`, "\xff"} {
		a := money.New(7, "EUR")
		err := a.UnmarshalJSON([]byte(in))
		if err == nil || codeOf(err) != money.CodeInvalidAmount {
			t.Errorf("UnmarshalJSON(%q) = %+v, %v; want invalid_amount", in, a, err)
		}
		if a != money.New(7, "EUR") {
			t.Errorf("UnmarshalJSON(%q) changed the amount to %+v", in, a)
		}
	}
}

func TestUnmarshalJSONInStruct(t *testing.T) {
	type req struct {
		Amount money.Amount  `json:"amount"`
		Fee    *money.Amount `json:"fee"`
	}
	var r req
	err := json.Unmarshal([]byte(`{"amount":{"amount":"500","currency":"CNY"},"fee":null}`), &r)
	if err != nil || r.Amount != money.New(50000, "CNY") || r.Fee != nil {
		t.Errorf("got %+v, %v", r, err)
	}
	err = json.Unmarshal([]byte(`{"amount":{"amount":"500","currency":"CNY"},"fee":{"amount":"1.5","currency":"CNY"}}`), &r)
	if err != nil || r.Fee == nil || *r.Fee != money.New(150, "CNY") {
		t.Errorf("got %+v, %v", r, err)
	}
	// A JSON number where money belongs keeps the money error and its code.
	err = json.Unmarshal([]byte(`{"amount":{"amount":500,"currency":"CNY"}}`), &r)
	if codeOf(err) != money.CodeInvalidAmount || !strings.Contains(err.Error(), "amount must be a string") {
		t.Errorf("error = %v (code %q)", err, codeOf(err))
	}
	// A plain value for a non-pointer Amount is rejected.
	err = json.Unmarshal([]byte(`{"amount":null}`), &r)
	if codeOf(err) != money.CodeInvalidAmount {
		t.Errorf("null amount: error = %v (code %q)", err, codeOf(err))
	}
}

func TestFormat(t *testing.T) {
	tests := []struct {
		a    money.Amount
		lang string
		want string
	}{
		{money.New(123450, "CNY"), "zh-CN", "¥1,234.50"},
		{money.New(123450, "CNY"), "en", "CN¥1,234.50"},
		{money.New(123450, "USD"), "en", "$1,234.50"},
		{money.New(123450, "USD"), "zh-CN", "US$1,234.50"},
		{money.New(-500, "USD"), "en", "-$5.00"},
		{money.New(-500, "USD"), "zh-CN", "-US$5.00"},
		{money.New(50000, "CNY"), "zh-CN", "¥500.00"},
		{money.New(0, "CNY"), "zh-CN", "¥0.00"},
		{money.New(1, "CNY"), "zh-CN", "¥0.01"},
		{money.New(100000, "EUR"), "en", "€1,000.00"},
		{money.New(99999, "GBP"), "zh-CN", "£999.99"},
		{money.New(1234567, "JPY"), "en", "JP¥1,234,567"},
		{money.New(1234567, "JPY"), "zh-CN", "JP¥1,234,567"},
		{money.New(-1234567, "JPY"), "en", "-JP¥1,234,567"},
		{money.New(123456789, "HKD"), "en", "HK$1,234,567.89"},
		{money.New(123450, "CHF"), "en", "CHF 1,234.50"},
		{money.New(123450, "CHF"), "zh-CN", "CHF 1,234.50"},
		{money.New(1234567, "KWD"), "en", "KWD 1,234.567"},
		{money.New(-5, "KWD"), "en", "-KWD 0.005"},
		{money.New(12345, "CLF"), "en", "CLF 1.2345"},
		{money.New(math.MaxInt64, "USD"), "en", "$92,233,720,368,547,758.07"},
		{money.New(math.MinInt64, "USD"), "en", "-$92,233,720,368,547,758.08"},
		{money.New(math.MinInt64, "JPY"), "en", "-JP¥9,223,372,036,854,775,808"},
		{money.New(100, "USD"), "zh", "US$1.00"},
		{money.New(100, "USD"), "zh-Hans", "US$1.00"},
		{money.New(100, "USD"), "ZH-cn", "US$1.00"},
		{money.New(100, "USD"), "zh_CN", "US$1.00"},
		{money.New(100, "USD"), "zu", "$1.00"},
		{money.New(100, "USD"), "zhx", "$1.00"},
		{money.New(100, "USD"), "", "$1.00"},
		{money.New(100, "USD"), "fr", "$1.00"},
		// Unknown currencies still format, without panicking.
		{money.New(1234, "ABC"), "en", `"ABC" 1,234`},
		{money.Amount{Minor: -1234}, "en", "-1,234"},
	}
	for _, tt := range tests {
		if got := tt.a.Format(tt.lang); got != tt.want {
			t.Errorf("%+v.Format(%q) = %q, want %q", tt.a, tt.lang, got, tt.want)
		}
	}
	// Grouping for every length of the integer part.
	want := []string{"$0.01", "$0.12", "$1.23", "$12.34", "$123.45", "$1,234.56", "$12,345.67", "$123,456.78", "$1,234,567.89"}
	var m int64
	for i, w := range want {
		m = m*10 + int64(i+1)
		if got := money.New(m, "USD").Format("en"); got != w {
			t.Errorf("New(%d, USD).Format(en) = %q, want %q", m, got, w)
		}
	}
}
