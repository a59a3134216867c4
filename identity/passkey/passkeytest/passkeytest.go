// Package passkeytest is a software WebAuthn authenticator (and the bit of
// browser around it) for Go tests: it turns the options JSON a relying
// party sends to navigator.credentials.create/get into the JSON of the
// PublicKeyCredential the browser would send back.
//
// Each credential is an ECDSA P-256 (ES256) key pair kept in memory; the
// attestation is "none". Knobs let a test play a misbehaving client or a
// cloned authenticator: SetOrigin, SetSignCount, UV, the backup flags,
// ReuseCredential.
package passkeytest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/fxamacker/cbor/v2"
)

// Errors a browser would raise.
var (
	// ErrExcluded is returned by Create when excludeCredentials lists a
	// credential this authenticator holds for the RP (InvalidStateError).
	ErrExcluded = errors.New("passkeytest: the authenticator already holds an excluded credential")
	// ErrNoCredential is returned by Get when no credential fits the
	// options (NotAllowedError).
	ErrNoCredential = errors.New("passkeytest: no matching credential")
)

// AAGUID is the default AAGUID the authenticator reports.
var AAGUID = [16]byte{0x0c, 0x0a, 0x7e, 0x57, 0x50, 0xf7, 0x4a, 0x11, 0x9d, 0x8e, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06}

const algES256 = -7

// Authenticator is an in-memory platform authenticator bound to one origin
// and RP ID. Set the exported fields before use; the methods are safe for
// concurrent use.
type Authenticator struct {
	// UV sets the user-verified flag in every response (true from New).
	UV bool
	// BackupEligible and BackupState set the BE and BS flags (false from
	// New, like a device-bound key).
	BackupEligible, BackupState bool
	// AAGUID is reported at registration (the package AAGUID from New).
	AAGUID [16]byte
	// Transports are reported at registration (["hybrid", "internal"]
	// from New).
	Transports []string

	mu       sync.Mutex
	origin   string
	rpID     string
	creds    []*credential
	reuse    []byte
	selected []byte
}

type credential struct {
	id           []byte
	key          *ecdsa.PrivateKey
	rpID         string
	userHandle   []byte
	discoverable bool
	count        uint32 // last count reported
	noCounter    bool   // always reports 0, like synced passkeys
}

// New returns an authenticator in a browser at origin, signing for rpID
// (it signs for this RP ID whatever the options say, as a client that does
// not check them would).
func New(origin, rpID string) *Authenticator {
	return &Authenticator{
		UV:         true,
		AAGUID:     AAGUID,
		Transports: []string{"hybrid", "internal"},
		origin:     origin,
		rpID:       rpID,
	}
}

// SetOrigin changes the origin written into the client data from now on.
func (a *Authenticator) SetOrigin(origin string) {
	a.mu.Lock()
	a.origin = origin
	a.mu.Unlock()
}

// SetSignCount makes the next assertion with credential credID carry sign
// count n, and later ones n+1, n+2... With n == 0 the credential stops
// counting and reports 0 every time, as synced passkeys do.
func (a *Authenticator) SetSignCount(credID []byte, n uint32) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	c := a.find(credID)
	if c == nil {
		return fmt.Errorf("passkeytest: unknown credential %x", credID)
	}
	c.noCounter = n == 0
	if n > 0 {
		c.count = n - 1
	}
	return nil
}

// SignCount returns the last sign count credential credID reported.
func (a *Authenticator) SignCount(credID []byte) uint32 {
	a.mu.Lock()
	defer a.mu.Unlock()
	if c := a.find(credID); c != nil {
		return c.count
	}
	return 0
}

// CredentialIDs returns the ids of the credentials held, oldest first.
func (a *Authenticator) CredentialIDs() [][]byte {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([][]byte, len(a.creds))
	for i, c := range a.creds {
		out[i] = bytes.Clone(c.id)
	}
	return out
}

// ReuseCredential makes the next Create register credential credID again
// (same id and key) and ignore excludeCredentials, as a misbehaving client
// could.
func (a *Authenticator) ReuseCredential(credID []byte) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.find(credID) == nil {
		return fmt.Errorf("passkeytest: unknown credential %x", credID)
	}
	a.reuse = bytes.Clone(credID)
	return nil
}

// Select makes Get prefer credential credID when it fits the options (by
// default Get uses the newest credential that fits); nil clears it.
func (a *Authenticator) Select(credID []byte) {
	a.mu.Lock()
	a.selected = bytes.Clone(credID)
	a.mu.Unlock()
}

func (a *Authenticator) find(id []byte) *credential {
	for _, c := range a.creds {
		if bytes.Equal(c.id, id) {
			return c
		}
	}
	return nil
}

// b64 is a base64url value in JSON that accepts padding on input.
type b64 []byte

func (b *b64) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return err
	}
	v, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return fmt.Errorf("passkeytest: bad base64url %q: %w", s, err)
	}
	*b = v
	return nil
}

func (b b64) MarshalJSON() ([]byte, error) {
	return json.Marshal(base64.RawURLEncoding.EncodeToString(b))
}

