package fx_test

import (
	"database/sql"
	"testing"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/fx"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

func (h *harness) takeHeld(id, user int64, until time.Time) (*fx.Quote, error) {
	var q *fx.Quote
	err := h.db.InTx(h.ctx, func(tx *sql.Tx) error {
		var err error
		q, err = h.svc.TakeHeld(h.ctx, tx, id, user, until)
		return err
	})
	return q, err
}

// TestTakeHeld: a held quote can be taken past its expiry until the
// holder's window ends (never past MaxHold), once, by its owner only;
// Take still refuses it once expired; a window already over is Take.
func TestTakeHeld(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db, fx.Config{QuoteTTL: time.Minute})
		h.importECB("testdata/eurofxref-daily.xml")
		window := h.clock.Now().Add(15 * time.Minute)

		q := h.mustQuote(7, "USD", "EUR", "100.00", fx.SideSell)
		h.clock.Advance(5 * time.Minute) // past its 60 s
		_, err := h.take(q.ID, 7)
		wantCode(t, "Take after expiry", err, fx.EQuoteExpired)
		_, err = h.takeHeld(q.ID, 8, window)
		wantCode(t, "another user's", err, okpay.ENotFound)
		got, err := h.takeHeld(q.ID, 7, window)
		if err != nil || got.Sell != q.Sell || got.Buy != q.Buy || got.TakenAt.IsZero() {
			t.Fatalf("TakeHeld within the window: %+v %v", got, err)
		}
		_, err = h.takeHeld(q.ID, 7, window)
		wantCode(t, "taken twice", err, fx.EQuoteUsed)

		// The window over: refused as expired.
		q = h.mustQuote(7, "USD", "EUR", "100.00", fx.SideSell)
		h.clock.Advance(11 * time.Minute)
		_, err = h.takeHeld(q.ID, 7, window)
		wantCode(t, "after the window", err, fx.EQuoteExpired)

		// Never past MaxHold, whatever the holder says.
		q = h.mustQuote(7, "USD", "EUR", "100.00", fx.SideSell)
		h.clock.Advance(fx.MaxHold)
		_, err = h.takeHeld(q.ID, 7, h.clock.Now().Add(time.Hour))
		wantCode(t, "past MaxHold", err, fx.EQuoteExpired)

		// An unexpired quote is taken as by Take.
		q = h.mustQuote(7, "USD", "EUR", "100.00", fx.SideSell)
		if _, err := h.takeHeld(q.ID, 7, time.Time{}); err != nil {
			t.Fatalf("TakeHeld of a fresh quote without a window: %v", err)
		}
		_, err = h.takeHeld(999999, 7, h.clock.Now().Add(time.Minute))
		wantCode(t, "unknown quote", err, okpay.ENotFound)
	})
}
