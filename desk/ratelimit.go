package desk

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/okpay/okpay"
)

// Limits on how fast the chat's callers start conversations and send
// messages. Anonymous visitors are counted per visitor id and per client
// address (a visitor who drops the cookie still meets the address's
// limit); signed-in customers per account, with looser limits. The
// HTTP layer calls Allow before the desk's method; a refusal is a
// *RateLimitError (429 with Retry-After in the API, a readable line in
// the widget).
//
// Where the counts live. Every check is counted first in this node's
// memory, in fixed windows aligned as the database's are; then:
//
//   - Messages (per-minute limits, on the chat's hot path) are counted in
//     memory only. A database round trip per message cost a fifth of the
//     server's CPU under load (bench-results/chat.md) for little: a
//     restart forgets at most a minute of counts, and with N nodes a
//     client spread over all of them gets at most N times the limit
//     (a brake on floods, not a quota; the load balancer usually keeps
//     a client on one node).
//   - Starts (per-hour limits, rare, each a conversation row) are also
//     counted in the database (desk_rate_counters, as identity's limits
//     are): an hour's allowance must survive deploys and hold across
//     nodes. The memory count goes first, so a client already past the
//     limit on this node is refused without a query.

// ERateLimited is the code of a RateLimitError (the API's rate_limited).
const ERateLimited = "rate_limited"

// RateLimitError says a limit was passed and when to come back.
type RateLimitError struct {
	RetryAfter time.Duration
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("too many requests: retry after %s", e.RetryAfter.Round(time.Second))
}

// Code implements the coded-error convention of okpay.ErrorCode.
func (e *RateLimitError) Code() string { return ERateLimited }

// Action is what a limit counts.
type Action string

// Actions that are limited.
const (
	ActionStart   Action = "start"   // starting a conversation
	ActionMessage Action = "message" // sending a message or a file
)

// Rate is at most N events per Window.
type Rate struct {
	N      int
	Window time.Duration
}

// RateLimits are the chat's limits. Zero fields take the defaults; a
// negative N turns that limit off.
type RateLimits struct {
	VisitorStarts    Rate // 5 an hour per visitor
	VisitorIPStarts  Rate // 20 an hour per address
	VisitorMessages  Rate // 30 a minute per visitor
	VisitorIPMessage Rate // 120 a minute per address
	CustomerStarts   Rate // 20 an hour per customer
	CustomerMessages Rate // 120 a minute per customer
}

func (l *RateLimits) defaults() {
	set := func(r *Rate, n int, w time.Duration) {
		if r.N == 0 {
			r.N = n
		}
		if r.Window <= 0 {
			r.Window = w
		}
	}
	set(&l.VisitorStarts, 5, time.Hour)
	set(&l.VisitorIPStarts, 20, time.Hour)
	set(&l.VisitorMessages, 30, time.Minute)
	set(&l.VisitorIPMessage, 120, time.Minute)
	set(&l.CustomerStarts, 20, time.Hour)
	set(&l.CustomerMessages, 120, time.Minute)
}

// Limiter counts the chat's callers against RateLimits. It is safe for
// concurrent use; make one per process (its memory is the node's count).
type Limiter struct {
	svc    *Service
	limits RateLimits

	mu sync.Mutex
	// local counts this node's events per key and window.
	local map[string]localCount
	// purgeAt is when windows that have ended are next dropped.
	purgeAt time.Time
}

// localCount is one key's count in its current window.
type localCount struct {
	start time.Time // the window's start
	end   time.Time // and end
	n     int
}

// NewLimiter returns the limiter of the desk's chat over s's database and
// clock.
func NewLimiter(s *Service, limits RateLimits) *Limiter {
	limits.defaults()
	return &Limiter{svc: s, limits: limits, local: map[string]localCount{}}
}

// countLocal counts one event of key in the window of r that holds now
// and returns the window's count.
func (l *Limiter) countLocal(key string, r Rate, start, now time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !now.Before(l.purgeAt) {
		l.purgeLocked(now)
	}
	c := l.local[key]
	if !c.start.Equal(start) {
		c = localCount{start: start, end: start.Add(r.Window)}
	}
	c.n++
	l.local[key] = c
	return c.n
}

// purgeLocked drops the counts of windows that have ended (at most once
// a minute, so the map holds about the clients of the last window).
func (l *Limiter) purgeLocked(now time.Time) {
	for k, c := range l.local {
		if !now.Before(c.end) {
			delete(l.local, k)
		}
	}
	l.purgeAt = now.Add(time.Minute)
}

// Limits returns the effective limits.
func (l *Limiter) Limits() RateLimits { return l.limits }

// Allow counts one action of v from address ip and returns a
// *RateLimitError when a limit is passed (the event still counts: a
// client that keeps trying keeps being refused until the window ends).
// Staff and the system are not limited. A visitor not known yet (the
// first conversation of a browser) is counted by address only.
func (l *Limiter) Allow(ctx context.Context, v Viewer, ip string, a Action) error {
	type check struct {
		key  string
		rate Rate
	}
	var checks []check
	switch v.Kind {
	case KindCustomer:
		r := l.limits.CustomerMessages
		if a == ActionStart {
			r = l.limits.CustomerStarts
		}
		checks = append(checks, check{"c:" + strconv.FormatInt(v.ID, 10), r})
	case KindVisitor, "":
		r, rip := l.limits.VisitorMessages, l.limits.VisitorIPMessage
		if a == ActionStart {
			r, rip = l.limits.VisitorStarts, l.limits.VisitorIPStarts
		}
		if v.VisitorID != "" {
			checks = append(checks, check{"v:" + v.VisitorID, r})
		}
		if ip != "" {
			checks = append(checks, check{"ip:" + ipKey(ip), rip})
		}
	default:
		return nil
	}
	now := l.svc.Clock.Now()
	var worst time.Duration
	for _, c := range checks {
		if c.rate.N < 0 {
			continue
		}
		start := now.Truncate(c.rate.Window)
		key := string(a) + ":" + c.key
		n := l.countLocal(key, c.rate, start, now)
		if n <= c.rate.N && a == ActionStart {
			// The node is within the limit: the database's count (every
			// node's) decides. See the comment at the top.
			if err := l.svc.DB.Write.QueryRowContext(ctx, `INSERT INTO desk_rate_counters (key, window_start, count) VALUES ($1, $2, 1)
				ON CONFLICT (key, window_start) DO UPDATE SET count = desk_rate_counters.count + 1 RETURNING count`,
				key, micros(start)).Scan(&n); err != nil {
				return okpay.Internal(err, "chat rate counter")
			}
		}
		if n > c.rate.N {
			worst = max(worst, start.Add(c.rate.Window).Sub(now))
		}
	}
	if worst > 0 {
		return &RateLimitError{RetryAfter: worst}
	}
	return nil
}

// Sweep deletes the database's counters of windows that ended more than
// a day ago (and this node's of windows that have ended).
func (l *Limiter) Sweep(ctx context.Context) error {
	now := l.svc.Clock.Now()
	l.mu.Lock()
	l.purgeLocked(now)
	l.mu.Unlock()
	old := now.Add(-25 * time.Hour)
	if _, err := l.svc.DB.Write.ExecContext(ctx, `DELETE FROM desk_rate_counters WHERE window_start < $1`, micros(old)); err != nil {
		return okpay.Internal(err, "sweep chat rate counters")
	}
	return nil
}

// ipKey is the counter key of a client address: the address for IPv4,
// its /64 for IPv6 (one host usually holds the whole /64).
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
