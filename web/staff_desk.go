package web

import (
	"context"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/agent"
	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/desk/chat"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/maildesk"
)

// The agent console v1 (/staff/desk): the inbox (mine, unassigned, all;
// by status and category) and a conversation with its messages, internal
// notes, the reply and note composers, "assign to me" and the status. The
// pages work without JavaScript (forms that post and come back); with
// static/console.js they update live over the staff WebSocket
// (/staff/desk/ws: the desk/chat handler with a staff grant, following
// the inbox topic and the open conversation, catching up after any
// disconnect) and the composers send without reloading.
//
// Every route names its permission in the route table (StaffRoutes):
// conversation:read to see, conversation:reply to answer and change the
// status, conversation:note for internal notes, conversation:assign to
// take a conversation. Conversation and attachment ids travel in the
// query (GET) or the form (POST), never in the path. Each message form
// carries an idempotency key made when the page was rendered (console.js
// makes a new one per message), so a form posted twice sends once.
// Routing, SLAs, canned replies and the customer's context panel come
// later.

// Page templates of the console.
const (
	pageStaffDeskInbox        = "staff_desk_inbox.html"
	pageStaffDeskConversation = "staff_desk_conversation.html"
)

var staffDeskPages = []string{pageStaffDeskInbox, pageStaffDeskConversation, pageStaffCanned, pageStaffDeskSettings, pageStaffDeskOverview}

// maxDeskFormBytes bounds the console's message forms (their routes'
// MaxBody): a message of 5,000 Chinese characters is about 45 KB
// percent-encoded.
const maxDeskFormBytes = 96 << 10

// deskMessagePage is how many of a conversation's last messages the page
// shows (console.js catches up from the last one).
const deskMessagePage = 200

// consoleMessageIDs are the ids the console uses from Go code.
var consoleMessageIDs = []string{
	"console.inbox.page_title", "console.conversation.page_title", "console.nav",
	"console.view.mine", "console.view.unassigned", "console.view.all",
	"console.status.active", "console.status.any", "console.category.any",
	"console.unassigned", "console.visitor", "console.customer", "console.you", "console.agent", "console.system",
	"console.notice.sent", "console.notice.noted", "console.notice.assigned", "console.notice.status",
	"console.error.body", "console.error.closed", "console.error.taken", "console.error.transition",
	"console.error.invalid", "console.error.key", "console.error.generic",
	"console.snooze.1", "console.snooze.4", "console.snooze.24",
	"console.view.teams", "console.view.mentions", "console.view.sla", "console.sla.breached", "console.sla.soon",
	"console.canned.page_title", "console.canned.global", "console.canned.saved", "console.canned.deleted",
	"console.canned.error.taken", "console.canned.error.shortcut", "console.canned.error.title", "console.canned.error.body_en",
	"console.canned.error.body_zh", "console.canned.error.team",
	"console.settings.page_title", "console.settings.done.sla", "console.settings.done.capacity",
	"console.settings.error.sla", "console.settings.error.capacity",
}

