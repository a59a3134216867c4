package fx

import (
	"context"
	"database/sql"
	"errors"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/money"
)

// Derived is the mid rate the service found for a pair, and where it came
// from.
type Derived struct {
	Rate Rate      // from→to
	AsOf time.Time // as of the oldest leg
	// Source describes the path for people and the quote's record:
	// "ecb EUR/CNY" for a direct rate, "ecb EUR/CNY × ecb EUR/JPY" for a
	// cross rate (each stored pair as it is stored).
	Source string
	// Legs are the stored rates used: one (direct) or two (cross).
	Legs []*RateRecord
}

// MidRate returns the mid rate from→to by the rules of the package
// documentation: a fresh direct rate, else a fresh cross rate through the
// pivot. Returns ERateStale when the only paths are too old, and
// ERateUnavailable when there is none.
func (s *Service) MidRate(ctx context.Context, from, to money.Currency) (*Derived, error) {
	if err := checkPair(from, to); err != nil {
		return nil, err
	}
	pivot := s.cfg.Pivot
	pairs := []Pair{{from, to}, {to, from}}
	cross := from != pivot && to != pivot
	if cross {
		pairs = append(pairs, Pair{pivot, from}, Pair{from, pivot}, Pair{pivot, to}, Pair{to, pivot})
	}
	recs, err := s.latestOf(ctx, pairs)
	if err != nil {
		return nil, err
	}
	var candidates []*Derived
	if rec := newer(recs[Pair{from, to}], recs[Pair{to, from}]); rec != nil {
		candidates = append(candidates, &Derived{
			Rate:   orient(rec.Rate, from, to),
			AsOf:   rec.AsOf,
			Source: describe(rec),
			Legs:   []*RateRecord{rec},
		})
	}
	if cross {
		lf := newer(recs[Pair{pivot, from}], recs[Pair{from, pivot}])
		lt := newer(recs[Pair{pivot, to}], recs[Pair{to, pivot}])
		if lf != nil && lt != nil {
			// from→to = (pivot→to) / (pivot→from)
			v := new(big.Rat).Quo(orient(lt.Rate, pivot, to).v, orient(lf.Rate, pivot, from).v)
			asOf := lf.AsOf
			if lt.AsOf.Before(asOf) {
				asOf = lt.AsOf
			}
			candidates = append(candidates, &Derived{
				Rate:   Rate{Base: from, Quote: to, v: v},
				AsOf:   asOf,
				Source: describe(lf) + " × " + describe(lt),
				Legs:   []*RateRecord{lf, lt},
			})
		}
	}
	if len(candidates) == 0 {
		return nil, okpay.Errorf(ERateUnavailable, "There is no exchange rate between %s and %s.", from, to)
	}
	now := s.now()
	freshest := candidates[0]
	for _, c := range candidates {
		if now.Sub(c.AsOf) <= s.cfg.MaxAge {
			return c, nil
		}
		if c.AsOf.After(freshest.AsOf) {
			freshest = c
		}
	}
	return nil, okpay.Errorf(ERateStale,
		"The exchange rate between %s and %s dates from %s, more than %s ago; exchanges between them are paused until a new rate arrives.",
		from, to, freshest.AsOf.Format("2006-01-02 15:04 MST"), formatDuration(s.cfg.MaxAge))
}

func formatDuration(d time.Duration) string {
	if d%time.Hour == 0 {
		return strconv.FormatInt(int64(d/time.Hour), 10) + " hours"
	}
	return d.String()
}

func describe(r *RateRecord) string { return r.Source + " " + Pair{r.Rate.Base, r.Rate.Quote}.String() }

// orient returns r as base→quote, inverting it if it is stored the other
// way round.
func orient(r Rate, base, quote money.Currency) Rate {
	if r.Base == base && r.Quote == quote {
		return r
	}
	return r.Inverse()
}

// newer returns the later of two records (nil when both are).
func newer(a, b *RateRecord) *RateRecord {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	case b.AsOf.After(a.AsOf), b.AsOf.Equal(a.AsOf) && b.ID > a.ID:
		return b
	}
	return a
}

