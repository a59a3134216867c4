package email

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"net"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	message "github.com/emersion/go-message"
	"github.com/emersion/go-msgauth/dkim"
	smtp "github.com/emersion/go-smtp"
)

// smtpSink is an SMTP server on 127.0.0.1 that keeps what it is sent and
// can be told to reject MAIL, RCPT or DATA.
type smtpSink struct {
	addr string
	port int

	mu       sync.Mutex
	from     string
	rcpts    []string
	data     [][]byte
	rcptErr  error
	dataErr  error
	sessions int
}

func startSMTP(t *testing.T) *smtpSink {
	t.Helper()
	sink := &smtpSink{}
	s := smtp.NewServer(sink)
	s.Domain = "mx.test.example"
	s.AllowInsecureAuth = true
	s.ReadTimeout = 10 * time.Second
	s.WriteTimeout = 10 * time.Second
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sink.addr = l.Addr().String()
	sink.port = l.Addr().(*net.TCPAddr).Port
	go func() { _ = s.Serve(l) }()
	t.Cleanup(func() { _ = s.Close() })
	return sink
}

func (k *smtpSink) NewSession(*smtp.Conn) (smtp.Session, error) {
	k.mu.Lock()
	k.sessions++
	k.mu.Unlock()
	return &sinkSession{k: k}, nil
}

type sinkSession struct{ k *smtpSink }

func (s *sinkSession) Reset()        {}
func (s *sinkSession) Logout() error { return nil }
func (s *sinkSession) Mail(from string, _ *smtp.MailOptions) error {
	s.k.mu.Lock()
	defer s.k.mu.Unlock()
	s.k.from = from
	return nil
}
func (s *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.k.mu.Lock()
	defer s.k.mu.Unlock()
	if s.k.rcptErr != nil {
		return s.k.rcptErr
	}
	s.k.rcpts = append(s.k.rcpts, to)
	return nil
}
func (s *sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.k.mu.Lock()
	defer s.k.mu.Unlock()
	if s.k.dataErr != nil {
		return s.k.dataErr
	}
	s.k.data = append(s.k.data, b)
	return nil
}

func (k *smtpSink) last(t *testing.T) []byte {
	t.Helper()
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.data) == 0 {
		t.Fatal("nothing delivered")
	}
	return k.data[len(k.data)-1]
}

