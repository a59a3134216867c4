package wallet_test

import (
	"context"
	"encoding/base32"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/clock"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/identity/password"
	"github.com/okpay/okpay/identity/risk"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/ledger"
	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/notify"
	"github.com/okpay/okpay/psp"
	"github.com/okpay/okpay/psp/sandbox"
	"github.com/okpay/okpay/secret"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/wallet"
)

// TestMain lowers rapid's default number of property-test runs so the
// suite stays quick on both engines under -race; pass -rapid.checks=N to
// run more.
func TestMain(m *testing.M) {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) {
		if f.Name == "rapid.checks" {
			set = true
		}
	})
	if !set {
		flag.Set("rapid.checks", "15")
	}
	os.Exit(m.Run())
}

var t0 = time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)

// cheap argon2 parameters keep sign-ups fast; the code paths are the
// production ones.
var cheap = password.Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}

var (
	catalogOnce sync.Once
	catalog     *i18n.Catalog
)

func sharedCatalog(t testing.TB) *i18n.Catalog {
	catalogOnce.Do(func() {
		c, err := i18n.New()
		if err != nil {
			panic(err)
		}
		catalog = c
	})
	return catalog
}

// testFees is a fee schedule of basis points plus a fixed part, per
// operation (the fee package is another step's; this is its interface).
type testFees struct {
	bp    map[string]int64
	fixed map[string]int64 // minor units, any currency
}

func (f *testFees) Quote(op, method string, a money.Amount) (money.Amount, string, error) {
	fee := a.Minor*f.bp[op]/10000 + f.fixed[op]
	return money.New(fee, a.Currency), "test:" + op + ":" + method, nil
}

// testCards maps payment-method ids to sandbox card tokens (what
// paymethod does for verified cards).
type testCards struct {
	mu     sync.Mutex
	tokens map[int64]string
	owners map[int64]int64
}

func (c *testCards) DepositToken(ctx context.Context, userID, methodID int64) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.owners[methodID] != userID {
		return "", okpay.Errorf(okpay.ENotFound, "no such card")
	}
	return c.tokens[methodID], nil
}

type harness struct {
	t       testing.TB
	db      *sqldb.DB
	ctx     context.Context
	clock   *clock.Manual
	gen     ids.Generator
	keys    *secret.Keyring
	outbox  *notify.Outbox
	disp    *notify.Dispatcher
	mailbox *notify.DevMailbox
	id      *identity.Service
	ledger  *ledger.Ledger
	w       *wallet.Service
	fees    *testFees
	cards   *testCards
	sandbox *sandbox.Sandbox
	secret  []byte
	hooks   *httptest.Server
	meta    identity.Meta
	seq     int
}

type harnessOpts struct {
	cfg     wallet.Config
	fees    *testFees
	webhook bool // start the sandbox's worker and a webhook endpoint
}

// roomy are velocity limits tests do not reach by accident.
var roomy = wallet.Velocity{TransfersPerHour: 10000, TransfersPerDay: 100000, NewPayeesPerDay: 10000, WithdrawalsPerDay: 100}

