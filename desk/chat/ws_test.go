package chat_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/desk/chat"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

// The socket drops twice in the middle of a conversation while messages
// (and internal notes) keep coming over "HTTP" (the service). Each time
// the customer reconnects with the last number it has. In the end it has
// received exactly 1..N, no gap, no duplicate, in order, and never a
// note; an agent connected throughout has exactly the staff numbering.
func TestReconnectCatchUpNoLossNoDuplicate(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db, 0, chat.Config{})
		conv, err := e.svc.StartConversation(e.ctx, desk.Customer(alice), desk.StartInput{Category: desk.CategoryTransaction, Body: "message 1"})
		if err != nil {
			t.Fatal(err)
		}
		agent := e.dial("X-Agent", fmt.Sprint(agentA))
		agent.subscribe(conv.ID, 0)
		cust := e.dial("X-Customer", fmt.Sprint(alice))
		cust.subscribe(conv.ID, 0)

		const public = 80 // public messages after the first
		sent := make(chan struct{})
		var staffTotal int64 = 1
		go func() {
			defer close(sent)
			for i := 2; i <= public+1; i++ {
				v := desk.Customer(alice)
				if i%2 == 0 {
					v = desk.Agent(agentA)
				}
				if _, err := e.svc.SendMessage(e.ctx, v, conv.ID, desk.MessageInput{Body: fmt.Sprintf("message %d", i), IdempotencyKey: fmt.Sprint("k", i)}); err != nil {
					t.Error(err)
					return
				}
				staffTotal++
				if i%5 == 0 {
					if _, err := e.svc.SendMessage(e.ctx, desk.Agent(agentA), conv.ID, desk.MessageInput{Body: "INTERNAL note", Internal: true}); err != nil {
						t.Error(err)
						return
					}
					staffTotal++
				}
				time.Sleep(time.Millisecond)
			}
		}()

		var got []int64
		check := func(f frame) {
			if strings.Contains(f.raw, "INTERNAL") || f.Message.Internal {
				t.Fatalf("customer received a note: %s", f.raw)
			}
			if f.Message.Body != fmt.Sprintf("message %d", f.Seq) {
				t.Fatalf("seq %d carries %q", f.Seq, f.Message.Body)
			}
			got = append(got, f.Seq)
		}
		for _, dropAt := range []int{15, 45} {
			for len(got) < dropAt {
				f := cust.next(10 * time.Second)
				if f.Type == desk.EventMessage {
					check(f)
				}
			}
			cust.ws.CloseNow() // the network goes away
			time.Sleep(30 * time.Millisecond)
			cust = e.dial("X-Customer", fmt.Sprint(alice))
			cust.subscribe(conv.ID, got[len(got)-1])
		}
		<-sent
		for int64(len(got)) < public+1 {
			f := cust.next(10 * time.Second)
			if f.Type == desk.EventMessage {
				check(f)
			}
		}
		cust.quiet(desk.EventMessage, 100*time.Millisecond)
		for i, s := range got {
			if s != int64(i+1) {
				t.Fatalf("customer received %v: position %d has seq %d", got, i, s)
			}
		}

		var staff []int64
		for int64(len(staff)) < staffTotal {
			f := agent.next(10 * time.Second)
			if f.Type == desk.EventMessage {
				staff = append(staff, f.Seq)
			}
		}
		for i, s := range staff {
			if s != int64(i+1) {
				t.Fatalf("agent received seq %d at position %d", s, i)
			}
		}
	})
}

// The bus holds only two events per subscriber and four senders race:
// events arrive late, out of order, or not at all (dropped, resync). The
// handler fills every gap from the database: the client still receives
// exactly 1..N. The same over a bus that cannot notify, whose channels
// the handler relays.
func TestDroppedSubscriberResyncs(t *testing.T) {
	t.Parallel()
	for _, plain := range []bool{false, true} {
		t.Run(fmt.Sprintf("plain=%v", plain), func(t *testing.T) {
			t.Parallel()
			testDroppedSubscriberResyncs(t, plain)
		})
	}
}

