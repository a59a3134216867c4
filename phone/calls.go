package phone

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
	"github.com/okpay/okpay"
	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/psp"
)

// The telephony webhook: POST /api/v1/telephony/events (httpapi), one
// JSON event per request, modelled on Zammad's CTI integration:
//
//	{"id": "evt-1", "event": "newCall", "callId": "c-42", "from": "+8613800138000",
//	 "to": "4008001234", "direction": "in", "queue": "support", "user": "", "cause": "",
//	 "at": "2026-03-02T09:00:00Z"}
//
// event is newCall, answer or hangup; callId keys the call; at is when it
// happened at the PBX (RFC 3339; the signature's time when absent). The
// body is signed like the payment provider's webhooks (package psp):
// header Okpay-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret,
// "<t>.<body>")>, at most 5 minutes from now.
//
// Each event is applied once: its id (or, without one, callId + event +
// at) is stored in the event's transaction, so a replay is acknowledged
// and changes nothing. The call row is locked while an event is merged,
// and every merge is order-independent: a hangup before the answer, or an
// answer before the newCall, still gives the right times and state.

// SignatureHeader is the webhook's signature header.
const SignatureHeader = psp.SignatureHeader

// MaxEventSize caps a webhook body.
const MaxEventSize = 8 << 10

// Event types.
const (
	EventNewCall = "newCall"
	EventAnswer  = "answer"
	EventHangup  = "hangup"
)

// Causes of a hangup that mean the call was answered (Zammad's
// normalClearing).
const CauseNormalClearing = "normalClearing"

// Event is one webhook event.
type Event struct {
	ID        string    `json:"id,omitempty"`
	Event     string    `json:"event"`
	CallID    string    `json:"callId"`
	From      string    `json:"from,omitempty"`
	To        string    `json:"to,omitempty"`
	Direction string    `json:"direction,omitempty"`
	Queue     string    `json:"queue,omitempty"`
	User      string    `json:"user,omitempty"`
	Cause     string    `json:"cause,omitempty"`
	At        time.Time `json:"at,omitzero"`
}

// ErrBadEvent is DecodeEvent's error (wrapped with what is wrong).
var ErrBadEvent = errors.New("phone: bad telephony event")

func badEvent(what string) error { return errors.Join(ErrBadEvent, errors.New(what)) }

// DecodeEvent parses a webhook body strictly: one JSON object, known
// fields only, a known event, a call id and bounded printable fields.
func DecodeEvent(body []byte) (Event, error) {
	var ev Event
	if len(body) > MaxEventSize {
		return ev, badEvent("too large")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ev); err != nil {
		return Event{}, badEvent(err.Error())
	}
	if dec.More() {
		return Event{}, badEvent("trailing data")
	}
	if _, err := dec.Token(); err == nil {
		return Event{}, badEvent("trailing data")
	}
	switch ev.Event {
	case EventNewCall, EventAnswer, EventHangup:
	default:
		return Event{}, badEvent("unknown event")
	}
	switch ev.Direction {
	case "", "in", "out":
	default:
		return Event{}, badEvent("direction must be in or out")
	}
	for name, v := range map[string]string{"id": ev.ID, "callId": ev.CallID, "from": ev.From, "to": ev.To, "queue": ev.Queue,
		"user": ev.User, "cause": ev.Cause} {
		if len(v) > 200 || !utf8.ValidString(v) || strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return Event{}, badEvent(name + " is not a short printable text")
		}
	}
	if strings.TrimSpace(ev.CallID) == "" {
		return Event{}, badEvent("callId is required")
	}
	if !ev.At.IsZero() && (ev.At.Year() < 2000 || ev.At.Year() > 9999) {
		return Event{}, badEvent("at is out of range")
	}
	return ev, nil
}

// VerifySignature checks a webhook body's signature header against the
// secrets (the current one first, the previous one during a rotation).
func VerifySignature(header string, body []byte, secrets [][]byte, now time.Time, tolerance time.Duration) error {
	return psp.Verify(header, body, secrets, now, tolerance)
}

// Sign signs a webhook body (for PBX adapters and tests).
func Sign(secret []byte, t time.Time, body []byte) string { return psp.Sign(secret, t, body) }

// Call states.
const (
	CallRinging   = "ringing"
	CallAnswered  = "answered"
	CallMissed    = "missed"
	CallCompleted = "completed"
)

