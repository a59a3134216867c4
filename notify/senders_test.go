package notify

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

// smtpSink is a go-smtp backend that keeps what it receives.
type smtpSink struct {
	user, pass string

	mu   sync.Mutex
	msgs []received
}

type received struct {
	from   string
	to     []string
	data   []byte
	tls    bool
	authed string
}

func (s *smtpSink) NewSession(c *smtp.Conn) (smtp.Session, error) {
	_, isTLS := c.TLSConnectionState()
	return &sinkSession{sink: s, cur: received{tls: isTLS}, conn: c}, nil
}

func (s *smtpSink) all() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.msgs...)
}

type sinkSession struct {
	sink *smtpSink
	conn *smtp.Conn
	cur  received
}

func (s *sinkSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *sinkSession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != s.sink.user || password != s.sink.pass {
			return smtp.ErrAuthFailed
		}
		s.cur.authed = username
		return nil
	}), nil
}

func (s *sinkSession) Mail(from string, opts *smtp.MailOptions) error {
	if s.sink.user != "" && s.cur.authed == "" {
		return smtp.ErrAuthRequired
	}
	s.cur.from = from
	return nil
}

func (s *sinkSession) Rcpt(to string, opts *smtp.RcptOptions) error {
	switch {
	case strings.HasPrefix(to, "nobody@"):
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	case strings.HasPrefix(to, "greylisted@"):
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 7, 1}, Message: "try again later"}
	}
	s.cur.to = append(s.cur.to, to)
	return nil
}

func (s *sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, s.cur.tls = s.conn.TLSConnectionState()
	s.cur.data = b
	s.sink.mu.Lock()
	s.sink.msgs = append(s.sink.msgs, s.cur)
	s.sink.mu.Unlock()
	return nil
}

func (s *sinkSession) Reset() {
	s.cur = received{authed: s.cur.authed}
}

func (s *sinkSession) Logout() error { return nil }

