package desk_test

import (
	"testing"
	"time"

	"github.com/okpay/okpay/agent"
	"github.com/okpay/okpay/clock"
	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/desk/realtime"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

func shanghai(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestHoursAcrossSchedule(t *testing.T) {
	loc := shanghai(t)
	sc, err := agent.ParseSchedule("mon-fri 09:00-12:00 13:00-18:00")
	if err != nil {
		t.Fatal(err)
	}
	h := desk.TeamHours(&agent.Team{TimeZone: "Asia/Shanghai", Schedule: sc})
	at := func(d, hh, mm int) time.Time { return time.Date(2026, 3, d, hh, mm, 0, 0, loc) } // 2026-03-06 is a Friday
	for _, tc := range []struct {
		start time.Time
		d     time.Duration
		want  time.Time
	}{
		{at(6, 17, 50), 15 * time.Minute, at(9, 9, 5)},   // Fri 17:50 + 15 min → Mon 09:05
		{at(7, 10, 0), 15 * time.Minute, at(9, 9, 15)},   // Saturday: from Monday's opening
		{at(9, 11, 50), 20 * time.Minute, at(9, 13, 10)}, // over lunch
		{at(9, 8, 0), time.Hour, at(9, 10, 0)},           // before opening
		{at(9, 10, 0), 8 * time.Hour, at(10, 10, 0)},     // a full working day
		{at(9, 10, 0), 0, at(9, 10, 0)},
	} {
		got := h.Add(tc.start, tc.d)
		if !got.Equal(tc.want) {
			t.Errorf("%v + %v = %v, want %v", tc.start, tc.d, got.In(loc), tc.want)
		}
		if tc.d > 0 {
			if back := h.Between(tc.start, got); back != tc.d {
				t.Errorf("between %v and %v = %v, want %v", tc.start, got, back, tc.d)
			}
		}
	}
	// A 24/7 team and an empty schedule count wall-clock time.
	for _, w := range []desk.Hours{desk.TeamHours(&agent.Team{AlwaysOpen: true, Schedule: sc}), desk.TeamHours(&agent.Team{}), desk.TeamHours(nil)} {
		if got := w.Add(at(6, 17, 50), 15*time.Minute); !got.Equal(at(6, 18, 5)) {
			t.Errorf("wall-clock add = %v", got)
		}
	}
}

func timer(t *testing.T, h *harness, conv int64, m desk.SLAMetric) *desk.SLATimer {
	t.Helper()
	list, err := h.svc.SLATimers(h.ctx, desk.System, conv)
	if err != nil {
		t.Fatal(err)
	}
	for i := range list {
		if list[i].Metric == m {
			return &list[i]
		}
	}
	return nil
}

func TestSLABusinessHoursDue(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		loc := shanghai(t)
		h := newHarness(t, db)
		h.clock.Set(time.Date(2026, 3, 6, 17, 50, 0, 0, loc)) // Friday
		// A transaction question goes to payments (mon-fri 09:00-18:00
		// Shanghai); normal priority: 15 business minutes.
		c := h.startLang(2001, desk.CategoryTransaction, i18n.En)
		fr := timer(t, h, c.ID, desk.SLAFirstResponse)
		if fr == nil || fr.Policy != "normal" {
			t.Fatalf("first response timer %+v", fr)
		}
		if want := time.Date(2026, 3, 9, 9, 5, 0, 0, loc); !fr.DueAt.Equal(want) {
			t.Fatalf("due %v, want %v", fr.DueAt.In(loc), want)
		}
		if want := time.Date(2026, 3, 9, 9, 1, 15, 0, loc); !fr.WarnAt.Equal(want) {
			t.Fatalf("warn %v, want %v", fr.WarnAt.In(loc), want)
		}
		if timer(t, h, c.ID, desk.SLAResolution) == nil || timer(t, h, c.ID, desk.SLANextResponse) != nil {
			t.Fatal("want a resolution timer and no next-response timer")
		}
		// The weekend passes: nothing is breached before Monday.
		h.clock.Set(time.Date(2026, 3, 9, 8, 59, 0, 0, loc))
		if r, err := h.svc.SweepSLA(h.ctx); err != nil || r.Warned+r.Breached != 0 {
			t.Fatalf("sweep on Monday morning: %+v, %v", r, err)
		}
	})
}

