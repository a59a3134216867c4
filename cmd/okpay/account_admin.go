package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/okpay/okpay/audit"
	"github.com/okpay/okpay/clock"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/secret"
)

func runKeygen(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("keygen", "Print a new random master key for --secret-key (OKPAY_SECRET_KEY). Keep it secret; every node of one database needs the same key.", e)
	if err := fs.Parse(args); err != nil {
		return err
	}
	key, err := secret.Generate()
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, hex.EncodeToString(key))
	return nil
}

func runAudit(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || args[0] != "verify" {
		return groupUsage(e, args, "Usage: okpay audit verify [flags]   (okpay audit verify -h for its flags)")
	}
	fs := newFlagSet("audit verify", "Check the security audit log's hash chain; exit 1 naming the first edited, deleted or reordered row.", e)
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
	r, err := audit.New(db).Verify(ctx)
	if err != nil {
		return err
	}
	if !r.OK {
		fmt.Fprintf(e.stdout, "audit log BROKEN at seq %d: %s (%d rows sound before it)\n", r.BrokenAt, r.Problem, r.Rows)
		return &exitError{code: 1, err: fmt.Errorf("the audit log's hash chain is broken at seq %d", r.BrokenAt)}
	}
	fmt.Fprintf(e.stdout, "audit log OK: %d rows, head %x\n", r.Rows, r.Head)
	return nil
}

// runUser holds the account commands the support desk's back office uses
// until it has its own pages: each is audited with actor, case and reason.
func runUser(ctx context.Context, e *env, args []string) error {
	const usage = "Usage: okpay user unfreeze|terminate-sessions|mark-compromised --user usr_... --actor NAME --case CASE --reason TEXT [flags]"
	summaries := map[string]string{
		"unfreeze":           "Lift an account freeze (support desk; a 24 h money-out hold follows). Audited.",
		"terminate-sessions": "Sign a user out everywhere (SES-11). Audited.",
		"mark-compromised":   "Mark a user's password compromised (PWD-08): every session ends, the user is told, and the next sign-in must change the password. Audited; --case is optional.",
	}
	if len(args) == 0 || summaries[args[0]] == "" {
		return groupUsage(e, args, usage)
	}
	verb := args[0]
	summary := summaries[verb]
	fs := newFlagSet("user "+verb, summary, e)
	var d dbFlags
	d.register(fs)
	var f identityFlags
	f.register(fs)
	user := fs.String("user", "", "the user's id (usr_...)")
	actor := fs.String("actor", "", "who acts (agent or administrator name)")
	caseID := fs.String("case", "", "the support case this belongs to")
	reason := fs.String("reason", "", "why")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	id, ok := ids.Parse(identity.UserPrefix, *user)
	if !ok {
		return &exitError{code: 2, err: fmt.Errorf("--user %q: give a user id like usr_0d4m8y2k3q1ag", *user)}
	}
	if verb == "mark-compromised" {
		// A breach-corpus match has no support case: the case is optional.
		if *actor == "" || *reason == "" {
			return &exitError{code: 2, err: errors.New("--actor and --reason are required: the action is audited")}
		}
	} else if *actor == "" || *caseID == "" || *reason == "" {
		return &exitError{code: 2, err: errors.New("--actor, --case and --reason are required: the action is audited")}
	}
	db, err := d.open(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	clk := clock.System{}
	idgen, err := ids.NewSnowflake(1023, clk.Now)
	if err != nil {
		return err
	}
	catalog, err := i18n.New()
	if err != nil {
		return err
	}
	svc, _, _, err := newIdentityService(db, clk, idgen, catalog, &f, "localhost")
	if err != nil {
		return err
	}
	m := identity.Meta{IP: "cli", UserAgent: "okpay " + verb}
	switch verb {
	case "unfreeze":
		if err := svc.Unfreeze(ctx, id, "cli:"+*actor, *caseID, *reason, m); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "unfroze %s; money-out is held for 24 h\n", *user)
	case "terminate-sessions":
		n, err := svc.TerminateAllSessions(ctx, id, "cli:"+*actor, *caseID, *reason, m)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "ended %d session(s) of %s\n", n, *user)
	case "mark-compromised":
		if err := svc.MarkCompromised(ctx, id, "cli:"+*actor, *caseID, *reason, m); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "marked the password of %s compromised: signed out everywhere, a new password is required at the next sign-in\n", *user)
	}
	return nil
}
