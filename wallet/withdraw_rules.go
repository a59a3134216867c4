package wallet

import (
	"encoding/json"
	"slices"
	"strconv"
	"time"

	"github.com/okpay/okpay/money"
)

// The review rules of withdrawals. Each is a pure function of a
// ReviewInput (no clock, no database): the service gathers the input
// before the hold, the rules decide, and the decision is stored with the
// rules' ids and versions and the input itself (RSK-07), so replaying a
// stored input reproduces the decision (a test does). A withdrawal that
// matches no rule is approved automatically; one that matches any waits
// for a reviewer of the risk role. The rules only ever ask for a review:
// blocking is the final gate's (freeze, holds, limits) and the payment
// method's (new-method hold, CRD-06).

// Rule ids.
const (
	RuleAmountThreshold      = "amount_threshold"
	RuleFirstWithdrawal      = "first_withdrawal"
	RuleNewMethod            = "new_method"
	RuleRecentSecurityChange = "recent_security_change"
	RuleVelocity             = "velocity"
	RuleSharedMethod         = "shared_method"
	RulePayeeName            = "payee_name"
)

// Decisions of the rules (Withdrawal.Decision).
const (
	DecisionAutoApprove = "auto_approve"
	DecisionReview      = "review"
)

// ReviewPolicy sets the rules' thresholds. Zero fields take the defaults
// of DefaultReviewPolicy.
type ReviewPolicy struct {
	// AutoApproveMax is, per currency, the largest amount (minor units)
	// approved without a reviewer; a currency missing here always goes to
	// review.
	AutoApproveMax map[money.Currency]int64
	// NewMethodAge: a payout method verified less than this long ago is
	// new (7 days).
	NewMethodAge time.Duration
	// SecurityWindow: a security change (password, factors, contacts,
	// holds, unfreeze) less than this long ago is recent (7 days).
	SecurityWindow time.Duration
	// VelocityWindow and VelocityCount: this many withdrawals or more in
	// the window before this one (24 h, 3).
	VelocityWindow time.Duration
	VelocityCount  int
	// Skip turns rules off by id (for a demonstration server; never in
	// production).
	Skip map[string]bool
}

// DefaultReviewPolicy: withdrawals of about CN¥5,000 or more go to review.
func DefaultReviewPolicy() ReviewPolicy {
	return ReviewPolicy{
		AutoApproveMax: map[money.Currency]int64{
			"CNY": 5_000_00, "USD": 700_00, "EUR": 650_00, "GBP": 550_00, "JPY": 100_000, "HKD": 5_500_00, "RUB": 60_000_00,
		},
		NewMethodAge:   7 * 24 * time.Hour,
		SecurityWindow: 7 * 24 * time.Hour,
		VelocityWindow: 24 * time.Hour,
		VelocityCount:  3,
	}
}

func (p *ReviewPolicy) defaults() {
	d := DefaultReviewPolicy()
	if p.AutoApproveMax == nil {
		p.AutoApproveMax = d.AutoApproveMax
	}
	if p.NewMethodAge <= 0 {
		p.NewMethodAge = d.NewMethodAge
	}
	if p.SecurityWindow <= 0 {
		p.SecurityWindow = d.SecurityWindow
	}
	if p.VelocityWindow <= 0 {
		p.VelocityWindow = d.VelocityWindow
	}
	if p.VelocityCount <= 0 {
		p.VelocityCount = d.VelocityCount
	}
}

// SecurityEvent is a security change of the account (from the audit log).
type SecurityEvent struct {
	Name string    `json:"name"`
	At   time.Time `json:"at"`
}

// PastWithdrawal is one of the customer's earlier withdrawals.
type PastWithdrawal struct {
	At     time.Time    `json:"at"`
	Amount money.Amount `json:"amount"`
	// Stage is its stage (completed, voided, or still on its way).
	Stage string `json:"stage"`
}

