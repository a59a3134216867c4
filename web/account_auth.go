package web

import (
	"net/http"
	"strings"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/identity"
)

// ---- Sign-up ----

func (s *Server) signupPage(r *http.Request, f *form) *page {
	p := s.accountPage(r, "signup.page_title")
	p.Next = "/signup"
	p.SignedIn = false
	p.Script = true
	p.Form = f
	return p
}

func (s *Server) handleSignupPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, pageSignup, s.signupPage(r, newForm()))
}

// handleSignup opens an account and sends the two verification codes. The
// answer is the same whether or not the email or phone is taken (LOG-10).
func (s *Server) handleSignup(w http.ResponseWriter, r *http.Request) {
	f := newForm().keep(r, "email", "phone")
	p := s.signupPage(r, f)
	pw := r.PostForm.Get("password")
	m := s.meta(w, r)
	flow, err := s.id.Register(r.Context(), identity.RegisterInput{
		Email: f.Value("email"), Phone: f.Value("phone"), Password: pw, Lang: p.Lang,
	}, m)
	if err != nil {
		c := code(err)
		switch {
		case p.rateLimited(err):
		case isPasswordCode(c):
			f.set("password", p.passwordMessage(c))
			p.Status = http.StatusUnprocessableEntity
		case c == okpay.EInvalid:
			fields := fieldErrors(err)
			for _, k := range []string{"email", "phone", "password"} {
				if _, bad := fields[k]; !bad {
					continue
				}
				switch k {
				case "email":
					f.set(k, p.T("account.error.email"))
				case "phone":
					f.set(k, p.T("account.error.phone"))
				case "password":
					// With other fields wrong the service reports no rule
					// code: ask the policy which rule failed.
					f.set(k, p.passwordMessage(code(s.id.CheckPassword(pw, s.id.Config().ProductName))))
				}
			}
			p.Status = http.StatusUnprocessableEntity
		default:
			s.internalError(w, r, err)
			return
		}
		s.render(w, r, pageSignup, p)
		return
	}
	setFlow(w, flow.Token)
	redirect(w, r, "/signup/verify")
}

// signupVerifyData is the content of signup_verify.html.
type signupVerifyData struct {
	Destination                  string
	EmailVerified, PhoneVerified bool
}

func (s *Server) signupVerifyPage(r *http.Request, st *identity.Flow, f *form) *page {
	p := s.accountPage(r, "signup.verify.page_title")
	p.Next = "/signup/verify"
	p.SignedIn = false
	p.Form = f
	p.Data = signupVerifyData{Destination: st.Destination, EmailVerified: st.EmailVerified, PhoneVerified: st.PhoneVerified}
	return p
}

func (s *Server) handleSignupVerifyPage(w http.ResponseWriter, r *http.Request) {
	tok := cookieValue(r, flowCookie)
	if tok == "" {
		s.renderExpired(w, r, "/signup")
		return
	}
	st, err := s.id.SignupStatus(r.Context(), tok)
	if err != nil {
		if code(err) == identity.EFlowInvalid {
			s.renderExpired(w, r, "/signup")
			return
		}
		s.internalError(w, r, err)
		return
	}
	p := s.signupVerifyPage(r, st, newForm())
	switch r.URL.Query().Get("sent") {
	case identity.MethodEmail:
		p.Notice = p.T("signup.verify.sent.email")
	case identity.MethodSMS:
		p.Notice = p.T("signup.verify.sent.sms")
	}
	s.render(w, r, pageSignupVerify, p)
}

// handleSignupVerify checks the email and SMS codes; when both contacts
// are verified the account is signed in (the SMS code was its second
// factor) and the flow ends.
func (s *Server) handleSignupVerify(w http.ResponseWriter, r *http.Request) {
	tok := cookieValue(r, flowCookie)
	if tok == "" {
		s.renderExpired(w, r, "/signup")
		return
	}
	emailCode, smsCode := r.PostForm.Get("email_code"), r.PostForm.Get("sms_code")
	flow, session, err := s.id.VerifySignup(r.Context(), tok, emailCode, smsCode, s.meta(w, r))
	if err == nil {
		clearCookie(w, flowCookie)
		setSession(w, session)
		redirect(w, r, "/account")
		return
	}
	switch code(err) {
	case identity.EFlowInvalid:
		s.renderExpired(w, r, "/signup")
		return
	case identity.EInvalidCode:
	default:
		s.internalError(w, r, err)
		return
	}
	if flow == nil {
		flow = &identity.Flow{}
	}
	if st, err := s.id.SignupStatus(r.Context(), tok); err == nil {
		flow.Destination = st.Destination
	}
	f := newForm()
	p := s.signupVerifyPage(r, flow, f)
	for _, c := range []struct {
		field, value string
		done         bool
	}{{"email_code", emailCode, flow.EmailVerified}, {"sms_code", smsCode, flow.PhoneVerified}} {
		switch {
		case c.done:
		case strings.TrimSpace(c.value) == "":
			f.set(c.field, p.T("account.error.code_required"))
		default:
			f.set(c.field, p.T("account.error.code"))
		}
	}
	if !f.Any() {
		f.fail(p.T("account.error.code"))
	}
	p.Status = http.StatusUnprocessableEntity
	s.render(w, r, pageSignupVerify, p)
}

