package web

import (
	"net/http"

	"github.com/okpay/okpay/agent"
	"github.com/okpay/okpay/desk"
)

// The desk at a glance (/staff/desk for those with desk:overview but not
// conversation:read: the admin role, which runs the desk without
// answering customers, SUP-01's least privilege). Counts of conversations
// by status, the unassigned queue, breached SLA timers, each team's open
// work and each active agent's availability and load, with links to the
// pages the admin has (desk settings, reports). No conversation content
// and no customer data reach this page.

const pageStaffDeskOverview = "staff_desk_overview.html"

// deskOverviewAgent is an agent row of the overview.
type deskOverviewAgent struct {
	Ref, Name string
	Presence  desk.PresenceStatus
	Load      int
	Capacity  int
}

// staffDeskOverviewData is the content of staff_desk_overview.html.
type staffDeskOverviewData struct {
	staffNav
	*desk.Overview
	Statuses []deskOverviewStatus
	Agents   []deskOverviewAgent
}

type deskOverviewStatus struct {
	Status desk.Status
	Count  int
}

func (s *Server) handleDeskOverview(w http.ResponseWriter, r *http.Request, svc *desk.Service) {
	o, err := svc.Overview(r.Context())
	if err != nil {
		s.staffInternal(w, r, err)
		return
	}
	agents, err := s.staff.svc.List(r.Context(), agent.Filter{Status: agent.StatusActive})
	if err != nil {
		s.staffInternal(w, r, err)
		return
	}
	d := staffDeskOverviewData{staffNav: s.navFor(r), Overview: o, Statuses: []deskOverviewStatus{
		{desk.StatusOpen, o.Open}, {desk.StatusPending, o.Pending}, {desk.StatusSnoozed, o.Snoozed}}}
	for _, a := range agents {
		if !agent.Can(a, agent.PermConversationReply) { // those who answer customers
			continue
		}
		pr, err := svc.AgentPresence(r.Context(), a.ID)
		if err != nil {
			s.staffInternal(w, r, err)
			return
		}
		d.Agents = append(d.Agents, deskOverviewAgent{Ref: a.Ref(), Name: a.DisplayName, Presence: pr.Effective, Load: pr.Load, Capacity: pr.Capacity})
	}
	p := s.staffPage(r, "console.overview.page_title")
	p.Data = d
	s.render(w, r, pageStaffDeskOverview, p)
}
