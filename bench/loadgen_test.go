package bench

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestHTTPLoadCountsAndLatency(t *testing.T) {
	var served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		if r.Header.Get("Idempotency-Key") == "" || r.Header.Get("Content-Type") != "application/json" {
			w.WriteHeader(400)
			return
		}
		w.WriteHeader(201)
		w.Write([]byte(`{"ok":true}`))
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	body := []byte(`{"x":1}`)
	r, err := HTTPLoad(context.Background(), addr, 4, 50*time.Millisecond, 300*time.Millisecond, 201, func(buf []byte, w, n int) []byte {
		return Post(buf, addr, "/t", []string{"Idempotency-Key: k"}, body)
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests < 10 || r.Errors != 0 || r.P50 <= 0 || r.P99 < r.P50 || r.Rate() <= 0 {
		t.Fatalf("result %+v", r)
	}
	if int64(r.Requests) > served.Load() {
		t.Fatalf("counted %d requests, the server saw %d", r.Requests, served.Load())
	}
	// A wrong status counts as an error.
	r, err = HTTPLoad(context.Background(), addr, 2, 0, 100*time.Millisecond, 201, func(buf []byte, w, n int) []byte {
		return Post(buf, addr, "/t", nil, body)
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests != 0 || r.Errors == 0 || r.FirstError != "status 400" {
		t.Fatalf("wrong-status run %+v", r)
	}
}

// Conn returns each answer's status and whole body, on one keep-alive
// connection, and reports a closed connection as an error.
func TestConnReturnsBodies(t *testing.T) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Header.Get("Authorization") != "Bearer t" {
			w.WriteHeader(401)
			return
		}
		out := fmt.Sprintf(`{"echo":%s,"pad":"%s"}`, b, strings.Repeat("x", 20000)) // longer than the reader's buffer
		w.Header().Set("Content-Length", strconv.Itoa(len(out)))
		w.WriteHeader(201)
		io.WriteString(w, out)
	}))
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	c, err := Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	var body []byte
	for i := 0; i < 3; i++ {
		req := Post(nil, addr, "/t", []string{"Authorization: Bearer t"}, []byte(`{"n":`+strconv.Itoa(i)+`}`))
		var status int
		status, body, err = c.Do(req, body)
		if err != nil {
			t.Fatal(err)
		}
		want := `{"echo":{"n":` + strconv.Itoa(i) + `},"pad":"` + strings.Repeat("x", 20000) + `"}`
		if status != 201 || string(body) != want {
			t.Fatalf("answer %d: %d, %d bytes %.40q", i, status, len(body), body)
		}
	}
	status, body, err := c.Do(Post(nil, addr, "/t", nil, []byte(`{}`)), body)
	if err != nil || status != 401 || len(body) != 0 {
		t.Fatalf("unauthorised: %d %q %v", status, body, err)
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d connections, want 1 (keep-alive)", n)
	}
	c.Close()
	if _, _, err := c.Do(Post(nil, addr, "/t", nil, []byte(`{}`)), nil); err == nil {
		t.Fatal("a closed connection answered")
	}
}

func TestPairNeverSelf(t *testing.T) {
	for i := 0; i < 10000; i++ {
		a, b := pair(7, i%3, i)
		if a == b || a < 0 || b < 0 || a >= 7 || b >= 7 {
			t.Fatalf("pair %d %d", a, b)
		}
	}
}
