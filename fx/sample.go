package fx

import (
	"bytes"
	"context"
	_ "embed"
	"time"

	"github.com/okpay/okpay"
)

// Sample rates for development: an embedded reference-rate document in the
// ECB's format (sample/eurofxref-sample.xml, invented values) that lets a
// fresh development database exchange money before anyone imports real
// rates. Never seed them where customers move real money.

//go:embed sample/eurofxref-sample.xml
var sampleECB []byte

// SourceSample is the source of the sample rates.
const SourceSample = "sample"

// SampleRates returns the embedded sample rates (EUR→X), each dated asOf.
func SampleRates(asOf time.Time) (*Batch, error) {
	b, err := ParseECB(bytes.NewReader(sampleECB))
	if err != nil {
		return nil, err
	}
	asOf = asOf.UTC().Truncate(time.Microsecond)
	for i := range b.Rates {
		b.Rates[i].AsOf = asOf
	}
	return b, nil
}

// SeedResult reports SeedSample.
type SeedResult struct {
	// Seeded tells whether the sample rates were stored.
	Seeded bool
	// Refreshed tells that they replaced older sample rates (which go
	// stale soon) rather than filling an empty table.
	Refreshed bool
	// AsOf is the as_of of the stored sample rates.
	AsOf   time.Time
	Import ImportResult
}

// SeedSample stores the sample rates (SampleRates, source SourceSample)
// when the rates table is empty, so that a fresh development database can
// exchange at once. It changes nothing when any rate of another source is
// stored: real rates are never mixed with invented ones. When the only
// rates are sample rates that go stale within a quarter of Config.MaxAge
// (a development database kept for days), it stores them again, newly
// dated.
//
// The sample rates are dated half of Config.MaxAge before now: they are
// fresh enough to price quotes, and a real import of the last days (an ECB
// file fixed at 14:10 CET today, say) is newer, so it wins over them
// pair by pair (the latest as_of wins).
func (s *Service) SeedSample(ctx context.Context) (SeedResult, error) {
	var res SeedResult
	var others, samples int
	var newest int64
	err := s.db.Read.QueryRowContext(ctx, `SELECT
		(SELECT COUNT(*) FROM fx_rates WHERE source <> $1),
		(SELECT COUNT(*) FROM fx_rates WHERE source = $1),
		(SELECT COALESCE(MAX(as_of), 0) FROM fx_rates WHERE source = $1)`, SourceSample).Scan(&others, &samples, &newest)
	if err != nil {
		return res, okpay.Internal(err, "look at the stored rates")
	}
	now := s.now()
	if others > 0 {
		return res, nil
	}
	if samples > 0 {
		if !time.UnixMicro(newest).Before(now.Add(-s.cfg.MaxAge * 3 / 4)) {
			return res, nil // still fresh for a while
		}
		res.Refreshed = true
	}
	res.AsOf = now.Add(-s.cfg.MaxAge / 2).Truncate(time.Microsecond)
	b, err := SampleRates(res.AsOf)
	if err != nil {
		return res, okpay.Internal(err, "read the sample rates")
	}
	if res.Import, err = s.Import(ctx, SourceSample, b); err != nil {
		return res, err
	}
	res.Seeded = true
	return res, nil
}
