package risk

import (
	"math"
	"testing"
	"time"
)

func TestRSK04_DistanceKnownCities(t *testing.T) {
	tests := []struct {
		name                   string
		lat1, lon1, lat2, lon2 float64
		want, tolerance        float64
	}{
		// Published great-circle distances between the city centres.
		{"Shanghai-Tokyo", shanghaiLat, shanghaiLon, tokyoLat, tokyoLon, 1760, 15},
		{"London-Paris", londonLat, londonLon, parisLat, parisLon, 344, 2},
		{"same point", shanghaiLat, shanghaiLon, shanghaiLat, shanghaiLon, 0, 0},
		{"antipodes", 0, 0, 0, 180, math.Pi * earthRadiusKm, 1e-6},
		{"pole to pole", 90, 0, -90, 0, math.Pi * earthRadiusKm, 1e-6},
	}
	for _, tt := range tests {
		got := DistanceKm(tt.lat1, tt.lon1, tt.lat2, tt.lon2)
		if math.Abs(got-tt.want) > tt.tolerance {
			t.Errorf("%s: DistanceKm = %.3f, want %.0f ± %.0f", tt.name, got, tt.want, tt.tolerance)
		}
		if back := DistanceKm(tt.lat2, tt.lon2, tt.lat1, tt.lon1); back != got {
			t.Errorf("%s: not symmetric: %v vs %v", tt.name, got, back)
		}
	}
}

func TestRSK04_NewDevicePayoutDrain(t *testing.T) {
	const balance = 10000
	tests := []struct {
		name   string
		events []Event // the last one triggers
		want   string
	}{
		{"positive: login, add, drain within 1 h", []Event{
			login(0, true), payoutAdded(10*time.Minute, "fp"), withdrawal(59*time.Minute, 5000, balance),
		}, RuleNewDevicePayoutDrain},
		{"withdrawal 49.99% of balance", []Event{
			login(0, true), payoutAdded(10*time.Minute, "fp"), withdrawal(30*time.Minute, 4999, balance),
		}, ""},
		{"withdrawal exactly 50% of balance", []Event{
			login(0, true), payoutAdded(10*time.Minute, "fp"), withdrawal(30*time.Minute, 5000, balance),
		}, RuleNewDevicePayoutDrain},
		{"whole balance", []Event{
			login(0, true), payoutAdded(10*time.Minute, "fp"), withdrawal(30*time.Minute, balance, balance),
		}, RuleNewDevicePayoutDrain},
		{"span 59 min", []Event{
			login(0, true), payoutAdded(time.Minute, "fp"), withdrawal(59*time.Minute, 6000, balance),
		}, RuleNewDevicePayoutDrain},
		{"span exactly 60 min", []Event{
			login(0, true), payoutAdded(time.Minute, "fp"), withdrawal(60*time.Minute, 6000, balance),
		}, RuleNewDevicePayoutDrain},
		{"span 61 min", []Event{
			login(0, true), payoutAdded(time.Minute, "fp"), withdrawal(61*time.Minute, 6000, balance),
		}, ""},
		{"payout method added 61 min before", []Event{
			payoutAdded(0, "fp"), login(time.Minute, true), withdrawal(61*time.Minute, 6000, balance),
		}, ""},
		{"known device", []Event{
			login(0, false), payoutAdded(10*time.Minute, "fp"), withdrawal(20*time.Minute, 6000, balance),
		}, ""},
		{"no payout method added", []Event{
			login(0, true), withdrawal(20*time.Minute, 6000, balance),
		}, ""},
		{"no new-device login", []Event{
			payoutAdded(10*time.Minute, "fp"), withdrawal(20*time.Minute, 6000, balance),
		}, ""},
		{"completed by the payout method", []Event{
			login(0, true), withdrawal(10*time.Minute, 6000, balance), payoutAdded(20*time.Minute, "fp"),
		}, RuleNewDevicePayoutDrain},
		{"completed by the new-device login", []Event{
			payoutAdded(0, "fp"), withdrawal(10*time.Minute, 6000, balance), login(20*time.Minute, true),
		}, RuleNewDevicePayoutDrain},
		{"unrelated trigger after a match", []Event{
			login(0, true), payoutAdded(10*time.Minute, "fp"), withdrawal(20*time.Minute, 6000, balance),
			{At: at(30 * time.Minute), Kind: LoginFail, UserID: user},
		}, ""},
		{"small withdrawal after the drain", []Event{
			login(0, true), payoutAdded(10*time.Minute, "fp"), withdrawal(20*time.Minute, 6000, balance),
			withdrawal(30*time.Minute, 10, 4000),
		}, ""},
		{"empty balance", []Event{
			login(0, true), payoutAdded(10*time.Minute, "fp"), withdrawal(20*time.Minute, 1, 0),
		}, RuleNewDevicePayoutDrain},
		{"zero amount", []Event{
			login(0, true), payoutAdded(10*time.Minute, "fp"), withdrawal(20*time.Minute, 0, 0),
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantRule(t, evalLast(t, Context{}, tt.events...), tt.want)
		})
	}

	t.Run("other user's events do not count", func(t *testing.T) {
		other := login(0, true)
		other.UserID = 7
		ds := Evaluate(Context{}, []Event{other, payoutAdded(time.Minute, "fp")}, withdrawal(2*time.Minute, 6000, balance))
		wantRule(t, ds, "")
	})
}

