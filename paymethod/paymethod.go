// Package paymethod keeps the customers' payment methods — bank cards,
// bank accounts and external e-wallets — from their addition through
// verification to deletion, and hands the wallet a payout destination only
// when the method may receive money (SECURITY.md CRD-01..10, RSK-02).
//
// OKPay never sees a card number: the customer's browser gives it to the
// provider, and OKPay stores the provider's token and the card's public
// facts (brand, last4, expiry). A bank account's IBAN and an e-wallet's
// account id are stored sealed, because a payout needs them in full, and
// are shown, logged and notified only masked ("DE89 •••• 3000").
//
// Every method is verified once before use: a card by the provider's
// zero-amount authorisation (with 3-D Secure when the issuer asks, and an
// optional 4-digit statement code), a bank account by two micro-deposits
// whose amounts the customer types back (after a payee-name check where
// the rail has one), an e-wallet by its provider's OAuth page
// (StartEWalletLink, FinishEWalletLink) or, for a provider without one,
// by a code the provider shows its owner. A card whose issuer does not
// take a zero-amount authorisation is verified by a 1-unit authorisation
// voided at once (CRD-04). The verification's state only moves
// forward (pending → requires_action → awaiting_code → verified | failed |
// disabled), so provider webhooks may arrive late, twice or out of order.
// A new method cannot receive a payout for 24 hours (RSK-02). Adding and
// deleting a method need a recent second factor (SES-08), and every
// addition, verification outcome and deletion notifies the customer in
// the same transaction (NOT-01, NOT-02).
package paymethod

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/clock"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/psp"
	"github.com/okpay/okpay/sqldb"
)

// Error codes of this package (the HTTP layers map them to statuses).
const (
	// EStepUpRequired: the session's last second-factor step is older than
	// the sudo window (SES-08).
	EStepUpRequired = "step_up_required"
	// EDuplicateMethod: the same card, bank account or e-wallet is already
	// on this account (CRD-07).
	EDuplicateMethod = "duplicate_method"
	ECardExpired     = "card_expired"
	// ETooManyMethods: the account has the most active methods of a kind.
	ETooManyMethods = "too_many_methods"
	// ERateLimited: too many methods added, or too many failed
	// verifications of one instrument, in 24 hours (CRD-04).
	ERateLimited = "rate_limited"
	// EMethodInUse: a payout to the method is executing (CRD-08).
	EMethodInUse = "method_in_use"
	// EMethodDeleted: the method was deleted.
	EMethodDeleted = "method_deleted"
	// ENotVerified: the method is not (or not yet) verified.
	ENotVerified = "method_not_verified"
	// EMethodHold: the method is new and cannot receive payouts yet
	// (RSK-02, CRD-06); the error is a *HoldError carrying the end.
	EMethodHold = "method_hold"
	// EInvalidCode: a statement code, micro-deposit amounts or an e-wallet
	// code did not match; attempts remain.
	EInvalidCode = "invalid_code"
	// ETooManyAttempts: the last attempt failed; the method is disabled.
	ETooManyAttempts = "too_many_attempts"
	// EVerificationExpired: the verification was not completed in time.
	EVerificationExpired = "verification_expired"
	// ENoCodeExpected: the method is not waiting for a code (not yet, or
	// no longer).
	ENoCodeExpected = "no_code_expected"
	// ENotPayoutEligible: the provider says the card cannot receive
	// payouts (CRD-06; a prepaid card, for example).
	ENotPayoutEligible = "method_not_payout_eligible"
)

// Failure codes recorded on a failed or disabled method (Method.FailureCode),
// besides the provider's own decline codes.
const (
	FailDeclined            = "declined"
	FailExpired             = "expired"
	FailTooManyAttempts     = "too_many_attempts"
	FailProviderUnavailable = "provider_unavailable"
)

// Notification kinds (NOT-01). The Notifier renders them; data carries
// "Method" (the masked label), "Kind", "MethodID" and, depending on the
// kind, "HoldUntil" or "Reason". Never a full card number, IBAN or
// e-wallet account (NOT-04).
const (
	NoteAdded    = "payout_method_added"
	NoteVerified = "payout_method_verified"
	NoteFailed   = "payout_method_failed"
	NoteRemoved  = "payout_method_removed"
)

// IDPrefix is the prefix of a method's public id ("pm_0d4m8y2k3q1ag").
const IDPrefix = "pm"

