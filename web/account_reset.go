package web

import (
	"net/http"
	"strings"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/identity"
)

// ---- Forgot password and reset (REC) ----
//
// Every reset page sends Referrer-Policy: no-referrer (REC-06) and
// Cache-Control: no-store. The flow token lives in the __Host-flow cookie,
// never in a URL.

func (s *Server) forgotPage(r *http.Request, f *form) *page {
	p := s.accountPage(r, "reset.forgot.page_title")
	p.Next = "/password/forgot"
	p.NoReferrer = true
	p.Form = f
	return p
}

func (s *Server) handleForgotPage(w http.ResponseWriter, r *http.Request) {
	f := newForm()
	f.values["channel"] = identity.MethodSMS
	s.render(w, r, pageForgot, s.forgotPage(r, f))
}

// handleForgot starts a reset. The answer is the same for known and
// unknown identifiers (REC-01): the next page always asks for the code.
func (s *Server) handleForgot(w http.ResponseWriter, r *http.Request) {
	f := newForm().keep(r, "identifier", "channel")
	p := s.forgotPage(r, f)
	flow, err := s.id.ForgotPassword(r.Context(), f.Value("identifier"), f.Value("channel"), s.meta(w, r))
	if err != nil {
		switch {
		case p.rateLimited(err):
		case code(err) == okpay.EInvalid:
			fields := fieldErrors(err)
			if _, bad := fields["identifier"]; bad {
				f.set("identifier", p.T("account.error.identifier"))
			}
			if _, bad := fields["channel"]; bad {
				f.set("channel-sms", p.T("account.error.channel"))
			}
			p.Status = http.StatusUnprocessableEntity
		default:
			s.internalError(w, r, err)
			return
		}
		if f.Value("channel") != identity.MethodEmail {
			f.values["channel"] = identity.MethodSMS
		}
		s.render(w, r, pageForgot, p)
		return
	}
	setFlow(w, flow.Token)
	redirect(w, r, "/password/reset")
}

// resetData is the content of password_reset.html.
type resetData struct {
	Step    int    // 1: the code, 2: the second factor, 3: the new password
	Channel string // where the reset code went
	Factors factorForms
}

// resetPage builds the step of the flow st.
func (s *Server) resetPage(r *http.Request, st *identity.Flow, f *form) *page {
	p := s.accountPage(r, "reset.page_title")
	p.Next = "/password/reset"
	p.NoReferrer = true
	p.Form = f
	d := resetData{Step: 1, Channel: resetChannel(st.Methods)}
	switch {
	case st.FactorVerified:
		d.Step = 3
		p.Script = true
	case st.CodeVerified:
		d.Step = 2
		d.Factors = factorForms{
			P: p, Action: "/password/reset/factor", SendAction: "/password/reset/factor/send", Submit: p.T("reset.factor.submit"),
			Methods: p.factorMethods(st.Methods, "reset", func(m string) string {
				switch m {
				case identity.MethodSMS:
					return p.T("account.method.sms.hint_reset")
				case identity.MethodEmail:
					return p.T("account.method.email.hint_reset")
				}
				return p.T("account.method." + m + ".hint")
			}, func(m string) bool { return m == identity.MethodSMS || m == identity.MethodEmail }),
		}
	}
	p.Data = d
	return p
}

// resetChannel is where a flow's reset code went: the one of SMS and
// email that the second step does not offer (MFA-10).
func resetChannel(methods []string) string {
	if offered(methods, identity.MethodSMS) {
		return identity.MethodEmail
	}
	return identity.MethodSMS
}

// resetFlow returns the flow of the request's cookie, or shows that it
// has ended.
func (s *Server) resetFlow(w http.ResponseWriter, r *http.Request) (string, *identity.Flow, bool) {
	tok := cookieValue(r, flowCookie)
	if tok == "" {
		s.renderExpired(w, r, "/password/forgot")
		return "", nil, false
	}
	st, err := s.id.ResetStatus(r.Context(), tok)
	if err != nil {
		if code(err) == identity.EFlowInvalid {
			s.renderExpired(w, r, "/password/forgot")
		} else {
			s.internalError(w, r, err)
		}
		return "", nil, false
	}
	return tok, st, true
}

