package wallet

import (
	"context"
	"database/sql"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/agent"
	"github.com/okpay/okpay/audit"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/paymethod"
)

// The reviewers' side of withdrawals (the risk role's permission
// withdrawal:review): the queue of withdrawals waiting for a decision,
// each with the customer's context, and the decision itself. Every
// decision is stored (withdrawal_decisions) and audited (audit_log, in
// the same transaction), and a withdrawal is decided once: of two
// reviewers acting at the same moment, one wins and the other gets
// EAlreadyDecided.
//
// SUP-04 (an agent never acts on their own customer account): agents are
// staff accounts apart from customers (package agent), so the only link
// between an agent and a customer account is the email address; a
// reviewer whose staff email is the customer's cannot decide the
// customer's withdrawals (EOwnAccount).

// Audit events of reviews.
const (
	AuditWithdrawalApproved = "withdrawal_review_approved"
	AuditWithdrawalRejected = "withdrawal_review_rejected"
)

// MaxReviewNote bounds a reviewer's note.
const MaxReviewNote = 500

// ReviewItem is one line of the reviewers' queue.
type ReviewItem struct {
	Withdrawal *Withdrawal
	UserID     int64
	// Customer is the customer's masked email (SUP-03: masked by default).
	Customer string
	Amount   money.Amount
	Fee      money.Amount
	Rules    []RuleMatch
	Created  time.Time
}

