package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/okpay/okpay/bench"
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
	Staged        int64         // outbox messages staged during the round (bundled ones included)
	Backlog       int64         // outbox messages still pending at its end (bundled ones included)
	Drain         time.Duration // how long the dispatcher then took to send them
	Left          int64         // still pending after drainMax
	WriterBusy    float64       // share of the window the ledger's writer spent in batches
	MeanBatch     float64       // requests per ledger batch
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

// rateWithDelivery counts the time the dispatcher took after the round
// to send the notices it left: transfers ÷ (measured time + that time),
// the rate at which delivery would keep up (0 when some were never sent
// or the time is unknown).
func (r p2pRound) rateWithDelivery() float64 {
	if r.Elapsed <= 0 || r.Left > 0 || r.Drain < 0 {
		return 0
	}
	return float64(r.Transfers) / (r.Elapsed + r.Drain).Seconds()
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
	fs.StringVar(&c.profileDir, "profile", "", "if set, run one more round (not in the medians) with CPU (labelled side=client|server), block and mutex profiles, a 1 s execution trace and the CPU profile of the notices' delivery written to this folder")
	fs.StringVar(&c.out, "out", "bench-results/wallet.md", "file to write the results to (markdown; empty: none)")
	fs.IntVar(&c.readers, "db-max-conns", 0, "the server's SQLite reader pool (0: its default, GOMAXPROCS+1)")
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

	srv, err := startP2PServer(ctx, dbURL, c.readers, e.getenv("GOGC"))
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
		r, err := p2pRun(ctx, c, srv, users, work, "")
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
		r, err := p2pRun(ctx, c, srv, users, work, c.profileDir)
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
	s += fmt.Sprintf(", then sent in %s; ledger writer busy %.0f%%, %.0f per batch", r.Drain.Round(100*time.Millisecond), 100*r.WriterBusy, r.MeanBatch)
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
	fmt.Fprintf(&b, "# okpay bench p2p\n\n%s, %s/%s, %d CPUs, %s. `okpay serve` in the benchmark's process on a fresh SQLite database; %d customers, %d clients over HTTP/1.1 keep-alive on loopback (one request in flight each; the lean load generator of okpay bench ledger, on the same cores); %s warm-up + %s measured per round; %d rounds, medians quoted.\n\n",
		started.Format(time.RFC3339), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version(), c.users, c.concurrency, c.warmup, c.duration, len(rounds))
	b.WriteString("Each request is `POST /api/v1/p2p_transfers` with the customer's session token (signed in through the API with password and authenticator app), its own Idempotency-Key, the payee by email (paid before) and 0.01–99.99 USD (below the 300.00 step-up threshold): session check, payee look-up, fee, final gate, limits and velocity counters, both customers' transactions and their notices (three messages: email and SMS to the payer, email to the payee, staged as one bundle row that the dispatcher sends and then writes to the outbox; two in-app notices written as they are) staged with the entry, the answer stored with the ledger entry, acknowledged after the durable commit. It counts only when answered 201 with status `completed`. The server's dispatcher delivers the outbox meanwhile (to the dev mailbox), as in `okpay serve`. *Ledger alone*: the in-process figure of `okpay bench ledger` (random transfers between 1,000 accounts, same concurrency), run right after each round.\n\n")
	b.WriteString("| round | transfers/s | p50 | p95 | p99 | errors | peak RSS | load before | CPU busy (this process) | CPU per transfer | ledger writer busy (requests per batch) | outbox staged / pending at end / then sent in | ledger alone | ledger p99 | wallet ÷ ledger |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
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
		fmt.Fprintf(&b, "| %s | %.0f | %s | %s | %s | %d | %.0f MiB | %.1f | %.2f (%.2f) cores | %d µs | %.0f%% (%.0f) | %d / %d / %s | %s | %s | %s |\n",
			name, r.rate(), fmtMs(r.P50), fmtMs(r.P95), fmtMs(r.P99), r.Errors, r.PeakRSSMiB, r.Load1, r.MachineCores, r.OwnCores, r.cpuPerTransfer().Microseconds(), 100*r.WriterBusy, r.MeanBatch, r.Staged, r.Backlog, drain, led, ledP99, ratio)
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
		WriterBusy:   median(rounds, func(r p2pRound) float64 { return r.WriterBusy }),
		MeanBatch:    median(rounds, func(r p2pRound) float64 { return r.MeanBatch }),
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
	b.WriteString(".")
	if w := median(rounds, func(r p2pRound) float64 { return r.rateWithDelivery() }); w > 0 {
		fmt.Fprintf(&b, " Counting the time the dispatcher then took to send the notices a round left (*then sent in*), a round's transfers and their notices took the time of %.0f transfers/s (median): the rate at which delivery keeps up.", w)
	}
	b.WriteString("\n")
	for _, r := range rounds {
		if r.FirstError != "" {
			fmt.Fprintf(&b, "\nFirst error seen: `%s`\n", strings.ReplaceAll(r.FirstError, "`", "'"))
			break
		}
	}
	return b.String()
}