// initStaffDesk parses the console's pages and builds its WebSocket
// handler (EnableDesk calls it when the staff console is on).
func (s *Server) initStaffDesk(d *deskState) error {
	if err := s.parseStaffPages(staffDeskPages...); err != nil {
		return err
	}
	ids := slices.Clone(consoleMessageIDs)
	for _, st := range desk.Statuses() {
		ids = append(ids, "desk.status."+string(st)+".internal")
	}
	for _, c := range desk.Categories() {
		ids = append(ids, "desk.category."+string(c))
	}
	for _, p := range desk.Priorities() {
		ids = append(ids, "desk.priority."+string(p))
	}
	var missing []string
	for _, id := range ids {
		if !s.cat.Has(id) {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("web: console message ids missing from the catalog: %v", missing)
	}
	d.socket = chat.NewHandler(d.svc, staffGrantOf, chat.Config{Logger: s.log, PingInterval: s.consolePing})
	return nil
}

// staffDeskRoutes are the console's routes (StaffRoutes lists them).
func (s *Server) staffDeskRoutes() []StaffRoute {
	h := func(f func(http.ResponseWriter, *http.Request)) http.Handler { return http.HandlerFunc(f) }
	get, post := http.MethodGet, http.MethodPost
	return append(append(s.staffCannedRoutes(), s.staffDeskSettingsRoutes()...), []StaffRoute{
		{get, "/staff/desk", StaffFull, agent.PermDeskOverview, h(s.handleDeskInbox)}, // the overview without conversation:read
		{get, "/staff/desk/conversation", StaffFull, agent.PermConversationRead, h(s.handleDeskConversation)},
		{get, "/staff/desk/attachment", StaffFull, agent.PermConversationRead, h(s.handleDeskAttachment)},
		{get, "/staff/desk/email/original", StaffFull, agent.PermConversationRead, h(s.handleDeskEmailOriginal)},
		{get, "/staff/desk/ws", StaffFull, agent.PermConversationRead, h(s.handleDeskSocket)},
		{post, "/staff/desk/read", StaffFull, agent.PermConversationRead, h(s.handleDeskRead)},
		{post, "/staff/desk/reply", StaffFull, agent.PermConversationReply, maxBody(maxDeskFormBytes, h(s.handleDeskReply))},
		{post, "/staff/desk/status", StaffFull, agent.PermConversationReply, h(s.handleDeskStatus)},
		{post, "/staff/desk/note", StaffFull, agent.PermConversationNote, maxBody(maxDeskFormBytes, h(s.handleDeskNote))},
		{post, "/staff/desk/assign", StaffFull, agent.PermConversationAssign, h(s.handleDeskAssign)},
		{post, "/staff/desk/route", StaffFull, agent.PermConversationAssign, h(s.handleDeskRoute)},
		{post, "/staff/desk/viewing", StaffFull, agent.PermConversationRead, h(s.handleDeskViewing)},
	}...)
}

// deskService returns the desk, or answers 404 when the console is off.
func (s *Server) deskService(w http.ResponseWriter, r *http.Request) *desk.Service {
	if s.desk == nil || s.desk.socket == nil {
		s.staffError(w, r, http.StatusNotFound, "notfound.title", "notfound.body")
		return nil
	}
	return s.desk.svc
}

// ---- page helpers ----

// DeskStatus is a status's label for staff in the page's language.
func (p *page) DeskStatus(st desk.Status) string {
	return desk.StatusLabel(p.s.cat, p.Lang, st, desk.ForStaff)
}

// DeskCategory is a category's label in the page's language.
func (p *page) DeskCategory(c desk.Category) string { return desk.CategoryLabel(p.s.cat, p.Lang, c) }

// DeskPriority is a priority's label in the page's language.
func (p *page) DeskPriority(pr desk.Priority) string { return desk.PriorityLabel(p.s.cat, p.Lang, pr) }

// DeskRef is a conversation's public id.
func (p *page) DeskRef(id int64) string { return desk.ConversationRef(id) }

// DeskAttachmentRef is an attachment's public id.
func (p *page) DeskAttachmentRef(id int64) string { return desk.AttachmentRef(id) }

// DeskKB says a file size in kilobytes (at least 1).
func (p *page) DeskKB(n int64) int64 { return max(1, (n+512)/1024) }

// deskOption is a choice of the console's selects.
type deskOption struct {
	Value    string
	Label    string
	Selected bool
}

// deskNames finds agents' display names (and the customer's label) for
// one page, each agent looked up once.
type deskNames struct {
	s     *Server
	p     *page
	ctx   context.Context
	me    *agent.Agent
	cache map[int64]string
}

func (n *deskNames) agent(id int64) string {
	if id == 0 {
		return n.p.T("console.unassigned")
	}
	if id == n.me.ID {
		return n.p.T("console.you")
	}
	if name, ok := n.cache[id]; ok {
		return name
	}
	name := agent.Ref(id)
	if a, err := n.s.staff.svc.Find(n.ctx, id); err == nil {
		name = a.DisplayName
	}
	n.cache[id] = name
	return name
}

func (n *deskNames) customer(c *desk.Conversation) string {
	if c.CustomerID == 0 {
		return n.p.T("console.visitor")
	}
	return n.p.T("console.customer", "ID", ids.Format("usr", c.CustomerID))
}

// ---- the inbox ----

// deskRow is one conversation of the inbox.
type deskRow struct {
	Conv     *desk.Conversation
	Ref      string
	Assignee string
	Customer string
	Mine     bool
	// SLA is the row's running clock in the SLA view.
	SLA *desk.SLAState
}

// staffDeskInboxData is the content of staff_desk_inbox.html.
type staffDeskInboxData struct {
	staffNav
	View       string
	Views      []deskOption
	Statuses   []deskOption
	Categories []deskOption
	Rows       []deskRow
	// Older is the link to the next page ("" on the last).
	Older string
	// SLA is the SLA view's choice (breached or soon); SLAViews its links.
	SLA      string
	SLAViews []deskOption
	// Mentions counts the conversations the agent was mentioned in and
	// has not opened since (the badge of the mentions view).
	Mentions int
	// CanCanned: the agent may manage canned responses.
	CanCanned bool
}

// slaSoon is how far ahead the SLA view's "due soon" looks.
const slaSoon = 30 * time.Minute

// deskViews are the inbox's views, in order.
var deskViews = []string{"mine", "unassigned", "teams", "mentions", "all", "sla"}

// inboxPage is how many conversations one inbox page lists.
const inboxPage = 50

func (s *Server) handleDeskInbox(w http.ResponseWriter, r *http.Request) {
	svc := s.deskService(w, r)
	if svc == nil {
		return
	}
	a := staffFrom(r).agent
	if !agent.Can(a, agent.PermConversationRead) {
		s.handleDeskOverview(w, r, svc) // staff_desk_overview.go
		return
	}
	q := r.URL.Query()
	p := s.staffPage(r, "console.inbox.page_title")
	f := desk.ConversationFilter{Limit: inboxPage + 1}
	view := q.Get("view")
	switch view {
	case "unassigned":
		f.Unassigned = true
	case "all", "teams", "mentions", "sla":
	default:
		view = "mine"
		f.AssigneeID = a.ID
	}
	status := q.Get("status")
	switch {
	case status == "any":
	case slices.Contains(desk.Statuses(), desk.Status(status)):
		f.Status = []desk.Status{desk.Status(status)}
	default:
		status = ""
		f.Status = []desk.Status{desk.StatusOpen, desk.StatusPending, desk.StatusSnoozed}
	}
	category := q.Get("category")
	if slices.Contains(desk.Categories(), desk.Category(category)) {
		f.Category = desk.Category(category)
	} else {
		category = ""
	}
	if id, ok := desk.ParseConversationRef(q.Get("before")); ok {
		f.Before = id
	}
	sla := q.Get("sla")
	if sla != "soon" {
		sla = "breached"
	}
	var (
		list   []*desk.Conversation
		slas   map[int64]*desk.SLAState
		err    error
		ctx    = r.Context()
		viewer = desk.Agent(a.ID)
	)
	switch view {
	case "teams":
		list, err = svc.TeamsConversations(ctx, viewer, a.Teams, f)
	case "mentions":
		// every conversation the agent was mentioned in, unseen first
		// mentions marked by the badge; no status or category filter
		list, err = svc.MentionedConversations(ctx, a.ID, false, inboxPage)
		status, category = "any", ""
	case "sla":
		var rows []desk.SLAConversation
		rows, err = svc.SLAConversations(ctx, viewer, sla == "breached", slaSoon, inboxPage)
		slas = map[int64]*desk.SLAState{}
		for _, row := range rows {
			list = append(list, row.Conversation)
			slas[row.ID] = &row.SLA
		}
		status, category = "any", ""
	default:
		list, err = svc.Conversations(ctx, viewer, f)
	}
	if err != nil {
		s.staffInternal(w, r, err)
		return
	}
	d := staffDeskInboxData{staffNav: s.navFor(r), View: view, SLA: sla, CanCanned: agent.Can(a, agent.PermCannedManage)}
	if d.Mentions, err = svc.UnseenMentions(ctx, a.ID); err != nil {
		s.staffInternal(w, r, err)
		return
	}
	for _, v := range deskViews {
		d.Views = append(d.Views, deskOption{Value: v, Label: p.T("console.view." + v), Selected: v == view})
	}
	for _, v := range []string{"breached", "soon"} {
		d.SLAViews = append(d.SLAViews, deskOption{Value: v, Label: p.T("console.sla." + v), Selected: view == "sla" && v == sla})
	}
	d.Statuses = append(d.Statuses, deskOption{Value: "", Label: p.T("console.status.active"), Selected: status == ""})
	for _, st := range desk.Statuses() {
		d.Statuses = append(d.Statuses, deskOption{Value: string(st), Label: p.DeskStatus(st), Selected: status == string(st)})
	}
	d.Statuses = append(d.Statuses, deskOption{Value: "any", Label: p.T("console.status.any"), Selected: status == "any"})
	d.Categories = append(d.Categories, deskOption{Value: "", Label: p.T("console.category.any"), Selected: category == ""})
	for _, c := range desk.Categories() {
		d.Categories = append(d.Categories, deskOption{Value: string(c), Label: p.DeskCategory(c), Selected: category == string(c)})
	}
	if len(list) > inboxPage {
		list = list[:inboxPage]
		older := q
		older.Set("before", desk.ConversationRef(list[len(list)-1].ID))
		d.Older = "/staff/desk?" + older.Encode()
	}
	names := &deskNames{s: s, p: p, ctx: r.Context(), me: a, cache: map[int64]string{}}
	for _, c := range list {
		d.Rows = append(d.Rows, deskRow{Conv: c, Ref: desk.ConversationRef(c.ID), Assignee: names.agent(c.AssigneeID),
			Customer: names.customer(c), Mine: c.AssigneeID == a.ID, SLA: slas[c.ID]})
	}
	p.Data = d
	s.render(w, r, pageStaffDeskInbox, p)
}

// ---- one conversation ----

// deskMessage is a message as the console shows it.
type deskMessage struct {
	*desk.Message
	Ref    string
	Author string
	// FromCustomer: written by the customer or the visitor.
	FromCustomer bool
	// Delivery is where the mail of an agent's reply in an email
	// conversation stands (staff_desk_email.go; nil: not mailed).
	Delivery *maildesk.Delivery
	// EmailOriginal: the message was made from a mail whose original is
	// kept (/staff/desk/email/original).
	EmailOriginal bool
	// EmailUnverified: that mail's sender was not authenticated (DKIM /
	// DMARC) and it is in a customer's conversation; EmailAuth says what
	// was checked.
	EmailUnverified bool
	EmailAuth       string
}

// staffDeskConversationData is the content of staff_desk_conversation.html.
type staffDeskConversationData struct {
	staffNav
	Conv     *desk.Conversation
	Ref      string
	Customer string
	Assignee string
	Mine     bool
	Messages []deskMessage
	// Earlier is set when older messages were left out.
	Earlier bool
	// CustomerRead is how far the customer has read (staff numbering).
	CustomerRead int64
	CanReply     bool
	CanNote      bool
	CanAssign    bool
	// Route is the routing form (assignee, team, priority, category) of
	// those who may reassign (nil otherwise).
	Route    *deskRouteForm
	Closed   bool
	Statuses []deskOption
	Snoozes  []deskOption
	// Key and NoteKey are the composers' idempotency keys.
	Key     string
	NoteKey string
	// Me is the signed-in agent's reference (console.js tells "You").
	Me string
	// MeName is the agent's display name (the collision notice).
	MeName string
	// Canned are the canned responses the agent may insert, with the
	// body in the conversation's language.
	Canned []deskCanned
	// Phone is the caller verification panel of a phone conversation
	// (staff_phone.go; nil otherwise).
	Phone *phoneDeskPanel
	// CSAT is, per resolution of the conversation (oldest first), its
	// satisfaction rating and, for an email conversation, the rating
	// request mailed about it: only resolutions with either.
	CSAT []deskCSAT
	// VisitorEmail is the address a visitor left for the replies (nil:
	// none, or not a visitor's conversation).
	VisitorEmail *desk.VisitorEmail
}

// deskCSAT is one resolution's rating and rating request, as the console
// shows them.
type deskCSAT struct {
	ResolvedAt time.Time
	Rating     *desk.Rating            // nil: not rated (yet)
	Request    *maildesk.SurveyRequest // nil: none mailed
}

// deskCanned is a canned response as the composer offers it.
type deskCanned struct {
	Ref      string
	Shortcut string
	Title    string
	Body     string
}

// deskConversationID reads a conversation id from the query or the form.
func deskConversationID(r *http.Request) (int64, bool) {
	v := r.URL.Query().Get("id")
	if r.Method == http.MethodPost {
		v = r.PostFormValue("id")
	}
	return desk.ParseConversationRef(v)
}

// staffConversation is the lookup of a staff route on one conversation:
// the service (service answers 404 when its feature is off) and the
// conversation id of the query or form (404 when there is none). On false
// the answer has been sent.
func staffConversation[T any](s *Server, w http.ResponseWriter, r *http.Request, service func(http.ResponseWriter, *http.Request) *T) (*T, int64, bool) {
	svc := service(w, r)
	if svc == nil {
		return nil, 0, false
	}
	id, ok := deskConversationID(r)
	if !ok {
		s.staffError(w, r, http.StatusNotFound, "notfound.title", "notfound.body")
		return nil, 0, false
	}
	return svc, id, true
}

// deskConversationPage builds the conversation page (false: an answer was
// sent already).
func (s *Server) deskConversationPage(w http.ResponseWriter, r *http.Request, svc *desk.Service, id int64, f *form) (*page, bool) {
	a := staffFrom(r).agent
	v := desk.Agent(a.ID)
	c, err := svc.Conversation(r.Context(), v, id)
	if err != nil {
		if code(err) == okpay.ENotFound {
			s.staffError(w, r, http.StatusNotFound, "notfound.title", "notfound.body")
			return nil, false
		}
		s.staffInternal(w, r, err)
		return nil, false
	}
	after := max(c.LastSeq-deskMessagePage, 0)
	msgs, err := svc.Messages(r.Context(), v, id, after, deskMessagePage)
	if err != nil {
		s.staffInternal(w, r, err)
		return nil, false
	}
	reads, err := svc.Reads(r.Context(), v, id)
	if err != nil {
		s.staffInternal(w, r, err)
		return nil, false
	}
	p := s.staffPage(r, "console.conversation.page_title")
	p.Form = f
	names := &deskNames{s: s, p: p, ctx: r.Context(), me: a, cache: map[int64]string{}}
	d := staffDeskConversationData{staffNav: s.navFor(r), Conv: c, Ref: desk.ConversationRef(id), Customer: names.customer(c),
		Assignee: names.agent(c.AssigneeID), Mine: c.AssigneeID == a.ID, Earlier: after > 0,
		CanReply: agent.Can(a, agent.PermConversationReply), CanNote: agent.Can(a, agent.PermConversationNote),
		CanAssign: agent.Can(a, agent.PermConversationAssign), Closed: c.Status == desk.StatusClosed,
		Key: newDeviceID(), NoteKey: newDeviceID(), Me: a.Ref(), MeName: a.DisplayName}
	if c.CustomerID == 0 && c.Channel == desk.ChannelEmail {
		// Someone who is not a customer wrote: their address is who
		// the agent is writing to ("Visitor (not signed in)" said nothing).
		meta, err := svc.ChannelMeta(r.Context(), v, id)
		if err != nil {
			s.staffInternal(w, r, err)
			return nil, false
		}
		if addr := meta["email"]; addr != "" {
			d.Customer = p.T("console.email_sender", "Address", addr)
		}
	}
	if d.CanAssign && !d.Closed && s.staff != nil {
		if d.Route, err = s.deskRoute(r.Context(), p, names, c); err != nil {
			s.staffInternal(w, r, err)
			return nil, false
		}
	}
	if d.CanReply {
		canned, err := svc.CannedFor(r.Context(), a.Teams)
		if err != nil {
			s.staffInternal(w, r, err)
			return nil, false
		}
		for _, cn := range canned {
			d.Canned = append(d.Canned, deskCanned{Ref: cn.Ref(), Shortcut: cn.Shortcut, Title: cn.Title, Body: cn.Body(c.Lang)})
		}
	}
	for _, rd := range reads {
		if rd.Reader != desk.KindAgent {
			d.CustomerRead = max(d.CustomerRead, rd.Seq)
		}
	}
	for _, m := range msgs {
		dm := deskMessage{Message: m, Ref: ids.Format(desk.MessagePrefix, m.ID)}
		switch m.Author {
		case desk.KindAgent:
			dm.Author = names.agent(m.AuthorID)
		case desk.KindCustomer, desk.KindVisitor:
			dm.Author, dm.FromCustomer = names.customer(c), true
		default:
			dm.Author = p.T("console.system")
		}
		d.Messages = append(d.Messages, dm)
	}
	s.addEmailDeliveries(r.Context(), c, d.Messages)
	if d.CSAT, err = s.deskCSAT(r.Context(), svc, v, c); err != nil {
		s.staffInternal(w, r, err)
		return nil, false
	}
	if ve := s.visitorEmails(); ve != nil && c.CustomerID == 0 && c.Channel == desk.ChannelChat {
		if d.VisitorEmail, err = ve.Of(r.Context(), v, c.ID); err != nil {
			s.staffInternal(w, r, err)
			return nil, false
		}
	}
	if d.Phone, err = s.phoneDeskPanel(r, p, c, d.CanReply); err != nil {
		s.staffInternal(w, r, err)
		return nil, false
	}
	for _, st := range desk.Statuses() {
		if st == desk.StatusSnoozed || st != c.Status && !desk.CanTransition(c.Status, st) {
			continue
		}
		d.Statuses = append(d.Statuses, deskOption{Value: string(st), Label: p.DeskStatus(st), Selected: st == c.Status})
	}
	if desk.CanTransition(c.Status, desk.StatusSnoozed) {
		for _, h := range []string{"1", "4", "24"} {
			d.Snoozes = append(d.Snoozes, deskOption{Value: h, Label: p.T("console.snooze." + h)})
		}
	}
	p.Data = d
	return p, true
}

func (s *Server) handleDeskConversation(w http.ResponseWriter, r *http.Request) {
	svc, id, ok := staffConversation(s, w, r, s.deskService)
	if !ok {
		return
	}
	f := newForm()
	p, ok := s.deskConversationPage(w, r, svc, id, f)
	if !ok {
		return
	}
	// Opening the conversation is seeing its mentions of the agent.
	// A failure here costs a stale badge, not the page.
	if err := svc.SeeMentions(r.Context(), staffFrom(r).agent.ID, id); err != nil {
		s.log.Warn("desk: mark mentions seen", "conversation", id, "err", err)
	}
	// Without JavaScript, the canned select comes back here with its
	// choice: the reply composer starts with the response's text.
	if ref := r.URL.Query().Get("canned"); ref != "" {
		for _, cn := range p.Data.(staffDeskConversationData).Canned {
			if cn.Ref == ref {
				f.values["body"] = cn.Body
			}
		}
	}
	switch r.URL.Query().Get("done") {
	case "sent":
		p.Notice = p.T("console.notice.sent")
	case "noted":
		p.Notice = p.T("console.notice.noted")
	case "assigned":
		p.Notice = p.T("console.notice.assigned")
	case "status":
		p.Notice = p.T("console.notice.status")
	case "routed":
		p.Notice = p.T("console.notice.routed")
	}
	s.render(w, r, pageStaffDeskConversation, p)
}

// wantsJSON reports whether a console form was posted by console.js,
// which takes a JSON answer instead of a page.
func wantsJSON(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "application/json")
}

