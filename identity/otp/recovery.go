package otp

import (
	"crypto/rand"
	"io"
	"strings"

	okpay "github.com/okpay/okpay"
)

// Recovery code shape (MFA-07): IIII-SSSS-SSSS-SSSS in Crockford base32.
const (
	// RecoveryCodeCount is how many codes a set has by default.
	RecoveryCodeCount = 10
	// RecoveryIndexLen is the length of the index part, in characters.
	RecoveryIndexLen = 4
	// RecoverySecretLen is the length of the secret part: 12 characters of
	// 5 bits, 60 bits.
	RecoverySecretLen = 12
	// MaxRecoveryCodes bounds n in NewRecoveryCodes.
	MaxRecoveryCodes = 100
)

// crockford is Crockford's base32 alphabet: digits and upper case letters
// without I, L, O and U.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// maxRecoveryInput bounds the input ParseRecoveryCode looks at, in bytes.
const maxRecoveryInput = 64

// RecoveryCode is one recovery code. Index (4 characters) identifies the
// stored row; Secret (12 characters, 60 bits) is what its argon2id hash
// covers. Both are upper case Crockford base32.
type RecoveryCode struct {
	Index  string
	Secret string
}

// String formats the code as IIII-SSSS-SSSS-SSSS, as shown to the user.
func (c RecoveryCode) String() string {
	var b strings.Builder
	b.Grow(len(c.Index) + len(c.Secret) + 3)
	b.WriteString(c.Index)
	for i := 0; i < len(c.Secret); i += 4 {
		b.WriteByte('-')
		b.WriteString(c.Secret[i:min(i+4, len(c.Secret))])
	}
	return b.String()
}

// NewRecoveryCodes returns n (1..MaxRecoveryCodes) fresh recovery codes
// from crypto/rand, with indexes unique within the set.
func NewRecoveryCodes(n int) ([]RecoveryCode, error) {
	return newRecoveryCodes(rand.Reader, n)
}

func newRecoveryCodes(r io.Reader, n int) ([]RecoveryCode, error) {
	if n < 1 || n > MaxRecoveryCodes {
		return nil, okpay.Errorf(okpay.EInvalid, "otp: recovery code count %d is out of range 1..%d", n, MaxRecoveryCodes)
	}
	codes := make([]RecoveryCode, 0, n)
	seen := make(map[string]bool, n)
	for len(codes) < n {
		idx, err := randomCrockford(r, RecoveryIndexLen)
		if err != nil {
			return nil, err
		}
		if seen[idx] {
			continue
		}
		sec, err := randomCrockford(r, RecoverySecretLen)
		if err != nil {
			return nil, err
		}
		seen[idx] = true
		codes = append(codes, RecoveryCode{Index: idx, Secret: sec})
	}
	return codes, nil
}

// randomCrockford returns n uniform Crockford base32 characters: the low 5
// bits of a random byte are uniform because 256 is a multiple of 32.
func randomCrockford(r io.Reader, n int) (string, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", okpay.Internal(err, "otp: reading random bytes")
	}
	for i := range b {
		b[i] = crockford[b[i]&31]
	}
	return string(b), nil
}

// ParseRecoveryCode normalises a recovery code as typed and splits it into
// index and secret (upper case Crockford base32). It ignores spaces, tabs,
// line breaks and dashes anywhere, accepts lower case, and reads O as 0 and
// I or L as 1. Anything else (U, other punctuation, non-ASCII), or other
// than 16 characters, is rejected.
func ParseRecoveryCode(s string) (index, secret string, ok bool) {
	if len(s) > maxRecoveryInput {
		return "", "", false
	}
	const total = RecoveryIndexLen + RecoverySecretLen
	out := make([]byte, 0, total)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '-':
			continue
		case 'a' <= c && c <= 'z':
			c -= 'a' - 'A'
		}
		switch c {
		case 'O':
			c = '0'
		case 'I', 'L':
			c = '1'
		}
		if strings.IndexByte(crockford, c) < 0 || len(out) == total {
			return "", "", false
		}
		out = append(out, c)
	}
	if len(out) != total {
		return "", "", false
	}
	return string(out[:RecoveryIndexLen]), string(out[RecoveryIndexLen:]), true
}
