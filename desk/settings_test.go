package desk_test

import (
	"errors"
	"testing"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/agent"
	"github.com/okpay/okpay/audit"
	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

// TestSLAPolicyUpdateAudited: an administrator's new targets for a policy
// are what the next conversation's timers use, the change is in the audit
// log with the targets before and after, and bad targets or an unknown
// policy change nothing.
func TestSLAPolicyUpdateAudited(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		before, err := h.svc.SLAPolicyFor(h.ctx, desk.ChannelChat, desk.CategoryAccount, desk.PriorityUrgent)
		if err != nil || before == nil || before.Name != "urgent" {
			t.Fatalf("policy %+v, %v", before, err)
		}
		for _, bad := range []desk.SLATargets{
			{FirstResponse: -time.Minute, Resolution: time.Hour},
			{FirstResponse: 90 * time.Second},
			{FirstResponse: 31 * 24 * time.Hour},
			{},
		} {
			_, err := h.svc.UpdateSLAPolicy(h.ctx, byA, "urgent", bad)
			wantCode(t, err, okpay.EInvalid)
		}
		_, err = h.svc.UpdateSLAPolicy(h.ctx, byA, "no-such", desk.SLATargets{FirstResponse: time.Minute})
		wantCode(t, err, okpay.ENotFound)

		up, err := h.svc.UpdateSLAPolicy(h.ctx, byA, "urgent", desk.SLATargets{FirstResponse: 2 * time.Minute,
			NextResponse: before.NextResponse, Resolution: 3 * time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		if up.FirstResponse != 2*time.Minute || up.Resolution != 3*time.Hour || up.Priority != desk.PriorityUrgent {
			t.Fatalf("updated %+v", up)
		}
		got, err := h.svc.SLAPolicyFor(h.ctx, desk.ChannelChat, desk.CategoryAccount, desk.PriorityUrgent)
		if err != nil || got.FirstResponse != 2*time.Minute || got.NextResponse != before.NextResponse {
			t.Fatalf("read back %+v, %v", got, err)
		}
		entries, err := audit.New(db).List(h.ctx, "sla_policy:urgent", audit.MaxListLimit, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 1 {
			t.Fatalf("%d events", len(entries))
		}
		ev := entries[0]
		if ev.Name != desk.EventSLAPolicyUpdated || ev.Actor != agent.Ref(agentA) || ev.IP != byA.IP ||
			ev.Details["before_first_response"] != "5m0s" || ev.Details["after_first_response"] != "2m0s" ||
			ev.Details["after_resolution"] != "3h0m0s" || len(ev.Details) != 4 {
			t.Errorf("event %+v", ev)
		}
	})
}

// TestAgentCapacityAudited: setting an agent's capacity (never set
// before, then changed) is read back by AgentPresence and audited with the
// value before and after; out-of-range values are refused unaudited.
func TestAgentCapacityAudited(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		addAgent(t, db, agentB, "en")
		wantCode(t, h.svc.SetAgentCapacity(h.ctx, byA, agentB, 101), okpay.EInvalid)
		wantCode(t, h.svc.SetAgentCapacity(h.ctx, byA, agentB, -1), okpay.EInvalid)
		if err := h.svc.SetAgentCapacity(h.ctx, byA, agentB, 8); err != nil {
			t.Fatal(err)
		}
		if err := h.svc.SetAgentCapacity(h.ctx, byA, agentB, 0); err != nil {
			t.Fatal(err)
		}
		p, err := h.svc.AgentPresence(h.ctx, agentB)
		if err != nil || p.Capacity != 0 {
			t.Fatalf("presence %+v, %v", p, err)
		}
		entries, err := audit.New(db).List(h.ctx, agent.Ref(agentB), audit.MaxListLimit, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 2 {
			t.Fatalf("%d events", len(entries))
		}
		first, second := entries[1], entries[0]
		if first.Name != desk.EventCapacityChanged || first.Actor != agent.Ref(agentA) ||
			first.Details["before_capacity"] != "5" || first.Details["after_capacity"] != "8" {
			t.Errorf("first %+v", first)
		}
		if second.Details["before_capacity"] != "8" || second.Details["after_capacity"] != "0" {
			t.Errorf("second %+v", second)
		}
	})
}

// fieldOf returns the reason err gives for field.
func fieldOf(t *testing.T, err error, field string) string {
	t.Helper()
	var e *okpay.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v is not an okpay.Error", err)
	}
	return e.Fields[field]
}

