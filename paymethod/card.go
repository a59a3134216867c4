package paymethod

import (
	"context"
	"crypto/hmac"
	"database/sql"
	"strconv"
	"strings"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/psp"
)

// NewCard asks to add a card that the customer's browser tokenised at the
// provider.
type NewCard struct {
	UserID int64
	// Token is the provider's card token; never a card number (CRD-01).
	Token string
	// StepUp is when the session last passed a second factor (SES-08).
	StepUp time.Time
	// ReturnURL is where a 3-D Secure challenge sends the customer back.
	ReturnURL string
}

// maxTokenLen bounds a provider token.
const maxTokenLen = 200

// AddCard adds a card and starts its verification: the provider's
// zero-amount authorisation (CRD-04), with a statement code when the
// configuration asks for one (CRD-05). OKPay keeps only the token and the
// card's public facts (CRD-02).
//
// It fails with EStepUpRequired without a recent second factor,
// ECardExpired for an expired card, EDuplicateMethod when the card is
// already on the account (the same card on another account is accepted
// and flagged: Method.Shared, CRD-07), ETooManyMethods or ERateLimited
// past the limits, psp_token_not_found for an unknown token, and
// EUnavailable when the provider cannot be reached (the method is then
// failed and may be added again).
//
// The returned method is usually StatusPending (the outcome comes by
// webhook, see ApplyEvent), StatusRequiresAction with ActionURL (send the
// customer there for 3-D Secure), StatusAwaitingCode (type the statement
// code, ConfirmStatementCode), StatusVerified or StatusFailed (declined).
func (s *Service) AddCard(ctx context.Context, in NewCard) (*Method, error) {
	if err := s.checkStepUp(in.StepUp); err != nil {
		return nil, err
	}
	token := strings.TrimSpace(in.Token)
	switch {
	case token == "":
		return nil, okpay.Invalid(map[string]string{"token": "Enter the card details."})
	case len(token) > maxTokenLen || ContainsPAN(token):
		// A card number where a token belongs: never stored nor echoed.
		return nil, okpay.Invalid(map[string]string{"token": "This is not a card token: card details go to the payment provider only."})
	}
	card, err := s.d.Provider.Card(ctx, token)
	if err != nil {
		return nil, pspError(err, "card details")
	}
	if err := s.checkCard(&card); err != nil {
		return nil, err
	}
	code := ""
	var codeMAC func(int64) []byte
	expires := s.now().Add(s.cfg.AuthorizationTTL)
	if s.cfg.StatementCode {
		code = randomDigits(4)
		codeMAC = func(id int64) []byte { return s.statementMAC(id, code) }
		expires = s.now().Add(s.cfg.StatementCodeTTL)
	}
	brand := strings.ToLower(card.Brand)
	r, err := s.create(ctx, newMethod{
		userID:      in.UserID,
		kind:        KindCard,
		fingerprint: card.Fingerprint,
		label:       brand + " •••• " + card.Last4,
		verifyKind:  VerifyAuthorization,
		codeMAC:     codeMAC,
		expiresAt:   expires,
		detail: func(ctx context.Context, tx *sql.Tx, id int64) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO payment_cards (method_id, psp_token, brand, last4, exp_month, exp_year, funding, issuer_country)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
				id, card.Token, brand, card.Last4, card.ExpMonth, card.ExpYear, clip(card.Funding, 16), clip(card.IssuerCountry, 2))
			if err != nil {
				return okpay.Internal(err, "insert card")
			}
			return nil
		},
	})
	if err != nil {
		return nil, err
	}
	ch, err := s.d.Provider.Charge(ctx, psp.ChargeRequest{
		Reference:     r.reference,
		Token:         card.Token,
		Amount:        money.New(0, s.cfg.VerificationCurrency),
		ReturnURL:     in.ReturnURL,
		StatementCode: code,
	})
	switch {
	case err == nil && ch.Status == psp.StatusFailed && ch.FailureCode == psp.FailZeroAuthUnsupported:
		// The issuer takes no zero-amount authorisation: 1 unit, voided.
		return s.fallbackAuth(ctx, r, card, code)
	case err == nil:
		err = s.applyCharge(ctx, r, ch)
	case okpay.ErrorCode(err) == psp.EDeclined:
		err = s.failNow(ctx, r, FailDeclined)
	default:
		if ferr := s.failNow(ctx, r, FailProviderUnavailable); ferr != nil {
			return nil, ferr
		}
		return nil, pspError(err, "card verification")
	}
	if err != nil {
		return nil, err
	}
	return s.Get(ctx, in.UserID, r.ID)
}

