package web_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/okpay/okpay/agent"
	"github.com/okpay/okpay/help"
	"github.com/okpay/okpay/i18n"
)

// TestHelpEditorRBAC: every editor route answers each role as the
// matrix says (403 without the permission, never a sign-in redirect or
// a server error with it), and an anonymous visitor is sent to sign in.
func TestHelpEditorRBAC(t *testing.T) {
	t.Parallel()
	e, svc := newHelpEnv(t)
	members := map[agent.Role]*staffMember{}
	for _, r := range agent.Roles() {
		members[r] = e.newMember(t, r)
	}
	a, _ := svc.Published(e.ctx, "withdraw-money", i18n.En)
	anon := e.client()
	n := 0
	for _, rt := range e.server.StaffRoutes() {
		if !strings.HasPrefix(rt.Pattern, "/staff/help") {
			continue
		}
		n++
		target := rt.Pattern
		if rt.Method == http.MethodGet && rt.Pattern == "/staff/help/edit" {
			target += "?id=" + a.Ref()
		}
		do := func(c *client) *response {
			if rt.Method == http.MethodPost {
				return c.post(target, url.Values{})
			}
			return c.get(target)
		}
		wantRedirect(t, do(anon), "/staff/login")
		for _, r := range agent.Roles() {
			res := do(members[r].c)
			may := agent.RoleHas(r, rt.Perm)
			switch {
			case !may && res.StatusCode != http.StatusForbidden:
				t.Errorf("%s %s as %s: %d, want 403", rt.Method, target, r, res.StatusCode)
			case may && (res.StatusCode == http.StatusForbidden || res.StatusCode >= 500 || res.StatusCode == http.StatusSeeOther && strings.HasPrefix(res.Header.Get("Location"), "/staff/login")):
				t.Errorf("%s %s as %s: %d, want it allowed", rt.Method, target, r, res.StatusCode)
			}
		}
	}
	if n != 5 {
		t.Fatalf("%d editor routes", n)
	}
	if !agent.RoleHas(agent.RoleSupervisor, agent.PermArticleManage) || !agent.RoleHas(agent.RoleAdmin, agent.PermArticleManage) ||
		agent.RoleHas(agent.RoleAgent, agent.PermArticleManage) || agent.RoleHas(agent.RoleRisk, agent.PermArticleManage) {
		t.Error("article:manage is not exactly the supervisors' and admins'")
	}
}

var artRef = regexp.MustCompile(`/staff/help/edit\?id=(art_[0-9a-z]+)`)

