package main

import (
	"bytes"
	"context"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"database/sql"

	"github.com/okpay/okpay/bench"
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

// okpay bench p2p: customers' P2P transfers through the whole server —
// `okpay serve` itself, in this process, on a fresh SQLite database —
// over real HTTP on loopback: session authentication, the
// Idempotency-Key, the payee look-up, fee, final gate, limits and
// velocity counters, both customers' rows and notices (staged in the
// ledger's batch and delivered by the server's dispatcher), each
// transfer answered after its durable commit. Beside it, in the same
// run, the ledger alone (the in-process figure of `okpay bench ledger`).

// p2pBenchConfig is what `okpay bench p2p` was asked to do.
type p2pBenchConfig struct {
	duration, warmup time.Duration
	concurrency      int
	users            int
	rounds           int
	ledger           bool
	profileDir       string
	out              string
	keep             string
	readers          int
	ledgerAccounts   int
}

// p2pUser is one benchmark customer.
type p2pUser struct {
	email, phone, password string
	ip                     string // the address it signs in and pays from (X-Forwarded-For)
	id                     int64
	totp                   []byte // the authenticator's secret
	step                   int64  // the last TOTP step used
	token                  string // its session, signed in through the API
	body                   []byte // its transfer's JSON body, but for the amount
}

// p2pRound is what one round measured.
type p2pRound struct {
	Transfers     int
	Errors        int
	FirstError    string
	Elapsed       time.Duration
	P50, P95, P99 time.Duration
	PeakRSSMiB    float64
	Load1         float64       // the machine's 1-minute load average before the round
	MachineCores  float64       // CPU cores busy on the whole machine during the round
	OwnCores      float64       // of which this process (server and load generator)
	Staged        int64         // outbox messages staged during the round
	Backlog       int64         // outbox messages still pending at its end
	Drain         time.Duration // how long the dispatcher then took to send them
	Left          int64         // still pending after drainMax
	Ledger        bench.Result
}

// cpuPerTransfer is the CPU time this process (server and load
// generator) spent per transfer: steadier than transfers/s on a machine
// shared with other work.
func (r p2pRound) cpuPerTransfer() time.Duration {
	if r.Transfers == 0 {
		return 0
	}
	return time.Duration(r.OwnCores * float64(r.Elapsed) / float64(r.Transfers))
}

func (r p2pRound) rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Transfers) / r.Elapsed.Seconds()
}

// p2pBenchWallet is the wallet policy of the benchmark: the default
// currencies and step-up thresholds, and limits no benchmark customer
// reaches (they are still checked and counted on every transfer).
func p2pBenchWallet() wallet.Config {
	levels := wallet.DefaultLevels()
	for i := range levels {
		for c := range levels[i].Daily {
			levels[i].Daily[c], levels[i].Monthly[c] = 1<<50, 1<<51
		}
	}
	return wallet.Config{Levels: levels, Velocity: wallet.Velocity{TransfersPerHour: 1 << 30, TransfersPerDay: 1 << 30, NewPayeesPerDay: 1 << 30, WithdrawalsPerDay: 1 << 30}}
}

