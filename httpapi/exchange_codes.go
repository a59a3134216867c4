package httpapi

import (
	"net/http"

	"github.com/okpay/okpay/fx"
)

// The HTTP statuses of the exchange codes (package fx), joined to statusOf
// (problem.go) when the package loads. wallet_handlers.go lists the same
// codes by their text, from before the exchange routes existed; this file
// names them by package fx's constants, so a renamed code cannot slip
// through the table.
//
//	fx_rate_unavailable  503: no rate links the two currencies (yet)
//	fx_rate_stale        503: every rate is too old; exchanges pause until a fresh one
//	fx_amount_too_small  422: the other side rounds to nothing
//	fx_quote_expired     409: ask for a new quote
//	fx_quote_used        409: the quote was executed already
func init() {
	for code, status := range map[string]int{
		fx.ERateUnavailable: http.StatusServiceUnavailable,
		fx.ERateStale:       http.StatusServiceUnavailable,
		fx.EAmountTooSmall:  http.StatusUnprocessableEntity,
		fx.EQuoteExpired:    http.StatusConflict,
		fx.EQuoteUsed:       http.StatusConflict,
		fx.EAmountOverflow:  http.StatusUnprocessableEntity,
	} {
		if old, ok := statusOf[code]; ok && old != status {
			panic("httpapi: " + code + " has two statuses")
		}
		statusOf[code] = status
	}
}
