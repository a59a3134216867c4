package httpapi

import (
	"bytes"
	"context"
	"encoding/base32"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/okpay/okpay/apikey"
	"github.com/okpay/okpay/clientip"
	"github.com/okpay/okpay/clock"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/identity/otp"
	"github.com/okpay/okpay/identity/passkey"
	"github.com/okpay/okpay/identity/password"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/ledger"
	"github.com/okpay/okpay/notify"
	"github.com/okpay/okpay/secret"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

// Cheap argon2 parameters keep the suite fast; the code paths are the
// production ones.
var cheapArgon = password.Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}

var (
	sharedOnce    sync.Once
	sharedPolicy  *password.Policy
	sharedCatalog *i18n.Catalog
	sharedErr     error
)

// shared returns the password policy and the catalogs, loaded once.
func shared(t testing.TB) (*password.Policy, *i18n.Catalog) {
	sharedOnce.Do(func() {
		bl, err := password.NewBlocklist()
		if err == nil {
			sharedCatalog, err = i18n.New()
		}
		sharedPolicy, sharedErr = password.NewPolicy(bl), err
	})
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
	return sharedPolicy, sharedCatalog
}

// countingHasher counts the argon2 work asked of it (PWD-02: a password
// over 1024 bytes is refused before any).
type countingHasher struct {
	*password.Hasher
	calls atomic.Int64
}

func (h *countingHasher) Hash(ctx context.Context, pw string) (string, error) {
	h.calls.Add(1)
	return h.Hasher.Hash(ctx, pw)
}

func (h *countingHasher) Verify(ctx context.Context, pw, encoded string) (bool, bool, error) {
	h.calls.Add(1)
	return h.Hasher.Verify(ctx, pw, encoded)
}

func (h *countingHasher) DummyVerify(ctx context.Context, pw string) error {
	h.calls.Add(1)
	return h.Hasher.DummyVerify(ctx, pw)
}

// The relying party of the fixture's passkey service.
const (
	passkeyRPID   = "okpay.test"
	passkeyOrigin = "https://okpay.test"
)

// idFixture is the API with a real identity service (and ledger and API
// keys) on a real database, its notifications caught by a DevMailbox.
type idFixture struct {
	t       testing.TB
	db      *sqldb.DB
	clock   *clock.Manual
	svc     *identity.Service
	hasher  *countingHasher
	disp    *notify.Dispatcher
	mailbox *notify.DevMailbox
	api     *Server
	mux     *http.ServeMux
	srv     *httptest.Server
	apiKey  string

	mu      sync.Mutex
	clients map[string]*http.Client
}

func newIDFixture(t testing.TB, db *sqldb.DB) *idFixture {
	t.Helper()
	return newIDFixtureWith(t, db, nil)
}

