package identity

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"github.com/nyaruka/phonenumbers"
	"github.com/okpay/okpay"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/notify"
)

// querier is what *sql.DB, *sql.Conn and *sql.Tx offer.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// userRow is a users row with the columns that never leave the package.
type userRow struct {
	User
	passwordHash string
	totpSecret   []byte
	totpPending  []byte
	totpLastStep int64
	failedCount  int
	failedSince  int64
	lockedUntil  int64
	lockCount    int
	lastLockedAt int64
}

const userCols = `id, email, phone, email_verified_at, phone_verified_at, password_hash, lang, status, frozen_at, frozen_reason,
	hold_until, hold_reason, compromised, failed_count, failed_since, locked_until, lock_count, last_locked_at,
	totp_secret, totp_pending, totp_last_step, totp_enabled_at, created_at`

func scanUser(row interface{ Scan(...any) error }) (*userRow, error) {
	var x userScan
	if err := row.Scan(x.dest()...); err != nil {
		return nil, err
	}
	return x.finish(), nil
}

// userScan holds a users row (userCols) being scanned, so that it can be
// scanned with other columns in one row (sessionAndUser).
type userScan struct {
	u                                                         userRow
	emailV, phoneV, frozenAt, holdUntil, totpEnabled, created int64
	lang, status                                              string
	compromised                                               int
}

func (x *userScan) dest() []any {
	u := &x.u
	return []any{&u.ID, &u.Email, &u.Phone, &x.emailV, &x.phoneV, &u.passwordHash, &x.lang, &x.status, &x.frozenAt, &u.FrozenReason,
		&x.holdUntil, &u.HoldReason, &x.compromised, &u.failedCount, &u.failedSince, &u.lockedUntil, &u.lockCount, &u.lastLockedAt,
		&u.totpSecret, &u.totpPending, &u.totpLastStep, &x.totpEnabled, &x.created}
}

func (x *userScan) finish() *userRow {
	u := x.u
	u.EmailVerifiedAt = fromMicros(x.emailV)
	u.PhoneVerifiedAt = fromMicros(x.phoneV)
	u.Lang, _ = i18n.ParseLang(x.lang)
	u.Frozen = x.status == "frozen"
	u.FrozenAt = fromMicros(x.frozenAt)
	u.HoldUntil = fromMicros(x.holdUntil)
	u.TOTPEnabled = x.totpEnabled != 0 && len(u.totpSecret) > 0
	u.CreatedAt = fromMicros(x.created)
	u.Compromised = x.compromised != 0
	return &u
}

// loadUser reads a user by id; lock takes the row lock on PostgreSQL (SQLite
// transactions are already exclusive).
func (s *Service) loadUser(ctx context.Context, q querier, id int64, lock bool) (*userRow, error) {
	query := qUserByID
	var st *sql.Stmt
	if lock && s.DB.Dialect == "postgres" {
		query += ` FOR UPDATE`
	} else {
		st = s.reads().user // used only on the reader pool (reads.go)
	}
	u, err := scanUser(s.readRow(ctx, q, st, query, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, okpay.Errorf(okpay.ENotFound, "no such user")
	}
	if err != nil {
		return nil, okpay.Internal(err, "load user")
	}
	return u, nil
}

// findByIdentifier finds a user by email or phone (as typed); nil when no
// account matches.
func (s *Service) findByIdentifier(ctx context.Context, q querier, identifier string, lock bool) (*userRow, error) {
	col, value, ok := parseIdentifier(identifier)
	if !ok {
		return nil, nil
	}
	query := `SELECT ` + userCols + ` FROM users WHERE ` + col + ` = $1`
	if lock && s.DB.Dialect == "postgres" {
		query += ` FOR UPDATE`
	}
	u, err := scanUser(q.QueryRowContext(ctx, query, value))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, okpay.Internal(err, "find user")
	}
	return u, nil
}

// FindUser returns the user with id, with the counts the settings pages show.
func (s *Service) FindUser(ctx context.Context, id int64) (*User, error) {
	u, err := s.loadUser(ctx, s.DB.Read, id, false)
	if err != nil {
		return nil, err
	}
	if err := s.DB.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at = 0`, id).Scan(&u.RecoveryCodes); err != nil {
		return nil, okpay.Internal(err, "count recovery codes")
	}
	if u.Passkeys, err = s.passkeyCount(ctx, id); err != nil {
		return nil, err
	}
	return &u.User, nil
}

// parseIdentifier tells an email from a phone number and normalises it.
func parseIdentifier(s string) (col, value string, ok bool) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "@") {
		e, err := NormalizeEmail(s)
		if err != nil {
			return "", "", false
		}
		return "email", e, true
	}
	p, err := NormalizePhone(s)
	if err != nil {
		return "", "", false
	}
	return "phone", p, true
}

// NormalizeEmail checks an email address and returns it lower-cased
// (notify.NormalizeEmail).
func NormalizeEmail(s string) (string, error) { return notify.NormalizeEmail(s) }

// NormalizePhone parses a mobile number in international form (E.164,
// "+" and country code; spaces and dashes allowed) and returns it as E.164.
func NormalizePhone(s string) (string, error) {
	bad := okpay.Invalid(map[string]string{"phone": "Enter a mobile number with its country code, like +86 138 0013 8000."})
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "+") || len(s) > 32 {
		return "", bad
	}
	num, err := phonenumbers.Parse(s, "")
	if err != nil || !phonenumbers.IsValidNumber(num) {
		return "", bad
	}
	switch phonenumbers.GetNumberType(num) {
	case phonenumbers.MOBILE, phonenumbers.FIXED_LINE_OR_MOBILE:
	default:
		return "", bad
	}
	return phonenumbers.Format(num, phonenumbers.E164), nil
}

// maskPhone shows the last 4 digits of a number ("+86 ••• 8000").
func maskPhone(p string) string {
	if len(p) <= 4 {
		return "••••"
	}
	return "•••• " + p[len(p)-4:]
}

// maskEmail keeps the first letter of the local part and the domain.
func maskEmail(e string) string {
	at := strings.IndexByte(e, '@')
	if at < 1 {
		return "•••"
	}
	return e[:1] + "•••" + e[at:]
}

// SetLanguage makes lang the language of the user's emails, SMS and
// in-app notices (and of the site after they sign in). The site's
// language switch calls it for a signed-in customer.
func (s *Service) SetLanguage(ctx context.Context, userID int64, lang i18n.Lang) error {
	l, ok := i18n.ParseLang(string(lang))
	if !ok {
		return okpay.Errorf(okpay.EInvalid, "unsupported language %q", lang)
	}
	res, err := s.DB.Write.ExecContext(ctx, `UPDATE users SET lang = $1, updated_at = $2 WHERE id = $3`, string(l), micros(s.now()), userID)
	if err != nil {
		return okpay.Internal(err, "set language")
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return okpay.Errorf(okpay.ENotFound, "no such user")
	}
	return nil
}
