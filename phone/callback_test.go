package phone_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/phone"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

func (h *harness) request(key string, start time.Time) *phone.Callback {
	h.t.Helper()
	c, err := h.svc.RequestCallback(h.ctx, h.user, phone.CallbackInput{Topic: desk.CategoryTransaction, Note: "transfer stuck",
		WindowStart: start, WindowEnd: start.Add(time.Hour), TimeZone: "Asia/Shanghai", IdempotencyKey: key})
	if err != nil {
		h.t.Fatalf("request callback: %v", err)
	}
	return c
}

// TestCallbackRequestAndQueue: a customer asks for a call to their
// verified number (none is taken from the request), with an idempotency
// key; the queue lists the earliest window first; an unverified number,
// a bad window and too many open requests are refused.
func TestCallbackRequestAndQueue(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		later := h.request("k1", t0.Add(3*time.Hour))
		if later.Phone != "+8613800138000" || later.State != phone.StateQueued || later.Source != phone.SourceCustomer || later.Replayed {
			t.Fatalf("callback %+v", later)
		}
		if from, _ := later.Local(); from.Hour() != 19 { // 11:00 UTC is 19:00 in Shanghai
			t.Fatalf("local window starts %v", from)
		}
		again := h.request("k1", t0.Add(3*time.Hour))
		if again.ID != later.ID || !again.Replayed {
			t.Fatalf("the retried request made %+v", again)
		}
		sooner := h.request("k2", t0.Add(time.Hour))
		q, err := h.svc.Queue(h.ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(q) != 2 || q[0].ID != sooner.ID || q[1].ID != later.ID {
			t.Fatalf("queue order %v", q)
		}
		h.request("k3", t0.Add(2*time.Hour))
		_, err = h.svc.RequestCallback(h.ctx, h.user, phone.CallbackInput{Topic: desk.CategoryAccount, WindowStart: t0.Add(time.Hour),
			WindowEnd: t0.Add(2 * time.Hour)})
		wantCode(t, err, phone.ETooManyCallbacks)

		_, err = h.svc.RequestCallback(h.ctx, h.stranger, phone.CallbackInput{Topic: desk.CategoryAccount, WindowStart: t0.Add(time.Hour),
			WindowEnd: t0.Add(2 * time.Hour)})
		wantCode(t, err, phone.ENoVerifiedPhone)
		for name, in := range map[string]phone.CallbackInput{
			"topic":     {Topic: "gossip", WindowStart: t0.Add(time.Hour), WindowEnd: t0.Add(2 * time.Hour)},
			"short":     {Topic: desk.CategoryAccount, WindowStart: t0.Add(time.Hour), WindowEnd: t0.Add(time.Hour + time.Minute)},
			"past":      {Topic: desk.CategoryAccount, WindowStart: t0.Add(-3 * time.Hour), WindowEnd: t0.Add(-time.Hour)},
			"far":       {Topic: desk.CategoryAccount, WindowStart: t0.Add(30 * 24 * time.Hour), WindowEnd: t0.Add(30*24*time.Hour + time.Hour)},
			"time zone": {Topic: desk.CategoryAccount, WindowStart: t0.Add(time.Hour), WindowEnd: t0.Add(2 * time.Hour), TimeZone: "Mars/Olympus"},
		} {
			if _, err := h.svc.RequestCallback(h.ctx, h.stranger, in); okpay.ErrorCode(err) != okpay.EInvalid {
				t.Errorf("%s: %v, want validation_failed", name, err)
			}
		}
		// The customer sees and cancels their own; another customer
		// cannot.
		_, err = h.svc.CancelCallback(h.ctx, h.stranger, later.ID)
		wantCode(t, err, okpay.ENotFound)
		_, err = h.svc.Callback(h.ctx, h.stranger, later.ID)
		wantCode(t, err, okpay.ENotFound)
		c, err := h.svc.CancelCallback(h.ctx, h.user, later.ID)
		if err != nil || c.State != phone.StateCancelled {
			t.Fatalf("cancel: %+v %v", c, err)
		}
		mine, _ := h.svc.Callbacks(h.ctx, h.user, 0, 0)
		if len(mine) != 3 {
			t.Fatalf("%d callbacks listed", len(mine))
		}
	})
}

