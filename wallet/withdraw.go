package wallet

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/audit"
	"github.com/okpay/okpay/bizday"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/ledger"
	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/notify"
	"github.com/okpay/okpay/paymethod"
	"github.com/okpay/okpay/psp"
)

// Withdrawals: money out of a wallet to one of the customer's payout
// methods (a bank card, a bank account or an external e-wallet; package
// paymethod), through the payment provider.
//
//	Quote ──▶ Create (awaiting_auth: a code bound to the withdrawal, its
//	          amount, currency and method, TXN-01) ──▶ Confirm
//	  ──▶ hold: one pending ledger entry (amount → clearing:withdrawals,
//	      fee → fees:pending), the final gate, the limits, the review
//	      decision, the notice and the first jobs, all in the ledger's
//	      transaction
//	  ──▶ pending_review ──(reviewer)──▶ approved      (or the rules
//	      approve it at once)             └──▶ rejected: void
//	  ──▶ payout job: the final gate again, then the provider (reference:
//	      the withdrawal's id, so it never pays twice) ──▶ executing
//	  ──▶ payout.succeeded (webhook or poll): post the hold ──▶ completed
//	      payout.failed: void the hold ──▶ failed (money back)
//
// A freeze voids the withdrawals not yet sent to the provider (RSK-04):
// the freeze hook (FreezeHook) only marks them in the freeze's own
// transaction, and the jobs void them through the ledger afterwards. A
// hold nobody decided within HoldBusinessDays is voided by its timeout
// job. The jobs live in the database (withdrawal_jobs) and survive
// restarts; see withdraw_jobs.go.
//
// Withdrawals is a part of the wallet with dependencies of its own;
// create it with NewWithdrawals over a Service.

// Error codes of withdrawals (besides the wallet's, the ledger's, the
// identity gate's and package paymethod's, which pass through).
const (
	EWithdrawalsUnavailable = "withdrawals_unavailable"
	EAlreadyDecided         = "withdrawal_already_decided"
	EOwnAccount             = "own_account"
	EMethodCurrency         = "method_currency_mismatch"
)

// Failure codes of withdrawals (Txn.FailureCode, translated as
// "wallet.failure.<code>").
const (
	FailCancelled = "withdrawal_cancelled"
	FailExpired   = "withdrawal_expired"
	// FailRejectedPrefix + the reviewer's reason code (RejectReasons).
	FailRejectedPrefix = "rejected_"
)

// RejectReasons are the reasons a reviewer may give a customer; each has
// a text in both languages ("wallet.failure.rejected_<reason>").
var RejectReasons = []string{"identity_check", "suspicious_activity", "method_issue", "policy"}

// Notice kinds of withdrawals (catalog "notify.<kind>.*",
// withdraw.en.toml).
const (
	NoticeWithdrawalRequested = "withdrawal_requested"
	NoticeWithdrawalCompleted = "withdrawal_completed"
	NoticeWithdrawalFailed    = "withdrawal_failed"
)

// Fee operation of withdrawals; the method is the payout method's kind
// (paymethod.KindCard, KindBankAccount, KindEWallet).
const OpWithdrawal = "withdrawal"

// Stages of a withdrawal's payout (see 00014_withdrawals.sql).
const (
	StageReview     = "review"
	StageApproved   = "approved"
	StageSubmitting = "submitting"
	StageSent       = "sent"
	StageCompleted  = "completed"
	StageVoiding    = "voiding"
	StageVoided     = "voided"
)

// Failpoints (REL-04): named points of the flow where a test may stop
// it dead, as a crash would.
const (
	FailpointAfterReserve     = "withdraw.after_reserve"
	FailpointAfterGate        = "withdraw.after_gate"
	FailpointAfterSubmit      = "withdraw.after_psp_submit_before_record"
	FailpointAfterResult      = "withdraw.after_psp_result_before_post"
	FailpointBeforeSettlement = "withdraw.before_settlement"
)

// PayoutMethods is what withdrawals need of the payment methods
// (*paymethod.Service implements it).
type PayoutMethods interface {
	Get(ctx context.Context, userID, methodID int64) (*paymethod.Method, error)
	ForPayout(ctx context.Context, tx *sql.Tx, userID, methodID int64) (psp.Destination, *paymethod.Method, error)
}

// Customers reads customer accounts for the review (*identity.Service
// implements it).
type Customers interface {
	FindUser(ctx context.Context, id int64) (*identity.User, error)
}

// WithdrawalDeps are the collaborators of Withdrawals besides the wallet.
type WithdrawalDeps struct {
	Methods   PayoutMethods
	Customers Customers
	// Calendar counts business days for the expected completion and the
	// hold's timeout (default: weekends only).
	Calendar *bizday.Calendar
	// Failpoint, for tests only, is called at each Failpoint* point; an
	// error stops the flow there as a crash would (nothing after it runs,
	// a job keeps its lease).
	Failpoint func(name string) error
}

