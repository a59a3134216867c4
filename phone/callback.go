package phone

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/i18n"
)

// Callback states.
const (
	StateQueued    = "queued"
	StateDialing   = "dialing"
	StateCompleted = "completed"
	StateFailed    = "failed"
	StateCancelled = "cancelled"
)

// Callback sources.
const (
	SourceCustomer   = "customer"
	SourceMissedCall = "missed_call"
)

// Outcomes an agent logs after calling.
const (
	OutcomeReached     = "reached"
	OutcomeNoAnswer    = "no_answer"
	OutcomeWrongNumber = "wrong_number"
)

// Outcomes lists the outcomes.
func Outcomes() []string { return []string{OutcomeReached, OutcomeNoAnswer, OutcomeWrongNumber} }

// Callback is a request to call a customer back.
type Callback struct {
	ID         int64
	CustomerID int64 // 0: a missed call from an unknown number
	// Phone is the number to call (E.164): the customer's verified one,
	// or the number a missed call came from.
	Phone    string
	Topic    desk.Category
	Note     string
	Lang     i18n.Lang
	TimeZone string
	// WindowStart and WindowEnd are when the customer wants the call.
	WindowStart, WindowEnd time.Time
	Source                 string
	CallID                 string
	State                  string
	Outcome                string
	Attempts               int
	ClaimedBy              int64
	ClaimedAt              time.Time
	ConversationID         int64
	CreatedAt, UpdatedAt   time.Time
	// Replayed: RequestCallback found it by its idempotency key.
	Replayed bool
}

// Ref is the callback's public reference.
func (c *Callback) Ref() string { return CallbackRef(c.ID) }

// Open reports whether the callback still waits for a call.
func (c *Callback) Open() bool { return c.State == StateQueued || c.State == StateDialing }

// Local returns the window in the customer's time zone.
func (c *Callback) Local() (time.Time, time.Time) {
	loc, err := time.LoadLocation(c.TimeZone)
	if err != nil {
		loc = time.UTC
	}
	return c.WindowStart.In(loc), c.WindowEnd.In(loc)
}

const callbackCols = `id, customer_id, phone, topic, note, lang, time_zone, window_start, window_end, source, call_id, state, outcome,
	attempts, claimed_by, claimed_at, conversation_id, created_at, updated_at`

func scanCallback(row interface{ Scan(...any) error }) (*Callback, error) {
	var c Callback
	var topic, lang string
	var ws, we, ca, cr, up int64
	if err := row.Scan(&c.ID, &c.CustomerID, &c.Phone, &topic, &c.Note, &lang, &c.TimeZone, &ws, &we, &c.Source, &c.CallID, &c.State,
		&c.Outcome, &c.Attempts, &c.ClaimedBy, &ca, &c.ConversationID, &cr, &up); err != nil {
		return nil, err
	}
	c.Topic = desk.Category(topic)
	c.Lang = i18n.Lang(lang)
	c.WindowStart, c.WindowEnd, c.ClaimedAt = fromMicros(ws), fromMicros(we), fromMicros(ca)
	c.CreatedAt, c.UpdatedAt = fromMicros(cr), fromMicros(up)
	return &c, nil
}

// CallbackInput is a customer's callback request.
type CallbackInput struct {
	Topic desk.Category
	// Note says what it is about (optional, at most 500 characters).
	Note string
	// WindowStart and WindowEnd bound when to call; TimeZone (IANA) is
	// the customer's, in which the window is shown back.
	WindowStart, WindowEnd time.Time
	TimeZone               string
	// Lang is the language to speak (zh-CN or en; default the account's).
	Lang i18n.Lang
	// IdempotencyKey makes a retried request return the first one.
	IdempotencyKey string
}

// Window limits.
const (
	MinWindow   = 15 * time.Minute
	MaxWindow   = 12 * time.Hour
	MaxAheadDay = 14
)