// deskErrorText is what the console says about a refused action.
func (p *page) deskErrorText(err error) (status int, text string) {
	switch code(err) {
	case desk.EConversationClosed:
		return http.StatusConflict, p.T("console.error.closed")
	case desk.EAlreadyAssigned:
		return http.StatusConflict, p.T("console.error.taken")
	case desk.EBadTransition:
		return http.StatusConflict, p.T("console.error.transition")
	case desk.EIdempotencyReused:
		return http.StatusUnprocessableEntity, p.T("console.error.key")
	case okpay.EInvalid:
		if _, ok := fieldErrors(err)["body"]; ok {
			return http.StatusUnprocessableEntity, p.T("console.error.body")
		}
		return http.StatusUnprocessableEntity, p.T("console.error.invalid")
	}
	return 0, ""
}

// deskAct runs a console action on the conversation of the form and
// answers: JSON for console.js (body, or {"error": ...}), otherwise back
// to the conversation page (PRG), or the page again with the refusal.
func (s *Server) deskAct(w http.ResponseWriter, r *http.Request, done string, act func(svc *desk.Service, a *agent.Agent, id int64) ([]byte, error)) {
	svc, id, ok := staffConversation(s, w, r, s.deskService)
	if !ok {
		return
	}
	a := staffFrom(r).agent
	out, err := act(svc, a, id)
	if err == nil {
		if wantsJSON(r) {
			if out == nil {
				out = []byte(`{}`)
			}
			writeDeskJSON(w, http.StatusOK, out)
			return
		}
		redirect(w, r, "/staff/desk/conversation?id="+desk.ConversationRef(id)+"&done="+done)
		return
	}
	if code(err) == okpay.ENotFound {
		s.staffError(w, r, http.StatusNotFound, "notfound.title", "notfound.body")
		return
	}
	p := s.staffPage(r, "console.conversation.page_title")
	status, text := p.deskErrorText(err)
	if status == 0 {
		s.staffInternal(w, r, err)
		return
	}
	if wantsJSON(r) {
		b, _ := json.Marshal(map[string]string{"error": text, "code": code(err)})
		writeDeskJSON(w, status, b)
		return
	}
	f := newForm().keep(r, "body", "note")
	f.fail(text)
	p, ok = s.deskConversationPage(w, r, svc, id, f)
	if !ok {
		return
	}
	p.Status = status
	s.render(w, r, pageStaffDeskConversation, p)
}

