package web_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/okpay/okpay/agent"
	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/httpapi"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/identity/passkey/passkeytest"
	"github.com/okpay/okpay/internal/browsertest"
)

// deskWait bounds each wait for the page to reach a state: generous,
// because the machine running the tests may be loaded.
const deskWait = 60 * time.Second

// deskTab is one browser context (its own cookies) on one page.
type deskTab struct {
	t        *testing.T
	name     string
	ctx      context.Context
	base     string
	problems *pageProblems
}

// newDeskTab opens a new browser context of the browser root with the
// given cookies, the CSP probe and a problem listener.
func newDeskTab(t *testing.T, root context.Context, name, base string, cookies ...network.SetCookieParams) *deskTab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(root, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	tab := &deskTab{t: t, name: name, ctx: ctx, base: base, problems: &pageProblems{expected: map[string]bool{}}}
	if err := tab.problems.listen(ctx); err != nil {
		t.Fatal(err)
	}
	// The first command starts the tab with ctx itself (a context derived
	// with a timeout would end the tab with it).
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: cspProbe}); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if _, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Accept-Language": "en-US,en;q=0.9"}}); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	for _, c := range cookies {
		c.URL = base + "/"
		if _, err := chromedp.Call(ctx, network.SetCookie, c); err != nil {
			t.Fatalf("%s: set cookie %s: %v", name, c.Name, err)
		}
	}
	return tab
}

// do runs actions with the wait bound.
func (b *deskTab) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, deskWait)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %s: %v", b.name, what, err)
	}
}

// open loads a page and waits for it.
func (b *deskTab) open(path string) {
	b.t.Helper()
	b.do("open "+path, chromedp.Navigate(b.base+path))
}

// fill types v into the field testid (browsertest.Fill: the value is
// checked, so a form is never sent with a field left short).
func (b *deskTab) fill(testid, v string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, deskWait)
	defer cancel()
	if err := browsertest.Fill(ctx, string(sel(testid)), v); err != nil {
		b.t.Fatalf("%s: fill %s: %v", b.name, testid, err)
	}
}

// clickLoad clicks an element that loads a new page, and waits for it.
func (b *deskTab) clickLoad(what string, sel chromedp.CSS) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, deskWait)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(sel, chromedp.NodeVisible))); err != nil {
		b.t.Fatalf("%s: %s: %v\npage %s: %s", b.name, what, err, b.eval(`location.href`), b.eval(`document.body.innerText.slice(0, 3000)`))
	}
}

// until waits for a JavaScript condition of the page to hold.
func (b *deskTab) until(what, expr string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, deskWait+5*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(deskWait), chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		b.t.Fatalf("%s: waiting until %s (%s): %v\npage: %s", b.name, what, expr, err, b.eval(`document.body.innerText.slice(0, 2000)`))
	}
}

// untilNavigated is until for a condition that holds after the page
// navigates by itself (a reload): an evaluation cut short by the
// navigation is tried again.
func (b *deskTab) untilNavigated(what, expr string) {
	b.t.Helper()
	deadline := time.Now().Add(deskWait)
	var err error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(b.ctx, time.Until(deadline))
		_, err = chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(time.Until(deadline)), chromedp.WithPollingInterval(50*time.Millisecond)))
		cancel()
		if err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.t.Fatalf("%s: waiting until %s (%s): %v", b.name, what, expr, err)
}

func (b *deskTab) eval(js string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, deskWait)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
	if err != nil {
		b.t.Fatalf("%s: evaluate %s: %v", b.name, js, err)
	}
	return v
}

// check asserts that the page broke no rule: no CSP violation, no console
// error, no failed load.
func (b *deskTab) check(step string) {
	b.t.Helper()
	if v := b.eval(`JSON.stringify(window.__cspViolations || ['probe missing'])`); v != "[]" {
		b.t.Errorf("%s: %s: CSP violations: %s", b.name, step, v)
	}
	for _, p := range b.problems.take() {
		b.t.Errorf("%s: %s: %s", b.name, step, p)
	}
}

// messagesJS lists the widget's messages as [seq, body] pairs, in page
// order.
const messagesJS = `JSON.stringify([...document.querySelectorAll('[data-testid="chat-message"]')].map(li =>
	[li.dataset.seq, (li.querySelector('.chat-body') || {}).textContent || '']))`

