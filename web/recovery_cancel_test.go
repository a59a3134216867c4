package web_test

import (
	"net/http"
	"net/url"
	"regexp"
	"testing"

	"github.com/okpay/okpay/agent"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/support"
)

var recoveryCancelRE = regexp.MustCompile(regexp.QuoteMeta(identity.RecoveryCancelPath) + `([A-Za-z0-9_-]+)`)

// TestREC08_CancelLinkPage: a supervisor's assisted-recovery request
// reaches the customer's email and phone with a cancel link; opening the
// link changes nothing and shows one button (both languages); pressing it
// cancels the request, which the approvals page then shows as cancelled
// by the customer;
// the spent link and a forged one answer 400.
func TestREC08_CancelLinkPage(t *testing.T) {
	t.Parallel()
	e := newStaffEnv(t, agent.Config{})
	acct, userID, conv := e.customerCase(t)
	sup := e.newMember(t, agent.RoleSupervisor)
	sup2 := e.newMember(t, agent.RoleSupervisor)
	before := e.lastMailID()
	wantRedirect(t, sup.c.post("/staff/customer/reset-factors", url.Values{"id": {conv}, "reason": {"lost phone and codes"},
		"verification": {support.VerifyIDSelfie}, "evidence": {"ID card ••34, selfie check 991"}}), "/staff/customer?id="+conv+"&done=requested")
	mail := e.waitMail(acct.email, identity.NoteRecoveryRequested, before)
	sms := e.waitMail(acct.phone, identity.NoteRecoveryRequested, before)
	m := recoveryCancelRE.FindStringSubmatch(mail.Body)
	if m == nil || recoveryCancelRE.FindStringSubmatch(sms.Body) == nil {
		t.Fatalf("no cancel link: mail %q, sms %q", mail.Body, sms.Body)
	}
	token := m[1]

	c := e.client()
	for _, l := range []i18n.Lang{i18n.En, i18n.ZhCN} {
		c.lang = string(l)
		res := c.get(identity.RecoveryCancelPath + token)
		wantStatus(t, res, http.StatusOK)
		wantContains(t, res.body, `data-testid="recovery-cancel-confirm"`, e.text(l, "recovery.cancel.title"), e.text(l, "recovery.cancel.confirm"))
	}
	c.lang = "en"
	if got := e.auditOf(t, userID, support.EventRequestCancelled); len(got) != 0 {
		t.Fatal("opening the link cancelled")
	}
	res := c.post("/recovery/cancel", url.Values{"token": {token}})
	wantStatus(t, res, http.StatusOK)
	wantContains(t, res.body, `data-testid="recovery-cancel-done"`, e.text(i18n.En, "recovery.cancel.done.title"))
	if got := e.auditOf(t, userID, support.EventRequestCancelled); len(got) != 1 {
		t.Fatalf("cancel audit %+v", got)
	}
	e.waitMail(acct.email, identity.NoteRecoveryCancelled, before)

	res = c.post("/recovery/cancel", url.Values{"token": {token}})
	wantStatus(t, res, http.StatusBadRequest)
	wantContains(t, res.body, `data-testid="recovery-cancel-invalid"`)
	wantStatus(t, c.get(identity.RecoveryCancelPath+"not-a-token"), http.StatusBadRequest)
	wantStatus(t, c.post("/recovery/cancel", url.Values{"token": {"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}}), http.StatusBadRequest)

	ap := sup2.c.get("/staff/approvals")
	wantStatus(t, ap, http.StatusOK)
	wantContains(t, ap.body, `data-status="rejected"`, e.text(i18n.En, "support.kind.reset_factors"),
		`<span data-testid="approval-outcome">`+e.text(i18n.En, "support.status.cancelled")+`</span>`)
	if regexp.MustCompile(`data-kind="reset_factors"`).MatchString(ap.body) {
		t.Error("the cancelled recovery still waits for approval")
	}
}
