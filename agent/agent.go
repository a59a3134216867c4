// Package agent is OKPay's staff: the support desk's agents, their roles
// and permissions, their teams, and how they sign in.
//
// Agents are not customers (package identity): they have their own table,
// their own sessions and their own cookie, and nothing a customer holds
// opens a staff page (or the reverse). An agent is created only by an
// administrator — an agent with the agent:manage permission, or the
// operator of the command line, who creates the first one — and receives a
// one-time enrolment link (≥128 bits, stored hashed, 24 h) to set a
// password and register a passkey (SUP-01). Sign-in is the password and
// then, always, the passkey: no session is full (AAL2) before it. TOTP is
// accepted instead of a passkey only when the server is started with
// Config.AllowTOTP, for development and demonstrations (see its comment).
//
// What a role may do is one Go table (rbac.go): Can(agent, permission) is
// the only check. Every administrative change and every sign-in event goes
// into the hash-chained audit log (package audit) in the transaction that
// makes it, with the actor, the actor's roles, the reason and the values
// before and after (SUP-06).
package agent

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/audit"
	"github.com/okpay/okpay/clock"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/identity/passkey"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/secret"
	"github.com/okpay/okpay/sqldb"
)

// Error codes of this package (the HTTP layers map them to statuses).
const (
	// EInvalidCredentials is the one answer to every failed password
	// step: unknown email, wrong password, locked or disabled account.
	EInvalidCredentials = "agent_invalid_credentials"
	// EMFARequired: the session has not passed its second factor yet.
	EMFARequired = "agent_mfa_required"
	// EStepUpRequired: the action needs a passkey within the sudo window.
	EStepUpRequired = "agent_step_up_required"
	// EFactorUnavailable: the factor cannot be used here (TOTP without
	// AllowTOTP, a passkey without a passkey service, none enrolled).
	EFactorUnavailable = "agent_factor_unavailable"
	// EInvalidCode: a wrong or reused TOTP code.
	EInvalidCode = "agent_invalid_code"
	// ESessionExpired: the session passed its idle or absolute timeout.
	ESessionExpired = "agent_session_expired"
	// EEnrollmentInvalid: the enrolment link is unknown, used, revoked or
	// expired.
	EEnrollmentInvalid = "agent_enrollment_invalid"
	// ERateLimited: too many sign-in attempts from one address.
	ERateLimited = "agent_rate_limited"
	// ESelfChange: an administrator tried to change their own roles or
	// access (someone else must).
	ESelfChange = "agent_self_change"
	// ELastAdmin: the change would leave no active administrator.
	ELastAdmin = "agent_last_admin"
)

// Status is an agent account's state.
type Status string

// Statuses.
const (
	StatusActive   Status = "active"
	StatusDisabled Status = "disabled"
)

// Second-factor methods.
const (
	MethodPasskey = "passkey"
	MethodTOTP    = "totp"
)

// Prefix is the id prefix of agents in pages, logs and the audit trail.
const Prefix = "agt"

// Ref returns the public reference of agent id ("agt_...").
func Ref(id int64) string { return ids.Format(Prefix, id) }

// ParseRef reads a reference made by Ref.
func ParseRef(s string) (int64, bool) { return ids.Parse(Prefix, s) }

// Config holds the staff sign-in policy. Zero fields take the defaults.
type Config struct {
	// BaseURL is the public address enrolment links start with (never
	// taken from a request's Host header).
	BaseURL         string
	IdleTimeout     time.Duration // 30 min
	AbsoluteTimeout time.Duration // 12 h
	SudoWindow      time.Duration // 10 min
	EnrollmentTTL   time.Duration // 24 h
	// MaxFailures consecutive failures (password or second factor)
	// within FailureWindow lock the account for LockDuration, doubling
	// with each lock of the last 24 h up to MaxLockDuration.
	MaxFailures     int           // 5
	FailureWindow   time.Duration // 15 min
	LockDuration    time.Duration // 15 min
	MaxLockDuration time.Duration // 24 h
	// LoginPerIPPerMinute caps sign-in attempts per client address
	// (IPv6: per /64).
	LoginPerIPPerMinute int // 20
	// AllowTOTP accepts an authenticator-app code instead of a passkey,
	// at enrolment and at sign-in. Leave it false in production: SUP-01
	// asks for a phishing-resistant factor, and a TOTP code is not one —
	// a look-alike page relays it to the real site within its 30 seconds.
	// A passkey is bound to OKPay's origin and cannot be relayed. The flag
	// exists for development and demonstrations (serve --demo, a laptop on
	// http://127.0.0.1 where WebAuthn cannot run, scripted walkthroughs).
	// A server started without it refuses TOTP even from agents who
	// enrolled one.
	AllowTOTP bool
}

func (c *Config) defaults() {
	set := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	set(&c.IdleTimeout, 30*time.Minute)
	set(&c.AbsoluteTimeout, 12*time.Hour)
	set(&c.SudoWindow, 10*time.Minute)
	set(&c.EnrollmentTTL, 24*time.Hour)
	set(&c.FailureWindow, 15*time.Minute)
	set(&c.LockDuration, 15*time.Minute)
	set(&c.MaxLockDuration, 24*time.Hour)
	if c.MaxFailures <= 0 {
		c.MaxFailures = 5
	}
	if c.LoginPerIPPerMinute <= 0 {
		c.LoginPerIPPerMinute = 20
	}
	if c.BaseURL == "" {
		c.BaseURL = "http://localhost:8080"
	}
	c.BaseURL = strings.TrimRight(c.BaseURL, "/")
}

