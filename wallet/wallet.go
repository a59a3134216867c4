// Package wallet is the money side of OKPay as a customer sees it:
// wallets in several currencies, the transactions of each customer with
// their state machine (TXN-03), payments to other customers (P2P
// transfers, with a transaction code bound to amount and payee when the
// amount or the payee calls for one, TXN-01), card deposits through a
// payment provider, and the limits of each verification level with the
// velocity limits (RSK-03).
//
// Every movement of money is one ledger entry (package ledger) built by
// the functions of entries.go, submitted with a hook that runs in the
// ledger's own transaction: the final gate (freeze, holds, limits and
// velocity counters, TXN-03), the transaction rows and the notifications
// (NOT-02) commit together with the entry or not at all. The hook does
// nothing but that: every read that can be done before, and every text
// that can be rendered before, is done before, so the ledger's batches
// stay fast.
//
// Idempotency: every money-moving call takes the client's key. A key
// names one transaction of one user for good: a retry returns that
// transaction (even a failed one), the same key with other details fails
// with EIdempotencyKeyReused.
package wallet

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/clock"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/identity/risk"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/ledger"
	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/notify"
	"github.com/okpay/okpay/psp"
	"github.com/okpay/okpay/sqldb"
)

// Error codes of this package (besides okpay's generic ones and those of
// ledger and identity that pass through: insufficient_funds,
// account_frozen, hold_active, contact_unverified, invalid_code...).
const (
	ESelfTransfer         = "self_transfer"
	ECurrencyNotSupported = "currency_not_supported"
	ELimitExceeded        = "limit_exceeded"
	EAuthExpired          = "authorization_expired"
	ETooManyAttempts      = "too_many_attempts"
	EIllegalTransition    = "illegal_transition"
	EWalletNotEmpty       = "wallet_not_empty"
	EIdempotencyKeyReused = ledger.EIdempotencyKeyReused
	EInsufficientFunds    = ledger.EInsufficientFunds
	EDepositsUnavailable  = "deposits_unavailable"
	EDeclined             = "declined"
	EAmountBelowFee       = "amount_below_fee"
)

// Id prefixes of the API (package ids).
const (
	TxnPrefix    = "txn"
	WalletPrefix = "wal"
)

// Identity is what the wallet needs of the identity service
// (*identity.Service implements it, see identity/money.go).
type Identity interface {
	FindPayee(ctx context.Context, kind, value string) (identity.Payee, error)
	LoadParty(ctx context.Context, userID int64) (identity.Payee, error)
	SendTxnCode(ctx context.Context, tx *sql.Tx, userID int64, a identity.TxnAuth, m identity.Meta) (string, error)
	CheckTxnCode(ctx context.Context, tx *sql.Tx, userID int64, a identity.TxnAuth, method, code string) error
	PrepareNotice(p identity.Payee, n identity.MoneyNotice) (*identity.Notice, error)
	// Money prepares what the ledger hooks run: the money-out gate
	// (CheckMoneyOut) and the writing of notices (WriteNotices).
	Money(ctx context.Context) (*identity.Money, error)
	WakeNotices()
}

// Fees quotes the fee of an operation ("transfer", "deposit", ...) by a
// method ("wallet", "card", ...) for an amount; rule names the schedule
// line applied. The fee is in the amount's currency.
type Fees interface {
	Quote(op, method string, amount money.Amount) (fee money.Amount, rule string, err error)
}

// Cards gives the provider token of a customer's verified card to charge
// (package paymethod).
type Cards interface {
	DepositToken(ctx context.Context, userID, methodID int64) (token string, err error)
}

// Fee operations and methods asked of Fees.
const (
	OpTransfer   = "transfer"
	OpDeposit    = "deposit"
	MethodWallet = "wallet"
	MethodCard   = "card"
)

// Deps are the collaborators of a Service.
type Deps struct {
	DB       *sqldb.DB
	Ledger   *ledger.Ledger
	Identity Identity
	// Fees is optional: without it nothing costs a fee.
	Fees Fees
	// Provider and Cards are optional: without them deposits are
	// unavailable.
	Provider psp.Provider
	Cards    Cards
	// Catalog translates failure reasons and limit messages (optional).
	Catalog *i18n.Catalog
	Clock   clock.Clock
	IDs     ids.Generator
	Logger  *slog.Logger
}

// LevelLimits are the money-out limits of a verification level, per
// currency, in minor units: what may leave a user's wallets (transfers,
// remittances, withdrawals, fees included) per calendar day and month.
type LevelLimits struct {
	Name    string
	Daily   map[money.Currency]int64
	Monthly map[money.Currency]int64
}

// Velocity limits count operations (SECURITY.md "Default parameters").
type Velocity struct {
	TransfersPerHour  int // 20
	TransfersPerDay   int // 100
	NewPayeesPerDay   int // 5
	WithdrawalsPerDay int // 5
}

