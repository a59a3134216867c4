package identity_test

import (
	"bytes"
	"encoding/base32"
	"encoding/base64"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

func decodeSecret(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ToUpper(s))
	if err != nil {
		t.Fatalf("secret %q: %v", s, err)
	}
	return b
}

func TestSES02_TokenRotatesAtTheSecondFactor(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		a := h.signUp()
		res, err := h.svc.Login(h.ctx, a.email, a.password, h.meta)
		if err != nil {
			t.Fatal(err)
		}
		res2, err := h.svc.VerifyFactor(h.ctx, res.Token, identity.MethodSMS, h.lastCode(a.phone, "code_login"), h.meta)
		if err != nil {
			t.Fatal(err)
		}
		if res2.Token == res.Token {
			t.Fatal("token not rotated")
		}
		if _, _, err := h.svc.Authenticate(h.ctx, res.Token); okpay.ErrorCode(err) != okpay.EUnauthorized {
			t.Fatalf("pre-login token after login: %v", err)
		}
		// The table holds only the hash (SES-01).
		var n int
		db.Read.QueryRow(`SELECT COUNT(*) FROM sessions WHERE CAST(token_hash AS TEXT) LIKE $1`, "%"+res2.Token+"%").Scan(&n)
		if n != 0 {
			t.Fatal("raw token stored")
		}
	})
}

func TestSES03_IdleAndAbsoluteTimeouts(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		a := h.signUp()
		tok := h.login(a)
		h.clock.Advance(15*time.Minute - time.Second)
		if _, _, err := h.svc.Authenticate(h.ctx, tok); err != nil {
			t.Fatalf("at idle−1s: %v", err)
		}
		h.clock.Advance(15*time.Minute + time.Second)
		if _, _, err := h.svc.Authenticate(h.ctx, tok); okpay.ErrorCode(err) != identity.ESessionExpired {
			t.Fatalf("at idle+1s: %v", err)
		}
		// Absolute: kept busy, the session still ends at 12 h.
		tok = h.login(a)
		for i := 0; i < 12*6-1; i++ { // every 10 minutes
			h.clock.Advance(10 * time.Minute)
			if _, _, err := h.svc.Authenticate(h.ctx, tok); err != nil {
				t.Fatalf("at %v: %v", time.Duration(i+1)*10*time.Minute, err)
			}
		}
		h.clock.Advance(10*time.Minute - time.Second)
		if _, _, err := h.svc.Authenticate(h.ctx, tok); err != nil {
			t.Fatalf("at 12h−1s: %v", err)
		}
		h.clock.Advance(2 * time.Second)
		if _, _, err := h.svc.Authenticate(h.ctx, tok); okpay.ErrorCode(err) != identity.ESessionExpired {
			t.Fatalf("at 12h+1s: %v", err)
		}
	})
}

// TestSES03_PeekKeepsNoSessionAlive: Peek (a chat socket's ping) sees a
// live session but records no activity: checked every 10 minutes, the
// session still ends 15 minutes after the customer's last request, and
// Peek then says so; a revoked session fails Peek at once.
func TestSES03_PeekKeepsNoSessionAlive(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		a := h.signUp()
		tok := h.login(a)
		for i := 0; i < 2; i++ {
			h.clock.Advance(7 * time.Minute)
			if ss, err := h.svc.Peek(h.ctx, tok); err != nil || ss.UserID != a.id {
				t.Fatalf("peek at %d min: %+v, %v", 7*(i+1), ss, err)
			}
		}
		h.clock.Advance(time.Minute + time.Second) // 15 min + 1 s after the sign-in
		if _, err := h.svc.Peek(h.ctx, tok); okpay.ErrorCode(err) != identity.ESessionExpired {
			t.Fatalf("peek after the idle timeout: %v", err)
		}
		if _, _, err := h.svc.Authenticate(h.ctx, tok); err == nil {
			t.Fatal("the peeks kept the session alive")
		}
		tok = h.login(a)
		if err := h.svc.Logout(h.ctx, tok, h.meta); err != nil {
			t.Fatal(err)
		}
		if _, err := h.svc.Peek(h.ctx, tok); okpay.ErrorCode(err) != okpay.EUnauthorized {
			t.Fatalf("peek after sign-out: %v", err)
		}
	})
}

