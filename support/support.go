// Package support is the agent console's view of a customer and its typed
// account actions (issue 5; SECURITY.md SUP-02..06, RSK-06, REC-08).
//
// Everything starts from a conversation: the agent opens the context of
// the conversation's customer, never a customer by id, and the
// conversation's reference is the case id of every reveal, action and
// request. Personal data is masked unless the agent reveals one field
// with a reason (SUP-03); an agent cannot open or act on their own
// customer account (SUP-04: the agent's email is the customer's).
//
// Protective actions run at once (freeze, end every session, send a
// password-reset link, resend a notification, look up a transaction).
// Unfreezing, resetting the second factors and lifting a hold are
// requests (maker-checker, SUP-02): a second agent with approval:approve
// approves or rejects; the maker can do neither; an approval runs the
// action in the request's own transaction. Every reveal, action, request
// and decision goes into the hash-chained audit log with the actor, their
// roles, the case, the reason, what was before and after, and the UTC
// time (SUP-06).
package support

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/agent"
	"github.com/okpay/okpay/audit"
	"github.com/okpay/okpay/clock"
	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/notify"
	"github.com/okpay/okpay/paymethod"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/wallet"
)

// Error codes of the package (their texts in i18n/locales/support.*.toml,
// "support.error.<code>").
const (
	// ESelfApproval: the maker of a request tried to approve or reject it
	// (SUP-02). HTTP 403.
	ESelfApproval = "support_self_approval"
	// EOwnAccount: the agent's own customer account (SUP-04). HTTP 403.
	EOwnAccount = "support_own_account"
	// ENoCustomer: the conversation has no signed-in customer. HTTP 409.
	ENoCustomer = "support_no_customer"
	// ERequestClosed: the request was decided or expired already. HTTP 409.
	ERequestClosed = "support_request_closed"
	// ERequestPending: a request of that kind is pending for the customer.
	// HTTP 409.
	ERequestPending = "support_request_pending"
	// Conditions of an action that do not hold (HTTP 409): the account is
	// not frozen (ENotFrozen) or frozen already (EAlreadyFrozen); RSK-06
	// wants a password reset sent or done since the freeze (ENoReset);
	// there is no hold to lift (ENoHold); REC-08's delay has not passed
	// (ERecoveryDelay).
	ENotFrozen     = "support_not_frozen"
	EAlreadyFrozen = "support_already_frozen"
	ENoReset       = "support_no_reset"
	ENoHold        = "support_no_hold"
	ERecoveryDelay = "support_recovery_delay"
)

// Deps are the services support reads and acts through.
type Deps struct {
	DB       *sqldb.DB
	Clock    clock.Clock
	IDs      ids.Generator
	Identity *identity.Service
	Desk     *desk.Service
	Audit    *audit.Log
	// Outbox resends notifications; nil turns that action off.
	Outbox *notify.Outbox
	// Wallet, Withdrawals and Methods fill the context's money part; each
	// may be nil (its part stays empty).
	Wallet      *wallet.Service
	Withdrawals *wallet.Withdrawals
	Methods     *paymethod.Service
	// Callers tells whether a phone conversation's caller is verified
	// (package phone, SUP-05); nil refuses every account action from a
	// phone conversation.
	Callers CallerCheck
}

// Config tunes the service.
type Config struct {
	// RequestTTL is how long a request waits for its checker (default
	// 72 h); after that it expires.
	RequestTTL time.Duration
	// RecoveryDelay is REC-08's mandatory wait between an assisted
	// recovery's request and its execution (default 72 h).
	RecoveryDelay time.Duration
}

// Service is the support desk's customer context and account actions.
type Service struct {
	Deps
	cfg Config
}

// New returns the service.
func New(d Deps, cfg Config) (*Service, error) {
	if d.DB == nil || d.Clock == nil || d.IDs == nil || d.Identity == nil || d.Desk == nil || d.Audit == nil {
		return nil, errors.New("support: DB, Clock, IDs, Identity, Desk and Audit are required")
	}
	if cfg.RequestTTL <= 0 {
		cfg.RequestTTL = 72 * time.Hour
	}
	if cfg.RecoveryDelay <= 0 {
		cfg.RecoveryDelay = 72 * time.Hour
	}
	return &Service{Deps: d, cfg: cfg}, nil
}

