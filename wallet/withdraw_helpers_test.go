package wallet_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/agent"
	"github.com/okpay/okpay/bizday"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/notify"
	"github.com/okpay/okpay/paymethod"
	"github.com/okpay/okpay/psp"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/wallet"
)

// The withdrawal tests run the real stack: identity, the ledger, the
// wallet, the payment methods (package paymethod) and the sandbox
// provider, whose signed webhooks reach a real HTTP endpoint that offers
// every event to the payment methods (in one transaction), then to the
// wallet's deposits and to the withdrawals, as the program's endpoint
// does.

// methodNotes is the payment methods' Notifier in these tests: an in-app
// message through the real outbox, in the caller's transaction.
type methodNotes struct {
	outbox *notify.Outbox
	ids    ids.Generator
}

func (n *methodNotes) Notify(ctx context.Context, tx *sql.Tx, userID int64, kind string, data map[string]any) error {
	return n.outbox.Enqueue(ctx, tx, notify.Message{DedupeKey: ids.Format("ntf", n.ids.Next()), UserID: userID, Channel: notify.ChannelInApp,
		Kind: kind, Subject: kind, Body: fmt.Sprint(data["Method"])})
}

// failpoints crash the flow once at a named point (REL-04).
type failpoints struct {
	mu    sync.Mutex
	armed map[string]bool
	hits  []string
}

var errKilled = errors.New("killed at a failpoint")

func (f *failpoints) hit(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.armed[name] {
		delete(f.armed, name)
		f.hits = append(f.hits, name)
		return errKilled
	}
	return nil
}

func (f *failpoints) arm(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.armed == nil {
		f.armed = map[string]bool{}
	}
	f.armed[name] = true
}

type wdHarness struct {
	*harness
	pm   *paymethod.Service
	wd   *wallet.Withdrawals
	fp   *failpoints
	cal  *bizday.Calendar
	wcfg wallet.WithdrawalConfig

	hookMu      sync.Mutex
	hookErrs    int
	dropPayouts bool
}

type wdOpts struct {
	// dropPayoutEvents makes the webhook endpoint answer the payout
	// events without applying them (a provider whose webhooks never
	// arrive): only the poll settles payouts.
	dropPayoutEvents bool
	cfg              wallet.WithdrawalConfig
	cal              *bizday.Calendar
	walletCfg        wallet.Config
}

// withdrawalFees: 1% + 0.50 for withdrawals, nothing else.
func withdrawalFees() *testFees {
	return &testFees{bp: map[string]int64{"withdrawal": 100}, fixed: map[string]int64{"withdrawal": 50}}
}

func newWDHarness(t testing.TB, db *sqldb.DB, o wdOpts) *wdHarness {
	t.Helper()
	h := &wdHarness{harness: newHarness(t, db, harnessOpts{fees: withdrawalFees(), cfg: o.walletCfg}), fp: &failpoints{}, cal: o.cal, wcfg: o.cfg}
	if h.cal == nil {
		h.cal = bizday.New()
	}
	var err error
	h.pm, err = paymethod.New(paymethod.Deps{DB: db, Clock: h.clock, IDs: h.gen, Provider: h.sandbox, Notifier: &methodNotes{outbox: h.outbox, ids: h.gen},
		Sealer: h.keys.Sealer("paymethod/account"), MAC: h.keys.MAC("paymethod")})
	if err != nil {
		t.Fatal(err)
	}
	h.wd = h.newWithdrawals()
	h.pm.SetInUse(h.wd)
	h.id.OnFreeze(func(ctx context.Context, tx *sql.Tx, userID int64) error {
		return h.current().FreezeHook(ctx, tx, userID)
	})
	h.dropPayouts = o.dropPayoutEvents
	srv := httptest.NewServer(http.HandlerFunc(h.serveWebhook))
	t.Cleanup(srv.Close)
	h.sandbox.SetWebhookURL(srv.URL)
	h.startSandbox()
	return h
}

// startSandbox starts the provider's worker (settlements, webhooks).
func (h *wdHarness) startSandbox() {
	ctx, cancel := context.WithCancel(context.Background())
	h.sandbox.Start(ctx)
	h.t.Cleanup(func() { cancel(); h.sandbox.Close() })
}

// newWithdrawals is a withdrawal service on the harness's wallet: a
// second one on the same database is a process started again.
func (h *wdHarness) newWithdrawals() *wallet.Withdrawals {
	h.t.Helper()
	wd, err := wallet.NewWithdrawals(h.w, wallet.WithdrawalDeps{Methods: h.pm, Customers: h.id, Calendar: h.cal, Failpoint: h.fp.hit}, h.wcfg)
	if err != nil {
		h.t.Fatal(err)
	}
	return wd
}

// current is the withdrawal service of the running "process".
func (h *wdHarness) current() *wallet.Withdrawals {
	h.hookMu.Lock()
	defer h.hookMu.Unlock()
	return h.wd
}

