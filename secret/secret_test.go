package secret

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	okpay "github.com/okpay/okpay"
)

// testMaster is a fixed master key for tests: 32 bytes 0x00..0x1f.
func testMaster() []byte {
	b := make([]byte, 32)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

func testKeyring(t testing.TB) *Keyring {
	t.Helper()
	k, err := NewKeyring(testMaster())
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestNewKeyringLength(t *testing.T) {
	for _, n := range []int{0, 16, 31} {
		_, err := NewKeyring(make([]byte, n))
		if err == nil {
			t.Fatalf("NewKeyring(%d bytes) accepted", n)
		}
		if okpay.ErrorCode(err) != okpay.EInvalid {
			t.Fatalf("NewKeyring(%d bytes) code = %q", n, okpay.ErrorCode(err))
		}
	}
	for _, n := range []int{32, 64} {
		if _, err := NewKeyring(make([]byte, n)); err != nil {
			t.Fatalf("NewKeyring(%d bytes): %v", n, err)
		}
	}
}

func TestNewKeyringCopiesMaster(t *testing.T) {
	m := testMaster()
	k, err := NewKeyring(m)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := k.Sealer("p").Seal([]byte("x"), nil)
	if err != nil {
		t.Fatal(err)
	}
	m[0] ^= 0xff
	if _, err := k.Sealer("p").Open(sealed, nil); err != nil {
		t.Fatalf("changing the caller's slice changed the keyring: %v", err)
	}
}

func TestParseKeyring(t *testing.T) {
	m := testMaster()
	want := testKeyring(t).MAC("p").KeyID()
	for _, s := range []string{
		hex.EncodeToString(m),
		strings.ToUpper(hex.EncodeToString(m)),
		"  " + hex.EncodeToString(m) + "\n",
		"hex:" + hex.EncodeToString(m),
		base64.StdEncoding.EncodeToString(m),
		base64.RawStdEncoding.EncodeToString(m),
		base64.URLEncoding.EncodeToString(m),
		base64.RawURLEncoding.EncodeToString(m),
		"base64:" + base64.StdEncoding.EncodeToString(m),
	} {
		k, err := ParseKeyring(s)
		if err != nil {
			t.Fatalf("ParseKeyring(%q): %v", s, err)
		}
		if got := k.MAC("p").KeyID(); got != want {
			t.Fatalf("ParseKeyring(%q) gave another key", s)
		}
	}
}

func TestParseKeyringRejects(t *testing.T) {
	short := make([]byte, 31)
	for _, s := range []string{
		"",
		"   ",
		hex.EncodeToString(short),
		base64.StdEncoding.EncodeToString(short),
		"hex:zz" + hex.EncodeToString(testMaster()),
		"base64:***",
		"not a key at all!",
	} {
		_, err := ParseKeyring(s)
		if err == nil {
			t.Fatalf("ParseKeyring(%q) accepted", s)
		}
		if okpay.ErrorCode(err) != okpay.EInvalid {
			t.Fatalf("ParseKeyring(%q) code = %q", s, okpay.ErrorCode(err))
		}
	}
	// The message never repeats the configured value.
	bad := "hex:" + strings.Repeat("ab", 40) + "zz"
	if _, err := ParseKeyring(bad); err == nil || strings.Contains(err.Error(), "abab") {
		t.Fatalf("ParseKeyring error leaks the value or accepts it: %v", err)
	}
}

func TestSealOpenRoundTrip(t *testing.T) {
	s := testKeyring(t).Sealer("totp.secret")
	for _, pt := range [][]byte{nil, {}, []byte("x"), bytes.Repeat([]byte{0xa5}, 20), bytes.Repeat([]byte("long"), 1000)} {
		for _, aad := range [][]byte{nil, []byte("mfa_totp:42")} {
			sealed, err := s.Seal(pt, aad)
			if err != nil {
				t.Fatal(err)
			}
			if len(sealed) != len(pt)+Overhead {
				t.Fatalf("len(sealed) = %d, want %d", len(sealed), len(pt)+Overhead)
			}
			if sealed[0] != version {
				t.Fatalf("version byte = %d", sealed[0])
			}
			if hex.EncodeToString(sealed[1:5]) != s.KeyID() {
				t.Fatalf("key id in output %x != KeyID %s", sealed[1:5], s.KeyID())
			}
			got, err := s.Open(sealed, aad)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if !bytes.Equal(got, pt) {
				t.Fatalf("Open = %x, want %x", got, pt)
			}
		}
	}
}

func TestSealIsBinaryAndRandomized(t *testing.T) {
	s := testKeyring(t).Sealer("totp.secret")
	pt := []byte("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")
	a, _ := s.Seal(pt, nil)
	b, _ := s.Seal(pt, nil)
	if bytes.Equal(a, b) {
		t.Fatal("two seals of one plaintext are equal: nonce not random")
	}
	if bytes.Contains(a, pt) || bytes.Contains(a, pt[:8]) {
		t.Fatal("sealed value contains the plaintext")
	}
	if utf8.Valid(a) && isBase32(a) {
		t.Fatal("sealed value looks like base32 text")
	}
}

func isBase32(b []byte) bool {
	for _, c := range b {
		if !('A' <= c && c <= 'Z' || '2' <= c && c <= '7' || c == '=') {
			return false
		}
	}
	return true
}

func TestOpenTamperAnyByte(t *testing.T) {
	s := testKeyring(t).Sealer("p")
	aad := []byte("row:7")
	sealed, err := s.Seal([]byte("secret value"), aad)
	if err != nil {
		t.Fatal(err)
	}
	for i := range sealed {
		for _, flip := range []byte{0x01, 0x80, 0xff} {
			c := bytes.Clone(sealed)
			c[i] ^= flip
			pt, err := s.Open(c, aad)
			if err == nil || pt != nil {
				t.Fatalf("Open accepted a value with byte %d xor %#x", i, flip)
			}
			if !errors.Is(err, ErrOpen) || okpay.ErrorCode(err) != okpay.EInternal {
				t.Fatalf("Open error = %v (code %q), want ErrOpen/internal_error", err, okpay.ErrorCode(err))
			}
		}
	}
	for n := 0; n < len(sealed); n++ {
		if _, err := s.Open(sealed[:n], aad); err == nil {
			t.Fatalf("Open accepted a value truncated to %d bytes", n)
		}
	}
	if _, err := s.Open(append(bytes.Clone(sealed), 0), aad); err == nil {
		t.Fatal("Open accepted a value with a trailing byte")
	}
}

func TestOpenWrongAAD(t *testing.T) {
	s := testKeyring(t).Sealer("p")
	sealed, _ := s.Seal([]byte("v"), []byte("row:7"))
	for _, aad := range [][]byte{nil, []byte("row:8"), []byte("row:7\x00"), []byte("row:")} {
		if _, err := s.Open(sealed, aad); err == nil {
			t.Fatalf("Open accepted aad %q", aad)
		}
	}
}

func TestOpenWrongPurpose(t *testing.T) {
	k := testKeyring(t)
	sealed, _ := k.Sealer("totp.secret").Seal([]byte("v"), nil)
	for _, p := range []string{"totp.secret2", "", "TOTP.secret", "sms"} {
		if _, err := k.Sealer(p).Open(sealed, nil); err == nil {
			t.Fatalf("purpose %q opened a value sealed for totp.secret", p)
		}
	}
	// Same purpose, a new Sealer value: opens.
	if _, err := k.Sealer("totp.secret").Open(sealed, nil); err != nil {
		t.Fatal(err)
	}
}

func TestOpenWrongMaster(t *testing.T) {
	sealed, _ := testKeyring(t).Sealer("p").Seal([]byte("v"), nil)
	other, err := NewKeyring(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Sealer("p").Open(sealed, nil); err == nil {
		t.Fatal("another master key opened the value")
	}
	// Even with the key id forged to the other key's id, GCM rejects it.
	o := other.Sealer("p")
	forged := bytes.Clone(sealed)
	copy(forged[1:5], o.id[:])
	if _, err := o.Open(forged, nil); err == nil {
		t.Fatal("forged key id opened the value")
	}
}

func TestSealerAndMACKeysDiffer(t *testing.T) {
	k := testKeyring(t)
	if k.Sealer("x").KeyID() == k.MAC("x").KeyID() {
		t.Fatal("Sealer and MAC of one purpose share a key")
	}
	if k.MAC("x").KeyID() == k.MAC("y").KeyID() {
		t.Fatal("two purposes share a MAC key")
	}
}

func TestMACFraming(t *testing.T) {
	m := testKeyring(t).MAC("otp.sms")
	cases := [][2][][]byte{
		{{[]byte("ab"), []byte("c")}, {[]byte("a"), []byte("bc")}},
		{{[]byte("abc")}, {[]byte("ab"), []byte("c")}},
		{{[]byte("abc")}, {[]byte("abc"), {}}},
		{{}, {{}}},
		{{[]byte("a"), {}}, {{}, []byte("a")}},
	}
	for _, c := range cases {
		a, b := m.Sum(c[0]...), m.Sum(c[1]...)
		if m.Equal(a, b) {
			t.Fatalf("Sum(%q) == Sum(%q)", c[0], c[1])
		}
	}
}

func TestMACStableAndKeyed(t *testing.T) {
	k := testKeyring(t)
	a := k.MAC("otp.sms").Sum([]byte("flow1"), []byte("123456"))
	b := k.MAC("otp.sms").Sum([]byte("flow1"), []byte("123456"))
	if len(a) != 32 || !bytes.Equal(a, b) {
		t.Fatalf("Sum not stable: %x %x", a, b)
	}
	if bytes.Equal(a, k.MAC("reset.code").Sum([]byte("flow1"), []byte("123456"))) {
		t.Fatal("two purposes give the same tag")
	}
	other, _ := NewKeyring(bytes.Repeat([]byte{9}, 32))
	if bytes.Equal(a, other.MAC("otp.sms").Sum([]byte("flow1"), []byte("123456"))) {
		t.Fatal("two master keys give the same tag")
	}
	m := k.MAC("otp.sms")
	if !m.Equal(a, b) || m.Equal(a, a[:31]) || m.Equal(a, nil) {
		t.Fatal("Equal is wrong")
	}
}

func TestKeyIDShortStableNotKey(t *testing.T) {
	k := testKeyring(t)
	id := k.MAC("otp.sms").KeyID()
	if len(id) != 8 {
		t.Fatalf("KeyID %q: want 8 hex digits", id)
	}
	if _, err := hex.DecodeString(id); err != nil {
		t.Fatalf("KeyID %q is not hex", id)
	}
	if k2 := testKeyring(t); k2.MAC("otp.sms").KeyID() != id {
		t.Fatal("KeyID not stable across keyrings of one master")
	}
	sub := k.derive("mac", "otp.sms")
	if strings.Contains(hex.EncodeToString(sub), id) {
		t.Fatal("KeyID is a piece of the key itself")
	}
}

func TestGenerateAndRandom(t *testing.T) {
	a, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Generate()
	if len(a) != 32 || bytes.Equal(a, b) {
		t.Fatalf("Generate: %x %x", a, b)
	}
	if _, err := NewKeyring(a); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseKeyring(hex.EncodeToString(a)); err != nil {
		t.Fatal(err)
	}
	if len(Random(0)) != 0 || len(Random(17)) != 17 {
		t.Fatal("Random length")
	}
	if bytes.Equal(Random(16), Random(16)) {
		t.Fatal("Random repeats")
	}
}

// FuzzOpen feeds arbitrary bytes and aad to Open: it must never panic, and
// it must open only the one value that Seal made, with its own aad.
func FuzzOpen(f *testing.F) {
	k, err := NewKeyring(testMaster())
	if err != nil {
		f.Fatal(err)
	}
	s := k.Sealer("fuzz")
	aad := []byte("aad")
	// Seal picks a random nonce, but every fuzz worker process must agree
	// on the one valid input: build it with a fixed nonce, the same way.
	header := make([]byte, headerLen)
	header[0] = version
	copy(header[1:], s.id[:])
	valid := s.aead.Seal(header, header[1+idLen:], []byte("plaintext"), additional(header, aad))
	if pt, err := s.Open(valid, aad); err != nil || string(pt) != "plaintext" {
		f.Fatalf("fixed-nonce value does not open: %v", err)
	}
	f.Add(valid, aad)
	f.Add(valid, []byte(nil))
	f.Add(valid[:len(valid)-1], aad)
	f.Add([]byte{}, []byte{})
	f.Add([]byte{version}, aad)
	f.Add(bytes.Repeat([]byte{version}, Overhead), aad)
	mut := bytes.Clone(valid)
	mut[len(mut)-1] ^= 1
	f.Add(mut, aad)
	f.Fuzz(func(t *testing.T, sealed, a []byte) {
		pt, err := s.Open(sealed, a)
		if bytes.Equal(sealed, valid) && bytes.Equal(a, aad) {
			if err != nil || string(pt) != "plaintext" {
				t.Fatalf("the valid value did not open: %v", err)
			}
			return
		}
		if err == nil || pt != nil {
			t.Fatalf("Open(%x, %q) opened to %q", sealed, a, pt)
		}
	})
}
