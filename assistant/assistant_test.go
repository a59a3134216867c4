package assistant_test

import (
	"context"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/okpay/okpay/assistant"
	"github.com/okpay/okpay/clock"
	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/desk/realtime"
	"github.com/okpay/okpay/help"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
	"github.com/okpay/okpay/wallet"
)

var t0 = time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)

// fakeFacts serves one customer's data and counts every read.
type fakeFacts struct {
	user  int64
	reads atomic.Int64
	wd    *assistant.Movement
	frz   assistant.AccountState
	bals  []money.Amount
}

func (f *fakeFacts) check(userID int64) {
	f.reads.Add(1)
	if userID != f.user {
		panic("facts read for another user")
	}
}

func (f *fakeFacts) Latest(_ context.Context, userID int64, t wallet.Type, _ i18n.Lang) (*assistant.Movement, error) {
	f.check(userID)
	if t == wallet.TypeWithdrawal {
		return f.wd, nil
	}
	return nil, nil
}

func (f *fakeFacts) LatestProblem(_ context.Context, userID int64, _ i18n.Lang) (*assistant.Movement, error) {
	f.check(userID)
	return &assistant.Movement{Type: wallet.TypeDeposit, Ref: "txn_dep", Amount: money.New(20000, "CNY"), Status: wallet.StatusFailed,
		CreatedAt: t0, Reason: "The card issuer declined the charge.", Href: "/wallet/transactions/txn_dep"}, nil
}

func (f *fakeFacts) Balances(_ context.Context, userID int64) ([]money.Amount, error) {
	f.check(userID)
	return f.bals, nil
}

func (f *fakeFacts) Account(_ context.Context, userID int64) (*assistant.AccountState, error) {
	f.check(userID)
	a := f.frz
	return &a, nil
}

type env struct {
	ctx   context.Context
	svc   *assistant.Service
	desk  *desk.Service
	facts *fakeFacts
	cat   *i18n.Catalog
}

