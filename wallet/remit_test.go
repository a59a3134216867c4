package wallet_test

import (
	"strings"
	"testing"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/fx"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/ledger"
	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
	"github.com/okpay/okpay/wallet"
)

// quoteRemit asks for a remittance quote that must succeed.
func (h *fxHarness) quoteRemit(u, to *user, from, cur money.Currency, a money.Amount, side fx.Side) *wallet.RemittanceQuote {
	h.t.Helper()
	q, err := h.x.QuoteRemittance(h.ctx, wallet.RemittanceQuoteInput{UserID: u.id, From: from, To: cur, Amount: a, Side: side, Payee: to.email})
	if err != nil {
		h.t.Fatalf("remittance quote: %v", err)
	}
	return q
}

func (h *fxHarness) remit(u, to *user, quoteID int64, key string) (*wallet.TransferResult, error) {
	return h.x.Remit(h.ctx, wallet.RemitInput{UserID: u.id, QuoteID: quoteID, Payee: to.email, Key: key, Meta: h.meta})
}

func (h *fxHarness) confirmRemit(u *user, txnID int64, code string) (*wallet.TransferResult, error) {
	return h.x.ConfirmRemittance(h.ctx, wallet.ConfirmInput{UserID: u.id, TxnID: txnID, Code: code, Meta: h.meta})
}

