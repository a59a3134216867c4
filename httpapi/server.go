// Package httpapi is OKPay's JSON API under /api/v1: a thin layer that
// decodes requests, calls the domain services and renders their results or
// errors (RFC 9457 problem documents). routes.go lists every route.
package httpapi

import (
	"log/slog"
	"net/http"

	"github.com/okpay/okpay/apikey"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/ledger"
	"github.com/prometheus/client_golang/prometheus"
)

// Config holds the API's dependencies.
type Config struct {
	Ledger     *ledger.Ledger
	Keys       *apikey.Store
	Catalog    *i18n.Catalog
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Server serves the JSON API.
type Server struct {
	ledger  *ledger.Ledger
	keys    *apikey.Store
	catalog *i18n.Catalog
	log     *slog.Logger
	metrics *httpMetrics
	flight  *inFlight
}

// New returns the API server.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Server{
		ledger:  cfg.Ledger,
		keys:    cfg.Keys,
		catalog: cfg.Catalog,
		log:     cfg.Logger,
		metrics: newHTTPMetrics(cfg.Registerer),
		flight:  &inFlight{keys: map[string]struct{}{}},
	}
}

// Observe wraps a handler with request ids, panic recovery, access logs
// and metrics. The whole HTTP surface (API and pages) goes through it.
func (s *Server) Observe(h http.Handler) http.Handler { return s.observe(h) }

func langOf(r *http.Request) i18n.Lang { return i18n.Negotiate(r) }
