package maildesk_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	netmail "net/mail"
	"net/smtp"
	"strings"
	"sync"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/okpay/okpay/clock"
	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/desk/realtime"
	"github.com/okpay/okpay/email"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/maildesk"
	"github.com/okpay/okpay/secret"
	"github.com/okpay/okpay/sqldb"
)

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// customers is a Customers of fixed verified addresses.
type customers map[string]int64

func (c customers) CustomerByEmail(_ context.Context, addr string) (int64, i18n.Lang, bool, error) {
	id, ok := c[strings.ToLower(addr)]
	return id, i18n.En, ok, nil
}

func (c customers) CustomerEmail(_ context.Context, id int64) (string, error) {
	for a, i := range c {
		if i == id {
			return a, nil
		}
	}
	return "", nil
}

const (
	alice    = "alice@example.com" // a customer with a verified address
	aliceID  = int64(1001)
	stranger = "mallory@evil.example"
	visitor  = "wang@example.cn"
	support  = "support@okpay.test"
	agentA   = int64(5001)
)

type harness struct {
	t     testing.TB
	ctx   context.Context
	db    *sqldb.DB
	clock *clock.Manual
	desk  *desk.Service
	svc   *maildesk.Service
	ln    *maildesk.Listener
	cat   *i18n.Catalog
}

func newHarness(t testing.TB, db *sqldb.DB) *harness {
	t.Helper()
	return newHarnessWith(t, db, nil)
}

