package desk

import (
	"context"
	"encoding/json"
	"strconv"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/desk/realtime"
	"github.com/okpay/okpay/ids"
)

// Event (and frame) types pushed to clients.
const (
	EventMessage    = "message"    // a new message
	EventTyping     = "typing"     // someone is typing (never stored)
	EventRead       = "read"       // someone read up to a sequence number
	EventStatus     = "status"     // the status changed
	EventAssigned   = "assigned"   // the assignee or team changed
	EventClaimed    = "claimed"    // a visitor's conversation now belongs to a customer
	EventCreated    = "created"    // a conversation started (inbox topic)
	EventSubscribed = "subscribed" // the catch-up is done: live from here (handler)
	EventError      = "error"      // a request of the client failed (handler)
)

// InboxTopic carries conversation-level events (created, status, assigned)
// of every conversation, for the agents' inbox views. Staff only.
const InboxTopic = "desk.inbox"

// PublicTopic is the topic of what a conversation's customer may see.
func PublicTopic(conversationID int64) string {
	return "desk.conv." + strconv.FormatInt(conversationID, 10) + ".public"
}

// StaffTopic is the topic of everything that happens in a conversation,
// internal notes included. Staff only.
func StaffTopic(conversationID int64) string {
	return "desk.conv." + strconv.FormatInt(conversationID, 10) + ".staff"
}

// TopicFor returns the topic viewer v follows for a conversation.
func TopicFor(v Viewer, conversationID int64) string {
	if v.Staff() {
		return StaffTopic(conversationID)
	}
	return PublicTopic(conversationID)
}

type attachmentJSON struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
}

type messageJSON struct {
	ID          string           `json:"id"`
	Seq         int64            `json:"seq"`
	PublicSeq   int64            `json:"public_seq,omitempty"` // staff only
	Author      Kind             `json:"author"`
	AuthorID    string           `json:"author_id,omitempty"` // staff only
	Internal    bool             `json:"internal,omitempty"`
	Body        string           `json:"body"`
	Attachments []attachmentJSON `json:"attachments,omitempty"`
	CreatedAt   time.Time        `json:"created_at"`
}

type messageFrame struct {
	Type         string      `json:"type"`
	Conversation string      `json:"conversation"`
	Seq          int64       `json:"seq"`
	Message      messageJSON `json:"message"`
}

// participantRef is the public reference of a participant, for staff.
func participantRef(k Kind, id int64) string {
	switch {
	case id == 0:
		return ""
	case k == KindAgent:
		return ids.Format(agentPrefix, id)
	case k == KindCustomer:
		return ids.Format(userPrefix, id)
	}
	return ""
}

// MessageFrame returns the frame announcing m, as viewer v may see it (m
// must be in v's view already, as the Service's methods return it).
func MessageFrame(v Viewer, m *Message) []byte {
	j := messageJSON{
		ID:        ids.Format(MessagePrefix, m.ID),
		Seq:       m.Seq,
		Author:    m.Author,
		Body:      m.Body,
		CreatedAt: m.CreatedAt,
	}
	if v.Staff() {
		j.PublicSeq = m.PublicSeq
		j.AuthorID = participantRef(m.Author, m.AuthorID)
		j.Internal = m.Internal
	}
	for _, a := range m.Attachments {
		j.Attachments = append(j.Attachments, attachmentJSON{ID: AttachmentRef(a.ID), Name: a.Name, ContentType: a.ContentType, Size: a.Size})
	}
	return mustJSON(messageFrame{Type: EventMessage, Conversation: ConversationRef(m.ConversationID), Seq: m.Seq, Message: j})
}

type readJSON struct {
	Reader   Kind   `json:"reader"`
	ReaderID string `json:"reader_id,omitempty"` // staff only
	Seq      int64  `json:"seq"`
}

type subscribedFrame struct {
	Type         string     `json:"type"`
	Conversation string     `json:"conversation"`
	Seq          int64      `json:"seq"`
	Status       Status     `json:"status"`
	Assigned     bool       `json:"assigned"`
	Reads        []readJSON `json:"reads"`
}

// SubscribedFrame tells a client that it has every message up to seq of
// conversation c (in its view) and receives live events from now on, with
// the conversation's current status and read receipts.
func SubscribedFrame(v Viewer, c *Conversation, seq int64, reads []Read) []byte {
	f := subscribedFrame{Type: EventSubscribed, Conversation: ConversationRef(c.ID), Seq: seq, Status: c.Status, Assigned: c.Assigned, Reads: []readJSON{}}
	for _, r := range reads {
		j := readJSON{Reader: r.Reader, Seq: r.Seq}
		if v.Staff() {
			j.ReaderID = participantRef(r.Reader, r.ReaderID)
		}
		f.Reads = append(f.Reads, j)
	}
	return mustJSON(f)
}

type errorFrame struct {
	Type         string `json:"type"`
	Conversation string `json:"conversation,omitempty"`
	Code         string `json:"code"`
	Message      string `json:"message"`
}

// ErrorFrame reports a failed client request (about conversation, if not
// 0). Only the error's user-safe message is sent.
func ErrorFrame(conversation int64, err error) []byte {
	f := errorFrame{Type: EventError, Code: okpay.ErrorCode(err), Message: okpay.ErrorMessage(err)}
	if conversation != 0 {
		f.Conversation = ConversationRef(conversation)
	}
	return mustJSON(f)
}

