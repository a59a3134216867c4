package paymethod_test

import (
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/paymethod"
	"github.com/okpay/okpay/psp"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

const ibanDE = "DE89370400440532013000"

// microDeposits reads the two amounts the sandbox sent, as the customer
// reads them on the bank statement.
func (e *env) microDeposits(methodID int64) (int64, int64) {
	e.t.Helper()
	var a, b int64
	if err := e.db.Read.QueryRowContext(e.ctx, `SELECT amount_a, amount_b FROM psp_sandbox_micro_deposits WHERE reference = $1`,
		e.reference(methodID)).Scan(&a, &b); err != nil {
		e.t.Fatal(err)
	}
	return a, b
}

// wrongAmounts returns two amounts that are not a and b in any order.
func wrongAmounts(a, b int64) (int64, int64) {
	x := a%99 + 1
	if x == b {
		x = x%99 + 1
	}
	return x, b
}

// CRD-10: a bank account is verified by the two micro-deposit amounts, in
// either order; the IBAN is stored only sealed and shown masked; a payout
// gets the full IBAN after the 24 h hold.
func TestCRD10_BankAccountMicroDeposits(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db, paymethod.Config{})
		u := e.user()
		added := e.clock.Now()
		m, err := e.svc.AddBankAccount(e.ctx, paymethod.NewBankAccount{UserID: u, IBAN: "de89 3704 0044 0532 0130 00", Holder: "  Erika   Mustermann ", StepUp: e.stepUp()})
		if err != nil {
			t.Fatal(err)
		}
		if m.Status != paymethod.StatusAwaitingCode || m.AttemptsLeft != 3 || m.Label != "DE89 •••• 3000" {
			t.Fatalf("after AddBankAccount: %s, %d attempts, %q", m.Status, m.AttemptsLeft, m.Label)
		}
		if b := m.Bank; b == nil || b.Country != "DE" || b.Last4 != "3000" || b.Holder != "Erika Mustermann" || b.Currency != "EUR" || b.Masked != "DE89 •••• 3000" {
			t.Fatalf("bank facts %+v", m.Bank)
		}
		if !m.VerifyExpiresAt.Equal(added.Add(10 * 24 * time.Hour)) {
			t.Fatalf("expires %v", m.VerifyExpiresAt)
		}
		// The micro_deposits.sent webhook changes nothing more.
		e.waitEvents(e.reference(m.ID), 1)
		a, b := e.microDeposits(m.ID)
		x, y := wrongAmounts(a, b)
		_, err = e.svc.ConfirmMicroDeposits(e.ctx, u, m.ID, x, y)
		wantCode(t, err, paymethod.EInvalidCode)
		_, err = e.svc.ConfirmMicroDeposits(e.ctx, u, m.ID, 0, 5)
		wantCode(t, err, okpay.EInvalid) // not an attempt
		got, _ := e.svc.Get(e.ctx, u, m.ID)
		if got.AttemptsLeft != 2 {
			t.Fatalf("attempts left %d", got.AttemptsLeft)
		}
		// When the provider cannot answer, the attempt is given back.
		ref := e.reference(m.ID)
		if _, err := db.Write.ExecContext(e.ctx, `UPDATE psp_sandbox_micro_deposits SET reference = 'moved' WHERE reference = $1`, ref); err != nil {
			t.Fatal(err)
		}
		_, err = e.svc.ConfirmMicroDeposits(e.ctx, u, m.ID, a, b)
		wantCode(t, err, okpay.EUnavailable)
		if _, err := db.Write.ExecContext(e.ctx, `UPDATE psp_sandbox_micro_deposits SET reference = $1 WHERE reference = 'moved'`, ref); err != nil {
			t.Fatal(err)
		}
		if got, _ := e.svc.Get(e.ctx, u, m.ID); got.AttemptsLeft != 2 {
			t.Fatalf("attempts left after a provider error: %d", got.AttemptsLeft)
		}
		v, err := e.svc.ConfirmMicroDeposits(e.ctx, u, m.ID, b, a)
		if err != nil || v.Status != paymethod.StatusVerified {
			t.Fatalf("right amounts: %+v %v", v, err)
		}
		if got := e.kinds(u); !slices.Equal(got, []string{paymethod.NoteAdded, paymethod.NoteVerified}) {
			t.Fatalf("notifications %v", got)
		}
		// Sealed at rest, and never in the clear in OKPay's tables.
		e.assertNotStored(ibanDE, "payment_")
		_, _, err = e.svc.ForPayout(e.ctx, nil, u, m.ID)
		wantCode(t, err, paymethod.EMethodHold)
		e.clock.Set(added.Add(24 * time.Hour))
		d, _, err := e.svc.ForPayout(e.ctx, nil, u, m.ID)
		if err != nil || d != (psp.Destination{Kind: psp.DestBankAccount, IBAN: ibanDE, Holder: "Erika Mustermann"}) {
			t.Fatalf("ForPayout: %+v %v", d, err)
		}
		// The sealed IBAN is bound to its row: copied to another, it does
		// not open.
		m2, err := e.svc.AddBankAccount(e.ctx, paymethod.NewBankAccount{UserID: u, IBAN: "GB82 WEST 1234 5698 7654 32", Holder: "Erika Mustermann", Currency: "GBP", StepUp: e.stepUp()})
		if err != nil {
			t.Fatal(err)
		}
		a2, b2 := e.microDeposits(m2.ID)
		if _, err := e.svc.ConfirmMicroDeposits(e.ctx, u, m2.ID, a2, b2); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Write.ExecContext(e.ctx, `UPDATE payment_bank_accounts SET iban_sealed = (SELECT iban_sealed FROM payment_bank_accounts WHERE method_id = $1) WHERE method_id = $2`, m.ID, m2.ID); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(24 * time.Hour)
		_, _, err = e.svc.ForPayout(e.ctx, nil, u, m2.ID)
		wantCode(t, err, okpay.EInternal)
	})
}

