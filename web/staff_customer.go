package web

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/agent"
	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/support"
	"github.com/okpay/okpay/wallet"
)

// The customer context panel of the agent console (/staff/customer) and
// its typed account actions (package support): the context of a
// conversation's customer, personal data masked; a reveal of one field
// with a reason (SUP-03, audited); look up a transaction; freeze, end
// every session, send a reset link, resend a notification at once; and
// the maker-checker requests (unfreeze, second-factor reset, lifting a
// hold) that a second agent approves on /staff/approvals
// (staff_approvals.go). The conversation travels in the query (GET) or
// the form (POST), never in the path; the service derives the customer
// from it, so no form names a customer. Revealed values and lookups are
// answered on the page of the POST, never in a URL.

// supportState is the console's support part, nil until EnableSupport.
type supportState struct {
	svc *support.Service
}

// Page templates of the panel and the approvals page.
const (
	pageStaffCustomer  = "staff_customer.html"
	pageStaffApprovals = "staff_approvals.html"
)

// supportMessageIDs are the ids the panel uses from Go code.
var supportMessageIDs = []string{
	"support.page_title", "support.approvals.page_title", "support.link.context",
	"support.notice.frozen", "support.notice.revoked", "support.notice.reset", "support.notice.resent",
	"support.notice.requested", "support.notice.approved", "support.notice.rejected", "support.notice.revealed",
	"support.error.reason", "support.error.field", "support.error.ref", "support.error.verification",
	"support.error.evidence", "support.error.reviewed", "support.error.invalid", "support.error.not_found",
	"support.error.forbidden", "support.error.conflict",
	"support.error." + support.ESelfApproval, "support.error." + support.EOwnAccount, "support.error." + support.ENoCustomer,
	"support.error." + support.ERequestClosed, "support.error." + support.ERequestPending, "support.error." + support.ENotFrozen,
	"support.error." + support.EAlreadyFrozen, "support.error." + support.ENoReset, "support.error." + support.ENoHold,
	"support.error." + support.ERecoveryDelay,
}

