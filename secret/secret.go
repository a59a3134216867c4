// Package secret encrypts secrets at rest and computes keyed MACs, all from
// one master key held in configuration.
//
// A Keyring holds the master key. Every use gets its own subkey, derived
// with HKDF-SHA256 from the master key and a purpose string ("totp",
// "otp.sms", ...), so a key leaked or misused for one purpose says nothing
// about another, and a value sealed for one purpose cannot be opened under
// another. Sealer and MAC subkeys are further separated by a kind prefix in
// the HKDF info, so Sealer("x") and MAC("x") never share a key.
//
// Sealed values are binary, meant for a bytea/BLOB column:
//
//	version (1 byte, 0x01) ‖ key id (4 bytes) ‖ nonce (12 bytes) ‖ AES-256-GCM ciphertext and tag
//
// The version and key id are authenticated as part of the GCM additional
// data, before the caller's aad. The key id is the first 4 bytes of a hash
// of the subkey: it is not secret, tells an operator which key a row needs,
// and lets Open fail fast on a value sealed under another master key.
//
// MAC computes HMAC-SHA256 over length-prefixed parts, so ("ab", "c") and
// ("a", "bc") never collide. Its KeyID is stored next to each MAC so a later
// key rotation can tell which key made it.
package secret

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"

	"golang.org/x/crypto/hkdf"

	okpay "github.com/okpay/okpay"
)

// MinMasterKeyLen is the smallest accepted master key, in bytes.
const MinMasterKeyLen = 32

const (
	version  = 0x01
	idLen    = 4
	nonceLen = 12
	tagLen   = 16
	// headerLen is the length of version ‖ key id ‖ nonce.
	headerLen = 1 + idLen + nonceLen
	// Overhead is how many bytes Seal adds to the plaintext.
	Overhead = headerLen + tagLen
)

// hkdfSalt is a fixed, public salt that separates OKPay's derivations from
// any other use of the same master key material.
var hkdfSalt = []byte("okpay/secret/v1")

// ErrOpen is the cause of every Open failure: wrong key, wrong aad, wrong
// purpose, truncated or tampered input. The error returned by Open is an
// internal_error *okpay.Error wrapping it (errors.Is(err, ErrOpen) holds).
var ErrOpen = errors.New("secret: sealed value cannot be opened")

// Keyring holds a master key and derives per-purpose subkeys from it. It is
// safe for concurrent use.
type Keyring struct {
	master []byte
}

// NewKeyring returns a Keyring for master, which must be at least 32 bytes
// of uniformly random data (see Generate). The slice is copied.
func NewKeyring(master []byte) (*Keyring, error) {
	if len(master) < MinMasterKeyLen {
		return nil, okpay.Errorf(okpay.EInvalid, "secret: master key must be at least %d bytes, got %d", MinMasterKeyLen, len(master))
	}
	return &Keyring{master: bytes.Clone(master)}, nil
}

// ParseKeyring decodes a master key from a configuration value and returns
// its Keyring. The value is hex or base64 (standard or URL alphabet, with or
// without padding) of at least 32 bytes. A "hex:" or "base64:" prefix forces
// the encoding; without one, a value made only of an even number of hex
// digits is read as hex, anything else as base64. Surrounding white space is
// ignored. Error messages never include the value.
func ParseKeyring(s string) (*Keyring, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, okpay.Errorf(okpay.EInvalid, "secret: master key is empty; generate one with secret.Generate (32 random bytes, hex or base64)")
	}
	var (
		key []byte
		err error
	)
	switch {
	case strings.HasPrefix(s, "hex:"):
		key, err = hex.DecodeString(s[len("hex:"):])
		if err != nil {
			return nil, okpay.Errorf(okpay.EInvalid, "secret: master key after \"hex:\" is not valid hex")
		}
	case strings.HasPrefix(s, "base64:"):
		key, err = decodeBase64(s[len("base64:"):])
		if err != nil {
			return nil, okpay.Errorf(okpay.EInvalid, "secret: master key after \"base64:\" is not valid base64")
		}
	case isHex(s):
		key, _ = hex.DecodeString(s)
	default:
		key, err = decodeBase64(s)
		if err != nil {
			return nil, okpay.Errorf(okpay.EInvalid, "secret: master key is neither hex nor base64")
		}
	}
	if len(key) < MinMasterKeyLen {
		return nil, okpay.Errorf(okpay.EInvalid, "secret: master key must decode to at least %d bytes, got %d", MinMasterKeyLen, len(key))
	}
	return NewKeyring(key)
}