// ReviewInput is everything the rules see of a withdrawal.
type ReviewInput struct {
	Now    time.Time    `json:"now"`
	Amount money.Amount `json:"amount"`
	Fee    money.Amount `json:"fee"`
	// Available is the wallet's available balance before the hold.
	Available money.Amount `json:"available"`
	// AccountCreated is when the customer signed up.
	AccountCreated time.Time `json:"account_created"`
	MethodKind     string    `json:"method_kind"`
	// MethodVerified is when the payout method was verified (its
	// creation when the time is unknown).
	MethodVerified time.Time `json:"method_verified"`
	// MethodShared: the same card or account is on another customer's
	// account too (CRD-07).
	MethodShared bool `json:"method_shared"`
	// MethodNameCheck is a bank account's payee-name check answer when it
	// was added (CRD-10: "match", "close_match", "no_match",
	// "unavailable"; "" for other methods), MethodNameHeld the name the
	// bank holds (close match).
	MethodNameCheck string `json:"method_name_check,omitempty"`
	MethodNameHeld  string `json:"method_name_held,omitempty"`
	// Security are the account's security changes, newest first.
	Security []SecurityEvent `json:"security"`
	// Previous are the customer's latest earlier withdrawals, newest
	// first; CompletedBefore counts all their completed ones, ever.
	Previous        []PastWithdrawal `json:"previous"`
	CompletedBefore int              `json:"completed_before"`
}

// securityChanges are the audit events that make a withdrawal look like
// an account takeover cashing out (RSK-02's triggers and then some).
var securityChanges = []string{
	"authn_password_change", "authn_password_reset", "authn_mfa_disabled", "authn_mfa_enabled",
	"authn_recovery_code_used", "hold_started", "account_unfrozen", "user_updated", "authn_token_reuse",
}

// IsSecurityChange reports whether an audit event name counts for
// RuleRecentSecurityChange.
func IsSecurityChange(name string) bool { return slices.Contains(securityChanges, name) }

// ReviewRule is one rule: it matches a withdrawal that needs a reviewer,
// and says why (for the reviewer's page and the decision record).
type ReviewRule struct {
	ID      string
	Version int
	Match   func(p ReviewPolicy, in ReviewInput) (bool, RuleDetail)
}

// RuleDetail says why a rule matched: a short English sentence (the
// decision record's), and the same as a message key and its values, for
// the reviewer's page in its language (withdraw.rule_detail.<Key>).
// Amounts are values in minor units with their currency
// (amount/limit and currency), periods in hours (window_hours).
type RuleDetail struct {
	Text string
	Key  string
	Args map[string]string
}

// ReviewRules returns the rules in their evaluation order.
func ReviewRules() []ReviewRule {
	return []ReviewRule{
		{ID: RuleAmountThreshold, Version: 1, Match: matchAmountThreshold},
		{ID: RuleFirstWithdrawal, Version: 1, Match: matchFirstWithdrawal},
		{ID: RuleNewMethod, Version: 1, Match: matchNewMethod},
		{ID: RuleRecentSecurityChange, Version: 1, Match: matchRecentSecurityChange},
		{ID: RuleVelocity, Version: 1, Match: matchVelocity},
		{ID: RuleSharedMethod, Version: 1, Match: matchSharedMethod},
		{ID: RulePayeeName, Version: 1, Match: matchPayeeName},
	}
}

func matchAmountThreshold(p ReviewPolicy, in ReviewInput) (bool, RuleDetail) {
	limit, ok := p.AutoApproveMax[in.Amount.Currency]
	if !ok {
		return true, RuleDetail{Text: "no automatic approval is configured for " + string(in.Amount.Currency),
			Key: "amount_unconfigured", Args: map[string]string{"currency": string(in.Amount.Currency)}}
	}
	if in.Amount.Minor >= limit {
		return true, RuleDetail{Text: "the amount " + in.Amount.Format("en") + " reaches the review threshold of " + money.New(limit, in.Amount.Currency).Format("en"),
			Key: "amount_threshold", Args: map[string]string{"amount": itoa(in.Amount.Minor), "limit": itoa(limit), "currency": string(in.Amount.Currency)}}
	}
	return false, RuleDetail{}
}

func matchFirstWithdrawal(p ReviewPolicy, in ReviewInput) (bool, RuleDetail) {
	if in.CompletedBefore > 0 {
		return false, RuleDetail{}
	}
	return true, RuleDetail{Text: "the customer has never completed a withdrawal", Key: "first_withdrawal"}
}

func matchNewMethod(p ReviewPolicy, in ReviewInput) (bool, RuleDetail) {
	if in.MethodVerified.IsZero() || in.Now.Sub(in.MethodVerified) < p.NewMethodAge {
		return true, RuleDetail{Text: "the payout method was verified less than " + days(p.NewMethodAge) + " ago",
			Key: "new_method", Args: map[string]string{"window_hours": hours(p.NewMethodAge)}}
	}
	return false, RuleDetail{}
}

