package fx_test

import (
	"testing"
	"time"

	"github.com/okpay/okpay/fx"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

// TestSampleRates: the embedded sample parses, carries every default
// wallet currency and is dated as asked.
func TestSampleRates(t *testing.T) {
	at := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	b, err := fx.SampleRates(at)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Skipped) != 0 {
		t.Errorf("skipped: %v", b.Skipped)
	}
	got := map[string]bool{}
	for _, o := range b.Rates {
		if o.Rate.Base != "EUR" || !o.AsOf.Equal(at) {
			t.Errorf("rate %s dated %s", o.Rate.Describe(), o.AsOf)
		}
		got[string(o.Rate.Quote)] = true
	}
	for _, c := range []string{"USD", "JPY", "GBP", "CNY", "HKD", "RUB"} {
		if !got[c] {
			t.Errorf("the sample has no EUR/%s", c)
		}
	}
}

// TestSeedSample: an empty table is seeded once, dated half of MaxAge
// ago, so quotes work; a second start changes nothing; sample rates about
// to go stale are stored again; any rate of a real source stops seeding
// for good, and a real rate newer than the sample wins.
func TestSeedSample(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db, fx.Config{})
		maxAge := h.svc.Config().MaxAge
		res, err := h.svc.SeedSample(h.ctx)
		if err != nil || !res.Seeded || res.Refreshed || res.Import.Inserted != 11 || !res.AsOf.Equal(h.clock.Now().Add(-maxAge/2)) {
			t.Fatalf("first seed: %+v %v", res, err)
		}
		q := h.mustQuote(1, "USD", "CNY", "100.00", fx.SideSell)
		if q.RateSource != "sample EUR/CNY × sample EUR/USD" && q.RateSource != "sample EUR/USD × sample EUR/CNY" {
			t.Errorf("quote source %q", q.RateSource)
		}
		if res, err := h.svc.SeedSample(h.ctx); err != nil || res.Seeded {
			t.Fatalf("second seed: %+v %v", res, err)
		}
		// A day later: still fresh enough.
		h.clock.Advance(maxAge / 4)
		if res, err := h.svc.SeedSample(h.ctx); err != nil || res.Seeded {
			t.Fatalf("seed a day later: %+v %v", res, err)
		}
		// Close to stale: stored again, newly dated.
		h.clock.Advance(maxAge/4 + time.Minute)
		res, err = h.svc.SeedSample(h.ctx)
		if err != nil || !res.Seeded || !res.Refreshed || res.Import.Inserted != 11 {
			t.Fatalf("refresh: %+v %v", res, err)
		}
		// A real rate: never seeded again, and it wins over the sample.
		if _, err := h.svc.SetRate(h.ctx, fx.SetRateInput{Base: "EUR", Quote: "USD", Rate: "1.2", By: "admin:1"}); err != nil {
			t.Fatal(err)
		}
		d, err := h.svc.MidRate(h.ctx, "EUR", "USD")
		if err != nil || d.Rate.Exact() != "1.2" || d.Source != "admin EUR/USD" {
			t.Fatalf("EUR→USD after a real rate: %+v %v", d, err)
		}
		h.clock.Advance(maxAge)
		if res, err := h.svc.SeedSample(h.ctx); err != nil || res.Seeded {
			t.Fatalf("seed over real rates: %+v %v", res, err)
		}
	})
}