// ReviewQueue lists the withdrawals waiting for a reviewer, oldest first
// (at most limit, 1..100, default 50).
func (w *Withdrawals) ReviewQueue(ctx context.Context, limit int) ([]*ReviewItem, error) {
	if limit <= 0 || limit > 100 {
		limit = 50
	}
	rows, err := w.s.db.Read.QueryContext(ctx, `SELECT `+wdRowCols+` FROM withdrawals WHERE stage = 'review' ORDER BY created_at, txn_id LIMIT $1`, limit)
	if err != nil {
		return nil, okpay.Internal(err, "read the review queue")
	}
	var rs []*wdRow
	for rows.Next() {
		r, err := scanWD(rows)
		if err != nil {
			rows.Close()
			return nil, okpay.Internal(err, "read the review queue")
		}
		rs = append(rs, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, okpay.Internal(err, "read the review queue")
	}
	out := make([]*ReviewItem, 0, len(rs))
	for _, r := range rs {
		t, err := w.s.txnByID(ctx, r.txnID)
		if err != nil {
			return nil, err
		}
		party, err := w.s.id.LoadParty(ctx, r.userID)
		if err != nil {
			return nil, err
		}
		ds, err := w.decisions(ctx, r.txnID)
		if err != nil {
			return nil, err
		}
		item := &ReviewItem{Withdrawal: w.view(t, r), UserID: r.userID, Customer: party.MaskedName, Amount: t.Amount, Fee: t.Fee, Created: fromMicros(r.createdAt)}
		for _, d := range ds {
			if d.Actor == "rules" {
				item.Rules = d.Rules
			}
		}
		out = append(out, item)
	}
	return out, nil
}

// Decision is a stored review decision: the rules' or a reviewer's.
type Decision struct {
	Actor   string // "rules" or the agent's reference
	Outcome string // auto_approve, review, approve, reject
	Rules   []RuleMatch
	// Input is what the rules saw (the rules' decision only).
	Input  *ReviewInput
	Reason string
	Note   string
	At     time.Time
}

// decisions returns a withdrawal's decisions, oldest first.
func (w *Withdrawals) decisions(ctx context.Context, txnID int64) ([]Decision, error) {
	rows, err := w.s.db.Read.QueryContext(ctx, `SELECT actor, outcome, rules, inputs, reason, note, created_at FROM withdrawal_decisions
		WHERE txn_id = $1 ORDER BY id`, txnID)
	if err != nil {
		return nil, okpay.Internal(err, "read decisions")
	}
	defer rows.Close()
	var out []Decision
	for rows.Next() {
		var d Decision
		var rules, inputs string
		var at int64
		if err := rows.Scan(&d.Actor, &d.Outcome, &rules, &inputs, &d.Reason, &d.Note, &at); err != nil {
			return nil, okpay.Internal(err, "read decisions")
		}
		d.At = fromMicros(at)
		if rules != "" && rules != "null" {
			_ = json.Unmarshal([]byte(rules), &d.Rules)
		}
		if inputs != "" {
			var in ReviewInput
			if json.Unmarshal([]byte(inputs), &in) == nil {
				d.Input = &in
			}
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, okpay.Internal(err, "read decisions")
	}
	return out, nil
}

// ReviewCase is a withdrawal with everything a reviewer weighs.
type ReviewCase struct {
	Withdrawal *Withdrawal
	// The customer, masked (SUP-03).
	UserID       int64
	Customer     string
	AccountAge   time.Duration
	AccountSince time.Time
	Frozen       bool
	HoldUntil    time.Time
	Level        int
	LevelName    string
	Wallets      []*Wallet
	Method       *paymethod.Method
	MethodAge    time.Duration
	Security     []CaseEvent   // the account's latest audit events, newest first
	Previous     []*Withdrawal // the latest other withdrawals, newest first
	Decisions    []Decision
	Decided      bool // no longer waiting for a reviewer
	// PaidToMethod counts the completed withdrawals to this method among
	// Previous.
	PaidToMethod int
}

// CaseEvent is an audit event of the customer's account on the
// reviewer's page.
type CaseEvent struct {
	Name    string
	At      time.Time
	IP      string
	Outcome string
	// Change: a security change (the kind RuleRecentSecurityChange
	// weighs), a freeze or a lockout.
	Change bool
}

// ReviewCase returns withdrawal txnID with its customer's context
// (ENotFound when there is no such withdrawal with held funds).
func (w *Withdrawals) ReviewCase(ctx context.Context, txnID int64) (*ReviewCase, error) {
	s := w.s
	r, err := w.loadWD(ctx, s.db.Read, txnID)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, okpay.Errorf(okpay.ENotFound, "There is no such withdrawal.")
	}
	t, err := s.txnByID(ctx, txnID)
	if err != nil {
		return nil, err
	}
	now := s.now()
	c := &ReviewCase{Withdrawal: w.view(t, r), UserID: r.userID, Decided: r.stage != StageReview}
	u, err := w.customers.FindUser(ctx, r.userID)
	if err != nil {
		return nil, err
	}
	party, err := s.id.LoadParty(ctx, r.userID)
	if err != nil {
		return nil, err
	}
	c.Customer, c.AccountSince, c.AccountAge, c.Frozen, c.HoldUntil = party.MaskedName, u.CreatedAt, now.Sub(u.CreatedAt), u.Frozen, u.HoldUntil
	lim, err := s.Limits(ctx, r.userID)
	if err != nil {
		return nil, err
	}
	c.Level, c.LevelName = lim.Level, lim.LevelName
	if c.Wallets, err = s.Wallets(ctx, r.userID); err != nil {
		return nil, err
	}
	if m, err := w.methods.Get(ctx, r.userID, r.methodID); err == nil {
		c.Method = m
		since := m.VerifiedAt
		if since.IsZero() {
			since = m.CreatedAt
		}
		c.MethodAge = now.Sub(since)
	} else if okpay.ErrorCode(err) != okpay.ENotFound {
		return nil, err
	}
	events, err := w.audit.List(ctx, userOwner(r.userID), 100, 0)
	if err != nil {
		return nil, okpay.Internal(err, "read security events")
	}
	for _, e := range events {
		if strings.HasPrefix(e.Name, "withdrawal_review_") {
			continue // the reviews themselves are in Decisions
		}
		c.Security = append(c.Security, CaseEvent{Name: e.Name, At: e.At, IP: e.IP, Outcome: e.Outcome,
			Change: IsSecurityChange(e.Name) || e.Name == audit.AccountFrozen || e.Name == audit.AuthnLoginLock})
		if len(c.Security) == 15 {
			break
		}
	}
	rows, err := s.db.Read.QueryContext(ctx, `SELECT `+wdRowCols+` FROM withdrawals WHERE user_id = $1 AND txn_id <> $2 ORDER BY created_at DESC, txn_id DESC LIMIT 10`,
		r.userID, txnID)
	if err != nil {
		return nil, okpay.Internal(err, "read withdrawals")
	}
	var prev []*wdRow
	for rows.Next() {
		p, err := scanWD(rows)
		if err != nil {
			rows.Close()
			return nil, okpay.Internal(err, "read withdrawals")
		}
		prev = append(prev, p)
	}
	rows.Close()
	for _, p := range prev {
		pt, err := s.txnByID(ctx, p.txnID)
		if err != nil {
			return nil, err
		}
		c.Previous = append(c.Previous, w.view(pt, p))
		if p.methodID == r.methodID && p.stage == StageCompleted {
			c.PaidToMethod++
		}
	}
	if c.Decisions, err = w.decisions(ctx, txnID); err != nil {
		return nil, err
	}
	return c, nil
}

// CleanReviewNote checks a reviewer's note: at most MaxReviewNote characters
// of valid UTF-8 without control characters other than line breaks and
// tabs, trimmed. It may be empty.
func CleanReviewNote(note string) (string, error) {
	note = strings.TrimSpace(note)
	bad := func(msg string) (string, error) { return "", okpay.Invalid(map[string]string{"note": msg}) }
	if !utf8.ValidString(note) {
		return bad("The note has characters that cannot be read.")
	}
	if utf8.RuneCountInString(note) > MaxReviewNote {
		return bad("The note is too long.")
	}
	for _, r := range note {
		if (unicode.IsControl(r) && r != '\n' && r != '\t') || isBidiControl(r) {
			return bad("The note cannot contain control characters.")
		}
	}
	return note, nil
}

// reviewer checks that agent a may decide withdrawal r: the permission
// (withdrawal:review), and not their own customer account (SUP-04).
func (w *Withdrawals) reviewer(ctx context.Context, a *agent.Agent, r *wdRow) error {
	if !agent.Can(a, agent.PermWithdrawalReview) {
		return okpay.Errorf(okpay.EForbidden, "You may not review withdrawals.")
	}
	u, err := w.customers.FindUser(ctx, r.userID)
	if err != nil {
		return err
	}
	if u.Email != "" && strings.EqualFold(strings.TrimSpace(u.Email), strings.TrimSpace(a.Email)) {
		return okpay.Errorf(EOwnAccount, "This withdrawal is from your own customer account: another reviewer must decide it.")
	}
	return nil
}

// reviewTarget reads withdrawal txnID for a decision.
func (w *Withdrawals) reviewTarget(ctx context.Context, a *agent.Agent, txnID int64) (*wdRow, error) {
	r, err := w.loadWD(ctx, w.s.db.Read, txnID)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, okpay.Errorf(okpay.ENotFound, "There is no such withdrawal.")
	}
	if err := w.reviewer(ctx, a, r); err != nil {
		return nil, err
	}
	if r.stage != StageReview {
		return nil, errDecided()
	}
	return r, nil
}

