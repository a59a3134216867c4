// Package chat is the live side of the support desk's chat: a WebSocket
// handler that pushes a conversation's events (messages, typing, read
// receipts, status changes) to the customers, visitors and agents
// following it.
//
// The socket only pushes. Messages are sent over HTTP, with an idempotency
// key, through desk.Service.SendMessage; the client sends on the socket
// only subscribe, unsubscribe and typing frames (ParseClientFrame).
//
// # Nothing lost, duplicated or reordered
//
// A client subscribes with the last sequence number it has ("after"). The
// handler subscribes to the bus first, then sends every message after
// that number from the database, then a "subscribed" frame (status and
// read receipts as of then), then live events. For each conversation it
// remembers the last sequence number sent, L, and for a live message
// event with number n:
//
//   - n ≤ L: already sent (it came from the database): skipped;
//   - n = L+1: sent;
//   - n > L+1: an event is missing or late (two senders' events crossed,
//     or the bus dropped us): everything after L is read from the
//     database and sent, in order.
//
// Numbers are gapless and a message's event is published only after its
// transaction commits, so the database always has every number up to the
// one announced. When the bus drops a subscription that fell behind (it
// never waits for a slow connection), the handler subscribes again and
// catches up the same way. A client that reconnects sends its last number
// and receives exactly what it missed.
//
// # Back-pressure
//
// Each subscription's bus buffer is the connection's bounded send queue;
// the bus drops it when full, and the handler resynchronises from the
// database. A write that the peer does not take within WriteTimeout closes
// the connection (the client reconnects and catches up). Pings go out
// every PingInterval; a pong missing for PongTimeout closes the
// connection.
package chat

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/okpay/okpay"
	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/desk/realtime"
)

// Close codes of the handler (4000-4999 are the application's).
const (
	// CloseSignIn: the conversation changed hands (a visitor signed in
	// and the customer claimed it); reconnect with the new session.
	CloseSignIn websocket.StatusCode = 4001
	// CloseSessionEnded: the session that opened the connection ended
	// (signed out, revoked, expired, the account frozen); do not
	// reconnect without signing in again.
	CloseSessionEnded websocket.StatusCode = 4002
)

// Grant is what an authorised connection may do.
type Grant struct {
	// Viewer is who the connection is. It decides what the connection
	// receives: customers and visitors the public topic, in their
	// numbering; staff everything, internal notes included.
	Viewer desk.Viewer
	// Allow, when set, must approve every subscription (the agent
	// package's permissions for staff, say). The desk's own check runs
	// too: customers and visitors only ever follow their own
	// conversations. For staff connections, set it.
	Allow func(ctx context.Context, conversationID int64) (bool, error)
	// Alive, when set, is asked at every ping whether the session that
	// opened the connection still works: false closes the connection
	// with CloseSessionEnded, so a revoked session stops receiving what
	// it followed within a ping interval. An error is ignored (the next
	// ping asks again).
	Alive func(ctx context.Context) (bool, error)
	// Inbox lets the connection follow desk.InboxTopic (FrameInbox):
	// every conversation's created, status and assignment events. Staff
	// only; Allow, when set, approves it too (as conversation 0).
	Inbox bool
}

// Authorizer authorises a WebSocket request before the upgrade, from its
// session (cookie, token). An error with code EUnauthorized answers 401,
// EForbidden 403, anything else 500.
type Authorizer func(r *http.Request) (Grant, error)

// Config tunes a Handler. Zero fields take the defaults.
type Config struct {
	PingInterval time.Duration // 25 s
	PongTimeout  time.Duration // 10 s
	WriteTimeout time.Duration // 10 s
	// MaxSubscriptions caps the conversations one connection follows.
	MaxSubscriptions int // 20
	// CatchUpPage is how many messages one catch-up query reads.
	CatchUpPage int // 200
	// TypingInterval: typing frames closer together than this, per
	// conversation, are ignored.
	TypingInterval time.Duration // 1 s
	// FrameRate and FrameBurst limit a connection's client frames (a
	// token bucket): frames beyond it are answered with an error frame.
	FrameRate  float64 // 5 per second
	FrameBurst int     // 20
	// OriginPatterns are the other origins allowed to open a socket
	// (websocket.AcceptOptions); by default only the page's own origin,
	// which keeps other sites from using a visitor's cookies.
	OriginPatterns []string
	Logger         *slog.Logger
}

