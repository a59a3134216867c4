package web

import (
	"net/http"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/phone"
)

// The customer's side of caller verification (SUP-05): the in-app
// notification "an OKPay agent on a call asks to verify you" holds no code
// (notifications are stored in plain text) but links to
// /account/phone-verify/<ref>, which shows the code to the signed-in owner
// while it waits, and offers "I am not on a call with OKPay" (POST
// .../refuse), which cancels the request; the agent sees the refusal. Any
// other challenge, or one no longer waiting, is 404.

// phoneVerifyData is the content of account_phone_verify.html: Code is
// empty on a refused challenge.
type phoneVerifyData struct {
	Ref     string
	Code    string
	Minutes int
}

func (s *Server) handlePhoneVerifyCode(w http.ResponseWriter, r *http.Request) {
	a, ok := s.requireSignIn(w, r)
	if !ok {
		return
	}
	ref := r.PathValue("ref")
	id, ok := phone.ParseChallengeRef(ref)
	if !ok {
		s.renderAccountError(w, r, http.StatusNotFound, "notfound.title", "notfound.body")
		return
	}
	c, err := s.phone.svc.CustomerChallenge(r.Context(), a.user.ID, id)
	switch code(err) {
	case "":
	case okpay.ENotFound:
		s.renderAccountError(w, r, http.StatusNotFound, "notfound.title", "notfound.body")
		return
	default:
		s.internalError(w, r, err)
		return
	}
	p := s.settingsPage(r, "phone.verify.page.title")
	p.Data = phoneVerifyData{Ref: phone.ChallengeRef(c.ID), Code: c.Code, Minutes: c.ExpiresIn(s.phone.svc.Clock.Now())}
	s.render(w, r, pageVerifyCode, p)
}

func (s *Server) handlePhoneVerifyRefuse(w http.ResponseWriter, r *http.Request) {
	a, ok := s.requireSignIn(w, r)
	if !ok {
		return
	}
	ref := r.PathValue("ref")
	id, ok := phone.ParseChallengeRef(ref)
	if !ok {
		s.renderAccountError(w, r, http.StatusNotFound, "notfound.title", "notfound.body")
		return
	}
	m := s.meta(w, r)
	err := s.phone.svc.RefuseChallenge(r.Context(), a.user.ID, id, phone.Requester{IP: m.IP, DeviceID: m.DeviceID, RequestID: w.Header().Get("X-Request-Id")})
	switch code(err) {
	case "":
		redirect(w, r, "/account/phone-verify/"+phone.ChallengeRef(id))
	case okpay.ENotFound:
		s.renderAccountError(w, r, http.StatusNotFound, "notfound.title", "notfound.body")
	default:
		s.internalError(w, r, err)
	}
}
