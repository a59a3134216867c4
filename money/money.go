// Package money represents amounts of money exactly, as an int64 count of a
// currency's minor units (cents for USD, fen for CNY, yen for JPY, fils for
// KWD), and converts them to and from the decimal strings of OKPay's API.
//
// Currencies are ISO 4217 alphabetic codes; the package carries its own table
// of the current codes and their minor-unit exponents (JPY 0, USD 2, KWD 3,
// CLF 4), which is also the ledger's scale for each currency.
//
// Floating point is never used. Input is a plain decimal string:
//
//	a, err := money.Parse("12.3", "USD")    // {Minor: 1230, Currency: "USD"}
//	a.String()                              // "12.30"
//	money.Parse("1.234", "USD")             // too_many_decimals: USD allows at most 2 decimal places
//	money.ParseSigned("-0.005", "KWD")      // {Minor: -5, Currency: "KWD"}
//
// In JSON an amount is the object {"amount": "12.30", "currency": "USD"},
// with the amount as a string that has exactly the currency's number of
// decimals. Decoding is strict: a JSON number, a sign, an unknown field or
// an unknown currency is an error.
//
// Every error is an *Error with a stable Code (see the Code constants) and a
// short English message that is safe to show to users; the HTTP layer maps
// the codes to RFC 9457 problems.
package money

