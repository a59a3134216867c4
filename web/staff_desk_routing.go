package web

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/agent"
	"github.com/okpay/okpay/desk"
)

// The agents' availability for auto-assignment (desk/presence.go). The
// switch in the staff navigation (templates/staff_partials.html) posts
// /staff/desk/presence and comes back to the page; the navigation shows the
// agent's current status (page.DeskPresence). While the console's live
// socket is open, the agent is "seen" every desk.HeartbeatInterval
// (keepSeenWhileLive, hooked into the socket's grant in staff_desk.go); an
// agent not seen for two minutes counts offline and their open
// conversations go back to the queue. /staff/desk/heartbeat does the same
// for a client that polls instead. Both routes need conversation:read, as
// the console does.

// staffDeskRoutingRoutes are the presence routes (none without the
// console).
func (s *Server) staffDeskRoutingRoutes() []StaffRoute {
	h := func(f func(http.ResponseWriter, *http.Request)) http.Handler { return http.HandlerFunc(f) }
	return []StaffRoute{
		{http.MethodPost, "/staff/desk/presence", StaffFull, agent.PermConversationRead, h(s.handleDeskPresence)},
		{http.MethodPost, "/staff/desk/heartbeat", StaffFull, agent.PermConversationRead, h(s.handleDeskHeartbeat)},
	}
}

type presenceJSON struct {
	Status    desk.PresenceStatus `json:"status"`
	Effective desk.PresenceStatus `json:"effective"`
	Load      int                 `json:"load"`
	Capacity  int                 `json:"capacity"`
}

func writePresence(w http.ResponseWriter, p *desk.Presence) {
	b, _ := json.Marshal(presenceJSON{Status: p.Status, Effective: p.Effective, Load: p.Load, Capacity: p.Capacity})
	writeDeskJSON(w, http.StatusOK, b)
}

// handleDeskPresence sets the signed-in agent's availability: JSON for
// presence.js, otherwise back to the page the form was on.
func (s *Server) handleDeskPresence(w http.ResponseWriter, r *http.Request) {
	svc := s.deskService(w, r)
	if svc == nil {
		return
	}
	a := staffFrom(r).agent
	p, err := svc.SetPresence(r.Context(), a.ID, desk.PresenceStatus(r.PostFormValue("status")))
	if err != nil {
		if code(err) == okpay.EInvalid {
			if wantsJSON(r) {
				b, _ := json.Marshal(map[string]string{"error": "invalid status", "code": code(err)})
				writeDeskJSON(w, http.StatusBadRequest, b)
				return
			}
			s.staffError(w, r, http.StatusBadRequest, "problem.invalid_request.title", "problem.invalid_request.detail")
			return
		}
		s.staffInternal(w, r, err)
		return
	}
	if wantsJSON(r) {
		writePresence(w, p)
		return
	}
	next := safeNext(r.PostFormValue("next"))
	if !strings.HasPrefix(next, "/staff/") {
		next = "/staff/desk"
	}
	redirect(w, r, next)
}

// handleDeskHeartbeat refreshes the signed-in agent's last-seen time and
// answers their presence (JSON).
func (s *Server) handleDeskHeartbeat(w http.ResponseWriter, r *http.Request) {
	svc := s.deskService(w, r)
	if svc == nil {
		return
	}
	a := staffFrom(r).agent
	if err := svc.Heartbeat(r.Context(), a.ID); err != nil {
		s.staffInternal(w, r, err)
		return
	}
	p, err := svc.AgentPresence(r.Context(), a.ID)
	if err != nil {
		s.staffInternal(w, r, err)
		return
	}
	writePresence(w, p)
}

// DeskPresence returns what the navigation shows as the signed-in agent's
// availability ("online", "away" or "offline": offline once not seen for
// two minutes), or "" without the console. me is the navigation's Data.Me:
// the *agent.Agent, or the agent's reference where a page's data shadows
// it (the conversation page's Me).
func (p *page) DeskPresence(me any) string {
	if p.s == nil || p.s.desk == nil || p.s.desk.svc == nil {
		return ""
	}
	var agentID int64
	switch m := me.(type) {
	case *agent.Agent:
		if m != nil && agent.Can(m, agent.PermConversationRead) { // the admin's desk overview has no presence switch
			agentID = m.ID
		}
	case string:
		agentID, _ = agent.ParseRef(m)
	}
	if agentID <= 0 {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	pr, err := p.s.desk.svc.AgentPresence(ctx, agentID)
	if err != nil {
		p.s.log.Warn("web: load presence", "agent", agent.Ref(agentID), "err", err)
		return ""
	}
	return string(pr.Effective)
}

// keepSeenWhileLive wraps the console socket's grant check: from the
// first approved subscription until the connection ends (ctx is the
// connection's), agentID is seen every desk.HeartbeatInterval.
func (s *Server) keepSeenWhileLive(allow func(context.Context, int64) (bool, error), agentID int64) func(context.Context, int64) (bool, error) {
	var once sync.Once
	return func(ctx context.Context, conv int64) (bool, error) {
		ok, err := allow(ctx, conv)
		if ok && err == nil && s.desk != nil && s.desk.svc != nil {
			once.Do(func() { go s.deskHeartbeats(ctx, agentID) })
		}
		return ok, err
	}
}

func (s *Server) deskHeartbeats(ctx context.Context, agentID int64) {
	t := time.NewTicker(desk.HeartbeatInterval)
	defer t.Stop()
	for {
		if err := s.desk.svc.Heartbeat(ctx, agentID); err != nil && ctx.Err() == nil {
			s.log.Warn("web: presence heartbeat", "agent", agent.Ref(agentID), "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// DeskPresenceStatuses lists the statuses of the navigation's switch.
func (p *page) DeskPresenceStatuses() []string {
	var out []string
	for _, st := range desk.PresenceStatuses() {
		out = append(out, string(st))
	}
	return out
}
