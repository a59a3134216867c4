package httpapi

import (
	"net/http"
)

// Routes is the API's whole surface, for the route-table and OpenAPI
// tests: method and pattern of every route.
var Routes = []struct{ Method, Pattern string }{
	{"GET", "/api/openapi.json"},
	{"POST", "/api/v1/accounts"},
	{"GET", "/api/v1/accounts"},
	{"GET", "/api/v1/accounts/{id}"},
	{"GET", "/api/v1/accounts/{id}/entries"},
	{"POST", "/api/v1/transfers"},
	{"POST", "/api/v1/entries"},
	{"GET", "/api/v1/entries/{id}"},
	{"POST", "/api/v1/entries/{id}/reverse"},
	{"POST", "/api/v1/holds"},
	{"POST", "/api/v1/holds/{id}/post"},
	{"POST", "/api/v1/holds/{id}/void"},
}

// Register adds the API's routes to mux.
func (s *Server) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/openapi.json", s.handleOpenAPI)

	mux.HandleFunc("POST /api/v1/accounts", s.authenticated(s.handleCreateAccount))
	mux.HandleFunc("GET /api/v1/accounts", s.authenticated(s.handleListAccounts))
	mux.HandleFunc("GET /api/v1/accounts/{id}", s.authenticated(s.handleGetAccount))
	mux.HandleFunc("GET /api/v1/accounts/{id}/entries", s.authenticated(s.handleAccountEntries))

	mux.HandleFunc("POST /api/v1/transfers", s.authenticated(s.moneyHandler(s.buildTransfer, http.StatusCreated)))
	mux.HandleFunc("POST /api/v1/entries", s.authenticated(s.moneyHandler(s.buildEntry(false), http.StatusCreated)))
	mux.HandleFunc("GET /api/v1/entries/{id}", s.authenticated(s.handleGetEntry))
	mux.HandleFunc("POST /api/v1/entries/{id}/reverse", s.authenticated(s.moneyHandler(s.buildReverse, http.StatusCreated)))
	mux.HandleFunc("POST /api/v1/holds", s.authenticated(s.moneyHandler(s.buildEntry(true), http.StatusCreated)))
	mux.HandleFunc("POST /api/v1/holds/{id}/post", s.authenticated(s.moneyHandler(s.buildResolve(false), http.StatusCreated)))
	mux.HandleFunc("POST /api/v1/holds/{id}/void", s.authenticated(s.moneyHandler(s.buildResolve(true), http.StatusCreated)))

	// Anything else under /api/ is a JSON 404, never an HTML page.
	mux.HandleFunc("/api/", s.handleNotFound)
}
