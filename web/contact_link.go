package web

import (
	"errors"
	"net/http"

	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/desk/visitorcookie"
)

// The confirmation page of a visitor's email (desk/visitor_email.go): the
// chat widget lets a visitor leave an address for the desk's replies, and
// the desk mails it a link, desk.ContactPath + token. Opening the link
// changes nothing (mail scanners fetch links): it shows the conversation
// and the address, and its button (a POST) confirms. No sign-in: the
// visitor has no account; the token is the proof. The routes answer 404
// while EnableVisitorEmails was not called.

const pageContactLink = "contact_link.html"

// contactLinkRoutes are the page's routes, wrapped as the account pages
// are (CrossOrigin on the POST).
func (s *Server) contactLinkRoutes() []Route {
	return []Route{
		{http.MethodGet, desk.ContactPath + "{token}", s.account(s.handleContactLinkPage)},
		{http.MethodPost, desk.ContactPath, s.account(s.handleContactLinkConfirm)},
		{http.MethodGet, desk.ContinuePath + "{token}", s.account(s.handleContinuePage)},
		{http.MethodPost, desk.ContinuePath, s.account(s.handleContinue)},
	}
}

// EnableVisitorEmails serves the confirmation links of visitors' email
// addresses and shows the address beside a visitor's conversation in the
// console. Call it after EnableDesk.
func (s *Server) EnableVisitorEmails(ve *desk.VisitorEmails) error {
	if s.desk == nil || ve == nil {
		return errors.New("web: EnableVisitorEmails needs the visitor emails and EnableDesk first")
	}
	s.desk.emails = ve
	return nil
}

func (s *Server) visitorEmails() *desk.VisitorEmails {
	if s.desk == nil {
		return nil
	}
	return s.desk.emails
}

// contactLinkData is the page's data.
type contactLinkData struct {
	Token, Ref, Email string
}

// contactLinkPage starts a page of the link: nil (and 404 written) while the
// visitor emails are off.
func (s *Server) contactLinkPage(w http.ResponseWriter, r *http.Request) (*page, *desk.VisitorEmails) {
	p := s.accountPage(r, "deskcontact.page.title")
	p.NoReferrer = true
	ve := s.visitorEmails()
	if ve == nil {
		s.renderMessage(w, r, p, http.StatusNotFound, "notfound.title", messageData{TestID: "contact-link-off", Body: []string{p.T("notfound.body")}})
	}
	return p, ve
}

func (s *Server) handleContactLinkPage(w http.ResponseWriter, r *http.Request) {
	p, ve := s.contactLinkPage(w, r)
	if ve == nil {
		return
	}
	token := r.PathValue("token")
	e, err := ve.ByLink(r.Context(), token)
	switch {
	case code(err) == desk.EContactLinkInvalid:
		s.contactInvalid(w, r, p)
	case err != nil:
		s.internalError(w, r, err)
	case e.Confirmed():
		s.contactConfirmed(w, r, p, e)
	default:
		p.Data = contactLinkData{Token: token, Ref: desk.ConversationRef(e.ConversationID), Email: e.Email}
		s.render(w, r, pageContactLink, p)
	}
}

func (s *Server) handleContactLinkConfirm(w http.ResponseWriter, r *http.Request) {
	p, ve := s.contactLinkPage(w, r)
	if ve == nil {
		return
	}
	e, err := ve.Confirm(r.Context(), r.PostForm.Get("token"))
	switch {
	case code(err) == desk.EContactLinkInvalid:
		s.contactInvalid(w, r, p)
	case err != nil:
		s.internalError(w, r, err)
	default:
		s.contactConfirmed(w, r, p, e)
	}
}

func (s *Server) contactInvalid(w http.ResponseWriter, r *http.Request, p *page) {
	s.renderMessage(w, r, p, http.StatusBadRequest, "deskcontact.page.invalid.title", messageData{TestID: "contact-link-invalid", Body: []string{p.T("deskcontact.page.invalid.body")}})
}

func (s *Server) contactConfirmed(w http.ResponseWriter, r *http.Request, p *page, e *desk.VisitorEmail) {
	s.renderMessage(w, r, p, http.StatusOK, "deskcontact.page.done.title", messageData{TestID: "contact-link-done",
		Body: []string{p.T("deskcontact.page.done.body", "Email", e.Email, "Ref", desk.ConversationRef(e.ConversationID))}})
}

// A reply mail's continuation link (desk.VisitorEmails.Continue): the page
// says which conversation it opens; its button makes this browser the
// conversation's visitor (the browser's visitor cookie, or a new one) and
// goes to the chat with the conversation open. Like the confirmation
// link, opening it changes nothing.

const pageContinueLink = "continue_link.html"

func (s *Server) handleContinuePage(w http.ResponseWriter, r *http.Request) {
	p, ve := s.contactLinkPage(w, r)
	if ve == nil {
		return
	}
	token := r.PathValue("token")
	e, err := ve.Continuation(r.Context(), token)
	switch {
	case code(err) == desk.EContactLinkInvalid:
		s.continueInvalid(w, r, p)
	case err != nil:
		s.internalError(w, r, err)
	default:
		p.Data = contactLinkData{Token: token, Ref: desk.ConversationRef(e.ConversationID), Email: e.Email}
		s.render(w, r, pageContinueLink, p)
	}
}

func (s *Server) handleContinue(w http.ResponseWriter, r *http.Request) {
	p, ve := s.contactLinkPage(w, r)
	if ve == nil {
		return
	}
	tok := visitorcookie.Token(r)
	fresh := tok == ""
	if fresh {
		tok = visitorcookie.New()
	}
	e, err := ve.Continue(r.Context(), r.PostForm.Get("token"), visitorcookie.ID(tok))
	switch {
	case code(err) == desk.EContactLinkInvalid:
		s.continueInvalid(w, r, p)
	case err != nil:
		s.internalError(w, r, err)
	default:
		if fresh {
			visitorcookie.Set(w, tok)
		}
		http.Redirect(w, r, "/?chat="+desk.ConversationRef(e.ConversationID), http.StatusSeeOther)
	}
}

func (s *Server) continueInvalid(w http.ResponseWriter, r *http.Request, p *page) {
	s.renderMessage(w, r, p, http.StatusBadRequest, "deskcontact.continue.invalid.title", messageData{TestID: "continue-link-invalid", Body: []string{p.T("deskcontact.continue.invalid.body")}})
}
