package wallet_test

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
	"github.com/okpay/okpay/wallet"
)

var ruleNow = time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)

// settled is a review input that no rule matches: a modest amount to a
// card verified a month ago, by a customer with withdrawals behind them
// and no recent security change.
func settled() wallet.ReviewInput {
	return wallet.ReviewInput{
		Now: ruleNow, Amount: usd(100_00), Fee: usd(1_50), Available: usd(1000_00),
		AccountCreated: ruleNow.AddDate(-1, 0, 0), MethodKind: "card", MethodVerified: ruleNow.AddDate(0, -1, 0),
		Security:        []wallet.SecurityEvent{{Name: "authn_login_success", At: ruleNow.Add(-time.Hour)}, {Name: "authn_password_change", At: ruleNow.AddDate(0, 0, -8)}},
		Previous:        []wallet.PastWithdrawal{{At: ruleNow.AddDate(0, 0, -3), Amount: usd(50_00), Stage: "completed"}},
		CompletedBefore: 4,
	}
}

// TestRSK07_WithdrawalRuleFixtures: each rule is a pure function, tested
// on fixtures at its edges.
func TestRSK07_WithdrawalRuleFixtures(t *testing.T) {
	p := wallet.DefaultReviewPolicy()
	tests := []struct {
		name string
		edit func(in *wallet.ReviewInput)
		want []string
	}{
		{"settled customer", func(in *wallet.ReviewInput) {}, nil},
		{"just below the threshold", func(in *wallet.ReviewInput) { in.Amount = usd(699_99) }, nil},
		{"at the threshold", func(in *wallet.ReviewInput) { in.Amount = usd(700_00) }, []string{wallet.RuleAmountThreshold}},
		{"JPY threshold", func(in *wallet.ReviewInput) { in.Amount = money.New(100_000, "JPY") }, []string{wallet.RuleAmountThreshold}},
		{"currency without a threshold", func(in *wallet.ReviewInput) { in.Amount = money.New(1_00, "CHF") }, []string{wallet.RuleAmountThreshold}},
		{"first withdrawal", func(in *wallet.ReviewInput) { in.CompletedBefore, in.Previous = 0, nil }, []string{wallet.RuleFirstWithdrawal}},
		{"earlier ones all failed", func(in *wallet.ReviewInput) {
			in.CompletedBefore = 0
			in.Previous[0].Stage = "voided"
		}, []string{wallet.RuleFirstWithdrawal}},
		{"method verified 7 days ago less 1 s", func(in *wallet.ReviewInput) { in.MethodVerified = ruleNow.Add(-7*24*time.Hour + time.Second) }, []string{wallet.RuleNewMethod}},
		{"method verified 7 days ago", func(in *wallet.ReviewInput) { in.MethodVerified = ruleNow.Add(-7 * 24 * time.Hour) }, nil},
		{"method never verified", func(in *wallet.ReviewInput) { in.MethodVerified = time.Time{} }, []string{wallet.RuleNewMethod}},
		{"password reset 6 days ago", func(in *wallet.ReviewInput) {
			in.Security = append(in.Security, wallet.SecurityEvent{Name: "authn_password_reset", At: ruleNow.AddDate(0, 0, -6)})
		}, []string{wallet.RuleRecentSecurityChange}},
		{"hold started an hour ago", func(in *wallet.ReviewInput) {
			in.Security = append(in.Security, wallet.SecurityEvent{Name: "hold_started", At: ruleNow.Add(-time.Hour)})
		}, []string{wallet.RuleRecentSecurityChange}},
		{"login is no security change", func(in *wallet.ReviewInput) {
			in.Security = append(in.Security, wallet.SecurityEvent{Name: "authn_login_success", At: ruleNow})
		}, nil},
		{"security change exactly 7 days ago", func(in *wallet.ReviewInput) {
			in.Security = append(in.Security, wallet.SecurityEvent{Name: "authn_mfa_disabled", At: ruleNow.AddDate(0, 0, -7)})
		}, nil},
		{"two withdrawals today", func(in *wallet.ReviewInput) {
			in.Previous = append(in.Previous, wallet.PastWithdrawal{At: ruleNow.Add(-time.Hour), Amount: usd(1_00), Stage: "sent"},
				wallet.PastWithdrawal{At: ruleNow.Add(-2 * time.Hour), Amount: usd(1_00), Stage: "voided"})
		}, nil},
		{"three withdrawals today", func(in *wallet.ReviewInput) {
			in.Previous = append(in.Previous, wallet.PastWithdrawal{At: ruleNow.Add(-time.Hour), Amount: usd(1_00), Stage: "sent"},
				wallet.PastWithdrawal{At: ruleNow.Add(-2 * time.Hour), Amount: usd(1_00), Stage: "voided"},
				wallet.PastWithdrawal{At: ruleNow.Add(-24*time.Hour + time.Second), Amount: usd(1_00), Stage: "completed"})
		}, []string{wallet.RuleVelocity}},
		{"shared method", func(in *wallet.ReviewInput) { in.MethodShared = true }, []string{wallet.RuleSharedMethod}},
		{"payee name matched", func(in *wallet.ReviewInput) { in.MethodKind, in.MethodNameCheck = "bank_account", "match" }, nil},
		{"payee name check unavailable", func(in *wallet.ReviewInput) { in.MethodKind, in.MethodNameCheck = "bank_account", "unavailable" }, nil},
		{"payee name close match", func(in *wallet.ReviewInput) {
			in.MethodKind, in.MethodNameCheck, in.MethodNameHeld = "bank_account", "close_match", "John Smith"
		}, []string{wallet.RulePayeeName}},
		{"payee name mismatch confirmed", func(in *wallet.ReviewInput) { in.MethodKind, in.MethodNameCheck = "bank_account", "no_match" }, []string{wallet.RulePayeeName}},
		{"everything at once", func(in *wallet.ReviewInput) {
			in.Amount, in.CompletedBefore, in.MethodVerified, in.MethodShared = usd(5000_00), 0, ruleNow, true
			in.Security = []wallet.SecurityEvent{{Name: "user_updated", At: ruleNow.Add(-time.Minute)}}
			for i := 0; i < 3; i++ {
				in.Previous = append(in.Previous, wallet.PastWithdrawal{At: ruleNow.Add(-time.Minute), Amount: usd(1), Stage: "review"})
			}
		}, []string{wallet.RuleAmountThreshold, wallet.RuleFirstWithdrawal, wallet.RuleNewMethod, wallet.RuleRecentSecurityChange, wallet.RuleVelocity, wallet.RuleSharedMethod}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := settled()
			tc.edit(&in)
			d := wallet.Decide(p, in)
			if got := d.RuleIDs(); !slices.Equal(got, tc.want) && !(len(got) == 0 && len(tc.want) == 0) {
				t.Fatalf("matched %v, want %v", got, tc.want)
			}
			wantOutcome := wallet.DecisionAutoApprove
			if len(tc.want) > 0 {
				wantOutcome = wallet.DecisionReview
			}
			if d.Outcome != wantOutcome {
				t.Fatalf("outcome %s", d.Outcome)
			}
			for _, m := range d.Matched {
				if m.Version < 1 || m.Detail == "" || m.Key == "" {
					t.Errorf("match %+v", m)
				}
			}
		})
	}
	// A rule can be turned off.
	in := settled()
	in.MethodShared = true
	if d := wallet.Decide(wallet.ReviewPolicy{Skip: map[string]bool{wallet.RuleSharedMethod: true}}, in); d.Outcome != wallet.DecisionAutoApprove {
		t.Fatalf("skipped rule still matched: %v", d.RuleIDs())
	}
}

