package wallet_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/fee"
	"github.com/okpay/okpay/fx"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/identity/risk"
	"github.com/okpay/okpay/ledger"
	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
	"github.com/okpay/okpay/wallet"
)

// fxFees is the fee schedule of the exchange tests, read by package fee
// (the real one): exchanges 0.2%, remittances 0.5% with a minimum and a
// maximum in USD and JPY, transfers 0.1%; always rounded up.
const fxFees = `
[[rule]]
operation = "deposit"
currency = "*"
method = "any"

[[rule]]
operation = "transfer"
currency = "*"
method = "any"
percent_bp = 10

[[rule]]
operation = "exchange"
currency = "*"
method = "any"
percent_bp = 20

[[rule]]
operation = "remittance"
currency = "*"
method = "any"
percent_bp = 50

[[rule]]
operation = "remittance"
currency = "USD"
method = "any"
percent_bp = 50
min = "1.00"
max = "30.00"

[[rule]]
operation = "remittance"
currency = "JPY"
method = "any"
percent_bp = 50
min = "100"
max = "4000"
`

// scheduleFees adapts a fee schedule to the wallet: a transfer's method
// ("wallet") is none in the schedule's terms.
type scheduleFees struct{ s *fee.Schedule }

func (f scheduleFees) Quote(op, method string, a money.Amount) (money.Amount, string, error) {
	if method == wallet.MethodWallet {
		method = ""
	}
	return f.s.Quote(op, method, a)
}

// eurRates are the reference rates of the tests (EUR→X, ECB style); every
// other pair is a cross rate through EUR.
var eurRates = map[money.Currency]string{"USD": "1.0842", "JPY": "163.21", "KWD": "0.33341", "CNY": "7.8123", "GBP": "0.8412"}

// fxCurrencies are the wallet currencies of the exchange tests: the
// defaults and KWD (three decimals).
func fxConfig() wallet.Config {
	cs := append(wallet.DefaultCurrencies(), "KWD")
	levels := wallet.DefaultLevels()
	for i := range levels {
		levels[i].Daily["KWD"], levels[i].Monthly["KWD"] = 200_000*int64(i*9+1), 800_000*int64(i*9+1)
	}
	return wallet.Config{Currencies: cs, Levels: levels, StepUp: map[money.Currency]int64{
		"CNY": 2_000_00, "USD": 300_00, "EUR": 250_00, "GBP": 220_00, "JPY": 40_000, "HKD": 2_200_00, "RUB": 25_000_00, "KWD": 90_000}}
}

type fxHarness struct {
	*harness
	rates *fx.Service
	x     *wallet.Exchanger
	fees  scheduleFees
}

