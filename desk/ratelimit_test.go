package desk_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

// TestChatRateLimitsAcrossNodes: two limiters over one database are two
// nodes. Starts (hourly) hold across them through the database; messages
// (per minute) are counted in each node's memory and never touch the
// database; a client already past a limit on a node is refused there
// without adding to the database's count.
func TestChatRateLimitsAcrossNodes(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		h.clock.Set(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
		n1 := desk.NewLimiter(h.svc, desk.RateLimits{})
		n2 := desk.NewLimiter(h.svc, desk.RateLimits{})
		counter := func(key string) int {
			t.Helper()
			var n int
			if err := db.Read.QueryRowContext(h.ctx, `SELECT COALESCE(SUM(count), 0) FROM desk_rate_counters WHERE key = $1`, key).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		v := desk.Visitor("vis_nodes_visitor_0123456789")
		// Starts: 5 an hour per visitor, over both nodes together.
		for i, l := range []*desk.Limiter{n1, n1, n1, n2, n2} {
			if err := l.Allow(h.ctx, v, fmt.Sprintf("192.0.2.%d", 10+i), desk.ActionStart); err != nil {
				t.Fatalf("start %d: %v", i+1, err)
			}
		}
		wantCode(t, n1.Allow(h.ctx, v, "192.0.2.20", desk.ActionStart), desk.ERateLimited)
		wantCode(t, n2.Allow(h.ctx, v, "192.0.2.21", desk.ActionStart), desk.ERateLimited)
		if got := counter("start:v:" + v.VisitorID); got != 7 {
			t.Fatalf("database count of the visitor's starts: %d, want 7", got)
		}
		// A third node where the visitor keeps trying: its own count
		// passes the limit after 5 and the rest stay off the database.
		n3 := desk.NewLimiter(h.svc, desk.RateLimits{})
		w := desk.Visitor("vis_eager_visitor_0123456789")
		for i := range 9 {
			err := n3.Allow(h.ctx, w, "", desk.ActionStart)
			if i < 5 && err != nil {
				t.Fatalf("start %d: %v", i+1, err)
			}
			if i >= 5 {
				wantCode(t, err, desk.ERateLimited)
			}
		}
		if got := counter("start:v:" + w.VisitorID); got != 5 {
			t.Fatalf("database count after 9 tries on one node: %d, want 5", got)
		}

		// Messages: 30 a minute per visitor on each node, in memory.
		for _, l := range []*desk.Limiter{n1, n2} {
			for i := range 30 {
				if err := l.Allow(h.ctx, v, "198.51.100.7", desk.ActionMessage); err != nil {
					t.Fatalf("message %d: %v", i+1, err)
				}
			}
			err := l.Allow(h.ctx, v, "198.51.100.7", desk.ActionMessage)
			wantCode(t, err, desk.ERateLimited)
			if rl := err.(*desk.RateLimitError); rl.RetryAfter != time.Minute {
				t.Fatalf("retry after %v", rl.RetryAfter)
			}
		}
		var rows int
		if err := db.Read.QueryRowContext(h.ctx, `SELECT COUNT(*) FROM desk_rate_counters WHERE key LIKE 'message:%'`).Scan(&rows); err != nil {
			t.Fatal(err)
		}
		if rows != 0 {
			t.Fatalf("%d message counters in the database", rows)
		}
		// The next minute lifts the message limit; the hour's start limit
		// stays.
		h.clock.Advance(time.Minute)
		if err := n1.Allow(h.ctx, v, "198.51.100.7", desk.ActionMessage); err != nil {
			t.Fatalf("next minute: %v", err)
		}
		wantCode(t, n2.Allow(h.ctx, v, "192.0.2.22", desk.ActionStart), desk.ERateLimited)
		// Sweep forgets ended windows; the limits still hold after it.
		h.clock.Advance(time.Hour)
		if err := n1.Sweep(h.ctx); err != nil {
			t.Fatal(err)
		}
		if err := n1.Allow(h.ctx, v, "192.0.2.23", desk.ActionStart); err != nil {
			t.Fatalf("the next hour: %v", err)
		}
	})
}

// TestChatRateLimitsConcurrent: concurrent messages of one customer on
// one node are counted exactly (no lost updates): 120 allowed of 200.
func TestChatRateLimitsConcurrent(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		l := desk.NewLimiter(h.svc, desk.RateLimits{})
		var wg sync.WaitGroup
		var mu sync.Mutex
		allowed := 0
		for range 200 {
			wg.Go(func() {
				if l.Allow(h.ctx, desk.Customer(alice), "198.51.100.9", desk.ActionMessage) == nil {
					mu.Lock()
					allowed++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if allowed != 120 {
			t.Fatalf("%d of 200 allowed, want 120", allowed)
		}
	})
}
