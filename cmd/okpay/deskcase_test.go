package main

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/okpay/okpay/audit"
	"github.com/okpay/okpay/clock"
	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/desk/realtime"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

// RSK-04: every freeze opens (or reuses) a security support case in the
// freeze's transaction, and the freeze's audit event names it.
func TestFreezeOpensSupportCase(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		clk := clock.NewManual(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
		idgen := &ids.Sequence{}
		catalog, err := i18n.New()
		if err != nil {
			t.Fatal(err)
		}
		idsvc, _, _, err := newIdentityService(db, clk, idgen, catalog, &identityFlags{secretKey: strings.Repeat("ab", 32), dev: "on"}, "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		dsk, err := desk.New(desk.Deps{DB: db, Clock: clk, IDs: idgen, Bus: realtime.NewMemory(0)}, desk.Config{})
		if err != nil {
			t.Fatal(err)
		}
		hook := deskFreezeHook(dsk, catalog)
		fail := false
		idsvc.OnFreezeCase(func(ctx context.Context, tx *sql.Tx, userID int64) (string, error) {
			ref, err := hook(ctx, tx, userID)
			if err == nil && fail {
				err = errors.New("later failure")
			}
			return ref, err
		})
		now := clk.Now().UnixMicro()
		if _, err := db.Write.ExecContext(ctx, `INSERT INTO users (id, email, phone, password_hash, status, lang, created_at, updated_at)
			VALUES (42, 'a@example.com', '+8613800138000', 'x', 'active', 'zh-CN', $1, $1)`, now); err != nil {
			t.Fatal(err)
		}
		cases := func() []*desk.Conversation {
			t.Helper()
			l, err := dsk.Conversations(ctx, desk.Agent(7), desk.ConversationFilter{CustomerID: 42})
			if err != nil {
				t.Fatal(err)
			}
			return l
		}
		// A freeze that rolls back leaves no case.
		fail = true
		if err := idsvc.Freeze(ctx, 42, "self:app", "usr_x", identity.Meta{}); err == nil {
			t.Fatal("failing freeze succeeded")
		}
		if l := cases(); len(l) != 0 {
			t.Fatalf("rolled-back freeze left %d cases", len(l))
		}
		fail = false
		if err := idsvc.Freeze(ctx, 42, "self:app", "usr_x", identity.Meta{}); err != nil {
			t.Fatal(err)
		}
		l := cases()
		if len(l) != 1 || l[0].Category != desk.CategorySecurityPrivacy || l[0].Team != desk.TeamSecurity || l[0].Priority != desk.PriorityHigh {
			t.Fatalf("cases: %+v", l)
		}
		id := l[0].ID
		if l[0].Subject != catalog.T(i18n.Lang("zh-CN"), "deskcase.subject", nil) {
			t.Fatalf("subject %q", l[0].Subject)
		}
		staff, _ := dsk.Messages(ctx, desk.Agent(7), id, 0, desk.MaxPage)
		if len(staff) != 2 || !staff[0].Internal || !strings.Contains(staff[0].Body, "self:app") {
			t.Fatalf("staff messages %+v", staff)
		}
		cust, _ := dsk.Messages(ctx, desk.Customer(42), id, 0, desk.MaxPage)
		if len(cust) != 1 || cust[0].Internal {
			t.Fatalf("customer messages %+v", cust)
		}
		frozen := func() []string {
			entries, err := audit.New(db).List(ctx, ids.Format(identity.UserPrefix, 42), 50, 0)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, e := range entries {
				if e.Name == audit.AccountFrozen {
					out = append(out, e.CaseID)
				}
			}
			return out
		}
		if got := frozen(); len(got) != 1 || got[0] != desk.ConversationRef(id) {
			t.Fatalf("account_frozen case ids %v, want [%s]", got, desk.ConversationRef(id))
		}
		// Frozen again (after an unfreeze) while the case is open: reused.
		if err := idsvc.Unfreeze(ctx, 42, "agt_1", desk.ConversationRef(id), "verified", identity.Meta{}); err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Minute)
		if err := idsvc.Freeze(ctx, 42, "staff: suspicious call", "agt_1", identity.Meta{}); err != nil {
			t.Fatal(err)
		}
		if l := cases(); len(l) != 1 || l[0].ID != id {
			t.Fatalf("second freeze: %+v", l)
		}
		if got := frozen(); len(got) != 2 || got[0] != desk.ConversationRef(id) || got[1] != desk.ConversationRef(id) {
			t.Fatalf("account_frozen case ids %v", got)
		}
	})
}