// WithdrawalConfig is the withdrawal policy. Zero fields take the
// defaults shown.
type WithdrawalConfig struct {
	// MinDays and MaxDays are the expected completion in business days
	// (1 and 3).
	MinDays, MaxDays int
	// HoldBusinessDays: a hold still undecided (or approved and not sent)
	// this many business days after it was made is voided (5).
	HoldBusinessDays int
	// Location is the calendar's time zone (the wallet's Location).
	Location *time.Location
	Review   ReviewPolicy
	// JobInterval is how often the runner looks for due jobs when not
	// woken (1 s); JobLease how long a runner holds a job (1 min).
	JobInterval time.Duration
	JobLease    time.Duration
	// PollAfter: a payout that no webhook settled is asked about this long
	// after it was sent (10 min), and again every PollEvery (10 min).
	PollAfter, PollEvery time.Duration
	// Channels are the notification channels per notice kind (defaults:
	// every channel; the completion is the confirmation email).
	Channels map[string][]string
}

func (c *WithdrawalConfig) defaults(loc *time.Location) {
	if c.MinDays <= 0 {
		c.MinDays = 1
	}
	if c.MaxDays < c.MinDays {
		c.MaxDays = max(3, c.MinDays)
	}
	if c.HoldBusinessDays <= 0 {
		c.HoldBusinessDays = 5
	}
	if c.Location == nil {
		c.Location = loc
	}
	c.Review.defaults()
	dur := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	dur(&c.JobInterval, time.Second)
	dur(&c.JobLease, time.Minute)
	dur(&c.PollAfter, 10*time.Minute)
	dur(&c.PollEvery, 10*time.Minute)
	all := []string{notify.ChannelEmail, notify.ChannelSMS, notify.ChannelInApp}
	ch := map[string][]string{NoticeWithdrawalRequested: all, NoticeWithdrawalCompleted: all, NoticeWithdrawalFailed: all}
	for k, v := range c.Channels {
		ch[k] = v
	}
	c.Channels = ch
}

// Withdrawals is the withdrawal service. It is safe for concurrent use.
type Withdrawals struct {
	s         *Service
	methods   PayoutMethods
	customers Customers
	cal       *bizday.Calendar
	failpoint func(string) error
	cfg       WithdrawalConfig
	audit     *audit.Log
	log       *slog.Logger
	node      string // leased_by of this runner's claims

	wake      chan struct{}
	mu        sync.Mutex
	lastSweep time.Time // guarded by mu
	cancel    context.CancelFunc
	done      chan struct{}
	started   bool
}

// NewWithdrawals returns the withdrawal service of wallet s. The wallet
// needs a payment provider (Deps.Provider). Register FreezeHook with
// identity's OnFreeze, give the payment methods the wallet's payout check
// (paymethod.Service.SetInUse(w)), send the provider's events to
// ApplyProviderEvent, and Start the job runner.
func NewWithdrawals(s *Service, d WithdrawalDeps, cfg WithdrawalConfig) (*Withdrawals, error) {
	if s == nil || s.psp == nil {
		return nil, errors.New("wallet: withdrawals need a wallet with a payment provider")
	}
	if d.Methods == nil || d.Customers == nil {
		return nil, errors.New("wallet: withdrawals need the payout methods and the customers")
	}
	if d.Calendar == nil {
		d.Calendar = bizday.New()
	}
	cfg.defaults(s.cfg.Location)
	var suffix [4]byte
	rand.Read(suffix[:])
	return &Withdrawals{
		s: s, methods: d.Methods, customers: d.Customers, cal: d.Calendar, failpoint: d.Failpoint, cfg: cfg,
		audit: audit.New(s.db), log: s.log, node: "wd#" + hex.EncodeToString(suffix[:]),
		wake: make(chan struct{}, 1),
	}, nil
}

// Config returns the effective configuration.
func (w *Withdrawals) Config() WithdrawalConfig { return w.cfg }

// fail runs the failpoint name (nil when no test set one).
func (w *Withdrawals) fail(name string) error {
	if w.failpoint == nil {
		return nil
	}
	if err := w.failpoint(name); err != nil {
		return &crashed{point: name, err: err}
	}
	return nil
}

// crashed is a failpoint's stop: the flow ends there, like a process
// killed at that point.
type crashed struct {
	point string
	err   error
}

func (c *crashed) Error() string { return "failpoint " + c.point + ": " + c.err.Error() }
func (c *crashed) Unwrap() error { return c.err }

// IsCrash reports whether err is a failpoint's stop.
func IsCrash(err error) bool {
	var c *crashed
	return errors.As(err, &c)
}

// Withdrawal is a withdrawal as its customer (or a reviewer) sees it: its
// transaction with the payout's details.
type Withdrawal struct {
	Txn         *Txn
	MethodKind  string
	MethodLabel string
	// Stage is the payout's stage ("" until the funds are held).
	Stage string
	// Decision is the rules' (DecisionAutoApprove or DecisionReview).
	Decision string
	// EarliestAt and LatestAt are the expected completion (business days).
	EarliestAt, LatestAt time.Time
	// HoldExpiresAt is when a hold nobody decided is voided.
	HoldExpiresAt time.Time
	PayoutID      string
	ReviewedBy    string
	ReviewedAt    time.Time
	// VoidCode and VoidReason say why the hold was (or is being) voided.
	VoidCode, VoidReason string
}

