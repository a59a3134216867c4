package desk_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

// The whole status machine: every (from, to) pair, through the service,
// against a table written out here (not derived from the code's).
func TestStatusTransitionsAllPairs(t *testing.T) {
	allowed := map[[2]desk.Status]bool{}
	for _, p := range [][2]desk.Status{
		{"open", "pending"}, {"open", "snoozed"}, {"open", "resolved"}, {"open", "closed"},
		{"pending", "open"}, {"pending", "snoozed"}, {"pending", "resolved"}, {"pending", "closed"},
		{"snoozed", "open"}, {"snoozed", "pending"}, {"snoozed", "snoozed"}, {"snoozed", "resolved"}, {"snoozed", "closed"},
		{"resolved", "open"}, {"resolved", "closed"},
	} {
		allowed[p] = true
	}
	for _, from := range desk.Statuses() {
		for _, to := range desk.Statuses() {
			if got := desk.CanTransition(from, to); got != allowed[[2]desk.Status{from, to}] {
				t.Errorf("CanTransition(%s, %s) = %v", from, to, got)
			}
		}
	}
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		n := int64(0)
		for _, from := range desk.Statuses() {
			for _, to := range desk.Statuses() {
				n++
				c := h.start(desk.Customer(n), desk.CategoryAccount, "hi")
				until := h.clock.Now().Add(time.Hour)
				if from != desk.StatusOpen {
					if _, err := h.svc.SetStatus(h.ctx, desk.System, c.ID, from, until); err != nil {
						t.Fatalf("reach %s: %v", from, err)
					}
				}
				got, err := h.svc.SetStatus(h.ctx, desk.Agent(agentA), c.ID, to, until.Add(time.Hour))
				switch {
				case allowed[[2]desk.Status{from, to}]:
					if err != nil || got.Status != to {
						t.Errorf("%s -> %s: %v", from, to, err)
					}
				case from == to:
					if err != nil || got.Status != to {
						t.Errorf("%s -> %s (no change): %v", from, to, err)
					}
				default:
					if okpay.ErrorCode(err) != desk.EBadTransition {
						t.Errorf("%s -> %s: %v, want %s", from, to, err, desk.EBadTransition)
					}
				}
			}
		}
	})
}

