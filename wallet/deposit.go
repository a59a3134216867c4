package wallet

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/ledger"
	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/psp"
)

// Card deposits. StartDeposit records the deposit (draft), has the
// provider charge the card, and moves the deposit to executing (the
// provider is working on it) or awaiting_auth (3-D Secure: the customer
// goes to ActionURL). The provider's webhook events, passed to
// ApplyProviderEvent once their signature is verified, finish it: a
// charge.succeeded credits the wallet (one ledger entry from the
// provider's settlement account), a charge.failed fails it with the
// reason. Events are applied at most once (by id), only forward (a final
// status never changes), and the amount credited is always our own
// record's (TXN-06), never the event's.

// DepositInput asks to add money to a wallet from a card.
type DepositInput struct {
	UserID   int64
	MethodID int64 // a verified card of the user (package paymethod)
	// Amount is charged to the card; the wallet receives it less the fee.
	Amount money.Amount
	// Key is the client's idempotency key (required).
	Key string
	// ReturnURL is where 3-D Secure sends the customer back.
	ReturnURL string
	Meta      identity.Meta
}

// DepositQuote is what a deposit will cost.
type DepositQuote struct {
	Amount, Fee, Net money.Amount
	FeeRule          string
}

// internal outcome of a hook: the event was applied before.
const codeSeen = "wallet_event_seen"

var errSeen = okpay.Errorf(codeSeen, "the event was applied before")

// Provider event outcomes (wallet_provider_events.outcome).
const (
	eventApplied = "applied"
	eventIgnored = "ignored"
)

const (
	qInsertEvent = `INSERT INTO wallet_provider_events (provider, event_id, type, reference, outcome, received_at) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (provider, event_id) DO NOTHING`
	qCompleteDeposit = `UPDATE wallet_txns SET status = 'completed', entry_id = $1, provider_ref = $2, action_url = '', updated_at = $3
		WHERE id = $4 AND status IN ('draft','awaiting_auth','authorized','executing')`
)

// OwnsReference reports whether a provider reference names a wallet
// transaction (so the webhook endpoint knows to call ApplyProviderEvent).
func OwnsReference(ref string) bool {
	_, ok := ParseTxnRef(ref)
	return ok
}

// QuoteDeposit says what depositing a from a card costs.
func (s *Service) QuoteDeposit(a money.Amount) (*DepositQuote, error) {
	if a.Minor <= 0 {
		return nil, okpay.Invalid(map[string]string{"amount": "Enter an amount greater than zero."})
	}
	if err := s.checkCurrency(a.Currency); err != nil {
		return nil, err
	}
	fee, rule, err := s.quoteFee(OpDeposit, MethodCard, a)
	if err != nil {
		return nil, err
	}
	if fee.Minor >= a.Minor {
		return nil, okpay.Errorf(EAmountBelowFee, "The amount must be more than the fee of %s.", fee.String()+" "+string(fee.Currency))
	}
	return &DepositQuote{Amount: a, Fee: fee, Net: money.New(a.Minor-fee.Minor, a.Currency), FeeRule: rule}, nil
}

