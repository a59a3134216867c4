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
	"github.com/okpay/okpay/notify"
)

// Currency exchange between a customer's own wallets, and (remit.go)
// cross-border remittance to another customer credited in another
// currency. Both execute a quote of package fx exactly as the customer
// saw it: QuoteExchange / QuoteRemittance price it (fx.Service.Quote) and
// add the fee of the schedule, Exchange / Remit book it as one ledger
// entry (fx_entries.go) whose hook takes the quote (fx.Service.Take) in
// the ledger's own transaction, so an expired or used quote refuses the
// whole operation and nothing else is written; a refused entry
// (insufficient funds) rolls the take back, leaving the quote usable.
//
// An exchange moves money between two wallets of one customer: it passes
// the money-out gate (a frozen account cannot exchange) but counts
// against no limit, as nothing leaves the customer. A remittance is a
// payment: the gate with RSK-02 holds for new payees, the velocity and
// money-out limits on what leaves (sold amount plus fee, in the sold
// currency), and a transaction code bound to amount, currency and payee
// for a new payee or from the step-up threshold (TXN-01), as for
// transfers.
//
// Fees are charged on top of the amount sold, in its currency, by the fee
// schedule's "exchange" and "remittance" operations (no payment method).
// The fee is quoted with the quote and charged as quoted: the schedule is
// fixed for the life of the process. A remittance waiting for its code
// stores the fee in its row.

// Fee operations of exchanges and remittances (asked of Fees with no
// payment method).
const (
	OpExchange   = "exchange"
	OpRemittance = "remittance"
)

// Notice kinds of exchanges and remittances (catalog
// "notify.<kind>.*", exchange.en.toml). Their channels can be set in
// Config.Channels; the defaults are in DefaultFXChannels.
const (
	NoticeExchangeCompleted  = "exchange_completed"
	NoticeRemittanceSent     = "remittance_sent"
	NoticeRemittanceReceived = "remittance_received"
)

// DefaultFXChannels: a remittance sent leaves the account and reaches
// every channel (NOT-01); an exchange (money stays with the customer) and
// a remittance received reach email and the in-app list. The notices of
// an exchange and of a remittance sent carry the freeze link (NOT-05).
func DefaultFXChannels() map[string][]string {
	all := []string{notify.ChannelEmail, notify.ChannelSMS, notify.ChannelInApp}
	quiet := []string{notify.ChannelEmail, notify.ChannelInApp}
	return map[string][]string{
		NoticeExchangeCompleted:  quiet,
		NoticeRemittanceSent:     all,
		NoticeRemittanceReceived: quiet,
	}
}

// Rates is what exchanges need of the rate service (*fx.Service).
type Rates interface {
	Quote(ctx context.Context, userID int64, from, to money.Currency, amount money.Amount, side fx.Side) (*fx.Quote, error)
	FindQuote(ctx context.Context, id, userID int64) (*fx.Quote, error)
	Take(ctx context.Context, tx *sql.Tx, quoteID, userID int64) (*fx.Quote, error)
	// TakeHeld takes a quote held by a remittance that waited for its
	// code, until the remittance's window ends (see remit.go).
	TakeHeld(ctx context.Context, tx *sql.Tx, quoteID, userID int64, until time.Time) (*fx.Quote, error)
}

// Exchanger runs the currency exchanges and remittances of a wallet
// Service. It is safe for concurrent use.
type Exchanger struct {
	s     *Service
	rates Rates
	// spread holds the fx:spread account of each configured currency
	// (read-only after NewExchanger).
	spread map[money.Currency]int64
}

// NewExchanger returns the exchange desk of s, pricing with rates, and
// creates the FX spread revenue account of every configured currency
// (idempotently; the fx:liquidity accounts are made by New).
func NewExchanger(ctx context.Context, s *Service, rates Rates) (*Exchanger, error) {
	if s == nil || rates == nil {
		return nil, errors.New("wallet: the exchanger needs the wallet service and the rates")
	}
	x := &Exchanger{s: s, rates: rates, spread: map[money.Currency]int64{}}
	for _, c := range s.cfg.Currencies {
		a, err := s.ledger.CreateAccount(ctx, ledger.AccountInput{Code: SysFXSpread + ":" + string(c), Owner: systemOwner, Currency: c, Kind: ledger.KindFees})
		if err != nil {
			return nil, err
		}
		x.spread[c] = a.ID
		if _, err := s.SystemAccount(ctx, SysFXLiquidity, c); err != nil {
			return nil, err
		}
	}
	return x, nil
}

// channels returns the channels of a notice kind of this file.
func (x *Exchanger) channels(kind string) []string {
	if ch, ok := x.s.cfg.Channels[kind]; ok {
		return ch
	}
	return DefaultFXChannels()[kind]
}

