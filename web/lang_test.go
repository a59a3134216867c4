package web

import (
	"net/url"
	"strings"
	"testing"
)

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"/":                  "/",
		"/a?b=c#d":           "/a?b=c#d",
		"/%2F%2Fevil.test":   "/%2F%2Fevil.test", // a path on this site
		"":                   "/",
		"//evil.test":        "/",
		"///evil.test":       "/",
		`/\evil.test`:        "/",
		`/a\b`:               "/",
		"https://evil.test":  "/",
		"evil.test":          "/",
		"/a\x00":             "/",
		"/a\x7f":             "/",
		"javascript:alert()": "/",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzSafeNext(f *testing.F) {
	for _, s := range []string{"/", "//x", `/\x`, "https://x", "/a?b#c", "/\t/x", "/%5C%5Cx"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got := safeNext(in)
		if got != "/" && got != in {
			t.Fatalf("safeNext(%q) = %q: neither the input nor /", in, got)
		}
		if !strings.HasPrefix(got, "/") || strings.HasPrefix(got, "//") || strings.ContainsAny(got, "\\\r\n\t") {
			t.Fatalf("safeNext(%q) = %q is not a local path", in, got)
		}
		u, err := url.Parse(got)
		if err != nil || u.Host != "" || u.Scheme != "" {
			t.Fatalf("safeNext(%q) = %q parses with a host or scheme", in, got)
		}
	})
}

func TestTemplatesUseOnlyKnownMessages(t *testing.T) {
	ids, err := templateMessageIDs()
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) < 20 {
		t.Fatalf("found only %d message ids in the templates: is the scanner broken?", len(ids))
	}
	// New checks every id against the catalog; this test makes sure the
	// scanner sees the calls it must check.
	for _, want := range []string{"home.title", "lang.label", "footer.version", "nav.back_home"} {
		found := false
		for _, id := range ids {
			found = found || id == want
		}
		if !found {
			t.Errorf("scanner missed %q", want)
		}
	}
}