// newIDFixtureWith is newIDFixture with a hook that can change the
// identity service's dependencies (a GeoIP database) before it is built.
func newIDFixtureWith(t testing.TB, db *sqldb.DB, hook func(*identity.Deps)) *idFixture {
	t.Helper()
	ctx := context.Background()
	f := &idFixture{t: t, db: db, clock: clock.NewManual(time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)), clients: map[string]*http.Client{}}
	master, err := secret.Generate()
	if err != nil {
		t.Fatal(err)
	}
	keyring, err := secret.NewKeyring(master)
	if err != nil {
		t.Fatal(err)
	}
	h, err := password.New(password.Options{Params: cheapArgon})
	if err != nil {
		t.Fatal(err)
	}
	f.hasher = &countingHasher{Hasher: h}
	policy, cat := shared(t)
	gen, err := ids.NewSnowflake(1, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	outbox := notify.NewOutbox(db, keyring.Sealer("notify"), f.clock, gen)
	f.mailbox = notify.NewDevMailbox(f.clock)
	f.disp = notify.NewDispatcher(outbox, map[string]notify.Sender{"email": f.mailbox, "sms": f.mailbox, "inapp": outbox.InAppSender()}, notify.DispatcherOptions{})
	pk, err := passkey.New(db, f.clock, passkey.Config{RPID: passkeyRPID, RPDisplayName: "OKPay", Origins: []string{passkeyOrigin}})
	if err != nil {
		t.Fatal(err)
	}
	deps := identity.Deps{DB: db, Clock: f.clock, IDs: gen, Keys: keyring, Hasher: f.hasher,
		CheckPassword: policy.Check, Outbox: outbox, Catalog: cat, Passkeys: pk}
	if hook != nil {
		hook(&deps)
	}
	f.svc, err = identity.New(deps, identity.Config{BaseURL: "https://okpay.test"})
	if err != nil {
		t.Fatal(err)
	}
	led, err := ledger.New(ctx, db, ledger.Options{Clock: f.clock, IDs: gen, SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(led.Close)
	keys := apikey.NewStore(db, f.clock, gen)
	if _, f.apiKey, err = keys.Create(ctx, "test"); err != nil {
		t.Fatal(err)
	}
	f.api = New(Config{Ledger: led, Keys: keys, Catalog: cat, Identity: f.svc})
	f.mux = http.NewServeMux()
	f.api.Register(f.mux)
	f.srv = httptest.NewServer(f.api.Observe(f.mux))
	t.Cleanup(f.srv.Close)
	return f
}

// client returns an HTTP client whose connections come from ip (any
// 127.0.0.0/8 address), so per-address limits can be told apart.
func (f *idFixture) client(ip string) *http.Client {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c := f.clients[ip]; c != nil {
		return c
	}
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	c := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
	f.clients[ip] = c
	return c
}

// call is one request.
type call struct {
	method, path string
	body         any // JSON-encoded unless a string
	token        string
	cookie       string // the __Host-session cookie
	from         string // source address, 127.0.0.1 by default
	key          string // Idempotency-Key
	header       map[string]string
}

// reply is a response.
type reply struct {
	status int
	header http.Header
	raw    []byte
	obj    map[string]any
}

func (r *reply) str(path ...string) string {
	var v any = r.obj
	for _, p := range path {
		m, _ := v.(map[string]any)
		v = m[p]
	}
	s, _ := v.(string)
	return s
}

func (f *idFixture) do(c call) *reply {
	f.t.Helper()
	var rd io.Reader
	switch b := c.body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			f.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(c.method, f.srv.URL+c.path, rd)
	if err != nil {
		f.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Chrome/130.0")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.cookie != "" {
		req.Header.Set("Cookie", SessionCookie+"="+c.cookie)
	}
	if c.key != "" {
		req.Header.Set("Idempotency-Key", c.key)
	}
	for k, v := range c.header {
		req.Header.Set(k, v)
	}
	from := c.from
	if from == "" {
		from = "127.0.0.1"
	}
	resp, err := f.client(from).Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	out := &reply{status: resp.StatusCode, header: resp.Header}
	out.raw, _ = io.ReadAll(resp.Body)
	if len(out.raw) > 0 {
		if err := json.Unmarshal(out.raw, &out.obj); err != nil {
			f.t.Fatalf("%s %s: the body is not a JSON object: %q", c.method, c.path, out.raw)
		}
	}
	// Every answer of the API, authenticated or not, is not to be cached
	// (SES-10), and names its request.
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		f.t.Errorf("%s %s → %d: Cache-Control %q, want no-store", c.method, c.path, resp.StatusCode, cc)
	}
	if out.status >= 400 {
		if resp.Header.Get("Content-Type") != "application/problem+json" || out.str("request_id") != resp.Header.Get("X-Request-Id") {
			f.t.Errorf("%s %s → %d: not a problem document of this request: %s", c.method, c.path, out.status, out.raw)
		}
		if out.status == 401 && resp.Header.Get("WWW-Authenticate") == "" {
			f.t.Errorf("%s %s → 401 without WWW-Authenticate", c.method, c.path)
		}
	}
	return out
}

// want checks a reply's status and, for problems, its code.
func (f *idFixture) want(r *reply, status int, code string) *reply {
	f.t.Helper()
	if r.status != status || code != "" && r.str("code") != code {
		f.t.Fatalf("status %d %s, want %d %s\nbody: %s", r.status, r.str("code"), status, code, r.raw)
	}
	return r
}

// deliver runs the notification dispatcher until nothing is due.
func (f *idFixture) deliver(t testing.TB) {
	t.Helper()
	for {
		n, err := f.disp.RunOnce(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
}

var codeInMessage = regexp.MustCompile(`\b(\d{6,8})\b`)

// code returns the code of the newest message of kind to "to".
func (f *idFixture) code(to, kind string) string {
	f.t.Helper()
	return f.codeT(f.t, to, kind)
}

func (f *idFixture) codeT(t testing.TB, to, kind string) string {
	t.Helper()
	f.deliver(t)
	// The latest code: the dispatcher sends a batch concurrently, so the
	// mailbox's order is not the queue's; the code's id (in the dedupe
	// key, "code:<id>:<channel>") is.
	code, latest := "", int64(-1)
	for _, m := range f.mailbox.List() {
		if m.To == to && m.Kind == kind {
			parts := strings.Split(m.DedupeKey, ":")
			if len(parts) < 2 {
				continue
			}
			id, _ := strconv.ParseInt(parts[1], 10, 64)
			if c := codeInMessage.FindStringSubmatch(m.Body); c != nil && id > latest {
				code, latest = c[1], id
			}
		}
	}
	if code == "" {
		t.Fatalf("no %s message with a code to %s", kind, to)
	}
	return code
}

func (f *idFixture) messages(to, kind string) []notify.DevMessage {
	f.deliver(f.t)
	var out []notify.DevMessage
	for _, m := range f.mailbox.List() {
		if m.To == to && m.Kind == kind {
			out = append(out, m)
		}
	}
	return out
}

// customer is an account made through the API.
type customer struct {
	email, phone, password string
	token                  string // an AAL2 session
	id                     string // usr_...
}

var customerSeq atomic.Int64

func newCustomer() *customer {
	n := customerSeq.Add(1)
	return &customer{
		email:    fmt.Sprintf("customer%d@example.com", n),
		phone:    fmt.Sprintf("+86138001%05d", n%100000),
		password: fmt.Sprintf("correct horse battery staple %d", n),
	}
}

// signUp opens an account over the API and returns it signed in.
func (f *idFixture) signUp(from string) *customer {
	f.t.Helper()
	c := newCustomer()
	r := f.want(f.do(call{method: "POST", path: "/api/v1/signup", from: from, body: map[string]any{"email": c.email, "phone": c.phone, "password": c.password}}), 202, "")
	flow := r.str("flow_token")
	r = f.want(f.do(call{method: "POST", path: "/api/v1/signup/verify", from: from, body: map[string]any{"flow_token": flow,
		"email_code": f.code(c.email, "code_verify_email"), "phone_code": f.code(c.phone, "code_verify_phone")}}), 200, "")
	c.token = r.str("session", "token")
	c.id = f.want(f.do(call{method: "GET", path: "/api/v1/me", token: c.token}), 200, "").str("id")
	f.clock.Advance(61 * time.Second) // one SMS a minute (MFA-03)
	return c
}

// login signs in with the password and the SMS code and returns the AAL2
// token.
func (f *idFixture) login(c *customer, from string) string {
	f.t.Helper()
	f.clock.Advance(61 * time.Second)
	r := f.want(f.do(call{method: "POST", path: "/api/v1/sessions", from: from, body: map[string]any{"identifier": c.email, "password": c.password}}), 201, "")
	r = f.want(f.do(call{method: "POST", path: "/api/v1/mfa/verify", from: from, token: r.str("token"),
		body: map[string]any{"method": "sms", "code": f.code(c.phone, "code_login")}}), 200, "")
	return r.str("token")
}

// stepUp passes the SMS code again on an AAL2 session and returns its new
// token (with the sudo window open).
func (f *idFixture) stepUp(c *customer, token string) string {
	f.t.Helper()
	f.clock.Advance(61 * time.Second)
	f.want(f.do(call{method: "POST", path: "/api/v1/mfa/sms", token: token}), 202, "")
	r := f.want(f.do(call{method: "POST", path: "/api/v1/mfa/verify", token: token,
		body: map[string]any{"method": "sms", "code": f.code(c.phone, "code_step_up")}}), 200, "")
	return r.str("token")
}

// ---------------------------------------------------------------------------

// The happy path end to end: sign-up, verification, login with the SMS
// code, the account, an authenticator app, login with it, logout.
func TestIdentityHappyPath(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		f := newIDFixture(t, db)
		c := newCustomer()

		r := f.want(f.do(call{method: "POST", path: "/api/v1/signup", body: map[string]any{"email": c.email, "phone": c.phone, "password": c.password, "lang": "en"}}), 202, "")
		flow := r.str("flow_token")
		if len(flow) != 43 || !strings.Contains(r.str("destination"), c.phone[len(c.phone)-4:]) {
			t.Fatalf("sign-up: %s", r.raw)
		}
		// One code at a time: the problem says which contact is done.
		r = f.want(f.do(call{method: "POST", path: "/api/v1/signup/verify", body: map[string]any{"flow_token": flow, "email_code": f.code(c.email, "code_verify_email")}}), 422, "invalid_code")
		if r.obj["email_verified"] != true || r.obj["phone_verified"] != false {
			t.Fatalf("half verified: %s", r.raw)
		}
		f.want(f.do(call{method: "POST", path: "/api/v1/signup/verify", body: map[string]any{"flow_token": flow, "phone_code": "000000"}}), 422, "invalid_code")
		r = f.want(f.do(call{method: "POST", path: "/api/v1/signup/verify", body: map[string]any{"flow_token": flow, "phone_code": f.code(c.phone, "code_verify_phone")}}), 200, "")
		if r.obj["email_verified"] != true || r.obj["phone_verified"] != true || r.obj["session"].(map[string]any)["aal"] != 2.0 || r.str("session", "sudo_until") == "" {
			t.Fatalf("verified: %s", r.raw)
		}
		first := r.str("session", "token")
		// The flow is done.
		f.want(f.do(call{method: "POST", path: "/api/v1/signup/verify", body: map[string]any{"flow_token": flow, "phone_code": "123456"}}), 422, "flow_invalid")

		// The account, by Bearer token and by cookie.
		me := f.want(f.do(call{method: "GET", path: "/api/v1/me", token: first}), 200, "")
		if me.str("email") != c.email || me.obj["email_verified"] != true || me.obj["phone_verified"] != true || me.obj["frozen"] != false ||
			me.obj["totp_enabled"] != false || !strings.HasPrefix(me.str("id"), "usr_") || me.obj["hold_until"] != nil {
			t.Fatalf("me: %s", me.raw)
		}
		f.want(f.do(call{method: "GET", path: "/api/v1/me", cookie: first}), 200, "")

		// Login: the password, then the SMS code.
		f.clock.Advance(61 * time.Second)
		r = f.want(f.do(call{method: "POST", path: "/api/v1/sessions", body: map[string]any{"identifier": c.email, "password": c.password}}), 201, "")
		aal1 := r.str("token")
		if r.obj["aal"] != 1.0 || r.obj["sms_sent"] != true || r.str("destination") == "" || fmt.Sprint(r.obj["methods"]) != "[sms recovery_code]" || r.obj["sms_error"] != nil {
			t.Fatalf("login: %s", r.raw)
		}
		f.want(f.do(call{method: "GET", path: "/api/v1/me", token: aal1}), 401, "mfa_required")
		f.want(f.do(call{method: "POST", path: "/api/v1/mfa/verify", token: aal1, body: map[string]any{"method": "sms", "code": "000000"}}), 422, "invalid_code")
		f.want(f.do(call{method: "POST", path: "/api/v1/mfa/verify", token: aal1, body: map[string]any{"method": "passkey", "code": "x"}}), 422, "validation_failed")
		r = f.want(f.do(call{method: "POST", path: "/api/v1/mfa/verify", token: aal1, body: map[string]any{"method": "sms", "code": f.code(c.phone, "code_login")}}), 200, "")
		second := r.str("token")
		if second == aal1 || r.obj["aal"] != 2.0 || r.str("sudo_until") == "" || r.header.Get("Set-Cookie") != "" {
			t.Fatalf("second factor: %s %v", r.raw, r.header)
		}
		f.want(f.do(call{method: "GET", path: "/api/v1/me", token: aal1}), 401, "unauthorized") // SES-02: the pre-login token is dead

		// An authenticator app, with a code computed as the app would.
		r = f.want(f.do(call{method: "POST", key: "k-432", path: "/api/v1/me/totp", token: second}), 201, "")
		key, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(r.str("secret"))
		if err != nil || !strings.HasPrefix(r.str("otpauth_uri"), "otpauth://totp/") {
			t.Fatalf("totp: %s %v", r.raw, err)
		}
		f.want(f.do(call{method: "POST", key: "k-437", path: "/api/v1/me/totp/confirm", token: second, body: map[string]any{"code": "000000"}}), 422, "invalid_code")
		f.want(f.do(call{method: "POST", key: "k-438", path: "/api/v1/me/totp/confirm", token: second, body: map[string]any{"code": otp.TOTPCode(key, f.clock.Now())}}), 204, "")
		me = f.want(f.do(call{method: "GET", path: "/api/v1/me", token: second}), 200, "")
		if me.obj["totp_enabled"] != true {
			t.Fatalf("after enrolment: %s", me.raw)
		}
		// A factor change ends the other sessions (SES-06).
		f.want(f.do(call{method: "GET", path: "/api/v1/me", token: first}), 401, "unauthorized")

		// Now the app is the default factor: no SMS at login.
		f.clock.Advance(31 * time.Second)
		r = f.want(f.do(call{method: "POST", path: "/api/v1/sessions", body: map[string]any{"identifier": c.phone, "password": c.password}}), 201, "")
		if fmt.Sprint(r.obj["methods"]) != "[totp sms recovery_code]" || r.obj["sms_sent"] != false || r.obj["destination"] != nil {
			t.Fatalf("login with totp: %s", r.raw)
		}
		// The web app: the cookie gets the new token.
		r = f.want(f.do(call{method: "POST", path: "/api/v1/mfa/verify", cookie: r.str("token"), body: map[string]any{"method": "totp", "code": otp.TOTPCode(key, f.clock.Now())}}), 200, "")
		third := r.str("token")
		if sc := r.header.Get("Set-Cookie"); !strings.HasPrefix(sc, SessionCookie+"="+third+";") || !strings.Contains(sc, "HttpOnly") || !strings.Contains(sc, "Secure") || !strings.Contains(sc, "SameSite=Lax") {
			t.Fatalf("Set-Cookie %q", sc)
		}

		// Logout (SES-04): the token is dead at once.
		f.want(f.do(call{method: "DELETE", path: "/api/v1/sessions/current", token: third}), 204, "")
		f.want(f.do(call{method: "GET", path: "/api/v1/me", token: third}), 401, "unauthorized")
		r = f.want(f.do(call{method: "DELETE", path: "/api/v1/sessions/current", cookie: second}), 204, "")
		if sc := r.header.Get("Set-Cookie"); !strings.Contains(sc, "Max-Age=0") {
			t.Fatalf("logout by cookie: Set-Cookie %q", sc)
		}
		f.want(f.do(call{method: "GET", path: "/api/v1/me", cookie: second}), 401, "unauthorized")
	})
}

// MFA-01: an AAL1 session gets 401 mfa_required everywhere but the
// second-factor step, logout and freeze.
func TestMFA01_AAL1OnlyReachesTheSecondFactorLogoutAndFreeze(t *testing.T) {
	t.Parallel()
	f := newIDFixture(t, sqldbtest.Open(t, sqldb.SQLite))
	c := f.signUp("")
	f.clock.Advance(61 * time.Second)
	aal1 := f.want(f.do(call{method: "POST", path: "/api/v1/sessions", body: map[string]any{"identifier": c.email, "password": c.password}}), 201, "").str("token")
	var open []string
	for _, rt := range identityRoutes {
		if rt.Auth == AuthPublic {
			continue
		}
		if rt.Auth == AuthSessionAAL1 {
			open = append(open, rt.Method+" "+rt.Pattern)
			continue
		}
		path := strings.ReplaceAll(rt.Pattern, "{id}", "ses_0000000000001")
		f.want(f.do(call{method: rt.Method, path: path, token: aal1, body: "{}"}), 401, "mfa_required")
	}
	want := "[DELETE /api/v1/sessions/current POST /api/v1/mfa/sms POST /api/v1/mfa/verify POST /api/v1/mfa/passkey POST /api/v1/mfa/passkey/finish POST /api/v1/me/freeze]"
	if fmt.Sprint(open) != want {
		t.Fatalf("routes open to AAL1: %v, want %s", open, want)
	}
	// Those accept it.
	f.want(f.do(call{method: "POST", path: "/api/v1/mfa/verify", token: aal1, body: map[string]any{"method": "sms", "code": "111111"}}), 422, "invalid_code")
	f.want(f.do(call{method: "DELETE", path: "/api/v1/sessions/current", token: aal1}), 204, "")
	f.clock.Advance(61 * time.Second)
	aal1 = f.want(f.do(call{method: "POST", path: "/api/v1/sessions", body: map[string]any{"identifier": c.email, "password": c.password}}), 201, "").str("token")
	f.clock.Advance(61 * time.Second)
	f.want(f.do(call{method: "POST", path: "/api/v1/mfa/sms", token: aal1}), 202, "")
	f.want(f.do(call{method: "POST", key: "k-501", path: "/api/v1/me/freeze", token: aal1}), 204, "")
	// The freeze ended every session, this one too (SES-07).
	f.want(f.do(call{method: "GET", path: "/api/v1/me", token: c.token}), 401, "unauthorized")
	f.want(f.do(call{method: "POST", path: "/api/v1/mfa/sms", token: aal1}), 401, "unauthorized")
	// RSK-05: a frozen account still signs in, to a read-only view.
	me := f.want(f.do(call{method: "GET", path: "/api/v1/me", token: f.login(c, "")}), 200, "")
	if me.obj["frozen"] != true || me.str("frozen_at") == "" {
		t.Fatalf("frozen account: %s", me.raw)
	}
}

// LOG-01: unknown user, wrong password, frozen account and blocked account
// answer the same status and the same body, byte for byte but for the
// request id.
func TestLOG01_LoginFailuresAreByteIdentical(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		f := newIDFixture(t, db)
		a := f.signUp("")
		frozen := f.signUp("")
		f.want(f.do(call{method: "POST", key: "k-521", path: "/api/v1/me/freeze", token: frozen.token}), 204, "")
		login := func(id, pw, rid string) *reply {
			var h map[string]string
			if rid != "" {
				h = map[string]string{"X-Request-Id": rid}
			}
			return f.do(call{method: "POST", path: "/api/v1/sessions", from: "127.0.0.2", header: h, body: map[string]any{"identifier": id, "password": pw}})
		}
		type failure struct {
			name string
			r    *reply
			same *reply // with a fixed client request id
		}
		var fails []failure
		add := func(name, id, pw string) {
			fails = append(fails, failure{name, login(id, pw, ""), login(id, pw, "client-req-0001")})
		}
		add("unknown user", "nobody@example.com", a.password)
		add("unknown phone", "+8613900000000", a.password)
		add("wrong password", a.email, a.password+"x")
		add("frozen account", frozen.email, frozen.password+"x")
		// a has 2 failures; 3 more block it (LOG-04), and then even the
		// right password fails alike.
		for i := 0; i < 3; i++ {
			login(a.email, fmt.Sprintf("wrong %d", i), "")
		}
		add("blocked account", a.email, a.password)
		ref := fails[0]
		for _, x := range fails {
			if x.r.status != 401 || x.r.str("code") != "invalid_credentials" {
				t.Fatalf("%s: %d %s", x.name, x.r.status, x.r.raw)
			}
			rid := x.r.str("request_id")
			if rid == "" || rid == ref.r.str("request_id") && x.name != ref.name {
				t.Fatalf("%s: request_id %q", x.name, rid)
			}
			// The request id is the one difference.
			norm := bytes.Replace(x.r.raw, []byte(`"request_id":"`+rid+`"`), []byte(`"request_id":""`), 1)
			refNorm := bytes.Replace(ref.r.raw, []byte(`"request_id":"`+ref.r.str("request_id")+`"`), []byte(`"request_id":""`), 1)
			if !bytes.Equal(norm, refNorm) {
				t.Errorf("%s: body\n%s\ndiffers from the %s body\n%s", x.name, x.r.raw, ref.name, ref.r.raw)
			}
			// With the same client request id the bodies are identical.
			if !bytes.Equal(x.same.raw, ref.same.raw) || x.same.status != 401 {
				t.Errorf("%s: with one request id, body\n%s\ndiffers from\n%s", x.name, x.same.raw, ref.same.raw)
			}
			for _, h := range []string{"Content-Type", "WWW-Authenticate", "Cache-Control", "Content-Length"} {
				if x.r.header.Get(h) != ref.r.header.Get(h) {
					t.Errorf("%s: header %s %q, %s has %q", x.name, h, x.r.header.Get(h), ref.name, ref.r.header.Get(h))
				}
			}
		}
		if len(f.messages(a.email, identity.NoteLockout)) != 1 {
			t.Error("the owner was not told of the block")
		}
	})
}

