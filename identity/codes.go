package identity

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/identity/otp"
)

// Code purposes.
const (
	purposeLogin       = "login"
	purposeStepUp      = "step_up"
	purposeVerifyEmail = "verify_email"
	purposeVerifyPhone = "verify_phone"
	purposeReset       = "reset"
	purposeResetFactor = "reset_factor"
	purposeChangeEmail = "change_email"
	purposeChangePhone = "change_phone"
)

// SMS send limits (MFA-03), per account and per destination; per IP a
// looser cap stops one client spraying numbers.
const (
	smsMinInterval  = 60 * time.Second
	smsPerHour      = 5
	smsPerDay       = 10
	smsPerIPPerHour = 30
)

// codeRequest describes one code to send.
type codeRequest struct {
	owner   string // "sess:<id>" or "flow:<id>": the code works only there
	user    *userRow
	purpose string
	channel string // MethodSMS or MethodEmail
	digits  int
	ttl     time.Duration
}

// sendCode invalidates the owner's earlier codes for the purpose, stores a
// new one as an HMAC and queues the message carrying it, all in tx.
func (s *Service) sendCode(ctx context.Context, tx *sql.Tx, r codeRequest, m Meta) error {
	// Codes by email are limited like codes by SMS, or the product would
	// mail-bomb any address for whoever asks.
	if err := s.checkSendLimits(ctx, tx, r.user.ID, r.destination(), m.IP, s.now()); err != nil {
		return err
	}
	return s.issueCode(ctx, tx, r, m)
}

// destination is where the code goes: the user's email or phone.
func (r codeRequest) destination() string {
	if r.channel == MethodSMS {
		return r.user.Phone
	}
	return r.user.Email
}

// issueCode draws a code, stores its MAC in place of the owner's earlier
// code for the purpose, and queues its message. It checks no send limit.
func (s *Service) issueCode(ctx context.Context, tx *sql.Tx, r codeRequest, m Meta) error {
	code, err := otp.NewCode(r.digits)
	if err != nil {
		return okpay.Internal(err, "generate code")
	}
	mac := s.codeMAC.Sum([]byte(r.owner), []byte(r.purpose), []byte(code))
	id, err := s.storeCode(ctx, tx, r.owner, r.purpose, r.user.ID, r.channel, r.destination(), m.IP, mac, s.codeMAC.KeyID(), r.ttl)
	if err != nil {
		return err
	}
	return s.notifyCode(ctx, tx, r.user, r.purpose, r.channel, code, r.ttl, "code:"+strconv.FormatInt(id, 10))
}

