package maildesk_test

import (
	"bytes"
	"fmt"
	"mime"
	"mime/multipart"
	netmail "net/mail"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/traditionalchinese"

	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/maildesk"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

// TestNewConversationThreadingAndSenderCheck sends real SMTP transactions
// to the listener: a new conversation (acknowledged), replies threaded by
// In-Reply-To, by the reply token and by the subject reference, and a
// stranger's mail claiming the thread, which starts a conversation of its
// own with a note.
func TestNewConversationThreadingAndSenderCheck(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		h.mustSend(mail{from: "Wang Wei <" + visitor + ">", to: support, subject: "Withdrawal missing", msgID: "m1@client.example",
			body: "Hello, my withdrawal of 100 USD has not arrived.\n\nThanks\nWang"})
		status, conv, _ := h.inbound("m1@client.example")
		if status != "started" || conv == 0 {
			t.Fatalf("status %q conv %d", status, conv)
		}
		c, err := h.desk.Conversation(h.ctx, desk.System, conv)
		if err != nil {
			t.Fatal(err)
		}
		if c.Channel != desk.ChannelEmail || c.CustomerID != 0 || c.VisitorID == "" || c.Subject != "Withdrawal missing" {
			t.Fatalf("conversation %+v", c)
		}
		if ms := h.messages(conv); len(ms) != 1 || !strings.Contains(ms[0].Body, "has not arrived") || ms[0].Author != desk.KindVisitor {
			t.Fatalf("messages %+v", ms)
		}
		meta, _ := h.desk.ChannelMeta(h.ctx, desk.System, conv)
		if meta["email"] != visitor {
			t.Fatalf("meta %v", meta)
		}
		// The acknowledgement: reference and first-response time (the
		// email_normal policy: 2 hours of business hours).
		var ackSubject, ackBody, ackIRT string
		if err := db.Read.QueryRowContext(h.ctx, `SELECT subject, body_text, in_reply_to FROM email_outbox WHERE conversation_id = $1 AND kind = 'ack'`, conv).
			Scan(&ackSubject, &ackBody, &ackIRT); err != nil {
			t.Fatal(err)
		}
		ref := desk.ConversationRef(conv)
		if !strings.Contains(ackSubject, "["+ref+"]") || !strings.Contains(ackBody, ref) || !strings.Contains(ackBody, "2 hours") || ackIRT != "m1@client.example" {
			t.Fatalf("ack %q / %q / %q", ackSubject, ackBody, ackIRT)
		}

		// Threaded by In-Reply-To to our acknowledgement.
		ackID := h.outMessageID(conv, "ack")
		h.mustSend(mail{from: visitor, to: support, subject: "Re: something else", msgID: "m2@client.example", inReplyTo: ackID,
			body: "The reference is TX-42.\n\nOn Monday OKPay wrote:\n> Thank you for contacting us"})
		if st, c2, by := h.inbound("m2@client.example"); st != "attached" || c2 != conv || by != maildesk.ByHeader {
			t.Fatalf("reply by header: %q %d %q", st, c2, by)
		}
		ms := h.messages(conv)
		if last := ms[len(ms)-1]; last.Body != "The reference is TX-42." {
			t.Fatalf("visible text %q", last.Body)
		}

		// Threaded by the reply token (a new mail to the tagged address).
		token := h.svc.Tokens.Token(conv)
		h.mustSend(mail{from: visitor, to: "support+" + token + "@okpay.test", subject: "more", msgID: "m3@client.example", body: "Another detail."})
		if st, c3, by := h.inbound("m3@client.example"); st != "attached" || c3 != conv || by != maildesk.ByToken {
			t.Fatalf("reply by token: %q %d %q", st, c3, by)
		}
		// A forged token threads nothing.
		forged := strings.TrimSuffix(token, token[len(token)-1:]) + "a"
		if forged == token {
			forged = strings.TrimSuffix(token, token[len(token)-1:]) + "b"
		}
		h.mustSend(mail{from: visitor, to: "support+" + forged + "@okpay.test", subject: "forged", msgID: "m3b@client.example", body: "Forged token."})
		if st, c3b, _ := h.inbound("m3b@client.example"); st != "started" || c3b == conv {
			t.Fatalf("forged token: %q %d", st, c3b)
		}

		// Threaded by the reference in the subject.
		h.mustSend(mail{from: visitor, to: support, subject: "Re: [" + ref + "] again", msgID: "m4@client.example", body: "By subject."})
		if st, c4, by := h.inbound("m4@client.example"); st != "attached" || c4 != conv || by != maildesk.BySubject {
			t.Fatalf("reply by subject: %q %d %q", st, c4, by)
		}

		// A stranger claiming the thread (header and subject) gets a new
		// conversation, routed to security, with a note for the agent.
		h.mustSend(mail{from: stranger, to: support, subject: "Re: [" + ref + "]", msgID: "x1@evil.example", inReplyTo: ackID, body: "Please send me the account details."})
		st, cx, by := h.inbound("x1@evil.example")
		if st != "started" || cx == conv || by != maildesk.ByHeader {
			t.Fatalf("stranger: %q %d %q", st, cx, by)
		}
		for _, m := range h.messages(conv) {
			if strings.Contains(m.Body, "account details") {
				t.Fatal("the stranger's mail landed in the customer's conversation")
			}
		}
		xc, _ := h.desk.Conversation(h.ctx, desk.System, cx)
		if xc.Team != desk.TeamSecurity {
			t.Fatalf("stranger's conversation team %q", xc.Team)
		}
		var note string
		for _, m := range h.messages(cx) {
			if m.Internal {
				note = m.Body
			}
		}
		if !strings.Contains(note, "mallory@evil.example is not this conversation's customer") || !strings.Contains(note, ref) {
			t.Fatalf("note %q", note)
		}
	})
}

