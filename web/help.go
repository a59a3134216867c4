package web

import (
	"errors"
	"fmt"
	"html/template"
	"net/http"

	"github.com/okpay/okpay/help"
	"github.com/okpay/okpay/i18n"
)

// The help center's public pages (package help holds the articles, the
// search and the votes):
//
//	GET  /help                    the categories with their articles and the search box
//	GET  /help/search?q=…         search results with highlighted snippets
//	GET  /help/{name}             a category (/help/security-privacy) or an article (/help/withdraw-money)
//	POST /help/{slug}/feedback    "Was this helpful?" (helpful=yes|no)
//
// The language is the site's (the switch's cookie, then Accept-Language);
// an article that exists only in the other language is shown in it. The
// pages need no sign-in and set no cookie; a vote is keyed by a hash of
// the client's address, so one address has one vote per article and the
// package's hourly limit.

// Page templates of the help center.
const (
	pageHelpIndex    = "help_index.html"
	pageHelpCategory = "help_category.html"
	pageHelpArticle  = "help_article.html"
	pageHelpSearch   = "help_search.html"
)

var helpPages = []string{pageHelpIndex, pageHelpCategory, pageHelpArticle, pageHelpSearch}

// helpMessageIDs are the ids the help pages use from Go code.
var helpMessageIDs = []string{"help.page_title", "help.search.page_title", "help.feedback.thanks", "help.feedback.limited"}

// helpState is the help center's part of the Server.
type helpState struct {
	svc *help.Service
	// voters keys the "Was this helpful?" votes (an HMAC of the client's
	// address under the identity service's keyring).
	voters *help.VoterKeys
}