// TestSLAPolicyAddRemoveAudited: an administrator adds a policy for a
// channel, category and priority; it becomes the one the next matching
// conversation uses, and is audited with its match and targets. Invalid
// names, matches and targets are refused field by field; a taken name or
// the same match as another policy is a conflict; nothing refused is
// stored or audited. Removing it brings back the broader policy, audited;
// an unknown policy is not found, and the last policy cannot go.
func TestSLAPolicyAddRemoveAudited(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		good := desk.NewSLAPolicy{Name: "chat_security_urgent", Channel: desk.ChannelChat, Category: desk.CategorySecurityPrivacy,
			Priority: desk.PriorityUrgent, SLATargets: desk.SLATargets{FirstResponse: 2 * time.Minute, Resolution: 2 * time.Hour}}
		for _, tc := range []struct {
			in          func(p *desk.NewSLAPolicy)
			field, want string
			code        string
		}{
			{func(p *desk.NewSLAPolicy) { p.Name = "" }, "name", desk.ReasonPolicyName, okpay.EInvalid},
			{func(p *desk.NewSLAPolicy) { p.Name = "Has Spaces" }, "name", desk.ReasonPolicyName, okpay.EInvalid},
			{func(p *desk.NewSLAPolicy) { p.Channel = "fax" }, "match", desk.ReasonPolicyMatch, okpay.EInvalid},
			{func(p *desk.NewSLAPolicy) { p.Category = "billing" }, "match", desk.ReasonPolicyMatch, okpay.EInvalid},
			{func(p *desk.NewSLAPolicy) { p.Channel, p.Category, p.Priority = "", "", "" }, "match", desk.ReasonPolicyMatch, okpay.EInvalid},
			{func(p *desk.NewSLAPolicy) { p.SLATargets = desk.SLATargets{} }, "targets", desk.ReasonPolicyTargets, okpay.EInvalid},
			{func(p *desk.NewSLAPolicy) { p.FirstResponse = 90 * time.Second }, "targets", desk.ReasonPolicyTargets, okpay.EInvalid},
			{func(p *desk.NewSLAPolicy) { p.Resolution = 31 * 24 * time.Hour }, "targets", desk.ReasonPolicyTargets, okpay.EInvalid},
			{func(p *desk.NewSLAPolicy) { p.Name = "urgent" }, "name", desk.ReasonPolicyDuplicate, okpay.EConflict},
			// The seeded "email_low" matches channel email and priority low.
			{func(p *desk.NewSLAPolicy) {
				p.Channel, p.Category, p.Priority = desk.ChannelEmail, "", desk.PriorityLow
			}, "match", desk.ReasonPolicySameMatch, okpay.EConflict},
		} {
			in := good
			tc.in(&in)
			_, err := h.svc.AddSLAPolicy(h.ctx, byA, in)
			wantCode(t, err, tc.code)
			if got := fieldOf(t, err, tc.field); got != tc.want {
				t.Errorf("%+v: %s = %q, want %q", in, tc.field, got, tc.want)
			}
		}
		pols, err := h.svc.SLAPolicies(h.ctx)
		if err != nil || len(pols) != 6 {
			t.Fatalf("%d policies after refusals, %v", len(pols), err)
		}

		p, err := h.svc.AddSLAPolicy(h.ctx, byA, good)
		if err != nil {
			t.Fatal(err)
		}
		if p.WarnPercent != 75 || p.FirstResponse != 2*time.Minute {
			t.Fatalf("added %+v", p)
		}
		got, err := h.svc.SLAPolicyFor(h.ctx, desk.ChannelChat, desk.CategorySecurityPrivacy, desk.PriorityUrgent)
		if err != nil || got.Name != good.Name || got.Resolution != 2*time.Hour || got.NextResponse != 0 {
			t.Fatalf("policy for chat/security/urgent %+v, %v", got, err)
		}
		if got, _ := h.svc.SLAPolicyFor(h.ctx, desk.ChannelChat, desk.CategoryAccount, desk.PriorityUrgent); got.Name != "urgent" {
			t.Fatalf("another category got %s", got.Name)
		}
		_, err = h.svc.AddSLAPolicy(h.ctx, byA, desk.NewSLAPolicy{Name: "again", Channel: good.Channel, Category: good.Category,
			Priority: good.Priority, SLATargets: good.SLATargets})
		wantCode(t, err, okpay.EConflict)

		wantCode(t, h.svc.RemoveSLAPolicy(h.ctx, byA, "no-such"), okpay.ENotFound)
		if err := h.svc.RemoveSLAPolicy(h.ctx, byA, good.Name); err != nil {
			t.Fatal(err)
		}
		if got, _ := h.svc.SLAPolicyFor(h.ctx, desk.ChannelChat, desk.CategorySecurityPrivacy, desk.PriorityUrgent); got.Name != "urgent" {
			t.Fatalf("after removal %s", got.Name)
		}
		entries, err := audit.New(db).List(h.ctx, "sla_policy:"+good.Name, audit.MaxListLimit, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 2 {
			t.Fatalf("%d events", len(entries))
		}
		added, removed := entries[1], entries[0]
		if added.Name != desk.EventSLAPolicyAdded || added.Actor != agent.Ref(agentA) || added.Details["channel"] != "chat" ||
			added.Details["category"] != "security_privacy" || added.Details["first_response"] != "2m0s" || added.Details["next_response"] != "0s" {
			t.Errorf("added %+v", added)
		}
		if removed.Name != desk.EventSLAPolicyRemoved || removed.Details["priority"] != "urgent" || removed.IP != byA.IP {
			t.Errorf("removed %+v", removed)
		}
		// No audit rows for what was refused.
		for _, n := range []string{"urgent", "again", "no-such"} {
			if es, _ := audit.New(db).List(h.ctx, "sla_policy:"+n, audit.MaxListLimit, 0); len(es) != 0 {
				t.Errorf("%d events for refused changes of %s", len(es), n)
			}
		}

		// Down to one policy: it stays.
		pols, _ = h.svc.SLAPolicies(h.ctx)
		for _, p := range pols[1:] {
			if err := h.svc.RemoveSLAPolicy(h.ctx, byA, p.Name); err != nil {
				t.Fatal(err)
			}
		}
		err = h.svc.RemoveSLAPolicy(h.ctx, byA, pols[0].Name)
		wantCode(t, err, okpay.EConflict)
		if fieldOf(t, err, "policy") != desk.ReasonPolicyLast {
			t.Errorf("last: %v", err)
		}
		if left, _ := h.svc.SLAPolicies(h.ctx); len(left) != 1 {
			t.Fatalf("%d policies left", len(left))
		}
	})
}
