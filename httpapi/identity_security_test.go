package httpapi

import (
	"bytes"
	"encoding/base32"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/identity/otp"
	"github.com/okpay/okpay/identity/passkey/passkeytest"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

// Device cookies of API clients (16 random bytes in base64url).
const (
	phoneDevice  = "__Host-did=cGhvbmUtZGV2aWNlLTAwMQ"
	tabletDevice = "__Host-did=dGFibGV0LWRldmljZS0wMQ"
)

func device(cookie string) map[string]string { return map[string]string{"Cookie": cookie} }

// options returns the WebAuthn options of a ceremony's start as JSON.
func options(t testing.TB, r *reply) []byte {
	t.Helper()
	b, err := json.Marshal(r.obj["options"])
	if err != nil || r.str("flow_id") == "" || !bytes.Contains(b, []byte(`"publicKey"`)) {
		t.Fatalf("ceremony start: %s (%v)", r.raw, err)
	}
	return b
}

// enrolPasskey adds a passkey of auth over the API with key (token must be
// inside its sudo window) and returns the 201 reply.
func (f *idFixture) enrolPasskey(auth *passkeytest.Authenticator, token, label, key string) *reply {
	f.t.Helper()
	r := f.want(f.do(call{method: "POST", path: "/api/v1/me/passkeys", token: token}), 200, "")
	cred, err := auth.Create(options(f.t, r))
	if err != nil {
		f.t.Fatal(err)
	}
	return f.want(f.do(call{method: "POST", path: "/api/v1/me/passkeys/finish", token: token, key: key,
		body: map[string]any{"flow_id": r.str("flow_id"), "credential": json.RawMessage(cred), "label": label}}), 201, "")
}

// passkeyAssertion begins a passkey ceremony at path (with token, or none)
// and returns the finish body.
func (f *idFixture) passkeyAssertion(auth *passkeytest.Authenticator, path, token string, header map[string]string, extra map[string]any) map[string]any {
	f.t.Helper()
	r := f.want(f.do(call{method: "POST", path: path, token: token, header: header}), 200, "")
	cred, err := auth.Get(options(f.t, r))
	if err != nil {
		f.t.Fatal(err)
	}
	body := map[string]any{"flow_id": r.str("flow_id"), "credential": json.RawMessage(cred)}
	for k, v := range extra {
		body[k] = v
	}
	return body
}

// MFA-08 over the API: enrolment, listing, the second factor, the
// passwordless sign-in and removal, with the Go software authenticator.
func TestPasskeysOverTheAPI(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		f := newIDFixture(t, db)
		c := f.signUp("")
		other := f.signUp("")
		r := f.want(f.do(call{method: "GET", path: "/api/v1/me/passkeys", token: c.token}), 200, "")
		if len(r.obj["data"].([]any)) != 0 || r.obj["has_more"] != false {
			t.Fatalf("no passkeys yet: %s", r.raw)
		}

		// Enrolment.
		auth := passkeytest.New(passkeyOrigin, passkeyRPID)
		begin := f.want(f.do(call{method: "POST", path: "/api/v1/me/passkeys", token: c.token}), 200, "")
		cred, err := auth.Create(options(t, begin))
		if err != nil {
			t.Fatal(err)
		}
		finish := map[string]any{"flow_id": begin.str("flow_id"), "credential": json.RawMessage(cred), "label": "My phone"}
		f.want(f.do(call{method: "POST", path: "/api/v1/me/passkeys/finish", token: c.token, body: finish}), 400, "idempotency_key_required")
		f.want(f.do(call{method: "POST", path: "/api/v1/me/passkeys/finish", token: c.token, key: "pk-0", body: map[string]any{"flow_id": begin.str("flow_id"), "credential": "x"}}), 422, "validation_failed")
		f.want(f.do(call{method: "POST", path: "/api/v1/me/passkeys/finish", token: c.token, key: "pk-0", body: map[string]any{"flow_id": begin.str("flow_id")}}), 422, "validation_failed")
		created := f.want(f.do(call{method: "POST", path: "/api/v1/me/passkeys/finish", token: c.token, key: "pk-1", body: finish}), 201, "")
		id := created.str("id")
		if !strings.HasPrefix(id, "pkey_") || created.str("object") != "passkey" || created.str("label") != "My phone" || created.obj["last_used_at"] != nil ||
			created.obj["backup_eligible"] != false || created.obj["backup_state"] != false || created.str("created_at") == "" || created.header.Get("Idempotent-Replayed") != "" {
			t.Fatalf("passkey: %s", created.raw)
		}
		// The retry replays; another body with the key is refused; the
		// ceremony itself works once.
		again := f.want(f.do(call{method: "POST", path: "/api/v1/me/passkeys/finish", token: c.token, key: "pk-1", body: finish}), 201, "")
		if !bytes.Equal(again.raw, created.raw) || again.header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("replay: %s %v", again.raw, again.header)
		}
		finish["label"] = "Another name"
		f.want(f.do(call{method: "POST", path: "/api/v1/me/passkeys/finish", token: c.token, key: "pk-1", body: finish}), 422, "idempotency_key_reused")
		f.want(f.do(call{method: "POST", path: "/api/v1/me/passkeys/finish", token: c.token, key: "pk-2", body: finish}), 422, "passkey_flow_invalid")
		// The same authenticator cannot enrol twice (excludeCredentials),
		// and a client that ignores it is refused.
		if err := auth.ReuseCredential(auth.CredentialIDs()[0]); err != nil {
			t.Fatal(err)
		}
		f.enrolPasskeyStatus(auth, c.token, "pk-3", 409, "passkey_exists")
		list := f.want(f.do(call{method: "GET", path: "/api/v1/me/passkeys", token: c.token}), 200, "")
		if data := list.obj["data"].([]any); len(data) != 1 || data[0].(map[string]any)["id"] != id {
			t.Fatalf("list: %s", list.raw)
		}
		if me := f.want(f.do(call{method: "GET", path: "/api/v1/me", token: c.token}), 200, ""); me.obj["passkeys"] != 1.0 {
			t.Fatalf("me: %s", me.raw)
		}
		second := passkeytest.New(passkeyOrigin, passkeyRPID)
		id2 := f.enrolPasskey(second, c.token, "", "pk-4").str("id")
		page1 := f.want(f.do(call{method: "GET", path: "/api/v1/me/passkeys?limit=1", token: c.token}), 200, "")
		if d := page1.obj["data"].([]any); len(d) != 1 || d[0].(map[string]any)["id"] != id2 || page1.str("next_cursor") != id2 || d[0].(map[string]any)["label"] != "Chrome / Linux" {
			t.Fatalf("page 1 (newest first): %s", page1.raw)
		}
		page2 := f.want(f.do(call{method: "GET", path: "/api/v1/me/passkeys?limit=1&cursor=" + id2, token: c.token}), 200, "")
		if d := page2.obj["data"].([]any); len(d) != 1 || d[0].(map[string]any)["id"] != id || page2.obj["has_more"] != false {
			t.Fatalf("page 2: %s", page2.raw)
		}
		f.want(f.do(call{method: "GET", path: "/api/v1/me/passkeys?cursor=ses_0000000000001", token: c.token}), 422, "validation_failed")

		// The second factor of a login, for a mobile client.
		f.clock.Advance(61 * time.Second)
		login := f.want(f.do(call{method: "POST", path: "/api/v1/sessions", body: map[string]any{"identifier": c.email, "password": c.password}}), 201, "")
		if !strings.Contains(string(login.raw), `"passkey"`) {
			t.Fatalf("methods: %s", login.raw)
		}
		aal1 := login.str("token")
		body := f.passkeyAssertion(auth, "/api/v1/mfa/passkey", aal1, nil, map[string]any{"client": "mobile"})
		f.want(f.do(call{method: "POST", path: "/api/v1/mfa/passkey/finish", token: aal1, body: map[string]any{"flow_id": body["flow_id"], "credential": []int{1}}}), 422, "validation_failed")
		done := f.want(f.do(call{method: "POST", path: "/api/v1/mfa/passkey/finish", token: aal1, body: body}), 200, "")
		full := done.str("token")
		if done.obj["aal"] != 2.0 || full == aal1 || done.str("sudo_until") == "" || len(done.str("refresh_token")) != 43 {
			t.Fatalf("passkey factor: %s", done.raw)
		}
		f.want(f.do(call{method: "POST", path: "/api/v1/mfa/passkey/finish", token: full, body: body}), 422, "passkey_flow_invalid")
		// A wrong origin is refused (and counts toward the lockout).
		auth.SetOrigin("https://okpay.evil")
		body = f.passkeyAssertion(auth, "/api/v1/mfa/passkey", full, nil, nil)
		f.want(f.do(call{method: "POST", path: "/api/v1/mfa/passkey/finish", token: full, body: body}), 422, "passkey_invalid")
		auth.SetOrigin(passkeyOrigin)
		// Someone without a passkey.
		f.want(f.do(call{method: "POST", path: "/api/v1/mfa/passkey", token: other.token}), 422, "factor_unavailable")

		// Passwordless, bound to the device that began it.
		body = f.passkeyAssertion(auth, "/api/v1/sessions/passkey", "", device(phoneDevice), nil)
		f.want(f.do(call{method: "POST", path: "/api/v1/sessions/passkey/finish", header: device(tabletDevice), body: body}), 422, "passkey_flow_invalid")
		body = f.passkeyAssertion(auth, "/api/v1/sessions/passkey", "", device(phoneDevice), nil)
		signedIn := f.want(f.do(call{method: "POST", path: "/api/v1/sessions/passkey/finish", header: device(phoneDevice), body: body}), 201, "")
		if signedIn.obj["aal"] != 2.0 || signedIn.str("refresh_token") != "" {
			t.Fatalf("passwordless: %s", signedIn.raw)
		}
		pw := signedIn.str("token")
		f.want(f.do(call{method: "GET", path: "/api/v1/me", token: pw}), 200, "")

		// Removal (sudo): replayed, never twice; another customer's
		// passkey is not found.
		rm := "/api/v1/me/passkeys/" + id + "/remove"
		f.want(f.do(call{method: "POST", path: rm, token: other.token, key: "rm-1"}), 404, "not_found")
		f.want(f.do(call{method: "POST", path: "/api/v1/me/passkeys/pkey_nope/remove", token: pw, key: "rm-1"}), 404, "not_found")
		f.want(f.do(call{method: "POST", path: rm, token: pw}), 400, "idempotency_key_required")
		f.want(f.do(call{method: "POST", path: rm, token: pw, key: "rm-1"}), 204, "")
		if r := f.want(f.do(call{method: "POST", path: rm, token: pw, key: "rm-1"}), 204, ""); r.header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("remove replay: %v", r.header)
		}
		f.want(f.do(call{method: "POST", path: rm, token: pw, key: "rm-2"}), 404, "not_found")
		f.want(f.do(call{method: "POST", path: "/api/v1/me/passkeys/" + id2 + "/remove", token: pw, key: "rm-3", body: "{}"}), 204, "")
		if me := f.want(f.do(call{method: "GET", path: "/api/v1/me", token: pw}), 200, ""); me.obj["passkeys"] != 0.0 || me.str("hold_until") == "" {
			t.Fatalf("after removal: %s", me.raw)
		}
		// Outside the sudo window.
		f.clock.Advance(11 * time.Minute)
		f.want(f.do(call{method: "POST", path: "/api/v1/me/passkeys", token: pw}), 403, "step_up_required")
		f.want(f.do(call{method: "GET", path: "/api/v1/me/passkeys", token: pw}), 200, "")
	})
}

