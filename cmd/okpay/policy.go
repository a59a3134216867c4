package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/bizday"
	"github.com/okpay/okpay/clock"
	"github.com/okpay/okpay/fee"
	"github.com/okpay/okpay/fx"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/wallet"
)

// The money policy of serve that is configuration rather than code: the
// fee schedule (--fees), the business-day calendar (--holidays), the
// currencies customers can hold (--currencies) and the exchange rates
// loaded on start (--fx-rates). Every file is read and checked before
// anything else starts, so a bad one stops serve with a message naming the
// flag, the file and the line.

// policyFlags are serve's policy flags.
type policyFlags struct {
	fees       string
	holidays   string
	currencies string
	limits     string
	fxRates    string
}

func (f *policyFlags) register(fs *flagSet) {
	fs.StringVar(&f.fees, "fees", "", "fee schedule: a TOML file of [[rule]] tables, per operation, currency and method (format: fee/default.toml; default: that built-in schedule)")
	fs.StringVar(&f.holidays, "holidays", "", "business-day calendar for expected completion dates: a file of weekend, holiday and workday lines (format: bizday/testdata/cn-sample.txt; default: Saturdays and Sundays only)")
	fs.StringVar(&f.currencies, "currencies", "", "currencies customers can hold, comma-separated ISO 4217 codes (default "+joinCurrencies(wallet.DefaultCurrencies())+"; others need --limits)")
	fs.StringVar(&f.limits, "limits", "", "limits of currencies beyond "+joinCurrencies(wallet.DefaultCurrencies())+" (or overriding theirs): a TOML file of step-up threshold and daily and monthly limits per level (format: wallet/testdata/limits.toml)")
	fs.StringVar(&f.fxRates, "fx-rates", "", "exchange rates imported on start: a rates file (CSV base,quote,rate,as_of) or an ECB eurofxref XML file; importing the same file again changes nothing")
	fs.bindEnv("fees", "holidays", "currencies", "limits", "fx-rates")
}

// policy is what the policy flags name, read and checked.
type policy struct {
	// fees is the fee schedule (fee.Default() without --fees).
	fees *fee.Schedule
	// calendar counts business days (weekends only without --holidays):
	// the withdrawals' wallet.WithdrawalDeps.Calendar.
	calendar *bizday.Calendar
	// currencies are the wallet's currencies (nil: wallet's defaults).
	currencies []money.Currency
	// limits are the --limits file's currency limits (nil without one).
	limits []wallet.CurrencyLimits
	// rates is the parsed --fx-rates file (nil without one), stored
	// under ratesSource.
	rates       *fx.Batch
	ratesSource string
	ratesPath   string
}

// load reads and checks the files and the currency list.
func (f *policyFlags) load() (*policy, error) {
	p := &policy{fees: fee.Default(), calendar: bizday.New()}
	if f.fees != "" {
		src, err := readPolicyFile("--fees", f.fees, fee.MaxBytes)
		if err != nil {
			return nil, err
		}
		if p.fees, err = fee.Load(src); err != nil {
			return nil, fmt.Errorf("--fees %s: %w", f.fees, err)
		}
	}
	if f.holidays != "" {
		src, err := readPolicyFile("--holidays", f.holidays, bizday.MaxBytes)
		if err != nil {
			return nil, err
		}
		if p.calendar, err = bizday.Parse(bytes.NewReader(src)); err != nil {
			return nil, fmt.Errorf("--holidays %s: %w", f.holidays, err)
		}
	}
	if strings.TrimSpace(f.currencies) != "" {
		cs, err := parseCurrencyList(f.currencies)
		if err != nil {
			return nil, fmt.Errorf("--currencies %q: %w", f.currencies, err)
		}
		p.currencies = cs
	}
	if f.limits != "" {
		src, err := readPolicyFile("--limits", f.limits, wallet.MaxLimitsBytes)
		if err != nil {
			return nil, err
		}
		if p.limits, err = wallet.LoadLimits(src, wallet.Config{}.LevelNames()); err != nil {
			return nil, fmt.Errorf("--limits %s: %w", f.limits, err)
		}
	}
	if f.fxRates != "" {
		src, err := readPolicyFile("--fx-rates", f.fxRates, fx.MaxECBBytes)
		if err != nil {
			return nil, err
		}
		if p.rates, p.ratesSource, err = parseRates(src); err != nil {
			return nil, fmt.Errorf("--fx-rates %s: %w", f.fxRates, err)
		}
		p.ratesPath = f.fxRates
	}
	return p, nil
}

// readPolicyFile reads the file a flag names, at most limit bytes.
func readPolicyFile(flag, path string, limit int64) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	if st.IsDir() {
		return nil, fmt.Errorf("%s %s: a directory, not a file", flag, path)
	}
	if st.Size() > limit {
		return nil, fmt.Errorf("%s %s: larger than %d bytes", flag, path, limit)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	return b, nil
}

