// Package sandbox is OKPay's built-in payment service provider for tests
// and demonstrations. It runs inside the okpay binary, keeps its own
// records in its own tables (psp_sandbox_*), answers asynchronously through
// webhooks signed with psp.Sign, and has its own page, /sandbox/, that shows
// everything it received. No real money moves.
//
// # Hosted card field
//
// The customer's browser sends the card number, expiry and CVC directly to
// the sandbox, POST /sandbox/v1/tokens (JSON or a form), and gets back a
// token (tok_...) with the card's brand, last4, expiry and fingerprint.
// OKPay's own handlers only ever see the token (CRD-01). The sandbox never
// stores, logs or returns the number or the CVC: a token row keeps the
// fingerprint (HMAC of the number under a key derived from Options.Secret,
// the same for the same number whatever the token), brand, last4, expiry
// and the test behaviour derived from the number.
//
// JSON: {"number":"4242 4242 4242 4242","exp_month":12,"exp_year":2030,"cvc":"123"}
// (exp_month and exp_year may be strings; "exp":"12/30" may replace them).
// A form post takes the same fields and, with return_to (a path on this
// site), answers 303 to return_to?card_token=tok_... or
// return_to?card_error=<code>&card_error_field=<field>.
//
// # Test card numbers
//
// Any expiry in the future and any CVC of the right length (4 digits for
// American Express, 3 otherwise) work with them:
//
//	Number               Brand        Behaviour
//	4242 4242 4242 4242  visa         charges and payouts succeed
//	4000 0000 0000 0002  visa         charges are declined (card_declined)
//	4000 0000 0000 9995  visa         charges fail with insufficient_funds; zero-amount verifications succeed
//	4000 0000 0000 3220  visa         charges require a 3-D Secure challenge (complete or fail it on its page)
//	4000 0000 0000 0077  visa         charges succeed; payouts to the card fail (payout_declined)
//	4000 0025 0000 0003  visa         zero-amount verifications are not supported (zero_auth_unsupported,
//	                                  answered at once): authorise 1 EUR with AuthorizeOnly and Void it
//	5105 1051 0510 5100  mastercard   prepaid: charges succeed; not eligible for payouts (Card says so)
//	5555 5555 5555 4444  mastercard   charges and payouts succeed
//	6200 0000 0000 0005  unionpay     charges and payouts succeed
//	3782 822463 10005    amex         charges and payouts succeed
//	3566 0020 2036 0505  jcb          charges and payouts succeed
//
// Any other Luhn-valid number of 13 to 19 digits succeeds. A card whose
// expiry has passed by the time of a charge fails with expired_card.
// Card reports each card's funding type and issuer country (American
// Express and JCB are credit cards, the prepaid card is prepaid, the
// others debit; UnionPay is issued in CN, JCB in JP, the others in US)
// and whether it can receive payouts (all but the prepaid card). Detach
// ends a token: charges and payouts with it then fail as with an unknown
// token.
//
// Bank accounts (IBAN, checksum verified) and e-wallet accounts whose text
// contains "FAIL" fail their payouts (account_closed, account_not_found);
// for example GB94FAIL12345698765432. GB82WEST12345698765432 and
// DE89370400440532013000 succeed. Micro-deposits to a FAIL IBAN fail too.
//
// # Payee names and payout rails
//
// CheckPayeeName answers from the holder name typed: "Jon Smith" is a
// close match (the bank holds "John Smith"), "Wrong Name" no match,
// "Unknown Holder" unavailable, any other name a match. RailStatus reports
// a payout rail (destination kind, currency or all) down while it is
// switched off on the sandbox page (POST /sandbox/rails) or by
// SetRailDown.
//
// # E-wallet OAuth
//
// The sandbox is every e-wallet's authorisation server too (CRD-10):
// EWalletAuthURL names its sign-in page, GET /sandbox/oauth/{provider}/authorize
// (response_type=code, state, S256 code_challenge, redirect_uri a path on
// this site), where the owner types the account id and allows or denies;
// the browser goes back with code and state (or error=access_denied).
// ExchangeEWalletCode redeems a code once, within 5 minutes, with the
// PKCE verifier and the same redirect URI, and returns the account id.
//
// # Flows
//
// Charge (amount zero is a verification) answers pending, or
// requires_action with ActionURL = BaseURL + /sandbox/3ds/<charge id> for
// the 3-D Secure card; Options.Delay later (or when the challenge is
// completed) the charge settles and a charge.succeeded or charge.failed
// event is queued. Payout answers pending and settles the same way
// (payout.succeeded, payout.failed); PayoutStatus polls it. The same
// Reference twice is the same operation (never charged or paid twice); the
// same Reference with different details is an okpay.EConflict error.
// MicroDeposits stores two amounts of 1..99 minor units (shown on the
// sandbox page, as on a bank statement) and queues micro_deposits.sent;
// SendEWalletCode stores a 6-digit code (shown on the page, as the e-wallet
// app would show it).
//
// # Webhooks
//
// Events go to a persistent outbox (psp_sandbox_events) in the same
// transaction as the state change, and the worker started by Start POSTs
// each to Options.WebhookURL with the psp.SignatureHeader, signed afresh at
// every attempt. Delivery is at least once: failures are retried with
// backoff (Options.Backoff) up to Options.MaxAttempts, leases keep
// concurrent workers (other nodes, a restarted process) from sending one
// event at the same time, and events still pending when the process stops
// are sent by the next Sandbox on the same database. Every event has a
// unique id (evt_...); the consumer drops replays by that id and orders
// events of one object by their creation time (see psp.SignatureHeader).
//
// Mount Handler at "/sandbox/" on the server's mux without stripping the
// prefix. Its state-changing routes are POST only; the server's
// cross-origin protection guards them.
package sandbox

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/okpay/okpay/clock"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/psp"
	"github.com/okpay/okpay/sqldb"
)

