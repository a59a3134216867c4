package agent_test

import (
	"context"
	"encoding/base32"
	"sync"
	"testing"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/agent"
	"github.com/okpay/okpay/audit"
	"github.com/okpay/okpay/clock"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/identity/passkey"
	"github.com/okpay/okpay/identity/passkey/passkeytest"
	"github.com/okpay/okpay/identity/password"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/secret"
	"github.com/okpay/okpay/sqldb"
)

// cheap argon2 parameters keep the suite fast; the code paths are the
// production ones.
var cheap = password.Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}

// The relying party of the harness's passkey service.
const (
	rpID   = "okpay.test"
	origin = "https://okpay.test"
)

var t0 = time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)

var (
	policyOnce sync.Once
	policy     *password.Policy
	policyErr  error
)

func sharedPolicy(t testing.TB) *password.Policy {
	t.Helper()
	policyOnce.Do(func() {
		var bl *password.Blocklist
		if bl, policyErr = password.NewBlocklist(); policyErr == nil {
			policy = password.NewPolicy(bl)
		}
	})
	if policyErr != nil {
		t.Fatal(policyErr)
	}
	return policy
}

type harness struct {
	t      *testing.T
	ctx    context.Context
	db     *sqldb.DB
	clock  *clock.Manual
	keys   *secret.Keyring
	hasher *password.Hasher
	pk     *passkey.Service
	svc    *agent.Service
	cfg    agent.Config
	meta   agent.Meta
	cli    agent.Actor
}

func newHarness(t *testing.T, db *sqldb.DB, cfg agent.Config) *harness {
	t.Helper()
	master, err := secret.Generate()
	if err != nil {
		t.Fatal(err)
	}
	keys, err := secret.NewKeyring(master)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, ctx: context.Background(), db: db, clock: clock.NewManual(t0), keys: keys, cfg: cfg,
		meta: agent.Meta{IP: "203.0.113.9", UserAgent: "Mozilla/5.0 (X11; Linux x86_64) Chrome/130.0"},
		cli:  agent.Actor{System: "cli:root"}}
	if h.hasher, err = password.New(password.Options{Params: cheap}); err != nil {
		t.Fatal(err)
	}
	h.build()
	return h
}

