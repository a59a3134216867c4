// Package bizday counts business days: days that are not weekend days or
// holidays, for promises such as "expected completion: 1–3 business days".
//
// A Calendar starts as weekends only (Saturday and Sunday, New) and takes
// holidays, and weekend days that are working days (China's make-up
// working days, 调休), from a small text format (Parse):
//
//	# OKPay business-day calendar
//	weekend sat sun                       # optional; the default
//	holiday 2026-01-01 New Year's Day     # one date
//	holiday 2026-02-15..2026-02-23 Spring Festival   # an inclusive range
//	workday 2026-02-14 Spring Festival make-up day   # a weekend day worked
//
// One directive per line; '#' starts a comment; blank lines are ignored.
// Dates are YYYY-MM-DD; a range is at most 366 days; the name after the
// date is optional. A date may be named once, as a holiday or as a
// workday. "weekend" lists the weekend days (mon tue wed thu fri sat sun;
// none for a seven-day week), at most once, and must leave at least one
// working day.
//
// Dates are calendar dates in the time zone the caller gives: the same
// instant can be a Friday in Berlin and a Saturday in Shanghai.
package bizday

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// Calendar says which days are business days. It is immutable once built
// and safe for concurrent use.
type Calendar struct {
	weekend  [7]bool // by time.Weekday
	holidays map[civil]string
	workdays map[civil]string
}

// civil is a calendar date.
type civil struct {
	y int
	m time.Month
	d int
}

func civilOf(t time.Time) civil {
	y, m, d := t.Date()
	return civil{y, m, d}
}

// midnight returns the date at 00:00 UTC, for day arithmetic.
func (c civil) midnight() time.Time { return time.Date(c.y, c.m, c.d, 0, 0, 0, 0, time.UTC) }

func (c civil) String() string { return c.midnight().Format(time.DateOnly) }

// New returns a calendar of weekends only: Saturday and Sunday.
func New() *Calendar {
	c := &Calendar{holidays: map[civil]string{}, workdays: map[civil]string{}}
	c.weekend[time.Saturday] = true
	c.weekend[time.Sunday] = true
	return c
}

// Limits on a calendar file.
const (
	MaxBytes    = 1 << 20
	maxDates    = 100000
	maxRangeLen = 366
)

var weekdayNames = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// Parse reads a calendar in the format of the package documentation. Any
// error fails the whole file and names its line.
func Parse(r io.Reader) (*Calendar, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("bizday: read calendar: %w", err)
	}
	if len(data) > MaxBytes {
		return nil, fmt.Errorf("bizday: calendar is larger than %d bytes", MaxBytes)
	}
	c := New()
	sawWeekend := false
	where := map[civil]int{} // date → line that named it
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), MaxBytes+1)
	for n := 1; sc.Scan(); n++ {
		lineErr := func(format string, args ...any) error {
			return fmt.Errorf("bizday: calendar line %d: %s", n, fmt.Sprintf(format, args...))
		}
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		switch fields[0] {
		case "weekend":
			if sawWeekend {
				return nil, lineErr("weekend is given twice")
			}
			sawWeekend = true
			c.weekend = [7]bool{}
			if len(fields) == 2 && fields[1] == "none" {
				continue
			}
			for _, f := range fields[1:] {
				wd, ok := weekdayNames[f]
				if !ok {
					return nil, lineErr("%q is not a day (mon tue wed thu fri sat sun, or none)", clip(f))
				}
				if c.weekend[wd] {
					return nil, lineErr("%s is given twice", f)
				}
				c.weekend[wd] = true
			}
			if len(fields) == 8 {
				return nil, lineErr("a week needs at least one working day")
			}
		case "holiday", "workday":
			if len(fields) < 2 {
				return nil, lineErr("%s needs a date YYYY-MM-DD or a range YYYY-MM-DD..YYYY-MM-DD", fields[0])
			}
			from, to, err := parseRange(fields[1])
			if err != nil {
				return nil, lineErr("%s", err.Error())
			}
			name := strings.Join(fields[2:], " ")
			for d := from; !d.After(to); d = d.AddDate(0, 0, 1) {
				day := civilOf(d)
				if prev, dup := where[day]; dup {
					return nil, lineErr("%s is already named on line %d", day, prev)
				}
				if len(where) >= maxDates {
					return nil, lineErr("more than %d dates", maxDates)
				}
				where[day] = n
				if fields[0] == "holiday" {
					c.holidays[day] = name
				} else {
					c.workdays[day] = name
				}
			}
		default:
			return nil, lineErr("%q is not a directive (weekend, holiday or workday)", clip(fields[0]))
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("bizday: read calendar: %w", err)
	}
	return c, nil
}