// LOG-06 and MFA-03 over HTTP: 429 rate_limited with Retry-After.
func TestRateLimitsAnswer429WithRetryAfter(t *testing.T) {
	t.Parallel()
	f := newIDFixture(t, sqldbtest.Open(t, sqldb.SQLite))
	c := f.signUp("")

	// The SMS code of a login went out just now: another within the
	// minute is refused.
	f.clock.Advance(61 * time.Second)
	aal1 := f.want(f.do(call{method: "POST", path: "/api/v1/sessions", body: map[string]any{"identifier": c.email, "password": c.password}}), 201, "").str("token")
	f.clock.Advance(20 * time.Second)
	r := f.want(f.do(call{method: "POST", path: "/api/v1/mfa/sms", token: aal1}), 429, "rate_limited")
	if ra := r.header.Get("Retry-After"); ra != "40" {
		t.Fatalf("Retry-After %q, want 40", ra)
	}
	// A login whose SMS is throttled still succeeds, and says why.
	r = f.want(f.do(call{method: "POST", path: "/api/v1/sessions", body: map[string]any{"identifier": c.email, "password": c.password}}), 201, "")
	if r.obj["sms_sent"] != false || r.str("sms_error", "code") != "rate_limited" || r.obj["sms_error"].(map[string]any)["retry_after"] != 40.0 {
		t.Fatalf("throttled login: %s", r.raw)
	}

	// More than 20 login attempts a minute from one address.
	for i := 0; i < 20; i++ {
		f.want(f.do(call{method: "POST", path: "/api/v1/sessions", from: "127.0.0.3", body: map[string]any{"identifier": "nobody@example.com", "password": "whatever it is"}}), 401, "invalid_credentials")
	}
	r = f.want(f.do(call{method: "POST", path: "/api/v1/sessions", from: "127.0.0.3", body: map[string]any{"identifier": c.email, "password": c.password}}), 429, "rate_limited")
	if ra := r.header.Get("Retry-After"); ra == "" || ra == "0" || strings.Trim(ra, "0123456789") != "" {
		t.Fatalf("Retry-After %q", ra)
	}
	// Another address is not affected.
	f.want(f.do(call{method: "POST", path: "/api/v1/sessions", from: "127.0.0.4", body: map[string]any{"identifier": c.email, "password": c.password}}), 201, "")
}

