package support

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/agent"
	"github.com/okpay/okpay/audit"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/sqldb"
)

// Kind is what a request asks for.
type Kind string

// The kinds of request (SUP-02).
const (
	// KindUnfreeze lifts a freeze (RSK-06).
	KindUnfreeze Kind = "unfreeze"
	// KindResetFactors removes every second factor after an assisted
	// recovery's re-verification (REC-08).
	KindResetFactors Kind = "reset_factors"
	// KindLiftHold ends a running money-out hold.
	KindLiftHold Kind = "lift_hold"
)

// Kinds lists the kinds of request.
func Kinds() []Kind { return []Kind{KindUnfreeze, KindResetFactors, KindLiftHold} }

// Perm is the permission that makes a request of kind k (the maker's).
func (k Kind) Perm() agent.Permission {
	switch k {
	case KindUnfreeze:
		return agent.PermCustomerUnfreezeRequest
	case KindResetFactors:
		return agent.PermCustomerResetFactorReq
	case KindLiftHold:
		return agent.PermHoldLift
	}
	return ""
}

// Status is where a request is.
type Status string

// The statuses of a request.
const (
	StatusPending  Status = "pending"
	StatusApproved Status = "approved"
	StatusRejected Status = "rejected"
	StatusExpired  Status = "expired"
)

// Statuses lists the statuses.
func Statuses() []Status {
	return []Status{StatusPending, StatusApproved, StatusRejected, StatusExpired}
}

// Re-verification evidence a maker states (RSK-06, REC-08).
const (
	// VerifyIDSelfie: an ID document and a live selfie compared with the
	// onboarding KYC.
	VerifyIDSelfie = "id_selfie"
	// VerifyPasskey: a passkey enrolled before the incident (RSK-06 only).
	VerifyPasskey = "passkey_before_incident"
)

// RequestPrefix is the id prefix of requests ("srq_…").
const RequestPrefix = "srq"

// Request is a maker-checker request.
type Request struct {
	ID         int64
	Kind       Kind
	Status     Status
	CustomerID int64
	CaseID     string
	MakerID    int64
	MakerRole  string
	Reason     string
	// Payload is what the maker stated: "verification", "evidence",
	// "devices_reviewed", "methods_reviewed".
	Payload       map[string]string
	CheckerID     int64
	CheckerRole   string
	CheckerReason string
	CreatedAt     time.Time
	ExpiresAt     time.Time
	DecidedAt     time.Time
}

// Ref is the request's public id.
func (r *Request) Ref() string { return ids.Format(RequestPrefix, r.ID) }

// ParseRequestRef reads a request's public id.
func ParseRequestRef(s string) (int64, bool) { return ids.Parse(RequestPrefix, s) }

// RequestInput is what a maker states.
type RequestInput struct {
	Kind   Kind
	Reason string
	// Verification is one of the Verify* values (unfreeze and
	// reset_factors).
	Verification string
	// Evidence describes the re-verification (document type and number's
	// last digits, vendor's check id...): mandatory with Verification.
	Evidence string
	// DevicesReviewed and MethodsReviewed: the maker reviewed the
	// customer's devices and payout methods and removed the unknown ones
	// (RSK-06; unfreeze).
	DevicesReviewed bool
	MethodsReviewed bool
}

// passwordResetEvents are the audit events that count as "a password
// reset" for RSK-06.
var passwordResetEvents = []string{audit.AuthnPasswordReset, audit.AuthnPasswordChange, "authn_password_reset_requested"}