// startSMTP serves sink on 127.0.0.1:0 and returns the port. With a TLS
// configuration it offers STARTTLS, or speaks TLS from the start when
// implicit.
func startSMTP(t *testing.T, sink *smtpSink, tlsConfig *tls.Config, implicit ...bool) int {
	t.Helper()
	srv := smtp.NewServer(sink)
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = tlsConfig == nil
	srv.TLSConfig = tlsConfig
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	srv.ErrorLog = quietSMTPLog{}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if len(implicit) > 0 && implicit[0] {
		l = tls.NewListener(l, tlsConfig)
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return port
}

type quietSMTPLog struct{}

func (quietSMTPLog) Printf(string, ...any) {}
func (quietSMTPLog) Println(...any)        {}

func TestSMTPSender(t *testing.T) {
	sink := &smtpSink{user: "mailer", pass: "s3cret"}
	port := startSMTP(t, sink, nil)
	s, err := NewSMTPSender(SMTPConfig{Host: "127.0.0.1", Port: port, TLS: "none", Username: "mailer", Password: "s3cret",
		From: "OKPay 钱包 <no-reply@okpay.example>", HeloName: "mx.okpay.example", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	m := Message{DedupeKey: "login_code:42:email", UserID: 42, Channel: ChannelEmail, Kind: "login_code",
		To: "李雷 <lilei@example.com>", Subject: "您的 OKPay 登录验证码",
		Body: "您的验证码是 834201，5 分钟内有效。\nIf this wasn't you, freeze your account.",
		HTML: "<p>您的验证码是 <b>834201</b></p>"}
	if err := s.Send(context.Background(), m); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := sink.all()
	if len(got) != 1 {
		t.Fatalf("server got %d messages", len(got))
	}
	r := got[0]
	if r.from != "no-reply@okpay.example" || len(r.to) != 1 || r.to[0] != "lilei@example.com" || r.authed != "mailer" {
		t.Fatalf("envelope from %q to %v auth %q", r.from, r.to, r.authed)
	}
	msg, err := mail.ReadMessage(strings.NewReader(string(r.data)))
	if err != nil {
		t.Fatal(err)
	}
	dec := new(mime.WordDecoder)
	subject, err := dec.DecodeHeader(msg.Header.Get("Subject"))
	if err != nil || subject != m.Subject {
		t.Fatalf("Subject %q (raw %q), %v", subject, msg.Header.Get("Subject"), err)
	}
	if raw := msg.Header.Get("Subject"); !strings.HasPrefix(raw, "=?UTF-8?") {
		t.Fatalf("Subject is not MIME-encoded: %q", raw)
	}
	from, err := mail.ParseAddress(msg.Header.Get("From"))
	if err != nil || from.Address != "no-reply@okpay.example" || from.Name != "OKPay 钱包" {
		t.Fatalf("From %+v, %v", from, err)
	}
	to, err := mail.ParseAddress(msg.Header.Get("To"))
	if err != nil || to.Address != "lilei@example.com" {
		t.Fatalf("To %+v, %v", to, err)
	}
	wantID := "<" + s.MessageID(m.DedupeKey) + ">"
	if msg.Header.Get("Message-Id") != wantID || !strings.HasSuffix(wantID, "@okpay.example>") {
		t.Fatalf("Message-ID %q, want %q", msg.Header.Get("Message-Id"), wantID)
	}
	if msg.Header.Get("Auto-Submitted") != "auto-generated" {
		t.Fatalf("Auto-Submitted %q", msg.Header.Get("Auto-Submitted"))
	}
	mediaType, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mediaType != "multipart/alternative" {
		t.Fatalf("Content-Type %q", msg.Header.Get("Content-Type"))
	}
	parts := map[string]string{}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		var body io.Reader = p
		if p.Header.Get("Content-Transfer-Encoding") == "quoted-printable" {
			body = quotedprintable.NewReader(p)
		}
		b, _ := io.ReadAll(body)
		ct, cp, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		if !strings.EqualFold(cp["charset"], "utf-8") {
			t.Errorf("part %s charset %q", ct, cp["charset"])
		}
		parts[ct] = strings.ReplaceAll(string(b), "\r\n", "\n")
	}
	if strings.TrimRight(parts["text/plain"], "\n") != m.Body || strings.TrimRight(parts["text/html"], "\n") != m.HTML {
		t.Fatalf("parts %q", parts)
	}

	// A redelivery carries the same Message-ID.
	if err := s.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	again, _ := mail.ReadMessage(strings.NewReader(string(sink.all()[1].data)))
	if again.Header.Get("Message-Id") != wantID {
		t.Fatalf("redelivery Message-ID %q", again.Header.Get("Message-Id"))
	}

	// A refused recipient is permanent; a greylisting is not.
	m.To = "nobody@example.com"
	if err := s.Send(context.Background(), m); !IsPermanent(err) {
		t.Fatalf("550: %v, want permanent", err)
	}
	m.To = "greylisted@example.com"
	if err := s.Send(context.Background(), m); err == nil || IsPermanent(err) {
		t.Fatalf("451: %v, want a retryable error", err)
	}
	m.To = "not an address"
	if err := s.Send(context.Background(), m); !IsPermanent(err) {
		t.Fatalf("bad address: %v, want permanent", err)
	}

	// Wrong password: retryable (the configuration may be fixed).
	bad, _ := NewSMTPSender(SMTPConfig{Host: "127.0.0.1", Port: port, TLS: "none", Username: "mailer", Password: "nope", From: "no-reply@okpay.example"})
	m.To = "lilei@example.com"
	if err := bad.Send(context.Background(), m); err == nil || IsPermanent(err) {
		t.Fatalf("bad password: %v", err)
	}
}

func TestSMTPSenderSTARTTLS(t *testing.T) {
	serverTLS, roots := selfSigned(t)
	sink := &smtpSink{user: "mailer", pass: "s3cret"}
	port := startSMTP(t, sink, serverTLS)
	s, err := NewSMTPSender(SMTPConfig{Host: "127.0.0.1", Port: port, TLS: "starttls", Username: "mailer", Password: "s3cret",
		From: "no-reply@okpay.example", TLSConfig: &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), Message{DedupeKey: "k", Channel: ChannelEmail, Kind: "lockout", To: "a@example.com", Subject: "Locked", Body: "locked"}); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if got := sink.all(); len(got) != 1 || !got[0].tls || got[0].authed != "mailer" {
		t.Fatalf("got %+v", got)
	}
	// An untrusted certificate is refused.
	s2, _ := NewSMTPSender(SMTPConfig{Host: "127.0.0.1", Port: port, TLS: "starttls", From: "no-reply@okpay.example"})
	if err := s2.Send(context.Background(), Message{DedupeKey: "k2", Channel: ChannelEmail, Kind: "lockout", To: "a@example.com", Body: "x"}); err == nil {
		t.Fatal("sent over an unverified certificate")
	}
}

func TestSMTPSenderImplicitTLS(t *testing.T) {
	serverTLS, roots := selfSigned(t)
	sink := &smtpSink{}
	port := startSMTP(t, sink, serverTLS, true)
	s, err := NewSMTPSender(SMTPConfig{Host: "127.0.0.1", Port: port, TLS: "tls", From: "no-reply@okpay.example",
		TLSConfig: &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), Message{DedupeKey: "k", Channel: ChannelEmail, Kind: "lockout", To: "a@example.com", Subject: "Locked", Body: "locked"}); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if got := sink.all(); len(got) != 1 || !got[0].tls {
		t.Fatalf("got %+v", got)
	}
}

func selfSigned(t *testing.T) (*tls.Config, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test smtp"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, pool
}

func TestNewSMTPSenderChecks(t *testing.T) {
	for _, cfg := range []SMTPConfig{
		{Host: "", TLS: "none", From: "a@b.c"},
		{Host: "h", TLS: "maybe", From: "a@b.c"},
		{Host: "h", TLS: "tls", From: "not an address"},
		{Host: "h", TLS: "tls", From: "a@b.c", Password: "p"},
	} {
		if _, err := NewSMTPSender(cfg); err == nil {
			t.Errorf("NewSMTPSender(%+v) accepted", cfg)
		}
	}
	s, err := NewSMTPSender(SMTPConfig{Host: "h", TLS: "tls", From: "a@b.c"})
	if err != nil || s.cfg.Port != 465 {
		t.Fatalf("tls default port: %v %v", s, err)
	}
}

func TestHTTPSMS(t *testing.T) {
	type call struct {
		auth, idem, ctype string
		body              smsPayload
	}
	var mu sync.Mutex
	var calls []call
	var status atomic.Int32
	status.Store(http.StatusAccepted)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p smsPayload
		if r.Method != http.MethodPost || json.NewDecoder(r.Body).Decode(&p) != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		mu.Lock()
		calls = append(calls, call{r.Header.Get("Authorization"), r.Header.Get("Idempotency-Key"), r.Header.Get("Content-Type"), p})
		mu.Unlock()
		code := int(status.Load())
		if code == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "120")
		}
		w.WriteHeader(code)
		// A gateway that echoes the text in its answer.
		fmt.Fprintf(w, `{"error":"rejected","text":%q}`, p.Text)
	}))
	defer srv.Close()
	s, err := NewHTTPSMS(HTTPSMSConfig{URL: srv.URL + "/v1/sms", Token: "tok-123"})
	if err != nil {
		t.Fatal(err)
	}
	m := Message{DedupeKey: "login_code:42:sms", UserID: 42, Channel: ChannelSMS, Kind: "login_code", To: "+8613800138000", Body: "OKPay 验证码 834201"}
	if err := s.Send(context.Background(), m); err != nil {
		t.Fatalf("202: %v", err)
	}
	mu.Lock()
	c := calls[0]
	mu.Unlock()
	if c.auth != "Bearer tok-123" || c.idem != m.DedupeKey || c.ctype != "application/json" ||
		c.body != (smsPayload{ID: m.DedupeKey, To: m.To, Text: m.Body}) {
		t.Fatalf("request %+v", c)
	}
	for _, tc := range []struct {
		code      int
		permanent bool
	}{
		{http.StatusBadRequest, true}, {http.StatusUnauthorized, true}, {http.StatusUnprocessableEntity, true},
		{http.StatusRequestTimeout, false}, {http.StatusTooManyRequests, false},
		{http.StatusInternalServerError, false}, {http.StatusBadGateway, false}, {http.StatusServiceUnavailable, false},
	} {
		status.Store(int32(tc.code))
		err := s.Send(context.Background(), m)
		if err == nil || IsPermanent(err) != tc.permanent {
			t.Errorf("%d: err %v, permanent %v, want %v", tc.code, err, IsPermanent(err), tc.permanent)
		}
		if err != nil && strings.Contains(err.Error(), "834201") {
			t.Errorf("%d: the error quotes the text: %v", tc.code, err)
		}
		var ra *RetryAfterError
		if tc.code == http.StatusTooManyRequests && (!errors.As(err, &ra) || ra.After != 2*time.Minute) {
			t.Errorf("429: Retry-After not passed on: %v", err)
		}
	}
	// A redirect is not a delivery.
	status.Store(http.StatusMovedPermanently)
	if err := s.Send(context.Background(), m); err == nil || IsPermanent(err) {
		t.Errorf("301: %v, want a retryable error", err)
	}
	// Not E.164: refused for good without a request.
	mu.Lock()
	before := len(calls)
	mu.Unlock()
	if err := s.Send(context.Background(), Message{DedupeKey: "x", To: "13800138000", Body: "x"}); !IsPermanent(err) {
		t.Fatalf("bad number: %v", err)
	}
	// A gateway that hangs: retried after the timeout.
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer hang.Close()
	defer close(release)
	slow, _ := NewHTTPSMS(HTTPSMSConfig{URL: hang.URL, Timeout: 100 * time.Millisecond})
	if err := slow.Send(context.Background(), m); err == nil || IsPermanent(err) {
		t.Fatalf("timeout: %v", err)
	}
	mu.Lock()
	if len(calls) != before {
		t.Fatalf("a bad number reached the gateway")
	}
	mu.Unlock()
	if _, err := NewHTTPSMS(HTTPSMSConfig{URL: "ftp://x"}); err == nil {
		t.Fatal("accepted an ftp URL")
	}
}