type descriptor struct {
	Type string `json:"type"`
	ID   b64    `json:"id"`
}

type credParam struct {
	Type string `json:"type"`
	Alg  int64  `json:"alg"`
}

type creationOptions struct {
	RP struct {
		ID string `json:"id"`
	} `json:"rp"`
	User struct {
		ID b64 `json:"id"`
	} `json:"user"`
	Challenge              b64          `json:"challenge"`
	PubKeyCredParams       []credParam  `json:"pubKeyCredParams"`
	ExcludeCredentials     []descriptor `json:"excludeCredentials"`
	AuthenticatorSelection struct {
		ResidentKey        string `json:"residentKey"`
		RequireResidentKey bool   `json:"requireResidentKey"`
	} `json:"authenticatorSelection"`
}

type requestOptions struct {
	Challenge        b64          `json:"challenge"`
	RPID             string       `json:"rpId"`
	AllowCredentials []descriptor `json:"allowCredentials"`
}

// unwrap decodes options given either bare or as {"publicKey": {...}}.
func unwrap(optionsJSON []byte, v any) error {
	var outer struct {
		PublicKey json.RawMessage `json:"publicKey"`
	}
	if err := json.Unmarshal(optionsJSON, &outer); err != nil {
		return fmt.Errorf("passkeytest: options: %w", err)
	}
	inner := []byte(outer.PublicKey)
	if len(inner) == 0 {
		inner = optionsJSON
	}
	if err := json.Unmarshal(inner, v); err != nil {
		return fmt.Errorf("passkeytest: options: %w", err)
	}
	return nil
}

type clientData struct {
	Type        string `json:"type"`
	Challenge   string `json:"challenge"`
	Origin      string `json:"origin"`
	CrossOrigin bool   `json:"crossOrigin"`
}

func (a *Authenticator) clientDataJSON(typ string, challenge []byte) ([]byte, error) {
	if len(challenge) == 0 {
		return nil, errors.New("passkeytest: options carry no challenge")
	}
	return json.Marshal(clientData{Type: typ, Challenge: base64.RawURLEncoding.EncodeToString(challenge), Origin: a.origin})
}

const (
	flagUP = 0x01
	flagUV = 0x04
	flagBE = 0x08
	flagBS = 0x10
	flagAT = 0x40
)

func (a *Authenticator) flags() byte {
	f := byte(flagUP)
	if a.UV {
		f |= flagUV
	}
	if a.BackupEligible {
		f |= flagBE
	}
	if a.BackupState {
		f |= flagBS
	}
	return f
}

// authData is rpIdHash ‖ flags ‖ signCount (big-endian), the fixed part of
// the authenticator data.
func (a *Authenticator) authData(flags byte, count uint32) []byte {
	h := sha256.Sum256([]byte(a.rpID))
	b := append(h[:], flags)
	return binary.BigEndian.AppendUint32(b, count)
}

var ctap2 = func() cbor.EncMode {
	em, err := cbor.CTAP2EncOptions().EncMode()
	if err != nil {
		panic(err)
	}
	return em
}()

// coseKey encodes an ES256 public key as a COSE_Key (RFC 9052, EC2).
func coseKey(pub *ecdsa.PublicKey) ([]byte, error) {
	point, err := pub.Bytes() // 0x04 ‖ X ‖ Y
	if err != nil {
		return nil, err
	}
	return ctap2.Marshal(map[int]any{
		1:  2,        // kty: EC2
		3:  algES256, // alg: ES256
		-1: 1,        // crv: P-256
		-2: point[1:33],
		-3: point[33:65],
	})
}

type creationResponse struct {
	ID                      string              `json:"id"`
	RawID                   b64                 `json:"rawId"`
	Type                    string              `json:"type"`
	AuthenticatorAttachment string              `json:"authenticatorAttachment"`
	Response                attestationResponse `json:"response"`
	ClientExtensionResults  map[string]any      `json:"clientExtensionResults"`
}

type attestationResponse struct {
	ClientDataJSON     b64      `json:"clientDataJSON"`
	AttestationObject  b64      `json:"attestationObject"`
	AuthenticatorData  b64      `json:"authenticatorData"`
	PublicKey          b64      `json:"publicKey"`
	PublicKeyAlgorithm int64    `json:"publicKeyAlgorithm"`
	Transports         []string `json:"transports"`
}

