package web_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/okpay/okpay/agent"
	"github.com/okpay/okpay/audit"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/identity/passkey/passkeytest"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/ledger"
	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/notify"
	"github.com/okpay/okpay/paymethod"
	"github.com/okpay/okpay/psp"
	"github.com/okpay/okpay/psp/sandbox"
	"github.com/okpay/okpay/wallet"
)

// The withdrawal reviewers' pages over the real stack: the staff console
// of staff_test.go, and on the same database the ledger, the wallet, the
// payment methods, the sandbox provider (its webhooks served) and the
// withdrawals.

type reviewEnv struct {
	*staffEnv
	ledger *ledger.Ledger
	w      *wallet.Service
	pm     *paymethod.Service
	wd     *wallet.Withdrawals
	sb     *sandbox.Sandbox
	gen    ids.Generator
}

var reviewSecret = []byte("sandbox webhook secret for the review pages")

type reviewNotes struct {
	outbox *notify.Outbox
	gen    ids.Generator
}

func (n reviewNotes) Notify(ctx context.Context, tx *sql.Tx, userID int64, kind string, data map[string]any) error {
	return n.outbox.Enqueue(ctx, tx, notify.Message{DedupeKey: ids.Format("ntf", n.gen.Next()), UserID: userID, Channel: notify.ChannelInApp, Kind: kind, Subject: kind})
}