// TestHTTPSMSThroughDispatcher: a 4xx gives the message up at once, a 5xx
// is retried.
func TestHTTPSMSThroughDispatcher(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		var hits sync.Map
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var p smsPayload
			json.NewDecoder(r.Body).Decode(&p)
			n, _ := hits.LoadOrStore(p.ID, new(atomic.Int32))
			c := n.(*atomic.Int32).Add(1)
			switch {
			case strings.HasPrefix(p.ID, "perm"):
				w.WriteHeader(http.StatusBadRequest)
			case c == 1:
				w.WriteHeader(http.StatusServiceUnavailable)
			}
		}))
		defer srv.Close()
		s, _ := NewHTTPSMS(HTTPSMSConfig{URL: srv.URL, Token: "t"})
		e := newEnv(t, db)
		e.enqueue(t,
			Message{DedupeKey: "perm-1", UserID: 1, Channel: ChannelSMS, Kind: "lockout", To: "+447700900001", Body: "a"},
			Message{DedupeKey: "retry-1", UserID: 2, Channel: ChannelSMS, Kind: "lockout", To: "+447700900002", Body: "b"})
		d := e.dispatcher(map[string]Sender{ChannelSMS: s}, DispatcherOptions{Backoff: func(int) time.Duration { return time.Minute }})
		if n := runOnce(t, d); n != 0 {
			t.Fatalf("sent %d", n)
		}
		if r := e.row(t, "perm-1"); r.Status != StatusFailed || r.Attempts != 1 {
			t.Fatalf("4xx row %+v", r)
		}
		if r := e.row(t, "retry-1"); r.Status != StatusPending || r.Attempts != 1 || !strings.Contains(r.LastError, "503") {
			t.Fatalf("5xx row %+v", r)
		}
		e.clk.Advance(time.Minute)
		if n := runOnce(t, d); n != 1 {
			t.Fatalf("retry sent %d", n)
		}
		if r := e.row(t, "retry-1"); r.Status != StatusSent || r.Attempts != 2 {
			t.Fatalf("retried row %+v", r)
		}
	})
}

