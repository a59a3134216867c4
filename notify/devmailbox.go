package notify

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/okpay/okpay/clock"
)

// DevMailboxSize is how many messages a DevMailbox keeps.
const DevMailboxSize = 500

// DevMessage is an email or SMS caught by a DevMailbox.
type DevMessage struct {
	// ID is the mailbox's own number for the message.
	ID string
	// DedupeKey is the outbox key; a redelivery of it is folded into the
	// first copy (as a provider or mail client would) and counted in
	// Deliveries.
	DedupeKey  string
	Deliveries int
	At         time.Time
	UserID     int64
	Channel    string
	Kind       string
	To         string
	Subject    string
	Body       string
	HTML       string
}

// DevMailbox is a Sender for development and tests that keeps, in memory
// only, the last DevMailboxSize emails and SMS that would have been sent.
// It shows one-time codes, which is why it is never stored in the
// database and must never be wired in production. It is safe for
// concurrent use.
type DevMailbox struct {
	clock clock.Clock

	mu   sync.Mutex
	seq  int64
	msgs []DevMessage // oldest first
	subs map[chan struct{}]struct{}
}

// NewDevMailbox returns an empty mailbox; a nil clock means the system
// clock.
func NewDevMailbox(clk clock.Clock) *DevMailbox {
	if clk == nil {
		clk = clock.System{}
	}
	return &DevMailbox{clock: clk, subs: map[chan struct{}]struct{}{}}
}

// Send catches m.
func (b *DevMailbox) Send(ctx context.Context, m Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	defer b.notifyLocked()
	for i := range b.msgs {
		if b.msgs[i].DedupeKey == m.DedupeKey && m.DedupeKey != "" {
			b.msgs[i].Deliveries++
			return nil
		}
	}
	b.seq++
	b.msgs = append(b.msgs, DevMessage{
		ID: strconv.FormatInt(b.seq, 10), DedupeKey: m.DedupeKey, Deliveries: 1, At: b.clock.Now(),
		UserID: m.UserID, Channel: m.Channel, Kind: m.Kind, To: m.To, Subject: m.Subject, Body: m.Body, HTML: m.HTML,
	})
	if n := len(b.msgs) - DevMailboxSize; n > 0 {
		clear(b.msgs[:n])
		b.msgs = append(b.msgs[:0], b.msgs[n:]...)
	}
	return nil
}

// List returns the caught messages, newest first.
func (b *DevMailbox) List() []DevMessage {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]DevMessage, len(b.msgs))
	for i, m := range b.msgs {
		out[len(out)-1-i] = m
	}
	return out
}

// Get returns the message with the given ID.
func (b *DevMailbox) Get(id string) (DevMessage, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, m := range b.msgs {
		if m.ID == id {
			return m, true
		}
	}
	return DevMessage{}, false
}

// Clear forgets every message.
func (b *DevMailbox) Clear() {
	b.mu.Lock()
	defer b.mu.Unlock()
	clear(b.msgs)
	b.msgs = b.msgs[:0]
	b.notifyLocked()
}

// Subscribe returns a channel that receives a signal (coalesced, never
// blocking the sender) after every change, and a function that ends the
// subscription.
func (b *DevMailbox) Subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	b.mu.Lock()
	b.subs[ch] = struct{}{}
	b.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			b.mu.Lock()
			delete(b.subs, ch)
			b.mu.Unlock()
		})
	}
}

func (b *DevMailbox) notifyLocked() {
	for ch := range b.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}
