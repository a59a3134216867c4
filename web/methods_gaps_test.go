package web_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/okpay/okpay/i18n"
)

// CRD-10: the payee-name check is shown before the bank account is
// added: a close match offers the bank's name, a mismatch needs the box
// ticked, an unavailable check says so; the answer shows on the method.
func TestMethodsPayeeNameCheck(t *testing.T) {
	t.Parallel()
	e := newMethodsEnv(t, testPasskeyOrigin)
	c := e.client()
	e.signUp(c)
	form := func(iban, holder string, kv ...string) url.Values {
		v := url.Values{"iban": {iban}, "holder": {holder}, "currency": {"EUR"}}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}

	// Close match: the bank's name is offered; using it adds the account.
	res := c.post("/account/methods/banks", form("DE89 3704 0044 0532 0130 00", "Jon Smith"))
	wantStatus(t, res, http.StatusConflict)
	wantContains(t, res.body, `data-testid="name-check" data-result="close_match"`, "John Smith", `data-testid="name-use-held"`,
		`name="confirm_name_check" value="close_match"`)
	res = c.post("/account/methods/banks", form("DE89 3704 0044 0532 0130 00", "John Smith"))
	wantRedirect(t, res, "/account/methods/pm_")
	res = c.get(res.Header.Get("Location"))
	wantContains(t, res.body, `data-testid="method-name-check" data-result="match"`, e.text(i18n.En, "methods.name_check.match"))

	// No match: confirming without the box is refused; with it, added
	// and shown as confirmed.
	res = c.post("/account/methods/banks", form("GB82 WEST 1234 5698 7654 32", "Wrong Name"))
	wantStatus(t, res, http.StatusConflict)
	wantContains(t, res.body, `data-result="no_match"`, `data-testid="name-ack"`)
	res = c.post("/account/methods/banks", form("GB82 WEST 1234 5698 7654 32", "Wrong Name", "confirm_name_check", "no_match"))
	wantStatus(t, res, http.StatusConflict)
	wantContains(t, res.body, `id="name_ack-error"`, e.text(i18n.En, "methods.name_check.ack_required"))
	res = c.post("/account/methods/banks", form("GB82 WEST 1234 5698 7654 32", "Wrong Name", "confirm_name_check", "no_match", "name_ack", "1"))
	wantRedirect(t, res, "/account/methods/pm_")
	res = c.get(res.Header.Get("Location"))
	wantContains(t, res.body, `data-result="no_match"`, e.text(i18n.En, "methods.name_check.confirmed"))

	// Unavailable: said so, then added on confirmation.
	res = c.post("/account/methods/banks", form("DE44 5001 0517 5407 3249 31", "Unknown Holder"))
	wantStatus(t, res, http.StatusConflict)
	wantContains(t, res.body, `data-result="unavailable"`, e.text(i18n.En, "methods.name_check.explain.unavailable"))
	res = c.post("/account/methods/banks", form("DE44 5001 0517 5407 3249 31", "Unknown Holder", "confirm_name_check", "unavailable"))
	wantRedirect(t, res, "/account/methods/pm_")
}
