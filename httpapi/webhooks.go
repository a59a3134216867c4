package httpapi

import (
	"context"
	"database/sql"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/clock"
	"github.com/okpay/okpay/psp"
	"github.com/okpay/okpay/sqldb"
)

// The payment provider's webhooks (CRD-09): POST
// /api/v1/webhooks/psp/sandbox receives the built-in sandbox's events.
//
// A request is authentic when its Okpay-Signature header signs the raw
// body with one of the configured secrets and its timestamp is within the
// tolerance (psp.Verify): anything else is 400 webhook_bad_signature or
// webhook_stale, before the body is even parsed. The event is then parsed
// strictly (psp.ParseEvent) and applied:
//
//  1. In one database transaction, the InTx handlers are offered the
//     event in order until one reports it handled (the payment methods'
//     verifications: paymethod.ApplyEvent). Each is idempotent by event
//     id and moves a state only forward, so a replay, a late or an
//     out-of-order event changes nothing.
//  2. Then, if no InTx handler took it, the OwnTx handlers are offered it
//     outside that transaction, for services that apply an event in
//     transactions of their own (the wallet's deposits and payouts through
//     the ledger, wallet.Service.ApplyProviderEvent); they too must be
//     idempotent by event id.
//
// The answer is 204 once the event is applied or when nobody knows it (an
// unknown type or reference: the provider must stop retrying), and 5xx
// when it could not be applied now (the provider retries it later).

// PSPEventHandler applies a provider event inside the webhook's
// transaction. It reports whether the event was its own; an error rolls
// the transaction back and the provider retries.
type PSPEventHandler func(ctx context.Context, tx *sql.Tx, ev psp.Event) (handled bool, err error)

// PSPWebhook configures the provider's webhook endpoint.
type PSPWebhook struct {
	// Secrets verify the signatures: the current secret first, the
	// previous one too during a rotation.
	Secrets [][]byte
	// Tolerance bounds the distance of a signature's timestamp from now
	// (psp.DefaultTolerance, 5 minutes, when zero).
	Tolerance time.Duration
	DB        *sqldb.DB
	Clock     clock.Clock
	// InTx handlers apply an event in the webhook's one transaction (see
	// above); the wallet registers its own here when it can apply
	// events in a caller's transaction.
	InTx []PSPEventHandler
	// OwnTx handlers get the events no InTx handler took, each in its
	// own transactions.
	OwnTx []func(ctx context.Context, ev psp.Event) error
}

// webhookRoutes are the provider's webhook routes: public (the signature
// authenticates the provider), no Idempotency-Key (the event id is the
// key).
var webhookRoutes = []Route{
	{"POST", "/api/v1/webhooks/psp/sandbox", AuthPublic, IdemNone},
}

// handlePSPWebhook is POST /api/v1/webhooks/psp/sandbox.
func (s *Server) handlePSPWebhook(w http.ResponseWriter, r *http.Request) {
	wh := s.webhook
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, psp.MaxEventSize))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.writeError(w, r, okpay.Errorf(ERequestTooLarge, "a webhook event must be at most %d bytes", psp.MaxEventSize))
			return
		}
		s.writeError(w, r, okpay.Errorf(EInvalidRequest, "the request body could not be read"))
		return
	}
	if ct := r.Header.Get("Content-Type"); !isJSON(ct) {
		s.writeError(w, r, okpay.Errorf(EUnsupportedMediaType, "send the event as application/json"))
		return
	}
	if err := psp.Verify(r.Header.Get(psp.SignatureHeader), body, wh.Secrets, wh.Clock.Now(), wh.Tolerance); err != nil {
		s.log.LogAttrs(r.Context(), slog.LevelWarn, "webhook refused", slog.String("request_id", requestID(r.Context())),
			slog.String("code", okpay.ErrorCode(err)), slog.String("ip", s.clientIP.IP(r)))
		s.writeError(w, r, err)
		return
	}
	ev, err := psp.ParseEvent(body)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ctx := r.Context()
	handled := false
	if len(wh.InTx) > 0 {
		err = wh.DB.InTx(ctx, func(tx *sql.Tx) error {
			handled = false
			for _, h := range wh.InTx {
				ok, err := h(ctx, tx, ev)
				if err != nil {
					return err
				}
				if ok {
					handled = true
					return nil
				}
			}
			return nil
		})
		if err != nil {
			s.writeError(w, r, webhookError(err))
			return
		}
	}
	if !handled {
		for _, h := range wh.OwnTx {
			if err := h(ctx, ev); err != nil {
				s.writeError(w, r, webhookError(err))
				return
			}
		}
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "webhook applied", slog.String("request_id", requestID(ctx)),
		slog.String("event", ev.ID), slog.String("type", ev.Type), slog.Bool("handled", handled))
	writeNoContent(w)
}

// webhookError keeps the codes the API knows and turns anything else into
// an internal error (logged, answered 500, retried by the provider).
func webhookError(err error) error {
	if _, ok := statusOf[okpay.ErrorCode(err)]; ok {
		return err
	}
	return okpay.Internal(err, "apply webhook event")
}
