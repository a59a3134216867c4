package desk_test

import (
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

// addAgent creates an agent row (package agent's table) in teams,
// speaking langs ("en,zh-CN").
func addAgent(t *testing.T, db *sqldb.DB, id int64, langs string, teams ...string) {
	t.Helper()
	ctx := t.Context()
	if _, err := db.Write.ExecContext(ctx, `INSERT INTO agents (id, email, display_name, languages, created_by, created_at, updated_at)
		VALUES ($1, $2, 'Agent', $3, 'test', 0, 0)`, id, "a"+itoa64(id)+"@okpay.test", langs); err != nil {
		t.Fatal(err)
	}
	for _, team := range teams {
		if _, err := db.Write.ExecContext(ctx, `INSERT INTO agent_team_members (agent_id, team) VALUES ($1, $2)`, id, team); err != nil {
			t.Fatal(err)
		}
	}
}

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }

func (h *harness) online(agentID int64, capacity int) {
	h.t.Helper()
	if err := h.svc.SetCapacity(h.ctx, agentID, capacity); err != nil {
		h.t.Fatal(err)
	}
	if _, err := h.svc.SetPresence(h.ctx, agentID, desk.PresenceOnline); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) startLang(customer int64, cat desk.Category, lang i18n.Lang) *desk.Conversation {
	h.t.Helper()
	c, err := h.svc.StartConversation(h.ctx, desk.Customer(customer), desk.StartInput{Category: cat, Lang: lang, Body: "help"})
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}

func (h *harness) assignee(id int64) int64 {
	h.t.Helper()
	c, err := h.svc.Conversation(h.ctx, desk.System, id)
	if err != nil {
		h.t.Fatal(err)
	}
	return c.AssigneeID
}

func TestAutoAssignTeamLanguageCapacity(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		const en, zh, pay, away, absent = 6001, 6002, 6003, 6004, 6005
		addAgent(t, db, en, "en", "general")
		addAgent(t, db, zh, "zh-CN", "general")
		addAgent(t, db, pay, "", "payments")
		addAgent(t, db, away, "en,zh-CN", "general")
		addAgent(t, db, absent, "en", "general")
		h.online(en, 2)
		h.online(zh, 2)
		h.online(pay, 5)
		if _, err := h.svc.SetPresence(h.ctx, away, desk.PresenceAway); err != nil {
			t.Fatal(err)
		}

		c1 := h.startLang(2001, desk.CategoryAccount, i18n.En)
		c2 := h.startLang(2002, desk.CategoryAccount, i18n.ZhCN)
		c3 := h.startLang(2003, desk.CategoryTransaction, i18n.ZhCN)
		c4 := h.startLang(2004, desk.CategoryAccount, i18n.En)
		c5 := h.startLang(2005, desk.CategoryAccount, i18n.En) // en is full (2)
		for _, tc := range []struct {
			conv *desk.Conversation
			want int64
		}{{c1, en}, {c2, zh}, {c3, pay}, {c4, en}, {c5, 0}} {
			if got := h.assignee(tc.conv.ID); got != tc.want {
				t.Errorf("conversation %d (team %s, %s): assignee %d, want %d", tc.conv.ID, tc.conv.Team, tc.conv.Lang, got, tc.want)
			}
		}
		p, err := h.svc.AgentPresence(h.ctx, en)
		if err != nil {
			t.Fatal(err)
		}
		if p.Load != 2 || p.Capacity != 2 || p.Effective != desk.PresenceOnline {
			t.Fatalf("presence of en: %+v", p)
		}
		// en resolves one: the job gives the waiting one to en.
		if _, err := h.svc.SetStatus(h.ctx, desk.Agent(en), c1.ID, desk.StatusResolved, time.Time{}); err != nil {
			t.Fatal(err)
		}
		if n, err := h.svc.AssignQueue(h.ctx); err != nil || n != 1 {
			t.Fatalf("assign queue: %d, %v", n, err)
		}
		if got := h.assignee(c5.ID); got != en {
			t.Fatalf("c5 assignee %d, want %d", got, en)
		}
		// The history says routing did it.
		hist, err := h.svc.History(h.ctx, desk.System, c5.ID)
		if err != nil {
			t.Fatal(err)
		}
		if last := hist[len(hist)-1]; last.Kind != "assigned" || last.Actor != desk.KindSystem {
			t.Fatalf("last activity %+v", last)
		}
	})
}

func TestAutoAssignLeastLoaded(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		addAgent(t, db, 6001, "en", "general")
		addAgent(t, db, 6002, "en", "general")
		h.online(6001, 5)
		h.online(6002, 5)
		count := map[int64]int{}
		for i := range 6 {
			c := h.startLang(int64(2001+i), desk.CategoryAccount, i18n.En)
			count[h.assignee(c.ID)]++
		}
		if count[6001] != 3 || count[6002] != 3 {
			t.Fatalf("loads %v, want 3 each", count)
		}
	})
}

