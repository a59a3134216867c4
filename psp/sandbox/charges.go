package sandbox

import (
	"context"
	"database/sql"
	"errors"
	"net/url"
	"strings"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/psp"
)

// Failure codes the sandbox reports, with their English messages.
const (
	failDeclined     = "card_declined"
	failInsufficient = "insufficient_funds"
	failExpired      = "expired_card"
	failAuth         = "authentication_failed"
	failPayoutCard   = "payout_declined"
	failAccount      = "account_closed"
	failEWallet      = "account_not_found"
	failNoZeroAuth   = psp.FailZeroAuthUnsupported
)

var failureMessages = map[string]string{
	failDeclined:     "The card was declined.",
	failInsufficient: "The card has insufficient funds.",
	failExpired:      "The card has expired.",
	failAuth:         "The customer did not pass 3-D Secure authentication.",
	failPayoutCard:   "The card cannot receive payouts.",
	failAccount:      "The bank account is closed.",
	failEWallet:      "The e-wallet account does not exist.",
	failNoZeroAuth:   "The card's issuer does not support zero-amount authorisations.",
}

// chargeRow is a stored charge.
type chargeRow struct {
	id            int64
	reference     string
	token         string
	amount        money.Amount
	status        psp.Status
	outcome       psp.Status
	failureCode   string
	statementCode string
	returnURL     string
	createdAt     int64
	authOnly      bool
	voidedAt      int64
}

const chargeColumns = `id, reference, token, amount_minor, currency, status, outcome, failure_code,
	statement_code, return_url, created_at, auth_only, voided_at`

func scanCharge(sc interface{ Scan(...any) error }) (chargeRow, error) {
	var c chargeRow
	var cur, status, outcome string
	var authOnly int
	err := sc.Scan(&c.id, &c.reference, &c.token, &c.amount.Minor, &cur, &status, &outcome, &c.failureCode,
		&c.statementCode, &c.returnURL, &c.createdAt, &authOnly, &c.voidedAt)
	c.authOnly = authOnly != 0
	c.amount.Currency = money.Currency(cur)
	c.status, c.outcome = psp.Status(status), psp.Status(outcome)
	return c, err
}

// chargeID formats the provider's id of a charge.
func chargeID(id int64) string { return ids.Format("ch", id) }

// actionURL is the 3-D Secure page of a charge.
func (s *Sandbox) actionURL(id int64) string { return s.base + "/sandbox/3ds/" + chargeID(id) }

func (s *Sandbox) publicCharge(c chargeRow) psp.Charge {
	out := psp.Charge{ID: chargeID(c.id), Reference: c.reference, Status: c.status, Voided: c.voidedAt != 0}
	if c.status == psp.StatusRequiresAction {
		out.ActionURL = s.actionURL(c.id)
	}
	if c.status == psp.StatusFailed {
		out.FailureCode, out.FailureMessage = c.failureCode, failureMessages[c.failureCode]
	}
	return out
}

