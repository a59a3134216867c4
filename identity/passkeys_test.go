package identity_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/identity/passkey"
	"github.com/okpay/okpay/identity/passkey/passkeytest"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

// session returns the live session of token, or fails.
func (h *harness) session(token string) *identity.Session {
	h.t.Helper()
	ss, _, err := h.svc.Authenticate(h.ctx, token)
	if err != nil {
		h.t.Fatalf("authenticate: %v", err)
	}
	return ss
}

// enrol registers a passkey of a new software authenticator for the full
// session token (inside its sudo window) and returns the authenticator.
func (h *harness) enrol(token, label string) *passkeytest.Authenticator {
	h.t.Helper()
	auth := passkeytest.New(passkeyOrigin, passkeyRPID)
	h.enrolWith(auth, token, label)
	return auth
}

func (h *harness) enrolWith(auth *passkeytest.Authenticator, token, label string) {
	h.t.Helper()
	ss := h.session(token)
	opts, flow, err := h.svc.BeginPasskeyRegistration(h.ctx, ss)
	if err != nil {
		h.t.Fatalf("begin passkey registration: %v", err)
	}
	resp, err := auth.Create(opts)
	if err != nil {
		h.t.Fatalf("authenticator create: %v", err)
	}
	if err := h.svc.FinishPasskeyRegistration(h.ctx, ss, flow, resp, label, h.meta); err != nil {
		h.t.Fatalf("finish passkey registration: %v", err)
	}
}

// passwordStep signs in with the password only and returns the AAL1 token.
func (h *harness) passwordStep(a *account) *identity.LoginResult {
	h.t.Helper()
	h.clock.Advance(61 * time.Second) // SMS codes go at most once a minute (MFA-03)
	res, err := h.svc.Login(h.ctx, a.email, a.password, h.meta)
	if err != nil {
		h.t.Fatalf("login: %v", err)
	}
	return res
}

// passkeyFactor runs the passkey second factor (or step-up) on token with
// auth.
func (h *harness) passkeyFactor(token string, auth *passkeytest.Authenticator) (*identity.LoginResult, error) {
	h.t.Helper()
	opts, flow, err := h.svc.BeginPasskeyLogin(h.ctx, token)
	if err != nil {
		h.t.Fatalf("begin passkey login: %v", err)
	}
	resp, err := auth.Get(opts)
	if err != nil {
		h.t.Fatalf("authenticator get: %v", err)
	}
	return h.svc.FinishPasskeyLogin(h.ctx, token, flow, resp, h.meta)
}

// passwordless runs a passwordless sign-in with auth.
func (h *harness) passwordless(auth *passkeytest.Authenticator) (*identity.LoginResult, error) {
	h.t.Helper()
	opts, flow, err := h.svc.BeginPasswordless(h.ctx, h.meta)
	if err != nil {
		h.t.Fatalf("begin passwordless: %v", err)
	}
	resp, err := auth.Get(opts)
	if err != nil {
		h.t.Fatalf("authenticator get: %v", err)
	}
	return h.svc.FinishPasswordless(h.ctx, flow, resp, h.meta)
}

// inApp counts the user's in-app notifications of kind.
func (h *harness) inApp(userID int64, kind string) int {
	h.t.Helper()
	h.deliver()
	list, err := h.outbox.ListInApp(h.ctx, userID, 100)
	if err != nil {
		h.t.Fatal(err)
	}
	n := 0
	for _, m := range list {
		if m.Kind == kind {
			n++
		}
	}
	return n
}

// audited counts the audit events named event about the user.
func (h *harness) audited(userID int64, event, detail string) int {
	h.t.Helper()
	var n int
	if err := h.db.Read.QueryRowContext(h.ctx, `SELECT COUNT(*) FROM audit_log WHERE event = $1 AND subject = $2 AND details LIKE $3`,
		event, ids.Format(identity.UserPrefix, userID), "%"+detail+"%").Scan(&n); err != nil {
		h.t.Fatal(err)
	}
	return n
}

