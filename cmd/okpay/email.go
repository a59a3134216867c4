package main

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/okpay/okpay/clock"
	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/email"
	"github.com/okpay/okpay/email/imappoll"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/maildesk"
	"github.com/okpay/okpay/notify"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/web"
)

// The desk's email channel (package maildesk): the built-in SMTP listener
// (on by default, on loopback), an optional IMAP poller, both feeding the
// same ingest, and the dispatcher that sends acknowledgements and agents'
// replies through the --smtp-url relay (the dev mailbox in development
// mode), DKIM-signed when a key is given.

// emailFlags configure the email channel.
type emailFlags struct {
	addr       string
	addresses  string
	maxBytes   int64
	dkimKey    string
	dkimSel    string
	imapURL    string
	imapMoveTo string
	// sender authentication of inbound mail
	trustedAuthServ string
	requireAuth     bool
	// how long an email conversation stays resolved before its sender is
	// asked to rate it
	surveyDelay time.Duration
}

// defaultEmailAddr is the listener's address when --email-addr is not set.
const defaultEmailAddr = "127.0.0.1:2525"

func (f *emailFlags) register(fs *flagSet) {
	fs.StringVar(&f.addr, "email-addr", defaultEmailAddr, "address of the built-in SMTP listener receiving support mail (\"off\" to disable)")
	fs.StringVar(&f.addresses, "email-addresses", "", "support addresses mail is accepted for, comma-separated; the first is the From of replies; support+TOKEN@ forms are accepted too (default: support@HOST of --base-url)")
	fs.Int64Var(&f.maxBytes, "email-max-bytes", 10<<20, "largest mail accepted, in bytes (bigger ones are refused with 552)")
	fs.StringVar(&f.dkimKey, "email-dkim-key", "", "PEM file of the private key (RSA or Ed25519, PKCS#8) signing outgoing support mail with DKIM")
	fs.StringVar(&f.dkimSel, "email-dkim-selector", "okpay", "DKIM selector of --email-dkim-key")
	fs.StringVar(&f.imapURL, "imap-url", "", "also fetch support mail from this IMAP mailbox: imaps://user:pass@host:993/INBOX (imap:// with ?tls=starttls or ?tls=none); waits with IDLE")
	fs.StringVar(&f.imapMoveTo, "imap-move-to", "", "folder ingested IMAP mail is moved to (default: only flagged as seen)")
	fs.StringVar(&f.trustedAuthServ, "email-trusted-authserv", "", "authserv-id of the mail server in front of OKPay whose Authentication-Results header (dmarc=pass) is trusted, e.g. mx.example.com; that header from anyone else is ignored (default: none, only OKPay's own DKIM check counts)")
	fs.BoolVar(&f.requireAuth, "email-require-auth", false, "mail whose sender is not authenticated (DKIM aligned with From, or the trusted server's dmarc=pass) never joins a customer's conversation: it starts a new one for the security team (default: it joins, with an \"unverified sender\" warning)")
	fs.DurationVar(&f.surveyDelay, "email-survey-delay", 15*time.Minute, "how long an email conversation stays resolved before its sender gets a mail asking to rate it, 1 to 5, with a signed link (negative: never asked)")
	fs.bindEnv("email-addr", "email-addresses", "email-max-bytes", "email-dkim-key", "email-dkim-selector", "imap-url", "imap-move-to",
		"email-trusted-authserv", "email-require-auth", "email-survey-delay")
}

// config is the email channel's configuration from the flags.
func (f *emailFlags) config(addrs maildesk.Addresses, baseURL string) maildesk.Config {
	delay := f.surveyDelay
	if delay == 0 {
		delay = time.Nanosecond // 0 is the package's "default": asked at once
	}
	return maildesk.Config{Addresses: addrs, MaxBytes: f.maxBytes,
		Auth: email.AuthOptions{TrustedAuthServID: strings.TrimSpace(f.trustedAuthServ)}, RequireAuth: f.requireAuth,
		BaseURL: baseURL, SurveyDelay: delay}
}

