// Package email reads and writes Internet mail for the customer-service
// desk: it parses what customers send (any charset, any client, malformed or
// not) into a Message with the quoted history and signature trimmed, and it
// composes, DKIM-signs and sends replies over SMTP, with files attached;
// Authenticate says whether a mail's author is vouched for (DKIM aligned
// with From, or a trusted upstream's DMARC verdict). It holds no state and no
// storage; package maildesk builds threading, queues and acknowledgements on
// top of it.
package email

import (
	"errors"
	"net/textproto"
	"strings"
	"time"
)

// Address is a mailbox: a display name and local@domain with the domain
// lower-cased.
type Address struct{ Name, Addr string }

// String formats the address for a header, encoding the name when needed.
func (a Address) String() string { return formatAddress(a) }

// Domain returns the lower-cased domain of the address, "" when it has none.
func (a Address) Domain() string {
	if i := strings.LastIndexByte(a.Addr, '@'); i >= 0 {
		return a.Addr[i+1:]
	}
	return ""
}

// Attachment is a non-body part of a message. Inline is true for parts
// shown inside the HTML body (Content-Disposition: inline with a
// Content-ID, typically images).
type Attachment struct {
	Name, ContentType string
	Data              []byte
	Inline            bool
	ContentID         string // without angle brackets
}

// Message is a parsed incoming mail.
type Message struct {
	MessageID   string   // without angle brackets; "" when missing
	InReplyTo   []string // ids without angle brackets
	References  []string
	From        Address
	ReplyTo     []Address
	To, Cc      []Address
	Subject     string    // RFC 2047 decoded, UTF-8, one line
	Date        time.Time // zero when missing or unreadable
	Text        string    // the whole plain-text body, UTF-8
	Visible     string    // Text with quoted history and signature trimmed
	HTMLOnly    bool      // the mail had no text/plain part
	HTML        string    // the HTML body when there was one, UTF-8, unsanitised
	Attachments []Attachment
	// AutoReply is "" for mail written by a person, otherwise why it is
	// automatic: "auto-submitted", "precedence", "x-autoreply",
	// "mailer-daemon", "report" (multipart/report, DSN), "list".
	AutoReply string
	// Problems lists what was malformed but survived.
	Problems []string
	Size     int

	header textproto.MIMEHeader
}

// Get returns the first value of the named top-level header, raw (not
// RFC 2047 decoded), "" when absent.
func (m *Message) Get(name string) string {
	if m == nil || m.header == nil {
		return ""
	}
	return m.header.Get(name)
}

// Values returns every value of the named top-level header.
func (m *Message) Values(name string) []string {
	if m == nil || m.header == nil {
		return nil
	}
	return m.header.Values(name)
}

// Limits bounds what Parse accepts. Zero fields take the defaults.
type Limits struct {
	MaxBytes           int64 // whole message; default 10 MiB
	MaxParts           int   // MIME parts; default 100
	MaxAttachmentBytes int64 // one attachment; default 5 MiB
}

// Default limits.
const (
	DefaultMaxBytes           = 10 << 20
	DefaultMaxParts           = 100
	DefaultMaxAttachmentBytes = 5 << 20
)

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MaxParts <= 0 {
		l.MaxParts = DefaultMaxParts
	}
	if l.MaxAttachmentBytes <= 0 {
		l.MaxAttachmentBytes = DefaultMaxAttachmentBytes
	}
	return l
}

// ErrTooLarge is returned by Parse for a message over Limits.MaxBytes.
var ErrTooLarge = errors.New("email: message too large")