// enrolPasskeyStatus runs an enrolment that must fail with status and code.
func (f *idFixture) enrolPasskeyStatus(auth *passkeytest.Authenticator, token, key string, status int, code string) *reply {
	f.t.Helper()
	r := f.want(f.do(call{method: "POST", path: "/api/v1/me/passkeys", token: token}), 200, "")
	cred, err := auth.Create(options(f.t, r))
	if err != nil {
		f.t.Fatal(err)
	}
	return f.want(f.do(call{method: "POST", path: "/api/v1/me/passkeys/finish", token: token, key: key,
		body: map[string]any{"flow_id": r.str("flow_id"), "credential": json.RawMessage(cred)}}), status, code)
}

// MFA-04 over the API: changing the email address and the phone number.
func TestContactChangeOverTheAPI(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		f := newIDFixture(t, db)
		a := f.signUp("")
		b := f.signUp("")
		other := f.login(a, "127.0.0.9")

		// A taken address answers like a free one (LOG-10).
		taken := f.want(f.do(call{method: "POST", path: "/api/v1/me/email", token: a.token, key: "e-0", body: map[string]any{"email": b.email}}), 202, "")
		const next = "a.new.address@example.com"
		// Within the minute a second code is refused alike (MFA-03's limits
		// apply to email codes too).
		f.want(f.do(call{method: "POST", path: "/api/v1/me/email", token: a.token, key: "e-00", body: map[string]any{"email": next}}), 429, "rate_limited")
		f.clock.Advance(61 * time.Second)
		free := f.want(f.do(call{method: "POST", path: "/api/v1/me/email", token: a.token, key: "e-1", body: map[string]any{"email": next}}), 202, "")
		if len(taken.obj) != 1 || len(free.obj) != 1 || free.str("destination") != "a•••@example.com" || !strings.HasSuffix(taken.str("destination"), "@example.com") {
			t.Fatalf("taken %s, free %s", taken.raw, free.raw)
		}
		if len(f.messages(b.email, identity.NoteRegisterAttempt)) != 1 {
			t.Fatal("the owner of the address was not told")
		}
		// The retry replays (no second code goes out).
		r := f.want(f.do(call{method: "POST", path: "/api/v1/me/email", token: a.token, key: "e-1", body: map[string]any{"email": next}}), 202, "")
		if r.header.Get("Idempotent-Replayed") != "true" || !bytes.Equal(r.raw, free.raw) || len(f.messages(next, "code_change_email")) != 1 {
			t.Fatalf("replay: %s %v", r.raw, r.header)
		}
		f.want(f.do(call{method: "POST", path: "/api/v1/me/email", token: a.token, key: "e-1", body: map[string]any{"email": "x" + next}}), 422, "idempotency_key_reused")
		f.want(f.do(call{method: "POST", path: "/api/v1/me/email", token: a.token, key: "e-2", body: map[string]any{"email": "not an address"}}), 422, "validation_failed")
		f.want(f.do(call{method: "POST", path: "/api/v1/me/email", token: a.token, key: "e-2", body: map[string]any{}}), 422, "validation_failed")
		f.want(f.do(call{method: "POST", path: "/api/v1/me/email", token: a.token, body: map[string]any{"email": next}}), 400, "idempotency_key_required")
		code := f.code(next, "code_change_email")
		f.want(f.do(call{method: "POST", path: "/api/v1/me/email/confirm", token: a.token, key: "ec-1", body: map[string]any{"code": "000000"}}), 422, "invalid_code")
		// A failure is not stored: the same key works with the right code.
		f.want(f.do(call{method: "POST", path: "/api/v1/me/email/confirm", token: a.token, key: "ec-1", body: map[string]any{"code": code}}), 204, "")
		if r := f.want(f.do(call{method: "POST", path: "/api/v1/me/email/confirm", token: a.token, key: "ec-1", body: map[string]any{"code": code}}), 204, ""); r.header.Get("Idempotent-Replayed") != "true" {
			t.Fatal("confirm not replayed")
		}
		f.want(f.do(call{method: "POST", path: "/api/v1/me/email/confirm", token: a.token, key: "ec-1", body: map[string]any{"code": "000000"}}), 422, "idempotency_key_reused")
		f.want(f.do(call{method: "POST", path: "/api/v1/me/email/confirm", token: a.token, key: "ec-3", body: map[string]any{"code": code}}), 422, "invalid_code")
		me := f.want(f.do(call{method: "GET", path: "/api/v1/me", token: a.token}), 200, "")
		if me.str("email") != next || me.obj["email_verified"] != true || me.str("hold_until") == "" {
			t.Fatalf("after the change: %s", me.raw)
		}
		f.want(f.do(call{method: "GET", path: "/api/v1/me", token: other}), 401, "unauthorized") // SES-06
		for _, to := range []string{a.email, a.phone, next} {
			if len(f.messages(to, identity.NoteContactChanged)) != 1 {
				t.Errorf("%s was not told of the change", to)
			}
		}

		// The phone, after a step-up.
		a.token = f.stepUp(a, a.token)
		f.clock.Advance(61 * time.Second)
		const phone = "+86 139 1111 2222"
		r = f.want(f.do(call{method: "POST", path: "/api/v1/me/phone", token: a.token, key: "p-1", body: map[string]any{"phone": phone}}), 202, "")
		if r.str("destination") != "•••• 2222" {
			t.Fatalf("phone: %s", r.raw)
		}
		f.want(f.do(call{method: "POST", path: "/api/v1/me/phone", token: a.token, key: "p-2", body: map[string]any{"phone": phone}}), 429, "rate_limited")
		f.want(f.do(call{method: "POST", path: "/api/v1/me/phone", token: a.token, key: "p-3", body: map[string]any{"phone": "12345"}}), 422, "validation_failed")
		f.want(f.do(call{method: "POST", path: "/api/v1/me/phone/confirm", token: a.token, key: "pc-1", body: map[string]any{"code": f.code("+8613911112222", "code_change_phone")}}), 204, "")
		if me := f.want(f.do(call{method: "GET", path: "/api/v1/me", token: a.token}), 200, ""); me.str("phone") != "+8613911112222" {
			t.Fatalf("after the phone change: %s", me.raw)
		}
		// Outside the sudo window.
		f.clock.Advance(11 * time.Minute)
		f.want(f.do(call{method: "POST", path: "/api/v1/me/phone", token: a.token, key: "p-4", body: map[string]any{"phone": "+86 139 1111 3333"}}), 403, "step_up_required")
		f.want(f.do(call{method: "POST", path: "/api/v1/me/email/confirm", token: a.token, key: "ec-4", body: map[string]any{"code": "123456"}}), 403, "step_up_required")
	})
}

