package password

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/okpay/okpay"
)

// cheapParams keep argon2 fast in tests that do not depend on the cost.
var cheapParams = Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}

// testBlocklist loads the embedded list once per test binary.
var testBlocklist = sync.OnceValues(NewBlocklist)

func testPolicy(t testing.TB) *Policy {
	t.Helper()
	bl, err := testBlocklist()
	if err != nil {
		t.Fatalf("NewBlocklist: %v", err)
	}
	return NewPolicy(bl)
}

func newHasher(t testing.TB, opts Options) *Hasher {
	t.Helper()
	h, err := New(opts)
	if err != nil {
		t.Fatalf("New(%+v): %v", opts, err)
	}
	return h
}

func cheapHasher(t testing.TB) *Hasher {
	return newHasher(t, Options{Params: cheapParams})
}

// countComputes makes h count its argon2 computations.
func countComputes(h *Hasher) func() int {
	var mu sync.Mutex
	n := 0
	h.computeHook = func() { mu.Lock(); n++; mu.Unlock() }
	return func() int { mu.Lock(); defer mu.Unlock(); return n }
}

func mustHash(t testing.TB, h *Hasher, pw string) string {
	t.Helper()
	enc, err := h.Hash(context.Background(), pw)
	if err != nil {
		t.Fatalf("Hash: %v", err)
	}
	return enc
}

func verify(t testing.TB, h *Hasher, pw, enc string) (ok, rehash bool) {
	t.Helper()
	ok, rehash, err := h.Verify(context.Background(), pw, enc)
	if err != nil {
		t.Fatalf("Verify(%q): %v", pw, err)
	}
	return ok, rehash
}

// wantCode checks that err is an *okpay.Error with the given code.
func wantCode(t testing.TB, err error, code string) *okpay.Error {
	t.Helper()
	var e *okpay.Error
	if !errors.As(err, &e) {
		t.Fatalf("error = %v (%T), want *okpay.Error with code %q", err, err, code)
	}
	if e.Code != code {
		t.Fatalf("code = %q (%v), want %q", e.Code, err, code)
	}
	return e
}
