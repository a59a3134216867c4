package phone

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/audit"
	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/notify"
)

// Verification methods, in the order SUP-05 prefers them.
const (
	// MethodApp: an in-app notification to the customer's signed-in app.
	MethodApp = "app"
	// MethodSMS: a text message to the verified number on file.
	MethodSMS = "sms"
)

// Identity levels of a phone conversation.
const (
	LevelUnverified = "unverified"
	LevelVerified   = "verified"
)

// Actor is who asks for a verification: the agent and request details for
// the audit log.
type Actor struct {
	AgentID   int64
	AgentRef  string
	Roles     string
	IP        string
	RequestID string
}

// Challenge is a code sent to a customer (never the code itself).
type Challenge struct {
	ID             int64
	ConversationID int64
	Method         string
	ExpiresAt      time.Time
	Attempts       int
	State          string
}

// IdentityLevel is how far a phone conversation's caller is verified.
type IdentityLevel struct {
	Level      string
	AgentID    int64
	Method     string
	VerifiedAt time.Time
	// Until is when the verification lapses.
	Until time.Time
	// Pending is the code waiting to be read back, if any.
	Pending *Challenge
	// Refused: the newest code was refused by the customer ("I am not on
	// a call with OKPay"); the caller is then unverified until a new code
	// is read back.
	Refused bool
}

// Verified reports whether the caller is verified.
func (l *IdentityLevel) Verified() bool { return l != nil && l.Level == LevelVerified }

// phoneCase loads a phone conversation with a customer for agentID.
func (s *Service) phoneCase(ctx context.Context, agentID, convID int64) (*desk.Conversation, *identity.User, error) {
	c, err := s.Desk.Conversation(ctx, desk.Agent(agentID), convID)
	if err != nil {
		return nil, nil, err
	}
	if c.Channel != desk.ChannelPhone {
		return nil, nil, okpay.Errorf(ENotPhone, "Caller verification is for phone conversations.")
	}
	if c.CustomerID == 0 {
		return nil, nil, okpay.Errorf(ENoCustomer, "This conversation has no customer to verify.")
	}
	u, err := s.Identity.FindUser(ctx, c.CustomerID)
	if err != nil {
		return nil, nil, err
	}
	return c, u, nil
}

func hashCode(salt []byte, code string) []byte {
	h := sha256.New()
	h.Write(salt)
	h.Write([]byte(code))
	return h.Sum(nil)
}

// code derives the 6-digit code of challenge id: HMAC-SHA256 under the
// service's key, its first 8 bytes reduced modulo 10^6 (the bias, below
// 10^-13, does not matter). Nothing stores the code: the customer's page
// and the message sent derive it again.
func (s *Service) code(id int64) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(id))
	sum := s.codeMAC.Sum([]byte("phone-challenge"), b[:])
	return fmt.Sprintf("%06d", binary.BigEndian.Uint64(sum[:8])%1_000_000)
}

