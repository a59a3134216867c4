package sandbox

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"database/sql"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/psp"
)

// payoutRow is a stored payout.
type payoutRow struct {
	id          int64
	reference   string
	dest        psp.Destination
	amount      money.Amount
	status      psp.Status
	failureCode string
	createdAt   int64
}

const payoutColumns = `id, reference, dest_kind, dest_token, dest_iban, dest_holder, dest_provider, dest_account,
	amount_minor, currency, status, failure_code, created_at`

func scanPayout(sc interface{ Scan(...any) error }) (payoutRow, error) {
	var p payoutRow
	var kind, cur, status string
	err := sc.Scan(&p.id, &p.reference, &kind, &p.dest.Token, &p.dest.IBAN, &p.dest.Holder, &p.dest.Provider,
		&p.dest.Account, &p.amount.Minor, &cur, &status, &p.failureCode, &p.createdAt)
	p.dest.Kind = psp.DestinationKind(kind)
	p.amount.Currency = money.Currency(cur)
	p.status = psp.Status(status)
	return p, err
}

func payoutID(id int64) string { return ids.Format("po", id) }

func publicPayout(p payoutRow) psp.Payout {
	out := psp.Payout{ID: payoutID(p.id), Reference: p.reference, Status: p.status}
	if p.status == psp.StatusFailed {
		out.FailureCode, out.FailureMessage = p.failureCode, failureMessages[p.failureCode]
	}
	return out
}

// normalizeIBAN removes spaces and upper-cases; ok is false unless the
// result is a well-formed IBAN with a valid ISO 13616 checksum.
func normalizeIBAN(s string) (string, bool) {
	s = strings.ToUpper(strings.ReplaceAll(s, " ", ""))
	if len(s) < 15 || len(s) > 34 {
		return s, false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case i < 2 && (c < 'A' || c > 'Z'):
			return s, false
		case i >= 2 && i < 4 && (c < '0' || c > '9'):
			return s, false
		case !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'):
			return s, false
		}
	}
	r := 0
	for _, c := range s[4:] + s[:4] {
		if c >= 'A' {
			r = (r*100 + int(c-'A'+10)) % 97
		} else {
			r = (r*10 + int(c-'0')) % 97
		}
	}
	return s, r == 1
}

// hasFail reports whether s asks for a failure ("FAIL" in any case).
func hasFail(s string) bool { return strings.Contains(strings.ToUpper(s), "FAIL") }

// checkText returns what is wrong with a free text field, or "".
func checkText(s string, required bool, max int) string {
	if required && strings.TrimSpace(s) == "" {
		return "This field is required."
	}
	if len(s) > max {
		return fmt.Sprintf("This field is longer than %d characters.", max)
	}
	if checkReference("x"+s) != "" {
		return "This field has characters that are not allowed."
	}
	return ""
}

