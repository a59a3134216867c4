package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/apikey"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/ids"
	"github.com/prometheus/client_golang/prometheus"
)

type ctxKey int

const (
	keyRequestID ctxKey = iota
	keyPrincipal
	keySessionDevice // the device id a session was started on (meta)
)

func requestID(ctx context.Context) string {
	s, _ := ctx.Value(keyRequestID).(string)
	return s
}

// principalSlot is set in the context by observe and filled by
// authenticated, so the access log can name the caller without handlers
// modifying the request they were given.
type principalSlot struct{ id string }

// principal returns the authenticated caller ("key_..." or "usr_...").
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
		token, ok := bearer(h)
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
		r = setPrincipal(r, k.Principal())
		next(w, r)
	}
}

// setPrincipal names the caller for the access log.
func setPrincipal(r *http.Request, id string) *http.Request {
	slot, _ := r.Context().Value(keyPrincipal).(*principalSlot)
	if slot == nil { // not behind observe (tests)
		slot = &principalSlot{}
		r = r.WithContext(context.WithValue(r.Context(), keyPrincipal, slot))
	}
	slot.id = id
	return r
}

// Cookies the customer routes read (the web pages set them).
const (
	// SessionCookie carries the session token of the web app (SES-01).
	SessionCookie = "__Host-session"
	// deviceCookie carries the browser's random device id (RSK-01).
	deviceCookie = "__Host-did"
	// maxTokenLen bounds a token before the service sees it.
	maxTokenLen = 128
)

// caller is the customer behind a request of a session route.
type caller struct {
	token   string
	cookie  bool // the token came in the __Host-session cookie
	session *identity.Session
	user    *identity.User
	id      string // "usr_..."
}

// sessionHandler serves a request of an authenticated customer.
type sessionHandler func(w http.ResponseWriter, r *http.Request, c *caller)

// sessionToken finds the customer's session token: an Authorization
// Bearer token (apps and programs) or else the __Host-session cookie (the
// web app; http.CrossOriginProtection refuses cross-site writes). An API
// key (okp_...) is not a customer session.
func sessionToken(r *http.Request) (token string, cookie bool, err error) {
	if vals := r.Header.Values("Authorization"); len(vals) > 0 {
		t, ok := bearer(vals[0])
		if len(vals) > 1 || !ok || t == "" {
			return "", false, okpay.Errorf(okpay.EUnauthorized, "send the session token as Authorization: Bearer <token>")
		}
		if strings.HasPrefix(t, apikey.Prefix) {
			return "", false, okpay.Errorf(okpay.EUnauthorized, "an API key cannot act for a customer: sign in and send the session token")
		}
		return t, false, nil
	}
	if c, err := r.Cookie(SessionCookie); err == nil && c.Value != "" {
		return c.Value, true, nil
	}
	return "", false, okpay.Errorf(okpay.EUnauthorized, "sign in, then send the session token as Authorization: Bearer <token> or in the __Host-session cookie")
}

// customer requires a live customer session (SES-03: the service
// enforces the idle and absolute timeouts) and, unless aal1 is set, a
// full login: a session waiting for its second factor gets 401
// mfa_required (MFA-01).
func (s *Server) customer(aal1 bool, next sessionHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store") // SES-10
		token, cookie, err := sessionToken(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if len(token) > maxTokenLen {
			w.Header().Set("WWW-Authenticate", `Bearer realm="okpay", error="invalid_token"`)
			s.writeError(w, r, okpay.Errorf(okpay.EUnauthorized, "Sign in to continue."))
			return
		}
		ss, u, err := s.identity.Authenticate(r.Context(), token)
		if err != nil {
			if code := okpay.ErrorCode(err); code == okpay.EUnauthorized || code == identity.ESessionExpired {
				w.Header().Set("WWW-Authenticate", `Bearer realm="okpay", error="invalid_token"`)
				if cookie {
					clearSessionCookie(w)
				}
			}
			s.writeError(w, r, err)
			return
		}
		c := &caller{token: token, cookie: cookie, session: ss, user: u, id: ids.Format(identity.UserPrefix, u.ID)}
		r = setPrincipal(r, c.id)
		if ss.DeviceID != "" {
			// An app without the web app's device cookie is the device
			// its session was started on (RSK-01's new-device cap).
			r = r.WithContext(context.WithValue(r.Context(), keySessionDevice, ss.DeviceID))
		}
		if !aal1 {
			if err := identity.RequireAAL2(ss); err != nil {
				s.writeError(w, r, err)
				return
			}
		}
		next(w, r, c)
	}
}

// setSessionCookie gives the web app its session's new token (the token
// changes at the second-factor step, SES-02), with the attributes of
// SES-01.
func setSessionCookie(w http.ResponseWriter, token string) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: token, Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

func clearSessionCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1, Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

// meta describes the request for the identity service. The client
// address is the socket's, or the one a configured proxy forwarded
// (API-04: X-Forwarded-For is believed only from those).
func (s *Server) meta(r *http.Request) identity.Meta {
	ip := s.clientIP.IP(r)
	did := ""
	if c, err := r.Cookie(deviceCookie); err == nil && validDeviceID(c.Value) {
		did = c.Value
	} else if sd, _ := r.Context().Value(keySessionDevice).(string); sd != "" {
		did = sd
	}
	return identity.Meta{IP: ip, UserAgent: r.UserAgent(), DeviceID: did, RequestID: requestID(r.Context()), Lang: i18n.Negotiate(r)}
}

// validDeviceID accepts the web app's device ids: 16 bytes in base64url.
func validDeviceID(s string) bool {
	if len(s) != 22 {
		return false
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil && len(b) == 16
}

// CrossOrigin is the API's answer to a cross-site state-changing request
// (SES-09): 403 as a problem document, for http.CrossOriginProtection's
// deny handler.
func (s *Server) CrossOrigin(w http.ResponseWriter, r *http.Request) {
	s.writeError(w, r, okpay.Errorf(okpay.EForbidden, "cross-origin requests that change state are refused"))
}

// bearer returns the credentials of an Authorization header of the Bearer
// scheme, whose name is case-insensitive (RFC 9110, 11.1).
func bearer(h string) (string, bool) {
	if len(h) < 7 || !strings.EqualFold(h[:7], "Bearer ") {
		return "", false
	}
	return h[7:], true
}