// newFXHarness is the wallet harness with the fee schedule above, KWD
// wallets, the rate service (rates set by an operator at t0) and the
// exchanger.
func newFXHarness(t testing.TB, db *sqldb.DB, cfg wallet.Config, fxCfg fx.Config) *fxHarness {
	t.Helper()
	h := newHarness(t, db, harnessOpts{cfg: cfg})
	sched, err := fee.Load([]byte(fxFees))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Velocity == (wallet.Velocity{}) {
		cfg.Velocity = roomy
	}
	if cfg.NewDeviceCap == (risk.DeviceCap{}) {
		cfg.NewDeviceCap = risk.DeviceCap{Percent: 100} // as newHarness: RSK-01 is risk_test.go's
	}
	w, err := wallet.New(h.ctx, wallet.Deps{DB: db, Ledger: h.ledger, Identity: h.id, Fees: scheduleFees{sched}, Provider: h.sandbox, Cards: h.cards,
		Catalog: sharedCatalog(t), Clock: h.clock, IDs: h.gen}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	h.w = w
	rates, err := fx.New(db, h.clock, h.gen, fxCfg)
	if err != nil {
		t.Fatal(err)
	}
	for c, v := range eurRates {
		if _, err := rates.SetRate(h.ctx, fx.SetRateInput{Base: "EUR", Quote: c, Rate: v, By: "admin:test"}); err != nil {
			t.Fatal(err)
		}
	}
	x, err := wallet.NewExchanger(h.ctx, w, rates)
	if err != nil {
		t.Fatal(err)
	}
	return &fxHarness{harness: h, rates: rates, x: x, fees: scheduleFees{sched}}
}

func amt(minor int64, c money.Currency) money.Amount { return money.New(minor, c) }

// quote asks for an exchange quote that must succeed.
func (h *fxHarness) quote(u *user, from, to money.Currency, a money.Amount, side fx.Side) *wallet.ExchangeQuote {
	h.t.Helper()
	q, err := h.x.QuoteExchange(h.ctx, u.id, from, to, a, side)
	if err != nil {
		h.t.Fatalf("quote %s %s→%s %s: %v", side, from, to, a, err)
	}
	return q
}

func (h *fxHarness) exchange(u *user, quoteID int64, key string) (*wallet.ExchangeResult, error) {
	return h.x.Exchange(h.ctx, wallet.ExchangeInput{UserID: u.id, QuoteID: quoteID, Key: key, Meta: h.meta})
}

// system returns a system account of the wallet (fx:spread included).
func (h *fxHarness) system(name string, c money.Currency) *ledger.Account {
	h.t.Helper()
	a, err := h.ledger.FindAccountByCode(h.ctx, name+":"+string(c))
	if err != nil {
		h.t.Fatal(err)
	}
	return a
}

// TestExchangeExactAmounts executes exchanges between currencies of 0, 2
// and 3 decimals, sell and buy side, direct and cross rates, and checks
// every amount to the minor unit against values worked out by hand with
// exact fractions: the customer receives the floor and pays the ceiling,
// the liquidity side takes the mid-rate value rounded up, the spread and
// the fee (rounded up) are booked apart (LEDGER.md "FX").
func TestExchangeExactAmounts(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newFXHarness(t, db, fxConfig(), fx.Config{})
		alice := h.signUp()
		for _, c := range []money.Currency{"USD", "JPY", "EUR", "KWD"} {
			h.fund(alice, amt(1_000_000, c))
		}
		type totals struct{ liq, spread, fees int64 }
		want := map[money.Currency]*totals{}
		for _, c := range []money.Currency{"USD", "JPY", "EUR", "KWD"} {
			want[c] = &totals{}
		}
		for _, c := range []struct {
			name                          string
			from, to                      money.Currency
			side                          fx.Side
			amount                        int64
			sell, buy, atMid, spread, fee int64
			postings                      int
		}{
			// mid USD→JPY = 163.21/1.0842 = 150.5349…, less 0.5%: $100.00
			// buys ¥14,978.22 → ¥14,978; at mid ¥14,978 is worth $99.4985…
			// → $99.50; spread $0.50; fee 0.2% = $0.20.
			{"USD→JPY sell", "USD", "JPY", fx.SideSell, 100_00, 100_00, 14978, 99_50, 50, 20, 4},
			// Buying $10.00 costs ¥1,512.06… → ¥1,513 (rounded up); at mid
			// $10.00 is ¥1,505.35… → ¥1,506; fee ⌈¥3.026⌉ = ¥4.
			{"JPY→USD buy", "JPY", "USD", fx.SideBuy, 10_00, 1513, 10_00, 1506, 7, 4, 4},
			// EUR→KWD direct: €250.00 buys KWD 82.935 (82.9355…, floored to
			// the fils); fee €0.50.
			{"EUR→KWD sell", "EUR", "KWD", fx.SideSell, 250_00, 250_00, 82_935, 248_75, 1_25, 50, 4},
			// KWD→JPY cross: KWD 1.234 buys ¥601 (601.06…); at mid ¥601 is
			// KWD 1.2278… → 1.228; spread 6 fils; fee ⌈2.468⌉ = 3 fils.
			{"KWD→JPY sell", "KWD", "JPY", fx.SideSell, 1_234, 1_234, 601, 1_228, 6, 3, 4},
			// The smallest KWD: 5 fils cost 1.63… → 2 cents, which is also
			// their mid value rounded up: no spread posting; fee ⌈0.004⌉ = 1 cent.
			{"USD→KWD buy, no spread", "USD", "KWD", fx.SideBuy, 5, 2, 5, 2, 0, 1, 3},
		} {
			t.Run(c.name, func(t *testing.T) {
				fixed := c.from
				if c.side == fx.SideBuy {
					fixed = c.to
				}
				beforeFrom, beforeTo := h.balance(alice, c.from).Available, h.balance(alice, c.to).Available
				q := h.quote(alice, c.from, c.to, amt(c.amount, fixed), c.side)
				if q.Sell != amt(c.sell, c.from) || q.Buy != amt(c.buy, c.to) || q.SellAtMid != amt(c.atMid, c.from) || q.Spread != amt(c.spread, c.from) ||
					q.Fee != amt(c.fee, c.from) || q.Total != amt(c.sell+c.fee, c.from) || q.FeeRule != "exchange/*/any" {
					t.Fatalf("quote: sell %s buy %s at mid %s spread %s fee %s (%s) total %s", q.Sell, q.Buy, q.SellAtMid, q.Spread, q.Fee, q.FeeRule, q.Total)
				}
				if !q.ExpiresAt.Equal(h.clock.Now().Add(fx.DefaultQuoteTTL)) || q.Rate.Cmp(q.MidRate) >= 0 || q.SpreadBP != fx.DefaultSpreadBP || !strings.HasPrefix(q.Ref(), "fxq_") {
					t.Fatalf("quote: expires %s, rate %s mid %s spread %d bp", q.ExpiresAt, q.Rate, q.MidRate, q.SpreadBP)
				}
				res, err := h.exchange(alice, q.ID, h.key())
				if err != nil {
					t.Fatal(err)
				}
				txn := res.Txn
				if txn.Type != wallet.TypeExchange || txn.Status != wallet.StatusCompleted || txn.Amount != q.Sell || txn.Other != q.Buy || txn.Fee != q.Fee ||
					txn.ProviderRef != q.Ref() || txn.EntryID == 0 || txn.Direction() != "exchange" || txn.Total() != q.Total {
					t.Fatalf("txn: %+v", txn)
				}
				if r, ok := txn.FXRate(); !ok || r.Cmp(q.Rate) != 0 || r.Base != c.from || r.Quote != c.to {
					t.Fatalf("txn rate %q: %v %v", txn.Rate, r, ok)
				}
				if got := h.balance(alice, c.from).Available; got.Minor != beforeFrom.Minor-c.sell-c.fee {
					t.Fatalf("%s wallet: %s, was %s", c.from, got, beforeFrom)
				}
				if got := h.balance(alice, c.to).Available; got.Minor != beforeTo.Minor+c.buy {
					t.Fatalf("%s wallet: %s, was %s", c.to, got, beforeTo)
				}
				// The entry: one atomic entry, single-currency postings.
				e, err := h.ledger.FindEntryByID(h.ctx, txn.EntryID)
				if err != nil {
					t.Fatal(err)
				}
				if e.Entry.Type != wallet.EntryExchange || len(e.Entry.Postings) != c.postings || e.Entry.Metadata["quote"] != q.Ref() || e.Entry.Metadata["rate"] != q.Rate.Exact() {
					t.Fatalf("entry: %+v", e.Entry)
				}
				sums := map[money.Currency]int64{}
				for _, p := range e.Entry.Postings {
					sums[p.Currency] += p.Amount
				}
				if sums[c.from] != c.sell+c.fee || sums[c.to] != c.buy {
					t.Fatalf("postings: %+v", e.Entry.Postings)
				}
				want[c.from].liq += c.atMid
				want[c.to].liq -= c.buy
				want[c.from].spread += c.spread
				want[c.from].fees += c.fee
			})
		}
		pos, err := h.x.Positions(h.ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pos {
			w := want[p.Currency]
			if w == nil {
				w = &totals{}
			}
			if p.Liquidity.Minor != w.liq || p.Spread.Minor != w.spread {
				t.Errorf("%s position: %+v, want liquidity %d spread %d", p.Currency, p, w.liq, w.spread)
			}
			if got := h.system(wallet.SysFeeRevenue, p.Currency).Balance.Posted(); got != w.fees {
				t.Errorf("%s fee revenue %d, want %d", p.Currency, got, w.fees)
			}
		}
		// The house's JPY liquidity is short (customers bought more yen
		// than they sold): allowed, it is a house account.
		if want["JPY"].liq >= 0 {
			t.Fatalf("the test should leave JPY liquidity short: %d", want["JPY"].liq)
		}
		// Notices: email and in-app, with the amounts and a freeze link.
		if k := h.outboxKinds(alice.id); k["exchange_completed/email"] != 5 || k["exchange_completed/inapp"] != 5 || k["exchange_completed/sms"] != 0 {
			t.Fatalf("notices: %v", k)
		}
		mail := h.messages(alice.email, wallet.NoticeExchangeCompleted)
		if len(mail) == 0 || !strings.Contains(mail[0].Body, "KWD") || !strings.Contains(mail[0].Body, "https://okpay.test/freeze/") {
			t.Fatalf("mail: %+v", mail)
		}
		h.verify()
	})
}

