package fx_test

import (
	"context"
	"database/sql"
	"errors"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/clock"
	"github.com/okpay/okpay/fx"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

// fixingTime is the as_of of the daily fixture (2026-01-09, 14:10 CET).
var fixingTime = time.Date(2026, 1, 9, 13, 10, 0, 0, time.UTC)

type harness struct {
	t     *testing.T
	ctx   context.Context
	db    *sqldb.DB
	clock *clock.Manual
	svc   *fx.Service
}

func newHarness(t *testing.T, db *sqldb.DB, cfg fx.Config) *harness {
	t.Helper()
	h := &harness{t: t, ctx: context.Background(), db: db, clock: clock.NewManual(fixingTime.Add(2 * time.Hour))}
	svc, err := fx.New(db, h.clock, &ids.Sequence{}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.svc = svc
	return h
}

func (h *harness) importECB(name string) fx.ImportResult {
	h.t.Helper()
	res, err := h.svc.ImportECB(h.ctx, strings.NewReader(readFile(h.t, name)))
	if err != nil {
		h.t.Fatalf("ImportECB(%s): %v", name, err)
	}
	return res
}

func (h *harness) quote(user int64, from, to money.Currency, amount string, side fx.Side) (*fx.Quote, error) {
	h.t.Helper()
	c := from
	if side == fx.SideBuy {
		c = to
	}
	a, err := money.Parse(amount, c)
	if err != nil {
		h.t.Fatal(err)
	}
	return h.svc.Quote(h.ctx, user, from, to, a, side)
}

func (h *harness) mustQuote(user int64, from, to money.Currency, amount string, side fx.Side) *fx.Quote {
	h.t.Helper()
	q, err := h.quote(user, from, to, amount, side)
	if err != nil {
		h.t.Fatalf("Quote %s %s→%s %s: %v", side, from, to, amount, err)
	}
	return q
}

func (h *harness) take(id, user int64) (*fx.Quote, error) {
	var q *fx.Quote
	err := h.db.InTx(h.ctx, func(tx *sql.Tx) error {
		var err error
		q, err = h.svc.Take(h.ctx, tx, id, user)
		return err
	})
	return q, err
}

func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if got := okpay.ErrorCode(err); got != code {
		t.Fatalf("%s: code %q (%v), want %q", what, got, err, code)
	}
}

func TestImportAndCrossRates(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db, fx.Config{})
		res := h.importECB("testdata/eurofxref-daily.xml")
		if res.Inserted != 29 || res.Unchanged != 0 {
			t.Fatalf("first import %+v", res)
		}
		// Importing the same feed again changes nothing.
		if res := h.importECB("testdata/eurofxref-daily.xml"); res.Inserted != 0 || res.Unchanged != 29 {
			t.Fatalf("re-import %+v", res)
		}
		latest, err := h.svc.Latest(h.ctx)
		if err != nil || len(latest) != 29 {
			t.Fatalf("Latest: %d, %v", len(latest), err)
		}

		// Direct: EUR→CNY as published; CNY→EUR its exact inverse.
		d, err := h.svc.MidRate(h.ctx, "EUR", "CNY")
		if err != nil || d.Rate.Exact() != "8.2012" || d.Source != "ecb EUR/CNY" || !d.AsOf.Equal(fixingTime) {
			t.Fatalf("EUR→CNY: %+v, %v", d, err)
		}
		d, err = h.svc.MidRate(h.ctx, "CNY", "EUR")
		if err != nil || d.Rate.Exact() != "2500/20503" {
			t.Fatalf("CNY→EUR: %v, %v", d.Rate.Exact(), err)
		}
		// Cross through EUR, exactly: CNY→JPY = EUR→JPY / EUR→CNY.
		d, err = h.svc.MidRate(h.ctx, "CNY", "JPY")
		if err != nil {
			t.Fatal(err)
		}
		want := new(big.Rat).Quo(big.NewRat(18247, 100), big.NewRat(82012, 10000))
		if d.Rate.Rat().Cmp(want) != 0 || d.Rate.Base != "CNY" || d.Rate.Quote != "JPY" {
			t.Errorf("CNY→JPY = %s, want %s", d.Rate.Exact(), want.RatString())
		}
		if d.Source != "ecb EUR/CNY × ecb EUR/JPY" || len(d.Legs) != 2 {
			t.Errorf("CNY→JPY source %q", d.Source)
		}
		// GBP→USD = 1.1658 / 0.86735 = 116580/86735 = 23316/17347.
		d, err = h.svc.MidRate(h.ctx, "GBP", "USD")
		if err != nil || d.Rate.Exact() != "23316/17347" {
			t.Errorf("GBP→USD = %v, %v", d.Rate.Exact(), err)
		}

		// A currency the feed does not carry.
		_, err = h.svc.MidRate(h.ctx, "CNY", "RUB")
		wantCode(t, "CNY→RUB", err, fx.ERateUnavailable)
		_, err = h.svc.MidRate(h.ctx, "CNY", "CNY")
		wantCode(t, "CNY→CNY", err, okpay.EInvalid)

		// The rates file adds direct pairs, RUB among them.
		h.clock.Set(time.Date(2026, 1, 12, 2, 0, 0, 0, time.UTC))
		fres, err := h.svc.ImportFile(h.ctx, strings.NewReader(readFile(t, "testdata/rates.csv")))
		if err != nil || fres.Inserted != 4 {
			t.Fatalf("ImportFile: %+v, %v", fres, err)
		}
		d, err = h.svc.MidRate(h.ctx, "RUB", "GBP")
		if err != nil || d.Rate.Exact() != "4/417" || d.Source != "file GBP/RUB" {
			t.Errorf("RUB→GBP = %+v, %v", d, err)
		}
		// A fresh direct rate wins over the cross rate.
		d, err = h.svc.MidRate(h.ctx, "USD", "CNY")
		if err != nil || d.Rate.Exact() != "7.0321" {
			t.Errorf("USD→CNY = %v, %v", d.Rate.Exact(), err)
		}

		// A batch dated in the future is refused as a whole.
		_, err = h.svc.ImportFile(h.ctx, strings.NewReader("base,quote,rate,as_of\nEUR,CNY,9,2026-01-12T04:00:00Z\n"))
		wantCode(t, "future rate", err, okpay.EInvalid)
		_, err = h.svc.ImportFile(h.ctx, strings.NewReader("base,quote,rate\nEUR,CNY,9\n"))
		wantCode(t, "bad file", err, okpay.EInvalid)
		_, err = h.svc.ImportECB(h.ctx, strings.NewReader("<x/>"))
		wantCode(t, "bad feed", err, okpay.EInvalid)
		_, err = h.svc.Import(h.ctx, "Bad Source", &fx.Batch{})
		wantCode(t, "bad source", err, okpay.EInvalid)
	})
}

