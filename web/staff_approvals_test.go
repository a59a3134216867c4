package web_test

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/okpay/okpay/agent"
	"github.com/okpay/okpay/i18n"
)

// TestStaffApprovalsPage: the approvals page renders empty in both
// languages for a checker, refuses roles without approval:approve, and a
// decision on an unknown request or without a reason changes nothing.
func TestStaffApprovalsPage(t *testing.T) {
	t.Parallel()
	e := newStaffEnv(t, agent.Config{})
	risk := e.newMember(t, agent.RoleRisk)
	admin := e.newMember(t, agent.RoleAdmin)
	for _, l := range []i18n.Lang{i18n.En, i18n.ZhCN} {
		risk.c.lang = string(l)
		res := risk.c.get("/staff/approvals")
		wantStatus(t, res, http.StatusOK)
		wantContains(t, res.body, `data-testid="approvals-empty"`, e.text(l, "support.approvals.page_title"), e.text(l, "support.approvals.empty"))
	}
	risk.c.lang = "en"
	refused := admin.c.get("/staff/approvals")
	wantStatus(t, refused, http.StatusForbidden)
	// Refused but signed in: the page keeps the staff navigation and
	// offers no sign-in.
	wantContains(t, refused.body, `data-testid="staff-error"`, `data-testid="nav-staff-home"`, `data-testid="nav-staff-agents"`)
	if strings.Contains(refused.body, `href="/staff/login"`) {
		t.Errorf("a signed-in agent's 403 page offers the sign-in:\n%s", excerpt(refused.body))
	}
	wantStatus(t, risk.c.post("/staff/approvals/approve", url.Values{"request": {"srq_nosuchrequest"}, "reason": {"x"}}), http.StatusNotFound)
	wantStatus(t, risk.c.post("/staff/approvals/approve", url.Values{"request": {"srq_0000000000001"}, "reason": {"x"}}), http.StatusNotFound)
	res := risk.c.post("/staff/approvals/reject", url.Values{"request": {"srq_0000000000001"}, "reason": {""}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantContains(t, res.body, e.text(i18n.En, "support.error.reason"))
}

// TestStaffNotFound: an unknown staff path answers 404 on the staff layout,
// with the agent's navigation when signed in and without it otherwise, in
// the request's language.
func TestStaffNotFound(t *testing.T) {
	t.Parallel()
	e := newStaffEnv(t, agent.Config{})
	admin := e.newMember(t, agent.RoleAdmin)
	for _, l := range []i18n.Lang{i18n.En, i18n.ZhCN} {
		admin.c.lang = string(l)
		res := admin.c.get("/staff/no-such-page")
		wantStatus(t, res, http.StatusNotFound)
		wantContains(t, res.body, `data-testid="staff-error"`, `data-testid="nav-staff-home"`, `data-testid="nav-staff-agents"`,
			e.text(l, "notfound.title"))
	}
	anon := e.client()
	res := anon.get("/staff/agents/x/no-such-page")
	wantStatus(t, res, http.StatusNotFound)
	wantContains(t, res.body, `data-testid="staff-error"`)
	if strings.Contains(res.body, `data-testid="nav-staff-home"`) {
		t.Errorf("a signed-out 404 shows the staff navigation:\n%s", excerpt(res.body))
	}
	// The customer site's own 404 is unchanged.
	res = anon.get("/no-such-page")
	wantStatus(t, res, http.StatusNotFound)
	if strings.Contains(res.body, `data-testid="staff-error"`) {
		t.Errorf("the customer 404 uses the staff layout:\n%s", excerpt(res.body))
	}
}

// TestStaffSwitchesComeBack: the language switch of a staff page brings
// the agent back to that page with its query (a conversation or customer
// page is named by it: without, the switch led to a 404), less a
// one-time "done" notice; and the language switch really lands there.
func TestStaffSwitchesComeBack(t *testing.T) {
	t.Parallel()
	e := newStaffEnv(t, agent.Config{})
	admin := e.newMember(t, agent.RoleAdmin)
	next := regexp.MustCompile(`<input type="hidden" name="next" value="([^"]*)">`)
	for path, want := range map[string]string{
		"/staff/teams?team=general":            "/staff/teams?team=general",
		"/staff/teams?done=saved&team=general": "/staff/teams?team=general",
		"/staff/agents?done=enabled":           "/staff/agents",
		"/staff/agents":                        "/staff/agents",
	} {
		res := admin.c.get(path)
		wantStatus(t, res, http.StatusOK)
		m := next.FindStringSubmatch(res.body)
		if m == nil || html.UnescapeString(m[1]) != want {
			t.Errorf("%s: next %q, want %q", path, m, want)
		}
	}
	res := admin.c.post("/lang", url.Values{"lang": {"zh-CN"}, "next": {"/staff/teams?team=general"}})
	wantRedirect(t, res, "/staff/teams?team=general")
}
