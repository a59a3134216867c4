package web_test

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/okpay/okpay/agent"
	"github.com/okpay/okpay/audit"
	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/phone"
	"github.com/okpay/okpay/web"
)

// newPhoneEnv is the staff environment with the phone channel on (its
// pages served again on a new mux).
func newPhoneEnv(t *testing.T) (*staffEnv, *phone.Service) {
	t.Helper()
	e := newStaffEnv(t, agent.Config{})
	d := e.id.Deps
	ph, err := phone.New(phone.Deps{DB: d.DB, Clock: d.Clock, IDs: d.IDs, Desk: e.desk, Identity: e.id, Audit: audit.New(d.DB), Outbox: e.outbox,
		Catalog: e.cat}, phone.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.server.EnablePhone(ph); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	e.mux = mux
	e.server.Register(mux)
	e.handler = web.SecurityHeaders(web.CrossOrigin(mux))
	return e, ph
}

var dataCallbackRE = regexp.MustCompile(`data-callback="(cbk_[0-9a-z]+)"`)

// TestPhoneCallbackPagesAndQueue: a customer asks for a call from the
// account area (their verified number, shown masked), sees its status and
// cancels one; an agent sees the queue, claims one (a second agent cannot),
// logs the outcome, which lands in the customer's phone conversation.
func TestPhoneCallbackPagesAndQueue(t *testing.T) {
	t.Parallel()
	e, ph := newPhoneEnv(t)
	c := e.client()
	acct := e.signUp(c)
	u := e.user(acct)

	res := c.get("/account/callbacks")
	wantStatus(t, res, http.StatusOK)
	wantContains(t, res.body, `data-testid="callback-form"`)
	wantContains(t, res.body, "•••• "+acct.phone[len(acct.phone)-4:])
	if strings.Contains(res.body, `name="phone"`) {
		t.Fatal("the form takes a number")
	}
	loc, _ := time.LoadLocation("Asia/Shanghai")
	start := e.clock.Now().In(loc).Add(2 * time.Hour)
	form := url.Values{"topic": {"transaction"}, "date": {start.Format("2006-01-02")}, "from": {start.Format("15:04")},
		"to": {start.Add(time.Hour).Format("15:04")}, "time_zone": {"Asia/Shanghai"}, "note": {"transfer stuck"}, "key": {"form-key-1"}}
	if start.Add(time.Hour).Day() != start.Day() { // keep the window inside one day
		start = start.Add(-3 * time.Hour)
		form.Set("from", start.Format("15:04"))
		form.Set("to", start.Add(time.Hour).Format("15:04"))
		form.Set("date", start.Format("2006-01-02"))
	}
	wantRedirect(t, c.post("/account/callbacks", form), "/account/callbacks?done=requested")
	wantRedirect(t, c.post("/account/callbacks", form), "/account/callbacks?done=requested") // the same form again
	bad := url.Values{"topic": {"account"}, "date": {"2020-01-01"}, "from": {"10:00"}, "to": {"11:00"}, "time_zone": {"UTC"}, "key": {"k2"}}
	res = c.post("/account/callbacks", bad)
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantContains(t, res.body, `data-testid="callback-error"`)
	list, _ := ph.Callbacks(e.ctx, u.ID, 0, 0)
	if len(list) != 1 || list[0].Phone != acct.phone || list[0].Note != "transfer stuck" {
		t.Fatalf("callbacks %+v", list)
	}
	cb := list[0]
	res = c.get("/account/callbacks?done=requested")
	wantContains(t, res.body, `data-callback="`+cb.Ref()+`" data-state="queued"`)

	// Staff: the queue, a claim, a refused second claim, the outcome.
	a1, a2, admin := e.newMember(t, agent.RoleAgent), e.newMember(t, agent.RoleAgent), e.newMember(t, agent.RoleAdmin)
	res = a1.c.get("/staff/phone")
	wantStatus(t, res, http.StatusOK)
	wantContains(t, res.body, `data-testid="nav-staff-phone"`)
	if m := dataCallbackRE.FindAllStringSubmatch(res.body, -1); len(m) != 1 || m[0][1] != cb.Ref() {
		t.Fatalf("queue %v", m)
	}
	// The window in the agent's time zone, with its offset: UTC without
	// one, New York's when the browser says so.
	wantContains(t, html.UnescapeString(res.body), cb.WindowStart.UTC().Format("01-02 15:04")+"–"+cb.WindowEnd.UTC().Format("15:04")+" UTC<")
	ny, _ := time.LoadLocation("America/New_York")
	a1.c.cookies["tz"] = &http.Cookie{Name: "tz", Value: "America/New_York"}
	wantContains(t, html.UnescapeString(a1.c.get("/staff/phone").body), cb.WindowStart.In(ny).Format("01-02 15:04")+"–"+cb.WindowEnd.In(ny).Format("15:04")+" UTC-5<")
	wantStatus(t, admin.c.get("/staff/phone"), http.StatusForbidden)
	wantRedirect(t, a1.c.post("/staff/phone/claim", url.Values{"callback": {cb.Ref()}}), "/staff/phone?done=claimed")
	res = a2.c.post("/staff/phone/claim", url.Values{"callback": {cb.Ref()}})
	wantStatus(t, res, http.StatusConflict)
	wantContains(t, res.body, e.text("en", "problem.phone_callback_claimed.detail"))
	// The customer can no longer cancel it.
	wantStatus(t, c.post("/account/callbacks/cancel", url.Values{"callback": {cb.Ref()}}), http.StatusConflict)
	res = a1.c.post("/staff/phone/outcome", url.Values{"callback": {cb.Ref()}, "outcome": {"reached"}, "notes": {"customer confirmed the transfer"}})
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/staff/phone?done=logged&conversation=cnv_") {
		t.Fatalf("outcome: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	got, _ := ph.FindCallback(e.ctx, cb.ID)
	if got.State != phone.StateCompleted || got.ConversationID == 0 {
		t.Fatalf("after the outcome: %+v", got)
	}
	ms, err := e.desk.Messages(e.ctx, desk.System, got.ConversationID, 0, desk.MaxPage)
	if err != nil || len(ms) != 2 || ms[1].Body != "customer confirmed the transfer" || !ms[1].Internal {
		t.Fatalf("messages %+v %v", ms, err)
	}
	res = c.get("/account/callbacks")
	wantContains(t, res.body, `data-state="completed"`)

	// A second request, cancelled by the customer.
	form.Set("key", "form-key-2")
	wantRedirect(t, c.post("/account/callbacks", form), "/account/callbacks?done=requested")
	list, _ = ph.Callbacks(e.ctx, u.ID, 0, 0)
	wantRedirect(t, c.post("/account/callbacks/cancel", url.Values{"callback": {list[0].Ref()}}), "/account/callbacks?done=cancelled")
	if c2, _ := ph.FindCallback(e.ctx, list[0].ID); c2.State != phone.StateCancelled {
		t.Fatalf("cancel: %s", c2.State)
	}
	// Another customer's callback is not found.
	other := e.client()
	e.signUp(other)
	wantStatus(t, other.post("/account/callbacks/cancel", url.Values{"callback": {cb.Ref()}}), http.StatusNotFound)
}

var (
	sixDigits = regexp.MustCompile(`\b\d{6}\b`)
	// The notification shows the code page as a link to follow.
	verifyHref = regexp.MustCompile(`<a href="(/account/phone-verify/pvc_[0-9a-z]+)" data-testid="note-link">`)
	codeShown  = regexp.MustCompile(`data-testid="phone-verify-code" data-challenge="pvc_[0-9a-z]+"><strong>(\d{6})</strong>`)
)

// verifyLink waits for the customer's phone verification notification
// and returns the link it holds; the notification itself holds no code.
func verifyLink(t *testing.T, c *client) string {
	t.Helper()
	return waitVerifyLink(t, c, map[string]bool{})
}

// waitVerifyLink waits for a verification link not in seen.
func waitVerifyLink(t *testing.T, c *client, seen map[string]bool) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		body := c.get("/account/notifications").body
		if i := strings.Index(body, `data-kind="phone_verify"`); i >= 0 {
			if sixDigits.MatchString(body[i:]) {
				t.Fatal("a code in the customer's notifications")
			}
			for _, m := range verifyHref.FindAllStringSubmatch(body[i:], -1) {
				if l := m[1]; !seen[l] {
					return l
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("no verification link in the customer's notifications")
	return ""
}

// verifyCode opens the customer's code page and returns the code shown.
func verifyCode(t *testing.T, c *client, link string) string {
	t.Helper()
	res := c.get(link)
	wantStatus(t, res, http.StatusOK)
	m := codeShown.FindStringSubmatch(res.body)
	if m == nil {
		t.Fatalf("no code on %s: %s", link, res.body)
	}
	return m[1]
}

// TestSUP05_PhoneVerificationPage: the agent sends a code to the
// customer's app from the phone page; the signed-in customer sees it in
// their notifications; a wrong code is refused, the right one marks the
// caller verified; the report page shows the calls.
func TestSUP05_PhoneVerificationPage(t *testing.T) {
	t.Parallel()
	e, ph := newPhoneEnv(t)
	c := e.client()
	acct := e.signUp(c)
	u := e.user(acct)
	conv, err := e.desk.StartConversation(e.ctx, desk.System, desk.StartInput{Channel: desk.ChannelPhone, Category: desk.CategoryAccount, CustomerID: u.ID})
	if err != nil {
		t.Fatal(err)
	}
	ref := desk.ConversationRef(conv.ID)
	ag := e.newMember(t, agent.RoleAgent)
	wantRedirect(t, ag.c.post("/staff/phone/verify", url.Values{"conversation": {ref}, "method": {"app"}}), "/staff/phone?done=sent&conversation="+ref)
	code := verifyCode(t, c, verifyLink(t, c))
	wrong := "000000"
	if code == wrong {
		wrong = "000001"
	}
	res := ag.c.post("/staff/phone/verify/confirm", url.Values{"conversation": {ref}, "code": {wrong}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantContains(t, res.body, `data-testid="phone-error"`)
	wantRedirect(t, ag.c.post("/staff/phone/verify/confirm", url.Values{"conversation": {ref}, "code": {code}}), "/staff/phone?done=verified&conversation="+ref)
	res = ag.c.get("/staff/phone?conversation=" + ref)
	wantContains(t, res.body, `data-testid="phone-level" data-verified="true"`)
	if ok, _ := ph.CallerVerified(e.ctx, conv.ID); !ok {
		t.Fatal("not verified")
	}
	// A chat conversation cannot be verified by phone.
	chat, _ := e.desk.StartConversation(e.ctx, desk.System, desk.StartInput{Category: desk.CategoryAccount, CustomerID: u.ID})
	res = ag.c.post("/staff/phone/verify", url.Values{"conversation": {desk.ConversationRef(chat.ID)}, "method": {"sms"}})
	wantStatus(t, res, http.StatusConflict)

	// The report: a missed and an answered call today.
	now := e.clock.Now()
	for _, ev := range []phone.Event{
		{ID: "1", Event: phone.EventNewCall, CallID: "a", From: acct.phone, Direction: "in", At: now.Add(-time.Hour)},
		{ID: "2", Event: phone.EventAnswer, CallID: "a", At: now.Add(-time.Hour + 20*time.Second)},
		{ID: "3", Event: phone.EventHangup, CallID: "a", At: now.Add(-time.Hour + 2*time.Minute), Cause: phone.CauseNormalClearing},
		{ID: "4", Event: phone.EventNewCall, CallID: "b", From: "+8613700137000", Direction: "in", At: now.Add(-time.Minute)},
		{ID: "5", Event: phone.EventHangup, CallID: "b", At: now.Add(-30 * time.Second), Cause: "cancel"},
	} {
		if _, err := ph.ApplyEvent(e.ctx, ev, now); err != nil {
			t.Fatal(err)
		}
	}
	sup := e.newMember(t, agent.RoleSupervisor)
	res = sup.c.get("/staff/phone/report")
	wantStatus(t, res, http.StatusOK)
	wantContains(t, res.body, `data-testid="phone-report-total"><th scope="row">Total</th><td>2</td><td>1</td><td>1</td><td>1</td>`,
		`<td>20 s / 20 s</td><td>100 s / 100 s</td></tr>`)
	wantStatus(t, ag.c.get("/staff/phone/report"), http.StatusForbidden)
}
