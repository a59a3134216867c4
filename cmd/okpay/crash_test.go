package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

// Kill-and-restart (REL-04/REL-05): a server SIGKILLed under load loses no
// acknowledged transfer, applies none twice, and every client retry with
// the same Idempotency-Key gets one definitive answer.

const (
	crashWallets = 20
	crashClients = 16
	crashCycles  = 3
	crashFund    = 50_000 // minor units funded into each wallet
	crashMaxAmt  = 5_000  // largest transfer, minor units
)

// buildOkpay builds the okpay binary once into dir, static
// (CGO_ENABLED=0) as CI's build step builds it, which then reuses the
// packages compiled here instead of compiling them a second time.
func buildOkpay(t *testing.T, dir string) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command to build the binary with: %v", err)
	}
	out, err := exec.Command(goBin, "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		t.Fatalf("go env GOMOD = %q: not in a module", gomod)
	}
	bin := filepath.Join(dir, "okpay")
	start := time.Now()
	cmd := exec.Command(goBin, "build", "-o", bin, "./cmd/okpay")
	cmd.Dir = filepath.Dir(gomod)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/okpay: %v\n%s", err, out)
	}
	t.Logf("built %s in %v", bin, time.Since(start).Round(time.Millisecond))
	return bin
}

// childEnv is the environment of the okpay child processes: the test's,
// without OKPAY_* variables that could change their configuration.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OKPAY_") {
			env = append(env, kv)
		}
	}
	return env
}

// serverProc is an "okpay serve" child process.
type serverProc struct {
	cmd    *exec.Cmd
	url    string
	stdout *syncBuffer
	stderr *syncBuffer
	exited chan struct{}
	err    error // from Wait, once exited is closed
}

