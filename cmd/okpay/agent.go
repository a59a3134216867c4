package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/agent"
	"github.com/okpay/okpay/clock"
	"github.com/okpay/okpay/identity/passkey"
	"github.com/okpay/okpay/identity/password"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/sqldb"
)

// agentFlags configure the staff console's sign-in policy (serve).
type agentFlags struct {
	allowTOTP bool
}

func (f *agentFlags) register(fs *flagSet) {
	fs.BoolVar(&f.allowTOTP, "staff-allow-totp", false, "development and demonstrations only: let staff use an authenticator app (TOTP) instead of a passkey; production staff sign-in needs a phishing-resistant passkey (SUP-01)")
	fs.bindEnv("staff-allow-totp")
}

// newAgentService builds the staff service of a server on the identity
// stack's keys, hasher and passkey service (one relying party, one pepper).
func newAgentService(db *sqldb.DB, clk clock.Clock, idgen ids.Generator, ident *identityStack, f *agentFlags) (*agent.Service, error) {
	d := ident.svc.Deps
	return agent.New(agent.Deps{DB: db, Clock: clk, IDs: idgen, Keys: d.Keys, Hasher: ident.hasher, CheckPassword: d.CheckPassword,
		Passkeys: d.Passkeys}, agent.Config{BaseURL: ident.svc.Config().BaseURL, AllowTOTP: f.allowTOTP})
}

const agentUsage = `Usage: okpay agent create|list|disable|reset [flags]   (okpay agent <subcommand> -h for its flags)

  create   add a staff account and print its one-time enrolment link (the first admin is made this way)
  list     list the staff accounts
  disable  close a staff account; its sessions end at once
  reset    withdraw an agent's password and passkeys and print a new enrolment link`

// runAgent holds the staff-account commands. Whoever runs them has the
// database in hand, so they act as the system (audited as "cli:NAME").
func runAgent(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return groupUsage(e, args, agentUsage)
	}
	switch args[0] {
	case "create", "list", "disable", "reset":
	default:
		return groupUsage(e, args, agentUsage)
	}
	verb := args[0]
	summary := map[string]string{
		"create":  "Add a staff account and print its one-time enrolment link (valid 24 h, shown once). Audited.",
		"list":    "List the staff accounts.",
		"disable": "Close a staff account; every session of it ends at once. Audited.",
		"reset":   "Withdraw an agent's password and passkeys, end their sessions and print a new enrolment link. Audited.",
	}[verb]
	fs := newFlagSet("agent "+verb, summary, e)
	var d dbFlags
	d.register(fs)
	var idf identityFlags
	idf.register(fs)
	var email, name, roles, teams, langs, ref, reason, actor string
	switch verb {
	case "create":
		fs.StringVar(&email, "email", "", "the agent's work email (required)")
		fs.StringVar(&name, "name", "", "the agent's display name (required)")
		fs.StringVar(&roles, "role", "", "roles, comma-separated: agent, supervisor (senior), risk, admin (required)")
		fs.StringVar(&teams, "team", "", "teams, comma-separated (general, security, payments...)")
		fs.StringVar(&langs, "lang", "zh-CN,en", "languages the agent works in, comma-separated")
		fs.StringVar(&reason, "reason", "", "why (recorded in the audit log)")
	case "disable", "reset":
		fs.StringVar(&ref, "agent", "", "the agent's id (agt_...) or email (required)")
		fs.StringVar(&reason, "reason", "", "why (required: recorded in the audit log)")
	}
	if verb != "list" {
		fs.StringVar(&actor, "actor", "", "who runs this, for the audit log (default: $USER)")
	}
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	usageErr := func(format string, a ...any) error { return &exitError{code: 2, err: fmt.Errorf(format, a...)} }
	switch verb {
	case "create":
		if email == "" || name == "" || roles == "" {
			return usageErr("--email, --name and --role are required")
		}
	case "disable", "reset":
		if ref == "" || strings.TrimSpace(reason) == "" {
			return usageErr("--agent and --reason are required: the action is audited")
		}
	}
	if actor == "" {
		actor = e.getenv("USER")
	}
	if actor == "" {
		actor = "operator"
	}
	by := agent.Actor{System: "cli:" + actor}
	m := agent.Meta{IP: "cli", UserAgent: "okpay agent " + verb}

	db, err := d.open(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	svc, err := cliAgentService(db, &idf)
	if err != nil {
		return err
	}
	switch verb {
	case "create":
		rs, err := agent.ParseRoles(roles)
		if err != nil {
			return usageErr("--role: %s", fieldText(err))
		}
		ts, err := agent.ParseTeams(teams)
		if err != nil {
			return usageErr("--team: %s", fieldText(err))
		}
		ls, err := agent.ParseLanguages(langs)
		if err != nil {
			return usageErr("--lang: %s", fieldText(err))
		}
		a, enr, err := svc.Create(ctx, by, agent.NewAgent{Email: email, DisplayName: name, Roles: rs, Teams: ts, Languages: ls, Reason: reason}, m)
		if err != nil {
			return cliError(err)
		}
		fmt.Fprintln(e.stdout, enr.URL)
		fmt.Fprintf(e.stderr, "created %s %s (%s), roles %s; give them the link above over a trusted channel: it works once, until %s, and is shown only once\n",
			a.Ref(), a.Email, a.DisplayName, joinRoles(a.Roles), enr.ExpiresAt.UTC().Format(time.RFC3339))
	case "list":
		list, err := svc.List(ctx, agent.Filter{})
		if err != nil {
			return err
		}
		var tw textTable
		tw.row("ID", "EMAIL", "NAME", "ROLES", "TEAMS", "STATUS", "ENROLLED")
		for _, a := range list {
			enrolled := "no"
			if a.Enrolled() {
				enrolled = a.EnrolledAt.UTC().Format("2006-01-02")
			}
			tw.row(a.Ref(), a.Email, a.DisplayName, joinRoles(a.Roles), strings.Join(a.Teams, ","), string(a.Status), enrolled)
		}
		return tw.write(e.stdout)
	case "disable", "reset":
		a, err := findAgent(ctx, svc, ref)
		if err != nil {
			return err
		}
		if verb == "disable" {
			if err := svc.Disable(ctx, by, a.ID, reason, m); err != nil {
				return cliError(err)
			}
			fmt.Fprintf(e.stdout, "disabled %s (%s); their sessions have ended\n", a.Ref(), a.Email)
			return nil
		}
		enr, err := svc.ResetSignIn(ctx, by, a.ID, reason, m)
		if err != nil {
			return cliError(err)
		}
		fmt.Fprintln(e.stdout, enr.URL)
		fmt.Fprintf(e.stderr, "reset the sign-in of %s (%s); the new link works once, until %s\n", a.Ref(), a.Email, enr.ExpiresAt.UTC().Format(time.RFC3339))
	}
	return nil
}

