// Package fee holds OKPay's fee schedule: what each operation costs, per
// operation, currency and payment method, computed with integer arithmetic
// only and rounded up to the currency's minor unit (in the house's favour).
//
// A schedule is a list of rules loaded from TOML (see Load for the format;
// default.toml is the documented default, returned by Default). A fee is
//
//	fee = ⌈amount × percent_bp / 10000⌉ + fixed, then raised to min and
//	      lowered to max (when max is set)
//
// where amount, fixed, min and max are minor units of the amount's
// currency. For an operation in a currency and with a method the most
// specific rule wins, in this order:
//
//  1. the operation, the currency and the method;
//  2. the operation, the currency and method "any";
//  3. the operation, currency "*" and the method;
//  4. the operation, currency "*" and method "any".
//
// A "*" rule holds only a percentage: a fixed amount, a minimum or a
// maximum means nothing without a currency.
package fee

import (
	"bufio"
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"math/bits"
	"regexp"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/okpay/okpay"
	"github.com/okpay/okpay/money"
)

// Operations that carry a fee.
const (
	Deposit    = "deposit"
	Transfer   = "transfer" // P2P, to another OKPay customer
	Exchange   = "exchange"
	Remittance = "remittance"
	Withdrawal = "withdrawal"
)

var operations = []string{Deposit, Transfer, Exchange, Remittance, Withdrawal}

// Operations lists the operations, in a stable order.
func Operations() []string { return slices.Clone(operations) }

// Payment methods. A rule's method is one of them or AnyMethod; a quote's
// method is one of them, or "" for an operation without one (a transfer,
// an exchange), which only rules for AnyMethod match.
const (
	Card        = "card"
	BankAccount = "bank_account"
	EWallet     = "ewallet"
	AnyMethod   = "any"
)

var methods = []string{Card, BankAccount, EWallet}

// Methods lists the payment methods (AnyMethod excluded).
func Methods() []string { return slices.Clone(methods) }

// AnyCurrency is the currency of a rule that applies to every currency
// without a rule of its own.
const AnyCurrency = "*"

// Error codes of this package.
const (
	// ENotConfigured: no rule covers the operation, currency and method.
	ENotConfigured = "fee_not_configured"
	// EOverflow: the fee does not fit the int64 minor units.
	EOverflow = money.CodeAmountOverflow
)

// MaxBP is the largest percentage: 100%.
const MaxBP = 10000

// Rule is one line of the schedule.
type Rule struct {
	Operation string
	// Currency is a currency code or AnyCurrency.
	Currency string
	// Method is a payment method or AnyMethod.
	Method string
	// BP is the percentage of the amount in basis points (100 = 1%).
	BP int64
	// Fixed, Min and Max are minor units of Currency (all 0 for
	// AnyCurrency); Max 0 means no maximum.
	Fixed, Min, Max int64
	// Line is where the rule starts in its TOML source (0: unknown).
	Line int
}

// Key names the rule: "withdrawal/CNY/card", "remittance/*/any". Quote
// returns it to say which rule priced a fee.
func (r Rule) Key() string { return r.Operation + "/" + r.Currency + "/" + r.Method }

type key struct{ op, ccy, method string }

// Schedule is a validated fee schedule. It is immutable and safe for
// concurrent use.
type Schedule struct {
	rules []Rule
	index map[key]int
}

// Rules returns the rules in the order of their source.
func (s *Schedule) Rules() []Rule { return slices.Clone(s.rules) }

