package httpapi

import (
	"net/http"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/desk"
)

// A visitor's email for the chat's replies (desk.VisitorEmails).
//
// PUT /api/v1/conversations/{id}/contact {"email": "…"} records the
// address a visitor left on their chat conversation and mails it a
// confirmation link (nothing else is sent to the address until its link
// is followed); the same address again within a minute, or once
// confirmed, mails nothing, so a retry is safe without an
// Idempotency-Key. A new address replaces the old one. A customer's
// conversation is 409 contact_not_visitor (customers are emailed at their
// account's verified address); past three confirmation mails a day for
// the conversation, or to the address, 429 rate_limited. GET answers the
// address and whether it was confirmed ("email": null when none was left:
// the conversation's own 404 means the caller may not see it). The mail
// is in the caller's language (Accept-Language).

type contactRequest struct {
	Email string `json:"email"`
}

func (s *Server) handleGetContact(w http.ResponseWriter, r *http.Request, c *chatCaller, _ string) {
	id, ok := s.conversationRequest(w, r, c, nil)
	if !ok {
		return
	}
	if s.desk.emails == nil {
		s.writeError(w, r, okpay.Errorf(okpay.ENotFound, "This server does not take visitors' email addresses."))
		return
	}
	e, err := s.desk.emails.Of(r.Context(), c.viewer, id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if e == nil {
		e = &desk.VisitorEmail{ConversationID: id} // none left: "email": null
	}
	writeJSON(w, http.StatusOK, appendContact(make([]byte, 0, 192), e))
}

func (s *Server) handlePutContact(w http.ResponseWriter, r *http.Request, c *chatCaller, _ string) {
	var req contactRequest
	id, ok := s.conversationRequest(w, r, c, &req)
	if !ok {
		return
	}
	if s.desk.emails == nil {
		s.writeError(w, r, okpay.Errorf(okpay.ENotFound, "This server does not take visitors' email addresses."))
		return
	}
	if err := s.chatLimit(r, c, desk.ActionMessage); err != nil {
		s.writeError(w, r, err)
		return
	}
	e, _, err := s.desk.emails.Request(r.Context(), c.viewer, id, req.Email, langOf(r))
	if err != nil {
		s.writeError(w, r, deskLimitError(err))
		return
	}
	writeJSON(w, http.StatusOK, appendContact(make([]byte, 0, 192), e))
}

// appendContact renders a visitor's address.
func appendContact(b []byte, e *desk.VisitorEmail) []byte {
	b = append(b, `{"object":"conversation_contact","conversation":"`...)
	b = append(b, desk.ConversationRef(e.ConversationID)...)
	b = append(b, `","email":`...)
	if e.Email == "" {
		return append(b, `null,"confirmed":false,"confirmed_at":null,"requested_at":null}`...)
	}
	b = appendString(b, e.Email)
	b = append(b, `,"confirmed":`...)
	if e.Confirmed() {
		b = append(b, `true,"confirmed_at":`...)
		b = appendTime(b, e.ConfirmedAt)
	} else {
		b = append(b, `false,"confirmed_at":null`...)
	}
	b = append(b, `,"requested_at":`...)
	b = appendTime(b, e.RequestedAt)
	return append(b, '}')
}
