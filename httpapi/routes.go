package httpapi

import (
	"net/http"
	"slices"
)

// Who may call a route.
const (
	// AuthPublic routes need no credentials.
	AuthPublic = "public"
	// AuthAPIKey routes need an API key (Authorization: Bearer okp_...).
	AuthAPIKey = "api_key"
	// AuthSession routes need a customer's full (AAL2) session: the
	// session token as a Bearer token or in the __Host-session cookie.
	AuthSession = "session"
	// AuthSessionAAL1 routes also accept a session still waiting for its
	// second factor (MFA-01: the second-factor step, logout and freeze).
	AuthSessionAAL1 = "session_aal1"
)

// How a route treats the Idempotency-Key header.
const (
	// IdemNone: the route takes no Idempotency-Key.
	IdemNone = ""
	// IdemRequired: the route moves money or changes security settings
	// (API.md); the key is required, and the response is stored and
	// replayed for a retry with the same key and body. A ledger route
	// stores it in the transaction of the money movement; a customer
	// route right after its effect (idempotency.go says why that is
	// enough there).
	IdemRequired = "required"
)

// Route is one route of the API.
type Route struct {
	Method, Pattern string
	Auth            string // AuthPublic, AuthAPIKey, AuthSession or AuthSessionAAL1
	Idempotency     string // IdemNone or IdemRequired
}

// ledgerRoutes are the ledger's routes, for API keys.
var ledgerRoutes = []Route{
	{"GET", "/api/openapi.json", AuthPublic, IdemNone},
	{"POST", "/api/v1/accounts", AuthAPIKey, IdemNone},
	{"GET", "/api/v1/accounts", AuthAPIKey, IdemNone},
	{"GET", "/api/v1/accounts/{id}", AuthAPIKey, IdemNone},
	{"GET", "/api/v1/accounts/{id}/entries", AuthAPIKey, IdemNone},
	{"POST", "/api/v1/transfers", AuthAPIKey, IdemRequired},
	{"POST", "/api/v1/entries", AuthAPIKey, IdemRequired},
	{"GET", "/api/v1/entries/{id}", AuthAPIKey, IdemNone},
	{"POST", "/api/v1/entries/{id}/reverse", AuthAPIKey, IdemRequired},
	{"POST", "/api/v1/holds", AuthAPIKey, IdemRequired},
	{"POST", "/api/v1/holds/{id}/post", AuthAPIKey, IdemRequired},
	{"POST", "/api/v1/holds/{id}/void", AuthAPIKey, IdemRequired},
}