func errDecided() error {
	return okpay.Errorf(EAlreadyDecided, "This withdrawal is no longer waiting for a review: someone decided it already, or it was cancelled.")
}

// reviewAudit is the audit record of a decision.
func (w *Withdrawals) reviewAudit(ctx context.Context, tx *sql.Tx, a *agent.Agent, r *wdRow, name, reason, note string, m agent.Meta, now time.Time) error {
	roles := make([]string, len(a.Roles))
	for i, x := range a.Roles {
		roles[i] = string(x)
	}
	slices.Sort(roles)
	if _, err := audit.Append(ctx, tx, w.s.db.Dialect, audit.Event{At: now, Name: name, Actor: a.Ref(), Subject: userOwner(r.userID), IP: m.IP,
		RequestID: m.RequestID, Outcome: audit.Success, Reason: note, Details: map[string]string{
			"withdrawal": r.ref(), "amount": moneyOf(r.amount, r.currency).String(), "currency": string(r.currency),
			"fee": strconv.FormatInt(r.fee, 10), "method": r.label, "reject_reason": reason, "roles": strings.Join(roles, ","),
		}}); err != nil {
		return okpay.Internal(err, "audit")
	}
	return nil
}

// Approve approves withdrawal txnID, waiting for review, for payout. a
// needs withdrawal:review (EForbidden) and must not own the customer
// account (EOwnAccount); a withdrawal decided meanwhile is
// EAlreadyDecided. The decision and its audit record commit with the
// approval, and the payout job is queued.
func (w *Withdrawals) Approve(ctx context.Context, a *agent.Agent, txnID int64, note string, m agent.Meta) error {
	s := w.s
	note, err := CleanReviewNote(note)
	if err != nil {
		return err
	}
	r, err := w.reviewTarget(ctx, a, txnID)
	if err != nil {
		return err
	}
	now := s.now()
	err = s.db.InTx(ctx, func(tx *sql.Tx) error {
		n, err := affected(tx.ExecContext(ctx, `UPDATE withdrawals SET stage = 'approved', reviewed_by = $1, reviewed_at = $2, updated_at = $2
			WHERE txn_id = $3 AND stage = 'review'`, a.Ref(), micros(now), r.txnID))
		if err != nil {
			return okpay.Internal(err, "approve withdrawal")
		}
		if n != 1 {
			return errDecided()
		}
		if _, err := tx.ExecContext(ctx, `UPDATE wallet_txns SET status = 'approved', updated_at = $1 WHERE id = $2 AND status = 'pending_review'`,
			micros(now), r.txnID); err != nil {
			return okpay.Internal(err, "approve withdrawal")
		}
		if err := w.insertDecision(ctx, tx, r.txnID, a.Ref(), "approve", "", "", "", note, now); err != nil {
			return err
		}
		if err := w.reviewAudit(ctx, tx, a, r, AuditWithdrawalApproved, "", note, m, now); err != nil {
			return err
		}
		return w.enqueue(ctx, tx, r.txnID, jobPayout, now, now)
	})
	if err != nil {
		return err
	}
	w.Wake()
	return nil
}

