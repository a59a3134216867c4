package identity

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/notify"
	"github.com/okpay/okpay/secret"
)

// Security notification kinds (NOT-01). The catalog holds, for each kind K,
// "notify.K.subject", "notify.K.body" (email and in-app) and "notify.K.sms".
const (
	NoteNewDevice        = "new_device"
	NotePasswordNoMFA    = "password_no_mfa"
	NoteLockout          = "lockout"
	NoteFreezeWarning    = "freeze_warning"
	NotePasswordReset    = "password_reset"
	NotePasswordChanged  = "password_changed"
	NoteFactorAdded      = "factor_added"
	NoteFactorRemoved    = "factor_removed"
	NoteRecoveryCodeUsed = "recovery_code_used"
	NoteFrozen           = "frozen"
	NoteUnfrozen         = "unfrozen"
	NoteRegisterAttempt  = "register_attempt"
	NoteSessionsRevoked  = "sessions_revoked"
	// NotePasswordCompromised: the password was marked compromised and
	// must be changed at the next sign-in (PWD-08).
	NotePasswordCompromised = "password_compromised"
)

// registerAttemptNotices caps the "someone tried to use your details"
// notices per account and hour.
const registerAttemptNotices = 3

// notifyCode queues the message that carries a one-time code. The outbox
// seals it at rest; no other message ever carries a code (NOT-04).
func (s *Service) notifyCode(ctx context.Context, tx *sql.Tx, u *userRow, purpose, channel, code string, ttl time.Duration, dedupe string) error {
	data := map[string]any{"Code": code, "Minutes": int(ttl / time.Minute)}
	key := "notify.code." + purpose
	m := notify.Message{DedupeKey: dedupe + ":" + channel, UserID: u.ID, Channel: channel, Kind: "code_" + purpose}
	if channel == MethodSMS {
		m.To = u.Phone
		m.Body = s.Catalog.T(u.Lang, key+".sms", data)
	} else {
		m.To = u.Email
		m.Subject = s.Catalog.T(u.Lang, key+".subject", data)
		m.Body = s.Catalog.T(u.Lang, key+".body", data)
	}
	if err := s.Outbox.Enqueue(ctx, tx, m); err != nil {
		return okpay.Internal(err, "queue code")
	}
	return nil
}

// notifySecurity queues a security notification of kind to every channel
// (email, SMS and in-app; NOT-06: no opt-out), each carrying a fresh
// single-use "Not you? Freeze my account" link (NOT-05). extra fills the
// message's own placeholders; to overrides the destinations (a contact
// change notifies the old address too).
func (s *Service) notifySecurity(ctx context.Context, tx *sql.Tx, u *userRow, kind string, m Meta, extra map[string]any) error {
	to := map[string]string{"sms": u.Phone, "inapp": "-"}
	if !u.EmailVerifiedAt.IsZero() {
		to["email"] = u.Email // never mail an address nobody proved
	}
	return s.notifyTo(ctx, tx, u, kind, m, extra, to)
}

// notifyTo queues security notification kind to the given channels and
// destinations (a contact change also tells the new address).
func (s *Service) notifyTo(ctx context.Context, tx *sql.Tx, u *userRow, kind string, m Meta, extra map[string]any, to map[string]string) error {
	now := s.now()
	link := s.freezeLink(u.ID, now)
	data := map[string]any{
		"Time":   now.Format("2006-01-02 15:04 UTC"),
		"Device": deviceLabel(m.UserAgent),
		"IP":     orUnknown(m.IP),
		// NOT-04: the approximate location, "unknown" without a GeoIP
		// database.
		"Location": s.locationText(m.IP, u.Lang),
		"Link":     link,
	}
	for k, v := range extra {
		data[k] = v
	}
	event := strconv.FormatInt(s.IDs.Next(), 10)
	subject := s.Catalog.T(u.Lang, "notify."+kind+".subject", data)
	body := s.Catalog.T(u.Lang, "notify."+kind+".body", data)
	var msgs []notify.Message
	for _, ch := range []string{"email", "sms", "inapp"} {
		dest, ok := to[ch]
		if !ok {
			continue
		}
		msg := notify.Message{DedupeKey: kind + ":" + event + ":" + ch, UserID: u.ID, Channel: ch, Kind: kind, To: dest, Subject: subject, Body: body}
		switch ch {
		case "sms":
			msg.Subject = ""
			msg.Body = s.Catalog.T(u.Lang, "notify."+kind+".sms", data)
		case "inapp":
			// Stored as shown, so no freeze token (no token is ever
			// stored): the signed-in reader is sent to the freeze page.
			msg.To = ""
			d := maps.Clone(data)
			d["Link"] = s.freezePageURL()
			msg.Body = s.Catalog.T(u.Lang, "notify."+kind+".body", d)
		}
		msgs = append(msgs, msg)
	}
	if err := s.Outbox.Enqueue(ctx, tx, msgs...); err != nil {
		return okpay.Internal(err, "queue notification")
	}
	return nil
}

