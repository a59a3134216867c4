package sandbox_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/clock"
	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/psp"
	"github.com/okpay/okpay/psp/sandbox"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

// TestCRD04_ZeroAuthUnsupportedAuthorizeAndVoid: the documented card
// refuses a zero-amount verification at once (no webhook); a 1-unit
// authorisation-only charge succeeds at once, is voided (idempotently),
// never settles into a capture, and the page shows it with its void.
func TestCRD04_ZeroAuthUnsupportedAuthorizeAndVoid(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db, clock.System{}, nil)
		e.start()
		card := e.tokenize("4000002500000003")
		if card.Currency != "EUR" || card.IssuerCountry != "FR" {
			t.Fatalf("card %+v", card)
		}
		zero, err := e.sb.Charge(e.ctx, psp.ChargeRequest{Reference: "pmv_zero", Token: card.Token, Amount: money.New(0, "EUR")})
		if err != nil || zero.Status != psp.StatusFailed || zero.FailureCode != psp.FailZeroAuthUnsupported {
			t.Fatalf("zero-amount: %+v, %v", zero, err)
		}
		// Deposits (captures) of the card work as usual.
		if ch, err := e.sb.Charge(e.ctx, psp.ChargeRequest{Reference: "dep_1", Token: card.Token, Amount: money.New(500, "EUR")}); err != nil || ch.Status != psp.StatusPending {
			t.Fatalf("deposit: %+v, %v", ch, err)
		}
		auth, err := e.sb.Charge(e.ctx, psp.ChargeRequest{Reference: "pmv_zero.a1", Token: card.Token, Amount: money.New(100, "EUR"), AuthorizeOnly: true})
		if err != nil || auth.Status != psp.StatusSucceeded || auth.Voided {
			t.Fatalf("auth: %+v, %v", auth, err)
		}
		// The same reference as a capture is another operation.
		_, err = e.sb.Charge(e.ctx, psp.ChargeRequest{Reference: "pmv_zero.a1", Token: card.Token, Amount: money.New(100, "EUR")})
		wantCode(t, err, okpay.EConflict)
		for range 2 {
			v, err := e.sb.Void(e.ctx, "pmv_zero.a1")
			if err != nil || !v.Voided || v.Status != psp.StatusSucceeded {
				t.Fatalf("void: %+v, %v", v, err)
			}
		}
		_, err = e.sb.Void(e.ctx, "dep_1")
		wantCode(t, err, okpay.EConflict)
		_, err = e.sb.Void(e.ctx, "nope")
		wantCode(t, err, okpay.ENotFound)
		_, err = e.sb.Charge(e.ctx, psp.ChargeRequest{Reference: "r0", Token: card.Token, Amount: money.New(0, "EUR"), AuthorizeOnly: true})
		wantCode(t, err, okpay.EInvalid)

		// Only the deposit produces a webhook; the immediate answers none.
		e.recv.waitRef(t, "dep_1")
		time.Sleep(100 * time.Millisecond)
		for _, ref := range []string{"pmv_zero", "pmv_zero.a1"} {
			if n := countRef(e.recv.snapshot(), ref); n != 0 {
				t.Errorf("%d events for %s", n, ref)
			}
		}
		page := e.do("GET", "/sandbox/?lang=en", "", "").Body.String()
		for _, want := range []string{"4000 0025 0000 0003", "Zero-amount authorisation not supported", `data-testid="auth-only"`, `data-testid="voided"`, "Voided 20"} {
			if !strings.Contains(page, want) {
				t.Errorf("the page lacks %q", want)
			}
		}
	})
}

