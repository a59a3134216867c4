package support

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strconv"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/agent"
	"github.com/okpay/okpay/desk"
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

// EUnverifiedCaller: an account action asked from a phone conversation
// whose caller has not read back a one-time code sent to their own app
// (SUP-05). HTTP 403. The same code as package phone's.
const EUnverifiedCaller = "phone_caller_unverified"

// CallerCheck reports whether the caller of phone conversation convID is
// verified now (package phone's Service).
type CallerCheck interface {
	CallerVerified(ctx context.Context, convID int64) (bool, error)
}

// openAction is OpenCase for an account action: from a phone
// conversation the caller must be verified first (SUP-05: a voice is no
// proof of identity; the one-time code in the customer's own app is).
func (s *Service) openAction(ctx context.Context, a *agent.Agent, convID int64, perm agent.Permission) (*Case, error) {
	c, err := s.OpenCase(ctx, a, convID, perm)
	if err != nil {
		return nil, err
	}
	if c.Conv.Channel != desk.ChannelPhone {
		return c, nil
	}
	ok := false
	if s.Callers != nil {
		if ok, err = s.Callers.CallerVerified(ctx, convID); err != nil {
			return nil, err
		}
	}
	if !ok {
		return nil, okpay.Errorf(EUnverifiedCaller, "Verify the caller first: send a one-time code to their app and have them read it back (SUP-05).")
	}
	return c, nil
}

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
	c, err := s.openAction(ctx, a, convID, agent.PermCustomerFreeze)
	if err != nil {
		return err
	}
	if c.Customer.Frozen {
		return okpay.Errorf(EAlreadyFrozen, "The account is frozen already.")
	}
	return s.actInTx(ctx, func(tx *sql.Tx) error {
		froze, err := s.Identity.FreezeTx(ctx, tx, c.Customer.ID, "staff: "+reason, a.Ref(), idMeta(m))
		if err != nil {
			return err
		}
		if !froze {
			return okpay.Errorf(EAlreadyFrozen, "The account is frozen already.")
		}
		return s.record(ctx, tx, a, EventAction, c.Customer.ID, c.Ref, reason, "status=active", "status=frozen", map[string]string{"action": "freeze"}, m)
	})
}

// actInTx runs an account action and its audit row in one transaction
// (SUP-06: no action without its record, no record without its action)
// and wakes the notification dispatcher after the commit.
func (s *Service) actInTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	err := s.DB.InTx(ctx, fn)
	if err != nil {
		var e *okpay.Error
		if errors.As(err, &e) {
			return e
		}
		return okpay.Internal(err, "support action")
	}
	s.Identity.Outbox.Wake()
	return nil
}

// RevokeSessions ends every session of the case customer
// (customer:revoke_sessions).
func (s *Service) RevokeSessions(ctx context.Context, a *agent.Agent, convID int64, reason string, m agent.Meta) (int, error) {
	reason, err := needReason(reason)
	if err != nil {
		return 0, err
	}
	c, err := s.openAction(ctx, a, convID, agent.PermCustomerRevokeSessions)
	if err != nil {
		return 0, err
	}
	var n int
	err = s.actInTx(ctx, func(tx *sql.Tx) error {
		var err error
		if n, err = s.Identity.TerminateAllSessionsTx(ctx, tx, c.Customer.ID, a.Ref(), c.Ref, reason, idMeta(m)); err != nil {
			return err
		}
		return s.record(ctx, tx, a, EventAction, c.Customer.ID, c.Ref, reason, "sessions="+strconv.Itoa(n), "sessions=0",
			map[string]string{"action": "revoke_sessions"}, m)
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// SendReset sends the case customer a link to reset their password
// (customer:send_reset): the customer runs the reset; no password is set
// or seen by the agent (REC-07).
func (s *Service) SendReset(ctx context.Context, a *agent.Agent, convID int64, reason string, m agent.Meta) error {
	reason, err := needReason(reason)
	if err != nil {
		return err
	}
	c, err := s.openAction(ctx, a, convID, agent.PermCustomerSendReset)
	if err != nil {
		return err
	}
	return s.actInTx(ctx, func(tx *sql.Tx) error {
		if err := s.Identity.SendResetLinkTx(ctx, tx, c.Customer.ID, a.Ref(), c.Ref, reason, idMeta(m)); err != nil {
			return err
		}
		return s.record(ctx, tx, a, EventAction, c.Customer.ID, c.Ref, reason, "", "reset_link=sent", map[string]string{"action": "send_reset"}, m)
	})
}

// ResendNotice sends again one of the case customer's last in-app
// notifications, in the app and to the verified email address
// (customer:resend_notification).
func (s *Service) ResendNotice(ctx context.Context, a *agent.Agent, convID, noticeID int64, reason string, m agent.Meta) error {
	reason, err := needReason(reason)
	if err != nil {
		return err
	}
	c, err := s.openAction(ctx, a, convID, agent.PermCustomerResendNotice)
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
