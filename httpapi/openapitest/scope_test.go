package openapitest_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/okpay/okpay/ledger"
)

// walletScopeScenario: an API key keeps off the wallet's accounts. A
// customer's wallet (owner usr_…) and a system account (owner okpay) are
// as if they did not exist to the ledger routes: no transfer or entry
// touches them, they are not read or listed, their entries are not read,
// reversed, posted or voided, and no account is opened under their owners
// or codes. Their balances do not move.
func (h *harness) walletScopeScenario(t *testing.T) {
	ctx := context.Background()
	cust, err := h.led.CreateAccount(ctx, ledger.AccountInput{Code: "wallet:424242:USD", Owner: "usr_0000000scope", Currency: "USD", Kind: ledger.KindUserWallet, Flags: ledger.FlagNoOverdraft})
	if err != nil {
		t.Fatal(err)
	}
	house, err := h.led.CreateAccount(ctx, ledger.AccountInput{Code: "suspense:scope:USD", Owner: "okpay", Currency: "USD", Kind: ledger.KindSuspense})
	if err != nil {
		t.Fatal(err)
	}
	fund, err := h.led.Post(ctx, ledger.EntryInput{Reference: "scope-fund", Type: "deposit", Postings: []ledger.Posting{{Debit: house.ID, Credit: cust.ID, Amount: 50_00, Currency: "USD"}}})
	if err != nil {
		t.Fatal(err)
	}
	hold, err := h.led.Post(ctx, ledger.EntryInput{Reference: "scope-hold", Type: "withdrawal", Pending: true, Postings: []ledger.Posting{{Debit: cust.ID, Credit: house.ID, Amount: 10_00, Currency: "USD"}}})
	if err != nil {
		t.Fatal(err)
	}
	mine := h.account(t, map[string]any{"owner": "cus_scope", "currency": "USD", "kind": "merchant"})
	custRef, houseRef := ledger.AccountRef(cust.ID), ledger.AccountRef(house.ID)
	before := []*ledger.Account{cust, house}
	for i, a := range before {
		if before[i], err = h.led.FindAccountByID(ctx, a.ID); err != nil {
			t.Fatal(err)
		}
	}
	amount := map[string]string{"amount": "1.00", "currency": "USD"}

	h.do(t, req{method: "POST", path: "/api/v1/transfers", idem: newKey(), body: map[string]any{"from": mine, "to": custRef, "amount": amount}, want: 404, code: "account_not_found"})
	h.do(t, req{method: "POST", path: "/api/v1/transfers", idem: newKey(), body: map[string]any{"from": custRef, "to": mine, "amount": amount}, want: 404, code: "account_not_found"})
	h.do(t, req{method: "POST", path: "/api/v1/entries", idem: newKey(), body: map[string]any{"type": "adjust", "postings": []map[string]any{{"debit": houseRef, "credit": mine, "amount": amount}}}, want: 404, code: "account_not_found"})
	h.do(t, req{method: "POST", path: "/api/v1/holds", idem: newKey(), body: map[string]any{"type": "hold", "postings": []map[string]any{{"debit": custRef, "credit": mine, "amount": amount}}}, want: 404, code: "account_not_found"})
	h.do(t, req{method: "GET", path: "/api/v1/accounts/" + custRef, want: 404, code: "account_not_found"})
	h.do(t, req{method: "GET", path: "/api/v1/accounts/" + houseRef, want: 404, code: "account_not_found"})
	h.do(t, req{method: "GET", path: "/api/v1/accounts/" + custRef + "/entries", want: 404, code: "account_not_found"})
	if r := h.do(t, req{method: "GET", path: "/api/v1/accounts?owner=usr_0000000scope", want: 200}); len(r.list()) != 0 {
		t.Errorf("a customer's accounts are listed: %s", r.raw)
	}
	if r := h.do(t, req{method: "GET", path: "/api/v1/accounts?owner=okpay", want: 200}); len(r.list()) != 0 {
		t.Errorf("the system accounts are listed: %s", r.raw)
	}
	h.do(t, req{method: "GET", path: "/api/v1/entries/" + ledger.EntryRef(fund.ID), want: 404, code: "entry_not_found"})
	h.do(t, req{method: "POST", path: "/api/v1/entries/" + ledger.EntryRef(fund.ID) + "/reverse", idem: newKey(), want: 404, code: "entry_not_found"})
	h.do(t, req{method: "POST", path: "/api/v1/holds/" + ledger.EntryRef(hold.ID) + "/post", idem: newKey(), want: 404, code: "pending_not_found"})
	h.do(t, req{method: "POST", path: "/api/v1/holds/" + ledger.EntryRef(hold.ID) + "/void", idem: newKey(), want: 404, code: "pending_not_found"})
	h.do(t, req{method: "POST", path: "/api/v1/accounts", body: map[string]any{"owner": "usr_0000000other", "currency": "USD", "kind": "user_wallet"}, want: 422, code: "validation_failed"})
	h.do(t, req{method: "POST", path: "/api/v1/accounts", body: map[string]any{"owner": "okpay", "currency": "USD", "kind": "fees"}, want: 422, code: "validation_failed"})
	h.do(t, req{method: "POST", path: "/api/v1/accounts", body: map[string]any{"code": "wallet:434343:USD", "owner": "cus_scope", "currency": "USD", "kind": "user_wallet"}, want: 422, code: "validation_failed"})
	h.do(t, req{method: "POST", path: "/api/v1/accounts", body: map[string]any{"code": "fees:revenue:JPY", "owner": "cus_scope", "currency": "JPY", "kind": "fees"}, want: 422, code: "validation_failed"})

	for _, a := range before {
		now, err := h.led.FindAccountByID(ctx, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(now.Balance, a.Balance) {
			t.Errorf("%s moved: %+v, was %+v", a.Code, now.Balance, a.Balance)
		}
	}
	// The key's own accounts still work.
	other := h.account(t, map[string]any{"owner": "cus_scope", "currency": "USD", "kind": "merchant"})
	h.do(t, req{method: "POST", path: "/api/v1/transfers", idem: newKey(), body: map[string]any{"from": mine, "to": other, "amount": amount}, want: 201})
}
