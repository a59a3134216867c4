package openapitest_test

// Passkeys, contact changes and refresh tokens against the document (run
// by identityScenario after its own steps, on fresh accounts).

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/okpay/okpay/identity/passkey/passkeytest"
)

// The relying party of the harness's passkey service.
const (
	passkeyRPID   = "okpay.test"
	passkeyOrigin = "https://okpay.test"
)

// ceremony returns the WebAuthn options of a ceremony's start as JSON.
func ceremony(t *testing.T, r *resp) []byte {
	t.Helper()
	b, err := json.Marshal(r.obj["options"])
	if err != nil || r.str("flow_id") == "" {
		t.Fatalf("ceremony: %s", r.raw)
	}
	return b
}

// signUpFrom opens an account over the API from address from and returns
// its session (AAL2, sudo window open); with client "mobile" the session
// comes with a refresh token (the second result).
func (h *harness) signUpFrom(t *testing.T, email, phone, e164, from, client string) (string, string) {
	t.Helper()
	flow := h.do(t, req{method: "POST", path: "/api/v1/signup", from: from, noAuth: true, body: map[string]any{"email": email, "phone": phone, "password": "maple lantern river 1987"}, want: 202}).str("flow_token")
	body := map[string]any{"flow_token": flow, "email_code": h.code(t, email, "code_verify_email"), "phone_code": h.code(t, e164, "code_verify_phone")}
	if client != "" {
		body["client"] = client
	}
	r := h.do(t, req{method: "POST", path: "/api/v1/signup/verify", from: from, noAuth: true, body: body, want: 200})
	return r.str("session", "token"), r.str("session", "refresh_token")
}

