package wallet

// The wallet's risk controls (SECURITY.md RSK-01, RSK-04, RSK-07).
//
// # New-device cap (RSK-01)
//
// Money leaving an account from a device the account started using less
// than Config.NewDeviceCap.Window ago (72 h), or from a request that names
// no device, may total at most Config.NewDeviceCap.Percent (20%) of the
// level's daily limit that day. The device is the request's
// (identity.Meta.DeviceID: the web's __Host-did cookie); when the account
// first used it comes from identity (Money.DeviceSince), read before the
// ledger's transaction and cached there, so the payment path asks the
// database nothing more per payment. Inside the transaction the cap
// simply replaces the daily limit in chargeLimits' conditional upsert:
// P2P transfers, remittances and withdrawals are all capped, and two
// concurrent payments cannot pass the cap together (the upsert refuses
// the second). A refusal is a LimitError with Limit LimitNewDeviceAmount
// (code limit_exceeded, HTTP 422, like every limit).
//
// # Auto-freeze rules (RSK-04)
//
// The rules are identity/risk's pure functions; here they get their
// events and their outcome. Each freeze is identity's standard freeze
// (Money.RiskFreeze: the decision record, then every session revoked,
// money-out blocked, pending withdrawals voided by the freeze hook,
// every channel notified, a support case opened by the desk's freeze
// hook, identity.SupportCaseNote). Where each rule runs:
//
//   - new_payee_burst (≥10 payments to new payees within 1 h) runs inside
//     the ledger's transaction of each P2P transfer and remittance to a
//     new payee (never on the payment to a known payee, the hot path).
//     Its events are the account's first payments to payees
//     (wallet_payees), written by the hook itself, not deferred, so the
//     count sees every earlier payment of the same batch; on PostgreSQL
//     the velocity upsert before it holds the account's limits row, so
//     two payments of one account are counted one after the other. The
//     count is therefore exact under concurrency: the 10th payment trips
//     the rule. A hook that refuses a payment has its writes rolled back
//     with it (ledger.Hook), so a freeze cannot be committed by a refusal
//     there; and a freeze committed after the payment, in a transaction
//     of its own, could be lost in a crash. So the 10th payment completes
//     and the freeze commits in the same transaction, atomically: the
//     11th, and any money-out after, is refused by the gate
//     (account_frozen).
//   - new_device_payout_drain (a new-device sign-in, a payout method
//     added and a withdrawal of ≥50% of the balance, all within 1 h) and
//     shared_payout_fingerprint (the withdrawal's payout instrument linked
//     to ≥3 accounts) run when a withdrawal's funds are about to be held
//     (Withdrawals.Confirm), before the ledger is asked anything: the
//     withdrawal is the event that completes the drain and the one that
//     moves money. Their inputs do not depend on concurrent payments of
//     the account (the sign-ins, the methods added, the instrument's
//     accounts), so nothing is gained by running them in the ledger's
//     writer. When one trips, the freeze commits first (its own
//     transaction, with its decision record) and the withdrawal is
//     refused (failed, account_frozen): nothing is held, nothing reaches
//     the provider. The drain's balance is the wallet's available balance
//     read just before; its amount is what leaves the wallet (fee
//     included). The drain is weighed at the withdrawal only: a payout
//     method cannot receive money for 24 h after it is added (RSK-02), so
//     the drain cannot go to the method added in the window.
//   - shared_payout_fingerprint also runs when a method is added (package
//     paymethod), in the addition's transaction.

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/identity/risk"
	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/paymethod"
)

// DeviceCapOff is a Config.NewDeviceCap that turns the new-device cap
// off (100% of the daily limit): for tests about other things, whose
// customers pay from devices signed in moments ago.
func DeviceCapOff() risk.DeviceCap {
	return risk.DeviceCap{Percent: 100, Window: risk.NewDeviceWindow}
}

// deviceSeen is when userID's account first used the request's device
// (zero: never, or none named).
func (s *Service) deviceSeen(ctx context.Context, userID int64, m identity.Meta) (time.Time, error) {
	return s.money.DeviceSince(ctx, userID, m.DeviceID)
}

