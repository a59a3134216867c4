package web_test

import (
	"context"
	"database/sql"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/okpay/okpay/clock"
	"github.com/okpay/okpay/httpapi"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/ledger"
	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/notify"
	"github.com/okpay/okpay/paymethod"
	"github.com/okpay/okpay/psp"
	"github.com/okpay/okpay/psp/sandbox"
	"github.com/okpay/okpay/wallet"
	"github.com/okpay/okpay/web"
)

// This file adds the wallet to an accountEnv, wired as serve wires it:
// the ledger, the built-in sandbox provider at /sandbox/, the payment
// methods over it, the wallet over all of them, the pages with
// Config.Wallet, and the API's webhook endpoint handing the sandbox's
// signed events to the payment methods (in its transaction) and to the
// wallet's deposits (in the ledger's), over a real HTTP server.

// walletWebhookSecret signs the sandbox's webhooks in these tests.
var walletWebhookSecret = []byte("whsec_web_wallet_test_0123456789")

// walletClock is the provider's clock: the test's manual clock plus the
// real time since the environment started, so that its settlements and
// retries come due while a test waits.
type walletClock struct {
	m     *clock.Manual
	start time.Time
}

func (c walletClock) Now() time.Time { return c.m.Now().Add(time.Since(c.start)) }

type walletEnvError string

func (e walletEnvError) Error() string { return string(e) }

const errWalletClock = walletEnvError("the environment's clock is not a manual clock")

// walletNotices is the payment methods' Notifier as serve builds it:
// notices rendered by the identity service, queued in the caller's
// transaction.
type walletNotices struct{ id *identity.Service }

func (n walletNotices) Notify(ctx context.Context, tx *sql.Tx, userID int64, kind string, data map[string]any) error {
	party, err := n.id.LoadParty(ctx, userID)
	if err != nil {
		return err
	}
	event, _ := data["MethodID"].(string)
	nt, err := n.id.PrepareNotice(party, identity.MoneyNotice{Kind: kind, Event: event, Data: data,
		Channels: []string{notify.ChannelEmail, notify.ChannelInApp}, FreezeLink: true, Meta: &identity.Meta{}})
	if err != nil {
		return err
	}
	return n.id.WriteNotices(ctx, tx, nt)
}

// walletTestFees is a fee schedule of basis points per operation.
type walletTestFees map[string]int64

func (f walletTestFees) Quote(op, method string, a money.Amount) (money.Amount, string, error) {
	return money.New(a.Minor*f[op]/10000, a.Currency), "test:" + op, nil
}

// walletEnv is an accountEnv with the payment methods and the wallet.
type walletEnv struct {
	*accountEnv
	sb  *sandbox.Sandbox
	pm  *paymethod.Service
	led *ledger.Ledger
	w   *wallet.Service
	srv *httptest.Server // the whole site over HTTP (the webhooks arrive here)
}

// Fees of the wallet tests: 1% on transfers, 2% on deposits, 0.5% on
// remittances.
var walletFees = walletTestFees{wallet.OpTransfer: 100, wallet.OpDeposit: 200, wallet.OpRemittance: 50}

// walletEnvOptions tune a walletEnv.
type walletEnvOptions struct {
	// listener serves the site (a browser's localhost address); nil: a
	// fresh one on 127.0.0.1.
	listener net.Listener
	// origin is the passkey origin; "": testPasskeyOrigin.
	origin string
	// secret signs the sandbox's webhooks; nil: walletWebhookSecret.
	secret []byte
	// fees are the wallet's; nil: walletFees.
	fees walletTestFees
	// statementCode: cards also need the code on their statement
	// (CRD-05).
	statementCode bool
	// extra each run after the wallet is built and may add to the pages'
	// Config (exchange tests).
	extra []func(*walletEnv, *web.Config) error
	// api, if set, runs once the account environment is built and may
	// add to the API's Config.
	api func(*walletEnv, *httpapi.Config) error
	// start, if set, runs with the environment's run context once the
	// site serves; the func it returns runs on cleanup, after the run
	// context ends and before the provider closes.
	start func(context.Context) func()
}

// newWalletEnv builds the environment; each of extra, if any, runs after
// the wallet is built and may add to the pages' Config (exchange tests).
func newWalletEnv(t testing.TB, extra ...func(*walletEnv, *web.Config) error) *walletEnv {
	t.Helper()
	return newWalletEnvWith(t, walletEnvOptions{extra: extra})
}

