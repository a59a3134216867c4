package phone

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/audit"
	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/ids"
)

// Challenge states.
const (
	StatePending  = "pending"
	StateRefused  = "refused"
	StateVerified = "verified"
)

// VerifyPath is the account page that shows challenge id's code to its
// customer (the in-app notification links to it).
func VerifyPath(id int64) string { return "/account/phone-verify/" + ChallengeRef(id) }

// CustomerChallenge is a challenge as its customer sees it.
type CustomerChallenge struct {
	Challenge
	// Code is the code to read to the agent: set only while the
	// challenge waits (pending and not expired).
	Code string
}

// Waiting reports whether the code can still be read back.
func (c *CustomerChallenge) Waiting() bool { return c.Code != "" }

// Requester is who acts on their own challenge, for the audit log.
type Requester struct {
	IP, DeviceID, RequestID string
}

// CustomerChallenge returns challenge id of customerID with its code while
// it waits. A challenge of someone else, sent by SMS, or no longer waiting
// (expired, confirmed, failed, replaced) is NotFound — only a refused one
// is still shown (without a code), so the customer sees their refusal.
func (s *Service) CustomerChallenge(ctx context.Context, customerID, id int64) (*CustomerChallenge, error) {
	var c CustomerChallenge
	var exp int64
	err := s.DB.Read.QueryRowContext(ctx, `SELECT conversation_id, method, attempts, state, expires_at FROM phone_challenges
		WHERE id = $1 AND customer_id = $2 AND method = 'app'`, id, customerID).Scan(&c.ConversationID, &c.Method, &c.Attempts, &c.State, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, okpay.Errorf(okpay.ENotFound, "No such verification.")
	}
	if err != nil {
		return nil, okpay.Internal(err, "load challenge")
	}
	c.ID, c.ExpiresAt = id, fromMicros(exp)
	switch {
	case c.State == StateRefused:
	case c.State == StatePending && exp > micros(s.now()) && c.Attempts < s.cfg.MaxTries:
		c.Code = s.code(id)
	default:
		return nil, okpay.Errorf(okpay.ENotFound, "No such verification.")
	}
	return &c, nil
}

// WaitingChallenges returns customerID's app challenges that wait for
// their code to be read back, newest first, with their codes: what the
// customer's app shows while an agent is on the phone with them.
func (s *Service) WaitingChallenges(ctx context.Context, customerID int64) ([]*CustomerChallenge, error) {
	rows, err := s.DB.Read.QueryContext(ctx, `SELECT id, conversation_id, method, attempts, state, expires_at FROM phone_challenges
		WHERE customer_id = $1 AND method = 'app' AND state = 'pending' AND expires_at > $2 AND attempts < $3 ORDER BY id DESC LIMIT 5`,
		customerID, micros(s.now()), s.cfg.MaxTries)
	if err != nil {
		return nil, okpay.Internal(err, "list challenges")
	}
	defer rows.Close()
	var out []*CustomerChallenge
	for rows.Next() {
		var c CustomerChallenge
		var exp int64
		if err := rows.Scan(&c.ID, &c.ConversationID, &c.Method, &c.Attempts, &c.State, &exp); err != nil {
			return nil, okpay.Internal(err, "list challenges")
		}
		c.ExpiresAt, c.Code = fromMicros(exp), s.code(c.ID)
		out = append(out, &c)
	}
	if err := rows.Err(); err != nil {
		return nil, okpay.Internal(err, "list challenges")
	}
	return out, nil
}

// RefuseChallenge is the customer's "I am not on a call with OKPay": the
// waiting challenge id is cancelled (no code can confirm it), the refusal
// is audited and noted in the conversation for the agent. NotFound when it
// is not the customer's or no longer waiting.
func (s *Service) RefuseChallenge(ctx context.Context, customerID, id int64, rq Requester) error {
	now := s.now()
	var convID int64
	err := s.inTx(ctx, "refuse verification", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE phone_challenges SET state = 'refused' WHERE id = $1 AND customer_id = $2 AND method = 'app'
			AND state = 'pending' AND expires_at > $3`, id, customerID, micros(now))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n != 1 {
			return okpay.Errorf(okpay.ENotFound, "No such verification.")
		}
		if err := tx.QueryRowContext(ctx, `SELECT conversation_id FROM phone_challenges WHERE id = $1`, id).Scan(&convID); err != nil {
			return err
		}
		who := ids.Format(identity.UserPrefix, customerID)
		_, err = audit.Append(ctx, tx, s.DB.Dialect, audit.Event{At: now, Name: EventChallengeRefused, Actor: who, Subject: who, IP: rq.IP,
			DeviceID: rq.DeviceID, RequestID: rq.RequestID, Outcome: audit.Failure, CaseID: desk.ConversationRef(convID),
			Reason: "caller verification refused: the customer is not on a call with OKPay", Details: map[string]string{"challenge": ChallengeRef(id)}})
		return err
	})
	if err != nil {
		return err
	}
	// The note tells the agent on the conversation page; the refusal
	// itself is already recorded, so a failed note is only logged.
	lang := i18n.Default
	if c, err := s.Desk.Conversation(ctx, desk.System, convID); err == nil && c.Lang != "" {
		lang = c.Lang
	}
	if _, err := s.Desk.SendMessage(ctx, desk.System, convID, desk.MessageInput{Body: s.t(lang, "phone.verify.refused.note", nil), Internal: true,
		IdempotencyKey: "phone-refused:" + ChallengeRef(id)}); err != nil {
		s.log.Warn("phone: note the refusal", "conversation", convID, "err", err)
	}
	return nil
}

// ExpiresIn is how long a waiting challenge has left, in whole minutes
// rounded up (for the customer's page).
func (c *CustomerChallenge) ExpiresIn(now time.Time) int {
	d := c.ExpiresAt.Sub(now)
	if d <= 0 {
		return 0
	}
	return int((d + time.Minute - 1) / time.Minute)
}
