package web

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/agent"
	"github.com/okpay/okpay/i18n"
)

// ---- Home ----

// staffHomeData is the content of staff_home.html.
type staffHomeData struct {
	staffNav
	Agent       *agent.Agent
	Roles       []agent.Role
	Permissions []agent.Permission
	Sudo        bool
	SudoUntil   time.Time
}

// handleStaffHome lists what the agent's roles allow.
func (s *Server) handleStaffHome(w http.ResponseWriter, r *http.Request) {
	a := staffFrom(r)
	p := s.staffPage(r, "staff.home.page_title")
	p.Data = staffHomeData{staffNav: s.navFor(r), Agent: a.agent, Roles: a.agent.Roles, Permissions: a.agent.Permissions(),
		Sudo: s.staff.svc.Sudo(a.session), SudoUntil: s.staff.svc.SudoUntil(a.session)}
	s.render(w, r, pageStaffHome, p)
}

// actor is the signed-in agent as the acting administrator.
func (a *staffAuth) actor() agent.Actor { return agent.Actor{Agent: a.agent, Session: a.session} }

// ---- Agents ----

// choice is one checkbox of a set.
type choice struct {
	Value   string
	Label   string
	Checked bool
}

// staffAgentsData is the content of staff_agents.html.
type staffAgentsData struct {
	staffNav
	Agents []*agent.Agent
	Roles  []choice
	Teams  []choice
	Langs  []choice
	// StepUp: the last action needs the passkey again first.
	StepUp bool
	Notice string
}

// staffAgentData is the content of staff_agent.html (one agent).
type staffAgentData struct {
	staffNav
	Agent  *agent.Agent
	Roles  []choice
	Teams  []choice
	Langs  []choice
	Self   bool
	StepUp bool
}

// roleChoices returns the role checkboxes, checked where in has the role.
func (p *page) roleChoices(in []agent.Role) []choice {
	var out []choice
	for _, r := range agent.Roles() {
		out = append(out, choice{Value: string(r), Label: p.RoleName(r), Checked: slices.Contains(in, r)})
	}
	return out
}

func (p *page) langChoices(in []i18n.Lang) []choice {
	var out []choice
	for _, l := range i18n.Langs() {
		out = append(out, choice{Value: string(l), Label: p.LangName(l), Checked: slices.Contains(in, l)})
	}
	return out
}

// LangName names a language as the language switch does (English, 简体中文),
// in that language whatever the page's; an unknown code shows as it is.
func (p *page) LangName(l i18n.Lang) string {
	switch l {
	case i18n.En:
		return p.T("lang.en")
	case i18n.ZhCN:
		return p.T("lang.zh")
	}
	return string(l)
}

func teamChoices(teams []*agent.Team, in []string) []choice {
	var out []choice
	for _, t := range teams {
		out = append(out, choice{Value: t.Name, Label: t.Name, Checked: slices.Contains(in, t.Name)})
	}
	return out
}

// agentForm reads the checkbox sets and fields of an agent form. Unknown
// values are passed on for the service to refuse.
func agentForm(r *http.Request) (roles []agent.Role, teams []string, langs []i18n.Lang, badLang bool) {
	for _, v := range r.PostForm["roles"] {
		roles = append(roles, agent.Role(v))
	}
	teams = r.PostForm["teams"]
	for _, v := range r.PostForm["languages"] {
		l, ok := i18n.ParseLang(v)
		if !ok {
			badLang = true
			continue
		}
		langs = append(langs, l)
	}
	return roles, teams, langs, badLang
}

func (s *Server) staffAgentsPage(w http.ResponseWriter, r *http.Request, f *form, roles []agent.Role, teams []string, langs []i18n.Lang) (*page, bool) {
	p := s.staffPage(r, "staff.agents.page_title")
	p.Script = true
	p.Form = f
	list, err := s.staff.svc.List(r.Context(), agent.Filter{})
	if err != nil {
		s.staffInternal(w, r, err)
		return nil, false
	}
	all, err := s.staff.svc.Teams(r.Context())
	if err != nil {
		s.staffInternal(w, r, err)
		return nil, false
	}
	p.Data = staffAgentsData{staffNav: s.navFor(r), Agents: list, Roles: p.roleChoices(roles), Teams: teamChoices(all, teams), Langs: p.langChoices(langs)}
	return p, true
}

