package web

import (
	"net/http"
	"strings"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/identity"
)

// Changing the email address or the mobile number (MFA-04, SES-08).
//
// GET /account/contact/{kind} shows the current value and a form for the
// new one; without a fresh second factor (the sudo window) it also shows
// the step-up forms, which come back to this page. POST
// /account/contact/{kind} sends a code to the new value and answers with
// the code form (no redirect: nothing in a URL may carry the new value);
// the code form's "send a new code" posts the value again. POST
// /account/contact/{kind}/confirm makes the change; the identity service
// tells the old and the new destinations, signs out every other session
// and holds money-out for 24 h, and the browser goes back to the account
// page with a notice saying so.

const pageContact = "contact.html"

// contactKinds are the {kind} values of the contact pages.
var contactKinds = []string{identity.ContactEmail, identity.ContactPhone}

// contactKindIDs are the message ids each kind has
// ("contact_change.<kind>.<suffix>").
var contactKindIDs = []string{
	"page_title", "title", "current", "new", "hint", "submit", "confirm", "other",
	"required", "same", "unavailable", "changed", "link",
}

// contactMessageIDs are the contact ids used from Go code; New checks that
// they exist.
var contactMessageIDs = func() []string {
	out := []string{
		"contact_change.step_up.lead", "contact_change.step_up.active", "contact_change.step_up.required",
		"contact_change.notice.confirmed", "contact_change.notice.resent",
	}
	for _, k := range contactKinds {
		for _, s := range contactKindIDs {
			out = append(out, "contact_change."+k+"."+s)
		}
	}
	return out
}()

// contactField is the id of the code input on the code step.
const contactField = "contact-code"

// maxContactLen bounds a typed email address or number before the
// service sees it.
const maxContactLen = 320

// contactData is the content of contact.html.
type contactData struct {
	Kind    string // identity.ContactEmail or identity.ContactPhone
	Action  string // "/account/contact/<kind>"
	Current string // the value the account has now
	// Verified tells whether the current value is verified.
	Verified bool
	// Code shows the code step: a code went to Destination (masked), and
	// Value (the new value as typed) travels in hidden fields.
	Code        bool
	Value       string
	Destination string
	Sudo        bool
	SudoUntil   time.Time
	// StepUpRequired: the change was refused for want of a fresh second
	// factor.
	StepUpRequired bool
	StepUp         factorForms
}

// ID returns the message id of suffix for the page's kind.
func (d contactData) ID(suffix string) string { return "contact_change." + d.Kind + "." + suffix }

// IsEmail reports whether the page changes the email address.
func (d contactData) IsEmail() bool { return d.Kind == identity.ContactEmail }

// contactKind returns the {kind} of the request when it is one the pages
// know.
func contactKind(r *http.Request) (string, bool) {
	k := r.PathValue("kind")
	for _, c := range contactKinds {
		if k == c {
			return k, true
		}
	}
	return "", false
}

// contactPage builds the page for kind: the value form, with the step-up
// forms when the sudo window is closed.
func (s *Server) contactPage(r *http.Request, a *signedIn, kind string, f *form) *page {
	action := "/account/contact/" + kind
	p := s.settingsPage(r, "contact_change."+kind+".page_title")
	p.Next = action
	p.Script = true // the passkey button
	p.Form = f
	d := contactData{Kind: kind, Action: action, Sudo: s.id.Sudo(a.sess), SudoUntil: s.id.SudoUntil(a.sess)}
	if kind == identity.ContactEmail {
		d.Current, d.Verified = a.user.Email, !a.user.EmailVerifiedAt.IsZero()
	} else {
		d.Current, d.Verified = a.user.Phone, !a.user.PhoneVerifiedAt.IsZero()
	}
	dest := maskPhone(a.user.Phone)
	d.StepUp = factorForms{
		P: p, Action: action + "/step-up", SendAction: action + "/step-up/sms", Submit: p.T("security.step_up.submit"),
		PasskeyAction: s.passkeyAction(a.user, action+"/step-up/passkey"),
		Methods: p.factorMethods(accountMethods(a.user), "stepup", func(m string) string {
			if m == identity.MethodSMS {
				return p.T("account.method.sms.hint_send", "Destination", dest)
			}
			return p.T("account.method." + m + ".hint")
		}, func(m string) bool { return m == identity.MethodSMS }),
	}
	p.Data = d
	return p
}

