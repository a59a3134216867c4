package sandbox

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"strings"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/psp"
)

// Card behaviours, derived from the test card number at tokenization.
const (
	behaveSucceed      = "succeed"
	behaveDecline      = "decline"
	behaveInsufficient = "insufficient_funds"
	behaveChallenge    = "challenge"
	behavePayoutFail   = "payout_fail"
	behaveNoPayouts    = "no_payouts"
	// behaveNoZeroAuth: the issuer does not support zero-amount
	// authorisations; a 1-unit authorisation-only charge works.
	behaveNoZeroAuth = "no_zero_auth"
)

// detachedPrefix marks the stored behaviour of a detached token: it keeps
// its facts for the sandbox page, and no charge or payout can use it.
const detachedPrefix = "detached:"

// TestCard is a documented test card number.
type TestCard struct {
	Number    string // grouped as printed on a card
	Brand     string
	Behaviour string // one of the behave* values
}

// TestCards returns the documented test card numbers (see the package
// documentation).
func TestCards() []TestCard {
	return []TestCard{
		{"4242 4242 4242 4242", "visa", behaveSucceed},
		{"4000 0000 0000 0002", "visa", behaveDecline},
		{"4000 0000 0000 9995", "visa", behaveInsufficient},
		{"4000 0000 0000 3220", "visa", behaveChallenge},
		{"4000 0000 0000 0077", "visa", behavePayoutFail},
		{"4000 0025 0000 0003", "visa", behaveNoZeroAuth},
		{"5105 1051 0510 5100", "mastercard", behaveNoPayouts},
		{"5555 5555 5555 4444", "mastercard", behaveSucceed},
		{"6200 0000 0000 0005", "unionpay", behaveSucceed},
		{"3782 822463 10005", "amex", behaveSucceed},
		{"3566 0020 2036 0505", "jcb", behaveSucceed},
	}
}

// behaviourOf returns the behaviour of the digits-only number pan.
func behaviourOf(pan string) string {
	for _, c := range TestCards() {
		if strings.ReplaceAll(c.Number, " ", "") == pan {
			return c.Behaviour
		}
	}
	return behaveSucceed
}

// cardProfile returns what the sandbox says of a card besides its
// number: its funding type, its issuer's country and whether it can
// receive payouts (CRD-06). The prepaid test card cannot; the others can
// (payouts to 4000 0000 0000 0077 are accepted, then fail).
func cardProfile(brand, behaviour string) (funding, country string, payouts bool) {
	if behaviour == behaveNoPayouts {
		return "prepaid", "US", false
	}
	if behaviour == behaveNoZeroAuth {
		return "debit", "FR", true
	}
	switch brand {
	case "amex":
		return "credit", "US", true
	case "jcb":
		return "credit", "JP", true
	case "unionpay":
		return "debit", "CN", true
	}
	return "debit", "US", true
}

// cardCurrency is the billing currency of a card issued in country.
func cardCurrency(country string) money.Currency {
	switch country {
	case "CN":
		return "CNY"
	case "JP":
		return "JPY"
	case "FR":
		return "EUR"
	}
	return "USD"
}

// Problems with card input, by field ("number", "expiry", "cvc"). The token
// endpoint translates them; Tokenize returns them in English.
const (
	problemNumber  = "invalid_number"
	problemExpiry  = "invalid_expiry"
	problemExpired = "expired_card"
	problemCVC     = "invalid_cvc"
)

var problemMessages = map[string]string{
	problemNumber:  "The card number is not valid.",
	problemExpiry:  "The expiry date is not valid.",
	problemExpired: "The card has expired.",
	problemCVC:     "The security code is not valid.",
}

// cardFacts is what a valid card input yields.
type cardFacts struct {
	digits    string // never stored, logged or returned
	brand     string
	last4     string
	expMonth  int
	expYear   int
	behaviour string
}

