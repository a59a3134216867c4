package httpapi

import (
	"context"
	"encoding/base32"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/identity/geoip"
	"github.com/okpay/okpay/identity/geoip/geoiptest"
	"github.com/okpay/okpay/identity/otp"
	"github.com/okpay/okpay/identity/risk"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

// userID is the numeric id of a customer.
func (c *customer) userID(t testing.TB) int64 {
	id, ok := ids.Parse(identity.UserPrefix, c.id)
	if !ok {
		t.Fatalf("user id %q", c.id)
	}
	return id
}

// PWD-08 over the API: a customer whose password is marked compromised
// signs in as always, and then every route but me, the password change,
// logout, freeze and the second-factor steps answers 403
// password_change_required, until the password changes.
func TestPWD08_APIRequiresThePasswordChangeFirst(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		f := newIDFixture(t, db)
		c := f.signUp("")
		if me := f.want(f.do(call{method: "GET", path: "/api/v1/me", token: c.token}), 200, ""); me.obj["password_change_required"] != false {
			t.Fatalf("me: %s", me.raw)
		}
		if err := f.svc.MarkCompromised(context.Background(), c.userID(t), "agent:test", "case_1", "found in a breach corpus", identity.Meta{}); err != nil {
			t.Fatal(err)
		}
		f.want(f.do(call{method: "GET", path: "/api/v1/me", token: c.token}), 401, "unauthorized")
		token := f.login(c, "")
		if me := f.want(f.do(call{method: "GET", path: "/api/v1/me", token: token}), 200, ""); me.obj["password_change_required"] != true {
			t.Fatalf("me: %s", me.raw)
		}
		// Every other customer route, as the route table says.
		gated := 0
		for _, rt := range identityRoutes {
			key := rt.Method + " " + rt.Pattern
			if rt.Auth == AuthPublic || passwordChangeAllowed[key] {
				continue
			}
			path := strings.ReplaceAll(rt.Pattern, "{id}", "ses_0000000000001")
			r := f.want(f.do(call{method: rt.Method, path: path, token: token, body: "{}"}), 403, identity.EPasswordChangeRequired)
			if !strings.Contains(r.str("detail"), "password") {
				t.Errorf("%s: detail %q", key, r.str("detail"))
			}
			gated++
		}
		if gated < 15 {
			t.Fatalf("only %d routes gated", gated)
		}
		zh := f.want(f.do(call{method: "GET", path: "/api/v1/sessions", token: token, header: map[string]string{"Accept-Language": "zh-CN"}}), 403, identity.EPasswordChangeRequired)
		if !strings.Contains(zh.str("detail"), "密码") {
			t.Fatalf("zh-CN detail %q", zh.str("detail"))
		}
		// The allowed ones work: a step-up ...
		f.clock.Advance(11 * time.Minute)
		f.want(f.do(call{method: "POST", path: "/api/v1/me/password", token: token, key: "pw-1",
			body: map[string]any{"current_password": c.password, "new_password": "a fresh long passphrase"}}), 403, "step_up_required")
		token = f.stepUp(c, token)
		// ... and the change, which lifts the gate.
		f.want(f.do(call{method: "POST", path: "/api/v1/me/password", token: token, key: "pw-2",
			body: map[string]any{"current_password": c.password, "new_password": "a fresh long passphrase"}}), 204, "")
		f.want(f.do(call{method: "GET", path: "/api/v1/sessions", token: token}), 200, "")
		if me := f.want(f.do(call{method: "GET", path: "/api/v1/me", token: token}), 200, ""); me.obj["password_change_required"] != false {
			t.Fatalf("me after the change: %s", me.raw)
		}
		// Logout is allowed while forced.
		if err := f.svc.MarkCompromised(context.Background(), c.userID(t), "agent:test", "", "again", identity.Meta{}); err != nil {
			t.Fatal(err)
		}
		c.password = "a fresh long passphrase"
		token = f.login(c, "")
		f.want(f.do(call{method: "DELETE", path: "/api/v1/sessions/current", token: token}), 204, "")
	})
}

