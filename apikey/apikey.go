// Package apikey issues and checks the API keys programs use until
// identity arrives: "okp_" plus 32 random bytes (base64url). Only the
// SHA-256 of a key is stored; a key is shown once, when it is created.
package apikey

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/clock"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/sqldb"
)

// Prefix starts every key.
const Prefix = "okp_"

// Key is a stored key (never its secret).
type Key struct {
	ID        int64
	Name      string
	CreatedAt time.Time
	RevokedAt time.Time
}

// Principal returns the id used to scope what the key does ("key_...").
func (k *Key) Principal() string { return ids.Format("key", k.ID) }

// Store keeps API keys.
type Store struct {
	db    *sqldb.DB
	clock clock.Clock
	ids   ids.Generator
	// cache remembers recent successful lookups for ttl, so a busy client
	// costs no database read per request. Revocation takes effect on this
	// node at once and on others within ttl.
	mu    sync.Mutex
	cache map[[32]byte]cached
	ttl   time.Duration
}

type cached struct {
	key     *Key
	expires time.Time
}

// NewStore returns a Store.
func NewStore(db *sqldb.DB, c clock.Clock, g ids.Generator) *Store {
	return &Store{db: db, clock: c, ids: g, cache: map[[32]byte]cached{}, ttl: 10 * time.Second}
}

// Create makes a key and returns it with its secret, shown only now.
func (s *Store) Create(ctx context.Context, name string) (*Key, string, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 100 {
		return nil, "", okpay.Invalid(map[string]string{"name": "a name of 1 to 100 characters is required"})
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return nil, "", okpay.Internal(err, "generate key")
	}
	secret := Prefix + base64.RawURLEncoding.EncodeToString(raw[:])
	h := sha256.Sum256([]byte(secret))
	k := &Key{ID: s.ids.Next(), Name: name, CreatedAt: s.clock.Now().UTC()}
	if _, err := s.db.Write.ExecContext(ctx, `INSERT INTO api_keys(id, name, hash, created_at) VALUES ($1, $2, $3, $4)`,
		k.ID, k.Name, h[:], k.CreatedAt.UnixMicro()); err != nil {
		return nil, "", okpay.Internal(err, "store key")
	}
	return k, secret, nil
}

// Revoke revokes a key.
func (s *Store) Revoke(ctx context.Context, id int64) error {
	res, err := s.db.Write.ExecContext(ctx, `UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL`, s.clock.Now().UnixMicro(), id)
	if err != nil {
		return okpay.Internal(err, "revoke key")
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return okpay.Errorf(okpay.ENotFound, "no active key %d", id)
	}
	s.mu.Lock()
	for h, c := range s.cache {
		if c.key.ID == id {
			delete(s.cache, h)
		}
	}
	s.mu.Unlock()
	return nil
}

var errUnauthorized = okpay.Errorf(okpay.EUnauthorized, "a valid API key is required")

// Authenticate returns the active key whose secret is given.
func (s *Store) Authenticate(ctx context.Context, secret string) (*Key, error) {
	if !strings.HasPrefix(secret, Prefix) || len(secret) > 100 {
		return nil, errUnauthorized
	}
	h := sha256.Sum256([]byte(secret))
	now := s.clock.Now()
	s.mu.Lock()
	c, ok := s.cache[h]
	s.mu.Unlock()
	if ok && now.Before(c.expires) {
		return c.key, nil
	}
	k := &Key{}
	var created int64
	var revoked sql.NullInt64
	err := s.db.Read.QueryRowContext(ctx, `SELECT id, name, created_at, revoked_at FROM api_keys WHERE hash = $1`, h[:]).Scan(&k.ID, &k.Name, &created, &revoked)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && revoked.Valid) {
		return nil, errUnauthorized
	}
	if err != nil {
		return nil, okpay.Internal(err, "read key")
	}
	k.CreatedAt = time.UnixMicro(created).UTC()
	s.mu.Lock()
	if len(s.cache) > 10000 {
		clear(s.cache)
	}
	s.cache[h] = cached{key: k, expires: now.Add(s.ttl)}
	s.mu.Unlock()
	return k, nil
}
