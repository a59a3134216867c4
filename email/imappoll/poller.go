// Package imappoll feeds mail from an IMAP mailbox to an ingest function:
// it logs in, selects the mailbox, hands every unseen message to Ingest and
// marks it \Seen (or moves it to another folder) only once Ingest has
// succeeded, then waits with IDLE for new mail (polling when the server has
// no IDLE) and reconnects with backoff when the connection drops.
//
// Delivery is at least once: if the mark or move fails after a successful
// Ingest the message comes again, so Ingest must be idempotent (maildesk
// deduplicates on Message-ID).
package imappoll

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// Ingest receives one raw RFC 5322 message. A nil error marks the message
// seen (or moves it); ErrReject marks it too, without retry; any other
// error leaves it unseen and it is offered again after Config.RetryDelay.
type Ingest func(ctx context.Context, raw []byte) error

// ErrReject may be returned (wrapped) by Ingest for a message that will
// never be accepted: it is marked like an ingested one and not retried.
var ErrReject = errors.New("imappoll: message rejected")

// Config says where the mailbox is and how to wait for mail.
type Config struct {
	Addr      string // host:port
	TLS       string // "tls" (implicit, port 993; default), "starttls" or "none"
	TLSConfig *tls.Config
	Username  string
	Password  string
	Mailbox   string // default "INBOX"
	// MoveTo, when set, is the folder ingested messages are moved to
	// (created if missing) instead of only being flagged \Seen.
	MoveTo string
	// PollInterval is how often to look for mail when the server has no
	// IDLE (or DisableIdle is set). Default 1 minute.
	PollInterval time.Duration
	// IdleRefresh ends IDLE and rescans at least this often. Default 10 min.
	IdleRefresh time.Duration
	DisableIdle bool
	// RetryDelay is how long a message whose Ingest failed waits before the
	// next attempt. Default 1 minute.
	RetryDelay time.Duration
	// MinBackoff and MaxBackoff bound the reconnect delay, which doubles
	// (with jitter) after each failed session. Defaults 1 s and 5 min.
	MinBackoff, MaxBackoff time.Duration
	// MaxMessageBytes: larger messages are never downloaded. Default 25 MiB.
	MaxMessageBytes int64
	// Oversize, when set, is told of each message over MaxMessageBytes,
	// from its envelope alone. When it returns nil the message is flagged
	// \Seen and \Flagged and left in the mailbox (never moved) for a
	// person to look at; otherwise, or when Oversize is nil, it is only
	// logged and left unseen, skipped until the poller restarts.
	Oversize func(ctx context.Context, m Oversized) error
	// BatchSize is how many messages are fetched per round. Default 20.
	BatchSize int
	// Timeout bounds dialing. Default 30 s.
	Timeout time.Duration
	// CommandTimeout bounds each IMAP command: a server that stops
	// answering is dropped and reconnected. Default 2 min.
	CommandTimeout time.Duration
	Logger         *slog.Logger // nil discards
	// Now is the clock for retry times; nil: time.Now.
	Now func() time.Time
}

// Oversized describes a message too large to fetch, from its IMAP
// envelope (header fields as the server parsed them).
type Oversized struct {
	UID       uint32
	Size      int64
	Date      time.Time
	Subject   string
	MessageID string
	InReplyTo []string
	// From is the first From address; FromName its display name.
	From, FromName string
	To             []string
}

// Poller runs one mailbox. Create it with New and call Run.
type Poller struct {
	cfg    Config
	ingest Ingest
	log    *slog.Logger

	mu          sync.Mutex
	uidValidity uint32
	retryAt     map[imap.UID]time.Time // failed Ingest: not before
	skip        map[imap.UID]bool      // too large
	stats       Stats
}

// Stats counts what a Poller did, for tests and metrics.
type Stats struct {
	Sessions, Ingested, Failed, Rejected, Skipped int
}

