package support_test

import (
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/notify"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
	"github.com/okpay/okpay/support"
)

// deliver sends what the outbox holds to a development mailbox (email and
// SMS) and the in-app list, and returns the mailbox.
func (h *harness) deliver() *notify.DevMailbox {
	h.t.Helper()
	box := notify.NewDevMailbox(h.clock)
	d := notify.NewDispatcher(h.svc.Outbox, map[string]notify.Sender{"email": box, "sms": box, "inapp": h.svc.Outbox.InAppSender()}, notify.DispatcherOptions{})
	for {
		n, err := d.RunOnce(h.ctx)
		if err != nil {
			h.t.Fatal(err)
		}
		if n == 0 {
			return box
		}
	}
}

var cancelLinkRE = regexp.MustCompile(`https://okpay\.test` + regexp.QuoteMeta(identity.RecoveryCancelPath) + `([A-Za-z0-9_-]+)`)

// TestREC08_EveryChannelNotifiedAndOneClickCancel: requesting an assisted
// recovery tells the owner at once on every channel of the account (the
// verified email, SMS to the phone and in-app), each message carrying the
// same one-click cancel link and the earliest approval time; the link
// cancels the request (audited with the owner as actor, announced on every
// channel), after which no agent can approve it and the link is spent. A
// forged or unknown link cancels nothing.
func TestREC08_EveryChannelNotifiedAndOneClickCancel(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		h.deliver() // anything queued before
		rf, err := h.svc.CreateRequest(h.ctx, h.sup, h.conv, support.RequestInput{Kind: support.KindResetFactors, Reason: "lost phone and codes",
			Verification: support.VerifyIDSelfie, Evidence: "ID card ••34, selfie matched by vendor check 991"}, h.meta)
		if err != nil {
			t.Fatal(err)
		}
		box := h.deliver()
		until := t0.Add(h.svc.Config().RecoveryDelay).Format("2006-01-02 15:04 UTC")
		var channels, tokens []string
		for _, m := range box.List() {
			if m.Kind != identity.NoteRecoveryRequested || m.UserID != h.user {
				continue
			}
			channels = append(channels, m.Channel+":"+m.To)
			mm := cancelLinkRE.FindStringSubmatch(m.Body)
			if mm == nil || !strings.Contains(m.Body, until) {
				t.Fatalf("%s notice without the cancel link or the date: %q", m.Channel, m.Body)
			}
			tokens = append(tokens, mm[1])
		}
		sort.Strings(channels)
		if strings.Join(channels, ",") != "email:ada@example.com,sms:+8613800138000" {
			t.Fatalf("notified %v", channels)
		}
		inapp, err := h.svc.Outbox.ListInApp(h.ctx, h.user, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(inapp) == 0 || inapp[0].Kind != identity.NoteRecoveryRequested || !strings.Contains(inapp[0].Body, identity.RecoveryCancelPath+tokens[0]) {
			t.Fatalf("in-app %+v", inapp)
		}
		if tokens[0] != tokens[1] || !support.ValidCancelToken(tokens[0]) {
			t.Fatalf("tokens %v", tokens)
		}

		// Forged and malformed links change nothing.
		for _, bad := range []string{"", "x", strings.Repeat("A", 43), tokens[0] + "A"} {
			_, err := h.svc.CancelRecovery(h.ctx, bad, identity.Meta{IP: "203.0.113.5"})
			wantCode(t, err, support.ECancelLinkInvalid)
		}
		if r, _ := h.svc.FindRequest(h.ctx, rf.ID); r.Status != support.StatusPending {
			t.Fatalf("status %s after forged cancels", r.Status)
		}

		h.clock.Advance(time.Hour)
		got, err := h.svc.CancelRecovery(h.ctx, tokens[0], identity.Meta{IP: "203.0.113.5", RequestID: "req-c"})
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != rf.ID || got.Status != support.StatusRejected {
			t.Fatalf("cancelled %+v", got)
		}
		if r, _ := h.svc.FindRequest(h.ctx, rf.ID); r.Status != support.StatusRejected || r.CheckerRole != "customer" || r.CheckerID != 0 {
			t.Fatalf("request after cancel %+v", r)
		}
		evs := h.events(support.EventRequestCancelled)
		owner := "usr_"
		if len(evs) != 1 || !strings.HasPrefix(evs[0].Actor, owner) || evs[0].Subject != evs[0].Actor || evs[0].IP != "203.0.113.5" ||
			evs[0].Details["request"] != rf.Ref() || evs[0].CaseID != rf.CaseID {
			t.Fatalf("cancel audit %+v", evs)
		}
		box = h.deliver()
		var told []string
		for _, m := range box.List() {
			if m.Kind == identity.NoteRecoveryCancelled {
				told = append(told, m.Channel)
			}
		}
		sort.Strings(told)
		if strings.Join(told, ",") != "email,sms" {
			t.Fatalf("cancel told on %v", told)
		}

		// Spent: the link does not work twice, and the delay passing
		// changes nothing.
		_, err = h.svc.CancelRecovery(h.ctx, tokens[0], identity.Meta{})
		wantCode(t, err, support.ECancelLinkInvalid)
		h.clock.Advance(72 * time.Hour)
		_, err = h.svc.Approve(h.ctx, h.sup2, rf.ID, "delay passed", h.meta)
		wantCode(t, err, support.ERequestClosed)
		if u := h.userRow(); u.HoldUntil.After(h.clock.Now()) {
			t.Fatalf("a cancelled recovery acted: %+v", u)
		}
		if r, err := h.log.Verify(h.ctx); err != nil || !r.OK {
			t.Fatalf("audit chain %+v %v", r, err)
		}
	})
}
