// Package ledger is OKPay's double-entry ledger: accounts per owner and
// currency, an append-only journal of entries whose postings each move one
// amount of one currency from a debit account to a credit account, four
// balance counters per account, two-phase holds, reversals and two layers
// of idempotency.
//
// Every write goes through a commit queue: concurrent requests are applied
// together in one database transaction with one result per request, and a
// caller gets its result only after that transaction has committed. One
// failing request never fails its neighbours: each request is validated
// against the balances in memory before anything is written.
//
// The ledger imports no other domain package.
package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/clock"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/sqldb"
	"github.com/prometheus/client_golang/prometheus"
)

// Error codes returned by the ledger, besides the generic ones of package okpay.
const (
	EInsufficientFunds      = "insufficient_funds"
	EAccountNotFound        = "account_not_found"
	ECurrencyMismatch       = "currency_mismatch"
	EReferenceConflict      = "reference_conflict"
	EPendingNotFound        = "pending_not_found"
	EPendingAlreadyResolved = "pending_already_resolved"
	EPendingExpired         = "pending_expired"
	EExceedsPendingAmount   = "exceeds_pending_amount"
	EExceedsReversible      = "exceeds_reversible_amount"
	ENotReversible          = "not_reversible"
	EIdempotencyKeyReused   = "idempotency_key_reused"
	EIdempotencyInFlight    = "idempotency_request_in_flight"
	EOverflow               = "amount_overflow"
	EEntryNotFound          = "entry_not_found"
)

// Id prefixes: accounts and entries are shown as acc_… and ent_…
// (package ids) in messages and APIs.
const (
	AccountPrefix = "acc"
	EntryPrefix   = "ent"
)

// AccountRef formats an account id for people.
func AccountRef(id int64) string { return ids.Format(AccountPrefix, id) }

// EntryRef formats an entry id for people.
func EntryRef(id int64) string { return ids.Format(EntryPrefix, id) }

// Kind is the kind of an account.
type Kind string

// Account kinds. User wallets and merchants belong to customers; the rest
// belong to the platform.
const (
	KindUserWallet Kind = "user_wallet"
	KindMerchant   Kind = "merchant"
	KindExternal   Kind = "external"     // settlement with a provider, e.g. external:card
	KindClearing   Kind = "clearing"     // e.g. clearing:withdrawals
	KindFees       Kind = "fees"         // fee revenue (and fees:pending)
	KindFX         Kind = "fx_liquidity" // one per currency
	KindSuspense   Kind = "suspense"
)

// Kinds lists the valid kinds.
var Kinds = []Kind{KindUserWallet, KindMerchant, KindExternal, KindClearing, KindFees, KindFX, KindSuspense}

// Valid reports whether k is a known kind.
func (k Kind) Valid() bool {
	for _, x := range Kinds {
		if x == k {
			return true
		}
	}
	return false
}

// Flags are account flags.
type Flags uint32

// Account flags.
const (
	// FlagNoOverdraft: debits (posted plus pending) must never exceed posted
	// credits, so the available balance never drops below zero.
	FlagNoOverdraft Flags = 1 << iota
)

// Balance holds TigerBeetle's four counters.
type Balance struct {
	PostedDebits   int64
	PostedCredits  int64
	PendingDebits  int64
	PendingCredits int64
}

// Posted is credits posted minus debits posted.
func (b Balance) Posted() int64 { return b.PostedCredits - b.PostedDebits }

// Available is credits posted minus debits posted minus debits pending:
// what the owner of a credit-normal account can spend.
func (b Balance) Available() int64 { return b.PostedCredits - b.PostedDebits - b.PendingDebits }

// Account is a ledger account.
type Account struct {
	ID        int64
	Code      string // optional unique name, e.g. "fees:revenue:USD"
	Owner     string
	Currency  money.Currency
	Kind      Kind
	Flags     Flags
	Metadata  map[string]string
	CreatedAt time.Time
	Balance   Balance
}

// Phase is the phase of a journal entry.
type Phase string

// Entry phases. A pending entry is resolved at most once, by a later entry
// in phase post, void or expire that names it in PendingID.
const (
	PhasePosted  Phase = "posted"
	PhasePending Phase = "pending"
	PhasePost    Phase = "post"
	PhaseVoid    Phase = "void"
	PhaseExpire  Phase = "expire"
)

// Posting moves Amount (minor units, > 0) of Currency from the Debit
// account to the Credit account; both must hold that currency, so every
// posting — and so every entry — balances per currency.
type Posting struct {
	Seq      int
	Debit    int64
	Credit   int64
	Amount   int64
	Currency money.Currency
}

