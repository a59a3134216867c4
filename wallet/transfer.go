package wallet

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/ledger"
	"github.com/okpay/okpay/money"
)

// P2P transfers. A transfer below the step-up threshold to a payee paid
// before executes at once: one ledger entry whose hook runs the final
// gate, charges the limits, writes both customers' rows and queues both
// notices. Any other transfer is recorded awaiting_auth with a code sent
// (SMS) or asked for (TOTP, MFA-11) and executes when ConfirmTransfer gets
// the code, bound to the transfer's id, amount, currency and payee
// (TXN-01): another amount or payee is another transfer, with its own key.

// TransferInput asks to send money to another customer.
type TransferInput struct {
	UserID int64
	Amount money.Amount
	// PayeeKind is PayeeEmail, PayeePhone, PayeeUserID or PayeeWalletID,
	// or "" to tell from Payee.
	PayeeKind string
	Payee     string
	Note      string
	// Key is the client's idempotency key (required).
	Key string
	// Idem, optional, stores an HTTP response with the ledger write.
	Idem *Idem
	Meta identity.Meta
	// Payer, optional, is the paying user as the caller's session check
	// read it (its ID must be UserID): the transfer takes the payer's
	// contacts and language from it instead of reading the row again.
	Payer *identity.User
}

// Idem attaches an HTTP Idempotency-Key record to the ledger write that
// executes a transfer: the response is stored in the same transaction
// (ledger.Idem). Render receives the transaction as committed, or the
// refusal; it may also receive (nil, nil) for a request that turned out
// to repeat an earlier transfer (its row is read after the commit), and
// must then store nothing.
type Idem struct {
	Principal   string
	Key         string
	RequestHash []byte
	Render      func(t *Txn, err error) (status int, body []byte, store bool)
}

// TransferQuote is what a customer confirms before money moves: the
// payee as they will be shown, the fee and the total, and whether a code
// will be needed.
type TransferQuote struct {
	PayeeID    int64
	Payee      string // masked
	Amount     money.Amount
	Fee        money.Amount
	Total      money.Amount
	FeeRule    string
	NewPayee   bool
	NeedsAuth  bool
	AuthMethod string // when NeedsAuth: identity.MethodSMS or MethodTOTP
}

// TransferResult is what Transfer and ConfirmTransfer return.
type TransferResult struct {
	// Txn is the payer's transaction: completed, awaiting_auth (see
	// AuthMethod), or failed (returned with the error that failed it).
	Txn *Txn
	// Destination is the masked phone number a code went to.
	Destination string
	// Response is the stored response of an earlier request with the same
	// Idempotency-Key (Txn is nil then).
	Response *ledger.Response
	// Stored is true when the Idem's answer for Txn was stored with the
	// ledger entry that executed it: nothing is left to store.
	Stored bool
}

// internal outcomes of a hook that make the service read the stored
// transaction instead: never shown to anyone.
const (
	codeDuplicate = "wallet_duplicate_key" // the key names an earlier transaction
	codeStale     = "wallet_stale"         // the transaction moved on meanwhile
)

var (
	errDuplicate = okpay.Errorf(codeDuplicate, "the idempotency key names an earlier transaction")
	errStale     = okpay.Errorf(codeStale, "the transaction changed meanwhile")
)

// Maximum wrong codes for one transfer: five per code, codes per transfer
// for SMS (identity kills each code after five); five for TOTP.
const maxTOTPAttempts = 5

// transferPlan is a transfer ready to execute.
type transferPlan struct {
	payer, payee identity.Payee
	amount, fee  money.Amount
	feeRule      string
	note         string
	newPayee     bool
	needsAuth    bool
}

