package risk

import (
	"math"
	"testing"
	"time"
)

func TestLOG04_LockoutDuration(t *testing.T) {
	tests := []struct {
		previous int
		want     time.Duration
	}{
		{0, 15 * time.Minute},
		{1, 30 * time.Minute},
		{2, time.Hour},
		{3, 2 * time.Hour},
		{4, 4 * time.Hour},
		{5, 8 * time.Hour},
		{6, 16 * time.Hour},
		{7, 24 * time.Hour}, // 32 h, capped
		{8, 24 * time.Hour},
		{64, 24 * time.Hour},
		{math.MaxInt, 24 * time.Hour},
		{-1, 15 * time.Minute},
	}
	for _, tt := range tests {
		if got := LockoutDuration(tt.previous); got != tt.want {
			t.Errorf("LockoutDuration(%d) = %v, want %v", tt.previous, got, tt.want)
		}
	}
}

func TestLOG04_Parameters(t *testing.T) {
	if MaxConsecutiveFailures != 5 || FailureWindow != 15*time.Minute {
		t.Errorf("MaxConsecutiveFailures = %d, FailureWindow = %v; want 5, 15m", MaxConsecutiveFailures, FailureWindow)
	}
}
