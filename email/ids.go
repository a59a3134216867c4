package email

import (
	"crypto/rand"
	"encoding/base32"
	"io"
	"mime"
	"regexp"
	"strings"
)

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewMessageID returns a random Message-ID on domain, without angle
// brackets: 128 random bits, so it reveals nothing about internal ids or
// the clock. rnd nil (or failing) means crypto/rand.
func NewMessageID(domain string, rnd io.Reader) string {
	var b [16]byte
	if rnd == nil {
		rnd = rand.Reader
	}
	if _, err := io.ReadFull(rnd, b[:]); err != nil {
		_, _ = rand.Read(b[:])
	}
	domain = strings.ToLower(strings.Trim(strings.TrimSpace(domain), "<>@ "))
	if domain == "" || strings.ContainsAny(domain, " \t\r\n<>\"\\,@") {
		domain = "localhost"
	}
	return idEncoding.EncodeToString(b[:]) + "@" + domain
}

// subjectPrefix matches one reply/forward marker at the start of a subject:
// English, Chinese (simplified and traditional), German, Dutch, Nordic,
// with optional counters ("Re[2]:", "RE(3):") and full-width colons.
var subjectPrefix = regexp.MustCompile(`(?i)^\s*(?:re|fwd?|aw|wg|antw(?:oord)?|sv|vs|vl|tr|r[ée]f|回复|回覆|答复|答覆|转发|轉寄|轉發|转寄)\s*(?:\[\d+\]|\(\d+\))?\s*[:：]\s*`)

// subjectTag matches a leading "[External]"-style tag some gateways add.
var subjectTag = regexp.MustCompile(`(?i)^\s*\[(?:ext|external|外部邮件|外部郵件)\]\s*`)

// NormalizeSubject strips reply and forward prefixes (repeated, in any of
// the usual languages) and collapses spaces, to compare subjects of the
// same thread.
func NormalizeSubject(s string) string {
	s = oneLineSpace(s)
	for i := 0; i < 50; i++ {
		t := subjectTag.ReplaceAllString(s, "")
		t = subjectPrefix.ReplaceAllString(t, "")
		if t == s {
			break
		}
		s = t
	}
	return strings.TrimSpace(s)
}

func formatAddress(a Address) string {
	if a.Name == "" {
		return "<" + a.Addr + ">"
	}
	name := a.Name
	for _, r := range name {
		if r >= 0x80 {
			return mime.QEncoding.Encode("utf-8", name) + " <" + a.Addr + ">"
		}
	}
	if strings.ContainsAny(name, "()<>[]:;@\\,.\"") {
		name = `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(name) + `"`
	}
	return name + " <" + a.Addr + ">"
}