func writeDeskJSON(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(body)
}

func (s *Server) handleDeskReply(w http.ResponseWriter, r *http.Request) {
	s.deskAct(w, r, "sent", s.deskSendFrom(r, false))
}

func (s *Server) handleDeskNote(w http.ResponseWriter, r *http.Request) {
	s.deskAct(w, r, "noted", s.deskSendFrom(r, true))
}

// deskSendFrom sends the reply or note of r's form with its key.
func (s *Server) deskSendFrom(r *http.Request, internal bool) func(svc *desk.Service, a *agent.Agent, id int64) ([]byte, error) {
	return func(svc *desk.Service, a *agent.Agent, id int64) ([]byte, error) {
		field := "body"
		if internal {
			field = "note"
		}
		in := desk.MessageInput{Body: formText(r.PostFormValue(field)), Internal: internal, IdempotencyKey: r.PostFormValue("key")}
		if internal {
			var err error
			if in.Mentions, err = s.noteMentions(r.Context(), in.Body); err != nil {
				return nil, err
			}
		}
		v := desk.Agent(a.ID)
		m, err := svc.SendMessage(r.Context(), v, id, in)
		if err != nil {
			return nil, err
		}
		return desk.MessageFrame(v, m), nil
	}
}

// noteMentions returns the active agents a note mentions ("@Display
// Name" or "@email-local-part"); unknown names stay plain text. The desk
// stores them with the note, in its transaction; a retried note records
// nothing twice.
func (s *Server) noteMentions(ctx context.Context, body string) ([]int64, error) {
	if !strings.Contains(body, "@") {
		return nil, nil
	}
	agents, err := s.staff.svc.List(ctx, agent.Filter{Status: agent.StatusActive})
	if err != nil {
		return nil, err
	}
	cands := make([]desk.MentionCandidate, 0, len(agents))
	for _, ag := range agents {
		cands = append(cands, desk.MentionCandidate{ID: ag.ID, DisplayName: ag.DisplayName, Email: ag.Email})
	}
	return desk.MentionedAgents(desk.FindMentions(desk.CleanText(body), cands)), nil
}

