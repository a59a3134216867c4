// Package tokentest helps tests of signed links and tokens.
package tokentest

// Forged returns s with its i-th character (from the end when i < 0)
// replaced by another lower-case letter: a token that differs for sure
// (replacing it with a fixed letter would give the real token back
// whenever that letter was already there).
func Forged(s string, i int) string {
	if i < 0 {
		i += len(s)
	}
	c := byte('a')
	if s[i] == 'a' {
		c = 'b'
	}
	return s[:i] + string(c) + s[i+1:]
}