// SES-05: the sessions list; ending a session needs the sudo window, and
// another customer's session is not found (API-02).
func TestSES05_SessionsAndRevocation(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		f := newIDFixture(t, db)
		a := f.signUp("")
		b := f.signUp("")
		other := f.login(a, "127.0.0.5")
		bSessions := f.want(f.do(call{method: "GET", path: "/api/v1/sessions", token: b.token}), 200, "")
		bSession := bSessions.obj["data"].([]any)[0].(map[string]any)["id"].(string)

		r := f.want(f.do(call{method: "GET", path: "/api/v1/sessions", token: a.token}), 200, "")
		data := r.obj["data"].([]any)
		if len(data) != 2 || r.obj["has_more"] != false || r.obj["next_cursor"] != nil {
			t.Fatalf("a's sessions: %s", r.raw)
		}
		newest, oldest := data[0].(map[string]any), data[1].(map[string]any)
		if newest["current"] != false || oldest["current"] != true || newest["ip"] != "127.0.0.5" || newest["device"] != "Chrome / Linux" ||
			!strings.HasPrefix(newest["id"].(string), "ses_") {
			t.Fatalf("a's sessions: %s", r.raw)
		}
		otherID := newest["id"].(string)
		// Pages.
		r = f.want(f.do(call{method: "GET", path: "/api/v1/sessions?limit=1", token: a.token}), 200, "")
		if len(r.obj["data"].([]any)) != 1 || r.obj["has_more"] != true || r.str("next_cursor") != otherID {
			t.Fatalf("page 1: %s", r.raw)
		}
		r = f.want(f.do(call{method: "GET", path: "/api/v1/sessions?limit=1&cursor=" + otherID, token: a.token}), 200, "")
		if len(r.obj["data"].([]any)) != 1 || r.obj["has_more"] != false || r.obj["data"].([]any)[0].(map[string]any)["current"] != true {
			t.Fatalf("page 2: %s", r.raw)
		}
		f.want(f.do(call{method: "GET", path: "/api/v1/sessions?limit=101", token: a.token}), 422, "validation_failed")
		f.want(f.do(call{method: "GET", path: "/api/v1/sessions?cursor=usr_0000000000001", token: a.token}), 422, "validation_failed")

		// The sudo window (10 minutes) has closed; the session is alive.
		f.clock.Advance(11 * time.Minute)
		f.want(f.do(call{method: "GET", path: "/api/v1/me", token: a.token}), 200, "")
		f.want(f.do(call{method: "POST", key: "k-650", path: "/api/v1/sessions/" + otherID + "/revoke", token: a.token}), 403, "step_up_required")
		f.want(f.do(call{method: "POST", key: "k-651", path: "/api/v1/sessions/revoke-others", token: a.token}), 403, "step_up_required")
		f.want(f.do(call{method: "GET", path: "/api/v1/me", token: other}), 200, "")
		a.token = f.stepUp(a, a.token)

		// API-02: b's session is not found for a, malformed ids neither.
		f.want(f.do(call{method: "POST", key: "k-656", path: "/api/v1/sessions/" + bSession + "/revoke", token: a.token}), 404, "not_found")
		f.want(f.do(call{method: "POST", key: "k-657", path: "/api/v1/sessions/usr_0000000000001/revoke", token: a.token}), 404, "not_found")
		f.want(f.do(call{method: "POST", key: "k-658", path: "/api/v1/sessions/nope/revoke", token: a.token}), 404, "not_found")
		f.want(f.do(call{method: "GET", path: "/api/v1/me", token: b.token}), 200, "")

		// Revoked: the next request is refused (no caching delay).
		f.want(f.do(call{method: "POST", key: "k-662", path: "/api/v1/sessions/" + otherID + "/revoke", token: a.token, body: "{}"}), 204, "")
		f.want(f.do(call{method: "GET", path: "/api/v1/me", token: other}), 401, "unauthorized")
		f.want(f.do(call{method: "POST", key: "k-664", path: "/api/v1/sessions/" + otherID + "/revoke", token: a.token}), 404, "not_found")

		// All the others.
		f.login(a, "127.0.0.6")
		f.login(a, "127.0.0.7")
		r = f.want(f.do(call{method: "POST", path: "/api/v1/sessions/revoke-others", token: a.token, header: map[string]string{"Idempotency-Key": "revoke-1"}}), 200, "")
		if r.obj["revoked"] != 2.0 {
			t.Fatalf("revoke others: %s", r.raw)
		}
		r = f.want(f.do(call{method: "GET", path: "/api/v1/sessions", token: a.token}), 200, "")
		if len(r.obj["data"].([]any)) != 1 {
			t.Fatalf("after revoking the others: %s", r.raw)
		}
		f.want(f.do(call{method: "POST", path: "/api/v1/sessions/revoke-others", token: a.token, header: map[string]string{"Idempotency-Key": "has space"}}), 400, "invalid_request")
		f.want(f.do(call{method: "POST", key: "k-678", path: "/api/v1/sessions/revoke-others", token: a.token, body: `{"all": true}`}), 400, "invalid_request")
	})
}