func testDroppedSubscriberResyncs(t *testing.T, plain bool) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		e := newEnvBus(t, db, 2, chat.Config{}, plain)
		conv, err := e.svc.StartConversation(e.ctx, desk.Customer(alice), desk.StartInput{Category: desk.CategoryAccount, Body: "hi"})
		if err != nil {
			t.Fatal(err)
		}
		clients := []*client{e.dial("X-Customer", fmt.Sprint(alice)), e.dial("X-Customer", fmt.Sprint(alice))}
		for _, c := range clients {
			c.subscribe(conv.ID, 0)
			if f := c.next(5 * time.Second); f.Seq != 1 || f.Type != desk.EventMessage {
				t.Fatalf("first frame %s", f.raw)
			}
			c.nextOf(desk.EventSubscribed, 5*time.Second)
		}
		const senders, each = 4, 30
		var wg sync.WaitGroup
		for s := 0; s < senders; s++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < each; i++ {
					if _, err := e.svc.SendMessage(e.ctx, desk.Agent(agentA), conv.ID, desk.MessageInput{Body: fmt.Sprint(s, "/", i)}); err != nil {
						t.Error(err)
					}
				}
			}()
		}
		wg.Wait()
		for _, c := range clients {
			seqs := []int64{1} // received before the subscribed frame
			for len(seqs) < senders*each+1 {
				f := c.next(10 * time.Second)
				if f.Type == desk.EventMessage {
					seqs = append(seqs, f.Seq)
				}
			}
			for i, s := range seqs {
				if s != int64(i+1) {
					t.Fatalf("received %v", seqs)
				}
			}
			c.quiet(desk.EventMessage, 50*time.Millisecond)
		}
		t.Logf("bus dropped %d subscriptions", e.bus.Dropped())
	})
}

// API-02: a socket only follows what its viewer may see: another customer's
// conversation is "not found" and none of its events arrive; an agent's
// Allow is asked; no session, no socket.
func TestAPI02SubscriptionAuthorisation(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db, 0, chat.Config{})
		conv, err := e.svc.StartConversation(e.ctx, desk.Customer(alice), desk.StartInput{Category: desk.CategoryAccount, Body: "private"})
		if err != nil {
			t.Fatal(err)
		}
		_, resp, err := e.tryDial("", "")
		if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("dial without a session: %v %v", err, resp)
		}

		mallory := e.dial("X-Customer", fmt.Sprint(bob))
		mallory.subscribe(conv.ID, 0)
		if f := mallory.next(5 * time.Second); f.Type != desk.EventError || f.Code != "not_found" {
			t.Fatalf("bob subscribing to alice's conversation: %s", f.raw)
		}
		stranger := e.dial("X-Visitor", visitor)
		stranger.subscribe(conv.ID, 0)
		if f := stranger.next(5 * time.Second); f.Type != desk.EventError || f.Code != "not_found" {
			t.Fatalf("a visitor subscribing to alice's conversation: %s", f.raw)
		}
		e.denied[conv.ID] = true
		agent := e.dial("X-Agent", fmt.Sprint(agentA))
		agent.subscribe(conv.ID, 0)
		if f := agent.next(5 * time.Second); f.Type != desk.EventError || f.Code != "forbidden" {
			t.Fatalf("agent without permission: %s", f.raw)
		}

		if _, err := e.svc.SendMessage(e.ctx, desk.Customer(alice), conv.ID, desk.MessageInput{Body: "my PIN hint"}); err != nil {
			t.Fatal(err)
		}
		e.svc.Typing(e.ctx, desk.Agent(agentA), conv.ID, false)
		for _, c := range []*client{mallory, stranger, agent} {
			c.quiet(desk.EventMessage, 150*time.Millisecond)
		}
		for _, c := range []*client{mallory, stranger, agent} {
			select {
			case f, ok := <-c.frames:
				if ok {
					t.Fatalf("unauthorised socket received %s", f.raw)
				}
			default:
			}
		}
		// Typing on a conversation one does not follow is refused.
		mallory.send(map[string]any{"type": "typing", "conversation": desk.ConversationRef(conv.ID)})
		if f := mallory.next(5 * time.Second); f.Type != desk.EventError {
			t.Fatalf("typing without subscription: %s", f.raw)
		}
		// Malformed frames are answered, and the socket stays usable.
		mallory.send(map[string]any{"type": "send", "conversation": desk.ConversationRef(conv.ID), "body": "x"})
		if f := mallory.next(5 * time.Second); f.Type != desk.EventError || f.Code != "validation_failed" {
			t.Fatalf("malformed frame: %s", f.raw)
		}
		own, _ := e.svc.StartConversation(e.ctx, desk.Customer(bob), desk.StartInput{Category: desk.CategoryAccount, Body: "mine"})
		mallory.subscribe(own.ID, 0)
		if f := mallory.nextOf(desk.EventMessage, 5*time.Second); f.Message.Body != "mine" {
			t.Fatalf("own conversation: %s", f.raw)
		}
	})
}

