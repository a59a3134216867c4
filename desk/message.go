package desk

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"errors"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/desk/realtime"
	"github.com/okpay/okpay/sqldb"
)

// MessageInput is a message to send.
type MessageInput struct {
	Body string
	// Internal makes it a note only staff see. Only staff may write one.
	Internal    bool
	Attachments []AttachmentInput
	// IdempotencyKey (client-generated, unique per message) makes a
	// retried send return the message sent first instead of a second one.
	IdempotencyKey string
	// Mentions are the agents an internal note mentions (FindMentions,
	// MentionedAgents), stored with the note in its transaction
	// (mention.go); the author is left out.
	Mentions []int64
}

// messageDraft is a checked MessageInput.
type messageDraft struct {
	body        string
	internal    bool
	key         string
	files       []AttachmentInput
	sums        [][]byte
	requestHash []byte
	mentions    []int64
}

// draft checks and cleans a message.
func (s *Service) draft(v Viewer, in MessageInput) (*messageDraft, error) {
	if in.Internal && !v.Staff() {
		return nil, okpay.Errorf(okpay.EForbidden, "Only support staff can write internal notes.")
	}
	if len(in.Mentions) > 0 && !in.Internal {
		return nil, okpay.Errorf(okpay.EInvalid, "Only internal notes mention agents.")
	}
	d := &messageDraft{body: CleanText(in.Body), internal: in.Internal, key: in.IdempotencyKey, mentions: in.Mentions}
	bad := map[string]string{}
	if runeLen(d.body) > s.cfg.MaxBodyRunes {
		bad["body"] = "The message is too long."
	}
	if d.body == "" && len(in.Attachments) == 0 {
		bad["body"] = "Write a message or attach a file."
	}
	if len(in.Attachments) > s.cfg.MaxAttachments {
		bad["attachments"] = "Too many files for one message."
	}
	if !validKey(d.key) {
		bad["idempotency_key"] = "Use at most 100 printable ASCII characters."
	}
	if len(bad) > 0 {
		return nil, okpay.Invalid(bad)
	}
	h := sha256.New()
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(d.body)))
	h.Write(n[:])
	h.Write([]byte(d.body))
	if d.internal {
		h.Write([]byte{1})
	} else {
		h.Write([]byte{0})
	}
	for _, a := range in.Attachments {
		f, err := ValidateAttachment(a, s.cfg.MaxAttachmentBytes)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(f.Data)
		d.files = append(d.files, f)
		d.sums = append(d.sums, sum[:])
		h.Write(sum[:])
	}
	d.requestHash = h.Sum(nil)
	return d, nil
}

const msgCols = `id, conversation_id, seq, public_seq, author_kind, author_id, internal, body, created_at`

func scanMessage(row interface{ Scan(...any) error }) (*Message, error) {
	var m Message
	var internal int
	var created int64
	if err := row.Scan(&m.ID, &m.ConversationID, &m.Seq, &m.PublicSeq, &m.Author, &m.AuthorID, &internal, &m.Body, &created); err != nil {
		return nil, err
	}
	m.Internal = internal != 0
	m.CreatedAt = fromMicros(created)
	return &m, nil
}

// customerView returns m as a customer sees it: numbered among the
// messages customers see, without agents' ids.
func customerView(m *Message) *Message {
	out := *m
	out.Seq = m.PublicSeq
	if m.Author != KindCustomer {
		out.AuthorID = 0
	}
	return &out
}

func viewMessage(v Viewer, m *Message) *Message {
	if v.Staff() {
		return m
	}
	return customerView(m)
}

// authorID is the id stored with what v writes.
func authorID(v Viewer) int64 {
	if v.Kind == KindCustomer || v.Kind == KindAgent {
		return v.ID
	}
	return 0
}

