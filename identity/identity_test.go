package identity_test

import (
	"github.com/okpay/okpay/audit"
	"github.com/okpay/okpay/identity/risk"
	"github.com/okpay/okpay/ids"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/identity/otp"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

func TestSignUpVerifyAndLogin(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		a := h.signUp()
		// Money can move once both contacts are verified.
		if err := h.svc.CanMoveMoneyOut(h.ctx, nil, a.id); err != nil {
			t.Fatalf("CanMoveMoneyOut after sign-up: %v", err)
		}
		tok := h.login(a)
		ss, _, err := h.svc.Authenticate(h.ctx, tok)
		if err != nil || ss.AAL != identity.AAL2 {
			t.Fatalf("after login: %v %+v", err, ss)
		}
		h.verifyAudit()
	})
}

func TestLOG10_RegisterWithTakenIdentifierLooksTheSame(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		a := h.signUp()
		flow, err := h.svc.Register(h.ctx, identity.RegisterInput{Email: a.email, Phone: "+8613900139000", Password: "another fine passphrase"}, h.meta)
		if err != nil || flow.Token == "" {
			t.Fatalf("register with a taken email: %v %+v", err, flow)
		}
		// No account was opened for the new phone, and the owner heard of it.
		var n int
		db.Read.QueryRow(`SELECT COUNT(*) FROM users`).Scan(&n)
		if n != 1 {
			t.Fatalf("users = %d, want 1", n)
		}
		if len(h.messages(a.email, identity.NoteRegisterAttempt)) != 1 || len(h.messages(a.phone, identity.NoteRegisterAttempt)) != 1 {
			t.Fatalf("owner not told by email and SMS: %v", kinds(h.mailbox.List()))
		}
		if len(h.messages("+8613900139000", "code_verify_phone")) != 0 {
			t.Fatal("a code went to the new number of a decoy flow")
		}
		// The decoy flow can never complete.
		_, _, err = h.svc.VerifySignup(h.ctx, flow.Token, "123456", "123456", h.meta)
		wantCode(t, err, identity.EInvalidCode)
		// Its resends meet the same limits as a real flow's: an SMS resend
		// within a minute of the sign-up is refused on both.
		real, err := h.svc.Register(h.ctx, identity.RegisterInput{Email: "fresh@example.com", Phone: "+8613700137000", Password: "another fine passphrase"}, h.meta)
		if err != nil {
			t.Fatal(err)
		}
		for _, tok := range []string{real.Token, flow.Token} {
			wantCode(t, h.svc.ResendSignupCode(h.ctx, tok, identity.MethodSMS, h.meta), identity.ERateLimited)
			wantCode(t, h.svc.ResendSignupCode(h.ctx, tok, "fax", h.meta), okpay.EInvalid)
		}
		h.clock.Advance(61 * time.Second)
		for _, tok := range []string{real.Token, flow.Token} {
			if err := h.svc.ResendSignupCode(h.ctx, tok, identity.MethodSMS, h.meta); err != nil {
				t.Fatalf("resend after a minute: %v", err)
			}
		}
	})
}

func TestLOG01_EveryLoginFailureLooksTheSame(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		a := h.signUp()
		frozen := h.signUp()
		if err := h.svc.Freeze(h.ctx, frozen.id, "test", "test", h.meta); err != nil {
			t.Fatal(err)
		}
		var errs []error
		_, err := h.svc.Login(h.ctx, "nobody@example.com", a.password, h.meta)
		errs = append(errs, err)
		_, err = h.svc.Login(h.ctx, a.email, a.password+"x", h.meta)
		errs = append(errs, err)
		_, err = h.svc.Login(h.ctx, frozen.email, frozen.password+"x", h.meta)
		errs = append(errs, err)
		for i := 0; i < 4; i++ {
			h.svc.Login(h.ctx, a.email, "wrong password "+itoa(i), h.meta)
		}
		// Now blocked: even the right password fails alike.
		_, err = h.svc.Login(h.ctx, a.email, a.password, h.meta)
		errs = append(errs, err)
		for i, err := range errs {
			if okpay.ErrorCode(err) != identity.EInvalidCredentials || err.Error() != errs[0].Error() {
				t.Errorf("failure %d: %v, want the same error as %v", i, err, errs[0])
			}
		}
	})
}