// Typing, read receipts and status changes reach the other side as
// events; an agent typing a note does not show to the customer.
func TestLiveEvents(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db, 0, chat.Config{TypingInterval: time.Nanosecond})
		conv, _ := e.svc.StartConversation(e.ctx, desk.Customer(alice), desk.StartInput{Category: desk.CategoryAccount, Body: "hello"})
		cust := e.dial("X-Customer", fmt.Sprint(alice))
		cust.subscribe(conv.ID, 0)
		if f := cust.nextOf(desk.EventSubscribed, 5*time.Second); f.Seq != 1 || f.Status != "open" {
			t.Fatalf("subscribed frame %s", f.raw)
		}
		agent := e.dial("X-Agent", fmt.Sprint(agentA))
		agent.subscribe(conv.ID, 1)
		if f := agent.next(5 * time.Second); f.Type != desk.EventSubscribed || f.Seq != 1 {
			t.Fatalf("agent after 1 got %s", f.raw)
		}

		agent.send(map[string]any{"type": "typing", "conversation": desk.ConversationRef(conv.ID), "internal": true})
		if f := agent.nextOf(desk.EventTyping, 5*time.Second); !f.Internal {
			t.Fatalf("agent's own note typing: %s", f.raw)
		}
		cust.quiet(desk.EventTyping, 100*time.Millisecond)
		agent.send(map[string]any{"type": "typing", "conversation": desk.ConversationRef(conv.ID)})
		if f := cust.nextOf(desk.EventTyping, 5*time.Second); f.Author != "agent" || strings.Contains(f.raw, "agt_") {
			t.Fatalf("customer sees typing %s", f.raw)
		}
		cust.send(map[string]any{"type": "typing", "conversation": desk.ConversationRef(conv.ID)})
		agent.nextWhere(desk.EventTyping, func(f frame) bool { return f.Author == "customer" }, 5*time.Second)

		e.svc.MarkRead(e.ctx, desk.Agent(agentA), conv.ID, 1)
		if f := cust.nextOf(desk.EventRead, 5*time.Second); f.Seq != 1 {
			t.Fatalf("read event %s", f.raw)
		}
		e.svc.SetStatus(e.ctx, desk.Agent(agentA), conv.ID, desk.StatusSnoozed, time.Now().Add(time.Hour))
		if f := cust.nextOf(desk.EventStatus, 5*time.Second); f.Status != "snoozed" || strings.Contains(f.raw, "snoozed_until") {
			t.Fatalf("customer status event %s", f.raw)
		}
		if f := agent.nextOf(desk.EventStatus, 5*time.Second); !strings.Contains(f.raw, "snoozed_until") {
			t.Fatalf("agent status event %s", f.raw)
		}
		e.svc.Claim(e.ctx, agentA, conv.ID)
		if f := cust.nextOf(desk.EventAssigned, 5*time.Second); strings.Contains(f.raw, "agt_") {
			t.Fatalf("customer assigned event %s", f.raw)
		}
		// Unsubscribing stops the events.
		cust.send(map[string]any{"type": "unsubscribe", "conversation": desk.ConversationRef(conv.ID)})
		time.Sleep(50 * time.Millisecond)
		e.svc.SendMessage(e.ctx, desk.Agent(agentA), conv.ID, desk.MessageInput{Body: "are you there?"})
		cust.quiet(desk.EventMessage, 100*time.Millisecond)
	})
}

