package paymethod

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/psp"
	"github.com/okpay/okpay/sqldb"
)

// E-wallet payout accounts linked by the provider's OAuth (CRD-10): the
// customer is sent to the e-wallet's authorisation page and back, and the
// account id comes from the provider, never from what the customer typed.
// The state is bound to the customer's session (Binding), used once and
// expires (Config.EWalletLinkTTL); the PKCE verifier never leaves OKPay
// (RFC 7636 S256). A provider without OAuth answers psp.ENoOAuth, and the
// confirmation-code path (AddEWallet) stays for it.

// Error codes of the OAuth link.
const (
	// ELinkInvalid: the link's state is unknown, belongs to another
	// session or was used, or the provider refused the code.
	ELinkInvalid = "ewallet_link_invalid"
	// ELinkExpired: the link was not finished in time.
	ELinkExpired = "ewallet_link_expired"
	// ELinkDenied: the owner did not allow the link at the provider.
	ELinkDenied = "ewallet_link_denied"
	// ENoOAuth: the e-wallet has no OAuth link; use its code instead.
	ENoOAuth = psp.ENoOAuth
	// EOAuthRequired: the e-wallet has an OAuth link, so its ownership is
	// shown there and not by a code (AddEWalletWithoutOAuth).
	EOAuthRequired = "ewallet_oauth_required"
)

// LinkedByOAuth and LinkedByCode say how an e-wallet was linked
// (EWallet.LinkedBy).
const (
	LinkedByCode  = "code"
	LinkedByOAuth = "oauth"
)

// NewEWalletLink starts an OAuth link of an e-wallet account.
type NewEWalletLink struct {
	UserID   int64
	Provider string
	// Binding identifies the customer's session (e.g. its id): only the
	// same session can finish the link.
	Binding string
	// StepUp is when the session last passed a second factor (SES-08).
	StepUp time.Time
	// RedirectURI is OKPay's callback page (a path on this site).
	RedirectURI string
}

func randomURLSafe(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func (s *Service) bindingHash(binding string) string {
	return hex.EncodeToString(s.d.MAC.Sum([]byte("ewallet_link_binding"), []byte(binding)))
}

// EWalletLink is a started OAuth link: the provider's authorisation page
// to send the customer to, and when the link stops being accepted.
type EWalletLink struct {
	Provider  string
	AuthURL   string
	ExpiresAt time.Time
}

// StartEWalletLink records a link and returns the provider's
// authorisation page to send the customer to. It fails with
// EStepUpRequired, EInvalid for a provider not offered, and ENoOAuth when
// the provider has no OAuth link.
func (s *Service) StartEWalletLink(ctx context.Context, in NewEWalletLink) (string, error) {
	l, err := s.BeginEWalletLink(ctx, in)
	if err != nil {
		return "", err
	}
	return l.AuthURL, nil
}

// BeginEWalletLink is StartEWalletLink returning the link's expiry too.
func (s *Service) BeginEWalletLink(ctx context.Context, in NewEWalletLink) (*EWalletLink, error) {
	if err := s.checkStepUp(in.StepUp); err != nil {
		return nil, err
	}
	provider := strings.ToLower(strings.TrimSpace(in.Provider))
	if !slices.Contains(s.cfg.EWalletProviders, provider) {
		return nil, okpay.Invalid(map[string]string{"provider": "Choose one of the e-wallets offered."})
	}
	if in.Binding == "" {
		return nil, okpay.Errorf(okpay.EInvalid, "The link must be bound to a session.")
	}
	state, verifier := randomURLSafe(32), randomURLSafe(48)
	sum := sha256.Sum256([]byte(verifier))
	challenge := base64.RawURLEncoding.EncodeToString(sum[:])
	auth, err := s.d.Provider.EWalletAuthURL(provider, state, challenge, in.RedirectURI)
	if okpay.ErrorCode(err) == psp.ENoOAuth {
		return nil, okpay.Errorf(ENoOAuth, "This e-wallet is linked with a confirmation code.")
	}
	if err != nil {
		return nil, pspError(err, "e-wallet link")
	}
	stateHash := sha256Hex(state)
	sealed, err := s.d.Sealer.Seal([]byte(verifier), []byte("ewallet_link/"+stateHash))
	if err != nil {
		return nil, okpay.Internal(err, "seal PKCE verifier")
	}
	now := s.now()
	expires := now.Add(s.cfg.EWalletLinkTTL)
	err = s.d.DB.InTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO payment_method_links (state_hash, user_id, binding_hash, provider, verifier_sealed, redirect_uri, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, stateHash, in.UserID, s.bindingHash(in.Binding), provider, sealed, in.RedirectURI,
			micros(now), micros(expires))
		return err
	})
	if err != nil {
		return nil, okpay.Internal(err, "record e-wallet link")
	}
	return &EWalletLink{Provider: provider, AuthURL: auth, ExpiresAt: expires}, nil
}

