package desk

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/agent"
	"github.com/okpay/okpay/desk/realtime"
	"github.com/okpay/okpay/i18n"
)

// Service levels (issue 5).
//
// A conversation has up to three SLA timers, rows of desk_sla_timers that
// survive restarts:
//
//   - first_response starts with the conversation and is met by the first
//     public reply of an agent;
//   - next_response starts at a customer's (or visitor's) message once an
//     agent has replied and no response timer is running, and is met by
//     the next public agent reply (each cycle replaces the row);
//   - resolution starts with the conversation and is met when it is
//     resolved or closed; reopening a resolved conversation starts a new
//     cycle. It pauses while the conversation is pending or snoozed (it
//     waits for the customer or a time): resuming moves its due and warn
//     times later by the paused time (counted in the policy's hours). The
//     response timers do not pause.
//
// The policy is chosen when a timer starts (SLAPolicyFor): the most
// specific row of desk_sla_policies matching the conversation's channel,
// category and priority. A later change of priority applies to the next
// cycle. A policy with business hours counts only the team's working time
// (agent.Team's Schedule in its TimeZone; an always-open team, a team with
// no schedule or an unknown team count wall-clock time).
//
// SweepSLA (the SLA job, every 15 s) warns at warn_at (the policy's
// warn_pct of the duration) and marks breaches at due_at: each is written
// once (a conditional UPDATE, so several nodes may run the job), recorded
// in the conversation's activity, announced on the staff topics (EventSLA)
// and logged. Timers of resolved and closed conversations are not swept.
// A conversation without timers (started before routing existed, or by a
// path that does not start them) gets them from the sweep, started at its
// creation.

// SLAMetric names an SLA timer.
type SLAMetric string

// SLA metrics.
const (
	SLAFirstResponse SLAMetric = "first_response"
	SLANextResponse  SLAMetric = "next_response"
	SLAResolution    SLAMetric = "resolution"
)

// SLATimerState is where a timer stands.
type SLATimerState string

// SLA states.
const (
	SLARunning  SLATimerState = "running"
	SLAPaused   SLATimerState = "paused"
	SLAWarning  SLATimerState = "warning"  // running, past its warn time
	SLABreached SLATimerState = "breached" // not met by its due time
	SLAMet      SLATimerState = "met"      // met in time
	SLAMetLate  SLATimerState = "met_late" // met after its due time
)

// EventSLA is the staff event of a timer warning or breaching (on the
// conversation's staff topic and the inbox topic).
const EventSLA = "sla"

// SLAPolicy is a row of desk_sla_policies.
type SLAPolicy struct {
	Name                        string
	Channel                     Channel  // "" matches any
	Category                    Category // "" matches any
	Priority                    Priority // "" matches any
	FirstResponse, NextResponse time.Duration
	Resolution                  time.Duration
	WarnPercent                 int
	BusinessHours               bool
	Rank                        int
}

// Duration returns the policy's target for metric m (0: none).
func (p *SLAPolicy) Duration(m SLAMetric) time.Duration {
	switch m {
	case SLAFirstResponse:
		return p.FirstResponse
	case SLANextResponse:
		return p.NextResponse
	case SLAResolution:
		return p.Resolution
	}
	return 0
}

// SLATimer is one timer of a conversation. Zero times are "never".
type SLATimer struct {
	ConversationID int64
	Metric         SLAMetric
	Policy         string
	StartedAt      time.Time
	DueAt          time.Time
	WarnAt         time.Time
	WarnedAt       time.Time
	BreachedAt     time.Time
	MetAt          time.Time
	PausedAt       time.Time
}

// SLAMetricLabel returns the name of metric m in lang (routing catalog).
func SLAMetricLabel(c *i18n.Catalog, lang i18n.Lang, m SLAMetric) string {
	return c.T(lang, "routing.sla."+string(m), nil)
}

// SLAStateLabel returns the name of state st in lang (routing catalog).
func SLAStateLabel(c *i18n.Catalog, lang i18n.Lang, st SLATimerState) string {
	return c.T(lang, "routing.sla.state."+string(st), nil)
}

