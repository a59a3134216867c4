package web

import (
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestUTCOffset(t *testing.T) {
	at := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	for zone, want := range map[string]string{
		"UTC": "UTC", "Asia/Shanghai": "UTC+8", "America/New_York": "UTC-5", "Asia/Kolkata": "UTC+5:30",
		"America/St_Johns": "UTC-3:30", "Asia/Kathmandu": "UTC+5:45", "Pacific/Kiritimati": "UTC+14", "Europe/London": "UTC",
	} {
		loc, err := time.LoadLocation(zone)
		if err != nil {
			t.Fatal(err)
		}
		if got := utcOffset(at.In(loc)); got != want {
			t.Errorf("%s: %q, want %q", zone, got, want)
		}
	}
}

var offsetRE = regexp.MustCompile(`^UTC(?:[+-]\d{1,2}(?::[0-5]\d)?)?$`)

// FuzzZoneOf: whatever a tz cookie holds, the zone is UTC or the one the
// tz database gives for exactly that name (never the server's Local, never
// a name longer than maxZoneName), and its offset reads as one.
func FuzzZoneOf(f *testing.F) {
	for _, s := range []string{"", "UTC", "Local", "Asia/Shanghai", "../../etc/passwd", "America/Argentina/Buenos_Aires",
		"Etc/GMT+5", strings.Repeat("A/", 40), "Asia/Shanghai; other=1", `"Asia/Tokyo"`, "asia/shanghai"} {
		f.Add(s)
	}
	s := &Server{}
	f.Fuzz(func(t *testing.T, value string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Cookie", zoneCookie+"="+value)
		loc := s.zoneOf(r)
		if loc == nil {
			t.Fatal("no zone")
		}
		if loc != time.UTC {
			c, err := r.Cookie(zoneCookie)
			if err != nil || loc.String() != c.Value || loc.String() == "Local" || len(c.Value) > maxZoneName {
				t.Fatalf("cookie %q gave zone %q", value, loc)
			}
		}
		if off := utcOffset(time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC).In(loc)); !offsetRE.MatchString(off) {
			t.Fatalf("zone %q: offset %q", loc, off)
		}
	})
}
