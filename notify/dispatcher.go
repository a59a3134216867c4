package notify

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/okpay/okpay/sqldb"
)

// Sender delivers messages of one channel. Send returns nil once the
// provider has accepted the message. An error wrapped with Permanent gives
// the message up at once; any other error is retried later. Senders
// receive each message at least once and may receive it again (after a
// crash or an expired lease): they pass m.DedupeKey to the provider so it
// can drop the copy.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// TxSender is a Sender whose delivery is a write to the outbox's own
// database (the in-app channel). The dispatcher calls SendTx inside the
// transaction that records the outcomes of a batch, so the delivery and
// its "sent" mark commit together, in one write for the whole batch. An
// error other than a PermanentError returned before tx was used makes
// the dispatcher record the batch message by message instead (Send in
// its own transaction).
type TxSender interface {
	Sender
	SendTx(ctx context.Context, tx *sql.Tx, m Message) error
}

// PermanentError marks a failure that no retry can cure (a rejected
// address, a 4xx from the SMS gateway).
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return "permanent failure: " + e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent wraps err as a PermanentError.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{Err: err}
}

// IsPermanent reports whether err is, or wraps, a PermanentError.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}

// RetryAfterError asks the dispatcher to wait at least After before the
// next attempt (an SMS gateway's 429 Retry-After).
type RetryAfterError struct {
	Err   error
	After time.Duration
}

func (e *RetryAfterError) Error() string { return e.Err.Error() }
func (e *RetryAfterError) Unwrap() error { return e.Err }

// DispatcherOptions tune a Dispatcher. Zero values take the defaults.
type DispatcherOptions struct {
	// Node names this dispatcher in locked_by (default: the host name). A
	// random suffix keeps two dispatchers with one name apart.
	Node string
	// Poll is how often Run looks for due messages when not woken
	// (default 1 s).
	Poll time.Duration
	// Lease is how long a claimed message stays reserved for this
	// dispatcher (default 30 s). A dispatcher that dies holding a lease
	// delays its messages by at most Lease; each send is cut off at a
	// third of it so that a live dispatcher finishes within its lease.
	Lease time.Duration
	// MaxAttempts is how many failed attempts make a message "failed"
	// (default 10).
	MaxAttempts int
	// Backoff returns the pause after the attempt-th failed attempt
	// (default: DefaultBackoff).
	Backoff func(attempt int) time.Duration
	// Batch is how many messages one claim takes; they are sent
	// concurrently, and their outcomes recorded in one transaction
	// (default 32).
	Batch int
	// Logger receives delivery failures (default slog.Default()). It never
	// sees a message's content.
	Logger *slog.Logger
}

// DefaultBackoff waits 10 s after the first failure and doubles each
// time, up to 30 minutes.
func DefaultBackoff(attempt int) time.Duration {
	d := 10 * time.Second
	for i := 1; i < attempt && d < 30*time.Minute; i++ {
		d *= 2
	}
	return min(d, 30*time.Minute)
}

// Dispatcher sends the outbox's due messages. Several dispatchers, in one
// process or many, may run over one database: a message is claimed by one
// of them at a time.
type Dispatcher struct {
	outbox   *Outbox
	senders  map[string]Sender
	channels []string
	opts     DispatcherOptions
	lockedBy string
	log      *slog.Logger
}