// QuoteTransfer checks a transfer and says what it will cost and need,
// without moving anything (the confirmation step).
func (s *Service) QuoteTransfer(ctx context.Context, in TransferInput) (*TransferQuote, error) {
	p, err := s.planTransfer(ctx, in)
	if err != nil {
		return nil, err
	}
	if err := s.precheckTransfer(ctx, in.UserID, p); err != nil {
		return nil, err
	}
	q := &TransferQuote{PayeeID: p.payee.UserID, Payee: p.payee.MaskedName, Amount: p.amount, Fee: p.fee,
		Total: money.New(p.amount.Minor+p.fee.Minor, p.amount.Currency), FeeRule: p.feeRule, NewPayee: p.newPayee, NeedsAuth: p.needsAuth}
	if p.needsAuth {
		q.AuthMethod = p.payer.TxnAuthMethod()
	}
	return q, nil
}

// planTransfer validates in and finds everything the transfer needs.
func (s *Service) planTransfer(ctx context.Context, in TransferInput) (*transferPlan, error) {
	fields := map[string]string{}
	if in.Amount.Minor <= 0 {
		fields["amount"] = "Enter an amount greater than zero."
	}
	note, err := CleanNote(in.Note, s.cfg.MaxNoteRunes)
	if err != nil {
		fields["note"] = err.(*okpay.Error).Fields["note"]
	}
	kind, value, err := ParsePayee(in.PayeeKind, in.Payee)
	if err != nil {
		for k, v := range err.(*okpay.Error).Fields {
			fields[k] = v
		}
	}
	if len(fields) > 0 {
		return nil, okpay.Invalid(fields)
	}
	if err := s.checkCurrency(in.Amount.Currency); err != nil {
		return nil, err
	}
	payee, err := s.findPayee(ctx, kind, value)
	if err != nil {
		return nil, err
	}
	if payee.UserID == in.UserID {
		return nil, okpay.Errorf(ESelfTransfer, "You cannot send money to yourself. To move money between your currencies, exchange it.")
	}
	payer, err := s.loadPayer(ctx, in)
	if err != nil {
		return nil, err
	}
	fee, rule, err := s.quoteFee(OpTransfer, MethodWallet, in.Amount)
	if err != nil {
		return nil, err
	}
	known, err := s.knownPayee(ctx, in.UserID, payee.UserID)
	if err != nil {
		return nil, err
	}
	return &transferPlan{payer: payer, payee: payee, amount: in.Amount, fee: fee, feeRule: rule, note: note,
		newPayee: !known, needsAuth: !known || in.Amount.Minor >= s.cfg.StepUp[in.Amount.Currency]}, nil
}

// loadPayer returns the paying party: from in.Payer when the caller gave
// the user its session check read, else from the database.
func (s *Service) loadPayer(ctx context.Context, in TransferInput) (identity.Payee, error) {
	if in.Payer == nil {
		return s.money.LoadParty(ctx, in.UserID)
	}
	if in.Payer.ID != in.UserID {
		return identity.Payee{}, okpay.Errorf(okpay.EInternal, "wallet: transfer payer %d given for user %d", in.Payer.ID, in.UserID)
	}
	return identity.PartyOf(in.Payer), nil
}

// findPayee resolves a parsed payee; a wallet id names its owner.
func (s *Service) findPayee(ctx context.Context, kind, value string) (identity.Payee, error) {
	if kind == PayeeWalletID {
		userID, _, err := s.ResolveWallet(ctx, value)
		if okpay.ErrorCode(err) == okpay.ENotFound {
			return identity.Payee{}, okpay.Errorf(identity.EPayeeNotFound, "No OKPay wallet has that id.")
		}
		if err != nil {
			return identity.Payee{}, err
		}
		kind, value = PayeeUserID, ids.Format(identity.UserPrefix, userID)
	}
	return s.money.FindPayee(ctx, kind, value)
}

// knownPayee reports whether userID has paid payee before (cached once
// true: it never becomes false).
func (s *Service) knownPayee(ctx context.Context, userID, payee int64) (bool, error) {
	if s.isKnown(userID, payee) {
		return true, nil
	}
	var one int
	err := s.db.Read.QueryRowContext(ctx, `SELECT 1 FROM wallet_payees WHERE user_id = $1 AND payee_id = $2`, userID, payee).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, okpay.Internal(err, "read payees")
	}
	s.markKnown(userID, payee)
	return true, nil
}