func matchRecentSecurityChange(p ReviewPolicy, in ReviewInput) (bool, RuleDetail) {
	for _, e := range in.Security {
		if IsSecurityChange(e.Name) && !e.At.After(in.Now) && in.Now.Sub(e.At) < p.SecurityWindow {
			return true, RuleDetail{Text: "a security change (" + e.Name + ") happened less than " + days(p.SecurityWindow) + " ago",
				Key: "recent_security_change", Args: map[string]string{"event": e.Name, "window_hours": hours(p.SecurityWindow)}}
		}
	}
	return false, RuleDetail{}
}

func matchVelocity(p ReviewPolicy, in ReviewInput) (bool, RuleDetail) {
	n := 0
	for _, w := range in.Previous {
		if !w.At.After(in.Now) && in.Now.Sub(w.At) < p.VelocityWindow {
			n++
		}
	}
	if n >= p.VelocityCount {
		return true, RuleDetail{Text: itoa(int64(n)) + " withdrawals in the " + days(p.VelocityWindow) + " before this one",
			Key: "velocity", Args: map[string]string{"count": itoa(int64(n)), "window_hours": hours(p.VelocityWindow)}}
	}
	return false, RuleDetail{}
}

func matchSharedMethod(p ReviewPolicy, in ReviewInput) (bool, RuleDetail) {
	if in.MethodShared {
		return true, RuleDetail{Text: "the payout method is on another customer's account too", Key: "shared_method"}
	}
	return false, RuleDetail{}
}

func matchPayeeName(p ReviewPolicy, in ReviewInput) (bool, RuleDetail) {
	switch in.MethodNameCheck {
	case "no_match":
		return true, RuleDetail{Text: "the payee-name check did not match the account holder; the customer confirmed the account anyway", Key: "payee_no_match"}
	case "close_match":
		return true, RuleDetail{Text: "the payee-name check was a close match: the bank holds the name " + strconv.Quote(in.MethodNameHeld),
			Key: "payee_close_match", Args: map[string]string{"name": in.MethodNameHeld}}
	}
	return false, RuleDetail{}
}

// hours says a duration in whole hours, for RuleDetail.Args.
func hours(d time.Duration) string { return itoa(int64(d / time.Hour)) }

// days says a duration in days or hours, for the rules' details.
func days(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		n := int64(d / (24 * time.Hour))
		if n == 1 {
			return "1 day"
		}
		return itoa(n) + " days"
	}
	return d.String()
}

// RuleMatch is a rule that matched. Detail is the English sentence; Key
// and Args the same for other languages (RuleDetail; decision records
// written before them have neither).
type RuleMatch struct {
	ID      string            `json:"id"`
	Version int               `json:"version"`
	Detail  string            `json:"detail"`
	Key     string            `json:"key,omitempty"`
	Args    map[string]string `json:"args,omitempty"`
}

// ReviewDecision is the rules' outcome for one input.
type ReviewDecision struct {
	Outcome string // DecisionAutoApprove or DecisionReview
	Matched []RuleMatch
}

// Decide runs every rule of policy p over in, in order, and decides: a
// review when any matched (all matches are kept, for the reviewer),
// automatic approval otherwise. It is deterministic: the same policy and
// input always give the same decision.
func Decide(p ReviewPolicy, in ReviewInput) ReviewDecision {
	p.defaults()
	d := ReviewDecision{Outcome: DecisionAutoApprove}
	for _, r := range ReviewRules() {
		if p.Skip[r.ID] {
			continue
		}
		if ok, detail := r.Match(p, in); ok {
			d.Matched = append(d.Matched, RuleMatch{ID: r.ID, Version: r.Version, Detail: detail.Text, Key: detail.Key, Args: detail.Args})
		}
	}
	if len(d.Matched) > 0 {
		d.Outcome = DecisionReview
	}
	return d
}

// RuleIDs lists the ids of the matched rules.
func (d ReviewDecision) RuleIDs() []string {
	out := make([]string, len(d.Matched))
	for i, m := range d.Matched {
		out[i] = m.ID
	}
	return out
}

// encodeJSON encodes v for a decision record ("" when it cannot be: the
// record is informative and never blocks a withdrawal).
func encodeJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}
