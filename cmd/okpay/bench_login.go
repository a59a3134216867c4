package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/clock"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/ids"
)

// loginResult is one row of the login benchmark.
type loginResult struct {
	HashConcurrency int     `json:"hash_concurrency"`
	Clients         int     `json:"clients"`
	Logins          int64   `json:"logins"`
	Failures        int64   `json:"failures"`
	Seconds         float64 `json:"seconds"`
	PerSecond       float64 `json:"per_second"`
	P50ms           float64 `json:"p50_ms"`
	P99ms           float64 `json:"p99_ms"`
	BaseRSSMiB      float64 `json:"base_rss_mib"`
	PeakRSSMiB      float64 `json:"peak_rss_mib"`
}

// runBenchLogin measures password logins (argon2id with the production
// parameters, session creation, SMS code queued) under a storm of
// concurrent clients, once per bound on concurrent hash computations,
// each in a child process so that its peak RSS is its own.
func runBenchLogin(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("bench login", "Measure logins/s, latency and peak RSS under a storm of concurrent logins (each bound on concurrent argon2 computations runs in its own child process).", e)
	clients := fs.Int("clients", 200, "concurrent clients")
	bounds := fs.String("hash-concurrency", "0,200", "bounds on concurrent password hashes to compare (0: one per CPU, the default)")
	dur := fs.Duration("duration", 10*time.Second, "measured time per row")
	users := fs.Int("users", 50, "accounts the clients sign in to")
	out := fs.String("out", "bench-results/login.md", "file to write the results to (markdown)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	var rows []loginResult
	for _, b := range strings.Split(*bounds, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(b))
		if err != nil || n < 0 {
			return fmt.Errorf("--hash-concurrency: %q is not a number", b)
		}
		dir, err := os.MkdirTemp("", "okpay-bench-login-*")
		if err != nil {
			return err
		}
		cmd := exec.CommandContext(ctx, exe, "bench", "login-worker", "--clients", strconv.Itoa(*clients), "--hash-concurrency", strconv.Itoa(n),
			"--duration", dur.String(), "--users", strconv.Itoa(*users), "--database", "sqlite:"+filepath.Join(dir, "okpay.db"))
		cmd.Stderr = e.stderr
		outb, err := cmd.Output()
		os.RemoveAll(dir)
		if err != nil {
			return fmt.Errorf("login worker (hash concurrency %d): %w", n, err)
		}
		var r loginResult
		if err := json.Unmarshal(outb, &r); err != nil {
			return fmt.Errorf("login worker output %q: %w", outb, err)
		}
		fmt.Fprintf(e.stdout, "hash concurrency %d: %.0f logins/s, p50 %.0f ms, p99 %.0f ms, peak RSS %.0f MiB\n", r.HashConcurrency, r.PerSecond, r.P50ms, r.P99ms, r.PeakRSSMiB)
		rows = append(rows, r)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Login storm\n\n`okpay bench login` on %s, %d CPUs, %s: %d clients signing in to %d accounts for %s per row (argon2id m=19 MiB, t=2, p=1; SQLite; each login also starts a session and queues its SMS code).\n\n",
		runtime.GOOS+"/"+runtime.GOARCH, runtime.NumCPU(), time.Now().UTC().Format("2006-01-02"), *clients, *users, *dur)
	b.WriteString("| concurrent hashes | logins/s | p50 | p99 | RSS before | peak RSS |\n|---|---|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %d | %.0f | %.0f ms | %.0f ms | %.0f MiB | %.0f MiB |\n", r.HashConcurrency, r.PerSecond, r.P50ms, r.P99ms, r.BaseRSSMiB, r.PeakRSSMiB)
	}
	fmt.Fprintln(e.stdout)
	fmt.Fprint(e.stdout, b.String())
	if *out != "" {
		if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(*out, []byte(b.String()), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "\nwritten to %s\n", *out)
	}
	return nil
}

// runBenchLoginWorker is one row of runBenchLogin (hidden); it prints a
// loginResult as JSON.
func runBenchLoginWorker(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("bench login-worker", "one row of bench login", e)
	var d dbFlags
	d.register(fs)
	clients := fs.Int("clients", 200, "")
	hashConc := fs.Int("hash-concurrency", 0, "")
	dur := fs.Duration("duration", 10*time.Second, "")
	nusers := fs.Int("users", 50, "")
	if err := fs.Parse(args); err != nil {
		return err
	}
	db, err := d.open(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	clk := clock.System{}
	idgen, err := ids.NewSnowflake(1, clk.Now)
	if err != nil {
		return err
	}
	catalog, err := i18n.New()
	if err != nil {
		return err
	}
	f := identityFlags{hashParallel: *hashConc, dev: "on"}
	svc, _, hasher, err := newIdentityService(db, clk, idgen, catalog, &f, "localhost")
	if err != nil {
		return err
	}
	const pw = "bench passphrase that is long enough"
	var idents []string
	for i := 0; i < *nusers; i++ {
		email := fmt.Sprintf("bench%d@example.com", i)
		if _, err := svc.Register(ctx, identity.RegisterInput{Email: email, Phone: fmt.Sprintf("+86138%08d", i), Password: pw}, identity.Meta{IP: fmt.Sprintf("10.1.%d.%d", i/250, i%250+1)}); err != nil {
			return fmt.Errorf("register: %w", err)
		}
		idents = append(idents, email)
	}
	if _, err := db.Write.ExecContext(ctx, `UPDATE users SET email_verified_at = 1, phone_verified_at = 1`); err != nil {
		return err
	}
	runtime.GC()
	base := rssMiB("VmRSS")
	var logins, failures atomic.Int64
	lat := make([][]time.Duration, *clients)
	deadline := time.Now().Add(*dur)
	start := time.Now()
	var wg sync.WaitGroup
	for c := 0; c < *clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			// Many clients, many addresses: one address would meet the
			// per-IP limit (20/min) at once, by design.
			m := identity.Meta{IP: fmt.Sprintf("10.2.%d.%d", c/250, c%250+1), UserAgent: "okpay-bench"}
			for i := 0; time.Now().Before(deadline); i++ {
				t0 := time.Now()
				_, err := svc.Login(ctx, idents[(c+i)%len(idents)], pw, m)
				lat[c] = append(lat[c], time.Since(t0))
				if err != nil && okpay.ErrorCode(err) != identity.ERateLimited {
					failures.Add(1)
					continue
				}
				logins.Add(1)
			}
		}(c)
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	pct := func(p float64) float64 {
		if len(all) == 0 {
			return 0
		}
		return float64(all[int(p*float64(len(all)-1))].Microseconds()) / 1000
	}
	r := loginResult{HashConcurrency: *hashConc, Clients: *clients, Logins: logins.Load(), Failures: failures.Load(), Seconds: elapsed,
		PerSecond: float64(logins.Load()) / elapsed, P50ms: pct(0.5), P99ms: pct(0.99), BaseRSSMiB: base, PeakRSSMiB: rssMiB("VmHWM")}
	if r.HashConcurrency == 0 {
		r.HashConcurrency = runtime.GOMAXPROCS(0)
	}
	_ = hasher
	return json.NewEncoder(e.stdout).Encode(r)
}

// rssMiB reads a memory figure of this process from /proc/self/status
// (VmRSS now, VmHWM the peak); 0 where /proc is missing.
func rssMiB(field string) float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	return readStatusKiB(f, field) / 1024
}

func readStatusKiB(r io.Reader, field string) float64 {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			fields := strings.Fields(rest)
			if len(fields) > 0 {
				v, _ := strconv.ParseFloat(fields[0], 64)
				return v
			}
		}
	}
	return 0
}
