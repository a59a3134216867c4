package web

import (
	"context"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/agent"
)

// The staff console at /staff/: sign-in with a password and then always a
// passkey (SUP-01), enrolment from a one-time link, the staff home and the
// administration of agents and teams. Staff pages share the customer
// pages' layout and stylesheet but nothing else: their own cookie
// (__Host-agent, SameSite=Strict), their own sessions (package agent), and
// a route table in which every route names what it needs — nothing, a
// session waiting for its second factor, an enrolment session, or a full
// sign-in with a permission. The table is the truth: Routes wraps each
// handler according to its entry, so a route cannot forget its check, and
// the RBAC matrix test walks it (every route × every role).

// staffCookie holds the staff session token: never the customer's cookie.
const staffCookie = "__Host-agent"

// StaffAccess is what a staff route asks of the request.
type StaffAccess int

// Access levels of the staff routes.
const (
	// StaffPublic routes need no session (sign-in, the enrolment link).
	StaffPublic StaffAccess = iota
	// StaffPending routes need a sign-in session waiting for its second
	// factor (or a full one, for a step-up).
	StaffPending
	// StaffEnroll routes need the session an enrolment link opened.
	StaffEnroll
	// StaffAnySession routes accept any live staff session (sign out).
	StaffAnySession
	// StaffFull routes need a full sign-in (password and passkey) and,
	// when Perm is set, that permission.
	StaffFull
	// StaffSudo routes are StaffFull routes that decide about money (an
	// approval, a withdrawal review, an exchange rate): they also need
	// the second factor within the sudo window (SES-08); otherwise they
	// answer 403 with the "confirm with your passkey" panel, which comes
	// back to the page the form was on.
	StaffSudo
)

// StaffRoute is one staff route: method, ServeMux pattern, what it needs
// and its handler (unwrapped; Routes adds the checks).
type StaffRoute struct {
	Method  string
	Pattern string
	Access  StaffAccess
	// Perm is the permission a StaffFull route needs ("" means any
	// signed-in agent).
	Perm    agent.Permission
	Handler http.Handler
}

// doneNotice shows the notice of the outcome a POST redirected with
// (post-redirect-get: ?done=outcome): the text prefix+outcome, for the
// page's outcomes only.
func (p *page) doneNotice(r *http.Request, prefix string, outcomes ...string) {
	if d := r.URL.Query().Get("done"); d != "" && slices.Contains(outcomes, d) {
		p.Notice = p.T(prefix + d)
	}
}

// MaxBody is the most a POST to the route may send: maxFormBytes, or
// what its table declared with maxBody. (The limit travels with the
// handler rather than as a field so that the route tables stay
// positional.)
func (rt StaffRoute) MaxBody() int64 {
	if b, ok := rt.Handler.(bodyLimited); ok {
		return b.max
	}
	return maxFormBytes
}

// bodyLimited is a handler whose form may be larger than maxFormBytes.
type bodyLimited struct {
	http.Handler
	max int64
}

// maxBody declares a route's body limit (StaffRoute.MaxBody) in its
// table: {post, "/staff/…", StaffFull, perm, maxBody(n, h(…))}.
func maxBody(n int64, h http.Handler) http.Handler { return bodyLimited{Handler: h, max: n} }

// staffState is the console's part of the Server.
type staffState struct {
	svc *agent.Service
	// review is the withdrawal reviewers' part (staff_review.go), nil
	// until EnableWithdrawalReview.
	review *reviewState
	// fx is the exchange-rate page (staff_fx.go), nil until EnableFXAdmin.
	fx *fxAdminState
	// support is the customer panel and approvals (staff_customer.go),
	// nil until EnableSupport.
	support *supportState
}

