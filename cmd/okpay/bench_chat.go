package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// okpay bench chat: the support chat's WebSockets under load. The server
// is `okpay serve` itself, in this process, on a fresh SQLite database;
// the load generator is a child process of the same binary (the hidden
// `okpay bench chat-client`, bench_chat_client.go), so that the server's
// and the clients' sockets do not share one process's open-file limit
// and the memory measured is the server's alone.
//
// The client starts one visitor conversation per connection over HTTP,
// opens a chat WebSocket per visitor and subscribes it to its
// conversation. With every connection open and idle, the server measures
// its memory (Go heap and stacks after a GC, and RSS) against the figure
// before they opened: the difference divided by the connections is the
// memory per idle connection. Then, in rounds, the client sends messages
// over HTTP (POST /api/v1/conversations/{id}/messages, each visitor in
// turn, open loop at a fixed rate) and times each from just before its
// request to the arrival of its message event on the visitor's
// WebSocket, with all the other connections open.

type chatBenchConfig struct {
	conns            int
	rate             int
	duration, warmup time.Duration
	rounds           int
	settle           time.Duration
	senders          int
	out              string
	memProfile       string
	cpuProfile       string
}

// chatMem is a memory reading of the server process.
type chatMem struct {
	HeapInuse, StackInuse, Sys uint64
	// GoResident is what the Go runtime has mapped and not returned to
	// the OS (Sys - HeapReleased): the most of RSS it can account for.
	GoResident uint64
	// RSS is the process's resident set; RSSAnon its anonymous part
	// (the process's own memory: Go's heap and stacks, SQLite's
	// allocations), RSSFile its file-backed part (the executable; until
	// 2026-11-27 also the SQLite database, which sqldb mapped into every
	// connection).
	RSS, RSSAnon, RSSFile uint64
	Goroutines            int
}

func readChatMem() chatMem {
	// Each GC halves the stacks of goroutines using under a quarter of
	// theirs: a few GCs, as an idle server's periodic ones would, bring
	// the parked connections' stacks to their idle size.
	for range 4 {
		runtime.GC()
	}
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	st := procStatus()
	return chatMem{HeapInuse: ms.HeapInuse, StackInuse: ms.StackInuse, Sys: ms.Sys, GoResident: ms.Sys - ms.HeapReleased,
		RSS: st["VmRSS"], RSSAnon: st["RssAnon"], RSSFile: st["RssFile"] + st["RssShmem"], Goroutines: runtime.NumGoroutine()}
}

// procRSS returns this process's resident set size in bytes (Linux;
// 0 elsewhere).
func procRSS() uint64 { return procStatus()["VmRSS"] }

// procStatus returns the sizes in /proc/self/status (VmRSS, RssAnon,
// RssFile, ...) in bytes (Linux; empty elsewhere).
func procStatus() map[string]uint64 {
	m := map[string]uint64{}
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return m
	}
	for _, line := range strings.Split(string(b), "\n") {
		name, rest, ok := strings.Cut(line, ":")
		if f := strings.Fields(rest); ok && len(f) == 2 && f[1] == "kB" {
			kb, _ := strconv.ParseUint(f[0], 10, 64)
			m[name] = kb << 10
		}
	}
	return m
}

// raiseNoFile lifts the soft open-file limit to the hard one and returns
// the limit in force.
func raiseNoFile() uint64 {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0
	}
	if l.Cur < l.Max {
		l.Cur = l.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
		syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l)
	}
	return l.Cur
}

// chatRound is what one round measured (the client's report).
type chatRound struct {
	Sent      int     `json:"sent"`
	Received  int     `json:"received"`
	Errors    int     `json:"errors"`
	Lost      int     `json:"lost"`
	FirstErr  string  `json:"first_error,omitempty"`
	Seconds   float64 `json:"seconds"`
	P50       float64 `json:"p50_ms"`
	P90       float64 `json:"p90_ms"`
	P99       float64 `json:"p99_ms"`
	Max       float64 `json:"max_ms"`
	HTTPP99   float64 `json:"http_p99_ms"` // the POST's own answer time
	Open      int     `json:"open"`        // connections still open at the end
	Load1     float64 `json:"-"`
	ServerRSS uint64  `json:"-"`
}

func (r chatRound) rate() float64 {
	if r.Seconds <= 0 {
		return 0
	}
	return float64(r.Sent) / r.Seconds
}

