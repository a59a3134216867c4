package main

import (
	"errors"
	"log/slog"

	"github.com/okpay/okpay/audit"
	"github.com/okpay/okpay/clock"
	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/httpapi"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/phone"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/support"
	"github.com/okpay/okpay/web"
)

// The phone channel on serve (package phone): the customers' callback
// requests (/account/callbacks and /api/v1/callbacks), the agents' queue,
// caller verification and call report (/staff/phone), and the PBX's
// signed webhook (/api/v1/telephony/events, on only with a secret).

// phoneFlags configure the phone channel.
type phoneFlags struct {
	secret, previous string
	region           string
}

func (f *phoneFlags) register(fs *flagSet) {
	fs.StringVar(&f.secret, "telephony-secret", "", "secret that signs the telephony webhook (POST /api/v1/telephony/events, HMAC-SHA256, at least 32 characters); empty turns the webhook off")
	fs.StringVar(&f.previous, "telephony-secret-previous", "", "the previous telephony secret, still accepted during a rotation")
	fs.StringVar(&f.region, "phone-region", "CN", "country (ISO 3166 code) of national numbers a PBX sends without a country code")
	fs.bindEnv("telephony-secret", "telephony-secret-previous", "phone-region")
}

// buildPhone makes the phone service, adds its pages, lets the support
// actions ask it whether a phone caller is verified (SUP-05) and returns
// the API's part.
func buildPhone(log *slog.Logger, db *sqldb.DB, clk clock.Clock, idgen ids.Generator, cat *i18n.Catalog, ident *identityStack, dsk *desk.Service,
	sup *support.Service, pages *web.Server, f *phoneFlags) (*httpapi.PhoneAPI, error) {
	var secrets [][]byte
	for _, s := range []string{f.secret, f.previous} {
		if s == "" {
			continue
		}
		if len(s) < 32 {
			return nil, errors.New("--telephony-secret: use at least 32 characters")
		}
		secrets = append(secrets, []byte(s))
	}
	if f.secret == "" && f.previous != "" {
		return nil, errors.New("--telephony-secret-previous needs --telephony-secret")
	}
	svc, err := phone.New(phone.Deps{DB: db, Clock: clk, IDs: idgen, Desk: dsk, Identity: ident.svc, Audit: audit.New(db), Outbox: ident.outbox, Keys: ident.svc.Keys,
		Catalog: cat, Logger: log}, phone.Config{Region: f.region})
	if err != nil {
		return nil, err
	}
	if err := pages.EnablePhone(svc); err != nil {
		return nil, err
	}
	if sup != nil {
		sup.Callers = svc // account actions from phone conversations need a verified caller
	}
	if len(secrets) == 0 {
		log.Info("phone: the telephony webhook is off (no --telephony-secret)")
	}
	return &httpapi.PhoneAPI{Service: svc, Secrets: secrets, Clock: clk}, nil
}