func (c *Config) defaults() {
	setD := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	setD(&c.PingInterval, 25*time.Second)
	setD(&c.PongTimeout, 10*time.Second)
	setD(&c.WriteTimeout, 10*time.Second)
	setD(&c.TypingInterval, time.Second)
	if c.MaxSubscriptions <= 0 {
		c.MaxSubscriptions = 20
	}
	if c.CatchUpPage <= 0 {
		c.CatchUpPage = 200
	}
	if c.FrameRate <= 0 {
		c.FrameRate = 5
	}
	if c.FrameBurst <= 0 {
		c.FrameBurst = 20
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Handler is the chat WebSocket endpoint. Create it with NewHandler.
type Handler struct {
	svc   *desk.Service
	bus   realtime.Bus
	auth  Authorizer
	cfg   Config
	base  context.Context
	stop  context.CancelFunc
	conns atomic.Int64

	mu     sync.Mutex // guards closed, live and wg.Add against Close
	closed bool
	live   map[*conn]struct{} // the open connections, which Close ends
	wg     sync.WaitGroup
}

// NewHandler returns the WebSocket handler of svc's conversations (events
// come from svc's bus). auth authorises each connection.
func NewHandler(svc *desk.Service, auth Authorizer, cfg Config) *Handler {
	cfg.defaults()
	base, stop := context.WithCancel(context.Background())
	return &Handler{svc: svc, bus: svc.Bus, auth: auth, cfg: cfg, base: base, stop: stop, live: map[*conn]struct{}{}}
}

// Close closes every connection (status "going away"; clients reconnect
// elsewhere) and waits for them to end.
func (h *Handler) Close() {
	h.mu.Lock()
	h.closed = true
	h.stop()
	for cn := range h.live {
		cn.end(nil) // base is cancelled: "going away"
	}
	h.mu.Unlock()
	h.wg.Wait()
}

// Connections returns the number of open connections.
func (h *Handler) Connections() int { return int(h.conns.Load()) }

// ServeHTTP authorises the request, upgrades it and serves the connection
// until it ends.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	grant, err := h.auth(r)
	if err == nil && grant.Viewer.Kind == "" {
		err = okpay.Errorf(okpay.EUnauthorized, "Sign in first.")
	}
	if err != nil {
		status := http.StatusInternalServerError
		switch okpay.ErrorCode(err) {
		case okpay.EUnauthorized:
			status = http.StatusUnauthorized
		case okpay.EForbidden:
			status = http.StatusForbidden
		default:
			h.cfg.Logger.Error("chat: authorise", "err", err)
		}
		http.Error(w, okpay.ErrorMessage(err), status)
		return
	}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		http.Error(w, "The server is shutting down.", http.StatusServiceUnavailable)
		return
	}
	h.wg.Add(1)
	h.mu.Unlock()
	// Accept refuses a handshake from another origin (403) unless
	// OriginPatterns allows it: a page elsewhere cannot open a socket
	// with our visitor's cookies (SES-09).
	var nc net.Conn
	c, err := websocket.Accept(smallBuffers{w, &nc}, r, &websocket.AcceptOptions{OriginPatterns: h.cfg.OriginPatterns})
	if err != nil {
		h.wg.Done()
		return // Accept answered the request
	}
	c.SetReadLimit(MaxClientFrame)
	cn := &conn{h: h, ws: c, nc: nc, grant: grant, closed: make(chan struct{}),
		tokens: float64(h.cfg.FrameBurst), refilled: time.Now()}
	h.mu.Lock()
	if h.closed { // Close came during the handshake
		cn.end(nil)
	}
	h.live[cn] = struct{}{}
	h.mu.Unlock()
	h.conns.Add(1)
	// The connection lives on a goroutine of its own, not on the
	// request's: the request's deep stack (middleware, authorisation,
	// the handshake) is released instead of staying parked under every
	// idle connection (memory per connection, okpay bench chat).
	go func() {
		defer h.wg.Done()
		defer h.conns.Add(-1)
		cn.serve()
		h.mu.Lock()
		delete(h.live, cn)
		h.mu.Unlock()
	}()
}

