package imappoll

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"

	"github.com/okpay/okpay/email"
)

// imapEnv is an in-process IMAP server (go-imap's memory backend) on a
// real TCP port.
type imapEnv struct {
	addr string
	// tlsMode "" (plain), "tls" (implicit) or "starttls"; serverTLS is the
	// server side, clientTLS what the poller must trust.
	tlsMode   string
	serverTLS *tls.Config
	clientTLS *tls.Config
	user      *imapmemserver.User
	mem       *imapmemserver.Server

	mu  sync.Mutex
	srv *imapserver.Server
}

func startIMAP(t *testing.T) *imapEnv { return startIMAPMode(t, "") }

func startIMAPMode(t *testing.T, mode string) *imapEnv {
	t.Helper()
	env := &imapEnv{mem: imapmemserver.New(), user: imapmemserver.NewUser("desk@okpay.example", "secret"), tlsMode: mode}
	if mode != "" {
		env.serverTLS, env.clientTLS = testTLS(t)
	}
	if err := env.user.Create("INBOX", nil); err != nil {
		t.Fatal(err)
	}
	env.mem.AddUser(env.user)
	env.listen(t, "127.0.0.1:0")
	t.Cleanup(func() {
		env.mu.Lock()
		defer env.mu.Unlock()
		_ = env.srv.Close()
	})
	return env
}

func (env *imapEnv) listen(t *testing.T, addr string) {
	t.Helper()
	var l net.Listener
	var err error
	for i := 0; i < 50; i++ { // the old port may take a moment to free
		if l, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	opts := &imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return env.mem.NewSession(), nil, nil
		},
		Caps:         imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {}},
		InsecureAuth: true,
		Logger:       discardLogger{},
	}
	switch env.tlsMode {
	case "tls":
		l = tls.NewListener(l, env.serverTLS)
	case "starttls":
		opts.TLSConfig = env.serverTLS
	}
	srv := imapserver.New(opts)
	env.mu.Lock()
	env.srv = srv
	env.addr = l.Addr().String()
	env.mu.Unlock()
	go func() { _ = srv.Serve(l) }()
}

type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}

func (env *imapEnv) restart(t *testing.T) {
	t.Helper()
	env.mu.Lock()
	old, addr := env.srv, env.addr
	env.mu.Unlock()
	_ = old.Close()
	env.listen(t, addr)
}

func (env *imapEnv) deliver(t *testing.T, mailbox, raw string) {
	t.Helper()
	if _, err := env.user.Append(mailbox, bytes.NewReader([]byte(raw)), &imap.AppendOptions{}); err != nil {
		t.Fatal(err)
	}
}

// subjects lists the subjects of the messages in mailbox (only the unseen
// ones with unseenOnly), read with a separate client.
func (env *imapEnv) subjects(t *testing.T, mailbox string, unseenOnly bool) []string {
	t.Helper()
	crit := &imap.SearchCriteria{}
	if unseenOnly {
		crit.NotFlag = []imap.Flag{imap.FlagSeen}
	}
	return env.search(t, mailbox, crit)
}

