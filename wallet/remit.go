package wallet

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/fx"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/ledger"
	"github.com/okpay/okpay/money"
)

// Cross-border remittances: the sender sells one currency and another
// customer (named by email, phone, user id or wallet id, as for
// transfers) is credited in another, at the rate of a quote the sender
// saw with every fee (QuoteRemittance). One ledger entry books it
// (fx_entries.go) with the recipient's wallet as the credited one; each
// side gets a transaction of type remittance: the sender's (Amount sold,
// Other delivered, Fee, the idempotency key, ProviderRef the quote) and
// the recipient's (Amount received, Other sold, no key; see
// Txn.RemittanceIn), linked by RelatedID, and a notice.
//
// A remittance to a new payee, or selling at least the step-up threshold
// of its currency, waits for a transaction code bound to its id, the
// amount sold, its currency and the payee (TXN-01), like a transfer. It
// is recorded only while its quote is valid, and from then on the
// remittance holds the quote: the sender has Config.AuthWindow (its
// ExpiresAt) to type the code, however short the quote's own validity
// (fx's QuoteTTL, a minute by default, which is too short to receive and
// type an SMS code), and the rate the sender confirmed is the rate
// booked (fx.Service.TakeHeld, with holdGrace for the execution that
// follows a code typed at the last moment). The house carries the rate
// for that window, for that one remittance only: the quote cannot be
// taken past its own expiry by anything else.

// RemittanceQuoteInput asks what a remittance would cost and deliver.
type RemittanceQuoteInput struct {
	UserID int64
	// From is the currency sold by the sender, To the currency credited
	// to the recipient. With fx.SideSell Amount (in From) is what the
	// sender sells; with fx.SideBuy Amount (in To) is what the recipient
	// gets.
	From, To money.Currency
	Amount   money.Amount
	Side     fx.Side
	// PayeeKind and Payee name the recipient as in TransferInput.
	PayeeKind string
	Payee     string
}

// RemittanceQuote is what a sender confirms before a remittance: the fx
// quote (Sell, Buy, Rate, MidRate, SpreadBP, Spread, ExpiresAt, Ref()...),
// the fee on top and the total that leaves the From wallet, the recipient
// as they will be shown, and whether a code will be needed.
type RemittanceQuote struct {
	*fx.Quote
	Fee        money.Amount
	FeeRule    string
	Total      money.Amount
	PayeeID    int64
	Payee      string // masked
	NewPayee   bool
	NeedsAuth  bool
	AuthMethod string // when NeedsAuth: identity.MethodSMS or MethodTOTP
}

// RemitInput asks to execute a quote of QuoteRemittance.
type RemitInput struct {
	UserID  int64
	QuoteID int64
	// PayeeKind and Payee name the recipient (as quoted).
	PayeeKind string
	Payee     string
	Note      string
	// Key is the client's idempotency key (required).
	Key string
	// Idem, optional, stores an HTTP response with the ledger write.
	Idem *Idem
	Meta identity.Meta
}

// remitPlan is a remittance ready to execute.
type remitPlan struct {
	q            *fx.Quote
	payer, payee identity.Payee
	fee          money.Amount
	feeRule      string
	note         string
	newPayee     bool
	needsAuth    bool
}

// parties validates the request's payee and note and finds both parties.
func (x *Exchanger) parties(ctx context.Context, userID int64, payeeKind, payee, note string) (payer, to identity.Payee, cleanNote string, err error) {
	s := x.s
	fields := map[string]string{}
	cleanNote, nerr := CleanNote(note, s.cfg.MaxNoteRunes)
	if nerr != nil {
		fields["note"] = nerr.(*okpay.Error).Fields["note"]
	}
	kind, value, perr := ParsePayee(payeeKind, payee)
	if perr != nil {
		for k, v := range perr.(*okpay.Error).Fields {
			fields[k] = v
		}
	}
	if len(fields) > 0 {
		return payer, to, "", okpay.Invalid(fields)
	}
	if to, err = s.findPayee(ctx, kind, value); err != nil {
		return
	}
	if to.UserID == userID {
		err = okpay.Errorf(ESelfTransfer, "You cannot send money to yourself. To move money between your currencies, exchange it.")
		return
	}
	payer, err = s.id.LoadParty(ctx, userID)
	return
}

