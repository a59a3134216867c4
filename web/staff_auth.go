package web

import (
	"errors"
	"html/template"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/agent"
	"github.com/okpay/okpay/identity/passkey"
)

// ---- Sign-in: email and password ----

// staffLoginData is the content of staff_login.html.
type staffLoginData struct {
	staffNav
}

func (s *Server) staffLoginPage(r *http.Request, f *form) *page {
	p := s.staffPage(r, "staff.login.page_title")
	p.Next = "/staff/login"
	p.Script = true
	p.Form = f
	p.Data = staffLoginData{}
	return p
}

func (s *Server) handleStaffLoginPage(w http.ResponseWriter, r *http.Request) {
	if tok := cookieValue(r, staffCookie); tok != "" {
		if ss, _, err := s.staff.svc.Authenticate(r.Context(), tok); err == nil {
			redirect(w, r, staffLanding(ss))
			return
		}
	}
	p := s.staffLoginPage(r, newForm())
	switch q := r.URL.Query(); {
	case q.Get("out") == "1":
		p.Notice = p.T("staff.notice.signed_out")
	case q.Get("expired") == "1":
		p.Notice = p.T("staff.notice.expired")
	}
	s.render(w, r, pageStaffLogin, p)
}

// staffRateLimited puts a "too many attempts" error on the form and makes
// the page a 429 with Retry-After; false when err is another error.
func (p *page) staffRateLimited(err error) bool {
	var rl *agent.RateLimitError
	if !errors.As(err, &rl) {
		return false
	}
	if p.Form == nil {
		p.Form = newForm()
	}
	p.Form.fail(p.T("account.rate_limited", "Retry", p.retryText(rl.RetryAfter)))
	p.Status = http.StatusTooManyRequests
	p.RetryAfter = max(rl.RetryAfter, time.Second)
	return true
}

// handleStaffLogin checks the email and password. Every failure shows the
// same text; on success the browser holds a session that only the
// passkey step accepts.
func (s *Server) handleStaffLogin(w http.ResponseWriter, r *http.Request) {
	f := newForm().keep(r, "email")
	p := s.staffLoginPage(r, f)
	pw := r.PostForm.Get("password")
	if strings.TrimSpace(f.Value("email")) == "" {
		f.set("email", p.T("staff.error.email_required"))
	}
	if pw == "" {
		f.set("password", p.T("staff.error.password_required"))
	}
	if f.Any() {
		p.Status = http.StatusUnprocessableEntity
		s.render(w, r, pageStaffLogin, p)
		return
	}
	m := s.staffMeta(w, r)
	res, err := s.staff.svc.Login(r.Context(), f.Value("email"), pw, m)
	if err != nil {
		switch {
		case p.staffRateLimited(err):
		case code(err) == agent.EInvalidCredentials:
			f.fail(p.T("staff.error.credentials"))
			p.Status = http.StatusUnauthorized
		default:
			s.staffInternal(w, r, err)
			return
		}
		s.render(w, r, pageStaffLogin, p)
		return
	}
	// One browser, one staff session.
	if old := cookieValue(r, staffCookie); old != "" {
		if err := s.staff.svc.Logout(r.Context(), old, m); err != nil {
			s.log.WarnContext(r.Context(), "web: end the previous staff session", "err", err)
		}
	}
	setStaffCookie(w, res.Token)
	redirect(w, r, "/staff/login/verify")
}

// ---- Sign-in: the second factor (and step-up) ----

// staffVerifyData is the content of staff_verify.html.
type staffVerifyData struct {
	staffNav
	Passkey bool
	TOTP    bool
	// StepUp: a full session confirming itself again (the sudo window).
	StepUp bool
	Next   string
}

// staffNextPath keeps a return path inside the console.
func staffNextPath(next string) string {
	if n := safeNext(next); strings.HasPrefix(n, "/staff/") {
		return n
	}
	return "/staff/"
}

