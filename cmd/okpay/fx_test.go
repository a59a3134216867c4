package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/okpay/okpay/audit"
	"github.com/okpay/okpay/fx"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

// runStdin is runIn with standard input.
func runStdin(t *testing.T, getenv func(string) string, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb syncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = run(ctx, append([]string{"okpay"}, args...), getenv, strings.NewReader(stdin), &out, &errb)
	return out.String(), errb.String(), err
}

const (
	ecbDaily  = "../../fx/testdata/eurofxref-daily.xml"
	ecbHist   = "../../fx/testdata/eurofxref-hist-3d.xml"
	ratesFile = "../../fx/testdata/rates.csv"
)

// listRow finds the row of pair in "okpay fx list" output.
func listRow(t *testing.T, out, pair string) []string {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && f[0] == pair {
			return f
		}
	}
	t.Fatalf("fx list has no %s:\n%s", pair, out)
	return nil
}

// TestFXCommands runs okpay fx on both engines: imports of the ECB XML
// (from a file and from standard input) and of a rates file, a rate set
// by hand, the list, and the audit records of each change; every bad input
// fails with a message saying what is wrong and changes nothing.
func TestFXCommands(t *testing.T) {
	t.Parallel()
	for _, d := range sqldbtest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			dbURL := sqldbtest.URL(t, d)
			env := envOf(map[string]string{"USER": "ops.li"})
			rows := func() int { return countRows(t, d, dbURL, "fx_rates") }
			events := func() int { return countRows(t, d, dbURL, "audit_log") }

			// list on a database that is not there yet.
			if d == sqldb.SQLite {
				if _, _, err := runIn(t, env, "fx", "list", "--database", dbURL); err == nil {
					t.Fatal("fx list created a database")
				}
			}

			out, errOut, err := runIn(t, env, "fx", "import", "--database", dbURL, "--ecb", ecbDaily, "--reason", "morning feed")
			if err != nil {
				t.Fatalf("import --ecb: %v\n%s", err, errOut)
			}
			m := regexp.MustCompile(`^imported (\d+) new rate\(s\) from \S+ \(0 already stored, (\d+) left out\)\n$`).FindStringSubmatch(out)
			if m == nil || m[1] == "0" {
				t.Fatalf("import printed %q", out)
			}
			daily := rows()
			if n := m[1]; n != strconv.Itoa(daily) {
				t.Fatalf("import said %s, stored %d", n, daily)
			}
			// Again, from standard input: nothing new.
			xml, err := os.ReadFile(ecbDaily)
			if err != nil {
				t.Fatal(err)
			}
			out, _, err = runStdin(t, env, string(xml), "fx", "import", "--database", dbURL, "--ecb", "-")
			if err != nil || !strings.HasPrefix(out, "imported 0 new rate(s) from - ("+strconv.Itoa(daily)+" already stored") {
				t.Fatalf("re-import from stdin: %v %q", err, out)
			}
			out, _, err = runIn(t, env, "fx", "import", "--database", dbURL, "--ecb", ecbHist)
			if err != nil || rows() <= daily {
				t.Fatalf("history import: %v %q", err, out)
			}
			out, _, err = runIn(t, env, "fx", "import", "--database", dbURL, "--file", ratesFile, "--actor", "treasury")
			if err != nil || !strings.HasPrefix(out, "imported 4 new rate(s)") {
				t.Fatalf("import --file: %v %q", err, out)
			}

			// Bad imports: a clear error, nothing stored.
			before, beforeEvents := rows(), events()
			bad := filepath.Join(t.TempDir(), "bad.xml")
			os.WriteFile(bad, []byte(strings.Replace(string(xml), `rate='1.1658'`, `rate='1,1658'`, 1)), 0o600)
			badCSV := filepath.Join(t.TempDir(), "bad.csv")
			os.WriteFile(badCSV, []byte("base,quote,rate,as_of\nUSD,CNY,7.1,2026-01-12T09:00:00+08:00\nUSD,XXQ,7.1,2026-01-12T09:00:00+08:00\n"), 0o600)
			for _, c := range []struct {
				args []string
				exit int
				msg  string
			}{
				{[]string{"--ecb", bad}, 1, "USD rate \"1,1658\""},
				{[]string{"--file", badCSV}, 1, "rates file line 3"},
				{[]string{"--file", ecbDaily}, 1, "rates file: parse error on line 1"},
				{[]string{"--ecb", ratesFile}, 1, "not a reference-rate document"},
				{[]string{"--ecb", filepath.Join(t.TempDir(), "missing.xml")}, 1, "no such file"},
				{[]string{"--ecb", ecbDaily, "--file", ratesFile}, 2, "exactly one of --ecb"},
				{nil, 2, "exactly one of --ecb"},
				{[]string{"--ecb", ecbDaily, "--reason", strings.Repeat("x", 201)}, 1, "reason"},
			} {
				_, _, err := runIn(t, env, append([]string{"fx", "import", "--database", dbURL}, c.args...)...)
				if exitCode(err) != c.exit || err == nil || !strings.Contains(err.Error(), c.msg) {
					t.Errorf("fx import %v: exit %d, %v; want exit %d naming %q", c.args, exitCode(err), err, c.exit, c.msg)
				}
			}
			// The long reason fails only when there is something new to
			// store: use a new day.
			newDay := filepath.Join(t.TempDir(), "new.xml")
			os.WriteFile(newDay, []byte(strings.Replace(string(xml), "2026-01-09", "2026-01-12", 1)), 0o600)
			if _, _, err := runIn(t, env, "fx", "import", "--database", dbURL, "--ecb", newDay, "--reason", strings.Repeat("x", 201)); err == nil ||
				!strings.Contains(err.Error(), "reason") {
				t.Errorf("a 201-character reason: %v", err)
			}
			if rows() != before || events() != beforeEvents {
				t.Fatalf("a refused import changed something: rates %d→%d, audit %d→%d", before, rows(), beforeEvents, events())
			}

			// A rate by hand.
			for _, c := range []struct {
				args []string
				exit int
				msg  string
			}{
				{[]string{"EUR", "CNY", "7.7012"}, 2, "--reason is required"},
				{[]string{"EUR", "CNY", "--reason", "x"}, 2, "give BASE QUOTE RATE"},
				{[]string{"EUR", "CNY", "7,7012", "--reason", "x"}, 1, "rate: The rate must be a plain decimal"},
				{[]string{"EUR", "CNY", "-7", "--reason", "x"}, 2, "flag provided but not defined"},
				{[]string{"EUR", "EUR", "1", "--reason", "x"}, 1, "quote: The two currencies of a rate must differ"},
				{[]string{"EUR", "XYZ", "1", "--reason", "x"}, 1, "quote: Choose a supported currency"},
				{[]string{"EUR", "CNY", "7.7", "--reason", strings.Repeat("x", 201)}, 1, "reason"},
			} {
				_, _, err := runIn(t, env, append([]string{"fx", "set", "--database", dbURL}, c.args...)...)
				if exitCode(err) != c.exit || err == nil || !strings.Contains(err.Error(), c.msg) {
					t.Errorf("fx set %v: exit %d, %v; want exit %d naming %q", c.args, exitCode(err), err, c.exit, c.msg)
				}
			}
			if rows() != before || events() != beforeEvents {
				t.Fatal("a refused rate changed something")
			}
			out, errOut, err = runIn(t, env, "fx", "set", "eur", "cny", "7.7012", "--database", dbURL, "--reason", "ECB feed late")
			if err != nil || !strings.HasPrefix(out, "set 1 EUR = 7.7012 CNY (valid from ") || !strings.Contains(out, "by cli:ops.li") {
				t.Fatalf("fx set: %v %q %s", err, out, errOut)
			}

			out, _, err = runIn(t, env, "fx", "list", "--database", dbURL)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(out, "PAIR ") {
				t.Errorf("list header: %q", out)
			}
			if r := strings.Join(listRow(t, out, "EUR/CNY"), " "); !strings.HasPrefix(r, "EUR/CNY 7.7012 admin ") || !strings.HasSuffix(r, " cli:ops.li ECB feed late") {
				t.Errorf("EUR/CNY row %q", r)
			}
			if r := strings.Join(listRow(t, out, "EUR/USD"), " "); !strings.Contains(r, "1.1658 ecb 2026-01-09 13:10") || !strings.Contains(r, "(stale)") {
				t.Errorf("EUR/USD row %q", r)
			}
			if r := strings.Join(listRow(t, out, "USD/HKD"), " "); !strings.Contains(r, "7.7712 file 2026-01-12 01:00") {
				t.Errorf("USD/HKD row %q", r)
			}

			// The audit log: the imports that stored something and the
			// rate set by hand, by their operators.
			ctx := context.Background()
			db, err := sqldb.Open(ctx, dbURL, sqldb.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			log := audit.New(db)
			set, err := log.List(ctx, "fx:EUR/CNY", 10, 0)
			if err != nil || len(set) != 1 || set[0].Name != fx.EventRateSet || set[0].Actor != "cli:ops.li" || set[0].Reason != "ECB feed late" ||
				set[0].Details["previous_source"] != fx.SourceECB {
				t.Fatalf("set audit %+v %v", set, err)
			}
			ecb, _ := log.List(ctx, "fx:ecb", 10, 0)
			file, _ := log.List(ctx, "fx:file", 10, 0)
			if len(ecb) != 2 || ecb[1].Reason != "morning feed" || ecb[1].Actor != "cli:ops.li" || len(file) != 1 || file[0].Actor != "cli:treasury" {
				t.Fatalf("import audit: ecb %+v file %+v", ecb, file)
			}
			if r, err := log.Verify(ctx); err != nil || !r.OK {
				t.Fatalf("audit chain %+v %v", r, err)
			}
		})
	}
}

