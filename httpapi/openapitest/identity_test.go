package openapitest_test

// The customer identity routes against the document: a real identity
// service on the harness's database, its codes read from a DevMailbox.

import (
	"context"
	"encoding/base32"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/okpay/okpay/clock"
	"github.com/okpay/okpay/httpapi"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/identity/otp"
	"github.com/okpay/okpay/identity/passkey"
	"github.com/okpay/okpay/identity/password"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/notify"
	"github.com/okpay/okpay/secret"
	"github.com/okpay/okpay/sqldb"
)

type identityDeps struct {
	svc     *identity.Service
	outbox  *notify.Outbox
	disp    *notify.Dispatcher
	mailbox *notify.DevMailbox

	token string // a live session, for the requests without a database
}

func newIdentity(t *testing.T, db *sqldb.DB, clk *clock.Manual, gen ids.Generator, cat *i18n.Catalog) *identityDeps {
	t.Helper()
	master, err := secret.Generate()
	if err != nil {
		t.Fatal(err)
	}
	keys, err := secret.NewKeyring(master)
	if err != nil {
		t.Fatal(err)
	}
	// Cheap argon2 parameters keep the test fast.
	hasher, err := password.New(password.Options{Params: password.Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}})
	if err != nil {
		t.Fatal(err)
	}
	bl, err := password.NewBlocklist()
	if err != nil {
		t.Fatal(err)
	}
	outbox := notify.NewOutbox(db, keys.Sealer("notify"), clk, gen)
	d := &identityDeps{mailbox: notify.NewDevMailbox(clk), outbox: outbox}
	d.disp = notify.NewDispatcher(outbox, map[string]notify.Sender{"email": d.mailbox, "sms": d.mailbox, "inapp": outbox.InAppSender()}, notify.DispatcherOptions{})
	pk, err := passkey.New(db, clk, passkey.Config{RPID: passkeyRPID, RPDisplayName: "OKPay", Origins: []string{passkeyOrigin}})
	if err != nil {
		t.Fatal(err)
	}
	d.svc, err = identity.New(identity.Deps{DB: db, Clock: clk, IDs: gen, Keys: keys, Hasher: hasher, CheckPassword: password.NewPolicy(bl).Check,
		Outbox: outbox, Catalog: cat, Passkeys: pk}, identity.Config{BaseURL: "https://okpay.test"})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

var (
	codeRE   = regexp.MustCompile(`\b(\d{6,8})\b`)
	freezeRE = regexp.MustCompile(`https://okpay\.test/freeze/([A-Za-z0-9_-]+)`)
)