// build (re)creates the services over the same database and keys, as a
// restart would.
func (h *harness) build() {
	t := h.t
	gen, err := ids.NewSnowflake(3, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	if h.pk, err = passkey.New(h.db, h.clock, passkey.Config{RPID: rpID, RPDisplayName: "OKPay", Origins: []string{origin}}); err != nil {
		t.Fatal(err)
	}
	h.cfg.BaseURL = "https://okpay.test"
	if h.svc, err = agent.New(agent.Deps{DB: h.db, Clock: h.clock, IDs: gen, Keys: h.keys, Hasher: h.hasher,
		CheckPassword: sharedPolicy(t).Check, Passkeys: h.pk}, h.cfg); err != nil {
		t.Fatal(err)
	}
}

// staff is an enrolled agent with its authenticator and a full session.
type staff struct {
	agent    *agent.Agent
	password string
	auth     *passkeytest.Authenticator
	token    string
	session  *agent.Session
}

// actor is the staff member as the acting administrator.
func (s *staff) actor() agent.Actor { return agent.Actor{Agent: s.agent, Session: s.session} }

var seq struct {
	sync.Mutex
	n int
}

func next() int {
	seq.Lock()
	defer seq.Unlock()
	seq.n++
	return seq.n
}

// create makes an agent with roles through the command line's actor.
func (h *harness) create(roles ...agent.Role) (*agent.Agent, *agent.Enrollment) {
	h.t.Helper()
	n := next()
	a, enr, err := h.svc.Create(h.ctx, h.cli, agent.NewAgent{
		Email: "staff" + itoa(n) + "@okpay.test", DisplayName: "Staff " + itoa(n), Roles: roles,
		Teams: []string{"general"}, Languages: []i18n.Lang{i18n.ZhCN, i18n.En},
	}, h.meta)
	if err != nil {
		h.t.Fatalf("create: %v", err)
	}
	return a, enr
}

// enrol follows an enrolment link with a new software authenticator and
// returns the enrolled agent with a full session.
func (h *harness) enrol(a *agent.Agent, enr *agent.Enrollment) *staff {
	h.t.Helper()
	st := &staff{password: "maple harbour lantern " + itoa(next()), auth: passkeytest.New(origin, rpID)}
	res, err := h.svc.StartEnrollment(h.ctx, enr.Token, st.password, h.meta)
	if err != nil {
		h.t.Fatalf("start enrolment: %v", err)
	}
	opts, flow, err := h.svc.BeginPasskeyEnrollment(h.ctx, res.Token)
	if err != nil {
		h.t.Fatalf("begin passkey enrolment: %v", err)
	}
	resp, err := st.auth.Create(opts)
	if err != nil {
		h.t.Fatal(err)
	}
	res, err = h.svc.FinishPasskeyEnrollment(h.ctx, res.Token, flow, resp, "laptop", h.meta)
	if err != nil {
		h.t.Fatalf("finish passkey enrolment: %v", err)
	}
	st.agent, st.token, st.session = res.Agent, res.Token, res.Session
	return st
}

// newStaff creates and enrols an agent with roles.
func (h *harness) newStaff(roles ...agent.Role) *staff {
	h.t.Helper()
	return h.enrol(h.create(roles...))
}

// signIn signs st in again with the password and the passkey.
func (h *harness) signIn(st *staff) {
	h.t.Helper()
	res, err := h.svc.Login(h.ctx, st.agent.Email, st.password, h.meta)
	if err != nil {
		h.t.Fatalf("login: %v", err)
	}
	res, err = h.passkeyStep(res.Token, st.auth)
	if err != nil {
		h.t.Fatalf("passkey step: %v", err)
	}
	st.token, st.session, st.agent = res.Token, res.Session, res.Agent
}

func (h *harness) passkeyStep(tok string, auth *passkeytest.Authenticator) (*agent.LoginResult, error) {
	h.t.Helper()
	opts, flow, err := h.svc.BeginPasskeyLogin(h.ctx, tok)
	if err != nil {
		return nil, err
	}
	resp, err := auth.Get(opts)
	if err != nil {
		h.t.Fatal(err)
	}
	return h.svc.FinishPasskeyLogin(h.ctx, tok, flow, resp, h.meta)
}

// events returns the audit entries about subject, oldest first.
func (h *harness) events(subject string) []audit.Entry {
	h.t.Helper()
	es, err := audit.New(h.db).List(h.ctx, subject, audit.MaxListLimit, 0)
	if err != nil {
		h.t.Fatal(err)
	}
	for i, j := 0, len(es)-1; i < j; i, j = i+1, j-1 {
		es[i], es[j] = es[j], es[i]
	}
	return es
}

// lastEvent returns the newest audit entry named name about subject.
func (h *harness) lastEvent(subject, name string) *audit.Entry {
	h.t.Helper()
	es := h.events(subject)
	for i := len(es) - 1; i >= 0; i-- {
		if es[i].Name == name {
			return &es[i]
		}
	}
	h.t.Fatalf("no %s event about %s in %d events", name, subject, len(es))
	return nil
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := okpay.ErrorCode(err); got != code {
		t.Fatalf("error %v (code %q), want code %q", err, got, code)
	}
}

// decodeSecret reads a base32 TOTP secret as shown to the agent.
func decodeSecret(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// verifyChain checks the audit log's hash chain holds.
func (h *harness) verifyChain() {
	h.t.Helper()
	rep, err := audit.New(h.db).Verify(h.ctx)
	if err != nil || !rep.OK {
		h.t.Fatalf("audit chain: %v %s", err, rep.String())
	}
}
