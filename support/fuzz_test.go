package support_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/okpay/okpay/support"
)

// FuzzMask: the mask functions never panic, return valid UTF-8 for valid
// input, and never return a long email address or phone number whole.
func FuzzMask(f *testing.F) {
	for _, s := range []string{"", "a@b.c", "ada@example.com", "@x", "+8613800138000", "12", "203.0.113.7", "2001:db8::1", "::ffff:1.2.3.4", "张三@例子.中国", "\xff@\xfe"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, p, ip := support.MaskEmail(s), support.MaskPhone(s), support.MaskIP(s)
		if utf8.ValidString(s) && (!utf8.ValidString(e) || !utf8.ValidString(p) || !utf8.ValidString(ip)) {
			t.Fatalf("invalid UTF-8 from %q: %q %q %q", s, e, p, ip)
		}
		if at := strings.LastIndexByte(s, '@'); at > 2 && e == s {
			t.Fatalf("MaskEmail(%q) kept it whole", s)
		}
		if len([]rune(s)) > 6 && p == s {
			t.Fatalf("MaskPhone(%q) kept it whole", s)
		}
	})
}