func TestLOG03_LockoutCountsSurviveARestart(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		a := h.signUp()
		for i := 0; i < 4; i++ {
			_, err := h.svc.Login(h.ctx, a.email, "wrong password "+itoa(i), h.meta)
			wantCode(t, err, identity.EInvalidCredentials)
		}
		h.build() // a restart: nothing of the count is in memory
		_, err := h.svc.Login(h.ctx, a.email, "wrong password 5", h.meta)
		wantCode(t, err, identity.EInvalidCredentials)
		if got := h.messages(a.email, identity.NoteLockout); len(got) != 1 {
			t.Fatalf("lockout notifications = %d, want 1 (LOG-04)", len(got))
		}
		// LOG-04: 15 minutes, to the second.
		h.clock.Advance(15*time.Minute - time.Second)
		_, err = h.svc.Login(h.ctx, a.email, a.password, h.meta)
		wantCode(t, err, identity.EInvalidCredentials)
		h.clock.Advance(2 * time.Second)
		if _, err := h.svc.Login(h.ctx, a.email, a.password, h.meta); err != nil {
			t.Fatalf("login after the block: %v", err)
		}
	})
}

func TestLOG04_BlocksDoubleAndThreeFreeze(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		a := h.signUp()
		block := func() {
			for i := 0; i < 5; i++ {
				h.svc.Login(h.ctx, a.email, "wrong password "+itoa(i), h.meta)
			}
		}
		block() // 15 min
		h.clock.Advance(15*time.Minute + time.Second)
		block() // 30 min
		h.clock.Advance(30*time.Minute - time.Second)
		if _, err := h.svc.Login(h.ctx, a.email, a.password, h.meta); err == nil {
			t.Fatal("second block should last 30 min")
		}
		h.clock.Advance(2 * time.Second)
		if _, err := h.svc.Login(h.ctx, a.email, a.password, h.meta); err != nil {
			t.Fatalf("after the second block: %v", err)
		}
		if len(h.messages(a.email, identity.NoteFreezeWarning)) != 1 {
			t.Fatal("no warning before the block that freezes (LOG-04)")
		}
		block() // third block in 24 h: the account freezes (RSK-04)
		u, err := h.svc.FindUser(h.ctx, a.id)
		if err != nil || !u.Frozen {
			t.Fatalf("after three blocks: frozen=%v err=%v", u != nil && u.Frozen, err)
		}
		wantCode(t, h.svc.CanMoveMoneyOut(h.ctx, nil, a.id), identity.EAccountFrozen)
		// The decision is recorded with its rule, version and inputs (RSK-07).
		entries, err := audit.New(db).List(h.ctx, ids.Format(identity.UserPrefix, a.id), 50, 0)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, e := range entries {
			if e.Name == audit.AccountFrozen && e.Details["rule"] == risk.RuleRepeatedLockouts && e.Details["version"] == "1" && e.Details["input.lockouts"] != "" {
				found = true
			}
		}
		if !found {
			t.Fatalf("no risk decision record in the audit log: %+v", entries)
		}
	})
}