// contactCodePage builds the code step for the new value typed.
func (s *Server) contactCodePage(r *http.Request, a *signedIn, kind, value, destination string, f *form) *page {
	p := s.contactPage(r, a, kind, f)
	d := p.Data.(contactData)
	d.Code, d.Value, d.Destination = true, value, destination
	p.Data = d
	return p
}

// contactStart reads the signed-in session and the {kind} of a contact
// request, or answers.
func (s *Server) contactStart(w http.ResponseWriter, r *http.Request) (*signedIn, string, bool) {
	a, ok := s.requireSignIn(w, r)
	if !ok {
		return nil, "", false
	}
	kind, ok := contactKind(r)
	if !ok {
		s.NotFound(w, r)
		return nil, "", false
	}
	return a, kind, true
}

func (s *Server) handleContactPage(w http.ResponseWriter, r *http.Request) {
	a, kind, ok := s.contactStart(w, r)
	if !ok {
		return
	}
	p := s.contactPage(r, a, kind, newForm())
	switch q := r.URL.Query(); {
	case q.Get("confirmed") == "1":
		p.Notice = p.T("contact_change.notice.confirmed")
	case q.Get("sms") == "sent":
		p.Notice = p.T("security.notice.sms_sent", "Destination", maskPhone(a.user.Phone))
	}
	s.render(w, r, pageContact, p)
}

// normalizeContact returns the normal form of an email address or number.
func normalizeContact(kind, value string) (string, error) {
	if kind == identity.ContactEmail {
		return identity.NormalizeEmail(value)
	}
	return identity.NormalizePhone(value)
}

// maskContact hides most of a new value typed, as the service does for
// the destination of its code.
func maskContact(kind, value string) string {
	norm, err := normalizeContact(kind, value)
	if err != nil {
		return "•••"
	}
	if kind == identity.ContactEmail {
		return maskEmail(norm)
	}
	return maskPhone(norm)
}

// maskEmail keeps the first letter of the local part and the domain.
func maskEmail(e string) string {
	at := strings.IndexByte(e, '@')
	if at < 1 {
		return "•••"
	}
	return e[:1] + "•••" + e[at:]
}

// contactFailed answers the errors every contact step shares: a dead
// session goes to sign-in, and a missing sudo window shows this page with
// the step-up forms and a clear message, the value typed kept (SES-08). It
// reports false for other errors.
func (s *Server) contactFailed(w http.ResponseWriter, r *http.Request, a *signedIn, kind string, err error) bool {
	switch code(err) {
	case okpay.EUnauthorized, identity.ESessionExpired:
		s.sessionFailed(w, r, err)
		return true
	case identity.EMFARequired:
		redirect(w, r, "/login/verify")
		return true
	case identity.EStepUpRequired:
		f := newForm()
		if r.Method == http.MethodPost {
			f.keep(r, kind)
		}
		p := s.contactPage(r, a, kind, f)
		d := p.Data.(contactData)
		d.StepUpRequired = true
		p.Data = d
		p.Form.fail(p.T("contact_change.step_up.required"))
		p.Status = http.StatusForbidden
		s.render(w, r, pageContact, p)
		return true
	case identity.EAccountFrozen:
		// A frozen account is read-only (RSK-05).
		p := s.contactPage(r, a, kind, newForm())
		p.Form.fail(p.T("account.error.frozen_read_only"))
		p.Status = http.StatusForbidden
		s.render(w, r, pageContact, p)
		return true
	}
	return false
}