// Buffer sizes of a connection, kept for its life by coder/websocket.
// The server's frames (messages, events) fit the write buffer, so each
// goes out in one write; the client's frames are few and small (subscribe,
// typing), and a payload larger than the read buffer is read past it
// straight into the message.
const (
	writeBuffer = 512
	readBuffer  = 128
)

// smallBuffers hands coder/websocket, which hijacks the connection through
// http.Hijacker and keeps the hijacked bufio reader and writer for the
// connection's life, buffers of writeBuffer and readBuffer bytes instead of net/http's
// 4 KiB ones (memory per idle connection, okpay bench chat). It stores
// the hijacked connection in *nc.
type smallBuffers struct {
	http.ResponseWriter
	nc *net.Conn
}

func (w smallBuffers) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w smallBuffers) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	*w.nc = nc
	if err := brw.Writer.Flush(); err != nil { // the 101 answer, if still there
		nc.Close()
		return nil, nil, err
	}
	// Bytes the client sent right after the handshake (its first
	// frames) are in net/http's buffer: they must be in the new one's
	// too, as buffered bytes (Accept takes the buffered bytes and
	// resets the reader onto the connection).
	n := brw.Reader.Buffered()
	var br *bufio.Reader
	if n == 0 {
		br = bufio.NewReaderSize(nc, readBuffer)
	} else {
		b, _ := brw.Reader.Peek(n)
		br = bufio.NewReaderSize(io.MultiReader(bytes.NewReader(bytes.Clone(b)), nc), max(readBuffer, n))
		if _, err := br.Peek(n); err != nil {
			nc.Close()
			return nil, nil, err
		}
	}
	return nc, bufio.NewReadWriter(br, bufio.NewWriterSize(nc, writeBuffer)), nil
}

// subscription is one followed conversation of a connection, or the
// inbox (conv 0).
type subscription struct {
	conv   int64
	events realtime.Mailbox
	cancel func()
	// last is the last sequence number sent (viewer's numbering).
	last       int64
	lastTyping time.Time
}

type command struct {
	frame ClientFrame
	err   error
}

// A connection holds one goroutine while idle: serve's, reading the
// client's frames (which also answers pings and receives pongs) and
// queueing them. Neither frames nor events park a goroutine: the reader
// and the bus notify the connection (realtime.Notifier), which then
// starts a short-lived drain that runs the queued frames, forwards what
// its subscriptions have, and ends. Pings go out from a timer. mu makes
// the drains take turns, so each subscription has one writer at a time.
//
// What an idle connection holds is kept small (okpay bench chat measures
// it): no context of its own (its work runs under the handler's, and
// Close ends it through Handler.live), its subscriptions in a slice, and
// bus mailboxes that hold no buffer while empty.
type conn struct {
	h     *Handler
	ws    *websocket.Conn
	nc    net.Conn // the socket under ws
	grant Grant

	// pending counts the bus's notifications not yet drained; the one
	// that raises it from zero starts a drain.
	pending atomic.Int64
	// ended is set once the connection is closing: nothing more is
	// written or run.
	ended   atomic.Bool
	endOnce sync.Once
	closed  chan struct{} // closed once the socket is closed
	ping    atomic.Pointer[time.Timer]

	// the client frames read and not yet run; overflow is set when one
	// was refused for want of room
	qmu      sync.Mutex
	queue    []clientMsg
	overflow bool

	mu   sync.Mutex      // guards what follows
	subs []*subscription // at most MaxSubscriptions
	// token bucket of client frames; limited is set once a frame was
	// refused, until one is accepted again (one error frame per burst)
	tokens   float64
	refilled time.Time
	limited  bool
	// aliveAt is when Grant.Alive last said the session works, for
	// events (checkAlive).
	aliveAt time.Time
}