func TestLOG06_PerIPLimit(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		for i := 0; i < 20; i++ {
			_, err := h.svc.Login(h.ctx, "nobody@example.com", "whatever password", h.meta)
			wantCode(t, err, identity.EInvalidCredentials)
		}
		_, err := h.svc.Login(h.ctx, "nobody@example.com", "whatever password", h.meta)
		rl, ok := err.(*identity.RateLimitError)
		if !ok || rl.RetryAfter <= 0 || rl.RetryAfter > time.Minute {
			t.Fatalf("21st attempt: %v, want a rate limit within a minute", err)
		}
		// Another /64 is not affected; the same /64 is.
		m := h.meta
		m.IP = "2001:db8:1:2::1"
		for i := 0; i < 20; i++ {
			m.IP = "2001:db8:1:2::" + itoa(i+1)
			h.svc.Login(h.ctx, "nobody@example.com", "whatever password", m)
		}
		m.IP = "2001:db8:1:2:ffff::9"
		if _, err := h.svc.Login(h.ctx, "nobody@example.com", "whatever password", m); okpay.ErrorCode(err) != identity.ERateLimited {
			t.Fatalf("same /64: %v, want rate_limited", err)
		}
		m.IP = "2001:db8:1:3::1"
		if _, err := h.svc.Login(h.ctx, "nobody@example.com", "whatever password", m); okpay.ErrorCode(err) != identity.EInvalidCredentials {
			t.Fatalf("other /64: %v", err)
		}
	})
}

func TestMFA01_PasswordAloneGivesAAL1(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		a := h.signUp()
		res, err := h.svc.Login(h.ctx, a.phone, a.password, h.meta)
		if err != nil {
			t.Fatal(err)
		}
		if !res.SMSSent || res.Methods[0] != identity.MethodSMS {
			t.Fatalf("login result %+v", res)
		}
		ss, _, err := h.svc.Authenticate(h.ctx, res.Token)
		if err != nil {
			t.Fatal(err)
		}
		wantCode(t, identity.RequireAAL2(ss), identity.EMFARequired)
	})
}

func TestMFA02_SMSCode(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		a := h.signUp()
		start := func() (string, string) {
			res, err := h.svc.Login(h.ctx, a.email, a.password, h.meta)
			if err != nil {
				t.Fatal(err)
			}
			return res.Token, h.lastCode(a.phone, "code_login")
		}
		t.Run("ttl", func(t *testing.T) {
			tok, code := start()
			h.clock.Advance(4*time.Minute + 59*time.Second)
			if _, err := h.svc.VerifyFactor(h.ctx, tok, identity.MethodSMS, code, h.meta); err != nil {
				t.Fatalf("at 4:59: %v", err)
			}
			h.clock.Advance(time.Minute) // the resend interval
			tok, code = start()
			h.clock.Advance(5*time.Minute + time.Second)
			_, err := h.svc.VerifyFactor(h.ctx, tok, identity.MethodSMS, code, h.meta)
			wantCode(t, err, identity.EInvalidCode)
		})
		t.Run("bound to its session", func(t *testing.T) {
			h.clock.Advance(time.Hour)
			tokA, codeA := start()
			h.clock.Advance(time.Minute)
			tokB, _ := start()
			_, err := h.svc.VerifyFactor(h.ctx, tokB, identity.MethodSMS, codeA, h.meta)
			wantCode(t, err, identity.EInvalidCode)
			if _, err := h.svc.VerifyFactor(h.ctx, tokA, identity.MethodSMS, codeA, h.meta); err != nil {
				t.Fatalf("own session: %v", err)
			}
		})
		t.Run("five wrong attempts kill it", func(t *testing.T) {
			// A reset code: its failures do not also block the account, so
			// this checks the code's own attempt limit.
			h.clock.Advance(time.Hour)
			flow, err := h.svc.ForgotPassword(h.ctx, a.phone, identity.MethodSMS, h.meta)
			if err != nil {
				t.Fatal(err)
			}
			code := h.lastCode(a.phone, "code_reset")
			for i := 0; i < 5; i++ {
				_, err := h.svc.ResetVerifyCode(h.ctx, flow.Token, "00000000", h.meta)
				wantCode(t, err, identity.EInvalidCode)
			}
			_, err = h.svc.ResetVerifyCode(h.ctx, flow.Token, code, h.meta)
			wantCode(t, err, identity.EInvalidCode)
		})
		t.Run("a wrong login code warns the owner", func(t *testing.T) {
			h.clock.Advance(time.Hour)
			before := len(h.messages(a.email, identity.NotePasswordNoMFA))
			tok, code := start()
			h.svc.VerifyFactor(h.ctx, tok, identity.MethodSMS, "000000", h.meta)
			h.svc.VerifyFactor(h.ctx, tok, identity.MethodSMS, "000001", h.meta)
			if _, err := h.svc.VerifyFactor(h.ctx, tok, identity.MethodSMS, code, h.meta); err != nil {
				t.Fatalf("after 2 wrong: %v", err)
			}
			if got := len(h.messages(a.email, identity.NotePasswordNoMFA)) - before; got != 1 {
				t.Fatalf("LOG-08 notifications = %d, want 1 per login", got)
			}
		})
		t.Run("a resend kills the previous code", func(t *testing.T) {
			h.clock.Advance(time.Hour)
			tok, old := start()
			h.clock.Advance(time.Minute)
			if _, err := h.svc.SendLoginCode(h.ctx, tok, h.meta); err != nil {
				t.Fatal(err)
			}
			fresh := h.lastCode(a.phone, "code_login")
			if fresh != old { // one time in a million the new code is the old one
				_, err := h.svc.VerifyFactor(h.ctx, tok, identity.MethodSMS, old, h.meta)
				wantCode(t, err, identity.EInvalidCode)
			}
			if _, err := h.svc.VerifyFactor(h.ctx, tok, identity.MethodSMS, fresh, h.meta); err != nil {
				t.Fatal(err)
			}
		})
		t.Run("two concurrent submissions, one success", func(t *testing.T) {
			h.clock.Advance(time.Hour)
			tok, code := start()
			var wg sync.WaitGroup
			var mu sync.Mutex
			ok := 0
			for i := 0; i < 2; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if _, err := h.svc.VerifyFactor(h.ctx, tok, identity.MethodSMS, code, h.meta); err == nil {
						mu.Lock()
						ok++
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			if ok != 1 {
				t.Fatalf("%d submissions succeeded, want 1", ok)
			}
		})
	})
}

