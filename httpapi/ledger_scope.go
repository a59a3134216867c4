package httpapi

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/ledger"
	"github.com/okpay/okpay/wallet"
)

// The raw ledger API (/api/v1/accounts, transfers, entries, holds; API
// keys) keeps off the wallet's own accounts (wallet.KeepsAccount):
// customers' wallets (owner usr_…) and the house's system accounts (owner
// okpay). Moving their money there would skip the wallet's rules (second
// factor, limits, freezes) and leave a balance no transaction in the
// customer's history explains. To an API key such accounts, and the
// entries that touch them, do not exist (404, as another customer's
// objects are to a customer), and it cannot open accounts under those
// owners or the wallet's codes.

// maxScopeCache bounds the cache of accounts' owners; past it, it starts
// over.
const maxScopeCache = 1 << 20

// scopeCache remembers which accounts the wallet keeps (an account's owner
// never changes), so a transfer between known accounts costs no query: a
// sync.Map, read without a lock by the concurrent requests (a mutex here
// was taken twice a transfer by every request).
type scopeCache struct {
	managed sync.Map // int64 → bool
	n       atomic.Int64
}

// walletAccount reports whether account id is one of the wallet's. An
// account that does not exist is not (the ledger reports it).
func (s *Server) walletAccount(ctx context.Context, id int64) (bool, error) {
	if m, ok := s.scope.managed.Load(id); ok {
		return m.(bool), nil
	}
	a, err := s.ledger.FindAccountByID(ctx, id)
	if okpay.ErrorCode(err) == ledger.EAccountNotFound {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	m := wallet.KeepsAccount(a.Owner, a.Code)
	if s.scope.n.Add(1) > maxScopeCache {
		s.scope.managed.Clear()
		s.scope.n.Store(0)
	}
	s.scope.managed.Store(id, m)
	return m, nil
}

// errWalletAccount is the answer about a wallet's account.
func errWalletAccount(id int64) error {
	return okpay.Errorf(ledger.EAccountNotFound, "there is no account %s here: customers' and the house's wallet accounts move only through the wallet API", ledger.AccountRef(id))
}

// checkPostings refuses postings touching a wallet's account.
func (s *Server) checkPostings(ctx context.Context, ps []ledger.Posting) error {
	for _, p := range ps {
		for _, id := range [2]int64{p.Debit, p.Credit} {
			m, err := s.walletAccount(ctx, id)
			if err != nil {
				return err
			}
			if m {
				return errWalletAccount(id)
			}
		}
	}
	return nil
}

// checkEntry refuses an entry (a hold to resolve, an entry to reverse or
// read) that touches a wallet's account, as if it did not exist.
func (s *Server) checkEntry(ctx context.Context, e *ledger.Entry, notFound string) error {
	err := s.checkPostings(ctx, e.Postings)
	if okpay.ErrorCode(err) == ledger.EAccountNotFound { // a wallet's account (errWalletAccount)
		return okpay.Errorf(notFound, "there is no entry %s here: the wallet's entries change only through the wallet API", ledger.EntryRef(e.ID))
	}
	return err
}

// scoped wraps a ledger operation's builder with the check.
func (s *Server) scoped(build func(*http.Request, []byte, string) (ledger.Op, error)) func(*http.Request, []byte, string) (ledger.Op, error) {
	return func(r *http.Request, body []byte, ref string) (ledger.Op, error) {
		op, err := build(r, body, ref)
		if err != nil {
			return op, err
		}
		ctx := r.Context()
		switch {
		case op.Entry != nil:
			err = s.checkPostings(ctx, op.Entry.Postings)
		case op.Resolve != nil:
			err = s.checkTarget(ctx, op.Resolve.PendingID, ledger.EPendingNotFound)
		case op.Reverse != nil:
			err = s.checkTarget(ctx, op.Reverse.EntryID, ledger.EEntryNotFound)
		}
		return op, err
	}
}

// checkTarget checks the entry an operation resolves or reverses; one
// that does not exist is left to the ledger to report.
func (s *Server) checkTarget(ctx context.Context, id int64, notFound string) error {
	st, err := s.ledger.FindEntryByID(ctx, id)
	if okpay.ErrorCode(err) == ledger.EEntryNotFound {
		return nil
	}
	if err != nil {
		return err
	}
	return s.checkEntry(ctx, st.Entry, notFound)
}