// NewDispatcher returns a dispatcher sending through senders, keyed by
// channel ("email", "sms", "inapp"). It only claims messages of the
// channels it has a sender for.
func NewDispatcher(outbox *Outbox, senders map[string]Sender, opts DispatcherOptions) *Dispatcher {
	if opts.Node == "" {
		opts.Node, _ = os.Hostname()
		if opts.Node == "" {
			opts.Node = "node"
		}
	}
	if opts.Poll <= 0 {
		opts.Poll = time.Second
	}
	if opts.Lease <= 0 {
		opts.Lease = 30 * time.Second
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 10
	}
	if opts.Backoff == nil {
		opts.Backoff = DefaultBackoff
	}
	if opts.Batch <= 0 {
		opts.Batch = 32
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	var suffix [4]byte
	rand.Read(suffix[:])
	d := &Dispatcher{
		outbox:   outbox,
		senders:  map[string]Sender{},
		opts:     opts,
		lockedBy: opts.Node + "#" + hex.EncodeToString(suffix[:]),
		log:      opts.Logger,
	}
	for ch, s := range senders {
		if s != nil {
			d.senders[ch] = s
			d.channels = append(d.channels, ch)
		}
	}
	slices.Sort(d.channels)
	return d
}

// Run sends due messages until ctx is done, looking again every Poll and
// whenever the outbox is woken. Database errors are logged and retried at
// the next poll. It returns nil once ctx is done; a message being sent at
// that moment keeps its lease and is sent again after it expires.
func (d *Dispatcher) Run(ctx context.Context) error {
	wake, stop := d.outbox.subscribe()
	defer stop()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-wake:
		case <-timer.C:
		}
		for {
			claimed, _, err := d.round(ctx)
			if ctx.Err() != nil {
				return nil
			}
			if err != nil {
				d.log.Error("notify: dispatch", "node", d.lockedBy, "err", err)
				break
			}
			if claimed == 0 {
				// Nothing more is due now. (A batch smaller than Batch
				// does not say so: a user's next message in a channel
				// becomes due only once the one before it is recorded.)
				break
			}
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(d.opts.Poll)
	}
}

// RunOnce sends every message that is due now and claimable, then
// returns how many it sent. A message that fails is not tried again by the
// same call unless its backoff has already passed.
func (d *Dispatcher) RunOnce(ctx context.Context) (sent int, err error) {
	for {
		claimed, n, err := d.round(ctx)
		sent += n
		if err != nil {
			return sent, err
		}
		if err := ctx.Err(); err != nil {
			return sent, err
		}
		if claimed == 0 {
			return sent, nil
		}
	}
}

// claimed is a leased row.
type claimed struct {
	id        int64
	dedupeKey string
	userID    int64
	channel   string
	kind      string
	sealed    []byte
	attempts  int
	until     int64 // the lease, which identifies this claim
}

