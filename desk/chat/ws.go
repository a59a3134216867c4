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
	"context"
	"errors"
	"log/slog"
	"net/http"
	"reflect"
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

	mu     sync.Mutex // guards closed and wg.Add against Close
	closed bool
	wg     sync.WaitGroup
}

// NewHandler returns the WebSocket handler of svc's conversations (events
// come from svc's bus). auth authorises each connection.
func NewHandler(svc *desk.Service, auth Authorizer, cfg Config) *Handler {
	cfg.defaults()
	base, stop := context.WithCancel(context.Background())
	return &Handler{svc: svc, bus: svc.Bus, auth: auth, cfg: cfg, base: base, stop: stop}
}

// Close closes every connection (status "going away"; clients reconnect
// elsewhere) and waits for them to end.
func (h *Handler) Close() {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	h.stop()
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
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{OriginPatterns: h.cfg.OriginPatterns})
	if err != nil {
		h.wg.Done()
		return // Accept answered the request
	}
	h.conns.Add(1)
	c.SetReadLimit(MaxClientFrame)
	cn := &conn{h: h, ws: c, grant: grant, subs: map[int64]*subscription{},
		tokens: float64(h.cfg.FrameBurst), refilled: time.Now()}
	// The connection lives on a goroutine of its own, not on the
	// request's: the request's deep stack (middleware, authorisation,
	// the handshake) is released instead of staying parked under every
	// idle connection (memory per connection, okpay bench chat).
	go func() {
		defer h.wg.Done()
		defer h.conns.Add(-1)
		cn.serve()
	}()
}

// subscription is one followed conversation of a connection, or the
// inbox (conv 0).
type subscription struct {
	conv   int64
	events <-chan realtime.Event
	cancel func()
	// last is the last sequence number sent (viewer's numbering).
	last       int64
	lastTyping time.Time
}

type command struct {
	frame ClientFrame
	err   error
}

type conn struct {
	h     *Handler
	ws    *websocket.Conn
	grant Grant
	subs  map[int64]*subscription
	ctx   context.Context
	// token bucket of client frames; limited is set once a frame was
	// refused, until one is accepted again (one error frame per burst)
	tokens   float64
	refilled time.Time
	limited  bool
}

// errSignIn ends a visitor's connection whose conversation was claimed.
var errSignIn = errors.New("chat: conversation claimed")

func (cn *conn) serve() {
	ctx, cancel := context.WithCancel(cn.h.base)
	defer cancel()
	cn.ctx = ctx
	cmds := make(chan command, 8)
	go cn.read(ctx, cancel, cmds)
	err := cn.pump(ctx, cancel, cmds)
	cancel() // the reader stops passing commands
	for _, s := range cn.subs {
		s.cancel()
	}
	switch {
	case errors.Is(err, errSignIn):
		cn.ws.Close(CloseSignIn, "sign in again")
	case cn.h.base.Err() != nil:
		cn.ws.Close(websocket.StatusGoingAway, "server shutting down")
	default:
		cn.ws.CloseNow()
	}
}

// read passes the client's frames to the pump; it is the connection's
// only reader (it also answers pings and receives pongs).
func (cn *conn) read(ctx context.Context, cancel context.CancelFunc, cmds chan<- command) {
	defer cancel()
	for {
		// Not ctx: a read cut by a context closes the connection at
		// once, without the closing handshake serve does.
		typ, data, err := cn.ws.Read(context.Background())
		if err != nil {
			return
		}
		var cmd command
		if typ != websocket.MessageText {
			cmd.err = okpay.Errorf(okpay.EInvalid, "Frames are JSON text.")
		} else {
			cmd.frame, cmd.err = ParseClientFrame(data)
		}
		select {
		case cmds <- cmd:
		case <-ctx.Done():
			return
		}
	}
}

// Fixed cases of the pump's select; subscriptions follow.
const (
	caseDone = iota
	caseCmd
	casePing
	caseSubs
)

// pump is the connection's only writer: it runs the client's commands,
// forwards events and pings.
func (cn *conn) pump(ctx context.Context, cancel context.CancelFunc, cmds <-chan command) error {
	ping := time.NewTicker(cn.h.cfg.PingInterval)
	defer ping.Stop()
	var pinging atomic.Bool
	cases := []reflect.SelectCase{
		caseDone: {Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ctx.Done())},
		caseCmd:  {Dir: reflect.SelectRecv, Chan: reflect.ValueOf(cmds)},
		casePing: {Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ping.C)},
	}
	var order []*subscription
	rebuild := func() {
		cases = cases[:caseSubs]
		order = order[:0]
		for _, s := range cn.subs {
			cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(s.events)})
			order = append(order, s)
		}
	}
	for {
		i, v, ok := reflect.Select(cases)
		var err error
		switch i {
		case caseDone:
			return ctx.Err()
		case caseCmd:
			if !ok {
				return nil
			}
			err = cn.command(v.Interface().(command))
			rebuild()
		case casePing:
			if pinging.CompareAndSwap(false, true) {
				go func() {
					defer pinging.Store(false)
					pctx, done := context.WithTimeout(ctx, cn.h.cfg.PongTimeout)
					defer done()
					if cn.ws.Ping(pctx) != nil {
						cancel()
					}
				}()
			}
		default:
			s := order[i-caseSubs]
			var e realtime.Event
			if ok {
				e = v.Interface().(realtime.Event)
			} else {
				e = realtime.Event{Type: realtime.TypeResync}
			}
			var resubscribed bool
			resubscribed, err = cn.event(s, e)
			if resubscribed {
				rebuild()
			}
		}
		if err != nil {
			if cn.grant.Viewer.Kind == desk.KindVisitor && okpay.ErrorCode(err) == okpay.ENotFound {
				// A followed conversation is no longer the visitor's:
				// it was claimed while its events were being caught up.
				return errSignIn
			}
			return err
		}
	}
}

