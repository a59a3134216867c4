package web

import (
	"net/http"
	"regexp"
	"strings"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/notify"
)

// The in-app notifications of the signed-in user: GET
// /account/notifications lists them, newest first, the unread ones
// marked; POST /account/notifications/{id}/read marks one read (another
// user's id is "not found", exactly like one that does not exist) and
// POST /account/notifications/read-all marks them all. Reading the list
// changes nothing (SES-09).

const pageNotifications = "notifications.html"

// NotificationPrefix is the id prefix of in-app notifications in URLs.
const NotificationPrefix = "ntf"

// notificationMessageIDs are the notification ids used from Go code.
var notificationMessageIDs = []string{
	"notifications.page_title", "notifications.error.not_found", "notifications.notice.all_read",
}

// noteView is one notification as the page shows it.
type noteView struct {
	notify.InApp
	Ref string // the id in URLs
	// Parts is the body cut into text and links to the account's own
	// pages ("/account/…", e.g. a caller verification's code page).
	Parts []notePart
}

// notePart is a piece of a notification's body: text, or a link when
// Href is set.
type notePart struct {
	Text, Href string
}

// noteLinkRE returns the pattern of links to the account's own pages in a
// notification's text: a path under /account/ ("/account/phone-verify/…"),
// or the same path after this site's address base (the notices' "freeze
// your account now: https://okpay.example/account/freeze"), at the start,
// after a space, an opening bracket or quote, or a colon (the Chinese
// notices put the address right after "："). Only those become links, to
// the path; an address of another site stays text.
func noteLinkRE(base string) *regexp.Regexp {
	base = strings.TrimRight(base, "/")
	return regexp.MustCompile(`(^|[\s(（"'“:：])((?:` + regexp.QuoteMeta(base) + `)?(/account/[A-Za-z0-9_\-/]*[A-Za-z0-9_]))`)
}

// noteParts cuts body into text and links, the links found by re (from
// noteLinkRE).
func noteParts(re *regexp.Regexp, body string) []notePart {
	var parts []notePart
	rest := body
	for {
		m := re.FindStringSubmatchIndex(rest)
		if m == nil {
			break
		}
		start, end := m[4], m[5]
		if start > 0 {
			parts = append(parts, notePart{Text: rest[:start]})
		}
		path := rest[m[6]:m[7]] // letters, digits, '_', '-' and '/': no way out of /account/
		parts = append(parts, notePart{Text: rest[start:end], Href: path})
		rest = rest[end:]
	}
	if rest != "" {
		parts = append(parts, notePart{Text: rest})
	}
	return parts
}

// notificationsData is the content of notifications.html.
type notificationsData struct {
	Notes  []noteView
	Unread int64
	// Limit is the most the page lists; More tells that there may be
	// older ones.
	Limit int
	More  bool
}

func (s *Server) handleNotifications(w http.ResponseWriter, r *http.Request) {
	a, ok := s.requireSignIn(w, r)
	if !ok {
		return
	}
	list, err := s.outbox.ListInApp(r.Context(), a.user.ID, notify.DefaultInAppLimit)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	d := notificationsData{Limit: notify.DefaultInAppLimit, More: len(list) >= notify.DefaultInAppLimit}
	if d.Unread, err = s.outbox.UnreadCount(r.Context(), a.user.ID); err != nil {
		s.internalError(w, r, err)
		return
	}
	for _, n := range list {
		d.Notes = append(d.Notes, noteView{InApp: n, Ref: ids.Format(NotificationPrefix, n.ID), Parts: noteParts(s.noteLinks, n.Body)})
	}
	p := s.settingsPage(r, "notifications.page_title")
	if r.URL.Query().Get("read") == "all" {
		p.Notice = p.T("notifications.notice.all_read")
	}
	p.Data = d
	s.render(w, r, pageNotifications, p)
}

// handleNotificationRead marks one of the user's notifications read.
func (s *Server) handleNotificationRead(w http.ResponseWriter, r *http.Request) {
	a, ok := s.requireSignIn(w, r)
	if !ok {
		return
	}
	ref := r.PathValue("id")
	id, ok := ids.Parse(NotificationPrefix, ref)
	if !ok {
		s.renderAccountError(w, r, http.StatusNotFound, "notfound.title", "notifications.error.not_found")
		return
	}
	if err := s.outbox.MarkRead(r.Context(), a.user.ID, id); err != nil {
		if code(err) == okpay.ENotFound {
			s.renderAccountError(w, r, http.StatusNotFound, "notfound.title", "notifications.error.not_found")
			return
		}
		s.internalError(w, r, err)
		return
	}
	redirect(w, r, "/account/notifications#"+ref)
}

// handleNotificationsReadAll marks every unread notification the page can
// list read (the newest notify.MaxInAppLimit; the rest, if any, on the
// next click).
func (s *Server) handleNotificationsReadAll(w http.ResponseWriter, r *http.Request) {
	a, ok := s.requireSignIn(w, r)
	if !ok {
		return
	}
	list, err := s.outbox.ListInApp(r.Context(), a.user.ID, notify.MaxInAppLimit)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	for _, n := range list {
		if !n.Unread() {
			continue
		}
		// A notification gone meanwhile is no reason to stop.
		if err := s.outbox.MarkRead(r.Context(), a.user.ID, n.ID); err != nil && code(err) != okpay.ENotFound {
			s.internalError(w, r, err)
			return
		}
	}
	redirect(w, r, "/account/notifications?read=all")
}

// notificationRoutes lists the notification pages' routes; they exist
// when the Server has the outbox.
func (s *Server) notificationRoutes() []Route {
	if s.outbox == nil {
		return nil
	}
	return []Route{
		{http.MethodGet, "/account/notifications", s.account(s.handleNotifications)},
		{http.MethodPost, "/account/notifications/{id}/read", s.account(s.handleNotificationRead)},
		{http.MethodPost, "/account/notifications/read-all", s.account(s.handleNotificationsReadAll)},
	}
}
