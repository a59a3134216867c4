package agent_test

import (
	"strings"
	"testing"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/agent"
	"github.com/okpay/okpay/audit"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

// TestSUP01_OnlyAnAdminCreatesAgents: the command line creates the first
// admin; after that only an agent whose roles grant agent:manage, signed
// in with a passkey within the sudo window, creates agents. Every other
// role is refused and the refusal is audited.
func TestSUP01_OnlyAnAdminCreatesAgents(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db, agent.Config{})
		admin := h.newStaff(agent.RoleAdmin)
		in := agent.NewAgent{Email: "new.agent@okpay.test", DisplayName: "新同事", Roles: []agent.Role{agent.RoleAgent},
			Teams: []string{"payments"}, Languages: []i18n.Lang{i18n.ZhCN}}

		for _, role := range []agent.Role{agent.RoleAgent, agent.RoleSupervisor, agent.RoleRisk} {
			st := h.newStaff(role)
			_, _, err := h.svc.Create(h.ctx, st.actor(), in, h.meta)
			wantCode(t, err, okpay.EForbidden)
			ev := h.lastEvent(st.agent.Ref(), audit.AuthzFail)
			if ev.Actor != st.agent.Ref() || ev.Details["permission"] != string(agent.PermAgentManage) || ev.Outcome != audit.Failure {
				t.Fatalf("%s refusal audited as %+v", role, ev)
			}
		}
		// Nobody at all is not an actor.
		_, _, err := h.svc.Create(h.ctx, agent.Actor{}, in, h.meta)
		wantCode(t, err, okpay.EForbidden)

		// An admin whose session waits for its passkey cannot.
		res, err := h.svc.Login(h.ctx, admin.agent.Email, admin.password, h.meta)
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = h.svc.Create(h.ctx, agent.Actor{Agent: admin.agent, Session: res.Session}, in, h.meta)
		wantCode(t, err, agent.EMFARequired)

		// Outside the sudo window: a passkey again first.
		h.clock.Advance(11 * time.Minute)
		_, _, err = h.svc.Create(h.ctx, admin.actor(), in, h.meta)
		wantCode(t, err, agent.EStepUpRequired)
		if res, err = h.passkeyStep(admin.token, admin.auth); err != nil {
			t.Fatal(err)
		}
		admin.token, admin.session = res.Token, res.Session

		a, enr, err := h.svc.Create(h.ctx, admin.actor(), in, h.meta)
		if err != nil {
			t.Fatal(err)
		}
		if a.Email != in.Email || a.DisplayName != "新同事" || len(a.Roles) != 1 || a.Roles[0] != agent.RoleAgent ||
			len(a.Teams) != 1 || a.Teams[0] != "payments" || a.Status != agent.StatusActive || a.Enrolled() || a.CreatedBy != admin.agent.Ref() {
			t.Fatalf("created %+v", a)
		}
		if !strings.HasPrefix(enr.URL, "https://okpay.test/staff/enroll/") || len(enr.Token) < 43 || !enr.ExpiresAt.Equal(h.clock.Now().Add(24*time.Hour)) {
			t.Fatalf("enrolment link %+v", enr)
		}
		// The token is stored only as its hash.
		var n int
		if err := db.Read.QueryRowContext(h.ctx, `SELECT COUNT(*) FROM agent_enrollments WHERE token_hash = $1`, []byte(enr.Token)).Scan(&n); err != nil || n != 0 {
			t.Fatalf("token stored in clear: %d %v", n, err)
		}
		ev := h.lastEvent(a.Ref(), agent.EventAgentCreated)
		if ev.Actor != admin.agent.Ref() || ev.Details["actor_roles"] != "admin" || ev.Details["after.roles"] != "agent" ||
			ev.Details["after.email"] != in.Email || ev.Details["after.teams"] != "payments" {
			t.Fatalf("audit %+v", ev)
		}
		// The same email twice is a conflict.
		_, _, err = h.svc.Create(h.ctx, admin.actor(), in, h.meta)
		wantCode(t, err, okpay.EConflict)
		h.verifyChain()
	})
}