// write sends one frame, giving up (and so closing the connection) after
// WriteTimeout.
func (cn *conn) write(data []byte) error {
	ctx, cancel := context.WithTimeout(cn.ctx, cn.h.cfg.WriteTimeout)
	defer cancel()
	return cn.ws.Write(ctx, websocket.MessageText, data)
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
		if s := cn.subs[f.Conversation]; s != nil {
			s.cancel()
			delete(cn.subs, f.Conversation)
		}
		return nil
	case FrameTyping:
		s := cn.subs[f.Conversation]
		if s == nil {
			return cn.write(desk.ErrorFrame(f.Conversation, okpay.Errorf(okpay.EInvalid, "Subscribe to the conversation first.")))
		}
		if now := time.Now(); now.Sub(s.lastTyping) >= cn.h.cfg.TypingInterval {
			s.lastTyping = now
			if err := cn.h.svc.Typing(cn.ctx, cn.grant.Viewer, f.Conversation, f.Internal); err != nil {
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
	if old := cn.subs[id]; old != nil {
		old.cancel()
		delete(cn.subs, id)
	}
	if len(cn.subs) >= cn.h.cfg.MaxSubscriptions {
		return cn.write(desk.ErrorFrame(id, okpay.Errorf(okpay.EInvalid, "This connection follows as many conversations as it can.")))
	}
	if cn.grant.Allow != nil {
		ok, err := cn.grant.Allow(cn.ctx, id)
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
	events, cancel := cn.h.bus.Subscribe(desk.TopicFor(v, id))
	c, err := cn.h.svc.Conversation(cn.ctx, v, id)
	if err != nil {
		cancel()
		return cn.write(desk.ErrorFrame(id, err))
	}
	s := &subscription{conv: id, events: events, cancel: cancel, last: min(after, c.LastSeq)}
	cn.subs[id] = s
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
	if old := cn.subs[inboxKey]; old != nil {
		old.cancel()
		delete(cn.subs, inboxKey)
	}
	ok := cn.grant.Inbox
	if ok && cn.grant.Allow != nil {
		var err error
		if ok, err = cn.grant.Allow(cn.ctx, inboxKey); err != nil {
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
	events, cancel := cn.h.bus.Subscribe(desk.InboxTopic)
	cn.subs[inboxKey] = &subscription{conv: inboxKey, events: events, cancel: cancel}
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
		if c, err = cn.h.svc.Conversation(cn.ctx, v, s.conv); err != nil {
			return err
		}
	}
	reads, err := cn.h.svc.Reads(cn.ctx, v, s.conv)
	if err != nil {
		return err
	}
	return cn.write(desk.SubscribedFrame(v, c, s.last, reads))
}

// catchUp sends every message after s.last from the database.
func (cn *conn) catchUp(s *subscription) error {
	v := cn.grant.Viewer
	for {
		msgs, err := cn.h.svc.Messages(cn.ctx, v, s.conv, s.last, cn.h.cfg.CatchUpPage)
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

// event forwards one bus event of s. It reports whether s subscribed
// again (its channel changed).
func (cn *conn) event(s *subscription, e realtime.Event) (bool, error) {
	if s.conv == inboxKey {
		if e.Type == realtime.TypeResync {
			s.cancel()
			s.events, s.cancel = cn.h.bus.Subscribe(desk.InboxTopic)
			return true, cn.write(inboxResync)
		}
		return false, cn.write(e.Data)
	}
	switch e.Type {
	case realtime.TypeResync:
		// The bus dropped us: follow again, then take what was missed
		// from the database.
		s.cancel()
		s.events, s.cancel = cn.h.bus.Subscribe(desk.TopicFor(cn.grant.Viewer, s.conv))
		return true, cn.sync(s, nil)
	case desk.EventMessage:
		switch {
		case e.Seq <= s.last:
			return false, nil
		case e.Seq == s.last+1:
			if err := cn.write(e.Data); err != nil {
				return false, err
			}
			s.last = e.Seq
			return false, nil
		default:
			return false, cn.catchUp(s)
		}
	case desk.EventClaimed:
		if cn.grant.Viewer.Kind == desk.KindVisitor {
			return false, errSignIn
		}
	}
	return false, cn.write(e.Data)
}