// dailyError is the refusal of a payment that would pass the day's limit
// daily (used: what the day already holds): the new-device cap's when it
// was the day's limit.
func (s *Service) dailyError(mv move, w windows, daily, used int64) error {
	if !mv.capped {
		return &LimitError{Limit: LimitDailyAmount, Max: daily, Currency: mv.amount.Currency, Used: used, ResetsAt: w.dayEnd}
	}
	until := s.cfg.NewDeviceCap.Until(mv.deviceSeen)
	resets := w.dayEnd
	if !until.IsZero() && until.Before(resets) {
		resets = until
	}
	return &LimitError{Limit: LimitNewDeviceAmount, Max: daily, Currency: mv.amount.Currency, Used: used, ResetsAt: resets, Until: until}
}

// messageID is the catalog message of a limit error.
func (e *LimitError) messageID() string {
	if e.Limit == LimitNewDeviceAmount && e.Until.IsZero() {
		return "wallet.limit.new_device_daily_amount_unknown"
	}
	return "wallet.limit." + e.Limit
}

// newDeviceError is the English text of a LimitNewDeviceAmount refusal.
func (e *LimitError) newDeviceError() string {
	limit, used := money.New(e.Max, e.Currency).Format("en"), money.New(e.Used, e.Currency).Format("en")
	resets := e.ResetsAt.UTC().Format("2006-01-02 15:04 UTC")
	if e.Until.IsZero() {
		return fmt.Sprintf("For your security, this device is not yet known on your account, so it can send at most %s a day (%s used today). Sign in on it to start its trial period, or use a device you have used for longer. The limit starts again at %s.",
			limit, used, resets)
	}
	return fmt.Sprintf("For your security, this device is new on your account: until %s it can send at most %s a day (%s used today). The limit starts again at %s, or use a device you have used for longer.",
		e.Until.UTC().Format("2006-01-02 15:04 UTC"), limit, used, resets)
}

// ---- new_payee_burst ----

// qPayeesSince lists an account's first payments to payees since a time.
const qPayeesSince = `SELECT payee_id, first_paid_at FROM wallet_payees WHERE user_id = $1 AND first_paid_at >= $2 ORDER BY first_paid_at, payee_id`

// recordNewPayee writes, inside the payment's transaction and not
// deferred, that userID paid payee for the first time at now; inserted is
// false when a payment committed meanwhile had paid payee already.
func (s *Service) recordNewPayee(ctx context.Context, tx *sql.Tx, userID, payee int64, now time.Time) (inserted bool, err error) {
	n, err := affected(s.st.exec(ctx, tx, qInsertPayee, userID, payee, micros(now)))
	if err != nil {
		return false, okpay.Internal(err, "record payee")
	}
	return n == 1, nil
}

// payeeEvents reads userID's first payments to payees since since as risk
// events (Transfer to a NewPayee), oldest first.
func payeeEvents(ctx context.Context, q querier, userID int64, since time.Time) ([]risk.Event, error) {
	rows, err := q.QueryContext(ctx, qPayeesSince, userID, micros(since))
	if err != nil {
		return nil, okpay.Internal(err, "read payees")
	}
	defer rows.Close()
	var out []risk.Event
	for rows.Next() {
		var payee, at int64
		if err := rows.Scan(&payee, &at); err != nil {
			return nil, okpay.Internal(err, "read payees")
		}
		out = append(out, risk.Event{At: fromMicros(at), Kind: risk.Transfer, UserID: userID, PayeeID: strconv.FormatInt(payee, 10), NewPayee: true})
	}
	if err := rows.Err(); err != nil {
		return nil, okpay.Internal(err, "read payees")
	}
	return out, nil
}

// NewPayeeEvents returns the payments of userID to new payees (P2P
// transfers and remittances, the first to each payee) since since, as the
// risk events new_payee_burst weighs, oldest first: the event log a
// replay of that rule reads (RSK-07).
func (s *Service) NewPayeeEvents(ctx context.Context, userID int64, since time.Time) ([]risk.Event, error) {
	return payeeEvents(ctx, s.db.Read, userID, since)
}

