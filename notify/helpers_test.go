package notify

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"database/sql"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/okpay/okpay/clock"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/sqldb"
)

// gcmSealer is the tests' Sealer: AES-256-GCM, random nonce in front.
type gcmSealer struct{ aead cipher.AEAD }

func newSealer(t testing.TB) *gcmSealer {
	t.Helper()
	key := make([]byte, 32)
	rand.Read(key)
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	return &gcmSealer{aead: aead}
}

func (s *gcmSealer) Seal(plaintext, aad []byte) ([]byte, error) {
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plaintext)+s.aead.Overhead())
	rand.Read(nonce)
	return s.aead.Seal(nonce, nonce, plaintext, aad), nil
}

func (s *gcmSealer) Open(sealed, aad []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n {
		return nil, errors.New("sealed value too short")
	}
	return s.aead.Open(nil, sealed[:n], sealed[n:], aad)
}

var t0 = time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)

// quiet is a logger for dispatchers in tests.
var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

type env struct {
	db     *sqldb.DB
	clk    *clock.Manual
	outbox *Outbox
}

func newEnv(t testing.TB, db *sqldb.DB) *env {
	clk := clock.NewManual(t0)
	gen, err := ids.NewSnowflake(1, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	return &env{db: db, clk: clk, outbox: NewOutbox(db, newSealer(t), clk, gen)}
}

// enqueue commits msgs in a transaction of their own.
func (e *env) enqueue(t testing.TB, msgs ...Message) {
	t.Helper()
	ctx := context.Background()
	if err := e.db.InTx(ctx, func(tx *sql.Tx) error { return e.outbox.Enqueue(ctx, tx, msgs...) }); err != nil {
		t.Fatalf("enqueue: %v", err)
	}
	e.outbox.Wake()
}

func (e *env) dispatcher(senders map[string]Sender, opts DispatcherOptions) *Dispatcher {
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	return NewDispatcher(e.outbox, senders, opts)
}

// row is the dispatcher-visible state of an outbox row.
type row struct {
	Status      string
	Attempts    int
	NextAttempt int64
	LockedUntil sql.NullInt64
	LockedBy    string
	LastError   string
	SentAt      sql.NullInt64
}

func (e *env) row(t testing.TB, dedupeKey string) row {
	t.Helper()
	var r row
	err := e.db.Write.QueryRowContext(context.Background(), `SELECT status, attempts, next_attempt_at, locked_until, locked_by, last_error, sent_at
		FROM notification_outbox WHERE dedupe_key = $1`, dedupeKey).
		Scan(&r.Status, &r.Attempts, &r.NextAttempt, &r.LockedUntil, &r.LockedBy, &r.LastError, &r.SentAt)
	if err != nil {
		t.Fatalf("row %s: %v", dedupeKey, err)
	}
	return r
}

// recorder is a Sender that records what it is asked to send; fail, when
// set, decides whether the n-th call (from 1) for a key fails.
type recorder struct {
	mu    sync.Mutex
	calls map[string]int
	sent  []Message // successful sends, in order
	fail  func(m Message, call int) error
}

func newRecorder() *recorder { return &recorder{calls: map[string]int{}} }

func (r *recorder) Send(ctx context.Context, m Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls[m.DedupeKey]++
	if r.fail != nil {
		if err := r.fail(m, r.calls[m.DedupeKey]); err != nil {
			return err
		}
	}
	r.sent = append(r.sent, m)
	return nil
}

func (r *recorder) keys() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, m := range r.sent {
		out = append(out, m.DedupeKey)
	}
	return out
}

func runOnce(t testing.TB, d *Dispatcher) int {
	t.Helper()
	n, err := d.RunOnce(context.Background())
	if err != nil {
		t.Fatalf("RunOnce: %v", err)
	}
	return n
}