// insertMessage adds a message to conversation convID, whose row the
// caller has locked (or just inserted) in tx. It returns the staff view
// and whether the idempotency key found the message already there.
func (s *Service) insertMessage(ctx context.Context, tx *sql.Tx, convID int64, v Viewer, d *messageDraft, now time.Time) (*Message, bool, error) {
	if d.key != "" {
		var (
			id, aid int64
			akind   Kind
			hash    []byte
		)
		err := tx.QueryRowContext(ctx, `SELECT id, author_kind, author_id, request_hash FROM desk_messages
			WHERE conversation_id = $1 AND idem_key = $2`, convID, d.key).Scan(&id, &akind, &aid, &hash)
		switch {
		case err == nil:
			if akind != v.Kind || aid != authorID(v) || !bytes.Equal(hash, d.requestHash) {
				return nil, false, okpay.Errorf(EIdempotencyReused, "This idempotency key was already used for another message.")
			}
			m, err := scanMessage(tx.QueryRowContext(ctx, `SELECT `+msgCols+` FROM desk_messages WHERE id = $1`, id))
			if err != nil {
				return nil, false, err
			}
			if err := s.loadAttachments(ctx, tx, []*Message{m}); err != nil {
				return nil, false, err
			}
			m.Replayed = true
			return m, true, nil
		case !errors.Is(err, sql.ErrNoRows):
			return nil, false, err
		}
	}
	public := int64(1)
	if d.internal {
		public = 0
	}
	firstResponse := int64(0)
	if v.Kind == KindAgent && !d.internal {
		firstResponse = micros(now)
	}
	var seq, publicSeq int64
	// The row is locked: the counters move by one in this transaction or
	// not at all, so sequence numbers have no gaps and no duplicates.
	if err := tx.QueryRowContext(ctx, `UPDATE desk_conversations SET
			last_seq = last_seq + 1,
			last_public_seq = last_public_seq + $2,
			last_message_at = $3,
			updated_at = $3,
			first_response_at = CASE WHEN first_response_at = 0 THEN $4 ELSE first_response_at END,
			first_response_by = CASE WHEN first_response_at = 0 AND $4 <> 0 THEN $5 ELSE first_response_by END
		WHERE id = $1
		RETURNING last_seq, last_public_seq`, convID, public, micros(now), firstResponse, authorID(v)).Scan(&seq, &publicSeq); err != nil {
		return nil, false, err
	}
	if d.internal {
		publicSeq = 0
	}
	m := &Message{
		ID: s.IDs.Next(), ConversationID: convID, Seq: seq, PublicSeq: publicSeq,
		Author: v.Kind, AuthorID: authorID(v), Internal: d.internal, Body: d.body, CreatedAt: fromMicros(micros(now)),
	}
	internal := 0
	if m.Internal {
		internal = 1
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO desk_messages
		(id, conversation_id, seq, public_seq, author_kind, author_id, internal, body, idem_key, request_hash, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		m.ID, convID, m.Seq, m.PublicSeq, string(m.Author), m.AuthorID, internal, m.Body, d.key, d.requestHash, micros(now)); err != nil {
		return nil, false, err
	}
	for i, f := range d.files {
		a := Attachment{ID: s.IDs.Next(), MessageID: m.ID, Name: f.Name, ContentType: f.ContentType, Size: int64(len(f.Data)), SHA256: d.sums[i]}
		if _, err := tx.ExecContext(ctx, `INSERT INTO desk_attachments
			(id, conversation_id, message_id, name, content_type, size, sha256, data, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			a.ID, convID, m.ID, a.Name, a.ContentType, a.Size, a.SHA256, f.Data, micros(now)); err != nil {
			return nil, false, err
		}
		m.Attachments = append(m.Attachments, a)
	}
	return m, false, nil
}

// SendMessage adds a message to a conversation v may see and publishes it
// once committed. A customer's or visitor's message opens a pending,
// snoozed or resolved conversation again. The same IdempotencyKey sent
// again by the same author with the same message returns the message sent
// first (Replayed set) and publishes nothing; with another message it is
// EIdempotencyReused. Returns ENotFound for a conversation v may not see,
// EConversationClosed for a closed one, EForbidden for an internal note by
// a customer, EInvalid or EAttachmentRefused for bad input.
func (s *Service) SendMessage(ctx context.Context, v Viewer, convID int64, in MessageInput) (*Message, error) {
	if err := v.valid(); err != nil {
		return nil, err
	}
	d, err := s.draft(v, in)
	if err != nil {
		return nil, err
	}
	now := s.Clock.Now()
	var (
		msg      *Message
		replayed bool
		conv     *convRow
		reopened bool
		claimed  bool
	)
	err = s.inTx(ctx, "send message", func(tx *sql.Tx) error {
		reopened, claimed = false, false
		c, err := s.loadConv(ctx, tx, v, convID, true)
		if err != nil {
			return err
		}
		conv = c
		if c.Status == StatusClosed {
			return okpay.Errorf(EConversationClosed, "This conversation is closed. Please start a new one.")
		}
		msg, replayed, err = s.insertMessage(ctx, tx, convID, v, d, now)
		if err != nil || replayed {
			return err
		}
		if err := s.insertMentions(ctx, tx, v, msg, d.mentions, now); err != nil {
			return err
		}
		// An agent answering a conversation nobody has takes it: it
		// leaves the queue (the customer was still told "you are 2nd in
		// line" after the answer) and the other agents' unassigned view.
		if v.Kind == KindAgent && !d.internal && c.AssigneeID == 0 {
			if _, err := tx.ExecContext(ctx, `UPDATE desk_conversations SET assignee_id = $1, updated_at = $2 WHERE id = $3 AND assignee_id = 0`,
				v.ID, micros(now), c.ID); err != nil {
				return err
			}
			if err := s.record(ctx, tx, c.ID, v, "assigned", participantRef(KindAgent, 0)+" -> "+participantRef(KindAgent, v.ID), now); err != nil {
				return err
			}
			c.AssigneeID, c.Assigned, claimed = v.ID, true, true
		}
		if !v.Staff() && (c.Status == StatusPending || c.Status == StatusSnoozed || c.Status == StatusResolved) {
			if err := s.changeStatus(ctx, tx, c, v, StatusOpen, time.Time{}, now); err != nil {
				return err
			}
			reopened = true
		}
		return s.slaMessageTx(ctx, tx, c, v, msg, now) // SLA timers (sla.go)
	})
	if err != nil {
		return nil, err
	}
	if !replayed {
		s.publishMessage(ctx, msg)
		if claimed {
			s.publishAssigned(ctx, &conv.Conversation)
		}
		if reopened {
			s.publishStatus(ctx, &conv.Conversation)
			s.routeOpen(ctx, &conv.Conversation) // auto-assignment (routing.go)
		}
	}
	return viewMessage(v, msg), nil
}

// MaxPage is the most messages one Messages call returns.
const MaxPage = 500

// Messages returns the messages of a conversation after sequence number
// after (in v's numbering), in order, at most limit (default 100, at most
// MaxPage). Customers and visitors never receive internal notes: the
// query itself leaves them out.
func (s *Service) Messages(ctx context.Context, v Viewer, convID, after int64, limit int) ([]*Message, error) {
	if _, err := s.loadConv(ctx, s.DB.Read, v, convID, false); err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, MaxPage)
	after = max(after, 0)
	q := `SELECT ` + msgCols + ` FROM desk_messages WHERE conversation_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`
	if !v.Staff() {
		q = `SELECT ` + msgCols + ` FROM desk_messages WHERE conversation_id = $1 AND internal = 0 AND public_seq > $2 ORDER BY public_seq LIMIT $3`
	}
	rows, err := s.DB.Read.QueryContext(ctx, q, convID, after, limit)
	if err != nil {
		return nil, okpay.Internal(err, "load messages")
	}
	var out []*Message
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			rows.Close()
			return nil, okpay.Internal(err, "load messages")
		}
		out = append(out, m)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, okpay.Internal(err, "load messages")
	}
	if err := s.loadAttachments(ctx, s.DB.Read, out); err != nil {
		return nil, okpay.Internal(err, "load attachments")
	}
	for i, m := range out {
		if m.Internal && !v.Staff() { // cannot happen: the query excludes them
			return nil, okpay.Internal(errors.New("internal note in a customer's page"), "load messages")
		}
		out[i] = viewMessage(v, m)
	}
	return out, nil
}

// loadAttachments fills the attachment descriptions of msgs.
func (s *Service) loadAttachments(ctx context.Context, q querier, msgs []*Message) error {
	if len(msgs) == 0 {
		return nil
	}
	byID := make(map[int64]*Message, len(msgs))
	args := make([]any, 0, len(msgs))
	for _, m := range msgs {
		byID[m.ID] = m
		args = append(args, m.ID)
	}
	query := `SELECT id, message_id, name, content_type, size, sha256 FROM desk_attachments WHERE message_id IN (` +
		string(sqldb.Placeholders(nil, 1, len(args))) + `) ORDER BY id`
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var a Attachment
		if err := rows.Scan(&a.ID, &a.MessageID, &a.Name, &a.ContentType, &a.Size, &a.SHA256); err != nil {
			return err
		}
		if m := byID[a.MessageID]; m != nil {
			m.Attachments = append(m.Attachments, a)
		}
	}
	return rows.Err()
}

// Attachment returns an attachment and its bytes, if v may see the
// message it belongs to (an internal note's files are staff only).
// Returns ENotFound otherwise. Serve it as a download
// (Content-Disposition: attachment, X-Content-Type-Options: nosniff,
// the stored ContentType).
func (s *Service) Attachment(ctx context.Context, v Viewer, id int64) (*Attachment, []byte, error) {
	if err := v.valid(); err != nil {
		return nil, nil, err
	}
	var a Attachment
	var data []byte
	var convID int64
	var internal int
	err := s.DB.Read.QueryRowContext(ctx, `SELECT a.id, a.message_id, a.name, a.content_type, a.size, a.sha256, a.data, m.conversation_id, m.internal
		FROM desk_attachments a JOIN desk_messages m ON m.id = a.message_id WHERE a.id = $1`, id).
		Scan(&a.ID, &a.MessageID, &a.Name, &a.ContentType, &a.Size, &a.SHA256, &data, &convID, &internal)
	notFound := okpay.Errorf(okpay.ENotFound, "There is no such file.")
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, notFound
	}
	if err != nil {
		return nil, nil, okpay.Internal(err, "load attachment")
	}
	if _, err := s.loadConv(ctx, s.DB.Read, v, convID, false); err != nil {
		if okpay.ErrorCode(err) == okpay.ENotFound {
			return nil, nil, notFound
		}
		return nil, nil, err
	}
	if internal != 0 && !v.Staff() {
		return nil, nil, notFound
	}
	return &a, data, nil
}

// readerOf returns the reader row key of v.
func readerOf(v Viewer) (Kind, int64) {
	return v.Kind, authorID(v)
}

// MarkRead records that v has read conversation convID up to seq (in v's
// numbering; beyond the last message counts as the last message) and
// returns how far v has read now: receipts never move back. Others
// following the conversation receive a read event.
func (s *Service) MarkRead(ctx context.Context, v Viewer, convID, seq int64) (int64, error) {
	if err := v.valid(); err != nil {
		return 0, err
	}
	if v.Kind == KindSystem {
		return 0, okpay.Errorf(okpay.EForbidden, "The system does not read conversations.")
	}
	if seq < 0 {
		return 0, okpay.Invalid(map[string]string{"seq": "Give the sequence number of the last message read."})
	}
	now := s.Clock.Now()
	kind, rid := readerOf(v)
	var stored, staffSeq, publicSeq int64
	advanced := false
	err := s.inTx(ctx, "mark read", func(tx *sql.Tx) error {
		c, err := s.loadConv(ctx, tx, v, convID, true)
		if err != nil {
			return err
		}
		last := c.lastSeq
		if !v.Staff() {
			last = c.lastPublicSeq
		}
		seq = min(seq, last)
		var prev int64
		err = tx.QueryRowContext(ctx, `SELECT last_seq FROM desk_reads WHERE conversation_id = $1 AND reader_kind = $2 AND reader_id = $3`,
			convID, string(kind), rid).Scan(&prev)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			prev = -1
		case err != nil:
			return err
		}
		if seq <= prev {
			stored, advanced = prev, false
			return nil
		}
		if prev < 0 {
			_, err = tx.ExecContext(ctx, `INSERT INTO desk_reads (conversation_id, reader_kind, reader_id, last_seq, updated_at)
				VALUES ($1, $2, $3, $4, $5)`, convID, string(kind), rid, seq, micros(now))
		} else {
			_, err = tx.ExecContext(ctx, `UPDATE desk_reads SET last_seq = $4, updated_at = $5
				WHERE conversation_id = $1 AND reader_kind = $2 AND reader_id = $3`, convID, string(kind), rid, seq, micros(now))
		}
		if err != nil {
			return err
		}
		stored, advanced = seq, true
		if v.Staff() {
			staffSeq = seq
			publicSeq, err = s.publicSeqAt(ctx, tx, convID, seq)
		} else {
			publicSeq = seq
			staffSeq, err = s.staffSeqOf(ctx, tx, convID, seq)
		}
		return err
	})
	if err != nil {
		return 0, err
	}
	if advanced {
		ref := ConversationRef(convID)
		s.publish(ctx, StaffTopic(convID), realtime.Event{Type: EventRead, Conversation: convID,
			Data: mustJSON(readFrame{Type: EventRead, Conversation: ref, readJSON: readJSON{Reader: kind, ReaderID: participantRef(kind, rid), Seq: staffSeq}})})
		s.publish(ctx, PublicTopic(convID), realtime.Event{Type: EventRead, Conversation: convID,
			Data: mustJSON(readFrame{Type: EventRead, Conversation: ref, readJSON: readJSON{Reader: kind, Seq: publicSeq}})})
	}
	return stored, nil
}

// publicSeqAt is the customers' number of the last customer-visible
// message at or before staff number seq.
func (s *Service) publicSeqAt(ctx context.Context, q querier, convID, seq int64) (int64, error) {
	var p sql.NullInt64
	err := q.QueryRowContext(ctx, `SELECT MAX(public_seq) FROM desk_messages WHERE conversation_id = $1 AND seq <= $2`, convID, seq).Scan(&p)
	return p.Int64, err
}

// staffSeqOf is the staff number of the message customers number seq.
func (s *Service) staffSeqOf(ctx context.Context, q querier, convID, publicSeq int64) (int64, error) {
	if publicSeq == 0 {
		return 0, nil
	}
	var seq int64
	err := q.QueryRowContext(ctx, `SELECT seq FROM desk_messages WHERE conversation_id = $1 AND public_seq = $2 AND internal = 0`, convID, publicSeq).Scan(&seq)
	return seq, err
}

// Reads returns how far each participant has read the conversation, in
// v's numbering. Customers see that an agent read, not which one.
func (s *Service) Reads(ctx context.Context, v Viewer, convID int64) ([]Read, error) {
	if _, err := s.loadConv(ctx, s.DB.Read, v, convID, false); err != nil {
		return nil, err
	}
	rows, err := s.DB.Read.QueryContext(ctx, `SELECT reader_kind, reader_id, last_seq, updated_at FROM desk_reads
		WHERE conversation_id = $1 ORDER BY reader_kind, reader_id`, convID)
	if err != nil {
		return nil, okpay.Internal(err, "load read receipts")
	}
	var out []Read
	for rows.Next() {
		var r Read
		var at int64
		if err := rows.Scan(&r.Reader, &r.ReaderID, &r.Seq, &at); err != nil {
			rows.Close()
			return nil, okpay.Internal(err, "load read receipts")
		}
		r.UpdatedAt = fromMicros(at)
		out = append(out, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, okpay.Internal(err, "load read receipts")
	}
	for i := range out {
		r := &out[i]
		staffReader := r.Reader == KindAgent
		switch {
		case v.Staff() && !staffReader:
			r.Seq, err = s.staffSeqOf(ctx, s.DB.Read, convID, r.Seq)
		case !v.Staff() && staffReader:
			r.Seq, err = s.publicSeqAt(ctx, s.DB.Read, convID, r.Seq)
			r.ReaderID = 0
		}
		if err != nil {
			return nil, okpay.Internal(err, "load read receipts")
		}
	}
	return out, nil
}

// Typing tells the others in a conversation that v is typing. Nothing is
// stored. An agent typing an internal note (internal) is shown to staff
// only; customers' typing is shown to staff only.
func (s *Service) Typing(ctx context.Context, v Viewer, convID int64, internal bool) error {
	c, err := s.loadConv(ctx, s.DB.Read, v, convID, false)
	if err != nil {
		return err
	}
	if c.Status == StatusClosed {
		return nil
	}
	kind, id := readerOf(v)
	ref := ConversationRef(convID)
	internal = internal && v.Staff()
	s.publish(ctx, StaffTopic(convID), realtime.Event{Type: EventTyping, Conversation: convID,
		Data: mustJSON(typingFrame{Type: EventTyping, Conversation: ref, Author: kind, AuthorID: participantRef(kind, id), Internal: internal})})
	if v.Staff() && !internal {
		s.publish(ctx, PublicTopic(convID), realtime.Event{Type: EventTyping, Conversation: convID,
			Data: mustJSON(typingFrame{Type: EventTyping, Conversation: ref, Author: kind})})
	}
	return nil
}