// CRD-10: three wrong tries disable the account; a FAIL account fails by
// webhook; the same IBAN twice is a duplicate.
func TestCRD10_BankAccountAttemptsAndFailures(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db, paymethod.Config{})
		u := e.user()
		m, err := e.svc.AddBankAccount(e.ctx, paymethod.NewBankAccount{UserID: u, IBAN: ibanDE, Holder: "Erika Mustermann", StepUp: e.stepUp()})
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.svc.AddBankAccount(e.ctx, paymethod.NewBankAccount{UserID: u, IBAN: "DE89 3704 0044 0532 0130 00", Holder: "E. Mustermann", StepUp: e.stepUp()})
		wantCode(t, err, paymethod.EDuplicateMethod)
		a, b := e.microDeposits(m.ID)
		x, y := wrongAmounts(a, b)
		for i := 0; i < 2; i++ {
			_, err := e.svc.ConfirmMicroDeposits(e.ctx, u, m.ID, x, y)
			wantCode(t, err, paymethod.EInvalidCode)
		}
		_, err = e.svc.ConfirmMicroDeposits(e.ctx, u, m.ID, x, y)
		wantCode(t, err, paymethod.ETooManyAttempts)
		_, err = e.svc.ConfirmMicroDeposits(e.ctx, u, m.ID, a, b)
		wantCode(t, err, paymethod.ETooManyAttempts)
		got, _ := e.svc.Get(e.ctx, u, m.ID)
		if got.Status != paymethod.StatusDisabled {
			t.Fatalf("status %s", got.Status)
		}

		f, err := e.svc.AddBankAccount(e.ctx, paymethod.NewBankAccount{UserID: u, IBAN: "GB94FAIL12345698765432", Holder: "Erika Mustermann", Currency: "GBP", StepUp: e.stepUp()})
		if err != nil {
			t.Fatal(err)
		}
		failed := e.waitStatus(u, f.ID, paymethod.StatusFailed)
		if failed.FailureCode != "account_closed" {
			t.Fatalf("failure %q", failed.FailureCode)
		}
		_, err = e.svc.ConfirmMicroDeposits(e.ctx, u, f.ID, 1, 2)
		wantCode(t, err, paymethod.ENoCodeExpected)
	})
}