// identityCustomers adapts the identity service to maildesk.Customers.
type identityCustomers struct{ ident *identityStack }

func (c identityCustomers) CustomerByEmail(ctx context.Context, addr string) (int64, i18n.Lang, bool, error) {
	return c.ident.svc.FindByVerifiedEmail(ctx, addr)
}

func (c identityCustomers) CustomerEmail(ctx context.Context, id int64) (string, error) {
	u, err := c.ident.svc.FindUser(ctx, id)
	if err != nil {
		return "", err
	}
	if u.EmailVerifiedAt.IsZero() {
		return "", nil // never mail an address nobody proved
	}
	return u.Email, nil
}

// devMailer puts outgoing support mail in the dev mailbox.
type devMailer struct{ box *notify.DevMailbox }

func (d devMailer) Send(ctx context.Context, o email.Outgoing) error {
	to := ""
	if len(o.To) > 0 {
		to = o.To[0].Addr
	}
	return d.box.Send(ctx, notify.Message{DedupeKey: "maildesk:" + o.MessageID, Channel: notify.ChannelEmail, Kind: "desk_email",
		To: to, Subject: o.Subject, Body: o.Text, HTML: o.HTML})
}

// emailChannel is the running email channel.
type emailChannel struct {
	svc      *maildesk.Service
	listener *maildesk.Listener
}

func (e *emailChannel) close() {
	if e != nil && e.listener != nil {
		e.listener.Close()
	}
}

