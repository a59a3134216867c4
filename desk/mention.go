package desk

import (
	"context"
	"database/sql"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/okpay/okpay"
)

// @mentions in internal notes. "@Display Name" or "@local-part" (the
// part of the agent's email before the "@") names an agent; the longest
// display name that matches wins, then the local part. An "@" inside a
// word (an email address) is not a mention, and a mention of nobody is
// left as plain text. The mentioned agents see the conversation in
// their "mentions" view until they open it.

// MentionCandidate is an agent a note may mention (the web layer lists
// them from package agent).
type MentionCandidate struct {
	ID          int64
	DisplayName string
	Email       string
}

// Mention is one resolved mention: body[Start:End] is "@" and the name.
type Mention struct {
	Start, End int
	AgentID    int64
}

// isWordByte reports whether c continues an ASCII word.
func isWordByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_'
}

func isLocalByte(c byte) bool { return isWordByte(c) || c == '.' || c == '-' || c == '+' }

// hasFoldPrefix reports whether s starts with prefix, ignoring case, and
// returns the length in bytes of the matching part of s.
func hasFoldPrefix(s, prefix string) (int, bool) {
	i := 0
	for _, pr := range prefix {
		if i >= len(s) {
			return 0, false
		}
		sr, size := utf8.DecodeRuneInString(s[i:])
		if sr != pr && !strings.EqualFold(string(sr), string(pr)) {
			return 0, false
		}
		i += size
	}
	return i, true
}

// FindMentions finds the mentions of candidates in body, in order. Each
// span is resolved to one agent; an agent may be mentioned more than
// once.
func FindMentions(body string, cands []MentionCandidate) []Mention {
	var out []Mention
	for i := 0; i < len(body); i++ {
		if body[i] != '@' || i > 0 && (isWordByte(body[i-1]) || body[i-1] == '@' || body[i-1] == '.') {
			continue
		}
		rest := body[i+1:]
		best, bestID := 0, int64(0)
		for _, c := range cands {
			name := strings.TrimSpace(c.DisplayName)
			if name == "" {
				continue
			}
			n, ok := hasFoldPrefix(rest, name)
			if !ok || n <= best || n < len(rest) && isWordByte(rest[n]) && isWordByte(name[len(name)-1]) {
				continue
			}
			best, bestID = n, c.ID
		}
		{
			n := 0
			for n < len(rest) && isLocalByte(rest[n]) {
				n++
			}
			for n > 0 && (rest[n-1] == '.' || rest[n-1] == '-') {
				n-- // "@li.wei." ends a sentence
			}
			if n > 0 {
				local := rest[:n]
				for _, c := range cands {
					at := strings.LastIndexByte(c.Email, '@')
					if at > 0 && n > best && strings.EqualFold(c.Email[:at], local) {
						best, bestID = n, c.ID
						break
					}
				}
			}
		}
		if bestID != 0 {
			out = append(out, Mention{Start: i, End: i + 1 + best, AgentID: bestID})
			i += best
		}
	}
	return out
}

// MentionedAgents returns the distinct agents mentions name, in order.
func MentionedAgents(ms []Mention) []int64 {
	var out []int64
	for _, m := range ms {
		if !slices.Contains(out, m.AgentID) {
			out = append(out, m.AgentID)
		}
	}
	return out
}

// insertMentions stores, in the transaction of note m by v, that it
// mentions agents (SendMessage: the note and its mentions commit
// together). The author is never noted as mentioning themselves; each
// agent is noted once per note.
func (s *Service) insertMentions(ctx context.Context, tx *sql.Tx, v Viewer, m *Message, agents []int64, now time.Time) error {
	for _, a := range agents {
		if a == v.ID || a <= 0 {
			continue
		}
		q := `INSERT INTO desk_mentions (message_id, agent_id, conversation_id, mentioned_by, created_at) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (message_id, agent_id) DO NOTHING`
		if _, err := tx.ExecContext(ctx, q, m.ID, a, m.ConversationID, v.ID, micros(now)); err != nil {
			return err
		}
	}
	return nil
}

// UnseenMentions counts the conversations in which agent was mentioned
// and has not looked since.
func (s *Service) UnseenMentions(ctx context.Context, agentID int64) (int, error) {
	var n int
	err := s.DB.Read.QueryRowContext(ctx, `SELECT COUNT(DISTINCT conversation_id) FROM desk_mentions WHERE agent_id = $1 AND seen_at = 0`,
		agentID).Scan(&n)
	if err != nil {
		return 0, okpay.Internal(err, "count mentions")
	}
	return n, nil
}

// SeeMentions marks agent's mentions in a conversation seen (the agent
// opened it).
func (s *Service) SeeMentions(ctx context.Context, agentID, convID int64) error {
	// Most openings find nothing to mark: look on the read pool first so
	// they do not queue for the one write connection.
	var unseen int
	if err := s.DB.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM desk_mentions WHERE agent_id = $1 AND conversation_id = $2 AND seen_at = 0`,
		agentID, convID).Scan(&unseen); err != nil {
		return okpay.Internal(err, "count unseen mentions")
	}
	if unseen == 0 {
		return nil
	}
	now := micros(s.Clock.Now().UTC().Truncate(time.Microsecond))
	_, err := s.DB.Write.ExecContext(ctx, `UPDATE desk_mentions SET seen_at = $1 WHERE agent_id = $2 AND conversation_id = $3 AND seen_at = 0`,
		now, agentID, convID)
	if err != nil {
		return okpay.Internal(err, "mark mentions seen")
	}
	return nil
}

// MentionedConversations lists the conversations whose notes mention
// agent, the most recently mentioned first (unseen: only those not
// opened since), at most limit (1 to 200).
func (s *Service) MentionedConversations(ctx context.Context, agentID int64, unseen bool, limit int) ([]*Conversation, error) {
	limit = min(max(limit, 1), MaxPage)
	cond := ""
	if unseen {
		cond = " AND seen_at = 0"
	}
	rows, err := s.DB.Read.QueryContext(ctx, `SELECT conversation_id, MAX(created_at) AS at FROM desk_mentions WHERE agent_id = $1`+cond+`
		GROUP BY conversation_id ORDER BY at DESC, conversation_id DESC LIMIT $2`, agentID, limit)
	if err != nil {
		return nil, okpay.Internal(err, "list mentions")
	}
	var idList []int64
	for rows.Next() {
		var id, at int64
		if err := rows.Scan(&id, &at); err != nil {
			rows.Close()
			return nil, okpay.Internal(err, "list mentions")
		}
		idList = append(idList, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, okpay.Internal(err, "list mentions")
	}
	out := make([]*Conversation, 0, len(idList))
	for _, id := range idList {
		c, err := s.Conversation(ctx, Agent(agentID), id)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}