// errSignIn ends a visitor's connection whose conversation was claimed.
var (
	errSignIn       = errors.New("chat: conversation claimed")
	errSessionEnded = errors.New("chat: session ended")
)

func (cn *conn) serve() {
	t := time.AfterFunc(time.Hour, cn.pingOnce)
	cn.ping.Store(t)
	t.Reset(cn.h.cfg.PingInterval)
	cn.read()
	cn.end(nil)
	t.Stop()
	cn.mu.Lock() // waits for a drain under way
	for _, s := range cn.subs {
		s.cancel()
	}
	cn.mu.Unlock()
	<-cn.closed
}

// maxQueued is how many client frames may wait for their turn; frames
// beyond it are refused as rate limited (the frame bucket would refuse
// most of them anyway).
const maxQueued = 64

// read reads the client's frames until the socket closes (which also
// answers pings and receives pongs) and queues them for a drain to run.
// It runs nothing itself: running a frame (a subscription's queries) grows
// a goroutine's stack to tens of KiB, and a stack the GC shrinks back
// stays at twice what parking in websocket.Conn.Read needs, 8 KiB; the
// reader's own stays at 4 KiB (memory per idle connection, okpay bench
// chat).
func (cn *conn) read() {
	for {
		// Not a context that ends: a read cut by a context closes the
		// connection at once, without the closing handshake end does.
		// Keep reading until the socket closes: the closing handshake
		// needs the peer's close frame.
		typ, data, err := cn.ws.Read(context.Background())
		if err != nil {
			return
		}
		cn.qmu.Lock()
		if len(cn.queue) < maxQueued {
			cn.queue = append(cn.queue, clientMsg{typ, data})
		} else {
			cn.overflow = true
		}
		cn.qmu.Unlock()
		cn.notify()
	}
}

// clientMsg is a client frame read and not yet run.
type clientMsg struct {
	typ  websocket.MessageType
	data []byte
}

// runQueued runs the client frames read so far, in order.
func (cn *conn) runQueued() error {
	for !cn.ended.Load() {
		cn.qmu.Lock()
		if len(cn.queue) == 0 {
			cn.queue = nil
			overflow := cn.overflow
			cn.overflow = false
			cn.qmu.Unlock()
			if overflow && !cn.limited {
				cn.limited = true
				return cn.write(desk.ErrorFrame(0, okpay.Errorf("rate_limited", "Too many frames: slow down.")))
			}
			return nil
		}
		f := cn.queue[0]
		cn.queue[0] = clientMsg{}
		cn.queue = cn.queue[1:]
		cn.qmu.Unlock()
		var cmd command
		if f.typ != websocket.MessageText {
			cmd.err = okpay.Errorf(okpay.EInvalid, "Frames are JSON text.")
		} else {
			cmd.frame, cmd.err = ParseClientFrame(f.data)
		}
		if err := cn.command(cmd); err != nil {
			return err
		}
	}
	return nil
}

// fail ends the connection after err.
func (cn *conn) fail(err error) {
	if cn.grant.Viewer.Kind == desk.KindVisitor && okpay.ErrorCode(err) == okpay.ENotFound {
		// A followed conversation is no longer the visitor's: it was
		// claimed while its events were being caught up.
		err = errSignIn
	}
	cn.end(err)
}

// end closes the connection, once: err decides how. It never blocks.
func (cn *conn) end(err error) {
	cn.endOnce.Do(func() {
		cn.ended.Store(true)
		go func() {
			defer close(cn.closed)
			switch {
			case errors.Is(err, errSignIn):
				cn.ws.Close(CloseSignIn, "sign in again")
			case errors.Is(err, errSessionEnded):
				cn.ws.Close(CloseSessionEnded, "session ended")
			case cn.h.base.Err() != nil:
				cn.ws.Close(websocket.StatusGoingAway, "server shutting down")
			default:
				cn.ws.CloseNow()
			}
		}()
	})
}

