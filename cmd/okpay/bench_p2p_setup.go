package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/base32"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/clock"
	"github.com/okpay/okpay/fee"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/identity/otp"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/ledger"
	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/notify"
	"github.com/okpay/okpay/wallet"
)

// ---------------------------------------------------------------------------
// Set-up: customers made through the identity service directly (sign-up
// verified by the codes sent), a USD wallet each funded by a ledger
// deposit entry, one first payment to the next customer confirmed with
// the SMS code it asked for (so that every measured payment goes to a
// payee paid before), then an authenticator app, whose next code signs
// the customer in through the API.

// codeCatcher is the set-up's email and SMS sender: it keeps the last
// code sent to each address, by kind.
type codeCatcher struct {
	mu    sync.Mutex
	codes map[string]string // to + " " + kind → code
}

var p2pCodeRE = regexp.MustCompile(`\b(\d{6,8})\b`)

func (c *codeCatcher) Send(ctx context.Context, m notify.Message) error {
	if code := p2pCodeRE.FindString(m.Body); code != "" {
		c.mu.Lock()
		c.codes[m.To+" "+m.Kind] = code
		c.mu.Unlock()
	}
	return nil
}

func (c *codeCatcher) code(to, kind string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.codes[to+" "+kind]
}

// p2pParallel runs f(i) for i < n on a few goroutines and returns the first
// error.
func p2pParallel(n, workers int, f func(i int) error) error {
	var next atomic.Int64
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}

