package identity

// What the wallet's risk rules need of identity (SECURITY.md RSK-01,
// RSK-04, RSK-07):
//
//   - DeviceSince: when the account first used a device (the web's
//     __Host-did cookie, Meta.DeviceID), for the new-device money-out cap.
//     A device's first_seen_at never changes once its row exists, so
//     Money caches it: on the payment hot path the look-up is a map read,
//     and the database is asked once per device and process (a device not
//     recorded yet is asked again each time; it is capped meanwhile).
//   - NewDeviceLogins: the sign-ins from a device new to the account, as
//     risk events, from the audit log (each sign-in's record says
//     "new_device" when it was the LOG-09 "new device" sign-in).
//   - RiskFreeze: a Freeze decision of the auto-freeze rules applied inside
//     the caller's transaction — the decision record (rule, version,
//     inputs, outcome) in the audit log, then the standard freeze.

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/audit"
	"github.com/okpay/okpay/identity/risk"
)

// detailNewDevice marks, in a sign-in's audit record, a sign-in from a
// device the account had not used before (or that named no device).
const detailNewDevice = "new_device"

// SupportCaseNote is what a risk freeze's decision record says of the
// support case RSK-04 asks for: the decision record is written before the
// freeze, whose FreezeCaseHook (the desk's, in serve) opens or reuses the
// case in the same transaction; the freeze's own account_frozen event
// (actor "system") records the case as its case_id.
const SupportCaseNote = "opened_by_freeze: see case_id of the freeze's account_frozen event"

// deviceCache holds first-seen times of (user, device) pairs; they never
// change once recorded.
type deviceCache struct {
	mu sync.RWMutex
	m  map[deviceKey]time.Time
}

type deviceKey struct {
	user   int64
	device string
}

// maxCachedDevices bounds the cache; past it the cache starts over.
const maxCachedDevices = 1 << 18

func newDeviceCache() *deviceCache { return &deviceCache{m: map[deviceKey]time.Time{}} }

// DeviceSince returns when the account userID first used device deviceID
// (Meta.DeviceID), or the zero time when it never did or deviceID is
// empty: the new-device cap (RSK-01) then applies. Only the first look-up
// of a recorded device reads the database.
func (m *Money) DeviceSince(ctx context.Context, userID int64, deviceID string) (time.Time, error) {
	if deviceID == "" {
		return time.Time{}, nil
	}
	c := m.devices
	k := deviceKey{userID, deviceID}
	if c != nil {
		c.mu.RLock()
		t, ok := c.m[k]
		c.mu.RUnlock()
		if ok {
			return t, nil
		}
	}
	var at int64
	err := m.s.DB.Read.QueryRowContext(ctx, `SELECT first_seen_at FROM devices WHERE user_id = $1 AND device_id = $2`, userID, deviceID).Scan(&at)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, okpay.Internal(err, "read device")
	}
	t := fromMicros(at)
	if c != nil && !t.IsZero() {
		c.mu.Lock()
		if len(c.m) >= maxCachedDevices {
			clear(c.m)
		}
		c.m[k] = t
		c.mu.Unlock()
	}
	return t, nil
}

// DeviceSince is Money.DeviceSince without the cache.
func (s *Service) DeviceSince(ctx context.Context, userID int64, deviceID string) (time.Time, error) {
	return (&Money{s: s}).DeviceSince(ctx, userID, deviceID)
}

// deviceRef is how a device appears in risk events and decision records:
// a digest, not the cookie's value (risk.Event.DeviceID).
func deviceRef(deviceID string) string {
	if deviceID == "" {
		return ""
	}
	sum := sha256.Sum256([]byte("okpay/device/" + deviceID))
	return "dev_" + hex.EncodeToString(sum[:8])
}

