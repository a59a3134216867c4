package httpapi

import (
	"bytes"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/identity/password"
	"github.com/okpay/okpay/ids"
)

// The customer identity API: sign-up, login with a second factor,
// sessions, factors, password recovery and freeze, over the identity
// service. Tokens and codes travel only in bodies and headers, never in a
// URL (SES-10).

// identityHandlers returns the handlers of identityRoutes by
// "METHOD pattern": the public ones and those of a signed-in customer.
func (s *Server) identityHandlers() (map[string]http.HandlerFunc, map[string]sessionHandler) {
	public := map[string]http.HandlerFunc{
		"POST /api/v1/signup":                     s.handleSignup,
		"POST /api/v1/signup/verify":              s.handleSignupVerify,
		"POST /api/v1/signup/resend":              s.handleSignupResend,
		"POST /api/v1/sessions":                   s.handleLogin,
		"POST /api/v1/sessions/passkey":           s.handleBeginPasswordless,
		"POST /api/v1/sessions/passkey/finish":    s.handleFinishPasswordless,
		"POST /api/v1/sessions/refresh":           s.handleRefresh,
		"POST /api/v1/password/forgot":            s.handleForgotPassword,
		"POST /api/v1/password/reset/code":        s.handleResetCode,
		"POST /api/v1/password/reset/factor/send": s.handleResetFactorSend,
		"POST /api/v1/password/reset/factor":      s.handleResetFactor,
		"POST /api/v1/password/reset":             s.handleResetComplete,
		"POST /api/v1/freeze":                     s.handleFreezeLink,
	}
	session := map[string]sessionHandler{
		"GET /api/v1/sessions":                 s.handleListSessions,
		"DELETE /api/v1/sessions/current":      s.handleLogout,
		"POST /api/v1/sessions/{id}/revoke":    s.handleRevokeSession,
		"POST /api/v1/sessions/revoke-others":  s.handleRevokeOtherSessions,
		"POST /api/v1/mfa/sms":                 s.handleSendMFACode,
		"POST /api/v1/mfa/verify":              s.handleVerifyFactor,
		"GET /api/v1/me":                       s.handleMe,
		"POST /api/v1/me/language":             s.handleSetLanguage,
		"POST /api/v1/me/totp":                 s.handleBeginTOTP,
		"POST /api/v1/me/totp/confirm":         s.handleConfirmTOTP,
		"DELETE /api/v1/me/totp":               s.handleDisableTOTP,
		"POST /api/v1/me/recovery-codes":       s.handleRecoveryCodes,
		"POST /api/v1/me/password":             s.handleChangePassword,
		"POST /api/v1/me/freeze":               s.handleSelfFreeze,
		"POST /api/v1/sessions/refresh-token":  s.handleIssueRefreshToken,
		"POST /api/v1/mfa/passkey":             s.handleBeginPasskeyFactor,
		"POST /api/v1/mfa/passkey/finish":      s.handleFinishPasskeyFactor,
		"GET /api/v1/me/passkeys":              s.handleListPasskeys,
		"POST /api/v1/me/passkeys":             s.handleBeginPasskeyRegistration,
		"POST /api/v1/me/passkeys/finish":      s.handleFinishPasskeyRegistration,
		"POST /api/v1/me/passkeys/{id}/remove": s.handleRemovePasskey,
		"POST /api/v1/me/email":                s.handleBeginContactChange(identity.ContactEmail),
		"POST /api/v1/me/email/confirm":        s.handleConfirmContactChange(identity.ContactEmail),
		"POST /api/v1/me/phone":                s.handleBeginContactChange(identity.ContactPhone),
		"POST /api/v1/me/phone/confirm":        s.handleConfirmContactChange(identity.ContactPhone),
	}
	return public, session
}

// ---------------------------------------------------------------------------
// Requests.

// readJSON reads and strictly decodes a JSON body into v, answering the
// request itself when it cannot.
func (s *Server) readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := readBody(w, r)
	if err == nil {
		err = decode(body, v)
	}
	if err != nil {
		s.writeError(w, r, err)
		return false
	}
	return true
}

