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
	mu     sync.RWMutex
	topics map[string]map[*subscriber]struct{}
}

type subscriber struct {
	mu     sync.Mutex
	ch     chan Event
	closed bool
	notify func() // SubscribeNotify's; nil for Subscribe
}

// NewMemory returns an in-process bus whose subscribers may fall behind by
// buffer events (DefaultBuffer when buffer <= 0) before they are dropped.
func NewMemory(buffer int) *Memory {
	if buffer <= 0 {
		buffer = DefaultBuffer
	}
	m := &Memory{buffer: buffer, seed: maphash.MakeSeed()}
	for i := range m.shards {
		m.shards[i].topics = make(map[string]map[*subscriber]struct{})
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
	for s := range sh.topics[topic] {
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
// TypeResync and closes the channel. It reports false when the subscriber
// was dropped (now or before).
func (s *subscriber) offer(e Event) bool {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false
	}
	// One slot is always kept free for the resync notice, so telling a
	// subscriber it was dropped never blocks either.
	ok := len(s.ch) < cap(s.ch)-1
	if ok {
		s.ch <- e
	} else {
		s.ch <- Event{Type: TypeResync, Conversation: e.Conversation}
		close(s.ch)
		s.closed = true
	}
	s.mu.Unlock()
	if s.notify != nil {
		s.notify()
	}
	return ok
}

func (s *subscriber) close() {
	s.mu.Lock()
	if !s.closed {
		close(s.ch)
		s.closed = true
	}
	s.mu.Unlock()
}

func (sh *shard) remove(topic string, s *subscriber) {
	subs := sh.topics[topic]
	delete(subs, s)
	if len(subs) == 0 {
		delete(sh.topics, topic)
	}
}

// Subscribe implements Bus.
func (m *Memory) Subscribe(topic string) (<-chan Event, func()) {
	return m.SubscribeNotify(topic, nil)
}

// Notifier is a Bus that can also tell a subscriber when its channel has
// something to receive, so that the subscriber need not park a goroutine
// on the channel (one WebSocket connection holds one goroutine, not two).
type Notifier interface {
	Bus
	// SubscribeNotify is Subscribe, and calls notify (when not nil)
	// after each event is put on the channel, the final TypeResync
	// included. notify runs on the publisher's goroutine: it must not
	// block.
	SubscribeNotify(topic string, notify func()) (events <-chan Event, cancel func())
}

var _ Notifier = (*Memory)(nil)

// SubscribeNotify implements Notifier.
func (m *Memory) SubscribeNotify(topic string, notify func()) (<-chan Event, func()) {
	s := &subscriber{ch: make(chan Event, m.buffer+1), notify: notify}
	sh := m.shard(topic)
	sh.mu.Lock()
	subs := sh.topics[topic]
	if subs == nil {
		subs = make(map[*subscriber]struct{})
		sh.topics[topic] = subs
	}
	subs[s] = struct{}{}
	sh.mu.Unlock()
	var once sync.Once
	return s.ch, func() {
		once.Do(func() {
			sh.mu.Lock()
			sh.remove(topic, s)
			sh.mu.Unlock()
			s.close()
		})
	}
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
