package identity

// Passkeys (WebAuthn, SECURITY.md MFA-08) in the identity service: as a
// second factor after the password, for step-up on a full session, and as
// a passwordless sign-in (a user-verifying passkey is two factors in one).
// The ceremonies themselves — challenges, flows, signature and origin
// checks, the sign-count rule — are package identity/passkey's; this file
// applies the account policy around them: sudo for enrolment and removal
// (SES-08, MFA-09), the lockout and per-IP limits (LOG-04, LOG-06),
// session rotation (SES-02), notifications on every channel, revocation of
// other sessions (SES-06), the cooling-off hold and the audit trail.
//
// A passkey ceremony spans two requests. Its flow id travels to the client
// bound to whoever began it: the client receives "<flow id>.<tag>", where
// the tag is a MAC (keyed from the master key) over the ceremony kind, the
// owner — the session for enrolment and second-factor use, the device id
// for a passwordless sign-in — and the flow id. A flow begun by one session
// is refused to another, and a second-factor flow (user verification only
// preferred) can never finish a passwordless sign-in. The passkey package
// further binds each flow to its user and consumes it once.
//
// The passkey service keeps its own connections, so its calls run outside
// the identity transactions (on SQLite a nested write would wait for the
// single writer); what follows a verification commits in one transaction
// with its audit record and notifications.

import (
	"context"
	"database/sql"
	"encoding/base64"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/audit"
	"github.com/okpay/okpay/identity/passkey"
	"github.com/okpay/okpay/identity/risk"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/sqldb"
)

// PasskeyPrefix is the id prefix of passkeys in the API and the pages.
const PasskeyPrefix = "pkey"

// NotePasskeyCloned is the security notification sent when a passkey's
// signature counter went backwards (MFA-08: a cloned authenticator).
const NotePasskeyCloned = "passkey_cloned"

// auditPasskeyCloned is the audit event of a refused, probably cloned,
// passkey.
const auditPasskeyCloned = "authn_passkey_cloned"

// Kinds of passkey ceremony a flow token is bound to.
const (
	pkFlowRegister     = "register"
	pkFlowFactor       = "factor"
	pkFlowPasswordless = "passwordless"
)

// flowTagLen is the length of a flow token's tag, in bytes.
const flowTagLen = 16

// maxFlowTokenLen bounds a flow token before it is parsed.
const maxFlowTokenLen = 128

func errPasskey() error {
	return okpay.Errorf(passkey.EInvalid, "The passkey could not be verified. Try again, or use another way to confirm it is you.")
}

func errPasskeyFlow() error {
	return okpay.Errorf(passkey.EFlowInvalid, "This passkey request has expired or was already used. Please start again.")
}

func errPasskeyCloned() error {
	return okpay.Errorf(passkey.ECloned, "This passkey was refused for your security: it may have been copied. Use another way to confirm it is you.")
}

func errNoPasskeys() error {
	return okpay.Errorf(EFactorUnavailable, "No passkey is set up for this account.")
}

// PasskeysEnabled reports whether the service was given a passkey
// service (Deps.Passkeys).
func (s *Service) PasskeysEnabled() bool { return s.Deps.Passkeys != nil }

// passkeyService returns the passkey service, or EFactorUnavailable
// without one.
func (s *Service) passkeyService() (*passkey.Service, error) {
	if s.Deps.Passkeys == nil {
		return nil, okpay.Errorf(EFactorUnavailable, "Passkeys are not available.")
	}
	return s.Deps.Passkeys, nil
}

// passkeyCount is how many passkeys the user has (0 without a passkey
// service).
func (s *Service) passkeyCount(ctx context.Context, userID int64) (int, error) {
	if s.Deps.Passkeys == nil {
		return 0, nil
	}
	return s.Deps.Passkeys.Count(ctx, userID)
}

// Passkeys lists the user's passkeys, oldest first (none without a
// passkey service).
func (s *Service) Passkeys(ctx context.Context, userID int64) ([]passkey.Credential, error) {
	if s.Deps.Passkeys == nil {
		return nil, nil
	}
	return s.Deps.Passkeys.List(ctx, userID)
}

func sessionOwner(id int64) string { return "sess:" + strconv.FormatInt(id, 10) }
func deviceOwner(id string) string { return "device:" + id }

