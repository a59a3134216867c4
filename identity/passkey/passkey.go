// Package passkey registers WebAuthn passkeys and checks assertions made
// with them (SECURITY.md MFA-08), on top of github.com/go-webauthn/webauthn.
//
// A ceremony is a flow: Begin* stores the go-webauthn SessionData (with its
// 32-byte random challenge) in webauthn_flows under a random flow id and
// returns the options for the browser; Finish* consumes the flow exactly
// once (a compare-and-set on used_at, before anything is verified), so a
// challenge can neither be replayed nor retried. Flows expire after
// Config.Timeout (at most 5 minutes) by the injected clock.
//
// Registration asks for attestation "none", a discoverable credential
// (resident key) and user verification, and excludes the user's existing
// passkeys. Login either names the user's passkeys (second factor) or is
// discoverable (the passkey is the only factor; user verification is then
// always required). The WebAuthn user handle is the 8-byte big-endian user
// id, which carries no personal data.
//
// Policy that spans factors — re-authentication before removing a passkey,
// keeping one second factor enrolled, notifications and cooling-off
// (MFA-09), raising the security alert for a cloned authenticator — is the
// caller's; this package gives it Count and the error codes below.
package passkey

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/clock"
	"github.com/okpay/okpay/sqldb"
)

// Error codes of this package (see okpay.ErrorCode).
const (
	// EExists: the credential is already registered (to this or another
	// user).
	EExists = "passkey_exists"
	// ECloned: the signature counter did not increase, which suggests a
	// cloned authenticator. The caller raises a security alert.
	ECloned = "passkey_cloned"
	// EFlowInvalid: the flow is unknown, expired, already used, or belongs
	// to another user or ceremony. The client starts again.
	EFlowInvalid = "passkey_flow_invalid"
	// EInvalid: the authenticator response did not verify (signature,
	// origin, RP ID, challenge, user verification, unknown credential...).
	EInvalid = "passkey_invalid"
)

// Timeouts of a ceremony.
const (
	DefaultTimeout = 5 * time.Minute
	MaxTimeout     = 5 * time.Minute
)

// Limits on what callers and clients send.
const (
	MaxLabelLen    = 64       // characters
	MaxNameLen     = 256      // bytes, User.Name and User.DisplayName
	MaxResponseLen = 64 << 10 // bytes of authenticator response JSON
	maxTransports  = 8
)

const (
	purposeRegister = "register"
	purposeLogin    = "login"
)

// Config configures the relying party.
type Config struct {
	// RPID is the fixed relying party id, e.g. "okpay.example": the
	// origins' host or a registrable suffix of it.
	RPID string
	// RPDisplayName is shown by the browser during registration.
	RPDisplayName string
	// Origins lists the accepted origins ("https://okpay.example"); a
	// response collected at any other origin is rejected. http:// is
	// accepted for localhost only.
	Origins []string
	// Timeout bounds a ceremony: 0 means DefaultTimeout; more than
	// MaxTimeout is an error.
	Timeout time.Duration
}

// User is the account a passkey is registered to.
type User struct {
	ID          int64
	Name        string // e.g. the e-mail or phone shown in the passkey picker
	DisplayName string // defaults to Name
}

// Credential is a registered passkey (never its public key).
type Credential struct {
	ID             int64
	UserID         int64
	CredentialID   []byte
	AAGUID         []byte
	Transports     []string
	BackupEligible bool
	BackupState    bool
	SignCount      uint32
	Label          string
	CreatedAt      time.Time
	LastUsedAt     *time.Time
}

// Service registers passkeys and verifies assertions.
type Service struct {
	db      *sqldb.DB
	clock   clock.Clock
	wa      *webauthn.WebAuthn
	timeout time.Duration
}