func TestSetRate(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db, fx.Config{})
		h.importECB("testdata/eurofxref-daily.xml")
		before, _ := h.svc.MidRate(h.ctx, "USD", "CNY")

		rec, err := h.svc.SetRate(h.ctx, fx.SetRateInput{Base: "USD", Quote: "CNY", Rate: "7.0123", By: "admin:7", Note: "bank call"})
		if err != nil {
			t.Fatal(err)
		}
		if rec.CreatedBy != "admin:7" || rec.Source != fx.SourceAdmin || !rec.AsOf.Equal(h.clock.Now()) || rec.Rate.Exact() != "7.0123" || rec.Note != "bank call" {
			t.Errorf("record %+v", rec)
		}
		// The operator's direct rate overrides the cross rate, both ways.
		d, err := h.svc.MidRate(h.ctx, "USD", "CNY")
		if err != nil || d.Rate.Exact() != "7.0123" || d.Source != "admin USD/CNY" {
			t.Errorf("USD→CNY after SetRate: %+v, %v", d, err)
		}
		d, _ = h.svc.MidRate(h.ctx, "CNY", "USD")
		if d.Rate.Exact() != "10000/70123" {
			t.Errorf("CNY→USD = %s", d.Rate.Exact())
		}
		// A later rate for the reverse pair wins over the earlier one.
		h.clock.Advance(time.Minute)
		if _, err := h.svc.SetRate(h.ctx, fx.SetRateInput{Base: "CNY", Quote: "USD", Rate: "0.142", By: "admin:8"}); err != nil {
			t.Fatal(err)
		}
		d, _ = h.svc.MidRate(h.ctx, "USD", "CNY")
		if d.Rate.Exact() != "500/71" || d.Source != "admin CNY/USD" {
			t.Errorf("USD→CNY after the reverse rate: %s from %s", d.Rate.Exact(), d.Source)
		}
		hist, err := h.svc.History(h.ctx, fx.Pair{Base: "USD", Quote: "CNY"}, 10)
		if err != nil || len(hist) != 1 || hist[0].ID != rec.ID {
			t.Errorf("History: %v, %v", hist, err)
		}

		// Once the operator's rate is stale, the fresh cross rate serves.
		h.importECB("testdata/eurofxref-daily.xml") // nothing new
		h.clock.Set(fixingTime.Add(2*time.Hour + fx.DefaultMaxAge + 2*time.Minute))
		_, err = h.svc.MidRate(h.ctx, "USD", "CNY")
		wantCode(t, "everything stale", err, fx.ERateStale)
		next := strings.ReplaceAll(readFile(t, "testdata/eurofxref-daily.xml"), "2026-01-09", "2026-01-13")
		if _, err := h.svc.ImportECB(h.ctx, strings.NewReader(next)); err != nil {
			t.Fatal(err)
		}
		d, err = h.svc.MidRate(h.ctx, "USD", "CNY")
		if err != nil || d.Rate.Rat().Cmp(before.Rate.Rat()) != 0 || d.Source != "ecb EUR/USD × ecb EUR/CNY" {
			t.Errorf("USD→CNY with a stale operator rate: %+v, %v", d, err)
		}

		for _, in := range []fx.SetRateInput{
			{Base: "USD", Quote: "CNY", Rate: "7.01", By: ""},
			{Base: "USD", Quote: "USD", Rate: "1", By: "a"},
			{Base: "USD", Quote: "CNY", Rate: "7,01", By: "a"},
			{Base: "USD", Quote: "CNY", Rate: "0", By: "a"},
			{Base: "USD", Quote: "CNY", Rate: "7", By: "a", Note: strings.Repeat("n", 201)},
		} {
			_, err := h.svc.SetRate(h.ctx, in)
			wantCode(t, "SetRate "+in.Rate, err, okpay.EInvalid)
		}
	})
}

