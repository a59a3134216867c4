package web

import (
	"encoding/base32"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/identity/otp"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/notify"
)

// signedIn is a request's complete (AAL2) session.
type signedIn struct {
	token string
	sess  *identity.Session
	user  *identity.User // with the counts of FindUser
}

// requireSignIn returns the request's AAL2 session, or answers: 303 to
// /login without a live session (GET or POST alike), 303 to /login/verify
// for a session still waiting for its second factor.
func (s *Server) requireSignIn(w http.ResponseWriter, r *http.Request) (*signedIn, bool) {
	tok := cookieValue(r, sessionCookie)
	if tok == "" {
		toSignIn(w, r, "/login")
		return nil, false
	}
	ss, _, err := s.id.Authenticate(r.Context(), tok)
	if err != nil {
		s.sessionFailed(w, r, err)
		return nil, false
	}
	if identity.RequireAAL2(ss) != nil {
		redirect(w, r, "/login/verify")
		return nil, false
	}
	u, err := s.id.FindUser(r.Context(), ss.UserID)
	if err != nil {
		s.internalError(w, r, err)
		return nil, false
	}
	// PWD-08: a password marked compromised must be changed before
	// anything else; every other page sends the browser to the change.
	if u.MustChangePassword() && !forcedAllowed[r.Pattern] {
		redirect(w, r, "/account/password")
		return nil, false
	}
	return &signedIn{token: tok, sess: ss, user: u}, true
}

// forcedAllowed are the routes a session that must change its password
// may use (PWD-08): the change-password page and its form, the step-up
// that opens the sudo window the change needs, and freezing. Signing out
// needs no session check at all.
var forcedAllowed = map[string]bool{
	"GET /account/password":                         true,
	"POST /account/password":                        true,
	"POST /account/security/step-up":                true,
	"POST /account/security/step-up/sms":            true,
	"POST /account/security/step-up/passkey":        true,
	"POST /account/security/step-up/passkey/finish": true,
	"GET /account/freeze":                           true,
	"POST /account/freeze":                          true,
}

// settingsHome is where the security settings of a are: the
// change-password page while the password must change, else the
// security page.
func settingsHome(a *signedIn) string {
	if a.user.MustChangePassword() {
		return "/account/password"
	}
	return "/account/security"
}

// settingsPage starts a page of the signed-in area.
func (s *Server) settingsPage(r *http.Request, titleID string) *page {
	p := s.accountPage(r, titleID)
	p.SignedIn = true
	return p
}

// ---- Account overview ----

type accountData struct {
	User       *identity.User
	HoldActive bool
	Unread     int64
	Notes      []notify.InApp
	// Inbox tells whether the notifications page exists.
	Inbox bool
	// Methods tells whether the payment-method pages exist (methods.go).
	Methods bool
}

func (s *Server) handleAccount(w http.ResponseWriter, r *http.Request) {
	a, ok := s.requireSignIn(w, r)
	if !ok {
		return
	}
	p := s.settingsPage(r, "dashboard.page_title")
	d := accountData{User: a.user, HoldActive: a.user.HoldUntil.After(s.id.Clock.Now()), Inbox: s.outbox != nil,
		Methods: s.methods != nil}
	if kind := r.URL.Query().Get("changed"); kind == identity.ContactEmail || kind == identity.ContactPhone {
		p.Notice = p.T("contact_change." + kind + ".changed")
	}
	if s.outbox != nil {
		// The list first, then the count: a notice arriving between the
		// two reads is then counted, never listed unread but uncounted.
		var err error
		if d.Notes, err = s.outbox.ListInApp(r.Context(), a.user.ID, 5); err != nil {
			s.internalError(w, r, err)
			return
		}
		if d.Unread, err = s.outbox.UnreadCount(r.Context(), a.user.ID); err != nil {
			s.internalError(w, r, err)
			return
		}
	}
	p.Data = d
	s.render(w, r, pageAccount, p)
}

// ---- Security settings ----

type sessionView struct {
	Ref        string
	Device     string
	IP         string
	Location   string // approximate (SES-05), or "unknown"
	CreatedAt  time.Time
	LastSeenAt time.Time
	Current    bool
}

type securityData struct {
	User      *identity.User
	Sudo      bool
	SudoUntil time.Time
	// StepUpRequired: the action asked for needs a fresh second factor.
	StepUpRequired bool
	StepUp         factorForms
	Sessions       []sessionView
	Others         int // sessions other than this one
	Passkeys       []passkeyView
	// Forced: the password must change first (PWD-08); the page shows
	// only the step-up, the password form and the way out.
	Forced bool
}

