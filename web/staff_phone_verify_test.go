package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/okpay/okpay/agent"
	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/phone"
)

// TestSUP05_VerifyFromDeskConversation: the agent starts caller
// verification from the desk page of a phone conversation and comes back
// to it; the customer's notification links to a page that shows the code
// to them only, while it waits; the conversation shows the identity
// level; "I am not on a call with OKPay" cancels a request and the agent
// sees the refusal.
func TestSUP05_VerifyFromDeskConversation(t *testing.T) {
	t.Parallel()
	e, ph := newPhoneEnv(t)
	c := e.client()
	u := e.user(e.signUp(c))
	other := e.client()
	e.signUp(other)
	conv, err := e.desk.StartConversation(e.ctx, desk.System, desk.StartInput{Channel: desk.ChannelPhone, Category: desk.CategoryAccount, CustomerID: u.ID})
	if err != nil {
		t.Fatal(err)
	}
	ref := desk.ConversationRef(conv.ID)
	page := "/staff/desk/conversation?id=" + ref
	ag := e.newMember(t, agent.RoleAgent)

	res := ag.c.get(page)
	wantStatus(t, res, http.StatusOK)
	wantContains(t, res.body, `data-testid="desk-phone-verify"`, `data-testid="desk-phone-level" data-verified="false" data-refused="false" data-pending="false"`,
		`data-testid="desk-phone-send"`, e.text("en", "phone.staff.verify.level.unverified"))
	// A chat conversation has no panel.
	chat, _ := e.desk.StartConversation(e.ctx, desk.System, desk.StartInput{Category: desk.CategoryAccount, CustomerID: u.ID})
	if res := ag.c.get("/staff/desk/conversation?id=" + desk.ConversationRef(chat.ID)); res.StatusCode != http.StatusOK || strings.Contains(res.body, `desk-phone-verify`) {
		t.Fatalf("chat page %d has the phone panel", res.StatusCode)
	}

	send := url.Values{"conversation": {ref}, "method": {"app"}, "back": {"desk"}}
	wantRedirect(t, ag.c.post("/staff/phone/verify", send), page+"#phone-verify")
	wantContains(t, ag.c.get(page).body, `data-pending="true"`, `data-testid="desk-phone-confirm"`)
	link := verifyLink(t, c)
	// Another customer, or nobody signed in, does not see the code.
	wantStatus(t, other.get(link), http.StatusNotFound)
	wantStatus(t, other.post(link+"/refuse", nil), http.StatusNotFound)
	if res := e.client().get(link); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("signed out: %d", res.StatusCode)
	}
	code := verifyCode(t, c, link)
	// A wrong code goes back to the conversation with the reason, by its
	// code only; an unknown code in the address gets the general text.
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	wantRedirect(t, ag.c.post("/staff/phone/verify/confirm", url.Values{"conversation": {ref}, "code": {wrong}, "back": {"desk"}}),
		page+"&phone_error="+phone.EWrongCode+"#phone-verify")
	wantContains(t, ag.c.get(page+"&phone_error="+phone.EWrongCode).body, `data-testid="desk-phone-error"`, e.text("en", "problem."+phone.EWrongCode+".detail"), `data-pending="true"`)
	res = ag.c.get(page + "&phone_error=" + url.QueryEscape("<b>call 123</b>"))
	wantContains(t, res.body, e.text("en", "phone.staff.desk.verify.failed"))
	if strings.Contains(res.body, "call 123") {
		t.Fatal("text from the address reached the page")
	}
	wantRedirect(t, ag.c.post("/staff/phone/verify/confirm", url.Values{"conversation": {ref}, "code": {code}, "back": {"desk"}}), page+"#phone-verify")
	res = ag.c.get(page)
	l, _ := ph.Level(e.ctx, conv.ID)
	if !l.Verified() {
		t.Fatalf("level %+v", l)
	}
	wantContains(t, res.body, `data-verified="true"`, strings.TrimSpace(e.text("en", "phone.staff.verify.level.verified", "Method", e.text("en", "phone.staff.verify.method.app"), "Until", "")))
	// Confirmed: the page is gone.
	wantStatus(t, c.get(link), http.StatusNotFound)

	// A second request, refused by the customer.
	seen := map[string]bool{link: true}
	wantRedirect(t, ag.c.post("/staff/phone/verify", send), page+"#phone-verify")
	link2 := waitVerifyLink(t, c, seen)
	code2 := verifyCode(t, c, link2)
	wantContains(t, c.get(link2).body, `data-testid="phone-verify-refuse"`)
	wantRedirect(t, c.post(link2+"/refuse", nil), link2)
	res = c.get(link2)
	wantStatus(t, res, http.StatusOK)
	wantContains(t, res.body, `data-testid="phone-verify-refused"`)
	if strings.Contains(res.body, code2) {
		t.Fatal("the refused page shows the code")
	}
	res = ag.c.get(page)
	wantContains(t, res.body, `data-verified="false" data-refused="true"`, e.text("en", "phone.staff.verify.level.refused"))
	res = ag.c.post("/staff/phone/verify/confirm", url.Values{"conversation": {ref}, "code": {code2}, "back": {"desk"}})
	wantRedirect(t, res, page+"&phone_error=phone_challenge_refused#phone-verify")
	wantContains(t, ag.c.get(page+"&phone_error=phone_challenge_refused").body, e.text("en", "problem.phone_challenge_refused.detail"))
	// From the phone page (no back=desk) the refusal is shown there.
	res = ag.c.post("/staff/phone/verify/confirm", url.Values{"conversation": {ref}, "code": {code2}})
	wantStatus(t, res, http.StatusConflict)
	wantContains(t, res.body, e.text("en", "problem.phone_challenge_refused.detail"))

	// A third request expires: its page is gone.
	seen[link2] = true
	wantRedirect(t, ag.c.post("/staff/phone/verify", send), page+"#phone-verify")
	link3 := waitVerifyLink(t, c, seen)
	verifyCode(t, c, link3)
	e.clock.Advance(5*time.Minute + time.Second)
	wantStatus(t, c.get(link3), http.StatusNotFound)
}
