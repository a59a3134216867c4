package paymethod_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/paymethod"
	"github.com/okpay/okpay/psp"
	"github.com/okpay/okpay/psp/sandbox"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

const linkCallback = "/account/methods/ewallets/callback"

// authorizeAt plays the owner on the sandbox's authorisation page: it
// allows (or denies) the link and returns the callback's query.
func (e *env) authorizeAt(auth, account string, allow bool) url.Values {
	e.t.Helper()
	u, err := url.Parse(auth)
	if err != nil {
		e.t.Fatal(err)
	}
	form := u.Query()
	form.Set("account", account)
	form.Set("action", map[bool]string{true: "allow", false: "deny"}[allow])
	req := httptest.NewRequest("POST", u.Path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	e.sb.Handler().ServeHTTP(w, req)
	if w.Code != http.StatusSeeOther {
		e.t.Fatalf("authorise: %d %s", w.Code, w.Body)
	}
	back, err := url.Parse(w.Header().Get("Location"))
	if err != nil || back.Path != linkCallback {
		e.t.Fatalf("sent back to %q", w.Header().Get("Location"))
	}
	return back.Query()
}

// CRD-10: an e-wallet linked by the provider's OAuth page is verified on
// the callback with the account the provider names; the state is bound to
// the session, used once, and expires; a denial adds nothing.
func TestCRD10_EWalletOAuthLink(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db, paymethod.Config{})
		u := e.user()
		start := func(binding string) string {
			t.Helper()
			auth, err := e.svc.StartEWalletLink(e.ctx, paymethod.NewEWalletLink{UserID: u, Provider: "Alipay", Binding: binding, StepUp: e.stepUp(), RedirectURI: linkCallback})
			if err != nil {
				t.Fatal(err)
			}
			return auth
		}
		_, err := e.svc.StartEWalletLink(e.ctx, paymethod.NewEWalletLink{UserID: u, Provider: "alipay", Binding: "sess-1", RedirectURI: linkCallback})
		wantCode(t, err, paymethod.EStepUpRequired)

		auth := start("sess-1")
		q := e.authorizeAt(auth, "Li.Wei@Example.com", true)
		// Another session, or another customer, cannot finish it.
		_, err = e.svc.FinishEWalletLink(e.ctx, u, "sess-2", q.Get("state"), q.Get("code"), "")
		wantCode(t, err, paymethod.ELinkInvalid)
		_, err = e.svc.FinishEWalletLink(e.ctx, e.user(), "sess-1", q.Get("state"), q.Get("code"), "")
		wantCode(t, err, paymethod.ELinkInvalid)
		m, err := e.svc.FinishEWalletLink(e.ctx, u, "sess-1", q.Get("state"), q.Get("code"), "")
		if err != nil {
			t.Fatal(err)
		}
		if m.Status != paymethod.StatusVerified || m.Kind != paymethod.KindEWallet || m.EWallet.LinkedBy != paymethod.LinkedByOAuth ||
			m.Label != "alipay l•••@example.com" || m.HoldUntil.IsZero() {
			t.Fatalf("linked: %+v %+v", m, m.EWallet)
		}
		if k := e.kinds(u); !slices.Equal(k, []string{paymethod.NoteAdded, paymethod.NoteVerified}) {
			t.Fatalf("notifications %v", k)
		}
		// Single use.
		_, err = e.svc.FinishEWalletLink(e.ctx, u, "sess-1", q.Get("state"), q.Get("code"), "")
		wantCode(t, err, paymethod.ELinkInvalid)
		// The same account again is a duplicate.
		q = e.authorizeAt(start("sess-1"), "li.wei@example.com", true)
		_, err = e.svc.FinishEWalletLink(e.ctx, u, "sess-1", q.Get("state"), q.Get("code"), "")
		wantCode(t, err, paymethod.EDuplicateMethod)

		// Denied at the provider.
		q = e.authorizeAt(start("sess-1"), "", false)
		_, err = e.svc.FinishEWalletLink(e.ctx, u, "sess-1", q.Get("state"), "", q.Get("error"))
		wantCode(t, err, paymethod.ELinkDenied)
		// A forged code.
		q = e.authorizeAt(start("sess-1"), "other@example.com", true)
		_, err = e.svc.FinishEWalletLink(e.ctx, u, "sess-1", q.Get("state"), "forged", "")
		wantCode(t, err, paymethod.ELinkInvalid)
		// Too late.
		q = e.authorizeAt(start("sess-1"), "other@example.com", true)
		e.clock.Advance(10*time.Minute + time.Second)
		_, err = e.svc.FinishEWalletLink(e.ctx, u, "sess-1", q.Get("state"), q.Get("code"), "")
		wantCode(t, err, paymethod.ELinkExpired)
		_, err = e.svc.FinishEWalletLink(e.ctx, u, "sess-1", "unknown-state", "x", "")
		wantCode(t, err, paymethod.ELinkInvalid)
		if list, _ := e.svc.List(e.ctx, u); len(list) != 1 {
			t.Fatalf("%d methods", len(list))
		}
	})
}

