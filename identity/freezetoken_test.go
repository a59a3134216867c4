package identity

import (
	"bytes"
	"encoding/base64"
	"testing"
	"time"

	"github.com/okpay/okpay/secret"
)

func testMAC(t testing.TB, seed byte) *secret.MAC {
	kr, err := secret.NewKeyring(bytes.Repeat([]byte{seed}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return kr.MAC("identity/freeze-link")
}

// FuzzParseFreezeToken: a freeze-link token comes from a URL anyone can
// type. Parsing never panics; what it accepts carries a positive account
// (or is a legacy token), and is refused under another key; a token made
// for any account and expiry reads back as made, and altering any byte of
// it makes it refused.
func FuzzParseFreezeToken(f *testing.F) {
	mac, other := testMAC(f, 7), testMAC(f, 8)
	f.Add(newFreezeToken(mac, 42, time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)), int64(42), int64(1796198400000000), uint8(3))
	f.Add("", int64(1), int64(0), uint8(0))
	f.Add("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", int64(-5), int64(-1), uint8(48))
	f.Fuzz(func(t *testing.T, token string, userID, expires int64, at uint8) {
		if c, ok := parseFreezeToken(mac, token); ok {
			if !c.legacy && c.userID <= 0 {
				t.Fatalf("accepted %q for account %d", token, c.userID)
			}
			if _, ok := parseFreezeToken(other, token); ok {
				t.Fatalf("%q accepted under two keys", token)
			}
		}
		if userID <= 0 {
			return
		}
		tok := newFreezeToken(mac, userID, time.UnixMicro(expires).UTC())
		c, ok := parseFreezeToken(mac, tok)
		if !ok || c.legacy || c.userID != userID || (expires != 0 && c.expires.UnixMicro() != expires) {
			t.Fatalf("token for %d expiring %d read back as %+v, %v", userID, expires, c, ok)
		}
		raw, _ := base64.RawURLEncoding.DecodeString(tok)
		raw[int(at)%len(raw)] ^= 1 << (at % 8)
		if _, ok := parseFreezeToken(mac, base64.RawURLEncoding.EncodeToString(raw)); ok {
			t.Fatalf("altered byte %d of %q still accepted", int(at)%len(raw), tok)
		}
	})
}
