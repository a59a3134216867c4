package desk

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// CleanText returns s as the desk stores it: valid UTF-8 (invalid bytes
// become U+FFFD), line ends as "\n", without control characters other than
// newline and tab, without the bidirectional overrides and isolates that
// make text display in another order than it is stored (a "Trojan source"
// trick to disguise links and file names), and without surrounding space.
func CleanText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.ReplaceAll(s, "\r\n", "\n")
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case r == '\n' || r == '\t':
			b.WriteRune(r)
		case r == '\r':
			b.WriteByte('\n')
		case unicode.IsControl(r), isBidiControl(r), r == '\uFEFF':
			// dropped
		default:
			b.WriteRune(r)
		}
	}
	return strings.TrimSpace(b.String())
}

// CleanLine is CleanText for one-line values (subjects, file names):
// newlines and tabs become spaces.
func CleanLine(s string) string {
	s = CleanText(s)
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\t' {
			return ' '
		}
		return r
	}, s)
}

func isBidiControl(r rune) bool {
	return r == '\u061C' || r == '\u200E' || r == '\u200F' ||
		('\u202A' <= r && r <= '\u202E') || ('\u2066' <= r && r <= '\u2069')
}

func runeLen(s string) int { return utf8.RuneCountInString(s) }
