package wallet_test

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/identity/otp"
	"github.com/okpay/okpay/ledger"
	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
	"github.com/okpay/okpay/wallet"
)

// TestTransfer walks a first payment to a new payee (code by SMS), then a
// payment to the same payee below the threshold (no code), with a fee,
// and checks balances, both customers' rows and the ledger.
func TestTransfer(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db, harnessOpts{fees: &testFees{bp: map[string]int64{wallet.OpTransfer: 100}, fixed: map[string]int64{wallet.OpTransfer: 5}}})
		alice, bob := h.signUp(), h.signUp()
		h.fund(alice, usd(100_00))

		q, err := h.w.QuoteTransfer(h.ctx, wallet.TransferInput{UserID: alice.id, Amount: usd(10_00), Payee: bob.email})
		if err != nil {
			t.Fatal(err)
		}
		if q.Fee != usd(15) || q.Total != usd(10_15) || !q.NewPayee || !q.NeedsAuth || q.AuthMethod != identity.MethodSMS || q.PayeeID != bob.id {
			t.Fatalf("quote: %+v", q)
		}
		if strings.Contains(q.Payee, strings.Split(bob.email, "@")[0]) || !strings.Contains(q.Payee, "•") {
			t.Fatalf("the payee is not masked: %q", q.Payee)
		}

		first := h.pay(alice, bob, usd(10_00))
		if first.Fee != usd(15) || first.EntryID == 0 || first.RelatedID == 0 || !first.NewPayee {
			t.Fatalf("first transfer: %+v", first)
		}
		// Known payee, below the threshold: no code.
		res, err := h.w.Transfer(h.ctx, wallet.TransferInput{UserID: alice.id, Amount: usd(20_00), PayeeKind: wallet.PayeePhone, Payee: bob.phone, Note: "lunch 🍜", Key: h.key(), Meta: h.meta})
		if err != nil {
			t.Fatal(err)
		}
		second := res.Txn
		if second.Status != wallet.StatusCompleted || second.NewPayee || second.Note != "lunch 🍜" || second.Counterparty == "" {
			t.Fatalf("second transfer: %+v", second)
		}
		if got := h.balance(alice, "USD"); got.Available != usd(100_00-10_15-20_25) || got.Posted != got.Available {
			t.Fatalf("alice: %+v", got)
		}
		if got := h.balance(bob, "USD"); got.Available != usd(30_00) {
			t.Fatalf("bob: %+v", got)
		}
		rev, err := h.w.SystemAccount(h.ctx, wallet.SysFeeRevenue, "USD")
		if err != nil {
			t.Fatal(err)
		}
		if a, _ := h.ledger.FindAccountByID(h.ctx, rev); a.Balance.Posted() != 15+25 {
			t.Fatalf("fee revenue: %+v", a.Balance)
		}
		// Bob's side: a transfer_in row per transfer, linked to Alice's.
		in, err := h.w.FindTransaction(h.ctx, bob.id, second.RelatedID)
		if err != nil {
			t.Fatal(err)
		}
		if in.Type != wallet.TypeTransferIn || in.Status != wallet.StatusCompleted || in.Amount != usd(20_00) || in.Fee != usd(0) ||
			in.RelatedID != second.ID || in.CounterpartyID != alice.id || in.EntryID != second.EntryID || in.Note != "lunch 🍜" {
			t.Fatalf("bob's row: %+v", in)
		}
		if _, err := h.w.FindTransaction(h.ctx, alice.id, in.ID); okpay.ErrorCode(err) != okpay.ENotFound {
			t.Fatalf("alice can read bob's row: %v", err)
		}
		e, err := h.ledger.FindEntryByID(h.ctx, second.EntryID)
		if err != nil {
			t.Fatal(err)
		}
		if len(e.Entry.Postings) != 2 || e.Entry.Type != wallet.EntryTransfer {
			t.Fatalf("entry: %+v", e.Entry)
		}
		h.verify()
	})
}