// checkCard validates card input at now. It returns the problems by field
// (nil when the card is acceptable). pan may contain spaces and dashes;
// a two-digit year means 20YY.
func checkCard(pan string, expMonth, expYear int, cvc string, now time.Time) (cardFacts, map[string]string) {
	problems := map[string]string{}
	digits, ok := normalizePAN(pan)
	if !ok || !luhn(digits) {
		problems["number"] = problemNumber
	}
	if expYear >= 0 && expYear < 100 {
		expYear += 2000
	}
	now = now.UTC()
	switch {
	case expMonth < 1 || expMonth > 12 || expYear < 2000 || expYear > now.Year()+25:
		problems["expiry"] = problemExpiry
	case expired(expMonth, expYear, now):
		problems["expiry"] = problemExpired
	}
	brand := ""
	if problems["number"] == "" {
		brand = brandOf(digits)
	}
	if !validCVC(cvc, brand) {
		problems["cvc"] = problemCVC
	}
	if len(problems) > 0 {
		return cardFacts{}, problems
	}
	return cardFacts{
		digits: digits, brand: brand, last4: digits[len(digits)-4:],
		expMonth: expMonth, expYear: expYear, behaviour: behaviourOf(digits),
	}, nil
}

// expired reports whether a card valid through month/year has expired at
// now (it is good until the end of its expiry month, UTC).
func expired(month, year int, now time.Time) bool {
	end := time.Date(year, time.Month(month)+1, 1, 0, 0, 0, 0, time.UTC)
	return !now.Before(end)
}

// normalizePAN strips spaces and dashes and requires 13 to 19 ASCII digits.
func normalizePAN(s string) (string, bool) {
	if len(s) > 32 {
		return "", false
	}
	b := make([]byte, 0, 19)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == ' ' || c == '-':
		case c >= '0' && c <= '9':
			b = append(b, c)
		default:
			return "", false
		}
	}
	if len(b) < 13 || len(b) > 19 {
		return "", false
	}
	return string(b), true
}

// luhn reports whether the ASCII digits s pass the Luhn checksum.
func luhn(s string) bool {
	if s == "" {
		return false
	}
	sum := 0
	double := false
	for i := len(s) - 1; i >= 0; i-- {
		c := s[i]
		if c < '0' || c > '9' {
			return false
		}
		d := int(c - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}

// brandOf returns the card brand of a digits-only number from its BIN.
func brandOf(d string) string {
	p := func(n int) int { // the first n digits as a number
		v := 0
		for i := 0; i < n && i < len(d); i++ {
			v = v*10 + int(d[i]-'0')
		}
		return v
	}
	switch {
	case d[0] == '4':
		return "visa"
	case p(2) >= 51 && p(2) <= 55, p(4) >= 2221 && p(4) <= 2720:
		return "mastercard"
	case p(2) == 34, p(2) == 37:
		return "amex"
	case p(4) == 6011, p(3) >= 644 && p(3) <= 649, p(2) == 65:
		return "discover"
	case p(2) == 62, p(2) == 81:
		return "unionpay"
	case p(4) >= 3528 && p(4) <= 3589:
		return "jcb"
	case p(2) == 36, p(2) == 38, p(2) == 39, p(3) >= 300 && p(3) <= 305:
		return "diners"
	case p(2) == 50, p(2) >= 56 && p(2) <= 69:
		return "maestro"
	}
	return "unknown"
}

// validCVC: 4 digits for American Express, 3 for the others (3 or 4 when
// the brand is not known, because the number is invalid).
func validCVC(cvc, brand string) bool {
	for i := 0; i < len(cvc); i++ {
		if cvc[i] < '0' || cvc[i] > '9' {
			return false
		}
	}
	switch brand {
	case "amex":
		return len(cvc) == 4
	case "":
		return len(cvc) == 3 || len(cvc) == 4
	}
	return len(cvc) == 3
}

// Tokenize checks a card and returns a new token for it, with its public
// facts. The number and CVC are used only here and never kept. Invalid
// input is an okpay.EInvalid error whose Fields name the problems by field
// ("number", "expiry", "cvc").
func (s *Sandbox) Tokenize(ctx context.Context, pan string, expMonth, expYear int, cvc string) (psp.Card, error) {
	c, problems := checkCard(pan, expMonth, expYear, cvc, s.clock.Now())
	if problems != nil {
		return psp.Card{}, invalidCard(problems)
	}
	return s.store(ctx, c)
}

func invalidCard(problems map[string]string) error {
	fields := make(map[string]string, len(problems))
	for f, p := range problems {
		fields[f] = problemMessages[p]
	}
	return okpay.Invalid(fields)
}

// store saves a token for the checked card c.
func (s *Sandbox) store(ctx context.Context, c cardFacts) (psp.Card, error) {
	card := psp.Card{
		Token:       "tok_" + strings.ToLower(rand.Text()),
		Fingerprint: s.fingerprint(c.digits),
		Brand:       c.brand,
		Last4:       c.last4,
		ExpMonth:    c.expMonth,
		ExpYear:     c.expYear,
	}
	card.Funding, card.IssuerCountry, card.PayoutEligible = cardProfile(c.brand, c.behaviour)
	card.Currency = cardCurrency(card.IssuerCountry)
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO psp_sandbox_tokens
			(id, token, fingerprint, brand, last4, exp_month, exp_year, behaviour, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			s.ids.Next(), card.Token, card.Fingerprint, card.Brand, card.Last4, card.ExpMonth, card.ExpYear,
			c.behaviour, micros(s.clock.Now()))
		return err
	})
	if err != nil {
		return psp.Card{}, okpay.Internal(err, "sandbox: store a card token")
	}
	return card, nil
}

