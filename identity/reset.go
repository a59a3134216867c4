package identity

import (
	"context"
	"database/sql"
	"strconv"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/audit"
	"github.com/okpay/okpay/identity/password"
	"github.com/okpay/okpay/identity/risk"
	"github.com/okpay/okpay/sqldb"
)

const (
	resetDigits         = 8
	resetPerIdentifier  = 3  // per hour (REC-02)
	resetPerIPPerHour   = 20 // per hour
	resetFactorDigits   = 6
	resetFlowKind       = "reset"
	resetChannelUnknown = ""
)

// ForgotPassword starts a password reset: a code goes by SMS (8 digits,
// 10 minutes) or email to the account's contact. The answer is the same,
// in about the same time, whether or not the identifier exists, and it
// changes no account state (REC-01). Requests are limited per identifier
// and per client (REC-02).
func (s *Service) ForgotPassword(ctx context.Context, identifier, channel string, m Meta) (*Flow, error) {
	if channel != MethodSMS && channel != MethodEmail {
		return nil, okpay.Invalid(map[string]string{"channel": "Choose sms or email."})
	}
	col, value, ok := parseIdentifier(identifier)
	if !ok {
		return nil, okpay.Invalid(map[string]string{"identifier": "Enter your email address or your mobile number with its country code."})
	}
	flow := &Flow{Token: randomToken()}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.hit(ctx, tx, "reset:"+col+":"+value, time.Hour, resetPerIdentifier); err != nil {
			return err
		}
		if err := s.hit(ctx, tx, "reset-ip:"+ipKey(m.IP), time.Hour, resetPerIPPerHour); err != nil {
			return err
		}
		u, err := s.findByIdentifier(ctx, tx, value, true)
		if err != nil {
			return err
		}
		now := s.now()
		userID := int64(0)
		if u != nil {
			userID = u.ID
		}
		flowID := s.IDs.Next()
		if _, err := tx.ExecContext(ctx, `INSERT INTO auth_flows (id, token_hash, kind, user_id, channel, ip, created_at, expires_at) VALUES ($1, $2, 'reset', $3, $4, $5, $6, $7)`,
			flowID, hashToken(flow.Token), userID, channel, m.IP, micros(now), micros(now.Add(s.cfg.FlowTTL))); err != nil {
			return okpay.Internal(err, "create flow")
		}
		if u == nil {
			return nil
		}
		return s.sendResetCode(ctx, tx, u, flowID, purposeReset, channel, m)
	})
	if err != nil {
		return nil, err
	}
	return flow, nil
}

// sendResetCode sends a reset-flow code. Reset codes skip the login-code
// send limits (the per-identifier limit above bounds them) so that a
// blocked or throttled owner can still recover (LOG-05).
func (s *Service) sendResetCode(ctx context.Context, tx *sql.Tx, u *userRow, flowID int64, purpose, channel string, m Meta) error {
	digits, ttl := resetDigits, s.cfg.ResetTTL
	if purpose == purposeResetFactor {
		digits, ttl = resetFactorDigits, s.cfg.OTPTTL
	}
	r := codeRequest{owner: "flow:" + strconv.FormatInt(flowID, 10), user: u, purpose: purpose, channel: channel, digits: digits, ttl: ttl}
	return s.issueCode(ctx, tx, r, m)
}

// ResetStatus returns the state of a reset flow.
func (s *Service) ResetStatus(ctx context.Context, token string) (*Flow, error) {
	_, userID, channel, codeOK, factorOK, err := s.loadFlow(ctx, s.DB.Read, token, resetFlowKind)
	if err != nil {
		return nil, err
	}
	f := &Flow{Token: token, CodeVerified: codeOK, FactorVerified: factorOK}
	if userID != 0 {
		u, err := s.loadUser(ctx, s.DB.Read, userID, false)
		if err != nil {
			return nil, err
		}
		f.Methods = s.resetMethods(u, channel)
	} else {
		f.Methods = []string{otherChannel(channel), MethodRecovery}
	}
	return f, nil
}

// resetMethods are the second factors that can follow a reset code sent
// over channel: never the same channel again (MFA-10, REC-04).
func (s *Service) resetMethods(u *userRow, channel string) []string {
	var out []string
	if u.TOTPEnabled {
		out = append(out, MethodTOTP)
	}
	out = append(out, otherChannel(channel))
	out = append(out, MethodRecovery)
	return out
}

func otherChannel(c string) string {
	if c == MethodSMS {
		return MethodEmail
	}
	return MethodSMS
}