// handleDeskViewing tells the other agents of a conversation that this
// one views it ("viewing"), writes in it ("replying") or left it
// ("left"): console.js posts it on opening, every few seconds and on
// leaving. Nothing is stored.
func (s *Server) handleDeskViewing(w http.ResponseWriter, r *http.Request) {
	s.deskAct(w, r, "", func(svc *desk.Service, a *agent.Agent, id int64) ([]byte, error) {
		return nil, svc.Viewing(r.Context(), a.ID, a.DisplayName, id, r.PostFormValue("state"))
	})
}

// formText turns a textarea's CRLF line ends into LF.
func formText(s string) string { return strings.ReplaceAll(s, "\r\n", "\n") }

// deskRouteForm is the choices of the routing form.
type deskRouteForm struct {
	Agents, Teams, Priorities, Categories []deskOption
}

// deskRoute builds the routing form of conversation c: active agents who
// read conversations (and whoever has it now), the teams, priorities and
// categories, the current ones selected.
func (s *Server) deskRoute(ctx context.Context, p *page, names *deskNames, c *desk.Conversation) (*deskRouteForm, error) {
	agents, err := s.staff.svc.List(ctx, agent.Filter{Status: agent.StatusActive})
	if err != nil {
		return nil, err
	}
	teams, err := s.staff.svc.Teams(ctx)
	if err != nil {
		return nil, err
	}
	f := &deskRouteForm{Agents: []deskOption{{Value: "", Label: p.T("console.unassigned"), Selected: c.AssigneeID == 0}}}
	seen := false
	for _, a := range agents {
		if !agent.Can(a, agent.PermConversationRead) {
			continue
		}
		seen = seen || a.ID == c.AssigneeID
		f.Agents = append(f.Agents, deskOption{Value: a.Ref(), Label: names.agent(a.ID), Selected: a.ID == c.AssigneeID})
	}
	if c.AssigneeID != 0 && !seen {
		f.Agents = append(f.Agents, deskOption{Value: agent.Ref(c.AssigneeID), Label: names.agent(c.AssigneeID), Selected: true})
	}
	known := false
	for _, t := range teams {
		known = known || t.Name == c.Team
		f.Teams = append(f.Teams, deskOption{Value: t.Name, Label: t.Name, Selected: t.Name == c.Team})
	}
	if !known && c.Team != "" {
		f.Teams = append(f.Teams, deskOption{Value: c.Team, Label: c.Team, Selected: true})
	}
	for _, pr := range desk.Priorities() {
		f.Priorities = append(f.Priorities, deskOption{Value: string(pr), Label: p.DeskPriority(pr), Selected: pr == c.Priority})
	}
	for _, cat := range desk.Categories() {
		f.Categories = append(f.Categories, deskOption{Value: string(cat), Label: p.DeskCategory(cat), Selected: cat == c.Category})
	}
	return f, nil
}

