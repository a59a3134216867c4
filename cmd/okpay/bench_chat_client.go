package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/okpay/okpay/httpapi"
)

// okpay bench chat-client (hidden): the load generator of okpay bench
// chat, run by it as a child process. It talks to its parent in lines:
//
//	→ started N                 N visitor conversations exist
//	← connect                   open and subscribe a WebSocket per visitor
//	→ connected N               N are open and subscribed
//	← round WARMUP_MS DUR_MS    send messages for a round
//	→ result {json}             what the round measured (chatRound)
//	← quit                      (or end of input)
//
// Lines starting "log " are progress notes.

type chatVisitor struct {
	ip, cookie, conv string
	ws               *websocket.Conn
	open             atomic.Bool
}

// chatSent is one message sent: when, and whether it counts.
type chatSent struct {
	at       time.Time
	measured bool
	answered bool // 201
	received bool
	latency  time.Duration
}

type chatClient struct {
	addr     string
	http     *http.Client
	visitors []*chatVisitor

	mu   sync.Mutex
	sent map[string]*chatSent // body → message
}

func runBenchChatClient(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("bench chat-client", "The load generator of okpay bench chat (run by it).", e)
	addr := fs.String("addr", "", "the server's host:port")
	conns := fs.Int("conns", 100, "connections")
	rate := fs.Int("rate", 100, "messages per second")
	senders := fs.Int("senders", 64, "HTTP connections to send on")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *addr == "" || *conns < 1 || *rate < 1 || *senders < 1 {
		return errors.New("--addr, --conns, --rate and --senders are required")
	}
	raiseNoFile()
	out := &lockedWriter{w: e.stdout}
	say := func(format string, a ...any) { fmt.Fprintf(out, format+"\n", a...) }
	tr := &http.Transport{MaxIdleConnsPerHost: *senders, MaxConnsPerHost: *senders, DialContext: (&net.Dialer{Timeout: 10 * time.Second}).DialContext}
	cl := &chatClient{addr: *addr, http: &http.Client{Transport: tr, Timeout: 30 * time.Second}, sent: map[string]*chatSent{}}
	cl.visitors = make([]*chatVisitor, *conns)
	for i := range cl.visitors {
		cl.visitors[i] = &chatVisitor{ip: fmt.Sprintf("10.%d.%d.%d", 100+i/65536, i/256%256, i%256)}
	}
	if err := p2pParallel(*conns, 32, func(i int) error { return cl.start(ctx, i) }); err != nil {
		return fmt.Errorf("start conversations: %w", err)
	}
	say("started %d", *conns)
	in := bufio.NewScanner(e.stdin)
	var readers sync.WaitGroup
	defer func() {
		for _, v := range cl.visitors {
			if v.ws != nil {
				v.ws.CloseNow()
			}
		}
		readers.Wait()
	}()
	for in.Scan() {
		f := strings.Fields(in.Text())
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "connect":
			var opened atomic.Int64
			err := p2pParallel(*conns, 64, func(i int) error {
				if err := cl.connect(ctx, i); err != nil {
					return err
				}
				// Read at once: the reader answers the server's pings.
				readers.Add(1)
				go func() {
					defer readers.Done()
					cl.read(cl.visitors[i])
				}()
				if n := opened.Add(1); n%2000 == 0 {
					say("log %d connections open", n)
				}
				return nil
			})
			if err != nil {
				return fmt.Errorf("connect: %w", err)
			}
			say("connected %d", opened.Load())
		case "round":
			if len(f) != 3 {
				return fmt.Errorf("bad command %q", in.Text())
			}
			warm, _ := strconv.Atoi(f[1])
			dur, _ := strconv.Atoi(f[2])
			r := cl.round(ctx, *rate, *senders, time.Duration(warm)*time.Millisecond, time.Duration(dur)*time.Millisecond)
			b, _ := json.Marshal(r)
			say("result %s", b)
		case "quit":
			return nil
		default:
			return fmt.Errorf("unknown command %q", in.Text())
		}
	}
	return in.Err()
}

func (cl *chatClient) request(ctx context.Context, v *chatVisitor, method, path, body, key string) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, "http://"+cl.addr+path, strings.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-For", v.ip)
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	if v.cookie != "" {
		req.Header.Set("Cookie", httpapi.VisitorCookie+"="+v.cookie)
	}
	res, err := cl.http.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res, b, err
}

// start begins visitor i's conversation, which gives it its cookie.
func (cl *chatClient) start(ctx context.Context, i int) error {
	v := cl.visitors[i]
	res, b, err := cl.request(ctx, v, "POST", "/api/v1/conversations", `{"category":"technical","subject":"bench","body":"hello","lang":"en"}`, "bench-start-"+strconv.Itoa(i))
	if err != nil {
		return err
	}
	if res.StatusCode != http.StatusCreated {
		return fmt.Errorf("start conversation: %s: %s", res.Status, b)
	}
	for _, ck := range res.Cookies() {
		if ck.Name == httpapi.VisitorCookie {
			v.cookie = ck.Value
		}
	}
	var cv struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(b, &cv); err != nil || v.cookie == "" || cv.ID == "" {
		return fmt.Errorf("start conversation: no visitor cookie or id in %s", b)
	}
	v.conv = cv.ID
	return nil
}

