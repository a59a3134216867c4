package web

import (
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/agent"
	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/phone"
	"github.com/okpay/okpay/support"
)

// The staff console's phone page (/staff/phone): the callback queue
// (earliest due window first: a missed call is due when it was missed),
// claiming a callback (never two agents the same one), logging how the
// call went (which writes into the customer's phone conversation), and
// caller verification (SUP-05): the agent sends a one-time code to the
// customer's own app or by SMS to the verified number on file, and types
// the code the caller reads back. /staff/phone/report shows the calls per
// day, answered and missed, wait and talk times (median and p90).
//
// Reading the queue needs conversation:read; acting conversation:reply;
// the report report:read.

// staffPhoneRoutes are the phone page's routes (StaffRoutes lists them;
// before EnablePhone they answer 404).
func (s *Server) staffPhoneRoutes() []StaffRoute {
	h := func(f func(http.ResponseWriter, *http.Request)) http.Handler { return http.HandlerFunc(f) }
	get, post := http.MethodGet, http.MethodPost
	return []StaffRoute{
		{get, "/staff/phone", StaffFull, agent.PermConversationRead, h(s.handleStaffPhone)},
		{post, "/staff/phone/claim", StaffFull, agent.PermConversationReply, h(s.handleStaffPhoneClaim)},
		{post, "/staff/phone/outcome", StaffFull, agent.PermConversationReply, h(s.handleStaffPhoneOutcome)},
		{post, "/staff/phone/verify", StaffFull, agent.PermConversationReply, h(s.handleStaffPhoneVerify)},
		{post, "/staff/phone/verify/confirm", StaffFull, agent.PermConversationReply, h(s.handleStaffPhoneConfirm)},
		{get, "/staff/phone/report", StaffFull, agent.PermReportRead, h(s.handleStaffPhoneReport)},
	}
}

// phoneQueueRow is one callback of the queue.
type phoneQueueRow struct {
	Ref, Number, Topic, Window, Source, State string
	Customer                                  string
	Attempts                                  int
	Overdue                                   bool
	Mine, Taken                               bool
}

// staffPhoneData is the content of staff_phone.html.
type staffPhoneData struct {
	staffNav
	Rows     []phoneQueueRow
	CanAct   bool
	Outcomes []callbackOption
	// Conversation is the verification panel's conversation reference;
	// Level its caller's identity level text.
	Conversation string
	Level        string
	Verified     bool
	Pending      bool
	Error        string
	CanReport    bool
}

func (s *Server) handleStaffPhone(w http.ResponseWriter, r *http.Request) {
	s.renderStaffPhone(w, r, http.StatusOK, "", r.URL.Query().Get("conversation"))
}