// round claims one batch, sends it and records the outcomes: the
// messages of TxSender channels and every outcome in one transaction
// (recordBatch), so a batch costs two writes (claim and record) however
// large it is, instead of one per message. A success is recorded only
// when the whole batch has been tried (each send is cut off at a third of
// the lease): a crash meanwhile sends those messages again after the
// lease, which senders already allow for (dedupe keys).
func (d *Dispatcher) round(ctx context.Context) (claimedN, sent int, err error) {
	if len(d.channels) == 0 {
		return 0, 0, nil
	}
	// Bundled messages (StageBundle, bundle.go) are leased with the claim
	// and go out with the claimed ones.
	batch, bundles, err := d.claim(ctx)
	if err != nil {
		return 0, 0, err
	}
	outs := make([]outcome, len(batch), len(batch)+3*len(bundles))
	for i, c := range batch {
		outs[i].c = c
	}
	if len(bundles) > 0 {
		bouts, err := d.bundleOutcomes(ctx, bundles)
		if err != nil {
			// Not recorded, not deleted: their lease runs out and they
			// are taken again.
			d.log.Error("notify: dispatch bundles", "node", d.lockedBy, "err", err)
			bundles, bouts = nil, nil
		}
		outs = append(outs, bouts...)
	}
	if len(outs) == 0 && len(bundles) == 0 {
		return 0, 0, nil
	}
	var wg sync.WaitGroup
	for i := range outs {
		o := &outs[i]
		c := o.c
		if o.wait {
			continue
		}
		if o.m, o.err = d.open(c); o.err != nil {
			continue
		}
		if _, ok := d.senders[c.channel].(TxSender); ok {
			o.inTx = true
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sendCtx, cancel := context.WithTimeout(ctx, d.opts.Lease/3)
			o.err = d.send(sendCtx, o.m)
			cancel()
			if o.err != nil && ctx.Err() != nil {
				// Shutting down (or crashing): the outcome is unknown. Keep
				// the lease; the message is sent again once it expires.
				o.keep = true
			}
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		for i := range outs {
			if outs[i].inTx {
				outs[i].keep = true // not delivered: keep the lease
			}
		}
	}
	sent, err = d.recordBatch(ctx, outs, bundles)
	if err == nil {
		return len(outs) + len(bundles), sent, nil
	}
	// The batch's transaction failed: record message by message, the
	// TxSender ones delivered through their own Send.
	d.log.Warn("notify: recording a batch failed; recording its messages one by one", "node", d.lockedBy, "err", err)
	sent = 0
	var errs []error
	for i := range outs {
		o := &outs[i]
		if o.keep || o.bundle != nil {
			// A bundle's messages are recorded with its bundle only:
			// its lease runs out and it is sent again.
			continue
		}
		if o.inTx {
			o.err = d.send(ctx, o.m)
			if o.err != nil && ctx.Err() != nil {
				continue
			}
		}
		if err := d.record(ctx, o.c, o.m, o.err); err != nil {
			errs = append(errs, err)
		} else if o.err == nil {
			sent++
		}
	}
	return len(outs), sent, errors.Join(errs...)
}

// outcome is what happened to one claimed message of a round.
type outcome struct {
	c    claimed
	m    Message
	err  error // the send's (nil: sent)
	inTx bool  // delivered by a TxSender inside recordBatch
	keep bool  // outcome unknown (shutting down): record nothing, keep the lease

	// A bundled message (bundle.go): its bundle, the message as staged,
	// and whether it waits (written as staged, not sent this round).
	bundle *bundle
	staged Sealed
	wait   bool
}

// open unseals a claimed message. A message that cannot be opened fails
// for good: no retry will open it.
func (d *Dispatcher) open(c claimed) (Message, error) {
	m := Message{DedupeKey: c.dedupeKey, UserID: c.userID, Channel: c.channel, Kind: c.kind}
	plain, err := d.outbox.sealer.Open(c.sealed, aad(c.dedupeKey, c.userID, c.channel, c.kind))
	if err == nil {
		var ct content
		err = json.Unmarshal(plain, &ct)
		clear(plain)
		m.To, m.Subject, m.Body, m.HTML = ct.To, ct.Subject, ct.Body, ct.HTML
	}
	if err != nil {
		return m, Permanent(errors.New("cannot open the sealed content"))
	}
	return m, nil
}

// recordBatch delivers the TxSender messages of outs and records every
// outcome in one transaction, the leased bundles' too (recordBundles),
// and returns how many were sent. On error
// nothing of it is committed.
func (d *Dispatcher) recordBatch(ctx context.Context, outs []outcome, bundles []bundle) (int, error) {
	o := d.outbox
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	var sent int
	err := o.db.InTx(ctx, func(tx *sql.Tx) error {
		sent = 0
		now := o.clock.Now()
		// On SQLite, NOT INDEXED keeps the planner from walking every
		// pending row through notification_outbox_due for "status =
		// 'pending'" (the whole backlog, at every batch): rows are found
		// by id (rowid look-ups stay allowed).
		table := "notification_outbox"
		if o.db.Dialect == sqldb.SQLite {
			table += " NOT INDEXED"
		}
		ok := []byte(`UPDATE ` + table + ` SET status = 'sent', attempts = attempts + 1, sent_at = $1, locked_until = NULL
			WHERE status = 'pending' AND id IN (`)
		args := []any{now.UnixMicro()}
		for i := range outs {
			out := &outs[i]
			if out.keep || out.bundle != nil {
				continue
			}
			if out.inTx {
				out.err = d.senders[out.c.channel].(TxSender).SendTx(ctx, tx, out.m)
				if out.err != nil && !IsPermanent(out.err) {
					return out.err // tx may be unusable: give the batch up
				}
			}
			if out.err == nil {
				if len(args) > 1 {
					ok = append(ok, ", "...)
				}
				args = append(args, out.c.id)
				ok = sqldb.ListPlaceholders(o.db.Dialect, ok, len(args), 1)
				continue
			}
			q, qargs := d.failure(out.c, out.m, out.err, now)
			if _, err := tx.ExecContext(ctx, q, qargs...); err != nil {
				return err
			}
		}
		if len(args) > 1 {
			if _, err := tx.ExecContext(ctx, string(append(ok, ')')), args...); err != nil {
				return err
			}
			sent = len(args) - 1
		}
		n, err := d.recordBundles(ctx, tx, outs, bundles, now)
		sent += n
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("notify: record the outcomes of a batch: %w", err)
	}
	return sent, nil
}

// claimSQL selects the due messages of the dispatcher's channels. A
// message waits while an older message of the same user and channel is
// unsent (pending, leased or in backoff), so a user's messages leave in
// order; messages without a user are not ordered. One-time codes (kinds
// starting with UrgentKindPrefix) are outside that order both ways: a
// sign-in code must not wait behind a notice in backoff, and nothing
// waits for a code. An ordered message also waits while a bundle older
// than it ($2, firstBundle) is unsent: it may hold a message of the same
// lane (bundle.go).
const claimSQL = `SELECT m.id, m.dedupe_key, m.user_id, m.channel, m.kind, m.sealed, m.attempts
	FROM notification_outbox m
	WHERE m.status = 'pending' AND m.next_attempt_at <= $1
	  AND (m.locked_until IS NULL OR m.locked_until <= $1)
	  AND m.channel IN (%s)
	  AND (m.user_id = 0 OR substr(m.kind, 1, 5) = 'code_' OR m.id < $2 AND NOT EXISTS (
	        SELECT 1 FROM notification_outbox o
	        WHERE o.user_id = m.user_id AND o.channel = m.channel AND o.status = 'pending' AND o.id < m.id
	          AND substr(o.kind, 1, 5) <> 'code_'))
	ORDER BY m.next_attempt_at, m.id
	LIMIT %d`

// UrgentKindPrefix starts the kinds of one-time-code messages, which the
// per-user order does not hold back.
const UrgentKindPrefix = "code_"

// claim leases up to Batch due messages, and up to Batch bundles
// (bundle.go) when some wait, in one transaction. On PostgreSQL, FOR
// UPDATE SKIP LOCKED lets concurrent dispatchers take disjoint rows
// without waiting; on SQLite the single writer (BEGIN IMMEDIATE)
// serialises claims.
func (d *Dispatcher) claim(ctx context.Context) ([]claimed, []bundle, error) {
	o := d.outbox
	now := o.clock.Now()
	until := now.Add(d.opts.Lease).UnixMicro()
	bundled, err := d.bundlesWaiting(ctx, now.UnixMicro())
	if err != nil {
		return nil, nil, fmt.Errorf("notify: claim: %w", err)
	}
	var bundles []bundle
	var bad []error
	q := fmt.Sprintf(claimSQL, sqldb.Placeholders(nil, 3, len(d.channels)), d.opts.Batch)
	if o.db.Dialect == sqldb.Postgres {
		q += " FOR UPDATE OF m SKIP LOCKED"
	}
	args := []any{now.UnixMicro(), int64(0)}
	for _, ch := range d.channels {
		args = append(args, ch)
	}
	var out []claimed
	err = o.db.InTx(ctx, func(tx *sql.Tx) error {
		out, bundles, bad = out[:0], nil, nil
		if bundled {
			var err error
			if bundles, bad, err = d.leaseBundles(ctx, tx, now.UnixMicro(), until, d.opts.Batch); err != nil {
				return err
			}
		}
		first, err := firstBundle(ctx, tx)
		if err != nil {
			return err
		}
		args[1] = first
		rows, err := tx.QueryContext(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			c := claimed{until: until}
			if err := rows.Scan(&c.id, &c.dedupeKey, &c.userID, &c.channel, &c.kind, &c.sealed, &c.attempts); err != nil {
				return err
			}
			out = append(out, c)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rows.Close()
		if len(out) == 0 {
			return nil
		}
		upd := []byte(`UPDATE notification_outbox SET locked_until = $1, locked_by = $2 WHERE id IN (`)
		upd = sqldb.ListPlaceholders(o.db.Dialect, upd, 3, len(out))
		upd = append(upd, ')')
		uargs := []any{until, d.lockedBy}
		for _, c := range out {
			uargs = append(uargs, c.id)
		}
		_, err = tx.ExecContext(ctx, string(upd), uargs...)
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("notify: claim: %w", err)
	}
	if len(bad) > 0 {
		d.log.Error("notify: bundles that cannot be read are left in place", "node", d.lockedBy, "err", errors.Join(bad...))
	}
	return out, bundles, nil
}

func (d *Dispatcher) send(ctx context.Context, m Message) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("sender panicked: %v", r)
		}
	}()
	return d.senders[m.Channel].Send(ctx, m)
}

// failure is the statement recording a failed attempt (and logs it).
func (d *Dispatcher) failure(c claimed, m Message, sendErr error, now time.Time) (string, []any) {
	status, next, msg := d.failed(c, m, sendErr, now)
	// Only while this claim still holds the lease: another dispatcher
	// may have taken over (and sent) the message since.
	return `UPDATE notification_outbox SET status = $2, attempts = attempts + 1, next_attempt_at = $3,
				last_error = $4, locked_until = NULL
			WHERE id = $1 AND status = 'pending' AND locked_by = $5 AND locked_until = $6`,
		[]any{c.id, status, next, msg, d.lockedBy, c.until}
}

// failed is what a failed attempt leaves (and logs): the message's status,
// when it is tried again (unix µs) and the scrubbed error.
func (d *Dispatcher) failed(c claimed, m Message, sendErr error, now time.Time) (status string, next int64, msg string) {
	attempts := c.attempts + 1
	status = StatusPending
	if IsPermanent(sendErr) || attempts >= d.opts.MaxAttempts {
		status = StatusFailed
	}
	wait := d.opts.Backoff(attempts)
	var ra *RetryAfterError
	if errors.As(sendErr, &ra) && ra.After > wait {
		wait = ra.After
	}
	msg = scrub(sendErr.Error(), m)
	d.log.Warn("notify: delivery failed", "id", c.id, "channel", c.channel, "kind", c.kind,
		"attempt", attempts, "status", status, "err", msg)
	return status, now.Add(wait).UnixMicro(), msg
}

// record stores the outcome of one attempt in its own transaction (when a
// batch's transaction failed). It runs even when ctx has just been
// cancelled, so that a send that succeeded is not repeated.
func (d *Dispatcher) record(ctx context.Context, c claimed, m Message, sendErr error) error {
	o := d.outbox
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	now := o.clock.Now()
	var q string
	var args []any
	switch {
	case sendErr == nil:
		// Whoever holds the lease now, the message went out.
		q = `UPDATE notification_outbox SET status = 'sent', attempts = attempts + 1, sent_at = $2, locked_until = NULL
			WHERE id = $1 AND status = 'pending'`
		args = []any{c.id, now.UnixMicro()}
	default:
		q, args = d.failure(c, m, sendErr, now)
	}
	err := o.db.InTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, q, args...)
		return err
	})
	if err != nil {
		return fmt.Errorf("notify: record the outcome of message %d: %w", c.id, err)
	}
	return nil
}

// MaxErrorLen bounds last_error.
const MaxErrorLen = 500

var digitRun = regexp.MustCompile(`[0-9]{4,}`)

// scrub makes a provider error safe to store and log: it removes the
// message's destination, subject and body (and every run of four or more
// digits found in them, so a code echoed alone is removed too), flattens
// it to one line and cuts it to MaxErrorLen bytes.
func scrub(s string, m Message) string {
	var secrets []string
	for _, v := range []string{m.Body, m.HTML, m.Subject, m.To} {
		if len(v) >= 3 {
			secrets = append(secrets, v)
		}
		secrets = append(secrets, digitRun.FindAllString(v, -1)...)
	}
	// Longest first, so a body is removed whole before its parts.
	slices.SortFunc(secrets, func(a, b string) int { return len(b) - len(a) })
	for _, v := range secrets {
		s = strings.ReplaceAll(s, v, "[redacted]")
	}
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > MaxErrorLen {
		cut := MaxErrorLen
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
	}
	return s
}