func runBenchP2P(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("bench p2p", "Measure customers' P2P transfers/s and latency through the whole server (okpay serve in this process, SQLite in a temporary folder) over HTTP on loopback, beside the ledger alone in-process, in rounds; writes a markdown report.", e)
	var c p2pBenchConfig
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "measured time per round")
	fs.DurationVar(&c.warmup, "warmup", 2*time.Second, "unmeasured time before each round")
	fs.IntVar(&c.concurrency, "concurrency", 256, "concurrent clients (one keep-alive connection and one request in flight each)")
	fs.IntVar(&c.users, "users", 512, "customers; customer i pays customer i+1 (a ring), amounts below the step-up threshold")
	fs.IntVar(&c.rounds, "rounds", 3, "rounds; the report quotes their medians")
	fs.BoolVar(&c.ledger, "ledger", true, "also run the ledger alone in-process after each round (the in-process figure of okpay bench ledger)")
	fs.StringVar(&c.profileDir, "profile", "", "if set, run one more round with CPU (labelled side=client|server), block and mutex profiles written to this folder")
	fs.StringVar(&c.out, "out", "bench-results/wallet.md", "file to write the results to (markdown; empty: none)")
	fs.IntVar(&c.readers, "db-max-conns", 0, "the server's SQLite reader pool (0: its default, 2×GOMAXPROCS+2)")
	fs.IntVar(&c.ledgerAccounts, "ledger-accounts", 1000, "accounts of the ledger-alone run (as okpay bench ledger's default)")
	fs.StringVar(&c.keep, "keep", "", "if set, keep the server's database in this (new) folder for inspection")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if c.users < 2 || c.concurrency < 1 || c.concurrency > 4096 || c.rounds < 1 || c.duration <= 0 || c.ledgerAccounts < 2 {
		return errors.New("need --users ≥ 2, --concurrency 1–4096, --rounds ≥ 1, a positive --duration and --ledger-accounts ≥ 2")
	}
	work, err := os.MkdirTemp("", "okpay-bench-p2p-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	dbDir := work
	if c.keep != "" {
		if err := os.Mkdir(c.keep, 0o755); err != nil {
			return err
		}
		dbDir = c.keep
	}
	logf := func(format string, args ...any) { fmt.Fprintf(e.stdout, format+"\n", args...) }
	started := time.Now().UTC()
	dbURL := "sqlite:" + filepath.Join(dbDir, "okpay.db")

	logf("setting up %d verified customers with an authenticator app, funded wallets and a paid payee each", c.users)
	t0 := time.Now()
	users, err := p2pSetup(ctx, dbURL, c.users)
	if err != nil {
		return fmt.Errorf("set-up: %w", err)
	}
	logf("  done in %s", time.Since(t0).Round(time.Second))

	srv, err := startP2PServer(ctx, dbURL, c.readers)
	if err != nil {
		return err
	}
	defer srv.stop()
	logf("server on http://%s; signing the customers in through the API", srv.addr)
	client := newP2PClient(c.concurrency)
	if err := p2pSignIn(ctx, client, srv.addr, users); err != nil {
		return fmt.Errorf("sign-in: %w\n%s", err, srv.logs.String())
	}

	var rounds []p2pRound
	for i := 1; i <= c.rounds; i++ {
		r, err := p2pRun(ctx, c, srv, client, users, work, i, "")
		if err != nil {
			return err
		}
		logf("round %d: %s", i, r.line())
		rounds = append(rounds, r)
	}
	var profiled *p2pRound
	if c.profileDir != "" {
		if err := os.MkdirAll(c.profileDir, 0o755); err != nil {
			return err
		}
		r, err := p2pRun(ctx, c, srv, client, users, work, len(rounds)+1, c.profileDir)
		if err != nil {
			return err
		}
		logf("profiled round: %s (profiles in %s)", r.line(), c.profileDir)
		profiled = &r
	}
	md := p2pMarkdown(started, c, rounds, profiled)
	fmt.Fprintln(e.stdout)
	fmt.Fprint(e.stdout, md)
	if c.out != "" {
		if err := os.MkdirAll(filepath.Dir(c.out), 0o755); err != nil {
			return err
		}
		// Notes written below the marker in the file (the optimisation
		// log) survive the rewrite.
		if old, err := os.ReadFile(c.out); err == nil {
			if i := bytes.Index(old, []byte(p2pKeepMarker)); i >= 0 {
				md += "\n" + string(old[i:])
			}
		}
		if err := os.WriteFile(c.out, []byte(md), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "\nwritten to %s\n", c.out)
	}
	return nil
}

// p2pKeepMarker starts the part of the report file that okpay bench p2p
// keeps when it writes the file again.
const p2pKeepMarker = "<!-- okpay bench p2p keeps what follows this line when it rewrites the file -->"

func (r p2pRound) line() string {
	s := fmt.Sprintf("%.0f transfers/s, p50 %s p95 %s p99 %s, errors %d, peak RSS %.0f MiB, load %.1f, CPU %.2f cores (this process %.2f, %d µs per transfer), outbox +%d (pending %d)",
		r.rate(), fmtMs(r.P50), fmtMs(r.P95), fmtMs(r.P99), r.Errors, r.PeakRSSMiB, r.Load1, r.MachineCores, r.OwnCores, r.cpuPerTransfer().Microseconds(), r.Staged, r.Backlog)
	s += fmt.Sprintf(", then sent in %s", r.Drain.Round(100*time.Millisecond))
	if r.Left > 0 {
		s += fmt.Sprintf(" (%d left)", r.Left)
	}
	if r.FirstError != "" {
		s += " (first error: " + r.FirstError + ")"
	}
	if r.Ledger.Requests > 0 {
		s += fmt.Sprintf("; ledger alone %.0f/s, p99 %s", r.Ledger.Rate(), fmtMs(r.Ledger.P99))
	}
	return s
}

