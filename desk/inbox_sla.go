package desk

import (
	"context"
	"slices"
	"time"

	"github.com/okpay/okpay"
)

// Inbox views the conversation filter cannot say in one query: the
// conversations of several teams, and the ones whose service-level
// clocks (desk_sla_timers) are breached or due soon.

// TeamsConversations lists the conversations of any of teams matching f
// (f.Team is ignored), newest first, at most f.Limit.
func (s *Service) TeamsConversations(ctx context.Context, v Viewer, teams []string, f ConversationFilter) ([]*Conversation, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	var out []*Conversation
	for _, t := range teams {
		tf := f
		tf.Team = t
		list, err := s.Conversations(ctx, v, tf)
		if err != nil {
			return nil, err
		}
		out = append(out, list...)
	}
	slices.SortFunc(out, func(a, b *Conversation) int {
		switch {
		case a.ID > b.ID:
			return -1
		case a.ID < b.ID:
			return 1
		}
		return 0
	})
	out = slices.CompactFunc(out, func(a, b *Conversation) bool { return a.ID == b.ID })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// SLAState is where a conversation's most urgent running SLA clock is.
type SLAState struct {
	Metric string
	DueAt  time.Time
	// Breached: the clock ran out; otherwise it is due within the window.
	Breached bool
}

// SLAConversation is a conversation of the SLA view.
type SLAConversation struct {
	*Conversation
	SLA SLAState
}

// SLAConversations lists the conversations (not resolved or closed) with
// a running SLA clock that is breached (breached) or due within soon and
// not breached yet (!breached), the most urgent first, at most limit.
func (s *Service) SLAConversations(ctx context.Context, v Viewer, breached bool, soon time.Duration, limit int) ([]SLAConversation, error) {
	if !v.Staff() {
		return nil, okpay.Errorf(okpay.EForbidden, "Only support staff see service levels.")
	}
	limit = min(max(limit, 1), MaxPage)
	now := micros(s.Clock.Now())
	cond := `(t.breached_at > 0 OR t.due_at <= $1)`
	args := []any{now}
	if !breached {
		cond = `t.breached_at = 0 AND t.due_at > $1 AND t.due_at <= $2`
		args = append(args, now+soon.Microseconds())
	}
	args = append(args, limit)
	q := `SELECT t.conversation_id, t.metric, t.due_at FROM desk_sla_timers t JOIN desk_conversations c ON c.id = t.conversation_id
		WHERE t.met_at = 0 AND t.paused_at = 0 AND t.due_at > 0 AND c.status IN ('open','pending','snoozed') AND ` + cond + `
		ORDER BY t.due_at, t.conversation_id LIMIT $` + itoa(len(args))
	rows, err := s.DB.Read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, okpay.Internal(err, "list SLA conversations")
	}
	type hit struct {
		id     int64
		metric string
		due    int64
	}
	var hits []hit
	for rows.Next() {
		var h hit
		if err := rows.Scan(&h.id, &h.metric, &h.due); err != nil {
			rows.Close()
			return nil, okpay.Internal(err, "list SLA conversations")
		}
		hits = append(hits, h)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, okpay.Internal(err, "list SLA conversations")
	}
	var out []SLAConversation
	seen := map[int64]bool{}
	for _, h := range hits {
		if seen[h.id] {
			continue // one row per conversation: its most urgent clock
		}
		seen[h.id] = true
		c, err := s.Conversation(ctx, v, h.id)
		if err != nil {
			return nil, err
		}
		out = append(out, SLAConversation{Conversation: c, SLA: SLAState{Metric: h.metric, DueAt: fromMicros(h.due), Breached: breached}})
	}
	return out, nil
}