func TestAutoAssignConcurrent(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		agents := []int64{6001, 6002, 6003}
		for _, a := range agents {
			addAgent(t, db, a, "en", "general")
			if err := h.svc.SetCapacity(h.ctx, a, 3); err != nil {
				t.Fatal(err)
			}
		}
		var convs []int64
		for i := range 20 {
			convs = append(convs, h.startLang(int64(2001+i), desk.CategoryAccount, i18n.En).ID)
		}
		// Everyone comes online at once (rows written directly, so no
		// assignment runs before the race).
		if _, err := db.Write.ExecContext(h.ctx, `UPDATE desk_agent_presence SET status = 'online', last_seen_at = $1`, h.clock.Now().UnixMicro()); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 40)
		for _, id := range convs {
			wg.Go(func() {
				if _, err := h.svc.AutoAssign(h.ctx, id); err != nil {
					errs <- err
				}
			})
		}
		for range 4 {
			wg.Go(func() {
				if _, err := h.svc.AssignQueue(h.ctx); err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		load := map[int64]int{}
		for _, id := range convs {
			load[h.assignee(id)]++
			var n int
			if err := db.Read.QueryRowContext(h.ctx, `SELECT COUNT(*) FROM desk_activity WHERE conversation_id = $1 AND kind = 'assigned'`, id).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n > 1 {
				t.Fatalf("conversation %d assigned %d times", id, n)
			}
		}
		for _, a := range agents {
			if load[a] != 3 {
				t.Errorf("agent %d has %d conversations, want 3 (capacity)", a, load[a])
			}
		}
		if load[0] != 20-9 {
			t.Errorf("%d conversations left in the queue, want 11", load[0])
		}
	})
}

func TestOfflineReassignment(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		const a, b, c = 6001, 6002, 6003
		addAgent(t, db, a, "en", "general")
		addAgent(t, db, b, "en", "general")
		addAgent(t, db, c, "en", "general")
		h.online(a, 5)
		c1 := h.startLang(2001, desk.CategoryAccount, i18n.En)
		if got := h.assignee(c1.ID); got != a {
			t.Fatalf("c1 assignee %d", got)
		}
		h.online(b, 5)
		inbox, cancel := h.bus.Subscribe(desk.InboxTopic)
		defer cancel()

		// a goes offline explicitly: c1 goes to b, announced.
		if _, err := h.svc.SetPresence(h.ctx, a, desk.PresenceOffline); err != nil {
			t.Fatal(err)
		}
		if got := h.assignee(c1.ID); got != b {
			t.Fatalf("after a went offline c1 assignee %d, want %d", got, b)
		}
		if evs := drain(inbox); len(evs) != 2 {
			t.Fatalf("inbox events %d, want 2 (back to the queue, then to b)", len(evs))
		}

		// b stops being seen while c keeps its console open.
		h.online(c, 5)
		c2 := h.startLang(2002, desk.CategoryAccount, i18n.En)
		if got := h.assignee(c2.ID); got != c {
			t.Fatalf("c2 assignee %d, want %d (least loaded)", got, c)
		}
		for range 5 {
			h.clock.Advance(desk.HeartbeatInterval)
			if err := h.svc.Heartbeat(h.ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		p, err := h.svc.AgentPresence(h.ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		if p.Status != desk.PresenceOnline || p.Effective != desk.PresenceOffline {
			t.Fatalf("stale presence %+v", p)
		}
		if n, err := h.svc.SweepPresence(h.ctx); err != nil || n != 1 {
			t.Fatalf("sweep presence: %d, %v", n, err)
		}
		if n, err := h.svc.AssignQueue(h.ctx); err != nil || n != 1 {
			t.Fatalf("assign queue: %d, %v", n, err)
		}
		if got := h.assignee(c1.ID); got != c {
			t.Fatalf("c1 assignee %d, want %d", got, c)
		}
		if p, _ := h.svc.AgentPresence(h.ctx, b); p.Status != desk.PresenceOffline {
			t.Fatalf("b not offline: %+v", p)
		}
		// A second sweep finds nothing more.
		if n, err := h.svc.SweepPresence(h.ctx); err != nil || n != 0 {
			t.Fatalf("second sweep: %d, %v", n, err)
		}
	})
}

func TestPresenceInput(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		addAgent(t, db, 6001, "en", "general")
		_, err := h.svc.SetPresence(h.ctx, 6001, "busy")
		wantCode(t, err, okpay.EInvalid)
		wantCode(t, h.svc.SetCapacity(h.ctx, 6001, -1), okpay.EInvalid)
		p, err := h.svc.AgentPresence(h.ctx, 6001)
		if err != nil || p.Effective != desk.PresenceOffline || p.Capacity != desk.DefaultCapacity {
			t.Fatalf("default presence %+v, %v", p, err)
		}
		// A heartbeat never makes an agent available.
		if err := h.svc.Heartbeat(h.ctx, 6001); err != nil {
			t.Fatal(err)
		}
		if p, _ := h.svc.AgentPresence(h.ctx, 6001); p.Effective != desk.PresenceOffline {
			t.Fatalf("heartbeat changed presence: %+v", p)
		}
	})
}