// latestOf loads the latest stored rate of each pair, in one query.
func (s *Service) latestOf(ctx context.Context, pairs []Pair) (map[Pair]*RateRecord, error) {
	var q strings.Builder
	args := make([]any, 0, 2*len(pairs))
	for i, p := range pairs {
		if i > 0 {
			q.WriteString(" UNION ALL ")
		}
		n := len(args)
		q.WriteString(`SELECT * FROM (SELECT ` + rateColumns + ` FROM fx_rates WHERE base = $` + strconv.Itoa(n+1) +
			` AND quote = $` + strconv.Itoa(n+2) + ` ORDER BY as_of DESC, id DESC LIMIT 1) AS p` + strconv.Itoa(i))
		args = append(args, string(p.Base), string(p.Quote))
	}
	rows, err := s.db.Read.QueryContext(ctx, q.String(), args...)
	if err != nil {
		return nil, okpay.Internal(err, "load rates")
	}
	defer rows.Close()
	out := make(map[Pair]*RateRecord, len(pairs))
	for rows.Next() {
		rec, err := scanRate(rows)
		if err != nil {
			return nil, okpay.Internal(err, "load rates")
		}
		out[Pair{rec.Rate.Base, rec.Rate.Quote}] = rec
	}
	if err := rows.Err(); err != nil {
		return nil, okpay.Internal(err, "load rates")
	}
	return out, nil
}

// Side says which amount of an exchange the customer fixes.
type Side string

// Sides.
const (
	// SideSell: the customer fixes the amount sold (in From) and receives
	// what it buys, rounded down.
	SideSell Side = "sell"
	// SideBuy: the customer fixes the amount bought (in To) and pays what
	// it costs, rounded up.
	SideBuy Side = "buy"
)

// Valid reports whether s is SideSell or SideBuy.
func (s Side) Valid() bool { return s == SideSell || s == SideBuy }

// Priced is an exchange priced at a rate, before it is stored as a quote.
type Priced struct {
	Sell money.Amount // the customer pays, in From
	Buy  money.Amount // the customer receives, in To
	// Rate is the customer's rate: the mid rate less the spread.
	Rate Rate
	// SellAtMid is the part of Sell that buys Buy at the mid rate,
	// rounded up (the house's liquidity side is never short); Spread is
	// the rest, the house's revenue in From: the spread plus the
	// rounding. Sell = SellAtMid + Spread.
	SellAtMid money.Amount
	Spread    money.Amount
}

var (
	bigOne   = big.NewInt(1)
	bp10000  = big.NewInt(10000)
	maxInt64 = big.NewInt(math.MaxInt64)
)

func pow10(n int) *big.Int { return new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil) }

// ceilDiv returns ⌈a/b⌉ for a ≥ 0, b > 0.
func ceilDiv(a, b *big.Int) *big.Int {
	q, r := new(big.Int).QuoRem(a, b, new(big.Int))
	if r.Sign() != 0 {
		q.Add(q, bigOne)
	}
	return q
}

