package paymethod

import (
	"strings"

	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/psp"
)

// DisplayLabel returns a method's stored label (Method.Label: "visa ••••
// 4242", "alipay j•••@example.com", "DE89 •••• 3000") for people reading
// lang: a leading card-brand or e-wallet provider code is named
// ("Visa •••• 4242", "支付宝 j•••@example.com"); anything else is
// returned as it is.
func DisplayLabel(cat *i18n.Catalog, lang i18n.Lang, label string) string {
	code, rest, ok := strings.Cut(label, " ")
	if !ok || code == "" {
		return label
	}
	if n := psp.BrandName(code); n != code {
		return n + " " + rest
	}
	if cat != nil && isCode(code) {
		if id := "paymethod.provider." + code; cat.Has(id) {
			return cat.T(lang, id, nil) + " " + rest
		}
	}
	return label
}

// Label is a stored label on its way into a notice: the notice's renderer
// (identity.PrepareNotice) writes it in the customer's language.
type Label string

// Localize is DisplayLabel of l.
func (l Label) Localize(cat *i18n.Catalog, lang i18n.Lang) string {
	return DisplayLabel(cat, lang, string(l))
}

// isCode reports whether s looks like a provider code (lower-case letters,
// digits and underscores), not a word of a masked account.
func isCode(s string) bool {
	for _, c := range s {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}
