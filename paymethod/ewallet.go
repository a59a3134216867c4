package paymethod

import (
	"context"
	"database/sql"
	"slices"
	"strings"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/psp"
)

// NewEWallet asks to add an external e-wallet account for payouts.
type NewEWallet struct {
	UserID int64
	// Provider is one of the configured e-wallets ("alipay", "wechat",
	// "paypal", ...).
	Provider string
	// Account is the account id at the provider: an email address, a
	// phone number or a user name.
	Account string
	// StepUp is when the session last passed a second factor (SES-08).
	StepUp time.Time
}

// Bounds of an e-wallet account id.
const (
	minAccountLen = 3
	maxAccountLen = 100
)

// AddEWallet adds an e-wallet account and has its provider show the owner
// a confirmation code, which the customer types back with
// ConfirmEWalletCode (at most 5 attempts, within 15 minutes). The account
// id is stored sealed and shown only masked. It fails like AddCard, and
// with EInvalid for an unknown provider or a malformed account id.
func (s *Service) AddEWallet(ctx context.Context, in NewEWallet) (*Method, error) {
	if err := s.checkStepUp(in.StepUp); err != nil {
		return nil, err
	}
	provider := strings.ToLower(strings.TrimSpace(in.Provider))
	account, msg := cleanAccount(in.Account)
	fields := map[string]string{}
	if !slices.Contains(s.cfg.EWalletProviders, provider) {
		fields["provider"] = "Choose one of the e-wallets offered."
	}
	if msg != "" {
		fields["account"] = msg
	}
	if len(fields) > 0 {
		return nil, okpay.Invalid(fields)
	}
	r, err := s.createEWallet(ctx, in.UserID, provider, account, LinkedByCode, s.now().Add(s.cfg.EWalletCodeTTL))
	if err != nil {
		return nil, err
	}
	if err := s.d.Provider.SendEWalletCode(ctx, r.reference, provider, account); err != nil {
		if okpay.ErrorCode(err) == psp.EDeclined {
			if ferr := s.failNow(ctx, r, FailDeclined); ferr != nil {
				return nil, ferr
			}
			return s.Get(ctx, in.UserID, r.ID)
		}
		if ferr := s.failNow(ctx, r, FailProviderUnavailable); ferr != nil {
			return nil, ferr
		}
		return nil, pspError(err, "e-wallet code")
	}
	if err := s.awaitCode(ctx, r); err != nil {
		return nil, err
	}
	return s.Get(ctx, in.UserID, r.ID)
}

// createEWallet inserts a pending e-wallet method (see create).
func (s *Service) createEWallet(ctx context.Context, userID int64, provider, account, linkedBy string, expires time.Time) (*row, error) {
	masked := maskAccount(account)
	return s.create(ctx, newMethod{
		userID:      userID,
		kind:        KindEWallet,
		fingerprint: s.fingerprint("ewallet", provider, account),
		label:       provider + " " + masked,
		verifyKind:  VerifyEWalletCode,
		expiresAt:   expires,
		detail: func(ctx context.Context, tx *sql.Tx, id int64) error {
			sealed, err := s.d.Sealer.Seal([]byte(account), aad(KindEWallet, id))
			if err != nil {
				return okpay.Internal(err, "seal e-wallet account")
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO payment_ewallets (method_id, provider, account_masked, account_sealed, linked_by) VALUES ($1, $2, $3, $4, $5)`,
				id, provider, masked, sealed, linkedBy); err != nil {
				return okpay.Internal(err, "insert e-wallet")
			}
			return nil
		},
	})
}

// maxEWalletCodeLen bounds a typed e-wallet code.
const maxEWalletCodeLen = 12

// ConfirmEWalletCode checks the code the e-wallet provider showed the
// account's owner. It fails like ConfirmStatementCode.
func (s *Service) ConfirmEWalletCode(ctx context.Context, userID, methodID int64, code string) (*Method, error) {
	code = strings.TrimSpace(code)
	if code == "" || len(code) > maxEWalletCodeLen || !isAlnum(code) {
		return nil, okpay.Invalid(map[string]string{"code": "Enter the code your e-wallet showed you."})
	}
	return s.confirm(ctx, userID, methodID, VerifyEWalletCode, func(r *row) (bool, error) {
		ok, err := s.d.Provider.CheckEWalletCode(ctx, r.reference, code)
		if err != nil {
			return false, pspError(err, "e-wallet code check")
		}
		return ok, nil
	})
}

// cleanAccount normalises an e-wallet account id (trimmed; an email
// address in lower case) and returns a message when it is not acceptable.
func cleanAccount(s string) (string, string) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return "", "Enter your account at the e-wallet."
	case len(s) < minAccountLen || len(s) > maxAccountLen:
		return "", "An e-wallet account has 3 to 100 characters."
	case ContainsPAN(s):
		return "", "This looks like a card number: enter your e-wallet account (email, phone or user name)."
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c > '~' {
			return "", "Enter the account as letters, digits and symbols, without spaces."
		}
	}
	if strings.Contains(s, "@") {
		s = strings.ToLower(s)
	}
	return s, ""
}

// maskAccount returns the displayed form of an e-wallet account id:
// "j•••@example.com" for an email address, "+86•••5678" for a phone
// number, the first and last two characters otherwise.
func maskAccount(s string) string {
	if at := strings.LastIndexByte(s, '@'); at > 0 {
		return s[:1] + "•••" + s[at:]
	}
	phone := len(s) >= 7
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isDigit(c) && !(i == 0 && c == '+') {
			phone = false
		}
	}
	switch {
	case phone:
		return s[:3] + "•••" + s[len(s)-4:]
	case len(s) >= 6:
		return s[:2] + "•••" + s[len(s)-2:]
	case len(s) > 0:
		return s[:1] + "•••"
	}
	return "•••"
}

func isAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isDigit(c) && !('a' <= c && c <= 'z') && !('A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}
