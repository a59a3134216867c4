package agent_test

import (
	"regexp"
	"slices"
	"testing"

	"github.com/okpay/okpay/agent"
	"github.com/okpay/okpay/i18n"
)

// TestSUP01_PermissionMatrix checks the shape of the role matrix: every
// permission is object:action and granted to someone; the admin manages
// staff but reads no customer data and reviews no money; only risk
// reviews withdrawals; only risk and admin keep the exchange rates; approvals (the checker of maker-checker) belong to
// supervisor and risk, not to the plain agent; a disabled or missing
// agent can do nothing.
func TestSUP01_PermissionMatrix(t *testing.T) {
	form := regexp.MustCompile(`^[a-z]+:[a-z_]+$`)
	for _, p := range agent.Catalogue() {
		if !form.MatchString(string(p)) {
			t.Errorf("%q is not object:action", p)
		}
		granted := false
		for _, r := range agent.Roles() {
			granted = granted || agent.RoleHas(r, p)
		}
		if !granted {
			t.Errorf("%s is granted to no role", p)
		}
		if !agent.ValidPermission(p) {
			t.Errorf("%s not valid", p)
		}
	}
	if agent.ValidPermission("agent:delete") || agent.RoleHas(agent.RoleAdmin, "") {
		t.Error("unknown permissions are valid")
	}
	want := map[agent.Permission][]agent.Role{
		agent.PermAgentManage:       {agent.RoleAdmin},
		agent.PermWithdrawalReview:  {agent.RoleRisk},
		agent.PermApprovalApprove:   {agent.RoleSupervisor, agent.RoleRisk},
		agent.PermCustomerRevealPII: {agent.RoleAgent, agent.RoleSupervisor, agent.RoleRisk},
		agent.PermAuditRead:         {agent.RoleRisk, agent.RoleAdmin},
		agent.PermConversationRead:  {agent.RoleAgent, agent.RoleSupervisor, agent.RoleRisk},
		agent.PermFXManage:          {agent.RoleRisk, agent.RoleAdmin},
		agent.PermDeskOverview:      {agent.RoleAgent, agent.RoleSupervisor, agent.RoleRisk, agent.RoleAdmin},
	}
	for p, roles := range want {
		for _, r := range agent.Roles() {
			if got := agent.RoleHas(r, p); got != slices.Contains(roles, r) {
				t.Errorf("RoleHas(%s, %s) = %v", r, p, got)
			}
		}
	}
	a := &agent.Agent{Status: agent.StatusActive, Roles: []agent.Role{agent.RoleAgent, agent.RoleRisk}}
	if !agent.Can(a, agent.PermWithdrawalReview) || !agent.Can(a, agent.PermCustomerSendReset) || agent.Can(a, agent.PermAgentManage) {
		t.Error("roles do not combine")
	}
	if got := a.Permissions(); len(got) == 0 || !slices.Contains(got, agent.PermWithdrawalReview) {
		t.Errorf("permissions %v", got)
	}
	a.Status = agent.StatusDisabled
	if agent.Can(a, agent.PermConversationRead) || a.Permissions() != nil || agent.Can(nil, agent.PermConversationRead) {
		t.Error("a disabled or nil agent can act")
	}
}

func TestParseLists(t *testing.T) {
	roles, err := agent.ParseRoles("risk, agent senior,agent")
	if err != nil || !slices.Equal(roles, []agent.Role{agent.RoleAgent, agent.RoleSupervisor, agent.RoleRisk}) {
		t.Fatalf("%v %v", roles, err)
	}
	if _, err := agent.ParseRoles("agent,root"); err == nil {
		t.Fatal("root accepted")
	}
	langs, err := agent.ParseLanguages("zh-CN en zh-cn")
	if err != nil || !slices.Equal(langs, []i18n.Lang{i18n.ZhCN, i18n.En}) {
		t.Fatalf("%v %v", langs, err)
	}
	if _, err := agent.ParseLanguages("fr"); err == nil {
		t.Fatal("fr accepted")
	}
	teams, err := agent.ParseTeams("Security,general;general")
	if err != nil || !slices.Equal(teams, []string{"general", "security"}) {
		t.Fatalf("%v %v", teams, err)
	}
	if _, err := agent.ParseTeams("9lives"); err == nil {
		t.Fatal("bad team name accepted")
	}
}

// FuzzParseLists: the list parsers never panic and what they accept is
// clean.
func FuzzParseLists(f *testing.F) {
	for _, s := range []string{"agent,risk", "senior", "zh-CN, en", "general security", "", ",,;", "agent\x00", "名字", "a-b_c"} {
		f.Add(s)
	}
	team := regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)
	f.Fuzz(func(t *testing.T, s string) {
		if roles, err := agent.ParseRoles(s); err == nil {
			for _, r := range roles {
				if !slices.Contains(agent.Roles(), r) {
					t.Fatalf("role %q", r)
				}
			}
		}
		if langs, err := agent.ParseLanguages(s); err == nil {
			for _, l := range langs {
				if l != i18n.En && l != i18n.ZhCN {
					t.Fatalf("lang %q", l)
				}
			}
		}
		if teams, err := agent.ParseTeams(s); err == nil {
			for _, x := range teams {
				if !team.MatchString(x) {
					t.Fatalf("team %q", x)
				}
			}
		}
	})
}
