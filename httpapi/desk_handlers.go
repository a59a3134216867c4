package httpapi

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/desk/chat"
	"github.com/okpay/okpay/desk/visitorcookie"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/ledger"
)

// The customer's side of the support chat (package desk): conversations
// ("cnv_…") with a category chosen before the chat starts, their
// messages ("msg_…") in order of their sequence numbers, attachments
// ("att_…"), read receipts, and the WebSocket that pushes what happens.
//
// # Who is calling
//
// A signed-in customer (the session token as a Bearer token, or the
// __Host-session cookie of the web app) sees their own conversations. A
// visitor on the public pages has no account: the first conversation
// they start gives their browser a random visitor token in the
// __Host-visitor cookie (HttpOnly, 30 days), and the desk knows them by a
// hash of it. A visitor sees only the conversations started with that
// cookie. When the browser next calls the chat with a customer's session
// (the widget does on every page after sign-in), the visitor's
// conversations become the customer's (desk.ClaimVisitorConversations)
// and the cookie is cleared: whoever uses the browser after sign-out sees
// none of them. (A second, readable cookie, __Host-chat=1, tells the
// widget to make that call on the first page after sign-in.) A bad Bearer token is 401; a session cookie that no
// longer works (expired, signed out, second factor pending) makes the
// caller a visitor, so the chat on a public page keeps working. Anyone
// else sees no conversation: another's is 404, never 403, so that ids
// reveal nothing (API-02). Chat stays open to frozen accounts and to
// customers who must change their password: support is how they get help.
//
// # Sending
//
// Messages are sent over HTTP only, each with a client Idempotency-Key
// (at most 100 characters): the desk stores the key with the message in
// its transaction, so a retry returns the message sent first
// (Idempotent-Replayed: true), the same key with another message is 422
// idempotency_key_reused, and a retry still in flight is 409. Starting a
// conversation takes a key too; its answer is stored and replayed like a
// security setting's (idempotency.go), and the desk's own start key makes
// a retry whose record was lost find the same conversation.
//
// # Live
//
// GET /api/v1/chat/ws upgrades to the desk's push-only WebSocket (package
// desk/chat), with the same callers: a client subscribes to its
// conversations with the last sequence number it has and receives what it
// missed, then live events (messages, typing, read receipts, status). It
// is not an OpenAPI operation; README.md and the "Support chat" tag of
// openapi.json describe its frames.

// AuthChat routes take a customer's session (as AuthSession) or else the
// visitor cookie; without either the caller sees no conversation.
const AuthChat = "session_or_visitor"

// Cookies and paths of the chat.
const (
	// VisitorCookie carries a visitor's token (32 random bytes, base64url).
	VisitorCookie = visitorcookie.Name
	// VisitorMarkerCookie ("1") tells the web app's script, which cannot
	// read the HttpOnly VisitorCookie, that this browser has visitor
	// conversations: after sign-in the chat widget calls the API at once,
	// which claims them. It holds no secret.
	VisitorMarkerCookie = visitorcookie.MarkerName
	// ChatSocketPath is the chat's WebSocket endpoint.
	ChatSocketPath = "/api/v1/chat/ws"

	// maxChatKey is the longest Idempotency-Key of a chat route (the
	// desk stores it with the message).
	maxChatKey = 100
	// maxConversationPage caps a page of conversations.
	maxConversationPage = 100
	// maxMessagePage caps a page of messages.
	maxMessagePage = 100
)

// deskRoutes are the chat's routes, served when the server has the
// identity and desk services.
var deskRoutes = []Route{
	{"GET", "/api/v1/conversations", AuthChat, IdemNone},
	{"POST", "/api/v1/conversations", AuthChat, IdemRequired},
	{"GET", "/api/v1/conversations/{id}", AuthChat, IdemNone},
	{"GET", "/api/v1/conversations/{id}/messages", AuthChat, IdemNone},
	{"POST", "/api/v1/conversations/{id}/messages", AuthChat, IdemRequired},
	{"POST", "/api/v1/conversations/{id}/attachments", AuthChat, IdemRequired},
	{"POST", "/api/v1/conversations/{id}/read", AuthChat, IdemNone},
	{"GET", "/api/v1/attachments/{id}", AuthChat, IdemNone},
	{"GET", "/api/v1/conversations/{id}/rating", AuthChat, IdemNone},
	{"POST", "/api/v1/conversations/{id}/rating", AuthChat, IdemNone},
	{"GET", "/api/v1/conversations/{id}/contact", AuthChat, IdemNone},
	{"PUT", "/api/v1/conversations/{id}/contact", AuthChat, IdemNone},
}