// TestStaleRateRefusal: a rate serves quotes up to exactly MaxAge old, and
// not a microsecond longer.
func TestStaleRateRefusal(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db, fx.Config{MaxAge: 48 * time.Hour})
		h.importECB("testdata/eurofxref-daily.xml")
		h.clock.Set(fixingTime.Add(48 * time.Hour))
		h.mustQuote(1, "CNY", "JPY", "100.00", fx.SideSell)
		h.clock.Advance(time.Microsecond)
		_, err := h.quote(1, "CNY", "JPY", "100.00", fx.SideSell)
		wantCode(t, "quote on a stale cross rate", err, fx.ERateStale)
		if !strings.Contains(okpay.ErrorMessage(err), "2026-01-09 13:10 UTC") {
			t.Errorf("message %q does not say how old the rate is", okpay.ErrorMessage(err))
		}
		_, err = h.quote(1, "EUR", "USD", "100.00", fx.SideSell)
		wantCode(t, "quote on a stale direct rate", err, fx.ERateStale)
		// A new fixing cures it.
		next := strings.ReplaceAll(readFile(t, "testdata/eurofxref-daily.xml"), "2026-01-09", "2026-01-11")
		if _, err := h.svc.ImportECB(h.ctx, strings.NewReader(next)); err != nil {
			t.Fatal(err)
		}
		h.mustQuote(1, "CNY", "JPY", "100.00", fx.SideSell)
	})
}