// New returns a Service for cfg.
func New(db *sqldb.DB, c clock.Clock, cfg Config) (*Service, error) {
	if db == nil || c == nil {
		return nil, errors.New("passkey: a database and a clock are required")
	}
	timeout := cfg.Timeout
	switch {
	case timeout == 0:
		timeout = DefaultTimeout
	case timeout < time.Second || timeout > MaxTimeout:
		return nil, fmt.Errorf("passkey: timeout %v is outside 1s..%v", timeout, MaxTimeout)
	}
	rpID := strings.ToLower(strings.TrimSpace(cfg.RPID))
	if rpID == "" {
		return nil, errors.New("passkey: an RP ID is required")
	}
	if strings.TrimSpace(cfg.RPDisplayName) == "" {
		return nil, errors.New("passkey: an RP display name is required")
	}
	if len(cfg.Origins) == 0 {
		return nil, errors.New("passkey: at least one origin is required")
	}
	for _, o := range cfg.Origins {
		if err := checkOrigin(o, rpID); err != nil {
			return nil, err
		}
	}
	wa, err := webauthn.New(&webauthn.Config{
		RPID:                  rpID,
		RPDisplayName:         cfg.RPDisplayName,
		RPOrigins:             append([]string(nil), cfg.Origins...),
		AttestationPreference: protocol.PreferNoAttestation,
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			RequireResidentKey: protocol.ResidentKeyRequired(),
			ResidentKey:        protocol.ResidentKeyRequirementRequired,
			UserVerification:   protocol.VerificationRequired,
		},
		// Expiry is enforced on the flow row with the injected clock, not
		// by go-webauthn (which reads the wall clock).
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Timeout: timeout, TimeoutUVD: timeout},
			Registration: webauthn.TimeoutConfig{Timeout: timeout, TimeoutUVD: timeout},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("passkey: %w", err)
	}
	return &Service{db: db, clock: c, wa: wa, timeout: timeout}, nil
}

// checkOrigin rejects origins a browser would never pair with rpID.
func checkOrigin(origin, rpID string) error {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("passkey: origin %q is not scheme://host[:port]", origin)
	}
	host := strings.ToLower(u.Hostname())
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && (host == "localhost" || strings.HasSuffix(host, ".localhost")):
	default:
		return fmt.Errorf("passkey: origin %q must use https (http only for localhost)", origin)
	}
	if host != rpID && !strings.HasSuffix(host, "."+rpID) {
		return fmt.Errorf("passkey: origin %q is not within RP ID %q", origin, rpID)
	}
	return nil
}

// userHandle is the WebAuthn user handle of a user: the 8-byte big-endian id.
func userHandle(id int64) []byte {
	return binary.BigEndian.AppendUint64(nil, uint64(id))
}

// userFromHandle reverses userHandle.
func userFromHandle(h []byte) (int64, bool) {
	if len(h) != 8 {
		return 0, false
	}
	id := int64(binary.BigEndian.Uint64(h))
	return id, id > 0
}

// waUser adapts a user and their passkeys to webauthn.User.
type waUser struct {
	id          int64
	name        string
	displayName string
	creds       []webauthn.Credential
}

func (u *waUser) WebAuthnID() []byte                         { return userHandle(u.id) }
func (u *waUser) WebAuthnName() string                       { return u.name }
func (u *waUser) WebAuthnDisplayName() string                { return u.displayName }
func (u *waUser) WebAuthnCredentials() []webauthn.Credential { return u.creds }

// stored is a passkey row.
type stored struct {
	Credential
	publicKey       []byte
	userVerified    bool
	attestationType string
}

func (r *stored) webauthn() webauthn.Credential {
	flags := protocol.FlagUserPresent
	if r.userVerified {
		flags |= protocol.FlagUserVerified
	}
	if r.BackupEligible {
		flags |= protocol.FlagBackupEligible
	}
	if r.BackupState {
		flags |= protocol.FlagBackupState
	}
	tr := make([]protocol.AuthenticatorTransport, len(r.Transports))
	for i, t := range r.Transports {
		tr[i] = protocol.AuthenticatorTransport(t)
	}
	return webauthn.Credential{
		ID:              r.CredentialID,
		PublicKey:       r.publicKey,
		AttestationType: r.attestationType,
		Transport:       tr,
		Flags:           webauthn.NewCredentialFlags(flags),
		Authenticator:   webauthn.Authenticator{AAGUID: r.AAGUID, SignCount: r.SignCount},
	}
}

func newWAUser(id int64, rows []stored) *waUser {
	u := &waUser{id: id}
	for i := range rows {
		u.creds = append(u.creds, rows[i].webauthn())
	}
	return u
}

const passkeyColumns = `id, user_id, credential_id, aaguid, transports, backup_eligible, backup_state, sign_count,
	label, created_at, last_used_at, public_key, user_verified, attestation_type`

type scanner interface{ Scan(dest ...any) error }