// TestRemittance: a first remittance to a new payee waits for a code
// that states the amount and payee (TXN-01), then books one entry: the
// sender pays in USD with the fee shown, the recipient is credited in
// JPY, both get a row and a notice. A second one to the now known payee
// below the threshold executes at once.
func TestRemittance(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newFXHarness(t, db, fxConfig(), fx.Config{QuoteTTL: 5 * time.Minute})
		alice, bob := h.signUp(), h.signUp()
		h.fund(alice, usd(1000_00))

		// $100.00 → ¥14,978 as in TestExchangeExactAmounts; fee 0.5% =
		// $0.50, raised to the USD minimum of $1.00.
		q := h.quoteRemit(alice, bob, "USD", "JPY", usd(100_00), fx.SideSell)
		if q.Sell != usd(100_00) || q.Buy != amt(14978, "JPY") || q.Fee != usd(1_00) || q.Total != usd(101_00) || q.FeeRule != "remittance/USD/any" ||
			q.PayeeID != bob.id || !q.NewPayee || !q.NeedsAuth || q.AuthMethod != identity.MethodSMS || !strings.Contains(q.Payee, "•") {
			t.Fatalf("quote: %+v", q)
		}
		res, err := h.remit(alice, bob, q.ID, h.key())
		if err != nil {
			t.Fatal(err)
		}
		out := res.Txn
		if out.Status != wallet.StatusAwaitingAuth || out.Type != wallet.TypeRemittance || !out.NewPayee || res.Destination == "" ||
			!out.ExpiresAt.Equal(out.CreatedAt.Add(h.w.Config().AuthWindow)) || out.Amount != usd(100_00) || out.Other != amt(14978, "JPY") || out.Fee != usd(1_00) {
			t.Fatalf("awaiting: %+v", out)
		}
		sms := h.messages(alice.phone, "code_txn")
		if len(sms) != 1 || !strings.Contains(sms[0].Body, "$100.00") || !strings.Contains(sms[0].Body, out.Counterparty) {
			t.Fatalf("the SMS must state amount and payee: %+v", sms)
		}
		if got := h.balance(alice, "USD").Available; got != usd(1000_00) {
			t.Fatalf("money moved before the code: %s", got)
		}
		if got, _ := h.rates.FindQuote(h.ctx, q.ID, alice.id); !got.TakenAt.IsZero() {
			t.Fatal("the quote was taken before the code")
		}
		done, err := h.confirmRemit(alice, out.ID, h.lastCode(alice.phone, "code_txn"))
		if err != nil || done.Txn.Status != wallet.StatusCompleted || done.Txn.EntryID == 0 || done.Txn.RelatedID == 0 {
			t.Fatalf("confirm: %+v %v", done, err)
		}
		if got := h.balance(alice, "USD").Available; got != usd(1000_00-101_00) {
			t.Fatalf("alice USD: %s", got)
		}
		if got := h.balance(bob, "JPY").Available; got != amt(14978, "JPY") {
			t.Fatalf("bob JPY: %s", got)
		}
		if got := h.balance(bob, "USD"); got.Posted.Minor != 0 {
			t.Fatalf("bob USD: %+v", got)
		}
		// Bob's row: what he received, linked to Alice's.
		in, err := h.w.FindTransaction(h.ctx, bob.id, done.Txn.RelatedID)
		if err != nil {
			t.Fatal(err)
		}
		if in.Type != wallet.TypeRemittance || !in.RemittanceIn() || in.Direction() != "in" || in.Status != wallet.StatusCompleted ||
			in.Amount != amt(14978, "JPY") || in.Other != usd(100_00) || in.Fee.Minor != 0 || in.RelatedID != out.ID ||
			in.CounterpartyID != alice.id || in.EntryID != done.Txn.EntryID || in.Key != "" {
			t.Fatalf("bob's row: %+v", in)
		}
		if r, ok := in.FXRate(); !ok || r.Base != "USD" || r.Quote != "JPY" || r.Cmp(q.Rate) != 0 {
			t.Fatalf("bob's rate: %v %v", r, ok)
		}
		if done.Txn.RemittanceIn() || done.Txn.Direction() != "out" {
			t.Fatalf("alice's row reads as incoming: %+v", done.Txn)
		}
		// The CSV export says the same: in for Bob, out for Alice.
		for _, c := range []struct {
			u    *user
			want string
		}{{bob, ",remittance,in,completed,14978,0,JPY,100.00,USD,"}, {alice, ",remittance,out,completed,100.00,1.00,USD,14978,JPY,"}} {
			var buf strings.Builder
			if err := h.w.ExportCSV(h.ctx, &buf, c.u.id, wallet.Filter{Type: wallet.TypeRemittance}, "en"); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(buf.String(), c.want) {
				t.Fatalf("CSV of %d: %s, want a line with %s", c.u.id, buf.String(), c.want)
			}
		}
		if _, err := h.w.FindTransaction(h.ctx, alice.id, in.ID); okpay.ErrorCode(err) != okpay.ENotFound {
			t.Fatalf("alice can read bob's row: %v", err)
		}
		if _, err := h.confirmRemit(bob, in.ID, "000000"); okpay.ErrorCode(err) != okpay.ENotFound {
			t.Fatalf("the recipient's row can be confirmed: %v", err)
		}
		// One entry, through the liquidity accounts, with spread and fee.
		e, err := h.ledger.FindEntryByID(h.ctx, done.Txn.EntryID)
		if err != nil {
			t.Fatal(err)
		}
		bobJPY, _ := h.w.FindWallet(h.ctx, bob.id, "JPY")
		liqJPY := h.system(wallet.SysFXLiquidity, "JPY")
		var credited bool
		for _, p := range e.Entry.Postings {
			if p.Debit == liqJPY.ID && p.Credit == bobJPY.ID && p.Amount == 14978 {
				credited = true
			}
		}
		if e.Entry.Type != wallet.EntryRemittance || len(e.Entry.Postings) != 4 || !credited {
			t.Fatalf("entry: %+v", e.Entry)
		}
		// Notices: Alice everywhere with the freeze link, Bob by email.
		a, b := h.outboxKinds(alice.id), h.outboxKinds(bob.id)
		if a["remittance_sent/sms"] != 1 || a["remittance_sent/email"] != 1 || a["remittance_sent/inapp"] != 1 || b["remittance_received/email"] != 1 || b["remittance_received/inapp"] != 1 {
			t.Fatalf("notices: %v / %v", a, b)
		}
		sent := h.messages(alice.phone, wallet.NoticeRemittanceSent)
		if len(sent) != 1 || !strings.Contains(sent[0].Body, "$100.00") || !strings.Contains(sent[0].Body, "https://okpay.test/freeze/") {
			t.Fatalf("sender's SMS: %+v", sent)
		}
		got := h.messages(bob.email, wallet.NoticeRemittanceReceived)
		if len(got) != 1 || !strings.Contains(got[0].Body, "14,978") || strings.Contains(got[0].Body, "/freeze/") {
			t.Fatalf("recipient's email: %+v", got)
		}
		// Limits count what left, in USD.
		lim, err := h.w.Limits(h.ctx, alice.id)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range lim.Amounts {
			if l.Currency == "USD" && l.UsedToday != usd(101_00) {
				t.Fatalf("limits: %+v", l)
			}
		}
		if lim.TransfersToday != 1 || lim.NewPayeesToday != 1 {
			t.Fatalf("velocity: %+v", lim)
		}

		// Known payee, below the threshold: at once. Buy side: Bob gets
		// exactly ¥1,000; the fee is in the currency Alice sells (0.5% of
		// $6.68, raised to the $1.00 minimum).
		q = h.quoteRemit(alice, bob, "USD", "JPY", amt(1000, "JPY"), fx.SideBuy)
		if q.NewPayee || q.NeedsAuth || q.Buy != amt(1000, "JPY") || q.Sell != usd(6_68) || q.Fee != usd(1_00) {
			t.Fatalf("second quote: %+v", q)
		}
		res, err = h.remit(alice, bob, q.ID, h.key())
		if err != nil || res.Txn.Status != wallet.StatusCompleted {
			t.Fatalf("second: %+v %v", res, err)
		}
		if got := h.balance(bob, "JPY").Available; got != amt(15978, "JPY") {
			t.Fatalf("bob JPY: %s", got)
		}
		// At the threshold ($300.00 sold) a known payee needs a code again.
		q = h.quoteRemit(alice, bob, "USD", "JPY", usd(300_00), fx.SideSell)
		if !q.NeedsAuth || q.NewPayee {
			t.Fatalf("at the threshold: %+v", q)
		}
		h.verify()
	})
}

