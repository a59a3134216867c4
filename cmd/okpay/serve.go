package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/okpay/okpay/apikey"
	"github.com/okpay/okpay/audit"
	"github.com/okpay/okpay/clientip"
	"github.com/okpay/okpay/clock"
	"github.com/okpay/okpay/httpapi"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/ledger"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/wallet"
	"github.com/okpay/okpay/web"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// dbFlags are the storage flags shared by the commands that open the database.
type dbFlags struct {
	url      string
	maxConns int
}

func (d *dbFlags) register(fs *flagSet) {
	fs.StringVar(&d.url, "database", sqldb.DefaultURL, "database: sqlite:PATH or postgres://user@host:5432/db")
	fs.IntVar(&d.maxConns, "db-max-conns", 0, "connection pool size (0: automatic)")
	fs.bindEnv("db-max-conns")
	fs.envs["database"] = "OKPAY_DATABASE_URL"
}

func (d *dbFlags) open(ctx context.Context) (*sqldb.DB, error) {
	db, err := sqldb.Open(ctx, d.url, sqldb.Options{MaxConns: d.maxConns})
	if err != nil {
		return nil, err
	}
	if _, err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

func newLogger(e *env, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: use debug, info, warn or error", level)
	}
	// The scrubber redacts secrets by key and escapes control characters
	// in every record (AUD-02, AUD-03).
	return slog.New(audit.NewHandler(slog.NewJSONHandler(e.stderr, &slog.HandlerOptions{Level: l}))), nil
}

type serveConfig struct {
	db           dbFlags
	addr         string
	logLevel     string
	nodeID       int
	maxBatch     int
	writers      int
	shutdownWait time.Duration
	debugAddr    string
	proxies      string
	gcPercent    int
	procs        int
	identity     identityFlags
	agents       agentFlags
	psp          pspFlags
	// policy: --fees, --holidays, --currencies, --limits, --fx-rates
	// (policy.go).
	policy policyFlags
	// help: --support-email, --support-phone (help.go).
	help helpFlags
	// email: --email-addr, --email-addresses, --imap-url... (email.go).
	email emailFlags
	// phone: --telephony-secret, --phone-region (phone.go).
	phone phoneFlags
	// wallet is the wallet's policy (zero: the defaults); only
	// --currencies sets part of it: okpay bench p2p raises the limits for
	// its load.
	wallet wallet.Config
}

func runServe(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("serve", "Start OKPay. With no configuration it keeps its data in ./okpay-data/okpay.db (SQLite) and listens on http://127.0.0.1:8080.", e)
	var c serveConfig
	c.db.register(fs)
	fs.StringVar(&c.addr, "addr", "127.0.0.1:8080", "address to listen on (port 0 picks a free port)")
	fs.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.IntVar(&c.nodeID, "node-id", 0, "this node's number (0-1023), unique among the nodes sharing a database")
	fs.IntVar(&c.maxBatch, "ledger-max-batch", 512, "most ledger requests committed in one transaction")
	fs.IntVar(&c.writers, "ledger-writers", 1, "concurrent ledger committers (PostgreSQL only; SQLite has one writer)")
	fs.DurationVar(&c.shutdownWait, "shutdown-timeout", 10*time.Second, "how long to let requests finish on SIGINT/SIGTERM")
	fs.StringVar(&c.debugAddr, "debug-addr", "", "if set, serve Go profiling (net/http/pprof) on this separate address, e.g. 127.0.0.1:6060")
	fs.StringVar(&c.proxies, "trusted-proxies", "", "addresses or CIDR prefixes of reverse proxies whose X-Forwarded-For is believed (comma-separated; default none)")
	fs.IntVar(&c.gcPercent, "gc-percent", defaultGCPercent, "Go garbage collector target: heap growth in % of the live heap before a collection (Go's own default is 100; a GOGC variable, when set, wins)")
	fs.IntVar(&c.procs, "procs", 0, "Go processors running the server's goroutines at once (GOMAXPROCS); 0: one more than the CPUs the process may use (a GOMAXPROCS variable, when set, wins)")
	fs.bindEnv("addr", "log-level", "node-id", "ledger-max-batch", "ledger-writers", "shutdown-timeout", "debug-addr", "trusted-proxies", "gc-percent", "procs")
	c.identity.register(fs)
	c.agents.register(fs)
	c.psp.register(fs)
	c.policy.register(fs)
	c.help.register(fs)
	c.email.register(fs)
	c.phone.register(fs)
	demo := fs.Bool("demo", false, "first fill a fresh database with demo customers, transactions, conversations and staff (okpay demo), print how to sign in, then serve with --staff-allow-totp and development mode; a database already holding the demo is served as it is")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *demo {
		if err := serveDemo(ctx, e, &c); err != nil {
			return err
		}
	}
	return serve(ctx, e, c)
}