func scanStored(sc scanner) (stored, error) {
	var r stored
	var transports string
	var signCount, created int64
	var lastUsed sql.NullInt64
	if err := sc.Scan(&r.ID, &r.UserID, &r.CredentialID, &r.AAGUID, &transports, &r.BackupEligible, &r.BackupState,
		&signCount, &r.Label, &created, &lastUsed, &r.publicKey, &r.userVerified, &r.attestationType); err != nil {
		return r, err
	}
	r.Transports = splitTransports(transports)
	r.SignCount = uint32(signCount)
	r.CreatedAt = time.UnixMicro(created).UTC()
	if lastUsed.Valid {
		t := time.UnixMicro(lastUsed.Int64).UTC()
		r.LastUsedAt = &t
	}
	return r, nil
}

// load returns the user's passkeys that are not deleted, oldest first.
func (s *Service) load(ctx context.Context, userID int64) ([]stored, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT `+passkeyColumns+` FROM passkeys
		WHERE user_id = $1 AND deleted_at IS NULL ORDER BY created_at, id`, userID)
	if err != nil {
		return nil, okpay.Internal(err, "read passkeys")
	}
	defer rows.Close()
	var out []stored
	for rows.Next() {
		r, err := scanStored(rows)
		if err != nil {
			return nil, okpay.Internal(err, "read passkeys")
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, okpay.Internal(err, "read passkeys")
	}
	return out, nil
}

// List returns the user's passkeys, oldest first.
func (s *Service) List(ctx context.Context, userID int64) ([]Credential, error) {
	rows, err := s.load(ctx, userID)
	if err != nil {
		return nil, err
	}
	out := make([]Credential, len(rows))
	for i := range rows {
		out[i] = rows[i].Credential
	}
	return out, nil
}

// Count returns how many passkeys the user has.
func (s *Service) Count(ctx context.Context, userID int64) (int, error) {
	var n int
	if err := s.db.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM passkeys WHERE user_id = $1 AND deleted_at IS NULL`, userID).Scan(&n); err != nil {
		return 0, okpay.Internal(err, "count passkeys")
	}
	return n, nil
}

// Delete removes passkey id of userID. Another user's passkey, or one
// already removed, is ENotFound. MFA-09 checks (re-authentication, one
// factor left) are the caller's.
func (s *Service) Delete(ctx context.Context, userID, id int64) error {
	res, err := s.db.Write.ExecContext(ctx, `UPDATE passkeys SET deleted_at = $1 WHERE id = $2 AND user_id = $3 AND deleted_at IS NULL`,
		s.clock.Now().UnixMicro(), id, userID)
	if err != nil {
		return okpay.Internal(err, "delete passkey")
	}
	if n, err := res.RowsAffected(); err != nil {
		return okpay.Internal(err, "delete passkey")
	} else if n == 0 {
		return okpay.Errorf(okpay.ENotFound, "no such passkey")
	}
	return nil
}

// PruneFlows deletes expired flows and returns how many it deleted.
func (s *Service) PruneFlows(ctx context.Context) (int64, error) {
	res, err := s.db.Write.ExecContext(ctx, `DELETE FROM webauthn_flows WHERE expires_at <= $1`, s.clock.Now().UnixMicro())
	if err != nil {
		return 0, okpay.Internal(err, "prune passkey flows")
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// BeginRegistration starts registering a passkey for u. It returns the
// options for navigator.credentials.create (a go-webauthn
// CredentialCreation, {"publicKey": {...}}) and the flow id to pass to
// FinishRegistration.
func (s *Service) BeginRegistration(ctx context.Context, u User) (options []byte, flowID string, err error) {
	if err := validUser(&u); err != nil {
		return nil, "", err
	}
	rows, err := s.load(ctx, u.ID)
	if err != nil {
		return nil, "", err
	}
	user := newWAUser(u.ID, rows)
	user.name, user.displayName = u.Name, u.DisplayName
	exclude := webauthn.Credentials(user.creds).CredentialDescriptors()
	creation, session, err := s.wa.BeginRegistration(user,
		webauthn.WithExclusions(exclude),
		webauthn.WithConveyancePreference(protocol.PreferNoAttestation),
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
			RequireResidentKey: protocol.ResidentKeyRequired(),
			ResidentKey:        protocol.ResidentKeyRequirementRequired,
			UserVerification:   protocol.VerificationRequired,
		}),
	)
	if err != nil {
		return nil, "", okpay.Internal(err, "begin passkey registration")
	}
	return s.startFlow(ctx, u.ID, purposeRegister, creation, session)
}