// New checks cfg and returns a Poller.
func New(cfg Config, ingest Ingest) (*Poller, error) {
	if cfg.Addr == "" {
		return nil, errors.New("imappoll: Addr is required")
	}
	if ingest == nil {
		return nil, errors.New("imappoll: Ingest is required")
	}
	switch cfg.TLS {
	case "":
		cfg.TLS = "tls"
	case "tls", "starttls", "none":
	default:
		return nil, fmt.Errorf("imappoll: unknown TLS mode %q (tls, starttls or none)", cfg.TLS)
	}
	if cfg.Mailbox == "" {
		cfg.Mailbox = "INBOX"
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.PollInterval, time.Minute)
	def(&cfg.IdleRefresh, 10*time.Minute)
	def(&cfg.RetryDelay, time.Minute)
	def(&cfg.MinBackoff, time.Second)
	def(&cfg.MaxBackoff, 5*time.Minute)
	def(&cfg.Timeout, 30*time.Second)
	def(&cfg.CommandTimeout, 2*time.Minute)
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = cfg.MinBackoff
	}
	if cfg.MaxMessageBytes <= 0 {
		cfg.MaxMessageBytes = 25 << 20
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 20
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Poller{cfg: cfg, ingest: ingest, log: log.With("component", "imappoll", "mailbox", cfg.Mailbox),
		retryAt: map[imap.UID]time.Time{}, skip: map[imap.UID]bool{}}, nil
}

// Stats returns a copy of the counters.
func (p *Poller) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

// Run polls until ctx is done and returns ctx.Err(). Connection and
// protocol errors are logged and followed by a reconnect with backoff.
func (p *Poller) Run(ctx context.Context) error {
	backoff := p.cfg.MinBackoff
	for {
		start := time.Now()
		established, err := p.session(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// A session that got going and lived a while resets the backoff.
		if established && time.Since(start) > 30*time.Second {
			backoff = p.cfg.MinBackoff
		}
		wait := backoff/2 + rand.N(backoff/2+1)
		p.log.Warn("imap session ended; reconnecting", "err", err, "in", wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		backoff = min(backoff*2, p.cfg.MaxBackoff)
	}
}

func (p *Poller) dial(opts *imapclient.Options) (*imapclient.Client, error) {
	opts.Dialer = &net.Dialer{Timeout: p.cfg.Timeout}
	switch p.cfg.TLS {
	case "none":
		return imapclient.DialInsecure(p.cfg.Addr, opts)
	case "starttls":
		return imapclient.DialStartTLS(p.cfg.Addr, opts)
	default:
		return imapclient.DialTLS(p.cfg.Addr, opts)
	}
}

// guard closes the connection if the command it surrounds takes longer
// than CommandTimeout (the client has no per-command deadline); call the
// returned function when the command is done.
func (p *Poller) guard(c *imapclient.Client) func() {
	t := time.AfterFunc(p.cfg.CommandTimeout, func() {
		p.log.Warn("imap command timed out; dropping the connection", "after", p.cfg.CommandTimeout)
		_ = c.Close()
	})
	return func() { t.Stop() }
}

// session runs one connection until an error or ctx is done.
func (p *Poller) session(ctx context.Context) (established bool, err error) {
	newMail := make(chan struct{}, 1)
	notify := func() {
		select {
		case newMail <- struct{}{}:
		default:
		}
	}
	opts := &imapclient.Options{
		TLSConfig: p.cfg.TLSConfig,
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Mailbox: func(d *imapclient.UnilateralDataMailbox) {
				if d.NumMessages != nil {
					notify()
				}
			},
		},
	}
	c, err := p.dial(opts)
	if err != nil {
		return false, fmt.Errorf("dial %s: %w", p.cfg.Addr, err)
	}
	defer c.Close()
	// Blocking client calls have no context: closing the connection ends them.
	stop := context.AfterFunc(ctx, func() { _ = c.Close() })
	defer stop()

	done := p.guard(c)
	err = c.Login(p.cfg.Username, p.cfg.Password).Wait()
	done()
	if err != nil {
		return false, fmt.Errorf("login: %w", err)
	}
	if p.cfg.MoveTo != "" {
		// Create fails when the folder exists, which is fine.
		done := p.guard(c)
		_ = c.Create(p.cfg.MoveTo, nil).Wait()
		done()
	}
	done = p.guard(c)
	sel, err := c.Select(p.cfg.Mailbox, nil).Wait()
	done()
	if err != nil {
		return false, fmt.Errorf("select %s: %w", p.cfg.Mailbox, err)
	}
	p.mu.Lock()
	if sel.UIDValidity != p.uidValidity {
		p.uidValidity = sel.UIDValidity
		p.retryAt = map[imap.UID]time.Time{}
		p.skip = map[imap.UID]bool{}
	}
	p.stats.Sessions++
	p.mu.Unlock()
	idle := !p.cfg.DisableIdle && (c.Caps().Has(imap.CapIdle) || c.Caps().Has(imap.CapIMAP4rev2))
	p.log.Info("imap session started", "idle", idle, "messages", sel.NumMessages)

	for {
		// Drain the notification first: mail arriving during the scan
		// wakes the next wait immediately.
		select {
		case <-newMail:
		default:
		}
		next, err := p.scan(ctx, c)
		if err != nil {
			return true, err
		}
		wait := p.cfg.PollInterval
		if idle {
			wait = p.cfg.IdleRefresh
		}
		if !next.IsZero() {
			if d := next.Sub(p.cfg.Now()); d < wait {
				wait = max(d, 10*time.Millisecond)
			}
		}
		if idle {
			err = p.idle(ctx, c, newMail, wait)
		} else {
			err = p.poll(ctx, c, wait)
		}
		if err != nil {
			return true, err
		}
	}
}

func (p *Poller) idle(ctx context.Context, c *imapclient.Client, newMail <-chan struct{}, wait time.Duration) error {
	cmd, err := c.Idle()
	if err != nil {
		return fmt.Errorf("idle: %w", err)
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-newMail:
	case <-t.C:
	case <-ctx.Done():
	case <-c.Closed():
	}
	done := p.guard(c)
	defer done()
	if err := cmd.Close(); err != nil {
		return fmt.Errorf("idle: %w", err)
	}
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("idle: %w", err)
	}
	return ctx.Err()
}

