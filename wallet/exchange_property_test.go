package wallet_test

import (
	"testing"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/fx"
	"github.com/okpay/okpay/ledger"
	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
	"github.com/okpay/okpay/wallet"
	"pgregory.net/rapid"
)

// TestConservationWithExchanges (REL-01) runs random exchanges (sell and
// buy side, between currencies of 0, 2 and 3 decimals), remittances
// between customers, P2P transfers and funding through the wallet
// service, with retries under the same key, quotes executed twice and
// quotes past their expiry, and checks after every step against a model:
// each wallet holds what the model says and never less than zero; fee
// revenue, FX spread revenue and each FX liquidity account hold what the
// model says; and per currency the balances of all accounts (customers,
// house, external) sum to zero, posted and pending (LEDGER.md
// invariants).
func TestConservationWithExchanges(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		cfg := fxConfig()
		for i := range cfg.Levels {
			for c := range cfg.Levels[i].Daily {
				cfg.Levels[i].Daily[c], cfg.Levels[i].Monthly[c] = 1<<50, 1<<51
			}
		}
		h := newFXHarness(t, db, cfg, fx.Config{})
		users := []*user{h.signUp(), h.signUp(), h.signUp()}
		currencies := []money.Currency{"USD", "JPY", "EUR", "KWD"}
		// Amounts stay below each currency's step-up threshold, so
		// remittances to known payees need no code.
		maxAmount := map[money.Currency]int64{"USD": 250_00, "EUR": 200_00, "JPY": 30_000, "KWD": 70_000}

		bal := map[int64]map[money.Currency]int64{}
		fees, spread, liq := map[money.Currency]int64{}, map[money.Currency]int64{}, map[money.Currency]int64{}
		for _, u := range users {
			bal[u.id] = map[money.Currency]int64{}
			for _, c := range currencies {
				h.fund(u, amt(maxAmount[c]/2, c))
				bal[u.id][c] = maxAmount[c] / 2
			}
		}
		// book applies an executed quote to the model.
		book := func(q *fx.Quote, payer, credited int64, fee money.Amount) {
			bal[payer][q.From] -= q.Sell.Minor + fee.Minor
			bal[credited][q.To] += q.Buy.Minor
			fees[q.From] += fee.Minor
			spread[q.From] += q.Spread.Minor
			liq[q.From] += q.SellAtMid.Minor
			liq[q.To] -= q.Buy.Minor
		}
		// Every customer pays every other once (with a code) so that
		// later payments between them need none.
		for _, u := range users {
			for _, v := range users {
				if u == v {
					continue
				}
				q := h.quoteRemit(u, v, "USD", "EUR", usd(1_00), fx.SideSell)
				r, err := h.remit(u, v, q.ID, h.key())
				if err != nil {
					t.Fatal(err)
				}
				if _, err := h.confirmRemit(u, r.Txn.ID, h.lastCode(u.phone, "code_txn")); err != nil {
					t.Fatal(err)
				}
				book(q.Quote, u.id, v.id, q.Fee)
			}
		}

		type op struct {
			remit    bool
			from, to *user
			quote    int64
			key      string
			txn      int64
			code     string
		}
		var ops []op
		var executed []op

		check := func(rt *rapid.T) {
			for _, u := range users {
				for _, c := range currencies {
					got := h.balance(u, c)
					if got.Available.Minor != bal[u.id][c] || got.Available.Minor < 0 || got.Posted != got.Available {
						rt.Fatalf("%s %s: %+v, model %d", u.ref(), c, got, bal[u.id][c])
					}
				}
			}
			rows, err := db.Read.Query(`SELECT a.currency, SUM(b.posted_credits - b.posted_debits), SUM(b.pending_credits - b.pending_debits)
				FROM accounts a JOIN balances b ON b.account_id = a.id GROUP BY a.currency`)
			if err != nil {
				rt.Fatal(err)
			}
			defer rows.Close()
			for rows.Next() {
				var c string
				var posted, pending int64
				if err := rows.Scan(&c, &posted, &pending); err != nil {
					rt.Fatal(err)
				}
				if posted != 0 || pending != 0 {
					rt.Fatalf("%s: balances sum to %d posted, %d pending", c, posted, pending)
				}
			}
			for _, c := range currencies {
				for name, want := range map[string]int64{wallet.SysFeeRevenue: fees[c], wallet.SysFXSpread: spread[c], wallet.SysFXLiquidity: liq[c]} {
					if got := h.system(name, c).Balance.Posted(); got != want {
						rt.Fatalf("%s:%s = %d, model %d", name, c, got, want)
					}
				}
			}
		}

		// outcome checks a result against the model's expectation and
		// books it.
		outcome := func(rt *rapid.T, o op, q *fx.Quote, fee money.Amount, txn *wallet.Txn, err error) {
			want := bal[o.from.id][q.From] >= q.Sell.Minor+fee.Minor
			if want != (err == nil) || err != nil && okpay.ErrorCode(err) != ledger.EInsufficientFunds {
				rt.Fatalf("%s of %s + %s (balance %d): %v", o.key, q.Sell, fee, bal[o.from.id][q.From], err)
			}
			if txn == nil || (err == nil) != (txn.Status == wallet.StatusCompleted) {
				rt.Fatalf("%s: %+v", o.key, txn)
			}
			o.txn, o.code = txn.ID, okpay.ErrorCode(err)
			ops = append(ops, o)
			if err == nil {
				book(q, o.from.id, o.to.id, fee)
				executed = append(executed, o)
			}
		}
		drawAmount := func(rt *rapid.T, c money.Currency) money.Amount {
			return amt(rapid.Int64Range(1, maxAmount[c]).Draw(rt, "amount"), c)
		}
		drawPair := func(rt *rapid.T) (money.Currency, money.Currency, fx.Side) {
			from := rapid.SampledFrom(currencies).Draw(rt, "from")
			to := rapid.SampledFrom(currencies).Filter(func(c money.Currency) bool { return c != from }).Draw(rt, "to")
			return from, to, rapid.SampledFrom([]fx.Side{fx.SideSell, fx.SideBuy}).Draw(rt, "side")
		}

		rapid.Check(t, func(rt *rapid.T) {
			rt.Repeat(map[string]func(*rapid.T){
				"fund": func(rt *rapid.T) {
					u := rapid.SampledFrom(users).Draw(rt, "user")
					a := drawAmount(rt, rapid.SampledFrom(currencies).Draw(rt, "currency"))
					h.fund(u, a)
					bal[u.id][a.Currency] += a.Minor
				},
				"exchange": func(rt *rapid.T) {
					u := rapid.SampledFrom(users).Draw(rt, "user")
					from, to, side := drawPair(rt)
					fixed := from
					if side == fx.SideBuy {
						fixed = to
					}
					q, err := h.x.QuoteExchange(h.ctx, u.id, from, to, drawAmount(rt, fixed), side)
					if okpay.ErrorCode(err) == fx.EAmountTooSmall {
						rt.Skip("too small")
					}
					if err != nil {
						rt.Fatal(err)
					}
					o := op{from: u, to: u, quote: q.ID, key: h.key()}
					res, err := h.exchange(u, q.ID, o.key)
					var txn *wallet.Txn
					if res != nil {
						txn = res.Txn
					}
					outcome(rt, o, q.Quote, q.Fee, txn, err)
				},
				"remit": func(rt *rapid.T) {
					u := rapid.SampledFrom(users).Draw(rt, "from")
					v := rapid.SampledFrom(users).Filter(func(v *user) bool { return v != u }).Draw(rt, "to")
					from, to, side := drawPair(rt)
					fixed := from
					if side == fx.SideBuy {
						fixed = to
					}
					q, err := h.x.QuoteRemittance(h.ctx, wallet.RemittanceQuoteInput{UserID: u.id, From: from, To: to, Amount: drawAmount(rt, fixed), Side: side, Payee: v.email})
					if okpay.ErrorCode(err) == fx.EAmountTooSmall {
						rt.Skip("too small")
					}
					if err != nil {
						rt.Fatal(err)
					}
					if q.NeedsAuth {
						rt.Skip("above the step-up threshold")
					}
					o := op{remit: true, from: u, to: v, quote: q.ID, key: h.key()}
					res, err := h.remit(u, v, q.ID, o.key)
					var txn *wallet.Txn
					if res != nil {
						txn = res.Txn
					}
					outcome(rt, o, q.Quote, q.Fee, txn, err)
				},
				"transfer": func(rt *rapid.T) {
					u := rapid.SampledFrom(users).Draw(rt, "from")
					v := rapid.SampledFrom(users).Filter(func(v *user) bool { return v != u }).Draw(rt, "to")
					a := drawAmount(rt, rapid.SampledFrom(currencies).Draw(rt, "currency"))
					fee, _, err := h.fees.Quote(wallet.OpTransfer, wallet.MethodWallet, a)
					if err != nil {
						rt.Fatal(err)
					}
					res, err := h.send(u, v, a, h.key())
					want := bal[u.id][a.Currency] >= a.Minor+fee.Minor
					if want != (err == nil) || err != nil && okpay.ErrorCode(err) != ledger.EInsufficientFunds {
						rt.Fatalf("transfer of %s + %s (balance %d): %v", a, fee, bal[u.id][a.Currency], err)
					}
					if err == nil {
						if res.Txn.Status != wallet.StatusCompleted {
							rt.Fatalf("transfer: %+v", res.Txn)
						}
						bal[u.id][a.Currency] -= a.Minor + fee.Minor
						bal[v.id][a.Currency] += a.Minor
						fees[a.Currency] += fee.Minor
					}
				},
				"retry": func(rt *rapid.T) {
					if len(ops) == 0 {
						rt.Skip("nothing to retry")
					}
					o := rapid.SampledFrom(ops).Draw(rt, "op")
					var txn *wallet.Txn
					var err error
					if o.remit {
						var res *wallet.TransferResult
						res, err = h.remit(o.from, o.to, o.quote, o.key)
						if res != nil {
							txn = res.Txn
						}
					} else {
						var res *wallet.ExchangeResult
						res, err = h.exchange(o.from, o.quote, o.key)
						if res != nil {
							txn = res.Txn
						}
					}
					if okpay.ErrorCode(err) != o.code || txn == nil || txn.ID != o.txn {
						rt.Fatalf("retry of %s: %+v %v (first: txn %d, %q)", o.key, txn, err, o.txn, o.code)
					}
				},
				"reuse quote": func(rt *rapid.T) {
					if len(executed) == 0 {
						rt.Skip("no quote used")
					}
					o := rapid.SampledFrom(executed).Draw(rt, "op")
					var err error
					if o.remit {
						_, err = h.remit(o.from, o.to, o.quote, h.key())
					} else {
						_, err = h.exchange(o.from, o.quote, h.key())
					}
					if okpay.ErrorCode(err) != fx.EQuoteUsed {
						rt.Fatalf("a used quote again: %v", err)
					}
				},
				"expired quote": func(rt *rapid.T) {
					u := rapid.SampledFrom(users).Draw(rt, "user")
					from, to, _ := drawPair(rt)
					q, err := h.x.QuoteExchange(h.ctx, u.id, from, to, amt(maxAmount[from], from), fx.SideSell)
					if err != nil {
						rt.Fatal(err)
					}
					h.clock.Advance(fx.DefaultQuoteTTL)
					if _, err := h.exchange(u, q.ID, h.key()); okpay.ErrorCode(err) != fx.EQuoteExpired {
						rt.Fatalf("an expired quote: %v", err)
					}
				},
				"": check,
			})
		})
		h.verify()
	})
}
