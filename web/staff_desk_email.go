package web

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/maildesk"
)

// The email channel's part of the agent console: each agent reply in an
// email conversation shows where its mail stands (queued, retrying, sent,
// failed with the error), from package maildesk, and each message made
// from a mail links the original as received
// (/staff/desk/email/original, conversation:read). A mail in a customer's
// conversation whose sender was not authenticated (DKIM / DMARC) carries
// an "unverified sender" warning.

// EnableEmailDeliveries shows the delivery state of agents' email replies
// in the console. Call it after EnableDesk.
func (s *Server) EnableEmailDeliveries(m *maildesk.Service) error {
	if m == nil || s.desk == nil {
		return errors.New("web: EnableEmailDeliveries needs the email channel and EnableDesk first")
	}
	s.desk.mail = m
	return nil
}

// addEmailDeliveries fills the delivery state of the agents' public
// messages of an email conversation (an error leaves them without).
func (s *Server) addEmailDeliveries(ctx context.Context, c *desk.Conversation, msgs []deskMessage) {
	if s.desk == nil || s.desk.mail == nil || c.Channel != desk.ChannelEmail {
		return
	}
	var replies, inbound []int64
	for _, m := range msgs {
		switch {
		case m.Message.Author == desk.KindAgent && !m.Internal:
			replies = append(replies, m.ID)
		case m.FromCustomer:
			inbound = append(inbound, m.ID)
		}
	}
	got, err := s.desk.mail.Deliveries(ctx, replies)
	if err != nil {
		s.log.Warn("web: email deliveries", "err", err)
		return
	}
	originals, err := s.desk.mail.Originals(ctx, inbound)
	if err != nil {
		s.log.Warn("web: email originals", "err", err)
		return
	}
	for i := range msgs {
		if d, ok := got[msgs[i].ID]; ok {
			msgs[i].Delivery = &d
		}
		if in, ok := originals[msgs[i].ID]; ok {
			msgs[i].EmailOriginal = true
			msgs[i].EmailUnverified = c.CustomerID != 0 && !in.Authenticated
			msgs[i].EmailAuth = in.AuthDetails
		}
	}
}

// handleDeskEmailOriginal serves the mail a message was made from, as a
// download (never rendered: it is whatever the sender wrote).
func (s *Server) handleDeskEmailOriginal(w http.ResponseWriter, r *http.Request) {
	id, ok := ids.Parse(desk.MessagePrefix, r.URL.Query().Get("id"))
	if s.desk == nil || s.desk.mail == nil || !ok {
		s.staffError(w, r, http.StatusNotFound, "notfound.title", "notfound.body")
		return
	}
	raw, err := s.desk.mail.Original(r.Context(), id)
	if err != nil {
		if code(err) == okpay.ENotFound {
			s.staffError(w, r, http.StatusNotFound, "notfound.title", "notfound.body")
			return
		}
		s.staffInternal(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "message/rfc822")
	h.Set("Content-Disposition", `attachment; filename="`+ids.Format(desk.MessagePrefix, id)+`.eml"`)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(raw)))
	w.Write(raw)
}

// deskCSAT joins conversation c's ratings and, on the email channel, the
// rating requests mailed, by resolution.
func (s *Server) deskCSAT(ctx context.Context, svc *desk.Service, v desk.Viewer, c *desk.Conversation) ([]deskCSAT, error) {
	ratings, err := svc.Ratings(ctx, v, c.ID)
	if err != nil {
		return nil, err
	}
	var reqs []maildesk.SurveyRequest
	if s.desk.mail != nil && c.Channel == desk.ChannelEmail {
		if reqs, err = s.desk.mail.SurveyRequests(ctx, c.ID); err != nil {
			return nil, err
		}
	}
	var out []deskCSAT
	at := func(t time.Time) *deskCSAT {
		for i := range out {
			if out[i].ResolvedAt.Equal(t) {
				return &out[i]
			}
		}
		out = append(out, deskCSAT{ResolvedAt: t})
		return &out[len(out)-1]
	}
	for i := range ratings {
		at(ratings[i].ResolvedAt).Rating = &ratings[i]
	}
	for i := range reqs {
		at(reqs[i].ResolvedAt).Request = &reqs[i]
	}
	slices.SortFunc(out, func(a, b deskCSAT) int { return a.ResolvedAt.Compare(b.ResolvedAt) })
	return out, nil
}
