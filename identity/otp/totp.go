package otp

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"io"
	"strings"
	"time"

	okpay "github.com/okpay/okpay"
)

// TOTP parameters (RFC 6238; SECURITY.md "Default parameters"). Authenticator
// apps assume exactly these.
const (
	TOTPDigits    = 6
	TOTPPeriod    = 30 // seconds per step
	TOTPSecretLen = 20 // bytes, the HMAC-SHA1 output size (RFC 4226 §4 R6)
	// MinTOTPSecretLen is the shortest secret CheckTOTP accepts (128 bits,
	// RFC 4226 §4 R6).
	MinTOTPSecretLen = 16
)

var b32NoPad = base32.StdEncoding.WithPadding(base32.NoPadding)

// GenerateTOTPSecret returns a fresh 20-byte TOTP secret from crypto/rand.
// Seal it before storing it (secret.Sealer); show it once, as EncodeSecret
// or ProvisioningURI.
func GenerateTOTPSecret() ([]byte, error) {
	s := make([]byte, TOTPSecretLen)
	if _, err := io.ReadFull(rand.Reader, s); err != nil {
		return nil, okpay.Internal(err, "otp: reading random bytes")
	}
	return s, nil
}

// EncodeSecret returns secret in base32 (RFC 4648 alphabet, upper case,
// no padding), the form authenticator apps take for manual entry.
func EncodeSecret(secret []byte) string {
	return b32NoPad.EncodeToString(secret)
}

// ProvisioningURI returns the otpauth:// URI to show as a QR code:
//
//	otpauth://totp/Issuer:account?secret=...&issuer=Issuer&algorithm=SHA1&digits=6&period=30
//
// Issuer and account are percent-encoded (RFC 3986; a space is %20, not +,
// and ':' is %3A so it cannot split the label). With an empty issuer the
// label is the account alone and there is no issuer parameter. Neither
// should contain ':' (the Key URI format forbids it: apps split the decoded
// label at its first colon); the issuer parameter stays exact either way.
func ProvisioningURI(issuer, account string, secret []byte) string {
	var b strings.Builder
	b.WriteString("otpauth://totp/")
	if issuer != "" {
		b.WriteString(escape(issuer))
		b.WriteByte(':')
	}
	b.WriteString(escape(account))
	b.WriteString("?secret=")
	b.WriteString(EncodeSecret(secret))
	if issuer != "" {
		b.WriteString("&issuer=")
		b.WriteString(escape(issuer))
	}
	b.WriteString("&algorithm=SHA1&digits=6&period=30")
	return b.String()
}

// escape percent-encodes every byte except RFC 3986 unreserved characters,
// which is valid both in a path segment and in a query value.
func escape(s string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

// Step returns the RFC 6238 time step of t: floor(Unix time / 30).
func Step(t time.Time) int64 {
	u := t.Unix()
	s := u / TOTPPeriod
	if u%TOTPPeriod < 0 {
		s--
	}
	return s
}

// TOTPCode returns the 6-digit TOTP code of secret at time t.
func TOTPCode(secret []byte, t time.Time) string {
	return hotp(secret, uint64(Step(t)), TOTPDigits)
}

// CheckTOTP reports whether code is the TOTP code of secret at step
// Step(now) or Step(now)−1, counting only steps greater than lastStep (the
// last step the account used, 0 for none). On success it returns the
// matched step (the later one if both match): the caller must store it with
// a compare-and-swap on last_step (UPDATE ... WHERE last_step = lastStep)
// and treat a lost race as a failure, so one code is accepted once.
//
// The code is normalised with ParseCode; both candidate steps are always
// computed and compared in constant time. Secrets shorter than
// MinTOTPSecretLen never match.
func CheckTOTP(secret []byte, code string, now time.Time, lastStep int64) (step int64, ok bool) {
	c, valid := ParseCode(code, TOTPDigits)
	if !valid || len(secret) < MinTOTPSecretLen {
		return 0, false
	}
	cur := Step(now)
	for _, s := range [2]int64{cur - 1, cur} {
		eq := subtle.ConstantTimeCompare([]byte(hotp(secret, uint64(s), TOTPDigits)), []byte(c)) == 1
		if eq && s > lastStep {
			step, ok = s, true
		}
	}
	if !ok {
		return 0, false
	}
	return step, true
}

// hotp is RFC 4226 HOTP with HMAC-SHA1 and dynamic truncation to digits
// decimal digits (1..9).
func hotp(secret []byte, counter uint64, digits int) string {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], counter)
	m := hmac.New(sha1.New, secret)
	m.Write(msg[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	v := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	mod := uint32(1)
	for range digits {
		mod *= 10
	}
	return formatCode(v%mod, digits)
}