// Config is the wallet policy. Zero fields take the defaults.
type Config struct {
	// Currencies customers can hold (default CNY, USD, EUR, GBP, JPY,
	// HKD, RUB).
	Currencies []money.Currency
	// StepUp is, per currency, the transfer amount (minor units) from
	// which a transaction code is needed (TXN-01); transfers to a payee
	// never paid before always need one.
	StepUp map[money.Currency]int64
	// Levels are the limits of each verification level, by level: 0 is an
	// unverified account, 1 one whose identity document was reviewed.
	Levels   []LevelLimits
	Velocity Velocity
	// Location sets the calendar of the limit windows (hour, day, month;
	// default UTC).
	Location *time.Location
	// AuthWindow is how long a transfer waits for its code before it
	// fails (default 15 min).
	AuthWindow time.Duration
	// MaxNoteRunes bounds a transfer's note (default 140).
	MaxNoteRunes int
	// Channels are the notification channels per notice kind (defaults in
	// DefaultChannels).
	Channels map[string][]string
	// NewDeviceCap is the new-device money-out cap (RSK-01, risk.go): for
	// Window after an account first used the device a request comes from
	// (Meta.DeviceID, the web's __Host-did cookie; a request naming no
	// device counts as a new device), the money leaving the account per
	// day is at most Percent of the level's daily limit. Zero fields
	// take risk.DefaultDeviceCap's (20% for 72 h); Percent 100 turns the
	// cap off.
	NewDeviceCap risk.DeviceCap
}

// Notice kinds (catalog "notify.<kind>.*", wallet.en.toml).
const (
	NoticeTransferSent     = "transfer_sent"
	NoticeTransferReceived = "transfer_received"
	NoticeDepositCompleted = "deposit_completed"
	NoticeDepositFailed    = "deposit_failed"
	NoticeLimitsChanged    = "limits_changed"
)

// DefaultChannels: money leaving an account and limit changes reach every
// channel (they are security-relevant: NOT-01, NOT-06); money arriving
// reaches email and the in-app list.
func DefaultChannels() map[string][]string {
	all := []string{notify.ChannelEmail, notify.ChannelSMS, notify.ChannelInApp}
	quiet := []string{notify.ChannelEmail, notify.ChannelInApp}
	return map[string][]string{
		NoticeTransferSent:     all,
		NoticeTransferReceived: quiet,
		NoticeDepositCompleted: quiet,
		NoticeDepositFailed:    quiet,
		NoticeLimitsChanged:    all,
	}
}

// DefaultCurrencies are the currencies customers can hold by default.
func DefaultCurrencies() []money.Currency {
	return []money.Currency{"CNY", "USD", "EUR", "GBP", "JPY", "HKD", "RUB"}
}

// defaultStepUp is about CN¥2,000 in each currency.
var defaultStepUp = map[money.Currency]int64{
	"CNY": 2_000_00, "USD": 300_00, "EUR": 250_00, "GBP": 220_00, "JPY": 40_000, "HKD": 2_200_00, "RUB": 25_000_00,
}

// DefaultLevels: level 0 (unverified) may send about CN¥5,000 a day and
// CN¥20,000 a month; level 1 (identity document reviewed) ten times that.
func DefaultLevels() []LevelLimits {
	base := map[money.Currency]int64{
		"CNY": 5_000_00, "USD": 700_00, "EUR": 650_00, "GBP": 550_00, "JPY": 100_000, "HKD": 5_500_00, "RUB": 60_000_00,
	}
	scale := func(k int64) map[money.Currency]int64 {
		m := make(map[money.Currency]int64, len(base))
		for c, v := range base {
			m[c] = v * k
		}
		return m
	}
	return []LevelLimits{
		{Name: "unverified", Daily: scale(1), Monthly: scale(4)},
		{Name: "verified", Daily: scale(10), Monthly: scale(40)},
	}
}

func (c *Config) defaults() {
	if len(c.Currencies) == 0 {
		c.Currencies = DefaultCurrencies()
	}
	if c.StepUp == nil {
		c.StepUp = defaultStepUp
	}
	if len(c.Levels) == 0 {
		c.Levels = DefaultLevels()
	}
	v := &c.Velocity
	for _, f := range []struct {
		p *int
		d int
	}{{&v.TransfersPerHour, 20}, {&v.TransfersPerDay, 100}, {&v.NewPayeesPerDay, 5}, {&v.WithdrawalsPerDay, 5}} {
		if *f.p <= 0 {
			*f.p = f.d
		}
	}
	if c.Location == nil {
		c.Location = time.UTC
	}
	if c.AuthWindow <= 0 {
		c.AuthWindow = 15 * time.Minute
	}
	if c.MaxNoteRunes <= 0 {
		c.MaxNoteRunes = 140
	}
	if c.NewDeviceCap.Percent <= 0 {
		c.NewDeviceCap.Percent = risk.NewDeviceCapPercent
	}
	if c.NewDeviceCap.Window <= 0 {
		c.NewDeviceCap.Window = risk.NewDeviceWindow
	}
	ch := DefaultChannels()
	for k, v := range c.Channels {
		ch[k] = v
	}
	c.Channels = ch
}

