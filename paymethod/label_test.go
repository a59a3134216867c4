package paymethod_test

import (
	"testing"

	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/paymethod"
)

// TestDisplayLabel: a stored label's leading brand or provider code is
// named for people (an e-wallet in their language); a bank account's
// label, an unknown code and a label of one word stay as they are.
func TestDisplayLabel(t *testing.T) {
	cat, err := i18n.New()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		lang     i18n.Lang
		in, want string
	}{
		{i18n.En, "visa •••• 4242", "Visa •••• 4242"},
		{i18n.ZhCN, "unionpay •••• 0005", "UnionPay •••• 0005"},
		{i18n.En, "alipay j•••@example.com", "Alipay j•••@example.com"},
		{i18n.ZhCN, "alipay j•••@example.com", "支付宝 j•••@example.com"},
		{i18n.ZhCN, "wechat w•••@example.com", "微信支付 w•••@example.com"},
		{i18n.En, "DE89 •••• 3000", "DE89 •••• 3000"},
		{i18n.En, "somewallet x•••@example.com", "somewallet x•••@example.com"},
		{i18n.En, "visa", "visa"},
		{i18n.En, "", ""},
	} {
		if got := paymethod.DisplayLabel(cat, tc.lang, tc.in); got != tc.want {
			t.Errorf("DisplayLabel(%s, %q) = %q, want %q", tc.lang, tc.in, got, tc.want)
		}
		if got := paymethod.Label(tc.in).Localize(cat, tc.lang); got != tc.want {
			t.Errorf("Label(%q).Localize(%s) = %q, want %q", tc.in, tc.lang, got, tc.want)
		}
	}
}