// defaultGCPercent lets the heap grow to five times what is live before
// the garbage collector runs: under load a collection every 100% of
// growth costs about a tenth of the CPU (okpay bench ledger over HTTP on
// SQLite: 149 → 137 µs of CPU per transfer, 12,200 → 13,100 transfers/s,
// medians of three 6 s runs each) for a few hundred MB of memory.
const defaultGCPercent = 400

// serveProcs is the GOMAXPROCS serve runs with: n, or for 0 one more than
// the runtime's default (the CPUs the process may use). The ledger's
// syncer waits in fsync and hands each flushed batch's answers back; with
// every processor busy, a goroutine woken by it (or by the network) queues
// for one, and those waits add up to idle time of the ledger's writer.
// One processor more than CPUs lets the operating system run them at
// once: okpay bench ledger over HTTP on SQLite on two CPUs, alternating
// 4-8 s rows, 13,560-15,069 → 16,810-18,248 transfers/s at c=256 and
// 6,368-6,416 → 7,141-7,648/s at c=16; PostgreSQL and c=1 unchanged.
func serveProcs(n int) int {
	if n > 0 {
		return n
	}
	prev := runtime.GOMAXPROCS(0)
	runtime.SetDefaultGOMAXPROCS()
	def := runtime.GOMAXPROCS(prev)
	return def + 1
}