// REC-01: forgot-password answers the same for unknown identifiers; then
// a whole reset, with the second factor on the other channel (MFA-10).
func TestREC01_ForgotPasswordAndReset(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		f := newIDFixture(t, db)
		c := f.signUp("")
		before := f.mailbox.List()

		shape := func(r *reply) string {
			var keys []string
			for k, v := range r.obj {
				keys = append(keys, fmt.Sprintf("%s:%T:%d", k, v, len(fmt.Sprint(v))))
			}
			sort.Strings(keys)
			return fmt.Sprint(r.status, keys, r.header.Get("Content-Type"), r.header.Get("Content-Length"))
		}
		known := f.do(call{method: "POST", path: "/api/v1/password/forgot", body: map[string]any{"identifier": c.phone, "channel": "sms"}})
		unknown := f.do(call{method: "POST", path: "/api/v1/password/forgot", body: map[string]any{"identifier": "+8613912345678", "channel": "sms"}})
		unknownEmail := f.do(call{method: "POST", path: "/api/v1/password/forgot", body: map[string]any{"identifier": "nobody@example.com", "channel": "email"}})
		f.want(known, 202, "")
		for _, r := range []*reply{unknown, unknownEmail} {
			if shape(r) != shape(known) {
				t.Fatalf("forgot: unknown %s (%s), known %s (%s)", shape(r), r.raw, shape(known), known.raw)
			}
		}
		f.want(f.do(call{method: "POST", path: "/api/v1/password/forgot", body: map[string]any{"identifier": c.phone, "channel": "fax"}}), 422, "validation_failed")
		f.want(f.do(call{method: "POST", path: "/api/v1/password/forgot", body: map[string]any{"identifier": "not an identifier", "channel": "sms"}}), 422, "validation_failed")
		// Nothing about the account changed (REC-01): it still signs in.
		f.login(c, "")

		// A decoy flow fails like a wrong code.
		f.want(f.do(call{method: "POST", path: "/api/v1/password/reset/code", body: map[string]any{"flow_token": unknown.str("flow_token"), "code": "12345678"}}), 422, "invalid_code")
		flow := known.str("flow_token")
		f.want(f.do(call{method: "POST", path: "/api/v1/password/reset/code", body: map[string]any{"flow_token": flow, "code": "12345678"}}), 422, "invalid_code")
		f.want(f.do(call{method: "POST", path: "/api/v1/password/reset/factor/send", body: map[string]any{"flow_token": flow}}), 422, "flow_invalid")
		r := f.want(f.do(call{method: "POST", path: "/api/v1/password/reset/code", body: map[string]any{"flow_token": flow, "code": f.code(c.phone, "code_reset")}}), 200, "")
		if fmt.Sprint(r.obj["methods"]) != "[email recovery_code]" || r.obj["code_verified"] != true || r.obj["factor_verified"] != false {
			t.Fatalf("reset code: %s", r.raw)
		}
		// MFA-10: not SMS again.
		f.want(f.do(call{method: "POST", path: "/api/v1/password/reset/factor", body: map[string]any{"flow_token": flow, "method": "sms", "code": "123456"}}), 422, "factor_unavailable")
		f.want(f.do(call{method: "POST", path: "/api/v1/password/reset", body: map[string]any{"flow_token": flow, "new_password": "a brand new passphrase"}}), 422, "flow_invalid")
		f.want(f.do(call{method: "POST", path: "/api/v1/password/reset/factor/send", body: map[string]any{"flow_token": flow}}), 202, "")
		r = f.want(f.do(call{method: "POST", path: "/api/v1/password/reset/factor", body: map[string]any{"flow_token": flow, "method": "email", "code": f.code(c.email, "code_reset_factor")}}), 200, "")
		if r.obj["factor_verified"] != true {
			t.Fatalf("reset factor: %s", r.raw)
		}
		f.want(f.do(call{method: "POST", path: "/api/v1/password/reset", body: map[string]any{"flow_token": flow, "new_password": "okpay" + c.email}}), 422, "password_contextual")
		r = f.want(f.do(call{method: "POST", path: "/api/v1/password/reset", body: map[string]any{"flow_token": flow, "new_password": "password"}}), 422, "password_common")
		if r.obj["errors"].(map[string]any)["new_password"] == nil {
			t.Fatalf("the policy's message is not on new_password: %s", r.raw)
		}
		f.want(f.do(call{method: "POST", path: "/api/v1/password/reset", body: map[string]any{"flow_token": flow, "new_password": "a brand new passphrase"}}), 204, "")
		f.want(f.do(call{method: "POST", path: "/api/v1/password/reset", body: map[string]any{"flow_token": flow, "new_password": "a brand new passphrase"}}), 422, "flow_invalid")
		// REC-05: every session ended, nobody signed in, a 24 h hold.
		f.want(f.do(call{method: "GET", path: "/api/v1/me", token: c.token}), 401, "unauthorized")
		f.clock.Advance(61 * time.Second)
		f.want(f.do(call{method: "POST", path: "/api/v1/sessions", body: map[string]any{"identifier": c.email, "password": c.password}}), 401, "invalid_credentials")
		c.password = "a brand new passphrase"
		me := f.want(f.do(call{method: "GET", path: "/api/v1/me", token: f.login(c, "")}), 200, "")
		if me.str("hold_until") == "" {
			t.Fatalf("no hold after the reset: %s", me.raw)
		}
		// No message went to the unknown identifiers.
		all := f.mailbox.List()
		for _, m := range all[:len(all)-len(before)] {
			if m.To == "+8613912345678" || m.To == "nobody@example.com" {
				t.Fatalf("a message went to an unknown identifier: %+v", m)
			}
		}
	})
}

