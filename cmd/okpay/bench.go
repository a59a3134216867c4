package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/okpay/okpay/bench"
)

func runBench(ctx context.Context, e *env, args []string) error {
	if len(args) > 0 && args[0] == "trivial-server" {
		return runTrivialServer(ctx, e, args[1:])
	}
	if len(args) > 0 && args[0] == "login" {
		return runBenchLogin(ctx, e, args[1:])
	}
	if len(args) > 0 && args[0] == "p2p" {
		return runBenchP2P(ctx, e, args[1:])
	}
	if len(args) > 0 && args[0] == "chat" {
		return runBenchChat(ctx, e, args[1:])
	}
	if len(args) > 0 && args[0] == "chat-client" { // okpay bench chat's load generator (a child process)
		return runBenchChatClient(ctx, e, args[1:])
	}
	if len(args) > 0 && args[0] == "login-worker" {
		return runBenchLoginWorker(ctx, e, args[1:])
	}
	if len(args) == 0 || args[0] != "ledger" {
		return groupUsage(e, args, "Usage: okpay bench ledger|login|p2p|chat [flags]   (okpay bench ledger -h for its flags)")
	}
	fs := newFlagSet("bench ledger", "Measure P2P transfers/s and latency over HTTP (against an okpay serve child process) and in-process, on SQLite and PostgreSQL, beside two ceilings of this machine: a trivial JSON handler behind the same load generator and raw batched SQLite inserts.", e)
	engines := fs.String("engines", "sqlite,postgres", "storage engines to measure")
	pg := fs.String("postgres", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", "PostgreSQL server for the postgres runs (a schema is created and dropped)")
	conc := fs.String("concurrency", "1,16,256", "concurrency levels (connections or goroutines)")
	dur := fs.Duration("duration", 5*time.Second, "measured time per row")
	warm := fs.Duration("warmup", time.Second, "unmeasured time before each row")
	accounts := fs.Int("accounts", 1000, "wallets the transfers move between")
	scen := fs.String("scenarios", "ceilings,http,inprocess", "what to run: ceilings, http, inprocess")
	out := fs.String("out", "bench-results/ledger.md", "file to write the results to (markdown)")
	debugAddr := fs.String("serve-debug-addr", "", "if set, the okpay serve child of the HTTP runs serves Go profiling on this address (its --debug-addr), to profile it during a run")
	fs.envs["postgres"] = "OKPAY_BENCH_POSTGRES_URL"
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	cfg := bench.Config{Exe: exe, PostgresURL: *pg, Warmup: *warm, Duration: *dur, Accounts: *accounts, Log: e.stdout}
	if *debugAddr != "" {
		cfg.ServeArgs = []string{"--debug-addr", *debugAddr}
	}
	for _, s := range strings.Split(*engines, ",") {
		if s = strings.TrimSpace(s); s != "" {
			cfg.Engines = append(cfg.Engines, s)
		}
	}
	for _, s := range strings.Split(*scen, ",") {
		switch s = strings.TrimSpace(s); s {
		case "ceilings", "http", "inprocess":
			cfg.Scenarios = append(cfg.Scenarios, s)
		case "":
		default:
			return fmt.Errorf("--scenarios: unknown scenario %q", s)
		}
	}
	for _, s := range strings.Split(*conc, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 || n > 4096 {
			return fmt.Errorf("--concurrency: %q is not a number from 1 to 4096", s)
		}
		cfg.Concurrency = append(cfg.Concurrency, n)
	}
	if *accounts < 2 {
		return fmt.Errorf("--accounts must be at least 2")
	}
	work, err := os.MkdirTemp("", "okpay-bench-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	cfg.WorkDir = work
	rep, err := bench.Ledger(ctx, cfg)
	if err != nil {
		return err
	}
	md := rep.Markdown()
	fmt.Fprintln(e.stdout)
	fmt.Fprint(e.stdout, md)
	if *out != "" {
		if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(*out, []byte(md), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "\nwritten to %s\n", *out)
	}
	return nil
}

// runTrivialServer serves the trivial-handler ceiling (hidden: used by
// "okpay bench ledger").
func runTrivialServer(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("bench trivial-server", "Serve the trivial JSON handler used as the HTTP ceiling.", e)
	addr := fs.String("addr", "127.0.0.1:0", "address to listen on")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: bench.TrivialHandler(), ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(e.stdout, "trivial server listening on http://%s\n", ln.Addr())
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(ln); err != http.ErrServerClosed {
		return err
	}
	return nil
}
