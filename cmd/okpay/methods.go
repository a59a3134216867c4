package main

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/okpay/okpay/clock"
	"github.com/okpay/okpay/httpapi"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/identity/risk"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/notify"
	"github.com/okpay/okpay/paymethod"
	"github.com/okpay/okpay/psp/sandbox"
	"github.com/okpay/okpay/sqldb"
)

// The payment side of serve: the payment service provider (the built-in
// sandbox, mounted at /sandbox/), the customers' payment methods over it,
// the provider's webhook endpoint and their periodic jobs.

// pspFlags configure the payment provider.
type pspFlags struct {
	provider string
}

func (f *pspFlags) register(fs *flagSet) {
	fs.StringVar(&f.provider, "psp", "sandbox", "payment provider: sandbox, the built-in test provider (the only one built in: no real money moves; its page is /sandbox/ and its test cards are listed there)")
	fs.bindEnv("psp")
}

// webhookPath is where the provider's webhooks arrive (httpapi).
const webhookPath = "/api/v1/webhooks/psp/sandbox"

// methodsJobInterval is how often stale verifications expire and failed
// detaches are retried.
const methodsJobInterval = time.Minute

// paymentStack is the running payment side.
type paymentStack struct {
	sandbox *sandbox.Sandbox
	methods *paymethod.Service
	webhook *httpapi.PSPWebhook
	// hookFromListener: no --base-url was given, so the webhooks go to
	// the address the server ends up listening on.
	hookFromListener bool
}

// webhookSecret derives the sandbox's webhook signing secret from the
// master key, so every node sharing the key shares it.
func webhookSecret(st *identityStack) []byte {
	return st.svc.Keys.MAC("psp/sandbox/webhook").Sum([]byte("okpay sandbox webhook secret v1"))
}

// buildPayments builds the provider named by f and the payment methods
// over it. baseURL is the explicit --base-url ("" when none was given).
func buildPayments(log *slog.Logger, db *sqldb.DB, clk clock.Clock, idgen ids.Generator, catalog *i18n.Catalog,
	ident *identityStack, f *pspFlags, baseURL string) (*paymentStack, error) {
	if f.provider != "sandbox" {
		return nil, fmt.Errorf("--psp %q: the only payment provider built in is sandbox", f.provider)
	}
	secret := webhookSecret(ident)
	base := strings.TrimRight(baseURL, "/")
	sb, err := sandbox.New(sandbox.Options{
		DB: db, Clock: clk, IDs: idgen, Secret: secret, Logger: log, Catalog: catalog,
		// With a public base URL the 3-D Secure links are absolute;
		// without one they are paths on this site.
		BaseURL:    base,
		WebhookURL: base + webhookPath,
	})
	if err != nil {
		return nil, err
	}
	keys := ident.svc.Keys
	pm, err := paymethod.New(paymethod.Deps{
		DB: db, Clock: clk, IDs: idgen, Provider: sb, Notifier: methodNotifier{id: ident.svc},
		Freezer: methodNotifier{id: ident.svc}, // the mule rule at additions (RSK-04)
		Sealer:  keys.Sealer("paymethod/account"), MAC: keys.MAC("paymethod"),
	})
	if err != nil {
		return nil, err
	}
	return &paymentStack{
		sandbox: sb,
		methods: pm,
		webhook: &httpapi.PSPWebhook{
			Secrets: [][]byte{secret}, DB: db, Clock: clk,
			// The dispatch point: the payment methods' verifications now;
			// the wallet adds its deposits and payouts (InTx, or OwnTx for
			// handlers that run their own transactions).
			InTx: []httpapi.PSPEventHandler{pm.ApplyEvent},
		},
		hookFromListener: base == "",
	}, nil
}

// start delivers the provider's webhooks to addr, the server's listener,
// unless a base URL was given, and starts the provider's worker and the
// periodic jobs; all stop with ctx. close waits for the worker.
func (p *paymentStack) start(ctx context.Context, log *slog.Logger, addr net.Addr) {
	if p.hookFromListener {
		p.sandbox.SetWebhookURL("http://" + loopbackAddr(addr) + webhookPath)
	}
	p.sandbox.Start(ctx)
	every(ctx, methodsJobInterval, func() {
		if n, err := p.methods.ExpireStale(ctx, 0); err != nil && ctx.Err() == nil {
			log.Warn("payment methods: expire stale verifications", "err", err)
		} else if n > 0 {
			log.Info("payment methods: verifications expired", "count", n)
		}
		if n, err := p.methods.DetachDeleted(ctx, 0); err != nil && ctx.Err() == nil {
			log.Warn("payment methods: detach deleted cards at the provider", "detached", n, "err", err)
		}
		// CRD-04: fallback authorisations whose void failed.
		if n, err := p.methods.VoidFallbacks(ctx); err != nil && ctx.Err() == nil {
			log.Warn("payment methods: void fallback authorisations", "voided", n, "err", err)
		}
	})
}

func (p *paymentStack) close() { p.sandbox.Close() }

// loopbackAddr is where this process reaches its own listener: a wildcard
// address becomes the loopback one.
func loopbackAddr(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		if ip.To4() != nil {
			host = "127.0.0.1"
		} else {
			host = "::1"
		}
	}
	return net.JoinHostPort(host, port)
}

// methodNotifier is the payment methods' Notifier: it renders each notice
// through the identity service, as the money notices are (email, in-app,
// and SMS for an addition or removal; every one with a "Not you? Freeze
// my account" link, NOT-01, NOT-05), and queues it in the caller's
// transaction (NOT-02). The device and address are the customer request's
// when the HTTP layer put them in the context (paymethod.WithRequest).
type methodNotifier struct {
	id *identity.Service
}

func (n methodNotifier) Notify(ctx context.Context, tx *sql.Tx, userID int64, kind string, data map[string]any) error {
	party, err := n.id.LoadParty(ctx, userID)
	if err != nil {
		return err
	}
	meta := &identity.Meta{}
	if r, ok := paymethod.RequestFrom(ctx); ok {
		meta.IP, meta.UserAgent = r.IP, r.UserAgent
	}
	channels := []string{notify.ChannelEmail, notify.ChannelInApp}
	if kind == paymethod.NoteAdded || kind == paymethod.NoteRemoved {
		channels = append(channels, notify.ChannelSMS)
	}
	event, _ := data["MethodID"].(string)
	notice, err := n.id.PrepareNotice(party, identity.MoneyNotice{
		Kind: kind, Event: event, Data: data, Channels: channels, FreezeLink: true, Meta: meta,
	})
	if err != nil {
		return err
	}
	return n.id.WriteNotices(ctx, tx, notice)
}

// RiskFreeze is the payment methods' Freezer: identity's freeze on a risk
// decision (RSK-04), in the addition's transaction, with the customer
// request's address and browser when the context carries them.
func (n methodNotifier) RiskFreeze(ctx context.Context, tx *sql.Tx, userID int64, d risk.Decision) (bool, error) {
	var meta identity.Meta
	if r, ok := paymethod.RequestFrom(ctx); ok {
		meta.IP, meta.UserAgent = r.IP, r.UserAgent
	}
	return n.id.RiskFreeze(ctx, tx, userID, d, meta)
}
