package chat_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/desk/chat"
	"github.com/okpay/okpay/desk/realtime"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

// The inbox frame follows every conversation's conversation-level events
// (the agents' inbox views): only a grant with Inbox may send it; a
// customer or visitor is refused and sees nothing of others'
// conversations; a dropped inbox subscription says "resync" and goes on.
func TestInboxFollowsEveryConversation(t *testing.T) {
	t.Parallel()
	db := sqldbtest.Open(t, sqldb.SQLite)
	e := newEnv(t, db, 4, chat.Config{})

	cust := e.dial("X-Customer", fmt.Sprint(alice))
	cust.send(map[string]any{"type": "inbox"})
	if f := cust.next(5 * time.Second); f.Type != desk.EventError || f.Code != "forbidden" {
		t.Fatalf("a customer following the inbox: %s", f.raw)
	}
	vis := e.dial("X-Visitor", visitor)
	vis.send(map[string]any{"type": "inbox"})
	if f := vis.next(5 * time.Second); f.Type != desk.EventError || f.Code != "forbidden" {
		t.Fatalf("a visitor following the inbox: %s", f.raw)
	}

	ag := e.dial("X-Agent", fmt.Sprint(agentA))
	ag.send(map[string]any{"type": "inbox"})
	if f := ag.next(5 * time.Second); f.Type != desk.EventSubscribed || !strings.Contains(f.raw, `"inbox":true`) {
		t.Fatalf("inbox subscription: %s", f.raw)
	}
	conv, err := e.svc.StartConversation(e.ctx, desk.Customer(bob), desk.StartInput{Category: desk.CategoryTransaction, Body: "where is my money"})
	if err != nil {
		t.Fatal(err)
	}
	f := ag.nextOf(desk.EventCreated, 10*time.Second)
	if f.Conversation != desk.ConversationRef(conv.ID) || !strings.Contains(f.raw, `"team":"payments"`) {
		t.Fatalf("created: %s", f.raw)
	}
	if strings.Contains(f.raw, "where is my money") {
		t.Fatalf("the inbox event carries the message: %s", f.raw)
	}
	if _, err := e.svc.Claim(e.ctx, agentA, conv.ID); err != nil {
		t.Fatal(err)
	}
	if f := ag.nextOf("conversation", 10*time.Second); f.Conversation != desk.ConversationRef(conv.ID) || !strings.Contains(f.raw, `"assignee_id":"agt_`) {
		t.Fatalf("assigned: %s", f.raw)
	}
	cust.quiet(desk.EventCreated, 100*time.Millisecond)

	// Denied by Allow (conversation 0 is the inbox).
	e.denied[0] = true
	other := e.dial("X-Agent", fmt.Sprint(agentA+1))
	other.send(map[string]any{"type": "inbox"})
	if f := other.next(5 * time.Second); f.Type != desk.EventError || f.Code != "forbidden" {
		t.Fatalf("an agent Allow refuses: %s", f.raw)
	}
	e.denied[0] = false

	// Flood the inbox topic past the bus buffer (4) while the socket
	// cannot keep up: the handler says resync and keeps following.
	flood, stop := context.WithCancel(e.ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for flood.Err() == nil {
			e.bus.Publish(e.ctx, desk.InboxTopic, realtime.Event{Type: "conversation", Data: []byte(`{"type":"conversation","conversation":"x"}`)})
		}
	}()
	ag.nextWhere(realtime.TypeResync, func(f frame) bool { return strings.Contains(f.raw, `"inbox":true`) }, 60*time.Second)
	stop()
	<-done
	// Let the handler write out what the flood left queued: an event
	// published while the subscription is still full is dropped too (a
	// second resync), which on a loaded machine made this wait fail.
	ag.settle(500 * time.Millisecond)
	c2, err := e.svc.StartConversation(e.ctx, desk.Customer(alice), desk.StartInput{Category: desk.CategoryAccount, Body: "after the resync"})
	if err != nil {
		t.Fatal(err)
	}
	ag.nextWhere(desk.EventCreated, func(f frame) bool { return f.Conversation == desk.ConversationRef(c2.ID) }, 10*time.Second)
}

// A server with read and write timeouts (as okpay serve has) does not
// cut a socket after its handshake (net/http clears a hijacked
// connection's deadlines; this guards the handler's wrappers too).
func TestServerTimeoutsDoNotCutSockets(t *testing.T) {
	t.Parallel()
	db := sqldbtest.Open(t, sqldb.SQLite)
	e := newEnv(t, db, 0, chat.Config{})
	srv := httptest.NewUnstartedServer(e.handler)
	srv.Config.ReadTimeout = 200 * time.Millisecond
	srv.Config.WriteTimeout = 200 * time.Millisecond
	srv.Start()
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h := map[string][]string{"X-Customer": {fmt.Sprint(alice)}}
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	conv, err := e.svc.StartConversation(e.ctx, desk.Customer(alice), desk.StartInput{Category: desk.CategoryAccount, Body: "hi"})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(600 * time.Millisecond) // past both timeouts: what is tested is that nothing happens
	if err := ws.Write(ctx, websocket.MessageText, []byte(`{"type":"subscribe","conversation":"`+desk.ConversationRef(conv.ID)+`"}`)); err != nil {
		t.Fatalf("write after the server's timeouts: %v", err)
	}
	_, data, err := ws.Read(ctx)
	if err != nil || !strings.Contains(string(data), `"type":"message"`) {
		t.Fatalf("read after the server's timeouts: %s %v", data, err)
	}
}