// fingerprint returns the keyed hash of a digits-only card number.
func (s *Sandbox) fingerprint(digits string) string {
	m := hmac.New(sha256.New, s.fpKey)
	m.Write([]byte(digits))
	return hex.EncodeToString(m.Sum(nil))
}

// tokenRow is a stored token.
type tokenRow struct {
	card      psp.Card
	behaviour string
	detached  bool
}

// validToken reports whether tok has the shape of a sandbox token.
func validToken(tok string) bool {
	rest, ok := strings.CutPrefix(tok, "tok_")
	if !ok || len(rest) != 26 {
		return false
	}
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		if !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// token reads a token; an unknown one is psp.ETokenNotFound.
func (s *Sandbox) token(ctx context.Context, q querier, tok string) (tokenRow, error) {
	notFound := okpay.Errorf(psp.ETokenNotFound, "The card token is unknown.")
	if !validToken(tok) {
		return tokenRow{}, notFound
	}
	var r tokenRow
	r.card.Token = tok
	err := q.QueryRowContext(ctx, `SELECT fingerprint, brand, last4, exp_month, exp_year, behaviour
		FROM psp_sandbox_tokens WHERE token = $1`, tok).
		Scan(&r.card.Fingerprint, &r.card.Brand, &r.card.Last4, &r.card.ExpMonth, &r.card.ExpYear, &r.behaviour)
	if errors.Is(err, sql.ErrNoRows) {
		return tokenRow{}, notFound
	}
	if err != nil {
		return tokenRow{}, okpay.Internal(err, "sandbox: read a card token")
	}
	r.behaviour, r.detached = strings.CutPrefix(r.behaviour, detachedPrefix)
	r.card.Funding, r.card.IssuerCountry, r.card.PayoutEligible = cardProfile(r.card.Brand, r.behaviour)
	r.card.Currency = cardCurrency(r.card.IssuerCountry)
	return r, nil
}

// liveToken reads a token that charges and payouts may use: an unknown
// or detached one is psp.ETokenNotFound.
func (s *Sandbox) liveToken(ctx context.Context, q querier, tok string) (tokenRow, error) {
	r, err := s.token(ctx, q, tok)
	if err == nil && r.detached {
		return tokenRow{}, okpay.Errorf(psp.ETokenNotFound, "The card token is unknown.")
	}
	return r, err
}

// Card returns the public facts of a token (psp.ETokenNotFound if unknown
// or detached).
func (s *Sandbox) Card(ctx context.Context, token string) (psp.Card, error) {
	r, err := s.liveToken(ctx, s.db.Read, token)
	if err != nil {
		return psp.Card{}, err
	}
	return r.card, nil
}

// Detach ends a token, as when its owner deletes the card at OKPay
// (CRD-08): later charges and payouts with it fail with
// psp.ETokenNotFound, while the sandbox page still lists it, marked
// detached. Detaching twice succeeds; an unknown token is
// psp.ETokenNotFound.
func (s *Sandbox) Detach(ctx context.Context, token string) error {
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		r, err := s.token(ctx, tx, token)
		if err != nil || r.detached {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE psp_sandbox_tokens SET behaviour = $1 WHERE token = $2`,
			detachedPrefix+r.behaviour, token)
		return err
	})
	return wrap(err, "sandbox: detach a card token")
}