func TestSES05_ListAndRevokeSessions(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		a := h.signUp()
		other := h.login(a)
		h.clock.Advance(11 * time.Minute) // the sudo window of the sign-up session closes
		cur, _, err := h.svc.Authenticate(h.ctx, a.token)
		if err != nil {
			t.Fatal(err)
		}
		otherSess, _, _ := h.svc.Authenticate(h.ctx, other)
		list, err := h.svc.Sessions(h.ctx, a.id, cur.ID)
		if err != nil || len(list) != 2 || !list[0].Current && !list[1].Current {
			t.Fatalf("sessions %+v %v", list, err)
		}
		err = h.svc.RevokeSession(h.ctx, cur, otherSess.ID, h.meta)
		wantCode(t, err, identity.EStepUpRequired)
		// Step up with an SMS code.
		h.clock.Advance(time.Minute)
		if _, err := h.svc.SendLoginCode(h.ctx, a.token, h.meta); err != nil {
			t.Fatal(err)
		}
		res, err := h.svc.VerifyFactor(h.ctx, a.token, identity.MethodSMS, h.lastCode(a.phone, "code_step_up"), h.meta)
		if err != nil {
			t.Fatal(err)
		}
		cur, _, _ = h.svc.Authenticate(h.ctx, res.Token)
		if !h.svc.Sudo(cur) {
			t.Fatal("no sudo after step-up")
		}
		// Another user's session is not found (API-02).
		b := h.signUp()
		bs, _, _ := h.svc.Authenticate(h.ctx, b.token)
		wantCode(t, h.svc.RevokeSession(h.ctx, cur, bs.ID, h.meta), okpay.ENotFound)
		if err := h.svc.RevokeSession(h.ctx, cur, otherSess.ID, h.meta); err != nil {
			t.Fatal(err)
		}
		if _, _, err := h.svc.Authenticate(h.ctx, other); okpay.ErrorCode(err) != okpay.EUnauthorized {
			t.Fatalf("revoked session still works: %v", err)
		}
		// Logout (SES-04).
		if err := h.svc.Logout(h.ctx, res.Token, h.meta); err != nil {
			t.Fatal(err)
		}
		if _, _, err := h.svc.Authenticate(h.ctx, res.Token); okpay.ErrorCode(err) != okpay.EUnauthorized {
			t.Fatalf("after logout: %v", err)
		}
		h.verifyAudit()
	})
}

func TestMFA10_ResetBySMSNeedsAnotherChannel(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		a := h.signUp()
		// A block in progress (LOG-05: recovery still works and clears it).
		for i := 0; i < 5; i++ {
			h.svc.Login(h.ctx, a.email, "wrong password "+itoa(i), h.meta)
		}
		flow, err := h.svc.ForgotPassword(h.ctx, a.phone, identity.MethodSMS, h.meta)
		if err != nil {
			t.Fatal(err)
		}
		code := h.lastCode(a.phone, "code_reset")
		if len(code) != 8 {
			t.Fatalf("reset code %q, want 8 digits", code)
		}
		f, err := h.svc.ResetVerifyCode(h.ctx, flow.Token, code, h.meta)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range f.Methods {
			if m == identity.MethodSMS {
				t.Fatalf("SMS offered after an SMS reset code: %v", f.Methods)
			}
		}
		_, err = h.svc.ResetVerifyFactor(h.ctx, flow.Token, identity.MethodSMS, "123456", h.meta)
		wantCode(t, err, identity.EFactorUnavailable)
		// Completing before the second factor is refused.
		wantCode(t, h.svc.ResetComplete(h.ctx, flow.Token, "a brand new passphrase", h.meta), identity.EFlowInvalid)
		if err := h.svc.ResetSendFactorCode(h.ctx, flow.Token, h.meta); err != nil {
			t.Fatal(err)
		}
		if _, err := h.svc.ResetVerifyFactor(h.ctx, flow.Token, identity.MethodEmail, h.lastCode(a.email, "code_reset_factor"), h.meta); err != nil {
			t.Fatal(err)
		}
		if err := h.svc.ResetComplete(h.ctx, flow.Token, "a brand new passphrase", h.meta); err != nil {
			t.Fatal(err)
		}
		// REC-05: sessions gone, hold, notification, no auto-login, block cleared.
		if _, _, err := h.svc.Authenticate(h.ctx, a.token); err == nil {
			t.Fatal("old session survived the reset")
		}
		wantCode(t, h.svc.CanMoveMoneyOut(h.ctx, nil, a.id), identity.EHoldActive)
		if len(h.messages(a.email, identity.NotePasswordReset)) != 1 || len(h.messages(a.phone, identity.NotePasswordReset)) != 1 {
			t.Fatal("reset not notified on every channel")
		}
		wantCode(t, h.svc.ResetComplete(h.ctx, flow.Token, "another new passphrase", h.meta), identity.EFlowInvalid)
		a.password = "a brand new passphrase"
		h.clock.Advance(time.Minute)
		h.login(a)
		h.clock.Advance(24*time.Hour - 3*time.Minute) // the login moved the clock 2 min 1 s
		wantCode(t, h.svc.CanMoveMoneyOut(h.ctx, nil, a.id), identity.EHoldActive)
		h.clock.Advance(2 * time.Minute)
		if err := h.svc.CanMoveMoneyOut(h.ctx, nil, a.id); err != nil {
			t.Fatalf("after 24 h: %v", err)
		}
	})
}