// CRD-10: micro-deposits expire after 10 days, to the second.
func TestCRD10_MicroDepositsExpire(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db, paymethod.Config{})
		u := e.user()
		var ms []*paymethod.Method
		for _, iban := range []string{ibanDE, "GB82WEST12345698765432"} {
			m, err := e.svc.AddBankAccount(e.ctx, paymethod.NewBankAccount{UserID: u, IBAN: iban, Holder: "Erika Mustermann", StepUp: e.stepUp()})
			if err != nil {
				t.Fatal(err)
			}
			ms = append(ms, m)
		}
		e.clock.Advance(10*24*time.Hour - time.Microsecond)
		a, b := e.microDeposits(ms[0].ID)
		if n, err := e.svc.ExpireStale(e.ctx, 0); err != nil || n != 0 {
			t.Fatalf("ExpireStale early: %d %v", n, err)
		}
		e.clock.Advance(time.Microsecond)
		_, err := e.svc.ConfirmMicroDeposits(e.ctx, u, ms[0].ID, a, b)
		wantCode(t, err, paymethod.EVerificationExpired)
		n, err := e.svc.ExpireStale(e.ctx, 0)
		if err != nil || n != 1 {
			t.Fatalf("ExpireStale: %d %v", n, err)
		}
		for _, m := range ms {
			got, _ := e.svc.Get(e.ctx, u, m.ID)
			if got.Status != paymethod.StatusFailed || got.FailureCode != paymethod.FailExpired || !got.VerifyExpiresAt.IsZero() {
				t.Fatalf("%s: %s %s", got.Label, got.Status, got.FailureCode)
			}
		}
		if c := e.count(u, paymethod.NoteFailed); c != 2 {
			t.Fatalf("%d failure notifications", c)
		}
		// An expired account may be added again.
		if _, err := e.svc.AddBankAccount(e.ctx, paymethod.NewBankAccount{UserID: u, IBAN: ibanDE, Holder: "Erika Mustermann", StepUp: e.stepUp()}); err != nil {
			t.Fatal(err)
		}
	})
}

// Refusals of a bank account: IBAN, holder and currency checks, all at
// once, and nothing stored.
func TestAddBankAccountInvalid(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db, paymethod.Config{})
		u := e.user()
		_, err := e.svc.AddBankAccount(e.ctx, paymethod.NewBankAccount{UserID: u, IBAN: "DE89370400440532013001", Holder: "4242 4242 4242 4242", Currency: "XXZ", StepUp: e.stepUp()})
		wantCode(t, err, okpay.EInvalid)
		oe := err.(*okpay.Error)
		for _, f := range []string{"iban", "holder", "currency"} {
			if oe.Fields[f] == "" {
				t.Errorf("no message for %s: %v", f, oe.Fields)
			}
		}
		for _, holder := range []string{"", "   ", "...", strings.Repeat("a", 71), "Erika\x00Mustermann", "Erika <script>"} {
			_, err := e.svc.AddBankAccount(e.ctx, paymethod.NewBankAccount{UserID: u, IBAN: ibanDE, Holder: holder, StepUp: e.stepUp()})
			wantCode(t, err, okpay.EInvalid)
		}
		for _, holder := range []string{"张伟", "José O'Neil-Smith", "Müller & Co. GmbH"} {
			m, err := e.svc.AddBankAccount(e.ctx, paymethod.NewBankAccount{UserID: u, IBAN: ibanDE, Holder: holder, StepUp: e.stepUp()})
			if err != nil {
				t.Fatalf("holder %q: %v", holder, err)
			}
			if err := e.svc.Delete(e.ctx, u, m.ID, e.stepUp()); err != nil {
				t.Fatal(err)
			}
			e.clock.Advance(24 * time.Hour)
		}
		_, err = e.svc.AddBankAccount(e.ctx, paymethod.NewBankAccount{UserID: u, IBAN: ibanDE, Holder: "Erika", StepUp: time.Time{}})
		wantCode(t, err, paymethod.EStepUpRequired)
	})
}

