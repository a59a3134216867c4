package desk

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strconv"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/agent"
	"github.com/okpay/okpay/audit"
	"github.com/okpay/okpay/sqldb"
)

// The desk's settings an administrator changes from the console
// (web/staff_desk_settings.go): the targets of the SLA policies (the rows
// of desk_sla_policies, matched by channel, category and priority) and
// the agents' chat capacity; policies are added and removed there too
// (one per channel/category/priority combination, a unique index). Each change is written to the audit log in
// its own transaction, with the agent, the request and the values before
// and after (AUD-01). A new target applies to the timers started after
// the change (SLAPolicyFor is read when a timer starts).

// Audit events of the desk's settings.
const (
	EventSLAPolicyUpdated = "sla_policy_updated"
	EventCapacityChanged  = "agent_capacity_changed"
)

// MaxSLATarget bounds an SLA target (30 days).
const MaxSLATarget = 30 * 24 * time.Hour

// SLATargets are the three targets of a policy (0: no target).
type SLATargets struct {
	FirstResponse, NextResponse, Resolution time.Duration
}

// UpdateSLAPolicy sets the targets of the policy called name: whole
// minutes from 0 (none) to MaxSLATarget; at least one must be set.
func (s *Service) UpdateSLAPolicy(ctx context.Context, by StaffActor, name string, in SLATargets) (*SLAPolicy, error) {
	bad := map[string]string{}
	for field, d := range map[string]time.Duration{"first_response": in.FirstResponse, "next_response": in.NextResponse, "resolution": in.Resolution} {
		if d < 0 || d > MaxSLATarget || d%time.Minute != 0 {
			bad[field] = "Give whole minutes from 0 to 43200."
		}
	}
	if len(bad) == 0 && in.FirstResponse == 0 && in.NextResponse == 0 && in.Resolution == 0 {
		bad["first_response"] = "Set at least one target."
	}
	if len(bad) > 0 {
		return nil, okpay.Invalid(bad)
	}
	now := s.Clock.Now().UTC()
	var after *SLAPolicy
	err := s.inTx(ctx, "update SLA policy", func(tx *sql.Tx) error {
		before, err := scanPolicy(tx.QueryRowContext(ctx, `SELECT `+policyCols+` FROM desk_sla_policies WHERE name = $1`+s.DB.ForUpdate(), name))
		if errors.Is(err, sql.ErrNoRows) {
			return okpay.Errorf(okpay.ENotFound, "There is no such SLA policy.")
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE desk_sla_policies SET first_response_sec = $1, next_response_sec = $2, resolution_sec = $3
			WHERE name = $4`, int64(in.FirstResponse/time.Second), int64(in.NextResponse/time.Second), int64(in.Resolution/time.Second), name); err != nil {
			return err
		}
		a := *before
		a.FirstResponse, a.NextResponse, a.Resolution = in.FirstResponse, in.NextResponse, in.Resolution
		after = &a
		d := map[string]string{}
		for _, m := range []SLAMetric{SLAFirstResponse, SLANextResponse, SLAResolution} {
			if b, x := before.Duration(m), after.Duration(m); b != x {
				d["before_"+string(m)] = b.String()
				d["after_"+string(m)] = x.String()
			}
		}
		return s.auditSetting(ctx, tx, EventSLAPolicyUpdated, by, "sla_policy:"+name, d, now)
	})
	if err != nil {
		return nil, err
	}
	return after, nil
}

// NewSLAPolicy is a policy an administrator adds: its name, what it
// matches ("" for any channel, category or priority; at least one must be
// set, so that a catch-all stays a deliberate choice of the seeded rows)
// and its targets.
type NewSLAPolicy struct {
	Name     string
	Channel  Channel
	Category Category
	Priority Priority
	SLATargets
	// BusinessHours counts only the team's working time.
	BusinessHours bool
}

// Reasons of a refused policy change, the values of okpay.Error's Fields
// (the page translates each as console.settings.error.<reason>).
const (
	ReasonPolicyName      = "policy_name"      // not 1-40 of a-z, 0-9, _ and -
	ReasonPolicyMatch     = "policy_match"     // an unknown channel, category or priority, or none set
	ReasonPolicyTargets   = "policy_targets"   // not whole minutes from 0 to 43200, or none set
	ReasonPolicyDuplicate = "policy_duplicate" // the name is taken
	ReasonPolicySameMatch = "policy_same_match"
	ReasonPolicyLast      = "policy_last" // the last policy cannot be removed
)

// Audit events of adding and removing a policy.
const (
	EventSLAPolicyAdded   = "sla_policy_added"
	EventSLAPolicyRemoved = "sla_policy_removed"
)

// defaultWarnPercent is the warn share of an added policy (the seeded
// policies' too).
const defaultWarnPercent = 75

func validPolicyName(n string) bool {
	if n == "" || len(n) > 40 {
		return false
	}
	for _, r := range n {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// AddSLAPolicy adds a policy (most specific matching policy wins; among
// equally specific ones, rank then name). Refusals: EInvalid with a field
// per problem (ReasonPolicyName, ReasonPolicyMatch, ReasonPolicyTargets);
// EConflict when the name is taken (field "name": ReasonPolicyDuplicate)
// or another policy matches exactly the same channel, category and
// priority (field "match": ReasonPolicySameMatch). Audited with the
// policy's match and targets.
func (s *Service) AddSLAPolicy(ctx context.Context, by StaffActor, in NewSLAPolicy) (*SLAPolicy, error) {
	bad := map[string]string{}
	if !validPolicyName(in.Name) {
		bad["name"] = ReasonPolicyName
	}
	if (in.Channel != "" && !slices.Contains(Channels(), in.Channel)) || (in.Category != "" && !slices.Contains(Categories(), in.Category)) ||
		(in.Priority != "" && !slices.Contains(Priorities(), in.Priority)) || (in.Channel == "" && in.Category == "" && in.Priority == "") {
		bad["match"] = ReasonPolicyMatch
	}
	if !validTargets(in.SLATargets) {
		bad["targets"] = ReasonPolicyTargets
	}
	if len(bad) > 0 {
		return nil, okpay.Invalid(bad)
	}
	p := &SLAPolicy{Name: in.Name, Channel: in.Channel, Category: in.Category, Priority: in.Priority, FirstResponse: in.FirstResponse,
		NextResponse: in.NextResponse, Resolution: in.Resolution, WarnPercent: defaultWarnPercent, BusinessHours: in.BusinessHours, Rank: 100}
	dup := func() error {
		return &okpay.Error{Code: okpay.EConflict, Message: "A policy with this name exists already.", Fields: map[string]string{"name": ReasonPolicyDuplicate}}
	}
	same := func() error {
		return &okpay.Error{Code: okpay.EConflict, Message: "Another policy matches the same channel, category and priority.",
			Fields: map[string]string{"match": ReasonPolicySameMatch}}
	}
	now := s.Clock.Now().UTC()
	err := s.inTx(ctx, "add SLA policy", func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM desk_sla_policies WHERE name = $1`, p.Name).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return dup()
		}
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM desk_sla_policies WHERE channel = $1 AND category = $2 AND priority = $3`,
			string(p.Channel), string(p.Category), string(p.Priority)).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return same()
		}
		bh := 0
		if p.BusinessHours {
			bh = 1
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO desk_sla_policies (`+policyCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			p.Name, string(p.Channel), string(p.Category), string(p.Priority), int64(p.FirstResponse/time.Second), int64(p.NextResponse/time.Second),
			int64(p.Resolution/time.Second), p.WarnPercent, bh, p.Rank); err != nil {
			if sqldb.IsUniqueViolation(err) { // a concurrent add of the same name or match
				return same()
			}
			return err
		}
		return s.auditSetting(ctx, tx, EventSLAPolicyAdded, by, "sla_policy:"+p.Name, policyDetails(p), now)
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// RemoveSLAPolicy removes the policy called name (ENotFound when there is
// none). Timers already started keep their due times; conversations that
// start afterwards get the next most specific policy. The last policy
// cannot be removed (EConflict, field "policy": ReasonPolicyLast): with
// none, conversations would have no service level at all. Audited with
// what the policy was.
func (s *Service) RemoveSLAPolicy(ctx context.Context, by StaffActor, name string) error {
	now := s.Clock.Now().UTC()
	return s.inTx(ctx, "remove SLA policy", func(tx *sql.Tx) error {
		p, err := scanPolicy(tx.QueryRowContext(ctx, `SELECT `+policyCols+` FROM desk_sla_policies WHERE name = $1`+s.DB.ForUpdate(), name))
		if errors.Is(err, sql.ErrNoRows) {
			return okpay.Errorf(okpay.ENotFound, "There is no such SLA policy.")
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM desk_sla_policies WHERE name = $1`, name); err != nil {
			return err
		}
		var left int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM desk_sla_policies`).Scan(&left); err != nil {
			return err
		}
		if left == 0 {
			return &okpay.Error{Code: okpay.EConflict, Message: "The last SLA policy cannot be removed.", Fields: map[string]string{"policy": ReasonPolicyLast}}
		}
		return s.auditSetting(ctx, tx, EventSLAPolicyRemoved, by, "sla_policy:"+name, policyDetails(p), now)
	})
}

// policyDetails describes policy p for the audit log.
func policyDetails(p *SLAPolicy) map[string]string {
	orAny := func(v string) string {
		if v == "" {
			return "any"
		}
		return v
	}
	return map[string]string{"channel": orAny(string(p.Channel)), "category": orAny(string(p.Category)), "priority": orAny(string(p.Priority)),
		string(SLAFirstResponse): p.FirstResponse.String(), string(SLANextResponse): p.NextResponse.String(),
		string(SLAResolution): p.Resolution.String(), "business_hours": strconv.FormatBool(p.BusinessHours)}
}

// validTargets: whole minutes from 0 to MaxSLATarget, at least one set.
func validTargets(in SLATargets) bool {
	for _, d := range []time.Duration{in.FirstResponse, in.NextResponse, in.Resolution} {
		if d < 0 || d > MaxSLATarget || d%time.Minute != 0 {
			return false
		}
	}
	return in.FirstResponse != 0 || in.NextResponse != 0 || in.Resolution != 0
}

// SetAgentCapacity sets how many open and pending conversations
// auto-assignment gives agent agentID (0 to 100; 0 stops it), audited
// with the capacity before and after.
func (s *Service) SetAgentCapacity(ctx context.Context, by StaffActor, agentID int64, capacity int) error {
	if agentID <= 0 {
		return okpay.Invalid(map[string]string{"agent_id": "Choose an agent."})
	}
	if capacity < 0 || capacity > 100 {
		return okpay.Invalid(map[string]string{"capacity": "Choose a number from 0 to 100."})
	}
	now := s.Clock.Now().UTC()
	return s.inTx(ctx, "set capacity", func(tx *sql.Tx) error {
		before := DefaultCapacity
		err := tx.QueryRowContext(ctx, `SELECT capacity FROM desk_agent_presence WHERE agent_id = $1`+s.DB.ForUpdate(), agentID).Scan(&before)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			if _, err := tx.ExecContext(ctx, `INSERT INTO desk_agent_presence (agent_id, status, capacity, last_seen_at, updated_at)
				VALUES ($1, 'offline', $2, 0, $3)`, agentID, capacity, micros(now)); err != nil {
				return err
			}
		case err != nil:
			return err
		default:
			if _, err := tx.ExecContext(ctx, `UPDATE desk_agent_presence SET capacity = $1, updated_at = $2 WHERE agent_id = $3`,
				capacity, micros(now), agentID); err != nil {
				return err
			}
		}
		d := map[string]string{"before_capacity": strconv.Itoa(before), "after_capacity": strconv.Itoa(capacity)}
		return s.auditSetting(ctx, tx, EventCapacityChanged, by, agent.Ref(agentID), d, now)
	})
}