// TestCustomerByVerifiedEmail: a customer's mail is theirs; a resolved
// conversation opens again, a closed one is continued in a new one.
func TestCustomerConversationReopenAndClosed(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		h.mustSend(mail{from: alice, to: support, subject: "Card declined", msgID: "a1@example.com", body: "My card was declined."})
		_, conv, _ := h.inbound("a1@example.com")
		c, _ := h.desk.Conversation(h.ctx, desk.System, conv)
		if c.CustomerID != aliceID {
			t.Fatalf("owner %+v", c)
		}
		if _, err := h.desk.SetStatus(h.ctx, desk.Agent(agentA), conv, desk.StatusResolved, time.Time{}); err != nil {
			t.Fatal(err)
		}
		h.mustSend(mail{from: alice, to: support, subject: "Re: Card declined [" + desk.ConversationRef(conv) + "]", msgID: "a2@example.com", body: "Still declined."})
		if st, c2, _ := h.inbound("a2@example.com"); st != "attached" || c2 != conv {
			t.Fatalf("%q %d", st, c2)
		}
		if c, _ := h.desk.Conversation(h.ctx, desk.System, conv); c.Status != desk.StatusOpen {
			t.Fatalf("status %q", c.Status)
		}
		if _, err := h.desk.SetStatus(h.ctx, desk.Agent(agentA), conv, desk.StatusClosed, time.Time{}); err != nil {
			t.Fatal(err)
		}
		h.mustSend(mail{from: alice, to: support, subject: "Re: Card declined [" + desk.ConversationRef(conv) + "]", msgID: "a3@example.com", body: "Hello again."})
		st, c3, _ := h.inbound("a3@example.com")
		if st != "started" || c3 == conv {
			t.Fatalf("%q %d", st, c3)
		}
		found := false
		for _, m := range h.messages(c3) {
			found = found || (m.Internal && strings.Contains(m.Body, desk.ConversationRef(conv)) && strings.Contains(m.Body, "closed"))
		}
		if !found {
			t.Fatal("no note linking the closed conversation")
		}
	})
}

