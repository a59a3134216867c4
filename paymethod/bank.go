package paymethod

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"maps"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/psp"
)

// NewBankAccount asks to add a bank account for payouts.
type NewBankAccount struct {
	UserID int64
	// IBAN as typed (spaces and lower case are fine).
	IBAN string
	// Holder is the account holder's name, as the bank knows it.
	Holder string
	// Currency of the account and the micro-deposits; empty means the
	// configured BankCurrency.
	Currency money.Currency
	// StepUp is when the session last passed a second factor (SES-08).
	StepUp time.Time
	// ConfirmNameCheck is the payee-name check answer the customer saw
	// and accepted (CRD-10): needed unless the name matched. For
	// NameNoMatch it is the customer's explicit confirmation that the
	// account is theirs anyway.
	ConfirmNameCheck NameResult
}

// NameResult is the answer of the payee-name check of a bank account
// (CRD-10): psp's answers, "" when the provider has no such check.
type NameResult = psp.NameResult

// Payee-name check answers.
const (
	NameMatch       = psp.NameMatch
	NameCloseMatch  = psp.NameCloseMatch
	NameNoMatch     = psp.NameNoMatch
	NameUnavailable = psp.NameUnavailable
)

// ENameCheck: the payee-name check did not match (or could not be made)
// and the customer has not confirmed that answer yet; the error is a
// *NameCheckError carrying it.
const ENameCheck = "payee_name_unconfirmed"

// NameCheckError asks the customer to confirm a payee-name check answer
// before the bank account is added.
type NameCheckError struct {
	Result NameResult
	// Held is the name the bank holds (a close match only).
	Held string
}

func (e *NameCheckError) Error() string {
	switch e.Result {
	case NameCloseMatch:
		return "The bank holds a slightly different name for this account: " + e.Held + ". Use that name, or confirm yours."
	case NameNoMatch:
		return "The name does not match the one the bank holds for this account. Check the details: money sent to the wrong account may not be recoverable. Confirm only if the account is yours."
	}
	return "The bank could not check the account holder's name. Confirm to add the account anyway."
}

// Code returns ENameCheck.
func (e *NameCheckError) Code() string { return ENameCheck }

// CheckPayeeName asks the bank rail whether holder is the name on iban
// (CRD-10), so the customer sees the answer before adding the account. A
// provider that cannot be reached or cannot check answers
// NameUnavailable. A malformed IBAN or name is okpay.EInvalid.
func (s *Service) CheckPayeeName(ctx context.Context, ibanText, holderText string) (psp.NameCheck, error) {
	iban, holder, err := checkBankInput(ibanText, holderText)
	if err != nil {
		return psp.NameCheck{}, err
	}
	return s.nameCheck(ctx, iban, holder), nil
}

func (s *Service) nameCheck(ctx context.Context, iban IBAN, holder string) psp.NameCheck {
	nc, err := s.d.Provider.CheckPayeeName(ctx, string(iban), holder)
	if err != nil {
		return psp.NameCheck{Result: NameUnavailable}
	}
	switch nc.Result {
	case NameMatch, NameNoMatch, NameUnavailable:
		nc.HeldName = ""
	case NameCloseMatch:
		if h, msg := cleanHolder(nc.HeldName); msg == "" {
			nc.HeldName = h
		} else {
			nc.HeldName = ""
		}
	default:
		return psp.NameCheck{Result: NameUnavailable}
	}
	return nc
}

// checkBankInput validates an IBAN and a holder name.
func checkBankInput(ibanText, holderText string) (IBAN, string, error) {
	fields := map[string]string{}
	iban, err := ParseIBAN(ibanText)
	if err != nil {
		fields["iban"] = "This is not a valid IBAN."
		var e *okpay.Error
		if errors.As(err, &e) && e.Fields["iban"] != "" {
			fields["iban"] = e.Fields["iban"]
		}
	}
	holder, msg := cleanHolder(holderText)
	if msg != "" {
		fields["holder"] = msg
	}
	if len(fields) > 0 {
		return "", "", okpay.Invalid(fields)
	}
	return iban, holder, nil
}

// maxHolderLen is the SEPA limit on a name.
const maxHolderLen = 70