// message returns the first match of re in the latest message of kind to
// "to": the one queued last (the dispatcher sends a batch concurrently, so
// the mailbox's order is not the queue's).
func (h *harness) message(t *testing.T, to, kind string, re *regexp.Regexp) string {
	t.Helper()
	for {
		n, err := h.id.disp.RunOnce(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	var latest *notify.DevMessage
	var latestKey int64
	for _, m := range h.id.mailbox.List() {
		if m.To == to && m.Kind == kind {
			if k := queueOrder(m); latest == nil || k > latestKey {
				latest, latestKey = &m, k
			}
		}
	}
	if latest != nil {
		if c := re.FindStringSubmatch(latest.Body); c != nil {
			return c[1]
		}
	}
	t.Fatalf("no %s message to %s", kind, to)
	return ""
}

// queueOrder orders messages by the number in their dedupe key ("code:<id
// of the code>:sms", "<kind>:<event id>:email"): ids only grow.
func queueOrder(m notify.DevMessage) int64 {
	parts := strings.Split(m.DedupeKey, ":")
	if len(parts) < 2 {
		return 0
	}
	n, _ := strconv.ParseInt(parts[1], 10, 64)
	return n
}

func (h *harness) code(t *testing.T, to, kind string) string { return h.message(t, to, kind, codeRE) }

func bearer(token string) string { return "Bearer " + token }

func (h *harness) identityScenario(t *testing.T) {
	big := func(v any) string { // a valid body padded past MaxBody with whitespace
		b, _ := json.Marshal(v)
		return string(b[:len(b)-1]) + strings.Repeat(" ", httpapi.MaxBody) + "}"
	}
	zh := http.Header{"Accept-Language": {"zh-CN"}}
	const (
		email = "li.wei@example.com"
		phone = "+86 138 0013 8000"
		e164  = "+8613800138000"
		pw    = "maple lantern river 1987"
	)

	// transport checks what every body-taking route answers for bodies it
	// cannot read: 400, 413, 415 (after authentication, for session
	// routes).
	transport := func(t *testing.T, method, path, auth string, valid any) {
		t.Helper()
		noAuth := auth == ""
		key := func() string { // a security-settings POST needs its key first
			if idempotent(method, strings.SplitN(routeOf(method, path), " ", 2)[1]) {
				return newKey()
			}
			return ""
		}
		h.do(t, req{method: method, path: path, auth: auth, noAuth: noAuth, idem: key(), body: `{"colour": "red"}`, invalid: true, want: 400, code: "invalid_request"})
		h.do(t, req{method: method, path: path, auth: auth, noAuth: noAuth, idem: key(), body: `{`, invalid: true, want: 400, code: "invalid_request"})
		h.do(t, req{method: method, path: path, auth: auth, noAuth: noAuth, idem: key(), body: big(valid), want: 413, code: "request_too_large"})
		h.do(t, req{method: method, path: path, auth: auth, noAuth: noAuth, idem: key(), body: "x", ctype: "text/plain", invalid: true, want: 415, code: "unsupported_media_type"})
		if key() != "" {
			h.do(t, req{method: method, path: path, auth: auth, noAuth: noAuth, body: valid, invalid: true, want: 400, code: "idempotency_key_required"})
		}
	}

	var flow, signupSession, aal1, full string
	t.Run("signup", func(t *testing.T) {
		r := h.do(t, req{method: "POST", path: "/api/v1/signup", noAuth: true, body: map[string]any{"email": email, "phone": phone, "password": pw, "lang": "zh-CN"}, want: 202})
		flow = r.str("flow_token")
		// The same answer for a taken email address (LOG-10).
		taken := h.do(t, req{method: "POST", path: "/api/v1/signup", noAuth: true, body: map[string]any{"email": email, "phone": "+86 139 0013 9000", "password": pw}, want: 202})
		if len(taken.raw) != len(r.raw) {
			t.Errorf("a taken email: %s, a new one: %s", taken.raw, r.raw)
		}
		h.do(t, req{method: "POST", path: "/api/v1/signup", noAuth: true, body: map[string]any{"email": "x@example.com", "phone": "12345", "password": pw}, want: 422, code: "validation_failed"})
		h.do(t, req{method: "POST", path: "/api/v1/signup", noAuth: true, body: map[string]any{"email": "x@example.com", "phone": "+86 138 0013 8001", "password": "password1"}, header: zh, want: 422, code: "password_common"})
		h.do(t, req{method: "POST", path: "/api/v1/signup", noAuth: true, body: map[string]any{"email": "x@example.com", "phone": "+86 138 0013 8001", "password": "short"}, want: 422, code: "password_too_short"})
		h.do(t, req{method: "POST", path: "/api/v1/signup", noAuth: true, body: map[string]any{"email": "okpay.fan@example.com", "phone": "+86 138 0013 8001", "password": "okpay.fan forever"}, want: 422, code: "password_contextual"})
		h.do(t, req{method: "POST", path: "/api/v1/signup", noAuth: true, body: map[string]any{"email": "x@example.com", "phone": "+86 138 0013 8001", "password": pw, "lang": "fr"}, invalid: true, want: 422, code: "validation_failed"})
		h.do(t, req{method: "POST", path: "/api/v1/signup", noAuth: true, body: map[string]any{"email": "x@example.com", "phone": "+86 138 0013 8001"}, want: 422, code: "password_too_short", invalid: true})
		h.do(t, req{method: "POST", path: "/api/v1/signup", noAuth: true, body: map[string]any{"email": "x@example.com", "phone": "+86 138 0013 8001", "password": strings.Repeat("p", 1025)}, invalid: true, want: 400, code: "password_too_long"})
		transport(t, "POST", "/api/v1/signup", "", map[string]any{"email": "x@example.com", "phone": phone, "password": pw})
		// 20 sign-ups an hour from one address.
		for i := range 21 {
			want, code := 202, ""
			if i == 20 {
				want, code = 429, "rate_limited"
			}
			h.do(t, req{method: "POST", path: "/api/v1/signup", from: "127.0.0.23", noAuth: true, want: want, code: code,
				body: map[string]any{"email": fmt.Sprintf("bulk%d@example.com", i), "phone": fmt.Sprintf("+86 137 0013 70%02d", i), "password": pw}})
		}

		// Verification, one code at a time.
		r = h.do(t, req{method: "POST", path: "/api/v1/signup/verify", noAuth: true, body: map[string]any{"flow_token": flow, "email_code": h.code(t, email, "code_verify_email")}, want: 422, code: "invalid_code"})
		if r.obj["email_verified"] != true || r.obj["phone_verified"] != false {
			t.Errorf("half verified: %s", r.raw)
		}
		h.do(t, req{method: "POST", path: "/api/v1/signup/verify", noAuth: true, body: map[string]any{"flow_token": "no-such-flow"}, want: 422, code: "flow_invalid"})
		h.do(t, req{method: "POST", path: "/api/v1/signup/verify", noAuth: true, body: map[string]any{"flow_token": ""}, invalid: true, want: 422, code: "validation_failed"})
		transport(t, "POST", "/api/v1/signup/verify", "", map[string]any{"flow_token": flow})

		// A new code within the minute is refused; a minute later it goes.
		h.do(t, req{method: "POST", path: "/api/v1/signup/resend", noAuth: true, body: map[string]any{"flow_token": flow, "channel": "sms"}, want: 429, code: "rate_limited"})
		h.clock.Advance(61 * time.Second)
		h.do(t, req{method: "POST", path: "/api/v1/signup/resend", noAuth: true, body: map[string]any{"flow_token": flow, "channel": "email"}, want: 202})
		h.do(t, req{method: "POST", path: "/api/v1/signup/resend", noAuth: true, body: map[string]any{"flow_token": flow, "channel": "fax"}, invalid: true, want: 422, code: "validation_failed"})
		h.do(t, req{method: "POST", path: "/api/v1/signup/resend", noAuth: true, body: map[string]any{"flow_token": "no-such-flow", "channel": "email"}, want: 422, code: "flow_invalid"})
		transport(t, "POST", "/api/v1/signup/resend", "", map[string]any{"flow_token": flow, "channel": "email"})

		r = h.do(t, req{method: "POST", path: "/api/v1/signup/verify", noAuth: true, body: map[string]any{"flow_token": flow, "phone_code": h.code(t, e164, "code_verify_phone")}, want: 200})
		signupSession = r.str("session", "token")
		h.do(t, req{method: "POST", path: "/api/v1/signup/verify", noAuth: true, body: map[string]any{"flow_token": flow, "phone_code": "123456"}, want: 422, code: "flow_invalid"})
		h.do(t, req{method: "GET", path: "/api/v1/me", auth: bearer(signupSession), want: 200})
	})

	t.Run("login", func(t *testing.T) {
		h.clock.Advance(61 * time.Second)
		r := h.do(t, req{method: "POST", path: "/api/v1/sessions", noAuth: true, body: map[string]any{"identifier": email, "password": pw}, want: 201})
		aal1 = r.str("token")
		if r.obj["sms_sent"] != true {
			t.Errorf("login: %s", r.raw)
		}
		h.do(t, req{method: "POST", path: "/api/v1/sessions", noAuth: true, body: map[string]any{"identifier": "nobody@example.com", "password": pw}, want: 401, code: "invalid_credentials"})
		h.do(t, req{method: "POST", path: "/api/v1/sessions", noAuth: true, body: map[string]any{"identifier": email}, invalid: true, want: 422, code: "validation_failed"})
		transport(t, "POST", "/api/v1/sessions", "", map[string]any{"identifier": email, "password": pw})
		// A throttled SMS: the login still works.
		r = h.do(t, req{method: "POST", path: "/api/v1/sessions", noAuth: true, body: map[string]any{"identifier": e164, "password": pw}, want: 201})
		if r.str("sms_error", "code") != "rate_limited" {
			t.Errorf("throttled login: %s", r.raw)
		}
		// 20 attempts a minute from one address.
		for range 18 {
			h.do(t, req{method: "POST", path: "/api/v1/sessions", from: "127.0.0.21", noAuth: true, body: map[string]any{"identifier": "nobody@example.com", "password": pw}, want: 401, code: "invalid_credentials"})
		}
		h.do(t, req{method: "POST", path: "/api/v1/sessions", from: "127.0.0.21", noAuth: true, body: map[string]any{"identifier": email, "password": pw}, want: 201})
		h.do(t, req{method: "POST", path: "/api/v1/sessions", from: "127.0.0.21", noAuth: true, body: map[string]any{"identifier": email, "password": pw}, want: 201})
		r = h.do(t, req{method: "POST", path: "/api/v1/sessions", from: "127.0.0.21", noAuth: true, body: map[string]any{"identifier": email, "password": pw}, want: 429, code: "rate_limited"})
		if r.header.Get("Retry-After") == "" {
			t.Error("429 without Retry-After")
		}

		// The level-1 session: only the second-factor step (MFA-01).
		h.do(t, req{method: "GET", path: "/api/v1/me", auth: bearer(aal1), want: 401, code: "mfa_required"})
		h.do(t, req{method: "GET", path: "/api/v1/sessions", auth: bearer(aal1), want: 401, code: "mfa_required"})
		h.do(t, req{method: "POST", path: "/api/v1/mfa/sms", auth: bearer(aal1), want: 429, code: "rate_limited"})
		h.clock.Advance(61 * time.Second)
		h.do(t, req{method: "POST", path: "/api/v1/mfa/sms", auth: bearer(aal1), body: map[string]any{}, want: 202})
		h.do(t, req{method: "POST", path: "/api/v1/mfa/sms", noAuth: true, invalid: true, want: 401, code: "unauthorized"})
		h.do(t, req{method: "POST", path: "/api/v1/mfa/sms", auth: bearer(aal1), body: `[]`, invalid: true, want: 400, code: "invalid_request"})
		h.do(t, req{method: "POST", path: "/api/v1/mfa/sms", auth: bearer(aal1), body: big(map[string]any{}), want: 413, code: "request_too_large"})
		h.do(t, req{method: "POST", path: "/api/v1/mfa/sms", auth: bearer(aal1), body: "x", ctype: "text/plain", invalid: true, want: 415, code: "unsupported_media_type"})

		h.do(t, req{method: "POST", path: "/api/v1/mfa/verify", auth: bearer(aal1), body: map[string]any{"method": "sms", "code": "000000"}, want: 422, code: "invalid_code"})
		h.do(t, req{method: "POST", path: "/api/v1/mfa/verify", auth: bearer(aal1), body: map[string]any{"method": "totp", "code": "000000"}, want: 422, code: "factor_unavailable"})
		h.do(t, req{method: "POST", path: "/api/v1/mfa/verify", auth: bearer(aal1), body: map[string]any{"method": "passkey", "code": "x"}, invalid: true, want: 422, code: "validation_failed"})
		h.do(t, req{method: "POST", path: "/api/v1/mfa/verify", auth: bearer("okp_" + aal1[4:]), body: map[string]any{"method": "sms", "code": "000000"}, want: 401, code: "unauthorized"})
		transport(t, "POST", "/api/v1/mfa/verify", bearer(aal1), map[string]any{"method": "sms", "code": "000000"})
		// The web app: the cookie is replaced.
		r = h.do(t, req{method: "POST", path: "/api/v1/mfa/verify", noAuth: true, cookie: aal1, body: map[string]any{"method": "sms", "code": h.code(t, e164, "code_login")}, want: 200})
		full = r.str("token")
		if !strings.HasPrefix(r.header.Get("Set-Cookie"), httpapi.SessionCookie+"="+full+";") {
			t.Errorf("Set-Cookie %q", r.header.Get("Set-Cookie"))
		}
		h.do(t, req{method: "GET", path: "/api/v1/me", auth: bearer(aal1), want: 401, code: "unauthorized"})
		// A dead cookie is removed.
		r = h.do(t, req{method: "GET", path: "/api/v1/me", noAuth: true, cookie: aal1, want: 401, code: "unauthorized"})
		if !strings.Contains(r.header.Get("Set-Cookie"), "Max-Age=0") {
			t.Errorf("Set-Cookie %q", r.header.Get("Set-Cookie"))
		}
	})

	var totpKey []byte
	t.Run("me", func(t *testing.T) {
		r := h.do(t, req{method: "GET", path: "/api/v1/me", auth: bearer(full), want: 200})
		if r.str("email") != email || r.str("phone") != e164 || r.obj["phone_verified"] != true {
			t.Errorf("me: %s", r.raw)
		}
		h.do(t, req{method: "GET", path: "/api/v1/me", noAuth: true, cookie: full, want: 200})
		h.do(t, req{method: "GET", path: "/api/v1/me", noAuth: true, invalid: true, want: 401, code: "unauthorized"})
		h.do(t, req{method: "GET", path: "/api/v1/me", want: 401, code: "unauthorized"}) // the API key
		h.do(t, req{method: "GET", path: "/api/v1/accounts?owner=x", auth: bearer(full), want: 401, code: "unauthorized"})
		lang := r.str("language") // the sign-up's Accept-Language
		if lang != "en" && lang != "zh-CN" {
			t.Errorf("me: language %q", lang)
		}

		// The language OKPay writes in.
		r = h.do(t, req{method: "POST", path: "/api/v1/me/language", auth: bearer(full), body: map[string]any{"language": "zh-CN"}, want: 200})
		if r.str("language") != "zh-CN" || r.str("email") != email {
			t.Errorf("set language: %s", r.raw)
		}
		if r = h.do(t, req{method: "GET", path: "/api/v1/me", auth: bearer(full), want: 200}); r.str("language") != "zh-CN" {
			t.Errorf("me after setting the language: %s", r.raw)
		}
		h.do(t, req{method: "POST", path: "/api/v1/me/language", auth: bearer(full), body: map[string]any{"language": "fr"}, invalid: true, want: 422, code: "validation_failed"})
		h.do(t, req{method: "POST", path: "/api/v1/me/language", auth: bearer(full), body: map[string]any{}, invalid: true, want: 422, code: "validation_failed"})
		h.do(t, req{method: "POST", path: "/api/v1/me/language", auth: bearer(full), body: `{"language": "en", "x": 1}`, invalid: true, want: 400, code: "invalid_request"})
		h.do(t, req{method: "POST", path: "/api/v1/me/language", body: map[string]any{"language": "en"}, want: 401, code: "unauthorized"}) // the API key
		if r = h.do(t, req{method: "POST", path: "/api/v1/me/language", auth: bearer(full), body: map[string]any{"language": lang}, want: 200}); r.str("language") != lang {
			t.Errorf("set language back: %s", r.raw)
		}

		// An authenticator app.
		h.do(t, req{method: "POST", path: "/api/v1/me/totp/confirm", idem: newKey(), auth: bearer(full), body: map[string]any{"code": "123456"}, want: 422, code: "flow_invalid"})
		r = h.do(t, req{method: "POST", path: "/api/v1/me/totp", auth: bearer(full), idem: "totp-begin-1", want: 201})
		h.do(t, req{method: "POST", path: "/api/v1/me/totp", auth: bearer(full), idem: "totp-begin-1", want: 409, code: "idempotency_replay_withheld"})
		h.do(t, req{method: "POST", path: "/api/v1/me/totp", auth: bearer(full), idem: "totp-begin-1", body: map[string]any{}, want: 422, code: "idempotency_key_reused"})
		var err error
		if totpKey, err = base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(r.str("secret")); err != nil {
			t.Fatal(err)
		}
		h.do(t, req{method: "POST", path: "/api/v1/me/totp", auth: bearer(full), idem: "has space", invalid: true, want: 400, code: "invalid_request"})
		h.do(t, req{method: "POST", path: "/api/v1/me/totp", idem: newKey(), auth: bearer(full), body: map[string]any{"secret": "mine"}, invalid: true, want: 400, code: "invalid_request"})
		h.do(t, req{method: "POST", path: "/api/v1/me/totp", idem: newKey(), auth: bearer(full), body: big(map[string]any{}), want: 413, code: "request_too_large"})
		h.do(t, req{method: "POST", path: "/api/v1/me/totp", idem: newKey(), auth: bearer(full), body: "x", ctype: "text/plain", invalid: true, want: 415, code: "unsupported_media_type"})
		h.do(t, req{method: "POST", path: "/api/v1/me/totp", noAuth: true, invalid: true, want: 401, code: "unauthorized"})
		h.do(t, req{method: "POST", path: "/api/v1/me/totp/confirm", idem: newKey(), auth: bearer(full), body: map[string]any{"code": "000000"}, want: 422, code: "invalid_code"})
		h.do(t, req{method: "POST", path: "/api/v1/me/totp/confirm", idem: newKey(), auth: bearer(full), body: map[string]any{}, invalid: true, want: 422, code: "validation_failed"})
		h.do(t, req{method: "POST", path: "/api/v1/me/totp/confirm", noAuth: true, body: map[string]any{"code": "000000"}, invalid: true, want: 401, code: "unauthorized"})
		transport(t, "POST", "/api/v1/me/totp/confirm", bearer(full), map[string]any{"code": "000000"})
		h.do(t, req{method: "POST", path: "/api/v1/me/totp/confirm", auth: bearer(full), idem: "totp-confirm-1", body: map[string]any{"code": otp.TOTPCode(totpKey, h.clock.Now())}, want: 204})
		h.do(t, req{method: "GET", path: "/api/v1/me", auth: bearer(signupSession), want: 401, code: "unauthorized"}) // SES-06

		r = h.do(t, req{method: "POST", path: "/api/v1/me/recovery-codes", idem: "codes-1", auth: bearer(full), want: 201})
		// Shown once: the replay is withheld.
		h.do(t, req{method: "POST", path: "/api/v1/me/recovery-codes", idem: "codes-1", auth: bearer(full), want: 409, code: "idempotency_replay_withheld"})
		h.do(t, req{method: "POST", path: "/api/v1/me/recovery-codes", idem: "codes-1", auth: bearer(full), body: "{}", want: 422, code: "idempotency_key_reused"})
		if codes, _ := r.obj["codes"].([]any); len(codes) != 10 {
			t.Errorf("recovery codes: %s", r.raw)
		}
		h.do(t, req{method: "POST", path: "/api/v1/me/recovery-codes", idem: newKey(), auth: bearer(full), body: `{"n": 5}`, invalid: true, want: 400, code: "invalid_request"})
		h.do(t, req{method: "POST", path: "/api/v1/me/recovery-codes", idem: newKey(), auth: bearer(full), body: big(map[string]any{}), want: 413, code: "request_too_large"})
		h.do(t, req{method: "POST", path: "/api/v1/me/recovery-codes", idem: newKey(), auth: bearer(full), body: "x", ctype: "text/plain", invalid: true, want: 415, code: "unsupported_media_type"})
		h.do(t, req{method: "POST", path: "/api/v1/me/recovery-codes", noAuth: true, invalid: true, want: 401, code: "unauthorized"})

		h.do(t, req{method: "POST", path: "/api/v1/me/password", idem: newKey(), auth: bearer(full), body: map[string]any{"current_password": "not it", "new_password": "copper kettle under the bridge"}, want: 422, code: "validation_failed"})
		h.do(t, req{method: "POST", path: "/api/v1/me/password", idem: newKey(), auth: bearer(full), body: map[string]any{"current_password": pw, "new_password": "12345678"}, want: 422, code: "password_common"})
		h.do(t, req{method: "POST", path: "/api/v1/me/password", idem: newKey(), auth: bearer(full), body: map[string]any{"current_password": pw, "new_password": strings.Repeat("p", 1025)}, invalid: true, want: 400, code: "password_too_long"})
		h.do(t, req{method: "POST", path: "/api/v1/me/password", noAuth: true, body: map[string]any{"current_password": pw, "new_password": "copper kettle under the bridge"}, invalid: true, want: 401, code: "unauthorized"})
		transport(t, "POST", "/api/v1/me/password", bearer(full), map[string]any{"current_password": pw, "new_password": "copper kettle under the bridge"})
		h.do(t, req{method: "POST", path: "/api/v1/me/password", auth: bearer(full), idem: "password-1", body: map[string]any{"current_password": pw, "new_password": "copper kettle under the bridge"}, want: 204})
	})

	const pw2 = "copper kettle under the bridge"
	t.Run("sessions", func(t *testing.T) {
		// A second session, with the authenticator app.
		h.clock.Advance(31 * time.Second)
		r := h.do(t, req{method: "POST", path: "/api/v1/sessions", from: "127.0.0.22", noAuth: true, body: map[string]any{"identifier": email, "password": pw2}, want: 201})
		if r.obj["destination"] != nil || r.obj["sms_sent"] != false {
			t.Errorf("login with totp: %s", r.raw)
		}
		other := h.do(t, req{method: "POST", path: "/api/v1/mfa/verify", from: "127.0.0.22", auth: bearer(r.str("token")), body: map[string]any{"method": "totp", "code": otp.TOTPCode(totpKey, h.clock.Now())}, want: 200}).str("token")

		r = h.do(t, req{method: "GET", path: "/api/v1/sessions", auth: bearer(full), want: 200})
		list := r.list()
		if len(list) != 2 || list[0]["current"] != false || list[1]["current"] != true {
			t.Fatalf("sessions: %s", r.raw)
		}
		otherID := list[0]["id"].(string)
		r = h.do(t, req{method: "GET", path: "/api/v1/sessions?limit=1", auth: bearer(full), want: 200})
		h.do(t, req{method: "GET", path: "/api/v1/sessions?limit=1&cursor=" + r.str("next_cursor"), auth: bearer(full), want: 200})
		h.do(t, req{method: "GET", path: "/api/v1/sessions?limit=0", auth: bearer(full), invalid: true, want: 422, code: "validation_failed"})
		h.do(t, req{method: "GET", path: "/api/v1/sessions?cursor=usr_0000000000001", auth: bearer(full), invalid: true, want: 422, code: "validation_failed"})
		h.do(t, req{method: "GET", path: "/api/v1/sessions", noAuth: true, invalid: true, want: 401, code: "unauthorized"})

		// Another customer's session is not found (API-02).
		other2 := h.signUp(t, "chen.jing@example.com", "+86 138 0013 8002")
		theirs := h.do(t, req{method: "GET", path: "/api/v1/sessions", auth: bearer(other2), want: 200}).list()[0]["id"].(string)
		rev := func(id string) string { return "/api/v1/sessions/" + id + "/revoke" }
		h.do(t, req{method: "POST", path: rev(theirs), idem: newKey(), auth: bearer(full), want: 404, code: "not_found"})
		h.do(t, req{method: "POST", path: rev("nope"), idem: newKey(), auth: bearer(full), invalid: true, want: 404, code: "not_found"})
		h.do(t, req{method: "POST", path: rev(otherID), noAuth: true, invalid: true, want: 401, code: "unauthorized"})
		h.do(t, req{method: "POST", path: rev(otherID), auth: bearer(full), idem: strings.Repeat("k", 256), invalid: true, want: 400, code: "invalid_request"})
		h.do(t, req{method: "POST", path: rev(otherID), idem: newKey(), auth: bearer(full), body: big(map[string]any{}), want: 413, code: "request_too_large"})
		h.do(t, req{method: "POST", path: rev(otherID), idem: newKey(), auth: bearer(full), body: "x", ctype: "text/plain", invalid: true, want: 415, code: "unsupported_media_type"})
		h.do(t, req{method: "POST", path: "/api/v1/sessions/revoke-others", idem: newKey(), auth: bearer(full), body: `{"all": true}`, invalid: true, want: 400, code: "invalid_request"})
		h.do(t, req{method: "POST", path: "/api/v1/sessions/revoke-others", idem: newKey(), auth: bearer(full), body: big(map[string]any{}), want: 413, code: "request_too_large"})
		h.do(t, req{method: "POST", path: "/api/v1/sessions/revoke-others", idem: newKey(), auth: bearer(full), body: "x", ctype: "text/plain", invalid: true, want: 415, code: "unsupported_media_type"})
		h.do(t, req{method: "POST", path: "/api/v1/sessions/revoke-others", noAuth: true, invalid: true, want: 401, code: "unauthorized"})

		// Outside the sudo window: 403, until a step-up.
		h.clock.Advance(11 * time.Minute)
		h.do(t, req{method: "GET", path: "/api/v1/me", auth: bearer(other), want: 200})
		h.do(t, req{method: "POST", path: rev(otherID), idem: newKey(), auth: bearer(full), want: 403, code: "step_up_required"})
		h.do(t, req{method: "POST", path: "/api/v1/sessions/revoke-others", idem: newKey(), auth: bearer(full), want: 403, code: "step_up_required"})
		h.do(t, req{method: "POST", path: "/api/v1/me/totp", idem: newKey(), auth: bearer(full), want: 403, code: "step_up_required"})
		h.do(t, req{method: "POST", path: "/api/v1/me/totp/confirm", idem: newKey(), auth: bearer(full), body: map[string]any{"code": "123456"}, want: 403, code: "step_up_required"})
		h.do(t, req{method: "DELETE", path: "/api/v1/me/totp", auth: bearer(full), want: 403, code: "step_up_required"})
		h.do(t, req{method: "POST", path: "/api/v1/me/recovery-codes", idem: newKey(), auth: bearer(full), want: 403, code: "step_up_required"})
		h.do(t, req{method: "POST", path: "/api/v1/me/password", idem: newKey(), auth: bearer(full), body: map[string]any{"current_password": pw2, "new_password": "a third fine passphrase"}, want: 403, code: "step_up_required"})
		h.clock.Advance(30 * time.Second)
		full = h.do(t, req{method: "POST", path: "/api/v1/mfa/verify", auth: bearer(full), body: map[string]any{"method": "totp", "code": otp.TOTPCode(totpKey, h.clock.Now())}, want: 200}).str("token")

		h.do(t, req{method: "POST", path: rev(otherID), auth: bearer(full), idem: "revoke-1", want: 204})
		h.do(t, req{method: "POST", path: rev(otherID), auth: bearer(full), idem: "revoke-1", body: map[string]any{}, want: 422, code: "idempotency_key_reused"})
		h.do(t, req{method: "GET", path: "/api/v1/me", auth: bearer(other), want: 401, code: "unauthorized"})
		h.do(t, req{method: "POST", path: "/api/v1/sessions/revoke-others", idem: "revoke-others-1", auth: bearer(full), body: map[string]any{}, want: 200})
		if r := h.do(t, req{method: "POST", path: "/api/v1/sessions/revoke-others", idem: "revoke-others-1", auth: bearer(full), body: map[string]any{}, want: 200}); !r.replayed {
			t.Error("revoke-others was not replayed")
		}
		h.do(t, req{method: "POST", path: "/api/v1/sessions/revoke-others", idem: "revoke-others-1", auth: bearer(full), want: 422, code: "idempotency_key_reused"})
		h.do(t, req{method: "DELETE", path: "/api/v1/me/totp", noAuth: true, invalid: true, want: 401, code: "unauthorized"})
		h.do(t, req{method: "DELETE", path: "/api/v1/me/totp", auth: bearer(full), want: 204})

		// Logout (SES-04).
		h.do(t, req{method: "DELETE", path: "/api/v1/sessions/current", auth: bearer(other2), want: 204})
		h.do(t, req{method: "DELETE", path: "/api/v1/sessions/current", auth: bearer(other2), want: 401, code: "unauthorized"})
		h.do(t, req{method: "DELETE", path: "/api/v1/sessions/current", noAuth: true, invalid: true, want: 401, code: "unauthorized"})
		h.id.token = full
	})

	t.Run("recovery", func(t *testing.T) {
		r := h.do(t, req{method: "POST", path: "/api/v1/password/forgot", noAuth: true, body: map[string]any{"identifier": e164, "channel": "sms"}, want: 202})
		unknown := h.do(t, req{method: "POST", path: "/api/v1/password/forgot", noAuth: true, body: map[string]any{"identifier": "+86 139 1234 5678", "channel": "sms"}, want: 202})
		if len(unknown.raw) != len(r.raw) {
			t.Errorf("forgot: %s vs %s", unknown.raw, r.raw)
		}
		reset := r.str("flow_token")
		h.do(t, req{method: "POST", path: "/api/v1/password/forgot", noAuth: true, body: map[string]any{"identifier": e164, "channel": "fax"}, invalid: true, want: 422, code: "validation_failed"})
		h.do(t, req{method: "POST", path: "/api/v1/password/forgot", noAuth: true, body: map[string]any{"identifier": "not an identifier", "channel": "sms"}, want: 422, code: "validation_failed"})
		transport(t, "POST", "/api/v1/password/forgot", "", map[string]any{"identifier": e164, "channel": "sms"})
		for range 2 {
			h.do(t, req{method: "POST", path: "/api/v1/password/forgot", noAuth: true, body: map[string]any{"identifier": "zhao.min@example.com", "channel": "email"}, want: 202})
		}
		h.do(t, req{method: "POST", path: "/api/v1/password/forgot", noAuth: true, body: map[string]any{"identifier": "zhao.min@example.com", "channel": "email"}, want: 202})
		h.do(t, req{method: "POST", path: "/api/v1/password/forgot", noAuth: true, body: map[string]any{"identifier": "zhao.min@example.com", "channel": "email"}, want: 429, code: "rate_limited"})

		code := func(c string) map[string]any { return map[string]any{"flow_token": reset, "code": c} }
		h.do(t, req{method: "POST", path: "/api/v1/password/reset/code", noAuth: true, body: code("12345678"), want: 422, code: "invalid_code"})
		h.do(t, req{method: "POST", path: "/api/v1/password/reset/code", noAuth: true, body: map[string]any{"flow_token": "no-such-flow", "code": "12345678"}, want: 422, code: "flow_invalid"})
		h.do(t, req{method: "POST", path: "/api/v1/password/reset/code", noAuth: true, body: map[string]any{"flow_token": reset}, invalid: true, want: 422, code: "validation_failed"})
		transport(t, "POST", "/api/v1/password/reset/code", "", code("12345678"))
		h.do(t, req{method: "POST", path: "/api/v1/password/reset/factor/send", noAuth: true, body: map[string]any{"flow_token": reset}, want: 422, code: "flow_invalid"})
		r = h.do(t, req{method: "POST", path: "/api/v1/password/reset/code", noAuth: true, body: code(h.code(t, e164, "code_reset")), want: 200})
		if fmt.Sprint(r.obj["methods"]) != "[email recovery_code]" {
			t.Errorf("reset methods: %s", r.raw)
		}

		factor := func(method, c string) map[string]any {
			return map[string]any{"flow_token": reset, "method": method, "code": c}
		}
		h.do(t, req{method: "POST", path: "/api/v1/password/reset/factor", noAuth: true, body: factor("sms", "123456"), want: 422, code: "factor_unavailable"})
		h.do(t, req{method: "POST", path: "/api/v1/password/reset/factor", noAuth: true, body: factor("passkey", "123456"), invalid: true, want: 422, code: "validation_failed"})
		h.do(t, req{method: "POST", path: "/api/v1/password/reset/factor", noAuth: true, body: map[string]any{"flow_token": "no-such-flow", "method": "email", "code": "123456"}, want: 422, code: "flow_invalid"})
		transport(t, "POST", "/api/v1/password/reset/factor", "", factor("email", "123456"))
		h.do(t, req{method: "POST", path: "/api/v1/password/reset/factor/send", noAuth: true, body: map[string]any{"flow_token": reset}, want: 202})
		h.do(t, req{method: "POST", path: "/api/v1/password/reset/factor/send", noAuth: true, body: map[string]any{}, invalid: true, want: 422, code: "validation_failed"})
		transport(t, "POST", "/api/v1/password/reset/factor/send", "", map[string]any{"flow_token": reset})
		h.do(t, req{method: "POST", path: "/api/v1/password/reset/factor", noAuth: true, body: factor("email", "000000"), want: 422, code: "invalid_code"})
		h.do(t, req{method: "POST", path: "/api/v1/password/reset/factor", noAuth: true, body: factor("email", h.code(t, email, "code_reset_factor")), want: 200})

		np := func(p string) map[string]any { return map[string]any{"flow_token": reset, "new_password": p} }
		h.do(t, req{method: "POST", path: "/api/v1/password/reset", noAuth: true, body: np("password"), want: 422, code: "password_common"})
		h.do(t, req{method: "POST", path: "/api/v1/password/reset", noAuth: true, body: np(strings.Repeat("p", 1025)), invalid: true, want: 400, code: "password_too_long"})
		h.do(t, req{method: "POST", path: "/api/v1/password/reset", noAuth: true, body: map[string]any{"flow_token": reset}, invalid: true, want: 422, code: "validation_failed"})
		transport(t, "POST", "/api/v1/password/reset", "", np("a brand new passphrase"))
		h.do(t, req{method: "POST", path: "/api/v1/password/reset", noAuth: true, body: np("a brand new passphrase"), want: 204})
		h.do(t, req{method: "POST", path: "/api/v1/password/reset", noAuth: true, body: np("a brand new passphrase"), want: 422, code: "flow_invalid"})
		// REC-05: every session ended.
		h.do(t, req{method: "GET", path: "/api/v1/me", auth: bearer(full), want: 401, code: "unauthorized"})
	})

	t.Run("freeze", func(t *testing.T) {
		// A freeze link from a security notification (the reset's).
		link := h.message(t, email, identity.NotePasswordReset, freezeRE)
		h.do(t, req{method: "POST", path: "/api/v1/freeze", noAuth: true, body: map[string]any{"token": link}, want: 204})
		h.do(t, req{method: "POST", path: "/api/v1/freeze", noAuth: true, body: map[string]any{"token": link}, want: 204})
		h.do(t, req{method: "POST", path: "/api/v1/freeze", noAuth: true, body: map[string]any{"token": "no-such-link"}, want: 422, code: "flow_invalid"})
		h.do(t, req{method: "POST", path: "/api/v1/freeze", noAuth: true, body: map[string]any{"token": ""}, invalid: true, want: 422, code: "validation_failed"})
		transport(t, "POST", "/api/v1/freeze", "", map[string]any{"token": link})

		// A self-freeze, from a session still waiting for its second
		// factor (MFA-01 lets it).
		token := h.signUp(t, "wang.fang@example.com", "+86 138 0013 8003")
		h.do(t, req{method: "POST", path: "/api/v1/me/freeze", idem: newKey(), auth: bearer(token), body: `{"why": "x"}`, invalid: true, want: 400, code: "invalid_request"})
		h.do(t, req{method: "POST", path: "/api/v1/me/freeze", idem: newKey(), auth: bearer(token), body: big(map[string]any{}), want: 413, code: "request_too_large"})
		h.do(t, req{method: "POST", path: "/api/v1/me/freeze", idem: newKey(), auth: bearer(token), body: "x", ctype: "text/plain", invalid: true, want: 415, code: "unsupported_media_type"})
		h.do(t, req{method: "POST", path: "/api/v1/me/freeze", noAuth: true, invalid: true, want: 401, code: "unauthorized"})
		h.clock.Advance(61 * time.Second)
		aal1 := h.do(t, req{method: "POST", path: "/api/v1/sessions", noAuth: true, body: map[string]any{"identifier": "wang.fang@example.com", "password": pw}, want: 201}).str("token")
		r := h.do(t, req{method: "POST", path: "/api/v1/me/freeze", noAuth: true, cookie: aal1, idem: "freeze-1", want: 204})
		if !strings.Contains(r.header.Get("Set-Cookie"), "Max-Age=0") {
			t.Errorf("Set-Cookie %q", r.header.Get("Set-Cookie"))
		}
		h.do(t, req{method: "GET", path: "/api/v1/me", auth: bearer(token), want: 401, code: "unauthorized"})
		// Read-only access still works after a full login (RSK-05).
		h.clock.Advance(61 * time.Second)
		aal1 = h.do(t, req{method: "POST", path: "/api/v1/sessions", noAuth: true, body: map[string]any{"identifier": "wang.fang@example.com", "password": pw}, want: 201}).str("token")
		token = h.do(t, req{method: "POST", path: "/api/v1/mfa/verify", auth: bearer(aal1), body: map[string]any{"method": "sms", "code": h.code(t, "+8613800138003", "code_login")}, want: 200}).str("token")
		// The freeze's key belongs to the customer: another session may not
		// reuse it for another request.
		h.do(t, req{method: "POST", path: "/api/v1/me/freeze", auth: bearer(token), idem: "freeze-1", body: map[string]any{}, want: 422, code: "idempotency_key_reused"})
		if r := h.do(t, req{method: "GET", path: "/api/v1/me", auth: bearer(token), want: 200}); r.obj["frozen"] != true {
			t.Errorf("frozen: %s", r.raw)
		}
		h.id.token = token
	})

	// Passkeys, contact changes and refresh tokens (security_test.go).
	h.securityScenario(t, big, transport)
}

// signUp opens an account over the API and returns its session.
func (h *harness) signUp(t *testing.T, email, phone string) string {
	t.Helper()
	e164 := strings.ReplaceAll(phone, " ", "")
	flow := h.do(t, req{method: "POST", path: "/api/v1/signup", noAuth: true, body: map[string]any{"email": email, "phone": phone, "password": "maple lantern river 1987"}, want: 202}).str("flow_token")
	return h.do(t, req{method: "POST", path: "/api/v1/signup/verify", noAuth: true, body: map[string]any{"flow_token": flow,
		"email_code": h.code(t, email, "code_verify_email"), "phone_code": h.code(t, e164, "code_verify_phone")}, want: 200}).str("session", "token")
}

// identityWithoutDatabase lists identity requests that must fail cleanly
// (500, no internals) once the database is gone. (POST /api/v1/freeze is
// not among them: a link that fails its MAC is refused before the
// database, and a valid one cannot be made here.)
func (h *harness) identityWithoutDatabase() []req {
	tok := bearer(h.id.token)
	return []req{
		{method: "POST", path: "/api/v1/signup", noAuth: true, body: map[string]any{"email": "sun.li@example.com", "phone": "+86 138 0013 8009", "password": "maple lantern river 1987"}},
		{method: "POST", path: "/api/v1/signup/verify", noAuth: true, body: map[string]any{"flow_token": "some-flow", "email_code": "123456"}},
		{method: "POST", path: "/api/v1/signup/resend", noAuth: true, body: map[string]any{"flow_token": "some-flow", "channel": "email"}},
		{method: "POST", path: "/api/v1/sessions", noAuth: true, body: map[string]any{"identifier": "sun.li@example.com", "password": "maple lantern river 1987"}},
		{method: "POST", path: "/api/v1/password/forgot", noAuth: true, body: map[string]any{"identifier": "sun.li@example.com", "channel": "email"}},
		{method: "POST", path: "/api/v1/password/reset/code", noAuth: true, body: map[string]any{"flow_token": "some-flow", "code": "12345678"}},
		{method: "POST", path: "/api/v1/password/reset/factor/send", noAuth: true, body: map[string]any{"flow_token": "some-flow"}},
		{method: "POST", path: "/api/v1/password/reset/factor", noAuth: true, body: map[string]any{"flow_token": "some-flow", "method": "totp", "code": "123456"}},
		{method: "POST", path: "/api/v1/password/reset", noAuth: true, body: map[string]any{"flow_token": "some-flow", "new_password": "a brand new passphrase"}},
		{method: "GET", path: "/api/v1/me", auth: tok},
		{method: "GET", path: "/api/v1/sessions", auth: tok},
		{method: "DELETE", path: "/api/v1/sessions/current", auth: tok},
		{method: "POST", path: "/api/v1/sessions/ses_0000000000001/revoke", idem: newKey(), auth: tok},
		{method: "POST", path: "/api/v1/sessions/revoke-others", idem: newKey(), auth: tok},
		{method: "POST", path: "/api/v1/mfa/sms", auth: tok},
		{method: "POST", path: "/api/v1/mfa/verify", auth: tok, body: map[string]any{"method": "sms", "code": "123456"}},
		{method: "POST", path: "/api/v1/me/totp", idem: newKey(), auth: tok},
		{method: "POST", path: "/api/v1/me/totp/confirm", idem: newKey(), auth: tok, body: map[string]any{"code": "123456"}},
		{method: "DELETE", path: "/api/v1/me/totp", auth: tok},
		{method: "POST", path: "/api/v1/me/recovery-codes", idem: newKey(), auth: tok},
		{method: "POST", path: "/api/v1/me/password", idem: newKey(), auth: tok, body: map[string]any{"current_password": "x", "new_password": "a brand new passphrase"}},
		{method: "POST", path: "/api/v1/me/freeze", idem: newKey(), auth: tok},
		{method: "POST", path: "/api/v1/sessions/passkey", noAuth: true},
		{method: "POST", path: "/api/v1/sessions/passkey/finish", noAuth: true, body: map[string]any{"flow_id": "some-flow.AAAA", "credential": map[string]any{"id": "x"}}},
		{method: "POST", path: "/api/v1/sessions/refresh", noAuth: true, body: map[string]any{"refresh_token": "some-token"}},
		{method: "POST", path: "/api/v1/sessions/refresh-token", auth: tok},
		{method: "POST", path: "/api/v1/mfa/passkey", auth: tok},
		{method: "POST", path: "/api/v1/mfa/passkey/finish", auth: tok, body: map[string]any{"flow_id": "some-flow.AAAA", "credential": map[string]any{"id": "x"}}},
		{method: "GET", path: "/api/v1/me/passkeys", auth: tok},
		{method: "POST", path: "/api/v1/me/passkeys", auth: tok},
		{method: "POST", path: "/api/v1/me/passkeys/finish", idem: newKey(), auth: tok, body: map[string]any{"flow_id": "some-flow.AAAA", "credential": map[string]any{"id": "x"}}},
		{method: "POST", path: "/api/v1/me/passkeys/pkey_0000000000001/remove", idem: newKey(), auth: tok},
		{method: "POST", path: "/api/v1/me/email", idem: newKey(), auth: tok, body: map[string]any{"email": "sun.li@example.net"}},
		{method: "POST", path: "/api/v1/me/email/confirm", idem: newKey(), auth: tok, body: map[string]any{"code": "123456"}},
		{method: "POST", path: "/api/v1/me/phone", idem: newKey(), auth: tok, body: map[string]any{"phone": "+86 139 2222 4444"}},
		{method: "POST", path: "/api/v1/me/phone/confirm", idem: newKey(), auth: tok, body: map[string]any{"code": "123456"}},
	}
}
