package maildesk

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/email"
	"github.com/okpay/okpay/i18n"
)

// Envelope is the SMTP envelope of a mail (or what an IMAP poller knows of
// it).
type Envelope struct {
	MailFrom   string
	RcptTo     []string
	RemoteAddr string
	// NullSender is true for MAIL FROM:<> (bounces and other automatic
	// mail, RFC 3834: never answered).
	NullSender bool
}

// Outcome is what Ingest did with a mail.
type Outcome string

// Outcomes.
const (
	// Started: the mail started a new conversation.
	Started Outcome = "started"
	// Attached: the mail continues one of its sender's conversations.
	Attached Outcome = "attached"
	// Duplicate: the same mail (Message-ID and sender) came before.
	Duplicate Outcome = "duplicate"
	// AutoReply: automatic mail, stored and never answered.
	AutoReply Outcome = "auto_reply"
	// Own: mail from one of our own addresses (a loop).
	Own Outcome = "own"
	// RateLimited: the sender started too many conversations lately.
	RateLimited Outcome = "rate_limited"
	// NoSender: the mail has no usable sender address.
	NoSender Outcome = "no_sender"
)

// How a mail was threaded to an existing conversation.
const (
	ByHeader  = "header"  // In-Reply-To / References
	ByToken   = "token"   // the reply address token
	BySubject = "subject" // the reference in the subject
)

// Result says what Ingest did.
type Result struct {
	Outcome Outcome
	// ConversationID is the conversation the mail went to (0 if none).
	ConversationID int64
	// MessageID is the desk message made of it (0 if none).
	MessageID int64
	// ThreadedBy says how the mail found an existing conversation
	// (ByHeader, ByToken, BySubject; "" when it found none); Claimed is
	// that conversation, and Mismatch is true when the sender was not its
	// customer (the mail then started a new conversation).
	ThreadedBy string
	Claimed    int64
	Mismatch   bool
	// Flagged is true for malformed mail, and for mail reusing the
	// Message-ID of an earlier, different mail of its sender (ReusedID).
	Flagged  bool
	ReusedID bool
	// Auth is how the sender was authenticated (Auth.Authenticated false:
	// not at all). Unverified is true when the mail went to a customer's
	// conversation without it (agents see a warning); SplitUnverified
	// when, with Config.RequireAuth, it started a new conversation for
	// that reason.
	Auth            email.AuthResult
	Unverified      bool
	SplitUnverified bool
	// Acknowledged is true when an acknowledgement was queued.
	Acknowledged bool
}

// inbound is a mail on its way through Ingest.
type inbound struct {
	raw      []byte
	env      Envelope
	msg      *email.Message // nil when unreadable
	msgID    string
	sender   string
	subject  string
	problems []string
	lang     i18n.Lang
	hash     string // content hash: a redelivery has the same
	key      string // idempotency key of the desk message
	auth     email.AuthResult
	notes    []string
	body     string
	files    []desk.AttachmentInput
	dropped  []string
}

// Ingest files one mail (raw, as received) into the desk and says what it
// did. It fails only when the database does: malformed mail is stored and
// flagged.
func (s *Service) Ingest(ctx context.Context, raw []byte, env Envelope) (*Result, error) {
	return s.ingest(ctx, raw, env, nil)
}

