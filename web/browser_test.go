package web_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/internal/browsertest"
)

// cspProbe runs before any page script and records CSP violations, so a test
// can read them with window.__cspViolations.
const cspProbe = `window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', function (e) {
  window.__cspViolations.push(e.violatedDirective + ' ' + (e.blockedURI || 'inline'));
});`

// pageProblems collects what the browser reports as wrong with the pages:
// exceptions, console errors and warnings, browser log errors (a CSP
// violation is one), failed loads and HTTP errors on sub-resources.
type pageProblems struct {
	mu       sync.Mutex
	list     []string
	stopped  bool
	expected map[string]bool // URLs whose error status the test expects
}

func (p *pageProblems) add(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.stopped {
		p.list = append(p.list, fmt.Sprintf(format, args...))
	}
}

func (p *pageProblems) take() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.list
	p.list = nil
	return l
}

func (p *pageProblems) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopped = true
}

func (p *pageProblems) expect(url string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.expected[url] = true
}

func (p *pageProblems) listen(ctx context.Context) error {
	return chromedp.Listen(ctx, func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			p.add("exception: %s", ev.ExceptionDetails.Text)
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeWarning {
				p.add("console.%s", ev.Type)
			}
		case *cdplog.EventEntryAdded:
			if ev.Entry.Level == cdplog.EntryLevelError || ev.Entry.Level == cdplog.EntryLevelWarning {
				p.mu.Lock()
				ok := p.expected[ev.Entry.URL]
				p.mu.Unlock()
				if !ok {
					p.add("log %s/%s: %s %s", ev.Entry.Source, ev.Entry.Level, ev.Entry.Text, ev.Entry.URL)
				}
			}
		case *network.EventLoadingFailed:
			if !ev.Canceled {
				p.add("load failed: %s %s %s", ev.Type, ev.ErrorText, ev.BlockedReason)
			}
		case *network.EventResponseReceived:
			p.mu.Lock()
			ok := p.expected[ev.Response.URL]
			p.mu.Unlock()
			if ev.Response.Status >= 400 && !ok {
				p.add("HTTP %d for %s", ev.Response.Status, ev.Response.URL)
			}
		}
	})
}

