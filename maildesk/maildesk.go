// Package maildesk is the support desk's email channel: mail received (by
// the SMTP listener of this package, or an IMAP poller) becomes messages of
// desk conversations, and agents' replies in email conversations go back
// out by mail.
//
// # Ingest
//
// Ingest keeps every mail as it came (email_inbound.raw: an agent can read
// the original), parses it with package email and files its visible text
// (quoted history and signature trimmed) and allowed attachments as a
// message of a conversation. A redelivery (same Message-ID and sender) is
// recognised and files nothing twice. Malformed mail is stored and flagged
// (an internal note says why); it never fails ingest.
//
// # Threading, and the sender check
//
// A mail continues an existing conversation found, in this order, by its
// In-Reply-To / References (email_threads maps every Message-ID we
// received or sent to its conversation), by a signed reply token in the
// address it was sent to (support+<token>@domain, see Tokens), or by the
// conversation's reference in "[...]" in its subject. It is attached there
// only when its sender is that conversation's customer: the customer's
// verified email address, or the address that started a visitor's
// conversation. Anyone else's mail starts a new conversation, routed to
// the security team, with an internal note saying which conversation it
// claimed and why it was not attached there (every anchor helpdesk lets a
// stranger's mail land in someone else's ticket: DESK.md, Email
// threading). Mail to a closed conversation starts a new one linked in a
// note; a resolved one opens again (the desk reopens on a customer's
// message).
//
// # Sender authentication
//
// A From address is easy to forge, so the sender check alone does not
// prove who wrote. Every mail is authenticated (email.Authenticate): a
// DKIM signature that verifies with a d= aligned (DMARC relaxed) to the
// From domain, or dmarc=pass from the trusted upstream's
// Authentication-Results (Config.Auth.TrustedAuthServID; that header from
// anyone else is ignored). The result is recorded on the mail
// (email_inbound.authenticated, auth). An unauthenticated mail that
// claims a customer's conversation is still attached (the zero-config
// setup and swaks send unsigned mail), but agents see an "unverified
// sender" warning on it and the conversation is tagged
// email-unverified-sender; it proves nothing about the customer (the
// channel raises no identity level: support actions keep their usual
// checks). With Config.RequireAuth it starts a new conversation, routed
// to the security team, with a note saying why.
//
// A mail reusing the Message-ID of an earlier mail from the same sender
// with different content is not taken for a redelivery: it is stored,
// filed and flagged (a forger guessing ids must not make a customer's
// mail vanish, nor slip in unnoticed).
//
// # Loops
//
// Automatic mail (out-of-office, bounces, lists: email.Message.AutoReply),
// mail from our own addresses, and a sender starting more than
// Config.MaxNewPerHour conversations an hour are stored and never
// answered, and open no conversation (an automatic reply to one of the
// sender's conversations shows there as an internal note).
//
// # Acknowledgement and replies
//
// The first mail of a new conversation is answered with its reference and
// the promised first-response time of the email SLA policy, in the
// language of the mail. An agent's public reply in an email conversation
// is queued (email_outbox) by a scan of recent agent messages and sent by
// the dispatcher (Dispatcher) with threading headers, retried with
// backoff on temporary failures.
package maildesk

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/okpay/okpay/clock"
	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/email"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/sqldb"
)

// Customers finds customers by their verified email address.
type Customers interface {
	// CustomerByEmail returns the customer whose verified email is addr
	// (ok false when no account has it verified).
	CustomerByEmail(ctx context.Context, addr string) (id int64, lang i18n.Lang, ok bool, err error)
	// CustomerEmail returns a customer's verified email ("" if none).
	CustomerEmail(ctx context.Context, id int64) (string, error)
}

// Config tunes the email channel. Zero fields take the defaults.
type Config struct {
	// Addresses are the support addresses (the first is the From of
	// outgoing mail).
	Addresses Addresses
	// MaxBytes caps a mail (the listener refuses bigger ones with 552).
	MaxBytes int64 // 10 MiB
	// MaxNewPerHour caps the conversations one sender starts in an hour.
	MaxNewPerHour int // 5
	// Category is the category of conversations started by mail.
	Category desk.Category // account
	// Auth configures sender authentication: the DNS lookup of DKIM keys
	// and the trusted upstream whose Authentication-Results count.
	Auth email.AuthOptions
	// RequireAuth: an unauthenticated mail claiming a customer's
	// conversation starts a new one (with a note saying why) instead of
	// being attached there with an "unverified sender" warning.
	RequireAuth bool
	// BaseURL is the site's address, for the link of a rating request
	// (survey.go; none without it).
	BaseURL string
	// SurveyDelay is how long a conversation stays resolved before its
	// sender is asked to rate it; negative: never asked.
	SurveyDelay time.Duration // 15 min
}

func (c *Config) defaults() {
	c.BaseURL = strings.TrimRight(c.BaseURL, "/")
	if c.SurveyDelay == 0 {
		c.SurveyDelay = 15 * time.Minute
	}
	if c.MaxBytes <= 0 {
		c.MaxBytes = 10 << 20
	}
	if c.MaxNewPerHour <= 0 {
		c.MaxNewPerHour = 5
	}
	if c.Category == "" {
		c.Category = desk.CategoryAccount
	}
}

// Deps are the collaborators of a Service.
type Deps struct {
	DB        *sqldb.DB
	Clock     clock.Clock
	IDs       ids.Generator
	Desk      *desk.Service
	Customers Customers
	Catalog   *i18n.Catalog
	Tokens    *Tokens
	// Logger is optional.
	Logger *slog.Logger
}

// Service ingests mail into the desk. It is safe for concurrent use.
type Service struct {
	Deps
	cfg Config
	log *slog.Logger
}

// New returns a Service.
func New(d Deps, cfg Config) (*Service, error) {
	if d.DB == nil || d.Clock == nil || d.IDs == nil || d.Desk == nil || d.Customers == nil || d.Catalog == nil || d.Tokens == nil {
		return nil, errors.New("maildesk: missing dependency")
	}
	if cfg.Addresses.Primary() == "" {
		return nil, errors.New("maildesk: no support address")
	}
	cfg.defaults()
	log := d.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{Deps: d, cfg: cfg, log: log}, nil
}

// Config returns the effective configuration.
func (s *Service) Config() Config { return s.cfg }

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}
