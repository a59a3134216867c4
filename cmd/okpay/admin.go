package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/okpay/okpay/apikey"
	"github.com/okpay/okpay/clock"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/ledger"
)

func runMigrate(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("migrate", "Apply the database migrations (also done by serve on start). Running it again changes nothing.", e)
	var d dbFlags
	d.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	db, err := openRaw(ctx, d)
	if err != nil {
		return err
	}
	defer db.Close()
	n, err := db.Migrate(ctx)
	if err != nil {
		return err
	}
	cur, _, err := db.MigrationVersion(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "applied %d migration(s); schema version %d (%s)\n", n, cur, db.Dialect)
	return nil
}

func runLedger(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || args[0] != "verify" {
		return groupUsage(e, args, "Usage: okpay ledger verify [flags]   (okpay ledger verify -h for its flags)")
	}
	fs := newFlagSet("ledger verify", "Check every ledger invariant; exit 1 with a report when one is violated.", e)
	var d dbFlags
	d.register(fs)
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	db, err := openExisting(ctx, d)
	if err != nil {
		return err
	}
	defer db.Close()
	l, err := ledger.New(ctx, db, ledger.Options{SweepInterval: -1})
	if err != nil {
		return err
	}
	defer l.Close()
	r, err := l.Verify(ctx)
	if err != nil {
		return err
	}
	if !r.OK() {
		fmt.Fprint(e.stdout, r.String())
		return &exitError{code: 1, err: fmt.Errorf("the ledger violates %d invariant(s)", len(r.Violations))}
	}
	fmt.Fprint(e.stdout, r.String())
	return nil
}

func runAPIKey(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || args[0] != "create" {
		return groupUsage(e, args, "Usage: okpay apikey create --name NAME [flags]   (okpay apikey create -h for its flags)")
	}
	fs := newFlagSet("apikey create", "Create an API key for programs and print it once.", e)
	var d dbFlags
	d.register(fs)
	name := fs.String("name", "", "what the key is for (required)")
	node := fs.Int("node-id", 0, "this node's number (0-1023)")
	fs.bindEnv("node-id")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	db, err := d.open(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	g, err := ids.NewSnowflake(*node, nil)
	if err != nil {
		return err
	}
	k, secret, err := apikey.NewStore(db, clock.System{}, g).Create(ctx, *name)
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, secret)
	where := string(db.Dialect) + " database"
	if db.Path != "" {
		where = db.Path
	}
	fmt.Fprintf(e.stderr, "created API key %s (%q) in %s; it is shown only once\n", k.Principal(), k.Name, where)
	return nil
}

// sqlitePath returns the file of a SQLite database URL ("" for PostgreSQL).
func sqlitePath(u string) string {
	if strings.HasPrefix(u, "postgres://") || strings.HasPrefix(u, "postgresql://") {
		return ""
	}
	p := strings.TrimPrefix(strings.TrimPrefix(u, "sqlite:"), "file:")
	if i := strings.IndexByte(p, '?'); i >= 0 {
		p = p[:i]
	}
	return p
}