func startServerProc(t *testing.T, bin, dbURL string) *serverProc {
	t.Helper()
	p := &serverProc{stdout: &syncBuffer{}, stderr: &syncBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--database", dbURL, "--log-level", "warn", "--dev", "on", "--secret-key", testSecretKey)
	p.cmd.Env = childEnv()
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	start := time.Now()
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start okpay serve: %v", err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(p.kill)
	deadline := time.After(30 * time.Second)
	for {
		if m := listenRE.FindStringSubmatch(p.stdout.String()); m != nil {
			p.url = m[1]
			break
		}
		select {
		case <-p.exited:
			t.Fatalf("okpay serve exited before listening: %v\nstdout:\n%s\nstderr:\n%s", p.err, p.stdout, p.stderr)
		case <-deadline:
			t.Fatalf("okpay serve did not print its address within 30s\nstdout:\n%s\nstderr:\n%s", p.stdout, p.stderr)
		case <-time.After(5 * time.Millisecond):
		}
	}
	t.Logf("server pid %d listening on %s after %v", p.cmd.Process.Pid, p.url, time.Since(start).Round(time.Millisecond))
	return p
}

// kill SIGKILLs the process (if it still runs) and waits for it.
func (p *serverProc) kill() {
	select {
	case <-p.exited:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// terminate asks for a graceful stop (SIGTERM) and checks that it exits 0.
func (p *serverProc) terminate(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(15 * time.Second):
		t.Errorf("okpay serve did not exit within 15s of SIGTERM")
		p.kill()
		return
	}
	if p.err != nil {
		t.Errorf("okpay serve after SIGTERM: %v\nstderr:\n%s", p.err, p.stderr)
	}
	if !strings.Contains(p.stdout.String(), "OKPay stopped") {
		t.Errorf("okpay serve stdout lacks \"OKPay stopped\":\n%s", p.stdout)
	}
}

// outcome is a definitive answer to a transfer request.
type outcome struct {
	status int
	entry  string // entry id, on 2xx
	code   string // problem code, on 4xx
}

func (o outcome) ok() bool { return o.status >= 200 && o.status < 300 }

func (o outcome) String() string {
	if o.ok() {
		return fmt.Sprintf("%d %s", o.status, o.entry)
	}
	return fmt.Sprintf("%d %s", o.status, o.code)
}

// crashOp is one transfer request a client sent, with what it learnt.
type crashOp struct {
	key      string
	body     []byte
	from, to int // account indexes (0: the external account)
	amount   int64
	cycle    int

	acked   bool     // a 2xx was received before the kill that followed it
	known   *outcome // first definitive answer (2xx or 4xx), ever
	replays int      // answers carrying Idempotent-Replayed: true
	// firstReplayed: the first definitive answer was already a replay (the
	// request was committed before a kill, but its answer was lost).
	firstReplayed bool
}

// definitive reports whether r settles its request: a 2xx, or a 4xx that is
// not "try again".
func definitive(r *apiResp) (outcome, bool) {
	var e entryJSON
	_ = json.Unmarshal(r.body, &e)
	o := outcome{status: r.status, entry: e.ID, code: e.Code}
	switch {
	case o.ok():
		return o, e.ID != ""
	case r.status == http.StatusTooManyRequests, r.status == http.StatusRequestTimeout:
		return o, false
	case r.status == http.StatusConflict && e.Code == "idempotency_request_in_flight":
		return o, false
	case r.status >= 400 && r.status < 500:
		return o, true
	}
	return o, false
}

// crashRig is the state of one engine's kill-and-restart run.
type crashRig struct {
	t         *testing.T
	bin       string
	dbURL     string
	secret    string
	principal string
	runID     string
	hc        *http.Client
	srv       *serverProc
	accts     []string // 0: external; 1..: wallets
	clients   [][]*crashOp

	mu       sync.Mutex
	failures []string
}

func (rg *crashRig) fail(format string, args ...any) {
	rg.mu.Lock()
	rg.failures = append(rg.failures, fmt.Sprintf(format, args...))
	rg.mu.Unlock()
}

func (rg *crashRig) client() *apiClient {
	return &apiClient{base: rg.srv.url, key: rg.secret, hc: rg.hc}
}

// note records a definitive answer to op and checks it against the
// earlier ones: the answer never changes.
func (rg *crashRig) note(op *crashOp, r *apiResp, o outcome) {
	replayed := r.header.Get("Idempotent-Replayed") == "true"
	if replayed {
		op.replays++
	}
	if op.known == nil {
		op.firstReplayed = replayed
		if o.ok() {
			rg.checkEntry(op, r)
		}
		op.known = &o
		return
	}
	if *op.known != o {
		rg.fail("key %s (cycle %d, acked %v): answered %v earlier, now %v", op.key, op.cycle, op.acked, *op.known, o)
	}
	if !replayed {
		rg.fail("key %s (cycle %d): repeated answer %v without Idempotent-Replayed: true", op.key, op.cycle, o)
	}
}

// checkEntry checks that a 2xx entry is the transfer that was asked for,
// under the reference derived from the idempotency key.
func (rg *crashRig) checkEntry(op *crashOp, r *apiResp) {
	var e entryJSON
	if err := json.Unmarshal(r.body, &e); err != nil {
		rg.fail("key %s: bad entry %s: %v", op.key, r.body, err)
		return
	}
	if want := idemReference(rg.principal, op.key); e.Reference != want {
		rg.fail("key %s: entry reference %q, want %q", op.key, e.Reference, want)
	}
	if len(e.Postings) != 1 || e.Postings[0].Debit != rg.accts[op.from] || e.Postings[0].Credit != rg.accts[op.to] ||
		e.Postings[0].Amount.Minor != op.amount || e.Postings[0].Amount.Currency != "USD" {
		rg.fail("key %s: entry %s does not match the request %s", op.key, r.body, op.body)
	}
}

// idemReference is the ledger reference the API derives from a key (see
// httpapi.defaultReference): the test recomputes it to count entries per
// key in the database.
func idemReference(principal, key string) string {
	h := sha256.Sum256([]byte(principal + "\x00" + key))
	return "idem:" + hex.EncodeToString(h[:20])
}

func TestCrashRestart(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("kill-and-restart test skipped in -short mode")
	}
	bin := buildOkpay(t, t.TempDir())
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("OKPAY_CRASH_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("OKPAY_CRASH_SEED=%q: %v", s, err)
		}
	}
	t.Logf("seed %d (rerun with OKPAY_CRASH_SEED=%d)", seed, seed)
	for i, d := range sqldbtest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			crashRestart(t, bin, d, seed+uint64(i))
		})
	}
}