// ExchangeQuote is what a customer confirms before an exchange: the fx
// quote (Sell, Buy, Rate, MidRate, SpreadBP, Spread, ExpiresAt, Ref()...)
// and the fee on top of it. Total is what leaves the From wallet.
type ExchangeQuote struct {
	*fx.Quote
	Fee     money.Amount
	FeeRule string
	Total   money.Amount
}

// priceFee adds the fee of op to quote q.
func (x *Exchanger) priceFee(op string, q *fx.Quote) (fee money.Amount, rule string, total money.Amount, err error) {
	if fee, rule, err = x.s.quoteFee(op, "", q.Sell); err != nil {
		return
	}
	if total, err = q.Sell.Add(fee); err != nil {
		err = okpay.Errorf(ledger.EOverflow, "The amount is too large.")
	}
	return
}

func (x *Exchanger) checkPair(from, to money.Currency) error {
	if err := x.s.checkCurrency(from); err != nil {
		return err
	}
	return x.s.checkCurrency(to)
}

// QuoteExchange prices an exchange from→to for userID and stores the
// quote (package fx): with fx.SideSell amount (in from) is what the
// customer sells, with fx.SideBuy amount (in to) what they buy. The
// result holds everything the confirmation shows — amounts, rate, spread,
// fee, total and expiry; Exchange executes it.
//
// Errors: ECurrencyNotSupported, EInvalid, and fx's ERateStale,
// ERateUnavailable, EAmountTooSmall, EAmountOverflow.
func (x *Exchanger) QuoteExchange(ctx context.Context, userID int64, from, to money.Currency, amount money.Amount, side fx.Side) (*ExchangeQuote, error) {
	if err := x.checkPair(from, to); err != nil {
		return nil, err
	}
	q, err := x.rates.Quote(ctx, userID, from, to, amount, side)
	if err != nil {
		return nil, err
	}
	fee, rule, total, err := x.priceFee(OpExchange, q)
	if err != nil {
		return nil, err
	}
	return &ExchangeQuote{Quote: q, Fee: fee, FeeRule: rule, Total: total}, nil
}

// ExchangeInput asks to execute a quote of QuoteExchange.
type ExchangeInput struct {
	UserID  int64
	QuoteID int64
	// Key is the client's idempotency key (required).
	Key string
	// Idem, optional, stores an HTTP response with the ledger write.
	Idem *Idem
	Meta identity.Meta
}

// ExchangeResult is what Exchange returns.
type ExchangeResult struct {
	// Txn is the customer's exchange: completed, or failed (returned with
	// the error that failed it).
	Txn *Txn
	// Response is the stored response of an earlier request with the same
	// Idempotency-Key (Txn is nil then).
	Response *ledger.Response
	// Stored is true when the Idem's answer for Txn was stored with the
	// ledger entry that executed it: nothing is left to store.
	Stored bool
}