// notifyRegisterAttempt tells u that someone tried to use u's email or
// phone for another account. Anyone can cause it by typing someone's
// address, so at most a few an hour reach the owner.
func (s *Service) notifyRegisterAttempt(ctx context.Context, tx *sql.Tx, u *userRow, m Meta) error {
	var rl *RateLimitError
	if err := s.hit(ctx, tx, "notice:"+NoteRegisterAttempt+":"+strconv.FormatInt(u.ID, 10), time.Hour, registerAttemptNotices); errors.As(err, &rl) {
		return nil
	} else if err != nil {
		return err
	}
	return s.notifySecurity(ctx, tx, u, NoteRegisterAttempt, m, nil)
}

// freezeLink returns a "Not you? Freeze my account" link for userID,
// valid for FreezeLinkTTL from now. Nothing is stored: the token carries
// its account and expiry under a MAC (newFreezeToken), and only its use is
// recorded (FreezeByLink). Its host comes from configuration only.
func (s *Service) freezeLink(userID int64, now time.Time) string {
	return s.freezeURL(newFreezeToken(s.freezeMAC, userID, now.Add(s.cfg.FreezeLinkTTL)))
}

// Freeze-link tokens (NOT-05: signed, single-use, 7-day TTL), base64url:
//
//	v2:     0x02 | user id (8) | expiry, Unix µs (8) | random (16) | MAC (16)
//	legacy: random (24) | MAC (16)
//
// The MAC (the first 16 bytes of an HMAC-SHA-256 under the
// identity/freeze-link key) covers everything before it, so a forged,
// altered or mistyped link fails before any database access. A v2 token is
// never stored: its first use writes its hash to freeze_links, which makes
// it single-use. Legacy tokens were stored (hashed) when they were sent;
// they are still honoured until their rows expire.
const (
	freezeTokenV2     = 2
	freezeTokenLen    = 1 + 8 + 8 + 16 + 16
	freezeTokenLegacy = 24 + 16
	freezeMACLen      = 16
)

// newFreezeToken returns a v2 token for userID that expires at expires.
func newFreezeToken(mac *secret.MAC, userID int64, expires time.Time) string {
	var b [freezeTokenLen]byte
	b[0] = freezeTokenV2
	binary.BigEndian.PutUint64(b[1:9], uint64(userID))
	binary.BigEndian.PutUint64(b[9:17], uint64(micros(expires)))
	rand.Read(b[17:33])
	copy(b[33:], mac.Sum(b[:33])[:freezeMACLen])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// freezeClaim is what a freeze-link token says once its MAC is checked.
type freezeClaim struct {
	legacy  bool // look the token up in freeze_links
	userID  int64
	expires time.Time
}

// parseFreezeToken checks a token's form and MAC and returns its claim.
func parseFreezeToken(mac *secret.MAC, token string) (freezeClaim, bool) {
	if !plausibleToken(token) {
		return freezeClaim{}, false
	}
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return freezeClaim{}, false
	}
	legacy := len(b) == freezeTokenLegacy
	if !legacy && (len(b) != freezeTokenLen || b[0] != freezeTokenV2) {
		return freezeClaim{}, false
	}
	n := len(b) - freezeMACLen
	if !mac.Equal(b[n:], mac.Sum(b[:n])[:freezeMACLen]) {
		return freezeClaim{}, false
	}
	if legacy {
		return freezeClaim{legacy: true}, true
	}
	c := freezeClaim{userID: int64(binary.BigEndian.Uint64(b[1:9])), expires: fromMicros(int64(binary.BigEndian.Uint64(b[9:17])))}
	return c, c.userID > 0
}

// randomToken returns 32 random bytes, base64url (SES-01).
// It never starts with "okp_", the prefix of API keys, so the two kinds
// of bearer token cannot be confused.
func randomToken() string {
	for {
		var b [32]byte
		rand.Read(b[:])
		if t := base64.RawURLEncoding.EncodeToString(b[:]); !strings.HasPrefix(t, "okp_") {
			return t
		}
	}
}

// deviceLabel makes a short "Chrome on Linux"-style label from a
// User-Agent.
func deviceLabel(ua string) string {
	browser := ""
	for _, b := range []struct{ token, name string }{
		{"Edg/", "Edge"}, {"OPR/", "Opera"}, {"Firefox/", "Firefox"}, {"Chrome/", "Chrome"}, {"Safari/", "Safari"}, {"curl/", "curl"},
	} {
		if strings.Contains(ua, b.token) {
			browser = b.name
			break
		}
	}
	osName := ""
	for _, o := range []struct{ token, name string }{
		{"Android", "Android"}, {"iPhone", "iOS"}, {"iPad", "iPadOS"}, {"Windows", "Windows"}, {"Mac OS X", "macOS"}, {"Linux", "Linux"},
	} {
		if strings.Contains(ua, o.token) {
			osName = o.name
			break
		}
	}
	switch {
	case browser != "" && osName != "":
		return browser + " / " + osName
	case browser != "":
		return browser
	case osName != "":
		return osName
	case ua == "":
		return "?"
	}
	if len(ua) > 40 {
		ua = ua[:40]
	}
	return ua
}

func orUnknown(s string) string {
	if s == "" {
		return "?"
	}
	return s
}

// langOr returns l when it is supported, else the default language.
func langOr(l i18n.Lang) i18n.Lang {
	if _, ok := i18n.ParseLang(string(l)); ok {
		return l
	}
	return i18n.Default
}
