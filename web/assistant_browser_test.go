package web_test

import (
	"context"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/okpay/okpay/assistant"
	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/desk/realtime"
	"github.com/okpay/okpay/help"
	"github.com/okpay/okpay/httpapi"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/internal/browsertest"
	"github.com/okpay/okpay/wallet"
)

// assistantEnv is the withdrawal environment (wallet, withdrawals, the
// sandbox provider, a real HTTP server) with the support desk, the help
// center, the assistant and the chat widget's self-service on, wired as
// serve wires them (cmd/okpay/help.go).
type assistantEnv struct {
	*walletEnv
	wd   *wallet.Withdrawals
	desk *desk.Service
	help *help.Service
	asst *assistant.Service
	base string
}

func newAssistantEnv(t *testing.T) *assistantEnv {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ae := &assistantEnv{base: "http://localhost:" + port}
	api := func(we *walletEnv, cfg *httpapi.Config) error {
		id := we.id
		wd, err := wallet.NewWithdrawals(we.w, wallet.WithdrawalDeps{Methods: we.pm, Customers: id}, wallet.WithdrawalConfig{})
		if err != nil {
			return err
		}
		ae.wd = wd
		we.pm.SetInUse(wd)
		id.OnFreeze(wd.FreezeHook)
		if err := we.server.EnableWithdrawals(wd); err != nil {
			return err
		}
		cfg.Withdrawals = wd
		cfg.PSPWebhook.OwnTx = append(cfg.PSPWebhook.OwnTx, wd.ApplyProviderEvent)
		d := id.Deps
		if ae.desk, err = desk.New(desk.Deps{DB: d.DB, Clock: d.Clock, IDs: d.IDs, Bus: realtime.NewMemory(0)}, desk.Config{}); err != nil {
			return err
		}
		if err := we.server.EnableDesk(ae.desk); err != nil {
			return err
		}
		t.Cleanup(we.server.CloseDesk)
		if ae.help, err = help.New(help.Config{DB: d.DB, Clock: d.Clock, IDs: d.IDs, Contacts: help.Contacts{Email: "care@okpay.test", Phone: "+86 400 123 4567"}}); err != nil {
			return err
		}
		if _, err := ae.help.LoadShipped(context.Background()); err != nil {
			return err
		}
		if err := we.server.EnableHelp(ae.help); err != nil {
			return err
		}
		if ae.asst, err = assistant.New(assistant.Config{DB: d.DB, Clock: d.Clock, IDs: d.IDs, Catalog: we.cat, Help: ae.help, Desk: ae.desk,
			Facts: &assistant.WalletFacts{Wallet: we.w, Withdrawals: wd, Identity: id}}); err != nil {
			return err
		}
		if err := we.server.EnableChatSelfService(); err != nil {
			return err
		}
		cfg.Desk, cfg.Assistant = ae.desk, ae.asst
		return nil
	}
	ae.walletEnv = newWalletEnvWith(t, walletEnvOptions{listener: ln, origin: ae.base, secret: withdrawWebhookSecret, fees: withdrawFees, api: api,
		start: func(ctx context.Context) func() {
			ae.wd.Start(ctx)
			return ae.wd.Close
		}})
	return ae
}