func TestCRD10_PayeeNameCheck(t *testing.T) {
	e := newEnv(t, sqldbtest.Open(t, sqldb.SQLite), clock.System{}, nil)
	for holder, want := range map[string]psp.NameCheck{
		"Ada Lovelace":      {Result: psp.NameMatch},
		"jon  SMITH":        {Result: psp.NameCloseMatch, HeldName: "John Smith"},
		"Wrong Name":        {Result: psp.NameNoMatch},
		" unknown holder  ": {Result: psp.NameUnavailable},
	} {
		got, err := e.sb.CheckPayeeName(e.ctx, "GB82 WEST 1234 5698 7654 32", holder)
		if err != nil || got != want {
			t.Errorf("%q: %+v, %v; want %+v", holder, got, err, want)
		}
	}
	_, err := e.sb.CheckPayeeName(e.ctx, "GB00WEST12345698765432", "Ada")
	wantCode(t, err, okpay.EInvalid)
	_, err = e.sb.CheckPayeeName(e.ctx, "GB82WEST12345698765432", " ")
	wantCode(t, err, okpay.EInvalid)
	if p := e.do("GET", "/sandbox/?lang=zh-CN", "", "").Body.String(); !strings.Contains(p, "Jon Smith") || !strings.Contains(p, "收款人姓名核验") {
		t.Error("the page does not list the test payee names")
	}
}

// TestRailsSwitchOnThePage switches payout rails down and up with the
// page's form and reads them back through RailStatus.
func TestRailsSwitchOnThePage(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db, clock.System{}, nil)
		up := func(kind psp.DestinationKind, cur money.Currency) bool {
			t.Helper()
			r, err := e.sb.RailStatus(e.ctx, kind, cur)
			if err != nil {
				t.Fatal(err)
			}
			if !r.Up && r.RetryAfter <= 0 {
				t.Fatalf("down without a retry hint: %+v", r)
			}
			return r.Up
		}
		if !up(psp.DestBankAccount, "EUR") {
			t.Fatal("a rail is down from the start")
		}
		post := func(kv ...string) {
			t.Helper()
			w := e.do("POST", "/sandbox/rails", "application/x-www-form-urlencoded", form(kv...))
			if w.Code != http.StatusSeeOther {
				t.Fatalf("POST rails %v: %d %s", kv, w.Code, w.Body)
			}
		}
		post("kind", "bank_account", "currency", "EUR", "state", "down")
		post("kind", "bank_account", "currency", "EUR", "state", "down") // twice is fine
		if up(psp.DestBankAccount, "EUR") || !up(psp.DestBankAccount, "GBP") || !up(psp.DestCard, "EUR") {
			t.Fatal("EUR bank rail switch")
		}
		post("kind", "ewallet", "currency", "*", "state", "down")
		if up(psp.DestEWallet, "CNY") || up(psp.DestEWallet, "USD") {
			t.Fatal("all-currency e-wallet switch")
		}
		if p := e.do("GET", "/sandbox/?lang=en", "", "").Body.String(); !strings.Contains(p, `data-testid="rails-down"`) || strings.Count(p, "Switch back up") != 2 {
			t.Errorf("the page does not list the rails down")
		}
		post("kind", "bank_account", "currency", "EUR", "state", "up")
		post("kind", "ewallet", "currency", "*", "state", "up")
		if !up(psp.DestBankAccount, "EUR") || !up(psp.DestEWallet, "CNY") {
			t.Fatal("rails did not come back up")
		}
		for _, bad := range [][]string{{"kind", "moon", "currency", "EUR", "state", "down"}, {"kind", "card", "currency", "XXX", "state", "down"},
			{"kind", "card", "currency", "EUR", "state", "sideways"}} {
			if w := e.do("POST", "/sandbox/rails", "application/x-www-form-urlencoded", form(bad...)); w.Code != http.StatusBadRequest {
				t.Errorf("%v: %d", bad, w.Code)
			}
		}
	})
}

