package httpapi

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"html"
	"math"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/assistant"
	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/help"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/ids"
)

// Self-service in the support chat (package assistant, issue 7):
//
//	GET  /api/v1/help/suggestions?q=…&lang=…          help articles for a question being typed (public)
//	POST /api/v1/help/articles/{id}/deflections       "This solved it": the article ended the attempt (public)
//	POST /api/v1/assistant/messages                   ask the assistant (the chat's callers)
//	POST /api/v1/assistant/handover                   hand the exchange over to a person (the chat's callers)
//
// The assistant answers with the caller's own data only for a signed-in
// customer (a session, as the chat routes read it); a visitor gets the
// article and a sign-in link. Like starting a conversation, a caller
// with neither a session nor a visitor cookie becomes a visitor (the
// cookie is set with the answer), so the exchange can be handed over. No
// route here moves money.

// assistantRoutes are the self-service routes, served with the chat's.
var assistantRoutes = []Route{
	{"GET", "/api/v1/help/suggestions", AuthPublic, IdemNone},
	{"POST", "/api/v1/help/articles/{id}/deflections", AuthPublic, IdemNone},
	{"POST", "/api/v1/assistant/messages", AuthChat, IdemNone},
	{"POST", "/api/v1/assistant/handover", AuthChat, IdemNone},
}

// maxSuggestQuery caps the q of a suggestion request, in bytes.
const maxSuggestQuery = 4 * help.MaxQueryLen

// registerAssistant adds the self-service routes to mux.
func (s *Server) registerAssistant(mux *http.ServeMux) {
	public := map[string]http.HandlerFunc{
		"GET /api/v1/help/suggestions":                s.handleHelpSuggestions,
		"POST /api/v1/help/articles/{id}/deflections": s.handleHelpDeflection,
	}
	chat := map[string]chatHandler{
		"POST /api/v1/assistant/messages": s.handleAssistantMessage,
		"POST /api/v1/assistant/handover": s.handleAssistantHandover,
	}
	for _, rt := range assistantRoutes {
		key := rt.Method + " " + rt.Pattern
		switch {
		case rt.Auth == AuthPublic && public[key] != nil:
			h := public[key]
			mux.HandleFunc(key, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Cache-Control", "no-store")
				h(w, r)
			})
		case rt.Auth == AuthChat && chat[key] != nil:
			mux.HandleFunc(key, s.chatRoute(rt, chat[key]))
		default:
			panic("httpapi: bad assistant route " + key)
		}
	}
}

// langParam reads an optional language; "" is the request's.
func langParam(r *http.Request, v string) (i18n.Lang, error) {
	if v == "" {
		return langOf(r), nil
	}
	l, ok := i18n.ParseLang(v)
	if !ok {
		return "", okpay.Invalid(map[string]string{"lang": "zh-CN or en"})
	}
	return l, nil
}

type suggestionJSON struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Slug    string `json:"slug"`
	Locale  string `json:"locale"`
	Title   string `json:"title"`
	Snippet string `json:"snippet"`
	URL     string `json:"url"`
}

type suggestionsJSON struct {
	Object string           `json:"object"`
	Query  string           `json:"query"`
	Locale string           `json:"locale"`
	Data   []suggestionJSON `json:"data"`
}

// plainText turns a highlighted snippet back into text.
func plainText(h string) string {
	return html.UnescapeString(strings.NewReplacer("<mark>", "", "</mark>", "").Replace(h))
}

func (s *Server) handleHelpSuggestions(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	fields := map[string]string{}
	text := q.Get("q")
	if len(text) > maxSuggestQuery || !utf8.ValidString(text) {
		fields["q"] = "at most 800 bytes of UTF-8"
	}
	lang, err := langParam(r, q.Get("lang"))
	if err != nil {
		fields["lang"] = "zh-CN or en"
	}
	if len(fields) > 0 {
		s.writeError(w, r, okpay.Invalid(fields))
		return
	}
	res, err := s.assistant.Help().Suggest(r.Context(), text, lang, help.MaxSuggestions)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := suggestionsJSON{Object: "list", Query: res.Query, Locale: string(res.Locale), Data: []suggestionJSON{}}
	for _, h := range res.Hits {
		a := h.Article
		out.Data = append(out.Data, suggestionJSON{ID: a.Ref(), Object: "help_article", Slug: a.Slug, Locale: string(a.Locale), Title: a.Title,
			Snippet: plainText(string(h.Snippet)), URL: "/help/" + a.Slug})
	}
	b, err := json.Marshal(out)
	if err != nil {
		s.writeError(w, r, okpay.Internal(err, "encode suggestions"))
		return
	}
	writeJSON(w, http.StatusOK, b)
}

var errNoArticle = okpay.Errorf(okpay.ENotFound, "There is no such article.")

