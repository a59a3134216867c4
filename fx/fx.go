// Package fx holds OKPay's exchange rates and the quotes customers accept
// before exchanging or remitting money between currencies.
//
// # Rates
//
// A Rate is exact (a big.Rat, see Rate): base→quote, "1 EUR = 7.6543 CNY".
// Rates come from three sources, all stored in the append-only table
// fx_rates with their source, the time they are valid from (as_of) and the
// time OKPay stored them (imported_at):
//
//   - the ECB's daily reference rates (ParseECB, Service.ImportECB), EUR→X;
//   - a rates file in CSV (ParseRatesFile, Service.ImportFile);
//   - an operator's rate set on the admin page (Service.SetRate), which
//     returns the stored record naming who set it and when.
//
// For each ordered pair the row with the latest as_of wins (ties: the one
// stored last). To price from→to the service looks, in this order, for:
//
//  1. a direct rate: the latest of from→to and to→from (inverted);
//  2. a cross rate through the pivot currency (EUR by default):
//     pivot→to / pivot→from, each leg direct or inverted, as of the older
//     leg — computed exactly, so CNY→JPY = EUR→JPY / EUR→CNY to the last
//     digit.
//
// A path older than Config.MaxAge is stale and not used; when every path
// is stale the quote is refused with ERateStale, and when there is no path
// at all with ERateUnavailable. A direct rate therefore overrides the
// cross rate while it is fresh (an operator's override of the ECB rate).
//
// # Quotes
//
// Service.Quote prices an exchange for one user: the customer fixes either
// the amount sold (SideSell) or the amount bought (SideBuy). The customer's
// rate is the mid rate less the spread (Config.SpreadBP per pair, else
// Config.DefaultSpreadBP), and amounts are rounded in the house's favour to
// the currencies' ISO 4217 minor units: the customer receives the floor and
// pays the ceiling. The quote is stored and can be executed once, by the
// same user, until ExpiresAt (Config.QuoteTTL): Service.Take marks it used
// inside the caller's transaction.
//
// A quote also says how the exchange is booked (LEDGER.md "FX"): see
// Quote.Legs.
package fx

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/clock"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/sqldb"
)

// Error codes of this package, besides the generic ones of package okpay.
const (
	// ERateUnavailable: no rate, direct or through the pivot, links the
	// two currencies.
	ERateUnavailable = "fx_rate_unavailable"
	// ERateStale: every rate linking the two currencies is older than
	// Config.MaxAge, so no quote is given until a fresh one arrives.
	ERateStale = "fx_rate_stale"
	// EAmountTooSmall: the amount is so small that the other side of the
	// exchange rounds to nothing.
	EAmountTooSmall = "fx_amount_too_small"
	// EQuoteExpired: the quote's time ran out before it was executed.
	EQuoteExpired = "fx_quote_expired"
	// EQuoteUsed: the quote was executed already.
	EQuoteUsed = "fx_quote_used"
	// EAmountOverflow: the exchanged amount does not fit the ledger's
	// int64 minor units (same code as package money's).
	EAmountOverflow = money.CodeAmountOverflow
)

// Rate sources.
const (
	SourceECB   = "ecb"
	SourceFile  = "file"
	SourceAdmin = "admin"
)

// QuotePrefix is the id prefix of quotes shown to people: fxq_….
const QuotePrefix = "fxq"

// Pair names an ordered currency pair, base→quote.
type Pair struct {
	Base, Quote money.Currency
}

// String returns "EUR/CNY".
func (p Pair) String() string { return string(p.Base) + "/" + string(p.Quote) }

// Config configures the service. Zero values take the defaults.
type Config struct {
	// DefaultSpreadBP is the spread in basis points (1/100 of a percent)
	// taken from the mid rate in the house's favour when SpreadBP has no
	// entry for the pair. Default 50 (0.5%); set NoSpread for none.
	DefaultSpreadBP int
	// NoSpread makes the default spread 0 instead of 50.
	NoSpread bool
	// SpreadBP overrides the spread per pair. A pair applies in both
	// directions unless the reverse pair has its own entry.
	SpreadBP map[Pair]int
	// MaxAge is how old a rate may be and still price a quote. Default
	// 96 h: the ECB publishes on TARGET business days only, so Friday's
	// rates must last until Monday's arrive (72 h and a bit); a longer
	// closure (Easter) needs an operator's rate.
	MaxAge time.Duration
	// QuoteTTL is how long a quote can be executed. Default 60 s.
	QuoteTTL time.Duration
	// Pivot is the currency cross rates go through. Default EUR (the
	// ECB's base).
	Pivot money.Currency
}