func sameQuote(t *testing.T, what string, a, b *fx.Quote) {
	t.Helper()
	if a.ID != b.ID || a.UserID != b.UserID || a.From != b.From || a.To != b.To || a.Side != b.Side ||
		a.Sell != b.Sell || a.Buy != b.Buy || a.Rate.Exact() != b.Rate.Exact() || a.MidRate.Exact() != b.MidRate.Exact() ||
		a.SpreadBP != b.SpreadBP || a.SellAtMid != b.SellAtMid || a.Spread != b.Spread || a.RateSource != b.RateSource ||
		!a.RateAsOf.Equal(b.RateAsOf) || !a.CreatedAt.Equal(b.CreatedAt) || !a.ExpiresAt.Equal(b.ExpiresAt) {
		t.Errorf("%s: %+v\n differs from %+v", what, a, b)
	}
}

func TestQuote(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db, fx.Config{SpreadBP: map[fx.Pair]int{{Base: "USD", Quote: "KWD"}: 80, {Base: "KWD", Quote: "USD"}: 30}})
		h.importECB("testdata/eurofxref-daily.xml")

		// Sell 1000.00 CNY for JPY at 182.47/8.2012 less 50 bp:
		// 1000 × 456175/20503 × 0.995 = 22137.93… → 22137 JPY (floor).
		// At mid 22137 JPY cost 994.95… CNY → 994.96 to liquidity; the
		// remaining 5.04 CNY is spread revenue.
		q := h.mustQuote(42, "CNY", "JPY", "1000.00", fx.SideSell)
		if q.Sell != money.New(100000, "CNY") || q.Buy != money.New(22137, "JPY") ||
			q.SellAtMid != money.New(99496, "CNY") || q.Spread != money.New(504, "CNY") || q.SpreadBP != 50 {
			t.Errorf("sell quote: sell %v buy %v at mid %v spread %v (%d bp)", q.Sell, q.Buy, q.SellAtMid, q.Spread, q.SpreadBP)
		}
		if q.MidRate.Exact() != "456175/20503" || q.Rate.Exact() != "3631153/164024" || q.Rate.String() != "22.137937" {
			t.Errorf("rates: mid %s, customer %s (%s)", q.MidRate.Exact(), q.Rate.Exact(), q.Rate.String())
		}
		if q.Effective().Cmp(q.Rate) > 0 || q.Effective().Exact() != "22.137" {
			t.Errorf("effective rate %s", q.Effective().Exact())
		}
		if !q.ExpiresAt.Equal(h.clock.Now().Add(fx.DefaultQuoteTTL)) || !q.RateAsOf.Equal(fixingTime) || q.RateSource != "ecb EUR/CNY × ecb EUR/JPY" {
			t.Errorf("times/source: %v %v %q", q.ExpiresAt, q.RateAsOf, q.RateSource)
		}
		if !strings.HasPrefix(q.Ref(), "fxq_") {
			t.Errorf("Ref %q", q.Ref())
		}
		if id, ok := fx.ParseQuoteRef(q.Ref()); !ok || id != q.ID {
			t.Errorf("ParseQuoteRef(%q) = %d, %v", q.Ref(), id, ok)
		}
		// Stored exactly as shown.
		stored, err := h.svc.FindQuote(h.ctx, q.ID, 42)
		if err != nil {
			t.Fatal(err)
		}
		sameQuote(t, "stored quote", q, stored)
		_, err = h.svc.FindQuote(h.ctx, q.ID, 43)
		wantCode(t, "another user's quote", err, okpay.ENotFound)

		// Buy exactly 10000 JPY: pay 451.72 CNY (ceiling).
		q = h.mustQuote(42, "CNY", "JPY", "10000", fx.SideBuy)
		if q.Sell != money.New(45172, "CNY") || q.Buy != money.New(10000, "JPY") || q.SellAtMid != money.New(44946, "CNY") {
			t.Errorf("buy quote: sell %v buy %v at mid %v", q.Sell, q.Buy, q.SellAtMid)
		}

		// The ledger legs balance per currency and add up to the quote.
		var fromOut, toIn, liqFrom, liqTo, revenue int64
		for _, l := range q.Legs() {
			if l.Amount.Minor <= 0 {
				t.Errorf("leg %+v is not positive", l)
			}
			switch {
			case l.Debit == fx.RoleCustomer && l.Amount.Currency == q.From:
				fromOut += l.Amount.Minor
				if l.Credit == fx.RoleLiquidity {
					liqFrom += l.Amount.Minor
				} else if l.Credit == fx.RoleSpreadRevenue {
					revenue += l.Amount.Minor
				}
			case l.Credit == fx.RoleCustomer && l.Debit == fx.RoleLiquidity && l.Amount.Currency == q.To:
				toIn += l.Amount.Minor
				liqTo += l.Amount.Minor
			default:
				t.Errorf("unexpected leg %+v", l)
			}
		}
		if fromOut != q.Sell.Minor || toIn != q.Buy.Minor || liqFrom != q.SellAtMid.Minor || revenue != q.Spread.Minor || liqTo != q.Buy.Minor {
			t.Errorf("legs %+v do not match the quote", q.Legs())
		}

		// Per-pair spreads: USD→KWD has its own, KWD→USD another; a pair
		// without one in either direction takes the default.
		if _, err := h.svc.ImportFile(h.ctx, strings.NewReader("base,quote,rate,as_of\nUSD,KWD,0.3071,2026-01-09T15:00:00Z\n")); err != nil {
			t.Fatal(err)
		}
		// 100 USD × 0.3071 × 0.992 = 30.46432 KWD → 30.464 (floor, to the fils).
		if q := h.mustQuote(1, "USD", "KWD", "100.00", fx.SideSell); q.SpreadBP != 80 || q.Buy != money.New(30464, "KWD") {
			t.Errorf("USD→KWD: %d bp, buy %v", q.SpreadBP, q.Buy)
		}
		if q := h.mustQuote(1, "KWD", "USD", "1.000", fx.SideSell); q.SpreadBP != 30 {
			t.Errorf("KWD→USD spread %d", q.SpreadBP)
		}

		// Bad requests.
		_, err = h.quote(1, "CNY", "JPY", "0.00", fx.SideSell)
		wantCode(t, "zero", err, okpay.EInvalid)
		_, err = h.svc.Quote(h.ctx, 1, "CNY", "JPY", money.New(100, "JPY"), fx.SideSell)
		wantCode(t, "amount in the wrong currency", err, okpay.EInvalid)
		_, err = h.svc.Quote(h.ctx, 0, "CNY", "JPY", money.New(100, "CNY"), fx.SideSell)
		wantCode(t, "no user", err, okpay.EInvalid)
		_, err = h.svc.Quote(h.ctx, 1, "CNY", "JPY", money.New(100, "CNY"), "swap")
		wantCode(t, "bad side", err, okpay.EInvalid)
		_, err = h.quote(1, "KRW", "CNY", "1", fx.SideSell) // 0.0048 CNY
		wantCode(t, "1 KRW", err, fx.EAmountTooSmall)
	})
}