func isHex(s string) bool {
	if len(s)%2 != 0 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

func decodeBase64(s string) ([]byte, error) {
	var firstErr error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		b, err := enc.DecodeString(s)
		if err == nil {
			return b, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return nil, firstErr
}

// derive returns the 32-byte subkey for kind and purpose.
func (k *Keyring) derive(kind, purpose string) []byte {
	sub := make([]byte, 32)
	r := hkdf.New(sha256.New, k.master, hkdfSalt, []byte(kind+":"+purpose))
	if _, err := io.ReadFull(r, sub); err != nil {
		// HKDF-SHA256 can produce up to 8160 bytes; 32 never fails.
		panic("secret: hkdf: " + err.Error())
	}
	return sub
}

// keyID is the public identifier of a subkey: the first 4 bytes of a
// domain-separated SHA-256 of it.
func keyID(sub []byte) [idLen]byte {
	h := sha256.New()
	h.Write([]byte("okpay/secret/key-id\x00"))
	h.Write(sub)
	var id [idLen]byte
	copy(id[:], h.Sum(nil))
	return id
}

// Sealer encrypts and authenticates values for one purpose. It is safe for
// concurrent use.
type Sealer struct {
	aead cipher.AEAD
	id   [idLen]byte
}

// Sealer returns the Sealer for purpose. Use a fixed, distinct purpose per
// kind of secret (e.g. "totp.secret"); values sealed under one purpose do
// not open under another.
func (k *Keyring) Sealer(purpose string) *Sealer {
	sub := k.derive("seal", purpose)
	block, err := aes.NewCipher(sub)
	if err != nil {
		panic("secret: aes: " + err.Error()) // a 32-byte key never fails
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic("secret: gcm: " + err.Error()) // AES always has a 16-byte block
	}
	return &Sealer{aead: aead, id: keyID(sub)}
}

// KeyID returns the hex key id that Seal writes into its output.
func (s *Sealer) KeyID() string { return hex.EncodeToString(s.id[:]) }

// additional returns header ‖ aad: the header has a fixed length, so the
// concatenation is unambiguous.
func additional(header, aad []byte) []byte {
	ad := make([]byte, 0, 1+idLen+len(aad))
	ad = append(ad, header[:1+idLen]...)
	return append(ad, aad...)
}

// Seal encrypts plaintext with a fresh random nonce and binds it to aad
// (for example the table, column and row id, so a sealed value copied to
// another row does not open there). The output is binary:
// version ‖ key id ‖ nonce ‖ ciphertext.
func (s *Sealer) Seal(plaintext, aad []byte) ([]byte, error) {
	out := make([]byte, headerLen, headerLen+len(plaintext)+tagLen)
	out[0] = version
	copy(out[1:], s.id[:])
	if _, err := io.ReadFull(rand.Reader, out[1+idLen:headerLen]); err != nil {
		return nil, okpay.Internal(err, "secret: reading a random nonce")
	}
	return s.aead.Seal(out, out[1+idLen:headerLen], plaintext, additional(out, aad)), nil
}

// Open checks and decrypts a value made by Seal with the same keyring,
// purpose and aad. Any mismatch or change returns an error wrapping ErrOpen
// and no plaintext.
func (s *Sealer) Open(sealed, aad []byte) ([]byte, error) {
	if len(sealed) < Overhead {
		return nil, okpay.Internal(ErrOpen, "secret: sealed value too short")
	}
	if sealed[0] != version {
		return nil, okpay.Internal(ErrOpen, fmt.Sprintf("secret: unknown sealed value version %d", sealed[0]))
	}
	if !bytes.Equal(sealed[1:1+idLen], s.id[:]) {
		return nil, okpay.Internal(ErrOpen, "secret: sealed with key "+hex.EncodeToString(sealed[1:1+idLen])+", not "+s.KeyID())
	}
	pt, err := s.aead.Open(nil, sealed[1+idLen:headerLen], sealed[headerLen:], additional(sealed, aad))
	if err != nil {
		return nil, okpay.Internal(ErrOpen, "secret: sealed value failed authentication")
	}
	return pt, nil
}

// MAC computes HMAC-SHA256 tags for one purpose. It is safe for concurrent
// use.
type MAC struct {
	key []byte
	id  string
}

// MAC returns the keyed MAC for purpose (e.g. "otp.sms", "reset.code").
func (k *Keyring) MAC(purpose string) *MAC {
	sub := k.derive("mac", purpose)
	id := keyID(sub)
	return &MAC{key: sub, id: hex.EncodeToString(id[:])}
}

// Sum returns HMAC-SHA256 over the parts, each framed as an 8-byte
// big-endian length followed by its bytes, so different splits of the same
// bytes give different tags. The result is 32 bytes.
func (m *MAC) Sum(parts ...[]byte) []byte {
	h := hmac.New(sha256.New, m.key)
	var n [8]byte
	for _, p := range parts {
		binary.BigEndian.PutUint64(n[:], uint64(len(p)))
		h.Write(n[:])
		h.Write(p)
	}
	return h.Sum(nil)
}

// KeyID returns a short, stable, non-secret id of this MAC's key (8 hex
// digits), to store next to each tag.
func (m *MAC) KeyID() string { return m.id }

// Equal reports whether two tags are equal, in time that depends only on
// their lengths.
func (m *MAC) Equal(a, b []byte) bool { return hmac.Equal(a, b) }

// Generate returns a fresh 32-byte master key from crypto/rand.
func Generate() ([]byte, error) {
	key := make([]byte, 32)
	if _, err := io.ReadFull(rand.Reader, key); err != nil {
		return nil, okpay.Internal(err, "secret: reading random bytes")
	}
	return key, nil
}

// Random returns n bytes from crypto/rand. It panics if n is negative;
// crypto/rand itself never fails on supported platforms (it crashes the
// program rather than return weak bytes).
func Random(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}
