package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/okpay/okpay/agent"
	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/internal/tokentest"
	"github.com/okpay/okpay/maildesk"
)

// TestCSATLinkPage: the link of a rating request by email shows the form
// (both languages) and opening it rates nothing; a submission without a
// score shows the error and keeps the comment; a score rates the
// resolution as the sender; the link then shows the rating, a forged link
// is refused, and after a reopening the link says it has ended. Without
// the email channel the page is 404.
func TestCSATLinkPage(t *testing.T) {
	t.Parallel()
	e := newStaffEnv(t, agent.Config{})
	c := e.client()
	wantStatus(t, c.get(maildesk.SurveyPath+"0000000000001.aaaaaaaaaaaaa.aaaaaaaaaaaaaaaa"), http.StatusNotFound)

	sup := e.newMember(t, agent.RoleSupervisor)
	svc := e.emailChannel(t, maildesk.Config{BaseURL: "http://okpay.test"})
	res, err := svc.Ingest(e.ctx, []byte("From: li@example.cn\r\nTo: support@okpay.test\r\nSubject: Card <limits>\r\nMessage-ID: <r1@example.cn>\r\n\r\nWhat are my limits?\r\n"),
		maildesk.Envelope{RcptTo: []string{"support@okpay.test"}})
	if err != nil || res.Outcome != maildesk.Started {
		t.Fatalf("%+v %v", res, err)
	}
	conv := res.ConversationID
	resolve := func() string {
		t.Helper()
		cv, err := e.desk.SetStatus(e.ctx, desk.Agent(sup.agent.ID), conv, desk.StatusResolved, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		return svc.Tokens.SurveyToken(conv, cv.ResolvedAt)
	}
	token := resolve()
	ref := desk.ConversationRef(conv)

	for _, l := range []i18n.Lang{i18n.En, i18n.ZhCN} {
		c.lang = string(l)
		page := c.get(maildesk.SurveyPath + token)
		wantStatus(t, page, http.StatusOK)
		wantContains(t, page.body, `data-testid="csat-link-form"`, `data-testid="csat-link-score-5"`, e.text(l, "csat.widget.question"),
			e.text(l, "csat.link.lead", "Ref", ref, "Subject", "Card <limits>"), `value="`+token+`"`)
	}
	c.lang = "en"
	if rs, _ := e.desk.Ratings(e.ctx, desk.System, conv); len(rs) != 0 {
		t.Fatal("opening the link rated")
	}
	// No score: the error, the comment kept.
	page := c.post(maildesk.SurveyPath, url.Values{"token": {token}, "comment": {"fast & kind"}})
	wantStatus(t, page, http.StatusUnprocessableEntity)
	wantContains(t, page.body, e.text(i18n.En, "csat.widget.choose"), "fast &amp; kind</textarea>")
	// A comment too long (past the field's maxlength).
	page = c.post(maildesk.SurveyPath, url.Values{"token": {token}, "rating": {"4"}, "comment": {strings.Repeat("x", desk.MaxCSATCommentRunes+1)}})
	wantStatus(t, page, http.StatusUnprocessableEntity)
	wantContains(t, page.body, e.text(i18n.En, "csat.link.comment_too_long", "N", desk.MaxCSATCommentRunes), `id="rating-4" name="rating" type="radio" value="4" checked`)

	page = c.post(maildesk.SurveyPath, url.Values{"token": {token}, "rating": {"4"}, "comment": {"fast & kind"}})
	wantStatus(t, page, http.StatusOK)
	wantContains(t, page.body, `data-testid="csat-link-done"`, e.text(i18n.En, "csat.widget.thanks"))
	rs, _ := e.desk.Ratings(e.ctx, desk.System, conv)
	if len(rs) != 1 || rs[0].Score != 4 || rs[0].Comment != "fast & kind" || rs[0].Rater != desk.KindVisitor {
		t.Fatalf("ratings %+v", rs)
	}
	// The link now shows the rating; a second, different rating is not taken.
	page = c.get(maildesk.SurveyPath + token)
	wantStatus(t, page, http.StatusOK)
	wantContains(t, page.body, `data-testid="csat-link-rated"`, e.text(i18n.En, "csat.link.rated.body", "N", 4))
	wantStatus(t, c.post(maildesk.SurveyPath, url.Values{"token": {token}, "rating": {"1"}}), http.StatusOK)
	if rs, _ := e.desk.Ratings(e.ctx, desk.System, conv); len(rs) != 1 || rs[0].Score != 4 {
		t.Fatalf("ratings after a second try %+v", rs)
	}

	// Forged links.
	for _, bad := range []string{tokentest.Forged(token, -1), "nope", svc.Tokens.Token(conv)} {
		page := c.get(maildesk.SurveyPath + bad)
		wantStatus(t, page, http.StatusBadRequest)
		wantContains(t, page.body, `data-testid="csat-link-invalid"`)
	}
	wantStatus(t, c.post(maildesk.SurveyPath, url.Values{"token": {"nope"}, "rating": {"5"}}), http.StatusBadRequest)

	// Reopened: the link has ended, in Chinese too.
	if _, err := e.desk.SetStatus(e.ctx, desk.Agent(sup.agent.ID), conv, desk.StatusOpen, time.Time{}); err != nil {
		t.Fatal(err)
	}
	c.lang = string(i18n.ZhCN)
	page = c.get(maildesk.SurveyPath + token)
	wantStatus(t, page, http.StatusConflict)
	wantContains(t, page.body, `data-testid="csat-link-superseded"`, e.text(i18n.ZhCN, "csat.link.superseded.body"))
	// Resolved again: a new link rates the new resolution; the old one
	// still does not.
	e.clock.Advance(time.Minute)
	token2 := resolve()
	wantStatus(t, c.post(maildesk.SurveyPath, url.Values{"token": {token}, "rating": {"2"}}), http.StatusConflict)
	wantStatus(t, c.post(maildesk.SurveyPath, url.Values{"token": {token2}, "rating": {"5"}}), http.StatusOK)
	if rs, _ := e.desk.Ratings(e.ctx, desk.System, conv); len(rs) != 2 || rs[1].Score != 5 {
		t.Fatalf("ratings %+v", rs)
	}
}

// TestDeskConsoleRatingRequests: in the console, an email conversation's
// rating request shows beside its resolution (to whom, where its mail
// stands) before anyone rates it, then beside the rating; a resolution
// without request nor rating shows nothing.
func TestDeskConsoleRatingRequests(t *testing.T) {
	t.Parallel()
	e := newStaffEnv(t, agent.Config{})
	sup := e.newMember(t, agent.RoleSupervisor)
	svc := e.emailChannel(t, maildesk.Config{BaseURL: "http://okpay.test", SurveyDelay: 10 * time.Minute})
	res, err := svc.Ingest(e.ctx, []byte("From: li@example.cn\r\nTo: support@okpay.test\r\nSubject: Refund\r\nMessage-ID: <q1@example.cn>\r\n\r\nWhere is it?\r\n"),
		maildesk.Envelope{RcptTo: []string{"support@okpay.test"}})
	if err != nil || res.Outcome != maildesk.Started {
		t.Fatalf("%+v %v", res, err)
	}
	conv := res.ConversationID
	page := func(lang i18n.Lang) string {
		t.Helper()
		sup.c.lang = string(lang)
		res := sup.c.get("/staff/desk/conversation?id=" + desk.ConversationRef(conv))
		wantStatus(t, res, http.StatusOK)
		return res.body
	}
	cv, err := e.desk.SetStatus(e.ctx, desk.Agent(sup.agent.ID), conv, desk.StatusResolved, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	// Resolved, no request yet (the delay has not passed): no panel.
	if n, err := svc.QueueSurveys(e.ctx); err != nil || n != 0 {
		t.Fatalf("queued %d, %v", n, err)
	}
	if strings.Contains(page(i18n.En), `data-testid="desk-csat"`) {
		t.Fatal("a satisfaction panel before any request or rating")
	}
	e.clock.Advance(11 * time.Minute)
	if n, err := svc.QueueSurveys(e.ctx); err != nil || n != 1 {
		t.Fatalf("queued %d, %v", n, err)
	}
	for _, l := range []i18n.Lang{i18n.En, i18n.ZhCN} {
		wantContains(t, page(l), `data-testid="desk-csat-pending"`, e.text(l, "csat.console.not_rated"),
			`data-testid="desk-csat-request" data-state="queued"`, e.text(l, "csat.console.requested", "To", "li@example.cn"),
			e.text(l, "email.delivery.queued"))
	}
	// Rated through the link: the rating and the request, one resolution.
	if _, err := svc.RateByLink(e.ctx, svc.Tokens.SurveyToken(conv, cv.ResolvedAt), 5, ""); err != nil {
		t.Fatal(err)
	}
	body := page(i18n.En)
	wantContains(t, body, `data-testid="desk-csat-rating" data-score="5"`, `data-testid="desk-csat-request" data-state="queued"`)
	if strings.Contains(body, `data-testid="desk-csat-pending"`) || strings.Count(body, `data-testid="desk-csat-request"`) != 1 {
		t.Fatal("the rated resolution is still shown as not rated, or its request twice")
	}
}