// SendChallenge sends a one-time code to the customer of phone
// conversation convID: in their signed-in app (MethodApp) or by SMS to
// their verified number on file (MethodSMS) — never to a number or
// address the caller gives (SUP-05). A new code replaces a waiting one.
// Returns ENoAppSession / ENoVerifiedPhone when the channel is not there,
// ETooManyChallenges after Config.MaxChallenges codes in
// Config.ChallengeWindow.
func (s *Service) SendChallenge(ctx context.Context, a Actor, convID int64, method string) (*Challenge, error) {
	if method != MethodApp && method != MethodSMS {
		return nil, okpay.Invalid(map[string]string{"method": "Choose the app or SMS."})
	}
	if s.Outbox == nil {
		return nil, okpay.Errorf(okpay.EUnavailable, "Caller verification is not configured.")
	}
	conv, u, err := s.phoneCase(ctx, a.AgentID, convID)
	if err != nil {
		return nil, err
	}
	switch method {
	case MethodApp:
		ss, err := s.Identity.Sessions(ctx, u.ID, 0)
		if err != nil {
			return nil, err
		}
		if len(ss) == 0 {
			return nil, okpay.Errorf(ENoAppSession, "The customer is not signed in to the app: send the code by SMS instead.")
		}
	case MethodSMS:
		if u.Phone == "" || u.PhoneVerifiedAt.IsZero() {
			return nil, okpay.Errorf(ENoVerifiedPhone, "The customer has no verified phone number.")
		}
	}
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return nil, okpay.Internal(err, "make code")
	}
	now := s.now()
	lang := u.Lang
	if lang == "" {
		lang = i18n.Default
	}
	ch := &Challenge{ID: s.IDs.Next(), ConversationID: conv.ID, Method: method, ExpiresAt: now.Add(s.cfg.CodeTTL), State: "pending"}
	code := s.code(ch.ID)
	// The in-app notification is stored in plain text: it holds no code,
	// only the link to the page that shows it to the signed-in owner.
	msg := notify.Message{DedupeKey: "phone-verify:" + strconv.FormatInt(ch.ID, 10), UserID: u.ID, Channel: "inapp", Kind: "phone_verify",
		Subject: s.t(lang, "phone.verify.notice.title", nil),
		Body:    s.t(lang, "phone.verify.notice.body", map[string]any{"Link": VerifyPath(ch.ID), "Minutes": int(s.cfg.CodeTTL / time.Minute)})}
	if method == MethodSMS {
		msg.Channel, msg.To, msg.Subject = "sms", u.Phone, ""
		msg.Body = s.t(lang, "phone.verify.sms", map[string]any{"Code": code, "Minutes": int(s.cfg.CodeTTL / time.Minute)})
	}
	err = s.inTx(ctx, "send verification code", func(tx *sql.Tx) error {
		var recent int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM phone_challenges WHERE conversation_id = $1 AND created_at > $2`,
			conv.ID, micros(now.Add(-s.cfg.ChallengeWindow))).Scan(&recent); err != nil {
			return err
		}
		if recent >= s.cfg.MaxChallenges {
			return okpay.Errorf(ETooManyChallenges, "Too many codes were sent in this conversation. Wait a few minutes.")
		}
		if _, err := tx.ExecContext(ctx, `UPDATE phone_challenges SET state = 'superseded' WHERE conversation_id = $1 AND state = 'pending'`, conv.ID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO phone_challenges (id, conversation_id, customer_id, agent_id, method, salt, code_hash, state,
			expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8, $9)`,
			ch.ID, conv.ID, u.ID, a.AgentID, method, salt, hashCode(salt, code), micros(ch.ExpiresAt), micros(now)); err != nil {
			return err
		}
		if err := s.Outbox.Enqueue(ctx, tx, msg); err != nil {
			return err
		}
		return s.audit(ctx, tx, a, EventChallengeSent, u.ID, conv.ID, map[string]string{"method": method})
	})
	if err != nil {
		return nil, err
	}
	s.Outbox.Wake()
	return ch, nil
}

func (s *Service) audit(ctx context.Context, tx *sql.Tx, a Actor, name string, customerID, convID int64, details map[string]string) error {
	if details == nil {
		details = map[string]string{}
	}
	details["role"] = a.Roles
	ev := audit.Event{At: s.now(), Name: name, Actor: a.AgentRef, Subject: ids.Format(identity.UserPrefix, customerID), IP: a.IP,
		RequestID: a.RequestID, Outcome: audit.Success, CaseID: desk.ConversationRef(convID), Reason: "caller verification", Details: details}
	if name == EventChallengeFailed {
		ev.Outcome = audit.Failure
	}
	_, err := audit.Append(ctx, tx, s.DB.Dialect, ev)
	return err
}