// securityPage builds the security settings page of a, or the
// change-password page when a must change the password (PWD-08).
func (s *Server) securityPage(w http.ResponseWriter, r *http.Request, a *signedIn, f *form) (*page, bool) {
	forced := a.user.MustChangePassword()
	title := "security.page_title"
	if forced {
		title = "security.forced.page_title"
	}
	p := s.settingsPage(r, title)
	p.Next = settingsHome(a)
	p.Script = true
	p.Form = f
	list, err := s.id.Sessions(r.Context(), a.user.ID, a.sess.ID)
	if err != nil {
		s.internalError(w, r, err)
		return nil, false
	}
	d := securityData{User: a.user, Sudo: s.id.Sudo(a.sess), SudoUntil: s.id.SudoUntil(a.sess), Forced: forced}
	if d.Passkeys, err = s.passkeyViews(r, a.user.ID); err != nil {
		s.internalError(w, r, err)
		return nil, false
	}
	for _, ss := range list {
		d.Sessions = append(d.Sessions, sessionView{
			Ref: ids.Format(identity.SessionPrefix, ss.ID), Device: ss.Device, IP: ss.IP,
			Location:  s.id.LocationLabel(ss.Location, p.Lang),
			CreatedAt: ss.CreatedAt, LastSeenAt: ss.LastSeenAt, Current: ss.Current,
		})
		if !ss.Current {
			d.Others++
		}
	}
	d.StepUp = s.stepUpForms(p, a, nil)
	p.Data = d
	return p, true
}

// stepUpForms are the security page's step-up forms: every second factor
// of the user, or only those in accepted when a removal needs a stronger
// step-up (MFA-09).
func (s *Server) stepUpForms(p *page, a *signedIn, accepted []string) factorForms {
	methods := accountMethods(a.user)
	passkeyAction := s.passkeyAction(a.user, "/account/security/step-up/passkey")
	if accepted != nil {
		methods = slices.DeleteFunc(methods, func(m string) bool { return !slices.Contains(accepted, m) })
		if !slices.Contains(accepted, identity.MethodPasskey) {
			passkeyAction = ""
		}
	}
	dest := maskPhone(a.user.Phone)
	return factorForms{
		P: p, Action: "/account/security/step-up", SendAction: "/account/security/step-up/sms", Submit: p.T("security.step_up.submit"),
		PasskeyAction: passkeyAction,
		Methods: p.factorMethods(methods, "stepup", func(m string) string {
			if m == identity.MethodSMS {
				return p.T("account.method.sms.hint_send", "Destination", dest)
			}
			return p.T("account.method." + m + ".hint")
		}, func(m string) bool { return m == identity.MethodSMS }),
	}
}

// securityNotice sets the one-off notice of a security page from its query.
func securityNotice(p *page, q url.Values, a *signedIn) {
	switch {
	case q.Get("confirmed") == "1":
		p.Notice = p.T("security.notice.confirmed")
	case q.Get("sms") == "sent":
		p.Notice = p.T("security.notice.sms_sent", "Destination", maskPhone(a.user.Phone))
	case q.Get("totp") == "on":
		p.Notice = p.T("security.notice.totp_on")
		if a.user.RecoveryCodes == 0 {
			// Without codes, a lost phone leaves only SMS: say so now.
			p.Notice += " " + p.T("security.notice.totp_on_recovery")
		}
	case q.Get("totp") == "off":
		p.Notice = p.T("security.notice.totp_off")
	case q.Get("password") == "changed":
		p.Notice = p.T("security.notice.password_changed")
	case q.Get("passkey") == "added":
		p.Notice = p.T("passkey.notice.added")
	case q.Get("passkey") == "removed":
		p.Notice = p.T("passkey.notice.removed")
	case q.Get("revoked") == "1":
		p.Notice = p.T("security.notice.revoked")
	case q.Get("revoked_others") != "":
		if n, err := strconv.Atoi(q.Get("revoked_others")); err == nil && n >= 0 {
			p.Notice = p.T("security.notice.revoked_others", "Count", n)
		}
	}
}

func (s *Server) handleSecurity(w http.ResponseWriter, r *http.Request) {
	a, ok := s.requireSignIn(w, r)
	if !ok {
		return
	}
	p, ok := s.securityPage(w, r, a, newForm())
	if !ok {
		return
	}
	securityNotice(p, r.URL.Query(), a)
	s.render(w, r, pageSecurity, p)
}

