package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/okpay/okpay/ledger"
	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/secret"
	"github.com/okpay/okpay/sqldb"
)

// Config configures the ledger benchmark.
type Config struct {
	Exe         string   // the okpay binary, started as a child for HTTP runs
	Engines     []string // "sqlite", "postgres"
	PostgresURL string   // server for the PostgreSQL runs (a schema is made and dropped)
	Concurrency []int
	Warmup      time.Duration
	Duration    time.Duration
	Accounts    int
	// Scenarios selects what runs: "ceilings", "http", "inprocess"
	// (empty: all).
	Scenarios []string
	WorkDir   string
	Log       io.Writer // progress
	// ServeArgs are added to the okpay serve child's flags (HTTP runs).
	ServeArgs []string
}

// Report is what the benchmark measured.
type Report struct {
	Started  time.Time
	Machine  string
	Config   Config
	Results  []Result
	Ceilings []Result
}

// splitmix64 makes cheap, well-spread pseudo-random numbers from a counter.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

func pair(n int, w, i int) (int, int) {
	r := splitmix64(uint64(w)<<40 ^ uint64(i))
	a := int(r % uint64(n))
	b := int((r >> 32) % uint64(n-1))
	if b >= a {
		b++
	}
	return a, b
}

// Ledger runs every scenario and returns the report.
func Ledger(ctx context.Context, cfg Config) (*Report, error) {
	rep := &Report{Started: time.Now().UTC(), Config: cfg, Machine: fmt.Sprintf("%s/%s, %d CPUs, %s", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version())}
	logf := func(format string, args ...any) { fmt.Fprintf(cfg.Log, format+"\n", args...) }

	want := func(s string) bool {
		if len(cfg.Scenarios) == 0 {
			return true
		}
		for _, x := range cfg.Scenarios {
			if x == s {
				return true
			}
		}
		return false
	}
	if want("ceilings") {
		if err := ceilings(ctx, cfg, rep, logf); err != nil {
			return rep, err
		}
	}
	for _, engine := range cfg.Engines {
		for _, c := range cfg.Concurrency {
			if !want("http") {
				break
			}
			logf("%s over HTTP, concurrency %d", engine, c)
			r, err := httpLedger(ctx, cfg, engine, c)
			if err != nil {
				return rep, err
			}
			rep.Results = append(rep.Results, r)
			logf("  %s", r.line())
		}
		for _, c := range cfg.Concurrency {
			if !want("inprocess") {
				break
			}
			logf("%s in-process, concurrency %d", engine, c)
			r, err := inProcess(ctx, cfg, engine, c)
			if err != nil {
				return rep, err
			}
			rep.Results = append(rep.Results, r)
			logf("  %s", r.line())
		}
	}
	return rep, nil
}

func ceilings(ctx context.Context, cfg Config, rep *Report, logf func(string, ...any)) error {
	// Ceiling 1: a trivial JSON handler behind the same load generator.
	logf("ceiling: trivial HTTP handler")
	for _, c := range cfg.Concurrency {
		r, err := trivialCeiling(ctx, cfg, c)
		if err != nil {
			return err
		}
		rep.Ceilings = append(rep.Ceilings, r)
		logf("  %s", r.line())
	}
	// Ceiling 2: raw batched SQLite inserts.
	logf("ceiling: raw SQLite, 100 transfers per commit")
	r, err := rawSQLite(ctx, cfg, 100)
	if err != nil {
		return err
	}
	rep.Ceilings = append(rep.Ceilings, r)
	logf("  %s", r.line())
	return nil
}

func (r Result) line() string {
	s := fmt.Sprintf("%-40s c=%-4d %9.0f/s  p50 %-9s p99 %-9s errors %d", r.Name, r.Concurrency, r.Rate(), r.P50.Round(time.Microsecond), r.P99.Round(time.Microsecond), r.Errors)
	if r.FirstError != "" {
		s += " (first: " + r.FirstError + ")"
	}
	return s
}

