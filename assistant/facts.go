package assistant

import (
	"context"
	"time"

	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/wallet"
)

// Facts is what the assistant may know of a signed-in customer: reads
// only. The assistant never moves money or changes an account; this
// interface has no method that could.
type Facts interface {
	// Latest is the customer's newest transaction of type t (nil, nil
	// when there is none).
	Latest(ctx context.Context, userID int64, t wallet.Type, lang i18n.Lang) (*Movement, error)
	// LatestProblem is the customer's newest withdrawal, transfer or
	// deposit that failed, was rejected or reversed (nil, nil when none).
	LatestProblem(ctx context.Context, userID int64, lang i18n.Lang) (*Movement, error)
	// Account is the customer's account state.
	Account(ctx context.Context, userID int64) (*AccountState, error)
	// Balances are what the customer can spend in each wallet holding
	// money (available, pending withdrawals held back), in the
	// configured currencies' order; none when every wallet is empty.
	Balances(ctx context.Context, userID int64) ([]money.Amount, error)
}

// Movement is one transaction as the assistant tells of it.
type Movement struct {
	Type      wallet.Type
	Ref       string // txn_…
	Amount    money.Amount
	Status    wallet.Status
	CreatedAt time.Time
	// EarliestAt and LatestAt are a withdrawal's expected completion
	// (zero for other types).
	EarliestAt, LatestAt time.Time
	// Reason is why it failed or was rejected, in the customer's
	// language ("" otherwise).
	Reason string
	// Href is its page.
	Href string
}

// AccountState is the part of an account the assistant tells of.
type AccountState struct {
	Frozen   bool
	FrozenAt time.Time
	// HoldUntil is the end of a money-out hold (after an unfreeze or a
	// security change); zero when there is none.
	HoldUntil time.Time
}

// WalletFacts reads the facts from the wallet, its withdrawals and the
// identity service.
type WalletFacts struct {
	Wallet      *wallet.Service
	Withdrawals *wallet.Withdrawals // nil: withdrawals are shown without their expected dates
	Identity    *identity.Service
}

var _ Facts = (*WalletFacts)(nil)

func (f *WalletFacts) movement(ctx context.Context, t *wallet.Txn, lang i18n.Lang) (*Movement, error) {
	m := &Movement{Type: t.Type, Ref: t.Ref(), Amount: t.Amount, Status: t.Status, CreatedAt: t.CreatedAt,
		Href: "/wallet/transactions/" + t.Ref()}
	failed := t.Status == wallet.StatusFailed || t.Status == wallet.StatusRejected || t.Status == wallet.StatusReversed
	if t.Type == wallet.TypeWithdrawal && f.Withdrawals != nil {
		wd, err := f.Withdrawals.Find(ctx, t.UserID, t.ID)
		if err != nil {
			return nil, err
		}
		m.Href = "/wallet/withdrawals/" + t.Ref()
		m.EarliestAt, m.LatestAt = wd.EarliestAt, wd.LatestAt
		if failed {
			m.Reason = f.Withdrawals.FailureText(wd, lang)
		}
		return m, nil
	}
	if failed {
		m.Reason = f.Wallet.FailureText(t, lang)
	}
	return m, nil
}

// Latest implements Facts.
func (f *WalletFacts) Latest(ctx context.Context, userID int64, t wallet.Type, lang i18n.Lang) (*Movement, error) {
	p, err := f.Wallet.FindTransactions(ctx, userID, wallet.Filter{Type: t, Limit: 1})
	if err != nil {
		return nil, err
	}
	if len(p.Txns) == 0 {
		return nil, nil
	}
	return f.movement(ctx, p.Txns[0], lang)
}

// LatestProblem implements Facts: the newest failed, rejected or
// reversed withdrawal, transfer or deposit among the last 100
// transactions.
func (f *WalletFacts) LatestProblem(ctx context.Context, userID int64, lang i18n.Lang) (*Movement, error) {
	p, err := f.Wallet.FindTransactions(ctx, userID, wallet.Filter{Limit: wallet.MaxPage})
	if err != nil {
		return nil, err
	}
	for _, t := range p.Txns {
		switch t.Type {
		case wallet.TypeWithdrawal, wallet.TypeTransferOut, wallet.TypeDeposit:
		default:
			continue
		}
		if t.Status == wallet.StatusFailed || t.Status == wallet.StatusRejected || t.Status == wallet.StatusReversed {
			return f.movement(ctx, t, lang)
		}
	}
	return nil, nil
}

// Account implements Facts.
func (f *WalletFacts) Account(ctx context.Context, userID int64) (*AccountState, error) {
	u, err := f.Identity.FindUser(ctx, userID)
	if err != nil {
		return nil, err
	}
	return &AccountState{Frozen: u.Frozen, FrozenAt: u.FrozenAt, HoldUntil: u.HoldUntil}, nil
}

// Balances reads the customer's wallets (Facts.Balances).
func (f *WalletFacts) Balances(ctx context.Context, userID int64) ([]money.Amount, error) {
	ws, err := f.Wallet.Wallets(ctx, userID)
	if err != nil {
		return nil, err
	}
	var out []money.Amount
	for _, w := range ws {
		if w.Available.Minor != 0 || w.PendingOut.Minor != 0 {
			out = append(out, w.Available)
		}
	}
	return out, nil
}