// Exchange executes the user's quote: one ledger entry sells Sell + Fee
// from the From wallet and credits Buy to the To wallet (opened if
// needed), with a completed transaction of type exchange (Amount: sold,
// Other: bought, Rate: the customer's exact rate, ProviderRef: the quote)
// and a notice, all in the ledger's transaction.
//
// A quote of another user is ENotFound; an expired or used one fails with
// fx.EQuoteExpired or fx.EQuoteUsed and records nothing (the key stays
// free). A refusal at execution (insufficient funds, a frozen account) is
// recorded as a failed exchange under the key and returned with its
// error; the quote stays unused. A retry with the same key returns the
// same transaction; the same key with another quote fails with
// EIdempotencyKeyReused.
func (x *Exchanger) Exchange(ctx context.Context, in ExchangeInput) (*ExchangeResult, error) {
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
	fee, rule, _, err := x.priceFee(OpExchange, q)
	if err != nil {
		return nil, err
	}
	owner, err := s.id.LoadParty(ctx, in.UserID)
	if err != nil {
		return nil, err
	}
	accts, err := x.accounts(ctx, q, in.UserID, in.UserID)
	if err != nil {
		return nil, err
	}
	now := s.now()
	out := &Txn{ID: s.ids.Next(), UserID: in.UserID, Type: TypeExchange, Status: StatusDraft, Amount: q.Sell, Fee: fee, FeeRule: rule,
		Other: q.Buy, Rate: q.Rate.Exact(), ProviderRef: q.Ref(), Key: in.Key, CreatedAt: now, UpdatedAt: now}
	same := func(t *Txn) bool { return t.Type == TypeExchange && t.ProviderRef == out.ProviderRef }
	done := *out
	done.Status = StatusCompleted
	notice, err := s.id.PrepareNotice(owner, identity.MoneyNotice{Kind: NoticeExchangeCompleted, Event: done.Ref(), Channels: x.channels(NoticeExchangeCompleted),
		FreezeLink: true, Meta: &in.Meta, Data: map[string]any{"Sold": q.Sell, "Bought": q.Buy, "Fee": fee, "Rate": q.Rate.Describe()}})
	if err != nil {
		return nil, err
	}
	var committed *Txn
	hook := func(ctx context.Context, tx *sql.Tx, entryID int64) error {
		committed = nil
		done.EntryID = entryID
		// The row first: a key already used ends the request here.
		n, err := affected(s.st.exec(ctx, tx, qInsertTxn, done.args()...))
		if err != nil {
			return okpay.Internal(err, "record exchange")
		}
		if n != 1 {
			return errDuplicate
		}
		if err := s.money.CheckMoneyOut(ctx, tx, in.UserID, false); err != nil {
			return err
		}
		if err := x.take(ctx, tx, q, time.Time{}); err != nil {
			return err
		}
		if err := s.money.WriteNotices(ctx, tx, notice); err != nil {
			return err
		}
		committed = &done
		return nil
	}
	entry, err := fxEntry(reference("fx", in.UserID, in.Key), EntryExchange, q, accts, fee)
	if err != nil {
		return nil, err
	}
	res, err := s.ledger.Submit(ctx, ledger.Op{Entry: entry, Hook: hook}, ledgerIdem(in.Idem, &committed))
	if err == nil {
		if res.Response != nil && res.Response.Replayed {
			return &ExchangeResult{Response: res.Response}, nil
		}
		if c := committed; c != nil && !res.Existing && res.Entry != nil && res.Entry.ID == c.EntryID {
			s.id.WakeNotices()
			return &ExchangeResult{Txn: c, Stored: res.Response != nil && res.Response.Stored}, nil
		}
		t, err := x.reload(ctx, in.UserID, in.Key, same)
		return &ExchangeResult{Txn: t}, err
	}
	switch code := okpay.ErrorCode(err); {
	case code == codeDuplicate || code == codeStale || code == ledger.EReferenceConflict:
		t, err := x.reload(ctx, in.UserID, in.Key, same)
		if t == nil {
			return nil, err
		}
		return &ExchangeResult{Txn: t}, err
	case refusal(code):
		t, err := x.recordFailure(ctx, out, err, same)
		if t == nil {
			return nil, err
		}
		return &ExchangeResult{Txn: t}, err
	}
	return nil, err
}

// accounts finds the ledger accounts of quote q paid by payer and
// credited to recipient's wallet, opening wallets as needed.
func (x *Exchanger) accounts(ctx context.Context, q *fx.Quote, payer, recipient int64) (fxAccounts, error) {
	s := x.s
	var a fxAccounts
	var err error
	if a.payer, err = s.walletAccount(ctx, payer, q.From); err != nil {
		return a, err
	}
	if a.credited, err = s.walletAccount(ctx, recipient, q.To); err != nil {
		return a, err
	}
	if a.liquidityFrom, err = s.SystemAccount(ctx, SysFXLiquidity, q.From); err != nil {
		return a, err
	}
	if a.liquidityTo, err = s.SystemAccount(ctx, SysFXLiquidity, q.To); err != nil {
		return a, err
	}
	if a.fees, err = s.SystemAccount(ctx, SysFeeRevenue, q.From); err != nil {
		return a, err
	}
	a.spread = x.spread[q.From]
	if a.spread == 0 {
		return a, okpay.Errorf(ECurrencyNotSupported, "OKPay wallets do not hold %s.", string(q.From))
	}
	return a, nil
}

// take marks quote q taken inside the ledger's transaction (a hook): an
// expired, used or foreign quote refuses the request. heldUntil, when not
// zero, is the end of the window of a remittance that held the quote
// while it waited for its code: until then the quote is taken even past
// its expiry (fx.Service.TakeHeld). The stored quote never changes, so it
// is the one the entry was built from.
func (x *Exchanger) take(ctx context.Context, tx *sql.Tx, q *fx.Quote, heldUntil time.Time) error {
	var t *fx.Quote
	var err error
	if heldUntil.IsZero() {
		t, err = x.rates.Take(ctx, tx, q.ID, q.UserID)
	} else {
		t, err = x.rates.TakeHeld(ctx, tx, q.ID, q.UserID, heldUntil)
	}
	if err != nil {
		return err
	}
	if t.Sell != q.Sell || t.Buy != q.Buy || t.SellAtMid != q.SellAtMid || t.Spread != q.Spread {
		return okpay.Internal(errors.New("quote "+q.Ref()+" changed after it was read"), "take quote")
	}
	return nil
}