// handleDeskRoute hands a conversation to another agent (or back to the
// queue), moves it to another team, and sets its priority and category:
// whatever the form changes, each change recorded in the conversation's
// history by the desk.
func (s *Server) handleDeskRoute(w http.ResponseWriter, r *http.Request) {
	s.deskAct(w, r, "routed", func(svc *desk.Service, a *agent.Agent, id int64) ([]byte, error) {
		ctx, v := r.Context(), desk.Agent(a.ID)
		var to int64
		if ref := r.PostFormValue("agent"); ref != "" {
			n, ok := agent.ParseRef(ref)
			if !ok {
				return nil, okpay.Invalid(map[string]string{"agent": "Choose an agent."})
			}
			target, err := s.staff.svc.Find(ctx, n)
			if err != nil || !target.Active() || !agent.Can(target, agent.PermConversationRead) {
				return nil, okpay.Invalid(map[string]string{"agent": "Choose an agent who can answer conversations."})
			}
			to = n
		}
		if _, err := svc.Assign(ctx, v, id, to); err != nil {
			return nil, err
		}
		if team := r.PostFormValue("team"); team != "" {
			if _, err := svc.SetTeam(ctx, v, id, team); err != nil {
				return nil, err
			}
		}
		if pr := r.PostFormValue("priority"); pr != "" {
			if _, err := svc.SetPriority(ctx, v, id, desk.Priority(pr)); err != nil {
				return nil, err
			}
		}
		if cat := r.PostFormValue("category"); cat != "" {
			if _, err := svc.SetCategory(ctx, v, id, desk.Category(cat)); err != nil {
				return nil, err
			}
		}
		return nil, nil
	})
}

