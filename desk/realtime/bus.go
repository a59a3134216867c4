// Package realtime carries the support desk's live events (new messages,
// typing, read receipts, status changes) from the node that made them to
// every connection that follows them.
//
// The Bus interface is the only thing the desk and the WebSocket handler
// know. Memory is the in-process implementation for one node; a NATS
// implementation for several nodes comes later behind the same interface.
//
// Delivery is best effort by design and the consumers are built for it: a
// Publish never waits for a subscriber. A subscriber whose buffer is full is
// dropped: it receives a final TypeResync event and its channel is closed,
// and it must catch up from the database (messages carry a per-conversation
// sequence number, so "everything after N" is exact) and subscribe again.
// Nothing is dropped silently, and one slow connection never holds up the
// others.
package realtime

import (
	"context"
	"hash/maphash"
	"sync"
	"sync/atomic"
)

// TypeResync is the type of the last event a dropped subscriber receives:
// it fell behind, events were lost, and it must catch up from the source of
// truth and subscribe again.
const TypeResync = "resync"

// Event is one live event. Its Data is immutable once published: the bus
// hands the same bytes to every subscriber.
type Event struct {
	// Type names the event ("message", "typing", "read", "status", ...,
	// or TypeResync).
	Type string
	// Conversation is the conversation the event belongs to (0 for events
	// of no single conversation).
	Conversation int64
	// Seq is the message's sequence number, in the numbering of the topic's
	// audience, for message events; 0 otherwise.
	Seq int64
	// Data is the frame sent to clients as is (JSON).
	Data []byte
}

// Bus publishes events to topics and lets readers follow topics.
type Bus interface {
	// Publish hands e to every current subscriber of topic without
	// waiting for any of them. It returns an error only when the bus
	// itself failed (never for a slow subscriber, which is dropped).
	Publish(ctx context.Context, topic string, e Event) error
	// Subscribe follows topic. Events arrive on the channel in the order
	// they were published. cancel ends the subscription and closes the
	// channel; it may be called more than once. When the subscriber falls
	// behind, the last event is a TypeResync and the channel is closed.
	Subscribe(topic string) (events <-chan Event, cancel func())
}

// DefaultBuffer is the number of events a subscriber may fall behind by
// before it is dropped.
const DefaultBuffer = 16

const shardCount = 32

// Memory is a Bus inside one process. The zero value is not usable: call
// NewMemory. It is safe for concurrent use.
type Memory struct {
	buffer  int
	seed    maphash.Seed
	shards  [shardCount]shard
	dropped atomic.Int64
}

type shard struct {
	mu sync.RWMutex
	// topics maps a topic to its subscribers: a slice, not a set, since
	// most topics have one or two (a conversation's customer and the
	// agents looking at it), and a slice of one costs a word.
	topics map[string][]*subscriber
}

// subscriber is one subscription: a channel (Subscribe), or a queue that
// holds no memory while empty and a notify callback (SubscribeNotify).
type subscriber struct {
	mu     sync.Mutex
	ch     chan Event // Subscribe's; nil for SubscribeNotify
	q      []Event    // SubscribeNotify's events not yet taken
	limit  int        // events the queue may hold, the resync included
	closed bool
	notify func() // SubscribeNotify's
}

// NewMemory returns an in-process bus whose subscribers may fall behind by
// buffer events (DefaultBuffer when buffer <= 0) before they are dropped.
func NewMemory(buffer int) *Memory {
	if buffer <= 0 {
		buffer = DefaultBuffer
	}
	m := &Memory{buffer: buffer, seed: maphash.MakeSeed()}
	for i := range m.shards {
		m.shards[i].topics = make(map[string][]*subscriber)
	}
	return m
}

func (m *Memory) shard(topic string) *shard {
	return &m.shards[maphash.String(m.seed, topic)%shardCount]
}

// Publish implements Bus. It never blocks on a subscriber.
func (m *Memory) Publish(_ context.Context, topic string, e Event) error {
	sh := m.shard(topic)
	var drop []*subscriber
	sh.mu.RLock()
	for _, s := range sh.topics[topic] {
		if !s.offer(e) {
			drop = append(drop, s)
		}
	}
	sh.mu.RUnlock()
	if len(drop) > 0 {
		m.dropped.Add(int64(len(drop)))
		sh.mu.Lock()
		for _, s := range drop {
			sh.remove(topic, s)
		}
		sh.mu.Unlock()
	}
	return nil
}

