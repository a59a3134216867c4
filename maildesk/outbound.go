package maildesk

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"html"
	"regexp"
	"strings"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/email"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/sqldb"
)

// Delivery states of an outgoing mail.
const (
	StateQueued   = "queued"
	StateRetrying = "retrying"
	StateSent     = "sent"
	StateFailed   = "failed"
)

// maxRefs caps the References of an outgoing mail (libredesk sends 20).
const maxRefs = 20

// outgoing is a rendered mail waiting in email_outbox.
type outgoing struct {
	kind      string // "ack" or "reply"
	convID    int64
	deskMsgID int64
	messageID string
	to        string
	subject   string
	text      string
	html      string
	inReplyTo string
	refs      []string
	replyTo   string
	lang      i18n.Lang
	// resolution is the resolved_at (µs) a rating request asks about.
	resolution int64
}

// newMessageID returns a fresh Message-ID on the support domain: random,
// with no internal id in it.
func (s *Service) newMessageID() string {
	return email.NewMessageID("mail."+s.cfg.Addresses.Domain(), nil)
}

// replySubject returns "Re: <subject> [<ref>]": the reference once, and
// no other conversation's (a follow-up's answer does not carry the closed
// conversation's reference on, so a reply cannot land there).
func replySubject(subject, ref string) string {
	subject = email.NormalizeSubject(subject)
	subject = strings.Join(strings.Fields(otherRefs.ReplaceAllStringFunc(subject, func(tok string) string {
		if strings.EqualFold(tok, "["+ref+"]") {
			return tok
		}
		return ""
	})), " ")
	if !strings.Contains(strings.ToLower(subject), "["+ref+"]") {
		subject = strings.TrimSpace(subject + " [" + ref + "]")
	}
	return "Re: " + subject
}

// otherRefs matches conversation references in a subject.
var otherRefs = regexp.MustCompile(`(?i)\[` + desk.ConversationPrefix + `_[0-9a-z]+\]`)

// threadHeaders returns the In-Reply-To (the latest mail we received in
// the conversation, else the latest we sent) and References (the last
// maxRefs ids of the conversation, oldest first).
func (s *Service) threadHeaders(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, convID int64) (string, []string, error) {
	rows, err := q.QueryContext(ctx, `SELECT message_id, direction FROM email_threads WHERE conversation_id = $1
		ORDER BY created_at DESC, message_id DESC LIMIT $2`, convID, maxRefs)
	if err != nil {
		return "", nil, err
	}
	defer rows.Close()
	var refs []string
	lastIn, lastAny := "", ""
	for rows.Next() {
		var id, dir string
		if err := rows.Scan(&id, &dir); err != nil {
			return "", nil, err
		}
		if lastAny == "" {
			lastAny = id
		}
		if lastIn == "" && dir == "in" {
			lastIn = id
		}
		refs = append(refs, id)
	}
	if err := rows.Err(); err != nil {
		return "", nil, err
	}
	for i, j := 0, len(refs)-1; i < j; i, j = i+1, j-1 {
		refs[i], refs[j] = refs[j], refs[i]
	}
	if lastIn == "" {
		lastIn = lastAny
	}
	return lastIn, refs, nil
}

// htmlBody renders text as simple HTML paragraphs.
func htmlBody(text string) string {
	var b strings.Builder
	b.WriteString("<!DOCTYPE html><html><body>")
	for _, p := range strings.Split(text, "\n\n") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		b.WriteString("<p>")
		b.WriteString(strings.ReplaceAll(html.EscapeString(p), "\n", "<br>\n"))
		b.WriteString("</p>\n")
	}
	b.WriteString("</body></html>")
	return b.String()
}

// formatDuration says d in lang ("2 hours 30 minutes", "2 小时 30 分钟").
func (s *Service) formatDuration(lang i18n.Lang, d time.Duration) string {
	h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
	var parts []string
	if h > 0 {
		parts = append(parts, s.Catalog.T(lang, "email.duration.hours", map[string]any{"N": h}))
	}
	if m > 0 || h == 0 {
		parts = append(parts, s.Catalog.T(lang, "email.duration.minutes", map[string]any{"N": max(m, 1)}))
	}
	return strings.Join(parts, " ")
}

