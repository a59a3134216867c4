package identity

import (
	"context"
	"database/sql"
	"strconv"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/audit"
	"github.com/okpay/okpay/identity/risk"
	"github.com/okpay/okpay/sqldb"
)

// Contacts a user can change.
const (
	ContactEmail = "email"
	ContactPhone = "phone"
)

// NoteContactChanged is the notice of an email or phone change; it goes to
// the old and the new destination (NOT-01).
const NoteContactChanged = "contact_changed"

// BeginContactChange sends a code to a new email address or phone number.
// It needs the sudo window, i.e. a fresh second factor on the current
// contacts (MFA-04). A new contact that belongs to another account gets the
// same answer, but no code: that account's owner is told instead (LOG-10).
// Its place is taken by a decoy code that is never sent and never matches,
// so the send limits (MFA-03) and the death of an earlier code behave as
// for a free contact: neither tells a taken contact from a free one.
func (s *Service) BeginContactChange(ctx context.Context, ss *Session, kind, value string, m Meta) (destination string, err error) {
	if err := s.requireSettings(ctx, ss); err != nil {
		return "", err
	}
	var norm string
	switch kind {
	case ContactEmail:
		norm, err = NormalizeEmail(value)
		destination = maskEmail(norm)
	case ContactPhone:
		norm, err = NormalizePhone(value)
		destination = maskPhone(norm)
	default:
		return "", okpay.Invalid(map[string]string{"kind": "Choose email or phone."})
	}
	if err != nil {
		return "", err
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		u, err := s.loadUser(ctx, tx, ss.UserID, true)
		if err != nil {
			return err
		}
		if (kind == ContactEmail && u.Email == norm) || (kind == ContactPhone && u.Phone == norm) {
			return okpay.Invalid(map[string]string{kind: "That is already your " + kind + "."})
		}
		other, err := s.findByIdentifier(ctx, tx, norm, true)
		if err != nil {
			return err
		}
		owner := "sess:" + strconv.FormatInt(ss.ID, 10)
		target := *u
		channel, purpose := MethodEmail, purposeChangeEmail
		if kind == ContactPhone {
			target.Phone, channel, purpose = norm, MethodSMS, purposeChangePhone
		} else {
			target.Email = norm
		}
		if other != nil {
			if err := s.decoyCode(ctx, tx, u.ID, owner, purpose, channel, norm, m); err != nil {
				return err
			}
			return s.notifyRegisterAttempt(ctx, tx, other, m)
		}
		return s.sendCode(ctx, tx, codeRequest{owner: owner, user: &target, purpose: purpose,
			channel: channel, digits: loginDigits, ttl: s.cfg.OTPTTL}, m)
	})
	return destination, err
}

// ConfirmContactChange checks the code sent to the new contact and makes it
// the account's (verified). The old and the new destination are told,
// other sessions end (SES-06) and money-out waits 24 h (RSK-02).
func (s *Service) ConfirmContactChange(ctx context.Context, ss *Session, kind, code string, m Meta) error {
	if err := s.requireSettings(ctx, ss); err != nil {
		return err
	}
	purpose, col := purposeChangeEmail, "email"
	switch kind {
	case ContactEmail:
	case ContactPhone:
		purpose, col = purposeChangePhone, "phone"
	default:
		return okpay.Invalid(map[string]string{"kind": "Choose email or phone."})
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		u, err := s.loadUser(ctx, tx, ss.UserID, true)
		if err != nil {
			return err
		}
		_, dest, err := s.checkCodeTo(ctx, tx, "sess:"+strconv.FormatInt(ss.ID, 10), purpose, code, loginDigits)
		if err != nil {
			if okpay.ErrorCode(err) == okpay.EInternal {
				return err
			}
			return sqldb.CommitThen(err)
		}
		now := micros(s.now())
		if _, err := tx.ExecContext(ctx, `UPDATE users SET `+col+` = $1, `+col+`_verified_at = $2, updated_at = $2 WHERE id = $3`, dest, now, u.ID); err != nil {
			if sqldb.IsUniqueViolation(err) {
				return okpay.Errorf(okpay.EConflict, "That %s is no longer available.", kind)
			}
			return okpay.Internal(err, "change contact")
		}
		old := *u
		newContact := maskEmail(dest)
		if kind == ContactPhone {
			newContact = maskPhone(dest)
			u.Phone = dest
		} else {
			u.Email = dest
		}
		extra := map[string]any{"Contact": s.Catalog.T(u.Lang, "contact."+kind, nil), "New": newContact}
		// The old contacts hear of it (they are who an attacker locks out),
		// and the new one too.
		if err := s.notifySecurity(ctx, tx, &old, NoteContactChanged, m, extra); err != nil {
			return err
		}
		ch := map[string]string{"email": dest}
		if kind == ContactPhone {
			ch = map[string]string{"sms": dest}
		}
		if err := s.notifyTo(ctx, tx, u, NoteContactChanged, m, extra, ch); err != nil {
			return err
		}
		if _, err := s.revokeSessions(ctx, tx, u.ID, ss.ID, kind+" changed", m); err != nil {
			return err
		}
		if err := s.startHold(ctx, tx, u, risk.ContactChanged, kind+"_changed", m); err != nil {
			return err
		}
		return s.audit(ctx, tx, audit.Event{Name: audit.UserUpdated, Actor: userRef(u.ID), Subject: userRef(u.ID), Outcome: "success",
			Reason: kind + " changed", Details: map[string]string{"field": kind}}, m)
	})
}
