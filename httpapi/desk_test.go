package httpapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/desk/realtime"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

// deskFixture is the API with the identity service and the support desk.
type deskFixture struct {
	*idFixture
	desk *desk.Service
	api  *Server
}

func newDeskFixture(t *testing.T, db *sqldb.DB, cfg desk.Config) *deskFixture {
	t.Helper()
	f := newIDFixture(t, db)
	gen, err := ids.NewSnowflake(2, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := desk.New(desk.Deps{DB: db, Clock: f.clock, IDs: gen, Bus: realtime.NewMemory(0)}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, cat := shared(t)
	api := New(Config{Catalog: cat, Identity: f.svc, Desk: svc})
	mux := http.NewServeMux()
	api.Register(mux)
	f.srv.Close()
	f.srv = httptest.NewServer(api.Observe(mux))
	t.Cleanup(f.srv.Close)
	t.Cleanup(api.Close)
	return &deskFixture{idFixture: f, desk: svc, api: api}
}

// socket is a test client of the chat's WebSocket.
type socket struct {
	t      *testing.T
	ws     *websocket.Conn
	frames chan map[string]any
}

// dial opens the chat socket with the given headers; it returns the
// handshake's status when it is refused.
func (f *deskFixture) dial(t *testing.T, h http.Header) (*socket, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(f.srv.URL, "http")+ChatSocketPath, &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		if resp == nil {
			t.Fatalf("dial: %v", err)
		}
		return nil, resp.StatusCode
	}
	s := &socket{t: t, ws: ws, frames: make(chan map[string]any, 256)}
	go func() {
		defer close(s.frames)
		for {
			_, data, err := ws.Read(context.Background())
			if err != nil {
				return
			}
			var m map[string]any
			if json.Unmarshal(data, &m) == nil {
				s.frames <- m
			}
		}
	}()
	t.Cleanup(func() { ws.CloseNow() })
	return s, http.StatusSwitchingProtocols
}

func (s *socket) send(v any) {
	s.t.Helper()
	b, _ := json.Marshal(v)
	if err := s.ws.Write(context.Background(), websocket.MessageText, b); err != nil {
		s.t.Fatal(err)
	}
}

// next returns the next frame of type typ (skipping others), failing
// after 60 s.
func (s *socket) next(typ string) map[string]any {
	s.t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		select {
		case m, ok := <-s.frames:
			if !ok {
				s.t.Fatalf("the socket closed while waiting for a %s frame", typ)
			}
			if m["type"] == typ {
				return m
			}
		case <-deadline:
			s.t.Fatalf("no %s frame within 60 s", typ)
		}
	}
}

// none asserts that no frame of type typ is waiting.
func (s *socket) none(typ string) {
	s.t.Helper()
	for {
		select {
		case m, ok := <-s.frames:
			if !ok {
				return
			}
			if m["type"] == typ {
				s.t.Fatalf("unexpected %s frame: %v", typ, m)
			}
		default:
			return
		}
	}
}

func bearerHeader(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }

// TestAPI02_ChatBOLA: one customer's conversation, messages and files are
// another customer's and a visitor's 404, over HTTP and on the socket; an
// internal note's file is nobody's but staff's; a socket needs a session
// or a visitor cookie.
func TestAPI02_ChatBOLA(t *testing.T) {
	t.Parallel()
	f := newDeskFixture(t, sqldbtest.Open(t, sqldb.SQLite), desk.Config{})
	alice, bob := f.signUp("127.0.0.11"), f.signUp("127.0.0.12")
	r := f.want(f.do(call{method: "POST", path: "/api/v1/conversations", token: alice.token, key: "k-start-1",
		body: map[string]any{"category": "security_privacy", "body": "Someone logged into my account"}}), 201, "")
	conv := r.str("id")
	png := base64.StdEncoding.EncodeToString([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"))
	r = f.want(f.do(call{method: "POST", path: "/api/v1/conversations/" + conv + "/attachments", token: alice.token, key: "k-file-1",
		body: map[string]any{"name": "login-alert.png", "data": png}}), 201, "")
	att := r.obj["attachments"].([]any)[0].(map[string]any)["id"].(string)

	// A visitor of another browser.
	r = f.want(f.do(call{method: "POST", path: "/api/v1/conversations", key: "k-visitor-1", body: map[string]any{"category": "technical", "body": "hello"}}), 201, "")
	var vtok string
	for _, ck := range (&http.Response{Header: r.header}).Cookies() {
		if ck.Name == VisitorCookie {
			vtok = ck.Value
		}
	}
	if vtok == "" {
		t.Fatal("no visitor cookie")
	}
	visitor := map[string]string{"Cookie": VisitorCookie + "=" + vtok}

	for _, c := range []call{
		{method: "GET", path: "/api/v1/conversations/" + conv},
		{method: "GET", path: "/api/v1/conversations/" + conv + "/messages"},
		{method: "POST", path: "/api/v1/conversations/" + conv + "/messages", key: "k-x", body: map[string]any{"body": "mine now"}},
		{method: "POST", path: "/api/v1/conversations/" + conv + "/attachments", key: "k-y", body: map[string]any{"name": "a.png", "data": png}},
		{method: "POST", path: "/api/v1/conversations/" + conv + "/read", body: map[string]any{"seq": 1}},
		{method: "GET", path: "/api/v1/attachments/" + att},
	} {
		as := c
		as.token = bob.token
		f.want(f.do(as), 404, "not_found")
		as = c
		as.header = visitor
		f.want(f.do(as), 404, "not_found")
		as = c
		f.want(f.do(as), 404, "not_found") // no session, no cookie
	}
	// Nothing was written by the refused requests.
	msgs, err := f.desk.Messages(context.Background(), desk.Agent(1), mustRef(t, conv), 0, 100)
	if err != nil || len(msgs) != 2 {
		t.Fatalf("alice's conversation has %d messages: %v", len(msgs), err)
	}
	// Lists show only one's own.
	if r := f.want(f.do(call{method: "GET", path: "/api/v1/conversations", token: bob.token}), 200, ""); strings.Contains(string(r.raw), conv) {
		t.Fatalf("bob's list: %s", r.raw)
	}
	if r := f.want(f.do(call{method: "GET", path: "/api/v1/conversations", header: visitor}), 200, ""); strings.Contains(string(r.raw), conv) {
		t.Fatalf("the visitor's list: %s", r.raw)
	}

	// An internal note's file: staff only, even for the conversation's owner.
	note, err := f.desk.SendMessage(context.Background(), desk.Agent(9), mustRef(t, conv), desk.MessageInput{Internal: true, Body: "login from a new country",
		Attachments: []desk.AttachmentInput{{Name: "geo.txt", Data: []byte("203.0.113.9 RU")}}})
	if err != nil {
		t.Fatal(err)
	}
	f.want(f.do(call{method: "GET", path: "/api/v1/attachments/" + desk.AttachmentRef(note.Attachments[0].ID), token: alice.token}), 404, "not_found")
	req, _ := http.NewRequest("GET", f.srv.URL+"/api/v1/attachments/"+att, nil)
	req.Header.Set("Authorization", "Bearer "+alice.token)
	res, err := f.client("127.0.0.1").Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/octet-stream" || !strings.HasPrefix(res.Header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("alice's own file: %d %v", res.StatusCode, res.Header)
	}

	// The socket: no credentials, 401; a bad token, 401.
	if _, st := f.dial(t, nil); st != http.StatusUnauthorized {
		t.Fatalf("a socket without credentials: %d", st)
	}
	if _, st := f.dial(t, bearerHeader("not-a-token")); st != http.StatusUnauthorized {
		t.Fatalf("a socket with a bad token: %d", st)
	}
	// Bob and the visitor cannot follow alice's conversation.
	for name, h := range map[string]http.Header{"bob": bearerHeader(bob.token), "visitor": {"Cookie": {VisitorCookie + "=" + vtok}}} {
		s, st := f.dial(t, h)
		if s == nil {
			t.Fatalf("%s: socket refused: %d", name, st)
		}
		s.send(map[string]any{"type": "subscribe", "conversation": conv, "after": 0})
		if e := s.next("error"); e["code"] != "not_found" {
			t.Fatalf("%s subscribing to alice's conversation: %v", name, e)
		}
		s.send(map[string]any{"type": "inbox"})
		if e := s.next("error"); e["code"] != "forbidden" {
			t.Fatalf("%s following the inbox: %v", name, e)
		}
		f.want(f.do(call{method: "POST", path: "/api/v1/conversations/" + conv + "/messages", token: alice.token, key: "k-" + name,
			body: map[string]any{"body": "my recovery email is alice@example.com"}}), 201, "")
		time.Sleep(100 * time.Millisecond) // give a leak the time to show
		s.none("message")
	}
	// Alice can, with her session cookie (the web app's socket).
	s, st := f.dial(t, http.Header{"Cookie": {SessionCookie + "=" + alice.token}})
	if s == nil {
		t.Fatalf("alice's socket: %d", st)
	}
	s.send(map[string]any{"type": "subscribe", "conversation": conv, "after": 2})
	if m := s.next("message"); m["seq"] != float64(3) {
		t.Fatalf("alice's catch-up: %v", m)
	}
}

// TestChatSocketCatchUp: a customer's socket that drops misses nothing:
// subscribing again after the last number held brings exactly what the
// agent sent meanwhile, once and in order; a socket that outlives its
// session follows nothing new.
func TestChatSocketCatchUp(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		f := newDeskFixture(t, db, desk.Config{})
		alice := f.signUp("127.0.0.21")
		conv := f.want(f.do(call{method: "POST", path: "/api/v1/conversations", token: alice.token, key: "start",
			body: map[string]any{"category": "transaction", "body": "where is my money"}}), 201, "").str("id")
		id := mustRef(t, conv)
		agent := desk.Agent(77)
		s, _ := f.dial(t, bearerHeader(alice.token))
		s.send(map[string]any{"type": "subscribe", "conversation": conv, "after": 0})
		if m := s.next("message"); m["seq"] != float64(1) {
			t.Fatalf("first: %v", m)
		}
		s.next("subscribed")
		if _, err := f.desk.SendMessage(context.Background(), agent, id, desk.MessageInput{Body: "checking"}); err != nil {
			t.Fatal(err)
		}
		if m := s.next("message"); m["seq"] != float64(2) {
			t.Fatalf("live: %v", m)
		}
		s.ws.CloseNow()
		for _, body := range []string{"found it", "it arrives tomorrow"} {
			if _, err := f.desk.SendMessage(context.Background(), agent, id, desk.MessageInput{Body: body}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := f.desk.SendMessage(context.Background(), agent, id, desk.MessageInput{Body: "note: bank delay", Internal: true}); err != nil {
			t.Fatal(err)
		}
		s, _ = f.dial(t, bearerHeader(alice.token))
		s.send(map[string]any{"type": "subscribe", "conversation": conv, "after": 2})
		for i, want := range []string{"found it", "it arrives tomorrow"} {
			m := s.next("message")
			if m["seq"] != float64(3+i) || m["message"].(map[string]any)["body"] != want {
				t.Fatalf("catch-up %d: %v", i, m)
			}
		}
		if sub := s.next("subscribed"); sub["seq"] != float64(4) {
			t.Fatalf("subscribed: %v", sub)
		}
		s.none("message")

		// Signed out: the open socket may not follow anything new.
		f.want(f.do(call{method: "DELETE", path: "/api/v1/sessions/current", token: alice.token}), 204, "")
		s.send(map[string]any{"type": "subscribe", "conversation": conv, "after": 4})
		if e := s.next("error"); e["code"] != "forbidden" {
			t.Fatalf("a signed-out socket subscribing: %v", e)
		}
	})
}

// An upload larger than the file limit allows in base64 is 413 before
// anything is decoded; a bearer token that does not work is 401 while a
// session cookie that does not work makes the caller a visitor.
func TestChatUploadLimitAndCallers(t *testing.T) {
	t.Parallel()
	f := newDeskFixture(t, sqldbtest.Open(t, sqldb.SQLite), desk.Config{MaxAttachmentBytes: 1024})
	alice := f.signUp("127.0.0.31")
	conv := f.want(f.do(call{method: "POST", path: "/api/v1/conversations", token: alice.token, key: "s1", body: map[string]any{"category": "account"}}), 201, "").str("id")
	data := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("a", 40<<10)))
	f.want(f.do(call{method: "POST", path: "/api/v1/conversations/" + conv + "/attachments", token: alice.token, key: "u1",
		body: map[string]any{"name": "big.txt", "data": data}}), 413, ERequestTooLarge)
	f.want(f.do(call{method: "POST", path: "/api/v1/conversations/" + conv + "/attachments", token: alice.token, key: "u2",
		body: map[string]any{"name": "small.txt", "data": base64.StdEncoding.EncodeToString([]byte(strings.Repeat("a", 2000)))}}), 422, desk.EAttachmentRefused)

	f.want(f.do(call{method: "GET", path: "/api/v1/conversations", token: "nope"}), 401, "unauthorized")
	r := f.want(f.do(call{method: "GET", path: "/api/v1/conversations", cookie: "nope"}), 200, "")
	if strings.Contains(string(r.raw), conv) {
		t.Fatalf("a dead cookie sees alice's conversations: %s", r.raw)
	}
	// Chat keys are at most 100 characters (the desk keeps them).
	f.want(f.do(call{method: "POST", path: "/api/v1/conversations/" + conv + "/messages", token: alice.token, key: strings.Repeat("k", 101),
		body: map[string]any{"body": "hi"}}), 400, EInvalidRequest)
}

func mustRef(t *testing.T, ref string) int64 {
	t.Helper()
	id, ok := desk.ParseConversationRef(ref)
	if !ok {
		t.Fatalf("not a conversation id: %q", ref)
	}
	return id
}