// reload answers a request whose key turned out to name a stored
// transaction: that transaction when same says it is this operation (with
// its failure, if it failed), else EIdempotencyKeyReused.
func (x *Exchanger) reload(ctx context.Context, userID int64, key string, same func(*Txn) bool) (*Txn, error) {
	t, err := x.s.txnByKey(ctx, x.s.db.Read, userID, key)
	if err != nil {
		return nil, err
	}
	if t == nil {
		return nil, okpay.Errorf(okpay.EUnavailable, "The operation could not be completed; retry it with the same idempotency key.")
	}
	if !same(t) {
		return nil, okpay.Errorf(EIdempotencyKeyReused, "This idempotency key was already used for a different operation.")
	}
	if t.Status == StatusFailed {
		return t, failureError(t)
	}
	return t, nil
}

// recordFailure marks a refused operation failed in its owner's history
// (a new failed row for a draft, the authorized row updated) and returns
// it with the refusal.
func (x *Exchanger) recordFailure(ctx context.Context, out *Txn, cause error, same func(*Txn) bool) (*Txn, error) {
	s := x.s
	now := s.now()
	code, msg := okpay.ErrorCode(cause), okpay.ErrorMessage(cause)
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		if out.Status == StatusAuthorized {
			_, err := tx.ExecContext(ctx, `UPDATE wallet_txns SET status = 'failed', failure_code = $1, failure_reason = $2, updated_at = $3 WHERE id = $4 AND status = 'authorized'`,
				code, msg, micros(now), out.ID)
			return err
		}
		f := *out
		f.Status, f.FailureCode, f.FailureReason, f.UpdatedAt, f.EntryID, f.RelatedID = StatusFailed, code, msg, now, 0, 0
		_, err := s.insertTxn(ctx, tx, &f)
		return err
	})
	if err != nil {
		return nil, okpay.Internal(err, "record failed operation")
	}
	t, err := s.txnByKey(ctx, s.db.Read, out.UserID, out.Key)
	if err != nil {
		return nil, err
	}
	if t == nil {
		return nil, cause
	}
	if t.Status == StatusFailed && t.FailureCode == code && same(t) {
		return t, cause // the refusal itself, with its details (a LimitError's reset time)
	}
	return x.reload(ctx, out.UserID, out.Key, same)
}

// FXRate returns the exact customer rate of an exchange or remittance
// (sold currency → bought currency), false for other transactions.
func (t *Txn) FXRate() (fx.Rate, bool) {
	if t.Rate == "" || t.Other.Currency == "" || (t.Type != TypeExchange && t.Type != TypeRemittance) {
		return fx.Rate{}, false
	}
	from, to := t.Amount.Currency, t.Other.Currency
	if t.RemittanceIn() {
		from, to = to, from
	}
	r, err := fx.ParseExact(from, to, t.Rate)
	if err != nil {
		return fx.Rate{}, false
	}
	return r, true
}

// RemittanceIn reports whether t is the recipient's side of a remittance:
// Amount is what they received, Other what the sender sold. (It is the
// remittance row made on another customer's request, so it has no
// idempotency key; the sender's always has one.)
func (t *Txn) RemittanceIn() bool { return t.Type == TypeRemittance && t.Key == "" }

// Direction says how t moves its owner's money: "out" (sent, withdrawn,
// remitted), "in" (deposited, received, a remittance received) or
// "exchange" (between the owner's own wallets).
func (t *Txn) Direction() string {
	switch {
	case t.Type == TypeExchange:
		return "exchange"
	case t.RemittanceIn():
		return "in"
	case t.Type.Outgoing():
		return "out"
	}
	return "in"
}

// FXPosition is the house's position in one currency.
type FXPosition struct {
	Currency money.Currency
	// Liquidity is the balance of fx:liquidity:<currency> (credits −
	// debits): what customers sold the house in this currency less what
	// they bought. Below zero, the house owes more of it than it took in,
	// and treasury should fund it.
	Liquidity money.Amount
	// Spread is the FX spread revenue earned in this currency.
	Spread money.Amount
}

// Positions returns the house's FX position in every configured currency,
// in the configured order (for the admin page and reconciliation).
func (x *Exchanger) Positions(ctx context.Context) ([]FXPosition, error) {
	var out []FXPosition
	for _, c := range x.s.cfg.Currencies {
		liq, err := x.s.SystemAccount(ctx, SysFXLiquidity, c)
		if err != nil {
			return nil, err
		}
		la, err := x.s.ledger.FindAccountByID(ctx, liq)
		if err != nil {
			return nil, err
		}
		sa, err := x.s.ledger.FindAccountByID(ctx, x.spread[c])
		if err != nil {
			return nil, err
		}
		out = append(out, FXPosition{Currency: c, Liquidity: money.New(la.Balance.Posted(), c), Spread: money.New(sa.Balance.Posted(), c)})
	}
	return out, nil
}