// deskState is the chat's part of the Server.
type deskState struct {
	svc  *desk.Service
	chat *chat.Handler
	// maxUpload caps an attachment request: the file in base64 and a
	// caption.
	maxUpload int64
	// limits counts starts and messages per visitor, address and
	// customer (desk_csat_handlers.go).
	limits *desk.Limiter
	// emails keeps visitors' addresses (desk_contact_handlers.go; nil:
	// not offered).
	emails *desk.VisitorEmails
}

// newDeskState builds the chat's part of a Server from its Config (nil
// without a desk service). The WebSocket handler's authoriser reads the
// grant handleChatSocket put in the request's context.
func newDeskState(cfg Config) *deskState {
	if cfg.Desk == nil {
		return nil
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	file := cfg.Desk.Config().MaxAttachmentBytes
	return &deskState{
		svc:       cfg.Desk,
		chat:      chat.NewHandler(cfg.Desk, chatGrantOf, chat.Config{Logger: log}),
		maxUpload: (file+2)/3*4 + 16<<10,
		limits:    desk.NewLimiter(cfg.Desk, desk.RateLimits{}),
		emails:    cfg.VisitorEmails,
	}
}

// Close ends the chat's WebSocket connections (clients reconnect to
// another node or after the restart) and waits for them. Call it when the
// server shuts down, after http.Server.Shutdown (which does not wait for
// hijacked connections).
func (s *Server) Close() {
	if s.desk != nil {
		s.desk.chat.Close()
	}
}

// ChatConnections returns the number of open chat WebSockets.
func (s *Server) ChatConnections() int {
	if s.desk == nil {
		return 0
	}
	return s.desk.chat.Connections()
}

// ---------------------------------------------------------------------------
// Callers.

// chatCaller is who calls a chat route.
type chatCaller struct {
	viewer desk.Viewer
	// principal scopes idempotency keys: "usr_…", "vis_…", or "" for a
	// caller with neither a session nor a visitor cookie.
	principal string
	// token is a customer's session token (re-checked by the socket).
	token string
}

// anonymous reports whether the caller has no identity at all.
func (c *chatCaller) anonymous() bool { return c.principal == "" }

// chatHandler serves a request of a chat route; key is its
// Idempotency-Key (routes with IdemRequired).
type chatHandler func(w http.ResponseWriter, r *http.Request, c *chatCaller, key string)

// The visitor's cookie (package visitorcookie, shared with the pages).
func visitorToken(r *http.Request) string                { return visitorcookie.Token(r) }
func visitorID(token string) string                      { return visitorcookie.ID(token) }
func newVisitorToken() string                            { return visitorcookie.New() }
func setVisitorCookie(w http.ResponseWriter, tok string) { visitorcookie.Set(w, tok) }
func clearVisitorCookie(w http.ResponseWriter)           { visitorcookie.Clear(w) }

// chatCallerOf finds who calls a chat route (see the package comment
// above), claiming a visitor's conversations for a signed-in customer.
func (s *Server) chatCallerOf(w http.ResponseWriter, r *http.Request) (*http.Request, *chatCaller, error) {
	customer := func(token string, u *identity.User) (*http.Request, *chatCaller, error) {
		c := &chatCaller{viewer: desk.Customer(u.ID), principal: ids.Format(identity.UserPrefix, u.ID), token: token}
		r = setPrincipal(r, c.principal)
		if vt := visitorToken(r); vt != "" {
			if _, err := s.desk.svc.ClaimVisitorConversations(r.Context(), visitorID(vt), u.ID); err != nil {
				s.log.LogAttrs(r.Context(), slog.LevelError, "chat: claim visitor conversations", slog.String("request_id", requestID(r.Context())), slog.Any("err", err))
			} else if err := s.claimAssistantTurns(r, visitorID(vt), u.ID); err != nil {
				s.log.LogAttrs(r.Context(), slog.LevelError, "chat: claim visitor assistant turns", slog.String("request_id", requestID(r.Context())), slog.Any("err", err))
			} else {
				clearVisitorCookie(w)
			}
		}
		return r, c, nil
	}
	if len(r.Header.Values("Authorization")) > 0 {
		token, _, err := sessionToken(r)
		if err != nil {
			return r, nil, err
		}
		if len(token) > maxTokenLen {
			return r, nil, okpay.Errorf(okpay.EUnauthorized, "Sign in to continue.")
		}
		ss, u, err := s.identity.Authenticate(r.Context(), token)
		if err != nil {
			return r, nil, err
		}
		if err := identity.RequireAAL2(ss); err != nil {
			return r, nil, err
		}
		return customer(token, u)
	}
	if ck, err := r.Cookie(SessionCookie); err == nil && ck.Value != "" && len(ck.Value) <= maxTokenLen {
		ss, u, err := s.identity.Authenticate(r.Context(), ck.Value)
		switch code := okpay.ErrorCode(err); {
		case err == nil && ss.AAL >= identity.AAL2:
			return customer(ck.Value, u)
		case err != nil && code != okpay.EUnauthorized && code != identity.ESessionExpired:
			return r, nil, err
		}
		// A session that no longer works: the caller is a visitor.
	}
	if vt := visitorToken(r); vt != "" {
		id := visitorID(vt)
		c := &chatCaller{viewer: desk.Visitor(id), principal: "vis_" + id}
		return setPrincipal(r, c.principal), c, nil
	}
	return r, &chatCaller{}, nil
}

// chatRoute wraps a chat route's handler: no caching, the caller, and
// for IdemRequired routes the Idempotency-Key and the in-flight guard.
func (s *Server) chatRoute(rt Route, next chatHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		r, c, err := s.chatCallerOf(w, r)
		if err != nil {
			if code := okpay.ErrorCode(err); code == okpay.EUnauthorized || code == identity.ESessionExpired {
				w.Header().Set("WWW-Authenticate", `Bearer realm="okpay", error="invalid_token"`)
			}
			s.writeError(w, r, err)
			return
		}
		key := ""
		if rt.Idempotency == IdemRequired {
			if key, err = idempotencyKey(r); err == nil && len(key) > maxChatKey {
				err = okpay.Errorf(EInvalidRequest, "the Idempotency-Key of a chat request must be at most %d characters", maxChatKey)
			}
			if err != nil {
				s.writeError(w, r, err)
				return
			}
			if !c.anonymous() {
				flightKey := c.principal + "\x00" + key
				if !s.flight.acquire(flightKey) {
					s.writeError(w, r, okpay.Errorf(ledger.EIdempotencyInFlight, "a request with this Idempotency-Key is still in progress; retry later"))
					return
				}
				defer s.flight.release(flightKey)
			}
		}
		next(w, r, c, key)
	}
}