func (s *Server) staffVerifyPage(r *http.Request, a *staffAuth, f *form) *page {
	p := s.staffPage(r, "staff.verify.page_title")
	p.Next = "/staff/login/verify"
	p.Script = true // the passkey button
	p.Form = f
	methods := s.staff.svc.Methods(a.agent)
	next := r.URL.Query().Get("next")
	if r.Method == http.MethodPost {
		next = r.PostForm.Get("next")
	}
	p.Data = staffVerifyData{staffNav: s.navFor(r), Passkey: slices.Contains(methods, agent.MethodPasskey),
		TOTP: slices.Contains(methods, agent.MethodTOTP), StepUp: a.session.Full(), Next: staffNextPath(next)}
	return p
}

func (s *Server) handleStaffVerifyPage(w http.ResponseWriter, r *http.Request) {
	a := staffFrom(r)
	p := s.staffVerifyPage(r, a, newForm())
	if len(s.staff.svc.Methods(a.agent)) == 0 {
		p.Form.fail(p.T("staff.error.no_factor"))
	}
	s.render(w, r, pageStaffVerify, p)
}

// staffCeremony is the content of staff_passkey.html.
type staffCeremony struct {
	staffNav
	Mode    string // "create" or "get"
	Heading string
	Lead    string
	Submit  string
	Action  string
	Flow    string
	Options string
	Label   bool
	Next    string
	Cancel  string
}

func (s *Server) renderStaffCeremony(w http.ResponseWriter, r *http.Request, p *page, d staffCeremony) {
	p.Script = true
	p.NoReferrer = true
	p.Heading = d.Heading
	d.staffNav = s.navFor(r)
	p.Data = d
	s.render(w, r, pageStaffPasskey, p)
}

// staffPasskeyError returns the message id and status of a passkey
// error; ok is false for errors the pages do not explain.
func staffPasskeyError(err error) (id string, status int, ok bool) {
	switch code(err) {
	case passkey.EInvalid:
		return "staff.error.passkey", http.StatusUnauthorized, true
	case passkey.EFlowInvalid:
		return "staff.error.passkey_flow", http.StatusConflict, true
	case passkey.ECloned:
		return "staff.error.passkey_cloned", http.StatusUnauthorized, true
	case passkey.EExists:
		return "staff.error.passkey_exists", http.StatusConflict, true
	case okpay.EInvalid:
		return "staff.error.invalid", http.StatusUnprocessableEntity, true
	case agent.EFactorUnavailable:
		return "staff.error.no_factor", http.StatusConflict, true
	}
	return "", 0, false
}

// staffFactorFailed shows the factor page again with what went wrong.
func (s *Server) staffFactorFailed(w http.ResponseWriter, r *http.Request, err error) {
	switch code(err) {
	case okpay.EUnauthorized, agent.ESessionExpired:
		s.staffSessionFailed(w, r, err)
		return
	}
	a := staffFrom(r)
	p := s.staffVerifyPage(r, a, newForm())
	switch id, status, ok := staffPasskeyError(err); {
	case ok:
		p.Form.fail(p.T(id))
		p.Status = status
	case code(err) == agent.EInvalidCode:
		p.Form.set("staff-totp", p.T("staff.error.code"))
		p.Status = http.StatusUnauthorized
	case code(err) == agent.EFactorUnavailable:
		p.Form.fail(p.T("staff.error.totp_off"))
		p.Status = http.StatusConflict
	default:
		s.staffInternal(w, r, err)
		return
	}
	s.render(w, r, pageStaffVerify, p)
}

func (s *Server) handleStaffPasskeyBegin(w http.ResponseWriter, r *http.Request) {
	a := staffFrom(r)
	opts, flow, err := s.staff.svc.BeginPasskeyLogin(r.Context(), a.token)
	if err != nil {
		s.staffFactorFailed(w, r, err)
		return
	}
	next := staffNextPath(r.PostForm.Get("next"))
	p := s.staffPage(r, "staff.verify.page_title")
	p.Next = "/staff/login/verify"
	d := staffCeremony{Mode: "get", Heading: p.T("staff.passkey.login.title"), Lead: p.T("staff.passkey.login.lead"),
		Submit: p.T("staff.passkey.login.submit"), Action: "/staff/login/passkey/finish", Flow: flow, Options: string(opts),
		Next: next, Cancel: "/staff/login/verify"}
	if a.session.Full() {
		d.Heading, d.Lead, d.Cancel = p.T("staff.passkey.stepup.title"), p.T("staff.passkey.stepup.lead"), next
	}
	s.renderStaffCeremony(w, r, p, d)
}

