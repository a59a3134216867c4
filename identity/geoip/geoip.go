// Package geoip finds the approximate location of a network address in a
// MaxMind DB file: a GeoLite2-City or GeoIP2-City database (a Country
// database gives the country only). OKPay uses it for the "approximate
// location" of sessions, sign-in records and security notifications
// (SECURITY.md SES-05, NOT-04, LOG-08) and for the impossible-travel rule
// (RSK-04), which needs the coordinates of a City database.
//
// The database is optional: without one every address is unknown, and the
// travel rule never fires. The file is read with
// github.com/oschwald/maxminddb-golang and memory-mapped; replacing it
// needs a restart.
package geoip

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strings"

	"github.com/oschwald/maxminddb-golang/v2"
)

// Location is the approximate place of a network address. The zero value
// is "unknown".
type Location struct {
	// City is the city's English name; empty when the database knows only
	// the country.
	City string
	// Country is the ISO 3166-1 alpha-2 code ("CN"); empty when unknown.
	Country string
	// Lat and Lon are degrees (WGS 84), meaningful when HasCoords is set.
	Lat, Lon  float64
	HasCoords bool
	// names holds the city's names by language tag ("en", "zh-CN").
	names map[string]string
}

// Known reports whether anything is known about the place.
func (l Location) Known() bool { return l.City != "" || l.Country != "" }

// CityName returns the city's name in lang ("en", "zh-CN"), or its English
// name when the database has none in that language.
func (l Location) CityName(lang string) string {
	if n := l.names[lang]; n != "" {
		return n
	}
	return l.City
}

// Label returns a short label for people: "Shanghai, CN", "上海, CN" in
// zh-CN (the database's own city names), "CN" when only the country is
// known, and "" when nothing is.
func (l Location) Label(lang string) string {
	city := l.CityName(lang)
	switch {
	case city != "" && l.Country != "":
		return city + ", " + l.Country
	case city != "":
		return city
	}
	return l.Country
}

// WithNames returns l with the city's names by language; for locations
// read back from storage and for tests.
func (l Location) WithNames(names map[string]string) Location {
	l.names = names
	return l
}

// DB is an open MaxMind database. It is safe for concurrent use.
type DB struct {
	r *maxminddb.Reader
}

// Open opens the MaxMind DB file at path (a GeoLite2-City .mmdb).
func Open(path string) (*DB, error) {
	r, err := maxminddb.Open(path)
	if err != nil {
		return nil, fmt.Errorf("geoip: open %s: %w", path, err)
	}
	return check(r)
}

// OpenBytes reads a MaxMind database from memory; b must not change
// afterwards.
func OpenBytes(b []byte) (*DB, error) {
	r, err := maxminddb.OpenBytes(b)
	if err != nil {
		return nil, fmt.Errorf("geoip: %w", err)
	}
	return check(r)
}

func check(r *maxminddb.Reader) (*DB, error) {
	t := r.Metadata.DatabaseType
	if !strings.Contains(t, "City") && !strings.Contains(t, "Country") {
		r.Close()
		return nil, fmt.Errorf("geoip: database type %q: use a GeoLite2-City (or GeoIP2-City) database", t)
	}
	return &DB{r: r}, nil
}

// DatabaseType is the database's type from its metadata
// ("GeoLite2-City").
func (d *DB) DatabaseType() string { return d.r.Metadata.DatabaseType }

// Close releases the database.
func (d *DB) Close() error { return d.r.Close() }

// record is the part of a City record OKPay reads.
type record struct {
	City struct {
		Names map[string]string `maxminddb:"names"`
	} `maxminddb:"city"`
	Country struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"country"`
	Location struct {
		Latitude  *float64 `maxminddb:"latitude"`
		Longitude *float64 `maxminddb:"longitude"`
	} `maxminddb:"location"`
}

// errNotFound is Lookup's answer for an address the database does not
// know.
var errNotFound = errors.New("geoip: address not in the database")

// Locate returns the approximate location of ip (textual IPv4 or IPv6;
// an IPv4-mapped IPv6 address counts as IPv4). ok is false for an address
// that does not parse, that the database does not know, or whose record is
// unreadable: the caller shows "unknown".
func (d *DB) Locate(ip string) (loc Location, ok bool) {
	loc, err := d.lookup(ip)
	return loc, err == nil && loc.Known()
}

func (d *DB) lookup(ip string) (Location, error) {
	if d == nil || d.r == nil || ip == "" || len(ip) > 64 {
		return Location{}, errNotFound
	}
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return Location{}, err
	}
	addr = addr.Unmap().WithZone("")
	res := d.r.Lookup(addr)
	if err := res.Err(); err != nil {
		return Location{}, err
	}
	if !res.Found() {
		return Location{}, errNotFound
	}
	var rec record
	if err := res.Decode(&rec); err != nil {
		return Location{}, err
	}
	loc := Location{City: clean(rec.City.Names["en"]), Country: strings.ToUpper(clean(rec.Country.ISOCode))}
	if len(loc.Country) != 2 {
		loc.Country = ""
	}
	if len(rec.City.Names) > 0 {
		loc.names = make(map[string]string, 2)
		for _, lang := range []string{"en", "zh-CN"} {
			if n := clean(rec.City.Names[lang]); n != "" {
				loc.names[lang] = n
			}
		}
	}
	if lat, lon := rec.Location.Latitude, rec.Location.Longitude; lat != nil && lon != nil && validCoords(*lat, *lon) {
		loc.Lat, loc.Lon, loc.HasCoords = *lat, *lon, true
	}
	return loc, nil
}

// validCoords reports finite coordinates in range.
func validCoords(lat, lon float64) bool {
	return !math.IsNaN(lat) && !math.IsNaN(lon) && lat >= -90 && lat <= 90 && lon >= -180 && lon <= 180
}

// clean bounds a name from the database and drops control characters, so
// a damaged or hostile file cannot inject lines into a notification.
func clean(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return -1
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if r := []rune(s); len(r) > 64 {
		s = string(r[:64])
	}
	return s
}