// isKnown reports whether the cache knows that userID has paid payee.
func (s *Service) isKnown(userID, payee int64) bool {
	s.mu.RLock()
	_, ok := s.known[[2]int64{userID, payee}]
	s.mu.RUnlock()
	return ok
}

// markKnown caches that userID has paid payee. Every completed transfer
// calls it, nearly always for a pair already known: a look under the read
// lock spares those the write lock, which held up every reader of the
// caches (a write lock waiting blocks new readers; okpay bench p2p's mutex
// profile showed 62% of all lock waiting here).
func (s *Service) markKnown(userID, payee int64) {
	if s.isKnown(userID, payee) {
		return
	}
	k := [2]int64{userID, payee}
	s.mu.Lock()
	if len(s.known) > maxCache {
		clear(s.known)
	}
	s.known[k] = struct{}{}
	s.mu.Unlock()
}

// Transfer sends money to another customer. The result's transaction is
// completed, or awaiting_auth when a code is needed (then call
// ConfirmTransfer), or failed: a transfer refused at execution (balance,
// limits, freeze, hold) is recorded as failed in the payer's history and
// returned with the error that refused it. A retry with the same key
// returns the same transaction; the same key with other details fails
// with EIdempotencyKeyReused.
func (s *Service) Transfer(ctx context.Context, in TransferInput) (*TransferResult, error) {
	if err := checkKey(in.Key); err != nil {
		return nil, err
	}
	p, err := s.planTransfer(ctx, in)
	if err != nil {
		return nil, err
	}
	now := s.now()
	out := &Txn{ID: s.ids.Next(), UserID: in.UserID, Type: TypeTransferOut, Status: StatusDraft, Amount: p.amount, Fee: p.fee, FeeRule: p.feeRule,
		CounterpartyID: p.payee.UserID, Counterparty: p.payee.MaskedName, Note: p.note, Key: in.Key, NewPayee: p.newPayee,
		CreatedAt: now, UpdatedAt: now}
	if p.needsAuth {
		// No code for a transfer that cannot go through: it is refused
		// now, as at execution (recorded failed; a retry replays).
		if err := s.precheckTransfer(ctx, in.UserID, p); err != nil {
			if !refusal(okpay.ErrorCode(err)) {
				return nil, err
			}
			if t, terr := s.txnByKey(ctx, s.db.Read, in.UserID, in.Key); terr != nil || t != nil {
				if terr != nil {
					return nil, terr
				}
				return s.retried(t, p)
			}
			return s.recordFailure(ctx, out, p, err)
		}
		return s.awaitAuth(ctx, p, out, in.Meta)
	}
	return s.execute(ctx, p, out, in.Idem, in.Meta)
}

// precheckTransfer refuses, before a quote is shown or a code sent, a
// transfer that cannot go through: no wallet in its currency, less
// available than the amount and its fee, or over a limit the payer has
// already used up. It only reads; the transfer's own transaction checks
// all of it again (with concurrent payments and a new device's cap).
func (s *Service) precheckTransfer(ctx context.Context, userID int64, p *transferPlan) error {
	total, err := p.amount.Add(p.fee)
	if err != nil {
		return okpay.Errorf(ledger.EOverflow, "The amount is too large.")
	}
	w, err := s.FindWallet(ctx, userID, p.amount.Currency)
	if okpay.ErrorCode(err) == okpay.ENotFound {
		return okpay.Errorf(EInsufficientFunds, "You have no %s wallet: add money in %s first, or send from a currency you hold.", p.amount.Currency, p.amount.Currency)
	}
	if err != nil {
		return err
	}
	if w.Available.Minor < total.Minor {
		return okpay.Errorf(EInsufficientFunds, "Your %s wallet has %s available; this transfer takes %s with its fee.",
			p.amount.Currency, w.Available.Format("en"), total.Format("en"))
	}
	st, err := s.Limits(ctx, userID)
	if err != nil {
		return err
	}
	w8 := s.windows(s.now())
	v := s.cfg.Velocity
	switch {
	case st.TransfersThisHour+1 > v.TransfersPerHour:
		return &LimitError{Limit: LimitTransfersPerHour, Max: int64(v.TransfersPerHour), Used: int64(st.TransfersThisHour), ResetsAt: w8.hourEnd}
	case st.TransfersToday+1 > v.TransfersPerDay:
		return &LimitError{Limit: LimitTransfersPerDay, Max: int64(v.TransfersPerDay), Used: int64(st.TransfersToday), ResetsAt: w8.dayEnd}
	case p.newPayee && st.NewPayeesToday+1 > v.NewPayeesPerDay:
		return &LimitError{Limit: LimitNewPayeesPerDay, Max: int64(v.NewPayeesPerDay), Used: int64(st.NewPayeesToday), ResetsAt: w8.dayEnd}
	}
	for _, a := range st.Amounts {
		if a.Currency != p.amount.Currency {
			continue
		}
		if a.UsedToday.Minor+p.amount.Minor > a.Daily.Minor {
			return &LimitError{Limit: LimitDailyAmount, Max: a.Daily.Minor, Currency: a.Currency, Used: a.UsedToday.Minor, ResetsAt: a.DayResets}
		}
		if a.UsedThisMonth.Minor+p.amount.Minor > a.Monthly.Minor {
			return &LimitError{Limit: LimitMonthlyAmount, Max: a.Monthly.Minor, Currency: a.Currency, Used: a.UsedThisMonth.Minor, ResetsAt: a.MonthResets}
		}
	}
	return nil
}