// TestTransferRefusals: validation before anything is recorded.
func TestTransferRefusals(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db, harnessOpts{})
		alice, bob := h.signUp(), h.signUp()
		h.fund(alice, usd(100_00))
		for _, c := range []struct {
			name string
			in   wallet.TransferInput
			code string
		}{
			{"self", wallet.TransferInput{Amount: usd(1), Payee: alice.email}, wallet.ESelfTransfer},
			{"self by id", wallet.TransferInput{Amount: usd(1), Payee: alice.ref()}, wallet.ESelfTransfer},
			{"zero", wallet.TransferInput{Amount: usd(0), Payee: bob.email}, okpay.EInvalid},
			{"negative", wallet.TransferInput{Amount: usd(-5), Payee: bob.email}, okpay.EInvalid},
			{"currency", wallet.TransferInput{Amount: money.New(1, "CHF"), Payee: bob.email}, wallet.ECurrencyNotSupported},
			{"unknown payee", wallet.TransferInput{Amount: usd(1), Payee: "nobody@example.com"}, identity.EPayeeNotFound},
			{"unknown wallet", wallet.TransferInput{Amount: usd(1), Payee: "wal_0d4m8y2k3q1ag"}, identity.EPayeeNotFound},
			{"bad payee", wallet.TransferInput{Amount: usd(1), Payee: "bob"}, okpay.EInvalid},
			{"control char in note", wallet.TransferInput{Amount: usd(1), Payee: bob.email, Note: "hi\nthere"}, okpay.EInvalid},
			{"bidi override in note", wallet.TransferInput{Amount: usd(1), Payee: bob.email, Note: "pay \u202eroF"}, okpay.EInvalid},
			{"long note", wallet.TransferInput{Amount: usd(1), Payee: bob.email, Note: strings.Repeat("好", 141)}, okpay.EInvalid},
			{"no key", wallet.TransferInput{Amount: usd(1), Payee: bob.email, Key: "-"}, ""},
		} {
			t.Run(c.name, func(t *testing.T) {
				in := c.in
				in.UserID, in.Meta = alice.id, h.meta
				if in.Key == "" {
					in.Key = h.key()
				} else if in.Key == "-" {
					in.Key = ""
					c.code = okpay.EInvalid
				}
				_, err := h.w.Transfer(h.ctx, in)
				wantCode(t, err, c.code)
			})
		}
		p, err := h.w.FindTransactions(h.ctx, alice.id, wallet.Filter{})
		if err != nil || len(p.Txns) != 0 {
			t.Fatalf("refused requests left rows: %v %v", p, err)
		}
		// Paying by wallet id and by user id reaches the same account.
		bw, err := h.w.OpenWallet(h.ctx, bob.id, "EUR")
		if err != nil {
			t.Fatal(err)
		}
		for _, payee := range []string{bw.Ref(), bob.ref()} {
			q, err := h.w.QuoteTransfer(h.ctx, wallet.TransferInput{UserID: alice.id, Amount: usd(1), Payee: payee})
			if err != nil || q.PayeeID != bob.id {
				t.Fatalf("payee %s: %+v %v", payee, q, err)
			}
		}
	})
}

// TestTXN01_StepUpAboveThresholdAndForNewPayees: a known payee still
// needs a code above the threshold; the SMS states amount and payee.
func TestTXN01_StepUpAboveThresholdAndForNewPayees(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db, harnessOpts{cfg: wallet.Config{StepUp: map[money.Currency]int64{"CNY": 2000_00, "USD": 300_00, "EUR": 250_00, "GBP": 220_00, "JPY": 40000, "HKD": 2200_00, "RUB": 25000_00}}})
		alice, bob := h.signUp(), h.signUp()
		h.fund(alice, usd(1000_00))

		res, err := h.send(alice, bob, usd(5_00), h.key())
		if err != nil {
			t.Fatal(err)
		}
		txn := res.Txn
		if txn.Status != wallet.StatusAwaitingAuth || txn.AuthMethod != identity.MethodSMS || !txn.NewPayee || res.Destination == "" {
			t.Fatalf("new payee: %+v (%q)", txn, res.Destination)
		}
		sms := h.messages(alice.phone, "code_txn")
		if len(sms) != 1 || !strings.Contains(sms[0].Body, "$5.00") || !strings.Contains(sms[0].Body, txn.Counterparty) {
			t.Fatalf("the SMS must state amount and payee: %+v", sms)
		}
		// Nothing moved yet, and Bob sees nothing.
		if got := h.balance(alice, "USD"); got.Available != usd(1000_00) {
			t.Fatalf("money moved before the code: %+v", got)
		}
		if p, _ := h.w.FindTransactions(h.ctx, bob.id, wallet.Filter{}); len(p.Txns) != 0 {
			t.Fatal("the payee sees an unconfirmed transfer")
		}
		code := h.lastCode(alice.phone, "code_txn")
		done, err := h.w.ConfirmTransfer(h.ctx, wallet.ConfirmInput{UserID: alice.id, TxnID: txn.ID, Code: code, Meta: h.meta})
		if err != nil || done.Txn.Status != wallet.StatusCompleted {
			t.Fatalf("confirm: %+v %v", done, err)
		}
		// Confirming again returns the completed transfer (no second move).
		again, err := h.w.ConfirmTransfer(h.ctx, wallet.ConfirmInput{UserID: alice.id, TxnID: txn.ID, Code: code, Meta: h.meta})
		if err != nil || again.Txn.Status != wallet.StatusCompleted || again.Txn.EntryID != done.Txn.EntryID {
			t.Fatalf("second confirm: %+v %v", again, err)
		}
		// Known payee now: below the threshold no code; at it, a code.
		if res, err := h.send(alice, bob, usd(299_99), h.key()); err != nil || res.Txn.Status != wallet.StatusCompleted {
			t.Fatalf("below threshold: %+v %v", res, err)
		}
		res, err = h.send(alice, bob, usd(300_00), h.key())
		if err != nil || res.Txn.Status != wallet.StatusAwaitingAuth || res.Txn.NewPayee {
			t.Fatalf("at the threshold: %+v %v", res, err)
		}
		if got := h.balance(alice, "USD"); got.Available != usd(1000_00-5_00-299_99) {
			t.Fatalf("alice: %+v", got)
		}
	})
}