// StartDeposit charges a card to add money to a wallet. The transaction
// returned is executing (the provider will confirm), awaiting_auth (send
// the customer to ActionURL for 3-D Secure), completed, or failed (a
// decline, returned with its error). A retry with the same key returns
// the same deposit, and asks the provider again only while it is a draft
// (the provider treats the same reference as the same charge).
func (s *Service) StartDeposit(ctx context.Context, in DepositInput) (*Txn, error) {
	if s.psp == nil || s.cards == nil {
		return nil, okpay.Errorf(EDepositsUnavailable, "Card deposits are not available.")
	}
	if err := checkKey(in.Key); err != nil {
		return nil, err
	}
	q, err := s.QuoteDeposit(in.Amount)
	if err != nil {
		return nil, err
	}
	if _, err := s.walletAccount(ctx, in.UserID, in.Amount.Currency); err != nil {
		return nil, err
	}
	t, err := s.txnByKey(ctx, s.db.Read, in.UserID, in.Key)
	if err != nil {
		return nil, err
	}
	if t != nil {
		if t.Type != TypeDeposit || t.Amount != in.Amount || t.MethodID != in.MethodID {
			return nil, okpay.Errorf(EIdempotencyKeyReused, "This idempotency key was already used for a different operation.")
		}
		if t.Status != StatusDraft {
			return t, depositError(t)
		}
	}
	token, err := s.cards.DepositToken(ctx, in.UserID, in.MethodID)
	if err != nil {
		return nil, err
	}
	if t == nil {
		now := s.now()
		t = &Txn{ID: s.ids.Next(), UserID: in.UserID, Type: TypeDeposit, Status: StatusDraft, Amount: in.Amount, Fee: q.Fee, FeeRule: q.FeeRule,
			MethodID: in.MethodID, Key: in.Key, CreatedAt: now, UpdatedAt: now}
		var existing *Txn
		err := s.db.InTx(ctx, func(tx *sql.Tx) error {
			existing = nil
			wrote, err := s.insertTxn(ctx, tx, t)
			if err == nil && !wrote {
				existing, err = s.txnByKey(ctx, tx, in.UserID, in.Key)
			}
			return err
		})
		if err != nil {
			return nil, err
		}
		if existing != nil { // a concurrent request with the same key
			return existing, depositError(existing)
		}
	}
	ch, err := s.psp.Charge(ctx, psp.ChargeRequest{Reference: t.Ref(), Token: token, Amount: t.Amount, ReturnURL: in.ReturnURL})
	if err != nil {
		switch okpay.ErrorCode(err) {
		case psp.EDeclined, psp.ETokenNotFound:
			if ferr := s.failDeposit(ctx, t, nil, okpay.ErrorCode(err), okpay.ErrorMessage(err)); ferr != nil {
				return nil, ferr
			}
			return s.depositOutcome(ctx, t.ID)
		}
		return nil, err // the deposit stays a draft: retry with the same key
	}
	if err := s.applyCharge(ctx, t, nil, ch.Status, ch.ID, ch.ActionURL, ch.FailureCode, ch.FailureMessage); err != nil {
		return nil, err
	}
	return s.depositOutcome(ctx, t.ID)
}

// depositOutcome reads a deposit back after a step, with its error when
// it failed.
func (s *Service) depositOutcome(ctx context.Context, id int64) (*Txn, error) {
	t, err := s.txnByID(ctx, id)
	if err != nil {
		return nil, err
	}
	return t, depositError(t)
}

func depositError(t *Txn) error {
	if t.Status == StatusFailed {
		return failureError(t)
	}
	return nil
}

