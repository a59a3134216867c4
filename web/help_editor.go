package web

import (
	"html/template"
	"net/http"
	"strings"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/agent"
	"github.com/okpay/okpay/help"
	"github.com/okpay/okpay/i18n"
)

// The help center's editor in the staff console (permission
// article:manage: supervisors and admins):
//
//	GET  /staff/help               every article in both languages, its state and votes
//	GET  /staff/help/edit?id=art_… the editor (without id: a new article), with the revisions
//	POST /staff/help/save          create (no id) or save a new revision (id); action=preview renders without saving
//	POST /staff/help/publish       publish (id), or unpublish with publish=0
//	GET  /staff/help/misses        the searches that found nothing (report:read)
//
// Ids travel in the query or the form, never in the path (the staff
// route table allows path parameters only for agent references).

// Editor page templates.
const (
	pageHelpEditorList = "help_editor_list.html"
	pageHelpEditor     = "help_editor.html"
	pageHelpMisses     = "help_misses.html"
)

// maxHelpFormBytes bounds the editor's form (the save route's MaxBody): a
// 50,000-byte article, percent-encoded (Chinese triples), with room for
// the other fields.
const maxHelpFormBytes = 200 << 10

// helpEditorMessageIDs are the ids the editor uses from Go code.
var helpEditorMessageIDs = []string{
	"helped.page_title", "helped.edit.page_title", "helped.new.page_title", "helped.misses.page_title",
	"helped.notice.saved", "helped.notice.published", "helped.notice.unpublished",
	"helped.error.slug", "helped.error.locale", "helped.error.category", "helped.error.title", "helped.error.keywords",
	"helped.error.body", "helped.error.note", "helped.error.slug_taken", "helped.error.invalid",
	"helped.status.draft", "helped.status.published",
}

func (s *Server) initHelpEditor() error {
	if err := s.parseStaffPages(pageHelpEditorList, pageHelpEditor, pageHelpMisses); err != nil {
		return err
	}
	return nil
}

// staffHelpRoutes are the editor's routes (StaffRoutes lists them).
func (s *Server) staffHelpRoutes() []StaffRoute {
	h := func(f func(http.ResponseWriter, *http.Request)) http.Handler { return http.HandlerFunc(f) }
	return []StaffRoute{
		{http.MethodGet, "/staff/help", StaffFull, agent.PermArticleManage, h(s.handleHelpEditorList)},
		{http.MethodGet, "/staff/help/edit", StaffFull, agent.PermArticleManage, h(s.handleHelpEditorPage)},
		{http.MethodPost, "/staff/help/save", StaffFull, agent.PermArticleManage, maxBody(maxHelpFormBytes, h(s.handleHelpEditorSave))},
		{http.MethodPost, "/staff/help/publish", StaffFull, agent.PermArticleManage, h(s.handleHelpEditorPublish)},
		{http.MethodGet, "/staff/help/misses", StaffFull, agent.PermReportRead, h(s.handleHelpMisses)},
	}
}

// helpEditorOn returns the help service, or answers 404 when the help
// center is off.
func (s *Server) helpEditorOn(w http.ResponseWriter, r *http.Request) *help.Service {
	if s.help == nil || s.staff == nil {
		s.staffError(w, r, http.StatusNotFound, "notfound.title", "notfound.body")
		return nil
	}
	return s.help.svc
}

// HelpStatus names an article's state.
func (p *page) HelpStatus(st help.Status) string { return p.T("helped.status." + string(st)) }

// HelpCategories lists the categories (the editor's select).
func (p *page) HelpCategories() []help.Category { return help.Categories() }

// HelpLangs lists the article languages (the editor's select).
func (p *page) HelpLangs() []i18n.Lang { return i18n.Langs() }

type helpEditorListData struct {
	staffNav
	Articles []*help.Article
}

func (s *Server) handleHelpEditorList(w http.ResponseWriter, r *http.Request) {
	svc := s.helpEditorOn(w, r)
	if svc == nil {
		return
	}
	all, err := svc.All(r.Context())
	if err != nil {
		s.staffInternal(w, r, err)
		return
	}
	p := s.staffPage(r, "helped.page_title")
	p.doneNotice(r, "helped.notice.", "saved", "published", "unpublished")
	p.Data = helpEditorListData{staffNav: s.navFor(r), Articles: all}
	s.render(w, r, pageHelpEditorList, p)
}

type helpEditorData struct {
	staffNav
	Article   *help.Article // nil for a new article
	Revisions []*help.Revision
	Preview   template.HTML
}

var helpFormFields = []string{"id", "slug", "locale", "category", "title", "keywords", "body", "note"}

func (s *Server) handleHelpEditorPage(w http.ResponseWriter, r *http.Request) {
	svc := s.helpEditorOn(w, r)
	if svc == nil {
		return
	}
	f := newForm()
	var a *help.Article
	if ref := r.URL.Query().Get("id"); ref != "" {
		var ok bool
		if a, ok = s.editedArticle(w, r, svc, ref); !ok {
			return
		}
		f.values = map[string]string{"id": a.Ref(), "slug": a.Slug, "locale": string(a.Locale), "category": string(a.Category),
			"title": a.Title, "keywords": a.Keywords, "body": a.Body}
	} else {
		f.values["locale"] = string(i18n.Negotiate(r))
	}
	s.renderHelpEditor(w, r, svc, a, f, "")
}

