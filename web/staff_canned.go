package web

import (
	"net/http"
	"slices"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/agent"
	"github.com/okpay/okpay/desk"
)

// The canned responses' management page (/staff/canned, canned:manage):
// the list, a form to add or edit one (?edit=cnd_...) and delete. The
// console's composer offers them after "/" (staff_desk.go, console.js).
// Every change is audited by package desk with the agent and request.

const pageStaffCanned = "staff_canned.html"

// staffCannedRoutes are the management page's routes (staffDeskRoutes
// lists them).
func (s *Server) staffCannedRoutes() []StaffRoute {
	h := func(f func(http.ResponseWriter, *http.Request)) http.Handler { return http.HandlerFunc(f) }
	return []StaffRoute{
		{http.MethodGet, "/staff/canned", StaffFull, agent.PermCannedManage, h(s.handleStaffCanned)},
		{http.MethodPost, "/staff/canned", StaffFull, agent.PermCannedManage, h(s.handleStaffCannedSave)},
		{http.MethodPost, "/staff/canned/delete", StaffFull, agent.PermCannedManage, h(s.handleStaffCannedDelete)},
	}
}

// staffCannedData is the content of staff_canned.html.
type staffCannedData struct {
	staffNav
	Canned []*desk.Canned
	Teams  []deskOption
	// Editing is the response being edited ("" for a new one).
	Editing string
}

// staffCannedPage builds the page with form f (false: an answer was sent).
func (s *Server) staffCannedPage(w http.ResponseWriter, r *http.Request, svc *desk.Service, f *form, editing string) (*page, bool) {
	list, err := svc.AllCanned(r.Context())
	if err != nil {
		s.staffInternal(w, r, err)
		return nil, false
	}
	teams, err := s.staff.svc.Teams(r.Context())
	if err != nil {
		s.staffInternal(w, r, err)
		return nil, false
	}
	p := s.staffPage(r, "console.canned.page_title")
	p.Form = f
	d := staffCannedData{staffNav: s.navFor(r), Canned: list, Editing: editing}
	d.Teams = append(d.Teams, deskOption{Value: "", Label: p.T("console.canned.global"), Selected: f.Value("team") == ""})
	for _, t := range teams {
		d.Teams = append(d.Teams, deskOption{Value: t.Name, Label: t.Name, Selected: f.Value("team") == t.Name})
	}
	p.Data = d
	return p, true
}

// cannedActor is the signed-in agent and the request, for the audit log
// of canned-response changes.
func (s *Server) cannedActor(w http.ResponseWriter, r *http.Request) desk.StaffActor {
	m := s.staffMeta(w, r)
	return desk.StaffActor{AgentID: staffFrom(r).agent.ID, IP: m.IP, RequestID: m.RequestID}
}

func (s *Server) handleStaffCanned(w http.ResponseWriter, r *http.Request) {
	svc := s.deskService(w, r)
	if svc == nil {
		return
	}
	f := newForm()
	editing := ""
	if id, ok := desk.ParseCannedRef(r.URL.Query().Get("edit")); ok {
		c, err := svc.CannedByID(r.Context(), id)
		if err != nil {
			if code(err) == okpay.ENotFound {
				s.staffError(w, r, http.StatusNotFound, "notfound.title", "notfound.body")
				return
			}
			s.staffInternal(w, r, err)
			return
		}
		editing = c.Ref()
		f.values = map[string]string{"shortcut": c.Shortcut, "title": c.Title, "body_en": c.BodyEn, "body_zh": c.BodyZh, "team": c.Team}
	}
	p, ok := s.staffCannedPage(w, r, svc, f, editing)
	if !ok {
		return
	}
	switch r.URL.Query().Get("done") {
	case "saved":
		p.Notice = p.T("console.canned.saved")
	case "deleted":
		p.Notice = p.T("console.canned.deleted")
	}
	s.render(w, r, pageStaffCanned, p)
}

func (s *Server) handleStaffCannedSave(w http.ResponseWriter, r *http.Request) {
	svc := s.deskService(w, r)
	if svc == nil {
		return
	}
	f := newForm().keep(r, "shortcut", "title", "body_en", "body_zh", "team")
	in := desk.CannedInput{Shortcut: f.Value("shortcut"), Title: f.Value("title"), BodyEn: formText(f.Value("body_en")),
		BodyZh: formText(f.Value("body_zh")), Team: f.Value("team")}
	var err error
	editing := r.PostForm.Get("id")
	if in.Team != "" {
		teams, terr := s.staff.svc.Teams(r.Context())
		if terr != nil {
			s.staffInternal(w, r, terr)
			return
		}
		if !slices.ContainsFunc(teams, func(t *agent.Team) bool { return t.Name == in.Team }) {
			err = okpay.Invalid(map[string]string{"team": "Choose a team."})
		}
	}
	if err == nil {
		if editing != "" {
			id, ok := desk.ParseCannedRef(editing)
			if !ok {
				s.staffError(w, r, http.StatusNotFound, "notfound.title", "notfound.body")
				return
			}
			_, err = svc.UpdateCanned(r.Context(), s.cannedActor(w, r), id, in)
		} else {
			_, err = svc.CreateCanned(r.Context(), s.cannedActor(w, r), in)
		}
	}
	if err == nil {
		redirect(w, r, "/staff/canned?done=saved")
		return
	}
	if code(err) == okpay.ENotFound {
		s.staffError(w, r, http.StatusNotFound, "notfound.title", "notfound.body")
		return
	}
	p, ok := s.staffCannedPage(w, r, svc, f, editing)
	if !ok {
		return
	}
	switch code(err) {
	case desk.ECannedShortcutTaken:
		f.set("shortcut", p.T("console.canned.error.taken"))
	case okpay.EInvalid:
		for field := range fieldErrors(err) {
			f.set(field, p.T("console.canned.error."+field))
		}
	default:
		s.staffInternal(w, r, err)
		return
	}
	p.Status = http.StatusUnprocessableEntity
	s.render(w, r, pageStaffCanned, p)
}

func (s *Server) handleStaffCannedDelete(w http.ResponseWriter, r *http.Request) {
	svc := s.deskService(w, r)
	if svc == nil {
		return
	}
	id, ok := desk.ParseCannedRef(r.PostForm.Get("id"))
	if !ok {
		s.staffError(w, r, http.StatusNotFound, "notfound.title", "notfound.body")
		return
	}
	if err := svc.DeleteCanned(r.Context(), s.cannedActor(w, r), id); err != nil {
		if code(err) == okpay.ENotFound {
			s.staffError(w, r, http.StatusNotFound, "notfound.title", "notfound.body")
			return
		}
		s.staffInternal(w, r, err)
		return
	}
	redirect(w, r, "/staff/canned?done=deleted")
}
