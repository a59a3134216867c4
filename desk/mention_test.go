package desk_test

import (
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

var mentionAgents = []desk.MentionCandidate{
	{ID: 11, DisplayName: "Li Wei", Email: "li.wei@okpay.example"},
	{ID: 12, DisplayName: "Li", Email: "li@okpay.example"},
	{ID: 13, DisplayName: "王芳", Email: "fang@okpay.example"},
	{ID: 14, DisplayName: "Ann Lee", Email: "ann+desk@okpay.example"},
}

func mentionSpans(body string) []string {
	var out []string
	for _, m := range desk.FindMentions(body, mentionAgents) {
		out = append(out, body[m.Start:m.End]+"="+string(rune('0'+m.AgentID-10)))
	}
	return out
}

func TestFindMentions(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		body string
		want []string
	}{
		{"@Li Wei please check", []string{"@Li Wei=1"}},
		{"@li wei, and @Li too", []string{"@li wei=1", "@Li=2"}},
		{"ask @li.wei.", []string{"@li.wei=1"}},
		{"@fang 看一下", []string{"@fang=3"}},
		{"@王芳请看", []string{"@王芳=3"}},
		{"@ann+desk ok", []string{"@ann+desk=4"}},
		{"@Ann Lee's case", []string{"@Ann Lee=4"}},
		{"mail li.wei@okpay.example", nil},
		{"@Liwei is nobody", nil},
		{"@nobody here @", nil},
		{"@@Li", nil},
		{"(@Li)", []string{"@Li=2"}},
		{"", nil},
	} {
		got := mentionSpans(tc.body)
		if !slices.Equal(got, tc.want) {
			t.Errorf("%q: %q, want %q", tc.body, got, tc.want)
		}
	}
	ids := desk.MentionedAgents(desk.FindMentions("@Li @Li Wei @li", mentionAgents))
	if !slices.Equal(ids, []int64{12, 11}) {
		t.Fatalf("distinct agents %v", ids)
	}
}

func FuzzFindMentions(f *testing.F) {
	for _, s := range []string{"@Li Wei hi", "@li.wei.", "a@b", "@王芳请看", "@", "@@", "@Ann Lee's", "\xff@Li", "@LI WEI@li"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		ms := desk.FindMentions(body, mentionAgents)
		end := 0
		for _, m := range ms {
			if m.Start < end || m.End <= m.Start+1 || m.End > len(body) || body[m.Start] != '@' {
				t.Fatalf("%q: bad span %+v", body, m)
			}
			end = m.End
			if !slices.ContainsFunc(mentionAgents, func(c desk.MentionCandidate) bool { return c.ID == m.AgentID }) {
				t.Fatalf("%q: unknown agent %d", body, m.AgentID)
			}
			name := body[m.Start+1 : m.End]
			if utf8.ValidString(body) && !slices.ContainsFunc(mentionAgents, func(c desk.MentionCandidate) bool {
				return c.ID == m.AgentID && (strings.EqualFold(c.DisplayName, name) || strings.EqualFold(c.Email[:strings.IndexByte(c.Email, '@')], name))
			}) {
				t.Fatalf("%q: span %q does not name agent %d", body, name, m.AgentID)
			}
		}
	})
}

func TestMentionsStoredAndSeen(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		c1 := h.start(desk.Customer(alice), desk.CategoryAccount, "help")
		c2 := h.start(desk.Customer(bob), desk.CategoryTransaction, "help too")
		note := func(conv int64, body, key string, mentions ...int64) *desk.Message {
			t.Helper()
			m, err := h.svc.SendMessage(h.ctx, desk.Agent(agentA), conv, desk.MessageInput{Body: body, Internal: true,
				IdempotencyKey: key, Mentions: mentions})
			if err != nil {
				t.Fatal(err)
			}
			return m
		}
		n1 := note(c1.ID, "@b please look", "n1", agentB, agentA, agentB)
		// the same note sent again (a retry) counts once
		if again := note(c1.ID, "@b please look", "n1", agentB); again.ID != n1.ID || !again.Replayed {
			t.Fatalf("retry: %+v", again)
		}
		h.clock.Advance(1e9)
		note(c2.ID, "@b and this one", "", agentB)
		// Only notes mention; a refused message stores no mention.
		_, err := h.svc.SendMessage(h.ctx, desk.Agent(agentA), c2.ID, desk.MessageInput{Body: "public @b", Mentions: []int64{agentB}})
		wantCode(t, err, okpay.EInvalid)
		if _, err := h.svc.SetStatus(h.ctx, desk.Agent(agentA), c1.ID, desk.StatusClosed, time.Time{}); err != nil {
			t.Fatal(err)
		}
		_, err = h.svc.SendMessage(h.ctx, desk.Agent(agentA), c1.ID, desk.MessageInput{Body: "@b closed", Internal: true, Mentions: []int64{agentB}})
		wantCode(t, err, desk.EConversationClosed)
		var rows int
		if err := db.Read.QueryRowContext(h.ctx, `SELECT COUNT(*) FROM desk_mentions`).Scan(&rows); err != nil {
			t.Fatal(err)
		}
		if rows != 2 {
			t.Fatalf("%d mention rows, want 2 (one per note)", rows)
		}
		count := func(agent int64) int {
			n, err := h.svc.UnseenMentions(h.ctx, agent)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		if count(agentB) != 2 || count(agentA) != 0 {
			t.Fatalf("unseen: B %d, A %d (the author never mentions themselves)", count(agentB), count(agentA))
		}
		list, err := h.svc.MentionedConversations(h.ctx, agentB, true, 50)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 2 || list[0].ID != c2.ID || list[1].ID != c1.ID {
			t.Fatalf("mentioned conversations: %d", len(list))
		}
		if err := h.svc.SeeMentions(h.ctx, agentB, c2.ID); err != nil {
			t.Fatal(err)
		}
		if count(agentB) != 1 {
			t.Fatalf("after opening one: %d unseen", count(agentB))
		}
		unseen, _ := h.svc.MentionedConversations(h.ctx, agentB, true, 50)
		all, _ := h.svc.MentionedConversations(h.ctx, agentB, false, 50)
		if len(unseen) != 1 || unseen[0].ID != c1.ID || len(all) != 2 {
			t.Fatalf("unseen %d, all %d", len(unseen), len(all))
		}
	})
}
