package identity

import (
	"context"
	"database/sql"
	"errors"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/i18n"
)

// FindByVerifiedEmail returns the id and language of the account whose
// email is addr and verified (ok is false when no account has addr, or has
// not proved it). The desk's email channel uses it to tell a customer's
// mail from a stranger's: an unverified address proves nothing.
func (s *Service) FindByVerifiedEmail(ctx context.Context, addr string) (id int64, lang i18n.Lang, ok bool, err error) {
	e, err := NormalizeEmail(addr)
	if err != nil {
		return 0, "", false, nil
	}
	var l string
	err = s.DB.Read.QueryRowContext(ctx, `SELECT id, lang FROM users WHERE email = $1 AND email_verified_at > 0`, e).Scan(&id, &l)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, "", false, nil
	}
	if err != nil {
		return 0, "", false, okpay.Internal(err, "find user by email")
	}
	lang, _ = i18n.ParseLang(l)
	return id, lang, true, nil
}