func p2pSetup(ctx context.Context, dbURL string, n int) ([]*p2pUser, error) {
	d := dbFlags{url: dbURL}
	db, err := d.open(ctx)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	clk := clock.System{}
	idgen, err := ids.NewSnowflake(1, clk.Now) // the server is node 0
	if err != nil {
		return nil, err
	}
	catalog, err := i18n.New()
	if err != nil {
		return nil, err
	}
	log := slog.New(slog.DiscardHandler)
	svc, outbox, _, err := newIdentityService(db, clk, idgen, catalog, &identityFlags{dev: "on"}, "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	catcher := &codeCatcher{codes: map[string]string{}}
	disp := notify.NewDispatcher(outbox, map[string]notify.Sender{"email": catcher, "sms": catcher, "inapp": outbox.InAppSender()},
		notify.DispatcherOptions{Logger: log, Batch: 64})
	deliver := func() error {
		_, err := disp.RunOnce(ctx)
		return err
	}
	led, err := ledger.New(ctx, db, ledger.Options{Clock: clk, IDs: idgen, Logger: log})
	if err != nil {
		return nil, err
	}
	defer led.Close()
	w, err := wallet.New(ctx, wallet.Deps{DB: db, Ledger: led, Identity: svc, Fees: walletFees{fee.Default()}, Catalog: catalog, Clock: clk, IDs: idgen, Logger: log},
		p2pBenchWallet())
	if err != nil {
		return nil, err
	}
	defer w.Close()
	ext, err := w.SystemAccount(ctx, wallet.SysExternal+":bench", "USD")
	if err != nil {
		return nil, err
	}
	users := make([]*p2pUser, n)
	flows := make([]string, n)
	workers := 2 * runtime.GOMAXPROCS(0)
	meta := func(u *p2pUser) identity.Meta {
		return identity.Meta{IP: u.ip, UserAgent: "okpay-bench", Lang: i18n.En}
	}
	// Sign-ups (a password hash each), verified with the codes sent.
	if err := p2pParallel(n, workers, func(i int) error {
		u := &p2pUser{email: fmt.Sprintf("p2p%d@bench.example.com", i), phone: fmt.Sprintf("+86139%08d", i),
			password: "bench passphrase " + strconv.Itoa(i) + " long enough", ip: fmt.Sprintf("10.%d.%d.%d", 64+i/65536, i/256%256, i%256)}
		users[i] = u
		f, err := svc.Register(ctx, identity.RegisterInput{Email: u.email, Phone: u.phone, Password: u.password, Lang: i18n.En}, meta(u))
		if err != nil {
			return err
		}
		flows[i] = f.Token
		return nil
	}); err != nil {
		return nil, fmt.Errorf("sign up: %w", err)
	}
	if err := deliver(); err != nil {
		return nil, err
	}
	sessions := make([]*identity.Session, n)
	if err := p2pParallel(n, workers, func(i int) error {
		u := users[i]
		_, token, err := svc.VerifySignup(ctx, flows[i], catcher.code(u.email, "code_verify_email"), catcher.code(u.phone, "code_verify_phone"), meta(u))
		if err != nil {
			return fmt.Errorf("verify sign-up of %s: %w", u.email, err)
		}
		ss, usr, err := svc.Authenticate(ctx, token)
		if err != nil {
			return err
		}
		u.id, sessions[i] = usr.ID, ss
		// A USD wallet funded by a deposit entry.
		wl, err := w.OpenWallet(ctx, u.id, "USD")
		if err != nil {
			return err
		}
		_, err = led.Post(ctx, ledger.EntryInput{Reference: "bench-fund-" + strconv.Itoa(i), Type: "deposit",
			Postings: []ledger.Posting{{Debit: ext, Credit: wl.ID, Amount: 1_000_000_00, Currency: "USD"}}})
		return err
	}); err != nil {
		return nil, err
	}
	// The first payment to the next customer: a new payee, so it waits
	// for a code sent by SMS (TXN-01).
	txns := make([]int64, n)
	if err := p2pParallel(n, workers, func(i int) error {
		u, next := users[i], users[(i+1)%n]
		res, err := w.Transfer(ctx, wallet.TransferInput{UserID: u.id, Amount: money.New(100, "USD"), PayeeKind: wallet.PayeeEmail, Payee: next.email,
			Key: "bench-first-" + strconv.Itoa(i), Meta: meta(u)})
		if err != nil {
			return fmt.Errorf("first payment: %w", err)
		}
		if res.Txn.Status != wallet.StatusAwaitingAuth || res.Txn.AuthMethod != identity.MethodSMS {
			return fmt.Errorf("first payment to a new payee: status %s (%s), want %s by SMS", res.Txn.Status, res.Txn.AuthMethod, wallet.StatusAwaitingAuth)
		}
		txns[i] = res.Txn.ID
		u.body = []byte(`{"payee":"` + next.email + `","payee_kind":"email","note":"bench","amount":{"currency":"USD","amount":"`)
		return nil
	}); err != nil {
		return nil, err
	}
	if err := deliver(); err != nil {
		return nil, err
	}
	b32 := base32.StdEncoding.WithPadding(base32.NoPadding)
	if err := p2pParallel(n, workers, func(i int) error {
		u := users[i]
		res, err := w.ConfirmTransfer(ctx, wallet.ConfirmInput{UserID: u.id, TxnID: txns[i], Code: catcher.code(u.phone, "code_txn"), Meta: meta(u)})
		if err != nil {
			return fmt.Errorf("confirm first payment: %w", err)
		}
		if res.Txn.Status != wallet.StatusCompleted {
			return fmt.Errorf("first payment: status %s after its code", res.Txn.Status)
		}
		// Then an authenticator app, confirmed with the previous step's
		// code, so that the current step is left for the sign-in.
		setup, err := svc.BeginTOTP(ctx, sessions[i])
		if err != nil {
			return fmt.Errorf("authenticator app: %w", err)
		}
		if u.totp, err = b32.DecodeString(setup.Secret); err != nil {
			return err
		}
		prev := time.Now().Add(-otp.TOTPPeriod * time.Second)
		err = svc.ConfirmTOTP(ctx, sessions[i], otp.TOTPCode(u.totp, prev), meta(u))
		if okpay.ErrorCode(err) == identity.EInvalidCode {
			// A step began between the code and its check, so the code
			// was two steps old: the next previous step's works.
			prev = time.Now().Add(-otp.TOTPPeriod * time.Second)
			err = svc.ConfirmTOTP(ctx, sessions[i], otp.TOTPCode(u.totp, prev), meta(u))
		}
		if err != nil {
			return fmt.Errorf("confirm authenticator app: %w", err)
		}
		u.step = otp.Step(prev)
		return nil
	}); err != nil {
		return nil, err
	}
	// Deliver the set-up's messages, so the rounds start with an empty
	// outbox.
	if err := deliver(); err != nil {
		return nil, err
	}
	return users, nil
}

// ---------------------------------------------------------------------------
// The server: okpay serve itself (serve in serve.go), in this process,
// its goroutines labelled side=server in CPU profiles.

type p2pServer struct {
	addr   string
	dbPath string
	logs   *syncWriter
	cancel context.CancelFunc
	done   chan error
	outbox *sql.DB // a read-only look at the outbox
}

// syncWriter is a goroutine-safe, bounded buffer for the server's output.
type syncWriter struct {
	mu sync.Mutex
	b  bytes.Buffer
	// addr receives the listening address once.
	addr chan string
	sent bool
}

var p2pListenRE = regexp.MustCompile(`listening on http://(\S+)`)

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.b.Len() < 256<<10 {
		w.b.Write(p)
	}
	if !w.sent && w.addr != nil {
		if m := p2pListenRE.FindSubmatch(w.b.Bytes()); m != nil {
			w.addr <- string(m[1])
			w.sent = true
		}
	}
	return len(p), nil
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

func startP2PServer(ctx context.Context, dbURL string, readers int, gogc string) (*p2pServer, error) {
	// The flags' own defaults, as okpay serve would have them with no
	// configuration (and no OKPAY_* variables)...
	fs := newFlagSet("serve", "", &env{getenv: func(string) string { return "" }, stdout: io.Discard, stderr: io.Discard})
	var c serveConfig
	c.db.register(fs)
	c.identity.register(fs)
	c.agents.register(fs)
	c.psp.register(fs)
	c.policy.register(fs)
	if err := fs.Parse(nil); err != nil {
		return nil, err
	}
	// ...then the benchmark's: a fresh SQLite file, a free loopback port,
	// no access log, the load generator as the trusted proxy telling
	// each customer's address, and limits no customer reaches.
	c.db.url, c.db.maxConns = dbURL, readers
	c.addr, c.logLevel, c.maxBatch, c.writers, c.shutdownWait = "127.0.0.1:0", "warn", 512, 1, 10*time.Second
	c.proxies = "127.0.0.1"
	c.gcPercent = defaultGCPercent // unless GOGC is set
	c.identity.dev = "on"
	c.wallet = p2pBenchWallet()
	out := &syncWriter{addr: make(chan string, 1)}
	logs := &syncWriter{}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s := &p2pServer{logs: logs, cancel: cancel, done: make(chan error, 1), dbPath: strings.TrimPrefix(dbURL, "sqlite:")}
	go pprof.Do(sctx, pprof.Labels("side", "server"), func(sctx context.Context) {
		getenv := func(k string) string {
			if k == "GOGC" {
				return gogc
			}
			return ""
		}
		s.done <- serve(sctx, &env{getenv: getenv, stdin: strings.NewReader(""), stdout: out, stderr: logs}, c)
	})
	select {
	case s.addr = <-out.addr:
	case err := <-s.done:
		cancel()
		return nil, fmt.Errorf("the server did not start: %v\n%s", err, logs.String())
	case <-time.After(60 * time.Second):
		cancel()
		return nil, fmt.Errorf("the server did not start in 60 s\n%s", logs.String())
	}
	db, err := sql.Open("sqlite", "file:"+s.dbPath+"?_pragma=query_only(1)&_pragma=busy_timeout(10000)")
	if err != nil {
		s.stop()
		return nil, err
	}
	s.outbox = db
	return s, nil
}

func (s *p2pServer) stop() {
	if s.outbox != nil {
		s.outbox.Close()
	}
	s.cancel()
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
	}
}