// E-wallets: the provider shows the owner a code; the account id is
// sealed and masked; five wrong codes disable it; codes expire.
func TestEWalletCode(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db, paymethod.Config{})
		u := e.user()
		m, err := e.svc.AddEWallet(e.ctx, paymethod.NewEWallet{UserID: u, Provider: "Alipay", Account: "+8613812345678", StepUp: e.stepUp()})
		if err != nil {
			t.Fatal(err)
		}
		if m.Status != paymethod.StatusAwaitingCode || m.Label != "alipay +86•••5678" || m.EWallet == nil || m.EWallet.Provider != "alipay" || m.AttemptsLeft != 5 {
			t.Fatalf("after AddEWallet: %s %q %+v %d", m.Status, m.Label, m.EWallet, m.AttemptsLeft)
		}
		code := e.ewalletCode(m.ID)
		_, err = e.svc.ConfirmEWalletCode(e.ctx, u, m.ID, wrongCode(code))
		wantCode(t, err, paymethod.EInvalidCode)
		_, err = e.svc.ConfirmEWalletCode(e.ctx, u, m.ID, "12-34")
		wantCode(t, err, okpay.EInvalid)
		v, err := e.svc.ConfirmEWalletCode(e.ctx, u, m.ID, code)
		if err != nil || v.Status != paymethod.StatusVerified {
			t.Fatalf("right code: %+v %v", v, err)
		}
		e.assertNotStored("8613812345678", "payment_")
		e.clock.Advance(24 * time.Hour)
		d, _, err := e.svc.ForPayout(e.ctx, nil, u, m.ID)
		if err != nil || d != (psp.Destination{Kind: psp.DestEWallet, Provider: "alipay", Account: "+8613812345678"}) {
			t.Fatalf("ForPayout: %+v %v", d, err)
		}

		p, err := e.svc.AddEWallet(e.ctx, paymethod.NewEWallet{UserID: u, Provider: "paypal", Account: "Jane.Doe@Example.com", StepUp: e.stepUp()})
		if err != nil {
			t.Fatal(err)
		}
		if p.Label != "paypal j•••@example.com" {
			t.Fatalf("label %q", p.Label)
		}
		_, err = e.svc.AddEWallet(e.ctx, paymethod.NewEWallet{UserID: u, Provider: "paypal", Account: "jane.doe@example.com", StepUp: e.stepUp()})
		wantCode(t, err, paymethod.EDuplicateMethod)
		pc := e.ewalletCode(p.ID)
		for i := 0; i < 4; i++ {
			_, err := e.svc.ConfirmEWalletCode(e.ctx, u, p.ID, wrongCode(pc))
			wantCode(t, err, paymethod.EInvalidCode)
		}
		_, err = e.svc.ConfirmEWalletCode(e.ctx, u, p.ID, wrongCode(pc))
		wantCode(t, err, paymethod.ETooManyAttempts)

		e.clock.Advance(24 * time.Hour)
		w, err := e.svc.AddEWallet(e.ctx, paymethod.NewEWallet{UserID: u, Provider: "wechat", Account: "wxid_abc123", StepUp: e.stepUp()})
		if err != nil {
			t.Fatal(err)
		}
		if w.Label != "wechat wx•••23" {
			t.Fatalf("label %q", w.Label)
		}
		e.clock.Advance(15 * time.Minute)
		_, err = e.svc.ConfirmEWalletCode(e.ctx, u, w.ID, e.ewalletCode(w.ID))
		wantCode(t, err, paymethod.EVerificationExpired)

		for _, tc := range []paymethod.NewEWallet{
			{UserID: u, Provider: "venmo", Account: "jane", StepUp: e.stepUp()},
			{UserID: u, Provider: "alipay", Account: "ab", StepUp: e.stepUp()},
			{UserID: u, Provider: "alipay", Account: "jane doe", StepUp: e.stepUp()},
			{UserID: u, Provider: "alipay", Account: "4242424242424242", StepUp: e.stepUp()},
			{UserID: u, Provider: "alipay", Account: "张伟", StepUp: e.stepUp()},
		} {
			_, err := e.svc.AddEWallet(e.ctx, tc)
			wantCode(t, err, okpay.EInvalid)
		}
		if got := e.svc.EWalletProviders(); !slices.Equal(got, []string{"alipay", "wechat", "paypal"}) {
			t.Fatalf("providers %v", got)
		}
	})
}

// ewalletCode reads the code the sandbox e-wallet showed its owner.
func (e *env) ewalletCode(methodID int64) string {
	e.t.Helper()
	var code string
	if err := e.db.Read.QueryRowContext(e.ctx, `SELECT code FROM psp_sandbox_ewallet_codes WHERE reference = $1`, e.reference(methodID)).Scan(&code); err != nil {
		e.t.Fatal(err)
	}
	return code
}