// Page templates of the staff console; each is parsed with layout.html,
// partials.html and staff_partials.html (which replaces the navigation).
const (
	pageStaffLogin       = "staff_login.html"
	pageStaffVerify      = "staff_verify.html"
	pageStaffEnroll      = "staff_enroll.html"
	pageStaffEnrollStart = "staff_enroll_factor.html"
	pageStaffTOTP        = "staff_totp.html"
	pageStaffPasskey     = "staff_passkey.html"
	pageStaffHome        = "staff_home.html"
	pageStaffAgents      = "staff_agents.html"
	pageStaffAgent       = "staff_agent.html"
	pageStaffTeams       = "staff_teams.html"
	pageStaffMessage     = "staff_message.html"
)

var staffPages = []string{
	pageStaffLogin, pageStaffVerify, pageStaffEnroll, pageStaffEnrollStart, pageStaffTOTP, pageStaffPasskey,
	pageStaffHome, pageStaffAgents, pageStaffAgent, pageStaffTeams, pageStaffMessage,
}

// staffMessageIDs are the ids the staff pages use from Go code.
var staffMessageIDs = []string{
	"staff.app", "staff.login.page_title", "staff.verify.page_title", "staff.enroll.page_title", "staff.enroll.factor.page_title",
	"staff.totp.page_title", "staff.home.page_title", "staff.agents.page_title", "staff.agent.page_title", "staff.teams.page_title",
	"staff.passkey.login.title", "staff.passkey.login.lead", "staff.passkey.login.submit",
	"staff.passkey.enroll.title", "staff.passkey.enroll.lead", "staff.passkey.enroll.submit",
	"staff.passkey.stepup.title", "staff.passkey.stepup.lead",
	"staff.error.credentials", "staff.error.email_required", "staff.error.password_required", "staff.error.password_mismatch",
	"staff.error.code", "staff.error.code_required", "staff.error.totp_off", "staff.error.no_factor", "staff.error.passkey",
	"staff.error.passkey_flow", "staff.error.passkey_cloned", "staff.error.passkey_exists", "staff.error.step_up",
	"staff.error.invalid", "staff.error.conflict", "staff.error.email_taken", "staff.error.last_admin", "staff.error.self", "staff.error.reason", "staff.error.roles",
	"staff.error.languages", "staff.error.teams", "staff.error.email", "staff.error.name", "staff.error.schedule",
	"staff.error.time_zone", "staff.error.team_name",
	"staff.forbidden.title", "staff.forbidden.body", "staff.enroll.invalid.title", "staff.enroll.invalid.body",
	"staff.notice.signed_out", "staff.notice.expired",
	"staff.notice.updated", "staff.notice.disabled", "staff.notice.enabled", "staff.notice.team_saved",
	"staff.link.title", "staff.link.created", "staff.link.reset", "staff.link.once", "staff.link.expires", "staff.link.back",
	"staff.method.passkey", "staff.method.totp",
}

// permissionMessageIDs are the texts of every permission, for the home
// page: "staff.perm.<object>.<action>".
func permissionMessageID(p agent.Permission) string {
	return "staff.perm." + strings.Replace(string(p), ":", ".", 1)
}

// roleMessageID is the name of a role on the pages.
func roleMessageID(r agent.Role) string { return "staff.role." + string(r) }

// initStaff parses the staff pages and checks their texts when the Server
// has a staff service.
// parseStaffPages parses staff page templates, each with the layout, the
// partials and the staff navigation.
func (s *Server) parseStaffPages(names ...string) error {
	for _, name := range names {
		t, err := template.New(name).Option("missingkey=error").
			ParseFS(templateFS, "templates/layout.html", "templates/partials.html", "templates/staff_partials.html", "templates/"+name)
		if err != nil {
			return fmt.Errorf("web: parse %s: %w", name, err)
		}
		s.pages[name] = t
	}
	return nil
}

