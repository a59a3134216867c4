package maildesk_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/okpay/okpay/maildesk"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

// benchMail returns a mail of about 20 KB: 4 KB of text and an 11 KB PNG
// attachment (15 KB in base64).
func benchMail(from, msgID, inReplyTo string, rnd *rand.Rand) []byte {
	png := make([]byte, 11<<10)
	for i := range png {
		png[i] = byte(rnd.Uint32())
	}
	copy(png, "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: Customer <%s>\r\nTo: %s\r\nSubject: My payment problem\r\nMessage-ID: <%s>\r\nDate: Mon, 2 Mar 2026 09:00:00 +0000\r\n", from, support, msgID)
	if inReplyTo != "" {
		fmt.Fprintf(&b, "In-Reply-To: <%s>\r\nReferences: <%s>\r\n", inReplyTo, inReplyTo)
	}
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
	line := "Hello, my transfer of 250.00 USD to my bank account did not arrive yet. 你好，我的转账还没有到账。\r\n"
	for b.Len() < 4<<10 {
		b.WriteString(line)
	}
	b.WriteString("\r\n--b1\r\nContent-Type: image/png; name=\"receipt.png\"\r\nContent-Disposition: attachment; filename=\"receipt.png\"\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	enc := base64.StdEncoding.EncodeToString(png)
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n--b1--\r\n")
	return b.Bytes()
}

// BenchmarkIngest20KB files 20 KB mails with one attachment into the desk
// (SQLite): "new" starts a conversation per mail (the heaviest path: a
// conversation, its channel values, the thread and an acknowledgement),
// "reply" adds each mail to an existing conversation (threaded by
// In-Reply-To), "smtp" is "new" through the SMTP listener.
func BenchmarkIngest20KB(b *testing.B) {
	for _, mode := range []string{"new", "reply", "smtp"} {
		b.Run(mode, func(b *testing.B) {
			h := newHarness(b, sqldbtest.Open(b, sqldb.SQLite))
			rnd := rand.New(rand.NewPCG(1, 2))
			ctx := context.Background()
			first := ""
			if mode == "reply" {
				first = "first@bench.example"
				if _, err := h.svc.Ingest(ctx, benchMail("c0@bench.example", first, "", rnd), maildesk.Envelope{RcptTo: []string{support}}); err != nil {
					b.Fatal(err)
				}
			}
			mails := make([][]byte, b.N)
			for i := range mails {
				from := fmt.Sprintf("c%d@bench.example", i)
				if mode == "reply" {
					from = "c0@bench.example"
				}
				mails[i] = benchMail(from, fmt.Sprintf("m%d@bench.example", i), first, rnd)
			}
			b.SetBytes(int64(len(mails[0])))
			b.ResetTimer()
			for i, raw := range mails {
				if mode == "smtp" {
					if err := h.send(fmt.Sprintf("c%d@bench.example", i), []string{support}, raw); err != nil {
						b.Fatal(err)
					}
					continue
				}
				res, err := h.svc.Ingest(ctx, raw, maildesk.Envelope{RcptTo: []string{support}})
				if err != nil {
					b.Fatal(err)
				}
				if want := map[string]maildesk.Outcome{"new": maildesk.Started, "reply": maildesk.Attached}[mode]; res.Outcome != want {
					b.Fatalf("outcome %q", res.Outcome)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
			if n := h.count(`SELECT COUNT(*) FROM desk_attachments`); n < b.N {
				b.Fatalf("%d attachments for %d mails", n, b.N)
			}
		})
	}
}