// newDeskBrowserEnv serves the staff environment (pages, console, desk)
// and the JSON API's chat routes on one origin, http://localhost:PORT, as
// okpay serve does.
func newDeskBrowserEnv(t *testing.T) (*staffEnv, *httpapi.Server, string) {
	t.Helper()
	e, api, base, _ := newDeskBrowserEnvEmails(t, false)
	return e, api, base
}

// newDeskBrowserEnvEmails is newDeskBrowserEnv, with the visitors' email
// for the replies offered when emails is true (desk.VisitorEmails).
func newDeskBrowserEnvEmails(t *testing.T, emails bool) (*staffEnv, *httpapi.Server, string, *desk.VisitorEmails) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	base := "http://localhost:" + port
	e := newStaffEnvAt(t, base, agent.Config{})
	var ve *desk.VisitorEmails
	if emails {
		if ve, err = desk.NewVisitorEmails(e.desk, desk.VisitorEmailDeps{Outbox: e.outbox, Catalog: e.cat, Links: e.id.Deps.Keys.MAC("desk.visitor-email-link"), BaseURL: base}); err != nil {
			t.Fatal(err)
		}
		if err := e.server.EnableVisitorEmails(ve); err != nil {
			t.Fatal(err)
		}
	}
	api := httpapi.New(httpapi.Config{Catalog: e.cat, Identity: e.id, Desk: e.desk, VisitorEmails: ve})
	api.Register(e.mux)
	ts := httptest.NewUnstartedServer(e.handler)
	ts.Listener.Close()
	ts.Listener = ln
	ts.Start()
	t.Cleanup(ts.Close)
	t.Cleanup(api.Close) // before the server closes: its sockets end first
	return e, api, base, ve
}