// restart replaces the withdrawal service by a new one on the same
// database, as a process started again after a crash: the old one's
// leases are left to expire.
func (h *wdHarness) restart() {
	h.t.Helper()
	wd := h.newWithdrawals()
	h.pm.SetInUse(wd)
	h.hookMu.Lock()
	h.wd = wd
	h.hookMu.Unlock()
}

// serveWebhook is the provider's webhook endpoint as the program has it.
func (h *wdHarness) serveWebhook(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, psp.MaxEventSize+1))
	if err != nil {
		http.Error(w, "read", http.StatusBadRequest)
		return
	}
	if err := psp.Verify(r.Header.Get(psp.SignatureHeader), body, [][]byte{h.secret}, h.clock.Now(), 0); err != nil {
		http.Error(w, "signature", http.StatusBadRequest)
		return
	}
	ev, err := psp.ParseEvent(body)
	if err != nil {
		http.Error(w, "event", http.StatusBadRequest)
		return
	}
	ctx := r.Context()
	if h.dropPayouts && strings.HasPrefix(ev.Type, "payout.") {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	handled := false
	err = h.db.InTx(ctx, func(tx *sql.Tx) error {
		var err error
		handled, err = h.pm.ApplyEvent(ctx, tx, ev)
		return err
	})
	if err == nil && !handled {
		if err = h.w.ApplyProviderEvent(ctx, ev); err == nil {
			err = h.current().ApplyProviderEvent(ctx, ev)
		}
	}
	if err != nil {
		h.hookMu.Lock()
		h.hookErrs++
		h.hookMu.Unlock()
		http.Error(w, "apply", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// waitMethod waits until a method has status want (its verification
// arrives by webhook).
func (h *wdHarness) waitMethod(u *user, id int64, want paymethod.Status) *paymethod.Method {
	h.t.Helper()
	var m *paymethod.Method
	waitFor(h.t, "method "+string(want), func() bool {
		var err error
		m, err = h.pm.Get(h.ctx, u.id, id)
		if err != nil {
			h.t.Fatal(err)
		}
		return m.Status == want
	})
	return m
}

// payoutCard adds and verifies a card for u (the 24 h payout hold still
// runs: advance the clock past it).
func (h *wdHarness) payoutCard(u *user, pan string) *paymethod.Method {
	h.t.Helper()
	c, err := h.sandbox.Tokenize(h.ctx, pan, 12, 2030, "123")
	if err != nil {
		h.t.Fatal(err)
	}
	m, err := h.pm.AddCard(h.ctx, paymethod.NewCard{UserID: u.id, Token: c.Token, StepUp: h.clock.Now(), ReturnURL: "/account/methods"})
	if err != nil {
		h.t.Fatalf("add card: %v", err)
	}
	return h.waitMethod(u, m.ID, paymethod.StatusVerified)
}

// payoutEWallet adds and verifies an e-wallet account for u.
func (h *wdHarness) payoutEWallet(u *user, account string) *paymethod.Method {
	h.t.Helper()
	m, err := h.pm.AddEWallet(h.ctx, paymethod.NewEWallet{UserID: u.id, Provider: "alipay", Account: account, StepUp: h.clock.Now()})
	if err != nil {
		h.t.Fatalf("add e-wallet: %v", err)
	}
	var code string
	if err := h.db.Read.QueryRowContext(h.ctx, `SELECT code FROM psp_sandbox_ewallet_codes WHERE reference = (SELECT reference FROM payment_methods WHERE id = $1)`,
		m.ID).Scan(&code); err != nil {
		h.t.Fatal(err)
	}
	if m, err = h.pm.ConfirmEWalletCode(h.ctx, u.id, m.ID, code); err != nil {
		h.t.Fatal(err)
	}
	if m.Status != paymethod.StatusVerified {
		h.t.Fatalf("e-wallet %s", m.Status)
	}
	return m
}

// start creates a withdrawal (the code goes out by SMS).
func (h *wdHarness) start(u *user, methodID int64, a money.Amount) (*wallet.WithdrawalResult, error) {
	return h.wd.Create(h.ctx, wallet.WithdrawalInput{UserID: u.id, MethodID: methodID, Amount: a, Key: h.key(), Meta: h.meta})
}

// withdraw creates a withdrawal and confirms it with its SMS code.
func (h *wdHarness) withdraw(u *user, methodID int64, a money.Amount) *wallet.Withdrawal {
	h.t.Helper()
	res, err := h.start(u, methodID, a)
	if err != nil {
		h.t.Fatalf("create withdrawal: %v", err)
	}
	if res.Withdrawal.Txn.Status != wallet.StatusAwaitingAuth {
		h.t.Fatalf("new withdrawal is %s", res.Withdrawal.Txn.Status)
	}
	code := h.lastCode(u.phone, "code_txn")
	wd, err := h.wd.Confirm(h.ctx, wallet.ConfirmInput{UserID: u.id, TxnID: res.Withdrawal.Txn.ID, Code: code, Meta: h.meta})
	if err != nil {
		h.t.Fatalf("confirm withdrawal: %v", err)
	}
	return wd
}

// get reads u's withdrawal id.
func (h *wdHarness) get(u *user, id int64) *wallet.Withdrawal {
	h.t.Helper()
	wd, err := h.wd.Find(h.ctx, u.id, id)
	if err != nil {
		h.t.Fatal(err)
	}
	return wd
}

// waitStatus waits until u's withdrawal id has status want.
func (h *wdHarness) waitStatus(u *user, id int64, want wallet.Status) *wallet.Withdrawal {
	h.t.Helper()
	var wd *wallet.Withdrawal
	waitFor(h.t, "withdrawal "+string(want), func() bool {
		wd = h.get(u, id)
		return wd.Txn.Status == want
	})
	return wd
}

// runJobs runs the due withdrawal jobs.
func (h *wdHarness) runJobs() int {
	h.t.Helper()
	n, err := h.wd.RunJobs(h.ctx)
	if err != nil {
		h.t.Fatalf("run jobs: %v", err)
	}
	return n
}

// payouts counts the sandbox's payouts with a reference.
func (h *wdHarness) payouts(ref string) int {
	h.t.Helper()
	var n int
	if err := h.db.Read.QueryRowContext(h.ctx, `SELECT COUNT(*) FROM psp_sandbox_payouts WHERE reference = $1`, ref).Scan(&n); err != nil {
		h.t.Fatal(err)
	}
	return n
}

// paidOut counts the payouts of a reference the provider did not fail
// (pending or succeeded: money that is, or may yet be, paid).
func (h *wdHarness) paidOut(ref string) int {
	h.t.Helper()
	var n int
	if err := h.db.Read.QueryRowContext(h.ctx, `SELECT COUNT(*) FROM psp_sandbox_payouts WHERE reference = $1 AND status <> 'failed'`, ref).Scan(&n); err != nil {
		h.t.Fatal(err)
	}
	return n
}

// conserved checks the ledger's invariants and that every currency's
// balances sum to zero.
func (h *wdHarness) conserved() {
	h.t.Helper()
	h.verify()
	rows, err := h.db.Read.QueryContext(h.ctx, `SELECT a.currency, SUM(b.posted_credits - b.posted_debits), SUM(b.pending_credits - b.pending_debits)
		FROM accounts a JOIN balances b ON b.account_id = a.id GROUP BY a.currency`)
	if err != nil {
		h.t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var cur string
		var posted, pending int64
		if err := rows.Scan(&cur, &posted, &pending); err != nil {
			h.t.Fatal(err)
		}
		if posted != 0 || pending != 0 {
			h.t.Errorf("%s: balances sum to %d posted, %d pending; want 0", cur, posted, pending)
		}
	}
}

// system returns the posted balance of a system account.
func (h *wdHarness) system(name string, c money.Currency) int64 {
	h.t.Helper()
	id, err := h.w.SystemAccount(h.ctx, name, c)
	if err != nil {
		h.t.Fatal(err)
	}
	var credits, debits int64
	if err := h.db.Read.QueryRowContext(h.ctx, `SELECT posted_credits, posted_debits FROM balances WHERE account_id = $1`, id).Scan(&credits, &debits); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return 0
		}
		h.t.Fatal(err)
	}
	return credits - debits
}

// reviewer is a signed-in agent of the risk role.
func reviewer(n int64, email string) *agent.Agent {
	return &agent.Agent{ID: n, Email: email, DisplayName: "Risk " + itoa(int(n)), Roles: []agent.Role{agent.RoleRisk}, Status: agent.StatusActive}
}

var riskMeta = agent.Meta{IP: "198.51.100.9", UserAgent: "staff-browser", RequestID: "req-1"}

// jobsLeft counts unfinished jobs of a withdrawal.
func (h *wdHarness) jobsLeft(id int64) map[string]int {
	h.t.Helper()
	rows, err := h.db.Read.QueryContext(h.ctx, `SELECT kind FROM withdrawal_jobs WHERE txn_id = $1 AND done_at = 0`, id)
	if err != nil {
		h.t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var k string
		rows.Scan(&k)
		out[k]++
	}
	return out
}

// ready opens u's USD wallet with amount and a payout card past its hold
// and older than the rules' new-method age.
func (h *wdHarness) ready(u *user, amount money.Amount, pan string) *paymethod.Method {
	h.t.Helper()
	h.fund(u, amount)
	m := h.payoutCard(u, pan)
	h.clock.Advance(8 * 24 * time.Hour)
	return m
}

func wantStatus(t testing.TB, wd *wallet.Withdrawal, st wallet.Status, stage string) {
	t.Helper()
	if wd.Txn.Status != st || wd.Stage != stage {
		t.Fatalf("withdrawal is %s/%s (%s: %s), want %s/%s", wd.Txn.Status, wd.Stage, wd.Txn.FailureCode, wd.Txn.FailureReason, st, stage)
	}
}

var _ = okpay.ErrorCode