// TestTXN01_CodeBoundToAmountAndPayee: a code confirms exactly the
// transfer it was sent for; one minor unit more, or another payee, is
// another transfer and the code does not work for it.
func TestTXN01_CodeBoundToAmountAndPayee(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db, harnessOpts{})
		alice, bob, carol := h.signUp(), h.signUp(), h.signUp()
		h.fund(alice, usd(1000_00))

		a, err := h.send(alice, bob, usd(10_00), h.key())
		if err != nil {
			t.Fatal(err)
		}
		codeA := h.lastCode(alice.phone, "code_txn")
		h.clock.Advance(61 * time.Second)
		b, err := h.send(alice, bob, usd(10_01), h.key()) // one minor unit more
		if err != nil {
			t.Fatal(err)
		}
		h.clock.Advance(61 * time.Second)
		c, err := h.send(alice, carol, usd(10_00), h.key()) // another payee
		if err != nil {
			t.Fatal(err)
		}
		for _, other := range []*wallet.Txn{b.Txn, c.Txn} {
			_, err := h.w.ConfirmTransfer(h.ctx, wallet.ConfirmInput{UserID: alice.id, TxnID: other.ID, Code: codeA, Meta: h.meta})
			wantCode(t, err, identity.EInvalidCode)
		}
		// Changing the stored amount by one minor unit breaks the binding
		// too: the code is checked against the transaction as it is now.
		if _, err := db.Write.Exec(`UPDATE wallet_txns SET amount = amount + 1 WHERE id = $1`, a.Txn.ID); err != nil {
			t.Fatal(err)
		}
		_, err = h.w.ConfirmTransfer(h.ctx, wallet.ConfirmInput{UserID: alice.id, TxnID: a.Txn.ID, Code: codeA, Meta: h.meta})
		wantCode(t, err, identity.EInvalidCode)
		if _, err := db.Write.Exec(`UPDATE wallet_txns SET amount = amount - 1 WHERE id = $1`, a.Txn.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Write.Exec(`UPDATE wallet_txns SET counterparty_id = $1 WHERE id = $2`, carol.id, a.Txn.ID); err != nil {
			t.Fatal(err)
		}
		_, err = h.w.ConfirmTransfer(h.ctx, wallet.ConfirmInput{UserID: alice.id, TxnID: a.Txn.ID, Code: codeA, Meta: h.meta})
		wantCode(t, err, identity.EInvalidCode)
		if _, err := db.Write.Exec(`UPDATE wallet_txns SET counterparty_id = $1 WHERE id = $2`, bob.id, a.Txn.ID); err != nil {
			t.Fatal(err)
		}
		res, err := h.w.ConfirmTransfer(h.ctx, wallet.ConfirmInput{UserID: alice.id, TxnID: a.Txn.ID, Code: codeA, Meta: h.meta})
		if err != nil || res.Txn.Status != wallet.StatusCompleted || res.Txn.Amount != usd(10_00) {
			t.Fatalf("the right code for the right transfer: %+v %v", res, err)
		}
		if got := h.balance(bob, "USD"); got.Available != usd(10_00) {
			t.Fatalf("bob: %+v", got)
		}
	})
}

