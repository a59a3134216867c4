package main

import (
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/okpay/okpay/fee"
	"github.com/okpay/okpay/fx"
	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
	"github.com/okpay/okpay/wallet"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const customFees = `# transfers cost 1%, everything else is free
[[rule]]
operation = "transfer"
currency = "*"
percent_bp = 100

[[rule]]
operation = "deposit"
currency = "*"
`

// TestPolicyLoad: the policy flags read and check their files and the
// currency list; without them the defaults apply.
func TestPolicyLoad(t *testing.T) {
	t.Parallel()
	p, err := (&policyFlags{}).load()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.fees.Rules(), fee.Default().Rules()) || p.currencies != nil || p.rates != nil || len(p.calendar.Days()) != 0 {
		t.Fatalf("defaults: %+v", p)
	}

	f := policyFlags{
		fees:       writeFile(t, "fees.toml", customFees),
		holidays:   "../../bizday/testdata/cn-sample.txt",
		currencies: " cny, USD ,eur",
		fxRates:    ratesFile,
	}
	p, err = f.load()
	if err != nil {
		t.Fatal(err)
	}
	if r, err := p.fees.Find(fee.Transfer, "", "CNY"); err != nil || r.BP != 100 {
		t.Errorf("fees: %+v %v", r, err)
	}
	if _, err := p.fees.Find(fee.Withdrawal, fee.Card, "CNY"); err == nil {
		t.Error("the custom schedule has a withdrawal rule")
	}
	if p.calendar.IsBusinessDay(time.Date(2026, 10, 1, 12, 0, 0, 0, time.UTC), time.UTC) || !p.calendar.IsBusinessDay(time.Date(2026, 10, 10, 12, 0, 0, 0, time.UTC), time.UTC) {
		t.Error("the holiday calendar is not the file's")
	}
	if !slices.Equal(p.currencies, []money.Currency{"CNY", "USD", "EUR"}) {
		t.Errorf("currencies %v", p.currencies)
	}
	if p.ratesSource != fx.SourceFile || len(p.rates.Rates) != 4 {
		t.Errorf("rates %s %+v", p.ratesSource, p.rates)
	}
	f.fxRates = ecbDaily
	if p, err = f.load(); err != nil || p.ratesSource != fx.SourceECB || len(p.rates.Rates) < 20 {
		t.Fatalf("ECB rates: %v", err)
	}

	for _, c := range []struct {
		f    policyFlags
		want string
	}{
		{policyFlags{fees: writeFile(t, "bad.toml", customFees+"\n[[rule]]\noperation = \"withdrawal\"\ncurrency = \"CNY\"\nmethod = \"card\"\nmax = \"-1\"\n")}, "--fees"},
		{policyFlags{fees: writeFile(t, "bad.toml", "[[rule]]\noperation = \"withdraw\"\ncurrency = \"CNY\"\n")}, `rule 1 (line 1): operation "withdraw" is not one of`},
		{policyFlags{fees: writeFile(t, "bad.toml", "[[rule]\n")}, "fee schedule: line 2: expected end of table array name"},
		{policyFlags{fees: filepath.Join(t.TempDir(), "missing.toml")}, "--fees"},
		{policyFlags{fees: t.TempDir()}, "a directory"},
		{policyFlags{holidays: writeFile(t, "cal.txt", "holiday 2026-02-30 nope\n")}, "--holidays"},
		{policyFlags{holidays: writeFile(t, "cal.txt", "weekend sat sun\nholiday 2026-10-01\nholiday 2026-10-01\n")}, "calendar line 3"},
		{policyFlags{currencies: "CNY,XYZ"}, `"XYZ" is not an ISO 4217 currency code`},
		{policyFlags{currencies: "CNY,,USD"}, "an empty entry"},
		{policyFlags{currencies: "CNY,cny"}, "CNY is listed twice"},
		{policyFlags{limits: writeFile(t, "limits.toml", "[KWD]\nstep_up = \"80.0001\"\n")}, `--limits `},
		{policyFlags{limits: writeFile(t, "limits.toml", "[KWD]\nstep_up = \"80.000\"\n")}, "[KWD] lacks unverified.daily, unverified.monthly, verified.daily, verified.monthly"},
		{policyFlags{limits: t.TempDir()}, "--limits"},
		{policyFlags{fxRates: writeFile(t, "r.csv", "base,quote,rate,as_of\nUSD,CNY,7,1,2026-01-12T09:00:00Z\n")}, "--fx-rates"},
		{policyFlags{fxRates: writeFile(t, "r.xml", "<gesmes:Envelope/>")}, "ECB rates"},
	} {
		_, err := c.f.load()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want an error naming %q", c.f, err, c.want)
		}
	}
	// Every default currency is accepted (the wallet has limits for each).
	if cs, err := parseCurrencyList(joinCurrencies(wallet.DefaultCurrencies())); err != nil || len(cs) != 7 {
		t.Fatalf("%v %v", cs, err)
	}
}