// newWalletEnvWith builds the environment as o says.
func newWalletEnvWith(t testing.TB, o walletEnvOptions) *walletEnv {
	t.Helper()
	if o.origin == "" {
		o.origin = testPasskeyOrigin
	}
	if o.secret == nil {
		o.secret = walletWebhookSecret
	}
	if o.fees == nil {
		o.fees = walletFees
	}
	we := &walletEnv{}
	srv := httptest.NewUnstartedServer(nil)
	if o.listener != nil {
		srv.Listener.Close()
		srv.Listener = o.listener
	}
	base := "http://" + srv.Listener.Addr().String()
	var pclk walletClock
	var buildErr error
	withWallet := func(c *web.Config) {
		id := c.Identity
		m, ok := id.Clock.(*clock.Manual)
		if !ok {
			buildErr = errWalletClock
			return
		}
		ctx := context.Background()
		pclk = walletClock{m: m, start: time.Now()}
		we.sb, buildErr = sandbox.New(sandbox.Options{
			DB: id.DB, Clock: pclk, IDs: id.IDs, Secret: o.secret, WebhookURL: base + "/api/v1/webhooks/psp/sandbox",
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Catalog: c.Catalog,
			Delay: -1, Poll: 10 * time.Millisecond, Lease: 2 * time.Second,
			Backoff: func(int) time.Duration { return 10 * time.Millisecond },
		})
		if buildErr != nil {
			return
		}
		we.pm, buildErr = paymethod.New(paymethod.Deps{
			DB: id.DB, Clock: id.Clock, IDs: id.IDs, Provider: we.sb, Notifier: walletNotices{id: id},
			Sealer: id.Keys.Sealer("paymethod/account"), MAC: id.Keys.MAC("paymethod"),
			Config: paymethod.Config{StatementCode: o.statementCode},
		})
		if buildErr != nil {
			return
		}
		we.led, buildErr = ledger.New(ctx, id.DB, ledger.Options{Clock: id.Clock, IDs: id.IDs, SweepInterval: -1})
		if buildErr != nil {
			return
		}
		t.Cleanup(we.led.Close)
		we.w, buildErr = wallet.New(ctx, wallet.Deps{DB: id.DB, Ledger: we.led, Identity: id, Fees: o.fees, Provider: we.sb, Cards: we.pm,
			Catalog: c.Catalog, Clock: id.Clock, IDs: id.IDs},
			wallet.Config{Velocity: wallet.Velocity{TransfersPerHour: 1000, TransfersPerDay: 10000, NewPayeesPerDay: 100, WithdrawalsPerDay: 10},
				NewDeviceCap: wallet.DeviceCapOff()})
		if buildErr != nil {
			return
		}
		t.Cleanup(we.w.Close)
		c.Methods, c.Wallet = we.pm, we.w
		for _, f := range o.extra {
			if buildErr = f(we, c); buildErr != nil {
				return
			}
		}
	}
	e := newAccountEnvFull(t, o.origin, nil, withWallet)
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	we.accountEnv = e
	cfg := httpapi.Config{Catalog: e.cat, Identity: e.id, Methods: we.pm, Wallet: we.w, PSPWebhook: &httpapi.PSPWebhook{
		Secrets: [][]byte{o.secret}, DB: e.db, Clock: pclk,
		InTx:  []httpapi.PSPEventHandler{we.pm.ApplyEvent},
		OwnTx: []func(context.Context, psp.Event) error{we.w.ApplyProviderEvent},
	}}
	if o.api != nil {
		if err := o.api(we, &cfg); err != nil {
			t.Fatal(err)
		}
	}
	api := httpapi.New(cfg)
	mux := http.NewServeMux()
	api.Register(mux)
	e.server.Register(mux)
	mux.Handle("/sandbox/", we.sb.Handler())
	e.handler = api.Observe(web.SecurityHeaders(web.CrossOrigin(mux)))
	srv.Config.Handler = e.handler
	srv.Start()
	t.Cleanup(srv.Close)
	we.srv = srv
	runCtx, stop := context.WithCancel(context.Background())
	we.sb.Start(runCtx)
	closeRun := func() {}
	if o.start != nil {
		closeRun = o.start(runCtx)
	}
	// Cleanups run in reverse: the runners and the provider stop before
	// the server closes.
	t.Cleanup(func() { stop(); closeRun(); we.sb.Close() })
	return we
}

