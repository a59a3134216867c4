package identity_test

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/audit"
	"github.com/okpay/okpay/clock"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/identity/otp"
	"github.com/okpay/okpay/identity/passkey"
	"github.com/okpay/okpay/identity/password"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/notify"
	"github.com/okpay/okpay/secret"
	"github.com/okpay/okpay/sqldb"
)

// cheap argon2 parameters keep the suite fast; the policy and the code
// paths are the production ones.
var cheap = password.Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}

type harness struct {
	t       *testing.T
	db      *sqldb.DB
	clock   *clock.Manual
	keys    *secret.Keyring
	hasher  *password.Hasher
	svc     *identity.Service
	outbox  *notify.Outbox
	disp    *notify.Dispatcher
	mailbox *notify.DevMailbox
	ctx     context.Context
	meta    identity.Meta
	// passkeys is the WebAuthn relying party of the service: RP ID
	// passkeyRPID, origin passkeyOrigin.
	passkeys *passkey.Service
	// locator, when set, is the service's GeoIP database.
	locator identity.Locator
}

// The relying party of the harness's passkey service.
const (
	passkeyRPID   = "okpay.test"
	passkeyOrigin = "https://okpay.test"
)

var (
	sharedCatalog *i18n.Catalog
	sharedPolicy  *password.Policy
)

func catalogAndPolicy(t *testing.T) (*i18n.Catalog, *password.Policy) {
	t.Helper()
	if sharedCatalog == nil {
		c, err := i18n.New()
		if err != nil {
			t.Fatal(err)
		}
		bl, err := password.NewBlocklist()
		if err != nil {
			t.Fatal(err)
		}
		sharedCatalog, sharedPolicy = c, password.NewPolicy(bl)
	}
	return sharedCatalog, sharedPolicy
}

func newHarness(t *testing.T, db *sqldb.DB) *harness {
	t.Helper()
	master, err := secret.Generate()
	if err != nil {
		t.Fatal(err)
	}
	keys, err := secret.NewKeyring(master)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, db: db, keys: keys, clock: clock.NewManual(time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)), ctx: context.Background(),
		meta: identity.Meta{IP: "203.0.113.7", UserAgent: "Mozilla/5.0 (X11; Linux x86_64) Chrome/130.0", DeviceID: "dev-1", Lang: i18n.En}}
	h.hasher, err = password.New(password.Options{Params: cheap})
	if err != nil {
		t.Fatal(err)
	}
	h.build()
	return h
}

// build (re)creates the service over the same database and keys, as a
// restart would.
func (h *harness) build() {
	t := h.t
	cat, policy := catalogAndPolicy(t)
	gen, err := ids.NewSnowflake(1, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	h.outbox = notify.NewOutbox(h.db, h.keys.Sealer("notify"), h.clock, gen)
	if h.mailbox == nil {
		h.mailbox = notify.NewDevMailbox(h.clock)
	}
	h.disp = notify.NewDispatcher(h.outbox, map[string]notify.Sender{"email": h.mailbox, "sms": h.mailbox, "inapp": h.outbox.InAppSender()}, notify.DispatcherOptions{})
	h.passkeys, err = passkey.New(h.db, h.clock, passkey.Config{RPID: passkeyRPID, RPDisplayName: "OKPay", Origins: []string{passkeyOrigin}})
	if err != nil {
		t.Fatal(err)
	}
	h.svc, err = identity.New(identity.Deps{DB: h.db, Clock: h.clock, IDs: gen, Keys: h.keys, Hasher: h.hasher, CheckPassword: policy.Check,
		Outbox: h.outbox, Catalog: cat, Passkeys: h.passkeys, Locator: h.locator}, identity.Config{BaseURL: "https://okpay.test"})
	if err != nil {
		t.Fatal(err)
	}
}

// deliver sends everything due to the mailbox.
func (h *harness) deliver() {
	h.t.Helper()
	for {
		n, err := h.disp.RunOnce(h.ctx)
		if err != nil {
			h.t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
}

var codeRE = regexp.MustCompile(`\b(\d{6,8})\b`)

// lastCode returns the code in the newest message of kind to "to".
func (h *harness) lastCode(to, kind string) string {
	h.t.Helper()
	h.deliver()
	for _, m := range h.mailbox.List() {
		if m.To == to && m.Kind == kind {
			if c := codeRE.FindStringSubmatch(m.Body); c != nil {
				return c[1]
			}
		}
	}
	h.t.Fatalf("no %s message with a code to %s; mailbox: %v", kind, to, kinds(h.mailbox.List()))
	return ""
}

func (h *harness) messages(to, kind string) []notify.DevMessage {
	h.deliver()
	var out []notify.DevMessage
	for _, m := range h.mailbox.List() {
		if (to == "" || m.To == to) && m.Kind == kind {
			out = append(out, m)
		}
	}
	return out
}

func kinds(ms []notify.DevMessage) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Channel+":"+m.Kind+":"+m.To)
	}
	return out
}

