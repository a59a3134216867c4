package desk

import (
	"context"
	"database/sql"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/notify"
	"github.com/okpay/okpay/secret"
)

// A visitor's email: continuity for a chat that outlives the visit. A
// visitor (no account) who leaves the page before an agent answers sees
// the answer only if they come back in the same browser; so the widget
// asks for an address. The desk mails a confirmation link to it first
// (typed is not proved: the link shows that whoever typed it reads that
// mailbox, and nobody can have the desk's replies sent to someone else);
// once confirmed, the offline mailer emails the conversation's unread
// agent replies there as it does a customer's (offline.go): the replies'
// excerpts, and the chat's link, which opens the conversation in the
// browser that holds the visitor's cookie. Agents see the address and
// whether it was confirmed (an address typed by an anonymous visitor,
// never an identity: DESK.md's "claimed" level, below a signed-in
// customer).
//
// One address per conversation (desk_visitor_contacts); asking again with
// another address replaces it, and only the latest request's link
// confirms. A conversation sends at most MaxContactMails confirmation
// mails a day, an address receives at most MaxContactAddressMails a day
// for other conversations; the same address asked again within a minute
// sends none (a double click). A conversation claimed by a customer
// (sign-in) is emailed at the account's verified address instead.

// Notification kind of the confirmation mail, its link's path, and the
// path of a reply mail's continuation link.
const (
	NoteContactConfirm = "desk_contact_confirm"
	ContactPath        = "/support/contact/"
	ContinuePath       = "/support/continue/"
)

// Codes of the visitor email.
const (
	// EContactNotVisitor: only a visitor's chat conversation takes an
	// address (a customer is emailed at their account's).
	EContactNotVisitor = "contact_not_visitor"
	// EContactLinkInvalid: the link is not one of ours, was replaced by a
	// later request, or has expired.
	EContactLinkInvalid = "contact_link_invalid"
)

// MaxContactMails caps the confirmation mails of one conversation a day,
// and MaxContactAddressMails those to one address (over all
// conversations): the form cannot be used to mail someone again and again.
const (
	MaxContactMails        = 3
	MaxContactAddressMails = 3
)

// contactLinkTTL is how long a confirmation link works, continueLinkTTL
// a reply mail's continuation link.
const (
	contactLinkTTL  = 24 * time.Hour
	continueLinkTTL = 7 * 24 * time.Hour
)

// VisitorEmail is the address a visitor left on a conversation.
type VisitorEmail struct {
	ConversationID int64
	Email          string
	Lang           i18n.Lang
	RequestedAt    time.Time
	// ConfirmedAt is when the link was followed (zero: not yet).
	ConfirmedAt time.Time
}

// Confirmed reports whether the address was confirmed.
func (e *VisitorEmail) Confirmed() bool { return !e.ConfirmedAt.IsZero() }

// VisitorEmailDeps are the collaborators of VisitorEmails.
type VisitorEmailDeps struct {
	Outbox  Enqueuer
	Catalog *i18n.Catalog
	// Links keys the confirmation links' MAC.
	Links *secret.MAC
	// BaseURL is the site's address: the link is BaseURL + ContactPath +
	// token.
	BaseURL string
}

// VisitorEmails keeps visitors' addresses and mails their confirmation.
type VisitorEmails struct {
	svc *Service
	d   VisitorEmailDeps
}

// NewVisitorEmails returns the visitors' email service of svc.
func NewVisitorEmails(svc *Service, d VisitorEmailDeps) (*VisitorEmails, error) {
	if svc == nil || d.Outbox == nil || d.Catalog == nil || d.Links == nil || d.BaseURL == "" {
		return nil, errors.New("desk: visitor emails need the desk, an outbox, a catalog, a link key and the site's address")
	}
	d.BaseURL = strings.TrimRight(d.BaseURL, "/")
	return &VisitorEmails{svc: svc, d: d}, nil
}

var linkEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// linkMACLen is how many bytes of the MAC a link carries (80 bits).
const linkMACLen = 10

// Token returns the confirmation link's token for conversation convID's
// request of email at requestedAt: "<ref>.<request>.<mac>" in lower-case
// base32. The MAC covers the address too (not in the token): a link
// confirms the address it was mailed to, never one asked for later.
func (ve *VisitorEmails) Token(convID int64, requestedAt time.Time, email string) string {
	ref := strings.TrimPrefix(ConversationRef(convID), ConversationPrefix+"_")
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(requestedAt.UnixMicro()))
	body := ref + "." + linkEncoding.EncodeToString(b[:])
	return body + "." + ve.mac(body, email)
}

func (ve *VisitorEmails) mac(body, email string) string {
	return linkEncoding.EncodeToString(ve.d.Links.Sum([]byte("contact"), []byte(body), []byte(email))[:linkMACLen])
}