// editedArticle reads the article ref names (false: 404 or an error was
// answered).
func (s *Server) editedArticle(w http.ResponseWriter, r *http.Request, svc *help.Service, ref string) (*help.Article, bool) {
	id, ok := help.ParseRef(ref)
	if !ok {
		s.staffError(w, r, http.StatusNotFound, "notfound.title", "notfound.body")
		return nil, false
	}
	a, err := svc.Get(r.Context(), id)
	if err != nil {
		if code(err) == okpay.ENotFound {
			s.staffError(w, r, http.StatusNotFound, "notfound.title", "notfound.body")
		} else {
			s.staffInternal(w, r, err)
		}
		return nil, false
	}
	return a, true
}

func (s *Server) renderHelpEditor(w http.ResponseWriter, r *http.Request, svc *help.Service, a *help.Article, f *form, preview template.HTML) {
	title := "helped.new.page_title"
	if a != nil {
		title = "helped.edit.page_title"
	}
	p := s.staffPage(r, title)
	if f.Any() && p.Status == http.StatusOK {
		p.Status = http.StatusUnprocessableEntity
	}
	p.Form = f
	if r.Method == http.MethodGet {
		p.doneNotice(r, "helped.notice.", "saved")
	}
	d := helpEditorData{staffNav: s.navFor(r), Article: a, Preview: preview}
	if a != nil {
		revs, err := svc.Revisions(r.Context(), a.ID)
		if err != nil {
			s.staffInternal(w, r, err)
			return
		}
		d.Revisions = revs
	}
	p.Data = d
	s.render(w, r, pageHelpEditor, p)
}

func (s *Server) handleHelpEditorSave(w http.ResponseWriter, r *http.Request) {
	svc := s.helpEditorOn(w, r)
	if svc == nil {
		return
	}
	f := newForm().keep(r, helpFormFields...)
	var a *help.Article
	if ref := f.Value("id"); ref != "" {
		var ok bool
		if a, ok = s.editedArticle(w, r, svc, ref); !ok {
			return
		}
	}
	if r.PostForm.Get("action") == "preview" {
		s.renderHelpEditor(w, r, svc, a, f, svc.Preview(f.Value("body")))
		return
	}
	in := help.Input{Slug: f.Value("slug"), Locale: i18n.Lang(f.Value("locale")), Category: help.Category(f.Value("category")),
		Title: f.Value("title"), Keywords: f.Value("keywords"), Body: f.Value("body"), Note: f.Value("note")}
	by := staffFrom(r).agent.ID
	var err error
	var saved *help.Article
	if a == nil {
		saved, err = svc.Create(r.Context(), by, in)
	} else {
		saved, err = svc.Update(r.Context(), by, a.ID, in)
	}
	if err != nil {
		p := s.staffPage(r, "helped.edit.page_title")
		switch code(err) {
		case okpay.EInvalid:
			known := false
			for field := range fieldErrors(err) {
				if strings.Contains(" slug locale category title keywords body note ", " "+field+" ") {
					f.set(field, p.T("helped.error."+field))
					known = true
				}
			}
			if !known {
				f.fail(p.T("helped.error.invalid"))
			}
		case help.ESlugTaken:
			f.set("slug", p.T("helped.error.slug_taken"))
		default:
			s.staffInternal(w, r, err)
			return
		}
		s.renderHelpEditor(w, r, svc, a, f, "")
		return
	}
	redirect(w, r, "/staff/help/edit?id="+saved.Ref()+"&done=saved")
}

func (s *Server) handleHelpEditorPublish(w http.ResponseWriter, r *http.Request) {
	svc := s.helpEditorOn(w, r)
	if svc == nil {
		return
	}
	id, ok := help.ParseRef(r.PostForm.Get("id"))
	if !ok {
		s.staffError(w, r, http.StatusNotFound, "notfound.title", "notfound.body")
		return
	}
	publish := r.PostForm.Get("publish") != "0"
	if _, err := svc.SetStatus(r.Context(), id, publish); err != nil {
		if code(err) == okpay.ENotFound {
			s.staffError(w, r, http.StatusNotFound, "notfound.title", "notfound.body")
		} else {
			s.staffInternal(w, r, err)
		}
		return
	}
	done := "published"
	if !publish {
		done = "unpublished"
	}
	redirect(w, r, "/staff/help?done="+done)
}

type helpMissesData struct {
	staffNav
	Misses []help.Miss
}

func (s *Server) handleHelpMisses(w http.ResponseWriter, r *http.Request) {
	svc := s.helpEditorOn(w, r)
	if svc == nil {
		return
	}
	m, err := svc.Misses(r.Context(), 200)
	if err != nil {
		s.staffInternal(w, r, err)
		return
	}
	p := s.staffPage(r, "helped.misses.page_title")
	p.Data = helpMissesData{staffNav: s.navFor(r), Misses: m}
	s.render(w, r, pageHelpMisses, p)
}