// Entry is a journal entry. Entries are never changed or deleted.
type Entry struct {
	ID          int64
	Reference   string
	Type        string
	Phase       Phase
	PendingID   int64 // set on post, void and expire entries
	ReversesID  int64 // set on reversals
	ExpiresAt   time.Time
	Postings    []Posting
	Metadata    map[string]string
	EffectiveAt time.Time
	CreatedAt   time.Time
}

// EntryInput asks for a new entry.
type EntryInput struct {
	// Reference is the caller's unique id for this entry: a retry with the
	// same reference and content returns the original entry; the same
	// reference with other content fails with EReferenceConflict.
	Reference string
	Type      string
	Postings  []Posting // Seq is assigned by position
	// Pending makes a two-phase hold, later posted or voided.
	Pending bool
	// Timeout voids a pending entry automatically when it elapses (0: never).
	Timeout     time.Duration
	EffectiveAt time.Time // zero means the commit time
	Metadata    map[string]string
}

// ResolveInput posts or voids a pending entry.
type ResolveInput struct {
	Reference string
	PendingID int64
	Void      bool
	// Amounts, when set, posts less than held: one amount per posting of
	// the pending entry, each between 0 and the held amount; the rest is
	// released. Nil posts everything.
	Amounts []int64
	// Currencies, when set, names the currency of each amount; each must
	// be its posting's currency (callers that take amounts from outside
	// set it so a JPY amount is never read as USD minor units).
	Currencies []money.Currency
	Metadata   map[string]string
}

// ReverseInput books a reversing entry for a posted entry.
type ReverseInput struct {
	Reference string
	EntryID   int64
	// Amounts, when set, reverses part: one amount per posting of the
	// original. Nil reverses what is left to reverse.
	Amounts []int64
	// Currencies: as in ResolveInput.
	Currencies []money.Currency
	Metadata   map[string]string
}

// Idem attaches an HTTP Idempotency-Key record to a request: it is stored
// in the same transaction as the request's effect, and a later request with
// the same principal and key gets the stored response back.
type Idem struct {
	Principal   string
	Key         string
	RequestHash []byte
	// Render turns the outcome into the response to store and send. It
	// runs in the commit queue: keep it quick. store=false (for failures
	// that a retry might cure) stores nothing.
	Render func(e *Entry, err error) (status int, body []byte, store bool)
	// FromEntry says a success is not stored: its entry is the record. A
	// retry finds the entry by its reference and gets Render's answer for
	// it again, marked Replayed; the request hash is bound into the
	// entry's content hash, so a retry with another request is refused
	// (idempotency_key_reused). Failures are stored as without it. Set it
	// only when the reference is derived from Principal and Key alone.
	// It saves a stored response (and a random index insert) per success.
	FromEntry bool
}

// Response is a stored (or freshly rendered) HTTP response.
type Response struct {
	Status int
	Body   []byte
	// Replayed is true when it was stored by an earlier request.
	Replayed bool
	// Stored is true when this request's commit stored it, in the same
	// transaction as the entry: the caller has nothing left to store.
	Stored bool
}

// Outcome is the result of a write.
type Outcome struct {
	Entry *Entry
	// Existing is true when Reference named an entry made earlier.
	Existing bool
	// Response is set when an Idem was attached.
	Response *Response
}

// Options configure a Ledger.
type Options struct {
	Clock  clock.Clock
	IDs    ids.Generator
	Logger *slog.Logger
	// Registerer receives the ledger's metrics (nil: not registered).
	Registerer prometheus.Registerer
	// MaxBatch caps the requests committed together (default 512).
	MaxBatch int
	// Writers is the number of concurrent committers on PostgreSQL
	// (default 1: random transfers make concurrent batches lock the same
	// balance rows, and one writer with bigger batches measured faster
	// than 2, 4 or 8). SQLite always has one.
	Writers int
	// SweepInterval is how often expired holds are voided (default 1 s;
	// negative disables the sweeper).
	SweepInterval time.Duration
	// IdempotencyRetention is how long stored Idempotency-Key responses
	// are kept (default and minimum 24 h).
	IdempotencyRetention time.Duration
}

// Ledger is the ledger service.
type Ledger struct {
	db      *sqldb.DB
	clock   clock.Clock
	ids     ids.Generator
	log     *slog.Logger
	queue   chan *request
	max     int
	metrics *metrics
	sql     *dialectSQL
	// retention of idempotency records
	retention time.Duration
	// lastEntry is the last entry id handed out (SQLite: entry ids must
	// grow across restarts, even if the clock stepped back, because the
	// history index follows them).
	lastEntry atomic.Int64
	// durable is the last entry id whose batch is durable (acknowledged):
	// the history index (SQLite) goes no further.
	durable atomic.Int64
	// unindexed counts the durable entries the history index has not
	// taken yet (SQLite).
	unindexed atomic.Int64
	// hist is the per-account history index (SQLite; history.go).
	hist *history

	// cache holds account facts and, on SQLite where this process is the
	// only writer, authoritative balances. Guarded by cacheMu.
	cacheMu sync.Mutex
	cache   map[int64]*acctState

	stop     context.CancelFunc
	wg       sync.WaitGroup // sweeper
	writers  sync.WaitGroup
	syncq    chan synced // committed, waiting for the log's flush
	syncDone chan struct{}
	closed   chan struct{}
	closeMu  sync.RWMutex
	isClosed bool
}

