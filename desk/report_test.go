package desk_test

import (
	"testing"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

func TestSummarize(t *testing.T) {
	m := time.Minute
	if d := desk.Summarize(nil); d.Count != 0 || d.Median != 0 {
		t.Fatalf("empty: %+v", d)
	}
	var ds []time.Duration
	for i := 10; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*m)
	}
	if d := desk.Summarize(ds); d.Count != 10 || d.Median != 5*m || d.P90 != 9*m {
		t.Fatalf("1..10 min: %+v", d)
	}
	if d := desk.Summarize([]time.Duration{7 * m}); d.Median != 7*m || d.P90 != 7*m {
		t.Fatalf("one: %+v", d)
	}
	if ds[0] != 10*m {
		t.Fatal("Summarize sorted its argument")
	}
}

// seedReport fills a desk for the report tests: over two days, three
// general conversations (answered after 2, 4 and 10 minutes, two resolved
// and rated 5 and 2) and one payments conversation, SLA timers (met in
// time, met late, breached, running), and one conversation outside the
// period. It returns the start of the period.
func seedReport(t *testing.T, h *harness) time.Time {
	t.Helper()
	day := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	h.clock.Set(day.Add(-24*time.Hour + time.Hour)) // the day before: outside
	h.start(desk.Customer(bob), desk.CategoryAccount, "too early")

	h.clock.Set(day.Add(9 * time.Hour))
	a := h.start(desk.Customer(alice), desk.CategoryAccount, "a")
	b := h.start(desk.Customer(bob), desk.CategoryTechnical, "b")
	h.clock.Advance(2 * time.Minute)
	h.send(desk.Agent(agentA), a.ID, "hi a")
	h.clock.Advance(2 * time.Minute)
	h.send(desk.Agent(agentA), b.ID, "hi b")
	h.clock.Advance(26 * time.Minute) // a resolved after 30 min
	h.svc.SetStatus(h.ctx, desk.Agent(agentA), a.ID, desk.StatusResolved, time.Time{})
	h.clock.Advance(30 * time.Minute) // b after 1 h
	h.svc.SetStatus(h.ctx, desk.Agent(agentA), b.ID, desk.StatusResolved, time.Time{})
	if _, err := h.svc.Rate(h.ctx, desk.Customer(alice), a.ID, 5, "great"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.Rate(h.ctx, desk.Customer(bob), b.ID, 2, ""); err != nil {
		t.Fatal(err)
	}

	h.clock.Set(day.Add(24*time.Hour + 8*time.Hour)) // the next day
	c := h.start(desk.Visitor(visitor), desk.CategoryAccount, "c")
	p := h.start(desk.Customer(alice), desk.CategoryTransaction, "payments")
	h.clock.Advance(10 * time.Minute)
	h.send(desk.Agent(agentB), c.ID, "hi c")
	h.svc.SetStatus(h.ctx, desk.Agent(agentB), c.ID, desk.StatusResolved, time.Time{}) // resolved, not rated

	// The timers the desk started are replaced by known ones.
	if _, err := h.db.Write.ExecContext(h.ctx, `DELETE FROM desk_sla_timers`); err != nil {
		t.Fatal(err)
	}
	us := func(d time.Duration) int64 { return day.Add(d).UnixMicro() }
	timer := func(conv int64, metric string, started, due, breached, met time.Duration) {
		t.Helper()
		if _, err := h.db.Write.ExecContext(h.ctx, `INSERT INTO desk_sla_timers (conversation_id, metric, policy, started_at, due_at, breached_at, met_at)
			VALUES ($1, $2, 'default', $3, $4, $5, $6)`, conv, metric, us(started), us(due), func() int64 {
			if breached == 0 {
				return 0
			}
			return us(breached)
		}(), func() int64 {
			if met == 0 {
				return 0
			}
			return us(met)
		}()); err != nil {
			t.Fatal(err)
		}
	}
	h9 := 9 * time.Hour
	timer(a.ID, "first_response", h9, h9+5*time.Minute, 0, h9+2*time.Minute)                               // met
	timer(b.ID, "first_response", h9, h9+3*time.Minute, h9+3*time.Minute, h9+4*time.Minute)                // met late
	timer(c.ID, "first_response", 32*time.Hour, 32*time.Hour+5*time.Minute, 0, 32*time.Hour+5*time.Minute) // met on the dot
	timer(a.ID, "resolution", h9, h9+time.Hour, 0, h9+30*time.Minute)                                      // met
	timer(b.ID, "resolution", h9, h9+30*time.Minute, h9+30*time.Minute, 0)                                 // breached
	timer(c.ID, "resolution", 32*time.Hour, 40*time.Hour, 0, 0)                                            // running
	timer(p.ID, "first_response", 32*time.Hour, 32*time.Hour+time.Minute, 32*time.Hour+time.Minute, 0)     // payments: breached
	return day
}

// TestReport: volume per day, channel and category; first-response and
// resolution times; SLA compliance per metric; CSAT; one team.
func TestReport(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		day := seedReport(t, h)
		q := desk.ReportQuery{From: day, To: day.Add(7 * 24 * time.Hour)}
		rep, err := h.svc.Report(h.ctx, desk.Agent(agentA), q)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Total != 4 || len(rep.Days) != 7 || rep.Days[0].Count != 2 || rep.Days[1].Count != 2 || rep.Days[2].Count != 0 || !rep.Days[1].Day.Equal(day.Add(24*time.Hour)) {
			t.Fatalf("volume: total %d days %+v", rep.Total, rep.Days)
		}
		if rep.ByChannel[desk.ChannelChat] != 4 || rep.ByCategory[desk.CategoryAccount] != 2 || rep.ByCategory[desk.CategoryTechnical] != 1 || rep.ByCategory[desk.CategoryTransaction] != 1 {
			t.Fatalf("by channel %v by category %v", rep.ByChannel, rep.ByCategory)
		}
		if f := rep.FirstResponse; f.Count != 3 || f.Median != 4*time.Minute || f.P90 != 10*time.Minute {
			t.Fatalf("first response %+v", f)
		}
		if r := rep.Resolution; r.Count != 3 || r.Median != 30*time.Minute || r.P90 != time.Hour {
			t.Fatalf("resolution %+v", r)
		}
		want := map[string][3]int{"first_response": {2, 2, 0}, "next_response": {0, 0, 0}, "resolution": {1, 1, 1}}
		for _, c := range rep.SLA {
			if w := want[c.Metric]; [3]int{c.Met, c.Breached, c.Running} != w {
				t.Errorf("SLA %s: met %d breached %d running %d, want %v", c.Metric, c.Met, c.Breached, c.Running, w)
			}
		}
		if rep.SLA[0].Percent() != 50 || rep.SLA[1].Percent() != -1 || rep.SLA[2].Percent() != 50 {
			t.Errorf("SLA percents %d %d %d", rep.SLA[0].Percent(), rep.SLA[1].Percent(), rep.SLA[2].Percent())
		}
		cs := rep.CSAT
		if cs.Ratings != 2 || cs.Distribution != [5]int{0, 1, 0, 0, 1} || cs.AverageX100 != 350 || cs.Resolved != 3 || cs.Rated != 2 || cs.ResponsePercent() != 67 {
			t.Fatalf("CSAT %+v (response %d%%)", cs, cs.ResponsePercent())
		}

		// One team: payments.
		q.Team = desk.TeamPayments
		rep, err = h.svc.Report(h.ctx, desk.Agent(agentA), q)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Total != 1 || rep.FirstResponse.Count != 0 || rep.SLA[0].Breached != 1 || rep.SLA[0].Met != 0 || rep.CSAT.Ratings != 0 || rep.CSAT.ResponsePercent() != -1 {
			t.Fatalf("payments: %+v", rep)
		}
		// Only staff; a bad period.
		_, err = h.svc.Report(h.ctx, desk.Customer(alice), q)
		wantCode(t, err, okpay.EForbidden)
		_, err = h.svc.Report(h.ctx, desk.Agent(agentA), desk.ReportQuery{From: day, To: day})
		wantCode(t, err, okpay.EInvalid)

		// The response rate counts resolutions: a, rated, is reopened and
		// resolved again; its first resolution stays rated, the second is
		// one more resolution, not rated until its customer rates it.
		q.Team = ""
		h.clock.Advance(time.Hour)
		for _, st := range []desk.Status{desk.StatusOpen, desk.StatusResolved} {
			if _, err := h.svc.SetStatus(h.ctx, desk.Agent(agentA), seededA(t, h), st, time.Time{}); err != nil {
				t.Fatal(err)
			}
			h.clock.Advance(time.Minute)
		}
		csat := func() desk.CSATSummary {
			t.Helper()
			rep, err := h.svc.Report(h.ctx, desk.Agent(agentA), q)
			if err != nil {
				t.Fatal(err)
			}
			return rep.CSAT
		}
		if cs := csat(); cs.Resolved != 4 || cs.Rated != 2 || cs.Ratings != 2 || cs.ResponsePercent() != 50 {
			t.Fatalf("after resolving a again: CSAT %+v", cs)
		}
		if _, err := h.svc.Rate(h.ctx, desk.Customer(alice), seededA(t, h), 4, ""); err != nil {
			t.Fatal(err)
		}
		if cs := csat(); cs.Resolved != 4 || cs.Rated != 3 || cs.Ratings != 3 || cs.ResponsePercent() != 75 {
			t.Fatalf("after rating a's second resolution: CSAT %+v", cs)
		}
	})
}

// seededA returns the id of seedReport's conversation a (alice's only
// account conversation).
func seededA(t *testing.T, h *harness) int64 {
	t.Helper()
	var id int64
	if err := h.db.Read.QueryRowContext(h.ctx, `SELECT id FROM desk_conversations WHERE customer_id = $1 AND category = 'account'`, alice).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}
