package web

import (
	"testing"

	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/wallet"
)

// TestStaffPanelLabels: the customer panel names transactions, payment
// methods and failures in the agent's language, as the customer's pages
// do, not by their codes (a method waiting for a code in the agent's
// words, not "your code"); an unknown failure code stays as it is.
func TestStaffPanelLabels(t *testing.T) {
	cat, err := i18n.New()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []i18n.Lang{i18n.En, i18n.ZhCN} {
		p := &page{s: &Server{cat: cat}, Lang: l}
		for got, want := range map[string]string{
			p.TxnType(wallet.TypeTransferOut):     cat.T(l, "walletui.type.transfer_out", nil),
			p.TxnStatus(wallet.StatusCompleted):   cat.T(l, "walletui.status.completed", nil),
			p.MethodKind("card"):                  cat.T(l, "paymethod.kind.card", nil),
			p.MethodStatus("verified"):            cat.T(l, "paymethod.status.verified", nil),
			p.MethodStatus("awaiting_code"):       cat.T(l, "support.method_status.awaiting_code", nil),
			p.FailureName("insufficient_funds"):   cat.T(l, "wallet.failure.insufficient_funds", nil),
			p.FailureName("no_such_failure_code"): "no_such_failure_code",
		} {
			if got != want {
				t.Errorf("%s: %q, want %q", l, got, want)
			}
		}
		for _, code := range []string{p.TxnType(wallet.TypeTransferOut), p.TxnStatus(wallet.StatusCompleted), p.MethodKind("card"), p.MethodStatus("verified")} {
			if code == "" || code == "transfer_out" || code == "completed" || code == "card" || code == "verified" {
				t.Errorf("%s: a code instead of a name: %q", l, code)
			}
		}
	}
}