// TestPolicyCurrencyLimits: any ISO 4217 currency can be listed, but
// serve takes only those with limits, built in or from --limits; the
// refusal names every missing limit of every currency.
func TestPolicyCurrencyLimits(t *testing.T) {
	t.Parallel()
	p, err := (&policyFlags{currencies: "CNY,kwd,KRW,BHD"}).load()
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.walletConfig(wallet.Config{})
	if err == nil || !strings.Contains(err.Error(), "--currencies: OKPay has no limits for KWD (step_up, unverified.daily, unverified.monthly, verified.daily, verified.monthly); KRW (") ||
		!strings.Contains(err.Error(), "BHD (") || strings.Contains(err.Error(), "CNY") || !strings.Contains(err.Error(), "--limits") {
		t.Fatalf("without limits: %v", err)
	}
	p, err = (&policyFlags{currencies: "CNY,kwd,KRW,BHD", limits: "../../wallet/testdata/limits.toml"}).load()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := p.walletConfig(wallet.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.Currencies, []money.Currency{"CNY", "KWD", "KRW", "BHD"}) || cfg.StepUp["KWD"] != 80_000 || cfg.StepUp["KRW"] != 400_000 ||
		cfg.Levels[0].Daily["BHD"] != 250_000 || cfg.Levels[1].Monthly["KRW"] != 40_000_000 || cfg.StepUp["CNY"] != 2_000_00 {
		t.Fatalf("config %+v", cfg)
	}
	// The benchmark's own levels keep their limits for the other currencies.
	cfg, err = p.walletConfig(p2pBenchWallet())
	if err != nil || cfg.Levels[0].Daily["CNY"] != 1<<50 || cfg.Levels[0].Daily["KWD"] != 200_000 {
		t.Fatalf("bench config: %v %+v", err, cfg.Levels)
	}
	// Without --currencies, a limits file changes nothing else.
	p, err = (&policyFlags{limits: "../../wallet/testdata/limits.toml"}).load()
	if err != nil {
		t.Fatal(err)
	}
	if cfg, err = p.walletConfig(wallet.Config{}); err != nil || cfg.Currencies != nil {
		t.Fatalf("no currencies: %v %v", cfg.Currencies, err)
	}
}