func TestRSK04_DrainThreshold(t *testing.T) {
	tests := []struct {
		amount, balance int64
		want            bool
	}{
		{4999, 10000, false},
		{5000, 10000, true},
		{1, 3, false}, // 33%
		{2, 3, true},  // 67%
		{1, 2, true},  // 50%
		{49, 99, false},
		{50, 99, true},
		{1, 1, true},
		{math.MaxInt64 / 2, math.MaxInt64, false},
		{math.MaxInt64/2 + 1, math.MaxInt64, true},
		{1, -5, true}, // nothing left to protect
		{-1, 10, false},
	}
	for _, tt := range tests {
		if got := isDrain(withdrawal(0, tt.amount, tt.balance)); got != tt.want {
			t.Errorf("isDrain(%d of %d) = %v, want %v", tt.amount, tt.balance, got, tt.want)
		}
	}
	if isDrain(Event{Kind: Transfer, Amount: 100, Balance: 100}) {
		t.Error("a transfer counted as a withdrawal")
	}
}

func TestRSK04_RepeatedLockouts(t *testing.T) {
	tests := []struct {
		name   string
		events []Event
		want   string
	}{
		{"2 lockouts", []Event{lockout(0), lockout(time.Hour)}, ""},
		{"3 lockouts", []Event{lockout(0), lockout(time.Hour), lockout(2 * time.Hour)}, RuleRepeatedLockouts},
		{"3 lockouts within exactly 24 h", []Event{lockout(0), lockout(time.Hour), lockout(24 * time.Hour)}, RuleRepeatedLockouts},
		{"3 lockouts over 24 h + 1 s", []Event{lockout(0), lockout(time.Hour), lockout(24*time.Hour + time.Second)}, ""},
		{"4th lockout", []Event{lockout(0), lockout(time.Hour), lockout(2 * time.Hour), lockout(3 * time.Hour)}, RuleRepeatedLockouts},
		{"failures are not lockouts", []Event{
			lockout(0), lockout(time.Hour),
			{At: at(2 * time.Hour), Kind: LoginFail, UserID: user},
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantRule(t, evalLast(t, Context{}, tt.events...), tt.want)
		})
	}
}

