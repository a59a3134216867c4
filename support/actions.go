package support

import (
	"context"
	"database/sql"
	"slices"
	"strconv"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/agent"
	"github.com/okpay/okpay/notify"
	"github.com/okpay/okpay/wallet"
)

// Fields an agent may reveal (SUP-03). Nothing else is ever shown in
// full: no password, code, secret, recovery code or card number exists
// in what support reads.
const (
	FieldEmail = "email"
	FieldPhone = "phone"
	FieldIP    = "ip" // the last sign-in's full address
)

// RevealFields lists the fields Reveal accepts.
func RevealFields() []string { return []string{FieldEmail, FieldPhone, FieldIP} }

// Audit event names of the package.
const (
	EventReveal          = "support_pii_reveal"
	EventAction          = "support_action"
	EventLookup          = "support_transaction_lookup"
	EventRequestCreated  = "support_request_created"
	EventRequestApproved = "support_request_approved"
	EventRequestRejected = "support_request_rejected"
)

// Reveal shows one field of the case's customer in full
// (customer:reveal_pii) and records it in the audit log with the agent,
// their roles, the case and the reason (SUP-03). The value is not logged.
func (s *Service) Reveal(ctx context.Context, a *agent.Agent, convID int64, field, reason string, m agent.Meta) (string, error) {
	reason, err := needReason(reason)
	if err != nil {
		return "", err
	}
	if !slices.Contains(RevealFields(), field) {
		return "", okpay.Invalid(map[string]string{"field": "Choose email, phone or ip."})
	}
	c, err := s.OpenCase(ctx, a, convID, agent.PermCustomerRevealPII)
	if err != nil {
		return "", err
	}
	var v string
	switch field {
	case FieldEmail:
		v = c.Customer.Email
	case FieldPhone:
		v = c.Customer.Phone
	case FieldIP:
		ss, err := s.Identity.Sessions(ctx, c.Customer.ID, 0)
		if err != nil {
			return "", err
		}
		if len(ss) > 0 {
			v = ss[0].IP
		}
	}
	if err := s.record(ctx, nil, a, EventReveal, c.Customer.ID, c.Ref, reason, "", "", map[string]string{"field": field}, m); err != nil {
		return "", err
	}
	return v, nil
}

// LookupTransaction finds one of the case customer's transactions by its
// reference (transaction:read); another customer's is not found. The
// lookup is audited.
func (s *Service) LookupTransaction(ctx context.Context, a *agent.Agent, convID int64, ref string, m agent.Meta) (*Txn, error) {
	id, ok := wallet.ParseTxnRef(ref)
	if !ok {
		return nil, okpay.Invalid(map[string]string{"ref": "Enter a transaction reference (txn_…)."})
	}
	c, err := s.OpenCase(ctx, a, convID, agent.PermTransactionRead)
	if err != nil {
		return nil, err
	}
	if s.Wallet == nil {
		return nil, okpay.Errorf(okpay.ENotFound, "no such transaction")
	}
	t, err := s.Wallet.FindTransaction(ctx, c.Customer.ID, id)
	if err != nil {
		return nil, err
	}
	if err := s.record(ctx, nil, a, EventLookup, c.Customer.ID, c.Ref, "lookup", "", "", map[string]string{"txn": ref}, m); err != nil {
		return nil, err
	}
	v := txnView(t)
	return &v, nil
}

// Freeze freezes the case customer's account at once (customer:freeze):
// identity ends every session, voids withdrawals not yet sent and tells
// the customer; the action is audited with before and after.
func (s *Service) Freeze(ctx context.Context, a *agent.Agent, convID int64, reason string, m agent.Meta) error {
	reason, err := needReason(reason)
	if err != nil {
		return err
	}
	c, err := s.OpenCase(ctx, a, convID, agent.PermCustomerFreeze)
	if err != nil {
		return err
	}
	if c.Customer.Frozen {
		return okpay.Errorf(EAlreadyFrozen, "The account is frozen already.")
	}
	if err := s.Identity.Freeze(ctx, c.Customer.ID, "staff: "+reason, a.Ref(), idMeta(m)); err != nil {
		return err
	}
	return s.record(ctx, nil, a, EventAction, c.Customer.ID, c.Ref, reason, "status=active", "status=frozen", map[string]string{"action": "freeze"}, m)
}

