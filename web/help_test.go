package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/okpay/okpay/agent"
	"github.com/okpay/okpay/clock"
	"github.com/okpay/okpay/help"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/web"
)

// newHelpEnv is the staff environment with the help center on, its
// shipped articles loaded.
func newHelpEnv(t *testing.T) (*staffEnv, *help.Service) {
	t.Helper()
	e := newStaffEnv(t, agent.Config{})
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
	return e, svc
}

var _ clock.Clock = (*clock.Manual)(nil)

func TestHelpPagesBothLanguages(t *testing.T) {
	t.Parallel()
	e, _ := newHelpEnv(t)
	for _, l := range i18n.Langs() {
		c := e.client()
		c.lang = string(l)
		res := c.get("/help")
		wantStatus(t, res, http.StatusOK)
		wantContains(t, res.body, e.text(l, "help.title"), `href="/help/withdraw-money"`, `href="/help/security-privacy"`, `data-testid="nav-help"`)
		if got := strings.Count(res.body, `data-testid="help-section"`); got != len(help.Categories()) {
			t.Errorf("%s: %d sections", l, got)
		}
		res = c.get("/help/security-privacy")
		wantStatus(t, res, http.StatusOK)
		wantContains(t, res.body, e.text(l, "help.category.security_privacy"), `data-slug="account-stolen"`, `data-testid="help-crumbs"`)

		res = c.get("/help/account-stolen")
		wantStatus(t, res, http.StatusOK)
		// Breadcrumbs: help center > category > the article.
		wantContains(t, res.body, `<a href="/help">`+e.text(l, "help.title")+`</a>`, `<a href="/help/security-privacy">`,
			`aria-current="page"`, `data-testid="help-related"`, `href="/account/freeze"`, `lang="`+string(l)+`"`)
		// The contact placeholders are filled.
		res = c.get("/help/contact-us")
		wantContains(t, res.body, "care@okpay.test", "+86 400 123 4567")
		if strings.Contains(res.body, "{support_") {
			t.Errorf("%s: placeholder left in the contact article", l)
		}
	}
	c := e.client()
	wantStatus(t, c.get("/help/no-such-article"), http.StatusNotFound)
	wantStatus(t, c.get("/help/Bad_Slug"), http.StatusNotFound)
}

func TestHelpSearchPage(t *testing.T) {
	t.Parallel()
	e, svc := newHelpEnv(t)
	c := e.client()
	c.lang = "zh-CN"
	res := c.get("/help/search?q=" + url.QueryEscape("提现 手续费"))
	wantStatus(t, res, http.StatusOK)
	wantContains(t, res.body, `data-testid="help-hit" data-slug="fees-and-limits"`, "<mark>手续费</mark>")
	// The query is escaped wherever it is shown; only our <mark> is HTML.
	res = c.get("/help/search?q=" + url.QueryEscape(`<script>alert(1)</script> withdraw`))
	wantStatus(t, res, http.StatusOK)
	if strings.Contains(res.body, "<script>alert(1)") {
		t.Fatal("query not escaped")
	}
	// English on the Chinese page falls back to the English articles.
	res = c.get("/help/search?q=" + url.QueryEscape("two-step verification"))
	wantContains(t, res.body, `data-testid="help-hit" data-slug="account-security"`, `data-testid="help-other-lang"`)
	// The count agrees with what is listed, in the singular for one.
	c.lang = "en"
	for _, q := range []string{"two-step verification", "withdraw", "card"} {
		res = c.get("/help/search?q=" + url.QueryEscape(q))
		n := strings.Count(res.body, `data-testid="help-hit"`)
		want := e.text(i18n.En, "help.search.count", "N", n, "Query", q)
		if n == 1 {
			want = e.text(i18n.En, "help.search.count_one", "Query", q)
		}
		if n == 0 || !strings.Contains(res.body, want) {
			t.Errorf("%q: %d hits, the page lacks %q", q, n, want)
		}
	}
	c.lang = "zh-CN"
	// Nothing found: said so, and counted for the staff report.
	res = c.get("/help/search?q=" + url.QueryEscape("比特币挖矿"))
	wantContains(t, res.body, `data-testid="help-no-results"`)
	m, err := svc.Misses(e.ctx, 10)
	if err != nil || len(m) != 1 || m[0].Query != "比特币挖矿" {
		t.Fatalf("misses %v %+v", err, m)
	}
}

func TestHelpFeedback(t *testing.T) {
	t.Parallel()
	e, svc := newHelpEnv(t)
	c := e.client()
	res := c.post("/help/withdraw-money/feedback", url.Values{"helpful": {"yes"}})
	wantRedirect(t, res, "/help/withdraw-money?voted=yes")
	res = c.get("/help/withdraw-money?voted=yes")
	wantContains(t, res.body, `data-testid="help-feedback-thanks"`)
	a, _ := svc.Published(e.ctx, "withdraw-money", i18n.En)
	if a.HelpfulYes != 1 {
		t.Fatalf("yes %d", a.HelpfulYes)
	}
	// The vote is stored under the keyring's HMAC of the address, not the
	// address or a plain hash of it.
	vk, err := help.NewVoterKeys(e.id.Keys)
	if err != nil {
		t.Fatal(err)
	}
	var stored string
	if err := e.db.Read.QueryRowContext(e.ctx, `SELECT visitor FROM help_feedback WHERE article_id = $1`, a.ID).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored != vk.Key("ip", c.ip) || strings.Contains(stored, c.ip) {
		t.Errorf("the vote is stored under %q", stored)
	}
	wantStatus(t, c.post("/help/withdraw-money/feedback", url.Values{"helpful": {"maybe"}}), http.StatusBadRequest)
	wantStatus(t, c.post("/help/nothing-here/feedback", url.Values{"helpful": {"no"}}), http.StatusNotFound)
	// One address votes on every article, and then is told to wait.
	for i := range 5 {
		x, err := svc.Create(e.ctx, 1, help.Input{Slug: "extra-" + string(rune('a'+i)), Locale: i18n.En, Category: help.CategoryTechnical, Title: "Extra", Body: "Extra."})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.SetStatus(e.ctx, x.ID, true); err != nil {
			t.Fatal(err)
		}
	}
	all, _ := svc.All(e.ctx)
	limited := false
	for i := 0; i < 2*help.FeedbackPerHour && !limited; i++ {
		x := all[i%len(all)]
		c.lang = string(x.Locale)
		res := c.post("/help/"+x.Slug+"/feedback", url.Values{"helpful": {"no"}})
		if res.StatusCode == http.StatusTooManyRequests {
			limited = true
			wantContains(t, res.body, e.text(x.Locale, "help.feedback.limited"))
		}
		e.clock.Advance(1)
	}
	if !limited {
		t.Fatal("votes never limited")
	}
	// A cross-site vote is refused before any handler.
	res = c.doHeaders(http.MethodPost, "/help/withdraw-money/feedback", url.Values{"helpful": {"yes"}}, map[string]string{"Sec-Fetch-Site": "cross-site"})
	wantStatus(t, res, http.StatusForbidden)
}
