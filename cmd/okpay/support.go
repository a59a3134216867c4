package main

import (
	"github.com/okpay/okpay/audit"
	"github.com/okpay/okpay/clock"
	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/paymethod"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/support"
	"github.com/okpay/okpay/wallet"
	"github.com/okpay/okpay/web"
)

// The support desk's account actions on serve: the customer context panel
// beside a conversation and the maker-checker requests with their
// approvals page (package support, web.EnableSupport), over the identity,
// wallet, payment-method and desk services serve already built, and the
// hash-chained audit log on the same database.

// buildSupport builds the support service and adds its pages to the
// console.
func buildSupport(db *sqldb.DB, clk clock.Clock, idgen ids.Generator, ident *identityStack, dsk *desk.Service, wal *wallet.Service,
	wd *wallet.Withdrawals, methods *paymethod.Service, pages *web.Server) (*support.Service, error) {
	svc, err := support.New(support.Deps{DB: db, Clock: clk, IDs: idgen, Identity: ident.svc, Desk: dsk, Audit: audit.New(db),
		Outbox: ident.outbox, Wallet: wal, Withdrawals: wd, Methods: methods}, support.Config{})
	if err != nil {
		return nil, err
	}
	if err := pages.EnableSupport(svc); err != nil {
		return nil, err
	}
	return svc, nil
}
