package identity_test

import (
	"crypto/sha256"
	"strings"
	"testing"
	"time"

	"github.com/okpay/okpay/audit"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

// mobile is the harness's request meta for a client that asks for refresh
// tokens, on device.
func (h *harness) mobile(device string) identity.Meta {
	m := h.meta
	m.RefreshToken = true
	m.DeviceID = device
	m.UserAgent = "OKPay/1.0 (iPhone; iOS 18.1)"
	return m
}

// mobileLogin signs in with the password and the SMS code from device,
// asking for a refresh token.
func (h *harness) mobileLogin(a *account, device string) *identity.LoginResult {
	h.t.Helper()
	m := h.mobile(device)
	h.clock.Advance(61 * time.Second) // SMS codes go at most once a minute (MFA-03)
	res, err := h.svc.Login(h.ctx, a.email, a.password, m)
	if err != nil {
		h.t.Fatalf("login: %v", err)
	}
	if res.RefreshToken != "" {
		h.t.Fatal("a refresh token before the second factor")
	}
	res, err = h.svc.VerifyFactor(h.ctx, res.Token, identity.MethodSMS, h.lastCode(a.phone, "code_login"), m)
	if err != nil {
		h.t.Fatalf("second factor: %v", err)
	}
	if len(res.RefreshToken) != 43 || res.RefreshToken == res.Token {
		h.t.Fatalf("refresh token %q", res.RefreshToken)
	}
	return res
}

// refresh spends rt from device and fails the test on an error.
func (h *harness) refresh(rt, device string) *identity.LoginResult {
	h.t.Helper()
	res, err := h.svc.Refresh(h.ctx, rt, h.mobile(device))
	if err != nil {
		h.t.Fatalf("refresh: %v", err)
	}
	return res
}

func (h *harness) alive(token string) bool {
	_, _, err := h.svc.Authenticate(h.ctx, token)
	return err == nil
}

func TestSES03_RefreshTokenRotates(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		a := h.signUp()
		first := h.mobileLogin(a, "phone-1")
		expires := first.Session.ExpiresAt
		mfaAt := first.Session.MFAAt

		// Only the SHA-256 is stored (SES-01's rule for bearer secrets).
		sum := sha256.Sum256([]byte(first.RefreshToken))
		var n int
		if err := db.Read.QueryRowContext(h.ctx, `SELECT COUNT(*) FROM refresh_tokens WHERE token_hash = $1 AND device_id = 'phone-1' AND expires_at = $2`,
			sum[:], expires.UnixMicro()).Scan(&n); err != nil || n != 1 {
			t.Fatalf("stored refresh token: %d %v", n, err)
		}
		if dump := dumpDB(t, db); strings.Contains(dump, first.RefreshToken) {
			t.Fatal("the refresh token is stored in clear")
		}

		// The session times out when idle (SES-03) ...
		h.clock.Advance(16 * time.Minute)
		if _, _, err := h.svc.Authenticate(h.ctx, first.Token); err == nil {
			t.Fatal("the session outlived its idle timeout")
		}
		// ... and the refresh token brings a new one: same absolute expiry
		// and level, a fresh idle timer, no new sudo window.
		second := h.refresh(first.RefreshToken, "phone-1")
		if second.Token == first.Token || second.RefreshToken == first.RefreshToken || len(second.RefreshToken) != 43 {
			t.Fatalf("rotation: %+v", second)
		}
		if !second.Session.ExpiresAt.Equal(expires) || second.Session.AAL != identity.AAL2 || !second.Session.MFAAt.Equal(mfaAt) || second.Session.ID == first.Session.ID {
			t.Fatalf("refreshed session %+v, want expiry %v and mfa %v", second.Session, expires, mfaAt)
		}
		ss := h.session(second.Token)
		if ss.MFAMethod != identity.MethodSMS { // MFA-09 weighs the login's factor still
			t.Fatalf("refreshed session step-up method %q", ss.MFAMethod)
		}
		if h.svc.Sudo(ss) || ss.DeviceID != "phone-1" {
			t.Fatalf("refreshed session: sudo %v device %q", h.svc.Sudo(ss), ss.DeviceID)
		}
		// The listed sessions: the refreshed one only.
		list, err := h.svc.Sessions(h.ctx, a.id, ss.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range list {
			if s.ID == first.Session.ID {
				t.Fatal("the spent token's session is still listed")
			}
		}

		// Bound to its device: refused elsewhere, still good at home.
		_, err = h.svc.Refresh(h.ctx, second.RefreshToken, h.mobile("phone-2"))
		wantCode(t, err, "unauthorized")
		_, err = h.svc.Refresh(h.ctx, second.RefreshToken, h.mobile(""))
		wantCode(t, err, "unauthorized")
		third := h.refresh(second.RefreshToken, "phone-1")
		if h.alive(second.Token) {
			t.Fatal("the session of a spent refresh token is still alive")
		}
		if !h.alive(third.Token) {
			t.Fatal("the new session does not work")
		}
		// Garbage.
		for _, bad := range []string{"", "nope", strings.Repeat("A", 200), first.Token} {
			_, err := h.svc.Refresh(h.ctx, bad, h.mobile("phone-1"))
			wantCode(t, err, "unauthorized")
		}
		if n := h.audited(a.id, audit.AuthnTokenReuse, ""); n != 0 {
			t.Fatalf("%d reuse events without a reuse", n)
		}
		h.verifyAudit()
	})
}