func newTestSender(t *testing.T, sink *smtpSink, key crypto.Signer) *Sender {
	t.Helper()
	cfg := SenderConfig{Host: "127.0.0.1", Port: sink.port, TLS: "none", HeloName: "okpay.example", Timeout: 5 * time.Second,
		Now: func() time.Time { return time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC) }}
	if key != nil {
		cfg.DKIMDomain, cfg.DKIMSelector, cfg.DKIMKey = "okpay.example", "okp2026", key
	}
	s, err := NewSender(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func reply() Outgoing {
	return Outgoing{
		From:       Address{"OKPay 客服", "support@okpay.example"},
		To:         []Address{{"张伟", "zhang.wei@gmail.com"}},
		Subject:    "Re: 提现未到账 [工单 T-1042]",
		Text:       "您好，\n\n款项已于今天到账。\n\nOKPay 客服",
		HTML:       "<p>您好，</p><p>款项已于今天<b>到账</b>。</p>",
		InReplyTo:  "CAF8kQ2x+3vT9Lq_7y4PZc9bS1mJ0aR5e@mail.gmail.com",
		References: []string{"okp.9c2f1e7a3b@okpay.example", "CAF8kQ2x+3vT9Lq_7y4PZc9bS1mJ0aR5e@mail.gmail.com"},
		Headers:    map[string]string{"Auto-Submitted": "auto-replied"},
	}
}

func dkimLookup(pub crypto.PublicKey) func(string) ([]string, error) {
	return func(domain string) ([]string, error) {
		if domain != "okp2026._domainkey.okpay.example" {
			return nil, errors.New("no such record: " + domain)
		}
		switch k := pub.(type) {
		case ed25519.PublicKey:
			return []string{"v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(k)}, nil
		default:
			der, err := x509.MarshalPKIXPublicKey(k)
			if err != nil {
				return nil, err
			}
			return []string{"v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der)}, nil
		}
	}
}

var generatedID = regexp.MustCompile(`^<[a-z2-7]{26}@okpay\.example>$`)

func TestSendHeadersAndDKIM(t *testing.T) {
	edPub, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		key  crypto.Signer
		pub  crypto.PublicKey
	}{{"ed25519", edKey, edPub}, {"rsa", rsaKey, &rsaKey.PublicKey}} {
		t.Run(tc.name, func(t *testing.T) {
			sink := startSMTP(t)
			s := newTestSender(t, sink, tc.key)
			if err := s.Send(context.Background(), reply()); err != nil {
				t.Fatal(err)
			}
			raw := sink.last(t)
			sink.mu.Lock()
			if sink.from != "support@okpay.example" || !slices.Equal(sink.rcpts, []string{"zhang.wei@gmail.com"}) {
				t.Errorf("envelope %q -> %q", sink.from, sink.rcpts)
			}
			sink.mu.Unlock()

			e, err := message.Read(bytes.NewReader(raw))
			if err != nil {
				t.Fatal(err)
			}
			h := e.Header
			rawSubject := h.Get("Subject")
			if !strings.HasPrefix(strings.ToUpper(rawSubject), "=?UTF-8?") {
				t.Errorf("Subject not RFC 2047 encoded: %q", rawSubject)
			}
			dec := mime.WordDecoder{}
			if got, _ := dec.DecodeHeader(rawSubject); got != "Re: 提现未到账 [工单 T-1042]" {
				t.Errorf("Subject decodes to %q", got)
			}
			if got := h.Get("In-Reply-To"); got != "<CAF8kQ2x+3vT9Lq_7y4PZc9bS1mJ0aR5e@mail.gmail.com>" {
				t.Errorf("In-Reply-To = %q", got)
			}
			if got := strings.Join(strings.Fields(h.Get("References")), " "); got != "<okp.9c2f1e7a3b@okpay.example> <CAF8kQ2x+3vT9Lq_7y4PZc9bS1mJ0aR5e@mail.gmail.com>" {
				t.Errorf("References = %q", got)
			}
			mid := h.Get("Message-Id")
			if !generatedID.MatchString(mid) {
				t.Errorf("Message-ID = %q, want random id on the From domain", mid)
			}
			if strings.Contains(mid, "1042") {
				t.Errorf("Message-ID leaks the ticket number: %q", mid)
			}
			if got := h.Get("Date"); got != "Sat, 21 Nov 2026 09:00:00 +0000" {
				t.Errorf("Date = %q", got)
			}
			if got := h.Get("Auto-Submitted"); got != "auto-replied" {
				t.Errorf("Auto-Submitted = %q", got)
			}
			if got := h.Get("Mime-Version"); got != "1.0" {
				t.Errorf("MIME-Version = %q", got)
			}
			if h.Get("User-Agent") != "" || h.Get("X-Mailer") != "" {
				t.Errorf("mailer revealed: %q %q", h.Get("User-Agent"), h.Get("X-Mailer"))
			}
			from := h.Get("From")
			if !strings.Contains(from, "<support@okpay.example>") || !strings.Contains(from, "=?") {
				t.Errorf("From = %q", from)
			}
			mt, _, _ := h.ContentType()
			if mt != "multipart/alternative" {
				t.Fatalf("Content-Type = %q", mt)
			}
			mr := e.MultipartReader()
			var types []string
			var bodies []string
			for {
				p, err := mr.NextPart()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				ct, params, _ := p.Header.ContentType()
				types = append(types, ct+";"+strings.ToLower(params["charset"]))
				b, _ := io.ReadAll(p.Body)
				bodies = append(bodies, string(b))
			}
			if !slices.Equal(types, []string{"text/plain;utf-8", "text/html;utf-8"}) {
				t.Errorf("parts = %q", types)
			}
			if len(bodies) == 2 && (!strings.Contains(bodies[0], "款项已于今天到账") || !strings.Contains(bodies[1], "<b>到账</b>")) {
				t.Errorf("bodies = %q", bodies)
			}

			vs, err := dkim.VerifyWithOptions(bytes.NewReader(raw), &dkim.VerifyOptions{LookupTXT: dkimLookup(tc.pub)})
			if err != nil {
				t.Fatal(err)
			}
			if len(vs) != 1 || vs[0].Err != nil || vs[0].Domain != "okpay.example" {
				t.Fatalf("DKIM verifications = %+v", *vs[0])
			}
			if !vs[0].Time.Equal(time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)) {
				t.Errorf("DKIM t= %v, want the injected clock", vs[0].Time)
			}
			for _, k := range []string{"from", "subject", "date", "message-id", "to", "in-reply-to", "references", "content-type"} {
				if !slices.Contains(lower(vs[0].HeaderKeys), k) {
					t.Errorf("DKIM does not sign %s: %q", k, vs[0].HeaderKeys)
				}
			}
			// A modified body must fail verification.
			tampered := bytes.Replace(raw, []byte("OKPay"), []byte("OKPAY"), 1)
			tampered = append(tampered[:len(tampered)-2], []byte("x\r\n")...)
			vs, _ = dkim.VerifyWithOptions(bytes.NewReader(tampered), &dkim.VerifyOptions{LookupTXT: dkimLookup(tc.pub)})
			if len(vs) != 1 || vs[0].Err == nil {
				t.Errorf("tampered mail verified: %+v", vs)
			}

			// What we send, we read back the same.
			m, err := Parse(raw, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if m.Subject != "Re: 提现未到账 [工单 T-1042]" || m.From != (Address{"OKPay 客服", "support@okpay.example"}) ||
				m.Text != "您好，\n\n款项已于今天到账。\n\nOKPay 客服" || m.AutoReply != "auto-submitted" || len(m.Problems) != 0 {
				t.Errorf("round trip: %+v", m)
			}
		})
	}
}

func lower(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strings.ToLower(s)
	}
	return out
}

func TestComposeMatchesSend(t *testing.T) {
	o := reply()
	o.MessageID = "fixed.id@okpay.example"
	o.Date = time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)
	o.HTML = ""
	raw, err := Compose(o)
	if err != nil {
		t.Fatal(err)
	}
	e, err := message.Read(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if mt, params, _ := e.Header.ContentType(); mt != "text/plain" || !strings.EqualFold(params["charset"], "utf-8") {
		t.Errorf("text-only Content-Type = %q %v", mt, params)
	}
	if got := e.Header.Get("Message-Id"); got != "<fixed.id@okpay.example>" {
		t.Errorf("Message-ID = %q", got)
	}
	if _, err := Compose(Outgoing{From: o.From, To: o.To, Text: "x", MessageID: "a@b"}); err == nil {
		t.Error("Compose without Date succeeded")
	}
}

func TestComposeRejects(t *testing.T) {
	base := reply()
	base.MessageID = "a@okpay.example"
	base.Date = time.Now()
	for name, mutate := range map[string]func(*Outgoing){
		"no from":           func(o *Outgoing) { o.From = Address{} },
		"no to":             func(o *Outgoing) { o.To = nil },
		"bad to":            func(o *Outgoing) { o.To = []Address{{"", "x@y.example>\r\nBcc: evil@x"}} },
		"empty body":        func(o *Outgoing) { o.Text, o.HTML = "", "" },
		"bad in-reply-to":   func(o *Outgoing) { o.InReplyTo = "a@b>\r\nBcc: x@y" },
		"reserved header":   func(o *Outgoing) { o.Headers = map[string]string{"Bcc": "x@y"} },
		"header name space": func(o *Outgoing) { o.Headers = map[string]string{"X-A: b\r\nBcc": "x"} },
	} {
		o := base
		mutate(&o)
		if _, err := Compose(o); err == nil {
			t.Errorf("%s: Compose succeeded", name)
		}
	}
	// header injection through the subject or a header value stays on one line
	o := base
	o.Subject = "hi\r\nBcc: evil@x.example"
	o.Headers = map[string]string{"X-Ticket": "1\r\nBcc: evil@x.example"}
	raw, err := Compose(o)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte("\nBcc:")) {
		t.Errorf("header injection:\n%s", raw)
	}
}

