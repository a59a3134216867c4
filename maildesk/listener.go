package maildesk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// ListenerConfig tunes the SMTP listener. Zero fields take the defaults.
type ListenerConfig struct {
	// Addr is where to listen (host:port; port 0 picks one).
	Addr string // 127.0.0.1:2525
	// Hostname is the name in the greeting.
	Hostname string // the support domain
	// MaxConns caps connections served at once (others wait).
	MaxConns int // 50
	// MaxMessagesPerConn caps the mails of one connection.
	MaxMessagesPerConn int // 100
	// MaxRecipients caps RCPT TO of one mail.
	MaxRecipients int // 20
	// Timeout is the read and write timeout of each command.
	Timeout time.Duration // 60 s
	// IngestTimeout bounds the filing of one mail.
	IngestTimeout time.Duration // 60 s
}

func (c *ListenerConfig) defaults(s *Service) {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:2525"
	}
	if c.Hostname == "" {
		c.Hostname = s.cfg.Addresses.Domain()
	}
	if c.MaxConns <= 0 {
		c.MaxConns = 50
	}
	if c.MaxMessagesPerConn <= 0 {
		c.MaxMessagesPerConn = 100
	}
	if c.MaxRecipients <= 0 {
		c.MaxRecipients = 20
	}
	if c.Timeout <= 0 {
		c.Timeout = 60 * time.Second
	}
	if c.IngestTimeout <= 0 {
		c.IngestTimeout = 60 * time.Second
	}
}

// Listener is the built-in SMTP server: it accepts mail for the support
// addresses (tagged or not) and files it with Service.Ingest.
type Listener struct {
	s   *Service
	cfg ListenerConfig
	srv *smtp.Server
	ln  net.Listener
}

// Listen opens the listener's socket (Serve serves it).
func Listen(s *Service, cfg ListenerConfig) (*Listener, error) {
	cfg.defaults(s)
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("email listener on %s: %w", cfg.Addr, err)
	}
	l := &Listener{s: s, cfg: cfg, ln: &limitListener{Listener: ln, sem: make(chan struct{}, cfg.MaxConns)}}
	srv := smtp.NewServer(l)
	srv.Domain = cfg.Hostname
	srv.MaxMessageBytes = s.cfg.MaxBytes
	srv.MaxRecipients = cfg.MaxRecipients
	srv.ReadTimeout = cfg.Timeout
	srv.WriteTimeout = cfg.Timeout
	srv.EnableSMTPUTF8 = true
	srv.ErrorLog = log.New(io.Discard, "", 0)
	l.srv = srv
	return l, nil
}

// Addr is the address the listener listens on.
func (l *Listener) Addr() net.Addr { return l.ln.Addr() }

// Serve serves until Close.
func (l *Listener) Serve() error {
	err := l.srv.Serve(l.ln)
	if errors.Is(err, smtp.ErrServerClosed) {
		return nil
	}
	return err
}

// Close stops the listener and closes its connections.
func (l *Listener) Close() error { return l.srv.Close() }

// NewSession is the go-smtp backend's session factory.
func (l *Listener) NewSession(c *smtp.Conn) (smtp.Session, error) {
	remote := ""
	if nc := c.Conn(); nc != nil {
		remote = nc.RemoteAddr().String()
	}
	return &session{l: l, remote: remote}, nil
}

type session struct {
	l      *Listener
	remote string
	from   string
	rcpts  []string
	count  int
}

var (
	errUnknownRcpt = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such mailbox here: this server only accepts mail for the support desk's addresses"}
	errTooMany     = &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "Too many messages on one connection, please reconnect"}
	errTryLater    = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Temporary failure storing the message, please try again later"}
)

func (s *session) Reset()        { s.from, s.rcpts = "", nil }
func (s *session) Logout() error { return nil }

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if s.count >= s.l.cfg.MaxMessagesPerConn {
		return errTooMany
	}
	s.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if _, ok := s.l.s.cfg.Addresses.Match(to); !ok {
		return errUnknownRcpt
	}
	s.rcpts = append(s.rcpts, strings.ToLower(to))
	return nil
}

func (s *session) Data(r io.Reader) error {
	s.count++
	raw, err := io.ReadAll(r)
	if err != nil {
		var se *smtp.SMTPError
		if errors.As(err, &se) && se.Code == smtp.ErrDataTooLarge.Code {
			return &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4},
				Message: fmt.Sprintf("Message too large: the support desk accepts mail up to %d KB. Please send fewer or smaller attachments", s.l.s.cfg.MaxBytes>>10)}
		}
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.l.cfg.IngestTimeout)
	defer cancel()
	if _, err := s.l.s.Ingest(ctx, raw, Envelope{MailFrom: s.from, RcptTo: s.rcpts, RemoteAddr: s.remote, NullSender: s.from == ""}); err != nil {
		s.l.s.log.Warn("maildesk: ingest", "from", s.from, "remote", s.remote, "err", err)
		return errTryLater
	}
	return nil
}

// limitListener serves at most cap(sem) connections at once.
type limitListener struct {
	net.Listener
	sem chan struct{}
}

func (l *limitListener) Accept() (net.Conn, error) {
	l.sem <- struct{}{}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.sem }}, nil
}

type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