// txnAuth is what a transfer's code is bound to.
func txnAuth(t *Txn) identity.TxnAuth {
	return identity.TxnAuth{TxnID: t.ID, Amount: t.Amount, PayeeID: t.CounterpartyID, PayeeLabel: t.Counterparty}
}

// awaitAuth records a transfer that waits for its code and sends the code
// (SMS) in the same transaction.
func (s *Service) awaitAuth(ctx context.Context, p *transferPlan, out *Txn, m identity.Meta) (*TransferResult, error) {
	out.Status = StatusAwaitingAuth
	out.AuthMethod = p.payer.TxnAuthMethod()
	out.ExpiresAt = out.CreatedAt.Add(s.cfg.AuthWindow)
	if out.AuthMethod == identity.MethodSMS {
		out.CodesSent = 1
	}
	var dest string
	var existing *Txn
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		dest, existing = "", nil
		wrote, err := s.insertTxn(ctx, tx, out)
		if err != nil {
			return err
		}
		if !wrote {
			existing, err = s.txnByKey(ctx, tx, out.UserID, out.Key)
			return err
		}
		if out.AuthMethod == identity.MethodSMS {
			dest, err = s.id.SendTxnCode(ctx, tx, out.UserID, txnAuth(out), m)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if existing != nil {
		return s.retried(existing, p)
	}
	s.id.WakeNotices()
	return &TransferResult{Txn: out, Destination: dest}, nil
}

// sameTransfer reports whether t is the transfer p describes (a retry).
func sameTransfer(t *Txn, p *transferPlan) bool {
	return t.Type == TypeTransferOut && t.Amount == p.amount && t.CounterpartyID == p.payee.UserID && t.Note == p.note
}

// retried answers a request whose key names transaction t.
func (s *Service) retried(t *Txn, p *transferPlan) (*TransferResult, error) {
	if p != nil && !sameTransfer(t, p) {
		return nil, okpay.Errorf(EIdempotencyKeyReused, "This idempotency key was already used for a different payment.")
	}
	if t.Status == StatusFailed {
		return &TransferResult{Txn: t}, failureError(t)
	}
	return &TransferResult{Txn: t}, nil
}

// failureError is the error a failed transaction failed with.
func failureError(t *Txn) error {
	return &okpay.Error{Code: t.FailureCode, Message: t.FailureReason}
}

// refusal reports whether code is a business refusal of a movement (the
// transaction is recorded as failed), as opposed to a fault to retry.
func refusal(code string) bool {
	switch code {
	case ledger.EInsufficientFunds, ledger.EOverflow, ELimitExceeded, identity.EAccountFrozen, identity.EContactUnverified, identity.EHoldActive:
		return true
	}
	return false
}

// execute books the transfer out (a draft, or an authorized transfer) in
// one ledger entry whose hook does the final gate and writes the rows.
func (s *Service) execute(ctx context.Context, p *transferPlan, out *Txn, idem *Idem, m identity.Meta) (*TransferResult, error) {
	cur := out.Amount.Currency
	payerAcct, err := s.walletAccount(ctx, out.UserID, cur)
	if err != nil {
		return nil, err
	}
	payeeAcct, err := s.walletAccount(ctx, out.CounterpartyID, cur)
	if err != nil {
		return nil, err
	}
	feeAcct, err := s.SystemAccount(ctx, SysFeeRevenue, cur)
	if err != nil {
		return nil, err
	}
	fromAuthorized := out.Status == StatusAuthorized
	if err := checkTransition(out.Status, StatusCompleted); err != nil {
		return nil, err
	}
	now := s.now()
	in := &Txn{ID: s.ids.Next(), UserID: out.CounterpartyID, Type: TypeTransferIn, Status: StatusCompleted, Amount: out.Amount,
		Fee: money.New(0, cur), CounterpartyID: out.UserID, Counterparty: p.payer.MaskedName, RelatedID: out.ID, Note: out.Note,
		CreatedAt: now, UpdatedAt: now}
	done := *out
	done.Status, done.RelatedID, done.UpdatedAt = StatusCompleted, in.ID, now
	event := done.Ref()
	sent, err := s.id.PrepareNotice(p.payer, identity.MoneyNotice{Kind: NoticeTransferSent, Event: event, Channels: s.cfg.Channels[NoticeTransferSent],
		FreezeLink: true, Meta: &m, Data: map[string]any{"Amount": done.Amount, "Fee": done.Fee, "Counterparty": done.Counterparty}})
	if err != nil {
		return nil, err
	}
	received, err := s.id.PrepareNotice(p.payee, identity.MoneyNotice{Kind: NoticeTransferReceived, Event: in.Ref(), Channels: s.cfg.Channels[NoticeTransferReceived],
		Data: map[string]any{"Amount": in.Amount, "Counterparty": in.Counterparty}})
	if err != nil {
		return nil, err
	}
	seen, err := s.deviceSeen(ctx, done.UserID, m) // RSK-01 (risk.go): cached, no query per payment
	if err != nil {
		return nil, err
	}
	mv := move{userID: done.UserID, amount: done.Total(), transfers: 1, newPayees: boolInt(done.NewPayee), deviceSeen: seen}
	var committed *Txn
	// The hook checks and counts through the batch's transaction, and
	// defers its rows (both transactions, the notices; a new payee is
	// written at once) to the batch's multi-row inserts.
	hook := func(ctx context.Context, htx *ledger.Tx, entryID int64) error {
		committed = nil
		// Reads need no savepoint (ledger.Tx.Read); the limits are
		// counted in the batch (limits_batch.go); only the writes that
		// cannot wait open the savepoint (htx.SQL).
		if err := s.money.CheckMoneyOut(ctx, htx.Read(), done.UserID, done.NewPayee); err != nil {
			return err
		}
		if err := s.chargeLimitsTx(ctx, htx, mv, now); err != nil {
			return err
		}
		done.EntryID, in.EntryID = entryID, entryID
		if fromAuthorized {
			n, err := affected(s.st.exec(ctx, htx.SQL(), qCompleteOut, entryID, in.ID, micros(now), done.ID))
			if err != nil {
				return okpay.Internal(err, "complete transfer")
			}
			if n != 1 {
				return errStale
			}
			stageTxn(htx, in)
		} else {
			// A key already used breaks the unique index when the rows
			// are written, and the ledger runs the batch again carefully:
			// then the key is looked up.
			if htx.Careful() {
				taken, err := s.keyTaken(ctx, htx.Read(), done.UserID, done.Key)
				if err != nil {
					return err
				}
				if taken {
					return errDuplicate
				}
			}
			stageTxn(htx, &done)
			stageTxn(htx, in)
		}
		if done.NewPayee {
			// Written at once, not deferred: new_payee_burst (RSK-04,
			// risk.go) counts it, and may freeze the account with this
			// payment.
			if err := s.newPayeeRisk(ctx, htx.SQL(), done.UserID, done.CounterpartyID, now, m); err != nil {
				return err
			}
		}
		s.money.StageNotices(htx, sent, received)
		committed = &done
		return nil
	}
	// The entry's reference is the transaction's id, as a deposit's: ids
	// grow with time, so the batch's references land side by side in the
	// reference index instead of one random leaf each (a reference made of
	// the customer's random key cost the commit a page per transfer). A
	// retry is recognised before the ledger: by its stored transaction
	// (wallet_txns is unique on user and key, for good) or its stored
	// answer (the Idempotency-Key record).
	entry := transferEntry("p2p:"+itoa(out.ID), payerAcct, payeeAcct, feeAcct, out.Amount, out.Fee)
	res, err := s.ledger.Submit(ctx, ledger.Op{Entry: entry, TxHook: hook}, ledgerIdem(idem, &committed))
	if err == nil {
		if res.Response != nil && res.Response.Replayed {
			return &TransferResult{Response: res.Response}, nil
		}
		if c := committed; c != nil && !res.Existing && res.Entry != nil && res.Entry.ID == c.EntryID {
			s.markKnown(c.UserID, c.CounterpartyID)
			s.id.WakeNotices()
			return &TransferResult{Txn: c, Stored: res.Response != nil && res.Response.Stored}, nil
		}
		return s.reload(ctx, out, p)
	}
	switch code := okpay.ErrorCode(err); {
	case code == codeDuplicate || code == codeStale || code == ledger.EReferenceConflict:
		return s.reload(ctx, out, p)
	case refusal(code):
		return s.recordFailure(ctx, out, p, err)
	}
	return nil, err
}

// ledgerIdem adapts an Idem to the ledger's.
func ledgerIdem(in *Idem, committed **Txn) *ledger.Idem {
	if in == nil {
		return nil
	}
	return &ledger.Idem{Principal: in.Principal, Key: in.Key, RequestHash: in.RequestHash,
		Render: func(e *ledger.Entry, err error) (int, []byte, bool) {
			if err != nil {
				switch okpay.ErrorCode(err) {
				case codeDuplicate, codeStale, ledger.EReferenceConflict:
					return 0, nil, false
				}
				return in.Render(nil, err)
			}
			t := *committed
			if t == nil || e == nil || t.EntryID != e.ID {
				return in.Render(nil, nil)
			}
			return in.Render(t, nil)
		}}
}

// reload answers a transfer whose key turned out to name a stored
// transaction.
func (s *Service) reload(ctx context.Context, out *Txn, p *transferPlan) (*TransferResult, error) {
	t, err := s.txnByKey(ctx, s.db.Read, out.UserID, out.Key)
	if err != nil {
		return nil, err
	}
	if t == nil {
		return nil, okpay.Errorf(okpay.EUnavailable, "The payment could not be completed; retry it with the same idempotency key.")
	}
	return s.retried(t, p)
}

// recordFailure marks a refused transfer failed in the payer's history and
// returns it with the refusal.
func (s *Service) recordFailure(ctx context.Context, out *Txn, p *transferPlan, cause error) (*TransferResult, error) {
	now := s.now()
	code, msg := okpay.ErrorCode(cause), okpay.ErrorMessage(cause)
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		if out.Status == StatusAuthorized {
			_, err := tx.ExecContext(ctx, `UPDATE wallet_txns SET status = 'failed', failure_code = $1, failure_reason = $2, updated_at = $3 WHERE id = $4 AND status = 'authorized'`,
				code, msg, micros(now), out.ID)
			return err
		}
		f := *out
		f.Status, f.FailureCode, f.FailureReason, f.UpdatedAt = StatusFailed, code, msg, now
		_, err := s.insertTxn(ctx, tx, &f)
		return err
	})
	if err != nil {
		return nil, okpay.Internal(err, "record failed transfer")
	}
	t, err := s.txnByKey(ctx, s.db.Read, out.UserID, out.Key)
	if err != nil {
		return nil, err
	}
	if t == nil {
		return nil, cause
	}
	if t.Status == StatusFailed && t.FailureCode == code {
		return &TransferResult{Txn: t}, cause // the refusal itself, with its details (a LimitError's reset time)
	}
	return s.retried(t, p)
}