func TestStatusRules(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		c := h.start(desk.Customer(alice), desk.CategoryAccount, "hi")
		// Snoozing needs a future time.
		_, err := h.svc.SetStatus(h.ctx, desk.Agent(agentA), c.ID, desk.StatusSnoozed, h.clock.Now())
		wantCode(t, err, okpay.EInvalid)
		// Customers may only resolve.
		_, err = h.svc.SetStatus(h.ctx, desk.Customer(alice), c.ID, desk.StatusClosed, time.Time{})
		wantCode(t, err, okpay.EForbidden)
		// A customer's message opens a pending conversation again.
		h.svc.SetStatus(h.ctx, desk.Agent(agentA), c.ID, desk.StatusPending, time.Time{})
		events, cancel := h.bus.Subscribe(desk.PublicTopic(c.ID))
		defer cancel()
		h.send(desk.Customer(alice), c.ID, "here is the answer")
		got, _ := h.svc.Conversation(h.ctx, desk.Agent(agentA), c.ID)
		if got.Status != desk.StatusOpen {
			t.Fatalf("status %s after the customer wrote, want open", got.Status)
		}
		if ev := drain(events); len(ev) != 2 || ev[0].Type != desk.EventMessage || ev[1].Type != desk.EventStatus {
			t.Fatalf("events %v", ev)
		}
		// An agent's reply does not change it.
		h.send(desk.Agent(agentA), c.ID, "thanks")
		if got, _ := h.svc.Conversation(h.ctx, desk.Agent(agentA), c.ID); got.Status != desk.StatusOpen {
			t.Fatalf("agent reply moved status to %s", got.Status)
		}
		// Resolved by the customer, reopened by writing, closed for good.
		if got, err := h.svc.SetStatus(h.ctx, desk.Customer(alice), c.ID, desk.StatusResolved, time.Time{}); err != nil || got.ResolvedAt.IsZero() {
			t.Fatalf("resolve: %v", err)
		}
		h.send(desk.Customer(alice), c.ID, "one more thing")
		if got, _ := h.svc.Conversation(h.ctx, desk.Customer(alice), c.ID); got.Status != desk.StatusOpen || !got.ResolvedAt.IsZero() {
			t.Fatalf("after writing to a resolved conversation: %s", got.Status)
		}
		h.svc.SetStatus(h.ctx, desk.Agent(agentA), c.ID, desk.StatusClosed, time.Time{})
		_, err = h.svc.SendMessage(h.ctx, desk.Customer(alice), c.ID, desk.MessageInput{Body: "hello?"})
		wantCode(t, err, desk.EConversationClosed)
		_, err = h.svc.Claim(h.ctx, agentA, c.ID)
		wantCode(t, err, desk.EConversationClosed)

		// Snoozed conversations wake up on time.
		s := h.start(desk.Customer(bob), desk.CategoryTransaction, "refund?")
		if got, err := h.svc.SetStatus(h.ctx, desk.Agent(agentA), s.ID, desk.StatusSnoozed, t0.Add(2*time.Hour)); err != nil || got.SnoozedUntil.IsZero() {
			t.Fatalf("snooze: %v", err)
		}
		if cv, _ := h.svc.Conversation(h.ctx, desk.Customer(bob), s.ID); !cv.SnoozedUntil.IsZero() {
			t.Fatal("the customer sees the snooze time")
		}
		if n, err := h.svc.WakeSnoozed(h.ctx); err != nil || n != 0 {
			t.Fatalf("woke %d early (%v)", n, err)
		}
		h.clock.Advance(2 * time.Hour)
		if n, err := h.svc.WakeSnoozed(h.ctx); err != nil || n != 1 {
			t.Fatalf("woke %d, want 1 (%v)", n, err)
		}
		if got, _ := h.svc.Conversation(h.ctx, desk.Agent(agentA), s.ID); got.Status != desk.StatusOpen || !got.SnoozedUntil.IsZero() {
			t.Fatalf("after waking: %s", got.Status)
		}
		hist, err := h.svc.History(h.ctx, desk.Agent(agentA), s.ID)
		if err != nil || len(hist) != 3 || hist[2].Kind != "status" || hist[2].Actor != desk.KindSystem {
			t.Fatalf("history %+v %v", hist, err)
		}
	})
}

// A visitor's conversations become the customer's when they sign in; the
// visitor id no longer opens them.
func TestClaimVisitorConversations(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		v := desk.Visitor(visitor)
		c1 := h.start(v, desk.CategoryAccount, "I cannot sign in")
		c2 := h.start(v, desk.CategoryTechnical, "and the app is slow")
		h.svc.MarkRead(h.ctx, v, c1.ID, 1)
		h.send(desk.Agent(agentA), c1.ID, "Try resetting your password.")
		other := h.start(desk.Visitor("vis_another-visitor-0000"), desk.CategoryAccount, "not mine")
		events, cancel := h.bus.Subscribe(desk.PublicTopic(c1.ID))
		defer cancel()

		n, err := h.svc.ClaimVisitorConversations(h.ctx, visitor, alice)
		if err != nil || n != 2 {
			t.Fatalf("claimed %d (%v), want 2", n, err)
		}
		if ev := drain(events); len(ev) != 1 || ev[0].Type != desk.EventClaimed {
			t.Fatalf("events %v", ev)
		}
		list, _ := h.svc.Conversations(h.ctx, desk.Customer(alice), desk.ConversationFilter{})
		if len(list) != 2 || list[0].ID != c2.ID || list[1].ID != c1.ID || list[0].CustomerID != alice || list[0].VisitorID != "" {
			t.Fatalf("customer's conversations after claim: %+v", list)
		}
		if ms := h.messages(desk.Customer(alice), c1.ID); len(ms) != 2 || ms[0].Author != desk.KindVisitor {
			t.Fatalf("messages after claim: %+v", ms)
		}
		reads, _ := h.svc.Reads(h.ctx, desk.Customer(alice), c1.ID)
		if len(reads) != 1 || reads[0].Reader != desk.KindCustomer || reads[0].Seq != 1 {
			t.Fatalf("reads after claim: %+v", reads)
		}
		_, err = h.svc.Conversation(h.ctx, v, c1.ID)
		wantCode(t, err, okpay.ENotFound)
		if list, _ := h.svc.Conversations(h.ctx, v, desk.ConversationFilter{}); len(list) != 0 {
			t.Fatalf("visitor still lists %d", len(list))
		}
		if _, err := h.svc.Conversation(h.ctx, desk.Visitor("vis_another-visitor-0000"), other.ID); err != nil {
			t.Fatalf("another visitor's conversation moved: %v", err)
		}
		if n, err := h.svc.ClaimVisitorConversations(h.ctx, visitor, bob); err != nil || n != 0 {
			t.Fatalf("second claim moved %d (%v)", n, err)
		}
		hist, _ := h.svc.History(h.ctx, desk.System, c1.ID)
		if hist[len(hist)-1].Kind != "claimed" {
			t.Fatalf("history %+v", hist)
		}
		_, err = h.svc.ClaimVisitorConversations(h.ctx, "x", alice)
		wantCode(t, err, okpay.EInvalid)
	})
}

