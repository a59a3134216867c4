package web

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/identity/password"
)

// Cookies of the account pages. The __Host- prefix makes browsers insist
// on Secure, Path=/ and no Domain (SES-01); Chromium accepts Secure cookies
// on http://localhost and http://127.0.0.1, so development works without
// TLS.
const (
	// sessionCookie holds the session token; a session cookie (no expiry).
	sessionCookie = "__Host-session"
	// flowCookie holds the token of a sign-up or password-reset flow.
	flowCookie = "__Host-flow"
	// deviceCookie holds a random device id (RSK-01).
	deviceCookie = "__Host-did"

	flowCookieMaxAge   = 30 * 60
	deviceCookieMaxAge = 365 * 24 * 60 * 60
	// maxTokenLen bounds a cookie or form token before the service sees it.
	maxTokenLen = 128
	// maxFormBytes bounds a form body (a password is at most 1024 bytes).
	maxFormBytes = 16 << 10
)

// Page templates of the account area; each is parsed with layout.html and
// partials.html.
const (
	pageSignup        = "signup.html"
	pageSignupVerify  = "signup_verify.html"
	pageLogin         = "login.html"
	pageLoginVerify   = "login_verify.html"
	pageAccount       = "account.html"
	pageSecurity      = "security.html"
	pageTOTPSetup     = "totp_setup.html"
	pageRecoveryCodes = "recovery_codes.html"
	pageFreezeConfirm = "freeze_confirm.html"
	pageForgot        = "password_forgot.html"
	pageReset         = "password_reset.html"
	pageMessage       = "message.html"
	pageMailbox       = "mailbox.html"
	pageFreezeLink    = "freeze_link.html"
)

// accountTitleSuffix separates a page's title from the site name.
const accountTitleSuffix = " · "

var accountPages = []string{
	pageSignup, pageSignupVerify, pageLogin, pageLoginVerify, pageAccount, pageSecurity,
	pageTOTPSetup, pageRecoveryCodes, pageFreezeConfirm, pageForgot, pageReset, pageMessage,
	pageMailbox, pageFreezeLink, pagePasskey, pageContact, pageNotifications,
	pageRecoveryCancel, // REC-08's cancel link (recovery_cancel.go)
	pageCSATLink,       // a rating request's link (csat_link.go)
	pageContactLink,    // a visitor's email confirmation link (contact_link.go)
	pageContinueLink,   // a reply mail's continuation link (contact_link.go)
}

// accountMessageIDs are the ids the account pages use from Go code; New
// checks that they exist.
var accountMessageIDs = []string{
	"csat.link.page_title", "csat.link.invalid.title", "csat.link.invalid.body", "csat.link.superseded.title",
	"csat.link.superseded.body", "csat.link.rated.title", "csat.link.rated.body", "csat.link.done.title",
	"csat.link.comment_too_long", "csat.widget.thanks", "csat.widget.choose",
	"account.error.frozen_read_only",
	"account.error.credentials", "account.error.code", "account.error.totp_code", "account.error.code_required",
	"account.error.factor_unavailable",
	"account.error.email", "account.error.phone", "account.error.identifier", "account.error.channel",
	"account.error.invalid", "account.error.password_required", "account.error.identifier_required",
	"account.error.current_password", "account.error.session_not_found", "account.error.totp_restart",
	"account.password.too_short", "account.password.too_long", "account.password.common", "account.password.contextual",
	"account.password.show", "account.password.hide",
	"account.retry.later", "account.retry.seconds", "account.retry.one_minute", "account.retry.minutes", "account.retry.hours",
	"account.method.sms", "account.method.email", "account.method.totp", "account.method.recovery_code",
	"account.method.sms.hint_sent", "account.method.sms.hint_send", "account.method.sms.hint_reset",
	"account.method.email.hint_reset", "account.method.totp.hint", "account.method.recovery_code.hint",
	"account.expired.title", "account.expired.body", "account.expired.signup", "account.expired.reset",
	"account.rate_limited", "account.send_code.sms", "account.send_code.email",
	"login.verify.submit", "security.step_up.submit", "reset.factor.submit", "reset.done.review", "account.nav.sign_in",
	"signup.page_title", "signup.verify.page_title", "signup.verify.sent.email", "signup.verify.sent.sms",
	"login.page_title", "login.verify.page_title", "login.notice.signed_out", "login.notice.expired",
	"login.verify.notice.sms_sent", "login.verify.notice.sms_failed",
	"dashboard.page_title", "security.page_title", "security.notice.confirmed", "security.notice.sms_sent",
	"security.notice.totp_on", "security.notice.totp_off", "security.notice.password_changed",
	"security.notice.revoked", "security.notice.revoked_others", "security.step_up.required",
	"security.totp.page_title", "security.recovery.page_title", "security.freeze.page_title",
	"security.frozen.title", "security.frozen.body",
	"security.forced.page_title", "security.step_up.stronger.totp", "security.step_up.stronger.passkey",
	"reset.forgot.page_title", "reset.page_title", "reset.notice.factor_sent", "reset.done.title", "reset.done.body",
	"reset.code.hint.sms", "reset.code.hint.email",
	"freeze.page_title", "freeze.done.title", "freeze.done.body", "freeze.invalid.title", "freeze.invalid.body",
	"mailbox.page_title",
}

