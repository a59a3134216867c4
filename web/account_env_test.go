package web_test

import (
	"bytes"
	"context"
	"github.com/okpay/okpay/audit"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/okpay/okpay/clock"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/identity/geoip"
	"github.com/okpay/okpay/identity/geoip/geoiptest"
	"github.com/okpay/okpay/identity/passkey"
	"github.com/okpay/okpay/identity/password"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/notify"
	"github.com/okpay/okpay/secret"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
	"github.com/okpay/okpay/web"
)

// This file builds the account pages the way the program does, with real
// parts only: a migrated SQLite database, the identity service, the
// notification outbox and a running dispatcher that delivers email and SMS
// to a development mailbox and in-app messages to the outbox's store. The
// HTTP tests and the browser test share it.

// cheapParams keep argon2 fast in tests; the code paths are the real ones.
var cheapParams = password.Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}

// t0 is when the manual clock of every environment starts.
var t0 = time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)

var (
	sharedOnce    sync.Once
	sharedCat     *i18n.Catalog
	sharedPolicy  *password.Policy
	sharedHasher  *password.Hasher
	sharedInitErr error
)

// sharedParts loads the catalog, the password blocklist and the hasher
// once for the whole package.
func sharedParts(t testing.TB) (*i18n.Catalog, *password.Policy, *password.Hasher) {
	t.Helper()
	sharedOnce.Do(func() {
		if sharedCat, sharedInitErr = i18n.New(); sharedInitErr != nil {
			return
		}
		var bl *password.Blocklist
		if bl, sharedInitErr = password.NewBlocklist(); sharedInitErr != nil {
			return
		}
		sharedPolicy = password.NewPolicy(bl)
		sharedHasher, sharedInitErr = password.New(password.Options{Params: cheapParams})
	})
	if sharedInitErr != nil {
		t.Fatal(sharedInitErr)
	}
	return sharedCat, sharedPolicy, sharedHasher
}

// accountEnv is a Server with the account pages over a fresh database.
type accountEnv struct {
	t       testing.TB
	ctx     context.Context
	db      *sqldb.DB
	clock   *clock.Manual
	cat     *i18n.Catalog
	id      *identity.Service
	outbox  *notify.Outbox
	mailbox *notify.DevMailbox
	server  *web.Server
	handler http.Handler // wrapped as the program wraps it
	// logs holds everything the server and dispatcher logged, through
	// the program's scrubber, for the secret scan (PWD-12).
	logs *lockedBuffer
}

// lockedBuffer is a bytes.Buffer safe for concurrent writers.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type envOption func(*web.Config)

// withoutMailbox builds the Server as in production: no /dev/mailbox.
func withoutMailbox(c *web.Config) { c.Mailbox = nil }

// newGeoAccountEnv builds an environment whose identity service has the
// test GeoIP database (identity/geoip/geoiptest): the clients' address,
// 198.51.100.7, is in London.
func newGeoAccountEnv(t testing.TB, opts ...envOption) *accountEnv {
	t.Helper()
	b, err := geoiptest.Build()
	if err != nil {
		t.Fatal(err)
	}
	db, err := geoip.OpenBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	return newAccountEnvFull(t, testPasskeyOrigin, func(d *identity.Deps) { d.Locator = db }, opts...)
}

// testPasskeyOrigin is the WebAuthn origin (and so the RP ID) of the
// environments of the HTTP tests.
const testPasskeyOrigin = "https://okpay.test"

func newAccountEnv(t testing.TB, opts ...envOption) *accountEnv {
	t.Helper()
	return newAccountEnvAt(t, testPasskeyOrigin, opts...)
}

// newAccountEnvAt builds an environment whose passkey service accepts
// origin (a browser's, e.g. http://localhost:PORT); the RP ID is its host.
func newAccountEnvAt(t testing.TB, origin string, opts ...envOption) *accountEnv {
	t.Helper()
	return newAccountEnvFull(t, origin, nil, opts...)
}

