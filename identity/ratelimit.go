package identity

import (
	"context"
	"net/netip"
	"time"

	"github.com/okpay/okpay"
)

// hit counts one event against key in a fixed window and fails with a
// RateLimitError once the count passes limit. Counters live in the
// database, so they hold across restarts and nodes (LOG-03, LOG-06).
func (s *Service) hit(ctx context.Context, q querier, key string, window time.Duration, limit int) error {
	now := s.now()
	start := now.Truncate(window)
	var n int
	if err := q.QueryRowContext(ctx, `INSERT INTO rate_counters (key, window_start, count) VALUES ($1, $2, 1)
		ON CONFLICT (key, window_start) DO UPDATE SET count = rate_counters.count + 1 RETURNING count`,
		key, micros(start)).Scan(&n); err != nil {
		return okpay.Internal(err, "rate counter")
	}
	if n > limit {
		return &RateLimitError{RetryAfter: start.Add(window).Sub(now)}
	}
	return nil
}

// ipKey is the rate-limit key of a client address: the address for IPv4,
// its /64 for IPv6 (LOG-06).
func ipKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// Sweep deletes expired throttling counters, codes, flows, freeze links
// and refresh tokens. Run it now
// and then (serve runs it every few minutes).
func (s *Service) Sweep(ctx context.Context) error {
	now := s.now()
	old := micros(now.Add(-48 * time.Hour))
	for _, q := range []string{
		`DELETE FROM rate_counters WHERE window_start < $1`,
		`DELETE FROM otp_codes WHERE expires_at < $1`,
		`DELETE FROM auth_flows WHERE expires_at < $1`,
		`DELETE FROM freeze_links WHERE expires_at < $1`,
		`DELETE FROM refresh_tokens WHERE expires_at < $1`,
	} {
		if _, err := s.DB.Write.ExecContext(ctx, q, old); err != nil {
			return okpay.Internal(err, "sweep")
		}
	}
	// Refresh answers kept for a resend are forgotten after the grace.
	if _, err := s.DB.Write.ExecContext(ctx, `UPDATE refresh_tokens SET next_sealed = NULL WHERE next_sealed IS NOT NULL AND used_at < $1`,
		micros(now.Add(-s.cfg.RefreshGrace))); err != nil {
		return okpay.Internal(err, "sweep")
	}
	if s.Deps.Passkeys != nil {
		if _, err := s.Deps.Passkeys.PruneFlows(ctx); err != nil {
			return err
		}
	}
	return nil
}
