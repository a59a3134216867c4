package httpapi

import "net/http"

// registerCustomerRoutes adds a customer domain's routes to mux: each
// route of routes is served by its handler in plain (IdemNone) or in money
// (IdemRequired, wrapped by walletKey), behind the customer session and
// the password gate. what names the domain in the panics of a route table
// that does not match its handlers.
func (s *Server) registerCustomerRoutes(mux *http.ServeMux, what string, routes []Route,
	plain map[string]sessionHandler, money map[string]moneyRouteHandler) {
	for _, rt := range routes {
		key := rt.Method + " " + rt.Pattern
		if rt.Auth != AuthSession {
			panic("httpapi: bad " + what + " route " + key)
		}
		var h sessionHandler
		switch rt.Idempotency {
		case IdemNone:
			h = plain[key]
		case IdemRequired:
			if m := money[key]; m != nil {
				h = s.walletKey(m)
			}
		}
		if h == nil {
			panic("httpapi: no handler for " + key)
		}
		mux.HandleFunc(key, s.customer(false, s.passwordGate(key, h)))
	}
}