// TestSLATeamHoursFollowChanges: a team's parsed hours are kept between
// conversations, yet a change of the team (its schedule, always-open
// flag or zone) counts for the next conversation at once; an unreadable
// schedule counts wall-clock time.
func TestSLATeamHoursFollowChanges(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		loc := shanghai(t)
		h := newHarness(t, db)
		friday := time.Date(2026, 3, 6, 17, 50, 0, 0, loc)
		h.clock.Set(friday)
		due := func(customer int64) time.Time {
			t.Helper()
			c := h.startLang(customer, desk.CategoryTransaction, i18n.En)
			fr := timer(t, h, c.ID, desk.SLAFirstResponse)
			if fr == nil {
				t.Fatal("no first response timer")
			}
			// Both timers of a start count in the same hours.
			if res := timer(t, h, c.ID, desk.SLAResolution); res == nil || res.StartedAt != fr.StartedAt {
				t.Fatalf("resolution timer %+v", res)
			}
			return fr.DueAt
		}
		team := func(q string) {
			t.Helper()
			if _, err := db.Write.ExecContext(h.ctx, `UPDATE agent_teams SET `+q+` WHERE name = 'payments'`); err != nil {
				t.Fatal(err)
			}
		}
		monday := time.Date(2026, 3, 9, 9, 5, 0, 0, loc)
		for i, want := range []time.Time{monday, monday} { // the second from the kept hours
			if got := due(3001 + int64(i)); !got.Equal(want) {
				t.Fatalf("start %d: due %v, want %v", i+1, got.In(loc), want)
			}
		}
		team(`schedule = 'mon-sat 09:00-18:00'`)
		if got, want := due(3003), time.Date(2026, 3, 7, 9, 5, 0, 0, loc); !got.Equal(want) {
			t.Fatalf("after the schedule changed: due %v, want %v", got.In(loc), want)
		}
		team(`time_zone = 'UTC'`) // 17:50 Shanghai is 09:50 UTC: working time
		if got, want := due(3004), friday.Add(15*time.Minute); !got.Equal(want) {
			t.Fatalf("after the zone changed: due %v, want %v", got.In(loc), want)
		}
		team(`time_zone = 'Asia/Shanghai', always_open = 1`)
		if got, want := due(3005), friday.Add(15*time.Minute); !got.Equal(want) {
			t.Fatalf("always open: due %v, want %v", got.In(loc), want)
		}
		team(`always_open = 0, schedule = 'someday 9-5'`)
		if got, want := due(3006), friday.Add(15*time.Minute); !got.Equal(want) {
			t.Fatalf("unreadable schedule: due %v, want %v", got.In(loc), want)
		}
		team(`schedule = 'mon-fri 09:00-18:00'`)
		if got := due(3007); !got.Equal(monday) {
			t.Fatalf("back to the seeded schedule: due %v, want %v", got.In(loc), monday)
		}
	})
}