// TestBrowserAssistant, in real Chromium, every wait 60 s:
//
//  1. A visitor searches the help center in Chinese and finds the
//     withdrawal article; in the chat widget, typing "我的提现到哪了"
//     suggests it, and "This solved it" ends the attempt, counted as
//     deflected. Asked the same, the assistant asks the visitor to sign
//     in and tells nothing of any account. Asked something it does not
//     understand, it offers a person; one click hands the exchange over.
//  2. A signed-in customer with a withdrawal under review asks the
//     assistant "我的提现到哪了" and gets its real amount, status and
//     expected dates, with links to its page and the article.
//  3. The customer asks for a person: the desk conversation opens in the
//     widget, and the agent (the desk as an agent reads it) sees the
//     whole exchange.
func TestBrowserAssistant(t *testing.T) {
	e := newAssistantEnv(t)
	base := e.base

	// The customer: an account, money, a verified card past its first
	// day, and a withdrawal waiting for review (through the pages).
	cust := e.client()
	alice := e.signUp(cust)
	e.fund(alice, cny(1_000_00))
	card := e.addCard(alice, "4242424242424242")
	e.clock.Advance(25 * time.Hour)
	e.logIn(cust, alice)
	after := e.lastMailID()
	codePage := withdrawVia(t, cust, card.PublicID(), "500", "CNY")
	sms := e.waitMail(alice.phone, "code_txn", after)
	ref := txnRef(t, codePage)
	wantRedirect(t, cust.post(codePage, url.Values{"code": {codeRE.FindStringSubmatch(sms.Body)[1]}}), "/wallet/withdrawals/"+ref)
	id, _ := wallet.ParseWithdrawalRef(ref)
	wd, err := e.wd.Find(e.ctx, e.walletUser(alice), id)
	if err != nil || wd.Txn.Status != wallet.StatusPendingReview {
		t.Fatalf("the withdrawal: %+v %v", wd, err)
	}

	root := browsertest.NewWithTimeout(t, 5*time.Minute)
	yes := true

	// 1. A visitor, in Chinese.
	vis := newDeskTab(t, root, "visitor", base, network.SetCookieParams{Name: i18n.CookieName, Value: string(i18n.ZhCN), Path: "/"})
	vis.open("/help")
	vis.do("search in Chinese", chromedp.WaitVisible(sel("help-q")), chromedp.SendKeys(sel("help-q"), "提现要多久到账"))
	vis.clickLoad("search", sel("help-search-submit"))
	vis.until("the withdrawal article is the first hit", `(document.querySelector('[data-testid="help-hit"]') || {dataset: {}}).dataset.slug === 'withdraw-money'`)
	vis.clickLoad("open it", chromedp.CSS(`[data-testid="help-hit"] a`))
	vis.until("the article shows", `!!document.querySelector('[data-testid="help-article"]')`)

	vis.do("open the chat", chromedp.Click(sel("chat-open"), chromedp.NodeVisible), chromedp.WaitVisible(sel("chat-prechat")))
	vis.do("type the question", chromedp.SendKeys(sel("chat-first"), "我的提现到哪了", chromedp.NodeVisible))
	vis.until("the withdrawal article is suggested", `!!document.querySelector('[data-testid="chat-suggestion"][data-slug="withdrawal-review"]')`)
	vis.do("open the suggestion", chromedp.Click(chromedp.CSS(`[data-testid="chat-suggestion"][data-slug="withdrawal-review"]`), chromedp.NodeVisible))
	zhArticle, err := e.help.Published(e.ctx, "withdrawal-review", i18n.ZhCN)
	if err != nil {
		t.Fatal(err)
	}
	vis.until("the article's summary shows", `document.querySelector('[data-testid="chat-article-title"]').textContent === `+jsString(zhArticle.Title))
	vis.do("this solved it", chromedp.Click(sel("chat-solved"), chromedp.NodeVisible))
	vis.until("the attempt ends", `!document.querySelector('[data-testid="chat-solved-thanks"]').hidden && document.getElementById('okpay-chat').dataset.deflected === `+jsString(zhArticle.Ref()))
	if c := vis.eval(`document.querySelector('[data-testid="chat-first"]').value + '|' + document.getElementById('okpay-chat').dataset.conversation`); c != "|" {
		t.Errorf("after This solved it: %q", c)
	}
	defl, err := e.help.Deflections(e.ctx, 1)
	if err != nil || len(defl) != 1 || defl[0].ArticleID != zhArticle.ID || defl[0].Count != 1 {
		t.Fatalf("deflections: %+v %v", defl, err)
	}
	if n, _ := e.desk.Conversations(e.ctx, desk.Agent(1), desk.ConversationFilter{Limit: 10}); len(n) != 0 {
		t.Fatalf("a conversation was started: %d", len(n))
	}
	// The visitor asks the assistant: a sign-in link, no data.
	vis.do("ask as a visitor", chromedp.SendKeys(sel("chat-first"), "我的提现到哪了", chromedp.NodeVisible), chromedp.Click(sel("chat-ask"), chromedp.NodeVisible))
	vis.until("the answer shows", `!!document.querySelector('[data-testid="chat-answer"]')`)
	if got := vis.eval(`document.querySelector('[data-testid="chat-answer"]').textContent`); !strings.Contains(got, e.text(i18n.ZhCN, "assistant.sign_in")) ||
		strings.Contains(got, "500.00") || strings.Contains(got, e.text(i18n.ZhCN, "walletui.status.pending_review")) {
		t.Errorf("the visitor was answered %q", got)
	}
	if got := vis.eval(`[...document.querySelectorAll('[data-testid="chat-assistant-link"]')].map(a => a.getAttribute('href')).join(' ')`); !strings.Contains(got, "/login") {
		t.Errorf("the visitor's links: %q", got)
	}
	// Something the assistant does not understand: it offers a person
	// and waits; one click on the offer opens the conversation with the
	// questions (the whole exchange is the agents' note).
	vis.do("ask something unclear", chromedp.SendKeys(sel("chat-first"), "推荐一家附近的餐厅", chromedp.NodeVisible), chromedp.Click(sel("chat-ask"), chromedp.NodeVisible))
	vis.until("the offer shows", `!!document.querySelector('[data-testid="chat-offer-human"]')`)
	if got := vis.eval(`document.getElementById('okpay-chat').dataset.intent + '|' + (document.getElementById('okpay-chat').dataset.conversation || '')`); got != "unknown|" {
		t.Errorf("after an unclear question: %q", got)
	}
	vis.do("accept the offer", chromedp.Click(sel("chat-offer-human"), chromedp.NodeVisible))
	vis.until("the conversation opens", `!document.querySelector('[data-testid="chat-conversation"]').hidden && (document.getElementById('okpay-chat').dataset.conversation || '').startsWith('cnv_')`)
	vcv, ok := desk.ParseConversationRef(vis.eval(`document.getElementById('okpay-chat').dataset.conversation`))
	if !ok {
		t.Fatal("the visitor's conversation")
	}
	if vm, err := e.desk.Messages(e.ctx, desk.Agent(1), vcv, 0, 10); err != nil || len(vm) != 2 || !strings.Contains(vm[0].Body, "推荐一家附近的餐厅") ||
		!strings.Contains(vm[1].Body, "客户：推荐一家附近的餐厅") || !strings.Contains(vm[1].Body, "客户：我的提现到哪了") || !vm[1].Internal {
		t.Errorf("the visitor's handover: %v %v", vm, err)
	}
	vis.check("visitor")

	// 2. The customer, signed in, in Chinese.
	ct := newDeskTab(t, root, "customer", base,
		network.SetCookieParams{Name: "__Host-session", Value: cust.cookie("__Host-session"), Path: "/", Secure: &yes, HTTPOnly: &yes, SameSite: network.CookieSameSiteLax},
		network.SetCookieParams{Name: "__Host-did", Value: cust.cookie("__Host-did"), Path: "/", Secure: &yes, HTTPOnly: &yes, SameSite: network.CookieSameSiteLax},
		network.SetCookieParams{Name: i18n.CookieName, Value: string(i18n.ZhCN), Path: "/"})
	ct.open("/account")
	ct.do("open the chat", chromedp.Click(sel("chat-open"), chromedp.NodeVisible), chromedp.WaitVisible(sel("chat-prechat")))
	ct.do("ask", chromedp.SendKeys(sel("chat-first"), "我的提现到哪了", chromedp.NodeVisible), chromedp.Click(sel("chat-ask"), chromedp.NodeVisible))
	ct.until("the answer shows", `!!document.querySelector('[data-testid="chat-answer"]')`)
	answer := ct.eval(`document.querySelector('[data-testid="chat-answer"] .chat-body').textContent`)
	zhDate := func(t time.Time) string { return t.Format("2006年1月2日") }
	for _, want := range []string{"¥500.00", e.text(i18n.ZhCN, "walletui.status.pending_review"), zhDate(wd.EarliestAt), zhDate(wd.LatestAt)} {
		if !strings.Contains(answer, want) {
			t.Errorf("the answer %q lacks %q", answer, want)
		}
	}
	links := ct.eval(`[...document.querySelectorAll('[data-testid="chat-answer"] [data-testid="chat-assistant-link"]')].map(a => a.getAttribute('href')).join(' ')`)
	for _, want := range []string{"/wallet/withdrawals/" + ref, "/help/withdrawal-review"} {
		if !strings.Contains(links, want) {
			t.Errorf("the answer's links %q lack %s", links, want)
		}
	}
	if got := ct.eval(`document.getElementById('okpay-chat').dataset.intent`); got != string(assistant.IntentWithdrawalStatus) {
		t.Errorf("intent %q", got)
	}
	if wd2, _ := e.wd.Find(e.ctx, e.walletUser(alice), id); wd2.Txn.Status != wallet.StatusPendingReview {
		t.Errorf("the withdrawal changed: %s", wd2.Txn.Status)
	}

	// 3. A person, please: the conversation opens with the exchange.
	ct.do("ask for a person", chromedp.SendKeys(sel("chat-first"), "转人工", chromedp.NodeVisible), chromedp.Click(sel("chat-ask"), chromedp.NodeVisible))
	ct.until("the conversation opens", `!document.querySelector('[data-testid="chat-conversation"]').hidden && document.getElementById('okpay-chat').dataset.conversation.startsWith('cnv_')`)
	ct.until("its first message is the customer's questions", `((document.querySelector('[data-testid="chat-message"][data-seq="1"] .chat-body') || {}).textContent || '') === '我的提现到哪了\n转人工'`)
	convRef := ct.eval(`document.getElementById('okpay-chat').dataset.conversation`)
	convID, ok := desk.ParseConversationRef(convRef)
	if !ok {
		t.Fatalf("conversation %q", convRef)
	}
	msgs, err := e.desk.Messages(e.ctx, desk.Agent(1), convID, 0, 10)
	if err != nil || len(msgs) != 2 || !msgs[1].Internal {
		t.Fatalf("the agent's view: %v %v", msgs, err)
	}
	for _, want := range []string{e.text(i18n.ZhCN, "assistant.transcript.header"), "客户：我的提现到哪了", "¥500.00",
		e.text(i18n.ZhCN, "walletui.status.pending_review"), zhDate(wd.LatestAt), "客户：转人工"} {
		if !strings.Contains(msgs[1].Body, want) {
			t.Errorf("the agent's transcript lacks %q:\n%s", want, msgs[1].Body)
		}
	}
	// The note is not the customer's to see.
	if n := ct.eval(`String(document.querySelectorAll('[data-testid="chat-message"]').length)`); n != "1" {
		t.Errorf("the customer's chat shows %s messages, want their own one", n)
	}
	if cv, err := e.desk.Conversation(e.ctx, desk.Agent(1), convID); err != nil || cv.CustomerID != e.walletUser(alice) || cv.Category != desk.CategoryTransaction {
		t.Errorf("the conversation: %+v %v", cv, err)
	}
	ct.check("customer")
}