// Price prices an exchange at mid (From→To) less spreadBP basis points.
// With SideSell, amount is what the customer sells (in mid.Base) and Buy
// is rounded down to To's minor unit; with SideBuy, amount is what the
// customer buys (in mid.Quote) and Sell is rounded up to From's minor
// unit. All arithmetic is exact (big.Int and big.Rat; no floats).
//
// Errors: EInvalid for a bad side, spread, currency or non-positive
// amount; EAmountTooSmall when the other side rounds to zero;
// EAmountOverflow when it exceeds the int64 range of minor units.
func Price(mid Rate, spreadBP int, side Side, amount money.Amount) (Priced, error) {
	from, to := mid.Base, mid.Quote
	switch {
	case mid.IsZero() || checkPair(from, to) != nil:
		return Priced{}, okpay.Invalid(map[string]string{"rate": "There is no valid rate."})
	case spreadBP < 0 || spreadBP > MaxSpreadBP:
		return Priced{}, okpay.Invalid(map[string]string{"spread": "The spread is out of range."})
	case !side.Valid():
		return Priced{}, okpay.Invalid(map[string]string{"side": "Choose whether you fix the amount you sell or the amount you buy."})
	case side == SideSell && amount.Currency != from, side == SideBuy && amount.Currency != to:
		return Priced{}, okpay.Invalid(map[string]string{"amount": "The amount is in the wrong currency."})
	case amount.Minor <= 0:
		return Priced{}, okpay.Invalid(map[string]string{"amount": "Enter an amount greater than zero."})
	}
	// Customer rate R = mid × (10000 − bp) / 10000.
	rate := new(big.Rat).Mul(mid.v, new(big.Rat).SetFrac(big.NewInt(int64(10000-spreadBP)), bp10000))
	// In minor units, with eF, eT the exponents:
	//   buy  = sell × R × 10^eT / 10^eF
	//   sell = buy × 10^eF / (R × 10^eT)
	scaleF, scaleT := pow10(from.Exponent()), pow10(to.Exponent())
	var sell, buy *big.Int
	if side == SideSell {
		sell = big.NewInt(amount.Minor)
		num := new(big.Int).Mul(sell, rate.Num())
		num.Mul(num, scaleT)
		den := new(big.Int).Mul(rate.Denom(), scaleF)
		buy = new(big.Int).Quo(num, den) // floor: both positive
	} else {
		buy = big.NewInt(amount.Minor)
		num := new(big.Int).Mul(buy, rate.Denom())
		num.Mul(num, scaleF)
		den := new(big.Int).Mul(rate.Num(), scaleT)
		sell = ceilDiv(num, den)
	}
	// The part of sell worth buy at the mid rate, rounded up.
	num := new(big.Int).Mul(buy, mid.v.Denom())
	num.Mul(num, scaleF)
	atMid := ceilDiv(num, new(big.Int).Mul(mid.v.Num(), scaleT))
	switch {
	case sell.Cmp(maxInt64) > 0 || buy.Cmp(maxInt64) > 0:
		return Priced{}, okpay.Errorf(EAmountOverflow, "The amount is too large to exchange.")
	case buy.Sign() == 0:
		return Priced{}, okpay.Errorf(EAmountTooSmall, "The amount is too small: it buys less than the smallest unit of %s.", to)
	case atMid.Cmp(sell) > 0:
		// Impossible: sell ≥ buy/R ≥ buy/mid, and sell is an integer.
		return Priced{}, okpay.Internal(errors.New("fx: sell at mid exceeds sell"), "price the exchange")
	}
	s, b, m := sell.Int64(), buy.Int64(), atMid.Int64()
	return Priced{
		Sell:      money.New(s, from),
		Buy:       money.New(b, to),
		Rate:      Rate{Base: from, Quote: to, v: rate},
		SellAtMid: money.New(m, from),
		Spread:    money.New(s-m, from),
	}, nil
}

// Quote is an exchange priced for one user, executable once until
// ExpiresAt exactly as shown.
type Quote struct {
	ID     int64
	UserID int64
	From   money.Currency
	To     money.Currency
	Side   Side
	// Sell is what the customer pays (in From), Buy what the customer
	// receives (in To).
	Sell money.Amount
	Buy  money.Amount
	// Rate is the customer's exact rate (mid less spread), MidRate the
	// market's; both From→To. Rate.String() is the display form.
	Rate    Rate
	MidRate Rate
	// SpreadBP is the spread applied, in basis points.
	SpreadBP int
	// SellAtMid + Spread = Sell: see Priced and Legs.
	SellAtMid money.Amount
	Spread    money.Amount
	// RateSource and RateAsOf describe the mid rate (see Derived).
	RateSource string
	RateAsOf   time.Time
	CreatedAt  time.Time
	// ExpiresAt: the quote can be taken while now < ExpiresAt.
	ExpiresAt time.Time
	// TakenAt is when it was executed (zero: not yet).
	TakenAt time.Time
}

// Ref returns the quote's id for people and APIs: "fxq_…".
func (q *Quote) Ref() string { return ids.Format(QuotePrefix, q.ID) }

// ParseQuoteRef reads a quote id written by Ref.
func ParseQuoteRef(s string) (int64, bool) { return ids.Parse(QuotePrefix, s) }

// Effective returns the rate the customer actually gets after rounding:
// Buy / Sell in major units (never better for the customer than Rate).
func (q *Quote) Effective() Rate {
	v := new(big.Rat).SetFrac(
		new(big.Int).Mul(big.NewInt(q.Buy.Minor), pow10(q.From.Exponent())),
		new(big.Int).Mul(big.NewInt(q.Sell.Minor), pow10(q.To.Exponent())))
	return Rate{Base: q.From, Quote: q.To, v: v}
}

// Role is a party of an exchange's ledger legs; the wallet maps each role
// and the leg's currency to an account.
type Role string

// Roles.
const (
	// RoleCustomer: the customer's wallet in the leg's currency.
	RoleCustomer Role = "customer"
	// RoleLiquidity: the house's FX liquidity account of the leg's
	// currency (fx:liquidity:<ccy>).
	RoleLiquidity Role = "fx_liquidity"
	// RoleSpreadRevenue: the house's revenue account for FX spread in
	// the leg's currency.
	RoleSpreadRevenue Role = "fx_spread_revenue"
)

