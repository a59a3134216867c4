package desk

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/notify"
)

// Offline email of unread replies. When an agent's reply (a message the
// customer sees) stays unread by the customer for a while (Delay, 5
// minutes by default) and the customer is not following the conversation
// live, the customer gets one email with excerpts of the unread replies
// and a link to the conversation, in their language. The mailer keeps,
// per conversation, the last public sequence number emailed
// (desk_offline_mail): the next email is only about replies after it, so
// the same replies are never emailed twice; a batch of replies is one
// email. The email is written to the notification outbox in the same
// transaction that moves the mark (package notify delivers it).
//
// Whether the customer is live is asked of Online, if given; the desk
// does not track customers' connections itself, so without it only the
// read receipt counts (the widget marks what it shows as read, so a
// customer looking at the chat does not stay unread for long). A visitor
// is emailed only at an address they left and confirmed through its link
// (visitor_email.go); other visitors' conversations get no email. A
// customer without a verified email gets none either (the mark still
// moves, so they are not looked up again for the same replies).

// Notification kind and catalog ids of the email.
const (
	// NoteUnreadReply is the outbox kind of the email.
	NoteUnreadReply = "desk_unread_reply"
)

// Enqueuer writes notifications in the caller's transaction
// (*notify.Outbox).
type Enqueuer interface {
	Enqueue(ctx context.Context, tx *sql.Tx, msgs ...notify.Message) error
}

// Contact is where a customer is emailed, and in which language.
type Contact struct {
	// Email is a verified address ("" when there is none).
	Email string
	Lang  i18n.Lang
}

// OfflineDeps are the collaborators of an OfflineMailer.
type OfflineDeps struct {
	Outbox  Enqueuer
	Catalog *i18n.Catalog
	// Contact finds a customer's verified email and language.
	Contact func(ctx context.Context, customerID int64) (Contact, error)
	// Online reports whether the customer follows the conversation live
	// (optional).
	Online func(conversationID int64) bool
	// Visitors, if given, makes a visitor's mail link to the conversation
	// with a continuation link (VisitorEmails.ContinueToken), which opens
	// it in whatever browser follows it; without, the chat's link, which
	// opens it only where the visitor's cookie is.
	Visitors *VisitorEmails
}

// OfflineConfig tunes an OfflineMailer. Zero fields take the defaults.
type OfflineConfig struct {
	// Delay is how long a reply stays unread before it is emailed.
	Delay time.Duration // 5 min
	// MaxAge: replies older than this are not emailed (a first run over
	// an old database mails nobody about last year).
	MaxAge time.Duration // 7 days
	// Batch caps the conversations one Run looks at.
	Batch int // 200
	// ExcerptRunes caps each reply's excerpt.
	ExcerptRunes int // 300
	// BaseURL is the site's address; the link is BaseURL + "/?chat=" +
	// the conversation's reference.
	BaseURL string
}

// OfflineMailer emails customers their unread replies.
type OfflineMailer struct {
	svc *Service
	d   OfflineDeps
	cfg OfflineConfig
}