func TestSendErrorsPermanentOrTemporary(t *testing.T) {
	sink := startSMTP(t)
	s := newTestSender(t, sink, nil)

	sink.mu.Lock()
	sink.rcptErr = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	sink.mu.Unlock()
	err := s.Send(context.Background(), reply())
	if err == nil || !IsPermanent(err) {
		t.Errorf("550: err = %v, permanent = %v", err, IsPermanent(err))
	}

	sink.mu.Lock()
	sink.rcptErr = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"}
	sink.mu.Unlock()
	err = s.Send(context.Background(), reply())
	if err == nil || IsPermanent(err) {
		t.Errorf("451: err = %v, permanent = %v", err, IsPermanent(err))
	}

	sink.mu.Lock()
	sink.rcptErr = nil
	sink.dataErr = &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "content rejected"}
	sink.mu.Unlock()
	err = s.Send(context.Background(), reply())
	if err == nil || !IsPermanent(err) {
		t.Errorf("554 after DATA: err = %v, permanent = %v", err, IsPermanent(err))
	}

	sink.mu.Lock()
	sink.dataErr = &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 3, 1}, Message: "mailbox full"}
	sink.mu.Unlock()
	err = s.Send(context.Background(), reply())
	if err == nil || IsPermanent(err) {
		t.Errorf("452 after DATA: err = %v, permanent = %v", err, IsPermanent(err))
	}

	// Connection refused: a port nobody listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	refused, err := NewSender(SenderConfig{Host: "127.0.0.1", Port: port, TLS: "none", Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = refused.Send(context.Background(), reply())
	if err == nil || IsPermanent(err) {
		t.Errorf("refused: err = %v, permanent = %v", err, IsPermanent(err))
	}

	// An unbuildable message is permanent, and nothing is sent.
	sink.mu.Lock()
	before := sink.sessions
	sink.mu.Unlock()
	bad := reply()
	bad.To = nil
	err = s.Send(context.Background(), bad)
	sink.mu.Lock()
	after := sink.sessions
	sink.mu.Unlock()
	if err == nil || !IsPermanent(err) || after != before {
		t.Errorf("no recipient: err = %v, permanent = %v", err, IsPermanent(err))
	}
	if IsPermanent(nil) {
		t.Error("nil is permanent")
	}
}