// SES-03: a spent refresh token presented again revokes every session and
// refresh token of its family (the device), audits authn_token_reuse and
// alerts the owner, once.
func TestSES03_RefreshTokenReuseRevokesTheDevice(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		a := h.signUp()
		first := h.mobileLogin(a, "phone-1")
		other := h.mobileLogin(a, "tablet-1") // another device: another family
		second := h.refresh(first.RefreshToken, "phone-1")
		h.deliver()
		before := len(h.messages("", identity.NoteTokenReuse))

		// The copy of first.RefreshToken comes back (from the thief, or
		// from the phone after the thief spent its successor), after the
		// grace period of a lost answer.
		h.clock.Advance(identity.DefaultRefreshGrace + time.Second)
		_, err := h.svc.Refresh(h.ctx, first.RefreshToken, h.mobile("phone-1"))
		wantCode(t, err, "unauthorized")
		if h.alive(second.Token) {
			t.Fatal("the family's session survived the reuse")
		}
		_, err = h.svc.Refresh(h.ctx, second.RefreshToken, h.mobile("phone-1"))
		wantCode(t, err, "unauthorized")
		// The other device is untouched.
		if !h.alive(other.Token) {
			t.Fatal("another device's session was revoked")
		}
		other2 := h.refresh(other.RefreshToken, "tablet-1")
		if !h.alive(other2.Token) || !h.alive(a.token) {
			t.Fatal("other sessions were revoked")
		}
		if n := h.audited(a.id, audit.AuthnTokenReuse, "sessions_revoked"); n != 1 {
			t.Fatalf("%d authn_token_reuse events, want 1", n)
		}
		for _, to := range []string{a.email, a.phone} {
			if got := len(h.messages(to, identity.NoteTokenReuse)); got != 1 {
				t.Fatalf("%d token_reuse notices to %s: %v", got, to, kinds(h.mailbox.List()))
			}
		}
		if h.inApp(a.id, identity.NoteTokenReuse) != 1 {
			t.Fatal("no in-app alert")
		}
		// Replaying it again is audited, but the owner is not alerted twice.
		_, err = h.svc.Refresh(h.ctx, first.RefreshToken, h.mobile("phone-1"))
		wantCode(t, err, "unauthorized")
		if n := h.audited(a.id, audit.AuthnTokenReuse, ""); n != 2 {
			t.Fatalf("%d authn_token_reuse events, want 2", n)
		}
		if got := len(h.messages("", identity.NoteTokenReuse)) - before; got != 2 { // email and SMS, once
			t.Fatalf("%d token_reuse messages, want 2 (one alert)", got)
		}
		h.verifyAudit()
	})
}