// Call is one call of the call log.
type Call struct {
	ID        int64
	CallID    string
	Direction string
	From, To  string
	// Number is the customer's side in E.164 ("" when it does not parse).
	Number                       string
	Queue, Agent, Cause          string
	State                        string
	StartedAt, AnsweredAt, Ended time.Time
	// Wait is ringing/queueing until answered (or until the caller gave
	// up); Talk is answer to hangup. -1 while unknown.
	Wait, Talk     time.Duration
	CustomerID     int64
	ConversationID int64
	CallbackID     int64
	Logged         bool
}

const callCols = `id, call_id, direction, from_number, to_number, number_e164, queue, agent, state, cause, started_at, answered_at, ended_at,
	wait_ms, talk_ms, customer_id, conversation_id, callback_id, logged`

func scanCall(row interface{ Scan(...any) error }) (*Call, error) {
	var c Call
	var st, an, en, wait, talk, logged int64
	if err := row.Scan(&c.ID, &c.CallID, &c.Direction, &c.From, &c.To, &c.Number, &c.Queue, &c.Agent, &c.State, &c.Cause, &st, &an, &en,
		&wait, &talk, &c.CustomerID, &c.ConversationID, &c.CallbackID, &logged); err != nil {
		return nil, err
	}
	c.StartedAt, c.AnsweredAt, c.Ended = fromMicros(st), fromMicros(an), fromMicros(en)
	c.Wait, c.Talk = msDuration(wait), msDuration(talk)
	c.Logged = logged != 0
	return &c, nil
}

func msDuration(ms int64) time.Duration {
	if ms < 0 {
		return -1
	}
	return time.Duration(ms) * time.Millisecond
}

func durMS(d time.Duration) int64 {
	if d < 0 {
		return -1
	}
	return d.Milliseconds()
}

// FindCall returns the call of a provider call id.
func (s *Service) FindCall(ctx context.Context, callID string) (*Call, error) {
	c, err := scanCall(s.DB.Read.QueryRowContext(ctx, `SELECT `+callCols+` FROM phone_calls WHERE call_id = $1`, callID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, okpay.Errorf(okpay.ENotFound, "call not found")
	}
	if err != nil {
		return nil, okpay.Internal(err, "load call")
	}
	return c, nil
}

// Normalize returns a number in E.164, reading national numbers as
// numbers of Config.Region ("" when it is no valid number).
func (s *Service) Normalize(number string) string {
	number = strings.TrimSpace(number)
	if number == "" || len(number) > 40 {
		return ""
	}
	if strings.HasPrefix(number, "00") {
		number = "+" + number[2:]
	}
	n, err := phonenumbers.Parse(number, s.cfg.Region)
	if err != nil || !phonenumbers.IsValidNumber(n) {
		return ""
	}
	return phonenumbers.Format(n, phonenumbers.E164)
}

// ApplyEvent applies a verified webhook event; sigTime (the signature's
// time) stands for a missing ev.At. It reports false for a replay (an
// event applied before), which changes nothing.
func (s *Service) ApplyEvent(ctx context.Context, ev Event, sigTime time.Time) (bool, error) {
	at := ev.At.UTC().Truncate(time.Microsecond)
	if at.IsZero() {
		at = sigTime.UTC().Truncate(time.Microsecond)
	}
	key := "id:" + ev.ID
	if ev.ID == "" {
		key = "call:" + ev.CallID + "|" + ev.Event + "|" + strconv.FormatInt(at.UnixMicro(), 10)
	}
	now := s.now()
	var call *Call
	applied := false
	err := s.inTx(ctx, "apply telephony event", func(tx *sql.Tx) error {
		call, applied = nil, false
		res, err := tx.ExecContext(ctx, `INSERT INTO phone_call_events (event_key, call_id, event, at, received_at) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (event_key) DO NOTHING`, key, ev.CallID, ev.Event, micros(at), micros(now))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err // a replay
		}
		applied = true
		if _, err := tx.ExecContext(ctx, `INSERT INTO phone_calls (id, call_id, state, created_at, updated_at) VALUES ($1, $2, 'ringing', $3, $3)
			ON CONFLICT (call_id) DO NOTHING`, s.IDs.Next(), ev.CallID, micros(now)); err != nil {
			return err
		}
		c, err := scanCall(tx.QueryRowContext(ctx, `SELECT `+callCols+` FROM phone_calls WHERE call_id = $1`+s.DB.ForUpdate(), ev.CallID))
		if err != nil {
			return err
		}
		wasMissed := c.State == CallMissed
		s.merge(c, ev, at)
		if c.CustomerID == 0 && c.Number != "" {
			if c.CustomerID, _, err = s.customerByNumber(ctx, tx, c.Number); err != nil {
				return err
			}
		}
		if wasMissed && c.State != CallMissed {
			// A late answer: the call was not missed after all.
			if _, err := tx.ExecContext(ctx, `UPDATE phone_callbacks SET state = 'cancelled', updated_at = $2 WHERE call_id = $1 AND state = 'queued'`,
				c.CallID, micros(now)); err != nil {
				return err
			}
		}
		if c.State == CallMissed && c.Direction != "out" && c.CallbackID == 0 && c.Number != "" {
			if c.CallbackID, err = s.missedCallback(ctx, tx, c, now); err != nil {
				return err
			}
		}
		call = c
		_, err = tx.ExecContext(ctx, `UPDATE phone_calls SET direction = $2, from_number = $3, to_number = $4, number_e164 = $5, queue = $6,
			agent = $7, state = $8, cause = $9, started_at = $10, answered_at = $11, ended_at = $12, wait_ms = $13, talk_ms = $14,
			customer_id = $15, callback_id = $16, updated_at = $17 WHERE id = $1`,
			c.ID, c.Direction, c.From, c.To, c.Number, c.Queue, c.Agent, c.State, c.Cause, micros(c.StartedAt), micros(c.AnsweredAt),
			micros(c.Ended), durMS(c.Wait), durMS(c.Talk), c.CustomerID, c.CallbackID, micros(now))
		return err
	})
	if err != nil {
		return false, err
	}
	if call != nil && !call.Ended.IsZero() && call.CustomerID != 0 && !call.Logged {
		// The call-log entry, after the event's commit: the desk writes in
		// its own transactions, and its idempotency keys make a retry
		// (the next event of this call, a redelivery, or LogPending after
		// a crash here) safe.
		if err := s.logCall(ctx, call); err != nil {
			s.log.WarnContext(ctx, "phone: call log entry not written", "call", call.CallID, "err", err)
		}
	}
	return applied, nil
}