// Defaults.
const (
	DefaultSpreadBP = 50
	DefaultMaxAge   = 96 * time.Hour
	DefaultQuoteTTL = 60 * time.Second
	// MaxSpreadBP bounds a spread: 20%.
	MaxSpreadBP = 2000
)

func (c *Config) normalize() error {
	if c.DefaultSpreadBP == 0 && !c.NoSpread {
		c.DefaultSpreadBP = DefaultSpreadBP
	}
	if c.MaxAge <= 0 {
		c.MaxAge = DefaultMaxAge
	}
	if c.QuoteTTL <= 0 {
		c.QuoteTTL = DefaultQuoteTTL
	}
	if c.Pivot == "" {
		c.Pivot = "EUR"
	}
	if !c.Pivot.Valid() {
		return fmt.Errorf("fx: pivot %q is not a supported currency", c.Pivot)
	}
	if c.DefaultSpreadBP < 0 || c.DefaultSpreadBP > MaxSpreadBP {
		return fmt.Errorf("fx: default spread %d bp is outside 0..%d", c.DefaultSpreadBP, MaxSpreadBP)
	}
	for p, bp := range c.SpreadBP {
		if !p.Base.Valid() || !p.Quote.Valid() || p.Base == p.Quote {
			return fmt.Errorf("fx: spread for %s: not a pair of two supported currencies", p)
		}
		if bp < 0 || bp > MaxSpreadBP {
			return fmt.Errorf("fx: spread for %s: %d bp is outside 0..%d", p, bp, MaxSpreadBP)
		}
	}
	return nil
}

// spreadBP returns the spread of from→to.
func (c *Config) spreadBP(from, to money.Currency) int {
	if bp, ok := c.SpreadBP[Pair{from, to}]; ok {
		return bp
	}
	if bp, ok := c.SpreadBP[Pair{to, from}]; ok {
		return bp
	}
	return c.DefaultSpreadBP
}

// Service stores rates and quotes.
type Service struct {
	db    *sqldb.DB
	clock clock.Clock
	ids   ids.Generator
	cfg   Config
}

// New returns a Service.
func New(db *sqldb.DB, clk clock.Clock, gen ids.Generator, cfg Config) (*Service, error) {
	if db == nil || clk == nil || gen == nil {
		return nil, errors.New("fx: missing dependency")
	}
	if err := cfg.normalize(); err != nil {
		return nil, err
	}
	// Keep our own copy of the spread table.
	m := make(map[Pair]int, len(cfg.SpreadBP))
	for p, bp := range cfg.SpreadBP {
		m[p] = bp
	}
	cfg.SpreadBP = m
	return &Service{db: db, clock: clk, ids: gen, cfg: cfg}, nil
}

// Config returns the effective configuration (the caller must not change
// its SpreadBP map).
func (s *Service) Config() Config { return s.cfg }

// RateRecord is a stored rate.
type RateRecord struct {
	ID         int64
	Rate       Rate
	Source     string
	AsOf       time.Time // valid from
	ImportedAt time.Time // stored at
	CreatedBy  string    // the operator, for admin rates
	Note       string
}

// SetRateInput asks for an operator's rate.
type SetRateInput struct {
	Base, Quote money.Currency
	// Rate is a plain decimal, as ParseRate reads it.
	Rate string
	// By names the operator (e.g. "admin:42"); required.
	By string
	// Note says why (optional, at most 200 characters).
	Note string
}

// SetRate stores an operator's rate, valid from now, and returns the stored
// record: who set it, when, and the exact value. It is never changed
// afterwards (a correction is a new rate), so the table is its audit
// trail. Returns EInvalid for a bad pair, rate, By or Note.
func (s *Service) SetRate(ctx context.Context, in SetRateInput) (*RateRecord, error) {
	return s.setRate(ctx, in, nil)
}