// Find returns the rule that prices op in currency c with method ("" for
// none): the most specific one, see the package documentation.
func (s *Schedule) Find(op, method string, c money.Currency) (Rule, error) {
	if !slices.Contains(operations, op) {
		return Rule{}, okpay.Invalid(map[string]string{"operation": "Unknown operation."})
	}
	if method != "" && !slices.Contains(methods, method) {
		return Rule{}, okpay.Invalid(map[string]string{"method": "Unknown payment method."})
	}
	if !c.Valid() {
		return Rule{}, okpay.Invalid(map[string]string{"currency": "Choose a supported currency."})
	}
	tries := []key{{op, string(c), method}, {op, string(c), AnyMethod}, {op, AnyCurrency, method}, {op, AnyCurrency, AnyMethod}}
	for _, k := range tries {
		if k.method == "" {
			continue
		}
		if i, ok := s.index[k]; ok {
			return s.rules[i], nil
		}
	}
	what := op
	if method != "" {
		what += " by " + method
	}
	return Rule{}, okpay.Errorf(ENotConfigured, "There is no fee set for %s in %s, so it cannot be done.", what, c)
}

// Quote returns the fee for op with method ("" for an operation without a
// payment method) on amount, and the key of the rule that priced it. The
// amount must not be negative. The fee may exceed the amount (a minimum
// fee on a small withdrawal): whether that is allowed is the caller's
// decision.
//
// Errors: EInvalid (unknown operation, method or currency, negative
// amount), ENotConfigured, EOverflow.
func (s *Schedule) Quote(op, method string, amount money.Amount) (fee money.Amount, rule string, err error) {
	if amount.Minor < 0 {
		return money.Amount{}, "", okpay.Invalid(map[string]string{"amount": "The amount must not be negative."})
	}
	r, err := s.Find(op, method, amount.Currency)
	if err != nil {
		return money.Amount{}, "", err
	}
	f, ok := r.apply(amount.Minor)
	if !ok {
		return money.Amount{}, "", okpay.Errorf(EOverflow, "The fee on this amount is too large to compute.")
	}
	return money.New(f, amount.Currency), r.Key(), nil
}

// apply computes the rule's fee on amount ≥ 0 minor units, false on
// overflow.
func (r Rule) apply(amount int64) (int64, bool) {
	// ⌈amount × bp / 10000⌉ in 128 bits: amount < 2^63 and bp ≤ 10^4, so
	// the high word stays below 10^4 and Div64 cannot overflow; the
	// quotient is at most amount.
	hi, lo := bits.Mul64(uint64(amount), uint64(r.BP))
	lo, carry := bits.Add64(lo, MaxBP-1, 0)
	hi += carry
	q, _ := bits.Div64(hi, lo, MaxBP)
	pct := int64(q)
	if pct > (1<<63-1)-r.Fixed {
		return 0, false
	}
	f := pct + r.Fixed
	if f < r.Min {
		f = r.Min
	}
	if r.Max > 0 && f > r.Max {
		f = r.Max
	}
	return f, true
}

// LoadError lists everything wrong with a schedule's rules, each problem
// naming its rule (number, line and key).
type LoadError struct {
	Problems []string
}

func (e *LoadError) Error() string {
	return "fee schedule: " + strings.Join(e.Problems, "; ")
}

// tomlSchedule is the TOML document: only [[rule]] tables.
type tomlSchedule struct {
	Rule []map[string]any `toml:"rule"`
}

// ruleFields are the keys a [[rule]] table may hold.
var ruleFields = []string{"operation", "currency", "method", "percent_bp", "fixed", "min", "max"}

var ruleHeader = regexp.MustCompile(`^\s*\[\[\s*rule\s*\]\]\s*(#.*)?$`)

// MaxBytes bounds a schedule's source.
const MaxBytes = 1 << 20

// maxRules bounds the number of rules.
const maxRules = 10000