// CRD-08: deleting needs a fresh second factor, is refused while a payout
// is executing, keeps last4 and fingerprint, erases the sealed account,
// and notifies.
func TestCRD08_Delete(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db, paymethod.Config{})
		u := e.user()
		card := e.addVerifiedCard(u, "4242424242424242")
		bank, err := e.svc.AddBankAccount(e.ctx, paymethod.NewBankAccount{UserID: u, IBAN: ibanDE, Holder: "Erika Mustermann", StepUp: e.stepUp()})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.svc.SetDefault(e.ctx, u, card.ID); err != nil {
			t.Fatal(err)
		}

		wantCode(t, e.svc.Delete(e.ctx, u, card.ID, time.Time{}), paymethod.EStepUpRequired)
		wantCode(t, e.svc.Delete(e.ctx, u, card.ID, e.clock.Now().Add(-11*time.Minute)), paymethod.EStepUpRequired)
		wantCode(t, e.svc.Delete(e.ctx, e.user(), card.ID, e.stepUp()), okpay.ENotFound)
		e.inUse.set(card.ID, true)
		wantCode(t, e.svc.Delete(e.ctx, u, card.ID, e.stepUp()), paymethod.EMethodInUse)
		if n := e.count(u, paymethod.NoteRemoved); n != 0 {
			t.Fatalf("%d removal notifications before any removal", n)
		}
		e.inUse.set(card.ID, false)
		if err := e.svc.Delete(e.ctx, u, card.ID, e.stepUp()); err != nil {
			t.Fatal(err)
		}
		if err := e.svc.Delete(e.ctx, u, card.ID, e.stepUp()); err != nil {
			t.Fatalf("deleting twice: %v", err)
		}
		if n := e.count(u, paymethod.NoteRemoved); n != 1 {
			t.Fatalf("%d removal notifications", n)
		}
		got, err := e.svc.Get(e.ctx, u, card.ID)
		if err != nil || !got.Deleted() || got.Card.Last4 != "4242" || got.Fingerprint != card.Fingerprint || got.Default {
			t.Fatalf("deleted card: %+v %v", got, err)
		}
		list, _ := e.svc.List(e.ctx, u)
		if len(list) != 1 || list[0].ID != bank.ID {
			t.Fatalf("List after delete: %v", list)
		}
		e.clock.Advance(25 * time.Hour)
		_, _, err = e.svc.ForPayout(e.ctx, nil, u, card.ID)
		wantCode(t, err, paymethod.EMethodDeleted)
		_, _, err = e.svc.ForCharge(e.ctx, nil, u, card.ID)
		wantCode(t, err, paymethod.EMethodDeleted)

		// A deleted bank account keeps only its masked facts.
		if err := e.svc.Delete(e.ctx, u, bank.ID, e.stepUp()); err != nil {
			t.Fatal(err)
		}
		var sealed []byte
		if err := db.Read.QueryRowContext(e.ctx, `SELECT iban_sealed FROM payment_bank_accounts WHERE method_id = $1`, bank.ID).Scan(&sealed); err != nil || sealed != nil {
			t.Fatalf("sealed IBAN after delete: %x %v", sealed, err)
		}
		gb, _ := e.svc.Get(e.ctx, u, bank.ID)
		if gb.Bank.Last4 != "3000" || gb.Label != "DE89 •••• 3000" {
			t.Fatalf("deleted bank account: %+v", gb.Bank)
		}
		// A confirmation after deletion is refused; a late webhook changes
		// nothing.
		_, err = e.svc.ConfirmMicroDeposits(e.ctx, u, bank.ID, 1, 2)
		wantCode(t, err, paymethod.EMethodDeleted)
		late := psp.Event{ID: "evt_late_md", Type: psp.EventMicroDepositsFailed, Created: e.clock.Now(), Reference: e.reference(bank.ID), ObjectID: "md_1", Status: psp.StatusFailed}
		if err := db.InTx(e.ctx, func(tx *sql.Tx) error { _, err := e.svc.ApplyEvent(e.ctx, tx, late); return err }); err != nil {
			t.Fatal(err)
		}
		if gb2, _ := e.svc.Get(e.ctx, u, bank.ID); gb2.Status != gb.Status {
			t.Fatalf("a deleted method changed status: %s -> %s", gb.Status, gb2.Status)
		}
	})
}

// CRD-02: the card table holds only the token and the card's public
// facts, and no column of the schema is named like card data.
func TestCRD02_CardSchema(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		cols := columns(t, db)
		want := []string{"brand", "exp_month", "exp_year", "funding", "issuer_country", "last4", "method_id", "psp_token"}
		if got := cols["payment_cards"]; !slices.Equal(got, want) {
			t.Fatalf("payment_cards columns %v, want %v", got, want)
		}
		if len(cols["payment_methods"]) == 0 {
			t.Fatal("no payment_methods table")
		}
		for table, cs := range cols {
			for _, c := range append([]string{table}, cs...) {
				for _, bad := range []string{"pan", "cvv", "cvc", "card_number", "track"} {
					if strings.Contains(strings.ToLower(c), bad) && (table == c || strings.HasPrefix(table, "payment_")) {
						t.Errorf("%s.%s looks like card data (*%s*)", table, c, bad)
					}
				}
			}
		}
		// The whole schema, where it concerns cards.
		for table, cs := range cols {
			for _, c := range cs {
				lc := strings.ToLower(c)
				if strings.Contains(lc, "cvv") || strings.Contains(lc, "cvc") || strings.Contains(lc, "card_number") || lc == "pan" || strings.HasSuffix(lc, "_pan") || strings.HasPrefix(lc, "pan_") {
					t.Errorf("%s.%s looks like card data", table, c)
				}
			}
		}
	})
}