func TestCreateValidates(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db, agent.Config{})
		for name, in := range map[string]agent.NewAgent{
			"email":     {Email: "not an email", DisplayName: "A", Roles: []agent.Role{agent.RoleAgent}, Languages: []i18n.Lang{i18n.En}},
			"name":      {Email: "a@okpay.test", DisplayName: " ", Roles: []agent.Role{agent.RoleAgent}, Languages: []i18n.Lang{i18n.En}},
			"no role":   {Email: "a@okpay.test", DisplayName: "A", Languages: []i18n.Lang{i18n.En}},
			"bad role":  {Email: "a@okpay.test", DisplayName: "A", Roles: []agent.Role{"root"}, Languages: []i18n.Lang{i18n.En}},
			"languages": {Email: "a@okpay.test", DisplayName: "A", Roles: []agent.Role{agent.RoleAgent}},
			"team":      {Email: "a@okpay.test", DisplayName: "A", Roles: []agent.Role{agent.RoleAgent}, Languages: []i18n.Lang{i18n.En}, Teams: []string{"nosuchteam"}},
		} {
			if _, _, err := h.svc.Create(h.ctx, h.cli, in, h.meta); okpay.ErrorCode(err) != okpay.EInvalid {
				t.Errorf("%s: %v", name, err)
			}
		}
		// "senior" is SUP-01's name for supervisor.
		a, _, err := h.svc.Create(h.ctx, h.cli, agent.NewAgent{Email: "Senior@OKPay.test", DisplayName: "Senior", Roles: []agent.Role{"senior"},
			Languages: []i18n.Lang{i18n.En}}, h.meta)
		if err != nil {
			t.Fatal(err)
		}
		if a.Email != "senior@okpay.test" || len(a.Roles) != 1 || a.Roles[0] != agent.RoleSupervisor {
			t.Fatalf("%+v", a)
		}
	})
}

// TestSUP06_RoleChangesAreAuditedBeforeAfter: a role change records the
// actor, the actor's roles, the reason and the roles before and after; an
// admin cannot change their own roles, and the last admin stays one.
func TestSUP06_RoleChangesAreAuditedBeforeAfter(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db, agent.Config{})
		admin := h.newStaff(agent.RoleAdmin)
		worker := h.newStaff(agent.RoleAgent)

		roles := []agent.Role{agent.RoleAgent, agent.RoleRisk}
		teams := []string{"security", "general"}
		_, err := h.svc.UpdateAgent(h.ctx, admin.actor(), worker.agent.ID, agent.Update{Roles: &roles, Teams: &teams}, h.meta)
		wantCode(t, err, okpay.EInvalid) // a reason is required
		got, err := h.svc.UpdateAgent(h.ctx, admin.actor(), worker.agent.ID, agent.Update{Roles: &roles, Teams: &teams, Reason: "joins the risk desk"}, h.meta)
		if err != nil {
			t.Fatal(err)
		}
		if !got.Has(agent.RoleRisk) || !agent.Can(got, agent.PermWithdrawalReview) || strings.Join(got.Teams, ",") != "general,security" {
			t.Fatalf("%+v", got)
		}
		ev := h.lastEvent(worker.agent.Ref(), agent.EventRolesChanged)
		if ev.Actor != admin.agent.Ref() || ev.Details["actor_roles"] != "admin" || ev.Reason != "joins the risk desk" ||
			ev.Details["before.roles"] != "agent" || ev.Details["after.roles"] != "agent,risk" ||
			ev.Details["before.teams"] != "general" || ev.Details["after.teams"] != "general,security" {
			t.Fatalf("audit %+v", ev)
		}

		// No self-promotion, no self-demotion.
		own := []agent.Role{agent.RoleAdmin, agent.RoleRisk}
		_, err = h.svc.UpdateAgent(h.ctx, admin.actor(), admin.agent.ID, agent.Update{Roles: &own, Reason: "x"}, h.meta)
		wantCode(t, err, agent.ESelfChange)
		wantCode(t, h.svc.Disable(h.ctx, admin.actor(), admin.agent.ID, "x", h.meta), agent.ESelfChange)

		// The last admin keeps the role even through the command line.
		plain := []agent.Role{agent.RoleAgent}
		_, err = h.svc.UpdateAgent(h.ctx, h.cli, admin.agent.ID, agent.Update{Roles: &plain, Reason: "x"}, h.meta)
		wantCode(t, err, agent.ELastAdmin)
		wantCode(t, h.svc.Disable(h.ctx, h.cli, admin.agent.ID, "x", h.meta), agent.ELastAdmin)
		// With a second admin it works.
		h.newStaff(agent.RoleAdmin)
		if _, err = h.svc.UpdateAgent(h.ctx, h.cli, admin.agent.ID, agent.Update{Roles: &plain, Reason: "moves to the desk"}, h.meta); err != nil {
			t.Fatal(err)
		}
		// The demoted admin's session no longer manages agents.
		_, _, err = h.svc.Create(h.ctx, admin.actor(), agent.NewAgent{Email: "x@okpay.test", DisplayName: "X", Roles: plain, Languages: []i18n.Lang{i18n.En}}, h.meta)
		wantCode(t, err, okpay.EForbidden)
		h.verifyChain()
	})
}