// handleSignupResend sends a new code to one contact of the sign-up flow.
func (s *Server) handleSignupResend(w http.ResponseWriter, r *http.Request) {
	tok := cookieValue(r, flowCookie)
	if tok == "" {
		s.renderExpired(w, r, "/signup")
		return
	}
	channel := r.PostForm.Get("channel")
	if channel != identity.MethodEmail && channel != identity.MethodSMS {
		s.renderAccountError(w, r, http.StatusBadRequest, "problem.invalid_request.title", "problem.invalid_request.detail")
		return
	}
	err := s.id.ResendSignupCode(r.Context(), tok, channel, s.meta(w, r))
	if err == nil {
		redirect(w, r, "/signup/verify?sent="+channel)
		return
	}
	if code(err) == identity.EFlowInvalid {
		s.renderExpired(w, r, "/signup")
		return
	}
	st, serr := s.id.SignupStatus(r.Context(), tok)
	if serr != nil {
		s.internalError(w, r, serr)
		return
	}
	p := s.signupVerifyPage(r, st, newForm())
	if !p.rateLimited(err) {
		s.internalError(w, r, err)
		return
	}
	s.render(w, r, pageSignupVerify, p)
}

// ---- Sign-in ----

func (s *Server) loginPage(r *http.Request, f *form) *page {
	p := s.accountPage(r, "login.page_title")
	p.Next = "/login"
	p.SignedIn = false
	p.Script = true
	p.Form = f
	return p
}

func (s *Server) handleLoginPage(w http.ResponseWriter, r *http.Request) {
	if tok := cookieValue(r, sessionCookie); tok != "" {
		if ss, _, err := s.id.Authenticate(r.Context(), tok); err == nil && ss.AAL >= identity.AAL2 {
			afterSignIn(w, r)
			return
		}
	}
	p := s.loginPage(r, newForm())
	q := r.URL.Query()
	switch {
	case q.Get("out") == "1":
		p.Notice = p.T("login.notice.signed_out")
	case q.Get("expired") == "1":
		p.Notice = p.T("login.notice.expired")
	case q.Get("ended") == "1":
		p.Notice = p.T("login.notice.ended")
	}
	s.render(w, r, pageLogin, p)
}

// handleLogin checks the identifier and password. Every failure shows the
// same text (LOG-01); on success the browser holds an AAL1 session that
// only the second-factor page accepts (MFA-01).
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	f := newForm().keep(r, "identifier")
	p := s.loginPage(r, f)
	pw := r.PostForm.Get("password")
	if strings.TrimSpace(f.Value("identifier")) == "" {
		f.set("identifier", p.T("account.error.identifier_required"))
	}
	if pw == "" {
		f.set("password", p.T("account.error.password_required"))
	}
	if f.Any() {
		p.Status = http.StatusUnprocessableEntity
		s.render(w, r, pageLogin, p)
		return
	}
	res, err := s.id.Login(r.Context(), f.Value("identifier"), pw, s.meta(w, r))
	if err != nil {
		switch {
		case p.rateLimited(err):
		case code(err) == identity.EInvalidCredentials:
			f.fail(p.T("account.error.credentials"))
			p.Status = http.StatusUnauthorized
		default:
			s.internalError(w, r, err)
			return
		}
		s.render(w, r, pageLogin, p)
		return
	}
	// A session this browser held before ends: one browser, one session.
	if old := cookieValue(r, sessionCookie); old != "" {
		if err := s.id.Logout(r.Context(), old, s.meta(w, r)); err != nil {
			s.log.WarnContext(r.Context(), "web: end the previous session", "err", err)
		}
	}
	setSession(w, res.Token)
	to := "/login/verify"
	if res.SMSError != nil {
		to += "?sms=failed"
	}
	redirect(w, r, to)
}

// pendingLogin returns the session waiting for its second factor, or
// redirects: to /login without a live session, to /account when the
// session is already complete.
func (s *Server) pendingLogin(w http.ResponseWriter, r *http.Request) (token string, u *identity.User, ok bool) {
	token = cookieValue(r, sessionCookie)
	if token == "" {
		redirect(w, r, "/login")
		return "", nil, false
	}
	ss, _, err := s.id.Authenticate(r.Context(), token)
	if err != nil {
		s.sessionFailed(w, r, err)
		return "", nil, false
	}
	if ss.AAL >= identity.AAL2 {
		redirect(w, r, "/account")
		return "", nil, false
	}
	u, err = s.id.FindUser(r.Context(), ss.UserID)
	if err != nil {
		s.internalError(w, r, err)
		return "", nil, false
	}
	return token, u, true
}