type typingFrame struct {
	Type         string `json:"type"`
	Conversation string `json:"conversation"`
	Author       Kind   `json:"author"`
	AuthorID     string `json:"author_id,omitempty"` // staff only
	Internal     bool   `json:"internal,omitempty"`  // staff only
}

type readFrame struct {
	Type         string `json:"type"`
	Conversation string `json:"conversation"`
	readJSON
}

type statusFrame struct {
	Type         string     `json:"type"`
	Conversation string     `json:"conversation"`
	Status       Status     `json:"status"`
	SnoozedUntil *time.Time `json:"snoozed_until,omitempty"` // staff only
}

type assignedFrame struct {
	Type         string `json:"type"`
	Conversation string `json:"conversation"`
	Assigned     bool   `json:"assigned"`
	AssigneeID   string `json:"assignee_id,omitempty"` // staff only
	Team         string `json:"team,omitempty"`        // staff only
}

type conversationFrame struct {
	Type         string   `json:"type"`
	Conversation string   `json:"conversation"`
	Status       Status   `json:"status"`
	Team         string   `json:"team"`
	Category     Category `json:"category"`
	Priority     Priority `json:"priority"`
	AssigneeID   string   `json:"assignee_id,omitempty"`
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("desk: encode frame: " + err.Error()) // only plain structs are encoded
	}
	return b
}

// publish sends an event, logging (never returning) a failure of the bus:
// the change is committed, and clients catch up from the database.
func (s *Service) publish(ctx context.Context, topic string, e realtime.Event) {
	// The change is committed: announce it even if the caller has gone.
	if err := s.Bus.Publish(context.WithoutCancel(ctx), topic, e); err != nil {
		s.log.Warn("desk: publish failed", "topic", topic, "type", e.Type, "err", err)
	}
}

// publishMessage announces a committed message on the staff topic and,
// unless it is an internal note, on the public topic in the customer's
// numbering. m is the staff view.
func (s *Service) publishMessage(ctx context.Context, m *Message) {
	s.publish(ctx, StaffTopic(m.ConversationID), realtime.Event{Type: EventMessage, Conversation: m.ConversationID, Seq: m.Seq, Data: MessageFrame(System, m)})
	s.publishInboxMessage(ctx, m) // viewing.go
	if !m.Internal {
		pub := customerView(m)
		s.publish(ctx, PublicTopic(m.ConversationID), realtime.Event{Type: EventMessage, Conversation: m.ConversationID, Seq: pub.Seq, Data: MessageFrame(Viewer{Kind: KindCustomer}, pub)})
	}
}

// publishStatus announces c's status (c is the staff view).
func (s *Service) publishStatus(ctx context.Context, c *Conversation) {
	staff := statusFrame{Type: EventStatus, Conversation: ConversationRef(c.ID), Status: c.Status}
	if !c.SnoozedUntil.IsZero() {
		t := c.SnoozedUntil
		staff.SnoozedUntil = &t
	}
	s.publish(ctx, StaffTopic(c.ID), realtime.Event{Type: EventStatus, Conversation: c.ID, Data: mustJSON(staff)})
	s.publish(ctx, PublicTopic(c.ID), realtime.Event{Type: EventStatus, Conversation: c.ID,
		Data: mustJSON(statusFrame{Type: EventStatus, Conversation: ConversationRef(c.ID), Status: c.Status})})
	s.publishInbox(ctx, c)
}

// publishAssigned announces c's assignee and team (c is the staff view).
func (s *Service) publishAssigned(ctx context.Context, c *Conversation) {
	s.publish(ctx, StaffTopic(c.ID), realtime.Event{Type: EventAssigned, Conversation: c.ID,
		Data: mustJSON(assignedFrame{Type: EventAssigned, Conversation: ConversationRef(c.ID), Assigned: c.AssigneeID != 0,
			AssigneeID: participantRef(KindAgent, c.AssigneeID), Team: c.Team})})
	s.publish(ctx, PublicTopic(c.ID), realtime.Event{Type: EventAssigned, Conversation: c.ID,
		Data: mustJSON(assignedFrame{Type: EventAssigned, Conversation: ConversationRef(c.ID), Assigned: c.AssigneeID != 0})})
	s.publishInbox(ctx, c)
}

func (s *Service) publishInbox(ctx context.Context, c *Conversation) {
	s.publishInboxType(ctx, "conversation", c)
}

func (s *Service) publishInboxType(ctx context.Context, typ string, c *Conversation) {
	s.publish(ctx, InboxTopic, realtime.Event{Type: typ, Conversation: c.ID,
		Data: mustJSON(conversationFrame{Type: typ, Conversation: ConversationRef(c.ID), Status: c.Status, Team: c.Team,
			Category: c.Category, Priority: c.Priority, AssigneeID: participantRef(KindAgent, c.AssigneeID)})})
}

// publishClaimed tells the conversation's followers that it changed hands:
// a visitor's connection must sign in again (package desk/chat closes it).
func (s *Service) publishClaimed(ctx context.Context, id int64) {
	data := mustJSON(struct {
		Type         string `json:"type"`
		Conversation string `json:"conversation"`
	}{EventClaimed, ConversationRef(id)})
	s.publish(ctx, PublicTopic(id), realtime.Event{Type: EventClaimed, Conversation: id, Data: data})
	s.publish(ctx, StaffTopic(id), realtime.Event{Type: EventClaimed, Conversation: id, Data: data})
}