func (s *Server) initStaff(svc *agent.Service) error {
	if svc == nil {
		return nil
	}
	s.staff = &staffState{svc: svc}
	if err := s.parseStaffPages(staffPages...); err != nil {
		return err
	}
	ids := append([]string(nil), staffMessageIDs...)
	for _, p := range agent.Catalogue() {
		ids = append(ids, permissionMessageID(p))
	}
	for _, r := range agent.Roles() {
		ids = append(ids, roleMessageID(r))
	}
	var missing []string
	for _, id := range ids {
		if !s.cat.Has(id) {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("web: staff message ids missing from the catalog: %v", missing)
	}
	return nil
}

// staffRoutes returns the staff routes as page routes, each wrapped with
// the checks its table entry names (none without a staff service).
func (s *Server) staffRoutes() []Route {
	if s.staff == nil {
		return nil
	}
	var out []Route
	for _, rt := range s.StaffRoutes() {
		out = append(out, Route{Method: rt.Method, Pattern: rt.Pattern, Handler: s.staffGuard(rt)})
	}
	return out
}

// StaffRoutes lists the staff console's routes with what each needs (nil
// without a staff service). Every GET only reads; every change is a POST
// (SES-09). No token travels in a URL (SES-10) except the enrolment
// link's own path, as a freeze link's does.
func (s *Server) StaffRoutes() []StaffRoute {
	if s.staff == nil {
		return nil
	}
	h := func(f func(http.ResponseWriter, *http.Request)) http.Handler { return http.HandlerFunc(f) }
	get, post := http.MethodGet, http.MethodPost
	routes := []StaffRoute{
		{get, "/staff/login", StaffPublic, "", h(s.handleStaffLoginPage)},
		{post, "/staff/login", StaffPublic, "", h(s.handleStaffLogin)},
		{get, "/staff/enroll/{token}", StaffPublic, "", h(s.handleStaffEnrollPage)},
		{post, "/staff/enroll", StaffPublic, "", h(s.handleStaffEnroll)},

		{get, "/staff/login/verify", StaffPending, "", h(s.handleStaffVerifyPage)},
		{post, "/staff/login/passkey", StaffPending, "", h(s.handleStaffPasskeyBegin)},
		{post, "/staff/login/passkey/finish", StaffPending, "", h(s.handleStaffPasskeyFinish)},
		{post, "/staff/login/totp", StaffPending, "", h(s.handleStaffTOTP)},

		{get, "/staff/enroll/factor", StaffEnroll, "", h(s.handleStaffEnrollFactorPage)},
		{post, "/staff/enroll/passkey", StaffEnroll, "", h(s.handleStaffEnrollPasskeyBegin)},
		{post, "/staff/enroll/passkey/finish", StaffEnroll, "", h(s.handleStaffEnrollPasskeyFinish)},
		{post, "/staff/enroll/totp", StaffEnroll, "", h(s.handleStaffEnrollTOTPBegin)},
		{post, "/staff/enroll/totp/confirm", StaffEnroll, "", h(s.handleStaffEnrollTOTPConfirm)},

		{post, "/staff/logout", StaffAnySession, "", h(s.handleStaffLogout)},

		{get, "/staff/{$}", StaffFull, "", h(s.handleStaffHome)},
		{get, "/staff/agents", StaffFull, agent.PermAgentManage, h(s.handleStaffAgents)},
		{post, "/staff/agents", StaffFull, agent.PermAgentManage, h(s.handleStaffAgentCreate)},
		{get, "/staff/agents/{id}", StaffFull, agent.PermAgentManage, h(s.handleStaffAgentPage)},
		{post, "/staff/agents/{id}", StaffFull, agent.PermAgentManage, h(s.handleStaffAgentUpdate)},
		{post, "/staff/agents/{id}/disable", StaffFull, agent.PermAgentManage, h(s.handleStaffAgentDisable)},
		{post, "/staff/agents/{id}/enable", StaffFull, agent.PermAgentManage, h(s.handleStaffAgentEnable)},
		{post, "/staff/agents/{id}/reset", StaffFull, agent.PermAgentManage, h(s.handleStaffAgentReset)},
		{get, "/staff/teams", StaffFull, agent.PermTeamManage, h(s.handleStaffTeams)},
		{post, "/staff/teams", StaffFull, agent.PermTeamManage, h(s.handleStaffTeamSave)},
	}
	// The withdrawal reviewers' pages (staff_review.go).
	routes = append(routes, s.staffReviewRoutes()...)
	// The exchange-rate page (staff_fx.go).
	routes = append(routes, s.staffFXRoutes()...)
	// The agent console of the support desk (staff_desk.go).
	routes = append(routes, s.staffDeskRoutes()...)
	// The support desk's reports (staff_reports.go).
	routes = append(routes, s.staffReportRoutes()...)
	// The help center's editor (help_editor.go).
	routes = append(routes, s.staffHelpRoutes()...)
	// The agents' availability switch and heartbeat (staff_desk_routing.go).
	routes = append(routes, s.staffDeskRoutingRoutes()...)
	// The customer panel and the approvals page (staff_customer.go).
	routes = append(routes, s.staffCustomerRoutes()...)
	// The phone channel's queue, verification and report (staff_phone.go).
	routes = append(routes, s.staffPhoneRoutes()...)
	return routes
}

// ---- the checks ----

type staffKey int

const keyStaff staffKey = iota

// staffAuth is the signed-in agent of a request.
type staffAuth struct {
	token   string
	session *agent.Session
	agent   *agent.Agent
}

// StaffFromRequest returns the agent and session a staff route was
// authorised for (nil outside staff routes and on public ones).
func StaffFromRequest(r *http.Request) (*agent.Agent, *agent.Session) {
	if a, ok := r.Context().Value(keyStaff).(*staffAuth); ok {
		return a.agent, a.session
	}
	return nil, nil
}

func staffFrom(r *http.Request) *staffAuth {
	a, _ := r.Context().Value(keyStaff).(*staffAuth)
	return a
}

// staffGuard wraps a route's handler with what every staff page needs
// (no caching, a bounded form read from the body only) and the check its
// access level names.
func (s *Server) staffGuard(rt StaffRoute) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, rt.MaxBody())
			if err := r.ParseForm(); err != nil {
				s.staffError(w, r, http.StatusBadRequest, "problem.invalid_request.title", "problem.invalid_request.detail")
				return
			}
		}
		if rt.Access == StaffPublic {
			rt.Handler.ServeHTTP(w, r)
			return
		}
		tok := cookieValue(r, staffCookie)
		if tok == "" {
			redirect(w, r, "/staff/login")
			return
		}
		ss, a, err := s.staff.svc.Authenticate(r.Context(), tok)
		if err != nil {
			s.staffSessionFailed(w, r, err)
			return
		}
		// Signed in from here on, refused or not: the pages below (the
		// 403 and step-up ones too) keep the agent's navigation.
		r = r.WithContext(context.WithValue(r.Context(), keyStaff, &staffAuth{token: tok, session: ss, agent: a}))
		switch rt.Access {
		case StaffPending:
			if ss.Purpose != agent.PurposeLogin {
				redirect(w, r, "/staff/enroll/factor")
				return
			}
		case StaffEnroll:
			if ss.Purpose != agent.PurposeEnroll {
				redirect(w, r, staffLanding(ss))
				return
			}
		case StaffFull, StaffSudo:
			if !ss.Full() {
				redirect(w, r, staffLanding(ss))
				return
			}
			if rt.Perm != "" && !agent.Can(a, rt.Perm) {
				s.staffForbidden(w, r, a, rt.Perm)
				return
			}
		}
		if rt.Access == StaffSudo && !s.staff.svc.Sudo(ss) {
			s.staffStepUp(w, r)
			return
		}
		rt.Handler.ServeHTTP(w, r)
	})
}