// TestFXHelp: okpay fx and its subcommands explain themselves.
func TestFXHelp(t *testing.T) {
	t.Parallel()
	out, _, err := runIn(t, noEnv, "fx", "-h")
	if err != nil || !strings.Contains(out, "Usage: okpay fx import|set|list") {
		t.Fatalf("fx -h: %v %q", err, out)
	}
	if _, errOut, err := runIn(t, noEnv, "fx"); exitCode(err) != 2 || !strings.Contains(errOut, "Usage: okpay fx") {
		t.Fatalf("fx: exit %d %q", exitCode(err), errOut)
	}
	for _, c := range []struct {
		args  []string
		flags []string
	}{
		{[]string{"fx", "import", "-h"}, []string{"--ecb", "--file", "--reason", "--actor", "--database", "OKPAY_DATABASE_URL"}},
		{[]string{"fx", "set", "-h"}, []string{"--reason", "--actor", "BASE QUOTE RATE"}},
		{[]string{"fx", "list", "-h"}, []string{"--database"}},
	} {
		out, errOut, err := runIn(t, noEnv, c.args...)
		if err != nil {
			t.Fatalf("%v: %v", c.args, err)
		}
		for _, f := range c.flags {
			if !strings.Contains(out+errOut, f) {
				t.Errorf("%v: usage lacks %q:\n%s", c.args, f, out+errOut)
			}
		}
	}
	out, _, _ = runIn(t, noEnv, "help")
	if !regexp.MustCompile(`(?m)^\s+fx\s`).MatchString(out) {
		t.Errorf("okpay help does not list fx:\n%s", out)
	}
}