// setRate is SetRate; then, when not nil, runs in the transaction that
// stores the rate (SetRateAudited's audit record).
func (s *Service) setRate(ctx context.Context, in SetRateInput, then func(tx *sql.Tx, rec *RateRecord) error) (*RateRecord, error) {
	r, err := ParseRate(in.Base, in.Quote, in.Rate)
	if err != nil {
		return nil, err
	}
	switch {
	case in.By == "" || len(in.By) > 100:
		return nil, okpay.Invalid(map[string]string{"by": "Name the operator who sets the rate (at most 100 characters)."})
	case len([]rune(in.Note)) > 200:
		return nil, okpay.Invalid(map[string]string{"note": "The note must be at most 200 characters."})
	}
	now := s.now()
	rec := &RateRecord{ID: s.ids.Next(), Rate: r, Source: SourceAdmin, AsOf: now, ImportedAt: now, CreatedBy: in.By, Note: in.Note}
	err = s.db.InTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO fx_rates (id, base, quote, rate, source, as_of, imported_at, created_by, note)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			rec.ID, string(r.Base), string(r.Quote), r.Exact(), rec.Source, now.UnixMicro(), now.UnixMicro(), in.By, in.Note); err != nil {
			return err
		}
		if then != nil {
			return then(tx, rec)
		}
		return nil
	})
	if sqldb.IsUniqueViolation(err) {
		return nil, okpay.Errorf(okpay.EConflict, "A rate for %s was set at this very moment; try again.", Pair{r.Base, r.Quote})
	}
	if err != nil {
		return nil, okpay.Internal(err, "store the rate")
	}
	return rec, nil
}

// ImportResult reports an import.
type ImportResult struct {
	// Inserted counts new rates; Unchanged counts rates already stored
	// with the same pair, source and as_of (a re-import).
	Inserted, Unchanged int
	// Skipped lists what the parser left out, and why.
	Skipped []string
}

// maxFuture is how far in the future an imported as_of may lie (clock
// skew); a later one is a typo that would pin the rate as "latest".
const maxFuture = time.Hour

// Import stores a parsed batch under source (a short lower-case name such
// as "ecb" or "file"), in one transaction. Re-importing the same rates
// changes nothing. A rate whose as_of lies more than an hour ahead of now
// fails the whole batch.
func (s *Service) Import(ctx context.Context, source string, b *Batch) (ImportResult, error) {
	return s.importBatch(ctx, source, b, nil)
}

// importBatch is Import; then, when not nil, runs in the transaction that
// stores the batch, after it (ImportAudited's audit record).
func (s *Service) importBatch(ctx context.Context, source string, b *Batch, then func(tx *sql.Tx, res ImportResult) error) (ImportResult, error) {
	res := ImportResult{Skipped: b.Skipped}
	if !validSource(source) {
		return res, okpay.Invalid(map[string]string{"source": "The source must be 1 to 32 lower-case letters, digits or - _ . :"})
	}
	now := s.now()
	for _, o := range b.Rates {
		if o.Rate.IsZero() || checkPair(o.Rate.Base, o.Rate.Quote) != nil {
			return res, okpay.Errorf(okpay.EInvalid, "The batch holds an invalid rate.")
		}
		if o.AsOf.After(now.Add(maxFuture)) {
			return res, okpay.Errorf(okpay.EInvalid, "The %s rate is dated %s, in the future.", Pair{o.Rate.Base, o.Rate.Quote}, o.AsOf.UTC().Format(time.RFC3339))
		}
	}
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		res.Inserted, res.Unchanged = 0, 0
		for _, o := range b.Rates {
			r, err := tx.ExecContext(ctx, `INSERT INTO fx_rates (id, base, quote, rate, source, as_of, imported_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (base, quote, source, as_of) DO NOTHING`,
				s.ids.Next(), string(o.Rate.Base), string(o.Rate.Quote), o.Rate.Exact(), source, o.AsOf.UnixMicro(), now.UnixMicro())
			if err != nil {
				return err
			}
			if n, _ := r.RowsAffected(); n == 1 {
				res.Inserted++
			} else {
				res.Unchanged++
			}
		}
		if then != nil {
			return then(tx, res)
		}
		return nil
	})
	if err != nil {
		return res, okpay.Internal(err, "store the imported rates")
	}
	return res, nil
}