// When a visitor signs in and the customer claims the conversation, the
// visitor's socket is closed with "sign in again"; the customer's socket
// then follows it.
func TestVisitorSocketClosedOnClaim(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db, 0, chat.Config{})
		conv, err := e.svc.StartConversation(e.ctx, desk.Visitor(visitor), desk.StartInput{Category: desk.CategoryAccount, Body: "cannot log in"})
		if err != nil {
			t.Fatal(err)
		}
		vis := e.dial("X-Visitor", visitor)
		vis.subscribe(conv.ID, 0)
		vis.nextOf(desk.EventSubscribed, 5*time.Second)
		if _, err := e.svc.ClaimVisitorConversations(e.ctx, visitor, alice); err != nil {
			t.Fatal(err)
		}
		if code := vis.closeStatus(5 * time.Second); code != chat.CloseSignIn {
			t.Fatalf("visitor socket closed with %v, want %v", code, chat.CloseSignIn)
		}
		again := e.dial("X-Visitor", visitor)
		again.subscribe(conv.ID, 0)
		if f := again.next(5 * time.Second); f.Type != desk.EventError || f.Code != "not_found" {
			t.Fatalf("visitor after claim: %s", f.raw)
		}
		cust := e.dial("X-Customer", fmt.Sprint(alice))
		cust.subscribe(conv.ID, 0)
		if f := cust.nextOf(desk.EventMessage, 5*time.Second); f.Message.Body != "cannot log in" || f.Message.Author != "visitor" {
			t.Fatalf("customer after claim: %s", f.raw)
		}
	})
}

// A peer that stops answering pings is disconnected; a live one is not;
// closing the handler closes every socket with "going away".
func TestHeartbeat(t *testing.T) {
	t.Parallel()
	db := sqldbtest.Open(t, sqldb.SQLite)
	e := newEnv(t, db, 0, chat.Config{PingInterval: 30 * time.Millisecond, PongTimeout: 60 * time.Millisecond})
	live := e.dial("X-Customer", fmt.Sprint(alice))
	// A dead peer: connected, but it never reads, so it never pongs.
	h := http.Header{}
	h.Set("X-Customer", fmt.Sprint(bob))
	dead, _, err := websocket.Dial(e.ctx, "ws"+strings.TrimPrefix(e.srv.URL, "http"), &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		t.Fatal(err)
	}
	defer dead.CloseNow()
	deadline := time.Now().Add(5 * time.Second)
	for e.handler.Connections() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections; the dead peer was not dropped", e.handler.Connections())
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	if e.handler.Connections() != 1 {
		t.Fatal("the live peer was dropped")
	}
	e.handler.Close()
	if code := live.closeStatus(5 * time.Second); code != websocket.StatusGoingAway {
		t.Fatalf("closed with %v, want going away", code)
	}
}