func TestDevMailbox(t *testing.T) {
	box := NewDevMailbox(nil)
	updates, stop := box.Subscribe()
	ctx := context.Background()
	for i := range DevMailboxSize + 20 {
		ch := ChannelEmail
		if i%2 == 1 {
			ch = ChannelSMS
		}
		if err := box.Send(ctx, Message{DedupeKey: "k" + strconv.Itoa(i), Channel: ch, To: "x", Body: "code " + strconv.Itoa(i)}); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-updates:
	default:
		t.Fatal("no update signalled")
	}
	stop()
	stop() // twice is harmless
	list := box.List()
	if len(list) != DevMailboxSize {
		t.Fatalf("kept %d, want %d", len(list), DevMailboxSize)
	}
	if list[0].DedupeKey != "k519" || list[len(list)-1].DedupeKey != "k20" {
		t.Fatalf("order: newest %s, oldest %s", list[0].DedupeKey, list[len(list)-1].DedupeKey)
	}
	for i := 1; i < len(list); i++ {
		a, _ := strconv.Atoi(list[i-1].ID)
		b, _ := strconv.Atoi(list[i].ID)
		if a <= b {
			t.Fatalf("not newest first at %d", i)
		}
	}
	got, ok := box.Get(list[3].ID)
	if !ok || got.Body != list[3].Body {
		t.Fatalf("Get = %+v %v", got, ok)
	}
	if _, ok := box.Get("1"); ok {
		t.Fatal("Get found a dropped message")
	}
	// A redelivery is folded into the first copy.
	box.Send(ctx, Message{DedupeKey: "k519", Channel: ChannelSMS, Body: "code 519"})
	if l := box.List(); len(l) != DevMailboxSize || l[0].Deliveries != 2 {
		t.Fatalf("redelivery: %d messages, deliveries %d", len(l), l[0].Deliveries)
	}
	box.Clear()
	if len(box.List()) != 0 {
		t.Fatal("Clear left messages")
	}

	// Concurrent use.
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ch, stop := box.Subscribe()
			defer stop()
			for i := range 100 {
				box.Send(ctx, Message{DedupeKey: fmt.Sprintf("g%d-%d", g, i), Channel: ChannelEmail})
				box.List()
				select {
				case <-ch:
				default:
				}
			}
		}()
	}
	wg.Wait()
	if n := len(box.List()); n != DevMailboxSize {
		t.Fatalf("after concurrent sends: %d", n)
	}
}

