package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/okpay/okpay/desk"
)

// The desk's routing and service-level jobs (issue 5): every few seconds
// the routing job turns agents not seen for desk.PresenceTimeout offline
// (their open conversations go back to the queue) and offers the queue to
// the online agents with room; every 15 s the SLA job warns and marks the
// breaches of the SLA timers (desk.SweepSLA logs each). Both keep their
// state in the database, so a restart continues where they were, and
// several nodes may run them (each change is a conditional update).

const (
	deskRoutingInterval = 5 * time.Second
	deskSLAInterval     = 15 * time.Second
)

// startDeskRouting starts the routing and SLA jobs until ctx ends.
func startDeskRouting(ctx context.Context, log *slog.Logger, svc *desk.Service) {
	every(ctx, deskRoutingInterval, func() {
		if n, err := svc.SweepPresence(ctx); err != nil && ctx.Err() == nil {
			log.Warn("desk: presence sweep", "err", err)
		} else if n > 0 {
			log.Info("desk: conversations of absent agents back in the queue", "count", n)
		}
		if n, err := svc.AssignQueue(ctx); err != nil && ctx.Err() == nil {
			log.Warn("desk: assign queue", "err", err)
		} else if n > 0 {
			log.Info("desk: conversations auto-assigned", "count", n)
		}
	})
	every(ctx, deskSLAInterval, func() {
		if _, err := svc.SweepSLA(ctx); err != nil && ctx.Err() == nil {
			log.Warn("desk: SLA sweep", "err", err)
		}
	})
}