// EnableHelp adds the help center's public pages and, with the staff
// console, its editor (help_editor.go). Call it once, after New and
// before Register.
func (s *Server) EnableHelp(svc *help.Service) error {
	if svc == nil {
		return errors.New("web: EnableHelp needs the help service")
	}
	if s.help != nil {
		return errors.New("web: EnableHelp called twice")
	}
	if s.id == nil {
		return errors.New("web: EnableHelp needs the identity service (its keyring keys the votes)")
	}
	voters, err := help.NewVoterKeys(s.id.Keys)
	if err != nil {
		return err
	}
	for _, name := range helpPages {
		t, err := template.New(name).Option("missingkey=error").
			ParseFS(templateFS, "templates/layout.html", "templates/partials.html", "templates/help_partials.html", "templates/"+name)
		if err != nil {
			return fmt.Errorf("web: parse %s: %w", name, err)
		}
		s.pages[name] = t
	}
	ids := append([]string(nil), helpMessageIDs...)
	for _, c := range help.Categories() {
		ids = append(ids, "help.category."+string(c), "help.category."+string(c)+".lead")
	}
	if s.staff != nil {
		if err := s.initHelpEditor(); err != nil {
			return err
		}
		ids = append(ids, helpEditorMessageIDs...)
	}
	var missing []string
	for _, id := range ids {
		if !s.cat.Has(id) {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("web: help message ids missing from the catalog: %v", missing)
	}
	s.help = &helpState{svc: svc, voters: voters}
	return nil
}

// helpRoutes are the public help routes (none without EnableHelp).
func (s *Server) helpRoutes() []Route {
	if s.help == nil {
		return nil
	}
	return []Route{
		{http.MethodGet, "/help", http.HandlerFunc(s.handleHelpIndex)},
		{http.MethodGet, "/help/search", http.HandlerFunc(s.handleHelpSearch)},
		{http.MethodGet, "/help/{name}", http.HandlerFunc(s.handleHelpName)},
		{http.MethodPost, "/help/{slug}/feedback", http.HandlerFunc(s.handleHelpFeedback)},
	}
}

// ---- page data ----

// helpCrumb is one step of the breadcrumbs.
type helpCrumb struct {
	Href string // "" for the current page
	Text string
}

// helpSection is a category with its articles.
type helpSection struct {
	Category help.Category
	Articles []*help.Article
}

type helpIndexData struct {
	Crumbs   []helpCrumb
	Sections []helpSection
	Query    string
}

type helpCategoryData struct {
	Crumbs []helpCrumb
	helpSection
	Query string
}

type helpArticleData struct {
	Crumbs  []helpCrumb
	Article *help.Article
	HTML    template.HTML
	Related []*help.Article
	// Voted is "yes" or "no" after a vote; Limited after a refused one.
	Voted   string
	Limited bool
	// Other: the article is shown in the other language than the page's.
	Other bool
	Query string
}

type helpSearchData struct {
	Crumbs []helpCrumb
	Query  string
	Result *help.Result
	// Other: the hits are in the other language.
	Other bool
}

// HelpCategoryName is a category's name in the page's language.
func (p *page) HelpCategoryName(c help.Category) string { return p.T("help.category." + string(c)) }

// HelpCategoryLead is a category's one-line description.
func (p *page) HelpCategoryLead(c help.Category) string {
	return p.T("help.category." + string(c) + ".lead")
}

func (s *Server) helpCrumbs(p *page, more ...helpCrumb) []helpCrumb {
	out := []helpCrumb{{Href: "/help", Text: p.T("help.title")}}
	out = append(out, more...)
	out[len(out)-1].Href = ""
	return out
}

// helpPage starts a help page titled with message titleID.
func (s *Server) helpPage(r *http.Request, titleID string) *page {
	p := s.newPage(r)
	p.Title = p.T(titleID) + " · " + p.T("app.name")
	return p
}

// ---- handlers ----

func (s *Server) handleHelpIndex(w http.ResponseWriter, r *http.Request) {
	p := s.helpPage(r, "help.page_title")
	all, err := s.help.svc.List(r.Context(), p.Lang, "")
	if err != nil {
		s.helpInternal(w, r, err)
		return
	}
	d := helpIndexData{Crumbs: []helpCrumb{{Text: p.T("help.title")}}}
	for _, c := range help.Categories() {
		sec := helpSection{Category: c}
		for _, a := range all {
			if a.Category == c {
				sec.Articles = append(sec.Articles, a)
			}
		}
		d.Sections = append(d.Sections, sec)
	}
	p.Data = d
	s.render(w, r, pageHelpIndex, p)
}

func (s *Server) handleHelpSearch(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query().Get("q")
	if len(q) > 4*help.MaxQueryLen {
		q = q[:4*help.MaxQueryLen]
	}
	p := s.helpPage(r, "help.search.page_title")
	res, err := s.help.svc.Search(r.Context(), q, p.Lang, help.MaxHits)
	if err != nil {
		s.helpInternal(w, r, err)
		return
	}
	p.Data = helpSearchData{Crumbs: s.helpCrumbs(p, helpCrumb{Text: p.T("help.search.page_title")}), Query: res.Query, Result: res,
		Other: res.Locale != p.Lang}
	s.render(w, r, pageHelpSearch, p)
}

func (s *Server) handleHelpName(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if c, ok := help.CategoryFromPath(name); ok {
		s.helpCategory(w, r, c)
		return
	}
	s.helpArticle(w, r, name, http.StatusOK, helpVoted(r), false)
}

func (s *Server) helpCategory(w http.ResponseWriter, r *http.Request, c help.Category) {
	p := s.newPage(r)
	p.Title = p.HelpCategoryName(c) + " · " + p.T("help.title") + " · " + p.T("app.name")
	list, err := s.help.svc.List(r.Context(), p.Lang, c)
	if err != nil {
		s.helpInternal(w, r, err)
		return
	}
	p.Data = helpCategoryData{Crumbs: s.helpCrumbs(p, helpCrumb{Text: p.HelpCategoryName(c)}), helpSection: helpSection{Category: c, Articles: list}}
	s.render(w, r, pageHelpCategory, p)
}

// helpArticle shows article slug in the page's language, else in the
// other one.
func (s *Server) helpArticle(w http.ResponseWriter, r *http.Request, slug string, status int, voted string, limited bool) {
	if !help.ValidSlug(slug) {
		s.NotFound(w, r)
		return
	}
	p := s.newPage(r)
	a, other, err := s.helpFind(r, slug, p.Lang)
	if err != nil {
		if code(err) == "not_found" {
			s.NotFound(w, r)
		} else {
			s.helpInternal(w, r, err)
		}
		return
	}
	rel, err := s.help.svc.Related(r.Context(), a, 4)
	if err != nil {
		s.helpInternal(w, r, err)
		return
	}
	p.Title = a.Title + " · " + p.T("help.title") + " · " + p.T("app.name")
	p.Status = status
	if limited {
		p.Notice = p.T("help.feedback.limited")
	}
	p.Data = helpArticleData{
		Crumbs:  s.helpCrumbs(p, helpCrumb{Href: "/help/" + a.Category.Path(), Text: p.HelpCategoryName(a.Category)}, helpCrumb{Text: a.Title}),
		Article: a, HTML: s.help.svc.HTML(a), Related: rel, Voted: voted, Limited: limited, Other: other,
	}
	s.render(w, r, pageHelpArticle, p)
}

func (s *Server) helpFind(r *http.Request, slug string, l i18n.Lang) (*help.Article, bool, error) {
	a, err := s.help.svc.Published(r.Context(), slug, l)
	if err == nil || code(err) != "not_found" {
		return a, false, err
	}
	for _, o := range i18n.Langs() {
		if o != l {
			if a, err := s.help.svc.Published(r.Context(), slug, o); err == nil {
				return a, true, nil
			}
		}
	}
	return nil, false, err
}

func (s *Server) handleHelpFeedback(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	slug := r.PathValue("slug")
	if err := r.ParseForm(); err != nil || !help.ValidSlug(slug) {
		s.renderError(w, r, http.StatusBadRequest, "problem.invalid_request.title", "problem.invalid_request.detail")
		return
	}
	var helpful bool
	switch r.PostForm.Get("helpful") {
	case "yes":
		helpful = true
	case "no":
	default:
		s.renderError(w, r, http.StatusBadRequest, "problem.invalid_request.title", "problem.invalid_request.detail")
		return
	}
	a, _, err := s.helpFind(r, slug, i18n.Negotiate(r))
	if err != nil {
		if code(err) == "not_found" {
			s.NotFound(w, r)
		} else {
			s.helpInternal(w, r, err)
		}
		return
	}
	switch err := s.help.svc.Vote(r.Context(), a.ID, s.help.voters.Key("ip", s.clientIP.IP(r)), helpful); {
	case err == nil:
		v := "no"
		if helpful {
			v = "yes"
		}
		redirect(w, r, "/help/"+slug+"?voted="+v+"#feedback")
	case code(err) == help.EFeedbackLimited:
		s.helpArticle(w, r, slug, http.StatusTooManyRequests, "", true)
	case code(err) == "not_found":
		s.NotFound(w, r)
	default:
		s.helpInternal(w, r, err)
	}
}

func (s *Server) helpInternal(w http.ResponseWriter, r *http.Request, err error) {
	s.log.ErrorContext(r.Context(), "web: help page", "path", r.URL.Path, "err", err)
	s.renderError(w, r, http.StatusInternalServerError, "problem.internal_error.title", "problem.internal_error.detail")
}

// helpVoted reads the ?voted= of an article page after a vote.
func helpVoted(r *http.Request) string {
	switch v := r.URL.Query().Get("voted"); v {
	case "yes", "no":
		return v
	}
	return ""
}
