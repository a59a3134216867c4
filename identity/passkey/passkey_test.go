package passkey_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/clock"
	"github.com/okpay/okpay/identity/passkey"
	"github.com/okpay/okpay/identity/passkey/passkeytest"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

const (
	origin = "https://okpay.test"
	rpID   = "okpay.test"
)

var (
	t0    = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	alice = passkey.User{ID: 1 << 40, Name: "alice@example.com", DisplayName: "Alice"}
	bob   = passkey.User{ID: 7, Name: "+8613800000000"}
	ctx   = context.Background()
)

func newService(t *testing.T, db *sqldb.DB) (*passkey.Service, *clock.Manual) {
	t.Helper()
	clk := clock.NewManual(t0)
	s, err := passkey.New(db, clk, passkey.Config{RPID: rpID, RPDisplayName: "OKPay", Origins: []string{origin}})
	if err != nil {
		t.Fatal(err)
	}
	return s, clk
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := okpay.ErrorCode(err); got != code {
		t.Fatalf("error %v: code %q, want %q", err, got, code)
	}
}

// wantCause checks the logged cause of an EInvalid error.
func wantCause(t *testing.T, err error, substr string) {
	t.Helper()
	wantCode(t, err, passkey.EInvalid)
	if !strings.Contains(err.Error(), substr) {
		t.Fatalf("error %v does not mention %q", err, substr)
	}
}

