package desk_test

import (
	"testing"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

// TestCSAT: a resolved conversation is rated once per resolution by its
// own customer only; a retry of the same rating replays, a different one
// is refused; reopened and resolved again, it may be rated again.
func TestCSAT(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		c := h.start(desk.Customer(alice), desk.CategoryAccount, "help")
		h.send(desk.Agent(agentA), c.ID, "done")

		// Not resolved yet: nothing to rate.
		sv, err := h.svc.CSATSurvey(h.ctx, desk.Customer(alice), c.ID)
		if err != nil || sv.Due || sv.Rating != nil {
			t.Fatalf("survey before resolution: %+v %v", sv, err)
		}
		_, err = h.svc.Rate(h.ctx, desk.Customer(alice), c.ID, 5, "")
		wantCode(t, err, desk.ECSATNotDue)

		h.clock.Advance(time.Minute)
		if _, err := h.svc.SetStatus(h.ctx, desk.Agent(agentA), c.ID, desk.StatusResolved, time.Time{}); err != nil {
			t.Fatal(err)
		}
		if sv, _ = h.svc.CSATSurvey(h.ctx, desk.Customer(alice), c.ID); !sv.Due {
			t.Fatalf("survey after resolution not due: %+v", sv)
		}
		// BOLA: another customer, a visitor and an agent cannot rate it.
		_, err = h.svc.Rate(h.ctx, desk.Customer(bob), c.ID, 1, "")
		wantCode(t, err, okpay.ENotFound)
		_, err = h.svc.CSATSurvey(h.ctx, desk.Customer(bob), c.ID)
		wantCode(t, err, okpay.ENotFound)
		_, err = h.svc.Rate(h.ctx, desk.Visitor(visitor), c.ID, 1, "")
		wantCode(t, err, okpay.ENotFound)
		_, err = h.svc.Rate(h.ctx, desk.Agent(agentA), c.ID, 5, "")
		wantCode(t, err, okpay.EForbidden)
		// Validation.
		for _, bad := range []int{0, 6, -1} {
			_, err = h.svc.Rate(h.ctx, desk.Customer(alice), c.ID, bad, "")
			wantCode(t, err, okpay.EInvalid)
		}

		r, err := h.svc.Rate(h.ctx, desk.Customer(alice), c.ID, 4, "  quick\x00 answer ")
		if err != nil {
			t.Fatal(err)
		}
		if r.Score != 4 || r.Comment != "quick answer" || r.Replayed || r.Rater != desk.KindCustomer {
			t.Fatalf("rating %+v", r)
		}
		again, err := h.svc.Rate(h.ctx, desk.Customer(alice), c.ID, 4, "quick answer")
		if err != nil || !again.Replayed || again.Score != 4 {
			t.Fatalf("retry: %+v %v", again, err)
		}
		_, err = h.svc.Rate(h.ctx, desk.Customer(alice), c.ID, 1, "changed my mind")
		wantCode(t, err, desk.ECSATAlreadyRated)
		if sv, _ = h.svc.CSATSurvey(h.ctx, desk.Customer(alice), c.ID); sv.Due || sv.Rating == nil || sv.Rating.Score != 4 {
			t.Fatalf("survey after rating: %+v", sv)
		}

		// The customer writes again: reopened, not due; resolved again: due.
		h.clock.Advance(time.Hour)
		h.send(desk.Customer(alice), c.ID, "one more thing")
		if sv, _ = h.svc.CSATSurvey(h.ctx, desk.Customer(alice), c.ID); sv.Due {
			t.Fatalf("reopened conversation due: %+v", sv)
		}
		h.clock.Advance(time.Minute)
		if _, err := h.svc.SetStatus(h.ctx, desk.Customer(alice), c.ID, desk.StatusResolved, time.Time{}); err != nil {
			t.Fatal(err)
		}
		if sv, _ = h.svc.CSATSurvey(h.ctx, desk.Customer(alice), c.ID); !sv.Due {
			t.Fatalf("second resolution not due: %+v", sv)
		}
		// A request for one resolution (a rating link by email) rates only
		// that one: not the first resolution's, nor none.
		_, err = h.svc.RateResolution(h.ctx, desk.Customer(alice), c.ID, r.ResolvedAt, 2, "")
		wantCode(t, err, desk.ECSATNotDue)
		_, err = h.svc.RateResolution(h.ctx, desk.Customer(alice), c.ID, time.Time{}, 2, "")
		wantCode(t, err, desk.ECSATNotDue)
		cur, err := h.svc.Conversation(h.ctx, desk.System, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if r2, err := h.svc.RateResolution(h.ctx, desk.Customer(alice), c.ID, cur.ResolvedAt, 2, ""); err != nil || r2.Score != 2 || !r2.ResolvedAt.Equal(cur.ResolvedAt) {
			t.Fatalf("rate the current resolution: %+v %v", r2, err)
		}
		// Closed after resolution: still the same resolution, rated.
		if _, err := h.svc.SetStatus(h.ctx, desk.Agent(agentA), c.ID, desk.StatusClosed, time.Time{}); err != nil {
			t.Fatal(err)
		}
		_, err = h.svc.Rate(h.ctx, desk.Customer(alice), c.ID, 5, "")
		wantCode(t, err, desk.ECSATAlreadyRated)

		all, err := h.svc.Ratings(h.ctx, desk.Agent(agentA), c.ID)
		if err != nil || len(all) != 2 || all[0].Score != 4 || all[1].Score != 2 {
			t.Fatalf("ratings %+v %v", all, err)
		}
		_, err = h.svc.Ratings(h.ctx, desk.Customer(alice), c.ID)
		wantCode(t, err, okpay.EForbidden)

		// A visitor rates their own conversation.
		vc := h.start(desk.Visitor(visitor), desk.CategoryTechnical, "hi")
		h.svc.SetStatus(h.ctx, desk.Agent(agentA), vc.ID, desk.StatusResolved, time.Time{})
		if r, err := h.svc.Rate(h.ctx, desk.Visitor(visitor), vc.ID, 5, ""); err != nil || r.Rater != desk.KindVisitor {
			t.Fatalf("visitor rating %+v %v", r, err)
		}
	})
}