// RequirePerm returns h behind a full staff sign-in with permission p, for
// staff routes mounted outside StaffRoutes: no session → the sign-in page;
// a session still waiting for its passkey → that step; without p → 403
// (audited as authz_fail). Inside h, StaffFromRequest gives the agent.
func (s *Server) RequirePerm(p agent.Permission, h http.Handler) http.Handler {
	return s.staffGuard(StaffRoute{Access: StaffFull, Perm: p, Handler: h})
}

// staffLanding is where a session belongs: the factor step, the
// enrolment step, or the staff home.
func staffLanding(ss *agent.Session) string {
	switch {
	case ss.Purpose == agent.PurposeEnroll:
		return "/staff/enroll/factor"
	case !ss.Full():
		return "/staff/login/verify"
	}
	return "/staff/"
}

// staffSessionFailed handles an Authenticate error: a dead or expired
// session goes back to the sign-in page, its cookie forgotten.
func (s *Server) staffSessionFailed(w http.ResponseWriter, r *http.Request, err error) {
	switch code(err) {
	case okpay.EUnauthorized:
		clearStaffCookie(w)
		redirect(w, r, "/staff/login")
	case agent.ESessionExpired:
		clearStaffCookie(w)
		redirect(w, r, "/staff/login?expired=1")
	default:
		s.staffInternal(w, r, err)
	}
}