func (s *Server) handleStaffAgents(w http.ResponseWriter, r *http.Request) {
	p, ok := s.staffAgentsPage(w, r, newForm(), []agent.Role{agent.RoleAgent}, []string{"general"}, i18n.Langs())
	if !ok {
		return
	}
	switch r.URL.Query().Get("done") {
	case "disabled":
		p.Notice = p.T("staff.notice.disabled")
	case "enabled":
		p.Notice = p.T("staff.notice.enabled")
	}
	s.render(w, r, pageStaffAgents, p)
}

// staffLinkData is the content of the page that shows an enrolment link
// once (staff_message.html with the link).
type staffLinkData = staffMessageData

// showEnrollmentLink shows a new agent's (or a reset) enrolment link,
// once: it is never stored, and never sent in a redirect's URL.
func (s *Server) showEnrollmentLink(w http.ResponseWriter, r *http.Request, a *agent.Agent, enr *agent.Enrollment, noticeID string) {
	p := s.staffPage(r, "staff.link.title")
	p.NoReferrer = true
	p.Heading = p.T("staff.link.title")
	p.Data = staffLinkData{staffNav: s.navFor(r), TestID: "enrollment-link", Status: http.StatusOK,
		Body: []string{
			p.T(noticeID, "Name", a.DisplayName, "Email", a.Email),
			enr.URL,
			p.T("staff.link.once"),
			p.T("staff.link.expires", "Time", p.Time(enr.ExpiresAt)),
		},
		LinkHref: "/staff/agents", LinkText: p.T("staff.link.back")}
	s.render(w, r, pageStaffMessage, p)
}

// handleStaffAgentCreate creates an agent and shows its enrolment link.
func (s *Server) handleStaffAgentCreate(w http.ResponseWriter, r *http.Request) {
	a := staffFrom(r)
	f := newForm().keep(r, "email", "display_name", "reason")
	roles, teams, langs, badLang := agentForm(r)
	p, ok := s.staffAgentsPage(w, r, f, roles, teams, langs)
	if !ok {
		return
	}
	if badLang {
		langs = nil
	}
	created, enr, err := s.staff.svc.Create(r.Context(), a.actor(), agent.NewAgent{Email: f.Value("email"), DisplayName: f.Value("display_name"),
		Roles: roles, Teams: teams, Languages: langs, Reason: f.Value("reason")}, s.staffMeta(w, r))
	if err != nil {
		if !p.staffActionError(f, err, "staff.error.email_taken") {
			s.staffInternal(w, r, err)
			return
		}
		d := p.Data.(staffAgentsData)
		d.StepUp = code(err) == agent.EStepUpRequired
		p.Data = d
		s.render(w, r, pageStaffAgents, p)
		return
	}
	s.showEnrollmentLink(w, r, created, enr, "staff.link.created")
}

// staffAgentID reads the {id} of an agent route ("agt_...").
func staffAgentID(r *http.Request) (int64, bool) { return agent.ParseRef(r.PathValue("id")) }

func (s *Server) staffAgentPage(w http.ResponseWriter, r *http.Request, id int64, f *form, up *agent.Agent) (*page, bool) {
	a := staffFrom(r)
	target, err := s.staff.svc.Find(r.Context(), id)
	if err != nil {
		if code(err) == okpay.ENotFound {
			s.staffError(w, r, http.StatusNotFound, "notfound.title", "notfound.body")
			return nil, false
		}
		s.staffInternal(w, r, err)
		return nil, false
	}
	teams, err := s.staff.svc.Teams(r.Context())
	if err != nil {
		s.staffInternal(w, r, err)
		return nil, false
	}
	shown := target
	if up != nil {
		shown = up // what was submitted, on a refused change
	}
	p := s.staffPage(r, "staff.agent.page_title")
	p.Form = f
	p.Data = staffAgentData{staffNav: s.navFor(r), Agent: target, Roles: p.roleChoices(shown.Roles), Teams: teamChoices(teams, shown.Teams),
		Langs: p.langChoices(shown.Languages), Self: target.ID == a.agent.ID}
	return p, true
}