func encodeWith(t *testing.T, enc interface{ Bytes([]byte) ([]byte, error) }, s string) []byte {
	t.Helper()
	b, err := enc.Bytes([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestChineseCharsets: GBK and Big5 mail (RFC 2047 subjects too) are
// decoded, and the acknowledgement is in Chinese.
func TestChineseCharsets(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		cases := []struct {
			charset, id string
			enc         interface{ Bytes([]byte) ([]byte, error) }
			subject     string
			body        string
		}{
			{"gbk", "gbk1@example.cn", simplifiedchinese.GBK.NewEncoder(), "提现未到账", "你好，我昨天的提现还没有到账，请帮忙查询。"},
			{"big5", "big5@example.tw", traditionalchinese.Big5.NewEncoder(), "帳戶問題", "您好，我的帳戶無法登入，請協助處理。"},
		}
		for _, tc := range cases {
			var b bytes.Buffer
			subj := mime.BEncoding.Encode(tc.charset, string(encodeWith(t, tc.enc, tc.subject)))
			// mime.BEncoding encodes bytes as given: the charset label
			// names what they are.
			fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%s>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=%s\r\nContent-Transfer-Encoding: 8bit\r\n\r\n",
				tc.id, support, subj, tc.id, tc.charset)
			b.Write(encodeWith(t, tc.enc, tc.body))
			b.WriteString("\r\n")
			if err := h.send(tc.id, []string{support}, b.Bytes()); err != nil {
				t.Fatal(err)
			}
			st, conv, _ := h.inbound(tc.id)
			if st != "started" {
				t.Fatalf("%s: %q", tc.charset, st)
			}
			c, _ := h.desk.Conversation(h.ctx, desk.System, conv)
			ms := h.messages(conv)
			if c.Subject != tc.subject || ms[0].Body != tc.body || c.Lang != "zh-CN" {
				t.Fatalf("%s: subject %q body %q lang %q", tc.charset, c.Subject, ms[0].Body, c.Lang)
			}
			var ack string
			db.Read.QueryRowContext(h.ctx, `SELECT body_text FROM email_outbox WHERE conversation_id = $1 AND kind = 'ack'`, conv).Scan(&ack)
			if !strings.Contains(ack, "我们已收到您的邮件") || !strings.Contains(ack, "2 小时") {
				t.Fatalf("%s: ack %q", tc.charset, ack)
			}
		}
	})
}

// TestLoopsAndLimits: automatic mail, our own mail and a sender starting
// too many conversations are stored and never answered; a redelivery files
// nothing twice; malformed mail is flagged.
func TestLoopsAndLimits(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		h.mustSend(mail{from: visitor, to: support, subject: "Out of office", msgID: "ooo@example.cn", body: "I am away.",
			headers: []string{"Auto-Submitted: auto-replied"}})
		if st, conv, _ := h.inbound("ooo@example.cn"); st != "auto_reply" || conv != 0 {
			t.Fatalf("auto reply: %q %d", st, conv)
		}
		// A bounce (MAIL FROM:<>) from a customer's address: not answered.
		if err := h.send("", []string{support}, mail{from: visitor, to: support, subject: "Undeliverable", msgID: "bounce@example.cn", body: "Delivery failed."}.bytes()); err != nil {
			t.Fatal(err)
		}
		if st, conv, _ := h.inbound("bounce@example.cn"); st != "auto_reply" || conv != 0 {
			t.Fatalf("bounce: %q %d", st, conv)
		}
		h.mustSend(mail{from: "help@okpay.test", to: support, subject: "loop", msgID: "own@okpay.test", body: "Our own."})
		if st, _, _ := h.inbound("own@okpay.test"); st != "own" {
			t.Fatalf("own: %q", st)
		}
		if n := h.count(`SELECT COUNT(*) FROM email_outbox`); n != 0 {
			t.Fatalf("%d mails queued for loops", n)
		}
		// Redelivery.
		m := mail{from: visitor, to: support, subject: "Hi", msgID: "dup@example.cn", body: "Once."}
		h.mustSend(m)
		h.mustSend(m)
		_, conv, _ := h.inbound("dup@example.cn")
		if ms := h.messages(conv); len(ms) != 1 {
			t.Fatalf("%d messages after a redelivery", len(ms))
		}
		if n := h.count(`SELECT COUNT(*) FROM email_inbound WHERE message_id = 'dup@example.cn'`); n != 1 {
			t.Fatalf("%d inbound rows", n)
		}
		// Three new conversations an hour at most (MaxNewPerHour 3).
		for i := 2; i <= 4; i++ {
			h.mustSend(mail{from: visitor, to: support, subject: "Hi " + strconv.Itoa(i), msgID: fmt.Sprintf("n%d@example.cn", i), body: "New."})
		}
		if st, conv, _ := h.inbound("n4@example.cn"); st != "rate_limited" || conv != 0 {
			t.Fatalf("4th new conversation: %q %d", st, conv)
		}
		// Malformed: kept and flagged, with a note.
		raw := []byte("From: " + alice + "\r\nTo: " + support + "\r\nSubject: broken\r\nMessage-ID: <bad@example.com>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"zzz\"\r\n\r\n--zzz\r\nContent-Type: text/plain\r\n\r\nText before the end\r\n--zz")
		if err := h.send(alice, []string{support}, raw); err != nil {
			t.Fatal(err)
		}
		var flagged int
		var kept []byte
		db.Read.QueryRowContext(h.ctx, `SELECT flagged, raw FROM email_inbound WHERE message_id = 'bad@example.com'`).Scan(&flagged, &kept)
		if flagged != 1 || !bytes.Contains(kept, []byte("Text before the end")) {
			t.Fatalf("flagged %d raw %q", flagged, kept)
		}
		_, badConv, _ := h.inbound("bad@example.com")
		flaggedNote := false
		for _, m := range h.messages(badConv) {
			flaggedNote = flaggedNote || (m.Internal && strings.Contains(m.Body, "malformed"))
		}
		if c, _ := h.desk.Conversation(h.ctx, desk.System, badConv); !flaggedNote || !slices.Contains(c.Tags, "email-flagged") {
			t.Fatalf("malformed mail not shown as flagged: note %v tags %v", flaggedNote, c.Tags)
		}
	})
}