// registerDesk adds the chat's routes and its WebSocket to mux.
func (s *Server) registerDesk(mux *http.ServeMux) {
	handlers := map[string]chatHandler{
		"GET /api/v1/conversations":                   s.handleListConversations,
		"POST /api/v1/conversations":                  s.handleStartConversation,
		"GET /api/v1/conversations/{id}":              s.handleGetConversation,
		"GET /api/v1/conversations/{id}/messages":     s.handleListMessages,
		"POST /api/v1/conversations/{id}/messages":    s.handleSendMessage,
		"POST /api/v1/conversations/{id}/attachments": s.handleUploadAttachment,
		"POST /api/v1/conversations/{id}/read":        s.handleMarkRead,
		"GET /api/v1/attachments/{id}":                s.handleGetAttachment,
		"GET /api/v1/conversations/{id}/rating":       s.handleGetRating,
		"POST /api/v1/conversations/{id}/rating":      s.handleRateConversation,
		"GET /api/v1/conversations/{id}/contact":      s.handleGetContact,
		"PUT /api/v1/conversations/{id}/contact":      s.handlePutContact,
	}
	for _, rt := range deskRoutes {
		key := rt.Method + " " + rt.Pattern
		h := handlers[key]
		if h == nil || rt.Auth != AuthChat {
			panic("httpapi: bad chat route " + key)
		}
		mux.HandleFunc(key, s.chatRoute(rt, h))
	}
	mux.HandleFunc("GET "+ChatSocketPath, s.handleChatSocket)
}

