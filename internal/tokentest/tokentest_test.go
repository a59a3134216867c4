package tokentest

import "testing"

func TestForged(t *testing.T) {
	for _, c := range []struct {
		s    string
		i    int
		want string
	}{{"abc", -1, "aba"}, {"aba", -1, "abb"}, {"abc", 0, "bbc"}, {"xbc", 0, "abc"}, {"ab.a", 2, "abaa"}} {
		if got := Forged(c.s, c.i); got != c.want {
			t.Errorf("Forged(%q, %d) = %q, want %q", c.s, c.i, got, c.want)
		}
	}
}