// Markdown renders the report.
func (rep *Report) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# okpay bench ledger\n\n%s, %s; %s warm-up + %s measured per row; %d wallets; P2P transfers of 0.01 USD between random wallets, each with a unique Idempotency-Key (HTTP) or reference (in-process), each acknowledged only after its durable commit. CPU per transfer: the whole machine's busy CPU time in the measured window (/proc/stat: server, load generator, kernel and anything else running) divided by the transfers.\n\n",
		rep.Started.Format(time.RFC3339), rep.Machine, rep.Config.Warmup, rep.Config.Duration, rep.Config.Accounts)
	b.WriteString("| scenario | concurrency | transfers/s | p50 | p99 | errors | CPU per transfer |\n|---|---:|---:|---:|---:|---:|---:|\n")
	row := func(r Result) {
		cpu := "—"
		if c := r.CPUPerRequest(); c > 0 {
			cpu = fmt.Sprintf("%.1f µs", float64(c)/float64(time.Microsecond))
		}
		fmt.Fprintf(&b, "| %s | %d | %.0f | %s | %s | %d | %s |\n", r.Name, r.Concurrency, r.Rate(), fmtDur(r.P50), fmtDur(r.P99), r.Errors, cpu)
	}
	for _, r := range rep.Ceilings {
		row(r)
	}
	for _, r := range rep.Results {
		row(r)
	}
	// Ratios against the ceilings of the same run.
	var trivialBest, rawBest float64
	for _, r := range rep.Ceilings {
		if strings.HasPrefix(r.Name, "ceiling: trivial") && r.Rate() > trivialBest {
			trivialBest = r.Rate()
		}
		if strings.HasPrefix(r.Name, "ceiling: raw") {
			rawBest = r.Rate()
		}
	}
	b.WriteString("\nRatios (best concurrency of each scenario, same run):\n\n")
	best := map[string]Result{}
	for _, r := range rep.Results {
		if r.Rate() > best[r.Name].Rate() {
			best[r.Name] = r
		}
	}
	for _, name := range []string{"sqlite over HTTP", "postgres over HTTP", "sqlite in-process", "postgres in-process"} {
		r, ok := best[name]
		if !ok {
			continue
		}
		switch {
		case strings.HasSuffix(name, "HTTP") && trivialBest > 0:
			fmt.Fprintf(&b, "- %s: %.0f/s = %.0f%% of the trivial-handler ceiling (%.0f/s)\n", name, r.Rate(), 100*r.Rate()/trivialBest, trivialBest)
		case strings.HasSuffix(name, "in-process") && rawBest > 0:
			fmt.Fprintf(&b, "- %s: %.0f/s = %.0f%% of the raw batched SQLite ceiling (%.0f/s)\n", name, r.Rate(), 100*r.Rate()/rawBest, rawBest)
		}
	}
	return b.String()
}

func fmtDur(d time.Duration) string {
	switch {
	case d >= time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%d µs", d.Microseconds())
	}
}

// child is a running okpay process.
type child struct {
	cmd  *exec.Cmd
	addr string
	out  *bytes.Buffer
}

func startChild(ctx context.Context, exe string, args ...string) (*child, error) {
	cmd := exec.CommandContext(ctx, exe, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var errBuf bytes.Buffer
	cmd.Stderr = &limitedBuffer{b: &errBuf, max: 64 << 10}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			if i := strings.Index(line, "listening on http://"); i >= 0 && !sent {
				rest := line[i+len("listening on http://"):]
				if j := strings.IndexAny(rest, " \t"); j >= 0 {
					rest = rest[:j]
				}
				addrc <- rest
				sent = true
			}
		}
		if !sent {
			close(addrc)
		}
	}()
	select {
	case addr, ok := <-addrc:
		if !ok {
			cmd.Wait()
			return nil, fmt.Errorf("%s %v did not start: %s", exe, args, errBuf.String())
		}
		return &child{cmd: cmd, addr: addr, out: &errBuf}, nil
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("%s %v did not start in 30 s: %s", exe, args, errBuf.String())
	}
}

func (c *child) stop() {
	c.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		c.cmd.Process.Kill()
		<-done
	}
}

type limitedBuffer struct {
	mu  sync.Mutex
	b   *bytes.Buffer
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() < l.max {
		l.b.Write(p[:min(len(p), l.max-l.b.Len())])
	}
	return len(p), nil
}