// Name is the provider name of the sandbox.
const Name = "sandbox"

// Defaults of Options.
const (
	DefaultDelay       = 2 * time.Second
	DefaultPoll        = 500 * time.Millisecond
	DefaultLease       = 30 * time.Second
	DefaultMaxAttempts = 12
)

// DefaultBackoff waits 5 s after the first failed delivery and doubles the
// pause each time, up to 15 minutes.
func DefaultBackoff(attempt int) time.Duration {
	d := 5 * time.Second
	for i := 1; i < attempt && d < 15*time.Minute; i++ {
		d *= 2
	}
	return min(d, 15*time.Minute)
}

// Options configure a Sandbox. DB, Clock, IDs and Secret are required.
type Options struct {
	DB    *sqldb.DB
	Clock clock.Clock
	IDs   ids.Generator
	// Secret signs the webhooks (the consumer verifies them with the same
	// secret); a key derived from it makes card fingerprints. At least 16
	// bytes.
	Secret []byte
	// WebhookURL receives the events. Empty: events wait in the outbox
	// (and show on the sandbox page) until a Sandbox with a URL runs.
	WebhookURL string
	// HTTPClient sends the webhooks (default: 10 s timeout, no redirects
	// followed).
	HTTPClient *http.Client
	Logger     *slog.Logger // default slog.Default(); never sees card data
	// BaseURL is the public URL of the OKPay server ("https://okpay.example"),
	// for the 3-D Secure pages' links. Empty: links are relative paths.
	BaseURL string
	// Catalog translates the sandbox pages (default: i18n.New()).
	Catalog *i18n.Catalog
	// Delay is how long charges and payouts stay pending before they
	// settle (default DefaultDelay; negative: settle at the next worker
	// round).
	Delay time.Duration
	// Poll is how often the worker looks for due work when not woken
	// (default DefaultPoll).
	Poll time.Duration
	// Backoff is the pause after the attempt-th failed delivery (default
	// DefaultBackoff).
	Backoff func(attempt int) time.Duration
	// MaxAttempts failed deliveries mark an event failed (default
	// DefaultMaxAttempts); it can be retried from the sandbox page.
	MaxAttempts int
	// Lease is how long a worker holds an event it is delivering (default
	// DefaultLease); a worker that dies delays the event by at most this.
	Lease time.Duration
}

