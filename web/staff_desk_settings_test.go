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

// TestStaffDeskSettings: an administrator sees every SLA policy and every
// active agent's capacity on /staff/desk/settings (linked in the nav),
// changes a policy's targets and an agent's capacity, each change taking
// effect and audited with the values before and after; bad values are
// refused with the row's message and change nothing; a supervisor (no
// agent:manage) gets 403 and no link.
func TestStaffDeskSettings(t *testing.T) {
	t.Parallel()
	e := newStaffEnv(t, agent.Config{})
	admin := e.newMember(t, agent.RoleAdmin)
	sup := e.newMember(t, agent.RoleSupervisor)

	wantContains(t, admin.c.get("/staff/").body, `<a href="/staff/desk/settings" data-testid="nav-staff-desk-settings">`)
	if strings.Contains(sup.c.get("/staff/").body, `nav-staff-desk-settings`) {
		t.Error("the settings link shows without agent:manage")
	}
	wantStatus(t, sup.c.get("/staff/desk/settings"), http.StatusForbidden)
	wantStatus(t, sup.c.post("/staff/desk/settings/sla", url.Values{"policy": {"urgent"}, "first_response": {"1"}}), http.StatusForbidden)
	wantStatus(t, sup.c.post("/staff/desk/settings/capacity", url.Values{"agent": {sup.agent.Ref()}, "capacity": {"9"}}), http.StatusForbidden)

	res := admin.c.get("/staff/desk/settings")
	wantStatus(t, res, http.StatusOK)
	wantContains(t, res.body, `data-policy="urgent"`, `data-policy="email_low"`, `id="fr-urgent" name="first_response" type="number" min="0" max="43200" step="1" inputmode="numeric" value="5"`,
		`data-agent="`+sup.agent.Ref()+`" data-capacity="5"`, e.text(i18n.En, "console.settings.sla.title"))

	// SLA targets.
	wantRedirect(t, admin.c.post("/staff/desk/settings/sla", url.Values{"policy": {"urgent"}, "first_response": {"2"}, "next_response": {"10"},
		"resolution": {"180"}}), "/staff/desk/settings?done=sla")
	pol, err := e.desk.SLAPolicyFor(e.ctx, desk.ChannelChat, desk.CategoryAccount, desk.PriorityUrgent)
	if err != nil || pol.FirstResponse != 2*time.Minute || pol.Resolution != 3*time.Hour {
		t.Fatalf("policy %+v, %v", pol, err)
	}
	res = admin.c.post("/staff/desk/settings/sla", url.Values{"policy": {"urgent"}, "first_response": {"two"}, "next_response": {"10"}, "resolution": {"180"}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantContains(t, res.body, e.text(i18n.En, "console.settings.error.sla"))
	wantStatus(t, admin.c.post("/staff/desk/settings/sla", url.Values{"policy": {"nope"}, "first_response": {"1"}, "next_response": {"1"}, "resolution": {"1"}}), http.StatusNotFound)

	// Capacity.
	wantRedirect(t, admin.c.post("/staff/desk/settings/capacity", url.Values{"agent": {sup.agent.Ref()}, "capacity": {"9"}}), "/staff/desk/settings?done=capacity")
	res = admin.c.post("/staff/desk/settings/capacity", url.Values{"agent": {sup.agent.Ref()}, "capacity": {"101"}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantContains(t, res.body, e.text(i18n.En, "console.settings.error.capacity"))
	wantStatus(t, admin.c.post("/staff/desk/settings/capacity", url.Values{"agent": {"agt_0000000000001"}, "capacity": {"3"}}), http.StatusNotFound)
	pr, err := e.desk.AgentPresence(e.ctx, sup.agent.ID)
	if err != nil || pr.Capacity != 9 {
		t.Fatalf("presence %+v, %v", pr, err)
	}
	res = admin.c.get("/staff/desk/settings?done=capacity")
	wantContains(t, res.body, `data-agent="`+sup.agent.Ref()+`" data-capacity="9"`, e.text(i18n.En, "console.settings.done.capacity"))

	// Both changes are audited, by the administrator.
	log := audit.New(e.db)
	slaEv, err := log.List(e.ctx, "sla_policy:urgent", audit.MaxListLimit, 0)
	if err != nil || len(slaEv) != 1 {
		t.Fatalf("SLA events %+v, %v", slaEv, err)
	}
	if ev := slaEv[0]; ev.Name != desk.EventSLAPolicyUpdated || ev.Actor != admin.agent.Ref() ||
		ev.Details["before_first_response"] != "5m0s" || ev.Details["after_first_response"] != "2m0s" {
		t.Errorf("SLA event %+v", ev)
	}
	capEv, err := log.List(e.ctx, sup.agent.Ref(), audit.MaxListLimit, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ev := range capEv {
		if ev.Name == desk.EventCapacityChanged {
			n++
			if ev.Actor != admin.agent.Ref() || ev.Details["before_capacity"] != "5" || ev.Details["after_capacity"] != "9" {
				t.Errorf("capacity event %+v", ev)
			}
		}
	}
	if n != 1 {
		t.Errorf("%d capacity events", n)
	}
}

// TestStaffDeskSettingsAddRemovePolicy: an administrator adds an SLA
// policy from the settings page (it shows as a row and is audited),
// refusals show the form again with each refused part's message in the
// page's language (invalid name and targets, a taken name, the same match
// as another policy), removes it with its row's button, and cannot
// remove the last policy; a supervisor gets 403 on both.
func TestStaffDeskSettingsAddRemovePolicy(t *testing.T) {
	t.Parallel()
	e := newStaffEnv(t, agent.Config{})
	admin := e.newMember(t, agent.RoleAdmin)
	sup := e.newMember(t, agent.RoleSupervisor)
	add := url.Values{"name": {"chat_security_urgent"}, "channel": {"chat"}, "category": {"security_privacy"}, "priority": {"urgent"},
		"first_response": {"2"}, "next_response": {""}, "resolution": {"120"}}
	wantStatus(t, sup.c.post("/staff/desk/settings/sla/add", add), http.StatusForbidden)
	wantStatus(t, sup.c.post("/staff/desk/settings/sla/remove", url.Values{"policy": {"urgent"}}), http.StatusForbidden)

	res := admin.c.get("/staff/desk/settings")
	wantContains(t, res.body, `data-testid="settings-sla-add"`, `data-testid="settings-sla-remove"`, e.text(i18n.En, "console.settings.sla.add.title"))

	for _, l := range []i18n.Lang{i18n.En, i18n.ZhCN} {
		admin.c.lang = string(l)
		bad := url.Values{"name": {"Bad Name"}, "channel": {"fax"}, "first_response": {"-3"}}
		res = admin.c.post("/staff/desk/settings/sla/add", bad)
		wantStatus(t, res, http.StatusUnprocessableEntity)
		wantContains(t, res.body, `data-field="name"`, `data-field="match"`, `data-field="targets"`, `value="Bad Name"`,
			e.text(l, "console.settings.error.policy_name"), e.text(l, "console.settings.error.policy_match"), e.text(l, "console.settings.error.policy_targets"))
		dup := url.Values{"name": {"urgent"}, "priority": {"low"}, "first_response": {"5"}}
		res = admin.c.post("/staff/desk/settings/sla/add", dup)
		wantStatus(t, res, http.StatusConflict)
		wantContains(t, res.body, e.text(l, "console.settings.error.policy_duplicate"))
		same := url.Values{"name": {"another_low"}, "priority": {"low"}, "first_response": {"5"}}
		res = admin.c.post("/staff/desk/settings/sla/add", same)
		wantStatus(t, res, http.StatusConflict)
		wantContains(t, res.body, e.text(l, "console.settings.error.policy_same_match"))
	}
	admin.c.lang = "en"

	wantRedirect(t, admin.c.post("/staff/desk/settings/sla/add", add), "/staff/desk/settings?done=sla_added")
	res = admin.c.get("/staff/desk/settings?done=sla_added")
	wantContains(t, res.body, `data-policy="chat_security_urgent"`, e.text(i18n.En, "console.settings.done.sla_added"))
	// Its row names the channel in the page's language, not by its code.
	row := regexp.MustCompile(`(?s)data-policy="chat_security_urgent">\s*<th scope="row">[^<]*</th>\s*<td>([^<]*)</td>`).FindStringSubmatch(res.body)
	if row == nil || row[1] != e.text(i18n.En, "desk.channel.chat") || row[1] == "chat" {
		t.Fatalf("the policy's channel cell: %q", row)
	}
	pol, err := e.desk.SLAPolicyFor(e.ctx, desk.ChannelChat, desk.CategorySecurityPrivacy, desk.PriorityUrgent)
	if err != nil || pol.Name != "chat_security_urgent" || pol.FirstResponse != 2*time.Minute || pol.NextResponse != 0 || pol.Resolution != 2*time.Hour {
		t.Fatalf("policy %+v, %v", pol, err)
	}

	wantRedirect(t, admin.c.post("/staff/desk/settings/sla/remove", url.Values{"policy": {"chat_security_urgent"}}), "/staff/desk/settings?done=sla_removed")
	wantStatus(t, admin.c.post("/staff/desk/settings/sla/remove", url.Values{"policy": {"chat_security_urgent"}}), http.StatusNotFound)
	evs, err := audit.New(e.db).List(e.ctx, "sla_policy:chat_security_urgent", audit.MaxListLimit, 0)
	if err != nil || len(evs) != 2 || evs[0].Name != desk.EventSLAPolicyRemoved || evs[1].Name != desk.EventSLAPolicyAdded || evs[0].Actor != admin.agent.Ref() {
		t.Fatalf("events %+v, %v", evs, err)
	}

	// The last policy stays, with the message on its row.
	pols, err := e.desk.SLAPolicies(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pols[1:] {
		wantRedirect(t, admin.c.post("/staff/desk/settings/sla/remove", url.Values{"policy": {p.Name}}), "/staff/desk/settings?done=sla_removed")
	}
	res = admin.c.post("/staff/desk/settings/sla/remove", url.Values{"policy": {pols[0].Name}})
	wantStatus(t, res, http.StatusConflict)
	wantContains(t, res.body, `data-policy="`+pols[0].Name+`"`, e.text(i18n.En, "console.settings.error.policy_last"))
}

// TestStaffDeskAdminOverview: an admin (desk:overview, no
// conversation:read) opens /staff/desk from the navigation and sees the
// desk at a glance in both languages: counts by status, the unassigned
// queue, each team's work and the answering agents' load, with links to
// the settings and reports; never a conversation, a message or a
// customer, and no availability switch. The conversation pages stay 403
// for the admin; an agent still gets the inbox.
func TestStaffDeskAdminOverview(t *testing.T) {
	t.Parallel()
	e := newStaffEnv(t, agent.Config{})
	admin := e.newMember(t, agent.RoleAdmin)
	ag := e.newMember(t, agent.RoleAgent)
	acct, _, conv := e.customerCase(t) // "I cannot sign in.", account category, unassigned

	home := admin.c.get("/staff/")
	wantContains(t, home.body, `data-testid="nav-staff-desk"`)
	if strings.Contains(home.body, `data-testid="nav-presence"`) {
		t.Error("the admin gets the availability switch")
	}
	for _, l := range []i18n.Lang{i18n.En, i18n.ZhCN} {
		admin.c.lang = string(l)
		res := admin.c.get("/staff/desk")
		wantStatus(t, res, http.StatusOK)
		wantContains(t, res.body, e.text(l, "console.overview.title"), `data-testid="overview-status" data-status="open">1<`,
			`data-testid="overview-unassigned">1<`, `data-team="general" data-count="1"`, `data-agent="`+ag.agent.Ref()+`"`,
			`data-testid="overview-settings"`, `data-testid="overview-reports"`)
		for _, leak := range []string{"I cannot sign in.", acct.email, conv, `data-testid="desk-inbox"`, `data-agent="` + admin.agent.Ref() + `"`} {
			if strings.Contains(res.body, leak) {
				t.Errorf("the overview shows %q", leak)
			}
		}
	}
	admin.c.lang = "en"
	wantStatus(t, admin.c.get("/staff/desk/conversation?id="+conv), http.StatusForbidden)
	wantStatus(t, admin.c.post("/staff/desk/presence", url.Values{"status": {"online"}}), http.StatusForbidden)

	res := ag.c.get("/staff/desk?view=unassigned")
	wantStatus(t, res, http.StatusOK)
	wantContains(t, res.body, `data-testid="desk-inbox"`, `data-conversation="`+conv+`"`)
	if strings.Contains(res.body, e.text(i18n.En, "console.overview.title")) {
		t.Error("an agent gets the overview")
	}
}