// walletUser is the id of an account's user.
func (e *walletEnv) walletUser(a testAccount) int64 { return e.user(a).ID }

var fundSeq atomic.Int64

// fund puts money in a's wallet straight through the ledger, from a test
// settlement account.
func (e *walletEnv) fund(a testAccount, amount money.Amount) {
	e.t.Helper()
	w, err := e.w.OpenWallet(e.ctx, e.walletUser(a), amount.Currency)
	if err != nil {
		e.t.Fatal(err)
	}
	ext, err := e.w.SystemAccount(e.ctx, wallet.SysExternal+":test", amount.Currency)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.led.Post(e.ctx, ledger.EntryInput{Reference: "fund-" + itoa(int(fundSeq.Add(1))), Type: "test_funding",
		Postings: []ledger.Posting{{Debit: ext, Credit: w.ID, Amount: amount.Minor, Currency: amount.Currency}}}); err != nil {
		e.t.Fatal(err)
	}
}

// available returns the available balance of a's wallet in c.
func (e *walletEnv) available(a testAccount, c money.Currency) money.Amount {
	e.t.Helper()
	w, err := e.w.FindWallet(e.ctx, e.walletUser(a), c)
	if err != nil {
		e.t.Fatal(err)
	}
	return w.Available
}

// addCard adds a sandbox test card to a's methods the way the card form
// does (a provider token, a fresh step-up) and waits until it is verified.
func (e *walletEnv) addCard(a testAccount, pan string) *paymethod.Method {
	e.t.Helper()
	c, err := e.sb.Tokenize(e.ctx, pan, 12, 2030, "123")
	if err != nil {
		e.t.Fatal(err)
	}
	m, err := e.pm.AddCard(e.ctx, paymethod.NewCard{UserID: e.walletUser(a), Token: c.Token, StepUp: e.clock.Now()})
	if err != nil {
		e.t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for m.Status != paymethod.StatusVerified {
		if m.Status == paymethod.StatusRequiresAction {
			if _, err := e.sb.CompleteChallenge(e.ctx, chargeOf(e.t, m.ActionURL), true); err != nil {
				e.t.Fatal(err)
			}
		}
		if m.Status == paymethod.StatusFailed || time.Now().After(deadline) {
			e.t.Fatalf("card %s is %s (%s)", pan, m.Status, m.FailureCode)
		}
		time.Sleep(10 * time.Millisecond)
		if m, err = e.pm.Get(e.ctx, e.walletUser(a), m.ID); err != nil {
			e.t.Fatal(err)
		}
	}
	return m
}

// chargeOf reads the charge id of a sandbox 3-D Secure address.
func chargeOf(t testing.TB, actionURL string) string {
	t.Helper()
	u, err := url.Parse(actionURL)
	if err != nil {
		t.Fatal(err)
	}
	id, ok := strings.CutPrefix(u.Path, "/sandbox/3ds/")
	if !ok {
		t.Fatalf("not a sandbox 3-D Secure address: %q", actionURL)
	}
	return id
}

// formValue finds the value of the (first) input named name in a page.
func formValue(t testing.TB, body, name string) string {
	t.Helper()
	re := regexp.MustCompile(`name="` + regexp.QuoteMeta(name) + `" value="([^"]*)"`)
	m := re.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no input %q in the page:\n%s", name, excerpt(body))
	}
	return htmlUnescape(m[1])
}

func htmlUnescape(s string) string {
	r := strings.NewReplacer("&amp;", "&", "&lt;", "<", "&gt;", ">", "&#34;", `"`, "&#39;", "'", "&#43;", "+")
	return r.Replace(s)
}

// hiddenForm returns the hidden inputs of a page as form values.
func hiddenForm(body string) url.Values {
	v := url.Values{}
	for _, m := range regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`).FindAllStringSubmatch(body, -1) {
		v.Add(m[1], htmlUnescape(m[2]))
	}
	return v
}

// txnPath reads the transaction id of a /wallet/send/{id}… or
// /wallet/deposits/{id} location.
var txnInPath = regexp.MustCompile(`txn_[0-9a-z]+`)

func txnRef(t testing.TB, loc string) string {
	t.Helper()
	m := txnInPath.FindString(loc)
	if m == "" {
		t.Fatalf("no transaction id in %q", loc)
	}
	return m
}
