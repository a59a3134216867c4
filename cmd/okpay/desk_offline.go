package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/i18n"
)

// The support desk's offline email job: a customer whose reply from an
// agent stays unread for five minutes gets it by email (desk.OfflineMailer,
// through the identity stack's notification outbox, to the account's
// verified email in its language). The desk does not track customers'
// live connections, so the read receipt alone decides. The job also sweeps
// the chat's rate-limit counters.

// deskOfflineInterval is how often unread replies are looked for.
const deskOfflineInterval = time.Minute

// startDeskOffline starts the offline email job (until ctx ends) and
// returns the visitors' email service (desk.VisitorEmails: the chat's
// "email me the answer", confirmed by a link before anything else is sent;
// the job emails confirmed visitors as it does customers).
func startDeskOffline(ctx context.Context, log *slog.Logger, svc *desk.Service, ident *identityStack, catalog *i18n.Catalog) (*desk.VisitorEmails, error) {
	contact := func(ctx context.Context, id int64) (desk.Contact, error) {
		u, err := ident.svc.FindUser(ctx, id)
		if err != nil {
			return desk.Contact{}, err
		}
		c := desk.Contact{Lang: u.Lang}
		if !u.EmailVerifiedAt.IsZero() {
			c.Email = u.Email // never mail an address nobody proved
		}
		return c, nil
	}
	emails, err := desk.NewVisitorEmails(svc, desk.VisitorEmailDeps{Outbox: ident.outbox, Catalog: catalog,
		Links: ident.svc.Keys.MAC("desk.visitor-email-link"), BaseURL: ident.svc.Config().BaseURL})
	if err != nil {
		return nil, err
	}
	m, err := desk.NewOfflineMailer(svc, desk.OfflineDeps{Outbox: ident.outbox, Catalog: catalog, Contact: contact, Visitors: emails},
		desk.OfflineConfig{BaseURL: ident.svc.Config().BaseURL})
	if err != nil {
		return nil, err
	}
	limits := desk.NewLimiter(svc, desk.RateLimits{})
	sweeps := 0
	every(ctx, deskOfflineInterval, func() {
		if n, err := m.Run(ctx); err != nil && ctx.Err() == nil {
			log.Warn("desk: offline email", "err", err)
		} else if n > 0 {
			ident.outbox.Wake()
			log.Info("desk: unread replies emailed", "count", n)
		}
		if sweeps++; sweeps%60 == 0 {
			if err := limits.Sweep(ctx); err != nil && ctx.Err() == nil {
				log.Warn("desk: sweep chat rate counters", "err", err)
			}
		}
	})
	return emails, nil
}