// Compliant reports whether the timer was met in time.
func (t *SLATimer) Compliant() bool { return !t.MetAt.IsZero() && !t.MetAt.After(t.DueAt) }

// State returns where the timer stands at now.
func (t *SLATimer) State(now time.Time) SLATimerState {
	switch {
	case !t.MetAt.IsZero() && t.Compliant():
		return SLAMet
	case !t.MetAt.IsZero():
		return SLAMetLate
	case !t.BreachedAt.IsZero() || (t.PausedAt.IsZero() && !now.Before(t.DueAt)):
		return SLABreached
	case !t.PausedAt.IsZero():
		return SLAPaused
	case !t.WarnedAt.IsZero() || !now.Before(t.WarnAt):
		return SLAWarning
	}
	return SLARunning
}

// SLAFilter selects conversations by their running timers (see
// ConversationFilter.SLA).
type SLAFilter string

// SLA filters.
const (
	// SLAFilterBreached: an unmet timer is past its due time.
	SLAFilterBreached SLAFilter = "breached"
	// SLAFilterDueSoon: an unmet running timer is past its warn time but
	// not its due time.
	SLAFilterDueSoon SLAFilter = "due_soon"
)

// slaCondition returns the WHERE condition of f ("?" placeholders, see
// Conversations) and its values, or "" for an unknown filter.
func slaCondition(f SLAFilter, now time.Time) (string, []any) {
	n := micros(now)
	switch f {
	case SLAFilterBreached:
		return `status NOT IN ('resolved', 'closed') AND EXISTS (SELECT 1 FROM desk_sla_timers t WHERE t.conversation_id = desk_conversations.id
			AND t.met_at = 0 AND (t.breached_at > 0 OR (t.paused_at = 0 AND t.due_at <= ?)))`, []any{n}
	case SLAFilterDueSoon:
		return `status NOT IN ('resolved', 'closed') AND EXISTS (SELECT 1 FROM desk_sla_timers t WHERE t.conversation_id = desk_conversations.id
			AND t.met_at = 0 AND t.breached_at = 0 AND t.paused_at = 0 AND t.due_at > ? AND (t.warned_at > 0 OR t.warn_at <= ?))`, []any{n, n}
	}
	return "", nil
}

const timerCols = `conversation_id, metric, policy, started_at, due_at, warn_at, warned_at, breached_at, met_at, paused_at`

func scanTimer(row interface{ Scan(...any) error }) (*SLATimer, error) {
	var t SLATimer
	var started, due, warn, warned, breached, met, paused int64
	if err := row.Scan(&t.ConversationID, &t.Metric, &t.Policy, &started, &due, &warn, &warned, &breached, &met, &paused); err != nil {
		return nil, err
	}
	t.StartedAt, t.DueAt, t.WarnAt = fromMicros(started), fromMicros(due), fromMicros(warn)
	t.WarnedAt, t.BreachedAt, t.MetAt, t.PausedAt = fromMicros(warned), fromMicros(breached), fromMicros(met), fromMicros(paused)
	return &t, nil
}

// SLATimers returns a conversation's timers (first response, next
// response, resolution; those that exist). Staff only.
func (s *Service) SLATimers(ctx context.Context, v Viewer, id int64) ([]SLATimer, error) {
	if err := staffOnly(v); err != nil {
		return nil, err
	}
	if _, err := s.loadConv(ctx, s.DB.Read, v, id, false); err != nil {
		return nil, err
	}
	rows, err := s.DB.Read.QueryContext(ctx, `SELECT `+timerCols+` FROM desk_sla_timers WHERE conversation_id = $1`, id)
	if err != nil {
		return nil, okpay.Internal(err, "load SLA timers")
	}
	defer rows.Close()
	var out []SLATimer
	for rows.Next() {
		t, err := scanTimer(rows)
		if err != nil {
			return nil, okpay.Internal(err, "load SLA timers")
		}
		out = append(out, *t)
	}
	if err := rows.Err(); err != nil {
		return nil, okpay.Internal(err, "load SLA timers")
	}
	order := map[SLAMetric]int{SLAFirstResponse: 0, SLANextResponse: 1, SLAResolution: 2}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && order[out[j].Metric] < order[out[j-1].Metric]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out, nil
}

