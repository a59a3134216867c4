package wallet_test

import (
	"strings"
	"testing"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/psp"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
	"github.com/okpay/okpay/wallet"
)

// Sandbox test cards.
const (
	cardOK        = "4242424242424242"
	cardDeclined  = "4000000000000002"
	cardChallenge = "4000000000003220"
)

var depositFees = &testFees{bp: map[string]int64{wallet.OpDeposit: 200}, fixed: map[string]int64{}}

// TestDepositThroughTheSandbox: card deposits end to end with the
// built-in provider, its signed webhooks and an HTTP endpoint that
// verifies them: success, decline, and a 3-D Secure challenge.
func TestDepositThroughTheSandbox(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db, harnessOpts{webhook: true, fees: depositFees})
		alice := h.signUp()
		final := func(id int64) *wallet.Txn {
			t.Helper()
			var got *wallet.Txn
			waitFor(t, "the deposit to settle", func() bool {
				var err error
				got, err = h.w.FindTransaction(h.ctx, alice.id, id)
				return err == nil && got.Status.Final()
			})
			return got
		}

		q, err := h.w.QuoteDeposit(usd(100_00))
		if err != nil || q.Fee != usd(2_00) || q.Net != usd(98_00) {
			t.Fatalf("quote: %+v %v", q, err)
		}
		card := h.addCard(alice, cardOK)
		key := h.key()
		in := wallet.DepositInput{UserID: alice.id, MethodID: card, Amount: usd(100_00), Key: key, ReturnURL: "/wallet/deposits", Meta: h.meta}
		d, err := h.w.StartDeposit(h.ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if d.Type != wallet.TypeDeposit || d.Fee != usd(2_00) || (d.Status != wallet.StatusExecuting && d.Status != wallet.StatusCompleted) || d.ProviderRef == "" {
			t.Fatalf("started deposit: %+v", d)
		}
		done := final(d.ID)
		if done.Status != wallet.StatusCompleted || done.EntryID == 0 {
			t.Fatalf("deposit: %+v", done)
		}
		if got := h.balance(alice, "USD"); got.Available != usd(98_00) {
			t.Fatalf("balance: %+v", got)
		}
		again, err := h.w.StartDeposit(h.ctx, in)
		if err != nil || again.ID != d.ID || again.Status != wallet.StatusCompleted {
			t.Fatalf("retry: %+v %v", again, err)
		}
		in.Amount = usd(100_01)
		_, err = h.w.StartDeposit(h.ctx, in)
		wantCode(t, err, wallet.EIdempotencyKeyReused)
		if mail := h.messages(alice.email, wallet.NoticeDepositCompleted); len(mail) != 1 || !strings.Contains(mail[0].Body, "$98.00") {
			t.Fatalf("notice: %+v", mail)
		}

		// Declined: failed with a translated reason, nothing credited.
		declined := h.addCard(alice, cardDeclined)
		d, err = h.w.StartDeposit(h.ctx, wallet.DepositInput{UserID: alice.id, MethodID: declined, Amount: usd(50_00), Key: h.key(), Meta: h.meta})
		if err != nil && okpay.ErrorCode(err) != "provider_card_declined" {
			t.Fatal(err)
		}
		failed := final(d.ID)
		if failed.Status != wallet.StatusFailed || failed.FailureCode != "provider_card_declined" {
			t.Fatalf("declined: %+v", failed)
		}
		if en, zh := h.w.FailureText(failed, "en"), h.w.FailureText(failed, "zh-CN"); en == zh || !strings.Contains(en, "declined") {
			t.Fatalf("reason: %q / %q", en, zh)
		}
		if mail := h.messages(alice.email, wallet.NoticeDepositFailed); len(mail) != 1 {
			t.Fatalf("failure notice: %+v", mail)
		}

		// 3-D Secure: awaiting_auth with the challenge's address, completed
		// once the customer passes it.
		challenge := h.addCard(alice, cardChallenge)
		d, err = h.w.StartDeposit(h.ctx, wallet.DepositInput{UserID: alice.id, MethodID: challenge, Amount: usd(10_00), Key: h.key(), Meta: h.meta})
		if err != nil {
			t.Fatal(err)
		}
		if d.Status != wallet.StatusAwaitingAuth || !strings.Contains(d.ActionURL, "/sandbox/3ds/") {
			t.Fatalf("challenge: %+v", d)
		}
		if _, err := h.sandbox.CompleteChallenge(h.ctx, d.ProviderRef, true); err != nil {
			t.Fatal(err)
		}
		if done := final(d.ID); done.Status != wallet.StatusCompleted || done.ActionURL != "" {
			t.Fatalf("after the challenge: %+v", done)
		}
		if got := h.balance(alice, "USD"); got.Available != usd(98_00+9_80) {
			t.Fatalf("balance: %+v", got)
		}
		// Someone else's card is not a way to deposit.
		bob := h.signUp()
		_, err = h.w.StartDeposit(h.ctx, wallet.DepositInput{UserID: bob.id, MethodID: card, Amount: usd(1_00), Key: h.key(), Meta: h.meta})
		wantCode(t, err, okpay.ENotFound)
		h.verify()
	})
}

