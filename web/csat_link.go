package web

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/maildesk"
)

// The page of a rating request by email (maildesk/survey.go): the link
// SurveyPath + token shows a 1-to-5 form for the conversation's
// resolution; its POST rates. No sign-in (the sender may have no account;
// the token is the proof) and, like a freeze link, opening it changes
// nothing: mail scanners fetch links. The routes answer 404 while the
// email channel is off.

const pageCSATLink = "csat_link.html"

// csatLinkRoutes are the page's routes, wrapped as the account pages are
// (CrossOrigin on the POST).
func (s *Server) csatLinkRoutes() []Route {
	return []Route{
		{http.MethodGet, maildesk.SurveyPath + "{token}", s.account(s.handleCSATLinkPage)},
		{http.MethodPost, maildesk.SurveyPath, s.account(s.handleCSATLinkRate)},
	}
}

// csatLinkData is the form page's data.
type csatLinkData struct {
	Token, Ref, Subject string
	Scores              []int
}

func (s *Server) surveys() *maildesk.Service {
	if s.desk == nil {
		return nil
	}
	return s.desk.mail
}

func (s *Server) handleCSATLinkPage(w http.ResponseWriter, r *http.Request) {
	s.csatLink(w, r, r.PathValue("token"), nil)
}

func (s *Server) handleCSATLinkRate(w http.ResponseWriter, r *http.Request) {
	token := r.PostForm.Get("token")
	svc := s.surveys()
	if svc == nil {
		s.csatLink(w, r, token, nil)
		return
	}
	score, err := strconv.Atoi(r.PostForm.Get("rating"))
	if err != nil {
		score = 0 // refused below as out of range
	}
	p := s.accountPage(r, "csat.link.page_title")
	p.NoReferrer = true
	rating, err := svc.RateByLink(r.Context(), token, score, r.PostForm.Get("comment"))
	switch code(err) {
	case "":
		if rating.Replayed {
			s.csatRated(w, r, p, rating)
			return
		}
		s.renderMessage(w, r, p, http.StatusOK, "csat.link.done.title", messageData{TestID: "csat-link-done", Body: []string{p.T("csat.widget.thanks")}})
	case okpay.EInvalid:
		var oe *okpay.Error
		errors.As(err, &oe)
		f := newForm().keep(r, "rating", "comment")
		if _, bad := oe.Fields["rating"]; bad {
			f.set("rating-1", p.T("csat.widget.choose"))
		}
		if _, bad := oe.Fields["comment"]; bad {
			f.set("comment", p.T("csat.link.comment_too_long", "N", desk.MaxCSATCommentRunes))
		}
		s.csatLink(w, r, token, f)
	case maildesk.ESurveyLinkInvalid:
		s.csatInvalid(w, r, p)
	case desk.ECSATNotDue:
		s.csatSuperseded(w, r, p)
	case desk.ECSATAlreadyRated:
		s.csatLink(w, r, token, nil) // shows the rating given
	default:
		s.internalError(w, r, err)
	}
}

// csatLink shows the page of token: the form (with f's errors), or why
// there is none.
func (s *Server) csatLink(w http.ResponseWriter, r *http.Request, token string, f *form) {
	p := s.accountPage(r, "csat.link.page_title")
	p.NoReferrer = true
	svc := s.surveys()
	if svc == nil {
		s.renderMessage(w, r, p, http.StatusNotFound, "notfound.title", messageData{TestID: "csat-link-off", Body: []string{p.T("notfound.body")}})
		return
	}
	sv, err := svc.SurveyByLink(r.Context(), token)
	switch {
	case code(err) == maildesk.ESurveyLinkInvalid:
		s.csatInvalid(w, r, p)
	case err != nil:
		s.internalError(w, r, err)
	case sv.State == maildesk.SurveySuperseded:
		s.csatSuperseded(w, r, p)
	case sv.State == maildesk.SurveyRated:
		s.csatRated(w, r, p, sv.Rating)
	default:
		if f != nil {
			p.Form = f
			p.Status = http.StatusUnprocessableEntity
		}
		p.Data = csatLinkData{Token: token, Ref: sv.Ref, Subject: sv.Subject, Scores: []int{1, 2, 3, 4, 5}}
		s.render(w, r, pageCSATLink, p)
	}
}

func (s *Server) csatInvalid(w http.ResponseWriter, r *http.Request, p *page) {
	s.renderMessage(w, r, p, http.StatusBadRequest, "csat.link.invalid.title", messageData{TestID: "csat-link-invalid", Body: []string{p.T("csat.link.invalid.body")}})
}

// csatSuperseded: the conversation was reopened, or resolved again, since
// the link was sent.
func (s *Server) csatSuperseded(w http.ResponseWriter, r *http.Request, p *page) {
	s.renderMessage(w, r, p, http.StatusConflict, "csat.link.superseded.title", messageData{TestID: "csat-link-superseded", Body: []string{p.T("csat.link.superseded.body")}})
}

func (s *Server) csatRated(w http.ResponseWriter, r *http.Request, p *page, rating *desk.Rating) {
	s.renderMessage(w, r, p, http.StatusOK, "csat.link.rated.title", messageData{TestID: "csat-link-rated", Body: []string{p.T("csat.link.rated.body", "N", rating.Score)}})
}