// referencePrefix starts the references of verifications sent to the
// provider, so a webhook router can tell them from other operations.
const referencePrefix = "pmv_"

// Kind is the type of a payment method.
type Kind string

// Kinds.
const (
	KindCard        Kind = "card"
	KindBankAccount Kind = "bank_account"
	KindEWallet     Kind = "ewallet"
)

// Status is the state of a method.
type Status string

// Statuses, in the order they may follow each other. Verified, Failed and
// Disabled are final.
const (
	StatusPending        Status = "pending"         // the provider is verifying
	StatusRequiresAction Status = "requires_action" // 3-D Secure: the customer must visit ActionURL
	StatusAwaitingCode   Status = "awaiting_code"   // the customer must type a code or amounts
	StatusVerified       Status = "verified"
	StatusFailed         Status = "failed"   // declined, expired or provider error: may be added again
	StatusDisabled       Status = "disabled" // too many wrong codes: delete it to add it again
)

// Final reports whether s will not change any more.
func (s Status) Final() bool {
	return s == StatusVerified || s == StatusFailed || s == StatusDisabled
}

func (s Status) rank() int {
	switch s {
	case StatusPending:
		return 0
	case StatusRequiresAction:
		return 1
	case StatusAwaitingCode:
		return 2
	}
	return 3
}

// Verification kinds.
const (
	VerifyAuthorization = "authorization"  // card: zero-amount authorisation
	VerifyMicroDeposits = "micro_deposits" // bank account
	VerifyEWalletCode   = "ewallet_code"   // e-wallet
)

// Method is a payment method as its owner may see it: masked, never a
// token, a full IBAN or a full e-wallet account.
type Method struct {
	ID     int64
	UserID int64
	Kind   Kind
	Status Status
	// FailureCode says why a method failed or was disabled: one of the
	// Fail* codes or the provider's decline code.
	FailureCode string
	// Label is the masked display form: "visa •••• 4242",
	// "DE89 •••• 3000", "alipay j•••@example.com" (CRD-03).
	Label string
	// Fingerprint identifies the instrument across accounts (risk rules);
	// it is not for display.
	Fingerprint string
	// Shared is set when the same instrument is on another account too
	// (CRD-07: allowed but flagged for the mule rule, RSK-04).
	Shared  bool
	Default bool
	// Provider is the payment provider's name ("sandbox").
	Provider string

	// Verification.
	VerifyKind string
	// ActionURL is where the customer completes 3-D Secure while Status
	// is StatusRequiresAction.
	ActionURL string
	// AttemptsLeft counts the codes the customer may still try while
	// Status is StatusAwaitingCode.
	AttemptsLeft int
	// VerifyExpiresAt is when an unfinished verification fails (zero:
	// never).
	VerifyExpiresAt time.Time
	// AuthFallback is set when the card's issuer did not support a
	// zero-amount authorisation and the card was verified by a 1-unit
	// authorisation instead (CRD-04); AuthVoidedAt is when it was voided
	// (zero: not yet).
	AuthFallback bool
	AuthVoidedAt time.Time

	CreatedAt  time.Time
	VerifiedAt time.Time
	// HoldUntil is when the method may first receive a payout (RSK-02).
	HoldUntil time.Time
	DeletedAt time.Time

	Card    *Card
	Bank    *BankAccount
	EWallet *EWallet
}

// PublicID returns the method's id as shown in URLs and the API.
func (m *Method) PublicID() string { return ids.Format(IDPrefix, m.ID) }

// ParseID reads a public method id.
func ParseID(s string) (int64, bool) { return ids.Parse(IDPrefix, s) }

// Deleted reports whether the method was deleted.
func (m *Method) Deleted() bool { return !m.DeletedAt.IsZero() }

// Card holds a card's public facts (CRD-02).
type Card struct {
	Brand         string // visa, mastercard, unionpay, amex, jcb, ...
	Last4         string
	ExpMonth      int
	ExpYear       int
	Funding       string // credit, debit, prepaid; "" when unknown
	IssuerCountry string // ISO 3166; "" when unknown
}

// BankAccount holds what may be shown of a bank account.
type BankAccount struct {
	Country  string
	Last4    string
	Masked   string // "DE89 •••• 3000"
	Holder   string
	Currency money.Currency
	// NameCheck is the payee-name check's answer when the account was
	// added ("" when the provider had none), NameHeld the name the bank
	// holds (close match) and NameConfirmed whether the customer confirmed
	// a mismatch (CRD-10).
	NameCheck     NameResult
	NameHeld      string
	NameConfirmed bool
}

