package desk_test

import (
	"testing"
	"time"

	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

func TestEstimateWait(t *testing.T) {
	m := time.Minute
	cases := []struct {
		position int
		samples  []time.Duration
		agents   int
		want     time.Duration
		ok       bool
	}{
		{1, nil, 3, 0, false},
		{1, []time.Duration{m, 2 * m}, 1, 0, false}, // fewer than 3 samples
		{1, []time.Duration{4 * m, 6 * m, 10 * m}, 1, 6 * m, true},
		{2, []time.Duration{4 * m, 6 * m, 10 * m}, 1, 12 * m, true},
		{2, []time.Duration{4 * m, 6 * m, 10 * m}, 2, 6 * m, true},
		{3, []time.Duration{4 * m, 6 * m, 10 * m}, 2, 12 * m, true},
		{5, []time.Duration{4 * m, 6 * m, 10 * m}, 0, 30 * m, true},                         // no agent seen: k = 1
		{1, []time.Duration{m, 2 * m, 3 * m, 10 * time.Hour}, 1, 3 * m, true},               // median of 4: (2+3)/2 = 2.5 → 3 min
		{1, []time.Duration{5 * time.Second, 5 * time.Second, 5 * time.Second}, 1, m, true}, // at least a minute
		{0, []time.Duration{m, m, m}, 1, 0, false},
	}
	for _, c := range cases {
		got, ok := desk.EstimateWait(c.position, c.samples, c.agents, 3)
		if got != c.want || ok != c.ok {
			t.Errorf("EstimateWait(%d, %v, %d) = %v %v, want %v %v", c.position, c.samples, c.agents, got, ok, c.want, c.ok)
		}
	}
}

func TestQueueInfo(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		// Three answered conversations: first responses after 4, 6 and
		// 10 minutes, by two agents.
		var past []*desk.Conversation
		for i := int64(0); i < 3; i++ {
			past = append(past, h.start(desk.Customer(100+i), desk.CategoryAccount, "earlier"))
		}
		h.clock.Advance(4 * time.Minute)
		h.send(desk.Agent(agentA), past[0].ID, "hi")
		h.clock.Advance(2 * time.Minute)
		h.note(desk.Agent(agentB), past[1].ID, "a note is not a response")
		h.send(desk.Agent(agentB), past[1].ID, "hi")
		h.clock.Advance(4 * time.Minute)
		h.send(desk.Agent(agentA), past[2].ID, "hi")
		for _, c := range past {
			h.svc.SetStatus(h.ctx, desk.Agent(agentA), c.ID, desk.StatusResolved, time.Time{})
		}
		staff, _ := h.svc.Conversation(h.ctx, desk.System, past[1].ID)
		if !staff.FirstResponseAt.Equal(t0.Add(6 * time.Minute)) {
			t.Fatalf("first response at %v", staff.FirstResponseAt)
		}

		// Agent A works the general queue, online, taking nothing by
		// itself (capacity 0): the queue has someone to move it.
		addAgent(t, db, agentA, "en,zh-CN", desk.TeamGeneral)
		h.online(agentA, 0)

		q1 := h.start(desk.Customer(alice), desk.CategoryAccount, "waiting 1")
		h.clock.Advance(time.Second)
		q2 := h.start(desk.Customer(bob), desk.CategoryTechnical, "waiting 2")
		q3 := h.start(desk.Visitor(visitor), desk.CategoryAccount, "waiting 3") // same time: id decides
		pay := h.start(desk.Customer(alice), desk.CategoryTransaction, "other team")

		check := func(v desk.Viewer, id int64, pos int, wait time.Duration, known bool) {
			t.Helper()
			q, err := h.svc.QueueInfo(h.ctx, v, id)
			if err != nil {
				t.Fatal(err)
			}
			if !q.Queued || q.Position != pos || q.EstimatedWait != wait || q.WaitKnown != known {
				t.Fatalf("queue %+v, want position %d wait %v known %v", q, pos, wait, known)
			}
		}
		check(desk.Customer(alice), q1.ID, 1, 6*time.Minute, true)
		check(desk.Customer(bob), q2.ID, 2, 6*time.Minute, true)
		check(desk.Visitor(visitor), q3.ID, 3, 12*time.Minute, true)
		check(desk.Customer(alice), pay.ID, 1, 0, false)
		// Who can pick them up now: A for the general team, nobody for
		// the payments team (no wait is estimated there).
		if q, _ := h.svc.QueueInfo(h.ctx, desk.Visitor(visitor), q3.ID); q.AgentsOnline != 1 || !q.Visitor {
			t.Errorf("general team: %+v, want one agent online, a visitor's", q)
		}
		if q, _ := h.svc.QueueInfo(h.ctx, desk.Customer(alice), pay.ID); q.AgentsOnline != 0 || q.Visitor {
			t.Errorf("payments team: %+v, want nobody online, a customer's", q)
		}

		// Once an agent has it, it is out of the queue; the rest move up.
		h.svc.Claim(h.ctx, agentA, q1.ID)
		if q, _ := h.svc.QueueInfo(h.ctx, desk.Customer(alice), q1.ID); q.Queued || q.Position != 0 {
			t.Fatalf("claimed conversation still queued: %+v", q)
		}
		check(desk.Visitor(visitor), q3.ID, 2, 6*time.Minute, true)
		// A pending conversation waits for the customer, not in the queue.
		h.svc.SetStatus(h.ctx, desk.Agent(agentA), q2.ID, desk.StatusPending, time.Time{})
		check(desk.Visitor(visitor), q3.ID, 1, 6*time.Minute, true)
		// Two hours on, the agents no longer count as working (k = 1), and
		// the samples are still within the day.
		h.clock.Advance(2 * time.Hour)
		h.svc.SetStatus(h.ctx, desk.Customer(bob), q2.ID, desk.StatusResolved, time.Time{})
		// A, unseen for two hours, is offline: nobody works the queue, no
		// wait is estimated; A back, the estimate is back.
		if q, _ := h.svc.QueueInfo(h.ctx, desk.Visitor(visitor), q3.ID); !q.Queued || q.Position != 1 || q.AgentsOnline != 0 || q.WaitKnown {
			t.Errorf("with A gone: %+v, want position 1, nobody online, no estimate", q)
		}
		h.online(agentA, 0)
		check(desk.Visitor(visitor), q3.ID, 1, 6*time.Minute, true)
		// An agent who does not speak the conversation's language does
		// not count.
		addAgent(t, db, agentB, "zh-CN", desk.TeamPayments)
		h.online(agentB, 0)
		if q, _ := h.svc.QueueInfo(h.ctx, desk.Customer(alice), pay.ID); q.AgentsOnline != 0 {
			t.Errorf("payments team with a Chinese-only agent, an English conversation: %+v", q)
		}
	})
}

