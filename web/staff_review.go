package web

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/agent"
	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/wallet"
)

// The withdrawal reviewers' pages (/staff/withdrawals, permission
// withdrawal:review, the risk role): the queue of withdrawals waiting for
// a decision, and one withdrawal with its customer's context — balances,
// account age, verification level, recent security events, the payout
// method's age, earlier withdrawals, and the rules that sent it to
// review — with the approve and reject forms. The decision itself, its
// audit record and the checks (the permission again, SUP-04's "not your
// own customer account", one decision per withdrawal) are the wallet's
// (wallet.Withdrawals.Approve and Reject). Customer data is shown masked
// (SUP-03). Withdrawal ids travel as a query parameter (GET) or a form
// field (POST), never in the path: the route table stays flat.

// Page templates of the reviewers' pages.
const (
	pageStaffReviewQueue = "staff_review_queue.html"
	pageStaffReviewCase  = "staff_review_case.html"
)

var staffReviewPages = []string{pageStaffReviewQueue, pageStaffReviewCase}

// staffReviewMessageIDs are the ids the reviewers' pages use from Go.
var staffReviewMessageIDs = []string{
	"staff.review.page_title", "staff.review.case_title", "staff.review.notice.approved", "staff.review.notice.rejected",
	"staff.review.error.decided", "staff.review.error.own_account", "staff.review.error.reason", "staff.review.error.note",
	"staff.review.error.forbidden", "staff.review.outcome.auto_approve", "staff.review.outcome.review", "staff.review.outcome.approve",
	"staff.review.outcome.reject", "staff.review.hours", "staff.review.days",
}

// reviewState is the reviewers' part of the staff console.
type reviewState struct {
	wd *wallet.Withdrawals
}