// columns returns every table's column names, sorted.
func columns(t *testing.T, db *sqldb.DB) map[string][]string {
	t.Helper()
	q := `SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema()`
	if db.Dialect == sqldb.SQLite {
		q = `SELECT m.name, p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p WHERE m.type = 'table'`
	}
	rows, err := db.Read.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string][]string{}
	for rows.Next() {
		var table, col string
		if err := rows.Scan(&table, &col); err != nil {
			t.Fatal(err)
		}
		out[table] = append(out[table], col)
	}
	for _, cs := range out {
		slices.Sort(cs)
	}
	return out
}

// assertNotStored fails when s appears in clear in any text or binary
// value of the tables whose name starts with prefix ("" for all).
func (e *env) assertNotStored(s, prefix string) {
	e.t.Helper()
	for table, hits := range e.scan(prefix, func(v string) bool { return strings.Contains(v, s) }) {
		e.t.Errorf("%q is stored in clear in %s: %v", s, table, hits)
	}
}

// scan returns the values of the tables (name starting with prefix) for
// which match holds, by table.
func (e *env) scan(prefix string, match func(string) bool) map[string][]string {
	e.t.Helper()
	out := map[string][]string{}
	for table := range columns(e.t, e.db) {
		if !strings.HasPrefix(table, prefix) || table == "goose_db_version" {
			continue
		}
		rows, err := e.db.Read.Query(`SELECT * FROM ` + table)
		if err != nil {
			e.t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				e.t.Fatal(err)
			}
			for i, v := range vals {
				var sv string
				switch x := v.(type) {
				case string:
					sv = x
				case []byte:
					sv = string(x)
				default:
					continue // numbers: ids and times
				}
				if match(sv) {
					out[table] = append(out[table], fmt.Sprintf("%s=%q", cols[i], sv))
				}
			}
		}
		rows.Close()
	}
	return out
}

// CRD-01: after cards are added, verified, declined, challenged and
// deleted, no text in the database holds a card number, and no
// notification data holds a card number or a full IBAN (NOT-04).
func TestCRD01_NoPANStored(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db, paymethod.Config{StatementCode: true, MaxAddsPerDay: 10})
		u := e.user()
		for _, c := range []struct {
			number string
			want   paymethod.Status
		}{
			{"4242424242424242", paymethod.StatusAwaitingCode},
			{"4000000000000002", paymethod.StatusFailed},
			{"4000000000003220", paymethod.StatusRequiresAction},
			{"5555555555554444", paymethod.StatusAwaitingCode},
		} {
			m := e.addCard(u, c.number)
			e.waitStatus(u, m.ID, c.want)
			if c.want == paymethod.StatusAwaitingCode {
				if _, err := e.svc.ConfirmStatementCode(e.ctx, u, m.ID, e.statementCode(m.ID)); err != nil {
					t.Fatal(err)
				}
				if err := e.svc.Delete(e.ctx, u, m.ID, e.stepUp()); err != nil {
					t.Fatal(err)
				}
			}
		}
		bank, err := e.svc.AddBankAccount(e.ctx, paymethod.NewBankAccount{UserID: u, IBAN: ibanDE, Holder: "Erika Mustermann", StepUp: e.stepUp()})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.svc.Delete(e.ctx, u, bank.ID, e.stepUp()); err != nil {
			t.Fatal(err)
		}
		for table, hits := range e.scan("", paymethod.ContainsPAN) {
			t.Errorf("a card number is stored in %s: %v", table, hits)
		}
		for _, d := range e.notes.allData() {
			for k, v := range d {
				s := fmt.Sprint(v)
				if paymethod.ContainsPAN(s) || strings.Contains(s, ibanDE) || strings.Contains(s, "4242424242") {
					t.Errorf("notification data %s=%q", k, s)
				}
			}
		}
		if len(e.notes.allData()) < 6 {
			t.Fatalf("only %d notifications", len(e.notes.allData()))
		}
	})
}