// search lists the subjects of the messages in mailbox that crit matches.
func (env *imapEnv) search(t *testing.T, mailbox string, crit *imap.SearchCriteria) []string {
	t.Helper()
	var c *imapclient.Client
	var err error
	switch env.tlsMode {
	case "tls":
		c, err = imapclient.DialTLS(env.addr, &imapclient.Options{TLSConfig: env.clientTLS})
	case "starttls":
		c, err = imapclient.DialStartTLS(env.addr, &imapclient.Options{TLSConfig: env.clientTLS})
	default:
		c, err = imapclient.DialInsecure(env.addr, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("desk@okpay.example", "secret").Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select(mailbox, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatal(err)
	}
	data, err := c.UIDSearch(crit, nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	uids := data.AllUIDs()
	if len(uids) == 0 {
		return nil
	}
	msgs, err := c.Fetch(imap.UIDSetNum(uids...), &imap.FetchOptions{Envelope: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range msgs {
		// A message the poller moved between the SEARCH and the FETCH
		// comes back without its envelope: it is no longer here (the
		// callers poll again).
		if m.Envelope != nil {
			out = append(out, m.Envelope.Subject)
		}
	}
	slices.Sort(out)
	return out
}

func mail(subject string) string {
	return "From: Customer <c@example.com>\r\nTo: desk@okpay.example\r\nSubject: " + subject +
		"\r\nMessage-ID: <" + strings.ReplaceAll(subject, " ", ".") + "@example.com>\r\n\r\nbody of " + subject + "\r\n"
}

// recorder is an Ingest that parses with package email and can fail.
type recorder struct {
	mu       sync.Mutex
	got      []string // subjects, in ingest order
	attempts map[string]int
	fail     func(subject string, attempt int) error
	seen     chan string
}

func newRecorder() *recorder {
	return &recorder{attempts: map[string]int{}, seen: make(chan string, 100)}
}

func (r *recorder) ingest(_ context.Context, raw []byte) error {
	m, err := email.Parse(raw, email.Limits{})
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.attempts[m.Subject]++
	n := r.attempts[m.Subject]
	fail := r.fail
	r.mu.Unlock()
	if fail != nil {
		if err := fail(m.Subject, n); err != nil {
			return err
		}
	}
	r.mu.Lock()
	r.got = append(r.got, m.Subject)
	r.mu.Unlock()
	r.seen <- m.Subject
	return nil
}

func (r *recorder) wait(t *testing.T, subject string, within time.Duration) {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case s := <-r.seen:
			if s == subject {
				return
			}
		case <-deadline:
			t.Fatalf("%q not ingested within %v (got %q)", subject, within, r.snapshot())
		}
	}
}

func (r *recorder) snapshot() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

func runPoller(t *testing.T, cfg Config, ing Ingest) *Poller {
	t.Helper()
	if testing.Verbose() {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	p, err := New(cfg, ing)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Run returned %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not stop")
		}
	})
	return p
}

func baseConfig(env *imapEnv) Config {
	return Config{Addr: env.addr, TLS: "none", Username: "desk@okpay.example", Password: "secret",
		MinBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, RetryDelay: 300 * time.Millisecond}
}

func TestPollerIngestsExistingThenIdle(t *testing.T) {
	env := startIMAP(t)
	env.deliver(t, "INBOX", mail("first"))
	env.deliver(t, "INBOX", mail("second"))
	rec := newRecorder()
	p := runPoller(t, baseConfig(env), rec.ingest)

	rec.wait(t, "first", 10*time.Second)
	rec.wait(t, "second", 10*time.Second)
	waitFor(t, func() bool { return len(env.subjects(t, "INBOX", true)) == 0 }, "both marked seen")

	// Now idling: a new message must arrive within seconds, without any
	// poll interval (the default one is a minute).
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	env.deliver(t, "INBOX", mail("third"))
	rec.wait(t, "third", 5*time.Second)
	t.Logf("ingested %v after delivery", time.Since(start))
	if got := rec.snapshot(); !slices.Equal(got, []string{"first", "second", "third"}) {
		t.Errorf("ingested %q", got)
	}
	if got := env.subjects(t, "INBOX", false); len(got) != 3 {
		t.Errorf("mailbox holds %q; messages must stay (flagged, not deleted)", got)
	}
	// Stats count after the \Seen flag is stored, just after Ingest returns.
	waitFor(t, func() bool { return p.Stats().Ingested == 3 }, "three counted")
	if s := p.Stats(); s.Sessions != 1 || s.Failed != 0 {
		t.Errorf("stats %+v", s)
	}
}

func TestPollerFailedIngestLeavesUnseenAndRetries(t *testing.T) {
	env := startIMAP(t)
	env.deliver(t, "INBOX", mail("flaky"))
	env.deliver(t, "INBOX", mail("fine"))
	rec := newRecorder()
	gate := make(chan struct{})
	rec.fail = func(subject string, attempt int) error {
		if subject == "flaky" && attempt == 1 {
			return errors.New("database unavailable")
		}
		if subject == "flaky" && attempt == 2 {
			<-gate // hold the retry until the unseen state is checked
		}
		return nil
	}
	cfg := baseConfig(env)
	p := runPoller(t, cfg, rec.ingest)

	rec.wait(t, "fine", 10*time.Second)
	waitFor(t, func() bool { return slices.Equal(env.subjects(t, "INBOX", true), []string{"flaky"}) }, "flaky still unseen, fine seen")
	close(gate)
	rec.wait(t, "flaky", 10*time.Second)
	waitFor(t, func() bool { return len(env.subjects(t, "INBOX", true)) == 0 }, "flaky marked seen after retry")
	rec.mu.Lock()
	attempts := rec.attempts["flaky"]
	rec.mu.Unlock()
	if attempts != 2 {
		t.Errorf("flaky ingested in %d attempts, want 2", attempts)
	}
	waitFor(t, func() bool { return p.Stats().Ingested == 2 }, "two counted")
	if s := p.Stats(); s.Failed != 1 {
		t.Errorf("stats %+v", s)
	}
}

func TestPollerRejectIsNotRetried(t *testing.T) {
	env := startIMAP(t)
	env.deliver(t, "INBOX", mail("spam"))
	env.deliver(t, "INBOX", mail("real"))
	rec := newRecorder()
	rec.fail = func(subject string, _ int) error {
		if subject == "spam" {
			return fmt.Errorf("loop detected: %w", ErrReject)
		}
		return nil
	}
	p := runPoller(t, baseConfig(env), rec.ingest)
	rec.wait(t, "real", 10*time.Second)
	waitFor(t, func() bool { return len(env.subjects(t, "INBOX", true)) == 0 }, "both marked seen")
	time.Sleep(3 * baseConfig(env).RetryDelay)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.attempts["spam"] != 1 {
		t.Errorf("rejected message tried %d times", rec.attempts["spam"])
	}
	if s := p.Stats(); s.Rejected != 1 {
		t.Errorf("stats %+v", s)
	}
}

// TestPollerOversize: a message over the limit is never downloaded; its
// envelope goes to Oversize, then it is flagged \Seen and \Flagged and
// stays in the mailbox (even with MoveTo). Without a handler it is left
// unseen.
func TestPollerOversize(t *testing.T) {
	env := startIMAP(t)
	big := "From: =?UTF-8?B?5byg5LiJ?= <zhang@example.com>\r\nTo: desk@okpay.example\r\nSubject: scans\r\n" +
		"Message-ID: <scans@example.com>\r\nIn-Reply-To: <ack-1@okpay.example>\r\n\r\n" + strings.Repeat("x", 4096) + "\r\n"
	env.deliver(t, "INBOX", big)
	env.deliver(t, "INBOX", mail("small"))
	cfg := baseConfig(env)
	cfg.MaxMessageBytes = 2048
	cfg.MoveTo = "OKPay/Ingested"
	got := make(chan Oversized, 4)
	cfg.Oversize = func(_ context.Context, m Oversized) error { got <- m; return nil }
	rec := newRecorder()
	p := runPoller(t, cfg, rec.ingest)
	rec.wait(t, "small", 10*time.Second)
	var o Oversized
	select {
	case o = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("Oversize not called")
	}
	if o.Subject != "scans" || o.From != "zhang@example.com" || o.FromName != "张三" || o.MessageID != "scans@example.com" ||
		!slices.Equal(o.InReplyTo, []string{"ack-1@okpay.example"}) || !slices.Equal(o.To, []string{"desk@okpay.example"}) || o.Size < 4096 {
		t.Errorf("oversized %+v", o)
	}
	waitFor(t, func() bool {
		return slices.Equal(env.search(t, "INBOX", &imap.SearchCriteria{Flag: []imap.Flag{imap.FlagSeen, imap.FlagFlagged}}), []string{"scans"})
	}, "the large message flagged and kept in INBOX")
	if s := rec.snapshot(); !slices.Equal(s, []string{"small"}) {
		t.Errorf("ingested %q", s)
	}
	waitFor(t, func() bool { return p.Stats().Skipped == 1 }, "one skipped")

	// Without a handler: left unseen.
	env2 := startIMAP(t)
	env2.deliver(t, "INBOX", big)
	env2.deliver(t, "INBOX", mail("other"))
	cfg2 := baseConfig(env2)
	cfg2.MaxMessageBytes = 2048
	rec2 := newRecorder()
	runPoller(t, cfg2, rec2.ingest)
	rec2.wait(t, "other", 10*time.Second)
	waitFor(t, func() bool { return slices.Equal(env2.subjects(t, "INBOX", true), []string{"scans"}) }, "the large message left unseen")
}

func TestPollerMoveTo(t *testing.T) {
	env := startIMAP(t)
	env.deliver(t, "INBOX", mail("to move"))
	cfg := baseConfig(env)
	cfg.MoveTo = "OKPay/Ingested"
	rec := newRecorder()
	runPoller(t, cfg, rec.ingest)
	rec.wait(t, "to move", 10*time.Second)
	waitFor(t, func() bool { return len(env.subjects(t, "INBOX", false)) == 0 }, "INBOX emptied")
	if got := env.subjects(t, "OKPay/Ingested", false); !slices.Equal(got, []string{"to move"}) {
		t.Errorf("OKPay/Ingested holds %q", got)
	}
}

func TestPollerPollingFallback(t *testing.T) {
	env := startIMAP(t)
	cfg := baseConfig(env)
	cfg.DisableIdle = true
	cfg.PollInterval = 300 * time.Millisecond
	rec := newRecorder()
	runPoller(t, cfg, rec.ingest)
	time.Sleep(100 * time.Millisecond)
	env.deliver(t, "INBOX", mail("polled"))
	rec.wait(t, "polled", 5*time.Second)
}

func TestPollerReconnects(t *testing.T) {
	env := startIMAP(t)
	env.deliver(t, "INBOX", mail("before"))
	rec := newRecorder()
	p := runPoller(t, baseConfig(env), rec.ingest)
	rec.wait(t, "before", 10*time.Second)
	waitFor(t, func() bool { return len(env.subjects(t, "INBOX", true)) == 0 }, "before marked seen")

	env.restart(t) // drops the connection
	env.deliver(t, "INBOX", mail("after"))
	rec.wait(t, "after", 10*time.Second)
	if s := p.Stats(); s.Sessions < 2 {
		t.Errorf("stats %+v, want a second session", s)
	}
	if got := rec.snapshot(); !slices.Equal(got, []string{"before", "after"}) {
		t.Errorf("ingested %q (no duplicates expected)", got)
	}
}

func TestPollerBadLoginBacksOff(t *testing.T) {
	env := startIMAP(t)
	cfg := baseConfig(env)
	cfg.Password = "wrong"
	rec := newRecorder()
	p := runPoller(t, cfg, rec.ingest)
	time.Sleep(time.Second)
	if s := p.Stats(); s.Sessions != 0 {
		t.Errorf("stats %+v", s)
	}
}

func TestPollerTLS(t *testing.T) {
	for _, mode := range []string{"tls", "starttls"} {
		t.Run(mode, func(t *testing.T) {
			env := startIMAPMode(t, mode)
			env.deliver(t, "INBOX", mail("secure "+mode))
			cfg := baseConfig(env)
			cfg.TLS, cfg.TLSConfig = mode, env.clientTLS
			rec := newRecorder()
			runPoller(t, cfg, rec.ingest)
			rec.wait(t, "secure "+mode, 10*time.Second)
			waitFor(t, func() bool { return len(env.subjects(t, "INBOX", true)) == 0 }, "marked seen")
		})
	}
	// A certificate the poller does not trust: no session, nothing read.
	env := startIMAPMode(t, "tls")
	env.deliver(t, "INBOX", mail("untrusted"))
	cfg := baseConfig(env)
	cfg.TLS = "tls"
	rec := newRecorder()
	p := runPoller(t, cfg, rec.ingest)
	time.Sleep(500 * time.Millisecond)
	if s := p.Stats(); s.Sessions != 0 || len(rec.snapshot()) != 0 {
		t.Errorf("untrusted server: stats %+v, ingested %q", s, rec.snapshot())
	}
}

// testTLS makes a self-signed certificate for 127.0.0.1.
func testTLS(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "imap.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}},
		&tls.Config{RootCAs: pool}
}

func TestNewValidates(t *testing.T) {
	ok := func(context.Context, []byte) error { return nil }
	if _, err := New(Config{}, ok); err == nil {
		t.Error("no Addr accepted")
	}
	if _, err := New(Config{Addr: "x:1"}, nil); err == nil {
		t.Error("nil Ingest accepted")
	}
	if _, err := New(Config{Addr: "x:1", TLS: "ssl"}, ok); err == nil {
		t.Error("bad TLS mode accepted")
	}
	p, err := New(Config{Addr: "x:1"}, ok)
	if err != nil || p.cfg.TLS != "tls" || p.cfg.Mailbox != "INBOX" {
		t.Errorf("defaults: %+v %v", p, err)
	}
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for: %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestPollerDropsSilentServer(t *testing.T) {
	// A server that greets and then never answers: each session must time
	// out and be replaced, not hang forever.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	conns := 0
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns++
			mu.Unlock()
			go func() {
				defer c.Close()
				_, _ = c.Write([]byte("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] silent\r\n"))
				_, _ = io.Copy(io.Discard, c)
			}()
		}
	}()
	t.Cleanup(func() { l.Close() })
	cfg := Config{Addr: l.Addr().String(), TLS: "none", Username: "u", Password: "p",
		CommandTimeout: 150 * time.Millisecond, MinBackoff: 20 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}
	runPoller(t, cfg, newRecorder().ingest)
	waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return conns >= 3 }, "three connection attempts")
}