type account struct {
	email, phone, password string
	token                  string // a full (AAL2) session
	id                     int64
}

var accountSeq int

// signUp registers and verifies an account and returns it signed in.
func (h *harness) signUp() *account {
	h.t.Helper()
	accountSeq++
	a := &account{
		email:    "user" + itoa(accountSeq) + "@example.com",
		phone:    "+8613800138" + pad3(accountSeq),
		password: "correct horse battery staple " + itoa(accountSeq),
	}
	flow, err := h.svc.Register(h.ctx, identity.RegisterInput{Email: a.email, Phone: a.phone, Password: a.password, Lang: i18n.En}, h.meta)
	if err != nil {
		h.t.Fatalf("register: %v", err)
	}
	ec := h.lastCode(a.email, "code_verify_email")
	pc := h.lastCode(a.phone, "code_verify_phone")
	f, token, err := h.svc.VerifySignup(h.ctx, flow.Token, ec, pc, h.meta)
	if err != nil {
		h.t.Fatalf("verify sign-up: %v (flow %+v)", err, f)
	}
	a.token = token
	ss, u, err := h.svc.Authenticate(h.ctx, token)
	if err != nil {
		h.t.Fatal(err)
	}
	if ss.AAL != identity.AAL2 || !u.Verified() {
		h.t.Fatalf("after sign-up: aal %d verified %v", ss.AAL, u.Verified())
	}
	a.id = u.ID
	h.clock.Advance(61 * time.Second) // SMS codes go at most once a minute (MFA-03)
	return a
}

// login signs in with the password and the SMS code.
func (h *harness) login(a *account) string {
	h.t.Helper()
	h.clock.Advance(61 * time.Second) // SMS codes go at most once a minute (MFA-03)
	res, err := h.svc.Login(h.ctx, a.email, a.password, h.meta)
	if err != nil {
		h.t.Fatalf("login: %v", err)
	}
	code := h.lastCode(a.phone, "code_login")
	res2, err := h.svc.VerifyFactor(h.ctx, res.Token, identity.MethodSMS, code, h.meta)
	if err != nil {
		h.t.Fatalf("second factor: %v", err)
	}
	return res2.Token
}

// enrolTOTP adds an authenticator app to the account of session ss and
// returns its secret (base32, as shown) and key.
func (h *harness) enrolTOTP(ss *identity.Session) (string, []byte) {
	h.t.Helper()
	setup, err := h.svc.BeginTOTP(h.ctx, ss)
	if err != nil {
		h.t.Fatal(err)
	}
	key := decodeSecret(h.t, setup.Secret)
	if err := h.svc.ConfirmTOTP(h.ctx, ss, otp.TOTPCode(key, h.clock.Now()), h.meta); err != nil {
		h.t.Fatal(err)
	}
	return setup.Secret, key
}

// count runs a SELECT COUNT(*) query.
func (h *harness) count(q string, args ...any) int {
	h.t.Helper()
	var n int
	if err := h.db.Read.QueryRowContext(h.ctx, q, args...).Scan(&n); err != nil {
		h.t.Fatalf("%s: %v", q, err)
	}
	return n
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := okpay.ErrorCode(err); got != code {
		t.Fatalf("error = %v (code %q), want code %q", err, got, code)
	}
}

func (h *harness) verifyAudit() {
	h.t.Helper()
	rep, err := audit.New(h.db).Verify(h.ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	if !rep.OK {
		h.t.Fatalf("audit chain broken: %+v", rep)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func pad3(n int) string { return fmt.Sprintf("%03d", n%1000) }
