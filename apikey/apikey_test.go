package apikey_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/apikey"
	"github.com/okpay/okpay/clock"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

func TestKeys(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		c := clock.NewManual(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
		s := apikey.NewStore(db, c, &ids.Sequence{})
		k, secret, err := s.Create(ctx, "bench")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(secret, "okp_") || len(secret) != 47 {
			t.Fatalf("secret %q", secret)
		}
		// Only a hash is stored.
		var stored []byte
		if err := db.Read.QueryRow(`SELECT hash FROM api_keys WHERE id = $1`, k.ID).Scan(&stored); err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(stored, []byte(secret[4:])) || len(stored) != 32 {
			t.Fatalf("stored value %x", stored)
		}
		got, err := s.Authenticate(ctx, secret)
		if err != nil || got.ID != k.ID {
			t.Fatalf("authenticate: %v %v", got, err)
		}
		for _, bad := range []string{"", "okp_", secret + "x", "Bearer " + secret, strings.ToUpper(secret)} {
			if _, err := s.Authenticate(ctx, bad); okpay.ErrorCode(err) != okpay.EUnauthorized {
				t.Errorf("Authenticate(%q): %v", bad, err)
			}
		}
		if err := s.Revoke(ctx, k.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Authenticate(ctx, secret); okpay.ErrorCode(err) != okpay.EUnauthorized {
			t.Fatalf("revoked key accepted: %v", err)
		}
	})
}