func newHarness(t testing.TB, db *sqldb.DB, o harnessOpts) *harness {
	t.Helper()
	master, err := secret.Generate()
	if err != nil {
		t.Fatal(err)
	}
	keys, err := secret.NewKeyring(master)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, db: db, ctx: context.Background(), clock: clock.NewManual(t0), keys: keys,
		meta: identity.Meta{IP: "203.0.113.7", UserAgent: "Mozilla/5.0 (X11; Linux x86_64) Chrome/130.0", DeviceID: "dev-1", Lang: i18n.En}}
	h.gen, err = ids.NewSnowflake(1, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	cat := sharedCatalog(t)
	h.outbox = notify.NewOutbox(db, keys.Sealer("notify"), h.clock, h.gen)
	h.mailbox = notify.NewDevMailbox(h.clock)
	h.disp = notify.NewDispatcher(h.outbox, map[string]notify.Sender{"email": h.mailbox, "sms": h.mailbox, "inapp": h.outbox.InAppSender()}, notify.DispatcherOptions{})
	hasher, err := password.New(password.Options{Params: cheap})
	if err != nil {
		t.Fatal(err)
	}
	h.id, err = identity.New(identity.Deps{DB: db, Clock: h.clock, IDs: h.gen, Keys: keys, Hasher: hasher,
		CheckPassword: func(string, ...string) error { return nil }, Outbox: h.outbox, Catalog: cat}, identity.Config{BaseURL: "https://okpay.test"})
	if err != nil {
		t.Fatal(err)
	}
	h.ledger, err = ledger.New(h.ctx, db, ledger.Options{Clock: h.clock, IDs: h.gen, SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.ledger.Close)
	h.secret = []byte("sandbox webhook secret for the wallet tests")
	sbOpts := sandbox.Options{DB: db, Clock: h.clock, IDs: h.gen, Secret: h.secret, Catalog: cat, Delay: -1, Poll: 20 * time.Millisecond}
	if o.webhook {
		h.hooks = httptest.NewServer(http.HandlerFunc(h.webhook))
		t.Cleanup(h.hooks.Close)
		sbOpts.WebhookURL = h.hooks.URL
	}
	h.sandbox, err = sandbox.New(sbOpts)
	if err != nil {
		t.Fatal(err)
	}
	h.cards = &testCards{tokens: map[int64]string{}, owners: map[int64]int64{}}
	h.fees = o.fees
	cfg := o.cfg
	if cfg.Velocity == (wallet.Velocity{}) {
		cfg.Velocity = roomy
	}
	if cfg.NewDeviceCap == (risk.DeviceCap{}) {
		// Tests pay from a device signed in moments ago: the new-device
		// cap (RSK-01) is off unless a test sets it (risk_test.go).
		cfg.NewDeviceCap = risk.DeviceCap{Percent: 100}
	}
	deps := wallet.Deps{DB: db, Ledger: h.ledger, Identity: h.id, Provider: h.sandbox, Cards: h.cards, Catalog: cat, Clock: h.clock, IDs: h.gen}
	if h.fees != nil {
		deps.Fees = h.fees
	}
	h.w, err = wallet.New(h.ctx, deps, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.w.Close)
	if o.webhook {
		ctx, cancel := context.WithCancel(context.Background())
		h.sandbox.Start(ctx)
		t.Cleanup(func() { cancel(); h.sandbox.Close() })
	}
	return h
}

// webhook is the wallet's webhook endpoint as the HTTP layer will be:
// verify the signature, parse, apply.
func (h *harness) webhook(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, psp.MaxEventSize+1))
	if err != nil {
		http.Error(w, "read", http.StatusBadRequest)
		return
	}
	if err := psp.Verify(r.Header.Get(psp.SignatureHeader), body, [][]byte{h.secret}, h.clock.Now(), 0); err != nil {
		http.Error(w, "signature", http.StatusBadRequest)
		return
	}
	ev, err := psp.ParseEvent(body)
	if err != nil {
		http.Error(w, "event", http.StatusBadRequest)
		return
	}
	if err := h.w.ApplyProviderEvent(r.Context(), ev); err != nil {
		http.Error(w, "apply", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

type user struct {
	id           int64
	email, phone string
	token        string // a full session
}

func (u *user) ref() string { return ids.Format(identity.UserPrefix, u.id) }

var codeRE = regexp.MustCompile(`\b(\d{6,8})\b`)

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

// lastCode returns the code in the newest message of kind to "to".
func (h *harness) lastCode(to, kind string) string {
	h.t.Helper()
	h.deliver()
	for _, m := range h.mailbox.List() { // newest first
		if m.To == to && m.Kind == kind {
			if c := codeRE.FindStringSubmatch(m.Body); c != nil {
				return c[1]
			}
		}
	}
	h.t.Fatalf("no %s message with a code to %s", kind, to)
	return ""
}

// messages returns the delivered messages of kind to "to" ("" = anyone).
func (h *harness) messages(to, kind string) []notify.DevMessage {
	h.t.Helper()
	h.deliver()
	var out []notify.DevMessage
	for _, m := range h.mailbox.List() {
		if (to == "" || m.To == to) && m.Kind == kind {
			out = append(out, m)
		}
	}
	return out
}

// signUp registers and verifies a customer through identity's API.
func (h *harness) signUp() *user {
	h.t.Helper()
	h.seq++
	n := h.seq
	u := &user{email: fmt.Sprintf("user%d.%d@example.com", n, time.Now().UnixNano()%1e6), phone: fmt.Sprintf("+86139%08d", n)}
	m := h.meta
	m.IP = fmt.Sprintf("10.%d.%d.%d", n/65536%256, n/256%256, n%256)
	flow, err := h.id.Register(h.ctx, identity.RegisterInput{Email: u.email, Phone: u.phone, Password: "correct horse battery staple", Lang: i18n.En}, m)
	if err != nil {
		h.t.Fatalf("register: %v", err)
	}
	ec := h.lastCode(u.email, "code_verify_email")
	pc := h.lastCode(u.phone, "code_verify_phone")
	_, token, err := h.id.VerifySignup(h.ctx, flow.Token, ec, pc, m)
	if err != nil {
		h.t.Fatalf("verify sign-up: %v", err)
	}
	_, iu, err := h.id.Authenticate(h.ctx, token)
	if err != nil {
		h.t.Fatal(err)
	}
	u.id, u.token = iu.ID, token
	return u
}

func usd(minor int64) money.Amount { return money.New(minor, "USD") }

// fund puts money in u's wallet straight through the ledger (from a test
// settlement account), for tests about spending it.
func (h *harness) fund(u *user, a money.Amount) {
	h.t.Helper()
	w, err := h.w.OpenWallet(h.ctx, u.id, a.Currency)
	if err != nil {
		h.t.Fatal(err)
	}
	ext, err := h.w.SystemAccount(h.ctx, wallet.SysExternal+":test", a.Currency)
	if err != nil {
		h.t.Fatal(err)
	}
	h.seq++
	if _, err := h.ledger.Post(h.ctx, ledger.EntryInput{Reference: fmt.Sprintf("fund-%d-%d", u.id, h.seq), Type: "test_funding",
		Postings: []ledger.Posting{{Debit: ext, Credit: w.ID, Amount: a.Minor, Currency: a.Currency}}}); err != nil {
		h.t.Fatal(err)
	}
}

// balance returns u's wallet in c (zero when it has none).
func (h *harness) balance(u *user, c money.Currency) *wallet.Wallet {
	h.t.Helper()
	w, err := h.w.FindWallet(h.ctx, u.id, c)
	if okpay.ErrorCode(err) == okpay.ENotFound {
		z := money.New(0, c)
		return &wallet.Wallet{Currency: c, Posted: z, Available: z, PendingIn: z, PendingOut: z}
	}
	if err != nil {
		h.t.Fatal(err)
	}
	return w
}

// keys numbers idempotency keys (safe for concurrent use).
var keys atomic.Int64

func (h *harness) key() string {
	return fmt.Sprintf("key-%d", keys.Add(1))
}

// send makes a transfer from u to v by email.
func (h *harness) send(u, v *user, a money.Amount, key string) (*wallet.TransferResult, error) {
	return h.w.Transfer(h.ctx, wallet.TransferInput{UserID: u.id, Amount: a, Payee: v.email, Key: key, Meta: h.meta})
}

// pay sends money from u to v and confirms it with the SMS code when one
// is asked for; the transfer must complete.
func (h *harness) pay(u, v *user, a money.Amount) *wallet.Txn {
	h.t.Helper()
	res, err := h.send(u, v, a, h.key())
	if err != nil {
		h.t.Fatalf("transfer: %v", err)
	}
	if res.Txn.Status == wallet.StatusAwaitingAuth {
		code := h.lastCode(u.phone, "code_txn")
		res, err = h.w.ConfirmTransfer(h.ctx, wallet.ConfirmInput{UserID: u.id, TxnID: res.Txn.ID, Code: code, Meta: h.meta})
		if err != nil {
			h.t.Fatalf("confirm: %v", err)
		}
	}
	if res.Txn.Status != wallet.StatusCompleted {
		h.t.Fatalf("transfer ended %s", res.Txn.Status)
	}
	return res.Txn
}

// addCard tokenizes a sandbox test card for u and returns its method id.
func (h *harness) addCard(u *user, pan string) int64 {
	h.t.Helper()
	c, err := h.sandbox.Tokenize(h.ctx, pan, 12, 2030, "123")
	if err != nil {
		h.t.Fatal(err)
	}
	id := h.gen.Next()
	h.cards.mu.Lock()
	h.cards.tokens[id], h.cards.owners[id] = c.Token, u.id
	h.cards.mu.Unlock()
	return id
}

// outboxKinds counts u's outbox rows by kind and channel ("kind/channel").
func (h *harness) outboxKinds(userID int64) map[string]int {
	h.t.Helper()
	// An event's own in-app notices are written beside the outbox, not
	// queued in it; those the dispatcher delivered are counted once.
	rows, err := h.db.Read.Query(`SELECT kind, channel FROM notification_outbox WHERE user_id = $1
		UNION ALL SELECT kind, 'inapp' FROM inapp_notifications i WHERE user_id = $1
			AND NOT EXISTS (SELECT 1 FROM notification_outbox o WHERE o.dedupe_key = i.dedupe_key)`, userID)
	if err != nil {
		h.t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var k, c string
		if err := rows.Scan(&k, &c); err != nil {
			h.t.Fatal(err)
		}
		out[k+"/"+c]++
	}
	return out
}

// verify checks the ledger's invariants.
func (h *harness) verify() {
	h.t.Helper()
	r, err := h.ledger.Verify(h.ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	if !r.OK() {
		h.t.Fatalf("ledger invariants broken:\n%s", r)
	}
}

func wantCode(t testing.TB, err error, code string) {
	t.Helper()
	if got := okpay.ErrorCode(err); got != code {
		t.Fatalf("error = %v (code %q), want code %q", err, got, code)
	}
}

func decodeSecret(t testing.TB, s string) []byte {
	t.Helper()
	b, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