// Leg is one posting of an exchange: Amount moves from the Debit party to
// the Credit party.
type Leg struct {
	Debit, Credit Role
	Amount        money.Amount
}

// Legs returns the postings that book the exchange as one atomic journal
// entry through per-currency liquidity accounts (LEDGER.md "FX", the
// TigerBeetle currency-exchange recipe):
//
//	customer(From)     → fx_liquidity(From)      SellAtMid
//	customer(From)     → fx_spread_revenue(From) Spread   (left out when 0)
//	fx_liquidity(To)   → customer(To)            Buy
//
// Each leg is single-currency and balances on its own. The liquidity
// accounts take the mid-rate value of the trade (rounded in the house's
// favour), so their balances track the house's currency position; the
// spread and the rounding are booked to revenue separately. A fee, if any,
// is a further posting the caller adds (package fee). For a cross-border
// remittance customer(To) is the recipient's wallet.
func (q *Quote) Legs() []Leg {
	legs := []Leg{{Debit: RoleCustomer, Credit: RoleLiquidity, Amount: q.SellAtMid}}
	if q.Spread.Minor > 0 {
		legs = append(legs, Leg{Debit: RoleCustomer, Credit: RoleSpreadRevenue, Amount: q.Spread})
	}
	return append(legs, Leg{Debit: RoleLiquidity, Credit: RoleCustomer, Amount: q.Buy})
}

