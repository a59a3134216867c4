package risk

import "time"

// Cooling-off hold lengths (RSK-02) and the new-device cap (RSK-01).
const (
	// CoolingOffHold follows a password reset, a second-factor removal or
	// reset, a phone or email change and a recovery-code use.
	CoolingOffHold = 24 * time.Hour
	// AssistedRecoveryHold follows a support-assisted recovery.
	AssistedRecoveryHold = 72 * time.Hour
	// UnfreezeHold follows an unfreeze (RSK-06).
	UnfreezeHold = 24 * time.Hour
	// NewPayoutMethodHold is how long a newly added card or bank account
	// stays unusable for payouts. It applies to that payout method only,
	// not to the account, so HoldFor(PayoutMethodAdded) is 0.
	NewPayoutMethodHold = 24 * time.Hour

	// NewDeviceWindow is how long a device counts as new; during it the
	// money-out cap is NewDeviceCapPercent of the normal daily limit.
	NewDeviceWindow     = 72 * time.Hour
	NewDeviceCapPercent = 20
)

// HoldFor returns the account hold that an event of this kind starts: the
// time during which withdrawals and transfers to new payees are blocked.
// It is 0 for kinds that start no account hold.
func HoldFor(kind Kind) time.Duration {
	switch kind {
	case PasswordReset, FactorRemoved, ContactChanged, RecoveryCodeUsed:
		return CoolingOffHold
	case AssistedRecovery:
		return AssistedRecoveryHold
	case Unfreeze:
		return UnfreezeHold
	}
	return 0
}

// ExtendHold returns the end of a hold after a trigger at time at starts a
// hold of d on top of a hold ending at current (the zero time for none).
// Holds stack to the latest end: the result is never earlier than current.
func ExtendHold(current, at time.Time, d time.Duration) time.Time {
	if d <= 0 {
		return current
	}
	if end := at.Add(d); end.After(current) {
		return end
	}
	return current
}

// HoldUntil returns the end of the account hold of user userID from the
// events of its history, in any order (other users' events are ignored):
// the latest event time plus HoldFor of its kind, or the zero time if no
// event starts a hold. This is the hold_until the UI and API show.
func HoldUntil(userID int64, events []Event) time.Time {
	var until time.Time
	for _, e := range events {
		if e.UserID == userID {
			until = ExtendHold(until, e.At, HoldFor(e.Kind))
		}
	}
	return until
}

// HoldActive reports whether a hold ending at until is still in force at
// now. The hold ends at until: from that instant on, it no longer applies.
func HoldActive(until, now time.Time) bool { return now.Before(until) }

// HeldByHold reports whether ev is money movement that an account hold
// blocks: a withdrawal, or a transfer to a new payee.
func HeldByHold(ev Event) bool {
	return ev.Kind == Withdrawal || (ev.Kind == Transfer && ev.NewPayee)
}

// PayoutMethodUsable reports whether a payout method added at addedAt may
// receive payouts at now (RSK-02, CRD-06).
func PayoutMethodUsable(addedAt, now time.Time) bool {
	return !now.Before(addedAt.Add(NewPayoutMethodHold))
}

// NewDeviceCap returns the money-out limit for a device first seen at
// deviceFirstSeen: NewDeviceCapPercent of dailyLimit, rounded down, while
// now is within NewDeviceWindow of deviceFirstSeen (or before it), else
// dailyLimit. A zero deviceFirstSeen means a device never seen before, so
// the reduced cap applies. A negative limit gives 0.
// It is DefaultDeviceCap().Limit; a configurable cap is a DeviceCap.
func NewDeviceCap(dailyLimit int64, deviceFirstSeen, now time.Time) (limit int64) {
	return DefaultDeviceCap().Limit(dailyLimit, deviceFirstSeen, now)
}