import (
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Amount is an exact amount of money: Minor units of Currency. 1230 minor
// units of USD are 12.30 US dollars. The zero Amount has no currency and is
// not valid for JSON or display; build amounts with New, Parse or
// ParseSigned.
//
// Amount is a small value type: compare amounts with ==, which is true when
// both the minor units and the currency are equal.
type Amount struct {
	Minor    int64
	Currency Currency
}

// New returns minor units of c. It does not check c; Parse, ParseSigned and
// JSON decoding do.
func New(minor int64, c Currency) Amount {
	return Amount{Minor: minor, Currency: c}
}

// Parse converts a non-negative plain decimal string into an amount of c.
//
// The accepted form is one or more ASCII digits, optionally followed by a
// '.' and one or more digits, with no more digits after the point than c's
// exponent: "100", "12.34", "12.3" (1230 minor units of USD), "0.5". The
// integer part has no leading zeros except a single "0" ("0.50" is fine,
// "007" is not).
//
// Parse rejects, each with its own message: an empty string, a sign ("+1",
// and "-1" with code negative_amount; use ParseSigned for signed input),
// spaces, exponents ("1e3"), hexadecimal ("0x10"), commas (thousands
// separators or a decimal comma), non-ASCII digits, a leading or trailing
// point (".5", "5."), more than one point, leading zeros, too many decimals
// ("1.234" USD, "1.5" JPY), amounts beyond the int64 range of minor units,
// and an unknown currency.
func Parse(s string, c Currency) (Amount, error) {
	return parse(s, c, false)
}

// ParseSigned is Parse that also accepts one leading '-' ("-12.30",
// "-0.005"). "-0" parses as zero. It still rejects '+' and more than one
// sign. The range is that of int64: "-92233720368547758.08" USD is the
// smallest USD amount.
func ParseSigned(s string, c Currency) (Amount, error) {
	return parse(s, c, true)
}

func parse(s string, c Currency, signed bool) (Amount, error) {
	exp := c.Exponent()
	if exp < 0 {
		return Amount{}, unknownCurrency(c)
	}
	if s == "" {
		return Amount{}, newError(CodeInvalidAmount, "amount is empty")
	}
	neg := false
	switch s[0] {
	case '+':
		return Amount{}, newError(CodeInvalidAmount, "amount must not have a '+' sign")
	case '-':
		if !signed {
			return Amount{}, newError(CodeNegativeAmount, "amount must not be negative")
		}
		neg = true
		s = s[1:]
		if s == "" {
			return Amount{}, newError(CodeInvalidAmount, "amount has no digits")
		}
		if s[0] == '-' || s[0] == '+' {
			return Amount{}, newError(CodeInvalidAmount, "amount must have at most one sign")
		}
	}
	if err := checkChars(s); err != nil {
		return Amount{}, err
	}

	// s now holds only ASCII digits and '.'.
	intPart, frac, hasDot := strings.Cut(s, ".")
	switch {
	case hasDot && strings.Contains(frac, "."):
		return Amount{}, newError(CodeInvalidAmount, "amount must have at most one decimal point")
	case intPart == "" && hasDot:
		return Amount{}, newError(CodeInvalidAmount, "amount must have a digit before the decimal point")
	case intPart == "":
		return Amount{}, newError(CodeInvalidAmount, "amount has no digits")
	case hasDot && frac == "":
		return Amount{}, newError(CodeInvalidAmount, "amount must have a digit after the decimal point")
	case len(intPart) > 1 && intPart[0] == '0':
		return Amount{}, newError(CodeInvalidAmount, "amount must not have leading zeros")
	case len(frac) > exp:
		return Amount{}, tooManyDecimals(c, exp)
	}

	// Accumulate the digits, padded with zeros to exp decimals, as a
	// magnitude no larger than limit: 2^63-1 for a positive amount, 2^63
	// for a negative one (so that math.MinInt64 parses).
	limit := uint64(math.MaxInt64)
	if neg {
		limit++
	}
	var v uint64
	push := func(d uint64) bool {
		if v > (limit-d)/10 {
			return false
		}
		v = v*10 + d
		return true
	}
	ok := true
	for i := 0; ok && i < len(intPart); i++ {
		ok = push(uint64(intPart[i] - '0'))
	}
	for i := 0; ok && i < len(frac); i++ {
		ok = push(uint64(frac[i] - '0'))
	}
	for i := len(frac); ok && i < exp; i++ {
		ok = push(0)
	}
	if !ok {
		return Amount{}, overflow(c, neg)
	}
	if neg {
		// -v in two's complement; v == 2^63 yields math.MinInt64.
		return Amount{Minor: int64(-v), Currency: c}, nil
	}
	return Amount{Minor: int64(v), Currency: c}, nil
}

// checkChars returns an error unless s holds only ASCII digits and '.',
// naming the most telling problem.
func checkChars(s string) error {
	if strings.ContainsFunc(s, unicode.IsSpace) {
		return newError(CodeInvalidAmount, "amount must not contain spaces")
	}
	if len(s) >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		return newError(CodeInvalidAmount, "amount must be decimal, not hexadecimal")
	}
	if !utf8.ValidString(s) {
		return newError(CodeInvalidAmount, "amount is not valid UTF-8 text")
	}
	sawDigit := false
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			sawDigit = true
		case r == '.':
		case (r == 'e' || r == 'E') && sawDigit:
			return newError(CodeInvalidAmount, "amount must not use exponent notation")
		case r == ',':
			return newError(CodeInvalidAmount, "amount must not contain commas; use a '.' for decimals and no thousands separators")
		case r >= utf8.RuneSelf && unicode.IsDigit(r):
			return newError(CodeInvalidAmount, "amount must use only the ASCII digits 0-9, got "+strconv.QuoteRune(r))
		default:
			return newError(CodeInvalidAmount, "amount contains an invalid character "+strconv.QuoteRune(r))
		}
	}
	return nil
}

func unknownCurrency(c Currency) *Error {
	e := newError(CodeUnknownCurrency, "unknown currency "+quote(string(c)))
	if c == "" {
		e.msg = "currency is required"
	}
	if isCurrencyShape(string(c)) {
		e.currency = c
	}
	return e
}

func tooManyDecimals(c Currency, exp int) *Error {
	msg := string(c) + " allows at most " + strconv.Itoa(exp) + " decimal places"
	switch exp {
	case 0:
		msg = string(c) + " does not allow decimal places"
	case 1:
		msg = string(c) + " allows at most 1 decimal place"
	}
	return &Error{code: CodeTooManyDecimals, msg: msg, currency: c, decimals: exp}
}

