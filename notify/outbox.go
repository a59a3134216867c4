// Package notify delivers OKPay's notifications — email, SMS and in-app —
// through a transactional outbox.
//
// An event writes its messages with (*Outbox).Enqueue inside the same
// database transaction as the event itself (NOT-02): a rolled-back event
// notifies nobody, a committed one is delivered even if the process dies
// right after the commit. A caller whose transaction must stay short (a
// ledger hook) seals its messages before it (Seal) and only writes them
// inside it (Write, or Stage to a hook's deferred multi-row inserts, or
// StageBundle: the event's messages as one row, bundle.go). A Dispatcher
// claims due messages under a lease, sends them through one Sender per
// channel and records the outcome.
// Delivery is at least once; every message carries a dedupe key that the
// providers see (SMTP Message-ID, SMS Idempotency-Key, the in-app row's
// unique key) so a redelivery is recognisable and the user sees one copy
// (REL-11). A user's messages on one channel go out in the order they were
// written.
//
// Messages may carry one-time codes, so the rendered content (destination,
// subject, body) is sealed at rest with a Sealer; only the routing columns
// (dedupe key, user, channel, kind, status) are stored in clear. Dedupe keys
// and kinds are stored and sent in clear: never put a secret in them.
package notify

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/clock"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/sqldb"
)

// Channels.
const (
	ChannelEmail = "email"
	ChannelSMS   = "sms"
	ChannelInApp = "inapp"
)

// Message statuses in notification_outbox.
const (
	StatusPending = "pending"
	StatusSent    = "sent"
	StatusFailed  = "failed"
)

// Limits on what Enqueue accepts.
const (
	MaxDedupeKeyLen = 200
	MaxKindLen      = 64
	MaxToLen        = 320
	MaxSubjectLen   = 1000
	MaxBodyLen      = 64 << 10
	MaxHTMLLen      = 512 << 10
)

// Message is one notification to one destination on one channel.
type Message struct {
	// DedupeKey identifies the message for its whole life: a second
	// Enqueue with the same key is ignored, and providers receive it so
	// that a redelivery can be recognised. Visible ASCII, no spaces; never
	// a secret.
	DedupeKey string
	// UserID is the user it concerns (0: none, e.g. an address that is not
	// an account yet). A user's messages on a channel are sent in order.
	UserID int64
	// Channel is "email", "sms" or "inapp".
	Channel string
	// Kind names the event ("login_code", "new_device", "lockout"...).
	Kind string
	// To is the address (email) or E.164 number (sms); unused for inapp.
	To string
	// Subject is the email subject or the in-app title.
	Subject string
	// Body is the plain-text content.
	Body string
	// HTML is an optional HTML alternative for email.
	HTML string
}

// Sealer encrypts and authenticates the content of outbox rows; aad binds
// a sealed value to its row. package secret provides one.
type Sealer interface {
	Seal(plaintext, aad []byte) ([]byte, error)
	Open(sealed, aad []byte) ([]byte, error)
}

// Outbox writes messages and the in-app notifications' store.
type Outbox struct {
	db     *sqldb.DB
	sealer Sealer
	clock  clock.Clock
	ids    ids.Generator

	mu      sync.Mutex
	waiters map[chan struct{}]struct{}

	// insert is the prepared insert of a message (SQLite, after
	// PrepareStatements).
	insert atomic.Pointer[sql.Stmt]
}

// NewOutbox returns an outbox over db. A nil clock means the system clock;
// db, sealer and ids are required.
func NewOutbox(db *sqldb.DB, sealer Sealer, clk clock.Clock, gen ids.Generator) *Outbox {
	if db == nil || sealer == nil || gen == nil {
		panic("notify: NewOutbox needs a database, a sealer and an id generator")
	}
	if clk == nil {
		clk = clock.System{}
	}
	return &Outbox{db: db, sealer: sealer, clock: clk, ids: gen, waiters: map[chan struct{}]struct{}{}}
}

// content is what is sealed in notification_outbox.sealed.
type content struct {
	To      string `json:"to,omitempty"`
	Subject string `json:"subject,omitempty"`
	Body    string `json:"body,omitempty"`
	HTML    string `json:"html,omitempty"`
}