// EnableWithdrawalReview adds the withdrawal reviewers' pages to the
// staff console (which must be configured: Config.Agents). Call it once,
// after New and before serving. Without it the routes answer 404.
func (s *Server) EnableWithdrawalReview(wd *wallet.Withdrawals) error {
	if s.staff == nil {
		return errors.New("web: the withdrawal review needs the staff console (Config.Agents)")
	}
	if wd == nil {
		return errors.New("web: EnableWithdrawalReview needs the withdrawals")
	}
	if err := s.parseStaffPages(staffReviewPages...); err != nil {
		return err
	}
	ids := append([]string(nil), staffReviewMessageIDs...)
	for _, r := range wallet.ReviewRules() {
		ids = append(ids, "withdraw.rule."+r.ID)
	}
	for _, r := range wallet.RejectReasons {
		ids = append(ids, "withdraw.reason."+r)
	}
	for _, st := range []string{wallet.StageReview, wallet.StageApproved, wallet.StageSubmitting, wallet.StageSent, wallet.StageCompleted, wallet.StageVoiding, wallet.StageVoided} {
		ids = append(ids, "withdraw.stage."+st)
	}
	var missing []string
	for _, id := range ids {
		if !s.cat.Has(id) {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("web: withdrawal review message ids missing from the catalog: %v", missing)
	}
	s.staff.review = &reviewState{wd: wd}
	return nil
}

// staffReviewRoutes are the reviewers' routes (StaffRoutes lists them).
func (s *Server) staffReviewRoutes() []StaffRoute {
	h := func(f func(http.ResponseWriter, *http.Request)) http.Handler { return http.HandlerFunc(f) }
	return []StaffRoute{
		{http.MethodGet, "/staff/withdrawals", StaffFull, agent.PermWithdrawalReview, h(s.handleStaffReviewQueue)},
		{http.MethodGet, "/staff/withdrawals/case", StaffFull, agent.PermWithdrawalReview, h(s.handleStaffReviewCase)},
		{http.MethodPost, "/staff/withdrawals/approve", StaffSudo, agent.PermWithdrawalReview, h(s.handleStaffReviewApprove)},
		{http.MethodPost, "/staff/withdrawals/reject", StaffSudo, agent.PermWithdrawalReview, h(s.handleStaffReviewReject)},
	}
}

// review returns the withdrawals, or answers 404 when the pages are off.
func (s *Server) review(w http.ResponseWriter, r *http.Request) *wallet.Withdrawals {
	if s.staff == nil || s.staff.review == nil {
		s.staffError(w, r, http.StatusNotFound, "notfound.title", "notfound.body")
		return nil
	}
	return s.staff.review.wd
}

// ---- page helpers ----

// ReviewMoney formats an amount in the page's language.
func (p *page) ReviewMoney(a money.Amount) string { return a.Format(string(p.Lang)) }

// ReviewRule names a review rule in the page's language.
func (p *page) ReviewRule(id string) string { return p.T("withdraw.rule." + id) }

// ReviewStage names a withdrawal's stage in the page's language.
func (p *page) ReviewStage(stage string) string {
	if stage == "" {
		return ""
	}
	return p.T("withdraw.stage." + stage)
}

// ReviewReason names a rejection reason in the page's language.
func (p *page) ReviewReason(r string) string { return p.T("withdraw.reason." + r) }

// ReviewAge says a duration in days (or hours under a day).
func (p *page) ReviewAge(d time.Duration) string {
	if d < 24*time.Hour {
		return p.T("staff.review.hours", "N", int(d/time.Hour))
	}
	return p.T("staff.review.days", "N", int(d/(24*time.Hour)))
}

// ReviewFailure is why a withdrawal failed, in the page's language.
func (p *page) ReviewFailure(wd *wallet.Withdrawal) string {
	if p.s.staff == nil || p.s.staff.review == nil {
		return wd.Txn.FailureReason
	}
	return p.s.staff.review.wd.FailureText(wd, p.Lang)
}

// ReviewRuleDetail says why a rule matched, in the page's language, from
// the values the rule kept (wallet.RuleDetail); a decision recorded
// before rules kept them, or with a value this page cannot read, shows
// the rule's English sentence.
func (p *page) ReviewRuleDetail(m wallet.RuleMatch) string {
	id := "withdraw.rule_detail." + m.Key
	if m.Key == "" || !p.s.cat.Has(id) {
		return m.Detail
	}
	cur := money.Currency(m.Args["currency"])
	kv := make([]any, 0, 2*len(m.Args))
	for k, v := range m.Args {
		switch k {
		case "amount", "limit":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return m.Detail
			}
			kv = append(kv, map[string]string{"amount": "Amount", "limit": "Limit"}[k], p.ReviewMoney(money.New(n, cur)))
		case "window_hours":
			h, err := strconv.Atoi(v)
			if err != nil || h < 0 {
				return m.Detail
			}
			kv = append(kv, "Window", p.reviewWindow(h))
		case "count":
			kv = append(kv, "Count", v)
		case "currency":
			kv = append(kv, "Currency", v)
		case "event":
			kv = append(kv, "Event", p.ReviewEvent(v))
		case "name":
			kv = append(kv, "Name", v)
		}
	}
	return p.T(id, kv...)
}

// reviewWindow says a rule's period: whole days as days, else hours.
func (p *page) reviewWindow(h int) string {
	switch {
	case h == 24:
		return p.T("withdraw.rule_detail.one_day")
	case h > 0 && h%24 == 0:
		return p.T("withdraw.rule_detail.days", "N", h/24)
	case h == 1:
		return p.T("withdraw.rule_detail.one_hour")
	}
	return p.T("withdraw.rule_detail.hours", "N", h)
}

// ReviewEvent names a security event (its audit name, kept as it is: the
// names are the OWASP vocabulary the risk team reads).
func (p *page) ReviewEvent(name string) string { return name }

// ---- the queue ----

// staffReviewQueueData is the content of staff_review_queue.html.
type staffReviewQueueData struct {
	staffNav
	Items []*wallet.ReviewItem
}

func (s *Server) handleStaffReviewQueue(w http.ResponseWriter, r *http.Request) {
	wd := s.review(w, r)
	if wd == nil {
		return
	}
	items, err := wd.ReviewQueue(r.Context(), 100)
	if err != nil {
		s.staffInternal(w, r, err)
		return
	}
	p := s.staffPage(r, "staff.review.page_title")
	p.doneNotice(r, "staff.review.notice.", "approved", "rejected")
	p.Data = staffReviewQueueData{staffNav: s.navFor(r), Items: items}
	s.render(w, r, pageStaffReviewQueue, p)
}

// ---- one withdrawal ----

// staffReviewCaseData is the content of staff_review_case.html.
type staffReviewCaseData struct {
	staffNav
	Case    *wallet.ReviewCase
	Rules   []wallet.RuleMatch
	Reasons []string
}

