// Package phone is the support desk's phone channel (issue 6, DESK.md
// "Phone", SECURITY.md SUP-05):
//
//   - callback requests: a signed-in customer asks to be called on their
//     verified phone number (never a number typed in) about a topic, in a
//     time window of their time zone; agents see a queue ordered by due
//     window, claim one (never two agents the same) and log the outcome,
//     which becomes a message in the customer's phone conversation;
//   - the call log: a PBX-agnostic, signed webhook (newCall, answer,
//     hangup, keyed by the provider's call id, modelled on Zammad's CTI
//     integration) builds one call record per call whatever order the
//     events come in; a replayed event changes nothing. Calls are matched
//     to customers by their verified number normalised to E.164; a
//     matched call is logged in the customer's phone conversation, a
//     missed inbound call becomes a callback task, and wait and talk times
//     feed the reports;
//   - caller verification: in a phone conversation the agent sends a
//     one-time code to the customer's own signed-in app or, second
//     choice, by SMS to the verified number on file; the caller reads it
//     back. The in-app notification holds no code (in-app notifications
//     are stored in plain text): it links to /account/phone-verify/<ref>,
//     which shows the code to the signed-in owner while it is waiting and
//     lets them refuse ("I am not on a call with OKPay"). The code is
//     never stored: it is derived from the challenge id under a secret
//     key; the table keeps a salted hash for the check. It lives 5
//     minutes and allows 5 tries. Only a correct code raises
//     the conversation's identity level to verified (for VerifiedTTL),
//     which account actions from a phone conversation require (package
//     support asks CallerVerified).
package phone

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/audit"
	"github.com/okpay/okpay/clock"
	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/notify"
	"github.com/okpay/okpay/secret"
	"github.com/okpay/okpay/sqldb"
)

// Error codes of the package (texts: i18n/locales/phone.*.toml,
// "problem.<code>.title|detail").
const (
	// ENoVerifiedPhone: the customer has no verified phone number. 409.
	ENoVerifiedPhone = "phone_no_verified_number"
	// ETooManyCallbacks: the customer has too many callbacks open. 409.
	ETooManyCallbacks = "phone_too_many_callbacks"
	// ECallbackClosed: the callback is no longer waiting (cancelled,
	// completed or failed). 409.
	ECallbackClosed = "phone_callback_closed"
	// EAlreadyClaimed: another agent claimed the callback first. 409.
	EAlreadyClaimed = "phone_callback_claimed"
	// ENotClaimed: the agent logging an outcome has not claimed it. 409.
	ENotClaimed = "phone_callback_not_claimed"
	// ENotPhone: verification runs only in a phone conversation. 409.
	ENotPhone = "phone_not_phone_conversation"
	// ENoCustomer: the conversation has no signed-in customer. 409.
	ENoCustomer = "phone_no_customer"
	// ENoAppSession: the customer has no signed-in app session to receive
	// the code (use SMS). 409.
	ENoAppSession = "phone_no_app_session"
	// ETooManyChallenges: too many codes sent in this conversation lately. 429.
	ETooManyChallenges = "phone_too_many_challenges"
	// ERefused: the customer refused the verification ("I am not on a
	// call with OKPay"). 409.
	ERefused = "phone_challenge_refused"
	// ENoChallenge: no code is waiting in this conversation (none sent,
	// expired, used up or replaced). 409.
	ENoChallenge = "phone_no_challenge"
	// EWrongCode: the code read back is not the one sent. 422.
	EWrongCode = "phone_wrong_code"
	// EUnverifiedCaller: an account action from a phone conversation whose
	// caller is not verified (SUP-05). 403.
	EUnverifiedCaller = "phone_caller_unverified"
)

// Audit event names.
const (
	EventChallengeSent   = "phone_challenge_sent"
	EventCallerVerified  = "phone_caller_verified"
	EventChallengeFailed = "phone_challenge_failed"
	// EventChallengeRefused: the customer said they are not on a call
	// with OKPay (the code's page, "I am not on a call").
	EventChallengeRefused = "phone_challenge_refused"
)

// ChallengePrefix is the public prefix of verification challenge ids (the
// customer's code page, /account/phone-verify/<ref>).
const ChallengePrefix = "pvc"

// ChallengeRef returns the public reference of a challenge id.
func ChallengeRef(id int64) string { return ids.Format(ChallengePrefix, id) }

// ParseChallengeRef reads a reference made by ChallengeRef.
func ParseChallengeRef(s string) (int64, bool) { return ids.Parse(ChallengePrefix, s) }

// CallbackPrefix is the public prefix of callback ids.
const CallbackPrefix = "cbk"

// CallbackRef returns the public reference of a callback id.
func CallbackRef(id int64) string { return ids.Format(CallbackPrefix, id) }

// ParseCallbackRef reads a reference made by CallbackRef.
func ParseCallbackRef(s string) (int64, bool) { return ids.Parse(CallbackPrefix, s) }

// Config tunes the service; zero fields take the defaults.
type Config struct {
	// Region is the country whose national numbers a PBX may send
	// without a country code (default "CN").
	Region string
	// CodeTTL is how long a verification code lives (5 min).
	CodeTTL time.Duration
	// MaxTries is how many codes may be tried against one challenge (5).
	MaxTries int
	// VerifiedTTL is how long a verified caller stays verified in a
	// conversation (30 min): a later call on the same conversation must
	// verify again.
	VerifiedTTL time.Duration
	// MaxChallenges caps the codes sent in one conversation per
	// ChallengeWindow (3 per 15 min).
	MaxChallenges   int
	ChallengeWindow time.Duration
	// MaxCallbackAttempts is how many unanswered calls a callback gets
	// before it fails (3).
	MaxCallbackAttempts int
	// MaxOpenCallbacks caps the waiting callbacks of one customer (3).
	MaxOpenCallbacks int
	// MissedWindow is the window of a missed call's callback (4 h).
	MissedWindow time.Duration
}