// TestExchangeQuoteExpiryBoundary: a quote works until the last
// microsecond before ExpiresAt and not at it; an expired quote records
// nothing and moves nothing, so the key can carry a fresh quote.
func TestExchangeQuoteExpiryBoundary(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newFXHarness(t, db, fxConfig(), fx.Config{QuoteTTL: 2 * time.Minute})
		alice := h.signUp()
		h.fund(alice, usd(1000_00))

		q := h.quote(alice, "USD", "EUR", usd(10_00), fx.SideSell)
		h.clock.Advance(2*time.Minute - time.Microsecond)
		if res, err := h.exchange(alice, q.ID, h.key()); err != nil || res.Txn.Status != wallet.StatusCompleted {
			t.Fatalf("just before expiry: %+v %v", res, err)
		}

		q = h.quote(alice, "USD", "EUR", usd(20_00), fx.SideSell)
		h.clock.Advance(2 * time.Minute)
		key := h.key()
		_, err := h.exchange(alice, q.ID, key)
		wantCode(t, err, fx.EQuoteExpired)
		if txn, _ := h.w.FindTransactions(h.ctx, alice.id, wallet.Filter{}); len(txn.Txns) != 1 {
			t.Fatalf("an expired quote left a row: %+v", txn.Txns)
		}
		if got := h.balance(alice, "USD").Available; got != usd(1000_00-10_00-2) {
			t.Fatalf("USD: %s", got)
		}
		if q2, _ := h.rates.FindQuote(h.ctx, q.ID, alice.id); !q2.TakenAt.IsZero() {
			t.Fatal("the expired quote was taken")
		}
		// The same key with a fresh quote.
		q = h.quote(alice, "USD", "EUR", usd(20_00), fx.SideSell)
		if res, err := h.exchange(alice, q.ID, key); err != nil || res.Txn.Amount != usd(20_00) {
			t.Fatalf("fresh quote: %+v %v", res, err)
		}
		h.verify()
	})
}