func (s *Server) handleStaffAgentPage(w http.ResponseWriter, r *http.Request) {
	id, ok := staffAgentID(r)
	if !ok {
		s.staffError(w, r, http.StatusNotFound, "notfound.title", "notfound.body")
		return
	}
	p, ok := s.staffAgentPage(w, r, id, newForm(), nil)
	if !ok {
		return
	}
	if r.URL.Query().Get("done") == "updated" {
		p.Notice = p.T("staff.notice.updated")
	}
	s.render(w, r, pageStaffAgent, p)
}

// staffAgentFailed shows the agent page with a refused change.
func (s *Server) staffAgentFailed(w http.ResponseWriter, r *http.Request, id int64, f *form, up *agent.Agent, err error, conflictID string) {
	p, ok := s.staffAgentPage(w, r, id, f, up)
	if !ok {
		return
	}
	if code(err) == okpay.ENotFound {
		s.staffError(w, r, http.StatusNotFound, "notfound.title", "notfound.body")
		return
	}
	if !p.staffActionError(f, err, conflictID) {
		s.staffInternal(w, r, err)
		return
	}
	d := p.Data.(staffAgentData)
	d.StepUp = code(err) == agent.EStepUpRequired
	p.Data = d
	s.render(w, r, pageStaffAgent, p)
}

// handleStaffAgentUpdate changes an agent's name, roles, teams and
// languages.
func (s *Server) handleStaffAgentUpdate(w http.ResponseWriter, r *http.Request) {
	a := staffFrom(r)
	id, ok := staffAgentID(r)
	if !ok {
		s.staffError(w, r, http.StatusNotFound, "notfound.title", "notfound.body")
		return
	}
	f := newForm().keep(r, "display_name", "reason")
	roles, teams, langs, badLang := agentForm(r)
	if badLang {
		langs = nil
	}
	name := f.Value("display_name")
	up := agent.Update{DisplayName: &name, Roles: &roles, Teams: &teams, Languages: &langs, Reason: f.Value("reason")}
	if _, err := s.staff.svc.UpdateAgent(r.Context(), a.actor(), id, up, s.staffMeta(w, r)); err != nil {
		s.staffAgentFailed(w, r, id, f, &agent.Agent{Roles: roles, Teams: teams, Languages: langs}, err, "staff.error.conflict")
		return
	}
	redirect(w, r, "/staff/agents/"+agent.Ref(id)+"?done=updated")
}

// handleStaffAgentDisable closes an agent's account; their sessions end.
func (s *Server) handleStaffAgentDisable(w http.ResponseWriter, r *http.Request) {
	s.staffAgentStatus(w, r, true)
}

func (s *Server) handleStaffAgentEnable(w http.ResponseWriter, r *http.Request) {
	s.staffAgentStatus(w, r, false)
}

func (s *Server) staffAgentStatus(w http.ResponseWriter, r *http.Request, disable bool) {
	a := staffFrom(r)
	id, ok := staffAgentID(r)
	if !ok {
		s.staffError(w, r, http.StatusNotFound, "notfound.title", "notfound.body")
		return
	}
	f := newForm().keep(r, "reason")
	var err error
	done := "enabled"
	if disable {
		done = "disabled"
		err = s.staff.svc.Disable(r.Context(), a.actor(), id, f.Value("reason"), s.staffMeta(w, r))
	} else {
		err = s.staff.svc.Enable(r.Context(), a.actor(), id, f.Value("reason"), s.staffMeta(w, r))
	}
	if err != nil {
		s.staffAgentFailed(w, r, id, f, nil, err, "staff.error.conflict")
		return
	}
	redirect(w, r, "/staff/agents?done="+done)
}