// TestTXN02_CodeTTLAttemptsSingleUse: a code works until 5 minutes have
// passed (not at 5:00), dies after 5 wrong attempts even when right, and
// a resend starts over with a new code.
func TestTXN02_CodeTTLAttemptsSingleUse(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db, harnessOpts{})
		alice, bob := h.signUp(), h.signUp()
		h.fund(alice, usd(1000_00))
		confirm := func(id int64, code string) (*wallet.TransferResult, error) {
			return h.w.ConfirmTransfer(h.ctx, wallet.ConfirmInput{UserID: alice.id, TxnID: id, Code: code, Meta: h.meta})
		}

		// TTL: just inside works.
		a, _ := h.send(alice, bob, usd(1_00), h.key())
		code := h.lastCode(alice.phone, "code_txn")
		h.clock.Advance(identity.TxnCodeTTL - time.Microsecond)
		if res, err := confirm(a.Txn.ID, code); err != nil || res.Txn.Status != wallet.StatusCompleted {
			t.Fatalf("just inside the TTL: %+v %v", res, err)
		}
		// At exactly the TTL the code is dead.
		h.clock.Advance(61 * time.Second)
		b, _ := h.send(alice, bob, usd(500_00), h.key()) // above the threshold: needs a code
		code = h.lastCode(alice.phone, "code_txn")
		h.clock.Advance(identity.TxnCodeTTL)
		_, err := confirm(b.Txn.ID, code)
		wantCode(t, err, identity.EInvalidCode)
		// A resend gives a new code that works; the old one stays dead.
		dest, err := h.w.ResendTransferCode(h.ctx, alice.id, b.Txn.ID, h.meta)
		if err != nil || dest == "" {
			t.Fatalf("resend: %q %v", dest, err)
		}
		fresh := h.lastCode(alice.phone, "code_txn")
		if fresh == code {
			t.Skip("the new code equals the old one by chance")
		}
		if _, err := confirm(b.Txn.ID, code); okpay.ErrorCode(err) != identity.EInvalidCode {
			t.Fatalf("the old code after a resend: %v", err)
		}
		if res, err := confirm(b.Txn.ID, fresh); err != nil || res.Txn.Status != wallet.StatusCompleted {
			t.Fatalf("fresh code: %+v %v", res, err)
		}

		// Attempts: five wrong codes kill the code, the right one then fails.
		h.clock.Advance(24 * time.Hour) // a new day's limit
		c, err := h.send(alice, bob, usd(400_00), h.key())
		if err != nil {
			t.Fatalf("the third transfer: %v", err)
		}
		code = h.lastCode(alice.phone, "code_txn")
		wrong := "000000"
		if wrong == code {
			wrong = "111111"
		}
		for i := 0; i < 5; i++ {
			_, err := confirm(c.Txn.ID, wrong)
			wantCode(t, err, identity.EInvalidCode)
		}
		_, err = confirm(c.Txn.ID, code)
		wantCode(t, err, identity.EInvalidCode)
		if got, _ := h.w.FindTransaction(h.ctx, alice.id, c.Txn.ID); got.Status != wallet.StatusAwaitingAuth || got.AuthAttempts != 6 {
			t.Fatalf("after the attempts: %+v", got)
		}
		// Resends are limited: the first code and two more.
		for i := 0; i < 2; i++ {
			_, err := h.w.ResendTransferCode(h.ctx, alice.id, c.Txn.ID, h.meta)
			wantCode(t, err, identity.ERateLimited) // too soon after the last
			h.clock.Advance(61 * time.Second)
			if _, err := h.w.ResendTransferCode(h.ctx, alice.id, c.Txn.ID, h.meta); err != nil {
				t.Fatalf("resend %d: %v", i+1, err)
			}
		}
		h.clock.Advance(61 * time.Second)
		_, err = h.w.ResendTransferCode(h.ctx, alice.id, c.Txn.ID, h.meta)
		wantCode(t, err, identity.ERateLimited)
		// The transfer itself expires after the authorization window.
		h.clock.Advance(15 * time.Minute)
		_, err = confirm(c.Txn.ID, h.lastCode(alice.phone, "code_txn"))
		wantCode(t, err, wallet.EAuthExpired)
		got, _ := h.w.FindTransaction(h.ctx, alice.id, c.Txn.ID)
		if got.Status != wallet.StatusFailed || got.FailureCode != wallet.EAuthExpired || h.w.FailureText(got, "zh-CN") == got.FailureReason {
			t.Fatalf("expired transfer: %+v", got)
		}
		if got := h.balance(alice, "USD"); got.Available != usd(1000_00-1_00-500_00) {
			t.Fatalf("alice: %+v", got)
		}
	})
}

