package desk

import (
	"time"

	"github.com/okpay/okpay/i18n"
)

// Channel is how a conversation reaches the desk.
type Channel string

// Channels. Only chat is served now; the others have their column values
// and labels so they slot in without a migration of the conversations.
const (
	ChannelChat    Channel = "chat"
	ChannelEmail   Channel = "email"
	ChannelPhone   Channel = "phone"
	ChannelWebForm Channel = "web_form"
)

// Channels lists every channel.
func Channels() []Channel {
	return []Channel{ChannelChat, ChannelEmail, ChannelPhone, ChannelWebForm}
}

// Category is what a conversation is about (the customer picks it before
// the chat starts; agents may correct it).
type Category string

// Categories.
const (
	CategoryAccount         Category = "account"
	CategoryTransaction     Category = "transaction"
	CategorySecurityPrivacy Category = "security_privacy"
	CategoryTechnical       Category = "technical"
)

// Categories lists every category.
func Categories() []Category {
	return []Category{CategoryAccount, CategoryTransaction, CategorySecurityPrivacy, CategoryTechnical}
}

// Priority orders work.
type Priority string

// Priorities.
const (
	PriorityLow    Priority = "low"
	PriorityNormal Priority = "normal"
	PriorityHigh   Priority = "high"
	PriorityUrgent Priority = "urgent"
)

// Priorities lists every priority, lowest first.
func Priorities() []Priority {
	return []Priority{PriorityLow, PriorityNormal, PriorityHigh, PriorityUrgent}
}

// Status is where a conversation stands.
type Status string

// Statuses.
const (
	// StatusOpen: waiting for the desk.
	StatusOpen Status = "open"
	// StatusPending: waiting for the customer.
	StatusPending Status = "pending"
	// StatusSnoozed: put aside until a time (an agent waits for a bank,
	// say); it opens again by itself then, or when the customer writes.
	StatusSnoozed Status = "snoozed"
	// StatusResolved: answered; the customer writing again reopens it.
	StatusResolved Status = "resolved"
	// StatusClosed: final; nothing more is written to it.
	StatusClosed Status = "closed"
)

// Statuses lists every status.
func Statuses() []Status {
	return []Status{StatusOpen, StatusPending, StatusSnoozed, StatusResolved, StatusClosed}
}

// transitions is the status machine: from → the statuses it may move to.
// Snoozed → snoozed is a new wake-up time. Closed is final.
var transitions = map[Status][]Status{
	StatusOpen:     {StatusPending, StatusSnoozed, StatusResolved, StatusClosed},
	StatusPending:  {StatusOpen, StatusSnoozed, StatusResolved, StatusClosed},
	StatusSnoozed:  {StatusOpen, StatusPending, StatusSnoozed, StatusResolved, StatusClosed},
	StatusResolved: {StatusOpen, StatusClosed},
	StatusClosed:   nil,
}

// CanTransition reports whether a conversation's status may move from
// from to to.
func CanTransition(from, to Status) bool {
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// Audience says who a label is for.
type Audience string

// Audiences of labels.
const (
	// ForCustomer: what the customer reads ("Waiting for your reply").
	ForCustomer Audience = "customer"
	// ForStaff: what agents read ("Pending").
	ForStaff Audience = "internal"
)

// StatusLabel returns the label of st for audience in lang. Customers read
// what the status means for them; a snoozed conversation, for instance, is
// "in progress" to the customer.
func StatusLabel(c *i18n.Catalog, lang i18n.Lang, st Status, a Audience) string {
	return c.T(lang, "desk.status."+string(st)+"."+string(a), nil)
}

// CategoryLabel returns the label of a category in lang.
func CategoryLabel(c *i18n.Catalog, lang i18n.Lang, cat Category) string {
	return c.T(lang, "desk.category."+string(cat), nil)
}

// PriorityLabel returns the label of a priority in lang.
func PriorityLabel(c *i18n.Catalog, lang i18n.Lang, p Priority) string {
	return c.T(lang, "desk.priority."+string(p), nil)
}

// ChannelLabel returns the label of a channel in lang.
func ChannelLabel(c *i18n.Catalog, lang i18n.Lang, ch Channel) string {
	return c.T(lang, "desk.channel."+string(ch), nil)
}

// Teams the desk routes to by default (package agent owns the teams).
const (
	TeamGeneral  = "general"
	TeamSecurity = "security"
	TeamPayments = "payments"
)

// DefaultTeam returns the team a new conversation of category cat goes to.
func DefaultTeam(cat Category) string {
	switch cat {
	case CategorySecurityPrivacy:
		return TeamSecurity
	case CategoryTransaction:
		return TeamPayments
	}
	return TeamGeneral
}

// Link kinds: what a conversation can point at. The table takes any kind;
// these are the ones the desk accepts now.
const (
	LinkWalletTransaction = "wallet_transaction"
	LinkSecurityEvent     = "security_event"
)

// LinkKinds lists the accepted link kinds.
func LinkKinds() []string { return []string{LinkWalletTransaction, LinkSecurityEvent} }

// Conversation is a thread between a customer (or visitor) and the desk.
// What a customer reads of it is redacted: no tags, team, priority,
// assignee id or snooze time, and LastSeq in the customer's numbering.
type Conversation struct {
	ID           int64
	Channel      Channel
	Category     Category
	Priority     Priority
	Status       Status
	SnoozedUntil time.Time
	Subject      string
	Lang         i18n.Lang
	// CustomerID is the owner's user id; 0 while a visitor owns it.
	CustomerID int64
	// VisitorID is the owning visitor; "" once a customer owns it.
	VisitorID string
	// AssigneeID is the agent handling it (0: unassigned).
	AssigneeID int64
	// Assigned reports whether an agent handles it (customers see this
	// but not who).
	Assigned bool
	Team     string
	Tags     []string
	// LastSeq is the sequence number of the last message, in the
	// viewer's numbering.
	LastSeq         int64
	FirstResponseAt time.Time
	LastMessageAt   time.Time
	ResolvedAt      time.Time
	ClosedAt        time.Time
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// Message is one message of a conversation.
type Message struct {
	ID             int64
	ConversationID int64
	// Seq is the message's place in the conversation in the viewer's
	// numbering: every message for staff, customer-visible ones only for
	// customers and visitors.
	Seq int64
	// PublicSeq is the place among customer-visible messages (0 for an
	// internal note).
	PublicSeq int64
	Author    Kind
	// AuthorID is the author's user or agent id (0 for visitors and the
	// system). Customers do not see agents' ids.
	AuthorID    int64
	Internal    bool
	Body        string
	Attachments []Attachment
	CreatedAt   time.Time
	// Replayed is true when SendMessage found the message already sent
	// with the same idempotency key.
	Replayed bool
}

// Attachment describes a file attached to a message (its bytes are read
// with Service.Attachment).
type Attachment struct {
	ID          int64
	MessageID   int64
	Name        string
	ContentType string
	Size        int64
	SHA256      []byte
}

// Read is how far one participant has read a conversation.
type Read struct {
	Reader   Kind
	ReaderID int64 // 0 for visitors, and for agents in a customer's view
	// Seq is in the numbering of the viewer who asked.
	Seq       int64
	UpdatedAt time.Time
}

// Link points from a conversation at something else (a wallet
// transaction, a security event).
type Link struct {
	Kind      string
	Ref       string
	CreatedBy Kind
	CreatorID int64
	CreatedAt time.Time
}