// SES-03: the refresh chain ends at the session's absolute timeout, 12
// hours after the login, however often it is used.
func TestSES03_RefreshEndsAtTheAbsoluteTimeout(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		a := h.signUp()
		res := h.mobileLogin(a, "phone-1")
		expires := res.Session.ExpiresAt
		if want := h.session(res.Token).CreatedAt.Add(12 * time.Hour); !expires.Equal(want) {
			t.Fatalf("expires %v, want %v", expires, want)
		}
		for h.clock.Now().Add(14 * time.Minute).Before(expires) {
			h.clock.Advance(14 * time.Minute)
			res = h.refresh(res.RefreshToken, "phone-1")
			if !res.Session.ExpiresAt.Equal(expires) {
				t.Fatalf("a refresh moved the expiry to %v", res.Session.ExpiresAt)
			}
		}
		// One second before the end it still works; at the end it does not.
		h.clock.Advance(expires.Sub(h.clock.Now()) - time.Second)
		res = h.refresh(res.RefreshToken, "phone-1")
		h.clock.Advance(time.Second)
		_, err := h.svc.Refresh(h.ctx, res.RefreshToken, h.mobile("phone-1"))
		wantCode(t, err, identity.ESessionExpired)
		_, _, err = h.svc.Authenticate(h.ctx, res.Token)
		wantCode(t, err, identity.ESessionExpired)
		// Expired tokens are swept two days later.
		h.clock.Advance(49 * time.Hour)
		if err := h.svc.Sweep(h.ctx); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := db.Read.QueryRowContext(h.ctx, `SELECT COUNT(*) FROM refresh_tokens`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("%d refresh tokens after the sweep (%v)", n, err)
		}
	})
}

// Every path that ends sessions ends their refresh tokens: logout,
// revoking a session, revoke-others, a password change (but not the
// current session's), a freeze and a password reset.
func TestSES03_RevocationsEndRefreshTokens(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		dead := func(rt, device, why string) {
			t.Helper()
			_, err := h.svc.Refresh(h.ctx, rt, h.mobile(device))
			wantCode(t, err, "unauthorized")
		}
		a := h.signUp()

		// Logout.
		res := h.mobileLogin(a, "phone-1")
		if err := h.svc.Logout(h.ctx, res.Token, h.meta); err != nil {
			t.Fatal(err)
		}
		dead(res.RefreshToken, "phone-1", "logout")

		// Revoking one session (SES-05), and the others.
		res = h.mobileLogin(a, "phone-1")
		cur := h.mobileLogin(a, "phone-2") // its sudo window is open
		if err := h.svc.RevokeSession(h.ctx, h.session(cur.Token), res.Session.ID, h.meta); err != nil {
			t.Fatal(err)
		}
		dead(res.RefreshToken, "phone-1", "revoked")
		res = h.mobileLogin(a, "phone-1")
		if _, err := h.svc.RevokeOtherSessions(h.ctx, h.session(cur.Token), h.meta); err != nil {
			t.Fatal(err)
		}
		dead(res.RefreshToken, "phone-1", "revoke others")
		spent := cur.RefreshToken
		cur = h.refresh(spent, "phone-2") // the current one stays

		// A password change ends the others' tokens, idle-expired sessions'
		// included, and keeps the current session's. (An hour on: SMS
		// codes go at most 5 an hour, MFA-03.)
		h.clock.Advance(time.Hour)
		idle := h.mobileLogin(a, "phone-3")
		h.clock.Advance(16 * time.Minute)
		h.alive(idle.Token) // marks it expired
		res = h.mobileLogin(a, "phone-1")
		cur = h.mobileLogin(a, "phone-2")
		if err := h.svc.ChangePassword(h.ctx, h.session(cur.Token), a.password, "a brand new passphrase", h.meta); err != nil {
			t.Fatal(err)
		}
		a.password = "a brand new passphrase"
		dead(res.RefreshToken, "phone-1", "password change")
		dead(idle.RefreshToken, "phone-3", "password change, idle session")
		cur = h.refresh(cur.RefreshToken, "phone-2")

		// A freeze ends them all.
		if err := h.svc.Freeze(h.ctx, a.id, "self:test", "test", h.meta); err != nil {
			t.Fatal(err)
		}
		dead(cur.RefreshToken, "phone-2", "freeze")

		// A password reset ends them all.
		b := h.signUp()
		res = h.mobileLogin(b, "phone-9")
		flow, err := h.svc.ForgotPassword(h.ctx, b.email, identity.MethodEmail, h.meta)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.svc.ResetVerifyCode(h.ctx, flow.Token, h.lastCode(b.email, "code_reset"), h.meta); err != nil {
			t.Fatal(err)
		}
		h.clock.Advance(61 * time.Second)
		if err := h.svc.ResetSendFactorCode(h.ctx, flow.Token, h.meta); err != nil {
			t.Fatal(err)
		}
		if _, err := h.svc.ResetVerifyFactor(h.ctx, flow.Token, identity.MethodSMS, h.lastCode(b.phone, "code_reset_factor"), h.meta); err != nil {
			t.Fatal(err)
		}
		if err := h.svc.ResetComplete(h.ctx, flow.Token, "another brand new passphrase", h.meta); err != nil {
			t.Fatal(err)
		}
		dead(res.RefreshToken, "phone-9", "password reset")
		// A token spent before a revocation, presented after it, is still
		// reuse.
		if n := h.audited(a.id, audit.AuthnTokenReuse, ""); n != 0 {
			t.Fatalf("%d reuse events", n)
		}
		dead(spent, "phone-2", "reuse")
		if n := h.audited(a.id, audit.AuthnTokenReuse, ""); n != 1 {
			t.Fatalf("%d reuse events, want 1", n)
		}
		h.verifyAudit()
	})
}