func TestSendStartTLSRequired(t *testing.T) {
	// The sink offers no STARTTLS: a sender configured for it must refuse
	// to send in clear text.
	sink := startSMTP(t)
	s, err := NewSender(SenderConfig{Host: "127.0.0.1", Port: sink.port, TLS: "starttls", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), reply()); err == nil {
		t.Fatal("sent without TLS")
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if len(sink.data) != 0 {
		t.Error("data delivered in clear text")
	}
}

func TestNewSenderConfig(t *testing.T) {
	if _, err := NewSender(SenderConfig{}); err == nil {
		t.Error("no host accepted")
	}
	if _, err := NewSender(SenderConfig{Host: "x", TLS: "ssl"}); err == nil {
		t.Error("unknown TLS mode accepted")
	}
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	if _, err := NewSender(SenderConfig{Host: "x", DKIMKey: key}); err == nil {
		t.Error("DKIM without domain accepted")
	}
	s, err := NewSender(SenderConfig{Host: "x", TLS: "tls"})
	if err != nil || s.cfg.Port != 465 {
		t.Errorf("tls default port: %v %v", s, err)
	}
}

func TestComposeLongThreadStaysSigned(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	o := reply()
	o.MessageID = NewMessageID("okpay.example", nil)
	o.Date = time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)
	o.References = nil
	for i := 0; i < 20; i++ {
		o.References = append(o.References, NewMessageID("okpay.example", nil))
	}
	raw, err := Compose(o, DKIM{Domain: "okpay.example", Selector: "okp2026", Key: key})
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\r\n") {
		if len(line) > 998 {
			t.Fatalf("line of %d octets", len(line))
		}
	}
	vs, err := dkim.VerifyWithOptions(bytes.NewReader(raw), &dkim.VerifyOptions{LookupTXT: dkimLookup(key.Public())})
	if err != nil || len(vs) != 1 || vs[0].Err != nil {
		t.Fatalf("verify: %v %+v", err, vs)
	}
	m, _ := Parse(raw, Limits{})
	if !slices.Equal(m.References, o.References) {
		t.Errorf("References read back as %q", m.References)
	}
}

