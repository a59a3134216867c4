package agent_test

import (
	"sync"
	"testing"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/agent"
	"github.com/okpay/okpay/audit"
	"github.com/okpay/okpay/identity/otp"
	"github.com/okpay/okpay/identity/passkey"
	"github.com/okpay/okpay/identity/passkey/passkeytest"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

// TestSUP01_SignInNeedsPasswordAndPasskey: the password alone gives an
// AAL1 session that is not a sign-in; the passkey makes it full with a new
// token (the AAL1 token dies, SES-02), and both steps are audited.
func TestSUP01_SignInNeedsPasswordAndPasskey(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db, agent.Config{})
		st := h.newStaff(agent.RoleAgent)
		if !st.session.Full() || st.agent.Passkeys != 1 || !st.agent.Enrolled() {
			t.Fatalf("after enrolment: %+v %+v", st.session, st.agent)
		}
		if err := h.svc.Logout(h.ctx, st.token, h.meta); err != nil {
			t.Fatal(err)
		}
		_, _, err := h.svc.Authenticate(h.ctx, st.token)
		wantCode(t, err, okpay.EUnauthorized) // SES-04

		res, err := h.svc.Login(h.ctx, st.agent.Email, st.password, h.meta)
		if err != nil {
			t.Fatal(err)
		}
		if res.Session.Full() || agent.RequireFull(res.Session) == nil || len(res.Methods) != 1 || res.Methods[0] != agent.MethodPasskey {
			t.Fatalf("password step: %+v methods %v", res.Session, res.Methods)
		}
		ss, _, err := h.svc.Authenticate(h.ctx, res.Token)
		if err != nil || ss.Full() || h.svc.Sudo(ss) {
			t.Fatalf("AAL1 session %+v %v", ss, err)
		}
		// Another authenticator's passkey is refused and counted.
		stranger := passkeytest.New(origin, rpID)
		opts, flow, err := h.svc.BeginPasskeyLogin(h.ctx, res.Token)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := stranger.Get(opts); err == nil {
			t.Fatal("a stranger's authenticator answered")
		}
		// A flow begun by one session is refused to another.
		res2, err := h.svc.Login(h.ctx, st.agent.Email, st.password, h.meta)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := st.auth.Get(opts)
		if err != nil {
			t.Fatal(err)
		}
		_, err = h.svc.FinishPasskeyLogin(h.ctx, res2.Token, flow, resp, h.meta)
		wantCode(t, err, passkey.EFlowInvalid)

		full, err := h.passkeyStep(res.Token, st.auth)
		if err != nil {
			t.Fatal(err)
		}
		if !full.Session.Full() || full.Token == res.Token || !h.svc.Sudo(full.Session) {
			t.Fatalf("full session %+v", full.Session)
		}
		_, _, err = h.svc.Authenticate(h.ctx, res.Token)
		wantCode(t, err, okpay.EUnauthorized) // the pre-factor token is dead
		ev := h.lastEvent(st.agent.Ref(), audit.AuthnLoginSuccess)
		if ev.Details["method"] != agent.MethodPasskey || ev.Details["area"] != "staff" {
			t.Fatalf("audit %+v", ev)
		}
		h.verifyChain()
	})
}

// TestLOG01_EveryPasswordFailureLooksAlike: unknown email, wrong password,
// not enrolled, disabled and locked all give the same error.
func TestLOG01_EveryPasswordFailureLooksAlike(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db, agent.Config{})
		st := h.newStaff(agent.RoleAgent)
		pending, _ := h.create(agent.RoleAgent)
		var msgs []string
		for _, c := range []struct{ email, pw string }{
			{"nobody@okpay.test", st.password},
			{st.agent.Email, "wrong horse battery staple"},
			{pending.Email, "anything at all here"},
			{st.agent.Email, string(make([]byte, 2000))},
		} {
			_, err := h.svc.Login(h.ctx, c.email, c.pw, h.meta)
			wantCode(t, err, agent.EInvalidCredentials)
			msgs = append(msgs, okpay.ErrorMessage(err))
		}
		for _, m := range msgs[1:] {
			if m != msgs[0] {
				t.Fatalf("messages differ: %q", msgs)
			}
		}
	})
}

