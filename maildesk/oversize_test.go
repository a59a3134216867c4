package maildesk_test

import (
	"strings"
	"testing"
	"time"

	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/maildesk"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

// TestIngestOversized: a mail too large to fetch, known by its envelope,
// still reaches the desk: a stand-in message in the customer's thread
// (threaded by its In-Reply-To like the original), saying it was too
// large, with a note telling the agent where the original is; it is never
// counted as authenticated; reporting it again files nothing twice;
// header fields cannot inject lines; no sender, no stand-in.
func TestIngestOversized(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		h.mustSend(mail{from: alice, to: support, subject: "Card statement", msgID: "first@client.example", body: "I will send my statement."})
		_, conv, _ := h.inbound("first@client.example")
		ackID := h.outMessageID(conv, "ack")
		o := maildesk.Oversized{From: alice, FromName: "Alice\r\nBcc: evil@example.com", To: []string{support}, Subject: "Statement scans\r\nX-Evil: 1",
			MessageID: "<scans@client.example>", InReplyTo: []string{ackID}, Date: t0, Size: 31 << 20}
		res, err := h.svc.IngestOversized(h.ctx, o, maildesk.Envelope{RemoteAddr: "imap:test"})
		if err != nil {
			t.Fatal(err)
		}
		if res.Outcome != maildesk.Attached || res.ConversationID != conv || res.ThreadedBy != maildesk.ByHeader || res.Auth.Authenticated {
			t.Fatalf("result %+v", res)
		}
		ms := h.messages(conv)
		var standIn, note *desk.Message
		for _, m := range ms {
			switch {
			case !m.Internal && strings.Contains(m.Body, "too large to import"):
				standIn = m
			case m.Internal && strings.Contains(m.Body, "support mailbox, flagged"):
				note = m
			}
		}
		if standIn == nil || note == nil {
			t.Fatalf("messages %+v", ms)
		}
		if !strings.Contains(standIn.Body, "31.0 MB") || !strings.Contains(standIn.Body, "0.2 MB") || !strings.Contains(standIn.Body, "过大") {
			t.Errorf("stand-in %q", standIn.Body)
		}
		if !strings.Contains(note.Body, "Statement scans X-Evil: 1") || strings.Contains(note.Body, "\r") {
			t.Errorf("note %q", note.Body)
		}
		if n := h.count(`SELECT COUNT(*) FROM email_inbound WHERE message_id = 'scans@client.example'`); n != 1 {
			t.Fatalf("%d inbound rows", n)
		}
		again, err := h.svc.IngestOversized(h.ctx, o, maildesk.Envelope{RemoteAddr: "imap:test"})
		if err != nil || again.Outcome != maildesk.Duplicate {
			t.Fatalf("again: %+v %v", again, err)
		}
		if got := len(h.messages(conv)); got != len(ms) {
			t.Fatalf("%d messages after a repeat, had %d", got, len(ms))
		}
		// From an unknown sender with no thread: a new conversation.
		res, err = h.svc.IngestOversized(h.ctx, maildesk.Oversized{From: visitor, Subject: "护照扫描", MessageID: "pp@x.example", Date: t0.Add(time.Hour), Size: 12 << 20},
			maildesk.Envelope{RemoteAddr: "imap:test"})
		if err != nil || res.Outcome != maildesk.Started || res.ConversationID == conv {
			t.Fatalf("new: %+v %v", res, err)
		}
		if c, _ := h.desk.Conversation(h.ctx, desk.System, res.ConversationID); c.Subject != "护照扫描" {
			t.Errorf("subject %q", c.Subject)
		}
		if _, err := h.svc.IngestOversized(h.ctx, maildesk.Oversized{From: "not an address", Size: 12 << 20}, maildesk.Envelope{}); err == nil {
			t.Fatal("no sender: filed")
		}
	})
}