// AddEWalletWithoutOAuth is AddEWallet for a client that can link by OAuth
// as well (the JSON API): an e-wallet that has an OAuth link is refused
// with EOAuthRequired, since CRD-10 wants its ownership shown at the
// provider and the account id taken from the provider, not typed and
// checked by a code. redirectURI is the callback the client's link would
// use (the provider is asked for an authorisation page with it, nothing is
// recorded). An e-wallet without an OAuth link goes on as AddEWallet, as on
// the web.
func (s *Service) AddEWalletWithoutOAuth(ctx context.Context, in NewEWallet, redirectURI string) (*Method, error) {
	provider := strings.ToLower(strings.TrimSpace(in.Provider))
	if slices.Contains(s.cfg.EWalletProviders, provider) {
		verifier := randomURLSafe(48)
		sum := sha256.Sum256([]byte(verifier))
		_, err := s.d.Provider.EWalletAuthURL(provider, randomURLSafe(32), base64.RawURLEncoding.EncodeToString(sum[:]), redirectURI)
		switch {
		case err == nil:
			return nil, okpay.Errorf(EOAuthRequired, "This e-wallet is linked on its own authorisation page: start a link instead of typing the account.")
		case okpay.ErrorCode(err) != psp.ENoOAuth:
			return nil, pspError(err, "e-wallet link")
		}
	}
	return s.AddEWallet(ctx, in)
}

// FinishEWalletLink is the callback of a link: State and Code (or Error)
// as the provider sent them back. The link is used up first, whatever
// follows; the code is redeemed with the verifier, and the e-wallet
// account the provider names is added verified (its ownership was shown
// at the provider), with the usual limits, duplicate rule, new-method
// hold and notices. It fails with ELinkInvalid, ELinkExpired, ELinkDenied,
// and like AddEWallet.
func (s *Service) FinishEWalletLink(ctx context.Context, userID int64, binding, state, code, providerError string) (*Method, error) {
	invalid := okpay.Errorf(ELinkInvalid, "This e-wallet link is not valid any more: please start again.")
	if state == "" || len(state) > 200 {
		return nil, invalid
	}
	stateHash := sha256Hex(state)
	var provider, redirect string
	var sealed []byte
	err := s.d.DB.InTx(ctx, func(tx *sql.Tx) error {
		var owner, expires, used int64
		var bind string
		err := tx.QueryRowContext(ctx, `SELECT user_id, binding_hash, provider, verifier_sealed, redirect_uri, expires_at, used_at
			FROM payment_method_links WHERE state_hash = $1`+s.d.DB.ForUpdate(), stateHash).Scan(&owner, &bind, &provider, &sealed, &redirect, &expires, &used)
		if errors.Is(err, sql.ErrNoRows) {
			return invalid
		}
		if err != nil {
			return okpay.Internal(err, "read e-wallet link")
		}
		if owner != userID || !hmac.Equal([]byte(bind), []byte(s.bindingHash(binding))) || used != 0 {
			return invalid
		}
		now := micros(s.now())
		if _, err := tx.ExecContext(ctx, `UPDATE payment_method_links SET used_at = $1 WHERE state_hash = $2`, now, stateHash); err != nil {
			return okpay.Internal(err, "use e-wallet link")
		}
		if now >= expires {
			return sqldb.CommitThen(okpay.Errorf(ELinkExpired, "The e-wallet link took too long: please start again."))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if providerError != "" {
		return nil, okpay.Errorf(ELinkDenied, "The e-wallet was not linked: you did not allow it at the provider.")
	}
	verifier, err := s.d.Sealer.Open(sealed, []byte("ewallet_link/"+stateHash))
	if err != nil {
		return nil, okpay.Internal(err, "open PKCE verifier")
	}
	accountRaw, err := s.d.Provider.ExchangeEWalletCode(ctx, provider, code, string(verifier), redirect)
	if okpay.ErrorCode(err) == psp.EInvalidGrant {
		return nil, invalid
	}
	if err != nil {
		return nil, pspError(err, "e-wallet link")
	}
	account, msg := cleanAccount(accountRaw)
	if msg != "" {
		return nil, okpay.Errorf(okpay.EUnavailable, "The e-wallet sent an account id OKPay cannot use.")
	}
	r, err := s.createEWallet(ctx, userID, provider, account, LinkedByOAuth, time.Time{})
	if err != nil {
		return nil, err
	}
	err = s.d.DB.InTx(ctx, func(tx *sql.Tx) error {
		cur, err := s.load(ctx, tx, userID, r.ID, true)
		if err != nil {
			return err
		}
		_, err = s.transition(ctx, tx, cur, StatusVerified, "", "")
		return err
	})
	if err != nil {
		return nil, err
	}
	return s.Get(ctx, userID, r.ID)
}