func TestInApp(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		s := e.outbox.InAppSender()
		m := Message{DedupeKey: "new_device:1:inapp", UserID: 1, Channel: ChannelInApp, Kind: "new_device", Subject: "新设备登录", Body: "Chrome / Linux"}
		for range 3 { // redeliveries
			if err := s.Send(ctx, m); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Send(ctx, Message{DedupeKey: "x", Channel: ChannelInApp, Kind: "k"}); !IsPermanent(err) {
			t.Fatalf("no user: %v", err)
		}
		// Through the outbox and dispatcher, too.
		e.enqueue(t, Message{DedupeKey: "lockout:2:inapp", UserID: 1, Channel: ChannelInApp, Kind: "lockout", Subject: "Locked", Body: "15 minutes"},
			Message{DedupeKey: "lockout:9:inapp", UserID: 2, Channel: ChannelInApp, Kind: "lockout", Subject: "Locked", Body: "other user"})
		e.clk.Advance(time.Second)
		if n := runOnce(t, e.dispatcher(map[string]Sender{ChannelInApp: s}, DispatcherOptions{})); n != 2 {
			t.Fatalf("sent %d", n)
		}
		list, err := e.outbox.ListInApp(ctx, 1, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 2 || list[0].Kind != "lockout" || list[1].Title != m.Subject || list[1].Body != m.Body || !list[0].Unread() {
			t.Fatalf("list %+v", list)
		}
		if !list[1].CreatedAt.Equal(t0) || !list[0].CreatedAt.Equal(t0.Add(time.Second)) {
			t.Fatalf("created %v %v", list[1].CreatedAt, list[0].CreatedAt)
		}
		if n, _ := e.outbox.UnreadCount(ctx, 1); n != 2 {
			t.Fatalf("unread %d", n)
		}
		others, _ := e.outbox.ListInApp(ctx, 2, 10)
		if len(others) != 1 {
			t.Fatalf("user 2 has %d", len(others))
		}
		// Someone else's notification: not found, and untouched.
		if err := e.outbox.MarkRead(ctx, 1, others[0].ID); okpay.ErrorCode(err) != okpay.ENotFound {
			t.Fatalf("MarkRead of another user's row = %v", err)
		}
		if err := e.outbox.MarkRead(ctx, 1, 123456789); okpay.ErrorCode(err) != okpay.ENotFound {
			t.Fatalf("MarkRead of a missing row = %v", err)
		}
		if again, _ := e.outbox.ListInApp(ctx, 2, 10); !again[0].Unread() {
			t.Fatal("another user's row was marked read")
		}
		e.clk.Advance(time.Minute)
		if err := e.outbox.MarkRead(ctx, 1, list[1].ID); err != nil {
			t.Fatal(err)
		}
		e.clk.Advance(time.Minute)
		if err := e.outbox.MarkRead(ctx, 1, list[1].ID); err != nil { // twice: keeps the first time
			t.Fatal(err)
		}
		list, _ = e.outbox.ListInApp(ctx, 1, 1)
		if len(list) != 1 || list[0].Kind != "lockout" {
			t.Fatalf("limit 1: %+v", list)
		}
		list, _ = e.outbox.ListInApp(ctx, 1, 10)
		if !list[1].ReadAt.Equal(t0.Add(time.Second+time.Minute)) || !list[0].Unread() {
			t.Fatalf("read at %v", list[1].ReadAt)
		}
		if n, _ := e.outbox.UnreadCount(ctx, 1); n != 1 {
			t.Fatalf("unread %d", n)
		}
	})
}

