package fx_test

import (
	"strings"
	"testing"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/audit"
	"github.com/okpay/okpay/fx"
	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

// auditOf returns the audit entries of subject, newest first.
func (h *harness) auditOf(subject string) []audit.Entry {
	h.t.Helper()
	es, err := audit.New(h.db).List(h.ctx, subject, audit.MaxListLimit, 0)
	if err != nil {
		h.t.Fatal(err)
	}
	return es
}

func (h *harness) auditRows() int {
	h.t.Helper()
	var n int
	if err := h.db.Read.QueryRowContext(h.ctx, `SELECT COUNT(*) FROM audit_log`).Scan(&n); err != nil {
		h.t.Fatal(err)
	}
	return n
}

// latest returns the latest stored rate of base→quote.
func (h *harness) latest(base, quote money.Currency) *fx.RateRecord {
	h.t.Helper()
	rs, err := h.svc.History(h.ctx, fx.Pair{Base: base, Quote: quote}, 1)
	if err != nil || len(rs) != 1 {
		h.t.Fatalf("History %s/%s: %v %v", base, quote, rs, err)
	}
	return rs[0]
}

func (h *harness) rateRows() int {
	h.t.Helper()
	var n int
	if err := h.db.Read.QueryRowContext(h.ctx, `SELECT COUNT(*) FROM fx_rates`).Scan(&n); err != nil {
		h.t.Fatal(err)
	}
	return n
}

// TestSetRateAudited: an operator's rate and its audit record (actor,
// reason, the rate and the one it replaced) commit together; a missing
// reason or actor, or a bad rate, stores neither.
func TestSetRateAudited(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db, fx.Config{})
		h.importECB("testdata/eurofxref-daily.xml")
		before := h.latest("EUR", "CNY")
		c := fx.Change{Actor: "agt_0001", Reason: "ECB feed late; treasury's rate", IP: "203.0.113.9", RequestID: "req-1"}

		for _, bad := range []struct {
			name              string
			base, quote, rate string
			c                 fx.Change
			field             string
		}{
			{"no reason", "EUR", "CNY", "7.70", fx.Change{Actor: "agt_0001"}, "reason"},
			{"blank reason", "EUR", "CNY", "7.70", fx.Change{Actor: "agt_0001", Reason: "  "}, "reason"},
			{"long reason", "EUR", "CNY", "7.70", fx.Change{Actor: "agt_0001", Reason: strings.Repeat("理", 201)}, "reason"},
			{"no actor", "EUR", "CNY", "7.70", fx.Change{Reason: "x"}, "by"},
			{"bad rate", "EUR", "CNY", "7,70", c, "rate"},
			{"zero rate", "EUR", "CNY", "0", c, "rate"},
			{"same currency", "EUR", "EUR", "1", c, "quote"},
			{"unknown currency", "EUR", "ABC", "1", c, "quote"},
		} {
			rows, events := h.rateRows(), h.auditRows()
			_, err := h.svc.SetRateAudited(h.ctx, money.Currency(bad.base), money.Currency(bad.quote), bad.rate, bad.c)
			wantCode(t, bad.name, err, okpay.EInvalid)
			if e, ok := err.(*okpay.Error); !ok || e.Fields[bad.field] == "" {
				t.Errorf("%s: %v does not name field %s", bad.name, err, bad.field)
			}
			if h.rateRows() != rows || h.auditRows() != events {
				t.Errorf("%s: something was stored", bad.name)
			}
		}

		h.clock.Advance(time.Minute)
		rec, err := h.svc.SetRateAudited(h.ctx, "EUR", "CNY", "7.7000", c)
		if err != nil {
			t.Fatal(err)
		}
		if rec.Source != fx.SourceAdmin || rec.CreatedBy != "agt_0001" || rec.Note != c.Reason || rec.Rate.Exact() != "7.7" || !rec.AsOf.Equal(h.clock.Now()) {
			t.Fatalf("record %+v", rec)
		}
		if got := h.latest("EUR", "CNY"); got.ID != rec.ID {
			t.Fatalf("latest is %+v, want the operator's rate", got)
		}
		es := h.auditOf("fx:EUR/CNY")
		if len(es) != 1 {
			t.Fatalf("%d audit entries", len(es))
		}
		e := es[0]
		if e.Name != fx.EventRateSet || e.Actor != "agt_0001" || e.Reason != c.Reason || e.IP != c.IP || e.RequestID != c.RequestID || e.Outcome != audit.Success ||
			e.Details["rate"] != "7.7" || e.Details["previous"] != before.Rate.Exact() || e.Details["previous_source"] != fx.SourceECB || e.Details["pair"] != "EUR/CNY" {
			t.Fatalf("audit entry %+v", e)
		}
		// A pair without a rate before: previous is empty.
		if _, err := h.svc.SetRateAudited(h.ctx, "CNY", "HKD", "1.08", c); err != nil {
			t.Fatal(err)
		}
		if es := h.auditOf("fx:CNY/HKD"); len(es) != 1 || es[0].Details["previous"] != "" {
			t.Fatalf("audit entries %+v", es)
		}
		if r, err := audit.New(db).Verify(h.ctx); err != nil || !r.OK {
			t.Fatalf("audit chain: %+v %v", r, err)
		}
	})
}

// TestImportAudited: an import that stores new rates is audited with its
// counts and pairs; importing the same document again stores nothing and
// records nothing; a malformed document or one dated in the future stores
// nothing.
func TestImportAudited(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db, fx.Config{})
		c := fx.Change{Actor: "cli:wang", Reason: "morning feed"}
		res, err := h.svc.ImportECBAudited(h.ctx, strings.NewReader(readFile(t, "testdata/eurofxref-daily.xml")), c)
		if err != nil {
			t.Fatal(err)
		}
		if res.Inserted == 0 || res.Unchanged != 0 {
			t.Fatalf("result %+v", res)
		}
		es := h.auditOf("fx:ecb")
		if len(es) != 1 {
			t.Fatalf("%d audit entries", len(es))
		}
		e := es[0]
		if e.Name != fx.EventRatesImported || e.Actor != "cli:wang" || e.Reason != "morning feed" || e.Details["source"] != fx.SourceECB ||
			e.Details["inserted"] == "0" || !strings.Contains(e.Details["pairs"], "EUR/CNY") || e.Details["as_of"] != fixingTime.Format(time.RFC3339) {
			t.Fatalf("audit entry %+v", e)
		}

		again, err := h.svc.ImportECBAudited(h.ctx, strings.NewReader(readFile(t, "testdata/eurofxref-daily.xml")), c)
		if err != nil || again.Inserted != 0 || again.Unchanged != res.Inserted {
			t.Fatalf("re-import %+v %v", again, err)
		}
		if n := len(h.auditOf("fx:ecb")); n != 1 {
			t.Fatalf("a re-import left an audit record (%d)", n)
		}

		rows, events := h.rateRows(), h.auditRows()
		_, err = h.svc.ImportECBAudited(h.ctx, strings.NewReader("<gesmes:Envelope>"), c)
		wantCode(t, "malformed ECB", err, okpay.EInvalid)
		_, err = h.svc.ImportFileAudited(h.ctx, strings.NewReader("base,quote,rate,as_of\nUSD,CNY,seven,2026-01-09T09:00:00Z\n"), c)
		wantCode(t, "malformed file", err, okpay.EInvalid)
		future := h.clock.Now().Add(2 * time.Hour).Format(time.RFC3339)
		_, err = h.svc.ImportFileAudited(h.ctx, strings.NewReader("base,quote,rate,as_of\nUSD,CNY,7.1,2026-01-09T09:00:00Z\nUSD,HKD,7.8,"+future+"\n"), c)
		wantCode(t, "future", err, okpay.EInvalid)
		_, err = h.svc.ImportFileAudited(h.ctx, strings.NewReader(readFile(t, "testdata/rates.csv")), fx.Change{})
		wantCode(t, "no actor", err, okpay.EInvalid)
		if h.rateRows() != rows || h.auditRows() != events {
			t.Fatal("a refused import stored something")
		}

		h.clock.Set(time.Date(2026, 1, 12, 2, 0, 0, 0, time.UTC))
		res, err = h.svc.ImportFileAudited(h.ctx, strings.NewReader(readFile(t, "testdata/rates.csv")), fx.Change{Actor: "cli:wang"})
		if err != nil || res.Inserted != 4 {
			t.Fatalf("rates file %+v %v", res, err)
		}
		if es := h.auditOf("fx:file"); len(es) != 1 || es[0].Details["inserted"] != "4" || es[0].Details["pairs"] != "USD/CNY,USD/HKD,GBP/RUB,USD/KWD" {
			t.Fatalf("audit entries %+v", es)
		}
		if r, err := audit.New(db).Verify(h.ctx); err != nil || !r.OK {
			t.Fatalf("audit chain: %+v %v", r, err)
		}
	})
}

// TestLatestStatus: each latest rate's age is measured on the service's
// clock, and a rate older than MaxAge is stale (as Quote sees it).
func TestLatestStatus(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db, fx.Config{MaxAge: 10 * time.Hour})
		h.importECB("testdata/eurofxref-daily.xml")
		h.clock.Set(fixingTime.Add(10 * time.Hour))
		if _, err := h.svc.SetRateAudited(h.ctx, "CNY", "HKD", "1.08", fx.Change{Actor: "cli:x", Reason: "y"}); err != nil {
			t.Fatal(err)
		}
		list, now, err := h.svc.LatestStatus(h.ctx)
		if err != nil || !now.Equal(h.clock.Now()) || len(list) < 20 {
			t.Fatalf("%d rates at %v: %v", len(list), now, err)
		}
		for _, r := range list {
			switch {
			case r.Source == fx.SourceECB && (r.Age != 10*time.Hour || r.Stale):
				t.Errorf("%s/%s: age %v stale %v at exactly MaxAge", r.Rate.Base, r.Rate.Quote, r.Age, r.Stale)
			case r.Source == fx.SourceAdmin && (r.Age != 0 || r.Stale):
				t.Errorf("admin rate: age %v stale %v", r.Age, r.Stale)
			}
		}
		h.clock.Advance(time.Microsecond)
		list, _, _ = h.svc.LatestStatus(h.ctx)
		stale := 0
		for _, r := range list {
			if r.Stale {
				stale++
			}
		}
		if stale != len(list)-1 {
			t.Errorf("%d of %d stale a microsecond past MaxAge, want all but the admin rate", stale, len(list))
		}
		_, err = h.quote(1, "EUR", "USD", "1.00", fx.SideSell)
		wantCode(t, "stale quote", err, fx.ERateStale)
	})
}