func serve(ctx context.Context, e *env, c serveConfig) error {
	log, err := newLogger(e, c.logLevel)
	if err != nil {
		return err
	}
	if c.gcPercent > 0 && e.getenv("GOGC") == "" {
		defer debug.SetGCPercent(debug.SetGCPercent(c.gcPercent))
	}
	if c.procs < 0 {
		return fmt.Errorf("--procs: %d is not 0 or a number of processors", c.procs)
	}
	if e.getenv("GOMAXPROCS") == "" {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(serveProcs(c.procs)))
	}
	// The fee schedule, holiday calendar, currencies and start-up rates
	// (policy.go): a bad file stops serve before anything starts.
	pol, err := c.policy.load()
	if err != nil {
		return err
	}
	if c.wallet, err = pol.walletConfig(c.wallet); err != nil {
		return err
	}
	db, err := c.db.open(ctx)
	if err != nil {
		return err
	}
	defer db.Close()

	clk := clock.System{}
	idgen, err := ids.NewSnowflake(c.nodeID, clk.Now)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	led, err := ledger.New(ctx, db, ledger.Options{Clock: clk, IDs: idgen, Logger: log, Registerer: reg, MaxBatch: c.maxBatch, Writers: c.writers})
	if err != nil {
		return err
	}
	defer led.Close()
	catalog, err := i18n.New()
	if err != nil {
		return err
	}
	proxies, err := clientip.New(c.proxies)
	if err != nil {
		return fmt.Errorf("--trusted-proxies: %w", err)
	}
	ident, err := buildIdentity(ctx, log, db, clk, idgen, catalog, &c.identity, c.addr)
	if err != nil {
		return err
	}
	runCtx, stopIdentity := context.WithCancel(context.Background())
	defer stopIdentity()
	ident.run(runCtx, log)
	// Staff accounts for the console at /staff/ (agent.go).
	staff, err := newAgentService(db, clk, idgen, ident, &c.agents)
	if err != nil {
		return err
	}
	every(runCtx, 5*time.Minute, func() {
		if err := staff.Sweep(runCtx); err != nil && runCtx.Err() == nil {
			log.Warn("staff sweep", "err", err)
		}
	})
	// The payment provider and the payment methods (methods.go).
	payments, err := buildPayments(log, db, clk, idgen, catalog, ident, &c.psp, c.identity.baseURL)
	if err != nil {
		return err
	}
	defer payments.close()
	// The wallet over them (wallet.go).
	wal, err := buildWallet(ctx, log, db, led, clk, idgen, catalog, ident, payments, c.wallet, pol.fees)
	if err != nil {
		return err
	}
	defer wal.Close()
	// Withdrawals with review over the wallet (wallet.go); their job
	// runner starts with the server and stops before the wallet closes.
	wd, err := buildWithdrawals(wal, ident, payments, pol.calendar, wallet.WithdrawalConfig{}.WithLimits(pol.limits))
	if err != nil {
		return err
	}
	defer wd.Close()
	pol.warnUncovered(log, wal.Config().Currencies)
	// The exchange rates, with the --fx-rates file imported (policy.go).
	rates, err := buildRates(ctx, log, db, clk, idgen, pol)
	if err != nil {
		return err
	}
	// Currency exchange and remittance over the wallet and the rates
	// (exchange.go; development mode seeds sample rates into an empty
	// table).
	exch, err := buildExchange(ctx, log, rates, wal, ident.dev)
	if err != nil {
		return err
	}
	pages, err := web.New(web.Config{Catalog: catalog, Logger: log, Version: versionString(),
		Identity: ident.svc, Outbox: ident.outbox, Mailbox: ident.mailbox, ClientIP: proxies,
		Methods: payments.methods, Wallet: wal, Agents: staff, Exchange: exch.x})
	if err != nil {
		return err
	}
	// The staff page of the exchange rates, /staff/fx (fx:manage).
	if err := pages.EnableFXAdmin(rates); err != nil {
		return err
	}
	// The withdrawal pages: the customers' (/wallet/withdraw) and the
	// reviewers' (/staff/withdrawals, withdrawal:review).
	if err := pages.EnableWithdrawals(wd); err != nil {
		return err
	}
	if err := pages.EnableWithdrawalReview(wd); err != nil {
		return err
	}
	// The support desk: the chat widget and the agent console on the
	// pages, the chat routes in the API (desk.go).
	dsk, err := buildDesk(runCtx, log, db, clk, idgen, pages)
	if err != nil {
		return err
	}
	defer pages.CloseDesk() // after Shutdown: it does not wait for WebSockets
	// Every freeze opens (or reuses) a security support case (RSK-04).
	ident.svc.OnFreezeCase(deskFreezeHook(dsk, catalog))
	// Unread replies go to offline customers by email (desk_offline.go).
	visitorEmails, err := startDeskOffline(runCtx, log, dsk, ident, catalog)
	if err != nil {
		return err
	}
	// The visitor's confirmation link and address in the console.
	if err := pages.EnableVisitorEmails(visitorEmails); err != nil {
		return err
	}
	// The email channel: SMTP listener, IMAP poller, replies (email.go).
	mail, err := startEmail(runCtx, log, db, clk, idgen, dsk, ident, catalog, pages, &c.email, &c.identity)
	if err != nil {
		return err
	}
	defer mail.close()
	// The customer panel and the approved account actions (support.go).
	sup, err := buildSupport(db, clk, idgen, ident, dsk, wal, wd, payments.methods, pages)
	if err != nil {
		return err
	}
	// The phone channel: callbacks, call log, caller verification (phone.go).
	phoneAPI, err := buildPhone(log, db, clk, idgen, catalog, ident, dsk, sup, pages, &c.phone)
	if err != nil {
		return err
	}
	go phoneAPI.Service.Run(runCtx, time.Minute) // call-log entries a crash left unwritten
	// The help center: articles, search, votes and the editor (help.go).
	hs, err := buildHelp(ctx, log, db, clk, idgen, pages, &c.help)
	if err != nil {
		return err
	}
	// Self-service in the chat widget: suggested articles and the
	// assistant (help.go).
	asst, err := buildAssistant(db, clk, idgen, catalog, hs, dsk, wal, wd, ident.svc, pages)
	if err != nil {
		return err
	}
	// The assistant's turns are deleted after assistant.TurnRetention
	// (hourly).
	go asst.RunPurge(runCtx, log)
	api := httpapi.New(httpapi.Config{Ledger: led, Keys: apikey.NewStore(db, clk, idgen), Catalog: catalog, Logger: log, Registerer: reg,
		Identity: ident.svc, ClientIP: proxies, Methods: payments.methods, PSPWebhook: payments.webhook, Wallet: wal,
		Withdrawals: wd, Exchange: exch.x, FXRates: rates, Desk: dsk, VisitorEmails: visitorEmails, Assistant: asst, Phone: phoneAPI})
	defer api.Close() // the chat's WebSockets

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		pctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err := db.Read.PingContext(pctx); err != nil { // not the writer's pool: it must not wait behind a commit
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte("database unavailable\n"))
			return
		}
		w.Write([]byte("ready\n"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	api.Register(mux)
	pages.Register(mux)
	mux.Handle("/sandbox/", payments.sandbox.Handler()) // the built-in provider's pages and token endpoint
	// Cross-site state-changing requests get 403: a problem document
	// under /api/, the page shell's answer elsewhere.
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/") {
			api.CrossOrigin(w, r)
			return
		}
		http.Error(w, "cross-origin request refused", http.StatusForbidden)
	}))
	handler := api.Observe(web.SecurityHeaders(cop.Handler(mux)))

	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", c.addr, err)
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	where := "database " + string(db.Dialect)
	if db.Path != "" {
		where = "SQLite file " + db.Path
	}
	log.Info("okpay started", "version", versionString(), "addr", ln.Addr().String(), "storage", where)
	fmt.Fprintf(e.stdout, "OKPay %s is listening on http://%s (%s)\n", versionString(), displayAddr(ln.Addr()), where)
	if ident.dev {
		fmt.Fprintf(e.stdout, "Development mode: the emails and SMS OKPay would send are at http://%s/dev/mailbox\n", displayAddr(ln.Addr()))
		log.Warn("development mode: messages go to the in-memory dev mailbox, not to real people")
	}
	if c.debugAddr != "" {
		dln, err := net.Listen("tcp", c.debugAddr)
		if err != nil {
			return fmt.Errorf("listen on %s: %w", c.debugAddr, err)
		}
		dmux := http.NewServeMux()
		dmux.HandleFunc("/debug/pprof/", pprof.Index)
		dmux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		dmux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		dsrv := &http.Server{Handler: dmux, ReadHeaderTimeout: 10 * time.Second}
		go dsrv.Serve(dln)
		defer dsrv.Close()
		log.Info("profiling enabled", "addr", dln.Addr().String())
	}
	payments.start(runCtx, log, ln.Addr())
	runWallet(runCtx, log, wal, exch)
	wd.Start(runCtx)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("okpay shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), c.shutdownWait)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	fmt.Fprintln(e.stdout, "OKPay stopped")
	return nil
}

func displayAddr(a net.Addr) string { return displayHostPort(a.String()) }

// displayHostPort names a listening address as a browser should reach
// it: a loopback or wildcard host becomes localhost, which browsers treat
// as a secure context and accept as a passkey (WebAuthn) relying party,
// where an IP address is refused. Other hosts stay as they are.
func displayHostPort(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	switch host {
	case "", "0.0.0.0", "::", "127.0.0.1", "::1":
		return "localhost:" + port
	}
	return addr
}