func (s *Server) handleResetPage(w http.ResponseWriter, r *http.Request) {
	_, st, ok := s.resetFlow(w, r)
	if !ok {
		return
	}
	p := s.resetPage(r, st, newForm())
	if r.URL.Query().Get("sent") == "1" && st.CodeVerified && !st.FactorVerified {
		p.Notice = p.T("reset.notice.factor_sent")
	}
	s.render(w, r, pageReset, p)
}

// resetFailed re-renders the flow's current step with err, or shows that
// the flow ended.
func (s *Server) resetFailed(w http.ResponseWriter, r *http.Request, tok, field string, err error) {
	if code(err) == identity.EFlowInvalid {
		s.renderExpired(w, r, "/password/forgot")
		return
	}
	st, serr := s.id.ResetStatus(r.Context(), tok)
	if serr != nil {
		if code(serr) == identity.EFlowInvalid {
			s.renderExpired(w, r, "/password/forgot")
		} else {
			s.internalError(w, r, serr)
		}
		return
	}
	f := newForm()
	p := s.resetPage(r, st, f)
	p.Status = http.StatusUnprocessableEntity
	c := code(err)
	switch {
	case p.rateLimited(err):
	case c == errCodeRequired:
		f.set(field, p.T("account.error.code_required"))
	case c == identity.EInvalidCode:
		f.set(field, p.T("account.error.code"))
	case c == identity.EFactorUnavailable:
		f.set(field, p.T("account.error.factor_unavailable"))
	case isPasswordCode(c):
		f.set(field, p.passwordMessage(c))
	case c == errPasswordRequired:
		f.set(field, p.T("account.error.password_required"))
	default:
		s.internalError(w, r, err)
		return
	}
	s.render(w, r, pageReset, p)
}

// Codes of the page's own checks, before the service is asked.
const (
	errCodeRequired     = "code_required"
	errPasswordRequired = "password_required"
)

// handleResetCode checks the reset code (step 1).
func (s *Server) handleResetCode(w http.ResponseWriter, r *http.Request) {
	tok, _, ok := s.resetFlow(w, r)
	if !ok {
		return
	}
	c := r.PostForm.Get("code")
	if strings.TrimSpace(c) == "" {
		s.resetFailed(w, r, tok, "reset-code", okpay.Errorf(errCodeRequired, "no code"))
		return
	}
	if _, err := s.id.ResetVerifyCode(r.Context(), tok, c, s.meta(w, r)); err != nil {
		s.resetFailed(w, r, tok, "reset-code", err)
		return
	}
	redirect(w, r, "/password/reset")
}

// handleResetFactorSend sends the second-step code over the other channel
// than the reset code's.
func (s *Server) handleResetFactorSend(w http.ResponseWriter, r *http.Request) {
	tok, st, ok := s.resetFlow(w, r)
	if !ok {
		return
	}
	if err := s.id.ResetSendFactorCode(r.Context(), tok, s.meta(w, r)); err != nil {
		s.resetFailed(w, r, tok, "reset-"+otherChannel(resetChannel(st.Methods)), err)
		return
	}
	redirect(w, r, "/password/reset?sent=1")
}

func otherChannel(c string) string {
	if c == identity.MethodSMS {
		return identity.MethodEmail
	}
	return identity.MethodSMS
}