// Hasher hashes and verifies passwords (*password.Hasher is one).
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
	// CheckPassword applies the password policy (a *password.Policy's
	// Check) with context words.
	CheckPassword func(pw string, context ...string) error
	// Passkeys registers and verifies passkeys. Without it nobody can
	// enrol or sign in with a passkey, so only AllowTOTP servers let
	// agents in; the command line needs none.
	Passkeys *passkey.Service
}

// Service manages agents, teams and staff sessions. It is safe for
// concurrent use.
type Service struct {
	d        Deps
	cfg      Config
	flowMAC  *secret.MAC
	totpSeal *secret.Sealer
}

// New returns a Service.
func New(d Deps, cfg Config) (*Service, error) {
	if d.DB == nil || d.Clock == nil || d.IDs == nil || d.Keys == nil || d.Hasher == nil || d.CheckPassword == nil {
		return nil, errors.New("agent: missing dependency")
	}
	cfg.defaults()
	return &Service{
		d:        d,
		cfg:      cfg,
		flowMAC:  d.Keys.MAC("agent/passkey-flow"),
		totpSeal: d.Keys.Sealer("agent/totp"),
	}, nil
}

// Config returns the effective configuration.
func (s *Service) Config() Config { return s.cfg }

// PasskeysEnabled reports whether agents can use passkeys here.
func (s *Service) PasskeysEnabled() bool { return s.d.Passkeys != nil }

// Meta describes the request an operation comes from.
type Meta struct {
	IP        string
	UserAgent string
	RequestID string
}

// Agent is a staff account.
type Agent struct {
	ID          int64
	Email       string
	DisplayName string
	Roles       []Role
	Teams       []string
	Languages   []i18n.Lang
	Status      Status
	// EnrolledAt is when the agent first completed enrolment (password
	// and second factor); zero while the enrolment link is outstanding.
	EnrolledAt     time.Time
	TOTPEnabled    bool
	Passkeys       int
	CreatedBy      string
	CreatedAt      time.Time
	UpdatedAt      time.Time
	DisabledAt     time.Time
	DisabledReason string
	// LockedUntil is set while sign-in is blocked after failures.
	LockedUntil time.Time
}

// Ref is the agent's public reference ("agt_...").
func (a *Agent) Ref() string { return Ref(a.ID) }

// Active reports whether the account is active.
func (a *Agent) Active() bool { return a != nil && a.Status == StatusActive }

// Has reports whether the agent holds role r.
func (a *Agent) Has(r Role) bool {
	for _, x := range a.Roles {
		if x == r {
			return true
		}
	}
	return false
}

// Permissions returns what the agent's roles allow (none when disabled).
func (a *Agent) Permissions() []Permission {
	if !a.Active() {
		return nil
	}
	return Permissions(a.Roles...)
}

// Enrolled reports whether the agent has completed enrolment.
func (a *Agent) Enrolled() bool { return !a.EnrolledAt.IsZero() }

// Actor is who performs an administrative action: a signed-in agent with
// their session (the service checks the permission, the full sign-in and
// the sudo window), or the operator of the command line (System, e.g.
// "cli:alice"), who has the database in hand and so every right.
type Actor struct {
	Agent   *Agent
	Session *Session
	System  string
}

// ref returns how the actor appears in the audit log.
func (a Actor) ref() string {
	if a.Agent != nil {
		return a.Agent.Ref()
	}
	return a.System
}

// roles returns the actor's roles for the audit log ("system" for the
// command line).
func (a Actor) roles() string {
	if a.Agent == nil {
		return "system"
	}
	return joinRoles(a.Agent.Roles)
}

// ---- helpers ----

// token returns a new random bearer token: 32 bytes, base64url (256 bits).
func token() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// hashToken is how bearer tokens are stored: their SHA-256.
func hashToken(t string) []byte {
	h := sha256.Sum256([]byte(t))
	return h[:]
}

// maxTokenLen bounds a token before it is hashed or looked up.
const maxTokenLen = 128

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMicro(v).UTC()
}

func (s *Service) now() time.Time { return s.d.Clock.Now().UTC().Truncate(time.Microsecond) }

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// audit appends ev in tx with the request's details (SUP-06, AUD-01).
func (s *Service) audit(ctx context.Context, tx *sql.Tx, ev audit.Event, m Meta) error {
	ev.At = s.now()
	if ev.IP == "" {
		ev.IP = m.IP
	}
	if ev.RequestID == "" {
		ev.RequestID = m.RequestID
	}
	if _, err := audit.Append(ctx, tx, s.d.DB.Dialect, ev); err != nil {
		return okpay.Internal(err, "audit")
	}
	return nil
}

func itoa[T ~int | ~int64](n T) string { return strconv.FormatInt(int64(n), 10) }

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
