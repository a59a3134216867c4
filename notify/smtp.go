package notify

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	netmail "net/mail"
	"strings"
	"time"

	"github.com/wneessen/go-mail"
)

// SMTPConfig configures an SMTPSender.
type SMTPConfig struct {
	Host string
	// Port defaults to 25 ("none"), 587 ("starttls") or 465 ("tls").
	Port     int
	Username string
	Password string
	// TLS is "none" (plain text; authentication is then only allowed to
	// localhost), "starttls" (STARTTLS required) or "tls" (implicit TLS).
	TLS string
	// From is the sender, "OKPay <no-reply@example.com>" or a bare address.
	From string
	// HeloName is the EHLO name (default: the host name).
	HeloName string
	// Timeout bounds one connection (default 30 s, and never beyond the
	// context's deadline).
	Timeout time.Duration
	// TLSConfig overrides the TLS settings (a private CA, say). By default
	// the server certificate is verified for Host, TLS 1.2 at least.
	TLSConfig *tls.Config
}

// SMTPSender sends the "email" channel through an SMTP server. Each
// message is a UTF-8 text body with an optional HTML alternative; its
// Message-ID is derived from the dedupe key, so a redelivered copy carries
// the same Message-ID as the first.
type SMTPSender struct {
	cfg    SMTPConfig
	from   *netmail.Address
	domain string
}

// NewSMTPSender checks cfg and returns the sender.
func NewSMTPSender(cfg SMTPConfig) (*SMTPSender, error) {
	if cfg.Host == "" {
		return nil, errors.New("notify: SMTP host missing")
	}
	from, err := netmail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("notify: SMTP from address %q: %w", cfg.From, err)
	}
	at := strings.LastIndexByte(from.Address, '@')
	if at < 0 || at == len(from.Address)-1 {
		return nil, fmt.Errorf("notify: SMTP from address %q has no domain", cfg.From)
	}
	switch cfg.TLS {
	case "none":
		if cfg.Port == 0 {
			cfg.Port = 25
		}
	case "starttls":
		if cfg.Port == 0 {
			cfg.Port = 587
		}
	case "tls":
		if cfg.Port == 0 {
			cfg.Port = 465
		}
	default:
		return nil, fmt.Errorf("notify: SMTP TLS mode %q: want none, starttls or tls", cfg.TLS)
	}
	if cfg.Port < 1 || cfg.Port > 65535 {
		return nil, fmt.Errorf("notify: SMTP port %d out of range", cfg.Port)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Password != "" && cfg.Username == "" {
		return nil, errors.New("notify: SMTP password without a user name")
	}
	return &SMTPSender{cfg: cfg, from: from, domain: from.Address[at+1:]}, nil
}

// MessageID returns the Message-ID (without angle brackets) of the email
// with the given dedupe key: a hash of the key at the sender's domain.
func (s *SMTPSender) MessageID(dedupeKey string) string {
	sum := sha256.Sum256([]byte("okpay.notify.message-id\x00" + dedupeKey))
	return "n." + hex.EncodeToString(sum[:20]) + "@" + s.domain
}

// Send delivers m. An address the server or the parser rejects for good
// (5xx to RCPT TO) is a permanent failure; other failures are retried.
func (s *SMTPSender) Send(ctx context.Context, m Message) error {
	msg := mail.NewMsg()
	msg.FromMailAddress(s.from)
	if err := msg.To(m.To); err != nil {
		return Permanent(errors.New("smtp: invalid destination address"))
	}
	msg.Subject(m.Subject)
	msg.SetMessageIDWithValue(s.MessageID(m.DedupeKey))
	msg.SetDate()
	msg.SetGenHeader(mail.Header("Auto-Submitted"), "auto-generated")
	msg.SetBodyString(mail.TypeTextPlain, m.Body)
	if m.HTML != "" {
		msg.AddAlternativeString(mail.TypeTextHTML, m.HTML)
	}

	timeout := s.cfg.Timeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(dl))
	}
	if timeout <= 0 {
		return context.DeadlineExceeded
	}
	tlsConfig := s.cfg.TLSConfig
	if tlsConfig == nil {
		tlsConfig = &tls.Config{ServerName: s.cfg.Host, MinVersion: tls.VersionTLS12}
	}
	opts := []mail.Option{
		mail.WithPort(s.cfg.Port),
		mail.WithTimeout(timeout),
		mail.WithTLSConfig(tlsConfig),
	}
	switch s.cfg.TLS {
	case "none":
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
	case "starttls":
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	case "tls":
		opts = append(opts, mail.WithSSL(), mail.WithTLSPolicy(mail.NoTLS))
	}
	if s.cfg.HeloName != "" {
		opts = append(opts, mail.WithHELO(s.cfg.HeloName))
	}
	if s.cfg.Username != "" {
		auth := mail.SMTPAuthAutoDiscover // the strongest mechanism offered
		if s.cfg.TLS == "none" {
			// go-mail then sends PLAIN to localhost only.
			auth = mail.SMTPAuthPlain
		}
		opts = append(opts, mail.WithSMTPAuth(auth), mail.WithUsername(s.cfg.Username), mail.WithPassword(s.cfg.Password))
	}
	client, err := mail.NewClient(s.cfg.Host, opts...)
	if err != nil {
		return Permanent(fmt.Errorf("smtp: client configuration: %w", err))
	}
	err = client.DialAndSendWithContext(ctx, msg)
	if err == nil || msg.IsDelivered() {
		// Accepted by the server; a failing RSET or QUIT afterwards does
		// not undo that.
		return nil
	}
	var se *mail.SendError
	if errors.As(err, &se) && se.Reason == mail.ErrSMTPRcptTo && se.ErrorCode() >= 500 && se.ErrorCode() < 600 {
		return Permanent(fmt.Errorf("smtp: the server refused the recipient (%d)", se.ErrorCode()))
	}
	return fmt.Errorf("smtp: %w", err)
}