// TestDisableEndsSessionsAndSignIn: a disabled agent's sessions die at
// once, sign-in fails like a wrong password, and the change is audited;
// enabling restores sign-in.
func TestDisableEndsSessionsAndSignIn(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db, agent.Config{})
		admin := h.newStaff(agent.RoleAdmin)
		worker := h.newStaff(agent.RoleAgent)
		wantCode(t, h.svc.Disable(h.ctx, admin.actor(), worker.agent.ID, "", h.meta), okpay.EInvalid)
		if err := h.svc.Disable(h.ctx, admin.actor(), worker.agent.ID, "left the company", h.meta); err != nil {
			t.Fatal(err)
		}
		_, _, err := h.svc.Authenticate(h.ctx, worker.token)
		wantCode(t, err, okpay.EUnauthorized)
		_, err = h.svc.Login(h.ctx, worker.agent.Email, worker.password, h.meta)
		wantCode(t, err, agent.EInvalidCredentials)
		a, err := h.svc.Find(h.ctx, worker.agent.ID)
		if err != nil {
			t.Fatal(err)
		}
		if a.Active() || agent.Can(a, agent.PermConversationRead) || a.DisabledReason != "left the company" {
			t.Fatalf("%+v", a)
		}
		ev := h.lastEvent(worker.agent.Ref(), agent.EventAgentDisabled)
		if ev.Details["before.status"] != "active" || ev.Details["after.status"] != "disabled" || ev.Details["sessions_ended"] != "1" || ev.Actor != admin.agent.Ref() {
			t.Fatalf("audit %+v", ev)
		}
		wantCode(t, h.svc.Disable(h.ctx, admin.actor(), worker.agent.ID, "again", h.meta), okpay.EConflict)
		if err := h.svc.Enable(h.ctx, admin.actor(), worker.agent.ID, "came back", h.meta); err != nil {
			t.Fatal(err)
		}
		h.signIn(worker)
		h.verifyChain()
	})
}

// TestResetSignInWithdrawsFactors: a new enrolment link withdraws the
// password and passkeys; the old link and sessions are dead; the new link
// enrols a new passkey.
func TestResetSignInWithdrawsFactors(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db, agent.Config{})
		admin := h.newStaff(agent.RoleAdmin)
		a, first := h.create(agent.RoleAgent)
		worker := h.enrol(a, first)
		enr, err := h.svc.ResetSignIn(h.ctx, admin.actor(), worker.agent.ID, "lost laptop", h.meta)
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = h.svc.Authenticate(h.ctx, worker.token)
		wantCode(t, err, okpay.EUnauthorized)
		_, err = h.svc.Login(h.ctx, worker.agent.Email, worker.password, h.meta)
		wantCode(t, err, agent.EInvalidCredentials)
		if n, _ := h.pk.Count(h.ctx, worker.agent.ID); n != 0 {
			t.Fatalf("%d passkeys left", n)
		}
		_, err = h.svc.StartEnrollment(h.ctx, first.Token, "another long passphrase", h.meta)
		wantCode(t, err, agent.EEnrollmentInvalid)
		again := h.enrol(worker.agent, enr)
		h.signIn(again)
		ev := h.lastEvent(worker.agent.Ref(), agent.EventEnrollmentIssue)
		if ev.Details["passkeys_removed"] != "1" || ev.Reason != "lost laptop" {
			t.Fatalf("audit %+v", ev)
		}
		// Not one's own.
		_, err = h.svc.ResetSignIn(h.ctx, admin.actor(), admin.agent.ID, "x", h.meta)
		wantCode(t, err, agent.ESelfChange)
	})
}

func TestListAndFind(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db, agent.Config{})
		a1, _ := h.create(agent.RoleAgent)
		a2, _ := h.create(agent.RoleRisk, agent.RoleAgent)
		all, err := h.svc.List(h.ctx, agent.Filter{})
		if err != nil || len(all) != 2 || all[0].ID != a1.ID || all[1].ID != a2.ID {
			t.Fatalf("%v %v", all, err)
		}
		risk, err := h.svc.List(h.ctx, agent.Filter{Role: agent.RoleRisk})
		if err != nil || len(risk) != 1 || risk[0].ID != a2.ID {
			t.Fatalf("%v %v", risk, err)
		}
		got, err := h.svc.FindByEmail(h.ctx, strings.ToUpper(a2.Email))
		if err != nil || got.ID != a2.ID || strings.Join(rolesOf(got), ",") != "agent,risk" {
			t.Fatalf("%+v %v", got, err)
		}
		_, err = h.svc.Find(h.ctx, 12345)
		wantCode(t, err, okpay.ENotFound)
	})
}

func rolesOf(a *agent.Agent) []string {
	var out []string
	for _, r := range a.Roles {
		out = append(out, string(r))
	}
	return out
}