func crashRestart(t *testing.T, bin string, d sqldb.Dialect, seed uint64) {
	start := time.Now()
	dbURL := sqldbtest.URL(t, d)
	rnd := rand.New(rand.NewPCG(seed, 0x5eed))
	runID := strconv.FormatUint(rnd.Uint64()%1e9, 36)

	// An API key made with the binary.
	var out, errOut bytes.Buffer
	cmd := exec.Command(bin, "apikey", "create", "--name", "crash-test", "--database", dbURL)
	cmd.Env, cmd.Stdout, cmd.Stderr = childEnv(), &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("okpay apikey create: %v\n%s", err, errOut.String())
	}
	m := regexp.MustCompile(`(key_[0-9a-z]{13})`).FindStringSubmatch(errOut.String())
	if m == nil {
		t.Fatalf("okpay apikey create did not name the key on stderr: %q", errOut.String())
	}
	rg := &crashRig{
		t: t, bin: bin, dbURL: dbURL, secret: strings.TrimSpace(out.String()), principal: m[1], runID: runID,
		hc: &http.Client{
			Timeout:   10 * time.Second,
			Transport: &http.Transport{MaxIdleConns: 64, MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second},
		},
		clients: make([][]*crashOp, crashClients),
	}
	defer rg.hc.CloseIdleConnections()
	rg.srv = startServerProc(t, bin, dbURL)

	// Accounts: one external funding account (it may go negative) and the
	// wallets (no_overdraft), each funded through the API.
	c := rg.client()
	rg.accts = append(rg.accts, createAccount(t, c, "crash-bank", "external", false))
	for i := 1; i <= crashWallets; i++ {
		rg.accts = append(rg.accts, createAccount(t, c, "crash-user-"+strconv.Itoa(i), "user_wallet", true))
	}
	for i := 1; i <= crashWallets; i++ {
		op := &crashOp{key: fmt.Sprintf("crash-%s-fund-%d", runID, i), from: 0, to: i, amount: crashFund}
		op.body = transferBody(rg.accts[0], rg.accts[i], op.amount)
		r := c.mustDo(t, "POST", "/api/v1/transfers", op.key, op.body, http.StatusCreated)
		o, _ := definitive(r)
		op.acked = true
		rg.note(op, r, o)
		rg.clients[i%crashClients] = append(rg.clients[i%crashClients], op)
	}

	for cycle := 1; cycle <= crashCycles; cycle++ {
		rg.cycle(cycle, rnd)
		rg.report()
		if t.Failed() {
			break
		}
	}
	rg.srv.terminate(t)
	t.Logf("%s: %d kill/restart cycles in %v", d, crashCycles, time.Since(start).Round(time.Millisecond))
}

