package desk_test

import (
	"database/sql"
	"errors"
	"strings"
	"testing"

	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

func TestOpenCaseTx(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		open := func(key, reason string) int64 {
			t.Helper()
			var id int64
			if err := db.InTx(h.ctx, func(tx *sql.Tx) error {
				var err error
				id, err = h.svc.OpenCaseTx(h.ctx, tx, desk.CaseInput{CustomerID: alice, FreezeKey: key, Reason: reason,
					Subject: "Your account is frozen", CustomerMessage: "We froze your account to protect it."})
				return err
			}); err != nil {
				t.Fatalf("open case: %v", err)
			}
			return id
		}
		// A rolled-back freeze leaves no case.
		boom := errors.New("rollback")
		err := db.InTx(h.ctx, func(tx *sql.Tx) error {
			if _, err := h.svc.OpenCaseTx(h.ctx, tx, desk.CaseInput{CustomerID: alice, FreezeKey: "k0", Reason: "auto:x"}); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("rollback: %v", err)
		}
		if l, _ := h.svc.Conversations(h.ctx, desk.Agent(agentA), desk.ConversationFilter{CustomerID: alice}); len(l) != 0 {
			t.Fatalf("rolled-back freeze left %d conversations", len(l))
		}

		id := open("k1", "auto:lockouts_24h")
		if again := open("k1", "auto:lockouts_24h"); again != id {
			t.Fatalf("same freeze opened %d, then %d", id, again)
		}
		// Staff see it in the inbox, with the internal note.
		inbox, err := h.svc.Conversations(h.ctx, desk.Agent(agentA), desk.ConversationFilter{Status: []desk.Status{desk.StatusOpen}})
		if err != nil || len(inbox) != 1 || inbox[0].ID != id {
			t.Fatalf("inbox: %v %+v", err, inbox)
		}
		c := inbox[0]
		if c.Category != desk.CategorySecurityPrivacy || c.Priority != desk.PriorityHigh || c.Team != desk.TeamSecurity || c.CustomerID != alice {
			t.Fatalf("case: %+v", c)
		}
		staff := h.messages(desk.Agent(agentA), id)
		if len(staff) != 2 || !staff[0].Internal || !strings.Contains(staff[0].Body, "auto:lockouts_24h") || staff[1].Internal {
			t.Fatalf("staff messages: %+v", staff)
		}
		// The customer sees the conversation, not the note.
		mine, err := h.svc.Conversations(h.ctx, desk.Customer(alice), desk.ConversationFilter{})
		if err != nil || len(mine) != 1 || mine[0].ID != id {
			t.Fatalf("customer's conversations: %v %+v", err, mine)
		}
		cust := h.messages(desk.Customer(alice), id)
		if len(cust) != 1 || cust[0].Internal || cust[0].Seq != 1 || strings.Contains(cust[0].Body, "auto:") {
			t.Fatalf("customer messages: %+v", cust)
		}
		if _, err := h.svc.Conversation(h.ctx, desk.Customer(bob), id); err == nil {
			t.Fatal("another customer sees the case")
		}

		// A second freeze while the case is open reuses it, with a note.
		if again := open("k2", "self:app"); again != id {
			t.Fatalf("second freeze opened %d, want %d", again, id)
		}
		all, _ := h.svc.Conversations(h.ctx, desk.Agent(agentA), desk.ConversationFilter{CustomerID: alice})
		if len(all) != 1 {
			t.Fatalf("%d cases after a second freeze", len(all))
		}
		staff = h.messages(desk.Agent(agentA), id)
		if len(staff) != 3 || !staff[2].Internal || !strings.Contains(staff[2].Body, "self:app") {
			t.Fatalf("staff messages after second freeze: %+v", staff)
		}
		if cust := h.messages(desk.Customer(alice), id); len(cust) != 1 {
			t.Fatalf("customer sees %d messages", len(cust))
		}
	})
}
