package main

import (
	"bytes"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
)

type quietIMAPLog struct{}

func (quietIMAPLog) Printf(string, ...any) {}

// TestServeIMAPChannel: with --imap-url, serve fetches the mailbox's
// mail into the same ingest as the SMTP listener: a mail waiting in an
// IMAP server (go-imap's, over TCP) becomes a conversation, is
// acknowledged, and is marked seen on the server.
func TestServeIMAPChannel(t *testing.T) {
	t.Parallel()
	mem := imapmemserver.New()
	user := imapmemserver.NewUser("desk@okpay.test", "imap-secret")
	if err := user.Create("INBOX", nil); err != nil {
		t.Fatal(err)
	}
	mem.AddUser(user)
	raw := "From: Han Meimei <meimei@example.cn>\r\nTo: support@okpay.test\r\nSubject: =?UTF-8?B?5o+Q546w5rKh5Yiw6LSm?=\r\n" +
		"Message-ID: <imap-1@example.cn>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n我的提现还没有到账。\r\n"
	if _, err := user.Append("INBOX", bytes.NewReader([]byte(raw)), &imap.AppendOptions{}); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return mem.NewSession(), nil, nil
		},
		Caps:         imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {}},
		InsecureAuth: true,
		Logger:       quietIMAPLog{},
	})
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	imapURL := (&url.URL{Scheme: "imap", User: url.UserPassword("desk@okpay.test", "imap-secret"), Host: ln.Addr().String(),
		Path: "/INBOX", RawQuery: "tls=none"}).String()
	s := startInProc(t, noEnv, "--addr", "127.0.0.1:0", "--database", "sqlite:"+filepath.Join(t.TempDir(), "okpay.db"),
		"--email-addr", "off", "--email-addresses", "support@okpay.test", "--imap-url", imapURL)
	body := mailBody(t, s.url, "meimei@example.cn", "desk_email")
	if !strings.Contains(body, "cnv_") {
		t.Fatalf("acknowledgement %q", body)
	}
	s.stop(t)
	if strings.Contains(s.stderr.String(), "imap-secret") {
		t.Error("the IMAP password is in the log")
	}
	// The ingested mail was marked seen on the server.
	sess := mem.NewSession()
	defer sess.Close()
	if err := sess.Login("desk@okpay.test", "imap-secret"); err != nil {
		t.Fatal(err)
	}
	data, err := sess.Select("INBOX", nil)
	if err != nil {
		t.Fatal(err)
	}
	if data.NumMessages != 1 {
		t.Fatalf("%d messages in INBOX, want 1", data.NumMessages)
	}
	st, err := sess.Status("INBOX", &imap.StatusOptions{NumUnseen: true})
	if err != nil {
		t.Fatal(err)
	}
	if st.NumUnseen == nil || *st.NumUnseen != 0 {
		t.Errorf("unseen after ingest: %v, want 0", st.NumUnseen)
	}
}
