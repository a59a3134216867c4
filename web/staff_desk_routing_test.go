package web_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	"github.com/okpay/okpay/agent"
	"github.com/okpay/okpay/desk"
)

// TestDeskPresence walks the availability switch of the staff navigation
// and the console's heartbeat over HTTP.
func TestDeskPresence(t *testing.T) {
	t.Parallel()
	e := newStaffEnv(t, agent.Config{})
	worker := e.newMember(t, agent.RoleAgent)
	id := worker.agent.ID

	// The switch is in the navigation of agents who read conversations.
	res := worker.c.get("/staff/desk")
	wantStatus(t, res, http.StatusOK)
	wantContains(t, res.body, `data-testid="nav-presence"`, `data-testid="nav-presence-online"`, `action="/staff/desk/presence"`)

	// The conversation page (whose data has its own Me) shows it too.
	conv := e.customerConversation(t, 515151, "hello")
	wantContains(t, worker.c.get("/staff/desk/conversation?id="+desk.ConversationRef(conv.ID)).body, `data-testid="nav-presence"`, `data-status="offline"`)

	// Without JavaScript: the form posts and the agent goes back.
	res = worker.c.post("/staff/desk/presence", url.Values{"status": {"online"}, "next": {"/staff/desk?view=mine"}})
	wantStatus(t, res, http.StatusSeeOther)
	if loc := res.Header.Get("Location"); loc != "/staff/desk?view=mine" {
		t.Fatalf("redirect to %q", loc)
	}
	p, err := e.desk.AgentPresence(e.ctx, id)
	if err != nil || p.Status != desk.PresenceOnline || p.Effective != desk.PresenceOnline {
		t.Fatalf("presence %+v, %v", p, err)
	}
	wantContains(t, worker.c.get("/staff/desk").body, `data-status="online"`, `aria-pressed="true" data-testid="nav-presence-online"`)
	// next never leaves the staff console.
	res = worker.c.post("/staff/desk/presence", url.Values{"status": {"online"}, "next": {"/account"}})
	if loc := res.Header.Get("Location"); loc != "/staff/desk" {
		t.Fatalf("redirect to %q", loc)
	}

	// presence.js: JSON answers.
	jsonHdr := map[string]string{"Accept": "application/json"}
	res = worker.c.doHeaders(http.MethodPost, "/staff/desk/presence", url.Values{"status": {"away"}}, jsonHdr)
	wantStatus(t, res, http.StatusOK)
	var got struct {
		Status, Effective string
		Capacity          int
	}
	if err := json.Unmarshal([]byte(res.body), &got); err != nil || got.Status != "away" || got.Effective != "away" || got.Capacity != desk.DefaultCapacity {
		t.Fatalf("presence answer %s (%v)", res.body, err)
	}
	res = worker.c.doHeaders(http.MethodPost, "/staff/desk/presence", url.Values{"status": {"busy"}}, jsonHdr)
	wantStatus(t, res, http.StatusBadRequest)
	res = worker.c.post("/staff/desk/presence", url.Values{"status": {"busy"}})
	wantStatus(t, res, http.StatusBadRequest)

	res = worker.c.doHeaders(http.MethodPost, "/staff/desk/heartbeat", url.Values{}, jsonHdr)
	wantStatus(t, res, http.StatusOK)
	if err := json.Unmarshal([]byte(res.body), &got); err != nil || got.Effective != "away" {
		t.Fatalf("heartbeat answer %s (%v)", res.body, err)
	}

	// A GET does not change presence; a signed-out client is sent to sign in.
	if res := worker.c.get("/staff/desk/presence"); res.StatusCode == http.StatusOK || res.StatusCode == http.StatusSeeOther {
		t.Fatalf("GET presence: %d", res.StatusCode)
	}
	anon := e.client()
	res = anon.post("/staff/desk/heartbeat", url.Values{})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/staff/login" {
		t.Fatalf("signed out heartbeat: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
}
