// Package psp is OKPay's boundary with payment service providers: card
// acquiring (deposits, zero-amount verification), payouts to bank cards,
// bank accounts and external e-wallets, and the signed webhooks through
// which a provider answers. OKPay never sees a card number: the customer's
// browser hands it to the provider (a hosted field), which returns a token;
// OKPay keeps only the token and the card's public facts (CRD-01..03).
//
// package psp/sandbox is the built-in provider used by default.
package psp

import (
	"context"
	"time"

	"github.com/okpay/okpay/money"
)

// Error codes of provider operations.
const (
	ETokenNotFound = "psp_token_not_found" // unknown or expired card token
	EDeclined      = "psp_declined"        // the issuer or provider said no
	EUnavailable   = "psp_unavailable"     // transient: retry with the same reference
	EBadSignature  = "webhook_bad_signature"
	EStale         = "webhook_stale" // timestamp outside the tolerance
	// ERailDown: the provider reports the payout rail for a destination
	// kind and currency out of service (RailStatus); nothing was sent.
	ERailDown = "psp_rail_down"
	// ENoOAuth: the e-wallet provider offers no OAuth link (use its
	// confirmation code instead).
	ENoOAuth = "psp_no_oauth"
	// EInvalidGrant: an OAuth authorisation code is unknown, used,
	// expired, or does not match its PKCE verifier or redirect URI.
	EInvalidGrant = "psp_invalid_grant"
)

// FailZeroAuthUnsupported is the FailureCode of a zero-amount
// verification the card's issuer does not support: the provider answers
// it at once (a failed Charge, no webhook), and the caller falls back to
// a small authorisation that it voids (CRD-04).
const FailZeroAuthUnsupported = "zero_auth_unsupported"

// Card is what OKPay may know of a tokenised card.
type Card struct {
	Token string
	// Fingerprint is the same for the same card number at this provider,
	// whatever the token (duplicate detection, CRD-07).
	Fingerprint string
	Brand       string // visa, mastercard, unionpay, amex, jcb, ...
	Last4       string
	ExpMonth    int
	ExpYear     int
	// Funding is the card's funding type: "credit", "debit", "prepaid",
	// or "" when the provider does not know.
	Funding string
	// IssuerCountry is the issuing bank's country (ISO 3166-1 alpha-2),
	// or "" when unknown.
	IssuerCountry string
	// PayoutEligible tells whether the card can receive payouts (CRD-06:
	// the provider's answer, asked again before each payout).
	PayoutEligible bool
	// Currency is the card's billing currency, or "" when unknown (the
	// currency of a fallback authorisation, CRD-04).
	Currency money.Currency
}

// Status is the state of a charge, verification or payout at the provider.
type Status string

// Statuses. Pending and RequiresAction are not final; the others are.
const (
	StatusPending        Status = "pending"
	StatusRequiresAction Status = "requires_action" // 3-D Secure: send the customer to ActionURL
	StatusSucceeded      Status = "succeeded"
	StatusFailed         Status = "failed"
)

// Final reports whether s will not change any more.
func (s Status) Final() bool { return s == StatusSucceeded || s == StatusFailed }

// ChargeRequest takes money from a card (a deposit). Amount zero is a
// verification (a zero-amount authorisation).
type ChargeRequest struct {
	// Reference is OKPay's id for the operation; the provider treats a
	// second request with the same reference as the same operation.
	Reference string
	Token     string
	Amount    money.Amount
	// ReturnURL is where a 3-D Secure challenge sends the customer back.
	ReturnURL string
	// StatementCode, for verifications, asks the provider to put a short
	// code in the statement descriptor (CRD-05).
	StatementCode string
	// AuthorizeOnly asks for an authorisation of Amount (more than zero)
	// that is never captured: the provider answers it at once (succeeded
	// or failed, no 3-D Secure, no webhook), and the caller releases it
	// with Void. It is the fallback verification of a card whose issuer
	// does not support zero-amount authorisations (CRD-04).
	AuthorizeOnly bool
}

// Charge is the provider's view of a charge or verification.
type Charge struct {
	ID        string // the provider's id
	Reference string
	Status    Status
	ActionURL string // set when Status is StatusRequiresAction
	// FailureCode and FailureMessage say why a charge failed (an English
	// text from the provider; OKPay shows its own translated reason).
	FailureCode    string
	FailureMessage string
	// Voided is set once an authorisation-only charge was voided.
	Voided bool
}

// DestinationKind is where a payout goes.
type DestinationKind string

// Payout destinations.
const (
	DestCard        DestinationKind = "card"
	DestBankAccount DestinationKind = "bank_account"
	DestEWallet     DestinationKind = "ewallet"
)

// Destination is a payout target. For a card, Token; for a bank account,
// IBAN (and Holder); for an e-wallet, Provider and Account.
type Destination struct {
	Kind     DestinationKind
	Token    string
	IBAN     string
	Holder   string
	Provider string // e-wallet provider, e.g. "alipay", "paypal"
	Account  string
}