// ConfirmInput confirms a transfer waiting for its code.
type ConfirmInput struct {
	UserID int64
	TxnID  int64
	// Code is the SMS code or the authenticator's code, as the
	// transaction's AuthMethod says (the server's policy, MFA-11).
	Code string
	Idem *Idem
	Meta identity.Meta
}

// ConfirmTransfer checks the code of a transfer awaiting it and executes
// the transfer. A wrong code is EInvalidCode (identity) and counts an
// attempt; a code of another amount or payee never matches (TXN-01); a
// transfer left unconfirmed past Config.AuthWindow fails with
// EAuthExpired. Confirming a completed transfer again returns it.
func (s *Service) ConfirmTransfer(ctx context.Context, in ConfirmInput) (*TransferResult, error) {
	t, err := s.FindTransaction(ctx, in.UserID, in.TxnID)
	if err != nil {
		return nil, err
	}
	if t.Type != TypeTransferOut {
		return nil, errTxnNotFound()
	}
	switch t.Status {
	case StatusCompleted:
		return &TransferResult{Txn: t}, nil
	case StatusFailed:
		return &TransferResult{Txn: t}, failureError(t)
	case StatusAwaitingAuth:
		if err := s.authorize(ctx, t, in.Code); err != nil {
			return nil, err
		}
		t.Status = StatusAuthorized
	case StatusAuthorized:
		// Authorized earlier; its execution did not finish: execute again
		// (the ledger reference makes it happen once).
	default:
		return nil, okpay.Errorf(okpay.EConflict, "This payment cannot be confirmed now.")
	}
	payer, err := s.money.LoadParty(ctx, t.UserID)
	if err != nil {
		return nil, err
	}
	payee, err := s.money.LoadParty(ctx, t.CounterpartyID)
	if err != nil {
		return nil, err
	}
	p := &transferPlan{payer: payer, payee: payee, amount: t.Amount, fee: t.Fee, feeRule: t.FeeRule, note: t.Note, newPayee: t.NewPayee, needsAuth: true}
	return s.execute(ctx, p, t, in.Idem, in.Meta)
}