// TestTXN06_ProviderEvents: events apply once by id, only forward, in any
// order, and the amount credited is the deposit's own record.
func TestTXN06_ProviderEvents(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db, harnessOpts{}) // no worker: the test plays the provider's events
		alice := h.signUp()
		card := h.addCard(alice, cardOK)
		start := func(minor int64) *wallet.Txn {
			t.Helper()
			d, err := h.w.StartDeposit(h.ctx, wallet.DepositInput{UserID: alice.id, MethodID: card, Amount: usd(minor), Key: h.key(), Meta: h.meta})
			if err != nil || d.Status != wallet.StatusExecuting {
				t.Fatalf("start: %+v %v", d, err)
			}
			return d
		}
		n := 0
		event := func(d *wallet.Txn, typ string, status psp.Status, amount int64) psp.Event {
			n++
			return psp.Event{ID: "evt_test_" + itoa(n), Type: typ, Created: h.clock.Now(), Reference: d.Ref(), ObjectID: d.ProviderRef, Status: status, Amount: usd(amount)}
		}
		apply := func(ev psp.Event) {
			t.Helper()
			if err := h.w.ApplyProviderEvent(h.ctx, ev); err != nil {
				t.Fatalf("apply %s: %v", ev.Type, err)
			}
		}
		status := func(d *wallet.Txn) wallet.Status {
			got, err := h.w.FindTransaction(h.ctx, alice.id, d.ID)
			if err != nil {
				t.Fatal(err)
			}
			return got.Status
		}

		a := start(20_00)
		ok := event(a, psp.EventChargeSucceeded, psp.StatusSucceeded, 1_000_000_00) // the event's amount is not trusted
		apply(ok)
		if got := h.balance(alice, "USD"); got.Available != usd(20_00) {
			t.Fatalf("credited %+v, want the deposit's own $20.00", got)
		}
		apply(ok)                                                             // a replay
		apply(event(a, psp.EventChargeSucceeded, psp.StatusSucceeded, 20_00)) // a second event for the same charge
		apply(event(a, "charge.pending", psp.StatusPending, 20_00))           // late
		apply(event(a, psp.EventChargeFailed, psp.StatusFailed, 20_00))       // out of order
		if got := h.balance(alice, "USD"); got.Available != usd(20_00) || status(a) != wallet.StatusCompleted {
			t.Fatalf("after replays: %+v %s", got, status(a))
		}
		var events int
		db.Read.QueryRow(`SELECT COUNT(*) FROM wallet_provider_events`).Scan(&events)
		if events != 4 {
			t.Fatalf("%d events recorded, want 4 (the replay is one)", events)
		}

		// Failed first, succeeded later: failed stays.
		b := start(30_00)
		apply(event(b, psp.EventChargeFailed, psp.StatusFailed, 30_00))
		apply(event(b, psp.EventChargeSucceeded, psp.StatusSucceeded, 30_00))
		if status(b) != wallet.StatusFailed {
			t.Fatalf("b: %s", status(b))
		}
		// An event that overtakes the provider's answer (the deposit still a
		// draft) completes it along legal steps.
		c := start(40_00)
		if _, err := db.Write.Exec(`UPDATE wallet_txns SET status = 'draft' WHERE id = $1`, c.ID); err != nil {
			t.Fatal(err)
		}
		apply(event(c, psp.EventChargeSucceeded, psp.StatusSucceeded, 40_00))
		if status(c) != wallet.StatusCompleted {
			t.Fatalf("c: %s", status(c))
		}
		// Not ours, unknown, malformed.
		apply(psp.Event{ID: "evt_pm", Type: psp.EventChargeSucceeded, Reference: "pm_0d4m8y2k3q1ag"})
		apply(psp.Event{ID: "evt_unknown", Type: psp.EventChargeSucceeded, Reference: "txn_0d4m8y2k3q1ag"})
		wantCode(t, h.w.ApplyProviderEvent(h.ctx, psp.Event{Type: psp.EventChargeSucceeded, Reference: a.Ref()}), okpay.EInvalid)
		if got := h.balance(alice, "USD"); got.Available != usd(60_00) {
			t.Fatalf("balance: %+v", got)
		}
		// A deposit waiting for 3-D Secure is the provider's to settle: the
		// sweeper of unconfirmed transfers leaves it alone.
		d, err := h.w.StartDeposit(h.ctx, wallet.DepositInput{UserID: alice.id, MethodID: h.addCard(alice, cardChallenge), Amount: usd(5_00), Key: h.key(), Meta: h.meta})
		if err != nil || d.Status != wallet.StatusAwaitingAuth {
			t.Fatalf("3-D Secure deposit: %+v %v", d, err)
		}
		h.clock.Advance(48 * time.Hour)
		if _, err := h.w.Sweep(h.ctx); err != nil {
			t.Fatal(err)
		}
		if status(d) != wallet.StatusAwaitingAuth {
			t.Fatalf("swept deposit: %s", status(d))
		}
		apply(event(d, psp.EventChargeSucceeded, psp.StatusSucceeded, 5_00))
		if status(d) != wallet.StatusCompleted {
			t.Fatalf("3-D Secure deposit: %s", status(d))
		}
		h.verify()
	})
}
