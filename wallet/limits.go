package wallet

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/audit"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/money"
)

// Limits (RSK-03): counters kept in the database in fixed calendar
// windows (hour, day, month of Config.Location), charged by one
// conditional upsert each inside the transaction that moves the money.
// The upsert's WHERE refuses to pass a limit, so two concurrent payments
// can never exceed it together: whichever commits second sees the first's
// count (SQLite has one writer; PostgreSQL locks the counter row). On
// SQLite the payments' hooks count in the ledger's batch instead, with the
// same rules and without a savepoint (limits_batch.go).

// Limit names (LimitError.Limit).
const (
	LimitTransfersPerHour  = "transfers_per_hour"
	LimitTransfersPerDay   = "transfers_per_day"
	LimitNewPayeesPerDay   = "new_payees_per_day"
	LimitWithdrawalsPerDay = "withdrawals_per_day"
	LimitDailyAmount       = "daily_amount"
	LimitMonthlyAmount     = "monthly_amount"
	// LimitNewDeviceAmount is the daily limit of a request from a device
	// new to the account (RSK-01, Config.NewDeviceCap).
	LimitNewDeviceAmount = "new_device_daily_amount"
)

// AuditLevelChanged is the audit event of SetVerificationLevel.
const AuditLevelChanged = "wallet_limits_level_change"

// LimitError says which limit a payment would pass and when it starts
// again.
type LimitError struct {
	Limit string
	// Max is a count, or minor units of Currency for the amount limits.
	Max      int64
	Currency money.Currency
	// Used is what the window already holds.
	Used int64
	// ResetsAt is when the window ends and the count starts again (for
	// LimitNewDeviceAmount: the day's end or Until, whichever is first).
	ResetsAt time.Time
	// Until, for LimitNewDeviceAmount, is when the device stops counting
	// as new (zero: a device never recorded at a sign-in).
	Until time.Time
}

// Code implements the coded-error convention of okpay.ErrorCode.
func (e *LimitError) Code() string { return ELimitExceeded }

func (e *LimitError) Error() string {
	when := e.ResetsAt.UTC().Format("2006-01-02 15:04 UTC")
	switch e.Limit {
	case LimitDailyAmount, LimitMonthlyAmount:
		period := "daily"
		if e.Limit == LimitMonthlyAmount {
			period = "monthly"
		}
		return fmt.Sprintf("This payment would pass your %s limit of %s for money sent (%s used so far). The limit starts again at %s.",
			period, money.New(e.Max, e.Currency).Format("en"), money.New(e.Used, e.Currency).Format("en"), when)
	case LimitTransfersPerHour:
		return fmt.Sprintf("You can make at most %d payments an hour. Try again after %s.", e.Max, when)
	case LimitTransfersPerDay:
		return fmt.Sprintf("You can make at most %d payments a day. Try again after %s.", e.Max, when)
	case LimitNewPayeesPerDay:
		return fmt.Sprintf("You can pay at most %d new payees a day. Try again after %s.", e.Max, when)
	case LimitWithdrawalsPerDay:
		return fmt.Sprintf("You can make at most %d withdrawals a day. Try again after %s.", e.Max, when)
	case LimitNewDeviceAmount:
		return e.newDeviceError() // risk.go
	}
	return "A limit was reached. Try again after " + when + "."
}

// Text is the error in lang (catalog "wallet.limit.<limit>").
func (e *LimitError) Text(s *Service, lang i18n.Lang) string {
	id := e.messageID() // risk.go
	if s.cat == nil || !s.cat.Has(id) {
		return e.Error()
	}
	return s.cat.T(lang, id, map[string]any{
		"Max": e.Max, "Limit": money.New(e.Max, e.Currency).Format(string(lang)), "Used": money.New(e.Used, e.Currency).Format(string(lang)),
		"Resets": e.ResetsAt.UTC().Format("2006-01-02 15:04 UTC"), "Until": e.Until.UTC().Format("2006-01-02 15:04 UTC"),
	})
}

// windows are the limit windows around a moment.
type windows struct {
	hour, day, month          time.Time
	hourEnd, dayEnd, monthEnd time.Time
}

func (s *Service) windows(now time.Time) windows {
	t := now.In(s.cfg.Location)
	y, m, d := t.Date()
	w := windows{
		hour:  time.Date(y, m, d, t.Hour(), 0, 0, 0, s.cfg.Location),
		day:   time.Date(y, m, d, 0, 0, 0, 0, s.cfg.Location),
		month: time.Date(y, m, 1, 0, 0, 0, 0, s.cfg.Location),
	}
	w.hourEnd = w.hour.Add(time.Hour)
	w.dayEnd = w.day.AddDate(0, 0, 1)
	w.monthEnd = w.month.AddDate(0, 1, 0)
	return w
}

