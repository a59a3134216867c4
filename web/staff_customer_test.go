package web_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/okpay/okpay/agent"
	"github.com/okpay/okpay/audit"
	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/support"
)

// This file tests the customer panel (/staff/customer) and the approvals
// page (/staff/approvals) over the real stack of staff_test.go.

// enableSupport adds the support service to the staff environment's
// pages (newStaffEnvAt calls it).
func (e *staffEnv) enableSupport(t *testing.T) {
	t.Helper()
	d := e.id.Deps
	svc, err := support.New(support.Deps{DB: d.DB, Clock: d.Clock, IDs: d.IDs, Identity: e.id, Desk: e.desk, Audit: audit.New(d.DB), Outbox: e.outbox}, support.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.server.EnableSupport(svc); err != nil {
		t.Fatal(err)
	}
}

// customerCase signs a customer up and opens their chat; it returns the
// customer's account, id and the conversation's reference.
func (e *staffEnv) customerCase(t *testing.T) (testAccount, int64, string) {
	t.Helper()
	c := e.client()
	acct := e.signUp(c)
	u := e.user(acct)
	conv, err := e.desk.StartConversation(e.ctx, desk.Customer(u.ID), desk.StartInput{Category: desk.CategoryAccount, Body: "I cannot sign in."})
	if err != nil {
		t.Fatal(err)
	}
	return acct, u.ID, desk.ConversationRef(conv.ID)
}

func (e *staffEnv) frozen(t *testing.T, userID int64) bool {
	t.Helper()
	var st string
	if err := e.db.Read.QueryRowContext(e.ctx, `SELECT status FROM users WHERE id = $1`, userID).Scan(&st); err != nil {
		t.Fatal(err)
	}
	return st == "frozen"
}

func (e *staffEnv) auditOf(t *testing.T, userID int64, name string) []audit.Entry {
	t.Helper()
	es, err := audit.New(e.db).List(e.ctx, ids.Format(identity.UserPrefix, userID), audit.MaxListLimit, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []audit.Entry
	for _, en := range es {
		if en.Name == name {
			out = append(out, en)
		}
	}
	return out
}

var requestRefRE = regexp.MustCompile(`data-request="(srq_[0-9a-z]+)"`)

// TestStaffCustomerPanelAndApprovals: the panel masks personal data and
// a reveal needs a reason (logged); the agent freezes from the panel; an
// unfreeze request is refused until RSK-06's reset was sent, then waits
// on the approvals page, which agents cannot open; a supervisor approves
// it and the account is active; a supervisor's own request is refused to
// them with 403 and a clear message, in English and Chinese.
func TestStaffCustomerPanelAndApprovals(t *testing.T) {
	t.Parallel()
	e := newStaffEnv(t, agent.Config{})
	acct, userID, conv := e.customerCase(t)
	ag := e.newMember(t, agent.RoleAgent)
	sup := e.newMember(t, agent.RoleSupervisor)
	sup2 := e.newMember(t, agent.RoleSupervisor)

	// The conversation links to the panel.
	cv := ag.c.get("/staff/desk/conversation?id=" + conv)
	wantStatus(t, cv, http.StatusOK)
	wantContains(t, cv.body, `href="/staff/customer?id=`+conv+`"`)

	page := ag.c.get("/staff/customer?id=" + conv)
	wantStatus(t, page, http.StatusOK)
	wantContains(t, page.body, support.MaskEmail(acct.email), `data-frozen="false"`, `data-testid="support-freeze-form"`)
	if strings.Contains(page.body, acct.email) || strings.Contains(page.body, acct.phone) {
		t.Fatal("the panel shows unmasked personal data")
	}
	// Agents may not ask to lift holds or reset factors: no such forms.
	if strings.Contains(page.body, `support-reset-factors-form`) {
		t.Error("an agent is offered the second-factor reset")
	}
	wantStatus(t, ag.c.get("/staff/customer?id=cnv_nosuchconv00"), http.StatusNotFound)

	// A reveal needs a reason; with one it shows the email, logged.
	res := ag.c.post("/staff/customer/reveal", url.Values{"id": {conv}, "field": {"email"}, "reason": {""}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantContains(t, res.body, e.text(i18n.En, "support.error.reason"))
	res = ag.c.post("/staff/customer/reveal", url.Values{"id": {conv}, "field": {"email"}, "reason": {"customer asks where we write"}})
	wantStatus(t, res, http.StatusOK)
	wantContains(t, res.body, `data-testid="support-revealed">`+acct.email+`<`)
	if rv := e.auditOf(t, userID, support.EventReveal); len(rv) != 1 || rv[0].Actor != ag.agent.Ref() || rv[0].CaseID != conv || rv[0].Reason != "customer asks where we write" {
		t.Fatalf("reveal audit %+v", rv)
	}

	// Freeze from the panel.
	wantRedirect(t, ag.c.post("/staff/customer/freeze", url.Values{"id": {conv}, "reason": {"takeover reported"}}), "/staff/customer?id="+conv+"&done=frozen")
	if !e.frozen(t, userID) {
		t.Fatal("not frozen")
	}
	page = ag.c.get("/staff/customer?id=" + conv + "&done=frozen")
	wantContains(t, page.body, `data-frozen="true"`, `data-testid="support-unfreeze-form"`, e.text(i18n.En, "support.notice.frozen"))

	// RSK-06: no unfreeze request before a reset was sent.
	unfreeze := url.Values{"id": {conv}, "reason": {"verified by video"}, "verification": {"id_selfie"}, "evidence": {"passport ••12, selfie"},
		"devices_reviewed": {"yes"}, "methods_reviewed": {"yes"}}
	res = ag.c.post("/staff/customer/unfreeze", unfreeze)
	wantStatus(t, res, http.StatusConflict)
	wantContains(t, res.body, e.text(i18n.En, "support.error.support_no_reset"))
	ag.c.lang = "zh-CN"
	res = ag.c.post("/staff/customer/unfreeze", unfreeze)
	wantStatus(t, res, http.StatusConflict)
	wantContains(t, res.body, e.text(i18n.ZhCN, "support.error.support_no_reset"))
	ag.c.lang = "en"
	wantRedirect(t, ag.c.post("/staff/customer/reset", url.Values{"id": {conv}, "reason": {"RSK-06"}}), "/staff/customer?id="+conv+"&done=reset")
	wantRedirect(t, ag.c.post("/staff/customer/unfreeze", unfreeze), "/staff/customer?id="+conv+"&done=requested")

	// Agents cannot open the approvals page; supervisors see the request.
	wantStatus(t, ag.c.get("/staff/approvals"), http.StatusForbidden)
	ap := sup.c.get("/staff/approvals")
	wantStatus(t, ap, http.StatusOK)
	wantContains(t, ap.body, `data-kind="unfreeze"`, "passport ••12, selfie", `data-testid="nav-staff-approvals"`)
	m := requestRefRE.FindStringSubmatch(ap.body)
	if m == nil {
		t.Fatal("no request on the approvals page")
	}
	ref := m[1]
	res = sup.c.post("/staff/approvals/approve", url.Values{"request": {ref}, "reason": {""}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantRedirect(t, sup.c.post("/staff/approvals/approve", url.Values{"request": {ref}, "reason": {"evidence checked"}}), "/staff/approvals?done=approved")
	if e.frozen(t, userID) {
		t.Fatal("still frozen after the approval")
	}
	if got := e.auditOf(t, userID, support.EventRequestApproved); len(got) != 1 || got[0].Actor != sup.agent.Ref() || got[0].Details["maker"] != ag.agent.Ref() {
		t.Fatalf("approval audit %+v", got)
	}

	// A supervisor's own request (lifting the unfreeze hold): 403 for
	// them, with the reason, in both languages; another rejects it.
	wantRedirect(t, sup.c.post("/staff/customer/lift-hold", url.Values{"id": {conv}, "reason": {"customer travels tomorrow"}}), "/staff/customer?id="+conv+"&done=requested")
	ap = sup.c.get("/staff/approvals")
	wantContains(t, ap.body, `data-kind="lift_hold"`, `data-mine="true"`)
	ref = requestRefRE.FindStringSubmatch(ap.body)[1]
	for _, l := range []i18n.Lang{i18n.En, i18n.ZhCN} {
		sup.c.lang = string(l)
		res = sup.c.post("/staff/approvals/approve", url.Values{"request": {ref}, "reason": {"mine"}})
		wantStatus(t, res, http.StatusForbidden)
		wantContains(t, res.body, e.text(l, "support.error.support_self_approval"))
	}
	sup.c.lang = "en"
	wantRedirect(t, sup2.c.post("/staff/approvals/reject", url.Values{"request": {ref}, "reason": {"no need"}}), "/staff/approvals?done=rejected")
	res = sup2.c.post("/staff/approvals/approve", url.Values{"request": {ref}, "reason": {"changed my mind"}})
	wantStatus(t, res, http.StatusConflict)
	wantContains(t, res.body, e.text(i18n.En, "support.error.support_request_closed"))
}

// TestSUP04_StaffCustomerOwnAccount: an agent cannot open the panel of
// their own customer account.
func TestSUP04_StaffCustomerOwnAccount(t *testing.T) {
	t.Parallel()
	e := newStaffEnv(t, agent.Config{})
	ag := e.newMember(t, agent.RoleAgent)
	now := e.id.Deps.Clock.Now().UnixMicro()
	uid := e.id.Deps.IDs.Next()
	if _, err := e.db.Write.ExecContext(e.ctx, `INSERT INTO users (id, email, phone, password_hash, status, lang, created_at, updated_at)
		VALUES ($1, $2, '+8613900139000', 'x', 'active', 'en', $3, $3)`, uid, strings.ToUpper(ag.agent.Email), now); err != nil {
		t.Fatal(err)
	}
	conv, err := e.desk.StartConversation(e.ctx, desk.Customer(uid), desk.StartInput{Category: desk.CategoryAccount, Body: "hello"})
	if err != nil {
		t.Fatal(err)
	}
	ref := desk.ConversationRef(conv.ID)
	res := ag.c.get("/staff/customer?id=" + ref)
	wantStatus(t, res, http.StatusForbidden)
	wantContains(t, res.body, e.text(i18n.En, "support.error.support_own_account"))
	res = ag.c.post("/staff/customer/freeze", url.Values{"id": {ref}, "reason": {"test"}})
	wantStatus(t, res, http.StatusForbidden)
	if e.frozen(t, uid) {
		t.Fatal("an agent froze their own account")
	}
}
