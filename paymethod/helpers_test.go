package paymethod_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/clock"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/notify"
	"github.com/okpay/okpay/paymethod"
	"github.com/okpay/okpay/psp"
	"github.com/okpay/okpay/psp/sandbox"
	"github.com/okpay/okpay/secret"
	"github.com/okpay/okpay/sqldb"
)

// t0 is the harness's start time; the test cards expire in the future.
var t0 = time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)

var webhookSecret = []byte("whsec_paymethod_test_0123456789abcdef")

var (
	catalogOnce   sync.Once
	sharedCatalog *i18n.Catalog
)

func catalog(t *testing.T) *i18n.Catalog {
	t.Helper()
	catalogOnce.Do(func() {
		c, err := i18n.New()
		if err != nil {
			panic(err)
		}
		sharedCatalog = c
	})
	return sharedCatalog
}

// providerClock is the sandbox's clock: the test's manual clock plus the
// real time elapsed since the harness started. The provider is another
// system: it follows the test's jumps in time, and its own retries and
// leases still come due while a test waits.
type providerClock struct {
	m     *clock.Manual
	start time.Time
}

func (c providerClock) Now() time.Time { return c.m.Now().Add(time.Since(c.start)) }

// notifier is the tests' paymethod.Notifier: it writes an in-app message
// through the real outbox, in the caller's transaction, and remembers the
// data of every call (to check that none carries a full number, NOT-04).
// fail makes the next calls fail (to show that the event rolls back with
// its notification).
type notifier struct {
	outbox *notify.Outbox
	ids    ids.Generator

	mu    sync.Mutex
	calls []map[string]any
	fail  bool
}

func (n *notifier) Notify(ctx context.Context, tx *sql.Tx, userID int64, kind string, data map[string]any) error {
	n.mu.Lock()
	fail := n.fail
	n.calls = append(n.calls, data)
	n.mu.Unlock()
	if fail {
		return errors.New("notifier down")
	}
	return n.outbox.Enqueue(ctx, tx, notify.Message{
		DedupeKey: ids.Format("ntf", n.ids.Next()), UserID: userID, Channel: notify.ChannelInApp, Kind: kind,
		Subject: kind, Body: fmt.Sprint(data),
	})
}

func (n *notifier) allData() []map[string]any {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]map[string]any(nil), n.calls...)
}

// inUse is the wallet's side of CRD-08 in tests: the methods with a payout
// executing.
type inUse struct {
	mu   sync.Mutex
	busy map[int64]bool
}

func (u *inUse) PayoutsExecuting(_ context.Context, tx *sql.Tx, methodID int64) (bool, error) {
	if tx == nil {
		return false, errors.New("PayoutsExecuting needs the caller's transaction")
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.busy[methodID], nil
}

func (u *inUse) set(id int64, busy bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.busy[id] = busy
}

// env is a payment-method service over a test database, with the real
// sandbox provider delivering its signed webhooks to a real HTTP endpoint
// that applies them with ApplyEvent, as the wallet's endpoint will.
type env struct {
	t     *testing.T
	ctx   context.Context
	db    *sqldb.DB
	clock *clock.Manual
	pclk  providerClock // the sandbox's
	ids   ids.Generator
	keys  *secret.Keyring
	sb    *sandbox.Sandbox
	svc   *paymethod.Service
	notes *notifier
	inUse *inUse
	hook  *hook
	users int64
}

// hook is the webhook endpoint.
type hook struct {
	srv *httptest.Server

	mu       sync.Mutex
	events   []psp.Event
	rejected int
	handled  map[string]bool // event id -> ApplyEvent said it was a payment method's
}

func newEnv(t *testing.T, db *sqldb.DB, cfg paymethod.Config) *env {
	t.Helper()
	master, err := secret.Generate()
	if err != nil {
		t.Fatal(err)
	}
	keys, err := secret.NewKeyring(master)
	if err != nil {
		t.Fatal(err)
	}
	gen, err := ids.NewSnowflake(1, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, ctx: context.Background(), db: db, clock: clock.NewManual(t0), ids: gen, keys: keys,
		inUse: &inUse{busy: map[int64]bool{}}, hook: &hook{handled: map[string]bool{}}}
	e.pclk = providerClock{m: e.clock, start: time.Now()}
	e.notes = &notifier{outbox: notify.NewOutbox(db, keys.Sealer("notify"), e.clock, gen), ids: gen}
	e.hook.srv = httptest.NewServer(http.HandlerFunc(e.serveWebhook))
	t.Cleanup(e.hook.srv.Close)
	e.sb, err = sandbox.New(sandbox.Options{
		DB: db, Clock: e.pclk, IDs: gen, Secret: webhookSecret, WebhookURL: e.hook.srv.URL + "/webhooks/psp/sandbox",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), BaseURL: "https://okpay.test", Catalog: catalog(t),
		Delay: -1, Poll: 10 * time.Millisecond, Lease: 2 * time.Second,
		Backoff: func(int) time.Duration { return 10 * time.Millisecond },
	})
	if err != nil {
		t.Fatal(err)
	}
	e.sb.Start(e.ctx)
	t.Cleanup(e.sb.Close)
	e.svc = e.newService(cfg)
	return e
}

