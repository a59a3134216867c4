package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/okpay/okpay/fx"
	"github.com/okpay/okpay/wallet"
)

// The exchange side of serve: the wallet's exchange desk
// (wallet.Exchanger: currency exchange and cross-border remittance) over
// the rate service that buildRates (policy.go) makes. Rates come from
// imports (--fx-rates, okpay fx import) and the staff's FX page; in
// development mode a database with no rates at
// all gets the embedded sample rates (fx.SeedSample), so that exchanging
// works with zero configuration. Outside development mode nothing is
// invented: without rates, quotes answer fx_rate_unavailable.

// quoteRetention is how long quotes never taken are kept after they
// expire (a remittance holds its quote for at most fx.MaxHold).
const quoteRetention = 24 * time.Hour

// exchangeStack is what buildExchange builds.
type exchangeStack struct {
	rates *fx.Service
	x     *wallet.Exchanger
}

// buildExchange builds the exchanger over the wallet and the rate
// service (buildRates, policy.go: --fx-rates is imported by then); in
// development mode it first seeds the sample rates into an empty rates
// table and says so in the log.
func buildExchange(ctx context.Context, log *slog.Logger, rates *fx.Service, w *wallet.Service, dev bool) (*exchangeStack, error) {
	if dev {
		res, err := rates.SeedSample(ctx)
		if err != nil {
			return nil, err
		}
		if res.Seeded {
			msg := "fx: no exchange rates stored: seeded the embedded sample rates (invented values, development only); import real ones with okpay fx import"
			if res.Refreshed {
				msg = "fx: the sample rates were about to go stale: stored them again (development only); import real ones with okpay fx import"
			}
			log.Warn(msg, "rates", res.Import.Inserted, "as_of", res.AsOf.Format(time.RFC3339))
		}
	}
	if latest, err := rates.Latest(ctx); err != nil {
		return nil, err
	} else if len(latest) == 0 {
		log.Warn("fx: no exchange rates stored: exchanges and remittances are refused (fx_rate_unavailable) until rates are imported (okpay fx import) or set on the staff FX page")
	}
	x, err := wallet.NewExchanger(ctx, w, rates)
	if err != nil {
		return nil, err
	}
	return &exchangeStack{rates: rates, x: x}, nil
}

// sweep fails the remittances left unconfirmed past their window and
// prunes the quotes nobody took; the wallet's periodic job calls it.
func (e *exchangeStack) sweep(ctx context.Context, log *slog.Logger) {
	if e == nil {
		return
	}
	if n, err := e.x.Sweep(ctx); err != nil && ctx.Err() == nil {
		log.Warn("wallet: expire unconfirmed remittances", "err", err)
	} else if n > 0 {
		log.Info("wallet: unconfirmed remittances expired", "count", n)
	}
	if _, err := e.rates.PruneQuotes(ctx, quoteRetention); err != nil && ctx.Err() == nil {
		log.Warn("fx: prune quotes", "err", err)
	}
}