func TestRSK04_ImpossibleTravel(t *testing.T) {
	d := DistanceKm(shanghaiLat, shanghaiLon, tokyoLat, tokyoLon)
	hoursAt := func(kmh float64) time.Duration { return time.Duration(d / kmh * float64(time.Hour)) }

	tests := []struct {
		name   string
		events []Event
		want   string
	}{
		{"Shanghai to Tokyo at 899 km/h", []Event{
			loginAt(0, shanghaiLat, shanghaiLon), loginAt(hoursAt(899), tokyoLat, tokyoLon),
		}, ""},
		{"Shanghai to Tokyo at 901 km/h", []Event{
			loginAt(0, shanghaiLat, shanghaiLon), loginAt(hoursAt(901), tokyoLat, tokyoLon),
		}, RuleImpossibleTravel},
		{"Tokyo to Shanghai at 901 km/h", []Event{
			loginAt(0, tokyoLat, tokyoLon), loginAt(hoursAt(901), shanghaiLat, shanghaiLon),
		}, RuleImpossibleTravel},
		// About 1754 km: 1 h 55 min is about 915 km/h, 2 h about 877 km/h.
		{"Shanghai to Tokyo in 1 h 55 min", []Event{
			loginAt(0, shanghaiLat, shanghaiLon), loginAt(115*time.Minute, tokyoLat, tokyoLon),
		}, RuleImpossibleTravel},
		{"Shanghai to Tokyo in 2 h", []Event{
			loginAt(0, shanghaiLat, shanghaiLon), loginAt(2*time.Hour, tokyoLat, tokyoLon),
		}, ""},
		{"same instant, different cities", []Event{
			loginAt(0, londonLat, londonLon), loginAt(0, parisLat, parisLon),
		}, RuleImpossibleTravel},
		{"same instant, 2.5 km apart", []Event{
			loginAt(0, shanghaiLat, shanghaiLon), loginAt(0, shanghaiLat, 121.5),
		}, ""},
		{"one second, 2.5 km apart", []Event{
			loginAt(0, shanghaiLat, shanghaiLon), loginAt(time.Second, shanghaiLat, 121.5),
		}, ""},
		{"login without location is ignored", []Event{
			loginAt(0, shanghaiLat, shanghaiLon), login(time.Hour, false), loginAt(time.Hour, tokyoLat, tokyoLon),
		}, RuleImpossibleTravel},
		{"no earlier located login", []Event{
			login(0, false), loginAt(time.Minute, tokyoLat, tokyoLon),
		}, ""},
		{"trigger without location", []Event{
			loginAt(0, shanghaiLat, shanghaiLon), login(time.Minute, false),
		}, ""},
		{"failed logins do not count", []Event{
			{At: at(0), Kind: LoginFail, UserID: user, Lat: shanghaiLat, Lon: shanghaiLon, HasLocation: true},
			loginAt(time.Minute, tokyoLat, tokyoLon),
		}, ""},
		{"out-of-range coordinates are ignored", []Event{
			loginAt(0, 91, shanghaiLon), loginAt(time.Minute, tokyoLat, tokyoLon),
		}, ""},
		{"NaN coordinates are ignored", []Event{
			loginAt(0, math.NaN(), shanghaiLon), loginAt(time.Minute, tokyoLat, tokyoLon),
		}, ""},
		{"compared with the latest located login", []Event{
			loginAt(0, shanghaiLat, shanghaiLon),
			loginAt(3*time.Hour, tokyoLat, tokyoLon), // 585 km/h
			loginAt(3*time.Hour+10*time.Minute, tokyoLat, tokyoLon),
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantRule(t, evalLast(t, Context{}, tt.events...), tt.want)
		})
	}
}