// readEmpty accepts the body of an action that takes no input: none, or
// an empty JSON object.
func (s *Server) readEmpty(w http.ResponseWriter, r *http.Request) bool {
	body, err := readBody(w, r)
	if t := bytes.TrimSpace(body); err == nil && len(t) > 0 {
		if t[0] != '{' {
			err = okpay.Errorf(EInvalidRequest, "send no body or an empty JSON object")
		} else {
			err = decode(body, &struct{}{})
		}
	}
	if err != nil {
		s.writeError(w, r, err)
		return false
	}
	return true
}

// required fails with a validation error naming each empty field; pairs
// are field name, value, field name, value...
func required(pairs ...string) error {
	var fields map[string]string
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] == "" {
			if fields == nil {
				fields = map[string]string{}
			}
			fields[pairs[i]] = "required"
		}
	}
	if fields != nil {
		return okpay.Invalid(fields)
	}
	return nil
}

// tooLong checks a password field's size before anything else looks at it
// (PWD-02: over 1024 bytes is 400, before any hashing).
func tooLong(field, pw string) error {
	if len(pw) <= password.MaxBytes {
		return nil
	}
	return &okpay.Error{Code: password.CodeTooLong, Message: "the password is too long",
		Fields: map[string]string{field: "This password is too long. Use at most 1024 bytes."}}
}

func oneOf(field, v string, allowed ...string) error {
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	msg := "one of"
	for i, a := range allowed {
		if i > 0 {
			msg += ","
		}
		msg += " " + a
	}
	return okpay.Invalid(map[string]string{field: msg})
}

