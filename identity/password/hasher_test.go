package password

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/okpay/okpay"
)

var pwd09 = regexp.MustCompile(`^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$`)

func TestDefaultParams(t *testing.T) {
	want := Params{Memory: 19456, Time: 2, Threads: 1, KeyLen: 32, SaltLen: 16}
	if DefaultParams != want {
		t.Fatalf("DefaultParams = %+v", DefaultParams)
	}
	h := newHasher(t, Options{})
	if h.Params() != want {
		t.Fatalf("zero Options gave %+v", h.Params())
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	for _, p := range []Params{
		{Memory: MaxMemory + 1, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16},
		{Memory: 64, Time: MaxTime + 1, Threads: 1, KeyLen: 32, SaltLen: 16},
		{Memory: 64, Time: 0, Threads: 1, KeyLen: 32, SaltLen: 16},
		{Memory: 64, Time: 1, Threads: 0, KeyLen: 32, SaltLen: 16},
		{Memory: 512, Time: 1, Threads: MaxThreads + 1, KeyLen: 32, SaltLen: 16},
		{Memory: 15, Time: 1, Threads: 2, KeyLen: 32, SaltLen: 16},
		{Memory: 64, Time: 1, Threads: 1, KeyLen: 15, SaltLen: 16},
		{Memory: 64, Time: 1, Threads: 1, KeyLen: 65, SaltLen: 16},
		{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 8},
		{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 65},
	} {
		_, err := New(Options{Params: p})
		wantCode(t, err, CodeHashInvalid)
	}
	_, err := New(Options{Params: cheapParams, Pepper: []byte("short")})
	wantCode(t, err, okpay.EInvalid)
}

func TestHashVerifyRoundTrip(t *testing.T) {
	h := cheapHasher(t)
	enc := mustHash(t, h, "lanterns over the harbour")
	if ok, rehash := verify(t, h, "lanterns over the harbour", enc); !ok || rehash {
		t.Fatalf("ok=%v rehash=%v", ok, rehash)
	}
	if ok, rehash := verify(t, h, "lanterns over the harbor", enc); ok || rehash {
		t.Fatalf("wrong password: ok=%v rehash=%v", ok, rehash)
	}
	parsed, err := ParseHash(enc)
	if err != nil {
		t.Fatal(err)
	}
	if parsed.Params != cheapParams || len(parsed.Salt) != 16 || len(parsed.Key) != 32 {
		t.Fatalf("parsed %+v", parsed)
	}
	// Verify of a malformed hash is an error, not a mismatch.
	_, _, err = h.Verify(t.Context(), "x", "$argon2i$v=19$m=64,t=1,p=1$AAAA$AAAA")
	wantCode(t, err, CodeHashInvalid)
}

func TestPWD04_VerifiedExactly(t *testing.T) {
	h := cheapHasher(t)
	const pw = "Correct Horse Battery Staple"
	enc := mustHash(t, h, pw)
	if ok, _ := verify(t, h, pw, enc); !ok {
		t.Fatal("exact password does not verify")
	}
	for _, wrong := range []string{
		pw + " ",                           // trailing space
		" " + pw,                           // leading space
		strings.ToLower(pw),                // case change
		"Correct Horse Battery staple",     // one letter's case
		pw[:len(pw)-1],                     // truncation
		pw[:8],                             // truncation
		"Correct  Horse Battery Staple",    // doubled space
		"Correct Horse Battery Staple\n",   // trailing newline
		"Correct Horse Battery Staple\x00", // trailing NUL
	} {
		if ok, _ := verify(t, h, wrong, enc); ok {
			t.Errorf("%q verifies against %q", wrong, pw)
		}
	}
}

func TestPWD04_NFKCAtSetAndVerify(t *testing.T) {
	h := cheapHasher(t)
	pairs := [][2]string{
		{"ｐａｓｓｗｏｒｄ１２３", "password123"}, // full-width vs ASCII
		{"password123", "ｐａｓｓｗｏｒｄ１２３"},
		{"caf\u00e9 au lait", "cafe\u0301 au lait"}, // precomposed vs combining
		{"cafe\u0301 au lait", "caf\u00e9 au lait"},
		{"ﬁnancial ﬂow", "financial flow"}, // ligatures
		{"Ⅻ o'clock rule", "XII o'clock rule"},
	}
	for _, p := range pairs {
		enc := mustHash(t, h, p[0])
		if ok, _ := verify(t, h, p[1], enc); !ok {
			t.Errorf("%q set, %q does not verify", p[0], p[1])
		}
	}
	// NFKC does not fold case.
	enc := mustHash(t, h, "ｐａｓｓｗｏｒｄ１２３")
	if ok, _ := verify(t, h, "PASSWORD123", enc); ok {
		t.Error("NFKC must not fold case")
	}
}

func TestPWD09_StoredFormat(t *testing.T) {
	h := newHasher(t, Options{}) // defaults matter here
	const pw = "same password for both users"
	a := mustHash(t, h, pw)
	b := mustHash(t, h, pw)
	if a == b {
		t.Fatal("two users with the same password got the same hash")
	}
	for _, enc := range []string{a, b} {
		m := pwd09.FindStringSubmatch(enc)
		if m == nil {
			t.Fatalf("%q does not match the PWD-09 pattern", enc)
		}
		if m[1] != "19456" || m[2] != "2" || m[3] != "1" {
			t.Fatalf("params m=%s t=%s p=%s", m[1], m[2], m[3])
		}
		parsed, err := ParseHash(enc)
		if err != nil {
			t.Fatal(err)
		}
		if len(parsed.Salt) != 16 || len(parsed.Key) != 32 {
			t.Fatalf("salt %d bytes, key %d bytes", len(parsed.Salt), len(parsed.Key))
		}
		if ok, rehash := verify(t, h, pw, enc); !ok || rehash {
			t.Fatalf("ok=%v rehash=%v", ok, rehash)
		}
	}
	pa, _ := ParseHash(a)
	pb, _ := ParseHash(b)
	if string(pa.Salt) == string(pb.Salt) {
		t.Fatal("salts repeat")
	}
}

func TestPWD10_NeedsRehash(t *testing.T) {
	const pw = "upgrade me on next login"
	def := newHasher(t, Options{})
	weak := newHasher(t, Options{Params: Params{Memory: 4096, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}})

	old := mustHash(t, weak, pw)
	ok, rehash := verify(t, def, pw, old)
	if !ok || !rehash {
		t.Fatalf("weaker stored params: ok=%v needsRehash=%v, want true true", ok, rehash)
	}
	if ok, rehash := verify(t, def, "wrong password", old); ok || rehash {
		t.Fatalf("wrong password: ok=%v needsRehash=%v", ok, rehash)
	}
	fresh := mustHash(t, def, pw)
	if fresh == old {
		t.Fatal("rehash gave the same value")
	}
	if ok, rehash := verify(t, def, pw, fresh); !ok || rehash {
		t.Fatalf("default params: ok=%v needsRehash=%v, want true false", ok, rehash)
	}

	// Each parameter on its own, with cheap costs: any difference from the
	// hasher's params asks for a rehash (weaker, and costlier ones too, so
	// an imported expensive hash is brought back to the configured cost).
	base := Params{Memory: 256, Time: 2, Threads: 2, KeyLen: 32, SaltLen: 16}
	h := newHasher(t, Options{Params: base})
	for _, p := range []Params{
		{Memory: 128, Time: 2, Threads: 2, KeyLen: 32, SaltLen: 16},
		{Memory: 256, Time: 1, Threads: 2, KeyLen: 32, SaltLen: 16},
		{Memory: 256, Time: 2, Threads: 1, KeyLen: 32, SaltLen: 16},
		{Memory: 256, Time: 2, Threads: 2, KeyLen: 16, SaltLen: 16},
		{Memory: 256, Time: 2, Threads: 2, KeyLen: 32, SaltLen: 32},
		{Memory: 512, Time: 3, Threads: 2, KeyLen: 32, SaltLen: 16},
	} {
		enc := mustHash(t, newHasher(t, Options{Params: p}), pw)
		if ok, rehash := verify(t, h, pw, enc); !ok || !rehash {
			t.Errorf("stored %+v: ok=%v needsRehash=%v", p, ok, rehash)
		}
	}
}

func TestPWD11_OverCapRejectedWithoutComputing(t *testing.T) {
	h := cheapHasher(t)
	computes := countComputes(h)
	salt := "c2FsdHNhbHRzYWx0c2FsdA" // 16 bytes
	key := "a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U"
	overCap := []string{
		"$argon2id$v=19$m=4194304,t=2,p=1$" + salt + "$" + key, // 4 GiB
		"$argon2id$v=19$m=262145,t=2,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=19456,t=11,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=19456,t=4000000000,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=19456,t=2,p=17$" + salt + "$" + key,
		"$argon2id$v=19$m=19456,t=2,p=255$" + salt + "$" + key,
		"$argon2id$v=19$m=19456,t=2,p=256$" + salt + "$" + key,
		"$argon2id$v=19$m=4294967296,t=2,p=1$" + salt + "$" + key,                      // wraps uint32
		"$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$" + strings.Repeat("A", 87) + "w", // 66-byte key
		"$argon2id$v=19$m=19456,t=2,p=1$" + strings.Repeat("A", 88) + "$" + key,        // 66-byte salt
	}
	for _, enc := range overCap {
		start := time.Now()
		ok, rehash, err := h.Verify(t.Context(), "anything at all", enc)
		elapsed := time.Since(start)
		wantCode(t, err, CodeHashInvalid)
		if ok || rehash {
			t.Fatalf("%s: ok=%v rehash=%v", enc, ok, rehash)
		}
		if elapsed > 250*time.Millisecond {
			t.Errorf("%s: rejection took %v", enc, elapsed)
		}
	}
	if n := computes(); n != 0 {
		t.Fatalf("%d argon2 computations for over-cap hashes", n)
	}
	// At the caps the hash is accepted (parsed, not computed here).
	if _, err := ParseHash("$argon2id$v=19$m=262144,t=10,p=16$" + salt + "$" + key); err != nil {
		t.Fatalf("at caps: %v", err)
	}
}

func TestPWD13_Pepper(t *testing.T) {
	pepper := []byte("0123456789abcdef0123456789abcdef")
	const pw = "peppered passphrase here"
	with := newHasher(t, Options{Params: cheapParams, Pepper: pepper})
	enc := mustHash(t, with, pw)
	if strings.Contains(enc, "0123456789abcdef") {
		t.Fatal("pepper leaked into the hash")
	}
	if ok, _ := verify(t, with, pw, enc); !ok {
		t.Fatal("same pepper does not verify")
	}
	again := newHasher(t, Options{Params: cheapParams, Pepper: append([]byte(nil), pepper...)})
	if ok, _ := verify(t, again, pw, enc); !ok {
		t.Fatal("same pepper in a new Hasher does not verify")
	}
	// The DB dump alone: no pepper.
	without := cheapHasher(t)
	if ok, _ := verify(t, without, pw, enc); ok {
		t.Fatal("verified without the pepper")
	}
	other := newHasher(t, Options{Params: cheapParams, Pepper: []byte("another pepper of enough length")})
	if ok, _ := verify(t, other, pw, enc); ok {
		t.Fatal("verified with another pepper")
	}
	// And an unpeppered hash does not verify once a pepper is configured.
	plain := mustHash(t, without, pw)
	if ok, _ := verify(t, with, pw, plain); ok {
		t.Fatal("unpeppered hash verified with a pepper")
	}
	// New copies the pepper.
	pepper[0] ^= 1
	if ok, _ := verify(t, with, pw, enc); !ok {
		t.Fatal("Hasher shares the caller's pepper slice")
	}
}

func TestDummyVerifySameWork(t *testing.T) {
	p := Params{Memory: 1024, Time: 2, Threads: 1, KeyLen: 32, SaltLen: 16}
	h := newHasher(t, Options{Params: p})
	computes := countComputes(h)
	parsed, err := ParseHash(h.dummy)
	if err != nil {
		t.Fatal(err)
	}
	if parsed.Params != p {
		t.Fatalf("dummy params %+v, hasher %+v", parsed.Params, p)
	}
	if err := h.DummyVerify(t.Context(), "unknown user guess"); err != nil {
		t.Fatal(err)
	}
	if n := computes(); n != 1 {
		t.Fatalf("DummyVerify ran argon2 %d times, want 1", n)
	}
	if h2 := newHasher(t, Options{Params: p}); h2.dummy == h.dummy {
		t.Fatal("dummy hash is not random")
	}
}

// TestConcurrencyBound holds computations inside the semaphore and checks
// that no more than MaxConcurrent ever start.
func TestConcurrencyBound(t *testing.T) {
	const limit, workers = 2, 20
	h := newHasher(t, Options{Params: cheapParams, MaxConcurrent: limit})
	enc := mustHash(t, h, "storm password")
	var entered atomic.Int32
	release := make(chan struct{})
	h.computeHook = func() {
		entered.Add(1)
		<-release
	}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			ok, _, err := h.Verify(context.Background(), "storm password", enc)
			if err != nil || !ok {
				t.Errorf("ok=%v err=%v", ok, err)
			}
		})
	}
	deadline := time.Now().Add(5 * time.Second)
	for entered.Load() < limit && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // give extra goroutines a chance to get in
	if n := entered.Load(); n != limit {
		t.Errorf("%d computations started while %d were held, limit %d", n, limit, limit)
	}
	if n := h.InFlight(); n != limit {
		t.Errorf("InFlight = %d, want %d", n, limit)
	}
	close(release)
	wg.Wait()
	if n := entered.Load(); n != workers {
		t.Errorf("%d computations, want %d", n, workers)
	}
	if h.Peak() != limit || h.InFlight() != 0 {
		t.Fatalf("Peak=%d InFlight=%d", h.Peak(), h.InFlight())
	}
}