// authorize checks the code of t (awaiting_auth) and marks it authorized,
// committing a wrong attempt too.
func (s *Service) authorize(ctx context.Context, t *Txn, code string) error {
	return s.authorizeTxn(ctx, t, txnAuth(t), code, nounPayment)
}

// expire fails an awaiting_auth transaction whose time ran out.
func (s *Service) expire(ctx context.Context, id int64, now time.Time) {
	if _, err := s.db.Write.ExecContext(ctx, `UPDATE wallet_txns SET status = 'failed', failure_code = $1, failure_reason = $2, updated_at = $3 WHERE id = $4 AND status = 'awaiting_auth'`,
		EAuthExpired, "The payment was not confirmed in time.", micros(now), id); err != nil {
		s.log.Warn("wallet: expire transaction failed", "txn", ids.Format(TxnPrefix, id), "err", err)
	}
}

// ResendTransferCode sends a new SMS code for a transfer awaiting one (the
// earlier code dies); identity limits how many and how often. It returns
// the masked number.
func (s *Service) ResendTransferCode(ctx context.Context, userID, txnID int64, m identity.Meta) (string, error) {
	t, err := s.FindTransaction(ctx, userID, txnID)
	if err != nil {
		return "", err
	}
	if t.Type != TypeTransferOut || t.Status != StatusAwaitingAuth || t.AuthMethod != identity.MethodSMS {
		return "", okpay.Errorf(okpay.EConflict, "This payment is not waiting for an SMS code.")
	}
	return s.resendTxnCode(ctx, userID, t, txnAuth(t), m, nounPayment)
}

