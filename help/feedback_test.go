package help

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/secret"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

func testKeyring(t *testing.T, fill byte) *secret.Keyring {
	t.Helper()
	k, err := secret.NewKeyring(bytes.Repeat([]byte{fill}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestVoterKeys: a voter's key is an HMAC under the keyring — the same
// voter gets the same key (a second vote replaces the first), another
// voter, another kind or another master key a different one, and it is
// neither the address nor its plain SHA-256 (what the table held before
// migration 00026), so the stored keys cannot be matched by hashing every
// address without the master key.
func TestVoterKeys(t *testing.T) {
	if _, err := NewVoterKeys(nil); err == nil {
		t.Fatal("vote keys without a keyring")
	}
	v, err := NewVoterKeys(testKeyring(t, 1))
	if err != nil {
		t.Fatal(err)
	}
	w, _ := NewVoterKeys(testKeyring(t, 2))
	k := v.Key("ip", "203.0.113.9")
	if k != v.Key("ip", "203.0.113.9") {
		t.Error("the same voter got two keys")
	}
	if !strings.HasPrefix(k, "h1.") || len(k) != 35 {
		t.Errorf("key %q", k)
	}
	old := sha256.Sum256([]byte("okpay-help-vote\x00203.0.113.9"))
	for _, other := range []string{v.Key("ip", "203.0.113.10"), v.Key("vis", "203.0.113.9"), v.Key("ip2", "03.0.113.9"),
		w.Key("ip", "203.0.113.9"), hex.EncodeToString(old[:16]), "203.0.113.9"} {
		if other == k {
			t.Errorf("%q collides with the voter's key", other)
		}
	}
	if strings.Contains(k, "203") {
		t.Errorf("the key shows the address: %q", k)
	}
}

// TestVoteStoresTheKey: the feedback table holds the key the caller
// made, never the address, and one voter's second vote replaces the
// first.
func TestVoteStoresTheKey(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s, _ := loaded(t, db)
		a, err := s.Published(ctx, "withdraw-money", i18n.En)
		if err != nil {
			t.Fatal(err)
		}
		v, _ := NewVoterKeys(testKeyring(t, 7))
		key := v.Key("ip", "198.51.100.7")
		if err := s.Vote(ctx, a.ID, key, true); err != nil {
			t.Fatal(err)
		}
		if err := s.Vote(ctx, a.ID, v.Key("ip", "198.51.100.7"), false); err != nil {
			t.Fatal(err)
		}
		var stored string
		var n int
		if err := db.Read.QueryRowContext(ctx, `SELECT MIN(visitor), COUNT(*) FROM help_feedback WHERE article_id = $1`, a.ID).Scan(&stored, &n); err != nil {
			t.Fatal(err)
		}
		if stored != key || n != 1 || strings.Contains(stored, "198.51") {
			t.Errorf("stored %q (%d rows), want %q", stored, n, key)
		}
		got, err := s.Get(ctx, a.ID)
		if err != nil || got.HelpfulYes != 0 || got.HelpfulNo != 1 {
			t.Errorf("tallies %+v %v", got, err)
		}
	})
}
