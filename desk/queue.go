package desk

import (
	"context"
	"slices"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/i18n"
)

// Queue is where a waiting conversation stands.
type Queue struct {
	// Queued is true while the conversation is open and no agent has it.
	// The other fields are zero otherwise.
	Queued bool
	// Position is 1 for the next conversation an agent of its team picks
	// up: unassigned open conversations of the team, oldest first.
	Position int
	// EstimatedWait is the expected time until an agent picks it up
	// (EstimateWait), when WaitKnown.
	EstimatedWait time.Duration
	// WaitKnown is false when the team answered too few conversations
	// recently to say ("we will be with you shortly").
	WaitKnown bool
	// AgentsOnline counts the agents who could pick it up now: online
	// (PresenceTimeout), active, of its team and speaking its language,
	// busy or not. With none, no wait is estimated: nobody works the
	// queue until an agent comes online.
	AgentsOnline int
	// Visitor is true when the conversation is a visitor's (no address
	// to write to when the answer comes).
	Visitor bool
}

// QueueInfo returns where conversation id stands in its team's queue.
func (s *Service) QueueInfo(ctx context.Context, v Viewer, id int64) (Queue, error) {
	c, err := s.loadConv(ctx, s.DB.Read, v, id, false)
	if err != nil {
		return Queue{}, err
	}
	if c.Status != StatusOpen || c.AssigneeID != 0 {
		return Queue{}, nil
	}
	var ahead int
	if err := s.DB.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM desk_conversations
		WHERE team = $1 AND status = 'open' AND assignee_id = 0 AND (created_at < $2 OR (created_at = $2 AND id < $3))`,
		c.Team, micros(c.CreatedAt), c.ID).Scan(&ahead); err != nil {
		return Queue{}, okpay.Internal(err, "queue position")
	}
	q := Queue{Queued: true, Position: ahead + 1, Visitor: c.CustomerID == 0}
	now := s.Clock.Now()
	if q.AgentsOnline, err = s.agentsOnline(ctx, c.Team, c.Lang); err != nil {
		return Queue{}, err
	}
	if q.AgentsOnline == 0 {
		return q, nil
	}
	rows, err := s.DB.Read.QueryContext(ctx, `SELECT first_response_at - created_at, first_response_by, first_response_at FROM desk_conversations
		WHERE team = $1 AND first_response_at >= $2 AND first_response_at > 0 ORDER BY first_response_at DESC LIMIT $3`, // "> 0": the partial index's condition, so the planner uses it
		c.Team, micros(now.Add(-s.cfg.WaitWindow)), s.cfg.WaitSamples)
	if err != nil {
		return Queue{}, okpay.Internal(err, "queue wait")
	}
	defer rows.Close()
	var samples []time.Duration
	agents := map[int64]bool{}
	recent := micros(now.Add(-s.cfg.WaitAgentsWindow))
	for rows.Next() {
		var d, by, at int64
		if err := rows.Scan(&d, &by, &at); err != nil {
			return Queue{}, okpay.Internal(err, "queue wait")
		}
		samples = append(samples, time.Duration(max(d, 0))*time.Microsecond)
		if at >= recent && by != 0 {
			agents[by] = true
		}
	}
	if err := rows.Err(); err != nil {
		return Queue{}, okpay.Internal(err, "queue wait")
	}
	q.EstimatedWait, q.WaitKnown = EstimateWait(q.Position, samples, len(agents), s.cfg.MinWaitSamples)
	return q, nil
}

// agentsOnline counts the agents who can take team's conversations in
// lang now (pickAgent's candidates, whatever their load).
func (s *Service) agentsOnline(ctx context.Context, team string, lang i18n.Lang) (int, error) {
	rows, err := s.DB.Read.QueryContext(ctx, `SELECT a.languages FROM desk_agent_presence p
		JOIN agents a ON a.id = p.agent_id
		JOIN agent_team_members m ON m.agent_id = p.agent_id AND m.team = $1
		WHERE p.status = 'online' AND p.last_seen_at >= $2 AND a.status = 'active'`,
		team, micros(s.Clock.Now().Add(-PresenceTimeout)))
	if err != nil {
		return 0, okpay.Internal(err, "agents online")
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var langs string
		if err := rows.Scan(&langs); err != nil {
			return 0, okpay.Internal(err, "agents online")
		}
		if speaks(langs, lang) {
			n++
		}
	}
	if err := rows.Err(); err != nil {
		return 0, okpay.Internal(err, "agents online")
	}
	return n, nil
}

// EstimateWait estimates how long the conversation at position (1 =
// next) waits for an agent, from the team's recent first-response times:
//
//	R    = the median of samples (first response − start, the team's
//	       last WaitSamples first responses within WaitWindow)
//	k    = agents, the number of distinct agents who gave a first
//	       response within WaitAgentsWindow (at least 1): the agents
//	       working the queue now
//	wait = R × ⌈position / k⌉, rounded up to a whole minute
//
// k agents take the queue in waves of k, each wave taking about as long as
// a conversation has recently waited. The median, not the mean, keeps one
// conversation forgotten overnight from inflating every estimate. With
// fewer than minSamples samples the wait is unknown (ok false).
func EstimateWait(position int, samples []time.Duration, agents, minSamples int) (wait time.Duration, ok bool) {
	if position < 1 || len(samples) == 0 || len(samples) < minSamples {
		return 0, false
	}
	sorted := slices.Clone(samples)
	slices.Sort(sorted)
	n := len(sorted)
	median := sorted[n/2]
	if n%2 == 0 {
		median = (sorted[n/2-1] + sorted[n/2]) / 2
	}
	k := max(agents, 1)
	waves := (position + k - 1) / k
	wait = median * time.Duration(waves)
	if r := wait % time.Minute; r != 0 || wait == 0 {
		wait += time.Minute - r
	}
	return wait, true
}

// QueueText returns what a waiting customer reads about q in lang: the
// position and the estimated wait, or that no agent is online (and that
// the answer will come here, and to a customer by email), or that an
// agent has joined.
func QueueText(c *i18n.Catalog, lang i18n.Lang, q Queue) string {
	if !q.Queued {
		return c.T(lang, "desk.queue.assigned", nil)
	}
	sep := " "
	if lang == i18n.ZhCN {
		sep = "" // Chinese sentences follow each other without a space
	}
	text := c.T(lang, "desk.queue.position", map[string]any{"Position": q.Position})
	if q.AgentsOnline == 0 {
		if q.Visitor {
			return text + sep + c.T(lang, "desk.queue.offline_visitor", nil)
		}
		return text + sep + c.T(lang, "desk.queue.offline", nil)
	}
	if !q.WaitKnown {
		return text + sep + c.T(lang, "desk.queue.wait_unknown", nil)
	}
	return text + sep + c.T(lang, "desk.queue.wait", map[string]any{"Minutes": int(q.EstimatedWait / time.Minute)})
}
