package sandbox_test

import (
	"strings"
	"testing"

	"github.com/okpay/okpay/clock"
	"github.com/okpay/okpay/psp"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

// CRD-06: Card tells each test card's funding type, issuer country and
// whether it can receive payouts; the prepaid card cannot.
func TestCRD06_CardFactsAndPayoutEligibility(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db, clock.System{}, nil)
		for _, c := range []struct {
			number, funding, country string
			payouts                  bool
		}{
			{"4242424242424242", "debit", "US", true},
			{"4000000000000077", "debit", "US", true}, // accepted, then the payout fails
			{"5105105105105100", "prepaid", "US", false},
			{"378282246310005", "credit", "US", true},
			{"6200000000000005", "debit", "CN", true},
			{"3566002020360505", "credit", "JP", true},
		} {
			tok := e.tokenize(c.number)
			if tok.Funding != c.funding || tok.IssuerCountry != c.country || tok.PayoutEligible != c.payouts {
				t.Errorf("Tokenize(%s) = %+v, want funding %s, country %s, payouts %v", c.number, tok, c.funding, c.country, c.payouts)
			}
			got, err := e.sb.Card(e.ctx, tok.Token)
			if err != nil {
				t.Fatal(err)
			}
			if got != tok {
				t.Errorf("Card(%s) = %+v, want %+v", c.number, got, tok)
			}
		}
	})
}

// CRD-08: a detached token can no longer be charged nor paid out to; the
// detach is idempotent and the sandbox page marks the token.
func TestCRD08_Detach(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db, clock.System{}, nil)
		tok := e.tokenize("4242424242424242")
		other := e.tokenize("4242424242424242")
		if _, err := e.sb.Charge(e.ctx, psp.ChargeRequest{Reference: "dep_before", Token: tok.Token, Amount: usd(100)}); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if err := e.sb.Detach(e.ctx, tok.Token); err != nil {
				t.Fatalf("Detach: %v", err)
			}
		}
		_, err := e.sb.Card(e.ctx, tok.Token)
		wantCode(t, err, psp.ETokenNotFound)
		_, err = e.sb.Charge(e.ctx, psp.ChargeRequest{Reference: "dep_after", Token: tok.Token, Amount: usd(100)})
		wantCode(t, err, psp.ETokenNotFound)
		_, err = e.sb.Payout(e.ctx, psp.PayoutRequest{Reference: "wd_after", Destination: psp.Destination{Kind: psp.DestCard, Token: tok.Token}, Amount: usd(100)})
		wantCode(t, err, psp.ETokenNotFound)
		wantCode(t, e.sb.Detach(e.ctx, "tok_aaaaaaaaaaaaaaaaaaaaaaaaaa"), psp.ETokenNotFound)
		wantCode(t, e.sb.Detach(e.ctx, "not a token"), psp.ETokenNotFound)

		// Another token of the same card is untouched.
		if _, err := e.sb.Card(e.ctx, other.Token); err != nil {
			t.Fatalf("the other token: %v", err)
		}
		w := e.do("GET", "/sandbox/", "", "")
		if n := strings.Count(w.Body.String(), `data-testid="token-detached"`); n != 1 {
			t.Errorf("the sandbox page marks %d tokens detached, want 1", n)
		}
	})
}