// handlePasswordPage is the change-password page a session whose
// password is marked compromised is sent to, and may not leave but by
// changing it, signing out or freezing (PWD-08). Other sessions find the
// form on the security page.
func (s *Server) handlePasswordPage(w http.ResponseWriter, r *http.Request) {
	a, ok := s.requireSignIn(w, r)
	if !ok {
		return
	}
	if !a.user.MustChangePassword() {
		redirect(w, r, "/account/security#password")
		return
	}
	p, ok := s.securityPage(w, r, a, newForm())
	if !ok {
		return
	}
	securityNotice(p, r.URL.Query(), a)
	s.render(w, r, pageSecurity, p)
}

// settingsFailed shows the security page for a failed settings action: a
// missing sudo window shows the step-up form with a clear message rather
// than an error page (SES-08); a dead session goes to sign-in. It reports
// false for errors it does not handle.
func (s *Server) settingsFailed(w http.ResponseWriter, r *http.Request, a *signedIn, err error) bool {
	switch code(err) {
	case okpay.EUnauthorized, identity.ESessionExpired:
		s.sessionFailed(w, r, err)
		return true
	case identity.EMFARequired:
		redirect(w, r, "/login/verify")
		return true
	case identity.EStepUpRequired:
		p, ok := s.securityPage(w, r, a, newForm())
		if !ok {
			return true
		}
		d := p.Data.(securityData)
		d.StepUpRequired = true
		p.Data = d
		p.Form.fail(p.T("security.step_up.required"))
		p.Status = http.StatusForbidden
		s.render(w, r, pageSecurity, p)
		return true
	case identity.EStrongerFactorRequired:
		// MFA-09: the step-up was weaker than the factor to remove; offer
		// only the factors that would do, and say why.
		var se *identity.StrongerFactorError
		if !errors.As(err, &se) {
			return false
		}
		p, ok := s.securityPage(w, r, a, newForm())
		if !ok {
			return true
		}
		d := p.Data.(securityData)
		d.StepUpRequired = true
		d.StepUp = s.stepUpForms(p, a, se.Accepted())
		p.Data = d
		p.Form.fail(p.T(strongerMessage(se.Factor)))
		p.Status = http.StatusForbidden
		s.render(w, r, pageSecurity, p)
		return true
	case identity.EAccountFrozen:
		// A frozen account is read-only (RSK-05).
		p, ok := s.securityPage(w, r, a, newForm())
		if !ok {
			return true
		}
		p.Form.fail(p.T("account.error.frozen_read_only"))
		p.Status = http.StatusForbidden
		s.render(w, r, pageSecurity, p)
		return true
	}
	return false
}

// strongerMessage is the message id that says which step-up removing or
// replacing factor needs (MFA-09).
func strongerMessage(factor string) string {
	switch factor {
	case identity.MethodPasskey:
		return "security.step_up.stronger.passkey"
	case identity.MethodTOTP:
		return "security.step_up.stronger.totp"
	}
	return "security.step_up.required"
}

// handleStepUp opens the sudo window with a second factor; the session
// gets a new token (SES-02: re-auth).
func (s *Server) handleStepUp(w http.ResponseWriter, r *http.Request) {
	a, ok := s.requireSignIn(w, r)
	if !ok {
		return
	}
	method, c := r.PostForm.Get("method"), r.PostForm.Get("code")
	if !offered(accountMethods(a.user), method) {
		s.renderAccountError(w, r, http.StatusBadRequest, "problem.invalid_request.title", "problem.invalid_request.detail")
		return
	}
	field := "stepup-" + method
	msg := "account.error.code_required"
	if strings.TrimSpace(c) != "" {
		res, err := s.id.VerifyFactor(r.Context(), a.token, method, c, s.meta(w, r))
		if err == nil {
			setSession(w, res.Token)
			redirect(w, r, settingsHome(a)+"?confirmed=1")
			return
		}
		switch code(err) {
		case identity.EInvalidCode:
			msg = codeMessage(method)
		case identity.EFactorUnavailable:
			msg = "account.error.factor_unavailable"
		default:
			if !s.settingsFailed(w, r, a, err) {
				s.internalError(w, r, err)
			}
			return
		}
	}
	p, ok := s.securityPage(w, r, a, newForm())
	if !ok {
		return
	}
	p.Form.set(field, p.T(msg))
	p.Status = http.StatusUnprocessableEntity
	s.render(w, r, pageSecurity, p)
}