// EWallet holds what may be shown of an external e-wallet account.
type EWallet struct {
	Provider string // "alipay", "wechat", "paypal", ...
	Masked   string // "j•••@example.com"
	// LinkedBy is LinkedByOAuth (the provider's authorisation page) or
	// LinkedByCode (a code the provider showed).
	LinkedBy string
}

// Notifier queues a notification to a user inside the caller's
// transaction (package identity's Service implements it).
type Notifier interface {
	Notify(ctx context.Context, tx *sql.Tx, userID int64, kind string, data map[string]any) error
}

// InUse tells whether a payout to a method is executing (the wallet
// implements it); such a method cannot be deleted (CRD-08).
type InUse interface {
	PayoutsExecuting(ctx context.Context, tx *sql.Tx, methodID int64) (bool, error)
}

// Sealer encrypts and authenticates values at rest; aad binds a sealed
// value to its row. package secret's Sealer implements it.
type Sealer interface {
	Seal(plaintext, aad []byte) ([]byte, error)
	Open(sealed, aad []byte) ([]byte, error)
}

// MAC computes keyed tags (HMAC-SHA256 over length-framed parts). package
// secret's MAC implements it.
type MAC interface {
	Sum(parts ...[]byte) []byte
	KeyID() string
}

// Querier runs read queries: a *sql.DB or a *sql.Tx.
type Querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Config holds the payment-method policy. Zero fields take the defaults
// shown.
type Config struct {
	// PayoutHold is how long a new method cannot receive payouts (24 h,
	// RSK-02).
	PayoutHold time.Duration
	// SudoWindow is how recent the second-factor step must be to add or
	// delete a method (10 min, SES-08).
	SudoWindow time.Duration
	// MaxActive caps the methods of one kind an account holds, not
	// counting failed or deleted ones (5, CRD-04).
	MaxActive int
	// MaxAddsPerDay caps the methods of one kind added in 24 hours (3).
	MaxAddsPerDay int
	// MaxFailuresPerDay caps the failed verifications of one instrument
	// (fingerprint), on any account, in 24 hours (3, CRD-04).
	MaxFailuresPerDay int
	// AuthorizationTTL is how long a card's authorisation may stay
	// unfinished (a 3-D Secure challenge never completed) before the
	// method fails (24 h).
	AuthorizationTTL time.Duration
	// StatementCode asks for a 4-digit code from the card statement after
	// the authorisation succeeds (CRD-05).
	StatementCode         bool
	StatementCodeAttempts int           // 5
	StatementCodeTTL      time.Duration // 75 days
	MicroDepositAttempts  int           // 3 (CRD-10)
	MicroDepositTTL       time.Duration // 10 days (CRD-10)
	EWalletCodeAttempts   int           // 5
	EWalletCodeTTL        time.Duration // 15 min
	// EWalletLinkTTL is how long an OAuth link of an e-wallet may take
	// (10 min).
	EWalletLinkTTL time.Duration
	// EWalletProviders lists the e-wallets payouts may go to (alipay,
	// wechat, paypal).
	EWalletProviders []string
	// VerificationCurrency is the currency of the zero-amount
	// authorisation (USD).
	VerificationCurrency money.Currency
	// BankCurrency is the currency of micro-deposits when the customer
	// names none (EUR).
	BankCurrency money.Currency
}

func (c *Config) defaults() {
	dur := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	num := func(n *int, v int) {
		if *n <= 0 {
			*n = v
		}
	}
	dur(&c.PayoutHold, 24*time.Hour)
	dur(&c.SudoWindow, 10*time.Minute)
	num(&c.MaxActive, 5)
	num(&c.MaxAddsPerDay, 3)
	num(&c.MaxFailuresPerDay, 3)
	dur(&c.AuthorizationTTL, 24*time.Hour)
	num(&c.StatementCodeAttempts, 5)
	dur(&c.StatementCodeTTL, 75*24*time.Hour)
	num(&c.MicroDepositAttempts, 3)
	dur(&c.MicroDepositTTL, 10*24*time.Hour)
	num(&c.EWalletCodeAttempts, 5)
	dur(&c.EWalletCodeTTL, 15*time.Minute)
	dur(&c.EWalletLinkTTL, 10*time.Minute)
	if len(c.EWalletProviders) == 0 {
		c.EWalletProviders = []string{"alipay", "wechat", "paypal"}
	}
	if c.VerificationCurrency == "" {
		c.VerificationCurrency = "USD"
	}
	if c.BankCurrency == "" {
		c.BankCurrency = "EUR"
	}
}

