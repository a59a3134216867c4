package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/okpay/okpay"
	"github.com/prometheus/client_golang/prometheus"
)

type ctxKey int

const (
	keyRequestID ctxKey = iota
	keyPrincipal
)

func requestID(ctx context.Context) string {
	s, _ := ctx.Value(keyRequestID).(string)
	return s
}

// principalSlot is set in the context by observe and filled by
// authenticated, so the access log can name the caller without handlers
// modifying the request they were given.
type principalSlot struct{ id string }

// principal returns the authenticated caller ("key_...").
func principal(ctx context.Context) string {
	if p, _ := ctx.Value(keyPrincipal).(*principalSlot); p != nil {
		return p.id
	}
	return ""
}

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

func newRequestID() string {
	var b [10]byte
	rand.Read(b[:])
	return "req_" + strings.ToLower(b32.EncodeToString(b[:]))
}

// statusWriter remembers the status for logs and metrics.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

type httpMetrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "okpay_http_requests_total",
			Help: "HTTP requests by route pattern, method and status.",
		}, []string{"route", "method", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "okpay_http_request_seconds",
			Help:    "HTTP request latency by route pattern.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route"}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.latency)
	}
	return m
}

// observe wraps the whole handler: request id, panic recovery, access log
// and metrics.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rid := r.Header.Get("X-Request-Id")
		if !validRequestID(rid) {
			rid = newRequestID()
		}
		w.Header().Set("X-Request-Id", rid)
		ctx := context.WithValue(r.Context(), keyRequestID, rid)
		ctx = context.WithValue(ctx, keyPrincipal, &principalSlot{})
		r = r.WithContext(ctx)
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.LogAttrs(ctx, slog.LevelError, "sys_crash", slog.String("request_id", rid), slog.Any("panic", p), slog.String("stack", string(debug.Stack())))
				if sw.status == 0 {
					s.writeError(sw, r, okpay.Errorf(okpay.EInternal, "internal error"))
				}
			}
			route := r.Pattern
			if route == "" {
				route = "unmatched"
			}
			status := sw.status
			if status == 0 {
				status = http.StatusOK
			}
			d := time.Since(start)
			s.metrics.requests.WithLabelValues(route, r.Method, strconv.Itoa(status)).Inc()
			s.metrics.latency.WithLabelValues(route).Observe(d.Seconds())
			if s.log.Enabled(ctx, slog.LevelInfo) {
				s.log.LogAttrs(ctx, slog.LevelInfo, "http_request",
					slog.String("request_id", rid), slog.String("method", r.Method), slog.String("route", route),
					slog.Int("status", status), slog.Duration("duration", d), slog.String("principal", principal(r.Context())))
			}
		}()
		next.ServeHTTP(sw, r)
	})
}

func validRequestID(s string) bool {
	if len(s) < 8 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// authenticated requires an API key (Authorization: Bearer okp_...).
func (s *Server) authenticated(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Get("Authorization")
		token, ok := strings.CutPrefix(h, "Bearer ")
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="okpay"`)
			s.writeError(w, r, okpay.Errorf(okpay.EUnauthorized, "send an API key as Authorization: Bearer <key>"))
			return
		}
		k, err := s.keys.Authenticate(r.Context(), token)
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="okpay", error="invalid_token"`)
			s.writeError(w, r, err)
			return
		}
		slot, _ := r.Context().Value(keyPrincipal).(*principalSlot)
		if slot == nil { // not behind observe (tests)
			slot = &principalSlot{}
			r = r.WithContext(context.WithValue(r.Context(), keyPrincipal, slot))
		}
		slot.id = k.Principal()
		next(w, r)
	}
}

// CrossOrigin is the API's answer to a cross-site state-changing request
// (SES-09): 403 as a problem document, for http.CrossOriginProtection's
// deny handler.
func (s *Server) CrossOrigin(w http.ResponseWriter, r *http.Request) {
	s.writeError(w, r, okpay.Errorf(okpay.EForbidden, "cross-origin requests that change state are refused"))
}