// handleStepUpSMS sends a step-up code by SMS.
func (s *Server) handleStepUpSMS(w http.ResponseWriter, r *http.Request) {
	a, ok := s.requireSignIn(w, r)
	if !ok {
		return
	}
	_, err := s.id.SendLoginCode(r.Context(), a.token, s.meta(w, r))
	if err == nil {
		redirect(w, r, settingsHome(a)+"?sms=sent#step-up")
		return
	}
	if s.settingsFailed(w, r, a, err) {
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

// totpData is the content of totp_setup.html.
type totpData struct {
	Secret string
	URI    string
}

// Groups is the secret in groups of four, as people copy it into an app
// by hand (apps ignore the spaces).
func (d totpData) Groups() string { return secretGroups(d.Secret) }

// QR is the set-up address as a QR code for the app to scan (qrSVG).
func (d totpData) QR(label string) template.HTML { return qrSVG(d.URI, label) }

func secretGroups(secret string) string {
	var b strings.Builder
	for i, r := range secret {
		if i > 0 && i%4 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func (s *Server) totpPage(r *http.Request, d totpData, f *form) *page {
	p := s.settingsPage(r, "security.totp.page_title")
	p.Next = "/account/security"
	p.Form = f
	p.Data = d
	return p
}

// handleTOTPBegin draws an authenticator secret and shows it once, with a
// form to confirm a code from the app (MFA-05).
func (s *Server) handleTOTPBegin(w http.ResponseWriter, r *http.Request) {
	a, ok := s.requireSignIn(w, r)
	if !ok {
		return
	}
	setup, err := s.id.BeginTOTP(r.Context(), a.sess)
	if err != nil {
		if !s.settingsFailed(w, r, a, err) {
			s.internalError(w, r, err)
		}
		return
	}
	s.render(w, r, pageTOTPSetup, s.totpPage(r, totpData{Secret: setup.Secret, URI: setup.URI}, newForm()))
}

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// handleTOTPConfirm enrols the authenticator app when the code is right.
// On a wrong code the page shows the same secret again (posted back from
// the page, where the user already sees it) so the user can retry.
func (s *Server) handleTOTPConfirm(w http.ResponseWriter, r *http.Request) {
	a, ok := s.requireSignIn(w, r)
	if !ok {
		return
	}
	c := r.PostForm.Get("code")
	err := s.id.ConfirmTOTP(r.Context(), a.sess, c, s.meta(w, r))
	if err == nil {
		redirect(w, r, "/account/security?totp=on")
		return
	}
	if s.settingsFailed(w, r, a, err) {
		return
	}
	switch code(err) {
	case identity.EInvalidCode:
		var d totpData
		if sec := r.PostForm.Get("secret"); len(sec) <= 64 {
			if key, derr := b32.DecodeString(sec); derr == nil && len(key) >= otp.MinTOTPSecretLen {
				d = totpData{Secret: otp.EncodeSecret(key), URI: otp.ProvisioningURI("OKPay", a.user.Email, key)}
			}
		}
		p := s.totpPage(r, d, newForm())
		msg := "account.error.totp_code"
		if strings.TrimSpace(c) == "" {
			msg = "account.error.code_required"
		}
		p.Form.set("totp-code", p.T(msg))
		p.Status = http.StatusUnprocessableEntity
		s.render(w, r, pageTOTPSetup, p)
	case identity.EFlowInvalid:
		p, ok := s.securityPage(w, r, a, newForm())
		if !ok {
			return
		}
		p.Form.fail(p.T("account.error.totp_restart"))
		p.Status = http.StatusConflict
		s.render(w, r, pageSecurity, p)
	default:
		s.internalError(w, r, err)
	}
}

// handleTOTPDisable removes the authenticator app (sudo; SMS remains).
func (s *Server) handleTOTPDisable(w http.ResponseWriter, r *http.Request) {
	a, ok := s.requireSignIn(w, r)
	if !ok {
		return
	}
	if err := s.id.DisableTOTP(r.Context(), a.sess, s.meta(w, r)); err != nil {
		if !s.settingsFailed(w, r, a, err) {
			s.internalError(w, r, err)
		}
		return
	}
	redirect(w, r, "/account/security?totp=off")
}

// recoveryData is the content of recovery_codes.html: the new codes, and
// whether they replaced unused ones (which then stopped working).
type recoveryData struct {
	Codes    []string
	Replaced bool
}

// handleRecoveryCodes makes ten new recovery codes and shows them once.
func (s *Server) handleRecoveryCodes(w http.ResponseWriter, r *http.Request) {
	a, ok := s.requireSignIn(w, r)
	if !ok {
		return
	}
	had := a.user.RecoveryCodes
	codes, err := s.id.RegenerateRecoveryCodes(r.Context(), a.sess, s.meta(w, r))
	if err != nil {
		if !s.settingsFailed(w, r, a, err) {
			s.internalError(w, r, err)
		}
		return
	}
	p := s.settingsPage(r, "security.recovery.page_title")
	p.Next = "/account/security"
	p.Data = recoveryData{Codes: codes, Replaced: had > 0}
	s.render(w, r, pageRecoveryCodes, p)
}

// handleChangePassword sets a new password: the current one and the sudo
// window are required (PWD-06).
func (s *Server) handleChangePassword(w http.ResponseWriter, r *http.Request) {
	a, ok := s.requireSignIn(w, r)
	if !ok {
		return
	}
	current, next := r.PostForm.Get("current_password"), r.PostForm.Get("new_password")
	f := newForm()
	if current == "" || next == "" {
		p, ok := s.securityPage(w, r, a, f)
		if !ok {
			return
		}
		if current == "" {
			f.set("current_password", p.T("account.error.password_required"))
		}
		if next == "" {
			f.set("new_password", p.T("account.error.password_required"))
		}
		p.Status = http.StatusUnprocessableEntity
		s.render(w, r, pageSecurity, p)
		return
	}
	err := s.id.ChangePassword(r.Context(), a.sess, current, next, s.meta(w, r))
	if err == nil {
		redirect(w, r, "/account/security?password=changed")
		return
	}
	if s.settingsFailed(w, r, a, err) {
		return
	}
	p, ok := s.securityPage(w, r, a, f)
	if !ok {
		return
	}
	c := code(err)
	switch {
	case isPasswordCode(c):
		f.set("new_password", p.passwordMessage(c))
	case c == okpay.EInvalid && fieldErrors(err)["current_password"] != "":
		f.set("current_password", p.T("account.error.current_password"))
	case p.rateLimited(err):
	default:
		s.internalError(w, r, err)
		return
	}
	if p.Status == http.StatusOK {
		p.Status = http.StatusUnprocessableEntity
	}
	s.render(w, r, pageSecurity, p)
}

// handleRevokeSession ends one of the user's other sessions (sudo,
// SES-05). Another user's session is "not found" (API-02).
func (s *Server) handleRevokeSession(w http.ResponseWriter, r *http.Request) {
	a, ok := s.requireSignIn(w, r)
	if !ok {
		return
	}
	id, ok := ids.Parse(identity.SessionPrefix, r.PathValue("id"))
	if !ok {
		s.NotFound(w, r)
		return
	}
	if err := s.id.RevokeSession(r.Context(), a.sess, id, s.meta(w, r)); err != nil {
		if code(err) == okpay.ENotFound {
			s.renderAccountError(w, r, http.StatusNotFound, "notfound.title", "account.error.session_not_found")
			return
		}
		if !s.settingsFailed(w, r, a, err) {
			s.internalError(w, r, err)
		}
		return
	}
	if id == a.sess.ID {
		clearCookie(w, sessionCookie)
		redirect(w, r, "/login?out=1")
		return
	}
	redirect(w, r, "/account/security?revoked=1#sessions")
}

// handleRevokeOthers ends every other session of the user (sudo).
func (s *Server) handleRevokeOthers(w http.ResponseWriter, r *http.Request) {
	a, ok := s.requireSignIn(w, r)
	if !ok {
		return
	}
	n, err := s.id.RevokeOtherSessions(r.Context(), a.sess, s.meta(w, r))
	if err != nil {
		if !s.settingsFailed(w, r, a, err) {
			s.internalError(w, r, err)
		}
		return
	}
	redirect(w, r, "/account/security?revoked_others="+strconv.Itoa(n)+"#sessions")
}

// handleFreezeConfirm asks before a self-freeze (RSK-05).
func (s *Server) handleFreezeConfirm(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.requireSignIn(w, r); !ok {
		return
	}
	p := s.settingsPage(r, "security.freeze.page_title")
	s.render(w, r, pageFreezeConfirm, p)
}

// handleFreeze freezes the signed-in user's account: every session ends
// (this one too) and money can no longer leave (SES-07, RSK-05).
func (s *Server) handleFreeze(w http.ResponseWriter, r *http.Request) {
	a, ok := s.requireSignIn(w, r)
	if !ok {
		return
	}
	if err := s.id.Freeze(r.Context(), a.user.ID, "self:web", ids.Format(identity.UserPrefix, a.user.ID), s.meta(w, r)); err != nil {
		s.internalError(w, r, err)
		return
	}
	clearCookie(w, sessionCookie)
	p := s.accountPage(r, "security.frozen.title")
	p.SignedIn = false
	s.renderMessage(w, r, p, http.StatusOK, "security.frozen.title", messageData{
		TestID: "frozen-done", Body: []string{p.T("security.frozen.body")}, LinkHref: "/login", LinkText: p.T("account.nav.sign_in"),
	})
}