// Create plays navigator.credentials.create with optionsJSON (a
// PublicKeyCredentialCreationOptions, bare or under "publicKey") and
// returns the JSON of the new PublicKeyCredential with a "none"
// attestation.
func (a *Authenticator) Create(optionsJSON []byte) ([]byte, error) {
	var o creationOptions
	if err := unwrap(optionsJSON, &o); err != nil {
		return nil, err
	}
	if len(o.PubKeyCredParams) > 0 && !slices.ContainsFunc(o.PubKeyCredParams, func(p credParam) bool { return p.Alg == algES256 }) {
		return nil, errors.New("passkeytest: ES256 is not among pubKeyCredParams")
	}
	if len(o.User.ID) == 0 || len(o.User.ID) > 64 {
		return nil, errors.New("passkeytest: user.id must be 1 to 64 bytes")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	var c *credential
	if a.reuse != nil {
		c = a.find(a.reuse)
		a.reuse = nil
	} else {
		for _, d := range o.ExcludeCredentials {
			if e := a.find(d.ID); e != nil && e.rpID == a.rpID {
				return nil, ErrExcluded
			}
		}
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		id := make([]byte, 32)
		if _, err := rand.Read(id); err != nil {
			return nil, err
		}
		c = &credential{
			id:           id,
			key:          key,
			rpID:         a.rpID,
			userHandle:   bytes.Clone(o.User.ID),
			discoverable: o.AuthenticatorSelection.ResidentKey == "required" || o.AuthenticatorSelection.ResidentKey == "preferred" || o.AuthenticatorSelection.RequireResidentKey,
		}
		a.creds = append(a.creds, c)
	}
	cdj, err := a.clientDataJSON("webauthn.create", o.Challenge)
	if err != nil {
		return nil, err
	}
	pk, err := coseKey(&c.key.PublicKey)
	if err != nil {
		return nil, err
	}
	var count uint32
	if !c.noCounter {
		count = c.count
	}
	ad := a.authData(a.flags()|flagAT, count)
	ad = append(ad, a.AAGUID[:]...)
	ad = binary.BigEndian.AppendUint16(ad, uint16(len(c.id)))
	ad = append(ad, c.id...)
	ad = append(ad, pk...)
	att, err := ctap2.Marshal(map[string]any{
		"fmt":      "none",
		"attStmt":  map[string]any{},
		"authData": ad,
	})
	if err != nil {
		return nil, err
	}
	spki, err := x509.MarshalPKIXPublicKey(&c.key.PublicKey)
	if err != nil {
		return nil, err
	}
	return json.Marshal(creationResponse{
		ID:                      base64.RawURLEncoding.EncodeToString(c.id),
		RawID:                   c.id,
		Type:                    "public-key",
		AuthenticatorAttachment: "platform",
		Response: attestationResponse{
			ClientDataJSON:     cdj,
			AttestationObject:  att,
			AuthenticatorData:  ad,
			PublicKey:          spki,
			PublicKeyAlgorithm: algES256,
			Transports:         slices.Clone(a.Transports),
		},
		ClientExtensionResults: map[string]any{},
	})
}

type assertionResponse struct {
	ID                      string         `json:"id"`
	RawID                   b64            `json:"rawId"`
	Type                    string         `json:"type"`
	AuthenticatorAttachment string         `json:"authenticatorAttachment"`
	Response                assertionData  `json:"response"`
	ClientExtensionResults  map[string]any `json:"clientExtensionResults"`
}

type assertionData struct {
	ClientDataJSON    b64 `json:"clientDataJSON"`
	AuthenticatorData b64 `json:"authenticatorData"`
	Signature         b64 `json:"signature"`
	UserHandle        b64 `json:"userHandle,omitempty"`
}

// Get plays navigator.credentials.get with optionsJSON (a
// PublicKeyCredentialRequestOptions, bare or under "publicKey") and
// returns the JSON of the assertion. With allowCredentials it uses one of
// those; without, one of its discoverable credentials, and the response
// then carries the user handle. It fails with ErrNoCredential when none
// fits.
func (a *Authenticator) Get(optionsJSON []byte) ([]byte, error) {
	var o requestOptions
	if err := unwrap(optionsJSON, &o); err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	var fits []*credential
	for _, c := range a.creds {
		if c.rpID != a.rpID {
			continue
		}
		if len(o.AllowCredentials) == 0 {
			if c.discoverable {
				fits = append(fits, c)
			}
			continue
		}
		for _, d := range o.AllowCredentials {
			if bytes.Equal(d.ID, c.id) {
				fits = append(fits, c)
				break
			}
		}
	}
	if len(fits) == 0 {
		return nil, ErrNoCredential
	}
	c := fits[len(fits)-1]
	for _, f := range fits {
		if a.selected != nil && bytes.Equal(f.id, a.selected) {
			c = f
		}
	}
	cdj, err := a.clientDataJSON("webauthn.get", o.Challenge)
	if err != nil {
		return nil, err
	}
	var count uint32
	if !c.noCounter {
		c.count++
		count = c.count
	}
	ad := a.authData(a.flags(), count)
	cdh := sha256.Sum256(cdj)
	digest := sha256.Sum256(append(bytes.Clone(ad), cdh[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, c.key, digest[:])
	if err != nil {
		return nil, err
	}
	resp := assertionResponse{
		ID:                      base64.RawURLEncoding.EncodeToString(c.id),
		RawID:                   c.id,
		Type:                    "public-key",
		AuthenticatorAttachment: "platform",
		Response: assertionData{
			ClientDataJSON:    cdj,
			AuthenticatorData: ad,
			Signature:         sig,
		},
		ClientExtensionResults: map[string]any{},
	}
	if c.discoverable {
		resp.Response.UserHandle = c.userHandle
	}
	return json.Marshal(resp)
}
