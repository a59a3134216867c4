package money

import (
	"strconv"
	"strings"
	"testing"
)

func TestQuoteBound(t *testing.T) {
	for _, s := range []string{"", "abc", strings.Repeat("x", 24), strings.Repeat("x", 25), strings.Repeat("\x7f", 30), "中文中文中文中文中文中文", "a\"b\\c"} {
		got := quote(s)
		if len(s) <= 24 && !strings.ContainsAny(s, "\x7f") && got != strconv.Quote(s) && len(strconv.Quote(s)) <= 26 {
			t.Errorf("quote(%q) = %s", s, got)
		}
		if len(got) > 29 {
			t.Errorf("quote(%q) = %s: too long", s, got)
		}
	}
	if got := quote(strings.Repeat("y", 30)); got != strconv.Quote(strings.Repeat("y", 24))+"..." {
		t.Errorf("long ASCII: %s", got)
	}
}