// aad binds a sealed content to its row's routing columns, so a sealed
// value copied into another row (another user, channel or key) does not
// open.
func aad(dedupeKey string, userID int64, channel, kind string) []byte {
	b := make([]byte, 0, 32+len(dedupeKey)+len(channel)+len(kind))
	b = append(b, "okpay.notify.v1"...)
	for _, s := range []string{channel, strconv.FormatInt(userID, 10), kind, dedupeKey} {
		b = append(b, 0)
		b = strconv.AppendInt(b, int64(len(s)), 10)
		b = append(b, ':')
		b = append(b, s...)
	}
	return b
}

func validate(m *Message) error {
	bad := func(format string, args ...any) error {
		return okpay.Errorf(okpay.EInvalid, "notify: message %q: "+format, append([]any{m.DedupeKey}, args...)...)
	}
	if m.DedupeKey == "" || len(m.DedupeKey) > MaxDedupeKeyLen {
		return bad("the dedupe key must have 1 to %d characters", MaxDedupeKeyLen)
	}
	for i := 0; i < len(m.DedupeKey); i++ {
		if c := m.DedupeKey[i]; c <= ' ' || c > '~' {
			return bad("the dedupe key must be visible ASCII")
		}
	}
	switch m.Channel {
	case ChannelEmail, ChannelSMS:
	case ChannelInApp:
		if m.UserID == 0 {
			return bad("an in-app message needs a user")
		}
	default:
		return bad("unknown channel %q", m.Channel)
	}
	if m.Kind == "" || len(m.Kind) > MaxKindLen {
		return bad("the kind must have 1 to %d characters", MaxKindLen)
	}
	for i := 0; i < len(m.Kind); i++ {
		c := m.Kind[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return bad("the kind may hold a-z, 0-9, '_', '.' and '-'")
		}
	}
	switch {
	case len(m.To) > MaxToLen || strings.ContainsAny(m.To, "\r\n"):
		return bad("invalid destination")
	case len(m.Subject) > MaxSubjectLen || strings.ContainsAny(m.Subject, "\r\n"):
		return bad("the subject must be one line of at most %d bytes", MaxSubjectLen)
	case len(m.Body) > MaxBodyLen:
		return bad("the body exceeds %d bytes", MaxBodyLen)
	case len(m.HTML) > MaxHTMLLen:
		return bad("the HTML exceeds %d bytes", MaxHTMLLen)
	}
	return nil
}

// noDestination is the last_error of an email or SMS enqueued without an
// address: it is recorded as failed at once (the user has no such
// contact), which keeps a trace without blocking the event.
const noDestination = "no destination"

// Enqueue writes msgs to the outbox inside tx, the caller's transaction,
// so they exist if and only if the event commits (NOT-02). A message whose
// dedupe key is already in the outbox is silently skipped. An email or SMS
// without a destination is recorded as failed ("no destination") rather
// than refused. Call Wake after the commit to have them sent at once.
//
// Enqueue is Seal then Write: a caller whose transaction is precious (a
// ledger hook) seals first, outside it.
func (o *Outbox) Enqueue(ctx context.Context, tx *sql.Tx, msgs ...Message) error {
	if tx == nil {
		return errors.New("notify: Enqueue needs the caller's transaction")
	}
	sealed, err := o.Seal(msgs...)
	if err != nil {
		return err
	}
	return o.Write(ctx, tx, sealed...)
}

// Sealed is a message checked and sealed by Seal, ready to be written
// inside the event's transaction by Write or Stage.
type Sealed struct {
	id        int64
	dedupeKey string
	userID    int64
	channel   string
	kind      string
	sealed    []byte
	status    string
	lastErr   string
	at        int64 // created, and first due (unix µs)
}

// DedupeKey is the message's dedupe key.
func (m Sealed) DedupeKey() string { return m.dedupeKey }