// ingest is Ingest with internal notes of the caller's added to the
// conversation the mail goes to.
func (s *Service) ingest(ctx context.Context, raw []byte, env Envelope, notes []string) (*Result, error) {
	in := &inbound{raw: raw, env: env}
	m, err := email.Parse(raw, email.Limits{MaxBytes: s.cfg.MaxBytes, MaxAttachmentBytes: s.Desk.Config().MaxAttachmentBytes})
	if err != nil {
		if errors.Is(err, email.ErrTooLarge) {
			return nil, okpay.Errorf(okpay.EInvalid, "The mail is larger than %d bytes.", s.cfg.MaxBytes)
		}
		in.problems = append(in.problems, "unreadable: "+err.Error())
	} else {
		in.msg = m
		in.problems = append(in.problems, m.Problems...)
	}
	s.prepare(in)
	in.notes = append(in.notes, notes...)

	// A redelivery files nothing twice; a different mail under a
	// Message-ID this sender used before is filed, and flagged.
	rows, err := s.DB.Read.QueryContext(ctx, `SELECT content_hash, conversation_id, desk_message_id FROM email_inbound WHERE message_id = $1 AND sender = $2`,
		in.msgID, in.sender)
	if err != nil {
		return nil, okpay.Internal(err, "find inbound mail")
	}
	seen := false
	for rows.Next() {
		var hash string
		var convID, deskMsg int64
		if err := rows.Scan(&hash, &convID, &deskMsg); err != nil {
			rows.Close()
			return nil, okpay.Internal(err, "find inbound mail")
		}
		if hash == in.hash {
			rows.Close()
			return &Result{Outcome: Duplicate, ConversationID: convID, MessageID: deskMsg, Flagged: len(in.problems) > 0}, nil
		}
		seen = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, okpay.Internal(err, "find inbound mail")
	}
	res := &Result{ReusedID: seen}
	if seen {
		in.problems = append(in.problems, "reused Message-ID: an earlier, different mail from "+in.sender+" had the same Message-ID <"+in.msgID+">")
		in.notes = append(in.notes, s.both("email.note.reused_id", map[string]any{"From": in.sender, "ID": in.msgID}))
	}
	res.Flagged = len(in.problems) > 0
	if in.msg != nil {
		in.auth = email.Authenticate(ctx, raw, in.msg, s.cfg.Auth)
	}
	res.Auth = in.auth

	switch {
	case in.sender == "":
		res.Outcome = NoSender
	case s.cfg.Addresses.Ours(in.sender):
		res.Outcome = Own
	case in.env.NullSender || in.msg != nil && in.msg.AutoReply != "":
		res.Outcome = AutoReply
		reason := "null sender"
		if in.msg != nil && in.msg.AutoReply != "" {
			reason = in.msg.AutoReply
		}
		// Shown in the sender's conversation, if it names one of theirs.
		if c, by := s.thread(ctx, in); c != nil && s.ownedBy(ctx, c, in.sender) {
			note := s.both("email.note.auto_reply", map[string]any{"Reason": reason, "From": in.sender, "Excerpt": desk.Excerpt(in.body, 300)})
			if _, err := s.Desk.SendMessage(ctx, desk.System, c.ID, desk.MessageInput{Body: note, Internal: true, IdempotencyKey: in.key}); err == nil {
				res.ConversationID, res.ThreadedBy = c.ID, by
			}
		}
	default:
		if err := s.file(ctx, in, res); err != nil {
			return nil, err
		}
	}
	if err := s.record(ctx, in, res); err != nil {
		return nil, err
	}
	return res, nil
}

