package identity

// Approximate location (SECURITY.md SES-05, NOT-04, LOG-08) and the
// impossible-travel rule (RSK-04).
//
// With a Locator (a GeoLite2-City database, --geoip-db) every session
// records where its sign-in came from, every sign-in audit record carries
// the place and its coordinates ("location", "lat", "lon"), and every
// security notification says "approximate location: Shanghai, CN". Without
// one the location is "unknown" and nothing else changes.
//
// At each completed sign-in with known coordinates, the user's located
// sign-ins of the last TravelHistoryWindow are read back from the audit log
// and, with this one, given to the risk rules (identity/risk, pure
// functions of that history). A Freeze decision — impossible travel, two
// sign-ins more than 900 km/h apart — is recorded in the audit log with its
// rule, version and inputs (RSK-07) and freezes the account in the same
// transaction: every other session is revoked and every channel hears of
// it. The sign-in itself completes (a frozen account may sign in to a
// read-only view after full authentication, RSK-05), so its owner sees why.

import (
	"context"
	"database/sql"
	"encoding/json"
	"strconv"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/audit"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/identity/geoip"
	"github.com/okpay/okpay/identity/risk"
)

// Audit detail keys of a located sign-in.
const (
	detailLocation = "location"
	detailLat      = "lat"
	detailLon      = "lon"
)

// locate returns the approximate location of ip, or unknown without a
// Locator.
func (s *Service) locate(ip string) (geoip.Location, bool) {
	if s.Locator == nil || ip == "" {
		return geoip.Location{}, false
	}
	loc, ok := s.Locator.Locate(ip)
	if !ok {
		return geoip.Location{}, false
	}
	return loc, true
}

// LocationLabel is how a location reads in lang: "Shanghai, CN", or the
// catalog's "unknown" when nothing is known.
func (s *Service) LocationLabel(loc geoip.Location, lang i18n.Lang) string {
	if l := loc.Label(string(langOr(lang))); l != "" {
		return l
	}
	return s.Catalog.T(langOr(lang), "notify.location_unknown", nil)
}

// locationText is the approximate location of ip in lang, for a
// notification (NOT-04).
func (s *Service) locationText(ip string, lang i18n.Lang) string {
	loc, _ := s.locate(ip)
	return s.LocationLabel(loc, lang)
}

// loginEvents are the audit events that record where a sign-in attempt
// came from (LOG-08).
var loginEvents = map[string]bool{
	audit.AuthnLoginSuccess:          true,
	audit.AuthnLoginSuccessAfterFail: true,
	audit.AuthnLoginFail:             true,
	audit.AuthnMFAFail:               true,
}

// withLocation returns details with the location of ip added (a copy; the
// caller's map is not changed), or details itself when nothing is known.
func (s *Service) withLocation(details map[string]string, ip string) map[string]string {
	loc, ok := s.locate(ip)
	if !ok {
		return details
	}
	out := make(map[string]string, len(details)+3)
	for k, v := range details {
		out[k] = v
	}
	out[detailLocation] = loc.Label("en")
	if loc.HasCoords {
		out[detailLat] = strconv.FormatFloat(loc.Lat, 'f', 4, 64)
		out[detailLon] = strconv.FormatFloat(loc.Lon, 'f', 4, 64)
	}
	return out
}

// recentLogins returns the user's successful sign-ins of the
// TravelHistoryWindow before now as risk events, with their locations,
// from the audit log (inside tx: it sees this transaction's own writes).
func (s *Service) recentLogins(ctx context.Context, tx *sql.Tx, userID int64, now time.Time) ([]risk.Event, error) {
	rows, err := tx.QueryContext(ctx, `SELECT at, device_id, details FROM audit_log WHERE subject = $1 AND event IN ($2, $3) AND at >= $4 ORDER BY seq`,
		userRef(userID), audit.AuthnLoginSuccess, audit.AuthnLoginSuccessAfterFail, micros(now.Add(-risk.TravelHistoryWindow)))
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
		ev := risk.Event{At: fromMicros(at), Kind: risk.LoginSuccess, UserID: userID, DeviceID: device}
		var d map[string]string
		if json.Unmarshal([]byte(details), &d) == nil {
			lat, err1 := strconv.ParseFloat(d[detailLat], 64)
			lon, err2 := strconv.ParseFloat(d[detailLon], 64)
			if err1 == nil && err2 == nil {
				ev.Lat, ev.Lon, ev.HasLocation = lat, lon, true
			}
		}
		out = append(out, ev)
	}
	return out, rows.Err()
}

// checkLoginRisk runs the risk rules on the sign-in of u that ss is
// completing, at a known location: a Freeze decision is audited with its
// record (RSK-07) and freezes the account, keeping only ss (RSK-04). It
// reports whether the account was frozen.
func (s *Service) checkLoginRisk(ctx context.Context, tx *sql.Tx, u *userRow, ss *Session, newDevice bool, m Meta) (bool, error) {
	loc, ok := s.locate(m.IP)
	if !ok || !loc.HasCoords || u.Frozen {
		return false, nil // no coordinates: the travel rule has nothing to weigh
	}
	now := s.now()
	history, err := s.recentLogins(ctx, tx, u.ID, now)
	if err != nil {
		return false, err
	}
	ev := risk.Event{At: now, Kind: risk.LoginSuccess, UserID: u.ID, DeviceID: m.DeviceID, NewDevice: newDevice,
		Lat: roundCoord(loc.Lat), Lon: roundCoord(loc.Lon), HasLocation: true}
	for _, d := range risk.Evaluate(risk.Context{}, history, ev) {
		if d.Outcome != risk.Freeze {
			continue
		}
		details := map[string]string{"rule": d.RuleID, "version": itoa(d.Version), "outcome": string(d.Outcome), "session": sessionRef(ss.ID)}
		for k, v := range d.Inputs {
			details["input."+k] = v
		}
		name := audit.AccountFrozen
		if d.RuleID == risk.RuleImpossibleTravel {
			name = audit.AuthnImpossibleTravel
		}
		if err := s.audit(ctx, tx, audit.Event{Name: name, Actor: "risk", Subject: userRef(u.ID), Outcome: "success",
			Reason: "risk decision " + d.RuleID, Details: details}, m); err != nil {
			return false, err
		}
		return true, s.freezeKeeping(ctx, tx, u, "auto:"+d.RuleID, "system", ss.ID, m)
	}
	return false, nil
}

// roundCoord rounds a coordinate as the audit log keeps it (4 decimals),
// so a decision made now and one replayed from the log see the same input.
func roundCoord(v float64) float64 {
	f, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'f', 4, 64), 64)
	return f
}
