package desk

import (
	"context"

	"github.com/okpay/okpay/desk/realtime"
)

// Collision notices and the inbox's message events: ephemeral frames
// (never stored) on the bus.

// Event types of this file.
const (
	// EventViewing: an agent has a conversation open (state "viewing"),
	// is writing in it ("replying") or closed it ("left"). Staff topic.
	EventViewing = "viewing"
	// EventInboxMessage: a message was added to a conversation (inbox
	// topic), so the inbox can bump the row and mark it unread.
	EventInboxMessage = "inbox_message"
)

// Viewing states.
const (
	ViewingOpen     = "viewing"
	ViewingReplying = "replying"
	ViewingLeft     = "left"
)

type viewingFrame struct {
	Type         string `json:"type"`
	Conversation string `json:"conversation"`
	AgentID      string `json:"agent_id"`
	Name         string `json:"name"`
	State        string `json:"state"`
}

// Viewing tells the other agents following a conversation that agent
// agentID (shown as name) views it, writes in it or left it (one of the
// Viewing* states; anything else is "viewing"). Nothing is stored: the
// console shows the notice for a while and each open console repeats it.
func (s *Service) Viewing(ctx context.Context, agentID int64, name string, convID int64, state string) error {
	if _, err := s.loadConv(ctx, s.DB.Read, Agent(agentID), convID, false); err != nil {
		return err
	}
	switch state {
	case ViewingReplying, ViewingLeft:
	default:
		state = ViewingOpen
	}
	s.publish(ctx, StaffTopic(convID), realtime.Event{Type: EventViewing, Conversation: convID,
		Data: mustJSON(viewingFrame{Type: EventViewing, Conversation: ConversationRef(convID),
			AgentID: participantRef(KindAgent, agentID), Name: CleanLine(name), State: state})})
	return nil
}

type inboxMessageFrame struct {
	Type         string `json:"type"`
	Conversation string `json:"conversation"`
	Seq          int64  `json:"seq"`
	Author       Kind   `json:"author"`
	AuthorID     string `json:"author_id,omitempty"`
	Internal     bool   `json:"internal,omitempty"`
	At           string `json:"at"`
}

// publishInboxMessage announces committed message m (staff view) on the
// inbox topic, without its text.
func (s *Service) publishInboxMessage(ctx context.Context, m *Message) {
	s.publish(ctx, InboxTopic, realtime.Event{Type: EventInboxMessage, Conversation: m.ConversationID, Seq: m.Seq,
		Data: mustJSON(inboxMessageFrame{Type: EventInboxMessage, Conversation: ConversationRef(m.ConversationID), Seq: m.Seq,
			Author: m.Author, AuthorID: participantRef(m.Author, m.AuthorID), Internal: m.Internal,
			At: m.CreatedAt.UTC().Format("2006-01-02T15:04:05.000000Z07:00")})})
}