// TestLOG04_StaffLockout: five failures (passwords or passkeys) within 15
// minutes lock the account; during the lock the right password fails
// alike; the lock survives a restart; it lifts after 15 minutes, and the
// next one lasts twice as long.
func TestLOG04_StaffLockout(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db, agent.Config{})
		st := h.newStaff(agent.RoleAgent)
		for i := 0; i < 3; i++ {
			_, err := h.svc.Login(h.ctx, st.agent.Email, "not the password "+itoa(i), h.meta)
			wantCode(t, err, agent.EInvalidCredentials)
		}
		// A failed passkey counts too: an assertion for another challenge.
		res, err := h.svc.Login(h.ctx, st.agent.Email, st.password, h.meta)
		if err != nil {
			t.Fatal(err)
		}
		opts, _, err := h.svc.BeginPasskeyLogin(h.ctx, res.Token)
		if err != nil {
			t.Fatal(err)
		}
		_, flow, err := h.svc.BeginPasskeyLogin(h.ctx, res.Token)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := st.auth.Get(opts)
		if err != nil {
			t.Fatal(err)
		}
		_, err = h.svc.FinishPasskeyLogin(h.ctx, res.Token, flow, resp, h.meta)
		wantCode(t, err, passkey.EInvalid)
		h.build() // a restart: the counter is in the database (LOG-03)
		_, err = h.svc.Login(h.ctx, st.agent.Email, "the fifth wrong one", h.meta)
		wantCode(t, err, agent.EInvalidCredentials)
		lock := h.lastEvent(st.agent.Ref(), audit.AuthnLoginLock)
		if lock.Details["lock"] != "1" {
			t.Fatalf("lock %+v", lock)
		}
		_, err = h.svc.Login(h.ctx, st.agent.Email, st.password, h.meta)
		wantCode(t, err, agent.EInvalidCredentials)
		a, _ := h.svc.Find(h.ctx, st.agent.ID)
		if !a.LockedUntil.Equal(h.clock.Now().Add(15 * time.Minute)) {
			t.Fatalf("locked until %v", a.LockedUntil)
		}
		h.clock.Advance(15*time.Minute + time.Second)
		h.signIn(st)
		for i := 0; i < 5; i++ {
			h.svc.Login(h.ctx, st.agent.Email, "wrong again "+itoa(i), h.meta)
		}
		a, _ = h.svc.Find(h.ctx, st.agent.ID)
		if !a.LockedUntil.Equal(h.clock.Now().Add(30 * time.Minute)) {
			t.Fatalf("second lock until %v, want 30 min", a.LockedUntil.Sub(h.clock.Now()))
		}
	})
}

// TestSES03_StaffSessionTimeouts: idle 30 minutes, absolute 12 hours,
// enforced server-side with the manual clock; the sudo window is 10
// minutes.
func TestSES03_StaffSessionTimeouts(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db, agent.Config{})
		st := h.newStaff(agent.RoleAgent)
		h.clock.Advance(9*time.Minute + 59*time.Second)
		ss, _, err := h.svc.Authenticate(h.ctx, st.token)
		if err != nil || !h.svc.Sudo(ss) {
			t.Fatalf("at 9:59: sudo %v, %v", h.svc.Sudo(ss), err)
		}
		h.clock.Advance(2 * time.Second)
		if ss, _, err = h.svc.Authenticate(h.ctx, st.token); err != nil || h.svc.Sudo(ss) {
			t.Fatalf("at 10:01: sudo %v, %v", ss, err)
		}
		// Activity every 29 minutes keeps it alive up to 12 hours.
		for h.clock.Now().Before(t0.Add(12*time.Hour - 29*time.Minute)) {
			h.clock.Advance(29 * time.Minute)
			if _, _, err := h.svc.Authenticate(h.ctx, st.token); err != nil {
				t.Fatalf("at %v: %v", h.clock.Now().Sub(t0), err)
			}
		}
		h.clock.Set(t0.Add(12 * time.Hour))
		_, _, err = h.svc.Authenticate(h.ctx, st.token)
		wantCode(t, err, agent.ESessionExpired)

		h.signIn(st)
		h.clock.Advance(30*time.Minute - time.Second)
		if _, _, err := h.svc.Authenticate(h.ctx, st.token); err != nil {
			t.Fatal(err)
		}
		h.clock.Advance(30 * time.Minute)
		_, _, err = h.svc.Authenticate(h.ctx, st.token)
		wantCode(t, err, agent.ESessionExpired)
		_, _, err = h.svc.Authenticate(h.ctx, st.token)
		wantCode(t, err, okpay.EUnauthorized) // and it stays ended
	})
}