// A socket whose session ends (signed out, revoked, the account frozen)
// is closed with "session ended" at its next ping, so it stops receiving
// what it followed; another customer's socket stays.
func TestSocketClosedWhenSessionEnds(t *testing.T) {
	t.Parallel()
	db := sqldbtest.Open(t, sqldb.SQLite)
	e := newEnv(t, db, 0, chat.Config{PingInterval: 30 * time.Millisecond, PongTimeout: time.Second})
	conv, err := e.svc.StartConversation(e.ctx, desk.Customer(alice), desk.StartInput{Category: desk.CategoryAccount, Body: "someone signed in"})
	if err != nil {
		t.Fatal(err)
	}
	a := e.dial("X-Customer", fmt.Sprint(alice))
	a.subscribe(conv.ID, 0)
	a.nextOf(desk.EventSubscribed, 5*time.Second)
	b := e.dial("X-Customer", fmt.Sprint(bob))
	time.Sleep(100 * time.Millisecond) // a few pings: both alive
	if n := e.handler.Connections(); n != 2 {
		t.Fatalf("%d connections while both sessions work", n)
	}
	e.ended.Store(int64(alice), true)
	if code := a.closeStatus(5 * time.Second); code != chat.CloseSessionEnded {
		t.Fatalf("closed with %v, want %v", code, chat.CloseSessionEnded)
	}
	time.Sleep(100 * time.Millisecond)
	if n := e.handler.Connections(); n != 1 {
		t.Fatalf("%d connections, want bob's only", n)
	}
	select {
	case err := <-b.closed:
		t.Fatalf("bob's socket closed: %v", err)
	default:
	}
}

// A socket whose session ended is closed before the next event reaches
// it, not at the next ping: an agent's answer written after the session
// was revoked never reaches that socket (with 25 s between pings, a
// stolen session's tab read it).
func TestSocketSessionCheckedBeforeEvents(t *testing.T) {
	t.Parallel()
	db := sqldbtest.Open(t, sqldb.SQLite)
	e := newEnv(t, db, 0, chat.Config{PingInterval: time.Hour, PongTimeout: time.Second})
	conv, err := e.svc.StartConversation(e.ctx, desk.Customer(alice), desk.StartInput{Category: desk.CategorySecurityPrivacy, Body: "someone signed in"})
	if err != nil {
		t.Fatal(err)
	}
	a := e.dial("X-Customer", fmt.Sprint(alice))
	a.subscribe(conv.ID, 0)
	a.nextOf(desk.EventSubscribed, 5*time.Second)
	if _, err := e.svc.SendMessage(e.ctx, desk.Agent(agentA), conv.ID, desk.MessageInput{Body: "while signed in"}); err != nil {
		t.Fatal(err)
	}
	a.nextWhere(desk.EventMessage, func(f frame) bool { return strings.Contains(f.raw, "while signed in") }, 5*time.Second)
	e.ended.Store(int64(alice), true)
	time.Sleep(1100 * time.Millisecond) // past the last check's hold
	if _, err := e.svc.SendMessage(e.ctx, desk.Agent(agentA), conv.ID, desk.MessageInput{Body: "secret detail 123"}); err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case f, ok := <-a.frames:
			if !ok {
				if code := a.closeStatus(time.Second); code != chat.CloseSessionEnded {
					t.Fatalf("closed with %v, want %v", code, chat.CloseSessionEnded)
				}
				return
			}
			if strings.Contains(f.raw, "secret detail") {
				t.Fatal("a message reached a socket whose session had ended")
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the socket is still open 5 s after an event, its session ended")
		}
	}
}