// RevokeSessions ends every session of the case customer
// (customer:revoke_sessions).
func (s *Service) RevokeSessions(ctx context.Context, a *agent.Agent, convID int64, reason string, m agent.Meta) (int, error) {
	reason, err := needReason(reason)
	if err != nil {
		return 0, err
	}
	c, err := s.OpenCase(ctx, a, convID, agent.PermCustomerRevokeSessions)
	if err != nil {
		return 0, err
	}
	n, err := s.Identity.TerminateAllSessions(ctx, c.Customer.ID, a.Ref(), c.Ref, reason, idMeta(m))
	if err != nil {
		return 0, err
	}
	return n, s.record(ctx, nil, a, EventAction, c.Customer.ID, c.Ref, reason, "sessions="+strconv.Itoa(n), "sessions=0",
		map[string]string{"action": "revoke_sessions"}, m)
}

// SendReset sends the case customer a link to reset their password
// (customer:send_reset): the customer runs the reset; no password is set
// or seen by the agent (REC-07).
func (s *Service) SendReset(ctx context.Context, a *agent.Agent, convID int64, reason string, m agent.Meta) error {
	reason, err := needReason(reason)
	if err != nil {
		return err
	}
	c, err := s.OpenCase(ctx, a, convID, agent.PermCustomerSendReset)
	if err != nil {
		return err
	}
	if err := s.Identity.SendResetLink(ctx, c.Customer.ID, a.Ref(), c.Ref, reason, idMeta(m)); err != nil {
		return err
	}
	return s.record(ctx, nil, a, EventAction, c.Customer.ID, c.Ref, reason, "", "reset_link=sent", map[string]string{"action": "send_reset"}, m)
}

// ResendNotice sends again one of the case customer's last in-app
// notifications, in the app and to the verified email address
// (customer:resend_notification).
func (s *Service) ResendNotice(ctx context.Context, a *agent.Agent, convID, noticeID int64, reason string, m agent.Meta) error {
	reason, err := needReason(reason)
	if err != nil {
		return err
	}
	c, err := s.OpenCase(ctx, a, convID, agent.PermCustomerResendNotice)
	if err != nil {
		return err
	}
	if s.Outbox == nil {
		return okpay.Errorf(okpay.ENotFound, "no such notification")
	}
	ns, err := s.Outbox.ListInApp(ctx, c.Customer.ID, 50)
	if err != nil {
		return okpay.Internal(err, "list notifications")
	}
	i := slices.IndexFunc(ns, func(n notify.InApp) bool { return n.ID == noticeID })
	if i < 0 {
		return okpay.Errorf(okpay.ENotFound, "no such notification")
	}
	n := ns[i]
	key := "support-resend:" + strconv.FormatInt(s.IDs.Next(), 10)
	msgs := []notify.Message{{DedupeKey: key + ":inapp", UserID: c.Customer.ID, Channel: "inapp", Kind: n.Kind, Subject: n.Title, Body: n.Body}}
	if !c.Customer.EmailVerifiedAt.IsZero() {
		msgs = append(msgs, notify.Message{DedupeKey: key + ":email", UserID: c.Customer.ID, Channel: "email", Kind: n.Kind, To: c.Customer.Email,
			Subject: n.Title, Body: n.Body})
	}
	err = s.DB.InTx(ctx, func(tx *sql.Tx) error {
		if err := s.Outbox.Enqueue(ctx, tx, msgs...); err != nil {
			return okpay.Internal(err, "resend notification")
		}
		return s.record(ctx, tx, a, EventAction, c.Customer.ID, c.Ref, reason, "", "resent="+n.Kind,
			map[string]string{"action": "resend_notification", "notice": strconv.FormatInt(n.ID, 10)}, m)
	})
	if err == nil {
		s.Outbox.Wake()
	}
	return err
}
