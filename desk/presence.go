package desk

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"time"

	"github.com/okpay/okpay"
)

// PresenceStatus is what an agent says about their availability.
type PresenceStatus string

// Presence statuses. Only online agents receive conversations from
// auto-assignment; away agents keep theirs; going offline (or not being
// seen for PresenceTimeout) sends their open conversations back to the
// queue.
const (
	PresenceOnline  PresenceStatus = "online"
	PresenceAway    PresenceStatus = "away"
	PresenceOffline PresenceStatus = "offline"
)

// PresenceStatuses lists the statuses in display order.
func PresenceStatuses() []PresenceStatus {
	return []PresenceStatus{PresenceOnline, PresenceAway, PresenceOffline}
}

// PresenceTimeout is how long an agent who is not seen (no staff request,
// no heartbeat) still counts as what they said; after it they count
// offline.
const PresenceTimeout = 2 * time.Minute

// HeartbeatInterval is how often the console refreshes an agent's
// last-seen time; Heartbeat writes at most once per interval.
const HeartbeatInterval = 30 * time.Second

// DefaultCapacity is how many open and pending conversations
// auto-assignment gives one agent, unless their presence row says
// otherwise.
const DefaultCapacity = 5

// Presence is an agent's availability.
type Presence struct {
	AgentID int64
	// Status is what the agent chose; Effective is what routing uses
	// (offline once the agent has not been seen for PresenceTimeout).
	Status    PresenceStatus
	Effective PresenceStatus
	Capacity  int
	// Load is the agent's assigned open and pending conversations.
	Load       int
	LastSeenAt time.Time
	UpdatedAt  time.Time
}

func effective(st PresenceStatus, lastSeen, now time.Time) PresenceStatus {
	if st != PresenceOffline && lastSeen.Before(now.Add(-PresenceTimeout)) {
		return PresenceOffline
	}
	return st
}

// AgentPresence returns agent agentID's presence (offline with the
// default capacity when the agent never set one).
func (s *Service) AgentPresence(ctx context.Context, agentID int64) (*Presence, error) {
	if agentID <= 0 {
		return nil, okpay.Invalid(map[string]string{"agent_id": "Choose an agent."})
	}
	now := s.Clock.Now()
	p := &Presence{AgentID: agentID, Status: PresenceOffline, Capacity: DefaultCapacity}
	var seen, updated int64
	err := s.DB.Read.QueryRowContext(ctx, `SELECT status, capacity, last_seen_at, updated_at FROM desk_agent_presence WHERE agent_id = $1`,
		agentID).Scan(&p.Status, &p.Capacity, &seen, &updated)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, okpay.Internal(err, "load presence")
	}
	p.LastSeenAt, p.UpdatedAt = fromMicros(seen), fromMicros(updated)
	p.Effective = effective(p.Status, p.LastSeenAt, now)
	if err := s.DB.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM desk_conversations WHERE assignee_id = $1 AND status IN ('open', 'pending')`,
		agentID).Scan(&p.Load); err != nil {
		return nil, okpay.Internal(err, "load presence")
	}
	return p, nil
}

// SetPresence records agent agentID's status (and refreshes their
// last-seen time). Going online assigns them waiting conversations at
// once; going offline sends their open conversations back to the queue,
// where other online agents get them. agentID must be an agent (package
// agent's id): the HTTP layer passes the signed-in agent.
func (s *Service) SetPresence(ctx context.Context, agentID int64, st PresenceStatus) (*Presence, error) {
	if agentID <= 0 {
		return nil, okpay.Invalid(map[string]string{"agent_id": "Choose an agent."})
	}
	if !slices.Contains(PresenceStatuses(), st) {
		return nil, okpay.Invalid(map[string]string{"status": "Choose online, away or offline."})
	}
	now := micros(s.Clock.Now())
	err := s.inTx(ctx, "set presence", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE desk_agent_presence SET status = $1, last_seen_at = $2, updated_at = $2 WHERE agent_id = $3`,
			string(st), now, agentID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n > 0 {
			return nil
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO desk_agent_presence (agent_id, status, capacity, last_seen_at, updated_at)
			VALUES ($1, $2, $3, $4, $4)`, agentID, string(st), DefaultCapacity, now)
		return err
	})
	if err != nil {
		return nil, err
	}
	switch st {
	case PresenceOffline:
		if _, err := s.requeueAgent(ctx, agentID, "offline"); err != nil {
			return nil, err
		}
		if _, err := s.AssignQueue(ctx); err != nil {
			return nil, err
		}
	case PresenceOnline:
		if _, err := s.AssignQueue(ctx); err != nil {
			return nil, err
		}
	}
	return s.AgentPresence(ctx, agentID)
}

// SetCapacity sets how many open and pending conversations
// auto-assignment gives agent agentID (0 stops it without going away).
func (s *Service) SetCapacity(ctx context.Context, agentID int64, capacity int) error {
	if agentID <= 0 {
		return okpay.Invalid(map[string]string{"agent_id": "Choose an agent."})
	}
	if capacity < 0 || capacity > 100 {
		return okpay.Invalid(map[string]string{"capacity": "Choose a number from 0 to 100."})
	}
	now := micros(s.Clock.Now())
	return s.inTx(ctx, "set capacity", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE desk_agent_presence SET capacity = $1, updated_at = $2 WHERE agent_id = $3`, capacity, now, agentID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n > 0 {
			return nil
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO desk_agent_presence (agent_id, status, capacity, last_seen_at, updated_at)
			VALUES ($1, 'offline', $2, 0, $3)`, agentID, capacity, now)
		return err
	})
}

// Heartbeat refreshes agent agentID's last-seen time (their console calls
// it every HeartbeatInterval, and every staff request may). It writes at
// most once per HeartbeatInterval and never creates or changes a status:
// an agent who never chose one stays out of routing.
func (s *Service) Heartbeat(ctx context.Context, agentID int64) error {
	now := s.Clock.Now()
	err := s.inTx(ctx, "presence heartbeat", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE desk_agent_presence SET last_seen_at = $1 WHERE agent_id = $2 AND last_seen_at <= $3`,
			micros(now), agentID, micros(now.Add(-HeartbeatInterval/2)))
		return err
	})
	return err
}

