package risk

import (
	"math"
	"testing"
	"testing/synctest"
	"time"
)

func TestRSK02_HoldFor(t *testing.T) {
	want := map[Kind]time.Duration{
		PasswordReset:     24 * time.Hour,
		FactorRemoved:     24 * time.Hour,
		ContactChanged:    24 * time.Hour,
		RecoveryCodeUsed:  24 * time.Hour,
		AssistedRecovery:  72 * time.Hour,
		Unfreeze:          24 * time.Hour,
		LoginSuccess:      0,
		LoginFail:         0,
		Lockout:           0,
		PayoutMethodAdded: 0, // a per-method hold, see PayoutMethodUsable
		Withdrawal:        0,
		Transfer:          0,
		"unknown":         0,
	}
	for kind, d := range want {
		if got := HoldFor(kind); got != d {
			t.Errorf("HoldFor(%s) = %v, want %v", kind, got, d)
		}
	}
}

// TestRSK02_HoldBoundaries: each hold is in force one second before its
// end and lifted one second after.
func TestRSK02_HoldBoundaries(t *testing.T) {
	for _, kind := range []Kind{PasswordReset, FactorRemoved, ContactChanged, RecoveryCodeUsed, AssistedRecovery, Unfreeze} {
		until := HoldUntil(user, []Event{{At: t0, Kind: kind, UserID: user}})
		if want := t0.Add(HoldFor(kind)); !until.Equal(want) {
			t.Fatalf("%s: HoldUntil = %v, want %v", kind, until, want)
		}
		if !HoldActive(until, until.Add(-time.Second)) {
			t.Errorf("%s: hold not active at T-1s", kind)
		}
		if HoldActive(until, until) {
			t.Errorf("%s: hold still active at T", kind)
		}
		if HoldActive(until, until.Add(time.Second)) {
			t.Errorf("%s: hold still active at T+1s", kind)
		}
		if !HoldActive(until, t0) {
			t.Errorf("%s: hold not active at its start", kind)
		}
	}
	if HoldActive(time.Time{}, t0) {
		t.Error("the zero hold is active")
	}
	if !HoldUntil(user, []Event{login(0, true), withdrawal(time.Minute, 1, 1)}).IsZero() {
		t.Error("events that start no hold gave a hold")
	}
}

func TestRSK02_HoldsStack(t *testing.T) {
	reset := Event{At: t0, Kind: PasswordReset, UserID: user}                             // until t0+24h
	assisted := Event{At: at(time.Hour), Kind: AssistedRecovery, UserID: user}            // until t0+73h
	contact := Event{At: at(2 * time.Hour), Kind: ContactChanged, UserID: user}           // until t0+26h
	unfreeze := Event{At: at(72 * time.Hour), Kind: Unfreeze, UserID: user}               // until t0+96h
	otherUser := Event{At: at(100 * time.Hour), Kind: AssistedRecovery, UserID: user + 1} // ignored

	tests := []struct {
		name   string
		events []Event
		want   time.Time
	}{
		{"one hold", []Event{reset}, at(24 * time.Hour)},
		{"a longer hold extends", []Event{reset, assisted}, at(73 * time.Hour)},
		{"a shorter hold does not shorten", []Event{reset, assisted, contact}, at(73 * time.Hour)},
		{"order does not matter", []Event{contact, assisted, reset}, at(73 * time.Hour)},
		{"a later hold extends past the max", []Event{reset, assisted, contact, unfreeze}, at(96 * time.Hour)},
		{"other users are ignored", []Event{reset, otherUser}, at(24 * time.Hour)},
	}
	for _, tt := range tests {
		if got := HoldUntil(user, tt.events); !got.Equal(tt.want) {
			t.Errorf("%s: HoldUntil = %v, want %v", tt.name, got, tt.want)
		}
	}

	cur := at(73 * time.Hour)
	if got := ExtendHold(cur, at(2*time.Hour), 24*time.Hour); !got.Equal(cur) {
		t.Errorf("ExtendHold shortened the hold to %v", got)
	}
	if got := ExtendHold(cur, at(60*time.Hour), 24*time.Hour); !got.Equal(at(84 * time.Hour)) {
		t.Errorf("ExtendHold = %v, want %v", got, at(84*time.Hour))
	}
	if got := ExtendHold(cur, at(80*time.Hour), 0); !got.Equal(cur) {
		t.Errorf("a zero hold changed the end to %v", got)
	}
	if got := ExtendHold(cur, at(80*time.Hour), -time.Hour); !got.Equal(cur) {
		t.Errorf("a negative hold changed the end to %v", got)
	}
	if got := ExtendHold(time.Time{}, t0, time.Hour); !got.Equal(at(time.Hour)) {
		t.Errorf("ExtendHold from no hold = %v", got)
	}
}