// handleResetFactor passes the second step (REC-04): the service accepts
// only a factor other than the reset code's channel.
func (s *Server) handleResetFactor(w http.ResponseWriter, r *http.Request) {
	tok, st, ok := s.resetFlow(w, r)
	if !ok {
		return
	}
	method, c := r.PostForm.Get("method"), r.PostForm.Get("code")
	if !offered(st.Methods, method) || !offered(knownMethods, method) {
		s.renderAccountError(w, r, http.StatusBadRequest, "problem.invalid_request.title", "problem.invalid_request.detail")
		return
	}
	field := "reset-" + method
	if strings.TrimSpace(c) == "" {
		s.resetFailed(w, r, tok, field, okpay.Errorf(errCodeRequired, "no code"))
		return
	}
	if _, err := s.id.ResetVerifyFactor(r.Context(), tok, method, c, s.meta(w, r)); err != nil {
		s.resetFailed(w, r, tok, field, err)
		return
	}
	redirect(w, r, "/password/reset")
}

// handleResetNew sets the new password (step 3). Every session ends,
// money-out waits 24 h, and the user signs in again: no auto-login
// (REC-05).
func (s *Server) handleResetNew(w http.ResponseWriter, r *http.Request) {
	tok, _, ok := s.resetFlow(w, r)
	if !ok {
		return
	}
	pw := r.PostForm.Get("new_password")
	if pw == "" {
		s.resetFailed(w, r, tok, "new_password", okpay.Errorf(errPasswordRequired, "no password"))
		return
	}
	if err := s.id.ResetComplete(r.Context(), tok, pw, s.meta(w, r)); err != nil {
		s.resetFailed(w, r, tok, "new_password", err)
		return
	}
	clearCookie(w, flowCookie)
	clearCookie(w, sessionCookie)
	p := s.accountPage(r, "reset.done.title")
	p.NoReferrer = true
	p.SignedIn = false
	s.renderMessage(w, r, p, http.StatusOK, "reset.done.title", messageData{
		TestID: "reset-done", Body: []string{p.T("reset.done.body"), p.T("reset.done.review")},
		LinkHref: "/login", LinkText: p.T("account.nav.sign_in"),
	})
}

// ---- "Not you? Freeze my account" links (NOT-05, RSK-05) ----

// handleFreezeLinkPage asks before freezing: opening the link changes
// nothing (a mail scanner may fetch it); the token goes on in the form.
func (s *Server) handleFreezeLinkPage(w http.ResponseWriter, r *http.Request) {
	tok := r.PathValue("token")
	p := s.accountPage(r, "freeze.page_title")
	p.NoReferrer = true
	if !validToken(tok) {
		s.renderMessage(w, r, p, http.StatusBadRequest, "freeze.invalid.title", messageData{
			TestID: "freeze-invalid", Body: []string{p.T("freeze.invalid.body")},
		})
		return
	}
	p.Data = tok
	s.render(w, r, pageFreezeLink, p)
}

// handleFreezeLink freezes the account of a link; using a link again is
// harmless and shows the same result.
func (s *Server) handleFreezeLink(w http.ResponseWriter, r *http.Request) {
	tok := r.PostForm.Get("token")
	p := s.accountPage(r, "freeze.page_title")
	p.NoReferrer = true
	var err error
	if !validToken(tok) {
		err = okpay.Errorf(identity.EFlowInvalid, "bad link")
	} else {
		err = s.id.FreezeByLink(r.Context(), tok, s.meta(w, r))
	}
	switch code(err) {
	case "":
		s.renderMessage(w, r, p, http.StatusOK, "freeze.done.title", messageData{
			TestID: "freeze-done", Body: []string{p.T("freeze.done.body")},
		})
	case identity.EFlowInvalid:
		s.renderMessage(w, r, p, http.StatusBadRequest, "freeze.invalid.title", messageData{
			TestID: "freeze-invalid", Body: []string{p.T("freeze.invalid.body")},
		})
	default:
		s.internalError(w, r, err)
	}
}

// ---- Development mailbox ----

// handleMailbox shows the emails and SMS the development mailbox caught,
// newest first. Development only: Register adds it only when
// Config.Mailbox is set.
func (s *Server) handleMailbox(w http.ResponseWriter, r *http.Request) {
	p := s.accountPage(r, "mailbox.page_title")
	p.NoReferrer = true
	p.Data = s.mailbox.List()
	s.render(w, r, pageMailbox, p)
}