// handleContactBegin sends a code to the new value (sudo). A value that
// belongs to another account gets the same answer, and no code (LOG-10).
func (s *Server) handleContactBegin(w http.ResponseWriter, r *http.Request) {
	a, kind, ok := s.contactStart(w, r)
	if !ok {
		return
	}
	value := strings.TrimSpace(r.PostForm.Get(kind))
	resend := r.PostForm.Get("resend") == "1"
	f := newForm().keep(r, kind)
	// fieldFailed shows the value form with msgID next to the field.
	fieldFailed := func(msgID string) {
		p := s.contactPage(r, a, kind, f)
		f.set(kind, p.T(msgID))
		p.Status = http.StatusUnprocessableEntity
		s.render(w, r, pageContact, p)
	}
	formatID := "account.error.email"
	if kind == identity.ContactPhone {
		formatID = "account.error.phone"
	}
	if value == "" {
		fieldFailed("contact_change." + kind + ".required")
		return
	}
	if len(value) > maxContactLen {
		fieldFailed(formatID)
		return
	}
	dest, err := s.id.BeginContactChange(r.Context(), a.sess, kind, value, s.meta(w, r))
	if err == nil {
		p := s.contactCodePage(r, a, kind, value, dest, newForm())
		if resend {
			p.Notice = p.T("contact_change.notice.resent", "Destination", dest)
		}
		s.render(w, r, pageContact, p)
		return
	}
	if s.contactFailed(w, r, a, kind, err) {
		return
	}
	if code(err) == okpay.EInvalid && fieldErrors(err)[kind] != "" {
		current := a.user.Email
		if kind == identity.ContactPhone {
			current = a.user.Phone
		}
		if norm, nerr := normalizeContact(kind, value); nerr == nil && norm == current {
			fieldFailed("contact_change." + kind + ".same")
		} else {
			fieldFailed(formatID)
		}
		return
	}
	var p *page
	if resend {
		p = s.contactCodePage(r, a, kind, value, maskContact(kind, value), newForm())
	} else {
		p = s.contactPage(r, a, kind, f)
	}
	if !p.rateLimited(err) {
		s.internalError(w, r, err)
		return
	}
	s.render(w, r, pageContact, p)
}

// handleContactConfirm checks the code sent to the new value and makes the
// change (sudo).
func (s *Server) handleContactConfirm(w http.ResponseWriter, r *http.Request) {
	a, kind, ok := s.contactStart(w, r)
	if !ok {
		return
	}
	value := strings.TrimSpace(r.PostForm.Get(kind))
	if len(value) > maxContactLen {
		value = ""
	}
	c := r.PostForm.Get("code")
	codeFailed := func(msgID string) {
		p := s.contactCodePage(r, a, kind, value, maskContact(kind, value), newForm())
		p.Form.set(contactField, p.T(msgID))
		p.Status = http.StatusUnprocessableEntity
		s.render(w, r, pageContact, p)
	}
	if strings.TrimSpace(c) == "" {
		codeFailed("account.error.code_required")
		return
	}
	err := s.id.ConfirmContactChange(r.Context(), a.sess, kind, c, s.meta(w, r))
	if err == nil {
		redirect(w, r, "/account?changed="+kind)
		return
	}
	if s.contactFailed(w, r, a, kind, err) {
		return
	}
	switch code(err) {
	case identity.EInvalidCode:
		codeFailed("account.error.code")
	case okpay.EConflict:
		// Taken by another account since the code was sent.
		f := newForm().keep(r, kind)
		p := s.contactPage(r, a, kind, f)
		f.set(kind, p.T("contact_change."+kind+".unavailable"))
		p.Status = http.StatusConflict
		s.render(w, r, pageContact, p)
	default:
		p := s.contactCodePage(r, a, kind, value, maskContact(kind, value), newForm())
		if !p.rateLimited(err) {
			s.internalError(w, r, err)
			return
		}
		s.render(w, r, pageContact, p)
	}
}

// ---- Step-up from the contact pages ----
//
// The same second factors as on the security page; each comes back to the
// contact page it started from.

// handleContactStepUp opens the sudo window with a code; the session gets
// a new token (SES-02: re-auth).
func (s *Server) handleContactStepUp(w http.ResponseWriter, r *http.Request) {
	a, kind, ok := s.contactStart(w, r)
	if !ok {
		return
	}
	method, c := r.PostForm.Get("method"), r.PostForm.Get("code")
	if !offered(accountMethods(a.user), method) {
		s.renderAccountError(w, r, http.StatusBadRequest, "problem.invalid_request.title", "problem.invalid_request.detail")
		return
	}
	msg := "account.error.code_required"
	if strings.TrimSpace(c) != "" {
		res, err := s.id.VerifyFactor(r.Context(), a.token, method, c, s.meta(w, r))
		if err == nil {
			setSession(w, res.Token)
			redirect(w, r, "/account/contact/"+kind+"?confirmed=1")
			return
		}
		switch code(err) {
		case identity.EInvalidCode:
			msg = "account.error.code"
		case identity.EFactorUnavailable:
			msg = "account.error.factor_unavailable"
		default:
			if !s.contactFailed(w, r, a, kind, err) {
				s.internalError(w, r, err)
			}
			return
		}
	}
	p := s.contactPage(r, a, kind, newForm())
	p.Form.set("stepup-"+method, p.T(msg))
	p.Status = http.StatusUnprocessableEntity
	s.render(w, r, pageContact, p)
}

