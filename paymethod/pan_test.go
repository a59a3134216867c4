package paymethod

import (
	"regexp"
	"strings"
	"testing"
)

func TestCRD01_ContainsPAN(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"4242424242424242", true},
		{"4242 4242 4242 4242", true},
		{"4242-4242-4242-4242", true},
		{"card: 4000000000003220 exp 12/30", true},
		{"378282246310005", true},       // 15-digit Amex
		{"6011000990139424", true},      // Discover
		{"4222222222222", true},         // 13 digits
		{"4242424242424241", false},     // Luhn fails
		{"424242424242", false},         // 12 digits
		{"42424242424242424242", false}, // 20 digits: not a PAN run
		{"4242  4242 4242 4242", false}, // a double space splits the run
		{"DE89370400440532013000", false},
		{"+8613812345678", false}, // Luhn-valid, but a phone number
		{"8613812345678", true},   // the same digits without "+"
		{"+86 1381 2345 678", false},
		{"", false},
		{"pm_0d4m8y2k3q1ag", false},
		{"tok_4242", false},
		{"x4242424242424242y", true},
	} {
		if got := ContainsPAN(tc.in); got != tc.want {
			t.Errorf("ContainsPAN(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

var panRun = regexp.MustCompile(`\+?[0-9]+(?:[ -][0-9]+)*`)

func FuzzContainsPAN(f *testing.F) {
	for _, s := range []string{"4242424242424242", "4242 4242 4242 4242", "1234", "a-1 -2", "4242424242424242424242", "  4 2-4", "378282246310005x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want := false
		for _, run := range panRun.FindAllString(s, -1) {
			if run[0] == '+' {
				continue
			}
			d := strings.NewReplacer(" ", "", "-", "").Replace(run)
			if len(d) >= 13 && len(d) <= 19 {
				b := []byte(d)
				for i := range b {
					b[i] -= '0'
				}
				if luhn(b) {
					want = true
				}
			}
		}
		if got := ContainsPAN(s); got != want {
			t.Fatalf("ContainsPAN(%q) = %v, oracle %v", s, got, want)
		}
	})
}