// Seal checks msgs, seals their content and gives each its id, without
// touching the database: the work Enqueue does before its inserts. The
// messages are created (and due) now. Write or Stage them inside the
// event's transaction.
func (o *Outbox) Seal(msgs ...Message) ([]Sealed, error) {
	now := o.clock.Now().UnixMicro()
	out := make([]Sealed, len(msgs))
	for i := range msgs {
		m := &msgs[i]
		if err := validate(m); err != nil {
			return nil, err
		}
		plain, err := json.Marshal(content{To: m.To, Subject: m.Subject, Body: m.Body, HTML: m.HTML})
		if err != nil {
			return nil, fmt.Errorf("notify: encode message: %w", err)
		}
		sealed, err := o.sealer.Seal(plain, aad(m.DedupeKey, m.UserID, m.Channel, m.Kind))
		clear(plain)
		if err != nil {
			return nil, fmt.Errorf("notify: seal message: %w", err)
		}
		status, lastErr := StatusPending, ""
		if m.To == "" && m.Channel != ChannelInApp {
			status, lastErr = StatusFailed, noDestination
		}
		out[i] = Sealed{id: o.ids.Next(), dedupeKey: m.DedupeKey, userID: m.UserID, channel: m.Channel, kind: m.Kind,
			sealed: sealed, status: status, lastErr: lastErr, at: now}
	}
	return out, nil
}

// outboxInto names the columns of an outbox row; outboxConflict skips a
// known dedupe key.
const (
	outboxInto     = `notification_outbox (id, dedupe_key, user_id, channel, kind, sealed, status, attempts, next_attempt_at, locked_by, last_error, created_at)`
	outboxConflict = `ON CONFLICT (dedupe_key) DO NOTHING`
	qInsert        = `INSERT INTO ` + outboxInto + ` VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ` + outboxConflict
	// qInsertAnon is qInsert with anonymous parameters, for SQLite's
	// prepared statement (the driver looks named ones up at every call).
	qInsertAnon = `INSERT INTO ` + outboxInto + ` VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ` + outboxConflict
)

// args are the values of m's row, in outboxInto's order.
func (m *Sealed) args() []any {
	return []any{m.id, m.dedupeKey, m.userID, m.channel, m.kind, m.sealed, m.status, 0, m.at, "", m.lastErr, m.at}
}

// Write inserts sealed messages inside tx, the event's transaction, as
// Enqueue does (a known dedupe key is skipped). On SQLite it runs a
// statement prepared by PrepareStatements when there is one.
func (o *Outbox) Write(ctx context.Context, tx *sql.Tx, ms ...Sealed) error {
	if tx == nil {
		return errors.New("notify: Write needs the caller's transaction")
	}
	var st *sql.Stmt
	if p := o.insert.Load(); p != nil {
		st = tx.StmtContext(ctx, p)
		defer st.Close()
	}
	for i := range ms {
		var err error
		if st != nil {
			_, err = st.ExecContext(ctx, ms[i].args()...)
		} else {
			_, err = tx.ExecContext(ctx, qInsert, ms[i].args()...)
		}
		if err != nil {
			return fmt.Errorf("notify: enqueue: %w", err)
		}
	}
	return nil
}

// Inserter defers rows to be inserted later in the caller's transaction,
// with one multi-row statement per table: "INSERT INTO <into> VALUES
// (args…) <suffix>". *ledger.Tx implements it, for ledger hooks.
type Inserter interface {
	Insert(into, suffix string, args ...any)
}

// Stage hands sealed messages to ins, to be inserted in the event's
// transaction with the rest of its rows (a ledger hook's deferred
// inserts): the same rows as Write's, a known dedupe key skipped.
func (o *Outbox) Stage(ins Inserter, ms ...Sealed) {
	for i := range ms {
		ins.Insert(outboxInto, outboxConflict, ms[i].args()...)
	}
}