// CreateRequest records agent a's request on the case of conversation
// convID (the kind's permission; SUP-04 applies). What can be checked of
// RSK-06 and REC-08 is checked here, and again on approval.
func (s *Service) CreateRequest(ctx context.Context, a *agent.Agent, convID int64, in RequestInput, m agent.Meta) (*Request, error) {
	if !slices.Contains(Kinds(), in.Kind) {
		return nil, okpay.Invalid(map[string]string{"kind": "Choose what to request."})
	}
	reason, err := needReason(in.Reason)
	if err != nil {
		return nil, err
	}
	c, err := s.openAction(ctx, a, convID, in.Kind.Perm())
	if err != nil {
		return nil, err
	}
	payload := map[string]string{}
	switch in.Kind {
	case KindUnfreeze, KindResetFactors:
		allowed := []string{VerifyIDSelfie}
		if in.Kind == KindUnfreeze {
			allowed = append(allowed, VerifyPasskey)
		}
		fields := map[string]string{}
		if !slices.Contains(allowed, in.Verification) {
			fields["verification"] = "Say how the customer was verified again."
		}
		ev := strings.TrimSpace(in.Evidence)
		if ev == "" || len([]rune(ev)) > 500 {
			fields["evidence"] = "Describe the verification evidence (under 500 characters)."
		}
		if in.Kind == KindUnfreeze && (!in.DevicesReviewed || !in.MethodsReviewed) {
			fields["reviewed"] = "Review the devices and payout methods first."
		}
		if len(fields) > 0 {
			return nil, okpay.Invalid(fields)
		}
		payload["verification"], payload["evidence"] = in.Verification, ev
		if in.Kind == KindUnfreeze {
			payload["devices_reviewed"], payload["methods_reviewed"] = "yes", "yes"
		}
	}
	if err := s.conditions(ctx, in.Kind, c.Customer, nil); err != nil {
		return nil, err
	}
	now := s.now()
	r := &Request{ID: s.IDs.Next(), Kind: in.Kind, Status: StatusPending, CustomerID: c.Customer.ID, CaseID: c.Ref, MakerID: a.ID,
		MakerRole: RoleText(a), Reason: reason, Payload: payload, CreatedAt: now, ExpiresAt: now.Add(s.cfg.RequestTTL)}
	if in.Kind == KindResetFactors {
		r.ExpiresAt = now.Add(s.cfg.RecoveryDelay + s.cfg.RequestTTL)
	}
	pj, _ := json.Marshal(payload)
	if _, err := s.ExpireDue(ctx); err != nil { // an expired request no longer blocks a new one
		return nil, err
	}
	err = s.DB.InTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO support_requests (id, kind, status, customer_id, case_id, maker_id, maker_role, reason, payload, created_at, expires_at)
			VALUES ($1, $2, 'pending', $3, $4, $5, $6, $7, $8, $9, $10)`,
			r.ID, string(r.Kind), r.CustomerID, r.CaseID, r.MakerID, r.MakerRole, r.Reason, string(pj), micros(now), micros(r.ExpiresAt)); err != nil {
			if sqldb.IsUniqueViolation(err) {
				return okpay.Errorf(ERequestPending, "A request of this kind is already waiting for approval for this customer.")
			}
			return okpay.Internal(err, "create support request")
		}
		d := map[string]string{"request": r.Ref(), "kind": string(r.Kind)}
		for k, v := range payload {
			d[k] = v
		}
		if err := s.record(ctx, tx, a, EventRequestCreated, r.CustomerID, r.CaseID, reason, "", "request=pending", d, m); err != nil {
			return err
		}
		if r.Kind == KindResetFactors { // REC-08: every channel hears of it, with a one-click cancel
			return s.noticeRecovery(ctx, tx, r, idMeta(m))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.Identity.Outbox.Wake()
	return r, nil
}

// conditions checks what must hold for a request of kind k on u (r is the
// request on approval, nil when it is made).
func (s *Service) conditions(ctx context.Context, k Kind, u *identity.User, r *Request) error {
	switch k {
	case KindUnfreeze:
		if !u.Frozen {
			return okpay.Errorf(ENotFrozen, "The account is not frozen.")
		}
		ok, err := s.resetSince(ctx, u.ID, u.FrozenAt)
		if err != nil {
			return err
		}
		if !ok {
			return okpay.Errorf(ENoReset, "RSK-06: send the customer a password reset after the freeze before unfreezing.")
		}
	case KindLiftHold:
		if !s.now().Before(u.HoldUntil) {
			return okpay.Errorf(ENoHold, "The account has no hold to lift.")
		}
	case KindResetFactors:
		if r != nil && s.now().Before(r.CreatedAt.Add(s.cfg.RecoveryDelay)) {
			return okpay.Errorf(ERecoveryDelay, "REC-08: an assisted recovery waits until %s.", r.CreatedAt.Add(s.cfg.RecoveryDelay).Format("2006-01-02 15:04 UTC"))
		}
	}
	return nil
}

// resetSince reports whether a password reset was sent, done or the
// password changed for user since t.
func (s *Service) resetSince(ctx context.Context, userID int64, t time.Time) (bool, error) {
	es, err := s.Audit.List(ctx, ids.Format(identity.UserPrefix, userID), audit.MaxListLimit, 0)
	if err != nil {
		return false, okpay.Internal(err, "read audit log")
	}
	for _, e := range es {
		if e.At.Before(t) {
			break
		}
		if slices.Contains(passwordResetEvents, e.Name) {
			return true, nil
		}
	}
	return false, nil
}

// Approve approves request id and runs its action in the same
// transaction (approval:approve). The maker cannot approve their own
// request (ESelfApproval, SUP-02), nor anyone act on their own account
// (SUP-04).
func (s *Service) Approve(ctx context.Context, a *agent.Agent, id int64, reason string, m agent.Meta) (*Request, error) {
	return s.decide(ctx, a, id, true, reason, m)
}

// Reject rejects request id (approval:approve; not the maker).
func (s *Service) Reject(ctx context.Context, a *agent.Agent, id int64, reason string, m agent.Meta) (*Request, error) {
	return s.decide(ctx, a, id, false, reason, m)
}

func (s *Service) decide(ctx context.Context, a *agent.Agent, id int64, approve bool, reason string, m agent.Meta) (*Request, error) {
	if !agent.Can(a, agent.PermApprovalApprove) {
		return nil, okpay.Errorf(okpay.EForbidden, "You do not have the %s permission.", agent.PermApprovalApprove)
	}
	reason, err := needReason(reason)
	if err != nil {
		return nil, err
	}
	if _, err := s.ExpireDue(ctx); err != nil {
		return nil, err
	}
	r, err := s.FindRequest(ctx, id)
	if err != nil {
		return nil, err
	}
	if r.MakerID == a.ID {
		return nil, okpay.Errorf(ESelfApproval, "You made this request: another agent must approve or reject it (SUP-02).")
	}
	if r.Status != StatusPending {
		return nil, okpay.Errorf(ERequestClosed, "This request is %s already.", r.Status)
	}
	u, err := s.Identity.FindUser(ctx, r.CustomerID)
	if err != nil {
		return nil, err
	}
	if ownAccount(a, u) {
		return nil, okpay.Errorf(EOwnAccount, "This is your own customer account: another agent must handle it (SUP-04).")
	}
	if approve {
		if err := s.conditions(ctx, r.Kind, u, r); err != nil {
			return nil, err
		}
	}
	now := s.now()
	status := StatusRejected
	if approve {
		status = StatusApproved
	}
	err = s.DB.InTx(ctx, func(tx *sql.Tx) error {
		q := `UPDATE support_requests SET status = $1, checker_id = $2, checker_role = $3, checker_reason = $4, decided_at = $5
			WHERE id = $6 AND status = 'pending' AND expires_at > $5 AND maker_id <> $2`
		res, err := tx.ExecContext(ctx, q, string(status), a.ID, RoleText(a), reason, micros(now), r.ID)
		if err != nil {
			return okpay.Internal(err, "decide support request")
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return okpay.Errorf(ERequestClosed, "This request was decided or expired meanwhile.")
		}
		before, after := "request=pending", "request="+string(status)
		if approve {
			if before, after, err = s.execute(ctx, tx, a, r, u, m); err != nil {
				return err
			}
		}
		name := EventRequestRejected
		if approve {
			name = EventRequestApproved
		}
		return s.record(ctx, tx, a, name, r.CustomerID, r.CaseID, reason, before, after, map[string]string{"request": r.Ref(), "kind": string(r.Kind),
			"maker": agent.Ref(r.MakerID), "maker_role": r.MakerRole, "maker_reason": r.Reason}, m)
	})
	if err != nil {
		return nil, err
	}
	r.Status, r.CheckerID, r.CheckerRole, r.CheckerReason, r.DecidedAt = status, a.ID, RoleText(a), reason, now
	return r, nil
}

// execute runs an approved request's action inside tx and says the
// account's state before and after.
func (s *Service) execute(ctx context.Context, tx *sql.Tx, a *agent.Agent, r *Request, u *identity.User, m agent.Meta) (before, after string, err error) {
	why := r.Reason + " (request " + r.Ref() + " by " + agent.Ref(r.MakerID) + ")"
	switch r.Kind {
	case KindUnfreeze:
		return "status=frozen", "status=active", s.Identity.UnfreezeTx(ctx, tx, u.ID, a.Ref(), r.CaseID, why, idMeta(m))
	case KindLiftHold:
		return "hold_until=" + u.HoldUntil.Format(time.RFC3339), "hold_until=none", s.Identity.LiftHoldTx(ctx, tx, u.ID, a.Ref(), r.CaseID, why, idMeta(m))
	case KindResetFactors:
		before = "totp=" + yesNo(u.TOTPEnabled) + " passkeys=" + strconv.Itoa(u.Passkeys) + " recovery_codes=" + strconv.Itoa(u.RecoveryCodes)
		return before, "totp=no passkeys=0 recovery_codes=0", s.Identity.ResetFactorsTx(ctx, tx, u.ID, a.Ref(), r.CaseID, why, idMeta(m))
	}
	return "", "", okpay.Errorf(okpay.EInvalid, "unknown request kind %q", r.Kind)
}

// ExpireDue marks pending requests past their expiry as expired and
// returns how many.
func (s *Service) ExpireDue(ctx context.Context) (int64, error) {
	res, err := s.DB.Write.ExecContext(ctx, `UPDATE support_requests SET status = 'expired', decided_at = $1 WHERE status = 'pending' AND expires_at <= $1`, micros(s.now()))
	if err != nil {
		return 0, okpay.Internal(err, "expire support requests")
	}
	n, _ := res.RowsAffected()
	return n, nil
}

const requestCols = `id, kind, status, customer_id, case_id, maker_id, maker_role, reason, payload, checker_id, checker_role, checker_reason, created_at, expires_at, decided_at`

func scanRequest(row interface{ Scan(...any) error }) (*Request, error) {
	var r Request
	var kind, status, payload string
	var created, expires, decided int64
	if err := row.Scan(&r.ID, &kind, &status, &r.CustomerID, &r.CaseID, &r.MakerID, &r.MakerRole, &r.Reason, &payload, &r.CheckerID,
		&r.CheckerRole, &r.CheckerReason, &created, &expires, &decided); err != nil {
		return nil, err
	}
	r.Kind, r.Status = Kind(kind), Status(status)
	r.CreatedAt, r.ExpiresAt, r.DecidedAt = fromMicros(created), fromMicros(expires), fromMicros(decided)
	r.Payload = map[string]string{}
	if err := json.Unmarshal([]byte(payload), &r.Payload); err != nil {
		return nil, okpay.Internal(err, "read support request payload")
	}
	return &r, nil
}

// FindRequest returns request id.
func (s *Service) FindRequest(ctx context.Context, id int64) (*Request, error) {
	r, err := scanRequest(s.DB.Read.QueryRowContext(ctx, `SELECT `+requestCols+` FROM support_requests WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, okpay.Errorf(okpay.ENotFound, "no such request")
	}
	if err != nil {
		return nil, okpay.Internal(err, "find support request")
	}
	if r.Status == StatusPending && !s.now().Before(r.ExpiresAt) {
		r.Status = StatusExpired
	}
	return r, nil
}

