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
)

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
}