func TestREC01_ForgotLooksTheSameForUnknownIdentifiers(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		a := h.signUp()
		known, err1 := h.svc.ForgotPassword(h.ctx, a.email, identity.MethodEmail, h.meta)
		unknown, err2 := h.svc.ForgotPassword(h.ctx, "ghost@example.com", identity.MethodEmail, h.meta)
		if err1 != nil || err2 != nil || len(known.Token) != len(unknown.Token) {
			t.Fatalf("%v %v", err1, err2)
		}
		// No state change on the account, and REC-02: ≤3 per hour per identifier.
		for i := 0; i < 2; i++ {
			if _, err := h.svc.ForgotPassword(h.ctx, a.email, identity.MethodEmail, h.meta); err != nil {
				t.Fatal(err)
			}
		}
		_, err := h.svc.ForgotPassword(h.ctx, a.email, identity.MethodEmail, h.meta)
		wantCode(t, err, identity.ERateLimited)
		for i := 0; i < 2; i++ {
			h.svc.ForgotPassword(h.ctx, "ghost@example.com", identity.MethodEmail, h.meta)
		}
		_, err = h.svc.ForgotPassword(h.ctx, "ghost@example.com", identity.MethodEmail, h.meta)
		wantCode(t, err, identity.ERateLimited)
		if _, _, err := h.svc.Authenticate(h.ctx, a.token); err != nil {
			t.Fatalf("forgot-password touched the session: %v", err)
		}
	})
}

var freezeLink = regexp.MustCompile(`https://okpay\.test/freeze/([A-Za-z0-9_-]+)`)

