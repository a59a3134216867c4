package phone

import (
	"context"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/desk"
)

// CallDay is one UTC day of the call report.
type CallDay struct {
	Day time.Time
	// Calls is the calls that started (or, without a newCall, ended)
	// that day; Answered and Missed split them (ringing ones are in
	// neither); Callbacks is the callback requests created that day.
	Calls, Answered, Missed, Callbacks int
	// Wait (ringing and queueing until answered) and Talk (answer to
	// hangup) of the day's calls: median and 90th percentile.
	Wait, Talk desk.Durations
}

// CallReport is the phone channel's activity over a period.
type CallReport struct {
	From, To time.Time
	Days     []CallDay
	// Total sums the days.
	Total CallDay
}

// Report computes the call report of [from, to) (at most
// desk.MaxReportDays days; the HTTP layer checks report:read).
func (s *Service) Report(ctx context.Context, from, to time.Time) (*CallReport, error) {
	from, to = from.UTC().Truncate(24*time.Hour), to.UTC()
	if !to.After(from) || to.Sub(from) > desk.MaxReportDays*24*time.Hour {
		return nil, okpay.Invalid(map[string]string{"period": "Choose a period of 1 to 366 days."})
	}
	rep := &CallReport{From: from, To: to}
	index := map[int64]int{}
	for d := from; d.Before(to); d = d.Add(24 * time.Hour) {
		index[d.Unix()] = len(rep.Days)
		rep.Days = append(rep.Days, CallDay{Day: d})
	}
	dayOf := func(us int64) (int, bool) {
		i, ok := index[fromMicros(us).Truncate(24*time.Hour).Unix()]
		return i, ok
	}
	rows, err := s.DB.Read.QueryContext(ctx, `SELECT CASE WHEN started_at > 0 THEN started_at ELSE ended_at END AS t, state, wait_ms, talk_ms
		FROM phone_calls WHERE (started_at >= $1 AND started_at < $2) OR (started_at = 0 AND ended_at >= $1 AND ended_at < $2)`,
		micros(from), micros(to))
	if err != nil {
		return nil, okpay.Internal(err, "call report")
	}
	defer rows.Close()
	waits := make([][]time.Duration, len(rep.Days))
	talks := make([][]time.Duration, len(rep.Days))
	var allWait, allTalk []time.Duration
	for rows.Next() {
		var t, wait, talk int64
		var state string
		if err := rows.Scan(&t, &state, &wait, &talk); err != nil {
			return nil, okpay.Internal(err, "call report")
		}
		i, ok := dayOf(t)
		if !ok {
			continue
		}
		d := &rep.Days[i]
		d.Calls++
		switch state {
		case CallAnswered, CallCompleted:
			d.Answered++
		case CallMissed:
			d.Missed++
		}
		if wait >= 0 && state != CallMissed {
			waits[i] = append(waits[i], msDuration(wait))
			allWait = append(allWait, msDuration(wait))
		}
		if talk >= 0 {
			talks[i] = append(talks[i], msDuration(talk))
			allTalk = append(allTalk, msDuration(talk))
		}
	}
	if err := rows.Err(); err != nil {
		return nil, okpay.Internal(err, "call report")
	}
	cbs, err := s.DB.Read.QueryContext(ctx, `SELECT created_at FROM phone_callbacks WHERE created_at >= $1 AND created_at < $2`, micros(from), micros(to))
	if err != nil {
		return nil, okpay.Internal(err, "call report")
	}
	defer cbs.Close()
	for cbs.Next() {
		var t int64
		if err := cbs.Scan(&t); err != nil {
			return nil, okpay.Internal(err, "call report")
		}
		if i, ok := dayOf(t); ok {
			rep.Days[i].Callbacks++
		}
	}
	if err := cbs.Err(); err != nil {
		return nil, okpay.Internal(err, "call report")
	}
	for i := range rep.Days {
		d := &rep.Days[i]
		d.Wait, d.Talk = desk.Summarize(waits[i]), desk.Summarize(talks[i])
		rep.Total.Calls += d.Calls
		rep.Total.Answered += d.Answered
		rep.Total.Missed += d.Missed
		rep.Total.Callbacks += d.Callbacks
	}
	rep.Total.Wait, rep.Total.Talk = desk.Summarize(allWait), desk.Summarize(allTalk)
	return rep, nil
}
