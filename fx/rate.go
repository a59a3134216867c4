package fx

import (
	"math/big"
	"strings"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/money"
)

// Limits of a decimal rate written by people or feeds: at most this many
// digits before and after the point. They keep big.Rat arithmetic small and
// still cover every real rate (EUR→IDR is about 19,000; JPY→KWD about
// 0.002).
const (
	maxIntDigits  = 15
	maxFracDigits = 15
)

// Rate is an exact exchange rate: one major unit of Base is worth Value
// major units of Quote ("1 EUR = 7.6543 CNY" is Rate{Base: EUR, Quote:
// CNY} with value 7.6543).
//
// The value is a big.Rat, never a float: rates from feeds are exact
// decimals and cross rates (CNY→JPY = EUR→JPY / EUR→CNY) are fractions
// with no finite decimal form, kept exact too. In the database a rate is
// the text of Exact: the plain decimal when there is one ("7.6543"),
// otherwise numerator/denominator ("1619400/76543").
//
// A Rate is an immutable value; the zero Rate is invalid (IsZero).
type Rate struct {
	Base, Quote money.Currency
	v           *big.Rat // > 0, never mutated after construction
}

// ParseRate reads a rate written as a plain positive decimal: ASCII
// digits with at most one '.', no sign, exponent, spaces, commas or
// leading zeros ("7.6543", "0.0064", "162"), at most 15 digits on each
// side of the point. Base and quote must be different, known currencies.
// Errors are validation errors naming the field "rate", "base" or
// "quote".
func ParseRate(base, quote money.Currency, s string) (Rate, error) {
	if err := checkPair(base, quote); err != nil {
		return Rate{}, err
	}
	v, msg := parseDecimal(s)
	if msg != "" {
		return Rate{}, okpay.Invalid(map[string]string{"rate": msg})
	}
	return Rate{Base: base, Quote: quote, v: v}, nil
}

// NewRate returns the rate base→quote of value v (copied), which must be
// positive.
func NewRate(base, quote money.Currency, v *big.Rat) (Rate, error) {
	if err := checkPair(base, quote); err != nil {
		return Rate{}, err
	}
	if v == nil || v.Sign() <= 0 {
		return Rate{}, okpay.Invalid(map[string]string{"rate": "The rate must be greater than zero."})
	}
	return Rate{Base: base, Quote: quote, v: new(big.Rat).Set(v)}, nil
}

func checkPair(base, quote money.Currency) error {
	fields := map[string]string{}
	if !base.Valid() {
		fields["base"] = "Choose a supported currency."
	}
	if !quote.Valid() {
		fields["quote"] = "Choose a supported currency."
	}
	if len(fields) == 0 && base == quote {
		fields["quote"] = "The two currencies of a rate must differ."
	}
	if len(fields) > 0 {
		return okpay.Invalid(fields)
	}
	return nil
}

// parseDecimal reads a strict positive decimal; msg is a sentence saying
// what is wrong, or "" when v is good.
func parseDecimal(s string) (v *big.Rat, msg string) {
	if s == "" {
		return nil, "The rate is empty."
	}
	intPart, frac, dot := strings.Cut(s, ".")
	switch {
	case !allDigits(intPart) || (dot && !allDigits(frac)):
		return nil, "The rate must be a plain decimal number such as 7.6543."
	case len(intPart) > 1 && intPart[0] == '0':
		return nil, "The rate must not have leading zeros."
	case len(intPart) > maxIntDigits:
		return nil, "The rate has too many digits before the decimal point (at most 15)."
	case len(frac) > maxFracDigits:
		return nil, "The rate has too many digits after the decimal point (at most 15)."
	}
	num, _ := new(big.Int).SetString(intPart+frac, 10)
	if num.Sign() == 0 {
		return nil, "The rate must be greater than zero."
	}
	den := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(len(frac))), nil)
	return new(big.Rat).SetFrac(num, den), ""
}

