package desk

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/sqldb"
)

// convRow is a desk_conversations row: the staff view plus both counters.
type convRow struct {
	Conversation
	lastSeq       int64
	lastPublicSeq int64
}

const convCols = `id, channel, category, priority, status, snoozed_until, subject, lang, customer_id, visitor_id,
	assignee_id, team, last_seq, last_public_seq, first_response_at, last_message_at, resolved_at, closed_at, created_at, updated_at`

func scanConv(row interface{ Scan(...any) error }) (*convRow, error) {
	var c convRow
	var snoozed, firstResp, lastMsg, resolved, closed, created, updated int64
	var lang string
	if err := row.Scan(&c.ID, &c.Channel, &c.Category, &c.Priority, &c.Status, &snoozed, &c.Subject, &lang, &c.CustomerID, &c.VisitorID,
		&c.AssigneeID, &c.Team, &c.lastSeq, &c.lastPublicSeq, &firstResp, &lastMsg, &resolved, &closed, &created, &updated); err != nil {
		return nil, err
	}
	c.Lang, _ = i18n.ParseLang(lang)
	c.SnoozedUntil = fromMicros(snoozed)
	c.FirstResponseAt = fromMicros(firstResp)
	c.LastMessageAt = fromMicros(lastMsg)
	c.ResolvedAt = fromMicros(resolved)
	c.ClosedAt = fromMicros(closed)
	c.CreatedAt = fromMicros(created)
	c.UpdatedAt = fromMicros(updated)
	c.Assigned = c.AssigneeID != 0
	c.LastSeq = c.lastSeq
	return &c, nil
}

// canSee reports whether v may read conversation c. Staff see every
// conversation (the agent package's permissions decide at the HTTP layer).
func canSee(v Viewer, c *convRow) bool {
	switch v.Kind {
	case KindAgent, KindSystem:
		return true
	case KindCustomer:
		return c.CustomerID == v.ID && v.ID != 0
	case KindVisitor:
		return c.CustomerID == 0 && c.VisitorID != "" && c.VisitorID == v.VisitorID
	}
	return false
}

var errNoConversation = okpay.Errorf(okpay.ENotFound, "There is no such conversation.")

// loadConv reads a conversation that v may see; lock takes the row lock
// (inside a write transaction). A conversation v may not see is "not
// found", so its existence is not revealed.
func (s *Service) loadConv(ctx context.Context, q querier, v Viewer, id int64, lock bool) (*convRow, error) {
	if err := v.valid(); err != nil {
		return nil, err
	}
	query := `SELECT ` + convCols + ` FROM desk_conversations WHERE id = $1`
	if lock {
		query += s.DB.ForUpdate()
	}
	c, err := scanConv(q.QueryRowContext(ctx, query, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNoConversation
	}
	if err != nil {
		return nil, okpay.Internal(err, "load conversation")
	}
	if !canSee(v, c) {
		return nil, errNoConversation
	}
	return c, nil
}

// view returns the conversation as v may see it.
func (c *convRow) view(v Viewer) *Conversation {
	out := c.Conversation
	out.Tags = slices.Clone(c.Tags)
	if !v.Staff() {
		out.LastSeq = c.lastPublicSeq
		out.Tags = nil
		out.Team = ""
		out.Priority = ""
		out.AssigneeID = 0
		out.SnoozedUntil = time.Time{}
	}
	return &out
}

func (s *Service) loadTags(ctx context.Context, q querier, c *convRow) error {
	rows, err := q.QueryContext(ctx, `SELECT tag FROM desk_tags WHERE conversation_id = $1 ORDER BY tag`, c.ID)
	if err != nil {
		return okpay.Internal(err, "load tags")
	}
	defer rows.Close()
	c.Tags = nil
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return okpay.Internal(err, "load tags")
		}
		c.Tags = append(c.Tags, t)
	}
	if err := rows.Err(); err != nil {
		return okpay.Internal(err, "load tags")
	}
	return nil
}

// Conversation returns conversation id as v may see it. Returns ENotFound
// when it does not exist or v may not see it.
func (s *Service) Conversation(ctx context.Context, v Viewer, id int64) (*Conversation, error) {
	c, err := s.loadConv(ctx, s.DB.Read, v, id, false)
	if err != nil {
		return nil, err
	}
	if v.Staff() {
		if err := s.loadTags(ctx, s.DB.Read, c); err != nil {
			return nil, err
		}
	}
	return c.view(v), nil
}

