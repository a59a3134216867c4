package web

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/identity"
)

// langCookieMaxAge keeps the language choice for a year.
const langCookieMaxAge = 365 * 24 * 60 * 60

// maxNextLen bounds the return path kept in the language switch.
const maxNextLen = 2048

// handleLang stores the language chosen with the page's switch in the "lang"
// cookie and sends the browser back (303) to the page it came from. It is a
// POST so that no GET changes state; CrossOrigin stops other sites from
// submitting it. A signed-in customer's choice is also their account's
// language: the language of their emails, SMS and notices, and of the site
// when they sign in on another browser.
func (s *Server) handleLang(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	if err := r.ParseForm(); err != nil {
		s.renderError(w, r, http.StatusBadRequest, "problem.invalid_request.title", "problem.invalid_request.detail")
		return
	}
	lang, ok := i18n.ParseLang(r.PostForm.Get("lang"))
	if !ok {
		s.renderError(w, r, http.StatusBadRequest, "problem.invalid_request.title", "lang.invalid")
		return
	}
	setLangCookie(w, r, lang)
	if tok := cookieValue(r, sessionCookie); tok != "" && s.id != nil {
		// An unknown, ended or half-finished session changes only the
		// cookie, as for anyone else.
		if ss, _, err := s.id.Authenticate(r.Context(), tok); err == nil && identity.RequireAAL2(ss) == nil {
			if err := s.id.SetLanguage(r.Context(), ss.UserID, lang); err != nil {
				s.log.WarnContext(r.Context(), "web: store the account's language", "err", err)
			}
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, safeNext(r.PostForm.Get("next")), http.StatusSeeOther)
}

func setLangCookie(w http.ResponseWriter, r *http.Request, lang i18n.Lang) {
	http.SetCookie(w, &http.Cookie{
		Name:     i18n.CookieName,
		Value:    string(lang),
		Path:     "/",
		MaxAge:   langCookieMaxAge,
		HttpOnly: true,
		Secure:   r.TLS != nil,
		SameSite: http.SameSiteLaxMode,
	})
}

// adoptAccountLang shows the site in the language of the account that has
// just signed in, unless this browser chose one with the switch (which
// wins: it is the later choice, made here).
func adoptAccountLang(w http.ResponseWriter, r *http.Request, lang i18n.Lang) {
	if ck, err := r.Cookie(i18n.CookieName); err == nil {
		if _, ok := i18n.ParseLang(ck.Value); ok {
			return
		}
	}
	if _, ok := i18n.ParseLang(string(lang)); !ok || lang == i18n.Negotiate(r) {
		return
	}
	setLangCookie(w, r, lang)
}

// safeNext returns next if it is a path on this site, and "/" otherwise, so
// the language switch cannot be turned into an open redirect. A local path
// starts with one "/" and has no scheme, host, backslash or control
// character (browsers read "/\evil.test" and "//evil.test" as other hosts).
func safeNext(next string) string {
	if next == "" || len(next) > maxNextLen || next[0] != '/' {
		return "/"
	}
	if len(next) > 1 && (next[1] == '/' || next[1] == '\\') {
		return "/"
	}
	if strings.ContainsFunc(next, func(r rune) bool {
		return r == '\\' || r < 0x20 || r == 0x7f || r == '\uFFFD'
	}) {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return "/"
	}
	return next
}