func TestStartConversation(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		c, err := h.svc.StartConversation(h.ctx, desk.Customer(alice), desk.StartInput{
			Category: desk.CategorySecurityPrivacy, Priority: desk.PriorityUrgent, Subject: " Login\nfrom abroad ", Lang: i18n.ZhCN})
		if err != nil {
			t.Fatal(err)
		}
		staff, _ := h.svc.Conversation(h.ctx, desk.Agent(agentA), c.ID)
		if staff.Team != desk.TeamSecurity || staff.Priority != desk.PriorityNormal || staff.Channel != desk.ChannelChat ||
			staff.Subject != "Login from abroad" || staff.Lang != i18n.ZhCN || staff.Status != desk.StatusOpen || staff.LastSeq != 0 {
			t.Fatalf("started: %+v", staff)
		}
		_, err = h.svc.StartConversation(h.ctx, desk.Customer(alice), desk.StartInput{Category: "billing"})
		wantCode(t, err, okpay.EInvalid)
		_, err = h.svc.StartConversation(h.ctx, desk.Agent(agentA), desk.StartInput{Category: desk.CategoryAccount})
		wantCode(t, err, okpay.EInvalid)
		out, err := h.svc.StartConversation(h.ctx, desk.Agent(agentA), desk.StartInput{Category: desk.CategoryTransaction,
			CustomerID: bob, Priority: desk.PriorityHigh, Channel: desk.ChannelEmail, Body: "About your withdrawal"})
		if err != nil || out.Priority != desk.PriorityHigh || out.CustomerID != bob || out.Team != desk.TeamPayments {
			t.Fatalf("staff start: %+v %v", out, err)
		}
		if cv, err := h.svc.Conversation(h.ctx, desk.Customer(bob), out.ID); err != nil || cv.LastSeq != 1 || cv.FirstResponseAt.IsZero() {
			t.Fatalf("bob's view: %+v %v", cv, err)
		}
		// The open-conversation cap (5), counted per owner.
		for i := 0; i < 4; i++ {
			h.start(desk.Customer(alice), desk.CategoryTechnical, fmt.Sprint("q", i))
		}
		_, err = h.svc.StartConversation(h.ctx, desk.Customer(alice), desk.StartInput{Category: desk.CategoryTechnical})
		wantCode(t, err, desk.ETooManyOpen)
		h.svc.SetStatus(h.ctx, desk.Customer(alice), c.ID, desk.StatusResolved, time.Time{})
		h.start(desk.Customer(alice), desk.CategoryTechnical, "now there is room")
	})
}

