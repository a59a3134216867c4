package desk_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/agent"
	"github.com/okpay/okpay/audit"
	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

var (
	byA = desk.StaffActor{AgentID: agentA, IP: "203.0.113.5", RequestID: "req-a"}
	byB = desk.StaffActor{AgentID: agentB}
)

func TestCannedDefaultsSeeded(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		all, err := h.svc.AllCanned(h.ctx)
		if err != nil {
			t.Fatal(err)
		}
		var refund *desk.Canned
		for _, c := range all {
			if c.BodyEn == "" || c.BodyZh == "" {
				t.Errorf("default %q lacks a language", c.Shortcut)
			}
			if c.Shortcut == "refund-time" {
				refund = c
			}
		}
		if len(all) < 3 || refund == nil {
			t.Fatalf("defaults: %d, refund-time %v", len(all), refund)
		}
		if !strings.Contains(refund.Body(i18n.ZhCN), "退款") || !strings.Contains(refund.Body(i18n.En), "Refund") {
			t.Fatalf("refund-time bodies: %q / %q", refund.Body(i18n.ZhCN), refund.Body(i18n.En))
		}
		if got, ok := desk.ParseCannedRef(refund.Ref()); !ok || got != refund.ID {
			t.Fatalf("ref %s parsed as %d %v", refund.Ref(), got, ok)
		}
	})
}

func TestCannedCRUD(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		c, err := h.svc.CreateCanned(h.ctx, byA, desk.CannedInput{Shortcut: " /Card-Limit ", Title: "Card\nlimit",
			BodyEn: "Your card limit is in Settings.", BodyZh: ""})
		if err != nil {
			t.Fatal(err)
		}
		if c.Shortcut != "card-limit" || c.Title != "Card limit" || c.CreatedBy != agentA || !c.CreatedAt.Equal(t0) {
			t.Fatalf("created %+v", c)
		}
		// one language only: the other falls back to it
		if c.Body(i18n.ZhCN) != "Your card limit is in Settings." {
			t.Fatalf("fallback body %q", c.Body(i18n.ZhCN))
		}
		_, err = h.svc.CreateCanned(h.ctx, byB, desk.CannedInput{Shortcut: "card-limit", Title: "Again", BodyEn: "x"})
		wantCode(t, err, desk.ECannedShortcutTaken)
		// the same shortcut in a team is another response
		team, err := h.svc.CreateCanned(h.ctx, byB, desk.CannedInput{Shortcut: "card-limit", Title: "Payments", BodyZh: "支付团队的回复", Team: "payments"})
		if err != nil {
			t.Fatal(err)
		}
		forGeneral, err := h.svc.CannedFor(h.ctx, []string{"general"})
		if err != nil {
			t.Fatal(err)
		}
		forPayments, err := h.svc.CannedFor(h.ctx, []string{"payments"})
		if err != nil {
			t.Fatal(err)
		}
		find := func(list []*desk.Canned, sc string) *desk.Canned {
			for _, x := range list {
				if x.Shortcut == sc {
					return x
				}
			}
			return nil
		}
		if got := find(forGeneral, "card-limit"); got == nil || got.ID != c.ID {
			t.Fatalf("general agents get %+v", got)
		}
		if got := find(forPayments, "card-limit"); got == nil || got.ID != team.ID {
			t.Fatalf("payments agents get %+v", got)
		}
		for _, x := range forPayments {
			if x.Shortcut == "card-limit" && x.ID == c.ID {
				t.Fatal("the global response shows beside the team's")
			}
		}

		h.clock.Advance(60e9)
		up, err := h.svc.UpdateCanned(h.ctx, byA, c.ID, desk.CannedInput{Shortcut: "card-limits", Title: "Card limits", BodyEn: "See Settings.", BodyZh: "请看设置。"})
		if err != nil {
			t.Fatal(err)
		}
		if up.Shortcut != "card-limits" || up.BodyZh != "请看设置。" || !up.UpdatedAt.After(up.CreatedAt) {
			t.Fatalf("updated %+v", up)
		}
		_, err = h.svc.UpdateCanned(h.ctx, byA, team.ID, desk.CannedInput{Shortcut: "refund-time", Title: "x", BodyEn: "x", Team: "payments"})
		if err != nil {
			t.Fatalf("a team may reuse a global shortcut: %v", err)
		}
		_, err = h.svc.UpdateCanned(h.ctx, byA, c.ID, desk.CannedInput{Shortcut: "refund-time", Title: "x", BodyEn: "x"})
		wantCode(t, err, desk.ECannedShortcutTaken)
		if err := h.svc.DeleteCanned(h.ctx, byA, c.ID); err != nil {
			t.Fatal(err)
		}
		_, err = h.svc.CannedByID(h.ctx, c.ID)
		wantCode(t, err, okpay.ENotFound)
		wantCode(t, h.svc.DeleteCanned(h.ctx, byA, c.ID), okpay.ENotFound)
		_, err = h.svc.UpdateCanned(h.ctx, byA, c.ID, desk.CannedInput{Shortcut: "gone", Title: "x", BodyEn: "x"})
		wantCode(t, err, okpay.ENotFound)
	})
}

