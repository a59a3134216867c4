package maildesk

import (
	"context"
	"database/sql"
	"encoding/binary"
	"html"
	"strings"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/email"
	"github.com/okpay/okpay/sqldb"
)

// Rating requests by email (CSAT). A chat's customer is asked in the
// widget once the conversation is resolved; an email conversation's
// sender gets a mail instead, once the conversation has stayed resolved
// for Config.SurveyDelay (an agent who resolves and at once reopens asks
// nobody). The mail carries a link to SurveyPath + a token naming the
// conversation and the resolution, with a keyed MAC: the link page
// (package web) asks for 1 to 5 and a comment, with no sign-in — the
// sender may be a visitor without an account, and the token is the proof,
// as the reply address is. Each resolution is asked about once (a unique
// index on the outbox); a conversation reopened and resolved again is
// asked again, and a link of an earlier resolution then rates nothing.
// Opening the link changes nothing (mail scanners fetch links): only the
// page's form rates.

// SurveyPath is the path of rating links: SurveyPath + token.
const SurveyPath = "/support/rate/"

// surveyWindow is how far back QueueSurveys looks: a resolution older than
// that (a server down for a week) is not asked about any more.
const surveyWindow = 7 * 24 * time.Hour

// ESurveyLinkInvalid: the rating link is not one of ours, or names no
// email conversation.
const ESurveyLinkInvalid = "survey_link_invalid"

// SurveyToken returns the token of the rating link for conversation
// convID's resolution at resolvedAt: "<ref>.<resolution>.<mac>", lower-case
// base32 like the reply tokens.
func (t *Tokens) SurveyToken(convID int64, resolvedAt time.Time) string {
	ref := strings.TrimPrefix(desk.ConversationRef(convID), desk.ConversationPrefix+"_")
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(resolvedAt.UnixMicro()))
	body := ref + "." + tokenEncoding.EncodeToString(b[:])
	return body + "." + t.surveyMAC(body)
}

func (t *Tokens) surveyMAC(body string) string {
	return tokenEncoding.EncodeToString(t.survey.Sum([]byte(body))[:macLen])
}

// ParseSurvey returns the conversation and resolution of a token made by
// SurveyToken (false for anything else).
func (t *Tokens) ParseSurvey(token string) (convID int64, resolvedAt time.Time, ok bool) {
	token = strings.ToLower(token)
	i := strings.LastIndexByte(token, '.')
	if i < 0 {
		return 0, time.Time{}, false
	}
	body, mac := token[:i], token[i+1:]
	ref, res, ok := strings.Cut(body, ".")
	if !ok || len(ref) != 13 || len(res) != tokenEncoding.EncodedLen(8) || len(mac) != tokenEncoding.EncodedLen(macLen) {
		return 0, time.Time{}, false
	}
	if !t.survey.Equal([]byte(t.surveyMAC(body)), []byte(mac)) {
		return 0, time.Time{}, false
	}
	id, ok := desk.ParseConversationRef(desk.ConversationPrefix + "_" + ref)
	if !ok || id <= 0 {
		return 0, time.Time{}, false
	}
	b, err := tokenEncoding.DecodeString(res)
	if err != nil || len(b) != 8 {
		return 0, time.Time{}, false
	}
	us := int64(binary.BigEndian.Uint64(b))
	if us <= 0 {
		return 0, time.Time{}, false
	}
	return id, time.UnixMicro(us).UTC(), true
}