// TestMFA11_TOTPPolicy: an account with an authenticator app confirms
// payments with it; no SMS goes out, and wrong codes cancel the payment
// after five.
func TestMFA11_TOTPPolicy(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db, harnessOpts{})
		alice, bob := h.signUp(), h.signUp()
		h.fund(alice, usd(1000_00))
		ss, _, err := h.id.Authenticate(h.ctx, alice.token)
		if err != nil {
			t.Fatal(err)
		}
		setup, err := h.id.BeginTOTP(h.ctx, ss)
		if err != nil {
			t.Fatal(err)
		}
		key := decodeSecret(t, setup.Secret)
		if err := h.id.ConfirmTOTP(h.ctx, ss, otp.TOTPCode(key, h.clock.Now()), h.meta); err != nil {
			t.Fatal(err)
		}
		h.clock.Advance(31 * time.Second) // the enrolment's step is used

		res, err := h.send(alice, bob, usd(10_00), h.key())
		if err != nil {
			t.Fatal(err)
		}
		if res.Txn.AuthMethod != identity.MethodTOTP || res.Destination != "" {
			t.Fatalf("policy: %+v", res)
		}
		if sms := h.messages(alice.phone, "code_txn"); len(sms) != 0 {
			t.Fatal("an SMS code was sent to a TOTP account")
		}
		if _, err := h.w.ResendTransferCode(h.ctx, alice.id, res.Txn.ID, h.meta); okpay.ErrorCode(err) != okpay.EConflict {
			t.Fatalf("an SMS resend for a TOTP payment: %v", err)
		}
		done, err := h.w.ConfirmTransfer(h.ctx, wallet.ConfirmInput{UserID: alice.id, TxnID: res.Txn.ID, Code: otp.TOTPCode(key, h.clock.Now()), Meta: h.meta})
		if err != nil || done.Txn.Status != wallet.StatusCompleted {
			t.Fatalf("confirm with TOTP: %+v %v", done, err)
		}

		h.clock.Advance(31 * time.Second)
		res, err = h.send(alice, bob, usd(600_00), h.key()) // above the step-up threshold, within the day's limit
		if err != nil {
			t.Fatal(err)
		}
		wrong := otp.TOTPCode(key, h.clock.Now().Add(-time.Hour))
		var last error
		for i := 0; i < 5; i++ {
			_, last = h.w.ConfirmTransfer(h.ctx, wallet.ConfirmInput{UserID: alice.id, TxnID: res.Txn.ID, Code: wrong, Meta: h.meta})
		}
		wantCode(t, last, wallet.ETooManyAttempts)
		_, err = h.w.ConfirmTransfer(h.ctx, wallet.ConfirmInput{UserID: alice.id, TxnID: res.Txn.ID, Code: otp.TOTPCode(key, h.clock.Now()), Meta: h.meta})
		wantCode(t, err, wallet.ETooManyAttempts)
		if got := h.balance(alice, "USD"); got.Available != usd(990_00) {
			t.Fatalf("alice: %+v", got)
		}
	})
}

// TestTransferIdempotency: the same key returns the same transfer,
// whatever happened to it; another transfer under the same key is
// refused; concurrent duplicates move the money once.
func TestTransferIdempotency(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db, harnessOpts{})
		alice, bob := h.signUp(), h.signUp()
		h.fund(alice, usd(100_00))
		h.pay(alice, bob, usd(1_00)) // bob is a known payee now

		key := h.key()
		first, err := h.send(alice, bob, usd(2_00), key)
		if err != nil {
			t.Fatal(err)
		}
		again, err := h.send(alice, bob, usd(2_00), key)
		if err != nil || again.Txn.ID != first.Txn.ID || again.Txn.EntryID != first.Txn.EntryID {
			t.Fatalf("retry: %+v %v", again, err)
		}
		_, err = h.send(alice, bob, usd(2_01), key)
		wantCode(t, err, wallet.EIdempotencyKeyReused)
		if got := h.balance(alice, "USD"); got.Available != usd(97_00) {
			t.Fatalf("alice: %+v", got)
		}

		// A refused transfer is recorded, and its key keeps the refusal
		// even once the money is there.
		key = h.key()
		res, err := h.send(alice, bob, usd(200_00), key)
		wantCode(t, err, ledger.EInsufficientFunds)
		if res == nil || res.Txn.Status != wallet.StatusFailed || res.Txn.FailureCode != ledger.EInsufficientFunds {
			t.Fatalf("refused transfer: %+v", res)
		}
		h.fund(alice, usd(2000_00))
		res2, err := h.send(alice, bob, usd(200_00), key)
		wantCode(t, err, ledger.EInsufficientFunds)
		if res2.Txn.ID != res.Txn.ID {
			t.Fatal("a retry of a failed transfer made a new one")
		}

		// Concurrent duplicates.
		key = h.key()
		var wg sync.WaitGroup
		ids := make([]int64, 16)
		errs := make([]error, 16)
		for i := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := h.send(alice, bob, usd(3_00), key)
				errs[i] = err
				if err == nil {
					ids[i] = r.Txn.ID
				}
			}()
		}
		wg.Wait()
		for i := range ids {
			if errs[i] != nil || ids[i] != ids[0] {
				t.Fatalf("duplicate %d: id %d err %v (first %d)", i, ids[i], errs[i], ids[0])
			}
		}
		if got := h.balance(alice, "USD"); got.Available != usd(2097_00-3_00) {
			t.Fatalf("alice after duplicates: %+v", got)
		}
		h.verify()
	})
}

