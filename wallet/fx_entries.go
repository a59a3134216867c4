package wallet

import (
	"errors"
	"strconv"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/fx"
	"github.com/okpay/okpay/ledger"
	"github.com/okpay/okpay/money"
)

// The ledger entries of exchanges and remittances (LEDGER.md "FX"): one
// atomic entry with at least two postings through the house's per-currency
// FX liquidity accounts, the TigerBeetle currency-exchange recipe. For a
// quote selling S (From) for B (To) at mid value M ≤ S, and a fee F (From):
//
//	customer(From)          → fx:liquidity:<From>   M  (S at the mid rate, rounded up)
//	customer(From)          → fx:spread:<From>      S − M (spread and rounding; left out when 0)
//	fx:liquidity:<To>       → credited wallet(To)   B  (rounded down)
//	customer(From)          → fees:revenue:<From>   F  (left out when 0)
//
// Every posting is single-currency and balances on its own, so the entry
// balances per currency. The credited wallet is the customer's own for an
// exchange and the recipient's for a remittance.
//
// The liquidity accounts are house accounts without FlagNoOverdraft: the
// To side is debited and may go below zero. Their balance is the house's
// net position in each currency (credits − debits: positive when customers
// sold the house more of it than they bought), which treasury rebalances
// with ordinary entries against an external account; an exchange never
// waits for, or is refused by, a liquidity balance. Only customer wallets
// are bounded (no wallet below zero), and per currency every balance still
// sums to zero.

// Entry types (ledger Entry.Type) of the FX operations.
const (
	EntryExchange   = "exchange"
	EntryRemittance = "remittance"
)

// SysFXSpread is the house's revenue account for FX spread, per currency
// (fx:spread:USD): the spread and the rounding of every exchange and
// remittance, apart from fees (fees:revenue).
const SysFXSpread = "fx:spread"

// fxAccounts maps the roles of a quote's legs (fx.Role) and the fee to
// ledger accounts.
type fxAccounts struct {
	payer         int64 // the customer's wallet in From
	credited      int64 // the wallet credited in To
	liquidityFrom int64 // fx:liquidity:<From>
	liquidityTo   int64 // fx:liquidity:<To>
	spread        int64 // fx:spread:<From>
	fees          int64 // fees:revenue:<From>
}

// fxEntry books quote q (and fee, in From) as one entry of type typ under
// reference ref. The metadata records the quote and its exact rates.
func fxEntry(ref, typ string, q *fx.Quote, a fxAccounts, fee money.Amount) (*ledger.EntryInput, error) {
	if fee.Currency != q.From || fee.Minor < 0 {
		return nil, okpay.Internal(errors.New("fee "+fee.String()+" "+string(fee.Currency)+" for a sale of "+string(q.From)), "book exchange")
	}
	account := func(r fx.Role, c money.Currency) int64 {
		switch {
		case r == fx.RoleCustomer && c == q.From:
			return a.payer
		case r == fx.RoleCustomer && c == q.To:
			return a.credited
		case r == fx.RoleLiquidity && c == q.From:
			return a.liquidityFrom
		case r == fx.RoleLiquidity && c == q.To:
			return a.liquidityTo
		case r == fx.RoleSpreadRevenue && c == q.From:
			return a.spread
		}
		return 0
	}
	legs := q.Legs()
	ps := make([]ledger.Posting, 0, len(legs)+1)
	for _, l := range legs {
		d, c := account(l.Debit, l.Amount.Currency), account(l.Credit, l.Amount.Currency)
		if d == 0 || c == 0 {
			return nil, okpay.Internal(errors.New("no account for leg "+string(l.Debit)+"→"+string(l.Credit)+" in "+string(l.Amount.Currency)), "book exchange")
		}
		ps = append(ps, ledger.Posting{Debit: d, Credit: c, Amount: l.Amount.Minor, Currency: l.Amount.Currency})
	}
	if fee.Minor > 0 {
		ps = append(ps, ledger.Posting{Debit: a.payer, Credit: a.fees, Amount: fee.Minor, Currency: fee.Currency})
	}
	meta := map[string]string{"quote": q.Ref(), "spread_bp": strconv.Itoa(q.SpreadBP)}
	for k, v := range map[string]string{"rate": q.Rate.Exact(), "mid_rate": q.MidRate.Exact()} {
		if len(v) <= ledger.MaxMetadataValue {
			meta[k] = v
		}
	}
	return &ledger.EntryInput{Reference: ref, Type: typ, Postings: ps, Metadata: meta}, nil
}