// EnableSupport adds the customer context panel and the approvals page
// to the agent console (it needs the staff console and the desk).
func (s *Server) EnableSupport(svc *support.Service) error {
	if s.staff == nil {
		return errors.New("web: the customer panel needs the staff console (Config.Agents)")
	}
	if svc == nil {
		return errors.New("web: EnableSupport needs the support service")
	}
	if err := s.parseStaffPages(pageStaffCustomer, pageStaffApprovals); err != nil {
		return err
	}
	ids := slices.Clone(supportMessageIDs)
	for _, k := range support.Kinds() {
		ids = append(ids, "support.kind."+string(k))
	}
	for _, st := range support.Statuses() {
		ids = append(ids, "support.status."+string(st))
	}
	for _, f := range support.RevealFields() {
		ids = append(ids, "support.field."+f)
	}
	var missing []string
	for _, id := range ids {
		if !s.cat.Has(id) {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("web: support message ids missing from the catalog: %v", missing)
	}
	s.staff.support = &supportState{svc: svc}
	return nil
}

// staffCustomerRoutes are the panel's and the approvals page's routes
// (StaffRoutes lists them); without EnableSupport they answer 404.
func (s *Server) staffCustomerRoutes() []StaffRoute {
	h := func(f func(http.ResponseWriter, *http.Request)) http.Handler { return http.HandlerFunc(f) }
	get, post := http.MethodGet, http.MethodPost
	return []StaffRoute{
		{get, "/staff/customer", StaffFull, agent.PermCustomerRead, h(s.handleCustomer)},
		{post, "/staff/customer/reveal", StaffFull, agent.PermCustomerRevealPII, h(s.handleCustomerReveal)},
		{post, "/staff/customer/lookup", StaffFull, agent.PermTransactionRead, h(s.handleCustomerLookup)},
		{post, "/staff/customer/freeze", StaffFull, agent.PermCustomerFreeze, h(s.handleCustomerFreeze)},
		{post, "/staff/customer/revoke", StaffFull, agent.PermCustomerRevokeSessions, h(s.handleCustomerRevoke)},
		{post, "/staff/customer/reset", StaffFull, agent.PermCustomerSendReset, h(s.handleCustomerReset)},
		{post, "/staff/customer/resend", StaffFull, agent.PermCustomerResendNotice, h(s.handleCustomerResend)},
		{post, "/staff/customer/unfreeze", StaffFull, agent.PermCustomerUnfreezeRequest, h(s.handleCustomerRequest(support.KindUnfreeze))},
		{post, "/staff/customer/reset-factors", StaffFull, agent.PermCustomerResetFactorReq, h(s.handleCustomerRequest(support.KindResetFactors))},
		{post, "/staff/customer/lift-hold", StaffFull, agent.PermHoldLift, h(s.handleCustomerRequest(support.KindLiftHold))},
		{get, "/staff/approvals", StaffFull, agent.PermApprovalApprove, h(s.handleApprovals)},
		{post, "/staff/approvals/approve", StaffSudo, agent.PermApprovalApprove, h(s.handleApprovalDecide(true))},
		{post, "/staff/approvals/reject", StaffSudo, agent.PermApprovalApprove, h(s.handleApprovalDecide(false))},
	}
}

// supportService returns the service, or answers 404 when the panel is
// off.
func (s *Server) supportService(w http.ResponseWriter, r *http.Request) *support.Service {
	if s.staff == nil || s.staff.support == nil {
		s.staffError(w, r, http.StatusNotFound, "notfound.title", "notfound.body")
		return nil
	}
	return s.staff.support.svc
}

// ---- page helpers ----

// SupportKind is a request kind's name in the page's language.
func (p *page) SupportKind(k support.Kind) string { return p.T("support.kind." + string(k)) }

// SupportStatus is a request status's name in the page's language.
func (p *page) SupportStatus(st support.Status) string { return p.T("support.status." + string(st)) }

// RequestOutcome is what became of a request, in the page's language: its
// status, or "cancelled by the customer" for an assisted recovery its
// owner cancelled with the link (REC-08: rejected, the customer as the
// checker).
func (p *page) RequestOutcome(r *support.Request) string {
	if r.Status == support.StatusRejected && r.CheckerRole == "customer" {
		return p.T("support.status.cancelled")
	}
	return p.SupportStatus(r.Status)
}

// TxnType and TxnStatus name a transaction's type and status in the page's
// language, as the customer's own pages do.
func (p *page) TxnType(t wallet.Type) string      { return p.T("walletui.type." + string(t)) }
func (p *page) TxnStatus(st wallet.Status) string { return p.T("walletui.status." + string(st)) }

// MethodKind and MethodStatus name a payment method's kind and status in
// the page's language; a status the customer's pages word for the
// customer ("Waiting for your code") has the agent's wording.
func (p *page) MethodKind(k string) string { return p.T("paymethod.kind." + k) }
func (p *page) MethodStatus(st string) string {
	if id := "support.method_status." + st; p.s.cat.Has(id) {
		return p.T(id)
	}
	return p.T("paymethod.status." + st)
}

// FailureName is a failure code's text in the page's language (the
// customer's wording), or the code itself when the catalog has none.
func (p *page) FailureName(code string) string {
	if id := "wallet.failure." + code; p.s.cat.Has(id) {
		return p.T(id)
	}
	return code
}

// SupportField is a revealable field's name in the page's language.
func (p *page) SupportField(f string) string { return p.T("support.field." + f) }

// AgentRef is an agent's public id.
func (p *page) AgentRef(id int64) string { return agent.Ref(id) }

// supportErrorText is what the panel says about a refused action, with
// its status (0: not an expected refusal).
func (p *page) supportErrorText(f *form, err error) int {
	switch c := code(err); c {
	case okpay.EInvalid:
		known := false
		for field := range fieldErrors(err) {
			id := "support.error." + field
			if p.s.cat.Has(id) {
				f.set(field, p.T(id))
				known = true
			}
		}
		if !known {
			f.fail(p.T("support.error.invalid"))
		}
		return http.StatusUnprocessableEntity
	case okpay.ENotFound:
		f.fail(p.T("support.error.not_found"))
		return http.StatusNotFound
	case okpay.EForbidden:
		f.fail(p.T("support.error.forbidden"))
		return http.StatusForbidden
	case support.ESelfApproval, support.EOwnAccount:
		f.fail(p.T("support.error." + c))
		return http.StatusForbidden
	case support.ENoCustomer, support.ERequestClosed, support.ERequestPending, support.ENotFrozen, support.EAlreadyFrozen,
		support.ENoReset, support.ENoHold, support.ERecoveryDelay:
		f.fail(p.T("support.error." + c))
		return http.StatusConflict
	case okpay.EConflict:
		f.fail(p.T("support.error.conflict"))
		return http.StatusConflict
	}
	return 0
}

// ---- the panel ----

// staffCustomerData is the content of staff_customer.html.
type staffCustomerData struct {
	staffNav
	C   *support.CustomerContext
	Ref string
	// Revealed is a field shown in full after a reveal (SUP-03).
	RevealedField string
	RevealedValue string
	// Lookup is a transaction looked up by reference.
	Lookup *support.Txn
	Fields []string
	// What the agent may do.
	CanReveal, CanLookup, CanFreeze, CanRevoke, CanReset, CanResend, CanUnfreeze, CanResetFactors, CanLiftHold bool
	Verifications                                                                                              []string
}

// customerPage builds the panel of conversation id (false: an answer was
// sent already).
func (s *Server) customerPage(w http.ResponseWriter, r *http.Request, svc *support.Service, id int64, f *form) (*page, bool) {
	a := staffFrom(r).agent
	p := s.staffPage(r, "support.page_title")
	p.Form = f
	cc, err := svc.Context(r.Context(), a, id)
	if err != nil {
		ef := newForm()
		if st := p.supportErrorText(ef, err); st != 0 {
			s.staffErrorText(w, r, st, ef.General())
			return nil, false
		}
		s.staffInternal(w, r, err)
		return nil, false
	}
	p.Data = &staffCustomerData{staffNav: s.navFor(r), C: cc, Ref: desk.ConversationRef(id), Fields: support.RevealFields(),
		CanReveal: agent.Can(a, agent.PermCustomerRevealPII), CanLookup: agent.Can(a, agent.PermTransactionRead),
		CanFreeze: agent.Can(a, agent.PermCustomerFreeze), CanRevoke: agent.Can(a, agent.PermCustomerRevokeSessions),
		CanReset: agent.Can(a, agent.PermCustomerSendReset), CanResend: agent.Can(a, agent.PermCustomerResendNotice),
		CanUnfreeze: agent.Can(a, agent.PermCustomerUnfreezeRequest), CanResetFactors: agent.Can(a, agent.PermCustomerResetFactorReq),
		CanLiftHold:   agent.Can(a, agent.PermHoldLift),
		Verifications: []string{support.VerifyIDSelfie, support.VerifyPasskey}}
	return p, true
}

// staffErrorText shows an error page with a text already translated.
func (s *Server) staffErrorText(w http.ResponseWriter, r *http.Request, status int, text string) {
	p := s.staffPage(r, "support.page_title")
	p.Status = status
	p.Heading = p.T("support.page_title")
	p.Data = staffMessageData{staffNav: s.navFor(r), TestID: "staff-error", Status: status, Body: []string{text},
		LinkHref: "/staff/", LinkText: p.T("staff.link.back")}
	s.render(w, r, pageStaffMessage, p)
}

func (s *Server) handleCustomer(w http.ResponseWriter, r *http.Request) {
	svc, id, ok := staffConversation(s, w, r, s.supportService)
	if !ok {
		return
	}
	p, ok := s.customerPage(w, r, svc, id, newForm())
	if !ok {
		return
	}
	p.doneNotice(r, "support.notice.", "frozen", "revoked", "reset", "resent", "requested")
	s.render(w, r, pageStaffCustomer, p)
}

// customerAct runs an action on the conversation of the form: back to
// the panel with a notice (PRG), or the panel again with the refusal.
func (s *Server) customerAct(w http.ResponseWriter, r *http.Request, done string, keep []string, act func(svc *support.Service, a *agent.Agent, id int64) error) {
	svc, id, ok := staffConversation(s, w, r, s.supportService)
	if !ok {
		return
	}
	a := staffFrom(r).agent
	err := act(svc, a, id)
	if err == nil {
		redirect(w, r, "/staff/customer?id="+desk.ConversationRef(id)+"&done="+done)
		return
	}
	s.customerRefused(w, r, svc, id, keep, err)
}

// customerRefused shows the panel again with why err refused the action.
func (s *Server) customerRefused(w http.ResponseWriter, r *http.Request, svc *support.Service, id int64, keep []string, err error) {
	f := newForm().keep(r, keep...)
	probe := s.staffPage(r, "support.page_title")
	status := probe.supportErrorText(f, err)
	if status == 0 {
		s.staffInternal(w, r, err)
		return
	}
	p, ok := s.customerPage(w, r, svc, id, f)
	if !ok {
		return
	}
	p.Status = status
	s.render(w, r, pageStaffCustomer, p)
}

func (s *Server) handleCustomerReveal(w http.ResponseWriter, r *http.Request) {
	svc, id, ok := staffConversation(s, w, r, s.supportService)
	if !ok {
		return
	}
	field := r.PostFormValue("field")
	v, err := svc.Reveal(r.Context(), staffFrom(r).agent, id, field, r.PostFormValue("reason"), s.staffMeta(w, r))
	if err != nil {
		s.customerRefused(w, r, svc, id, []string{"reason", "field"}, err)
		return
	}
	p, ok := s.customerPage(w, r, svc, id, newForm())
	if !ok {
		return
	}
	d := p.Data.(*staffCustomerData)
	d.RevealedField, d.RevealedValue = field, v
	p.Notice = p.T("support.notice.revealed")
	s.render(w, r, pageStaffCustomer, p)
}

func (s *Server) handleCustomerLookup(w http.ResponseWriter, r *http.Request) {
	svc, id, ok := staffConversation(s, w, r, s.supportService)
	if !ok {
		return
	}
	t, err := svc.LookupTransaction(r.Context(), staffFrom(r).agent, id, r.PostFormValue("ref"), s.staffMeta(w, r))
	if err != nil {
		s.customerRefused(w, r, svc, id, []string{"ref"}, err)
		return
	}
	p, ok := s.customerPage(w, r, svc, id, newForm())
	if !ok {
		return
	}
	p.Data.(*staffCustomerData).Lookup = t
	s.render(w, r, pageStaffCustomer, p)
}

func (s *Server) handleCustomerFreeze(w http.ResponseWriter, r *http.Request) {
	s.customerAct(w, r, "frozen", []string{"reason"}, func(svc *support.Service, a *agent.Agent, id int64) error {
		return svc.Freeze(r.Context(), a, id, r.PostFormValue("reason"), s.staffMeta(w, r))
	})
}

func (s *Server) handleCustomerRevoke(w http.ResponseWriter, r *http.Request) {
	s.customerAct(w, r, "revoked", []string{"reason"}, func(svc *support.Service, a *agent.Agent, id int64) error {
		_, err := svc.RevokeSessions(r.Context(), a, id, r.PostFormValue("reason"), s.staffMeta(w, r))
		return err
	})
}

func (s *Server) handleCustomerReset(w http.ResponseWriter, r *http.Request) {
	s.customerAct(w, r, "reset", []string{"reason"}, func(svc *support.Service, a *agent.Agent, id int64) error {
		return svc.SendReset(r.Context(), a, id, r.PostFormValue("reason"), s.staffMeta(w, r))
	})
}

func (s *Server) handleCustomerResend(w http.ResponseWriter, r *http.Request) {
	s.customerAct(w, r, "resent", []string{"reason"}, func(svc *support.Service, a *agent.Agent, id int64) error {
		n, err := strconv.ParseInt(r.PostFormValue("notice"), 10, 64)
		if err != nil {
			return okpay.Errorf(okpay.ENotFound, "no such notification")
		}
		return svc.ResendNotice(r.Context(), a, id, n, r.PostFormValue("reason"), s.staffMeta(w, r))
	})
}

// handleCustomerRequest makes a maker-checker request of kind k.
func (s *Server) handleCustomerRequest(k support.Kind) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		s.customerAct(w, r, "requested", []string{"reason", "evidence", "verification"}, func(svc *support.Service, a *agent.Agent, id int64) error {
			_, err := svc.CreateRequest(r.Context(), a, id, support.RequestInput{Kind: k, Reason: r.PostFormValue("reason"),
				Verification: r.PostFormValue("verification"), Evidence: r.PostFormValue("evidence"),
				DevicesReviewed: r.PostFormValue("devices_reviewed") == "yes", MethodsReviewed: r.PostFormValue("methods_reviewed") == "yes"}, s.staffMeta(w, r))
			return err
		})
	}
}
