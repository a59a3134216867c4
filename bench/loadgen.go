// Package bench measures OKPay: a lean HTTP/1.1 load generator (keep-alive
// connections, one request in flight per connection, so concurrency N
// means N connections) and the ledger benchmark behind "okpay bench ledger".
package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Result summarises one load run.
type Result struct {
	Name        string
	Concurrency int
	Requests    int           // completed with the expected status
	Errors      int           // wrong status or transport failures
	Elapsed     time.Duration // measured window
	P50, P99    time.Duration
	FirstError  string
	// CPU is the busy CPU time of the whole machine in the measured
	// window (/proc/stat; 0 where unknown): the server, the load
	// generator, the kernel and anything else running.
	CPU time.Duration
}

// CPUPerRequest is CPU divided among the successful requests (0: unknown).
func (r Result) CPUPerRequest() time.Duration {
	if r.CPU <= 0 || r.Requests == 0 {
		return 0
	}
	return r.CPU / time.Duration(r.Requests)
}

// Rate is successful requests per second.
func (r Result) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

// Request builds the n-th request of worker w: the raw HTTP/1.1 request
// bytes appended to buf.
type Request func(buf []byte, w, n int) []byte

// HTTPLoad runs `conc` workers against addr for warm+dur, each on its own
// keep-alive connection, and measures the last dur. A response with a
// status other than want counts as an error.
func HTTPLoad(ctx context.Context, addr string, conc int, warm, dur time.Duration, want int, req Request) (Result, error) {
	res := Result{Concurrency: conc}
	type stats struct {
		lat    []time.Duration
		errs   int
		first  string
		failed error
	}
	all := make([]stats, conc)
	start := time.Now()
	measureFrom := start.Add(warm)
	stop := measureFrom.Add(dur)
	cpu := cpuOver(ctx, measureFrom, stop)
	var wg sync.WaitGroup
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			st := &all[w]
			st.lat = make([]time.Duration, 0, 4096)
			var c *conn
			defer func() {
				if c != nil {
					c.nc.Close()
				}
			}()
			buf := make([]byte, 0, 1024)
			for n := 0; ctx.Err() == nil; n++ {
				t0 := time.Now()
				if !t0.Before(stop) {
					return
				}
				if c == nil {
					var err error
					c, err = dial(addr)
					if err != nil {
						st.errs++
						if st.first == "" {
							st.first = err.Error()
						}
						time.Sleep(10 * time.Millisecond)
						continue
					}
				}
				buf = req(buf[:0], w, n)
				status, _, err := c.roundTrip(buf, nil)
				t1 := time.Now()
				if err != nil {
					c.nc.Close()
					c = nil
				}
				if t0.Before(measureFrom) {
					continue
				}
				if err != nil || status != want {
					st.errs++
					if st.first == "" {
						if err != nil {
							st.first = err.Error()
						} else {
							st.first = "status " + strconv.Itoa(status)
						}
					}
					continue
				}
				st.lat = append(st.lat, t1.Sub(t0))
			}
		}(w)
	}
	wg.Wait()
	res.CPU = cpu()
	res.Elapsed = dur
	if end := time.Since(measureFrom); end < dur {
		res.Elapsed = end
	}
	var lat []time.Duration
	for _, st := range all {
		lat = append(lat, st.lat...)
		res.Errors += st.errs
		if res.FirstError == "" {
			res.FirstError = st.first
		}
	}
	res.Requests = len(lat)
	res.P50, res.P99 = percentiles(lat)
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	return res, nil
}

func percentiles(lat []time.Duration) (p50, p99 time.Duration) {
	if len(lat) == 0 {
		return 0, 0
	}
	slices.Sort(lat)
	return lat[len(lat)*50/100], lat[min(len(lat)-1, len(lat)*99/100)]
}

type conn struct {
	nc net.Conn
	r  *bufio.Reader
}

var errProtocol = errors.New("malformed HTTP response")

// roundTrip writes a request and reads one response. The body is
// appended to body[:0] and returned when body is not nil, discarded
// otherwise.
func (c *conn) roundTrip(req, body []byte) (int, []byte, error) {
	c.nc.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.nc.Write(req); err != nil {
		return 0, body, err
	}
	line, err := c.r.ReadSlice('\n')
	if err != nil {
		return 0, body, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) {
		return 0, body, errProtocol
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, body, errProtocol
	}
	length := -1
	for {
		h, err := c.r.ReadSlice('\n')
		if err != nil {
			return 0, body, err
		}
		if len(h) <= 2 {
			break
		}
		if len(h) > 16 && (h[0] == 'C' || h[0] == 'c') && bytes.EqualFold(h[:15], []byte("Content-Length:")) {
			length, err = strconv.Atoi(string(bytes.TrimSpace(h[15:])))
			if err != nil {
				return 0, body, errProtocol
			}
		}
	}
	if length < 0 {
		return 0, body, fmt.Errorf("%w: no Content-Length", errProtocol)
	}
	if body == nil {
		_, err = c.r.Discard(length)
		return status, nil, err
	}
	body = slices.Grow(body[:0], length)[:length]
	_, err = io.ReadFull(c.r, body)
	return status, body, err
}

// Conn is one keep-alive connection of the load generator, for benchmarks
// that build their own requests (Post) and check each answer's body. It
// costs the machine a fraction of net/http's client: okpay bench p2p,
// which runs its load generator on the server's cores, spent 11% of its
// CPU in net/http's client before it used Conn.
type Conn struct{ c conn }

// Dial opens a connection to addr (host:port).
func Dial(addr string) (*Conn, error) {
	c, err := dial(addr)
	if err != nil {
		return nil, err
	}
	return &Conn{*c}, nil
}

// dial opens a keep-alive connection to addr with its reader.
func dial(addr string) (*conn, error) {
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	return &conn{nc: nc, r: bufio.NewReaderSize(nc, 16<<10)}, nil
}

// Do sends req, a whole HTTP/1.1 request (Post), and returns the answer's
// status and body, the body appended to body[:0]. After an error the
// connection is unusable: close it.
func (c *Conn) Do(req, body []byte) (int, []byte, error) {
	if body == nil {
		body = []byte{}
	}
	return c.c.roundTrip(req, body)
}

// Close closes the connection.
func (c *Conn) Close() error { return c.c.nc.Close() }

// Post formats a raw HTTP/1.1 POST request.
func Post(buf []byte, host, path string, headers []string, body []byte) []byte {
	buf = append(buf, "POST "...)
	buf = append(buf, path...)
	buf = append(buf, " HTTP/1.1\r\nHost: "...)
	buf = append(buf, host...)
	buf = append(buf, "\r\nContent-Type: application/json\r\nContent-Length: "...)
	buf = strconv.AppendInt(buf, int64(len(body)), 10)
	buf = append(buf, "\r\n"...)
	for _, h := range headers {
		buf = append(buf, h...)
		buf = append(buf, "\r\n"...)
	}
	buf = append(buf, "\r\n"...)
	return append(buf, body...)
}