// storeCode kills the owner's live code for purpose (a resend
// invalidates the previous code, MFA-02) and stores a new one's MAC.
func (s *Service) storeCode(ctx context.Context, tx *sql.Tx, owner, purpose string, userID int64, channel, dest, ip string, mac []byte, keyID string, ttl time.Duration) (int64, error) {
	now := s.now()
	if _, err := tx.ExecContext(ctx, `UPDATE otp_codes SET used_at = $1 WHERE owner = $2 AND purpose = $3 AND used_at = 0`,
		micros(now), owner, purpose); err != nil {
		return 0, okpay.Internal(err, "invalidate codes")
	}
	id := s.IDs.Next()
	if _, err := tx.ExecContext(ctx, `INSERT INTO otp_codes (id, owner, user_id, purpose, channel, destination, ip, mac, key_id, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		id, owner, userID, purpose, channel, dest, ip, mac, keyID, micros(now), micros(now.Add(ttl))); err != nil {
		return 0, okpay.Internal(err, "store code")
	}
	return id, nil
}

// checkSendLimits applies the code send limits (MFA-03) of the account,
// the destination and the client address, per channel.
func (s *Service) checkSendLimits(ctx context.Context, tx *sql.Tx, userID int64, dest, ip string, now time.Time) error {
	// The channel follows from the destination: an email address or a
	// phone number; each channel has its own counts.
	channel := MethodSMS
	if strings.Contains(dest, "@") {
		channel = MethodEmail
	}
	day := micros(now.Add(-24 * time.Hour))
	hour := micros(now.Add(-time.Hour))
	var retry time.Duration
	for _, q := range []struct {
		col string
		val any
	}{{"user_id", userID}, {"destination", dest}} {
		if q.col == "user_id" && userID == 0 {
			continue // a decoy flow: counted by destination
		}
		var inDay, inHour, last int64
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(CASE WHEN created_at > $3 THEN 1 ELSE 0 END), 0), COALESCE(MAX(created_at), 0)
			FROM otp_codes WHERE `+q.col+` = $1 AND channel = $4 AND created_at > $2`, q.val, day, hour, channel).Scan(&inDay, &inHour, &last); err != nil {
			return okpay.Internal(err, "count sms")
		}
		if last > 0 && now.Sub(fromMicros(last)) < smsMinInterval {
			retry = max(retry, smsMinInterval-now.Sub(fromMicros(last)))
		}
		if inHour >= smsPerHour {
			retry = max(retry, time.Hour)
		}
		if inDay >= smsPerDay {
			retry = max(retry, 24*time.Hour)
		}
	}
	if ip != "" {
		var n int64
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM otp_codes WHERE ip = $1 AND channel = $3 AND created_at > $2`, ip, hour, channel).Scan(&n); err != nil {
			return okpay.Internal(err, "count sms")
		}
		if n >= smsPerIPPerHour {
			retry = max(retry, time.Hour)
		}
	}
	if retry > 0 {
		return &RateLimitError{RetryAfter: retry}
	}
	return nil
}

// errBadCode is the answer to every code that does not work: wrong,
// expired, used, superseded or out of attempts.
func errBadCode() error {
	return okpay.Errorf(EInvalidCode, "That code is not valid. Check it, or ask for a new one.")
}

// checkCode verifies input against the owner's live code for purpose and
// consumes it on success (compare-and-set: of two concurrent submissions
// exactly one succeeds). A wrong code counts an attempt; after
// MaxCodeAttempts the code is dead even when right. It returns the code's
// channel. Failures must be committed: callers wrap them in commitThen.
func (s *Service) checkCode(ctx context.Context, tx *sql.Tx, owner, purpose, input string, digits int) (channel string, err error) {
	channel, _, err = s.checkCodeTo(ctx, tx, owner, purpose, input, digits)
	return channel, err
}

// checkCodeTo is checkCode that also returns where the code was sent.
func (s *Service) checkCodeTo(ctx context.Context, tx *sql.Tx, owner, purpose, input string, digits int) (channel, destination string, err error) {
	now := s.now()
	q := `SELECT id, mac, attempts, expires_at, channel, destination FROM otp_codes WHERE owner = $1 AND purpose = $2 AND used_at = 0 ORDER BY id DESC LIMIT 1`
	if s.DB.Dialect == "postgres" {
		q += ` FOR UPDATE`
	}
	var id, expires int64
	var mac []byte
	var attempts int
	err = tx.QueryRowContext(ctx, q, owner, purpose).Scan(&id, &mac, &attempts, &expires, &channel, &destination)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", errBadCode()
	}
	if err != nil {
		return "", "", okpay.Internal(err, "load code")
	}
	if attempts >= s.cfg.MaxCodeAttempts || !now.Before(fromMicros(expires)) {
		return "", "", errBadCode()
	}
	code, ok := otp.ParseCode(input, digits)
	if !ok || !s.codeMAC.Equal(mac, s.codeMAC.Sum([]byte(owner), []byte(purpose), []byte(code))) {
		if _, err := tx.ExecContext(ctx, `UPDATE otp_codes SET attempts = attempts + 1 WHERE id = $1`, id); err != nil {
			return "", "", okpay.Internal(err, "count attempt")
		}
		return "", "", errBadCode()
	}
	res, err := tx.ExecContext(ctx, `UPDATE otp_codes SET used_at = $1 WHERE id = $2 AND used_at = 0`, micros(now), id)
	if err != nil {
		return "", "", okpay.Internal(err, "use code")
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return "", "", errBadCode()
	}
	return channel, destination, nil
}

// invalidateCodes kills every outstanding code of a user (REC-05).
func (s *Service) invalidateCodes(ctx context.Context, tx *sql.Tx, userID int64) error {
	_, err := tx.ExecContext(ctx, `UPDATE otp_codes SET used_at = $1 WHERE user_id = $2 AND used_at = 0`, micros(s.now()), userID)
	if err != nil {
		return okpay.Internal(err, "invalidate codes")
	}
	return nil
}