// plan prices quote q as a remittance from payer to payee.
func (x *Exchanger) plan(ctx context.Context, q *fx.Quote, payer, payee identity.Payee, note string) (*remitPlan, money.Amount, error) {
	fee, rule, total, err := x.priceFee(OpRemittance, q)
	if err != nil {
		return nil, money.Amount{}, err
	}
	known, err := x.s.knownPayee(ctx, payer.UserID, payee.UserID)
	if err != nil {
		return nil, money.Amount{}, err
	}
	return &remitPlan{q: q, payer: payer, payee: payee, fee: fee, feeRule: rule, note: note, newPayee: !known,
		needsAuth: !known || q.Sell.Minor >= x.s.cfg.StepUp[q.From]}, total, nil
}

// QuoteRemittance checks a remittance, prices it and stores the quote
// (package fx), without moving anything: the confirmation step shows the
// result, and Remit executes it.
//
// Errors: EInvalid, ECurrencyNotSupported, ESelfTransfer,
// identity.EPayeeNotFound, and fx's ERateStale, ERateUnavailable,
// EAmountTooSmall, EAmountOverflow.
func (x *Exchanger) QuoteRemittance(ctx context.Context, in RemittanceQuoteInput) (*RemittanceQuote, error) {
	if err := x.checkPair(in.From, in.To); err != nil {
		return nil, err
	}
	payer, payee, _, err := x.parties(ctx, in.UserID, in.PayeeKind, in.Payee, "")
	if err != nil {
		return nil, err
	}
	q, err := x.rates.Quote(ctx, in.UserID, in.From, in.To, in.Amount, in.Side)
	if err != nil {
		return nil, err
	}
	p, total, err := x.plan(ctx, q, payer, payee, "")
	if err != nil {
		return nil, err
	}
	rq := &RemittanceQuote{Quote: q, Fee: p.fee, FeeRule: p.feeRule, Total: total, PayeeID: payee.UserID, Payee: payee.MaskedName,
		NewPayee: p.newPayee, NeedsAuth: p.needsAuth}
	if p.needsAuth {
		rq.AuthMethod = payer.TxnAuthMethod()
	}
	return rq, nil
}

// Remit executes the sender's quote as a remittance to the payee. The
// result's transaction is completed, or awaiting_auth when a code is
// needed (then call ConfirmRemittance within Config.AuthWindow), or
// failed: a remittance refused at execution (balance, limits, freeze,
// hold) is recorded as failed in the sender's history and returned with
// the error that refused it, and its quote stays unused.
//
// A quote of another user is ENotFound; an expired or used one fails with
// fx.EQuoteExpired or fx.EQuoteUsed and records nothing. A retry with the
// same key returns the same transaction; the same key with another quote,
// payee or note fails with EIdempotencyKeyReused.
func (x *Exchanger) Remit(ctx context.Context, in RemitInput) (*TransferResult, error) {
	s := x.s
	if err := checkKey(in.Key); err != nil {
		return nil, err
	}
	q, err := x.rates.FindQuote(ctx, in.QuoteID, in.UserID)
	if err != nil {
		return nil, err
	}
	if err := x.checkPair(q.From, q.To); err != nil {
		return nil, err
	}
	payer, payee, note, err := x.parties(ctx, in.UserID, in.PayeeKind, in.Payee, in.Note)
	if err != nil {
		return nil, err
	}
	p, _, err := x.plan(ctx, q, payer, payee, note)
	if err != nil {
		return nil, err
	}
	now := s.now()
	out := &Txn{ID: s.ids.Next(), UserID: in.UserID, Type: TypeRemittance, Status: StatusDraft, Amount: q.Sell, Fee: p.fee, FeeRule: p.feeRule,
		Other: q.Buy, Rate: q.Rate.Exact(), CounterpartyID: payee.UserID, Counterparty: payee.MaskedName, Note: note, Key: in.Key,
		NewPayee: p.newPayee, ProviderRef: q.Ref(), CreatedAt: now, UpdatedAt: now}
	if p.needsAuth {
		return x.awaitAuth(ctx, p, out, in.Meta)
	}
	return x.execute(ctx, p, out, in.Idem, in.Meta)
}