// ConfirmCode checks the code the caller read back. The right code, in
// time and within Config.MaxTries, raises the conversation's identity
// level to verified (recorded with the agent, time and method, and
// audited); a wrong one is EWrongCode and uses a try; without a waiting
// code (none sent, expired, tries used up) it is ENoChallenge.
func (s *Service) ConfirmCode(ctx context.Context, a Actor, convID int64, code string) (*IdentityLevel, error) {
	code = strings.TrimSpace(code)
	if len(code) != 6 || strings.Trim(code, "0123456789") != "" {
		return nil, okpay.Invalid(map[string]string{"code": "Enter the 6-digit code the caller reads out."})
	}
	conv, u, err := s.phoneCase(ctx, a.AgentID, convID)
	if err != nil {
		return nil, err
	}
	now := s.now()
	wrong := false
	left := 0
	err = s.inTx(ctx, "check verification code", func(tx *sql.Tx) error {
		wrong = false
		var id int64
		var salt, hash []byte
		var attempts int
		var expires int64
		err := tx.QueryRowContext(ctx, `SELECT id, salt, code_hash, attempts, expires_at FROM phone_challenges
			WHERE conversation_id = $1 AND state = 'pending' ORDER BY id DESC LIMIT 1`+s.DB.ForUpdate(), conv.ID).Scan(&id, &salt, &hash, &attempts, &expires)
		if errors.Is(err, sql.ErrNoRows) {
			var last string
			err := tx.QueryRowContext(ctx, `SELECT state FROM phone_challenges WHERE conversation_id = $1 ORDER BY id DESC LIMIT 1`, conv.ID).Scan(&last)
			if err == nil && last == StateRefused {
				return okpay.Errorf(ERefused, "The customer said they are not on a call with OKPay.")
			}
			return okpay.Errorf(ENoChallenge, "No code is waiting: send a new one.")
		}
		if err != nil {
			return err
		}
		if expires <= micros(now) || attempts >= s.cfg.MaxTries {
			if _, err := tx.ExecContext(ctx, `UPDATE phone_challenges SET state = 'failed' WHERE id = $1`, id); err != nil {
				return err
			}
			return nil // committed; reported below as ENoChallenge
		}
		if subtle.ConstantTimeCompare(hashCode(salt, code), hash) != 1 {
			wrong = true
			attempts++
			left = s.cfg.MaxTries - attempts
			state := "pending"
			if left <= 0 {
				state = "failed"
			}
			if _, err := tx.ExecContext(ctx, `UPDATE phone_challenges SET attempts = $2, state = $3 WHERE id = $1`, id, attempts, state); err != nil {
				return err
			}
			return s.audit(ctx, tx, a, EventChallengeFailed, u.ID, conv.ID, map[string]string{"tries_left": strconv.Itoa(left)})
		}
		if _, err := tx.ExecContext(ctx, `UPDATE phone_challenges SET attempts = $2, state = 'verified', verified_at = $3 WHERE id = $1`,
			id, attempts+1, micros(now)); err != nil {
			return err
		}
		left = -1
		return s.audit(ctx, tx, a, EventCallerVerified, u.ID, conv.ID, map[string]string{"level": LevelVerified})
	})
	if err != nil {
		return nil, err
	}
	switch {
	case wrong:
		return nil, okpay.Errorf(EWrongCode, "That is not the code. %d tries left.", max(left, 0))
	case left != -1:
		return nil, okpay.Errorf(ENoChallenge, "The code expired or its tries are used up: send a new one.")
	}
	return s.Level(ctx, convID)
}

// Level returns the identity level of conversation convID's caller: verified
// when a code was read back within Config.VerifiedTTL.
func (s *Service) Level(ctx context.Context, convID int64) (*IdentityLevel, error) {
	now := s.now()
	out := &IdentityLevel{Level: LevelUnverified}
	var agentID, at int64
	var method string
	err := s.DB.Read.QueryRowContext(ctx, `SELECT agent_id, method, verified_at FROM phone_challenges
		WHERE conversation_id = $1 AND state = 'verified' AND verified_at > $2 ORDER BY verified_at DESC LIMIT 1`,
		convID, micros(now.Add(-s.cfg.VerifiedTTL))).Scan(&agentID, &method, &at)
	switch {
	case err == nil:
		out.Level, out.AgentID, out.Method, out.VerifiedAt = LevelVerified, agentID, method, fromMicros(at)
		out.Until = out.VerifiedAt.Add(s.cfg.VerifiedTTL)
	case !errors.Is(err, sql.ErrNoRows):
		return nil, okpay.Internal(err, "load identity level")
	}
	var ch Challenge
	var exp int64
	err = s.DB.Read.QueryRowContext(ctx, `SELECT id, method, attempts, expires_at FROM phone_challenges
		WHERE conversation_id = $1 AND state = 'pending' AND expires_at > $2 ORDER BY id DESC LIMIT 1`, convID, micros(now)).
		Scan(&ch.ID, &ch.Method, &ch.Attempts, &exp)
	switch {
	case err == nil:
		ch.ConversationID, ch.ExpiresAt, ch.State = convID, fromMicros(exp), "pending"
		out.Pending = &ch
	case !errors.Is(err, sql.ErrNoRows):
		return nil, okpay.Internal(err, "load identity level")
	}
	var last string
	err = s.DB.Read.QueryRowContext(ctx, `SELECT state FROM phone_challenges WHERE conversation_id = $1 ORDER BY id DESC LIMIT 1`, convID).Scan(&last)
	switch {
	case err == nil && last == StateRefused:
		// The customer says they are not on a call with OKPay: whoever is
		// on the line is not them, whatever was verified before.
		out.Refused = true
		out.Level, out.AgentID, out.Method, out.VerifiedAt, out.Until = LevelUnverified, 0, "", time.Time{}, time.Time{}
	case err == nil:
	case !errors.Is(err, sql.ErrNoRows):
		return nil, okpay.Internal(err, "load identity level")
	}
	return out, nil
}

// CallerVerified reports whether conversation convID's caller is verified
// now (package support asks before an account action from a phone
// conversation, SUP-05).
func (s *Service) CallerVerified(ctx context.Context, convID int64) (bool, error) {
	l, err := s.Level(ctx, convID)
	if err != nil {
		return false, err
	}
	return l.Verified(), nil
}