func TestNOT05_FreezeLink(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		a := h.signUp()
		m := h.meta
		m.DeviceID = "dev-new"
		m.IP = "198.51.100.9"
		tok := h.login(&account{email: a.email, phone: a.phone, password: a.password})
		_ = tok
		h.meta.DeviceID = "dev-1"
		h.clock.Advance(time.Minute)
		res, err := h.svc.Login(h.ctx, a.email, a.password, m)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.svc.VerifyFactor(h.ctx, res.Token, identity.MethodSMS, h.lastCode(a.phone, "code_login"), m); err != nil {
			t.Fatal(err)
		}
		notes := h.messages(a.email, identity.NoteNewDevice)
		if len(notes) != 1 {
			t.Fatalf("new-device notifications = %d (LOG-09)", len(notes))
		}
		if !strings.Contains(notes[0].Body, "198.51.100.9") {
			t.Fatalf("the notice does not say where from: %q", notes[0].Body)
		}
		link := freezeLink.FindStringSubmatch(notes[0].Body)
		if link == nil {
			t.Fatalf("no freeze link in %q", notes[0].Body)
		}
		// The in-app copy is stored as shown: it holds no token, and sends
		// the signed-in reader to the freeze page.
		inapp, err := h.outbox.ListInApp(h.ctx, a.id, 0)
		if err != nil {
			t.Fatal(err)
		}
		seen := false
		for _, n := range inapp {
			if strings.Contains(n.Body, "/freeze/") || strings.Contains(n.Body, link[1]) {
				t.Fatalf("in-app %s holds a freeze token: %q", n.Kind, n.Body)
			}
			seen = seen || n.Kind == identity.NoteNewDevice && strings.Contains(n.Body, "https://okpay.test/account/freeze")
		}
		if !seen {
			t.Fatalf("no in-app new-device notice linking the freeze page: %+v", inapp)
		}
		// Sending a link stores nothing; its first use records its hash.
		if n := h.count(`SELECT COUNT(*) FROM freeze_links`); n != 0 {
			t.Fatalf("%d freeze links stored before any use", n)
		}
		if err := h.svc.FreezeByLink(h.ctx, link[1], identity.Meta{IP: "192.0.2.1"}); err != nil {
			t.Fatal(err)
		}
		if n := h.count(`SELECT COUNT(*) FROM freeze_links WHERE user_id = $1 AND used_at > 0`, a.id); n != 1 {
			t.Fatalf("used freeze links = %d, want 1", n)
		}
		if err := h.svc.FreezeByLink(h.ctx, link[1], identity.Meta{IP: "192.0.2.1"}); err != nil {
			t.Fatalf("second use: %v (must be harmless)", err)
		}
		wantCode(t, h.svc.FreezeByLink(h.ctx, "bogus", identity.Meta{}), identity.EFlowInvalid)
		u, _ := h.svc.FindUser(h.ctx, a.id)
		if !u.Frozen {
			t.Fatal("not frozen")
		}
		if _, _, err := h.svc.Authenticate(h.ctx, a.token); err == nil {
			t.Fatal("sessions survived the freeze (SES-07)")
		}
		wantCode(t, h.svc.CanMoveMoneyOut(h.ctx, nil, a.id), identity.EAccountFrozen)
		// RSK-05: a frozen account can still sign in, read-only.
		h.clock.Advance(time.Minute)
		tok = h.login(a)
		if _, u, err := h.svc.Authenticate(h.ctx, tok); err != nil || !u.Frozen {
			t.Fatalf("frozen login: %v", err)
		}
		// Read-only: even inside the sudo window, no setting changes.
		cur, _, _ := h.svc.Authenticate(h.ctx, tok)
		_, err = h.svc.BeginTOTP(h.ctx, cur)
		wantCode(t, err, identity.EAccountFrozen)
		_, err = h.svc.RegenerateRecoveryCodes(h.ctx, cur, h.meta)
		wantCode(t, err, identity.EAccountFrozen)
		_, err = h.svc.BeginContactChange(h.ctx, cur, identity.ContactEmail, "elsewhere@example.com", h.meta)
		wantCode(t, err, identity.EAccountFrozen)
		wantCode(t, h.svc.ChangePassword(h.ctx, cur, a.password, "a different passphrase entirely", h.meta), identity.EAccountFrozen)
		// Unfreezing is the desk's: audited, then a 24 h hold.
		wantCode(t, h.svc.Unfreeze(h.ctx, a.id, "", "", "", h.meta), okpay.EInvalid)
		if err := h.svc.Unfreeze(h.ctx, a.id, "agt_1", "case_1", "owner verified", h.meta); err != nil {
			t.Fatal(err)
		}
		wantCode(t, h.svc.CanMoveMoneyOut(h.ctx, nil, a.id), identity.EHoldActive)
		// Single use: the link that froze the account does nothing now.
		if err := h.svc.FreezeByLink(h.ctx, link[1], identity.Meta{}); err != nil {
			t.Fatalf("used link: %v (must be harmless)", err)
		}
		if u, _ := h.svc.FindUser(h.ctx, a.id); u.Frozen {
			t.Fatal("a used freeze link froze the account again")
		}
		h.verifyAudit()
	})
}