// flowTag is the MAC that binds flow flowID of kind to owner.
func (s *Service) flowTag(kind, owner, flowID string) []byte {
	return s.Keys.MAC("identity/passkey-flow").Sum([]byte(kind), []byte(owner), []byte(flowID))[:flowTagLen]
}

// bindFlow returns the token the client holds for flow flowID.
func (s *Service) bindFlow(kind, owner, flowID string) string {
	return flowID + "." + base64.RawURLEncoding.EncodeToString(s.flowTag(kind, owner, flowID))
}

// unbindFlow checks a flow token against its kind and owner and returns
// the flow id; any mismatch is EFlowInvalid (passkey_flow_invalid).
func (s *Service) unbindFlow(kind, owner, token string) (string, error) {
	if token == "" || len(token) > maxFlowTokenLen {
		return "", errPasskeyFlow()
	}
	i := strings.LastIndexByte(token, '.')
	if i <= 0 {
		return "", errPasskeyFlow()
	}
	flowID := token[:i]
	tag, err := base64.RawURLEncoding.DecodeString(token[i+1:])
	if err != nil || !s.Keys.MAC("identity/passkey-flow").Equal(tag, s.flowTag(kind, owner, flowID)) {
		return "", errPasskeyFlow()
	}
	return flowID, nil
}

// passkeyUser is how the user appears in the authenticator's passkey
// picker: the email address (no other personal data; the user handle is
// the numeric id).
func passkeyUser(u *userRow) passkey.User {
	name := u.Email
	if name == "" {
		name = u.Phone
	}
	return passkey.User{ID: u.ID, Name: name, DisplayName: name}
}

// BeginPasskeyRegistration starts enrolling a passkey for the session's
// user. Adding a factor needs a full session within the sudo window
// (SES-08). It returns the options for navigator.credentials.create
// ({"publicKey": {...}}, base64url binary fields) and the flow token to
// give back to FinishPasskeyRegistration from the same session.
func (s *Service) BeginPasskeyRegistration(ctx context.Context, ss *Session) (options []byte, flowID string, err error) {
	if err := s.requireSettings(ctx, ss); err != nil {
		return nil, "", err
	}
	pk, err := s.passkeyService()
	if err != nil {
		return nil, "", err
	}
	u, err := s.loadUser(ctx, s.DB.Read, ss.UserID, false)
	if err != nil {
		return nil, "", err
	}
	opts, id, err := pk.BeginRegistration(ctx, passkeyUser(u))
	if err != nil {
		return nil, "", err
	}
	return opts, s.bindFlow(pkFlowRegister, sessionOwner(ss.ID), id), nil
}

// FinishPasskeyRegistration verifies the authenticator's response (the
// JSON of the PublicKeyCredential) to a flow the same session began, and
// stores the passkey under label (by default a name made from the
// browser). Then, as for any new factor, every other session ends
// (SES-06), every channel hears of it and the audit log records it.
// Errors: the sudo errors, passkey.EFlowInvalid, passkey.EInvalid,
// passkey.EExists, okpay.EInvalid (label).
func (s *Service) FinishPasskeyRegistration(ctx context.Context, ss *Session, flowID string, response []byte, label string, m Meta) error {
	_, err := s.RegisterPasskey(ctx, ss, flowID, response, label, m)
	return err
}

// RegisterPasskey is FinishPasskeyRegistration that also returns the
// passkey it stored.
func (s *Service) RegisterPasskey(ctx context.Context, ss *Session, flowID string, response []byte, label string, m Meta) (passkey.Credential, error) {
	if err := s.requireSettings(ctx, ss); err != nil {
		return passkey.Credential{}, err
	}
	pk, err := s.passkeyService()
	if err != nil {
		return passkey.Credential{}, err
	}
	id, err := s.unbindFlow(pkFlowRegister, sessionOwner(ss.ID), flowID)
	if err != nil {
		return passkey.Credential{}, err
	}
	u, err := s.loadUser(ctx, s.DB.Read, ss.UserID, false)
	if err != nil {
		return passkey.Credential{}, err
	}
	if label = strings.TrimSpace(label); label == "" {
		if label = deviceLabel(m.UserAgent); label == "?" {
			label = s.Catalog.T(langOr(u.Lang), "factor.passkey", nil)
		}
		label = clipRunes(label, passkey.MaxLabelLen)
	}
	cred, err := pk.FinishRegistration(ctx, passkeyUser(u), id, response, label)
	if err != nil {
		return passkey.Credential{}, err
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		u, err := s.loadUser(ctx, tx, ss.UserID, true)
		if err != nil {
			return err
		}
		if _, err := s.revokeSessions(ctx, tx, u.ID, ss.ID, "factor added", m); err != nil {
			return err
		}
		if err := s.audit(ctx, tx, audit.Event{Name: audit.AuthnMFAEnabled, Actor: userRef(u.ID), Subject: userRef(u.ID), Outcome: "success",
			Details: map[string]string{"method": MethodPasskey, "passkey": ids.Format(PasskeyPrefix, cred.ID)}}, m); err != nil {
			return err
		}
		return s.notifySecurity(ctx, tx, u, NoteFactorAdded, m, map[string]any{"Method": s.Catalog.T(u.Lang, "factor.passkey", nil)})
	})
	if err != nil {
		// Nothing may happen unannounced: take the passkey back.
		if derr := pk.Delete(context.WithoutCancel(ctx), ss.UserID, cred.ID); derr != nil {
			return passkey.Credential{}, okpay.Internal(derr, "withdraw passkey after a failed enrolment")
		}
		return passkey.Credential{}, err
	}
	return cred, nil
}