// startEmail builds the email channel and starts its listener, poller and
// dispatcher (until ctx ends).
func startEmail(ctx context.Context, log *slog.Logger, db *sqldb.DB, clk clock.Clock, idgen ids.Generator, dsk *desk.Service,
	ident *identityStack, catalog *i18n.Catalog, pages *web.Server, f *emailFlags, idf *identityFlags) (*emailChannel, error) {
	keys, err := loadKeyring(idf, db)
	if err != nil {
		return nil, err
	}
	list := f.addresses
	if list == "" {
		u, err := url.Parse(ident.svc.Config().BaseURL)
		if err != nil || u.Hostname() == "" {
			return nil, errors.New("--email-addresses: set the support addresses (no host in --base-url)")
		}
		list = "support@" + u.Hostname()
	}
	addrs, ok := maildesk.ParseAddresses(list)
	if !ok {
		return nil, fmt.Errorf("--email-addresses %q: give addresses like support@example.com (without +tags)", list)
	}
	svc, err := maildesk.New(maildesk.Deps{DB: db, Clock: clk, IDs: idgen, Desk: dsk, Customers: identityCustomers{ident},
		Catalog: catalog, Tokens: maildesk.NewTokens(keys), Logger: log}, f.config(addrs, ident.svc.Config().BaseURL))
	if err != nil {
		return nil, err
	}
	// Outgoing mail: the relay of --smtp-url, else the dev mailbox.
	var mailer maildesk.Mailer
	if idf.smtpURL != "" {
		cfg, err := parseSMTPURL(idf.smtpURL)
		if err != nil {
			return nil, err
		}
		sc := email.SenderConfig{Host: cfg.Host, Port: cfg.Port, TLS: cfg.TLS, Username: cfg.Username, Password: cfg.Password}
		if f.dkimKey != "" {
			key, err := readDKIMKey(f.dkimKey)
			if err != nil {
				return nil, err
			}
			sc.DKIMKey, sc.DKIMDomain, sc.DKIMSelector = key, addrs.Domain(), f.dkimSel
		}
		if mailer, err = email.NewSender(sc); err != nil {
			return nil, err
		}
	} else if ident.mailbox != nil {
		mailer = devMailer{ident.mailbox}
	} else {
		return nil, errors.New("the email channel needs a mail relay: set --smtp-url")
	}
	disp, err := maildesk.NewDispatcher(svc, mailer, maildesk.DeliverConfig{})
	if err != nil {
		return nil, err
	}
	go disp.Run(ctx, 2*time.Second)
	if err := pages.EnableEmailDeliveries(svc); err != nil {
		return nil, err
	}
	ch := &emailChannel{svc: svc}
	if f.addr != "off" && f.addr != "" {
		ln, err := maildesk.Listen(svc, maildesk.ListenerConfig{Addr: f.addr})
		switch {
		case err != nil && f.addr == defaultEmailAddr:
			// The zero-config default is taken (another OKPay on this
			// machine): serve without it rather than not at all.
			log.Warn("email listener not started: set --email-addr to another address, or off", "err", err)
		case err != nil:
			return nil, err
		default:
			ch.listener = ln
			go func() {
				if err := ln.Serve(); err != nil && ctx.Err() == nil {
					log.Error("email listener stopped", "err", err)
				}
			}()
			log.Info("email listener started", "addr", ln.Addr().String(), "addresses", strings.Join(addrs.List(), ","))
		}
	}
	if f.imapURL != "" {
		cfg, err := parseIMAPURL(f.imapURL)
		if err != nil {
			return nil, err
		}
		cfg.MoveTo, cfg.Logger, cfg.MaxMessageBytes = f.imapMoveTo, log, f.maxBytes
		// A message over the limit is not fetched: a stand-in from its
		// envelope tells the agent, and it stays in the mailbox, flagged.
		cfg.Oversize = func(ctx context.Context, m imappoll.Oversized) error {
			_, err := svc.IngestOversized(ctx, maildesk.Oversized{From: m.From, FromName: m.FromName, To: m.To, Subject: m.Subject,
				MessageID: m.MessageID, InReplyTo: m.InReplyTo, Date: m.Date, Size: m.Size}, maildesk.Envelope{RemoteAddr: "imap:" + cfg.Addr})
			return err
		}
		p, err := imappoll.New(cfg, func(ctx context.Context, raw []byte) error {
			_, err := svc.Ingest(ctx, raw, maildesk.Envelope{RemoteAddr: "imap:" + cfg.Addr})
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("--imap-url: %w", err)
		}
		go p.Run(ctx)
	}
	return ch, nil
}

// parseIMAPURL reads imaps://user:pass@host[:port]/MAILBOX[?tls=...].
func parseIMAPURL(raw string) (imappoll.Config, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "imaps" && u.Scheme != "imap") || u.Hostname() == "" {
		return imappoll.Config{}, errors.New("--imap-url: use imaps://user:pass@host:993/INBOX")
	}
	cfg := imappoll.Config{TLS: u.Query().Get("tls"), Mailbox: strings.TrimPrefix(u.Path, "/")}
	if cfg.TLS == "" {
		cfg.TLS = "tls"
		if u.Scheme == "imap" {
			cfg.TLS = "starttls"
		}
	}
	port := u.Port()
	if port == "" {
		port = "993"
		if cfg.TLS != "tls" {
			port = "143"
		}
	}
	if _, err := strconv.Atoi(port); err != nil {
		return cfg, fmt.Errorf("--imap-url: bad port %q", port)
	}
	cfg.Addr = u.Hostname() + ":" + port
	if u.User != nil {
		cfg.Username = u.User.Username()
		cfg.Password, _ = u.User.Password()
	}
	return cfg, nil
}

// readDKIMKey reads a PKCS#8 (or PKCS#1 RSA) private key in PEM.
func readDKIMKey(path string) (crypto.Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--email-dkim-key: %w", err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errors.New("--email-dkim-key: no PEM block")
	}
	if k, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		if s, ok := k.(crypto.Signer); ok {
			return s, nil
		}
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	return nil, errors.New("--email-dkim-key: not an RSA or Ed25519 private key")
}