// PWD-02: a password over 1024 bytes is 400 before any hashing.
func TestPWD02_TooLongPasswordIs400BeforeHashing(t *testing.T) {
	t.Parallel()
	f := newIDFixture(t, sqldbtest.Open(t, sqldb.SQLite))
	c := f.signUp("")
	long := strings.Repeat("a", password.MaxBytes+1)
	before := f.hasher.calls.Load()
	start := time.Now()
	r := f.want(f.do(call{method: "POST", path: "/api/v1/signup", body: map[string]any{"email": "long@example.com", "phone": "+8613700137000", "password": long}}), 400, "password_too_long")
	elapsed := time.Since(start)
	if r.obj["errors"].(map[string]any)["password"] == nil {
		t.Fatalf("no field message: %s", r.raw)
	}
	f.want(f.do(call{method: "POST", key: "k-769", path: "/api/v1/me/password", token: c.token, body: map[string]any{"current_password": c.password, "new_password": long}}), 400, "password_too_long")
	f.want(f.do(call{method: "POST", key: "k-770", path: "/api/v1/me/password", token: c.token, body: map[string]any{"current_password": long, "new_password": "another fine passphrase"}}), 400, "password_too_long")
	f.want(f.do(call{method: "POST", path: "/api/v1/password/reset", body: map[string]any{"flow_token": "x", "new_password": long}}), 400, "password_too_long")
	if n := f.hasher.calls.Load() - before; n != 0 {
		t.Fatalf("%d argon2 computations for passwords over 1024 bytes", n)
	}
	if elapsed > 100*time.Millisecond { // generous: PWD-02 asks < 5 ms of handler time
		t.Errorf("the refusal took %v", elapsed)
	}
	// 1024 bytes is not too long.
	r = f.do(call{method: "POST", path: "/api/v1/signup", body: map[string]any{"email": "long@example.com", "phone": "+8613700137000", "password": long[1:]}})
	if r.str("code") == "password_too_long" {
		t.Fatalf("1024 bytes: %s", r.raw)
	}
	// The other password rules are 422 with their own code (PWD-05).
	f.want(f.do(call{method: "POST", path: "/api/v1/signup", body: map[string]any{"email": "short@example.com", "phone": "+8613700137001", "password": "1234567"}}), 422, "password_too_short")
	f.want(f.do(call{method: "POST", path: "/api/v1/signup", body: map[string]any{"email": "x@example.com", "phone": "+8613700137002", "password": "password1"}}), 422, "password_common")
}

// The password change: the current password, the sudo window, and the
// other sessions end (PWD-06, SES-06).
func TestChangePassword(t *testing.T) {
	t.Parallel()
	f := newIDFixture(t, sqldbtest.Open(t, sqldb.SQLite))
	c := f.signUp("")
	other := f.login(c, "127.0.0.8")
	r := f.want(f.do(call{method: "POST", key: "k-795", path: "/api/v1/me/password", token: c.token, body: map[string]any{"current_password": "not it", "new_password": "another fine passphrase"}}), 422, "validation_failed")
	if r.obj["errors"].(map[string]any)["current_password"] == nil {
		t.Fatalf("wrong current password: %s", r.raw)
	}
	f.want(f.do(call{method: "POST", key: "k-799", path: "/api/v1/me/password", token: c.token, body: map[string]any{"current_password": c.password}}), 422, "validation_failed")
	f.want(f.do(call{method: "POST", key: "k-800", path: "/api/v1/me/password", token: c.token, body: map[string]any{"current_password": c.password, "new_password": "short"}}), 422, "password_too_short")
	f.want(f.do(call{method: "POST", key: "k-801", path: "/api/v1/me/password", token: c.token, body: map[string]any{"current_password": c.password, "new_password": "another fine passphrase"}}), 204, "")
	f.want(f.do(call{method: "GET", path: "/api/v1/me", token: other}), 401, "unauthorized")
	f.want(f.do(call{method: "GET", path: "/api/v1/me", token: c.token}), 200, "")
	f.clock.Advance(11 * time.Minute)
	f.want(f.do(call{method: "POST", key: "k-805", path: "/api/v1/me/password", token: c.token, body: map[string]any{"current_password": "another fine passphrase", "new_password": "yet another passphrase"}}), 403, "step_up_required")
}