func (p *Poller) poll(ctx context.Context, c *imapclient.Client, wait time.Duration) error {
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return ctx.Err()
	case <-c.Closed():
		return errors.New("connection closed")
	}
	// NOOP lets the server report new messages and keeps the session alive.
	done := p.guard(c)
	defer done()
	if err := c.Noop().Wait(); err != nil {
		return fmt.Errorf("noop: %w", err)
	}
	return nil
}

// scan ingests every unseen message that is due and returns when the next
// failed one may be retried (zero when none).
func (p *Poller) scan(ctx context.Context, c *imapclient.Client) (time.Time, error) {
	done := p.guard(c)
	data, err := c.UIDSearch(&imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagSeen, imap.FlagDeleted}}, nil).Wait()
	done()
	if err != nil {
		return time.Time{}, fmt.Errorf("search: %w", err)
	}
	uids := data.AllUIDs()
	slices.Sort(uids)
	now := p.cfg.Now()
	var due []imap.UID
	var next time.Time
	p.mu.Lock()
	for _, uid := range uids {
		if p.skip[uid] {
			continue
		}
		if at, ok := p.retryAt[uid]; ok && at.After(now) {
			if next.IsZero() || at.Before(next) {
				next = at
			}
			continue
		}
		due = append(due, uid)
	}
	p.mu.Unlock()

	for len(due) > 0 {
		if ctx.Err() != nil {
			return next, ctx.Err()
		}
		batch := due[:min(len(due), p.cfg.BatchSize)]
		due = due[len(batch):]
		n, err := p.fetchBatch(ctx, c, batch)
		if err != nil {
			return next, err
		}
		if !n.IsZero() && (next.IsZero() || n.Before(next)) {
			next = n
		}
	}
	return next, nil
}