// TestTXN03_FreezeAndHoldAtTheGate: a frozen payer cannot pay (the gate
// runs in the ledger's transaction), a frozen payee is still credited; a
// cooling-off hold blocks new payees only (RSK-02).
func TestTXN03_FreezeAndHoldAtTheGate(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db, harnessOpts{})
		alice, bob, carol := h.signUp(), h.signUp(), h.signUp()
		h.fund(alice, usd(100_00))
		h.fund(bob, usd(100_00))
		h.pay(alice, bob, usd(1_00))
		h.pay(bob, alice, usd(1_00))

		// Bob frozen: Alice can still pay him; he cannot pay.
		if err := h.id.Freeze(h.ctx, bob.id, "test", "system", h.meta); err != nil {
			t.Fatal(err)
		}
		if res, err := h.send(alice, bob, usd(5_00), h.key()); err != nil || res.Txn.Status != wallet.StatusCompleted {
			t.Fatalf("paying a frozen account: %+v %v", res, err)
		}
		res, err := h.send(bob, alice, usd(5_00), h.key())
		wantCode(t, err, identity.EAccountFrozen)
		if res.Txn.Status != wallet.StatusFailed || res.Txn.FailureCode != identity.EAccountFrozen {
			t.Fatalf("frozen payer's row: %+v", res.Txn)
		}
		if got := h.balance(bob, "USD"); got.Available != usd(100_00+1_00-1_00+5_00) {
			t.Fatalf("bob: %+v", got)
		}
		// Unfreezing starts a 24 h hold: known payees only.
		if err := h.id.Unfreeze(h.ctx, bob.id, "agent-1", "case-1", "verified by phone", h.meta); err != nil {
			t.Fatal(err)
		}
		if res, err := h.send(bob, alice, usd(2_00), h.key()); err != nil || res.Txn.Status != wallet.StatusCompleted {
			t.Fatalf("known payee during a hold: %+v %v", res, err)
		}
		res, err = h.send(bob, carol, usd(2_00), h.key())
		if err != nil {
			t.Fatal(err)
		}
		_, err = h.w.ConfirmTransfer(h.ctx, wallet.ConfirmInput{UserID: bob.id, TxnID: res.Txn.ID, Code: h.lastCode(bob.phone, "code_txn"), Meta: h.meta})
		wantCode(t, err, identity.EHoldActive)
		var he *identity.HoldError
		if !errors.As(err, &he) || !he.Until.After(h.clock.Now()) {
			t.Fatalf("the hold's end is not reported: %v", err)
		}
		got, _ := h.w.FindTransaction(h.ctx, bob.id, res.Txn.ID)
		if got.Status != wallet.StatusFailed || got.FailureCode != identity.EHoldActive {
			t.Fatalf("held transfer: %+v", got)
		}
		h.clock.Advance(24*time.Hour + time.Minute)
		h.pay(bob, carol, usd(2_00))
		h.verify()
	})
}

// TestSES07_FreezeDuringTheRequest: a freeze that commits after the
// transfer was checked but before it executes stops it (the gate is in
// the execution's own transaction).
func TestSES07_FreezeDuringTheRequest(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db, harnessOpts{})
		alice, bob := h.signUp(), h.signUp()
		h.fund(alice, usd(100_00))
		res, err := h.send(alice, bob, usd(5_00), h.key())
		if err != nil {
			t.Fatal(err)
		}
		code := h.lastCode(alice.phone, "code_txn")
		if err := h.id.Freeze(h.ctx, alice.id, "stolen phone", "system", h.meta); err != nil {
			t.Fatal(err)
		}
		_, err = h.w.ConfirmTransfer(h.ctx, wallet.ConfirmInput{UserID: alice.id, TxnID: res.Txn.ID, Code: code, Meta: h.meta})
		wantCode(t, err, identity.EAccountFrozen)
		if got := h.balance(bob, "USD"); got.Posted.Minor != 0 {
			t.Fatalf("money moved: %+v", got)
		}
	})
}