// check reports a configuration that cannot work.
func (c *Config) check() error {
	if c.NewDeviceCap.Percent > 100 {
		return errors.New("wallet: the new-device cap is a percentage of the daily limit, at most 100")
	}
	seen := map[money.Currency]bool{}
	for _, cur := range c.Currencies {
		if !cur.Valid() {
			return errors.New("wallet: unknown currency " + string(cur))
		}
		if seen[cur] {
			return errors.New("wallet: currency " + string(cur) + " is listed twice")
		}
		seen[cur] = true
		if c.StepUp[cur] <= 0 {
			return errors.New("wallet: no step-up threshold for " + string(cur))
		}
		for i, l := range c.Levels {
			if l.Daily[cur] <= 0 || l.Monthly[cur] <= 0 {
				return errors.New("wallet: level " + itoa(int64(i)) + " has no daily or monthly limit for " + string(cur))
			}
		}
	}
	return nil
}

// Service is the wallet. It is safe for concurrent use.
type Service struct {
	db     *sqldb.DB
	ledger *ledger.Ledger
	id     Identity
	fees   Fees
	psp    psp.Provider
	cards  Cards
	cat    *i18n.Catalog
	clock  clock.Clock
	ids    ids.Generator
	log    *slog.Logger
	cfg    Config
	st     *stmts
	money  *identity.Money

	currencies map[money.Currency]bool

	// Caches of facts that never change once true: a wallet's account,
	// a system account, a payee already paid.
	mu      sync.RWMutex
	wallets map[walletKey]int64
	system  map[string]int64
	known   map[[2]int64]struct{}
}

type walletKey struct {
	user int64
	cur  money.Currency
}

// maxCache bounds each cache; past it the cache starts over.
const maxCache = 1 << 20

// New returns a Service and creates the system accounts of the configured
// currencies (idempotent: they are found by their codes). Call Close when
// done.
func New(ctx context.Context, d Deps, cfg Config) (*Service, error) {
	if d.DB == nil || d.Ledger == nil || d.Identity == nil {
		return nil, errors.New("wallet: DB, Ledger and Identity are required")
	}
	if d.Clock == nil {
		d.Clock = clock.System{}
	}
	if d.IDs == nil {
		g, err := ids.NewSnowflake(0, d.Clock.Now)
		if err != nil {
			return nil, err
		}
		d.IDs = g
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.defaults()
	if err := cfg.check(); err != nil {
		return nil, err
	}
	st, err := prepareStmts(ctx, d.DB)
	if err != nil {
		return nil, err
	}
	gate, err := d.Identity.Money(ctx)
	if err != nil {
		st.close()
		return nil, err
	}
	s := &Service{
		db: d.DB, ledger: d.Ledger, id: d.Identity, fees: d.Fees, psp: d.Provider, cards: d.Cards, cat: d.Catalog,
		clock: d.Clock, ids: d.IDs, log: d.Logger, cfg: cfg, st: st, money: gate,
		currencies: map[money.Currency]bool{},
		wallets:    map[walletKey]int64{},
		system:     map[string]int64{},
		known:      map[[2]int64]struct{}{},
	}
	for _, c := range cfg.Currencies {
		s.currencies[c] = true
		for _, name := range []string{SysFeeRevenue, SysFeePending, SysSuspense, SysWithdrawals, SysFXLiquidity} {
			if _, err := s.SystemAccount(ctx, name, c); err != nil {
				s.Close()
				return nil, err
			}
		}
	}
	return s, nil
}

// Close releases the prepared statements.
func (s *Service) Close() {
	s.st.close()
	s.money.Close()
}

// Config returns the effective configuration.
func (s *Service) Config() Config { return s.cfg }

func (s *Service) now() time.Time { return s.clock.Now().UTC().Truncate(time.Microsecond) }

func (s *Service) checkCurrency(c money.Currency) error {
	if !s.currencies[c] {
		return okpay.Errorf(ECurrencyNotSupported, "OKPay wallets do not hold %s.", string(c))
	}
	return nil
}

// quoteFee asks the fee schedule (none without one).
func (s *Service) quoteFee(op, method string, a money.Amount) (money.Amount, string, error) {
	if s.fees == nil {
		return money.New(0, a.Currency), "", nil
	}
	fee, rule, err := s.fees.Quote(op, method, a)
	if err != nil {
		return money.Amount{}, "", err
	}
	if fee.Currency != a.Currency || fee.Minor < 0 {
		return money.Amount{}, "", okpay.Internal(errors.New("fee schedule answered "+fee.String()+" "+string(fee.Currency)), "quote fee")
	}
	return fee, rule, nil
}