// handleStaffAgentReset issues a new enrolment link (factors withdrawn)
// and shows it once.
func (s *Server) handleStaffAgentReset(w http.ResponseWriter, r *http.Request) {
	a := staffFrom(r)
	id, ok := staffAgentID(r)
	if !ok {
		s.staffError(w, r, http.StatusNotFound, "notfound.title", "notfound.body")
		return
	}
	f := newForm().keep(r, "reason")
	enr, err := s.staff.svc.ResetSignIn(r.Context(), a.actor(), id, f.Value("reason"), s.staffMeta(w, r))
	if err != nil {
		s.staffAgentFailed(w, r, id, f, nil, err, "staff.error.conflict")
		return
	}
	target, err := s.staff.svc.Find(r.Context(), id)
	if err != nil {
		s.staffInternal(w, r, err)
		return
	}
	s.showEnrollmentLink(w, r, target, enr, "staff.link.reset")
}

// ---- Teams ----

// staffTeamsData is the content of staff_teams.html: the teams, and one
// form that creates a team or, opened from a team's "edit" link, changes
// it.
type staffTeamsData struct {
	staffNav
	Teams      []*agent.Team
	Editing    bool // the form holds an existing team
	AlwaysOpen bool
	Langs      []choice
	StepUp     bool
}

func (s *Server) staffTeamsPage(w http.ResponseWriter, r *http.Request, f *form) (*page, bool) {
	teams, err := s.staff.svc.Teams(r.Context())
	if err != nil {
		s.staffInternal(w, r, err)
		return nil, false
	}
	p := s.staffPage(r, "staff.teams.page_title")
	p.Form = f
	p.Data = staffTeamsData{staffNav: s.navFor(r), Teams: teams, Langs: p.langChoices(i18n.Langs())}
	return p, true
}

func (s *Server) handleStaffTeams(w http.ResponseWriter, r *http.Request) {
	f := newForm()
	f.values["time_zone"] = "Asia/Shanghai"
	p, ok := s.staffTeamsPage(w, r, f)
	if !ok {
		return
	}
	d := p.Data.(staffTeamsData)
	if name := r.URL.Query().Get("team"); name != "" {
		for _, t := range d.Teams {
			if t.Name == name {
				f.values["name"], f.values["time_zone"], f.values["schedule"] = t.Name, t.TimeZone, t.Schedule.String()
				d.Editing, d.AlwaysOpen, d.Langs = true, t.AlwaysOpen, p.langChoices(t.Languages)
			}
		}
	}
	p.Data = d
	if r.URL.Query().Get("done") == "saved" {
		p.Notice = p.T("staff.notice.team_saved")
	}
	s.render(w, r, pageStaffTeams, p)
}

// handleStaffTeamSave creates a team or changes one's languages, hours
// and time zone.
func (s *Server) handleStaffTeamSave(w http.ResponseWriter, r *http.Request) {
	a := staffFrom(r)
	f := newForm().keep(r, "name", "time_zone", "schedule", "reason")
	_, _, langs, badLang := agentForm(r)
	if badLang {
		langs = nil
	}
	name := strings.ToLower(strings.TrimSpace(f.Value("name")))
	in := agent.TeamInput{Languages: langs, AlwaysOpen: r.PostForm.Get("always_open") == "1", TimeZone: strings.TrimSpace(f.Value("time_zone")),
		Schedule: f.Value("schedule"), Reason: f.Value("reason")}
	if _, err := s.staff.svc.SaveTeam(r.Context(), a.actor(), name, in, s.staffMeta(w, r)); err != nil {
		p, ok := s.staffTeamsPage(w, r, f)
		if !ok {
			return
		}
		if !p.staffActionError(f, err, "staff.error.conflict") {
			s.staffInternal(w, r, err)
			return
		}
		d := p.Data.(staffTeamsData)
		d.StepUp = code(err) == agent.EStepUpRequired
		d.AlwaysOpen = in.AlwaysOpen
		d.Langs = p.langChoices(langs)
		for _, t := range d.Teams {
			d.Editing = d.Editing || t.Name == name
		}
		p.Data = d
		s.render(w, r, pageStaffTeams, p)
		return
	}
	redirect(w, r, "/staff/teams?done=saved")
}