// BeginPasskeyLogin starts a passkey assertion for the session of token:
// the second factor of a session waiting for it (AAL1), or a step-up that
// reopens the sudo window of a full session. The options name the user's
// passkeys (allowCredentials). A user without passkeys gets
// EFactorUnavailable. The flow token works only with this session.
func (s *Service) BeginPasskeyLogin(ctx context.Context, token string) (options []byte, flowID string, err error) {
	pk, err := s.passkeyService()
	if err != nil {
		return nil, "", err
	}
	ss, err := s.lookupSession(ctx, s.DB.Read, token)
	if err != nil {
		return nil, "", err
	}
	// Each ceremony stores a flow: bound them per session.
	if err := s.hit(ctx, s.DB.Write, "passkey_begin:"+sessionOwner(ss.ID), time.Minute, s.cfg.LoginPerIPPerMinute); err != nil {
		return nil, "", err
	}
	opts, id, err := pk.BeginLogin(ctx, ss.UserID, false)
	if okpay.ErrorCode(err) == okpay.ENotFound {
		return nil, "", errNoPasskeys()
	}
	if err != nil {
		return nil, "", err
	}
	return opts, s.bindFlow(pkFlowFactor, sessionOwner(ss.ID), id), nil
}

// FinishPasskeyLogin completes the second factor (or step-up) of the
// session of token with the assertion for a flow this session began. The
// passkey must be the session user's. Success takes the path of every
// other factor: a new token (SES-02), AAL2 with a fresh sudo window, the
// failure counter reset and, at login, the new-device notice. A passkey
// that does not verify counts toward the lockout (LOG-04) and, at login,
// warns the owner that someone knows the password (LOG-08); a blocked
// account is refused alike. A passkey whose counter went backwards is
// refused as cloned, audited and announced on every channel (MFA-08).
// Errors: passkey.EFlowInvalid (not counted), passkey.EInvalid,
// passkey.ECloned, the session errors.
func (s *Service) FinishPasskeyLogin(ctx context.Context, token, flowID string, response []byte, m Meta) (*LoginResult, error) {
	pk, err := s.passkeyService()
	if err != nil {
		return nil, err
	}
	ss, err := s.lookupSession(ctx, s.DB.Read, token)
	if err != nil {
		return nil, err
	}
	id, err := s.unbindFlow(pkFlowFactor, sessionOwner(ss.ID), flowID)
	if err != nil {
		return nil, err
	}
	u, err := s.loadUser(ctx, s.DB.Read, ss.UserID, false)
	if err != nil {
		return nil, err
	}
	if s.now().Before(fromMicros(u.lockedUntil)) {
		return nil, errPasskey() // LOG-04: refused alike, not counted
	}
	userID, cred, perr := pk.FinishLogin(ctx, id, response)
	switch okpay.ErrorCode(perr) {
	case "":
	case passkey.EFlowInvalid:
		return nil, errPasskeyFlow()
	case passkey.EInvalid, passkey.ECloned:
	default:
		return nil, perr
	}
	var res *LoginResult
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		cur, err := s.lookupSession(ctx, tx, token)
		if err != nil {
			return err
		}
		u, err := s.loadUser(ctx, tx, cur.UserID, true)
		if err != nil {
			return err
		}
		if s.now().Before(fromMicros(u.lockedUntil)) {
			return errPasskey()
		}
		switch {
		case perr == nil && userID == cur.UserID && cur.ID == ss.ID:
			res, err = s.factorPassed(ctx, tx, u, cur, MethodPasskey, m)
			return err
		case okpay.ErrorCode(perr) == passkey.ECloned && cred.UserID == cur.UserID:
			if err := s.factorFailed(ctx, tx, u, cur, MethodPasskey, m); err != nil {
				return err
			}
			if err := s.passkeyCloned(ctx, tx, u, cred, m); err != nil {
				return err
			}
			return sqldb.CommitThen(errPasskeyCloned())
		default:
			if err := s.factorFailed(ctx, tx, u, cur, MethodPasskey, m); err != nil {
				return err
			}
			return sqldb.CommitThen(errPasskey())
		}
	})
	return res, err
}