func TestRSK02_HeldByHold(t *testing.T) {
	knownPayee := newPayeeTransfer(0, "p")
	knownPayee.NewPayee = false
	tests := []struct {
		ev   Event
		want bool
	}{
		{withdrawal(0, 1, 1), true},
		{newPayeeTransfer(0, "p"), true},
		{knownPayee, false},
		{login(0, true), false},
		{payoutAdded(0, "fp"), false},
	}
	for _, tt := range tests {
		if got := HeldByHold(tt.ev); got != tt.want {
			t.Errorf("HeldByHold(%s, new payee %v) = %v, want %v", tt.ev.Kind, tt.ev.NewPayee, got, tt.want)
		}
	}
}

func TestRSK02_NewPayoutMethodHold(t *testing.T) {
	end := t0.Add(24 * time.Hour)
	if PayoutMethodUsable(t0, end.Add(-time.Second)) {
		t.Error("payout method usable at T-1s")
	}
	if !PayoutMethodUsable(t0, end) || !PayoutMethodUsable(t0, end.Add(time.Second)) {
		t.Error("payout method not usable at T / T+1s")
	}
}

func TestRSK01_NewDeviceCap(t *testing.T) {
	end := t0.Add(72 * time.Hour)
	tests := []struct {
		name      string
		limit     int64
		firstSeen time.Time
		now       time.Time
		want      int64
	}{
		{"first hour", 100000, t0, t0.Add(time.Hour), 20000},
		{"rounded down", 999, t0, t0, 199},
		{"small limit", 4, t0, t0, 0},
		{"T-1s", 100000, t0, end.Add(-time.Second), 20000},
		{"T", 100000, t0, end, 100000},
		{"T+1s", 100000, t0, end.Add(time.Second), 100000},
		{"clock before first seen", 100000, t0, t0.Add(-time.Hour), 20000},
		{"never seen", 100000, time.Time{}, end.Add(time.Hour), 20000},
		{"no overflow", math.MaxInt64, t0, t0, math.MaxInt64 / 5},
		{"no overflow, full", math.MaxInt64, t0, end, math.MaxInt64},
		{"zero limit", 0, t0, t0, 0},
		{"negative limit", -100, t0, end, 0},
	}
	for _, tt := range tests {
		if got := NewDeviceCap(tt.limit, tt.firstSeen, tt.now); got != tt.want {
			t.Errorf("%s: NewDeviceCap(%d) = %d, want %d", tt.name, tt.limit, got, tt.want)
		}
	}
}

// TestRSK02_HoldsWithSynctestClock runs the holds against the synctest
// fake clock, as RSK-02 asks: the caller reads the clock, the package
// only computes.
func TestRSK02_HoldsWithSynctestClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		until := HoldUntil(user, []Event{
			{At: start, Kind: PasswordReset, UserID: user},
			{At: start, Kind: AssistedRecovery, UserID: user},
		})
		time.Sleep(72*time.Hour - time.Second)
		if !HoldActive(until, time.Now()) {
			t.Fatal("hold lifted at T-1s")
		}
		time.Sleep(2 * time.Second)
		if HoldActive(until, time.Now()) {
			t.Fatal("hold still active at T+1s")
		}
	})
}
