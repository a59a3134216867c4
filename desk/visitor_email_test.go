package desk_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/internal/tokentest"
	"github.com/okpay/okpay/notify"
	"github.com/okpay/okpay/secret"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

func newVisitorEmails(t *testing.T, h *harness, out desk.Enqueuer, cat *i18n.Catalog) *desk.VisitorEmails {
	t.Helper()
	keys, err := secret.NewKeyring(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	ve, err := desk.NewVisitorEmails(h.svc, desk.VisitorEmailDeps{Outbox: out, Catalog: cat, Links: keys.MAC("desk.visitor-email-link"), BaseURL: "https://okpay.test/"})
	if err != nil {
		t.Fatal(err)
	}
	return ve
}

// newMailer is an offline mailer writing to out, with every customer's
// contact, and continuation links when ve is given.
func newMailer(t *testing.T, h *harness, out desk.Enqueuer, cat *i18n.Catalog, ve *desk.VisitorEmails, contact desk.Contact) *desk.OfflineMailer {
	t.Helper()
	m, err := desk.NewOfflineMailer(h.svc, desk.OfflineDeps{Outbox: out, Catalog: cat, Visitors: ve,
		Contact: func(context.Context, int64) (desk.Contact, error) { return contact, nil }}, desk.OfflineConfig{BaseURL: "https://okpay.test"})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

var contactLinkRE = regexp.MustCompile(`https://okpay\.test/support/contact/(\S+)`)

// TestVisitorEmail: a visitor leaves an address on their chat
// conversation: one confirmation mail with a link, in their language; a
// double click mails nothing; the link confirms (opening it does not); a
// new address ends the old link; the day's mails are capped; customers,
// strangers, bad addresses and closed conversations are refused; and the
// offline mailer emails a confirmed visitor their unread replies (not an
// unconfirmed one), until a customer claims the conversation.
func TestVisitorEmail(t *testing.T) {
	t.Parallel()
	cat, err := i18n.New()
	if err != nil {
		t.Fatal(err)
	}
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		out := &fakeOutbox{}
		ve := newVisitorEmails(t, h, out, cat)
		vis := desk.Visitor(visitor)
		c := h.start(vis, desk.CategoryAccount, "Where is my transfer?")

		// Refused, changing nothing.
		for _, bad := range []struct {
			v     desk.Viewer
			email string
			code  string
		}{
			{vis, "not an address", okpay.EInvalid},
			{vis, "a@b", okpay.EInvalid},
			{desk.Visitor("vis_someoneelse0123456789"), "li@example.cn", okpay.ENotFound},
			{desk.Customer(alice), "li@example.cn", okpay.ENotFound},
			{desk.Agent(agentA), "li@example.cn", desk.EContactNotVisitor},
		} {
			if _, _, err := ve.Request(h.ctx, bad.v, c.ID, bad.email, i18n.En); okpay.ErrorCode(err) != bad.code {
				t.Errorf("%+v %q: %v, want %s", bad.v, bad.email, err, bad.code)
			}
		}
		own := h.start(desk.Customer(alice), desk.CategoryAccount, "hi")
		if _, _, err := ve.Request(h.ctx, desk.Customer(alice), own.ID, "alice@example.cn", i18n.En); okpay.ErrorCode(err) != desk.EContactNotVisitor {
			t.Errorf("a customer's own conversation: %v", err)
		}
		if got := out.take(); len(got) != 0 {
			t.Fatalf("refusals mailed %v", got)
		}
		if e, err := ve.Of(h.ctx, vis, c.ID); e != nil || err != nil {
			t.Fatalf("an address after refusals: %+v %v", e, err)
		}

		// Left: one mail, in Chinese, to the address lower-cased.
		e, mailed, err := ve.Request(h.ctx, vis, c.ID, " Li.Wei@Example.CN ", i18n.ZhCN)
		if err != nil || !mailed || e.Email != "li.wei@example.cn" || e.Confirmed() {
			t.Fatalf("%+v %v %v", e, mailed, err)
		}
		msgs := out.take()
		if len(msgs) != 1 || msgs[0].To != "li.wei@example.cn" || msgs[0].UserID != 0 || msgs[0].Kind != desk.NoteContactConfirm ||
			msgs[0].Subject != cat.T(i18n.ZhCN, "deskcontact.mail.subject", map[string]any{"Ref": desk.ConversationRef(c.ID)}) {
			t.Fatalf("confirmation mail %+v", msgs)
		}
		token := link(t, msgs[0])
		// A double click mails nothing.
		h.clock.Advance(10 * time.Second)
		if _, mailed, err := ve.Request(h.ctx, vis, c.ID, "li.wei@example.cn", i18n.ZhCN); err != nil || mailed || len(out.take()) != 0 {
			t.Fatalf("double click: mailed %v, %v", mailed, err)
		}
		// Opening the link changes nothing; a forged one is refused.
		if got, err := ve.ByLink(h.ctx, token); err != nil || got.Confirmed() || got.Email != "li.wei@example.cn" {
			t.Fatalf("by link: %+v %v", got, err)
		}
		for _, bad := range []string{tokentest.Forged(token, -1), strings.ToUpper(tokentest.Forged(token, 5)), "nope", ""} {
			if _, err := ve.ByLink(h.ctx, bad); okpay.ErrorCode(err) != desk.EContactLinkInvalid {
				t.Errorf("forged %q: %v", bad, err)
			}
		}
		// The visitor's unread reply is not emailed before confirmation.
		m := newMailer(t, h, out, cat, nil, desk.Contact{})
		h.send(desk.Agent(agentA), c.ID, "We are looking into it.")
		h.clock.Advance(6 * time.Minute)
		if n, err := m.Run(h.ctx); err != nil || n != 0 || len(out.take()) != 0 {
			t.Fatalf("unconfirmed: %d, %v", n, err)
		}
		// Confirmed (twice: the same answer), then the next reply is
		// emailed to the visitor, in their language.
		for range 2 {
			got, err := ve.Confirm(h.ctx, token)
			if err != nil || !got.Confirmed() {
				t.Fatalf("confirm: %+v %v", got, err)
			}
		}
		if got, _ := ve.Of(h.ctx, desk.Agent(agentA), c.ID); got == nil || !got.Confirmed() {
			t.Fatalf("staff view: %+v", got)
		}
		h.send(desk.Agent(agentA), c.ID, "Found it: it arrives today.")
		h.clock.Advance(6 * time.Minute)
		if n, err := m.Run(h.ctx); err != nil || n != 1 {
			t.Fatalf("confirmed: %d, %v", n, err)
		}
		msgs = out.take()
		if len(msgs) != 1 || msgs[0].To != "li.wei@example.cn" || msgs[0].UserID != 0 || !strings.Contains(msgs[0].Body, "Found it") ||
			!strings.Contains(msgs[0].Body, "我们的客服团队回复了您") {
			t.Fatalf("reply mail %+v", msgs)
		}
		// Read in the chat: nothing more.
		if _, err := h.svc.MarkRead(h.ctx, vis, c.ID, 1000); err != nil {
			t.Fatal(err)
		}
		h.send(desk.Agent(agentA), c.ID, "Anything else?")
		if _, err := h.svc.MarkRead(h.ctx, vis, c.ID, 1000); err != nil {
			t.Fatal(err)
		}
		h.clock.Advance(6 * time.Minute)
		if n, err := m.Run(h.ctx); err != nil || n != 0 {
			t.Fatalf("read: %d, %v", n, err)
		}

		// A new address replaces the confirmed one and ends the old link;
		// the third mail of the day is the last.
		if _, mailed, err := ve.Request(h.ctx, vis, c.ID, "b@example.cn", i18n.En); err != nil || !mailed {
			t.Fatalf("second address: %v %v", mailed, err)
		}
		second := link(t, out.take()[0])
		if _, err := ve.Confirm(h.ctx, token); okpay.ErrorCode(err) != desk.EContactLinkInvalid {
			t.Fatalf("the replaced link: %v", err)
		}
		if _, mailed, err := ve.Request(h.ctx, vis, c.ID, "c@example.cn", i18n.En); err != nil || !mailed {
			t.Fatalf("third address: %v %v", mailed, err)
		}
		out.take()
		_, _, err = ve.Request(h.ctx, vis, c.ID, "d@example.cn", i18n.En)
		var rl *desk.RateLimitError
		if !errors.As(err, &rl) || rl.RetryAfter <= 0 || rl.RetryAfter > 24*time.Hour {
			t.Fatalf("fourth mail of the day: %v", err)
		}
		if got, _ := ve.Of(h.ctx, vis, c.ID); got.Email != "c@example.cn" || got.Confirmed() {
			t.Fatalf("after the refusal: %+v", got)
		}
		if _, err := ve.ByLink(h.ctx, second); okpay.ErrorCode(err) != desk.EContactLinkInvalid {
			t.Fatalf("the second link after a third request: %v", err)
		}
		// A day later the count starts over; a link expires after 24 hours.
		h.clock.Advance(25 * time.Hour)
		e, mailed, err = ve.Request(h.ctx, vis, c.ID, "d@example.cn", i18n.En)
		if err != nil || !mailed {
			t.Fatalf("next day: %v %v", mailed, err)
		}
		late := link(t, out.take()[0])
		h.clock.Advance(24*time.Hour + time.Minute)
		if _, err := ve.Confirm(h.ctx, late); okpay.ErrorCode(err) != desk.EContactLinkInvalid {
			t.Fatalf("an expired link: %v", err)
		}
		if got, _ := ve.Of(h.ctx, vis, c.ID); got.Confirmed() || !got.RequestedAt.Equal(e.RequestedAt) {
			t.Fatalf("after the expired link: %+v", got)
		}

		// Closed: no address taken.
		if _, err := h.svc.SetStatus(h.ctx, desk.Agent(agentA), c.ID, desk.StatusClosed, time.Time{}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := ve.Request(h.ctx, vis, c.ID, "e@example.cn", i18n.En); okpay.ErrorCode(err) != desk.EContactNotVisitor {
			t.Fatalf("closed: %v", err)
		}
	})
}

// TestVisitorEmailClaimed: once a customer claims the visitor's
// conversation (sign-in), the offline mailer writes to the customer's
// account address, not to the visitor's.
func TestVisitorEmailClaimed(t *testing.T) {
	t.Parallel()
	cat, err := i18n.New()
	if err != nil {
		t.Fatal(err)
	}
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		out := &fakeOutbox{}
		ve := newVisitorEmails(t, h, out, cat)
		vis := desk.Visitor(visitor)
		c := h.start(vis, desk.CategoryAccount, "hello")
		if _, _, err := ve.Request(h.ctx, vis, c.ID, "li@example.cn", i18n.En); err != nil {
			t.Fatal(err)
		}
		if _, err := ve.Confirm(h.ctx, link(t, out.take()[0])); err != nil {
			t.Fatal(err)
		}
		if n, err := h.svc.ClaimVisitorConversations(h.ctx, visitor, alice); err != nil || n != 1 {
			t.Fatalf("claim: %d %v", n, err)
		}
		m := newMailer(t, h, out, cat, nil, desk.Contact{Email: "alice@account.example", Lang: i18n.En})
		h.send(desk.Agent(agentA), c.ID, "Signed in now?")
		h.clock.Advance(6 * time.Minute)
		if n, err := m.Run(h.ctx); err != nil || n != 1 {
			t.Fatalf("run: %d %v", n, err)
		}
		if msgs := out.take(); len(msgs) != 1 || msgs[0].To != "alice@account.example" || msgs[0].UserID != alice {
			t.Fatalf("mails %+v", msgs)
		}
	})
}