func TestHelpEditorFlow(t *testing.T) {
	t.Parallel()
	e, svc := newHelpEnv(t)
	ed := e.newMember(t, agent.RoleSupervisor)
	c := ed.c
	res := c.get("/staff/help")
	wantStatus(t, res, http.StatusOK)
	wantContains(t, res.body, `data-slug="withdraw-money" data-locale="zh-CN" data-status="published"`, `data-testid="nav-staff-help"`)
	// Languages are named, not coded, in the list and the editor's choice.
	if !regexp.MustCompile(`(?s)data-slug="withdraw-money" data-locale="zh-CN" data-status="published">.*?<td>简体中文</td>`).MatchString(res.body) {
		t.Error("the list does not name the article's language")
	}
	wantContains(t, c.get("/staff/help/edit").body, `<option value="en" selected>English</option>`, `<option value="zh-CN">简体中文</option>`)

	form := url.Values{"slug": {"red-envelopes"}, "locale": {"en"}, "category": {"technical"}, "title": {"Red envelopes"},
		"keywords": {"hongbao gift"}, "body": {"Send a **red envelope** <script>alert(1)</script>"}}
	// Preview renders safely and saves nothing.
	pv := url.Values{}
	for k, v := range form {
		pv[k] = v
	}
	pv.Set("action", "preview")
	res = c.post("/staff/help/save", pv)
	wantStatus(t, res, http.StatusOK)
	wantContains(t, res.body, `data-testid="helped-preview"`, "<strong>red envelope</strong>")
	if strings.Contains(res.body, "<script>alert(1)") {
		t.Fatal("preview runs a script")
	}
	if all, _ := svc.All(e.ctx); len(all) != 18 {
		t.Fatalf("preview saved: %d articles", len(all))
	}
	// Invalid: shown next to the field.
	bad := url.Values{"slug": {"Not A Slug"}, "locale": {"en"}, "category": {"technical"}, "title": {"x"}, "body": {"x"}}
	res = c.post("/staff/help/save", bad)
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantContains(t, res.body, e.text(i18n.En, "helped.error.slug"))
	// Create: a draft, not public.
	form.Set("action", "save")
	res = c.post("/staff/help/save", form)
	wantRedirect(t, res, "/staff/help/edit?id=art_")
	ref := artRef.FindStringSubmatch(res.Header.Get("Location"))[1]
	wantStatus(t, e.client().get("/help/red-envelopes"), http.StatusNotFound)
	// Edit: a second revision.
	form.Set("id", ref)
	form.Set("body", "Red envelopes are sent from the wallet.")
	form.Set("note", "simpler")
	wantRedirect(t, c.post("/staff/help/save", form), "/staff/help/edit?id="+ref)
	res = c.get("/staff/help/edit?id=" + ref)
	wantContains(t, res.body, `data-number="2"`, `data-number="1"`, "simpler", e.text(i18n.En, "helped.status.draft"))
	// Publish: public and searchable; unpublish: gone again.
	wantRedirect(t, c.post("/staff/help/publish", url.Values{"id": {ref}}), "/staff/help?done=published")
	res = e.client().get("/help/red-envelopes")
	wantStatus(t, res, http.StatusOK)
	wantContains(t, res.body, "Red envelopes are sent from the wallet.")
	res = e.client().get("/help/search?q=hongbao")
	wantContains(t, res.body, `data-slug="red-envelopes"`)
	wantRedirect(t, c.post("/staff/help/publish", url.Values{"id": {ref}, "publish": {"0"}}), "/staff/help?done=unpublished")
	wantStatus(t, e.client().get("/help/red-envelopes"), http.StatusNotFound)
	// The same slug again in English is taken.
	delete(form, "id")
	res = c.post("/staff/help/save", form)
	wantContains(t, res.body, e.text(i18n.En, "helped.error.slug_taken"))
	// Unknown ids.
	wantStatus(t, c.get("/staff/help/edit?id=art_zzzz"), http.StatusNotFound)
	wantStatus(t, c.post("/staff/help/publish", url.Values{"id": {"nope"}}), http.StatusNotFound)

	// The report of searches that found nothing.
	e.client().get("/help/search?q=" + url.QueryEscape("crypto staking"))
	e.client().get("/help/search?q=" + url.QueryEscape("Crypto  Staking"))
	res = c.get("/staff/help/misses")
	wantStatus(t, res, http.StatusOK)
	wantContains(t, res.body, `data-query="crypto staking" data-count="2"`)
	_ = help.MaxHits
}

// TestStaffRouteMaxBody: a staff route's form limit is the one its table
// declares (StaffRoute.MaxBody): the console's message forms and the help
// editor's save take more than the 16 KiB of every other form, and a
// larger body is refused before the handler runs.
func TestStaffRouteMaxBody(t *testing.T) {
	t.Parallel()
	e, _ := newHelpEnv(t)
	want := map[string]int64{"/staff/desk/reply": 96 << 10, "/staff/desk/note": 96 << 10, "/staff/help/save": 200 << 10}
	seen := 0
	for _, rt := range e.server.StaffRoutes() {
		w, ok := want[rt.Pattern]
		if ok {
			seen++
		} else {
			w = 16 << 10
		}
		if got := rt.MaxBody(); got != w {
			t.Errorf("%s %s: MaxBody %d, want %d", rt.Method, rt.Pattern, got, w)
		}
	}
	if seen != len(want) {
		t.Fatalf("%d of the %d routes with a larger form found", seen, len(want))
	}
	c := e.newMember(t, agent.RoleSupervisor).c
	// 36,000 bytes of Chinese, about 108 KB percent-encoded: over the
	// console's limit, within the editor's.
	long := url.Values{"slug": {"long-read"}, "locale": {"zh-CN"}, "category": {"technical"}, "title": {"长文"},
		"body": {strings.Repeat("款", 12000)}, "action": {"preview"}}
	res := c.post("/staff/help/save", long)
	wantStatus(t, res, http.StatusOK)
	wantContains(t, res.body, `data-testid="helped-preview"`)
	long.Set("id", "art_zzzz")
	wantStatus(t, c.post("/staff/help/publish", long), http.StatusBadRequest)
	long.Set("body", strings.Repeat("款", 70000))
	wantStatus(t, c.post("/staff/help/save", long), http.StatusBadRequest)
}