func TestNoSpreadConfig(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db, fx.Config{NoSpread: true})
		h.importECB("testdata/eurofxref-daily.xml")
		q := h.mustQuote(1, "EUR", "USD", "100.00", fx.SideSell)
		if q.SpreadBP != 0 || q.Buy != money.New(11658, "USD") || q.Spread.Minor != 0 || q.Rate.Exact() != "1.1658" {
			t.Errorf("no-spread quote: %+v", q)
		}
	})
	db := sqldbtest.Open(t, sqldb.SQLite)
	for _, cfg := range []fx.Config{
		{DefaultSpreadBP: -1},
		{DefaultSpreadBP: fx.MaxSpreadBP + 1},
		{Pivot: "XXX"},
		{SpreadBP: map[fx.Pair]int{{Base: "USD", Quote: "USD"}: 10}},
		{SpreadBP: map[fx.Pair]int{{Base: "USD", Quote: "CNY"}: -5}},
	} {
		if _, err := fx.New(db, clock.System{}, &ids.Sequence{}, cfg); err == nil {
			t.Errorf("New accepted %+v", cfg)
		}
	}
}

// TestTakeExpiryBoundary: a quote can be taken until the microsecond
// before ExpiresAt; at ExpiresAt it has expired.
func TestTakeExpiryBoundary(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db, fx.Config{QuoteTTL: 30 * time.Second})
		h.importECB("testdata/eurofxref-daily.xml")
		q1 := h.mustQuote(7, "EUR", "CNY", "50.00", fx.SideSell)
		q2 := h.mustQuote(7, "EUR", "CNY", "50.00", fx.SideSell)
		if !q1.ExpiresAt.Equal(h.clock.Now().Add(30 * time.Second)) {
			t.Fatalf("ExpiresAt %v", q1.ExpiresAt)
		}
		h.clock.Set(q1.ExpiresAt.Add(-time.Microsecond))
		taken, err := h.take(q1.ID, 7)
		if err != nil {
			t.Fatalf("take a microsecond before expiry: %v", err)
		}
		if !taken.TakenAt.Equal(h.clock.Now()) {
			t.Errorf("TakenAt %v, want %v", taken.TakenAt, h.clock.Now())
		}
		sameQuote(t, "taken quote", q1, taken)
		h.clock.Set(q2.ExpiresAt)
		_, err = h.take(q2.ID, 7)
		wantCode(t, "take at ExpiresAt", err, fx.EQuoteExpired)
		// A used quote stays used, even after it expired.
		_, err = h.take(q1.ID, 7)
		wantCode(t, "take again", err, fx.EQuoteUsed)
	})
}

