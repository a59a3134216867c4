package paymethod_test

import (
	"errors"
	"testing"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/paymethod"
	"github.com/okpay/okpay/psp"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

// CRD-10 payee-name check: a match adds the account at once; a close
// match, a mismatch and an unavailable check are refused until the
// customer confirms the very answer shown (a close match with the name
// the bank holds), and the answer is stored with the method.
func TestCRD10_PayeeNameCheckBeforeAdding(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db, paymethod.Config{MaxAddsPerDay: 10})
		add := func(u int64, iban, holder string, confirm paymethod.NameResult) (*paymethod.Method, error) {
			return e.svc.AddBankAccount(e.ctx, paymethod.NewBankAccount{UserID: u, IBAN: iban, Holder: holder, StepUp: e.stepUp(),
				ConfirmNameCheck: confirm})
		}
		// Preview.
		for holder, want := range map[string]psp.NameCheck{
			"Erika Mustermann": {Result: paymethod.NameMatch},
			"Jon Smith":        {Result: paymethod.NameCloseMatch, HeldName: "John Smith"},
			"Wrong Name":       {Result: paymethod.NameNoMatch},
			"Unknown Holder":   {Result: paymethod.NameUnavailable},
		} {
			got, err := e.svc.CheckPayeeName(e.ctx, ibanDE, holder)
			if err != nil || got != want {
				t.Errorf("CheckPayeeName(%q) = %+v, %v; want %+v", holder, got, err, want)
			}
		}
		_, err := e.svc.CheckPayeeName(e.ctx, "DE00370400440532013000", "")
		wantCode(t, err, okpay.EInvalid)

		u := e.user()
		m, err := add(u, ibanDE, "Erika Mustermann", "")
		if err != nil || m.Bank.NameCheck != paymethod.NameMatch || m.Bank.NameConfirmed {
			t.Fatalf("match: %+v, %v", m, err)
		}

		for _, c := range []struct {
			holder  string
			result  paymethod.NameResult
			held    string
			confirm bool
		}{
			{"Jon Smith", paymethod.NameCloseMatch, "John Smith", false},
			{"Wrong Name", paymethod.NameNoMatch, "", true},
			{"Unknown Holder", paymethod.NameUnavailable, "", false},
		} {
			u := e.user()
			_, err := add(u, "GB82 WEST 1234 5698 7654 32", c.holder, "")
			wantCode(t, err, paymethod.ENameCheck)
			var nce *paymethod.NameCheckError
			if !errors.As(err, &nce) || nce.Result != c.result || nce.Held != c.held {
				t.Fatalf("%s: %v", c.holder, err)
			}
			// Confirming another answer than the one given is not enough.
			other := paymethod.NameUnavailable
			if c.result == other {
				other = paymethod.NameCloseMatch
			}
			_, err = add(u, "GB82 WEST 1234 5698 7654 32", c.holder, other)
			wantCode(t, err, paymethod.ENameCheck)
			if n := len(e.kinds(u)); n != 0 {
				t.Fatalf("%s: %d notifications before the confirmation", c.holder, n)
			}
			m, err := add(u, "GB82 WEST 1234 5698 7654 32", c.holder, c.result)
			if err != nil {
				t.Fatalf("%s confirmed: %v", c.holder, err)
			}
			got, err := e.svc.Get(e.ctx, u, m.ID)
			if err != nil || got.Bank.NameCheck != c.result || got.Bank.NameHeld != c.held || got.Bank.NameConfirmed != c.confirm {
				t.Fatalf("%s stored: %+v, %v", c.holder, got.Bank, err)
			}
		}
	})
}