func trivialCeiling(ctx context.Context, cfg Config, conc int) (Result, error) {
	c, err := startChild(ctx, cfg.Exe, "bench", "trivial-server", "--addr", "127.0.0.1:0")
	if err != nil {
		return Result{}, err
	}
	defer c.stop()
	body := []byte(`{"from":"acc_06zacq1e00000","to":"acc_06zacq1g00000","amount":{"amount":"0.01","currency":"USD"}}`)
	r, err := HTTPLoad(ctx, c.addr, conc, cfg.Warmup, cfg.Duration, http.StatusCreated, func(buf []byte, w, n int) []byte {
		return Post(buf, c.addr, "/transfers", []string{"Idempotency-Key: t-" + strconv.Itoa(w) + "-" + strconv.Itoa(n)}, body)
	})
	r.Name = "ceiling: trivial JSON handler over HTTP"
	return r, err
}

// TrivialHandler is the ceiling's handler: decode a JSON transfer, answer
// with a JSON entry of similar size, store nothing.
func TrivialHandler() http.Handler {
	type amount struct {
		Amount   string `json:"amount"`
		Currency string `json:"currency"`
	}
	type transfer struct {
		From   string `json:"from"`
		To     string `json:"to"`
		Amount amount `json:"amount"`
	}
	var n atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("POST /transfers", func(w http.ResponseWriter, r *http.Request) {
		var t transfer
		if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&t); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		out := struct {
			ID       string `json:"id"`
			Key      string `json:"idempotency_key"`
			Transfer transfer
			Created  time.Time `json:"created_at"`
		}{"ent_" + strconv.FormatInt(n.Add(1), 10), r.Header.Get("Idempotency-Key"), t, time.Now().UTC()}
		b, _ := json.Marshal(out)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		w.Write(b)
	})
	return mux
}

// rawSQLite measures the machine's batched-insert ceiling: per transfer one
// INSERT and two UPDATEs, `per` transfers per commit, WAL, synchronous=FULL.
func rawSQLite(ctx context.Context, cfg Config, per int) (Result, error) {
	dir, err := os.MkdirTemp(cfg.WorkDir, "raw-*")
	if err != nil {
		return Result{}, err
	}
	defer os.RemoveAll(dir)
	db, err := sqldb.Open(ctx, "sqlite:"+filepath.Join(dir, "raw.db"), sqldb.Options{})
	if err != nil {
		return Result{}, err
	}
	defer db.Close()
	for _, q := range []string{
		`CREATE TABLE raw_balances(id INTEGER PRIMARY KEY, balance INTEGER NOT NULL)`,
		`CREATE TABLE raw_transfers(id INTEGER PRIMARY KEY, reference TEXT NOT NULL UNIQUE, src INTEGER NOT NULL, dst INTEGER NOT NULL, amount INTEGER NOT NULL)`,
	} {
		if _, err := db.Write.ExecContext(ctx, q); err != nil {
			return Result{}, err
		}
	}
	n := cfg.Accounts
	for i := 0; i < n; i++ {
		if _, err := db.Write.ExecContext(ctx, `INSERT INTO raw_balances VALUES ($1, 1000000000)`, i); err != nil {
			return Result{}, err
		}
	}
	ins, err := db.Write.PrepareContext(ctx, `INSERT INTO raw_transfers(id, reference, src, dst, amount) VALUES ($1, $2, $3, $4, $5)`)
	if err != nil {
		return Result{}, err
	}
	upd, err := db.Write.PrepareContext(ctx, `UPDATE raw_balances SET balance = balance + $1 WHERE id = $2`)
	if err != nil {
		return Result{}, err
	}
	var lat []time.Duration
	id := 0
	start := time.Now()
	measureFrom := start.Add(cfg.Warmup)
	stop := measureFrom.Add(cfg.Duration)
	cpu := cpuOver(ctx, measureFrom, stop)
	count := 0
	for time.Now().Before(stop) {
		t0 := time.Now()
		tx, err := db.Write.BeginTx(ctx, nil)
		if err != nil {
			return Result{}, err
		}
		ti, tu := tx.Stmt(ins), tx.Stmt(upd)
		for j := 0; j < per; j++ {
			id++
			a, b := pair(n, 0, id)
			if _, err := ti.Exec(id, "r"+strconv.Itoa(id), a, b, 1); err != nil {
				return Result{}, err
			}
			if _, err := tu.Exec(-1, a); err != nil {
				return Result{}, err
			}
			if _, err := tu.Exec(1, b); err != nil {
				return Result{}, err
			}
		}
		if err := tx.Commit(); err != nil {
			return Result{}, err
		}
		if t0.After(measureFrom) {
			count += per
			lat = append(lat, time.Since(t0))
		}
	}
	r := Result{Name: fmt.Sprintf("ceiling: raw SQLite, %d per commit", per), Concurrency: 1, Requests: count, Elapsed: time.Since(measureFrom), CPU: cpu()}
	r.P50, r.P99 = percentiles(lat)
	return r, nil
}