func newEnv(t *testing.T, db *sqldb.DB) *env {
	t.Helper()
	ctx := context.Background()
	clk := clock.NewManual(t0)
	seq := &ids.Sequence{}
	cat, err := i18n.New()
	if err != nil {
		t.Fatal(err)
	}
	hs, err := help.New(help.Config{DB: db, Clock: clk, IDs: seq, Contacts: help.Contacts{Email: "care@okpay.test", Phone: "+86 400 000 0000"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hs.LoadShipped(ctx); err != nil {
		t.Fatal(err)
	}
	ds, err := desk.New(desk.Deps{DB: db, Clock: clk, IDs: seq, Bus: realtime.NewMemory(0)}, desk.Config{})
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeFacts{user: 42, wd: &assistant.Movement{Type: wallet.TypeWithdrawal, Ref: "txn_abc", Amount: money.New(50000, "CNY"),
		Status: wallet.StatusPendingReview, CreatedAt: t0, EarliestAt: time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC),
		LatestAt: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), Href: "/wallet/withdrawals/txn_abc"}}
	svc, err := assistant.New(assistant.Config{DB: db, Clock: clk, IDs: seq, Catalog: cat, Help: hs, Desk: ds, Facts: f})
	if err != nil {
		t.Fatal(err)
	}
	return &env{ctx: ctx, svc: svc, desk: ds, facts: f, cat: cat}
}

var customer = assistant.Caller{Viewer: desk.Customer(42), Owner: "usr_42"}

func visitor(n string) assistant.Caller {
	id := "visitor-" + strings.Repeat(n, 20)
	return assistant.Caller{Viewer: desk.Visitor(id), Owner: "vis_" + id}
}

func hasLink(r *assistant.Reply, href string) bool {
	for _, l := range r.Links {
		if l.Href == href {
			return true
		}
	}
	return false
}

// TestAskWithCustomerData: a signed-in customer's "where is my
// withdrawal" is answered with the latest withdrawal's amount, status and
// expected dates, its page and the article, in both languages; a
// failure's reason and the freeze state likewise.
func TestAskWithCustomerData(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db)
		r, err := e.svc.Ask(e.ctx, customer, "我的提现到哪了", i18n.ZhCN, "")
		if err != nil {
			t.Fatal(err)
		}
		if r.Intent != assistant.IntentWithdrawalStatus || r.SignIn || r.Conversation != nil {
			t.Fatalf("reply %+v", r)
		}
		for _, want := range []string{"¥500.00", "审核中", "2026年11月27日", "2026年12月1日"} {
			if !strings.Contains(r.Text, want) {
				t.Errorf("zh answer %q lacks %q", r.Text, want)
			}
		}
		if !hasLink(r, "/wallet/withdrawals/txn_abc") || !hasLink(r, "/help/withdrawal-review") {
			t.Errorf("links %+v", r.Links)
		}
		r, err = e.svc.Ask(e.ctx, customer, "where is my withdrawal?", i18n.En, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"CN¥500.00", "Under review", "27 Nov 2026", "1 Dec 2026"} {
			if !strings.Contains(r.Text, want) {
				t.Errorf("en answer %q lacks %q", r.Text, want)
			}
		}
		r, err = e.svc.Ask(e.ctx, customer, "why did my deposit fail", i18n.En, "")
		if err != nil {
			t.Fatal(err)
		}
		if r.Intent != assistant.IntentRejectedOrFailed || !strings.Contains(r.Text, "The card issuer declined the charge.") || !strings.Contains(r.Text, "Failed") {
			t.Errorf("failure answer %+v", r)
		}
		e.facts.frz = assistant.AccountState{Frozen: true, FrozenAt: t0.Add(-48 * time.Hour)}
		r, err = e.svc.Ask(e.ctx, customer, "账户为什么被冻结", i18n.ZhCN, "")
		if err != nil {
			t.Fatal(err)
		}
		if r.Intent != assistant.IntentAccountFrozen || !strings.Contains(r.Text, "2026年11月24日") || !hasLink(r, "/help/account-stolen") {
			t.Errorf("frozen answer %+v", r)
		}
		// The balance: what each wallet holding money can spend, and the
		// wallet page; none yet, said so.
		r, err = e.svc.Ask(e.ctx, customer, "我的余额是多少", i18n.ZhCN, "")
		if err != nil {
			t.Fatal(err)
		}
		if r.Intent != assistant.IntentBalance || r.Text != e.cat.T(i18n.ZhCN, "assistant.none.balance", nil) || !hasLink(r, "/wallet") {
			t.Errorf("empty balance answer %+v", r)
		}
		e.facts.bals = []money.Amount{money.New(100000, "CNY"), money.New(5025, "USD")}
		r, err = e.svc.Ask(e.ctx, customer, "what is my balance", i18n.En, "")
		if err != nil {
			t.Fatal(err)
		}
		if r.Intent != assistant.IntentBalance || r.Text != "You can spend: CN¥1,000.00, $50.25." || !hasLink(r, "/wallet") {
			t.Errorf("balance answer %+v", r)
		}
		// Fees and limits: the article, no data.
		before := e.facts.reads.Load()
		r, err = e.svc.Ask(e.ctx, customer, "手续费是多少", i18n.ZhCN, "")
		if err != nil {
			t.Fatal(err)
		}
		if r.Intent != assistant.IntentFeesLimits || !hasLink(r, "/help/fees-and-limits") || e.facts.reads.Load() != before {
			t.Errorf("fees answer %+v", r)
		}
		// Safety: the security article. Closing the account: a person,
		// offered at once. A new phone or email: the account page.
		r, err = e.svc.Ask(e.ctx, customer, "is my money safe", i18n.En, "")
		if err != nil {
			t.Fatal(err)
		}
		if r.Intent != assistant.IntentAccountSecurity || !hasLink(r, "/help/account-security") || r.OfferHandover {
			t.Errorf("safety answer %+v", r)
		}
		r, err = e.svc.Ask(e.ctx, customer, "我要注销账户", i18n.ZhCN, "")
		if err != nil {
			t.Fatal(err)
		}
		if r.Intent != assistant.IntentCloseAccount || !r.OfferHandover || !hasLink(r, assistant.HandoverPath) ||
			r.Text != e.cat.T(i18n.ZhCN, "assistant.answer.close_account", nil) {
			t.Errorf("closing answer %+v", r)
		}
		// Money wanted back (a wrong payee, a scam): a person, offered at
		// once.
		r, err = e.svc.Ask(e.ctx, customer, "I sent money to the wrong person, can I get it back?", i18n.En, "")
		if err != nil {
			t.Fatal(err)
		}
		if r.Intent != assistant.IntentRefundDispute || !r.OfferHandover || !hasLink(r, assistant.HandoverPath) ||
			r.Text != e.cat.T(i18n.En, "assistant.answer.refund_dispute", nil) || e.facts.reads.Load() != before {
			t.Errorf("refund answer %+v", r)
		}
		r, err = e.svc.Ask(e.ctx, customer, "how do I change my phone number", i18n.En, "")
		if err != nil {
			t.Fatal(err)
		}
		if r.Intent != assistant.IntentChangeContact || !hasLink(r, "/account") || e.facts.reads.Load() != before {
			t.Errorf("contact answer %+v", r)
		}
		// An article question needs no data.
		r, err = e.svc.Ask(e.ctx, customer, "怎么换银行卡", i18n.ZhCN, "")
		if err != nil {
			t.Fatal(err)
		}
		if r.Intent != assistant.IntentChangeCard || !hasLink(r, "/help/change-bank-card") || e.facts.reads.Load() != before {
			t.Errorf("card answer %+v (reads %d → %d)", r, before, e.facts.reads.Load())
		}
	})
}

