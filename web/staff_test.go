package web_test

import (
	"encoding/base32"
	"fmt"
	"html"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/okpay/okpay/agent"
	"github.com/okpay/okpay/audit"
	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/desk/realtime"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/identity/otp"
	"github.com/okpay/okpay/identity/passkey/passkeytest"
	"github.com/okpay/okpay/web"
)

// This file tests the staff console (/staff/) over the real stack: the
// customer environment of account_env_test.go (SQLite, identity, passkeys)
// with an agent service on the same database, keys and clock.

// staffEnv is an account environment with the staff console.
type staffEnv struct {
	*accountEnv
	staff *agent.Service
	cli   agent.Actor
	// desk is the support desk the console (staff_desk.go) serves; mux
	// the pages' mux, on which the desk tests mount the JSON API.
	desk *desk.Service
	mux  *http.ServeMux
}

// newStaffEnv builds the account environment, then serves it again with
// the staff console added: an agent service on the identity service's
// database, clock, ids, keys, hasher and passkey service.
func newStaffEnv(t *testing.T, cfg agent.Config) *staffEnv {
	t.Helper()
	return newStaffEnvAt(t, testPasskeyOrigin, cfg)
}

// newStaffEnvAt is newStaffEnv whose passkeys work at origin (a browser's).
func newStaffEnvAt(t *testing.T, origin string, cfg agent.Config) *staffEnv {
	t.Helper()
	e := &staffEnv{cli: agent.Actor{System: "cli:test"}, accountEnv: newAccountEnvAt(t, origin)}
	d := e.id.Deps
	cfg.BaseURL = "https://okpay.test"
	var err error
	e.staff, err = agent.New(agent.Deps{DB: d.DB, Clock: d.Clock, IDs: d.IDs, Keys: d.Keys, Hasher: d.Hasher,
		CheckPassword: d.CheckPassword, Passkeys: d.Passkeys}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(audit.NewHandler(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	e.server, err = web.New(web.Config{Catalog: e.cat, Logger: quiet, Version: "1.2.3-test", Identity: e.id, Outbox: e.outbox,
		Mailbox: e.mailbox, Agents: e.staff, ConsolePing: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	// The support desk's console and widget (staff_desk_test.go).
	if e.desk, err = desk.New(desk.Deps{DB: d.DB, Clock: d.Clock, IDs: d.IDs, Bus: realtime.NewMemory(0)}, desk.Config{}); err != nil {
		t.Fatal(err)
	}
	if err := e.server.EnableDesk(e.desk); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.server.CloseDesk)
	e.enableSupport(t) // the customer panel and approvals (staff_customer_test.go)
	mux := http.NewServeMux()
	e.mux = mux
	e.server.Register(mux)
	e.handler = web.SecurityHeaders(web.CrossOrigin(mux))
	return e
}

// staffMember is an agent enrolled through the pages, with its browser.
type staffMember struct {
	agent    *agent.Agent
	password string
	auth     *passkeytest.Authenticator
	c        *client
}

var staffSeq struct{ n int }

// newMember creates an agent with roles (command line) and enrols it
// through the pages; the client is left signed in.
func (e *staffEnv) newMember(t *testing.T, roles ...agent.Role) *staffMember {
	t.Helper()
	accountSeq.Lock()
	staffSeq.n++
	n := staffSeq.n
	accountSeq.Unlock()
	a, enr, err := e.staff.Create(e.ctx, e.cli, agent.NewAgent{Email: fmt.Sprintf("agent%d@okpay.test", n), DisplayName: fmt.Sprintf("Agent %d", n),
		Roles: roles, Teams: []string{"general"}, Languages: []i18n.Lang{i18n.ZhCN, i18n.En}}, agent.Meta{IP: "cli"})
	if err != nil {
		t.Fatal(err)
	}
	m := &staffMember{agent: a, password: fmt.Sprintf("harbour lights %d evening", n), auth: passkeytest.New(testPasskeyOrigin, "okpay.test"), c: e.client()}
	e.enrolThroughPages(t, m, enr)
	return m
}

// enrolThroughPages follows an enrolment link as a browser would.
func (e *staffEnv) enrolThroughPages(t *testing.T, m *staffMember, enr *agent.Enrollment) {
	t.Helper()
	path := strings.TrimPrefix(enr.URL, "https://okpay.test")
	res := m.c.get(path)
	wantStatus(t, res, http.StatusOK)
	if rp := res.Header.Get("Referrer-Policy"); rp != "no-referrer" {
		t.Errorf("enrolment page Referrer-Policy %q", rp)
	}
	wantContains(t, res.body, m.agent.Email)
	res = m.c.post("/staff/enroll", url.Values{"token": {enr.Token}, "password": {m.password}, "password_again": {m.password}})
	wantRedirect(t, res, "/staff/enroll/factor")
	wantStatus(t, m.c.get("/staff/enroll/factor"), http.StatusOK)
	cer := readCeremony(t, m.c.post("/staff/enroll/passkey", nil), "/staff/enroll/passkey/finish")
	res = m.c.post("/staff/enroll/passkey/finish", url.Values{"flow": {cer.flow}, "response": {cer.create(t, m.auth)}, "label": {"work laptop"}})
	wantRedirect(t, res, "/staff/")
}

// signIn signs m in through the pages: password, then passkey.
func (e *staffEnv) signIn(t *testing.T, m *staffMember) {
	t.Helper()
	res := m.c.post("/staff/login", url.Values{"email": {m.agent.Email}, "password": {m.password}})
	wantRedirect(t, res, "/staff/login/verify")
	e.passkeyStep(t, m, "", "/staff/")
}

// passkeyStep runs the passkey step (sign-in or step-up) and checks
// where it leads.
func (e *staffEnv) passkeyStep(t *testing.T, m *staffMember, next, want string) {
	t.Helper()
	cer := readCeremony(t, m.c.post("/staff/login/passkey", url.Values{"next": {next}}), "/staff/login/passkey/finish")
	res := m.c.post("/staff/login/passkey/finish", url.Values{"flow": {cer.flow}, "response": {cer.get(t, m.auth)}, "next": {next}})
	wantRedirect(t, res, want)
}

// TestSUP01_StaffSignInThroughThePages: enrolment from the link (the link
// dies after the passkey), sign-out, sign-in with password then passkey;
// the password step reaches no console page; the pre-passkey cookie dies
// (SES-02); the home lists what the roles allow.
func TestSUP01_StaffSignInThroughThePages(t *testing.T) {
	t.Parallel()
	e := newStaffEnv(t, agent.Config{})
	m := e.newMember(t, agent.RoleAgent, agent.RoleRisk)
	home := m.c.get("/staff/")
	wantStatus(t, home, http.StatusOK)
	wantContains(t, home.body, `data-perm="withdrawal:review"`, `data-perm="conversation:reply"`, `data-sudo="on"`)
	if strings.Contains(home.body, `data-perm="agent:manage"`) || strings.Contains(home.body, `href="/staff/agents"`) {
		t.Error("an agent without agent:manage is offered the agents page")
	}
	if ck := m.c.cookies["__Host-agent"]; ck == nil || !ck.Secure || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/" || ck.Domain != "" {
		t.Fatalf("staff cookie %+v", ck)
	}

	wantRedirect(t, m.c.post("/staff/logout", nil), "/staff/login?out=1")
	wantRedirect(t, m.c.get("/staff/"), "/staff/login")

	// Wrong password and unknown email: the same page.
	bad := m.c.post("/staff/login", url.Values{"email": {m.agent.Email}, "password": {"not my password at all"}})
	unknown := m.c.post("/staff/login", url.Values{"email": {"nobody@okpay.test"}, "password": {"not my password at all"}})
	wantStatus(t, bad, http.StatusUnauthorized)
	wantStatus(t, unknown, http.StatusUnauthorized)
	if strip(bad.body, m.agent.Email) != strip(unknown.body, "nobody@okpay.test") {
		t.Error("a wrong password and an unknown email look different")
	}

	res := m.c.post("/staff/login", url.Values{"email": {m.agent.Email}, "password": {m.password}})
	wantRedirect(t, res, "/staff/login/verify")
	pending := m.c.cookie("__Host-agent")
	for _, p := range []string{"/staff/", "/staff/agents", "/staff/teams"} {
		wantRedirect(t, m.c.get(p), "/staff/login/verify")
	}
	verify := m.c.get("/staff/login/verify")
	wantStatus(t, verify, http.StatusOK)
	wantContains(t, verify.body, `data-testid="use-passkey"`)
	if strings.Contains(verify.body, `data-testid="code-totp"`) {
		t.Error("TOTP offered without AllowTOTP")
	}
	e.passkeyStep(t, m, "", "/staff/")
	if m.c.cookie("__Host-agent") == pending {
		t.Fatal("the session kept its token through the passkey step")
	}
	old := e.client()
	old.cookies["__Host-agent"] = &http.Cookie{Name: "__Host-agent", Value: pending}
	wantRedirect(t, old.get("/staff/"), "/staff/login")
	wantStatus(t, m.c.get("/staff/"), http.StatusOK)

	// TOTP is refused on this server, whatever is posted.
	m.c.post("/staff/logout", nil)
	wantRedirect(t, m.c.post("/staff/login", url.Values{"email": {m.agent.Email}, "password": {m.password}}), "/staff/login/verify")
	res = m.c.post("/staff/login/totp", url.Values{"code": {"123456"}})
	wantStatus(t, res, http.StatusConflict)
	wantRedirect(t, m.c.get("/staff/"), "/staff/login/verify")
}

// strip removes s from a page so two pages can be compared.
func strip(body, s string) string { return strings.ReplaceAll(body, html.EscapeString(s), "") }

// TestStaffCookieSeparation: a customer's session cookie never opens a
// staff page, and a staff session never opens a customer page, whatever
// cookie name it is presented under.
func TestStaffCookieSeparation(t *testing.T) {
	t.Parallel()
	e := newStaffEnv(t, agent.Config{})
	cust := e.client()
	e.signUp(cust)
	wantStatus(t, cust.get("/account"), http.StatusOK)
	wantRedirect(t, cust.get("/staff/"), "/staff/login")
	custToken := cust.cookie("__Host-session")

	m := e.newMember(t, agent.RoleAdmin, agent.RoleAgent)
	staffToken := m.c.cookie("__Host-agent")
	wantRedirect(t, m.c.get("/account"), "/login")

	// The customer's token as a staff cookie.
	forged := e.client()
	forged.cookies["__Host-agent"] = &http.Cookie{Name: "__Host-agent", Value: custToken}
	for _, p := range []string{"/staff/", "/staff/agents", "/staff/login/verify", "/staff/enroll/factor"} {
		wantRedirect(t, forged.get(p), "/staff/login")
	}
	// The staff token as a customer cookie.
	forged = e.client()
	forged.cookies["__Host-session"] = &http.Cookie{Name: "__Host-session", Value: staffToken}
	wantRedirect(t, forged.get("/account"), "/login")
	wantRedirect(t, forged.get("/account/security"), "/login")
	// Both still work for their owners.
	wantStatus(t, cust.get("/account"), http.StatusOK)
	wantStatus(t, m.c.get("/staff/agents"), http.StatusOK)
}

// TestSUP01_StaffRBACMatrix walks every staff route × every role: a role
// without the route's permission gets 403 (and the refusal is audited),
// a role with it never does; without a session every console route sends
// to the sign-in page, and a session waiting for its passkey to the
// passkey step.
func TestSUP01_StaffRBACMatrix(t *testing.T) {
	t.Parallel()
	e := newStaffEnv(t, agent.Config{})
	members := map[agent.Role]*staffMember{}
	for _, r := range agent.Roles() {
		members[r] = e.newMember(t, r)
	}
	target := members[agent.RoleAgent].agent.Ref()
	pending := e.newMember(t, agent.RoleAdmin)
	pending.c.post("/staff/logout", nil)
	wantRedirect(t, pending.c.post("/staff/login", url.Values{"email": {pending.agent.Email}, "password": {pending.password}}), "/staff/login/verify")
	anon := e.client()

	routes := e.server.StaffRoutes()
	if len(routes) < 20 {
		t.Fatalf("%d staff routes", len(routes))
	}
	checked := 0
	var sudo []web.StaffRoute
	for _, rt := range routes {
		if rt.Access == web.StaffSudo {
			sudo = append(sudo, rt)
		}
		if rt.Access != web.StaffFull && rt.Access != web.StaffSudo {
			continue
		}
		if rt.Perm != "" && !agent.ValidPermission(rt.Perm) {
			t.Errorf("%s %s: unknown permission %q", rt.Method, rt.Pattern, rt.Perm)
		}
		path := strings.NewReplacer("{$}", "", "{id}", target).Replace(rt.Pattern)
		do := func(c *client) *response {
			if rt.Method == http.MethodPost {
				return c.post(path, url.Values{}) // an empty form: refused by validation at worst, never a change
			}
			return c.get(path)
		}
		wantRedirect(t, do(anon), "/staff/login")
		wantRedirect(t, do(pending.c), "/staff/login/verify")
		allowed := 0
		for _, r := range agent.Roles() {
			res := do(members[r].c)
			may := rt.Perm == "" || agent.RoleHas(r, rt.Perm)
			switch {
			case !may && res.StatusCode != http.StatusForbidden:
				t.Errorf("%s %s as %s: status %d, want 403", rt.Method, path, r, res.StatusCode)
			case may && (res.StatusCode == http.StatusForbidden || res.StatusCode >= 500 || res.StatusCode == http.StatusSeeOther && strings.HasPrefix(res.Header.Get("Location"), "/staff/login")):
				t.Errorf("%s %s as %s: status %d (%s), want it allowed", rt.Method, path, r, res.StatusCode, res.Header.Get("Location"))
			case !may:
				wantContains(t, res.body, e.text(i18n.En, "staff.forbidden.title"))
			}
			if may {
				allowed++
			}
			checked++
		}
		if allowed == 0 {
			t.Errorf("%s %s: no role may use it", rt.Method, rt.Pattern)
		}
	}
	if checked < 10*len(agent.Roles()) {
		t.Fatalf("only %d checks", checked)
	}
	// Past the sudo window, the routes that decide about money (approvals,
	// withdrawal reviews, exchange rates) ask for the passkey again (403
	// with the step-up panel) even of a role that holds the permission.
	if len(sudo) < 6 {
		t.Fatalf("%d sudo routes", len(sudo))
	}
	e.clock.Advance(11 * time.Minute)
	for _, rt := range sudo {
		for _, r := range agent.Roles() {
			if !agent.RoleHas(r, rt.Perm) {
				continue
			}
			res := members[r].c.post(rt.Pattern, url.Values{})
			if res.StatusCode != http.StatusForbidden || !strings.Contains(res.body, `data-testid="staff-stepup"`) {
				t.Errorf("%s %s as %s past the sudo window: %d, want 403 with the step-up panel", rt.Method, rt.Pattern, r, res.StatusCode)
			}
		}
	}
	// The refusals are in the audit log with the agent and permission.
	entries, err := audit.New(e.db).List(e.ctx, members[agent.RoleAgent].agent.Ref(), audit.MaxListLimit, 0)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, en := range entries {
		if en.Name == audit.AuthzFail && en.Actor == members[agent.RoleAgent].agent.Ref() && en.Details["permission"] == string(agent.PermAgentManage) {
			found = strings.HasPrefix(en.Details["target"], "GET /staff/agents") || found
		}
	}
	if !found {
		t.Error("no authz_fail audit entry for a refused staff route")
	}
}

// TestStaffRouteTable: only GET and POST; GETs change nothing in the
// staff tables (SES-09); no path parameter but the enrolment link's token
// and agent references (SES-10); a cross-site POST is refused.
func TestStaffRouteTable(t *testing.T) {
	t.Parallel()
	e := newStaffEnv(t, agent.Config{})
	// Roles that together may GET every staff route (a refused GET is
	// audited, which this test would see as a change).
	admin := e.newMember(t, agent.RoleAdmin, agent.RoleSupervisor, agent.RoleRisk)
	_, enr, err := e.staff.Create(e.ctx, e.cli, agent.NewAgent{Email: "later@okpay.test", DisplayName: "Later", Roles: []agent.Role{agent.RoleAgent},
		Languages: []i18n.Lang{i18n.En}}, agent.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	anon := e.client()
	before := e.staffState()
	for _, rt := range e.server.StaffRoutes() {
		switch p := rt.Pattern; {
		case rt.Method != http.MethodGet && rt.Method != http.MethodPost:
			t.Errorf("%s %s: only GET and POST", rt.Method, p)
		case !strings.Contains(strings.TrimSuffix(p, "{$}"), "{"):
		case p == "/staff/enroll/{token}", strings.HasPrefix(p, "/staff/agents/{id}"):
		default:
			t.Errorf("%s %s: unexpected path parameter", rt.Method, p)
		}
		if rt.Method != http.MethodGet {
			continue
		}
		path := strings.NewReplacer("{$}", "", "{id}", admin.agent.Ref(), "{token}", enr.Token).Replace(rt.Pattern)
		for _, c := range []*client{admin.c, anon} {
			for _, method := range []string{http.MethodGet, http.MethodHead} {
				res := c.do(method, path, nil)
				if res.StatusCode >= 500 {
					t.Errorf("%s %s: %d", method, path, res.StatusCode)
				}
				if cc := res.Header.Get("Cache-Control"); cc != "no-store" {
					t.Errorf("%s %s: Cache-Control %q", method, path, cc)
				}
				for _, ck := range res.Cookies() {
					t.Errorf("%s %s set cookie %s", method, path, ck.Name)
				}
			}
		}
	}
	if after := e.staffState(); after != before {
		t.Errorf("GET requests changed the staff tables:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	// SES-09: a cross-site form post is refused before any handler.
	r := e.client()
	r.cookies = admin.c.cookies
	res := r.doHeaders(http.MethodPost, "/staff/agents", url.Values{"email": {"x@okpay.test"}}, map[string]string{"Sec-Fetch-Site": "cross-site"})
	wantStatus(t, res, http.StatusForbidden)
}

// doHeaders sends a request with extra headers (replacing the client's).
func (c *client) doHeaders(method, target string, form url.Values, headers map[string]string) *response {
	c.t.Helper()
	saved := c.h
	c.h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k, v := range headers {
			r.Header.Set(k, v)
		}
		saved.ServeHTTP(w, r)
	})
	defer func() { c.h = saved }()
	return c.do(method, target, form)
}

// staffState is the staff tables' content that a GET must not change
// (a session's last-seen time is activity, not state).
func (e *staffEnv) staffState() string {
	e.t.Helper()
	var b strings.Builder
	for _, q := range []string{
		`SELECT id, email, display_name, languages, status, password_hash, enrolled_at, failed_count, locked_until, updated_at FROM agents ORDER BY id`,
		`SELECT agent_id, role FROM agent_roles ORDER BY agent_id, role`,
		`SELECT agent_id, team FROM agent_team_members ORDER BY agent_id, team`,
		`SELECT name, languages, always_open, time_zone, schedule, updated_at FROM agent_teams ORDER BY name`,
		`SELECT id, used_at, revoked_at FROM agent_enrollments ORDER BY id`,
		`SELECT id, token_hash, aal, purpose, mfa_at, revoked_at FROM agent_sessions ORDER BY id`,
		`SELECT COUNT(*) FROM audit_log`,
	} {
		rows, err := e.db.Read.QueryContext(e.ctx, q)
		if err != nil {
			e.t.Fatalf("%s: %v", q, err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				e.t.Fatal(err)
			}
			fmt.Fprintln(&b, vals...)
		}
		rows.Close()
	}
	return b.String()
}

var enrollURLRE = regexp.MustCompile(`data-testid="enrollment-url">([^<]+)<`)

// TestStaffAdminPages: an admin creates an agent on the page and sees the
// link once (in the page, never in a URL); the agent enrols with it; the
// admin changes the agent's roles and disables the account (its session
// dies); after 10 minutes an administrative change asks for the passkey
// again, and the step-up returns to the page.
func TestStaffAdminPages(t *testing.T) {
	t.Parallel()
	e := newStaffEnv(t, agent.Config{})
	admin := e.newMember(t, agent.RoleAdmin)
	list := admin.c.get("/staff/agents")
	wantStatus(t, list, http.StatusOK)
	wantContains(t, list.body, admin.agent.Email, `data-testid="staff-agent-create"`)

	form := url.Values{"email": {"li.na@okpay.test"}, "display_name": {"李娜"}, "roles": {"agent", "supervisor"},
		"teams": {"general", "payments"}, "languages": {"zh-CN"}, "reason": {"new hire"}}
	res := admin.c.post("/staff/agents", form)
	wantStatus(t, res, http.StatusOK)
	if res.Header.Get("Location") != "" || res.Header.Get("Referrer-Policy") != "no-referrer" {
		t.Fatalf("link page headers %v", res.Header)
	}
	link := html.UnescapeString(find(t, res.body, enrollURLRE))
	if !strings.HasPrefix(link, "https://okpay.test/staff/enroll/") {
		t.Fatalf("link %q", link)
	}
	again := admin.c.post("/staff/agents", form)
	wantStatus(t, again, http.StatusConflict)
	wantContains(t, again.body, e.text(i18n.En, "staff.error.email_taken"))

	created, err := e.staff.FindByEmail(e.ctx, "li.na@okpay.test")
	if err != nil {
		t.Fatal(err)
	}
	if created.DisplayName != "李娜" || len(created.Roles) != 2 || strings.Join(created.Teams, ",") != "general,payments" {
		t.Fatalf("%+v", created)
	}
	newbie := &staffMember{agent: created, password: "a calm and long passphrase", auth: passkeytest.New(testPasskeyOrigin, "okpay.test"), c: e.client()}
	token := link[strings.LastIndexByte(link, '/')+1:]
	e.enrolThroughPages(t, newbie, &agent.Enrollment{Token: token, URL: link})
	wantStatus(t, newbie.c.get("/staff/"), http.StatusOK)
	// The link is used up.
	res = e.client().get(strings.TrimPrefix(link, "https://okpay.test"))
	wantStatus(t, res, http.StatusBadRequest)

	// Roles: a reason is required; then the change shows.
	ref := created.Ref()
	res = admin.c.post("/staff/agents/"+ref, url.Values{"display_name": {"李娜"}, "roles": {"agent"}, "teams": {"general"}, "languages": {"zh-CN", "en"}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantContains(t, res.body, e.text(i18n.En, "staff.error.reason"))
	res = admin.c.post("/staff/agents/"+ref, url.Values{"display_name": {"李娜"}, "roles": {"agent"}, "teams": {"general"}, "languages": {"zh-CN", "en"}, "reason": {"back to the desk"}})
	wantRedirect(t, res, "/staff/agents/"+ref+"?done=updated")
	if a, _ := e.staff.Find(e.ctx, created.ID); len(a.Roles) != 1 || a.Roles[0] != agent.RoleAgent {
		t.Fatalf("roles %v", a.Roles)
	}
	// One's own roles: refused.
	res = admin.c.post("/staff/agents/"+admin.agent.Ref(), url.Values{"display_name": {"x"}, "roles": {"admin", "risk"}, "teams": {"general"}, "languages": {"en"}, "reason": {"x"}})
	wantStatus(t, res, http.StatusForbidden)
	wantContains(t, res.body, e.text(i18n.En, "staff.error.self"))

	// Disable: the agent's session dies.
	res = admin.c.post("/staff/agents/"+ref+"/disable", url.Values{"reason": {"left"}})
	wantRedirect(t, res, "/staff/agents?done=disabled")
	wantRedirect(t, newbie.c.get("/staff/"), "/staff/login")

	// After the sudo window: the passkey again, then back to the page.
	e.clock.Advance(11 * time.Minute)
	admin.c.get("/staff/") // keep the session alive (idle timeout 30 min)
	res = admin.c.post("/staff/agents/"+ref+"/enable", url.Values{"reason": {"returned"}})
	wantStatus(t, res, http.StatusUnauthorized)
	wantContains(t, res.body, `data-testid="staff-stepup"`)
	e.passkeyStep(t, admin, "/staff/agents/"+ref, "/staff/agents/"+ref)
	res = admin.c.post("/staff/agents/"+ref+"/enable", url.Values{"reason": {"returned"}})
	wantRedirect(t, res, "/staff/agents?done=enabled")

	// Reset sign-in shows a new link once.
	res = admin.c.post("/staff/agents/"+ref+"/reset", url.Values{"reason": {"lost phone"}})
	wantStatus(t, res, http.StatusOK)
	if l2 := html.UnescapeString(find(t, res.body, enrollURLRE)); l2 == link {
		t.Fatal("the same link twice")
	}

	// Teams: a supervisor-less admin manages teams too.
	res = admin.c.post("/staff/teams", url.Values{"name": {"payments"}, "languages": {"zh-CN", "en"}, "time_zone": {"Asia/Shanghai"}, "schedule": {"mon-sat 08:00-20:00"}})
	wantRedirect(t, res, "/staff/teams?done=saved")
	teams := admin.c.get("/staff/teams")
	wantContains(t, teams.body, "mon-sat 08:00-20:00")
	res = admin.c.post("/staff/teams", url.Values{"name": {"payments"}, "languages": {"en"}, "time_zone": {"Asia/Shanghai"}, "schedule": {"mon 09:00-08:00"}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantContains(t, res.body, e.text(i18n.En, "staff.error.schedule"))
	// A team open around the clock says so as its hours (it said "None").
	res = admin.c.post("/staff/teams", url.Values{"name": {"nights"}, "languages": {"en"}, "time_zone": {"Asia/Shanghai"}, "always_open": {"1"}})
	wantRedirect(t, res, "/staff/teams?done=saved")
	teams = admin.c.get("/staff/teams")
	hours := regexp.MustCompile(`(?s)data-team="nights">.*?data-testid="team-schedule">([^<]*)</dd>`).FindStringSubmatch(teams.body)
	if hours == nil || hours[1] != html.EscapeString(e.text(i18n.En, "staff.teams.always_open")) {
		t.Fatalf("the 24/7 team's hours: %q", hours)
	}
}

// TestStaffTOTPOnDemoServers: with AllowTOTP an agent can enrol an
// authenticator app instead of a passkey and sign in with its codes.
func TestStaffTOTPOnDemoServers(t *testing.T) {
	t.Parallel()
	e := newStaffEnv(t, agent.Config{AllowTOTP: true})
	a, enr, err := e.staff.Create(e.ctx, e.cli, agent.NewAgent{Email: "demo@okpay.test", DisplayName: "Demo", Roles: []agent.Role{agent.RoleAgent},
		Languages: []i18n.Lang{i18n.En}}, agent.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	c := e.client()
	res := c.post("/staff/enroll", url.Values{"token": {enr.Token}, "password": {"quiet orchard lamp seven"}, "password_again": {"quiet orchard lamp seven"}})
	wantRedirect(t, res, "/staff/enroll/factor")
	page := c.get("/staff/enroll/factor")
	wantContains(t, page.body, `data-testid="enroll-totp-start"`, `data-testid="enroll-passkey-start"`)
	res = c.post("/staff/enroll/totp", nil)
	wantStatus(t, res, http.StatusOK)
	key, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(find(t, res.body, totpSecretRE))
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := scanQR(t, res.body); got != otp.ProvisioningURI("OKPay staff", a.Email, key) {
		t.Errorf("the QR code reads %q, want the set-up address of %s with the key shown", got, a.Email)
	}
	res = c.post("/staff/enroll/totp/confirm", url.Values{"code": {otp.TOTPCode(key, e.clock.Now())}})
	wantRedirect(t, res, "/staff/")
	wantStatus(t, c.get("/staff/"), http.StatusOK)

	c.post("/staff/logout", nil)
	e.clock.Advance(30 * time.Second)
	wantRedirect(t, c.post("/staff/login", url.Values{"email": {a.Email}, "password": {"quiet orchard lamp seven"}}), "/staff/login/verify")
	verify := c.get("/staff/login/verify")
	wantContains(t, verify.body, `data-testid="code-totp"`)
	res = c.post("/staff/login/totp", url.Values{"code": {"000000"}})
	wantStatus(t, res, http.StatusUnauthorized)
	res = c.post("/staff/login/totp", url.Values{"code": {otp.TOTPCode(key, e.clock.Now())}})
	wantRedirect(t, res, "/staff/")
}

// TestStaffPagesRenderInBothLanguages checks every staff page in both
// languages for what every page must have (as the account pages are).
func TestStaffPagesRenderInBothLanguages(t *testing.T) {
	t.Parallel()
	e := newStaffEnv(t, agent.Config{AllowTOTP: true})
	admin := e.newMember(t, agent.RoleAdmin, agent.RoleSupervisor, agent.RoleAgent)
	_, enr, err := e.staff.Create(e.ctx, e.cli, agent.NewAgent{Email: "page@okpay.test", DisplayName: "Page", Roles: []agent.Role{agent.RoleAgent},
		Languages: []i18n.Lang{i18n.En}}, agent.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	enrolling := e.client()
	wantRedirect(t, enrolling.post("/staff/enroll", url.Values{"token": {enr.Token}, "password": {"river stone lantern nine"}, "password_again": {"river stone lantern nine"}}), "/staff/enroll/factor")
	pending := e.client()
	wantRedirect(t, pending.post("/staff/login", url.Values{"email": {admin.agent.Email}, "password": {admin.password}}), "/staff/login/verify")
	anon := e.client()
	_, enr2, err := e.staff.Create(e.ctx, e.cli, agent.NewAgent{Email: "page2@okpay.test", DisplayName: "Page 2", Roles: []agent.Role{agent.RoleAgent},
		Languages: []i18n.Lang{i18n.En}}, agent.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	pages := []struct {
		name string
		c    *client
		path string
	}{
		{"login", anon, "/staff/login"},
		{"enroll", anon, "/staff/enroll/" + enr2.Token},
		{"enroll-invalid", anon, "/staff/enroll/nosuchtoken"},
		{"enroll-factor", enrolling, "/staff/enroll/factor"},
		{"verify", pending, "/staff/login/verify"},
		{"home", admin.c, "/staff/"},
		{"agents", admin.c, "/staff/agents"},
		{"agent", admin.c, "/staff/agents/" + admin.agent.Ref()},
		{"teams", admin.c, "/staff/teams"},
		{"team-edit", admin.c, "/staff/teams?team=payments"},
	}
	for _, l := range []i18n.Lang{i18n.En, i18n.ZhCN} {
		for _, p := range pages {
			p.c.lang = string(l)
			res := p.c.get(p.path)
			if p.name == "enroll-invalid" {
				wantStatus(t, res, http.StatusBadRequest)
				res.StatusCode = http.StatusOK // the checks below expect 200
			}
			checkAccountPage(t, e.accountEnv, "staff "+p.name, l, res)
			for _, m := range regexp.MustCompile(`\bstaff\.[a-z_]+\.[a-z_.]+\b`).FindAllString(res.body, -1) {
				t.Errorf("staff %s (%s): untranslated id %q", p.name, l, m)
			}
		}
		// The ceremony and TOTP pages (POST answers).
		for _, c := range []struct {
			name string
			cl   *client
			path string
		}{
			{"passkey", pending, "/staff/login/passkey"},
			{"passkey-enrol", enrolling, "/staff/enroll/passkey"},
			{"totp", enrolling, "/staff/enroll/totp"},
		} {
			c.cl.lang = string(l)
			checkAccountPage(t, e.accountEnv, "staff "+c.name, l, c.cl.post(c.path, nil))
		}
	}
	// A 403 page, in Chinese.
	worker := e.newMember(t, agent.RoleAgent)
	worker.c.lang = "zh-CN"
	res := worker.c.get("/staff/agents")
	wantStatus(t, res, http.StatusForbidden)
	wantContains(t, res.body, e.text(i18n.ZhCN, "staff.forbidden.title"), `<html lang="zh-CN">`)
}