// identityRoutes are the customer identity routes, served when the
// server has an identity service. Their handlers are in
// identity_handlers.go; Register wraps each as its Auth and Idempotency
// say, so this table is what is enforced. A customer whose password must
// change reaches only the session routes of passwordChangeAllowed
// (identity_codes.go; PWD-08).
var identityRoutes = []Route{
	{"POST", "/api/v1/signup", AuthPublic, IdemNone},
	{"POST", "/api/v1/signup/verify", AuthPublic, IdemNone},
	{"POST", "/api/v1/signup/resend", AuthPublic, IdemNone},
	{"POST", "/api/v1/sessions", AuthPublic, IdemNone},
	{"POST", "/api/v1/sessions/passkey", AuthPublic, IdemNone},
	{"POST", "/api/v1/sessions/passkey/finish", AuthPublic, IdemNone},
	{"POST", "/api/v1/sessions/refresh", AuthPublic, IdemNone},
	{"POST", "/api/v1/sessions/refresh-token", AuthSession, IdemNone},
	{"GET", "/api/v1/sessions", AuthSession, IdemNone},
	{"DELETE", "/api/v1/sessions/current", AuthSessionAAL1, IdemNone},
	{"POST", "/api/v1/sessions/{id}/revoke", AuthSession, IdemRequired},
	{"POST", "/api/v1/sessions/revoke-others", AuthSession, IdemRequired},
	{"POST", "/api/v1/mfa/sms", AuthSessionAAL1, IdemNone},
	{"POST", "/api/v1/mfa/verify", AuthSessionAAL1, IdemNone},
	{"POST", "/api/v1/mfa/passkey", AuthSessionAAL1, IdemNone},
	{"POST", "/api/v1/mfa/passkey/finish", AuthSessionAAL1, IdemNone},
	{"GET", "/api/v1/me", AuthSession, IdemNone},
	{"POST", "/api/v1/me/language", AuthSession, IdemNone},
	{"POST", "/api/v1/me/totp", AuthSession, IdemRequired},
	{"POST", "/api/v1/me/totp/confirm", AuthSession, IdemRequired},
	{"DELETE", "/api/v1/me/totp", AuthSession, IdemNone},
	{"POST", "/api/v1/me/recovery-codes", AuthSession, IdemRequired},
	{"POST", "/api/v1/me/password", AuthSession, IdemRequired},
	{"POST", "/api/v1/me/freeze", AuthSessionAAL1, IdemRequired},
	{"GET", "/api/v1/me/passkeys", AuthSession, IdemNone},
	{"POST", "/api/v1/me/passkeys", AuthSession, IdemNone},
	{"POST", "/api/v1/me/passkeys/finish", AuthSession, IdemRequired},
	{"POST", "/api/v1/me/passkeys/{id}/remove", AuthSession, IdemRequired},
	{"POST", "/api/v1/me/email", AuthSession, IdemRequired},
	{"POST", "/api/v1/me/email/confirm", AuthSession, IdemRequired},
	{"POST", "/api/v1/me/phone", AuthSession, IdemRequired},
	{"POST", "/api/v1/me/phone/confirm", AuthSession, IdemRequired},
	{"POST", "/api/v1/password/forgot", AuthPublic, IdemNone},
	{"POST", "/api/v1/password/reset/code", AuthPublic, IdemNone},
	{"POST", "/api/v1/password/reset/factor/send", AuthPublic, IdemNone},
	{"POST", "/api/v1/password/reset/factor", AuthPublic, IdemNone},
	{"POST", "/api/v1/password/reset", AuthPublic, IdemNone},
	{"POST", "/api/v1/freeze", AuthPublic, IdemNone},
}

// Routes is the API's whole surface, for the route-table and OpenAPI
// tests: every route, with who may call it.
var Routes = slices.Concat(ledgerRoutes, identityRoutes, methodRoutes, webhookRoutes, walletRoutes, withdrawalRoutes, exchangeRoutes, fxRateRoutes, deskRoutes, assistantRoutes, callbackRoutes, telephonyRoutes)

// routes lists the routes this server serves: the identity routes only
// when it has an identity service, the payment methods' and the
// provider's webhook when they are configured.
func (s *Server) routes() []Route {
	rs := ledgerRoutes
	if s.identity != nil {
		rs = slices.Concat(rs, identityRoutes)
		if s.methods != nil {
			rs = slices.Concat(rs, methodRoutes)
		}
		if s.wallet != nil {
			rs = slices.Concat(rs, walletRoutes)
			if s.withdrawals != nil {
				rs = slices.Concat(rs, withdrawalRoutes)
			}
			if s.exchange != nil {
				rs = slices.Concat(rs, exchangeRoutes)
			}
		}
	}
	if s.fxRates != nil && s.wallet != nil {
		rs = slices.Concat(rs, fxRateRoutes)
	}
	if s.identity != nil && s.desk != nil {
		rs = slices.Concat(rs, deskRoutes) // the support chat (desk_handlers.go)
		if s.assistant != nil {
			rs = slices.Concat(rs, assistantRoutes) // self-service (assistant_handlers.go)
		}
	}
	if s.webhook != nil {
		rs = slices.Concat(rs, webhookRoutes)
	}
	rs = slices.Concat(rs, s.phoneRoutes()) // callbacks and the telephony webhook (phone_handlers.go)
	return rs
}