func TestPasskeyEnrolAndSecondFactor(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		a := h.signUp()
		full := h.login(a)
		other := h.login(a) // another device, signed out by the enrolment (SES-06)

		// Enrolment needs a full session: a pending one is refused.
		pending := h.passwordStep(a)
		if _, _, err := h.svc.BeginPasskeyRegistration(h.ctx, h.session(pending.Token)); okpay.ErrorCode(err) != identity.EMFARequired {
			t.Fatalf("registration from an AAL1 session: %v", err)
		}
		if slices.Contains(pending.Methods, identity.MethodPasskey) {
			t.Fatalf("methods before any passkey: %v", pending.Methods)
		}

		auth := h.enrol(full, "  Work laptop ")
		list, err := h.svc.Passkeys(h.ctx, a.id)
		if err != nil || len(list) != 1 || list[0].Label != "Work laptop" || list[0].LastUsedAt != nil {
			t.Fatalf("passkeys after enrolment: %v %+v", err, list)
		}
		if u, err := h.svc.FindUser(h.ctx, a.id); err != nil || u.Passkeys != 1 {
			t.Fatalf("FindUser: %v %+v", err, u)
		}
		for _, to := range []string{a.email, a.phone} {
			got := h.messages(to, identity.NoteFactorAdded)
			if len(got) != 1 || !strings.Contains(got[0].Body, "Passkey") {
				t.Fatalf("factor-added notice to %s: %+v", to, got)
			}
		}
		if n := h.inApp(a.id, identity.NoteFactorAdded); n != 1 {
			t.Errorf("factor-added in-app notices = %d", n)
		}
		if n := h.audited(a.id, "authn_mfa_enabled", `"method":"passkey"`); n != 1 {
			t.Errorf("authn_mfa_enabled passkey events = %d", n)
		}
		for _, tok := range []string{other, pending.Token} {
			if _, _, err := h.svc.Authenticate(h.ctx, tok); okpay.ErrorCode(err) != okpay.EUnauthorized {
				t.Errorf("another session after the enrolment: %v", err)
			}
		}
		if _, _, err := h.svc.Authenticate(h.ctx, full); err != nil {
			t.Fatalf("the enrolling session ended: %v", err)
		}

		// Password + passkey.
		res := h.passwordStep(a)
		if !slices.Contains(res.Methods, identity.MethodPasskey) {
			t.Fatalf("methods with a passkey: %v", res.Methods)
		}
		done, err := h.passkeyFactor(res.Token, auth)
		if err != nil {
			t.Fatalf("passkey second factor: %v", err)
		}
		if done.Token == res.Token || done.Session.AAL != identity.AAL2 || !h.svc.Sudo(done.Session) {
			t.Fatalf("after the passkey: %+v", done.Session)
		}
		// SES-02: the pre-login token is dead.
		if _, _, err := h.svc.Authenticate(h.ctx, res.Token); err == nil {
			t.Fatal("the AAL1 token still works after the second factor")
		}
		if ss := h.session(done.Token); ss.AAL != identity.AAL2 {
			t.Fatalf("session aal %d", ss.AAL)
		}
		if n := h.audited(a.id, "authn_login_success", `"method":"passkey"`); n != 1 {
			t.Errorf("authn_login_success with a passkey = %d", n)
		}
		if list, _ := h.svc.Passkeys(h.ctx, a.id); list[0].LastUsedAt == nil || list[0].SignCount != 1 {
			t.Errorf("use not recorded: %+v", list[0])
		}

		// Step-up on a full session reopens the sudo window.
		h.clock.Advance(11 * time.Minute)
		if h.svc.Sudo(h.session(done.Token)) {
			t.Fatal("sudo window still open after 11 minutes")
		}
		up, err := h.passkeyFactor(done.Token, auth)
		if err != nil {
			t.Fatalf("passkey step-up: %v", err)
		}
		if !h.svc.Sudo(h.session(up.Token)) {
			t.Fatal("step-up did not open the sudo window")
		}
		h.verifyAudit()
	})
}