func (s *Server) renderStaffPhone(w http.ResponseWriter, r *http.Request, status int, errText, convRef string) {
	if s.phone == nil || s.pages[pageStaffPhone] == nil {
		s.staffError(w, r, http.StatusNotFound, "notfound.title", "notfound.body")
		return
	}
	a := staffFrom(r)
	p := s.staffPage(r, "phone.staff.title")
	switch r.URL.Query().Get("done") {
	case "claimed":
		p.Notice = p.T("phone.staff.claimed")
	case "logged":
		p.Notice = p.T("phone.staff.logged")
	case "sent":
		p.Notice = p.T("phone.staff.verify.sent")
	case "verified":
		p.Notice = p.T("phone.staff.verify.ok")
	}
	d := staffPhoneData{staffNav: s.navFor(r), CanAct: agent.Can(a.agent, agent.PermConversationReply), Error: errText,
		CanReport: agent.Can(a.agent, agent.PermReportRead)}
	for _, o := range phone.Outcomes() {
		d.Outcomes = append(d.Outcomes, callbackOption{Value: o, Label: p.T("phone.staff.outcome." + o)})
	}
	q, err := s.phone.svc.Queue(r.Context(), 100)
	if err != nil {
		s.staffInternal(w, r, err)
		return
	}
	now := s.phone.svc.Clock.Now()
	for _, c := range q {
		// In the agent's time zone (the customer's own is in their note).
		from, to := c.WindowStart.In(p.zone()), c.WindowEnd.In(p.zone())
		row := phoneQueueRow{Ref: c.Ref(), Number: maskedNumber(c.Phone), Topic: desk.CategoryLabel(s.cat, p.Lang, c.Topic),
			Window: from.Format("01-02 15:04") + "–" + to.Format("15:04") + " " + utcOffset(from),
			Source: p.T("phone.staff.source." + c.Source), State: c.State, Attempts: c.Attempts, Overdue: c.WindowEnd.Before(now),
			Mine:     c.State == phone.StateDialing && c.ClaimedBy == a.agent.ID,
			Taken:    c.State == phone.StateDialing && c.ClaimedBy != a.agent.ID,
			Customer: "–"}
		if c.CustomerID != 0 {
			row.Customer = ids.Format(identity.UserPrefix, c.CustomerID)
		}
		d.Rows = append(d.Rows, row)
	}
	if id, ok := desk.ParseConversationRef(convRef); ok {
		d.Conversation = convRef
		l, err := s.phone.svc.Level(r.Context(), id)
		if err != nil {
			s.staffInternal(w, r, err)
			return
		}
		d.Verified, d.Pending = l.Verified(), l.Pending != nil
		d.Level = phoneLevelText(p, l)
	}
	p.Status = status
	p.Data = d
	s.render(w, r, pageStaffPhone, p)
}

// phoneLevelText says how far a caller is verified.
func phoneLevelText(p *page, l *phone.IdentityLevel) string {
	switch {
	case l.Verified():
		return p.T("phone.staff.verify.level.verified", "Method", p.T("phone.staff.verify.method."+l.Method), "Until", p.Time(l.Until))
	case l.Refused:
		return p.T("phone.staff.verify.level.refused")
	case l.Pending != nil:
		return p.T("phone.staff.verify.level.pending")
	}
	return p.T("phone.staff.verify.level.unverified")
}

// phoneDeskPanel is the caller verification panel of a phone
// conversation's desk page (staff_desk_conversation.html): its identity
// level and, for agents who may reply, the forms that post to
// /staff/phone/verify and /staff/phone/verify/confirm and come back.
type phoneDeskPanel struct {
	Level                      string
	Verified, Refused, Pending bool
	CanAct                     bool
	// Error is why the last send or check from this page failed.
	Error string
}

// phoneDeskPanel returns the panel of conversation c (nil when it is not
// a phone conversation with a customer or the phone channel is off).
func (s *Server) phoneDeskPanel(r *http.Request, p *page, c *desk.Conversation, canAct bool) (*phoneDeskPanel, error) {
	if s.phone == nil || c.Channel != desk.ChannelPhone || c.CustomerID == 0 {
		return nil, nil
	}
	l, err := s.phone.svc.Level(r.Context(), c.ID)
	if err != nil {
		return nil, err
	}
	return &phoneDeskPanel{Level: phoneLevelText(p, l), Verified: l.Verified(), Refused: l.Refused, Pending: l.Pending != nil,
		CanAct: canAct && c.Status != desk.StatusClosed, Error: s.phoneDeskError(p, r.URL.Query().Get("phone_error"))}, nil
}

// phoneDeskError is the text of an error code a verification form sent
// back to the desk page: the catalog's detail of a known code, a general
// text for another one. Only the code travels in the address, never a
// text, so a crafted link cannot put words on an agent's page.
func (s *Server) phoneDeskError(p *page, c string) string {
	if c == "" {
		return ""
	}
	if id := "problem." + c + ".detail"; s.cat.Has(id) {
		return p.T(id)
	}
	return p.T("phone.staff.desk.verify.failed")
}

