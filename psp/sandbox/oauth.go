package sandbox

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/psp"
)

// The sandbox plays every e-wallet provider's OAuth authorisation server
// (CRD-10: an e-wallet payout account's ownership shown by a provider
// OAuth link). GET /sandbox/oauth/{provider}/authorize is its sign-in
// page: the owner types the account id and allows (or denies) the link;
// the browser goes back to redirect_uri with code and state (or
// error=access_denied). ExchangeEWalletCode redeems the code once, within
// 5 minutes, with the PKCE verifier (S256) and the same redirect URI, and
// returns the account id. OKPay's own site is the sandbox's only client:
// redirect_uri must be a path on this site (or under Options.BaseURL).

// oauthCodeTTL is how long an authorisation code may be redeemed.
const oauthCodeTTL = 5 * time.Minute

// EWalletAuthURL returns the sandbox's authorisation page for provider.
func (s *Sandbox) EWalletAuthURL(provider, state, challenge, redirectURI string) (string, error) {
	fields := map[string]string{}
	if !validProvider(provider) {
		fields["provider"] = "The e-wallet provider must be 1 to 32 lower-case letters, digits or underscores."
	}
	if !validState(state) {
		fields["state"] = "The state must be 16 to 200 URL-safe characters."
	}
	if !validChallenge(challenge) {
		fields["challenge"] = "The PKCE challenge must be 43 base64url characters (S256)."
	}
	if !s.validRedirect(redirectURI) {
		fields["redirect_uri"] = "The redirect URI must be a path on this site."
	}
	if len(fields) > 0 {
		return "", okpay.Invalid(fields)
	}
	q := url.Values{"response_type": {"code"}, "client_id": {"okpay"}, "redirect_uri": {redirectURI}, "state": {state},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"}}
	return s.base + "/sandbox/oauth/" + provider + "/authorize?" + q.Encode(), nil
}

func validState(st string) bool {
	if len(st) < 16 || len(st) > 200 {
		return false
	}
	return !strings.ContainsFunc(st, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' || r == '~')
	})
}

func validChallenge(c string) bool {
	if len(c) != 43 {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(c)
	return err == nil
}

// validRedirect accepts a path on this site, or a URL under the base URL.
func (s *Sandbox) validRedirect(u string) bool {
	if u == "" || !validReturnURL(u) {
		return false
	}
	if strings.HasPrefix(u, "/") {
		return true
	}
	return s.base != "" && strings.HasPrefix(u, s.base+"/")
}

// S256 is the PKCE challenge of a verifier.
func S256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func hashHex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// authorize issues a code for account after the owner allowed the link.
func (s *Sandbox) authorize(ctx context.Context, provider, account, challenge, redirectURI string) (string, error) {
	code := strings.ToLower(rand.Text())
	now := s.clock.Now()
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO psp_sandbox_oauth_codes (code_hash, provider, account, challenge, redirect_uri, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, hashHex(code), provider, account, challenge, redirectURI, micros(now), micros(now.Add(oauthCodeTTL)))
		return err
	})
	if err != nil {
		return "", okpay.Internal(err, "sandbox: store an authorisation code")
	}
	return code, nil
}

// ExchangeEWalletCode redeems an authorisation code: once, within 5
// minutes, for the same provider and redirect URI, with the verifier
// whose S256 is the challenge given. Anything else is psp.EInvalidGrant
// (and a code tried with a wrong verifier is spent).
func (s *Sandbox) ExchangeEWalletCode(ctx context.Context, provider, code, verifier, redirectURI string) (string, error) {
	bad := okpay.Errorf(psp.EInvalidGrant, "The authorisation code is not valid.")
	if code == "" || len(code) > 100 || len(verifier) < 43 || len(verifier) > 128 {
		return "", bad
	}
	var account string
	mismatch := false
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		mismatch = false
		var p, challenge, redirect string
		var expires, used int64
		err := tx.QueryRowContext(ctx, `SELECT provider, account, challenge, redirect_uri, expires_at, used_at
			FROM psp_sandbox_oauth_codes WHERE code_hash = $1`, hashHex(code)).Scan(&p, &account, &challenge, &redirect, &expires, &used)
		if errors.Is(err, sql.ErrNoRows) {
			return bad
		}
		if err != nil {
			return err
		}
		now := micros(s.clock.Now())
		if used != 0 || now >= expires {
			return bad
		}
		if _, err := tx.ExecContext(ctx, `UPDATE psp_sandbox_oauth_codes SET used_at = $1 WHERE code_hash = $2`, now, hashHex(code)); err != nil {
			return err
		}
		// The code is spent whatever follows.
		mismatch = p != provider || redirect != redirectURI || subtle.ConstantTimeCompare([]byte(S256(verifier)), []byte(challenge)) != 1
		return nil
	})
	if err != nil {
		return "", wrap(err, "sandbox: redeem an authorisation code")
	}
	if mismatch {
		return "", bad
	}
	return account, nil
}

// oauthData is the authorisation page.
type oauthData struct {
	Provider, RedirectURI, State, Challenge, Account string
	Error                                            string
}

func (p *pages) oauthParams(r *http.Request, v url.Values) (oauthData, bool) {
	d := oauthData{Provider: r.PathValue("provider"), RedirectURI: v.Get("redirect_uri"), State: v.Get("state"), Challenge: v.Get("code_challenge")}
	ok := validProvider(d.Provider) && v.Get("response_type") == "code" && v.Get("code_challenge_method") == "S256" &&
		validState(d.State) && validChallenge(d.Challenge) && p.s.validRedirect(d.RedirectURI)
	return d, ok
}

func (p *pages) handleOAuth(w http.ResponseWriter, r *http.Request) {
	l := lang(r)
	d, ok := p.oauthParams(r, r.URL.Query())
	if !ok {
		http.Error(w, "bad authorisation request", http.StatusBadRequest)
		return
	}
	p.render(w, r, http.StatusOK, "oauth", l, d)
}

func (p *pages) handleOAuthPost(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	l := lang(r)
	d, ok := p.oauthParams(r, r.PostForm)
	if !ok {
		http.Error(w, "bad authorisation request", http.StatusBadRequest)
		return
	}
	q := url.Values{"state": {d.State}}
	if r.PostForm.Get("action") == "deny" {
		q.Set("error", "access_denied")
		redirectWith(w, r, d.RedirectURI, q)
		return
	}
	d.Account = strings.TrimSpace(r.PostForm.Get("account"))
	if msg := checkText(d.Account, true, 100); msg != "" || len(d.Account) < 3 {
		d.Error = p.s.catalog.T(l, "sandbox.oauth.account_required", nil)
		p.render(w, r, http.StatusUnprocessableEntity, "oauth", l, d)
		return
	}
	code, err := p.s.authorize(r.Context(), d.Provider, d.Account, d.Challenge, d.RedirectURI)
	if err != nil {
		p.notFoundOr500(w, r, l, err)
		return
	}
	q.Set("code", code)
	redirectWith(w, r, d.RedirectURI, q)
}