// RequestCallback queues a call to customer userID's verified phone. The
// number is the one on file: none is accepted from the request. Returns
// ENoVerifiedPhone without one, ETooManyCallbacks with
// Config.MaxOpenCallbacks waiting already, EInvalid for a bad window.
func (s *Service) RequestCallback(ctx context.Context, userID int64, in CallbackInput) (*Callback, error) {
	if userID <= 0 {
		return nil, okpay.Errorf(okpay.EUnauthorized, "Sign in first.")
	}
	now := s.now()
	bad := map[string]string{}
	if !slices.Contains(desk.Categories(), in.Topic) {
		bad["topic"] = "Choose what the call is about."
	}
	in.Note = strings.TrimSpace(desk.CleanLine(in.Note))
	if utf8.RuneCountInString(in.Note) > 500 {
		bad["note"] = "Keep the note under 500 characters."
	}
	if in.TimeZone == "" {
		in.TimeZone = "UTC"
	}
	if _, err := time.LoadLocation(in.TimeZone); err != nil || len(in.TimeZone) > 64 {
		bad["time_zone"] = "Choose a time zone like Asia/Shanghai."
	}
	ws, we := in.WindowStart.UTC().Truncate(time.Second), in.WindowEnd.UTC().Truncate(time.Second)
	switch {
	case ws.IsZero() || we.IsZero():
		bad["window"] = "Choose when we may call you."
	case we.Sub(ws) < MinWindow || we.Sub(ws) > MaxWindow:
		bad["window"] = "The window must be between 15 minutes and 12 hours long."
	case we.Before(now.Add(MinWindow)):
		bad["window"] = "The window must end at least 15 minutes from now."
	case ws.After(now.Add(MaxAheadDay * 24 * time.Hour)):
		bad["window"] = "Choose a window within the next 14 days."
	}
	if in.Lang != "" {
		if _, ok := i18n.ParseLang(string(in.Lang)); !ok {
			bad["lang"] = "Choose zh-CN or en."
		}
	}
	if len(in.IdempotencyKey) > 100 {
		bad["idempotency_key"] = "Use at most 100 characters."
	}
	if len(bad) > 0 {
		return nil, okpay.Invalid(bad)
	}
	u, err := s.Identity.FindUser(ctx, userID)
	if err != nil {
		return nil, err
	}
	if u.PhoneVerifiedAt.IsZero() || u.Phone == "" {
		return nil, okpay.Errorf(ENoVerifiedPhone, "Verify your phone number first: we call only a verified number.")
	}
	if in.Lang == "" {
		in.Lang = u.Lang
	}
	if in.Lang == "" {
		in.Lang = i18n.Default
	}
	if ws.Before(now) {
		ws = now.Truncate(time.Second)
	}
	var out *Callback
	err = s.inTx(ctx, "request callback", func(tx *sql.Tx) error {
		out = nil
		if in.IdempotencyKey != "" {
			c, err := scanCallback(tx.QueryRowContext(ctx, `SELECT `+callbackCols+` FROM phone_callbacks WHERE customer_id = $1 AND request_key = $2`,
				userID, in.IdempotencyKey))
			if err == nil {
				c.Replayed = true
				out = c
				return nil
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
		}
		var open int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM phone_callbacks WHERE customer_id = $1 AND state IN ('queued','dialing')`,
			userID).Scan(&open); err != nil {
			return err
		}
		if open >= s.cfg.MaxOpenCallbacks {
			return okpay.Errorf(ETooManyCallbacks, "You have %d callbacks waiting already.", open)
		}
		id := s.IDs.Next()
		if _, err := tx.ExecContext(ctx, `INSERT INTO phone_callbacks (id, customer_id, phone, topic, note, lang, time_zone, window_start, window_end,
			source, state, request_key, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'customer', 'queued', $10, $11, $11)`,
			id, userID, u.Phone, string(in.Topic), in.Note, string(in.Lang), in.TimeZone, micros(ws), micros(we), in.IdempotencyKey, micros(now)); err != nil {
			return err
		}
		c, err := scanCallback(tx.QueryRowContext(ctx, `SELECT `+callbackCols+` FROM phone_callbacks WHERE id = $1`, id))
		out = c
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Callbacks lists customer userID's callbacks, newest first: up to limit
// (1 to 101, default 50) older than the callback before when it is set.
func (s *Service) Callbacks(ctx context.Context, userID, before int64, limit int) ([]*Callback, error) {
	if limit <= 0 || limit > 101 {
		limit = 50
	}
	if before <= 0 {
		before = 1<<63 - 1
	}
	return s.listCallbacks(ctx, `SELECT `+callbackCols+` FROM phone_callbacks WHERE customer_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3`, userID, before, limit)
}

// Callback returns customer userID's callback id (ENotFound for another's).
func (s *Service) Callback(ctx context.Context, userID, id int64) (*Callback, error) {
	c, err := s.FindCallback(ctx, id)
	if err != nil {
		return nil, err
	}
	if userID <= 0 || c.CustomerID != userID {
		return nil, okpay.Errorf(okpay.ENotFound, "callback not found")
	}
	return c, nil
}

// FindCallback returns callback id (staff).
func (s *Service) FindCallback(ctx context.Context, id int64) (*Callback, error) {
	c, err := scanCallback(s.DB.Read.QueryRowContext(ctx, `SELECT `+callbackCols+` FROM phone_callbacks WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, okpay.Errorf(okpay.ENotFound, "callback not found")
	}
	if err != nil {
		return nil, okpay.Internal(err, "load callback")
	}
	return c, nil
}

// Queue lists the callbacks waiting for agents: the earliest due window
// first (a missed call is due when it was missed), then the oldest.
func (s *Service) Queue(ctx context.Context, limit int) ([]*Callback, error) {
	if limit <= 0 || limit > 200 {
		limit = 100
	}
	return s.listCallbacks(ctx, `SELECT `+callbackCols+` FROM phone_callbacks WHERE state IN ('queued','dialing')
		ORDER BY window_start, id LIMIT $1`, limit)
}

func (s *Service) listCallbacks(ctx context.Context, q string, args ...any) ([]*Callback, error) {
	rows, err := s.DB.Read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, okpay.Internal(err, "list callbacks")
	}
	defer rows.Close()
	var out []*Callback
	for rows.Next() {
		c, err := scanCallback(rows)
		if err != nil {
			return nil, okpay.Internal(err, "list callbacks")
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, okpay.Internal(err, "list callbacks")
	}
	return out, nil
}

// update runs change on callback id under a row lock and stores what it
// sets.
func (s *Service) update(ctx context.Context, id int64, change func(c *Callback) error) (*Callback, error) {
	var out *Callback
	err := s.inTx(ctx, "update callback", func(tx *sql.Tx) error {
		c, err := scanCallback(tx.QueryRowContext(ctx, `SELECT `+callbackCols+` FROM phone_callbacks WHERE id = $1`+s.DB.ForUpdate(), id))
		if errors.Is(err, sql.ErrNoRows) {
			return okpay.Errorf(okpay.ENotFound, "callback not found")
		}
		if err != nil {
			return err
		}
		if err := change(c); err != nil {
			return err
		}
		c.UpdatedAt = s.now()
		_, err = tx.ExecContext(ctx, `UPDATE phone_callbacks SET state = $2, outcome = $3, attempts = $4, claimed_by = $5, claimed_at = $6,
			conversation_id = $7, updated_at = $8 WHERE id = $1`,
			c.ID, c.State, c.Outcome, c.Attempts, c.ClaimedBy, micros(c.ClaimedAt), c.ConversationID, micros(c.UpdatedAt))
		out = c
		return err
	})
	return out, err
}

// CancelCallback cancels customer userID's callback while it is queued
// (ECallbackClosed once an agent is calling or it ended).
func (s *Service) CancelCallback(ctx context.Context, userID, id int64) (*Callback, error) {
	return s.update(ctx, id, func(c *Callback) error {
		if userID <= 0 || c.CustomerID != userID {
			return okpay.Errorf(okpay.ENotFound, "callback not found")
		}
		if c.State == StateCancelled {
			return nil
		}
		if c.State != StateQueued {
			return okpay.Errorf(ECallbackClosed, "This callback can no longer be cancelled.")
		}
		c.State = StateCancelled
		return nil
	})
}

// Claim gives a queued callback to agentID. Claiming one's own claim again
// succeeds; another agent's is EAlreadyClaimed.
func (s *Service) Claim(ctx context.Context, agentID, id int64) (*Callback, error) {
	return s.update(ctx, id, func(c *Callback) error {
		switch {
		case c.State == StateDialing && c.ClaimedBy == agentID:
			return nil
		case c.State == StateDialing:
			return okpay.Errorf(EAlreadyClaimed, "Another agent is calling this customer.")
		case c.State != StateQueued:
			return okpay.Errorf(ECallbackClosed, "This callback is no longer waiting.")
		}
		c.State, c.ClaimedBy, c.ClaimedAt = StateDialing, agentID, s.now()
		return nil
	})
}

// LogOutcome records how agentID's call went: reached completes the
// callback; no answer queues it again until Config.MaxCallbackAttempts
// calls went unanswered, then it fails; a wrong number fails it. The
// outcome becomes a message in the customer's phone conversation (opened
// if none is going), the notes an internal note beside it.
func (s *Service) LogOutcome(ctx context.Context, agentID, id int64, outcome, notes string) (*Callback, error) {
	if !slices.Contains(Outcomes(), outcome) {
		return nil, okpay.Invalid(map[string]string{"outcome": "Choose reached, no answer or wrong number."})
	}
	notes = strings.TrimSpace(notes)
	if utf8.RuneCountInString(notes) > 2000 {
		return nil, okpay.Invalid(map[string]string{"notes": "Keep the notes under 2000 characters."})
	}
	c, err := s.update(ctx, id, func(c *Callback) error {
		if c.State != StateDialing || c.ClaimedBy != agentID {
			return okpay.Errorf(ENotClaimed, "Claim the callback before logging the call.")
		}
		c.Attempts++
		c.Outcome = outcome
		switch {
		case outcome == OutcomeReached:
			c.State = StateCompleted
		case outcome == OutcomeNoAnswer && c.Attempts < s.cfg.MaxCallbackAttempts:
			c.State, c.ClaimedBy, c.ClaimedAt = StateQueued, 0, time.Time{}
		default:
			c.State = StateFailed
		}
		return nil
	})
	if err != nil || c.CustomerID == 0 {
		return c, err
	}
	key := "callback:" + c.Ref() + ":" + itoa(c.Attempts)
	conv := c.ConversationID
	if conv == 0 {
		subject := s.t(c.Lang, "phone.conversation.subject", nil)
		if conv, err = s.phoneConversation(ctx, c.CustomerID, c.Topic, subject, c.Lang, "callback:"+c.Ref()); err != nil {
			return c, err
		}
	}
	body := s.t(c.Lang, "phone.log.callback."+outcome, map[string]any{"Attempt": c.Attempts})
	if _, err := s.Desk.SendMessage(ctx, desk.Agent(agentID), conv, desk.MessageInput{Body: body, IdempotencyKey: key}); err != nil {
		return c, err
	}
	if notes != "" {
		if _, err := s.Desk.SendMessage(ctx, desk.Agent(agentID), conv, desk.MessageInput{Body: notes, Internal: true, IdempotencyKey: key + ":note"}); err != nil {
			return c, err
		}
	}
	if c.ConversationID != conv {
		if _, err := s.DB.Write.ExecContext(ctx, `UPDATE phone_callbacks SET conversation_id = $2 WHERE id = $1`, c.ID, conv); err != nil {
			return c, okpay.Internal(err, "link callback")
		}
		c.ConversationID = conv
	}
	return c, nil
}

func itoa(n int) string { return strconv.Itoa(n) }