// SweepPresence turns agents who have not been seen for PresenceTimeout
// offline and sends their open conversations back to the queue (where
// AssignQueue gives them to online agents). It returns how many
// conversations went back. Run it with the routing job.
func (s *Service) SweepPresence(ctx context.Context) (int, error) {
	now := s.Clock.Now()
	cutoff := micros(now.Add(-PresenceTimeout))
	var stale []int64
	err := s.inTx(ctx, "sweep presence", func(tx *sql.Tx) error {
		stale = nil
		rows, err := tx.QueryContext(ctx, `SELECT agent_id FROM desk_agent_presence
			WHERE status <> 'offline' AND last_seen_at < $1 ORDER BY agent_id`, cutoff)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			stale = append(stale, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, id := range stale {
			if _, err := tx.ExecContext(ctx, `UPDATE desk_agent_presence SET status = 'offline', updated_at = $1
				WHERE agent_id = $2 AND status <> 'offline' AND last_seen_at < $3`, micros(now), id, cutoff); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	total := 0
	for _, id := range stale {
		s.log.Info("desk: agent not seen, now offline", "agent", participantRef(KindAgent, id))
		n, err := s.requeueAgent(ctx, id, "not seen")
		if err != nil {
			return total, err
		}
		total += n
	}
	return total, nil
}

// requeueAgent takes agentID's open conversations from them (one
// transaction each, under the conversation's row lock) and announces each
// as assignment does. Pending and snoozed conversations stay with the
// agent: they wait for the customer or a time.
func (s *Service) requeueAgent(ctx context.Context, agentID int64, why string) (int, error) {
	ids, err := s.ids(ctx, `SELECT id FROM desk_conversations WHERE assignee_id = $1 AND status = 'open' ORDER BY id LIMIT 500`, agentID)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range ids {
		now := s.Clock.Now()
		var conv *convRow
		err := s.inTx(ctx, "requeue conversation", func(tx *sql.Tx) error {
			conv = nil
			c, err := s.loadConv(ctx, tx, System, id, true)
			if err != nil {
				return err
			}
			if c.AssigneeID != agentID || c.Status != StatusOpen {
				return nil
			}
			if _, err := tx.ExecContext(ctx, `UPDATE desk_conversations SET assignee_id = 0, updated_at = $1 WHERE id = $2 AND assignee_id = $3`,
				micros(now), id, agentID); err != nil {
				return err
			}
			if err := s.record(ctx, tx, id, System, "assigned", participantRef(KindAgent, agentID)+" -> (queue: agent "+why+")", now); err != nil {
				return err
			}
			c.AssigneeID, c.Assigned, c.UpdatedAt = 0, false, now
			conv = c
			return nil
		})
		if err != nil {
			return n, err
		}
		if conv != nil {
			n++
			s.publishAssigned(ctx, &conv.Conversation)
		}
	}
	return n, nil
}
