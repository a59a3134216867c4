package main

import (
	"context"
	"log/slog"

	"github.com/okpay/okpay/assistant"
	"github.com/okpay/okpay/clock"
	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/help"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/wallet"
	"github.com/okpay/okpay/web"
)

// helpFlags are the contact details the help center's articles name
// (serve): the shipped "contact us" article shows them.
type helpFlags struct {
	email, phone string
}

func (f *helpFlags) register(fs *flagSet) {
	fs.StringVar(&f.email, "support-email", "support@example.com", "the support desk's email address, as the help center's articles show it")
	fs.StringVar(&f.phone, "support-phone", "+1 202 555 0100", "the support desk's phone number for urgent matters, as the help center's articles show it")
	fs.bindEnv("support-email", "support-phone")
}

// buildHelp makes the help center, loads the articles OKPay ships that
// the database does not have yet (a staff member's edits are kept) and
// adds its pages and editor.
func buildHelp(ctx context.Context, log *slog.Logger, db *sqldb.DB, clk clock.Clock, idgen ids.Generator, pages *web.Server, f *helpFlags) (*help.Service, error) {
	svc, err := help.New(help.Config{DB: db, Clock: clk, IDs: idgen, Contacts: help.Contacts{Email: f.email, Phone: f.phone}})
	if err != nil {
		return nil, err
	}
	n, err := svc.LoadShipped(ctx)
	if err != nil {
		return nil, err
	}
	if n > 0 {
		log.Info("help center: loaded the shipped articles", "added", n)
	}
	if err := pages.EnableHelp(svc); err != nil {
		return nil, err
	}
	return svc, nil
}

// buildAssistant makes the chat's self-service: the assistant, which
// answers with the signed-in customer's data (read from the wallet, its
// withdrawals and the identity service; it moves no money) and hands
// over to the desk, and the widget's suggested articles and "This solved
// it". The classifier is trained here, from the utterances shipped in
// the binary.
func buildAssistant(db *sqldb.DB, clk clock.Clock, idgen ids.Generator, cat *i18n.Catalog, hs *help.Service, dsk *desk.Service,
	wal *wallet.Service, wd *wallet.Withdrawals, id *identity.Service, pages *web.Server) (*assistant.Service, error) {
	a, err := assistant.New(assistant.Config{DB: db, Clock: clk, IDs: idgen, Catalog: cat, Help: hs, Desk: dsk,
		Facts: &assistant.WalletFacts{Wallet: wal, Withdrawals: wd, Identity: id}})
	if err != nil {
		return nil, err
	}
	if err := pages.EnableChatSelfService(); err != nil {
		return nil, err
	}
	return a, nil
}