// Sweep fails the transfers whose authorization window passed unconfirmed
// and returns how many. Run it now and then (a confirmation after the
// window fails anyway). Deposits waiting for 3-D Secure are left to the
// provider, which alone knows whether the card was charged.
func (s *Service) Sweep(ctx context.Context) (int64, error) {
	now := s.now()
	n, err := affected(s.db.Write.ExecContext(ctx, `UPDATE wallet_txns SET status = 'failed', failure_code = $1, failure_reason = $2, updated_at = $3
		WHERE status = 'awaiting_auth' AND type = 'transfer_out' AND expires_at > 0 AND expires_at <= $3`, EAuthExpired, "The payment was not confirmed in time.", micros(now)))
	if err != nil {
		return 0, okpay.Internal(err, "sweep")
	}
	return n, nil
}

// qInsertPayee remembers a payee paid.
const qInsertPayee = `INSERT INTO wallet_payees (user_id, payee_id, first_paid_at) VALUES ($1, $2, $3) ON CONFLICT (user_id, payee_id) DO NOTHING`

// The deferred insert of a transfer's hook (ledger.Tx.Insert): a
// transaction row. (A payee paid for the first time is written at once:
// new_payee_burst counts it, risk.go.)
const txnInto = `wallet_txns (` + txnCols + `)`