// cliAgentService builds the staff service for the commands: the same
// master key (and password pepper) as the server's. The commands need no
// passkey service.
func cliAgentService(db *sqldb.DB, f *identityFlags) (*agent.Service, error) {
	return agentServiceWith(db, f, nil)
}

// agentServiceWith is cliAgentService with a passkey service.
func agentServiceWith(db *sqldb.DB, f *identityFlags, pk *passkey.Service) (*agent.Service, error) {
	keys, err := loadKeyring(f, db)
	if err != nil {
		return nil, err
	}
	opts := password.Options{MaxConcurrent: f.hashParallel}
	if f.pepper != "" {
		opts.Pepper = []byte(f.pepper)
	}
	hasher, err := password.New(opts)
	if err != nil {
		return nil, err
	}
	bl, err := password.NewBlocklist()
	if err != nil {
		return nil, err
	}
	clk := clock.System{}
	idgen, err := ids.NewSnowflake(1023, clk.Now)
	if err != nil {
		return nil, err
	}
	base := f.baseURL
	if base == "" {
		base = "http://localhost:8080"
	}
	return agent.New(agent.Deps{DB: db, Clock: clk, IDs: idgen, Keys: keys, Hasher: hasher, CheckPassword: password.NewPolicy(bl).Check, Passkeys: pk},
		agent.Config{BaseURL: base})
}

// findAgent finds an agent by reference or email.
func findAgent(ctx context.Context, svc *agent.Service, ref string) (*agent.Agent, error) {
	if id, ok := agent.ParseRef(ref); ok {
		a, err := svc.Find(ctx, id)
		if err != nil {
			return nil, cliError(err)
		}
		return a, nil
	}
	a, err := svc.FindByEmail(ctx, ref)
	if err != nil {
		return nil, cliError(err)
	}
	return a, nil
}

// cliError turns a refusal of the service into a readable error (exit
// 1); internal errors pass as they are.
func cliError(err error) error {
	c := okpay.ErrorCode(err)
	if c == okpay.EInternal || c == "" {
		return err
	}
	msg := okpay.ErrorMessage(err)
	if f := fieldText(err); f != "" {
		msg += ": " + f
	}
	return errors.New(msg)
}

// fieldText joins the field messages of a validation error.
func fieldText(err error) string {
	var e *okpay.Error
	if !errors.As(err, &e) || len(e.Fields) == 0 {
		return ""
	}
	var parts []string
	for k, v := range e.Fields {
		parts = append(parts, k+": "+v)
	}
	sort.Strings(parts)
	return strings.Join(parts, "; ")
}

func joinRoles(rs []agent.Role) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = string(r)
	}
	return strings.Join(parts, ",")
}