// TestCallbackClaimAndOutcome: two agents race to claim one callback, one
// wins; only the claimer logs the outcome; the outcome lands in the
// customer's phone conversation (notes as an internal note); no answer
// queues it again, the third no answer fails it.
func TestCallbackClaimAndOutcome(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		cb := h.request("k", t0.Add(time.Hour))
		const a1, a2 = 901, 902
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = h.svc.Claim(h.ctx, int64(a1+i%2), cb.ID)
			}()
		}
		wg.Wait()
		got, _ := h.svc.FindCallback(h.ctx, cb.ID)
		winner := got.ClaimedBy
		if got.State != phone.StateDialing || (winner != a1 && winner != a2) {
			t.Fatalf("after the race: %+v", got)
		}
		for i, err := range errs {
			if int64(a1+i%2) == winner && err != nil || int64(a1+i%2) != winner && okpay.ErrorCode(err) != phone.EAlreadyClaimed {
				t.Fatalf("claim %d by %d: %v (winner %d)", i, a1+i%2, err, winner)
			}
		}
		loser := int64(a1 + a2 - winner)
		_, err := h.svc.LogOutcome(h.ctx, loser, cb.ID, phone.OutcomeReached, "")
		wantCode(t, err, phone.ENotClaimed)
		_, err = h.svc.CancelCallback(h.ctx, h.user, cb.ID)
		wantCode(t, err, phone.ECallbackClosed)

		c, err := h.svc.LogOutcome(h.ctx, winner, cb.ID, phone.OutcomeNoAnswer, "voicemail")
		if err != nil || c.State != phone.StateQueued || c.Attempts != 1 || c.ConversationID == 0 {
			t.Fatalf("no answer: %+v %v", c, err)
		}
		conv, err := h.desk.Conversation(h.ctx, desk.System, c.ConversationID)
		if err != nil || conv.Channel != desk.ChannelPhone || conv.CustomerID != h.user || conv.Category != desk.CategoryTransaction {
			t.Fatalf("conversation %+v %v", conv, err)
		}
		ms := h.messages(conv.ID)
		if len(ms) != 2 || !strings.Contains(ms[0].Body, "nobody answered") || ms[0].Internal || ms[1].Body != "voicemail" || !ms[1].Internal {
			t.Fatalf("messages %+v", ms)
		}
		for attempt := 2; attempt <= 3; attempt++ {
			if _, err := h.svc.Claim(h.ctx, loser, cb.ID); err != nil {
				t.Fatal(err)
			}
			c, err = h.svc.LogOutcome(h.ctx, loser, cb.ID, phone.OutcomeNoAnswer, "")
			if err != nil {
				t.Fatal(err)
			}
		}
		if c.State != phone.StateFailed || c.Attempts != 3 {
			t.Fatalf("after three unanswered calls: %+v", c)
		}
		_, err = h.svc.Claim(h.ctx, winner, cb.ID)
		wantCode(t, err, phone.ECallbackClosed)
		if ms := h.messages(conv.ID); len(ms) != 4 {
			t.Fatalf("%d messages after three calls", len(ms))
		}

		// Reached: completed, in the same (still open) conversation.
		cb2 := h.request("k2", t0.Add(time.Hour))
		if _, err := h.svc.Claim(h.ctx, winner, cb2.ID); err != nil {
			t.Fatal(err)
		}
		c, err = h.svc.LogOutcome(h.ctx, winner, cb2.ID, phone.OutcomeReached, "")
		if err != nil || c.State != phone.StateCompleted || c.ConversationID != conv.ID {
			t.Fatalf("reached: %+v %v", c, err)
		}
	})
}
