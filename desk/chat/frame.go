package chat

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/desk"
)

// Client frame types: all a client may send on the socket. Messages are
// not among them: they are sent over HTTP with an idempotency key.
const (
	// FrameSubscribe follows a conversation, catching up after the
	// sequence number the client has seen last ("after", 0 for all).
	FrameSubscribe = "subscribe"
	// FrameUnsubscribe stops following a conversation.
	FrameUnsubscribe = "unsubscribe"
	// FrameTyping says the client is typing in a followed conversation
	// ("internal": an agent writing an internal note).
	FrameTyping = "typing"
	// FrameInbox follows the conversation-level events of every
	// conversation (desk.InboxTopic: created, status, assigned): the
	// agents' inbox views. It names no conversation, and only a
	// connection whose Grant allows it (staff) may send it.
	FrameInbox = "inbox"
)

// MaxClientFrame is the largest client frame accepted, in bytes.
const MaxClientFrame = 1024

// ClientFrame is a parsed client frame.
type ClientFrame struct {
	Type         string
	Conversation int64
	// After is the last sequence number the client has (subscribe).
	After int64
	// Internal is set on a typing frame of an internal note.
	Internal bool
}

type rawFrame struct {
	Type         string `json:"type"`
	Conversation string `json:"conversation"`
	After        *int64 `json:"after,omitempty"`
	Internal     *bool  `json:"internal,omitempty"`
}

// ParseClientFrame reads one client frame: a JSON object
// {"type": ..., "conversation": "cnv_...", "after": N},
// {"type": "typing", "conversation": ..., "internal": bool} or
// {"type": "inbox"} (Conversation 0). Unknown
// fields, fields that do not belong to the type, trailing data and frames
// over MaxClientFrame bytes are refused with EInvalid.
func ParseClientFrame(b []byte) (ClientFrame, error) {
	invalid := func(msg string) (ClientFrame, error) {
		return ClientFrame{}, okpay.Errorf(okpay.EInvalid, "%s", msg)
	}
	if len(b) > MaxClientFrame {
		return invalid("The frame is too large.")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var raw rawFrame
	if err := dec.Decode(&raw); err != nil {
		return invalid("The frame is not a JSON object of a known shape.")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return invalid("The frame has data after its JSON object.")
	}
	if raw.Type == FrameInbox {
		if raw.Conversation != "" || raw.After != nil || raw.Internal != nil {
			return invalid("An inbox frame has no other field.")
		}
		return ClientFrame{Type: FrameInbox}, nil
	}
	id, ok := desk.ParseConversationRef(raw.Conversation)
	if !ok {
		return invalid("The frame names no conversation.")
	}
	f := ClientFrame{Type: raw.Type, Conversation: id}
	switch raw.Type {
	case FrameSubscribe:
		if raw.Internal != nil {
			return invalid("A subscribe frame has no internal field.")
		}
		if raw.After != nil {
			if *raw.After < 0 {
				return invalid("after cannot be negative.")
			}
			f.After = *raw.After
		}
	case FrameUnsubscribe:
		if raw.Internal != nil || raw.After != nil {
			return invalid("An unsubscribe frame names only the conversation.")
		}
	case FrameTyping:
		if raw.After != nil {
			return invalid("A typing frame has no after field.")
		}
		if raw.Internal != nil {
			f.Internal = *raw.Internal
		}
	default:
		return invalid("Unknown frame type.")
	}
	return f, nil
}
