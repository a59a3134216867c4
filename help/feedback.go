package help

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/secret"
)

// VoterPurpose is the keyring purpose (secret.Keyring.MAC) of the keys
// votes are stored under.
const VoterPurpose = "help/voter"

// VoterKeys makes the keys "Was this helpful?" votes are stored under:
// HMAC-SHA256, under a subkey of the secret keyring, of what identifies
// the voter (the client's address). A plain hash of an address can be
// reversed by hashing every IPv4 address; without the master key a
// leaked help_feedback table cannot be, yet one voter still maps to one
// key, so a second vote replaces the first. It is safe for concurrent
// use.
type VoterKeys struct {
	mac *secret.MAC
}

// NewVoterKeys returns the vote keys of keyring k.
func NewVoterKeys(k *secret.Keyring) (*VoterKeys, error) {
	if k == nil {
		return nil, errors.New("help: the vote keys need the secret keyring")
	}
	return &VoterKeys{mac: k.MAC(VoterPurpose)}, nil
}

// voterKeyVersion starts every key, so a later change of scheme (or of
// the master key) can tell its keys from these.
const voterKeyVersion = "h1."

// Key is the vote key of the voter that kind ("ip", …) and id name:
// "h1." and 24 bytes of the HMAC, base64url (35 characters).
func (v *VoterKeys) Key(kind, id string) string {
	return voterKeyVersion + base64.RawURLEncoding.EncodeToString(v.mac.Sum([]byte(kind), []byte(id))[:24])
}

// Vote records visitor's "Was this helpful?" answer on published article
// id. visitor is the opaque key of the voter, made by VoterKeys (never a
// plain hash: the key is stored as given). One visitor has
// one vote per article: voting again replaces the earlier answer. A
// visitor may vote FeedbackPerHour times an hour, beyond that
// EFeedbackLimited.
func (s *Service) Vote(ctx context.Context, id int64, visitor string, helpful bool) error {
	if visitor == "" || len(visitor) > 128 {
		return okpay.Invalid(map[string]string{"visitor": "Unknown visitor."})
	}
	now := s.clock.Now().UTC()
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		var st string
		err := tx.QueryRowContext(ctx, `SELECT status FROM help_articles WHERE id = $1`, id).Scan(&st)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && st != string(StatusPublished)) {
			return errNoArticle
		}
		if err != nil {
			return okpay.Internal(err, "read article")
		}
		var recent int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM help_feedback WHERE visitor = $1 AND created_at > $2`,
			visitor, micros(now.Add(-time.Hour))).Scan(&recent); err != nil {
			return okpay.Internal(err, "count votes")
		}
		if recent >= FeedbackPerHour {
			return okpay.Errorf(EFeedbackLimited, "Thank you: you have sent a lot of answers lately. Please try again later.")
		}
		v := 0
		if helpful {
			v = 1
		}
		var old int
		err = tx.QueryRowContext(ctx, `SELECT helpful FROM help_feedback WHERE article_id = $1 AND visitor = $2`, id, visitor).Scan(&old)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			if _, err := tx.ExecContext(ctx, `INSERT INTO help_feedback (article_id, visitor, helpful, created_at) VALUES ($1, $2, $3, $4)`,
				id, visitor, v, micros(now)); err != nil {
				return okpay.Internal(err, "store vote")
			}
		case err != nil:
			return okpay.Internal(err, "read vote")
		default:
			if _, err := tx.ExecContext(ctx, `UPDATE help_feedback SET helpful = $1, created_at = $2 WHERE article_id = $3 AND visitor = $4`,
				v, micros(now), id, visitor); err != nil {
				return okpay.Internal(err, "store vote")
			}
			// Take the earlier answer back out of the counts.
			col := "helpful_no"
			if old == 1 {
				col = "helpful_yes"
			}
			if _, err := tx.ExecContext(ctx, `UPDATE help_articles SET `+col+` = `+col+` - 1 WHERE id = $1`, id); err != nil {
				return okpay.Internal(err, "count vote")
			}
		}
		col := "helpful_no"
		if helpful {
			col = "helpful_yes"
		}
		if _, err := tx.ExecContext(ctx, `UPDATE help_articles SET `+col+` = `+col+` + 1 WHERE id = $1`, id); err != nil {
			return okpay.Internal(err, "count vote")
		}
		return nil
	})
}
