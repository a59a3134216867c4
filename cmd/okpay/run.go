package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime/debug"
	"sort"
	"strings"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version = ""

// errSilent ends a command that already said why on stderr.
var errSilent = errors.New("")

// exitError carries a specific exit status.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

// groupUsage handles a group command (ledger, apikey, bench) called
// without its subcommand: -h prints the usage and succeeds; anything else
// is a usage error.
func groupUsage(e *env, args []string, usage string) error {
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
		fmt.Fprintln(e.stdout, usage)
		return nil
	}
	fmt.Fprintln(e.stderr, usage)
	if len(args) == 0 {
		return &exitError{code: 2, err: errors.New("a subcommand is required")}
	}
	return &exitError{code: 2, err: fmt.Errorf("unknown subcommand %q", args[0])}
}

func exitCode(err error) int {
	var e *exitError
	if errors.As(err, &e) {
		return e.code
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	return 1
}

// env is what a command sees of the outside world.
type env struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, e *env, args []string) error
}

func commands() []command {
	return []command{
		{"serve", "start the server (zero configuration: SQLite in ./okpay-data, http://127.0.0.1:8080)", runServe},
		{"migrate", "apply the database migrations and exit", runMigrate},
		{"ledger", "ledger tools: \"okpay ledger verify\" checks every invariant", runLedger},
		{"apikey", "API keys: \"okpay apikey create --name NAME\" prints a new key", runAPIKey},
		{"audit", "security audit log: \"okpay audit verify\" checks its hash chain", runAudit},
		{"user", "account actions for the support back office: unfreeze, terminate-sessions, mark-compromised (audited)", runUser},
		{"agent", "staff accounts: \"okpay agent create --email E --name N --role admin\" prints an enrolment link; list, disable, reset", runAgent},
		{"fx", "exchange rates: \"okpay fx import --ecb FILE\" (ECB XML) or --file FILE (CSV); set BASE QUOTE RATE; list (audited)", runFX},
		{"demo", "fill a fresh database with demo customers, transactions, conversations and staff of every role; print how to sign in", runDemo},
		{"keygen", "print a new master key for --secret-key", runKeygen},
		{"bench", "benchmarks: \"okpay bench ledger\" measures transfers/s over HTTP and in-process", runBench},
		{"version", "print the version", runVersion},
		{"help", "list the commands", nil},
	}
}

// run is the whole program: main only calls it.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	e := &env{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr}
	if len(args) < 2 {
		usage(stderr)
		return &exitError{code: 2, err: errors.New("a command is required")}
	}
	name, rest := args[1], args[2:]
	if name == "help" || name == "-h" || name == "--help" {
		usage(stdout)
		return nil
	}
	for _, c := range commands() {
		if c.name == name && c.run != nil {
			err := c.run(ctx, e, rest)
			if errors.Is(err, flag.ErrHelp) {
				return nil
			}
			return err
		}
	}
	usage(stderr)
	return &exitError{code: 2, err: fmt.Errorf("unknown command %q", name)}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "OKPay — an e-money wallet with its customer-service desk built in.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Usage: okpay <command> [flags]   (okpay <command> -h for its flags)")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Every flag can also be set with an OKPAY_* environment variable (see the README).")
}

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		rev, dirty := "", false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if rev != "" {
			if len(rev) > 12 {
				rev = rev[:12]
			}
			if dirty {
				rev += "-dirty"
			}
			return "dev-" + rev
		}
		if bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			return bi.Main.Version
		}
	}
	return "dev"
}

func runVersion(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("version", "print the version", e)
	if err := fs.Parse(args); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, "okpay", versionString())
	return nil
}

// flagSet wraps flag.FlagSet with environment defaults: a flag --foo-bar
// also reads OKPAY_FOO_BAR when the flag is not given.
type flagSet struct {
	*flag.FlagSet
	e    *env
	envs map[string]string // flag name → env var
}

func newFlagSet(name, summary string, e *env) *flagSet {
	fs := flag.NewFlagSet("okpay "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	f := &flagSet{FlagSet: fs, e: e, envs: map[string]string{}}
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "Usage: okpay %s [flags]\n\n%s\n\nFlags:\n", name, summary)
		var names []string
		fs.VisitAll(func(fl *flag.Flag) { names = append(names, fl.Name) })
		sort.Strings(names)
		for _, n := range names {
			fl := fs.Lookup(n)
			def := fl.DefValue
			if def == "" {
				def = `""`
			}
			envName := f.envs[n]
			if envName != "" {
				envName = " (env " + envName + ")"
			}
			fmt.Fprintf(e.stderr, "  --%s\t%s (default %s)%s\n", n, fl.Usage, def, envName)
		}
	}
	return f
}

// envName returns the OKPAY_* variable of a flag.
func envName(flagName string) string {
	return "OKPAY_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// bindEnv lets the listed flags default to their environment variables.
func (f *flagSet) bindEnv(names ...string) {
	for _, n := range names {
		f.envs[n] = envName(n)
	}
}

// Parse parses args, then applies environment values to flags not given.
// No command takes positional arguments: one is a usage error (exit 2),
// like an unknown flag.
func (f *flagSet) Parse(args []string) error {
	if err := f.FlagSet.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &exitError{code: 2, err: err}
	}
	if f.NArg() > 0 {
		f.Usage()
		return &exitError{code: 2, err: fmt.Errorf("unexpected argument %q", f.Arg(0))}
	}
	given := map[string]bool{}
	f.Visit(func(fl *flag.Flag) { given[fl.Name] = true })
	for n, v := range f.envs {
		if given[n] {
			continue
		}
		if val := f.e.getenv(v); val != "" {
			if err := f.Set(n, val); err != nil {
				return fmt.Errorf("%s=%q: %w", v, val, err)
			}
		}
	}
	return nil
}