func TestRSK04_SharedPayoutFingerprint(t *testing.T) {
	set := func(ids ...int64) map[int64]struct{} {
		m := make(map[int64]struct{})
		for _, id := range ids {
			m[id] = struct{}{}
		}
		return m
	}
	tests := []struct {
		name   string
		linked map[int64]struct{}
		ev     Event
		want   string
	}{
		{"2 other accounts + this one", set(1, 2), payoutAdded(0, "fp-x"), RuleSharedPayoutFingerprint},
		{"1 other account + this one", set(1), payoutAdded(0, "fp-x"), ""},
		{"this one already linked + 1 other", set(1, user), payoutAdded(0, "fp-x"), ""},
		{"this one already linked + 2 others", set(1, 2, user), payoutAdded(0, "fp-x"), RuleSharedPayoutFingerprint},
		{"unlinked fingerprint", nil, payoutAdded(0, "fp-x"), ""},
		{"withdrawal to a shared fingerprint", set(1, 2), func() Event {
			e := withdrawal(0, 1, 100)
			e.PayoutFingerprint = "fp-x"
			return e
		}(), RuleSharedPayoutFingerprint},
		{"no fingerprint", set(1, 2), payoutAdded(0, ""), ""},
		{"other fingerprint", set(1, 2), payoutAdded(0, "fp-y"), ""},
		{"not a payout event", set(1, 2), Event{At: t0, Kind: Transfer, UserID: user, PayoutFingerprint: "fp-x"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := Context{FingerprintUsers: map[string]map[int64]struct{}{"fp-x": tt.linked}}
			wantRule(t, Evaluate(ctx, nil, tt.ev), tt.want)
		})
	}
}

func TestRSK04_NewPayeeBurst(t *testing.T) {
	burst := func(n int, span time.Duration) []Event {
		var es []Event
		for i := range n {
			d := time.Duration(0)
			if n > 1 {
				d = span * time.Duration(i) / time.Duration(n-1)
			}
			es = append(es, newPayeeTransfer(d, "payee-"+string(rune('a'+i))))
		}
		return es
	}
	tests := []struct {
		name   string
		events []Event
		want   string
	}{
		{"9 in 1 h", burst(9, 30*time.Minute), ""},
		{"10 in 1 h", burst(10, 30*time.Minute), RuleNewPayeeBurst},
		{"10 over 59 min", burst(10, 59*time.Minute), RuleNewPayeeBurst},
		{"10 over exactly 60 min", burst(10, 60*time.Minute), RuleNewPayeeBurst},
		{"10 over 61 min", burst(10, 61*time.Minute), ""},
		{"known payees do not count", func() []Event {
			es := burst(10, 30*time.Minute)
			es[3].NewPayee = false
			return es
		}(), ""},
		{"trigger to a known payee", func() []Event {
			es := burst(10, 30*time.Minute)
			es[9].NewPayee = false
			return es
		}(), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantRule(t, evalLast(t, Context{}, tt.events...), tt.want)
		})
	}
}

// RSK-04: callers give the travel rule TravelHistoryWindow of sign-ins;
// no older sign-in could make a new one impossible (the farthest two
// places are half the circumference apart).
func TestRSK04_TravelHistoryWindowIsLongEnough(t *testing.T) {
	if d := DistanceKm(0, 0, 0, 180); math.Abs(d-MaxDistanceKm) > 1e-6 {
		t.Fatalf("antipodes %.3f km, MaxDistanceKm %.3f", d, MaxDistanceKm)
	}
	hours := MaxDistanceKm / MaxTravelSpeedKmh
	longest := time.Duration(hours * float64(time.Hour))
	if longest >= TravelHistoryWindow {
		t.Fatalf("the farthest trip takes %v at %v km/h, the window is %v", longest, MaxTravelSpeedKmh, TravelHistoryWindow)
	}
	// Antipodes just inside and just outside that time.
	wantRule(t, evalLast(t, Context{}, loginAt(0, 0, 0), loginAt(longest-time.Minute, 0, 180)), RuleImpossibleTravel)
	wantRule(t, evalLast(t, Context{}, loginAt(0, 0, 0), loginAt(longest+time.Minute, 0, 180)), "")
}