// Load reads a fee schedule from TOML, one [[rule]] table per rule:
//
//	[[rule]]
//	operation  = "withdrawal"  # deposit | transfer | exchange | remittance | withdrawal
//	currency   = "CNY"         # an ISO 4217 code, or "*" for every other currency
//	method     = "card"        # card | bank_account | ewallet | any (default any)
//	percent_bp = 100           # percentage in basis points: 100 = 1% (integer 0..10000, default 0)
//	fixed      = "0.00"        # added to the percentage (default 0)
//	min        = "2.00"        # the fee is at least this (default 0)
//	max        = "50.00"       # the fee is at most this (default: no maximum)
//
// fixed, min and max are decimal strings in the rule's currency, with at
// most its number of decimals ("2.00" CNY, "150" JPY, "0.500" KWD); a "*"
// rule may not have them. max, when given, must be positive and at least
// min. Two rules may not share operation, currency and method. Unknown
// keys, floats and values of the wrong type are errors. Every problem is
// reported, each naming its rule by number, line and key.
func Load(src []byte) (*Schedule, error) {
	if len(src) > MaxBytes {
		return nil, fmt.Errorf("fee schedule: larger than %d bytes", MaxBytes)
	}
	var doc tomlSchedule
	md, err := toml.Decode(string(src), &doc)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("fee schedule: line %d: %s", pe.Position.Line, pe.Message)
		}
		return nil, fmt.Errorf("fee schedule: %w", err)
	}
	if len(doc.Rule) > maxRules {
		return nil, fmt.Errorf("fee schedule: more than %d rules", maxRules)
	}
	lines := headerLines(src)
	if len(lines) != len(doc.Rule) {
		lines = nil // rules written another way (an inline array): no lines
	}
	problems := []string{}
	for _, k := range md.Undecoded() {
		if len(k) == 1 {
			problems = append(problems, fmt.Sprintf("unknown key %q (a schedule holds only [[rule]] tables)", clip(k.String())))
		}
	}
	s := &Schedule{index: map[key]int{}}
	for i, raw := range doc.Rule {
		line := 0
		if lines != nil {
			line = lines[i]
		}
		r, errs := parseRule(raw)
		r.Line = line
		name := ruleName(i, line, r)
		for _, e := range errs {
			problems = append(problems, name+": "+e)
		}
		if len(errs) > 0 {
			continue
		}
		k := key{r.Operation, r.Currency, r.Method}
		if j, dup := s.index[k]; dup {
			problems = append(problems, fmt.Sprintf("%s: repeats rule %d (%s)", name, j+1, r.Key()))
			continue
		}
		s.index[k] = len(s.rules)
		s.rules = append(s.rules, r)
	}
	if len(doc.Rule) == 0 && len(problems) == 0 {
		problems = append(problems, "no [[rule]] tables")
	}
	if len(problems) > 0 {
		return nil, &LoadError{Problems: problems}
	}
	return s, nil
}

// ruleName names the i-th rule in messages: "rule 3 (line 17,
// withdrawal/CNY/card)".
func ruleName(i, line int, r Rule) string {
	var parts []string
	if line > 0 {
		parts = append(parts, fmt.Sprintf("line %d", line))
	}
	if r.Operation != "" && r.Currency != "" {
		parts = append(parts, r.Key())
	}
	name := fmt.Sprintf("rule %d", i+1)
	if len(parts) > 0 {
		name += " (" + strings.Join(parts, ", ") + ")"
	}
	return name
}

// headerLines returns the line numbers of the [[rule]] headers.
func headerLines(src []byte) []int {
	var out []int
	sc := bufio.NewScanner(bytes.NewReader(src))
	sc.Buffer(make([]byte, 0, 64*1024), MaxBytes+1)
	for n := 1; sc.Scan(); n++ {
		if ruleHeader.Match(sc.Bytes()) {
			out = append(out, n)
		}
	}
	return out
}