// ResetVerifyCode checks the reset code. Wrong codes count their attempts
// (5 at most, REC-03).
func (s *Service) ResetVerifyCode(ctx context.Context, token, code string, m Meta) (*Flow, error) {
	var f *Flow
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		flowID, userID, channel, _, _, err := s.loadFlow(ctx, tx, token, resetFlowKind)
		if err != nil {
			return err
		}
		if userID == 0 {
			return sqldb.CommitThen(errBadCode())
		}
		if _, err := s.checkCode(ctx, tx, "flow:"+strconv.FormatInt(flowID, 10), purposeReset, code, resetDigits); err != nil {
			return sqldb.CommitThen(err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE auth_flows SET code_ok_at = $1 WHERE id = $2`, micros(s.now()), flowID); err != nil {
			return okpay.Internal(err, "update flow")
		}
		u, err := s.loadUser(ctx, tx, userID, false)
		if err != nil {
			return err
		}
		f = &Flow{Token: token, CodeVerified: true, Methods: s.resetMethods(u, channel)}
		return nil
	})
	return f, err
}

// ResetSendFactorCode sends the second-step code of a reset flow over the
// other channel than the reset code's.
func (s *Service) ResetSendFactorCode(ctx context.Context, token string, m Meta) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		flowID, userID, channel, codeOK, _, err := s.loadFlow(ctx, tx, token, resetFlowKind)
		if err != nil {
			return err
		}
		if !codeOK {
			return errFlow()
		}
		u, err := s.loadUser(ctx, tx, userID, true)
		if err != nil {
			return err
		}
		return s.sendResetCode(ctx, tx, u, flowID, purposeResetFactor, otherChannel(channel), m)
	})
}

// ResetVerifyFactor passes the reset flow's second step: TOTP, a recovery
// code, or a code over the other channel than the reset code's. An SMS
// reset code can never be followed by another SMS code (MFA-10).
func (s *Service) ResetVerifyFactor(ctx context.Context, token, method, code string, m Meta) (*Flow, error) {
	var f *Flow
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		flowID, userID, channel, codeOK, _, err := s.loadFlow(ctx, tx, token, resetFlowKind)
		if err != nil {
			return err
		}
		if !codeOK {
			return errFlow()
		}
		u, err := s.loadUser(ctx, tx, userID, true)
		if err != nil {
			return err
		}
		allowed := false
		for _, x := range s.resetMethods(u, channel) {
			allowed = allowed || x == method
		}
		if !allowed {
			return okpay.Errorf(EFactorUnavailable, "That method cannot be used here: use a different factor than the one that received the reset code.")
		}
		var ferr error
		switch method {
		case MethodTOTP:
			ferr = s.checkTOTP(ctx, tx, u, code)
		case MethodRecovery:
			ferr = s.useRecoveryCode(ctx, tx, u, code, m)
		case MethodSMS, MethodEmail:
			var got string
			got, ferr = s.checkCode(ctx, tx, "flow:"+strconv.FormatInt(flowID, 10), purposeResetFactor, code, resetFactorDigits)
			if ferr == nil && got != method {
				ferr = errBadCode()
			}
		}
		if ferr != nil {
			if okpay.ErrorCode(ferr) == okpay.EInternal {
				return ferr
			}
			return sqldb.CommitThen(ferr)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE auth_flows SET factor_ok_at = $1 WHERE id = $2`, micros(s.now()), flowID); err != nil {
			return okpay.Internal(err, "update flow")
		}
		f = &Flow{Token: token, CodeVerified: true, FactorVerified: true}
		return nil
	})
	return f, err
}

// ResetComplete sets the new password of a reset flow whose code and
// second factor passed. It also clears any login block (LOG-05), kills
// every outstanding code and session, marks the devices for
// re-verification, notifies every channel and holds money-out for 24 h;
// it does not sign in (REC-05).
func (s *Service) ResetComplete(ctx context.Context, token, newPassword string, m Meta) error {
	if len(newPassword) > password.MaxBytes {
		return s.CheckPassword(newPassword)
	}
	_, userID, _, codeOK, factorOK, err := s.loadFlow(ctx, s.DB.Read, token, resetFlowKind)
	if err != nil {
		return err
	}
	if !codeOK || !factorOK {
		return errFlow()
	}
	u, err := s.loadUser(ctx, s.DB.Read, userID, false)
	if err != nil {
		return err
	}
	if err := s.checkNewPassword(u, newPassword); err != nil {
		return err
	}
	hash, err := s.Hasher.Hash(ctx, newPassword)
	if err != nil {
		return okpay.Internal(err, "hash password")
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		flowID, userID, _, codeOK, factorOK, err := s.loadFlow(ctx, tx, token, resetFlowKind)
		if err != nil {
			return err
		}
		if !codeOK || !factorOK {
			return errFlow()
		}
		u, err := s.loadUser(ctx, tx, userID, true)
		if err != nil {
			return err
		}
		now := micros(s.now())
		if _, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = $1, compromised = 0, failed_count = 0, failed_since = 0, locked_until = 0, updated_at = $2 WHERE id = $3`,
			hash, now, u.ID); err != nil {
			return okpay.Internal(err, "set password")
		}
		// This flow and any other open reset flow of the user end here.
		if _, err := tx.ExecContext(ctx, `UPDATE auth_flows SET done_at = $1 WHERE (id = $2 OR user_id = $3) AND kind = 'reset' AND done_at = 0`, now, flowID, u.ID); err != nil {
			return okpay.Internal(err, "end flows")
		}
		if _, err := tx.ExecContext(ctx, `UPDATE devices SET reverify = 1 WHERE user_id = $1`, u.ID); err != nil {
			return okpay.Internal(err, "mark devices")
		}
		if err := s.invalidateCodes(ctx, tx, u.ID); err != nil {
			return err
		}
		if _, err := s.revokeSessions(ctx, tx, u.ID, 0, "password reset", m); err != nil {
			return err
		}
		if err := s.startHold(ctx, tx, u, risk.PasswordReset, "password_reset", m); err != nil {
			return err
		}
		if err := s.audit(ctx, tx, audit.Event{Name: audit.AuthnPasswordReset, Actor: userRef(u.ID), Subject: userRef(u.ID), Outcome: "success"}, m); err != nil {
			return err
		}
		return s.notifySecurity(ctx, tx, u, NotePasswordReset, m, nil)
	})
}