func TestPasskeyFlowIsBoundToItsSession(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		a := h.signUp()
		full := h.login(a)
		auth := h.enrol(full, "phone")

		// Registration: a flow of one session cannot finish in another.
		second := h.login(a)
		opts, flow, err := h.svc.BeginPasskeyRegistration(h.ctx, h.session(second))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := passkeytest.New(passkeyOrigin, passkeyRPID).Create(opts)
		if err != nil {
			t.Fatal(err)
		}
		third := h.login(a)
		err = h.svc.FinishPasskeyRegistration(h.ctx, h.session(third), flow, resp, "", h.meta)
		wantCode(t, err, passkey.EFlowInvalid)

		// Second factor: the flow of session 1 fails in session 2, and
		// such a mismatch costs no attempt.
		s1, s2 := h.passwordStep(a), h.passwordStep(a)
		opts, flow, err = h.svc.BeginPasskeyLogin(h.ctx, s1.Token)
		if err != nil {
			t.Fatal(err)
		}
		resp, err = auth.Get(opts)
		if err != nil {
			t.Fatal(err)
		}
		_, err = h.svc.FinishPasskeyLogin(h.ctx, s2.Token, flow, resp, h.meta)
		wantCode(t, err, passkey.EFlowInvalid)
		// Nor can it sign in without a password.
		_, err = h.svc.FinishPasswordless(h.ctx, flow, resp, h.meta)
		wantCode(t, err, passkey.EFlowInvalid)
		// A forged tag is refused too.
		_, err = h.svc.FinishPasskeyLogin(h.ctx, s1.Token, flow[:strings.LastIndexByte(flow, '.')]+".AAAAAAAAAAAAAAAAAAAAAA", resp, h.meta)
		wantCode(t, err, passkey.EFlowInvalid)
		done, err := h.svc.FinishPasskeyLogin(h.ctx, s1.Token, flow, resp, h.meta)
		if err != nil || done.Session.AAL != identity.AAL2 {
			t.Fatalf("the right session: %v", err)
		}
		// The flow is single use, even for its own session.
		_, err = h.svc.FinishPasskeyLogin(h.ctx, done.Token, flow, resp, h.meta)
		wantCode(t, err, passkey.EFlowInvalid)

		// A passwordless flow works only from the device that began it.
		opts, flow, err = h.svc.BeginPasswordless(h.ctx, h.meta)
		if err != nil {
			t.Fatal(err)
		}
		resp, err = auth.Get(opts)
		if err != nil {
			t.Fatal(err)
		}
		elsewhere := h.meta
		elsewhere.DeviceID = "dev-2"
		_, err = h.svc.FinishPasswordless(h.ctx, flow, resp, elsewhere)
		wantCode(t, err, passkey.EFlowInvalid)
		var failed int
		db.Read.QueryRowContext(h.ctx, `SELECT failed_count FROM users WHERE id = $1`, a.id).Scan(&failed)
		if failed != 0 {
			t.Errorf("flow mismatches counted %d failures", failed)
		}
	})
}

func TestPasswordlessSignIn(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		a := h.signUp()
		auth := h.enrol(h.login(a), "")
		if list, _ := h.svc.Passkeys(h.ctx, a.id); len(list) != 1 || list[0].Label != "Chrome / Linux" {
			t.Fatalf("default label: %+v", list)
		}
		res, err := h.passwordless(auth)
		if err != nil {
			t.Fatalf("passwordless: %v", err)
		}
		ss := h.session(res.Token)
		if ss.UserID != a.id || ss.AAL != identity.AAL2 || !h.svc.Sudo(ss) || len(res.Methods) != 0 {
			t.Fatalf("passwordless session %+v, methods %v", ss, res.Methods)
		}
		if n := h.audited(a.id, "authn_login_success", `"method":"passkey"`); n != 1 {
			t.Errorf("authn_login_success = %d", n)
		}

		// User verification is required: a passkey without it is refused.
		auth.UV = false
		_, err = h.passwordless(auth)
		wantCode(t, err, passkey.EInvalid)
		auth.UV = true

		// A blocked account cannot sign in, and is refused alike (LOG-04).
		for i := 0; i < 5; i++ {
			h.svc.Login(h.ctx, a.email, "wrong password "+itoa(i), h.meta)
		}
		_, err = h.passwordless(auth)
		wantCode(t, err, passkey.EInvalid)
		h.clock.Advance(15*time.Minute + time.Second)
		if _, err := h.passwordless(auth); err != nil {
			t.Fatalf("after the block: %v", err)
		}

		// A frozen account signs in, read-only.
		if err := h.svc.Freeze(h.ctx, a.id, "test", "test", h.meta); err != nil {
			t.Fatal(err)
		}
		res, err = h.passwordless(auth)
		if err != nil {
			t.Fatalf("passwordless when frozen: %v", err)
		}
		if _, u, err := h.svc.Authenticate(h.ctx, res.Token); err != nil || !u.Frozen {
			t.Fatalf("frozen sign-in: %v %+v", err, u)
		}
		wantCode(t, h.svc.CanMoveMoneyOut(h.ctx, nil, a.id), identity.EAccountFrozen)

		// The per-IP login limit counts passwordless attempts (LOG-06).
		h.clock.Advance(time.Minute)
		for i := 0; i < 20; i++ {
			_, err := h.svc.FinishPasswordless(h.ctx, "junk.junk", []byte("{}"), h.meta)
			wantCode(t, err, passkey.EFlowInvalid)
		}
		_, err = h.svc.FinishPasswordless(h.ctx, "junk.junk", []byte("{}"), h.meta)
		var rl *identity.RateLimitError
		if !errors.As(err, &rl) {
			t.Fatalf("21st attempt in a minute: %v, want a rate limit", err)
		}
		_, err = h.svc.Login(h.ctx, a.email, a.password, h.meta)
		if !errors.As(err, &rl) {
			t.Fatalf("password login after 21 passkey attempts: %v, want a rate limit", err)
		}
		h.verifyAudit()
	})
}