// FinishRegistration verifies the authenticator's response (the JSON of
// the PublicKeyCredential from navigator.credentials.create) to flow
// flowID of u and stores the passkey under label. The flow is consumed
// whatever the outcome. Errors: EFlowInvalid, EInvalid, EExists.
func (s *Service) FinishRegistration(ctx context.Context, u User, flowID string, response []byte, label string) (Credential, error) {
	label, err := validLabel(label)
	if err != nil {
		return Credential{}, err
	}
	if u.ID <= 0 {
		return Credential{}, okpay.Invalid(map[string]string{"user": "a user id is required"})
	}
	_, session, err := s.consumeFlow(ctx, flowID, purposeRegister, u.ID)
	if err != nil {
		return Credential{}, err
	}
	if len(response) > MaxResponseLen {
		return Credential{}, invalid(nil)
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(response)
	if err != nil {
		return Credential{}, invalid(err)
	}
	cred, err := s.wa.CreateCredential(&waUser{id: u.ID, name: u.Name, displayName: u.DisplayName}, *session, parsed)
	if err != nil {
		return Credential{}, invalid(err)
	}
	now := s.clock.Now()
	r := stored{
		Credential: Credential{
			UserID:         u.ID,
			CredentialID:   cred.ID,
			AAGUID:         cred.Authenticator.AAGUID,
			Transports:     cleanTransports(cred.Transport),
			BackupEligible: cred.Flags.BackupEligible,
			BackupState:    cred.Flags.BackupState,
			SignCount:      cred.Authenticator.SignCount,
			Label:          label,
			CreatedAt:      time.UnixMicro(now.UnixMicro()).UTC(),
		},
		publicKey:       cred.PublicKey,
		userVerified:    cred.Flags.UserVerified,
		attestationType: cred.AttestationType,
	}
	if r.AAGUID == nil {
		r.AAGUID = []byte{}
	}
	err = s.db.Write.QueryRowContext(ctx, `INSERT INTO passkeys(user_id, credential_id, public_key, aaguid, sign_count,
		transports, backup_eligible, backup_state, user_verified, attestation_type, label, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id`,
		r.UserID, r.CredentialID, r.publicKey, r.AAGUID, int64(r.SignCount), strings.Join(r.Transports, ","),
		r.BackupEligible, r.BackupState, r.userVerified, r.attestationType, r.Label, now.UnixMicro()).Scan(&r.ID)
	if sqldb.IsUniqueViolation(err) {
		return Credential{}, okpay.Errorf(EExists, "this passkey is already registered")
	}
	if err != nil {
		return Credential{}, okpay.Internal(err, "store passkey")
	}
	return r.Credential, nil
}

// BeginLogin starts an assertion. With userID > 0 the options list that
// user's passkeys (second-factor use; user verification required when
// requireUV, else preferred); a user without passkeys is ENotFound. With
// userID == 0 the login is discoverable: the authenticator picks the
// passkey and user verification is always required, as the passkey is the
// only factor. options is a go-webauthn CredentialAssertion for
// navigator.credentials.get ({"publicKey": {...}}).
func (s *Service) BeginLogin(ctx context.Context, userID int64, requireUV bool) (options []byte, flowID string, err error) {
	var (
		assertion *protocol.CredentialAssertion
		session   *webauthn.SessionData
	)
	switch {
	case userID < 0:
		return nil, "", okpay.Invalid(map[string]string{"user": "invalid user id"})
	case userID == 0:
		assertion, session, err = s.wa.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
	default:
		rows, lerr := s.load(ctx, userID)
		if lerr != nil {
			return nil, "", lerr
		}
		if len(rows) == 0 {
			return nil, "", okpay.Errorf(okpay.ENotFound, "no passkey is registered")
		}
		uv := protocol.VerificationPreferred
		if requireUV {
			uv = protocol.VerificationRequired
		}
		assertion, session, err = s.wa.BeginLogin(newWAUser(userID, rows), webauthn.WithUserVerification(uv))
	}
	if err != nil {
		return nil, "", okpay.Internal(err, "begin passkey login")
	}
	return s.startFlow(ctx, userID, purposeLogin, assertion, session)
}

// FinishLogin verifies the assertion (the JSON of the PublicKeyCredential
// from navigator.credentials.get) for flow flowID and returns the user it
// authenticates and the passkey used, with its new sign count. For a
// discoverable flow the user comes from the response's user handle. The
// flow is consumed whatever the outcome. Errors: EFlowInvalid, EInvalid,
// ECloned — which comes with the user id and the stored credential so the
// caller can raise the security alert.
func (s *Service) FinishLogin(ctx context.Context, flowID string, response []byte) (userID int64, cred Credential, err error) {
	flowUser, session, err := s.consumeFlow(ctx, flowID, purposeLogin, -1)
	if err != nil {
		return 0, Credential{}, err
	}
	if len(response) > MaxResponseLen {
		return 0, Credential{}, invalid(nil)
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(response)
	if err != nil {
		return 0, Credential{}, invalid(err)
	}
	var rows []stored
	if flowUser > 0 {
		userID = flowUser
		if rows, err = s.load(ctx, userID); err != nil {
			return 0, Credential{}, err
		}
		if _, err = s.wa.ValidateLogin(newWAUser(userID, rows), *session, parsed); err != nil {
			return 0, Credential{}, invalid(err)
		}
	} else {
		var loadErr error
		handler := func(rawID, handle []byte) (webauthn.User, error) {
			id, ok := userFromHandle(handle)
			if !ok {
				return nil, errors.New("malformed user handle")
			}
			userID = id
			if rows, loadErr = s.load(ctx, id); loadErr != nil {
				return nil, loadErr
			}
			if len(rows) == 0 {
				return nil, errors.New("no passkeys for the user handle")
			}
			return newWAUser(id, rows), nil
		}
		if _, _, err = s.wa.ValidatePasskeyLogin(handler, *session, parsed); err != nil {
			if loadErr != nil {
				return 0, Credential{}, loadErr
			}
			return 0, Credential{}, invalid(err)
		}
	}
	var r *stored
	for i := range rows {
		if bytes.Equal(rows[i].CredentialID, parsed.RawID) {
			r = &rows[i]
			break
		}
	}
	if r == nil { // go-webauthn found it among the user's passkeys
		return 0, Credential{}, okpay.Internal(errors.New("verified credential not found"), "finish passkey login")
	}
	return s.recordUse(ctx, r, parsed.Response.AuthenticatorData)
}

// recordUse applies the sign-count rule and stores the new count, backup
// state and last use.
func (s *Service) recordUse(ctx context.Context, r *stored, ad protocol.AuthenticatorData) (int64, Credential, error) {
	cloned := okpay.Errorf(ECloned, "this passkey's signature counter went backwards; it may have been cloned")
	count := ad.Counter
	if (r.SignCount > 0 || count > 0) && count <= r.SignCount {
		return r.UserID, r.Credential, cloned
	}
	now := s.clock.Now()
	bs := ad.Flags.HasBackupState()
	// The condition repeats the rule so two concurrent assertions cannot
	// both move the counter to the same value.
	res, err := s.db.Write.ExecContext(ctx, `UPDATE passkeys SET sign_count = $1, last_used_at = $2, backup_state = $3
		WHERE id = $4 AND deleted_at IS NULL AND (sign_count < $1 OR ($1 = 0 AND sign_count = 0))`,
		int64(count), now.UnixMicro(), bs, r.ID)
	if err != nil {
		return 0, Credential{}, okpay.Internal(err, "record passkey use")
	}
	if n, err := res.RowsAffected(); err != nil {
		return 0, Credential{}, okpay.Internal(err, "record passkey use")
	} else if n == 0 {
		var deleted sql.NullInt64
		err := s.db.Write.QueryRowContext(ctx, `SELECT deleted_at FROM passkeys WHERE id = $1`, r.ID).Scan(&deleted)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return 0, Credential{}, okpay.Internal(err, "record passkey use")
		}
		if err != nil || deleted.Valid {
			return 0, Credential{}, invalid(errors.New("passkey deleted during login"))
		}
		return r.UserID, r.Credential, cloned
	}
	c := r.Credential
	c.SignCount = count
	c.BackupState = bs
	t := time.UnixMicro(now.UnixMicro()).UTC()
	c.LastUsedAt = &t
	return c.UserID, c, nil
}

// startFlow stores the session of a new ceremony and returns the options
// JSON and the flow id.
func (s *Service) startFlow(ctx context.Context, userID int64, purpose string, options any, session *webauthn.SessionData) ([]byte, string, error) {
	opts, err := json.Marshal(options)
	if err != nil {
		return nil, "", okpay.Internal(err, "encode passkey options")
	}
	sess, err := json.Marshal(session)
	if err != nil {
		return nil, "", okpay.Internal(err, "encode passkey session")
	}
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, "", okpay.Internal(err, "generate flow id")
	}
	id := base64.RawURLEncoding.EncodeToString(b[:])
	now := s.clock.Now()
	if _, err := s.db.Write.ExecContext(ctx, `INSERT INTO webauthn_flows(id, user_id, purpose, session_data, expires_at, created_at)
		VALUES ($1, $2, $3, $4, $5, $6)`, id, userID, purpose, string(sess), now.Add(s.timeout).UnixMicro(), now.UnixMicro()); err != nil {
		return nil, "", okpay.Internal(err, "store passkey flow")
	}
	return opts, id, nil
}