// TestNOT01_NotificationsCommitWithTheTransfer: both customers get their
// notices, in the outbox with the transfer (NOT-02), stating amount,
// counterparty and time (NOT-04); the payer's carries the freeze link.
// A refused transfer notifies nobody.
func TestNOT01_NotificationsCommitWithTheTransfer(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db, harnessOpts{})
		alice, bob := h.signUp(), h.signUp()
		h.fund(alice, usd(100_00))
		txn := h.pay(alice, bob, usd(12_34))

		// The in-app notices show from the commit on, before any dispatch
		// (they are written with the transfer, not queued), and hold no
		// freeze token: the customer reading them is signed in, and is
		// sent to the account's own freeze page.
		for _, c := range []struct {
			u    *user
			kind string
		}{{alice, wallet.NoticeTransferSent}, {bob, wallet.NoticeTransferReceived}} {
			ns, err := h.outbox.ListInApp(h.ctx, c.u.id, 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(ns) != 1 || ns[0].Kind != c.kind || !strings.Contains(ns[0].Title+ns[0].Body, "$12.34") || strings.Contains(ns[0].Body, "/freeze/") {
				t.Fatalf("%s's in-app notices right after the transfer: %+v", c.kind, ns)
			}
			if want := c.kind == wallet.NoticeTransferSent; strings.Contains(ns[0].Body, "https://okpay.test/account/freeze") != want {
				t.Fatalf("%s's in-app notice links the freeze page: %v, want %v: %q", c.kind, !want, want, ns[0].Body)
			}
		}
		var queued int
		if err := db.Read.QueryRow(`SELECT COUNT(*) FROM notification_outbox WHERE channel = 'inapp'`).Scan(&queued); err != nil || queued != 0 {
			t.Fatalf("in-app notices queued in the outbox: %d (%v)", queued, err)
		}

		// The three messages committed with the transfer as one bundle
		// (notify.Outbox.StageBundle): pending from the commit on, written
		// to the outbox by the dispatcher's round that sends them.
		var bundles, bundled int
		if err := db.Read.QueryRow(`SELECT COUNT(*), COALESCE(SUM(messages), 0) FROM notification_bundles`).Scan(&bundles, &bundled); err != nil || bundles != 1 || bundled != 3 {
			t.Fatalf("bundles right after the transfer: %d holding %d messages (%v), want 1 holding 3", bundles, bundled, err)
		}
		if _, err := h.disp.RunOnce(h.ctx); err != nil {
			t.Fatal(err)
		}
		if n, err := h.outbox.Pending(h.ctx); err != nil || n != 0 {
			t.Fatalf("pending after the dispatcher's round: %d (%v)", n, err)
		}
		a, b := h.outboxKinds(alice.id), h.outboxKinds(bob.id)
		for _, k := range []string{"transfer_sent/email", "transfer_sent/sms", "transfer_sent/inapp"} {
			if a[k] != 1 {
				t.Errorf("alice's %s: %d", k, a[k])
			}
		}
		for _, k := range []string{"transfer_received/email", "transfer_received/inapp"} {
			if b[k] != 1 {
				t.Errorf("bob's %s: %d", k, b[k])
			}
		}
		sms := h.messages(alice.phone, wallet.NoticeTransferSent)
		if len(sms) != 1 || !strings.Contains(sms[0].Body, "$12.34") || !strings.Contains(sms[0].Body, txn.Counterparty) ||
			!strings.Contains(sms[0].Body, "https://okpay.test/freeze/") || !strings.Contains(sms[0].Body, "UTC") {
			t.Fatalf("payer's SMS: %+v", sms)
		}
		mail := h.messages(bob.email, wallet.NoticeTransferReceived)
		if len(mail) != 1 || !strings.Contains(mail[0].Body, "$12.34") || strings.Contains(mail[0].Body, "/freeze/") || strings.Contains(mail[0].Body, h.meta.IP) {
			t.Fatalf("payee's email: %+v", mail)
		}
		// The link freezes the payer's account.
		link := sms[0].Body[strings.Index(sms[0].Body, "/freeze/")+len("/freeze/"):]
		if i := strings.IndexAny(link, " \n"); i >= 0 {
			link = link[:i]
		}
		if err := h.id.FreezeByLink(h.ctx, link, h.meta); err != nil {
			t.Fatal(err)
		}
		res, err := h.send(alice, bob, usd(1_00), h.key())
		wantCode(t, err, identity.EAccountFrozen)
		if res.Txn.Status != wallet.StatusFailed {
			t.Fatalf("%+v", res.Txn)
		}
		if got := h.outboxKinds(bob.id)["transfer_received/inapp"]; got != 1 {
			t.Fatalf("a refused transfer notified the payee: %d", got)
		}
	})
}

// TestConcurrentTransfersCannotOverdraw: two transfers that together
// exceed the balance: exactly one goes through.
func TestConcurrentTransfersCannotOverdraw(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db, harnessOpts{})
		alice, bob, carol := h.signUp(), h.signUp(), h.signUp()
		h.fund(alice, usd(10_00))
		h.pay(alice, bob, usd(1))
		h.pay(alice, carol, usd(1))
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, v := range []*user{bob, carol} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = h.send(alice, v, usd(6_00), h.key())
			}()
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			if err == nil {
				ok++
			} else if okpay.ErrorCode(err) != ledger.EInsufficientFunds {
				t.Fatalf("unexpected: %v", err)
			}
		}
		if ok != 1 {
			t.Fatalf("%d transfers went through", ok)
		}
		if got := h.balance(alice, "USD"); got.Available != usd(10_00-2-6_00) {
			t.Fatalf("alice: %+v", got)
		}
		h.verify()
	})
}