// TestNOT05_FreezeLinkExpiresAndIsBound: a link is refused after its TTL
// (7 days) and when any byte of it is altered (its account or expiry
// included); a link sent before links were signed self-contained (stored
// when sent) still works once.
func TestNOT05_FreezeLinkExpiresAndIsBound(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		a := h.signUp()
		b := h.signUp()
		devices := 0
		link := func(u *account) string {
			t.Helper()
			devices++
			h.meta.DeviceID = "other-device-" + itoa(devices)
			h.login(u)
			notes := h.messages(u.email, identity.NoteNewDevice)
			if len(notes) == 0 {
				t.Fatalf("no new-device notice: %v", kinds(h.mailbox.List()))
			}
			l := freezeLink.FindStringSubmatch(notes[len(notes)-1].Body)
			if l == nil {
				t.Fatalf("no freeze link in %q", notes[len(notes)-1].Body)
			}
			return l[1]
		}
		frozen := func(u *account) bool {
			got, err := h.svc.FindUser(h.ctx, u.id)
			if err != nil {
				t.Fatal(err)
			}
			return got.Frozen
		}
		old := link(a)
		raw, err := base64.RawURLEncoding.DecodeString(old)
		if err != nil {
			t.Fatal(err)
		}
		for i := range raw {
			alt := bytes.Clone(raw)
			alt[i] ^= 0x01
			wantCode(t, h.svc.FreezeByLink(h.ctx, base64.RawURLEncoding.EncodeToString(alt), identity.Meta{}), identity.EFlowInvalid)
		}
		for _, bad := range []string{base64.RawURLEncoding.EncodeToString(raw[:len(raw)-1]), old + "A", strings.Repeat("A", 200)} {
			wantCode(t, h.svc.FreezeByLink(h.ctx, bad, identity.Meta{}), identity.EFlowInvalid)
		}
		if frozen(a) || frozen(b) {
			t.Fatal("frozen by an altered link")
		}
		h.clock.Advance(7*24*time.Hour - 2*time.Minute)
		fresh := link(a)
		h.clock.Advance(2 * time.Minute)
		wantCode(t, h.svc.FreezeByLink(h.ctx, old, identity.Meta{}), identity.EFlowInvalid)
		if frozen(a) {
			t.Fatal("frozen by an expired link")
		}
		if n := h.count(`SELECT COUNT(*) FROM freeze_links`); n != 0 {
			t.Fatalf("refused links left %d rows", n)
		}
		// A legacy link, stored when sent, works once and expires.
		legacy := h.svc.StoreLegacyFreezeLink(h.ctx, t, b.id)
		if err := h.svc.FreezeByLink(h.ctx, legacy, identity.Meta{}); err != nil {
			t.Fatal(err)
		}
		if !frozen(b) {
			t.Fatal("the legacy link did not freeze")
		}
		expired := h.svc.StoreLegacyFreezeLink(h.ctx, t, a.id)
		h.clock.Advance(7*24*time.Hour + time.Minute)
		wantCode(t, h.svc.FreezeByLink(h.ctx, expired, identity.Meta{}), identity.EFlowInvalid)
		wantCode(t, h.svc.FreezeByLink(h.ctx, fresh, identity.Meta{}), identity.EFlowInvalid)
		if frozen(a) {
			t.Fatal("frozen by an expired link")
		}
	})
}

func TestNoSecretsAtRest(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		a := h.signUp()
		tok := h.login(a)
		cur, _, _ := h.svc.Authenticate(h.ctx, tok)
		totpSecret, _ := h.enrolTOTP(cur)
		codes, _ := h.svc.RegenerateRecoveryCodes(h.ctx, cur, h.meta)
		var secrets []string
		secrets = append(secrets, a.password, tok, totpSecret)
		secrets = append(secrets, codes...)
		for _, m := range h.mailbox.List() {
			if c := codeRE.FindStringSubmatch(m.Body); c != nil && strings.HasPrefix(m.Kind, "code_") {
				secrets = append(secrets, c[1])
			}
		}
		dump := dumpDB(t, db)
		for _, s := range secrets {
			if strings.Contains(dump, s) {
				t.Errorf("secret %q found in the database (PWD-12)", s)
			}
		}
	})
}

// dumpDB renders every row of every OKPay table as text.
func dumpDB(t *testing.T, db *sqldb.DB) string {
	t.Helper()
	var b strings.Builder
	for _, table := range []string{"users", "sessions", "auth_flows", "otp_codes", "recovery_codes", "devices", "rate_counters", "freeze_links", "notification_outbox", "inapp_notifications", "audit_log", "refresh_tokens", "idempotency_keys"} {
		rows, err := db.Read.Query(`SELECT * FROM ` + table)
		if err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			rows.Scan(ptrs...)
			for _, v := range vals {
				switch x := v.(type) {
				case []byte:
					b.Write(x)
				case string:
					b.WriteString(x)
				}
				b.WriteByte('|')
			}
			b.WriteByte('\n')
		}
		rows.Close()
	}
	return b.String()
}

