package identity_test

import (
	"strings"
	"testing"
	"unicode"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

func hasHan(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return unicode.Is(unicode.Han, r) })
}

// A customer's language is the language of what OKPay sends them: after
// SetLanguage the account reads back in it and the next notice is written
// in it. Unsupported languages and unknown users are refused.
func TestSetLanguage(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		a := h.signUp()
		if u, _ := h.svc.FindUser(h.ctx, a.id); u.Lang != i18n.En {
			t.Fatalf("new account language %q, want en", u.Lang)
		}
		if err := h.svc.SetLanguage(h.ctx, a.id, i18n.ZhCN); err != nil {
			t.Fatal(err)
		}
		if u, _ := h.svc.FindUser(h.ctx, a.id); u.Lang != i18n.ZhCN {
			t.Fatalf("language %q after SetLanguage, want zh-CN", u.Lang)
		}
		if err := h.svc.MarkCompromised(h.ctx, a.id, "system", "", "breach", h.meta); err != nil {
			t.Fatal(err)
		}
		ms := h.messages(a.email, identity.NotePasswordCompromised)
		if len(ms) != 1 || !hasHan(ms[0].Subject) {
			t.Fatalf("notice after switching to zh-CN: %+v", ms)
		}

		wantCode(t, h.svc.SetLanguage(h.ctx, a.id, i18n.Lang("fr")), okpay.EInvalid)
		wantCode(t, h.svc.SetLanguage(h.ctx, 424242, i18n.En), okpay.ENotFound)
		if u, _ := h.svc.FindUser(h.ctx, a.id); u.Lang != i18n.ZhCN {
			t.Fatalf("a refused change altered the language: %q", u.Lang)
		}
	})
}
