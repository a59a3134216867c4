package web_test

import (
	"context"
	"database/sql"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/okpay/okpay/clock"
	"github.com/okpay/okpay/httpapi"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/notify"
	"github.com/okpay/okpay/paymethod"
	"github.com/okpay/okpay/psp/sandbox"
	"github.com/okpay/okpay/web"
)

// This file adds the payment side to an accountEnv, wired as serve wires
// it: the built-in sandbox provider mounted at /sandbox/, the payment
// methods over it, the pages with Config.Methods, and the API's webhook
// endpoint receiving the sandbox's signed webhooks over a real HTTP
// server.

// methodsWebhookSecret signs the sandbox's webhooks in these tests.
var methodsWebhookSecret = []byte("whsec_web_methods_test_0123456789")

// providerClock is the sandbox's clock: the test's manual clock plus the
// real time since the environment started, so that its settlements and
// retries come due while a test waits, and follow the test's jumps.
type providerClock struct {
	m     *clock.Manual
	start time.Time
}

func (c providerClock) Now() time.Time { return c.m.Now().Add(time.Since(c.start)) }

// methodsEnv is an accountEnv with the payment methods.
type methodsEnv struct {
	*accountEnv
	sb  *sandbox.Sandbox
	pm  *paymethod.Service
	srv *httptest.Server // the whole site over HTTP (the webhooks arrive here)
}

// noticeAdapter is the payment methods' Notifier as serve builds it
// (cmd/okpay/methods.go): notices rendered by the identity service with a
// freeze link, in the caller's transaction.
type noticeAdapter struct{ id *identity.Service }

func (n noticeAdapter) Notify(ctx context.Context, tx *sql.Tx, userID int64, kind string, data map[string]any) error {
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
	nt, err := n.id.PrepareNotice(party, identity.MoneyNotice{Kind: kind, Event: event, Data: data, Channels: channels, FreezeLink: true, Meta: meta})
	if err != nil {
		return err
	}
	return n.id.WriteNotices(ctx, tx, nt)
}

// newMethodsEnv builds the environment; origin is the passkey origin
// (testPasskeyOrigin for the HTTP tests, the browser's for the browser
// test, whose server this env's srv then is).
func newMethodsEnv(t testing.TB, origin string) *methodsEnv {
	t.Helper()
	me := &methodsEnv{}
	srv := httptest.NewUnstartedServer(nil)
	base := "http://" + srv.Listener.Addr().String()
	var pclk providerClock
	var buildErr error
	withMethods := func(c *web.Config) {
		id := c.Identity
		m, ok := id.Clock.(*clock.Manual)
		if !ok {
			buildErr = errNotManual
			return
		}
		pclk = providerClock{m: m, start: time.Now()}
		me.sb, buildErr = sandbox.New(sandbox.Options{
			DB: id.DB, Clock: pclk, IDs: id.IDs, Secret: methodsWebhookSecret, WebhookURL: base + "/api/v1/webhooks/psp/sandbox",
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Catalog: c.Catalog,
			Delay: -1, Poll: 10 * time.Millisecond, Lease: 2 * time.Second,
			Backoff: func(int) time.Duration { return 10 * time.Millisecond },
		})
		if buildErr != nil {
			return
		}
		me.pm, buildErr = paymethod.New(paymethod.Deps{
			DB: id.DB, Clock: id.Clock, IDs: id.IDs, Provider: me.sb, Notifier: noticeAdapter{id: id},
			Sealer: id.Keys.Sealer("paymethod/account"), MAC: id.Keys.MAC("paymethod"),
		})
		c.Methods = me.pm
	}
	e := newAccountEnvFull(t, origin, nil, withMethods)
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	me.accountEnv = e
	api := httpapi.New(httpapi.Config{Catalog: e.cat, Identity: e.id, Methods: me.pm, PSPWebhook: &httpapi.PSPWebhook{
		Secrets: [][]byte{methodsWebhookSecret}, DB: e.db, Clock: pclk, InTx: []httpapi.PSPEventHandler{me.pm.ApplyEvent},
	}})
	mux := http.NewServeMux()
	api.Register(mux)
	e.server.Register(mux)
	mux.Handle("/sandbox/", me.sb.Handler())
	e.handler = api.Observe(web.SecurityHeaders(web.CrossOrigin(mux)))
	srv.Config.Handler = e.handler
	srv.Start()
	t.Cleanup(srv.Close)
	me.srv = srv
	me.sb.Start(context.Background())
	t.Cleanup(me.sb.Close) // before the server closes (cleanups run in reverse)
	return me
}

type envError string

func (e envError) Error() string { return string(e) }

const errNotManual = envError("the environment's clock is not a manual clock")

// userID returns the id of an account's user.
func (e *methodsEnv) userID(a testAccount) int64 { return e.user(a).ID }

// waitStatus waits until the method has status want.
func (e *methodsEnv) waitStatus(a testAccount, pmID string, want paymethod.Status) *paymethod.Method {
	e.t.Helper()
	id, ok := paymethod.ParseID(pmID)
	if !ok {
		e.t.Fatalf("not a method id: %q", pmID)
	}
	uid := e.userID(a)
	deadline := time.Now().Add(10 * time.Second)
	for {
		m, err := e.pm.Get(e.ctx, uid, id)
		if err != nil {
			e.t.Fatal(err)
		}
		if m.Status == want {
			return m
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%s is %s (%s), want %s", m.Label, m.Status, m.FailureCode, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
