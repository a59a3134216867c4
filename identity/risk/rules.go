package risk

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// IDs of the auto-freeze rules (RSK-04), in their evaluation order.
const (
	RuleNewDevicePayoutDrain    = "new_device_payout_drain"
	RuleRepeatedLockouts        = "repeated_lockouts"
	RuleImpossibleTravel        = "impossible_travel"
	RuleSharedPayoutFingerprint = "shared_payout_fingerprint"
	RuleNewPayeeBurst           = "new_payee_burst"
)

// Rule thresholds (RSK-04). Every window includes its end points: events
// exactly one window apart are within it.
const (
	// R1: a new-device login, a payout method added and a withdrawal of at
	// least DrainPercent of the available balance, all within DrainWindow.
	DrainWindow  = time.Hour
	DrainPercent = 50

	// R2: LockoutRuleCount lockouts within LockoutRuleWindow.
	LockoutRuleCount  = 3
	LockoutRuleWindow = 24 * time.Hour

	// R3: two successful logins whose implied speed is above
	// MaxTravelSpeedKmh. Distances up to TravelToleranceKm are location
	// noise and never count, so that two logins in the same instant count
	// only when they are more than TravelToleranceKm apart.
	MaxTravelSpeedKmh = 900.0
	TravelToleranceKm = 5.0
	// TravelHistoryWindow is how far back a caller must give the rule
	// its sign-in history: no two points on Earth are more than
	// MaxDistanceKm (half the circumference) apart, which takes under
	// 22.3 h at MaxTravelSpeedKmh, so an older sign-in can never make a
	// new one impossible.
	TravelHistoryWindow = 24 * time.Hour

	// R4: a payout fingerprint linked to SharedFingerprintAccounts or more
	// distinct accounts.
	SharedFingerprintAccounts = 3

	// R5: NewPayeeBurstCount transfers to new payees within
	// NewPayeeBurstWindow.
	NewPayeeBurstCount  = 10
	NewPayeeBurstWindow = time.Hour
)

// DefaultRules returns the auto-freeze rules of RSK-04, version 1 each,
// all with outcome Freeze. Every rule fires only on the kind of event that
// can complete its pattern, so an unrelated event never repeats a freeze.
func DefaultRules() []Rule {
	return []Rule{
		{ID: RuleNewDevicePayoutDrain, Version: 1, Outcome: Freeze, Match: matchNewDevicePayoutDrain},
		{ID: RuleRepeatedLockouts, Version: 1, Outcome: Freeze, Match: matchRepeatedLockouts},
		{ID: RuleImpossibleTravel, Version: 1, Outcome: Freeze, Match: matchImpossibleTravel},
		{ID: RuleSharedPayoutFingerprint, Version: 1, Outcome: Freeze, Match: matchSharedPayoutFingerprint},
		{ID: RuleNewPayeeBurst, Version: 1, Outcome: Freeze, Match: matchNewPayeeBurst},
	}
}

// inWindow returns the events of history, then ev, that are no earlier
// than ev.At minus d.
func inWindow(history []Event, ev Event, d time.Duration) []Event {
	start := ev.At.Add(-d)
	i, _ := slices.BinarySearchFunc(history, start, func(e Event, t time.Time) int {
		return e.At.Compare(t)
	})
	w := make([]Event, 0, len(history)-i+1)
	w = append(w, history[i:]...)
	return append(w, ev)
}

// lastWhere returns the latest event of events that satisfies f.
func lastWhere(events []Event, f func(Event) bool) (Event, bool) {
	for i := len(events) - 1; i >= 0; i-- {
		if f(events[i]) {
			return events[i], true
		}
	}
	return Event{}, false
}

func isNewDeviceLogin(e Event) bool { return e.Kind == LoginSuccess && e.NewDevice }
func isPayoutAdded(e Event) bool    { return e.Kind == PayoutMethodAdded }

// isDrain reports a withdrawal of at least DrainPercent of the balance.
func isDrain(e Event) bool {
	if e.Kind != Withdrawal || e.Amount <= 0 {
		return false
	}
	if e.Balance <= 0 {
		return true
	}
	// Amount/Balance >= DrainPercent/100 without overflow: compare with
	// the smallest qualifying amount, ceil(Balance*DrainPercent/100).
	q, r := e.Balance/100, e.Balance%100
	need := q*DrainPercent + (r*DrainPercent+99)/100
	return e.Amount >= need
}

// R1 new_device_payout_drain.
func matchNewDevicePayoutDrain(_ Context, history []Event, ev Event) (map[string]string, bool) {
	if !isNewDeviceLogin(ev) && !isPayoutAdded(ev) && !isDrain(ev) {
		return nil, false
	}
	w := inWindow(history, ev, DrainWindow)
	login, ok1 := lastWhere(w, isNewDeviceLogin)
	added, ok2 := lastWhere(w, isPayoutAdded)
	wd, ok3 := lastWhere(w, isDrain)
	if !ok1 || !ok2 || !ok3 {
		return nil, false
	}
	return map[string]string{
		"login_at":               formatTime(login.At),
		"device_id":              login.DeviceID,
		"payout_method_added_at": formatTime(added.At),
		"withdrawal_at":          formatTime(wd.At),
		"amount":                 strconv.FormatInt(wd.Amount, 10),
		"balance":                strconv.FormatInt(wd.Balance, 10),
		"currency":               wd.Currency,
		"window":                 DrainWindow.String(),
	}, true
}