func TestNOT05_ForgedFreezeLinkIsRefused(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		a := h.signUp()
		// A well-formed token with a wrong MAC is refused.
		wantCode(t, h.svc.FreezeByLink(h.ctx, strings.Repeat("A", 54), identity.Meta{}), identity.EFlowInvalid)
		// So is a genuine link made with another master key.
		other := newHarness(t, db)
		b := other.signUp()
		other.meta.DeviceID = "dev-other"
		other.login(b)
		notes := other.messages(b.email, identity.NoteNewDevice)
		if len(notes) != 1 {
			t.Fatalf("no new-device notice: %v", kinds(other.mailbox.List()))
		}
		l := freezeLink.FindStringSubmatch(notes[0].Body)
		wantCode(t, h.svc.FreezeByLink(h.ctx, l[1], identity.Meta{}), identity.EFlowInvalid)
		for _, id := range []int64{a.id, b.id} {
			if u, _ := h.svc.FindUser(h.ctx, id); u.Frozen {
				t.Fatal("frozen by a forged link")
			}
		}
		// The genuine link works with its own key.
		if err := other.svc.FreezeByLink(other.ctx, l[1], identity.Meta{}); err != nil {
			t.Fatal(err)
		}
	})
}

// TestAuthenticateReadsSessionAndUserAsAlone: Authenticate reads the
// session and its user in one joined statement; what it returns equals
// the session read alone (Peek) and the user read alone (FindUser), for
// a user with many kinds of column set (verified contacts, a hold, a
// freeze reason, an authenticator app).
func TestAuthenticateReadsSessionAndUserAsAlone(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		a := h.signUp()
		cur, _, _ := h.svc.Authenticate(h.ctx, a.token)
		h.enrolTOTP(cur)
		// A hold and a past freeze's reason, written directly (a freeze
		// would end the session).
		if _, err := db.Write.ExecContext(h.ctx, `UPDATE users SET hold_until = $1, hold_reason = 'test hold', frozen_reason = 'earlier', failed_count = 2 WHERE id = $2`,
			h.clock.Now().Add(time.Hour).UnixMicro(), a.id); err != nil {
			t.Fatal(err)
		}
		tok := a.token
		ss, u, err := h.svc.Authenticate(h.ctx, tok)
		if err != nil {
			t.Fatal(err)
		}
		alone, err := h.svc.Peek(h.ctx, tok)
		if err != nil {
			t.Fatal(err)
		}
		alone.Current = true
		if !reflect.DeepEqual(ss, alone) {
			t.Errorf("session read with its user:\n%+v\nread alone:\n%+v", ss, alone)
		}
		want, err := h.svc.FindUser(h.ctx, a.id)
		if err != nil {
			t.Fatal(err)
		}
		want.RecoveryCodes, want.Passkeys = u.RecoveryCodes, u.Passkeys // counted by FindUser only
		if !reflect.DeepEqual(u, want) {
			t.Errorf("user read with its session:\n%+v\nread alone:\n%+v", u, want)
		}
		if u.HoldReason != "test hold" || u.HoldUntil.IsZero() || u.FrozenReason != "earlier" || !u.TOTPEnabled || u.EmailVerifiedAt.IsZero() || u.PhoneVerifiedAt.IsZero() {
			t.Errorf("user %+v: want a hold, a freeze reason, an authenticator app and verified contacts", u)
		}
	})
}

// TestImplausibleTokensAreRefused: an empty token, or one longer than
// any issued, is refused like an unknown one by every token reader.
func TestImplausibleTokensAreRefused(t *testing.T) {
	db := sqldbtest.Open(t, sqldb.SQLite)
	h := newHarness(t, db)
	a := h.signUp()
	for _, tok := range []string{"", strings.Repeat("A", 129), a.token + strings.Repeat("A", 129-len(a.token))} {
		if _, _, err := h.svc.Authenticate(h.ctx, tok); okpay.ErrorCode(err) != okpay.EUnauthorized {
			t.Errorf("Authenticate(%d characters) = %v, want %s", len(tok), err, okpay.EUnauthorized)
		}
		if _, err := h.svc.Peek(h.ctx, tok); okpay.ErrorCode(err) != okpay.EUnauthorized {
			t.Errorf("Peek(%d characters) = %v, want %s", len(tok), err, okpay.EUnauthorized)
		}
		if _, err := h.svc.Refresh(h.ctx, tok, identity.Meta{}); err == nil {
			t.Errorf("Refresh(%d characters) succeeded", len(tok))
		}
	}
	if _, _, err := h.svc.Authenticate(h.ctx, a.token); err != nil {
		t.Fatalf("the issued token: %v", err)
	}
}
