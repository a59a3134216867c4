package password

import (
	"strings"
	"unicode/utf8"

	"github.com/okpay/okpay"
)

// Length limits (PWD-01, PWD-02).
const (
	// MaxBytes is the largest raw input accepted, in bytes. Longer input is
	// rejected before normalization or hashing.
	MaxBytes = 1024
	// MinRunes is the least number of code points after NFKC normalization.
	MinRunes = 8
	// MinContextRunes is the shortest context word that a password may not
	// contain; shorter ones only may not equal it.
	MinContextRunes = 4
)

// ProductName is always a context word.
const ProductName = "okpay"

// Messages shown for each rejection. They describe what to do without any
// composition rule (PWD-03).
const (
	msgTooLong    = "This password is too long. Use at most 1024 bytes."
	msgTooShort   = "This password is too short. Use at least 8 characters; a phrase of several words works well."
	msgCommon     = "This password is too common and easy to guess. Choose something less predictable, such as a phrase of several words."
	msgContextual = "This password contains the service name or your own details, such as your email address or phone. Choose something else."
)

// Policy decides whether a new password is acceptable (PWD-01..05). It is
// safe for concurrent use.
type Policy struct {
	blocklist *Blocklist
}

// NewPolicy returns a policy using bl as its common-password list (from
// NewBlocklist, loaded once). A nil bl disables only the blocklist rule.
func NewPolicy(bl *Blocklist) *Policy {
	return &Policy{blocklist: bl}
}

// Check returns nil when pw is acceptable, else an *okpay.Error whose Code is
// one of "password_too_long", "password_too_short", "password_common" or
// "password_contextual" and whose Fields["password"] says what is wrong.
//
// context holds words the password must not contain (case-insensitive,
// after NFKC): typically the user's email address and phone number. An
// email also contributes its local part and the pieces of it split at
// . _ - +; a phone number also contributes its digits alone, with and
// without a 1- to 3-digit country code. The product name is always
// included. Words shorter than MinContextRunes only match the whole
// password.
func (p *Policy) Check(pw string, context ...string) error {
	if len(pw) > MaxBytes {
		return tooLong()
	}
	k := foldKey(pw)
	if utf8.RuneCountInString(k) < MinRunes {
		return reject(CodeTooShort, msgTooShort)
	}
	if p != nil && p.blocklist.containsKey(k) {
		return reject(CodeCommon, msgCommon)
	}
	for _, w := range contextWords(context) {
		if k == w || utf8.RuneCountInString(w) >= MinContextRunes && strings.Contains(k, w) {
			return reject(CodeContextual, msgContextual)
		}
	}
	return nil
}

func reject(code, msg string) *okpay.Error {
	e := okpay.Invalid(map[string]string{"password": msg})
	e.Code = code
	return e
}

func tooLong() *okpay.Error { return reject(CodeTooLong, msgTooLong) }

// contextWords expands the caller's context into folded words to avoid.
func contextWords(context []string) []string {
	words := []string{ProductName}
	add := func(w string) {
		if w != "" {
			words = append(words, w)
		}
	}
	for _, c := range context {
		if len(c) > MaxBytes {
			c = c[:MaxBytes]
		}
		c = strings.TrimSpace(foldKey(c))
		add(c)
		if i := strings.LastIndexByte(c, '@'); i >= 0 {
			local := c[:i]
			add(local)
			parts := strings.FieldsFunc(local, func(r rune) bool {
				return r == '.' || r == '_' || r == '-' || r == '+'
			})
			if len(parts) > 1 {
				for _, part := range parts {
					add(part)
				}
			}
		}
		if d, ok := phoneDigits(c); ok {
			add(d)
			for cc := 1; cc <= 3 && len(d)-cc >= 6; cc++ {
				add(d[cc:])
			}
		}
	}
	return words
}

// phoneDigits returns the digits of s when s looks like a phone number:
// only digits and + - . ( ) and spaces, with at least MinContextRunes
// digits.
func phoneDigits(s string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case '0' <= c && c <= '9':
			b.WriteByte(c)
		case c == '+' || c == '-' || c == '.' || c == '(' || c == ')' || c == ' ':
		default:
			return "", false
		}
	}
	if b.Len() < MinContextRunes {
		return "", false
	}
	return b.String(), true
}
