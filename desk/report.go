package desk

import (
	"context"
	"slices"
	"time"

	"github.com/okpay/okpay"
)

// Reports for supervisors (the staff console's /staff/reports): over a
// period and optionally one team,
//
//   - volume: the conversations created, per UTC day, per channel and per
//     category;
//   - first-response time (created → first agent reply) and resolution
//     time (created → resolved, for those resolved now) of the
//     conversations created in the period: median and 90th percentile
//     (nearest rank);
//   - SLA compliance per metric, from the SLA timers (desk_sla_timers)
//     started in the period: of the timers that ended (met or breached),
//     the share met in time (met_at > 0 and met_at <= due_at);
//   - CSAT: the ratings given in the period (average, how many of each
//     score) and the response rate: of the resolutions made in the period
//     (a conversation resolved, reopened and resolved again counts
//     twice), the share rated.
//
// A conversation counts in the team it belongs to now.

// ReportQuery chooses a report's period and team.
type ReportQuery struct {
	// From and To bound the period: [From, To).
	From, To time.Time
	// Team restricts the report to one team ("" for every team).
	Team string
}

// DayCount is the conversations created on one UTC day.
type DayCount struct {
	Day   time.Time
	Count int
}

// Durations summarises a set of durations.
type Durations struct {
	Count  int
	Median time.Duration
	P90    time.Duration
}

// SLAMetrics are the SLA metrics in the order reports list them.
var SLAMetrics = []string{"first_response", "next_response", "resolution"}

// SLACompliance is one SLA metric's outcome.
type SLACompliance struct {
	Metric   string
	Met      int // met in time
	Breached int // met late or not met by the due time
	// Running is the timers still counting (neither met nor breached).
	Running int
}

// Ended is how many timers ended (met or breached).
func (c SLACompliance) Ended() int { return c.Met + c.Breached }

// Percent is the share met in time, 0 to 100 (-1 when none ended).
func (c SLACompliance) Percent() int {
	if c.Ended() == 0 {
		return -1
	}
	return (c.Met*100 + c.Ended()/2) / c.Ended()
}

// CSATSummary is the satisfaction ratings of a period.
type CSATSummary struct {
	// Ratings is the number of ratings given.
	Ratings int
	// Distribution[i] counts the ratings of score i+1.
	Distribution [5]int
	// AverageX100 is the average score times 100 (0 without ratings).
	AverageX100 int
	// Resolved is the resolutions made in the period (a conversation
	// resolved twice counts twice); Rated those of them that have a rating.
	Resolved, Rated int
}

// ResponsePercent is the share of resolutions rated, 0 to 100
// (-1 when none were resolved).
func (c CSATSummary) ResponsePercent() int {
	if c.Resolved == 0 {
		return -1
	}
	return (c.Rated*100 + c.Resolved/2) / c.Resolved
}

// Report is the desk's activity over a period.
type Report struct {
	Query ReportQuery
	// Total is the conversations created in the period.
	Total int
	// Days has one entry per UTC day of the period, oldest first.
	Days       []DayCount
	ByChannel  map[Channel]int
	ByCategory map[Category]int
	// FirstResponse and Resolution are the times of the conversations
	// created in the period.
	FirstResponse Durations
	Resolution    Durations
	SLA           []SLACompliance
	CSAT          CSATSummary
}

// MaxReportDays caps a report's period.
const MaxReportDays = 366