// prepare derives what ingest needs from the parsed mail.
func (s *Service) prepare(in *inbound) {
	m := in.msg
	if m != nil {
		in.msgID = strings.TrimSpace(m.MessageID)
		in.sender = strings.ToLower(strings.TrimSpace(m.From.Addr))
		in.subject = m.Subject
	}
	if in.sender == "" || !validAddr(in.sender) {
		in.sender = ""
		if a := strings.ToLower(strings.TrimSpace(in.env.MailFrom)); validAddr(a) {
			in.sender = a
		}
	}
	if in.msgID == "" || len(in.msgID) > 250 {
		sum := sha256.Sum256(in.raw)
		in.msgID = "sha256-" + hex.EncodeToString(sum[:16]) + "@okpay.invalid"
	}
	in.hash = contentHash(in.raw, m)
	sum := sha256.Sum256([]byte(in.msgID + "\x00" + in.sender + "\x00" + in.hash))
	in.key = "email:" + hex.EncodeToString(sum[:20])
	in.subject = desk.CleanLine(in.subject)
	if runes := []rune(in.subject); len(runes) > 180 {
		in.subject = string(runes[:179]) + "…"
	}

	body := ""
	if m != nil {
		body = desk.CleanText(m.Visible)
		if body == "" {
			body = desk.CleanText(m.Text)
		}
	}
	in.lang = detectLang(in.subject + "\n" + body)
	max := s.Desk.Config().MaxBodyRunes
	if utf8.RuneCountInString(body) > max {
		r := []rune(body)
		body = strings.TrimSpace(string(r[:max-1])) + "…"
		in.notes = append(in.notes, s.both("email.note.truncated", nil))
	}
	if m != nil {
		maxFiles := s.Desk.Config().MaxAttachments
		for _, a := range m.Attachments {
			f, err := desk.ValidateAttachment(desk.AttachmentInput{Name: a.Name, ContentType: a.ContentType, Data: a.Data}, s.Desk.Config().MaxAttachmentBytes)
			if err != nil || len(in.files) >= maxFiles {
				reason := "too many files"
				if err != nil {
					reason = okpay.ErrorMessage(err) // the sentence, not its code
				}
				in.dropped = append(in.dropped, fmt.Sprintf("%s (%s): %s", desk.CleanLine(a.Name), a.ContentType, reason))
				continue
			}
			in.files = append(in.files, f)
		}
	}
	if len(in.dropped) > 0 {
		in.notes = append(in.notes, s.both("email.note.dropped", map[string]any{"Files": strings.Join(in.dropped, "\n")}))
	}
	if len(in.problems) > 0 {
		in.notes = append(in.notes, s.both("email.note.flagged", map[string]any{"Problems": strings.Join(in.problems, "\n")}))
	}
	if body == "" && len(in.files) == 0 {
		body = s.Catalog.T(in.lang, "email.empty_body", nil)
	}
	in.body = body
}