// sameRemittance reports whether t is the remittance out describes (a
// retry).
func sameRemittance(out *Txn) func(t *Txn) bool {
	return func(t *Txn) bool {
		return t.Type == TypeRemittance && !t.RemittanceIn() && t.ProviderRef == out.ProviderRef &&
			t.CounterpartyID == out.CounterpartyID && t.Note == out.Note
	}
}

// holdGrace extends the hold of a remittance's quote past the end of its
// window, for the execution of a remittance authorized at the last moment
// (the code is checked before the window ends; booking follows).
const holdGrace = time.Minute

// quoteUsable refuses a quote already taken or expired, before a code is
// sent for it (execution checks again).
func (x *Exchanger) quoteUsable(q *fx.Quote, now int64) error {
	switch {
	case !q.TakenAt.IsZero():
		return okpay.Errorf(fx.EQuoteUsed, "This quote was used already. Ask for a new one.")
	case q.ExpiresAt.UnixMicro() <= now:
		return okpay.Errorf(fx.EQuoteExpired, "This quote has expired. Ask for a new one to see the current rate.")
	}
	return nil
}

// awaitAuth records a remittance that waits for its code and sends the
// code (SMS) in the same transaction.
func (x *Exchanger) awaitAuth(ctx context.Context, p *remitPlan, out *Txn, m identity.Meta) (*TransferResult, error) {
	s := x.s
	out.Status = StatusAwaitingAuth
	out.AuthMethod = p.payer.TxnAuthMethod()
	// The window does not depend on the quote's validity: the remittance
	// holds its quote (see the top of this file).
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
		// A new remittance: its quote must still be good.
		if err := x.quoteUsable(p.q, micros(out.CreatedAt)); err != nil {
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
		return x.answer(existing, sameRemittance(out))
	}
	s.id.WakeNotices()
	return &TransferResult{Txn: out, Destination: dest}, nil
}

// answer returns stored transaction t to a retry.
func (x *Exchanger) answer(t *Txn, same func(*Txn) bool) (*TransferResult, error) {
	if !same(t) {
		return nil, okpay.Errorf(EIdempotencyKeyReused, "This idempotency key was already used for a different operation.")
	}
	if t.Status == StatusFailed {
		return &TransferResult{Txn: t}, failureError(t)
	}
	return &TransferResult{Txn: t}, nil
}

