package main

import (
	"context"
	"database/sql"
	"log/slog"
	"time"

	"github.com/okpay/okpay/clock"
	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/desk/realtime"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/web"
)

// The support desk's side of serve: the conversation service over an
// in-process event bus (one node; a NATS bus for several nodes comes
// later behind the same realtime.Bus interface), the chat widget and the
// agent console on the pages (web.EnableDesk), and a job that opens
// snoozed conversations again when their time comes. The JSON API gets
// the service through httpapi.Config.Desk (the customers' chat routes and
// their WebSocket).

// deskWakeInterval is how often snoozed conversations are checked.
const deskWakeInterval = time.Minute

// buildDesk builds the desk, adds it to the pages and starts its job
// (until ctx ends). The caller closes the pages' and the API's sockets on
// shutdown (web.Server.CloseDesk, httpapi.Server.Close).
func buildDesk(ctx context.Context, log *slog.Logger, db *sqldb.DB, clk clock.Clock, idgen ids.Generator, pages *web.Server) (*desk.Service, error) {
	svc, err := desk.New(desk.Deps{DB: db, Clock: clk, IDs: idgen, Bus: realtime.NewMemory(0), Logger: log}, desk.Config{})
	if err != nil {
		return nil, err
	}
	if err := pages.EnableDesk(svc); err != nil {
		return nil, err
	}
	startDeskRouting(ctx, log, svc) // auto-assignment and SLA jobs (desk_routing.go)
	every(ctx, deskWakeInterval, func() {
		if n, err := svc.WakeSnoozed(ctx); err != nil && ctx.Err() == nil {
			log.Warn("desk: wake snoozed conversations", "err", err)
		} else if n > 0 {
			log.Info("desk: snoozed conversations opened again", "count", n)
		}
	})
	return svc, nil
}

// deskFreezeHook is the identity freeze-case hook that opens the support case
// of a freeze (SECURITY.md RSK-04), in the freeze's transaction: every
// freeze (self-freeze in the app, a notification link, a risk rule, staff)
// goes through identity's freeze, which has set the account's frozen_at
// and frozen_reason when the hooks run. The reason goes to the case's
// internal note; the customer reads a localized subject and message. A
// freeze of an account whose freeze case is still open reuses that case.
// The case appears in the agents' inbox on its next load (no live event:
// see desk.OpenCaseTx). The freeze's account_frozen audit event records
// the conversation's reference as its case_id.
func deskFreezeHook(svc *desk.Service, catalog *i18n.Catalog) identity.FreezeCaseHook {
	return func(ctx context.Context, tx *sql.Tx, userID int64) (string, error) {
		var frozenAt int64
		var reason, lang string
		if err := tx.QueryRowContext(ctx, `SELECT frozen_at, frozen_reason, lang FROM users WHERE id = $1`, userID).Scan(&frozenAt, &reason, &lang); err != nil {
			return "", err
		}
		l, ok := i18n.ParseLang(lang)
		if !ok {
			l = i18n.Default
		}
		id, err := svc.OpenCaseTx(ctx, tx, desk.CaseInput{CustomerID: userID, FreezeKey: desk.FreezeKey(userID, frozenAt), Reason: reason,
			Subject: catalog.T(l, "deskcase.subject", nil), CustomerMessage: catalog.T(l, "deskcase.message", nil), Lang: l})
		if err != nil {
			return "", err
		}
		return desk.ConversationRef(id), nil
	}
}