// R2 repeated_lockouts.
func matchRepeatedLockouts(_ Context, history []Event, ev Event) (map[string]string, bool) {
	if ev.Kind != Lockout {
		return nil, false
	}
	var n int
	var first time.Time
	for _, e := range inWindow(history, ev, LockoutRuleWindow) {
		if e.Kind == Lockout {
			if n == 0 {
				first = e.At
			}
			n++
		}
	}
	if n < LockoutRuleCount {
		return nil, false
	}
	return map[string]string{
		"lockouts":         strconv.Itoa(n),
		"first_lockout_at": formatTime(first),
		"window":           LockoutRuleWindow.String(),
	}, true
}

// R3 impossible_travel: ev against the latest earlier located successful
// login. Comparing consecutive logins is enough: if any two logins are
// impossibly far apart, so are two consecutive ones (triangle inequality).
func matchImpossibleTravel(_ Context, history []Event, ev Event) (map[string]string, bool) {
	isLocatedLogin := func(e Event) bool { return e.Kind == LoginSuccess && located(e) }
	if !isLocatedLogin(ev) {
		return nil, false
	}
	prev, ok := lastWhere(history, isLocatedLogin)
	if !ok {
		return nil, false
	}
	d := DistanceKm(prev.Lat, prev.Lon, ev.Lat, ev.Lon)
	if d <= TravelToleranceKm {
		return nil, false
	}
	elapsed := ev.At.Sub(prev.At)
	speed := math.Inf(1)
	if elapsed > 0 {
		speed = d / elapsed.Hours()
	}
	if speed <= MaxTravelSpeedKmh {
		return nil, false
	}
	return map[string]string{
		"from_at":       formatTime(prev.At),
		"from_device":   prev.DeviceID,
		"from_location": formatLatLon(prev.Lat, prev.Lon),
		"to_location":   formatLatLon(ev.Lat, ev.Lon),
		"distance_km":   strconv.FormatFloat(d, 'f', 1, 64),
		"elapsed":       elapsed.String(),
		"speed_kmh":     strconv.FormatFloat(speed, 'f', 1, 64),
		"max_speed_kmh": strconv.FormatFloat(MaxTravelSpeedKmh, 'f', -1, 64),
	}, true
}

// MaxDistanceKm is the longest great-circle distance: half the Earth's
// circumference.
const MaxDistanceKm = math.Pi * earthRadiusKm

// maxListedUsers caps the user IDs copied into an R4 decision record.
const maxListedUsers = 20

// R4 shared_payout_fingerprint: the accounts linked in ctx plus the
// event's own.
func matchSharedPayoutFingerprint(ctx Context, _ []Event, ev Event) (map[string]string, bool) {
	if (ev.Kind != PayoutMethodAdded && ev.Kind != Withdrawal) || ev.PayoutFingerprint == "" {
		return nil, false
	}
	linked := ctx.FingerprintUsers[ev.PayoutFingerprint]
	users := make([]int64, 0, len(linked)+1)
	for id := range linked {
		users = append(users, id)
	}
	if _, ok := linked[ev.UserID]; !ok {
		users = append(users, ev.UserID)
	}
	if len(users) < SharedFingerprintAccounts {
		return nil, false
	}
	slices.Sort(users)
	listed := make([]string, 0, min(len(users), maxListedUsers))
	for _, id := range users[:min(len(users), maxListedUsers)] {
		listed = append(listed, strconv.FormatInt(id, 10))
	}
	return map[string]string{
		"fingerprint":     ev.PayoutFingerprint,
		"linked_accounts": strconv.Itoa(len(users)),
		"linked_user_ids": strings.Join(listed, ","),
	}, true
}

// R5 new_payee_burst.
func matchNewPayeeBurst(_ Context, history []Event, ev Event) (map[string]string, bool) {
	isNewPayeeTransfer := func(e Event) bool { return e.Kind == Transfer && e.NewPayee }
	if !isNewPayeeTransfer(ev) {
		return nil, false
	}
	var n int
	var first time.Time
	payees := make(map[string]bool)
	for _, e := range inWindow(history, ev, NewPayeeBurstWindow) {
		if isNewPayeeTransfer(e) {
			if n == 0 {
				first = e.At
			}
			n++
			payees[e.PayeeID] = true
		}
	}
	if n < NewPayeeBurstCount {
		return nil, false
	}
	return map[string]string{
		"new_payee_transfers": strconv.Itoa(n),
		"distinct_payees":     strconv.Itoa(len(payees)),
		"first_transfer_at":   formatTime(first),
		"window":              NewPayeeBurstWindow.String(),
	}, true
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func formatLatLon(lat, lon float64) string {
	return strconv.FormatFloat(lat, 'f', 4, 64) + "," + strconv.FormatFloat(lon, 'f', 4, 64)
}
