// Package risk holds OKPay's risk logic as pure functions: the auto-freeze
// rules (RSK-04) evaluated in the documented order (RSK-08) into decision
// records that replay identically (RSK-07), the cooling-off holds (RSK-02),
// the new-device money-out cap (RSK-01) and the failed-login block schedule
// (LOG-04).
//
// Nothing here reads a clock, a database or a random source: time and state
// come in the arguments, so the same arguments always give the same result.
// Storage, notification and the freeze itself (revoking sessions, voiding
// pending withdrawals, opening a case) belong to the callers.
package risk

import (
	"cmp"
	"slices"
	"time"
)

// Kind is the type of a security-relevant event. Its values are stable
// snake_case strings, safe to store in an event log and replay later.
type Kind string

// Event kinds.
const (
	LoginSuccess      Kind = "login_success"       // full authentication succeeded
	LoginFail         Kind = "login_fail"          // password or second factor wrong
	Lockout           Kind = "lockout"             // a temporary login block started (LOG-04)
	PayoutMethodAdded Kind = "payout_method_added" // a card or bank account was added
	Withdrawal        Kind = "withdrawal"          // money out to a payout method
	Transfer          Kind = "transfer"            // wallet-to-wallet transfer out
	PasswordReset     Kind = "password_reset"
	FactorRemoved     Kind = "factor_removed" // a second factor removed or reset
	ContactChanged    Kind = "contact_changed"
	RecoveryCodeUsed  Kind = "recovery_code_used"
	AssistedRecovery  Kind = "assisted_recovery" // support-assisted account recovery
	Unfreeze          Kind = "unfreeze"          // the account was unfrozen (RSK-06)
)

// Event is one entry of a user's security event history. Fields that do
// not apply to a kind stay at their zero value.
type Event struct {
	At     time.Time
	Kind   Kind
	UserID int64

	// DeviceID identifies the device: the server-side device identifier,
	// not the raw value of the device cookie, since it is copied into
	// decision records. NewDevice is set on a LoginSuccess from a device
	// the account had not used before.
	DeviceID  string
	NewDevice bool

	// Lat and Lon are the approximate location in degrees (WGS 84), used
	// only when HasLocation is set.
	Lat, Lon    float64
	HasLocation bool

	// Amount is the money moved, in minor units of Currency; Balance is
	// the available balance in the same currency just before the event.
	Amount   int64
	Currency string
	Balance  int64

	// PayeeID identifies the payee of a Transfer; NewPayee is set when
	// the user had never paid that payee before.
	PayeeID  string
	NewPayee bool

	// PayoutFingerprint is the payment provider's fingerprint of the card
	// or bank account of a PayoutMethodAdded or Withdrawal.
	PayoutFingerprint string
}

// CompareEvents orders events by time, then by every other field, so that
// it is a total order: two events that compare equal are identical for the
// rules. Sorting a shuffled log with it always gives the same sequence.
func CompareEvents(a, b Event) int {
	if c := a.At.Compare(b.At); c != 0 {
		return c
	}
	return cmp.Or(
		cmp.Compare(a.UserID, b.UserID),
		cmp.Compare(a.Kind, b.Kind),
		cmp.Compare(a.DeviceID, b.DeviceID),
		compareBool(a.NewDevice, b.NewDevice),
		compareBool(a.HasLocation, b.HasLocation),
		cmp.Compare(a.Lat, b.Lat),
		cmp.Compare(a.Lon, b.Lon),
		cmp.Compare(a.Amount, b.Amount),
		cmp.Compare(a.Currency, b.Currency),
		cmp.Compare(a.Balance, b.Balance),
		cmp.Compare(a.PayeeID, b.PayeeID),
		compareBool(a.NewPayee, b.NewPayee),
		cmp.Compare(a.PayoutFingerprint, b.PayoutFingerprint),
	)
}

// SortEvents sorts events in place in CompareEvents order.
func SortEvents(events []Event) {
	slices.SortStableFunc(events, CompareEvents)
}

func compareBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	default:
		return 1
	}
}
