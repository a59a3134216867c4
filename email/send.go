package email

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	netmail "net/mail"
	"net/textproto"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// Outgoing is a mail the desk sends: a reply, an acknowledgement, a
// notification.
type Outgoing struct {
	From       Address
	To         []Address
	Subject    string
	Text, HTML string // UTF-8; HTML optional (text-only mail when empty)
	// MessageID is the id to send, without angle brackets; when empty a
	// random one on the From domain is made (see NewMessageID).
	MessageID  string
	InReplyTo  string   // without angle brackets
	References []string // without angle brackets, oldest first
	Date       time.Time
	// Headers are extra headers, e.g. "Auto-Submitted": "auto-replied".
	Headers map[string]string
	// Attachments are sent as MIME attachments (multipart/mixed around
	// the body); Inline and ContentID are ignored.
	Attachments []Attachment
}

// SenderConfig configures a Sender.
type SenderConfig struct {
	Host     string
	Port     int    // 0: 25 for none, 587 for starttls, 465 for tls
	TLS      string // "none", "starttls" (mandatory) or "tls" (implicit); "" is "starttls"
	Username string // SMTP AUTH (PLAIN or LOGIN, auto-discovered) when set
	Password string
	HeloName string
	Timeout  time.Duration // per connection; 0: 30 s
	// TLSConfig overrides the TLS settings (ServerName defaults to Host).
	TLSConfig *tls.Config
	// DKIM signing is on when DKIMKey != nil (RSA or Ed25519).
	DKIMDomain, DKIMSelector string
	DKIMKey                  crypto.Signer
	// Now gives the Date of outgoing mail without one; nil: time.Now.
	Now func() time.Time
	// Rand is the source of Message-ID randomness; nil: crypto/rand.
	Rand io.Reader
}

// DKIM is what Compose needs to sign a message.
type DKIM struct {
	Domain, Selector string
	Key              crypto.Signer
}

// Sender delivers Outgoing mail to one SMTP relay. It is safe for
// concurrent use: each Send opens its own connection.
type Sender struct {
	cfg  SenderConfig
	dkim *DKIM
}

// NewSender checks cfg and returns a Sender.
func NewSender(cfg SenderConfig) (*Sender, error) {
	if cfg.Host == "" {
		return nil, errors.New("email: sender: host is required")
	}
	switch cfg.TLS {
	case "":
		cfg.TLS = "starttls"
	case "none", "starttls", "tls":
	default:
		return nil, fmt.Errorf("email: sender: unknown TLS mode %q (none, starttls or tls)", cfg.TLS)
	}
	if cfg.Port == 0 {
		switch cfg.TLS {
		case "none":
			cfg.Port = 25
		case "starttls":
			cfg.Port = 587
		case "tls":
			cfg.Port = 465
		}
	}
	if cfg.Port < 0 || cfg.Port > 65535 {
		return nil, fmt.Errorf("email: sender: bad port %d", cfg.Port)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	s := &Sender{cfg: cfg}
	if cfg.DKIMKey != nil {
		if cfg.DKIMDomain == "" || cfg.DKIMSelector == "" {
			return nil, errors.New("email: sender: DKIM needs a domain and a selector")
		}
		s.dkim = &DKIM{Domain: cfg.DKIMDomain, Selector: cfg.DKIMSelector, Key: cfg.DKIMKey}
	}
	return s, nil
}

// Send composes o (filling Date and Message-ID when empty), signs it and
// delivers it. Use IsPermanent on the error to know whether to retry.
func (s *Sender) Send(ctx context.Context, o Outgoing) error {
	if o.Date.IsZero() {
		o.Date = s.cfg.Now()
	}
	if o.MessageID == "" {
		o.MessageID = NewMessageID(o.From.Domain(), s.cfg.Rand)
	}
	msg, err := buildMsg(o, s.dkim)
	if err != nil {
		return permanent(err)
	}
	opts := []gomail.Option{
		gomail.WithPort(s.cfg.Port),
		gomail.WithTimeout(s.cfg.Timeout),
	}
	switch s.cfg.TLS {
	case "none":
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	case "starttls":
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case "tls":
		opts = append(opts, gomail.WithSSL())
	}
	if s.cfg.HeloName != "" {
		opts = append(opts, gomail.WithHELO(s.cfg.HeloName))
	}
	if s.cfg.Username != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(s.cfg.Username), gomail.WithPassword(s.cfg.Password))
	}
	tc := &tls.Config{ServerName: s.cfg.Host, MinVersion: tls.VersionTLS12}
	if s.cfg.TLSConfig != nil {
		tc = s.cfg.TLSConfig.Clone()
		if tc.ServerName == "" {
			tc.ServerName = s.cfg.Host
		}
	}
	opts = append(opts, gomail.WithTLSConfig(tc))
	c, err := gomail.NewClient(s.cfg.Host, opts...)
	if err != nil {
		return permanent(err)
	}
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		return &SendError{err: err, permanent: classifyPermanent(err)}
	}
	return nil
}