func overflow(c Currency, neg bool) *Error {
	if neg {
		return newError(CodeAmountOverflow,
			"amount is too small; the smallest is "+New(math.MinInt64, c).String()+" "+string(c)).withCurrency(c)
	}
	return newError(CodeAmountOverflow,
		"amount is too large; the largest is "+New(math.MaxInt64, c).String()+" "+string(c)).withCurrency(c)
}

// String returns the amount as a decimal with exactly the currency's number
// of decimals and no thousands separators: "12.30" for 1230 USD, "5" for
// 5 JPY, "-0.005" for -5 KWD, "0.0001" for 1 CLF. The result parses back to
// the same amount with ParseSigned (and with Parse when not negative). Every
// int64, math.MinInt64 included, is formatted exactly.
//
// An amount of an unknown currency is shown as its integer minor units.
func (a Amount) String() string {
	exp := max(a.Currency.Exponent(), 0)
	return decimal(a.Minor, exp, false)
}

// decimal formats minor with exp decimals, grouping the integer part in
// thousands with ',' if group is set.
func decimal(minor int64, exp int, group bool) string {
	neg := minor < 0
	u := uint64(minor)
	if neg {
		u = -u // the magnitude, also for math.MinInt64
	}
	digits := strconv.FormatUint(u, 10)
	if len(digits) <= exp {
		digits = strings.Repeat("0", exp-len(digits)+1) + digits
	}
	intPart, frac := digits[:len(digits)-exp], digits[len(digits)-exp:]

	var b strings.Builder
	b.Grow(len(digits) + len(digits)/3 + 2)
	if neg {
		b.WriteByte('-')
	}
	if group {
		for i := 0; i < len(intPart); i++ {
			if i > 0 && (len(intPart)-i)%3 == 0 {
				b.WriteByte(',')
			}
			b.WriteByte(intPart[i])
		}
	} else {
		b.WriteString(intPart)
	}
	if exp > 0 {
		b.WriteByte('.')
		b.WriteString(frac)
	}
	return b.String()
}

// IsZero reports whether the amount is zero minor units (of any currency).
func (a Amount) IsZero() bool { return a.Minor == 0 }

// IsNegative reports whether the amount is below zero.
func (a Amount) IsNegative() bool { return a.Minor < 0 }

// Add returns a+b. Both must have the same, known currency
// (currency_mismatch, unknown_currency); a result beyond the int64 range is
// an amount_overflow error.
func (a Amount) Add(b Amount) (Amount, error) {
	if err := sameCurrency(a, b); err != nil {
		return Amount{}, err
	}
	s := a.Minor + b.Minor
	// Overflow iff both operands have the same sign and the sum's differs.
	if (a.Minor >= 0) == (b.Minor >= 0) && (s >= 0) != (a.Minor >= 0) {
		return Amount{}, overflow(a.Currency, a.Minor < 0)
	}
	return Amount{Minor: s, Currency: a.Currency}, nil
}

// Sub returns a-b, with the same checks as Add.
func (a Amount) Sub(b Amount) (Amount, error) {
	if err := sameCurrency(a, b); err != nil {
		return Amount{}, err
	}
	d := a.Minor - b.Minor
	// Overflow iff the operands have different signs and the difference's
	// sign differs from a's.
	if (a.Minor >= 0) != (b.Minor >= 0) && (d >= 0) != (a.Minor >= 0) {
		return Amount{}, overflow(a.Currency, a.Minor < 0)
	}
	return Amount{Minor: d, Currency: a.Currency}, nil
}

func sameCurrency(a, b Amount) error {
	if a.Currency != b.Currency {
		e := newError(CodeCurrencyMismatch,
			"currency mismatch: "+quote(string(a.Currency))+" and "+quote(string(b.Currency)))
		if isCurrencyShape(string(a.Currency)) && isCurrencyShape(string(b.Currency)) {
			e.msg = "currency mismatch: " + string(a.Currency) + " and " + string(b.Currency)
		}
		return e
	}
	if !a.Currency.Valid() {
		return unknownCurrency(a.Currency)
	}
	return nil
}