// A refresh token can be asked for at login (second factor, passwordless,
// sign-up) or right after it; a step-up issues none.
func TestRefreshTokenIssuance(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		a := h.signUp()

		// After the fact, inside the sudo window only.
		res := h.mobileLogin(a, "phone-1")
		rt, exp, err := h.svc.IssueRefreshToken(h.ctx, h.session(res.Token), h.mobile("phone-1"))
		if err != nil || len(rt) != 43 || !exp.Equal(res.Session.ExpiresAt) {
			t.Fatalf("issue: %q %v %v", rt, exp, err)
		}
		// One family per session: the login's token is replaced.
		_, err = h.svc.Refresh(h.ctx, res.RefreshToken, h.mobile("phone-1"))
		wantCode(t, err, "unauthorized")
		h.clock.Advance(11 * time.Minute)
		_, _, err = h.svc.IssueRefreshToken(h.ctx, h.session(res.Token), h.mobile("phone-1"))
		wantCode(t, err, identity.EStepUpRequired)
		h.refresh(rt, "phone-1")

		// A step-up is no login: no refresh token.
		tok := h.login(a)
		h.clock.Advance(61 * time.Second)
		if _, err := h.svc.SendLoginCode(h.ctx, tok, h.meta); err != nil {
			t.Fatal(err)
		}
		up, err := h.svc.VerifyFactor(h.ctx, tok, identity.MethodSMS, h.lastCode(a.phone, "code_step_up"), h.mobile("phone-1"))
		if err != nil || up.RefreshToken != "" {
			t.Fatalf("step-up: %+v %v", up, err)
		}
		pending := h.passwordStep(a)
		_, _, err = h.svc.IssueRefreshToken(h.ctx, h.session(pending.Token), h.mobile("phone-1"))
		wantCode(t, err, identity.EMFARequired)

		// A passkey: as the second factor, and alone.
		auth := h.enrol(up.Token, "Phone")
		pk := h.passwordStep(a)
		opts, flow, err := h.svc.BeginPasskeyLogin(h.ctx, pk.Token)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := auth.Get(opts)
		if err != nil {
			t.Fatal(err)
		}
		got, err := h.svc.FinishPasskeyLogin(h.ctx, pk.Token, flow, resp, h.mobile("dev-1"))
		if err != nil || got.RefreshToken == "" {
			t.Fatalf("passkey factor: %+v %v", got, err)
		}
		h.refresh(got.RefreshToken, "dev-1")
		m := h.mobile("dev-1")
		opts, flow, err = h.svc.BeginPasswordless(h.ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		if resp, err = auth.Get(opts); err != nil {
			t.Fatal(err)
		}
		got, err = h.svc.FinishPasswordless(h.ctx, flow, resp, m)
		if err != nil || got.RefreshToken == "" || got.Session.AAL != identity.AAL2 {
			t.Fatalf("passwordless: %+v %v", got, err)
		}
		h.refresh(got.RefreshToken, "dev-1")

		// Sign-up.
		m = h.mobile("phone-new")
		f, err := h.svc.Register(h.ctx, identity.RegisterInput{Email: "mobile.signup@example.com", Phone: "+8613800138999", Password: "a fine mobile passphrase", Lang: "en"}, m)
		if err != nil {
			t.Fatal(err)
		}
		f, token, err := h.svc.VerifySignup(h.ctx, f.Token, h.lastCode("mobile.signup@example.com", "code_verify_email"), h.lastCode("+8613800138999", "code_verify_phone"), m)
		if err != nil || f.RefreshToken == "" || token == "" {
			t.Fatalf("sign-up: %+v %v", f, err)
		}
		h.clock.Advance(20 * time.Minute)
		if h.alive(token) {
			t.Fatal("idle session alive")
		}
		h.refresh(f.RefreshToken, "phone-new")
		h.verifyAudit()
	})
}

