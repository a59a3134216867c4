package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

// FuzzIdentityRequests feeds arbitrary bodies to every identity route that
// takes one, on a real service: whatever the body, the answer is never a
// 5xx (nor a panic, which observe would turn into one), and an error is a
// problem document with a known code (REL-08: JSON request decoders).
func FuzzIdentityRequests(f *testing.F) {
	fx := newIDFixture(f, sqldbtest.Open(f, sqldb.SQLite))
	var posts []Route
	for _, rt := range identityRoutes {
		if rt.Method == "POST" {
			posts = append(posts, rt)
		}
	}
	seeds := map[string][]string{
		"/api/v1/signup":                     {`{"email":"fuzz@example.com","phone":"+8613800138000","password":"a long enough passphrase","lang":"zh-CN"}`, `{"email":1}`, `{"password":"` + strings.Repeat("x", 1100) + `"}`},
		"/api/v1/signup/verify":              {`{"flow_token":"abc","email_code":"123456","phone_code":"12 34 56"}`, `{"flow_token":null}`},
		"/api/v1/signup/resend":              {`{"flow_token":"abc","channel":"sms"}`, `{"channel":"fax"}`},
		"/api/v1/sessions":                   {`{"identifier":"fuzz@example.com","password":"a long enough passphrase"}`, `{"identifier":"+8613800138000","password":"x"}`},
		"/api/v1/sessions/{id}/revoke":       {`{}`, ``, `[]`},
		"/api/v1/sessions/revoke-others":     {`{}`, `{"all":true}`},
		"/api/v1/mfa/sms":                    {`{}`, `null`},
		"/api/v1/mfa/verify":                 {`{"method":"sms","code":"123456"}`, `{"method":"recovery_code","code":"0K3M-7QX2-HB9T-4RZD"}`, `{"method":"totp","code":"١٢٣٤٥٦"}`},
		"/api/v1/me/totp":                    {`{}`},
		"/api/v1/me/totp/confirm":            {`{"code":"123456"}`, `{"code":""}`},
		"/api/v1/me/recovery-codes":          {`{}`},
		"/api/v1/me/password":                {`{"current_password":"x","new_password":"another fine passphrase"}`, `{"current_password":"` + strings.Repeat("é", 600) + `","new_password":"y"}`},
		"/api/v1/me/freeze":                  {`{}`},
		"/api/v1/sessions/passkey/finish":    {`{"flow_id":"abc.def","credential":{"id":"x","type":"public-key","response":{}}}`, `{"flow_id":"x","credential":[]}`, `{"flow_id":"x","credential":null,"client":"tv"}`},
		"/api/v1/sessions/refresh":           {`{"refresh_token":"abc"}`, `{"refresh_token":""}`},
		"/api/v1/mfa/passkey/finish":         {`{"flow_id":"abc.def","credential":{},"client":"mobile"}`},
		"/api/v1/me/passkeys/finish":         {`{"flow_id":"abc.def","credential":{"id":"x"},"label":"` + strings.Repeat("é", 70) + `"}`},
		"/api/v1/me/email":                   {`{"email":"new@example.com"}`, `{"email":"not an email"}`},
		"/api/v1/me/phone":                   {`{"phone":"+8613911112222"}`, `{"phone":"12"}`},
		"/api/v1/me/email/confirm":           {`{"code":"123456"}`},
		"/api/v1/me/phone/confirm":           {`{"code":"12 34 56"}`},
		"/api/v1/password/forgot":            {`{"identifier":"fuzz@example.com","channel":"email"}`, `{"identifier":"+86 138 0013 8000","channel":"sms"}`},
		"/api/v1/password/reset/code":        {`{"flow_token":"abc","code":"12345678"}`},
		"/api/v1/password/reset/factor/send": {`{"flow_token":"abc"}`},
		"/api/v1/password/reset/factor":      {`{"flow_token":"abc","method":"email","code":"123456"}`},
		"/api/v1/password/reset":             {`{"flow_token":"abc","new_password":"a long enough passphrase"}`},
		"/api/v1/freeze":                     {`{"token":"abc"}`, `{"token":"` + strings.Repeat("A", 200) + `"}`},
	}
	for i, rt := range posts {
		for _, s := range append(seeds[rt.Pattern], `{`, `{"a":[[[[[[[[[[1]]]]]]]]]]}`, "\xff\xfe", `{"flow_token":"x"} {}`) {
			f.Add(uint8(i), s)
		}
	}
	codes := ErrorCodes()
	var token string
	n, keys := 0, 0
	f.Fuzz(func(t *testing.T, which uint8, body string) {
		rt := posts[int(which)%len(posts)]
		path := strings.ReplaceAll(rt.Pattern, "{id}", "ses_0000000000001")
		r := httptest.NewRequest(rt.Method, path, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		if rt.Auth != AuthPublic {
			if _, _, err := fx.svc.Authenticate(context.Background(), token); err != nil {
				n++
				token = fx.sessionFor(t, n)
			}
			r.Header.Set("Authorization", "Bearer "+token)
		}
		if rt.Idempotency == IdemRequired {
			keys++ // a fresh key: the body, not a stored answer, is fuzzed
			r.Header.Set("Idempotency-Key", fmt.Sprintf("fuzz-%d", keys))
		}
		w := httptest.NewRecorder()
		fx.api.Observe(fx.mux).ServeHTTP(w, r)
		if w.Code >= 500 {
			t.Fatalf("%s %s %q: %d %s", rt.Method, path, body, w.Code, w.Body)
		}
		if w.Body.Len() == 0 {
			if w.Code != 204 {
				t.Fatalf("%s %s %q: %d with no body", rt.Method, path, body, w.Code)
			}
			return
		}
		var out map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
			t.Fatalf("%s %s %q: %d, not JSON: %s", rt.Method, path, body, w.Code, w.Body)
		}
		if w.Code >= 400 {
			code, _ := out["code"].(string)
			if w.Header().Get("Content-Type") != "application/problem+json" || !slices.Contains(codes, code) {
				t.Fatalf("%s %s %q: %d %s", rt.Method, path, body, w.Code, w.Body)
			}
		}
	})
}

// sessionFor signs up a fresh account through the service (not the API,
// whose answers are what is being fuzzed) and returns its AAL2 session.
func (f *idFixture) sessionFor(t *testing.T, n int) string {
	t.Helper()
	ctx := context.Background()
	m := identity.Meta{IP: fmt.Sprintf("10.9.%d.%d", n/250, n%250)}
	email, phone := fmt.Sprintf("fuzz%d@example.net", n), fmt.Sprintf("+86139%08d", n)
	flow, err := f.svc.Register(ctx, identity.RegisterInput{Email: email, Phone: phone, Password: "a long enough passphrase"}, m)
	if err != nil {
		t.Fatal(err)
	}
	_, token, err := f.svc.VerifySignup(ctx, flow.Token, f.codeT(t, email, "code_verify_email"), f.codeT(t, phone, "code_verify_phone"), m)
	if err != nil {
		t.Fatal(err)
	}
	return token
}