// auditSetting appends the event of a settings change in tx.
func (s *Service) auditSetting(ctx context.Context, tx *sql.Tx, name string, by StaffActor, subject string, d map[string]string, at time.Time) error {
	ev := audit.Event{At: at, Name: name, Actor: agent.Ref(by.AgentID), Subject: subject, IP: by.IP, RequestID: by.RequestID,
		Outcome: audit.Success, Details: d}
	if _, err := audit.Append(ctx, tx, s.DB.Dialect, ev); err != nil {
		return okpay.Internal(err, "audit desk setting")
	}
	return nil
}

// Overview is the desk at a glance for those who run it without answering
// customers (the admin role's /staff/desk): counts only, no conversation
// content and no customer data.
type Overview struct {
	// Open, Pending and Snoozed count the conversations in each status.
	Open, Pending, Snoozed int
	// Unassigned counts the open conversations no agent has.
	Unassigned int
	// Breached counts the running SLA timers past their due time
	// (conversations not resolved or closed).
	Breached int
	// Teams counts the open and pending conversations of each team, by
	// team name.
	Teams []TeamCount
}

// TeamCount is a team's open and pending conversations.
type TeamCount struct {
	Team  string
	Count int
}

// Overview counts the desk's work now.
func (s *Service) Overview(ctx context.Context) (*Overview, error) {
	var o Overview
	now := micros(s.Clock.Now().UTC())
	rows, err := s.DB.Read.QueryContext(ctx, `SELECT status, COUNT(*), SUM(CASE WHEN assignee_id = 0 THEN 1 ELSE 0 END)
		FROM desk_conversations WHERE status IN ('open', 'pending', 'snoozed') GROUP BY status`)
	if err != nil {
		return nil, okpay.Internal(err, "desk overview")
	}
	for rows.Next() {
		var st string
		var n, unassigned int
		if err := rows.Scan(&st, &n, &unassigned); err != nil {
			rows.Close()
			return nil, okpay.Internal(err, "desk overview")
		}
		switch Status(st) {
		case StatusOpen:
			o.Open, o.Unassigned = n, unassigned
		case StatusPending:
			o.Pending = n
		case StatusSnoozed:
			o.Snoozed = n
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, okpay.Internal(err, "desk overview")
	}
	if err := s.DB.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM desk_sla_timers t JOIN desk_conversations c ON c.id = t.conversation_id
		WHERE t.met_at = 0 AND t.paused_at = 0 AND t.due_at > 0 AND t.due_at <= $1 AND c.status IN ('open', 'pending', 'snoozed')`, now).Scan(&o.Breached); err != nil {
		return nil, okpay.Internal(err, "desk overview")
	}
	rows, err = s.DB.Read.QueryContext(ctx, `SELECT team, COUNT(*) FROM desk_conversations WHERE status IN ('open', 'pending') GROUP BY team ORDER BY team`)
	if err != nil {
		return nil, okpay.Internal(err, "desk overview")
	}
	defer rows.Close()
	for rows.Next() {
		var tc TeamCount
		if err := rows.Scan(&tc.Team, &tc.Count); err != nil {
			return nil, okpay.Internal(err, "desk overview")
		}
		o.Teams = append(o.Teams, tc)
	}
	return &o, rows.Err()
}