// RequestFilter selects requests.
type RequestFilter struct {
	Status     Status // "" for any
	CustomerID int64  // 0 for any
	Limit      int    // 1..200, default 100
}

// Requests lists requests, newest first. It only reads: a pending
// request past its expiry is listed as expired (and left out of a
// pending filter); a decision marks it so in the table (ExpireDue).
func (s *Service) Requests(ctx context.Context, f RequestFilter) ([]*Request, error) {
	if f.Limit <= 0 || f.Limit > 200 {
		f.Limit = 100
	}
	now := s.now()
	q := `SELECT ` + requestCols + ` FROM support_requests WHERE ($1 = '' OR status = $1) AND ($2 = 0 OR customer_id = $2)
		AND ($1 <> 'pending' OR expires_at > $4) ORDER BY created_at DESC, id DESC LIMIT $3`
	rows, err := s.DB.Read.QueryContext(ctx, q, string(f.Status), f.CustomerID, f.Limit, micros(now))
	if err != nil {
		return nil, okpay.Internal(err, "list support requests")
	}
	defer rows.Close()
	var out []*Request
	for rows.Next() {
		r, err := scanRequest(rows)
		if err != nil {
			return nil, okpay.Internal(err, "list support requests")
		}
		if r.Status == StatusPending && !now.Before(r.ExpiresAt) {
			r.Status = StatusExpired
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