// TestAskVisitorNoData: a visitor who is not signed in gets the article
// and a sign-in link, never an account's data (the facts are not read).
func TestAskVisitorNoData(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db)
		for _, q := range []string{"我的提现到哪了", "where is my transfer", "充值没到账", "why was my withdrawal rejected", "账户被冻结了", "我的余额是多少"} {
			r, err := e.svc.Ask(e.ctx, visitor("a"), q, i18n.ZhCN, "")
			if err != nil {
				t.Fatal(err)
			}
			if !r.SignIn || !hasLink(r, "/login") || r.Conversation != nil {
				t.Errorf("%s: %+v", q, r)
			}
			if strings.Contains(r.Text, "500.00") || strings.Contains(r.Text, "审核中") {
				t.Errorf("%s: a visitor was told %q", q, r.Text)
			}
		}
		if n := e.facts.reads.Load(); n != 0 {
			t.Fatalf("the facts were read %d times for a visitor", n)
		}
		if _, err := e.svc.Ask(e.ctx, visitor("a"), "", i18n.En, ""); err == nil {
			t.Error("an empty question was answered")
		}
		if _, err := e.svc.Ask(e.ctx, visitor("a"), strings.Repeat("提", assistant.MaxQuestion+1), i18n.En, ""); err == nil {
			t.Error("an over-long question was answered")
		}
	})
}