// Quote prices an exchange from→to for userID and stores the quote. With
// SideSell, amount (in from) is what the customer sells; with SideBuy,
// amount (in to) is what the customer buys. The quote can be taken until
// now + Config.QuoteTTL.
//
// Errors: EInvalid (bad currencies, side, amount or user), ERateStale,
// ERateUnavailable, EAmountTooSmall, EAmountOverflow.
func (s *Service) Quote(ctx context.Context, userID int64, from, to money.Currency, amount money.Amount, side Side) (*Quote, error) {
	if userID <= 0 {
		return nil, okpay.Invalid(map[string]string{"user": "A quote belongs to a user."})
	}
	if !side.Valid() {
		return nil, okpay.Invalid(map[string]string{"side": "Choose whether you fix the amount you sell or the amount you buy."})
	}
	if err := checkPair(from, to); err != nil {
		return nil, err
	}
	if fixed := map[Side]money.Currency{SideSell: from, SideBuy: to}[side]; amount.Currency != fixed || amount.Minor <= 0 {
		return nil, okpay.Invalid(map[string]string{"amount": "Enter an amount greater than zero in " + string(fixed) + "."})
	}
	mid, err := s.MidRate(ctx, from, to)
	if err != nil {
		return nil, err
	}
	bp := s.cfg.spreadBP(from, to)
	p, err := Price(mid.Rate, bp, side, amount)
	if err != nil {
		return nil, err
	}
	now := s.now()
	q := &Quote{
		ID: s.ids.Next(), UserID: userID, From: from, To: to, Side: side,
		Sell: p.Sell, Buy: p.Buy, Rate: p.Rate, MidRate: mid.Rate, SpreadBP: bp,
		SellAtMid: p.SellAtMid, Spread: p.Spread,
		RateSource: clipSource(mid.Source), RateAsOf: mid.AsOf,
		CreatedAt: now, ExpiresAt: now.Add(s.cfg.QuoteTTL),
	}
	_, err = s.db.Write.ExecContext(ctx, `INSERT INTO fx_quotes (id, user_id, from_ccy, to_ccy, side, sell_minor, buy_minor,
		sell_at_mid, spread_minor, rate, mid_rate, spread_bp, rate_source, rate_as_of, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
		q.ID, q.UserID, string(q.From), string(q.To), string(q.Side), q.Sell.Minor, q.Buy.Minor,
		q.SellAtMid.Minor, q.Spread.Minor, q.Rate.Exact(), q.MidRate.Exact(), q.SpreadBP, q.RateSource,
		q.RateAsOf.UnixMicro(), q.CreatedAt.UnixMicro(), q.ExpiresAt.UnixMicro())
	if err != nil {
		return nil, okpay.Internal(err, "store the quote")
	}
	return q, nil
}

func clipSource(s string) string {
	if len(s) > 200 {
		return s[:200]
	}
	return s
}

const quoteColumns = `id, user_id, from_ccy, to_ccy, side, sell_minor, buy_minor, sell_at_mid, spread_minor,
	rate, mid_rate, spread_bp, rate_source, rate_as_of, created_at, expires_at, taken_at`

func scanQuote(sc interface{ Scan(...any) error }) (*Quote, error) {
	var (
		q                         Quote
		from, to, side, rate, mid string
		sell, buy, atMid, spread  int64
		asOf, created, exp, taken int64
	)
	if err := sc.Scan(&q.ID, &q.UserID, &from, &to, &side, &sell, &buy, &atMid, &spread,
		&rate, &mid, &q.SpreadBP, &q.RateSource, &asOf, &created, &exp, &taken); err != nil {
		return nil, err
	}
	q.From, q.To, q.Side = money.Currency(from), money.Currency(to), Side(side)
	var err error
	if q.Rate, err = ParseExact(q.From, q.To, rate); err != nil {
		return nil, err
	}
	if q.MidRate, err = ParseExact(q.From, q.To, mid); err != nil {
		return nil, err
	}
	q.Sell, q.Buy = money.New(sell, q.From), money.New(buy, q.To)
	q.SellAtMid, q.Spread = money.New(atMid, q.From), money.New(spread, q.From)
	q.RateAsOf = time.UnixMicro(asOf).UTC()
	q.CreatedAt = time.UnixMicro(created).UTC()
	q.ExpiresAt = time.UnixMicro(exp).UTC()
	if taken != 0 {
		q.TakenAt = time.UnixMicro(taken).UTC()
	}
	return &q, nil
}

func quoteNotFound() error { return okpay.Errorf(okpay.ENotFound, "Quote not found.") }

// FindQuote returns the user's quote. Returns ENotFound when there is none
// with that id or it belongs to another user.
func (s *Service) FindQuote(ctx context.Context, id, userID int64) (*Quote, error) {
	q, err := scanQuote(s.db.Read.QueryRowContext(ctx, `SELECT `+quoteColumns+` FROM fx_quotes WHERE id = $1 AND user_id = $2`, id, userID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, quoteNotFound()
	}
	if err != nil {
		return nil, okpay.Internal(err, "load the quote")
	}
	return q, nil
}

// Take marks the user's quote as executed inside the caller's transaction
// and returns it, so the caller books exactly the amounts shown. A quote
// is taken at most once: of two concurrent Takes one wins and the other
// gets EQuoteUsed (after the winner commits). If the caller's transaction
// rolls back, the quote is untaken again.
//
// Errors: ENotFound (no such quote, or another user's), EQuoteUsed,
// EQuoteExpired (now ≥ ExpiresAt).
func (s *Service) Take(ctx context.Context, tx *sql.Tx, quoteID, userID int64) (*Quote, error) {
	now := s.now().UnixMicro()
	q, err := scanQuote(tx.QueryRowContext(ctx, `UPDATE fx_quotes SET taken_at = $1
		WHERE id = $2 AND user_id = $3 AND taken_at = 0 AND expires_at > $1 RETURNING `+quoteColumns, now, quoteID, userID))
	if err == nil {
		return q, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, okpay.Internal(err, "take the quote")
	}
	var owner, taken, expires int64
	err = tx.QueryRowContext(ctx, `SELECT user_id, taken_at, expires_at FROM fx_quotes WHERE id = $1`, quoteID).Scan(&owner, &taken, &expires)
	switch {
	case errors.Is(err, sql.ErrNoRows) || err == nil && owner != userID:
		return nil, quoteNotFound()
	case err != nil:
		return nil, okpay.Internal(err, "take the quote")
	case taken != 0:
		return nil, okpay.Errorf(EQuoteUsed, "This quote was used already. Ask for a new one.")
	}
	return nil, okpay.Errorf(EQuoteExpired, "This quote has expired. Ask for a new one to see the current rate.")
}

// PruneQuotes deletes quotes that were never taken and expired more than
// retention ago, and returns how many. Taken quotes are kept: they record
// the rate of an executed exchange.
func (s *Service) PruneQuotes(ctx context.Context, retention time.Duration) (int64, error) {
	cut := s.now().Add(-retention).UnixMicro()
	r, err := s.db.Write.ExecContext(ctx, `DELETE FROM fx_quotes WHERE taken_at = 0 AND expires_at < $1`, cut)
	if err != nil {
		return 0, okpay.Internal(err, "prune quotes")
	}
	return r.RowsAffected()
}