// QueueSurveys queues a rating request for every email conversation
// resolved at least Config.SurveyDelay ago (and within surveyWindow)
// whose resolution has neither a request nor a rating yet, and returns how
// many it queued. Like QueueReplies it reads committed state, so nothing
// is lost to a crash, and the unique index makes concurrent scans queue
// each request once. Without Config.BaseURL (no address for the link) it
// queues nothing.
func (s *Service) QueueSurveys(ctx context.Context) (int, error) {
	if s.cfg.BaseURL == "" || s.cfg.SurveyDelay < 0 {
		return 0, nil
	}
	now := s.Clock.Now()
	since := micros(now.Add(-surveyWindow))
	rows, err := s.DB.Read.QueryContext(ctx, `SELECT c.id, c.resolved_at FROM desk_conversations c
		LEFT JOIN email_outbox o ON o.conversation_id = c.id AND o.kind = 'csat' AND o.resolution = c.resolved_at
		LEFT JOIN desk_csat r ON r.conversation_id = c.id AND r.resolved_at = c.resolved_at
		WHERE c.channel = 'email' AND c.last_message_at >= $1 AND c.status = 'resolved'
		AND c.resolved_at >= $1 AND c.resolved_at <= $2 AND o.id IS NULL AND r.conversation_id IS NULL
		ORDER BY c.id LIMIT 200`, since, micros(now.Add(-s.cfg.SurveyDelay)))
	if err != nil {
		return 0, okpay.Internal(err, "find resolved email conversations")
	}
	type resolution struct{ conv, at int64 }
	var list []resolution
	for rows.Next() {
		var r resolution
		if err := rows.Scan(&r.conv, &r.at); err != nil {
			rows.Close()
			return 0, okpay.Internal(err, "find resolved email conversations")
		}
		list = append(list, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, okpay.Internal(err, "find resolved email conversations")
	}
	n := 0
	for _, r := range list {
		queued, err := s.queueSurvey(ctx, r.conv, r.at, now)
		if err != nil {
			return n, err
		}
		if queued {
			n++
		}
	}
	return n, nil
}

// queueSurvey queues the rating request of conversation id's resolution
// at resolvedAt (µs) (false: it changed since the scan, or another node
// queued it).
func (s *Service) queueSurvey(ctx context.Context, id, resolvedAt int64, now time.Time) (bool, error) {
	c, err := s.Desk.Conversation(ctx, desk.System, id)
	if err != nil {
		return false, err
	}
	if c.Status != desk.StatusResolved || micros(c.ResolvedAt) != resolvedAt {
		return false, nil
	}
	to, err := s.recipient(ctx, c)
	if err != nil {
		return false, err
	}
	ref := desk.ConversationRef(c.ID)
	// The subject without "Re:" and references: the catalog's subject
	// adds this conversation's reference once.
	subject := strings.Join(strings.Fields(otherRefs.ReplaceAllString(email.NormalizeSubject(c.Subject), "")), " ")
	if subject == "" {
		subject = s.Catalog.T(c.Lang, "email.no_subject", nil)
	}
	link := s.cfg.BaseURL + SurveyPath + s.Tokens.SurveyToken(c.ID, c.ResolvedAt)
	data := map[string]any{"Ref": ref, "Subject": subject, "Link": link}
	text := s.Catalog.T(c.Lang, "csat.email.body", data)
	// The HTML part links the address (escaped as the text around it).
	esc := html.EscapeString(link)
	body := strings.Replace(htmlBody(text), esc, `<a href="`+esc+`">`+esc+`</a>`, 1)
	o := &outgoing{kind: "csat", convID: c.ID, messageID: s.newMessageID(), to: to,
		subject: s.Catalog.T(c.Lang, "csat.email.subject", data), text: text, html: body,
		replyTo: s.cfg.Addresses.ReplyAddress(s.Tokens.Token(c.ID)), lang: c.Lang, resolution: micros(c.ResolvedAt)}
	err = s.DB.InTx(ctx, func(tx *sql.Tx) error {
		var err error
		if o.inReplyTo, o.refs, err = s.threadHeaders(ctx, tx, c.ID); err != nil {
			return err
		}
		if err := s.enqueue(ctx, tx, o, now); err != nil {
			return err
		}
		if to == "" {
			// Nowhere to send it: recorded as failed, so it is not looked
			// for again.
			_, err := tx.ExecContext(ctx, `UPDATE email_outbox SET state = 'failed', last_error = 'no recipient address' WHERE conversation_id = $1 AND kind = 'csat' AND resolution = $2`,
				c.ID, o.resolution)
			return err
		}
		return nil
	})
	if err != nil && sqldb.IsUniqueViolation(err) {
		return false, nil // another node queued it
	}
	if err != nil {
		return false, okpay.Internal(err, "queue rating request")
	}
	return to != "", nil
}

// Survey is what a rating link names, for its page.
type Survey struct {
	Ref     string // the conversation's reference
	Subject string
	// State: "due" (the form), "rated" (Rating says how) or "superseded"
	// (the conversation was reopened, or resolved again, since the link
	// was sent).
	State  string
	Rating *desk.Rating
}

// Survey states.
const (
	SurveyDue        = "due"
	SurveyRated      = "rated"
	SurveySuperseded = "superseded"
)

// link returns the conversation a rating link names and its resolution.
func (s *Service) link(ctx context.Context, token string) (*desk.Conversation, time.Time, error) {
	invalid := okpay.Errorf(ESurveyLinkInvalid, "This rating link does not work.")
	id, res, ok := s.Tokens.ParseSurvey(token)
	if !ok {
		return nil, time.Time{}, invalid
	}
	c, err := s.Desk.Conversation(ctx, desk.System, id)
	if okpay.ErrorCode(err) == okpay.ENotFound {
		return nil, time.Time{}, invalid
	}
	if err != nil {
		return nil, time.Time{}, err
	}
	if c.Channel != desk.ChannelEmail {
		return nil, time.Time{}, invalid
	}
	return c, res, nil
}

// SurveyByLink says where the rating a link asks for stands.
func (s *Service) SurveyByLink(ctx context.Context, token string) (*Survey, error) {
	c, res, err := s.link(ctx, token)
	if err != nil {
		return nil, err
	}
	out := &Survey{Ref: desk.ConversationRef(c.ID), Subject: c.Subject, State: SurveySuperseded}
	current := (c.Status == desk.StatusResolved || c.Status == desk.StatusClosed) && micros(c.ResolvedAt) == micros(res)
	if !current {
		return out, nil
	}
	sv, err := s.Desk.CSATSurvey(ctx, ownerOf(c), c.ID)
	if err != nil {
		return nil, err
	}
	out.State = SurveyDue
	if sv.Rating != nil {
		out.State, out.Rating = SurveyRated, sv.Rating
	}
	return out, nil
}

// RateByLink rates the resolution a link names, as the conversation's
// customer or visitor: desk.ECSATNotDue once it was reopened or resolved
// again, desk.ECSATAlreadyRated if rated already (the same rating again
// answers the stored one).
func (s *Service) RateByLink(ctx context.Context, token string, score int, comment string) (*desk.Rating, error) {
	c, res, err := s.link(ctx, token)
	if err != nil {
		return nil, err
	}
	return s.Desk.RateResolution(ctx, ownerOf(c), c.ID, res, score, comment)
}

// SurveyRequest is the rating request mailed about one resolution.
type SurveyRequest struct {
	// ResolvedAt is the resolution it asks about.
	ResolvedAt time.Time
	To         string
	Delivery   Delivery
}

// SurveyRequests returns the rating requests queued for conversation
// convID, oldest resolution first (for the staff console: the outbox is
// where a request shows).
func (s *Service) SurveyRequests(ctx context.Context, convID int64) ([]SurveyRequest, error) {
	rows, err := s.DB.Read.QueryContext(ctx, `SELECT resolution, to_addr, state, attempts, last_error, updated_at FROM email_outbox
		WHERE conversation_id = $1 AND kind = 'csat' ORDER BY resolution`, convID)
	if err != nil {
		return nil, okpay.Internal(err, "load rating requests")
	}
	defer rows.Close()
	var out []SurveyRequest
	for rows.Next() {
		var res, at int64
		var r SurveyRequest
		if err := rows.Scan(&res, &r.To, &r.Delivery.State, &r.Delivery.Attempts, &r.Delivery.Error, &at); err != nil {
			return nil, okpay.Internal(err, "load rating requests")
		}
		r.ResolvedAt, r.Delivery.UpdatedAt = fromMicros(res), fromMicros(at)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, okpay.Internal(err, "load rating requests")
	}
	return out, nil
}