// TestHandoverTranscript: asking for a person starts a desk conversation
// whose first message, from the customer, holds their questions, and an
// internal note the whole exchange for the agent. Later turns handed over go into the same open
// conversation; an unsure answer offers a person and hands over once
// confirmed.
func TestHandoverTranscript(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db)
		if _, err := e.svc.Ask(e.ctx, customer, "我的提现到哪了", i18n.ZhCN, ""); err != nil {
			t.Fatal(err)
		}
		r, err := e.svc.Ask(e.ctx, customer, "转人工", i18n.ZhCN, "")
		if err != nil {
			t.Fatal(err)
		}
		if r.Intent != assistant.IntentTalkToHuman || r.Conversation == nil {
			t.Fatalf("no handover: %+v", r)
		}
		cv := r.Conversation
		if cv.Category != desk.CategoryTransaction || cv.CustomerID != 42 {
			t.Errorf("conversation %+v", cv)
		}
		msgs, err := e.desk.Messages(e.ctx, desk.Agent(7), cv.ID, 0, 50)
		if err != nil {
			t.Fatal(err)
		}
		// The customer's questions, from them; the whole exchange, with
		// what the assistant made of it, as a note for the agents only.
		if len(msgs) != 2 {
			t.Fatalf("%d messages", len(msgs))
		}
		if msgs[0].Author != desk.KindCustomer || msgs[0].Internal || msgs[0].Body != "我的提现到哪了\n转人工" {
			t.Errorf("the customer's message: %s %v %q", msgs[0].Author, msgs[0].Internal, msgs[0].Body)
		}
		body := msgs[1].Body
		for _, want := range []string{e.cat.T(i18n.ZhCN, "assistant.transcript.header", nil), "客户：我的提现到哪了", "withdrawal_status",
			"助手：您最近一笔提现", "¥500.00", "客户：转人工"} {
			if !strings.Contains(body, want) {
				t.Errorf("transcript lacks %q:\n%s", want, body)
			}
		}
		if msgs[1].Author != desk.KindSystem || !msgs[1].Internal {
			t.Errorf("transcript author %s, internal %v", msgs[1].Author, msgs[1].Internal)
		}
		if seen, _ := e.desk.Messages(e.ctx, customer.Viewer, cv.ID, 0, 50); len(seen) != 1 || strings.Contains(seen[0].Body, "withdrawal_status") {
			t.Errorf("the customer sees %d messages: %+v", len(seen), seen)
		}
		// Nothing is handed over twice; the next exchange continues the
		// open conversation.
		if left, _ := e.svc.Pending(e.ctx, customer.Owner); len(left) != 0 {
			t.Errorf("%d turns left", len(left))
		}
		r, err = e.svc.Ask(e.ctx, customer, "今天天气怎么样", i18n.ZhCN, "")
		if err != nil {
			t.Fatal(err)
		}
		// Unsure: the assistant offers a person and waits for the click.
		if r.Intent != assistant.IntentUnknown || r.Conversation != nil || !r.OfferHandover || !hasLink(r, assistant.HandoverPath) ||
			!strings.Contains(r.Text, e.cat.T(i18n.ZhCN, "assistant.offer_handover", nil)) {
			t.Fatalf("unsure: %+v", r)
		}
		if msgs, _ = e.desk.Messages(e.ctx, desk.Agent(7), cv.ID, 0, 50); len(msgs) != 2 {
			t.Fatalf("an unsure answer handed over: %d messages", len(msgs))
		}
		cvc, err := e.svc.Handover(e.ctx, customer, i18n.ZhCN, "")
		if err != nil || cvc.ID != cv.ID {
			t.Fatalf("the confirmed handover: %+v %v", cvc, err)
		}
		msgs, _ = e.desk.Messages(e.ctx, desk.Agent(7), cv.ID, 0, 50)
		if len(msgs) != 4 || msgs[2].Body != "今天天气怎么样" || !strings.Contains(msgs[3].Body, "客户：今天天气怎么样") || strings.Contains(msgs[3].Body, "客户：转人工") {
			t.Fatalf("second handover: %d messages, %q", len(msgs), msgs[len(msgs)-1].Body)
		}
		// A visitor's handover is the visitor's conversation.
		v := visitor("b")
		r, err = e.svc.Ask(e.ctx, v, "I want to talk to a person", i18n.En, desk.CategoryTechnical)
		if err != nil {
			t.Fatal(err)
		}
		if r.Conversation == nil || r.Conversation.CustomerID != 0 || r.Conversation.Category != desk.CategoryTechnical {
			t.Fatalf("visitor handover %+v", r.Conversation)
		}
		if _, err := e.desk.Conversation(e.ctx, v.Viewer, r.Conversation.ID); err != nil {
			t.Errorf("the visitor cannot see their conversation: %v", err)
		}
		if _, err := e.desk.Conversation(e.ctx, customer.Viewer, r.Conversation.ID); err == nil {
			t.Error("another caller sees the visitor's conversation")
		}
		// Nothing asked before: the handover says only that a person is
		// wanted.
		cv2, err := e.svc.Handover(e.ctx, visitor("c"), i18n.En, "")
		if err != nil {
			t.Fatal(err)
		}
		msgs, _ = e.desk.Messages(e.ctx, desk.Agent(7), cv2.ID, 0, 10)
		if len(msgs) != 1 || msgs[0].Body != e.cat.T(i18n.En, "assistant.widget.human", nil) || cv2.Category != desk.CategoryAccount {
			t.Errorf("an empty handover: %+v %+v", cv2, msgs)
		}
	})
}

