package httpapi

import (
	"net/http"

	"github.com/okpay/okpay/wallet"
)

// The HTTP statuses of the withdrawals' own codes (wallet/withdraw*.go),
// joined to statusOf (problem.go, the one table where domain errors meet
// HTTP) when the package loads. The codes withdrawals pass on (the
// wallet's, the ledger's, the identity gate's and the payment methods')
// are mapped where those are.
func init() {
	for code, status := range map[string]int{
		// A reviewer's decision on a withdrawal someone decided (or the
		// customer cancelled) meanwhile.
		wallet.EAlreadyDecided: http.StatusConflict,
		// SUP-04: a reviewer acting on their own customer account.
		wallet.EOwnAccount: http.StatusForbidden,
		// A bank account that receives another currency.
		wallet.EMethodCurrency: http.StatusUnprocessableEntity,
		// Withdrawals are switched off.
		wallet.EWithdrawalsUnavailable: http.StatusServiceUnavailable,
	} {
		statusOf[code] = status
	}
}