// reviewID reads a withdrawal id (txn_…) from the query or the form.
func reviewID(r *http.Request) (int64, bool) {
	v := r.URL.Query().Get("id")
	if r.Method == http.MethodPost {
		v = r.PostFormValue("id")
	}
	return wallet.ParseWithdrawalRef(v)
}

// staffReviewCasePage builds the case page of withdrawal id (false: an
// answer was sent).
func (s *Server) staffReviewCasePage(w http.ResponseWriter, r *http.Request, wd *wallet.Withdrawals, id int64, f *form) (*page, bool) {
	c, err := wd.ReviewCase(r.Context(), id)
	if err != nil {
		if code(err) == okpay.ENotFound {
			s.staffError(w, r, http.StatusNotFound, "notfound.title", "notfound.body")
			return nil, false
		}
		s.staffInternal(w, r, err)
		return nil, false
	}
	p := s.staffPage(r, "staff.review.case_title")
	p.Form = f
	var rules []wallet.RuleMatch
	for _, d := range c.Decisions {
		if d.Actor == "rules" {
			rules = d.Rules
		}
	}
	p.Data = staffReviewCaseData{staffNav: s.navFor(r), Case: c, Rules: rules, Reasons: wallet.RejectReasons}
	return p, true
}

func (s *Server) handleStaffReviewCase(w http.ResponseWriter, r *http.Request) {
	wd := s.review(w, r)
	if wd == nil {
		return
	}
	id, ok := reviewID(r)
	if !ok {
		s.staffError(w, r, http.StatusNotFound, "notfound.title", "notfound.body")
		return
	}
	p, ok := s.staffReviewCasePage(w, r, wd, id, newForm())
	if !ok {
		return
	}
	s.render(w, r, pageStaffReviewCase, p)
}

// staffReviewDecide runs a decision from the case page's forms and shows
// the page again with the refusal, or goes back to the queue.
func (s *Server) staffReviewDecide(w http.ResponseWriter, r *http.Request, decide func(wd *wallet.Withdrawals, a *agent.Agent, id int64, f *form) error, done string) {
	wd := s.review(w, r)
	if wd == nil {
		return
	}
	id, ok := reviewID(r)
	if !ok {
		s.staffError(w, r, http.StatusNotFound, "notfound.title", "notfound.body")
		return
	}
	f := newForm().keep(r, "note", "reason")
	err := decide(wd, staffFrom(r).agent, id, f)
	if err == nil {
		redirect(w, r, "/staff/withdrawals?done="+done)
		return
	}
	p, ok := s.staffReviewCasePage(w, r, wd, id, f)
	if !ok {
		return
	}
	switch code(err) {
	case wallet.EAlreadyDecided:
		f.fail(p.T("staff.review.error.decided"))
		p.Status = http.StatusConflict
	case wallet.EOwnAccount:
		f.fail(p.T("staff.review.error.own_account"))
		p.Status = http.StatusForbidden
	case okpay.EForbidden:
		f.fail(p.T("staff.review.error.forbidden"))
		p.Status = http.StatusForbidden
	case okpay.EInvalid:
		for field := range fieldErrors(err) {
			switch field {
			case "reason":
				f.set("reason", p.T("staff.review.error.reason"))
			default:
				f.set("note", p.T("staff.review.error.note"))
			}
		}
		p.Status = http.StatusUnprocessableEntity
	case okpay.ENotFound:
		s.staffError(w, r, http.StatusNotFound, "notfound.title", "notfound.body")
		return
	default:
		s.staffInternal(w, r, err)
		return
	}
	s.render(w, r, pageStaffReviewCase, p)
}

func (s *Server) handleStaffReviewApprove(w http.ResponseWriter, r *http.Request) {
	s.staffReviewDecide(w, r, func(wd *wallet.Withdrawals, a *agent.Agent, id int64, f *form) error {
		return wd.Approve(r.Context(), a, id, f.Value("note"), s.staffMeta(w, r))
	}, "approved")
}

func (s *Server) handleStaffReviewReject(w http.ResponseWriter, r *http.Request) {
	s.staffReviewDecide(w, r, func(wd *wallet.Withdrawals, a *agent.Agent, id int64, f *form) error {
		return wd.Reject(r.Context(), a, id, f.Value("reason"), f.Value("note"), s.staffMeta(w, r))
	}, "rejected")
}