// ---------------------------------------------------------------------------
// The WebSocket.

type chatGrantKey struct{}

// chatGrantOf is the chat handler's authoriser: the grant
// handleChatSocket found.
func chatGrantOf(r *http.Request) (chat.Grant, error) {
	if g, ok := r.Context().Value(chatGrantKey{}).(chat.Grant); ok {
		return g, nil
	}
	return chat.Grant{}, okpay.Errorf(okpay.EUnauthorized, "Sign in first.")
}

// handleChatSocket authorises a WebSocket as the chat routes do and
// hands it to the chat handler. A customer's subscriptions are allowed
// only while the session still works, and once it does not the socket
// closes before its next event reaches it, or at its next ping.
func (s *Server) handleChatSocket(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	r, c, err := s.chatCallerOf(w, r)
	if err == nil && c.anonymous() {
		err = okpay.Errorf(okpay.EUnauthorized, "Start a conversation or sign in first.")
	}
	if err != nil {
		if code := okpay.ErrorCode(err); code == okpay.EUnauthorized || code == identity.ESessionExpired {
			w.Header().Set("WWW-Authenticate", `Bearer realm="okpay"`)
		}
		s.writeError(w, r, err)
		return
	}
	g := chat.Grant{Viewer: c.viewer}
	if c.token != "" {
		token := c.token
		// live says whether the session still works: a subscription is
		// the customer's activity (Authenticate records it), a ping is
		// not (Peek: it must not keep an idle session alive).
		live := func(ctx context.Context, activity bool) (bool, error) {
			var ss *identity.Session
			var err error
			if activity {
				ss, _, err = s.identity.Authenticate(ctx, token)
			} else {
				ss, err = s.identity.Peek(ctx, token)
			}
			switch code := okpay.ErrorCode(err); {
			case err == nil:
				return ss.AAL >= identity.AAL2, nil
			case code == okpay.EUnauthorized || code == identity.ESessionExpired:
				return false, nil
			}
			return false, err
		}
		g.Allow = func(ctx context.Context, _ int64) (bool, error) { return live(ctx, true) }
		// And what it follows stops when the session ends (signed out
		// elsewhere, revoked, timed out, the account frozen): the socket
		// closes with chat.CloseSessionEnded before the next event or at
		// the next ping.
		g.Alive = func(ctx context.Context) (bool, error) { return live(ctx, false) }
	}
	s.desk.chat.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), chatGrantKey{}, g)))
}

// ---------------------------------------------------------------------------
// Conversations.

type startConversationRequest struct {
	Category string `json:"category"`
	Subject  string `json:"subject"`
	Body     string `json:"body"`
	Lang     string `json:"lang"`
}

// conversationFromPath reads the {id} of a conversation route; an id of
// another kind is not found.
func conversationFromPath(r *http.Request) (int64, error) {
	id, ok := desk.ParseConversationRef(r.PathValue("id"))
	if !ok {
		return 0, errNoConversation
	}
	return id, nil
}

var errNoConversation = okpay.Errorf(okpay.ENotFound, "There is no such conversation.")