// ackMail renders the acknowledgement of a new conversation's first mail.
func (s *Service) ackMail(ctx context.Context, in *inbound, convID int64) (*outgoing, error) {
	c, err := s.Desk.Conversation(ctx, desk.System, convID)
	if err != nil {
		return nil, err
	}
	pol, err := s.Desk.SLAPolicyFor(ctx, desk.ChannelEmail, c.Category, c.Priority)
	if err != nil {
		return nil, err
	}
	ref := desk.ConversationRef(convID)
	data := map[string]any{"Ref": ref, "Time": "", "Business": false}
	if pol != nil && pol.FirstResponse > 0 {
		data["Time"] = s.formatDuration(in.lang, pol.FirstResponse)
		data["Business"] = pol.BusinessHours
	}
	text := s.Catalog.T(in.lang, "email.ack.body", data)
	subject := in.subject
	if subject == "" {
		subject = s.Catalog.T(in.lang, "email.no_subject", nil)
	}
	refs := []string{in.msgID}
	if in.msg != nil && len(in.msg.References) > 0 {
		refs = append(append([]string(nil), in.msg.References...), in.msgID)
		if len(refs) > maxRefs {
			refs = refs[len(refs)-maxRefs:]
		}
	}
	return &outgoing{kind: "ack", convID: convID, messageID: s.newMessageID(), to: in.sender,
		subject: replySubject(subject, ref), text: text, html: htmlBody(text), inReplyTo: in.msgID, refs: refs,
		replyTo: s.cfg.Addresses.ReplyAddress(s.Tokens.Token(convID)), lang: in.lang}, nil
}