// TestIdemStoresTheResponseWithTheTransfer: an HTTP Idempotency-Key
// record passed through is stored in the transfer's own transaction and
// replayed; the same key with another request is refused.
func TestIdemStoresTheResponseWithTheTransfer(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db, harnessOpts{})
		alice, bob := h.signUp(), h.signUp()
		h.fund(alice, usd(10_00))
		h.pay(alice, bob, usd(1))
		renders := 0
		idem := func(hash string) *wallet.Idem {
			return &wallet.Idem{Principal: alice.ref(), Key: "http-key-1", RequestHash: []byte(hash),
				Render: func(txn *wallet.Txn, err error) (int, []byte, bool) {
					renders++
					if err != nil {
						return 422, []byte(okpay.ErrorCode(err)), true
					}
					if txn == nil {
						return 0, nil, false
					}
					return 201, []byte(txn.Ref()), true
				}}
		}
		in := wallet.TransferInput{UserID: alice.id, Amount: usd(2_00), Payee: bob.email, Key: "http-key-1", Idem: idem("body-1"), Meta: h.meta}
		first, err := h.w.Transfer(h.ctx, in)
		if err != nil || first.Txn == nil || first.Txn.Status != wallet.StatusCompleted || renders != 1 {
			t.Fatalf("first: %+v %v (renders %d)", first, err, renders)
		}
		again, err := h.w.Transfer(h.ctx, in)
		if err != nil || again.Response == nil || !again.Response.Replayed || string(again.Response.Body) != first.Txn.Ref() || again.Response.Status != 201 {
			t.Fatalf("replay: %+v %v", again, err)
		}
		in.Idem = idem("body-2")
		_, err = h.w.Transfer(h.ctx, in)
		wantCode(t, err, wallet.EIdempotencyKeyReused)
		if got := h.balance(alice, "USD"); got.Available != usd(10_00-1-2_00) {
			t.Fatalf("alice: %+v", got)
		}
	})
}

// TestTransferPayerFromSession: a transfer given the payer as the
// caller's session check read it (what the API and the web pages do)
// quotes and completes as one that reads the payer itself, and notifies
// the payer at the contacts it holds; a payer that is not the paying
// user is refused before anything is recorded.
func TestTransferPayerFromSession(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db, harnessOpts{})
		alice, bob := h.signUp(), h.signUp()
		h.fund(alice, usd(100_00))
		h.pay(alice, bob, usd(1_00)) // bob becomes a known payee
		_, au, err := h.id.Authenticate(h.ctx, alice.token)
		if err != nil {
			t.Fatal(err)
		}
		_, bu, err := h.id.Authenticate(h.ctx, bob.token)
		if err != nil {
			t.Fatal(err)
		}

		in := wallet.TransferInput{UserID: alice.id, Amount: usd(12_34), Payee: bob.email}
		plain, err := h.w.QuoteTransfer(h.ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		in.Payer = au
		given, err := h.w.QuoteTransfer(h.ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if *given != *plain || given.NeedsAuth {
			t.Fatalf("quote with the payer given %+v, read %+v", given, plain)
		}

		in.Key, in.Meta = h.key(), h.meta
		res, err := h.w.Transfer(h.ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if res.Txn.Status != wallet.StatusCompleted || res.Txn.Amount != usd(12_34) {
			t.Fatalf("transfer: %+v", res.Txn)
		}
		if sms := h.messages(alice.phone, wallet.NoticeTransferSent); len(sms) != 2 || !strings.Contains(sms[0].Body+sms[1].Body, "$12.34") {
			t.Fatalf("payer's SMS notices: %+v", sms)
		}

		wrong := in
		wrong.Payer, wrong.Key = bu, h.key()
		before := h.balance(alice, "USD").Available
		if _, err := h.w.Transfer(h.ctx, wrong); okpay.ErrorCode(err) != okpay.EInternal {
			t.Fatalf("a payer that is not the paying user: %v", err)
		}
		if _, err := h.w.QuoteTransfer(h.ctx, wrong); okpay.ErrorCode(err) != okpay.EInternal {
			t.Fatalf("quote with a payer that is not the paying user: %v", err)
		}
		if got := h.balance(alice, "USD").Available; got != before {
			t.Fatalf("alice's balance moved from %v to %v", before, got)
		}
		h.verify()
	})
}