// New returns a Ledger on db and starts its commit queue and sweeper. Call
// Close to stop them. It records the currency table on first use and fails
// if a stored exponent differs from this binary's.
func New(ctx context.Context, db *sqldb.DB, opts Options) (*Ledger, error) {
	if opts.Clock == nil {
		opts.Clock = clock.System{}
	}
	if opts.IDs == nil {
		g, err := ids.NewSnowflake(0, opts.Clock.Now)
		if err != nil {
			return nil, err
		}
		opts.IDs = g
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 512
	}
	if opts.Writers <= 0 {
		opts.Writers = 1
	}
	if db.Dialect == sqldb.SQLite {
		opts.Writers = 1
	}
	if opts.SweepInterval == 0 {
		opts.SweepInterval = time.Second
	}
	l := &Ledger{
		db:      db,
		clock:   opts.Clock,
		ids:     opts.IDs,
		log:     opts.Logger,
		queue:   make(chan *request, 4*opts.MaxBatch),
		max:     opts.MaxBatch,
		metrics: newMetrics(opts.Registerer),
		sql:     sqlFor(db.Dialect),
		cache:   make(map[int64]*acctState),
		closed:  make(chan struct{}),

		retention: opts.IdempotencyRetention,
	}
	if err := l.syncCurrencies(ctx); err != nil {
		return nil, err
	}
	var maxID int64
	if err := db.Read.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) FROM journal_entries`).Scan(&maxID); err != nil {
		return nil, fmt.Errorf("ledger: read the last entry id: %w", err)
	}
	l.lastEntry.Store(maxID)
	l.durable.Store(maxID)
	if db.Dialect == sqldb.SQLite {
		h, behind, err := openHistory(ctx, db, maxID, l.log)
		if err != nil {
			return nil, err
		}
		l.hist = h
		if behind {
			// A new or rebuilt file, or the tail the last run left: index
			// it at the first tick, not only once new entries come.
			l.unindexed.Store(historyBatch)
		}
	}
	rctx, cancel := context.WithCancel(context.Background())
	l.stop = cancel
	l.syncq = make(chan synced, 64)
	l.syncDone = make(chan struct{})
	go l.syncer()
	if l.hist != nil {
		go l.indexer(rctx)
	}
	for i := 0; i < opts.Writers; i++ {
		l.writers.Add(1)
		go l.writer(rctx)
	}
	if opts.SweepInterval > 0 {
		l.wg.Add(1)
		go l.sweeper(rctx, opts.SweepInterval)
	}
	return l, nil
}

// Close stops taking requests, lets queued ones finish and waits for the
// writers.
func (l *Ledger) Close() {
	l.closeMu.Lock()
	if l.isClosed {
		l.closeMu.Unlock()
		return
	}
	l.isClosed = true
	close(l.closed)
	l.closeMu.Unlock()
	l.stop()
	l.writers.Wait()
	close(l.syncq)
	<-l.syncDone
	l.wg.Wait()
	if l.hist != nil {
		l.hist.close()
	}
}

// syncCurrencies stores the exponent of every currency this binary knows
// and refuses to run when the database disagrees (a scale must never change).
func (l *Ledger) syncCurrencies(ctx context.Context) error {
	rows, err := l.db.Read.QueryContext(ctx, `SELECT code, exponent FROM currencies`)
	if err != nil {
		return fmt.Errorf("ledger: read currencies: %w", err)
	}
	stored := map[string]int{}
	for rows.Next() {
		var code string
		var exp int
		if err := rows.Scan(&code, &exp); err != nil {
			rows.Close()
			return err
		}
		stored[code] = exp
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	var missing []money.Currency
	for _, c := range money.Currencies() {
		exp, ok := stored[string(c)]
		if !ok {
			missing = append(missing, c)
			continue
		}
		if exp != c.Exponent() {
			return fmt.Errorf("ledger: currency %s has exponent %d in the database but %d in this binary; a currency's scale must never change", c, exp, c.Exponent())
		}
	}
	if len(missing) == 0 {
		return nil
	}
	tx, err := l.db.Write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, c := range missing {
		if _, err := tx.ExecContext(ctx, `INSERT INTO currencies(code, exponent) VALUES ($1, $2) ON CONFLICT (code) DO NOTHING`, string(c), c.Exponent()); err != nil {
			return fmt.Errorf("ledger: store currency %s: %w", c, err)
		}
	}
	return tx.Commit()
}

// entryID returns a new entry id. On SQLite (one node) it is above every
// earlier one even if the clock stepped back since they were made; on
// PostgreSQL ids stay those of the node's generator, which are unique
// across nodes.
func (l *Ledger) entryID() int64 {
	if l.db.Dialect != sqldb.SQLite {
		return l.ids.Next()
	}
	for {
		last := l.lastEntry.Load()
		id := l.ids.Next()
		if id <= last {
			id = last + 1
		}
		if l.lastEntry.CompareAndSwap(last, id) {
			return id
		}
	}
}

var errClosed = okpay.Errorf(okpay.EUnavailable, "the ledger is shutting down")

// Post books a new entry (or hold, when in.Pending).
func (l *Ledger) Post(ctx context.Context, in EntryInput) (*Entry, error) {
	out, err := l.Submit(ctx, Op{Entry: &in}, nil)
	return out.Entry, err
}

// Resolve posts or voids a pending entry, exactly once.
func (l *Ledger) Resolve(ctx context.Context, in ResolveInput) (*Entry, error) {
	out, err := l.Submit(ctx, Op{Resolve: &in}, nil)
	return out.Entry, err
}

// Reverse books a reversing entry for a posted entry.
func (l *Ledger) Reverse(ctx context.Context, in ReverseInput) (*Entry, error) {
	out, err := l.Submit(ctx, Op{Reverse: &in}, nil)
	return out.Entry, err
}

// Op is one write: exactly one of Entry, Resolve and Reverse is set.
type Op struct {
	Entry   *EntryInput
	Resolve *ResolveInput
	Reverse *ReverseInput
	// Hook, when set, lets the caller write its own rows in the same
	// transaction as the entry: a wallet's transaction record, its limit
	// counters, the notifications (outbox). See Hook.
	Hook Hook
	// TxHook is Hook with inserts deferred to the end of the batch (see
	// TxHook and Tx): the faster way to write rows. At most one of Hook
	// and TxHook is set.
	TxHook TxHook
}

// Hook runs inside the commit queue's transaction, in a savepoint, just
// before the ledger decides the request; entryID is the id the request's
// entry will have. It is not run for a replay (a stored Idempotency-Key
// response or an existing reference). It may run more than once for one
// request, when a batch is retried: all its effects must go through tx.
//
// An error that carries a code (an *okpay.Error or a coded error of
// another package) fails this request alone: the hook's writes are rolled
// back to the savepoint and nothing is booked. An uncoded error fails the
// batch's transaction (which is retried, then committed request by
// request). When the hook succeeds but the ledger refuses the entry
// (insufficient funds, say), the hook's writes are rolled back too.
//
// Hooks run one at a time on the writer's goroutine: keep them quick, and
// never wait on another ledger request from inside one. Each INSERT a Hook
// runs is a statement per request, in a savepoint where SQLite copies
// every page it touches: a TxHook, which defers its rows to one multi-row
// statement per table and batch, is several times cheaper for hooks that
// write rows.
type Hook func(ctx context.Context, tx *sql.Tx, entryID int64) error

// Submit validates op, queues it (with an optional idempotency record) and waits until
// the transaction holding it has committed. When ctx ends first, Submit
// returns ctx's error, and the op may still be applied: retry with the same
// reference or key to learn its fate.
func (l *Ledger) Submit(ctx context.Context, op Op, idem *Idem) (Outcome, error) {
	r, err := newRequest(op, idem)
	if err != nil {
		// Invalid requests execute nothing, so nothing is remembered under
		// an idempotency key either: the caller may fix and resend.
		return Outcome{}, err
	}
	return l.submitRequest(ctx, r)
}

func (l *Ledger) submitRequest(ctx context.Context, r *request) (Outcome, error) {
	l.closeMu.RLock()
	if l.isClosed {
		l.closeMu.RUnlock()
		return Outcome{}, errClosed
	}
	select {
	case l.queue <- r:
	case <-ctx.Done():
		l.closeMu.RUnlock()
		return Outcome{}, ctx.Err()
	}
	l.closeMu.RUnlock()
	select {
	case <-r.done:
		return r.out, r.err
	case <-ctx.Done():
		return Outcome{}, ctx.Err()
	}
}

// isCode reports whether err carries the given code.
func isCode(err error, code string) bool {
	var e *okpay.Error
	return errors.As(err, &e) && e.Code == code
}