// connect opens visitor i's WebSocket and subscribes it to its
// conversation, reading until the "subscribed" frame.
func (cl *chatClient) connect(ctx context.Context, i int) error {
	v := cl.visitors[i]
	h := http.Header{}
	h.Set("Cookie", httpapi.VisitorCookie+"="+v.cookie)
	h.Set("X-Forwarded-For", v.ip)
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ws, res, err := websocket.Dial(dctx, "ws://"+cl.addr+httpapi.ChatSocketPath, &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		if res != nil {
			return fmt.Errorf("dial: %s: %w", res.Status, err)
		}
		return fmt.Errorf("dial: %w", err)
	}
	v.ws = ws
	if err := ws.Write(dctx, websocket.MessageText, []byte(`{"type":"subscribe","conversation":"`+v.conv+`","after":0}`)); err != nil {
		return err
	}
	for {
		_, data, err := ws.Read(dctx)
		if err != nil {
			return fmt.Errorf("subscribe: %w", err)
		}
		if bytes.Contains(data, []byte(`"type":"subscribed"`)) {
			break
		}
		if bytes.Contains(data, []byte(`"type":"error"`)) {
			return fmt.Errorf("subscribe: %s", data)
		}
	}
	v.open.Store(true)
	return nil
}

// read takes the frames of visitor v's socket, timing message events.
func (cl *chatClient) read(v *chatVisitor) {
	defer v.open.Store(false)
	var f struct {
		Type    string `json:"type"`
		Message struct {
			Body string `json:"body"`
		} `json:"message"`
	}
	for {
		_, data, err := v.ws.Read(context.Background())
		if err != nil {
			return
		}
		now := time.Now()
		if !bytes.Contains(data, []byte(`"type":"message"`)) {
			continue
		}
		f.Type, f.Message.Body = "", ""
		if json.Unmarshal(data, &f) != nil || f.Type != "message" {
			continue
		}
		cl.mu.Lock()
		if s := cl.sent[f.Message.Body]; s != nil && !s.received {
			s.received, s.latency = true, now.Sub(s.at)
		}
		cl.mu.Unlock()
	}
}

// round sends messages at rate for warm+dur, open loop, then waits for
// their events (5 s at most) and reports the measured part.
func (cl *chatClient) round(ctx context.Context, rate, senders int, warm, dur time.Duration) chatRound {
	cl.mu.Lock()
	clear(cl.sent)
	cl.mu.Unlock()
	type job struct {
		v        *chatVisitor
		n        int64
		measured bool
	}
	jobs := make(chan job, rate*2)
	var errs atomic.Int64
	var firstErr atomic.Value
	var httpLat []time.Duration
	var hmu sync.Mutex
	var wg sync.WaitGroup
	prefix := "b" + strconv.FormatInt(time.Now().UnixNano(), 36) + "-"
	for w := 0; w < senders; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				body := prefix + strconv.FormatInt(j.n, 10)
				s := &chatSent{measured: j.measured}
				cl.mu.Lock()
				cl.sent[body] = s
				s.at = time.Now()
				cl.mu.Unlock()
				res, b, err := cl.request(ctx, j.v, "POST", "/api/v1/conversations/"+j.v.conv+"/messages", `{"body":"`+body+`"}`, body)
				took := time.Since(s.at)
				if err == nil && res.StatusCode != http.StatusCreated {
					err = fmt.Errorf("%s: %s", res.Status, b)
				}
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				cl.mu.Lock()
				s.answered = true
				cl.mu.Unlock()
				if j.measured {
					hmu.Lock()
					httpLat = append(httpLat, took)
					hmu.Unlock()
				}
			}
		}()
	}
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	end := start.Add(warm + dur)
	var n int64
	var measuredStart, measuredEnd time.Time
	next := 0
	for {
		due := start.Add(time.Duration(n) * interval)
		if !due.Before(end) {
			break
		}
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
		measured := !due.Before(start.Add(warm))
		if measured && measuredStart.IsZero() {
			measuredStart = time.Now()
		}
		v := cl.visitors[next]
		next = (next + 1) % len(cl.visitors)
		if !v.open.Load() {
			n++
			continue
		}
		jobs <- job{v: v, n: n, measured: measured}
		n++
	}
	measuredEnd = time.Now()
	close(jobs)
	wg.Wait()
	// Wait for the last events.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		cl.mu.Lock()
		waiting := 0
		for _, s := range cl.sent {
			if s.answered && !s.received {
				waiting++
			}
		}
		cl.mu.Unlock()
		if waiting == 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	var r chatRound
	var lats []time.Duration
	cl.mu.Lock()
	for _, s := range cl.sent {
		if !s.measured {
			continue
		}
		r.Sent++
		switch {
		case s.received:
			r.Received++
			lats = append(lats, s.latency)
		case s.answered:
			r.Lost++
		}
	}
	cl.mu.Unlock()
	r.Errors = int(errs.Load())
	if v, ok := firstErr.Load().(string); ok {
		r.FirstErr = v
	}
	r.Seconds = measuredEnd.Sub(measuredStart).Seconds()
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	pct := func(ls []time.Duration, p float64) float64 {
		if len(ls) == 0 {
			return 0
		}
		return ms(ls[min(len(ls)-1, int(p*float64(len(ls))))])
	}
	slices.Sort(lats)
	r.P50, r.P90, r.P99 = pct(lats, 0.50), pct(lats, 0.90), pct(lats, 0.99)
	if len(lats) > 0 {
		r.Max = ms(lats[len(lats)-1])
	}
	slices.Sort(httpLat)
	r.HTTPP99 = pct(httpLat, 0.99)
	for _, v := range cl.visitors {
		if v.open.Load() {
			r.Open++
		}
	}
	return r
}