// TestVisitorEmailAddressCap: one address gets at most three
// confirmation mails a day over all conversations (other visitors'
// conversations cannot be used to mail it again and again); the next day
// it may be asked for again.
func TestVisitorEmailAddressCap(t *testing.T) {
	t.Parallel()
	cat, err := i18n.New()
	if err != nil {
		t.Fatal(err)
	}
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		out := &fakeOutbox{}
		ve := newVisitorEmails(t, h, out, cat)
		ask := func(i int) error {
			v := desk.Visitor(fmt.Sprintf("vis_addresscap%014d", i))
			c := h.start(v, desk.CategoryAccount, "hello")
			_, _, err := ve.Request(h.ctx, v, c.ID, "victim@example.cn", i18n.En)
			return err
		}
		for i := range desk.MaxContactAddressMails {
			if err := ask(i); err != nil {
				t.Fatalf("mail %d: %v", i+1, err)
			}
			h.clock.Advance(time.Hour)
		}
		var rl *desk.RateLimitError
		if err := ask(10); !errors.As(err, &rl) || rl.RetryAfter != 21*time.Hour {
			t.Fatalf("one mail too many: %v", err)
		}
		if n := len(out.take()); n != desk.MaxContactAddressMails {
			t.Fatalf("%d mails", n)
		}
		h.clock.Advance(22 * time.Hour) // the first request is a day old
		if err := ask(11); err != nil {
			t.Fatalf("a day later: %v", err)
		}
	})
}

