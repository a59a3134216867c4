// Package desk is the support desk's core: conversations between customers
// (or anonymous visitors) and agents, their messages, attachments, read
// receipts and typing indicators, and the queue a waiting customer sees.
//
// A conversation belongs to one channel (chat now; email, phone and web form
// later: each channel keeps what is specific to it in desk_channel_meta, so
// a new channel is new values, not new columns). It has a category, a
// priority, a status that moves only along the transition table of
// CanTransition, an assignee (an agent id of package agent), a team, tags,
// and links to wallet transactions and security events.
//
// # Messages and their sequence numbers
//
// Every message gets the next sequence number of its conversation in the
// transaction that inserts it: the conversation row is locked, its counter
// incremented, the message inserted; a rollback gives the number back. So
// numbers have no gaps and no duplicates, whatever the concurrency, and a
// client that has seen everything up to N asks for "after N" and misses
// nothing.
//
// Internal notes are never visible to customers. They are filtered out in
// every query a customer or visitor reaches, and they would still show
// through the numbering (a customer who sees 1, 2, 4 knows agents wrote
// something about them at 3). So a conversation keeps two counters: Seq
// numbers every message (the staff's view) and PublicSeq numbers only the
// messages a customer sees. A customer's view of a message reports its
// PublicSeq as Seq; both numberings are gapless.
//
// # Live events
//
// Changes are published after their transaction commits on two topics per
// conversation: PublicTopic (what the customer may see, in the customer's
// numbering) and StaffTopic (everything, in the staff numbering); the
// WebSocket handler of package desk/chat subscribes a connection to the
// one its viewer may read. Event data are the JSON frames clients receive
// (frames.go), encoded once per event, not once per subscriber.
//
// # Attachments
//
// Attachments are kept in the database (desk_attachments.data), not on
// disk: they are small (Config.MaxAttachmentBytes, 5 MiB by default), they
// commit atomically with their message, every node of a cluster sees them,
// and a database backup includes them. Only PNG, JPEG, GIF, WebP, PDF and
// plain text are accepted, and the content must be what the name and the
// declared type say (ValidateAttachment).
package desk

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/clock"
	"github.com/okpay/okpay/desk/realtime"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/sqldb"
)

// Error codes of this package (the HTTP layers map them to statuses).
const (
	// EConversationClosed: the conversation is closed; nothing more can
	// be written to it (the customer starts a new one).
	EConversationClosed = "conversation_closed"
	// EBadTransition: the status cannot move from its current value to
	// the one asked for (see CanTransition).
	EBadTransition = "conversation_bad_transition"
	// EAlreadyAssigned: another agent claimed the conversation first.
	EAlreadyAssigned = "conversation_already_assigned"
	// ETooManyOpen: the customer or visitor has too many conversations
	// open already.
	ETooManyOpen = "conversation_too_many_open"
	// EAttachmentRefused: an attachment's type, size or content is not
	// accepted.
	EAttachmentRefused = "attachment_refused"
	// EIdempotencyReused: an idempotency key was sent again with another
	// message (the API's generic code, as the ledger's).
	EIdempotencyReused = "idempotency_key_reused"
)

// Public id prefixes.
const (
	ConversationPrefix = "cnv"
	MessagePrefix      = "msg"
	AttachmentPrefix   = "att"
	userPrefix         = "usr" // identity.UserPrefix
	agentPrefix        = "agt" // agent.Prefix
)

// ConversationRef returns the public reference of a conversation id.
func ConversationRef(id int64) string { return ids.Format(ConversationPrefix, id) }

// ParseConversationRef reads a reference made by ConversationRef.
func ParseConversationRef(s string) (int64, bool) { return ids.Parse(ConversationPrefix, s) }

// AttachmentRef returns the public reference of an attachment id.
func AttachmentRef(id int64) string { return ids.Format(AttachmentPrefix, id) }

// ParseAttachmentRef reads a reference made by AttachmentRef.
func ParseAttachmentRef(s string) (int64, bool) { return ids.Parse(AttachmentPrefix, s) }

// Config holds the desk's limits. Zero fields take the defaults.
type Config struct {
	// MaxBodyRunes caps a message's text, in characters.
	MaxBodyRunes int // 5000
	// MaxSubjectRunes caps a conversation's subject.
	MaxSubjectRunes int // 200
	// MaxAttachmentBytes caps one attachment.
	MaxAttachmentBytes int64 // 5 MiB
	// MaxAttachments caps the attachments of one message.
	MaxAttachments int // 5
	// MaxOpenPerOwner caps the conversations one customer or visitor has
	// open (not resolved or closed) at once.
	MaxOpenPerOwner int // 5
	// MaxTags caps the tags of a conversation.
	MaxTags int // 20
	// WaitSamples is how many recent first responses of a team the
	// estimated wait looks at, at most (see EstimateWait).
	WaitSamples int // 50
	// WaitWindow is how far back those first responses may be.
	WaitWindow time.Duration // 24 h
	// WaitAgentsWindow is how far back an agent's first response counts
	// them as working the team's queue.
	WaitAgentsWindow time.Duration // 1 h
	// MinWaitSamples is the fewest first responses an estimate is made
	// from; with fewer, the wait is unknown.
	MinWaitSamples int // 3
}