// SES-03 over the API: a mobile client's refresh token rotates, and a
// spent one presented again signs the device out and alerts the owner.
func TestRefreshTokensOverTheAPI(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		f := newIDFixture(t, db)
		c := f.signUp("")
		f.clock.Advance(61 * time.Second)
		login := func() (string, *reply) {
			f.clock.Advance(61 * time.Second)
			aal1 := f.want(f.do(call{method: "POST", path: "/api/v1/sessions", header: device(phoneDevice), body: map[string]any{"identifier": c.email, "password": c.password}}), 201, "").str("token")
			return aal1, f.want(f.do(call{method: "POST", path: "/api/v1/mfa/verify", token: aal1, header: device(phoneDevice),
				body: map[string]any{"method": "sms", "code": f.code(c.phone, "code_login"), "client": "mobile"}}), 200, "")
		}
		aal1 := f.want(f.do(call{method: "POST", path: "/api/v1/sessions", body: map[string]any{"identifier": c.email, "password": c.password}}), 201, "").str("token")
		f.want(f.do(call{method: "POST", path: "/api/v1/mfa/verify", token: aal1, body: map[string]any{"method": "sms", "code": "123456", "client": "tv"}}), 422, "validation_failed")
		f.want(f.do(call{method: "DELETE", path: "/api/v1/sessions/current", token: aal1}), 204, "")

		_, first := login()
		rt := first.str("refresh_token")
		if len(rt) != 43 || first.obj["aal"] != 2.0 {
			t.Fatalf("login: %s", first.raw)
		}
		f.clock.Advance(16 * time.Minute)
		f.want(f.do(call{method: "GET", path: "/api/v1/me", token: first.str("token")}), 401, "session_expired")
		f.want(f.do(call{method: "POST", path: "/api/v1/sessions/refresh", body: map[string]any{}}), 422, "validation_failed")
		f.want(f.do(call{method: "POST", path: "/api/v1/sessions/refresh", body: map[string]any{"refresh_token": rt}}), 401, "unauthorized") // not from its device
		next := f.want(f.do(call{method: "POST", path: "/api/v1/sessions/refresh", header: device(phoneDevice), body: map[string]any{"refresh_token": rt}}), 200, "")
		if next.str("expires_at") != first.str("expires_at") || next.obj["aal"] != 2.0 || next.obj["sudo_until"] != nil || next.str("refresh_token") == rt || next.str("refresh_token") == "" {
			t.Fatalf("refresh: %s (first %s)", next.raw, first.raw)
		}
		f.want(f.do(call{method: "GET", path: "/api/v1/me", token: next.str("token")}), 200, "")
		// The spent token again within the grace (the app lost the answer
		// while the new pair is unused): the same pair, nothing revoked.
		f.clock.Advance(identity.DefaultRefreshGrace)
		again := f.want(f.do(call{method: "POST", path: "/api/v1/sessions/refresh", header: device(phoneDevice), body: map[string]any{"refresh_token": rt}}), 200, "")
		if again.str("token") != next.str("token") || again.str("refresh_token") != next.str("refresh_token") {
			t.Fatalf("resent %s, want %s", again.raw, next.raw)
		}
		// After the grace: the device is signed out.
		f.clock.Advance(time.Second)
		f.want(f.do(call{method: "POST", path: "/api/v1/sessions/refresh", header: device(phoneDevice), body: map[string]any{"refresh_token": rt}}), 401, "unauthorized")
		f.want(f.do(call{method: "GET", path: "/api/v1/me", token: next.str("token")}), 401, "unauthorized")
		f.want(f.do(call{method: "POST", path: "/api/v1/sessions/refresh", header: device(phoneDevice), body: map[string]any{"refresh_token": next.str("refresh_token")}}), 401, "unauthorized")
		if len(f.messages(c.email, identity.NoteTokenReuse)) != 1 || len(f.messages(c.phone, identity.NoteTokenReuse)) != 1 {
			t.Fatal("the owner was not alerted")
		}

		// One for the current session, right after the second factor.
		_, web := login() // (a token of its own comes with it; replaced)
		issued := f.want(f.do(call{method: "POST", path: "/api/v1/sessions/refresh-token", token: web.str("token")}), 201, "")
		if len(issued.str("refresh_token")) != 43 || issued.str("expires_at") != web.str("expires_at") {
			t.Fatalf("issued: %s", issued.raw)
		}
		f.want(f.do(call{method: "POST", path: "/api/v1/sessions/refresh", header: device(phoneDevice), body: map[string]any{"refresh_token": web.str("refresh_token")}}), 401, "unauthorized")
		f.want(f.do(call{method: "POST", path: "/api/v1/sessions/refresh", header: device(phoneDevice), body: map[string]any{"refresh_token": issued.str("refresh_token")}}), 200, "")
		f.clock.Advance(11 * time.Minute)
		_, late := login()
		f.clock.Advance(11 * time.Minute)
		f.want(f.do(call{method: "POST", path: "/api/v1/sessions/refresh-token", token: late.str("token")}), 403, "step_up_required")
		// Logout ends it.
		f.want(f.do(call{method: "DELETE", path: "/api/v1/sessions/current", token: late.str("token")}), 204, "")
		f.want(f.do(call{method: "POST", path: "/api/v1/sessions/refresh", header: device(phoneDevice), body: map[string]any{"refresh_token": late.str("refresh_token")}}), 401, "unauthorized")

		// A sign-up from the app.
		d := newCustomer()
		flow := f.want(f.do(call{method: "POST", path: "/api/v1/signup", body: map[string]any{"email": d.email, "phone": d.phone, "password": d.password}}), 202, "").str("flow_token")
		r := f.want(f.do(call{method: "POST", path: "/api/v1/signup/verify", body: map[string]any{"flow_token": flow, "client": "mobile",
			"email_code": f.code(d.email, "code_verify_email"), "phone_code": f.code(d.phone, "code_verify_phone")}}), 200, "")
		if len(r.str("session", "refresh_token")) != 43 {
			t.Fatalf("sign-up: %s", r.raw)
		}
		f.want(f.do(call{method: "POST", path: "/api/v1/sessions/refresh", body: map[string]any{"refresh_token": r.str("session", "refresh_token")}}), 200, "")
	})
}