// move is one money-out operation to charge against the limits.
type move struct {
	userID     int64
	amount     money.Amount // what leaves the wallet, fee included
	transfers  int          // 1 for a transfer or remittance
	newPayees  int          // 1 for a first payment to a payee
	withdrawal int          // 1 for a withdrawal
	// deviceSeen is when the account first used the request's device
	// (zero: never, or no device named): the new-device cap (RSK-01).
	deviceSeen time.Time
	capped     bool // set by chargeLimits: the new-device cap is the day's limit
}

// The counters are reset when their window has passed: "same window"
// tests compare the stored start with the new one. velocityAdd and
// spendAdd add a payment's counts (the batch's deferred increments,
// limits_batch.go, are these without the WHERE that refuses to pass a
// limit).
const (
	velocityAdd = `ON CONFLICT (user_id) DO UPDATE SET
			hour_count = (CASE WHEN wallet_limits.hour_start = excluded.hour_start THEN wallet_limits.hour_count ELSE 0 END) + excluded.hour_count,
			day_count = (CASE WHEN wallet_limits.day_start = excluded.day_start THEN wallet_limits.day_count ELSE 0 END) + excluded.day_count,
			day_new_payees = (CASE WHEN wallet_limits.day_start = excluded.day_start THEN wallet_limits.day_new_payees ELSE 0 END) + excluded.day_new_payees,
			day_withdrawals = (CASE WHEN wallet_limits.day_start = excluded.day_start THEN wallet_limits.day_withdrawals ELSE 0 END) + excluded.day_withdrawals,
			hour_start = excluded.hour_start,
			day_start = excluded.day_start,
			updated_at = excluded.updated_at`
	spendAdd = `ON CONFLICT (user_id, currency) DO UPDATE SET
			day_amount = (CASE WHEN wallet_spend.day_start = excluded.day_start THEN wallet_spend.day_amount ELSE 0 END) + excluded.day_amount,
			month_amount = (CASE WHEN wallet_spend.month_start = excluded.month_start THEN wallet_spend.month_amount ELSE 0 END) + excluded.month_amount,
			day_start = excluded.day_start,
			month_start = excluded.month_start`
	qVelocity = `INSERT INTO wallet_limits (user_id, level, hour_start, hour_count, day_start, day_count, day_new_payees, day_withdrawals, updated_at)
		VALUES ($1, 0, $2, $4, $3, $4, $5, $6, $7)
		` + velocityAdd + `
		WHERE (CASE WHEN wallet_limits.hour_start = excluded.hour_start THEN wallet_limits.hour_count ELSE 0 END) + excluded.hour_count <= $8
		  AND (CASE WHEN wallet_limits.day_start = excluded.day_start THEN wallet_limits.day_count ELSE 0 END) + excluded.day_count <= $9
		  AND (CASE WHEN wallet_limits.day_start = excluded.day_start THEN wallet_limits.day_new_payees ELSE 0 END) + excluded.day_new_payees <= $10
		  AND (CASE WHEN wallet_limits.day_start = excluded.day_start THEN wallet_limits.day_withdrawals ELSE 0 END) + excluded.day_withdrawals <= $11
		RETURNING level`
	qSpend = `INSERT INTO wallet_spend (user_id, currency, day_start, day_amount, month_start, month_amount)
		VALUES ($1, $2, $3, $5, $4, $5)
		` + spendAdd + `
		WHERE (CASE WHEN wallet_spend.day_start = excluded.day_start THEN wallet_spend.day_amount ELSE 0 END) + excluded.day_amount <= $6
		  AND (CASE WHEN wallet_spend.month_start = excluded.month_start THEN wallet_spend.month_amount ELSE 0 END) + excluded.month_amount <= $7`
)

// chargeLimits counts mv against the velocity and money-out limits inside
// tx, or fails with a *LimitError and counts nothing.
func (s *Service) chargeLimits(ctx context.Context, tx *sql.Tx, mv move, now time.Time) error {
	w := s.windows(now)
	if err := s.checkCounts(mv, w); err != nil {
		return err
	}
	v := s.cfg.Velocity
	var level int
	err := s.st.queryRow(ctx, tx, qVelocity, mv.userID, micros(w.hour), micros(w.day), mv.transfers, mv.newPayees, mv.withdrawal, micros(now),
		v.TransfersPerHour, v.TransfersPerDay, v.NewPayeesPerDay, v.WithdrawalsPerDay).Scan(&level)
	if errors.Is(err, sql.ErrNoRows) {
		return s.velocityError(ctx, tx, mv, w)
	}
	if err != nil {
		return okpay.Internal(err, "count velocity")
	}
	// RSK-01: from a new device the day's limit is the cap, enforced by
	// the same conditional upsert, so concurrent payments cannot pass it
	// together either (risk.go).
	daily, monthly, err := s.amountLimits(&mv, w, level, now)
	if err != nil {
		return err
	}
	n, err := affected(s.st.exec(ctx, tx, qSpend, mv.userID, string(mv.amount.Currency), micros(w.day), micros(w.month), mv.amount.Minor, daily, monthly))
	if err != nil {
		return okpay.Internal(err, "count spending")
	}
	if n == 0 {
		return s.spendError(ctx, tx, mv, w, daily, monthly)
	}
	return nil
}