// phoneVerifyDone is where a verification form goes back to: the desk
// conversation page when it came from there (back=desk), else the phone
// page with done.
func phoneVerifyDone(r *http.Request, ref, done string) string {
	if r.PostFormValue("back") == "desk" {
		return "/staff/desk/conversation?id=" + ref + "#phone-verify"
	}
	return "/staff/phone?done=" + done + "&conversation=" + ref
}

// staffPhoneFailed shows err on the page: the domain's refusals with
// their text and a fitting status, anything else as an internal error.
func (s *Server) staffPhoneFailed(w http.ResponseWriter, r *http.Request, err error, convRef string) {
	c := code(err)
	if convRef != "" && r.PostFormValue("back") == "desk" && c != okpay.EInternal && c != "" {
		// Back to the conversation the form was on, with the reason.
		redirect(w, r, "/staff/desk/conversation?id="+url.QueryEscape(convRef)+"&phone_error="+url.QueryEscape(c)+"#phone-verify")
		return
	}
	status := http.StatusConflict
	switch c {
	case okpay.EInternal, "":
		s.staffInternal(w, r, err)
		return
	case okpay.ENotFound:
		status = http.StatusNotFound
	case okpay.EInvalid, phone.EWrongCode:
		status = http.StatusUnprocessableEntity
	case phone.ETooManyChallenges:
		status = http.StatusTooManyRequests
	case okpay.EUnavailable:
		status = http.StatusServiceUnavailable
	}
	p := s.newPage(r)
	text := okpay.ErrorMessage(err)
	if id := "problem." + c + ".detail"; s.cat.Has(id) && c != okpay.EInvalid {
		text = p.T(id)
	}
	if c == phone.EWrongCode {
		text = okpay.ErrorMessage(err) // says how many tries are left
	}
	s.renderStaffPhone(w, r, status, text, convRef)
}

func (s *Server) staffCallbackID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	if s.phone == nil {
		s.staffError(w, r, http.StatusNotFound, "notfound.title", "notfound.body")
		return 0, false
	}
	id, ok := phone.ParseCallbackRef(r.PostFormValue("callback"))
	if !ok {
		s.staffPhoneFailed(w, r, okpay.Errorf(okpay.ENotFound, "No such callback."), "")
		return 0, false
	}
	return id, true
}

func (s *Server) handleStaffPhoneClaim(w http.ResponseWriter, r *http.Request) {
	id, ok := s.staffCallbackID(w, r)
	if !ok {
		return
	}
	if _, err := s.phone.svc.Claim(r.Context(), staffFrom(r).agent.ID, id); err != nil {
		s.staffPhoneFailed(w, r, err, "")
		return
	}
	redirect(w, r, "/staff/phone?done=claimed")
}

func (s *Server) handleStaffPhoneOutcome(w http.ResponseWriter, r *http.Request) {
	id, ok := s.staffCallbackID(w, r)
	if !ok {
		return
	}
	c, err := s.phone.svc.LogOutcome(r.Context(), staffFrom(r).agent.ID, id, r.PostFormValue("outcome"), r.PostFormValue("notes"))
	if err != nil {
		s.staffPhoneFailed(w, r, err, "")
		return
	}
	to := "/staff/phone?done=logged"
	if c.ConversationID != 0 {
		to += "&conversation=" + desk.ConversationRef(c.ConversationID)
	}
	redirect(w, r, to)
}

// phoneActor is the signed-in agent as the phone service records it.
func (s *Server) phoneActor(w http.ResponseWriter, r *http.Request) phone.Actor {
	a := staffFrom(r).agent
	return phone.Actor{AgentID: a.ID, AgentRef: a.Ref(), Roles: support.RoleText(a), IP: s.clientIP.IP(r), RequestID: w.Header().Get("X-Request-Id")}
}