// API.md: the security-settings POSTs replay a stored answer for the same
// key and body, refuse another body, and never store secrets.
func TestSecuritySettingsIdempotency(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		f := newIDFixture(t, db)
		c := f.signUp("")
		replayed := func(r *reply, first *reply) {
			t.Helper()
			if r.header.Get("Idempotent-Replayed") != "true" || first.header.Get("Idempotent-Replayed") != "" || !bytes.Equal(r.raw, first.raw) || r.status != first.status {
				t.Fatalf("replay %d %s %v\nfirst %d %s", r.status, r.raw, r.header, first.status, first.raw)
			}
		}
		stored := func(key string) (string, string) {
			t.Helper()
			var principal string
			var resp []byte
			if err := db.Read.QueryRow(`SELECT principal, response FROM idempotency_keys WHERE key = $1`, key).Scan(&principal, &resp); err != nil {
				t.Fatalf("record of %s: %v", key, err)
			}
			return principal, string(resp)
		}

		// A secret is answered once and never stored: the replay is 409.
		totp := f.want(f.do(call{method: "POST", path: "/api/v1/me/totp", token: c.token, key: "totp-1"}), 201, "")
		r := f.want(f.do(call{method: "POST", path: "/api/v1/me/totp", token: c.token, key: "totp-1"}), 409, "idempotency_replay_withheld")
		if r.header.Get("Idempotent-Replayed") != "true" {
			t.Fatal("withheld replay without Idempotent-Replayed")
		}
		if p, resp := stored("totp-1"); p != c.id || strings.Contains(resp, totp.str("secret")) || strings.Contains(resp, "otpauth") {
			t.Fatalf("stored for %s: %s", p, resp)
		}
		f.want(f.do(call{method: "POST", path: "/api/v1/me/totp", token: c.token, key: "totp-1", body: `{"x":1}`}), 422, "idempotency_key_reused")
		// The secret shown is the live one; confirming replays.
		key, _ := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(totp.str("secret"))
		body := map[string]any{"code": otp.TOTPCode(key, f.clock.Now())}
		first := f.want(f.do(call{method: "POST", path: "/api/v1/me/totp/confirm", token: c.token, key: "totp-2", body: body}), 204, "")
		replayed(f.want(f.do(call{method: "POST", path: "/api/v1/me/totp/confirm", token: c.token, key: "totp-2", body: body}), 204, ""), first)
		f.want(f.do(call{method: "POST", path: "/api/v1/me/totp/confirm", token: c.token, key: "totp-3", body: body}), 422, "flow_invalid")
		// From here on the app is the second factor (no SMS limits).
		totpCode := func() string {
			f.clock.Advance(31 * time.Second)
			return otp.TOTPCode(key, f.clock.Now())
		}
		login := func(from string) string {
			aal1 := f.want(f.do(call{method: "POST", path: "/api/v1/sessions", from: from, body: map[string]any{"identifier": c.email, "password": c.password}}), 201, "").str("token")
			return f.want(f.do(call{method: "POST", path: "/api/v1/mfa/verify", from: from, token: aal1, body: map[string]any{"method": "totp", "code": totpCode()}}), 200, "").str("token")
		}
		stepUp := func(token string) string {
			return f.want(f.do(call{method: "POST", path: "/api/v1/mfa/verify", token: token, body: map[string]any{"method": "totp", "code": totpCode()}}), 200, "").str("token")
		}

		codes := f.want(f.do(call{method: "POST", path: "/api/v1/me/recovery-codes", token: c.token, key: "codes-1"}), 201, "")
		f.want(f.do(call{method: "POST", path: "/api/v1/me/recovery-codes", token: c.token, key: "codes-1", body: "{}"}), 422, "idempotency_key_reused")
		f.want(f.do(call{method: "POST", path: "/api/v1/me/recovery-codes", token: c.token, key: "codes-1"}), 409, "idempotency_replay_withheld")
		_, resp := stored("codes-1")
		for _, code := range codes.obj["codes"].([]any) {
			if strings.Contains(resp, code.(string)) || strings.Contains(resp, code.(string)[5:]) {
				t.Fatalf("a recovery code is stored: %s", resp)
			}
		}

		// Sessions: the replay says what the first answer said, even
		// though nothing is left to revoke.
		s1, s2 := login("127.0.0.31"), login("127.0.0.32")
		all := f.want(f.do(call{method: "GET", path: "/api/v1/sessions", token: c.token}), 200, "")
		sid := ""
		for _, s := range all.obj["data"].([]any) {
			if s.(map[string]any)["ip"] == "127.0.0.31" {
				sid = s.(map[string]any)["id"].(string)
			}
		}
		c.token = stepUp(c.token)
		rev := "/api/v1/sessions/" + sid + "/revoke"
		first = f.want(f.do(call{method: "POST", path: rev, token: c.token, key: "rev-1"}), 204, "")
		replayed(f.want(f.do(call{method: "POST", path: rev, token: c.token, key: "rev-1"}), 204, ""), first)
		f.want(f.do(call{method: "POST", path: rev, token: c.token, key: "rev-2"}), 404, "not_found")
		f.want(f.do(call{method: "GET", path: "/api/v1/me", token: s1}), 401, "unauthorized")
		first = f.want(f.do(call{method: "POST", path: "/api/v1/sessions/revoke-others", token: c.token, key: "rev-3"}), 200, "")
		if first.obj["revoked"] != 1.0 {
			t.Fatalf("revoke others: %s", first.raw)
		}
		replayed(f.want(f.do(call{method: "POST", path: "/api/v1/sessions/revoke-others", token: c.token, key: "rev-3"}), 200, ""), first)
		f.want(f.do(call{method: "GET", path: "/api/v1/me", token: s2}), 401, "unauthorized")

		// The password: a failure is not stored, so the client fixes it
		// (a step-up) and retries with the same key; the success replays
		// and the password changes once.
		f.clock.Advance(11 * time.Minute)
		change := map[string]any{"current_password": c.password, "new_password": "another fine passphrase"}
		f.want(f.do(call{method: "POST", path: "/api/v1/me/password", token: c.token, key: "pw-1", body: change}), 403, "step_up_required")
		c.token = stepUp(c.token)
		first = f.want(f.do(call{method: "POST", path: "/api/v1/me/password", token: c.token, key: "pw-1", body: change}), 204, "")
		replayed(f.want(f.do(call{method: "POST", path: "/api/v1/me/password", token: c.token, key: "pw-1", body: change}), 204, ""), first)
		// (Insignificant JSON whitespace does not make another request.)
		replayed(f.want(f.do(call{method: "POST", path: "/api/v1/me/password", token: c.token, key: "pw-1",
			body: `{ "current_password" : "` + c.password + `",  "new_password": "another fine passphrase" }`}), 204, ""), first)
		change["new_password"] = "yet another passphrase"
		f.want(f.do(call{method: "POST", path: "/api/v1/me/password", token: c.token, key: "pw-1", body: change}), 422, "idempotency_key_reused")
		c.password = "another fine passphrase"
		login("")

		// A freeze ends the session, so its retry cannot be replayed: 401.
		f.want(f.do(call{method: "POST", path: "/api/v1/me/freeze", token: c.token, key: "fr-1"}), 204, "")
		f.want(f.do(call{method: "POST", path: "/api/v1/me/freeze", token: c.token, key: "fr-1"}), 401, "unauthorized")
		if p, _ := stored("fr-1"); p != c.id {
			t.Fatalf("freeze record of %s", p)
		}
	})
}