// TestChatRateLimits: visitors are limited per visitor id and per
// address, customers per account with looser limits; the window ends and
// the limit lifts.
func TestChatRateLimits(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		h.clock.Set(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
		l := desk.NewLimiter(h.svc, desk.RateLimits{VisitorIPStarts: desk.Rate{N: 7, Window: time.Hour}})
		v1 := desk.Visitor(visitor)
		for i := 0; i < 5; i++ {
			if err := l.Allow(h.ctx, v1, "192.0.2.1", desk.ActionStart); err != nil {
				t.Fatalf("start %d: %v", i+1, err)
			}
		}
		err := l.Allow(h.ctx, v1, "192.0.2.1", desk.ActionStart)
		wantCode(t, err, desk.ERateLimited)
		if rl := err.(*desk.RateLimitError); rl.RetryAfter != time.Hour {
			t.Fatalf("retry after %v", rl.RetryAfter)
		}
		// Another visitor from the same address: the address allows 7.
		v2 := desk.Visitor("vis_other_visitor_0123456789")
		// (the refused start counted: this is the 7th)
		if err := l.Allow(h.ctx, v2, "192.0.2.1", desk.ActionStart); err != nil {
			t.Fatalf("the address's 7th start: %v", err)
		}
		wantCode(t, l.Allow(h.ctx, desk.Visitor("vis_fourth_visitor_0123456789"), "192.0.2.1", desk.ActionStart), desk.ERateLimited)
		if err := l.Allow(h.ctx, desk.Visitor("vis_third_visitor_0123456789"), "192.0.2.2", desk.ActionStart); err != nil {
			t.Fatalf("another address: %v", err)
		}
		// IPv6: one /64 is one address.
		for i := 0; i < 7; i++ {
			l.Allow(h.ctx, desk.Viewer{Kind: desk.KindVisitor}, "2001:db8::"+string(rune('1'+i)), desk.ActionStart)
		}
		wantCode(t, l.Allow(h.ctx, desk.Viewer{Kind: desk.KindVisitor}, "2001:db8::ffff", desk.ActionStart), desk.ERateLimited)

		// Messages: 30 a minute for a visitor, 120 for a customer.
		h.clock.Advance(90 * time.Second) // 09:01:30
		for i := 0; i < 30; i++ {
			if err := l.Allow(h.ctx, v2, "198.51.100.1", desk.ActionMessage); err != nil {
				t.Fatalf("message %d: %v", i+1, err)
			}
		}
		err = l.Allow(h.ctx, v2, "198.51.100.1", desk.ActionMessage)
		wantCode(t, err, desk.ERateLimited)
		if rl := err.(*desk.RateLimitError); rl.RetryAfter != 30*time.Second {
			t.Fatalf("retry after %v", rl.RetryAfter)
		}
		cust := desk.Customer(alice)
		for i := 0; i < 120; i++ {
			if err := l.Allow(h.ctx, cust, "198.51.100.1", desk.ActionMessage); err != nil {
				t.Fatalf("customer message %d: %v", i+1, err)
			}
		}
		wantCode(t, l.Allow(h.ctx, cust, "198.51.100.1", desk.ActionMessage), desk.ERateLimited)
		// Staff are not limited.
		if err := l.Allow(h.ctx, desk.Agent(agentA), "198.51.100.1", desk.ActionMessage); err != nil {
			t.Fatal(err)
		}
		// The next window.
		h.clock.Advance(30 * time.Second)
		if err := l.Allow(h.ctx, v2, "198.51.100.1", desk.ActionMessage); err != nil {
			t.Fatalf("next minute: %v", err)
		}
		if err := l.Allow(h.ctx, cust, "198.51.100.1", desk.ActionMessage); err != nil {
			t.Fatalf("next minute: %v", err)
		}
		h.clock.Advance(48 * time.Hour)
		if err := l.Sweep(h.ctx); err != nil {
			t.Fatal(err)
		}
		var n int
		db.Read.QueryRowContext(h.ctx, `SELECT COUNT(*) FROM desk_rate_counters`).Scan(&n)
		if n != 0 {
			t.Fatalf("%d counters after the sweep", n)
		}
	})
}