func (s *Server) handleDeskAssign(w http.ResponseWriter, r *http.Request) {
	s.deskAct(w, r, "assigned", func(svc *desk.Service, a *agent.Agent, id int64) ([]byte, error) {
		_, err := svc.Claim(r.Context(), a.ID, id)
		return nil, err
	})
}

func (s *Server) handleDeskStatus(w http.ResponseWriter, r *http.Request) {
	s.deskAct(w, r, "status", func(svc *desk.Service, a *agent.Agent, id int64) ([]byte, error) {
		st := desk.Status(r.PostFormValue("status"))
		var until time.Time
		if h := r.PostFormValue("snooze_hours"); h != "" {
			n, err := strconv.Atoi(h)
			if err != nil || n < 1 || n > 24*30 {
				return nil, okpay.Invalid(map[string]string{"snooze_hours": "Choose how long."})
			}
			st, until = desk.StatusSnoozed, svc.Clock.Now().Add(time.Duration(n)*time.Hour)
		}
		_, err := svc.SetStatus(r.Context(), desk.Agent(a.ID), id, st, until)
		return nil, err
	})
}

// handleDeskRead records how far the agent has read (console.js posts it
// as new messages show).
func (s *Server) handleDeskRead(w http.ResponseWriter, r *http.Request) {
	s.deskAct(w, r, "", func(svc *desk.Service, a *agent.Agent, id int64) ([]byte, error) {
		seq, err := strconv.ParseInt(r.PostFormValue("seq"), 10, 64)
		if err != nil {
			return nil, okpay.Invalid(map[string]string{"seq": "Give the sequence number of the last message read."})
		}
		n, err := svc.MarkRead(r.Context(), desk.Agent(a.ID), id, seq)
		if err != nil {
			return nil, err
		}
		return []byte(`{"seq":` + strconv.FormatInt(n, 10) + `}`), nil
	})
}