// TestSES03_StaffPeekKeepsNoSessionAlive: Peek (the console socket's
// ping) sees a live session without recording activity, so the session
// still ends 30 minutes after the agent's last request.
func TestSES03_StaffPeekKeepsNoSessionAlive(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db, agent.Config{})
		st := h.newStaff(agent.RoleAgent)
		for i := 0; i < 2; i++ {
			h.clock.Advance(14 * time.Minute)
			if ss, a, err := h.svc.Peek(h.ctx, st.token); err != nil || a.ID != st.agent.ID || ss.AgentID != st.agent.ID {
				t.Fatalf("peek at %d min: %v", 14*(i+1), err)
			}
		}
		h.clock.Advance(2*time.Minute + time.Second)
		_, _, err := h.svc.Peek(h.ctx, st.token)
		wantCode(t, err, agent.ESessionExpired)
		_, _, err = h.svc.Authenticate(h.ctx, st.token)
		wantCode(t, err, agent.ESessionExpired)
	})
}

// TestSUP01_TOTPOnlyWithAllowTOTP: a server started without AllowTOTP
// offers no TOTP enrolment and refuses TOTP codes, even from an agent who
// enrolled one on a server that allowed it.
func TestSUP01_TOTPOnlyWithAllowTOTP(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db, agent.Config{})
		a, enr := h.create(agent.RoleAgent)
		res, err := h.svc.StartEnrollment(h.ctx, enr.Token, "quiet river stone bridge", h.meta)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Methods) != 1 || res.Methods[0] != agent.MethodPasskey {
			t.Fatalf("enrolment methods %v", res.Methods)
		}
		_, err = h.svc.BeginTOTPEnrollment(h.ctx, res.Token)
		wantCode(t, err, agent.EFactorUnavailable)

		// The demo server allows it.
		h.cfg.AllowTOTP = true
		h.build()
		res, err = h.svc.StartEnrollment(h.ctx, enr.Token, "quiet river stone bridge", h.meta)
		if err != nil {
			t.Fatal(err)
		}
		setup, err := h.svc.BeginTOTPEnrollment(h.ctx, res.Token)
		if err != nil {
			t.Fatal(err)
		}
		key := decodeSecret(t, setup.Secret)
		_, err = h.svc.ConfirmTOTPEnrollment(h.ctx, res.Token, "000000", h.meta)
		wantCode(t, err, agent.EInvalidCode)
		full, err := h.svc.ConfirmTOTPEnrollment(h.ctx, res.Token, otp.TOTPCode(key, h.clock.Now()), h.meta)
		if err != nil {
			t.Fatal(err)
		}
		if !full.Session.Full() || full.Session.MFAMethod != agent.MethodTOTP {
			t.Fatalf("%+v", full.Session)
		}
		// The setup code is not a sign-in code (MFA-05).
		login, err := h.svc.Login(h.ctx, a.Email, "quiet river stone bridge", h.meta)
		if err != nil {
			t.Fatal(err)
		}
		if len(login.Methods) != 1 || login.Methods[0] != agent.MethodTOTP {
			t.Fatalf("methods %v", login.Methods)
		}
		_, err = h.svc.VerifyTOTP(h.ctx, login.Token, otp.TOTPCode(key, h.clock.Now()), h.meta)
		wantCode(t, err, agent.EInvalidCode)
		h.clock.Advance(30 * time.Second)
		if _, err := h.svc.VerifyTOTP(h.ctx, login.Token, otp.TOTPCode(key, h.clock.Now()), h.meta); err != nil {
			t.Fatal(err)
		}

		// Restarted without the flag: the code is refused.
		h.cfg.AllowTOTP = false
		h.build()
		h.clock.Advance(30 * time.Second)
		login, err = h.svc.Login(h.ctx, a.Email, "quiet river stone bridge", h.meta)
		if err != nil {
			t.Fatal(err)
		}
		if len(login.Methods) != 0 {
			t.Fatalf("methods %v without AllowTOTP", login.Methods)
		}
		_, err = h.svc.VerifyTOTP(h.ctx, login.Token, otp.TOTPCode(key, h.clock.Now()), h.meta)
		wantCode(t, err, agent.EFactorUnavailable)
		ss, _, err := h.svc.Authenticate(h.ctx, login.Token)
		if err != nil || ss.Full() {
			t.Fatalf("%+v %v", ss, err)
		}
	})
}

