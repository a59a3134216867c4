package otp

import (
	"crypto/rand"
	"fmt"
	"io"
	"strings"

	okpay "github.com/okpay/okpay"
	"github.com/okpay/okpay/secret"
)

// Code lengths from SECURITY.md "Default parameters".
const (
	// SMSCodeDigits is the length of an SMS one-time code (MFA-02).
	SMSCodeDigits = 6
	// ResetCodeDigits is the length of a password reset code (REC-03).
	ResetCodeDigits = 8
	// MaxDigits is the longest code NewCode and ParseCode handle.
	MaxDigits = 18
)

// maxCodeInput bounds the input ParseCode looks at, in bytes.
const maxCodeInput = 64

// NewCode returns a code of digits decimal digits (1..MaxDigits), each
// uniform and independent, from crypto/rand.
func NewCode(digits int) (string, error) {
	return newCode(rand.Reader, digits)
}

// newCode draws each digit from one random byte b: 250 is the largest
// multiple of 10 not above 256, so bytes 250..255 are rejected and b%10 is
// uniform over the 250 kept values (a plain b%10 would favour 0..5).
func newCode(r io.Reader, digits int) (string, error) {
	if digits < 1 || digits > MaxDigits {
		return "", okpay.Errorf(okpay.EInvalid, "otp: code length %d is out of range 1..%d", digits, MaxDigits)
	}
	out := make([]byte, 0, digits)
	var buf [32]byte
	for len(out) < digits {
		if _, err := io.ReadFull(r, buf[:]); err != nil {
			return "", okpay.Internal(err, "otp: reading random bytes")
		}
		for _, b := range buf {
			if b >= 250 {
				continue
			}
			out = append(out, '0'+b%10)
			if len(out) == digits {
				break
			}
		}
	}
	return string(out), nil
}

// ParseCode normalises a code as a person typed or pasted it and reports
// whether it is exactly digits digits. It accepts:
//   - white space around the code;
//   - ASCII digits and full-width digits (U+FF10..U+FF19);
//   - between two digits, spaces (U+0020, ideographic U+3000) and at most
//     one dash ('-' or full-width U+FF0D), e.g. "123 456", "123-456",
//     "12 34 56", "１２３４５６".
//
// Anything else (letters, other punctuation, a leading or trailing dash, two
// dashes in a row, too many or too few digits) is rejected. The result is
// always ASCII.
func ParseCode(s string, digits int) (string, bool) {
	if digits < 1 || digits > MaxDigits || len(s) > maxCodeInput {
		return "", false
	}
	s = strings.TrimSpace(s)
	out := make([]byte, 0, digits)
	inSep, dash := false, false
	for _, r := range s {
		var d byte
		switch {
		case '0' <= r && r <= '9':
			d = byte(r)
		case '\uFF10' <= r && r <= '\uFF19':
			d = byte('0' + (r - '\uFF10'))
		case r == ' ' || r == '\u3000':
			if len(out) == 0 {
				return "", false
			}
			inSep = true
			continue
		case r == '-' || r == '\uFF0D':
			if len(out) == 0 || dash {
				return "", false
			}
			inSep, dash = true, true
			continue
		default:
			return "", false
		}
		if len(out) == digits {
			return "", false
		}
		out = append(out, d)
		inSep, dash = false, false
	}
	if inSep || len(out) != digits {
		return "", false
	}
	return string(out), true
}

// CodeMAC returns the tag to store for code in flow flowID:
// m.Sum(flowID, code), so the same code in another flow (or for another
// user, whose flows differ) has another tag. Pass the code as returned by
// NewCode or ParseCode; store m.KeyID() with the tag and compare with
// m.Equal.
func CodeMAC(m *secret.MAC, flowID, code string) []byte {
	return m.Sum([]byte(flowID), []byte(code))
}

// formatCode zero-pads v to digits digits.
func formatCode(v uint32, digits int) string {
	return fmt.Sprintf("%0*d", digits, v)
}