// accountRoutes lists the account pages. Every GET only reads; every
// change is a POST, which CrossOrigin protects (SES-09). No token or code
// ever travels in a URL (SES-10), except a freeze link's own path.
func (s *Server) accountRoutes() []Route {
	get := func(pattern string, h func(http.ResponseWriter, *http.Request)) Route {
		return Route{http.MethodGet, pattern, s.account(h)}
	}
	post := func(pattern string, h func(http.ResponseWriter, *http.Request)) Route {
		return Route{http.MethodPost, pattern, s.account(h)}
	}
	routes := []Route{
		get("/signup", s.handleSignupPage),
		post("/signup", s.handleSignup),
		get("/signup/verify", s.handleSignupVerifyPage),
		post("/signup/verify", s.handleSignupVerify),
		post("/signup/resend", s.handleSignupResend),
		get("/login", s.handleLoginPage),
		post("/login", s.handleLogin),
		get("/login/verify", s.handleLoginVerifyPage),
		post("/login/verify", s.handleLoginVerify),
		post("/login/verify/sms", s.handleLoginSendSMS),
		post("/logout", s.handleLogout),
		get("/account", s.handleAccount),
		get("/account/security", s.handleSecurity),
		post("/account/security/step-up", s.handleStepUp),
		post("/account/security/step-up/sms", s.handleStepUpSMS),
		post("/account/totp/begin", s.handleTOTPBegin),
		post("/account/totp/confirm", s.handleTOTPConfirm),
		post("/account/totp/disable", s.handleTOTPDisable),
		post("/account/recovery-codes", s.handleRecoveryCodes),
		get("/account/password", s.handlePasswordPage),
		post("/account/password", s.handleChangePassword),
		post("/account/sessions/{id}/revoke", s.handleRevokeSession),
		post("/account/sessions/revoke-others", s.handleRevokeOthers),
		get("/account/freeze", s.handleFreezeConfirm),
		post("/account/freeze", s.handleFreeze),
		get("/password/forgot", s.handleForgotPage),
		post("/password/forgot", s.handleForgot),
		get("/password/reset", s.handleResetPage),
		post("/password/reset/code", s.handleResetCode),
		post("/password/reset/factor/send", s.handleResetFactorSend),
		post("/password/reset/factor", s.handleResetFactor),
		post("/password/reset/new", s.handleResetNew),
		get("/freeze/{token}", s.handleFreezeLinkPage),
		post("/freeze", s.handleFreezeLink),
	}
	if s.id.PasskeysEnabled() {
		routes = append(routes,
			post("/login/passkey", s.handlePasswordlessBegin),
			post("/login/passkey/finish", s.handlePasswordlessFinish),
			post("/login/verify/passkey", s.handleLoginPasskeyBegin),
			post("/login/verify/passkey/finish", s.handleLoginPasskeyFinish),
			post("/account/security/step-up/passkey", s.handleStepUpPasskeyBegin),
			post("/account/security/step-up/passkey/finish", s.handleStepUpPasskeyFinish),
			post("/account/passkeys/begin", s.handlePasskeyAddBegin),
			post("/account/passkeys/finish", s.handlePasskeyAddFinish),
			post("/account/passkeys/{id}/remove", s.handlePasskeyRemove),
		)
	}
	routes = append(routes, s.contactRoutes()...)
	return append(routes, s.notificationRoutes()...)
}

type ctxKey int

const keyDeviceID ctxKey = iota

