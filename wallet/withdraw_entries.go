package wallet

import (
	"github.com/okpay/okpay/ledger"
	"github.com/okpay/okpay/money"
)

// The ledger entries of a withdrawal (LEDGER.md "Two-phase holds"):
//
//  1. the hold: one pending entry that debits the wallet for the amount
//     into clearing:withdrawals and for the fee into fees:pending;
//  2. its resolution, exactly once: posted when the provider paid, voided
//     when the withdrawal is rejected, cancelled, fails, expires or the
//     account is frozen (the money goes back to the wallet);
//  3. after a post, the settlement: the amount leaves clearing for the
//     provider's settlement account (it left OKPay through the provider)
//     and the fee moves from fees:pending to fee revenue.
//
// Each has a reference derived from the withdrawal's id, so a retry never
// books anything twice and the post and the void share nothing but the
// hold (the ledger resolves a hold at most once).

// Entry types (ledger Entry.Type).
const (
	EntryWithdrawal       = "withdrawal"
	EntryWithdrawalSettle = "withdrawal_settle"
)

func withdrawalHoldRef(id int64) string   { return "wdl:" + itoa(id) }
func withdrawalPostRef(id int64) string   { return "wdl-post:" + itoa(id) }
func withdrawalVoidRef(id int64) string   { return "wdl-void:" + itoa(id) }
func withdrawalSettleRef(id int64) string { return "wdl-settle:" + itoa(id) }

// withdrawalHoldEntry holds amount + fee of the wallet: the amount into
// clearing:withdrawals, the fee into fees:pending, in one pending entry.
func withdrawalHoldEntry(id, wallet, clearing, feePending int64, amount, fee money.Amount) *ledger.EntryInput {
	ps := []ledger.Posting{{Debit: wallet, Credit: clearing, Amount: amount.Minor, Currency: amount.Currency}}
	if fee.Minor > 0 {
		ps = append(ps, ledger.Posting{Debit: wallet, Credit: feePending, Amount: fee.Minor, Currency: fee.Currency})
	}
	return &ledger.EntryInput{Reference: withdrawalHoldRef(id), Type: EntryWithdrawal, Postings: ps, Pending: true}
}

// withdrawalPost posts the hold of withdrawal id in full.
func withdrawalPost(id, holdEntry int64) *ledger.ResolveInput {
	return &ledger.ResolveInput{Reference: withdrawalPostRef(id), PendingID: holdEntry}
}

// withdrawalVoid voids the hold of withdrawal id.
func withdrawalVoid(id, holdEntry int64) *ledger.ResolveInput {
	return &ledger.ResolveInput{Reference: withdrawalVoidRef(id), PendingID: holdEntry, Void: true}
}

// withdrawalSettleEntry moves a paid withdrawal out of clearing to the
// provider's settlement account, and its fee from fees:pending to fee
// revenue.
func withdrawalSettleEntry(id, clearing, external, feePending, feeRevenue int64, amount, fee money.Amount) *ledger.EntryInput {
	ps := []ledger.Posting{{Debit: clearing, Credit: external, Amount: amount.Minor, Currency: amount.Currency}}
	if fee.Minor > 0 {
		ps = append(ps, ledger.Posting{Debit: feePending, Credit: feeRevenue, Amount: fee.Minor, Currency: fee.Currency})
	}
	return &ledger.EntryInput{Reference: withdrawalSettleRef(id), Type: EntryWithdrawalSettle, Postings: ps}
}