// passkeyCloned audits a refused passkey whose signature counter went
// backwards and raises the security alert on every channel.
func (s *Service) passkeyCloned(ctx context.Context, tx *sql.Tx, u *userRow, cred passkey.Credential, m Meta) error {
	if err := s.audit(ctx, tx, audit.Event{Name: auditPasskeyCloned, Actor: userRef(u.ID), Subject: userRef(u.ID), Outcome: "failure",
		Reason: "sign count did not increase", Details: map[string]string{"passkey": ids.Format(PasskeyPrefix, cred.ID),
			"stored_sign_count": strconv.FormatUint(uint64(cred.SignCount), 10)}}, m); err != nil {
		return err
	}
	return s.notifySecurity(ctx, tx, u, NotePasskeyCloned, m, map[string]any{"Label": cred.Label})
}

// BeginPasswordless starts a sign-in with a passkey alone: a discoverable
// assertion (the authenticator picks the account) with user verification
// required. Beginning counts against a per-IP limit (each ceremony stores
// a flow). The flow token works only from the same device (m.DeviceID).
func (s *Service) BeginPasswordless(ctx context.Context, m Meta) (options []byte, flowID string, err error) {
	pk, err := s.passkeyService()
	if err != nil {
		return nil, "", err
	}
	if err := s.hit(ctx, s.DB.Write, "passkey_begin:"+ipKey(m.IP), time.Minute, s.cfg.LoginPerIPPerMinute); err != nil {
		return nil, "", err
	}
	opts, id, err := pk.BeginLogin(ctx, 0, true)
	if err != nil {
		return nil, "", err
	}
	return opts, s.bindFlow(pkFlowPasswordless, deviceOwner(m.DeviceID), id), nil
}

// FinishPasswordless signs in with the assertion for a flow of
// BeginPasswordless from the same device. A user-verifying passkey is
// something the user has and something they know or are, so the session
// is full (AAL2) at once, with the sudo window open; it goes through the
// same path as a second factor (new-device notice, failure counter reset,
// audit). The attempt counts against the per-IP login limit (LOG-06); a
// blocked account cannot sign in and gets the same error as a passkey
// that does not verify (LOG-04). A frozen account signs in read-only, as
// with a password. Errors: RateLimitError, passkey.EFlowInvalid,
// passkey.EInvalid, passkey.ECloned.
func (s *Service) FinishPasswordless(ctx context.Context, flowID string, response []byte, m Meta) (*LoginResult, error) {
	pk, err := s.passkeyService()
	if err != nil {
		return nil, err
	}
	if err := s.hit(ctx, s.DB.Write, "login:"+ipKey(m.IP), time.Minute, s.cfg.LoginPerIPPerMinute); err != nil {
		return nil, err
	}
	id, err := s.unbindFlow(pkFlowPasswordless, deviceOwner(m.DeviceID), flowID)
	if err != nil {
		return nil, err
	}
	userID, cred, perr := pk.FinishLogin(ctx, id, response)
	switch okpay.ErrorCode(perr) {
	case "", passkey.ECloned:
	case passkey.EFlowInvalid:
		return nil, errPasskeyFlow()
	case passkey.EInvalid:
		// The response names no user that can be trusted: nothing to
		// count against.
		return nil, errPasskey()
	default:
		return nil, perr
	}
	if perr != nil {
		userID = cred.UserID
	}
	var res *LoginResult
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		u, err := s.loadUser(ctx, tx, userID, true)
		if okpay.ErrorCode(err) == okpay.ENotFound {
			return errPasskey()
		}
		if err != nil {
			return err
		}
		if perr != nil { // cloned
			if err := s.countFailure(ctx, tx, u, m); err != nil {
				return err
			}
			if err := s.passkeyCloned(ctx, tx, u, cred, m); err != nil {
				return err
			}
			if err := s.audit(ctx, tx, audit.Event{Name: audit.AuthnLoginFail, Actor: userRef(u.ID), Subject: userRef(u.ID), Outcome: "failure",
				Reason: "passkey_cloned", Details: map[string]string{"method": MethodPasskey}}, m); err != nil {
				return err
			}
			return sqldb.CommitThen(errPasskeyCloned())
		}
		if s.now().Before(fromMicros(u.lockedUntil)) {
			if err := s.audit(ctx, tx, audit.Event{Name: audit.AuthnLoginFail, Actor: userRef(u.ID), Subject: userRef(u.ID), Outcome: "failure",
				Reason: "blocked", Details: map[string]string{"method": MethodPasskey}}, m); err != nil {
				return err
			}
			return sqldb.CommitThen(errPasskey())
		}
		_, ss, err := s.createSession(ctx, tx, u.ID, AAL1, time.Time{}, "", m)
		if err != nil {
			return err
		}
		res, err = s.factorPassed(ctx, tx, u, ss, MethodPasskey, m)
		return err
	})
	return res, err
}