// staffForbidden answers 403 and audits the refusal (AUD-01 authz_fail).
func (s *Server) staffForbidden(w http.ResponseWriter, r *http.Request, a *agent.Agent, p agent.Permission) {
	if err := s.staff.svc.Denied(r.Context(), a, p, r.Method+" "+r.URL.Path, s.staffMeta(w, r)); err != nil {
		s.log.ErrorContext(r.Context(), "web: audit a refused staff request", "err", err)
	}
	s.staffError(w, r, http.StatusForbidden, "staff.forbidden.title", "staff.forbidden.body")
}

// ---- cookies, meta, pages ----

func setStaffCookie(w http.ResponseWriter, tok string) {
	setCookie(w, staffCookie, tok, http.SameSiteStrictMode, 0)
}

func clearStaffCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: staffCookie, Value: "", Path: "/", MaxAge: -1, Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode})
}

func (s *Server) staffMeta(w http.ResponseWriter, r *http.Request) agent.Meta {
	return agent.Meta{IP: s.clientIP.IP(r), UserAgent: r.UserAgent(), RequestID: w.Header().Get("X-Request-Id")}
}

// staffNav is what the staff navigation shows; every staff page's data
// embeds it.
type staffNav struct {
	// Me is the signed-in agent (nil on the sign-in and enrolment pages).
	Me        *agent.Agent
	NavAgents bool
	NavTeams  bool
	// NavFX: the exchange-rate page is on and the agent has fx:manage.
	NavFX bool
	// NavDesk: the agent console is on and the agent may open it
	// (desk:overview; the inbox with conversation:read, staff_desk.go,
	// otherwise the overview, staff_desk_overview.go).
	NavDesk bool
	// NavReview: the withdrawal reviewers' pages are on and the agent has
	// withdrawal:review (staff_review.go).
	NavReview bool
	// NavApprovals: the approvals page is on and the agent has
	// approval:approve (staff_approvals.go).
	NavApprovals bool
	// NavCustomer: the customer panel is on and the agent has
	// customer:read (staff_customer.go).
	NavCustomer bool
	// NavPhone: the phone page is on and the agent may read
	// conversations (staff_phone.go).
	NavPhone bool
	// NavHelp: the help center is on and the agent may edit articles
	// (help_editor.go).
	NavHelp bool
	// NavReports: the desk's reports page is on and the agent has
	// report:read (staff_reports.go).
	NavReports bool
	// NavCanned: the agent console is on and the agent has canned:manage
	// (staff_canned.go).
	NavCanned bool
	// NavDeskSettings: the agent console is on and the agent has
	// agent:manage (staff_desk_settings.go).
	NavDeskSettings bool
	// InSession: a staff session exists (the sign-out button).
	InSession bool
}

