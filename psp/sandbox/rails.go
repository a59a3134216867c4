package sandbox

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/psp"
)

// Test payee names: the name a customer types as a bank account's holder
// decides the sandbox's payee-name check (CRD-10). Any other name
// matches. Case and spaces do not matter.
var testPayees = []TestPayee{
	{Name: "Jon Smith", Result: psp.NameCloseMatch, Held: "John Smith"},
	{Name: "Wrong Name", Result: psp.NameNoMatch},
	{Name: "Unknown Holder", Result: psp.NameUnavailable},
}

// TestPayee is a documented holder name with a payee-name check answer.
type TestPayee struct {
	Name   string
	Result psp.NameResult
	Held   string // the name the bank holds (close match)
}

// TestPayees returns the documented holder names (see the package
// documentation).
func TestPayees() []TestPayee { return append([]TestPayee(nil), testPayees...) }

func foldName(s string) string { return strings.ToLower(strings.Join(strings.Fields(s), " ")) }

// CheckPayeeName answers a payee-name check from the documented test
// names: "Jon Smith" is a close match for "John Smith", "Wrong Name" no
// match, "Unknown Holder" unavailable; any other name matches. An
// invalid IBAN is okpay.EInvalid.
func (s *Sandbox) CheckPayeeName(ctx context.Context, iban, holder string) (psp.NameCheck, error) {
	if _, ok := normalizeIBAN(iban); !ok {
		return psp.NameCheck{}, okpay.Invalid(map[string]string{"iban": "The IBAN is not valid."})
	}
	if msg := checkText(holder, true, 140); msg != "" {
		return psp.NameCheck{}, okpay.Invalid(map[string]string{"holder": msg})
	}
	for _, p := range testPayees {
		if foldName(holder) == foldName(p.Name) {
			return psp.NameCheck{Result: p.Result, HeldName: p.Held}, nil
		}
	}
	return psp.NameCheck{Result: psp.NameMatch}, nil
}

// railRetry is the RetryAfter the sandbox gives while a rail is down.
const railRetry = 5 * time.Minute

// allCurrencies in psp_sandbox_rails_down means every currency.
const allCurrencies = "*"

// RailStatus reports a payout rail down when the sandbox page (or
// SetRailDown) switched it off, for its currency or for all.
func (s *Sandbox) RailStatus(ctx context.Context, kind psp.DestinationKind, currency money.Currency) (psp.Rail, error) {
	var n int
	err := s.db.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM psp_sandbox_rails_down WHERE kind = $1 AND currency IN ($2, $3)`,
		string(kind), string(currency), allCurrencies).Scan(&n)
	if err != nil {
		return psp.Rail{}, okpay.Internal(err, "sandbox: read rail status")
	}
	if n > 0 {
		return psp.Rail{Up: false, RetryAfter: railRetry}, nil
	}
	return psp.Rail{Up: true}, nil
}

// SetRailDown switches the payout rail of kind in currency ("" for every
// currency) down or back up.
func (s *Sandbox) SetRailDown(ctx context.Context, kind psp.DestinationKind, currency money.Currency, down bool) error {
	switch kind {
	case psp.DestCard, psp.DestBankAccount, psp.DestEWallet:
	default:
		return okpay.Invalid(map[string]string{"kind": "The destination must be a card, a bank account or an e-wallet."})
	}
	cur := string(currency)
	if cur == "" {
		cur = allCurrencies
	} else if !currency.Valid() {
		return okpay.Invalid(map[string]string{"currency": "The currency is not known."})
	}
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		if !down {
			_, err := tx.ExecContext(ctx, `DELETE FROM psp_sandbox_rails_down WHERE kind = $1 AND currency = $2`, string(kind), cur)
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO psp_sandbox_rails_down (kind, currency, since) VALUES ($1, $2, $3)
			ON CONFLICT (kind, currency) DO NOTHING`, string(kind), cur, micros(s.clock.Now()))
		return err
	})
	return wrap(err, "sandbox: switch a rail")
}

// railDown is a rail switched off, for the sandbox page.
type railDown struct {
	Kind, Currency string
	Since          time.Time
}

func (s *Sandbox) railsDown(ctx context.Context) ([]railDown, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT kind, currency, since FROM psp_sandbox_rails_down ORDER BY kind, currency`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []railDown
	for rows.Next() {
		var r railDown
		var at int64
		if err := rows.Scan(&r.Kind, &r.Currency, &at); err != nil {
			return nil, err
		}
		r.Since = time.UnixMicro(at)
		out = append(out, r)
	}
	return out, rows.Err()
}