// PayoutRequest sends money out.
type PayoutRequest struct {
	Reference   string
	Destination Destination
	Amount      money.Amount
}

// Payout is the provider's view of a payout.
type Payout struct {
	ID             string
	Reference      string
	Status         Status
	FailureCode    string
	FailureMessage string
}

// Event is a webhook event: the provider's answer about one operation.
type Event struct {
	ID   string // unique per event: a consumer stores it to drop replays
	Type string // "charge.succeeded", "charge.failed", "payout.succeeded", "payout.failed", "micro_deposits.sent"
	// Created orders the events of one object: a consumer ignores an
	// event older than the one it has already applied (out-of-order
	// delivery).
	Created   time.Time
	Reference string // OKPay's reference of the operation
	ObjectID  string // the provider's id of the charge or payout
	Status    Status
	// Amount is informative only: a consumer re-reads the amount from its
	// own records (TXN-06).
	Amount         money.Amount
	FailureCode    string
	FailureMessage string
}

// Provider is a payment service provider. Its calls return quickly: final
// outcomes arrive as webhook events (and PayoutStatus can be polled).
type Provider interface {
	// Name identifies the provider in accounts and logs ("sandbox").
	Name() string
	// Card returns the public facts of a card token (ETokenNotFound for
	// an unknown or detached one).
	Card(ctx context.Context, token string) (Card, error)
	// Detach ends a card token at the provider when its owner deletes the
	// card (CRD-08): no charge or payout can use it afterwards. Detaching
	// a detached token succeeds (it is idempotent, so a failed call can
	// be retried); an unknown token is ETokenNotFound.
	Detach(ctx context.Context, token string) error
	// Charge takes money from a card, or verifies it when the amount is zero.
	Charge(ctx context.Context, req ChargeRequest) (Charge, error)
	// Payout sends money to a destination.
	Payout(ctx context.Context, req PayoutRequest) (Payout, error)
	// PayoutStatus polls a payout by OKPay's reference.
	PayoutStatus(ctx context.Context, reference string) (Payout, error)
	// MicroDeposits sends two small amounts to a bank account, to be
	// confirmed by the customer; it returns nothing of their values.
	MicroDeposits(ctx context.Context, reference, iban, holder string, currency money.Currency) error
	// CheckMicroDeposits tells whether the customer's two amounts match.
	CheckMicroDeposits(ctx context.Context, reference string, a, b int64) (bool, error)
	// SendEWalletCode has the e-wallet provider show a confirmation code
	// to the owner of an external e-wallet account.
	SendEWalletCode(ctx context.Context, reference, provider, account string) error
	// CheckEWalletCode tells whether code is the one shown.
	CheckEWalletCode(ctx context.Context, reference, code string) (bool, error)
	// Void releases an authorisation-only charge (AuthorizeOnly) by its
	// reference; the money is never taken. Voiding again succeeds; an
	// unknown reference is okpay.ENotFound, a charge that is not a
	// successful authorisation okpay.EConflict.
	Void(ctx context.Context, reference string) (Charge, error)
	// CheckPayeeName asks the bank rail whether holder is the name on the
	// account iban (CRD-10, a confirmation-of-payee check). A rail that
	// cannot tell answers NameUnavailable, not an error.
	CheckPayeeName(ctx context.Context, iban, holder string) (NameCheck, error)
	// RailStatus tells whether payouts of a destination kind in a
	// currency are being accepted now.
	RailStatus(ctx context.Context, kind DestinationKind, currency money.Currency) (Rail, error)
	// EWalletAuthURL returns the e-wallet provider's authorisation page
	// for linking an account by OAuth (RFC 6749 authorisation code with
	// state, RFC 7636 PKCE S256 challenge): the owner signs in there and
	// the provider sends the browser back to redirectURI with code and
	// state (or error). ENoOAuth when the provider has no such page.
	EWalletAuthURL(provider, state, challenge, redirectURI string) (string, error)
	// ExchangeEWalletCode redeems an authorisation code (once) with the
	// PKCE verifier and the same redirect URI, and returns the e-wallet
	// account id the owner granted. A bad code is EInvalidGrant.
	ExchangeEWalletCode(ctx context.Context, provider, code, verifier, redirectURI string) (string, error)
}

// NameResult is the answer of a payee-name check.
type NameResult string

// Payee-name check answers.
const (
	NameMatch       NameResult = "match"
	NameCloseMatch  NameResult = "close_match" // NameCheck.HeldName says what the bank holds
	NameNoMatch     NameResult = "no_match"
	NameUnavailable NameResult = "unavailable" // the rail or the bank cannot check
)

// NameCheck is the answer of CheckPayeeName.
type NameCheck struct {
	Result NameResult
	// HeldName is the name the bank holds, given only for a close match.
	HeldName string
}

// Rail is the state of a payout rail.
type Rail struct {
	Up bool
	// RetryAfter is when the provider expects the rail back (a hint; zero
	// when unknown).
	RetryAfter time.Duration
}
