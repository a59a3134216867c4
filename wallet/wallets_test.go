package wallet_test

import (
	"testing"

	"github.com/okpay/okpay/ledger"
	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
	"github.com/okpay/okpay/wallet"
)

// TestWallets: one wallet per currency, opened on demand or by
// OpenWallet; hiding needs an empty wallet, and money reaching a hidden
// wallet shows it again.
func TestWallets(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db, harnessOpts{})
		alice, bob := h.signUp(), h.signUp()
		if ws, err := h.w.Wallets(h.ctx, alice.id); err != nil || len(ws) != 0 {
			t.Fatalf("a new customer's wallets: %v %v", ws, err)
		}
		for _, c := range []money.Currency{"JPY", "CNY", "USD"} {
			w, err := h.w.OpenWallet(h.ctx, alice.id, c)
			if err != nil {
				t.Fatal(err)
			}
			if w.Currency != c || !w.Empty() || w.Available != money.New(0, c) || !w.Shown() {
				t.Fatalf("new %s wallet: %+v", c, w)
			}
		}
		again, err := h.w.OpenWallet(h.ctx, alice.id, "USD")
		if err != nil {
			t.Fatal(err)
		}
		ws, err := h.w.Wallets(h.ctx, alice.id)
		if err != nil {
			t.Fatal(err)
		}
		if len(ws) != 3 || ws[0].Currency != "CNY" || ws[1].Currency != "USD" || ws[2].Currency != "JPY" || ws[1].ID != again.ID {
			t.Fatalf("wallets (configured order, one per currency): %+v", ws)
		}
		if _, err := h.w.OpenWallet(h.ctx, alice.id, "CHF"); err == nil {
			t.Fatal("a wallet in a currency that is not offered")
		}
		acct, err := h.ledger.FindAccountByID(h.ctx, again.ID)
		if err != nil {
			t.Fatal(err)
		}
		if acct.Kind != ledger.KindUserWallet || acct.Flags&ledger.FlagNoOverdraft == 0 || acct.Owner != alice.ref() {
			t.Fatalf("the wallet's account: %+v", acct)
		}

		// Hide: only empty wallets.
		h.fund(alice, usd(5_00))
		wantCode(t, h.w.HideWallet(h.ctx, alice.id, "USD"), wallet.EWalletNotEmpty)
		if err := h.w.HideWallet(h.ctx, alice.id, "JPY"); err != nil {
			t.Fatal(err)
		}
		jpy := h.balance(alice, "JPY")
		if !jpy.Hidden || jpy.Shown() {
			t.Fatalf("hidden JPY: %+v", jpy)
		}
		// Money arriving shows it again.
		h.fund(bob, money.New(1000, "JPY"))
		h.pay(bob, alice, money.New(500, "JPY"))
		jpy = h.balance(alice, "JPY")
		if !jpy.Hidden || !jpy.Shown() || jpy.Available != money.New(500, "JPY") {
			t.Fatalf("hidden JPY with money: %+v", jpy)
		}
		if err := h.w.ShowWallet(h.ctx, alice.id, "JPY"); err != nil {
			t.Fatal(err)
		}
		if jpy = h.balance(alice, "JPY"); jpy.Hidden {
			t.Fatalf("shown JPY: %+v", jpy)
		}
		wantCode(t, h.w.ShowWallet(h.ctx, alice.id, "EUR"), "not_found")
		// A transfer opens the payee's wallet on demand.
		h.fund(alice, money.New(10_00, "GBP"))
		h.pay(alice, bob, money.New(1_00, "GBP"))
		if got := h.balance(bob, "GBP"); got.Available != money.New(1_00, "GBP") {
			t.Fatalf("bob's GBP: %+v", got)
		}
	})
}

// TestSystemAccountsIdempotent: the system accounts are found by their
// codes: a second service (a restart, another node) uses the same ones.
func TestSystemAccountsIdempotent(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db, harnessOpts{})
		w2, err := wallet.New(h.ctx, wallet.Deps{DB: db, Ledger: h.ledger, Identity: h.id, Clock: h.clock, IDs: h.gen}, wallet.Config{})
		if err != nil {
			t.Fatal(err)
		}
		defer w2.Close()
		for _, name := range []string{wallet.SysFeeRevenue, wallet.SysFeePending, wallet.SysSuspense, wallet.SysWithdrawals, wallet.SysFXLiquidity} {
			for _, c := range wallet.DefaultCurrencies() {
				a, err := h.w.SystemAccount(h.ctx, name, c)
				if err != nil {
					t.Fatal(err)
				}
				b, err := w2.SystemAccount(h.ctx, name, c)
				if err != nil || a != b {
					t.Fatalf("%s:%s: %d vs %d (%v)", name, c, a, b, err)
				}
				acct, err := h.ledger.FindAccountByCode(h.ctx, name+":"+string(c))
				if err != nil || acct.ID != a || acct.Currency != c {
					t.Fatalf("%s:%s: %+v %v", name, c, acct, err)
				}
			}
		}
		if _, err := h.w.SystemAccount(h.ctx, "nonsense", "USD"); err == nil {
			t.Fatal("an unknown system account")
		}
	})
}