// TestTXN01_RemittanceCodeBoundAndQuoteWindow: the code of one
// remittance does not confirm another (other amount); a remittance holds
// its quote for its own window (Config.AuthWindow), so it is confirmed at
// the quoted rate after the quote's own minute or three ran out; it
// cannot be confirmed after its window, and fails; the sweeper fails the
// ones left waiting.
func TestTXN01_RemittanceCodeBoundAndQuoteWindow(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newFXHarness(t, db, fxConfig(), fx.Config{QuoteTTL: 3 * time.Minute})
		alice, bob := h.signUp(), h.signUp()
		h.fund(alice, usd(1000_00))

		qa := h.quoteRemit(alice, bob, "USD", "EUR", usd(10_00), fx.SideSell)
		a, err := h.remit(alice, bob, qa.ID, h.key())
		if err != nil {
			t.Fatal(err)
		}
		codeA := h.lastCode(alice.phone, "code_txn")
		qb := h.quoteRemit(alice, bob, "USD", "EUR", usd(10_01), fx.SideSell)
		b, err := h.remit(alice, bob, qb.ID, h.key())
		if err != nil {
			t.Fatal(err)
		}
		codeB := h.lastCode(alice.phone, "code_txn")
		if codeA != codeB {
			_, err = h.confirmRemit(alice, b.Txn.ID, codeA)
			wantCode(t, err, identity.EInvalidCode)
		}
		// H, to carol, is confirmed after its quote expired but within
		// its window: booked at the quoted rate.
		carol := h.signUp()
		qh := h.quoteRemit(alice, carol, "USD", "EUR", usd(12_00), fx.SideSell)
		hr, err := h.remit(alice, carol, qh.ID, h.key())
		if err != nil || hr.Txn.Status != wallet.StatusAwaitingAuth || !hr.Txn.ExpiresAt.Equal(hr.Txn.CreatedAt.Add(h.w.Config().AuthWindow)) ||
			!hr.Txn.ExpiresAt.After(qh.ExpiresAt) {
			t.Fatalf("remit to carol: %+v %v", hr, err)
		}
		codeH := h.lastCode(alice.phone, "code_txn")
		h.clock.Advance(4 * time.Minute) // the quotes' 3 minutes are over
		if _, err := h.exchange(alice, qa.ID, h.key()); okpay.ErrorCode(err) != fx.EQuoteExpired {
			t.Fatalf("a held quote used by an exchange after its expiry: %v", err)
		}
		doneH, err := h.confirmRemit(alice, hr.Txn.ID, codeH)
		if err != nil || doneH.Txn.Status != wallet.StatusCompleted || doneH.Txn.Other != qh.Buy {
			t.Fatalf("confirm within the window: %+v %v", doneH, err)
		}
		if got := h.balance(carol, "EUR").Available; got != qh.Buy {
			t.Fatalf("carol EUR: %s, want %s", got, qh.Buy)
		}
		// A waits past its window: the code is refused as too late.
		h.clock.Advance(h.w.Config().AuthWindow - 4*time.Minute)
		_, err = h.confirmRemit(alice, a.Txn.ID, codeA)
		wantCode(t, err, wallet.EAuthExpired)
		got, _ := h.w.FindTransaction(h.ctx, alice.id, a.Txn.ID)
		if got.Status != wallet.StatusFailed || got.FailureCode != wallet.EAuthExpired {
			t.Fatalf("late remittance: %+v", got)
		}
		// B is swept.
		n, err := h.x.Sweep(h.ctx)
		if err != nil || n != 1 {
			t.Fatalf("sweep: %d %v", n, err)
		}
		got, _ = h.w.FindTransaction(h.ctx, alice.id, b.Txn.ID)
		if got.Status != wallet.StatusFailed {
			t.Fatalf("swept remittance: %+v", got)
		}
		if got := h.balance(alice, "USD").Available; got != usd(1000_00-qh.Total.Minor) {
			t.Fatalf("money moved: %s", got)
		}
		if q, _ := h.rates.FindQuote(h.ctx, qa.ID, alice.id); !q.TakenAt.IsZero() {
			t.Fatal("the quote of a failed remittance was taken")
		}

		// Resend: a new code confirms; the quote is taken then.
		qc := h.quoteRemit(alice, bob, "USD", "EUR", usd(20_00), fx.SideSell)
		c, err := h.remit(alice, bob, qc.ID, h.key())
		if err != nil {
			t.Fatal(err)
		}
		old := h.lastCode(alice.phone, "code_txn")
		h.clock.Advance(61 * time.Second)
		if dest, err := h.x.ResendRemittanceCode(h.ctx, alice.id, c.Txn.ID, h.meta); err != nil || dest == "" {
			t.Fatalf("resend: %q %v", dest, err)
		}
		fresh := h.lastCode(alice.phone, "code_txn")
		if fresh != old {
			_, err = h.confirmRemit(alice, c.Txn.ID, old)
			wantCode(t, err, identity.EInvalidCode)
		}
		done, err := h.confirmRemit(alice, c.Txn.ID, fresh)
		if err != nil || done.Txn.Status != wallet.StatusCompleted {
			t.Fatalf("confirm after resend: %+v %v", done, err)
		}
		again, err := h.confirmRemit(alice, c.Txn.ID, fresh)
		if err != nil || again.Txn.EntryID != done.Txn.EntryID {
			t.Fatalf("second confirm: %+v %v", again, err)
		}
		if got := h.balance(bob, "EUR").Available; got != qc.Buy {
			t.Fatalf("bob EUR: %s, want %s", got, qc.Buy)
		}

		// A quote used meanwhile (by an exchange of the same customer):
		// the authorized remittance fails instead of waiting for ever.
		h.clock.Advance(61 * time.Second)
		qd := h.quoteRemit(alice, bob, "USD", "EUR", usd(300_00), fx.SideSell) // at the threshold: a code
		d, err := h.remit(alice, bob, qd.ID, h.key())
		if err != nil || d.Txn.Status != wallet.StatusAwaitingAuth {
			t.Fatalf("remit: %+v %v", d, err)
		}
		if _, err := h.exchange(alice, qd.ID, h.key()); err != nil {
			t.Fatal(err)
		}
		_, err = h.confirmRemit(alice, d.Txn.ID, h.lastCode(alice.phone, "code_txn"))
		wantCode(t, err, fx.EQuoteUsed)
		got, _ = h.w.FindTransaction(h.ctx, alice.id, d.Txn.ID)
		if got.Status != wallet.StatusFailed || got.FailureCode != fx.EQuoteUsed || h.w.FailureText(got, "zh-CN") == got.FailureReason {
			t.Fatalf("remittance with a used quote: %+v", got)
		}
		if got := h.balance(bob, "EUR").Available; got != qc.Buy {
			t.Fatalf("bob EUR: %s, want %s", got, qc.Buy)
		}
		h.verify()
	})
}

