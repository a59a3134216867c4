package chat_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/okpay/okpay"
	"github.com/okpay/okpay/clock"
	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/desk/chat"
	"github.com/okpay/okpay/desk/realtime"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/sqldb"
)

const (
	alice   = int64(1001)
	bob     = int64(1002)
	agentA  = int64(5001)
	visitor = "vis_0123456789abcdefghij"
)

type env struct {
	t       testing.TB
	ctx     context.Context
	svc     *desk.Service
	bus     *realtime.Memory
	handler *chat.Handler
	srv     *httptest.Server
	// denied conversations agents may not follow (their Grant.Allow).
	denied map[int64]bool
	// ended holds the customers whose session ended (int64 → true):
	// their Grant.Alive says so.
	ended sync.Map
}

// newEnv serves the chat handler over a real HTTP server. The test
// authoriser reads who the caller is from headers (X-Customer,
// X-Visitor, X-Agent), as the web layer would from a session.
func newEnv(t testing.TB, db *sqldb.DB, busBuffer int, cfg chat.Config) *env {
	t.Helper()
	return newEnvBus(t, db, busBuffer, cfg, false)
}

// plainBus hides the Memory bus's realtime.Notifier: the handler relays
// its channels.
type plainBus struct{ realtime.Bus }

// newEnvBus is newEnv; with plain set, the desk's bus cannot notify
// (plainBus).
func newEnvBus(t testing.TB, db *sqldb.DB, busBuffer int, cfg chat.Config, plain bool) *env {
	t.Helper()
	idgen, err := ids.NewSnowflake(1, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, ctx: context.Background(), bus: realtime.NewMemory(busBuffer), denied: map[int64]bool{}}
	var bus realtime.Bus = e.bus
	if plain {
		bus = plainBus{e.bus}
	}
	e.svc, err = desk.New(desk.Deps{DB: db, Clock: clock.System{}, IDs: idgen, Bus: bus}, desk.Config{MaxOpenPerOwner: 50})
	if err != nil {
		t.Fatal(err)
	}
	auth := func(r *http.Request) (chat.Grant, error) {
		if v := r.Header.Get("X-Customer"); v != "" {
			id, _ := strconv.ParseInt(v, 10, 64)
			return chat.Grant{Viewer: desk.Customer(id), Alive: func(context.Context) (bool, error) {
				_, ended := e.ended.Load(id)
				return !ended, nil
			}}, nil
		}
		if v := r.Header.Get("X-Visitor"); v != "" {
			return chat.Grant{Viewer: desk.Visitor(v)}, nil
		}
		if v := r.Header.Get("X-Agent"); v != "" {
			id, _ := strconv.ParseInt(v, 10, 64)
			return chat.Grant{Viewer: desk.Agent(id), Inbox: true, Allow: func(_ context.Context, conv int64) (bool, error) {
				return !e.denied[conv], nil // conversation 0 is the inbox
			}}, nil
		}
		return chat.Grant{}, okpay.Errorf(okpay.EUnauthorized, "Sign in first.")
	}
	e.handler = chat.NewHandler(e.svc, auth, cfg)
	e.srv = httptest.NewServer(e.handler)
	t.Cleanup(func() {
		e.handler.Close()
		e.srv.Close()
	})
	return e
}

// frame is what the tests read of a server frame.
type frame struct {
	Type         string `json:"type"`
	Conversation string `json:"conversation"`
	Seq          int64  `json:"seq"`
	Code         string `json:"code"`
	Status       string `json:"status"`
	Author       string `json:"author"`
	Internal     bool   `json:"internal"`
	// Message is the message of a message frame.
	Message struct {
		Seq      int64  `json:"seq"`
		Body     string `json:"body"`
		Internal bool   `json:"internal"`
		Author   string `json:"author"`
	} `json:"-"`
	RawMessage json.RawMessage `json:"message"` // an object, or an error frame's text
	raw        string
}