// NewDeviceLogins returns userID's sign-ins from a new device (LOG-09's
// "new device" sign-ins: a device the account had not used, or none named)
// since since, as risk events (LoginSuccess with NewDevice), oldest first,
// from the audit log.
func (s *Service) NewDeviceLogins(ctx context.Context, userID int64, since time.Time) ([]risk.Event, error) {
	rows, err := s.DB.Read.QueryContext(ctx, `SELECT at, device_id, details FROM audit_log WHERE subject = $1 AND event IN ($2, $3) AND at >= $4 ORDER BY seq`,
		userRef(userID), audit.AuthnLoginSuccess, audit.AuthnLoginSuccessAfterFail, micros(since))
	if err != nil {
		return nil, okpay.Internal(err, "read sign-ins")
	}
	defer rows.Close()
	var out []risk.Event
	for rows.Next() {
		var at int64
		var device, details string
		if err := rows.Scan(&at, &device, &details); err != nil {
			return nil, okpay.Internal(err, "read sign-ins")
		}
		var d map[string]string
		if json.Unmarshal([]byte(details), &d) != nil || d[detailNewDevice] != "true" {
			continue
		}
		out = append(out, risk.Event{At: fromMicros(at), Kind: risk.LoginSuccess, UserID: userID, DeviceID: deviceRef(device), NewDevice: true})
	}
	if err := rows.Err(); err != nil {
		return nil, okpay.Internal(err, "read sign-ins")
	}
	return out, nil
}

// NewDeviceLogins is Service.NewDeviceLogins.
func (m *Money) NewDeviceLogins(ctx context.Context, userID int64, since time.Time) ([]risk.Event, error) {
	return m.s.NewDeviceLogins(ctx, userID, since)
}

// userInputs are the decision inputs that hold user ids (one, or a list
// joined by commas).
var userInputs = map[string]bool{"user_id": true, "linked_user_ids": true}

// DecisionDetails is the audit record of risk decision d (RSK-07): "rule",
// "version", "outcome", "decided_at" (RFC 3339, UTC), "support_case"
// (SupportCaseNote) and "input.<name>" for each input. User ids are
// written as references ("usr_…"): the audit log redacts any run of 13 to
// 19 digits that passes the Luhn check (a card number, CRD-01), which a
// numeric id may. Replaying the events through the rules and taking the
// DecisionDetails of the result gives the record back.
func DecisionDetails(d risk.Decision) map[string]string {
	details := map[string]string{"rule": d.RuleID, "version": itoa(d.Version), "outcome": string(d.Outcome),
		"decided_at": d.At.UTC().Format(time.RFC3339Nano), "support_case": SupportCaseNote}
	for k, v := range d.Inputs {
		if userInputs[k] {
			parts := strings.Split(v, ",")
			for i, p := range parts {
				if id, err := strconv.ParseInt(p, 10, 64); err == nil {
					parts[i] = userRef(id)
				}
			}
			v = strings.Join(parts, ",")
		}
		details["input."+k] = v
	}
	return details
}

// RiskFreeze applies decision d of the auto-freeze rules (RSK-04) to the
// account userID inside tx, the transaction of the event that tripped it
// (nil: a transaction of its own). The decision record goes to the audit
// log first — event account_frozen, actor "risk", details
// DecisionDetails(d) (RSK-07) — then the standard
// freeze: every session revoked, money-out blocked, the freeze hooks run
// (the wallet voids withdrawals not yet sent), every channel notified
// (Freeze). It reports whether it froze the account: a decision other
// than Freeze, or an account frozen already, changes and records nothing.
// Call WakeNotices after the commit.
func (s *Service) RiskFreeze(ctx context.Context, tx *sql.Tx, userID int64, d risk.Decision, m Meta) (bool, error) {
	if d.Outcome != risk.Freeze {
		return false, nil
	}
	apply := func(tx *sql.Tx) (bool, error) {
		u, err := s.loadUser(ctx, tx, userID, true)
		if err != nil {
			return false, err
		}
		if u.Frozen {
			return false, nil
		}
		if err := s.audit(ctx, tx, audit.Event{Name: audit.AccountFrozen, Actor: "risk", Subject: userRef(u.ID), Outcome: "success",
			Reason: "risk decision " + d.RuleID, Details: DecisionDetails(d)}, m); err != nil {
			return false, err
		}
		return true, s.freeze(ctx, tx, u, "auto:"+d.RuleID, "system", m)
	}
	if tx != nil {
		return apply(tx)
	}
	var froze bool
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		froze, err = apply(tx)
		return err
	})
	return froze, err
}

// RiskFreeze is Service.RiskFreeze.
func (m *Money) RiskFreeze(ctx context.Context, tx *sql.Tx, userID int64, d risk.Decision, meta Meta) (bool, error) {
	return m.s.RiskFreeze(ctx, tx, userID, d, meta)
}