// TestRSK07_WithdrawalDecisionsReplay: the stored decision records hold
// the rules' ids, versions and input; replaying every stored input
// through the rules reproduces every stored decision (determinism).
func TestRSK07_WithdrawalDecisionsReplay(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newWDHarness(t, db, wdOpts{})
		u := h.signUp()
		card := h.ready(u, usd(5000_00), "4242424242424242")
		if err := h.w.SetVerificationLevel(h.ctx, u.id, 1, "agt_1", "identity document reviewed", h.meta); err != nil {
			t.Fatal(err)
		}
		risk := reviewer(30, "r30@okpay.test")
		for _, a := range []int64{100_00, 900_00, 50_00, 20_00, 30_00} {
			wd := h.withdraw(u, card.ID, usd(a))
			if wd.Stage == wallet.StageReview {
				if err := h.wd.Approve(h.ctx, risk, wd.Txn.ID, "", riskMeta); err != nil {
					t.Fatal(err)
				}
			}
			h.runJobs()
			h.waitStatus(u, wd.Txn.ID, wallet.StatusCompleted)
			h.clock.Advance(time.Hour)
		}
		rows, err := db.Read.Query(`SELECT outcome, rules, inputs FROM withdrawal_decisions WHERE actor = 'rules' ORDER BY id`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var outcomes []string
		for rows.Next() {
			var outcome, rules, inputs string
			if err := rows.Scan(&outcome, &rules, &inputs); err != nil {
				t.Fatal(err)
			}
			var in wallet.ReviewInput
			if err := json.Unmarshal([]byte(inputs), &in); err != nil {
				t.Fatal(err)
			}
			var stored []wallet.RuleMatch
			if err := json.Unmarshal([]byte(rules), &stored); err != nil {
				t.Fatal(err)
			}
			d := wallet.Decide(h.wd.Config().Review, in)
			if d.Outcome != outcome || !(reflect.DeepEqual(d.Matched, stored) || len(d.Matched) == 0 && len(stored) == 0) {
				t.Errorf("replay: %s %v, stored %s %v", d.Outcome, d.Matched, outcome, stored)
			}
			outcomes = append(outcomes, outcome)
		}
		// first → review; 900 → review (amount); 50 → auto; the fourth and
		// the fifth have three withdrawals in the 24 h before them →
		// review (velocity).
		want := []string{"review", "review", "auto_approve", "review", "review"}
		if !slices.Equal(outcomes, want) {
			t.Fatalf("outcomes %v, want %v", outcomes, want)
		}
	})
}