// StartInput describes a new conversation.
type StartInput struct {
	// Channel defaults to chat.
	Channel  Channel
	Category Category
	// Priority defaults to normal; only staff may set it.
	Priority Priority
	Subject  string
	// Lang is the language the customer writes in (default en).
	Lang i18n.Lang
	// CustomerID is whose conversation it is when staff start it (an
	// outreach, or a channel that imports it); customers and visitors own
	// what they start.
	CustomerID int64
	// Body and Attachments, when given, are the first message (by v).
	Body        string
	Attachments []AttachmentInput
	// IdempotencyKey makes a retried start return the same conversation.
	IdempotencyKey string
}

// maxKeyLen caps client idempotency keys.
const maxKeyLen = 100

func validKey(k string) bool {
	if len(k) > maxKeyLen {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7e {
			return false
		}
	}
	return true
}

// StartConversation opens a conversation owned by v (a customer or a
// visitor), or by in.CustomerID when v is staff, routed to the category's
// team (DefaultTeam). The same IdempotencyKey from the same owner returns
// the conversation started first, unchanged. Returns EInvalid for bad input, ETooManyOpen when
// the owner has Config.MaxOpenPerOwner conversations open already.
func (s *Service) StartConversation(ctx context.Context, v Viewer, in StartInput) (*Conversation, error) {
	if err := v.valid(); err != nil {
		return nil, err
	}
	bad := map[string]string{}
	if in.Channel == "" {
		in.Channel = ChannelChat
	}
	if !slices.Contains(Channels(), in.Channel) {
		bad["channel"] = "Choose one of chat, email, phone or web_form."
	}
	if !slices.Contains(Categories(), in.Category) {
		bad["category"] = "Choose what the conversation is about."
	}
	if in.Priority == "" || !v.Staff() {
		in.Priority = PriorityNormal
	}
	if !slices.Contains(Priorities(), in.Priority) {
		bad["priority"] = "Choose one of low, normal, high or urgent."
	}
	in.Subject = CleanLine(in.Subject)
	if runeLen(in.Subject) > s.cfg.MaxSubjectRunes {
		bad["subject"] = "The subject is too long."
	}
	if in.Lang == "" {
		in.Lang = i18n.Default
	}
	if _, ok := i18n.ParseLang(string(in.Lang)); !ok {
		bad["lang"] = "Choose zh-CN or en."
	}
	if !validKey(in.IdempotencyKey) {
		bad["idempotency_key"] = "Use at most 100 printable ASCII characters."
	}
	var owner Viewer
	switch v.Kind {
	case KindCustomer, KindVisitor:
		owner = v
	default:
		if in.CustomerID <= 0 {
			bad["customer_id"] = "Say whose conversation it is."
		}
		owner = Customer(in.CustomerID)
	}
	var msg *messageDraft
	if in.Body != "" || len(in.Attachments) > 0 {
		d, err := s.draft(v, MessageInput{Body: in.Body, Attachments: in.Attachments, IdempotencyKey: in.IdempotencyKey})
		if err != nil {
			return nil, err
		}
		msg = d
	}
	if len(bad) > 0 {
		return nil, okpay.Invalid(bad)
	}

	now := s.Clock.Now()
	var conv *convRow
	var first *Message
	replayed := false
	start := func(tx *sql.Tx) error {
		conv, first, replayed = nil, nil, false
		if in.IdempotencyKey != "" {
			row := tx.QueryRowContext(ctx, `SELECT `+convCols+` FROM desk_conversations
				WHERE customer_id = $1 AND visitor_id = $2 AND start_key = $3`, owner.ID, owner.VisitorID, in.IdempotencyKey)
			c, err := scanConv(row)
			if err == nil {
				conv, replayed = c, true
				return nil
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
		}
		var open int
		q := `SELECT COUNT(*) FROM desk_conversations
			WHERE customer_id = $1 AND visitor_id = $2 AND status NOT IN ('resolved', 'closed')`
		if owner.VisitorID != "" {
			// Lets the planner use the partial index on visitor_id
			// (every visitor's customer_id is 0): O(own), not O(all
			// visitors' conversations).
			q += ` AND visitor_id <> ''`
		}
		if err := tx.QueryRowContext(ctx, q, owner.ID, owner.VisitorID).Scan(&open); err != nil {
			return err
		}
		if open >= s.cfg.MaxOpenPerOwner {
			return okpay.Errorf(ETooManyOpen, "You have %d conversations open already. Please continue in one of them.", open)
		}
		id := s.IDs.Next()
		team := DefaultTeam(in.Category)
		if _, err := tx.ExecContext(ctx, `INSERT INTO desk_conversations
			(id, channel, category, priority, status, subject, lang, customer_id, visitor_id, start_key, team, created_at, updated_at)
			VALUES ($1, $2, $3, $4, 'open', $5, $6, $7, $8, $9, $10, $11, $11)`,
			id, in.Channel, in.Category, in.Priority, in.Subject, string(in.Lang), owner.ID, owner.VisitorID, in.IdempotencyKey, team, micros(now)); err != nil {
			return err
		}
		if err := s.record(ctx, tx, id, v, "created", string(in.Channel)+" "+string(in.Category), now); err != nil {
			return err
		}
		if msg != nil {
			m, _, err := s.insertMessage(ctx, tx, id, v, msg, now)
			if err != nil {
				return err
			}
			first = m
		}
		c, err := scanConv(tx.QueryRowContext(ctx, `SELECT `+convCols+` FROM desk_conversations WHERE id = $1`, id))
		conv = c
		if err != nil {
			return err
		}
		return s.slaStartTx(ctx, tx, c, now) // SLA timers (sla.go)
	}
	err := s.inTx(ctx, "start conversation", start)
	if err != nil && sqldb.IsUniqueViolation(err) {
		// The same start raced with itself (PostgreSQL: no row to lock
		// yet); the second attempt finds the first one's conversation.
		err = s.inTx(ctx, "start conversation", start)
	}
	if err != nil {
		return nil, err
	}
	if !replayed {
		s.publishInboxType(ctx, EventCreated, &conv.Conversation)
		if first != nil {
			s.publishMessage(ctx, first)
		}
		s.routeOpen(ctx, &conv.Conversation) // auto-assignment (routing.go)
	}
	return conv.view(v), nil
}

// ConversationFilter selects conversations. Zero fields match everything.
type ConversationFilter struct {
	Status   []Status
	Channel  Channel
	Category Category
	Team     string
	// AssigneeID selects one agent's conversations; Unassigned the ones
	// without an agent.
	AssigneeID int64
	Unassigned bool
	CustomerID int64
	// SLA selects conversations by their SLA timers (staff only; sla.go).
	SLA SLAFilter
	// Before is a conversation id: only older ones are listed (paging).
	Before int64
	// Limit defaults to 50, at most 200.
	Limit int
}

// Conversations lists conversations newest first. Customers and visitors
// list only their own, whatever the filter says.
func (s *Service) Conversations(ctx context.Context, v Viewer, f ConversationFilter) ([]*Conversation, error) {
	if err := v.valid(); err != nil {
		return nil, err
	}
	var where []string
	var args []any
	add := func(cond string, vals ...any) {
		for _, val := range vals {
			args = append(args, val)
			cond = strings.Replace(cond, "?", "$"+itoa(len(args)), 1)
		}
		where = append(where, cond)
	}
	switch v.Kind {
	case KindCustomer:
		add("customer_id = ?", v.ID)
	case KindVisitor:
		add("customer_id = 0 AND visitor_id = ?", v.VisitorID)
	default:
		if f.CustomerID != 0 {
			add("customer_id = ?", f.CustomerID)
		}
		if f.Team != "" {
			add("team = ?", f.Team)
		}
		if f.AssigneeID != 0 {
			add("assignee_id = ?", f.AssigneeID)
		}
		if f.Unassigned {
			add("assignee_id = 0")
		}
		if cond, vals := slaCondition(f.SLA, s.Clock.Now()); cond != "" {
			add(cond, vals...)
		}
	}
	if len(f.Status) > 0 {
		ph := make([]string, len(f.Status))
		vals := make([]any, len(f.Status))
		for i, st := range f.Status {
			ph[i], vals[i] = "?", string(st)
		}
		add("status IN ("+strings.Join(ph, ", ")+")", vals...)
	}
	if f.Channel != "" {
		add("channel = ?", string(f.Channel))
	}
	if f.Category != "" {
		add("category = ?", string(f.Category))
	}
	if f.Before != 0 {
		add("id < ?", f.Before)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	limit = min(limit, 200)
	q := `SELECT ` + convCols + ` FROM desk_conversations`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY id DESC LIMIT ` + itoa(limit)
	rows, err := s.DB.Read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, okpay.Internal(err, "list conversations")
	}
	var list []*convRow
	for rows.Next() {
		c, err := scanConv(rows)
		if err != nil {
			rows.Close()
			return nil, okpay.Internal(err, "list conversations")
		}
		list = append(list, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, okpay.Internal(err, "list conversations")
	}
	out := make([]*Conversation, 0, len(list))
	for _, c := range list {
		if v.Staff() {
			if err := s.loadTags(ctx, s.DB.Read, c); err != nil {
				return nil, err
			}
		}
		out = append(out, c.view(v))
	}
	return out, nil
}

func itoa(n int) string { return strconv.Itoa(n) }

func isLetterOrDigit(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

// staffOnly refuses customers and visitors.
func staffOnly(v Viewer) error {
	if err := v.valid(); err != nil {
		return err
	}
	if !v.Staff() {
		return okpay.Errorf(okpay.EForbidden, "Only support staff can do this.")
	}
	return nil
}

// record writes one line of a conversation's activity history.
func (s *Service) record(ctx context.Context, tx *sql.Tx, convID int64, v Viewer, kind, detail string, now time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO desk_activity (id, conversation_id, actor_kind, actor_id, kind, detail, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, s.IDs.Next(), convID, string(v.Kind), v.ID, kind, detail, micros(now))
	return err
}

// Activity is one line of a conversation's history.
type Activity struct {
	Actor     Kind
	ActorID   int64
	Kind      string
	Detail    string
	CreatedAt time.Time
}

// History returns a conversation's activity (status changes,
// assignments, tags, links...), oldest first. Staff only.
func (s *Service) History(ctx context.Context, v Viewer, id int64) ([]Activity, error) {
	if err := staffOnly(v); err != nil {
		return nil, err
	}
	if _, err := s.loadConv(ctx, s.DB.Read, v, id, false); err != nil {
		return nil, err
	}
	rows, err := s.DB.Read.QueryContext(ctx, `SELECT actor_kind, actor_id, kind, detail, created_at FROM desk_activity
		WHERE conversation_id = $1 ORDER BY id`, id)
	if err != nil {
		return nil, okpay.Internal(err, "load history")
	}
	defer rows.Close()
	var out []Activity
	for rows.Next() {
		var a Activity
		var at int64
		if err := rows.Scan(&a.Actor, &a.ActorID, &a.Kind, &a.Detail, &at); err != nil {
			return nil, okpay.Internal(err, "load history")
		}
		a.CreatedAt = fromMicros(at)
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, okpay.Internal(err, "load history")
	}
	return out, nil
}

// SetStatus moves a conversation to status to, along the transition
// table (CanTransition). until is the wake-up time of a snooze (required
// then, and in the future; ignored otherwise). Customers and visitors may
// only mark their conversation resolved. Setting the current status again
// changes nothing (except a snooze's time). Returns EBadTransition for a
// move the table forbids.
func (s *Service) SetStatus(ctx context.Context, v Viewer, id int64, to Status, until time.Time) (*Conversation, error) {
	if err := v.valid(); err != nil {
		return nil, err
	}
	if !slices.Contains(Statuses(), to) {
		return nil, okpay.Invalid(map[string]string{"status": "Choose one of open, pending, snoozed, resolved or closed."})
	}
	if !v.Staff() && to != StatusResolved {
		return nil, okpay.Errorf(okpay.EForbidden, "You can only mark a conversation as resolved.")
	}
	now := s.Clock.Now()
	if to == StatusSnoozed {
		if !until.After(now) {
			return nil, okpay.Invalid(map[string]string{"until": "Choose a time in the future."})
		}
	} else {
		until = time.Time{}
	}
	var conv *convRow
	changed := false
	err := s.inTx(ctx, "set status", func(tx *sql.Tx) error {
		c, err := s.loadConv(ctx, tx, v, id, true)
		if err != nil {
			return err
		}
		conv, changed = c, false
		if c.Status == to && to != StatusSnoozed {
			return nil
		}
		if !CanTransition(c.Status, to) {
			return okpay.Errorf(EBadTransition, "A conversation that is %s cannot be set to %s.", c.Status, to)
		}
		if err := s.changeStatus(ctx, tx, c, v, to, until, now); err != nil {
			return err
		}
		changed = true
		return nil
	})
	if err != nil {
		return nil, err
	}
	if changed {
		s.publishStatus(ctx, &conv.Conversation)
		s.routeOpen(ctx, &conv.Conversation) // auto-assignment (routing.go)
	}
	return conv.view(v), nil
}

// changeStatus writes a transition already checked, updating c.
func (s *Service) changeStatus(ctx context.Context, tx *sql.Tx, c *convRow, v Viewer, to Status, until time.Time, now time.Time) error {
	resolved, closed := c.ResolvedAt, c.ClosedAt
	switch to {
	case StatusResolved:
		resolved = now
	case StatusClosed:
		closed = now
	case StatusOpen, StatusPending:
		resolved = time.Time{}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE desk_conversations SET status = $1, snoozed_until = $2, resolved_at = $3, closed_at = $4, updated_at = $5
		WHERE id = $6`, string(to), micros(until), micros(resolved), micros(closed), micros(now), c.ID); err != nil {
		return err
	}
	detail := string(c.Status) + " -> " + string(to)
	if !until.IsZero() {
		detail += " until " + until.UTC().Format(time.RFC3339)
	}
	if err := s.record(ctx, tx, c.ID, v, "status", detail, now); err != nil {
		return err
	}
	if err := s.slaStatusTx(ctx, tx, c, to, now); err != nil { // SLA timers (sla.go)
		return err
	}
	c.Status, c.SnoozedUntil, c.ResolvedAt, c.ClosedAt, c.UpdatedAt = to, until, resolved, closed, now
	return nil
}

// WakeSnoozed opens again every snoozed conversation whose time has come
// and returns how many it opened. Run it every minute or so.
func (s *Service) WakeSnoozed(ctx context.Context) (int, error) {
	now := s.Clock.Now()
	var woken []*convRow
	err := s.inTx(ctx, "wake snoozed conversations", func(tx *sql.Tx) error {
		woken = nil
		rows, err := tx.QueryContext(ctx, `SELECT `+convCols+` FROM desk_conversations
			WHERE status = 'snoozed' AND snoozed_until <= $1 ORDER BY snoozed_until LIMIT 500`+s.DB.ForUpdate(), micros(now))
		if err != nil {
			return err
		}
		for rows.Next() {
			c, err := scanConv(rows)
			if err != nil {
				rows.Close()
				return err
			}
			woken = append(woken, c)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, c := range woken {
			if err := s.changeStatus(ctx, tx, c, System, StatusOpen, time.Time{}, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, c := range woken {
		s.publishStatus(ctx, &c.Conversation)
		s.routeOpen(ctx, &c.Conversation) // auto-assignment (routing.go)
	}
	return len(woken), nil
}

// Assign gives a conversation to agent agentID (0 takes it from whoever
// has it). Staff only. Returns EConversationClosed for a closed one.
func (s *Service) Assign(ctx context.Context, v Viewer, id, agentID int64) (*Conversation, error) {
	if err := staffOnly(v); err != nil {
		return nil, err
	}
	if agentID < 0 {
		return nil, okpay.Invalid(map[string]string{"agent_id": "Choose an agent."})
	}
	return s.updateAssignment(ctx, v, id, func(c *convRow) (bool, error) {
		if c.AssigneeID == agentID {
			return false, nil
		}
		c.AssigneeID = agentID
		return true, nil
	})
}

// Claim assigns an unassigned conversation to agentID, safely under
// concurrency: of agents claiming at once, one wins and the others get
// EAlreadyAssigned. Claiming one's own conversation again succeeds.
func (s *Service) Claim(ctx context.Context, agentID, id int64) (*Conversation, error) {
	v := Agent(agentID)
	if err := v.valid(); err != nil {
		return nil, err
	}
	return s.updateAssignment(ctx, v, id, func(c *convRow) (bool, error) {
		switch c.AssigneeID {
		case agentID:
			return false, nil
		case 0:
			c.AssigneeID = agentID
			return true, nil
		}
		return false, okpay.Errorf(EAlreadyAssigned, "Another agent has taken this conversation.")
	})
}

// SetTeam moves a conversation to another team (the agent package owns
// the team names). Staff only.
func (s *Service) SetTeam(ctx context.Context, v Viewer, id int64, team string) (*Conversation, error) {
	if err := staffOnly(v); err != nil {
		return nil, err
	}
	if !validName(team, 40) {
		return nil, okpay.Invalid(map[string]string{"team": "Choose a team."})
	}
	return s.updateAssignment(ctx, v, id, func(c *convRow) (bool, error) {
		if c.Team == team {
			return false, nil
		}
		c.Team = team
		return true, nil
	})
}

// updateAssignment changes a conversation's assignee or team under its
// row lock.
func (s *Service) updateAssignment(ctx context.Context, v Viewer, id int64, change func(c *convRow) (bool, error)) (*Conversation, error) {
	now := s.Clock.Now()
	var conv *convRow
	changed := false
	err := s.inTx(ctx, "assign conversation", func(tx *sql.Tx) error {
		c, err := s.loadConv(ctx, tx, v, id, true)
		if err != nil {
			return err
		}
		if c.Status == StatusClosed {
			return okpay.Errorf(EConversationClosed, "This conversation is closed.")
		}
		before := *c
		conv, changed = c, false
		ok, err := change(c)
		if err != nil || !ok {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE desk_conversations SET assignee_id = $1, team = $2, updated_at = $3 WHERE id = $4`,
			c.AssigneeID, c.Team, micros(now), c.ID); err != nil {
			return err
		}
		if before.AssigneeID != c.AssigneeID {
			if err := s.record(ctx, tx, c.ID, v, "assigned", participantRef(KindAgent, before.AssigneeID)+" -> "+participantRef(KindAgent, c.AssigneeID), now); err != nil {
				return err
			}
		}
		if before.Team != c.Team {
			if err := s.record(ctx, tx, c.ID, v, "team", before.Team+" -> "+c.Team, now); err != nil {
				return err
			}
		}
		c.Assigned, c.UpdatedAt, changed = c.AssigneeID != 0, now, true
		return nil
	})
	if err != nil {
		return nil, err
	}
	if changed {
		s.publishAssigned(ctx, &conv.Conversation)
	}
	return conv.view(v), nil
}

// SetPriority changes a conversation's priority. Staff only.
func (s *Service) SetPriority(ctx context.Context, v Viewer, id int64, p Priority) (*Conversation, error) {
	if err := staffOnly(v); err != nil {
		return nil, err
	}
	if !slices.Contains(Priorities(), p) {
		return nil, okpay.Invalid(map[string]string{"priority": "Choose one of low, normal, high or urgent."})
	}
	return s.setField(ctx, v, id, "priority", string(p), func(c *convRow) string { old := string(c.Priority); c.Priority = p; return old })
}

// SetCategory corrects a conversation's category (its team stays; move
// it with SetTeam). Staff only.
func (s *Service) SetCategory(ctx context.Context, v Viewer, id int64, cat Category) (*Conversation, error) {
	if err := staffOnly(v); err != nil {
		return nil, err
	}
	if !slices.Contains(Categories(), cat) {
		return nil, okpay.Invalid(map[string]string{"category": "Choose what the conversation is about."})
	}
	return s.setField(ctx, v, id, "category", string(cat), func(c *convRow) string { old := string(c.Category); c.Category = cat; return old })
}

// setField updates the priority or category column (column is a
// constant of this package, never input).
func (s *Service) setField(ctx context.Context, v Viewer, id int64, column, value string, set func(c *convRow) string) (*Conversation, error) {
	now := s.Clock.Now()
	var conv *convRow
	changed := false
	err := s.inTx(ctx, "update conversation", func(tx *sql.Tx) error {
		c, err := s.loadConv(ctx, tx, v, id, true)
		if err != nil {
			return err
		}
		conv, changed = c, false
		old := set(c)
		if old == value {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `UPDATE desk_conversations SET `+column+` = $1, updated_at = $2 WHERE id = $3`, value, micros(now), id); err != nil {
			return err
		}
		c.UpdatedAt, changed = now, true
		return s.record(ctx, tx, id, v, column, old+" -> "+value, now)
	})
	if err != nil {
		return nil, err
	}
	if changed {
		s.publishInbox(ctx, &conv.Conversation)
	}
	return conv.view(v), nil
}

// validName accepts lower-case ASCII names: [a-z0-9_-], 1..max bytes.
func validName(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// ClaimVisitorConversations hands every conversation of visitor visitorID
// to customer userID (the visitor signed in) and returns how many moved.
// The visitor id no longer opens them: whoever uses the browser after the
// customer signs out does not see them. Followers of those conversations
// receive a "claimed" event (visitor connections are closed and reconnect
// signed in). Running it again moves nothing.
func (s *Service) ClaimVisitorConversations(ctx context.Context, visitorID string, userID int64) (int, error) {
	if !validVisitorID(visitorID) {
		return 0, okpay.Invalid(map[string]string{"visitor_id": "The visitor id is not valid."})
	}
	if userID <= 0 {
		return 0, okpay.Invalid(map[string]string{"user_id": "Say which customer signed in."})
	}
	now := s.Clock.Now()
	var moved []int64
	err := s.inTx(ctx, "claim visitor conversations", func(tx *sql.Tx) error {
		moved = nil
		rows, err := tx.QueryContext(ctx, `SELECT id FROM desk_conversations WHERE customer_id = 0 AND visitor_id = $1 ORDER BY id`+s.DB.ForUpdate(), visitorID)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			moved = append(moved, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, id := range moved {
			if _, err := tx.ExecContext(ctx, `UPDATE desk_conversations SET customer_id = $1, visitor_id = '', start_key = '', claimed_at = $2, updated_at = $2
				WHERE id = $3`, userID, micros(now), id); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE desk_reads SET reader_kind = 'customer', reader_id = $1
				WHERE conversation_id = $2 AND reader_kind = 'visitor'`, userID, id); err != nil {
				return err
			}
			if err := s.record(ctx, tx, id, Customer(userID), "claimed", "visitor -> "+participantRef(KindCustomer, userID), now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, id := range moved {
		s.publishClaimed(ctx, id)
	}
	return len(moved), nil
}

// AddTags tags a conversation (tags are lower-cased; letters, digits,
// "-" and "_", up to 40 characters). Staff only.
func (s *Service) AddTags(ctx context.Context, v Viewer, id int64, tags ...string) ([]string, error) {
	if err := staffOnly(v); err != nil {
		return nil, err
	}
	clean := make([]string, 0, len(tags))
	for _, t := range tags {
		t = normTag(t)
		if t == "" {
			return nil, okpay.Invalid(map[string]string{"tags": "Tags use letters, digits, '-' and '_', up to 40 characters."})
		}
		if !slices.Contains(clean, t) {
			clean = append(clean, t)
		}
	}
	now := s.Clock.Now()
	var out []string
	err := s.inTx(ctx, "tag conversation", func(tx *sql.Tx) error {
		c, err := s.loadConv(ctx, tx, v, id, true)
		if err != nil {
			return err
		}
		if err := s.loadTags(ctx, tx, c); err != nil {
			return err
		}
		for _, t := range clean {
			if slices.Contains(c.Tags, t) {
				continue
			}
			if len(c.Tags) >= s.cfg.MaxTags {
				return okpay.Invalid(map[string]string{"tags": "This conversation has as many tags as it can have."})
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO desk_tags (conversation_id, tag, created_at) VALUES ($1, $2, $3)`, id, t, micros(now)); err != nil {
				return err
			}
			if err := s.record(ctx, tx, id, v, "tag_added", t, now); err != nil {
				return err
			}
			c.Tags = append(c.Tags, t)
		}
		slices.Sort(c.Tags)
		out = c.Tags
		return nil
	})
	return out, err
}

// RemoveTag takes a tag off a conversation. Staff only.
func (s *Service) RemoveTag(ctx context.Context, v Viewer, id int64, tag string) error {
	if err := staffOnly(v); err != nil {
		return err
	}
	tag = normTag(tag)
	now := s.Clock.Now()
	return s.inTx(ctx, "untag conversation", func(tx *sql.Tx) error {
		if _, err := s.loadConv(ctx, tx, v, id, true); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM desk_tags WHERE conversation_id = $1 AND tag = $2`, id, tag)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n > 0 {
			return s.record(ctx, tx, id, v, "tag_removed", tag, now)
		}
		return nil
	})
}

func normTag(t string) string {
	t = strings.ToLower(strings.TrimSpace(t))
	if t == "" || runeLen(t) > 40 {
		return ""
	}
	for _, r := range t {
		if !(r == '-' || r == '_' || isLetterOrDigit(r)) {
			return ""
		}
	}
	return t
}

// AddLink links a conversation to a wallet transaction or a security
// event (kind is one of LinkKinds; ref the other side's public
// reference). Linking twice changes nothing. Staff only.
func (s *Service) AddLink(ctx context.Context, v Viewer, id int64, kind, ref string) error {
	if err := staffOnly(v); err != nil {
		return err
	}
	if !slices.Contains(LinkKinds(), kind) {
		return okpay.Invalid(map[string]string{"kind": "Link a wallet_transaction or a security_event."})
	}
	if !validKey(ref) || ref == "" {
		return okpay.Invalid(map[string]string{"ref": "Give the reference of what to link."})
	}
	now := s.Clock.Now()
	return s.inTx(ctx, "link conversation", func(tx *sql.Tx) error {
		if _, err := s.loadConv(ctx, tx, v, id, true); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM desk_links WHERE conversation_id = $1 AND kind = $2 AND ref = $3`, id, kind, ref).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO desk_links (conversation_id, kind, ref, created_by_kind, created_by, created_at)
			VALUES ($1, $2, $3, $4, $5, $6)`, id, kind, ref, string(v.Kind), v.ID, micros(now)); err != nil {
			return err
		}
		return s.record(ctx, tx, id, v, "link_added", kind+" "+ref, now)
	})
}

// RemoveLink removes a link. Staff only.
func (s *Service) RemoveLink(ctx context.Context, v Viewer, id int64, kind, ref string) error {
	if err := staffOnly(v); err != nil {
		return err
	}
	now := s.Clock.Now()
	return s.inTx(ctx, "unlink conversation", func(tx *sql.Tx) error {
		if _, err := s.loadConv(ctx, tx, v, id, true); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM desk_links WHERE conversation_id = $1 AND kind = $2 AND ref = $3`, id, kind, ref)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n > 0 {
			return s.record(ctx, tx, id, v, "link_removed", kind+" "+ref, now)
		}
		return nil
	})
}

// Links lists a conversation's links, oldest first. Staff only.
func (s *Service) Links(ctx context.Context, v Viewer, id int64) ([]Link, error) {
	if err := staffOnly(v); err != nil {
		return nil, err
	}
	if _, err := s.loadConv(ctx, s.DB.Read, v, id, false); err != nil {
		return nil, err
	}
	rows, err := s.DB.Read.QueryContext(ctx, `SELECT kind, ref, created_by_kind, created_by, created_at FROM desk_links
		WHERE conversation_id = $1 ORDER BY created_at, kind, ref`, id)
	if err != nil {
		return nil, okpay.Internal(err, "load links")
	}
	defer rows.Close()
	var out []Link
	for rows.Next() {
		var l Link
		var at int64
		if err := rows.Scan(&l.Kind, &l.Ref, &l.CreatedBy, &l.CreatorID, &at); err != nil {
			return nil, okpay.Internal(err, "load links")
		}
		l.CreatedAt = fromMicros(at)
		out = append(out, l)
	}
	return out, rows.Err()
}

// LinkedConversations returns the ids of the conversations linked to
// (kind, ref), newest first: "which conversations talk about this
// transaction". Staff only.
func (s *Service) LinkedConversations(ctx context.Context, v Viewer, kind, ref string) ([]int64, error) {
	if err := staffOnly(v); err != nil {
		return nil, err
	}
	return s.ids(ctx, `SELECT conversation_id FROM desk_links WHERE kind = $1 AND ref = $2 ORDER BY conversation_id DESC LIMIT 200`, kind, ref)
}

func (s *Service) ids(ctx context.Context, q string, args ...any) ([]int64, error) {
	rows, err := s.DB.Read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, okpay.Internal(err, "list conversations")
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, okpay.Internal(err, "list conversations")
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// SetChannelMeta stores channel-specific values of a conversation (an
// email thread's reply token, a phone call's provider id, the page a chat
// started on). Names are [a-z0-9_-]{1,40}; values at most 1000 bytes; an
// empty value deletes the name. Staff and system only.
func (s *Service) SetChannelMeta(ctx context.Context, v Viewer, id int64, values map[string]string) error {
	if err := staffOnly(v); err != nil {
		return err
	}
	for k, val := range values {
		if !validName(k, 40) || len(val) > 1000 {
			return okpay.Invalid(map[string]string{"meta": "Names use a-z, 0-9, '-' and '_' (up to 40); values up to 1000 bytes."})
		}
	}
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return s.inTx(ctx, "set channel values", func(tx *sql.Tx) error {
		c, err := s.loadConv(ctx, tx, v, id, true)
		if err != nil {
			return err
		}
		for _, k := range keys {
			if _, err := tx.ExecContext(ctx, `DELETE FROM desk_channel_meta WHERE conversation_id = $1 AND name = $2`, id, k); err != nil {
				return err
			}
			if values[k] == "" {
				continue
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO desk_channel_meta (conversation_id, channel, name, value) VALUES ($1, $2, $3, $4)`,
				id, string(c.Channel), k, CleanLine(values[k])); err != nil {
				return err
			}
		}
		return nil
	})
}

// ChannelMeta returns a conversation's channel-specific values. Staff only.
func (s *Service) ChannelMeta(ctx context.Context, v Viewer, id int64) (map[string]string, error) {
	if err := staffOnly(v); err != nil {
		return nil, err
	}
	if _, err := s.loadConv(ctx, s.DB.Read, v, id, false); err != nil {
		return nil, err
	}
	rows, err := s.DB.Read.QueryContext(ctx, `SELECT name, value FROM desk_channel_meta WHERE conversation_id = $1`, id)
	if err != nil {
		return nil, okpay.Internal(err, "load channel values")
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k, val string
		if err := rows.Scan(&k, &val); err != nil {
			return nil, okpay.Internal(err, "load channel values")
		}
		out[k] = val
	}
	return out, rows.Err()
}

// FindByChannelMeta returns the conversations of channel ch whose value
// name is value, newest first (an inbound email's thread token, say).
// Staff and system only.
func (s *Service) FindByChannelMeta(ctx context.Context, v Viewer, ch Channel, name, value string) ([]int64, error) {
	if err := staffOnly(v); err != nil {
		return nil, err
	}
	if value == "" {
		return nil, nil // an empty value never matches (libredesk #122)
	}
	return s.ids(ctx, `SELECT conversation_id FROM desk_channel_meta WHERE channel = $1 AND name = $2 AND value = $3
		ORDER BY conversation_id DESC LIMIT 200`, string(ch), name, value)
}