// fallbackSuffix ends the reference of a fallback authorisation.
const fallbackSuffix = ".a1"

// fallbackAuth verifies a card whose issuer does not support a
// zero-amount authorisation (CRD-04): the provider authorises one unit of
// the card's currency (USD when it does not say), never captures it, and
// OKPay voids it at once. The authorisation's reference and the void are
// recorded on the method; no ledger entry is made, because no money
// moves. A void that fails leaves auth_voided_at at zero (the
// authorisation lapses at the issuer; VoidFallbacks retries it).
func (s *Service) fallbackAuth(ctx context.Context, r *row, card psp.Card, code string) (*Method, error) {
	cur := card.Currency
	if !cur.Valid() {
		cur = s.cfg.VerificationCurrency
	}
	unit := int64(1)
	for range cur.Exponent() {
		unit *= 10
	}
	ref := r.reference + fallbackSuffix
	if err := s.d.DB.InTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE payment_methods SET auth_fallback = $1, updated_at = $2 WHERE id = $3`, ref, micros(s.now()), r.ID)
		return err
	}); err != nil {
		return nil, okpay.Internal(err, "record fallback authorisation")
	}
	ch, err := s.d.Provider.Charge(ctx, psp.ChargeRequest{Reference: ref, Token: card.Token, Amount: money.New(unit, cur),
		StatementCode: code, AuthorizeOnly: true})
	if err != nil {
		if ferr := s.failNow(ctx, r, FailProviderUnavailable); ferr != nil {
			return nil, ferr
		}
		return nil, pspError(err, "card verification")
	}
	if ch.Status == psp.StatusSucceeded {
		// A failed void is retried by VoidFallbacks; the card is verified
		// either way.
		_ = s.voidFallback(ctx, r.ID, ref)
	}
	if err := s.applyCharge(ctx, r, ch); err != nil {
		return nil, err
	}
	return s.Get(ctx, r.UserID, r.ID)
}

// voidFallback voids a fallback authorisation and records it.
func (s *Service) voidFallback(ctx context.Context, methodID int64, ref string) error {
	v, err := s.d.Provider.Void(ctx, ref)
	if err != nil {
		return err
	}
	if !v.Voided {
		return okpay.Errorf(okpay.EUnavailable, "The provider did not void the authorisation.")
	}
	return s.d.DB.InTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE payment_methods SET auth_voided_at = $1 WHERE id = $2 AND auth_voided_at = 0`, micros(s.now()), methodID)
		return err
	})
}

// VoidFallbacks voids the fallback authorisations of verified or
// awaiting cards whose void failed (run it from a periodic job); it
// returns how many it voided.
func (s *Service) VoidFallbacks(ctx context.Context) (int, error) {
	rows, err := s.d.DB.Read.QueryContext(ctx, `SELECT id, auth_fallback FROM payment_methods
		WHERE auth_fallback <> '' AND auth_voided_at = 0 AND status IN ('verified','awaiting_code') LIMIT 100`)
	if err != nil {
		return 0, okpay.Internal(err, "find fallback authorisations")
	}
	type due struct {
		id  int64
		ref string
	}
	var list []due
	for rows.Next() {
		var d due
		if err := rows.Scan(&d.id, &d.ref); err != nil {
			rows.Close()
			return 0, okpay.Internal(err, "find fallback authorisations")
		}
		list = append(list, d)
	}
	rows.Close()
	n := 0
	for _, d := range list {
		if err := s.voidFallback(ctx, d.id, d.ref); err != nil {
			return n, pspError(err, "void")
		}
		n++
	}
	return n, nil
}