// execute books the remittance out (a draft, or an authorized
// remittance) in one ledger entry whose hook writes both rows, takes the
// quote and runs the final gate and the limits.
func (x *Exchanger) execute(ctx context.Context, p *remitPlan, out *Txn, idem *Idem, m identity.Meta) (*TransferResult, error) {
	s := x.s
	q := p.q
	if out.Amount != q.Sell || out.Other != q.Buy || out.Fee.Currency != q.From {
		return nil, okpay.Internal(errors.New("remittance "+out.Ref()+" does not match its quote "+q.Ref()), "execute remittance")
	}
	accts, err := x.accounts(ctx, q, out.UserID, out.CounterpartyID)
	if err != nil {
		return nil, err
	}
	fromAuthorized := out.Status == StatusAuthorized
	if err := checkTransition(out.Status, StatusCompleted); err != nil {
		return nil, err
	}
	// An authorized remittance waited for its code holding its quote.
	var held time.Time
	if fromAuthorized && !out.ExpiresAt.IsZero() {
		held = out.ExpiresAt.Add(holdGrace)
	}
	now := s.now()
	in := &Txn{ID: s.ids.Next(), UserID: out.CounterpartyID, Type: TypeRemittance, Status: StatusCompleted, Amount: q.Buy, Fee: money.New(0, q.To),
		Other: q.Sell, Rate: out.Rate, CounterpartyID: out.UserID, Counterparty: p.payer.MaskedName, RelatedID: out.ID, Note: out.Note,
		CreatedAt: now, UpdatedAt: now}
	done := *out
	done.Status, done.RelatedID, done.UpdatedAt = StatusCompleted, in.ID, now
	same := sameRemittance(out)
	sent, err := s.id.PrepareNotice(p.payer, identity.MoneyNotice{Kind: NoticeRemittanceSent, Event: done.Ref(), Channels: x.channels(NoticeRemittanceSent),
		FreezeLink: true, Meta: &m, Data: map[string]any{"Amount": done.Amount, "Fee": done.Fee, "Delivered": q.Buy, "Rate": q.Rate.Describe(),
			"Counterparty": done.Counterparty}})
	if err != nil {
		return nil, err
	}
	received, err := s.id.PrepareNotice(p.payee, identity.MoneyNotice{Kind: NoticeRemittanceReceived, Event: in.Ref(), Channels: x.channels(NoticeRemittanceReceived),
		Data: map[string]any{"Amount": in.Amount, "Sent": q.Sell, "Counterparty": in.Counterparty}})
	if err != nil {
		return nil, err
	}
	seen, err := s.deviceSeen(ctx, done.UserID, m) // RSK-01 (risk.go)
	if err != nil {
		return nil, err
	}
	mv := move{userID: done.UserID, amount: done.Total(), transfers: 1, newPayees: boolInt(done.NewPayee), deviceSeen: seen}
	var committed *Txn
	hook := func(ctx context.Context, htx *ledger.Tx, entryID int64) error {
		committed = nil
		tx := htx.SQL()
		done.EntryID, in.EntryID = entryID, entryID
		// The rows first: a key already used, or a remittance that moved
		// on meanwhile, ends the request here.
		if fromAuthorized {
			n, err := affected(s.st.exec(ctx, tx, qCompleteOut, entryID, in.ID, micros(now), done.ID))
			if err != nil {
				return okpay.Internal(err, "complete remittance")
			}
			if n != 1 {
				return errStale
			}
			if _, err := s.insertTxn(ctx, tx, in); err != nil {
				return err
			}
		} else {
			n, err := affected(s.st.exec(ctx, tx, qInsertTxnPair, append(done.args(), in.args()...)...))
			if err != nil {
				return okpay.Internal(err, "record remittance")
			}
			if n != 2 {
				return errDuplicate
			}
		}
		if err := s.money.CheckMoneyOut(ctx, tx, done.UserID, done.NewPayee); err != nil {
			return err
		}
		if err := x.take(ctx, tx, q, held); err != nil {
			return err
		}
		if err := s.chargeLimitsTx(ctx, htx, mv, now); err != nil {
			return err
		}
		if done.NewPayee {
			// new_payee_burst (RSK-04, risk.go) may freeze the account
			// with this payment.
			if err := s.newPayeeRisk(ctx, tx, done.UserID, done.CounterpartyID, now, m); err != nil {
				return err
			}
		}
		if err := s.money.WriteNotices(ctx, tx, sent, received); err != nil {
			return err
		}
		committed = &done
		return nil
	}
	entry, err := fxEntry(reference("remit", out.UserID, out.Key), EntryRemittance, q, accts, out.Fee)
	if err != nil {
		return nil, err
	}
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
		return x.reloadResult(ctx, out, same)
	}
	code := okpay.ErrorCode(err)
	switch {
	case code == codeDuplicate || code == codeStale || code == ledger.EReferenceConflict:
		return x.reloadResult(ctx, out, same)
	case refusal(code) || fromAuthorized && quoteRefusal(code):
		t, err := x.recordFailure(ctx, out, err, same)
		if t == nil {
			return nil, err
		}
		return &TransferResult{Txn: t}, err
	}
	return nil, err
}

