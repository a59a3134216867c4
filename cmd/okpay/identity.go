package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/okpay/okpay/clock"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/identity/geoip"
	"github.com/okpay/okpay/identity/passkey"
	"github.com/okpay/okpay/identity/password"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/notify"
	"github.com/okpay/okpay/secret"
	"github.com/okpay/okpay/sqldb"
)

// identityFlags configure accounts, notifications and their secrets.
type identityFlags struct {
	baseURL      string
	secretKey    string
	dev          string
	smtpURL      string
	smsURL       string
	smsToken     string
	pepper       string
	hashParallel int
	geoipDB      string
}

func (f *identityFlags) register(fs *flagSet) {
	fs.StringVar(&f.baseURL, "base-url", "", "public address of this site, used in links sent by email and SMS and as the passkey (WebAuthn) origin, whose host is the RP ID: passkeys need https or localhost, never an IP address (default: http://ADDR)")
	fs.StringVar(&f.secretKey, "secret-key", "", "master key (hex or base64, ≥32 bytes; `okpay keygen` makes one) for sealed secrets and code MACs; with SQLite and none given, one is kept in okpay.key next to the database")
	fs.StringVar(&f.dev, "dev", "auto", "development mode (dev mailbox page, messages kept in memory): on, off, or auto = on only with SQLite on a loopback address")
	fs.StringVar(&f.smtpURL, "smtp-url", "", "mail relay: smtp://user:pass@host:587?tls=starttls&from=OKPay%20%3Cno-reply%40example.com%3E (tls: none, starttls, tls); unset in dev mode: the dev mailbox")
	fs.StringVar(&f.smsURL, "sms-url", "", "SMS gateway URL receiving JSON {id,to,text} POSTs; unset in dev mode: the dev mailbox")
	fs.StringVar(&f.smsToken, "sms-token", "", "bearer token for the SMS gateway")
	fs.StringVar(&f.pepper, "password-pepper", "", "optional secret (≥16 bytes) mixed into every password hash; changing it invalidates all passwords")
	fs.IntVar(&f.hashParallel, "password-hash-concurrency", 0, "most password hashes computed at once (0: one per CPU); bounds memory under a login storm")
	fs.StringVar(&f.geoipDB, "geoip-db", "", "optional GeoLite2-City (MaxMind DB) file: the approximate location of sessions and sign-ins in the session list and security notices, and the impossible-travel freeze rule; unset: locations are \"unknown\" and the rule is off")
	fs.bindEnv("base-url", "secret-key", "dev", "smtp-url", "sms-url", "sms-token", "password-pepper", "password-hash-concurrency", "geoip-db")
}

// identityStack is the running identity service and its notification
// pipeline.
type identityStack struct {
	svc        *identity.Service
	outbox     *notify.Outbox
	dispatcher *notify.Dispatcher
	mailbox    *notify.DevMailbox // nil unless dev mode
	hasher     *password.Hasher
	dev        bool
}

// devMode decides dev mode: "auto" means SQLite on a loopback address.
func devMode(setting string, db *sqldb.DB, addr string) (bool, error) {
	switch setting {
	case "on", "true", "1":
		return true, nil
	case "off", "false", "0":
		return false, nil
	case "auto", "":
		return db.Dialect == sqldb.SQLite && isLoopback(addr), nil
	}
	return false, fmt.Errorf("--dev %q: use on, off or auto", setting)
}

func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// loadKeyring reads the master key from the flag, or (SQLite only) from
// okpay.key beside the database, creating it on first start.
func loadKeyring(f *identityFlags, db *sqldb.DB) (*secret.Keyring, error) {
	if f.secretKey != "" {
		return secret.ParseKeyring(f.secretKey)
	}
	if db.Dialect != sqldb.SQLite {
		return nil, errors.New("set --secret-key (or OKPAY_SECRET_KEY): with PostgreSQL every node must share one master key; `okpay keygen` prints a new one")
	}
	path := filepath.Join(filepath.Dir(db.Path), "okpay.key")
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key, err := secret.Generate()
		if err != nil {
			return nil, err
		}
		text := fmt.Sprintf("%x\n", key)
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			return nil, fmt.Errorf("write the master key: %w", err)
		}
		b = []byte(text)
	} else if err != nil {
		return nil, fmt.Errorf("read the master key: %w", err)
	}
	return secret.ParseKeyring(strings.TrimSpace(string(b)))
}

