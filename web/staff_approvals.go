package web

import (
	"net/http"
	"time"

	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/support"
)

// The approvals page of the agent console (/staff/approvals,
// approval:approve): the maker-checker requests waiting for a second
// agent (SUP-02), with what the maker stated, and approve / reject forms
// that need a reason. A request's maker sees it marked as theirs and
// gets 403 with a clear message if they try to decide it; an approval
// runs the action at once (package support).

// approvalRow is one request on the page.
type approvalRow struct {
	R        *support.Request
	Ref      string
	Customer string
	Maker    string
	Mine     bool
	// NotBefore is when an assisted recovery may run (REC-08's delay;
	// zero for the other kinds).
	NotBefore time.Time
}

// staffApprovalsData is the content of staff_approvals.html.
type staffApprovalsData struct {
	staffNav
	Rows []approvalRow
	// Recent are the requests decided or expired lately.
	Recent []approvalRow
}

func (s *Server) handleApprovals(w http.ResponseWriter, r *http.Request) {
	s.approvalsPage(w, r, newForm(), http.StatusOK)
}

func (s *Server) approvalsPage(w http.ResponseWriter, r *http.Request, f *form, status int) {
	svc := s.supportService(w, r)
	if svc == nil {
		return
	}
	a := staffFrom(r).agent
	p := s.staffPage(r, "support.approvals.page_title")
	p.Form = f
	p.Status = status
	switch d := r.URL.Query().Get("done"); d {
	case "approved", "rejected":
		p.Notice = p.T("support.notice." + d)
	}
	list, err := svc.Requests(r.Context(), support.RequestFilter{Limit: 100})
	if err != nil {
		s.staffInternal(w, r, err)
		return
	}
	names := &deskNames{s: s, p: p, ctx: r.Context(), me: a, cache: map[int64]string{}}
	d := staffApprovalsData{staffNav: s.navFor(r)}
	for _, q := range list {
		row := approvalRow{R: q, Ref: q.Ref(), Customer: ids.Format(identity.UserPrefix, q.CustomerID), Maker: names.agent(q.MakerID), Mine: q.MakerID == a.ID}
		if q.Kind == support.KindResetFactors {
			row.NotBefore = q.CreatedAt.Add(svc.Config().RecoveryDelay)
		}
		if q.Status == support.StatusPending {
			d.Rows = append(d.Rows, row)
		} else if len(d.Recent) < 20 {
			d.Recent = append(d.Recent, row)
		}
	}
	p.Data = d
	s.render(w, r, pageStaffApprovals, p)
}

// handleApprovalDecide approves or rejects the request of the form.
func (s *Server) handleApprovalDecide(approve bool) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		svc := s.supportService(w, r)
		if svc == nil {
			return
		}
		id, ok := support.ParseRequestRef(r.PostFormValue("request"))
		if !ok {
			s.staffError(w, r, http.StatusNotFound, "notfound.title", "notfound.body")
			return
		}
		a := staffFrom(r).agent
		decide, done := svc.Reject, "rejected"
		if approve {
			decide, done = svc.Approve, "approved"
		}
		if _, err := decide(r.Context(), a, id, r.PostFormValue("reason"), s.staffMeta(w, r)); err != nil {
			f := newForm()
			p := s.staffPage(r, "support.approvals.page_title")
			status := p.supportErrorText(f, err)
			if status == 0 {
				s.staffInternal(w, r, err)
				return
			}
			s.approvalsPage(w, r, f, status)
			return
		}
		redirect(w, r, "/staff/approvals?done="+done)
	}
}
