package maildesk_test

import (
	"bytes"
	"mime"
	"mime/multipart"
	netmail "net/mail"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/internal/tokentest"
	"github.com/okpay/okpay/maildesk"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

var surveyLinkRE = regexp.MustCompile(`https://okpay\.test` + regexp.QuoteMeta(maildesk.SurveyPath) + `([a-z0-9.]+)`)

// TestSurveyByEmail: an email conversation resolved for the survey delay
// gets one rating request per resolution, sent to its sender with a signed
// link; the link rates that resolution once, as the conversation's owner;
// after a reopening the old link rates nothing and a new resolution gets a
// new request. Chat conversations and rated resolutions are not asked.
func TestSurveyByEmail(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarnessWith(t, db, func(c *maildesk.Config) { c.BaseURL = "https://okpay.test/"; c.SurveyDelay = 10 * time.Minute })
		relay := newSink(t)
		disp, err := maildesk.NewDispatcher(h.svc, relay.sender(t), maildesk.DeliverConfig{})
		if err != nil {
			t.Fatal(err)
		}
		queue := func(want int) {
			t.Helper()
			if n, err := h.svc.QueueSurveys(h.ctx); err != nil || n != want {
				t.Fatalf("queued %d (%v), want %d", n, err, want)
			}
		}
		resolve := func(conv int64) {
			t.Helper()
			if _, err := h.desk.SetStatus(h.ctx, desk.Agent(agentA), conv, desk.StatusResolved, time.Time{}); err != nil {
				t.Fatal(err)
			}
		}
		h.mustSend(mail{from: visitor, to: support, subject: "Fwd: Limits [cnv_0000000000777]", msgID: "s1@example.cn", body: "What are my limits?"})
		_, conv, _ := h.inbound("s1@example.cn")
		// A chat conversation resolved at the same time is asked in the
		// widget, not by mail.
		chat, err := h.desk.StartConversation(h.ctx, desk.Visitor("vis_0123456789abcdefghij"), desk.StartInput{Category: desk.CategoryAccount, Body: "hi"})
		if err != nil {
			t.Fatal(err)
		}
		queue(0) // nothing resolved
		resolve(conv)
		resolve(chat.ID)
		h.clock.Advance(9 * time.Minute)
		queue(0) // not resolved long enough
		h.clock.Advance(2 * time.Minute)
		queue(1)
		queue(0) // once per resolution

		before := len(relay.all())
		if _, err := disp.Deliver(h.ctx); err != nil {
			t.Fatal(err)
		}
		got := relay.all()[before:]
		var survey *netmail.Message
		for _, c := range got {
			m, err := netmail.ReadMessage(bytes.NewReader(c.data))
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(m.Header.Get("Subject"), "How did we do?") {
				survey = m
			}
		}
		if survey == nil {
			t.Fatalf("no rating request among %d mails", len(got))
		}
		_, params, err := mime.ParseMediaType(survey.Header.Get("Content-Type"))
		if err != nil {
			t.Fatal(err)
		}
		var body, htmlPart bytes.Buffer
		mr := multipart.NewReader(survey.Body, params["boundary"])
		for {
			p, err := mr.NextPart() // quoted-printable decoded
			if err != nil {
				break
			}
			if strings.HasPrefix(p.Header.Get("Content-Type"), "text/html") {
				htmlPart.ReadFrom(p)
			} else {
				body.ReadFrom(p)
			}
		}
		ref := desk.ConversationRef(conv)
		if !strings.Contains(survey.Header.Get("To"), visitor) || survey.Header.Get("Subject") != "How did we do? Limits ["+ref+"]" ||
			survey.Header.Get("Auto-Submitted") != "auto-generated" || !strings.Contains(survey.Header.Get("Reply-To"), "support+"+h.svc.Tokens.Token(conv)) {
			t.Fatalf("headers %v", survey.Header)
		}
		m := surveyLinkRE.FindStringSubmatch(body.String())
		if m == nil {
			t.Fatalf("no link in %q", body.String())
		}
		token := m[1]
		if !strings.Contains(htmlPart.String(), `<a href="`+m[0]+`">`) {
			t.Errorf("the HTML part does not link %s: %q", m[0], htmlPart.String())
		}
		if id, _, ok := h.svc.Tokens.ParseSurvey(token); !ok || id != conv {
			t.Fatalf("token %q: %d %v", token, id, ok)
		}

		sv, err := h.svc.SurveyByLink(h.ctx, token)
		if err != nil || sv.State != maildesk.SurveyDue || sv.Ref != ref || sv.Subject == "" {
			t.Fatalf("survey %+v %v", sv, err)
		}
		// Forged and altered links rate nothing.
		for _, bad := range []string{"", "x", token + "a", tokentest.Forged(token, -1), strings.Replace(token, ".", "..", 1),
			h.svc.Tokens.Token(conv), h.svc.Tokens.SurveyToken(chat.ID, time.Now())} {
			if _, err := h.svc.RateByLink(h.ctx, bad, 5, ""); okpay.ErrorCode(err) != maildesk.ESurveyLinkInvalid {
				t.Errorf("link %q: %v", bad, err)
			}
		}
		if _, err := h.svc.RateByLink(h.ctx, token, 0, ""); okpay.ErrorCode(err) != okpay.EInvalid {
			t.Fatalf("rating 0: %v", err)
		}
		r, err := h.svc.RateByLink(h.ctx, token, 4, "Quick answer")
		if err != nil || r.Score != 4 || r.Rater != desk.KindVisitor || r.Replayed {
			t.Fatalf("rate: %+v %v", r, err)
		}
		if r, err := h.svc.RateByLink(h.ctx, strings.ToUpper(token), 4, "Quick answer"); err != nil || !r.Replayed {
			t.Fatalf("same rating again: %+v %v", r, err)
		}
		if _, err := h.svc.RateByLink(h.ctx, token, 1, ""); okpay.ErrorCode(err) != desk.ECSATAlreadyRated {
			t.Fatalf("another rating: %v", err)
		}
		if sv, _ := h.svc.SurveyByLink(h.ctx, token); sv.State != maildesk.SurveyRated || sv.Rating.Score != 4 {
			t.Fatalf("after rating: %+v", sv)
		}
		ratings, _ := h.desk.Ratings(h.ctx, desk.System, conv)
		if len(ratings) != 1 {
			t.Fatalf("ratings %+v", ratings)
		}

		// The sender writes again: reopened, then resolved again.
		h.mustSend(mail{from: visitor, to: support, subject: "Re: Limits [" + ref + "]", msgID: "s2@example.cn", body: "One more thing."})
		if sv, _ := h.svc.SurveyByLink(h.ctx, token); sv.State != maildesk.SurveySuperseded {
			t.Fatalf("reopened: %+v", sv)
		}
		h.clock.Advance(time.Minute)
		resolve(conv)
		h.clock.Advance(11 * time.Minute)
		queue(1)
		if _, err := h.svc.RateByLink(h.ctx, token, 5, ""); okpay.ErrorCode(err) != desk.ECSATNotDue {
			t.Fatalf("old link after a new resolution: %v", err)
		}
		if n := h.count(`SELECT COUNT(*) FROM email_outbox WHERE kind = 'csat' AND conversation_id = $1`, conv); n != 2 {
			t.Fatalf("%d rating requests", n)
		}
		// Rated before the delay passed (say in reply to an agent's link):
		// not asked.
		h.mustSend(mail{from: visitor, to: support, subject: "Re: Limits [" + ref + "]", msgID: "s3@example.cn", body: "And another."})
		resolve(conv)
		c, _ := h.desk.Conversation(h.ctx, desk.System, conv)
		if _, err := h.svc.RateByLink(h.ctx, h.svc.Tokens.SurveyToken(conv, c.ResolvedAt), 5, ""); err != nil {
			t.Fatal(err)
		}
		h.clock.Advance(11 * time.Minute)
		queue(0)
	})
}