// BenchmarkWebSocketFanout is a sketch of the delivery benchmark: N real
// sockets follow N conversations; each iteration sends one message (to a
// conversation in turn) through the service and waits for its socket to
// receive it. It reports messages per second; the full 10,000-connection
// run with latency percentiles comes later.
func BenchmarkWebSocketFanout(b *testing.B) {
	for _, n := range []int{10, 200} {
		b.Run(fmt.Sprintf("connections=%d", n), func(b *testing.B) {
			db, err := sqldb.Open(b.Context(), "sqlite:"+b.TempDir()+"/bench.db", sqldb.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			if _, err := db.Migrate(b.Context()); err != nil {
				b.Fatal(err)
			}
			benchFanout(b, db, n)
		})
	}
}

// SES-09: a handshake from another site's page (foreign Origin) is
// refused, so a page elsewhere cannot open a socket with our cookies.
func TestSES09ForeignOriginRefused(t *testing.T) {
	t.Parallel()
	db := sqldbtest.Open(t, sqldb.SQLite)
	e := newEnv(t, db, 0, chat.Config{})
	h := http.Header{}
	h.Set("X-Customer", fmt.Sprint(alice))
	h.Set("Origin", "https://evil.example")
	_, resp, err := websocket.Dial(e.ctx, "ws"+strings.TrimPrefix(e.srv.URL, "http"), &websocket.DialOptions{HTTPHeader: h})
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("foreign origin: %v %v", err, resp)
	}
	h.Set("Origin", e.srv.URL) // same origin
	ws, _, err := websocket.Dial(e.ctx, "ws"+strings.TrimPrefix(e.srv.URL, "http"), &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		t.Fatalf("same origin: %v", err)
	}
	ws.CloseNow()
}

// A client that floods frames gets one rate_limited answer per burst and
// the rest are ignored; the connection stays usable.
func TestFrameRateLimit(t *testing.T) {
	t.Parallel()
	db := sqldbtest.Open(t, sqldb.SQLite)
	e := newEnv(t, db, 0, chat.Config{FrameBurst: 5, FrameRate: 0.001})
	conv, _ := e.svc.StartConversation(e.ctx, desk.Customer(alice), desk.StartInput{Category: desk.CategoryAccount, Body: "hi"})
	c := e.dial("X-Customer", fmt.Sprint(alice))
	for i := 0; i < 30; i++ {
		c.send(map[string]any{"type": "unsubscribe", "conversation": desk.ConversationRef(conv.ID)})
	}
	if f := c.next(5 * time.Second); f.Code != "rate_limited" {
		t.Fatalf("flood answered with %s", f.raw)
	}
	c.quiet(desk.EventError, 200*time.Millisecond)
	if e.handler.Connections() != 1 {
		t.Fatal("connection dropped")
	}
}

// Frames are read ahead of running them; more than the reader may queue
// are refused as the frame bucket refuses them: a rate_limited error frame
// per overflow (not per frame refused), and the connection is kept and
// still answers.
func TestFrameQueueOverflow(t *testing.T) {
	t.Parallel()
	db := sqldbtest.Open(t, sqldb.SQLite)
	e := newEnv(t, db, 0, chat.Config{FrameBurst: 1000, FrameRate: 1000})
	conv, _ := e.svc.StartConversation(e.ctx, desk.Customer(alice), desk.StartInput{Category: desk.CategoryAccount, Body: "hi"})
	c := e.dial("X-Customer", fmt.Sprint(alice))
	c.subscribe(conv.ID, 0)
	c.nextOf(desk.EventSubscribed, 5*time.Second)
	for i := 0; i < 500; i++ {
		c.send(map[string]any{"type": "typing", "conversation": desk.ConversationRef(conv.ID)})
	}
	limited := 0
	for quiet := false; !quiet; {
		select {
		case f := <-c.frames:
			if f.Code == "rate_limited" {
				limited++
			} else if f.Type == desk.EventError {
				t.Fatalf("error frame %s", f.raw)
			}
		case <-time.After(500 * time.Millisecond):
			quiet = true
		}
	}
	if limited > 20 {
		t.Fatalf("%d rate_limited frames for 500 frames", limited)
	}
	c.subscribe(conv.ID, 0)
	c.nextOf(desk.EventSubscribed, 5*time.Second)
	if e.handler.Connections() != 1 {
		t.Fatal("connection dropped")
	}
	t.Logf("rate_limited frames: %d", limited)
}
