package web

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/agent"
	"github.com/okpay/okpay/desk"
)

// The desk's settings page (/staff/desk/settings, agent:manage: the
// administrators): the targets of every SLA policy (first response, next
// response and resolution, in minutes, for the policy's channel, category
// and priority) and each active agent's chat capacity. Policies are added
// (a form under the table) and removed (a button per row) there too. Each
// form changes one policy or one agent; package desk audits every change
// with the administrator, the request and the values before and after.

const pageStaffDeskSettings = "staff_desk_settings.html"

// staffDeskSettingsRoutes are the page's routes (staffDeskRoutingRoutes'
// neighbours in StaffRoutes list them through staffDeskRoutes).
func (s *Server) staffDeskSettingsRoutes() []StaffRoute {
	h := func(f func(http.ResponseWriter, *http.Request)) http.Handler { return http.HandlerFunc(f) }
	return []StaffRoute{
		{http.MethodGet, "/staff/desk/settings", StaffFull, agent.PermAgentManage, h(s.handleDeskSettings)},
		{http.MethodPost, "/staff/desk/settings/sla", StaffFull, agent.PermAgentManage, h(s.handleDeskSettingsSLA)},
		{http.MethodPost, "/staff/desk/settings/sla/add", StaffFull, agent.PermAgentManage, h(s.handleDeskSettingsSLAAdd)},
		{http.MethodPost, "/staff/desk/settings/sla/remove", StaffFull, agent.PermAgentManage, h(s.handleDeskSettingsSLARemove)},
		{http.MethodPost, "/staff/desk/settings/capacity", StaffFull, agent.PermAgentManage, h(s.handleDeskSettingsCapacity)},
	}
}

// deskSettingsPolicy is a policy row of the page.
type deskSettingsPolicy struct {
	*desk.SLAPolicy
	// Minutes of the three targets, as the form shows them.
	First, Next, Resolution string
	// Error is the refusal of the last save of this row.
	Error string
}

// deskSettingsAgent is an agent row of the page.
type deskSettingsAgent struct {
	Ref      string
	Name     string
	Capacity int
	Error    string
}

// deskSettingsNewPolicy is the "add a policy" form: what was typed and,
// after a refusal, the message of each refused part (name, match,
// targets).
type deskSettingsNewPolicy struct {
	Name, Channel, Category, Priority string
	First, Next, Resolution           string
	BusinessHours                     bool
	Errors                            map[string]string
}

// staffDeskSettingsData is the content of staff_desk_settings.html.
type staffDeskSettingsData struct {
	staffNav
	Policies []deskSettingsPolicy
	Agents   []deskSettingsAgent
	New      deskSettingsNewPolicy
	// The choices of the add form.
	Channels   []desk.Channel
	Categories []desk.Category
	Priorities []desk.Priority
}

// DeskChannel returns the label of a conversation channel.
func (p *page) DeskChannel(ch desk.Channel) string { return desk.ChannelLabel(p.s.cat, p.Lang, ch) }

func minutesOf(d time.Duration) string { return strconv.FormatInt(int64(d/time.Minute), 10) }

// deskSettingsPage builds the page; failed names the row whose save was
// refused with its message. False: an answer was sent.
func (s *Server) deskSettingsPage(w http.ResponseWriter, r *http.Request, svc *desk.Service, failed, msg string) (*page, bool) {
	pols, err := svc.SLAPolicies(r.Context())
	if err != nil {
		s.staffInternal(w, r, err)
		return nil, false
	}
	agents, err := s.staff.svc.List(r.Context(), agent.Filter{Status: agent.StatusActive})
	if err != nil {
		s.staffInternal(w, r, err)
		return nil, false
	}
	p := s.staffPage(r, "console.settings.page_title")
	d := staffDeskSettingsData{staffNav: s.navFor(r), Channels: desk.Channels(), Categories: desk.Categories(), Priorities: desk.Priorities()}
	for _, pol := range pols {
		row := deskSettingsPolicy{SLAPolicy: pol, First: minutesOf(pol.FirstResponse), Next: minutesOf(pol.NextResponse), Resolution: minutesOf(pol.Resolution)}
		if failed == "sla:"+pol.Name {
			row.Error = msg
		}
		d.Policies = append(d.Policies, row)
	}
	for _, a := range agents {
		pr, err := svc.AgentPresence(r.Context(), a.ID)
		if err != nil {
			s.staffInternal(w, r, err)
			return nil, false
		}
		row := deskSettingsAgent{Ref: a.Ref(), Name: a.DisplayName, Capacity: pr.Capacity}
		if failed == a.Ref() {
			row.Error = msg
		}
		d.Agents = append(d.Agents, row)
	}
	p.Data = d
	return p, true
}

func (s *Server) handleDeskSettings(w http.ResponseWriter, r *http.Request) {
	svc := s.deskService(w, r)
	if svc == nil {
		return
	}
	p, ok := s.deskSettingsPage(w, r, svc, "", "")
	if !ok {
		return
	}
	p.doneNotice(r, "console.settings.done.", "sla", "capacity", "sla_added", "sla_removed")
	s.render(w, r, pageStaffDeskSettings, p)
}

// formMinutes reads a whole number of minutes (-1 when it is not one).
func formMinutes(v string) time.Duration {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || n > int64(desk.MaxSLATarget/time.Minute) {
		return -1
	}
	return time.Duration(n) * time.Minute
}

// optMinutes is formMinutes where an empty field means no target.
func optMinutes(v string) time.Duration {
	if strings.TrimSpace(v) == "" {
		return 0
	}
	return formMinutes(strings.TrimSpace(v))
}