// TestExchangeQuoteUsedForeignAndIdempotent: a quote executes once; a
// retry with its key returns the same exchange; another key gets
// fx_quote_used; another user cannot see it; a key carries one quote.
func TestExchangeQuoteUsedForeignAndIdempotent(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newFXHarness(t, db, fxConfig(), fx.Config{})
		alice, mallory := h.signUp(), h.signUp()
		h.fund(alice, usd(1000_00))
		h.fund(mallory, usd(1000_00))

		q := h.quote(alice, "USD", "JPY", usd(50_00), fx.SideSell)
		_, err := h.exchange(mallory, q.ID, h.key())
		wantCode(t, err, okpay.ENotFound)

		key := h.key()
		first, err := h.exchange(alice, q.ID, key)
		if err != nil {
			t.Fatal(err)
		}
		again, err := h.exchange(alice, q.ID, key)
		if err != nil || again.Txn.ID != first.Txn.ID || again.Txn.EntryID != first.Txn.EntryID {
			t.Fatalf("retry: %+v %v", again, err)
		}
		_, err = h.exchange(alice, q.ID, h.key())
		wantCode(t, err, fx.EQuoteUsed)
		other := h.quote(alice, "USD", "JPY", usd(50_00), fx.SideSell)
		_, err = h.exchange(alice, other.ID, key)
		wantCode(t, err, wallet.EIdempotencyKeyReused)
		// The key of a transfer cannot carry an exchange either.
		bob := h.signUp()
		tkey := h.key()
		if _, err := h.send(alice, bob, usd(1_00), tkey); err != nil {
			t.Fatal(err)
		}
		_, err = h.exchange(alice, other.ID, tkey)
		wantCode(t, err, wallet.EIdempotencyKeyReused)

		if got := h.balance(alice, "USD").Available; got != usd(1000_00-50_10) {
			t.Fatalf("USD: %s", got)
		}
		if got := h.balance(alice, "JPY").Available; got.Minor != first.Txn.Other.Minor {
			t.Fatalf("JPY: %s", got)
		}
		if got := h.balance(mallory, "JPY"); got.Posted.Minor != 0 {
			t.Fatalf("mallory: %+v", got)
		}
		h.verify()
	})
}