// TestListenerRefusals: unknown recipients get 550, oversize mail 552
// with a clear text.
func TestListenerRefusals(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		err := h.send(visitor, []string{"billing@okpay.test"}, mail{from: visitor, to: "billing@okpay.test", subject: "x", msgID: "u@x", body: "x"}.bytes())
		if err == nil || !strings.Contains(err.Error(), "550") {
			t.Fatalf("unknown recipient: %v", err)
		}
		big := mail{from: visitor, to: support, subject: "big", msgID: "big@x", body: strings.Repeat("0123456789abcdef\n", 20000)}
		err = h.send(visitor, []string{support}, big.bytes())
		if err == nil || !strings.Contains(err.Error(), "552") || !strings.Contains(err.Error(), "Message too large") {
			t.Fatalf("oversize: %v", err)
		}
		if n := h.count(`SELECT COUNT(*) FROM email_inbound`); n != 0 {
			t.Fatalf("%d mails stored", n)
		}
	})
}

// TestAgentReplyGoesOut: an agent's reply is queued, sent to a capturing
// SMTP server with threading headers, retried after a 4xx, and its
// delivery state is reported.
func TestAgentReplyGoesOut(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		relay := newSink(t)
		disp, err := maildesk.NewDispatcher(h.svc, relay.sender(t), maildesk.DeliverConfig{Backoff: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		h.mustSend(mail{from: visitor, to: support, subject: "Fees", msgID: "f1@example.cn", body: "What are the fees?"})
		_, conv, _ := h.inbound("f1@example.cn")
		ref := desk.ConversationRef(conv)
		reply, err := h.desk.SendMessage(h.ctx, desk.Agent(agentA), conv, desk.MessageInput{Body: "Transfers are free.\n\n<b>Not bold</b>"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.desk.SendMessage(h.ctx, desk.Agent(agentA), conv, desk.MessageInput{Body: "internal only", Internal: true}); err != nil {
			t.Fatal(err)
		}
		if n, err := h.svc.QueueReplies(h.ctx); err != nil || n != 1 {
			t.Fatalf("queued %d, %v", n, err)
		}
		if n, _ := h.svc.QueueReplies(h.ctx); n != 0 {
			t.Fatalf("queued again: %d", n)
		}
		// The relay refuses the first try (the acknowledgement) with 451.
		relay.failNext(&gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0}, Message: "try later"})
		if _, err := disp.Deliver(h.ctx); err != nil {
			t.Fatal(err)
		}
		d, _ := h.svc.Deliveries(h.ctx, []int64{reply.ID})
		if d[reply.ID].State != maildesk.StateSent {
			t.Fatalf("reply delivery %+v", d[reply.ID])
		}
		var ackState, ackErr string
		db.Read.QueryRowContext(h.ctx, `SELECT state, last_error FROM email_outbox WHERE kind = 'ack'`).Scan(&ackState, &ackErr)
		if ackState != maildesk.StateRetrying || !strings.Contains(ackErr, "451") {
			t.Fatalf("ack after 451: %q %q", ackState, ackErr)
		}
		if n, _ := disp.Deliver(h.ctx); n != 0 {
			t.Fatal("retried before its backoff")
		}
		h.clock.Advance(2 * time.Minute)
		if n, err := disp.Deliver(h.ctx); err != nil || n != 1 {
			t.Fatalf("retry: %d %v", n, err)
		}
		got := relay.all()
		if len(got) != 2 {
			t.Fatalf("%d mails at the relay", len(got))
		}
		// got[0] is the reply (the ack failed first), got[1] the ack.
		msg, err := netmail.ReadMessage(bytes.NewReader(got[0].data))
		if err != nil {
			t.Fatal(err)
		}
		hd := msg.Header
		ackID := h.outMessageID(conv, "ack")
		token := h.svc.Tokens.Token(conv)
		checks := map[string]bool{
			"From":        strings.Contains(hd.Get("From"), "<"+support+">"),
			"To":          strings.Contains(hd.Get("To"), visitor),
			"Reply-To":    strings.Contains(hd.Get("Reply-To"), "support+"+token+"@okpay.test"),
			"Subject":     strings.Contains(hd.Get("Subject"), "Re: Fees ["+ref+"]"),
			"In-Reply-To": hd.Get("In-Reply-To") == "<f1@example.cn>",
			"References":  strings.Contains(hd.Get("References"), "<f1@example.cn>") && strings.Contains(hd.Get("References"), "<"+ackID+">"),
			"Message-Id":  strings.HasSuffix(hd.Get("Message-Id"), "@mail.okpay.test>"),
		}
		for name, ok := range checks {
			if !ok {
				t.Errorf("header %s: %q", name, hd.Get(name))
			}
		}
		// No internal id anywhere in the headers: the Message-ID is 128
		// random bits; only the Subject (the reference customers see) and
		// the signed Reply-To name the conversation.
		if !regexp.MustCompile(`^<[a-z2-7]{26}@mail\.okpay\.test>$`).MatchString(hd.Get("Message-Id")) {
			t.Errorf("Message-ID %q", hd.Get("Message-Id"))
		}
		ref13 := strings.TrimPrefix(ref, "cnv_")
		for name, vals := range hd {
			for _, v := range vals {
				if name != "Subject" && name != "Reply-To" && (strings.Contains(v, ref13) || strings.Contains(v, "cnv_")) {
					t.Errorf("header %s %q reveals the conversation", name, v)
				}
			}
		}
		// multipart/alternative: text and escaped HTML.
		mt, params, err := mime.ParseMediaType(hd.Get("Content-Type"))
		if err != nil || mt != "multipart/alternative" {
			t.Fatalf("content type %q", hd.Get("Content-Type"))
		}
		mr := multipart.NewReader(msg.Body, params["boundary"])
		var types []string
		for {
			p, err := mr.NextPart()
			if err != nil {
				break
			}
			var b bytes.Buffer
			b.ReadFrom(p)
			ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
			types = append(types, ct)
			body := b.String()
			if ct == "text/html" && (strings.Contains(body, "<b>Not bold</b>") || !strings.Contains(body, "&lt;b&gt;")) {
				t.Errorf("html part not escaped: %q", body)
			}
			if ct == "text/plain" && !strings.Contains(body, "Transfers are free.") {
				t.Errorf("text part %q", body)
			}
		}
		if strings.Join(types, ",") != "text/plain,text/html" {
			t.Fatalf("parts %v", types)
		}
		// The ack is marked automatic.
		ack, _ := netmail.ReadMessage(bytes.NewReader(got[1].data))
		if ack.Header.Get("Auto-Submitted") != "auto-replied" {
			t.Errorf("ack Auto-Submitted %q", ack.Header.Get("Auto-Submitted"))
		}

		// The customer answers the agent's mail: threaded by its id.
		h.mustSend(mail{from: visitor, to: support, subject: "Re: Fees", msgID: "f2@example.cn", inReplyTo: strings.Trim(hd.Get("Message-Id"), "<>"), body: "Thanks!"})
		if st, c2, by := h.inbound("f2@example.cn"); st != "attached" || c2 != conv || by != maildesk.ByHeader {
			t.Fatalf("answer to the reply: %q %d %q", st, c2, by)
		}

		// A permanent refusal fails the mail at once.
		reply2, _ := h.desk.SendMessage(h.ctx, desk.Agent(agentA), conv, desk.MessageInput{Body: "Anything else?"})
		h.svc.QueueReplies(h.ctx)
		relay.failNext(&gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "no such user"})
		disp.Deliver(h.ctx)
		d, _ = h.svc.Deliveries(h.ctx, []int64{reply2.ID})
		if d[reply2.ID].State != maildesk.StateFailed || !strings.Contains(d[reply2.ID].Error, "550") {
			t.Fatalf("after 550: %+v", d[reply2.ID])
		}
	})
}

