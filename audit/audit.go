// Package audit keeps OKPay's security audit log and its log hygiene.
//
// The audit log (AUD-01, AUD-04) is one append-only table, audit_log, whose
// rows form a hash chain in seq order:
//
//	hash_n = SHA-256(hash_{n-1} ‖ canonical(row_n)),  hash_0 = 32 zero bytes
//
// Append writes an event inside the caller's transaction, so it commits or
// rolls back with the business change it describes; Log.Record writes an
// event on its own. Log.Verify walks the chain and reports the first broken
// link (REL-13): an edited row, a missing row, or a row out of place.
//
// Every string that reaches the table, and every attribute of the process
// logger built with NewHandler, goes through Scrub first (AUD-02, AUD-03):
// values of secret-looking keys are redacted, card numbers are cut to their
// last four digits, and control characters are escaped.
package audit

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/okpay/okpay"
	"github.com/okpay/okpay/sqldb"
)

// Event names, from the OWASP Logging Vocabulary where it has one, and in
// its style (area_object_action, snake case) where OKPay needs more.
const (
	// Authentication.
	AuthnLoginSuccess          = "authn_login_success"
	AuthnLoginSuccessAfterFail = "authn_login_successafterfail"
	AuthnLoginFail             = "authn_login_fail"
	AuthnLoginFailMax          = "authn_login_fail_max"
	AuthnLoginLock             = "authn_login_lock"
	AuthnPasswordChange        = "authn_password_change"
	AuthnPasswordChangeFail    = "authn_password_change_fail"
	AuthnPasswordReset         = "authn_password_reset"
	AuthnImpossibleTravel      = "authn_impossible_travel"
	AuthnMFAEnabled            = "authn_mfa_enabled"
	AuthnMFADisabled           = "authn_mfa_disabled"
	AuthnMFAFail               = "authn_mfa_fail"
	AuthnRecoveryCodeUsed      = "authn_recovery_code_used"
	AuthnTokenCreated          = "authn_token_created"
	AuthnTokenRevoked          = "authn_token_revoked"
	AuthnTokenReuse            = "authn_token_reuse"
	AuthnTokenDelete           = "authn_token_delete"

	// Authorization.
	AuthzFail   = "authz_fail"
	AuthzChange = "authz_change"
	AuthzAdmin  = "authz_admin"

	// Users and their accounts.
	UserCreated           = "user_created"
	UserUpdated           = "user_updated"
	UserArchived          = "user_archived"
	UserDeleted           = "user_deleted"
	UserContactVerified   = "user_contact_verified"
	AccountFrozen         = "account_frozen"
	AccountUnfrozen       = "account_unfrozen"
	HoldStarted           = "hold_started"
	PrivilegeChanged      = "privilege_permissions_changed"
	SensitiveRead         = "sensitive_read"
	SensitiveCreate       = "sensitive_create"
	SensitiveUpdate       = "sensitive_update"
	SensitiveDelete       = "sensitive_delete"
	SessionCreated        = "session_created"
	SessionRenewed        = "session_renewed"
	SessionExpired        = "session_expired"
	SessionUseAfterExpire = "session_use_after_expire"

	// Abuse and input.
	ExcessRateLimitExceeded = "excess_rate_limit_exceeded"
	InputValidationFail     = "input_validation_fail"
	MaliciousInput          = "malicious_input"
	MaliciousDirectRef      = "malicious_direct_reference"
	SequenceFail            = "sequence_fail"

	// System.
	SysStartup  = "sys_startup"
	SysShutdown = "sys_shutdown"
	SysRestart  = "sys_restart"
	SysCrash    = "sys_crash"
)

// Outcomes of an event.
const (
	Success = "success"
	Failure = "failure"
)

// Event is one audit record. At defaults to now; it is kept to the
// microsecond, in UTC. Name is a snake_case event name (see the constants).
// Actor is who acted (a user or agent reference, or "system"), Subject
// whose data or account the event concerns (what List selects on).
type Event struct {
	At        time.Time
	Name      string
	Actor     string
	Subject   string
	IP        string
	DeviceID  string
	RequestID string
	Outcome   string
	CaseID    string
	Reason    string
	Details   map[string]string
}

// Entry is an Event read back from the log, with its place in the chain.
type Entry struct {
	Seq int64
	Event
}

// Limits on what one event stores; longer values are cut (on a character
// boundary) and marked with "…".
const (
	maxField      = 1024
	maxDetailKey  = 128
	maxDetailVal  = 2048
	maxDetailKeys = 64
)

// HashSize is the size of a chain hash.
const HashSize = sha256.Size

var genesis [HashSize]byte

// Genesis returns the prev_hash of the first row of the chain: 32 zero
// bytes.
func Genesis() []byte { return append([]byte(nil), genesis[:]...) }

// chainLock keys the PostgreSQL advisory lock that serialises appends
// ("okpayaud" in ASCII).
const chainLock int64 = 0x6f6b706179617564

// row is an audit_log row as stored.
type row struct {
	seq       int64
	at        int64 // Unix microseconds
	name      string
	actor     string
	subject   string
	ip        string
	deviceID  string
	requestID string
	outcome   string
	caseID    string
	reason    string
	details   map[string]string
	prevHash  []byte
	hash      []byte
}

const columns = `seq, at, event, actor, subject, ip, device_id, request_id, outcome, case_id, reason, details, prev_hash, hash`

// hashTag separates this encoding from any other use of SHA-256 and names
// its version.
const hashTag = "okpay/audit/v1"