func TestCannedValidation(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		for _, tc := range []struct {
			in    desk.CannedInput
			field string
		}{
			{desk.CannedInput{Shortcut: "", Title: "t", BodyEn: "b"}, "shortcut"},
			{desk.CannedInput{Shortcut: "has space", Title: "t", BodyEn: "b"}, "shortcut"},
			{desk.CannedInput{Shortcut: "-dash", Title: "t", BodyEn: "b"}, "shortcut"},
			{desk.CannedInput{Shortcut: "退款", Title: "t", BodyEn: "b"}, "shortcut"},
			{desk.CannedInput{Shortcut: strings.Repeat("a", 41), Title: "t", BodyEn: "b"}, "shortcut"},
			{desk.CannedInput{Shortcut: "ok", Title: " ", BodyEn: "b"}, "title"},
			{desk.CannedInput{Shortcut: "ok", Title: strings.Repeat("标", 101), BodyEn: "b"}, "title"},
			{desk.CannedInput{Shortcut: "ok", Title: "t", BodyEn: " \u202e ", BodyZh: ""}, "body_en"},
			{desk.CannedInput{Shortcut: "ok", Title: "t", BodyZh: strings.Repeat("字", 5001)}, "body_zh"},
		} {
			_, err := h.svc.CreateCanned(h.ctx, byA, tc.in)
			var e *okpay.Error
			if !errors.As(err, &e) || e.Code != okpay.EInvalid || e.Fields[tc.field] == "" {
				t.Errorf("%+v: %v, want invalid %s", tc.in, err, tc.field)
			}
		}
		if !desk.ValidShortcut("refund-time") || !desk.ValidShortcut("a1") || desk.ValidShortcut("A") {
			t.Fatal("ValidShortcut")
		}
	})
}

// TestCannedAudited: creating, editing and deleting a canned response
// each append an event to the hash-chained audit log with the agent, the
// request and the fields before and after; a refused change (a taken
// shortcut) leaves no event, and the chain still verifies.
func TestCannedAudited(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		log := audit.New(db)
		c, err := h.svc.CreateCanned(h.ctx, byA, desk.CannedInput{Shortcut: "kyc", Title: "KYC", BodyEn: "Upload your ID."})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.svc.CreateCanned(h.ctx, byB, desk.CannedInput{Shortcut: "kyc", Title: "Again", BodyEn: "x"}); err == nil {
			t.Fatal("a taken shortcut was accepted")
		}
		if _, err := h.svc.UpdateCanned(h.ctx, byB, c.ID, desk.CannedInput{Shortcut: "kyc", Title: "KYC", BodyEn: "Upload your ID.", BodyZh: "请上传证件。"}); err != nil {
			t.Fatal(err)
		}
		if err := h.svc.DeleteCanned(h.ctx, byA, c.ID); err != nil {
			t.Fatal(err)
		}
		entries, err := log.List(h.ctx, c.Ref(), audit.MaxListLimit, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 3 {
			t.Fatalf("%d events: %+v", len(entries), entries)
		}
		del, up, cr := entries[0], entries[1], entries[2] // newest first
		if cr.Name != desk.EventCannedCreated || cr.Actor != agent.Ref(agentA) || cr.IP != "203.0.113.5" || cr.RequestID != "req-a" ||
			cr.Outcome != audit.Success || cr.Details["after_shortcut"] != "kyc" || cr.Details["after_body_en"] != "Upload your ID." ||
			cr.Details["before_shortcut"] != "" {
			t.Errorf("create event %+v", cr)
		}
		// An edit names only the changed fields, before and after.
		if up.Name != desk.EventCannedUpdated || up.Actor != agent.Ref(agentB) || up.Details["before_body_zh"] != "" ||
			up.Details["after_body_zh"] != "请上传证件。" || len(up.Details) != 2 {
			t.Errorf("update event %+v", up)
		}
		if del.Name != desk.EventCannedDeleted || del.Actor != agent.Ref(agentA) || del.Details["before_title"] != "KYC" ||
			del.Details["before_body_zh"] != "请上传证件。" || del.Details["after_title"] != "" {
			t.Errorf("delete event %+v", del)
		}
		if _, ok := up.Details["before_body_zh"]; !ok {
			t.Error("the edit does not record the empty text before")
		}
		rep, err := log.Verify(h.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !rep.OK {
			t.Fatalf("chain: %s", rep.String())
		}
	})
}
