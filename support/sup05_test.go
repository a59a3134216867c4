package support_test

import (
	"context"
	"regexp"
	"sync"
	"testing"

	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/notify"
	"github.com/okpay/okpay/phone"
	"github.com/okpay/okpay/secret"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
	"github.com/okpay/okpay/support"
)

type smsCapture struct {
	mu   sync.Mutex
	msgs []notify.Message
}

func (c *smsCapture) Send(_ context.Context, m notify.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.msgs = append(c.msgs, m)
	return nil
}

// TestSUP05_PhoneConversationActionsNeedAVerifiedCaller: from a phone
// conversation, freeze, ending sessions, a reset link and an unfreeze
// request are refused until the caller read back the one-time code sent
// to the customer (package phone); then they run. A chat conversation is
// not affected, and without a caller check every phone action is refused.
func TestSUP05_PhoneConversationActionsNeedAVerifiedCaller(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		master, err := secret.Generate()
		if err != nil {
			t.Fatal(err)
		}
		keys, err := secret.NewKeyring(master)
		if err != nil {
			t.Fatal(err)
		}
		outbox := notify.NewOutbox(db, keys.Sealer("phone-test"), h.clock, &offsetIDs{base: 1 << 40})
		sms := &smsCapture{}
		disp := notify.NewDispatcher(outbox, map[string]notify.Sender{"sms": sms}, notify.DispatcherOptions{Node: "t"})
		ph, err := phone.New(phone.Deps{DB: db, Clock: h.clock, IDs: &offsetIDs{base: 1 << 41}, Desk: h.desk, Identity: h.id, Audit: h.log,
			Outbox: outbox, Catalog: shared.cat}, phone.Config{})
		if err != nil {
			t.Fatal(err)
		}
		svc, err := support.New(support.Deps{DB: db, Clock: h.clock, IDs: &offsetIDs{base: 1 << 42}, Identity: h.id, Desk: h.desk, Audit: h.log,
			Callers: ph}, support.Config{})
		if err != nil {
			t.Fatal(err)
		}
		c, err := h.desk.StartConversation(h.ctx, desk.System, desk.StartInput{Channel: desk.ChannelPhone, Category: desk.CategoryAccount, CustomerID: h.user})
		if err != nil {
			t.Fatal(err)
		}
		conv := c.ID
		// Refused, with the clear code, before the caller is verified.
		wantCode(t, svc.Freeze(h.ctx, h.agent, conv, "caller says stolen phone", h.meta), support.EUnverifiedCaller)
		_, err = svc.RevokeSessions(h.ctx, h.agent, conv, "caller asks", h.meta)
		wantCode(t, err, support.EUnverifiedCaller)
		wantCode(t, svc.SendReset(h.ctx, h.agent, conv, "caller asks", h.meta), support.EUnverifiedCaller)
		_, err = svc.CreateRequest(h.ctx, h.agent, conv, support.RequestInput{Kind: support.KindUnfreeze, Reason: "x"}, h.meta)
		wantCode(t, err, support.EUnverifiedCaller)
		if h.userRow().Frozen || len(h.events(support.EventAction)) != 0 {
			t.Fatal("an action ran for an unverified caller")
		}
		// Without a caller check (nil), phone actions stay refused.
		bare, _ := support.New(support.Deps{DB: db, Clock: h.clock, IDs: &offsetIDs{base: 1 << 43}, Identity: h.id, Desk: h.desk, Audit: h.log}, support.Config{})
		wantCode(t, bare.Freeze(h.ctx, h.agent, conv, "x", h.meta), support.EUnverifiedCaller)

		// The agent sends a code to the verified number on file; the
		// caller reads it back.
		a := phone.Actor{AgentID: h.agent.ID, AgentRef: h.agent.Ref(), Roles: "agent"}
		if _, err := ph.SendChallenge(h.ctx, a, conv, phone.MethodSMS); err != nil {
			t.Fatal(err)
		}
		if _, err := disp.RunOnce(h.ctx); err != nil {
			t.Fatal(err)
		}
		if len(sms.msgs) != 1 || sms.msgs[0].To != "+8613800138000" {
			t.Fatalf("sms %+v", sms.msgs)
		}
		code := regexp.MustCompile(`\d{6}`).FindString(sms.msgs[0].Body)
		if _, err := ph.ConfirmCode(h.ctx, a, conv, code); err != nil {
			t.Fatal(err)
		}
		if err := svc.Freeze(h.ctx, h.agent, conv, "caller verified, says stolen phone", h.meta); err != nil {
			t.Fatal(err)
		}
		if !h.userRow().Frozen {
			t.Fatal("not frozen")
		}
		// A chat conversation needs no phone verification.
		if _, err := svc.RevokeSessions(h.ctx, h.agent, h.conv, "chat", h.meta); err != nil {
			t.Fatal(err)
		}
	})
}

// offsetIDs hands out ids far from the harness's sequence.
type offsetIDs struct {
	mu   sync.Mutex
	base int64
}

func (o *offsetIDs) Next() int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.base++
	return o.base
}