func newReviewEnv(t *testing.T) *reviewEnv {
	t.Helper()
	e := &reviewEnv{staffEnv: newStaffEnv(t, agent.Config{})}
	d := e.id.Deps
	e.gen = d.IDs
	var err error
	e.ledger, err = ledger.New(e.ctx, e.db, ledger.Options{Clock: e.clock, IDs: d.IDs, SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.ledger.Close)
	e.sb, err = sandbox.New(sandbox.Options{DB: e.db, Clock: e.clock, IDs: d.IDs, Secret: reviewSecret, Catalog: e.cat, Delay: -1, Poll: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	e.w, err = wallet.New(e.ctx, wallet.Deps{DB: e.db, Ledger: e.ledger, Identity: e.id, Provider: e.sb, Catalog: e.cat, Clock: e.clock, IDs: d.IDs}, wallet.Config{NewDeviceCap: wallet.DeviceCapOff()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.w.Close)
	e.pm, err = paymethod.New(paymethod.Deps{DB: e.db, Clock: e.clock, IDs: d.IDs, Provider: e.sb, Notifier: reviewNotes{outbox: e.outbox, gen: d.IDs},
		Sealer: d.Keys.Sealer("paymethod/account"), MAC: d.Keys.MAC("paymethod")})
	if err != nil {
		t.Fatal(err)
	}
	e.wd, err = wallet.NewWithdrawals(e.w, wallet.WithdrawalDeps{Methods: e.pm, Customers: e.id}, wallet.WithdrawalConfig{})
	if err != nil {
		t.Fatal(err)
	}
	e.pm.SetInUse(e.wd)
	e.id.OnFreeze(e.wd.FreezeHook)
	if err := e.server.EnableWithdrawalReview(e.wd); err != nil {
		t.Fatal(err)
	}
	hooks := httptest.NewServer(http.HandlerFunc(e.webhook))
	t.Cleanup(hooks.Close)
	e.sb.SetWebhookURL(hooks.URL)
	ctx, cancel := context.WithCancel(context.Background())
	e.sb.Start(ctx)
	t.Cleanup(func() { cancel(); e.sb.Close() })
	return e
}

func (e *reviewEnv) webhook(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, psp.MaxEventSize+1))
	if psp.Verify(r.Header.Get(psp.SignatureHeader), body, [][]byte{reviewSecret}, e.clock.Now(), 0) != nil {
		http.Error(w, "signature", http.StatusBadRequest)
		return
	}
	ev, err := psp.ParseEvent(body)
	if err != nil {
		http.Error(w, "event", http.StatusBadRequest)
		return
	}
	handled := false
	err = e.db.InTx(r.Context(), func(tx *sql.Tx) error {
		var err error
		handled, err = e.pm.ApplyEvent(r.Context(), tx, ev)
		return err
	})
	if err == nil && !handled {
		if err = e.w.ApplyProviderEvent(r.Context(), ev); err == nil {
			err = e.wd.ApplyProviderEvent(r.Context(), ev)
		}
	}
	if err != nil {
		http.Error(w, "apply", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// customer signs a customer up through the pages, funds their USD wallet
// and gives them a verified payout card past its hold.
func (e *reviewEnv) customer(t *testing.T) (testAccount, int64, int64) {
	t.Helper()
	a := e.signUp(e.client())
	u := e.user(a)
	wal, err := e.w.OpenWallet(e.ctx, u.ID, "USD")
	if err != nil {
		t.Fatal(err)
	}
	ext, err := e.w.SystemAccount(e.ctx, wallet.SysExternal+":test", "USD")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.ledger.Post(e.ctx, ledger.EntryInput{Reference: fmt.Sprintf("fund-%d", u.ID), Type: "test_funding",
		Postings: []ledger.Posting{{Debit: ext, Credit: wal.ID, Amount: 1000_00, Currency: "USD"}}}); err != nil {
		t.Fatal(err)
	}
	c, err := e.sb.Tokenize(e.ctx, "4242424242424242", 12, 2030, "123")
	if err != nil {
		t.Fatal(err)
	}
	m, err := e.pm.AddCard(e.ctx, paymethod.NewCard{UserID: u.ID, Token: c.Token, StepUp: e.clock.Now()})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for m.Status != paymethod.StatusVerified {
		if time.Now().After(deadline) {
			t.Fatalf("card %s", m.Status)
		}
		time.Sleep(10 * time.Millisecond)
		if m, err = e.pm.Get(e.ctx, u.ID, m.ID); err != nil {
			t.Fatal(err)
		}
	}
	e.clock.Advance(25 * time.Hour)
	return a, u.ID, m.ID
}

// withdrawal makes a withdrawal of amount confirmed with its SMS code.
func (e *reviewEnv) withdrawal(t *testing.T, a testAccount, userID, methodID int64, amount int64) *wallet.Withdrawal {
	t.Helper()
	after := e.lastMailID()
	res, err := e.wd.Create(e.ctx, wallet.WithdrawalInput{UserID: userID, MethodID: methodID, Amount: money.New(amount, "USD"),
		Key: fmt.Sprintf("wd-%d-%d", userID, e.gen.Next())})
	if err != nil {
		t.Fatal(err)
	}
	code := e.waitCode(a.phone, "code_txn", after)
	wd, err := e.wd.Confirm(e.ctx, wallet.ConfirmInput{UserID: userID, TxnID: res.Withdrawal.Txn.ID, Code: code})
	if err != nil {
		t.Fatal(err)
	}
	return wd
}

// TestStaffReviewPages: a risk reviewer sees the queue (masked customer,
// the rules that sent the withdrawal there), opens one with the
// customer's context, approves it (the payout follows) and rejects
// another with a reason (validation first); a second decision is
// refused; every decision is audited; the pages work in zh-CN and en.
func TestStaffReviewPages(t *testing.T) {
	t.Parallel()
	e := newReviewEnv(t)
	a, userID, methodID := e.customer(t) // moves the clock past the card's hold: staff sign in after
	risk := e.newMember(t, agent.RoleRisk)
	risk2 := e.newMember(t, agent.RoleRisk)
	plain := e.newMember(t, agent.RoleAgent)
	first := e.withdrawal(t, a, userID, methodID, 120_00)
	second := e.withdrawal(t, a, userID, methodID, 80_00)
	if first.Stage != wallet.StageReview || second.Stage != wallet.StageReview {
		t.Fatalf("stages %s %s", first.Stage, second.Stage)
	}

	res := risk.c.get("/staff/withdrawals")
	wantStatus(t, res, http.StatusOK)
	wantContains(t, res.body, first.Ref(), second.Ref(), "$120.00", "Visa •••• 4242", e.text(i18n.En, "withdraw.rule.first_withdrawal"), e.text(i18n.En, "withdraw.rule.new_method"))
	if strings.Contains(res.body, a.email) {
		t.Error("the queue shows the customer's email unmasked")
	}
	risk.c.lang = "zh-CN"
	res = risk.c.get("/staff/withdrawals")
	wantContains(t, res.body, e.text(i18n.ZhCN, "staff.review.title"), e.text(i18n.ZhCN, "withdraw.rule.first_withdrawal"))
	res = risk.c.get("/staff/withdrawals/case?id=" + first.Ref())
	wantStatus(t, res, http.StatusOK)
	wantContains(t, res.body, e.text(i18n.ZhCN, "staff.review.approve_button"), e.text(i18n.ZhCN, "withdraw.reason.identity_check"))
	risk.c.lang = "en"

	// The case page: the customer's context.
	res = risk.c.get("/staff/withdrawals/case?id=" + first.Ref())
	wantStatus(t, res, http.StatusOK)
	wantContains(t, res.body, `data-stage="review"`, `data-testid="review-level">0 · not verified<`, "$800.00", e.text(i18n.En, "staff.review.approve_button"),
		second.Ref(), "authn_login_success")
	wantStatus(t, risk.c.get("/staff/withdrawals/case?id=txn_nothing"), http.StatusNotFound)
	wantStatus(t, risk.c.get("/staff/withdrawals/case?id="+ids.Format("txn", 12345)), http.StatusNotFound)

	// Approve: back to the queue with a notice; the payout job sends it.
	res = risk.c.post("/staff/withdrawals/approve", url.Values{"id": {first.Ref()}, "note": {"called the customer"}})
	wantRedirect(t, res, "/staff/withdrawals?done=approved")
	res = risk.c.get(res.Header.Get("Location"))
	wantContains(t, res.body, e.text(i18n.En, "staff.review.notice.approved"))
	if strings.Contains(res.body, first.Ref()) {
		t.Error("an approved withdrawal is still in the queue")
	}
	if _, err := e.wd.RunJobs(e.ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := e.wd.Find(e.ctx, userID, first.Txn.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Txn.Status == wallet.StatusCompleted {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("approved withdrawal is %s", got.Txn.Status)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// A second decision on it is refused, kindly.
	res = risk2.c.post("/staff/withdrawals/reject", url.Values{"id": {first.Ref()}, "reason": {"policy"}})
	wantStatus(t, res, http.StatusConflict)
	wantContains(t, res.body, e.text(i18n.En, "staff.review.error.decided"))

	// Reject: a reason is required; then the money is back.
	res = risk2.c.post("/staff/withdrawals/reject", url.Values{"id": {second.Ref()}, "note": {"odd"}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantContains(t, res.body, e.text(i18n.En, "staff.review.error.reason"))
	res = risk2.c.post("/staff/withdrawals/reject", url.Values{"id": {second.Ref()}, "reason": {"identity_check"}, "note": {"odd device"}})
	wantRedirect(t, res, "/staff/withdrawals?done=rejected")
	got, err := e.wd.Find(e.ctx, userID, second.Txn.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Txn.Status != wallet.StatusRejected || got.Txn.FailureCode != "rejected_identity_check" {
		t.Fatalf("rejected %s %s", got.Txn.Status, got.Txn.FailureCode)
	}
	res = risk.c.get("/staff/withdrawals/case?id=" + second.Ref())
	wantContains(t, res.body, `data-testid="review-decided"`, e.text(i18n.En, "withdraw.reason.identity_check"), "odd device", risk2.agent.Ref())

	// An agent without withdrawal:review gets 403 (and it is audited).
	wantStatus(t, plain.c.get("/staff/withdrawals"), http.StatusForbidden)
	wantStatus(t, plain.c.post("/staff/withdrawals/approve", url.Values{"id": {second.Ref()}}), http.StatusForbidden)

	// Both decisions are in the audit log, by their reviewers.
	entries, err := audit.New(e.db).List(e.ctx, ids.Format("usr", userID), audit.MaxListLimit, 0)
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]string{}
	for _, en := range entries {
		if strings.HasPrefix(en.Name, "withdrawal_review_") {
			found[en.Name] = en.Actor
		}
	}
	if found[wallet.AuditWithdrawalApproved] != risk.agent.Ref() || found[wallet.AuditWithdrawalRejected] != risk2.agent.Ref() {
		t.Fatalf("audit %v", found)
	}
}

// TestSUP04_ReviewOwnAccount: a reviewer whose staff account shares the
// customer's email cannot decide that customer's withdrawal.
func TestSUP04_ReviewOwnAccount(t *testing.T) {
	t.Parallel()
	e := newReviewEnv(t)
	a, userID, methodID := e.customer(t)
	wd := e.withdrawal(t, a, userID, methodID, 10_00)
	created, enr, err := e.staff.Create(e.ctx, e.cli, agent.NewAgent{Email: a.email, DisplayName: "Moonlighting", Roles: []agent.Role{agent.RoleRisk},
		Languages: []i18n.Lang{i18n.En}}, agent.Meta{IP: "cli"})
	if err != nil {
		t.Fatal(err)
	}
	m := &staffMember{agent: created, password: "harbour lights own account", auth: passkeytest.New(testPasskeyOrigin, "okpay.test"), c: e.client()}
	e.enrolThroughPages(t, m, enr)
	res := m.c.post("/staff/withdrawals/approve", url.Values{"id": {wd.Ref()}})
	wantStatus(t, res, http.StatusForbidden)
	wantContains(t, res.body, e.text(i18n.En, "staff.review.error.own_account"))
	got, err := e.wd.Find(e.ctx, userID, wd.Txn.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Stage != wallet.StageReview {
		t.Fatalf("stage %s", got.Stage)
	}
}
