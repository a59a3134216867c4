package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/okpay/okpay/clock"
	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/desk/realtime"
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
	go func() {
		t := time.NewTicker(deskWakeInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if n, err := svc.WakeSnoozed(ctx); err != nil && ctx.Err() == nil {
				log.Warn("desk: wake snoozed conversations", "err", err)
			} else if n > 0 {
				log.Info("desk: snoozed conversations opened again", "count", n)
			}
		}
	}()
	return svc, nil
}
