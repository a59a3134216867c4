package web_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/okpay/okpay/agent"
	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/i18n"
)

// TestStaffReportsPage: a supervisor sees the week's volume as an SVG bar
// chart with the right bar per day, the times, SLA compliance and CSAT of
// seeded conversations, in both languages; an agent without report:read
// gets 403.
func TestStaffReportsPage(t *testing.T) {
	t.Parallel()
	e := newStaffEnv(t, agent.Config{})
	sup := e.newMember(t, agent.RoleSupervisor)
	plain := e.newMember(t, agent.RoleAgent)
	ctx := e.ctx
	ag := desk.Agent(sup.agent.ID)

	// Two conversations today: answered after 3 and 7 minutes, both
	// resolved, one rated 5; one yesterday, unanswered.
	// (The clock only moves forward; the members sign in again after.)
	day := e.clock.Now().UTC().Truncate(24 * time.Hour).Add(24 * time.Hour)
	if _, err := e.desk.StartConversation(ctx, desk.Customer(9001), desk.StartInput{Category: desk.CategoryTechnical, Body: "yesterday"}); err != nil {
		t.Fatal(err)
	}
	e.clock.Set(day.Add(9 * time.Hour))
	a, err := e.desk.StartConversation(ctx, desk.Customer(9002), desk.StartInput{Category: desk.CategoryAccount, Body: "a"})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := e.desk.StartConversation(ctx, desk.Customer(9003), desk.StartInput{Category: desk.CategoryAccount, Body: "b"})
	e.clock.Advance(3 * time.Minute)
	e.desk.SendMessage(ctx, ag, a.ID, desk.MessageInput{Body: "hi"})
	e.clock.Advance(4 * time.Minute)
	e.desk.SendMessage(ctx, ag, b.ID, desk.MessageInput{Body: "hi"})
	e.desk.SetStatus(ctx, ag, a.ID, desk.StatusResolved, time.Time{})
	e.desk.SetStatus(ctx, ag, b.ID, desk.StatusResolved, time.Time{})
	if _, err := e.desk.Rate(ctx, desk.Customer(9002), a.ID, 5, ""); err != nil {
		t.Fatal(err)
	}

	e.signIn(t, sup)
	e.signIn(t, plain)
	res := sup.c.get("/staff/reports?days=7")
	wantStatus(t, res, http.StatusOK)
	body := res.body
	svg := regexp.MustCompile(`(?s)<svg[^>]*data-testid="chart-volume".*?</svg>`).FindString(body)
	if svg == "" || !strings.Contains(svg, `role="img"`) || !strings.Contains(svg, `<title id="chart-volume-title">`) || !strings.Contains(svg, `<desc id="chart-volume-desc">`) {
		t.Fatalf("no accessible volume chart in\n%s", body)
	}
	bars := regexp.MustCompile(`data-label="([0-9-]+)" data-value="([0-9]+)"`).FindAllStringSubmatch(svg, -1)
	if len(bars) != 7 {
		t.Fatalf("%d bars: %v", len(bars), bars)
	}
	if last, prev := bars[6], bars[5]; last[1] != day.Format("01-02") || last[2] != "2" || prev[2] != "1" || bars[0][2] != "0" {
		t.Errorf("bars %v", bars)
	}
	row := func(table, key string) string {
		t.Helper()
		re := regexp.MustCompile(`(?s)data-testid="` + table + `".*?<tr data-key="` + regexp.QuoteMeta(key) + `">(.*?)</tr>`)
		m := re.FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("no row %s in %s", key, table)
		}
		return m[1]
	}
	wantContains(t, body, "3 conversations created.")
	wantContains(t, row("reports-categories", "account"), "<td>2</td>")
	wantContains(t, row("reports-categories", "technical"), "<td>1</td>")
	wantContains(t, row("reports-times", "first_response"), `<td data-testid="median">3 min</td><td data-testid="p90">7 min</td>`)
	wantContains(t, row("reports-csat", "average"), ">5.00<")
	wantContains(t, row("reports-csat", "response_rate"), ">50%<")
	csat := regexp.MustCompile(`(?s)<svg[^>]*data-testid="chart-csat".*?</svg>`).FindString(body)
	if !strings.Contains(csat, `data-label="5" data-value="1"`) || !strings.Contains(csat, `data-label="1" data-value="0"`) {
		t.Errorf("CSAT chart:\n%s", csat)
	}
	// SLA rows are there for every metric.
	for _, m := range desk.SLAMetrics {
		row("reports-sla", m)
	}
	// One team, 30 days, Chinese.
	res = sup.c.get("/staff/reports?days=30&team=payments")
	wantStatus(t, res, http.StatusOK)
	if n := strings.Count(regexp.MustCompile(`(?s)<svg[^>]*data-testid="chart-volume".*?</svg>`).FindString(res.body), `class="chart-bar"`); n != 30 {
		t.Errorf("30 days: %d bars", n)
	}
	wantContains(t, res.body, "0 conversations created.")
	sup.c.lang = "zh-CN"
	res = sup.c.get("/staff/reports")
	wantStatus(t, res, http.StatusOK)
	wantContains(t, res.body, e.text(i18n.ZhCN, "reports.title"))

	// Without report:read: 403.
	res = plain.c.get("/staff/reports")
	wantStatus(t, res, http.StatusForbidden)
	if strings.Contains(res.body, "chart-volume") {
		t.Error("the refusal shows the report")
	}
}
