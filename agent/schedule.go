package agent

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/okpay/okpay"
)

// Schedule is a team's weekly working time in its own time zone: for each
// day, the intervals the team is at work. The desk routes to a team by it
// (and by Team.AlwaysOpen for 24/7 teams).
//
// Its text form, which the admin page and the database use, lists days or
// day ranges with their intervals, separated by ";":
//
//	mon-fri 09:00-12:00 13:00-18:00; sat 10:00-14:00
//
// Days are mon tue wed thu fri sat sun; a range runs forward and may wrap
// (fri-mon). Times are HH:MM, 24:00 allowed as an end; an interval that
// passes midnight is written as two (fri 22:00-24:00; sat 00:00-06:00).
// A day named twice adds its intervals; overlapping intervals are an
// error. The empty text is a team that is never at work.
type Schedule struct {
	// Days[0] is Monday ... Days[6] Sunday; each day's intervals are
	// sorted and do not overlap.
	Days [7][]Interval
}

// Interval is [Start, End) in minutes after midnight (0..1440).
type Interval struct {
	Start, End int
}

// MaxScheduleLen bounds the text form of a schedule.
const MaxScheduleLen = 1024

var dayNames = [7]string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}

func dayIndex(s string) (int, bool) {
	for i, d := range dayNames {
		if d == s {
			return i, true
		}
	}
	return 0, false
}

// ParseSchedule reads the text form of a schedule (see Schedule).
func ParseSchedule(text string) (Schedule, error) {
	var sc Schedule
	bad := func(format string, args ...any) (Schedule, error) {
		return Schedule{}, okpay.Invalid(map[string]string{"schedule": fmt.Sprintf(format, args...)})
	}
	if len(text) > MaxScheduleLen {
		return bad("The schedule is longer than %d characters.", MaxScheduleLen)
	}
	for _, part := range strings.Split(strings.ToLower(text), ";") {
		fields := strings.Fields(part)
		if len(fields) == 0 {
			continue
		}
		days, ok := parseDays(fields[0])
		if !ok {
			return bad("%q is not a day or a range of days (mon, mon-fri).", fields[0])
		}
		if len(fields) == 1 {
			return bad("%s has no working hours (for example %s 09:00-18:00).", fields[0], fields[0])
		}
		for _, f := range fields[1:] {
			iv, ok := parseInterval(f)
			if !ok {
				return bad("%q is not an interval like 09:00-18:00.", f)
			}
			for _, d := range days {
				sc.Days[d] = append(sc.Days[d], iv)
			}
		}
	}
	for d := range sc.Days {
		ivs := sc.Days[d]
		slices.SortFunc(ivs, func(a, b Interval) int { return a.Start - b.Start })
		for i := 1; i < len(ivs); i++ {
			if ivs[i].Start < ivs[i-1].End {
				return bad("The hours of %s overlap.", dayNames[d])
			}
		}
	}
	return sc, nil
}

// parseDays reads "mon" or "mon-fri" (which may wrap: "sat-mon").
func parseDays(s string) ([]int, bool) {
	from, to, isRange := strings.Cut(s, "-")
	a, ok := dayIndex(from)
	if !ok {
		return nil, false
	}
	if !isRange {
		return []int{a}, true
	}
	b, ok := dayIndex(to)
	if !ok {
		return nil, false
	}
	var out []int
	for d := a; ; d = (d + 1) % 7 {
		out = append(out, d)
		if d == b {
			return out, true
		}
	}
}

// parseInterval reads "HH:MM-HH:MM" with start < end.
func parseInterval(s string) (Interval, bool) {
	from, to, ok := strings.Cut(s, "-")
	if !ok {
		return Interval{}, false
	}
	a, ok1 := parseClock(from)
	b, ok2 := parseClock(to)
	if !ok1 || !ok2 || a >= b {
		return Interval{}, false
	}
	return Interval{a, b}, true
}

// parseClock reads "HH:MM" (00:00..24:00) as minutes.
func parseClock(s string) (int, bool) {
	if len(s) != 5 || s[2] != ':' {
		return 0, false
	}
	for _, i := range []int{0, 1, 3, 4} {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	h, _ := strconv.Atoi(s[:2])
	m, _ := strconv.Atoi(s[3:])
	if m > 59 || h > 24 || (h == 24 && m != 0) {
		return 0, false
	}
	return h*60 + m, true
}

func formatClock(m int) string { return fmt.Sprintf("%02d:%02d", m/60, m%60) }

// String returns the canonical text form: consecutive days with the same
// hours as one range, Monday first.
func (sc Schedule) String() string {
	var parts []string
	for d := 0; d < 7; {
		if len(sc.Days[d]) == 0 {
			d++
			continue
		}
		end := d
		for end+1 < 7 && slices.Equal(sc.Days[end+1], sc.Days[d]) {
			end++
		}
		days := dayNames[d]
		if end > d {
			days += "-" + dayNames[end]
		}
		var b strings.Builder
		b.WriteString(days)
		for _, iv := range sc.Days[d] {
			b.WriteString(" " + formatClock(iv.Start) + "-" + formatClock(iv.End))
		}
		parts = append(parts, b.String())
		d = end + 1
	}
	return strings.Join(parts, "; ")
}

// Empty reports whether the schedule has no working time at all.
func (sc Schedule) Empty() bool {
	for _, d := range sc.Days {
		if len(d) > 0 {
			return false
		}
	}
	return true
}

// OpenAt reports whether t (any zone) falls in the schedule, read in loc.
func (sc Schedule) OpenAt(t time.Time, loc *time.Location) bool {
	t = t.In(loc)
	d := (int(t.Weekday()) + 6) % 7 // Monday = 0
	m := t.Hour()*60 + t.Minute()
	for _, iv := range sc.Days[d] {
		if m >= iv.Start && m < iv.End {
			return true
		}
	}
	return false
}
