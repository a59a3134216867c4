package web_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/internal/browsertest"
)

// TestBrowserHelpSearchChinese: a visitor switches the site to Chinese,
// searches the help center in Chinese, finds the withdrawal article at the
// top with the words marked, opens it (breadcrumbs, the article in
// Chinese) and answers "Was this helpful?". Every wait has 60 s.
func TestBrowserHelpSearchChinese(t *testing.T) {
	e, svc := newHelpEnv(t)
	ts := httptest.NewServer(e.handler)
	t.Cleanup(ts.Close)
	ctx := browsertest.NewWithTimeout(t, 4*time.Minute)
	if _, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
		Headers: network.Headers{"Accept-Language": "en-US,en;q=0.9"},
	}); err != nil {
		t.Fatal(err)
	}
	run := func(what string, step chromedp.Action[chromedp.Void]) {
		t.Helper()
		wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		if err := chromedp.Do(wctx, step); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	clickAndLoad := func(what string, sel string) {
		t.Helper()
		wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		if _, err := chromedp.Run(wctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(chromedp.CSS(sel)))); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	eval := func(js string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
		if err != nil {
			t.Fatalf("evaluate %s: %v", js, err)
		}
		return v
	}

	run("open the help center", chromedp.Navigate(ts.URL+"/help"))
	run("wait for the search box", chromedp.WaitVisible(chromedp.CSS(`[data-testid="help-q"]`)))
	clickAndLoad("switch to Chinese", `[data-testid="lang-zh"]`)
	run("wait for the Chinese page", chromedp.WaitVisible(chromedp.CSS(`[data-testid="help-q"]`)))
	if got := eval(`document.querySelector('[data-testid="page-title"]').textContent`); got != e.text(i18n.ZhCN, "help.title") {
		t.Fatalf("title %q", got)
	}
	run("type the question", chromedp.SetValue(chromedp.CSS(`[data-testid="help-q"]`), "提现要多久到账"))
	clickAndLoad("search", `[data-testid="help-search-submit"]`)
	run("wait for the results", chromedp.WaitVisible(chromedp.CSS(`[data-testid="help-hit"]`)))
	if first := eval(`document.querySelector('[data-testid="help-hit"]').dataset.slug`); first != "withdraw-money" {
		t.Fatalf("first hit %q, want withdraw-money", first)
	}
	if marks := eval(`String(document.querySelectorAll('[data-testid="help-hit"] mark').length)`); marks == "0" {
		t.Error("no highlighted words in the results")
	}
	clickAndLoad("open the first hit", `[data-testid="help-hit"] a`)
	run("wait for the article", chromedp.WaitVisible(chromedp.CSS(`[data-testid="help-article"]`)))
	a, _ := svc.Published(e.ctx, "withdraw-money", i18n.ZhCN)
	if got := strings.TrimSpace(eval(`document.querySelector('[data-testid="page-title"]').textContent`)); got != a.Title {
		t.Fatalf("article title %q, want %q", got, a.Title)
	}
	if crumbs := eval(`document.querySelector('[data-testid="help-crumbs"]').textContent`); !strings.Contains(crumbs, e.text(i18n.ZhCN, "help.category.transaction")) {
		t.Errorf("breadcrumbs %q", crumbs)
	}
	clickAndLoad("answer yes", `[data-testid="help-yes"]`)
	run("wait for the thanks", chromedp.WaitVisible(chromedp.CSS(`[data-testid="help-feedback-thanks"]`)))
	if got, _ := svc.Get(e.ctx, a.ID); got.HelpfulYes != 1 {
		t.Fatalf("votes %d", got.HelpfulYes)
	}
}
