package web

import "net/http"

// ContentSecurityPolicy is the policy SecurityHeaders sends: everything from
// this origin only, no inline scripts or styles, no framing, forms posting
// only here.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; " +
	"img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; " +
	"form-action 'self'; object-src 'none'"

// SecurityHeaders sets OKPay's browser security headers on every response:
// the CSP above, nosniff, no framing, same-origin referrers and opener, no
// camera, microphone or geolocation, and HSTS when the request came over
// TLS. Wrap the whole mux with it.
func SecurityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", ContentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		if r.TLS != nil {
			h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		}
		next.ServeHTTP(w, r)
	})
}

// CrossOrigin rejects state-changing requests (anything but GET, HEAD and
// OPTIONS) sent by another site, with 403, using the standard library's
// http.CrossOriginProtection: a Sec-Fetch-Site header other than same-origin
// or none, or, without it, an Origin whose host differs from the request's.
// Requests without either header (non-browser clients) pass. Wrap the whole
// mux with it.
func CrossOrigin(next http.Handler) http.Handler {
	return http.NewCrossOriginProtection().Handler(next)
}