// TestSwaks sends with a second, different SMTP client: swaks (path in
// OKPAY_TEST_SWAKS).
func TestSwaks(t *testing.T) {
	path := os.Getenv("OKPAY_TEST_SWAKS")
	if path == "" {
		t.Skip("OKPAY_TEST_SWAKS not set: set it to the swaks binary (e.g. /usr/bin/swaks) to test with a second SMTP client")
	}
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		swaks := func(args ...string) string {
			t.Helper()
			args = append([]string{"--server", h.ln.Addr().String(), "--timeout", "20"}, args...)
			out, err := exec.Command(path, args...).CombinedOutput()
			if err != nil {
				t.Fatalf("swaks %v: %v\n%s", args, err, out)
			}
			return string(out)
		}
		swaks("--from", visitor, "--to", support, "--header", "Subject: Login problem", "--header", "Message-Id: <s1@example.cn>",
			"--body", "I cannot sign in.")
		st, conv, _ := h.inbound("s1@example.cn")
		if st != "started" {
			t.Fatalf("swaks new: %q", st)
		}
		ackID := h.outMessageID(conv, "ack")
		swaks("--from", visitor, "--to", support, "--header", "Subject: Re: Login problem", "--header", "Message-Id: <s2@example.cn>",
			"--header", "In-Reply-To: <"+ackID+">", "--body", "It works now.")
		if st, c2, by := h.inbound("s2@example.cn"); st != "attached" || c2 != conv || by != maildesk.ByHeader {
			t.Fatalf("swaks reply: %q %d %q", st, c2, by)
		}
		// swaks reports the 550 of an unknown recipient.
		out, err := exec.Command(path, "--server", h.ln.Addr().String(), "--from", visitor, "--to", "nobody@okpay.test", "--timeout", "20").CombinedOutput()
		if err == nil || !strings.Contains(string(out), "550") {
			t.Fatalf("swaks unknown recipient: %v\n%s", err, out)
		}
	})
}

