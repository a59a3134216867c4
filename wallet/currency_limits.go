package wallet

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/okpay/okpay/money"
)

// Limits of currencies beyond the built-in seven (CNY, USD, EUR, GBP, JPY,
// HKD, RUB). Any ISO 4217 currency can be held, but only with limits that
// were configured for it: its step-up threshold (TXN-01) and every
// verification level's daily and monthly money-out limits (RSK-03), given
// in the currency itself in a limits file (serve --limits). A currency
// without them stops serve with a message naming what is missing
// (MissingLimits); nothing is derived.
//
// Why not the USD limits converted at the reference rate: limits are
// risk and compliance figures an operator sets and answers for; derived
// ones would change with every rate imported (the admin page can change a
// rate, which would quietly move a limit at the next start), would not
// exist at all on a first start without rates, and would be odd numbers
// no one decided (KWD 213.47 a day). A real e-money issuer sets round
// limits per currency in its policy and refuses currencies it has none
// for, which is what this does.
//
// A withdrawal in a currency with no auto-approval ceiling
// (ReviewPolicy.AutoApproveMax) always goes to a reviewer; the limits file
// may give one (review_from, WithdrawalConfig.WithLimits).

// MaxLimitsBytes bounds a limits file.
const MaxLimitsBytes = 64 << 10

// CurrencyLimits are one currency's limits, in its minor units.
type CurrencyLimits struct {
	Currency money.Currency
	// StepUp is the transfer amount from which a transaction code is
	// needed (Config.StepUp).
	StepUp int64
	// Daily and Monthly are the money-out limits by verification level
	// name (LevelLimits.Name).
	Daily, Monthly map[string]int64
	// ReviewFrom is the withdrawal amount from which a reviewer decides;
	// below it the rules may approve one by themselves
	// (ReviewPolicy.AutoApproveMax). Optional: 0, every withdrawal in the
	// currency goes to review.
	ReviewFrom int64
}

// limitsFile is the TOML form of a limits file:
//
//	[KWD]
//	step_up = "90.000"
//	review_from = "200.000"   # optional
//	[KWD.unverified]
//	daily = "200.000"
//	monthly = "800.000"
//	[KWD.verified]
//	daily = "2000.000"
//	monthly = "8000.000"
//
// Amounts are decimal strings in the currency's units, with at most its
// minor digits (none for JPY or KRW, three for KWD or BHD).
type limitsFile map[string]map[string]any

// LoadLimits reads a limits file for the verification levels named
// levels (the names of Config.Levels, "unverified" and "verified" by
// default). Every currency table needs step_up and, for every level, daily
// and monthly, with daily ≤ monthly and no level's limit below the level
// before it. Unknown currencies, levels or keys are errors, with the
// currency and key they concern.
func LoadLimits(src []byte, levels []string) ([]CurrencyLimits, error) {
	if len(src) > MaxLimitsBytes {
		return nil, fmt.Errorf("limits file: larger than %d bytes", MaxLimitsBytes)
	}
	var f limitsFile
	if _, err := toml.NewDecoder(bytes.NewReader(src)).Decode(&f); err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("limits file: line %d: %s", pe.Position.Line, pe.Message)
		}
		return nil, fmt.Errorf("limits file: %w", err)
	}
	var out []CurrencyLimits
	for _, code := range slices.Sorted(maps.Keys(f)) {
		cur, err := money.ParseCurrency(code)
		if err != nil || string(cur) != code {
			return nil, fmt.Errorf("limits file: [%s]: not an ISO 4217 currency code (upper case, such as KWD)", clipName(code))
		}
		cl, err := parseCurrencyLimits(cur, f[code], levels)
		if err != nil {
			return nil, fmt.Errorf("limits file: [%s] %w", code, err)
		}
		out = append(out, cl)
	}
	return out, nil
}

func parseCurrencyLimits(cur money.Currency, t map[string]any, levels []string) (CurrencyLimits, error) {
	cl := CurrencyLimits{Currency: cur, Daily: map[string]int64{}, Monthly: map[string]int64{}}
	amount := func(key string, v any) (int64, error) {
		s, ok := v.(string)
		if !ok {
			return 0, fmt.Errorf("%s: give the amount as a string, such as \"%s\"", key, money.New(12345*pow10(cur.Exponent()), cur).String())
		}
		a, err := money.Parse(strings.TrimSpace(s), cur)
		if err != nil {
			return 0, fmt.Errorf("%s = %q: %v", key, clipName(s), err)
		}
		if a.Minor <= 0 {
			return 0, fmt.Errorf("%s: must be more than zero", key)
		}
		return a.Minor, nil
	}
	for _, key := range slices.Sorted(maps.Keys(t)) {
		v := t[key]
		switch {
		case key == "step_up":
			n, err := amount(key, v)
			if err != nil {
				return cl, err
			}
			cl.StepUp = n
		case key == "review_from":
			n, err := amount(key, v)
			if err != nil {
				return cl, err
			}
			cl.ReviewFrom = n
		case slices.Contains(levels, key):
			lt, ok := v.(map[string]any)
			if !ok {
				return cl, fmt.Errorf("%s: must be a table with daily and monthly", key)
			}
			for _, k := range slices.Sorted(maps.Keys(lt)) {
				n, err := amount(key+"."+k, lt[k])
				if err != nil {
					return cl, err
				}
				switch k {
				case "daily":
					cl.Daily[key] = n
				case "monthly":
					cl.Monthly[key] = n
				default:
					return cl, fmt.Errorf("%s.%s: unknown key (a level has daily and monthly)", key, clipName(k))
				}
			}
		default:
			return cl, fmt.Errorf("%s: unknown key (a currency has step_up, review_from and the levels %s)", clipName(key), strings.Join(levels, ", "))
		}
	}
	if missing := cl.missing(levels); len(missing) > 0 {
		return cl, fmt.Errorf("lacks %s", strings.Join(missing, ", "))
	}
	for i, l := range levels {
		if cl.Daily[l] > cl.Monthly[l] {
			return cl, fmt.Errorf("%s: the daily limit is more than the monthly one", l)
		}
		if i > 0 && (cl.Daily[l] < cl.Daily[levels[i-1]] || cl.Monthly[l] < cl.Monthly[levels[i-1]]) {
			return cl, fmt.Errorf("%s: its limits are lower than those of %s", l, levels[i-1])
		}
	}
	return cl, nil
}