// newHarnessWith is newHarness with cfg changed by configure first.
func newHarnessWith(t testing.TB, db *sqldb.DB, configure func(*maildesk.Config)) *harness {
	t.Helper()
	h := &harness{t: t, ctx: context.Background(), db: db, clock: clock.NewManual(t0)}
	gen := &ids.Sequence{}
	d, err := desk.New(desk.Deps{DB: db, Clock: h.clock, IDs: gen, Bus: realtime.NewMemory(0)}, desk.Config{})
	if err != nil {
		t.Fatal(err)
	}
	h.desk = d
	cat, err := i18n.New()
	if err != nil {
		t.Fatal(err)
	}
	h.cat = cat
	keys, err := secret.NewKeyring(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	addrs, ok := maildesk.ParseAddresses(support + ", help@okpay.test")
	if !ok {
		t.Fatal("addresses")
	}
	cfg := maildesk.Config{Addresses: addrs, MaxBytes: 256 << 10, MaxNewPerHour: 3,
		// No DNS in tests: a signed mail verifies only with a key a test gives.
		Auth: email.AuthOptions{LookupTXT: func(context.Context, string) ([]string, error) { return nil, errors.New("no DNS in tests") }}}
	if configure != nil {
		configure(&cfg)
	}
	h.svc, err = maildesk.New(maildesk.Deps{DB: db, Clock: h.clock, IDs: gen, Desk: d, Customers: customers{alice: aliceID},
		Catalog: cat, Tokens: maildesk.NewTokens(keys)}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.ln, err = maildesk.Listen(h.svc, maildesk.ListenerConfig{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	go h.ln.Serve()
	t.Cleanup(func() { h.ln.Close() })
	return h
}

// mail is a plain UTF-8 mail.
type mail struct {
	from, to, subject, body, msgID, inReplyTo string
	headers                                   []string
}

func (m mail) bytes() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%s>\r\nDate: Mon, 2 Mar 2026 09:00:00 +0000\r\n", m.from, m.to, m.subject, m.msgID)
	if m.inReplyTo != "" {
		fmt.Fprintf(&b, "In-Reply-To: <%s>\r\nReferences: <%s>\r\n", m.inReplyTo, m.inReplyTo)
	}
	for _, h := range m.headers {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	b.WriteString(strings.ReplaceAll(m.body, "\n", "\r\n") + "\r\n")
	return b.Bytes()
}

// send delivers raw over SMTP with the standard library's client.
func (h *harness) send(from string, to []string, raw []byte) error {
	return smtp.SendMail(h.ln.Addr().String(), nil, from, to, raw)
}

func (h *harness) mustSend(m mail) {
	h.t.Helper()
	from := m.from
	if a, err := netmail.ParseAddress(from); err == nil {
		from = a.Address
	}
	if err := h.send(from, []string{m.to}, m.bytes()); err != nil {
		h.t.Fatalf("send %q: %v", m.subject, err)
	}
}

// inbound returns what ingest recorded of the mail with msgID.
func (h *harness) inbound(msgID string) (status string, conv int64, threadedBy string) {
	h.t.Helper()
	if err := h.db.Read.QueryRowContext(h.ctx, `SELECT status, conversation_id, threaded_by FROM email_inbound WHERE message_id = $1`, msgID).
		Scan(&status, &conv, &threadedBy); err != nil {
		h.t.Fatalf("inbound %s: %v", msgID, err)
	}
	return
}

func (h *harness) messages(conv int64) []*desk.Message {
	h.t.Helper()
	ms, err := h.desk.Messages(h.ctx, desk.System, conv, 0, desk.MaxPage)
	if err != nil {
		h.t.Fatal(err)
	}
	return ms
}

func (h *harness) count(q string, args ...any) int {
	h.t.Helper()
	var n int
	if err := h.db.Read.QueryRowContext(h.ctx, q, args...).Scan(&n); err != nil {
		h.t.Fatal(err)
	}
	return n
}

// outMessageID returns the Message-ID of the latest outgoing mail of conv.
func (h *harness) outMessageID(conv int64, kind string) string {
	h.t.Helper()
	var id string
	if err := h.db.Read.QueryRowContext(h.ctx, `SELECT message_id FROM email_outbox WHERE conversation_id = $1 AND kind = $2 ORDER BY id DESC LIMIT 1`, conv, kind).Scan(&id); err != nil {
		h.t.Fatalf("outgoing %s of %d: %v", kind, conv, err)
	}
	return id
}

// sink is an SMTP server that captures what it receives; fail makes it
// answer the next DATA commands with an error.
type sink struct {
	mu   sync.Mutex
	got  []captured
	fail []*gosmtp.SMTPError
	srv  *gosmtp.Server
	addr string
}

type captured struct {
	from string
	to   []string
	data []byte
}

func newSink(t *testing.T) *sink {
	t.Helper()
	s := &sink{}
	srv := gosmtp.NewServer(gosmtp.BackendFunc(func(c *gosmtp.Conn) (gosmtp.Session, error) { return &sinkSession{s: s}, nil }))
	srv.Domain = "relay.test"
	srv.AllowInsecureAuth = true
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.srv, s.addr = srv, ln.Addr().String()
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return s
}

// failNext makes the next DATA commands fail with errs.
func (s *sink) failNext(errs ...*gosmtp.SMTPError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = errs
}

func (s *sink) all() []captured {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]captured(nil), s.got...)
}

func (s *sink) sender(t *testing.T) *email.Sender {
	t.Helper()
	host, port, _ := net.SplitHostPort(s.addr)
	var p int
	fmt.Sscan(port, &p)
	snd, err := email.NewSender(email.SenderConfig{Host: host, Port: p, TLS: "none", Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return snd
}

type sinkSession struct {
	s   *sink
	cur captured
}

func (ss *sinkSession) Reset()        { ss.cur = captured{} }
func (ss *sinkSession) Logout() error { return nil }
func (ss *sinkSession) Mail(from string, _ *gosmtp.MailOptions) error {
	ss.cur.from = from
	return nil
}
func (ss *sinkSession) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	ss.cur.to = append(ss.cur.to, to)
	return nil
}
func (ss *sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ss.s.mu.Lock()
	defer ss.s.mu.Unlock()
	if len(ss.s.fail) > 0 {
		e := ss.s.fail[0]
		ss.s.fail = ss.s.fail[1:]
		return e
	}
	ss.cur.data = b
	ss.s.got = append(ss.s.got, ss.cur)
	return nil
}