func (s *Service) levelLimits(level int) LevelLimits {
	if level < 0 {
		level = 0
	}
	if level >= len(s.cfg.Levels) {
		level = len(s.cfg.Levels) - 1
	}
	return s.cfg.Levels[level]
}

// velocityError says which count limit refused mv.
func (s *Service) velocityError(ctx context.Context, tx *sql.Tx, mv move, w windows) error {
	var hourStart, hourCount, dayStart, dayCount, newPayees, withdrawals int64
	if err := tx.QueryRowContext(ctx, `SELECT hour_start, hour_count, day_start, day_count, day_new_payees, day_withdrawals FROM wallet_limits WHERE user_id = $1`,
		mv.userID).Scan(&hourStart, &hourCount, &dayStart, &dayCount, &newPayees, &withdrawals); err != nil {
		return okpay.Internal(err, "read velocity")
	}
	if hourStart != micros(w.hour) {
		hourCount = 0
	}
	if dayStart != micros(w.day) {
		dayCount, newPayees, withdrawals = 0, 0, 0
	}
	v := s.cfg.Velocity
	switch {
	case hourCount+int64(mv.transfers) > int64(v.TransfersPerHour):
		return &LimitError{Limit: LimitTransfersPerHour, Max: int64(v.TransfersPerHour), Used: hourCount, ResetsAt: w.hourEnd}
	case dayCount+int64(mv.transfers) > int64(v.TransfersPerDay):
		return &LimitError{Limit: LimitTransfersPerDay, Max: int64(v.TransfersPerDay), Used: dayCount, ResetsAt: w.dayEnd}
	case newPayees+int64(mv.newPayees) > int64(v.NewPayeesPerDay):
		return &LimitError{Limit: LimitNewPayeesPerDay, Max: int64(v.NewPayeesPerDay), Used: newPayees, ResetsAt: w.dayEnd}
	default:
		return &LimitError{Limit: LimitWithdrawalsPerDay, Max: int64(v.WithdrawalsPerDay), Used: withdrawals, ResetsAt: w.dayEnd}
	}
}

// spendError says which amount limit refused mv.
func (s *Service) spendError(ctx context.Context, tx *sql.Tx, mv move, w windows, daily, monthly int64) error {
	var dayStart, dayAmount, monthStart, monthAmount int64
	if err := tx.QueryRowContext(ctx, `SELECT day_start, day_amount, month_start, month_amount FROM wallet_spend WHERE user_id = $1 AND currency = $2`,
		mv.userID, string(mv.amount.Currency)).Scan(&dayStart, &dayAmount, &monthStart, &monthAmount); err != nil {
		return okpay.Internal(err, "read spending")
	}
	if dayStart != micros(w.day) {
		dayAmount = 0
	}
	if monthStart != micros(w.month) {
		monthAmount = 0
	}
	if dayAmount+mv.amount.Minor > daily {
		return s.dailyError(mv, w, daily, dayAmount)
	}
	return &LimitError{Limit: LimitMonthlyAmount, Max: monthly, Currency: mv.amount.Currency, Used: monthAmount, ResetsAt: w.monthEnd}
}

// LimitStatus is what a customer may still do: their level, and per
// currency the money-out limits and what the current windows hold.
type LimitStatus struct {
	Level     int
	LevelName string
	Velocity  Velocity
	// Used counts of the current windows.
	TransfersThisHour, TransfersToday, NewPayeesToday, WithdrawalsToday int
	Amounts                                                             []AmountLimit
}

// AmountLimit is the money-out limit of one currency.
type AmountLimit struct {
	Currency                 money.Currency
	Daily, Monthly           money.Amount
	UsedToday, UsedThisMonth money.Amount
	DayResets, MonthResets   time.Time
}