func (s *Server) navFor(r *http.Request) staffNav {
	a := staffFrom(r)
	if a == nil {
		return staffNav{}
	}
	n := staffNav{InSession: true}
	if a.session.Full() {
		n.Me = a.agent
		n.NavAgents = agent.Can(a.agent, agent.PermAgentManage)
		n.NavTeams = agent.Can(a.agent, agent.PermTeamManage)
		n.NavFX = s.staff.fx != nil && agent.Can(a.agent, agent.PermFXManage)
		n.NavDesk = s.desk != nil && s.desk.socket != nil && agent.Can(a.agent, agent.PermDeskOverview)
		n.NavReview = s.staff.review != nil && agent.Can(a.agent, agent.PermWithdrawalReview)
		n.NavHelp = s.help != nil && agent.Can(a.agent, agent.PermArticleManage)
		n.NavApprovals = s.staff.support != nil && agent.Can(a.agent, agent.PermApprovalApprove)
		n.NavCustomer = s.staff.support != nil && agent.Can(a.agent, agent.PermCustomerRead)
		n.NavPhone = s.phone != nil && agent.Can(a.agent, agent.PermConversationRead)
		n.NavReports = s.desk != nil && s.pages[pageStaffReports] != nil && agent.Can(a.agent, agent.PermReportRead)
		n.NavCanned = s.desk != nil && s.desk.socket != nil && agent.Can(a.agent, agent.PermCannedManage)
		n.NavDeskSettings = s.desk != nil && s.desk.socket != nil && agent.Can(a.agent, agent.PermAgentManage)
	}
	return n
}

// staffPage starts a staff page: never cached, titled with titleID.
func (s *Server) staffPage(r *http.Request, titleID string) *page {
	p := s.newPage(r)
	p.NoStore = true
	p.Accounts = false
	// app.js: the navigation's "Manage" menu closes on a click elsewhere
	// and on Escape (and the password toggle, passkeys on the sign-in
	// pages).
	p.Script = true
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		// Back to this very page after the language or presence switch:
		// its query names what it shows (a conversation, a customer, the
		// inbox's filters; without it the page was a 404), less a
		// one-time "done" notice.
		u := *r.URL
		q := u.Query()
		if q.Has("done") {
			q.Del("done")
			u.RawQuery = q.Encode()
		}
		p.Next = safeNext(u.RequestURI())
	} else {
		p.Next = "/staff/"
	}
	p.Title = p.T(titleID) + accountTitleSuffix + p.T("staff.app")
	return p
}

// staffMessageData is the content of staff_message.html.
type staffMessageData struct {
	staffNav
	TestID   string
	Status   int
	Body     []string
	LinkHref string
	LinkText string
	// StepUp, when set, is the "confirm with your passkey" panel.
	StepUp *stepUpForm
}

// staffStepUp answers a StaffSudo route outside the sudo window: 403 and
// the passkey panel, which returns to the staff page the form was on (its
// Referer, when it is one of ours).
func (s *Server) staffStepUp(w http.ResponseWriter, r *http.Request) {
	p := s.staffPage(r, "staff.stepup.heading")
	p.Status = http.StatusForbidden
	p.Heading = p.T("staff.stepup.heading")
	p.Script = true // the passkey button
	next := "/staff/"
	if ref, err := url.Parse(r.Referer()); err == nil && ref.Host == r.Host {
		next = ref.RequestURI()
	}
	form := p.StepUpForm(next)
	p.Data = staffMessageData{staffNav: s.navFor(r), TestID: "staff-stepup-required", Status: http.StatusForbidden,
		Body: []string{p.T("staff.error.step_up")}, StepUp: &form}
	s.render(w, r, pageStaffMessage, p)
}

// staffError shows an error on the staff layout.
func (s *Server) staffError(w http.ResponseWriter, r *http.Request, status int, titleID, detailID string) {
	p := s.staffPage(r, titleID)
	p.Status = status
	p.Heading = p.T(titleID)
	p.Data = staffMessageData{staffNav: s.navFor(r), TestID: "staff-error", Status: status, Body: []string{p.T(detailID)},
		LinkHref: "/staff/", LinkText: p.T("staff.link.back")}
	s.render(w, r, pageStaffMessage, p)
}

