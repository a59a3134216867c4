package bench

import (
	"context"
	"net/http"
	"net/http/httptest"
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

func TestPairNeverSelf(t *testing.T) {
	for i := 0; i < 10000; i++ {
		a, b := pair(7, i%3, i)
		if a == b || a < 0 || b < 0 || a >= 7 || b >= 7 {
			t.Fatalf("pair %d %d", a, b)
		}
	}
}
