package notify

import (
	"strings"

	"github.com/okpay/okpay"
)

// NormalizeEmail checks an email address and returns it lower-cased
// (local part too: OKPay matches addresses without case). It accepts the
// plain addr-spec people type (name@example.com), not display names,
// quoted local parts or address literals, and at most 254 characters.
func NormalizeEmail(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	at := strings.LastIndexByte(s, '@')
	if len(s) > 254 || at < 1 || at == len(s)-1 || strings.ContainsAny(s, " \t\r\n<>()[],;:\"\\") ||
		!strings.Contains(s[at+1:], ".") || strings.HasPrefix(s[at+1:], ".") || strings.HasSuffix(s, ".") || strings.Count(s, "@") != 1 {
		return "", okpay.Invalid(map[string]string{"email": "Enter an email address like name@example.com."})
	}
	return s, nil
}