func TestMFA03_SMSSendLimits(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		a := h.signUp()
		res, err := h.svc.Login(h.ctx, a.email, a.password, h.meta)
		if err != nil {
			t.Fatal(err)
		}
		before := len(h.messages(a.phone, "code_login"))
		_, err = h.svc.SendLoginCode(h.ctx, res.Token, h.meta)
		wantCode(t, err, identity.ERateLimited)
		if got := len(h.messages(a.phone, "code_login")); got != before {
			t.Fatalf("a message went out over the limit")
		}
		// ≤5 per hour (the sign-up code was one).
		sent := 2
		for i := 0; i < 10; i++ {
			h.clock.Advance(61 * time.Second)
			if _, err := h.svc.SendLoginCode(h.ctx, res.Token, h.meta); err != nil {
				wantCode(t, err, identity.ERateLimited)
				break
			}
			sent++
		}
		if sent != 5 {
			t.Fatalf("sent %d SMS in an hour, want 5", sent)
		}
	})
}

func TestMFA05_TOTP(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		a := h.signUp()
		cur, _, _ := h.svc.Authenticate(h.ctx, a.token)
		setup, err := h.svc.BeginTOTP(h.ctx, cur)
		if err != nil {
			t.Fatal(err)
		}
		key := decodeSecret(t, setup.Secret)
		if err := h.svc.ConfirmTOTP(h.ctx, cur, "000000", h.meta); okpay.ErrorCode(err) != identity.EInvalidCode {
			t.Fatalf("wrong enrolment code: %v", err)
		}
		setupCode := otp.TOTPCode(key, h.clock.Now())
		if err := h.svc.ConfirmTOTP(h.ctx, cur, setupCode, h.meta); err != nil {
			t.Fatal(err)
		}
		// The secret is sealed at rest: the column is not the base32 text.
		var col []byte
		db.Read.QueryRow(`SELECT totp_secret FROM users WHERE id = $1`, a.id).Scan(&col)
		if len(col) == 0 || strings.Contains(string(col), setup.Secret) || string(col) == string(key) {
			t.Fatal("TOTP secret stored in clear")
		}
		res, err := h.svc.Login(h.ctx, a.email, a.password, h.meta)
		if err != nil {
			t.Fatal(err)
		}
		if res.Methods[0] != identity.MethodTOTP || res.SMSSent {
			t.Fatalf("with TOTP the default is TOTP and no SMS goes out: %+v", res)
		}
		// The set-up code cannot be replayed as the first login code.
		_, err = h.svc.VerifyFactor(h.ctx, res.Token, identity.MethodTOTP, setupCode, h.meta)
		wantCode(t, err, identity.EInvalidCode)
		h.clock.Advance(30 * time.Second)
		code := otp.TOTPCode(key, h.clock.Now())
		var wg sync.WaitGroup
		var mu sync.Mutex
		ok := 0
		for i := 0; i < 2; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := h.svc.VerifyFactor(h.ctx, res.Token, identity.MethodTOTP, code, h.meta); err == nil {
					mu.Lock()
					ok++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if ok != 1 {
			t.Fatalf("%d of two concurrent submissions of one TOTP code succeeded", ok)
		}
		// Reuse in a new login within the same step fails.
		res2, _ := h.svc.Login(h.ctx, a.email, a.password, h.meta)
		_, err = h.svc.VerifyFactor(h.ctx, res2.Token, identity.MethodTOTP, code, h.meta)
		wantCode(t, err, identity.EInvalidCode)
	})
}

