package web

import (
	"net/http"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/identity/passkey"
	"github.com/okpay/okpay/ids"
)

// Passkeys (WebAuthn, MFA-08) on the account pages. Each ceremony takes
// two POSTs: the first asks the identity service for the options and
// renders pagePasskey, whose form carries them in a data attribute (no
// inline script: the CSP forbids it) together with the flow token; app.js
// turns the options' base64url fields into ArrayBuffers, calls
// navigator.credentials.create or .get, and posts the PublicKeyCredential
// back as JSON, its binary fields in base64url. The flow token is bound
// by the identity service to the session (or, for a passwordless sign-in,
// the device) that began it, so a page or token replayed elsewhere fails.
// The WebAuthn RP ID and origin are the identity service's (its passkey
// service is built for the configured base URL).

const pagePasskey = "passkey.html"

// passkeyMessageIDs are the passkey ids used from Go code.
var passkeyMessageIDs = []string{
	"passkey.add.page_title", "passkey.add.title", "passkey.add.lead", "passkey.add.submit",
	"passkey.login.page_title", "passkey.login.title", "passkey.login.lead", "passkey.login.submit",
	"passkey.signin.page_title", "passkey.signin.title", "passkey.signin.lead", "passkey.signin.submit",
	"passkey.notice.added", "passkey.notice.removed",
	"passkey.error.invalid", "passkey.error.flow", "passkey.error.cloned", "passkey.error.exists",
	"passkey.error.label", "passkey.error.not_found", "passkey.error.unavailable",
}

// passkeyCeremony is the content of passkey.html.
type passkeyCeremony struct {
	Mode    string // "create" (registration) or "get" (assertion)
	Heading string
	Lead    string
	Submit  string
	Action  string // where the response is posted
	Flow    string // the flow token
	Options string // the options JSON for navigator.credentials
	Label   bool   // ask for a name (registration)
	Cancel  string // where "go back" leads
}

// passkeyView is one passkey in the security settings list.
type passkeyView struct {
	Ref        string
	Label      string
	CreatedAt  time.Time
	LastUsedAt time.Time // zero: never used
}

// maxFlowLen bounds a posted flow token.
const maxFlowLen = 128

