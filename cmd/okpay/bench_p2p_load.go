package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/okpay/okpay/bench"
	"github.com/okpay/okpay/identity/otp"
)

// ---------------------------------------------------------------------------
// The set-up's client (sign-in): net/http with a transport keeping one
// idle connection per client. The measured rounds use bench.Conn instead
// (p2pRun): net/http's client was 11% of a round's CPU on these two cores.

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
	return p2pParallel(len(users), 16, func(i int) error {
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
func p2pRun(ctx context.Context, c p2pBenchConfig, srv *p2pServer, users []*p2pUser, work, profileDir string) (p2pRound, error) {
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
	const path = "/api/v1/p2p_transfers"
	run := strconv.FormatInt(time.Now().UnixNano(), 36) + "-"
	conc := c.concurrency
	lat := make([][]time.Duration, conc)
	errs := make([]int, conc)
	firsts := make([]string, conc)
	start := time.Now()
	measureFrom := start.Add(c.warmup)
	stop := measureFrom.Add(c.duration)
	var m0, busy0, batches0, reqs0 float64
	var o0 time.Duration
	// The CPU and ledger counters are read when the measured window opens,
	// whether or not a request starts then (a slow warm-up request may
	// still be in flight).
	var cpuOnce sync.Once
	snap := func() {
		cpuOnce.Do(func() {
			m0, o0 = cpuTicks()
			busy0, batches0, reqs0 = srv.ledgerStats(ctx)
		})
	}
	opened := time.AfterFunc(c.warmup, snap)
	defer opened.Stop()
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
		// An execution trace of one second in the middle of the measured
		// window (go tool trace): who waits for whom, per goroutine.
		tf, err := os.Create(filepath.Join(profileDir, "trace.out"))
		if err != nil {
			return r, err
		}
		defer tf.Close()
		go func() {
			time.Sleep(time.Until(measureFrom.Add(c.duration / 2)))
			if trace.Start(tf) == nil {
				time.Sleep(time.Second)
				trace.Stop()
			}
		}()
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
			// The lean load generator of okpay bench ledger (bench.Conn):
			// raw HTTP/1.1 requests on one keep-alive connection.
			hdr := make([][]string, len(mine))
			for i, u := range mine {
				hdr[i] = []string{"Authorization: Bearer " + u.token, "X-Forwarded-For: " + u.ip, ""}
			}
			var cn *bench.Conn
			defer func() {
				if cn != nil {
					cn.Close()
				}
			}()
			body := make([]byte, 0, 256)
			req := make([]byte, 0, 1024)
			rbuf := make([]byte, 0, 2048)
			lat[w] = make([]time.Duration, 0, 8192)
			for n := 0; ctx.Err() == nil; n++ {
				t0 := time.Now()
				if !t0.Before(stop) {
					return
				}
				if !t0.Before(measureFrom) {
					snap()
				}
				k := n % len(mine)
				u := mine[k]
				// 0.01 to 99.99 USD: always below the step-up threshold.
				minor := 1 + (n*7919+w*104729)%9999
				body = append(body[:0], u.body...)
				body = strconv.AppendInt(body, int64(minor/100), 10)
				body = append(body, '.', byte('0'+minor%100/10), byte('0'+minor%10), '"', '}', '}')
				hdr[k][2] = "Idempotency-Key: " + run + strconv.Itoa(w) + "-" + strconv.Itoa(n)
				req = bench.Post(req[:0], srv.addr, path, hdr[k], body)
				status := 0
				var err error
				if cn == nil {
					cn, err = bench.Dial(srv.addr)
				}
				if err == nil {
					status, rbuf, err = cn.Do(req, rbuf)
					if err != nil {
						cn.Close()
						cn = nil
					}
				}
				t1 := time.Now()
				if t0.Before(measureFrom) {
					continue
				}
				if err != nil || status != http.StatusCreated || !bytes.Contains(rbuf, []byte(`"status":"completed"`)) {
					errs[w]++
					if firsts[w] == "" {
						if err != nil {
							firsts[w] = err.Error()
						} else {
							firsts[w] = strconv.Itoa(status) + " " + string(rbuf[:min(len(rbuf), 300)])
						}
					}
					continue
				}
				lat[w] = append(lat[w], t1.Sub(t0))
			}
		})
	}
	wg.Wait()
	snap() // a round that ended before its window opened
	end := time.Now()
	m1, o1 := cpuTicks()
	busy1, batches1, reqs1 := srv.ledgerStats(ctx)
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
	r.WriterBusy = (busy1 - busy0) / secs
	if batches1 > batches0 {
		r.MeanBatch = (reqs1 - reqs0) / (batches1 - batches0)
	}
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
		var pending int64
		// Counted in the index of due messages (no scan of sent ones), and
		// those still in bundles.
		err := s.outbox.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM notification_outbox WHERE status = 'pending') +
			(SELECT COALESCE(SUM(messages), 0) FROM notification_bundles)`).Scan(&pending)
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