var continueLinkRE = regexp.MustCompile(`https://okpay\.test/support/continue/(\S+)`)

// TestVisitorEmailContinue: a reply mail to a confirmed visitor links a
// continuation: following it makes another browser the conversation's
// visitor (the first sees it no more); it is refused when forged, once
// the address changed, after seven days, and once a customer claimed the
// conversation.
func TestVisitorEmailContinue(t *testing.T) {
	t.Parallel()
	cat, err := i18n.New()
	if err != nil {
		t.Fatal(err)
	}
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		out := &fakeOutbox{}
		ve := newVisitorEmails(t, h, out, cat)
		m := newMailer(t, h, out, cat, ve, desk.Contact{})
		first, phone := desk.Visitor(visitor), desk.Visitor("vis_phonebrowser0123456789")
		c := h.start(first, desk.CategoryAccount, "hello")
		if _, _, err := ve.Request(h.ctx, first, c.ID, "li@example.cn", i18n.En); err != nil {
			t.Fatal(err)
		}
		if _, err := ve.Confirm(h.ctx, link(t, out.take()[0])); err != nil {
			t.Fatal(err)
		}
		reply := func() string {
			t.Helper()
			h.send(desk.Agent(agentA), c.ID, "An answer")
			h.clock.Advance(6 * time.Minute)
			if n, err := m.Run(h.ctx); err != nil || n != 1 {
				t.Fatalf("run: %d %v", n, err)
			}
			msgs := out.take()
			got := continueLinkRE.FindStringSubmatch(msgs[0].Body)
			if got == nil {
				t.Fatalf("no continuation link in %q", msgs[0].Body)
			}
			return got[1]
		}
		token := reply()
		// Opening changes nothing; forged links are refused.
		if e, err := ve.Continuation(h.ctx, token); err != nil || e.Email != "li@example.cn" {
			t.Fatalf("continuation: %+v %v", e, err)
		}
		for _, bad := range []string{tokentest.Forged(token, -1), link(t, notify.Message{Body: "https://okpay.test/support/contact/" + ve.Token(c.ID, h.clock.Now(), "li@example.cn")}), "x"} {
			if _, err := ve.Continue(h.ctx, bad, phone.VisitorID); okpay.ErrorCode(err) != desk.EContactLinkInvalid {
				t.Errorf("forged %q: %v", bad, err)
			}
		}
		if _, err := h.svc.Conversation(h.ctx, first, c.ID); err != nil {
			t.Fatalf("the first browser lost it to a refused link: %v", err)
		}
		// Followed on the phone: the phone has it, the first browser not;
		// again changes nothing.
		for range 2 {
			if e, err := ve.Continue(h.ctx, token, phone.VisitorID); err != nil || e.ConversationID != c.ID {
				t.Fatalf("continue: %+v %v", e, err)
			}
		}
		if _, err := h.svc.Conversation(h.ctx, phone, c.ID); err != nil {
			t.Fatalf("the phone: %v", err)
		}
		if _, err := h.svc.Conversation(h.ctx, first, c.ID); okpay.ErrorCode(err) != okpay.ENotFound {
			t.Fatalf("the first browser still sees it: %v", err)
		}
		// The phone's visitor answers; its own address stays confirmed.
		h.send(phone, c.ID, "Thanks, answering from my phone")
		if e, _ := ve.Of(h.ctx, phone, c.ID); e == nil || !e.Confirmed() {
			t.Fatalf("the address after the move: %+v", e)
		}
		// Seven days later the link has ended.
		h.clock.Advance(7*24*time.Hour + time.Minute)
		if _, err := ve.Continuation(h.ctx, token); okpay.ErrorCode(err) != desk.EContactLinkInvalid {
			t.Fatalf("an old link: %v", err)
		}
		// A new address ends the links mailed to the old one.
		token = reply()
		if _, _, err := ve.Request(h.ctx, phone, c.ID, "other@example.cn", i18n.En); err != nil {
			t.Fatal(err)
		}
		out.take()
		if _, err := ve.Continue(h.ctx, token, first.VisitorID); okpay.ErrorCode(err) != desk.EContactLinkInvalid {
			t.Fatalf("a link to the old address: %v", err)
		}
		// Claimed by a customer: the account has it, the link does not work.
		c2 := h.start(first, desk.CategoryAccount, "again")
		if _, _, err := ve.Request(h.ctx, first, c2.ID, "li@example.cn", i18n.En); err != nil {
			t.Fatal(err)
		}
		if _, err := ve.Confirm(h.ctx, link(t, out.take()[0])); err != nil {
			t.Fatal(err)
		}
		e, _ := ve.Of(h.ctx, first, c2.ID)
		tok2 := ve.ContinueToken(c2.ID, h.clock.Now(), e.Email, e.ConfirmedAt)
		if _, err := h.svc.ClaimVisitorConversations(h.ctx, visitor, alice); err != nil {
			t.Fatal(err)
		}
		if _, err := ve.Continue(h.ctx, tok2, phone.VisitorID); okpay.ErrorCode(err) != desk.EContactLinkInvalid {
			t.Fatalf("a claimed conversation: %v", err)
		}
	})
}