// pingOnce checks the session (Grant.Alive), pings the client and arms
// the next ping; a pong missing for PongTimeout closes the connection.
func (cn *conn) pingOnce() {
	if cn.ended.Load() {
		return
	}
	// Not derived from base: coder/websocket closes the connection
	// outright when a ping's context ends, so a shutdown cancelling an
	// in-flight ping would beat Handler.Close's "going away" frame.
	pctx, done := context.WithTimeout(context.Background(), cn.h.cfg.PongTimeout)
	if alive := cn.grant.Alive; alive != nil {
		if ok, err := alive(pctx); err == nil && !ok {
			done()
			cn.end(errSessionEnded)
			return
		}
	}
	err := cn.ws.Ping(pctx)
	done()
	if err != nil {
		cn.end(err)
		return
	}
	if !cn.ended.Load() {
		cn.ping.Load().Reset(cn.h.cfg.PingInterval)
	}
}

// notify is the bus's call (a subscription has an event) and the
// reader's (a client frame is queued).
func (cn *conn) notify() {
	if cn.pending.Add(1) == 1 {
		go cn.drain()
	}
}

// drain runs the queued client frames and forwards the subscriptions'
// events until none is left and no notification came in meanwhile.
func (cn *conn) drain() {
	for {
		n := cn.pending.Load()
		cn.mu.Lock()
		err := cn.runQueued()
		if err == nil {
			err = cn.drainLocked()
		}
		cn.mu.Unlock()
		if err != nil {
			cn.fail(err)
		}
		if cn.pending.Add(-n) == 0 {
			return
		}
	}
}

// drainLocked forwards every event the subscriptions hold, one per
// subscription in turn; each subscription's stay in order.
func (cn *conn) drainLocked() error {
	for !cn.ended.Load() {
		progressed := false
		for _, s := range cn.subs {
			e, ok := s.events.Next()
			if !ok {
				continue
			}
			progressed = true
			if err := cn.checkAlive(); err != nil {
				return err
			}
			if err := cn.event(s, e); err != nil {
				return err
			}
		}
		if !progressed {
			return nil
		}
	}
	return nil
}

// aliveEvery is how long a session check (Grant.Alive) holds for the
// events that follow it. Without it a socket whose session was revoked,
// frozen or signed out kept receiving what it followed until its next
// ping (25 s): a stolen session's tab read the agent's answers.
const aliveEvery = time.Second

// checkAlive refuses, with errSessionEnded, to forward an event to a
// socket whose session ended; a check that fails (the database) lets
// the event through and is tried again at the next one or the ping.
func (cn *conn) checkAlive() error {
	alive := cn.grant.Alive
	if alive == nil {
		return nil
	}
	now := time.Now()
	if now.Sub(cn.aliveAt) < aliveEvery {
		return nil
	}
	ctx, done := context.WithTimeout(context.Background(), cn.h.cfg.PongTimeout)
	ok, err := alive(ctx)
	done()
	if err != nil {
		return nil
	}
	if !ok {
		return errSessionEnded
	}
	cn.aliveAt = now
	return nil
}

// follow subscribes the connection to topic on the bus.
func (cn *conn) follow(topic string) (realtime.Mailbox, func()) {
	if nb, ok := cn.h.bus.(realtime.Notifier); ok {
		return nb.SubscribeNotify(topic, cn.notify)
	}
	// A bus that cannot notify: a goroutine per subscription relays its
	// channel (which cancel closes, ending the goroutine) into a mailbox
	// of one event, so that a slow connection's bus channel fills and
	// the bus drops it as it would.
	in, cancel := cn.h.bus.Subscribe(topic)
	box := &relay{c: make(chan realtime.Event, 1)}
	go func() {
		for e := range in {
			select {
			case box.c <- e:
				cn.notify()
			case <-cn.closed:
				cancel()
			}
		}
	}()
	return box, cancel
}

// relay is the mailbox of a subscription to a bus that cannot notify.
type relay struct{ c chan realtime.Event }

func (r *relay) Next() (realtime.Event, bool) {
	select {
	case e := <-r.c:
		return e, true
	default:
		return realtime.Event{}, false
	}
}

// sub returns the subscription of conversation id (inboxKey: the inbox),
// or nil.
func (cn *conn) sub(id int64) *subscription {
	for _, s := range cn.subs {
		if s.conv == id {
			return s
		}
	}
	return nil
}