// TestCRD10_EWalletOAuth: the sandbox's authorisation page issues a code
// for the account the owner typed and sends the browser back with the
// state; the code is redeemed once, with the PKCE verifier and the same
// redirect URI, within 5 minutes; a denial goes back with an error.
func TestCRD10_EWalletOAuth(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		clk := clock.NewManual(time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC))
		e := newEnv(t, db, clk, func(o *sandbox.Options) { o.BaseURL = "" })
		verifier := strings.Repeat("v", 50)
		state := "state-0123456789abcdef"
		auth, err := e.sb.EWalletAuthURL("alipay", state, sandbox.S256(verifier), "/account/methods/ewallets/callback")
		if err != nil || !strings.HasPrefix(auth, "/sandbox/oauth/alipay/authorize?") {
			t.Fatalf("auth URL %q, %v", auth, err)
		}
		for _, bad := range [][3]string{{"x", sandbox.S256(verifier), "/cb"}, {state, "short", "/cb"}, {state, sandbox.S256(verifier), "https://evil.test/cb"}} {
			_, err := e.sb.EWalletAuthURL("alipay", bad[0], bad[1], bad[2])
			wantCode(t, err, okpay.EInvalid)
		}
		page := e.do("GET", auth+"&lang=en", "", "")
		if page.Code != 200 || !strings.Contains(page.Body.String(), `data-testid="oauth-form"`) || !strings.Contains(page.Body.String(), "alipay (sandbox)") {
			t.Fatalf("page %d %s", page.Code, page.Body)
		}
		if w := e.do("GET", "/sandbox/oauth/alipay/authorize?response_type=code&state="+state, "", ""); w.Code != http.StatusBadRequest {
			t.Fatalf("incomplete request: %d", w.Code)
		}
		q := strings.SplitN(auth, "?", 2)[1]
		w := e.do("POST", "/sandbox/oauth/alipay/authorize", "application/x-www-form-urlencoded", q+"&action=allow&account=li.wei%40example.com")
		loc := w.Header().Get("Location")
		if w.Code != http.StatusSeeOther || !strings.HasPrefix(loc, "/account/methods/ewallets/callback?") || !strings.Contains(loc, "state="+state) {
			t.Fatalf("allow: %d %s", w.Code, loc)
		}
		u, _ := url.Parse(loc)
		code := u.Query().Get("code")
		// Wrong verifier, provider or redirect: refused, and the code is spent.
		_, err = e.sb.ExchangeEWalletCode(e.ctx, "alipay", code, strings.Repeat("w", 50), "/account/methods/ewallets/callback")
		wantCode(t, err, psp.EInvalidGrant)
		_, err = e.sb.ExchangeEWalletCode(e.ctx, "alipay", code, verifier, "/account/methods/ewallets/callback")
		wantCode(t, err, psp.EInvalidGrant)

		w = e.do("POST", "/sandbox/oauth/alipay/authorize", "application/x-www-form-urlencoded", q+"&action=allow&account=li.wei%40example.com")
		u, _ = url.Parse(w.Header().Get("Location"))
		code = u.Query().Get("code")
		_, err = e.sb.ExchangeEWalletCode(e.ctx, "paypal", code, verifier, "/account/methods/ewallets/callback")
		wantCode(t, err, psp.EInvalidGrant)

		w = e.do("POST", "/sandbox/oauth/alipay/authorize", "application/x-www-form-urlencoded", q+"&action=allow&account=li.wei%40example.com")
		u, _ = url.Parse(w.Header().Get("Location"))
		code = u.Query().Get("code")
		acct, err := e.sb.ExchangeEWalletCode(e.ctx, "alipay", code, verifier, "/account/methods/ewallets/callback")
		if err != nil || acct != "li.wei@example.com" {
			t.Fatalf("exchange: %q, %v", acct, err)
		}
		_, err = e.sb.ExchangeEWalletCode(e.ctx, "alipay", code, verifier, "/account/methods/ewallets/callback")
		wantCode(t, err, psp.EInvalidGrant) // single use

		// Expired after 5 minutes.
		w = e.do("POST", "/sandbox/oauth/alipay/authorize", "application/x-www-form-urlencoded", q+"&action=allow&account=li.wei%40example.com")
		u, _ = url.Parse(w.Header().Get("Location"))
		clk.Advance(5 * time.Minute)
		_, err = e.sb.ExchangeEWalletCode(e.ctx, "alipay", u.Query().Get("code"), verifier, "/account/methods/ewallets/callback")
		wantCode(t, err, psp.EInvalidGrant)

		// Denied; an empty account is asked again.
		w = e.do("POST", "/sandbox/oauth/alipay/authorize", "application/x-www-form-urlencoded", q+"&action=deny")
		if loc := w.Header().Get("Location"); !strings.Contains(loc, "error=access_denied") || strings.Contains(loc, "code=") {
			t.Fatalf("deny: %s", loc)
		}
		if w := e.do("POST", "/sandbox/oauth/alipay/authorize", "application/x-www-form-urlencoded", q+"&action=allow&account="); w.Code != http.StatusUnprocessableEntity {
			t.Fatalf("empty account: %d", w.Code)
		}
	})
}
