// Package geoiptest builds a small MaxMind City database for tests, with
// github.com/maxmind/mmdbwriter, so the lookups the tests make are real
// reads of a real .mmdb file. Only tests import it.
//
// The database places documentation and loopback addresses:
//
//	127.0.0.1, ::1, 203.0.113.0/24  Shanghai, CN  (上海)
//	127.0.0.2, 192.0.2.0/24         Tokyo, JP     (东京)
//	127.0.0.3                       Hangzhou, CN  (杭州), 165 km from Shanghai
//	127.0.0.4, 198.51.100.0/24      London, GB    (伦敦)
//	127.0.0.5                       CN, no city and no coordinates
//
// Every other address is unknown.
package geoiptest

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// Place is one network of the test database.
type Place struct {
	Network  string
	City     string // English name; "" for a country-only record
	CityZh   string // zh-CN name
	Country  string
	Lat, Lon float64
}

// Addresses of the places, for tests.
const (
	ShanghaiIP = "203.0.113.7"
	TokyoIP    = "192.0.2.7"
	LondonIP   = "198.51.100.7"
	UnknownIP  = "10.1.2.3"
)

// Places is the content of the test database.
var Places = []Place{
	{"127.0.0.1/32", "Shanghai", "上海", "CN", 31.2304, 121.4737},
	{"::1/128", "Shanghai", "上海", "CN", 31.2304, 121.4737},
	{"203.0.113.0/24", "Shanghai", "上海", "CN", 31.2304, 121.4737},
	{"127.0.0.2/32", "Tokyo", "东京", "JP", 35.6762, 139.6503},
	{"192.0.2.0/24", "Tokyo", "东京", "JP", 35.6762, 139.6503},
	{"127.0.0.3/32", "Hangzhou", "杭州", "CN", 30.2741, 120.1551},
	{"127.0.0.4/32", "London", "伦敦", "GB", 51.5074, -0.1278},
	{"198.51.100.0/24", "London", "伦敦", "GB", 51.5074, -0.1278},
	{"127.0.0.5/32", "", "", "CN", 0, 0},
}

// Build returns the test database's bytes.
func Build() ([]byte, error) {
	w, err := mmdbwriter.New(mmdbwriter.Options{
		DatabaseType:            "GeoLite2-City",
		Languages:               []string{"en", "zh-CN"},
		IncludeReservedNetworks: true,
		RecordSize:              24,
		BuildEpoch:              1764028800, // fixed: the same bytes every time
	})
	if err != nil {
		return nil, err
	}
	for _, p := range Places {
		_, network, err := net.ParseCIDR(p.Network)
		if err != nil {
			return nil, err
		}
		rec := mmdbtype.Map{
			"country": mmdbtype.Map{"iso_code": mmdbtype.String(p.Country)},
		}
		if p.City != "" {
			rec["city"] = mmdbtype.Map{"names": mmdbtype.Map{"en": mmdbtype.String(p.City), "zh-CN": mmdbtype.String(p.CityZh)}}
			rec["location"] = mmdbtype.Map{"latitude": mmdbtype.Float64(p.Lat), "longitude": mmdbtype.Float64(p.Lon), "accuracy_radius": mmdbtype.Uint16(20)}
		}
		if err := w.Insert(network, rec); err != nil {
			return nil, err
		}
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Write writes the test database into a temporary directory of t and
// returns its path.
func Write(t testing.TB) string {
	t.Helper()
	b, err := Build()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "GeoLite2-City-Test.mmdb")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