// Recovery codes, and disabling the authenticator app, need the sudo
// window; a recovery code signs in once.
func TestRecoveryCodesAndTOTPDisable(t *testing.T) {
	t.Parallel()
	f := newIDFixture(t, sqldbtest.Open(t, sqldb.SQLite))
	c := f.signUp("")
	r := f.want(f.do(call{method: "POST", path: "/api/v1/me/recovery-codes", token: c.token, header: map[string]string{"Idempotency-Key": "codes-1"}}), 201, "")
	codes := r.obj["codes"].([]any)
	if len(codes) != 10 {
		t.Fatalf("recovery codes: %s", r.raw)
	}
	if me := f.want(f.do(call{method: "GET", path: "/api/v1/me", token: c.token}), 200, ""); me.obj["recovery_codes_remaining"] != 10.0 {
		t.Fatalf("me: %s", me.raw)
	}
	f.clock.Advance(61 * time.Second)
	aal1 := f.want(f.do(call{method: "POST", path: "/api/v1/sessions", body: map[string]any{"identifier": c.email, "password": c.password}}), 201, "").str("token")
	tok := f.want(f.do(call{method: "POST", path: "/api/v1/mfa/verify", token: aal1, body: map[string]any{"method": "recovery_code", "code": codes[0]}}), 200, "").str("token")
	me := f.want(f.do(call{method: "GET", path: "/api/v1/me", token: tok}), 200, "")
	if me.obj["recovery_codes_remaining"] != 9.0 || me.str("hold_until") == "" {
		t.Fatalf("after a recovery code: %s", me.raw)
	}
	f.want(f.do(call{method: "DELETE", path: "/api/v1/me/totp", token: tok}), 204, "") // nothing to remove
	f.want(f.do(call{method: "POST", key: "k-830", path: "/api/v1/me/totp/confirm", token: tok, body: map[string]any{"code": "123456"}}), 422, "flow_invalid")
	f.clock.Advance(11 * time.Minute)
	f.want(f.do(call{method: "POST", key: "k-832", path: "/api/v1/me/recovery-codes", token: tok}), 403, "step_up_required")
	f.want(f.do(call{method: "POST", key: "k-833", path: "/api/v1/me/totp", token: tok}), 403, "step_up_required")
	f.want(f.do(call{method: "DELETE", path: "/api/v1/me/totp", token: tok}), 403, "step_up_required")
}

// NOT-05: a notification's freeze link freezes without a login, once;
// using it again is harmless.
func TestNOT05_FreezeByLink(t *testing.T) {
	t.Parallel()
	f := newIDFixture(t, sqldbtest.Open(t, sqldb.SQLite))
	c := f.signUp("")
	f.login(c, "") // a new device: a security notification with a link
	notes := f.messages(c.email, identity.NoteNewDevice)
	if len(notes) == 0 {
		t.Fatal("no new-device notification")
	}
	link := regexp.MustCompile(`https://okpay\.test/freeze/([A-Za-z0-9_-]+)`).FindStringSubmatch(notes[0].Body)
	if link == nil {
		t.Fatalf("no link in %q", notes[0].Body)
	}
	f.want(f.do(call{method: "POST", path: "/api/v1/freeze", body: map[string]any{"token": link[1]}}), 204, "")
	f.want(f.do(call{method: "POST", path: "/api/v1/freeze", body: map[string]any{"token": link[1]}}), 204, "")
	f.want(f.do(call{method: "POST", path: "/api/v1/freeze", body: map[string]any{"token": "bogus"}}), 422, "flow_invalid")
	f.want(f.do(call{method: "POST", path: "/api/v1/freeze", body: map[string]any{}}), 422, "validation_failed")
	f.want(f.do(call{method: "GET", path: "/api/v1/me", token: c.token}), 401, "unauthorized")
}

// LOG-10: signing up with a taken identifier looks the same, and the
// resend of a decoy flow checks its channel like a real one.
func TestLOG10_SignupWithATakenIdentifier(t *testing.T) {
	t.Parallel()
	f := newIDFixture(t, sqldbtest.Open(t, sqldb.SQLite))
	c := f.signUp("")
	fresh := f.do(call{method: "POST", path: "/api/v1/signup", body: map[string]any{"email": "fresh@example.com", "phone": "+8613600136000", "password": "a fine long passphrase"}})
	taken := f.do(call{method: "POST", path: "/api/v1/signup", body: map[string]any{"email": c.email, "phone": "+8613600136001", "password": "a fine long passphrase"}})
	f.want(fresh, 202, "")
	f.want(taken, 202, "")
	if len(fresh.obj) != len(taken.obj) || len(taken.str("flow_token")) != 43 || len(fresh.raw) != len(taken.raw) {
		t.Fatalf("fresh %s, taken %s", fresh.raw, taken.raw)
	}
	for _, r := range []*reply{fresh, taken} {
		f.want(f.do(call{method: "POST", path: "/api/v1/signup/resend", body: map[string]any{"flow_token": r.str("flow_token"), "channel": "fax"}}), 422, "validation_failed")
		// Within a minute of the first codes, a resend is refused alike.
		f.want(f.do(call{method: "POST", path: "/api/v1/signup/resend", body: map[string]any{"flow_token": r.str("flow_token"), "channel": "email"}}), 429, "rate_limited")
		r2 := f.want(f.do(call{method: "POST", path: "/api/v1/signup/verify", body: map[string]any{"flow_token": r.str("flow_token"), "email_code": "123456"}}), 422, "invalid_code")
		if r2.obj["email_verified"] != false || r2.obj["phone_verified"] != false {
			t.Fatalf("verify: %s", r2.raw)
		}
	}
	if len(f.messages(c.email, identity.NoteRegisterAttempt)) != 1 {
		t.Fatal("the owner was not told")
	}
}

// Credentials of one kind never open the routes of the other.
func TestAPIKeysAndSessionsAreSeparate(t *testing.T) {
	t.Parallel()
	f := newIDFixture(t, sqldbtest.Open(t, sqldb.SQLite))
	c := f.signUp("")
	f.want(f.do(call{method: "GET", path: "/api/v1/me", token: f.apiKey}), 401, "unauthorized")
	f.want(f.do(call{method: "GET", path: "/api/v1/me", token: "okp_" + c.token[4:]}), 401, "unauthorized")
	f.want(f.do(call{method: "GET", path: "/api/v1/accounts?owner=x", token: c.token}), 401, "unauthorized")
	f.want(f.do(call{method: "GET", path: "/api/v1/me"}), 401, "unauthorized")
	f.want(f.do(call{method: "GET", path: "/api/v1/me", header: map[string]string{"Authorization": "Basic eDp5"}}), 401, "unauthorized")
	f.want(f.do(call{method: "GET", path: "/api/v1/me", token: strings.Repeat("x", 200)}), 401, "unauthorized")
	// A header wins over a cookie.
	f.want(f.do(call{method: "GET", path: "/api/v1/me", token: "not-a-session", cookie: c.token}), 401, "unauthorized")
	f.want(f.do(call{method: "GET", path: "/api/v1/me", token: c.token, cookie: "not-a-session"}), 200, "")
	// An idle session times out (SES-03).
	f.clock.Advance(16 * time.Minute)
	f.want(f.do(call{method: "GET", path: "/api/v1/me", token: c.token}), 401, "session_expired")
	f.want(f.do(call{method: "GET", path: "/api/v1/me", token: c.token}), 401, "unauthorized")
	// Methods and unknown paths.
	f.want(f.do(call{method: "GET", path: "/api/v1/sessions/current"}), 405, "method_not_allowed")
	f.want(f.do(call{method: "PUT", path: "/api/v1/me"}), 405, "method_not_allowed")
}