// TestLoginStorm runs 200 concurrent verifies, real and dummy, and checks
// the observed peak never exceeds the bound.
func TestLoginStorm(t *testing.T) {
	const limit = 4
	p := Params{Memory: 256, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}
	h := newHasher(t, Options{Params: p, MaxConcurrent: limit})
	enc := mustHash(t, h, "storm password")
	var cur, max atomic.Int32
	h.computeHook = func() {
		n := cur.Add(1)
		for {
			m := max.Load()
			if n <= m || max.CompareAndSwap(m, n) {
				break
			}
		}
		time.Sleep(100 * time.Microsecond)
		cur.Add(-1)
	}
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Go(func() {
			if i%2 == 0 {
				_ = h.DummyVerify(t.Context(), "guess")
			} else if _, _, err := h.Verify(t.Context(), "guess", enc); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if max.Load() > limit || h.Peak() > limit {
		t.Fatalf("peak %d (hook) / %d (Peak), limit %d", max.Load(), h.Peak(), limit)
	}
	if h.Peak() < 1 {
		t.Fatal("Peak not recorded")
	}
}

func TestDefaultMaxConcurrent(t *testing.T) {
	h := cheapHasher(t)
	if cap(h.sem) < 1 {
		t.Fatalf("semaphore capacity %d", cap(h.sem))
	}
}

func TestContextCancellation(t *testing.T) {
	h := newHasher(t, Options{Params: cheapParams, MaxConcurrent: 1})
	enc := mustHash(t, h, "waiting in line")
	computes := countComputes(h)

	// Already cancelled: nothing is computed.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, _, err := h.Verify(ctx, "waiting in line", enc)
	e := wantCode(t, err, okpay.EUnavailable)
	if !errors.Is(e, context.Canceled) {
		t.Fatalf("%v does not wrap context.Canceled", err)
	}
	if _, err := h.Hash(ctx, "waiting in line"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Hash: %v", err)
	}
	if computes() != 0 {
		t.Fatal("computed with a cancelled context")
	}

	// Waiting for the only slot until the deadline passes.
	release := make(chan struct{})
	held := make(chan struct{})
	h.computeHook = func() { close(held); <-release }
	done := make(chan error, 1)
	go func() {
		_, _, err := h.Verify(context.Background(), "waiting in line", enc)
		done <- err
	}()
	<-held
	ctx, cancel = context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	_, _, err = h.Verify(ctx, "waiting in line", enc)
	if !errors.Is(err, context.DeadlineExceeded) || okpay.ErrorCode(err) != okpay.EUnavailable {
		t.Fatalf("waiting verify: %v", err)
	}
	if okpay.ErrorMessage(err) == "" {
		t.Fatal("no user-safe message")
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func BenchmarkHash(b *testing.B) {
	h := newHasher(b, Options{})
	ctx := context.Background()
	for b.Loop() {
		if _, err := h.Hash(ctx, "benchmark passphrase"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	h := newHasher(b, Options{})
	ctx := context.Background()
	enc := mustHash(b, h, "benchmark passphrase")
	for b.Loop() {
		if ok, _, err := h.Verify(ctx, "benchmark passphrase", enc); err != nil || !ok {
			b.Fatal(ok, err)
		}
	}
}

func BenchmarkDummyVerify(b *testing.B) {
	h := newHasher(b, Options{})
	ctx := context.Background()
	for b.Loop() {
		if err := h.DummyVerify(ctx, "benchmark passphrase"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCheck(b *testing.B) {
	p := testPolicy(b)
	for b.Loop() {
		_ = p.Check("lanterns drift over the quiet harbours", "alice@example.com", "+15551234567")
	}
}