// computeHash returns SHA-256(prev_hash ‖ canonical(r)). The canonical
// encoding is the tag, seq and at as 8-byte big-endian integers, then every
// text field and the number of details followed by each detail's key and
// value in key order, each as an 8-byte big-endian length and its bytes.
// Every field has a fixed place or an explicit length, so no two rows
// encode alike.
func (r *row) computeHash() []byte {
	h := sha256.New()
	h.Write(r.prevHash)
	b := make([]byte, 0, 256)
	b = appendString(b, hashTag)
	b = binary.BigEndian.AppendUint64(b, uint64(r.seq))
	b = binary.BigEndian.AppendUint64(b, uint64(r.at))
	for _, s := range [...]string{r.name, r.actor, r.subject, r.ip, r.deviceID, r.requestID, r.outcome, r.caseID, r.reason} {
		b = appendString(b, s)
	}
	keys := make([]string, 0, len(r.details))
	for k := range r.details {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b = binary.BigEndian.AppendUint64(b, uint64(len(keys)))
	for _, k := range keys {
		b = appendString(b, k)
		b = appendString(b, r.details[k])
	}
	h.Write(b)
	return h.Sum(nil)
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(len(s)))
	return append(b, s...)
}

// detailsJSON encodes details as a JSON object (keys sorted).
func detailsJSON(d map[string]string) (string, error) {
	if len(d) == 0 {
		return "{}", nil
	}
	b, err := json.Marshal(d)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// validName reports whether s is a snake_case event name.
func validName(s string) bool {
	if s == "" || len(s) > 64 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// clip cuts s to at most n bytes on a character boundary, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const mark = "…"
	cut := n - len(mark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}

// prepare validates ev and scrubs it into a row (without seq and hashes).
// Actor and Subject identify people and are what List looks up, so they
// are escaped but not searched for card numbers (which could make two
// identifiers alike); every other field goes through Scrub.
func prepare(ev Event) (*row, error) {
	bad := map[string]string{}
	if !validName(ev.Name) {
		bad["name"] = "must be a snake_case event name"
	}
	if ev.Outcome != Success && ev.Outcome != Failure {
		bad["outcome"] = `must be "success" or "failure"`
	}
	if len(ev.Details) > maxDetailKeys {
		bad["details"] = fmt.Sprintf("at most %d keys", maxDetailKeys)
	}
	if len(bad) > 0 {
		return nil, okpay.Invalid(bad)
	}
	at := ev.At
	if at.IsZero() {
		at = time.Now()
	}
	r := &row{
		at:        at.UnixMicro(),
		name:      ev.Name,
		actor:     clip(escape(ev.Actor), maxField),
		subject:   clip(escape(ev.Subject), maxField),
		ip:        clip(Scrub("ip", ev.IP), maxField),
		deviceID:  clip(Scrub("device_id", ev.DeviceID), maxField),
		requestID: clip(Scrub("request_id", ev.RequestID), maxField),
		outcome:   ev.Outcome,
		caseID:    clip(Scrub("case_id", ev.CaseID), maxField),
		reason:    clip(Scrub("reason", ev.Reason), maxField),
		details:   make(map[string]string, len(ev.Details)),
	}
	keys := make([]string, 0, len(ev.Details))
	for k := range ev.Details {
		keys = append(keys, k)
	}
	sort.Strings(keys) // two keys that escape alike: the last one wins, always the same
	for _, k := range keys {
		r.details[clip(escape(k), maxDetailKey)] = clip(Scrub(k, ev.Details[k]), maxDetailVal)
	}
	return r, nil
}

// Append adds ev to the audit log inside the caller's transaction tx, so
// that the event commits or rolls back with the change it describes, and
// returns its seq. Appends are serialised: on PostgreSQL by a
// transaction-scoped advisory lock taken first (tx should be READ COMMITTED,
// InTx's default; under a snapshot isolation a concurrent append shows as a
// retryable serialization failure), on SQLite by the single writer
// connection. Strings are scrubbed (see Scrub) before they are stored.
func Append(ctx context.Context, tx *sql.Tx, d sqldb.Dialect, ev Event) (seq int64, err error) {
	r, err := prepare(ev)
	if err != nil {
		return 0, err
	}
	details, err := detailsJSON(r.details)
	if err != nil {
		return 0, fmt.Errorf("audit: encode details: %w", err)
	}
	if d == sqldb.Postgres {
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("SELECT pg_advisory_xact_lock(%d)", chainLock)); err != nil {
			return 0, fmt.Errorf("audit: lock the chain: %w", err)
		}
	}
	var last int64
	var prev []byte
	err = tx.QueryRowContext(ctx, `SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1`).Scan(&last, &prev)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		last, prev = 0, genesis[:]
	case err != nil:
		return 0, fmt.Errorf("audit: read the chain head: %w", err)
	case len(prev) != HashSize:
		return 0, fmt.Errorf("audit: chain head %d has a %d-byte hash", last, len(prev))
	}
	r.seq = last + 1
	r.prevHash = prev
	r.hash = r.computeHash()
	_, err = tx.ExecContext(ctx, `INSERT INTO audit_log (`+columns+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14)`,
		r.seq, r.at, r.name, r.actor, r.subject, r.ip, r.deviceID, r.requestID, r.outcome, r.caseID, r.reason, details, r.prevHash, r.hash)
	if err != nil {
		if d == sqldb.Postgres && sqldb.IsUniqueViolation(err) {
			// Another append committed after this transaction's snapshot
			// was taken: the whole transaction must run again.
			err = &pgconn.PgError{Severity: "ERROR", Code: "40001", Message: "audit chain head moved: " + err.Error()}
		}
		return 0, fmt.Errorf("audit: append %s: %w", r.name, err)
	}
	return r.seq, nil
}