// AddBankAccount adds a bank account and has the provider send it two
// micro-deposits, whose amounts the customer then confirms with
// ConfirmMicroDeposits (CRD-10). The IBAN is stored sealed and shown only
// masked. It fails like AddCard, and with EInvalid for a wrong IBAN or
// holder name.
func (s *Service) AddBankAccount(ctx context.Context, in NewBankAccount) (*Method, error) {
	if err := s.checkStepUp(in.StepUp); err != nil {
		return nil, err
	}
	fields := map[string]string{}
	iban, holder, err := checkBankInput(in.IBAN, in.Holder)
	if e := (*okpay.Error)(nil); errors.As(err, &e) {
		maps.Copy(fields, e.Fields)
	}
	cur := in.Currency
	if cur == "" {
		cur = s.cfg.BankCurrency
	}
	if !cur.Valid() {
		fields["currency"] = "Choose the currency of the account."
	}
	if len(fields) > 0 {
		return nil, okpay.Invalid(fields)
	}
	// CRD-10: the payee-name check, before anything is stored; an answer
	// other than a match must have been shown and confirmed.
	nc := s.nameCheck(ctx, iban, holder)
	if nc.Result != NameMatch && in.ConfirmNameCheck != nc.Result {
		return nil, &NameCheckError{Result: nc.Result, Held: nc.HeldName}
	}
	r, err := s.create(ctx, newMethod{
		userID:      in.UserID,
		kind:        KindBankAccount,
		fingerprint: s.fingerprint("iban", string(iban)),
		label:       iban.Mask(),
		verifyKind:  VerifyMicroDeposits,
		expiresAt:   s.now().Add(s.cfg.MicroDepositTTL),
		detail: func(ctx context.Context, tx *sql.Tx, id int64) error {
			sealed, err := s.d.Sealer.Seal([]byte(iban), aad(KindBankAccount, id))
			if err != nil {
				return okpay.Internal(err, "seal IBAN")
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO payment_bank_accounts (method_id, country, last4, holder_name, currency, iban_sealed,
				name_check, name_check_held, name_check_ack) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
				id, iban.Country(), iban.Last4(), holder, string(cur), sealed, string(nc.Result), nc.HeldName, boolInt(nc.Result == NameNoMatch)); err != nil {
				return okpay.Internal(err, "insert bank account")
			}
			return nil
		},
	})
	if err != nil {
		return nil, err
	}
	if err := s.d.Provider.MicroDeposits(ctx, r.reference, string(iban), holder, cur); err != nil {
		if okpay.ErrorCode(err) == psp.EDeclined {
			if ferr := s.failNow(ctx, r, FailDeclined); ferr != nil {
				return nil, ferr
			}
			return s.Get(ctx, in.UserID, r.ID)
		}
		if ferr := s.failNow(ctx, r, FailProviderUnavailable); ferr != nil {
			return nil, ferr
		}
		return nil, pspError(err, "micro-deposits")
	}
	if err := s.awaitCode(ctx, r); err != nil {
		return nil, err
	}
	return s.Get(ctx, in.UserID, r.ID)
}

// maxMicroDeposit bounds the amounts ConfirmMicroDeposits accepts, in
// minor units (micro-deposits are small: a few cents).
const maxMicroDeposit = 999

// ConfirmMicroDeposits checks the two amounts (in minor units, in any
// order) the customer saw arrive on the account (CRD-10: at most 3
// attempts, within 10 days). It fails like ConfirmStatementCode.
func (s *Service) ConfirmMicroDeposits(ctx context.Context, userID, methodID int64, a, b int64) (*Method, error) {
	if a < 1 || a > maxMicroDeposit || b < 1 || b > maxMicroDeposit {
		return nil, okpay.Invalid(map[string]string{"amounts": "Enter the two small amounts that arrived on your account, in cents."})
	}
	return s.confirm(ctx, userID, methodID, VerifyMicroDeposits, func(r *row) (bool, error) {
		ok, err := s.d.Provider.CheckMicroDeposits(ctx, r.reference, a, b)
		if err == nil && !ok && a != b {
			ok, err = s.d.Provider.CheckMicroDeposits(ctx, r.reference, b, a)
		}
		if err != nil {
			return false, pspError(err, "micro-deposit check")
		}
		return ok, nil
	})
}

// cleanHolder normalises an account holder's name (trimmed, inner spaces
// collapsed) and returns a message when it is not acceptable.
func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func cleanHolder(s string) (string, string) {
	s = strings.Join(strings.Fields(s), " ")
	n := utf8.RuneCountInString(s)
	switch {
	case n == 0:
		return "", "Enter the name of the account holder."
	case n > maxHolderLen:
		return "", "The name is too long (70 characters at most)."
	case !utf8.ValidString(s):
		return "", "The name has characters that are not allowed."
	case ContainsPAN(s):
		return "", "The name has characters that are not allowed."
	}
	letters := 0
	for _, c := range s {
		switch {
		case unicode.IsLetter(c) || unicode.Is(unicode.Mn, c):
			letters++
		case c == ' ' || c == '.' || c == ',' || c == '\'' || c == '-' || c == '&' || c == '/' || c == '(' || c == ')' || c == '·' || c == '’':
		case unicode.IsDigit(c):
		default:
			return "", "The name has characters that are not allowed."
		}
	}
	if letters == 0 {
		return "", "Enter the name of the account holder."
	}
	return s, ""
}

// fingerprint identifies an instrument known only to OKPay (an IBAN, an
// e-wallet account) across accounts without storing it in clear.
func (s *Service) fingerprint(kind string, parts ...string) string {
	b := [][]byte{[]byte("fingerprint"), []byte(kind)}
	for _, p := range parts {
		b = append(b, []byte(p))
	}
	return kind + "_" + hex.EncodeToString(s.d.MAC.Sum(b...)[:16])
}