// Deps are the collaborators of a Service.
type Deps struct {
	DB       *sqldb.DB
	Clock    clock.Clock
	IDs      ids.Generator
	Provider psp.Provider
	Notifier Notifier
	// Sealer seals IBANs and e-wallet accounts (use a purpose of its own,
	// e.g. keys.Sealer("paymethod/account")).
	Sealer Sealer
	// MAC makes fingerprints of bank accounts and e-wallets and hashes
	// statement codes (e.g. keys.MAC("paymethod")).
	MAC MAC
	// InUse is optional (nil: no payout is ever executing); the wallet
	// sets it, here or with SetInUse.
	InUse InUse
	// Freezer is optional: with it, adding a method runs the mule rule
	// (RSK-04, risk.go) and freezes the account it trips; without it the
	// rule is not run at additions.
	Freezer Freezer
	Config  Config
}

// Service manages payment methods. It is safe for concurrent use.
type Service struct {
	d   Deps
	cfg Config
}

// New returns a Service.
func New(d Deps) (*Service, error) {
	if d.DB == nil || d.Clock == nil || d.IDs == nil || d.Provider == nil || d.Notifier == nil || d.Sealer == nil || d.MAC == nil {
		return nil, errors.New("paymethod: missing dependency")
	}
	cfg := d.Config
	cfg.defaults()
	for _, c := range []money.Currency{cfg.VerificationCurrency, cfg.BankCurrency} {
		if !c.Valid() {
			return nil, errors.New("paymethod: unknown currency " + string(c))
		}
	}
	providers := make([]string, len(cfg.EWalletProviders))
	for i, p := range cfg.EWalletProviders {
		providers[i] = strings.ToLower(strings.TrimSpace(p))
	}
	cfg.EWalletProviders = providers
	d.Config = cfg
	return &Service{d: d, cfg: cfg}, nil
}

// SetInUse sets the wallet's payout check; call it before serving.
func (s *Service) SetInUse(u InUse) { s.d.InUse = u }

// Config returns the effective configuration.
func (s *Service) Config() Config { return s.cfg }

// EWalletProviders returns the e-wallets a method may be added for.
func (s *Service) EWalletProviders() []string { return slices.Clone(s.cfg.EWalletProviders) }

// OwnsReference reports whether a provider reference is one of this
// package's verifications (a webhook router sends those to ApplyEvent).
func OwnsReference(ref string) bool { return strings.HasPrefix(ref, referencePrefix) }

// HoldError reports that a method is too new to receive payouts (RSK-02,
// CRD-06). Its code is EMethodHold.
type HoldError struct {
	Until time.Time
}

func (e *HoldError) Error() string {
	return "This payout method was added recently: for your security it can receive money from " +
		e.Until.UTC().Format("2006-01-02 15:04 UTC") + "."
}

// Code returns EMethodHold.
func (e *HoldError) Code() string { return EMethodHold }

func (s *Service) now() time.Time { return s.d.Clock.Now().UTC().Truncate(time.Microsecond) }

func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromMicros(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMicro(v).UTC()
}

// checkStepUp refuses when the second-factor step is missing or older than
// the sudo window (SES-08).
func (s *Service) checkStepUp(stepUp time.Time) error {
	if stepUp.IsZero() || s.now().Sub(stepUp) > s.cfg.SudoWindow {
		return okpay.Errorf(EStepUpRequired, "Confirm with your second factor first: changing payout methods needs a confirmation from the last %d minutes.", int(s.cfg.SudoWindow/time.Minute))
	}
	return nil
}

// pspError turns a provider error into a coded error for the caller: an
// unknown card token is psp_token_not_found; anything else (the provider
// unreachable, or refusing a request it should have taken) is
// EUnavailable, without the provider's own text.
func pspError(err error, what string) error {
	if okpay.ErrorCode(err) == psp.ETokenNotFound {
		return okpay.Errorf(psp.ETokenNotFound, "The card details expired before they were saved: please enter the card again.")
	}
	return okpay.Errorf(okpay.EUnavailable, "The payment provider could not be reached (%s). Please try again in a few minutes.", what)
}