// TestAnswerTakesConversation: an agent's answer to a conversation nobody
// has takes it, so it leaves the queue (the customer was still told "you
// are 2nd in line" after the answer) and the other agents' unassigned
// view; an internal note does not, and a conversation someone has stays
// theirs.
func TestAnswerTakesConversation(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		cust := desk.Customer(9191)
		c := h.start(cust, desk.CategoryAccount, "hello?")
		if q, err := h.svc.QueueInfo(h.ctx, cust, c.ID); err != nil || !q.Queued {
			t.Fatalf("before: %+v %v", q, err)
		}
		if _, err := h.svc.SendMessage(h.ctx, desk.Agent(agentA), c.ID, desk.MessageInput{Body: "a note", Internal: true}); err != nil {
			t.Fatal(err)
		}
		if got, _ := h.svc.Conversation(h.ctx, desk.System, c.ID); got.AssigneeID != 0 {
			t.Fatalf("a note took it: %d", got.AssigneeID)
		}
		if _, err := h.svc.SendMessage(h.ctx, desk.Agent(agentA), c.ID, desk.MessageInput{Body: "Hi, I am looking into it."}); err != nil {
			t.Fatal(err)
		}
		got, err := h.svc.Conversation(h.ctx, desk.System, c.ID)
		if err != nil || got.AssigneeID != agentA {
			t.Fatalf("after the answer: %+v %v", got, err)
		}
		if q, err := h.svc.QueueInfo(h.ctx, cust, c.ID); err != nil || q.Queued {
			t.Fatalf("still queued: %+v %v", q, err)
		}
		if _, err := h.svc.SendMessage(h.ctx, desk.Agent(agentB), c.ID, desk.MessageInput{Body: "Me too."}); err != nil {
			t.Fatal(err)
		}
		if got, _ := h.svc.Conversation(h.ctx, desk.System, c.ID); got.AssigneeID != agentA {
			t.Fatalf("another agent's answer took it: %d", got.AssigneeID)
		}
	})
}