// Reject rejects withdrawal txnID, waiting for review: its hold is voided
// (the money goes back), the customer is told the reason (one of
// RejectReasons, translated; the note stays internal). The checks are
// Approve's. The decision, its audit record and the void commit together.
func (w *Withdrawals) Reject(ctx context.Context, a *agent.Agent, txnID int64, reason, note string, m agent.Meta) error {
	if !slices.Contains(RejectReasons, reason) {
		return okpay.Invalid(map[string]string{"reason": "Choose the reason to give the customer."})
	}
	note, err := CleanReviewNote(note)
	if err != nil {
		return err
	}
	r, err := w.reviewTarget(ctx, a, txnID)
	if err != nil {
		return err
	}
	code := FailRejectedPrefix + reason
	err = w.void(ctx, r, voidCause{code: code, reason: rejectText[reason], from: []string{StageReview}, status: StatusRejected,
		extra: func(ctx context.Context, tx *sql.Tx, now time.Time) error {
			if _, err := tx.ExecContext(ctx, `UPDATE withdrawals SET reviewed_by = $1, reviewed_at = $2 WHERE txn_id = $3`, a.Ref(), micros(now), r.txnID); err != nil {
				return okpay.Internal(err, "reject withdrawal")
			}
			if err := w.insertDecision(ctx, tx, r.txnID, a.Ref(), "reject", "", "", reason, note, now); err != nil {
				return err
			}
			return w.reviewAudit(ctx, tx, a, r, AuditWithdrawalRejected, reason, note, m, now)
		}})
	if okpay.ErrorCode(err) == codeStale {
		return errDecided()
	}
	return err
}

// rejectText is the English text of each rejection reason (the catalog's
// "wallet.failure.rejected_<reason>" translates it).
var rejectText = map[string]string{
	"identity_check":      "We could not confirm that this withdrawal was made by you. Contact support to verify your identity.",
	"suspicious_activity": "The withdrawal was stopped because of unusual activity on your account. Contact support.",
	"method_issue":        "The payout method could not be accepted for this withdrawal. Choose another one.",
	"policy":              "The withdrawal does not meet our terms of service. Contact support for details.",
}

// identity.Service is a Customers.
var _ Customers = (*identity.Service)(nil)