// TestExchangeRefusalKeepsQuote: insufficient funds or a frozen account
// refuse the exchange in the ledger's transaction: the failure is
// recorded under the key (a retry returns it), and the take of the quote
// is rolled back with the rest, so the quote still works with a new key.
func TestExchangeRefusalKeepsQuote(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newFXHarness(t, db, fxConfig(), fx.Config{})
		alice := h.signUp()
		h.fund(alice, usd(100_00))

		q := h.quote(alice, "USD", "GBP", usd(100_00), fx.SideSell) // the fee takes it over the balance
		key := h.key()
		res, err := h.exchange(alice, q.ID, key)
		wantCode(t, err, ledger.EInsufficientFunds)
		if res == nil || res.Txn.Status != wallet.StatusFailed || res.Txn.FailureCode != ledger.EInsufficientFunds || res.Txn.EntryID != 0 {
			t.Fatalf("refused exchange: %+v", res)
		}
		if got, _ := h.rates.FindQuote(h.ctx, q.ID, alice.id); !got.TakenAt.IsZero() {
			t.Fatal("a refused exchange used the quote")
		}
		if k := h.outboxKinds(alice.id); k["exchange_completed/email"] != 0 {
			t.Fatalf("a refused exchange notified: %v", k)
		}
		h.fund(alice, usd(20))
		again, err := h.exchange(alice, q.ID, key)
		wantCode(t, err, ledger.EInsufficientFunds)
		if again.Txn.ID != res.Txn.ID {
			t.Fatal("a retry of a failed exchange made a new one")
		}
		done, err := h.exchange(alice, q.ID, h.key())
		if err != nil || done.Txn.Status != wallet.StatusCompleted {
			t.Fatalf("the quote after the refusal: %+v %v", done, err)
		}
		if got := h.balance(alice, "USD").Available; got.Minor != 0 {
			t.Fatalf("USD: %s", got)
		}

		// Frozen: refused at the gate, recorded, quote unused.
		h.fund(alice, usd(10_00))
		q = h.quote(alice, "USD", "GBP", usd(5_00), fx.SideSell)
		if err := h.id.Freeze(h.ctx, alice.id, "test", "system", h.meta); err != nil {
			t.Fatal(err)
		}
		res, err = h.exchange(alice, q.ID, h.key())
		wantCode(t, err, identity.EAccountFrozen)
		if res.Txn.Status != wallet.StatusFailed || h.w.FailureText(res.Txn, "zh-CN") == res.Txn.FailureReason {
			t.Fatalf("frozen: %+v", res.Txn)
		}
		if got, _ := h.rates.FindQuote(h.ctx, q.ID, alice.id); !got.TakenAt.IsZero() {
			t.Fatal("a frozen account's exchange used the quote")
		}
		h.verify()
	})
}

// TestExchangeConcurrentSameQuote: many exchanges of one quote at once,
// each with its own key: exactly one executes, the others get
// fx_quote_used; many with one key: one exchange, returned to all.
func TestExchangeConcurrentSameQuote(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newFXHarness(t, db, fxConfig(), fx.Config{})
		alice := h.signUp()
		h.fund(alice, usd(1000_00))

		q := h.quote(alice, "USD", "CNY", usd(100_00), fx.SideSell)
		const n = 8
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = h.exchange(alice, q.ID, h.key())
			}()
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch okpay.ErrorCode(err) {
			case "":
				ok++
			case fx.EQuoteUsed:
			default:
				t.Fatalf("unexpected: %v", err)
			}
		}
		if ok != 1 {
			t.Fatalf("%d exchanges of one quote", ok)
		}
		if got := h.balance(alice, "CNY").Available; got != q.Buy {
			t.Fatalf("CNY: %s, want %s", got, q.Buy)
		}

		q = h.quote(alice, "USD", "CNY", usd(100_00), fx.SideSell)
		key := h.key()
		ids := make([]int64, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := h.exchange(alice, q.ID, key)
				errs[i] = err
				if err == nil {
					ids[i] = r.Txn.ID
				}
			}()
		}
		wg.Wait()
		for i := range ids {
			if errs[i] != nil || ids[i] != ids[0] {
				t.Fatalf("duplicate %d: %d %v (first %d)", i, ids[i], errs[i], ids[0])
			}
		}
		if got := h.balance(alice, "USD").Available; got != usd(1000_00-2*100_20) {
			t.Fatalf("USD: %s", got)
		}
		h.verify()
	})
}