// PrepareStatements prepares, on SQLite, the insert Write and Enqueue run,
// so they parse nothing (a no-op on PostgreSQL, whose driver caches
// statements by itself). Call it at start-up, never inside a transaction:
// it needs SQLite's one write connection. Once prepared, Write and Enqueue
// must be given transactions of the outbox's own database.
func (o *Outbox) PrepareStatements(ctx context.Context) error {
	if o.db.Dialect != sqldb.SQLite || o.insert.Load() != nil {
		return nil
	}
	st, err := o.db.Write.PrepareContext(ctx, qInsertAnon)
	if err != nil {
		return fmt.Errorf("notify: prepare: %w", err)
	}
	if !o.insert.CompareAndSwap(nil, st) {
		st.Close()
	}
	return nil
}

// Wake tells the dispatchers of this process to look for due messages now
// rather than at their next poll. It never blocks; call it after the
// transaction that enqueued messages has committed.
func (o *Outbox) Wake() {
	o.mu.Lock()
	defer o.mu.Unlock()
	for ch := range o.waiters {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// subscribe returns a channel (buffer 1) that Wake signals.
func (o *Outbox) subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	o.mu.Lock()
	o.waiters[ch] = struct{}{}
	o.mu.Unlock()
	return ch, func() {
		o.mu.Lock()
		delete(o.waiters, ch)
		o.mu.Unlock()
	}
}

// Stats describes the outbox for health checks and metrics.
type Stats struct {
	// Pending counts messages not yet sent nor given up, bundled ones
	// (StageBundle) included; they count as due too.
	Pending int64
	// Due counts pending messages whose time has come (a growing Due means
	// the dispatchers are not keeping up or a provider is down).
	Due int64
	// Failed counts messages given up on.
	Failed int64
	// OldestDue is when the longest-waiting due message became due (zero
	// when none is due); now minus OldestDue is the delivery lag (NOT-03).
	OldestDue time.Time
}

// Stats counts the outbox's messages.
func (o *Outbox) Stats(ctx context.Context) (Stats, error) {
	var s Stats
	var oldest sql.NullInt64
	now := o.clock.Now().UnixMicro()
	err := o.db.Read.QueryRowContext(ctx, `SELECT
			COUNT(*),
			COALESCE(SUM(CASE WHEN next_attempt_at <= $1 THEN 1 ELSE 0 END), 0),
			MIN(CASE WHEN next_attempt_at <= $1 THEN next_attempt_at END)
		FROM notification_outbox WHERE status = 'pending'`, now).Scan(&s.Pending, &s.Due, &oldest)
	if err != nil {
		return Stats{}, fmt.Errorf("notify: stats: %w", err)
	}
	// Bundled messages (StageBundle) are pending and due from their commit.
	var bundled int64
	var oldestBundle sql.NullInt64
	if err := o.db.Read.QueryRowContext(ctx, `SELECT COALESCE(SUM(messages), 0), MIN(created_at) FROM notification_bundles`).Scan(&bundled, &oldestBundle); err != nil {
		return Stats{}, fmt.Errorf("notify: stats: %w", err)
	}
	s.Pending += bundled
	s.Due += bundled
	if oldestBundle.Valid && (!oldest.Valid || oldestBundle.Int64 < oldest.Int64) {
		oldest = oldestBundle
	}
	if oldest.Valid {
		s.OldestDue = time.UnixMicro(oldest.Int64).UTC()
	}
	if err := o.db.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM notification_outbox WHERE status = 'failed'`).Scan(&s.Failed); err != nil {
		return Stats{}, fmt.Errorf("notify: stats: %w", err)
	}
	return s, nil
}

// Pending returns how many messages wait to be sent, bundled ones
// (StageBundle) included.
func (o *Outbox) Pending(ctx context.Context) (int64, error) {
	var n int64
	if err := o.db.Read.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM notification_outbox WHERE status = 'pending') +
		(SELECT COALESCE(SUM(messages), 0) FROM notification_bundles)`).Scan(&n); err != nil {
		return 0, fmt.Errorf("notify: count pending: %w", err)
	}
	return n, nil
}

// Purge deletes sent and failed messages created before before, and
// returns how many it deleted. Pending messages are never purged.
func (o *Outbox) Purge(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := o.db.InTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM notification_outbox WHERE status IN ('sent','failed') AND created_at < $1`, before.UnixMicro())
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("notify: purge: %w", err)
	}
	return n, nil
}