// ImportECB parses an ECB reference-rate document (ParseECB) and stores it
// under SourceECB.
func (s *Service) ImportECB(ctx context.Context, r io.Reader) (ImportResult, error) {
	b, err := ParseECB(r)
	if err != nil {
		return ImportResult{}, okpay.Errorf(okpay.EInvalid, "%s", err.Error())
	}
	return s.Import(ctx, SourceECB, b)
}

// ImportFile parses a rates file (ParseRatesFile) and stores it under
// SourceFile.
func (s *Service) ImportFile(ctx context.Context, r io.Reader) (ImportResult, error) {
	b, err := ParseRatesFile(r)
	if err != nil {
		return ImportResult{}, okpay.Errorf(okpay.EInvalid, "%s", err.Error())
	}
	return s.Import(ctx, SourceFile, b)
}

func validSource(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}

const rateColumns = `id, base, quote, rate, source, as_of, imported_at, created_by, note`

func scanRate(sc interface{ Scan(...any) error }) (*RateRecord, error) {
	var (
		rec               RateRecord
		base, quote, text string
		asOf, imported    int64
	)
	if err := sc.Scan(&rec.ID, &base, &quote, &text, &rec.Source, &asOf, &imported, &rec.CreatedBy, &rec.Note); err != nil {
		return nil, err
	}
	r, err := ParseExact(money.Currency(base), money.Currency(quote), text)
	if err != nil {
		return nil, fmt.Errorf("fx: stored rate %d (%s/%s %q) is unreadable: %w", rec.ID, base, quote, text, err)
	}
	rec.Rate = r
	rec.AsOf = time.UnixMicro(asOf).UTC()
	rec.ImportedAt = time.UnixMicro(imported).UTC()
	return &rec, nil
}

// Latest returns the latest rate of every stored ordered pair, sorted by
// base and quote: what the admin page lists.
func (s *Service) Latest(ctx context.Context) ([]*RateRecord, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT `+rateColumns+` FROM fx_rates r
		WHERE NOT EXISTS (SELECT 1 FROM fx_rates n WHERE n.base = r.base AND n.quote = r.quote
			AND (n.as_of > r.as_of OR (n.as_of = r.as_of AND n.id > r.id)))
		ORDER BY base, quote`)
	if err != nil {
		return nil, okpay.Internal(err, "list rates")
	}
	defer rows.Close()
	var out []*RateRecord
	for rows.Next() {
		rec, err := scanRate(rows)
		if err != nil {
			return nil, okpay.Internal(err, "list rates")
		}
		out = append(out, rec)
	}
	if err := rows.Err(); err != nil {
		return nil, okpay.Internal(err, "list rates")
	}
	return out, nil
}

// History returns the stored rates of base→quote, newest first, at most
// limit (1..1000) of them.
func (s *Service) History(ctx context.Context, p Pair, limit int) ([]*RateRecord, error) {
	if limit < 1 || limit > 1000 {
		limit = 100
	}
	rows, err := s.db.Read.QueryContext(ctx, `SELECT `+rateColumns+` FROM fx_rates
		WHERE base = $1 AND quote = $2 ORDER BY as_of DESC, id DESC LIMIT $3`, string(p.Base), string(p.Quote), limit)
	if err != nil {
		return nil, okpay.Internal(err, "list rate history")
	}
	defer rows.Close()
	var out []*RateRecord
	for rows.Next() {
		rec, err := scanRate(rows)
		if err != nil {
			return nil, okpay.Internal(err, "list rate history")
		}
		out = append(out, rec)
	}
	if err := rows.Err(); err != nil {
		return nil, okpay.Internal(err, "list rate history")
	}
	return out, nil
}

func (s *Service) now() time.Time { return s.clock.Now().UTC().Truncate(time.Microsecond) }