// newIdentityService builds the identity service and its outbox. The
// commands that act on accounts use it alone: their notifications wait in
// the outbox for a server's dispatcher.
func newIdentityService(db *sqldb.DB, clk clock.Clock, idgen ids.Generator, catalog *i18n.Catalog, f *identityFlags, addr string) (*identity.Service, *notify.Outbox, *password.Hasher, error) {
	keys, err := loadKeyring(f, db)
	if err != nil {
		return nil, nil, nil, err
	}
	opts := password.Options{MaxConcurrent: f.hashParallel}
	if f.pepper != "" {
		opts.Pepper = []byte(f.pepper)
	}
	hasher, err := password.New(opts)
	if err != nil {
		return nil, nil, nil, err
	}
	bl, err := password.NewBlocklist()
	if err != nil {
		return nil, nil, nil, err
	}
	outbox := notify.NewOutbox(db, keys.Sealer("notify/outbox"), clk, idgen)
	base := f.baseURL
	if base == "" {
		base = "http://" + displayHostPort(addr)
	}
	if u, err := url.Parse(base); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, nil, nil, fmt.Errorf("--base-url %q: use http(s)://host[:port]", base)
	}
	// Without a base URL a browser accepts as a WebAuthn origin, the
	// service runs without passkeys (buildIdentity says why).
	pk, _ := newPasskeys(db, clk, base)
	deps := identity.Deps{DB: db, Clock: clk, IDs: idgen, Keys: keys, Hasher: hasher,
		CheckPassword: password.NewPolicy(bl).Check, Outbox: outbox, Catalog: catalog, Passkeys: pk}
	if f.geoipDB != "" {
		// Opened once for the life of the process (memory-mapped).
		geo, err := geoip.Open(f.geoipDB)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("--geoip-db: %w", err)
		}
		deps.Locator = geo
	}
	svc, err := identity.New(deps, identity.Config{BaseURL: base})
	if err != nil {
		return nil, nil, nil, err
	}
	return svc, outbox, hasher, nil
}

// passkeyConfig derives the WebAuthn relying party from the public base
// URL: the RP ID is its host name and the one accepted origin is its
// origin (scheme, host and a port other than the scheme's default, as
// browsers write it).
func passkeyConfig(base string) (passkey.Config, error) {
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return passkey.Config{}, fmt.Errorf("base URL %q has no host", base)
	}
	scheme, host, port := strings.ToLower(u.Scheme), strings.ToLower(u.Hostname()), u.Port()
	if host == "" || net.ParseIP(host) != nil {
		return passkey.Config{}, fmt.Errorf("base URL %q: a WebAuthn RP ID must be a host name, not an IP address (for development use http://localhost:PORT)", base)
	}
	origin := scheme + "://" + host
	if port != "" && !(scheme == "https" && port == "443") && !(scheme == "http" && port == "80") {
		origin += ":" + port
	}
	return passkey.Config{RPID: host, RPDisplayName: "OKPay", Origins: []string{origin}}, nil
}

// newPasskeys builds the passkey service for base, or says why it cannot
// (browsers allow WebAuthn only on https origins and on localhost).
func newPasskeys(db *sqldb.DB, clk clock.Clock, base string) (*passkey.Service, error) {
	cfg, err := passkeyConfig(base)
	if err != nil {
		return nil, err
	}
	return passkey.New(db, clk, cfg)
}

