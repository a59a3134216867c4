package wallet

import (
	"context"
	"database/sql"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/ledger"
	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/sqldb"
)

// Limits in the ledger's batch (SQLite). chargeLimits writes each
// payment's counts at once, with two conditional upserts inside the
// request's savepoint: on SQLite that savepoint, its two statements and
// the sub-journal copy of every page the upserts touch were a tenth of
// the ledger writer's time in a wallet transfer (okpay bench p2p). There
// one writer holds the database for the whole batch, so the counts can be
// read, checked in Go, and their increments deferred to the batch's
// multi-row inserts: each request is checked against the stored counters
// plus what the batch's earlier requests added (a ledger batch value,
// dropped with a request that fails), and the increments reach the table
// in the order the requests were decided, just before the commit.
//
// PostgreSQL keeps the conditional upserts: several nodes write at once,
// and a counter read by one node's batch may change before it commits.

// counters are a customer's velocity counts and the spending of one
// currency, as stored (windows not yet rolled over).
type counters struct {
	level                                                     int
	hourStart, hourCount, dayStart, dayCount, payees, payouts int64
	spendDayStart, dayAmount, spendMonthStart, monthAmount    int64
}

// countersKey names a customer's counters of one currency among the
// batch's values.
type countersKey struct {
	userID   int64
	currency money.Currency
}

const (
	// qReadCounters reads a customer's velocity and spending counters in
	// one statement (zero where there is no row yet).
	qReadCounters = `SELECT COALESCE(l.level, 0), COALESCE(l.hour_start, 0), COALESCE(l.hour_count, 0), COALESCE(l.day_start, 0),
		COALESCE(l.day_count, 0), COALESCE(l.day_new_payees, 0), COALESCE(l.day_withdrawals, 0),
		COALESCE(s.day_start, 0), COALESCE(s.day_amount, 0), COALESCE(s.month_start, 0), COALESCE(s.month_amount, 0)
		FROM (SELECT $1 AS user_id) k
		LEFT JOIN wallet_limits l ON l.user_id = k.user_id
		LEFT JOIN wallet_spend s ON s.user_id = k.user_id AND s.currency = $2`

	// The deferred increments (velocityAdd, spendAdd: qVelocity's and
	// qSpend's updates without their WHERE; the request was checked).
	velocityInto = `wallet_limits (user_id, level, hour_start, hour_count, day_start, day_count, day_new_payees, day_withdrawals, updated_at)`
	spendInto    = `wallet_spend (user_id, currency, day_start, day_amount, month_start, month_amount)`
)

// chargeLimitsTx counts mv against the limits in the ledger's batch, or
// fails with a *LimitError and counts nothing.
func (s *Service) chargeLimitsTx(ctx context.Context, htx *ledger.Tx, mv move, now time.Time) error {
	if htx.Dialect() != sqldb.SQLite {
		return s.chargeLimits(ctx, htx.SQL(), mv, now)
	}
	w := s.windows(now)
	if err := s.checkCounts(mv, w); err != nil {
		return err
	}
	key := countersKey{mv.userID, mv.amount.Currency}
	var c counters
	if v, ok := htx.Value(key); ok {
		c = v.(counters)
	} else {
		var err error
		if c, err = s.readCounters(ctx, htx.Read(), key); err != nil {
			return err
		}
	}
	after, err := s.charge(&mv, w, c, now)
	if err != nil {
		return err
	}
	htx.SetValue(key, after)
	htx.Insert(velocityInto, velocityAdd, mv.userID, 0, micros(w.hour), mv.transfers, micros(w.day), mv.transfers, mv.newPayees, mv.withdrawal, micros(now))
	htx.Insert(spendInto, spendAdd, mv.userID, string(mv.amount.Currency), micros(w.day), mv.amount.Minor, micros(w.month), mv.amount.Minor)
	return nil
}

// checkCounts refuses a move that alone passes a count limit (the first
// operation of a window is an insert, which the upsert's WHERE does not
// check).
func (s *Service) checkCounts(mv move, w windows) error {
	v := s.cfg.Velocity
	for _, c := range []struct {
		name     string
		inc, max int
		end      time.Time
	}{
		{LimitTransfersPerHour, mv.transfers, v.TransfersPerHour, w.hourEnd},
		{LimitTransfersPerDay, mv.transfers, v.TransfersPerDay, w.dayEnd},
		{LimitNewPayeesPerDay, mv.newPayees, v.NewPayeesPerDay, w.dayEnd},
		{LimitWithdrawalsPerDay, mv.withdrawal, v.WithdrawalsPerDay, w.dayEnd},
	} {
		if c.inc > c.max {
			return &LimitError{Limit: c.name, Max: int64(c.max), ResetsAt: c.end}
		}
	}
	return nil
}