// handleContactStepUpSMS sends a step-up code to the current number.
func (s *Server) handleContactStepUpSMS(w http.ResponseWriter, r *http.Request) {
	a, kind, ok := s.contactStart(w, r)
	if !ok {
		return
	}
	_, err := s.id.SendLoginCode(r.Context(), a.token, s.meta(w, r))
	if err == nil {
		redirect(w, r, "/account/contact/"+kind+"?sms=sent#step-up")
		return
	}
	if s.contactFailed(w, r, a, kind, err) {
		return
	}
	p := s.contactPage(r, a, kind, newForm())
	if !p.rateLimited(err) {
		s.internalError(w, r, err)
		return
	}
	s.render(w, r, pageContact, p)
}

// handleContactStepUpPasskeyBegin starts a passkey step-up that returns to
// the contact page.
func (s *Server) handleContactStepUpPasskeyBegin(w http.ResponseWriter, r *http.Request) {
	a, kind, ok := s.contactStart(w, r)
	if !ok {
		return
	}
	opts, flow, err := s.id.BeginPasskeyLogin(r.Context(), a.token)
	if err != nil {
		s.contactPasskeyFailed(w, r, a, kind, err)
		return
	}
	action := "/account/contact/" + kind
	p := s.settingsPage(r, "passkey.login.page_title")
	p.Next = action
	s.renderCeremony(w, r, p, passkeyCeremony{
		Mode: "get", Heading: p.T("passkey.login.title"), Lead: p.T("passkey.login.lead"), Submit: p.T("passkey.login.submit"),
		Action: action + "/step-up/passkey/finish", Flow: flow, Options: string(opts), Cancel: action + "#step-up",
	})
}

// handleContactStepUpPasskeyFinish opens the sudo window with the passkey;
// the session gets a new token (SES-02).
func (s *Server) handleContactStepUpPasskeyFinish(w http.ResponseWriter, r *http.Request) {
	a, kind, ok := s.contactStart(w, r)
	if !ok {
		return
	}
	flow, response := ceremonyForm(r)
	res, err := s.id.FinishPasskeyLogin(r.Context(), a.token, flow, response, s.meta(w, r))
	if err != nil {
		s.contactPasskeyFailed(w, r, a, kind, err)
		return
	}
	setSession(w, res.Token)
	redirect(w, r, "/account/contact/"+kind+"?confirmed=1")
}

func (s *Server) contactPasskeyFailed(w http.ResponseWriter, r *http.Request, a *signedIn, kind string, err error) {
	if s.contactFailed(w, r, a, kind, err) {
		return
	}
	p := s.contactPage(r, a, kind, newForm())
	if id, status, ok := passkeyError(err); ok {
		p.Form.fail(p.T(id))
		p.Status = status
	} else if !p.rateLimited(err) {
		s.internalError(w, r, err)
		return
	}
	s.render(w, r, pageContact, p)
}

// contactRoutes lists the contact pages' routes (see accountRoutes).
func (s *Server) contactRoutes() []Route {
	routes := []Route{
		{http.MethodGet, "/account/contact/{kind}", s.account(s.handleContactPage)},
		{http.MethodPost, "/account/contact/{kind}", s.account(s.handleContactBegin)},
		{http.MethodPost, "/account/contact/{kind}/confirm", s.account(s.handleContactConfirm)},
		{http.MethodPost, "/account/contact/{kind}/step-up", s.account(s.handleContactStepUp)},
		{http.MethodPost, "/account/contact/{kind}/step-up/sms", s.account(s.handleContactStepUpSMS)},
	}
	if s.id.PasskeysEnabled() {
		routes = append(routes,
			Route{http.MethodPost, "/account/contact/{kind}/step-up/passkey", s.account(s.handleContactStepUpPasskeyBegin)},
			Route{http.MethodPost, "/account/contact/{kind}/step-up/passkey/finish", s.account(s.handleContactStepUpPasskeyFinish)},
		)
	}
	return routes
}