// SES-03: a client that lost the answer to a refresh presents the spent
// token again. Within the grace period (30 s, inclusive) from the same
// device, while the new refresh token is unused, it gets the same new pair;
// a microsecond later, from another device, or once the new token was
// used, it is reuse as before. The kept answer is sealed, never in clear,
// and forgotten once it can no longer be sent.
func TestSES03_RefreshGraceResendsTheSameAnswer(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		if h.svc.Config().RefreshGrace != 30*time.Second || identity.DefaultRefreshGrace != 30*time.Second {
			t.Fatalf("grace %v", h.svc.Config().RefreshGrace)
		}
		a := h.signUp()
		reuses := func() int { return h.audited(a.id, audit.AuthnTokenReuse, "") }

		// The boundary: exactly 30 s after the exchange, the same answer.
		first := h.mobileLogin(a, "phone-1")
		second := h.refresh(first.RefreshToken, "phone-1")
		if strings.Contains(dumpDB(t, db), second.RefreshToken) || strings.Contains(dumpDB(t, db), second.Token) {
			t.Fatal("the kept answer is stored in clear")
		}
		h.clock.Advance(identity.DefaultRefreshGrace)
		again := h.refresh(first.RefreshToken, "phone-1")
		if again.Token != second.Token || again.RefreshToken != second.RefreshToken || again.Session.ID != second.Session.ID {
			t.Fatalf("resent %+v, want the pair of %+v", again, second)
		}
		if !h.alive(second.Token) || reuses() != 0 || h.audited(a.id, "authn_token_resent", "") != 1 {
			t.Fatal("a resend within the grace was treated as reuse")
		}
		// One microsecond later it is reuse: the family ends.
		h.clock.Advance(time.Microsecond)
		_, err := h.svc.Refresh(h.ctx, first.RefreshToken, h.mobile("phone-1"))
		wantCode(t, err, "unauthorized")
		if h.alive(second.Token) || reuses() != 1 {
			t.Fatal("reuse after the grace did not revoke the family")
		}

		// Within the grace, but the new token was already used: reuse.
		first = h.mobileLogin(a, "phone-2")
		second = h.refresh(first.RefreshToken, "phone-2")
		third := h.refresh(second.RefreshToken, "phone-2")
		var kept int
		db.Read.QueryRowContext(h.ctx, `SELECT COUNT(*) FROM refresh_tokens WHERE next_sealed IS NOT NULL`).Scan(&kept)
		if kept != 1 { // only second's answer (third) can still be resent
			t.Fatalf("%d kept answers, want 1", kept)
		}
		_, err = h.svc.Refresh(h.ctx, first.RefreshToken, h.mobile("phone-2"))
		wantCode(t, err, "unauthorized")
		if h.alive(third.Token) || reuses() != 2 {
			t.Fatal("a resend after the new token was used was not reuse")
		}

		// Within the grace, from another device: reuse.
		first = h.mobileLogin(a, "phone-3")
		second = h.refresh(first.RefreshToken, "phone-3")
		_, err = h.svc.Refresh(h.ctx, first.RefreshToken, h.mobile("phone-4"))
		wantCode(t, err, "unauthorized")
		if h.alive(second.Token) || reuses() != 3 {
			t.Fatal("a resend to another device was not reuse")
		}

		// The sweep forgets answers past the grace.
		first = h.mobileLogin(a, "phone-5")
		h.refresh(first.RefreshToken, "phone-5")
		h.clock.Advance(identity.DefaultRefreshGrace + time.Second)
		if err := h.svc.Sweep(h.ctx); err != nil {
			t.Fatal(err)
		}
		db.Read.QueryRowContext(h.ctx, `SELECT COUNT(*) FROM refresh_tokens WHERE next_sealed IS NOT NULL`).Scan(&kept)
		if kept != 0 {
			t.Fatalf("%d kept answers after the sweep", kept)
		}
		h.verifyAudit()
	})
}
