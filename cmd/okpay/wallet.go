package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/okpay/okpay/bizday"
	"github.com/okpay/okpay/clock"
	"github.com/okpay/okpay/fee"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/ledger"
	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/wallet"
)

// The wallet side of serve: the customers' wallets, transfers and card
// deposits (package wallet) over the ledger, the identity service, the
// fee schedule, the payment provider and the payment methods; the
// provider's webhooks reach its deposits, and a periodic job fails the
// transfers left unconfirmed.

// walletJobInterval is how often unconfirmed transfers are failed.
const walletJobInterval = time.Minute

// walletFees adapts the fee schedule to the wallet: the wallet quotes a
// P2P transfer with its own method name ("wallet"), which in the schedule
// is an operation without a payment method.
type walletFees struct{ s *fee.Schedule }

func (f walletFees) Quote(op, method string, amount money.Amount) (money.Amount, string, error) {
	if method == wallet.MethodWallet {
		method = ""
	}
	return f.s.Quote(op, method, amount)
}

// buildWallet builds the wallet and hands the provider's webhook events
// to it.
func buildWallet(ctx context.Context, log *slog.Logger, db *sqldb.DB, led *ledger.Ledger, clk clock.Clock, idgen ids.Generator,
	catalog *i18n.Catalog, ident *identityStack, payments *paymentStack, cfg wallet.Config, fees *fee.Schedule) (*wallet.Service, error) {
	w, err := wallet.New(ctx, wallet.Deps{
		DB: db, Ledger: led, Identity: ident.svc, Fees: walletFees{fees},
		Provider: payments.sandbox, Cards: payments.methods,
		Catalog: catalog, Clock: clk, IDs: idgen, Logger: log,
	}, cfg)
	if err != nil {
		return nil, err
	}
	// The webhook applies the payment methods' events in its transaction;
	// the wallet's deposits run their own (the ledger's).
	payments.webhook.OwnTx = append(payments.webhook.OwnTx, w.ApplyProviderEvent)
	return w, nil
}

// runWallet moves new transactions into the customers' histories every
// second, and fails the transfers whose confirmation window passed now and
// then, until ctx ends; with exch, the remittances too, and it prunes the
// quotes nobody took (exchange.go).
func runWallet(ctx context.Context, log *slog.Logger, w *wallet.Service, exch *exchangeStack) {
	// Transactions queued since the last second join their customers'
	// histories (SQLite; wallet.IndexTxns).
	every(ctx, time.Second, func() {
		if _, err := w.IndexTxns(ctx); err != nil && ctx.Err() == nil {
			log.Warn("wallet: index transactions", "err", err)
		}
	})
	every(ctx, walletJobInterval, func() {
		if n, err := w.Sweep(ctx); err != nil && ctx.Err() == nil {
			log.Warn("wallet: expire unconfirmed transfers", "err", err)
		} else if n > 0 {
			log.Info("wallet: unconfirmed transfers expired", "count", n)
		}
		exch.sweep(ctx, log)
	})
}

// buildWithdrawals builds the withdrawals over the wallet (money out to
// the customers' payout methods, with review; wallet/withdraw*.go) and
// wires them as NewWithdrawals asks: the payment methods ask them whether
// a payout to a method is under way before deleting it (CRD-08), every
// freeze stops the withdrawals not yet sent (RSK-04), and the provider's
// payout events reach them through the webhook. cfg holds the review
// policy (the review thresholds of --limits currencies). cal counts the business
// days of the expected completion and of the holds' timeouts. Start runs
// their job runner (payouts, status polls, timeouts), Close stops it.
func buildWithdrawals(w *wallet.Service, ident *identityStack, payments *paymentStack, cal *bizday.Calendar, cfg wallet.WithdrawalConfig) (*wallet.Withdrawals, error) {
	wd, err := wallet.NewWithdrawals(w, wallet.WithdrawalDeps{Methods: payments.methods, Customers: ident.svc, Calendar: cal}, cfg)
	if err != nil {
		return nil, err
	}
	payments.methods.SetInUse(wd)
	ident.svc.OnFreeze(wd.FreezeHook)
	payments.webhook.OwnTx = append(payments.webhook.OwnTx, wd.ApplyProviderEvent)
	return wd, nil
}