func (s *Server) handleDeskSettingsSLA(w http.ResponseWriter, r *http.Request) {
	svc := s.deskService(w, r)
	if svc == nil {
		return
	}
	name := r.PostForm.Get("policy")
	in := desk.SLATargets{FirstResponse: formMinutes(r.PostForm.Get("first_response")),
		NextResponse: formMinutes(r.PostForm.Get("next_response")), Resolution: formMinutes(r.PostForm.Get("resolution"))}
	_, err := svc.UpdateSLAPolicy(r.Context(), s.cannedActor(w, r), name, in)
	s.deskSettingsDone(w, r, svc, err, "sla:"+name, "sla")
}

// handleDeskSettingsSLAAdd adds a policy; a refusal shows the page again
// with the form as typed and a message per refused part.
func (s *Server) handleDeskSettingsSLAAdd(w http.ResponseWriter, r *http.Request) {
	svc := s.deskService(w, r)
	if svc == nil {
		return
	}
	f := deskSettingsNewPolicy{Name: strings.TrimSpace(r.PostForm.Get("name")), Channel: r.PostForm.Get("channel"),
		Category: r.PostForm.Get("category"), Priority: r.PostForm.Get("priority"), First: r.PostForm.Get("first_response"),
		Next: r.PostForm.Get("next_response"), Resolution: r.PostForm.Get("resolution"), BusinessHours: r.PostForm.Get("business_hours") == "yes"}
	in := desk.NewSLAPolicy{Name: f.Name, Channel: desk.Channel(f.Channel), Category: desk.Category(f.Category), Priority: desk.Priority(f.Priority),
		SLATargets:    desk.SLATargets{FirstResponse: optMinutes(f.First), NextResponse: optMinutes(f.Next), Resolution: optMinutes(f.Resolution)},
		BusinessHours: f.BusinessHours}
	_, err := svc.AddSLAPolicy(r.Context(), s.cannedActor(w, r), in)
	switch code(err) {
	case "":
		redirect(w, r, "/staff/desk/settings?done=sla_added")
		return
	case okpay.EInvalid, okpay.EConflict:
	default:
		s.staffInternal(w, r, err)
		return
	}
	p, ok := s.deskSettingsPage(w, r, svc, "", "")
	if !ok {
		return
	}
	f.Errors = map[string]string{}
	var e *okpay.Error
	if errors.As(err, &e) {
		for field, reason := range e.Fields {
			f.Errors[field] = p.T("console.settings.error." + reason)
		}
	}
	d := p.Data.(staffDeskSettingsData)
	d.New = f
	p.Data = d
	p.Status = http.StatusUnprocessableEntity
	if code(err) == okpay.EConflict {
		p.Status = http.StatusConflict
	}
	s.render(w, r, pageStaffDeskSettings, p)
}

// handleDeskSettingsSLARemove removes a policy; refusing to remove the
// last one shows the page again with the message on its row.
func (s *Server) handleDeskSettingsSLARemove(w http.ResponseWriter, r *http.Request) {
	svc := s.deskService(w, r)
	if svc == nil {
		return
	}
	name := r.PostForm.Get("policy")
	err := svc.RemoveSLAPolicy(r.Context(), s.cannedActor(w, r), name)
	switch code(err) {
	case "":
		redirect(w, r, "/staff/desk/settings?done=sla_removed")
		return
	case okpay.ENotFound:
		s.staffError(w, r, http.StatusNotFound, "notfound.title", "notfound.body")
		return
	case okpay.EConflict:
	default:
		s.staffInternal(w, r, err)
		return
	}
	p0 := s.staffPage(r, "console.settings.page_title")
	p, ok := s.deskSettingsPage(w, r, svc, "sla:"+name, p0.T("console.settings.error."+desk.ReasonPolicyLast))
	if !ok {
		return
	}
	p.Status = http.StatusConflict
	s.render(w, r, pageStaffDeskSettings, p)
}

func (s *Server) handleDeskSettingsCapacity(w http.ResponseWriter, r *http.Request) {
	svc := s.deskService(w, r)
	if svc == nil {
		return
	}
	ref := r.PostForm.Get("agent")
	id, ok := agent.ParseRef(ref)
	if ok {
		_, err := s.staff.svc.Find(r.Context(), id)
		ok = err == nil
		if err != nil && code(err) != okpay.ENotFound {
			s.staffInternal(w, r, err)
			return
		}
	}
	if !ok {
		s.staffError(w, r, http.StatusNotFound, "notfound.title", "notfound.body")
		return
	}
	capacity, err := strconv.Atoi(r.PostForm.Get("capacity"))
	if err != nil {
		capacity = -1
	}
	s.deskSettingsDone(w, r, svc, svc.SetAgentCapacity(r.Context(), s.cannedActor(w, r), id, capacity), ref, "capacity")
}

// deskSettingsDone answers a settings POST: back to the page with the
// notice, or the page again with the row's refusal.
func (s *Server) deskSettingsDone(w http.ResponseWriter, r *http.Request, svc *desk.Service, err error, row, done string) {
	switch code(err) {
	case "":
		redirect(w, r, "/staff/desk/settings?done="+done)
		return
	case okpay.ENotFound:
		s.staffError(w, r, http.StatusNotFound, "notfound.title", "notfound.body")
		return
	case okpay.EInvalid:
	default:
		s.staffInternal(w, r, err)
		return
	}
	p0 := s.staffPage(r, "console.settings.page_title")
	p, ok := s.deskSettingsPage(w, r, svc, row, p0.T("console.settings.error."+done))
	if !ok {
		return
	}
	p.Status = http.StatusUnprocessableEntity
	s.render(w, r, pageStaffDeskSettings, p)
}
