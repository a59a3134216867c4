package sandbox_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/clock"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/psp"
	"github.com/okpay/okpay/psp/sandbox"
	"github.com/okpay/okpay/sqldb"
)

var testSecret = []byte("whsec_sandbox_test_0123456789abcdef")

var sharedCatalog *i18n.Catalog

func catalog(t *testing.T) *i18n.Catalog {
	t.Helper()
	if sharedCatalog == nil {
		c, err := i18n.New()
		if err != nil {
			t.Fatal(err)
		}
		sharedCatalog = c
	}
	return sharedCatalog
}

// receiver is a real HTTP webhook endpoint, as the wallet's would be: it
// verifies each signature and records the events it accepts.
type receiver struct {
	srv   *httptest.Server
	clock clock.Clock

	mu       sync.Mutex
	events   []psp.Event
	requests int
	rejected int // bad signatures
	failNext int // answer 500 to this many more requests
	failAll  bool
	changed  chan struct{}
}

func newReceiver(t *testing.T, clk clock.Clock) *receiver {
	t.Helper()
	r := &receiver{clock: clk, changed: make(chan struct{}, 1)}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, err := io.ReadAll(io.LimitReader(req.Body, psp.MaxEventSize+1))
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		defer func() {
			select {
			case r.changed <- struct{}{}:
			default:
			}
		}()
		r.requests++
		if r.failAll || r.failNext > 0 {
			if r.failNext > 0 {
				r.failNext--
			}
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		if req.Header.Get("Content-Type") != "application/json" {
			w.WriteHeader(http.StatusUnsupportedMediaType)
			return
		}
		if err := psp.Verify(req.Header.Get(psp.SignatureHeader), body, [][]byte{testSecret}, r.clock.Now(), 0); err != nil {
			r.rejected++
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		e, err := psp.ParseEvent(body)
		if err != nil {
			r.rejected++
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		r.events = append(r.events, e)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) URL() string { return r.srv.URL + "/webhooks/psp/sandbox" }

func (r *receiver) set(fn func(r *receiver)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fn(r)
}

func (r *receiver) snapshot() []psp.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]psp.Event(nil), r.events...)
}

// waitFor waits until ok holds for the received events.
func (r *receiver) waitFor(t *testing.T, what string, ok func([]psp.Event) bool) []psp.Event {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		ev := r.snapshot()
		if ok(ev) {
			return ev
		}
		select {
		case <-r.changed:
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			t.Fatalf("timed out waiting for %s; received %+v", what, ev)
		}
	}
}

// waitRef waits for an event of reference and returns it.
func (r *receiver) waitRef(t *testing.T, ref string) psp.Event {
	t.Helper()
	var out psp.Event
	r.waitFor(t, "an event for "+ref, func(ev []psp.Event) bool {
		for _, e := range ev {
			if e.Reference == ref {
				out = e
				return true
			}
		}
		return false
	})
	return out
}

func countRef(ev []psp.Event, ref string) int {
	n := 0
	for _, e := range ev {
		if e.Reference == ref {
			n++
		}
	}
	return n
}

// env is a sandbox over a test database, with a webhook receiver.
type env struct {
	t    *testing.T
	db   *sqldb.DB
	sb   *sandbox.Sandbox
	recv *receiver
	ctx  context.Context
	logs *syncBuffer
	ids  ids.Generator
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// fastOptions are the options of a test sandbox: short delays, fast
// retries.
func fastOptions(t *testing.T, db *sqldb.DB, clk clock.Clock, gen ids.Generator, hook string, logs io.Writer) sandbox.Options {
	return sandbox.Options{
		DB: db, Clock: clk, IDs: gen, Secret: testSecret, WebhookURL: hook,
		Logger:  slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		BaseURL: "https://okpay.test", Catalog: catalog(t),
		Delay: 5 * time.Millisecond, Poll: 10 * time.Millisecond, Lease: 2 * time.Second,
		Backoff: func(int) time.Duration { return 10 * time.Millisecond },
	}
}

func newEnv(t *testing.T, db *sqldb.DB, clk clock.Clock, mod func(*sandbox.Options)) *env {
	t.Helper()
	e := &env{t: t, db: db, ctx: context.Background(), logs: &syncBuffer{}, ids: &ids.Sequence{}}
	e.recv = newReceiver(t, clk)
	opts := fastOptions(t, db, clk, e.ids, e.recv.URL(), e.logs)
	if mod != nil {
		mod(&opts)
	}
	sb, err := sandbox.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	e.sb = sb
	t.Cleanup(sb.Close)
	return e
}

func (e *env) start() { e.sb.Start(e.ctx) }

func (e *env) tokenize(pan string) psp.Card {
	e.t.Helper()
	c, err := e.sb.Tokenize(e.ctx, pan, 12, time.Now().Year()+3, cvcFor(pan))
	if err != nil {
		e.t.Fatalf("Tokenize(%s): %v", pan, err)
	}
	return c
}

func cvcFor(pan string) string {
	if strings.HasPrefix(pan, "34") || strings.HasPrefix(pan, "37") {
		return "1234"
	}
	return "123"
}

// do sends a request to the sandbox's handler.
func (e *env) do(method, target, contentType, body string, hdr ...string) *httptest.ResponseRecorder {
	e.t.Helper()
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	e.sb.Handler().ServeHTTP(w, req)
	return w
}

func form(kv ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v.Encode()
}

func usd(minor int64) money.Amount { return money.New(minor, "USD") }

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := okpay.ErrorCode(err); got != code {
		t.Fatalf("error %v: code %q, want %q", err, got, code)
	}
}
