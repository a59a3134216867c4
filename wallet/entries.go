package wallet

import (
	"github.com/okpay/okpay/ledger"
	"github.com/okpay/okpay/money"
)

// The ledger entries of the wallet's operations: every movement of money
// is one of these, each one balanced entry (LEDGER.md "Scope advice": a
// small set of typed operations, each compiling to postings).
//
// Still to come here, with their operations: exchange (one entry through
// the fx:liquidity accounts of both currencies, spread and fee as their
// own postings), remittance (exchange plus transfer in one entry) and
// withdrawal (a pending entry: wallet → clearing:withdrawals and fee →
// fees:pending, posted to the provider's account on payout or voided on
// rejection).

// Entry types (ledger Entry.Type).
const (
	EntryTransfer = "p2p"
	EntryDeposit  = "deposit"
)

// transferEntry moves amount from the payer's wallet to the payee's, and
// the fee from the payer's wallet to fee revenue.
func transferEntry(ref string, payer, payee, feeRevenue int64, amount, fee money.Amount) *ledger.EntryInput {
	ps := []ledger.Posting{{Debit: payer, Credit: payee, Amount: amount.Minor, Currency: amount.Currency}}
	if fee.Minor > 0 {
		ps = append(ps, ledger.Posting{Debit: payer, Credit: feeRevenue, Amount: fee.Minor, Currency: fee.Currency})
	}
	return &ledger.EntryInput{Reference: ref, Type: EntryTransfer, Postings: ps}
}

// depositEntry books a card payment the provider confirmed: the amount
// charged leaves the provider's settlement account, the fee to fee
// revenue and the rest to the wallet.
func depositEntry(ref string, external, wallet, feeRevenue int64, amount, fee money.Amount) *ledger.EntryInput {
	var ps []ledger.Posting
	if net := amount.Minor - fee.Minor; net > 0 {
		ps = append(ps, ledger.Posting{Debit: external, Credit: wallet, Amount: net, Currency: amount.Currency})
	}
	if fee.Minor > 0 {
		ps = append(ps, ledger.Posting{Debit: external, Credit: feeRevenue, Amount: fee.Minor, Currency: fee.Currency})
	}
	return &ledger.EntryInput{Reference: ref, Type: EntryDeposit, Postings: ps}
}