func TestPasskeyWrongOriginCountsTowardLockout(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		a := h.signUp()
		auth := h.enrol(h.login(a), "key")
		res := h.passwordStep(a)
		auth.SetOrigin("https://okpay.test.evil.example")
		for i := 0; i < 5; i++ {
			_, err := h.passkeyFactor(res.Token, auth)
			wantCode(t, err, passkey.EInvalid)
		}
		if got := h.messages(a.email, identity.NotePasswordNoMFA); len(got) != 1 {
			t.Errorf("password-no-MFA notices = %d, want 1 (LOG-08)", len(got))
		}
		if got := h.messages(a.email, identity.NoteLockout); len(got) != 1 {
			t.Fatalf("lockout notices = %d, want 1 (LOG-04)", len(got))
		}
		if n := h.audited(a.id, "authn_mfa_fail", `"method":"passkey"`); n != 5 {
			t.Errorf("authn_mfa_fail = %d, want 5", n)
		}
		// Blocked: the right origin fails alike.
		auth.SetOrigin(passkeyOrigin)
		_, err := h.passkeyFactor(res.Token, auth)
		wantCode(t, err, passkey.EInvalid)
		_, err = h.passwordless(auth)
		wantCode(t, err, passkey.EInvalid)
		h.clock.Advance(15*time.Minute + time.Second)
		res = h.passwordStep(a)
		if _, err := h.passkeyFactor(res.Token, auth); err != nil {
			t.Fatalf("after the block: %v", err)
		}
	})
}

func TestPasskeyClonedSignCountAlerts(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		a := h.signUp()
		auth := h.enrol(h.login(a), "key")
		res := h.passwordStep(a)
		if _, err := h.passkeyFactor(res.Token, auth); err != nil {
			t.Fatal(err)
		}
		cred := auth.CredentialIDs()[0]
		// A copy of the key replays an old counter.
		if err := auth.SetSignCount(cred, 1); err != nil {
			t.Fatal(err)
		}
		res = h.passwordStep(a)
		_, err := h.passkeyFactor(res.Token, auth)
		wantCode(t, err, passkey.ECloned)
		for _, to := range []string{a.email, a.phone} {
			if got := h.messages(to, identity.NotePasskeyCloned); len(got) != 1 || !strings.Contains(got[0].Body, "/freeze/") {
				t.Fatalf("cloned-passkey alert to %s: %+v", to, got)
			}
		}
		if n := h.inApp(a.id, identity.NotePasskeyCloned); n != 1 {
			t.Errorf("cloned-passkey in-app alerts = %d", n)
		}
		if n := h.audited(a.id, "authn_passkey_cloned", "pkey_"); n != 1 {
			t.Errorf("authn_passkey_cloned = %d", n)
		}
		if _, _, err := h.svc.Authenticate(h.ctx, res.Token); err != nil {
			t.Fatalf("pending session: %v", err)
		} else if ss := h.session(res.Token); ss.AAL != identity.AAL1 {
			t.Fatal("a cloned passkey completed the login")
		}
		// Passwordless alike.
		if err := auth.SetSignCount(cred, 1); err != nil {
			t.Fatal(err)
		}
		_, err = h.passwordless(auth)
		wantCode(t, err, passkey.ECloned)
		if got := h.messages(a.email, identity.NotePasskeyCloned); len(got) != 2 {
			t.Fatalf("cloned-passkey alerts = %d, want 2", len(got))
		}
		var failed int
		db.Read.QueryRowContext(h.ctx, `SELECT failed_count FROM users WHERE id = $1`, a.id).Scan(&failed)
		if failed != 2 {
			t.Errorf("failed_count = %d, want 2", failed)
		}
		h.verifyAudit()
	})
}