// handleStaffPasskeyFinish completes the sign-in (or step-up) with the
// passkey; the session gets a new token (SES-02).
func (s *Server) handleStaffPasskeyFinish(w http.ResponseWriter, r *http.Request) {
	a := staffFrom(r)
	flow, response := ceremonyForm(r)
	res, err := s.staff.svc.FinishPasskeyLogin(r.Context(), a.token, flow, response, s.staffMeta(w, r))
	if err != nil {
		s.staffFactorFailed(w, r, err)
		return
	}
	setStaffCookie(w, res.Token)
	redirect(w, r, s.afterFactor(r, a))
}

// afterFactor is where a completed factor step leads: back to the page a
// step-up came from, else the staff home.
func (s *Server) afterFactor(r *http.Request, a *staffAuth) string {
	if a.session.Full() {
		return staffNextPath(r.PostForm.Get("next"))
	}
	return "/staff/"
}

// handleStaffTOTP completes the sign-in with an authenticator-app code;
// only servers started with AllowTOTP accept it.
func (s *Server) handleStaffTOTP(w http.ResponseWriter, r *http.Request) {
	a := staffFrom(r)
	c := strings.TrimSpace(r.PostForm.Get("code"))
	if c == "" {
		p := s.staffVerifyPage(r, a, newForm())
		p.Form.set("staff-totp", p.T("staff.error.code_required"))
		p.Status = http.StatusUnprocessableEntity
		s.render(w, r, pageStaffVerify, p)
		return
	}
	res, err := s.staff.svc.VerifyTOTP(r.Context(), a.token, c, s.staffMeta(w, r))
	if err != nil {
		s.staffFactorFailed(w, r, err)
		return
	}
	setStaffCookie(w, res.Token)
	redirect(w, r, s.afterFactor(r, a))
}

// handleStaffLogout ends the staff session and forgets the cookie.
func (s *Server) handleStaffLogout(w http.ResponseWriter, r *http.Request) {
	a := staffFrom(r)
	if err := s.staff.svc.Logout(r.Context(), a.token, s.staffMeta(w, r)); err != nil {
		s.staffInternal(w, r, err)
		return
	}
	clearStaffCookie(w)
	redirect(w, r, "/staff/login?out=1")
}

// ---- Enrolment ----

// staffEnrollData is the content of staff_enroll.html.
type staffEnrollData struct {
	staffNav
	Token string
	Name  string
	Email string
}

func (s *Server) staffEnrollInvalid(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		clearStaffCookie(w)
	}
	p := s.staffPage(r, "staff.enroll.invalid.title")
	p.NoReferrer = true
	p.Status = http.StatusBadRequest
	p.Heading = p.T("staff.enroll.invalid.title")
	p.Data = staffMessageData{TestID: "enroll-invalid", Status: p.Status, Body: []string{p.T("staff.enroll.invalid.body")},
		LinkHref: "/staff/login", LinkText: p.T("staff.login.page_title")}
	s.render(w, r, pageStaffMessage, p)
}

func (s *Server) staffEnrollPage(r *http.Request, tok string, a *agent.Agent, f *form) *page {
	p := s.staffPage(r, "staff.enroll.page_title")
	// The link's token is in its path: the page sends no Referer, and the
	// language switch returns to the staff sign-in rather than carrying it.
	p.NoReferrer = true
	p.Next = "/staff/login"
	p.Script = true
	p.Form = f
	p.Data = staffEnrollData{Token: tok, Name: a.DisplayName, Email: a.Email}
	return p
}