// TestGreetingAndOffer: "hello" (and its Chinese) is answered with a
// greeting and what the assistant can do, with no handover and no offer;
// an unclear question is offered a person; an explicit request still
// hands over at once.
func TestGreetingAndOffer(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db)
		for _, q := range []struct {
			text string
			lang i18n.Lang
		}{{"hello", i18n.En}, {"hi there!", i18n.En}, {"thanks", i18n.En}, {"你好", i18n.ZhCN}, {"您好", i18n.ZhCN}, {"谢谢", i18n.ZhCN}} {
			r, err := e.svc.Ask(e.ctx, customer, q.text, q.lang, "")
			if err != nil {
				t.Fatal(err)
			}
			if r.Intent != assistant.IntentGreeting || r.Conversation != nil || r.OfferHandover ||
				r.Text != e.cat.T(q.lang, "assistant.answer.greeting", nil) {
				t.Errorf("%q: %+v", q.text, r)
			}
		}
		if n, _ := e.desk.Conversations(e.ctx, customer.Viewer, desk.ConversationFilter{Limit: 5}); len(n) != 0 {
			t.Fatalf("a greeting started %d conversations", len(n))
		}
		r, err := e.svc.Ask(e.ctx, visitor("g"), "recommend a restaurant nearby", i18n.En, "")
		if err != nil {
			t.Fatal(err)
		}
		if r.Intent != assistant.IntentUnknown || !r.OfferHandover || r.Conversation != nil {
			t.Fatalf("unsure: %+v", r)
		}
		var offer *assistant.Link
		for i := range r.Links {
			if r.Links[i].Kind == "handover" {
				offer = &r.Links[i]
			}
		}
		if offer == nil || offer.Href != assistant.HandoverPath || offer.Label != e.cat.T(i18n.En, "assistant.offer_handover.link", nil) {
			t.Errorf("the offer: %+v", r.Links)
		}
		r, err = e.svc.Ask(e.ctx, visitor("g"), "talk to a person", i18n.En, "")
		if err != nil || r.Intent != assistant.IntentTalkToHuman || r.Conversation == nil || r.OfferHandover {
			t.Fatalf("explicit: %+v %v", r, err)
		}
	})
}

// TestPurge: turns older than TurnRetention are deleted, newer ones and
// other owners' kept; a second run deletes nothing.
func TestPurge(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		clk := clock.NewManual(t0)
		seq := &ids.Sequence{}
		cat, err := i18n.New()
		if err != nil {
			t.Fatal(err)
		}
		hs, err := help.New(help.Config{DB: db, Clock: clk, IDs: seq, Contacts: help.Contacts{Email: "care@okpay.test", Phone: "+86 400 000 0000"}})
		if err != nil {
			t.Fatal(err)
		}
		ds, err := desk.New(desk.Deps{DB: db, Clock: clk, IDs: seq, Bus: realtime.NewMemory(0)}, desk.Config{})
		if err != nil {
			t.Fatal(err)
		}
		svc, err := assistant.New(assistant.Config{DB: db, Clock: clk, IDs: seq, Catalog: cat, Help: hs, Desk: ds, Facts: &fakeFacts{user: 42}})
		if err != nil {
			t.Fatal(err)
		}
		// 1,100 old turns (more than one batch), then 2 new ones.
		for i := range 1100 {
			if _, err := db.Write.ExecContext(ctx, `INSERT INTO assistant_turns (id, owner, author, body, intent, confidence, conversation_id, created_at)
				VALUES ($1, 'vis_old', 'customer', 'hello', 'greeting', 1, 0, $2)`, 1_000_000+i, t0.UnixMicro()); err != nil {
				t.Fatal(err)
			}
		}
		clk.Advance(assistant.TurnRetention - time.Hour)
		if _, err := svc.Ask(ctx, visitor("n"), "hello", i18n.En, ""); err != nil {
			t.Fatal(err)
		}
		if n, err := svc.Purge(ctx); err != nil || n != 0 {
			t.Fatalf("purged %d before the retention ended: %v", n, err)
		}
		clk.Advance(2 * time.Hour)
		n, err := svc.Purge(ctx)
		if err != nil || n != 1100 {
			t.Fatalf("purged %d, %v; want 1100", n, err)
		}
		var left int
		if err := db.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM assistant_turns`).Scan(&left); err != nil || left != 2 {
			t.Fatalf("%d turns left, %v", left, err)
		}
		if n, err := svc.Purge(ctx); err != nil || n != 0 {
			t.Fatalf("second purge: %d %v", n, err)
		}
		// RunPurge purges at once and stops with its context.
		clk.Advance(assistant.TurnRetention)
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { svc.RunPurge(rctx, slog.New(slog.DiscardHandler)); close(done) }()
		deadline := time.Now().Add(30 * time.Second)
		for {
			if err := db.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM assistant_turns`).Scan(&left); err != nil {
				t.Fatal(err)
			}
			if left == 0 || time.Now().After(deadline) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
		<-done
		if left != 0 {
			t.Fatalf("RunPurge left %d turns", left)
		}
	})
}