func TestSLAWarnBreachMet(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		// An urgent conversation (general is 24/7): 5 min first response.
		c, err := h.svc.StartConversation(h.ctx, desk.System, desk.StartInput{Category: desk.CategoryAccount, Priority: desk.PriorityUrgent, CustomerID: alice, Body: "my account"})
		if err != nil {
			t.Fatal(err)
		}
		fr := timer(t, h, c.ID, desk.SLAFirstResponse)
		if fr.Policy != "urgent" || !fr.DueAt.Equal(t0.Add(5*time.Minute)) || !fr.WarnAt.Equal(t0.Add(225*time.Second)) {
			t.Fatalf("timer %+v", fr)
		}
		staff, cancel := h.bus.Subscribe(desk.StaffTopic(c.ID))
		defer cancel()

		h.clock.Advance(3 * time.Minute)
		if r, err := h.svc.SweepSLA(h.ctx); err != nil || r.Warned != 0 {
			t.Fatalf("early sweep %+v %v", r, err)
		}
		h.clock.Advance(time.Minute) // 4 min: past 75 %
		if r, err := h.svc.SweepSLA(h.ctx); err != nil || r.Warned != 1 || r.Breached != 0 {
			t.Fatalf("warn sweep %+v %v", r, err)
		}
		if r, _ := h.svc.SweepSLA(h.ctx); r.Warned != 0 {
			t.Fatal("warned twice")
		}
		soon, err := h.svc.Conversations(h.ctx, desk.System, desk.ConversationFilter{SLA: desk.SLAFilterDueSoon})
		if err != nil || len(soon) != 1 || soon[0].ID != c.ID {
			t.Fatalf("due soon: %v %v", soon, err)
		}
		if fr := timer(t, h, c.ID, desk.SLAFirstResponse); fr.WarnedAt.IsZero() || fr.State(h.clock.Now()) != desk.SLAWarning {
			t.Fatalf("after warning %+v", fr)
		}

		h.clock.Advance(2 * time.Minute) // 6 min: breached
		if r, err := h.svc.SweepSLA(h.ctx); err != nil || r.Breached != 1 {
			t.Fatalf("breach sweep %+v %v", r, err)
		}
		breached, err := h.svc.Conversations(h.ctx, desk.System, desk.ConversationFilter{SLA: desk.SLAFilterBreached})
		if err != nil || len(breached) != 1 {
			t.Fatalf("breached: %v %v", breached, err)
		}
		if soon, _ := h.svc.Conversations(h.ctx, desk.System, desk.ConversationFilter{SLA: desk.SLAFilterDueSoon}); len(soon) != 0 {
			t.Fatalf("still due soon: %v", soon)
		}
		var kinds []string
		for _, e := range drain(staff) {
			kinds = append(kinds, e.Type)
		}
		if len(kinds) != 2 || kinds[0] != desk.EventSLA || kinds[1] != desk.EventSLA {
			t.Fatalf("staff events %v, want two sla events", kinds)
		}
		hist, err := h.svc.History(h.ctx, desk.System, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, a := range hist {
			if a.Kind == "sla_warning" || a.Kind == "sla_breached" {
				got = append(got, a.Kind)
			}
		}
		if len(got) != 2 || got[0] != "sla_warning" || got[1] != "sla_breached" {
			t.Fatalf("history %v", got)
		}

		// The agent replies late: met, not compliant.
		h.send(desk.Agent(agentA), c.ID, "hello")
		fr = timer(t, h, c.ID, desk.SLAFirstResponse)
		if fr.MetAt.IsZero() || fr.Compliant() || fr.State(h.clock.Now()) != desk.SLAMetLate {
			t.Fatalf("late reply %+v", fr)
		}
		// An internal note starts nothing; the customer's answer starts a
		// next-response cycle, met in time by the agent.
		h.send(desk.Customer(alice), c.ID, "still broken")
		nr := timer(t, h, c.ID, desk.SLANextResponse)
		if nr == nil || !nr.StartedAt.Equal(h.clock.Now()) || !nr.DueAt.Equal(h.clock.Now().Add(10*time.Minute)) {
			t.Fatalf("next response %+v", nr)
		}
		h.send(desk.Customer(alice), c.ID, "hello?") // the cycle runs already
		if again := timer(t, h, c.ID, desk.SLANextResponse); !again.StartedAt.Equal(nr.StartedAt) {
			t.Fatal("a second customer message restarted the cycle")
		}
		h.clock.Advance(time.Minute)
		h.note(desk.Agent(agentA), c.ID, "checking")
		if timer(t, h, c.ID, desk.SLANextResponse).MetAt.IsZero() == false {
			t.Fatal("an internal note met the next response")
		}
		h.send(desk.Agent(agentA), c.ID, "fixed")
		if nr := timer(t, h, c.ID, desk.SLANextResponse); !nr.Compliant() {
			t.Fatalf("next response not compliant %+v", nr)
		}
		if breached, _ := h.svc.Conversations(h.ctx, desk.System, desk.ConversationFilter{SLA: desk.SLAFilterBreached}); len(breached) != 0 {
			t.Fatalf("still breached: %v", breached)
		}

		// Resolution pauses while pending and resumes later.
		res := timer(t, h, c.ID, desk.SLAResolution)
		if _, err := h.svc.SetStatus(h.ctx, desk.Agent(agentA), c.ID, desk.StatusPending, time.Time{}); err != nil {
			t.Fatal(err)
		}
		if p := timer(t, h, c.ID, desk.SLAResolution); p.PausedAt.IsZero() || p.State(h.clock.Now()) != desk.SLAPaused {
			t.Fatalf("not paused %+v", p)
		}
		h.clock.Advance(time.Hour)
		h.send(desk.Customer(alice), c.ID, "back") // reopens
		resumed := timer(t, h, c.ID, desk.SLAResolution)
		if !resumed.PausedAt.IsZero() || !resumed.DueAt.Equal(res.DueAt.Add(time.Hour)) {
			t.Fatalf("resumed %+v, was due %v", resumed, res.DueAt)
		}
		if _, err := h.svc.SetStatus(h.ctx, desk.Agent(agentA), c.ID, desk.StatusResolved, time.Time{}); err != nil {
			t.Fatal(err)
		}
		if r := timer(t, h, c.ID, desk.SLAResolution); !r.Compliant() {
			t.Fatalf("resolution %+v", r)
		}
		// Reopening starts a new resolution cycle.
		h.clock.Advance(time.Minute)
		h.send(desk.Customer(alice), c.ID, "again")
		if r := timer(t, h, c.ID, desk.SLAResolution); !r.MetAt.IsZero() || !r.StartedAt.Equal(h.clock.Now()) {
			t.Fatalf("new resolution cycle %+v", r)
		}
	})
}