// handleStaffEnrollPage shows the enrolment form of a link. It only
// reads: the link is used up when the first factor is registered.
func (s *Server) handleStaffEnrollPage(w http.ResponseWriter, r *http.Request) {
	tok := r.PathValue("token")
	if !validToken(tok) {
		s.staffEnrollInvalid(w, r)
		return
	}
	a, err := s.staff.svc.EnrollmentAgent(r.Context(), tok)
	if err != nil {
		if code(err) == agent.EEnrollmentInvalid {
			s.staffEnrollInvalid(w, r)
			return
		}
		s.staffInternal(w, r, err)
		return
	}
	s.render(w, r, pageStaffEnroll, s.staffEnrollPage(r, tok, a, newForm()))
}

// handleStaffEnroll sets the password and opens the enrolment session
// whose only use is registering the passkey.
func (s *Server) handleStaffEnroll(w http.ResponseWriter, r *http.Request) {
	tok := r.PostForm.Get("token")
	if !validToken(tok) {
		s.staffEnrollInvalid(w, r)
		return
	}
	a, err := s.staff.svc.EnrollmentAgent(r.Context(), tok)
	if err != nil {
		if code(err) == agent.EEnrollmentInvalid {
			s.staffEnrollInvalid(w, r)
			return
		}
		s.staffInternal(w, r, err)
		return
	}
	f := newForm()
	p := s.staffEnrollPage(r, tok, a, f)
	pw, again := r.PostForm.Get("password"), r.PostForm.Get("password_again")
	switch {
	case pw == "":
		f.set("password", p.T("staff.error.password_required"))
	case pw != again:
		f.set("password_again", p.T("staff.error.password_mismatch"))
	}
	if f.Any() {
		p.Status = http.StatusUnprocessableEntity
		s.render(w, r, pageStaffEnroll, p)
		return
	}
	res, err := s.staff.svc.StartEnrollment(r.Context(), tok, pw, s.staffMeta(w, r))
	if err != nil {
		switch c := code(err); {
		case c == agent.EEnrollmentInvalid:
			s.staffEnrollInvalid(w, r)
			return
		case p.staffRateLimited(err):
		case isPasswordCode(c):
			f.set("password", p.passwordMessage(c))
			p.Status = http.StatusUnprocessableEntity
		default:
			s.staffInternal(w, r, err)
			return
		}
		s.render(w, r, pageStaffEnroll, p)
		return
	}
	setStaffCookie(w, res.Token)
	redirect(w, r, "/staff/enroll/factor")
}

// staffEnrollFactorData is the content of staff_enroll_factor.html.
type staffEnrollFactorData struct {
	staffNav
	Name    string
	Passkey bool
	TOTP    bool
}

func (s *Server) staffEnrollFactorPage(r *http.Request, f *form) *page {
	a := staffFrom(r)
	p := s.staffPage(r, "staff.enroll.factor.page_title")
	p.Next = "/staff/enroll/factor"
	p.Script = true
	p.Form = f
	methods := s.staff.svc.EnrollmentMethods()
	p.Data = staffEnrollFactorData{staffNav: s.navFor(r), Name: a.agent.DisplayName,
		Passkey: slices.Contains(methods, agent.MethodPasskey), TOTP: slices.Contains(methods, agent.MethodTOTP)}
	return p
}

func (s *Server) handleStaffEnrollFactorPage(w http.ResponseWriter, r *http.Request) {
	p := s.staffEnrollFactorPage(r, newForm())
	if d := p.Data.(staffEnrollFactorData); !d.Passkey && !d.TOTP {
		p.Form.fail(p.T("staff.error.no_factor"))
	}
	s.render(w, r, pageStaffEnrollStart, p)
}