// merge folds an event into the call; the result does not depend on the
// order the events came in.
func (s *Service) merge(c *Call, ev Event, at time.Time) {
	if ev.Direction != "" && c.Direction == "" {
		c.Direction = ev.Direction
	}
	setIf := func(p *string, v string) {
		if v != "" && *p == "" {
			*p = v
		}
	}
	setIf(&c.From, ev.From)
	setIf(&c.To, ev.To)
	setIf(&c.Queue, ev.Queue)
	earliest := func(p *time.Time) {
		if p.IsZero() || at.Before(*p) {
			*p = at
		}
	}
	switch ev.Event {
	case EventNewCall:
		earliest(&c.StartedAt)
	case EventAnswer:
		earliest(&c.AnsweredAt)
		if ev.User != "" {
			c.Agent = ev.User
		}
	case EventHangup:
		if c.Ended.IsZero() || at.After(c.Ended) {
			c.Ended = at
		}
		if ev.Cause != "" {
			c.Cause = ev.Cause
		}
		setIf(&c.Agent, ev.User)
	}
	if c.Number == "" {
		side := c.From
		if c.Direction == "out" {
			side = c.To
		}
		c.Number = s.Normalize(side)
	}
	// State and durations from what is known now.
	answered := !c.AnsweredAt.IsZero() || c.Cause == CauseNormalClearing
	switch {
	case c.Ended.IsZero() && answered:
		c.State = CallAnswered
	case c.Ended.IsZero():
		c.State = CallRinging
	case answered:
		c.State = CallCompleted
	default:
		c.State = CallMissed
	}
	c.Wait, c.Talk = -1, -1
	switch {
	case !c.StartedAt.IsZero() && !c.AnsweredAt.IsZero() && !c.AnsweredAt.Before(c.StartedAt):
		c.Wait = c.AnsweredAt.Sub(c.StartedAt)
	case c.State == CallMissed && !c.StartedAt.IsZero() && !c.Ended.Before(c.StartedAt):
		c.Wait = c.Ended.Sub(c.StartedAt)
	}
	if !c.AnsweredAt.IsZero() && !c.Ended.IsZero() && !c.Ended.Before(c.AnsweredAt) {
		c.Talk = c.Ended.Sub(c.AnsweredAt)
	}
}