// TestEnrollmentLink: the link works until the factor is registered (the
// password may be set again), then never again; it expires after 24 h; a
// password sign-in without a factor gets nowhere; the enrolment session
// cannot sign in or be used as a staff session.
func TestEnrollmentLink(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db, agent.Config{})
		a, enr := h.create(agent.RoleAdmin)
		got, err := h.svc.EnrollmentAgent(h.ctx, enr.Token)
		if err != nil || got.ID != a.ID {
			t.Fatalf("%v %v", got, err)
		}
		_, err = h.svc.StartEnrollment(h.ctx, enr.Token, "short", h.meta)
		wantCode(t, err, "password_too_short")
		_, err = h.svc.StartEnrollment(h.ctx, enr.Token, a.Email+" forever", h.meta)
		wantCode(t, err, "password_contextual")
		first, err := h.svc.StartEnrollment(h.ctx, enr.Token, "first long passphrase here", h.meta)
		if err != nil {
			t.Fatal(err)
		}
		if first.Session.Full() || first.Session.Purpose != agent.PurposeEnroll {
			t.Fatalf("%+v", first.Session)
		}
		// The enrolment session acts on nothing.
		_, _, err = h.svc.Create(h.ctx, agent.Actor{Agent: a, Session: first.Session}, agent.NewAgent{Email: "x@okpay.test", DisplayName: "X",
			Roles: []agent.Role{agent.RoleAdmin}, Languages: a.Languages}, h.meta)
		wantCode(t, err, agent.EMFARequired)
		_, _, err = h.svc.BeginPasskeyLogin(h.ctx, first.Token)
		wantCode(t, err, okpay.EUnauthorized)
		// The password alone: a session with no way forward.
		login, err := h.svc.Login(h.ctx, a.Email, "first long passphrase here", h.meta)
		if err != nil {
			t.Fatal(err)
		}
		if len(login.Methods) != 0 {
			t.Fatalf("methods %v before any factor", login.Methods)
		}
		_, _, err = h.svc.BeginPasskeyLogin(h.ctx, login.Token)
		wantCode(t, err, agent.EFactorUnavailable)
		_, _, err = h.svc.BeginPasskeyEnrollment(h.ctx, login.Token)
		wantCode(t, err, okpay.EUnauthorized)

		// Following the link again ends the first enrolment session.
		st := h.enrol(a, enr)
		_, _, err = h.svc.Authenticate(h.ctx, first.Token)
		wantCode(t, err, okpay.EUnauthorized)
		if !st.session.Full() {
			t.Fatal("not signed in after enrolment")
		}
		_, err = h.svc.EnrollmentAgent(h.ctx, enr.Token)
		wantCode(t, err, agent.EEnrollmentInvalid)
		_, err = h.svc.StartEnrollment(h.ctx, enr.Token, "a new long passphrase", h.meta)
		wantCode(t, err, agent.EEnrollmentInvalid)
		h.signIn(st)

		_, enr2 := h.create(agent.RoleAgent)
		h.clock.Advance(24 * time.Hour)
		_, err = h.svc.StartEnrollment(h.ctx, enr2.Token, "too late for this one", h.meta)
		wantCode(t, err, agent.EEnrollmentInvalid)
		_, err = h.svc.StartEnrollment(h.ctx, "junk", "too late for this one", h.meta)
		wantCode(t, err, agent.EEnrollmentInvalid)
	})
}

// TestEnrollmentPasskeyIsSingleUse: two concurrent enrolments through one
// link: exactly one passkey stays.
func TestEnrollmentPasskeyIsSingleUse(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db, agent.Config{})
		a, enr := h.create(agent.RoleAgent)
		res, err := h.svc.StartEnrollment(h.ctx, enr.Token, "long enough passphrase", h.meta)
		if err != nil {
			t.Fatal(err)
		}
		type attempt struct {
			flow string
			resp []byte
		}
		var as []attempt
		for i := 0; i < 2; i++ {
			opts, flow, err := h.svc.BeginPasskeyEnrollment(h.ctx, res.Token)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := passkeytest.New(origin, rpID).Create(opts)
			if err != nil {
				t.Fatal(err)
			}
			as = append(as, attempt{flow, resp})
		}
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i := range as {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = h.svc.FinishPasskeyEnrollment(h.ctx, res.Token, as[i].flow, as[i].resp, "", h.meta)
			}()
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			if err == nil {
				ok++
			}
		}
		if n, _ := h.pk.Count(h.ctx, a.ID); ok != 1 || n != 1 {
			t.Fatalf("%d succeeded (%v), %d passkeys", ok, errs, n)
		}
	})
}

// TestRateLimitPerAddress: more than 20 sign-in attempts a minute from
// one address get a RateLimitError.
func TestRateLimitPerAddress(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db, agent.Config{})
		for i := 0; i < 20; i++ {
			h.svc.Login(h.ctx, "nobody@okpay.test", "whatever it is", h.meta)
		}
		_, err := h.svc.Login(h.ctx, "nobody@okpay.test", "whatever it is", h.meta)
		wantCode(t, err, agent.ERateLimited)
		h.clock.Advance(time.Minute)
		_, err = h.svc.Login(h.ctx, "nobody@okpay.test", "whatever it is", h.meta)
		wantCode(t, err, agent.EInvalidCredentials)
	})
}
