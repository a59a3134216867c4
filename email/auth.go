package email

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/emersion/go-msgauth/authres"
	"github.com/emersion/go-msgauth/dkim"
	"golang.org/x/net/publicsuffix"
)

// AuthOptions configure Authenticate.
type AuthOptions struct {
	// LookupTXT returns the DNS TXT records of a name (the DKIM key
	// records). nil: the system resolver, each lookup bounded by
	// LookupTimeout.
	LookupTXT func(ctx context.Context, name string) ([]string, error)
	// LookupTimeout bounds one DNS lookup of the default resolver; 0: 3 s.
	LookupTimeout time.Duration
	// TrustedAuthServID is the authserv-id of the upstream MTA whose
	// Authentication-Results header is believed (RFC 8601). Only the
	// topmost such header counts, and only when it carries this id: the
	// trusted upstream adds it last and removes forged ones naming itself.
	// "": no upstream is trusted.
	TrustedAuthServID string
	// MaxSignatures caps the DKIM signatures checked; 0: 5.
	MaxSignatures int
}

// Auth methods: how a mail's sender was authenticated.
const (
	AuthDKIM     = "dkim"     // a DKIM signature we verified, aligned with From
	AuthUpstream = "upstream" // the trusted upstream's dmarc=pass or aligned dkim=pass
)

// AuthResult is what Authenticate found.
type AuthResult struct {
	// Authenticated is true when the From domain is vouched for: a DKIM
	// signature passed with a d= aligned (relaxed) to it, or the trusted
	// upstream reported dmarc=pass (or an aligned dkim=pass) for it.
	Authenticated bool
	// Method is AuthDKIM or AuthUpstream ("" when not authenticated), and
	// Domain the d= or header.from that authenticated it.
	Method, Domain string
	// Details lists what was checked, for the agents and the log
	// ("dkim=pass d=example.com", "dkim=fail d=x: body hash mismatch").
	Details []string
}

// String summarises the result in one line ("dkim:example.com", "none").
func (r AuthResult) String() string {
	if !r.Authenticated {
		return "none"
	}
	return r.Method + ":" + r.Domain
}

// Aligned reports whether domains a and b are aligned under DMARC's
// relaxed mode: the same organisational domain (public suffix + 1).
func Aligned(a, b string) bool {
	a, b = strings.ToLower(strings.TrimSuffix(a, ".")), strings.ToLower(strings.TrimSuffix(b, "."))
	if a == "" || b == "" {
		return false
	}
	if a == b {
		return true
	}
	oa, err := publicsuffix.EffectiveTLDPlusOne(a)
	if err != nil {
		return false
	}
	ob, err := publicsuffix.EffectiveTLDPlusOne(b)
	return err == nil && oa == ob
}

// Authenticate checks who vouches for the author (From) of raw: the DKIM
// signatures in it, and the trusted upstream's Authentication-Results.
// m is raw parsed (nil: Authenticate parses it). A mail with no From, or
// more than one, is never authenticated. It does not fail: an
// unverifiable mail is simply not authenticated.
func Authenticate(ctx context.Context, raw []byte, m *Message, opt AuthOptions) AuthResult {
	var res AuthResult
	if m == nil {
		var err error
		if m, err = Parse(raw, Limits{MaxBytes: int64(len(raw)) + 1}); err != nil {
			res.Details = append(res.Details, "unreadable: "+shortErr(err))
			return res
		}
	}
	if n := len(m.Values("From")); n != 1 {
		res.Details = append(res.Details, fmt.Sprintf("%d From headers", n))
		return res
	}
	from := m.From.Domain()
	if from == "" {
		res.Details = append(res.Details, "no From domain")
		return res
	}

	// The trusted upstream's verdict.
	if opt.TrustedAuthServID != "" {
		if ars := m.Values("Authentication-Results"); len(ars) > 0 {
			id, results, err := authres.Parse(ars[0])
			switch {
			case err != nil:
				res.Details = append(res.Details, "authentication-results unreadable: "+shortErr(err))
			case !strings.EqualFold(id, opt.TrustedAuthServID):
				res.Details = append(res.Details, fmt.Sprintf("authentication-results of %q ignored (not trusted)", truncate(id, 80)))
			default:
				for _, r := range results {
					switch r := r.(type) {
					case *authres.DMARCResult:
						res.Details = append(res.Details, fmt.Sprintf("upstream dmarc=%s header.from=%s", r.Value, truncate(r.From, 80)))
						if r.Value == authres.ResultPass && (r.From == "" || Aligned(r.From, from)) && !res.Authenticated {
							res.Authenticated, res.Method, res.Domain = true, AuthUpstream, from
						}
					case *authres.DKIMResult:
						res.Details = append(res.Details, fmt.Sprintf("upstream dkim=%s header.d=%s", r.Value, truncate(r.Domain, 80)))
						if r.Value == authres.ResultPass && Aligned(r.Domain, from) && !res.Authenticated {
							res.Authenticated, res.Method, res.Domain = true, AuthUpstream, strings.ToLower(r.Domain)
						}
					}
				}
			}
		}
	}

	// Our own DKIM verification.
	if len(m.Values("Dkim-Signature")) == 0 {
		if !res.Authenticated {
			res.Details = append(res.Details, "no DKIM signature")
		}
		return res
	}
	lookup := opt.LookupTXT
	if lookup == nil {
		timeout := opt.LookupTimeout
		if timeout <= 0 {
			timeout = 3 * time.Second
		}
		r := &net.Resolver{}
		lookup = func(ctx context.Context, name string) ([]string, error) {
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			return r.LookupTXT(ctx, name)
		}
	}
	max := opt.MaxSignatures
	if max <= 0 {
		max = 5
	}
	vs, err := dkim.VerifyWithOptions(bytes.NewReader(raw), &dkim.VerifyOptions{
		LookupTXT:        func(name string) ([]string, error) { return lookup(ctx, name) },
		MaxVerifications: max,
	})
	if err != nil && len(vs) == 0 {
		res.Details = append(res.Details, "dkim unreadable: "+shortErr(err))
		return res
	}
	for _, v := range vs {
		d := strings.ToLower(v.Domain)
		if v.Err != nil {
			res.Details = append(res.Details, fmt.Sprintf("dkim=fail d=%s: %s", truncate(d, 80), shortErr(v.Err)))
			continue
		}
		signsFrom := false
		for _, k := range v.HeaderKeys {
			if strings.EqualFold(k, "From") {
				signsFrom = true
			}
		}
		aligned := signsFrom && Aligned(d, from)
		res.Details = append(res.Details, fmt.Sprintf("dkim=pass d=%s aligned=%t", truncate(d, 80), aligned))
		if aligned && !res.Authenticated {
			res.Authenticated, res.Method, res.Domain = true, AuthDKIM, d
		}
	}
	return res
}