func runBenchChat(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("bench chat", "Measure the support chat's WebSockets: many concurrent connections on one node (okpay serve in this process, SQLite in a temporary folder; the clients in a child process), the memory per idle connection, and the delivery latency of messages sent over HTTP to their WebSocket at a fixed rate, in rounds; writes a markdown report.", e)
	var c chatBenchConfig
	fs.IntVar(&c.conns, "conns", 10000, "concurrent WebSocket connections (one visitor conversation each)")
	fs.IntVar(&c.rate, "rate", 1000, "messages per second sent over HTTP during a round (open loop)")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "measured time per round")
	fs.DurationVar(&c.warmup, "warmup", 2*time.Second, "unmeasured sending before each round")
	fs.IntVar(&c.rounds, "rounds", 3, "rounds; the report quotes their medians")
	fs.DurationVar(&c.settle, "settle", 3*time.Second, "idle time with every connection open before the memory is read")
	fs.IntVar(&c.senders, "senders", 128, "HTTP connections the client sends messages on")
	fs.StringVar(&c.out, "out", "bench-results/chat.md", "file to write the results to (markdown; empty: none)")
	fs.StringVar(&c.memProfile, "memprofile", "", "if set, write the server's heap profile to this file once the connections are open and idle, and the one before they opened to FILE.before (pprof -diff_base); every allocation from the server's start on is recorded")
	fs.StringVar(&c.cpuProfile, "cpuprofile", "", "if set, write a CPU profile of the benchmark's process (the server; the clients run in another) from the conversation starts to the end of the last round to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if c.conns < 1 || c.rate < 1 || c.rounds < 1 || c.duration <= 0 || c.senders < 1 {
		return errors.New("need --conns ≥ 1, --rate ≥ 1, --rounds ≥ 1, --senders ≥ 1 and a positive --duration")
	}
	logf := func(format string, args ...any) { fmt.Fprintf(e.stdout, format+"\n", args...) }
	nofile := raiseNoFile()
	if c.memProfile != "" {
		runtime.MemProfileRate = 1 // exact per-connection figures, at some speed
	}
	work, err := os.MkdirTemp("", "okpay-bench-chat-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	started := time.Now().UTC()
	srv, err := startChatServer(ctx, "sqlite:"+filepath.Join(work, "okpay.db"))
	if err != nil {
		return err
	}
	defer srv.stop()
	logf("server on http://%s (open files allowed: %d); starting the client process", srv.addr, nofile)

	exe, err := os.Executable()
	if err != nil {
		return err
	}
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := exec.CommandContext(cctx, exe, "bench", "chat-client", "--addr", srv.addr, "--conns", strconv.Itoa(c.conns),
		"--rate", strconv.Itoa(c.rate), "--senders", strconv.Itoa(c.senders))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	clientErr := &chatLog{}
	cmd.Stderr = clientErr
	exited := make(chan struct{})
	if err := cmd.Start(); err != nil {
		return err
	}
	go func() { cmd.Wait(); close(exited) }()
	defer func() {
		stdin.Close()
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			cancel()
			<-exited
		}
	}()
	lines := bufio.NewScanner(stdout)
	lines.Buffer(make([]byte, 64<<10), 1<<20)
	// expect reads the client's next line, which must start with word.
	expect := func(word string) (string, error) {
		for lines.Scan() {
			l := lines.Text()
			if rest, ok := strings.CutPrefix(l, word+" "); ok {
				return rest, nil
			}
			if strings.HasPrefix(l, "log ") {
				logf("  client: %s", strings.TrimPrefix(l, "log "))
				continue
			}
			return "", fmt.Errorf("client: want %q, got %q", word, l)
		}
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
		}
		return "", fmt.Errorf("client ended before %q: %v (%v)\n%s\nserver log:\n%s", word, lines.Err(), cmd.ProcessState, clientErr.String(), srv.logs.String())
	}
	say := func(s string) error {
		_, err := io.WriteString(stdin, s+"\n")
		return err
	}

	if c.cpuProfile != "" {
		f, err := os.Create(c.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	t0 := time.Now()
	if _, err := expect("started"); err != nil {
		return err
	}
	logf("  %d visitor conversations started over HTTP in %s", c.conns, time.Since(t0).Round(100*time.Millisecond))
	time.Sleep(c.settle)
	before := readChatMem()
	if c.memProfile != "" {
		if err := writeHeapProfile(c.memProfile + ".before"); err != nil {
			return err
		}
	}
	t0 = time.Now()
	if err := say("connect"); err != nil {
		return err
	}
	rest, err := expect("connected")
	if err != nil {
		return err
	}
	open, _ := strconv.Atoi(rest)
	logf("  %d WebSockets open and subscribed in %s", open, time.Since(t0).Round(100*time.Millisecond))
	time.Sleep(c.settle)
	after := readChatMem()
	if c.memProfile != "" {
		if err := writeHeapProfile(c.memProfile); err != nil {
			return err
		}
	}
	if open == 0 {
		return errors.New("no connection opened")
	}
	perHeap := float64(int64(after.HeapInuse+after.StackInuse)-int64(before.HeapInuse+before.StackInuse)) / float64(open)
	perRSS := float64(int64(after.RSS)-int64(before.RSS)) / float64(open)
	perAnon := float64(int64(after.RSSAnon)-int64(before.RSSAnon)) / float64(open)
	logf("  memory per idle connection: %.1f KiB Go heap+stacks, %.1f KiB RSS, of which %.1f KiB anonymous (%d goroutines for %d connections)",
		perHeap/1024, perRSS/1024, perAnon/1024, after.Goroutines-before.Goroutines, open)
	var rounds []chatRound
	for i := 1; i <= c.rounds; i++ {
		if err := say(fmt.Sprintf("round %d %d", c.warmup.Milliseconds(), c.duration.Milliseconds())); err != nil {
			return err
		}
		load := loadAvg1()
		rest, err := expect("result")
		if err != nil {
			return err
		}
		var r chatRound
		if err := json.Unmarshal([]byte(rest), &r); err != nil {
			return fmt.Errorf("client result %q: %w", rest, err)
		}
		r.Load1, r.ServerRSS = load, procRSS()
		logf("round %d: %s", i, r.line())
		rounds = append(rounds, r)
	}
	if err := say("quit"); err != nil {
		return err
	}
	md := chatMarkdown(started, c, nofile, open, before, after, rounds)
	fmt.Fprintln(e.stdout)
	fmt.Fprint(e.stdout, md)
	if c.out != "" {
		if err := os.MkdirAll(filepath.Dir(c.out), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(c.out, []byte(md), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "\nwritten to %s\n", c.out)
	}
	return nil
}

func (r chatRound) line() string {
	s := fmt.Sprintf("%.0f messages/s sent, %d received, p50 %.2f ms p90 %.2f ms p99 %.2f ms max %.2f ms (HTTP answer p99 %.2f ms), errors %d, lost %d, %d connections open, load %.1f",
		r.rate(), r.Received, r.P50, r.P90, r.P99, r.Max, r.HTTPP99, r.Errors, r.Lost, r.Open, r.Load1)
	if r.FirstErr != "" {
		s += " (first error: " + r.FirstErr + ")"
	}
	return s
}

func loadAvg1() float64 {
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

func chatMarkdown(started time.Time, c chatBenchConfig, nofile uint64, open int, before, after chatMem, rounds []chatRound) string {
	var b strings.Builder
	cpu := ""
	if bs, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		if m := regexp.MustCompile(`(?m)^model name\s*:\s*(.+)$`).FindSubmatch(bs); m != nil {
			cpu = ", " + string(m[1])
		}
	}
	fmt.Fprintf(&b, "# okpay bench chat\n\n%s, %s/%s, %d CPUs%s, %s, open files allowed per process %d. `okpay serve` in the benchmark's process on a fresh SQLite database; the load generator in a child process (`okpay bench chat-client`); %d rounds of %s warm-up + %s measured, medians quoted.\n\n",
		started.Format(time.RFC3339), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), cpu, runtime.Version(), nofile, len(rounds), c.warmup, c.duration)
	fmt.Fprintf(&b, "The client starts %d visitor conversations over HTTP (`POST /api/v1/conversations`), then opens one chat WebSocket per visitor (`GET /api/v1/chat/ws` with its visitor cookie) and subscribes it to its conversation. **%d connections** were open and subscribed.\n\n", c.conns, open)
	heap := float64(int64(after.HeapInuse+after.StackInuse)-int64(before.HeapInuse+before.StackInuse)) / float64(max(open, 1))
	rss := float64(int64(after.RSS)-int64(before.RSS)) / float64(max(open, 1))
	fmt.Fprintf(&b, "## Memory per idle connection (server process)\n\nRead after a GC and %s idle, before and after the connections opened:\n\n", c.settle)
	b.WriteString("| | before | after | per connection |\n|---|---:|---:|---:|\n")
	fmt.Fprintf(&b, "| Go heap in use + stacks | %.1f MiB | %.1f MiB | **%.1f KiB** |\n", mib(before.HeapInuse+before.StackInuse), mib(after.HeapInuse+after.StackInuse), heap/1024)
	fmt.Fprintf(&b, "| of which stacks | %.1f MiB | %.1f MiB | %.1f KiB |\n", mib(before.StackInuse), mib(after.StackInuse), float64(int64(after.StackInuse)-int64(before.StackInuse))/float64(max(open, 1))/1024)
	per := func(a, b uint64) float64 { return float64(int64(b)-int64(a)) / float64(max(open, 1)) }
	anon := per(before.RSSAnon, after.RSSAnon)
	fmt.Fprintf(&b, "| Go runtime's mapped memory not returned to the OS | %.1f MiB | %.1f MiB | %.1f KiB |\n", mib(before.GoResident), mib(after.GoResident), per(before.GoResident, after.GoResident)/1024)
	fmt.Fprintf(&b, "| RSS | %.1f MiB | %.1f MiB | **%.1f KiB** |\n", mib(before.RSS), mib(after.RSS), rss/1024)
	fmt.Fprintf(&b, "| of which anonymous (the process's own memory) | %.1f MiB | %.1f MiB | **%.1f KiB** |\n", mib(before.RSSAnon), mib(after.RSSAnon), anon/1024)
	fmt.Fprintf(&b, "| of which file-backed (executable; SQLite database mapped by each reader connection) | %.1f MiB | %.1f MiB | %.1f KiB |\n", mib(before.RSSFile), mib(after.RSSFile), per(before.RSSFile, after.RSSFile)/1024)
	fmt.Fprintf(&b, "| goroutines | %d | %d | %.1f |\n\n", before.Goroutines, after.Goroutines, float64(after.Goroutines-before.Goroutines)/float64(max(open, 1)))
	fmt.Fprintf(&b, "## Delivery latency at %d messages/s with the %d connections open\n\n", c.rate, open)
	b.WriteString("Each message is `POST /api/v1/conversations/{id}/messages` by a visitor (an Idempotency-Key each; every visitor in turn, so each connection gets a message every conns÷rate seconds), sent open loop at the fixed rate over " + strconv.Itoa(c.senders) + " keep-alive HTTP connections; its latency runs from just before the request to the arrival of its `message` event on the visitor's WebSocket (the same process's clock). *HTTP answer p99* is the POST's own answer time. *Lost*: messages answered 201 whose event never arrived (5 s grace).\n\n")
	b.WriteString("| round | sent/s | received | p50 | p90 | p99 | max | HTTP answer p99 | errors | lost | open at end | load before | server RSS after |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	row := func(name string, r chatRound) {
		fmt.Fprintf(&b, "| %s | %.0f | %d | %.2f ms | %.2f ms | %.2f ms | %.2f ms | %.2f ms | %d | %d | %d | %.1f | %.0f MiB |\n",
			name, r.rate(), r.Received, r.P50, r.P90, r.P99, r.Max, r.HTTPP99, r.Errors, r.Lost, r.Open, r.Load1, mib(r.ServerRSS))
	}
	for i, r := range rounds {
		row(strconv.Itoa(i+1), r)
	}
	med := chatRound{
		Sent:      int(median(rounds, func(r chatRound) float64 { return r.rate() }) * 1000),
		Seconds:   1000,
		Received:  int(median(rounds, func(r chatRound) float64 { return float64(r.Received) })),
		P50:       median(rounds, func(r chatRound) float64 { return r.P50 }),
		P90:       median(rounds, func(r chatRound) float64 { return r.P90 }),
		P99:       median(rounds, func(r chatRound) float64 { return r.P99 }),
		Max:       median(rounds, func(r chatRound) float64 { return r.Max }),
		HTTPP99:   median(rounds, func(r chatRound) float64 { return r.HTTPP99 }),
		Errors:    int(median(rounds, func(r chatRound) float64 { return float64(r.Errors) })),
		Lost:      int(median(rounds, func(r chatRound) float64 { return float64(r.Lost) })),
		Open:      int(median(rounds, func(r chatRound) float64 { return float64(r.Open) })),
		Load1:     median(rounds, func(r chatRound) float64 { return r.Load1 }),
		ServerRSS: uint64(median(rounds, func(r chatRound) float64 { return float64(r.ServerRSS) })),
	}
	row("**median**", med)
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "missed"
	}
	fmt.Fprintf(&b, "\nTargets: p99 ≤ 25 ms — median p99 %.2f ms, **%s**; ≤ 20 KB per idle connection — %.1f KiB Go heap+stacks and %.1f KiB anonymous RSS, **%s**; %.1f KiB of all RSS, database file pages included, **%s**.\n\n",
		med.P99, verdict(med.P99 <= 25 && med.Received > 0), heap/1024, anon/1024, verdict(max(heap, anon) <= 20*1000), rss/1024, verdict(rss <= 20*1000))
	fmt.Fprintf(&b, "## How to rerun\n\n    go build -o okpay ./cmd/okpay && ./okpay bench chat                 # %d connections, %d messages/s, %d rounds; writes bench-results/chat.md\n    ./okpay bench chat --conns 50 --rate 50 --duration 1s --rounds 1 --out ''   # a quick look\n    ./okpay bench chat -h                                               # every flag\n\nThe machine's per-process open-file limit must allow the connections (`ulimit -n`; the benchmark raises its soft limit to the hard one, in the server and the client process).\n", c.conns, c.rate, c.rounds)
	return b.String()
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	err = pprof.WriteHeapProfile(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func mib(v uint64) float64 { return float64(v) / (1 << 20) }

// lockedWriter is a goroutine-safe writer.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