// offer delivers e, or, when only the slot kept for it is left, delivers
// TypeResync and closes the subscription. It reports false when the
// subscriber was dropped (now or before).
func (s *subscriber) offer(e Event) bool {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false
	}
	// One slot is always kept free for the resync notice, so telling a
	// subscriber it was dropped never blocks either.
	var ok bool
	if s.ch != nil {
		ok = len(s.ch) < cap(s.ch)-1
		if ok {
			s.ch <- e
		} else {
			s.ch <- Event{Type: TypeResync, Conversation: e.Conversation}
			close(s.ch)
			s.closed = true
		}
	} else {
		ok = len(s.q) < s.limit-1
		if !ok {
			e = Event{Type: TypeResync, Conversation: e.Conversation}
			s.closed = true
		}
		if s.q == nil {
			s.q = make([]Event, 0, min(4, s.limit))
		}
		s.q = append(s.q, e)
	}
	s.mu.Unlock()
	if s.notify != nil {
		s.notify()
	}
	return ok
}

// Next implements Mailbox.
func (s *subscriber) Next() (Event, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.q) == 0 {
		return Event{}, false
	}
	e := s.q[0]
	s.q[0] = Event{}
	if len(s.q) == 1 {
		s.q = nil // an idle subscription holds no buffer
	} else {
		s.q = s.q[1:]
	}
	return e, true
}

func (s *subscriber) close() {
	s.mu.Lock()
	if !s.closed {
		if s.ch != nil {
			close(s.ch)
		}
		s.closed = true
	}
	s.q = nil
	s.mu.Unlock()
}

func (sh *shard) remove(topic string, s *subscriber) {
	subs := sh.topics[topic]
	for i, x := range subs {
		if x == s {
			subs[i] = subs[len(subs)-1]
			subs[len(subs)-1] = nil
			subs = subs[:len(subs)-1]
			break
		}
	}
	if len(subs) == 0 {
		delete(sh.topics, topic)
	} else {
		sh.topics[topic] = subs
	}
}

func (m *Memory) add(topic string, s *subscriber) func() {
	sh := m.shard(topic)
	sh.mu.Lock()
	sh.topics[topic] = append(sh.topics[topic], s)
	sh.mu.Unlock()
	return func() {
		sh.mu.Lock()
		sh.remove(topic, s) // a no-op the second time
		sh.mu.Unlock()
		s.close()
	}
}

// Subscribe implements Bus.
func (m *Memory) Subscribe(topic string) (<-chan Event, func()) {
	s := &subscriber{ch: make(chan Event, m.buffer+1)}
	return s.ch, m.add(topic, s)
}

// Mailbox is a notified subscription's queue of events.
type Mailbox interface {
	// Next takes the next event, in publication order; false when none
	// is waiting. When the subscriber fell behind, the last event is a
	// TypeResync and no other follows.
	Next() (Event, bool)
}

// Notifier is a Bus that can also tell a subscriber when it has something
// to take, so that the subscriber need not park a goroutine on a channel
// (one WebSocket connection holds one goroutine, not two), and that holds
// no buffer for an idle subscription (memory per idle connection, okpay
// bench chat).
type Notifier interface {
	Bus
	// SubscribeNotify follows topic as Subscribe does, but its events
	// wait in a Mailbox, and it calls notify (when not nil) after each
	// event is put there, the final TypeResync included. notify runs on
	// the publisher's goroutine: it must not block. cancel ends the
	// subscription and empties the mailbox; it may be called more than
	// once.
	SubscribeNotify(topic string, notify func()) (events Mailbox, cancel func())
}

var _ Notifier = (*Memory)(nil)

// SubscribeNotify implements Notifier.
func (m *Memory) SubscribeNotify(topic string, notify func()) (Mailbox, func()) {
	s := &subscriber{limit: m.buffer + 1, notify: notify}
	return s, m.add(topic, s)
}

// Dropped returns how many subscribers were dropped for falling behind.
func (m *Memory) Dropped() int64 { return m.dropped.Load() }

// Subscribers returns the number of current subscribers of topic.
func (m *Memory) Subscribers(topic string) int {
	sh := m.shard(topic)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	return len(sh.topics[topic])
}
