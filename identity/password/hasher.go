package password

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"runtime"
	"sync/atomic"

	"golang.org/x/crypto/argon2"
	"golang.org/x/text/unicode/norm"

	"github.com/okpay/okpay"
)

// MinPepperLen is the shortest pepper New accepts.
const MinPepperLen = 16

// Options configure a Hasher.
type Options struct {
	// Params for new hashes; the zero value means DefaultParams.
	Params Params
	// Pepper, if set, is an HMAC-SHA256 key applied to the normalized
	// password before argon2 (at least MinPepperLen bytes). Changing or
	// removing it makes existing hashes fail to verify.
	Pepper []byte
	// MaxConcurrent bounds argon2 computations running at once across
	// Hash, Verify and DummyVerify; ≤0 means runtime.GOMAXPROCS(0).
	MaxConcurrent int
}

// Hasher hashes and verifies passwords. It is safe for concurrent use.
type Hasher struct {
	params Params
	pepper []byte
	sem    chan struct{}
	// dummy is a well-formed hash with the hasher's params and a random
	// key that no password derives; DummyVerify verifies against it.
	dummy string

	inFlight atomic.Int64
	peak     atomic.Int64

	// computeHook, when set by tests, runs inside the semaphore just
	// before each argon2 computation.
	computeHook func()
}

// New returns a Hasher. It fails (code "password_hash_invalid" or
// "validation_failed") on parameters outside the caps or a short pepper.
func New(opts Options) (*Hasher, error) {
	p := opts.Params
	if p == (Params{}) {
		p = DefaultParams
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if len(opts.Pepper) > 0 && len(opts.Pepper) < MinPepperLen {
		return nil, okpay.Errorf(okpay.EInvalid, "password pepper must be at least %d bytes", MinPepperLen)
	}
	n := opts.MaxConcurrent
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	h := &Hasher{
		params: p,
		sem:    make(chan struct{}, n),
	}
	if len(opts.Pepper) > 0 {
		h.pepper = append([]byte(nil), opts.Pepper...)
	}
	dummy := Hash{Params: p, Salt: make([]byte, p.SaltLen), Key: make([]byte, p.KeyLen)}
	rand.Read(dummy.Salt)
	rand.Read(dummy.Key)
	h.dummy = dummy.String()
	return h, nil
}

// Params returns the parameters used for new hashes.
func (h *Hasher) Params() Params { return h.params }

// Hash returns the PHC-encoded argon2id hash of pw (NFKC-normalized, then
// peppered if configured) with a fresh random salt. It does not apply the
// policy: call Policy.Check first. Input over MaxBytes is refused with
// "password_too_long" without hashing.
func (h *Hasher) Hash(ctx context.Context, pw string) (string, error) {
	if len(pw) > MaxBytes {
		return "", tooLong()
	}
	out := Hash{Params: h.params, Salt: make([]byte, h.params.SaltLen)}
	rand.Read(out.Salt)
	key, err := h.derive(ctx, pw, out.Salt, h.params)
	if err != nil {
		return "", err
	}
	out.Key = key
	return out.String(), nil
}

// Verify reports whether pw matches the stored hash encoded. A wrong
// password is (false, false, nil). needsRehash is true after a match when
// the stored parameters differ from the hasher's (weaker ones, and also
// costlier ones such as an imported hash); the caller then stores a fresh
// Hash of pw. A malformed or over-cap hash is an error with code
// "password_hash_invalid" and is never computed; input over MaxBytes is
// "password_too_long"; a context that ends while waiting for a computation
// slot gives code "unavailable" wrapping the context's error.
func (h *Hasher) Verify(ctx context.Context, pw, encoded string) (ok, needsRehash bool, err error) {
	if len(pw) > MaxBytes {
		return false, false, tooLong()
	}
	stored, err := ParseHash(encoded)
	if err != nil {
		return false, false, err
	}
	key, err := h.derive(ctx, pw, stored.Salt, stored.Params)
	if err != nil {
		return false, false, err
	}
	if subtle.ConstantTimeCompare(key, stored.Key) != 1 {
		return false, false, nil
	}
	return true, stored.Params != h.params, nil
}

// DummyVerify does the work of a Verify against a hash with the hasher's
// parameters, for callers that have no stored hash (unknown user, LOG-02),
// so both paths take the same time. It returns only context or length
// errors.
func (h *Hasher) DummyVerify(ctx context.Context, pw string) error {
	_, _, err := h.Verify(ctx, pw, h.dummy)
	return err
}

// InFlight is the number of argon2 computations running now.
func (h *Hasher) InFlight() int { return int(h.inFlight.Load()) }

// Peak is the largest number of argon2 computations that ran at once since
// New; it never exceeds Options.MaxConcurrent.
func (h *Hasher) Peak() int { return int(h.peak.Load()) }

// derive normalizes and peppers pw, waits for a computation slot and runs
// argon2id with p.
func (h *Hasher) derive(ctx context.Context, pw string, salt []byte, p Params) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, busy(err)
	}
	input := h.input(pw)
	defer clear(input)

	select {
	case h.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, busy(ctx.Err())
	}
	defer func() { <-h.sem }()
	n := h.inFlight.Add(1)
	defer h.inFlight.Add(-1)
	for {
		old := h.peak.Load()
		if n <= old || h.peak.CompareAndSwap(old, n) {
			break
		}
	}
	if h.computeHook != nil {
		h.computeHook()
	}
	return argon2.IDKey(input, salt, p.Time, p.Memory, p.Threads, p.KeyLen), nil
}

// input is the argon2 password input: NFKC(pw), or HMAC-SHA256(pepper,
// NFKC(pw)) with a pepper.
func (h *Hasher) input(pw string) []byte {
	b := norm.NFKC.AppendString(nil, pw)
	if h.pepper == nil {
		return b
	}
	mac := hmac.New(sha256.New, h.pepper)
	mac.Write(b)
	clear(b)
	return mac.Sum(nil)
}

func busy(cause error) error {
	e := okpay.Internal(cause, "password check is busy, try again")
	e.Code = okpay.EUnavailable
	return e
}
