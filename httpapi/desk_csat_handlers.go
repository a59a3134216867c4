package httpapi

import (
	"errors"
	"net/http"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/identity"
)

// The chat's satisfaction survey and rate limits (desk_handlers.go has
// the rest of the chat).
//
// # Satisfaction
//
// GET /api/v1/conversations/{id}/rating says whether the caller's
// conversation waits for a rating (it is resolved and this resolution is
// not rated); POST rates it, 1 to 5 with an optional comment, once per
// resolution (desk.Rate): the same rating again answers the stored one
// (201 with Idempotent-Replayed: true: a safe retry without an
// Idempotency-Key), another rating of
// the same resolution is 409 csat_already_rated.
//
// # Limits
//
// Starting conversations and sending messages or files count against the
// desk's limits (desk.Limiter): per visitor and per client address for
// visitors, per account (looser) for customers. Past a limit the answer
// is 429 rate_limited with Retry-After.

type rateRequest struct {
	Rating  *int   `json:"rating"`
	Comment string `json:"comment"`
}

// chatLimit counts one action of the caller; a refusal is the identity
// package's RateLimitError, which writeError answers with Retry-After.
func (s *Server) chatLimit(r *http.Request, c *chatCaller, a desk.Action) error {
	return deskLimitError(s.desk.limits.Allow(r.Context(), c.viewer, s.clientIP.IP(r), a))
}

// deskLimitError makes the desk's RateLimitError the identity package's,
// which writeError answers with Retry-After.
func deskLimitError(err error) error {
	var rl *desk.RateLimitError
	if errors.As(err, &rl) {
		return &identity.RateLimitError{RetryAfter: rl.RetryAfter}
	}
	return err
}

func (s *Server) handleGetRating(w http.ResponseWriter, r *http.Request, c *chatCaller, _ string) {
	id, ok := s.conversationRequest(w, r, c, nil)
	if !ok {
		return
	}
	sv, err := s.desk.svc.CSATSurvey(r.Context(), c.viewer, id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, appendSurvey(make([]byte, 0, 256), id, sv))
}

func (s *Server) handleRateConversation(w http.ResponseWriter, r *http.Request, c *chatCaller, _ string) {
	var req rateRequest
	id, ok := s.conversationRequest(w, r, c, &req)
	if !ok {
		return
	}
	if req.Rating == nil {
		s.writeError(w, r, okpay.Invalid(map[string]string{"rating": "required"}))
		return
	}
	rt, err := s.desk.svc.Rate(r.Context(), c.viewer, id, *req.Rating, req.Comment)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if rt.Replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	writeJSON(w, http.StatusCreated, appendSurvey(make([]byte, 0, 256), id, desk.Survey{Rating: rt}))
}

// appendSurvey renders a conversation's survey.
func appendSurvey(b []byte, id int64, sv desk.Survey) []byte {
	b = append(b, `{"object":"csat_survey","conversation":"`...)
	b = append(b, desk.ConversationRef(id)...)
	b = append(b, `","due":`...)
	if sv.Due {
		b = append(b, "true"...)
	} else {
		b = append(b, "false"...)
	}
	b = append(b, `,"rating":`...)
	if rt := sv.Rating; rt != nil {
		b = append(b, `{"score":`...)
		b = appendInt(b, int64(rt.Score))
		b = append(b, `,"comment":`...)
		b = appendString(b, rt.Comment)
		b = append(b, `,"resolved_at":`...)
		b = appendTime(b, rt.ResolvedAt)
		b = append(b, `,"created_at":`...)
		b = appendTime(b, rt.CreatedAt)
		b = append(b, '}')
	} else {
		b = append(b, "null"...)
	}
	return append(b, '}')
}