func TestRemovePasskey(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		a := h.signUp()
		b := h.signUp()
		full := h.login(a)
		auth := h.enrol(full, "key")
		h.enrol(h.login(b), "bob's key")
		mine, _ := h.svc.Passkeys(h.ctx, a.id)
		theirs, _ := h.svc.Passkeys(h.ctx, b.id)
		if len(mine) != 1 || len(theirs) != 1 {
			t.Fatalf("passkeys: %+v %+v", mine, theirs)
		}

		// SES-08: outside the sudo window, removal is refused.
		h.clock.Advance(11 * time.Minute)
		ss := h.session(full)
		wantCode(t, h.svc.RemovePasskey(h.ctx, ss, mine[0].ID, h.meta), identity.EStepUpRequired)
		// Re-authenticate with the passkey itself (step-up).
		up, err := h.passkeyFactor(full, auth)
		if err != nil {
			t.Fatal(err)
		}
		other := h.login(a)
		ss = h.session(up.Token)
		// Another user's passkey is "not found" (API-02), and stays.
		wantCode(t, h.svc.RemovePasskey(h.ctx, ss, theirs[0].ID, h.meta), okpay.ENotFound)
		if list, _ := h.svc.Passkeys(h.ctx, b.id); len(list) != 1 {
			t.Fatal("another user's passkey was removed")
		}
		if err := h.svc.RemovePasskey(h.ctx, ss, mine[0].ID, h.meta); err != nil {
			t.Fatalf("remove: %v", err)
		}
		wantCode(t, h.svc.RemovePasskey(h.ctx, ss, mine[0].ID, h.meta), okpay.ENotFound)
		if list, _ := h.svc.Passkeys(h.ctx, a.id); len(list) != 0 {
			t.Fatalf("passkeys after removal: %+v", list)
		}
		// MFA-09: notice on every channel, other sessions end, cooling-off.
		if len(h.messages(a.email, identity.NoteFactorRemoved)) != 1 || len(h.messages(a.phone, identity.NoteFactorRemoved)) != 1 || h.inApp(a.id, identity.NoteFactorRemoved) != 1 {
			t.Errorf("factor-removed notices: %v", kinds(h.mailbox.List()))
		}
		if _, _, err := h.svc.Authenticate(h.ctx, other); err == nil {
			t.Error("another session survived the removal")
		}
		u, err := h.svc.FindUser(h.ctx, a.id)
		if err != nil || u.Passkeys != 0 || u.HoldUntil.Before(h.clock.Now().Add(23*time.Hour)) || u.HoldReason != "factor_removed" {
			t.Fatalf("after removal: %v %+v", err, u)
		}
		wantCode(t, h.svc.CanMoveMoneyOut(h.ctx, nil, a.id), identity.EHoldActive)
		if n := h.audited(a.id, "authn_mfa_disabled", `"method":"passkey"`); n != 1 {
			t.Errorf("authn_mfa_disabled = %d", n)
		}
		// No passkey left: not offered, and its ceremony is unavailable.
		res := h.passwordStep(a)
		if slices.Contains(res.Methods, identity.MethodPasskey) {
			t.Errorf("methods after removal: %v", res.Methods)
		}
		_, _, err = h.svc.BeginPasskeyLogin(h.ctx, res.Token)
		wantCode(t, err, identity.EFactorUnavailable)
		// The authenticator still holds the passkey; the server refuses it.
		_, err = h.passwordless(auth)
		wantCode(t, err, passkey.EInvalid)
		h.verifyAudit()
	})
}

func TestPasskeysUnavailableWithoutService(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		a := h.signUp()
		tok := h.login(a)
		off, err := identity.New(identity.Deps{DB: h.db, Clock: h.clock, IDs: &ids.Sequence{}, Keys: h.keys, Hasher: h.hasher,
			CheckPassword: func(string, ...string) error { return nil }, Outbox: h.outbox, Catalog: sharedCatalog}, identity.Config{})
		if err != nil {
			t.Fatal(err)
		}
		if off.PasskeysEnabled() || !h.svc.PasskeysEnabled() {
			t.Fatal("PasskeysEnabled")
		}
		_, _, err = off.BeginPasskeyRegistration(h.ctx, h.session(tok))
		wantCode(t, err, identity.EFactorUnavailable)
		_, _, err = off.BeginPasswordless(h.ctx, h.meta)
		wantCode(t, err, identity.EFactorUnavailable)
		if list, err := off.Passkeys(h.ctx, a.id); err != nil || list != nil {
			t.Fatalf("Passkeys: %v %v", list, err)
		}
	})
}