// Ref is the withdrawal's id (its transaction's, txn_…): also the
// payout's reference at the provider.
func (wd *Withdrawal) Ref() string { return wd.Txn.Ref() }

// WithdrawalQuote is what the customer confirms: the fee, the total taken
// from the wallet, and when the money should arrive.
type WithdrawalQuote struct {
	MethodID    int64
	MethodKind  string
	MethodLabel string
	Amount      money.Amount // paid out
	Fee         money.Amount
	Total       money.Amount // taken from the wallet: Amount + Fee
	FeeRule     string
	Available   money.Amount
	// EarliestAt and LatestAt: MinDays to MaxDays business days from now.
	EarliestAt, LatestAt time.Time
	// AuthMethod is the second factor that confirms it (identity.MethodSMS
	// or MethodTOTP): every withdrawal needs one (TXN-01).
	AuthMethod string
}

// WithdrawalInput asks to withdraw Amount to payout method MethodID.
type WithdrawalInput struct {
	UserID   int64
	MethodID int64
	Amount   money.Amount
	// Key is the client's idempotency key (required).
	Key  string
	Meta identity.Meta
}

// WithdrawalResult is what Create returns.
type WithdrawalResult struct {
	Withdrawal *Withdrawal
	// Destination is the masked phone number the code went to (SMS).
	Destination string
}

// withdrawalPlan is a checked withdrawal.
type withdrawalPlan struct {
	method *paymethod.Method
	q      *WithdrawalQuote
}

// Quote checks a withdrawal of amount to methodID and says what it costs,
// when it should arrive and how it is confirmed, without moving anything.
// The method must be able to receive a payout now (paymethod.ForPayout:
// verified, past its 24 h hold, a card the provider still pays out to);
// the wallet must hold amount plus fee.
func (w *Withdrawals) Quote(ctx context.Context, userID, methodID int64, amount money.Amount) (*WithdrawalQuote, error) {
	p, err := w.plan(ctx, userID, methodID, amount)
	if err != nil {
		return nil, err
	}
	return p.q, nil
}

func (w *Withdrawals) plan(ctx context.Context, userID, methodID int64, amount money.Amount) (*withdrawalPlan, error) {
	s := w.s
	if amount.Minor <= 0 {
		return nil, okpay.Invalid(map[string]string{"amount": "Enter an amount greater than zero."})
	}
	if err := s.checkCurrency(amount.Currency); err != nil {
		return nil, err
	}
	dest, m, err := w.methods.ForPayout(ctx, nil, userID, methodID)
	if err != nil {
		return nil, err
	}
	if err := w.checkRail(ctx, dest.Kind, amount.Currency); err != nil {
		return nil, err
	}
	if m.Bank != nil && m.Bank.Currency != "" && m.Bank.Currency != amount.Currency {
		return nil, okpay.Errorf(EMethodCurrency, "This bank account receives %s: withdraw from your %s wallet.", m.Bank.Currency, m.Bank.Currency)
	}
	fee, rule, err := s.quoteFee(OpWithdrawal, string(m.Kind), amount)
	if err != nil {
		return nil, err
	}
	total, err := amount.Add(fee)
	if err != nil {
		return nil, okpay.Errorf(ledger.EOverflow, "The amount is too large.")
	}
	wal, err := s.FindWallet(ctx, userID, amount.Currency)
	if err != nil {
		return nil, err
	}
	if wal.Available.Minor < total.Minor {
		return nil, okpay.Errorf(EInsufficientFunds, "Your %s wallet has %s available; this withdrawal takes %s with its fee.",
			amount.Currency, wal.Available.Format("en"), total.Format("en"))
	}
	party, err := s.id.LoadParty(ctx, userID)
	if err != nil {
		return nil, err
	}
	earliest, latest := w.eta(s.now())
	return &withdrawalPlan{method: m, q: &WithdrawalQuote{
		MethodID: m.ID, MethodKind: string(m.Kind), MethodLabel: m.Label, Amount: amount, Fee: fee, Total: total, FeeRule: rule,
		Available: wal.Available, EarliestAt: earliest, LatestAt: latest, AuthMethod: party.TxnAuthMethod(),
	}}, nil
}

// UnavailableError refuses a new withdrawal while the provider reports
// the payout rail of its method's kind and currency down (or cannot say):
// nothing is held. Its code is EWithdrawalsUnavailable; the HTTP layers
// answer 503 with Retry-After.
type UnavailableError struct {
	Kind       psp.DestinationKind
	Currency   money.Currency
	RetryAfter time.Duration
}

func (e *UnavailableError) Error() string {
	what := map[psp.DestinationKind]string{psp.DestCard: "cards", psp.DestBankAccount: "bank accounts", psp.DestEWallet: "e-wallets"}[e.Kind]
	return fmt.Sprintf("Our payment provider has paused payouts to %s in %s. Nothing was taken from your wallet: please try again in %d minutes.",
		what, e.Currency, max(1, int((e.RetryAfter+time.Minute-1)/time.Minute)))
}

// Code returns EWithdrawalsUnavailable.
func (e *UnavailableError) Code() string { return EWithdrawalsUnavailable }

// railRetry is the Retry-After when the provider gives none, or could not
// be asked.
const railRetry = time.Minute