// validFlow reports whether s looks like a passkey flow token
// ("<base64url>.<base64url>").
func validFlow(s string) bool {
	if s == "" || len(s) > maxFlowLen {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// ceremonyForm reads the flow token and the authenticator response of a
// finishing POST. A malformed token is passed on as empty, which the
// service answers with passkey_flow_invalid.
func ceremonyForm(r *http.Request) (flow string, response []byte) {
	flow = r.PostForm.Get("flow")
	if !validFlow(flow) {
		flow = ""
	}
	return flow, []byte(r.PostForm.Get("response"))
}

// passkeyError returns the message id for a passkey error and the status
// to answer with; ok is false for errors the pages do not explain.
func passkeyError(err error) (id string, status int, ok bool) {
	switch code(err) {
	case passkey.EInvalid:
		return "passkey.error.invalid", http.StatusUnprocessableEntity, true
	case passkey.EFlowInvalid:
		return "passkey.error.flow", http.StatusConflict, true
	case passkey.ECloned:
		return "passkey.error.cloned", http.StatusUnprocessableEntity, true
	case passkey.EExists:
		return "passkey.error.exists", http.StatusConflict, true
	case okpay.EInvalid:
		return "passkey.error.label", http.StatusUnprocessableEntity, true
	case identity.EFactorUnavailable:
		return "passkey.error.unavailable", http.StatusConflict, true
	}
	return "", 0, false
}

// renderCeremony shows pagePasskey for a ceremony.
func (s *Server) renderCeremony(w http.ResponseWriter, r *http.Request, p *page, d passkeyCeremony) {
	p.Script = true
	p.NoReferrer = true
	p.Data = d
	s.render(w, r, pagePasskey, p)
}

// PasskeysEnabled reports whether the site offers passkeys (templates).
func (p *page) PasskeysEnabled() bool { return p.s.id != nil && p.s.id.PasskeysEnabled() }

// passkeyAction returns action when u can use a passkey, else "".
func (s *Server) passkeyAction(u *identity.User, action string) string {
	if u.Passkeys > 0 && s.id.PasskeysEnabled() {
		return action
	}
	return ""
}

// ---- Security settings: add and remove ----

// passkeyViews lists the user's passkeys for the security page.
func (s *Server) passkeyViews(r *http.Request, userID int64) ([]passkeyView, error) {
	list, err := s.id.Passkeys(r.Context(), userID)
	if err != nil {
		return nil, err
	}
	out := make([]passkeyView, len(list))
	for i, c := range list {
		out[i] = passkeyView{Ref: ids.Format(identity.PasskeyPrefix, c.ID), Label: c.Label, CreatedAt: c.CreatedAt}
		if c.LastUsedAt != nil {
			out[i].LastUsedAt = *c.LastUsedAt
		}
	}
	return out, nil
}

// securityFailed shows the security page with a form-level error.
func (s *Server) securityFailed(w http.ResponseWriter, r *http.Request, a *signedIn, msgID string, status int, stepUp bool) {
	p, ok := s.securityPage(w, r, a, newForm())
	if !ok {
		return
	}
	if stepUp {
		d := p.Data.(securityData)
		d.StepUpRequired = true
		p.Data = d
	}
	p.Form.fail(p.T(msgID))
	p.Status = status
	s.render(w, r, pageSecurity, p)
}

// handlePasskeyAddBegin starts enrolling a passkey (sudo, SES-08).
func (s *Server) handlePasskeyAddBegin(w http.ResponseWriter, r *http.Request) {
	a, ok := s.requireSignIn(w, r)
	if !ok {
		return
	}
	opts, flow, err := s.id.BeginPasskeyRegistration(r.Context(), a.sess)
	if err != nil {
		if s.settingsFailed(w, r, a, err) {
			return
		}
		if id, status, ok := passkeyError(err); ok {
			s.securityFailed(w, r, a, id, status, false)
			return
		}
		s.internalError(w, r, err)
		return
	}
	p := s.settingsPage(r, "passkey.add.page_title")
	p.Next = "/account/security"
	s.renderCeremony(w, r, p, passkeyCeremony{
		Mode: "create", Heading: p.T("passkey.add.title"), Lead: p.T("passkey.add.lead"), Submit: p.T("passkey.add.submit"),
		Action: "/account/passkeys/finish", Flow: flow, Options: string(opts), Label: true, Cancel: "/account/security#passkeys",
	})
}

// handlePasskeyAddFinish stores the new passkey.
func (s *Server) handlePasskeyAddFinish(w http.ResponseWriter, r *http.Request) {
	a, ok := s.requireSignIn(w, r)
	if !ok {
		return
	}
	flow, response := ceremonyForm(r)
	err := s.id.FinishPasskeyRegistration(r.Context(), a.sess, flow, response, r.PostForm.Get("label"), s.meta(w, r))
	if err == nil {
		redirect(w, r, "/account/security?passkey=added#passkeys")
		return
	}
	if s.settingsFailed(w, r, a, err) {
		return
	}
	if id, status, ok := passkeyError(err); ok {
		s.securityFailed(w, r, a, id, status, false)
		return
	}
	s.internalError(w, r, err)
}

// handlePasskeyRemove removes one of the user's passkeys (sudo, MFA-09).
// Another user's passkey is "not found" (API-02).
func (s *Server) handlePasskeyRemove(w http.ResponseWriter, r *http.Request) {
	a, ok := s.requireSignIn(w, r)
	if !ok {
		return
	}
	id, ok := ids.Parse(identity.PasskeyPrefix, r.PathValue("id"))
	if !ok {
		s.NotFound(w, r)
		return
	}
	if err := s.id.RemovePasskey(r.Context(), a.sess, id, s.meta(w, r)); err != nil {
		if code(err) == okpay.ENotFound {
			s.renderAccountError(w, r, http.StatusNotFound, "notfound.title", "passkey.error.not_found")
			return
		}
		if !s.settingsFailed(w, r, a, err) {
			s.internalError(w, r, err)
		}
		return
	}
	redirect(w, r, "/account/security?passkey=removed#passkeys")
}

// ---- Security settings: step-up with a passkey ----

func (s *Server) handleStepUpPasskeyBegin(w http.ResponseWriter, r *http.Request) {
	a, ok := s.requireSignIn(w, r)
	if !ok {
		return
	}
	opts, flow, err := s.id.BeginPasskeyLogin(r.Context(), a.token)
	if err != nil {
		s.stepUpPasskeyFailed(w, r, a, err)
		return
	}
	p := s.settingsPage(r, "passkey.login.page_title")
	p.Next = settingsHome(a)
	s.renderCeremony(w, r, p, passkeyCeremony{
		Mode: "get", Heading: p.T("passkey.login.title"), Lead: p.T("passkey.login.lead"), Submit: p.T("passkey.login.submit"),
		Action: "/account/security/step-up/passkey/finish", Flow: flow, Options: string(opts), Cancel: settingsHome(a) + "#step-up",
	})
}

// handleStepUpPasskeyFinish opens the sudo window with the passkey; the
// session gets a new token (SES-02).
func (s *Server) handleStepUpPasskeyFinish(w http.ResponseWriter, r *http.Request) {
	a, ok := s.requireSignIn(w, r)
	if !ok {
		return
	}
	flow, response := ceremonyForm(r)
	res, err := s.id.FinishPasskeyLogin(r.Context(), a.token, flow, response, s.meta(w, r))
	if err != nil {
		s.stepUpPasskeyFailed(w, r, a, err)
		return
	}
	setSession(w, res.Token)
	redirect(w, r, settingsHome(a)+"?confirmed=1")
}

func (s *Server) stepUpPasskeyFailed(w http.ResponseWriter, r *http.Request, a *signedIn, err error) {
	if s.settingsFailed(w, r, a, err) {
		return
	}
	if id, status, ok := passkeyError(err); ok {
		s.securityFailed(w, r, a, id, status, true)
		return
	}
	p, ok := s.securityPage(w, r, a, newForm())
	if !ok {
		return
	}
	if !p.rateLimited(err) {
		s.internalError(w, r, err)
		return
	}
	s.render(w, r, pageSecurity, p)
}

// ---- Sign-in: the passkey as second factor ----

func (s *Server) handleLoginPasskeyBegin(w http.ResponseWriter, r *http.Request) {
	tok, u, ok := s.pendingLogin(w, r)
	if !ok {
		return
	}
	opts, flow, err := s.id.BeginPasskeyLogin(r.Context(), tok)
	if err != nil {
		s.loginPasskeyFailed(w, r, u, err)
		return
	}
	p := s.accountPage(r, "passkey.login.page_title")
	p.SignedIn = false
	p.Next = "/login/verify"
	s.renderCeremony(w, r, p, passkeyCeremony{
		Mode: "get", Heading: p.T("passkey.login.title"), Lead: p.T("passkey.login.lead"), Submit: p.T("passkey.login.submit"),
		Action: "/login/verify/passkey/finish", Flow: flow, Options: string(opts), Cancel: "/login/verify",
	})
}

// handleLoginPasskeyFinish completes the sign-in with the passkey; the
// session gets a new token (SES-02). A failure counts toward the lockout.
func (s *Server) handleLoginPasskeyFinish(w http.ResponseWriter, r *http.Request) {
	tok, u, ok := s.pendingLogin(w, r)
	if !ok {
		return
	}
	flow, response := ceremonyForm(r)
	res, err := s.id.FinishPasskeyLogin(r.Context(), tok, flow, response, s.meta(w, r))
	if err != nil {
		s.loginPasskeyFailed(w, r, u, err)
		return
	}
	setSession(w, res.Token)
	adoptAccountLang(w, r, u.Lang)
	afterSignIn(w, r)
}

func (s *Server) loginPasskeyFailed(w http.ResponseWriter, r *http.Request, u *identity.User, err error) {
	switch code(err) {
	case okpay.EUnauthorized, identity.ESessionExpired:
		s.sessionFailed(w, r, err)
		return
	}
	p := s.loginVerifyPage(r, u, newForm())
	if id, status, ok := passkeyError(err); ok {
		p.Form.fail(p.T(id))
		p.Status = status
	} else if !p.rateLimited(err) {
		s.internalError(w, r, err)
		return
	}
	s.render(w, r, pageLoginVerify, p)
}

// ---- Sign-in without a password ----

func (s *Server) handlePasswordlessBegin(w http.ResponseWriter, r *http.Request) {
	opts, flow, err := s.id.BeginPasswordless(r.Context(), s.meta(w, r))
	if err != nil {
		s.passwordlessFailed(w, r, err)
		return
	}
	p := s.accountPage(r, "passkey.signin.page_title")
	p.SignedIn = false
	p.Next = "/login"
	s.renderCeremony(w, r, p, passkeyCeremony{
		Mode: "get", Heading: p.T("passkey.signin.title"), Lead: p.T("passkey.signin.lead"), Submit: p.T("passkey.signin.submit"),
		Action: "/login/passkey/finish", Flow: flow, Options: string(opts), Cancel: "/login",
	})
}

// handlePasswordlessFinish signs in with the passkey alone: a full
// session at once (a user-verifying passkey is two factors in one).
func (s *Server) handlePasswordlessFinish(w http.ResponseWriter, r *http.Request) {
	flow, response := ceremonyForm(r)
	m := s.meta(w, r)
	res, err := s.id.FinishPasswordless(r.Context(), flow, response, m)
	if err != nil {
		s.passwordlessFailed(w, r, err)
		return
	}
	// A session this browser held before ends: one browser, one session.
	if old := cookieValue(r, sessionCookie); old != "" {
		if err := s.id.Logout(r.Context(), old, m); err != nil {
			s.log.WarnContext(r.Context(), "web: end the previous session", "err", err)
		}
	}
	setSession(w, res.Token)
	if u, err := s.id.FindUser(r.Context(), res.Session.UserID); err == nil {
		adoptAccountLang(w, r, u.Lang)
	}
	afterSignIn(w, r)
}

func (s *Server) passwordlessFailed(w http.ResponseWriter, r *http.Request, err error) {
	p := s.loginPage(r, newForm())
	if id, status, ok := passkeyError(err); ok {
		p.Form.fail(p.T(id))
		p.Status = status
		if c := code(err); c == passkey.EInvalid || c == passkey.ECloned {
			p.Status = http.StatusUnauthorized // as a failed password login
		}
	} else if !p.rateLimited(err) {
		s.internalError(w, r, err)
		return
	}
	s.render(w, r, pageLogin, p)
}