type client struct {
	t      testing.TB
	ws     *websocket.Conn
	frames chan frame
	// closed receives the read error when the connection ends.
	closed chan error
}

func (e *env) dial(header, value string) *client {
	e.t.Helper()
	cl, resp, err := e.tryDial(header, value)
	if err != nil {
		e.t.Fatalf("dial: %v (%v)", err, resp)
	}
	return cl
}

func (e *env) tryDial(header, value string) (*client, *http.Response, error) {
	h := http.Header{}
	if header != "" {
		h.Set(header, value)
	}
	ctx, cancel := context.WithTimeout(e.ctx, 5*time.Second)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(e.srv.URL, "http"), &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		return nil, resp, err
	}
	ws.SetReadLimit(1 << 20)
	cl := &client{t: e.t, ws: ws, frames: make(chan frame, 4096), closed: make(chan error, 1)}
	go func() {
		for {
			_, data, err := ws.Read(context.Background())
			if err != nil {
				close(cl.frames)
				cl.closed <- err
				return
			}
			var f frame
			if err := json.Unmarshal(data, &f); err != nil {
				cl.closed <- err
				close(cl.frames)
				return
			}
			if f.Type == desk.EventMessage {
				json.Unmarshal(f.RawMessage, &f.Message)
			}
			f.raw = string(data)
			cl.frames <- f
		}
	}()
	e.t.Cleanup(func() { ws.CloseNow() })
	return cl, resp, nil
}

func (c *client) send(v any) {
	c.t.Helper()
	b, _ := json.Marshal(v)
	if err := c.ws.Write(context.Background(), websocket.MessageText, b); err != nil {
		c.t.Fatalf("client write: %v", err)
	}
}

func (c *client) subscribe(conv, after int64) {
	c.t.Helper()
	c.send(map[string]any{"type": "subscribe", "conversation": desk.ConversationRef(conv), "after": after})
}

// next returns the next frame, failing after timeout.
func (c *client) next(timeout time.Duration) frame {
	c.t.Helper()
	select {
	case f, ok := <-c.frames:
		if !ok {
			c.t.Fatalf("connection ended: %v", <-c.closed)
		}
		return f
	case <-time.After(timeout):
		c.t.Fatalf("no frame within %v", timeout)
	}
	return frame{}
}

// nextOf skips frames until one of type typ.
func (c *client) nextOf(typ string, timeout time.Duration) frame {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		f := c.next(time.Until(deadline))
		if f.Type == typ {
			return f
		}
	}
}

// nextWhere skips frames until one of type typ for which ok is true.
func (c *client) nextWhere(typ string, ok func(frame) bool, timeout time.Duration) frame {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		f := c.nextOf(typ, time.Until(deadline))
		if ok(f) {
			return f
		}
	}
}

// settle reads and drops frames until none has arrived for d.
func (c *client) settle(d time.Duration) {
	for {
		select {
		case _, ok := <-c.frames:
			if !ok {
				return
			}
		case <-time.After(d):
			return
		}
	}
}

// quiet asserts that no frame of type typ arrives within d.
func (c *client) quiet(typ string, d time.Duration) {
	c.t.Helper()
	deadline := time.After(d)
	for {
		select {
		case f, ok := <-c.frames:
			if !ok {
				return
			}
			if f.Type == typ {
				c.t.Fatalf("unexpected %s frame: %s", typ, f.raw)
			}
		case <-deadline:
			return
		}
	}
}

// closeStatus waits for the connection to end and returns its close code.
func (c *client) closeStatus(timeout time.Duration) websocket.StatusCode {
	c.t.Helper()
	for {
		select {
		case _, ok := <-c.frames:
			if ok {
				continue
			}
			err := <-c.closed
			var ce websocket.CloseError
			if errors.As(err, &ce) {
				return ce.Code
			}
			c.t.Logf("closed without a close frame: %v", err)
			return -1
		case <-time.After(timeout):
			c.t.Fatalf("connection still open after %v", timeout)
		}
	}
}
