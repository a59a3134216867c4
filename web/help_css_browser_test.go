package web_test

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/okpay/okpay/agent"
	"github.com/okpay/okpay/help"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/identity/passkey/passkeytest"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/internal/browsertest"
	"github.com/okpay/okpay/web"
)

// phoneLayoutJS checks the page as a 375 px phone shows it and returns
// what is wrong ("" when nothing): the page scrolls sideways; an element
// sticks out of the screen (a wide table scrolls inside its own box
// instead); text smaller than 13 px; a form control or button less than
// 36 px high or left in the browser's default look (no rounded border);
// a table head without its background.
const phoneLayoutJS = `(() => {
  const w = document.documentElement.clientWidth, bad = [];
  if (document.documentElement.scrollWidth > w) bad.push('page ' + document.documentElement.scrollWidth + 'px wide');
  const name = el => el.tagName.toLowerCase() + (el.dataset.testid ? '[' + el.dataset.testid + ']' : '') + (el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\s+/).join('.') : '');
  const scrolls = el => { for (let p = el.parentElement; p; p = p.parentElement) { const o = getComputedStyle(p).overflowX; if (o === 'auto' || o === 'scroll') return true; } return false; };
  const main = document.querySelector('main');
  for (const el of main.querySelectorAll('*')) {
    const r = el.getBoundingClientRect(), cs = getComputedStyle(el);
    if (r.width === 0 || r.height === 0 || cs.visibility === 'hidden') continue;
    if (r.right > w + 1 && !scrolls(el)) bad.push(name(el) + ' reaches ' + Math.round(r.right) + 'px');
    const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim() !== '');
    if (own && parseFloat(cs.fontSize) < 13) bad.push(name(el) + ' text ' + cs.fontSize);
    if (el.matches('input:not([type=hidden]), select, textarea, button, a.button')) {
      if (r.height < 36) bad.push(name(el) + ' ' + Math.round(r.height) + 'px high');
      if (!el.matches('.button-link') && cs.borderTopLeftRadius === '0px') bad.push(name(el) + ' unstyled');
    }
    if (el.matches('th') && cs.backgroundColor === 'rgba(0, 0, 0, 0)') bad.push(name(el) + ' without background');
  }
  return bad.slice(0, 12).join('; ');
})()`

// TestBrowserHelpPhoneLayout opens every help page — the index, a
// category, an article, its "Was this helpful?" answered, search results
// and a search that found nothing, in both languages — and the editor's
// pages (the list, an article, a preview, the reports) in real Chromium
// at 375 × 812 (a phone), and checks each with phoneLayoutJS. Every wait
// has 60 s.
func TestBrowserHelpPhoneLayout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	base := "http://localhost:" + port
	e := newStaffEnvAt(t, base, agent.Config{})
	svc, err := help.New(help.Config{DB: e.db, Clock: e.clock, IDs: &ids.Sequence{}, Contacts: help.Contacts{Email: "care@okpay.test", Phone: "+86 400 123 4567"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.LoadShipped(e.ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.server.EnableHelp(svc); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	e.server.Register(mux)
	e.mux = mux
	e.handler = web.SecurityHeaders(web.CrossOrigin(mux))
	ts := httptest.NewUnstartedServer(e.handler)
	ts.Listener.Close()
	ts.Listener = ln
	ts.Start()
	t.Cleanup(ts.Close)

	a, enr, err := e.staff.Create(e.ctx, e.cli, agent.NewAgent{Email: "help.editor@okpay.test", DisplayName: "Help Editor",
		Roles: []agent.Role{agent.RoleSupervisor}, Teams: []string{"general"}, Languages: []i18n.Lang{i18n.ZhCN, i18n.En}}, agent.Meta{IP: "cli"})
	if err != nil {
		t.Fatal(err)
	}
	ed := &staffMember{agent: a, password: "quiet lantern over the bay", auth: passkeytest.New(base, "localhost"), c: e.client()}
	e.enrolThroughPages(t, ed, enr)
	// A search that found nothing, for the reports page.
	if _, err := svc.Search(e.ctx, "zzqx nothing", i18n.En, 10); err != nil {
		t.Fatal(err)
	}
	art, err := svc.Published(e.ctx, "withdraw-money", i18n.En)
	if err != nil {
		t.Fatal(err)
	}

	root := browsertest.NewWithTimeout(t, 5*time.Minute)
	yes := true
	check := func(tab *deskTab, what string) {
		t.Helper()
		tab.until(what+": the page shows", `!!document.querySelector('[data-testid="page-title"]')`)
		if bad := tab.eval(phoneLayoutJS); bad != "" {
			t.Errorf("%s at 375 px: %s", what, bad)
		}
		tab.check(what)
	}
	for _, l := range i18n.Langs() {
		vis := newDeskTab(t, root, "visitor "+string(l), base, network.SetCookieParams{Name: i18n.CookieName, Value: string(l), Path: "/"})
		vis.do("phone viewport", chromedp.EmulateViewport(375, 812, chromedp.EmulateMobile))
		for _, p := range []string{"/help", "/help/" + help.CategoryTransaction.Path(), "/help/withdraw-money", "/help/contact-us",
			"/help/search?q=" + url.QueryEscape("提现 手续费 withdraw fee"), "/help/search?q=" + url.QueryEscape("zzqx nothing at all")} {
			vis.open(p)
			check(vis, string(l)+" "+p)
		}
		vis.open("/help/withdraw-money")
		vis.clickLoad("answer no", sel("help-no"))
		vis.until("the thanks", `!!document.querySelector('[data-testid="help-feedback-thanks"]')`)
		check(vis, string(l)+" after a vote")
	}

	staff := newDeskTab(t, root, "editor", base,
		network.SetCookieParams{Name: "__Host-agent", Value: ed.c.cookie("__Host-agent"), Path: "/", Secure: &yes, HTTPOnly: &yes, SameSite: network.CookieSameSiteStrict})
	staff.do("phone viewport", chromedp.EmulateViewport(375, 812, chromedp.EmulateMobile))
	for _, p := range []string{"/staff/help", "/staff/help/edit?id=" + art.Ref(), "/staff/help/edit", "/staff/help/misses"} {
		staff.open(p)
		check(staff, p)
	}
	staff.open("/staff/help/edit?id=" + art.Ref())
	staff.clickLoad("preview", sel("helped-preview-button"))
	staff.until("the preview", `!!document.querySelector('[data-testid="helped-preview"]')`)
	check(staff, "the editor's preview")
}
