package wallet

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/identity"
)

// How a payee is named in a transfer.
const (
	PayeeEmail    = identity.PayeeEmail
	PayeePhone    = identity.PayeePhone
	PayeeUserID   = identity.PayeeUserID // usr_…
	PayeeWalletID = "wallet_id"          // wal_…
)

// MaxPayeeLen bounds what a payee field may hold.
const MaxPayeeLen = 254

// ParsePayee tells how value names a payee: kind may be given, or left
// empty to be guessed (an '@' is an email address, a leading '+' a phone
// number, usr_ and wal_ ids). The value is returned trimmed; identity
// normalises emails and phones further.
func ParsePayee(kind, value string) (string, string, error) {
	value = strings.TrimSpace(value)
	bad := func(msg string) (string, string, error) {
		return "", "", okpay.Invalid(map[string]string{"payee": msg})
	}
	if value == "" {
		return bad("Enter the email address, phone number or OKPay id of the payee.")
	}
	if len(value) > MaxPayeeLen || !utf8.ValidString(value) {
		return bad("That payee is too long.")
	}
	if kind == "" {
		switch {
		case strings.Contains(value, "@"):
			kind = PayeeEmail
		case strings.HasPrefix(value, "+"):
			kind = PayeePhone
		case strings.HasPrefix(value, "usr_"):
			kind = PayeeUserID
		case strings.HasPrefix(value, WalletPrefix+"_"):
			kind = PayeeWalletID
		default:
			return bad("Enter an email address, a phone number with its country code (+86…), or an OKPay id (usr_… or wal_…).")
		}
	}
	switch kind {
	case PayeeEmail, PayeePhone, PayeeUserID, PayeeWalletID:
		return kind, value, nil
	}
	return "", "", okpay.Invalid(map[string]string{"payee_kind": "Name the payee by email, phone, user id or wallet id."})
}

// CleanNote checks a transfer's note: at most maxRunes characters of
// valid UTF-8, no control characters (line breaks included) and no
// bidirectional overrides (which can make a note read as something else).
// Surrounding spaces are trimmed.
func CleanNote(note string, maxRunes int) (string, error) {
	note = strings.TrimSpace(note)
	bad := func(msg string) (string, error) { return "", okpay.Invalid(map[string]string{"note": msg}) }
	if !utf8.ValidString(note) {
		return bad("The note has characters that cannot be read.")
	}
	if utf8.RuneCountInString(note) > maxRunes {
		return bad("The note is too long.")
	}
	for _, r := range note {
		if unicode.IsControl(r) || isBidiControl(r) || r == '\u2028' || r == '\u2029' {
			return bad("The note cannot contain line breaks or control characters.")
		}
	}
	return note, nil
}

func isBidiControl(r rune) bool {
	return (r >= '\u202a' && r <= '\u202e') || (r >= '\u2066' && r <= '\u2069') || r == '\u200e' || r == '\u200f' || r == '\u061c'
}

// MaxKeyLen bounds an idempotency key.
const MaxKeyLen = 255

// checkKey validates a client's idempotency key: 1 to 255 printable ASCII
// characters without spaces (the Idempotency-Key header's rule).
func checkKey(key string) error {
	if key == "" || len(key) > MaxKeyLen {
		return okpay.Invalid(map[string]string{"idempotency_key": "An idempotency key of 1 to 255 characters is required."})
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x21 || key[i] > 0x7e {
			return okpay.Invalid(map[string]string{"idempotency_key": "The idempotency key must be printable ASCII without spaces."})
		}
	}
	return nil
}

// reference is the ledger reference of userID's operation under key: the
// key itself when short, its hash otherwise (references are at most 128
// bytes; a short key that looks like a hash is hashed too).
func reference(op string, userID int64, key string) string {
	if len(key) > 80 || strings.HasPrefix(key, "h:") {
		h := sha256.Sum256([]byte(key))
		key = "h:" + hex.EncodeToString(h[:16])
	}
	return op + ":" + itoa(userID) + ":" + key
}