func fmtMs(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 2, 64) + " ms"
}

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

// parallel runs f(i) for i < n on a few goroutines and returns the first
// error.
func parallel(n, workers int, f func(i int) error) error {
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
	if err := parallel(n, workers, func(i int) error {
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
	if err := parallel(n, workers, func(i int) error {
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
	if err := parallel(n, workers, func(i int) error {
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
	if err := parallel(n, workers, func(i int) error {
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
		if err := svc.ConfirmTOTP(ctx, sessions[i], otp.TOTPCode(u.totp, prev), meta(u)); err != nil {
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

func startP2PServer(ctx context.Context, dbURL string, readers int) (*p2pServer, error) {
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
	c.identity.dev = "on"
	c.wallet = p2pBenchWallet()
	out := &syncWriter{addr: make(chan string, 1)}
	logs := &syncWriter{}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s := &p2pServer{logs: logs, cancel: cancel, done: make(chan error, 1), dbPath: strings.TrimPrefix(dbURL, "sqlite:")}
	go pprof.Do(sctx, pprof.Labels("side", "server"), func(sctx context.Context) {
		s.done <- serve(sctx, &env{getenv: func(string) string { return "" }, stdin: strings.NewReader(""), stdout: out, stderr: logs}, c)
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

// outboxCounts returns how many messages the outbox holds and how many of
// them wait to be sent.
func (s *p2pServer) outboxCounts(ctx context.Context) (total, pending int64, err error) {
	err = s.outbox.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(CASE WHEN status = 'pending' THEN 1 ELSE 0 END), 0) FROM notification_outbox`).Scan(&total, &pending)
	return total, pending, err
}

// ---------------------------------------------------------------------------
// The load generator: net/http with a transport keeping one idle
// connection per client (HTTP/1.1, one request in flight per connection).

func newP2PClient(conc int) *http.Client {
	tr := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          2 * conc,
		MaxIdleConnsPerHost:   2 * conc,
		IdleConnTimeout:       2 * time.Minute,
		DisableCompression:    true,
		ExpectContinueTimeout: 0,
		ResponseHeaderTimeout: 60 * time.Second,
	}
	return &http.Client{Transport: tr, Timeout: 2 * time.Minute}
}

// p2pCall sends one JSON request and decodes a JSON answer.
func p2pCall(ctx context.Context, client *http.Client, method, url, token, ip string, body any, want int) (map[string]any, error) {
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-For", ip)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		return nil, fmt.Errorf("%s %s: %d %s", method, url, res.StatusCode, raw)
	}
	out := map[string]any{}
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, url, err)
	}
	return out, nil
}

// p2pSignIn signs every customer in through the API: password, then the
// authenticator's code of a step not used yet.
func p2pSignIn(ctx context.Context, client *http.Client, addr string, users []*p2pUser) error {
	base := "http://" + addr
	return parallel(len(users), 16, func(i int) error {
		u := users[i]
		login, err := p2pCall(ctx, client, "POST", base+"/api/v1/sessions", "", u.ip, map[string]string{"identifier": u.email, "password": u.password}, http.StatusCreated)
		if err != nil {
			return err
		}
		token, _ := login["token"].(string)
		now := time.Now()
		if s := otp.Step(now); s <= u.step {
			wait := time.Unix((u.step+1)*otp.TOTPPeriod, 0).Sub(now)
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return ctx.Err()
			}
			now = time.Now()
		}
		full, err := p2pCall(ctx, client, "POST", base+"/api/v1/mfa/verify", token, u.ip, map[string]string{"method": "totp", "code": otp.TOTPCode(u.totp, now)}, http.StatusOK)
		if err != nil {
			return err
		}
		u.step = otp.Step(now)
		if u.token, _ = full["token"].(string); u.token == "" {
			return fmt.Errorf("no session token after the second factor: %v", full)
		}
		return nil
	})
}

// cpuTicks reads the machine's busy CPU time (clock ticks, all CPUs) and
// this process's (user + system).
func cpuTicks() (machine float64, own time.Duration) {
	if b, err := os.ReadFile("/proc/stat"); err == nil {
		line, _, _ := bytes.Cut(b, []byte("\n"))
		f := strings.Fields(string(line))
		// cpu user nice system idle iowait irq softirq steal ...
		for i, v := range f {
			if i == 0 || i == 4 || i == 5 || i > 8 {
				continue
			}
			n, _ := strconv.ParseFloat(v, 64)
			machine += n
		}
	}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		own = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	return machine, own
}

// clockTicks is USER_HZ, the unit of /proc/stat (100 on Linux).
const clockTicks = 100

func loadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

// p2pRun runs one round: the load, then (with --ledger) the ledger alone.
func p2pRun(ctx context.Context, c p2pBenchConfig, srv *p2pServer, client *http.Client, users []*p2pUser, work string, round int, profileDir string) (p2pRound, error) {
	var r p2pRound
	// Start from an idle server: wait for the dispatcher to send what the
	// previous round staged.
	if err := srv.drain(ctx, drainMax); err != nil {
		return r, err
	}
	total0, _, err := srv.outboxCounts(ctx)
	if err != nil {
		return r, err
	}
	os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) // reset the peak RSS (VmHWM)
	r.Load1 = loadAvg()
	url := "http://" + srv.addr + "/api/v1/p2p_transfers"
	run := strconv.FormatInt(time.Now().UnixNano(), 36) + "-"
	conc := c.concurrency
	lat := make([][]time.Duration, conc)
	errs := make([]int, conc)
	firsts := make([]string, conc)
	start := time.Now()
	measureFrom := start.Add(c.warmup)
	stop := measureFrom.Add(c.duration)
	var m0 float64
	var o0 time.Duration
	var cpuOnce sync.Once
	if profileDir != "" {
		f, err := os.Create(filepath.Join(profileDir, "cpu.pprof"))
		if err != nil {
			return r, err
		}
		defer f.Close()
		runtime.SetBlockProfileRate(10_000) // a sample per 10 µs blocked
		runtime.SetMutexProfileFraction(10)
		defer runtime.SetBlockProfileRate(0)
		defer runtime.SetMutexProfileFraction(0)
		if err := pprof.StartCPUProfile(f); err != nil {
			return r, err
		}
	}
	var wg sync.WaitGroup
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go pprof.Do(ctx, pprof.Labels("side", "client"), func(ctx context.Context) {
			defer wg.Done()
			// Client w pays as customers w, w+conc, w+2·conc, ... in turn.
			var mine []*p2pUser
			for i := w % len(users); i < len(users); i += conc {
				mine = append(mine, users[i])
			}
			hdr := make([]http.Header, len(mine))
			for i, u := range mine {
				hdr[i] = http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer " + u.token}, "X-Forwarded-For": {u.ip}, "Idempotency-Key": {""}}
			}
			body := make([]byte, 0, 256)
			var rbuf bytes.Buffer
			lat[w] = make([]time.Duration, 0, 8192)
			for n := 0; ctx.Err() == nil; n++ {
				t0 := time.Now()
				if !t0.Before(stop) {
					return
				}
				if !t0.Before(measureFrom) {
					cpuOnce.Do(func() { m0, o0 = cpuTicks() })
				}
				k := n % len(mine)
				u := mine[k]
				// 0.01 to 99.99 USD: always below the step-up threshold.
				minor := 1 + (n*7919+w*104729)%9999
				body = append(body[:0], u.body...)
				body = strconv.AppendInt(body, int64(minor/100), 10)
				body = append(body, '.', byte('0'+minor%100/10), byte('0'+minor%10), '"', '}', '}')
				req, err := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(body))
				if err != nil {
					errs[w]++
					continue
				}
				hdr[k]["Idempotency-Key"][0] = run + strconv.Itoa(w) + "-" + strconv.Itoa(n)
				req.Header = hdr[k]
				status := 0
				rbuf.Reset()
				res, err := client.Do(req)
				if err == nil {
					_, err = rbuf.ReadFrom(res.Body)
					res.Body.Close()
					status = res.StatusCode
				}
				t1 := time.Now()
				if t0.Before(measureFrom) {
					continue
				}
				if err != nil || status != http.StatusCreated || !bytes.Contains(rbuf.Bytes(), []byte(`"status":"completed"`)) {
					errs[w]++
					if firsts[w] == "" {
						if err != nil {
							firsts[w] = err.Error()
						} else {
							firsts[w] = strconv.Itoa(status) + " " + string(rbuf.Bytes()[:min(rbuf.Len(), 300)])
						}
					}
					continue
				}
				lat[w] = append(lat[w], t1.Sub(t0))
			}
		})
	}
	wg.Wait()
	end := time.Now()
	m1, o1 := cpuTicks()
	if profileDir != "" {
		pprof.StopCPUProfile()
		for _, name := range []string{"block", "mutex"} {
			f, err := os.Create(filepath.Join(profileDir, name+".pprof"))
			if err != nil {
				return r, err
			}
			pprof.Lookup(name).WriteTo(f, 0)
			f.Close()
		}
	}
	r.Elapsed = min(end.Sub(measureFrom), c.duration)
	secs := end.Sub(measureFrom).Seconds()
	r.MachineCores = (m1 - m0) / clockTicks / secs
	r.OwnCores = (o1 - o0).Seconds() / secs
	r.PeakRSSMiB = rssMiB("VmHWM")
	var all []time.Duration
	for w := range lat {
		all = append(all, lat[w]...)
		r.Errors += errs[w]
		if r.FirstError == "" {
			r.FirstError = firsts[w]
		}
	}
	slices.Sort(all)
	r.Transfers = len(all)
	if n := len(all); n > 0 {
		r.P50, r.P95, r.P99 = all[n*50/100], all[min(n-1, n*95/100)], all[min(n-1, n*99/100)]
	}
	total1, pending, err := srv.outboxCounts(ctx)
	if err != nil {
		return r, err
	}
	r.Staged, r.Backlog = total1-total0, pending
	// How long the dispatcher takes to send what the round left.
	if profileDir != "" {
		f, err := os.Create(filepath.Join(profileDir, "drain-cpu.pprof"))
		if err != nil {
			return r, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return r, err
		}
	}
	t1 := time.Now()
	if err := srv.drain(ctx, drainMax); err != nil {
		return r, err
	}
	r.Drain = time.Since(t1)
	if profileDir != "" {
		pprof.StopCPUProfile()
	}
	if _, r.Left, err = srv.outboxCounts(ctx); err != nil {
		return r, err
	}
	if c.ledger && profileDir == "" {
		dir, err := os.MkdirTemp(work, "ledger-*")
		if err != nil {
			return r, err
		}
		defer os.RemoveAll(dir)
		rep, err := bench.Ledger(ctx, bench.Config{Engines: []string{"sqlite"}, Scenarios: []string{"inprocess"}, Concurrency: []int{conc},
			Warmup: c.warmup, Duration: c.duration, Accounts: c.ledgerAccounts, WorkDir: dir, Log: io.Discard})
		if err != nil {
			return r, fmt.Errorf("ledger alone: %w", err)
		}
		if len(rep.Results) > 0 {
			r.Ledger = rep.Results[0]
		}
	}
	return r, ctx.Err()
}

// drainMax bounds the wait for the dispatcher after a round.
const drainMax = 3 * time.Minute

// drain waits (at most max) until the outbox has nothing pending.
func (s *p2pServer) drain(ctx context.Context, max time.Duration) error {
	deadline := time.Now().Add(max)
	for {
		_, pending, err := s.outboxCounts(ctx)
		if err != nil || pending == 0 || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// ---------------------------------------------------------------------------
// The report.

func median[T any](rs []T, key func(T) float64) float64 {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = key(r)
	}
	slices.Sort(v)
	if len(v) == 0 {
		return 0
	}
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func p2pMarkdown(started time.Time, c p2pBenchConfig, rounds []p2pRound, profiled *p2pRound) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# okpay bench p2p\n\n%s, %s/%s, %d CPUs, %s. `okpay serve` in the benchmark's process on a fresh SQLite database; %d customers, %d clients over HTTP/1.1 keep-alive on loopback (one request in flight each); %s warm-up + %s measured per round; %d rounds, medians quoted.\n\n",
		started.Format(time.RFC3339), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version(), c.users, c.concurrency, c.warmup, c.duration, len(rounds))
	b.WriteString("Each request is `POST /api/v1/p2p_transfers` with the customer's session token (signed in through the API with password and authenticator app), its own Idempotency-Key, the payee by email (paid before) and 0.01–99.99 USD (below the 300.00 step-up threshold): session check, payee look-up, fee, final gate, limits and velocity counters, both customers' transactions and five notices staged in the outbox, the answer stored with the ledger entry, acknowledged after the durable commit. It counts only when answered 201 with status `completed`. The server's dispatcher delivers the notices meanwhile (dev mailbox and in-app), as in `okpay serve`. *Ledger alone*: the in-process figure of `okpay bench ledger` (random transfers between 1,000 accounts, same concurrency), run right after each round.\n\n")
	b.WriteString("| round | transfers/s | p50 | p95 | p99 | errors | peak RSS | load before | CPU busy (this process) | CPU per transfer | outbox staged / pending at end / then sent in | ledger alone | ledger p99 | wallet ÷ ledger |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	row := func(name string, r p2pRound) {
		ratio := "—"
		if r.Ledger.Rate() > 0 {
			ratio = fmt.Sprintf("%.0f%%", 100*r.rate()/r.Ledger.Rate())
		}
		led, ledP99 := "—", "—"
		if r.Ledger.Requests > 0 {
			led, ledP99 = fmt.Sprintf("%.0f/s", r.Ledger.Rate()), fmtMs(r.Ledger.P99)
		}
		drain := r.Drain.Round(time.Second).String()
		if r.Left > 0 {
			drain = fmt.Sprintf("> %s (%d left)", drainMax, r.Left)
		}
		fmt.Fprintf(&b, "| %s | %.0f | %s | %s | %s | %d | %.0f MiB | %.1f | %.2f (%.2f) cores | %d µs | %d / %d / %s | %s | %s | %s |\n",
			name, r.rate(), fmtMs(r.P50), fmtMs(r.P95), fmtMs(r.P99), r.Errors, r.PeakRSSMiB, r.Load1, r.MachineCores, r.OwnCores, r.cpuPerTransfer().Microseconds(), r.Staged, r.Backlog, drain, led, ledP99, ratio)
	}
	for i, r := range rounds {
		row(strconv.Itoa(i+1), r)
	}
	med := p2pRound{
		Transfers:    int(median(rounds, func(r p2pRound) float64 { return r.rate() }) * 1000),
		Elapsed:      1000 * time.Second,
		P50:          time.Duration(median(rounds, func(r p2pRound) float64 { return float64(r.P50) })),
		P95:          time.Duration(median(rounds, func(r p2pRound) float64 { return float64(r.P95) })),
		P99:          time.Duration(median(rounds, func(r p2pRound) float64 { return float64(r.P99) })),
		Errors:       int(median(rounds, func(r p2pRound) float64 { return float64(r.Errors) })),
		PeakRSSMiB:   median(rounds, func(r p2pRound) float64 { return r.PeakRSSMiB }),
		Load1:        median(rounds, func(r p2pRound) float64 { return r.Load1 }),
		MachineCores: median(rounds, func(r p2pRound) float64 { return r.MachineCores }),
		OwnCores:     median(rounds, func(r p2pRound) float64 { return r.OwnCores }),
		Staged:       int64(median(rounds, func(r p2pRound) float64 { return float64(r.Staged) })),
		Backlog:      int64(median(rounds, func(r p2pRound) float64 { return float64(r.Backlog) })),
		Drain:        time.Duration(median(rounds, func(r p2pRound) float64 { return float64(r.Drain) })),
		Left:         int64(median(rounds, func(r p2pRound) float64 { return float64(r.Left) })),
	}
	if c.ledger {
		med.Ledger = bench.Result{Requests: int(median(rounds, func(r p2pRound) float64 { return r.Ledger.Rate() }) * 1000), Elapsed: 1000 * time.Second,
			P99: time.Duration(median(rounds, func(r p2pRound) float64 { return float64(r.Ledger.P99) }))}
	}
	row("**median**", med)
	if profiled != nil {
		row("profiled (not in the median)", *profiled)
	}
	totalErr := 0
	for _, r := range rounds {
		totalErr += r.Errors
	}
	fmt.Fprintf(&b, "\nMedian: **%.0f transfers/s** through the wallet over HTTP, p99 %s, %d errors in all rounds", med.rate(), fmtMs(med.P99), totalErr)
	if med.Ledger.Rate() > 0 {
		fmt.Fprintf(&b, "; the ledger alone %.0f/s in the same run: the wallet over HTTP reaches %.0f%% of it", med.Ledger.Rate(), 100*med.rate()/med.Ledger.Rate())
	}
	b.WriteString(".\n")
	for _, r := range rounds {
		if r.FirstError != "" {
			fmt.Fprintf(&b, "\nFirst error seen: `%s`\n", strings.ReplaceAll(r.FirstError, "`", "'"))
			break
		}
	}
	return b.String()
}