// newService builds a service over the env's parts with cfg.
func (e *env) newService(cfg paymethod.Config) *paymethod.Service {
	e.t.Helper()
	svc, err := paymethod.New(paymethod.Deps{
		DB: e.db, Clock: e.clock, IDs: e.ids, Provider: e.sb, Notifier: e.notes,
		Sealer: e.keys.Sealer("paymethod/account"), MAC: e.keys.MAC("paymethod"), InUse: e.inUse, Config: cfg,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return svc
}

// serveWebhook is the webhook endpoint: signature, strict parsing, then
// ApplyEvent in a transaction of its own.
func (e *env) serveWebhook(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, psp.MaxEventSize+1))
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if err := psp.Verify(r.Header.Get(psp.SignatureHeader), body, [][]byte{webhookSecret}, e.pclk.Now(), 0); err != nil {
		e.hook.mu.Lock()
		e.hook.rejected++
		e.hook.mu.Unlock()
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	ev, err := psp.ParseEvent(body)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	var handled bool
	err = e.db.InTx(r.Context(), func(tx *sql.Tx) error {
		var err error
		handled, err = e.svc.ApplyEvent(r.Context(), tx, ev)
		return err
	})
	if err != nil {
		if r.Context().Err() == nil { // not the end of the test
			e.t.Logf("webhook %s %s: %v", ev.Type, ev.Reference, err)
		}
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	e.hook.mu.Lock()
	e.hook.events = append(e.hook.events, ev)
	e.hook.handled[ev.ID] = handled
	e.hook.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// eventsFor returns the events applied so far for a method's reference.
func (e *env) eventsFor(ref string) []psp.Event {
	e.hook.mu.Lock()
	defer e.hook.mu.Unlock()
	var out []psp.Event
	for _, ev := range e.hook.events {
		if ev.Reference == ref {
			out = append(out, ev)
		}
	}
	return out
}

// waitEvents waits until n events of ref were applied.
func (e *env) waitEvents(ref string, n int) []psp.Event {
	e.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if ev := e.eventsFor(ref); len(ev) >= n {
			return ev
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out waiting for %d events of %s; have %+v", n, ref, e.eventsFor(ref))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitStatus waits until the method has status want.
func (e *env) waitStatus(userID, id int64, want paymethod.Status) *paymethod.Method {
	e.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		m, err := e.svc.Get(e.ctx, userID, id)
		if err != nil {
			e.t.Fatal(err)
		}
		if m.Status == want {
			return m
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out waiting for %s to be %s; it is %s (%s)", m.Label, want, m.Status, m.FailureCode)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// user inserts a customer account.
func (e *env) user() int64 {
	e.t.Helper()
	e.users++
	id := e.ids.Next()
	if _, err := e.db.Write.ExecContext(e.ctx, `INSERT INTO users (id, email, phone, password_hash, created_at, updated_at) VALUES ($1, $2, $3, 'x', $4, $4)`,
		id, "user-"+strconv.FormatInt(id, 36)+"@example.com", fmt.Sprintf("+1555%010d", e.users), t0.UnixMicro()); err != nil {
		e.t.Fatal(err)
	}
	return id
}

// token tokenises a test card as the customer's browser would.
func (e *env) token(number string) string {
	e.t.Helper()
	c, err := e.sb.Tokenize(e.ctx, number, 12, 2030, cvcFor(number))
	if err != nil {
		e.t.Fatalf("tokenize %s: %v", number, err)
	}
	return c.Token
}

func cvcFor(number string) string {
	if strings.HasPrefix(strings.ReplaceAll(number, " ", ""), "3") && len(strings.ReplaceAll(number, " ", "")) == 15 {
		return "1234"
	}
	return "123"
}

// stepUp is a second-factor step that just happened.
func (e *env) stepUp() time.Time { return e.clock.Now() }

// addCard adds a card and fails the test on error.
func (e *env) addCard(userID int64, number string) *paymethod.Method {
	e.t.Helper()
	m, err := e.svc.AddCard(e.ctx, paymethod.NewCard{UserID: userID, Token: e.token(number), StepUp: e.stepUp(), ReturnURL: "/account/methods"})
	if err != nil {
		e.t.Fatalf("AddCard %s: %v", number, err)
	}
	return m
}

// addVerifiedCard adds a card and waits for its verification.
func (e *env) addVerifiedCard(userID int64, number string) *paymethod.Method {
	e.t.Helper()
	m := e.addCard(userID, number)
	return e.waitStatus(userID, m.ID, paymethod.StatusVerified)
}

// reference returns the provider reference of a method's verification.
func (e *env) reference(id int64) string {
	e.t.Helper()
	var ref string
	if err := e.db.Read.QueryRowContext(e.ctx, `SELECT reference FROM payment_methods WHERE id = $1`, id).Scan(&ref); err != nil {
		e.t.Fatal(err)
	}
	return ref
}

// kinds returns the kinds of the user's notifications, oldest first.
func (e *env) kinds(userID int64) []string {
	e.t.Helper()
	rows, err := e.db.Read.QueryContext(e.ctx, `SELECT kind FROM notification_outbox WHERE user_id = $1 ORDER BY created_at, id`, userID)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			e.t.Fatal(err)
		}
		out = append(out, k)
	}
	return out
}

// count returns how many notifications of kind the user has.
func (e *env) count(userID int64, kind string) int {
	n := 0
	for _, k := range e.kinds(userID) {
		if k == kind {
			n++
		}
	}
	return n
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := okpay.ErrorCode(err); got != code {
		t.Fatalf("error %v: code %q, want %q", err, got, code)
	}
}
