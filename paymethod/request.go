package paymethod

import "context"

// Request describes the customer's request behind a change to a method:
// the notices of an addition or a removal name the device and the address
// it came from (NOT-04). The HTTP layers put it in the context with
// WithRequest; a Notifier reads it with RequestFrom. Changes that no
// customer request causes (a provider's webhook, an expiry) carry none.
type Request struct {
	IP        string
	UserAgent string
}

type requestKey struct{}

// WithRequest returns ctx carrying r.
func WithRequest(ctx context.Context, r Request) context.Context {
	return context.WithValue(ctx, requestKey{}, r)
}

// RequestFrom returns the request ctx carries, if any.
func RequestFrom(ctx context.Context) (Request, bool) {
	r, ok := ctx.Value(requestKey{}).(Request)
	return r, ok
}