func TestMFA07_RecoveryCodes(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		a := h.signUp()
		cur, _, _ := h.svc.Authenticate(h.ctx, a.token)
		codes, err := h.svc.RegenerateRecoveryCodes(h.ctx, cur, h.meta)
		if err != nil || len(codes) != 10 {
			t.Fatalf("codes %v, err %v", codes, err)
		}
		u, _ := h.svc.FindUser(h.ctx, a.id)
		if u.RecoveryCodes != 10 {
			t.Fatalf("remaining = %d", u.RecoveryCodes)
		}
		res, _ := h.svc.Login(h.ctx, a.email, a.password, h.meta)
		if _, err := h.svc.VerifyFactor(h.ctx, res.Token, identity.MethodRecovery, strings.ToLower(codes[3]), h.meta); err != nil {
			t.Fatalf("recovery code: %v", err)
		}
		u, _ = h.svc.FindUser(h.ctx, a.id)
		if u.RecoveryCodes != 9 || !u.HoldUntil.Equal(h.clock.Now().Add(24*time.Hour)) {
			t.Fatalf("after use: remaining %d, hold %v", u.RecoveryCodes, u.HoldUntil)
		}
		if len(h.messages(a.email, identity.NoteRecoveryCodeUsed)) != 1 {
			t.Fatal("no recovery-code notification")
		}
		var he *identity.HoldError
		if err := h.svc.CanMoveMoneyOut(h.ctx, nil, a.id); err == nil || okpay.ErrorCode(err) != identity.EHoldActive {
			t.Fatalf("money-out during the hold: %v", err)
		} else if h, ok := err.(*identity.HoldError); ok {
			he = h
		}
		if he == nil || he.Until.IsZero() {
			t.Fatal("the hold error carries no end")
		}
		res, _ = h.svc.Login(h.ctx, a.email, a.password, h.meta)
		_, err = h.svc.VerifyFactor(h.ctx, res.Token, identity.MethodRecovery, codes[3], h.meta)
		wantCode(t, err, identity.EInvalidCode)
		// Regenerating kills the old codes.
		tok := h.login(a)
		cur, _, _ = h.svc.Authenticate(h.ctx, tok)
		if _, err := h.svc.RegenerateRecoveryCodes(h.ctx, cur, h.meta); err != nil {
			t.Fatal(err)
		}
		h.clock.Advance(time.Minute)
		res, _ = h.svc.Login(h.ctx, a.email, a.password, h.meta)
		_, err = h.svc.VerifyFactor(h.ctx, res.Token, identity.MethodRecovery, codes[5], h.meta)
		wantCode(t, err, identity.EInvalidCode)
	})
}