// RemovePasskey removes passkey id of the session's user. Like removing
// any factor it needs a full session within the sudo window, opened with a
// passkey (MFA-09: a factor at least as strong; else a
// *StrongerFactorError); SMS stays enrolled, so a second factor always
// remains. Other sessions end (SES-06), every channel hears of it, and
// money-out waits 24 hours (RSK-02). Another user's passkey, or one
// already removed, is ENotFound.
func (s *Service) RemovePasskey(ctx context.Context, ss *Session, id int64, m Meta) error {
	if err := s.requireSettings(ctx, ss); err != nil {
		return err
	}
	if _, err := s.passkeyService(); err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		u, err := s.loadUser(ctx, tx, ss.UserID, true)
		if err != nil {
			return err
		}
		// Another user's passkey, or one removed, is not found (API-02)
		// whatever the step-up; then the step-up must be a passkey.
		var mine int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM passkeys WHERE id = $1 AND user_id = $2 AND deleted_at IS NULL`, id, u.ID).Scan(&mine); err != nil {
			return okpay.Internal(err, "find passkey")
		}
		if mine == 0 {
			return okpay.Errorf(okpay.ENotFound, "No such passkey.")
		}
		if err := requireStrength(ss, MethodPasskey); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM passkeys WHERE user_id = $1 AND deleted_at IS NULL`, u.ID).Scan(&u.Passkeys); err != nil {
			return okpay.Internal(err, "count passkeys")
		}
		if err := requireFactorLeft(u, MethodPasskey); err != nil {
			return err
		}
		// The removal commits with its announcement; it is
		// passkey.Service.Delete's statement, run in this transaction.
		res, err := tx.ExecContext(ctx, `UPDATE passkeys SET deleted_at = $1 WHERE id = $2 AND user_id = $3 AND deleted_at IS NULL`,
			micros(s.now()), id, u.ID)
		if err != nil {
			return okpay.Internal(err, "remove passkey")
		}
		if n, err := res.RowsAffected(); err != nil {
			return okpay.Internal(err, "remove passkey")
		} else if n == 0 {
			return okpay.Errorf(okpay.ENotFound, "No such passkey.")
		}
		if err := s.startHold(ctx, tx, u, risk.FactorRemoved, "factor_removed", m); err != nil {
			return err
		}
		if _, err := s.revokeSessions(ctx, tx, u.ID, ss.ID, "factor removed", m); err != nil {
			return err
		}
		if err := s.audit(ctx, tx, audit.Event{Name: audit.AuthnMFADisabled, Actor: userRef(u.ID), Subject: userRef(u.ID), Outcome: "success",
			Details: map[string]string{"method": MethodPasskey, "passkey": ids.Format(PasskeyPrefix, id)}}, m); err != nil {
			return err
		}
		return s.notifySecurity(ctx, tx, u, NoteFactorRemoved, m, map[string]any{"Method": s.Catalog.T(u.Lang, "factor.passkey", nil)})
	})
}

// clipRunes cuts s to at most n characters.
func clipRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}
