// Package identity is OKPay's customer identity: accounts with a verified
// email and phone, passwords, login with a second factor on every login
// (SMS code, TOTP, recovery code or passkey), server-side sessions, lockout
// and throttling kept in the database, password recovery, cooling-off holds
// and account freeze.
//
// Every state change commits in one transaction with its audit record
// (package audit) and the notifications it triggers (package notify's
// outbox), so nothing is announced that did not happen and nothing happens
// unannounced. Secrets are never stored in clear: see the migration
// 00004_identity.sql for what each column holds.
package identity

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/clock"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/identity/geoip"
	"github.com/okpay/okpay/identity/passkey"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/notify"
	"github.com/okpay/okpay/secret"
	"github.com/okpay/okpay/sqldb"
)

// Error codes of this package (the HTTP layers map them to statuses).
const (
	// EInvalidCredentials is the one answer to every failed login, whatever
	// failed: unknown user, wrong password, blocked account (LOG-01).
	EInvalidCredentials = "invalid_credentials"
	EMFARequired        = "mfa_required"
	EInvalidCode        = "invalid_code"
	EFlowInvalid        = "flow_invalid"
	ERateLimited        = "rate_limited"
	EAccountFrozen      = "account_frozen"
	EHoldActive         = "hold_active"
	EContactUnverified  = "contact_unverified"
	EStepUpRequired     = "step_up_required"
	EFactorUnavailable  = "factor_unavailable"
	ESessionExpired     = "session_expired"
	// EPasswordChangeRequired: the account's password is marked
	// compromised; nothing but the password change (and the second-factor
	// steps, logout and freeze) is allowed until it changes (PWD-08).
	EPasswordChangeRequired = "password_change_required"
	// EStrongerFactorRequired: removing or replacing a second factor needs
	// a step-up with a factor at least as strong (MFA-09); see
	// FactorStrength and StrongerFactorError.
	EStrongerFactorRequired = "stronger_factor_required"
)

// Second-factor methods.
const (
	MethodSMS      = "sms"
	MethodEmail    = "email"
	MethodTOTP     = "totp"
	MethodRecovery = "recovery_code"
	MethodPasskey  = "passkey"
)

// Config holds the identity policy. Zero fields take the defaults of
// SECURITY.md's "Default parameters".
type Config struct {
	// BaseURL is the public address used in links (freeze links): never
	// taken from the request's Host header (REC-03).
	BaseURL         string
	IdleTimeout     time.Duration // 15 min
	AbsoluteTimeout time.Duration // 12 h
	SudoWindow      time.Duration // 10 min
	OTPTTL          time.Duration // 5 min (SMS login and verification codes)
	ResetTTL        time.Duration // 10 min (reset codes)
	FlowTTL         time.Duration // 30 min (sign-up and reset flows)
	FreezeLinkTTL   time.Duration // 7 days
	MaxCodeAttempts int           // 5
	// RefreshGrace is how long a refresh token just spent, presented
	// again, returns the same new pair instead of counting as reuse (the
	// client lost the response; SES-03).
	RefreshGrace time.Duration // 30 s
	// LoginPerIPPerMinute caps login attempts per IP (IPv6: per /64).
	LoginPerIPPerMinute int // 20
	// ProductName is a context word of the password blocklist.
	ProductName string
}

func (c *Config) defaults() {
	set := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	set(&c.IdleTimeout, 15*time.Minute)
	set(&c.AbsoluteTimeout, 12*time.Hour)
	set(&c.SudoWindow, 10*time.Minute)
	set(&c.OTPTTL, 5*time.Minute)
	set(&c.ResetTTL, 10*time.Minute)
	set(&c.FlowTTL, 30*time.Minute)
	set(&c.FreezeLinkTTL, 7*24*time.Hour)
	set(&c.RefreshGrace, DefaultRefreshGrace)
	if c.MaxCodeAttempts <= 0 {
		c.MaxCodeAttempts = 5
	}
	if c.LoginPerIPPerMinute <= 0 {
		c.LoginPerIPPerMinute = 20
	}
	if c.ProductName == "" {
		c.ProductName = "okpay"
	}
	if c.BaseURL == "" {
		c.BaseURL = "http://localhost:8080"
	}
}

// Hasher hashes and verifies passwords (package identity/password).
type Hasher interface {
	Hash(ctx context.Context, pw string) (string, error)
	Verify(ctx context.Context, pw, encoded string) (ok, needsRehash bool, err error)
	DummyVerify(ctx context.Context, pw string) error
}

// Deps are the collaborators of a Service.
type Deps struct {
	DB     *sqldb.DB
	Clock  clock.Clock
	IDs    ids.Generator
	Keys   *secret.Keyring
	Hasher Hasher
	// CheckPassword applies the password policy with the user's context
	// words (PWD-01..05).
	CheckPassword func(pw string, context ...string) error
	Outbox        *notify.Outbox
	Catalog       *i18n.Catalog
	// Passkeys is optional: without it the passkey methods are
	// unavailable (EFactorUnavailable) and no one is offered a passkey.
	// Inside the package reach it as s.Deps.Passkeys: the method
	// Service.Passkeys (the user's list) shadows the promoted field.
	Passkeys *passkey.Service
	// Locator is optional: it gives the approximate location of a client
	// address (a geoip.DB over a GeoLite2-City file). Without it every
	// location is "unknown" and the impossible-travel rule never fires.
	Locator Locator
}

