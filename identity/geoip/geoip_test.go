package geoip_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/okpay/okpay/identity/geoip"
	"github.com/okpay/okpay/identity/geoip/geoiptest"
)

func openTest(t testing.TB) *geoip.DB {
	t.Helper()
	db, err := geoip.Open(geoiptest.Write(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// SES-05, NOT-04: an address resolves to its city, country and coordinates
// in a real MaxMind database file; an unknown or malformed one is unknown.
func TestSES05_LocateInAMaxMindDatabase(t *testing.T) {
	db := openTest(t)
	if db.DatabaseType() != "GeoLite2-City" {
		t.Fatalf("type %q", db.DatabaseType())
	}
	for _, c := range []struct {
		ip, en, zh string
		lat        float64
		coords     bool
	}{
		{geoiptest.ShanghaiIP, "Shanghai, CN", "上海, CN", 31.2304, true},
		{"127.0.0.1", "Shanghai, CN", "上海, CN", 31.2304, true},
		{"::1", "Shanghai, CN", "上海, CN", 31.2304, true},
		{"::ffff:203.0.113.9", "Shanghai, CN", "上海, CN", 31.2304, true},
		{geoiptest.TokyoIP, "Tokyo, JP", "东京, JP", 35.6762, true},
		{geoiptest.LondonIP, "London, GB", "伦敦, GB", 51.5074, true},
		{"127.0.0.5", "CN", "CN", 0, false},
	} {
		loc, ok := db.Locate(c.ip)
		if !ok || loc.Label("en") != c.en || loc.Label("zh-CN") != c.zh || loc.HasCoords != c.coords || loc.Lat != c.lat {
			t.Errorf("Locate(%s) = %+v %v: en %q zh %q", c.ip, loc, ok, loc.Label("en"), loc.Label("zh-CN"))
		}
	}
	for _, ip := range []string{geoiptest.UnknownIP, "", "not an ip", "300.1.1.1", "2001:db8::1"} {
		if loc, ok := db.Locate(ip); ok || loc.Known() {
			t.Errorf("Locate(%q) = %+v, want unknown", ip, loc)
		}
	}
	var none *geoip.DB
	if _, ok := none.Locate(geoiptest.ShanghaiIP); ok {
		t.Error("a nil database located an address")
	}
}

func TestOpenRejectsWhatIsNotACityDatabase(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.mmdb")
	os.WriteFile(junk, []byte("not a database"), 0o644)
	for _, p := range []string{filepath.Join(dir, "missing.mmdb"), junk} {
		if db, err := geoip.Open(p); err == nil {
			db.Close()
			t.Errorf("Open(%s) succeeded", p)
		}
	}
	if _, err := geoip.OpenBytes(nil); err == nil {
		t.Error("OpenBytes(nil) succeeded")
	}
}

// FuzzLocate: any client address string is looked up without a panic, and
// a label never carries a control character (it goes into notifications).
func FuzzLocate(f *testing.F) {
	for _, s := range []string{geoiptest.ShanghaiIP, "::1", "fe80::1%eth0", "::ffff:127.0.0.2", "", "1.2.3", "[::1]", "127.0.0.1:80"} {
		f.Add(s)
	}
	b, err := geoiptest.Build()
	if err != nil {
		f.Fatal(err)
	}
	db, err := geoip.OpenBytes(b)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, ip string) {
		loc, ok := db.Locate(ip)
		if ok != loc.Known() {
			t.Fatalf("ok %v but %+v", ok, loc)
		}
		for _, r := range loc.Label("en") + loc.Label("zh-CN") {
			if r < 0x20 {
				t.Fatalf("control character in %q", loc.Label("en"))
			}
		}
	})
}