// checkRail asks the provider whether payouts of kind in cur are being
// accepted (a provider that cannot be asked counts as down).
func (w *Withdrawals) checkRail(ctx context.Context, kind psp.DestinationKind, cur money.Currency) error {
	rail, err := w.s.psp.RailStatus(ctx, kind, cur)
	switch {
	case err != nil:
		w.log.Warn("wallet: payout rail status", "kind", kind, "currency", cur, "err", err)
		return &UnavailableError{Kind: kind, Currency: cur, RetryAfter: railRetry}
	case !rail.Up:
		retry := rail.RetryAfter
		if retry <= 0 {
			retry = railRetry
		}
		return &UnavailableError{Kind: kind, Currency: cur, RetryAfter: retry}
	}
	return nil
}

// eta is the expected completion of a withdrawal made at t.
func (w *Withdrawals) eta(t time.Time) (time.Time, time.Time) {
	a, b := w.cal.Range(t, w.cfg.MinDays, w.cfg.MaxDays, w.cfg.Location)
	return a.UTC(), b.UTC()
}

// withdrawalAuth is what a withdrawal's code is bound to: the withdrawal,
// its amount and currency, and the payout method (TXN-01).
func withdrawalAuth(t *Txn) identity.TxnAuth {
	return identity.TxnAuth{TxnID: t.ID, Amount: t.Amount, PayeeID: t.MethodID, PayeeLabel: t.Counterparty, PayeeName: paymethod.Label(t.Counterparty)}
}