// TestRemittanceRefusals: requests refused before anything is recorded,
// refusals at execution recorded as failed with the quote left unused,
// and the idempotency key.
func TestRemittanceRefusals(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newFXHarness(t, db, fxConfig(), fx.Config{})
		alice, bob, carol := h.signUp(), h.signUp(), h.signUp()
		h.fund(alice, usd(50_00))
		// Bob is a known payee of Alice.
		q := h.quoteRemit(alice, bob, "USD", "CNY", usd(1_00), fx.SideSell)
		r, err := h.remit(alice, bob, q.ID, h.key())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.confirmRemit(alice, r.Txn.ID, h.lastCode(alice.phone, "code_txn")); err != nil {
			t.Fatal(err)
		}
		balance := usd(50_00 - 2_00)

		for _, c := range []struct {
			name string
			in   wallet.RemittanceQuoteInput
			code string
		}{
			{"self", wallet.RemittanceQuoteInput{From: "USD", To: "CNY", Amount: usd(1_00), Side: fx.SideSell, Payee: alice.email}, wallet.ESelfTransfer},
			{"unknown payee", wallet.RemittanceQuoteInput{From: "USD", To: "CNY", Amount: usd(1_00), Side: fx.SideSell, Payee: "nobody@example.com"}, identity.EPayeeNotFound},
			{"bad payee", wallet.RemittanceQuoteInput{From: "USD", To: "CNY", Amount: usd(1_00), Side: fx.SideSell, Payee: "bob"}, okpay.EInvalid},
			{"currency", wallet.RemittanceQuoteInput{From: "USD", To: "CHF", Amount: usd(1_00), Side: fx.SideSell, Payee: bob.email}, wallet.ECurrencyNotSupported},
		} {
			t.Run(c.name, func(t *testing.T) {
				in := c.in
				in.UserID = alice.id
				_, err := h.x.QuoteRemittance(h.ctx, in)
				wantCode(t, err, c.code)
			})
		}
		q = h.quoteRemit(alice, bob, "USD", "CNY", usd(5_00), fx.SideSell)
		_, err = h.x.Remit(h.ctx, wallet.RemitInput{UserID: alice.id, QuoteID: q.ID, Payee: bob.email, Note: "rent\u202e", Key: h.key()})
		wantCode(t, err, okpay.EInvalid)
		_, err = h.x.Remit(h.ctx, wallet.RemitInput{UserID: carol.id, QuoteID: q.ID, Payee: bob.email, Key: h.key()})
		wantCode(t, err, okpay.ENotFound) // Alice's quote

		// Insufficient funds: recorded, the quote stays unused.
		big := h.quoteRemit(alice, bob, "USD", "CNY", usd(49_00), fx.SideSell)
		key := h.key()
		res, err := h.remit(alice, bob, big.ID, key)
		wantCode(t, err, ledger.EInsufficientFunds)
		if res == nil || res.Txn.Status != wallet.StatusFailed || res.Txn.Type != wallet.TypeRemittance {
			t.Fatalf("refused: %+v", res)
		}
		if got, _ := h.rates.FindQuote(h.ctx, big.ID, alice.id); !got.TakenAt.IsZero() {
			t.Fatal("a refused remittance used the quote")
		}
		if p, _ := h.w.FindTransactions(h.ctx, bob.id, wallet.Filter{Type: wallet.TypeRemittance}); len(p.Txns) != 1 {
			t.Fatalf("the recipient sees a refused remittance: %d rows", len(p.Txns))
		}
		h.fund(alice, usd(10_00))
		balance = usd(balance.Minor + 10_00)
		again, err := h.remit(alice, bob, big.ID, key)
		wantCode(t, err, ledger.EInsufficientFunds)
		if again.Txn.ID != res.Txn.ID {
			t.Fatal("a retry of a failed remittance made a new one")
		}

		// Idempotent retry, and the key bound to quote and payee.
		key = h.key()
		first, err := h.remit(alice, bob, q.ID, key)
		if err != nil || first.Txn.Status != wallet.StatusCompleted {
			t.Fatalf("remit: %+v %v", first, err)
		}
		second, err := h.remit(alice, bob, q.ID, key)
		if err != nil || second.Txn.ID != first.Txn.ID {
			t.Fatalf("retry: %+v %v", second, err)
		}
		_, err = h.remit(alice, carol, q.ID, key)
		wantCode(t, err, wallet.EIdempotencyKeyReused)
		_, err = h.remit(alice, bob, q.ID, h.key())
		wantCode(t, err, fx.EQuoteUsed)
		balance = usd(balance.Minor - 6_00)
		if got := h.balance(alice, "USD").Available; got != balance {
			t.Fatalf("alice: %s, want %s", got, balance)
		}

		// Expired before the code: nothing recorded, no code sent.
		q = h.quoteRemit(alice, carol, "USD", "CNY", usd(1_00), fx.SideSell)
		h.clock.Advance(fx.DefaultQuoteTTL)
		before := len(h.messages(alice.phone, "code_txn"))
		_, err = h.remit(alice, carol, q.ID, h.key())
		wantCode(t, err, fx.EQuoteExpired)
		if after := len(h.messages(alice.phone, "code_txn")); after != before {
			t.Fatal("a code was sent for an expired quote")
		}

		// Frozen sender: refused at the gate, recorded.
		q = h.quoteRemit(alice, bob, "USD", "CNY", usd(1_00), fx.SideSell)
		if err := h.id.Freeze(h.ctx, alice.id, "test", "system", h.meta); err != nil {
			t.Fatal(err)
		}
		res, err = h.remit(alice, bob, q.ID, h.key())
		wantCode(t, err, identity.EAccountFrozen)
		if res.Txn.Status != wallet.StatusFailed {
			t.Fatalf("frozen: %+v", res.Txn)
		}
		if got := h.balance(alice, "USD").Available; got != balance {
			t.Fatalf("alice: %s", got)
		}
		h.verify()
	})
}

