package paymethod

// The mule rule at a method's addition (SECURITY.md RSK-04, CRD-07): the
// same instrument (fingerprint) on another account is allowed and flagged
// (Method.Shared); once it is linked to risk.SharedFingerprintAccounts
// accounts or more, the account adding it is frozen. The rule runs inside
// the addition's transaction, after the method row is written (it counts
// as a link): the freeze (Deps.Freezer, identity's standard freeze with
// its decision record) commits together with the method, the provider is
// never asked to verify it, and the addition answers EAccountFrozen. The
// pending method stays as evidence of the link; its verification expires
// (ExpireStale). The same rule runs again at each withdrawal to the
// instrument (package wallet), which freezes the other linked accounts
// when they try to pay out to it.

import (
	"context"
	"database/sql"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/identity/risk"
	"github.com/okpay/okpay/sqldb"
)

// EAccountFrozen is identity's code for a frozen account, returned by an
// addition that froze it.
const EAccountFrozen = "account_frozen"

// Freezer freezes an account on a risk decision inside the caller's
// transaction and reports whether it did (false: frozen already). The
// program's adapter calls identity.Service.RiskFreeze with the customer
// request the context carries (WithRequest).
type Freezer interface {
	RiskFreeze(ctx context.Context, tx *sql.Tx, userID int64, d risk.Decision) (bool, error)
}

// checkMuleRule runs the auto-freeze rules on the addition of an
// instrument with fingerprint to userID's account, inside the addition's
// transaction (after its row is written), and freezes the account when
// they say so: the transaction then commits and the addition fails with
// EAccountFrozen.
func (s *Service) checkMuleRule(ctx context.Context, tx *sql.Tx, userID int64, fingerprint string, now time.Time) error {
	if s.d.Freezer == nil || fingerprint == "" {
		return nil
	}
	ev := risk.Event{At: now, Kind: risk.PayoutMethodAdded, UserID: userID, PayoutFingerprint: fingerprint}
	rc, err := s.RiskContext(ctx, tx, fingerprint)
	if err != nil {
		return err
	}
	for _, d := range risk.Evaluate(rc, nil, ev) {
		if d.Outcome != risk.Freeze {
			continue
		}
		froze, err := s.d.Freezer.RiskFreeze(ctx, tx, userID, d)
		if err != nil {
			return err
		}
		if froze {
			return sqldb.CommitThen(okpay.Errorf(EAccountFrozen, "For your security this account was frozen: this card or account is already linked to other OKPay accounts. Contact support."))
		}
	}
	return nil
}

// RiskContext returns the cross-account state the risk rules weigh for an
// instrument: the accounts holding or having held it (deleted methods
// count). q is a transaction or nil for the read pool.
func (s *Service) RiskContext(ctx context.Context, q Querier, fingerprint string) (risk.Context, error) {
	users, err := s.UsersForFingerprint(ctx, q, fingerprint)
	if err != nil {
		return risk.Context{}, err
	}
	linked := make(map[int64]struct{}, len(users))
	for _, id := range users {
		linked[id] = struct{}{}
	}
	return risk.Context{FingerprintUsers: map[string]map[int64]struct{}{fingerprint: linked}}, nil
}

// AddedSince returns the methods userID added since since (whatever
// became of them: failed and deleted ones count), as risk events
// (PayoutMethodAdded with the fingerprint), oldest first. q is a
// transaction or nil for the read pool.
func (s *Service) AddedSince(ctx context.Context, q Querier, userID int64, since time.Time) ([]risk.Event, error) {
	if q == nil {
		q = s.d.DB.Read
	}
	rows, err := q.QueryContext(ctx, `SELECT created_at, fingerprint FROM payment_methods WHERE user_id = $1 AND created_at >= $2 ORDER BY created_at, id`,
		userID, micros(since))
	if err != nil {
		return nil, okpay.Internal(err, "list added methods")
	}
	defer rows.Close()
	var out []risk.Event
	for rows.Next() {
		var at int64
		var fp string
		if err := rows.Scan(&at, &fp); err != nil {
			return nil, okpay.Internal(err, "list added methods")
		}
		out = append(out, risk.Event{At: fromMicros(at), Kind: risk.PayoutMethodAdded, UserID: userID, PayoutFingerprint: fp})
	}
	if err := rows.Err(); err != nil {
		return nil, okpay.Internal(err, "list added methods")
	}
	return out, nil
}