func (p *Poller) fetchBatch(ctx context.Context, c *imapclient.Client, uids []imap.UID) (time.Time, error) {
	// Sizes first, so that an oversized message is never downloaded.
	done := p.guard(c)
	sizes, err := c.Fetch(imap.UIDSetNum(uids...), &imap.FetchOptions{UID: true, RFC822Size: true}).Collect()
	done()
	if err != nil {
		return time.Time{}, fmt.Errorf("fetch sizes: %w", err)
	}
	var want []imap.UID
	for _, m := range sizes {
		if m.RFC822Size > p.cfg.MaxMessageBytes {
			if err := p.oversize(ctx, c, m.UID, m.RFC822Size); err != nil {
				if ctx.Err() != nil {
					return time.Time{}, ctx.Err()
				}
				p.log.Warn("message too large; left in the mailbox", "uid", m.UID, "bytes", m.RFC822Size, "err", err)
				p.mu.Lock()
				p.skip[m.UID] = true
				p.mu.Unlock()
			}
			p.mu.Lock()
			p.stats.Skipped++
			p.mu.Unlock()
			continue
		}
		want = append(want, m.UID)
	}
	if len(want) == 0 {
		return time.Time{}, nil
	}
	section := &imap.FetchItemBodySection{Peek: true}
	done = p.guard(c)
	msgs, err := c.Fetch(imap.UIDSetNum(want...), &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{section}}).Collect()
	done()
	if err != nil {
		return time.Time{}, fmt.Errorf("fetch: %w", err)
	}
	slices.SortFunc(msgs, func(a, b *imapclient.FetchMessageBuffer) int { return cmp.Compare(a.UID, b.UID) })
	var next time.Time
	for _, m := range msgs {
		raw := m.FindBodySection(section)
		if raw == nil {
			continue
		}
		err := p.ingest(ctx, raw)
		if ctx.Err() != nil {
			return next, ctx.Err()
		}
		switch {
		case err == nil || errors.Is(err, ErrReject):
			if err := p.done(c, m.UID); err != nil {
				return next, err
			}
			p.mu.Lock()
			delete(p.retryAt, m.UID)
			if err == nil {
				p.stats.Ingested++
			} else {
				p.stats.Rejected++
			}
			p.mu.Unlock()
			if err != nil {
				p.log.Warn("message rejected", "uid", m.UID, "err", err)
			}
		default:
			at := p.cfg.Now().Add(p.cfg.RetryDelay)
			p.mu.Lock()
			p.retryAt[m.UID] = at
			p.stats.Failed++
			p.mu.Unlock()
			if next.IsZero() || at.Before(next) {
				next = at
			}
			p.log.Warn("ingest failed; message left unseen", "uid", m.UID, "err", err, "retry_at", at)
		}
	}
	return next, nil
}

// errNoOversize: no Oversize handler is configured.
var errNoOversize = errors.New("no handler for oversized messages")

// oversize hands an oversized message's envelope to Config.Oversize and,
// when it is taken, flags the message \Seen and \Flagged.
func (p *Poller) oversize(ctx context.Context, c *imapclient.Client, uid imap.UID, size int64) error {
	if p.cfg.Oversize == nil {
		return errNoOversize
	}
	done := p.guard(c)
	msgs, err := c.Fetch(imap.UIDSetNum(uid), &imap.FetchOptions{UID: true, Envelope: true}).Collect()
	done()
	if err != nil {
		return fmt.Errorf("fetch envelope: %w", err)
	}
	if len(msgs) != 1 || msgs[0].Envelope == nil {
		return errors.New("no envelope")
	}
	e := msgs[0].Envelope
	o := Oversized{UID: uint32(uid), Size: size, Date: e.Date, Subject: e.Subject, MessageID: e.MessageID, InReplyTo: e.InReplyTo}
	if len(e.From) > 0 {
		o.From, o.FromName = e.From[0].Addr(), e.From[0].Name
	}
	for _, a := range e.To {
		o.To = append(o.To, a.Addr())
	}
	if err := p.cfg.Oversize(ctx, o); err != nil {
		return err
	}
	p.log.Info("message too large; reported and flagged in the mailbox", "uid", uid, "bytes", size)
	defer p.guard(c)()
	if err := c.Store(imap.UIDSetNum(uid), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagSeen, imap.FlagFlagged}}, nil).Close(); err != nil {
		return fmt.Errorf("store \\Seen \\Flagged: %w", err)
	}
	return nil
}

// done marks an ingested message: moved to MoveTo, or flagged \Seen.
func (p *Poller) done(c *imapclient.Client, uid imap.UID) error {
	defer p.guard(c)()
	set := imap.UIDSetNum(uid)
	if p.cfg.MoveTo != "" {
		// \Seen first, so a server that copies instead of moving does not
		// offer the message again.
		if err := c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagSeen}}, nil).Close(); err != nil {
			return fmt.Errorf("store \\Seen: %w", err)
		}
		if _, err := c.Move(set, p.cfg.MoveTo).Wait(); err != nil {
			return fmt.Errorf("move to %s: %w", p.cfg.MoveTo, err)
		}
		return nil
	}
	if err := c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagSeen}}, nil).Close(); err != nil {
		return fmt.Errorf("store \\Seen: %w", err)
	}
	return nil
}
