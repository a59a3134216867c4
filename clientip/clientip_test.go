package clientip

import (
	"net/http/httptest"
	"testing"
)

func TestAPI04_ForwardedForOnlyFromTrustedProxies(t *testing.T) {
	r, err := New("10.0.0.0/8, 192.0.2.7")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		remote string
		xff    []string
		want   string
	}{
		{"203.0.113.5:1234", nil, "203.0.113.5"},
		{"203.0.113.5:1234", []string{"1.2.3.4"}, "203.0.113.5"}, // not a proxy: the header is a lie
		{"10.1.2.3:80", []string{"198.51.100.9"}, "198.51.100.9"},
		{"10.1.2.3:80", []string{"6.6.6.6, 198.51.100.9"}, "198.51.100.9"},   // right-most untrusted hop
		{"10.1.2.3:80", []string{"198.51.100.9, 192.0.2.7"}, "198.51.100.9"}, // through two proxies
		{"10.1.2.3:80", []string{"6.6.6.6", "198.51.100.9"}, "198.51.100.9"}, // two headers
		{"10.1.2.3:80", []string{"not-an-ip"}, "10.1.2.3"},
		{"10.1.2.3:80", []string{"10.9.9.9"}, "10.1.2.3"},
		{"[::ffff:10.1.2.3]:80", []string{"2001:db8::1"}, "2001:db8::1"},
		{"[2001:db8::5]:443", nil, "2001:db8::5"},
	} {
		req := httptest.NewRequest("GET", "/", nil)
		req.RemoteAddr = c.remote
		for _, h := range c.xff {
			req.Header.Add("X-Forwarded-For", h)
		}
		if got := r.IP(req); got != c.want {
			t.Errorf("remote %s, XFF %v: %s, want %s", c.remote, c.xff, got, c.want)
		}
	}
	var none *Resolver
	req := httptest.NewRequest("GET", "/", nil)
	req.RemoteAddr = "10.1.2.3:80"
	req.Header.Set("X-Forwarded-For", "1.2.3.4")
	if got := none.IP(req); got != "10.1.2.3" {
		t.Errorf("nil resolver: %s", got)
	}
	if _, err := New("10.0.0.0/33"); err == nil {
		t.Error("bad prefix accepted")
	}
	if _, err := New("proxy.example"); err == nil {
		t.Error("host name accepted")
	}
}

func FuzzResolverIP(f *testing.F) {
	r, _ := New("10.0.0.0/8")
	f.Add("10.0.0.1:1", "1.2.3.4, 5.6.7.8")
	f.Add("[::1]:1", "")
	f.Fuzz(func(t *testing.T, remote, xff string) {
		req := httptest.NewRequest("GET", "/", nil)
		req.RemoteAddr = remote
		req.Header.Set("X-Forwarded-For", xff)
		_ = r.IP(req) // never panics
	})
}