// TestExchangeRequests: what is refused before a quote is stored, and a
// stale rate.
func TestExchangeRequests(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newFXHarness(t, db, fxConfig(), fx.Config{})
		alice := h.signUp()
		for _, c := range []struct {
			name     string
			from, to money.Currency
			amount   money.Amount
			side     fx.Side
			code     string
		}{
			{"currency not held", "USD", "CHF", usd(1_00), fx.SideSell, wallet.ECurrencyNotSupported},
			{"same currency", "USD", "USD", usd(1_00), fx.SideSell, okpay.EInvalid},
			{"zero", "USD", "EUR", usd(0), fx.SideSell, okpay.EInvalid},
			{"wrong side currency", "USD", "EUR", usd(1_00), fx.SideBuy, okpay.EInvalid},
			{"bad side", "USD", "EUR", usd(1_00), "both", okpay.EInvalid},
			{"too small", "JPY", "USD", amt(1, "JPY"), fx.SideSell, fx.EAmountTooSmall},
		} {
			t.Run(c.name, func(t *testing.T) {
				_, err := h.x.QuoteExchange(h.ctx, alice.id, c.from, c.to, c.amount, c.side)
				wantCode(t, err, c.code)
			})
		}
		q := h.quote(alice, "USD", "EUR", usd(1_00), fx.SideSell)
		_, err := h.x.Exchange(h.ctx, wallet.ExchangeInput{UserID: alice.id, QuoteID: q.ID, Meta: h.meta})
		wantCode(t, err, okpay.EInvalid) // no key
		h.clock.Advance(fx.DefaultMaxAge + time.Minute)
		_, err = h.x.QuoteExchange(h.ctx, alice.id, "USD", "EUR", usd(1_00), fx.SideSell)
		wantCode(t, err, fx.ERateStale)
	})
}

// TestExchangeIdemStoresTheResponse: an HTTP Idempotency-Key record
// passed through is stored in the exchange's own transaction and
// replayed; the same key with another request is refused.
func TestExchangeIdemStoresTheResponse(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newFXHarness(t, db, fxConfig(), fx.Config{})
		alice := h.signUp()
		h.fund(alice, usd(100_00))
		renders := 0
		idem := func(hash string) *wallet.Idem {
			return &wallet.Idem{Principal: alice.ref(), Key: "http-key-1", RequestHash: []byte(hash),
				Render: func(txn *wallet.Txn, err error) (int, []byte, bool) {
					renders++
					if err != nil {
						return 422, []byte(okpay.ErrorCode(err)), true
					}
					if txn == nil {
						return 0, nil, false
					}
					return 201, []byte(txn.Ref()), true
				}}
		}
		q := h.quote(alice, "USD", "GBP", usd(10_00), fx.SideSell)
		in := wallet.ExchangeInput{UserID: alice.id, QuoteID: q.ID, Key: "http-key-1", Idem: idem("body-1"), Meta: h.meta}
		first, err := h.x.Exchange(h.ctx, in)
		if err != nil || first.Txn == nil || first.Txn.Status != wallet.StatusCompleted || renders != 1 {
			t.Fatalf("first: %+v %v (renders %d)", first, err, renders)
		}
		again, err := h.x.Exchange(h.ctx, in)
		if err != nil || again.Response == nil || !again.Response.Replayed || string(again.Response.Body) != first.Txn.Ref() || again.Response.Status != 201 {
			t.Fatalf("replay: %+v %v", again, err)
		}
		in.Idem = idem("body-2")
		_, err = h.x.Exchange(h.ctx, in)
		wantCode(t, err, wallet.EIdempotencyKeyReused)
		if got := h.balance(alice, "USD").Available; got != usd(100_00-10_02) {
			t.Fatalf("USD: %s", got)
		}
		if got := h.balance(alice, "GBP").Available; got != q.Buy {
			t.Fatalf("GBP: %s", got)
		}
	})
}