// handleDeskAttachment answers a file of a conversation as a download
// that no browser shows in the page.
func (s *Server) handleDeskAttachment(w http.ResponseWriter, r *http.Request) {
	svc := s.deskService(w, r)
	if svc == nil {
		return
	}
	id, ok := desk.ParseAttachmentRef(r.URL.Query().Get("id"))
	if !ok {
		s.staffError(w, r, http.StatusNotFound, "notfound.title", "notfound.body")
		return
	}
	a, data, err := svc.Attachment(r.Context(), desk.Agent(staffFrom(r).agent.ID), id)
	if err != nil {
		if code(err) == okpay.ENotFound {
			s.staffError(w, r, http.StatusNotFound, "notfound.title", "notfound.body")
			return
		}
		s.staffInternal(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": a.Name}))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(data)
	}
}

// ---- the socket ----

type staffGrantKey struct{}

// staffGrantOf is the console socket's authoriser: the grant
// handleDeskSocket put in the request's context.
func staffGrantOf(r *http.Request) (chat.Grant, error) {
	if g, ok := r.Context().Value(staffGrantKey{}).(chat.Grant); ok {
		return g, nil
	}
	return chat.Grant{}, okpay.Errorf(okpay.EUnauthorized, "Sign in first.")
}

// handleDeskSocket opens the console's WebSocket: the agent sees every
// conversation (internal notes included) and the inbox. Each new
// subscription checks again that the session is still a full sign-in
// and the agent may still read conversations, and so does every ping (a
// disabled agent, a changed role or a signed-out session is closed).
func (s *Server) handleDeskSocket(w http.ResponseWriter, r *http.Request) {
	if s.deskService(w, r) == nil {
		return
	}
	auth := staffFrom(r)
	tok := auth.token
	// live says whether the session may still read conversations: a
	// subscription is the agent's activity (Authenticate records it), a
	// ping is not (Peek).
	live := func(ctx context.Context, activity bool) (bool, error) {
		peek := s.staff.svc.Peek
		if activity {
			peek = s.staff.svc.Authenticate
		}
		ss, a, err := peek(ctx, tok)
		switch c := code(err); {
		case err == nil:
			return ss.Full() && agent.Can(a, agent.PermConversationRead), nil
		case c == okpay.EUnauthorized || c == agent.ESessionExpired:
			return false, nil
		}
		return false, err
	}
	g := chat.Grant{Viewer: desk.Agent(auth.agent.ID), Inbox: true,
		Allow: func(ctx context.Context, _ int64) (bool, error) { return live(ctx, true) },
		// A session that ends (signed out, revoked, timed out, the agent
		// disabled or its role changed) closes the socket at the next ping.
		Alive: func(ctx context.Context) (bool, error) { return live(ctx, false) }}
	g.Allow = s.keepSeenWhileLive(g.Allow, auth.agent.ID) // the agent is seen while live (staff_desk_routing.go)
	s.desk.socket.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), staffGrantKey{}, g)))
}
