package phone_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/audit"
	"github.com/okpay/okpay/clock"
	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/desk/realtime"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/identity/password"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/notify"
	"github.com/okpay/okpay/phone"
	"github.com/okpay/okpay/secret"
	"github.com/okpay/okpay/sqldb"
)

var t0 = time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)

var shared struct {
	sync.Mutex
	cat *i18n.Catalog
}

func catalog(t testing.TB) *i18n.Catalog {
	shared.Lock()
	defer shared.Unlock()
	if shared.cat == nil {
		c, err := i18n.New()
		if err != nil {
			t.Fatal(err)
		}
		shared.cat = c
	}
	return shared.cat
}

// smsBox captures the SMS the dispatcher sends.
type smsBox struct {
	mu   sync.Mutex
	msgs []notify.Message
}

func (b *smsBox) Send(_ context.Context, m notify.Message) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.msgs = append(b.msgs, m)
	return nil
}

// harness is the phone service over identity, desk, the audit log and the
// outbox on one database, with a customer whose phone is verified.
type harness struct {
	t      *testing.T
	ctx    context.Context
	db     *sqldb.DB
	clock  *clock.Manual
	gen    *ids.Sequence
	id     *identity.Service
	desk   *desk.Service
	log    *audit.Log
	outbox *notify.Outbox
	disp   *notify.Dispatcher
	sms    *smsBox
	svc    *phone.Service
	// user is the customer (+8613800138000, verified); stranger a user
	// whose phone is not verified.
	user, stranger int64
}

func newHarness(t *testing.T, db *sqldb.DB) *harness {
	t.Helper()
	h := &harness{t: t, ctx: context.Background(), db: db, clock: clock.NewManual(t0), gen: &ids.Sequence{}, log: audit.New(db), sms: &smsBox{}}
	master, err := secret.Generate()
	if err != nil {
		t.Fatal(err)
	}
	keys, err := secret.NewKeyring(master)
	if err != nil {
		t.Fatal(err)
	}
	hasher, err := password.New(password.Options{Params: password.Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}})
	if err != nil {
		t.Fatal(err)
	}
	cat := catalog(t)
	h.outbox = notify.NewOutbox(db, keys.Sealer("notify"), h.clock, h.gen)
	h.disp = notify.NewDispatcher(h.outbox, map[string]notify.Sender{"inapp": h.outbox.InAppSender(), "sms": h.sms}, notify.DispatcherOptions{Node: "test"})
	h.id, err = identity.New(identity.Deps{DB: db, Clock: h.clock, IDs: h.gen, Keys: keys, Hasher: hasher,
		CheckPassword: func(string, ...string) error { return nil }, Outbox: h.outbox, Catalog: cat}, identity.Config{BaseURL: "https://okpay.test"})
	if err != nil {
		t.Fatal(err)
	}
	if h.desk, err = desk.New(desk.Deps{DB: db, Clock: h.clock, IDs: h.gen, Bus: realtime.NewMemory(0)}, desk.Config{}); err != nil {
		t.Fatal(err)
	}
	if h.svc, err = phone.New(phone.Deps{DB: db, Clock: h.clock, IDs: h.gen, Desk: h.desk, Identity: h.id, Audit: h.log, Outbox: h.outbox,
		Catalog: cat}, phone.Config{}); err != nil {
		t.Fatal(err)
	}
	h.user = h.addUser("ada@example.com", "+8613800138000", true)
	h.stranger = h.addUser("bob@example.com", "+8613900139000", false)
	return h
}

func (h *harness) addUser(email, number string, verified bool) int64 {
	h.t.Helper()
	id := h.gen.Next()
	now := h.clock.Now().UnixMicro()
	pv := int64(0)
	if verified {
		pv = now
	}
	if _, err := h.db.Write.ExecContext(h.ctx, `INSERT INTO users (id, email, phone, password_hash, status, lang, email_verified_at, phone_verified_at, created_at, updated_at)
		VALUES ($1, $2, $3, 'x', 'active', 'en', $4, $5, $4, $4)`, id, email, number, now, pv); err != nil {
		h.t.Fatal(err)
	}
	return id
}

// signIn gives the user a live app session.
func (h *harness) signIn(userID int64) {
	h.t.Helper()
	now := h.clock.Now()
	if _, err := h.db.Write.ExecContext(h.ctx, `INSERT INTO sessions (id, token_hash, user_id, aal, created_at, last_seen_at, expires_at)
		VALUES ($1, $2, $3, 2, $4, $4, $5)`, h.gen.Next(), []byte("tok"+time.Now().String()), userID, now.UnixMicro(), now.Add(24*time.Hour).UnixMicro()); err != nil {
		h.t.Fatal(err)
	}
}

// deliver runs the outbox once.
func (h *harness) deliver() {
	h.t.Helper()
	if _, err := h.disp.RunOnce(h.ctx); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) messages(conv int64) []*desk.Message {
	h.t.Helper()
	ms, err := h.desk.Messages(h.ctx, desk.System, conv, 0, desk.MaxPage)
	if err != nil {
		h.t.Fatal(err)
	}
	return ms
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := okpay.ErrorCode(err); got != code {
		t.Fatalf("error %v: code %q, want %q", err, got, code)
	}
}