const policyCols = `name, channel, category, priority, first_response_sec, next_response_sec, resolution_sec, warn_pct, business_hours, rank`

func scanPolicy(row interface{ Scan(...any) error }) (*SLAPolicy, error) {
	var p SLAPolicy
	var fr, nr, res int64
	var bh int
	if err := row.Scan(&p.Name, &p.Channel, &p.Category, &p.Priority, &fr, &nr, &res, &p.WarnPercent, &bh, &p.Rank); err != nil {
		return nil, err
	}
	p.FirstResponse, p.NextResponse, p.Resolution = time.Duration(fr)*time.Second, time.Duration(nr)*time.Second, time.Duration(res)*time.Second
	p.BusinessHours = bh != 0
	return &p, nil
}

// SLAPolicies lists the policies, most specific first.
func (s *Service) SLAPolicies(ctx context.Context) ([]*SLAPolicy, error) {
	rows, err := s.DB.Read.QueryContext(ctx, `SELECT `+policyCols+` FROM desk_sla_policies ORDER BY `+policyOrder)
	if err != nil {
		return nil, okpay.Internal(err, "list SLA policies")
	}
	defer rows.Close()
	var out []*SLAPolicy
	for rows.Next() {
		p, err := scanPolicy(rows)
		if err != nil {
			return nil, okpay.Internal(err, "list SLA policies")
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

const policyOrder = `(CASE WHEN channel <> '' THEN 1 ELSE 0 END + CASE WHEN category <> '' THEN 1 ELSE 0 END + CASE WHEN priority <> '' THEN 1 ELSE 0 END) DESC, rank, name`

// SLAPolicyFor returns the policy of a conversation with these channel,
// category and priority (nil when none matches).
func (s *Service) SLAPolicyFor(ctx context.Context, ch Channel, cat Category, p Priority) (*SLAPolicy, error) {
	pol, err := s.policyFor(ctx, s.DB.Read, ch, cat, p)
	if err != nil {
		return nil, okpay.Internal(err, "load SLA policy")
	}
	return pol, nil
}

func (s *Service) policyFor(ctx context.Context, q querier, ch Channel, cat Category, p Priority) (*SLAPolicy, error) {
	pol, err := scanPolicy(q.QueryRowContext(ctx, `SELECT `+policyCols+` FROM desk_sla_policies
		WHERE (channel = '' OR channel = $1) AND (category = '' OR category = $2) AND (priority = '' OR priority = $3)
		ORDER BY `+policyOrder+` LIMIT 1`, string(ch), string(cat), string(p)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return pol, err
}

// Hours is the working time SLA durations are counted in: wall-clock time
// (the zero Hours, or Always) or a team's weekly schedule in its zone.
type Hours struct {
	Always   bool
	Location *time.Location
	Schedule agent.Schedule
}

// TeamHours returns the hours of team t (wall-clock for nil, an
// always-open team or an empty schedule).
func TeamHours(t *agent.Team) Hours {
	if t == nil || t.AlwaysOpen || t.Schedule.Empty() {
		return Hours{Always: true}
	}
	loc, err := time.LoadLocation(t.TimeZone)
	if err != nil {
		loc = time.UTC
	}
	return Hours{Location: loc, Schedule: t.Schedule}
}

func (h Hours) wall() bool { return h.Always || h.Location == nil || h.Schedule.Empty() }

// maxDays bounds the walk through a schedule (a schedule with working time
// has some every week).
const maxDays = 800

// Add returns the time d of working time after start.
func (h Hours) Add(start time.Time, d time.Duration) time.Time {
	if h.wall() || d <= 0 {
		return start.Add(max(d, 0))
	}
	t := start.In(h.Location)
	for range maxDays {
		y, m, day := t.Date()
		wd := (int(t.Weekday()) + 6) % 7
		for _, iv := range h.Schedule.Days[wd] {
			a := time.Date(y, m, day, iv.Start/60, iv.Start%60, 0, 0, h.Location)
			b := time.Date(y, m, day, iv.End/60, iv.End%60, 0, 0, h.Location)
			if !b.After(t) {
				continue
			}
			if a.Before(t) {
				a = t
			}
			if seg := b.Sub(a); seg >= d {
				return a.Add(d).UTC()
			} else {
				d -= seg
			}
		}
		t = time.Date(y, m, day+1, 0, 0, 0, 0, h.Location)
	}
	return start.Add(d)
}

// Between returns the working time from a to b (0 when b is not after a).
func (h Hours) Between(a, b time.Time) time.Duration {
	if !b.After(a) {
		return 0
	}
	if h.wall() {
		return b.Sub(a)
	}
	var sum time.Duration
	t := a.In(h.Location)
	for range maxDays {
		if !t.Before(b) {
			break
		}
		y, m, day := t.Date()
		wd := (int(t.Weekday()) + 6) % 7
		for _, iv := range h.Schedule.Days[wd] {
			x := time.Date(y, m, day, iv.Start/60, iv.Start%60, 0, 0, h.Location)
			z := time.Date(y, m, day, iv.End/60, iv.End%60, 0, 0, h.Location)
			if x.Before(t) {
				x = t
			}
			if z.After(b) {
				z = b
			}
			if z.After(x) {
				sum += z.Sub(x)
			}
		}
		t = time.Date(y, m, day+1, 0, 0, 0, 0, h.Location)
	}
	return sum
}

// teamHours reads the working hours of team name. The team belongs to
// package agent; the timers are set inside the desk's transactions, so the
// row is read here (read-only, by its key) in the caller's transaction.
// Parsing it (agent.ParseSchedule and time.LoadLocation, which reads the
// zone's file) is done once per content: the parsed hours are kept per
// team with the row they came from, so a changed team is parsed again at
// once, on every node, with no TTL to wait out.
func (s *Service) teamHours(ctx context.Context, q querier, name string) (Hours, error) {
	var row teamRow
	var open int
	err := q.QueryRowContext(ctx, `SELECT always_open, time_zone, schedule FROM agent_teams WHERE name = $1`, name).Scan(&open, &row.timeZone, &row.schedule)
	if errors.Is(err, sql.ErrNoRows) {
		return Hours{Always: true}, nil
	}
	if err != nil {
		return Hours{}, err
	}
	row.alwaysOpen = open != 0
	if h, ok := s.hours.get(name, row); ok {
		return h, nil
	}
	h := Hours{Always: true}
	if sc, err := agent.ParseSchedule(row.schedule); err != nil {
		s.log.Warn("desk: team schedule unreadable, SLA counts wall-clock time", "team", name, "err", err)
	} else {
		h = TeamHours(&agent.Team{AlwaysOpen: row.alwaysOpen, TimeZone: row.timeZone, Schedule: sc})
	}
	s.hours.put(name, row, h)
	return h, nil
}

// teamRow is what a team's hours are parsed from.
type teamRow struct {
	alwaysOpen         bool
	timeZone, schedule string
}

// hoursCache keeps the parsed hours of each team with the row they were
// parsed from (Service.hours; the zero value is ready).
type hoursCache struct {
	mu sync.Mutex
	m  map[string]parsedHours
}

type parsedHours struct {
	row   teamRow
	hours Hours
}

// get returns the hours parsed from row, if team's are.
func (c *hoursCache) get(team string, row teamRow) (Hours, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.m[team]
	if !ok || p.row != row {
		return Hours{}, false
	}
	return p.hours, true
}

func (c *hoursCache) put(team string, row teamRow, h Hours) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]parsedHours{}
	}
	c.m[team] = parsedHours{row: row, hours: h}
}

// timerHours returns the hours the timers of c count in under policy pol:
// its team's with business hours, otherwise wall-clock time. A caller
// starting several timers reads them once.
func (s *Service) timerHours(ctx context.Context, tx *sql.Tx, c *convRow, pol *SLAPolicy) (Hours, error) {
	if pol == nil || !pol.BusinessHours {
		return Hours{Always: true}, nil
	}
	return s.teamHours(ctx, tx, c.Team)
}

// startTimer (re)starts timer m of conversation c at start under policy
// pol, counted in h (timerHours), replacing the previous cycle's row.
// Nothing happens when the policy has no target for m.
func (s *Service) startTimer(ctx context.Context, tx *sql.Tx, c *convRow, pol *SLAPolicy, h Hours, m SLAMetric, start time.Time) error {
	if pol == nil || pol.Duration(m) <= 0 {
		return nil
	}
	d := pol.Duration(m)
	due := h.Add(start, d)
	warn := h.Add(start, d*time.Duration(pol.WarnPercent)/100)
	if _, err := tx.ExecContext(ctx, `DELETE FROM desk_sla_timers WHERE conversation_id = $1 AND metric = $2`, c.ID, string(m)); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO desk_sla_timers (`+timerCols+`) VALUES ($1, $2, $3, $4, $5, $6, 0, 0, 0, 0)`,
		c.ID, string(m), pol.Name, micros(start), micros(due), micros(warn))
	return err
}

// startTimers starts the timers ms of c at start under policy pol, with
// the team's hours read once.
func (s *Service) startTimers(ctx context.Context, tx *sql.Tx, c *convRow, pol *SLAPolicy, start time.Time, ms ...SLAMetric) error {
	h, err := s.timerHours(ctx, tx, c, pol)
	if err != nil {
		return err
	}
	for _, m := range ms {
		if err := s.startTimer(ctx, tx, c, pol, h, m, start); err != nil {
			return err
		}
	}
	return nil
}

// slaStartTx starts the timers of a new conversation (in its transaction).
func (s *Service) slaStartTx(ctx context.Context, tx *sql.Tx, c *convRow, now time.Time) error {
	pol, err := s.policyFor(ctx, tx, c.Channel, c.Category, c.Priority)
	if err != nil {
		return err
	}
	return s.startTimers(ctx, tx, c, pol, now, SLAFirstResponse, SLAResolution)
}

// slaMessageTx updates the timers for message m just written to c by v:
// an agent's public reply meets the response timers; a customer's message
// after an agent's reply starts a next-response cycle. c is the
// conversation as loaded before the message.
func (s *Service) slaMessageTx(ctx context.Context, tx *sql.Tx, c *convRow, v Viewer, m *Message, now time.Time) error {
	if m == nil || m.Internal {
		return nil
	}
	switch v.Kind {
	case KindAgent:
		_, err := tx.ExecContext(ctx, `UPDATE desk_sla_timers SET met_at = $1
			WHERE conversation_id = $2 AND metric IN ('first_response', 'next_response') AND met_at = 0`, micros(now), c.ID)
		return err
	case KindCustomer, KindVisitor:
		if c.FirstResponseAt.IsZero() {
			return nil // the first response is still awaited
		}
		var running int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM desk_sla_timers
			WHERE conversation_id = $1 AND metric IN ('first_response', 'next_response') AND met_at = 0`, c.ID).Scan(&running); err != nil {
			return err
		}
		if running > 0 {
			return nil
		}
		pol, err := s.policyFor(ctx, tx, c.Channel, c.Category, c.Priority)
		if err != nil {
			return err
		}
		return s.startTimers(ctx, tx, c, pol, now, SLANextResponse)
	}
	return nil
}

