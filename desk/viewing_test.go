package desk_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

func TestViewingAndInboxMessageFrames(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		c := h.start(desk.Customer(alice), desk.CategoryAccount, "hi")
		staff, cancel := h.bus.Subscribe(desk.StaffTopic(c.ID))
		defer cancel()
		public, cancel2 := h.bus.Subscribe(desk.PublicTopic(c.ID))
		defer cancel2()
		inbox, cancel3 := h.bus.Subscribe(desk.InboxTopic)
		defer cancel3()
		if err := h.svc.Viewing(h.ctx, agentA, "Li Wei", c.ID, desk.ViewingReplying); err != nil {
			t.Fatal(err)
		}
		wantCode(t, h.svc.Viewing(h.ctx, agentA, "Li Wei", c.ID+999, desk.ViewingOpen), okpay.ENotFound)
		ev := drain(staff)
		if len(ev) != 1 || ev[0].Type != desk.EventViewing || !bytes.Contains(ev[0].Data, []byte(`"state":"replying"`)) ||
			!bytes.Contains(ev[0].Data, []byte(`"name":"Li Wei"`)) {
			t.Fatalf("viewing events: %v", ev)
		}
		if n := len(drain(public)); n != 0 {
			t.Fatalf("the customer saw %d viewing events", n)
		}
		h.send(desk.Customer(alice), c.ID, "secret text")
		h.note(desk.Agent(agentA), c.ID, "a note")
		got := drain(inbox)
		var msgs int
		for _, e := range got {
			if e.Type == desk.EventInboxMessage {
				msgs++
				if bytes.Contains(e.Data, []byte("secret text")) || bytes.Contains(e.Data, []byte("a note")) {
					t.Fatalf("the inbox event carries the text: %s", e.Data)
				}
			}
		}
		if msgs != 2 {
			t.Fatalf("%d inbox message events, want 2", msgs)
		}
	})
}

func TestSLAAndTeamViews(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		c1 := h.start(desk.Customer(alice), desk.CategoryAccount, "one")
		c2 := h.start(desk.Customer(bob), desk.CategoryTransaction, "two")
		c3 := h.start(desk.Customer(alice+10), desk.CategoryTechnical, "three")
		now := t0.UnixMicro()
		// only the clocks below (starting may have started others)
		if _, err := db.Write.ExecContext(h.ctx, `DELETE FROM desk_sla_timers`); err != nil {
			t.Fatal(err)
		}
		ins := func(conv int64, metric string, due time.Duration, breached bool) {
			var b int64
			if breached {
				b = now
			}
			_, err := db.Write.ExecContext(h.ctx, `DELETE FROM desk_sla_timers WHERE conversation_id = $1 AND metric = $2`, conv, metric)
			if err != nil {
				t.Fatal(err)
			}
			_, err = db.Write.ExecContext(h.ctx, `INSERT INTO desk_sla_timers (conversation_id, metric, policy, started_at, due_at, breached_at)
				VALUES ($1, $2, 'normal', $3, $4, $5)`, conv, metric, now, now+due.Microseconds(), b)
			if err != nil {
				t.Fatal(err)
			}
		}
		ins(c1.ID, "first_response", -time.Minute, true)
		ins(c2.ID, "first_response", 5*time.Minute, false)
		ins(c3.ID, "resolution", 5*time.Hour, false)
		breached, err := h.svc.SLAConversations(h.ctx, desk.Agent(agentA), true, 15*time.Minute, 50)
		if err != nil {
			t.Fatal(err)
		}
		soon, err := h.svc.SLAConversations(h.ctx, desk.Agent(agentA), false, 15*time.Minute, 50)
		if err != nil {
			t.Fatal(err)
		}
		if len(breached) != 1 || breached[0].ID != c1.ID || !breached[0].SLA.Breached {
			t.Fatalf("breached: %+v", breached)
		}
		if len(soon) != 1 || soon[0].ID != c2.ID || soon[0].SLA.Metric != "first_response" {
			t.Fatalf("due soon: %+v", soon)
		}
		_, err = h.svc.SLAConversations(h.ctx, desk.Customer(alice), true, time.Minute, 50)
		wantCode(t, err, okpay.EForbidden)

		for id, team := range map[int64]string{c1.ID: "general", c2.ID: "payments", c3.ID: "general"} {
			if _, err := db.Write.ExecContext(h.ctx, `UPDATE desk_conversations SET team = $1 WHERE id = $2`, team, id); err != nil {
				t.Fatal(err)
			}
		}
		c1.Team, c2.Team = "general", "payments"
		teams, err := h.svc.TeamsConversations(h.ctx, desk.Agent(agentA), []string{c2.Team}, desk.ConversationFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(teams) != 1 || teams[0].ID != c2.ID {
			t.Fatalf("one team: %d conversations", len(teams))
		}
		teams, err = h.svc.TeamsConversations(h.ctx, desk.Agent(agentA), []string{c1.Team, c2.Team, c1.Team}, desk.ConversationFilter{Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		if len(teams) != 2 || teams[0].ID <= teams[1].ID {
			t.Fatalf("two teams, limit 2: %d conversations, newest first", len(teams))
		}
	})
}
