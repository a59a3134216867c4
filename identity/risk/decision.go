package risk

import (
	"slices"
	"strconv"
	"time"

	"github.com/okpay/okpay"
)

// Outcome is what a matched rule decides. Its values are stable strings.
type Outcome string

// Outcomes. Freeze is a block-class outcome: an auto-freeze rule runs with
// the block rules (RSK-08) and, beyond blocking the event, asks the caller
// to freeze the account (RSK-04).
const (
	Allow  Outcome = "allow"
	StepUp Outcome = "step_up"
	Block  Outcome = "block"
	Review Outcome = "review"
	Freeze Outcome = "freeze"
)

// stage is the position of an outcome's rules in the evaluation order
// step-up → allow → block → review (RSK-08), or -1 for an unknown outcome.
func (o Outcome) stage() int {
	switch o {
	case StepUp:
		return 0
	case Allow:
		return 1
	case Block, Freeze:
		return 2
	case Review:
		return 3
	}
	return -1
}

// terminal reports whether a match of this outcome ends the evaluation.
// A step-up is not terminal: like Radar's "request 3DS" rules, it is
// recorded and the later stages still run.
func (o Outcome) terminal() bool { return o != StepUp }

// Context is the state a rule needs beyond one user's history, as of the
// time of evaluation. Treat it as read-only.
type Context struct {
	// FingerprintUsers maps a payout fingerprint (PSP card or bank account
	// fingerprint) to the set of user IDs it is linked to, across all
	// users. The user of the evaluated event need not be in it yet.
	FingerprintUsers map[string]map[int64]struct{}
}

// Decision is a risk decision record (RSK-07): which rule at which version
// decided what, on which inputs, at the time of the triggering event.
// Inputs always hold "user_id" and "event" (the triggering event's kind)
// besides the rule's own inputs; times in them are RFC 3339 in UTC.
type Decision struct {
	RuleID  string
	Version int
	Outcome Outcome
	Inputs  map[string]string
	At      time.Time // the triggering event's time, in UTC
}

// Rule is one risk rule. Match must be a deterministic function of its
// arguments: it reads no clock, no global state and no randomness, and it
// does not modify its arguments.
type Rule struct {
	ID      string
	Version int
	Outcome Outcome
	// Match reports whether the rule fires on ev, and the inputs it
	// based that on. history holds the same user's earlier events in
	// CompareEvents order, none later than ev; ev is not in it.
	Match func(ctx Context, history []Event, ev Event) (inputs map[string]string, ok bool)
}

// RuleSet is an ordered set of rules. It is immutable and safe for
// concurrent use.
type RuleSet struct {
	rules []Rule
}

// NewRuleSet checks the rules and orders them for evaluation: by stage
// (step-up, allow, block and freeze, review), keeping the given order
// within a stage. It returns a validation_failed error for an empty or
// duplicate ID, a version below 1, an unknown outcome or a nil Match.
func NewRuleSet(rules ...Rule) (*RuleSet, error) {
	seen := make(map[string]bool, len(rules))
	for i, r := range rules {
		field := "rules[" + strconv.Itoa(i) + "]"
		switch {
		case r.ID == "":
			return nil, okpay.Invalid(map[string]string{field: "rule ID is empty"})
		case seen[r.ID]:
			return nil, okpay.Invalid(map[string]string{field: "duplicate rule ID " + strconv.Quote(r.ID)})
		case r.Version < 1:
			return nil, okpay.Invalid(map[string]string{field: "version must be at least 1"})
		case r.Outcome.stage() < 0:
			return nil, okpay.Invalid(map[string]string{field: "unknown outcome " + strconv.Quote(string(r.Outcome))})
		case r.Match == nil:
			return nil, okpay.Invalid(map[string]string{field: "Match is nil"})
		}
		seen[r.ID] = true
	}
	ordered := slices.Clone(rules)
	slices.SortStableFunc(ordered, func(a, b Rule) int {
		return a.Outcome.stage() - b.Outcome.stage()
	})
	return &RuleSet{rules: ordered}, nil
}

// Rules returns the rules in evaluation order.
func (s *RuleSet) Rules() []Rule { return slices.Clone(s.rules) }

// Evaluate runs the rules on ev in order (RSK-08) and returns the decision
// records: the first matching step-up rule, if any, then the first matching
// allow, block, freeze or review rule, if any, which ends the evaluation.
// It returns nil when no rule matches.
//
// history is the user's earlier events, in any order; events of other
// users and events later than ev are ignored, and ev itself must not be in
// it. The result depends only on the arguments.
func (s *RuleSet) Evaluate(ctx Context, history []Event, ev Event) []Decision {
	var h []Event
	for _, e := range history {
		if e.UserID == ev.UserID && !e.At.After(ev.At) {
			h = append(h, e)
		}
	}
	SortEvents(h)
	return s.evaluate(ctx, h, ev)
}

// evaluate is Evaluate on a history already filtered and sorted.
func (s *RuleSet) evaluate(ctx Context, history []Event, ev Event) []Decision {
	var out []Decision
	steppedUp := false
	for _, r := range s.rules {
		if r.Outcome == StepUp && steppedUp {
			continue
		}
		inputs, ok := r.Match(ctx, history, ev)
		if !ok {
			continue
		}
		out = append(out, decision(r, inputs, ev))
		if r.Outcome.terminal() {
			break
		}
		steppedUp = true
	}
	return out
}

func decision(r Rule, inputs map[string]string, ev Event) Decision {
	in := make(map[string]string, len(inputs)+2)
	for k, v := range inputs {
		in[k] = v
	}
	if _, ok := in["user_id"]; !ok {
		in["user_id"] = strconv.FormatInt(ev.UserID, 10)
	}
	if _, ok := in["event"]; !ok {
		in["event"] = string(ev.Kind)
	}
	return Decision{
		RuleID:  r.ID,
		Version: r.Version,
		Outcome: r.Outcome,
		Inputs:  in,
		At:      ev.At.UTC().Round(0),
	}
}

// Replay sorts a copy of events (any order, any number of users) in
// CompareEvents order, evaluates each event against the earlier events of
// its user, and returns all decisions in event order. Replaying the same
// log, in any order, with the same ctx gives identical decisions (RSK-07).
// ctx is used as is for every event: it stands for the cross-user state at
// the time of the replay.
func (s *RuleSet) Replay(ctx Context, events []Event) []Decision {
	sorted := slices.Clone(events)
	SortEvents(sorted)
	prefix := make(map[int64][]Event)
	var out []Decision
	for _, ev := range sorted {
		h := prefix[ev.UserID]
		out = append(out, s.evaluate(ctx, h[:len(h):len(h)], ev)...)
		prefix[ev.UserID] = append(h, ev)
	}
	return out
}

// defaultRules is the rule set of DefaultRules.
var defaultRules = func() *RuleSet {
	s, err := NewRuleSet(DefaultRules()...)
	if err != nil {
		panic(err)
	}
	return s
}()

// Evaluate runs the default rules (DefaultRules) on ev; see
// RuleSet.Evaluate.
func Evaluate(ctx Context, history []Event, ev Event) []Decision {
	return defaultRules.Evaluate(ctx, history, ev)
}

// Replay replays events through the default rules; see RuleSet.Replay.
func Replay(ctx Context, events []Event) []Decision {
	return defaultRules.Replay(ctx, events)
}