func TestTakeRules(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db, fx.Config{})
		h.importECB("testdata/eurofxref-daily.xml")
		q := h.mustQuote(7, "USD", "JPY", "10.00", fx.SideSell)

		_, err := h.take(q.ID, 8)
		wantCode(t, "another user's quote", err, okpay.ENotFound)
		_, err = h.take(q.ID+1000, 7)
		wantCode(t, "no such quote", err, okpay.ENotFound)

		// A rolled-back transaction leaves the quote untaken.
		boom := errors.New("ledger refused")
		err = h.db.InTx(h.ctx, func(tx *sql.Tx) error {
			if _, err := h.svc.Take(h.ctx, tx, q.ID, 7); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("rolled back take: %v", err)
		}
		if got, _ := h.svc.FindQuote(h.ctx, q.ID, 7); !got.TakenAt.IsZero() {
			t.Errorf("quote taken by a rolled-back transaction")
		}
		if _, err := h.take(q.ID, 7); err != nil {
			t.Fatal(err)
		}
		_, err = h.take(q.ID, 7)
		wantCode(t, "second take", err, fx.EQuoteUsed)

		// Pruning removes only expired, untaken quotes.
		stale := h.mustQuote(7, "USD", "JPY", "10.00", fx.SideSell)
		fresh := h.mustQuote(7, "USD", "JPY", "10.00", fx.SideSell)
		h.clock.Advance(time.Hour)
		fresh2 := h.mustQuote(7, "USD", "JPY", "10.00", fx.SideSell)
		n, err := h.svc.PruneQuotes(h.ctx, 30*time.Minute)
		if err != nil || n != 2 {
			t.Fatalf("PruneQuotes = %d, %v", n, err)
		}
		for id, want := range map[int64]string{q.ID: "", stale.ID: okpay.ENotFound, fresh.ID: okpay.ENotFound, fresh2.ID: ""} {
			_, err := h.svc.FindQuote(h.ctx, id, 7)
			wantCode(t, "after pruning", err, want)
		}
	})
}