// staffNotFound answers an unknown staff path with 404 on the staff layout.
// A signed-in agent keeps the navigation; nobody is sent to sign in first,
// so the answer is the same whether the path would exist behind a sign-in
// or not.
func (s *Server) staffNotFound(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if tok := cookieValue(r, staffCookie); tok != "" {
		if ss, a, err := s.staff.svc.Authenticate(r.Context(), tok); err == nil {
			r = r.WithContext(context.WithValue(r.Context(), keyStaff, &staffAuth{token: tok, session: ss, agent: a}))
		}
	}
	s.staffError(w, r, http.StatusNotFound, "notfound.title", "notfound.body")
}

// staffInternal logs err and shows the generic error page.
func (s *Server) staffInternal(w http.ResponseWriter, r *http.Request, err error) {
	s.log.ErrorContext(r.Context(), "web: staff page", "path", r.URL.Path, "err", err)
	s.staffError(w, r, http.StatusInternalServerError, "problem.internal_error.title", "problem.internal_error.detail")
}

// RoleName returns the name of role r in the page's language.
func (p *page) RoleName(r agent.Role) string { return p.T(roleMessageID(r)) }

// PermName returns the description of permission x in the page's
// language.
func (p *page) PermName(x agent.Permission) string { return p.T(permissionMessageID(x)) }

// staffFieldMessages maps a validation error of package agent onto the
// form's fields, in the page's language.
func (p *page) staffFieldMessages(f *form, err error) {
	ids := map[string]string{
		"email": "staff.error.email", "display_name": "staff.error.name", "roles": "staff.error.roles",
		"languages": "staff.error.languages", "teams": "staff.error.teams", "reason": "staff.error.reason",
		"schedule": "staff.error.schedule", "time_zone": "staff.error.time_zone", "name": "staff.error.team_name",
	}
	known := false
	for field := range fieldErrors(err) {
		if id, ok := ids[field]; ok {
			f.set(field, p.T(id))
			known = true
		}
	}
	if !known {
		f.fail(p.T("staff.error.invalid"))
	}
}

// staffActionError shows the outcome of a refused administrative action
// on a form: validation, conflicts (conflictID says which), self-changes,
// the last admin and step-up. It reports false for errors it does not
// explain.
func (p *page) staffActionError(f *form, err error, conflictID string) bool {
	switch code(err) {
	case okpay.EInvalid:
		p.staffFieldMessages(f, err)
		p.Status = http.StatusUnprocessableEntity
	case okpay.EConflict:
		f.fail(p.T(conflictID))
		p.Status = http.StatusConflict
	case agent.ELastAdmin:
		f.fail(p.T("staff.error.last_admin"))
		p.Status = http.StatusConflict
	case agent.ESelfChange:
		f.fail(p.T("staff.error.self"))
		p.Status = http.StatusForbidden
	case agent.EStepUpRequired:
		f.fail(p.T("staff.error.step_up"))
		p.Status = http.StatusUnauthorized
	default:
		return false
	}
	return true
}

// choiceSet is the data of the "staff_choices" template: a checkbox set.
type choiceSet struct {
	Name   string // the form field
	Prefix string // of the inputs' ids
	Items  []choice
}

// Choices returns a checkbox set for the templates.
func (p *page) Choices(name, prefix string, items []choice) choiceSet {
	return choiceSet{Name: name, Prefix: prefix, Items: items}
}

// stepUpForm is the data of the "staff_stepup" template.
type stepUpForm struct {
	P    *page
	Next string
}

// StepUpForm returns the "confirm with your passkey" panel that returns
// to next.
func (p *page) StepUpForm(next string) stepUpForm { return stepUpForm{P: p, Next: staffNextPath(next)} }