// Compose returns the bytes Send would send for o, signed when dkim is
// given. o.Date and o.MessageID must be set.
func Compose(o Outgoing, dkim ...DKIM) ([]byte, error) {
	var d *DKIM
	if len(dkim) > 0 && dkim[0].Key != nil {
		d = &dkim[0]
	}
	if o.Date.IsZero() {
		return nil, errors.New("email: compose: Date is required")
	}
	if o.MessageID == "" {
		return nil, errors.New("email: compose: MessageID is required")
	}
	msg, err := buildMsg(o, d)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if _, err := msg.WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// headers Outgoing.Headers may not override: they are set from the fields.
var reservedHeaders = map[string]bool{
	"From": true, "To": true, "Cc": true, "Bcc": true, "Subject": true, "Date": true,
	"Message-Id": true, "In-Reply-To": true, "References": true, "Mime-Version": true,
	"Content-Type": true, "Content-Transfer-Encoding": true, "Dkim-Signature": true,
}

// dkimHeaders are signed when present. The list must stay under ~70
// characters: go-mail v0.8.1 folds a longer h= tag in the middle of a
// header name, and relaxed canonicalisation then breaks the signature
// (which is also why nothing is oversigned).
var dkimHeaders = []string{"From", "To", "Subject", "Date", "Message-ID", "In-Reply-To", "References", "Content-Type"}

func buildMsg(o Outgoing, d *DKIM) (*gomail.Msg, error) {
	if o.From.Addr == "" {
		return nil, errors.New("email: From is required")
	}
	if len(o.To) == 0 {
		return nil, errors.New("email: at least one recipient is required")
	}
	if o.Text == "" && o.HTML == "" {
		return nil, errors.New("email: empty body")
	}
	for _, id := range append([]string{o.MessageID, o.InReplyTo}, o.References...) {
		if !validMsgID(id) {
			return nil, fmt.Errorf("email: bad message id %q", id)
		}
	}
	opts := []gomail.MsgOption{
		gomail.WithCharset(gomail.CharsetUTF8),
		gomail.WithEncoding(gomail.EncodingQP),
		gomail.WithNoDefaultUserAgent(),
	}
	if d != nil {
		signer := gomail.NewDKIMSigner(d.Domain, d.Selector, d.Key)
		signer.SignHeaders(dkimHeaders...)
		date := o.Date
		signer.NowFunc = func() time.Time { return date }
		opts = append(opts, gomail.WithDKIM(signer))
	}
	m := gomail.NewMsg(opts...)
	m.FromMailAddress(&netmail.Address{Name: oneLine(o.From.Name), Address: o.From.Addr})
	for _, to := range o.To {
		if to.Addr == "" || strings.ContainsAny(to.Addr, "\r\n<>,") {
			return nil, fmt.Errorf("email: bad recipient %q", to.Addr)
		}
		m.AddToMailAddress(&netmail.Address{Name: oneLine(to.Name), Address: to.Addr})
	}
	if _, err := m.GetRecipients(); err != nil {
		return nil, err
	}
	m.Subject(oneLine(o.Subject))
	m.SetDateWithValue(o.Date)
	if o.MessageID != "" {
		m.SetMessageIDWithValue(o.MessageID)
	}
	if o.InReplyTo != "" {
		m.SetGenHeader(gomail.HeaderInReplyTo, "<"+o.InReplyTo+">")
	}
	if len(o.References) > 0 {
		refs := make([]string, len(o.References))
		for i, r := range o.References {
			refs[i] = "<" + r + ">"
		}
		// Folded so that long threads stay under the 998-octet line limit.
		m.SetGenHeaderPreformatted(gomail.HeaderReferences, strings.Join(refs, "\r\n "))
	}
	for k, v := range o.Headers {
		k = textproto.CanonicalMIMEHeaderKey(strings.TrimSpace(k))
		if k == "" || reservedHeaders[k] || strings.ContainsAny(k, " :\r\n") {
			return nil, fmt.Errorf("email: header %q cannot be set", k)
		}
		m.SetGenHeader(gomail.Header(k), oneLine(v))
	}
	if o.Text != "" && o.HTML != "" {
		m.SetBodyString(gomail.TypeTextPlain, o.Text)
		m.AddAlternativeString(gomail.TypeTextHTML, o.HTML)
	} else if o.Text != "" {
		m.SetBodyString(gomail.TypeTextPlain, o.Text)
	} else {
		m.SetBodyString(gomail.TypeTextHTML, o.HTML)
	}
	for i, a := range o.Attachments {
		name := oneLine(a.Name)
		if name == "" {
			name = fmt.Sprintf("attachment-%d", i+1)
		}
		ct := strings.ToLower(oneLine(a.ContentType))
		if ct == "" || strings.ContainsAny(ct, "\";") || !strings.Contains(ct, "/") {
			ct = "application/octet-stream"
		}
		if err := m.AttachReader(name, bytes.NewReader(a.Data), gomail.WithFileContentType(gomail.ContentType(ct))); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func validMsgID(id string) bool {
	if id == "" {
		return true
	}
	if len(id) > 250 || !strings.Contains(id, "@") {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if c <= ' ' || c >= 0x7f || c == '<' || c == '>' || c == '"' || c == '\\' || c == ',' {
			return false
		}
	}
	return true
}

func oneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' || r == '\t' {
			return ' '
		}
		return r
	}, s)
	return strings.TrimSpace(s)
}

