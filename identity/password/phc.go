package password

import (
	"encoding/base64"
	"strconv"
	"strings"

	"github.com/okpay/okpay"
)

// phcPrefix is the fixed head of every accepted hash: argon2id, version 0x13.
const phcPrefix = "$argon2id$v=19$"

// maxEncodedLen bounds the input ParseHash looks at. The longest valid
// string (10-digit fields and 64-byte salt and key) is well under it.
const maxEncodedLen = 256

// b64 is the PHC encoding: standard alphabet, no padding, canonical.
var b64 = base64.RawStdEncoding.Strict()

// Hash is a parsed argon2id hash in PHC form. Params.KeyLen and
// Params.SaltLen equal len(Key) and len(Salt).
type Hash struct {
	Params Params
	Salt   []byte
	Key    []byte
}

// String returns the PHC encoding
// $argon2id$v=19$m=<m>,t=<t>,p=<p>$<salt>$<key>.
func (h *Hash) String() string {
	var b strings.Builder
	b.Grow(len(phcPrefix) + 32 + b64.EncodedLen(len(h.Salt)) + b64.EncodedLen(len(h.Key)))
	b.WriteString(phcPrefix)
	b.WriteString("m=")
	b.WriteString(strconv.FormatUint(uint64(h.Params.Memory), 10))
	b.WriteString(",t=")
	b.WriteString(strconv.FormatUint(uint64(h.Params.Time), 10))
	b.WriteString(",p=")
	b.WriteString(strconv.FormatUint(uint64(h.Params.Threads), 10))
	b.WriteByte('$')
	b.WriteString(b64.EncodeToString(h.Salt))
	b.WriteByte('$')
	b.WriteString(b64.EncodeToString(h.Key))
	return b.String()
}

// ParseHash parses a stored argon2id hash strictly: exactly the shape
// ^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$
// with decimal numbers without leading zeros, canonical unpadded base64, and
// parameters within the caps (see [Params.Validate]). Whatever it accepts,
// [Hash.String] gives back byte for byte. Errors have code
// "password_hash_invalid"; nothing is computed.
func ParseHash(s string) (*Hash, error) {
	if len(s) > maxEncodedLen {
		return nil, invalidHash("too long")
	}
	rest, ok := strings.CutPrefix(s, phcPrefix)
	if !ok {
		return nil, invalidHash("not an argon2id v=19 hash")
	}
	m, rest, ok := cutNumber(rest, "m=", ',')
	if !ok {
		return nil, invalidHash("bad m")
	}
	t, rest, ok := cutNumber(rest, "t=", ',')
	if !ok {
		return nil, invalidHash("bad t")
	}
	p, rest, ok := cutNumber(rest, "p=", '$')
	if !ok {
		return nil, invalidHash("bad p")
	}
	saltText, keyText, ok := strings.Cut(rest, "$")
	if !ok {
		return nil, invalidHash("missing key")
	}
	salt, ok := decodeB64(saltText)
	if !ok {
		return nil, invalidHash("bad salt encoding")
	}
	key, ok := decodeB64(keyText)
	if !ok {
		return nil, invalidHash("bad key encoding")
	}
	// Compare in 64 bits first so that huge values cannot wrap when
	// narrowed to the field types.
	if m > MaxMemory || t > MaxTime || p > MaxThreads {
		return nil, okpay.Errorf(CodeHashInvalid,
			"password hash parameters m=%d,t=%d,p=%d exceed the caps m≤%d,t≤%d,p≤%d",
			m, t, p, MaxMemory, MaxTime, MaxThreads)
	}
	h := &Hash{
		Params: Params{
			Memory:  uint32(m),
			Time:    uint32(t),
			Threads: uint8(p),
			KeyLen:  uint32(len(key)),
			SaltLen: uint32(len(salt)),
		},
		Salt: salt,
		Key:  key,
	}
	if err := h.Params.Validate(); err != nil {
		return nil, err
	}
	return h, nil
}

func invalidHash(why string) error {
	return okpay.Errorf(CodeHashInvalid, "password hash is malformed: %s", why)
}

// cutNumber reads name, then a decimal number of 1..10 digits without a
// leading zero, then sep.
func cutNumber(s, name string, sep byte) (n uint64, rest string, ok bool) {
	s, ok = strings.CutPrefix(s, name)
	if !ok {
		return 0, "", false
	}
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 || i > 10 || s[0] == '0' || i == len(s) || s[i] != sep {
		return 0, "", false
	}
	n, err := strconv.ParseUint(s[:i], 10, 64)
	if err != nil {
		return 0, "", false
	}
	return n, s[i+1:], true
}

// decodeB64 decodes non-empty canonical unpadded standard base64. The
// alphabet is checked first because the decoder silently skips CR and LF.
func decodeB64(s string) ([]byte, bool) {
	if s == "" {
		return nil, false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/') {
			return nil, false
		}
	}
	b, err := b64.DecodeString(s)
	if err != nil {
		return nil, false
	}
	return b, true
}