func TestBrowserLanguageSwitch(t *testing.T) {
	h, cat := newHandler(t)
	ts := httptest.NewServer(h) // closed after the browser (cleanups run in reverse)
	t.Cleanup(ts.Close)
	ctx := browsertest.New(t)

	problems := &pageProblems{expected: map[string]bool{}}
	if err := problems.listen(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument,
		page.AddScriptToEvaluateOnNewDocumentParams{Source: cspProbe}); err != nil {
		t.Fatal(err)
	}
	// The browser asks for English.
	if _, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
		Headers: network.Headers{"Accept-Language": "en-US,en;q=0.9"},
	}); err != nil {
		t.Fatal(err)
	}

	run := func(what string, step chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, step); err != nil {
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
	titleSel := chromedp.CSS(`[data-testid="home-title"]`)
	checkPage := func(step string, want i18n.Lang) {
		t.Helper()
		run(step+": wait for the title", chromedp.WaitVisible(titleSel))
		got, err := chromedp.Run(ctx, chromedp.Text(titleSel))
		if err != nil {
			t.Fatalf("%s: read title: %v", step, err)
		}
		if wantTitle := cat.T(want, "home.title", nil); strings.TrimSpace(got) != wantTitle {
			t.Errorf("%s: home-title = %q, want %q", step, got, wantTitle)
		}
		if lang := eval(`document.documentElement.lang`); lang != string(want) {
			t.Errorf("%s: html[lang] = %q, want %q", step, lang, want)
		}
		// The stylesheet loaded and applied (the CSP allows it).
		if pos := eval(`getComputedStyle(document.querySelector('.site-header')).position`); pos != "sticky" {
			t.Errorf("%s: app.css not applied (header position %q)", step, pos)
		}
		if v := eval(`JSON.stringify(window.__cspViolations || ['probe missing'])`); v != "[]" {
			t.Errorf("%s: CSP violations: %s", step, v)
		}
		if n := eval(`String(document.querySelectorAll('script:not([src]), style, [style]').length)`); n != "0" {
			t.Errorf("%s: %s inline scripts or styles", step, n)
		}
		pressed := map[i18n.Lang]string{i18n.ZhCN: "lang-zh", i18n.En: "lang-en"}[want]
		if v := eval(`document.querySelector('[data-testid="` + pressed + `"]').getAttribute('aria-pressed')`); v != "true" {
			t.Errorf("%s: %s aria-pressed = %q", step, pressed, v)
		}
		for _, p := range problems.take() {
			t.Errorf("%s: %s", step, p)
		}
	}
	clickAndLoad := func(what string, sel chromedp.CSS) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(sel))); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}

	// 1. English from Accept-Language.
	run("open home", chromedp.Navigate(ts.URL+"/"))
	checkPage("first visit", i18n.En)

	// 2. Switch to Chinese with the page's button.
	clickAndLoad("click lang-zh", `[data-testid="lang-zh"]`)
	checkPage("after switching to zh", i18n.ZhCN)
	if loc := eval(`location.pathname`); loc != "/" {
		t.Errorf("after switching: at %q, want /", loc)
	}

	// 3. The choice persists (cookie), although the header still asks for English.
	run("reload", chromedp.Reload())
	checkPage("after reload", i18n.ZhCN)
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{ts.URL}})
	if err != nil {
		t.Fatal(err)
	}
	var langCookie *network.Cookie
	for _, c := range res.Cookies {
		if c.Name == "lang" {
			langCookie = c
		}
	}
	if langCookie == nil || langCookie.Value != "zh-CN" || !langCookie.HTTPOnly || langCookie.SameSite != network.CookieSameSiteLax || langCookie.Session {
		t.Errorf("lang cookie = %+v", langCookie)
	}
	if v := eval(`document.cookie`); strings.Contains(v, "lang=") {
		t.Errorf("the lang cookie is readable from scripts: %q", v)
	}

	// 4. Back to English with the keyboard alone: focus the button, press Enter.
	run("focus lang-en", chromedp.Focus(chromedp.CSS(`[data-testid="lang-en"]`)))
	if _, err := chromedp.Run(ctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.KeyEvent("\r"))); err != nil {
		t.Fatalf("press Enter on lang-en: %v", err)
	}
	checkPage("after switching back by keyboard", i18n.En)

	// 5. The page fits a 360 px phone screen without sideways scrolling.
	run("phone viewport", chromedp.EmulateViewport(360, 740, chromedp.EmulateMobile))
	run("reload at 360", chromedp.Reload())
	checkPage("at 360 px", i18n.En)
	if v := eval(`String(document.documentElement.scrollWidth)`); v != "360" {
		t.Errorf("at 360 px the page is %s px wide", v)
	}
	run("desktop viewport", chromedp.EmulateViewport(1280, 800))

	// 6. Unknown addresses show the 404 page in the layout.
	problems.expect(ts.URL + "/no/such/page")
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(ts.URL+"/no/such/page"))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != 404 {
		t.Errorf("404 page: status %d", resp.Status)
	}
	txt, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`[data-testid="error-title"]`)))
	if err != nil {
		t.Fatal(err)
	}
	if want := cat.T(i18n.En, "notfound.title", nil); txt != want {
		t.Errorf("404 title = %q, want %q", txt, want)
	}
	for _, p := range problems.take() {
		t.Errorf("404 page: %s", p)
	}

	// 7. Control: the CSP really is enforced, and the probe sees violations.
	problems.stop()
	run("inject inline style", chromedp.Evaluate[chromedp.Void](
		`var s = document.createElement('style'); s.textContent = 'body{color:red}'; document.head.appendChild(s);`))
	v, err := chromedp.Run(ctx, chromedp.Poll[bool](`window.__cspViolations.length > 0`))
	if err != nil || !v {
		t.Errorf("an injected inline style caused no CSP violation (%v): is the CSP sent?", err)
	}
}