// allDigits reports whether s is one or more ASCII digits.
func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// parseExact reads the text written by Exact: a strict decimal or
// "numerator/denominator" of two positive integers without signs or
// leading zeros.
func parseExact(s string) (*big.Rat, bool) {
	n, d, frac := strings.Cut(s, "/")
	if !frac {
		if len(s) > 64 {
			return nil, false
		}
		v, msg := parseDecimal(s)
		return v, msg == ""
	}
	num, ok1 := positiveInt(n)
	den, ok2 := positiveInt(d)
	if !ok1 || !ok2 {
		return nil, false
	}
	return new(big.Rat).SetFrac(num, den), true
}

func positiveInt(s string) (*big.Int, bool) {
	if !allDigits(s) || s[0] == '0' || len(s) > 200 {
		return nil, false
	}
	v, ok := new(big.Int).SetString(s, 10)
	return v, ok
}

// IsZero reports whether r is the zero Rate (no value).
func (r Rate) IsZero() bool { return r.v == nil }

// Rat returns the exact value as a new big.Rat the caller may change.
func (r Rate) Rat() *big.Rat {
	if r.v == nil {
		return new(big.Rat)
	}
	return new(big.Rat).Set(r.v)
}

// Cmp compares the values of r and o (ignoring currencies): -1, 0 or +1.
func (r Rate) Cmp(o Rate) int { return r.Rat().Cmp(o.Rat()) }

// Inverse returns the rate quote→base (1/value).
func (r Rate) Inverse() Rate {
	if r.v == nil {
		return Rate{Base: r.Quote, Quote: r.Base}
	}
	return Rate{Base: r.Quote, Quote: r.Base, v: new(big.Rat).Inv(r.v)}
}

// Exact returns the exact value as text: the plain decimal when the value
// has a finite decimal form ("7.6543", "162"), otherwise the reduced
// fraction "numerator/denominator" ("1619400/76543"). ParseExact reads it
// back. The zero Rate gives "0".
func (r Rate) Exact() string {
	if r.v == nil {
		return "0"
	}
	if n, exact := r.v.FloatPrec(); exact {
		return r.v.FloatString(n)
	}
	return r.v.Num().String() + "/" + r.v.Denom().String()
}

// ParseExact reads a value written by Exact as the rate base→quote.
func ParseExact(base, quote money.Currency, s string) (Rate, error) {
	if err := checkPair(base, quote); err != nil {
		return Rate{}, err
	}
	v, ok := parseExact(s)
	if !ok {
		return Rate{}, okpay.Invalid(map[string]string{"rate": "The rate must be a decimal such as 7.6543 or a fraction such as 1619400/76543."})
	}
	return Rate{Base: base, Quote: quote, v: v}, nil
}

// displaySignificant is how many significant digits String shows at least.
const displaySignificant = 6

// String returns the value for people: a plain decimal with at least 6
// decimal places' worth of precision or 6 significant digits, whichever
// shows more, rounded half up and without trailing zeros ("7.6543",
// "21.156998", "0.00650741"). It is for display only: Exact is the value
// that computes amounts.
func (r Rate) String() string {
	if r.v == nil {
		return "0"
	}
	places := displaySignificant
	// Values below 1 need more places for 6 significant digits: count the
	// leading zeros after the point.
	if r.v.Cmp(big.NewRat(1, 1)) < 0 {
		x := new(big.Rat).Set(r.v)
		ten := big.NewRat(10, 1)
		zeros := 0
		for x.Cmp(big.NewRat(1, 10)) < 0 && zeros < 60 {
			x.Mul(x, ten)
			zeros++
		}
		places = zeros + displaySignificant
	}
	s := r.v.FloatString(places) // rounds half away from zero; r > 0
	if strings.Contains(s, ".") {
		s = strings.TrimRight(s, "0")
		s = strings.TrimSuffix(s, ".")
	}
	return s
}

// Describe returns "1 EUR = 7.6543 CNY" for people.
func (r Rate) Describe() string {
	return "1 " + string(r.Base) + " = " + r.String() + " " + string(r.Quote)
}