// Without an identity service the identity routes do not exist.
func TestIdentityRoutesNeedTheService(t *testing.T) {
	t.Parallel()
	f := startAPI(t, sqldbtest.Open(t, sqldb.SQLite), "")
	for _, rt := range identityRoutes {
		path := strings.ReplaceAll(rt.Pattern, "{id}", "ses_0000000000001")
		st, _, out := f.do(rt.Method, path, "", "{}")
		if st != 404 || out["code"] != "not_found" {
			t.Errorf("%s %s without identity: %d %v", rt.Method, path, st, out)
		}
	}
}

// Problem documents: hold_until for a hold, Retry-After for limits.
func TestIdentityProblems(t *testing.T) {
	t.Parallel()
	cat, err := i18n.New()
	if err != nil {
		t.Fatal(err)
	}
	s := New(Config{Catalog: cat})
	until := time.Date(2026, 11, 26, 9, 30, 0, 0, time.UTC)
	st, body := s.problem(&identity.HoldError{Until: until, Reason: "password_reset"}, i18n.En, "req_test0001")
	var p map[string]any
	if err := json.Unmarshal(body, &p); err != nil || st != 403 || p["code"] != "hold_active" || p["hold_until"] != "2026-11-26T09:30:00Z" {
		t.Fatalf("hold: %d %s %v", st, body, err)
	}
	st, body = s.problem(&identity.HoldError{Until: until}, i18n.ZhCN, "req_test0001")
	if err := json.Unmarshal(body, &p); err != nil || st != 403 || p["title"] == "Security hold" || p["hold_until"] == nil {
		t.Fatalf("hold in Chinese: %d %s", st, body)
	}
	w := httptest.NewRecorder()
	s.writeError(w, httptest.NewRequest("GET", "/", nil), &identity.RateLimitError{RetryAfter: 1500 * time.Millisecond})
	if w.Code != 429 || w.Header().Get("Retry-After") != "2" {
		t.Fatalf("rate limit: %d %v", w.Code, w.Header())
	}
	for d, want := range map[time.Duration]int64{0: 1, time.Millisecond: 1, time.Second: 1, 59*time.Second + 1: 60, time.Hour: 3600} {
		if got := retryAfterSeconds(d); got != want {
			t.Errorf("retryAfterSeconds(%v) = %d, want %d", d, got, want)
		}
	}
}

// A concurrent duplicate of a security change with the same
// Idempotency-Key is refused while the first runs; once it is done, the
// key replays its stored answer.
func TestSecurityIdempotencyKeyInFlight(t *testing.T) {
	t.Parallel()
	f := newIDFixture(t, sqldbtest.Open(t, sqldb.SQLite))
	entered, release := make(chan struct{}, 10), make(chan struct{})
	var runs atomic.Int64
	h := f.api.securityKey("POST /api/v1/sessions/revoke-others", func(w http.ResponseWriter, r *http.Request, c *caller) {
		if runs.Add(1) == 1 { // the first request waits
			entered <- struct{}{}
			<-release
		}
		writeJSON(w, http.StatusOK, []byte(`{"revoked":0}`))
	})
	c := &caller{id: "usr_0000000000001"}
	req := func(key string) *http.Request {
		r := httptest.NewRequest("POST", "/api/v1/sessions/revoke-others", nil)
		if key != "" {
			r.Header.Set("Idempotency-Key", key)
		}
		return r
	}
	first := httptest.NewRecorder()
	done := make(chan struct{})
	go func() { h(first, req("k-1"), c); close(done) }()
	<-entered
	dup := httptest.NewRecorder()
	h(dup, req("k-1"), c)
	if dup.Code != 409 || !strings.Contains(dup.Body.String(), "idempotency_request_in_flight") {
		t.Fatalf("duplicate: %d %s", dup.Code, dup.Body)
	}
	// Another customer's request with the same key is another request.
	other := httptest.NewRecorder()
	h(other, req("k-1"), &caller{id: "usr_0000000000002"})
	if other.Code != 200 || other.Header().Get("Idempotent-Replayed") != "" {
		t.Fatalf("another customer: %d %v", other.Code, other.Header())
	}
	close(release)
	<-done
	if first.Code != 200 {
		t.Fatalf("first %d", first.Code)
	}
	again := httptest.NewRecorder()
	h(again, req("k-1"), c)
	if again.Code != 200 || again.Header().Get("Idempotent-Replayed") != "true" || again.Body.String() != `{"revoked":0}` || runs.Load() != 2 {
		t.Fatalf("replay: %d %v %s (runs %d)", again.Code, again.Header(), again.Body, runs.Load())
	}
	for k, want := range map[string]string{"": "idempotency_key_required", strings.Repeat("k", 256): "invalid_request", "has space": "invalid_request"} {
		w := httptest.NewRecorder()
		h(w, req(k), c)
		if w.Code != 400 || !strings.Contains(w.Body.String(), want) {
			t.Fatalf("key %q: %d %s", k, w.Code, w.Body)
		}
	}
}

// API-04: X-Forwarded-For names the client only behind a trusted proxy.
func TestClientAddressFromTrustedProxiesOnly(t *testing.T) {
	t.Parallel()
	f := newIDFixture(t, sqldbtest.Open(t, sqldb.SQLite))
	c := f.signUp("")
	xff := map[string]string{"X-Forwarded-For": "198.51.100.7"}
	f.want(f.do(call{method: "POST", path: "/api/v1/sessions", from: "127.0.0.11", header: xff, body: map[string]any{"identifier": c.email, "password": c.password}}), 201, "")

	proxies, err := clientip.New("127.0.0.12")
	if err != nil {
		t.Fatal(err)
	}
	_, cat := shared(t)
	behind := New(Config{Catalog: cat, Identity: f.svc, ClientIP: proxies})
	mux := http.NewServeMux()
	behind.Register(mux)
	srv := httptest.NewServer(behind.Observe(mux))
	defer srv.Close()
	body := strings.NewReader(fmt.Sprintf(`{"identifier": %q, "password": %q}`, c.email, c.password))
	req, _ := http.NewRequest("POST", srv.URL+"/api/v1/sessions", body)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-For", "203.0.113.9, 198.51.100.8")
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.12")}}
	resp, err := (&http.Client{Transport: &http.Transport{DialContext: d.DialContext}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("login behind the proxy: %d", resp.StatusCode)
	}

	r := f.want(f.do(call{method: "GET", path: "/api/v1/sessions", token: c.token}), 200, "")
	var ips []string
	for _, s := range r.obj["data"].([]any) {
		ips = append(ips, s.(map[string]any)["ip"].(string))
	}
	if fmt.Sprint(ips) != "[198.51.100.8 127.0.0.11 127.0.0.1]" {
		t.Fatalf("session addresses %v", ips)
	}
}