// TestAttachments: allowed files go through the desk's allowlist with the
// message; others are dropped with a note for the agent.
func TestAttachments(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		png := "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
		raw := "From: " + visitor + "\r\nTo: " + support + "\r\nSubject: receipt\r\nMessage-ID: <att@example.cn>\r\nMIME-Version: 1.0\r\n" +
			"Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSee the receipt.\r\n" +
			"--b\r\nContent-Type: image/png; name=\"receipt.png\"\r\nContent-Disposition: attachment; filename=\"receipt.png\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" + png + "\r\n" +
			"--b\r\nContent-Type: application/octet-stream; name=\"invoice.exe\"\r\nContent-Disposition: attachment; filename=\"invoice.exe\"\r\nContent-Transfer-Encoding: base64\r\n\r\nTVqQAAMAAAAEAAAA\r\n--b--\r\n"
		if err := h.send(visitor, []string{support}, []byte(raw)); err != nil {
			t.Fatal(err)
		}
		_, conv, _ := h.inbound("att@example.cn")
		ms := h.messages(conv)
		if len(ms) != 2 || ms[0].Body != "See the receipt." || len(ms[0].Attachments) != 1 || ms[0].Attachments[0].Name != "receipt.png" {
			t.Fatalf("messages %+v", ms)
		}
		if !ms[1].Internal || !strings.Contains(ms[1].Body, "invoice.exe") || strings.Contains(ms[1].Body, "attachment_refused") {
			t.Fatalf("note (the reason as a sentence, not its code) %+v", ms[1])
		}
	})
}

// TestConcurrentRedelivery: the same mail ingested four times at once
// makes one conversation, one message and one acknowledgement.
func TestConcurrentRedelivery(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		raw := mail{from: visitor, to: support, subject: "Twice", msgID: "race@example.cn", body: "Delivered by two relays."}.bytes()
		errs := make(chan error, 4)
		for range 4 {
			go func() {
				_, err := h.svc.Ingest(h.ctx, raw, maildesk.Envelope{RcptTo: []string{support}})
				errs <- err
			}()
		}
		for range 4 {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		if n := h.count(`SELECT COUNT(*) FROM desk_conversations`); n != 1 {
			t.Fatalf("%d conversations", n)
		}
		if n := h.count(`SELECT COUNT(*) FROM desk_messages WHERE internal = 0`); n != 1 {
			t.Fatalf("%d messages", n)
		}
		if n := h.count(`SELECT COUNT(*) FROM email_outbox WHERE kind = 'ack'`); n != 1 {
			t.Fatalf("%d acknowledgements", n)
		}
	})
}