func register(t *testing.T, s *passkey.Service, a *passkeytest.Authenticator, u passkey.User, label string) passkey.Credential {
	t.Helper()
	opts, flow, err := s.BeginRegistration(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := a.Create(opts)
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.FinishRegistration(ctx, u, flow, resp, label)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func login(t *testing.T, s *passkey.Service, a *passkeytest.Authenticator, userID int64, requireUV bool) (int64, passkey.Credential, error) {
	t.Helper()
	opts, flow, err := s.BeginLogin(ctx, userID, requireUV)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := a.Get(opts)
	if err != nil {
		t.Fatal(err)
	}
	return s.FinishLogin(ctx, flow, resp)
}

// creationOptions is the part of the registration options the tests look at.
type creationOptions struct {
	PublicKey struct {
		RP struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"rp"`
		User struct {
			ID          string `json:"id"`
			Name        string `json:"name"`
			DisplayName string `json:"displayName"`
		} `json:"user"`
		Challenge              string `json:"challenge"`
		Timeout                int    `json:"timeout"`
		Attestation            string `json:"attestation"`
		AuthenticatorSelection struct {
			ResidentKey        string `json:"residentKey"`
			RequireResidentKey bool   `json:"requireResidentKey"`
			UserVerification   string `json:"userVerification"`
		} `json:"authenticatorSelection"`
		ExcludeCredentials []descriptor `json:"excludeCredentials"`
	} `json:"publicKey"`
}

type requestOptions struct {
	PublicKey struct {
		Challenge        string       `json:"challenge"`
		Timeout          int          `json:"timeout"`
		RPID             string       `json:"rpId"`
		AllowCredentials []descriptor `json:"allowCredentials"`
		UserVerification string       `json:"userVerification"`
	} `json:"publicKey"`
}

type descriptor struct {
	Type       string   `json:"type"`
	ID         string   `json:"id"`
	Transports []string `json:"transports"`
}

func decode(t *testing.T, data []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%v in %s", err, data)
	}
}

func unb64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestMFA08_RegisterThenLoginAsSecondFactor(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		s, clk := newService(t, db)
		a := passkeytest.New(origin, rpID)

		opts, flow, err := s.BeginRegistration(ctx, alice)
		if err != nil {
			t.Fatal(err)
		}
		var co creationOptions
		decode(t, opts, &co)
		pk := co.PublicKey
		if pk.RP.ID != rpID || pk.RP.Name != "OKPay" {
			t.Errorf("rp = %+v", pk.RP)
		}
		if got := unb64(t, pk.User.ID); !bytes.Equal(got, binary.BigEndian.AppendUint64(nil, uint64(alice.ID))) {
			t.Errorf("user handle %x is not the 8-byte id", got)
		}
		if pk.User.Name != alice.Name || pk.User.DisplayName != alice.DisplayName {
			t.Errorf("user = %+v", pk.User)
		}
		if n := len(unb64(t, pk.Challenge)); n != 32 {
			t.Errorf("challenge of %d bytes, want 32", n)
		}
		if pk.Attestation != "none" {
			t.Errorf("attestation %q", pk.Attestation)
		}
		sel := pk.AuthenticatorSelection
		if sel.ResidentKey != "required" || !sel.RequireResidentKey || sel.UserVerification != "required" {
			t.Errorf("authenticatorSelection = %+v", sel)
		}
		if pk.Timeout != 300000 {
			t.Errorf("timeout %d ms", pk.Timeout)
		}
		if len(pk.ExcludeCredentials) != 0 {
			t.Errorf("excludeCredentials = %v for a user without passkeys", pk.ExcludeCredentials)
		}

		resp, err := a.Create(opts)
		if err != nil {
			t.Fatal(err)
		}
		c, err := s.FinishRegistration(ctx, alice, flow, resp, "  Laptop ")
		if err != nil {
			t.Fatal(err)
		}
		if c.ID == 0 || c.UserID != alice.ID || c.Label != "Laptop" || !c.CreatedAt.Equal(t0) || c.LastUsedAt != nil {
			t.Errorf("credential = %+v", c)
		}
		if ids := a.CredentialIDs(); !bytes.Equal(c.CredentialID, ids[0]) {
			t.Errorf("credential id %x, authenticator holds %x", c.CredentialID, ids[0])
		}
		if n, err := s.Count(ctx, alice.ID); err != nil || n != 1 {
			t.Fatalf("Count = %d, %v", n, err)
		}

		// Second factor: the options name the user's passkey.
		clk.Advance(time.Minute)
		opts, flow, err = s.BeginLogin(ctx, alice.ID, true)
		if err != nil {
			t.Fatal(err)
		}
		var ro requestOptions
		decode(t, opts, &ro)
		if ro.PublicKey.RPID != rpID || ro.PublicKey.UserVerification != "required" || len(unb64(t, ro.PublicKey.Challenge)) != 32 {
			t.Errorf("request options = %+v", ro.PublicKey)
		}
		if len(ro.PublicKey.AllowCredentials) != 1 || !bytes.Equal(unb64(t, ro.PublicKey.AllowCredentials[0].ID), c.CredentialID) {
			t.Fatalf("allowCredentials = %+v", ro.PublicKey.AllowCredentials)
		}
		resp, err = a.Get(opts)
		if err != nil {
			t.Fatal(err)
		}
		uid, used, err := s.FinishLogin(ctx, flow, resp)
		if err != nil {
			t.Fatal(err)
		}
		if uid != alice.ID || used.ID != c.ID || used.SignCount != 1 || used.LastUsedAt == nil || !used.LastUsedAt.Equal(t0.Add(time.Minute)) {
			t.Errorf("login = %d, %+v", uid, used)
		}
		list, err := s.List(ctx, alice.ID)
		if err != nil || len(list) != 1 || list[0].SignCount != 1 || list[0].LastUsedAt == nil {
			t.Fatalf("List = %+v, %v", list, err)
		}

		// Without requireUV the options only prefer verification, and an
		// assertion without it passes; with requireUV it does not.
		a.UV = false
		opts, flow, err = s.BeginLogin(ctx, alice.ID, false)
		if err != nil {
			t.Fatal(err)
		}
		decode(t, opts, &ro)
		if ro.PublicKey.UserVerification != "preferred" {
			t.Errorf("userVerification %q without requireUV", ro.PublicKey.UserVerification)
		}
		resp, _ = a.Get(opts)
		if _, _, err := s.FinishLogin(ctx, flow, resp); err != nil {
			t.Fatalf("presence-only second factor: %v", err)
		}
		_, _, err = login(t, s, a, alice.ID, true)
		wantCode(t, err, passkey.EInvalid)

		// Registration requires user verification.
		noUV := passkeytest.New(origin, rpID)
		noUV.UV = false
		opts, flow, _ = s.BeginRegistration(ctx, bob)
		resp, _ = noUV.Create(opts)
		_, err = s.FinishRegistration(ctx, bob, flow, resp, "")
		wantCode(t, err, passkey.EInvalid)

		// A user without passkeys cannot begin a second-factor login.
		_, _, err = s.BeginLogin(ctx, bob.ID, true)
		wantCode(t, err, okpay.ENotFound)
	})
}

func TestMFA08_PasswordlessDiscoverableLoginResolvesUser(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		s, _ := newService(t, db)
		aliceKey := passkeytest.New(origin, rpID)
		bobKey := passkeytest.New(origin, rpID)
		register(t, s, aliceKey, alice, "phone")
		bc := register(t, s, bobKey, bob, "laptop")

		opts, flow, err := s.BeginLogin(ctx, 0, false)
		if err != nil {
			t.Fatal(err)
		}
		var ro requestOptions
		decode(t, opts, &ro)
		if len(ro.PublicKey.AllowCredentials) != 0 {
			t.Errorf("discoverable login lists credentials: %+v", ro.PublicKey.AllowCredentials)
		}
		if ro.PublicKey.UserVerification != "required" {
			t.Errorf("passwordless userVerification %q, want required", ro.PublicKey.UserVerification)
		}
		resp, err := bobKey.Get(opts)
		if err != nil {
			t.Fatal(err)
		}
		uid, c, err := s.FinishLogin(ctx, flow, resp)
		if err != nil {
			t.Fatal(err)
		}
		if uid != bob.ID || c.ID != bc.ID || c.UserID != bob.ID {
			t.Fatalf("login resolved user %d credential %+v, want bob's", uid, c)
		}
		if uid, _, err := login(t, s, aliceKey, 0, false); err != nil || uid != alice.ID {
			t.Fatalf("alice passwordless = %d, %v", uid, err)
		}

		// The passkey is the only factor: user verification is required.
		aliceKey.UV = false
		_, _, err = login(t, s, aliceKey, 0, false)
		wantCode(t, err, passkey.EInvalid)
	})
}

func TestMFA08_WrongOriginRejected(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		s, _ := newService(t, db)
		a := passkeytest.New(origin, rpID)
		register(t, s, a, alice, "")

		a.SetOrigin("https://okpay.test.evil.example")
		_, _, err := login(t, s, a, alice.ID, true)
		wantCause(t, err, "origin")
		_, _, err = login(t, s, a, 0, true)
		wantCause(t, err, "origin")

		opts, flow, err := s.BeginRegistration(ctx, bob)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := a.Create(opts)
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.FinishRegistration(ctx, bob, flow, resp, "")
		wantCause(t, err, "origin")

		// An authenticator signing for another RP ID is rejected too.
		a.SetOrigin(origin)
		other := passkeytest.New(origin, "evil.example")
		opts, flow, _ = s.BeginRegistration(ctx, bob)
		resp, _ = other.Create(opts)
		_, err = s.FinishRegistration(ctx, bob, flow, resp, "")
		wantCode(t, err, passkey.EInvalid)

		if _, _, err := login(t, s, a, alice.ID, true); err != nil {
			t.Fatalf("right origin: %v", err)
		}
	})
}

func TestMFA08_ChallengeSingleUse(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		s, _ := newService(t, db)
		a := passkeytest.New(origin, rpID)

		opts, flow, err := s.BeginRegistration(ctx, alice)
		if err != nil {
			t.Fatal(err)
		}
		regResp, err := a.Create(opts)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.FinishRegistration(ctx, alice, flow, regResp, "k"); err != nil {
			t.Fatal(err)
		}
		_, err = s.FinishRegistration(ctx, alice, flow, regResp, "k")
		wantCode(t, err, passkey.EFlowInvalid)

		opts, flow, err = s.BeginLogin(ctx, alice.ID, true)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := a.Get(opts)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.FinishLogin(ctx, flow, resp); err != nil {
			t.Fatal(err)
		}
		// Replaying the same response on the same flow...
		_, _, err = s.FinishLogin(ctx, flow, resp)
		wantCode(t, err, passkey.EFlowInvalid)
		// ...or on a fresh flow (another challenge) fails.
		_, flow2, err := s.BeginLogin(ctx, alice.ID, true)
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = s.FinishLogin(ctx, flow2, resp)
		wantCause(t, err, "challenge")
		// A failed attempt consumes the flow as well.
		_, _, err = s.FinishLogin(ctx, flow2, resp)
		wantCode(t, err, passkey.EFlowInvalid)

		// A flow is bound to its ceremony.
		_, loginFlow, _ := s.BeginLogin(ctx, alice.ID, true)
		_, err = s.FinishRegistration(ctx, alice, loginFlow, regResp, "")
		wantCode(t, err, passkey.EFlowInvalid)
		_, regFlow, _ := s.BeginRegistration(ctx, alice)
		_, _, err = s.FinishLogin(ctx, regFlow, resp)
		wantCode(t, err, passkey.EFlowInvalid)
		_, _, err = s.FinishLogin(ctx, "no-such-flow", resp)
		wantCode(t, err, passkey.EFlowInvalid)

		// Of two concurrent finishes of one flow, exactly one succeeds.
		opts, flow, _ = s.BeginLogin(ctx, alice.ID, true)
		resp, _ = a.Get(opts)
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _, errs[i] = s.FinishLogin(ctx, flow, resp)
			}()
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			if err == nil {
				ok++
			} else {
				wantCode(t, err, passkey.EFlowInvalid)
			}
		}
		if ok != 1 {
			t.Fatalf("%d concurrent finishes succeeded: %v", ok, errs)
		}
	})
}

func TestMFA08_FlowExpiresAfterFiveMinutes(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		s, clk := newService(t, db)
		a := passkeytest.New(origin, rpID)

		opts, flow, err := s.BeginRegistration(ctx, alice)
		if err != nil {
			t.Fatal(err)
		}
		resp, _ := a.Create(opts)
		clk.Advance(4*time.Minute + 59*time.Second)
		if _, err := s.FinishRegistration(ctx, alice, flow, resp, ""); err != nil {
			t.Fatalf("at 4:59: %v", err)
		}

		opts, flow, _ = s.BeginRegistration(ctx, alice)
		resp, err = passkeytest.New(origin, rpID).Create(opts)
		if err != nil {
			t.Fatal(err)
		}
		clk.Advance(5*time.Minute + time.Second)
		_, err = s.FinishRegistration(ctx, alice, flow, resp, "")
		wantCode(t, err, passkey.EFlowInvalid)

		opts, flow, _ = s.BeginLogin(ctx, alice.ID, true)
		resp, _ = a.Get(opts)
		clk.Advance(4*time.Minute + 59*time.Second)
		if _, _, err := s.FinishLogin(ctx, flow, resp); err != nil {
			t.Fatalf("login at 4:59: %v", err)
		}
		opts, flow, _ = s.BeginLogin(ctx, 0, true)
		resp, _ = a.Get(opts)
		clk.Advance(5*time.Minute + time.Second)
		_, _, err = s.FinishLogin(ctx, flow, resp)
		wantCode(t, err, passkey.EFlowInvalid)

		if n, err := s.PruneFlows(ctx); err != nil || n == 0 {
			t.Fatalf("PruneFlows = %d, %v", n, err)
		}

		for _, d := range []time.Duration{-time.Second, 5*time.Minute + time.Millisecond, time.Hour} {
			if _, err := passkey.New(db, clk, passkey.Config{RPID: rpID, RPDisplayName: "OKPay", Origins: []string{origin}, Timeout: d}); err == nil {
				t.Errorf("timeout %v accepted", d)
			}
		}
	})
}

func TestMFA08_ExcludeCredentialsStopsDuplicates(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		s, _ := newService(t, db)
		a := passkeytest.New(origin, rpID)
		a.Transports = []string{"usb", "nfc"}
		c1 := register(t, s, a, alice, "key 1")
		c2 := register(t, s, passkeytest.New(origin, rpID), alice, "key 2")

		opts, flow, err := s.BeginRegistration(ctx, alice)
		if err != nil {
			t.Fatal(err)
		}
		var co creationOptions
		decode(t, opts, &co)
		var got [][]byte
		for _, d := range co.PublicKey.ExcludeCredentials {
			if d.Type != "public-key" {
				t.Errorf("descriptor type %q", d.Type)
			}
			got = append(got, unb64(t, d.ID))
		}
		if len(got) != 2 || !bytes.Equal(got[0], c1.CredentialID) || !bytes.Equal(got[1], c2.CredentialID) {
			t.Fatalf("excludeCredentials = %x, want %x and %x", got, c1.CredentialID, c2.CredentialID)
		}
		if tr := co.PublicKey.ExcludeCredentials[0].Transports; !slices.Equal(tr, []string{"usb", "nfc"}) {
			t.Errorf("excluded transports %v", tr)
		}
		if _, err := a.Create(opts); !errors.Is(err, passkeytest.ErrExcluded) {
			t.Fatalf("authenticator created a duplicate: %v", err)
		}

		// A client that ignores excludeCredentials still gets no duplicate.
		if err := a.ReuseCredential(c1.CredentialID); err != nil {
			t.Fatal(err)
		}
		resp, err := a.Create(opts)
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.FinishRegistration(ctx, alice, flow, resp, "again")
		wantCode(t, err, passkey.EExists)
		// Nor can another user claim the credential.
		opts, flow, _ = s.BeginRegistration(ctx, bob)
		a.ReuseCredential(c1.CredentialID)
		resp, _ = a.Create(opts)
		_, err = s.FinishRegistration(ctx, bob, flow, resp, "stolen")
		wantCode(t, err, passkey.EExists)
		if n, _ := s.Count(ctx, alice.ID); n != 2 {
			t.Errorf("alice has %d passkeys, want 2", n)
		}
		if n, _ := s.Count(ctx, bob.ID); n != 0 {
			t.Errorf("bob has %d passkeys, want 0", n)
		}
	})
}

func TestMFA08_SignCountBackwardsIsCloned(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		s, _ := newService(t, db)
		a := passkeytest.New(origin, rpID)
		c := register(t, s, a, alice, "")
		for want := uint32(1); want <= 2; want++ {
			_, used, err := login(t, s, a, alice.ID, true)
			if err != nil || used.SignCount != want {
				t.Fatalf("login %d: count %d, %v", want, used.SignCount, err)
			}
		}
		for _, n := range []uint32{2, 1, 0} { // equal, lower, and dropped to zero
			a.SetSignCount(c.CredentialID, n)
			uid, cred, err := login(t, s, a, alice.ID, true)
			wantCode(t, err, passkey.ECloned)
			if uid != alice.ID || cred.ID != c.ID {
				t.Fatalf("cloned error names user %d credential %d, want %d %d", uid, cred.ID, alice.ID, c.ID)
			}
			a.SetSignCount(c.CredentialID, n) // the same in a discoverable login
			uid, _, err = login(t, s, a, 0, true)
			wantCode(t, err, passkey.ECloned)
			if uid != alice.ID {
				t.Fatalf("cloned error in discoverable login names user %d", uid)
			}
		}
		list, _ := s.List(ctx, alice.ID)
		if list[0].SignCount != 2 {
			t.Fatalf("stored count %d after rejected assertions, want 2", list[0].SignCount)
		}
		a.SetSignCount(c.CredentialID, 3)
		if _, used, err := login(t, s, a, alice.ID, true); err != nil || used.SignCount != 3 {
			t.Fatalf("count 3: %d, %v", used.SignCount, err)
		}

		// An authenticator that never counts (0 every time) is fine.
		b := passkeytest.New(origin, rpID)
		bc := register(t, s, b, bob, "")
		b.SetSignCount(bc.CredentialID, 0)
		for range 3 {
			if _, used, err := login(t, s, b, bob.ID, true); err != nil || used.SignCount != 0 {
				t.Fatalf("zero counter: %d, %v", used.SignCount, err)
			}
		}
	})
}

func TestMFA08_StoredFieldsRoundTrip(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		s, _ := newService(t, db)
		a := passkeytest.New(origin, rpID)
		a.BackupEligible, a.BackupState = true, true
		a.AAGUID = [16]byte{0xea, 0x9b, 0x8d, 0x66, 0x4d, 0x01, 0x1d, 0x21, 0x3c, 0xe4, 0xb6, 0xb4, 0x8c, 0xb5, 0x75, 0xd4}
		a.Transports = []string{"hybrid", "internal", "bogus transport", "internal"}
		c := register(t, s, a, alice, "Phone 📱")
		check := func(where string, c passkey.Credential) {
			t.Helper()
			if !c.BackupEligible || !c.BackupState || !bytes.Equal(c.AAGUID, a.AAGUID[:]) ||
				!slices.Equal(c.Transports, []string{"hybrid", "internal"}) || c.Label != "Phone 📱" ||
				!bytes.Equal(c.CredentialID, a.CredentialIDs()[0]) || c.UserID != alice.ID {
				t.Errorf("%s: %+v", where, c)
			}
		}
		check("FinishRegistration", c)
		list, err := s.List(ctx, alice.ID)
		if err != nil || len(list) != 1 {
			t.Fatalf("List = %v, %v", list, err)
		}
		check("List", list[0])
		if !list[0].CreatedAt.Equal(c.CreatedAt) {
			t.Errorf("CreatedAt %v vs %v", list[0].CreatedAt, c.CreatedAt)
		}

		var pub []byte
		var uv bool
		var att string
		if err := db.Read.QueryRowContext(ctx, `SELECT public_key, user_verified, attestation_type FROM passkeys WHERE id = $1`, c.ID).Scan(&pub, &uv, &att); err != nil {
			t.Fatal(err)
		}
		if len(pub) < 64 || !uv || att != "none" {
			t.Errorf("stored public key %x, user_verified %v, attestation_type %q", pub, uv, att)
		}

		// The backup state may change later; the login records it.
		a.BackupState = false
		_, used, err := login(t, s, a, alice.ID, true)
		if err != nil || used.BackupState || !used.BackupEligible {
			t.Fatalf("login: %+v, %v", used, err)
		}
		if list, _ := s.List(ctx, alice.ID); list[0].BackupState {
			t.Error("backup state not updated")
		}
		// Backup eligibility never changes for a credential.
		a.BackupEligible = false
		_, _, err = login(t, s, a, alice.ID, true)
		wantCode(t, err, passkey.EInvalid)

		// Labels are checked before the flow is used.
		for _, label := range []string{strings.Repeat("x", passkey.MaxLabelLen+1), "bad\x00label"} {
			_, err = s.FinishRegistration(ctx, alice, "x", nil, label)
			wantCode(t, err, okpay.EInvalid)
		}
	})
}

func TestMFA08_OtherUserCannotFinishRegistrationFlow(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		s, _ := newService(t, db)
		a := passkeytest.New(origin, rpID)
		opts, flow, err := s.BeginRegistration(ctx, alice)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := a.Create(opts)
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.FinishRegistration(ctx, bob, flow, resp, "mine now")
		wantCode(t, err, passkey.EFlowInvalid)
		if n, _ := s.Count(ctx, bob.ID); n != 0 {
			t.Fatalf("bob has %d passkeys", n)
		}
		// Bob's attempt did not use up Alice's flow.
		if _, err := s.FinishRegistration(ctx, alice, flow, resp, ""); err != nil {
			t.Fatalf("alice: %v", err)
		}
	})
}

func TestMFA08_SecondFactorNeedsTheUsersOwnPasskey(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		s, _ := newService(t, db)
		aliceKey := passkeytest.New(origin, rpID)
		bobKey := passkeytest.New(origin, rpID)
		register(t, s, aliceKey, alice, "")
		register(t, s, bobKey, bob, "")

		opts, flow, err := s.BeginLogin(ctx, alice.ID, true)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := bobKey.Get(opts); !errors.Is(err, passkeytest.ErrNoCredential) {
			t.Fatalf("bob's authenticator answered alice's options: %v", err)
		}
		// A client that drops allowCredentials and answers with Bob's passkey.
		var raw map[string]map[string]any
		decode(t, opts, &raw)
		delete(raw["publicKey"], "allowCredentials")
		stripped, _ := json.Marshal(raw)
		resp, err := bobKey.Get(stripped)
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = s.FinishLogin(ctx, flow, resp)
		wantCode(t, err, passkey.EInvalid)
	})
}

func TestMFA08_DeleteOthersPasskeyNotFound(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		s, clk := newService(t, db)
		a := passkeytest.New(origin, rpID)
		c := register(t, s, a, alice, "")

		wantCode(t, s.Delete(ctx, bob.ID, c.ID), okpay.ENotFound)
		if n, _ := s.Count(ctx, alice.ID); n != 1 {
			t.Fatalf("alice has %d passkeys after bob's delete", n)
		}

		// A login begun before the delete cannot finish after it.
		opts, flow, _ := s.BeginLogin(ctx, alice.ID, true)
		resp, _ := a.Get(opts)
		clk.Advance(time.Second)
		if err := s.Delete(ctx, alice.ID, c.ID); err != nil {
			t.Fatal(err)
		}
		_, _, err := s.FinishLogin(ctx, flow, resp)
		wantCode(t, err, passkey.EInvalid)
		_, _, err = login(t, s, a, 0, true)
		wantCode(t, err, passkey.EInvalid)

		wantCode(t, s.Delete(ctx, alice.ID, c.ID), okpay.ENotFound)
		if list, err := s.List(ctx, alice.ID); err != nil || len(list) != 0 {
			t.Fatalf("List after delete = %v, %v", list, err)
		}
		_, _, err = s.BeginLogin(ctx, alice.ID, true)
		wantCode(t, err, okpay.ENotFound)
		// The deleted credential cannot be registered again.
		opts, flow, _ = s.BeginRegistration(ctx, alice)
		a.ReuseCredential(c.CredentialID)
		resp, _ = a.Create(opts)
		_, err = s.FinishRegistration(ctx, alice, flow, resp, "")
		wantCode(t, err, passkey.EExists)
	})
}

func TestNewRejectsBadConfig(t *testing.T) {
	db := sqldbtest.Open(t, sqldb.SQLite)
	clk := clock.NewManual(t0)
	for _, cfg := range []passkey.Config{
		{RPDisplayName: "OKPay", Origins: []string{origin}},
		{RPID: rpID, Origins: []string{origin}},
		{RPID: rpID, RPDisplayName: "OKPay"},
		{RPID: rpID, RPDisplayName: "OKPay", Origins: []string{"http://okpay.test"}},
		{RPID: rpID, RPDisplayName: "OKPay", Origins: []string{"https://other.test"}},
		{RPID: rpID, RPDisplayName: "OKPay", Origins: []string{"https://okpay.test/login"}},
	} {
		if _, err := passkey.New(db, clk, cfg); err == nil {
			t.Errorf("config %+v accepted", cfg)
		}
	}
	for _, o := range []string{"https://okpay.test:8443", "https://www.okpay.test"} {
		if _, err := passkey.New(db, clk, passkey.Config{RPID: rpID, RPDisplayName: "OKPay", Origins: []string{o}}); err != nil {
			t.Errorf("origin %s: %v", o, err)
		}
	}
	if _, err := passkey.New(db, clk, passkey.Config{RPID: "localhost", RPDisplayName: "OKPay", Origins: []string{"http://localhost:8080"}}); err != nil {
		t.Errorf("localhost: %v", err)
	}
}
