package web_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/okpay/okpay/agent"
	"github.com/okpay/okpay/audit"
	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/i18n"
)

// TestStaffNavReportsCanned: the staff navigation links the desk's
// reports page for agents with report:read and the canned responses'
// page for those with canned:manage, and neither for an agent without
// them; the links lead to pages the agent may open.
func TestStaffNavReportsCanned(t *testing.T) {
	t.Parallel()
	e := newStaffEnv(t, agent.Config{})
	sup := e.newMember(t, agent.RoleSupervisor) // report:read, canned:manage
	risk := e.newMember(t, agent.RoleRisk)      // report:read only
	plain := e.newMember(t, agent.RoleAgent)    // neither
	navLink := func(body, id, href string) bool {
		return regexp.MustCompile(`<a href="` + regexp.QuoteMeta(href) + `" data-testid="` + id + `">`).MatchString(body)
	}
	for _, tc := range []struct {
		name            string
		m               *staffMember
		reports, canned bool
	}{
		{"supervisor", sup, true, true},
		{"risk", risk, true, false},
		{"agent", plain, false, false},
	} {
		// On the home page and on another page of the console alike.
		for _, path := range []string{"/staff/", "/staff/desk"} {
			body := tc.m.c.get(path).body
			if got := navLink(body, "nav-staff-reports", "/staff/reports"); got != tc.reports {
				t.Errorf("%s on %s: reports link %v, want %v", tc.name, path, got, tc.reports)
			}
			if got := navLink(body, "nav-staff-canned", "/staff/canned"); got != tc.canned {
				t.Errorf("%s on %s: canned link %v, want %v", tc.name, path, got, tc.canned)
			}
		}
		want := func(ok bool) int {
			if ok {
				return http.StatusOK
			}
			return http.StatusForbidden
		}
		wantStatus(t, tc.m.c.get("/staff/reports"), want(tc.reports))
		wantStatus(t, tc.m.c.get("/staff/canned"), want(tc.canned))
	}
	// The link texts are the catalog's, in the agent's language.
	wantContains(t, sup.c.get("/staff/").body, e.text(i18n.En, "reports.nav"), e.text(i18n.En, "console.canned.nav"))
}

// TestDeskConversationShowsCSAT: once the customer has rated the
// resolved conversation, its page in the console shows the score and
// the comment; a conversation never rated shows no ratings panel, and a
// conversation reopened and rated again shows both ratings, oldest first.
func TestDeskConversationShowsCSAT(t *testing.T) {
	t.Parallel()
	e := newStaffEnv(t, agent.Config{})
	sup := e.newMember(t, agent.RoleSupervisor)
	ag := desk.Agent(sup.agent.ID)
	conv := e.customerConversation(t, 515151, "Where is my refund?")
	ref := desk.ConversationRef(conv.ID)
	page := func() string {
		t.Helper()
		res := sup.c.get("/staff/desk/conversation?id=" + ref)
		wantStatus(t, res, http.StatusOK)
		return res.body
	}
	if strings.Contains(page(), `data-testid="desk-csat"`) {
		t.Fatal("a ratings panel before any rating")
	}
	if _, err := e.desk.SendMessage(e.ctx, ag, conv.ID, desk.MessageInput{Body: "Refunded today."}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.desk.SetStatus(e.ctx, ag, conv.ID, desk.StatusResolved, time.Time{}); err != nil {
		t.Fatal(err)
	}
	// Resolved but not rated yet: still no panel.
	if strings.Contains(page(), `data-testid="desk-csat"`) {
		t.Fatal("a ratings panel before the customer rated")
	}
	if _, err := e.desk.Rate(e.ctx, desk.Customer(515151), conv.ID, 2, "Slow <b>answer</b>"); err != nil {
		t.Fatal(err)
	}
	body := page()
	wantContains(t, body, `data-testid="desk-csat"`, e.text(i18n.En, "csat.console.title"),
		`data-testid="desk-csat-rating" data-score="2"`, "2 of 5",
		`<blockquote class="desk-body" data-testid="desk-csat-comment">Slow &lt;b&gt;answer&lt;/b&gt;</blockquote>`)

	// Reopened, resolved again and rated without a comment.
	e.clock.Advance(time.Minute)
	if _, err := e.desk.SetStatus(e.ctx, ag, conv.ID, desk.StatusOpen, time.Time{}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Minute)
	if _, err := e.desk.SetStatus(e.ctx, ag, conv.ID, desk.StatusResolved, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.desk.Rate(e.ctx, desk.Customer(515151), conv.ID, 5, ""); err != nil {
		t.Fatal(err)
	}
	e.signIn(t, sup) // the clock moved: a fresh session
	body = page()
	scores := regexp.MustCompile(`data-testid="desk-csat-rating" data-score="([1-5])"`).FindAllStringSubmatch(body, -1)
	if len(scores) != 2 || scores[0][1] != "2" || scores[1][1] != "5" {
		t.Fatalf("ratings %v", scores)
	}
	wantContains(t, body, e.text(i18n.En, "csat.console.no_comment"))
}

// TestStaffCannedAudited: saving, editing and deleting a canned response
// on the management page each leave an audit event with the agent, the
// client's address and the fields before and after; a refused save leaves
// none.
func TestStaffCannedAudited(t *testing.T) {
	t.Parallel()
	e := newStaffEnv(t, agent.Config{})
	sup := e.newMember(t, agent.RoleSupervisor)
	wantRedirect(t, sup.c.post("/staff/canned", url.Values{"shortcut": {"fee-info"}, "title": {"Fees"},
		"body_en": {"Sending is free."}, "body_zh": {"转账免费。"}}), "/staff/canned?done=saved")
	wantStatus(t, sup.c.post("/staff/canned", url.Values{"shortcut": {"fee-info"}, "title": {"Again"}, "body_en": {"x"}}), http.StatusUnprocessableEntity)
	all, err := e.desk.AllCanned(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	var c *desk.Canned
	for _, x := range all {
		if x.Shortcut == "fee-info" {
			c = x
		}
	}
	if c == nil {
		t.Fatal("not created")
	}
	wantRedirect(t, sup.c.post("/staff/canned", url.Values{"id": {c.Ref()}, "shortcut": {"fee-info"}, "title": {"Fees and limits"},
		"body_en": {"Sending is free."}, "body_zh": {"转账免费。"}}), "/staff/canned?done=saved")
	wantRedirect(t, sup.c.post("/staff/canned/delete", url.Values{"id": {c.Ref()}}), "/staff/canned?done=deleted")

	entries, err := audit.New(e.db).List(e.ctx, c.Ref(), audit.MaxListLimit, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 3 {
		t.Fatalf("%d events: %+v", len(entries), entries)
	}
	names := []string{entries[2].Name, entries[1].Name, entries[0].Name}
	if names[0] != desk.EventCannedCreated || names[1] != desk.EventCannedUpdated || names[2] != desk.EventCannedDeleted {
		t.Fatalf("events %v", names)
	}
	for _, en := range entries {
		if en.Actor != sup.agent.Ref() || en.IP == "" {
			t.Errorf("event %s: actor %q ip %q", en.Name, en.Actor, en.IP)
		}
	}
	if up := entries[1].Details; up["before_title"] != "Fees" || up["after_title"] != "Fees and limits" || len(up) != 2 {
		t.Errorf("edit details %v", up)
	}
	if del := entries[0].Details; del["before_body_zh"] != "转账免费。" {
		t.Errorf("delete details %v", del)
	}
}