// Create starts a withdrawal: it is checked (Quote), passed through the
// account's money-out gate (a frozen account or an active security hold
// stop it here, with the hold's end), recorded awaiting_auth, and a code
// bound to it is sent (SMS) or asked for (the authenticator app, MFA-11).
// Confirm it with Confirm. A retry with the same key returns the same
// withdrawal; the same key with another amount or method fails with
// EIdempotencyKeyReused.
func (w *Withdrawals) Create(ctx context.Context, in WithdrawalInput) (*WithdrawalResult, error) {
	s := w.s
	if err := checkKey(in.Key); err != nil {
		return nil, err
	}
	if t, err := s.txnByKey(ctx, s.db.Read, in.UserID, in.Key); err != nil {
		return nil, err
	} else if t != nil {
		return w.retried(ctx, t, in)
	}
	p, err := w.plan(ctx, in.UserID, in.MethodID, in.Amount)
	if err != nil {
		return nil, err
	}
	now := s.now()
	t := &Txn{ID: s.ids.Next(), UserID: in.UserID, Type: TypeWithdrawal, Status: StatusAwaitingAuth, Amount: p.q.Amount, Fee: p.q.Fee,
		FeeRule: p.q.FeeRule, Counterparty: p.q.MethodLabel, MethodID: p.q.MethodID, Key: in.Key, AuthMethod: p.q.AuthMethod,
		CreatedAt: now, UpdatedAt: now, ExpiresAt: now.Add(s.cfg.AuthWindow)}
	if t.AuthMethod == identity.MethodSMS {
		t.CodesSent = 1
	}
	var dest string
	var existing *Txn
	err = s.db.InTx(ctx, func(tx *sql.Tx) error {
		dest, existing = "", nil
		if err := s.money.CheckMoneyOut(ctx, tx, in.UserID, true); err != nil {
			return err
		}
		wrote, err := s.insertTxn(ctx, tx, t)
		if err != nil {
			return err
		}
		if !wrote {
			existing, err = s.txnByKey(ctx, tx, in.UserID, in.Key)
			return err
		}
		if t.AuthMethod == identity.MethodSMS {
			dest, err = s.id.SendTxnCode(ctx, tx, in.UserID, withdrawalAuth(t), in.Meta)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if existing != nil {
		return w.retried(ctx, existing, in)
	}
	s.id.WakeNotices()
	return &WithdrawalResult{Withdrawal: w.view(t, nil), Destination: dest}, nil
}

// retried answers a Create whose key names transaction t.
func (w *Withdrawals) retried(ctx context.Context, t *Txn, in WithdrawalInput) (*WithdrawalResult, error) {
	if t.Type != TypeWithdrawal || t.Amount != in.Amount || t.MethodID != in.MethodID {
		return nil, okpay.Errorf(EIdempotencyKeyReused, "This idempotency key was already used for a different operation.")
	}
	wd, err := w.find(ctx, t)
	if err != nil {
		return nil, err
	}
	return &WithdrawalResult{Withdrawal: wd}, withdrawalError(t)
}

func withdrawalError(t *Txn) error {
	if t.Status == StatusFailed || t.Status == StatusRejected {
		return failureError(t)
	}
	return nil
}

// ResendCode sends a new SMS code for a withdrawal awaiting one (the
// earlier code dies) and returns the masked number.
func (w *Withdrawals) ResendCode(ctx context.Context, userID, txnID int64, m identity.Meta) (string, error) {
	s := w.s
	t, err := w.customerTxn(ctx, userID, txnID)
	if err != nil {
		return "", err
	}
	if t.Status != StatusAwaitingAuth || t.AuthMethod != identity.MethodSMS {
		return "", okpay.Errorf(okpay.EConflict, "This withdrawal is not waiting for an SMS code.")
	}
	return s.resendTxnCode(ctx, userID, t, withdrawalAuth(t), m, nounWithdrawal)
}

// customerTxn reads userID's withdrawal txnID (ENotFound for anything
// else: another customer's, or another type).
func (w *Withdrawals) customerTxn(ctx context.Context, userID, txnID int64) (*Txn, error) {
	t, err := w.s.FindTransaction(ctx, userID, txnID)
	if err != nil {
		return nil, err
	}
	if t.Type != TypeWithdrawal {
		return nil, errTxnNotFound()
	}
	return t, nil
}

// Confirm checks the second factor of a withdrawal awaiting it and holds
// its funds: one pending ledger entry whose hook runs the final gate
// (freeze, holds: RSK-02 blocks withdrawals during a cooling-off), charges
// the limits (the withdrawal counts against the daily amount and the
// withdrawals per day at once), records the review decision, queues the
// jobs and the notice. The withdrawal returned waits for review
// (pending_review) or is approved for payout (approved). A wrong code is
// identity.EInvalidCode and counts an attempt; a refusal at the gate fails
// the withdrawal and returns it with the error. Confirming again returns
// the withdrawal as it is.
func (w *Withdrawals) Confirm(ctx context.Context, in ConfirmInput) (*Withdrawal, error) {
	t, err := w.customerTxn(ctx, in.UserID, in.TxnID)
	if err != nil {
		return nil, err
	}
	switch t.Status {
	case StatusAwaitingAuth:
		if err := w.authorize(ctx, t, in.Code); err != nil {
			return nil, err
		}
		t.Status = StatusAuthorized
	case StatusAuthorized:
		// Authorized earlier, the hold not made: make it (its ledger
		// reference makes it happen once).
	default:
		wd, err := w.find(ctx, t)
		if err != nil {
			return nil, err
		}
		return wd, withdrawalError(t)
	}
	return w.hold(ctx, t, in.Idem, in.Meta)
}

// authorize checks the code of withdrawal t (awaiting_auth) and marks it
// authorized, committing a wrong attempt too.
func (w *Withdrawals) authorize(ctx context.Context, t *Txn, code string) error {
	return w.s.authorizeTxn(ctx, t, withdrawalAuth(t), code, nounWithdrawal)
}

// methodRefusal reports whether code is a payout method's refusal of a
// payout (the withdrawal fails with it) rather than a fault to retry.
func methodRefusal(code string) bool {
	switch code {
	case okpay.ENotFound, paymethod.EMethodDeleted, paymethod.ENotVerified, paymethod.ECardExpired, paymethod.EMethodHold,
		paymethod.ENotPayoutEligible:
		return true
	}
	return false
}

// hold holds the funds of authorized withdrawal t (see Confirm).
func (w *Withdrawals) hold(ctx context.Context, t *Txn, idem *Idem, m identity.Meta) (*Withdrawal, error) {
	s := w.s
	if err := checkTransition(t.Status, StatusPendingReview); err != nil {
		return nil, err
	}
	dest, method, err := w.methods.ForPayout(ctx, nil, t.UserID, t.MethodID)
	if err != nil {
		if methodRefusal(okpay.ErrorCode(err)) {
			return w.refused(ctx, t, err)
		}
		return nil, err
	}
	// The rail went down since the code was sent: nothing is held, the
	// withdrawal stays authorized and confirming again later holds it.
	if err := w.checkRail(ctx, dest.Kind, t.Amount.Currency); err != nil {
		return nil, err
	}
	owner, err := s.id.LoadParty(ctx, t.UserID)
	if err != nil {
		return nil, err
	}
	now := s.now()
	// The drain and mule rules (RSK-04, risk.go), before anything is held.
	if frozen, err := w.checkPayoutRisk(ctx, t, method, now, m); err != nil {
		return nil, err
	} else if frozen {
		return w.refused(ctx, t, errRiskFrozen())
	}
	seen, err := s.deviceSeen(ctx, t.UserID, m) // RSK-01 (risk.go)
	if err != nil {
		return nil, err
	}
	input, err := w.reviewInput(ctx, t, method, now)
	if err != nil {
		return nil, err
	}
	dec := Decide(w.cfg.Review, input)
	cur := t.Amount.Currency
	wal, err := s.walletAccount(ctx, t.UserID, cur)
	if err != nil {
		return nil, err
	}
	clearing, err := s.SystemAccount(ctx, SysWithdrawals, cur)
	if err != nil {
		return nil, err
	}
	feePending, err := s.SystemAccount(ctx, SysFeePending, cur)
	if err != nil {
		return nil, err
	}
	earliest, latest := w.eta(now)
	expires := w.cal.AddBusinessDays(now, w.cfg.HoldBusinessDays, w.cfg.Location).UTC()
	stage, status := StageReview, StatusPendingReview
	if dec.Outcome == DecisionAutoApprove {
		stage, status = StageApproved, StatusApproved
	}
	total := money.New(t.Amount.Minor+t.Fee.Minor, cur)
	lang := string(owner.Lang())
	notice, err := s.id.PrepareNotice(owner, identity.MoneyNotice{Kind: NoticeWithdrawalRequested, Event: t.Ref(), Channels: w.cfg.Channels[NoticeWithdrawalRequested],
		FreezeLink: true, Meta: &m, Data: map[string]any{"Amount": t.Amount, "Fee": t.Fee, "Total": total, "Method": paymethod.Label(t.Counterparty),
			"Earliest": dateIn(earliest, w.cfg.Location, lang), "Latest": dateIn(latest, w.cfg.Location, lang)}})
	if err != nil {
		return nil, err
	}
	done := *t
	done.Status, done.UpdatedAt = status, now
	wd := &Withdrawal{Txn: &done, MethodKind: string(method.Kind), MethodLabel: t.Counterparty, Stage: stage, Decision: dec.Outcome,
		EarliestAt: earliest, LatestAt: latest, HoldExpiresAt: expires}
	mv := move{userID: t.UserID, amount: total, withdrawal: 1, deviceSeen: seen}
	rules, inputs := encodeJSON(dec.Matched), encodeJSON(input)
	var committed *Txn
	hook := func(ctx context.Context, htx *ledger.Tx, entryID int64) error {
		committed = nil
		tx := htx.SQL()
		if err := s.money.CheckMoneyOut(ctx, tx, t.UserID, true); err != nil {
			return err
		}
		if err := s.chargeLimitsTx(ctx, htx, mv, now); err != nil {
			return err
		}
		n, err := affected(tx.ExecContext(ctx, `UPDATE wallet_txns SET status = $1, entry_id = $2, updated_at = $3 WHERE id = $4 AND status = 'authorized'`,
			string(status), entryID, micros(now), t.ID))
		if err != nil {
			return okpay.Internal(err, "hold withdrawal")
		}
		if n != 1 {
			return errStale
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO withdrawals (txn_id, user_id, method_id, method_kind, method_label, currency, amount, fee, stage, decision,
			hold_entry_id, hold_expires_at, eta_earliest, eta_latest, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15)`,
			t.ID, t.UserID, t.MethodID, string(method.Kind), t.Counterparty, string(cur), t.Amount.Minor, t.Fee.Minor, stage, dec.Outcome,
			entryID, micros(expires), micros(earliest), micros(latest), micros(now)); err != nil {
			return okpay.Internal(err, "record withdrawal")
		}
		if err := w.insertDecision(ctx, tx, t.ID, "rules", dec.Outcome, rules, inputs, "", "", now); err != nil {
			return err
		}
		if err := w.enqueue(ctx, tx, t.ID, jobTimeout, expires, now); err != nil {
			return err
		}
		if stage == StageApproved {
			if err := w.enqueue(ctx, tx, t.ID, jobPayout, now, now); err != nil {
				return err
			}
		}
		if err := s.money.WriteNotices(ctx, tx, notice); err != nil {
			return err
		}
		done.EntryID = entryID
		committed = &done
		return nil
	}
	entry := withdrawalHoldEntry(t.ID, wal, clearing, feePending, t.Amount, t.Fee)
	res, err := s.ledger.Submit(ctx, ledger.Op{Entry: entry, TxHook: hook}, ledgerIdem(idem, &committed))
	if err == nil {
		if c := committed; c != nil && !res.Existing && res.Entry != nil && res.Entry.ID == c.EntryID {
			if err := w.fail(FailpointAfterReserve); err != nil {
				return nil, err
			}
			s.id.WakeNotices()
			w.Wake()
			return wd, nil
		}
		return w.reload(ctx, t)
	}
	switch code := okpay.ErrorCode(err); {
	case code == codeDuplicate || code == codeStale || code == ledger.EReferenceConflict:
		return w.reload(ctx, t)
	case refusal(code):
		return w.refused(ctx, t, err)
	}
	return nil, err
}

// refused fails withdrawal t (awaiting_auth or authorized, nothing held)
// with cause and returns it with cause.
func (w *Withdrawals) refused(ctx context.Context, t *Txn, cause error) (*Withdrawal, error) {
	code, msg := okpay.ErrorCode(cause), okpay.ErrorMessage(cause)
	now := w.s.now()
	if _, err := w.s.db.Write.ExecContext(ctx, `UPDATE wallet_txns SET status = 'failed', failure_code = $1, failure_reason = $2, updated_at = $3
		WHERE id = $4 AND status IN ('awaiting_auth','authorized')`, code, clip(msg, 500), micros(now), t.ID); err != nil {
		return nil, okpay.Internal(err, "record failed withdrawal")
	}
	cur, err := w.s.txnByID(ctx, t.ID)
	if err != nil {
		return nil, err
	}
	wd, err := w.find(ctx, cur)
	if err != nil {
		return nil, err
	}
	if cur.Status == StatusFailed && cur.FailureCode == code {
		return wd, cause // the refusal itself, with its details (a HoldError's end)
	}
	return wd, withdrawalError(cur)
}

// reload answers with the stored withdrawal after a race or a retry.
func (w *Withdrawals) reload(ctx context.Context, t *Txn) (*Withdrawal, error) {
	cur, err := w.s.txnByID(ctx, t.ID)
	if err != nil {
		return nil, err
	}
	wd, err := w.find(ctx, cur)
	if err != nil {
		return nil, err
	}
	return wd, withdrawalError(cur)
}

// reviewInput gathers what the review rules see (before the ledger's
// transaction: the hook only writes).
func (w *Withdrawals) reviewInput(ctx context.Context, t *Txn, m *paymethod.Method, now time.Time) (ReviewInput, error) {
	in := ReviewInput{Now: now, Amount: t.Amount, Fee: t.Fee, MethodKind: string(m.Kind), MethodShared: m.Shared, MethodVerified: m.VerifiedAt}
	if in.MethodVerified.IsZero() {
		in.MethodVerified = m.CreatedAt
	}
	if m.Bank != nil {
		in.MethodNameCheck, in.MethodNameHeld = string(m.Bank.NameCheck), m.Bank.NameHeld
	}
	wal, err := w.s.FindWallet(ctx, t.UserID, t.Amount.Currency)
	if err != nil {
		return in, err
	}
	in.Available = wal.Available
	u, err := w.customers.FindUser(ctx, t.UserID)
	if err != nil {
		return in, err
	}
	in.AccountCreated = u.CreatedAt
	events, err := w.audit.List(ctx, userOwner(t.UserID), 200, 0)
	if err != nil {
		return in, okpay.Internal(err, "read security events")
	}
	for _, e := range events {
		if IsSecurityChange(e.Name) && now.Sub(e.At) <= 30*24*time.Hour && len(in.Security) < 50 {
			in.Security = append(in.Security, SecurityEvent{Name: e.Name, At: e.At.UTC()})
		}
	}
	in.Previous, err = w.previous(ctx, t.UserID, t.ID, 20)
	if err != nil {
		return in, err
	}
	if err := w.s.db.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM withdrawals WHERE user_id = $1 AND stage = 'completed' AND txn_id <> $2`,
		t.UserID, t.ID).Scan(&in.CompletedBefore); err != nil {
		return in, okpay.Internal(err, "count withdrawals")
	}
	return in, nil
}

// previous returns userID's latest withdrawals (other than except),
// newest first.
func (w *Withdrawals) previous(ctx context.Context, userID, except int64, limit int) ([]PastWithdrawal, error) {
	rows, err := w.s.db.Read.QueryContext(ctx, `SELECT created_at, currency, amount, stage FROM withdrawals WHERE user_id = $1 AND txn_id <> $2
		ORDER BY created_at DESC, txn_id DESC LIMIT $3`, userID, except, limit)
	if err != nil {
		return nil, okpay.Internal(err, "read withdrawals")
	}
	defer rows.Close()
	var out []PastWithdrawal
	for rows.Next() {
		var at, amount int64
		var cur, stage string
		if err := rows.Scan(&at, &cur, &amount, &stage); err != nil {
			return nil, okpay.Internal(err, "read withdrawals")
		}
		out = append(out, PastWithdrawal{At: fromMicros(at), Amount: money.New(amount, money.Currency(cur)), Stage: stage})
	}
	if err := rows.Err(); err != nil {
		return nil, okpay.Internal(err, "read withdrawals")
	}
	return out, nil
}

// insertDecision appends a decision record.
func (w *Withdrawals) insertDecision(ctx context.Context, tx *sql.Tx, txnID int64, actor, outcome, rules, inputs, reason, note string, now time.Time) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO withdrawal_decisions (id, txn_id, actor, outcome, rules, inputs, reason, note, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, w.s.ids.Next(), txnID, actor, outcome, rules, inputs, reason, note, micros(now)); err != nil {
		return okpay.Internal(err, "record decision")
	}
	return nil
}

// dateIn formats the date of t in loc for a notice.
func dateIn(t time.Time, loc *time.Location, lang string) string {
	lt := t.In(loc)
	if strings.HasPrefix(lang, "zh") {
		return lt.Format("2006年1月2日")
	}
	return lt.Format("Mon 2 Jan 2006")
}

// ---- reading ----

// wdRow is a withdrawals row.
type wdRow struct {
	txnID                     int64
	userID, methodID          int64
	kind, label, stage, dec   string
	currency                  money.Currency
	amount, fee               int64
	holdEntry                 int64
	expires, earliest, latest int64
	payoutID, payoutStatus    string
	reviewedBy                string
	reviewedAt                int64
	voidCode, voidReason      string
	createdAt                 int64
}

const wdRowCols = `txn_id, user_id, method_id, method_kind, method_label, currency, amount, fee, stage, decision, hold_entry_id, hold_expires_at,
	eta_earliest, eta_latest, payout_id, payout_status, reviewed_by, reviewed_at, void_code, void_reason, created_at`

func scanWD(sc interface{ Scan(...any) error }) (*wdRow, error) {
	r := &wdRow{}
	var cur string
	err := sc.Scan(&r.txnID, &r.userID, &r.methodID, &r.kind, &r.label, &cur, &r.amount, &r.fee, &r.stage, &r.dec, &r.holdEntry, &r.expires,
		&r.earliest, &r.latest, &r.payoutID, &r.payoutStatus, &r.reviewedBy, &r.reviewedAt, &r.voidCode, &r.voidReason, &r.createdAt)
	r.currency = money.Currency(cur)
	return r, err
}

// loadWD reads the withdrawals row of txnID through q (nil, nil when there
// is none: the funds were never held).
func (w *Withdrawals) loadWD(ctx context.Context, q querier, txnID int64) (*wdRow, error) {
	r, err := scanWD(q.QueryRowContext(ctx, `SELECT `+wdRowCols+` FROM withdrawals WHERE txn_id = $1`, txnID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, okpay.Internal(err, "read withdrawal")
	}
	return r, nil
}

// view combines a transaction and its withdrawals row (nil before the
// hold).
func (w *Withdrawals) view(t *Txn, r *wdRow) *Withdrawal {
	wd := &Withdrawal{Txn: t, MethodLabel: t.Counterparty}
	if r == nil {
		wd.EarliestAt, wd.LatestAt = w.eta(t.CreatedAt)
		return wd
	}
	wd.MethodKind, wd.MethodLabel, wd.Stage, wd.Decision = r.kind, r.label, r.stage, r.dec
	wd.EarliestAt, wd.LatestAt, wd.HoldExpiresAt = fromMicros(r.earliest), fromMicros(r.latest), fromMicros(r.expires)
	wd.PayoutID, wd.ReviewedBy, wd.ReviewedAt = r.payoutID, r.reviewedBy, fromMicros(r.reviewedAt)
	wd.VoidCode, wd.VoidReason = r.voidCode, r.voidReason
	return wd
}

func (w *Withdrawals) find(ctx context.Context, t *Txn) (*Withdrawal, error) {
	r, err := w.loadWD(ctx, w.s.db.Read, t.ID)
	if err != nil {
		return nil, err
	}
	return w.view(t, r), nil
}

// Find returns userID's withdrawal txnID (ENotFound for another
// customer's, or for a transaction that is not a withdrawal).
func (w *Withdrawals) Find(ctx context.Context, userID, txnID int64) (*Withdrawal, error) {
	t, err := w.customerTxn(ctx, userID, txnID)
	if err != nil {
		return nil, err
	}
	return w.find(ctx, t)
}

// FailureText is why withdrawal wd failed or was rejected, in lang ("" if
// it did not).
func (w *Withdrawals) FailureText(wd *Withdrawal, lang i18n.Lang) string {
	return w.s.FailureText(wd.Txn, lang)
}

// Cancel cancels userID's withdrawal that is not yet on its way to the
// provider (awaiting its code, waiting for review, or approved and not
// sent): the held funds go back at once. A withdrawal already sent cannot
// be cancelled (EConflict).
func (w *Withdrawals) Cancel(ctx context.Context, userID, txnID int64) (*Withdrawal, error) {
	s := w.s
	t, err := w.customerTxn(ctx, userID, txnID)
	if err != nil {
		return nil, err
	}
	switch t.Status {
	case StatusAwaitingAuth, StatusAuthorized:
		now := s.now()
		n, err := affected(s.db.Write.ExecContext(ctx, `UPDATE wallet_txns SET status = 'failed', failure_code = $1, failure_reason = $2, updated_at = $3
			WHERE id = $4 AND status IN ('awaiting_auth','authorized')`, FailCancelled, "You cancelled the withdrawal.", micros(now), t.ID))
		if err != nil {
			return nil, okpay.Internal(err, "cancel withdrawal")
		}
		if n == 1 {
			return w.Find(ctx, userID, txnID)
		}
		// It moved on meanwhile (its hold was made): cancel that.
		if t, err = w.customerTxn(ctx, userID, txnID); err != nil {
			return nil, err
		}
	}
	r, err := w.loadWD(ctx, s.db.Read, t.ID)
	if err != nil {
		return nil, err
	}
	if r == nil || (r.stage != StageReview && r.stage != StageApproved) {
		return nil, okpay.Errorf(okpay.EConflict, "This withdrawal can no longer be cancelled.")
	}
	if err := w.void(ctx, r, voidCause{code: FailCancelled, reason: "You cancelled the withdrawal.", from: []string{StageReview, StageApproved}}); err != nil {
		if okpay.ErrorCode(err) == codeStale {
			return nil, okpay.Errorf(okpay.EConflict, "This withdrawal can no longer be cancelled.")
		}
		return nil, err
	}
	return w.Find(ctx, userID, txnID)
}

// PayoutsExecuting reports whether a withdrawal is on its way to payout
// method methodID: held for review, approved, or at the provider. Such a
// method cannot be deleted (CRD-08); the customer waits for the
// withdrawal to finish, or cancels it while it is not yet sent. It reads
// through tx (the deletion's transaction). paymethod.InUse.
func (w *Withdrawals) PayoutsExecuting(ctx context.Context, tx *sql.Tx, methodID int64) (bool, error) {
	var one int
	err := tx.QueryRowContext(ctx, `SELECT 1 FROM withdrawals WHERE method_id = $1 AND stage IN ('review','approved','submitting','sent') LIMIT 1`, methodID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, nil
}

var _ paymethod.InUse = (*Withdrawals)(nil)

// ParseWithdrawalRef parses a withdrawal's id (txn_…).
func ParseWithdrawalRef(s string) (int64, bool) { return ids.Parse(TxnPrefix, s) }