// An agent's files go out as MIME attachments next to the text and HTML
// bodies, and the signature still covers them.
func TestSendAttachmentsSigned(t *testing.T) {
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sink := startSMTP(t)
	s := newTestSender(t, sink, key)
	o := reply()
	pdf := append([]byte("%PDF-1.4\n"), bytes.Repeat([]byte{0, 1, 2, 0xff}, 3000)...)
	o.Attachments = []Attachment{
		{Name: "回单 receipt.pdf", ContentType: "application/pdf", Data: pdf},
		{Name: "note.txt", ContentType: "text/plain", Data: []byte("line 1\nline 2\n")},
	}
	if err := s.Send(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	raw := sink.last(t)
	e, err := message.Read(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if mt, _, _ := e.Header.ContentType(); mt != "multipart/mixed" {
		t.Fatalf("Content-Type = %q", mt)
	}
	if got := e.Header.Get("In-Reply-To"); got != "<CAF8kQ2x+3vT9Lq_7y4PZc9bS1mJ0aR5e@mail.gmail.com>" {
		t.Errorf("In-Reply-To = %q", got)
	}
	vs, err := dkim.VerifyWithOptions(bytes.NewReader(raw), &dkim.VerifyOptions{LookupTXT: dkimLookup(pub)})
	if err != nil || len(vs) != 1 || vs[0].Err != nil {
		t.Fatalf("DKIM: %v %+v", err, vs)
	}
	if !slices.Contains(lower(vs[0].HeaderKeys), "content-type") {
		t.Errorf("Content-Type not signed: %q", vs[0].HeaderKeys)
	}
	// Changing one byte of an attachment breaks the signature.
	i := bytes.LastIndex(raw, []byte("bGluZSAx")) // base64 of "line 1"
	if i < 0 {
		t.Fatalf("note.txt not base64 in:\n%s", raw)
	}
	tampered := append([]byte(nil), raw...)
	tampered[i] = 'c'
	if vs, _ := dkim.VerifyWithOptions(bytes.NewReader(tampered), &dkim.VerifyOptions{LookupTXT: dkimLookup(pub)}); len(vs) != 1 || vs[0].Err == nil {
		t.Errorf("tampered attachment verified")
	}
	// Read back: the same bodies and files.
	m, err := Parse(raw, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if m.Text != o.Text || !strings.Contains(m.HTML, "<b>到账</b>") || len(m.Problems) != 0 {
		t.Errorf("bodies: %q %q %q", m.Text, m.HTML, m.Problems)
	}
	if len(m.Attachments) != 2 {
		t.Fatalf("attachments = %+v", m.Attachments)
	}
	if a := m.Attachments[0]; a.Name != "回单 receipt.pdf" || a.ContentType != "application/pdf" || !bytes.Equal(a.Data, pdf) {
		t.Errorf("pdf = %q %q %d bytes", a.Name, a.ContentType, len(a.Data))
	}
	if a := m.Attachments[1]; a.Name != "note.txt" || a.ContentType != "text/plain" || string(a.Data) != "line 1\nline 2\n" {
		t.Errorf("txt = %q %q %q", a.Name, a.ContentType, a.Data)
	}
}