// account wraps every account page: nothing it answers may be cached
// (SES-10), the device-id cookie is set on the first visit (RSK-01), and
// a form body is bounded and parsed from the body only (never the URL).
func (s *Server) account(h func(http.ResponseWriter, *http.Request)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		did := cookieValue(r, deviceCookie)
		if !validDeviceID(did) {
			did = newDeviceID()
			setCookie(w, deviceCookie, did, http.SameSiteLaxMode, deviceCookieMaxAge)
		}
		r = r.WithContext(context.WithValue(r.Context(), keyDeviceID, did))
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
			if err := r.ParseForm(); err != nil {
				s.renderAccountError(w, r, http.StatusBadRequest, "problem.invalid_request.title", "problem.invalid_request.detail")
				return
			}
		}
		h(w, r)
	})
}

func newDeviceID() string {
	var b [16]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func validDeviceID(s string) bool {
	if len(s) != 22 {
		return false
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil && len(b) == 16
}

// meta describes the request for the identity service. The client address
// is the socket's unless it is a configured proxy (API-04).
func (s *Server) meta(w http.ResponseWriter, r *http.Request) identity.Meta {
	ip := s.clientIP.IP(r)
	did, _ := r.Context().Value(keyDeviceID).(string)
	return identity.Meta{
		IP:        ip,
		UserAgent: r.UserAgent(),
		DeviceID:  did,
		Lang:      i18n.Negotiate(r),
		RequestID: w.Header().Get("X-Request-Id"),
	}
}

// cookieValue returns the value of cookie name, or "" when it is missing
// or implausibly long.
func cookieValue(r *http.Request, name string) string {
	c, err := r.Cookie(name)
	if err != nil || len(c.Value) > maxTokenLen {
		return ""
	}
	return c.Value
}

// setCookie sets a __Host- cookie: Secure, HttpOnly, Path=/, no Domain.
// maxAge 0 makes a session cookie.
func setCookie(w http.ResponseWriter, name, value string, sameSite http.SameSite, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: "/", MaxAge: maxAge,
		Secure: true, HttpOnly: true, SameSite: sameSite,
	})
}

func clearCookie(w http.ResponseWriter, name string) {
	sameSite := http.SameSiteLaxMode
	if name == flowCookie {
		sameSite = http.SameSiteStrictMode
	}
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1, Secure: true, HttpOnly: true, SameSite: sameSite})
}

func setSession(w http.ResponseWriter, token string) {
	setCookie(w, sessionCookie, token, http.SameSiteLaxMode, 0)
}

func setFlow(w http.ResponseWriter, token string) {
	setCookie(w, flowCookie, token, http.SameSiteStrictMode, flowCookieMaxAge)
}

// returnCookie keeps the page a signed-out browser asked for (an email's
// link to a transaction, say) while it signs in, so that the sign-in
// ends there and not on /account: 10 minutes, a path of this site only.
const (
	returnCookie       = "__Host-return"
	returnCookieMaxAge = 600
)

// toSignIn sends the browser to the sign-in page at to, remembering the
// page it asked for when that was a GET of a page.
func toSignIn(w http.ResponseWriter, r *http.Request, to string) {
	if r.Method == http.MethodGet && r.URL.Path != "/" && r.URL.Path != "/account" {
		setCookie(w, returnCookie, url.QueryEscape(safeNext(r.URL.RequestURI())), http.SameSiteLaxMode, returnCookieMaxAge)
	}
	redirect(w, r, to)
}

// afterSignIn sends a browser that has just signed in to the page it had
// asked for, else to its account.
func afterSignIn(w http.ResponseWriter, r *http.Request) {
	to := "/account"
	if v := cookieValue(r, returnCookie); v != "" {
		if p, err := url.QueryUnescape(v); err == nil && safeNext(p) != "/" {
			to = safeNext(p)
		}
		clearCookie(w, returnCookie)
	}
	redirect(w, r, to)
}

// redirect answers 303 See Other: after a POST the browser GETs the result.
func redirect(w http.ResponseWriter, r *http.Request, to string) {
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// accountPage starts an account page: never cached, titled with titleID.
func (s *Server) accountPage(r *http.Request, titleID string) *page {
	p := s.newPage(r)
	p.NoStore = true
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		// The language switch returns to the page, without one-off
		// notices such as ?sms=sent.
		p.Next = safeNext(r.URL.EscapedPath())
	}
	p.Title = p.T(titleID) + accountTitleSuffix + p.T("app.name")
	return p
}

