package web

import (
	"net/http"

	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/support"
)

// REC-08's one-click cancel (support/recovery.go): every channel of an
// account under assisted recovery gets a link to /recovery/cancel/{token}.
// Like a freeze link, opening it changes nothing (a mail scanner may fetch
// it): the page has the one button, whose POST cancels. No sign-in: the
// owner may have lost every factor; the token is the proof.

const pageRecoveryCancel = "recovery_cancel.html"

// recoveryCancelRoutes are the page's routes, wrapped as the account
// pages are (CrossOrigin on the POST); they answer 404 while the support
// desk is off.
func (s *Server) recoveryCancelRoutes() []Route {
	return []Route{
		{http.MethodGet, identity.RecoveryCancelPath + "{token}", s.account(s.handleRecoveryCancelPage)},
		{http.MethodPost, "/recovery/cancel", s.account(s.handleRecoveryCancel)},
	}
}

func (s *Server) recoverySupport() *support.Service {
	if s.staff == nil || s.staff.support == nil {
		return nil
	}
	return s.staff.support.svc
}

func (s *Server) recoveryCancelInvalid(w http.ResponseWriter, r *http.Request, p *page) {
	s.renderMessage(w, r, p, http.StatusBadRequest, "recovery.cancel.invalid.title", messageData{
		TestID: "recovery-cancel-invalid", Body: []string{p.T("recovery.cancel.invalid.body")},
	})
}

// recoveryCancelOff answers while the support desk is off: 404, never
// cached, as every answer of these routes.
func (s *Server) recoveryCancelOff(w http.ResponseWriter, r *http.Request, p *page) {
	s.renderMessage(w, r, p, http.StatusNotFound, "notfound.title", messageData{TestID: "recovery-cancel-off", Body: []string{p.T("notfound.body")}})
}

func (s *Server) handleRecoveryCancelPage(w http.ResponseWriter, r *http.Request) {
	tok := r.PathValue("token")
	p := s.accountPage(r, "recovery.cancel.page_title")
	p.NoReferrer = true
	if s.recoverySupport() == nil {
		s.recoveryCancelOff(w, r, p)
		return
	}
	if !support.ValidCancelToken(tok) {
		s.recoveryCancelInvalid(w, r, p)
		return
	}
	p.Data = tok
	s.render(w, r, pageRecoveryCancel, p)
}

func (s *Server) handleRecoveryCancel(w http.ResponseWriter, r *http.Request) {
	p := s.accountPage(r, "recovery.cancel.page_title")
	p.NoReferrer = true
	svc := s.recoverySupport()
	if svc == nil {
		s.recoveryCancelOff(w, r, p)
		return
	}
	_, err := svc.CancelRecovery(r.Context(), r.PostForm.Get("token"), s.meta(w, r))
	switch code(err) {
	case "":
		s.renderMessage(w, r, p, http.StatusOK, "recovery.cancel.done.title", messageData{
			TestID: "recovery-cancel-done", Body: []string{p.T("recovery.cancel.done.body")},
		})
	case support.ECancelLinkInvalid:
		s.recoveryCancelInvalid(w, r, p)
	default:
		s.internalError(w, r, err)
	}
}