// sessionFailed handles an Authenticate error: a dead or expired session
// sends the browser to the sign-in page and forgets its cookie.
func (s *Server) sessionFailed(w http.ResponseWriter, r *http.Request, err error) {
	switch code(err) {
	case okpay.EUnauthorized:
		// The cookie's session ended: signed out on another device, by a
		// password change or reset, a freeze, or an agent.
		clearCookie(w, sessionCookie)
		toSignIn(w, r, "/login?ended=1")
	case identity.ESessionExpired:
		clearCookie(w, sessionCookie)
		toSignIn(w, r, "/login?expired=1")
	default:
		s.internalError(w, r, err)
	}
}

func (s *Server) loginVerifyPage(r *http.Request, u *identity.User, f *form) *page {
	p := s.accountPage(r, "login.verify.page_title")
	p.Next = "/login/verify"
	p.SignedIn = false
	p.Script = true // the passkey button
	p.Form = f
	dest := maskPhone(u.Phone)
	p.Data = factorForms{
		P: p, Action: "/login/verify", SendAction: "/login/verify/sms", Submit: p.T("login.verify.submit"),
		PasskeyAction: s.passkeyAction(u, "/login/verify/passkey"),
		Methods: p.factorMethods(accountMethods(u), "login", func(m string) string {
			if m == identity.MethodSMS {
				if u.TOTPEnabled {
					return p.T("account.method.sms.hint_send", "Destination", dest)
				}
				return p.T("account.method.sms.hint_sent", "Destination", dest)
			}
			return p.T("account.method." + m + ".hint")
		}, func(m string) bool { return m == identity.MethodSMS }),
	}
	return p
}

func (s *Server) handleLoginVerifyPage(w http.ResponseWriter, r *http.Request) {
	_, u, ok := s.pendingLogin(w, r)
	if !ok {
		return
	}
	p := s.loginVerifyPage(r, u, newForm())
	switch r.URL.Query().Get("sms") {
	case "sent":
		p.Notice = p.T("login.verify.notice.sms_sent", "Destination", maskPhone(u.Phone))
	case "failed":
		p.Notice = p.T("login.verify.notice.sms_failed")
	}
	s.render(w, r, pageLoginVerify, p)
}

// handleLoginVerify completes the sign-in with a second factor. The
// session gets a new token (SES-02): the pre-login cookie is dead after.
func (s *Server) handleLoginVerify(w http.ResponseWriter, r *http.Request) {
	tok, u, ok := s.pendingLogin(w, r)
	if !ok {
		return
	}
	method, c := r.PostForm.Get("method"), r.PostForm.Get("code")
	f := newForm()
	p := s.loginVerifyPage(r, u, f)
	field := "login-" + method
	if !offered(accountMethods(u), method) {
		s.renderAccountError(w, r, http.StatusBadRequest, "problem.invalid_request.title", "problem.invalid_request.detail")
		return
	}
	if strings.TrimSpace(c) == "" {
		f.set(field, p.T("account.error.code_required"))
		p.Status = http.StatusUnprocessableEntity
		s.render(w, r, pageLoginVerify, p)
		return
	}
	res, err := s.id.VerifyFactor(r.Context(), tok, method, c, s.meta(w, r))
	if err != nil {
		switch code(err) {
		case okpay.EUnauthorized, identity.ESessionExpired:
			s.sessionFailed(w, r, err)
			return
		case identity.EInvalidCode:
			f.set(field, p.T(codeMessage(method)))
		case identity.EFactorUnavailable:
			f.set(field, p.T("account.error.factor_unavailable"))
		default:
			s.internalError(w, r, err)
			return
		}
		p.Status = http.StatusUnprocessableEntity
		s.render(w, r, pageLoginVerify, p)
		return
	}
	setSession(w, res.Token)
	adoptAccountLang(w, r, u.Lang)
	afterSignIn(w, r)
}

// handleLoginSendSMS sends a new SMS code to a session waiting for its
// second factor (send limits apply, MFA-03).
func (s *Server) handleLoginSendSMS(w http.ResponseWriter, r *http.Request) {
	tok, u, ok := s.pendingLogin(w, r)
	if !ok {
		return
	}
	_, err := s.id.SendLoginCode(r.Context(), tok, s.meta(w, r))
	if err == nil {
		redirect(w, r, "/login/verify?sms=sent")
		return
	}
	switch code(err) {
	case okpay.EUnauthorized, identity.ESessionExpired:
		s.sessionFailed(w, r, err)
		return
	}
	p := s.loginVerifyPage(r, u, newForm())
	if !p.rateLimited(err) {
		s.internalError(w, r, err)
		return
	}
	s.render(w, r, pageLoginVerify, p)
}

// handleLogout ends the session (SES-04) and forgets the cookie.
func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	if tok := cookieValue(r, sessionCookie); tok != "" {
		if err := s.id.Logout(r.Context(), tok, s.meta(w, r)); err != nil {
			s.internalError(w, r, err)
			return
		}
	}
	clearCookie(w, sessionCookie)
	redirect(w, r, "/login?out=1")
}

// codeMessage is what a wrong code of method says: an authenticator app's
// code cannot be asked for anew (the general message says to), it is the
// one the app shows now.
func codeMessage(method string) string {
	if method == identity.MethodTOTP {
		return "account.error.totp_code"
	}
	return "account.error.code"
}
