package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
	"unicode"

	"github.com/okpay/okpay/clock"
	"github.com/okpay/okpay/fx"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/sqldb"
)

// okpay fx: the exchange rates (package fx) from the command line, for
// operators and scheduled jobs: import the ECB's reference-rate XML or a
// rates file, set one rate by hand, list the latest rates. Whoever runs
// them has the database in hand, so they act as "cli:NAME" (--actor,
// default $USER); every change is audited like the staff page's. A file
// that does not parse, or a rate that is not valid, changes nothing.

const fxUsage = `Usage: okpay fx import|set|list [flags]   (okpay fx <subcommand> -h for its flags)

  import --ecb FILE|-              import the ECB's euro reference rates (eurofxref-daily.xml, -hist-90d.xml, -hist.xml)
  import --file FILE|-             import a rates file: CSV with the header base,quote,rate,as_of
  set BASE QUOTE RATE --reason R   set one rate by hand, valid from now ("1 BASE = RATE QUOTE")
  list                             list the latest rate of every pair with its source and age`

func runFX(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return groupUsage(e, args, fxUsage)
	}
	switch args[0] {
	case "import":
		return runFXImport(ctx, e, args[1:])
	case "set":
		return runFXSet(ctx, e, args[1:])
	case "list":
		return runFXList(ctx, e, args[1:])
	}
	return groupUsage(e, args, fxUsage)
}

// fxActor is who runs a changing command, for the audit log.
func fxActor(e *env, flag string) string {
	a := strings.TrimSpace(flag)
	if a == "" {
		a = e.getenv("USER")
	}
	if a == "" {
		a = "operator"
	}
	return "cli:" + a
}

// newFXService returns the rate service of the commands (the server's
// configuration: fx.Config's defaults).
func newFXService(db *sqldb.DB) (*fx.Service, error) {
	clk := clock.System{}
	idgen, err := ids.NewSnowflake(1023, clk.Now)
	if err != nil {
		return nil, err
	}
	return fx.New(db, clk, idgen, fx.Config{})
}

// openInput opens a file named on the command line ("-": standard input).
func openInput(e *env, path string) (io.ReadCloser, error) {
	if path == "-" {
		return io.NopCloser(e.stdin), nil
	}
	return os.Open(path)
}