// conversationRequest is the preamble of a route on one conversation:
// with req non-nil it first reads the JSON body into req, then the {id}
// of the path, which a caller without an identity never sees (404). On
// false the error has been answered.
func (s *Server) conversationRequest(w http.ResponseWriter, r *http.Request, c *chatCaller, req any) (int64, bool) {
	if req != nil && !s.readJSON(w, r, req) {
		return 0, false
	}
	id, err := conversationFromPath(r)
	if err == nil && c.anonymous() {
		err = errNoConversation
	}
	if err != nil {
		s.writeError(w, r, err)
		return 0, false
	}
	return id, true
}

// chatPageLimit reads the limit of a page (def without one); a bad one
// is noted in fields.
func chatPageLimit(q url.Values, def, most int, fields map[string]string) int {
	v := q.Get("limit")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > most {
		fields["limit"] = "a number from 1 to " + strconv.Itoa(most)
	}
	return n
}

// chatPage cuts a list read with limit+1 rows to a page of limit: whether
// there is more, and then the cursor of the page's last item.
func chatPage[T any](list []T, limit int, cursorOf func(T) string) ([]T, bool, string) {
	if len(list) <= limit {
		return list, false, ""
	}
	list = list[:limit]
	return list, true, cursorOf(list[limit-1])
}

// pageQuery reads the limit (1 to most, def without one) and the cursor
// (an id that parse reads) of a list newest first; a bad one is answered
// 422 and ok is false.
func (s *Server) pageQuery(w http.ResponseWriter, r *http.Request, def, most int, parse func(string) (int64, bool)) (limit int, before int64, ok bool) {
	q := r.URL.Query()
	fields := map[string]string{}
	limit = chatPageLimit(q, def, most, fields)
	if v := q.Get("cursor"); v != "" {
		id, ok := parse(v)
		if !ok {
			fields["cursor"] = "not a cursor from this list"
		}
		before = id
	}
	if len(fields) > 0 {
		s.writeError(w, r, okpay.Invalid(fields))
		return 0, 0, false
	}
	return limit, before, true
}