// staffEnrollFailed shows the factor choice again with what went wrong.
func (s *Server) staffEnrollFailed(w http.ResponseWriter, r *http.Request, err error) {
	switch code(err) {
	case okpay.EUnauthorized, agent.ESessionExpired:
		s.staffSessionFailed(w, r, err)
		return
	case agent.EEnrollmentInvalid:
		s.staffEnrollInvalid(w, r)
		return
	}
	p := s.staffEnrollFactorPage(r, newForm())
	switch id, status, ok := staffPasskeyError(err); {
	case ok:
		p.Form.fail(p.T(id))
		p.Status = status
	case code(err) == agent.EInvalidCode:
		p.Form.fail(p.T("staff.error.code"))
		p.Status = http.StatusUnprocessableEntity
	default:
		s.staffInternal(w, r, err)
		return
	}
	s.render(w, r, pageStaffEnrollStart, p)
}

func (s *Server) handleStaffEnrollPasskeyBegin(w http.ResponseWriter, r *http.Request) {
	a := staffFrom(r)
	opts, flow, err := s.staff.svc.BeginPasskeyEnrollment(r.Context(), a.token)
	if err != nil {
		s.staffEnrollFailed(w, r, err)
		return
	}
	p := s.staffPage(r, "staff.enroll.factor.page_title")
	p.Next = "/staff/enroll/factor"
	s.renderStaffCeremony(w, r, p, staffCeremony{Mode: "create", Heading: p.T("staff.passkey.enroll.title"), Lead: p.T("staff.passkey.enroll.lead"),
		Submit: p.T("staff.passkey.enroll.submit"), Action: "/staff/enroll/passkey/finish", Flow: flow, Options: string(opts),
		Label: true, Next: "/staff/", Cancel: "/staff/enroll/factor"})
}

// handleStaffEnrollPasskeyFinish registers the passkey: the link is used
// up and the session becomes a full sign-in.
func (s *Server) handleStaffEnrollPasskeyFinish(w http.ResponseWriter, r *http.Request) {
	a := staffFrom(r)
	flow, response := ceremonyForm(r)
	res, err := s.staff.svc.FinishPasskeyEnrollment(r.Context(), a.token, flow, response, r.PostForm.Get("label"), s.staffMeta(w, r))
	if err != nil {
		s.staffEnrollFailed(w, r, err)
		return
	}
	setStaffCookie(w, res.Token)
	redirect(w, r, "/staff/")
}

// staffTOTPData is the content of staff_totp.html.
type staffTOTPData struct {
	staffNav
	Secret string
	URI    string
}

// Groups is the secret in groups of four (totpData.Groups).
func (d staffTOTPData) Groups() string { return secretGroups(d.Secret) }

// QR is the set-up address as a QR code (totpData.QR).
func (d staffTOTPData) QR(label string) template.HTML { return qrSVG(d.URI, label) }

// handleStaffEnrollTOTPBegin shows a new authenticator-app secret (only
// on AllowTOTP servers). It is a POST: it stores the pending secret.
func (s *Server) handleStaffEnrollTOTPBegin(w http.ResponseWriter, r *http.Request) {
	a := staffFrom(r)
	setup, err := s.staff.svc.BeginTOTPEnrollment(r.Context(), a.token)
	if err != nil {
		if code(err) == agent.EFactorUnavailable {
			p := s.staffEnrollFactorPage(r, newForm())
			p.Form.fail(p.T("staff.error.totp_off"))
			p.Status = http.StatusConflict
			s.render(w, r, pageStaffEnrollStart, p)
			return
		}
		s.staffEnrollFailed(w, r, err)
		return
	}
	p := s.staffPage(r, "staff.totp.page_title")
	p.Next = "/staff/enroll/factor"
	p.NoReferrer = true
	p.Form = newForm()
	p.Data = staffTOTPData{staffNav: s.navFor(r), Secret: setup.Secret, URI: setup.URI}
	s.render(w, r, pageStaffTOTP, p)
}

func (s *Server) handleStaffEnrollTOTPConfirm(w http.ResponseWriter, r *http.Request) {
	a := staffFrom(r)
	res, err := s.staff.svc.ConfirmTOTPEnrollment(r.Context(), a.token, strings.TrimSpace(r.PostForm.Get("code")), s.staffMeta(w, r))
	if err != nil {
		s.staffEnrollFailed(w, r, err)
		return
	}
	setStaffCookie(w, res.Token)
	redirect(w, r, "/staff/")
}