func (c *Config) defaults() {
	if c.Region == "" {
		c.Region = "CN"
	}
	if c.CodeTTL <= 0 {
		c.CodeTTL = 5 * time.Minute
	}
	if c.MaxTries <= 0 {
		c.MaxTries = 5
	}
	if c.VerifiedTTL <= 0 {
		c.VerifiedTTL = 30 * time.Minute
	}
	if c.MaxChallenges <= 0 {
		c.MaxChallenges = 3
	}
	if c.ChallengeWindow <= 0 {
		c.ChallengeWindow = 15 * time.Minute
	}
	if c.MaxCallbackAttempts <= 0 {
		c.MaxCallbackAttempts = 3
	}
	if c.MaxOpenCallbacks <= 0 {
		c.MaxOpenCallbacks = 3
	}
	if c.MissedWindow <= 0 {
		c.MissedWindow = 4 * time.Hour
	}
}

// Deps are the service's collaborators.
type Deps struct {
	DB       *sqldb.DB
	Clock    clock.Clock
	IDs      ids.Generator
	Desk     *desk.Service
	Identity *identity.Service
	Audit    *audit.Log
	// Outbox delivers verification codes (in-app, SMS); nil turns
	// verification off (EUnavailable).
	Outbox *notify.Outbox
	// Keys derives the verification codes (HMAC-SHA256 over the
	// challenge id under the "phone/verify-code" subkey), so no code is
	// stored; nil takes the identity service's keyring.
	Keys *secret.Keyring
	// Catalog words the messages written into conversations and the
	// codes' notifications (the phone.* texts).
	Catalog *i18n.Catalog
	Logger  *slog.Logger
}

// Service is the phone channel. It is safe for concurrent use.
type Service struct {
	Deps
	cfg Config
	log *slog.Logger
	// codeMAC derives a challenge's code from its id.
	codeMAC *secret.MAC
}

// New returns the service.
func New(d Deps, cfg Config) (*Service, error) {
	if d.DB == nil || d.Clock == nil || d.IDs == nil || d.Desk == nil || d.Identity == nil || d.Audit == nil || d.Catalog == nil {
		return nil, errors.New("phone: DB, Clock, IDs, Desk, Identity, Audit and Catalog are required")
	}
	cfg.defaults()
	log := d.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if d.Keys == nil {
		d.Keys = d.Identity.Keys
	}
	if d.Keys == nil {
		return nil, errors.New("phone: Keys (or the identity service's) are required")
	}
	return &Service{Deps: d, cfg: cfg, log: log, codeMAC: d.Keys.MAC("phone/verify-code")}, nil
}

// Config returns the effective configuration.
func (s *Service) Config() Config { return s.cfg }

func (s *Service) now() time.Time { return s.Clock.Now().UTC().Truncate(time.Microsecond) }

// inTx runs fn in a write transaction; okpay errors pass through, others
// become internal ones described by what.
func (s *Service) inTx(ctx context.Context, what string, fn func(tx *sql.Tx) error) error {
	return okpay.InternalUnlessCoded(s.DB.InTx(ctx, fn), what)
}

func (s *Service) t(lang i18n.Lang, id string, data map[string]any) string {
	return s.Catalog.T(lang, id, data)
}

func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromMicros(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}

// phoneConversation returns the customer's phone conversation that is
// still going (open, pending or snoozed), or starts one; key makes a
// retried start find the same conversation.
func (s *Service) phoneConversation(ctx context.Context, customerID int64, cat desk.Category, subject string, lang i18n.Lang, key string) (int64, error) {
	cs, err := s.Desk.Conversations(ctx, desk.System, desk.ConversationFilter{CustomerID: customerID, Channel: desk.ChannelPhone,
		Status: []desk.Status{desk.StatusOpen, desk.StatusPending, desk.StatusSnoozed}, Limit: 1})
	if err != nil {
		return 0, err
	}
	if len(cs) > 0 {
		return cs[0].ID, nil
	}
	if cat == "" {
		cat = desk.CategoryAccount
	}
	c, err := s.Desk.StartConversation(ctx, desk.System, desk.StartInput{Channel: desk.ChannelPhone, Category: cat, Subject: subject,
		Lang: lang, CustomerID: customerID, IdempotencyKey: key})
	if err != nil {
		return 0, err
	}
	return c.ID, nil
}

// customerByNumber returns the user whose verified phone is e164 (0 when
// none). It reads package identity's users table: one indexed lookup on
// the unique phone column.
func (s *Service) customerByNumber(ctx context.Context, q interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}, e164 string) (int64, i18n.Lang, error) {
	if e164 == "" {
		return 0, "", nil
	}
	var id int64
	var lang string
	err := q.QueryRowContext(ctx, `SELECT id, lang FROM users WHERE phone = $1 AND phone_verified_at > 0`, e164).Scan(&id, &lang)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, "", nil
	}
	if err != nil {
		return 0, "", err
	}
	l, _ := i18n.ParseLang(lang)
	return id, l, nil
}
