package password

import (
	"github.com/okpay/okpay"
)

// Error codes returned by this package (okpay.ErrorCode of its errors).
const (
	CodeTooShort    = "password_too_short"
	CodeTooLong     = "password_too_long"
	CodeCommon      = "password_common"
	CodeContextual  = "password_contextual"
	CodeHashInvalid = "password_hash_invalid"
)

// Caps on argon2id parameters (PWD-11). A hash whose parameters exceed them,
// stored or imported, is rejected without being computed.
const (
	MaxMemory  = 262144 // KiB (256 MiB)
	MaxTime    = 10
	MaxThreads = 16
	MinKeyLen  = 16
	MaxKeyLen  = 64
	MinSaltLen = 16
	MaxSaltLen = 64
)

// Params are argon2id cost parameters.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8  // lanes
	KeyLen  uint32 // bytes of derived key
	SaltLen uint32 // bytes of random salt
}

// DefaultParams are OWASP's argon2id settings: m=19 MiB, t=2, p=1, with a
// 32-byte key and a 16-byte salt.
var DefaultParams = Params{Memory: 19456, Time: 2, Threads: 1, KeyLen: 32, SaltLen: 16}

// Validate reports whether p is within the caps and argon2's minimums
// (t ≥ 1, p ≥ 1, m ≥ 8·p KiB). Its errors have code "password_hash_invalid".
func (p Params) Validate() error {
	switch {
	case p.Time < 1 || p.Time > MaxTime:
		return okpay.Errorf(CodeHashInvalid, "argon2 time t=%d is outside 1..%d", p.Time, MaxTime)
	case p.Threads < 1 || p.Threads > MaxThreads:
		return okpay.Errorf(CodeHashInvalid, "argon2 parallelism p=%d is outside 1..%d", p.Threads, MaxThreads)
	case p.Memory > MaxMemory:
		return okpay.Errorf(CodeHashInvalid, "argon2 memory m=%d KiB is above the cap of %d KiB", p.Memory, MaxMemory)
	case p.Memory < 8*uint32(p.Threads):
		return okpay.Errorf(CodeHashInvalid, "argon2 memory m=%d KiB is below 8 KiB per lane", p.Memory)
	case p.KeyLen < MinKeyLen || p.KeyLen > MaxKeyLen:
		return okpay.Errorf(CodeHashInvalid, "argon2 key length %d is outside %d..%d bytes", p.KeyLen, MinKeyLen, MaxKeyLen)
	case p.SaltLen < MinSaltLen || p.SaltLen > MaxSaltLen:
		return okpay.Errorf(CodeHashInvalid, "argon2 salt length %d is outside %d..%d bytes", p.SaltLen, MinSaltLen, MaxSaltLen)
	}
	return nil
}
