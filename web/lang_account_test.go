package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/okpay/okpay/i18n"
)

// The language switch of a signed-in customer is also their account's
// language (what OKPay writes to them in), and signing in on a browser that
// has not chosen a language shows the site in the account's language.
func TestLanguageFollowsTheAccount(t *testing.T) {
	e := newAccountEnv(t)
	c := e.client()
	a := e.signUp(c) // an English page, so an English account
	if l := e.user(a).Lang; l != i18n.En {
		t.Fatalf("account language %q, want en", l)
	}
	if page := c.get("/account"); !strings.Contains(page.body, `data-testid="account-language">English<`) {
		t.Fatalf("the account page does not name the account's language:\n%s", excerpt(page.body))
	}

	// Switching while signed in changes the page and the account.
	res := c.post("/lang", url.Values{"lang": {"zh-CN"}, "next": {"/account"}})
	wantRedirect(t, res, "/account")
	if got := c.cookie(i18n.CookieName); got != "zh-CN" {
		t.Fatalf("lang cookie %q, want zh-CN", got)
	}
	if l := e.user(a).Lang; l != i18n.ZhCN {
		t.Fatalf("account language %q after the switch, want zh-CN", l)
	}

	// Another browser, English by its Accept-Language and without a
	// choice of its own: signed in, it shows the account's language.
	other := e.client()
	e.logIn(other, a)
	if got := other.cookie(i18n.CookieName); got != "zh-CN" {
		t.Fatalf("lang cookie %q after signing in on a new browser, want zh-CN", got)
	}
	home := other.get("/account")
	wantStatus(t, home, http.StatusOK)
	if !strings.Contains(home.body, `<html lang="zh-CN">`) || !strings.Contains(home.body, `data-testid="account-language">简体中文<`) {
		t.Fatalf("the account page after sign-in is not in Chinese or does not name the account's language:\n%s", excerpt(home.body))
	}

	// A browser that chose English keeps it when it signs in, and a
	// visitor's switch (no session) leaves the account alone.
	third := e.client()
	wantRedirect(t, third.post("/lang", url.Values{"lang": {"en"}, "next": {"/"}}), "/")
	if l := e.user(a).Lang; l != i18n.ZhCN {
		t.Fatalf("a signed-out switch changed the account's language to %q", l)
	}
	e.logIn(third, a)
	if got := third.cookie(i18n.CookieName); got != "en" {
		t.Fatalf("lang cookie %q after signing in, want the browser's own choice en", got)
	}
}
