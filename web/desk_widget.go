package web

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"slices"

	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/desk/chat"
	"github.com/okpay/okpay/maildesk"
)

// The support desk on the pages: the chat widget on every customer and
// public page (this file), and the agent console at /staff/desk
// (staff_desk.go).
//
// The widget is a small piece of HTML at the end of the layout's body and
// static/chat.js. It talks only to the JSON API's chat routes on this
// origin (/api/v1/conversations, package httpapi) and its WebSocket
// (/api/v1/chat/ws): the customer's session cookie, or the visitor cookie
// the API sets on a visitor's first conversation, says who is writing.
// The pre-chat step asks what the conversation is about (the category
// decides the answering team); the composer sends each message over HTTP
// with its own Idempotency-Key, kept for retries; the socket only pushes,
// and after any disconnect (a network change, the "offline" event, a
// server restart) the widget subscribes again with the last sequence
// number it holds without a gap, so every message shows once, in order.
// Its texts come from the catalogs (chat.*.toml) through data attributes:
// no inline script.

// chatWidgetTemplate is the widget's template file; it is executed on its
// own by page.ChatWidget, not parsed with the page templates.
const chatWidgetTemplate = "chat_widget.html"

// deskState is the support desk's part of the Server.
type deskState struct {
	svc    *desk.Service
	widget *template.Template
	// socket is the agent console's WebSocket handler (nil without the
	// staff console).
	socket *chat.Handler
	// selfService shows the widget's self-service part (assistant.go).
	selfService bool
	// mail is the email channel (EnableEmailDeliveries; nil without).
	mail *maildesk.Service
	// emails keeps visitors' addresses (EnableVisitorEmails; nil
	// without).
	emails *desk.VisitorEmails
}

// chatMessageIDs are the widget's texts used from Go code.
var chatMessageIDs = []string{"chat.label"}

// EnableDesk adds the support desk to the pages: the chat widget on the
// customer and public pages (it needs the account pages, Config.Identity,
// and the JSON API's chat routes served on the same origin) and, when the
// staff console is on (Config.Agents), the agent console at /staff/desk.
// Call it once, after New and before serving; CloseDesk ends the
// console's sockets on shutdown. Without it the widget is not shown and
// the console's routes answer 404.
func (s *Server) EnableDesk(svc *desk.Service) error {
	if svc == nil {
		return errors.New("web: EnableDesk needs the desk service")
	}
	if s.id == nil {
		return errors.New("web: the chat widget needs the account pages (Config.Identity)")
	}
	if s.desk != nil {
		return errors.New("web: EnableDesk called twice")
	}
	t, err := template.New(chatWidgetTemplate).Option("missingkey=error").ParseFS(templateFS, "templates/"+chatWidgetTemplate)
	if err != nil {
		return fmt.Errorf("web: parse %s: %w", chatWidgetTemplate, err)
	}
	ids := slices.Clone(chatMessageIDs)
	for _, c := range desk.Categories() {
		ids = append(ids, "desk.category."+string(c))
	}
	var missing []string
	for _, id := range ids {
		if !s.cat.Has(id) {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("web: chat message ids missing from the catalog: %v", missing)
	}
	d := &deskState{svc: svc, widget: t}
	if s.staff != nil {
		// The reports page (staff_reports.go).
		if err := s.initStaffReports(); err != nil {
			return err
		}
		if err := s.initStaffDesk(d); err != nil {
			return err
		}
	}
	s.desk = d
	return nil
}

// CloseDesk closes the agent console's WebSockets (agents reconnect) and
// waits for them. Call it on shutdown, after http.Server.Shutdown.
func (s *Server) CloseDesk() {
	if s.desk != nil && s.desk.socket != nil {
		s.desk.socket.Close()
	}
}

// chatCategory is a choice of the pre-chat step.
type chatCategory struct {
	Value string
	Label string
}

// chatWidgetData is what chat_widget.html receives.
type chatWidgetData struct {
	P          *page
	Categories []chatCategory
	// API and Socket are the chat's JSON API base and WebSocket path.
	API    string
	Socket string
	// Accept is the file input's accept list (the desk's allowlist).
	Accept string
	// MaxFile is the largest attachment, in bytes.
	MaxFile int64
	// Scores are the satisfaction survey's choices (1 to 5).
	Scores []int
	// SelfService shows the suggested articles and the assistant before
	// the chat starts (assistant.go).
	SelfService bool
	// Contact offers a visitor (not signed in) to leave an email for the
	// replies (EnableVisitorEmails).
	Contact bool
}

// ChatWidget returns the support chat widget for the end of the page's
// body: on the customer and public pages once EnableDesk was called;
// nothing on the staff console's pages (they have no account links).
func (p *page) ChatWidget() template.HTML {
	d := p.s.desk
	if d == nil || !p.Accounts {
		return ""
	}
	data := chatWidgetData{P: p, API: "/api/v1", Socket: "/api/v1/chat/ws",
		Accept: ".png,.jpg,.jpeg,.gif,.webp,.pdf,.txt", MaxFile: d.svc.Config().MaxAttachmentBytes, Scores: []int{1, 2, 3, 4, 5},
		SelfService: d.selfService, Contact: d.emails != nil && !p.SignedIn}
	for _, c := range desk.Categories() {
		data.Categories = append(data.Categories, chatCategory{Value: string(c), Label: desk.CategoryLabel(p.s.cat, p.Lang, c)})
	}
	var buf bytes.Buffer
	if err := d.widget.ExecuteTemplate(&buf, "chat_widget", data); err != nil {
		p.s.log.Error("web: render the chat widget", "err", err)
		return ""
	}
	return template.HTML(buf.String()) // the template's own escaped output
}
