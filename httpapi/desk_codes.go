package httpapi

import (
	"net/http"

	"github.com/okpay/okpay/desk"
)

// The HTTP statuses of the support desk's codes, joined to statusOf
// (problem.go, the one table where domain errors meet HTTP) when the
// package loads. Their titles and details are in i18n/locales/desk.*.toml.
// desk.EIdempotencyReused is the API's idempotency_key_reused (422)
// already. The staff-only codes (conversation_bad_transition,
// conversation_already_assigned) never reach the customer API: the agent
// console (web/staff_desk.go) shows them on its pages.
func init() {
	for code, status := range map[string]int{
		desk.EConversationClosed: http.StatusConflict,
		desk.ETooManyOpen:        http.StatusConflict,
		desk.EAttachmentRefused:  http.StatusUnprocessableEntity,
		desk.ECSATNotDue:         http.StatusConflict,
		desk.ECSATAlreadyRated:   http.StatusConflict,
		desk.EContactNotVisitor:  http.StatusConflict,
	} {
		statusOf[code] = status
	}
}