// slaStatusTx updates the resolution timer of c for its move to status to
// (c.Status is still the status it leaves).
func (s *Service) slaStatusTx(ctx context.Context, tx *sql.Tx, c *convRow, to Status, now time.Time) error {
	from := c.Status
	switch to {
	case StatusResolved, StatusClosed:
		_, err := tx.ExecContext(ctx, `UPDATE desk_sla_timers SET met_at = $1, paused_at = 0
			WHERE conversation_id = $2 AND metric = 'resolution' AND met_at = 0`, micros(now), c.ID)
		return err
	case StatusPending, StatusSnoozed:
		_, err := tx.ExecContext(ctx, `UPDATE desk_sla_timers SET paused_at = $1
			WHERE conversation_id = $2 AND metric = 'resolution' AND met_at = 0 AND paused_at = 0`, micros(now), c.ID)
		return err
	case StatusOpen:
		if from == StatusResolved {
			pol, err := s.policyFor(ctx, tx, c.Channel, c.Category, c.Priority)
			if err != nil {
				return err
			}
			return s.startTimers(ctx, tx, c, pol, now, SLAResolution)
		}
		return s.resumeTimer(ctx, tx, c, now)
	}
	return nil
}

// resumeTimer restarts a paused resolution timer, moving its due and warn
// times later by the working time it was paused.
func (s *Service) resumeTimer(ctx context.Context, tx *sql.Tx, c *convRow, now time.Time) error {
	t, err := scanTimer(tx.QueryRowContext(ctx, `SELECT `+timerCols+` FROM desk_sla_timers
		WHERE conversation_id = $1 AND metric = 'resolution' AND met_at = 0 AND paused_at > 0`, c.ID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	h := Hours{Always: true}
	var bh int
	err = tx.QueryRowContext(ctx, `SELECT business_hours FROM desk_sla_policies WHERE name = $1`, t.Policy).Scan(&bh)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	if bh != 0 {
		if h, err = s.teamHours(ctx, tx, c.Team); err != nil {
			return err
		}
	}
	due, warn := t.DueAt, t.WarnAt
	if due.After(t.PausedAt) {
		due = h.Add(now, h.Between(t.PausedAt, t.DueAt))
	}
	if warn.After(t.PausedAt) {
		warn = h.Add(now, h.Between(t.PausedAt, t.WarnAt))
	}
	_, err = tx.ExecContext(ctx, `UPDATE desk_sla_timers SET paused_at = 0, due_at = $1, warn_at = $2
		WHERE conversation_id = $3 AND metric = 'resolution'`, micros(due), micros(warn), c.ID)
	return err
}

type slaFrame struct {
	Type         string        `json:"type"`
	Conversation string        `json:"conversation"`
	Metric       SLAMetric     `json:"metric"`
	State        SLATimerState `json:"state"`
	DueAt        time.Time     `json:"due_at"`
}

// SweepResult counts what one SweepSLA did.
type SweepResult struct {
	Started  int // conversations that got their missing timers
	Warned   int
	Breached int
}

// SweepSLA starts missing timers, then marks the timers past their warn
// time as warned and those past their due time as breached (each once),
// recording, announcing and logging each. Run it every 15 s or so.
func (s *Service) SweepSLA(ctx context.Context) (SweepResult, error) {
	var r SweepResult
	n, err := s.backfillTimers(ctx)
	r.Started = n
	if err != nil {
		return r, err
	}
	for _, st := range []SLATimerState{SLABreached, SLAWarning} {
		n, err := s.markTimers(ctx, st)
		if err != nil {
			return r, err
		}
		if st == SLABreached {
			r.Breached = n
		} else {
			r.Warned = n
		}
	}
	return r, nil
}

// backfillTimers starts the timers of unresolved conversations that have
// none (started at their creation).
func (s *Service) backfillTimers(ctx context.Context) (int, error) {
	ids, err := s.ids(ctx, `SELECT c.id FROM desk_conversations c WHERE c.status NOT IN ('resolved', 'closed')
		AND NOT EXISTS (SELECT 1 FROM desk_sla_timers t WHERE t.conversation_id = c.id) ORDER BY c.id LIMIT 200`)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range ids {
		err := s.inTx(ctx, "start SLA timers", func(tx *sql.Tx) error {
			c, err := s.loadConv(ctx, tx, System, id, true)
			if err != nil {
				return err
			}
			var have int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM desk_sla_timers WHERE conversation_id = $1`, id).Scan(&have); err != nil {
				return err
			}
			if have > 0 {
				return nil
			}
			pol, err := s.policyFor(ctx, tx, c.Channel, c.Category, c.Priority)
			if err != nil {
				return err
			}
			h, err := s.timerHours(ctx, tx, c, pol)
			if err != nil {
				return err
			}
			if err := s.startTimer(ctx, tx, c, pol, h, SLAFirstResponse, c.CreatedAt); err != nil {
				return err
			}
			if !c.FirstResponseAt.IsZero() {
				if _, err := tx.ExecContext(ctx, `UPDATE desk_sla_timers SET met_at = $1 WHERE conversation_id = $2 AND metric = 'first_response'`,
					micros(c.FirstResponseAt), id); err != nil {
					return err
				}
			}
			if err := s.startTimer(ctx, tx, c, pol, h, SLAResolution, c.CreatedAt); err != nil {
				return err
			}
			if c.Status == StatusPending || c.Status == StatusSnoozed {
				return s.slaStatusTx(ctx, tx, &convRow{Conversation: Conversation{ID: id, Status: StatusOpen}}, c.Status, c.UpdatedAt)
			}
			return nil
		})
		if err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// markTimers marks the timers that reached state st (SLAWarning or
// SLABreached) and announces them.
func (s *Service) markTimers(ctx context.Context, st SLATimerState) (int, error) {
	now := s.Clock.Now()
	q := `SELECT t.conversation_id, t.metric FROM desk_sla_timers t JOIN desk_conversations c ON c.id = t.conversation_id
		WHERE t.met_at = 0 AND t.breached_at = 0 AND t.paused_at = 0 AND t.due_at <= $1 AND c.status NOT IN ('resolved', 'closed')
		ORDER BY t.due_at LIMIT 500`
	kind, col := "sla_breached", "breached_at"
	if st == SLAWarning {
		q = `SELECT t.conversation_id, t.metric FROM desk_sla_timers t JOIN desk_conversations c ON c.id = t.conversation_id
			WHERE t.met_at = 0 AND t.warned_at = 0 AND t.breached_at = 0 AND t.paused_at = 0 AND t.warn_at <= $1 AND c.status NOT IN ('resolved', 'closed')
			ORDER BY t.warn_at LIMIT 500`
		kind, col = "sla_warning", "warned_at"
	}
	rows, err := s.DB.Read.QueryContext(ctx, q, micros(now))
	if err != nil {
		return 0, okpay.Internal(err, "sweep SLA timers")
	}
	type key struct {
		id     int64
		metric SLAMetric
	}
	var due []key
	for rows.Next() {
		var k key
		if err := rows.Scan(&k.id, &k.metric); err != nil {
			rows.Close()
			return 0, okpay.Internal(err, "sweep SLA timers")
		}
		due = append(due, k)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, okpay.Internal(err, "sweep SLA timers")
	}
	n := 0
	for _, k := range due {
		var t *SLATimer
		var conv *convRow
		err := s.inTx(ctx, "mark SLA timer", func(tx *sql.Tx) error {
			t, conv = nil, nil
			c, err := s.loadConv(ctx, tx, System, k.id, true)
			if err != nil {
				return err
			}
			// col is one of two constants above, never input.
			set := col + ` = $1`
			if st == SLABreached {
				set += `, warned_at = CASE WHEN warned_at = 0 THEN $1 ELSE warned_at END`
			}
			res, err := tx.ExecContext(ctx, `UPDATE desk_sla_timers SET `+set+`
				WHERE conversation_id = $2 AND metric = $3 AND met_at = 0 AND paused_at = 0 AND `+col+` = 0 AND breached_at = 0`,
				micros(now), k.id, string(k.metric))
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n != 1 {
				return nil
			}
			tt, err := scanTimer(tx.QueryRowContext(ctx, `SELECT `+timerCols+` FROM desk_sla_timers WHERE conversation_id = $1 AND metric = $2`, k.id, string(k.metric)))
			if err != nil {
				return err
			}
			detail := string(k.metric) + " due " + tt.DueAt.UTC().Format(time.RFC3339) + " (" + tt.Policy + ")"
			if err := s.record(ctx, tx, k.id, System, kind, detail, now); err != nil {
				return err
			}
			t, conv = tt, c
			return nil
		})
		if err != nil {
			return n, err
		}
		if t == nil {
			continue
		}
		n++
		s.log.Warn("desk: SLA "+string(st), "conversation", ConversationRef(k.id), "metric", k.metric, "policy", t.Policy,
			"due", t.DueAt, "assignee", participantRef(KindAgent, conv.AssigneeID), "team", conv.Team)
		data := mustJSON(slaFrame{Type: EventSLA, Conversation: ConversationRef(k.id), Metric: k.metric, State: st, DueAt: t.DueAt})
		s.publish(ctx, StaffTopic(k.id), realtime.Event{Type: EventSLA, Conversation: k.id, Data: data})
		s.publish(ctx, InboxTopic, realtime.Event{Type: EventSLA, Conversation: k.id, Data: data})
	}
	return n, nil
}