// SendError is a delivery failure; Permanent tells whether retrying the
// same message can help.
type SendError struct {
	err       error
	permanent bool
}

func (e *SendError) Error() string {
	kind := "temporary"
	if e.permanent {
		kind = "permanent"
	}
	return "email: send (" + kind + "): " + e.err.Error()
}

func (e *SendError) Unwrap() error { return e.err }

// Permanent reports whether retrying cannot help (5xx reply, invalid message).
func (e *SendError) Permanent() bool { return e.permanent }

func permanent(err error) error { return &SendError{err: err, permanent: true} }

// IsPermanent reports whether err is a delivery failure that retrying will
// not fix: a 5xx SMTP reply or a message that cannot be built. Connection
// failures, timeouts and 4xx replies are temporary; nil is not permanent.
func IsPermanent(err error) bool {
	if err == nil {
		return false
	}
	var se *SendError
	if errors.As(err, &se) {
		return se.permanent
	}
	return classifyPermanent(err)
}

func classifyPermanent(err error) bool {
	var gse *gomail.SendError
	if errors.As(err, &gse) {
		if code := gse.ErrorCode(); code >= 400 {
			return code >= 500
		}
		return !gse.IsTemp() && gse.Reason != gomail.ErrConnCheck && gse.Reason != gomail.ErrWriteContent &&
			gse.Reason != gomail.ErrSMTPDataClose && gse.Reason != gomail.ErrAmbiguous
	}
	var tpe *textproto.Error
	if errors.As(err, &tpe) {
		return tpe.Code >= 500
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return false
	}
	// An SMTP reply that failed auth or was rejected at greeting shows as
	// "5xx ..." text; anything else (dial, TLS, EOF) may pass on retry.
	msg := err.Error()
	if i := strings.Index(msg, ": 5"); i >= 0 && len(msg) > i+4 && isDigit(msg[i+3]) && isDigit(msg[i+4]) {
		return true
	}
	return len(msg) >= 3 && msg[0] == '5' && isDigit(msg[1]) && isDigit(msg[2])
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