// readCounters reads a customer's stored counters (zero when none).
func (s *Service) readCounters(ctx context.Context, tx *sql.Tx, k countersKey) (counters, error) {
	var c counters
	err := s.st.queryRow(ctx, tx, qReadCounters, k.userID, string(k.currency)).Scan(&c.level, &c.hourStart, &c.hourCount, &c.dayStart, &c.dayCount, &c.payees, &c.payouts,
		&c.spendDayStart, &c.dayAmount, &c.spendMonthStart, &c.monthAmount)
	if err != nil {
		return counters{}, okpay.Internal(err, "read limit counters")
	}
	return c, nil
}

// charge decides mv against c as chargeLimits' upserts do, and returns
// the counters with mv counted.
func (s *Service) charge(mv *move, w windows, c counters, now time.Time) (counters, error) {
	if c.hourStart != micros(w.hour) {
		c.hourStart, c.hourCount = micros(w.hour), 0
	}
	if c.dayStart != micros(w.day) {
		c.dayStart, c.dayCount, c.payees, c.payouts = micros(w.day), 0, 0, 0
	}
	v := s.cfg.Velocity
	switch {
	case c.hourCount+int64(mv.transfers) > int64(v.TransfersPerHour):
		return c, &LimitError{Limit: LimitTransfersPerHour, Max: int64(v.TransfersPerHour), Used: c.hourCount, ResetsAt: w.hourEnd}
	case c.dayCount+int64(mv.transfers) > int64(v.TransfersPerDay):
		return c, &LimitError{Limit: LimitTransfersPerDay, Max: int64(v.TransfersPerDay), Used: c.dayCount, ResetsAt: w.dayEnd}
	case c.payees+int64(mv.newPayees) > int64(v.NewPayeesPerDay):
		return c, &LimitError{Limit: LimitNewPayeesPerDay, Max: int64(v.NewPayeesPerDay), Used: c.payees, ResetsAt: w.dayEnd}
	case c.payouts+int64(mv.withdrawal) > int64(v.WithdrawalsPerDay):
		return c, &LimitError{Limit: LimitWithdrawalsPerDay, Max: int64(v.WithdrawalsPerDay), Used: c.payouts, ResetsAt: w.dayEnd}
	}
	daily, monthly, err := s.amountLimits(mv, w, c.level, now)
	if err != nil {
		return c, err
	}
	if c.spendDayStart != micros(w.day) {
		c.spendDayStart, c.dayAmount = micros(w.day), 0
	}
	if c.spendMonthStart != micros(w.month) {
		c.spendMonthStart, c.monthAmount = micros(w.month), 0
	}
	if c.dayAmount+mv.amount.Minor > daily {
		return c, s.dailyError(*mv, w, daily, c.dayAmount)
	}
	if c.monthAmount+mv.amount.Minor > monthly {
		return c, &LimitError{Limit: LimitMonthlyAmount, Max: monthly, Currency: mv.amount.Currency, Used: c.monthAmount, ResetsAt: w.monthEnd}
	}
	c.hourCount += int64(mv.transfers)
	c.dayCount += int64(mv.transfers)
	c.payees += int64(mv.newPayees)
	c.payouts += int64(mv.withdrawal)
	c.dayAmount += mv.amount.Minor
	c.monthAmount += mv.amount.Minor
	return c, nil
}

// amountLimits returns the day's and the month's money-out limits of mv
// at level (the new-device cap applied, mv.capped set), or the refusal of
// an amount that alone passes one.
func (s *Service) amountLimits(mv *move, w windows, level int, now time.Time) (daily, monthly int64, err error) {
	lim := s.levelLimits(level)
	daily, monthly = lim.Daily[mv.amount.Currency], lim.Monthly[mv.amount.Currency]
	// RSK-01: from a new device the day's limit is the cap (risk.go).
	if c := s.cfg.NewDeviceCap.Limit(daily, mv.deviceSeen, now); c < daily {
		daily = c
		mv.capped = true
	}
	if mv.amount.Minor > daily {
		return 0, 0, s.dailyError(*mv, w, daily, 0)
	}
	if mv.amount.Minor > monthly {
		return 0, 0, &LimitError{Limit: LimitMonthlyAmount, Max: monthly, Currency: mv.amount.Currency, ResetsAt: w.monthEnd}
	}
	return daily, monthly, nil
}