// MFA-09 over the API: removing the authenticator app after an SMS
// step-up is 403 stronger_factor_required with the methods that would do;
// after a step-up with the app it works.
func TestMFA09_APIRemovalNeedsAStrongerStepUp(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		f := newIDFixture(t, db)
		c := f.signUp("")
		setup := f.want(f.do(call{method: "POST", path: "/api/v1/me/totp", token: c.token, key: "t-1"}), 201, "")
		key, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(setup.str("secret"))
		if err != nil {
			t.Fatal(err)
		}
		f.want(f.do(call{method: "POST", path: "/api/v1/me/totp/confirm", token: c.token, key: "t-2", body: map[string]any{"code": otp.TOTPCode(key, f.clock.Now())}}), 204, "")
		r := f.want(f.do(call{method: "DELETE", path: "/api/v1/me/totp", token: c.token}), 403, identity.EStrongerFactorRequired)
		var accepted []string
		for _, m := range r.obj["accepted_methods"].([]any) {
			accepted = append(accepted, m.(string))
		}
		if !slices.Equal(accepted, []string{"passkey", "totp"}) || !strings.Contains(r.str("detail"), "authenticator app") {
			t.Fatalf("problem: %s", r.raw)
		}
		zh := f.want(f.do(call{method: "POST", path: "/api/v1/me/totp", token: c.token, key: "t-3", header: map[string]string{"Accept-Language": "zh-CN"}}), 403, identity.EStrongerFactorRequired)
		if !strings.Contains(zh.str("detail"), "通行密钥") || zh.obj["accepted_methods"] == nil {
			t.Fatalf("zh-CN problem: %s", zh.raw)
		}
		f.clock.Advance(30 * time.Second)
		up := f.want(f.do(call{method: "POST", path: "/api/v1/mfa/verify", token: c.token, body: map[string]any{"method": "totp", "code": otp.TOTPCode(key, f.clock.Now())}}), 200, "")
		f.want(f.do(call{method: "DELETE", path: "/api/v1/me/totp", token: up.str("token")}), 204, "")
	})
}

// SES-05 and RSK-04 over the API: with a GeoIP database the sessions
// list says where each session is (null when unknown), and two sign-ins
// from Shanghai and Tokyo a minute apart freeze the account.
func TestSES05_APISessionsShowTheLocationAndTravelFreezes(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		geo, err := geoip.OpenBytes(mustGeoIP(t))
		if err != nil {
			t.Fatal(err)
		}
		f := newIDFixtureWith(t, db, func(d *identity.Deps) { d.Locator = geo })
		c := f.signUp("127.0.0.1") // Shanghai
		list := f.want(f.do(call{method: "GET", path: "/api/v1/sessions", token: c.token}), 200, "").obj["data"].([]any)
		loc, _ := list[0].(map[string]any)["location"].(map[string]any)
		if loc["city"] != "Shanghai" || loc["country"] != "CN" || loc["label"] != "Shanghai, CN" {
			t.Fatalf("location %v", list[0])
		}
		f.clock.Advance(3 * time.Hour)
		f.login(c, "127.0.0.5") // country only (CN)
		f.login(c, "127.0.0.9") // unknown
		tok := f.login(c, "127.0.0.1")
		labels := map[string]any{}
		for _, s := range f.want(f.do(call{method: "GET", path: "/api/v1/sessions", token: tok}), 200, "").obj["data"].([]any) {
			m := s.(map[string]any)
			labels[m["ip"].(string)] = m["location"]
		}
		if cn, _ := labels["127.0.0.5"].(map[string]any); cn["city"] != nil || cn["country"] != "CN" || cn["label"] != "CN" {
			t.Fatalf("country-only location %v", labels)
		}
		if labels["127.0.0.9"] != nil {
			t.Fatalf("unknown location %v", labels)
		}

		// Tokyo a minute after Shanghai: frozen, that sign-in read-only.
		tokyo := f.login(c, "127.0.0.2")
		me := f.want(f.do(call{method: "GET", path: "/api/v1/me", token: tokyo}), 200, "")
		if me.obj["frozen"] != true {
			t.Fatalf("after impossible travel: %s", me.raw)
		}
		f.want(f.do(call{method: "GET", path: "/api/v1/me", token: tok}), 401, "unauthorized")
		u, _ := f.svc.FindUser(context.Background(), c.userID(t))
		if u.FrozenReason != "auto:"+risk.RuleImpossibleTravel {
			t.Fatalf("frozen reason %q", u.FrozenReason)
		}
	})
}

func mustGeoIP(t testing.TB) []byte {
	t.Helper()
	b, err := geoiptest.Build()
	if err != nil {
		t.Fatal(err)
	}
	return b
}