func (s *Server) handleListConversations(w http.ResponseWriter, r *http.Request, c *chatCaller, _ string) {
	limit, before, ok := s.pageQuery(w, r, 20, maxConversationPage, desk.ParseConversationRef)
	if !ok {
		return
	}
	var list []*desk.Conversation
	if !c.anonymous() {
		var err error
		list, err = s.desk.svc.Conversations(r.Context(), c.viewer, desk.ConversationFilter{Before: before, Limit: limit + 1})
		if err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	list, more, cursor := chatPage(list, limit, func(cv *desk.Conversation) string { return desk.ConversationRef(cv.ID) })
	lang := langOf(r)
	b := make([]byte, 0, 512*len(list)+64)
	var rerr error
	b = appendList(b, list, more, cursor, func(b []byte, cv *desk.Conversation) []byte {
		out, err := s.appendConversation(b, r.Context(), c, cv, lang)
		if err != nil && rerr == nil {
			rerr = err
		}
		return out
	})
	if rerr != nil {
		s.writeError(w, r, rerr)
		return
	}
	writeJSON(w, http.StatusOK, b)
}

// handleStartConversation starts a chat: the category chosen before the
// chat, an optional subject and first message. A caller without a
// visitor cookie or session becomes a visitor (the cookie is set with the
// answer).
func (s *Server) handleStartConversation(w http.ResponseWriter, r *http.Request, c *chatCaller, key string) {
	body, err := readBody(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	hash := requestHash(r, body)
	newVisitor := ""
	if c.anonymous() {
		newVisitor = newVisitorToken()
		id := visitorID(newVisitor)
		c = &chatCaller{viewer: desk.Visitor(id), principal: "vis_" + id}
		r = setPrincipal(r, c.principal)
	} else {
		stored, found, err := s.identity.FindStoredResponse(r.Context(), c.principal, key)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if found {
			if !bytes.Equal(stored.RequestHash, hash) {
				s.writeError(w, r, okpay.Errorf(ledger.EIdempotencyKeyReused, "this idempotency key was used with a different request"))
				return
			}
			w.Header().Set("Idempotent-Replayed", "true")
			writeStored(w, stored.Status, stored.Body)
			return
		}
	}
	if err := s.chatLimit(r, c, desk.ActionStart); err != nil {
		s.writeError(w, r, err)
		return
	}
	var req startConversationRequest
	if err := decode(body, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	lang := langOf(r)
	if req.Lang != "" {
		l, ok := i18n.ParseLang(req.Lang)
		if !ok {
			s.writeError(w, r, okpay.Invalid(map[string]string{"lang": "zh-CN or en"}))
			return
		}
		lang = l
	}
	if err := required("category", req.Category); err != nil {
		s.writeError(w, r, err)
		return
	}
	cv, err := s.desk.svc.StartConversation(r.Context(), c.viewer, desk.StartInput{Category: desk.Category(req.Category),
		Subject: req.Subject, Body: req.Body, Lang: lang, IdempotencyKey: key})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out, err := s.appendConversation(make([]byte, 0, 768), r.Context(), c, cv, langOf(r))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if newVisitor != "" {
		setVisitorCookie(w, newVisitor)
	}
	keep := identity.StoredResponse{RequestHash: hash, Status: http.StatusCreated, Body: out}
	if err := s.identity.StoreResponse(context.WithoutCancel(r.Context()), c.principal, key, keep); err != nil {
		s.log.LogAttrs(r.Context(), slog.LevelError, "idempotency record not stored", slog.String("request_id", requestID(r.Context())),
			slog.String("route", r.Pattern), slog.Any("err", err))
	}
	writeJSON(w, http.StatusCreated, out)
}

func (s *Server) handleGetConversation(w http.ResponseWriter, r *http.Request, c *chatCaller, _ string) {
	id, ok := s.conversationRequest(w, r, c, nil)
	if !ok {
		return
	}
	cv, err := s.desk.svc.Conversation(r.Context(), c.viewer, id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out, err := s.appendConversation(make([]byte, 0, 768), r.Context(), c, cv, langOf(r))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// appendConversation renders a conversation as its customer (or visitor)
// sees it, with its queue position while it waits for an agent and how
// far each side has read.
func (s *Server) appendConversation(b []byte, ctx context.Context, c *chatCaller, cv *desk.Conversation, lang i18n.Lang) ([]byte, error) {
	var q desk.Queue
	if cv.Status == desk.StatusOpen && !cv.Assigned {
		var err error
		if q, err = s.desk.svc.QueueInfo(ctx, c.viewer, cv.ID); err != nil {
			return b, err
		}
	}
	reads, err := s.desk.svc.Reads(ctx, c.viewer, cv.ID)
	if err != nil {
		return b, err
	}
	var mine, agents int64
	for _, rd := range reads {
		if rd.Reader == desk.KindAgent {
			agents = max(agents, rd.Seq)
		} else {
			mine = max(mine, rd.Seq)
		}
	}
	b = append(b, `{"id":"`...)
	b = append(b, desk.ConversationRef(cv.ID)...)
	b = append(b, `","object":"conversation","channel":"`...)
	b = append(b, cv.Channel...)
	b = append(b, `","category":"`...)
	b = append(b, cv.Category...)
	b = append(b, `","status":"`...)
	b = append(b, cv.Status...)
	b = append(b, `","status_label":`...)
	b = appendString(b, desk.StatusLabel(s.catalog, lang, cv.Status, desk.ForCustomer))
	b = append(b, `,"subject":`...)
	b = appendString(b, cv.Subject)
	b = append(b, `,"lang":"`...)
	b = append(b, cv.Lang...)
	b = append(b, `","assigned":`...)
	b = strconv.AppendBool(b, cv.Assigned)
	b = append(b, `,"last_seq":`...)
	b = appendInt(b, cv.LastSeq)
	b = append(b, `,"read_seq":`...)
	b = appendInt(b, mine)
	b = append(b, `,"agent_read_seq":`...)
	b = appendInt(b, agents)
	b = append(b, `,"queue":`...)
	if q.Queued {
		b = append(b, `{"position":`...)
		b = appendInt(b, int64(q.Position))
		b = append(b, `,"estimated_wait_seconds":`...)
		if q.WaitKnown {
			b = appendInt(b, int64(q.EstimatedWait/time.Second))
		} else {
			b = append(b, "null"...)
		}
		b = append(b, `,"agents_online":`...)
		b = strconv.AppendBool(b, q.AgentsOnline > 0)
		b = append(b, `,"text":`...)
		b = appendString(b, desk.QueueText(s.catalog, lang, q))
		b = append(b, '}')
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"created_at":`...)
	b = appendTime(b, cv.CreatedAt)
	b = append(b, `,"updated_at":`...)
	b = appendTime(b, cv.UpdatedAt)
	b = append(b, `,"last_message_at":`...)
	b = appendNullTime(b, cv.LastMessageAt)
	b = append(b, `,"resolved_at":`...)
	b = appendNullTime(b, cv.ResolvedAt)
	b = append(b, `,"closed_at":`...)
	b = appendNullTime(b, cv.ClosedAt)
	return append(b, '}'), nil
}

// ---------------------------------------------------------------------------
// Messages.

type sendMessageRequest struct {
	Body string `json:"body"`
}

type uploadRequest struct {
	Name        string `json:"name"`
	ContentType string `json:"content_type"`
	Data        string `json:"data"`
	Body        string `json:"body"`
}

type markReadRequest struct {
	Seq *int64 `json:"seq"`
}

// handleListMessages answers the messages after a sequence number
// (after_seq, or the cursor of the previous page), oldest first: what a
// client asks for to catch up.
func (s *Server) handleListMessages(w http.ResponseWriter, r *http.Request, c *chatCaller, _ string) {
	id, ok := s.conversationRequest(w, r, c, nil)
	if !ok {
		return
	}
	q := r.URL.Query()
	fields := map[string]string{}
	limit := chatPageLimit(q, maxMessagePage, maxMessagePage, fields)
	var after int64
	for _, name := range []string{"after_seq", "cursor"} {
		if v := q.Get(name); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				fields[name] = "a sequence number (0 or more)"
			}
			after = max(after, n)
		}
	}
	if len(fields) > 0 {
		s.writeError(w, r, okpay.Invalid(fields))
		return
	}
	msgs, err := s.desk.svc.Messages(r.Context(), c.viewer, id, after, limit+1)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	msgs, more, cursor := chatPage(msgs, limit, func(m *desk.Message) string { return strconv.FormatInt(m.Seq, 10) })
	writeJSON(w, http.StatusOK, appendList(make([]byte, 0, 384*len(msgs)+64), msgs, more, cursor, appendMessage))
}

func (s *Server) handleSendMessage(w http.ResponseWriter, r *http.Request, c *chatCaller, key string) {
	var req sendMessageRequest
	id, ok := s.conversationRequest(w, r, c, &req)
	if !ok {
		return
	}
	if err := s.chatLimit(r, c, desk.ActionMessage); err != nil {
		s.writeError(w, r, err)
		return
	}
	m, err := s.desk.svc.SendMessage(r.Context(), c.viewer, id, desk.MessageInput{Body: req.Body, IdempotencyKey: key})
	s.answerMessage(w, r, m, err)
}

// handleUploadAttachment sends one file (base64 in "data"), with an
// optional caption, as a message. The desk checks it against its
// allowlist by name, declared type and content.
func (s *Server) handleUploadAttachment(w http.ResponseWriter, r *http.Request, c *chatCaller, key string) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			s.writeError(w, r, okpay.Errorf(EUnsupportedMediaType, "send the body as application/json"))
			return
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.desk.maxUpload))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.writeError(w, r, okpay.Errorf(ERequestTooLarge, "the request body must be at most %d bytes", s.desk.maxUpload))
		} else {
			s.writeError(w, r, okpay.Errorf(EInvalidRequest, "the request body could not be read"))
		}
		return
	}
	var req uploadRequest
	if err := decode(body, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	id, ok := s.conversationRequest(w, r, c, nil)
	if !ok {
		return
	}
	if err := required("name", req.Name, "data", req.Data); err != nil {
		s.writeError(w, r, err)
		return
	}
	data, err := base64.StdEncoding.DecodeString(req.Data)
	if err != nil {
		s.writeError(w, r, okpay.Invalid(map[string]string{"data": "the file's bytes in base64"}))
		return
	}
	if err := s.chatLimit(r, c, desk.ActionMessage); err != nil {
		s.writeError(w, r, err)
		return
	}
	m, err := s.desk.svc.SendMessage(r.Context(), c.viewer, id, desk.MessageInput{Body: req.Body, IdempotencyKey: key,
		Attachments: []desk.AttachmentInput{{Name: req.Name, ContentType: req.ContentType, Data: data}}})
	s.answerMessage(w, r, m, err)
}

// answerMessage answers a sent message: 201, or the message sent first
// with the same key (Idempotent-Replayed: true).
func (s *Server) answerMessage(w http.ResponseWriter, r *http.Request, m *desk.Message, err error) {
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if m.Replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	writeJSON(w, http.StatusCreated, appendMessage(make([]byte, 0, 512), m))
}

// handleMarkRead records that the caller has read the conversation up to
// a sequence number; read receipts never move back.
func (s *Server) handleMarkRead(w http.ResponseWriter, r *http.Request, c *chatCaller, _ string) {
	var req markReadRequest
	id, ok := s.conversationRequest(w, r, c, &req)
	if !ok {
		return
	}
	if req.Seq == nil {
		s.writeError(w, r, okpay.Invalid(map[string]string{"seq": "required"}))
		return
	}
	seq, err := s.desk.svc.MarkRead(r.Context(), c.viewer, id, *req.Seq)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	b := append(make([]byte, 0, 96), `{"object":"read_receipt","conversation":"`...)
	b = append(b, desk.ConversationRef(id)...)
	b = append(b, `","seq":`...)
	b = appendInt(b, seq)
	writeJSON(w, http.StatusOK, append(b, '}'))
}

// handleGetAttachment answers a file of a message the caller may see, as
// a download that no browser renders in the page: application/octet-
// stream, Content-Disposition: attachment, nosniff and a sandbox CSP.
// The message's attachment list has its checked content type.
func (s *Server) handleGetAttachment(w http.ResponseWriter, r *http.Request, c *chatCaller, _ string) {
	notFound := okpay.Errorf(okpay.ENotFound, "There is no such file.")
	id, ok := desk.ParseAttachmentRef(r.PathValue("id"))
	if !ok || c.anonymous() {
		s.writeError(w, r, notFound)
		return
	}
	a, data, err := s.desk.svc.Attachment(r.Context(), c.viewer, id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": a.Name}))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("Content-Length", strconv.Itoa(len(data)))
	writeRaw(w, http.StatusOK, "application/octet-stream", data)
}

// appendMessage renders a message as the customer sees it (the same
// fields as the WebSocket's message frames).
func appendMessage(b []byte, m *desk.Message) []byte {
	b = append(b, `{"id":"`...)
	b = ids.Append(b, desk.MessagePrefix, m.ID)
	b = append(b, `","object":"message","conversation":"`...)
	b = append(b, desk.ConversationRef(m.ConversationID)...)
	b = append(b, `","seq":`...)
	b = appendInt(b, m.Seq)
	b = append(b, `,"author":"`...)
	b = append(b, m.Author...)
	b = append(b, `","body":`...)
	b = appendString(b, m.Body)
	b = append(b, `,"attachments":[`...)
	for i, a := range m.Attachments {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"id":"`...)
		b = append(b, desk.AttachmentRef(a.ID)...)
		b = append(b, `","name":`...)
		b = appendString(b, a.Name)
		b = append(b, `,"content_type":`...)
		b = appendString(b, a.ContentType)
		b = append(b, `,"size":`...)
		b = appendInt(b, a.Size)
		b = append(b, '}')
	}
	b = append(b, `],"created_at":`...)
	b = appendTime(b, m.CreatedAt)
	return append(b, '}')
}
