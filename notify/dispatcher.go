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
	// concurrently (default 8).
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
		opts.Batch = 8
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
			if claimed < d.opts.Batch {
				break // nothing more is due now
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

// round claims one batch, sends it and records the outcomes.
func (d *Dispatcher) round(ctx context.Context) (claimedN, sent int, err error) {
	if len(d.channels) == 0 {
		return 0, 0, nil
	}
	batch, err := d.claim(ctx)
	if err != nil || len(batch) == 0 {
		return 0, 0, err
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for _, c := range batch {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := d.deliver(ctx, c)
			mu.Lock()
			defer mu.Unlock()
			if ok {
				sent++
			}
			if err != nil {
				errs = append(errs, err)
			}
		}()
	}
	wg.Wait()
	return len(batch), sent, errors.Join(errs...)
}

// claimSQL selects the due messages of the dispatcher's channels. A
// message waits while an older message of the same user and channel is
// unsent (pending, leased or in backoff), so a user's messages leave in
// order; messages without a user are not ordered. One-time codes (kinds
// starting with UrgentKindPrefix) are outside that order both ways: a
// sign-in code must not wait behind a notice in backoff, and nothing
// waits for a code.
const claimSQL = `SELECT m.id, m.dedupe_key, m.user_id, m.channel, m.kind, m.sealed, m.attempts
	FROM notification_outbox m
	WHERE m.status = 'pending' AND m.next_attempt_at <= $1
	  AND (m.locked_until IS NULL OR m.locked_until <= $1)
	  AND m.channel IN (%s)
	  AND (m.user_id = 0 OR substr(m.kind, 1, 5) = 'code_' OR NOT EXISTS (
	        SELECT 1 FROM notification_outbox o
	        WHERE o.user_id = m.user_id AND o.channel = m.channel AND o.status = 'pending' AND o.id < m.id
	          AND substr(o.kind, 1, 5) <> 'code_'))
	ORDER BY m.next_attempt_at, m.id
	LIMIT %d`

// UrgentKindPrefix starts the kinds of one-time-code messages, which the
// per-user order does not hold back.
const UrgentKindPrefix = "code_"

// claim leases up to Batch due messages. On PostgreSQL, FOR UPDATE SKIP
// LOCKED lets concurrent dispatchers take disjoint rows without waiting;
// on SQLite the single writer (BEGIN IMMEDIATE) serialises claims.
func (d *Dispatcher) claim(ctx context.Context) ([]claimed, error) {
	o := d.outbox
	now := o.clock.Now()
	until := now.Add(d.opts.Lease).UnixMicro()
	q := fmt.Sprintf(claimSQL, sqldb.Placeholders(nil, 2, len(d.channels)), d.opts.Batch)
	if o.db.Dialect == sqldb.Postgres {
		q += " FOR UPDATE OF m SKIP LOCKED"
	}
	args := []any{now.UnixMicro()}
	for _, ch := range d.channels {
		args = append(args, ch)
	}
	var out []claimed
	err := o.db.InTx(ctx, func(tx *sql.Tx) error {
		out = out[:0]
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
		upd = sqldb.Placeholders(upd, 3, len(out))
		upd = append(upd, ')')
		uargs := []any{until, d.lockedBy}
		for _, c := range out {
			uargs = append(uargs, c.id)
		}
		_, err = tx.ExecContext(ctx, string(upd), uargs...)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("notify: claim: %w", err)
	}
	return out, nil
}

// deliver opens, sends and records one claimed message. It reports
// whether the message was sent.
func (d *Dispatcher) deliver(ctx context.Context, c claimed) (bool, error) {
	o := d.outbox
	m := Message{DedupeKey: c.dedupeKey, UserID: c.userID, Channel: c.channel, Kind: c.kind}
	plain, err := o.sealer.Open(c.sealed, aad(c.dedupeKey, c.userID, c.channel, c.kind))
	if err == nil {
		var ct content
		err = json.Unmarshal(plain, &ct)
		clear(plain)
		m.To, m.Subject, m.Body, m.HTML = ct.To, ct.Subject, ct.Body, ct.HTML
	}
	if err != nil {
		// Not a provider problem, and no retry will open it.
		return false, d.record(ctx, c, m, Permanent(errors.New("cannot open the sealed content")))
	}
	sendCtx, cancel := context.WithTimeout(ctx, d.opts.Lease/3)
	err = d.send(sendCtx, m)
	cancel()
	if err != nil && ctx.Err() != nil {
		// Shutting down (or crashing): the outcome is unknown. Keep the
		// lease; the message is sent again once it expires.
		return false, nil
	}
	return err == nil, d.record(ctx, c, m, err)
}

func (d *Dispatcher) send(ctx context.Context, m Message) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("sender panicked: %v", r)
		}
	}()
	return d.senders[m.Channel].Send(ctx, m)
}

// record stores the outcome of an attempt. It runs even when ctx has just
// been cancelled, so that a send that succeeded is not repeated.
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
		attempts := c.attempts + 1
		status := StatusPending
		if IsPermanent(sendErr) || attempts >= d.opts.MaxAttempts {
			status = StatusFailed
		}
		wait := d.opts.Backoff(attempts)
		var ra *RetryAfterError
		if errors.As(sendErr, &ra) && ra.After > wait {
			wait = ra.After
		}
		msg := scrub(sendErr.Error(), m)
		d.log.Warn("notify: delivery failed", "id", c.id, "channel", c.channel, "kind", c.kind,
			"attempt", attempts, "status", status, "err", msg)
		// Only while this claim still holds the lease: another dispatcher
		// may have taken over (and sent) the message since.
		q = `UPDATE notification_outbox SET status = $2, attempts = attempts + 1, next_attempt_at = $3,
				last_error = $4, locked_until = NULL
			WHERE id = $1 AND status = 'pending' AND locked_by = $5 AND locked_until = $6`
		args = []any{c.id, status, now.Add(wait).UnixMicro(), msg, d.lockedBy, c.until}
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
