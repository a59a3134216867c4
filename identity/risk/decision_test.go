package risk

import (
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/okpay/okpay"
	"pgregory.net/rapid"
)

func TestRSK07_DecisionRecord(t *testing.T) {
	shanghai := time.FixedZone("CST", 8*3600)
	ev := withdrawal(40*time.Minute, 7000, 10000)
	ev.At = ev.At.In(shanghai)
	ds := Evaluate(Context{}, []Event{login(0, true), payoutAdded(10*time.Minute, "fp")}, ev)
	wantRule(t, ds, RuleNewDevicePayoutDrain)
	d := ds[0]
	if !d.At.Equal(at(40*time.Minute)) || d.At.Location() != time.UTC {
		t.Errorf("At = %v, want %v in UTC", d.At, at(40*time.Minute))
	}
	want := map[string]string{
		"user_id":                "42",
		"event":                  "withdrawal",
		"login_at":               "2026-03-01T09:00:00Z",
		"device_id":              "dev-new",
		"payout_method_added_at": "2026-03-01T09:10:00Z",
		"withdrawal_at":          "2026-03-01T09:40:00Z",
		"amount":                 "7000",
		"balance":                "10000",
		"currency":               "CNY",
		"window":                 "1h0m0s",
	}
	if !reflect.DeepEqual(d.Inputs, want) {
		t.Errorf("Inputs = %v\nwant %v", d.Inputs, want)
	}
}

func TestRSK07_DecisionInputsPerRule(t *testing.T) {
	ctx := Context{FingerprintUsers: map[string]map[int64]struct{}{"fp-x": {3: {}, 1: {}}}}
	tests := []struct {
		events []Event
		rule   string
		want   map[string]string
	}{
		{[]Event{lockout(0), lockout(time.Hour), lockout(2 * time.Hour)}, RuleRepeatedLockouts, map[string]string{
			"user_id": "42", "event": "lockout", "lockouts": "3",
			"first_lockout_at": "2026-03-01T09:00:00Z", "window": "24h0m0s",
		}},
		{[]Event{loginAt(0, shanghaiLat, shanghaiLon), loginAt(time.Hour, tokyoLat, tokyoLon)}, RuleImpossibleTravel, map[string]string{
			"user_id": "42", "event": "login_success", "from_at": "2026-03-01T09:00:00Z", "from_device": "dev-1",
			"from_location": "31.2304,121.4737", "to_location": "35.6762,139.6503",
			"distance_km": "1754.3", "elapsed": "1h0m0s", "speed_kmh": "1754.3", "max_speed_kmh": "900",
		}},
		{[]Event{loginAt(0, londonLat, londonLon), loginAt(0, parisLat, parisLon)}, RuleImpossibleTravel, map[string]string{
			"user_id": "42", "event": "login_success", "from_at": "2026-03-01T09:00:00Z", "from_device": "dev-1",
			"from_location": "51.5074,-0.1278", "to_location": "48.8566,2.3522",
			"distance_km": "343.6", "elapsed": "0s", "speed_kmh": "+Inf", "max_speed_kmh": "900",
		}},
		{[]Event{payoutAdded(0, "fp-x")}, RuleSharedPayoutFingerprint, map[string]string{
			"user_id": "42", "event": "payout_method_added", "fingerprint": "fp-x",
			"linked_accounts": "3", "linked_user_ids": "1,3,42",
		}},
	}
	for _, tt := range tests {
		ds := evalLast(t, ctx, tt.events...)
		wantRule(t, ds, tt.rule)
		if !reflect.DeepEqual(ds[0].Inputs, tt.want) {
			t.Errorf("%s: Inputs = %v\nwant %v", tt.rule, ds[0].Inputs, tt.want)
		}
	}
}

// replayLog is a log of several users that fires every default rule.
func replayLog() []Event {
	var log []Event
	add := func(uid int64, es ...Event) {
		for _, e := range es {
			e.UserID = uid
			log = append(log, e)
		}
	}
	add(1, login(0, true), payoutAdded(5*time.Minute, "fp-a"), withdrawal(20*time.Minute, 9000, 10000),
		withdrawal(25*time.Minute, 400, 1000)) // 40%: no second decision
	add(2, lockout(0), lockout(time.Hour), lockout(2*time.Hour), lockout(30*time.Hour))
	add(3, loginAt(0, shanghaiLat, shanghaiLon), loginAt(time.Hour, tokyoLat, tokyoLon),
		loginAt(5*time.Hour, shanghaiLat, shanghaiLon))
	add(4, payoutAdded(time.Minute, "fp-shared"))
	for i := range 12 {
		add(5, newPayeeTransfer(time.Duration(i)*time.Minute, string(rune('a'+i))))
	}
	// Events at the same instant, to exercise the tie-break.
	add(6, loginAt(0, londonLat, londonLon), loginAt(0, parisLat, parisLon), lockout(0))
	return log
}

func replayCtx() Context {
	return Context{FingerprintUsers: map[string]map[int64]struct{}{"fp-shared": {10: {}, 11: {}}}}
}

