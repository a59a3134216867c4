package web

import (
	"fmt"
	"net/http"
	"time"
)

// zoneCookie holds the reader's IANA time zone as their browser reports it
// (zone.js sets it on every page of a site with accounts), so that pages
// show times where the reader is. Until it is set (the first page a
// browser loads, or a browser without scripts) times are shown in UTC,
// and every time shown says its offset.
const zoneCookie = "tz"

// maxZoneName bounds a zone name read from the cookie (the longest in the
// tz database has 32 characters).
const maxZoneName = 64

// zoneOf returns the reader's time zone: the one the tz cookie names when
// the tz database knows it, else UTC. Loaded zones are kept (the database
// names a few hundred; unknown names are not kept).
func (s *Server) zoneOf(r *http.Request) *time.Location {
	c, err := r.Cookie(zoneCookie)
	if err != nil || c.Value == "" || c.Value == "UTC" || c.Value == "Local" || len(c.Value) > maxZoneName {
		return time.UTC
	}
	if loc, ok := s.zones.Load(c.Value); ok {
		return loc.(*time.Location)
	}
	loc, err := time.LoadLocation(c.Value)
	if err != nil {
		return time.UTC
	}
	s.zones.Store(c.Value, loc)
	return loc
}

// zone is the page's time zone (UTC when none was set).
func (p *page) zone() *time.Location {
	if p.Zone == nil {
		return time.UTC
	}
	return p.Zone
}

// utcOffset names t's offset from UTC: "UTC", "UTC+8", "UTC-3",
// "UTC+5:30" (unambiguous, unlike zone abbreviations such as CST).
func utcOffset(t time.Time) string {
	_, sec := t.Zone()
	if sec == 0 {
		return "UTC"
	}
	sign := '+'
	if sec < 0 {
		sign, sec = '-', -sec
	}
	h, m := sec/3600, sec%3600/60
	if m == 0 {
		return fmt.Sprintf("UTC%c%d", sign, h)
	}
	return fmt.Sprintf("UTC%c%d:%02d", sign, h, m)
}