// newAccountEnvFull is newAccountEnvAt with a hook that can change the
// identity service's dependencies before it is built.
func newAccountEnvFull(t testing.TB, origin string, deps func(*identity.Deps), opts ...envOption) *accountEnv {
	t.Helper()
	cat, policy, hasher := sharedParts(t)
	db := sqldbtest.Open(t, sqldb.SQLite)
	master, err := secret.Generate()
	if err != nil {
		t.Fatal(err)
	}
	keys, err := secret.NewKeyring(master)
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewManual(t0)
	gen, err := ids.NewSnowflake(1, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	e := &accountEnv{t: t, ctx: context.Background(), db: db, clock: clk, cat: cat}
	e.outbox = notify.NewOutbox(db, keys.Sealer("notify"), clk, gen)
	e.mailbox = notify.NewDevMailbox(clk)
	u, err := url.Parse(origin)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := passkey.New(db, clk, passkey.Config{RPID: u.Hostname(), RPDisplayName: "OKPay", Origins: []string{origin}})
	if err != nil {
		t.Fatal(err)
	}
	d := identity.Deps{
		DB: db, Clock: clk, IDs: gen, Keys: keys, Hasher: hasher, CheckPassword: policy.Check,
		Outbox: e.outbox, Catalog: cat, Passkeys: pk,
	}
	if deps != nil {
		deps(&d)
	}
	e.id, err = identity.New(d, identity.Config{BaseURL: "https://okpay.test"})
	if err != nil {
		t.Fatal(err)
	}
	e.logs = &lockedBuffer{}
	quiet := slog.New(audit.NewHandler(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	disp := notify.NewDispatcher(e.outbox, map[string]notify.Sender{
		notify.ChannelEmail: e.mailbox, notify.ChannelSMS: e.mailbox, notify.ChannelInApp: e.outbox.InAppSender(),
	}, notify.DispatcherOptions{Poll: 50 * time.Millisecond, Logger: quiet})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		disp.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})

	cfg := web.Config{Catalog: cat, Logger: quiet, Version: "1.2.3-test", Identity: e.id, Outbox: e.outbox, Mailbox: e.mailbox}
	for _, o := range opts {
		o(&cfg)
	}
	e.server, err = web.New(cfg)
	if err != nil {
		t.Fatalf("web.New: %v", err)
	}
	mux := http.NewServeMux()
	e.server.Register(mux)
	e.handler = web.SecurityHeaders(web.CrossOrigin(mux))
	return e
}

// ---- Mailbox ----

var codeRE = regexp.MustCompile(`\b(\d{6,8})\b`)

// freezeLinkRE finds the path of a "Not you? Freeze my account" link.
var freezeLinkRE = regexp.MustCompile(`/freeze/[A-Za-z0-9_-]+`)

// waitMail waits for a message of kind to "to" (any destination when
// empty) newer than the message with ID after ("" for any), and returns
// the newest such message.
func (e *accountEnv) waitMail(to, kind string, after string) notify.DevMessage {
	e.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		for _, m := range e.mailbox.List() { // newest first
			if m.ID == after {
				break
			}
			if (to == "" || m.To == to) && m.Kind == kind {
				return m
			}
		}
		if time.Now().After(deadline) {
			var got []string
			for _, m := range e.mailbox.List() {
				got = append(got, m.Channel+":"+m.Kind+":"+m.To)
			}
			e.t.Fatalf("no %s message to %q arrived; the mailbox has %v", kind, to, got)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// settle waits until the dispatcher has delivered every due message, so
// in-app notifications and mails of what happened are in place.
func (e *accountEnv) settle() {
	e.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		n, err := e.outbox.Pending(e.ctx)
		if err != nil {
			e.t.Fatal(err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%d messages still pending", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// lastMailID returns the ID of the newest message ("" when empty).
func (e *accountEnv) lastMailID() string {
	if l := e.mailbox.List(); len(l) > 0 {
		return l[0].ID
	}
	return ""
}

// waitCode returns the code in the newest message of kind to "to" that
// arrived after the message with ID after.
func (e *accountEnv) waitCode(to, kind, after string) string {
	e.t.Helper()
	m := e.waitMail(to, kind, after)
	c := codeRE.FindStringSubmatch(m.Body)
	if c == nil {
		e.t.Fatalf("%s message without a code: %q", kind, m.Body)
	}
	return c[1]
}

// ---- A browser without a browser ----

// client sends requests to the handler the way a browser would, keeping
// its cookies by hand: Go's cookie jar does not send Secure cookies over
// plain HTTP.
type client struct {
	t       testing.TB
	h       http.Handler
	cookies map[string]*http.Cookie
	lang    string // Accept-Language
	ip      string
	ua      string
}

func (e *accountEnv) client() *client {
	return &client{t: e.t, h: e.handler, cookies: map[string]*http.Cookie{}, lang: "en",
		ip: "198.51.100.7", ua: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/130.0 Safari/537.36"}
}

// response is a finished response with its body read.
type response struct {
	*http.Response
	body string
}

func (c *client) do(method, target string, form url.Values) *response {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	r := httptest.NewRequest(method, target, body)
	r.RemoteAddr = c.ip + ":40000"
	if form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if method == http.MethodPost {
		r.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	r.Header.Set("Accept-Language", c.lang)
	r.Header.Set("User-Agent", c.ua)
	for _, ck := range c.cookies {
		r.AddCookie(&http.Cookie{Name: ck.Name, Value: ck.Value})
	}
	w := httptest.NewRecorder()
	c.h.ServeHTTP(w, r)
	res := w.Result()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	for _, ck := range res.Cookies() {
		if ck.MaxAge < 0 || ck.Value == "" {
			delete(c.cookies, ck.Name)
		} else {
			c.cookies[ck.Name] = ck
		}
	}
	return &response{Response: res, body: string(b)}
}

func (c *client) get(target string) *response { return c.do(http.MethodGet, target, nil) }

func (c *client) post(target string, form url.Values) *response {
	if form == nil {
		form = url.Values{}
	}
	return c.do(http.MethodPost, target, form)
}

// cookie returns the value of the cookie the client holds ("" if none).
func (c *client) cookie(name string) string {
	if ck := c.cookies[name]; ck != nil {
		return ck.Value
	}
	return ""
}

// wantRedirect checks a 303 to a location starting with prefix.
func wantRedirect(t testing.TB, res *response, prefix string) {
	t.Helper()
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), prefix) {
		t.Fatalf("status %d Location %q, want 303 to %s…\n%s", res.StatusCode, res.Header.Get("Location"), prefix, excerpt(res.body))
	}
}

func wantStatus(t testing.TB, res *response, status int) {
	t.Helper()
	if res.StatusCode != status {
		t.Fatalf("status %d (Location %q), want %d\n%s", res.StatusCode, res.Header.Get("Location"), status, excerpt(res.body))
	}
}

// excerpt returns the main part of a page for failure messages.
func excerpt(body string) string {
	if i := strings.Index(body, `<main`); i >= 0 {
		body = body[i:]
	}
	if len(body) > 3000 {
		body = body[:3000]
	}
	return body
}

// ---- Accounts ----

// testAccount is an account opened through the pages.
type testAccount struct {
	email, phone, password string
}

var accountSeq struct {
	sync.Mutex
	n int
}

func nextAccount() testAccount {
	accountSeq.Lock()
	defer accountSeq.Unlock()
	accountSeq.n++
	n := accountSeq.n
	return testAccount{
		email:    "user" + itoa(n) + "@example.com",
		phone:    "+86138" + pad(n, 8),
		password: "violet tractor umbrella " + itoa(n),
	}
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

func pad(n, width int) string {
	s := itoa(n)
	return strings.Repeat("0", width-len(s)) + s
}

// signUp opens an account through the pages and leaves c signed in.
func (e *accountEnv) signUp(c *client) testAccount {
	e.t.Helper()
	a := nextAccount()
	after := e.lastMailID()
	res := c.post("/signup", url.Values{"email": {a.email}, "phone": {a.phone}, "password": {a.password}})
	wantRedirect(e.t, res, "/signup/verify")
	ec := e.waitCode(a.email, "code_verify_email", after)
	sc := e.waitCode(a.phone, "code_verify_phone", after)
	res = c.post("/signup/verify", url.Values{"email_code": {ec}, "sms_code": {sc}})
	wantRedirect(e.t, res, "/account")
	return a
}

// logIn signs c in with the password and an SMS code. SMS codes to one
// number are at least 60 s apart (MFA-03), so the clock moves on first.
func (e *accountEnv) logIn(c *client, a testAccount) {
	e.t.Helper()
	e.clock.Advance(61 * time.Second)
	after := e.lastMailID()
	res := c.post("/login", url.Values{"identifier": {a.email}, "password": {a.password}})
	wantRedirect(e.t, res, "/login/verify")
	code := e.waitCode(a.phone, "code_login", after)
	res = c.post("/login/verify", url.Values{"method": {"sms"}, "code": {code}})
	wantRedirect(e.t, res, "/account")
}

// user returns the account's user record.
func (e *accountEnv) user(a testAccount) *identity.User {
	e.t.Helper()
	var id int64
	if err := e.db.Read.QueryRowContext(e.ctx, `SELECT id FROM users WHERE email = $1`, a.email).Scan(&id); err != nil {
		e.t.Fatal(err)
	}
	u, err := e.id.FindUser(e.ctx, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

// assertNoSecrets fails the test if any of secrets appears in the logs or
// in the bytes of the database file and its WAL (PWD-12).
func (e *accountEnv) assertNoSecrets(secrets []string) {
	e.t.Helper()
	if len(secrets) < 5 {
		e.t.Fatalf("only %d secrets collected: the scan would prove little", len(secrets))
	}
	logs := e.logs.String()
	if !strings.Contains(logs, "{") {
		e.t.Log("note: nothing was logged")
	}
	var files []byte
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(e.db.Path + suffix)
		if err != nil && !os.IsNotExist(err) {
			e.t.Fatal(err)
		}
		files = append(files, b...)
	}
	for _, s := range secrets {
		if len(s) < 6 {
			e.t.Fatalf("secret %q too short to scan for", s)
		}
		if strings.Contains(logs, s) {
			e.t.Errorf("a secret (%d characters, starting %q) is in the logs", len(s), s[:2])
		}
		if bytes.Contains(files, []byte(s)) {
			e.t.Errorf("a secret (%d characters, starting %q) is in the database files", len(s), s[:2])
		}
	}
}