func runFXImport(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("fx import", "Import exchange rates: the ECB's euro reference rates (--ecb, the XML of eurofxref-daily.xml or its 90-day and full-history files) or a rates file (--file: CSV with the header base,quote,rate,as_of, one line per rate, as_of an RFC 3339 time). Rates already stored are left as they are; a file with any error imports nothing. Audited.", e)
	var d dbFlags
	d.register(fs)
	ecb := fs.String("ecb", "", "an ECB reference-rate XML file (- reads standard input)")
	file := fs.String("file", "", "a rates file, CSV base,quote,rate,as_of (- reads standard input)")
	actor := fs.String("actor", "", "who runs this, for the audit log (default: $USER)")
	reason := fs.String("reason", "", "why (recorded in the audit log)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if (*ecb == "") == (*file == "") {
		fs.Usage()
		return &exitError{code: 2, err: errors.New("give exactly one of --ecb FILE and --file FILE")}
	}
	path, source := *ecb, fx.SourceECB
	if *file != "" {
		path, source = *file, fx.SourceFile
	}
	in, err := openInput(e, path)
	if err != nil {
		return err
	}
	defer in.Close()
	// Parse before touching the database: a bad file changes nothing.
	var b *fx.Batch
	if source == fx.SourceECB {
		b, err = fx.ParseECB(in)
	} else {
		b, err = fx.ParseRatesFile(in)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	db, err := d.open(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	svc, err := newFXService(db)
	if err != nil {
		return err
	}
	res, err := svc.ImportAudited(ctx, source, b, fx.Change{Actor: fxActor(e, *actor), Reason: *reason, IP: "cli"})
	if err != nil {
		return fmt.Errorf("%s: %w", path, cliError(err))
	}
	fmt.Fprintf(e.stdout, "imported %d new rate(s) from %s (%d already stored, %d left out)\n", res.Inserted, path, res.Unchanged, len(res.Skipped))
	for _, s := range res.Skipped {
		fmt.Fprintf(e.stderr, "left out: %s\n", s)
	}
	return nil
}

func runFXSet(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("fx set BASE QUOTE RATE", `Set the rate BASE→QUOTE by hand, valid from now: "okpay fx set EUR CNY 7.6543 --reason R" means 1 EUR = 7.6543 CNY. RATE is a plain decimal with a point. It replaces the pair's rate (and a cross rate through EUR) while it is fresh; a correction is a new rate. Audited; --reason is required.`, e)
	var d dbFlags
	d.register(fs)
	actor := fs.String("actor", "", "who runs this, for the audit log (default: $USER)")
	reason := fs.String("reason", "", "why (required: recorded in the audit log and beside the rate)")
	pos, err := parseWithArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 3 {
		fs.Usage()
		return &exitError{code: 2, err: errors.New("give BASE QUOTE RATE, such as: okpay fx set EUR CNY 7.6543 --reason \"ECB feed late\"")}
	}
	if strings.TrimSpace(*reason) == "" {
		return &exitError{code: 2, err: errors.New("--reason is required: the change is audited")}
	}
	base, quote := money.Currency(strings.ToUpper(pos[0])), money.Currency(strings.ToUpper(pos[1]))
	// Check the pair and rate before touching the database.
	if _, err := fx.ParseRate(base, quote, pos[2]); err != nil {
		return cliError(err)
	}
	db, err := d.open(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	svc, err := newFXService(db)
	if err != nil {
		return err
	}
	rec, err := svc.SetRateAudited(ctx, base, quote, pos[2], fx.Change{Actor: fxActor(e, *actor), Reason: *reason, IP: "cli"})
	if err != nil {
		return cliError(err)
	}
	fmt.Fprintf(e.stdout, "set %s (valid from %s, by %s)\n", rec.Rate.Describe(), rec.AsOf.Format(time.RFC3339), rec.CreatedBy)
	return nil
}

// parseWithArgs parses flags given before, between or after positional
// arguments and returns the positional ones; environment defaults apply
// as in flagSet.Parse.
func parseWithArgs(fs *flagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.FlagSet.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, &exitError{code: 2, err: err}
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	// No arguments left: this applies the environment to flags not given.
	return pos, fs.Parse(nil)
}

func runFXList(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("fx list", "List the latest rate of every stored currency pair: its value (1 BASE = RATE QUOTE), source (ecb, file, admin), the time it is valid from and its age; a stale rate (older than 96 h) prices no quote.", e)
	var d dbFlags
	d.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	db, err := openExisting(ctx, d)
	if err != nil {
		return err
	}
	defer db.Close()
	svc, err := newFXService(db)
	if err != nil {
		return err
	}
	list, _, err := svc.LatestStatus(ctx)
	if err != nil {
		return err
	}
	if len(list) == 0 {
		fmt.Fprintln(e.stdout, "no rates stored: okpay fx import --ecb FILE or okpay fx set BASE QUOTE RATE --reason R")
		return nil
	}
	var tw textTable
	tw.row("PAIR", "RATE", "SOURCE", "AS OF (UTC)", "AGE", "BY", "NOTE")
	for _, r := range list {
		age := shortAge(r.Age)
		if r.Stale {
			age += " (stale)"
		}
		by := r.CreatedBy
		if by == "" {
			by = "-"
		}
		tw.row(string(r.Rate.Base)+"/"+string(r.Rate.Quote), r.Rate.Exact(), string(r.Source),
			r.AsOf.UTC().Format("2006-01-02 15:04"), age, printable(by), printable(r.Note))
	}
	return tw.write(e.stdout)
}

// printable replaces control characters (tabs, newlines, terminal escapes)
// in stored text with spaces.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}

// shortAge writes a duration as "45s", "12m", "5h", "3d".
func shortAge(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d/time.Hour))
	}
	return fmt.Sprintf("%dd", int(d/(24*time.Hour)))
}
