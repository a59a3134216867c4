package email

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"
)

// dkimKeys is an in-test DNS: selector._domainkey.domain -> public key.
type dkimKeys map[string]ed25519.PublicKey

func (k dkimKeys) lookup(_ context.Context, name string) ([]string, error) {
	pub, ok := k[name]
	if !ok {
		return nil, errors.New("no such record: " + name)
	}
	return []string{"v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)}, nil
}

func inboundMail(from string, extra ...string) []byte {
	var b bytes.Buffer
	for _, h := range extra {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("From: " + from + "\r\nTo: support@okpay.example\r\nSubject: Withdrawal missing\r\n" +
		"Message-ID: <a1@example.com>\r\nDate: Mon, 2 Mar 2026 09:00:00 +0000\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n\r\nMy withdrawal of 500 CNY has not arrived.\r\n")
	return b.Bytes()
}

func signMail(t *testing.T, raw []byte, domain string, key ed25519.PrivateKey) []byte {
	t.Helper()
	var out bytes.Buffer
	if err := dkim.Sign(&out, bytes.NewReader(raw), &dkim.SignOptions{Domain: domain, Selector: "s1", Signer: key,
		HeaderCanonicalization: dkim.CanonicalizationRelaxed, BodyCanonicalization: dkim.CanonicalizationRelaxed}); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func TestAuthenticate(t *testing.T) {
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	evilPub, evilKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	keys := dkimKeys{"s1._domainkey.example.com": pub, "s1._domainkey.mail.example.com": pub, "s1._domainkey.evil.example": evilPub}
	opt := AuthOptions{LookupTXT: keys.lookup, TrustedAuthServID: "mx.okpay.example"}
	alice := "Alice <alice@example.com>"
	signed := signMail(t, inboundMail(alice), "example.com", key)
	tampered := bytes.Replace(signed, []byte("500 CNY"), []byte("900 CNY"), 1)
	for _, tc := range []struct {
		name   string
		raw    []byte
		opt    AuthOptions
		want   string
		detail string
	}{
		{"signed by the From domain", signed, opt, "dkim:example.com", "dkim=pass d=example.com aligned=true"},
		{"signed by a subdomain (relaxed alignment)", signMail(t, inboundMail(alice), "mail.example.com", key), opt, "dkim:mail.example.com", ""},
		{"signed by another domain", signMail(t, inboundMail(alice), "evil.example", evilKey), opt, "none", "dkim=pass d=evil.example aligned=false"},
		{"tampered body", tampered, opt, "none", "dkim=fail d=example.com"},
		{"signed with the wrong key", signMail(t, inboundMail(alice), "example.com", evilKey), opt, "none", "dkim=fail"},
		{"unsigned", inboundMail(alice), opt, "none", "no DKIM signature"},
		{"two From headers", signMail(t, inboundMail(alice, "From: mallory@evil.example"), "example.com", key), opt, "none", "2 From headers"},
		{"trusted upstream dmarc=pass", inboundMail(alice, "Authentication-Results: mx.okpay.example; dmarc=pass header.from=example.com"), opt, "upstream:example.com", ""},
		{"trusted upstream aligned dkim=pass", inboundMail(alice, "Authentication-Results: mx.okpay.example; dkim=pass header.d=example.com"), opt, "upstream:example.com", ""},
		{"trusted upstream dmarc=fail", inboundMail(alice, "Authentication-Results: mx.okpay.example; dmarc=fail header.from=example.com"), opt, "none", "upstream dmarc=fail"},
		{"trusted upstream dmarc=pass for another domain", inboundMail(alice, "Authentication-Results: mx.okpay.example; dmarc=pass header.from=evil.example"), opt, "none", ""},
		{"untrusted authserv-id", inboundMail(alice, "Authentication-Results: mx.evil.example; dmarc=pass header.from=example.com"), opt, "none", "not trusted"},
		// A forged header naming the trusted server below the one it added.
		{"forged header under the trusted one", inboundMail(alice, "Authentication-Results: mx.okpay.example; dmarc=fail header.from=example.com",
			"Authentication-Results: mx.okpay.example; dmarc=pass header.from=example.com"), opt, "none", ""},
		{"no trusted upstream configured", inboundMail(alice, "Authentication-Results: mx.okpay.example; dmarc=pass header.from=example.com"),
			AuthOptions{LookupTXT: keys.lookup}, "none", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Authenticate(context.Background(), tc.raw, nil, tc.opt)
			if got.String() != tc.want || got.Authenticated != (tc.want != "none") {
				t.Errorf("Authenticate = %s %+v, want %s", got, got, tc.want)
			}
			if tc.detail != "" && !strings.Contains(strings.Join(got.Details, "\n"), tc.detail) {
				t.Errorf("details %q lack %q", got.Details, tc.detail)
			}
		})
	}
}

func TestAuthenticateDefaultResolverTimesOut(t *testing.T) {
	// A signature whose key lookup cannot succeed (.invalid never
	// resolves): not authenticated, and no hang.
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	raw := signMail(t, inboundMail("bob@okpay-test.invalid"), "okpay-test.invalid", key)
	got := Authenticate(context.Background(), raw, nil, AuthOptions{LookupTimeout: 500_000_000})
	if got.Authenticated {
		t.Errorf("authenticated without a key: %+v", got)
	}
}

func TestAligned(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"example.com", "example.com", true},
		{"mail.example.com", "EXAMPLE.com", true},
		{"a.example.com", "b.example.com", true},
		{"example.com", "example.net", false},
		{"evil-example.com", "example.com", false},
		{"alice.github.io", "bob.github.io", false}, // a public suffix
		{"mail.qq.com", "qq.com", true},
		{"example.com.cn", "a.example.com.cn", true},
		{"com.cn", "example.com.cn", false},
		{"", "example.com", false},
	} {
		if got := Aligned(tc.a, tc.b); got != tc.want {
			t.Errorf("Aligned(%q, %q) = %v", tc.a, tc.b, got)
		}
	}
}

func FuzzAuthenticate(f *testing.F) {
	f.Add(inboundMail("a@example.com", "Authentication-Results: mx.okpay.example; dmarc=pass header.from=example.com"))
	f.Add(inboundMail("a@example.com", "DKIM-Signature: v=1; a=ed25519-sha256; d=example.com; s=s1; h=from; bh=x; b=y"))
	lookup := func(context.Context, string) ([]string, error) { return nil, errors.New("no dns in fuzzing") }
	f.Fuzz(func(t *testing.T, raw []byte) {
		r := Authenticate(context.Background(), raw, nil, AuthOptions{LookupTXT: lookup, TrustedAuthServID: "mx.okpay.example"})
		if r.Authenticated && r.Method != AuthUpstream {
			t.Fatalf("authenticated without a key: %+v", r)
		}
	})
}