func (h *harness) securityScenario(t *testing.T, big func(v any) string, transport func(t *testing.T, method, path, auth string, valid any)) {
	const pw = "maple lantern river 1987"

	t.Run("passkeys", func(t *testing.T) {
		const email, phone, e164 = "zhou.jie@example.com", "+86 138 0013 8005", "+8613800138005"
		token, _ := h.signUpFrom(t, email, phone, e164, "127.0.0.41", "")
		tok := bearer(token)
		r := h.do(t, req{method: "GET", path: "/api/v1/me/passkeys", auth: tok, want: 200})
		if len(r.list()) != 0 {
			t.Errorf("no passkeys yet: %s", r.raw)
		}
		h.do(t, req{method: "GET", path: "/api/v1/me/passkeys?cursor=ses_0000000000001", auth: tok, invalid: true, want: 422, code: "validation_failed"})
		h.do(t, req{method: "GET", path: "/api/v1/me/passkeys?limit=0", auth: tok, invalid: true, want: 422, code: "validation_failed"})
		h.do(t, req{method: "GET", path: "/api/v1/me/passkeys", noAuth: true, invalid: true, want: 401, code: "unauthorized"})

		// Enrolment.
		auth := passkeytest.New(passkeyOrigin, passkeyRPID)
		auth.BackupEligible, auth.BackupState = true, true
		begin := h.do(t, req{method: "POST", path: "/api/v1/me/passkeys", auth: tok, want: 200})
		cred, err := auth.Create(ceremony(t, begin))
		if err != nil {
			t.Fatal(err)
		}
		finish := map[string]any{"flow_id": begin.str("flow_id"), "credential": json.RawMessage(cred), "label": "My phone"}
		h.do(t, req{method: "POST", path: "/api/v1/me/passkeys", auth: tok, body: `{"x": 1}`, invalid: true, want: 400, code: "invalid_request"})
		h.do(t, req{method: "POST", path: "/api/v1/me/passkeys", auth: tok, body: big(map[string]any{}), want: 413, code: "request_too_large"})
		h.do(t, req{method: "POST", path: "/api/v1/me/passkeys", auth: tok, body: "x", ctype: "text/plain", invalid: true, want: 415, code: "unsupported_media_type"})
		h.do(t, req{method: "POST", path: "/api/v1/me/passkeys", noAuth: true, invalid: true, want: 401, code: "unauthorized"})
		h.do(t, req{method: "POST", path: "/api/v1/me/passkeys/finish", auth: tok, idem: newKey(), body: map[string]any{"flow_id": begin.str("flow_id"), "credential": "x"}, invalid: true, want: 422, code: "validation_failed"})
		h.do(t, req{method: "POST", path: "/api/v1/me/passkeys/finish", auth: tok, idem: newKey(), body: map[string]any{"flow_id": begin.str("flow_id"), "credential": map[string]any{}, "label": "\x07bell"}, want: 422, code: "validation_failed"})
		h.do(t, req{method: "POST", path: "/api/v1/me/passkeys/finish", noAuth: true, idem: newKey(), body: finish, invalid: true, want: 401, code: "unauthorized"})
		transport(t, "POST", "/api/v1/me/passkeys/finish", tok, finish)
		key := newKey()
		created := h.do(t, req{method: "POST", path: "/api/v1/me/passkeys/finish", auth: tok, idem: key, body: finish, want: 201})
		if created.obj["backup_eligible"] != true || created.obj["last_used_at"] != nil || created.str("label") != "My phone" {
			t.Errorf("passkey: %s", created.raw)
		}
		if again := h.do(t, req{method: "POST", path: "/api/v1/me/passkeys/finish", auth: tok, idem: key, body: finish, want: 201}); !again.replayed || string(again.raw) != string(created.raw) {
			t.Errorf("replay: %s", again.raw)
		}
		finish["label"] = "Another name"
		h.do(t, req{method: "POST", path: "/api/v1/me/passkeys/finish", auth: tok, idem: key, body: finish, want: 422, code: "idempotency_key_reused"})
		h.do(t, req{method: "POST", path: "/api/v1/me/passkeys/finish", auth: tok, idem: newKey(), body: finish, want: 422, code: "passkey_flow_invalid"})
		// A client that ignores excludeCredentials.
		if err := auth.ReuseCredential(auth.CredentialIDs()[0]); err != nil {
			t.Fatal(err)
		}
		begin = h.do(t, req{method: "POST", path: "/api/v1/me/passkeys", auth: tok, body: map[string]any{}, want: 200})
		if cred, err = auth.Create(ceremony(t, begin)); err != nil {
			t.Fatal(err)
		}
		h.do(t, req{method: "POST", path: "/api/v1/me/passkeys/finish", auth: tok, idem: newKey(), body: map[string]any{"flow_id": begin.str("flow_id"), "credential": json.RawMessage(cred)}, want: 409, code: "passkey_exists"})
		second := passkeytest.New(passkeyOrigin, passkeyRPID)
		begin = h.do(t, req{method: "POST", path: "/api/v1/me/passkeys", auth: tok, want: 200})
		if cred, err = second.Create(ceremony(t, begin)); err != nil {
			t.Fatal(err)
		}
		id2 := h.do(t, req{method: "POST", path: "/api/v1/me/passkeys/finish", auth: tok, idem: newKey(), body: map[string]any{"flow_id": begin.str("flow_id"), "credential": json.RawMessage(cred)}, want: 201}).str("id")
		r = h.do(t, req{method: "GET", path: "/api/v1/me/passkeys?limit=1", auth: tok, want: 200})
		if len(r.list()) != 1 || r.str("next_cursor") != id2 {
			t.Errorf("page 1: %s", r.raw)
		}
		h.do(t, req{method: "GET", path: "/api/v1/me/passkeys?cursor=" + id2, auth: tok, want: 200})

		// The second factor, from the app.
		h.clock.Advance(61 * time.Second)
		aal1 := h.do(t, req{method: "POST", path: "/api/v1/sessions", from: "127.0.0.41", noAuth: true, body: map[string]any{"identifier": email, "password": pw}, want: 201}).str("token")
		h.do(t, req{method: "POST", path: "/api/v1/mfa/passkey", noAuth: true, invalid: true, want: 401, code: "unauthorized"})
		h.do(t, req{method: "POST", path: "/api/v1/mfa/passkey", auth: bearer(aal1), body: `[]`, invalid: true, want: 400, code: "invalid_request"})
		h.do(t, req{method: "POST", path: "/api/v1/mfa/passkey", auth: bearer(aal1), body: big(map[string]any{}), want: 413, code: "request_too_large"})
		h.do(t, req{method: "POST", path: "/api/v1/mfa/passkey", auth: bearer(aal1), body: "x", ctype: "text/plain", invalid: true, want: 415, code: "unsupported_media_type"})
		begin = h.do(t, req{method: "POST", path: "/api/v1/mfa/passkey", auth: bearer(aal1), want: 200})
		if cred, err = auth.Get(ceremony(t, begin)); err != nil {
			t.Fatal(err)
		}
		body := map[string]any{"flow_id": begin.str("flow_id"), "credential": json.RawMessage(cred), "client": "mobile"}
		h.do(t, req{method: "POST", path: "/api/v1/mfa/passkey/finish", auth: bearer(aal1), body: map[string]any{"flow_id": begin.str("flow_id")}, invalid: true, want: 422, code: "validation_failed"})
		h.do(t, req{method: "POST", path: "/api/v1/mfa/passkey/finish", auth: bearer(aal1), body: map[string]any{"flow_id": begin.str("flow_id"), "credential": json.RawMessage(cred), "client": "tv"}, invalid: true, want: 422, code: "validation_failed"})
		h.do(t, req{method: "POST", path: "/api/v1/mfa/passkey/finish", noAuth: true, body: body, invalid: true, want: 401, code: "unauthorized"})
		transport(t, "POST", "/api/v1/mfa/passkey/finish", bearer(aal1), body)
		r = h.do(t, req{method: "POST", path: "/api/v1/mfa/passkey/finish", auth: bearer(aal1), body: body, want: 200})
		full := r.str("token")
		if r.obj["aal"] != 2.0 || len(r.str("refresh_token")) != 43 {
			t.Errorf("passkey factor: %s", r.raw)
		}
		h.do(t, req{method: "POST", path: "/api/v1/mfa/passkey/finish", auth: bearer(full), body: body, want: 422, code: "passkey_flow_invalid"})
		// An account without a passkey.
		other, _ := h.signUpFrom(t, "qian.yu@example.com", "+86 138 0013 8006", "+8613800138006", "127.0.0.42", "")
		h.do(t, req{method: "POST", path: "/api/v1/mfa/passkey", auth: bearer(other), want: 422, code: "factor_unavailable"})
		// A copied passkey (its counter went backwards): refused, alerted.
		credID := auth.CredentialIDs()[0]
		if err := auth.SetSignCount(credID, 1); err != nil {
			t.Fatal(err)
		}
		begin = h.do(t, req{method: "POST", path: "/api/v1/mfa/passkey", auth: bearer(full), want: 200})
		if cred, err = auth.Get(ceremony(t, begin)); err != nil {
			t.Fatal(err)
		}
		h.do(t, req{method: "POST", path: "/api/v1/mfa/passkey/finish", auth: bearer(full), body: map[string]any{"flow_id": begin.str("flow_id"), "credential": json.RawMessage(cred)}, want: 403, code: "passkey_cloned"})
		// Passwordless.
		dev := http.Header{"Cookie": {"__Host-did=cGhvbmUtZGV2aWNlLTAwMQ"}}
		if err := auth.SetSignCount(credID, 1); err != nil {
			t.Fatal(err)
		}
		begin = h.do(t, req{method: "POST", path: "/api/v1/sessions/passkey", noAuth: true, header: dev, want: 200})
		if cred, err = auth.Get(ceremony(t, begin)); err != nil {
			t.Fatal(err)
		}
		h.do(t, req{method: "POST", path: "/api/v1/sessions/passkey/finish", noAuth: true, header: dev, body: map[string]any{"flow_id": begin.str("flow_id"), "credential": json.RawMessage(cred)}, want: 403, code: "passkey_cloned"})
		if err := auth.SetSignCount(credID, 1000); err != nil {
			t.Fatal(err)
		}
		h.do(t, req{method: "POST", path: "/api/v1/sessions/passkey", noAuth: true, body: `{"x": 1}`, invalid: true, want: 400, code: "invalid_request"})
		h.do(t, req{method: "POST", path: "/api/v1/sessions/passkey", noAuth: true, body: big(map[string]any{}), want: 413, code: "request_too_large"})
		h.do(t, req{method: "POST", path: "/api/v1/sessions/passkey", noAuth: true, body: "x", ctype: "text/plain", invalid: true, want: 415, code: "unsupported_media_type"})
		begin = h.do(t, req{method: "POST", path: "/api/v1/sessions/passkey", noAuth: true, header: dev, want: 200})
		if cred, err = auth.Get(ceremony(t, begin)); err != nil {
			t.Fatal(err)
		}
		body = map[string]any{"flow_id": begin.str("flow_id"), "credential": json.RawMessage(cred)}
		transport(t, "POST", "/api/v1/sessions/passkey/finish", "", body)
		h.do(t, req{method: "POST", path: "/api/v1/sessions/passkey/finish", noAuth: true, body: body, want: 422, code: "passkey_flow_invalid"}) // another device
		r = h.do(t, req{method: "POST", path: "/api/v1/sessions/passkey/finish", noAuth: true, header: dev, body: body, want: 201})
		signedIn := r.str("token")
		h.do(t, req{method: "POST", path: "/api/v1/sessions/passkey/finish", noAuth: true, header: dev, body: body, want: 422, code: "passkey_flow_invalid"})
		auth.SetOrigin("https://okpay.evil")
		begin = h.do(t, req{method: "POST", path: "/api/v1/sessions/passkey", noAuth: true, header: dev, body: map[string]any{}, want: 200})
		if cred, err = auth.Get(ceremony(t, begin)); err != nil {
			t.Fatal(err)
		}
		h.do(t, req{method: "POST", path: "/api/v1/sessions/passkey/finish", noAuth: true, header: dev, body: map[string]any{"flow_id": begin.str("flow_id"), "credential": json.RawMessage(cred), "client": "mobile"}, want: 422, code: "passkey_invalid"})
		auth.SetOrigin(passkeyOrigin)

		// Removal.
		rm := "/api/v1/me/passkeys/" + created.str("id") + "/remove"
		sk := bearer(signedIn)
		h.do(t, req{method: "POST", path: rm, auth: sk, invalid: true, want: 400, code: "idempotency_key_required"})
		h.do(t, req{method: "POST", path: rm, auth: sk, idem: newKey(), body: `{"x": 1}`, invalid: true, want: 400, code: "invalid_request"})
		h.do(t, req{method: "POST", path: rm, auth: sk, idem: newKey(), body: big(map[string]any{}), want: 413, code: "request_too_large"})
		h.do(t, req{method: "POST", path: rm, auth: sk, idem: newKey(), body: "x", ctype: "text/plain", invalid: true, want: 415, code: "unsupported_media_type"})
		h.do(t, req{method: "POST", path: rm, noAuth: true, idem: newKey(), invalid: true, want: 401, code: "unauthorized"})
		h.do(t, req{method: "POST", path: rm, auth: bearer(other), idem: newKey(), want: 404, code: "not_found"})
		h.do(t, req{method: "POST", path: "/api/v1/me/passkeys/pkey_nope/remove", auth: sk, idem: newKey(), invalid: true, want: 404, code: "not_found"})
		key = newKey()
		h.do(t, req{method: "POST", path: rm, auth: sk, idem: key, want: 204})
		if again := h.do(t, req{method: "POST", path: rm, auth: sk, idem: key, want: 204}); !again.replayed {
			t.Error("the removal was not replayed")
		}
		h.do(t, req{method: "POST", path: "/api/v1/me/passkeys/" + id2 + "/remove", auth: sk, idem: key, want: 422, code: "idempotency_key_reused"})
		h.do(t, req{method: "POST", path: rm, auth: sk, idem: newKey(), want: 404, code: "not_found"})

		// Outside the sudo window.
		h.clock.Advance(11 * time.Minute)
		h.do(t, req{method: "POST", path: "/api/v1/me/passkeys", auth: sk, want: 403, code: "step_up_required"})
		h.do(t, req{method: "POST", path: "/api/v1/me/passkeys/finish", auth: sk, idem: newKey(), body: finish, want: 403, code: "step_up_required"})
		h.do(t, req{method: "POST", path: "/api/v1/me/passkeys/" + id2 + "/remove", auth: sk, idem: newKey(), want: 403, code: "step_up_required"})
	})

	t.Run("contacts", func(t *testing.T) {
		token, _ := h.signUpFrom(t, "sun.mei@example.com", "+86 138 0013 8007", "+8613800138007", "127.0.0.43", "")
		tok := bearer(token)
		h.clock.Advance(61 * time.Second) // one code a minute per account (MFA-03)
		const next = "sun.mei@example.net"
		change := map[string]any{"email": next}
		// A taken address answers like a free one (LOG-10).
		taken := h.do(t, req{method: "POST", path: "/api/v1/me/email", auth: tok, idem: newKey(), body: map[string]any{"email": "zhou.jie@example.com"}, want: 202})
		h.do(t, req{method: "POST", path: "/api/v1/me/email", auth: tok, idem: newKey(), body: change, want: 429, code: "rate_limited"}) // one code a minute
		h.clock.Advance(61 * time.Second)
		key := newKey()
		r := h.do(t, req{method: "POST", path: "/api/v1/me/email", auth: tok, idem: key, body: change, want: 202})
		if len(taken.obj) != len(r.obj) || r.str("destination") != "s•••@example.net" {
			t.Errorf("taken %s, free %s", taken.raw, r.raw)
		}
		if again := h.do(t, req{method: "POST", path: "/api/v1/me/email", auth: tok, idem: key, body: change, want: 202}); !again.replayed || string(again.raw) != string(r.raw) {
			t.Errorf("replay: %s", again.raw)
		}
		h.do(t, req{method: "POST", path: "/api/v1/me/email", auth: tok, idem: key, body: map[string]any{"email": "x" + next}, want: 422, code: "idempotency_key_reused"})
		h.do(t, req{method: "POST", path: "/api/v1/me/email", auth: tok, idem: newKey(), body: map[string]any{"email": "not an address"}, want: 422, code: "validation_failed"})
		h.do(t, req{method: "POST", path: "/api/v1/me/email", auth: tok, idem: newKey(), body: map[string]any{}, invalid: true, want: 422, code: "validation_failed"})
		h.do(t, req{method: "POST", path: "/api/v1/me/email", noAuth: true, idem: newKey(), body: change, invalid: true, want: 401, code: "unauthorized"})
		transport(t, "POST", "/api/v1/me/email", tok, change)
		code := map[string]any{"code": h.code(t, next, "code_change_email")}
		h.do(t, req{method: "POST", path: "/api/v1/me/email/confirm", auth: tok, idem: newKey(), body: map[string]any{"code": "000000"}, want: 422, code: "invalid_code"})
		h.do(t, req{method: "POST", path: "/api/v1/me/email/confirm", auth: tok, idem: newKey(), body: map[string]any{}, invalid: true, want: 422, code: "validation_failed"})
		h.do(t, req{method: "POST", path: "/api/v1/me/email/confirm", noAuth: true, idem: newKey(), body: code, invalid: true, want: 401, code: "unauthorized"})
		transport(t, "POST", "/api/v1/me/email/confirm", tok, code)
		key = newKey()
		h.do(t, req{method: "POST", path: "/api/v1/me/email/confirm", auth: tok, idem: key, body: code, want: 204})
		if again := h.do(t, req{method: "POST", path: "/api/v1/me/email/confirm", auth: tok, idem: key, body: code, want: 204}); !again.replayed {
			t.Error("the confirmation was not replayed")
		}
		if me := h.do(t, req{method: "GET", path: "/api/v1/me", auth: tok, want: 200}); me.str("email") != next || me.str("hold_until") == "" {
			t.Errorf("me: %s", me.raw)
		}

		// The phone.
		h.clock.Advance(61 * time.Second)
		phone := map[string]any{"phone": "+86 139 2222 3333"}
		h.do(t, req{method: "POST", path: "/api/v1/me/phone", auth: tok, idem: newKey(), body: phone, want: 202})
		h.do(t, req{method: "POST", path: "/api/v1/me/phone", auth: tok, idem: newKey(), body: phone, want: 429, code: "rate_limited"})
		h.do(t, req{method: "POST", path: "/api/v1/me/phone", auth: tok, idem: newKey(), body: map[string]any{"phone": "12345"}, want: 422, code: "validation_failed"})
		h.do(t, req{method: "POST", path: "/api/v1/me/phone", noAuth: true, idem: newKey(), body: phone, invalid: true, want: 401, code: "unauthorized"})
		transport(t, "POST", "/api/v1/me/phone", tok, phone)
		code = map[string]any{"code": h.code(t, "+8613922223333", "code_change_phone")}
		h.do(t, req{method: "POST", path: "/api/v1/me/phone/confirm", auth: tok, idem: newKey(), body: map[string]any{"code": "000000"}, want: 422, code: "invalid_code"})
		h.do(t, req{method: "POST", path: "/api/v1/me/phone/confirm", noAuth: true, idem: newKey(), body: code, invalid: true, want: 401, code: "unauthorized"})
		transport(t, "POST", "/api/v1/me/phone/confirm", tok, code)
		h.do(t, req{method: "POST", path: "/api/v1/me/phone/confirm", auth: tok, idem: newKey(), body: code, want: 204})

		// Outside the sudo window.
		h.clock.Advance(11 * time.Minute)
		h.do(t, req{method: "POST", path: "/api/v1/me/email", auth: tok, idem: newKey(), body: change, want: 403, code: "step_up_required"})
		h.do(t, req{method: "POST", path: "/api/v1/me/email/confirm", auth: tok, idem: newKey(), body: code, want: 403, code: "step_up_required"})
		h.do(t, req{method: "POST", path: "/api/v1/me/phone", auth: tok, idem: newKey(), body: phone, want: 403, code: "step_up_required"})
		h.do(t, req{method: "POST", path: "/api/v1/me/phone/confirm", auth: tok, idem: newKey(), body: code, want: 403, code: "step_up_required"})
	})

	t.Run("refresh", func(t *testing.T) {
		const email, phone, e164 = "he.lan@example.com", "+86 138 0013 8008", "+8613800138008"
		_, rt := h.signUpFrom(t, email, phone, e164, "127.0.0.44", "mobile")
		if len(rt) != 43 {
			t.Fatalf("no refresh token with the sign-up: %q", rt)
		}
		h.clock.Advance(61 * time.Second)
		aal1 := h.do(t, req{method: "POST", path: "/api/v1/sessions", from: "127.0.0.44", noAuth: true, body: map[string]any{"identifier": email, "password": pw}, want: 201}).str("token")
		h.do(t, req{method: "POST", path: "/api/v1/mfa/verify", auth: bearer(aal1), body: map[string]any{"method": "sms", "code": "123456", "client": "tv"}, invalid: true, want: 422, code: "validation_failed"})
		r := h.do(t, req{method: "POST", path: "/api/v1/mfa/verify", auth: bearer(aal1), body: map[string]any{"method": "sms", "code": h.code(t, e164, "code_login"), "client": "mobile"}, want: 200})
		login := r.str("token")
		loginRT := r.str("refresh_token")

		// One for the current session, right after the second factor.
		h.do(t, req{method: "POST", path: "/api/v1/sessions/refresh-token", noAuth: true, invalid: true, want: 401, code: "unauthorized"})
		h.do(t, req{method: "POST", path: "/api/v1/sessions/refresh-token", auth: bearer(login), body: `{"x": 1}`, invalid: true, want: 400, code: "invalid_request"})
		h.do(t, req{method: "POST", path: "/api/v1/sessions/refresh-token", auth: bearer(login), body: big(map[string]any{}), want: 413, code: "request_too_large"})
		h.do(t, req{method: "POST", path: "/api/v1/sessions/refresh-token", auth: bearer(login), body: "x", ctype: "text/plain", invalid: true, want: 415, code: "unsupported_media_type"})
		issued := h.do(t, req{method: "POST", path: "/api/v1/sessions/refresh-token", auth: bearer(login), want: 201}).str("refresh_token")
		h.do(t, req{method: "POST", path: "/api/v1/sessions/refresh", noAuth: true, body: map[string]any{"refresh_token": loginRT}, want: 401, code: "unauthorized"}) // replaced

		// The sessions time out; the refresh tokens bring new ones.
		h.clock.Advance(16 * time.Minute)
		h.do(t, req{method: "GET", path: "/api/v1/me", auth: bearer(login), want: 401, code: "session_expired"})
		h.do(t, req{method: "POST", path: "/api/v1/sessions/refresh", noAuth: true, body: map[string]any{}, invalid: true, want: 422, code: "validation_failed"})
		transport(t, "POST", "/api/v1/sessions/refresh", "", map[string]any{"refresh_token": issued})
		r = h.do(t, req{method: "POST", path: "/api/v1/sessions/refresh", noAuth: true, body: map[string]any{"refresh_token": issued}, want: 200})
		if r.obj["sudo_until"] != nil || r.str("refresh_token") == "" {
			t.Errorf("refreshed: %s", r.raw)
		}
		h.do(t, req{method: "GET", path: "/api/v1/me", auth: bearer(r.str("token")), want: 200})
		h.do(t, req{method: "POST", path: "/api/v1/sessions/refresh-token", auth: bearer(r.str("token")), want: 403, code: "step_up_required"})
		// Spent: presented again after the 30-second grace for a lost
		// answer, it signs the device out.
		h.clock.Advance(31 * time.Second)
		h.do(t, req{method: "POST", path: "/api/v1/sessions/refresh", noAuth: true, body: map[string]any{"refresh_token": issued}, want: 401, code: "unauthorized"})
		h.do(t, req{method: "GET", path: "/api/v1/me", auth: bearer(r.str("token")), want: 401, code: "unauthorized"})
		// The sign-up's chain runs until 12 hours after the sign-up.
		r = h.do(t, req{method: "POST", path: "/api/v1/sessions/refresh", noAuth: true, body: map[string]any{"refresh_token": rt}, want: 200})
		h.clock.Advance(12 * time.Hour)
		h.do(t, req{method: "POST", path: "/api/v1/sessions/refresh", noAuth: true, body: map[string]any{"refresh_token": r.str("refresh_token")}, want: 401, code: "session_expired"})
	})
}