// Config returns the service's configuration.
func (s *Service) Config() Config { return s.cfg }

func (s *Service) now() time.Time { return s.Clock.Now().UTC().Truncate(time.Microsecond) }

// Case is a conversation with a signed-in customer, the scope of every
// action.
type Case struct {
	Conv     *desk.Conversation
	Ref      string // the case id: the conversation's reference
	Customer *identity.User
}

// OpenCase loads the conversation convID for agent a and its customer,
// checking that a holds perm and that the customer is not a's own account
// (SUP-04).
func (s *Service) OpenCase(ctx context.Context, a *agent.Agent, convID int64, perm agent.Permission) (*Case, error) {
	if !agent.Can(a, perm) {
		return nil, okpay.Errorf(okpay.EForbidden, "You do not have the %s permission.", perm)
	}
	c, err := s.Desk.Conversation(ctx, desk.Agent(a.ID), convID)
	if err != nil {
		return nil, err
	}
	if c.CustomerID == 0 {
		return nil, okpay.Errorf(ENoCustomer, "This conversation has no signed-in customer.")
	}
	u, err := s.Identity.FindUser(ctx, c.CustomerID)
	if err != nil {
		return nil, err
	}
	if ownAccount(a, u) {
		return nil, okpay.Errorf(EOwnAccount, "This is your own customer account: another agent must handle it (SUP-04).")
	}
	return &Case{Conv: c, Ref: desk.ConversationRef(c.ID), Customer: u}, nil
}

// ownAccount reports whether u is a's own customer account (SUP-04).
func ownAccount(a *agent.Agent, u *identity.User) bool {
	return a != nil && u != nil && a.Email != "" && strings.EqualFold(strings.TrimSpace(a.Email), strings.TrimSpace(u.Email))
}

// RoleText is an agent's roles as the audit log records them.
func RoleText(a *agent.Agent) string {
	out := make([]string, len(a.Roles))
	for i, r := range a.Roles {
		out[i] = string(r)
	}
	return strings.Join(out, ",")
}

func idMeta(m agent.Meta) identity.Meta {
	return identity.Meta{IP: m.IP, UserAgent: m.UserAgent, RequestID: m.RequestID}
}

// record appends an agent's event to the audit log inside tx (nil: on its
// own): the actor, roles, case, reason, before and after (SUP-06).
func (s *Service) record(ctx context.Context, tx *sql.Tx, a *agent.Agent, name string, customerID int64, caseID, reason, before, after string, details map[string]string, m agent.Meta) error {
	d := map[string]string{"role": RoleText(a)}
	if before != "" {
		d["before"] = before
	}
	if after != "" {
		d["after"] = after
	}
	for k, v := range details {
		d[k] = v
	}
	ev := audit.Event{At: s.now(), Name: name, Actor: a.Ref(), Subject: ids.Format(identity.UserPrefix, customerID), IP: m.IP, RequestID: m.RequestID,
		Outcome: audit.Success, CaseID: caseID, Reason: reason, Details: d}
	if tx == nil {
		if err := s.Audit.Record(ctx, ev); err != nil {
			return okpay.Internal(err, "audit support action")
		}
		return nil
	}
	if _, err := audit.Append(ctx, tx, s.DB.Dialect, ev); err != nil {
		return okpay.Internal(err, "audit support action")
	}
	return nil
}

// needReason checks a mandatory reason (at most 500 characters).
func needReason(reason string) (string, error) {
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return "", okpay.Invalid(map[string]string{"reason": "Give a reason."})
	}
	if len([]rune(reason)) > 500 {
		return "", okpay.Invalid(map[string]string{"reason": "Keep the reason under 500 characters."})
	}
	return reason, nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromMicros(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMicro(v).UTC()
}