// parseRule checks one [[rule]] table; errs says what is wrong.
func parseRule(raw map[string]any) (r Rule, errs []string) {
	for k := range raw {
		if !slices.Contains(ruleFields, k) {
			errs = append(errs, fmt.Sprintf("unknown key %q", clip(k)))
		}
	}
	slices.Sort(errs)
	str := func(k string) (string, bool) {
		v, ok := raw[k]
		if !ok {
			return "", false
		}
		s, isStr := v.(string)
		if !isStr {
			errs = append(errs, fmt.Sprintf("%s must be a string", k))
			return "", false
		}
		return s, true
	}
	op, ok := str("operation")
	switch {
	case !ok:
		errs = append(errs, "operation is missing")
	case !slices.Contains(operations, op):
		errs = append(errs, fmt.Sprintf("operation %q is not one of %s", clip(op), strings.Join(operations, ", ")))
	default:
		r.Operation = op
	}
	ccy, ok := str("currency")
	switch {
	case !ok:
		errs = append(errs, `currency is missing (a code such as "CNY", or "*")`)
	case ccy != AnyCurrency && !money.Currency(ccy).Valid():
		errs = append(errs, fmt.Sprintf("currency %q is not a supported ISO 4217 code or \"*\"", clip(ccy)))
	default:
		r.Currency = ccy
	}
	r.Method = AnyMethod
	if m, ok := str("method"); ok {
		if m != AnyMethod && !slices.Contains(methods, m) {
			errs = append(errs, fmt.Sprintf("method %q is not one of %s, any", clip(m), strings.Join(methods, ", ")))
		} else {
			r.Method = m
		}
	}
	if v, ok := raw["percent_bp"]; ok {
		switch bp := v.(type) {
		case int64:
			if bp < 0 || bp > MaxBP {
				errs = append(errs, fmt.Sprintf("percent_bp %d is outside 0..%d", bp, MaxBP))
			} else {
				r.BP = bp
			}
		default:
			errs = append(errs, "percent_bp must be a whole number of basis points (100 = 1%)")
		}
	}
	amount := func(k string) (int64, bool) {
		s, ok := str(k)
		if !ok {
			return 0, false
		}
		if r.Currency == "" {
			return 0, false // the currency's problem is reported already
		}
		if r.Currency == AnyCurrency {
			errs = append(errs, fmt.Sprintf(`%s needs a currency: a "*" rule holds only percent_bp`, k))
			return 0, false
		}
		a, err := money.Parse(s, money.Currency(r.Currency))
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s %q: %s", k, clip(s), err.Error()))
			return 0, false
		}
		return a.Minor, true
	}
	r.Fixed, _ = amount("fixed")
	r.Min, _ = amount("min")
	if m, ok := amount("max"); ok {
		switch {
		case m == 0:
			errs = append(errs, "max must be positive (leave it out for no maximum)")
		case m < r.Min:
			errs = append(errs, fmt.Sprintf("max %s is below min %s", money.New(m, money.Currency(r.Currency)), money.New(r.Min, money.Currency(r.Currency))))
		default:
			r.Max = m
		}
	}
	return r, errs
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// TOML writes the schedule in the format Load reads.
func (s *Schedule) TOML() []byte {
	var b bytes.Buffer
	for i, r := range s.rules {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "[[rule]]\noperation = %q\ncurrency = %q\nmethod = %q\npercent_bp = %d\n", r.Operation, r.Currency, r.Method, r.BP)
		if r.Currency != AnyCurrency {
			c := money.Currency(r.Currency)
			fmt.Fprintf(&b, "fixed = %q\nmin = %q\n", money.New(r.Fixed, c).String(), money.New(r.Min, c).String())
			if r.Max > 0 {
				fmt.Fprintf(&b, "max = %q\n", money.New(r.Max, c).String())
			}
		}
	}
	return b.Bytes()
}

//go:embed default.toml
var defaultTOML []byte

// DefaultTOML returns the source of the default schedule.
func DefaultTOML() []byte { return bytes.Clone(defaultTOML) }

// Default returns the default schedule (default.toml, embedded). It
// panics if that file is invalid, which the package's tests rule out.
func Default() *Schedule {
	s, err := Load(defaultTOML)
	if err != nil {
		panic(err)
	}
	return s
}
