package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/identity/passkey"
	"github.com/okpay/okpay/ids"
)

// Passkeys (WebAuthn, MFA-08) over the API: enrolment and removal in the
// security settings, the second factor (or step-up), and the passwordless
// sign-in. Each ceremony is two requests: a begin that answers
// {flow_id, options} — options is what navigator.credentials.create or
// .get takes ({"publicKey": {...}}, binary fields in base64url) — and a
// finish that sends back the flow id and the PublicKeyCredential as JSON.
// The identity service binds each flow to whoever began it (the session,
// or for a passwordless sign-in the device id of the __Host-did cookie).

// appendCeremony renders the start of a ceremony: {flow_id, options}.
func appendCeremony(b []byte, flowID string, options []byte) []byte {
	b = append(b, `{"flow_id":`...)
	b = appendString(b, flowID)
	b = append(b, `,"options":`...)
	b = append(b, options...) // the passkey service's JSON object
	return append(b, '}')
}

// credentialJSON checks the PublicKeyCredential field of a finish
// request: a JSON object (its content is the passkey service's to judge).
func credentialJSON(raw json.RawMessage) ([]byte, error) {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || bytes.Equal(t, []byte("null")) {
		return nil, okpay.Invalid(map[string]string{"credential": "required"})
	}
	if t[0] != '{' {
		return nil, okpay.Invalid(map[string]string{"credential": "the PublicKeyCredential as a JSON object"})
	}
	return t, nil
}

func appendPasskey(b []byte, p passkey.Credential) []byte {
	b = append(b, `{"id":"`...)
	b = ids.Append(b, identity.PasskeyPrefix, p.ID)
	b = append(b, `","object":"passkey","label":`...)
	b = appendString(b, p.Label)
	b = append(b, `,"created_at":`...)
	b = appendTime(b, p.CreatedAt)
	b = append(b, `,"last_used_at":`...)
	if p.LastUsedAt != nil {
		b = appendTime(b, *p.LastUsedAt)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"backup_eligible":`...)
	b = strconv.AppendBool(b, p.BackupEligible)
	b = append(b, `,"backup_state":`...)
	b = strconv.AppendBool(b, p.BackupState)
	return append(b, '}')
}

// handleListPasskeys lists the customer's passkeys, newest first.
func (s *Server) handleListPasskeys(w http.ResponseWriter, r *http.Request, c *caller) {
	limit, before, err := page(r, identity.PasskeyPrefix)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	all, err := s.identity.Passkeys(r.Context(), c.user.ID) // oldest first
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	slices.Reverse(all)
	list := all[:0:0]
	for _, p := range all {
		if before == 0 || p.ID < before {
			list = append(list, p)
		}
	}
	more := len(list) > limit
	cursor := ""
	if more {
		list = list[:limit]
		cursor = ids.Format(identity.PasskeyPrefix, list[len(list)-1].ID)
	}
	writeJSON(w, http.StatusOK, appendList(make([]byte, 0, 192*len(list)+64), list, more, cursor, appendPasskey))
}

// handleBeginPasskeyRegistration starts enrolling a passkey (sudo).
func (s *Server) handleBeginPasskeyRegistration(w http.ResponseWriter, r *http.Request, c *caller) {
	if !s.readEmpty(w, r) {
		return
	}
	opts, flow, err := s.identity.BeginPasskeyRegistration(r.Context(), c.session)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, appendCeremony(make([]byte, 0, len(opts)+128), flow, opts))
}

type finishPasskeyRegistrationRequest struct {
	FlowID     string          `json:"flow_id"`
	Credential json.RawMessage `json:"credential"`
	Label      string          `json:"label"`
}

// handleFinishPasskeyRegistration stores the passkey of a ceremony this
// session began; the customer's other sessions end (SES-06) and every
// channel hears of it.
func (s *Server) handleFinishPasskeyRegistration(w http.ResponseWriter, r *http.Request, c *caller) {
	var req finishPasskeyRegistrationRequest
	if !s.readJSON(w, r, &req) {
		return
	}
	err := required("flow_id", req.FlowID)
	var cred []byte
	if err == nil {
		cred, err = credentialJSON(req.Credential)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	p, err := s.identity.RegisterPasskey(r.Context(), c.session, req.FlowID, cred, req.Label, s.meta(r))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, appendPasskey(make([]byte, 0, 256), p))
}

// handleRemovePasskey removes one of the customer's passkeys (sudo,
// MFA-09): other sessions end and money-out waits 24 hours. Another
// customer's passkey is not found (API-02).
func (s *Server) handleRemovePasskey(w http.ResponseWriter, r *http.Request, c *caller) {
	id, err := pathID(r, identity.PasskeyPrefix)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if !s.readEmpty(w, r) {
		return
	}
	if err := s.identity.RemovePasskey(r.Context(), c.session, id, s.meta(r)); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeNoContent(w)
}

// handleBeginPasskeyFactor starts a passkey assertion as the second factor
// of a session waiting for it, or as a step-up of a full one.
func (s *Server) handleBeginPasskeyFactor(w http.ResponseWriter, r *http.Request, c *caller) {
	if !s.readEmpty(w, r) {
		return
	}
	opts, flow, err := s.identity.BeginPasskeyLogin(r.Context(), c.token)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, appendCeremony(make([]byte, 0, len(opts)+128), flow, opts))
}

type finishPasskeyLoginRequest struct {
	FlowID     string          `json:"flow_id"`
	Credential json.RawMessage `json:"credential"`
	Client     string          `json:"client"`
}

// read decodes and checks a passkey login's finish request, and fills in
// the request's meta.
func (s *Server) readPasskeyLogin(w http.ResponseWriter, r *http.Request) (req finishPasskeyLoginRequest, cred []byte, m identity.Meta, ok bool) {
	if !s.readJSON(w, r, &req) {
		return req, nil, m, false
	}
	err := required("flow_id", req.FlowID)
	if err == nil {
		cred, err = credentialJSON(req.Credential)
	}
	m = s.meta(r)
	if err == nil {
		m.RefreshToken, err = wantsRefreshToken(req.Client)
	}
	if err != nil {
		s.writeError(w, r, err)
		return req, nil, m, false
	}
	return req, cred, m, true
}

// handleFinishPasskeyFactor passes the second factor (or step-up) with a
// passkey: the answer is that of POST /api/v1/mfa/verify.
func (s *Server) handleFinishPasskeyFactor(w http.ResponseWriter, r *http.Request, c *caller) {
	req, cred, m, ok := s.readPasskeyLogin(w, r)
	if !ok {
		return
	}
	res, err := s.identity.FinishPasskeyLogin(r.Context(), c.token, req.FlowID, cred, m)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeFactorPassed(w, c, http.StatusOK, res)
}

// handleBeginPasswordless starts a sign-in with a passkey alone.
func (s *Server) handleBeginPasswordless(w http.ResponseWriter, r *http.Request) {
	if !s.readEmpty(w, r) {
		return
	}
	opts, flow, err := s.identity.BeginPasswordless(r.Context(), s.meta(r))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, appendCeremony(make([]byte, 0, len(opts)+128), flow, opts))
}

// handleFinishPasswordless signs in with a user-verifying passkey: a full
// (AAL2) session at once.
func (s *Server) handleFinishPasswordless(w http.ResponseWriter, r *http.Request) {
	req, cred, m, ok := s.readPasskeyLogin(w, r)
	if !ok {
		return
	}
	res, err := s.identity.FinishPasswordless(r.Context(), req.FlowID, cred, m)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeFactorPassed(w, nil, http.StatusCreated, res)
}