// unfollow ends the subscription of conversation id, if any.
func (cn *conn) unfollow(id int64) {
	for i, s := range cn.subs {
		if s.conv == id {
			s.cancel()
			cn.subs = append(cn.subs[:i], cn.subs[i+1:]...)
			if len(cn.subs) == 0 {
				cn.subs = nil
			}
			return
		}
	}
}

// write sends one frame, giving up (and so closing the connection) after
// WriteTimeout. The timeout is the socket's write deadline, not a context:
// coder/websocket keeps the context of a connection's last write, and a
// context with a deadline (its timer and channel) is a third of a KiB per
// idle connection.
func (cn *conn) write(data []byte) error {
	cn.nc.SetWriteDeadline(time.Now().Add(cn.h.cfg.WriteTimeout))
	defer cn.nc.SetWriteDeadline(time.Time{})
	return cn.ws.Write(context.Background(), websocket.MessageText, data)
}

// allowFrame takes a token from the connection's frame bucket.
func (cn *conn) allowFrame() bool {
	now := time.Now()
	cn.tokens = min(float64(cn.h.cfg.FrameBurst), cn.tokens+now.Sub(cn.refilled).Seconds()*cn.h.cfg.FrameRate)
	cn.refilled = now
	if cn.tokens < 1 {
		return false
	}
	cn.tokens--
	return true
}

// command runs one client frame. A refused request is answered with an
// error frame; only a failed write ends the connection.
func (cn *conn) command(cmd command) error {
	f := cmd.frame
	if !cn.allowFrame() {
		if cn.limited {
			return nil
		}
		cn.limited = true
		return cn.write(desk.ErrorFrame(0, okpay.Errorf("rate_limited", "Too many frames: slow down.")))
	}
	cn.limited = false
	if cmd.err != nil {
		return cn.write(desk.ErrorFrame(0, cmd.err))
	}
	switch f.Type {
	case FrameInbox:
		return cn.subscribeInbox()
	case FrameSubscribe:
		return cn.subscribe(f.Conversation, f.After)
	case FrameUnsubscribe:
		cn.unfollow(f.Conversation)
		return nil
	case FrameTyping:
		s := cn.sub(f.Conversation)
		if s == nil {
			return cn.write(desk.ErrorFrame(f.Conversation, okpay.Errorf(okpay.EInvalid, "Subscribe to the conversation first.")))
		}
		if now := time.Now(); now.Sub(s.lastTyping) >= cn.h.cfg.TypingInterval {
			s.lastTyping = now
			if err := cn.h.svc.Typing(cn.h.base, cn.grant.Viewer, f.Conversation, f.Internal); err != nil {
				return cn.write(desk.ErrorFrame(f.Conversation, err))
			}
		}
		return nil
	}
	return nil
}

// subscribe follows a conversation the connection may see, sending what
// the client missed after seq after.
func (cn *conn) subscribe(id, after int64) error {
	v := cn.grant.Viewer
	cn.unfollow(id)
	if len(cn.subs) >= cn.h.cfg.MaxSubscriptions {
		return cn.write(desk.ErrorFrame(id, okpay.Errorf(okpay.EInvalid, "This connection follows as many conversations as it can.")))
	}
	if cn.grant.Allow != nil {
		ok, err := cn.grant.Allow(cn.h.base, id)
		if err != nil {
			cn.h.cfg.Logger.Error("chat: authorise subscription", "err", err)
			return cn.write(desk.ErrorFrame(id, okpay.Internal(err, "authorise subscription")))
		}
		if !ok {
			return cn.write(desk.ErrorFrame(id, okpay.Errorf(okpay.EForbidden, "You may not follow this conversation.")))
		}
	}
	// Subscribe first, then read the state: nothing that happens after
	// the read can be missed.
	events, cancel := cn.follow(desk.TopicFor(v, id))
	c, err := cn.h.svc.Conversation(cn.h.base, v, id)
	if err != nil {
		cancel()
		return cn.write(desk.ErrorFrame(id, err))
	}
	s := &subscription{conv: id, events: events, cancel: cancel, last: min(after, c.LastSeq)}
	cn.subs = append(cn.subs, s)
	return cn.sync(s, c)
}