func (c *Config) defaults() {
	setInt := func(p *int, v int) {
		if *p <= 0 {
			*p = v
		}
	}
	setInt(&c.MaxBodyRunes, 5000)
	setInt(&c.MaxSubjectRunes, 200)
	setInt(&c.MaxAttachments, 5)
	setInt(&c.MaxOpenPerOwner, 5)
	setInt(&c.MaxTags, 20)
	setInt(&c.WaitSamples, 50)
	setInt(&c.MinWaitSamples, 3)
	if c.MaxAttachmentBytes <= 0 {
		c.MaxAttachmentBytes = 5 << 20
	}
	if c.WaitWindow <= 0 {
		c.WaitWindow = 24 * time.Hour
	}
	if c.WaitAgentsWindow <= 0 {
		c.WaitAgentsWindow = time.Hour
	}
}

// Deps are the collaborators of a Service.
type Deps struct {
	DB    *sqldb.DB
	Clock clock.Clock
	IDs   ids.Generator
	// Bus carries live events; realtime.NewMemory(0) on one node.
	Bus realtime.Bus
	// Logger is optional (nil discards).
	Logger *slog.Logger
}

// Service is the support desk's conversation service. It is safe for
// concurrent use.
type Service struct {
	Deps
	cfg Config
	log *slog.Logger
	// hours keeps the teams' parsed working hours (sla.go).
	hours hoursCache
}

// New returns a Service.
func New(d Deps, cfg Config) (*Service, error) {
	if d.DB == nil || d.Clock == nil || d.IDs == nil || d.Bus == nil {
		return nil, errors.New("desk: missing dependency")
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

// Kind is who a participant (a viewer, an author, a reader) is.
type Kind string

// Kinds of participant.
const (
	KindCustomer Kind = "customer" // a signed-in customer (identity user id)
	KindVisitor  Kind = "visitor"  // an anonymous visitor (opaque visitor id)
	KindAgent    Kind = "agent"    // a staff member (agent id)
	KindSystem   Kind = "system"   // OKPay itself (automations, imports)
)

// Viewer is who calls a method: it decides what they may see and do. The
// HTTP layers build it from the session: the desk trusts it.
type Viewer struct {
	Kind Kind
	// ID is the customer's user id or the agent's id.
	ID int64
	// VisitorID identifies a visitor: an opaque string the web layer
	// derives from the visitor's cookie (16 to 128 characters of
	// [A-Za-z0-9_-]; a keyed hash of a random token is a good one). It is
	// the visitor's only credential, so it must be unguessable.
	VisitorID string
}

// Customer returns the viewer of a signed-in customer.
func Customer(userID int64) Viewer { return Viewer{Kind: KindCustomer, ID: userID} }

// Visitor returns the viewer of an anonymous visitor.
func Visitor(visitorID string) Viewer { return Viewer{Kind: KindVisitor, VisitorID: visitorID} }

// Agent returns the viewer of a staff member. The desk lets agents see
// every conversation and internal note: which agent may open which
// conversation is decided by the agent package's permissions at the HTTP
// layer.
func Agent(agentID int64) Viewer { return Viewer{Kind: KindAgent, ID: agentID} }

// System is OKPay itself.
var System = Viewer{Kind: KindSystem}

// Staff reports whether v sees internal notes and the staff numbering.
func (v Viewer) Staff() bool { return v.Kind == KindAgent || v.Kind == KindSystem }

// valid checks the viewer's shape.
func (v Viewer) valid() error {
	switch v.Kind {
	case KindCustomer, KindAgent:
		if v.ID > 0 {
			return nil
		}
	case KindVisitor:
		if validVisitorID(v.VisitorID) {
			return nil
		}
	case KindSystem:
		return nil
	}
	return okpay.Errorf(okpay.EUnauthorized, "Sign in first.")
}

func validVisitorID(s string) bool {
	if len(s) < 16 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// querier is what *sql.DB and *sql.Tx offer.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromMicros(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}

// inTx runs fn in a write transaction; okpay errors from fn pass through,
// other errors become internal ones described by what.
func (s *Service) inTx(ctx context.Context, what string, fn func(tx *sql.Tx) error) error {
	return okpay.InternalUnlessCoded(s.DB.InTx(ctx, fn), what)
}
