package web_test

import (
	"html"
	"net/http"
	"testing"
	"time"
)

// TestTimesInReadersZone: pages show times in the time zone the reader's
// browser reports (the tz cookie zone.js sets), with its offset from UTC;
// without the cookie, or with a name the tz database does not know (or
// the server's own "Local"), in UTC. Every page loads zone.js.
func TestTimesInReadersZone(t *testing.T) {
	t.Parallel()
	e := newAccountEnv(t)
	c := e.client()
	e.signUp(c)
	created := e.clock.Now() // the session's start, shown on the security page
	zone := func(name string) *time.Location {
		loc, err := time.LoadLocation(name)
		if err != nil {
			t.Fatal(err)
		}
		return loc
	}
	const layout = "2 Jan 2006, 15:04"
	for _, tc := range []struct{ cookie, want string }{
		{"", created.UTC().Format(layout) + " UTC"},
		{"Asia/Shanghai", created.In(zone("Asia/Shanghai")).Format(layout) + " UTC+8"},
		{"America/New_York", created.In(zone("America/New_York")).Format(layout) + " UTC-5"},
		{"Asia/Kolkata", created.In(zone("Asia/Kolkata")).Format(layout) + " UTC+5:30"},
		{"Mars/Olympus_Mons", created.UTC().Format(layout) + " UTC"},
		{"../../../etc/passwd", created.UTC().Format(layout) + " UTC"},
		{"Local", created.UTC().Format(layout) + " UTC"},
	} {
		if tc.cookie == "" {
			delete(c.cookies, "tz")
		} else {
			c.cookies["tz"] = &http.Cookie{Name: "tz", Value: tc.cookie}
		}
		res := c.get("/account/security")
		wantStatus(t, res, http.StatusOK)
		// (html/template writes "+" as "&#43;".)
		wantContains(t, html.UnescapeString(res.body), ">"+tc.want+"</time>", `/static/zone.js`)
	}
	c.cookies["tz"] = &http.Cookie{Name: "tz", Value: "Asia/Shanghai"}
	c.lang = "zh-CN"
	wantContains(t, html.UnescapeString(c.get("/account/security").body), ">"+created.In(zone("Asia/Shanghai")).Format("2006年1月2日 15:04")+" UTC+8</time>")
}