// missedCallback queues a callback for a missed inbound call.
func (s *Service) missedCallback(ctx context.Context, tx *sql.Tx, c *Call, now time.Time) (int64, error) {
	var existing int64
	err := tx.QueryRowContext(ctx, `SELECT id FROM phone_callbacks WHERE call_id = $1`, c.CallID).Scan(&existing)
	if err == nil {
		return existing, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return 0, err
	}
	lang := i18n.Default
	if c.CustomerID != 0 {
		if _, l, err := s.customerByNumber(ctx, tx, c.Number); err == nil && l != "" {
			lang = l
		}
	}
	due := c.Ended
	id := s.IDs.Next()
	_, err = tx.ExecContext(ctx, `INSERT INTO phone_callbacks (id, customer_id, phone, topic, lang, time_zone, window_start, window_end, source,
		call_id, state, created_at, updated_at) VALUES ($1, $2, $3, 'account', $4, 'UTC', $5, $6, 'missed_call', $7, 'queued', $8, $8)`,
		id, c.CustomerID, c.Number, string(lang), micros(due), micros(due.Add(s.cfg.MissedWindow)), c.CallID, micros(now))
	return id, err
}

// LogPendingAfter is how long an ended call may wait for its call-log
// entry before LogPending writes it (the event that ended it normally
// writes it at once).
const LogPendingAfter = time.Minute

// LogPending writes the call-log entries of ended calls that have none: the
// event that ended a call writes its entry after its own commit, so a crash
// or a failed desk write at that moment would otherwise leave the call
// without its note until another event of the call arrived. It returns how
// many it wrote; the desk's idempotency keys make a repeat harmless.
func (s *Service) LogPending(ctx context.Context) (int, error) {
	cut := micros(s.now().Add(-LogPendingAfter))
	rows, err := s.DB.Read.QueryContext(ctx, `SELECT `+callCols+` FROM phone_calls
		WHERE logged = 0 AND customer_id != 0 AND ended_at > 0 AND updated_at < $1 ORDER BY id LIMIT 100`, cut)
	if err != nil {
		return 0, err
	}
	var calls []*Call
	for rows.Next() {
		c, err := scanCall(rows)
		if err != nil {
			rows.Close()
			return 0, err
		}
		calls = append(calls, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	n := 0
	for _, c := range calls {
		if err := s.logCall(ctx, c); err != nil {
			return n, fmt.Errorf("phone: call log entry of %s: %w", c.CallID, err)
		}
		n++
	}
	return n, nil
}

// Run writes missing call-log entries (LogPending) every interval until
// ctx ends.
func (s *Service) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if n, err := s.LogPending(ctx); err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "phone: catching up call log entries", "err", err)
		} else if n > 0 {
			s.log.InfoContext(ctx, "phone: call log entries caught up", "calls", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// logCall writes the call-log entry (an internal note) into the
// customer's phone conversation.
func (s *Service) logCall(ctx context.Context, c *Call) error {
	u, err := s.Identity.FindUser(ctx, c.CustomerID)
	if err != nil {
		return err
	}
	lang := u.Lang
	if lang == "" {
		lang = i18n.Default
	}
	conv, err := s.phoneConversation(ctx, c.CustomerID, desk.CategoryAccount, s.t(lang, "phone.conversation.subject", nil), lang, "call:"+c.CallID)
	if err != nil {
		return err
	}
	dir := "in"
	if c.Direction == "out" {
		dir = "out"
	}
	body := s.t(lang, "phone.log.call."+dir+"."+c.State, map[string]any{
		"Number": c.Number, "Queue": c.Queue, "Agent": c.Agent, "Wait": secs(c.Wait), "Talk": secs(c.Talk), "Cause": c.Cause,
	})
	if _, err := s.Desk.SendMessage(ctx, desk.System, conv, desk.MessageInput{Body: body, Internal: true, IdempotencyKey: "call:" + c.CallID}); err != nil {
		return err
	}
	_, err = s.DB.Write.ExecContext(ctx, `UPDATE phone_calls SET logged = 1, conversation_id = $2 WHERE id = $1`, c.ID, conv)
	return err
}

// secs writes a duration in whole seconds ("?" while unknown).
func secs(d time.Duration) string {
	if d < 0 {
		return "?"
	}
	return strconv.FormatInt(int64((d+500*time.Millisecond)/time.Second), 10)
}