// parsedLink is a token's parts (ParseToken); its MAC is checked against
// the stored address (check).
type parsedLink struct {
	convID      int64
	requestedAt time.Time
	body, mac   string
}

// ParseToken reads the conversation and request a token names, or false
// when it is not shaped as Token makes them (its MAC is not checked
// here: it needs the address stored with the request).
func (ve *VisitorEmails) ParseToken(token string) (convID int64, requestedAt time.Time, ok bool) {
	p, ok := parseLink(token)
	return p.convID, p.requestedAt, ok
}

func parseLink(token string) (parsedLink, bool) {
	token = strings.ToLower(token)
	i := strings.LastIndexByte(token, '.')
	if i < 0 {
		return parsedLink{}, false
	}
	body, mac := token[:i], token[i+1:]
	ref, req, ok := strings.Cut(body, ".")
	if !ok || len(ref) != 13 || len(req) != linkEncoding.EncodedLen(8) || len(mac) != linkEncoding.EncodedLen(linkMACLen) {
		return parsedLink{}, false
	}
	if m, err := linkEncoding.DecodeString(mac); err != nil || linkEncoding.EncodeToString(m) != mac {
		return parsedLink{}, false // only the canonical spelling: one token per link
	}
	id, ok := ParseConversationRef(ConversationPrefix + "_" + ref)
	if !ok || id <= 0 {
		return parsedLink{}, false
	}
	b, err := linkEncoding.DecodeString(req)
	if err != nil || len(b) != 8 || linkEncoding.EncodeToString(b) != req {
		return parsedLink{}, false
	}
	us := int64(binary.BigEndian.Uint64(b))
	if us <= 0 {
		return parsedLink{}, false
	}
	return parsedLink{convID: id, requestedAt: time.UnixMicro(us).UTC(), body: body, mac: mac}, true
}

// Request records email as the address of visitor v's chat conversation
// convID and mails it a confirmation link in lang (mailed). The same
// address asked again within a minute, or already confirmed, mails
// nothing; a new address replaces the old one (and its confirmation).
// Only the conversation's visitor may (a customer gets
// EContactNotVisitor, as does a conversation of another channel or a
// closed one; another's conversation is ENotFound). Past the day's mails
// (MaxContactMails, MaxContactAddressMails) it is a *RateLimitError.
func (ve *VisitorEmails) Request(ctx context.Context, v Viewer, convID int64, email string, lang i18n.Lang) (e *VisitorEmail, mailed bool, err error) {
	if v.Kind != KindVisitor {
		// Another's conversation stays "not found" (nothing revealed).
		if _, err := ve.svc.loadConv(ctx, ve.svc.DB.Read, v, convID, false); err != nil {
			return nil, false, err
		}
		return nil, false, okpay.Errorf(EContactNotVisitor, "Signed-in customers are emailed at their account's verified address.")
	}
	if email, err = notify.NormalizeEmail(email); err != nil {
		return nil, false, err
	}
	if _, ok := i18n.ParseLang(string(lang)); !ok {
		lang = i18n.Default
	}
	s := ve.svc
	now := s.Clock.Now().UTC().Truncate(time.Microsecond)
	var out *VisitorEmail
	err = s.inTx(ctx, "visitor email", func(tx *sql.Tx) error {
		mailed = false
		c, err := s.loadConv(ctx, tx, v, convID, true)
		if err != nil {
			return err
		}
		if c.Channel != ChannelChat || c.Status == StatusClosed {
			return okpay.Errorf(EContactNotVisitor, "This conversation cannot take an email address.")
		}
		prev, err := ve.load(ctx, tx, convID)
		if err != nil {
			return err
		}
		mails, windowStart := 1, now
		if prev != nil {
			if prev.Email == email && (prev.Confirmed() || now.Sub(prev.RequestedAt) < time.Minute) {
				out = &prev.VisitorEmail // confirmed already, or a double click
				return nil
			}
			if now.Sub(prev.windowStart) < 24*time.Hour {
				mails, windowStart = prev.mails+1, prev.windowStart
			}
			if mails > MaxContactMails {
				return &RateLimitError{RetryAfter: prev.windowStart.Add(24 * time.Hour).Sub(now)}
			}
		}
		// The address's mails of the last day, for other conversations.
		var others int
		var oldest int64
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(MIN(requested_at), 0) FROM desk_visitor_contacts
			WHERE email = $1 AND requested_at > $2 AND conversation_id <> $3`, email, micros(now.Add(-24*time.Hour)), convID).Scan(&others, &oldest); err != nil {
			return err
		}
		if others >= MaxContactAddressMails {
			return &RateLimitError{RetryAfter: fromMicros(oldest).Add(24 * time.Hour).Sub(now)}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO desk_visitor_contacts (conversation_id, email, lang, requested_at, confirmed_at, mails, window_start)
			VALUES ($1, $2, $3, $4, 0, $5, $6)
			ON CONFLICT (conversation_id) DO UPDATE SET email = excluded.email, lang = excluded.lang, requested_at = excluded.requested_at,
				confirmed_at = 0, mails = excluded.mails, window_start = excluded.window_start`,
			convID, email, string(lang), micros(now), mails, micros(windowStart)); err != nil {
			return err
		}
		if err := s.record(ctx, tx, convID, v, "contact", "requested", now); err != nil {
			return err
		}
		out, mailed = &VisitorEmail{ConversationID: convID, Email: email, Lang: lang, RequestedAt: now}, true
		return ve.d.Outbox.Enqueue(ctx, tx, ve.confirmation(c, out))
	})
	if err != nil {
		return nil, false, err
	}
	return out, mailed, nil
}