// Sandbox is the built-in payment service provider. It is safe for
// concurrent use.
type Sandbox struct {
	db      *sqldb.DB
	clock   clock.Clock
	ids     ids.Generator
	secret  []byte
	fpKey   []byte
	hook    string
	client  *http.Client
	log     *slog.Logger
	base    string
	catalog *i18n.Catalog
	delay   time.Duration
	poll    time.Duration
	backoff func(int) time.Duration
	maxTry  int
	lease   time.Duration
	node    string // locked_by of this instance's claims

	wake chan struct{}

	mu      sync.Mutex
	cancel  context.CancelFunc
	done    chan struct{}
	started bool

	pages *pages
}

var _ psp.Provider = (*Sandbox)(nil)

// New returns a sandbox over opts.DB (migrated). Call Start to deliver
// webhooks.
func New(opts Options) (*Sandbox, error) {
	if opts.DB == nil || opts.Clock == nil || opts.IDs == nil {
		return nil, errors.New("sandbox: DB, Clock and IDs are required")
	}
	if len(opts.Secret) < 16 {
		return nil, errors.New("sandbox: the webhook secret must have at least 16 bytes")
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{
			Timeout:       10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Catalog == nil {
		c, err := i18n.New()
		if err != nil {
			return nil, err
		}
		opts.Catalog = c
	}
	switch {
	case opts.Delay == 0:
		opts.Delay = DefaultDelay
	case opts.Delay < 0:
		opts.Delay = 0
	}
	if opts.Poll <= 0 {
		opts.Poll = DefaultPoll
	}
	if opts.Backoff == nil {
		opts.Backoff = DefaultBackoff
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = DefaultMaxAttempts
	}
	if opts.Lease <= 0 {
		opts.Lease = DefaultLease
	}
	fp := hmac.New(sha256.New, opts.Secret)
	fp.Write([]byte("okpay sandbox card fingerprint v1"))
	var suffix [4]byte
	rand.Read(suffix[:])
	s := &Sandbox{
		db:      opts.DB,
		clock:   opts.Clock,
		ids:     opts.IDs,
		secret:  append([]byte(nil), opts.Secret...),
		fpKey:   fp.Sum(nil),
		hook:    opts.WebhookURL,
		client:  opts.HTTPClient,
		log:     opts.Logger,
		base:    strings.TrimRight(opts.BaseURL, "/"),
		catalog: opts.Catalog,
		delay:   opts.Delay,
		poll:    opts.Poll,
		backoff: opts.Backoff,
		maxTry:  opts.MaxAttempts,
		lease:   opts.Lease,
		node:    "sandbox#" + hex.EncodeToString(suffix[:]),
		wake:    make(chan struct{}, 1),
	}
	p, err := newPages(s)
	if err != nil {
		return nil, err
	}
	s.pages = p
	return s, nil
}

// Name returns "sandbox".
func (s *Sandbox) Name() string { return Name }

// SetWebhookURL changes where the events go, for a program that learns its
// own address only once it listens (a port chosen by the system). Call it
// before Start.
func (s *Sandbox) SetWebhookURL(u string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		panic("sandbox: SetWebhookURL after Start")
	}
	s.hook = u
}

// Start runs the worker that settles due charges and payouts and delivers
// webhooks, until ctx is done or Close is called. Calling it again does
// nothing.
func (s *Sandbox) Start(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return
	}
	s.started = true
	ctx, s.cancel = context.WithCancel(ctx)
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		s.run(ctx)
	}()
}

// Close stops the worker and waits for it. An event being delivered at
// that moment keeps its lease and is delivered again once it expires.
func (s *Sandbox) Close() {
	s.mu.Lock()
	cancel, done := s.cancel, s.done
	s.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// poke wakes the worker.
func (s *Sandbox) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// run is the worker loop.
func (s *Sandbox) run(ctx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-timer.C:
		}
		if err := s.settleDue(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("sandbox: settle charges and payouts", "err", err)
		}
		for ctx.Err() == nil {
			n, err := s.deliverDue(ctx)
			if err != nil && ctx.Err() == nil {
				s.log.Error("sandbox: deliver webhooks", "err", err)
			}
			if err != nil || n < claimBatch {
				break
			}
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(s.poll)
	}
}

// micros returns t as Unix microseconds.
func micros(t time.Time) int64 { return t.UnixMicro() }