// Claiming under concurrency: one agent wins, the others are told.
func TestClaimRace(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		c := h.start(desk.Customer(alice), desk.CategoryAccount, "help")
		var wg sync.WaitGroup
		var mu sync.Mutex
		winners, losers := 0, 0
		for a := int64(1); a <= 12; a++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := h.svc.Claim(h.ctx, 6000+a, c.ID)
				mu.Lock()
				defer mu.Unlock()
				switch okpay.ErrorCode(err) {
				case "":
					winners++
				case desk.EAlreadyAssigned:
					losers++
				default:
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if winners != 1 || losers != 11 {
			t.Fatalf("%d winners, %d losers", winners, losers)
		}
		got, _ := h.svc.Conversation(h.ctx, desk.System, c.ID)
		if _, err := h.svc.Claim(h.ctx, got.AssigneeID, c.ID); err != nil {
			t.Fatalf("claiming one's own again: %v", err)
		}
		if got, err := h.svc.Assign(h.ctx, desk.Agent(agentA), c.ID, 0); err != nil || got.Assigned {
			t.Fatalf("unassign: %v", err)
		}
		if got, err := h.svc.SetTeam(h.ctx, desk.Agent(agentA), c.ID, "payments"); err != nil || got.Team != "payments" {
			t.Fatalf("set team: %v", err)
		}
		_, err := h.svc.SetTeam(h.ctx, desk.Agent(agentA), c.ID, "Bad Team")
		wantCode(t, err, okpay.EInvalid)
		if got, _ := h.svc.SetPriority(h.ctx, desk.Agent(agentA), c.ID, desk.PriorityUrgent); got.Priority != desk.PriorityUrgent {
			t.Fatal("priority not set")
		}
		if got, _ := h.svc.SetCategory(h.ctx, desk.Agent(agentA), c.ID, desk.CategoryTransaction); got.Category != desk.CategoryTransaction {
			t.Fatal("category not set")
		}
		list, _ := h.svc.Conversations(h.ctx, desk.Agent(agentA), desk.ConversationFilter{Team: "payments", Unassigned: true,
			Status: []desk.Status{desk.StatusOpen}, Category: desk.CategoryTransaction})
		if len(list) != 1 || list[0].ID != c.ID {
			t.Fatalf("filtered list: %d", len(list))
		}
	})
}

func TestTagsLinksChannelMeta(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		c := h.start(desk.Customer(alice), desk.CategoryTransaction, "where is my money")
		ag := desk.Agent(agentA)
		tags, err := h.svc.AddTags(h.ctx, ag, c.ID, "Refund", "提现", "refund")
		if err != nil || !slices.Equal(tags, []string{"refund", "提现"}) {
			t.Fatalf("tags %v %v", tags, err)
		}
		_, err = h.svc.AddTags(h.ctx, ag, c.ID, "no spaces")
		wantCode(t, err, okpay.EInvalid)
		if err := h.svc.RemoveTag(h.ctx, ag, c.ID, "REFUND"); err != nil {
			t.Fatal(err)
		}
		if got, _ := h.svc.Conversation(h.ctx, ag, c.ID); !slices.Equal(got.Tags, []string{"提现"}) {
			t.Fatalf("tags after remove: %v", got.Tags)
		}

		for i := 0; i < 2; i++ {
			if err := h.svc.AddLink(h.ctx, ag, c.ID, desk.LinkWalletTransaction, "txn_0d4m8y2k3q1ag"); err != nil {
				t.Fatal(err)
			}
		}
		h.svc.AddLink(h.ctx, ag, c.ID, desk.LinkSecurityEvent, "sev_42")
		err = h.svc.AddLink(h.ctx, ag, c.ID, "case", "x")
		wantCode(t, err, okpay.EInvalid)
		links, _ := h.svc.Links(h.ctx, ag, c.ID)
		if len(links) != 2 || links[1].Kind != desk.LinkWalletTransaction || links[1].CreatorID != agentA || links[1].Ref != "txn_0d4m8y2k3q1ag" {
			t.Fatalf("links %+v", links)
		}
		if ids, _ := h.svc.LinkedConversations(h.ctx, ag, desk.LinkWalletTransaction, "txn_0d4m8y2k3q1ag"); !slices.Equal(ids, []int64{c.ID}) {
			t.Fatalf("linked conversations %v", ids)
		}
		h.svc.RemoveLink(h.ctx, ag, c.ID, desk.LinkSecurityEvent, "sev_42")
		if links, _ := h.svc.Links(h.ctx, ag, c.ID); len(links) != 1 {
			t.Fatalf("%d links after remove", len(links))
		}

		if err := h.svc.SetChannelMeta(h.ctx, desk.System, c.ID, map[string]string{"page": "/wallet/withdraw", "ua": "Firefox"}); err != nil {
			t.Fatal(err)
		}
		h.svc.SetChannelMeta(h.ctx, desk.System, c.ID, map[string]string{"ua": ""})
		meta, _ := h.svc.ChannelMeta(h.ctx, ag, c.ID)
		if len(meta) != 1 || meta["page"] != "/wallet/withdraw" {
			t.Fatalf("meta %v", meta)
		}
		if ids, _ := h.svc.FindByChannelMeta(h.ctx, desk.System, desk.ChannelChat, "page", "/wallet/withdraw"); !slices.Equal(ids, []int64{c.ID}) {
			t.Fatalf("find by meta %v", ids)
		}
		if ids, _ := h.svc.FindByChannelMeta(h.ctx, desk.System, desk.ChannelChat, "page", ""); len(ids) != 0 {
			t.Fatal("an empty value matched")
		}
		err = h.svc.SetChannelMeta(h.ctx, desk.System, c.ID, map[string]string{"Bad Name": "x"})
		wantCode(t, err, okpay.EInvalid)
		hist, _ := h.svc.History(h.ctx, ag, c.ID)
		var kinds []string
		for _, a := range hist {
			kinds = append(kinds, a.Kind)
		}
		want := []string{"created", "tag_added", "tag_added", "tag_removed", "link_added", "link_added", "link_removed"}
		if !slices.Equal(kinds, want) {
			t.Fatalf("history %v, want %v", kinds, want)
		}
	})
}