// checkNewPayeeBurst runs the auto-freeze rules on userID's payment to
// new payee payee at now, inside the payment's ledger transaction, after
// recordNewPayee wrote it. A Freeze decision freezes the account in the
// same transaction, and the payment completes with it (see the top of
// this file).
func (s *Service) checkNewPayeeBurst(ctx context.Context, tx *sql.Tx, userID, payee int64, now time.Time, m identity.Meta) error {
	events, err := payeeEvents(ctx, tx, userID, now.Add(-risk.NewPayeeBurstWindow))
	if err != nil {
		return err
	}
	ref := strconv.FormatInt(payee, 10)
	ev := risk.Event{At: now, Kind: risk.Transfer, UserID: userID, PayeeID: ref, NewPayee: true}
	history := events[:0:0]
	for _, e := range events {
		if e.PayeeID == ref {
			continue // this payment's own row
		}
		history = append(history, e)
		// A payment of the account that committed first with a later
		// clock reading: this one is weighed after it, as it was booked.
		if e.At.After(ev.At) {
			ev.At = e.At
		}
	}
	for _, d := range risk.Evaluate(risk.Context{}, history, ev) {
		if _, err := s.money.RiskFreeze(ctx, tx, userID, d, m); err != nil {
			return err
		}
	}
	return nil
}

// newPayeeRisk records userID's first payment to payee inside the
// payment's transaction (a P2P transfer's or a remittance's hook) and runs
// new_payee_burst on it.
func (s *Service) newPayeeRisk(ctx context.Context, tx *sql.Tx, userID, payee int64, now time.Time, m identity.Meta) error {
	inserted, err := s.recordNewPayee(ctx, tx, userID, payee, now)
	if err != nil || !inserted {
		return err
	}
	return s.checkNewPayeeBurst(ctx, tx, userID, payee, now, m)
}

// ---- withdrawals: new_device_payout_drain, shared_payout_fingerprint ----

// PayoutRisk is what the withdrawal rules read of the payout methods:
// the instrument's accounts and the methods added lately
// (*paymethod.Service implements it). Withdrawals use it when their
// PayoutMethods implement it too; otherwise the two rules do not run at
// withdrawals.
type PayoutRisk interface {
	RiskContext(ctx context.Context, q paymethod.Querier, fingerprint string) (risk.Context, error)
	AddedSince(ctx context.Context, q paymethod.Querier, userID int64, since time.Time) ([]risk.Event, error)
}

// WithdrawalEvent is the risk event of withdrawal t to method about to be
// held, with available the wallet's available balance just before.
func WithdrawalEvent(t *Txn, fingerprint string, available money.Amount, at time.Time) risk.Event {
	return risk.Event{At: at, Kind: risk.Withdrawal, UserID: t.UserID, Amount: t.Amount.Minor + t.Fee.Minor, Currency: string(t.Amount.Currency),
		Balance: available.Minor, PayoutFingerprint: fingerprint}
}

// checkPayoutRisk runs the auto-freeze rules on withdrawal t to method
// before its funds are held. When a rule trips it freezes the account
// (its own transaction, the decision record with it) and reports frozen:
// the caller refuses the withdrawal.
func (w *Withdrawals) checkPayoutRisk(ctx context.Context, t *Txn, method *paymethod.Method, now time.Time, m identity.Meta) (frozen bool, err error) {
	pr, ok := w.methods.(PayoutRisk)
	if !ok {
		return false, nil
	}
	s := w.s
	since := now.Add(-risk.DrainWindow)
	history, err := s.money.NewDeviceLogins(ctx, t.UserID, since)
	if err != nil {
		return false, err
	}
	added, err := pr.AddedSince(ctx, nil, t.UserID, since)
	if err != nil {
		return false, err
	}
	history = append(history, added...)
	rc := risk.Context{}
	if method.Fingerprint != "" {
		if rc, err = pr.RiskContext(ctx, nil, method.Fingerprint); err != nil {
			return false, err
		}
	}
	wal, err := s.FindWallet(ctx, t.UserID, t.Amount.Currency)
	if err != nil {
		return false, err
	}
	ev := WithdrawalEvent(t, method.Fingerprint, wal.Available, now)
	for _, d := range risk.Evaluate(rc, history, ev) {
		froze, err := s.money.RiskFreeze(ctx, nil, t.UserID, d, m)
		if err != nil {
			return false, err
		}
		if froze {
			s.id.WakeNotices()
		}
		// Frozen now, by this decision or before it: the withdrawal stops.
		return d.Outcome == risk.Freeze, nil
	}
	return false, nil
}

// errRiskFrozen is the refusal of a withdrawal whose own risk check froze
// the account.
func errRiskFrozen() error {
	return okpay.Errorf(identity.EAccountFrozen, "For your security this account was frozen and the withdrawal was stopped: the activity on it looks like someone else may be using it. Contact support.")
}