// A customer's notices are listed and counted the same, newest first,
// whether they wait in SQLite's queue or were moved into the per-user
// table (IndexInApp), and while some are in each; the move empties the
// queue and moves each notice once.
func TestInAppIndex(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		s := e.outbox.InAppSender()
		send := func(key string, user int64) {
			t.Helper()
			e.clk.Advance(time.Millisecond)
			if err := s.Send(ctx, Message{DedupeKey: key, UserID: user, Channel: ChannelInApp, Kind: "k", Subject: key, Body: key}); err != nil {
				t.Fatal(err)
			}
		}
		check := func(user int64, limit int, want string, unread int64) {
			t.Helper()
			list, err := e.outbox.ListInApp(ctx, user, limit)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, n := range list {
				got = append(got, n.Title)
			}
			if strings.Join(got, " ") != want {
				t.Fatalf("user %d, limit %d: %q, want %q", user, limit, strings.Join(got, " "), want)
			}
			if n, err := e.outbox.UnreadCount(ctx, user); err != nil || n != unread {
				t.Fatalf("user %d unread %d (%v), want %d", user, n, err, unread)
			}
		}
		queued := func() int {
			t.Helper()
			if db.Dialect != sqldb.SQLite {
				return 0
			}
			var n int
			if err := db.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM inapp_unindexed`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		index := func(want int64) {
			t.Helper()
			if db.Dialect != sqldb.SQLite {
				want = 0
			}
			if n, err := e.outbox.IndexInApp(ctx); err != nil || n != want {
				t.Fatalf("IndexInApp moved %d (%v), want %d", n, err, want)
			}
			if q := queued(); q != 0 {
				t.Fatalf("%d left in the queue", q)
			}
		}
		index(0) // nothing queued
		send("a1", 1)
		send("b1", 2)
		send("a2", 1)
		if db.Dialect == sqldb.SQLite && queued() != 3 {
			t.Fatalf("queued %d, want 3", queued())
		}
		check(1, 10, "a2 a1", 2) // all queued
		send("a2", 1)            // a redelivery adds nothing, queues nothing
		if db.Dialect == sqldb.SQLite && queued() != 3 {
			t.Fatalf("queued %d after a redelivery, want 3", queued())
		}
		index(3)
		index(0)
		check(1, 10, "a2 a1", 2) // all indexed
		send("a3", 1)
		send("a4", 1)
		check(1, 10, "a4 a3 a2 a1", 4) // two in each
		check(1, 3, "a4 a3 a2", 4)
		check(1, 1, "a4", 4)
		check(2, 10, "b1", 1)
		list, _ := e.outbox.ListInApp(ctx, 1, 10)
		for _, n := range list[1:3] { // a queued one and an indexed one
			if err := e.outbox.MarkRead(ctx, 1, n.ID); err != nil {
				t.Fatal(err)
			}
		}
		check(1, 10, "a4 a3 a2 a1", 2)
		index(2)
		check(1, 10, "a4 a3 a2 a1", 2)
		check(1, 2, "a4 a3", 2)
		check(2, 10, "b1", 1)
		check(3, 10, "", 0)
	})
}