// ledgerStats reads the ledger's commit metrics from the server's
// /metrics: seconds spent applying and committing batches, batches, and
// requests in them.
func (s *p2pServer) ledgerStats(ctx context.Context) (busy, batches, reqs float64) {
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+s.addr+"/metrics", nil)
	if err != nil {
		return
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		v, err := strconv.ParseFloat(val, 64)
		if !ok || err != nil {
			continue
		}
		switch name {
		case "okpay_ledger_commit_seconds_sum":
			busy = v
		case "okpay_ledger_commit_seconds_count":
			batches = v
		case "okpay_ledger_commit_batch_size_sum":
			reqs = v
		}
	}
	return
}

// outboxCounts returns how many messages the outbox holds and how many of
// them wait to be sent, those still in bundles (notify.Outbox.StageBundle)
// included.
func (s *p2pServer) outboxCounts(ctx context.Context) (total, pending int64, err error) {
	err = s.outbox.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(CASE WHEN status = 'pending' THEN 1 ELSE 0 END), 0) FROM notification_outbox`).Scan(&total, &pending)
	if err != nil {
		return 0, 0, err
	}
	var bundled int64
	err = s.outbox.QueryRowContext(ctx, `SELECT COALESCE(SUM(messages), 0) FROM notification_bundles`).Scan(&bundled)
	return total + bundled, pending + bundled, err
}