func TestRSK07_ReplayDeterministic(t *testing.T) {
	log := replayLog()
	first := Replay(replayCtx(), log)

	got := map[string]int{}
	for _, d := range first {
		got[d.RuleID]++
	}
	want := map[string]int{
		RuleNewDevicePayoutDrain:    1,
		RuleRepeatedLockouts:        1,
		RuleImpossibleTravel:        2, // user 3 once, user 6 once
		RuleSharedPayoutFingerprint: 1,
		RuleNewPayeeBurst:           3, // the 10th, 11th and 12th transfer
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("decisions per rule = %v, want %v", got, want)
	}

	if again := Replay(replayCtx(), log); !reflect.DeepEqual(first, again) {
		t.Fatalf("second replay differs:\n%+v\n%+v", first, again)
	}

	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 50 {
		shuffled := slices.Clone(log)
		rng.Shuffle(len(shuffled), func(a, b int) { shuffled[a], shuffled[b] = shuffled[b], shuffled[a] })
		if got := Replay(replayCtx(), shuffled); !reflect.DeepEqual(first, got) {
			t.Fatalf("shuffle %d: replay differs:\n%+v\n%+v", i, first, got)
		}
		SortEvents(shuffled)
		if got := Replay(replayCtx(), shuffled); !reflect.DeepEqual(first, got) {
			t.Fatalf("shuffle %d sorted: replay differs", i)
		}
	}

	// The input is left as it was.
	if !reflect.DeepEqual(log, replayLog()) {
		t.Error("Replay modified its input")
	}
}

// TestRSK07_ReplayMatchesEvaluate: Replay is Evaluate of each event of the
// sorted log against its prefix, and Evaluate does not depend on the order
// of the history or on other users' and later events in it.
func TestRSK07_ReplayMatchesEvaluate(t *testing.T) {
	log := replayLog()
	SortEvents(log)
	var want []Decision
	rng := rand.New(rand.NewPCG(3, 4))
	for i, ev := range log {
		prefix := slices.Clone(log[:i])
		rng.Shuffle(len(prefix), func(a, b int) { prefix[a], prefix[b] = prefix[b], prefix[a] })
		want = append(want, Evaluate(replayCtx(), prefix, ev)...)
	}
	if got := Replay(replayCtx(), log); !reflect.DeepEqual(got, want) {
		t.Fatalf("Replay = %+v\nEvaluate over prefixes = %+v", got, want)
	}

	// Later events in the history are ignored.
	ev := lockout(2 * time.Hour)
	history := []Event{lockout(0), lockout(time.Hour), lockout(3 * time.Hour), lockout(4 * time.Hour)}
	wantRule(t, Evaluate(Context{}, history[:1], ev), "")
	wantRule(t, Evaluate(Context{}, history, ev), RuleRepeatedLockouts)
	history = []Event{lockout(0), lockout(3 * time.Hour), lockout(4 * time.Hour)}
	wantRule(t, Evaluate(Context{}, history, ev), "")
}

// TestRSK07_ReplayOrderProperty: for random logs, replaying any
// permutation gives the same decisions.
func TestRSK07_ReplayOrderProperty(t *testing.T) {
	kinds := []Kind{LoginSuccess, LoginFail, Lockout, PayoutMethodAdded, Withdrawal, Transfer, PasswordReset}
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(0, 60).Draw(t, "n")
		var log []Event
		for range n {
			e := Event{
				At:                at(time.Duration(rapid.IntRange(0, 180).Draw(t, "min")) * time.Minute),
				Kind:              rapid.SampledFrom(kinds).Draw(t, "kind"),
				UserID:            rapid.Int64Range(1, 3).Draw(t, "user"),
				NewDevice:         rapid.Bool().Draw(t, "newDevice"),
				HasLocation:       rapid.Bool().Draw(t, "hasLoc"),
				Lat:               rapid.Float64Range(-90, 90).Draw(t, "lat"),
				Lon:               rapid.Float64Range(-180, 180).Draw(t, "lon"),
				Amount:            rapid.Int64Range(0, 1000).Draw(t, "amount"),
				Balance:           rapid.Int64Range(0, 1000).Draw(t, "balance"),
				NewPayee:          rapid.Bool().Draw(t, "newPayee"),
				PayeeID:           rapid.SampledFrom([]string{"p1", "p2"}).Draw(t, "payee"),
				PayoutFingerprint: rapid.SampledFrom([]string{"", "fp-shared"}).Draw(t, "fp"),
			}
			log = append(log, e)
		}
		want := Replay(replayCtx(), log)
		perm := rapid.Permutation(log).Draw(t, "perm")
		if got := Replay(replayCtx(), perm); !reflect.DeepEqual(got, want) {
			t.Fatalf("permuted replay differs:\n%+v\n%+v", got, want)
		}
	})
}

// stub returns a rule that always or never matches.
func stub(id string, o Outcome, match bool) Rule {
	return Rule{ID: id, Version: 1, Outcome: o, Match: func(Context, []Event, Event) (map[string]string, bool) {
		return map[string]string{"stub": id}, match
	}}
}