// contentHash identifies what a mail says, whatever the relays added on
// the way (Received, Delivered-To, ...): the author's headers, the bodies
// and the files. Unreadable mail is identified by its bytes.
func contentHash(raw []byte, m *email.Message) string {
	h := sha256.New()
	if m == nil {
		h.Write(raw)
	} else {
		field := func(s string) { fmt.Fprintf(h, "%d:%s;", len(s), s) }
		field(m.From.Addr)
		field(m.Subject)
		for _, a := range append(append([]email.Address(nil), m.To...), m.Cc...) {
			field(a.Addr)
		}
		field(m.Get("Date"))
		field(strings.Join(m.InReplyTo, " "))
		field(strings.Join(m.References, " "))
		field(m.Text)
		field(m.HTML)
		for _, a := range m.Attachments {
			field(a.Name)
			field(a.ContentType)
			field(string(a.Data))
		}
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

func validAddr(a string) bool {
	_, _, ok := splitAddr(a)
	return ok
}

// detectLang returns zh-CN for mostly-Chinese text, en otherwise.
func detectLang(text string) i18n.Lang {
	han, letters := 0, 0
	for _, r := range text {
		switch {
		case unicode.Is(unicode.Han, r):
			han++
		case unicode.IsLetter(r):
			letters++
		}
	}
	// A Chinese character carries about a word: weigh Latin letters by
	// an average word length.
	if han > 0 && han*5 >= letters {
		return i18n.ZhCN
	}
	return i18n.En
}

// both renders a catalog message for staff in both languages (notes are
// read by agents of either).
func (s *Service) both(id string, data map[string]any) string {
	return s.Catalog.T(i18n.En, id, data) + "\n\n" + s.Catalog.T(i18n.ZhCN, id, data)
}

// thread finds the existing conversation a mail claims to continue.
func (s *Service) thread(ctx context.Context, in *inbound) (*desk.Conversation, string) {
	find := func(id int64) *desk.Conversation {
		c, err := s.Desk.Conversation(ctx, desk.System, id)
		if err != nil {
			return nil
		}
		return c
	}
	if m := in.msg; m != nil {
		// In-Reply-To first, then References newest first.
		refs := append([]string(nil), m.InReplyTo...)
		for i := len(m.References) - 1; i >= 0; i-- {
			refs = append(refs, m.References[i])
		}
		for _, r := range refs {
			r = strings.TrimSpace(r)
			if r == "" || r == in.msgID {
				continue
			}
			var id int64
			if err := s.DB.Read.QueryRowContext(ctx, `SELECT conversation_id FROM email_threads WHERE message_id = $1`, r).Scan(&id); err == nil {
				if c := find(id); c != nil {
					return c, ByHeader
				}
			}
		}
	}
	// The reply token in an address the mail was sent to.
	var rcpts []string
	rcpts = append(rcpts, in.env.RcptTo...)
	if m := in.msg; m != nil {
		for _, a := range append(append([]email.Address(nil), m.To...), m.Cc...) {
			rcpts = append(rcpts, a.Addr)
		}
		rcpts = append(rcpts, m.Values("Delivered-To")...)
		rcpts = append(rcpts, m.Values("X-Original-To")...)
	}
	for _, r := range rcpts {
		if tag, ok := s.cfg.Addresses.Match(strings.Trim(strings.TrimSpace(r), "<>")); ok && tag != "" {
			if id, ok := s.Tokens.Parse(tag); ok {
				if c := find(id); c != nil {
					return c, ByToken
				}
			}
		}
	}
	if id, ok := subjectRef(in.subject); ok {
		if c := find(id); c != nil {
			return c, BySubject
		}
	}
	return nil, ""
}

// ownedBy reports whether sender is conversation c's customer: the
// customer's verified address, or the address that started a visitor's
// conversation.
func (s *Service) ownedBy(ctx context.Context, c *desk.Conversation, sender string) bool {
	if c.CustomerID != 0 {
		addr, err := s.Customers.CustomerEmail(ctx, c.CustomerID)
		return err == nil && addr != "" && strings.EqualFold(addr, sender)
	}
	return c.VisitorID != "" && c.VisitorID == s.Tokens.VisitorID(sender)
}

// ownerOf returns the viewer who owns c (its customer or visitor).
func ownerOf(c *desk.Conversation) desk.Viewer {
	if c.CustomerID != 0 {
		return desk.Customer(c.CustomerID)
	}
	return desk.Visitor(c.VisitorID)
}

// file attaches the mail to its conversation or starts one.
func (s *Service) file(ctx context.Context, in *inbound, res *Result) error {
	input := desk.MessageInput{Body: in.body, Attachments: in.files, IdempotencyKey: in.key}
	c, by := s.thread(ctx, in)
	res.ThreadedBy = by
	if c != nil {
		res.Claimed = c.ID
		unverified := c.CustomerID != 0 && !in.auth.Authenticated
		switch {
		case !s.ownedBy(ctx, c, in.sender):
			res.Mismatch = true
			in.notes = append(in.notes, s.both("email.note.mismatch", map[string]any{"From": in.sender, "Ref": desk.ConversationRef(c.ID), "By": by}))
		case unverified && s.cfg.RequireAuth:
			res.SplitUnverified = true
			in.notes = append(in.notes, s.both("email.note.unverified_split", map[string]any{"From": in.sender, "Ref": desk.ConversationRef(c.ID), "By": by,
				"Checks": strings.Join(in.auth.Details, "\n")}))
		case c.Status == desk.StatusClosed:
			in.notes = append(in.notes, s.both("email.note.closed", map[string]any{"Ref": desk.ConversationRef(c.ID)}))
		default:
			m, err := s.Desk.SendMessage(ctx, ownerOf(c), c.ID, input)
			if err == nil {
				res.Outcome, res.ConversationID, res.MessageID = Attached, c.ID, m.ID
				if unverified {
					res.Unverified = true
					if _, err := s.Desk.AddTags(ctx, desk.System, c.ID, "email-unverified-sender"); err != nil {
						return err
					}
				}
				if res.Flagged {
					if _, err := s.Desk.AddTags(ctx, desk.System, c.ID, "email-flagged"); err != nil {
						return err
					}
				}
				return s.addNotes(ctx, in, c.ID)
			}
			if okpay.ErrorCode(err) == okpay.EInternal {
				return err
			}
			// Closed meanwhile, or refused: a new conversation.
			in.notes = append(in.notes, s.both("email.note.closed", map[string]any{"Ref": desk.ConversationRef(c.ID)}))
		}
	}

	// A new conversation, unless the sender starts too many.
	var recent int
	if err := s.DB.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM email_inbound WHERE sender = $1 AND status = 'started' AND received_at >= $2`,
		in.sender, micros(s.Clock.Now().Add(-time.Hour))).Scan(&recent); err != nil {
		return okpay.Internal(err, "count recent mail")
	}
	if recent >= s.cfg.MaxNewPerHour {
		res.Outcome = RateLimited
		return nil
	}
	owner := desk.Visitor(s.Tokens.VisitorID(in.sender))
	if id, _, ok, err := s.Customers.CustomerByEmail(ctx, in.sender); err != nil {
		return err
	} else if ok {
		owner = desk.Customer(id)
	}
	subject := in.subject
	if subject == "" {
		subject = s.Catalog.T(in.lang, "email.no_subject", nil)
	}
	conv, err := s.Desk.StartConversation(ctx, owner, desk.StartInput{Channel: desk.ChannelEmail, Category: s.cfg.Category,
		Subject: subject, Lang: in.lang, Body: input.Body, Attachments: input.Attachments, IdempotencyKey: in.key})
	if okpay.ErrorCode(err) == desk.ETooManyOpen {
		// Filed in the sender's latest open conversation rather than lost.
		return s.fileInLatest(ctx, in, owner, res)
	}
	if err != nil {
		return err
	}
	res.Outcome, res.ConversationID = Started, conv.ID
	if ms, err := s.Desk.Messages(ctx, desk.System, conv.ID, 0, 1); err == nil && len(ms) > 0 {
		res.MessageID = ms[0].ID
	}
	if err := s.Desk.SetChannelMeta(ctx, desk.System, conv.ID, map[string]string{"email": in.sender}); err != nil {
		return err
	}
	if res.Mismatch || res.SplitUnverified {
		if _, err := s.Desk.SetTeam(ctx, desk.System, conv.ID, desk.TeamSecurity); err != nil {
			return err
		}
		tag := "email-sender-mismatch"
		if !res.Mismatch {
			tag = "email-unverified-sender"
		}
		if _, err := s.Desk.AddTags(ctx, desk.System, conv.ID, tag); err != nil {
			return err
		}
	}
	if owner.Kind == desk.KindCustomer && !in.auth.Authenticated {
		res.Unverified = true
	}
	if res.Flagged {
		if _, err := s.Desk.AddTags(ctx, desk.System, conv.ID, "email-flagged"); err != nil {
			return err
		}
	}
	return s.addNotes(ctx, in, conv.ID)
}

// fileInLatest adds the mail to the owner's most recent open conversation.
func (s *Service) fileInLatest(ctx context.Context, in *inbound, owner desk.Viewer, res *Result) error {
	list, err := s.Desk.Conversations(ctx, owner, desk.ConversationFilter{Status: []desk.Status{desk.StatusOpen, desk.StatusPending, desk.StatusSnoozed}, Limit: 1})
	if err != nil {
		return err
	}
	if len(list) == 0 {
		res.Outcome = RateLimited
		return nil
	}
	c := list[0]
	m, err := s.Desk.SendMessage(ctx, owner, c.ID, desk.MessageInput{Body: in.body, Attachments: in.files, IdempotencyKey: in.key})
	if err != nil {
		return err
	}
	in.notes = append(in.notes, s.both("email.note.too_many_open", map[string]any{"Subject": in.subject}))
	res.Outcome, res.ConversationID, res.MessageID = Attached, c.ID, m.ID
	res.Unverified = owner.Kind == desk.KindCustomer && !in.auth.Authenticated
	return s.addNotes(ctx, in, c.ID)
}

// addNotes writes the agents' notes about the mail (idempotent: a
// redelivery after a crash does not repeat them).
func (s *Service) addNotes(ctx context.Context, in *inbound, convID int64) error {
	for i, n := range in.notes {
		body := []rune(n)
		if max := s.Desk.Config().MaxBodyRunes; len(body) > max {
			n = string(body[:max-1]) + "…"
		}
		_, err := s.Desk.SendMessage(ctx, desk.System, convID, desk.MessageInput{Body: n, Internal: true, IdempotencyKey: fmt.Sprintf("%s:n%d", in.key, i)})
		if err != nil && okpay.ErrorCode(err) != desk.EConversationClosed {
			return err
		}
	}
	return nil
}

// record stores the mail, its place in the thread and the
// acknowledgement, in one transaction.
func (s *Service) record(ctx context.Context, in *inbound, res *Result) error {
	now := s.Clock.Now()
	problems := strings.Join(in.problems, "\n")
	if len(problems) > 4000 {
		problems = problems[:4000]
	}
	flagged := 0
	if res.Flagged {
		flagged = 1
	}
	var ack *outgoing
	if res.Outcome == Started {
		a, err := s.ackMail(ctx, in, res.ConversationID)
		if err != nil {
			s.log.Warn("maildesk: acknowledgement", "conversation", desk.ConversationRef(res.ConversationID), "err", err)
		}
		ack = a
	}
	authenticated := 0
	if in.auth.Authenticated {
		authenticated = 1
	}
	err := s.DB.InTx(ctx, func(tx *sql.Tx) error {
		ins, err := tx.ExecContext(ctx, `INSERT INTO email_inbound
			(id, message_id, sender, mail_from, rcpt_to, remote_addr, subject, raw, status, flagged, problems, threaded_by, conversation_id, desk_message_id, received_at,
			 content_hash, authenticated, auth, auth_details)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)
			ON CONFLICT (message_id, sender, content_hash) DO NOTHING`,
			s.IDs.Next(), in.msgID, in.sender, clip(in.env.MailFrom, 254), clip(strings.Join(in.env.RcptTo, ","), 1000), clip(in.env.RemoteAddr, 100),
			in.subject, in.raw, string(res.Outcome), flagged, problems, res.ThreadedBy, res.ConversationID, res.MessageID, micros(now),
			in.hash, authenticated, in.auth.String(), clip(strings.Join(in.auth.Details, "\n"), 2000))
		if err != nil {
			return err
		}
		if n, err := ins.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			// The same mail, delivered twice at once, was recorded by
			// the other delivery (the desk's idempotency keys made its
			// message once): nothing more to do.
			res.Outcome = Duplicate
			return nil
		}
		if res.ConversationID == 0 || (res.Outcome != Started && res.Outcome != Attached) {
			return nil
		}
		if err := addThread(ctx, tx, in.msgID, res.ConversationID, "in", now); err != nil {
			return err
		}
		if ack != nil {
			res.Acknowledged = true
			return s.enqueue(ctx, tx, ack, now)
		}
		return nil
	})
	if err != nil {
		return okpay.Internal(err, "store inbound mail")
	}
	return nil
}

func addThread(ctx context.Context, tx *sql.Tx, msgID string, convID int64, dir string, now time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO email_threads (message_id, conversation_id, direction, created_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (message_id) DO NOTHING`, msgID, convID, dir, micros(now))
	return err
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}