// deflectionVisitor is who says an article solved their question, so one
// visitor counts once per article and day: the visitor cookie's id, else
// the client's address, keyed with an HMAC under the secret keyring (as
// the votes are: a plain hash of an IPv4 address is reversed by trying
// them all). Without the identity service (no keyring) it is a hash.
func (s *Server) deflectionVisitor(r *http.Request) string {
	kind, id := "deflect-ip", s.clientIP.IP(r)
	if vt := visitorToken(r); vt != "" {
		kind, id = "deflect-vis", visitorID(vt)
	}
	if s.deflectKeys != nil {
		return s.deflectKeys.Key(kind, id)
	}
	sum := sha256.Sum256([]byte("okpay help deflection\x00" + kind + "\x00" + id))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func (s *Server) handleHelpDeflection(w http.ResponseWriter, r *http.Request) {
	if !s.readEmpty(w, r) {
		return
	}
	id, ok := help.ParseRef(r.PathValue("id"))
	if !ok {
		s.writeError(w, r, errNoArticle)
		return
	}
	counted, err := s.assistant.Help().Deflect(r.Context(), id, s.deflectionVisitor(r))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	b, _ := json.Marshal(struct {
		Object  string `json:"object"`
		Article string `json:"article"`
		Counted bool   `json:"counted"`
	}{"help_deflection", ids.Format(help.ArticlePrefix, id), counted})
	writeJSON(w, http.StatusOK, b)
}

type assistantRequest struct {
	Text     string `json:"text"`
	Lang     string `json:"lang"`
	Category string `json:"category"`
}

type handoverRequest struct {
	Lang     string `json:"lang"`
	Category string `json:"category"`
}

type linkJSON struct {
	Href  string `json:"href"`
	Label string `json:"label"`
	Kind  string `json:"kind"`
}

type replyJSON struct {
	Object       string          `json:"object"`
	Intent       string          `json:"intent"`
	Confidence   float64         `json:"confidence"`
	Text         string          `json:"text"`
	SignIn       bool            `json:"sign_in"`
	Offer        bool            `json:"offer_handover"`
	Links        []linkJSON      `json:"links"`
	Conversation json.RawMessage `json:"conversation"`
}

// claimAssistantTurns carries a visitor's exchange with the assistant
// over to the customer who signed in in the same browser, with the
// visitor's conversations (chatCallerOf); nothing without the assistant.
func (s *Server) claimAssistantTurns(r *http.Request, visitorID string, userID int64) error {
	if s.assistant == nil {
		return nil
	}
	_, err := s.assistant.ClaimVisitor(r.Context(), visitorID, userID)
	return err
}

// assistantCaller makes an anonymous caller a visitor (the cookie is set
// by the caller of this, with the answer) and returns the assistant's
// view of it and the new visitor token, if any.
func assistantCaller(r *http.Request, c *chatCaller) (*http.Request, *chatCaller, assistant.Caller, string) {
	newVisitor := ""
	if c.anonymous() {
		newVisitor = newVisitorToken()
		id := visitorID(newVisitor)
		c = &chatCaller{viewer: desk.Visitor(id), principal: "vis_" + id}
		r = setPrincipal(r, c.principal)
	}
	return r, c, assistant.Caller{Viewer: c.viewer, Owner: c.principal}, newVisitor
}

func categoryParam(v string) (desk.Category, error) {
	if v == "" {
		return "", nil
	}
	for _, c := range desk.Categories() {
		if string(c) == v {
			return c, nil
		}
	}
	return "", okpay.Invalid(map[string]string{"category": "one of the desk's categories"})
}

func (s *Server) handleAssistantMessage(w http.ResponseWriter, r *http.Request, c *chatCaller, _ string) {
	var req assistantRequest
	if !s.readJSON(w, r, &req) {
		return
	}
	lang, err := langParam(r, req.Lang)
	if err == nil {
		err = required("text", strings.TrimSpace(req.Text))
	}
	cat, cerr := categoryParam(req.Category)
	if err == nil {
		err = cerr
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	r, c, who, newVisitor := assistantCaller(r, c)
	if err := s.chatLimit(r, c, desk.ActionMessage); err != nil {
		s.writeError(w, r, err)
		return
	}
	rep, err := s.assistant.Ask(r.Context(), who, req.Text, lang, cat)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := replyJSON{Object: "assistant_reply", Intent: string(rep.Intent), Confidence: math.Round(rep.Confidence*1000) / 1000, Text: rep.Text,
		SignIn: rep.SignIn, Offer: rep.OfferHandover, Links: []linkJSON{}, Conversation: json.RawMessage("null")}
	for _, l := range rep.Links {
		out.Links = append(out.Links, linkJSON{Href: l.Href, Label: l.Label, Kind: l.Kind})
	}
	if rep.Conversation != nil {
		cv, err := s.appendConversation(make([]byte, 0, 768), r.Context(), c, rep.Conversation, langOf(r))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		out.Conversation = cv
	}
	b, err := json.Marshal(out)
	if err != nil {
		s.writeError(w, r, okpay.Internal(err, "encode reply"))
		return
	}
	if newVisitor != "" {
		setVisitorCookie(w, newVisitor)
	}
	writeJSON(w, http.StatusOK, b)
}

func (s *Server) handleAssistantHandover(w http.ResponseWriter, r *http.Request, c *chatCaller, _ string) {
	var req handoverRequest
	if !s.readJSON(w, r, &req) {
		return
	}
	lang, err := langParam(r, req.Lang)
	cat, cerr := categoryParam(req.Category)
	if err == nil {
		err = cerr
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	r, c, who, newVisitor := assistantCaller(r, c)
	if err := s.chatLimit(r, c, desk.ActionStart); err != nil {
		s.writeError(w, r, err)
		return
	}
	cv, err := s.assistant.Handover(r.Context(), who, lang, cat)
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
	writeJSON(w, http.StatusCreated, out)
}