// consumeFlow marks flow id used if it is unused, unexpired, of purpose
// and (when userID >= 0) of userID, and returns its user and session.
func (s *Service) consumeFlow(ctx context.Context, id, purpose string, userID int64) (int64, *webauthn.SessionData, error) {
	flowInvalid := okpay.Errorf(EFlowInvalid, "this passkey request has expired or was already used; please start again")
	if id == "" || len(id) > 64 {
		return 0, nil, flowInvalid
	}
	now := s.clock.Now().UnixMicro()
	var (
		owner int64
		data  string
	)
	q := `UPDATE webauthn_flows SET used_at = $1
		WHERE id = $2 AND purpose = $3 AND used_at IS NULL AND expires_at > $1`
	args := []any{now, id, purpose}
	if userID >= 0 {
		q += ` AND user_id = $4`
		args = append(args, userID)
	}
	err := s.db.Write.QueryRowContext(ctx, q+` RETURNING user_id, session_data`, args...).Scan(&owner, &data)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil, flowInvalid
	}
	if err != nil {
		return 0, nil, okpay.Internal(err, "consume passkey flow")
	}
	session := new(webauthn.SessionData)
	if err := json.Unmarshal([]byte(data), session); err != nil {
		return 0, nil, okpay.Internal(err, "decode passkey flow")
	}
	return owner, session, nil
}