// checkCard validates the provider's facts about a card and normalises
// them.
func (s *Service) checkCard(c *psp.Card) error {
	if c.Token == "" || c.Fingerprint == "" || len(c.Last4) != 4 || !allDigits(c.Last4) || c.Brand == "" || c.ExpMonth < 1 || c.ExpMonth > 12 {
		return okpay.Errorf(okpay.EUnavailable, "The payment provider sent incomplete card details. Please try again.")
	}
	if c.ExpYear < 100 {
		c.ExpYear += 2000
	}
	c.Funding = strings.ToLower(c.Funding)
	switch c.Funding {
	case "credit", "debit", "prepaid":
	default:
		c.Funding = ""
	}
	if len(c.IssuerCountry) != 2 || !isUpperAlpha(c.IssuerCountry) {
		c.IssuerCountry = ""
	}
	// A card is good through the last day of its expiry month.
	if s.cardExpired(&Card{ExpMonth: c.ExpMonth, ExpYear: c.ExpYear}) {
		return okpay.Errorf(ECardExpired, "This card expired at the end of %02d/%d: please use a card that is still valid.", c.ExpMonth, c.ExpYear)
	}
	return nil
}

// statementMAC is the stored form of a method's statement code.
func (s *Service) statementMAC(methodID int64, code string) []byte {
	return s.d.MAC.Sum([]byte("statement_code"), []byte(strconv.FormatInt(methodID, 10)), []byte(code))
}

// ConfirmStatementCode checks the 4-digit code the customer read on the
// card statement (CRD-05). A wrong code uses one of the attempts
// (EInvalidCode, with "attempts_left" in Fields); the last wrong one
// disables the card (ETooManyAttempts). Past its time the verification
// fails (EVerificationExpired).
func (s *Service) ConfirmStatementCode(ctx context.Context, userID, methodID int64, code string) (*Method, error) {
	code = strings.TrimSpace(code)
	if len(code) != 4 || !allDigits(code) {
		return nil, okpay.Invalid(map[string]string{"code": "Enter the 4 digits shown on your card statement."})
	}
	return s.confirm(ctx, userID, methodID, VerifyAuthorization, func(r *row) (bool, error) {
		if r.codeMAC == nil {
			return false, okpay.Errorf(ENoCodeExpected, "This card is not waiting for a statement code.")
		}
		return hmac.Equal(r.codeMAC, s.statementMAC(r.ID, code)), nil
	})
}

// ForCharge returns the token of a verified card of the user, to take a
// deposit from it (no new-method hold applies to money coming in).
func (s *Service) ForCharge(ctx context.Context, tx *sql.Tx, userID, methodID int64) (string, *Method, error) {
	r, err := s.load(ctx, s.querier(tx), userID, methodID, false)
	if err != nil {
		return "", nil, err
	}
	switch {
	case r.Kind != KindCard:
		return "", nil, okpay.Errorf(okpay.EInvalid, "Deposits come from a card: choose a card.")
	case r.Deleted():
		return "", nil, okpay.Errorf(EMethodDeleted, "This card was deleted.")
	case r.Status != StatusVerified:
		return "", nil, okpay.Errorf(ENotVerified, "This card is not verified yet.")
	case s.cardExpired(r.Card):
		return "", nil, okpay.Errorf(ECardExpired, "This card has expired: add a card that is still valid.")
	}
	return r.token, s.public(r), nil
}

// DepositToken returns the provider token of a verified card of the user
// to charge (the wallet's Cards interface). It fails like ForCharge.
func (s *Service) DepositToken(ctx context.Context, userID, methodID int64) (string, error) {
	token, _, err := s.ForCharge(ctx, nil, userID, methodID)
	return token, err
}

// cardExpired reports whether a card is past the last day of its expiry
// month.
func (s *Service) cardExpired(c *Card) bool {
	if c == nil {
		return false
	}
	end := time.Date(c.ExpYear, time.Month(c.ExpMonth)+1, 1, 0, 0, 0, 0, time.UTC)
	return !s.now().Before(end)
}

func isUpperAlpha(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return s != ""
}