// quoteRefusal reports whether code is a quote that could not be taken:
// a remittance authorized with it then fails (it cannot wait for a
// quote that will never come back).
func quoteRefusal(code string) bool {
	return code == fx.EQuoteExpired || code == fx.EQuoteUsed || code == okpay.ENotFound
}

func (x *Exchanger) reloadResult(ctx context.Context, out *Txn, same func(*Txn) bool) (*TransferResult, error) {
	t, err := x.reload(ctx, out.UserID, out.Key, same)
	if t == nil {
		return nil, err
	}
	return &TransferResult{Txn: t}, err
}

// ConfirmRemittance checks the code of a remittance awaiting it and
// executes the remittance at its quote's rate, even when the quote itself
// expired meanwhile (the remittance held it). A wrong code is
// identity.EInvalidCode and counts an attempt; a code of another amount
// or payee never matches (TXN-01); a remittance left unconfirmed past its
// ExpiresAt (Config.AuthWindow after it was made) fails with
// EAuthExpired. Confirming a completed remittance again returns it.
func (x *Exchanger) ConfirmRemittance(ctx context.Context, in ConfirmInput) (*TransferResult, error) {
	s := x.s
	t, err := s.FindTransaction(ctx, in.UserID, in.TxnID)
	if err != nil {
		return nil, err
	}
	if t.Type != TypeRemittance || t.RemittanceIn() {
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
	quoteID, ok := fx.ParseQuoteRef(t.ProviderRef)
	if !ok {
		return nil, okpay.Internal(errors.New("remittance "+t.Ref()+" names no quote"), "confirm remittance")
	}
	q, err := x.rates.FindQuote(ctx, quoteID, t.UserID)
	if err != nil {
		return nil, err
	}
	payer, err := s.id.LoadParty(ctx, t.UserID)
	if err != nil {
		return nil, err
	}
	payee, err := s.id.LoadParty(ctx, t.CounterpartyID)
	if err != nil {
		return nil, err
	}
	p := &remitPlan{q: q, payer: payer, payee: payee, fee: t.Fee, feeRule: t.FeeRule, note: t.Note, newPayee: t.NewPayee, needsAuth: true}
	return x.execute(ctx, p, t, in.Idem, in.Meta)
}

// ResendRemittanceCode sends a new SMS code for a remittance awaiting one
// (the earlier code dies); identity limits how many and how often. It
// returns the masked number.
func (x *Exchanger) ResendRemittanceCode(ctx context.Context, userID, txnID int64, m identity.Meta) (string, error) {
	s := x.s
	t, err := s.FindTransaction(ctx, userID, txnID)
	if err != nil {
		return "", err
	}
	if t.Type != TypeRemittance || t.RemittanceIn() || t.Status != StatusAwaitingAuth || t.AuthMethod != identity.MethodSMS {
		return "", okpay.Errorf(okpay.EConflict, "This payment is not waiting for an SMS code.")
	}
	return s.resendTxnCode(ctx, userID, t, txnAuth(t), m, nounPayment)
}

// Sweep fails the remittances whose authorization window passed
// unconfirmed and returns how many. Run it now and then, beside
// Service.Sweep (a confirmation after the window fails anyway).
func (x *Exchanger) Sweep(ctx context.Context) (int64, error) {
	now := x.s.now()
	n, err := affected(x.s.db.Write.ExecContext(ctx, `UPDATE wallet_txns SET status = 'failed', failure_code = $1, failure_reason = $2, updated_at = $3
		WHERE status = 'awaiting_auth' AND type = 'remittance' AND expires_at > 0 AND expires_at <= $3`, EAuthExpired, "The payment was not confirmed in time.", micros(now)))
	if err != nil {
		return 0, okpay.Internal(err, "sweep remittances")
	}
	return n, nil
}