// Charge takes money from a card, or verifies it when the amount is zero.
// It answers pending (requires_action for the 3-D Secure test card) and
// queues a charge.succeeded or charge.failed event when the charge
// settles. Two answers come at once, without a webhook: a zero-amount
// verification of the card 4000 0025 0000 0003 fails with
// psp.FailZeroAuthUnsupported, and an authorisation-only charge
// (req.AuthorizeOnly, amount above zero) is succeeded or failed (release
// it with Void). The same reference again returns the same charge; with another
// token or amount it is an okpay.EConflict error. An unknown token is
// psp.ETokenNotFound.
func (s *Sandbox) Charge(ctx context.Context, req psp.ChargeRequest) (psp.Charge, error) {
	fields := map[string]string{}
	if msg := checkReference(req.Reference); msg != "" {
		fields["reference"] = msg
	}
	if !req.Amount.Currency.Valid() || req.Amount.Minor < 0 {
		fields["amount"] = "The amount must be zero or more, in a known currency."
	} else if req.AuthorizeOnly && req.Amount.Minor == 0 {
		fields["amount"] = "An authorisation is for an amount above zero."
	}
	if !validReturnURL(req.ReturnURL) {
		fields["return_url"] = "The return URL must be an http(s) URL or a path on this site."
	}
	if !validStatementCode(req.StatementCode) {
		fields["statement_code"] = "The statement code must be 1 to 10 letters or digits."
	}
	if len(fields) > 0 {
		return psp.Charge{}, okpay.Invalid(fields)
	}
	if err := s.settleDue(ctx); err != nil {
		return psp.Charge{}, err
	}
	var out chargeRow
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		tok, err := s.liveToken(ctx, tx, req.Token)
		if err != nil {
			return err
		}
		now := s.clock.Now()
		status, outcome, failure := psp.StatusPending, psp.StatusSucceeded, ""
		settleAt := micros(now.Add(s.delay))
		switch {
		case expired(tok.card.ExpMonth, tok.card.ExpYear, now.UTC()):
			outcome, failure = psp.StatusFailed, failExpired
		case tok.behaviour == behaveDecline:
			outcome, failure = psp.StatusFailed, failDeclined
		case tok.behaviour == behaveInsufficient && req.Amount.Minor > 0:
			outcome, failure = psp.StatusFailed, failInsufficient
		case tok.behaviour == behaveNoZeroAuth && req.Amount.Minor == 0:
			// Answered at once, with no webhook: the caller falls back.
			outcome, failure = psp.StatusFailed, failNoZeroAuth
		case tok.behaviour == behaveChallenge && !req.AuthorizeOnly:
			status, settleAt = psp.StatusRequiresAction, 0
		}
		if req.AuthorizeOnly || failure == failNoZeroAuth {
			status, settleAt = outcome, 0
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO psp_sandbox_charges
			(id, reference, token, amount_minor, currency, status, outcome, failure_code, failure_message,
			 statement_code, return_url, settle_at, created_at, updated_at, auth_only)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13, $14)
			ON CONFLICT (reference) DO NOTHING`,
			s.ids.Next(), req.Reference, req.Token, req.Amount.Minor, string(req.Amount.Currency),
			string(status), string(outcome), failure, failureMessages[failure],
			req.StatementCode, req.ReturnURL, settleAt, micros(now), boolInt(req.AuthorizeOnly))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		out, err = scanCharge(tx.QueryRowContext(ctx, `SELECT `+chargeColumns+` FROM psp_sandbox_charges WHERE reference = $1`, req.Reference))
		if err != nil {
			return err
		}
		if n == 0 && (out.token != req.Token || out.amount != req.Amount || out.authOnly != req.AuthorizeOnly) {
			return okpay.Errorf(okpay.EConflict, "The reference %q was already used for a different charge.", req.Reference)
		}
		return nil
	})
	if err != nil {
		return psp.Charge{}, wrap(err, "sandbox: charge")
	}
	s.poke()
	return s.publicCharge(out), nil
}

// Void releases the authorisation-only charge with OKPay's reference: it
// is never captured, and the sandbox page shows it voided. Voiding again
// returns the same charge; an unknown reference is okpay.ENotFound, and a
// charge that is not a successful authorisation okpay.EConflict.
func (s *Sandbox) Void(ctx context.Context, reference string) (psp.Charge, error) {
	var out chargeRow
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		var err error
		out, err = scanCharge(tx.QueryRowContext(ctx, `SELECT `+chargeColumns+` FROM psp_sandbox_charges WHERE reference = $1`, reference))
		if errors.Is(err, sql.ErrNoRows) {
			return okpay.Errorf(okpay.ENotFound, "There is no charge with this reference.")
		}
		if err != nil {
			return err
		}
		if !out.authOnly || out.status != psp.StatusSucceeded {
			return okpay.Errorf(okpay.EConflict, "Only a successful authorisation can be voided.")
		}
		if out.voidedAt != 0 {
			return nil
		}
		out.voidedAt = micros(s.clock.Now())
		_, err = tx.ExecContext(ctx, `UPDATE psp_sandbox_charges SET voided_at = $1, updated_at = $1 WHERE id = $2`, out.voidedAt, out.id)
		return err
	})
	if err != nil {
		return psp.Charge{}, wrap(err, "sandbox: void")
	}
	return s.publicCharge(out), nil
}

// CompleteChallenge ends the 3-D Secure challenge of a charge, as the
// customer does on its page: pass settles the charge as succeeded (or
// as its card's outcome), otherwise it fails with authentication_failed.
// A charge that is not waiting for a challenge is returned unchanged. An
// unknown charge is okpay.ENotFound.
func (s *Sandbox) CompleteChallenge(ctx context.Context, id string, pass bool) (psp.Charge, error) {
	n, ok := ids.Parse("ch", id)
	if !ok {
		return psp.Charge{}, okpay.Errorf(okpay.ENotFound, "There is no such charge.")
	}
	var out chargeRow
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		now := micros(s.clock.Now())
		q := `UPDATE psp_sandbox_charges SET status = 'pending', settle_at = $2, updated_at = $2
			WHERE id = $1 AND status = 'requires_action'`
		args := []any{n, now}
		if !pass {
			q = `UPDATE psp_sandbox_charges SET status = 'pending', settle_at = $2, updated_at = $2,
				outcome = 'failed', failure_code = $3, failure_message = $4
				WHERE id = $1 AND status = 'requires_action'`
			args = append(args, failAuth, failureMessages[failAuth])
		}
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return err
		}
		var err error
		out, err = scanCharge(tx.QueryRowContext(ctx, `SELECT `+chargeColumns+` FROM psp_sandbox_charges WHERE id = $1`, n))
		if errors.Is(err, sql.ErrNoRows) {
			return okpay.Errorf(okpay.ENotFound, "There is no such charge.")
		}
		return err
	})
	if err != nil {
		return psp.Charge{}, wrap(err, "sandbox: complete a challenge")
	}
	s.poke()
	return s.publicCharge(out), nil
}

// findCharge reads a charge by its provider id.
func (s *Sandbox) findCharge(ctx context.Context, id string) (chargeRow, error) {
	n, ok := ids.Parse("ch", id)
	if !ok {
		return chargeRow{}, okpay.Errorf(okpay.ENotFound, "There is no such charge.")
	}
	c, err := scanCharge(s.db.Read.QueryRowContext(ctx, `SELECT `+chargeColumns+` FROM psp_sandbox_charges WHERE id = $1`, n))
	if errors.Is(err, sql.ErrNoRows) {
		return chargeRow{}, okpay.Errorf(okpay.ENotFound, "There is no such charge.")
	}
	if err != nil {
		return chargeRow{}, okpay.Internal(err, "sandbox: read a charge")
	}
	return c, nil
}

// wrap returns err as is when it is nil or an *okpay.Error, and as an
// internal error otherwise.
func wrap(err error, what string) error {
	return okpay.InternalUnlessCoded(err, what)
}

// checkReference returns what is wrong with an operation reference, or "".
func checkReference(ref string) string {
	if ref == "" {
		return "The reference is required."
	}
	if len(ref) > 255 {
		return "The reference is longer than 255 characters."
	}
	for _, r := range ref {
		if r < 0x20 || r == 0x7f || r == 0xfffd {
			return "The reference has characters that are not allowed."
		}
	}
	return ""
}

// validReturnURL accepts "", an absolute http(s) URL and a local path.
func validReturnURL(u string) bool {
	if u == "" {
		return true
	}
	if len(u) > 2048 || strings.ContainsAny(u, "\\\r\n\t ") {
		return false
	}
	p, err := url.Parse(u)
	if err != nil || p.User != nil || p.Opaque != "" {
		return false
	}
	if p.Scheme == "" {
		return p.Host == "" && strings.HasPrefix(u, "/") && !strings.HasPrefix(u, "//")
	}
	return (p.Scheme == "http" || p.Scheme == "https") && p.Host != ""
}

// validStatementCode: empty, or 1 to 10 ASCII letters and digits.
func validStatementCode(c string) bool {
	if len(c) > 10 {
		return false
	}
	for i := 0; i < len(c); i++ {
		ch := c[i]
		if !(ch >= '0' && ch <= '9' || ch >= 'A' && ch <= 'Z' || ch >= 'a' && ch <= 'z') {
			return false
		}
	}
	return true
}

// statementDescriptor is what the customer's statement would show for a
// charge.
func statementDescriptor(code string) string {
	if code == "" {
		return "OKPAY"
	}
	return "OKPAY* " + strings.ToUpper(code)
}
