package web

import (
	"strings"
	"testing"
	"time"

	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/wallet"
)

// TestReviewRuleDetail: the reviewer's page says why each rule matched in
// its language, from the values the rule kept. In English it reads as the
// rule's own sentence (the decision record's), so the values are filled
// where they belong; in Chinese no English sentence is left (the Chinese
// risk reviewer read "the customer has never completed a withdrawal"). A
// decision recorded before rules kept their values shows its sentence.
func TestReviewRuleDetail(t *testing.T) {
	cat, err := i18n.New()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	p := wallet.DefaultReviewPolicy()
	base := wallet.ReviewInput{Now: now, Amount: money.New(5000_00, "USD"), MethodVerified: now, MethodShared: true,
		MethodKind: "bank_account", MethodNameCheck: "close_match", MethodNameHeld: "Li Wei",
		Security: []wallet.SecurityEvent{{Name: "authn_password_reset", At: now.Add(-time.Hour)}}}
	for i := 0; i < 3; i++ {
		base.Previous = append(base.Previous, wallet.PastWithdrawal{At: now.Add(-time.Minute), Amount: money.New(1, "USD"), Stage: "sent"})
	}
	unconfigured := base
	unconfigured.Amount, unconfigured.MethodNameCheck = money.New(1_00, "CHF"), "no_match"
	var matches []wallet.RuleMatch
	for _, in := range []wallet.ReviewInput{base, unconfigured} {
		matches = append(matches, wallet.Decide(p, in).Matched...)
	}
	keys := map[string]bool{}
	for _, m := range matches {
		keys[m.Key] = true
	}
	if len(keys) != 9 {
		t.Fatalf("the fixtures cover %d of the 9 details: %v", len(keys), keys)
	}
	en := &page{s: &Server{cat: cat}, Lang: i18n.En}
	zh := &page{s: &Server{cat: cat}, Lang: i18n.ZhCN}
	for _, m := range matches {
		if m.Key == "" || !cat.Has("withdraw.rule_detail."+m.Key) {
			t.Errorf("%s: no message for key %q", m.ID, m.Key)
			continue
		}
		if got := en.ReviewRuleDetail(m); got != m.Detail {
			t.Errorf("%s in English: %q, want the rule's sentence %q", m.ID, got, m.Detail)
		}
		got := zh.ReviewRuleDetail(m)
		if got == m.Detail || strings.Contains(got, "{{") || strings.Contains(got, "withdraw.") || strings.Contains(got, "the ") {
			t.Errorf("%s in Chinese: %q", m.ID, got)
		}
		for k, v := range m.Args {
			var want string
			switch k {
			case "event", "name", "count":
				want = v
			case "amount":
				want = base.Amount.Format("zh-CN")
			}
			if want != "" && !strings.Contains(got, want) {
				t.Errorf("%s in Chinese: %q lacks %s %q", m.ID, got, k, want)
			}
		}
	}
	old := wallet.RuleMatch{ID: wallet.RuleFirstWithdrawal, Version: 1, Detail: "the customer has never completed a withdrawal"}
	if got := zh.ReviewRuleDetail(old); got != old.Detail {
		t.Errorf("an old record: %q", got)
	}
	bad := wallet.RuleMatch{ID: wallet.RuleNewMethod, Detail: "sentence", Key: "new_method", Args: map[string]string{"window_hours": "x"}}
	if got := zh.ReviewRuleDetail(bad); got != "sentence" {
		t.Errorf("an unreadable value: %q", got)
	}
	for h, want := range map[int]string{24: "1 天", 168: "7 天", 1: "1 小时", 36: "36 小时"} {
		if got := zh.reviewWindow(h); got != want {
			t.Errorf("window %d h: %q, want %q", h, got, want)
		}
	}
}
