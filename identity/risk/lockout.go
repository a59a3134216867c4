package risk

import "time"

// Failed-authentication block (LOG-04): MaxConsecutiveFailures failures of
// the password or the second factor within FailureWindow start a block of
// LockoutDuration.
const (
	MaxConsecutiveFailures = 5
	FailureWindow          = 15 * time.Minute

	// BaseLockout is the first block; each earlier block in the window
	// doubles it, up to MaxLockout.
	BaseLockout = 15 * time.Minute
	MaxLockout  = 24 * time.Hour
)

// LockoutDuration returns the length of a new block given the number of
// blocks the account already had in the window: 15 min, 30 min, 1 h, 2 h,
// ... capped at 24 h. A negative count counts as 0.
func LockoutDuration(previousBlocks int) time.Duration {
	d := BaseLockout
	for i := 0; i < previousBlocks && d < MaxLockout; i++ {
		d *= 2
	}
	return min(d, MaxLockout)
}