// invalid is the EInvalid error; the cause is kept for logs and never
// shown.
func invalid(cause error) error {
	e := okpay.Errorf(EInvalid, "the passkey could not be verified")
	if cause == nil {
		return e
	}
	return fmt.Errorf("%w: %w", e, cause)
}

func validUser(u *User) error {
	u.Name = strings.TrimSpace(u.Name)
	u.DisplayName = strings.TrimSpace(u.DisplayName)
	if u.DisplayName == "" {
		u.DisplayName = u.Name
	}
	fields := map[string]string{}
	if u.ID <= 0 {
		fields["user"] = "a user id is required"
	}
	if u.Name == "" || len(u.Name) > MaxNameLen || !printable(u.Name) {
		fields["name"] = "a printable name is required"
	}
	if len(u.DisplayName) > MaxNameLen || !printable(u.DisplayName) {
		fields["display_name"] = "the display name is too long or not printable"
	}
	if len(fields) > 0 {
		return okpay.Invalid(fields)
	}
	return nil
}

func validLabel(label string) (string, error) {
	label = strings.TrimSpace(label)
	if utf8.RuneCountInString(label) > MaxLabelLen || !printable(label) {
		return "", okpay.Invalid(map[string]string{"label": fmt.Sprintf("a label of at most %d printable characters", MaxLabelLen)})
	}
	return label, nil
}

func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return false
		}
	}
	return true
}

var transportRE = regexp.MustCompile(`^[a-z0-9-]{1,32}$`)

// cleanTransports keeps well-formed, distinct transport names (they come
// from the client).
func cleanTransports(in []protocol.AuthenticatorTransport) []string {
	out := []string{}
	for _, t := range in {
		v := string(t)
		if len(out) == maxTransports || !transportRE.MatchString(v) || slices.Contains(out, v) {
			continue
		}
		out = append(out, v)
	}
	return out
}

func splitTransports(s string) []string {
	if s == "" {
		return []string{}
	}
	return strings.Split(s, ",")
}
