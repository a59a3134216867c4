package risk

import (
	"math"
	"testing"
	"time"
)

// RSK-01 with a configured cap: the exact boundaries of the window (72 h
// ± 1 s) and of the percentage.
func TestRSK01_DeviceCapPolicy(t *testing.T) {
	def := DefaultDeviceCap()
	if def.Percent != 20 || def.Window != 72*time.Hour {
		t.Fatalf("default cap %+v, want 20%% for 72 h (SECURITY.md)", def)
	}
	end := t0.Add(def.Window)
	for _, tt := range []struct {
		name     string
		cap      DeviceCap
		now      time.Time
		seen     time.Time
		limit    int64
		want     int64
		wantNew  bool
		wantTill time.Time
	}{
		{"72h-1s", def, end.Add(-time.Second), t0, 5_000_00, 1_000_00, true, end},
		{"72h", def, end, t0, 5_000_00, 5_000_00, false, end},
		{"72h+1s", def, end.Add(time.Second), t0, 5_000_00, 5_000_00, false, end},
		{"unknown device, much later", def, end.Add(1000 * time.Hour), time.Time{}, 5_000_00, 1_000_00, true, time.Time{}},
		{"clock stepped back", def, t0.Add(-time.Hour), t0, 5_000_00, 1_000_00, true, end},
		{"10% for 1 h, at 59:59", DeviceCap{Percent: 10, Window: time.Hour}, t0.Add(time.Hour - time.Second), t0, 999, 99, true, t0.Add(time.Hour)},
		{"10% for 1 h, at 1 h", DeviceCap{Percent: 10, Window: time.Hour}, t0.Add(time.Hour), t0, 999, 999, false, t0.Add(time.Hour)},
		{"100%: no cap", DeviceCap{Percent: 100, Window: def.Window}, t0, t0, 5_000_00, 5_000_00, true, end},
		{"0%: nothing from a new device", DeviceCap{Percent: 0, Window: def.Window}, t0, t0, 5_000_00, 0, true, end},
		{"percent above 100 is 100", DeviceCap{Percent: 150, Window: def.Window}, t0, t0, 7, 7, true, end},
		{"negative percent is 0", DeviceCap{Percent: -5, Window: def.Window}, t0, t0, 7, 0, true, end},
		{"no overflow", def, t0, t0, math.MaxInt64, math.MaxInt64 / 5, true, end},
		{"negative limit", def, end, t0, -1, 0, false, end},
	} {
		if got := tt.cap.Limit(tt.limit, tt.seen, tt.now); got != tt.want {
			t.Errorf("%s: Limit(%d) = %d, want %d", tt.name, tt.limit, got, tt.want)
		}
		if got := tt.cap.IsNew(tt.seen, tt.now); got != tt.wantNew {
			t.Errorf("%s: IsNew = %v, want %v", tt.name, got, tt.wantNew)
		}
		if got := tt.cap.Until(tt.seen); !got.Equal(tt.wantTill) {
			t.Errorf("%s: Until = %v, want %v", tt.name, got, tt.wantTill)
		}
	}
	// The package-level function is the default policy.
	for _, now := range []time.Time{t0, end.Add(-time.Second), end, end.Add(time.Second)} {
		if a, b := NewDeviceCap(5_000_00, t0, now), def.Limit(5_000_00, t0, now); a != b {
			t.Errorf("NewDeviceCap at %v = %d, DefaultDeviceCap().Limit = %d", now, a, b)
		}
	}
}