// Register adds the API's routes to mux.
func (s *Server) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/openapi.json", s.handleOpenAPI)

	mux.HandleFunc("POST /api/v1/accounts", s.authenticated(s.handleCreateAccount))
	mux.HandleFunc("GET /api/v1/accounts", s.authenticated(s.handleListAccounts))
	mux.HandleFunc("GET /api/v1/accounts/{id}", s.authenticated(s.handleGetAccount))
	mux.HandleFunc("GET /api/v1/accounts/{id}/entries", s.authenticated(s.handleAccountEntries))

	mux.HandleFunc("POST /api/v1/transfers", s.authenticated(s.moneyHandler(s.scoped(s.buildTransfer), http.StatusCreated)))
	mux.HandleFunc("POST /api/v1/entries", s.authenticated(s.moneyHandler(s.scoped(s.buildEntry(false)), http.StatusCreated)))
	mux.HandleFunc("GET /api/v1/entries/{id}", s.authenticated(s.handleGetEntry))
	mux.HandleFunc("POST /api/v1/entries/{id}/reverse", s.authenticated(s.moneyHandler(s.scoped(s.buildReverse), http.StatusCreated)))
	mux.HandleFunc("POST /api/v1/holds", s.authenticated(s.moneyHandler(s.scoped(s.buildEntry(true)), http.StatusCreated)))
	mux.HandleFunc("POST /api/v1/holds/{id}/post", s.authenticated(s.moneyHandler(s.scoped(s.buildResolve(false)), http.StatusCreated)))
	mux.HandleFunc("POST /api/v1/holds/{id}/void", s.authenticated(s.moneyHandler(s.scoped(s.buildResolve(true)), http.StatusCreated)))

	if s.identity != nil {
		public, session := s.identityHandlers()
		for _, rt := range identityRoutes {
			key := rt.Method + " " + rt.Pattern
			switch rt.Auth {
			case AuthPublic:
				h := public[key]
				if h == nil {
					panic("httpapi: no handler for " + key)
				}
				if rt.Idempotency != IdemNone {
					panic("httpapi: a public route has no principal to scope an Idempotency-Key: " + key)
				}
				mux.HandleFunc(key, h)
			case AuthSession, AuthSessionAAL1:
				h := session[key]
				if h == nil {
					panic("httpapi: no handler for " + key)
				}
				switch rt.Idempotency {
				case IdemNone:
				case IdemRequired:
					h = s.securityKey(key, h)
				default:
					panic("httpapi: unexpected idempotency " + rt.Idempotency + " for " + key)
				}
				mux.HandleFunc(key, s.customer(rt.Auth == AuthSessionAAL1, s.passwordGate(key, h)))
			default:
				panic("httpapi: unexpected auth " + rt.Auth + " for " + key)
			}
		}
	}

	// Payment methods (methods_handlers.go) and the provider's webhook
	// (webhooks.go).
	if s.identity != nil && s.methods != nil {
		s.registerMethods(mux)
	}
	if s.webhook != nil {
		mux.HandleFunc("POST /api/v1/webhooks/psp/sandbox", s.handlePSPWebhook)
	}
	// The wallet (wallet_handlers.go).
	if s.identity != nil && s.wallet != nil {
		s.registerWallet(mux)
		// Withdrawals (withdraw_handlers.go).
		if s.withdrawals != nil {
			s.registerWithdrawals(mux)
		}
		// Exchange and remittance (exchange_handlers.go).
		if s.exchange != nil {
			s.registerExchange(mux)
		}
	}
	if s.fxRates != nil && s.wallet != nil {
		s.registerFXRates(mux)
	}
	// The support chat and its WebSocket (desk_handlers.go).
	if s.identity != nil && s.desk != nil {
		s.registerDesk(mux)
		if s.assistant != nil {
			s.registerAssistant(mux) // self-service (assistant_handlers.go)
		}
	}

	// The phone channel (phone_handlers.go).
	s.registerPhone(mux)

	// Anything else under /api/ is a JSON 404, never an HTML page.
	mux.HandleFunc("/api/", s.handleNotFound)
}
