package bizday_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/okpay/okpay/bizday"
)

var shanghai = time.FixedZone("CST", 8*3600)

func sample(t testing.TB) *bizday.Calendar {
	t.Helper()
	f, err := os.Open("testdata/cn-sample.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c, err := bizday.Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// at returns 10:30 on the date in Shanghai.
func at(date string) time.Time {
	d, err := time.ParseInLocation(time.DateOnly, date, shanghai)
	if err != nil {
		panic(err)
	}
	return d.Add(10*time.Hour + 30*time.Minute)
}

func TestWeekendsOnly(t *testing.T) {
	c := bizday.New()
	for _, tc := range []struct {
		start string
		n     int
		want  string
	}{
		{"2026-01-05", 0, "2026-01-05"}, // Monday
		{"2026-01-05", 1, "2026-01-06"},
		{"2026-01-05", 4, "2026-01-09"},
		{"2026-01-05", 5, "2026-01-12"}, // over the weekend
		{"2026-01-09", 1, "2026-01-12"}, // Friday → Monday
		{"2026-01-09", 3, "2026-01-14"},
		{"2026-01-10", 0, "2026-01-12"}, // Saturday counts from Monday
		{"2026-01-10", 1, "2026-01-13"},
		{"2026-01-11", 1, "2026-01-13"}, // Sunday too
		{"2026-01-12", -1, "2026-01-09"},
		{"2026-01-10", -1, "2026-01-08"}, // Saturday counts back from Friday
		{"2026-12-31", 1, "2027-01-01"},  // no holidays: New Year's Day is a Friday like any other
		{"2026-01-05", 10, "2026-01-19"},
	} {
		got := c.AddBusinessDays(at(tc.start), tc.n, shanghai)
		if got.Format(time.DateOnly) != tc.want {
			t.Errorf("%s %+d = %s, want %s", tc.start, tc.n, got.Format(time.DateOnly), tc.want)
		}
		if h, m, _ := got.Clock(); h != 10 || m != 30 || got.Location() != shanghai {
			t.Errorf("%s %+d kept neither the time nor the zone: %v", tc.start, tc.n, got)
		}
	}
}

func TestHolidaysAndWorkdays(t *testing.T) {
	c := sample(t)
	for _, tc := range []struct {
		start string
		n     int
		want  string
	}{
		// Across the year boundary: 2026-12-31 is a Thursday, 2027-01-01 a
		// holiday, then the weekend.
		{"2026-12-31", 1, "2027-01-04"},
		{"2026-12-31", 2, "2027-01-05"},
		{"2026-12-30", 3, "2027-01-05"},
		{"2027-01-01", 0, "2027-01-04"}, // started on the holiday
		{"2027-01-04", -1, "2026-12-31"},
		// New Year 2026: Jan 1–3 off, Sunday Jan 4 worked.
		{"2025-12-31", 1, "2026-01-04"},
		{"2025-12-31", 2, "2026-01-05"},
		// A Friday start before a long weekend (Qingming, Sat–Mon).
		{"2026-04-03", 1, "2026-04-07"},
		{"2026-04-03", 3, "2026-04-09"},
		// A Friday that is a holiday (Labour Day, Fri 1 – Tue 5 May):
		// received on Wednesday 6 May.
		{"2026-05-01", 0, "2026-05-06"},
		{"2026-05-01", 1, "2026-05-07"},
		{"2026-05-01", 3, "2026-05-09"}, // Saturday 9 May is worked
		{"2026-05-01", 4, "2026-05-11"},
		// Spring Festival: Saturday 14 Feb worked, 15–23 off, Saturday 28 worked.
		{"2026-02-13", 1, "2026-02-14"},
		{"2026-02-13", 2, "2026-02-24"},
		{"2026-02-27", 1, "2026-02-28"},
		{"2026-02-27", 2, "2026-03-02"},
		// National Day: 1–7 Oct off, Saturday 10 worked.
		{"2026-09-30", 1, "2026-10-08"},
		{"2026-09-30", 3, "2026-10-10"},
	} {
		got := c.AddBusinessDays(at(tc.start), tc.n, shanghai)
		if got.Format(time.DateOnly) != tc.want {
			t.Errorf("%s %+d = %s, want %s", tc.start, tc.n, got.Format(time.DateOnly), tc.want)
		}
	}
	if name, ok := c.Holiday(at("2026-10-03"), shanghai); !ok || !strings.Contains(name, "National Day") {
		t.Errorf("Holiday(2026-10-03) = %q, %v", name, ok)
	}
	if _, ok := c.Holiday(at("2026-10-10"), shanghai); ok {
		t.Error("a workday is not a holiday")
	}
	if !c.IsBusinessDay(at("2026-10-10"), shanghai) || c.IsBusinessDay(at("2026-10-11"), shanghai) || c.IsBusinessDay(at("2026-10-05"), shanghai) {
		t.Error("IsBusinessDay around National Day")
	}
	days := c.Days()
	if len(days) != 40 || !days[0].Date.Equal(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) || !days[3].Workday {
		t.Errorf("Days: %d, first %+v, fourth %+v", len(days), days[0], days[3])
	}
}

// TestRange: "expected completion: 1–3 business days".
func TestRange(t *testing.T) {
	c := sample(t)
	for _, tc := range []struct {
		start            string
		min, max         int
		earliest, latest string
	}{
		{"2026-01-09", 1, 3, "2026-01-12", "2026-01-14"}, // Friday
		{"2026-01-10", 1, 3, "2026-01-13", "2026-01-15"}, // Saturday
		{"2026-12-30", 1, 3, "2026-12-31", "2027-01-05"}, // across the year and its holiday
		{"2026-09-30", 1, 3, "2026-10-08", "2026-10-10"}, // before National Day
		{"2026-01-09", 3, 1, "2026-01-14", "2026-01-14"}, // max below min
		{"2026-01-10", -2, 0, "2026-01-12", "2026-01-12"},
	} {
		e, l := c.Range(at(tc.start), tc.min, tc.max, shanghai)
		if e.Format(time.DateOnly) != tc.earliest || l.Format(time.DateOnly) != tc.latest {
			t.Errorf("%s %d–%d: %s–%s, want %s–%s", tc.start, tc.min, tc.max,
				e.Format(time.DateOnly), l.Format(time.DateOnly), tc.earliest, tc.latest)
		}
	}
}

// TestTimeZone: the date is taken in the zone asked for.
func TestTimeZone(t *testing.T) {
	c := bizday.New()
	// Friday 20:00 UTC is Saturday 04:00 in Shanghai.
	fri := time.Date(2026, 1, 9, 20, 0, 0, 0, time.UTC)
	if got := c.AddBusinessDays(fri, 1, time.UTC); got.Format(time.RFC3339) != "2026-01-12T20:00:00Z" {
		t.Errorf("in UTC: %v", got)
	}
	if got := c.AddBusinessDays(fri, 1, shanghai); got.Format(time.RFC3339) != "2026-01-13T04:00:00+08:00" {
		t.Errorf("in Shanghai: %v", got)
	}
	if got := c.AddBusinessDays(fri.In(shanghai), 1, nil); got.Format(time.RFC3339) != "2026-01-13T04:00:00+08:00" {
		t.Errorf("nil location: %v", got)
	}
	// Across a DST change the date still moves by whole days.
	if berlin, err := time.LoadLocation("Europe/Berlin"); err == nil {
		fri := time.Date(2026, 3, 27, 9, 0, 0, 0, berlin) // clocks go forward on Sunday 29 March
		if got := c.AddBusinessDays(fri, 1, berlin); got.Format(time.RFC3339) != "2026-03-30T09:00:00+02:00" {
			t.Errorf("over the DST switch: %v", got)
		}
	}
}

func TestParse(t *testing.T) {
	c, err := bizday.Parse(strings.NewReader("weekend fri sat # Gulf week\nholiday 2026-12-02 National Day\n"))
	if err != nil {
		t.Fatal(err)
	}
	if w := c.Weekend(); len(w) != 2 || w[0] != time.Friday || w[1] != time.Saturday {
		t.Errorf("Weekend = %v", w)
	}
	// Thursday 3 Dec 2026 + 1 → Sunday 6 Dec (Fri/Sat off).
	if got := c.AddBusinessDays(at("2026-12-03"), 1, shanghai); got.Format(time.DateOnly) != "2026-12-06" {
		t.Errorf("Gulf week: %s", got.Format(time.DateOnly))
	}
	c, err = bizday.Parse(strings.NewReader("weekend none\n"))
	if err != nil || len(c.Weekend()) != 0 || !c.IsBusinessDay(at("2026-01-10"), shanghai) {
		t.Errorf("seven-day week: %v", err)
	}
	if c, err := bizday.Parse(strings.NewReader("")); err != nil || len(c.Weekend()) != 2 {
		t.Errorf("empty calendar: %v", err)
	}
	for name, tc := range map[string]struct{ src, msg string }{
		"unknown directive": {"# x\nfestival 2026-01-01\n", "line 2: \"festival\" is not a directive"},
		"no date":           {"holiday\n", "line 1: holiday needs a date"},
		"bad date":          {"holiday 2026-1-1 New Year\n", `line 1: "2026-1-1" is not a date`},
		"impossible date":   {"holiday 2026-02-30\n", `line 1: "2026-02-30" is not a date`},
		"backwards range":   {"holiday 2026-02-10..2026-02-01\n", "ends before it starts"},
		"long range":        {"holiday 2026-01-01..2027-01-02\n", "longer than 366 days"},
		"half range":        {"holiday 2026-01-01..\n", `"" is not a date`},
		"repeated date":     {"holiday 2026-01-01\n\nworkday 2025-12-30..2026-01-02\n", "line 3: 2026-01-01 is already named on line 1"},
		"weekend twice":     {"weekend sat\nweekend sun\n", "line 2: weekend is given twice"},
		"weekend day twice": {"weekend sat sat\n", "sat is given twice"},
		"bad weekday":       {"weekend saturday\n", `"saturday" is not a day`},
		"all week off":      {"weekend mon tue wed thu fri sat sun\n", "at least one working day"},
		"too big":           {strings.Repeat("#", bizday.MaxBytes+1), "larger than"},
	} {
		_, err := bizday.Parse(strings.NewReader(tc.src))
		if err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: %v, want %q", name, err, tc.msg)
		}
	}
}

// FuzzParse: the parser never panics, and on any calendar it accepts
// counting business days ends and lands on a business day.
func FuzzParse(f *testing.F) {
	data, err := os.ReadFile("testdata/cn-sample.txt")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(data), 3)
	f.Add("weekend none\n", -2)
	f.Add("weekend mon tue wed thu fri sat\nholiday 2026-01-04..2026-02-01\n", 5)
	f.Add("holiday 2026-01-01..2026-12-31 everything\n", 1)
	f.Fuzz(func(t *testing.T, src string, n int) {
		c, err := bizday.Parse(strings.NewReader(src))
		if err != nil {
			return
		}
		n %= 20
		start := time.Date(2026, 1, 9, 12, 0, 0, 0, time.UTC)
		got := c.AddBusinessDays(start, n, time.UTC)
		if !c.IsBusinessDay(got, time.UTC) {
			t.Fatalf("%+d from %v landed on %v, not a business day", n, start, got)
		}
		if n > 0 && !got.After(start) || n < 0 && !got.Before(start) {
			t.Fatalf("%+d from %v gave %v", n, start, got)
		}
	})
}