// NewOfflineMailer returns the mailer of svc's conversations.
func NewOfflineMailer(svc *Service, d OfflineDeps, cfg OfflineConfig) (*OfflineMailer, error) {
	if svc == nil || d.Outbox == nil || d.Catalog == nil || d.Contact == nil {
		return nil, errors.New("desk: the offline mailer needs the desk, an outbox, a catalog and a contact lookup")
	}
	if cfg.Delay <= 0 {
		cfg.Delay = 5 * time.Minute
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = 7 * 24 * time.Hour
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 200
	}
	if cfg.ExcerptRunes <= 0 {
		cfg.ExcerptRunes = 300
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	return &OfflineMailer{svc: svc, d: d, cfg: cfg}, nil
}

// Config returns the effective configuration.
func (o *OfflineMailer) Config() OfflineConfig { return o.cfg }

// offlineCandidate is a conversation with replies the customer has not
// read nor been emailed.
type offlineCandidate struct {
	id, customer int64
	lang         string
	subject      string
}

// Unread replies to email: customers' conversations, and visitors' whose
// visitor confirmed an address (visitor_email.go). Both select id,
// customer (0 for a visitor), language and subject.
const (
	qUnreadCustomers = `SELECT c.id, c.customer_id, c.lang, c.subject FROM desk_conversations c
		LEFT JOIN desk_reads r ON r.conversation_id = c.id AND r.reader_kind = 'customer' AND r.reader_id = c.customer_id
		LEFT JOIN desk_offline_mail m ON m.conversation_id = c.id
		WHERE c.customer_id > 0 AND c.last_message_at >= $1
		AND c.last_public_seq > COALESCE(r.last_seq, 0) AND c.last_public_seq > COALESCE(m.last_public_seq, 0)
		ORDER BY c.last_message_at, c.id LIMIT $2`
	qUnreadVisitors = `SELECT c.id, c.customer_id, c.lang, c.subject FROM desk_visitor_contacts vc
		JOIN desk_conversations c ON c.id = vc.conversation_id
		LEFT JOIN desk_reads r ON r.conversation_id = c.id AND r.reader_kind = 'visitor' AND r.reader_id = 0
		LEFT JOIN desk_offline_mail m ON m.conversation_id = c.id
		WHERE vc.confirmed_at > 0 AND c.customer_id = 0 AND c.last_message_at >= $1
		AND c.last_public_seq > COALESCE(r.last_seq, 0) AND c.last_public_seq > COALESCE(m.last_public_seq, 0)
		ORDER BY c.last_message_at, c.id LIMIT $2`
)

// Run emails the customers (and confirmed visitors) whose replies are due
// and returns how many emails it queued. Run it every minute or so;
// concurrent runs (several nodes) are safe: the mark moves under the
// conversation's row lock.
func (o *OfflineMailer) Run(ctx context.Context) (int, error) {
	s := o.svc
	now := s.Clock.Now()
	var cands []offlineCandidate
	collect := func(q string) error {
		rows, err := s.DB.Read.QueryContext(ctx, q, micros(now.Add(-o.cfg.MaxAge)), o.cfg.Batch)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var c offlineCandidate
			if err := rows.Scan(&c.id, &c.customer, &c.lang, &c.subject); err != nil {
				return err
			}
			cands = append(cands, c)
		}
		return rows.Err()
	}
	for _, q := range []string{qUnreadCustomers, qUnreadVisitors} {
		if err := collect(q); err != nil {
			return 0, okpay.Internal(err, "find unread replies")
		}
	}
	sent := 0
	for _, c := range cands {
		if ctx.Err() != nil {
			return sent, ctx.Err()
		}
		if o.d.Online != nil && o.d.Online(c.id) {
			continue
		}
		ok, err := o.mailOne(ctx, c, now)
		if err != nil {
			s.log.Warn("desk: offline email", "conversation", ConversationRef(c.id), "err", err)
			continue
		}
		if ok {
			sent++
		}
	}
	return sent, nil
}

type unreadReply struct {
	seq  int64
	body string
	at   time.Time
}