// database makes a fresh database for one run and returns its URL and a
// cleanup function.
func database(ctx context.Context, cfg Config, engine string) (string, func(), error) {
	switch engine {
	case "sqlite":
		dir, err := os.MkdirTemp(cfg.WorkDir, "sqlite-*")
		if err != nil {
			return "", nil, err
		}
		return "sqlite:" + filepath.Join(dir, "okpay.db"), func() { os.RemoveAll(dir) }, nil
	case "postgres":
		if cfg.PostgresURL == "" {
			return "", nil, fmt.Errorf("no PostgreSQL server: pass --postgres or set OKPAY_BENCH_POSTGRES_URL")
		}
		admin, err := sqldb.Open(ctx, cfg.PostgresURL, sqldb.Options{MaxConns: 2})
		if err != nil {
			return "", nil, err
		}
		var b [4]byte
		rand.Read(b[:])
		schema := "bench_" + hex.EncodeToString(b[:])
		if _, err := admin.Write.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
			admin.Close()
			return "", nil, err
		}
		u, err := url.Parse(cfg.PostgresURL)
		if err != nil {
			admin.Close()
			return "", nil, err
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String(), func() {
			admin.Write.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
			admin.Close()
		}, nil
	}
	return "", nil, fmt.Errorf("unknown engine %q", engine)
}

func httpLedger(ctx context.Context, cfg Config, engine string, conc int) (Result, error) {
	dbURL, cleanup, err := database(ctx, cfg, engine)
	if err != nil {
		return Result{}, err
	}
	defer cleanup()
	keyOut, err := exec.CommandContext(ctx, cfg.Exe, "apikey", "create", "--name", "bench", "--database", dbURL).Output()
	if err != nil {
		return Result{}, fmt.Errorf("create API key: %w", err)
	}
	key := strings.TrimSpace(string(keyOut))
	// With PostgreSQL, serve needs the master key given (every node
	// shares it: a fresh one per run) and a mail relay or development
	// mode (the benchmark sends no mail: dev mode).
	masterKey, err := secret.Generate()
	if err != nil {
		return Result{}, err
	}
	args := append([]string{"serve", "--addr", "127.0.0.1:0", "--database", dbURL, "--log-level", "warn",
		"--secret-key", hex.EncodeToString(masterKey), "--dev", "on"}, cfg.ServeArgs...)
	c, err := startChild(ctx, cfg.Exe, args...)
	if err != nil {
		return Result{}, err
	}
	defer c.stop()
	wallets, err := setupHTTP(ctx, "http://"+c.addr, key, cfg.Accounts)
	if err != nil {
		return Result{}, err
	}
	auth := "Authorization: Bearer " + key
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	r, err := HTTPLoad(ctx, c.addr, conc, cfg.Warmup, cfg.Duration, http.StatusCreated, func(buf []byte, w, n int) []byte {
		a, b := pair(len(wallets), w, n)
		body := make([]byte, 0, 128)
		body = append(body, `{"from":"`...)
		body = append(body, wallets[a]...)
		body = append(body, `","to":"`...)
		body = append(body, wallets[b]...)
		body = append(body, `","amount":{"amount":"0.01","currency":"USD"}}`...)
		return Post(buf, c.addr, "/api/v1/transfers", []string{auth, "Idempotency-Key: " + run + "-" + strconv.Itoa(w) + "-" + strconv.Itoa(n)}, body)
	})
	r.Name = engine + " over HTTP"
	return r, err
}