// confirmation is the mail asking to confirm e.
func (ve *VisitorEmails) confirmation(c *convRow, e *VisitorEmail) notify.Message {
	ref := ConversationRef(c.ID)
	data := map[string]any{"Ref": ref, "Link": ve.d.BaseURL + ContactPath + ve.Token(c.ID, e.RequestedAt, e.Email), "Hours": int(contactLinkTTL / time.Hour)}
	return notify.Message{
		DedupeKey: NoteContactConfirm + ":" + ref + ":" + strconv.FormatInt(e.RequestedAt.UnixMicro(), 10),
		Channel:   notify.ChannelEmail,
		Kind:      NoteContactConfirm,
		To:        e.Email,
		Subject:   ve.d.Catalog.T(e.Lang, "deskcontact.mail.subject", data),
		Body:      ve.d.Catalog.T(e.Lang, "deskcontact.mail.body", data),
	}
}

// storedContact is a desk_visitor_contacts row.
type storedContact struct {
	VisitorEmail
	mails       int
	windowStart time.Time
}

func (ve *VisitorEmails) load(ctx context.Context, q querier, convID int64) (*storedContact, error) {
	var e storedContact
	var lang string
	var req, conf, win int64
	err := q.QueryRowContext(ctx, `SELECT email, lang, requested_at, confirmed_at, mails, window_start FROM desk_visitor_contacts WHERE conversation_id = $1`, convID).
		Scan(&e.Email, &lang, &req, &conf, &e.mails, &win)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, okpay.Internal(err, "load visitor email")
	}
	e.ConversationID = convID
	e.Lang, _ = i18n.ParseLang(lang)
	e.RequestedAt, e.ConfirmedAt, e.windowStart = fromMicros(req), fromMicros(conf), fromMicros(win)
	return &e, nil
}

// Of returns the address left on conversation convID (nil: none), for its
// visitor or staff (another's conversation is ENotFound).
func (ve *VisitorEmails) Of(ctx context.Context, v Viewer, convID int64) (*VisitorEmail, error) {
	if _, err := ve.svc.loadConv(ctx, ve.svc.DB.Read, v, convID, false); err != nil {
		return nil, err
	}
	e, err := ve.load(ctx, ve.svc.DB.Read, convID)
	if e == nil || err != nil {
		return nil, err
	}
	return &e.VisitorEmail, nil
}

var errContactLink = okpay.Errorf(EContactLinkInvalid, "This confirmation link is not valid any more. Ask for a new one in the chat.")

// ByLink returns the request a confirmation link names, if it still
// stands (opening the link changes nothing).
func (ve *VisitorEmails) ByLink(ctx context.Context, token string) (*VisitorEmail, error) {
	return ve.byLink(ctx, ve.svc.DB.Read, token)
}

func (ve *VisitorEmails) byLink(ctx context.Context, q querier, token string) (*VisitorEmail, error) {
	p, ok := parseLink(token)
	if !ok {
		return nil, errContactLink
	}
	e, err := ve.load(ctx, q, p.convID)
	if err != nil {
		return nil, err
	}
	if e == nil || !e.RequestedAt.Equal(p.requestedAt) || !ve.d.Links.Equal([]byte(ve.mac(p.body, e.Email)), []byte(p.mac)) ||
		(!e.Confirmed() && ve.svc.Clock.Now().Sub(p.requestedAt) > contactLinkTTL) {
		return nil, errContactLink
	}
	return &e.VisitorEmail, nil
}