// writeNoContent answers 204.
func writeNoContent(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

// ---------------------------------------------------------------------------
// Sign-up.

type signupRequest struct {
	Email    string `json:"email"`
	Phone    string `json:"phone"`
	Password string `json:"password"`
	Lang     string `json:"lang"`
}

// handleSignup opens an account and sends a code to the email address and
// one to the phone. The answer has the same shape whether or not the
// email or phone is taken (LOG-10).
func (s *Server) handleSignup(w http.ResponseWriter, r *http.Request) {
	var req signupRequest
	if !s.readJSON(w, r, &req) {
		return
	}
	if err := tooLong("password", req.Password); err != nil {
		s.writeError(w, r, err)
		return
	}
	m := s.meta(r)
	lang := m.Lang
	if req.Lang != "" {
		l, ok := i18n.ParseLang(req.Lang)
		if !ok {
			s.writeError(w, r, okpay.Invalid(map[string]string{"lang": "en or zh-CN"}))
			return
		}
		lang = l
	}
	flow, err := s.identity.Register(r.Context(), identity.RegisterInput{Email: req.Email, Phone: req.Phone, Password: req.Password, Lang: lang}, m)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	b := append(make([]byte, 0, 128), `{"flow_token":`...)
	b = appendString(b, flow.Token)
	b = append(b, `,"destination":`...)
	b = appendString(b, flow.Destination)
	writeJSON(w, http.StatusAccepted, append(b, '}'))
}

type signupVerifyRequest struct {
	FlowToken string `json:"flow_token"`
	EmailCode string `json:"email_code"`
	PhoneCode string `json:"phone_code"`
	Client    string `json:"client"`
}

// handleSignupVerify checks the sign-up codes; when both contacts are
// verified the account is signed in (the phone code was the second
// factor). Until then the problem says which contacts are verified.
func (s *Server) handleSignupVerify(w http.ResponseWriter, r *http.Request) {
	var req signupVerifyRequest
	if !s.readJSON(w, r, &req) {
		return
	}
	err := required("flow_token", req.FlowToken)
	m := s.meta(r)
	if err == nil {
		m.RefreshToken, err = wantsRefreshToken(req.Client)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	flow, token, err := s.identity.VerifySignup(r.Context(), req.FlowToken, req.EmailCode, req.PhoneCode, m)
	if err != nil {
		if flow != nil {
			m := append(make([]byte, 0, 64), `,"email_verified":`...)
			m = strconv.AppendBool(m, flow.EmailVerified)
			m = append(m, `,"phone_verified":`...)
			m = strconv.AppendBool(m, flow.PhoneVerified)
			err = &extendedError{error: err, members: m}
		}
		s.writeError(w, r, err)
		return
	}
	ss, _, err := s.identity.Authenticate(r.Context(), token)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	b := append(make([]byte, 0, 256), `{"email_verified":true,"phone_verified":true,"session":`...)
	b = s.appendSessionToken(b, token, flow.RefreshToken, ss)
	writeJSON(w, http.StatusOK, append(b, '}'))
}

type signupResendRequest struct {
	FlowToken string `json:"flow_token"`
	Channel   string `json:"channel"`
}

// handleSignupResend sends a new code for one contact of a sign-up flow.
func (s *Server) handleSignupResend(w http.ResponseWriter, r *http.Request) {
	var req signupResendRequest
	if !s.readJSON(w, r, &req) {
		return
	}
	err := required("flow_token", req.FlowToken)
	if err == nil {
		// Checked here, before the flow: the service would answer a
		// decoy flow (LOG-10) before looking at the channel.
		err = oneOf("channel", req.Channel, identity.MethodEmail, identity.MethodSMS)
	}
	if err == nil {
		err = s.identity.ResendSignupCode(r.Context(), req.FlowToken, req.Channel, s.meta(r))
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, []byte("{}"))
}

// appendSessionToken renders a session's new token: {token, aal,
// expires_at, sudo_until}, and refresh_token when one was issued.
func (s *Server) appendSessionToken(b []byte, token, refresh string, ss *identity.Session) []byte {
	b = append(b, `{"token":`...)
	b = appendString(b, token)
	if refresh != "" {
		b = append(b, `,"refresh_token":`...)
		b = appendString(b, refresh)
	}
	b = append(b, `,"aal":`...)
	b = appendInt(b, int64(ss.AAL))
	b = append(b, `,"expires_at":`...)
	b = appendTime(b, ss.ExpiresAt)
	b = append(b, `,"sudo_until":`...)
	if t := s.identity.SudoUntil(ss); !t.IsZero() {
		b = appendTime(b, t)
	} else {
		b = append(b, "null"...)
	}
	return append(b, '}')
}

// ---------------------------------------------------------------------------
// Login and the second factor.

type loginRequest struct {
	Identifier string `json:"identifier"`
	Password   string `json:"password"`
}

// handleLogin checks an identifier and password. Every failure is the
// same 401 invalid_credentials (LOG-01). The session it starts is AAL1:
// only the second-factor step, logout and freeze accept it (MFA-01).
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	var req loginRequest
	if !s.readJSON(w, r, &req) {
		return
	}
	if err := required("identifier", req.Identifier, "password", req.Password); err != nil {
		s.writeError(w, r, err)
		return
	}
	m := s.meta(r)
	res, err := s.identity.Login(r.Context(), req.Identifier, req.Password, m)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	b := append(make([]byte, 0, 256), `{"token":`...)
	b = appendString(b, res.Token)
	b = append(b, `,"aal":`...)
	b = appendInt(b, int64(res.Session.AAL))
	b = append(b, `,"expires_at":`...)
	b = appendTime(b, res.Session.ExpiresAt)
	b = append(b, `,"methods":`...)
	b = appendStrings(b, res.Methods)
	b = append(b, `,"sms_sent":`...)
	b = strconv.AppendBool(b, res.SMSSent)
	b = append(b, `,"destination":`...)
	if res.Destination != "" {
		b = appendString(b, res.Destination)
	} else {
		b = append(b, "null"...)
	}
	if res.SMSError != nil {
		b = append(b, `,"sms_error":`...)
		b = s.appendSendError(b, res.SMSError, m.Lang)
	}
	writeJSON(w, http.StatusCreated, append(b, '}'))
}

// appendSendError renders why a code was not sent: {code, detail,
// retry_after (seconds)}.
func (s *Server) appendSendError(b []byte, err error, lang i18n.Lang) []byte {
	code := okpay.ErrorCode(err)
	detail := okpay.ErrorMessage(err)
	if s.catalog != nil && s.catalog.Has("problem."+code+".detail") {
		detail = s.catalog.T(lang, "problem."+code+".detail", nil)
	}
	b = append(b, `{"code":`...)
	b = appendString(b, code)
	b = append(b, `,"detail":`...)
	b = appendString(b, detail)
	var rl *identity.RateLimitError
	if errors.As(err, &rl) {
		b = append(b, `,"retry_after":`...)
		b = appendInt(b, retryAfterSeconds(rl.RetryAfter))
	}
	return append(b, '}')
}

// handleSendMFACode (re)sends the SMS code of the current session: the
// login's second factor, or a step-up (MFA-03 send limits apply).
func (s *Server) handleSendMFACode(w http.ResponseWriter, r *http.Request, c *caller) {
	if !s.readEmpty(w, r) {
		return
	}
	dest, err := s.identity.SendLoginCode(r.Context(), c.token, s.meta(r))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	b := append(make([]byte, 0, 64), `{"destination":`...)
	b = appendString(b, dest)
	writeJSON(w, http.StatusAccepted, append(b, '}'))
}

type verifyFactorRequest struct {
	Method string `json:"method"`
	Code   string `json:"code"`
	Client string `json:"client"`
}

// Kinds of client a login may name ("client"): a mobile app asks for a
// refresh token with it (SES-03); the web app, the default, does not.
const (
	clientWeb    = "web"
	clientMobile = "mobile"
)

// wantsRefreshToken reads the "client" of a login request.
func wantsRefreshToken(client string) (bool, error) {
	if client == "" {
		return false, nil
	}
	if err := oneOf("client", client, clientWeb, clientMobile); err != nil {
		return false, err
	}
	return client == clientMobile, nil
}

// handleVerifyFactor passes the second factor: it finishes a login or
// opens the sudo window (step-up). The session gets a new token (SES-02);
// a web app's cookie is replaced.
func (s *Server) handleVerifyFactor(w http.ResponseWriter, r *http.Request, c *caller) {
	var req verifyFactorRequest
	if !s.readJSON(w, r, &req) {
		return
	}
	err := required("method", req.Method, "code", req.Code)
	if err == nil {
		err = oneOf("method", req.Method, identity.MethodSMS, identity.MethodTOTP, identity.MethodRecovery)
	}
	m := s.meta(r)
	if err == nil {
		m.RefreshToken, err = wantsRefreshToken(req.Client)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	res, err := s.identity.VerifyFactor(r.Context(), c.token, req.Method, req.Code, m)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeFactorPassed(w, c, http.StatusOK, res)
}

// writeFactorPassed answers a completed second factor (or passwordless
// sign-in) with the session's new token — and its refresh token when the
// client asked for one at login — and gives a web app its new cookie.
func (s *Server) writeFactorPassed(w http.ResponseWriter, c *caller, status int, res *identity.LoginResult) {
	if c != nil && c.cookie {
		setSessionCookie(w, res.Token)
	}
	writeJSON(w, status, s.appendSessionToken(make([]byte, 0, 256), res.Token, res.RefreshToken, res.Session))
}

// ---------------------------------------------------------------------------
// Sessions.

// handleLogout ends the current session (SES-04).
func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request, c *caller) {
	if err := s.identity.Logout(r.Context(), c.token, s.meta(r)); err != nil {
		s.writeError(w, r, err)
		return
	}
	if c.cookie {
		clearSessionCookie(w)
	}
	writeNoContent(w)
}

// handleListSessions lists the customer's live sessions, newest first
// (SES-05).
func (s *Server) handleListSessions(w http.ResponseWriter, r *http.Request, c *caller) {
	limit, before, err := page(r, identity.SessionPrefix)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	all, err := s.identity.Sessions(r.Context(), c.user.ID, c.session.ID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	list := all[:0:0]
	for _, ss := range all {
		if before == 0 || ss.ID < before {
			list = append(list, ss)
		}
	}
	more := len(list) > limit
	cursor := ""
	if more {
		list = list[:limit]
		cursor = ids.Format(identity.SessionPrefix, list[len(list)-1].ID)
	}
	writeJSON(w, http.StatusOK, appendList(make([]byte, 0, 256*len(list)+64), list, more, cursor, appendSession))
}

func appendSession(b []byte, ss *identity.Session) []byte {
	b = append(b, `{"id":"`...)
	b = ids.Append(b, identity.SessionPrefix, ss.ID)
	b = append(b, `","object":"session","device":`...)
	b = appendString(b, ss.Device)
	b = append(b, `,"ip":`...)
	b = appendString(b, ss.IP)
	// SES-05: the approximate location, null when unknown (no GeoIP
	// database, or an address it does not know).
	b = append(b, `,"location":`...)
	if loc := ss.Location; loc.Known() {
		b = append(b, `{"city":`...)
		if loc.City != "" {
			b = appendString(b, loc.City)
		} else {
			b = append(b, "null"...)
		}
		b = append(b, `,"country":`...)
		if loc.Country != "" {
			b = appendString(b, loc.Country)
		} else {
			b = append(b, "null"...)
		}
		b = append(b, `,"label":`...)
		b = appendString(b, loc.Label("en"))
		b = append(b, '}')
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"created_at":`...)
	b = appendTime(b, ss.CreatedAt)
	b = append(b, `,"last_seen_at":`...)
	b = appendTime(b, ss.LastSeenAt)
	b = append(b, `,"expires_at":`...)
	b = appendTime(b, ss.ExpiresAt)
	b = append(b, `,"current":`...)
	b = strconv.AppendBool(b, ss.Current)
	return append(b, '}')
}

// handleRevokeSession ends one of the customer's sessions; it needs the
// sudo window, and another customer's session is not found (SES-05,
// API-02).
func (s *Server) handleRevokeSession(w http.ResponseWriter, r *http.Request, c *caller) {
	id, err := pathID(r, identity.SessionPrefix)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if !s.readEmpty(w, r) {
		return
	}
	if err := s.identity.RevokeSession(r.Context(), c.session, id, s.meta(r)); err != nil {
		s.writeError(w, r, err)
		return
	}
	if id == c.session.ID && c.cookie {
		clearSessionCookie(w)
	}
	writeNoContent(w)
}

// handleRevokeOtherSessions ends every session but this one (sudo).
func (s *Server) handleRevokeOtherSessions(w http.ResponseWriter, r *http.Request, c *caller) {
	if !s.readEmpty(w, r) {
		return
	}
	n, err := s.identity.RevokeOtherSessions(r.Context(), c.session, s.meta(r))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	b := append(make([]byte, 0, 32), `{"revoked":`...)
	b = appendInt(b, int64(n))
	writeJSON(w, http.StatusOK, append(b, '}'))
}

// ---------------------------------------------------------------------------
// The account and its factors.

// handleMe describes the signed-in customer's account.
func (s *Server) handleMe(w http.ResponseWriter, r *http.Request, c *caller) {
	u, err := s.identity.FindUser(r.Context(), c.user.ID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, appendUser(make([]byte, 0, 384), u, s.identity.Clock.Now()))
}

type languageRequest struct {
	Language string `json:"language"`
}

// handleSetLanguage sets the language OKPay writes to the customer in
// (emails, SMS, in-app notices) and answers the account.
func (s *Server) handleSetLanguage(w http.ResponseWriter, r *http.Request, c *caller) {
	var req languageRequest
	if !s.readJSON(w, r, &req) {
		return
	}
	err := required("language", req.Language)
	if err == nil {
		err = oneOf("language", req.Language, string(i18n.En), string(i18n.ZhCN))
	}
	if err == nil {
		err = s.identity.SetLanguage(r.Context(), c.user.ID, i18n.Lang(req.Language))
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.handleMe(w, r, c)
}

func appendUser(b []byte, u *identity.User, now time.Time) []byte {
	b = append(b, `{"id":"`...)
	b = ids.Append(b, identity.UserPrefix, u.ID)
	b = append(b, `","object":"user","email":`...)
	b = appendString(b, u.Email)
	b = append(b, `,"phone":`...)
	b = appendString(b, u.Phone)
	b = append(b, `,"email_verified":`...)
	b = strconv.AppendBool(b, !u.EmailVerifiedAt.IsZero())
	b = append(b, `,"phone_verified":`...)
	b = strconv.AppendBool(b, !u.PhoneVerifiedAt.IsZero())
	b = append(b, `,"frozen":`...)
	b = strconv.AppendBool(b, u.Frozen)
	// PWD-08: true when every route but this one, the password change,
	// logout, freeze and the second-factor steps answers 403
	// password_change_required.
	b = append(b, `,"password_change_required":`...)
	b = strconv.AppendBool(b, u.MustChangePassword())
	if u.Frozen && !u.FrozenAt.IsZero() {
		b = append(b, `,"frozen_at":`...)
		b = appendTime(b, u.FrozenAt)
	}
	if u.HoldUntil.After(now) {
		b = append(b, `,"hold_until":`...)
		b = appendTime(b, u.HoldUntil)
	}
	b = append(b, `,"totp_enabled":`...)
	b = strconv.AppendBool(b, u.TOTPEnabled)
	b = append(b, `,"recovery_codes_remaining":`...)
	b = appendInt(b, int64(u.RecoveryCodes))
	b = append(b, `,"passkeys":`...)
	b = appendInt(b, int64(u.Passkeys))
	b = append(b, `,"language":`...)
	b = appendString(b, string(u.Lang))
	b = append(b, `,"created_at":`...)
	b = appendTime(b, u.CreatedAt)
	return append(b, '}')
}

// handleBeginTOTP starts enrolling an authenticator app (sudo).
func (s *Server) handleBeginTOTP(w http.ResponseWriter, r *http.Request, c *caller) {
	if !s.readEmpty(w, r) {
		return
	}
	setup, err := s.identity.BeginTOTP(r.Context(), c.session)
	if err != nil {
		s.writeError(w, r, withAcceptedMethods(err))
		return
	}
	b := append(make([]byte, 0, 192), `{"secret":`...)
	b = appendString(b, setup.Secret)
	b = append(b, `,"otpauth_uri":`...)
	b = appendString(b, setup.URI)
	writeJSON(w, http.StatusCreated, append(b, '}'))
}

type codeRequest struct {
	Code string `json:"code"`
}

// handleConfirmTOTP enrols the authenticator app with one of its codes
// (MFA-05); the customer's other sessions end (SES-06).
func (s *Server) handleConfirmTOTP(w http.ResponseWriter, r *http.Request, c *caller) {
	var req codeRequest
	if !s.readJSON(w, r, &req) {
		return
	}
	err := required("code", req.Code)
	if err == nil {
		err = s.identity.ConfirmTOTP(r.Context(), c.session, req.Code, s.meta(r))
	}
	if err != nil {
		s.writeError(w, r, withAcceptedMethods(err))
		return
	}
	writeNoContent(w)
}

// handleDisableTOTP removes the authenticator app (sudo, opened with the
// app or a passkey: MFA-09; SMS remains).
func (s *Server) handleDisableTOTP(w http.ResponseWriter, r *http.Request, c *caller) {
	if err := s.identity.DisableTOTP(r.Context(), c.session, s.meta(r)); err != nil {
		s.writeError(w, r, withAcceptedMethods(err))
		return
	}
	writeNoContent(w)
}

// handleRecoveryCodes replaces the recovery codes with ten new ones, shown
// this once (sudo, MFA-07).
func (s *Server) handleRecoveryCodes(w http.ResponseWriter, r *http.Request, c *caller) {
	if !s.readEmpty(w, r) {
		return
	}
	codes, err := s.identity.RegenerateRecoveryCodes(r.Context(), c.session, s.meta(r))
	if err != nil {
		s.writeError(w, r, withAcceptedMethods(err))
		return
	}
	b := append(make([]byte, 0, 256), `{"codes":`...)
	b = appendStrings(b, codes)
	writeJSON(w, http.StatusCreated, append(b, '}'))
}

type changePasswordRequest struct {
	CurrentPassword string `json:"current_password"`
	NewPassword     string `json:"new_password"`
}

// handleChangePassword sets a new password: it needs the current one and
// the sudo window (PWD-06); the other sessions end (SES-06).
func (s *Server) handleChangePassword(w http.ResponseWriter, r *http.Request, c *caller) {
	var req changePasswordRequest
	if !s.readJSON(w, r, &req) {
		return
	}
	err := tooLong("new_password", req.NewPassword)
	if err == nil {
		err = tooLong("current_password", req.CurrentPassword)
	}
	if err == nil {
		err = required("current_password", req.CurrentPassword, "new_password", req.NewPassword)
	}
	if err == nil {
		err = s.identity.ChangePassword(r.Context(), c.session, req.CurrentPassword, req.NewPassword, s.meta(r))
	}
	if err != nil {
		s.writeError(w, r, renameField(err, "password", "new_password"))
		return
	}
	writeNoContent(w)
}

// renameField moves a validation message to the field name of this
// request (the policy names its field "password").
func renameField(err error, from, to string) error {
	var e *okpay.Error
	if !errors.As(err, &e) || e.Fields[from] == "" {
		return err
	}
	fields := make(map[string]string, len(e.Fields))
	for k, v := range e.Fields {
		if k == from {
			k = to
		}
		fields[k] = v
	}
	return &okpay.Error{Code: e.Code, Message: e.Message, Fields: fields}
}

// handleSelfFreeze freezes the customer's own account: every session ends
// and no money can leave. An AAL1 session may do it (MFA-01).
func (s *Server) handleSelfFreeze(w http.ResponseWriter, r *http.Request, c *caller) {
	if !s.readEmpty(w, r) {
		return
	}
	if err := s.identity.Freeze(r.Context(), c.user.ID, "self:api", c.id, s.meta(r)); err != nil {
		s.writeError(w, r, err)
		return
	}
	if c.cookie {
		clearSessionCookie(w)
	}
	writeNoContent(w)
}

// ---------------------------------------------------------------------------
// Password recovery.

type forgotRequest struct {
	Identifier string `json:"identifier"`
	Channel    string `json:"channel"`
}

// handleForgotPassword starts a reset. The answer is the same for an
// unknown identifier (REC-01).
func (s *Server) handleForgotPassword(w http.ResponseWriter, r *http.Request) {
	var req forgotRequest
	if !s.readJSON(w, r, &req) {
		return
	}
	err := required("identifier", req.Identifier, "channel", req.Channel)
	if err == nil {
		err = oneOf("channel", req.Channel, identity.MethodSMS, identity.MethodEmail)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	flow, err := s.identity.ForgotPassword(r.Context(), req.Identifier, req.Channel, s.meta(r))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	b := append(make([]byte, 0, 80), `{"flow_token":`...)
	b = appendString(b, flow.Token)
	writeJSON(w, http.StatusAccepted, append(b, '}'))
}

type resetCodeRequest struct {
	FlowToken string `json:"flow_token"`
	Code      string `json:"code"`
}

// handleResetCode checks the reset code and lists the second factors that
// can follow it (never the code's own channel, MFA-10).
func (s *Server) handleResetCode(w http.ResponseWriter, r *http.Request) {
	var req resetCodeRequest
	if !s.readJSON(w, r, &req) {
		return
	}
	if err := required("flow_token", req.FlowToken, "code", req.Code); err != nil {
		s.writeError(w, r, err)
		return
	}
	f, err := s.identity.ResetVerifyCode(r.Context(), req.FlowToken, req.Code, s.meta(r))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, appendResetFlow(nil, f))
}

func appendResetFlow(b []byte, f *identity.Flow) []byte {
	b = append(b, `{"code_verified":`...)
	b = strconv.AppendBool(b, f.CodeVerified)
	b = append(b, `,"factor_verified":`...)
	b = strconv.AppendBool(b, f.FactorVerified)
	if f.Methods != nil {
		b = append(b, `,"methods":`...)
		b = appendStrings(b, f.Methods)
	}
	return append(b, '}')
}

type flowRequest struct {
	FlowToken string `json:"flow_token"`
}

// handleResetFactorSend sends the reset's second code, over the other
// channel than the first.
func (s *Server) handleResetFactorSend(w http.ResponseWriter, r *http.Request) {
	var req flowRequest
	if !s.readJSON(w, r, &req) {
		return
	}
	err := required("flow_token", req.FlowToken)
	if err == nil {
		err = s.identity.ResetSendFactorCode(r.Context(), req.FlowToken, s.meta(r))
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, []byte("{}"))
}

type resetFactorRequest struct {
	FlowToken string `json:"flow_token"`
	Method    string `json:"method"`
	Code      string `json:"code"`
}

// handleResetFactor passes the reset's second factor (REC-04).
func (s *Server) handleResetFactor(w http.ResponseWriter, r *http.Request) {
	var req resetFactorRequest
	if !s.readJSON(w, r, &req) {
		return
	}
	err := required("flow_token", req.FlowToken, "method", req.Method, "code", req.Code)
	if err == nil {
		err = oneOf("method", req.Method, identity.MethodTOTP, identity.MethodSMS, identity.MethodEmail, identity.MethodRecovery)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	f, err := s.identity.ResetVerifyFactor(r.Context(), req.FlowToken, req.Method, req.Code, s.meta(r))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, appendResetFlow(nil, f))
}

type resetCompleteRequest struct {
	FlowToken   string `json:"flow_token"`
	NewPassword string `json:"new_password"`
}

// handleResetComplete sets the new password. It signs nobody in, ends
// every session and holds money-out for 24 h (REC-05).
func (s *Server) handleResetComplete(w http.ResponseWriter, r *http.Request) {
	var req resetCompleteRequest
	if !s.readJSON(w, r, &req) {
		return
	}
	err := tooLong("new_password", req.NewPassword)
	if err == nil {
		err = required("flow_token", req.FlowToken, "new_password", req.NewPassword)
	}
	if err == nil {
		err = s.identity.ResetComplete(r.Context(), req.FlowToken, req.NewPassword, s.meta(r))
	}
	if err != nil {
		s.writeError(w, r, renameField(err, "password", "new_password"))
		return
	}
	writeNoContent(w)
}

// ---------------------------------------------------------------------------
// Freeze by link.

type freezeLinkRequest struct {
	Token string `json:"token"`
}

// handleFreezeLink freezes the account of a "Not you? Freeze my account"
// link without a login (NOT-05); using a link again is harmless.
func (s *Server) handleFreezeLink(w http.ResponseWriter, r *http.Request) {
	var req freezeLinkRequest
	if !s.readJSON(w, r, &req) {
		return
	}
	err := required("token", req.Token)
	if err == nil {
		err = s.identity.FreezeByLink(r.Context(), req.Token, s.meta(r))
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeNoContent(w)
}

func appendStrings(b []byte, ss []string) []byte {
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, s)
	}
	return append(b, ']')
}

// ---------------------------------------------------------------------------
// Refresh tokens (SES-03, mobile clients).

type refreshRequest struct {
	RefreshToken string `json:"refresh_token"`
}

// handleRefresh spends a refresh token for a new session token and a new
// refresh token. Every failure is 401: an unknown, spent, revoked or
// foreign token is unauthorized (a spent one also revokes its device's
// sessions and alerts the owner), one past the session's 12 hours
// session_expired.
func (s *Server) handleRefresh(w http.ResponseWriter, r *http.Request) {
	var req refreshRequest
	if !s.readJSON(w, r, &req) {
		return
	}
	if err := required("refresh_token", req.RefreshToken); err != nil {
		s.writeError(w, r, err)
		return
	}
	res, err := s.identity.Refresh(r.Context(), req.RefreshToken, s.meta(r))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeFactorPassed(w, nil, http.StatusOK, res)
}

// handleIssueRefreshToken gives the current session a refresh token, for
// a mobile client that signed in without asking for one. It needs the
// sudo window; a token the session had before stops working.
func (s *Server) handleIssueRefreshToken(w http.ResponseWriter, r *http.Request, c *caller) {
	if !s.readEmpty(w, r) {
		return
	}
	token, expires, err := s.identity.IssueRefreshToken(r.Context(), c.session, s.meta(r))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	b := append(make([]byte, 0, 128), `{"refresh_token":`...)
	b = appendString(b, token)
	b = append(b, `,"expires_at":`...)
	b = appendTime(b, expires)
	writeJSON(w, http.StatusCreated, append(b, '}'))
}

// ---------------------------------------------------------------------------
// Changing the email address or phone number (MFA-04).

type changeEmailRequest struct {
	Email string `json:"email"`
}

type changePhoneRequest struct {
	Phone string `json:"phone"`
}

// handleBeginContactChange sends a code to a new email address or phone
// number (sudo). A contact of another account gets the same answer, but
// no code: its owner is told instead (LOG-10).
func (s *Server) handleBeginContactChange(kind string) sessionHandler {
	return func(w http.ResponseWriter, r *http.Request, c *caller) {
		var value string
		var err error
		if kind == identity.ContactEmail {
			var req changeEmailRequest
			if !s.readJSON(w, r, &req) {
				return
			}
			value, err = req.Email, required("email", req.Email)
		} else {
			var req changePhoneRequest
			if !s.readJSON(w, r, &req) {
				return
			}
			value, err = req.Phone, required("phone", req.Phone)
		}
		var dest string
		if err == nil {
			dest, err = s.identity.BeginContactChange(r.Context(), c.session, kind, value, s.meta(r))
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		b := append(make([]byte, 0, 64), `{"destination":`...)
		b = appendString(b, dest)
		writeJSON(w, http.StatusAccepted, append(b, '}'))
	}
}

// handleConfirmContactChange makes the new contact the account's with the
// code sent to it (sudo): the old and new contacts are told, the other
// sessions end (SES-06) and money-out waits 24 hours.
func (s *Server) handleConfirmContactChange(kind string) sessionHandler {
	return func(w http.ResponseWriter, r *http.Request, c *caller) {
		var req codeRequest
		if !s.readJSON(w, r, &req) {
			return
		}
		err := required("code", req.Code)
		if err == nil {
			err = s.identity.ConfirmContactChange(r.Context(), c.session, kind, req.Code, s.meta(r))
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeNoContent(w)
	}
}
