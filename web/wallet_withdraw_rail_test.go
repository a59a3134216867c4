package web_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/psp"
)

// While the provider reports the card payout rail down, the withdrawal
// form says so (503, Retry-After) at the quote and at the start, in the
// customer's language, and nothing is held; once it is back the
// withdrawal goes through.
func TestWithdrawRailDown(t *testing.T) {
	t.Parallel()
	e := newWithdrawEnv(t, withdrawEnvOptions{})
	c := e.client()
	alice := e.signUp(c)
	e.fund(alice, cny(1_000_00))
	card := e.addCard(alice, "5555555555554444")
	e.clock.Advance(25 * time.Hour)
	e.logIn(c, alice)

	// The quote page of a withdrawal, then the rail goes down.
	res := c.post("/wallet/withdraw", url.Values{"method": {card.PublicID()}, "amount": {"100"}, "currency": {"CNY"}})
	wantStatus(t, res, http.StatusOK)
	confirm := hiddenForm(res.body)
	confirm.Set("action", "withdraw")
	if err := e.sb.SetRailDown(e.ctx, psp.DestCard, "CNY", true); err != nil {
		t.Fatal(err)
	}
	want := e.text(i18n.En, "withdrawui.error.rail_down", "Kind", e.text(i18n.En, "withdrawui.rail.card"), "Currency", "CNY", "Minutes", 5)
	res = c.post("/wallet/withdraw/confirm", confirm)
	wantStatus(t, res, http.StatusServiceUnavailable)
	wantIn(t, res, want)
	if res.Header.Get("Retry-After") != "300" {
		t.Fatalf("Retry-After %q", res.Header.Get("Retry-After"))
	}
	res = c.post("/wallet/withdraw", url.Values{"method": {card.PublicID()}, "amount": {"100"}, "currency": {"CNY"}})
	wantStatus(t, res, http.StatusServiceUnavailable)
	wantIn(t, res, want)
	c.lang = "zh-CN"
	res = c.post("/wallet/withdraw", url.Values{"method": {card.PublicID()}, "amount": {"100"}, "currency": {"CNY"}})
	wantStatus(t, res, http.StatusServiceUnavailable)
	wantIn(t, res, e.text(i18n.ZhCN, "withdrawui.error.rail_down", "Kind", e.text(i18n.ZhCN, "withdrawui.rail.card"), "Currency", "CNY", "Minutes", 5))
	c.lang = "en"
	if w := e.wallet(alice, "CNY"); w.Available != cny(1_000_00) {
		t.Fatalf("held while the rail is down: %v", w.Available)
	}

	if err := e.sb.SetRailDown(e.ctx, psp.DestCard, "CNY", false); err != nil {
		t.Fatal(err)
	}
	withdrawVia(t, c, card.PublicID(), "100", "CNY")
}