// enqueue writes o to the outbox and its Message-ID to the thread, in tx.
func (s *Service) enqueue(ctx context.Context, tx *sql.Tx, o *outgoing, now time.Time) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO email_outbox
		(id, kind, conversation_id, desk_message_id, message_id, to_addr, subject, body_text, body_html, in_reply_to, refs, reply_to, lang, state, next_at, created_at, updated_at, resolution)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 'queued', $14, $14, $14, $15)`,
		s.IDs.Next(), o.kind, o.convID, o.deskMsgID, o.messageID, o.to, o.subject, o.text, o.html, o.inReplyTo,
		strings.Join(o.refs, " "), o.replyTo, string(o.lang), micros(now), o.resolution); err != nil {
		return err
	}
	return addThread(ctx, tx, o.messageID, o.convID, "out", now)
}

// recipient returns where a conversation's mail goes: the address that
// wrote to us, else the customer's verified address.
func (s *Service) recipient(ctx context.Context, c *desk.Conversation) (string, error) {
	meta, err := s.Desk.ChannelMeta(ctx, desk.System, c.ID)
	if err != nil {
		return "", err
	}
	if a := meta["email"]; a != "" {
		return a, nil
	}
	if c.CustomerID != 0 {
		return s.Customers.CustomerEmail(ctx, c.CustomerID)
	}
	return "", nil
}

// replyWindow is how far back QueueReplies looks for agents' replies.
const replyWindow = 24 * time.Hour

// QueueReplies queues a mail for every agent's public reply in an email
// conversation that has none yet (the last replyWindow), and returns how
// many it queued. The scan reads committed messages, so a reply is never
// lost to a crash between its transaction and the queueing; a unique
// index makes concurrent scans (several nodes) queue each reply once.
func (s *Service) QueueReplies(ctx context.Context) (int, error) {
	now := s.Clock.Now()
	since := micros(now.Add(-replyWindow))
	rows, err := s.DB.Read.QueryContext(ctx, `SELECT m.id, m.conversation_id, m.body FROM desk_conversations c
		JOIN desk_messages m ON m.conversation_id = c.id
		LEFT JOIN email_outbox o ON o.desk_message_id = m.id
		WHERE c.channel = 'email' AND c.last_message_at >= $1 AND m.created_at >= $1
		AND m.author_kind = 'agent' AND m.internal = 0 AND o.id IS NULL
		ORDER BY m.id LIMIT 200`, since)
	if err != nil {
		return 0, okpay.Internal(err, "find email replies")
	}
	type reply struct {
		id, conv int64
		body     string
	}
	var list []reply
	for rows.Next() {
		var r reply
		if err := rows.Scan(&r.id, &r.conv, &r.body); err != nil {
			rows.Close()
			return 0, okpay.Internal(err, "find email replies")
		}
		list = append(list, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, okpay.Internal(err, "find email replies")
	}
	n := 0
	for _, r := range list {
		c, err := s.Desk.Conversation(ctx, desk.System, r.conv)
		if err != nil {
			return n, err
		}
		to, err := s.recipient(ctx, c)
		if err != nil {
			return n, err
		}
		ref := desk.ConversationRef(c.ID)
		text := r.body + "\n\n-- \n" + s.Catalog.T(c.Lang, "email.reply.footer", map[string]any{"Ref": ref})
		o := &outgoing{kind: "reply", convID: c.ID, deskMsgID: r.id, messageID: s.newMessageID(), to: to,
			subject: replySubject(c.Subject, ref), text: text, html: htmlBody(text),
			replyTo: s.cfg.Addresses.ReplyAddress(s.Tokens.Token(c.ID)), lang: c.Lang}
		err = s.DB.InTx(ctx, func(tx *sql.Tx) error {
			var err error
			if o.inReplyTo, o.refs, err = s.threadHeaders(ctx, tx, c.ID); err != nil {
				return err
			}
			if to == "" {
				// Nowhere to send it: recorded as failed, shown on the message.
				if err := s.enqueue(ctx, tx, o, now); err != nil {
					return err
				}
				_, err := tx.ExecContext(ctx, `UPDATE email_outbox SET state = 'failed', last_error = 'no recipient address' WHERE desk_message_id = $1`, r.id)
				return err
			}
			return s.enqueue(ctx, tx, o, now)
		})
		if err != nil && sqldb.IsUniqueViolation(err) {
			continue // another node queued it
		}
		if err != nil {
			return n, okpay.Internal(err, "queue email reply")
		}
		n++
	}
	return n, nil
}

// Mailer sends a composed mail (*email.Sender).
type Mailer interface {
	Send(ctx context.Context, o email.Outgoing) error
}

// DeliverConfig tunes delivery. Zero fields take the defaults.
type DeliverConfig struct {
	// Backoff is the wait after the first temporary failure; it doubles
	// with each further failure, up to MaxBackoff.
	Backoff    time.Duration // 30 s
	MaxBackoff time.Duration // 1 h
	// MaxAttempts: a mail failing this many times is failed.
	MaxAttempts int // 10
	// Lease is how long a claimed mail is left to its sender before
	// another run may take it (a crashed node's claim expires).
	Lease time.Duration // 2 min
	// Batch caps the mails one Deliver run sends.
	Batch int // 50
}

func (c *DeliverConfig) defaults() {
	if c.Backoff <= 0 {
		c.Backoff = 30 * time.Second
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = time.Hour
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 10
	}
	if c.Lease <= 0 {
		c.Lease = 2 * time.Minute
	}
	if c.Batch <= 0 {
		c.Batch = 50
	}
}

// Dispatcher sends the outbox.
type Dispatcher struct {
	s      *Service
	mailer Mailer
	cfg    DeliverConfig
}

// NewDispatcher returns the dispatcher of s's outbox over mailer.
func NewDispatcher(s *Service, mailer Mailer, cfg DeliverConfig) (*Dispatcher, error) {
	if s == nil || mailer == nil {
		return nil, errors.New("maildesk: the dispatcher needs the service and a mailer")
	}
	cfg.defaults()
	return &Dispatcher{s: s, mailer: mailer, cfg: cfg}, nil
}

type outRow struct {
	id, convID, deskMsgID                                           int64
	messageID, to, subject, text, htmlBody, inReplyTo, refs, replyT string
	kind                                                            string
	attempts                                                        int
	nextAt                                                          int64
}

// Deliver sends the mails that are due and returns how many were sent.
// Several nodes may run it: each mail is claimed (a lease on next_at)
// before it is sent.
func (d *Dispatcher) Deliver(ctx context.Context) (int, error) {
	s := d.s
	now := s.Clock.Now()
	rows, err := s.DB.Read.QueryContext(ctx, `SELECT id, conversation_id, desk_message_id, kind, message_id, to_addr, subject, body_text, body_html, in_reply_to, refs, reply_to, attempts, next_at
		FROM email_outbox WHERE state IN ('queued', 'retrying') AND next_at <= $1 ORDER BY next_at, id LIMIT $2`, micros(now), d.cfg.Batch)
	if err != nil {
		return 0, okpay.Internal(err, "load email outbox")
	}
	var due []outRow
	for rows.Next() {
		var r outRow
		if err := rows.Scan(&r.id, &r.convID, &r.deskMsgID, &r.kind, &r.messageID, &r.to, &r.subject, &r.text, &r.htmlBody, &r.inReplyTo, &r.refs, &r.replyT, &r.attempts, &r.nextAt); err != nil {
			rows.Close()
			return 0, okpay.Internal(err, "load email outbox")
		}
		due = append(due, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, okpay.Internal(err, "load email outbox")
	}
	sent := 0
	for _, r := range due {
		if ctx.Err() != nil {
			return sent, ctx.Err()
		}
		claim, err := s.DB.Write.ExecContext(ctx, `UPDATE email_outbox SET next_at = $1 WHERE id = $2 AND next_at = $3 AND state IN ('queued', 'retrying')`,
			micros(now.Add(d.cfg.Lease)), r.id, r.nextAt)
		if err != nil {
			return sent, okpay.Internal(err, "claim email")
		}
		if n, _ := claim.RowsAffected(); n != 1 {
			continue // another node has it
		}
		o := email.Outgoing{
			From:      email.Address{Name: s.Catalog.T(i18n.Default, "email.from_name", nil), Addr: s.cfg.Addresses.Primary()},
			To:        []email.Address{{Addr: r.to}},
			Subject:   r.subject,
			Text:      r.text,
			HTML:      r.htmlBody,
			MessageID: r.messageID,
			InReplyTo: r.inReplyTo,
			Date:      now,
			Headers:   map[string]string{"Reply-To": r.replyT},
		}
		if r.refs != "" {
			o.References = strings.Fields(r.refs)
		}
		switch r.kind {
		case "ack":
			o.Headers["Auto-Submitted"] = "auto-replied"
			o.Headers["X-Auto-Response-Suppress"] = "All"
		case "csat":
			o.Headers["Auto-Submitted"] = "auto-generated"
			o.Headers["X-Auto-Response-Suppress"] = "All"
		}
		if r.kind == "reply" && r.deskMsgID != 0 {
			o.Attachments, err = s.attachments(ctx, r.convID, r.deskMsgID)
		}
		if err == nil {
			err = d.mailer.Send(ctx, o)
		}
		at := s.Clock.Now()
		switch {
		case err == nil:
			_, err = s.DB.Write.ExecContext(ctx, `UPDATE email_outbox SET state = 'sent', attempts = attempts + 1, last_error = '', sent_at = $1, updated_at = $1 WHERE id = $2`,
				micros(at), r.id)
			if err == nil {
				sent++
			}
		case email.IsPermanent(err) || r.attempts+1 >= d.cfg.MaxAttempts:
			s.log.Warn("maildesk: delivery failed", "conversation", desk.ConversationRef(r.convID), "err", err)
			_, err = s.DB.Write.ExecContext(ctx, `UPDATE email_outbox SET state = 'failed', attempts = attempts + 1, last_error = $1, updated_at = $2 WHERE id = $3`,
				clip(err.Error(), 500), micros(at), r.id)
		default:
			wait := d.cfg.Backoff << min(r.attempts, 20)
			if wait > d.cfg.MaxBackoff || wait <= 0 {
				wait = d.cfg.MaxBackoff
			}
			_, err = s.DB.Write.ExecContext(ctx, `UPDATE email_outbox SET state = 'retrying', attempts = attempts + 1, last_error = $1, next_at = $2, updated_at = $3 WHERE id = $4`,
				clip(err.Error(), 500), micros(at.Add(wait)), micros(at), r.id)
		}
		if err != nil {
			return sent, okpay.Internal(err, "record email delivery")
		}
	}
	return sent, nil
}

// attachments reads the files of an agent's message (through the desk)
// to send with its mail. A failure to read them is temporary: the mail is
// retried, never sent without its files.
func (s *Service) attachments(ctx context.Context, convID, msgID int64) ([]email.Attachment, error) {
	var seq int64
	if err := s.DB.Read.QueryRowContext(ctx, `SELECT seq FROM desk_messages WHERE id = $1 AND conversation_id = $2`, msgID, convID).Scan(&seq); err != nil {
		return nil, fmt.Errorf("load the message's files: %w", err)
	}
	ms, err := s.Desk.Messages(ctx, desk.System, convID, seq-1, 1)
	if err != nil {
		return nil, fmt.Errorf("load the message's files: %w", err)
	}
	if len(ms) != 1 || ms[0].ID != msgID {
		return nil, fmt.Errorf("load the message's files: message %d not found", msgID)
	}
	var out []email.Attachment
	for _, a := range ms[0].Attachments {
		info, data, err := s.Desk.Attachment(ctx, desk.System, a.ID)
		if err != nil {
			return nil, fmt.Errorf("load file %d: %w", a.ID, err)
		}
		out = append(out, email.Attachment{Name: info.Name, ContentType: info.ContentType, Data: data})
	}
	return out, nil
}

// Run queues replies and delivers the outbox every interval until ctx
// ends.
func (d *Dispatcher) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if _, err := d.s.QueueReplies(ctx); err != nil && ctx.Err() == nil {
			d.s.log.Warn("maildesk: queue replies", "err", err)
		}
		if _, err := d.s.QueueSurveys(ctx); err != nil && ctx.Err() == nil {
			d.s.log.Warn("maildesk: queue rating requests", "err", err)
		}
		if _, err := d.Deliver(ctx); err != nil && ctx.Err() == nil {
			d.s.log.Warn("maildesk: deliver", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Delivery is where the mail of an agent's message stands.
type Delivery struct {
	State     string // StateQueued, StateRetrying, StateSent, StateFailed
	Attempts  int
	Error     string
	UpdatedAt time.Time
}

// Deliveries returns the delivery of each of the desk messages given that
// was mailed (messages without mail are absent).
func (s *Service) Deliveries(ctx context.Context, messageIDs []int64) (map[int64]Delivery, error) {
	out := map[int64]Delivery{}
	if len(messageIDs) == 0 {
		return out, nil
	}
	args := make([]any, len(messageIDs))
	for i, id := range messageIDs {
		args[i] = id
	}
	rows, err := s.DB.Read.QueryContext(ctx, `SELECT desk_message_id, state, attempts, last_error, updated_at FROM email_outbox WHERE desk_message_id IN (`+
		string(sqldb.Placeholders(nil, 1, len(args)))+`)`, args...)
	if err != nil {
		return nil, okpay.Internal(err, "load email deliveries")
	}
	defer rows.Close()
	for rows.Next() {
		var id, at int64
		var d Delivery
		if err := rows.Scan(&id, &d.State, &d.Attempts, &d.Error, &at); err != nil {
			return nil, okpay.Internal(err, "load email deliveries")
		}
		d.UpdatedAt = fromMicros(at)
		out[id] = d
	}
	return out, rows.Err()
}

// Inbound is what the desk keeps of the mail a message was made from.
type Inbound struct {
	// Authenticated is true when DKIM or the trusted upstream's DMARC
	// vouched for the sender; Auth says how ("dkim:<d>", "upstream:<domain>",
	// "none") and AuthDetails what was checked.
	Authenticated     bool
	Auth, AuthDetails string
	// Flagged: malformed, or reusing another mail's Message-ID.
	Flagged bool
}

// Originals returns, for each of the desk messages given that was made
// from a mail, what is kept of that mail (Original returns the mail).
func (s *Service) Originals(ctx context.Context, messageIDs []int64) (map[int64]Inbound, error) {
	out := map[int64]Inbound{}
	if len(messageIDs) == 0 {
		return out, nil
	}
	args := make([]any, len(messageIDs))
	for i, id := range messageIDs {
		args[i] = id
	}
	rows, err := s.DB.Read.QueryContext(ctx, `SELECT desk_message_id, authenticated, auth, auth_details, flagged FROM email_inbound WHERE desk_message_id IN (`+
		string(sqldb.Placeholders(nil, 1, len(args)))+`)`, args...)
	if err != nil {
		return nil, okpay.Internal(err, "load email originals")
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var authenticated, flagged int
		var in Inbound
		if err := rows.Scan(&id, &authenticated, &in.Auth, &in.AuthDetails, &flagged); err != nil {
			return nil, okpay.Internal(err, "load email originals")
		}
		in.Authenticated, in.Flagged = authenticated == 1, flagged == 1
		out[id] = in
	}
	return out, rows.Err()
}

// Original returns the mail a desk message was made from, as received.
// Returns ENotFound when the message was not made from a mail.
func (s *Service) Original(ctx context.Context, messageID int64) ([]byte, error) {
	var raw []byte
	err := s.DB.Read.QueryRowContext(ctx, `SELECT raw FROM email_inbound WHERE desk_message_id = $1 AND desk_message_id <> 0`, messageID).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, okpay.Errorf(okpay.ENotFound, "There is no such email.")
	}
	if err != nil {
		return nil, okpay.Internal(err, "load email original")
	}
	return raw, nil
}