// missing names the limits cl lacks.
func (cl CurrencyLimits) missing(levels []string) []string {
	var out []string
	if cl.StepUp <= 0 {
		out = append(out, "step_up")
	}
	for _, l := range levels {
		if cl.Daily[l] <= 0 {
			out = append(out, l+".daily")
		}
		if cl.Monthly[l] <= 0 {
			out = append(out, l+".monthly")
		}
	}
	return out
}

func pow10(n int) int64 {
	p := int64(1)
	for ; n > 0; n-- {
		p *= 10
	}
	return p
}

// clipName cuts a name quoted in an error.
func clipName(s string) string {
	if len(s) > 20 {
		return clip(s, 20) + "..."
	}
	return s
}

// LevelNames are the names of the levels c's limits are given for (the
// defaults' when c has none).
func (c Config) LevelNames() []string {
	levels := c.Levels
	if len(levels) == 0 {
		levels = DefaultLevels()
	}
	names := make([]string, len(levels))
	for i, l := range levels {
		names[i] = l.Name
	}
	return names
}

// WithLimits returns c with each currency's limits set from ls (over the
// defaults for that currency, if any). c's maps are copied, not changed.
func (c Config) WithLimits(ls []CurrencyLimits) Config {
	if len(ls) == 0 {
		return c
	}
	stepUp := maps.Clone(c.StepUp)
	if stepUp == nil {
		stepUp = maps.Clone(defaultStepUp)
	}
	levels := slices.Clone(c.Levels)
	if len(levels) == 0 {
		levels = DefaultLevels()
	}
	for i := range levels {
		levels[i].Daily, levels[i].Monthly = maps.Clone(levels[i].Daily), maps.Clone(levels[i].Monthly)
		if levels[i].Daily == nil {
			levels[i].Daily = map[money.Currency]int64{}
		}
		if levels[i].Monthly == nil {
			levels[i].Monthly = map[money.Currency]int64{}
		}
	}
	for _, l := range ls {
		stepUp[l.Currency] = l.StepUp
		for i := range levels {
			if n, ok := l.Daily[levels[i].Name]; ok {
				levels[i].Daily[l.Currency] = n
			}
			if n, ok := l.Monthly[levels[i].Name]; ok {
				levels[i].Monthly[l.Currency] = n
			}
		}
	}
	c.StepUp, c.Levels = stepUp, levels
	return c
}

// WithLimits returns c with the review threshold of each currency of ls
// that gives one (over the defaults); a currency without one keeps
// sending every withdrawal to review. c's map is copied, not changed.
func (c WithdrawalConfig) WithLimits(ls []CurrencyLimits) WithdrawalConfig {
	auto := maps.Clone(c.Review.AutoApproveMax)
	if auto == nil {
		auto = DefaultReviewPolicy().AutoApproveMax
	}
	for _, l := range ls {
		if l.ReviewFrom > 0 {
			auto[l.Currency] = l.ReviewFrom
		}
	}
	c.Review.AutoApproveMax = auto
	return c
}

// MissingLimits names, per currency of c (the defaults' when c has none)
// in c's order, the limits c lacks for it ("step_up",
// "unverified.daily"...): New refuses such a configuration.
func MissingLimits(c Config) []CurrencyMissing {
	c.defaults()
	var out []CurrencyMissing
	for _, cur := range c.Currencies {
		cl := CurrencyLimits{Currency: cur, StepUp: c.StepUp[cur], Daily: map[string]int64{}, Monthly: map[string]int64{}}
		var names []string
		for _, l := range c.Levels {
			cl.Daily[l.Name], cl.Monthly[l.Name] = l.Daily[cur], l.Monthly[cur]
			names = append(names, l.Name)
		}
		if m := cl.missing(names); len(m) > 0 {
			out = append(out, CurrencyMissing{Currency: cur, Limits: m})
		}
	}
	return out
}

// CurrencyMissing is a currency and the limits it lacks.
type CurrencyMissing struct {
	Currency money.Currency
	Limits   []string
}

func (m CurrencyMissing) String() string {
	return string(m.Currency) + " (" + strings.Join(m.Limits, ", ") + ")"
}
