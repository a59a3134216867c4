// Package httpapi is OKPay's JSON API under /api/v1: a thin layer that
// decodes requests, calls the domain services and renders their results or
// errors (RFC 9457 problem documents). routes.go lists every route.
package httpapi

import (
	"log/slog"
	"net/http"

	"github.com/okpay/okpay/apikey"
	"github.com/okpay/okpay/assistant"
	"github.com/okpay/okpay/clientip"
	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/fx"
	"github.com/okpay/okpay/help"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/ledger"
	"github.com/okpay/okpay/paymethod"
	"github.com/okpay/okpay/wallet"
	"github.com/prometheus/client_golang/prometheus"
)

// Config holds the API's dependencies.
type Config struct {
	Ledger     *ledger.Ledger
	Keys       *apikey.Store
	Catalog    *i18n.Catalog
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Identity serves the customer identity routes (sign-up, login,
	// sessions, second factors, recovery, freeze). Without it they are
	// not registered and answer 404.
	Identity *identity.Service
	// ClientIP tells the client's address for rate limits and audit
	// records (nil: the socket's; API-04).
	ClientIP *clientip.Resolver
	// Methods serves the customer's payment methods
	// (/api/v1/payment_methods, methods_handlers.go); they need Identity
	// too. Nil leaves them out.
	Methods *paymethod.Service
	// PSPWebhook receives the payment provider's webhooks
	// (webhooks.go); nil leaves the route out.
	PSPWebhook *PSPWebhook
	// Wallet serves the customer's wallets, transactions, transfers,
	// deposits and limits (wallet_handlers.go); they need Identity too.
	// Nil leaves them out.
	Wallet *wallet.Service
	// Withdrawals serves the customer's withdrawals (/api/v1/withdrawals,
	// withdraw_handlers.go); they need Identity and Wallet too. Nil leaves
	// them out.
	Withdrawals *wallet.Withdrawals
	// Exchange serves currency exchange and cross-border remittance
	// (exchange_handlers.go); they need Identity and Wallet too. FXRates
	// serves the public GET /api/v1/fx/rates (it needs Wallet, whose
	// currencies it lists). Nil leaves them out.
	Exchange *wallet.Exchanger
	FXRates  *fx.Service
	// Desk serves the customers' and visitors' support chat
	// (/api/v1/conversations, its WebSocket; desk_handlers.go); it needs
	// Identity too. Nil leaves it out. Call Close on shutdown.
	Desk *desk.Service
	// VisitorEmails lets chat visitors leave an address for the desk's
	// replies (PUT /api/v1/conversations/{id}/contact); nil: the route
	// answers 404.
	VisitorEmails *desk.VisitorEmails
	// Assistant serves the chat's self-service routes (help suggestions,
	// "This solved it", the assistant; assistant_handlers.go); it needs
	// Identity and Desk too. Nil leaves them out.
	Assistant *assistant.Service
	// Phone serves the customers' callback requests and the telephony
	// webhook (phone_handlers.go). Nil leaves them out.
	Phone *PhoneAPI
}

// Server serves the JSON API.
type Server struct {
	ledger  *ledger.Ledger
	keys    *apikey.Store
	catalog *i18n.Catalog
	log     *slog.Logger
	metrics *httpMetrics
	flight  *inFlight
	scope   scopeCache // which accounts the wallet keeps (ledger_scope.go)
	// identity is nil when the identity routes are off.
	identity *identity.Service
	clientIP *clientip.Resolver
	// methods and webhook are nil when their routes are off.
	methods *paymethod.Service
	webhook *PSPWebhook
	// wallet is nil when the wallet routes are off.
	wallet *wallet.Service
	// withdrawals is nil when the withdrawal routes are off.
	withdrawals *wallet.Withdrawals
	// exchange and fxRates are nil when their routes are off.
	exchange *wallet.Exchanger
	fxRates  *fx.Service
	// desk is nil when the chat routes are off (desk_handlers.go).
	desk *deskState
	// assistant is nil when the self-service routes are off
	// (assistant_handlers.go).
	assistant *assistant.Service
	// phone is nil when the phone routes are off (phone_handlers.go).
	phone *PhoneAPI
	// deflectKeys keys who said an article solved their question.
	deflectKeys *help.VoterKeys
}

// New returns the API server.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Server{
		ledger:   cfg.Ledger,
		keys:     cfg.Keys,
		catalog:  cfg.Catalog,
		log:      cfg.Logger,
		metrics:  newHTTPMetrics(cfg.Registerer),
		flight:   &inFlight{keys: map[string]struct{}{}},
		identity: cfg.Identity,
		clientIP: cfg.ClientIP,
		methods:  cfg.Methods,
		webhook:  cfg.PSPWebhook,
		wallet:   cfg.Wallet,

		withdrawals: cfg.Withdrawals,
		exchange:    cfg.Exchange,
		fxRates:     cfg.FXRates,
		desk:        newDeskState(cfg),
		assistant:   cfg.Assistant,
		phone:       cfg.Phone,
		deflectKeys: deflectKeys(cfg.Identity),
	}
}

// deflectKeys keys the deflection counts' visitors under the identity
// service's keyring (nil without it).
func deflectKeys(id *identity.Service) *help.VoterKeys {
	if id == nil {
		return nil
	}
	k, err := help.NewVoterKeys(id.Keys)
	if err != nil {
		return nil
	}
	return k
}

// Observe wraps a handler with request ids, panic recovery, access logs
// and metrics. The whole HTTP surface (API and pages) goes through it.
func (s *Server) Observe(h http.Handler) http.Handler { return s.observe(h) }

func langOf(r *http.Request) i18n.Lang { return i18n.Negotiate(r) }