// parseRange reads "YYYY-MM-DD" or "YYYY-MM-DD..YYYY-MM-DD" as dates at
// midnight UTC.
func parseRange(s string) (from, to time.Time, err error) {
	a, b, isRange := strings.Cut(s, "..")
	from, err = parseDate(a)
	if err != nil {
		return
	}
	to = from
	if isRange {
		if to, err = parseDate(b); err != nil {
			return
		}
		switch days := int(to.Sub(from).Hours() / 24); {
		case days < 0:
			err = fmt.Errorf("the range %s ends before it starts", clip(s))
		case days >= maxRangeLen:
			err = fmt.Errorf("the range %s is longer than %d days", clip(s), maxRangeLen)
		}
	}
	return
}

func parseDate(s string) (time.Time, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil || t.Format(time.DateOnly) != s {
		return time.Time{}, fmt.Errorf("%q is not a date YYYY-MM-DD", clip(s))
	}
	return t, nil
}

func clip(s string) string {
	if len(s) > 32 {
		return s[:32] + "..."
	}
	return s
}

// isBusiness reports whether the date is a business day.
func (c *Calendar) isBusiness(d civil) bool {
	if _, ok := c.holidays[d]; ok {
		return false
	}
	if _, ok := c.workdays[d]; ok {
		return true
	}
	return !c.weekend[d.midnight().Weekday()]
}

// IsBusinessDay reports whether t falls on a business day in loc (nil:
// t's own location).
func (c *Calendar) IsBusinessDay(t time.Time, loc *time.Location) bool {
	if loc == nil {
		loc = t.Location()
	}
	return c.isBusiness(civilOf(t.In(loc)))
}

// Holiday returns the name of the holiday on t's date in loc (nil: t's
// own location), and whether there is one.
func (c *Calendar) Holiday(t time.Time, loc *time.Location) (string, bool) {
	if loc == nil {
		loc = t.Location()
	}
	name, ok := c.holidays[civilOf(t.In(loc))]
	return name, ok
}

// AddBusinessDays returns the time n business days after t, counted on
// calendar dates in loc (nil: t's own location), at t's wall-clock time in
// loc on that date.
//
// A t on a day that is not a business day counts as received on the next
// business day (the previous one when n < 0): so with n = 0 the result is
// t's date if it is a business day, otherwise the next one; a request made
// on Saturday with n = 1 completes on Tuesday of a normal week, and one
// made on Friday with n = 1 on Monday. Negative n counts backwards.
func (c *Calendar) AddBusinessDays(t time.Time, n int, loc *time.Location) time.Time {
	if loc == nil {
		loc = t.Location()
	}
	lt := t.In(loc)
	step := 1
	if n < 0 {
		step, n = -1, -n
	}
	// Work on midnight UTC of the local date so that DST never skips or
	// repeats a day.
	day := civilOf(lt).midnight()
	next := func() { day = day.AddDate(0, 0, step) }
	for !c.isBusiness(civilOf(day)) {
		next()
	}
	for range n {
		next()
		for !c.isBusiness(civilOf(day)) {
			next()
		}
	}
	y, m, d := day.Date()
	return time.Date(y, m, d, lt.Hour(), lt.Minute(), lt.Second(), lt.Nanosecond(), loc)
}

// Range returns the earliest and latest completion of something that takes
// min to max business days from t (as AddBusinessDays counts them), for
// "expected completion: 1–3 business days". Negative bounds count as 0 and
// max below min as min.
func (c *Calendar) Range(t time.Time, min, max int, loc *time.Location) (earliest, latest time.Time) {
	if min < 0 {
		min = 0
	}
	if max < min {
		max = min
	}
	return c.AddBusinessDays(t, min, loc), c.AddBusinessDays(t, max, loc)
}

// Day is a named date of a calendar.
type Day struct {
	Date    time.Time // midnight UTC of the date
	Name    string
	Workday bool // a weekend day worked; otherwise a holiday
}

// Days returns the calendar's holidays and workdays in date order.
func (c *Calendar) Days() []Day {
	out := make([]Day, 0, len(c.holidays)+len(c.workdays))
	for d, name := range c.holidays {
		out = append(out, Day{Date: d.midnight(), Name: name})
	}
	for d, name := range c.workdays {
		out = append(out, Day{Date: d.midnight(), Name: name, Workday: true})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Date.Before(out[j].Date) })
	return out
}

// Weekend returns the weekend days, Sunday first.
func (c *Calendar) Weekend() []time.Weekday {
	var out []time.Weekday
	for wd, is := range c.weekend {
		if is {
			out = append(out, time.Weekday(wd))
		}
	}
	return out
}
