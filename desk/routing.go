package desk

import (
	"context"
	"database/sql"
	"strings"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/sqldb"
)

// Auto-assignment (issue 5).
//
// An open, unassigned conversation goes to an agent who
//
//   - is online (desk_agent_presence.status = 'online', seen within
//     PresenceTimeout) and active (agents.status = 'active'),
//   - belongs to the conversation's team (DefaultTeam by category, or the
//     team it was moved to),
//   - speaks the conversation's language (an agent with no languages set
//     takes any),
//   - has fewer assigned open and pending conversations than their
//     capacity (DefaultCapacity unless set),
//
// the least loaded first (ties: the lowest agent id). The agents' and
// teams' tables belong to package agent; routing only reads them.
//
// Concurrency: the conversation's row is locked, then the presence rows of
// every candidate (in agent id order, so two assignments never wait on
// each other in a cycle); the loads are counted under those locks and the
// conversation is taken with a conditional UPDATE ... WHERE assignee_id =
// 0. Two assignments to the same agent therefore run one after the other
// and the second sees the first's conversation in the load: no agent goes
// over capacity and no conversation is assigned twice. SQLite write
// transactions are exclusive anyway. Manual assignment (Claim, Assign) is
// not capped: capacity limits only what routing hands out.

// AutoAssign gives conversation id to the best online agent, if it is
// open and unassigned and such an agent has room. It returns the agent id
// (0 when it stays in the queue) and announces the assignment as Assign
// does.
func (s *Service) AutoAssign(ctx context.Context, id int64) (int64, error) {
	now := s.Clock.Now()
	var conv *convRow
	err := s.inTx(ctx, "auto-assign conversation", func(tx *sql.Tx) error {
		conv = nil
		c, err := s.loadConv(ctx, tx, System, id, true)
		if err != nil {
			return err
		}
		if c.Status != StatusOpen || c.AssigneeID != 0 {
			return nil
		}
		agentID, err := s.pickAgent(ctx, tx, c)
		if err != nil || agentID == 0 {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE desk_conversations SET assignee_id = $1, updated_at = $2 WHERE id = $3 AND assignee_id = 0`,
			agentID, micros(now), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return nil
		}
		if err := s.record(ctx, tx, id, System, "assigned", " -> "+participantRef(KindAgent, agentID)+" (auto)", now); err != nil {
			return err
		}
		c.AssigneeID, c.Assigned, c.UpdatedAt = agentID, true, now
		conv = c
		return nil
	})
	if err != nil || conv == nil {
		return 0, err
	}
	s.publishAssigned(ctx, &conv.Conversation)
	return conv.AssigneeID, nil
}

// pickAgent returns the agent routing gives c to (0: none has room),
// holding the candidates' presence rows locked.
func (s *Service) pickAgent(ctx context.Context, tx *sql.Tx, c *convRow) (int64, error) {
	cutoff := micros(s.Clock.Now().Add(-PresenceTimeout))
	lock := ""
	if s.DB.Dialect == sqldb.Postgres {
		lock = " FOR UPDATE OF p"
	}
	rows, err := tx.QueryContext(ctx, `SELECT p.agent_id, p.capacity, a.languages FROM desk_agent_presence p
		JOIN agents a ON a.id = p.agent_id
		JOIN agent_team_members m ON m.agent_id = p.agent_id AND m.team = $1
		WHERE p.status = 'online' AND p.last_seen_at >= $2 AND p.capacity > 0 AND a.status = 'active'
		ORDER BY p.agent_id`+lock, c.Team, cutoff)
	if err != nil {
		return 0, err
	}
	type cand struct {
		id       int64
		capacity int
	}
	var cands []cand
	for rows.Next() {
		var k cand
		var langs string
		if err := rows.Scan(&k.id, &k.capacity, &langs); err != nil {
			rows.Close()
			return 0, err
		}
		if speaks(langs, c.Lang) {
			cands = append(cands, k)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	best, bestLoad := int64(0), 0
	for _, k := range cands {
		var load int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM desk_conversations WHERE assignee_id = $1 AND status IN ('open', 'pending')`,
			k.id).Scan(&load); err != nil {
			return 0, err
		}
		if load >= k.capacity {
			continue
		}
		if best == 0 || load < bestLoad {
			best, bestLoad = k.id, load
		}
	}
	return best, nil
}

// speaks reports whether an agent's languages (package agent's stored
// list, "en,zh-CN") include l; an agent with none set takes any.
func speaks(langs string, l i18n.Lang) bool {
	if strings.TrimSpace(langs) == "" {
		return true
	}
	for _, f := range strings.Split(langs, ",") {
		if x, ok := i18n.ParseLang(strings.TrimSpace(f)); ok && x == l {
			return true
		}
	}
	return false
}

// AssignQueue offers every waiting conversation (open, unassigned, oldest
// first) to AutoAssign and returns how many it assigned. The routing job
// runs it every few seconds: agents come online, finish conversations,
// get their capacity raised.
func (s *Service) AssignQueue(ctx context.Context) (int, error) {
	cutoff := micros(s.Clock.Now().Add(-PresenceTimeout))
	var online int
	if err := s.DB.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM desk_agent_presence WHERE status = 'online' AND last_seen_at >= $1 AND capacity > 0`,
		cutoff).Scan(&online); err != nil {
		return 0, okpay.Internal(err, "assign queue")
	}
	if online == 0 {
		return 0, nil
	}
	rows, err := s.DB.Read.QueryContext(ctx, `SELECT id, team, lang FROM desk_conversations
		WHERE status = 'open' AND assignee_id = 0 ORDER BY created_at, id LIMIT 500`)
	if err != nil {
		return 0, okpay.Internal(err, "assign queue")
	}
	type waiting struct {
		id         int64
		team, lang string
	}
	var queue []waiting
	for rows.Next() {
		var w waiting
		if err := rows.Scan(&w.id, &w.team, &w.lang); err != nil {
			rows.Close()
			return 0, okpay.Internal(err, "assign queue")
		}
		queue = append(queue, w)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, okpay.Internal(err, "assign queue")
	}
	full := map[string]bool{} // team + language with no agent left to take one
	n := 0
	for _, w := range queue {
		key := w.team + "\x00" + w.lang
		if full[key] {
			continue
		}
		got, err := s.AutoAssign(ctx, w.id)
		if err != nil {
			return n, err
		}
		if got == 0 {
			full[key] = true
			continue
		}
		n++
	}
	return n, nil
}

// routeOpen offers a conversation that has just started or opened again
// to auto-assignment. A failure is logged: the routing job tries again.
func (s *Service) routeOpen(ctx context.Context, c *Conversation) {
	if c == nil || c.Status != StatusOpen || c.AssigneeID != 0 {
		return
	}
	// Most starts happen with nobody online in routing: a read says so
	// without taking the write lock.
	var online int
	if err := s.DB.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM desk_agent_presence WHERE status = 'online' AND last_seen_at >= $1 AND capacity > 0`,
		micros(s.Clock.Now().Add(-PresenceTimeout))).Scan(&online); err != nil || online == 0 {
		return
	}
	if _, err := s.AutoAssign(context.WithoutCancel(ctx), c.ID); err != nil {
		s.log.Warn("desk: auto-assign failed", "conversation", ConversationRef(c.ID), "err", err)
	}
}