// mailOne emails conversation c's unread replies if they are due.
func (o *OfflineMailer) mailOne(ctx context.Context, c offlineCandidate, now time.Time) (bool, error) {
	s := o.svc
	var contact Contact
	reader := KindVisitor // c.customer == 0: a visitor who left an address
	if c.customer != 0 {
		var err error
		if contact, err = o.d.Contact(ctx, c.customer); err != nil {
			return false, err
		}
		reader = KindCustomer
	}
	sent := false
	err := s.inTx(ctx, "offline email", func(tx *sql.Tx) error {
		sent = false
		var owner, lastPublic int64
		if err := tx.QueryRowContext(ctx, `SELECT customer_id, last_public_seq FROM desk_conversations WHERE id = $1`+s.DB.ForUpdate(), c.id).
			Scan(&owner, &lastPublic); err != nil {
			return err
		}
		if owner != c.customer {
			return nil // claimed or moved meanwhile: next run
		}
		link := o.cfg.BaseURL + "/?chat=" + ConversationRef(c.id)
		if reader == KindVisitor {
			var email, lang string
			var confirmed int64
			err := tx.QueryRowContext(ctx, `SELECT email, lang, confirmed_at FROM desk_visitor_contacts WHERE conversation_id = $1 AND confirmed_at > 0`, c.id).
				Scan(&email, &lang, &confirmed)
			if errors.Is(err, sql.ErrNoRows) {
				return nil // replaced by an address not confirmed yet
			}
			if err != nil {
				return err
			}
			contact.Email = email
			contact.Lang, _ = i18n.ParseLang(lang)
			if o.d.Visitors != nil {
				link = o.cfg.BaseURL + ContinuePath + o.d.Visitors.ContinueToken(c.id, now, email, fromMicros(confirmed))
			}
		}
		var read, mailed int64
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(last_seq), 0) FROM desk_reads WHERE conversation_id = $1 AND reader_kind = $2 AND reader_id = $3`,
			c.id, string(reader), owner).Scan(&read); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(last_public_seq), 0) FROM desk_offline_mail WHERE conversation_id = $1`, c.id).Scan(&mailed); err != nil {
			return err
		}
		after := max(read, mailed)
		if lastPublic <= after {
			return nil
		}
		rows, err := tx.QueryContext(ctx, `SELECT public_seq, body, created_at FROM desk_messages
			WHERE conversation_id = $1 AND public_seq > $2 AND internal = 0 AND author_kind = 'agent' ORDER BY public_seq`, c.id, after)
		if err != nil {
			return err
		}
		var replies []unreadReply
		for rows.Next() {
			var r unreadReply
			var at int64
			if err := rows.Scan(&r.seq, &r.body, &at); err != nil {
				rows.Close()
				return err
			}
			r.at = fromMicros(at)
			replies = append(replies, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		mark := lastPublic
		if len(replies) > 0 {
			if now.Sub(replies[0].at) < o.cfg.Delay {
				return nil // not due yet
			}
			mark = replies[len(replies)-1].seq
		}
		if len(replies) > 0 && contact.Email != "" {
			if err := o.d.Outbox.Enqueue(ctx, tx, o.email(c, contact, replies, link)); err != nil {
				return err
			}
			sent = true
		}
		// Move the mark: past the replies emailed, or past messages that
		// need no email (the customer's own, the system's), so they are
		// not looked at again.
		_, err = tx.ExecContext(ctx, `INSERT INTO desk_offline_mail (conversation_id, last_public_seq, sent_at) VALUES ($1, $2, $3)
			ON CONFLICT (conversation_id) DO UPDATE SET last_public_seq = excluded.last_public_seq, sent_at = excluded.sent_at`,
			c.id, mark, micros(now))
		return err
	})
	return sent, err
}

// email renders the notification of replies to c's customer.
func (o *OfflineMailer) email(c offlineCandidate, contact Contact, replies []unreadReply, link string) notify.Message {
	lang := contact.Lang
	if lang == "" {
		lang, _ = i18n.ParseLang(c.lang)
	}
	cat := o.d.Catalog
	ref := ConversationRef(c.id)
	var b strings.Builder
	for _, r := range replies {
		b.WriteString("> ")
		b.WriteString(Excerpt(r.body, o.cfg.ExcerptRunes))
		b.WriteString("\n\n")
	}
	subject := c.subject
	if subject == "" {
		subject = ref
	}
	data := map[string]any{
		"N":       len(replies),
		"Subject": CleanLine(subject),
		"Replies": strings.TrimRight(b.String(), "\n"),
		"Link":    link,
	}
	last := replies[len(replies)-1].seq
	return notify.Message{
		DedupeKey: NoteUnreadReply + ":" + ref + ":" + itoa(int(last)),
		UserID:    c.customer,
		Channel:   notify.ChannelEmail,
		Kind:      NoteUnreadReply,
		To:        contact.Email,
		Subject:   cat.T(lang, "csat.offline.subject", data),
		Body:      cat.T(lang, "csat.offline.body", data),
	}
}

// Excerpt returns s cut to at most n characters (with "…" when cut),
// whitespace runs folded.
func Excerpt(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return strings.TrimRight(string(r[:max(n-1, 0)]), " ") + "…"
}