// TestClaimVisitor: a visitor's exchange becomes the customer's when they
// sign in; a handover then holds the whole exchange, the visitor's part
// marked and as it was answered (no customer data in it), and the visitor
// key reads nothing any more.
func TestClaimVisitor(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db)
		v := visitor("c")
		visitorID := strings.TrimPrefix(v.Owner, "vis_")
		if assistant.VisitorOwner(visitorID) != v.Owner || assistant.CustomerOwner(42) != ids.Format("usr", 42) {
			t.Fatalf("owners %q %q", assistant.VisitorOwner(visitorID), assistant.CustomerOwner(42))
		}
		for _, q := range []string{"hello", "我的提现到哪了"} {
			if _, err := e.svc.Ask(e.ctx, v, q, i18n.ZhCN, ""); err != nil {
				t.Fatal(err)
			}
		}
		if n, err := e.svc.ClaimVisitor(e.ctx, visitorID, 42); err != nil || n != 4 {
			t.Fatalf("claimed %d, %v", n, err)
		}
		if n, err := e.svc.ClaimVisitor(e.ctx, visitorID, 42); err != nil || n != 0 {
			t.Fatalf("claimed again %d, %v", n, err)
		}
		if left, _ := e.svc.Pending(e.ctx, v.Owner); len(left) != 0 {
			t.Fatalf("the visitor still reads %d turns", len(left))
		}
		signedIn := assistant.Caller{Viewer: desk.Customer(42), Owner: assistant.CustomerOwner(42)}
		turns, err := e.svc.Pending(e.ctx, signedIn.Owner)
		if err != nil || len(turns) != 4 || !turns[0].FromVisitor {
			t.Fatalf("the customer's turns: %+v %v", turns, err)
		}
		if e.facts.reads.Load() != 0 {
			t.Fatal("the facts were read for the visitor's turns")
		}
		r, err := e.svc.Ask(e.ctx, signedIn, "转人工", i18n.ZhCN, "")
		if err != nil || r.Conversation == nil {
			t.Fatalf("handover: %+v %v", r, err)
		}
		msgs, _ := e.desk.Messages(e.ctx, desk.Agent(7), r.Conversation.ID, 0, 10)
		if len(msgs) != 2 || !msgs[1].Internal {
			t.Fatalf("%d messages", len(msgs))
		}
		body := msgs[1].Body
		mark := e.cat.T(i18n.ZhCN, "assistant.transcript.visitor", nil)
		for _, want := range []string{"客户：hello", "客户：我的提现到哪了", mark, e.cat.T(i18n.ZhCN, "assistant.sign_in", nil), "客户：转人工"} {
			if !strings.Contains(body, want) {
				t.Errorf("the transcript lacks %q:\n%s", want, body)
			}
		}
		if strings.Count(body, mark) != 2 || strings.Contains(body, "¥500.00") {
			t.Errorf("the visitor's part:\n%s", body)
		}
		if _, err := e.svc.ClaimVisitor(e.ctx, "", 42); err == nil {
			t.Error("claimed an empty visitor")
		}
		if _, err := e.svc.ClaimVisitor(e.ctx, visitorID, 0); err == nil {
			t.Error("claimed for no customer")
		}
	})
}