// TestTakeConcurrently: goroutines racing to take one quote, each in its
// own transaction: exactly one wins, the others see EQuoteUsed.
func TestTakeConcurrently(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db, fx.Config{})
		h.importECB("testdata/eurofxref-daily.xml")
		for round := 0; round < 10; round++ {
			q := h.mustQuote(9, "GBP", "CNY", "20.00", fx.SideBuy)
			const racers = 4
			var wg sync.WaitGroup
			errs := make([]error, racers)
			start := make(chan struct{})
			for i := range racers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					_, errs[i] = h.take(q.ID, 9)
				}()
			}
			close(start)
			wg.Wait()
			wins := 0
			for _, err := range errs {
				switch okpay.ErrorCode(err) {
				case "":
					wins++
				case fx.EQuoteUsed:
				default:
					t.Fatalf("round %d: unexpected %v", round, err)
				}
			}
			if wins != 1 {
				t.Fatalf("round %d: %d winners", round, wins)
			}
		}
	})
}

// TestStoredRecordsAreGuarded: the database itself keeps rates append-only
// and a quote unchanged except for being taken once.
func TestStoredRecordsAreGuarded(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db, fx.Config{})
		rec, err := h.svc.SetRate(h.ctx, fx.SetRateInput{Base: "USD", Quote: "CNY", Rate: "7.01", By: "admin:1"})
		if err != nil {
			t.Fatal(err)
		}
		taken := h.mustQuote(5, "USD", "CNY", "10.00", fx.SideSell)
		if _, err := h.take(taken.ID, 5); err != nil {
			t.Fatal(err)
		}
		open := h.mustQuote(5, "USD", "CNY", "10.00", fx.SideSell)
		for _, q := range []struct {
			sql  string
			args []any
		}{
			{`UPDATE fx_rates SET rate = '9' WHERE id = $1`, []any{rec.ID}},
			{`DELETE FROM fx_rates WHERE id = $1`, []any{rec.ID}},
			{`UPDATE fx_quotes SET taken_at = 0 WHERE id = $1`, []any{taken.ID}},
			{`UPDATE fx_quotes SET buy_minor = buy_minor + 1 WHERE id = $1`, []any{taken.ID}},
			{`DELETE FROM fx_quotes WHERE id = $1`, []any{taken.ID}},
			{`UPDATE fx_quotes SET buy_minor = buy_minor + 1 WHERE id = $1`, []any{open.ID}},
			{`UPDATE fx_quotes SET expires_at = expires_at + 1000000000, taken_at = 1 WHERE id = $1`, []any{open.ID}},
		} {
			if _, err := db.Write.ExecContext(h.ctx, q.sql, q.args...); err == nil {
				t.Errorf("%s: allowed", q.sql)
			}
		}
		if db.Dialect == sqldb.Postgres {
			if _, err := db.Write.ExecContext(h.ctx, `TRUNCATE fx_rates`); err == nil {
				t.Error("TRUNCATE fx_rates: allowed")
			}
		}
		// An untaken quote may be deleted (PruneQuotes).
		if _, err := db.Write.ExecContext(h.ctx, `DELETE FROM fx_quotes WHERE id = $1`, open.ID); err != nil {
			t.Errorf("delete an untaken quote: %v", err)
		}
	})
}