func buildIdentity(ctx context.Context, log *slog.Logger, db *sqldb.DB, clk clock.Clock, idgen ids.Generator, catalog *i18n.Catalog, f *identityFlags, addr string) (*identityStack, error) {
	dev, err := devMode(f.dev, db, addr)
	if err != nil {
		return nil, err
	}
	st := &identityStack{dev: dev}
	if st.svc, st.outbox, st.hasher, err = newIdentityService(db, clk, idgen, catalog, f, addr); err != nil {
		return nil, err
	}
	if !st.svc.PasskeysEnabled() {
		_, why := newPasskeys(db, clk, st.svc.Config().BaseURL)
		log.Warn("passkeys are off: set --base-url to an https address, or http://localhost:PORT in development", "reason", why)
	}
	senders := map[string]notify.Sender{"inapp": st.outbox.InAppSender()}
	if dev {
		st.mailbox = notify.NewDevMailbox(clk)
	}
	if f.smtpURL != "" {
		cfg, err := parseSMTPURL(f.smtpURL)
		if err != nil {
			return nil, err
		}
		if senders["email"], err = notify.NewSMTPSender(cfg); err != nil {
			return nil, err
		}
	} else if dev {
		senders["email"] = st.mailbox
	} else {
		return nil, errors.New("no mail relay: set --smtp-url (or OKPAY_SMTP_URL), or run in dev mode (--dev on) to see messages in the dev mailbox")
	}
	if f.smsURL != "" {
		if senders["sms"], err = notify.NewHTTPSMS(notify.HTTPSMSConfig{URL: f.smsURL, Token: f.smsToken}); err != nil {
			return nil, err
		}
	} else if dev {
		senders["sms"] = st.mailbox
	} else {
		return nil, errors.New("no SMS gateway: set --sms-url (or OKPAY_SMS_URL), or run in dev mode (--dev on) to see messages in the dev mailbox")
	}
	st.dispatcher = notify.NewDispatcher(st.outbox, senders, notify.DispatcherOptions{Logger: log})
	return st, nil
}

// parseSMTPURL reads smtp://user:pass@host:port?tls=starttls&from=...
func parseSMTPURL(raw string) (notify.SMTPConfig, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "smtp" || u.Hostname() == "" {
		return notify.SMTPConfig{}, errors.New("--smtp-url: use smtp://[user:pass@]host[:port]?tls=starttls&from=ADDRESS")
	}
	cfg := notify.SMTPConfig{Host: u.Hostname(), TLS: u.Query().Get("tls"), From: u.Query().Get("from")}
	if cfg.TLS == "" {
		cfg.TLS = "starttls"
	}
	if p := u.Port(); p != "" {
		if cfg.Port, err = strconv.Atoi(p); err != nil {
			return cfg, fmt.Errorf("--smtp-url: bad port %q", p)
		}
	}
	if u.User != nil {
		cfg.Username = u.User.Username()
		cfg.Password, _ = u.User.Password()
	}
	if cfg.From == "" {
		return cfg, errors.New("--smtp-url: add from=ADDRESS (the sender)")
	}
	return cfg, nil
}

// run starts the dispatcher and the periodic clean-up; both stop with ctx.
func (st *identityStack) run(ctx context.Context, log *slog.Logger) {
	go func() {
		if err := st.dispatcher.Run(ctx); err != nil && ctx.Err() == nil {
			log.Error("notification dispatcher stopped", "err", err)
		}
	}()
	// In-app notices queued since the last second join their users'
	// lists (SQLite; notify.IndexInApp).
	every(ctx, time.Second, func() {
		if _, err := st.outbox.IndexInApp(ctx); err != nil && ctx.Err() == nil {
			log.Warn("in-app notices index", "err", err)
		}
	})
	every(ctx, 5*time.Minute, func() {
		if err := st.svc.Sweep(ctx); err != nil && ctx.Err() == nil {
			log.Warn("identity sweep", "err", err)
		}
	})
}
