package maildesk

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"mime"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/okpay/okpay"
)

// Oversized is a mail too large to take, known only by its header fields
// (the IMAP server's envelope of it): the mail itself is never fetched.
type Oversized struct {
	From, FromName string
	To             []string
	Subject        string
	MessageID      string
	InReplyTo      []string
	Date           time.Time
	Size           int64
}

// IngestOversized files a stand-in for a mail too large to take, so that
// nothing sent to support goes unseen: a short message from the same
// sender, with its subject, Message-ID and In-Reply-To, saying it was too
// large, and an internal note telling the agent where the original is
// (left in the support mailbox, flagged) and what to ask the customer.
// It goes through Ingest, so it threads, matches the customer and is
// acknowledged as the original would have been; the stand-in carries no
// signature, so its sender never counts as authenticated. Reporting the
// same mail again files nothing twice.
func (s *Service) IngestOversized(ctx context.Context, o Oversized, env Envelope) (*Result, error) {
	from, err := mail.ParseAddress(o.From)
	if err != nil || !validAddr(from.Address) {
		return nil, okpay.Errorf(okpay.EInvalid, "The oversized mail has no usable sender address.")
	}
	data := map[string]any{"Size": megabytes(o.Size), "Limit": megabytes(s.cfg.MaxBytes), "Subject": oneLine(o.Subject)}
	raw := standIn(o, from.Address, s.both("email.oversized.body", data))
	return s.ingest(ctx, raw, env, []string{s.both("email.note.oversized", data)})
}

// standIn writes the stand-in mail: header fields from the envelope, made
// safe (no line breaks, encoded words for non-ASCII), and body as text.
func standIn(o Oversized, from, body string) []byte {
	var b bytes.Buffer
	w := func(name, value string) {
		if value != "" {
			fmt.Fprintf(&b, "%s: %s\r\n", name, value)
		}
	}
	w("From", fromField(o.FromName, from))
	var to []string
	for _, a := range o.To {
		if p, err := mail.ParseAddress(a); err == nil {
			to = append(to, p.String())
		}
	}
	w("To", strings.Join(to, ", "))
	w("Subject", mime.QEncoding.Encode("utf-8", oneLine(o.Subject)))
	if id := msgID(o.MessageID); id != "" {
		w("Message-ID", "<"+id+">")
	}
	var reply []string
	for _, r := range o.InReplyTo {
		if id := msgID(r); id != "" {
			reply = append(reply, "<"+id+">")
		}
	}
	w("In-Reply-To", strings.Join(reply, " "))
	if !o.Date.IsZero() {
		w("Date", o.Date.Format(time.RFC1123Z))
	}
	w("MIME-Version", "1.0")
	w("Content-Type", "text/plain; charset=utf-8")
	w("Content-Transfer-Encoding", "base64")
	b.WriteString("\r\n")
	enc := base64.StdEncoding.EncodeToString([]byte(body))
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n")
	return b.Bytes()
}

// fromField writes the From field. A name that is not ASCII goes in
// base64 encoded words: mail.Address.String would use Q encoding, whose
// words may carry characters (a backslash, say) that net/mail then
// refuses to read back as an address.
func fromField(name, addr string) string {
	name = oneLine(name)
	a := &mail.Address{Address: addr}
	for _, r := range name {
		if r >= utf8.RuneSelf {
			return mime.BEncoding.Encode("utf-8", name) + " " + a.String()
		}
	}
	a.Name = name
	return a.String()
}

// oneLine drops control characters (a header field must stay one line)
// and bytes that are not UTF-8 (they would make the encoded words
// unreadable).
func oneLine(s string) string {
	s = strings.ToValidUTF8(s, "")
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }), " ")
}

// msgID returns id (without angle brackets) when it is a plausible
// Message-ID, else "".
func msgID(id string) string {
	id = strings.Trim(strings.TrimSpace(id), "<>")
	if id == "" || len(id) > 250 || !strings.Contains(id, "@") {
		return ""
	}
	for _, r := range id {
		if r <= ' ' || r >= 0x7f || strings.ContainsRune("<>()[]\\,;:\"", r) {
			return ""
		}
	}
	return id
}

// megabytes writes a size in MB with one decimal.
func megabytes(n int64) string {
	return fmt.Sprintf("%d.%d MB", n>>20, (n&(1<<20-1))*10>>20)
}
