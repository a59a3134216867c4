package maildesk

import (
	"bytes"
	"io"
	"net/mail"
	"testing"
	"time"
)

// FuzzStandIn: whatever an IMAP server puts in an envelope, the stand-in
// is a mail whose header holds exactly the fields written (no line a
// field's value could inject), from the given sender, with the body.
func FuzzStandIn(f *testing.F) {
	f.Add("Alice", "Statement scans", "<scans@client.example>", "ack@okpay.test", "support@okpay.test")
	f.Add("Alice\r\nBcc: x@example.com", "a\nX-Evil: 1", "id\r\n@x", "<>", "bad address")
	f.Add("张三", "护照扫描 =?utf-8?q?x?=", "", "", "")
	f.Fuzz(func(t *testing.T, name, subject, id, reply, to string) {
		o := Oversized{FromName: name, Subject: subject, MessageID: id, InReplyTo: []string{reply}, To: []string{to}, Date: time.Unix(1772442000, 0)}
		raw := standIn(o, "alice@example.com", "body 正文")
		m, err := mail.ReadMessage(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("stand-in unreadable: %v\n%s", err, raw)
		}
		for k := range m.Header {
			switch k {
			case "From", "To", "Subject", "Message-Id", "In-Reply-To", "Date", "Mime-Version", "Content-Type", "Content-Transfer-Encoding":
			default:
				t.Fatalf("injected header field %q:\n%s", k, raw)
			}
		}
		from, err := mail.ParseAddress(m.Header.Get("From"))
		if err != nil || from.Address != "alice@example.com" {
			t.Fatalf("From %q: %v", m.Header.Get("From"), err)
		}
		if b, _ := io.ReadAll(m.Body); len(b) == 0 {
			t.Fatal("no body")
		}
	})
}