// TestServePolicyFlags: serve refuses to start with a bad policy file or
// currency list (flag or environment), before it opens the database;
// with good ones it starts, imports the --fx-rates file once (audited)
// and serves the staff rate page.
func TestServePolicyFlags(t *testing.T) {
	t.Parallel()
	dbPath := filepath.Join(t.TempDir(), "okpay.db")
	base := []string{"serve", "--addr", "127.0.0.1:0", "--database", "sqlite:" + dbPath, "--log-level", "warn", "--dev", "on", "--secret-key", testSecretKey}
	badFees := writeFile(t, "fees.toml", "[[rule]]\noperation = \"transfer\"\ncurrency = \"*\"\nfixed = \"1.00\"\n")
	for _, c := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"--fees", badFees}, nil, `--fees ` + badFees + `: fee schedule: rule 1 (line 1, transfer/*/any): fixed needs a currency`},
		{nil, map[string]string{"OKPAY_FEES": badFees}, "--fees"},
		{[]string{"--holidays", writeFile(t, "cal.txt", "holiday someday\n")}, nil, "--holidays"},
		{nil, map[string]string{"OKPAY_HOLIDAYS": writeFile(t, "cal.txt", "weekend mon tue wed thu fri sat sun\n")}, "a week needs at least one working day"},
		{[]string{"--currencies", "CNY,US"}, nil, "--currencies"},
		{nil, map[string]string{"OKPAY_CURRENCIES": "CNY,XAG"}, "XAG"},
		{[]string{"--currencies", "CNY,KWD"}, nil, "no limits for KWD (step_up"},
		{[]string{"--currencies", "CNY,JPY,KWD", "--limits", writeFile(t, "limits.toml", "[JPY]\nstep_up = \"1.5\"\n")}, nil, `--limits`},
		{[]string{"--fx-rates", writeFile(t, "r.csv", "base,quote,rate\n")}, nil, "--fx-rates"},
		{nil, map[string]string{"OKPAY_FX_RATES": filepath.Join(t.TempDir(), "none.csv")}, "--fx-rates"},
	} {
		_, _, err := runIn(t, envOf(c.env), append(slices.Clone(base), c.args...)...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("serve %v %v: %v, want an error naming %q", c.args, c.env, err, c.want)
		}
	}
	if _, err := os.Stat(dbPath); err == nil {
		t.Error("serve opened the database before refusing its policy")
	}

	good := append(slices.Clone(base[1:]), "--fees", writeFile(t, "fees.toml", customFees), "--holidays", "../../bizday/testdata/cn-sample.txt",
		"--currencies", "CNY,USD,KWD,KRW", "--limits", "../../wallet/testdata/limits.toml")
	env := envOf(map[string]string{"OKPAY_FX_RATES": ratesFile})
	for run := 0; run < 2; run++ {
		s := startInProc(t, env, good...)
		res, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Get(s.url + "/staff/fx")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/staff/login" {
			t.Errorf("/staff/fx without a session: %d %s", res.StatusCode, res.Header.Get("Location"))
		}
		s.stop(t)
		if !strings.Contains(s.stderr.String(), "the fee schedule has no rule for these operations") || !strings.Contains(s.stderr.String(), "withdrawal/CNY/card") {
			t.Errorf("no warning about the operations without fees:\n%s", s.stderr)
		}
	}
	dbURL := "sqlite:" + dbPath
	if n := countRows(t, sqldb.SQLite, dbURL, "fx_rates"); n != 4 {
		t.Errorf("%d rates after two starts with the same file, want 4", n)
	}
	if n := countRows(t, sqldb.SQLite, dbURL, "audit_log WHERE event = 'fx_rates_imported' AND actor = 'system:serve'"); n != 1 {
		t.Errorf("%d import audit records, want 1", n)
	}
}

// TestServeFXRatesPostgres: the start-up import on PostgreSQL.
func TestServeFXRatesPostgres(t *testing.T) {
	t.Parallel()
	dbURL := sqldbtest.URL(t, sqldb.Postgres)
	s := startInProc(t, noEnv, "--addr", "127.0.0.1:0", "--database", dbURL, "--log-level", "warn", "--dev", "on", "--secret-key", testSecretKey,
		"--fx-rates", ecbDaily)
	s.stop(t)
	if n := countRows(t, sqldb.Postgres, dbURL, "fx_rates WHERE source = 'ecb'"); n < 20 {
		t.Errorf("%d ECB rates after the start", n)
	}
}