func TestSLASurvivesRestart(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		c := h.startLang(2001, desk.CategoryAccount, i18n.En) // normal: 15 min, general is 24/7
		// The node stops; another starts over the same database.
		clk := clock.NewManual(t0.Add(20 * time.Minute))
		svc2, err := desk.New(desk.Deps{DB: db, Clock: clk, IDs: h.svc.IDs, Bus: realtime.NewMemory(0)}, desk.Config{})
		if err != nil {
			t.Fatal(err)
		}
		r, err := svc2.SweepSLA(h.ctx)
		if err != nil || r.Breached != 1 {
			t.Fatalf("sweep after restart %+v %v", r, err)
		}
		list, err := svc2.SLATimers(h.ctx, desk.System, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 2 || list[0].Metric != desk.SLAFirstResponse || list[0].BreachedAt.IsZero() || !list[0].DueAt.Equal(t0.Add(15*time.Minute)) {
			t.Fatalf("timers after restart %+v", list)
		}
		if list[1].Metric != desk.SLAResolution || !list[1].BreachedAt.IsZero() {
			t.Fatalf("resolution timer %+v", list[1])
		}
	})
}

func TestSLABackfill(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		c := h.startLang(2001, desk.CategoryAccount, i18n.En)
		// A conversation without timers (started before routing existed).
		if _, err := db.Write.ExecContext(h.ctx, `DELETE FROM desk_sla_timers WHERE conversation_id = $1`, c.ID); err != nil {
			t.Fatal(err)
		}
		h.clock.Advance(time.Minute)
		r, err := h.svc.SweepSLA(h.ctx)
		if err != nil || r.Started != 1 {
			t.Fatalf("sweep %+v %v", r, err)
		}
		fr := timer(t, h, c.ID, desk.SLAFirstResponse)
		if fr == nil || !fr.StartedAt.Equal(t0) || !fr.DueAt.Equal(t0.Add(15*time.Minute)) {
			t.Fatalf("backfilled %+v", fr)
		}
		if _, err := h.svc.SLATimers(h.ctx, desk.Customer(alice), c.ID); err == nil {
			t.Fatal("a customer read the timers")
		}
	})
}

func TestSLALabels(t *testing.T) {
	cat, err := i18n.New()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []i18n.Lang{i18n.En, i18n.ZhCN} {
		seen := map[string]bool{}
		for _, m := range []desk.SLAMetric{desk.SLAFirstResponse, desk.SLANextResponse, desk.SLAResolution} {
			seen[desk.SLAMetricLabel(cat, l, m)] = true
		}
		for _, st := range []desk.SLATimerState{desk.SLARunning, desk.SLAPaused, desk.SLAWarning, desk.SLABreached, desk.SLAMet, desk.SLAMetLate} {
			seen[desk.SLAStateLabel(cat, l, st)] = true
		}
		if len(seen) != 9 {
			t.Errorf("%s: %d distinct labels, want 9", l, len(seen))
		}
		for s := range seen {
			if len(s) >= len("routing.") && s[:len("routing.")] == "routing." {
				t.Errorf("%s: untranslated %q", l, s)
			}
		}
	}
}