func (s *Server) staffConvID(w http.ResponseWriter, r *http.Request) (int64, string, bool) {
	if s.phone == nil {
		s.staffError(w, r, http.StatusNotFound, "notfound.title", "notfound.body")
		return 0, "", false
	}
	ref := r.PostFormValue("conversation")
	id, ok := desk.ParseConversationRef(ref)
	if !ok {
		s.staffPhoneFailed(w, r, okpay.Errorf(okpay.ENotFound, "No such conversation."), "")
		return 0, "", false
	}
	return id, ref, true
}

func (s *Server) handleStaffPhoneVerify(w http.ResponseWriter, r *http.Request) {
	id, ref, ok := s.staffConvID(w, r)
	if !ok {
		return
	}
	if _, err := s.phone.svc.SendChallenge(r.Context(), s.phoneActor(w, r), id, r.PostFormValue("method")); err != nil {
		s.staffPhoneFailed(w, r, err, ref)
		return
	}
	redirect(w, r, phoneVerifyDone(r, ref, "sent"))
}

func (s *Server) handleStaffPhoneConfirm(w http.ResponseWriter, r *http.Request) {
	id, ref, ok := s.staffConvID(w, r)
	if !ok {
		return
	}
	if _, err := s.phone.svc.ConfirmCode(r.Context(), s.phoneActor(w, r), id, r.PostFormValue("code")); err != nil {
		s.staffPhoneFailed(w, r, err, ref)
		return
	}
	redirect(w, r, phoneVerifyDone(r, ref, "verified"))
}

// phoneReportRow is one line of the report.
type phoneReportRow struct {
	Day                                      string
	Calls, Answered, Missed, Callbacks       int
	WaitMedian, WaitP90, TalkMedian, TalkP90 string
}

// staffPhoneReportData is the content of staff_phone_report.html.
type staffPhoneReportData struct {
	staffNav
	Periods []reportOption
	Rows    []phoneReportRow
	Total   phoneReportRow
}

func (s *Server) handleStaffPhoneReport(w http.ResponseWriter, r *http.Request) {
	if s.phone == nil || s.pages[pagePhoneRep] == nil {
		s.staffError(w, r, http.StatusNotFound, "notfound.title", "notfound.body")
		return
	}
	days := 7
	if n, err := strconv.Atoi(r.URL.Query().Get("days")); err == nil && (n == 7 || n == 30) {
		days = n
	}
	end := s.phone.svc.Clock.Now().UTC().Truncate(24 * time.Hour).Add(24 * time.Hour)
	rep, err := s.phone.svc.Report(r.Context(), end.Add(-time.Duration(days)*24*time.Hour), end)
	if err != nil {
		s.staffInternal(w, r, err)
		return
	}
	p := s.staffPage(r, "phone.report.title")
	secs := func(d time.Duration, n int) string {
		if n == 0 {
			return p.T("phone.report.none")
		}
		return p.T("phone.report.seconds", "S", int64((d+500*time.Millisecond)/time.Second))
	}
	row := func(label string, c phone.CallDay) phoneReportRow {
		return phoneReportRow{Day: label, Calls: c.Calls, Answered: c.Answered, Missed: c.Missed, Callbacks: c.Callbacks,
			WaitMedian: secs(c.Wait.Median, c.Wait.Count), WaitP90: secs(c.Wait.P90, c.Wait.Count),
			TalkMedian: secs(c.Talk.Median, c.Talk.Count), TalkP90: secs(c.Talk.P90, c.Talk.Count)}
	}
	d := staffPhoneReportData{staffNav: s.navFor(r), Total: row(p.T("phone.report.total"), rep.Total)}
	for _, n := range []int{7, 30} {
		d.Periods = append(d.Periods, reportOption{Value: strconv.Itoa(n), Label: p.T("reports.period.days", "N", n), Selected: n == days})
	}
	for _, day := range rep.Days {
		d.Rows = append(d.Rows, row(day.Day.Format("2006-01-02"), day))
	}
	p.Data = d
	s.render(w, r, pagePhoneRep, p)
}