// Report computes the report of q (staff only: the HTTP layer checks the
// report:read permission).
func (s *Service) Report(ctx context.Context, v Viewer, q ReportQuery) (*Report, error) {
	if err := staffOnly(v); err != nil {
		return nil, err
	}
	q.From, q.To = q.From.UTC(), q.To.UTC()
	if !q.To.After(q.From) || q.To.Sub(q.From) > MaxReportDays*24*time.Hour {
		return nil, okpay.Invalid(map[string]string{"period": "Choose a period of 1 to 366 days."})
	}
	if q.Team != "" && !validName(q.Team, 40) {
		return nil, okpay.Invalid(map[string]string{"team": "The team name is not valid."})
	}
	rep := &Report{Query: q, ByChannel: map[Channel]int{}, ByCategory: map[Category]int{}}
	from, to := micros(q.From), micros(q.To)
	teamCond := func(col string, n int) (string, []any) {
		if q.Team == "" {
			return "", nil
		}
		return " AND " + col + " = $" + itoa(n), []any{q.Team}
	}
	db := s.DB.Read

	// Volume and times of the conversations created in the period.
	day0 := q.From.Truncate(24 * time.Hour)
	for d := day0; d.Before(q.To); d = d.Add(24 * time.Hour) {
		rep.Days = append(rep.Days, DayCount{Day: d})
	}
	cond, args := teamCond("team", 3)
	rows, err := db.QueryContext(ctx, `SELECT channel, category, created_at, first_response_at, resolved_at FROM desk_conversations
		WHERE created_at >= $1 AND created_at < $2`+cond, append([]any{from, to}, args...)...)
	if err != nil {
		return nil, okpay.Internal(err, "report volume")
	}
	var firsts, resolutions []time.Duration
	for rows.Next() {
		var ch, cat string
		var created, first, resolved int64
		if err := rows.Scan(&ch, &cat, &created, &first, &resolved); err != nil {
			rows.Close()
			return nil, okpay.Internal(err, "report volume")
		}
		rep.Total++
		rep.ByChannel[Channel(ch)]++
		rep.ByCategory[Category(cat)]++
		if i := int(fromMicros(created).Sub(day0) / (24 * time.Hour)); i >= 0 && i < len(rep.Days) {
			rep.Days[i].Count++
		}
		if first > 0 {
			firsts = append(firsts, time.Duration(first-created)*time.Microsecond)
		}
		if resolved > 0 {
			resolutions = append(resolutions, time.Duration(resolved-created)*time.Microsecond)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, okpay.Internal(err, "report volume")
	}
	rep.FirstResponse = Summarize(firsts)
	rep.Resolution = Summarize(resolutions)

	// SLA compliance of the timers started in the period.
	cond, args = teamCond("c.team", 3)
	rows, err = db.QueryContext(ctx, `SELECT t.metric, t.due_at, t.breached_at, t.met_at FROM desk_sla_timers t
		JOIN desk_conversations c ON c.id = t.conversation_id
		WHERE t.started_at >= $1 AND t.started_at < $2`+cond, append([]any{from, to}, args...)...)
	if err != nil {
		return nil, okpay.Internal(err, "report sla")
	}
	sla := map[string]*SLACompliance{}
	for _, m := range SLAMetrics {
		sla[m] = &SLACompliance{Metric: m}
	}
	for rows.Next() {
		var metric string
		var due, breached, met int64
		if err := rows.Scan(&metric, &due, &breached, &met); err != nil {
			rows.Close()
			return nil, okpay.Internal(err, "report sla")
		}
		c := sla[metric]
		if c == nil {
			continue
		}
		switch {
		case met > 0 && met <= due:
			c.Met++
		case met > 0 || breached > 0:
			c.Breached++
		default:
			c.Running++
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, okpay.Internal(err, "report sla")
	}
	for _, m := range SLAMetrics {
		rep.SLA = append(rep.SLA, *sla[m])
	}

	// CSAT: the ratings given in the period.
	cond, args = teamCond("c.team", 3)
	rows, err = db.QueryContext(ctx, `SELECT r.rating FROM desk_csat r JOIN desk_conversations c ON c.id = r.conversation_id
		WHERE r.created_at >= $1 AND r.created_at < $2`+cond, append([]any{from, to}, args...)...)
	if err != nil {
		return nil, okpay.Internal(err, "report csat")
	}
	sum := 0
	for rows.Next() {
		var score int
		if err := rows.Scan(&score); err != nil {
			rows.Close()
			return nil, okpay.Internal(err, "report csat")
		}
		if score >= 1 && score <= 5 {
			rep.CSAT.Distribution[score-1]++
			rep.CSAT.Ratings++
			sum += score
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, okpay.Internal(err, "report csat")
	}
	if rep.CSAT.Ratings > 0 {
		rep.CSAT.AverageX100 = (sum*100 + rep.CSAT.Ratings/2) / rep.CSAT.Ratings
	}
	// The response rate: the resolutions made in the period (each status
	// change to resolved, from the activity log: a conversation resolved
	// again after a reopening counts again), and those of them rated (a
	// rating names the resolution it rates, whose time is the status
	// change's).
	cond, args = teamCond("c.team", 3)
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*), COUNT(r.conversation_id) FROM desk_activity a
		JOIN desk_conversations c ON c.id = a.conversation_id
		LEFT JOIN desk_csat r ON r.conversation_id = a.conversation_id AND r.resolved_at = a.created_at
		WHERE a.kind = 'status' AND a.detail LIKE '%-> resolved' AND a.created_at >= $1 AND a.created_at < $2`+cond,
		append([]any{from, to}, args...)...).Scan(&rep.CSAT.Resolved, &rep.CSAT.Rated); err != nil {
		return nil, okpay.Internal(err, "report csat")
	}
	return rep, nil
}

// Summarize returns the count, median and 90th percentile (nearest rank)
// of ds.
func Summarize(ds []time.Duration) Durations {
	if len(ds) == 0 {
		return Durations{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := func(p int) time.Duration {
		// nearest rank: the smallest value with at least p% at or below it
		k := (p*len(s) + 99) / 100
		return s[max(k, 1)-1]
	}
	return Durations{Count: len(s), Median: rank(50), P90: rank(90)}
}