// TestRemittanceLimits: what a remittance takes (amount and fee) counts
// against the daily money-out limit of its currency, in the ledger's
// transaction; a refused remittance counts nothing.
func TestRemittanceLimits(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		cfg := fxConfig()
		cfg.Levels[0].Daily["USD"] = 100_00
		h := newFXHarness(t, db, cfg, fx.Config{})
		alice, bob := h.signUp(), h.signUp()
		h.fund(alice, usd(1000_00))
		q := h.quoteRemit(alice, bob, "USD", "GBP", usd(1_00), fx.SideSell)
		r, err := h.remit(alice, bob, q.ID, h.key())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.confirmRemit(alice, r.Txn.ID, h.lastCode(alice.phone, "code_txn")); err != nil {
			t.Fatal(err)
		}
		// $2.00 used; $98.00 sold plus the $1.00 minimum fee would pass $100.00.
		q = h.quoteRemit(alice, bob, "USD", "GBP", usd(98_00), fx.SideSell)
		res, err := h.remit(alice, bob, q.ID, h.key())
		wantCode(t, err, wallet.ELimitExceeded)
		if res.Txn.Status != wallet.StatusFailed {
			t.Fatalf("%+v", res.Txn)
		}
		if got, _ := h.rates.FindQuote(h.ctx, q.ID, alice.id); !got.TakenAt.IsZero() {
			t.Fatal("a remittance over the limit used the quote")
		}
		q = h.quoteRemit(alice, bob, "USD", "GBP", usd(97_00), fx.SideSell)
		if res, err := h.remit(alice, bob, q.ID, h.key()); err != nil || res.Txn.Status != wallet.StatusCompleted {
			t.Fatalf("up to the limit: %+v %v", res, err)
		}
		// An exchange moves nothing out: no limit applies.
		eq := h.quote(alice, "USD", "GBP", usd(500_00), fx.SideSell)
		if res, err := h.exchange(alice, eq.ID, h.key()); err != nil || res.Txn.Status != wallet.StatusCompleted {
			t.Fatalf("exchange past the money-out limit: %+v %v", res, err)
		}
		h.verify()
	})
}