// txnByID reads any customer's transaction (for provider events).
func (s *Service) txnByID(ctx context.Context, id int64) (*Txn, error) {
	t, err := scanTxn(s.db.Read.QueryRowContext(ctx, `SELECT `+txnCols+` FROM wallet_txns WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errTxnNotFound()
	}
	if err != nil {
		return nil, okpay.Internal(err, "read transaction")
	}
	return t, nil
}

// applyCharge moves deposit t according to the provider's status of its
// charge (from the charge's answer, or an event ev).
func (s *Service) applyCharge(ctx context.Context, t *Txn, ev *psp.Event, status psp.Status, providerRef, actionURL, failCode, failMsg string) error {
	switch status {
	case psp.StatusSucceeded:
		return s.completeDeposit(ctx, t, ev, providerRef)
	case psp.StatusFailed:
		return s.failDeposit(ctx, t, ev, failCode, failMsg)
	case psp.StatusPending, psp.StatusRequiresAction:
		to := StatusExecuting
		if status == psp.StatusRequiresAction {
			to = StatusAwaitingAuth
		}
		if providerRef == "" {
			providerRef = t.ProviderRef
		}
		now := s.now()
		return s.db.InTx(ctx, func(tx *sql.Tx) error {
			if ev != nil {
				if n, err := affected(s.st.exec(ctx, tx, qInsertEvent, s.psp.Name(), ev.ID, ev.Type, ev.Reference, eventApplied, micros(now))); err != nil || n == 0 {
					return err // a replay: nothing to do
				}
			}
			// Only a draft moves: a later "pending" never undoes progress.
			_, err := tx.ExecContext(ctx, `UPDATE wallet_txns SET status = $1, provider_ref = $2, action_url = $3, updated_at = $4 WHERE id = $5 AND status = 'draft'`,
				string(to), providerRef, actionURL, micros(now), t.ID)
			return err
		})
	}
	return s.recordEvent(ctx, ev, eventIgnored)
}

// completeDeposit credits the wallet with deposit t, once: the entry's
// reference is the deposit's, and its hook moves the deposit to
// completed only from a status that can reach it.
func (s *Service) completeDeposit(ctx context.Context, t *Txn, ev *psp.Event, providerRef string) error {
	if t.Status.Final() {
		return s.recordEvent(ctx, ev, eventIgnored)
	}
	cur := t.Amount.Currency
	ext, err := s.externalAccount(ctx, cur)
	if err != nil {
		return err
	}
	wal, err := s.walletAccount(ctx, t.UserID, cur)
	if err != nil {
		return err
	}
	feeAcct, err := s.SystemAccount(ctx, SysFeeRevenue, cur)
	if err != nil {
		return err
	}
	owner, err := s.id.LoadParty(ctx, t.UserID)
	if err != nil {
		return err
	}
	notice, err := s.id.PrepareNotice(owner, identity.MoneyNotice{Kind: NoticeDepositCompleted, Event: t.Ref(), Channels: s.cfg.Channels[NoticeDepositCompleted],
		Data: map[string]any{"Amount": t.Total(), "Charged": t.Amount, "Fee": t.Fee}})
	if err != nil {
		return err
	}
	if providerRef == "" {
		providerRef = t.ProviderRef
	}
	now := s.now()
	hook := func(ctx context.Context, tx *sql.Tx, entryID int64) error {
		if ev != nil {
			n, err := affected(s.st.exec(ctx, tx, qInsertEvent, s.psp.Name(), ev.ID, ev.Type, ev.Reference, eventApplied, micros(now)))
			if err != nil {
				return okpay.Internal(err, "record event")
			}
			if n == 0 {
				return errSeen
			}
		}
		n, err := affected(s.st.exec(ctx, tx, qCompleteDeposit, entryID, providerRef, micros(now), t.ID))
		if err != nil {
			return okpay.Internal(err, "complete deposit")
		}
		if n != 1 {
			return errStale
		}
		return s.money.WriteNotices(ctx, tx, notice)
	}
	entry := depositEntry("dep:"+itoa(t.ID), ext, wal, feeAcct, t.Amount, t.Fee)
	res, err := s.ledger.Submit(ctx, ledger.Op{Entry: entry, Hook: hook}, nil)
	switch code := okpay.ErrorCode(err); {
	case err == nil && res.Existing:
		return s.recordEvent(ctx, ev, eventIgnored) // booked by an earlier answer or event
	case err == nil:
		s.id.WakeNotices()
		return nil
	case code == codeSeen:
		return nil
	case code == codeStale:
		if ev != nil && ev.Type == psp.EventChargeSucceeded {
			s.log.Warn("wallet: provider reports a charge succeeded for a deposit already settled", "txn", t.Ref(), "event", ev.ID)
		}
		return s.recordEvent(ctx, ev, eventIgnored)
	}
	return err
}

// failDeposit fails deposit t with the provider's reason, unless it is
// already final.
func (s *Service) failDeposit(ctx context.Context, t *Txn, ev *psp.Event, code, msg string) error {
	if code == "" {
		code = EDeclined
	}
	code = "provider_" + strings.TrimPrefix(code, "psp_")
	if msg == "" {
		msg = "The card payment was declined."
	}
	owner, err := s.id.LoadParty(ctx, t.UserID)
	if err != nil {
		return err
	}
	f := *t
	f.FailureCode, f.FailureReason = code, msg
	notice, err := s.id.PrepareNotice(owner, identity.MoneyNotice{Kind: NoticeDepositFailed, Event: t.Ref(), Channels: s.cfg.Channels[NoticeDepositFailed],
		Data: map[string]any{"Amount": t.Amount, "Reason": s.FailureText(&f, owner.Lang())}})
	if err != nil {
		return err
	}
	now := s.now()
	notified := false
	err = s.db.InTx(ctx, func(tx *sql.Tx) error {
		notified = false
		if ev != nil {
			n, err := affected(s.st.exec(ctx, tx, qInsertEvent, s.psp.Name(), ev.ID, ev.Type, ev.Reference, eventApplied, micros(now)))
			if err != nil || n == 0 {
				return err // a replay
			}
		}
		n, err := affected(tx.ExecContext(ctx, `UPDATE wallet_txns SET status = 'failed', failure_code = $1, failure_reason = $2, action_url = '', updated_at = $3
			WHERE id = $4 AND status IN `+openStatuses, code, clip(msg, 500), micros(now), t.ID))
		if err != nil {
			return err
		}
		if n == 0 {
			if ev != nil {
				_, err = tx.ExecContext(ctx, `UPDATE wallet_provider_events SET outcome = $1 WHERE provider = $2 AND event_id = $3`, eventIgnored, s.psp.Name(), ev.ID)
			}
			return err
		}
		notified = true
		return s.money.WriteNotices(ctx, tx, notice)
	})
	if err != nil {
		return okpay.Internal(err, "fail deposit")
	}
	if notified {
		s.id.WakeNotices()
	}
	return nil
}

// recordEvent remembers an event that changed nothing (nil: none).
func (s *Service) recordEvent(ctx context.Context, ev *psp.Event, outcome string) error {
	if ev == nil {
		return nil
	}
	if _, err := s.db.Write.ExecContext(ctx, qInsertEvent, s.psp.Name(), ev.ID, ev.Type, ev.Reference, outcome, micros(s.now())); err != nil {
		return okpay.Internal(err, "record event")
	}
	return nil
}

// ApplyProviderEvent applies a webhook event of the payment provider whose
// signature the caller has verified (psp.Verify). It is idempotent by
// event id and safe in any order: a status only moves forward, a final
// one never changes, and the amount credited is the deposit's own. Events
// for references that are not the wallet's, and types it does not handle,
// are ignored (nil: answer 2xx so the provider stops retrying). An error
// means the event could not be applied now: answer 5xx so it comes again.
func (s *Service) ApplyProviderEvent(ctx context.Context, ev psp.Event) error {
	if s.psp == nil {
		return okpay.Errorf(EDepositsUnavailable, "No payment provider is configured.")
	}
	if ev.ID == "" || len(ev.ID) > 128 || len(ev.Reference) > 256 || len(ev.Type) > 64 {
		return okpay.Invalid(map[string]string{"event": "The event has no valid id."})
	}
	id, ok := ParseTxnRef(ev.Reference)
	if !ok {
		return nil
	}
	var one int
	err := s.db.Read.QueryRowContext(ctx, `SELECT 1 FROM wallet_provider_events WHERE provider = $1 AND event_id = $2`, s.psp.Name(), ev.ID).Scan(&one)
	if err == nil {
		return nil // seen
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return okpay.Internal(err, "read events")
	}
	t, err := s.txnByID(ctx, id)
	if okpay.ErrorCode(err) == okpay.ENotFound {
		return s.recordEvent(ctx, &ev, eventIgnored)
	}
	if err != nil {
		return err
	}
	if t.Type != TypeDeposit {
		return nil // payouts: the withdrawals' step
	}
	if ev.Amount.Minor != 0 && ev.Amount != t.Amount {
		s.log.Warn("wallet: provider event amount differs from the deposit's; the deposit's is used", "txn", t.Ref(), "event", ev.ID)
	}
	switch ev.Type {
	case psp.EventChargeSucceeded:
		return s.applyCharge(ctx, t, &ev, psp.StatusSucceeded, ev.ObjectID, "", "", "")
	case psp.EventChargeFailed:
		return s.applyCharge(ctx, t, &ev, psp.StatusFailed, ev.ObjectID, "", ev.FailureCode, ev.FailureMessage)
	}
	if strings.HasPrefix(ev.Type, "charge.") {
		return s.applyCharge(ctx, t, &ev, ev.Status, ev.ObjectID, "", "", "")
	}
	return s.recordEvent(ctx, &ev, eventIgnored)
}

// clip cuts s to at most n bytes on a character boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }
