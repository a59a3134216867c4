package help

import (
	"context"
	"testing"
	"time"

	"github.com/okpay/okpay/clock"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/sqldb"
)

func newTestService(t testing.TB, db *sqldb.DB) (*Service, *clock.Manual) {
	t.Helper()
	clk := clock.NewManual(time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC))
	s, err := New(Config{DB: db, Clock: clk, IDs: &ids.Sequence{}, Contacts: Contacts{Email: "support@okpay.test", Phone: "+86 400 000 0000"}})
	if err != nil {
		t.Fatal(err)
	}
	return s, clk
}

func loaded(t testing.TB, db *sqldb.DB) (*Service, *clock.Manual) {
	t.Helper()
	s, clk := newTestService(t, db)
	if _, err := s.LoadShipped(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s, clk
}
