package identity

import (
	"context"
	"database/sql"
	"strconv"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/audit"
	"github.com/okpay/okpay/ids"
)

// audit appends a security event to the hash-chained audit log inside tx,
// filling in the request's details.
func (s *Service) audit(ctx context.Context, tx *sql.Tx, ev audit.Event, m Meta) error {
	ev.At = s.now()
	if ev.IP == "" {
		ev.IP = m.IP
	}
	if ev.DeviceID == "" {
		ev.DeviceID = m.DeviceID
	}
	if ev.RequestID == "" {
		ev.RequestID = m.RequestID
	}
	if loginEvents[ev.Name] {
		ev.Details = s.withLocation(ev.Details, ev.IP) // LOG-08, RSK-04
	}
	if _, err := audit.Append(ctx, tx, s.DB.Dialect, ev); err != nil {
		return okpay.Internal(err, "audit")
	}
	return nil
}

func userRef(id int64) string    { return ids.Format(UserPrefix, id) }
func sessionRef(id int64) string { return ids.Format(SessionPrefix, id) }
func itoa[T ~int | ~int64](n T) string {
	return strconv.FormatInt(int64(n), 10)
}