// link is the token of a confirmation mail's link.
func link(t *testing.T, m notify.Message) string {
	t.Helper()
	got := contactLinkRE.FindStringSubmatch(m.Body)
	if got == nil {
		t.Fatalf("no link in %q", m.Body)
	}
	return got[1]
}

// FuzzContactToken: no input but a token shaped as Token makes it is
// parsed, and what is parsed names the conversation and request Token
// was given.
func FuzzContactToken(f *testing.F) {
	keys, err := secret.NewKeyring(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		f.Fatal(err)
	}
	ve, err := desk.NewVisitorEmails(&desk.Service{}, desk.VisitorEmailDeps{Outbox: &fakeOutbox{}, Catalog: &i18n.Catalog{}, Links: keys.MAC("x"), BaseURL: "https://okpay.test"})
	if err != nil {
		f.Fatal(err)
	}
	at := time.Date(2026, 11, 29, 12, 0, 0, 123456000, time.UTC)
	good := ve.Token(42, at, "li@example.cn")
	for _, s := range []string{good, strings.ToUpper(good), "", ".", "..", "0000000000001.aaaaaaaaaaaaa.aaaaaaaaaaaaaaaa", good + ".", "0000000000001.77777777777777.aaaaaaaaaaaaaaaa"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, req, ok := ve.ParseToken(s)
		if !ok {
			if id != 0 || !req.IsZero() {
				t.Fatalf("%q: refused but gave %d %v", s, id, req)
			}
			return
		}
		if id <= 0 || req.UnixMicro() <= 0 {
			t.Fatalf("%q: parsed %d %v", s, id, req)
		}
		// Made again from what was parsed, the token's body is the input's.
		again := ve.Token(id, req, "li@example.cn")
		if strings.ToLower(s)[:strings.LastIndexByte(s, '.')] != again[:strings.LastIndexByte(again, '.')] {
			t.Fatalf("%q parsed as %d %v, which makes %q", s, id, req, again)
		}
	})
}
