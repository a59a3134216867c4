package web

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/okpay/okpay/help"
)

// Self-service in the chat widget (package assistant, issue 7): before a
// conversation reaches the queue, the widget suggests help articles while
// the customer types the question (a debounced call to the JSON API's
// GET /api/v1/help/suggestions, in the widget's language); "This solved
// it" on an opened article ends the attempt without a conversation and
// is counted as deflected (POST /api/v1/help/articles/{id}/deflections);
// "Ask the assistant" sends the question to POST
// /api/v1/assistant/messages and shows the answer (with the signed-in
// customer's own data, links to the page and the article), and "Talk to a
// person", an answer the assistant hands over, or the one-click "talk to
// a person?" of an answer it was unsure of (a link of kind "handover",
// shown as a button), opens the desk conversation whose first message is
// the whole exchange. The deflections
// per article and day are on the help reports page (/staff/help/misses,
// HelpDeflections).

// assistantMessageIDs are the texts of the self-service part.
var assistantMessageIDs = []string{"assistant.widget.suggestions", "assistant.widget.open_article", "assistant.widget.solved",
	"assistant.widget.back", "assistant.widget.solved_thanks", "assistant.widget.ask", "assistant.widget.human",
	"assistant.widget.assistant", "assistant.widget.log", "helped.deflections.title", "helped.deflections.lead",
	"helped.deflections.empty", "helped.deflections.day", "helped.deflections.article", "helped.deflections.count"}

// EnableChatSelfService shows the self-service part of the chat widget.
// It needs EnableDesk and EnableHelp first, and the JSON API's
// self-service routes (httpapi.Config.Assistant) on the same origin.
func (s *Server) EnableChatSelfService() error {
	if s.desk == nil || s.help == nil {
		return errors.New("web: EnableChatSelfService needs EnableDesk and EnableHelp first")
	}
	for _, id := range assistantMessageIDs {
		if !s.cat.Has(id) {
			return fmt.Errorf("web: self-service message id %q missing from the catalog", id)
		}
	}
	s.desk.selfService = true
	return nil
}

// deflectionDays is how many days the help reports show deflections for.
const deflectionDays = 30

// HelpDeflections lists the chat attempts that suggested articles ended
// ("This solved it") per article and day, for the help reports page. A
// failure is logged and shows as none.
func (p *page) HelpDeflections() []help.Deflection {
	if p.s.help == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d, err := p.s.help.svc.Deflections(ctx, deflectionDays)
	if err != nil {
		p.s.log.Error("web: help deflections", "err", err)
		return nil
	}
	return d
}