// Limits returns userID's limits and what they have used.
func (s *Service) Limits(ctx context.Context, userID int64) (*LimitStatus, error) {
	now := s.now()
	w := s.windows(now)
	st := &LimitStatus{Velocity: s.cfg.Velocity}
	var hourStart, dayStart int64
	err := s.db.Read.QueryRowContext(ctx, `SELECT level, hour_start, hour_count, day_start, day_count, day_new_payees, day_withdrawals FROM wallet_limits WHERE user_id = $1`, userID).
		Scan(&st.Level, &hourStart, &st.TransfersThisHour, &dayStart, &st.TransfersToday, &st.NewPayeesToday, &st.WithdrawalsToday)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, okpay.Internal(err, "read limits")
	}
	if hourStart != micros(w.hour) {
		st.TransfersThisHour = 0
	}
	if dayStart != micros(w.day) {
		st.TransfersToday, st.NewPayeesToday, st.WithdrawalsToday = 0, 0, 0
	}
	lim := s.levelLimits(st.Level)
	st.LevelName = lim.Name
	used := map[money.Currency][2]int64{}
	rows, err := s.db.Read.QueryContext(ctx, `SELECT currency, day_start, day_amount, month_start, month_amount FROM wallet_spend WHERE user_id = $1`, userID)
	if err != nil {
		return nil, okpay.Internal(err, "read spending")
	}
	for rows.Next() {
		var cur string
		var ds, da, ms, ma int64
		if err := rows.Scan(&cur, &ds, &da, &ms, &ma); err != nil {
			rows.Close()
			return nil, okpay.Internal(err, "read spending")
		}
		if ds != micros(w.day) {
			da = 0
		}
		if ms != micros(w.month) {
			ma = 0
		}
		used[money.Currency(cur)] = [2]int64{da, ma}
	}
	rows.Close()
	for _, c := range s.cfg.Currencies {
		u := used[c]
		st.Amounts = append(st.Amounts, AmountLimit{Currency: c, Daily: money.New(lim.Daily[c], c), Monthly: money.New(lim.Monthly[c], c),
			UsedToday: money.New(u[0], c), UsedThisMonth: money.New(u[1], c), DayResets: w.dayEnd, MonthResets: w.monthEnd})
	}
	return st, nil
}

// SetVerificationLevel sets userID's verification level (0 unverified, 1
// after an identity document review...), which selects their money-out
// limits. It is for the support desk and administrators: actor and reason
// go to the audit log, and the customer is notified (NOT-01: limit
// change). Setting the current level changes nothing.
func (s *Service) SetVerificationLevel(ctx context.Context, userID int64, level int, actor, reason string, m identity.Meta) error {
	if level < 0 || level >= len(s.cfg.Levels) {
		return okpay.Invalid(map[string]string{"level": fmt.Sprintf("Choose a level from 0 to %d.", len(s.cfg.Levels)-1)})
	}
	if actor == "" || reason == "" {
		return okpay.Invalid(map[string]string{"reason": "A level change needs the acting agent and a reason."})
	}
	p, err := s.id.LoadParty(ctx, userID)
	if err != nil {
		return err
	}
	event := itoa(s.ids.Next())
	notice, err := s.id.PrepareNotice(p, identity.MoneyNotice{Kind: NoticeLimitsChanged, Event: event, Channels: s.cfg.Channels[NoticeLimitsChanged],
		FreezeLink: true, Data: map[string]any{"Level": s.levelLimits(level).Name}})
	if err != nil {
		return err
	}
	changed := false
	err = s.db.InTx(ctx, func(tx *sql.Tx) error {
		changed = false
		var old int
		err := tx.QueryRowContext(ctx, `SELECT level FROM wallet_limits WHERE user_id = $1`, userID).Scan(&old)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return okpay.Internal(err, "read level")
		}
		if err == nil && old == level {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO wallet_limits (user_id, level, updated_at) VALUES ($1, $2, $3)
			ON CONFLICT (user_id) DO UPDATE SET level = excluded.level, updated_at = excluded.updated_at`, userID, level, micros(s.now())); err != nil {
			return okpay.Internal(err, "set level")
		}
		if _, err := audit.Append(ctx, tx, s.db.Dialect, audit.Event{At: s.now(), Name: AuditLevelChanged, Actor: actor, Subject: userOwner(userID),
			IP: m.IP, DeviceID: m.DeviceID, RequestID: m.RequestID, Outcome: audit.Success, Reason: reason,
			Details: map[string]string{"from": itoa(int64(old)), "to": itoa(int64(level))}}); err != nil {
			return okpay.Internal(err, "audit")
		}
		changed = true
		return s.money.WriteNotices(ctx, tx, notice)
	})
	if err == nil && changed {
		s.id.WakeNotices()
	}
	return err
}