// inboxKey is the key of the inbox subscription in conn.subs
// (conversation ids are positive).
const inboxKey = 0

// subscribeInbox follows desk.InboxTopic, if the grant allows it. The
// client gets a "subscribed" frame naming no conversation, then the
// events; after a resync frame it reloads its lists (the inbox has no
// sequence numbers to catch up from).
func (cn *conn) subscribeInbox() error {
	cn.unfollow(inboxKey)
	ok := cn.grant.Inbox
	if ok && cn.grant.Allow != nil {
		var err error
		if ok, err = cn.grant.Allow(cn.h.base, inboxKey); err != nil {
			cn.h.cfg.Logger.Error("chat: authorise inbox", "err", err)
			return cn.write(desk.ErrorFrame(0, okpay.Internal(err, "authorise inbox")))
		}
	}
	if !ok {
		return cn.write(desk.ErrorFrame(0, okpay.Errorf(okpay.EForbidden, "You may not follow the inbox.")))
	}
	if len(cn.subs) >= cn.h.cfg.MaxSubscriptions {
		return cn.write(desk.ErrorFrame(0, okpay.Errorf(okpay.EInvalid, "This connection follows as many conversations as it can.")))
	}
	events, cancel := cn.follow(desk.InboxTopic)
	cn.subs = append(cn.subs, &subscription{conv: inboxKey, events: events, cancel: cancel})
	return cn.write(inboxSubscribed)
}

var (
	inboxSubscribed = []byte(`{"type":"` + desk.EventSubscribed + `","inbox":true}`)
	inboxResync     = []byte(`{"type":"` + realtime.TypeResync + `","inbox":true}`)
)

// sync sends what s missed from the database, then the "subscribed"
// frame. c is the conversation read after subscribing (nil: read it).
func (cn *conn) sync(s *subscription, c *desk.Conversation) error {
	v := cn.grant.Viewer
	if err := cn.catchUp(s); err != nil {
		return err
	}
	var err error
	if c == nil {
		if c, err = cn.h.svc.Conversation(cn.h.base, v, s.conv); err != nil {
			return err
		}
	}
	reads, err := cn.h.svc.Reads(cn.h.base, v, s.conv)
	if err != nil {
		return err
	}
	return cn.write(desk.SubscribedFrame(v, c, s.last, reads))
}

// catchUp sends every message after s.last from the database.
func (cn *conn) catchUp(s *subscription) error {
	v := cn.grant.Viewer
	for {
		msgs, err := cn.h.svc.Messages(cn.h.base, v, s.conv, s.last, cn.h.cfg.CatchUpPage)
		if err != nil {
			return err
		}
		for _, m := range msgs {
			if err := cn.write(desk.MessageFrame(v, m)); err != nil {
				return err
			}
			s.last = m.Seq
		}
		if len(msgs) < cn.h.cfg.CatchUpPage {
			return nil
		}
	}
}

// event forwards one bus event of s.
func (cn *conn) event(s *subscription, e realtime.Event) error {
	if s.conv == inboxKey {
		if e.Type == realtime.TypeResync {
			s.cancel()
			s.events, s.cancel = cn.follow(desk.InboxTopic)
			return cn.write(inboxResync)
		}
		return cn.write(e.Data)
	}
	switch e.Type {
	case realtime.TypeResync:
		// The bus dropped us: follow again, then take what was missed
		// from the database.
		s.cancel()
		s.events, s.cancel = cn.follow(desk.TopicFor(cn.grant.Viewer, s.conv))
		return cn.sync(s, nil)
	case desk.EventMessage:
		switch {
		case e.Seq <= s.last:
			return nil
		case e.Seq == s.last+1:
			if err := cn.write(e.Data); err != nil {
				return err
			}
			s.last = e.Seq
			return nil
		default:
			return cn.catchUp(s)
		}
	case desk.EventClaimed:
		if cn.grant.Viewer.Kind == desk.KindVisitor {
			return errSignIn
		}
	}
	return cn.write(e.Data)
}