// Every status, category, priority and channel has its labels in both
// languages; customer and staff labels of a snoozed conversation differ.
func TestLabels(t *testing.T) {
	cat, err := i18n.New()
	if err != nil {
		t.Fatal(err)
	}
	check := func(id string) {
		if !cat.Has(id) {
			t.Errorf("missing label %s", id)
		}
	}
	for _, s := range desk.Statuses() {
		check("desk.status." + string(s) + ".customer")
		check("desk.status." + string(s) + ".internal")
	}
	for _, c := range desk.Categories() {
		check("desk.category." + string(c))
	}
	for _, p := range desk.Priorities() {
		check("desk.priority." + string(p))
	}
	for _, c := range desk.Channels() {
		check("desk.channel." + string(c))
	}
	for _, code := range []string{desk.EConversationClosed, desk.EBadTransition, desk.EAlreadyAssigned, desk.ETooManyOpen, desk.EAttachmentRefused, desk.EIdempotencyReused} {
		check("problem." + code + ".title")
		check("problem." + code + ".detail")
	}
	if got := desk.StatusLabel(cat, i18n.ZhCN, desk.StatusSnoozed, desk.ForCustomer); got != "处理中" {
		t.Errorf("snoozed for a Chinese customer: %q", got)
	}
	if got := desk.StatusLabel(cat, i18n.En, desk.StatusSnoozed, desk.ForStaff); got != "Snoozed" {
		t.Errorf("snoozed for staff: %q", got)
	}
	if got := desk.StatusLabel(cat, i18n.En, desk.StatusPending, desk.ForCustomer); got != "Waiting for your reply" {
		t.Errorf("pending for a customer: %q", got)
	}
	if got := desk.CategoryLabel(cat, i18n.ZhCN, desk.CategorySecurityPrivacy); got != "安全与隐私" {
		t.Errorf("category label %q", got)
	}
	q := desk.QueueText(cat, i18n.En, desk.Queue{Queued: true, Position: 3, EstimatedWait: 6 * time.Minute, WaitKnown: true, AgentsOnline: 2})
	if q != "You are number 3 in the queue. Estimated wait: about 6 min." {
		t.Errorf("queue text %q", q)
	}
	if q := desk.QueueText(cat, i18n.ZhCN, desk.Queue{Queued: true, Position: 1, AgentsOnline: 1}); q != "您当前排在第 1 位。客服将很快为您服务。" {
		t.Errorf("queue text %q", q)
	}
	// Nobody online: the answer comes later, here (and by email to a
	// customer, who has an address).
	if q := desk.QueueText(cat, i18n.En, desk.Queue{Queued: true, Position: 2}); q != "You are number 2 in the queue. No agent is online right now: we will answer here as soon as one is, and email you if you have left." {
		t.Errorf("queue text %q", q)
	}
	if q := desk.QueueText(cat, i18n.En, desk.Queue{Queued: true, Position: 2, Visitor: true}); q != "You are number 2 in the queue. No agent is online right now: we will answer here as soon as one is. Come back to this page later to read it." {
		t.Errorf("queue text %q", q)
	}
	if q := desk.QueueText(cat, i18n.ZhCN, desk.Queue{Queued: true, Position: 1}); q != "您当前排在第 1 位。目前没有在线客服：客服上线后会在此回复；如果您已离开，我们会发邮件通知您。" {
		t.Errorf("queue text %q", q)
	}
}