// Confirm confirms the address of a confirmation link (again: nothing
// changes) and returns it.
func (ve *VisitorEmails) Confirm(ctx context.Context, token string) (*VisitorEmail, error) {
	s := ve.svc
	var out *VisitorEmail
	err := s.inTx(ctx, "confirm visitor email", func(tx *sql.Tx) error {
		e, err := ve.byLink(ctx, tx, token)
		if err != nil {
			return err
		}
		if e.Confirmed() {
			out = e
			return nil
		}
		now := s.Clock.Now().UTC().Truncate(time.Microsecond)
		if _, err := tx.ExecContext(ctx, `UPDATE desk_visitor_contacts SET confirmed_at = $1 WHERE conversation_id = $2 AND requested_at = $3`,
			micros(now), e.ConversationID, micros(e.RequestedAt)); err != nil {
			return err
		}
		if err := s.record(ctx, tx, e.ConversationID, System, "contact", "confirmed", now); err != nil {
			return err
		}
		e.ConfirmedAt = now
		out = e
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// A reply mail's continuation link. The reply mail to a visitor's
// confirmed address links ContinuePath + token: following it, whatever
// browser the visitor reads their mail in becomes the conversation's
// visitor (the one before loses it: a conversation has one visitor), so
// the visitor answers where they read. The token names the conversation
// and when the mail was written; its MAC covers the confirmed address and
// the confirmation's time too, so it ends when the address changes, and
// it works continueLinkTTL. It is a bearer link to one conversation,
// mailed only to the address its visitor proved.

// ContinueToken returns the continuation token of a reply mail written at
// issued to the confirmed address email (confirmed at confirmedAt) of
// conversation convID.
func (ve *VisitorEmails) ContinueToken(convID int64, issued time.Time, email string, confirmedAt time.Time) string {
	ref := strings.TrimPrefix(ConversationRef(convID), ConversationPrefix+"_")
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(issued.UnixMicro()))
	body := ref + "." + linkEncoding.EncodeToString(b[:])
	return body + "." + ve.continueMAC(body, email, confirmedAt)
}

func (ve *VisitorEmails) continueMAC(body, email string, confirmedAt time.Time) string {
	var at [8]byte
	binary.BigEndian.PutUint64(at[:], uint64(confirmedAt.UnixMicro()))
	return linkEncoding.EncodeToString(ve.d.Links.Sum([]byte("continue"), []byte(body), []byte(email), at[:])[:linkMACLen])
}

// Continuation returns the address a continuation link was mailed to, if
// the link still works (opening it changes nothing).
func (ve *VisitorEmails) Continuation(ctx context.Context, token string) (*VisitorEmail, error) {
	e, _, err := ve.byContinue(ctx, ve.svc.DB.Read, token)
	return e, err
}

func (ve *VisitorEmails) byContinue(ctx context.Context, q querier, token string) (*VisitorEmail, *convRow, error) {
	p, ok := parseLink(token)
	if !ok {
		return nil, nil, errContactLink
	}
	e, err := ve.load(ctx, q, p.convID)
	if err != nil {
		return nil, nil, err
	}
	now := ve.svc.Clock.Now()
	if e == nil || !e.Confirmed() || !ve.d.Links.Equal([]byte(ve.continueMAC(p.body, e.Email, e.ConfirmedAt)), []byte(p.mac)) ||
		now.Sub(p.requestedAt) > continueLinkTTL || p.requestedAt.After(now.Add(time.Minute)) {
		return nil, nil, errContactLink
	}
	c, err := ve.svc.loadConv(ctx, q, System, p.convID, false)
	if err != nil {
		return nil, nil, err
	}
	if c.CustomerID != 0 || c.Channel != ChannelChat {
		return nil, nil, errContactLink // signed in since: the account has it
	}
	return &e.VisitorEmail, c, nil
}

// Continue makes visitorID (the browser that followed a continuation
// link) the visitor of the link's conversation, and returns the address
// the link was mailed to. The browser that had it sees it no more (its
// live connection is told, as when a customer claims it).
func (ve *VisitorEmails) Continue(ctx context.Context, token, visitorID string) (*VisitorEmail, error) {
	v := Visitor(visitorID)
	if err := v.valid(); err != nil {
		return nil, err
	}
	s := ve.svc
	var out *VisitorEmail
	moved := false
	err := s.inTx(ctx, "continue visitor conversation", func(tx *sql.Tx) error {
		moved = false
		e, c, err := ve.byContinue(ctx, tx, token)
		if err != nil {
			return err
		}
		out = e
		if c.VisitorID == visitorID {
			return nil // this browser has it already
		}
		now := s.Clock.Now()
		res, err := tx.ExecContext(ctx, `UPDATE desk_conversations SET visitor_id = $1, start_key = '', updated_at = $2 WHERE id = $3 AND customer_id = 0 AND visitor_id = $4`,
			visitorID, micros(now), c.ID, c.VisitorID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return errContactLink // claimed or moved meanwhile
		}
		moved = true
		return s.record(ctx, tx, c.ID, v, "contact", "continued in another browser", now)
	})
	if err != nil {
		return nil, err
	}
	if moved {
		s.publishClaimed(ctx, out.ConversationID)
	}
	return out, nil
}