// txnShortCols are the columns a completed transfer's two rows fill; the
// other columns of txnCols keep their defaults (NULL, the empty string or 0).
const txnShortCols = `id, user_id, type, status, currency, amount, fee, counterparty_id, counterparty, related_id, note, idem_key,
	entry_id, new_payee, created_at, updated_at`

const txnShortInto = `wallet_txns (` + txnShortCols + `)`

// txnShort maps txnShortCols to their places in txnCols; txnRest lists
// the places of the other columns.
var txnShort, txnRest = splitColumns(txnCols, txnShortCols)

// columnNames splits a column list ("a, b, c") into its names.
func columnNames(list string) []string {
	f := strings.Split(list, ",")
	for i := range f {
		f[i] = strings.TrimSpace(f[i])
	}
	return f
}

// splitColumns returns the places in all of the columns named in some,
// and the places of the others. It panics when some names a column that
// all lacks (a programming error, caught by any test that loads wallet).
func splitColumns(all, some string) (in, out []int) {
	cols := columnNames(all)
	for _, n := range columnNames(some) {
		i := slices.Index(cols, n)
		if i < 0 {
			panic("wallet: column " + n + " is not in txnCols")
		}
		in = append(in, i)
	}
	for i := range cols {
		if !slices.Contains(in, i) {
			out = append(out, i)
		}
	}
	return in, out
}

// stageTxn defers t's row to the batch's multi-row insert. When every
// column outside txnShortCols holds its default — as in a completed
// transfer's rows — it names only txnShortCols: fewer values for SQLite
// to bind and check (a row of all 30 cost the writer ~17.5 µs).
func stageTxn(htx *ledger.Tx, t *Txn) {
	args := t.args()
	for _, i := range txnRest {
		if !isDefault(args[i]) {
			htx.Insert(txnInto, "", args...)
			return
		}
	}
	short := make([]any, len(txnShort))
	for j, i := range txnShort {
		short[j] = args[i]
	}
	htx.Insert(txnShortInto, "", short...)
}

// isDefault reports whether v is a column default of wallet_txns: NULL,
// the empty string or zero.
func isDefault(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case string:
		return v == ""
	case int64:
		return v == 0
	case int:
		return v == 0
	}
	return false
}

// qKeyTaken finds a transaction of a user by its idempotency key.
const qKeyTaken = `SELECT COUNT(*) FROM wallet_txns WHERE user_id = $1 AND idem_key = $2`

// keyTaken reports whether userID has a transaction with key.
func (s *Service) keyTaken(ctx context.Context, tx *sql.Tx, userID int64, key string) (bool, error) {
	var n int
	if err := s.st.queryRow(ctx, tx, qKeyTaken, userID, key).Scan(&n); err != nil {
		return false, okpay.Internal(err, "look up idempotency key")
	}
	return n > 0, nil
}