// cycle loads the server, SIGKILLs it, restarts it, settles every request
// ever sent and checks the ledger.
func (rg *crashRig) cycle(cycle int, rnd *rand.Rand) {
	t := rg.t
	delay := time.Duration(300+rnd.IntN(1201)) * time.Millisecond
	clientSeeds := make([]uint64, crashClients)
	for i := range clientSeeds {
		clientSeeds[i] = rnd.Uint64()
	}

	// Load: each client sends transfers between random wallets until the
	// server dies under it.
	var killed atomic.Bool
	var wg sync.WaitGroup
	c := rg.client()
	sent := make([]int, crashClients)
	for ci := range crashClients {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(clientSeeds[ci], uint64(ci)))
			for n := 0; !killed.Load(); n++ {
				from := 1 + r.IntN(crashWallets)
				to := 1 + r.IntN(crashWallets-1)
				if to >= from {
					to++
				}
				op := &crashOp{
					key:  fmt.Sprintf("crash-%s-c%d-cl%02d-%06d", rg.runID, cycle, ci, n),
					from: from, to: to, amount: 1 + r.Int64N(crashMaxAmt), cycle: cycle,
				}
				op.body = transferBody(rg.accts[from], rg.accts[to], op.amount)
				rg.clients[ci] = append(rg.clients[ci], op) // recorded before it is sent
				sent[ci]++
				resp, err := c.do(context.Background(), "POST", "/api/v1/transfers", op.key, op.body)
				if err != nil {
					return // the server is gone (or hangs): stop sending
				}
				if o, ok := definitive(resp); ok {
					// A dead process sends nothing: any answer read here was
					// sent before the kill, so a 2xx is an acknowledgement.
					op.acked = o.ok()
					rg.note(op, resp, o)
				}
			}
		})
	}
	// /readyz must stay 200 while the server is busy.
	var readyBad atomic.Int64
	var readyMax atomic.Int64
	readyURL := rg.srv.url + "/readyz"
	wg.Go(func() {
		rc := &http.Client{Timeout: 5 * time.Second}
		for !killed.Load() {
			t0 := time.Now()
			resp, err := rc.Get(readyURL)
			if err != nil {
				return // killed
			}
			resp.Body.Close()
			if d := int64(time.Since(t0)); d > readyMax.Load() {
				readyMax.Store(d)
			}
			if resp.StatusCode != http.StatusOK && !killed.Load() {
				readyBad.Add(1)
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
	time.Sleep(delay)
	rg.srv.kill() // SIGKILL, then wait for the process
	killed.Store(true)
	wg.Wait()
	rg.hc.CloseIdleConnections()
	total, acked := 0, 0
	for ci := range crashClients {
		total += sent[ci]
		for _, op := range rg.clients[ci] {
			if op.cycle == cycle && op.acked {
				acked++
			}
		}
	}
	t.Logf("cycle %d: SIGKILL after %v: %d requests sent, %d acknowledged with 2xx; /readyz under load: slowest %v, %d non-200",
		cycle, delay, total, acked, time.Duration(readyMax.Load()).Round(time.Millisecond), readyBad.Load())
	if n := readyBad.Load(); n > 0 {
		rg.fail("cycle %d: /readyz answered non-200 %d time(s) under load", cycle, n)
	}

	// Restart on the same database, on a new port.
	rg.srv = startServerProc(t, rg.bin, rg.dbURL)
	c = rg.client()

	// Every client retries every request it ever sent, with the same key
	// and body, until it gets a definitive answer.
	settleStart := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	var retries atomic.Int64
	for ci := range crashClients {
		wg.Go(func() {
			for _, op := range rg.clients[ci] {
				for {
					resp, err := c.do(ctx, "POST", "/api/v1/transfers", op.key, op.body)
					if err == nil {
						if o, ok := definitive(resp); ok {
							rg.note(op, resp, o)
							break
						}
					}
					if ctx.Err() != nil {
						rg.fail("key %s: no definitive answer before the deadline (last: %v %v)", op.key, resp, err)
						return
					}
					retries.Add(1)
					time.Sleep(20 * time.Millisecond)
				}
			}
		})
	}
	wg.Wait()
	var lost, committed, applied, refused int
	for ci := range crashClients {
		for _, op := range rg.clients[ci] {
			if op.cycle != cycle || op.acked || op.known == nil || op.replays > 0 && !op.firstReplayed {
				continue // acknowledged, or answered (4xx) before the kill
			}
			lost++
			switch {
			case op.firstReplayed && op.known.ok():
				committed++
			case op.known.ok():
				applied++
			default:
				refused++
			}
		}
	}
	t.Logf("cycle %d: settled every request in %v (%d extra attempts); of the %d unanswered at the kill, %d had been committed, %d were applied on retry, %d ended 4xx",
		cycle, time.Since(settleStart).Round(time.Millisecond), retries.Load(), lost, committed, applied, refused)
	rg.checkLedger(cycle)
}

// checkLedger compares the ledger with the test's model: the journal holds
// exactly one entry per key answered 2xx, the balances are the sum of those
// transfers, and "okpay ledger verify" passes.
func (rg *crashRig) checkLedger(cycle int) {
	t := rg.t
	debits := make([]int64, len(rg.accts))
	credits := make([]int64, len(rg.accts))
	wantEntries := map[int64]string{} // entry id → key
	refs := map[string]*crashOp{}
	var ok2xx, failed4xx, ackedTotal int
	for _, ops := range rg.clients {
		for _, op := range ops {
			if op.known == nil {
				continue // already reported
			}
			refs[idemReference(rg.principal, op.key)] = op
			if op.acked {
				ackedTotal++
				if !op.known.ok() {
					rg.fail("key %s was acknowledged but now answers %v", op.key, *op.known)
				}
				// Acknowledged before a kill, and retried after the restart
				// that followed: that retry (and every later one) replays it.
				if op.replays == 0 {
					rg.fail("key %s acknowledged before the kill was never replayed with Idempotent-Replayed: true", op.key)
				}
			}
			if !op.known.ok() {
				failed4xx++
				continue
			}
			ok2xx++
			id, okID := ids.Parse("ent", op.known.entry)
			if !okID {
				rg.fail("key %s: bad entry id %q", op.key, op.known.entry)
				continue
			}
			if other, dup := wantEntries[id]; dup {
				rg.fail("keys %s and %s both answer entry %s", other, op.key, op.known.entry)
			}
			wantEntries[id] = op.key
			debits[op.from] += op.amount
			credits[op.to] += op.amount
		}
	}

	// The journal, read directly from the database.
	ctx := context.Background()
	db, err := sqldb.Open(ctx, rg.dbURL, sqldb.Options{MaxConns: 2})
	if err != nil {
		t.Fatalf("open the database: %v", err)
	}
	defer db.Close()
	rows, err := db.Read.QueryContext(ctx, `SELECT id, reference FROM journal_entries`)
	if err != nil {
		t.Fatalf("read the journal: %v", err)
	}
	perRef := map[string]int{}
	entries := 0
	for rows.Next() {
		var id int64
		var ref string
		if err := rows.Scan(&id, &ref); err != nil {
			t.Fatal(err)
		}
		entries++
		perRef[ref]++
		op := refs[ref]
		switch {
		case !strings.HasPrefix(ref, "idem:"):
			rg.fail("entry %d has reference %q, not derived from an idempotency key", id, ref)
		case op == nil:
			rg.fail("entry %d (%s) belongs to no key the test sent", id, ref)
		case !op.known.ok():
			rg.fail("entry %d (%s) was applied for key %s, which answered %v", id, ref, op.key, *op.known)
		case wantEntries[id] != op.key:
			rg.fail("entry %d (%s) is key %s's, which answered entry %s", id, ref, op.key, op.known.entry)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for ref, n := range perRef {
		if n != 1 {
			rg.fail("reference %s has %d entries", ref, n)
		}
	}
	if entries != ok2xx {
		rg.fail("the journal holds %d entries; %d distinct keys ended 2xx", entries, ok2xx)
	}
	t.Logf("cycle %d: %d keys: %d ended 2xx (%d acknowledged before a kill), %d ended 4xx; %d journal entries",
		cycle, ok2xx+failed4xx, ok2xx, ackedTotal, failed4xx, entries)

	// Balances through the API.
	c := rg.client()
	for i, id := range rg.accts {
		a := getAccount(t, c, id)
		b := a.Balance
		if b.PostedDebits.Minor != debits[i] || b.PostedCredits.Minor != credits[i] || b.PendingDebits.Minor != 0 || b.PendingCredits.Minor != 0 {
			rg.fail("account %s: posted debits/credits %d/%d pending %d/%d, want %d/%d from the 2xx transfers",
				id, b.PostedDebits.Minor, b.PostedCredits.Minor, b.PendingDebits.Minor, b.PendingCredits.Minor, debits[i], credits[i])
		}
		if i > 0 && credits[i]-debits[i] < 0 {
			rg.fail("wallet %s overdrawn: %d", id, credits[i]-debits[i])
		}
	}

	// okpay ledger verify, with the binary.
	var out bytes.Buffer
	cmd := exec.Command(rg.bin, "ledger", "verify", "--database", rg.dbURL)
	cmd.Env, cmd.Stdout, cmd.Stderr = childEnv(), &out, &out
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		code := -1
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		}
		rg.fail("okpay ledger verify: exit %d (%v)\n%s", code, err, out.String())
	} else if !strings.Contains(out.String(), "OK") {
		rg.fail("okpay ledger verify printed %q", out.String())
	}
}

// report turns the collected failures into test errors.
func (rg *crashRig) report() {
	rg.mu.Lock()
	defer rg.mu.Unlock()
	if len(rg.failures) == 0 {
		return
	}
	slices.Sort(rg.failures)
	n := len(rg.failures)
	show := rg.failures[:min(n, 30)]
	rg.t.Errorf("%d failure(s); first %d:\n  %s\nserver stderr:\n%.4000s", n, len(show), strings.Join(show, "\n  "), rg.srv.stderr)
	rg.failures = nil
}
