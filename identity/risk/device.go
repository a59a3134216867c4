package risk

import "time"

// DeviceCap is the policy of the new-device money-out cap (RSK-01): while
// a device is new to an account — less than Window since the account
// first used it — the money that may leave the account per day is
// Percent of the normal daily limit. A device the account never used, or
// a request that names no device at all, counts as new: the cap fails
// closed.
type DeviceCap struct {
	// Percent of the daily limit allowed from a new device, 0 to 100
	// (100: no cap).
	Percent int
	// Window is how long a device counts as new.
	Window time.Duration
}

// DefaultDeviceCap is SECURITY.md's default: 20% of the daily limit for
// the first 72 h (NewDeviceCapPercent, NewDeviceWindow).
func DefaultDeviceCap() DeviceCap {
	return DeviceCap{Percent: NewDeviceCapPercent, Window: NewDeviceWindow}
}

// IsNew reports whether a device first seen at firstSeen is still new at
// now: the zero time (never seen, or unknown) is new; so is a now before
// firstSeen (a clock that stepped back never lifts the cap early). At
// exactly firstSeen+Window the device is no longer new.
func (c DeviceCap) IsNew(firstSeen, now time.Time) bool {
	return firstSeen.IsZero() || now.Sub(firstSeen) < c.Window
}

// Until returns when a device first seen at firstSeen stops being new:
// firstSeen+Window, or the zero time for a device never seen (it stays
// new until it is recorded at a sign-in).
func (c DeviceCap) Until(firstSeen time.Time) time.Time {
	if firstSeen.IsZero() {
		return time.Time{}
	}
	return firstSeen.Add(c.Window)
}

// Limit returns the daily money-out limit at now for a device first seen
// at firstSeen: Percent of dailyLimit, rounded down, while the device is
// new (IsNew), else dailyLimit. A limit of zero or less gives 0; a
// Percent outside 0..100 is taken as its nearest bound.
func (c DeviceCap) Limit(dailyLimit int64, firstSeen, now time.Time) int64 {
	if dailyLimit <= 0 {
		return 0
	}
	if !c.IsNew(firstSeen, now) {
		return dailyLimit
	}
	p := int64(min(max(c.Percent, 0), 100))
	// dailyLimit*p/100 without overflow.
	return dailyLimit/100*p + dailyLimit%100*p/100
}