// validProvider: 1..32 of [a-z0-9_].
func validProvider(p string) bool {
	if p == "" || len(p) > 32 {
		return false
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// Payout sends money to a destination. It answers pending and queues a
// payout.succeeded or payout.failed event when the payout settles. The
// same reference again returns the same payout and never pays twice; with
// another destination or amount it is an okpay.EConflict error. An
// unknown card token is psp.ETokenNotFound; an invalid IBAN is
// okpay.EInvalid.
func (s *Sandbox) Payout(ctx context.Context, req psp.PayoutRequest) (psp.Payout, error) {
	fields := map[string]string{}
	if msg := checkReference(req.Reference); msg != "" {
		fields["reference"] = msg
	}
	if !req.Amount.Currency.Valid() || req.Amount.Minor <= 0 {
		fields["amount"] = "The amount must be more than zero, in a known currency."
	}
	d := req.Destination
	switch d.Kind {
	case psp.DestCard:
		d = psp.Destination{Kind: d.Kind, Token: d.Token}
	case psp.DestBankAccount:
		iban, ok := normalizeIBAN(d.IBAN)
		if !ok {
			fields["iban"] = "The IBAN is not valid."
		}
		if msg := checkText(d.Holder, false, 140); msg != "" {
			fields["holder"] = msg
		}
		d = psp.Destination{Kind: d.Kind, IBAN: iban, Holder: d.Holder}
	case psp.DestEWallet:
		if !validProvider(d.Provider) {
			fields["provider"] = "The e-wallet provider must be 1 to 32 lower-case letters, digits or underscores."
		}
		if msg := checkText(d.Account, true, 128); msg != "" {
			fields["account"] = msg
		}
		d = psp.Destination{Kind: d.Kind, Provider: d.Provider, Account: d.Account}
	default:
		fields["destination"] = "The destination must be a card, a bank account or an e-wallet."
	}
	if len(fields) > 0 {
		return psp.Payout{}, okpay.Invalid(fields)
	}
	if err := s.settleDue(ctx); err != nil {
		return psp.Payout{}, err
	}
	var out payoutRow
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		now := s.clock.Now()
		outcome, failure := psp.StatusSucceeded, ""
		switch d.Kind {
		case psp.DestCard:
			tok, err := s.liveToken(ctx, tx, d.Token)
			if err != nil {
				return err
			}
			switch {
			case expired(tok.card.ExpMonth, tok.card.ExpYear, now.UTC()):
				outcome, failure = psp.StatusFailed, failExpired
			case tok.behaviour == behavePayoutFail:
				outcome, failure = psp.StatusFailed, failPayoutCard
			case tok.behaviour == behaveDecline:
				outcome, failure = psp.StatusFailed, failDeclined
			}
		case psp.DestBankAccount:
			if hasFail(d.IBAN) {
				outcome, failure = psp.StatusFailed, failAccount
			}
		case psp.DestEWallet:
			if hasFail(d.Account) {
				outcome, failure = psp.StatusFailed, failEWallet
			}
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO psp_sandbox_payouts
			(id, reference, dest_kind, dest_token, dest_iban, dest_holder, dest_provider, dest_account,
			 amount_minor, currency, status, outcome, failure_code, failure_message, settle_at, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'pending', $11, $12, $13, $14, $15, $15)
			ON CONFLICT (reference) DO NOTHING`,
			s.ids.Next(), req.Reference, string(d.Kind), d.Token, d.IBAN, d.Holder, d.Provider, d.Account,
			req.Amount.Minor, string(req.Amount.Currency), string(outcome), failure, failureMessages[failure],
			micros(now.Add(s.delay)), micros(now))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		out, err = scanPayout(tx.QueryRowContext(ctx, `SELECT `+payoutColumns+` FROM psp_sandbox_payouts WHERE reference = $1`, req.Reference))
		if err != nil {
			return err
		}
		if n == 0 && (out.dest != d || out.amount != req.Amount) {
			return okpay.Errorf(okpay.EConflict, "The reference %q was already used for a different payout.", req.Reference)
		}
		return nil
	})
	if err != nil {
		return psp.Payout{}, wrap(err, "sandbox: payout")
	}
	s.poke()
	return publicPayout(out), nil
}

// PayoutStatus returns the payout with OKPay's reference (okpay.ENotFound
// if there is none). A payout whose time has come settles first.
func (s *Sandbox) PayoutStatus(ctx context.Context, reference string) (psp.Payout, error) {
	if err := s.settleDue(ctx); err != nil {
		return psp.Payout{}, err
	}
	p, err := scanPayout(s.db.Read.QueryRowContext(ctx, `SELECT `+payoutColumns+` FROM psp_sandbox_payouts WHERE reference = $1`, reference))
	if errors.Is(err, sql.ErrNoRows) {
		return psp.Payout{}, okpay.Errorf(okpay.ENotFound, "There is no payout with this reference.")
	}
	if err != nil {
		return psp.Payout{}, okpay.Internal(err, "sandbox: read a payout")
	}
	return publicPayout(p), nil
}

// randInt returns a uniform random number in [0, n).
func randInt(n int64) int64 {
	v, err := rand.Int(rand.Reader, big.NewInt(n))
	if err != nil {
		panic(err) // crypto/rand never fails on supported systems
	}
	return v.Int64()
}

// MicroDeposits "sends" two amounts of 1..99 minor units of currency to a
// bank account and queues a micro_deposits.sent event (micro_deposits.failed
// for a FAIL IBAN). The amounts are shown on the sandbox page only. The
// same reference again does nothing; with another IBAN or currency it is
// an okpay.EConflict error.
func (s *Sandbox) MicroDeposits(ctx context.Context, reference, iban, holder string, currency money.Currency) error {
	fields := map[string]string{}
	if msg := checkReference(reference); msg != "" {
		fields["reference"] = msg
	}
	iban, ok := normalizeIBAN(iban)
	if !ok {
		fields["iban"] = "The IBAN is not valid."
	}
	if msg := checkText(holder, false, 140); msg != "" {
		fields["holder"] = msg
	}
	if !currency.Valid() {
		fields["currency"] = "The currency is not known."
	}
	if len(fields) > 0 {
		return okpay.Invalid(fields)
	}
	failed := hasFail(iban)
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		now := s.clock.Now()
		id := s.ids.Next()
		res, err := tx.ExecContext(ctx, `INSERT INTO psp_sandbox_micro_deposits
			(id, reference, iban, holder, currency, amount_a, amount_b, failed, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
			ON CONFLICT (reference) DO NOTHING`,
			id, reference, iban, holder, string(currency), 1+randInt(99), 1+randInt(99), boolInt(failed), micros(now))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			var oldIBAN, oldCur string
			if err := tx.QueryRowContext(ctx, `SELECT iban, currency FROM psp_sandbox_micro_deposits WHERE reference = $1`,
				reference).Scan(&oldIBAN, &oldCur); err != nil {
				return err
			}
			if oldIBAN != iban || oldCur != string(currency) {
				return okpay.Errorf(okpay.EConflict, "The reference %q was already used for other micro-deposits.", reference)
			}
			return nil
		}
		e := psp.Event{Type: psp.EventMicroDepositsSent, Created: now, Reference: reference,
			ObjectID: ids.Format("md", id), Status: psp.StatusSucceeded}
		if failed {
			e.Type, e.Status, e.FailureCode, e.FailureMessage = psp.EventMicroDepositsFailed, psp.StatusFailed,
				failAccount, failureMessages[failAccount]
		}
		return s.queueEvent(ctx, tx, e)
	})
	if err != nil {
		return wrap(err, "sandbox: micro-deposits")
	}
	s.poke()
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// CheckMicroDeposits reports whether a and b are the two amounts sent
// under reference, in either order (false if they failed to arrive). An
// unknown reference is okpay.ENotFound. Counting attempts is the caller's
// job.
func (s *Sandbox) CheckMicroDeposits(ctx context.Context, reference string, a, b int64) (bool, error) {
	var x, y int64
	var failed int
	err := s.db.Read.QueryRowContext(ctx, `SELECT amount_a, amount_b, failed FROM psp_sandbox_micro_deposits WHERE reference = $1`,
		reference).Scan(&x, &y, &failed)
	if errors.Is(err, sql.ErrNoRows) {
		return false, okpay.Errorf(okpay.ENotFound, "There are no micro-deposits with this reference.")
	}
	if err != nil {
		return false, okpay.Internal(err, "sandbox: read micro-deposits")
	}
	return failed == 0 && ((a == x && b == y) || (a == y && b == x)), nil
}

// SendEWalletCode has the e-wallet "app" show a 6-digit code to the owner
// of account (on the sandbox page). The same reference again keeps the
// first code; with another provider or account it is an okpay.EConflict
// error.
func (s *Sandbox) SendEWalletCode(ctx context.Context, reference, provider, account string) error {
	fields := map[string]string{}
	if msg := checkReference(reference); msg != "" {
		fields["reference"] = msg
	}
	if !validProvider(provider) {
		fields["provider"] = "The e-wallet provider must be 1 to 32 lower-case letters, digits or underscores."
	}
	if msg := checkText(account, true, 128); msg != "" {
		fields["account"] = msg
	}
	if len(fields) > 0 {
		return okpay.Invalid(fields)
	}
	code := fmt.Sprintf("%06d", randInt(1000000))
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO psp_sandbox_ewallet_codes (id, reference, provider, account, code, created_at)
			VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (reference) DO NOTHING`,
			s.ids.Next(), reference, provider, account, code, micros(s.clock.Now()))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			return err
		}
		var p, a string
		if err := tx.QueryRowContext(ctx, `SELECT provider, account FROM psp_sandbox_ewallet_codes WHERE reference = $1`,
			reference).Scan(&p, &a); err != nil {
			return err
		}
		if p != provider || a != account {
			return okpay.Errorf(okpay.EConflict, "The reference %q was already used for another e-wallet account.", reference)
		}
		return nil
	})
	return wrap(err, "sandbox: e-wallet code")
}

// CheckEWalletCode reports whether code is the one shown for reference
// (compared in constant time). An unknown reference is okpay.ENotFound.
func (s *Sandbox) CheckEWalletCode(ctx context.Context, reference, code string) (bool, error) {
	var want string
	err := s.db.Read.QueryRowContext(ctx, `SELECT code FROM psp_sandbox_ewallet_codes WHERE reference = $1`, reference).Scan(&want)
	if errors.Is(err, sql.ErrNoRows) {
		return false, okpay.Errorf(okpay.ENotFound, "There is no e-wallet code with this reference.")
	}
	if err != nil {
		return false, okpay.Internal(err, "sandbox: read an e-wallet code")
	}
	return subtle.ConstantTimeCompare([]byte(code), []byte(want)) == 1, nil
}