func TestRSK08_RuleOrder(t *testing.T) {
	ev := login(0, false)
	tests := []struct {
		name  string
		rules []Rule
		want  []string
	}{
		{"step-up, then allow wins over block and review", []Rule{
			stub("review", Review, true), stub("block", Block, true), stub("allow", Allow, true), stub("stepup", StepUp, true),
		}, []string{"stepup", "allow"}},
		{"block wins over review", []Rule{
			stub("review", Review, true), stub("block", Block, true), stub("allow", Allow, false),
		}, []string{"block"}},
		{"freeze is block class", []Rule{
			stub("review", Review, true), stub("freeze", Freeze, true), stub("allow", Allow, false),
		}, []string{"freeze"}},
		{"allow wins over freeze", []Rule{
			stub("freeze", Freeze, true), stub("allow", Allow, true),
		}, []string{"allow"}},
		{"declared order within a stage", []Rule{
			stub("block", Block, true), stub("freeze", Freeze, true),
		}, []string{"block"}},
		{"declared order within a stage, reversed", []Rule{
			stub("freeze", Freeze, true), stub("block", Block, true),
		}, []string{"freeze"}},
		{"review last", []Rule{
			stub("review", Review, true), stub("block", Block, false), stub("allow", Allow, false), stub("stepup", StepUp, false),
		}, []string{"review"}},
		{"one step-up only, then the terminal stages", []Rule{
			stub("s1", StepUp, true), stub("s2", StepUp, true), stub("review", Review, true),
		}, []string{"s1", "review"}},
		{"step-up alone", []Rule{stub("s1", StepUp, true), stub("block", Block, false)}, []string{"s1"}},
		{"nothing matches", []Rule{stub("block", Block, false)}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs, err := NewRuleSet(tt.rules...)
			if err != nil {
				t.Fatal(err)
			}
			ds := rs.Evaluate(Context{}, nil, ev)
			if got := firedRules(ds); !slices.Equal(got, tt.want) {
				t.Fatalf("decisions = %v, want %v", got, tt.want)
			}
			for _, d := range ds {
				if d.Inputs["stub"] != d.RuleID || d.Inputs["user_id"] != "42" || d.Inputs["event"] != "login_success" {
					t.Errorf("%s: Inputs = %v", d.RuleID, d.Inputs)
				}
			}
		})
	}

	rs, _ := NewRuleSet(stub("review", Review, true), stub("block", Block, true), stub("allow", Allow, true), stub("stepup", StepUp, true))
	var order []string
	for _, r := range rs.Rules() {
		order = append(order, r.ID)
	}
	if want := []string{"stepup", "allow", "block", "review"}; !slices.Equal(order, want) {
		t.Errorf("Rules() order = %v, want %v", order, want)
	}
}

// TestRSK08_DefaultRulesFirstMatchWins: an event that matches two default
// rules gets one decision, from the rule listed first.
func TestRSK08_DefaultRulesFirstMatchWins(t *testing.T) {
	ctx := Context{FingerprintUsers: map[string]map[int64]struct{}{"fp-x": {1: {}, 2: {}}}}
	ev := withdrawal(20*time.Minute, 9000, 10000)
	ev.PayoutFingerprint = "fp-x"
	history := []Event{login(0, true), payoutAdded(10*time.Minute, "fp-x")}
	wantRule(t, Evaluate(ctx, history, ev), RuleNewDevicePayoutDrain)

	// Without the drain, the fingerprint rule is the one that matches.
	ev.Amount = 10
	wantRule(t, Evaluate(ctx, history, ev), RuleSharedPayoutFingerprint)

	var ids []string
	for _, r := range DefaultRules() {
		ids = append(ids, r.ID)
		if r.Outcome != Freeze || r.Version != 1 {
			t.Errorf("%s: outcome %s version %d, want freeze v1", r.ID, r.Outcome, r.Version)
		}
	}
	want := []string{RuleNewDevicePayoutDrain, RuleRepeatedLockouts, RuleImpossibleTravel, RuleSharedPayoutFingerprint, RuleNewPayeeBurst}
	if !slices.Equal(ids, want) {
		t.Errorf("DefaultRules = %v, want %v", ids, want)
	}
}

func TestRSK08_NewRuleSetRejectsBadRules(t *testing.T) {
	ok := stub("ok", Block, true)
	tests := map[string][]Rule{
		"empty ID":        {{Version: 1, Outcome: Block, Match: ok.Match}},
		"duplicate ID":    {ok, ok},
		"version 0":       {{ID: "x", Outcome: Block, Match: ok.Match}},
		"unknown outcome": {{ID: "x", Version: 1, Outcome: "maybe", Match: ok.Match}},
		"nil Match":       {{ID: "x", Version: 1, Outcome: Block}},
	}
	for name, rules := range tests {
		if _, err := NewRuleSet(rules...); okpay.ErrorCode(err) != okpay.EInvalid {
			t.Errorf("%s: err = %v, want %s", name, err, okpay.EInvalid)
		}
	}
	if _, err := NewRuleSet(); err != nil {
		t.Errorf("empty rule set: %v", err)
	}
}