// renderAccountError shows an error page that is never cached.
func (s *Server) renderAccountError(w http.ResponseWriter, r *http.Request, status int, titleID, detailID string) {
	p := s.newPage(r)
	p.NoStore = true
	p.Status = status
	p.Heading = p.T(titleID)
	p.Detail = p.T(detailID)
	p.Title = p.Heading + accountTitleSuffix + p.T("app.name")
	s.render(w, r, pageError, p)
}

// internalError logs err and shows the generic error page; its text
// never reaches the user (API-05).
func (s *Server) internalError(w http.ResponseWriter, r *http.Request, err error) {
	s.log.ErrorContext(r.Context(), "web: account page", "path", r.URL.Path, "err", err)
	s.renderAccountError(w, r, http.StatusInternalServerError, "problem.internal_error.title", "problem.internal_error.detail")
}

// messageData is the content of message.html: a heading, paragraphs and
// an optional link onward.
type messageData struct {
	TestID   string
	Body     []string
	LinkHref string
	LinkText string
}

// renderMessage shows a short page with a heading, text and a link.
func (s *Server) renderMessage(w http.ResponseWriter, r *http.Request, p *page, status int, headingID string, d messageData) {
	p.Status = status
	p.Heading = p.T(headingID)
	p.Title = p.Heading + accountTitleSuffix + p.T("app.name")
	p.Data = d
	s.render(w, r, pageMessage, p)
}

// renderExpired shows that a sign-up or reset flow has ended, with a link
// to start again.
func (s *Server) renderExpired(w http.ResponseWriter, r *http.Request, restart string) {
	if r.Method == http.MethodPost {
		// Only a step that used the cookie forgets it: a GET changes
		// nothing, not even another flow's cookie.
		clearCookie(w, flowCookie)
	}
	p := s.accountPage(r, "account.expired.title")
	p.NoReferrer = true
	linkID := "account.expired.signup"
	if restart != "/signup" {
		linkID = "account.expired.reset"
	}
	s.renderMessage(w, r, p, http.StatusBadRequest, "account.expired.title", messageData{
		TestID: "flow-expired", Body: []string{p.T("account.expired.body")}, LinkHref: restart, LinkText: p.T(linkID),
	})
}

// code returns the error code of err (okpay.ErrorCode).
func code(err error) string { return okpay.ErrorCode(err) }

// retryAfter returns the wait of a rate-limit error.
func retryAfter(err error) (time.Duration, bool) {
	var rl *identity.RateLimitError
	if errors.As(err, &rl) {
		return rl.RetryAfter, true
	}
	return 0, false
}

// rateLimited puts a "too many attempts, try again in N minutes" error on
// the form and makes the page a 429 with Retry-After. It reports false
// when err is not a rate-limit error.
func (p *page) rateLimited(err error) bool {
	d, ok := retryAfter(err)
	if !ok {
		return false
	}
	if p.Form == nil {
		p.Form = newForm()
	}
	p.Form.fail(p.T("account.rate_limited", "Retry", p.retryText(d)))
	p.Status = http.StatusTooManyRequests
	p.RetryAfter = max(d, time.Second)
	return true
}

// passwordMessage translates a password-policy error code (PWD-03: no
// composition rules are ever mentioned).
func (p *page) passwordMessage(c string) string {
	switch c {
	case password.CodeTooShort:
		return p.T("account.password.too_short")
	case password.CodeTooLong:
		return p.T("account.password.too_long")
	case password.CodeCommon:
		return p.T("account.password.common")
	case password.CodeContextual:
		return p.T("account.password.contextual")
	}
	return p.T("account.error.invalid")
}

// isPasswordCode reports whether c is a password-policy rejection.
func isPasswordCode(c string) bool {
	switch c {
	case password.CodeTooShort, password.CodeTooLong, password.CodeCommon, password.CodeContextual:
		return true
	}
	return false
}

// fieldErrors returns the per-field messages of a validation error.
func fieldErrors(err error) map[string]string {
	var e *okpay.Error
	if errors.As(err, &e) {
		return e.Fields
	}
	return nil
}

// validToken reports whether s looks like a token the service issues
// (base64url, bounded), so junk never reaches it.
func validToken(s string) bool {
	if s == "" || len(s) > maxTokenLen {
		return false
	}
	return !strings.ContainsFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
	})
}