// Locator finds the approximate location of a network address; ok is
// false when nothing is known. *geoip.DB is one.
type Locator interface {
	Locate(ip string) (loc geoip.Location, ok bool)
}

// Service is the identity service. It is safe for concurrent use.
type Service struct {
	Deps
	cfg       Config
	codeMAC   *secret.MAC
	tokenMAC  *secret.MAC
	totpSeal  *secret.Sealer
	replySeal *secret.Sealer
	freezeMAC *secret.MAC
	hooks     []FreezeHook
	caseHook  FreezeCaseHook
	// readStmts are the request path's prepared reads (reads.go).
	readStmts readStmts
}

// FreezeHook runs inside the freeze transaction (the wallet voids
// withdrawals that were not sent yet).
type FreezeHook func(ctx context.Context, tx *sql.Tx, userID int64) error

// New returns a Service.
func New(d Deps, cfg Config) (*Service, error) {
	if d.DB == nil || d.Clock == nil || d.IDs == nil || d.Keys == nil || d.Hasher == nil || d.CheckPassword == nil || d.Outbox == nil || d.Catalog == nil {
		return nil, errors.New("identity: missing dependency")
	}
	cfg.defaults()
	return &Service{
		Deps:      d,
		cfg:       cfg,
		codeMAC:   d.Keys.MAC("identity/otp"),
		tokenMAC:  d.Keys.MAC("identity/token"),
		totpSeal:  d.Keys.Sealer("identity/totp"),
		replySeal: d.Keys.Sealer("identity/refresh-reply"),
		freezeMAC: d.Keys.MAC("identity/freeze-link"),
	}, nil
}

// Config returns the effective configuration.
func (s *Service) Config() Config { return s.cfg }

// OnFreeze registers a hook run inside every freeze transaction. Call it
// before serving.
func (s *Service) OnFreeze(h FreezeHook) { s.hooks = append(s.hooks, h) }

// FreezeCaseHook opens (or reuses) the support case of a freeze inside
// the freeze transaction, after the FreezeHooks, and returns the case's
// reference: the freeze's account_frozen audit event records it as its
// case_id (RSK-04).
type FreezeCaseHook func(ctx context.Context, tx *sql.Tx, userID int64) (caseRef string, err error)

// OnFreezeCase sets the hook that opens a freeze's support case. Call it
// before serving.
func (s *Service) OnFreezeCase(h FreezeCaseHook) { s.caseHook = h }

// Meta describes the request an operation comes from.
type Meta struct {
	IP        string
	UserAgent string
	DeviceID  string
	RequestID string
	Lang      i18n.Lang
	// RefreshToken is set when the client asks for a refresh token with
	// its login (a mobile app, SES-03): a second-factor step that
	// completes a login, a passwordless sign-in or a completed sign-up
	// then also issues one (LoginResult.RefreshToken, Flow.RefreshToken).
	RefreshToken bool
}

// User is a customer account.
type User struct {
	ID              int64
	Email           string
	Phone           string
	EmailVerifiedAt time.Time
	PhoneVerifiedAt time.Time
	Lang            i18n.Lang
	Frozen          bool
	FrozenAt        time.Time
	FrozenReason    string
	HoldUntil       time.Time
	HoldReason      string
	TOTPEnabled     bool
	RecoveryCodes   int // unused recovery codes left
	Passkeys        int
	// Compromised is set when the password is known to be compromised
	// (MarkCompromised); a password change or reset clears it (PWD-08).
	Compromised bool
	CreatedAt   time.Time
}

// Verified reports whether both contacts are verified.
func (u *User) Verified() bool { return !u.EmailVerifiedAt.IsZero() && !u.PhoneVerifiedAt.IsZero() }

// MustChangePassword reports whether the user's sessions may do nothing
// but change the password (PWD-08): the password is marked compromised.
// A frozen account is read-only and cannot change it; support recovers it
// (RSK-06 includes a password reset), so it is not forced there.
func (u *User) MustChangePassword() bool { return u.Compromised && !u.Frozen }

// UserPrefix is the id prefix of users in the API.
const UserPrefix = "usr"

// RateLimitError is returned when a limit is exceeded; RetryAfter says
// when to come back.
type RateLimitError struct {
	RetryAfter time.Duration
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("too many requests: retry after %s", e.RetryAfter.Round(time.Second))
}

// Code implements the coded-error convention of okpay.ErrorCode.
func (e *RateLimitError) Code() string { return ERateLimited }

func errorf(code, format string, args ...any) error { return okpay.Errorf(code, format, args...) }

// hashToken is how bearer tokens (session cookies, flow tokens, freeze
// links) are stored: SHA-256 of the raw token, so a leaked row is useless.
func hashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMicro(v).UTC()
}

func (s *Service) now() time.Time { return s.Clock.Now().UTC().Truncate(time.Microsecond) }