// setupHTTP creates a funding account and n funded wallets through the API.
func setupHTTP(ctx context.Context, base, key string, n int) ([]string, error) {
	client := &http.Client{Timeout: 30 * time.Second}
	call := func(path, idem string, body any) (map[string]any, error) {
		b, _ := json.Marshal(body)
		req, _ := http.NewRequestWithContext(ctx, "POST", base+path, bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		if idem != "" {
			req.Header.Set("Idempotency-Key", idem)
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		if resp.StatusCode != http.StatusCreated {
			return nil, fmt.Errorf("POST %s: %d %v", path, resp.StatusCode, out)
		}
		return out, nil
	}
	world, err := call("/api/v1/accounts", "", map[string]any{"owner": "bench", "currency": "USD", "kind": "external"})
	if err != nil {
		return nil, err
	}
	wallets := make([]string, n)
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := range wallets {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			a, err := call("/api/v1/accounts", "", map[string]any{"owner": "bench-" + strconv.Itoa(i), "currency": "USD", "kind": "user_wallet", "flags": []string{"no_overdraft"}})
			if err == nil {
				wallets[i] = a["id"].(string)
				_, err = call("/api/v1/transfers", "fund-"+strconv.Itoa(i), map[string]any{"from": world["id"], "to": wallets[i], "amount": map[string]string{"amount": "1000000.00", "currency": "USD"}})
			}
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		}(i)
	}
	wg.Wait()
	return wallets, firstErr
}

func inProcess(ctx context.Context, cfg Config, engine string, conc int) (Result, error) {
	dbURL, cleanup, err := database(ctx, cfg, engine)
	if err != nil {
		return Result{}, err
	}
	defer cleanup()
	db, err := sqldb.Open(ctx, dbURL, sqldb.Options{})
	if err != nil {
		return Result{}, err
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		return Result{}, err
	}
	l, err := ledger.New(ctx, db, ledger.Options{})
	if err != nil {
		return Result{}, err
	}
	defer l.Close()
	world, err := l.CreateAccount(ctx, ledger.AccountInput{Owner: "bench", Currency: "USD", Kind: ledger.KindExternal})
	if err != nil {
		return Result{}, err
	}
	wallets := make([]int64, cfg.Accounts)
	for i := range wallets {
		a, err := l.CreateAccount(ctx, ledger.AccountInput{Owner: "bench", Currency: "USD", Kind: ledger.KindUserWallet, Flags: ledger.FlagNoOverdraft})
		if err != nil {
			return Result{}, err
		}
		wallets[i] = a.ID
		if _, err := l.Post(ctx, ledger.EntryInput{Reference: "fund-" + strconv.Itoa(i), Type: "deposit",
			Postings: []ledger.Posting{{Debit: world.ID, Credit: a.ID, Amount: 100_000_000, Currency: money.Currency("USD")}}}); err != nil {
			return Result{}, err
		}
	}
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	all := make([][]time.Duration, conc)
	errs := make([]int, conc)
	firsts := make([]string, conc)
	start := time.Now()
	measureFrom := start.Add(cfg.Warmup)
	stop := measureFrom.Add(cfg.Duration)
	cpu := cpuOver(ctx, measureFrom, stop)
	var wg sync.WaitGroup
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for n := 0; ; n++ {
				t0 := time.Now()
				if !t0.Before(stop) || ctx.Err() != nil {
					return
				}
				a, b := pair(len(wallets), w, n)
				_, err := l.Post(ctx, ledger.EntryInput{Reference: run + "-" + strconv.Itoa(w) + "-" + strconv.Itoa(n), Type: "transfer",
					Postings: []ledger.Posting{{Debit: wallets[a], Credit: wallets[b], Amount: 1, Currency: "USD"}}})
				if t0.Before(measureFrom) {
					continue
				}
				if err != nil {
					errs[w]++
					if firsts[w] == "" {
						firsts[w] = err.Error()
					}
					continue
				}
				all[w] = append(all[w], time.Since(t0))
			}
		}(w)
	}
	wg.Wait()
	r := Result{Name: engine + " in-process", Concurrency: conc, Elapsed: time.Since(measureFrom), CPU: cpu()}
	var lat []time.Duration
	for w := range all {
		lat = append(lat, all[w]...)
		r.Errors += errs[w]
		if r.FirstError == "" {
			r.FirstError = firsts[w]
		}
	}
	r.Requests = len(lat)
	r.P50, r.P99 = percentiles(lat)
	return r, ctx.Err()
}
