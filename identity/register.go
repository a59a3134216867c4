package identity

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/audit"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/identity/password"
	"github.com/okpay/okpay/sqldb"
)

// Registration input.
type RegisterInput struct {
	Email    string
	Phone    string
	Password string
	Lang     i18n.Lang
}

// Flow is a sign-up or password-reset flow as the client sees it.
type Flow struct {
	// Token addresses the flow; it goes in the request body, never in a
	// URL (SES-10).
	Token string
	// EmailVerified and PhoneVerified tell a sign-up flow's progress.
	EmailVerified, PhoneVerified bool
	// Methods are the second factors that can finish a reset flow.
	Methods []string
	// CodeVerified and FactorVerified tell a reset flow's progress.
	CodeVerified, FactorVerified bool
	// Destination is where the code went, masked.
	Destination string
	// RefreshToken is set when a sign-up flow signed the account in and
	// the client asked for a refresh token (Meta.RefreshToken, SES-03).
	RefreshToken string
}

const (
	registerPerIPPerHour = 20
	signupDigits         = 6
)

// Register opens an account and sends a code to the email address and one
// to the phone. The answer is the same whether or not the email or phone
// is taken (LOG-10): when one is, no account is made, the flow returned can
// never complete, and the owner is told someone tried.
func (s *Service) Register(ctx context.Context, in RegisterInput, m Meta) (*Flow, error) {
	if len(in.Password) > password.MaxBytes {
		return nil, s.CheckPassword(in.Password) // cheap: before any hashing (PWD-02)
	}
	fields := map[string]string{}
	email, err := NormalizeEmail(in.Email)
	if err != nil {
		fields["email"] = fieldMessage(err, "email")
	}
	phone, err := NormalizePhone(in.Phone)
	if err != nil {
		fields["phone"] = fieldMessage(err, "phone")
	}
	var pwErr error
	if len(fields) == 0 {
		local := email[:strings.IndexByte(email, '@')]
		pwErr = s.CheckPassword(in.Password, s.cfg.ProductName, local, strings.TrimPrefix(phone, "+"))
	} else {
		pwErr = s.CheckPassword(in.Password, s.cfg.ProductName)
	}
	if pwErr != nil {
		fields["password"] = fieldMessage(pwErr, "password")
	}
	if len(fields) > 0 {
		e := okpay.Invalid(fields)
		if pwErr != nil && len(fields) == 1 {
			// Keep the password rule's own code (PWD-05: a reason code).
			e.Code = okpay.ErrorCode(pwErr)
			e.Message = okpay.ErrorMessage(pwErr)
		}
		return nil, e
	}
	// Hash before the transaction, on both paths: the taken-identifier
	// answer costs the same time as a real sign-up.
	hash, err := s.Hasher.Hash(ctx, in.Password)
	if err != nil {
		return nil, okpay.Internal(err, "hash password")
	}
	lang := langOr(in.Lang)
	flow := &Flow{Token: randomToken(), Destination: maskEmail(email) + " · " + maskPhone(phone)}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.hit(ctx, tx, "register:"+ipKey(m.IP), time.Hour, registerPerIPPerHour); err != nil {
			return err
		}
		now := s.now()
		var owners []*userRow
		for _, id := range []string{email, phone} {
			u, err := s.findByIdentifier(ctx, tx, id, true)
			if err != nil {
				return err
			}
			if u != nil && (len(owners) == 0 || owners[0].ID != u.ID) {
				owners = append(owners, u)
			}
		}
		flowID := s.IDs.Next()
		userID := int64(0)
		if len(owners) == 0 {
			userID = s.IDs.Next()
			if _, err := tx.ExecContext(ctx, `INSERT INTO users (id, email, phone, password_hash, lang, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6)`,
				userID, email, phone, hash, string(lang), micros(now)); err != nil {
				if sqldb.IsUniqueViolation(err) {
					return errRetrySignup
				}
				return okpay.Internal(err, "create user")
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO auth_flows (id, token_hash, kind, user_id, ip, created_at, expires_at) VALUES ($1, $2, 'signup', $3, $4, $5, $6)`,
			flowID, hashToken(flow.Token), userID, m.IP, micros(now), micros(now.Add(s.cfg.FlowTTL))); err != nil {
			return okpay.Internal(err, "create flow")
		}
		if userID == 0 {
			for _, o := range owners {
				if err := s.notifyRegisterAttempt(ctx, tx, o, m); err != nil {
					return err
				}
			}
			owner := "flow:" + strconv.FormatInt(flowID, 10)
			if err := s.decoyRow(ctx, tx, 0, owner, purposeVerifyEmail, MethodEmail, email, m); err != nil {
				return err
			}
			return s.decoyRow(ctx, tx, 0, owner, purposeVerifyPhone, MethodSMS, phone, m)
		}
		u, err := s.loadUser(ctx, tx, userID, false)
		if err != nil {
			return err
		}
		owner := "flow:" + strconv.FormatInt(flowID, 10)
		for _, c := range []codeRequest{
			{owner: owner, user: u, purpose: purposeVerifyEmail, channel: MethodEmail, digits: signupDigits, ttl: s.cfg.OTPTTL},
			{owner: owner, user: u, purpose: purposeVerifyPhone, channel: MethodSMS, digits: signupDigits, ttl: s.cfg.OTPTTL},
		} {
			if err := s.sendCode(ctx, tx, c, m); err != nil {
				return err
			}
		}
		return s.audit(ctx, tx, audit.Event{Name: audit.UserCreated, Actor: userRef(userID), Subject: userRef(userID), Outcome: "success"}, m)
	})
	if errors.Is(err, errRetrySignup) {
		// Lost a race with a concurrent sign-up of the same identifier:
		// from the outside it looks like any taken identifier.
		return flow, nil
	}
	if err != nil {
		return nil, err
	}
	return flow, nil
}

// decoyCode records a code that is never sent and can never match, for a
// decoy flow: its send limits then behave like a real flow's (LOG-10).
// userID is the account it counts against (0 for a decoy sign-up: none).
func (s *Service) decoyCode(ctx context.Context, tx *sql.Tx, userID int64, owner, purpose, channel, dest string, m Meta) error {
	// Every channel is limited, as sendCode limits it.
	if err := s.checkSendLimits(ctx, tx, userID, dest, m.IP, s.now()); err != nil {
		return err
	}
	return s.decoyRow(ctx, tx, userID, owner, purpose, channel, dest, m)
}

// decoyRow stores a decoy code without checking the send limits: the
// first codes of a sign-up, which a fresh identifier never meets either.
func (s *Service) decoyRow(ctx context.Context, tx *sql.Tx, userID int64, owner, purpose, channel, dest string, m Meta) error {
	var mac [32]byte
	rand.Read(mac[:])
	_, err := s.storeCode(ctx, tx, owner, purpose, userID, channel, dest, m.IP, mac[:], "decoy", s.cfg.OTPTTL)
	return err
}

var errRetrySignup = errors.New("identifier taken concurrently")

// fieldMessage picks the message of one field from a validation error.
func fieldMessage(err error, field string) string {
	var e *okpay.Error
	if errors.As(err, &e) {
		if m, ok := e.Fields[field]; ok {
			return m
		}
		return e.Message
	}
	return okpay.ErrorMessage(err)
}

// loadFlow returns the live flow of token and kind.
func (s *Service) loadFlow(ctx context.Context, q querier, token, kind string) (id, userID int64, channel string, codeOK, factorOK bool, err error) {
	if !plausibleToken(token) {
		return 0, 0, "", false, false, errFlow()
	}
	var expires, done, codeAt, factorAt int64
	var k string
	err = q.QueryRowContext(ctx, `SELECT id, user_id, kind, channel, code_ok_at, factor_ok_at, expires_at, done_at FROM auth_flows WHERE token_hash = $1`,
		hashToken(token)).Scan(&id, &userID, &k, &channel, &codeAt, &factorAt, &expires, &done)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && (k != kind || done != 0 || !s.now().Before(fromMicros(expires)))) {
		return 0, 0, "", false, false, errFlow()
	}
	if err != nil {
		return 0, 0, "", false, false, okpay.Internal(err, "load flow")
	}
	return id, userID, channel, codeAt != 0, factorAt != 0, nil
}

func errFlow() error {
	return okpay.Errorf(EFlowInvalid, "This step has expired or was already completed. Start again.")
}

// SignupStatus tells which contacts of a sign-up flow are verified.
func (s *Service) SignupStatus(ctx context.Context, token string) (*Flow, error) {
	_, userID, _, _, _, err := s.loadFlow(ctx, s.DB.Read, token, "signup")
	if err != nil {
		return nil, err
	}
	f := &Flow{Token: token}
	if userID != 0 {
		u, err := s.loadUser(ctx, s.DB.Read, userID, false)
		if err != nil {
			return nil, err
		}
		f.EmailVerified, f.PhoneVerified = !u.EmailVerifiedAt.IsZero(), !u.PhoneVerifiedAt.IsZero()
		f.Destination = maskEmail(u.Email) + " · " + maskPhone(u.Phone)
	}
	return f, nil
}

// VerifySignup checks the codes sent at registration; either may be empty
// (already verified, or typed later). When both contacts are verified the
// account is signed in: the phone code was its second factor, so the
// session is AAL2 and the returned token is its cookie value. Wrong codes
// count their attempts.
func (s *Service) VerifySignup(ctx context.Context, token, emailCode, phoneCode string, m Meta) (*Flow, string, error) {
	var sessToken string
	var flow *Flow
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		flowID, userID, _, _, _, err := s.loadFlow(ctx, tx, token, "signup")
		if err != nil {
			return err
		}
		flow = &Flow{Token: token}
		if userID == 0 {
			return sqldb.CommitThen(errBadCode())
		}
		u, err := s.loadUser(ctx, tx, userID, true)
		if err != nil {
			return err
		}
		owner := "flow:" + strconv.FormatInt(flowID, 10)
		now := s.now()
		var bad error
		if u.EmailVerifiedAt.IsZero() && strings.TrimSpace(emailCode) != "" {
			if _, err := s.checkCode(ctx, tx, owner, purposeVerifyEmail, emailCode, signupDigits); err != nil {
				bad = err
			} else {
				u.EmailVerifiedAt = now
				if _, err := tx.ExecContext(ctx, `UPDATE users SET email_verified_at = $1, updated_at = $1 WHERE id = $2`, micros(now), u.ID); err != nil {
					return okpay.Internal(err, "verify email")
				}
				if err := s.audit(ctx, tx, audit.Event{Name: audit.UserContactVerified, Actor: userRef(u.ID), Subject: userRef(u.ID), Outcome: "success", Details: map[string]string{"contact": "email"}}, m); err != nil {
					return err
				}
			}
		}
		if u.PhoneVerifiedAt.IsZero() && strings.TrimSpace(phoneCode) != "" {
			if _, err := s.checkCode(ctx, tx, owner, purposeVerifyPhone, phoneCode, signupDigits); err != nil {
				bad = err
			} else {
				u.PhoneVerifiedAt = now
				if _, err := tx.ExecContext(ctx, `UPDATE users SET phone_verified_at = $1, updated_at = $1 WHERE id = $2`, micros(now), u.ID); err != nil {
					return okpay.Internal(err, "verify phone")
				}
				if err := s.audit(ctx, tx, audit.Event{Name: audit.UserContactVerified, Actor: userRef(u.ID), Subject: userRef(u.ID), Outcome: "success", Details: map[string]string{"contact": "phone"}}, m); err != nil {
					return err
				}
			}
		}
		flow.EmailVerified, flow.PhoneVerified = !u.EmailVerifiedAt.IsZero(), !u.PhoneVerifiedAt.IsZero()
		if bad != nil {
			return sqldb.CommitThen(bad)
		}
		if !flow.EmailVerified || !flow.PhoneVerified {
			return sqldb.CommitThen(errBadCode())
		}
		if _, err := tx.ExecContext(ctx, `UPDATE auth_flows SET done_at = $1 WHERE id = $2`, micros(now), flowID); err != nil {
			return okpay.Internal(err, "finish flow")
		}
		if err := s.rememberDevice(ctx, tx, u.ID, m); err != nil {
			return err
		}
		var ss *Session
		sessToken, ss, err = s.createSession(ctx, tx, u.ID, AAL2, now, MethodSMS, m)
		if err != nil {
			return err
		}
		if m.RefreshToken {
			if flow.RefreshToken, err = s.issueRefreshToken(ctx, tx, ss, 0, m); err != nil {
				return err
			}
		}
		return s.audit(ctx, tx, audit.Event{Name: audit.AuthnLoginSuccess, Actor: userRef(u.ID), Subject: userRef(u.ID), Outcome: "success", Reason: "sign-up completed"}, m)
	})
	return flow, sessToken, err
}

// ResendSignupCode sends a new code for one contact of a sign-up flow
// (MethodEmail or MethodSMS); the previous code of that contact dies.
func (s *Service) ResendSignupCode(ctx context.Context, token, channel string, m Meta) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		flowID, userID, _, _, _, err := s.loadFlow(ctx, tx, token, "signup")
		if err != nil {
			return err
		}
		purpose := purposeVerifyEmail
		if channel == MethodSMS {
			purpose = purposeVerifyPhone
		} else if channel != MethodEmail {
			return okpay.Invalid(map[string]string{"channel": "Choose email or sms."})
		}
		owner := "flow:" + strconv.FormatInt(flowID, 10)
		if userID == 0 {
			// A decoy flow: nothing is sent, but the same limits apply,
			// so the answers match a real flow's (LOG-10).
			var dest string
			if err := tx.QueryRowContext(ctx, `SELECT destination FROM otp_codes WHERE owner = $1 AND purpose = $2 ORDER BY id DESC LIMIT 1`,
				owner, purpose).Scan(&dest); err != nil {
				return okpay.Internal(err, "load decoy code")
			}
			return s.decoyCode(ctx, tx, 0, owner, purpose, channel, dest, m)
		}
		u, err := s.loadUser(ctx, tx, userID, true)
		if err != nil {
			return err
		}
		return s.sendCode(ctx, tx, codeRequest{owner: "flow:" + strconv.FormatInt(flowID, 10), user: u, purpose: purpose, channel: channel, digits: signupDigits, ttl: s.cfg.OTPTTL}, m)
	})
}

// rememberDevice records the device of a full sign-in and reports whether
// it is new for this user.
func (s *Service) rememberDevice(ctx context.Context, tx *sql.Tx, userID int64, m Meta) error {
	_, err := s.touchDevice(ctx, tx, userID, m)
	return err
}

func (s *Service) touchDevice(ctx context.Context, tx *sql.Tx, userID int64, m Meta) (isNew bool, err error) {
	if m.DeviceID == "" {
		return true, nil
	}
	now := micros(s.now())
	res, err := tx.ExecContext(ctx, `UPDATE devices SET last_seen_at = $1, reverify = 0 WHERE user_id = $2 AND device_id = $3 AND reverify = 0`, now, userID, m.DeviceID)
	if err != nil {
		return false, okpay.Internal(err, "update device")
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return false, nil
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO devices (user_id, device_id, first_seen_at, last_seen_at, user_agent) VALUES ($1, $2, $3, $3, $4)
		ON CONFLICT (user_id, device_id) DO UPDATE SET last_seen_at = $3, reverify = 0`, userID, m.DeviceID, now, clip(m.UserAgent, 512)); err != nil {
		return false, okpay.Internal(err, "record device")
	}
	return true, nil
}
