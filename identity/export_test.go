package identity

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"testing"
)

// StoreLegacyFreezeLink stores and returns a freeze-link token of the form
// sent before tokens carried their account and expiry (24 random bytes and
// their MAC, stored hashed with the account and expiry when sent), as the
// links still in customers' inboxes are.
func (s *Service) StoreLegacyFreezeLink(ctx context.Context, t testing.TB, userID int64) string {
	t.Helper()
	var b [freezeTokenLegacy]byte
	rand.Read(b[:24])
	copy(b[24:], s.freezeMAC.Sum(b[:24])[:freezeMACLen])
	token := base64.RawURLEncoding.EncodeToString(b[:])
	now := s.now()
	if _, err := s.DB.Write.ExecContext(ctx, `INSERT INTO freeze_links (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)`,
		hashToken(token), userID, micros(now), micros(now.Add(s.cfg.FreezeLinkTTL))); err != nil {
		t.Fatal(err)
	}
	return token
}
