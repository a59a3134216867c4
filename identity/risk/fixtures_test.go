package risk

import (
	"testing"
	"time"
)

// t0 is the start of every fixture, a fixed instant.
var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// City coordinates (degrees) for the travel rule.
const (
	shanghaiLat, shanghaiLon = 31.2304, 121.4737
	tokyoLat, tokyoLon       = 35.6762, 139.6503
	londonLat, londonLon     = 51.5074, -0.1278
	parisLat, parisLon       = 48.8566, 2.3522
)

const user = int64(42)

func at(d time.Duration) time.Time { return t0.Add(d) }

func login(d time.Duration, newDevice bool) Event {
	return Event{At: at(d), Kind: LoginSuccess, UserID: user, DeviceID: "dev-new", NewDevice: newDevice}
}

func loginAt(d time.Duration, lat, lon float64) Event {
	return Event{At: at(d), Kind: LoginSuccess, UserID: user, DeviceID: "dev-1", Lat: lat, Lon: lon, HasLocation: true}
}

func payoutAdded(d time.Duration, fp string) Event {
	return Event{At: at(d), Kind: PayoutMethodAdded, UserID: user, PayoutFingerprint: fp}
}

func withdrawal(d time.Duration, amount, balance int64) Event {
	return Event{At: at(d), Kind: Withdrawal, UserID: user, Amount: amount, Currency: "CNY", Balance: balance}
}

func lockout(d time.Duration) Event {
	return Event{At: at(d), Kind: Lockout, UserID: user}
}

func newPayeeTransfer(d time.Duration, payee string) Event {
	return Event{At: at(d), Kind: Transfer, UserID: user, Amount: 100, Currency: "CNY", Balance: 100000, PayeeID: payee, NewPayee: true}
}

// evalLast evaluates the last event of events against the ones before it,
// with the default rules.
func evalLast(t *testing.T, ctx Context, events ...Event) []Decision {
	t.Helper()
	return Evaluate(ctx, events[:len(events)-1], events[len(events)-1])
}

// firedRules returns the rule IDs of decisions.
func firedRules(ds []Decision) []string {
	var ids []string
	for _, d := range ds {
		ids = append(ids, d.RuleID)
	}
	return ids
}

// wantRule checks that ds is exactly one Freeze decision of rule id, or
// nothing when id is "".
func wantRule(t *testing.T, ds []Decision, id string) {
	t.Helper()
	if id == "" {
		if len(ds) != 0 {
			t.Fatalf("decisions = %v, want none", firedRules(ds))
		}
		return
	}
	if len(ds) != 1 || ds[0].RuleID != id || ds[0].Outcome != Freeze || ds[0].Version != 1 {
		t.Fatalf("decisions = %+v, want one freeze by %s v1", ds, id)
	}
}