// parseCurrencyList reads "CNY,USD, eur": ISO 4217 codes (case does not
// matter), each once. Their limits are checked by walletConfig.
func parseCurrencyList(s string) ([]money.Currency, error) {
	var out []money.Currency
	for _, part := range strings.Split(s, ",") {
		code := strings.ToUpper(strings.TrimSpace(part))
		if code == "" {
			return nil, fmt.Errorf("an empty entry: give codes separated by commas, such as CNY,USD")
		}
		c, err := money.ParseCurrency(code)
		if err != nil {
			return nil, fmt.Errorf("%q is not an ISO 4217 currency code", clipFlag(part))
		}
		if slices.Contains(out, c) {
			return nil, fmt.Errorf("%s is listed twice", c)
		}
		out = append(out, c)
	}
	return out, nil
}

// walletConfig returns cfg with the policy's currencies and limits. It
// refuses currencies without limits (wallet/currency_limits.go says why
// they are not derived from other currencies' limits), naming what each
// lacks.
func (p *policy) walletConfig(cfg wallet.Config) (wallet.Config, error) {
	cfg = cfg.WithLimits(p.limits)
	if p.currencies != nil {
		cfg.Currencies = p.currencies
	}
	missing := wallet.MissingLimits(cfg)
	if len(missing) == 0 {
		return cfg, nil
	}
	names := make([]string, len(missing))
	for i, m := range missing {
		names[i] = m.String()
	}
	return cfg, fmt.Errorf("--currencies: OKPay has no limits for %s: give each currency its step-up threshold and daily and monthly limits per level in a --limits file (format: wallet/testdata/limits.toml); limits are set per currency, never derived from another currency's",
		strings.Join(names, "; "))
}

// parseRates reads a rates file or, when the document starts with '<', an
// ECB reference-rate XML document; it returns the batch and its source.
func parseRates(src []byte) (*fx.Batch, string, error) {
	body := bytes.TrimLeft(bytes.TrimPrefix(src, []byte("\xef\xbb\xbf")), " \t\r\n")
	if bytes.HasPrefix(body, []byte("<")) {
		b, err := fx.ParseECB(bytes.NewReader(src))
		return b, fx.SourceECB, err
	}
	if len(src) > fx.MaxRatesFileBytes {
		return nil, "", fmt.Errorf("a rates file is at most %d bytes", fx.MaxRatesFileBytes)
	}
	b, err := fx.ParseRatesFile(bytes.NewReader(src))
	return b, fx.SourceFile, err
}

func joinCurrencies(cs []money.Currency) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = string(c)
	}
	return strings.Join(parts, ",")
}

func clipFlag(s string) string {
	if len(s) > 20 {
		return s[:20] + "..."
	}
	return s
}

// warnUncovered logs, once at start, every operation the wallet offers in
// one of its currencies that the fee schedule has no rule for: those
// operations will be refused (fee_not_configured) until a rule covers
// them. Leaving one out is how an operator turns it off, so this is a
// warning, not an error.
func (p *policy) warnUncovered(log *slog.Logger, currencies []money.Currency) {
	type use struct{ op, method string }
	uses := []use{{fee.Deposit, fee.Card}, {fee.Transfer, ""}, {fee.Exchange, ""}, {fee.Remittance, ""},
		{fee.Withdrawal, fee.Card}, {fee.Withdrawal, fee.BankAccount}, {fee.Withdrawal, fee.EWallet}}
	var missing []string
	for _, c := range currencies {
		for _, u := range uses {
			if _, err := p.fees.Find(u.op, u.method, c); okpay.ErrorCode(err) == fee.ENotConfigured {
				k := u.op + "/" + string(c)
				if u.method != "" {
					k += "/" + u.method
				}
				missing = append(missing, k)
			}
		}
	}
	if len(missing) > 0 {
		log.Warn("the fee schedule has no rule for these operations: they will be refused", "uncovered", strings.Join(missing, " "))
	}
}

// buildRates returns the exchange-rate service (package fx) and imports
// the --fx-rates file into it, if one was given: an import that stores
// new rates is audited as actor "system:serve".
func buildRates(ctx context.Context, log *slog.Logger, db *sqldb.DB, clk clock.Clock, idgen ids.Generator, p *policy) (*fx.Service, error) {
	rates, err := fx.New(db, clk, idgen, fx.Config{})
	if err != nil {
		return nil, err
	}
	if p.rates == nil {
		return rates, nil
	}
	res, err := rates.ImportAudited(ctx, p.ratesSource, p.rates, fx.Change{Actor: "system:serve", Reason: "--fx-rates " + p.ratesPath})
	if err != nil {
		return nil, fmt.Errorf("--fx-rates %s: %w", p.ratesPath, cliError(err))
	}
	log.Info("exchange rates imported", "file", p.ratesPath, "source", p.ratesSource, "inserted", res.Inserted, "unchanged", res.Unchanged, "skipped", len(res.Skipped))
	return rates, nil
}