// TestBrowserDeskChat drives two browser contexts: a signed-in customer
// on an account page and a supervisor on the agent console. The customer
// opens the chat, picks a category and writes; the conversation appears
// in the agent's inbox without a reload; the agent opens it (the
// customer sees "Seen"), takes it (the customer's queue position goes),
// types (the customer sees "typing") and answers; the customer sees the
// answer without reloading. Then the customer's page closes its socket
// (the "offline" event), the agent sends two more messages, and when the
// page comes back online it reconnects and shows both, once each, in
// order, after the ones it had. Every wait is on the page's state, with a
// 60 s deadline.
func TestBrowserDeskChat(t *testing.T) {
	e, api, base := newDeskBrowserEnv(t)

	// A customer signed in and a supervisor signed in, through the pages
	// in Go; their browsers get the session cookies.
	cust := e.client()
	e.signUp(cust)
	a, enr, err := e.staff.Create(e.ctx, e.cli, agent.NewAgent{Email: "desk.supervisor@okpay.test", DisplayName: "Desk Supervisor",
		Roles: []agent.Role{agent.RoleSupervisor}, Teams: []string{"general"}, Languages: []i18n.Lang{i18n.ZhCN, i18n.En}}, agent.Meta{IP: "cli"})
	if err != nil {
		t.Fatal(err)
	}
	sup := &staffMember{agent: a, password: "lantern harbour quiet evening", auth: passkeytest.New(base, "localhost"), c: e.client()}
	e.enrolThroughPages(t, sup, enr) // leaves sup.c signed in (password and passkey)
	yes := true

	root := browsertest.NewWithTimeout(t, 5*time.Minute)
	agentTab := newDeskTab(t, root, "agent", base,
		network.SetCookieParams{Name: "__Host-agent", Value: sup.c.cookie("__Host-agent"), Path: "/", Secure: &yes, HTTPOnly: &yes, SameSite: network.CookieSameSiteStrict})
	custTab := newDeskTab(t, root, "customer", base,
		network.SetCookieParams{Name: "__Host-session", Value: cust.cookie("__Host-session"), Path: "/", Secure: &yes, HTTPOnly: &yes, SameSite: network.CookieSameSiteLax},
		network.SetCookieParams{Name: "__Host-did", Value: cust.cookie("__Host-did"), Path: "/", Secure: &yes, HTTPOnly: &yes, SameSite: network.CookieSameSiteLax})

	// 1. The agent watches the unassigned inbox, live.
	agentTab.open("/staff/desk?view=unassigned")
	agentTab.until("the inbox is live", `document.querySelector('[data-testid="desk-live"]').dataset.state === 'live'`)
	agentTab.until("the inbox is empty", `!!document.querySelector('[data-testid="desk-inbox-empty"]')`)

	// 2. The customer opens the chat, picks a category and writes.
	custTab.open("/account")
	custTab.do("open the chat", chromedp.Click(sel("chat-open"), chromedp.NodeVisible))
	custTab.do("pick a category", chromedp.WaitVisible(sel("chat-prechat")), chromedp.Click(sel("chat-category-transaction"), chromedp.NodeVisible))
	const first = "My transfer to Zhang San has not arrived."
	custTab.do("write", chromedp.SendKeys(sel("chat-first"), first, chromedp.NodeVisible), chromedp.Click(sel("chat-start"), chromedp.NodeVisible))
	custTab.until("the first message shows", `(document.querySelector('[data-testid="chat-message"][data-seq="1"] .chat-body') || {}).textContent === `+jsString(first))
	custTab.until("the queue position shows", `(q => !q.hidden && q.dataset.position === '1')(document.querySelector('[data-testid="chat-queue"]'))`)
	custTab.until("the socket is live", `document.querySelector('[data-testid="chat-conn"]').dataset.state === 'live'`)
	conv := custTab.eval(`document.getElementById('okpay-chat').dataset.conversation`)
	if !strings.HasPrefix(conv, "cnv_") {
		t.Fatalf("conversation id %q", conv)
	}
	// The page must not reload from here on: a marker would be lost.
	custTab.eval(`window.__stillHere = 'yes'`)
	custTab.eval(`(() => { window.__typingSeen = false; const el = document.querySelector('[data-testid="chat-typing"]');
		new MutationObserver(() => { if (!el.hidden) window.__typingSeen = true; }).observe(el, {attributes: true}); return 'ok'; })()`)

	// 3. It arrives in the agent's inbox without a reload.
	row := `[data-testid="desk-inbox-row"][data-conversation="` + conv + `"]`
	agentTab.until("the conversation arrives in the inbox", `!!document.querySelector('`+row+`')`)
	agentTab.clickLoad("open the conversation", chromedp.CSS(row+` [data-testid="desk-open"]`))
	agentTab.until("the conversation shows the message", `(document.querySelector('[data-testid="desk-message"][data-seq="1"] .desk-body') || {}).textContent === `+jsString(first))
	agentTab.until("the conversation is live", `document.querySelector('[data-testid="desk-live"]').dataset.state === 'live'`)
	// The agent has read it: the customer sees "Seen".
	custTab.until("the customer sees the agent read it", `!document.querySelector('[data-testid="chat-message"][data-seq="1"] [data-testid="chat-seen"]').hidden`)

	// 4. The agent takes it: the customer's queue position goes.
	agentTab.clickLoad("assign to me", sel("desk-assign-submit"))
	agentTab.until("assigned", `document.querySelector('[data-testid="desk-assignee"]').textContent.trim() !== '' && !document.querySelector('[data-testid="desk-assign"]')`)
	custTab.until("the queue position goes", `document.querySelector('[data-testid="chat-queue"]').hidden`)

	// 5. The agent types and answers; the customer sees both, live.
	agentTab.until("the conversation is live again", `document.querySelector('[data-testid="desk-live"]').dataset.state === 'live'`)
	const answer = "您好！我们正在查询您的转账。"
	agentTab.do("type the answer", chromedp.SendKeys(sel("desk-reply-body"), answer, chromedp.NodeVisible))
	custTab.until("the customer sees the agent typing", `window.__typingSeen === true`)
	agentTab.do("send the answer", chromedp.Click(sel("desk-reply-submit"), chromedp.NodeVisible))
	agentTab.until("the answer is in the agent's thread", `(document.querySelector('[data-testid="desk-message"][data-seq="2"] .desk-body') || {}).textContent === `+jsString(answer))
	custTab.until("the customer sees the answer", `(document.querySelector('[data-testid="chat-message"][data-seq="2"] .chat-body') || {}).textContent === `+jsString(answer))
	if custTab.eval(`window.__stillHere`) != "yes" {
		t.Fatal("the customer's page reloaded")
	}
	// The customer has read it: the agent sees "Seen by the customer".
	agentTab.until("the agent sees the customer read it", `!document.querySelector('[data-testid="desk-message"][data-seq="2"] [data-testid="desk-seen"]').hidden`)

	// 6. The customer's page drops its socket.
	custTab.eval(`(window.dispatchEvent(new Event('offline')), 'ok')`)
	custTab.until("the widget says offline", `document.querySelector('[data-testid="chat-conn"]').dataset.state === 'offline'`)
	deadline := time.Now().Add(deskWait)
	for api.ChatConnections() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the customer's socket is still open on the server: %d", api.ChatConnections())
		}
		time.Sleep(20 * time.Millisecond) // polling the server's count, not waiting for time
	}

	// 7. Meanwhile the agent sends two more messages.
	more := []string{"We found it: the bank held it for a check.", "它明天会到账。"}
	for i, text := range more {
		agentTab.do("write message "+text, chromedp.SendKeys(sel("desk-reply-body"), text, chromedp.NodeVisible), chromedp.Click(sel("desk-reply-submit"), chromedp.NodeVisible))
		agentTab.until("message shows in the agent's thread", `(document.querySelector('[data-testid="desk-message"][data-seq="`+string(rune('3'+i))+`"] .desk-body') || {}).textContent === `+jsString(text))
	}
	if n := custTab.eval(`String(document.querySelectorAll('[data-testid="chat-message"][data-seq="3"]').length)`); n != "0" {
		t.Fatalf("the offline page received a message (%s)", n)
	}

	// 8. Back online: it reconnects and shows both, once each, in order.
	custTab.eval(`(window.dispatchEvent(new Event('online')), 'ok')`)
	custTab.until("both messages show", `document.querySelectorAll('[data-testid="chat-message"]').length >= 4`)
	custTab.until("the socket is live again", `document.querySelector('[data-testid="chat-conn"]').dataset.state === 'live' && document.getElementById('okpay-chat').dataset.connects === '2'`)
	var got [][2]string
	if err := json.Unmarshal([]byte(custTab.eval(messagesJS)), &got); err != nil {
		t.Fatal(err)
	}
	want := [][2]string{{"1", first}, {"2", answer}, {"3", more[0]}, {"4", more[1]}}
	if len(got) != len(want) {
		t.Fatalf("the customer's messages: %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("the customer's messages: %v, want %v", got, want)
		}
	}
	if custTab.eval(`window.__stillHere`) != "yes" {
		t.Fatal("the customer's page reloaded")
	}
	if n := custTab.eval(`String(document.querySelectorAll('[data-testid="chat-pending"]').length)`); n != "0" {
		t.Errorf("%s messages still pending", n)
	}
	custTab.check("end")
	agentTab.check("end")
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestBrowserDeskVisitorClaim: a visitor on the public home page chats
// (the API gives the browser its visitor cookie), an agent answers, and
// once the same browser is signed in the first page claims the
// conversation for the customer: the widget shows it with both messages,
// the visitor cookies are gone and the desk names the customer as owner.
func TestBrowserDeskVisitorClaim(t *testing.T) {
	e, _, base, ve := newDeskBrowserEnvEmails(t, true)
	root := browsertest.NewWithTimeout(t, 3*time.Minute)
	tab := newDeskTab(t, root, "visitor", base)

	tab.open("/")
	tab.do("open the chat", chromedp.Click(sel("chat-open"), chromedp.NodeVisible))
	tab.do("pick a category", chromedp.WaitVisible(sel("chat-prechat")), chromedp.Click(sel("chat-category-account"), chromedp.NodeVisible))
	const first = "I cannot sign in to my account."
	tab.do("write", chromedp.SendKeys(sel("chat-first"), first, chromedp.NodeVisible), chromedp.Click(sel("chat-start"), chromedp.NodeVisible))
	tab.until("the first message shows", `(document.querySelector('[data-testid="chat-message"][data-seq="1"] .chat-body') || {}).textContent === `+jsString(first))
	tab.until("the socket is live", `document.querySelector('[data-testid="chat-conn"]').dataset.state === 'live'`)
	if c := tab.eval(`document.cookie`); !strings.Contains(c, httpapi.VisitorMarkerCookie+"=1") || strings.Contains(c, httpapi.VisitorCookie+"=") {
		t.Fatalf("the page's cookies: %q (the visitor token must be HttpOnly, the marker readable)", c)
	}
	ref := tab.eval(`document.getElementById('okpay-chat').dataset.conversation`)
	id, ok := desk.ParseConversationRef(ref)
	if !ok {
		t.Fatalf("conversation %q", ref)
	}
	const answer = "Let us check: which email address do you sign in with?"
	if _, err := e.desk.SendMessage(e.ctx, desk.Agent(1), id, desk.MessageInput{Body: answer}); err != nil {
		t.Fatal(err)
	}
	tab.until("the visitor sees the answer", `(document.querySelector('[data-testid="chat-message"][data-seq="2"] .chat-body') || {}).textContent === `+jsString(answer))
	// The visitor leaves an email for the replies: a bad one is refused
	// in the widget (a 422 the page expects), a good one gets a
	// confirmation link by mail.
	tab.problems.expect(base + "/api/v1/conversations/" + ref + "/contact")
	tab.do("a bad email", chromedp.WaitVisible(sel("chat-contact")), chromedp.SendKeys(sel("chat-contact-email"), "li.wei at example", chromedp.NodeVisible),
		chromedp.Click(sel("chat-contact-submit"), chromedp.NodeVisible))
	tab.until("the widget says why", `(e => !e.hidden && e.textContent !== '')(document.querySelector('[data-testid="chat-contact-error"]'))`)
	tab.do("a good email", chromedp.SetValue(sel("chat-contact-email"), "li.wei@example.cn"), chromedp.Click(sel("chat-contact-submit"), chromedp.NodeVisible))
	pending := e.text(i18n.En, "deskcontact.widget.pending", "Email", "li.wei@example.cn")
	tab.until("the widget says a link was sent", `(e => !e.hidden && e.dataset.confirmed === 'false' && e.textContent.includes(`+jsString(pending)+`))(document.querySelector('[data-testid="chat-contact-state"]')) &&
		document.querySelector('[data-testid="chat-contact"]').hidden`)
	if m := e.waitMail("li.wei@example.cn", desk.NoteContactConfirm, ""); !strings.Contains(m.Body, base+desk.ContactPath) {
		t.Fatalf("the confirmation mail: %q", m.Body)
	}
	if got, err := ve.Of(e.ctx, desk.Agent(1), id); err != nil || got == nil || got.Email != "li.wei@example.cn" || got.Confirmed() {
		t.Fatalf("the address left: %+v %v", got, err)
	}
	tab.do("close the chat", chromedp.Click(sel("chat-close"), chromedp.NodeVisible))

	// The browser signs in (its session cookie, from a sign-up done in Go).
	cust := e.client()
	acct := e.signUp(cust)
	user := e.user(acct)
	yes := true
	if _, err := chromedp.Call(tab.ctx, network.SetCookie, network.SetCookieParams{Name: "__Host-session", Value: cust.cookie("__Host-session"),
		URL: base + "/", Path: "/", Secure: &yes, HTTPOnly: &yes, SameSite: network.CookieSameSiteLax}); err != nil {
		t.Fatal(err)
	}
	tab.open("/account") // the chat is closed: the widget claims on its own
	tab.until("the claim clears the marker", `!document.cookie.includes('`+httpapi.VisitorMarkerCookie+`=')`)
	c, err := e.desk.Conversation(e.ctx, desk.Agent(1), id)
	if err != nil || c.CustomerID != user.ID || c.VisitorID != "" {
		t.Fatalf("after sign-in the conversation is %+v (%v), want the customer's %d", c, err, user.ID)
	}
	// Opened, the chat shows the conversation, now the customer's, with
	// both messages.
	tab.do("open the chat", chromedp.Click(sel("chat-open"), chromedp.NodeVisible))
	tab.until("the customer's chat shows both messages", `document.getElementById('okpay-chat').dataset.conversation === '`+ref+`' &&
		document.querySelectorAll('[data-testid="chat-message"]').length === 2`)
	var got [][2]string
	if err := json.Unmarshal([]byte(tab.eval(messagesJS)), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != [2]string{"1", first} || got[1] != [2]string{"2", answer} {
		t.Fatalf("the customer's messages: %v", got)
	}
	// A customer is emailed at the account's address: no email form.
	if tab.eval(`String(document.querySelector('[data-testid="chat-contact"]') === null)`) != "true" {
		t.Fatal("a signed-in customer is offered the visitor's email form")
	}
	tab.check("end")
}

// TestBrowserDeskVisitorLost: a visitor's browser loses its visitor
// cookie (cleared, or past its 30 days) while the chat is open. The next
// message is refused (404: the desk cannot tell the browser from a
// stranger now) and the widget goes back to its start, saying
// why in the page's language, instead of a bare error; a new chat then
// works.
func TestBrowserDeskVisitorLost(t *testing.T) {
	e, _, base := newDeskBrowserEnv(t)
	root := browsertest.NewWithTimeout(t, 3*time.Minute)
	tab := newDeskTab(t, root, "visitor", base)

	tab.open("/")
	tab.do("open the chat", chromedp.Click(sel("chat-open"), chromedp.NodeVisible))
	tab.do("pick a category", chromedp.WaitVisible(sel("chat-prechat")), chromedp.Click(sel("chat-category-account"), chromedp.NodeVisible))
	const first = "Where is my deposit?"
	tab.do("write", chromedp.SendKeys(sel("chat-first"), first, chromedp.NodeVisible), chromedp.Click(sel("chat-start"), chromedp.NodeVisible))
	tab.until("the first message shows", `(document.querySelector('[data-testid="chat-message"][data-seq="1"] .chat-body') || {}).textContent === `+jsString(first))
	ref := tab.eval(`document.getElementById('okpay-chat').dataset.conversation`)

	// The browser loses the visitor cookie.
	if _, err := chromedp.Call(tab.ctx, network.DeleteCookies, network.DeleteCookiesParams{Name: httpapi.VisitorCookie, URL: base + "/"}); err != nil {
		t.Fatal(err)
	}
	// Whichever request of the widget comes first is refused: the
	// message sent here, or a read receipt or catch-up of its own.
	for _, p := range []string{"/messages", "/read", "", "/messages?after_seq=1"} {
		tab.problems.expect(base + "/api/v1/conversations/" + ref + p)
	}
	tab.eval(`(() => {
		if (document.querySelector('[data-testid="chat-conversation"]').hidden) { return 'gone already'; }
		document.querySelector('[data-testid="chat-input"]').value = 'Any news?';
		document.querySelector('[data-testid="chat-send"]').click();
		return 'sent';
	})()`)
	tab.until("the widget is back at its start, saying why", `!document.querySelector('[data-testid="chat-prechat"]').hidden &&
		document.querySelector('[data-testid="chat-conversation"]').hidden &&
		(e => !e.hidden && e.textContent === `+jsString(e.text(i18n.En, "chat.conn.visitor_lost"))+`)(document.querySelector('[data-testid="chat-prechat-error"]'))`)

	// A new chat starts (and gets a new cookie).
	tab.do("pick a category", chromedp.Click(sel("chat-category-transaction"), chromedp.NodeVisible))
	const again = "Starting over: where is my deposit?"
	tab.fill("chat-first", again)
	tab.do("start", chromedp.Click(sel("chat-start"), chromedp.NodeVisible))
	tab.until("the new conversation shows", `document.getElementById('okpay-chat').dataset.conversation !== '' &&
		document.getElementById('okpay-chat').dataset.conversation !== '`+ref+`' &&
		(document.querySelector('[data-testid="chat-message"][data-seq="1"] .chat-body') || {}).textContent === `+jsString(again))
	tab.until("the notice is gone", `document.querySelector('[data-testid="chat-prechat-error"]').hidden`)
	tab.check("end")
}

// TestBrowserChatLink: the link of an unread-reply email (/?chat=cnv_…)
// opens the chat on that conversation, not on the customer's newest one
// (the reply it announced could not be reached); without the link the
// chat shows the newest conversation not closed.
func TestBrowserChatLink(t *testing.T) {
	e, _, base := newDeskBrowserEnv(t)
	tab := newCustomerTab(t, e, base)

	tab.open("/account")
	tab.do("open the chat", chromedp.Click(sel("chat-open"), chromedp.NodeVisible))
	tab.do("pick a category", chromedp.WaitVisible(sel("chat-prechat")), chromedp.Click(sel("chat-category-transaction"), chromedp.NodeVisible))
	tab.do("write", chromedp.SendKeys(sel("chat-first"), "Where is my refund?", chromedp.NodeVisible), chromedp.Click(sel("chat-start"), chromedp.NodeVisible))
	tab.until("the conversation starts", `(document.getElementById('okpay-chat').dataset.conversation || '').startsWith('cnv_')`)
	// No agent is online: the queue line says the answer comes later,
	// here and by email (a customer), instead of estimating a wait.
	tab.until("the queue line says nobody is online", `(() => { const q = document.querySelector('[data-testid="chat-queue"]');
		return !q.hidden && q.textContent.includes('No agent is online right now') && q.textContent.includes('email you'); })()`)
	first := tab.eval(`document.getElementById('okpay-chat').dataset.conversation`)
	id, ok := desk.ParseConversationRef(first)
	if !ok {
		t.Fatalf("conversation %q", first)
	}
	c, err := e.desk.Conversation(e.ctx, desk.System, id)
	if err != nil {
		t.Fatal(err)
	}
	// A newer conversation of the same customer (an email, say).
	newer, err := e.desk.StartConversation(e.ctx, desk.Customer(c.CustomerID), desk.StartInput{Category: desk.CategoryAccount, Lang: i18n.En, Body: "A newer question"})
	if err != nil {
		t.Fatal(err)
	}
	// The chat was open: on the next page it opens by itself (a click on
	// the launcher would close it), shows the newest conversation and
	// follows it live.
	tab.open("/account")
	tab.until("the newest shows, live", `document.getElementById('okpay-chat').dataset.conversation === `+jsString(desk.ConversationRef(newer.ID))+
		` && !document.querySelector('[data-testid="chat-panel"]').hidden && document.querySelector('[data-testid="chat-conn"]').dataset.state === 'live'`)
	tab.open("/?chat=" + first)
	tab.until("the linked one shows", `document.getElementById('okpay-chat').dataset.conversation === `+jsString(first)+
		` && !document.querySelector('[data-testid="chat-panel"]').hidden`)
	tab.until("with its messages", `[...document.querySelectorAll('[data-testid="chat-message"] .chat-body')].some(b => b.textContent === 'Where is my refund?')`)
	// No page problem, but for a socket cut while connecting as the test
	// moves on to the next page (a warning the browser logs).
	for _, p := range tab.problems.take() {
		if !strings.Contains(p, "WebSocket") {
			t.Errorf("customer: %s", p)
		}
	}

	// Replies while the chat is closed: the launcher counts them, on the
	// next page (and every 30 s); opening the chat reads them.
	tab.do("close the chat", chromedp.Click(sel("chat-open"), chromedp.NodeVisible))
	unreadAfterLoad := func(what string) string {
		t.Helper()
		tab.open("/account")
		tab.until(what+": checked", `(document.querySelector('[data-testid="chat-unread"]').dataset.checks || '0') !== '0'`)
		return tab.eval(`(() => { const u = document.querySelector('[data-testid="chat-unread"]');
			return u.hidden ? 'hidden' : u.textContent + '|' + u.firstChild.textContent; })()`)
	}
	if got := unreadAfterLoad("nothing new"); got != "hidden" {
		t.Errorf("with nothing unread the launcher shows %q", got)
	}
	for i, body := range []string{"We are looking into it.", "Found it: the refund left today."} {
		if _, err := e.desk.SendMessage(e.ctx, desk.Agent(77), newer.ID, desk.MessageInput{Body: body}); err != nil {
			t.Fatal(err)
		}
		want := []string{"11 new reply|1", "22 new replies|2"}[i]
		if got := unreadAfterLoad(body); got != want {
			t.Errorf("after %d replies the launcher shows %q, want %q (count, the words for screen readers)", i+1, got, want)
		}
	}
	tab.do("open the chat to read them", chromedp.Click(sel("chat-open"), chromedp.NodeVisible))
	tab.until("the replies show, the count goes", `[...document.querySelectorAll('[data-testid="chat-message"] .chat-body')].some(b => b.textContent === 'Found it: the refund left today.')`+
		` && document.querySelector('[data-testid="chat-unread"]').hidden`)
	waitRead := time.Now().Add(10 * time.Second)
	for {
		reads, err := e.desk.Reads(e.ctx, desk.Customer(c.CustomerID), newer.ID)
		if err != nil {
			t.Fatal(err)
		}
		read := false
		for _, r := range reads {
			read = read || (r.Reader != desk.KindAgent && r.Seq >= 3)
		}
		if read {
			break
		}
		if time.Now().After(waitRead) {
			t.Fatalf("the customer's read mark did not reach the replies: %+v", reads)
		}
		time.Sleep(50 * time.Millisecond)
	}
	tab.do("close it again", chromedp.Click(sel("chat-open"), chromedp.NodeVisible))
	if got := unreadAfterLoad("all read"); got != "hidden" {
		t.Errorf("after reading, the launcher shows %q", got)
	}

	// On a phone the chat's box spans the bottom of the screen: only its
	// launcher takes taps, not the empty rest over the page's buttons
	// (a tap on "Open my account" landed on the chat).
	tab.do("phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	tab.open("/account")
	tab.until("the launcher shows", `!!document.querySelector('[data-testid="chat-open"]') && document.querySelector('[data-testid="chat-open"]').getBoundingClientRect().width > 0`)
	if got := tab.eval(`(() => {
		const chat = document.getElementById('okpay-chat'), l = document.querySelector('[data-testid="chat-open"]').getBoundingClientRect();
		const y = l.top + l.height / 2;
		const left = document.elementFromPoint(20, y), onLauncher = document.elementFromPoint(l.left + l.width / 2, y);
		return String(chat.contains(left)) + ' ' + String(chat.contains(onLauncher)) + ' ' + String(chat.getBoundingClientRect().left < 30);
	})()`); got != "false true true" {
		t.Errorf("on a phone: a tap left of the launcher lands on the chat, the launcher takes taps, the box spans the width: %s, want false true true", got)
	}
}

// TestBrowserChatRatingOnShortScreen: on a phone held sideways (844 ×
// 390) the resolved conversation's rating form, below the messages, the
// status and the composer, can be scrolled to and used: the panel's
// conversation scrolls as a whole (the form was cut off under the
// composer). The rating is sent and thanked for.
func TestBrowserChatRatingOnShortScreen(t *testing.T) {
	e, _, base := newDeskBrowserEnv(t)
	tab := newCustomerTab(t, e, base)
	tab.do("phone sideways", chromedp.EmulateViewport(844, 390, chromedp.EmulateMobile))
	tab.open("/account")
	tab.do("open the chat", chromedp.Click(sel("chat-open"), chromedp.NodeVisible))
	tab.do("pick a category", chromedp.WaitVisible(sel("chat-prechat")), chromedp.Click(sel("chat-category-account"), chromedp.NodeVisible))
	tab.do("write", chromedp.SendKeys(sel("chat-first"), "Please close my question", chromedp.NodeVisible), chromedp.Click(sel("chat-start"), chromedp.NodeVisible))
	tab.until("the conversation starts", `(document.getElementById('okpay-chat').dataset.conversation || '').startsWith('cnv_')`)
	id, ok := desk.ParseConversationRef(tab.eval(`document.getElementById('okpay-chat').dataset.conversation`))
	if !ok {
		t.Fatal("no conversation")
	}
	tab.until("live", `document.querySelector('[data-testid="chat-conn"]').dataset.state === 'live'`)
	if _, err := e.desk.SendMessage(e.ctx, desk.Agent(77), id, desk.MessageInput{Body: "Done: anything else, write again."}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.desk.SetStatus(e.ctx, desk.Agent(77), id, desk.StatusResolved, time.Time{}); err != nil {
		t.Fatal(err)
	}
	tab.until("the rating form shows", `!document.querySelector('[data-testid="chat-csat"]').hidden`)
	// The send button is on screen, or inside a box the customer can
	// scroll (overflow auto or scroll: the panel's overflow is hidden,
	// which only a script can scroll); scrolled as far as a thumb would,
	// it is on screen and nothing covers it.
	if got := tab.eval(`(() => {
		const b = document.querySelector('[data-testid="chat-csat-submit"]'), panel = document.querySelector('[data-testid="chat-panel"]');
		for (let el = b.parentElement; el && el !== panel; el = el.parentElement) {
			const o = getComputedStyle(el).overflowY;
			if ((o === 'auto' || o === 'scroll') && el.scrollHeight > el.clientHeight) { el.scrollTop = el.scrollHeight; break; }
		}
		const r = b.getBoundingClientRect(), p = panel.getBoundingClientRect();
		const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
		return String(r.bottom <= p.bottom + 0.5 && r.top >= p.top - 0.5 && hit === b);
	})()`); got != "true" {
		t.Fatalf("the rating form's button cannot be reached on a short screen")
	}
	tab.do("rate 5", chromedp.Click(sel("chat-csat-5"), chromedp.NodeVisible), chromedp.Click(sel("chat-csat-submit"), chromedp.NodeVisible))
	tab.until("thanked", `(d => !d.hidden && d.textContent.length > 0)(document.querySelector('[data-testid="chat-csat-done"]'))`)
	for _, p := range tab.problems.take() {
		t.Errorf("customer: %s", p)
	}
}

// newCustomerTab signs a new customer up and opens a browser tab signed
// in as them (its own browser, three minutes at most).
func newCustomerTab(t *testing.T, e *staffEnv, base string) *deskTab {
	t.Helper()
	cust := e.client()
	e.signUp(cust)
	yes := true
	root := browsertest.NewWithTimeout(t, 3*time.Minute)
	return newDeskTab(t, root, "customer", base,
		network.SetCookieParams{Name: "__Host-session", Value: cust.cookie("__Host-session"), Path: "/", Secure: &yes, HTTPOnly: &yes, SameSite: network.CookieSameSiteLax},
		network.SetCookieParams{Name: "__Host-did", Value: cust.cookie("__Host-did"), Path: "/", Secure: &yes, HTTPOnly: &yes, SameSite: network.CookieSameSiteLax})
}