// noOAuth is a provider whose "paypal" has no OAuth link, as a real
// e-wallet without one answers; everything else is the sandbox's.
type noOAuth struct{ *sandbox.Sandbox }

func (p noOAuth) EWalletAuthURL(provider, state, challenge, redirectURI string) (string, error) {
	if provider == "paypal" {
		return "", okpay.Errorf(psp.ENoOAuth, "paypal links by code")
	}
	return p.Sandbox.EWalletAuthURL(provider, state, challenge, redirectURI)
}

// CRD-10 for clients that can do both (the JSON API): BeginEWalletLink
// says when the link stops being accepted, and the code path is closed to
// an e-wallet with an OAuth link but stays open to one without.
func TestCRD10_EWalletCodeOnlyWithoutOAuth(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db, paymethod.Config{EWalletLinkTTL: 7 * time.Minute})
		u := e.user()
		l, err := e.svc.BeginEWalletLink(e.ctx, paymethod.NewEWalletLink{UserID: u, Provider: " WeChat ", Binding: "sess-9", StepUp: e.stepUp(), RedirectURI: linkCallback})
		if err != nil {
			t.Fatal(err)
		}
		if l.Provider != "wechat" || !l.ExpiresAt.Equal(e.clock.Now().Add(7*time.Minute)) || !strings.Contains(l.AuthURL, "/sandbox/oauth/wechat/authorize?") {
			t.Fatalf("link %+v", l)
		}
		q := e.authorizeAt(l.AuthURL, "wxid_owner01", true)
		m, err := e.svc.FinishEWalletLink(e.ctx, u, "sess-9", q.Get("state"), q.Get("code"), "")
		if err != nil || m.EWallet.LinkedBy != paymethod.LinkedByOAuth {
			t.Fatalf("finish: %v %+v", err, m)
		}

		// The sandbox links every e-wallet by OAuth: no code path.
		_, err = e.svc.AddEWalletWithoutOAuth(e.ctx, paymethod.NewEWallet{UserID: u, Provider: "Alipay", Account: "li.wei@example.com", StepUp: e.stepUp()}, linkCallback)
		wantCode(t, err, paymethod.EOAuthRequired)
		// An e-wallet not offered is still a validation error.
		_, err = e.svc.AddEWalletWithoutOAuth(e.ctx, paymethod.NewEWallet{UserID: u, Provider: "bitcoin", Account: "li.wei@example.com", StepUp: e.stepUp()}, linkCallback)
		wantCode(t, err, okpay.EInvalid)

		// A provider without OAuth: the link is refused, the code goes on.
		svc, err := paymethod.New(paymethod.Deps{DB: e.db, Clock: e.clock, IDs: e.ids, Provider: noOAuth{e.sb}, Notifier: e.notes,
			Sealer: e.keys.Sealer("paymethod/account"), MAC: e.keys.MAC("paymethod"), InUse: e.inUse})
		if err != nil {
			t.Fatal(err)
		}
		_, err = svc.BeginEWalletLink(e.ctx, paymethod.NewEWalletLink{UserID: u, Provider: "paypal", Binding: "sess-9", StepUp: e.stepUp(), RedirectURI: linkCallback})
		wantCode(t, err, paymethod.ENoOAuth)
		_, err = svc.AddEWalletWithoutOAuth(e.ctx, paymethod.NewEWallet{UserID: u, Provider: "alipay", Account: "li.wei@example.com", StepUp: e.stepUp()}, linkCallback)
		wantCode(t, err, paymethod.EOAuthRequired)
		m, err = svc.AddEWalletWithoutOAuth(e.ctx, paymethod.NewEWallet{UserID: u, Provider: "paypal", Account: "li.wei@example.com", StepUp: e.stepUp()}, linkCallback)
		if err != nil {
			t.Fatal(err)
		}
		if m.Status != paymethod.StatusAwaitingCode || m.VerifyKind != paymethod.VerifyEWalletCode || m.EWallet.LinkedBy != paymethod.LinkedByCode {
			t.Fatalf("code path: %+v %+v", m, m.EWallet)
		}
	})
}