// FuzzWithdrawalReviewInput: any stored input decodes into a decision
// without panicking, and the same input always gives the same decision.
func FuzzWithdrawalReviewInput(f *testing.F) {
	b, _ := json.Marshal(settled())
	f.Add(string(b))
	f.Add(`{"now":"2026-11-25T08:00:00Z","amount":{"amount":"1.00","currency":"USD"},"previous":[{"at":"2026-11-25T07:00:00Z","stage":"x"}]}`)
	f.Add(`{"amount":{"amount":"99999999999.99","currency":"XXX"},"completed_before":-1}`)
	f.Add(`{}`)
	f.Fuzz(func(t *testing.T, s string) {
		var in wallet.ReviewInput
		if json.Unmarshal([]byte(s), &in) != nil {
			return
		}
		a, b := wallet.Decide(wallet.DefaultReviewPolicy(), in), wallet.Decide(wallet.DefaultReviewPolicy(), in)
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("two decisions for one input: %+v %+v", a, b)
		}
		if (a.Outcome == wallet.DecisionReview) != (len(a.Matched) > 0) {
			t.Fatalf("outcome %s with %d matches", a.Outcome, len(a.Matched))
		}
	})
}

// FuzzCleanReviewNote: a reviewer's note is accepted only as valid UTF-8
// of at most MaxReviewNote characters without control characters other
// than line breaks and tabs; what is accepted is trimmed and never
// longer.
func FuzzCleanReviewNote(f *testing.F) {
	for _, s := range []string{"", "ok", " customer called, verified by video \n", "\x00", "a\u202eb", "\xff", strings.Repeat("长", wallet.MaxReviewNote+1), "tab\there"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, err := wallet.CleanReviewNote(s)
		if err != nil {
			if out != "" {
				t.Fatal("output with an error")
			}
			return
		}
		if !utf8.ValidString(out) || utf8.RuneCountInString(out) > wallet.MaxReviewNote || out != strings.TrimSpace(out) || len(out) > len(s) {
			t.Fatalf("accepted %q as %q", s, out)
		}
		for _, r := range out {
			if r < 0x20 && r != '\n' && r != '\t' || r == 0x7f || r >= 0x202a && r <= 0x202e {
				t.Fatalf("accepted control %U in %q", r, s)
			}
		}
	})
}
